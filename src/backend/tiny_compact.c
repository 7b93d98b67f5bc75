/* SPDX-License-Identifier: MIT */
/*
 * The compact variant of the tiny backend (KA_CFG_TINY_COMPACT, on in the minimal
 * configuration): the least code that still merges free neighbours at once and refuses a
 * double free, for firmware that links one small heap. tiny.c holds the default variant
 * (boundary tags and segregated lists, O(1) free); exactly one of the two is compiled.
 * Model and costs: docs/backend-tiny.md. Entry point: ka_tiny_init().
 *
 * In-band encoding. Every block starts with one header word: its size in bytes (a multiple
 * of the unit KA_CFG_MIN_ALIGN, header included) plus TC_USED in bit 0 while it is
 * allocated. The header sits one word before a unit boundary, so payloads are aligned to
 * the unit. A free block keeps its size (bit 0 clear) and, in its second word, the next
 * free block: one singly linked list over all regions in address order, so that a block
 * being freed finds both neighbours while looking for its place, and no two free blocks are
 * ever adjacent (they are merged). The list starts at `anchor`, whose size is minus its own
 * address: anchor + size wraps to 0, so the anchor never looks like a block ending at or
 * after another one and the walks need no NULL test for it.
 *
 *   region: | [state, first region only] | region head | pad | block | ... | block |
 *   used:   | size | 1 |  payload ...               |
 *   free:   | size | 0 | next |  ...unused...        |
 *
 * A region head holds the next region and the end of its last block; a pointer is looked
 * up in the region list before any header is read.
 */
#include "kalloc/tiny.h"
#include "kalloc/alloc_impl.h"

#if KA_CFG_TINY_COMPACT

#define TC_HDR	sizeof(size_t)
#define TC_UNIT ((size_t)KA_CFG_MIN_ALIGN)
#define TC_USED ((size_t)1)

_Static_assert((TC_UNIT & (TC_UNIT - 1)) == 0, "KA_CFG_MIN_ALIGN must be a power of two");
/* One unit holds a free block's header and link, so every gap of a unit or more (an
 * alignment gap, a split-off tail) is a valid free block. */
_Static_assert(TC_HDR + sizeof(void *) <= TC_UNIT,
	       "the compact tiny needs KA_CFG_MIN_ALIGN >= 2 words");

struct tc_free {
	size_t hdr;
	struct tc_free *next;
};

struct tc_region {
	struct tc_region *next;
	uintptr_t end; /**< end of the region's last block */
};

struct tiny {
	struct ka_alloc head;
	struct tc_free anchor; /**< anchor.next: lowest free block */
	struct tc_region *regions;
	size_t total;
};

/* Smallest len ka_tiny_init() accepts: the state at any base alignment, then what
 * add_region() needs. */
#define TC_REGION_MIN (sizeof(struct tc_region) + sizeof(void *) + 2 * TC_UNIT)
#define TC_MIN_SIZE   (_Alignof(struct tiny) - 1 + sizeof(struct tiny) + TC_REGION_MIN)

/* The region whose blocks span x, or NULL. */
static struct tc_region *region_of(const struct tiny *t, uintptr_t x)
{
	struct tc_region *r = t->regions;

	while (r && x - (uintptr_t)(r + 1) >= r->end - (uintptr_t)(r + 1))
		r = r->next;
	return r;
}

/* Size of the live block at ptr, after the checks that need no list walk; panics if ptr is
 * outside every region (before reading anything), misaligned, not in use or its header
 * does not fit its region. */
static size_t block_size(struct tiny *t, const void *ptr)
{
	uintptr_t blk = (uintptr_t)ptr - TC_HDR;
	struct tc_region *r = region_of(t, blk);
	size_t s;

	if (!r || ((uintptr_t)ptr & (TC_UNIT - 1)))
		ka_misuse(&t->head, "pointer not from this heap", ptr);
	s = *(size_t *)blk;
	if (!(s & TC_USED))
		ka_misuse(&t->head, "double free (block is not in use)", ptr);
	s -= TC_USED;
	if ((s & (TC_UNIT - 1)) || s - 1 >= r->end - blk)
		ka_misuse(&t->head, "corrupted block header", ptr);
	return s;
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
	size_t s = block_size(t, ptr);
	struct tc_free *b = (struct tc_free *)((uintptr_t)ptr - TC_HDR), *prev = &t->anchor, *f;
	uintptr_t pe;

	while ((f = prev->next) != NULL && (uintptr_t)f < (uintptr_t)b)
		prev = f;
	pe = (uintptr_t)prev + prev->hdr;
	/* Inside the free block before it (a stale pointer into merged memory), or reaching
	 * into the free block after it. */
	if (pe > (uintptr_t)b || (uintptr_t)f - (uintptr_t)b < s)
		ka_misuse(a, "double free (block is not in use)", ptr);
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

static size_t tiny_usable_size(struct ka_alloc *a, const void *ptr)
{
	return block_size((struct tiny *)a, ptr) - TC_HDR;
}

static bool tiny_owns(struct ka_alloc *a, const void *ptr)
{
	return region_of((struct tiny *)a, (uintptr_t)ptr) != NULL;
}

/* Put a region head at b (rounded up) and its memory up to end on the free list through
 * tiny_free(), which merges nothing (regions never touch) but places it in order. */
static bool add_region(struct tiny *t, uintptr_t b, uintptr_t end)
{
	struct tc_region *r = (struct tc_region *)ka_align_up(b, _Alignof(struct tc_region));
	uintptr_t first = ka_align_up((uintptr_t)(r + 1) + TC_HDR, TC_UNIT) - TC_HDR;
	size_t n;

	if (end - b < TC_REGION_MIN)
		return false;
	n = (end - first) & ~(TC_UNIT - 1);
	r->end = first + n;
	r->next = t->regions;
	t->regions = r;
	*(size_t *)first = n | TC_USED;
	tiny_free(&t->head, (void *)(first + TC_HDR));
	return true;
}

static int tiny_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct tiny *t = (struct tiny *)a;
	uintptr_t b = (uintptr_t)base, end = b + len;
	struct tc_region *r;

	/* The first region (last on the list) starts at the state, just below its head. */
	for (r = t->regions; r; r = r->next)
		if (b < r->end && end > (r->next ? (uintptr_t)r : (uintptr_t)t))
			return KA_EEXIST;
	if (!add_region(t, b, end))
		return KA_EINVAL;
	t->total += len;
	return 0;
}

static void tiny_info(struct ka_alloc *a, struct ka_info *out)
{
	struct tiny *t = (struct tiny *)a;
	struct tc_region *r;
	struct tc_free *f;
	size_t best = TC_HDR;

	for (f = t->anchor.next; f; f = f->next) {
		out->avail += f->hdr - TC_HDR;
		if (f->hdr > best)
			best = f->hdr;
	}
	out->maxalloc = best - TC_HDR;
	out->total = t->total;
	out->meta = sizeof(*t);
	for (r = t->regions; r; r = r->next)
		out->meta += sizeof(*r);
}

#define TINY_CAPS (KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_OWNS)

static const struct ka_alloc_ops tiny_ops = {
    .alloc = tiny_alloc,
    .free = tiny_free,
    .usable_size = tiny_usable_size,
    .add_memory = tiny_add_memory,
    .info = tiny_info,
    .owns = tiny_owns,
    .caps = TINY_CAPS,
};

struct ka_alloc *ka_tiny_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base;
	struct tiny *t = (struct tiny *)ka_align_up(b, _Alignof(struct tiny));

	if (!base || len < TC_MIN_SIZE || b + len < b)
		return NULL;
	ka_alloc_init(&t->head, &tiny_ops, "tiny");
	t->anchor.hdr = 0 - (uintptr_t)&t->anchor;
	t->anchor.next = NULL;
	t->regions = NULL;
	t->total = len;
	add_region(t, (uintptr_t)(t + 1), b + len);
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
