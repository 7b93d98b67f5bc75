/* SPDX-License-Identifier: MIT */
/**
 * @file stats.h
 * @brief Per-allocator statistics (Unikraft's ten figures, plus memory figures).
 */
#ifndef KALLOC_STATS_H
#define KALLOC_STATS_H

#include <stddef.h>
#include <stdint.h>

/**
 * @brief The statistics of a `struct ka_alloc`, as ka_stats() reports them.
 *
 * Kept by the backend (alloc_counted and free_counted in kalloc/alloc_impl.h, where a block's
 * size is known) or by the generic layer, as counters from which ka_stats() derives these
 * figures when called: nb_frees = nb_allocs - cur_nb_allocs, and the live figures from their
 * distance to the peak. Byte figures count what was really handed out (the usable size of
 * each block, or pages * KA_PAGE_SIZE for page allocations), not what the caller asked for.
 * Request-size figures (last/min/max) are what the caller asked for. A failed request counts
 * in `nb_enomem` only.
 */
struct ka_stats {
	size_t last_alloc_size; /**< size of the last successful request */
	size_t min_alloc_size;	/**< smallest successful request (SIZE_MAX before the first) */
	size_t max_alloc_size;	/**< largest successful request */
	uint64_t nb_allocs; /**< successful allocations (malloc, palloc, memalign, realloc moves) */
	uint64_t nb_frees;  /**< frees (free, pfree, realloc moves) */
	uint64_t nb_enomem; /**< requests that returned NULL / KA_ENOMEM */
	size_t cur_nb_allocs; /**< live blocks now */
	size_t max_nb_allocs; /**< peak live blocks */
	size_t cur_mem_use;   /**< live bytes now */
	size_t max_mem_use;   /**< peak live bytes */
};

/** @brief Memory figures a backend reports (see ka_info()). */
struct ka_info {
	size_t total;	 /**< bytes under management (all regions, including metadata) */
	size_t avail;	 /**< bytes free for allocation, summed over all free blocks */
	size_t maxalloc; /**< largest request that would succeed now (at minimum alignment) */
	size_t meta;	 /**< bytes the backend uses for its own control data */
};

#endif /* KALLOC_STATS_H */
