/* SPDX-License-Identifier: MIT */
/**
 * @file dma.h
 * @brief Coherent DMA memory (ArceOS axdma, made whole): buffers a device can reach, with
 * their CPU pointer and bus address.
 *
 * Model (docs/global.md):
 *  - Memory comes from a frame source (kalloc/global.h), so physical addresses are known and
 *    an address limit (a device that sees only 32 bits, say) is honoured by allocating frames
 *    in a physical range (ka_frame_source_alloc_range), not by hoping.
 *  - Bus address = physical address + a per-platform offset (axdma's PHYS_BUS_OFFSET), or
 *    whatever a platform hook says.
 *  - Requests up to `small_max` bytes come from coherent sub-heaps: runs of frames mapped
 *    uncached (ka_plat_map_uncached, a no-op hosted), each managed by a byte backend, so a
 *    64-byte descriptor does not cost a whole page. Larger requests take whole frames.
 *  - All coherent memory is zeroed when handed out (as Linux's dma_alloc_coherent).
 *
 * Thread safety: every call is thread safe (one lock per `struct ka_dma`).
 * Lock order: the DMA lock, then the frame source's lock (kalloc/global.h); the DMA lock is
 * never held together with a global allocator's lock.
 */
#ifndef KALLOC_DMA_H
#define KALLOC_DMA_H

#include <stddef.h>
#include <stdint.h>

#include "global.h"
#include "platform.h"

/** No address limit. */
#define KA_DMA_LIMIT_NONE ((ka_paddr_t)UINT64_MAX)
/** Devices that see 32-bit bus addresses: everything below 4 GiB. */
#define KA_DMA_LIMIT_32 ((ka_paddr_t)1 << 32)

struct ka_dma_heap;

/** @brief Physical-to-bus hook (replaces the offset when given). */
typedef ka_paddr_t (*ka_phys_to_bus_fn)(ka_paddr_t paddr, void *arg);

/** @brief Settings for ka_dma_init(); zero members take the defaults. */
struct ka_dma_config {
	struct ka_frame_source *frames; /**< where the memory comes from (required) */
	ka_paddr_t bus_offset;		/**< bus = phys + bus_offset (when phys_to_bus is NULL) */
	ka_phys_to_bus_fn phys_to_bus;	/**< optional translation hook */
	void *hook_arg;			/**< its argument */
	const char *backend;		/**< sub-heap byte backend; NULL = ka_backend_default() */
	size_t heap_pages;		/**< pages per coherent sub-heap; 0 = 16 */
	size_t small_max;		/**< largest sub-heap request; 0 = sub-heap bytes / 8 */
};

/**
 * @brief A coherent buffer. `cpu`, `bus` and `size` are for the caller; the rest is private.
 * Give it back, unchanged, to ka_dma_free_coherent().
 */
struct ka_dma_buf {
	void *cpu;		  /**< CPU (virtual) address of the first byte */
	ka_paddr_t bus;		  /**< the device's address of the first byte */
	size_t size;		  /**< bytes asked for */
	struct ka_dma_heap *heap; /**< private: the sub-heap, NULL for whole frames */
	size_t npages;		  /**< private: frames of a whole-frame buffer */
};

/** @brief One DMA allocator. Caller-provided storage; members private. */
struct ka_dma {
	struct ka_lock lock;
	struct ka_frame_source *fs;
	ka_paddr_t bus_offset;
	ka_phys_to_bus_fn phys_to_bus;
	void *hook_arg;
	const struct ka_backend *backend;
	size_t heap_pages;
	size_t small_max;
	struct ka_dma_heap *heaps; /**< coherent sub-heaps, newest first */
	struct ka_dma_heap *empty; /**< the one cached empty sub-heap, or NULL */
	size_t nheaps;
	size_t page_bufs; /**< live whole-frame buffers */
};

/**
 * @brief Set up a DMA allocator over cfg->frames.
 * @return 0; KA_EINVAL (NULL d/cfg/frames, heap_pages too small for the backend's minimum
 * heap or too large to express); KA_ENOENT (no such backend). O(1); maps nothing yet.
 */
int ka_dma_init(struct ka_dma *d, const struct ka_dma_config *cfg);

/**
 * @brief Allocate `size` bytes of zeroed coherent memory aligned to `align` (a power of
 * two; below KA_CFG_MIN_ALIGN is raised to it), every byte of which has a bus address below
 * `limit` (KA_DMA_LIMIT_NONE: no limit). Small requests (size <= small_max, align <=
 * KA_PAGE_SIZE) share uncached sub-heaps; others take whole frames.
 * @param out filled on success; on failure out->cpu is NULL.
 * @return 0; KA_EINVAL (NULL d/out, size 0 or above SIZE_MAX/2, bad align, limit 0);
 * KA_ENOMEM (no frames in range, or the platform refused to map them uncached).
 * Complexity: O(sub-heaps) + backend for small requests; the frame allocator's range
 * allocation otherwise. Thread safe.
 */
int ka_dma_alloc_coherent(struct ka_dma *d, size_t size, size_t align, ka_paddr_t limit,
			  struct ka_dma_buf *out);

/**
 * @brief Give back a buffer from ka_dma_alloc_coherent() and clear *buf. A buffer with a
 * NULL cpu pointer is a no-op. Misuse (a buffer not from `d`, a double free the backend or
 * frame allocator detects) panics. A sub-heap left empty goes back to the frames unless it
 * is the one cached. Thread safe.
 */
void ka_dma_free_coherent(struct ka_dma *d, struct ka_dma_buf *buf);

/** @brief Bus address of physical `paddr` (offset or hook). O(1), thread safe. */
ka_paddr_t ka_dma_phys_to_bus(const struct ka_dma *d, ka_paddr_t paddr);

/** @brief Bus address of `vaddr` (frame source translation, then phys_to_bus). O(1). */
ka_paddr_t ka_dma_virt_to_bus(const struct ka_dma *d, const void *vaddr);

/**
 * @brief Check every sub-heap (header, backend check, live count) and the frame source.
 * @return inconsistencies found (each logged); 0 when healthy. Thread safe.
 */
unsigned ka_dma_check(struct ka_dma *d);

/** @brief Coherent sub-heaps now (the cached empty one included). Thread safe, O(1). */
size_t ka_dma_heap_count(struct ka_dma *d);

#endif /* KALLOC_DMA_H */
