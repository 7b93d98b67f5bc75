/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the parts of libkalloc-malloc.so, a thin layer over library
 * objects (no allocator logic of its own):
 *  - malloc.c: the exported C library functions (errno, NULL, alignment and realloc rules,
 *    the ownership check before anything around a pointer is read, double-free detection);
 *  - heap.c:   lazy set-up from the environment (KALLOC_BACKEND, KALLOC_CACHE, KALLOC_STATS,
 *              KALLOC_CHUNK_SHIFT, KALLOC_KEEP_CHUNKS), fork handlers, exit statistics;
 *  - glue.c:   the library objects: the global allocator on backend X and, in front of it,
 *              the per-CPU cache adapter (kalloc/cache.h), the only file using their headers
 *              with glue.h, which hands malloc.c the library's inline fast paths;
 *  - trace.c:  the KALLOC_TRACE recorder.
 *
 * Blocks are the cache's (whole blocks of the global allocator, so of backend X, with the
 * cache's 16-byte class header in front) or, without the cache, the global allocator's own.
 * Before free/realloc/malloc_usable_size read anything around a pointer, the global
 * allocator is asked whether it holds that memory (ka_global_owns(), O(1), no lock).
 *
 * Double free. With the cache, its own keyed tags (KA_CACHE_TAGS, in a free block's second
 * word) refuse a double free and a freed block passed to realloc or malloc_usable_size, and
 * see writes after free. Without the cache (KALLOC_CACHE=0, hardened, Valgrind) the global
 * allocator and backend X see every free and report double frees themselves. The shim writes
 * nothing into blocks: a word of its own in a block would be allocator logic outside the
 * library, and would overwrite what the backend keeps there (hardened's canary right after a
 * 0- to 7-byte request).
 */
#ifndef KALLOC_SHIM_H
#define KALLOC_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_ALIGN _Alignof(max_align_t)

/* Requests up to this size are served from the per-CPU magazines (the cache's largest
 * class); larger ones are blocks of the global allocator behind the cache's header. */
#define SHIM_CACHE_MAX ((size_t)2048)

/* Requests above this fail with ENOMEM before any arithmetic can overflow. */
#define SHIM_MAX_REQUEST (SIZE_MAX / 2 - 65536)

/* Report misuse (double free, foreign pointer) and abort. Never allocates (malloc.c). */
__attribute__((__noreturn__)) void shim_misuse(const char *what, const void *p);

/* ---- heap.c: lazy set-up from the environment, fork handlers, exit statistics ------------ */

/* True once the heap is set up; shim_heap_init() sets it up (idempotent, thread safe). */
extern volatile int shim_heap_ready;
void shim_heap_init(void);

/* ---- glue.c: the library objects ---------------------------------------------------------- */

/* Build the global allocator on the byte backend `name` (NULL: the build's default) with
 * chunks of 2^chunk_shift bytes, keeping up to keep_chunks empty chunks mapped, and the
 * cache adapter in front when with_cache. 0, or -1 when no usable backend has that name, -2
 * when the global allocator or the cache refuses to start. */
int shim_glue_create(const char *name, unsigned chunk_shift, size_t keep_chunks, bool with_cache);
/* Let malloc() and free() take glue.h's inline paths (on: the cache's, when there is one) or
 * not (off: every call takes the full path). heap.c turns it on at the end of the set-up
 * unless a trace is recorded. */
void shim_glue_fast(bool on);
/* Names of the byte backends the global allocator accepts, separated by spaces. */
const char *shim_glue_backends(void);
/* Name of the byte backend in use. */
const char *shim_glue_backend(void);
/* True when the cache adapter fronts the global allocator. */
bool shim_heap_cached(void);

/* True when p lies in memory the heap holds for blocks (ka_global_owns(): p and the bytes
 * of its chunk slot below it can be read). Lock free; false before the heap exists. */
bool shim_heap_owns(const void *p);

/* A block of >= size bytes aligned to align (power of two), or NULL. Thread safe. */
void *shim_heap_alloc(size_t size, size_t align);
/* Free a block of shim_heap_alloc() (the caller checked shim_heap_owns()); keeps errno.
 * Thread safe. */
void shim_heap_free(void *block);
/* free(): the checks of malloc.c's check_ptr() (alignment, shim_heap_owns(), the shim's tag
 * when the cache keeps none; shim_misuse() on failure), then shim_heap_free(). */
void shim_heap_free_checked(void *block);
/* Usable bytes of a live block of shim_heap_alloc(). Stops the process on a block the heap
 * did not hand out (as far as the cache's header and the global allocator can tell). */
size_t shim_heap_usable(const void *block);
/* True when the first `size` bytes of `block`, just returned by shim_heap_alloc(), are known
 * to be zero: a large block of the global allocator on pages newly mapped for it (not one
 * it reused: ka_global_set_keep_large). calloc() then clears nothing, leaving the pages
 * uncommitted as glibc does. */
bool shim_heap_zeroed(const void *block, size_t size);
/* At exit: verify what the backend still holds back (hardened's quarantine, ka_sweep()), so
 * that a write after free in a program's last moments is reported; a no-op elsewhere. */
void shim_heap_sweep(void);
/* Give the calling thread's cached blocks and the depots' full magazines back. */
void shim_heap_flush(void);
/* fork(): the cache's depot locks, then the heap lock; the child makes them fresh. */
void shim_heap_fork_prepare(void);
void shim_heap_fork_parent(void);
void shim_heap_fork_child(void);

/* Figures for mallinfo2() and the exit statistics: the global allocator's (so backend X's
 * sub-heaps' and the large blocks'). */
struct shim_heap_figures {
	size_t mapped;	   /* bytes the global allocator holds from the system */
	size_t in_use;	   /* usable bytes of live global-allocator blocks (cached ones too) */
	size_t free_bytes; /* bytes free inside the sub-heaps */
	size_t chunks;	   /* sub-heap chunks mapped now */
	size_t large;	   /* live blocks served straight from pages */
	size_t live;	   /* live global-allocator blocks (cached ones too) */
	uint64_t allocs;   /* global-allocator allocations (backend X's, and large blocks) */
	uint64_t frees;	   /* global-allocator frees */
	uint64_t enomem;   /* failed requests */
	uint64_t released; /* chunks given back to the system so far */
};
/* Takes the heap lock. */
void shim_heap_figures(struct shim_heap_figures *out);
/* The cache's own counts (0 without a cache). For the exit statistics only: not while
 * another thread may ask too. */
void shim_heap_cache_counts(uint64_t *allocs, uint64_t *frees);

/* ---- malloc.c / heap.c ---------------------------------------------------------------------- */

/* An environment variable, readable before libc has set environ up (heap.c). */
const char *shim_env_get(const char *name);

/* Write a NUL-terminated string to stderr with write(2); keeps errno. */
void shim_write_err(const char *s);

#endif /* KALLOC_SHIM_H */
