/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the three parts of libkalloc-malloc.so:
 *  - malloc.c: the exported C library functions (errno, NULL and alignment rules);
 *  - cache.c:  the per-thread cache of small blocks (magazines per size class);
 *  - heap.c:   the process heap, the kalloc global allocator behind one lock, lazily set up
 *              from the environment (KALLOC_BACKEND, KALLOC_STATS), fork handlers, statistics.
 *
 * Block format: none of the shim's own. Every pointer the shim hands out is a block of the
 * global allocator, exactly as the byte backend returned it, so the backend's layout and
 * per-block overhead are what a program sees (testing a backend on a real workload is one
 * purpose of the shim). The size class of a freed block is derived from its usable size,
 * which the backend keeps in band (shim_heap_usable(), no lock: see glue.c). A block of
 * usable size u can serve any class of size <= u, so it joins the magazine of the largest
 * such class. A block in a magazine stores the magazine's next pointer in its first word;
 * for the backend it is still allocated.
 */
#ifndef KALLOC_SHIM_H
#define KALLOC_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_ALIGN _Alignof(max_align_t)

/* Size classes: 16-byte steps up to 128, then four classes per power of two up to 16 KiB. */
#define SHIM_NCLS      36
#define SHIM_SMALL_MAX ((size_t)16384)

/* Requests above this fail with ENOMEM before any arithmetic can overflow. */
#define SHIM_MAX_REQUEST (SIZE_MAX / 2 - 65536)

static inline unsigned shim_fls(size_t x)
{
	return (unsigned)(sizeof(size_t) * 8 - 1) - (unsigned)__builtin_clzl((unsigned long)x);
}

/* Size class of a request of n bytes (1 <= n <= SHIM_SMALL_MAX). */
static inline unsigned shim_class_of(size_t n)
{
	unsigned e;

	if (n <= 128)
		return n == 0 ? 0 : (unsigned)((n + 15) >> 4) - 1;
	e = shim_fls(n - 1);
	return 8 + (e - 7) * 4 + (unsigned)((n - 1) >> (e - 2)) - 4;
}

/* The largest class whose blocks fit in u usable bytes (16 <= u <= SHIM_SMALL_MAX). */
static inline unsigned shim_class_floor(size_t u)
{
	return u >= SHIM_SMALL_MAX ? SHIM_NCLS - 1 : shim_class_of(u + 1) - 1;
}

/* Bytes a block of class c offers the caller. */
static inline size_t shim_class_size(unsigned c)
{
	unsigned e;

	if (c < 8)
		return (size_t)(c + 1) << 4;
	e = 7 + (c - 8) / 4;
	return ((size_t)1 << e) + (size_t)((c - 8) % 4 + 1) * ((size_t)1 << (e - 2));
}

/* ---- heap.c: lazy set-up from the environment, fork handlers, exit statistics ------------ */

/* True once the heap is set up; shim_heap_init() sets it up (idempotent, thread safe). */
extern volatile int shim_heap_ready;
void shim_heap_init(void);

/* ---- glue.c: the kalloc global allocator behind one lock (the only file using global.h) --- */

/* Build the global allocator on the byte backend `name` (NULL: the build's default) with
 * chunks of 2^chunk_shift bytes. 0, or -1 when no usable backend has that name, -2 when the
 * global allocator refuses to start. */
int shim_glue_create(const char *name, unsigned chunk_shift);
/* Names of the byte backends the global allocator accepts, separated by spaces. */
const char *shim_glue_backends(void);
/* Name of the byte backend in use. */
const char *shim_glue_backend(void);

void shim_heap_lock(void);
void shim_heap_unlock(void);
/* Fork: the child re-initialises the lock the parent's forking thread held. */
void shim_heap_lock_reinit(void);
/* With the heap lock held: a block of >= size bytes aligned to align (power of two), or NULL. */
void *shim_heap_alloc_locked(size_t size, size_t align);
void shim_heap_free_locked(void *block);
/* Usable bytes of a live block from shim_heap_alloc_locked(), WITHOUT the heap lock (the
 * block's own in-band header and its chunk's header, which only the owner of a live block
 * can change). Stops the process on a pointer the global allocator did not hand out. */
size_t shim_heap_usable(const void *block);
/* With the heap lock held: resize (may move, keeps contents); NULL with the block intact. */
void *shim_heap_realloc_locked(void *block, size_t size);

/* Figures for mallinfo2() and the exit statistics. */
struct shim_heap_figures {
	size_t mapped;	   /* bytes the global allocator holds from the system */
	size_t in_use;	   /* bytes in live global-allocator blocks (thread caches included) */
	size_t free_bytes; /* bytes free inside what is mapped */
	size_t chunks;	   /* sub-heap chunks mapped now */
	size_t large;	   /* live blocks served straight from pages */
	uint64_t allocs;   /* global-allocator allocations */
	uint64_t frees;	   /* global-allocator frees */
	uint64_t enomem;   /* failed requests */
	uint64_t released; /* chunks given back to the system so far */
};
/* Takes the heap lock. */
void shim_heap_figures(struct shim_heap_figures *out);

/* ---- cache.c: per-thread magazines --------------------------------------------------------- */

/* Small block of class c from the calling thread's cache (refilled under the heap lock). */
void *shim_cache_alloc(unsigned c);
/* Return a block of usable size u (<= SHIM_SMALL_MAX) to the calling thread's cache. */
void shim_cache_free(void *p, size_t u);
/* Give every block of the calling thread's cache back to the global allocator. */
void shim_cache_flush_self(void);
/* Called once by heap.c's initialisation: bounds and the thread-exit key. */
void shim_cache_init_key(void);
/* Most bytes one thread's cache can hold (headers included). */
size_t shim_cache_bytes_max(void);

struct shim_cache_counts {
	uint64_t hits;	  /* allocations served from a thread cache */
	uint64_t misses;  /* allocations that had to refill */
	uint64_t frees;	  /* frees kept in a thread cache */
	uint64_t flushes; /* frees that overflowed a cache and flushed part of it */
};
void shim_cache_counts(struct shim_cache_counts *out);

/* ---- malloc.c ------------------------------------------------------------------------------ */

/* An environment variable, readable before libc has set environ up (heap.c). */
const char *shim_env_get(const char *name);

/* Report misuse (double free, foreign pointer) and abort. Never allocates. */
__attribute__((__noreturn__)) void shim_misuse(const char *what, const void *p);
/* Write a NUL-terminated string to stderr with write(2); keeps errno. */
void shim_write_err(const char *s);

#endif /* KALLOC_SHIM_H */
