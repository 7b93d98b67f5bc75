/* SPDX-License-Identifier: MIT */
/*
 * Memory-checker annotations (docs/annotate.md): with KA_CFG_ANNOTATE, Valgrind's memcheck
 * (1) or AddressSanitizer (2) sees every block a kalloc heap hands out as it sees a malloc
 * block: bytes past the requested size, freed blocks and the free memory of the arena are
 * unaddressable, so a use after free or an overflow into the next block is reported where it
 * happens. With KA_CFG_ANNOTATE 0 (the default, and always in freestanding builds) every
 * hook below is an empty inline and the generic layer compiles as before.
 *
 * Only the generic layer (alloc.c) and the registry call these hooks, never the backends:
 *  - every backend call is bracketed by ka_an_enter()/ka_an_leave(). Inside the bracket
 *    memcheck's error reporting is off for the calling thread (the backend reads and writes
 *    its in-band headers and free lists, which are unaddressable for the program); under
 *    ASan the backend objects are compiled without instrumentation instead (CMake does it).
 *  - only the outermost ka_* call of a thread annotates its result (KA_AN_OUTER): a call a
 *    backend makes on its own page source (slab over buddy) hands memory to the backend,
 *    not to the program, and memcheck must not see two blocks overlap.
 *  - the first time an allocator is seen, its walker marks every free block unaddressable;
 *    headers carved later out of that memory stay so.
 *  - ka_backend_find()/ka_backend_at() hand out registry entries whose init() makes the
 *    region addressable again and runs the backend's init inside the bracket.
 * When the program does not run on Valgrind, an annotated call pays one test of a cached flag
 * (the answer of RUNNING_ON_VALGRIND; measured in docs/annotate.md). Thread safe: the depth
 * and memcheck's error switch are per thread, the flag is read and written atomically.
 */
#ifndef KALLOC_ANNOTATE_H
#define KALLOC_ANNOTATE_H

#include "kalloc/alloc_impl.h"

/* ka_an_enter() result bits. */
#define KA_AN_ON    1u /* annotation is active: leave the bracket */
#define KA_AN_OUTER 2u /* outermost call of the thread: annotate the blocks it returns */

/* Bit of struct ka_alloc.flags: the allocator's free memory has been made unaddressable.
 * ka_alloc_init() clears it, so a heap made again over the same memory is seen again. */
#define KA_ALLOC_AN_SEEN 0x80000000u

#if KA_CFG_ANNOTATE

/* The backends and the global allocator include this uninstrumented (cmake/annotate.cmake)
 * and say so with KA_AN_UNINSTRUMENTED; they only call the out-of-line half. */
#if KA_CFG_ANNOTATE == 2 && !defined(__SANITIZE_ADDRESS__) && !defined(KA_AN_UNINSTRUMENTED)
#if !defined(__has_feature) || !__has_feature(address_sanitizer)
#error "KA_CFG_ANNOTATE=2 (asan) needs -fsanitize=address"
#endif
#endif

/* -1 not asked yet, 0 inactive, 1 active. Hidden: one PC-relative load, no GOT, in the
 * shim's shared object too. */
extern int ka_an_state __attribute__((visibility("hidden")));

/** Ask the checker once (RUNNING_ON_VALGRIND) and cache the answer. */
bool ka_an_probe(void);

/** The checker is present: the program runs on Valgrind (1) or was built with ASan (2). */
static inline bool ka_an_active(void)
{
#if KA_CFG_ANNOTATE == 2
	return true;
#else
	int s = __atomic_load_n(&ka_an_state, __ATOMIC_RELAXED);

	if (__builtin_expect(s == 0, 1))
		return false;
	return s > 0 || ka_an_probe();
#endif
}

/** Slow half of ka_an_enter(): depth, error bracket, first sight of `a`. */
unsigned ka_an_enter_slow(struct ka_alloc *a);
/** Close the bracket opened by ka_an_enter_slow(). */
void ka_an_leave_slow(void);
/** A block of `req` requested bytes (usable `usable`) now belongs to the program. */
void ka_an_alloc(const void *p, size_t req, size_t usable);
/**
 * The block at p (len bytes; 0: its usable size) goes back to the allocator. Returns the
 * bytes the program owned (its requested size), 0 for a block that was not live.
 */
size_t ka_an_free(struct ka_alloc *a, const void *p, size_t len);
/** A live block keeps its place and changes from `old` to `req` requested bytes. */
void ka_an_resize(const void *p, size_t old, size_t req, size_t usable);
/** Requested size of the live block at p: its addressable prefix (at most `usable`). */
size_t ka_an_live_size(const void *p, size_t usable);
/** Make [p, p + len) unaddressable (free memory, metadata). */
void ka_an_noaccess(const void *p, size_t len);
/**
 * A heap made inside a ka_* call after the checker first saw its owner (the global
 * allocator's new chunk): its free blocks are made unaddressable, as the owner's were when
 * first seen (ka_an_enter_slow()). Outside a bracket (no checker, or a call that does not
 * annotate) nothing.
 */
void ka_an_fresh(struct ka_alloc *heap);
/** The registry entry to hand out for b: one whose init() resets and brackets the arena. */
const struct ka_backend *ka_an_backend(const struct ka_backend *b);

static inline unsigned ka_an_enter(struct ka_alloc *a)
{
	return ka_an_active() ? ka_an_enter_slow(a) : 0;
}

static inline void ka_an_leave(unsigned an)
{
	if (an)
		ka_an_leave_slow();
}

#else /* !KA_CFG_ANNOTATE */

static inline unsigned ka_an_enter(struct ka_alloc *a)
{
	(void)a;
	return 0;
}
static inline void ka_an_leave(unsigned an)
{
	(void)an;
}
static inline void ka_an_alloc(const void *p, size_t req, size_t usable)
{
	(void)p;
	(void)req;
	(void)usable;
}
static inline size_t ka_an_free(struct ka_alloc *a, const void *p, size_t len)
{
	(void)a;
	(void)p;
	return len;
}
static inline void ka_an_resize(const void *p, size_t old, size_t req, size_t usable)
{
	(void)p;
	(void)old;
	(void)req;
	(void)usable;
}
static inline size_t ka_an_live_size(const void *p, size_t usable)
{
	(void)p;
	return usable;
}
static inline void ka_an_noaccess(const void *p, size_t len)
{
	(void)p;
	(void)len;
}
static inline void ka_an_fresh(struct ka_alloc *heap)
{
	(void)heap;
}
static inline const struct ka_backend *ka_an_backend(const struct ka_backend *b)
{
	return b;
}

#endif /* KA_CFG_ANNOTATE */

#endif /* KALLOC_ANNOTATE_H */
