/* SPDX-License-Identifier: MIT */
/*
 * The tiny backend: boundary-tag blocks with one header word, immediate merging of free
 * neighbours, and 32 segregated free lists (16 exact small sizes, then power-of-two classes)
 * found through one bitmap word. Written for the smallest code and control data among the
 * general-purpose backends; the in-band encoding is described in tiny_priv.h and the model,
 * costs and measured size in docs/backend-tiny.md. Entry point: ka_tiny_init().
 */
#include "kalloc/tiny.h"
#include "tiny_priv.h"
#include "check.h"
#include "kstring.h"

#if !KA_CFG_TINY_COMPACT

/* Smallest len ka_tiny_init() accepts: region head, state, the first header's alignment, one
 * minimum block (whose last word slot holds the fence), and TINY_UNIT - 1 bytes for rounding
 * up a base of any alignment (tiny.h promises that any base works at this length). */
#define TINY_MIN_SIZE                                                                              \
	(((sizeof(struct tiny_region) + sizeof(struct tiny) + TINY_HDR + TINY_UNIT - 1) &          \
	  ~(TINY_UNIT - 1)) +                                                                      \
	 TINY_MINBLK + TINY_UNIT - 1)

/* The allocation and free paths are one function each at -O2 (no calls between their
 * parts: about 40 instructions per operation less on the slot benchmarks) and shared
 * helpers at -Os, where code size comes first. */
#ifdef __OPTIMIZE_SIZE__
#define TINY_HOT
#else
#define TINY_HOT __attribute__((always_inline))
#endif

/* Write a free block's header and footer and push it on its list. Its predecessor is used
 * (free neighbours are always merged first), so TINY_PFREE is clear. The free byte count
 * `avail` is left to the caller, as in unlink_free(): an allocation or a free links and
 * unlinks up to three blocks and updates it once for all of them. */
static inline TINY_HOT void link_free(struct tiny *t, uintptr_t blk, size_t size)
{
	struct tiny_free *f = (struct tiny_free *)blk;
	unsigned b = tiny_bin(size);

	f->hdr = size;
	*ftrp(blk, size) = size;
	f->prev = NULL;
	f->next = t->bins[b];
	/* The class's bit is set already when its list has a block. */
	if (f->next)
		f->next->prev = f;
	else
		t->bitmap |= (size_t)1 << b;
	t->bins[b] = f;
}

/* The first region: its head sits right before the state (ka_tiny_init()). */
static inline struct tiny_region *region0(struct tiny *t)
{
	return (struct tiny_region *)(void *)t - 1;
}

#define TINY_SHIFT ((unsigned)__builtin_ctz((unsigned)TINY_UNIT))

/* True if blk is a header position in the first region, tested inline at -O2; at -Os, where
 * code size comes first, always false, so that callers walk the region list instead. */
static inline TINY_HOT bool in_region0_fast(struct tiny *t, uintptr_t blk)
{
#ifdef __OPTIMIZE_SIZE__
	(void)t;
	(void)blk;
	return false;
#else
	return ka_aligned_index_below(blk - region0(t)->first, TINY_SHIFT, t->units0);
#endif
}

/* A header position in any region (the slow path of node_ok(): not the first region). */
static bool in_some_region(struct tiny *t, uintptr_t blk)
{
	struct tiny_region *r = region_of(t, blk);

	return r && ((blk + TINY_HDR) & (TINY_UNIT - 1)) == 0;
}

/* A free-list link may be followed only if it points at a block header inside a region: a
 * write after free or an overflow into a free block overwrites links with anything. Most
 * heaps have one region, so the first is tested inline. */
static inline TINY_HOT bool node_ok(struct tiny *t, const struct tiny_free *x)
{
	return in_region0_fast(t, (uintptr_t)x) || in_some_region(t, (uintptr_t)x);
}

static inline TINY_HOT struct tiny_free *next_checked(struct tiny *t, const struct tiny_free *f)
{
	if (f->next && !node_ok(t, f->next))
		ka_misuse(&t->head, "free list corrupted (write after free?)", f);
	return f->next;
}

/* Take a free block of `size` bytes off its list; the caller has read the size from its
 * header and checked that it is at least TINY_MINBLK (a header overwritten by an overflow
 * may claim a size no block has, whose class would index past the lists). The links are
 * checked first: a write through a dangling pointer into a free block usually breaks them,
 * and unlinking through them would turn that into a write anywhere. */
static inline TINY_HOT void unlink_free(struct tiny *t, struct tiny_free *f, size_t size)
{
	struct tiny_free *n = f->next, *p = f->prev, **pn;
	unsigned b = 0;

	if ((p && !node_ok(t, p)) || (n && !node_ok(t, n)))
		ka_misuse(&t->head, "free list corrupted (write after free?)", f);
	/* The class is needed only when f heads its list. */
	if (p) {
		pn = &p->next;
	} else {
		b = tiny_bin(size);
		pn = &t->bins[b];
	}
	if (*pn != f || (n && n->prev != f))
		ka_misuse(&t->head, "free list corrupted (write after free?)", f);
	*pn = n;
	if (n)
		n->prev = p;
	else if (!p)
		t->bitmap &= ~((size_t)1 << b);
}

/* unlink_free() of f, the head of list b. */
static inline TINY_HOT void pop_head(struct tiny *t, struct tiny_free *f, unsigned b)
{
#ifdef __OPTIMIZE_SIZE__
	/* The same checks and effect in less code. */
	(void)b;
	unlink_free(t, f, tiny_size(f->hdr));
#else
	struct tiny_free *n = f->next;

	if (f->prev || (n && (!node_ok(t, n) || n->prev != f)))
		ka_misuse(&t->head, "free list corrupted (write after free?)", f);
	t->bins[b] = n;
	if (n)
		n->prev = NULL;
	else
		t->bitmap &= ~((size_t)1 << b);
#endif
}

/* alloc_sized; alloc is this with the size dropped. */
static inline TINY_HOT void *alloc_body(struct ka_alloc *a, size_t size, size_t align,
					size_t *usable)
{
	struct tiny *t = (struct tiny *)a;
	struct tiny_free *f;
	uintptr_t blk, p, q;
	size_t r, need, bsize, above, pfree = 0;
	unsigned b;

	/* size <= SIZE_MAX / 2 (alloc_impl.h), so this cannot wrap. */
	r = (size + TINY_HDR + TINY_UNIT - 1) & ~(TINY_UNIT - 1);
	if (r < TINY_MINBLK)
		r = TINY_MINBLK;
	need = r;
	/* An aligned payload lies within align + MINBLK of any block start, leaving either no
	 * gap or a gap that is a valid free block. */
	if (align > TINY_UNIT && ka_add_overflow(r, align + TINY_MINBLK, &need))
		return NULL;
	b = tiny_bin(need);
	/* The head of the request's class (always fits in an exact class), else the head of
	 * the lowest larger class (always fits), else first fit in the request's class, so
	 * that a request fails only when no free block can hold it. */
	f = t->bins[b];
	if (f && (bsize = tiny_size(f->hdr)) >= need)
		goto head;
	above = t->bitmap >> b >> 1;
	if (above) {
		b += 1 + ka_ffs(above);
		f = t->bins[b];
		bsize = tiny_size(f->hdr);
		if (bsize < need)
			ka_misuse(&t->head, "free list corrupted (write after free?)", f);
		goto head;
	}
	for (; f; f = next_checked(t, f))
		if ((bsize = tiny_size(f->hdr)) >= need) {
			unlink_free(t, f, bsize);
			goto found;
		}
	return NULL;
head:
	pop_head(t, f, b);
found:
	blk = (uintptr_t)f;
	p = blk + TINY_HDR;
	/* Payloads are aligned to the unit: only a larger alignment can leave a gap (and the
	 * test lets the unit-aligned copy of this body drop the gap code). */
	q = align > TINY_UNIT ? ka_align_up(p, align) : p;
	if (q != p) {
		while (q - p < TINY_MINBLK)
			q += align;
		link_free(t, blk, q - p);
		bsize -= q - p;
		blk = q - TINY_HDR;
		pfree = TINY_PFREE;
		/* The gap keeps its bytes but for its new header. */
		t->avail -= TINY_HDR;
	}
	/* avail drops by what the caller gets, and by the header of a split-off tail. */
	if (bsize - r >= TINY_MINBLK) {
		/* The tail's successor already has TINY_PFREE: it followed a free block. */
		link_free(t, blk + r, bsize - r);
		bsize = r;
		t->avail -= r;
	} else {
		*hdrp(blk + bsize) &= ~TINY_PFREE;
		t->avail -= bsize - TINY_HDR;
	}
	*hdrp(blk) = bsize | TINY_USED | pfree;
	*usable = bsize - TINY_HDR;
	return (void *)(blk + TINY_HDR);
}

static void *tiny_alloc_sized(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	return alloc_body(a, size, align, usable);
}

/* tiny_alloc_sized() with a body of its own for the unit alignment, which ka_malloc() asks
 * for (no alignment-gap code); at -Os the one body serves both. */
static inline TINY_HOT void *alloc_split_align(struct ka_alloc *a, size_t size, size_t align,
					       size_t *usable)
{
#ifndef __OPTIMIZE_SIZE__
	if (align <= TINY_UNIT)
		return alloc_body(a, size, TINY_UNIT, usable);
#endif
	return tiny_alloc_sized(a, size, align, usable);
}

static void *tiny_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n;

	return alloc_split_align(a, size, align, &n);
}

/* The block of a pointer the caller claims is live, after the cheap checks: inside a
 * region, aligned like a payload, used bit set, size within the region, and the next
 * block's TINY_PFREE clear. Panics otherwise. */
static inline TINY_HOT uintptr_t used_block(struct tiny *t, const void *ptr,
					    struct tiny_region **rp)
{
	uintptr_t blk = (uintptr_t)ptr - TINY_HDR;
	struct tiny_region *r = region0(t);
	size_t h, s;

	if (!in_region0_fast(t, blk)) {
		r = region_of(t, blk);
		if (!r || ((uintptr_t)ptr & (TINY_UNIT - 1)))
			ka_misuse(&t->head, "pointer not from this heap", ptr);
	}
	h = *hdrp(blk);
	if (!(h & TINY_USED))
		ka_misuse(&t->head, "double free (block is not in use)", ptr);
	s = tiny_size(h);
	if (s < TINY_MINBLK || s > r->fence - blk || (*hdrp(blk + s) & TINY_PFREE))
		ka_misuse(&t->head, "corrupted block header", ptr);
	*rp = r;
	return blk;
}

/* Free and merge; with `counted`, the statistics count the block as soon as its header and
 * its predecessor's check out, so that its usable size holds no register across the
 * merging (a check failing after that panics: ka_misuse() does not return). */
static inline TINY_HOT void free_body(struct ka_alloc *a, void *ptr, bool counted)
{
	struct tiny *t = (struct tiny *)a;
	struct tiny_region *r;
	uintptr_t blk = used_block(t, ptr, &r), pb = 0;
	size_t h = *hdrp(blk), size = tiny_size(h), nh, ps = 0;

	if (h & TINY_PFREE) {
		ps = *hdrp(blk - TINY_HDR);
		pb = blk - ps;
		if (ps < TINY_MINBLK || ps > blk - r->first || *hdrp(pb) != ps)
			ka_misuse(&t->head, "corrupted header of the previous free block", ptr);
		/* The block is merged away below: clear its used bit all the same, so that a
		 * second free of the same pointer finds a free header (link_free() writes the
		 * header of a block that is not merged away). */
		*hdrp(blk) = h & ~TINY_USED;
	}
	if (counted)
		ka_stats_free_done(a, size - TINY_HDR);
	/* avail grows by the usable bytes and by each header merged away. */
	size_t gain = size - TINY_HDR;
	nh = *hdrp(blk + size);
	if (!(nh & TINY_USED)) {
		struct tiny_free *next = (struct tiny_free *)(blk + size);

		if (tiny_size(nh) < TINY_MINBLK)
			ka_misuse(&t->head, "free list corrupted (write after free?)", next);
		unlink_free(t, next, tiny_size(nh));
		size += tiny_size(nh);
		gain += TINY_HDR;
	}
	if (ps) {
		unlink_free(t, (struct tiny_free *)pb, ps);
		blk = pb;
		size += ps;
		gain += TINY_HDR;
	}
	link_free(t, blk, size);
	t->avail += gain;
	*hdrp(blk + size) |= TINY_PFREE;
}

#ifdef __OPTIMIZE_SIZE__
/* free_body() in one copy at -Os, where code size comes first. */
static void tiny_free_shared(struct ka_alloc *a, void *ptr, bool counted)
{
	free_body(a, ptr, counted);
}
#endif

/* The entries the generic layer calls when it keeps statistics: the sized ones, counted. */
static void *tiny_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n = 0; /* read only if p is not NULL */
	void *p = alloc_split_align(a, size, align, &n);

	return ka_stats_alloc_done(a, p, size, n);
}

static void tiny_free_counted(struct ka_alloc *a, void *ptr)
{
#ifdef __OPTIMIZE_SIZE__
	tiny_free_shared(a, ptr, true);
#else
	free_body(a, ptr, true);
#endif
}

static void tiny_free(struct ka_alloc *a, void *ptr)
{
#ifdef __OPTIMIZE_SIZE__
	tiny_free_shared(a, ptr, false);
#else
	free_body(a, ptr, false);
#endif
}

static size_t tiny_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct tiny_region *r;

	return tiny_size(*hdrp(used_block((struct tiny *)a, ptr, &r))) - TINY_HDR;
}

/* Lay out a region: its head at `rh`, blocks from `data` up to `end`, one free block
 * between them and the fence. False if that leaves less than a minimum block. */
static bool make_region(struct tiny *t, uintptr_t rh, uintptr_t data, uintptr_t end)
{
	struct tiny_region *r = (struct tiny_region *)rh;
	uintptr_t first, fence;

	if (end <= data || end - data < TINY_HDR + TINY_UNIT)
		return false;
	first = ka_align_up(data + TINY_HDR, TINY_UNIT) - TINY_HDR;
	fence = ka_align_down(end, TINY_UNIT) - TINY_HDR;
	if (fence <= first || fence - first < TINY_MINBLK)
		return false;
	r->first = first;
	r->fence = fence;
	r->next = t->regions;
	t->regions = r;
	link_free(t, first, fence - first);
	t->avail += fence - first - TINY_HDR;
	*hdrp(fence) = TINY_USED | TINY_PFREE;
	return true;
}

static int tiny_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct tiny *t = (struct tiny *)a;
	uintptr_t b = (uintptr_t)base, end = b + len, rh;
	struct tiny_region *r;

	if (len < sizeof(struct tiny_region) + 2 * TINY_UNIT)
		return KA_EINVAL;
	for (r = t->regions; r; r = r->next)
		if (b < r->fence + TINY_HDR && (uintptr_t)r < end)
			return KA_EEXIST;
	rh = ka_align_up(b, TINY_UNIT);
	if (!make_region(t, rh, rh + sizeof(struct tiny_region), end))
		return KA_EINVAL;
	t->total += len;
	return 0;
}

#define TINY_INFO_LOOK 8

static void tiny_info(struct ka_alloc *a, struct ka_info *out)
{
	struct tiny *t = (struct tiny *)a;
	struct tiny_region *r;
	struct tiny_free *f;
	size_t best = TINY_HDR;

	/* Classes are ordered, so the largest block is in the highest non-empty class. Only its
	 * first TINY_INFO_LOOK blocks are looked at: info runs after every operation under the
	 * global allocator (its free-byte counter), and a walk of a long list there made a
	 * program that frees a million small blocks quadratic. Exact while the class holds at
	 * most that many blocks; else a size that surely fits. */
	if (t->bitmap) {
		unsigned look = TINY_INFO_LOOK;

		for (f = t->bins[ka_fls(t->bitmap)]; f && look--; f = f->next)
			if (tiny_size(f->hdr) > best)
				best = tiny_size(f->hdr);
	}
	out->total = t->total;
	out->avail = t->avail;
	out->maxalloc = best - TINY_HDR;
	out->meta = sizeof(*t);
	for (r = t->regions; r; r = r->next)
		out->meta += sizeof(*r) + TINY_HDR;
}

static bool tiny_owns(struct ka_alloc *a, const void *ptr)
{
	struct tiny_region *r;
	uintptr_t p = (uintptr_t)ptr;

	for (r = ((struct tiny *)a)->regions; r; r = r->next)
		if (p >= (uintptr_t)r && p < r->fence + TINY_HDR)
			return true;
	return false;
}

/* In tiny_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). With
 * KA_CFG_CHECK 0 the ops table names neither, and KA_CAP_WALK is not in the caps. */
KA_CHECKER_REF unsigned ka_tiny_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#define TINY_CAPS                                                                                  \
	(KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_OWNS |                              \
	 (KA_CFG_CHECK ? KA_CAP_WALK : 0))

static const struct ka_alloc_ops tiny_ops = {
    .alloc = tiny_alloc,
    .alloc_counted = tiny_alloc_counted,
    .free = tiny_free,
    .free_counted = tiny_free_counted,
    .usable_size = tiny_usable_size,
    .add_memory = tiny_add_memory,
    .info = tiny_info,
#if KA_CFG_CHECK
    .check = ka_tiny_check_impl,
    .walk = ka_tiny_walk_impl,
#endif
    .owns = tiny_owns,
    .caps = TINY_CAPS,
};

struct ka_alloc *ka_tiny_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base, rh;
	struct tiny *t;

	if (!base || len < TINY_MIN_SIZE || b + len < b)
		return NULL;
	rh = ka_align_up(b, TINY_UNIT);
	t = (struct tiny *)(rh + sizeof(struct tiny_region));
	memset(t, 0, sizeof(*t));
	ka_alloc_init(&t->head, &tiny_ops, "tiny");
	t->total = len;
	if (!make_region(t, rh, (uintptr_t)(t + 1), b + len))
		return NULL;
#ifndef __OPTIMIZE_SIZE__
	t->units0 = (t->regions->fence - t->regions->first) >> TINY_SHIFT;
#endif
	return &t->head;
}

const struct ka_backend ka_backend_tiny = {
    .name = "tiny",
    .desc = "coalescing segregated first fit, smallest code and control data",
    .caps = TINY_CAPS,
    .init = ka_tiny_init,
    .min_size = TINY_MIN_SIZE,
};

#endif /* !KA_CFG_TINY_COMPACT */
