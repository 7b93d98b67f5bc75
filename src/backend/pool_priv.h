/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the pool backend (src/backend/pool.c), shared with its white-box tests
 * (tests/unit/test_pool.c). docs/backend-pool.md explains the model.
 *
 * In-band encoding. The first region is laid out as
 *     [struct ka_pool_state (holds the first area descriptor)] [bitmap] [pad] [objects]
 * and each region given to ka_add_memory() as
 *     [struct ka_pool_area] [bitmap] [pad] [objects]
 * where the descriptor starts at the region rounded up to KA_CFG_MIN_ALIGN, the bitmap has
 * one bit per object (set = live) in size_t words, and the objects start at the next
 * multiple of the object alignment. Object i of an area is at start + i * osz.
 * A free object that was handed out before holds the address of the next free object in its
 * first word (the LIFO free list, shared by all areas); objects at or above an area's bump
 * index were never handed out and hold nothing.
 */
#ifndef KALLOC_POOL_PRIV_H
#define KALLOC_POOL_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/pool.h"

#define KA_POOL_WBITS (sizeof(size_t) * 8)
#if SIZE_MAX > 0xffffffffu
#define KA_POOL_WSHIFT 6
#else
#define KA_POOL_WSHIFT 5
#endif

/** One object area (one region). */
struct ka_pool_area {
	uintptr_t region_lo; /* the whole region, descriptor included */
	uintptr_t region_hi;
	uintptr_t start;	   /* first object */
	uintptr_t end;		   /* start + nobj * osz */
	size_t nobj;		   /* objects in the area */
	size_t bump;		   /* objects below were handed out at least once */
	struct ka_pool_area *next; /* areas in the order they were added */
	size_t *map;		   /* allocation bitmap, (nobj + WBITS - 1) / WBITS words */
};

/** The pool's state, at the start of the first region. */
struct ka_pool_state {
	struct ka_alloc head;
	size_t osz;	/* effective object size */
	size_t align;	/* effective object alignment */
	unsigned shift; /* log2(osz) when osz is a power of two, else 0 */
	void *free;	/* LIFO list of objects given back */
	size_t nfree;	/* free objects: on the list + never handed out */
	size_t ntotal;	/* objects in all areas */
	size_t nareas;
	struct ka_pool_area *bump_area; /* first area with never-used objects, or NULL */
	struct ka_pool_area *last;	/* last area, for appending */
	struct ka_pool_area first;	/* the area of the first region */
};

static inline struct ka_pool_state *st_of(struct ka_alloc *a)
{
	return (struct ka_pool_state *)a;
}

/* The area holding p, or NULL. */
static inline struct ka_pool_area *area_of(struct ka_pool_state *st, uintptr_t p)
{
	for (struct ka_pool_area *ar = &st->first; ar; ar = ar->next)
		if (p >= ar->start && p < ar->end)
			return ar;
	return NULL;
}

static inline size_t obj_index(const struct ka_pool_state *st, const struct ka_pool_area *ar,
			       uintptr_t p)
{
	size_t off = p - ar->start;

	return st->shift ? off >> st->shift : off / st->osz;
}

/* Whether object i of the area is handed out (its bit in the map). */
static inline bool live(const struct ka_pool_area *ar, size_t i)
{
	return (ar->map[i >> KA_POOL_WSHIFT] >> (i & (KA_POOL_WBITS - 1))) & 1;
}

/** The checker and walker (pool_validate.c), named weakly by the ops table. */
unsigned ka_pool_check_impl(struct ka_alloc *a);
int ka_pool_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_POOL_PRIV_H */
