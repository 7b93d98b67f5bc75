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
 * ever adjacent (they are merged). The list starts at `anchor` in the state, below every
 * block, with size 0: it never looks like a block ending at or after another one, so the
 * walks need no test for it.
 *
 *   heap:   | state | pad | block | ... | block | (less than a unit) |
 *   used:   | size | 1 |  payload ...               |
 *   free:   | size | 0 | next |  ...unused...        |
 *
 * The compact variant manages the one region given to ka_tiny_init() (no add_memory): a
 * pointer is checked against [first, end) before any header is read.
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

struct tiny {
	struct ka_alloc head;
	struct tc_free anchor; /**< anchor.next: lowest free block */
	uintptr_t first;       /**< the first block */
	size_t span;	       /**< bytes from first to the end of the last block */
	size_t total;
};

/* Smallest len ka_tiny_init() accepts: the state at any base alignment, the first header's
 * alignment and one block. */
#define TC_MIN_SIZE (_Alignof(struct tiny) - 1 + sizeof(struct tiny) + 2 * TC_UNIT)

/* Usable size of the live block at ptr (its size - TC_HDR); panics if ptr is outside the
 * heap's blocks (checked before anything is read), misaligned, not in use or its header
 * does not fit the heap. tiny_free() starts with it too. */
static size_t tiny_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct tiny *t = (struct tiny *)a;
	uintptr_t blk = (uintptr_t)ptr - TC_HDR;
	size_t s;

	if (blk - t->first >= t->span || ((uintptr_t)ptr & (TC_UNIT - 1)))
		ka_misuse(a, "pointer not from this heap", ptr);
	/* Bit 0 clear (not in use) becomes set here, so one test covers it and bad flags. */
	s = *(size_t *)blk ^ TC_USED;
	if ((s & (TC_UNIT - 1)) || s - 1 >= t->span - (blk - t->first))
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
	size_t best = TC_HDR;

	for (f = t->anchor.next; f; f = f->next) {
		out->avail += f->hdr - TC_HDR;
		if (f->hdr > best)
			best = f->hdr;
	}
	out->maxalloc = best - TC_HDR;
	out->total = t->total;
	out->meta = sizeof(*t);
}

/* One region and nothing that only a bigger system needs: no add_memory (ka_add_memory()
 * answers KA_ENOTSUP), no owns (ka_owns() answers false), no checker or walker. */
#define TINY_CAPS (KA_CAP_FREE | KA_CAP_ANYSIZE)

static const struct ka_alloc_ops tiny_ops = {
    .alloc = tiny_alloc,
    .free = tiny_free,
    .usable_size = tiny_usable_size,
    .info = tiny_info,
    .caps = TINY_CAPS,
};

struct ka_alloc *ka_tiny_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base;
	struct tiny *t = (struct tiny *)ka_align_up(b, _Alignof(struct tiny));
	/* Address arithmetic, not t + 1: base may be NULL (refused below). */
	struct tc_free *f =
	    (struct tc_free *)(ka_align_up((uintptr_t)t + sizeof(*t) + TC_HDR, TC_UNIT) - TC_HDR);

	if (!base || len < TC_MIN_SIZE || b + len < b)
		return NULL;
	t->first = (uintptr_t)f;
	t->span = f->hdr = (b + len - (uintptr_t)f) & ~(TC_UNIT - 1);
	f->next = NULL;
	t->anchor.hdr = 0;
	t->anchor.next = f;
	t->total = len;
	/* Last, so that only t lives across the call. */
	ka_alloc_init(&t->head, &tiny_ops, "tiny");
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
