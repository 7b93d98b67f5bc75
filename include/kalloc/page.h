/* SPDX-License-Identifier: MIT */
/**
 * @file page.h
 * @brief Page objects (ArceOS axalloc's GlobalPage): one page, or N contiguous pages with an
 * alignment, as a small value that knows its size and how to free itself.
 *
 * A `struct ka_page` is filled by pointer; it records the allocator it came from, so
 * ka_page_free() needs nothing else. The pages come from any `struct ka_alloc` through
 * ka_palloc_aligned(), normally the global allocator (ka_global_alloc_iface()), whose pages
 * are physically contiguous when it grows from frames.
 *
 * Thread safety: as the allocator's (the global allocator's is thread safe); one page object
 * must not be used by two threads at once without the caller's own synchronisation.
 */
#ifndef KALLOC_PAGE_H
#define KALLOC_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "platform.h"

/** @brief Virtual-to-physical translation, e.g. ka_plat_virt_to_phys or a kernel's own. */
typedef ka_paddr_t (*ka_virt_to_phys_fn)(const void *vaddr);

/** @brief A run of pages. Members are private; an empty object has vaddr NULL. */
struct ka_page {
	void *vaddr;	       /**< first byte */
	size_t npages;	       /**< pages in the run */
	struct ka_alloc *from; /**< the allocator to give them back to */
};

/**
 * @brief One page (KA_PAGE_SIZE bytes, page aligned), contents undefined.
 * @return 0 and *out filled; KA_EINVAL (NULL a or out); KA_ENOMEM (then *out is empty).
 * Complexity: the allocator's page allocation.
 */
int ka_page_alloc(struct ka_alloc *a, struct ka_page *out);

/** @brief As ka_page_alloc(), the page zeroed. O(page size) more. */
int ka_page_alloc_zeroed(struct ka_alloc *a, struct ka_page *out);

/**
 * @brief `npages` contiguous pages whose start is a multiple of `align` (a power of two >=
 * KA_PAGE_SIZE), contents undefined.
 * @return 0; KA_EINVAL (NULL a or out, npages 0, bad align, size overflow); KA_ENOMEM.
 * *out is empty on failure.
 */
int ka_page_alloc_contiguous(struct ka_alloc *a, size_t npages, size_t align, struct ka_page *out);

/** @brief Virtual start (NULL for an empty object). O(1). */
void *ka_page_vaddr(const struct ka_page *pg);

/**
 * @brief Physical start through `v2p`, or through ka_plat_virt_to_phys() when v2p is NULL.
 * KA_PADDR_INV for an empty object. O(1) plus the translation.
 */
ka_paddr_t ka_page_paddr(const struct ka_page *pg, ka_virt_to_phys_fn v2p);

/** @brief Size in bytes (npages * KA_PAGE_SIZE; 0 for an empty object). O(1). */
size_t ka_page_size(const struct ka_page *pg);

/** @brief Number of pages (0 for an empty object). O(1). */
size_t ka_page_count(const struct ka_page *pg);

/** @brief Set every byte to `byte`. O(size). No-op on an empty object. */
void ka_page_fill(struct ka_page *pg, uint8_t byte);

/** @brief Set every byte to 0. O(size). No-op on an empty object. */
void ka_page_zero(struct ka_page *pg);

/** @brief Give the pages back and make the object empty. No-op on an empty object. */
void ka_page_free(struct ka_page *pg);

#endif /* KALLOC_PAGE_H */
