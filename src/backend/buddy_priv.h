/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the buddy backend, shared by buddy.c, buddy_validate.c and the white-box
 * unit test (tests/unit/test_buddy.c).
 *
 * Memory layout of one zone (one region given to init or add_memory)
 * -----------------------------------------------------------------
 *   [struct bd_state (first zone only)][struct bd_zone][struct bd_page map[npages]] pad
 *   [page 0][page 1] ... [page npages-1]
 * The pages start at the first page boundary after the map, so all metadata sits before the
 * pages and never inside a power-of-two block. Blocks are aligned by ABSOLUTE page frame
 * number (pfn = address >> KA_CFG_PAGE_SHIFT): a block of order k starts at a pfn that is a
 * multiple of 2^k, so it is aligned to its size in memory and its buddy is pfn ^ 2^k. A zone
 * need not be aligned; its pages are cut into maximal aligned blocks.
 *
 * Page map (out of band, 8 bytes per page)
 * ----------------------------------------
 * Only the descriptor of the FIRST page of a block means something ("head"):
 *   BD_FREE  head of a free block of order `order`, linked in free[order]
 *   BD_RUN   head of a used run of `npages` pages (malloc of >= a page, or palloc)
 *   BD_SLAB  a slab of class `cls`: a block of 2^sorder[cls] pages cut into small objects
 * The other pages of a slab are BD_SLAB too, with `npages` = their distance from the slab's
 * first page (0 at the first page), so that an object pointer anywhere in the slab finds the
 * header with one map read. Every other descriptor is BD_NONE (all zero). Invariant: a
 * BD_FREE descriptor exists iff a free block starts there, so the buddy of a block being
 * freed is found free in O(1) by reading one descriptor; when two buddies merge, the upper
 * one's descriptor is cleared.
 * A used run is just a range of pages: it is allocated from one block of order
 * ceil(log2 npages) whose tail beyond npages is freed at once, and it is freed by cutting the
 * range into maximal aligned blocks and freeing each with merging. When no block of that
 * order is free, a run may also be cut out of a stretch of adjacent smaller free blocks
 * (run_fit() in buddy.c): runs need page alignment only, not buddy alignment.
 *
 * Free blocks (in band)
 * ---------------------
 * The first bytes of a free block hold `struct bd_free`: the links of the doubly linked list
 * of its order, so removal (for a merge) is O(1), and its zone, so that splitting a block
 * taken from a list needs no zone lookup.
 *
 * Small objects (slabs, in band)
 * ------------------------------
 * Requests up to `small_max` bytes (7/8 of a page) use size classes: 16-byte steps up to
 * 128, then four classes per power of two (160, 192, 224, 256, 320, ...). A slab of class c
 * is one buddy block of 2^sorder[c] pages (1 to 8: the smallest that wastes at most 1/8 of
 * the slab, so that classes above half a page do not leave half of every page unused):
 *   [struct bd_slab, padded to BD_SLAB_HDR][gap] ... [obj nobj-1] ... [obj 1][obj 0]
 * Objects are laid out from the END of the slab downwards, object i at
 * slab + (PAGE << sorder) - (i+1) * size, so a class whose size is a multiple of a power of
 * two `al` has every object aligned to `al` (block boundaries are). Objects [0, bumped) have been
 * handed out at least once; free ones among them are on the slab's in-band list as `struct bd_obj`,
 * whose `key` is the object's address ^ BD_OBJ_KEY (cleared on allocation): a free() that
 * finds the key already set is a double free. Objects >= bumped have never been used. Slabs
 * with at least one free object and one used object are on partial[cls] (doubly linked); a
 * slab whose last object is freed returns its page to the buddy lists.
 */
#ifndef KALLOC_BUDDY_PRIV_H
#define KALLOC_BUDDY_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/buddy.h"

/** Number of block orders: a block of 2^k pages must have a size representable in size_t. */
#define BD_NORDERS (sizeof(size_t) * 8 - KA_CFG_PAGE_SHIFT - 1)

/** Page descriptor kinds. */
#define BD_NONE 0u
#define BD_FREE 1u
#define BD_RUN	2u
#define BD_SLAB 3u

/** One page's descriptor in a zone's map. */
struct bd_page {
	uint8_t kind;	 /* BD_* */
	uint8_t order;	 /* BD_FREE: order of the free block starting here */
	uint16_t cls;	 /* BD_SLAB: size class (mirrors the slab header, cross-checked) */
	uint32_t npages; /* BD_RUN: pages in the run */
};

/** In-band node at the start of a free block. */
struct bd_free {
	struct bd_free *next;
	struct bd_free *prev;
	struct bd_zone *zone; /* so that allocation needs no zone lookup */
};

/** A region of memory (zone). Pages are [first_pfn, first_pfn + npages). */
struct bd_zone {
	struct bd_zone *next;
	uintptr_t base; /* the region as given, [base, end) */
	uintptr_t end;
	size_t first_pfn;
	size_t npages;
	struct bd_page *map; /* npages descriptors */
};

/** In-band header at the start of a slab page. */
struct bd_slab {
	uintptr_t magic; /* BD_SLAB_MAGIC ^ address of this header */
	struct bd_slab *next;
	struct bd_slab *prev;
	struct bd_obj *free; /* freed objects */
	uint16_t cls;
	uint16_t nobj;	 /* objects in this page */
	uint16_t nfree;	 /* free objects, never-used ones included */
	uint16_t bumped; /* objects [0, bumped) have been handed out at least once */
};

/** A freed small object. */
struct bd_obj {
	struct bd_obj *next;
	uintptr_t key; /* address of this object ^ BD_OBJ_KEY while free, 0 while used */
};

#define BD_SLAB_MAGIC ((uintptr_t)0x51ab5eedu)
#define BD_OBJ_KEY    ((uintptr_t)0xf4ee0b1eu)

/** Bytes at the start of a slab page reserved for its header. */
#define BD_SLAB_HDR ((sizeof(struct bd_slab) + 15) & ~(size_t)15)

/** Smallest size class and class granularity. */
#define BD_QUANTUM 16u

/** Upper bound on the number of size classes for this page size. */
#define BD_MAX_CLASSES (8 + 4 * (KA_CFG_PAGE_SHIFT - 7))

/** Largest slab order: a slab is at most 2^BD_SLAB_MAX_ORDER pages. */
#define BD_SLAB_MAX_ORDER 3u

/** The allocator: lives at the (aligned) start of the memory given to ka_buddy_init(). */
struct bd_state {
	struct ka_alloc head;
	struct bd_free *free[BD_NORDERS]; /* free blocks per order */
	size_t nonempty;		  /* bit k set iff free[k] is not empty */
	size_t free_pages;		  /* pages in all free blocks */
	struct bd_zone *zones;		  /* list, in the order added */
	size_t nzones;
	size_t total;	   /* bytes of all regions as given */
	size_t meta;	   /* state + zone descriptors + maps + padding before the pages */
	size_t slab_free;  /* bytes of free objects in slabs */
	size_t small_max;  /* largest size served by a slab */
	unsigned nclasses; /* classes in use: those with at least two objects per page */
	struct bd_slab *partial[BD_MAX_CLASSES];
	uint16_t nobj[BD_MAX_CLASSES];	/* objects per slab, per class */
	uint8_t sorder[BD_MAX_CLASSES]; /* log2 of the pages of a slab, per class */
};

/** Bytes of a slab of class c. */
static inline size_t bd_slab_bytes(const struct bd_state *b, unsigned c)
{
	return (size_t)KA_PAGE_SIZE << b->sorder[c];
}

/** Size in bytes of class `c`. */
static inline size_t bd_class_size(unsigned c)
{
	unsigned g;

	if (c < 8)
		return (size_t)BD_QUANTUM * (c + 1);
	g = (c - 8) >> 2;
	return ((size_t)128 << g) + (size_t)(((c - 8) & 3) + 1) * ((size_t)32 << g);
}

/** Smallest class whose size is >= s (1 <= s); may exceed the classes in use. */
static inline unsigned bd_class_of(size_t s)
{
	unsigned g;

	if (s <= 128)
		return (unsigned)((s + 15) >> 4) - 1;
	g = ka_fls(s - 1) - 7;
	return 8 + 4 * g + (unsigned)((s - 1 - ((size_t)128 << g)) >> (5 + g));
}

/** Smallest order k with 2^k >= n (n >= 1). */
static inline unsigned bd_order_of(size_t n)
{
	return n <= 1 ? 0 : ka_fls(n - 1) + 1;
}

/** Zone holding address p, or NULL. */
struct bd_zone *bd_zone_of(const struct bd_state *b, uintptr_t p);

/** The checker and walker (buddy_validate.c). */
unsigned bd_check(struct ka_alloc *a);
int bd_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg);

/** Address of page pfn / descriptor of page pfn in zone z. */
static inline void *bd_page_addr(size_t pfn)
{
	return (void *)((uintptr_t)pfn << KA_CFG_PAGE_SHIFT);
}

static inline struct bd_page *bd_desc(const struct bd_zone *z, size_t pfn)
{
	return &z->map[pfn - z->first_pfn];
}

/** Smallest region ka_buddy_init() accepts. */
#define BD_MIN_SIZE (sizeof(struct bd_state) + sizeof(struct bd_zone) + 4 * KA_PAGE_SIZE)

#endif /* KALLOC_BUDDY_PRIV_H */
