/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the compact variant of the tiny backend (src/backend/tiny_compact.c),
 * shared with its checker and walker (tiny_compact_validate.c) and its white-box tests
 * (tests/unit/test_tiny_compact.c). The encoding is described in tiny_compact.c.
 */
#ifndef KALLOC_TINY_COMPACT_PRIV_H
#define KALLOC_TINY_COMPACT_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/tiny.h"

#define TC_HDR	sizeof(size_t)
#define TC_UNIT ((size_t)KA_CFG_MIN_ALIGN)
#define TC_USED ((size_t)1)

/* Several regions (ka_add_memory()) outside the minimal configuration, which keeps the one
 * region given to ka_tiny_init() (config.h). */
#define TC_REGIONS (!KA_CFG_MINIMAL)

_Static_assert((TC_UNIT & (TC_UNIT - 1)) == 0, "KA_CFG_MIN_ALIGN must be a power of two");
/* One unit holds a free block's header and link, so every gap of a unit or more (an
 * alignment gap, a split-off tail) is a valid free block. */
_Static_assert(TC_HDR + sizeof(void *) <= TC_UNIT,
	       "the compact tiny needs KA_CFG_MIN_ALIGN >= 2 words");

struct tc_free {
	size_t hdr;
	struct tc_free *next;
};

/* The blocks of one region: [first, first + span). */
struct tc_region {
	uintptr_t first; /**< the first block */
	size_t span;	 /**< bytes from first to the end of the last block */
#if TC_REGIONS
	struct tc_region *next; /**< the next region up in address order */
#endif
};

struct tiny {
	struct ka_alloc head;
	struct tc_free anchor; /**< anchor.next: lowest free block */
	struct tc_region r0;   /**< the region of ka_tiny_init() */
#if TC_REGIONS
	struct tc_region *regions; /**< every region, lowest first */
#endif
	size_t total;
};

/* anchor.hdr: the anchor must never look like a block ending at or after another one, so
 * that tiny_free() needs no test for it. With one region the state lies below every block
 * and size 0 does; a region added below the state needs the anchor to "end" at address 0. */
#if TC_REGIONS
#define TC_ANCHOR_HDR(t)  ((size_t)0 - (uintptr_t) & (t)->anchor)
#define TC_REGION_LIST(t) ((t)->regions)
#define TC_REGION_NEXT(r) ((r)->next)
#else
#define TC_ANCHOR_HDR(t)  ((size_t)0)
#define TC_REGION_LIST(t) (&(t)->r0)
#define TC_REGION_NEXT(r) ((struct tc_region *)NULL)
#endif

/** The checker and walker (tiny_compact_validate.c), named weakly by the ops table. Same
 * names as the default variant's: exactly one variant is built. */
unsigned ka_tiny_check_impl(struct ka_alloc *a);
int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_TINY_COMPACT_PRIV_H */
