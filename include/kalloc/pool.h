/* SPDX-License-Identifier: MIT */
/**
 * @file pool.h
 * @brief The pool backend: fixed-size objects, as Unikraft's ukallocpool.
 *
 * Model (docs/backend-pool.md has the details): the memory is cut into objects of one size
 * and alignment chosen at creation. Free objects form a LIFO list threaded through their
 * first word (the most recently freed object is handed out next, while it is still warm in
 * the cache); objects never handed out are taken in address order from a bump index, so
 * creation does not touch them. A bitmap with one bit per object records which are live,
 * which makes a double free detectable in O(1). ka_add_memory() adds a further object area.
 *
 * A request larger than the object size, or aligned more strictly than the objects, fails
 * (NULL): the pool is not an ANYSIZE backend. Every successful request gets a whole object.
 *
 * Costs, for a pool with Z areas (1 + successful ka_add_memory() calls):
 *  - ka_malloc(), ka_free(), ka_usable_size(): O(Z) to find a pointer's area (the first
 *    area is tried first, so O(1) for a pool that never grew), O(1) otherwise.
 *  - ka_pool_take_batch()/ka_pool_return_batch(): O(n * Z).
 *  - ka_add_memory(): O(Z + log len) plus zeroing the new area's bitmap. KA_EEXIST when
 *    the region overlaps one of the pool's regions, KA_EINVAL when not one object fits.
 *  - info: O(Z). check, walk: O(objects + Z).
 *
 * Misuse detected, always on, through ka_misuse(): freeing a pointer outside every area, not
 * at an object boundary, or not live (double free, or an object never handed out).
 *
 * Thread safety: none (wrap it in a locked adapter to share it).
 */
#ifndef KALLOC_POOL_H
#define KALLOC_POOL_H

#include <stddef.h>

#include "alloc.h"

/** Object size of pools made by ka_pool_init() (the registry constructor). */
#ifndef KA_CFG_POOL_DEFAULT_OBJ
#define KA_CFG_POOL_DEFAULT_OBJ 256
#endif

/**
 * @brief Make a pool of objects of `obj_size` bytes aligned to `obj_align` in
 * [base, base+len); the pool's state and object bitmap live at the start.
 *
 * The effective object size is obj_size raised to at least a pointer and rounded up to the
 * effective alignment max(obj_align, KA_CFG_MIN_ALIGN); ka_pool_obj_size() reports it.
 * As many objects as fit are made. Objects are not touched (no zero fill).
 * @param obj_align 0 for KA_CFG_MIN_ALIGN, else a power of two.
 * @return the pool, or NULL iff base is NULL, obj_size is 0, obj_align is not 0 or a power
 * of two, the object size overflows, or not even one object fits.
 * O(log len) to size the area, plus zeroing the bitmap (one bit per object); the objects
 * themselves are not touched. Not thread safe.
 */
struct ka_alloc *ka_pool_create(void *base, size_t len, size_t obj_size, size_t obj_align);

/**
 * @brief Registry constructor: ka_pool_create(base, len, KA_CFG_POOL_DEFAULT_OBJ,
 * KA_CFG_MIN_ALIGN). NULL iff base is NULL or len is below ka_backend_pool.min_size.
 * Cost as ka_pool_create().
 */
struct ka_alloc *ka_pool_init(void *base, size_t len);

/**
 * @brief Exact bytes ka_pool_create() needs for `n` objects when `base` is aligned to
 * max(obj_align, KA_CFG_MIN_ALIGN): a pool made on exactly that many bytes holds n objects,
 * one byte less holds fewer. An unaligned base needs up to that alignment minus one more.
 * @return the size, or 0 iff n or obj_size is 0, obj_align is invalid, or the size
 * overflows size_t. O(1), thread safe.
 */
size_t ka_pool_memsize(size_t n, size_t obj_size, size_t obj_align);

/**
 * @brief As ka_pool_memsize(), for a region handed to ka_add_memory() of a pool with these
 * object parameters (its descriptor is smaller than a whole pool's state). O(1), thread safe.
 */
size_t ka_pool_area_memsize(size_t n, size_t obj_size, size_t obj_align);

/**
 * @brief Take up to `n` objects at once into out[0..n).
 * @return how many were taken (fewer than n only when the pool ran out; 0 when empty).
 * Objects come in LIFO order, as from n ka_malloc() calls, and are counted in the pool's
 * statistics as allocations. O(n * Z). Panics (ka_misuse) if `a` is not a pool.
 * Not thread safe.
 */
size_t ka_pool_take_batch(struct ka_alloc *a, void **out, size_t n);

/**
 * @brief Return `n` objects at once, as n ka_free() calls (NULL entries are skipped).
 * Each pointer is checked as by ka_free(); misuse panics. O(n * Z). Not thread safe.
 */
void ka_pool_return_batch(struct ka_alloc *a, void *const *ptrs, size_t n);

/** @brief Objects free now (never handed out or given back). O(1). Panics if not a pool. */
size_t ka_pool_free_count(const struct ka_alloc *a);

/** @brief Objects in the pool, over all areas. O(1). Panics if not a pool. */
size_t ka_pool_total_count(const struct ka_alloc *a);

/** @brief Effective object size (what ka_usable_size() reports). O(1). Panics if not a pool. */
size_t ka_pool_obj_size(const struct ka_alloc *a);

/** @brief Effective object alignment. O(1). Panics if not a pool. */
size_t ka_pool_obj_align(const struct ka_alloc *a);

/** @brief Registry entry of the pool backend (name "pool"). */
extern const struct ka_backend ka_backend_pool;

#endif /* KALLOC_POOL_H */
