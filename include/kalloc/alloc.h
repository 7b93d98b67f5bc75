/* SPDX-License-Identifier: MIT */
/**
 * @file alloc.h
 * @brief The allocator interface: what callers of any kalloc backend use.
 *
 * A `struct ka_alloc` is one heap. Every backend (buddy, region, pool, tlsf, slab, tiny,
 * hardened) and every adapter (locked, cached) is one, so code written against these calls
 * works with all of them. The calls below check their arguments, keep the statistics and
 * fall back to generic code where a backend lacks an operation (realloc, memalign, pages).
 *
 * Common rules, for every call in this file:
 *  - Zero-size requests: ka_malloc(a, 0) (and calloc/memalign with a zero size) return a
 *    unique, freeable pointer to a block of at least 1 byte, as glibc does, on every backend.
 *  - Alignment: ka_malloc() returns memory aligned to KA_CFG_MIN_ALIGN (alignof(max_align_t)).
 *  - Failure: allocation calls return NULL and leave the heap and the caller's old block
 *    untouched; the failure is counted in ka_stats()->nb_enomem.
 *  - Misuse (double free, foreign or interior pointer, corrupted header) is reported through
 *    ka_plat_panic() when the backend detects it; detection is per backend (docs/design.md).
 *  - Thread safety: a `struct ka_alloc` is NOT thread safe unless it is a locked or cached
 *    adapter (kalloc/lock.h); backends are single-threaded by design.
 */
#ifndef KALLOC_ALLOC_H
#define KALLOC_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "stats.h"

struct ka_alloc;

/**
 * @brief Visitor for ka_walk(): called once per block, in address order per region.
 * @param ptr start of the block's usable memory (for free blocks: the free range)
 * @param size usable bytes of a used block, or bytes of a free range
 * @param used true for an allocated block
 * @return 0 to continue, anything else to stop the walk (ka_walk returns it).
 */
typedef int (*ka_walk_fn)(void *ptr, size_t size, bool used, void *arg);

/* ---- allocation ------------------------------------------------------------------------- */

/**
 * @brief Allocate `size` bytes aligned to KA_CFG_MIN_ALIGN. Contents are undefined.
 * Fails (NULL) iff no block can hold the request, or size + the backend's overhead overflows.
 * Complexity: the backend's (docs/design.md). Not thread safe (see file comment).
 */
void *ka_malloc(struct ka_alloc *a, size_t size);

/**
 * @brief Allocate `n * size` zeroed bytes.
 * Fails (NULL) iff `n * size` overflows size_t (no division by zero when size is 0) or as
 * ka_malloc(). O(backend) + O(n*size) for zeroing.
 */
void *ka_calloc(struct ka_alloc *a, size_t n, size_t size);

/**
 * @brief Resize a block. NULL `ptr` acts as ka_malloc(); `size` 0 with a non-NULL ptr frees
 * it and returns a fresh minimum block (as ka_malloc(a, 0)), unless that fails, in which case
 * the old block is kept and NULL returned. The first min(old usable size, size) bytes are kept.
 * Grows or shrinks in place where the backend can. On failure returns NULL and the old block is
 * intact and still owned by the caller.
 */
void *ka_realloc(struct ka_alloc *a, void *ptr, size_t size);

/**
 * @brief Allocate `size` bytes aligned to `align`.
 * Fails (NULL) iff align is not a power of two (0 included), or as ka_malloc(). Alignments
 * below KA_CFG_MIN_ALIGN are raised to it. Alignments up to KA_PAGE_SIZE work on every general
 * backend; page backends (buddy) honour larger ones.
 */
void *ka_memalign(struct ka_alloc *a, size_t align, size_t size);

/**
 * @brief POSIX posix_memalign(): store an `align`-aligned block of `size` bytes in *memptr.
 * @return 0; KA_EINVAL iff align is not a power of two or not a multiple of sizeof(void *)
 * (then *memptr is untouched); KA_ENOMEM when no memory (then *memptr is untouched).
 */
int ka_posix_memalign(struct ka_alloc *a, void **memptr, size_t align, size_t size);

/**
 * @brief Free a block from ka_malloc/calloc/realloc/memalign/posix_memalign. NULL is a no-op.
 * The region backend does not reclaim memory (documented in kalloc/region.h).
 */
void ka_free(struct ka_alloc *a, void *ptr);

/**
 * @brief Bytes usable in a live block (at least what was asked). 0 for NULL.
 */
size_t ka_usable_size(struct ka_alloc *a, const void *ptr);

/* ---- pages ------------------------------------------------------------------------------ */

/**
 * @brief Allocate `npages` contiguous pages of KA_PAGE_SIZE, page aligned.
 * Fails (NULL) iff npages is 0, npages * KA_PAGE_SIZE overflows, or no memory.
 * Free with ka_pfree(a, ptr, npages) only (not ka_free).
 */
void *ka_palloc(struct ka_alloc *a, size_t npages);

/** @brief As ka_palloc(), aligned to `align` (a power of two >= KA_PAGE_SIZE, else NULL). */
void *ka_palloc_aligned(struct ka_alloc *a, size_t npages, size_t align);

/** @brief Free pages from ka_palloc(); npages must be the count given there. NULL is a no-op. */
void ka_pfree(struct ka_alloc *a, void *ptr, size_t npages);

/* ---- memory and figures ----------------------------------------------------------------- */

/**
 * @brief Give the allocator another region [base, base+len).
 * @return 0; KA_EINVAL for a NULL base or a region too small for the backend's metadata;
 * KA_EEXIST if it overlaps memory already managed (where the backend can tell);
 * KA_ENOTSUP if the backend cannot take more memory.
 */
int ka_add_memory(struct ka_alloc *a, void *base, size_t len);

/** @brief Bytes free for allocation now (sum of free blocks). O(1) or O(regions). */
size_t ka_availmem(struct ka_alloc *a);

/**
 * @brief A request size that is guaranteed to succeed now (the largest such size the backend
 * can name cheaply). Where a backend can also satisfy a larger request by joining adjacent
 * free blocks (buddy's page runs, and slab's large blocks, which come from its buddy page
 * source) it is a lower bound, since finding the longest such run would mean scanning the
 * heap. O(backend), at most O(free lists).
 */
size_t ka_maxalloc(struct ka_alloc *a);

/** @brief Fill *out with the backend's memory figures. */
void ka_info(struct ka_alloc *a, struct ka_info *out);

/**
 * @brief The allocator's statistics: a pointer to a view inside the allocator (read-only),
 * valid as long as the allocator.
 *
 * On an allocator that keeps statistics (the default; not KA_ALLOC_NOSTATS) the view is filled
 * from its counters by this call, so it shows the figures as of the call: ask again for newer
 * ones (a pointer kept across later operations shows the old figures). Calling it is then an
 * operation on the allocator like ka_malloc(): the same serialisation applies, and two threads
 * must not call it on the same such allocator at once. On heads without statistics (a cache,
 * the locking adapter, whose owners store their figures there) it changes nothing and the
 * figures are those stored; the failure count nb_enomem is always stored. O(1).
 */
const struct ka_stats *ka_stats(const struct ka_alloc *a);

/** @brief The backend's (or adapter's) name, e.g. "buddy". */
const char *ka_name(const struct ka_alloc *a);

/* ---- checking --------------------------------------------------------------------------- */

/**
 * @brief Check every invariant of the heap. Never aborts, never changes the heap.
 * @return the number of inconsistencies found; 0 means the heap is healthy.
 * O(heap size) in general. Each problem is also logged at KA_LOG_ERR. A backend built
 * without its checker (KA_CFG_CHECK 0) has none to run: the result is then 0, in O(1).
 * Calling ka_check() or ka_walk() is what links the backends' checkers and walkers into a
 * program (docs/design.md); a head that still has none in a build with checkers (a custom
 * backend without one) is logged as "no checker linked" and counts 1.
 */
unsigned ka_check(struct ka_alloc *a);

/**
 * @brief Visit every block (used and free) with `fn`.
 * @return 0 after a full walk, fn's non-zero value if it stopped the walk, KA_ENOTSUP if the
 * backend cannot walk.
 */
int ka_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg);

/**
 * @brief Whether `ptr` lies inside memory this allocator manages (not whether it is live).
 * Backends without the operation answer false.
 */
bool ka_owns(struct ka_alloc *a, const void *ptr);

/**
 * @brief Verify the freed memory `a` still holds back, now: a write after free into a block
 * in the hardened backend's quarantine is reported (ka_misuse(), which does not return) even
 * when no later allocation would reuse the block. Meant for a program's or kernel's exit
 * path (the shim calls it at exit); adapters (locking, per-CPU cache, global allocator with
 * its sub-heaps) pass it on.
 * @return 0 when everything checked is intact; KA_ENOTSUP when the allocator holds nothing
 * back to verify (every backend but hardened). Time: O(quarantined blocks and their bytes),
 * bounded by the quarantine's limits. Thread safety: as the allocator's other operations.
 */
int ka_sweep(struct ka_alloc *a);

/* ---- backends by name ------------------------------------------------------------------- */

/** Capabilities a backend advertises (struct ka_backend.caps, struct ka_alloc_ops.caps). */
#define KA_CAP_FREE    0x1u  /**< free() makes memory reusable (not so for region) */
#define KA_CAP_ANYSIZE 0x2u  /**< any size up to the heap's is allowed (not so for pool) */
#define KA_CAP_ADDMEM  0x4u  /**< add_memory() works */
#define KA_CAP_PAGES   0x8u  /**< native page allocation */
#define KA_CAP_REALLOC 0x10u /**< native in-place realloc */
#define KA_CAP_WALK    0x20u /**< walk() supported */
#define KA_CAP_OWNS    0x40u /**< owns() supported */

/** @brief A backend known to the registry. */
struct ka_backend {
	const char *name; /**< "buddy", "region", ... */
	const char *desc; /**< one line for tables */
	unsigned caps;	  /**< KA_CAP_* */
	/**
	 * Build an allocator whose state and heap live in [base, base+len).
	 * NULL iff len is below min_size (or base is NULL).
	 */
	struct ka_alloc *(*init)(void *base, size_t len);
	size_t min_size; /**< smallest region init() accepts */
};

/** @brief The backend named `name`, or NULL. Thread safe, O(number of backends). */
const struct ka_backend *ka_backend_find(const char *name);

/** @brief The i-th backend compiled in (0-based), or NULL past the end. */
const struct ka_backend *ka_backend_at(size_t i);

/** @brief The build's default backend (KA_CFG_DEFAULT_BACKEND, else the first compiled in). */
const struct ka_backend *ka_backend_default(void);

/**
 * @brief Set the process's / kernel's default allocator (Unikraft's uk_alloc_set_default).
 * Not synchronised: call at boot, before other CPUs or threads allocate.
 */
void ka_set_default(struct ka_alloc *a);

/** @brief The default allocator, NULL before one was set (ka_boot() sets it). */
struct ka_alloc *ka_default(void);

#endif /* KALLOC_ALLOC_H */
