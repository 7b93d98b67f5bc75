/* SPDX-License-Identifier: MIT */
/*
 * The compact variant of the tiny backend (KA_CFG_TINY_COMPACT: the default when built for
 * size or in the minimal configuration): the least code that still merges free neighbours
 * at once and refuses a double free. tiny.c holds the binned variant (boundary tags and
 * segregated lists, O(1) free); exactly one of the two is compiled. Model and costs:
 * docs/backend-tiny.md. Entry point: ka_tiny_init().
 *
 * In-band encoding. Every block starts with one header word: its size in bytes (a multiple
 * of the unit KA_CFG_MIN_ALIGN, header included) plus TC_USED in bit 0 while it is
 * allocated. The header sits one word before a unit boundary, so payloads are aligned to
 * the unit. A free block keeps its size (bit 0 clear) and, in its second word, the next
 * free block: one singly linked list over all regions in address order, so that a block
 * being freed finds both neighbours while looking for its place, and no two free blocks are
 * ever adjacent (they are merged). The list starts at `anchor` in the state, which never
 * looks like a block ending at or after another one (TC_ANCHOR_HDR), so the walks need no
 * test for it.
 *
 *   first region:  | state | pad | block | ... | block | (less than a unit) |
 *   added region:  | struct tc_region | pad | block | ... | block | (less than a unit) |
 *   used:   | size | 1 |  payload ...               |
 *   free:   | size | 0 | next |  ...unused...        |
 *
 * Regions (not in the minimal configuration, which manages the one given to ka_tiny_init())
 * are kept in address order; a region starts with its record or the state, so blocks of two
 * regions are never adjacent and never merge. A pointer is checked against the regions'
 * blocks before any header is read. Statistics are kept by the generic layer (no counted
 * ops: usable_size gives it the block sizes), which costs this variant no code.
 */
#include "tiny_compact_priv.h"
#include "check.h"

#if KA_CFG_TINY_COMPACT

/* Smallest len ka_tiny_init() accepts: the state at any base alignment, the first header's
 * alignment and one block. */
#define TC_MIN_SIZE (_Alignof(struct tiny) - 1 + sizeof(struct tiny) + 2 * TC_UNIT)

/* The region whose blocks hold blk, or NULL: a test of addresses only, O(regions). */
static struct tc_region *region_of(struct tiny *t, uintptr_t blk)
{
	struct tc_region *r;

	for (r = TC_REGION_LIST(t); r; r = TC_REGION_NEXT(r))
		if (blk - r->first < r->span)
			break;
	return r;
}

/* Usable size of the live block at ptr (its size - TC_HDR); panics if ptr is outside the
 * regions' blocks (checked before anything is read), misaligned, not in use or its header
 * does not fit its region. tiny_free() starts with it too. */
static size_t tiny_usable_size(struct ka_alloc *a, const void *ptr)
{
	uintptr_t blk = (uintptr_t)ptr - TC_HDR;
	struct tc_region *r = region_of((struct tiny *)a, blk);
	size_t s;

	if (!r || ((uintptr_t)ptr & (TC_UNIT - 1)))
		ka_misuse(a, "pointer not from this heap", ptr);
	/* Bit 0 clear (not in use) becomes set here, so one test covers it and bad flags. */
	s = *(size_t *)blk ^ TC_USED;
	if ((s & (TC_UNIT - 1)) || s - 1 >= r->span - (blk - r->first))
		ka_misuse(a, "double free or corrupted block header", ptr);
	return s - TC_HDR;
}

static void *tiny_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	struct tiny *t = (struct tiny *)a;
	struct tc_free *prev = &t->anchor, *f, *nxt;
	uintptr_t blk, q;
	size_t r = (size + TC_HDR + TC_UNIT - 1) & ~(TC_UNIT - 1), need, bsize;

	/* An aligned payload lies within align - unit of a block's first payload byte. */
	if (ka_add_overflow(r, align - TC_UNIT, &need))
		return NULL;
	for (; (f = prev->next) != NULL; prev = f)
		if (f->hdr >= need)
			goto found;
	return NULL;
found:
	blk = (uintptr_t)f;
	bsize = f->hdr;
	nxt = f->next;
	q = ka_align_up(blk + TC_HDR, align) - TC_HDR;
	if (q != blk) {
		/* The leading gap stays on the list as the free block f. */
		f->hdr = q - blk;
		prev = f;
		bsize -= q - blk;
		blk = q;
	}
	if (bsize - r >= TC_UNIT) {
		struct tc_free *tail = (struct tc_free *)(blk + r);

		tail->hdr = bsize - r;
		tail->next = nxt;
		nxt = tail;
		bsize = r;
	}
	prev->next = nxt;
	*(size_t *)blk = bsize | TC_USED;
	return (void *)(blk + TC_HDR);
}

static void tiny_free(struct ka_alloc *a, void *ptr)
{
	struct tiny *t = (struct tiny *)a;
	size_t s = tiny_usable_size(a, ptr) + TC_HDR;
	struct tc_free *b = (struct tc_free *)((uintptr_t)ptr - TC_HDR), *prev = &t->anchor, *f;
	uintptr_t pe;

	while ((f = prev->next) != NULL && (uintptr_t)f < (uintptr_t)b)
		prev = f;
	pe = (uintptr_t)prev + prev->hdr;
	/* Inside the free block before it (a stale pointer into merged memory), or reaching
	 * into the free block after it. */
	if (pe > (uintptr_t)b || (uintptr_t)f - (uintptr_t)b < s)
		ka_misuse(a, "double free or corrupted block header", ptr);
	if ((uintptr_t)b + s == (uintptr_t)f) {
		s += f->hdr;
		f = f->next;
	}
	/* Written even when merged into prev: a second free of ptr then finds bit 0 clear. */
	b->hdr = s;
	b->next = f;
	if (pe == (uintptr_t)b) {
		prev->hdr += s;
		prev->next = f;
	} else {
		prev->next = b;
	}
}

static void tiny_info(struct ka_alloc *a, struct ka_info *out)
{
	struct tiny *t = (struct tiny *)a;
	struct tc_free *f;
	size_t best = 0, n;

	for (f = t->anchor.next; f; f = f->next) {
		n = f->hdr - TC_HDR;
		out->avail += n;
		if (n > best)
			best = n;
	}
	out->maxalloc = best;
	out->total = t->total;
	out->meta = sizeof(*t);
#if TC_REGIONS
	for (struct tc_region *r = t->regions; r; r = r->next)
		if (r != &t->r0)
			out->meta += sizeof(*r);
#endif
}

#if TC_REGIONS
/* The lowest byte of region r: its record, or for the first region the state. */
static uintptr_t region_lo(struct tiny *t, struct tc_region *r)
{
	return r == &t->r0 ? (uintptr_t)t : (uintptr_t)r;
}

/* Make the bytes from `data` to `end` region r, whose record nr lies at or above lo, and
 * hand its one block to the free list; the caller made sure it holds a unit. KA_EEXIST if
 * [lo, end) overlaps a region. O(R) for the overlap test and the place in the ordered region
 * list, O(F) for the place of the block, which tiny_free() finds (no merge: a region starts
 * with its record, so blocks of two regions are never adjacent). */
static int add_region(struct tiny *t, struct tc_region *nr, uintptr_t lo, uintptr_t data,
		      uintptr_t end)
{
	struct tc_region *r, **pp;
	uintptr_t first = ka_align_up(data + TC_HDR, TC_UNIT) - TC_HDR;

	/* The regions are ordered and disjoint: every one that starts below end must end at or
	 * below lo, and the new one goes before the first that starts at or above end. */
	for (pp = &t->regions; (r = *pp) != NULL && region_lo(t, r) < end; pp = &r->next)
		if (lo < r->first + r->span)
			return KA_EEXIST;
	nr->first = first;
	nr->span = (end - first) & ~(TC_UNIT - 1);
	nr->next = r;
	*pp = nr;
	*(size_t *)first = nr->span | TC_USED;
	tiny_free(&t->head, (void *)(first + TC_HDR));
	t->total += end - lo;
	return 0;
}

static int tiny_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base;
	struct tc_region *nr = (struct tc_region *)ka_align_up(b, _Alignof(struct tc_region));

	/* The record at any alignment, the first header's alignment and one block. */
	if (len < _Alignof(struct tc_region) - 1 + sizeof(*nr) + 2 * TC_UNIT || b + len < b)
		return KA_EINVAL;
	return add_region((struct tiny *)a, nr, b, (uintptr_t)(nr + 1), b + len);
}

/* True for an address in the blocks of a region (headers included), O(R). */
static bool tiny_owns(struct ka_alloc *a, const void *ptr)
{
	return region_of((struct tiny *)a, (uintptr_t)ptr) != NULL;
}
#endif

/* In tiny_compact_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h).
 * With KA_CFG_CHECK 0 the ops table names neither, and KA_CAP_WALK is not in the caps. */
KA_CHECKER_REF unsigned ka_tiny_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

/* The minimal configuration leaves out what only a bigger system needs: add_memory
 * (ka_add_memory() answers KA_ENOTSUP) and owns (ka_owns() answers false). */
#define TINY_CAPS                                                                                  \
	(KA_CAP_FREE | KA_CAP_ANYSIZE | (TC_REGIONS ? KA_CAP_ADDMEM | KA_CAP_OWNS : 0) |           \
	 (KA_CFG_CHECK ? KA_CAP_WALK : 0))

static const struct ka_alloc_ops tiny_ops = {
    .alloc = tiny_alloc,
    .free = tiny_free,
    .usable_size = tiny_usable_size,
#if TC_REGIONS
    .add_memory = tiny_add_memory,
    .owns = tiny_owns,
#endif
    .info = tiny_info,
#if KA_CFG_CHECK
    .check = ka_tiny_check_impl,
    .walk = ka_tiny_walk_impl,
#endif
    .caps = TINY_CAPS,
};

struct ka_alloc *ka_tiny_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base;
	struct tiny *t = (struct tiny *)ka_align_up(b, _Alignof(struct tiny));
#if !TC_REGIONS
	/* Address arithmetic, not t + 1: base may be NULL (refused below). */
	struct tc_free *f =
	    (struct tc_free *)(ka_align_up((uintptr_t)t + sizeof(*t) + TC_HDR, TC_UNIT) - TC_HDR);
#endif

	if (!base || len < TC_MIN_SIZE || b + len < b)
		return NULL;
#if TC_REGIONS
	/* The first region is made like the others: t is empty and the region cannot
	 * overlap. */
	t->anchor.hdr = TC_ANCHOR_HDR(t);
	t->anchor.next = NULL;
	t->regions = NULL;
	t->total = 0;
	ka_alloc_init(&t->head, &tiny_ops, "tiny");
	add_region(t, &t->r0, b, (uintptr_t)(t + 1), b + len);
#else
	t->r0.first = (uintptr_t)f;
	t->r0.span = f->hdr = (b + len - (uintptr_t)f) & ~(TC_UNIT - 1);
	f->next = NULL;
	t->anchor.hdr = TC_ANCHOR_HDR(t);
	t->anchor.next = f;
	t->total = len;
	/* Last, so that only t lives across the call. */
	ka_alloc_init(&t->head, &tiny_ops, "tiny");
#endif
	return &t->head;
}

const struct ka_backend ka_backend_tiny = {
    .name = "tiny",
    .desc = "coalescing address-ordered first fit, compact variant",
    .caps = TINY_CAPS,
    .init = ka_tiny_init,
    .min_size = TC_MIN_SIZE,
};

#endif /* KA_CFG_TINY_COMPACT */
