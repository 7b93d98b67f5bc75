/* SPDX-License-Identifier: MIT */
/*
 * The inline fast paths of malloc() and free(), for malloc.c: the library's own inline paths
 * (ka_cache_try_malloc(), ka_global_owns_inline(), ka_cache_try_free()) behind one switch,
 * with nothing of the shim's in between. What they cover, a class block in the calling
 * thread's magazine, needs no C-library rule: no errno (nothing fails), no trace (the switch
 * is off while a trace is recorded), no set-up (the switch is off until the heap is ready).
 * Anything else answers "not done" and malloc.c takes the full path (shim.h's calls), which
 * checks, reports and sets errno as before. No allocator logic here: each test below is the
 * library's; this header only names the heap's objects for them (glue.c has them).
 */
#ifndef KALLOC_SHIM_GLUE_H
#define KALLOC_SHIM_GLUE_H

#include "kalloc/cache.h"
#include "kalloc/global.h"
#include "shim.h"

_Static_assert(SHIM_ALIGN <= KA_CFG_MIN_ALIGN, "the cache's blocks must have malloc's alignment");

/* Objects of this library only: hidden, so that the code below reaches them relative to the
 * instruction pointer (default visibility would cost a load of their address from the GOT). */
#define SHIM_HIDDEN __attribute__((visibility("hidden")))

/* The global allocator under the cache (glue.c). */
extern SHIM_HIDDEN struct ka_global shim_gheap;

/* The cache while malloc() and free() may take the paths below (heap set up, cache on, no
 * trace recorded); KA_CACHE_NONE otherwise (every call then answers "not done": no NULL
 * test here). Published with a release store once the heap is ready. */
extern SHIM_HIDDEN struct ka_alloc *shim_fast;

/* A block for malloc(n) from the calling thread's magazine, or NULL: take the full path. */
static inline void *shim_fast_malloc(size_t n)
{
	return ka_cache_try_malloc(__atomic_load_n(&shim_fast, __ATOMIC_ACQUIRE), n);
}

/* free(p) done when p is aligned, lies in a sub-heap chunk of the heap (the flat ownership
 * map says so before anything around p is read) and its class magazine has room (the cache's
 * double-free tag checked); false: take the full path, which checks p again and reports. */
static inline bool shim_fast_free(void *p)
{
	struct ka_alloc *c = __atomic_load_n(&shim_fast, __ATOMIC_ACQUIRE);

	/* Without a cache (KA_CACHE_NONE) nothing passes the first test, so no byte near p is
	 * read (a hardened block may follow a guard page). SHIM_ALIGN <= KA_CFG_MIN_ALIGN: a
	 * pointer that the cache's mask sends on is checked again by the full path. */
	return ka_cache_may_hold(c, p) && ka_global_owns_inline(&shim_gheap, p) &&
	       ka_cache_try_free(c, p);
}

#endif /* KALLOC_SHIM_GLUE_H */
