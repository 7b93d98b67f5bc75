/* SPDX-License-Identifier: MIT */
/*
 * The out-of-line half of annotate.h: the memcheck client requests or ASan poisoning calls,
 * the per-thread nesting depth, and the registry entries whose init() makes a heap over
 * memory that an earlier heap (or a freed block) left unaddressable. Hosted builds only
 * (CMake refuses KA_ANNOTATE for freestanding ones); with KA_CFG_ANNOTATE 0 this file is
 * empty.
 */
#include "annotate.h"
#include "check.h"

#if KA_CFG_ANNOTATE

#if KA_CFG_ANNOTATE == 1
#include <valgrind/memcheck.h>
#else
#include <sanitizer/asan_interface.h>
#endif

int ka_an_state = -1;

/* Poisoning a heap's free blocks walks it (ka_an_enter_slow, ka_an_fresh): under a memory
 * checker every walker is linked. */
KA_LINK_CHECKERS(annotate);

/* Nesting of ka_* calls in this thread: a backend that calls ka_palloc() on its page source
 * does so at depth 1, and the pages it gets are its metadata, not a block of the program.
 * Initial-exec: the library also lives in the LD_PRELOAD shim, where a TLS descriptor call
 * could allocate. */
static _Thread_local unsigned depth __attribute__((tls_model("initial-exec")));

bool ka_an_probe(void)
{
#if KA_CFG_ANNOTATE == 1
	int s = RUNNING_ON_VALGRIND ? 1 : 0;
#else
	int s = 1;
#endif
	__atomic_store_n(&ka_an_state, s, __ATOMIC_RELAXED);
	return s != 0;
}

void ka_an_noaccess(const void *p, size_t len)
{
	if (!len)
		return;
#if KA_CFG_ANNOTATE == 1
	VALGRIND_MAKE_MEM_NOACCESS(p, len);
#else
	__asan_poison_memory_region(p, len);
#endif
}

static void an_reset(const void *p, size_t len)
{
#if KA_CFG_ANNOTATE == 1
	VALGRIND_MAKE_MEM_UNDEFINED(p, len);
#else
	__asan_unpoison_memory_region(p, len);
#endif
}

static int poison_free(void *ptr, size_t size, bool used, void *arg)
{
	(void)arg;
	if (!used)
		ka_an_noaccess(ptr, size);
	return 0;
}

unsigned ka_an_enter_slow(struct ka_alloc *a)
{
	unsigned an = KA_AN_ON | (depth == 0 ? KA_AN_OUTER : 0);

	depth++;
#if KA_CFG_ANNOTATE == 1
	VALGRIND_DISABLE_ERROR_REPORTING;
#endif
	if (a && !(__atomic_load_n(&a->flags, __ATOMIC_RELAXED) & KA_ALLOC_AN_SEEN)) {
		__atomic_fetch_or(&a->flags, KA_ALLOC_AN_SEEN, __ATOMIC_RELAXED);
		if (a->ops->walk)
			a->ops->walk(a, poison_free, NULL);
	}
	return an;
}

void ka_an_fresh(struct ka_alloc *heap)
{
	if (depth > 0 && heap->ops->walk)
		heap->ops->walk(heap, poison_free, NULL);
}

void ka_an_leave_slow(void)
{
#if KA_CFG_ANNOTATE == 1
	VALGRIND_ENABLE_ERROR_REPORTING;
#endif
	depth--;
}

void ka_an_alloc(const void *p, size_t req, size_t usable)
{
#if KA_CFG_ANNOTATE == 1
	VALGRIND_MALLOCLIKE_BLOCK(p, req, 0, 0);
	if (usable > req)
		VALGRIND_MAKE_MEM_NOACCESS((const char *)p + req, usable - req);
#else
	__asan_poison_memory_region(p, usable);
	__asan_unpoison_memory_region(p, req);
#endif
}

size_t ka_an_free(struct ka_alloc *a, const void *p, size_t len)
{
	size_t live;

#if KA_CFG_ANNOTATE == 1
	/* A block memcheck does not know as live (double free, foreign pointer) is the
	 * program's error: memcheck says so, with the stacks of the block's history, before the
	 * backend looks at it (and may stop the program on its own misuse check). */
	if (VALGRIND_CHECK_MEM_IS_ADDRESSABLE(p, 1) != 0) {
		VALGRIND_ENABLE_ERROR_REPORTING;
		VALGRIND_FREELIKE_BLOCK(p, 0);
		VALGRIND_DISABLE_ERROR_REPORTING;
		return 0;
	}
#endif
	if (!len)
		len = a->ops->usable_size(a, p);
	live = ka_an_live_size(p, len);
#if KA_CFG_ANNOTATE == 1
	VALGRIND_FREELIKE_BLOCK(p, 0);
#endif
	ka_an_noaccess(p, len);
	return live;
}

void ka_an_resize(const void *p, size_t old, size_t req, size_t usable)
{
#if KA_CFG_ANNOTATE == 1
	if (req == 0 || old == 0) {
		/* memcheck ignores a resize to or from zero bytes: there is nothing to keep. */
		VALGRIND_FREELIKE_BLOCK(p, 0);
		VALGRIND_MALLOCLIKE_BLOCK(p, req, 0, 0);
	} else {
		VALGRIND_RESIZEINPLACE_BLOCK(p, old, req, 0);
	}
	if (usable > req)
		VALGRIND_MAKE_MEM_NOACCESS((const char *)p + req, usable - req);
#else
	(void)old;
	__asan_poison_memory_region(p, usable);
	__asan_unpoison_memory_region(p, req);
#endif
}

size_t ka_an_live_size(const void *p, size_t usable)
{
#if KA_CFG_ANNOTATE == 1
	/* Called inside the bracket: the check's own error report is suppressed, its answer
	 * (the first unaddressable byte, 0 if none) is what we want. */
	uintptr_t bad = VALGRIND_CHECK_MEM_IS_ADDRESSABLE(p, usable);
#else
	uintptr_t bad = (uintptr_t)__asan_region_is_poisoned((void *)(uintptr_t)p, usable);
#endif
	return bad ? (size_t)(bad - (uintptr_t)p) : usable;
}

/* ---- registry entries -------------------------------------------------------------------- */

#define KA_BACKEND(n) extern const struct ka_backend ka_backend_##n;
#include "ka_backends.inc"
#undef KA_BACKEND

/* A heap made over memory that an earlier heap left unaddressable (the conformance suite
 * makes a fresh heap over the same region for every case; a kernel may rebuild one): the
 * whole region is made addressable first and the backend's init runs inside the bracket. */
static struct ka_alloc *an_init(const struct ka_backend *b, void *base, size_t len)
{
	struct ka_alloc *a;

	if (!base || !ka_an_active())
		return b->init(base, len);
	an_reset(base, len);
	ka_an_enter_slow(NULL);
	a = b->init(base, len);
	ka_an_leave_slow();
	return a;
}

#define KA_BACKEND(n)                                                                              \
	static struct ka_alloc *an_init_##n(void *base, size_t len)                                \
	{                                                                                          \
		return an_init(&ka_backend_##n, base, len);                                        \
	}
#include "ka_backends.inc"
#undef KA_BACKEND

#define KA_BACKEND(n) {&ka_backend_##n, an_init_##n},
static const struct {
	const struct ka_backend *orig;
	struct ka_alloc *(*init)(void *, size_t);
} an_table[] = {
#include "ka_backends.inc"
};
#undef KA_BACKEND

static struct ka_backend an_wrapped[sizeof(an_table) / sizeof(an_table[0])];

/* Filled before main (hosted builds only), so ka_backend_find() stays free of races. */
__attribute__((constructor)) static void an_fill(void)
{
	for (size_t i = 0; i < sizeof(an_table) / sizeof(an_table[0]); i++) {
		an_wrapped[i] = *an_table[i].orig;
		an_wrapped[i].init = an_table[i].init;
	}
}

const struct ka_backend *ka_an_backend(const struct ka_backend *b)
{
	if (!b || !ka_an_active())
		return b;
	for (size_t i = 0; i < sizeof(an_table) / sizeof(an_table[0]); i++)
		if (an_table[i].orig == b)
			return an_wrapped[i].init ? &an_wrapped[i] : b;
	return b;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ka_annotate_off;
#endif /* KA_CFG_ANNOTATE */
