/* SPDX-License-Identifier: MIT */
/**
 * @file slab.h
 * @brief The slab backend: size classes for small objects on top of a page source.
 *
 * Model (docs/backend-slab.md has the details): requests up to KA_SLAB_MAX_SMALL bytes are
 * rounded up to one of 48 size classes (16-byte steps up to 256 B, then 8 classes per power
 * of two, so a block wastes at most 1/8 of its size or less than 16 bytes). Each class
 * carves objects out of slabs: KA_SLAB_SIZE-byte chunks, aligned to their size, taken from a
 * page source (any kalloc allocator; ka_palloc_aligned()/ka_pfree() are used on it) and
 * given back when they become empty (one empty slab per class is kept to damp thrashing).
 * Larger requests go to the page source directly, with a small header in front.
 *
 * Costs: ka_malloc() and ka_free() are O(1) on every path (no loop over slabs or objects),
 * apart from the page source's own cost when a slab or a large block is taken or given
 * back; when the page source runs dry, the cached empty slabs of the 48 classes are given
 * back and the request retried once. The slab of an object is found by masking the
 * pointer; a free object carries a per-object free mark, so a double free is detected in
 * O(1). ka_palloc()/ka_pfree() pass straight to the page source. ka_usable_size(): O(1).
 * Zero-fill: never (ka_calloc() zeroes). Alignment: KA_CFG_MIN_ALIGN; up to 64 bytes from
 * the size classes, larger alignments (any power of two) as page runs.
 *
 * Misuse detected, always on, through ka_misuse(): a pointer outside the memory the page
 * source ever gave this allocator, a slab or large-block header that does not carry this
 * allocator's mark, an interior pointer, a double free, a pointer to a slot never handed
 * out. Not detected: a second free after the program overwrote the second word of the freed
 * object (a use after free; ka_check() reports it). A foreign pointer inside the hull of the
 * page source's memory but in a hole between its regions can fault instead (the header read
 * is not guarded by a page-table walk).
 *
 * Thread safety: none (wrap it in a locked adapter to share it).
 */
#ifndef KALLOC_SLAB_H
#define KALLOC_SLAB_H

#include <stddef.h>

#include "alloc.h"

/** Largest request served from a size class; larger ones go to the page source. */
#define KA_SLAB_MAX_SMALL 4096u

/**
 * log2 of the slab size. Slabs must hold at least 7 objects of the largest class and fit
 * the exact index arithmetic (slab size * largest class <= 2^32), hence 15..20. Raised to
 * KA_CFG_PAGE_SHIFT when pages are larger.
 */
#ifndef KA_CFG_SLAB_SHIFT
#define KA_CFG_SLAB_SHIFT 15
#endif

/**
 * @brief Bytes of caller memory ka_slab_create() needs for the allocator's state, at any
 * alignment of that memory (the state is aligned to a cache line inside it). O(1), thread safe.
 */
size_t ka_slab_state_size(void);

/**
 * @brief Make a slab allocator whose state lives in [state_mem, state_mem+state_len) and
 * whose slabs and large blocks come from `page_source`.
 *
 * The page source must stay alive as long as the slab allocator and must not be used for
 * anything that calls ka_free() on the slab allocator's pages. It is asked for blocks of
 * KA_SLAB_SIZE pages aligned to KA_SLAB_SIZE (buddy hands these out without waste) and for
 * page runs of any length aligned to KA_PAGE_SIZE or to the caller's alignment.
 * @return the allocator, or NULL iff state_mem or page_source is NULL or state_len is too
 * small: ka_slab_state_size() bytes always suffice, whatever the alignment of state_mem.
 * O(number of classes * slab size / 16) once, to lay out the classes. Not thread safe.
 */
struct ka_alloc *ka_slab_create(void *state_mem, size_t state_len, struct ka_alloc *page_source);

/**
 * @brief Registry constructor: in [base, base+len) place the slab state, then a buddy page
 * source (ka_buddy_init()) over the rest, and make a slab allocator over it.
 * @return the allocator, or NULL iff base is NULL, len is below ka_backend_slab.min_size,
 * or the buddy refuses the rest of the region. ka_add_memory() on the result hands the
 * region to the buddy. O(as ka_slab_create + ka_buddy_init). Not thread safe.
 */
struct ka_alloc *ka_slab_init(void *base, size_t len);

/**
 * @brief Give every cached empty slab back to the page source.
 * @return the bytes given back. Also done automatically when the page source runs dry.
 * O(number of classes) + page-source frees. Panics (ka_misuse) if `a` is not a slab
 * allocator. Not thread safe.
 */
size_t ka_slab_trim(struct ka_alloc *a);

/**
 * @brief The page source a slab allocator draws from (for figures and tests).
 * Panics (ka_misuse) if `a` is not a slab allocator. O(1).
 */
struct ka_alloc *ka_slab_page_source(struct ka_alloc *a);

/**
 * @brief Usable size a request of `size` bytes (at KA_CFG_MIN_ALIGN) gets from its class:
 * the class size for 1..KA_SLAB_MAX_SMALL, 0 for 0 and for larger sizes (page-source blocks).
 * O(1), thread safe.
 */
size_t ka_slab_class_size(size_t size);

/** @brief Registry entry of the slab backend (name "slab"). */
extern const struct ka_backend ka_backend_slab;

#endif /* KALLOC_SLAB_H */
