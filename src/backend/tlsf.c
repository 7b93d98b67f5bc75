/* SPDX-License-Identifier: MIT */
/*
 * TLSF backend: Two-Level Segregated Fit (Masmano et al., 2004), in the style of
 * mattconte/tlsf, with an always-valid prev_phys link so that free() can verify its argument
 * in O(1). Entry point: ka_tlsf_init(); registry entry: ka_backend_tlsf. The block format and
 * the invariants are written down in tlsf_priv.h; the checker lives in tlsf_validate.c.
 *
 * Every operation on the hot path (alloc, free, realloc, usable_size) is straight-line code
 * plus a bounded number of list splices: no loop depends on the heap size, the number of
 * blocks or the number of pools.
 */
#include "tlsf_priv.h"
#include "kstring.h"
#include "check.h"

/*
 * Instruction count is what the hot path is written for (docs/backend-tlsf.md, "Speed"):
 * plain branches where they skip work (an empty list, a list that stays non-empty, a block of
 * exactly the right size), every step inline into alloc and free in speed builds, the rare
 * paths (merging, aligned allocation, the exact-list fallback, every misuse report) out of line.
 * Size builds (-Os) let the compiler share the steps instead, and alloc() calls alloc_sized().
 */
#if defined(__GNUC__) || defined(__clang__)
#define TLSF_OUTLINE static __attribute__((noinline))
#ifdef __OPTIMIZE_SIZE__
#define TLSF_HOT       static inline
#define TLSF_OUTLINE_O TLSF_HOT /* out of line for speed only */
#else
#define TLSF_HOT       static inline __attribute__((always_inline))
#define TLSF_OUTLINE_O TLSF_OUTLINE
#endif
#define TLSF_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* x as a value the compiler cannot see through: a size added to several counters is then
 * computed once and added in memory, not folded into a load, an add and a store each. */
#define TLSF_OPAQUE(x) __asm__("" : "+r"(x))
/* A misuse report the fast paths reach as a tail call ("return report(...)"): not declared
 * noreturn and kept from being found noreturn (noipa), so that the caller needs no stack
 * frame for it. It never returns all the same (ka_misuse() panics). */
#if defined(__has_attribute) && !defined(__clang__)
#if __has_attribute(noipa)
#define TLSF_REPORT static __attribute__((noinline, noipa, cold))
#endif
#endif
#ifndef TLSF_REPORT
#define TLSF_REPORT static __attribute__((noinline, cold))
#endif
#else
#define TLSF_HOT	 static inline
#define TLSF_OUTLINE	 static
#define TLSF_OUTLINE_O	 static
#define TLSF_UNLIKELY(x) (x)
#define TLSF_OPAQUE(x)	 ((void)(x))
#define TLSF_REPORT	 static
#endif

/*
 * The minimal configuration (KA_CFG_MINIMAL) manages the one region given to ka_tlsf_init():
 * no add_memory (ka_add_memory() returns KA_ENOTSUP), so the hull [blo, top] has no gaps and
 * no pool list is ever searched. The checks on free stay the same.
 */
#define TLSF_ONE_POOL KA_CFG_MINIMAL

/* ---- misuse reports (cold) ---------------------------------------------------------------- */

static noreturn void bad_links(const struct ka_tlsf *t, const struct tlsf_block *b)
{
	ka_misuse(&t->base, "corrupted free list (use after free?)", tlsf_payload(b));
}

/*
 * With several pools the hull [blo, top] has gaps (memory between regions that is not the
 * heap's, possibly unmapped): a header must lie inside one pool and its stride end at or
 * below that pool's sentinel, found by walking the pool list (O(pools)) before anything is
 * read. Out of line: a one-pool heap pays one compare.
 */
TLSF_OUTLINE bool in_one_pool(const struct ka_tlsf *t, const struct tlsf_block *b)
{
	for (const struct tlsf_pool *p = t->pools; p; p = p->next)
		if ((uintptr_t)b >= p->start && (uintptr_t)b < (uintptr_t)p->sentinel) {
			size_t s = b->size & ~(TLSF_ALIGN - 1);

			return s <= (uintptr_t)p->sentinel - (uintptr_t)b;
		}
	return false;
}

/*
 * Name the misuse of a pointer that failed the checks of free_impl() or live_size(): outside
 * the heap (nothing around it is read then); a header with the free bit and a plausible stride
 * is a block freed before (possibly since merged into its neighbour, whose header no longer
 * points back at it); any other header was overwritten or never existed (interior or forged
 * pointer). Returns nothing: the size_t return type only lets free_impl() tail-call it.
 */
TLSF_REPORT size_t bad_pointer(const struct ka_tlsf *t, const void *ptr)
{
	uintptr_t b = (uintptr_t)tlsf_from_payload(ptr);
	size_t sz, s;

	if (!KA_CFG_REPORT) /* one fixed message: no need to tell the cases apart */
		ka_misuse(&t->base, "", ptr);
	if (!tlsf_in_heap(t, (const void *)b))
		ka_misuse(&t->base, "pointer not from this heap (foreign or misaligned)", ptr);
	if (!TLSF_ONE_POOL && t->npools > 1 && !in_one_pool(t, (const struct tlsf_block *)b))
		ka_misuse(&t->base, "pointer not from this heap (between its regions)", ptr);
	sz = ((const struct tlsf_block *)b)->size;
	s = sz & ~TLSF_FLAGS;
	if ((sz & TLSF_FREE) && s >= TLSF_MIN_STRIDE && (s & (TLSF_ALIGN - 1)) == 0 &&
	    s <= t->hi - b)
		ka_misuse(&t->base, "double free (block is already free)", ptr);
	ka_misuse(&t->base, "corrupted block header or interior pointer", ptr);
}

#ifndef __OPTIMIZE_SIZE__
/* bad_links() for a tail call from the allocation fast path. */
TLSF_REPORT void *bad_links_alloc(const struct ka_tlsf *t, const struct tlsf_block *b)
{
	bad_links(t, b);
}
#endif

/* ---- free lists ---------------------------------------------------------------------------- */

#ifdef __OPTIMIZE_SIZE__
#define TLSF_AVAIL(stmt)    ((void)0)
#define TLSF_AVAIL_IN_LISTS 1
#else
#define TLSF_AVAIL(stmt)    (stmt)
#define TLSF_AVAIL_IN_LISTS 0
#endif

/*
 * Free-byte accounting (t->avail, invariant I6): speed builds do it once per operation, as the
 * net change of that operation (TLSF_AVAIL() statements); size builds here instead, where a
 * block joins or leaves a list, which is one body for every operation (TLSF_AVAIL() is then
 * empty).
 *
 * Links are NULL-terminated. A push onto a non-empty list leaves both bitmaps alone (their bits
 * are already set, I5); only a push onto an empty list sets them, and only a pop that empties
 * a list clears them.
 */
#ifdef __OPTIMIZE_SIZE__
/*
 * List i just became non-empty or empty: flip its bit, and its row's bit when the row was or
 * is now empty (I5). One body for both directions in size builds.
 */
TLSF_OUTLINE void list_flip(struct ka_tlsf *t, size_t i)
{
	size_t fl = i >> TLSF_SL_LOG2;
	tlsf_slmap_t w = t->sl_bitmap[fl], nw = w ^ ((tlsf_slmap_t)1 << (i & (TLSF_SL_COUNT - 1)));

	t->sl_bitmap[fl] = nw;
	if (!w || !nw)
		t->fl_bitmap ^= (size_t)1 << fl;
}
#define list_emptied list_flip
#else
/* List i just became non-empty: set its bit and its row's. */
TLSF_HOT void list_flip(struct ka_tlsf *t, size_t i)
{
	t->sl_bitmap[i >> TLSF_SL_LOG2] |= (uint32_t)1 << (i & (TLSF_SL_COUNT - 1));
	t->fl_bitmap |= (size_t)1 << (i >> TLSF_SL_LOG2);
}

/* List i just became empty: clear its bit, and its row's bit if the row is empty now. */
TLSF_HOT void list_emptied(struct ka_tlsf *t, size_t i)
{
	size_t fl = i >> TLSF_SL_LOG2;

	if (!(t->sl_bitmap[fl] &= ~((uint32_t)1 << (i & (TLSF_SL_COUNT - 1)))))
		t->fl_bitmap &= ~((size_t)1 << fl);
}
#endif

TLSF_HOT void insert_free(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	size_t i = tlsf_index(stride);
	struct tlsf_block **hp = &t->heads[i], *h = *hp;

	if (TLSF_AVAIL_IN_LISTS)
		t->avail += stride - TLSF_HDR;
	b->next_free = h;
	b->prev_free = NULL;
	*hp = b;
	if (h) {
		h->prev_free = b;
	} else {
		list_flip(t, i);
	}
}

/*
 * Unlink free block b (of this stride) from wherever it is on its list. Links overwritten
 * after a free (use after free) are refused before they are written through: each must be a
 * block address inside the heap or NULL, and a block without a predecessor must be its list's
 * head. The links' targets are NOT read back (no glibc-style "does next->prev point at me"
 * check): on a large heap each such read is a cache miss on the critical path (see
 * docs/backend-tlsf.md for the measured cost), and a forged in-heap link is left to the checker.
 * Only the head case needs the list's index.
 */
TLSF_HOT void unlink_free(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	struct tlsf_block *prev = b->prev_free, *next = b->next_free;

	if (TLSF_AVAIL_IN_LISTS)
		t->avail -= stride - TLSF_HDR;
	if (TLSF_UNLIKELY(next && !tlsf_in_heap(t, next)))
		bad_links(t, b);
	if (next)
		next->prev_free = prev;
	if (prev) {
		if (TLSF_UNLIKELY(!tlsf_in_heap(t, prev)))
			bad_links(t, b);
		prev->next_free = next;
	} else {
		size_t i = tlsf_index(stride);
		struct tlsf_block **hp = &t->heads[i];

		if (TLSF_UNLIKELY(*hp != b))
			bad_links(t, b);
		*hp = next;
		if (!next)
			list_emptied(t, i);
	}
}

/* No list: the value good_fit() and exact_fit() return when they find nothing. */
#define TLSF_NONE (~(size_t)0)

/*
 * Index of the first non-empty list at or above tlsf_index_up(stride), whose head (like every
 * block there) has at least `stride` bytes: at most two find-first-set operations. TLSF_NONE
 * when every such list is empty.
 */
TLSF_HOT size_t good_fit(const struct ka_tlsf *t, size_t stride)
{
	size_t i = tlsf_index_up(stride), fl = i >> TLSF_SL_LOG2;
	tlsf_slmap_t slmap = t->sl_bitmap[fl] & (~(tlsf_slmap_t)0 << (i & (TLSF_SL_COUNT - 1)));
	size_t flmap;

#ifndef __OPTIMIZE_SIZE__
	/* Speed builds return from here: the common case then has nothing to join. */
	if (slmap)
		return (fl << TLSF_SL_LOG2) + tlsf_ffs32(slmap);
#endif
	if (!slmap) {
		/* fl + 1 < TLSF_FL_COUNT <= bits of size_t: the shift is defined. */
		flmap = t->fl_bitmap & (~(size_t)1 << fl);
		if (!flmap)
			return TLSF_NONE;
		fl = tlsf_ffs(flmap);
		slmap = t->sl_bitmap[fl];
	}
	return (fl << TLSF_SL_LOG2) + tlsf_ffs32(slmap);
}

/*
 * Only when good_fit() finds nothing: the head of the request's own list may still fit (one
 * comparison, no list walk). That second look makes every request up to the size info()
 * reports as maxalloc succeed. The list's index, or TLSF_NONE.
 */
static size_t exact_fit(const struct ka_tlsf *t, size_t stride)
{
	size_t i = tlsf_index(stride);
	const struct tlsf_block *b = t->heads[i];

	return b && tlsf_stride(b) >= stride ? i : TLSF_NONE;
}

/* Unlink and return the head of the non-empty list i. */
TLSF_HOT struct tlsf_block *pop_head(struct ka_tlsf *t, size_t i)
{
	struct tlsf_block *b = t->heads[i], *next = b->next_free;

	if (TLSF_UNLIKELY(b->prev_free != NULL))
		bad_links(t, b);
#ifdef __OPTIMIZE_SIZE__
	/* The least code: the general unlink, whose list (from b's stride) must have b at its
	 * head, so a corrupted stride is refused too. */
	(void)next;
	(void)i;
	unlink_free(t, b, tlsf_stride(b));
#else
	t->heads[i] = next;
	if (next) {
		if (TLSF_UNLIKELY(!tlsf_in_heap(t, next)))
			bad_links(t, b);
		next->prev_free = NULL;
	} else {
		list_emptied(t, i);
	}
#endif
	return b;
}

/*
 * The statistics at the allocation's end, where the block's size is known: req is the request
 * to count (alloc_counted), 0 for none (alloc). Passed down rather than returned, so that the
 * allocation's steps stay tail calls and the counted entry needs no stack frame either.
 */
TLSF_HOT void count_alloc(struct ka_tlsf *t, size_t req, size_t usable)
{
#if KA_CFG_STATS
	if (req)
		ka_count_alloc(&t->base.ctr, req, usable);
#else
	(void)t;
	(void)req;
	(void)usable;
#endif
}

/* A failed allocation: counted for alloc_counted (req != 0). */
static void *alloc_failed(struct ka_tlsf *t, size_t req)
{
#if KA_CFG_STATS
	if (req)
		t->base.stats.nb_enomem++;
#else
	(void)t;
	(void)req;
#endif
	return NULL;
}

/*
 * Give the tail of the unlinked free block b (stride bs) beyond `stride` back to the free
 * lists and hand b out: the allocation's end when the block is larger than needed by at least
 * a minimum block. Out of line (a tail call from the fast path), so that the exact-fit path,
 * the common one in a steady workload, needs no stack frame. The caller has counted the
 * allocation: the counted entry then tests nothing here.
 */
TLSF_OUTLINE_O void *split_alloc(struct ka_tlsf *t, struct tlsf_block *b, size_t stride, size_t bs)
{
	struct tlsf_block *r = (struct tlsf_block *)((uintptr_t)b + stride);

	r->prev_phys = b;
	r->size = (bs - stride) | TLSF_FREE;
	((struct tlsf_block *)((uintptr_t)b + bs))->prev_phys = r; /* keeps TLSF_PREV_FREE */
	b->size = stride;
	insert_free(t, r, bs - stride);
	TLSF_AVAIL(t->avail -= stride); /* bs - HDR left the lists, bs - stride - HDR came back */
	return tlsf_payload(b);
}

/*
 * Hand out the unlinked free block b for a block of `stride` bytes: a remainder large enough
 * for a block goes back to the free lists (split_alloc()), a smaller one stays attached. b's
 * predecessor is used (I3), so its TLSF_PREV_FREE is clear; its successor is used too, so the
 * remainder never needs merging.
 */
TLSF_HOT void *use_block(struct ka_tlsf *t, struct tlsf_block *b, size_t stride, size_t req)
{
	size_t bs = tlsf_stride(b), usable;

	KA_ASSERT(bs >= stride);
#ifdef __OPTIMIZE_SIZE__
	/* Size builds count once, after either way (split_alloc() is inline there). */
	if (bs - stride >= TLSF_MIN_STRIDE) {
		(void)split_alloc(t, b, stride, bs);
		usable = stride - TLSF_HDR;
	} else {
		b->size = bs;
		((struct tlsf_block *)((uintptr_t)b + bs))->size &= ~TLSF_PREV_FREE;
		usable = bs - TLSF_HDR;
	}
#else
	if (bs - stride >= TLSF_MIN_STRIDE) {
		count_alloc(t, req, stride - TLSF_HDR);
		return split_alloc(t, b, stride, bs);
	}
	b->size = bs;
	((struct tlsf_block *)((uintptr_t)b + bs))->size &= ~TLSF_PREV_FREE;
	usable = bs - TLSF_HDR;
	TLSF_OPAQUE(usable);
	TLSF_AVAIL(t->avail -= usable);
#endif
	count_alloc(t, req, usable);
	return tlsf_payload(b);
}

/* A free block of at least `stride` bytes, unlinked, or NULL. */
TLSF_HOT struct tlsf_block *take_block(struct ka_tlsf *t, size_t stride)
{
	size_t i = good_fit(t, stride);

	if (i == TLSF_NONE && (i = exact_fit(t, stride)) == TLSF_NONE)
		return NULL;
	return pop_head(t, i);
}

#ifndef __OPTIMIZE_SIZE__
/* The allocation when good_fit() found nothing (a tail call from the fast path). */
TLSF_OUTLINE void *alloc_exact(struct ka_tlsf *t, size_t stride, size_t req)
{
	size_t i = exact_fit(t, stride);

	if (i == TLSF_NONE)
		return alloc_failed(t, req);
	return use_block(t, pop_head(t, i), stride, req);
}
#endif

/* ---- pointer validation ------------------------------------------------------------------- */

/*
 * The O(1) misuse checks shared by free, usable_size and realloc; false when ptr is not a
 * live block of this heap. The pointer is tested against the heap's hull before anything is
 * read: its header must be aligned like one and lie in [blo, top]. Then the header's size word
 * sz must have TLSF_FREE clear and no stray low bits, a stride of at least a minimum block that
 * ends at or below the highest sentinel, and the next block's always-valid prev_phys must point
 * back at b. An interior or forged pointer would need all of these to hold by chance.
 * header_ok() is the second half, for a b already known to lie inside one pool.
 */
TLSF_HOT bool header_ok(const struct ka_tlsf *t, const struct tlsf_block *b, size_t *szp)
{
	size_t sz = b->size, s = sz & ~TLSF_PREV_FREE;

	*szp = sz;
	/* b <= top, so top - b cannot wrap; s < TLSF_MIN_STRIDE wraps s - TLSF_MIN_STRIDE. */
	return !(sz & (TLSF_ALIGN - 1) & ~TLSF_PREV_FREE) &&
	       s - TLSF_MIN_STRIDE <= t->top - (uintptr_t)b &&
	       ((const struct tlsf_block *)((uintptr_t)b + s))->prev_phys == b;
}

/* The address checks (hull, then the pools of a heap with several), then header_ok(). */
TLSF_HOT bool is_live(const struct ka_tlsf *t, const struct tlsf_block *b, size_t *szp)
{
	if (TLSF_UNLIKELY(!tlsf_in_heap(t, b)) ||
	    TLSF_UNLIKELY(!TLSF_ONE_POOL && t->npools > 1 && !in_one_pool(t, b))) {
		*szp = 0;
		return false;
	}
	return header_ok(t, b, szp);
}

/* is_live() for the slower entries (and every free in size builds): the block's size word,
 * or a misuse report. */
static size_t live_size(struct ka_tlsf *t, const void *ptr)
{
	size_t sz;

	if (!is_live(t, tlsf_from_payload(ptr), &sz))
		bad_pointer(t, ptr);
	return sz;
}

/*
 * Check the free block n before merging with it: its size word must be a plausible stride with
 * TLSF_FREE and nothing else (its predecessor, being merged, is not free), and the block after
 * it must point back. Returns n's stride.
 */
TLSF_HOT size_t free_next(struct ka_tlsf *t, const struct tlsf_block *n)
{
	size_t sz = n->size, s = sz - TLSF_FREE;

	if (TLSF_UNLIKELY((sz & (TLSF_ALIGN - 1)) != TLSF_FREE ||
			  s - TLSF_MIN_STRIDE > t->top - (uintptr_t)n ||
			  ((struct tlsf_block *)((uintptr_t)n + s))->prev_phys != n))
		ka_misuse(&t->base, "corrupted header of a free neighbour", tlsf_payload(n));
	return s;
}

/* ---- operations -------------------------------------------------------------------------- */

/*
 * Any allocation, of any alignment: the aligned one's path, and in size builds (-Os) every
 * allocation's, so that one body serves both. With align <= TLSF_ALIGN every payload already
 * is aligned: no gap, and the block needs only `stride`.
 */
TLSF_OUTLINE void *alloc_aligned(struct ka_tlsf *t, size_t stride, size_t align, size_t req)
{
	size_t need = stride;
	uintptr_t p;
	struct tlsf_block *b;

	/*
	 * The payload must move up to an align boundary; the leading gap becomes a free block, so
	 * it is either 0 or at least TLSF_MIN_STRIDE. The worst gap is below align +
	 * TLSF_MIN_STRIDE, so a block of stride + align + TLSF_MIN_STRIDE always suffices.
	 */
	if (align > TLSF_ALIGN &&
	    (ka_add_overflow(stride, align, &need) ||
	     ka_add_overflow(need, TLSF_MIN_STRIDE, &need) || need > TLSF_MAX_STRIDE))
		return alloc_failed(t, req);
	b = take_block(t, need);
	if (!b)
		return alloc_failed(t, req);
	p = (uintptr_t)tlsf_payload(b);
	/* p is TLSF_ALIGN-aligned: only a stricter alignment can leave a gap, and then the first
	 * boundary at least a minimum block above p is the one the gap's free block allows. */
	if (p & (align - 1)) {
		size_t gap = ka_align_up(p + TLSF_MIN_STRIDE, align) - p;
		struct tlsf_block *nb = (struct tlsf_block *)((uintptr_t)b + gap);
		void *r;

		/* b's predecessor is used (b was free, I3): the gap stays a lone free block. */
		nb->prev_phys = b;
		nb->size = tlsf_stride(b) - gap;
		tlsf_next(nb)->prev_phys = nb;
		b->size = gap | TLSF_FREE;
		insert_free(t, b, gap);
		/* One free block became two (gap and nb, which use_block() accounts for as the
		 * block it takes): one more header. */
		TLSF_AVAIL(t->avail -= TLSF_HDR);
		r = use_block(t, nb, stride, req);
		nb->size |= TLSF_PREV_FREE; /* the gap before it is free */
		return r;
	}
	return use_block(t, b, stride, req);
}

/*
 * Shared by alloc (req 0) and alloc_counted (req: size, counted). No size
 * check: the generic layer passes 1 <= size <= SIZE_MAX / 2 (alloc_impl.h), whose stride
 * (TLSF_MAX_STRIDE + TLSF_ALIGN at most) neither overflows nor leaves the list index's range;
 * no block is that large, so such a request fails in the search.
 */
TLSF_HOT void *alloc_impl(struct ka_alloc *a, size_t size, size_t align, size_t req)
{
	struct ka_tlsf *t = tlsf_of(a);
	size_t stride = tlsf_stride_for(size);

	KA_ASSERT(size <= SIZE_MAX / 2);
#ifdef __OPTIMIZE_SIZE__
	return alloc_aligned(t, stride, align, req);
#else
	struct tlsf_block *b, *next;
	size_t i;

	if (TLSF_UNLIKELY(align > TLSF_ALIGN))
		return alloc_aligned(t, stride, align, req);
	i = good_fit(t, stride);
	if (TLSF_UNLIKELY(i == TLSF_NONE))
		return alloc_exact(t, stride, req);
	/* pop_head(), with its reports as tail calls */
	b = t->heads[i];
	next = b->next_free;
	if (TLSF_UNLIKELY(b->prev_free != NULL))
		return bad_links_alloc(t, b);
	t->heads[i] = next;
	if (next) {
		if (TLSF_UNLIKELY(!tlsf_in_heap(t, next)))
			return bad_links_alloc(t, b);
		next->prev_free = NULL;
	} else {
		list_emptied(t, i);
	}
	return use_block(t, b, stride, req);
#endif
}

/*
 * Without statistics (KA_CFG_STATS 0) the generic layer never calls the counted entries: they
 * are left out. The allocation is one body for both entries; the counted one passes its size.
 */
#define TLSF_SIZED KA_CFG_STATS
#if TLSF_SIZED
static void *tlsf_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	/* size >= 1 (alloc_impl.h): said so, the inline steps count without testing req. */
	if (size == 0)
		__builtin_unreachable();
	return alloc_impl(a, size, align, size);
}
#endif

static void *tlsf_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	return alloc_impl(a, size, align, 0);
}

/* The statistics at the free's end, as count_alloc(): counted for free_counted. */
TLSF_HOT void count_free(struct ka_tlsf *t, bool counted, size_t usable)
{
#if KA_CFG_STATS
	if (counted)
		ka_count_free(&t->base.ctr, usable);
#else
	(void)t;
	(void)counted;
	(void)usable;
#endif
}

/*
 * free() with at least one free neighbour (or any free, in size builds): merge, then insert.
 * Out of line so that the common case (both neighbours in use) stays short. b's header
 * already has TLSF_FREE set, and the caller has counted b's usable bytes into avail and the
 * statistics: what is left here is a header per merge, so that few values stay live and the
 * merge needs no stack frame. Returns b's usable size.
 */
TLSF_OUTLINE_O size_t free_merge(struct ka_tlsf *t, struct tlsf_block *b, size_t sz,
				 struct tlsf_block *next)
{
	size_t s = sz & ~TLSF_FLAGS, usable = s - TLSF_HDR;

	if (sz & TLSF_PREV_FREE) {
		struct tlsf_block *prev = b->prev_phys;
		size_t ps = (uintptr_t)b - (uintptr_t)prev;

		/* prev must be a block address in [blo, b) before it is read, and be a free
		 * block (predecessor used) that ends exactly at b. */
		if (TLSF_UNLIKELY(!tlsf_in_heap(t, prev) || prev >= b ||
				  prev->size != (ps | TLSF_FREE)))
			ka_misuse(&t->base, "corrupted header of the previous block",
				  tlsf_payload(b));
		unlink_free(t, prev, ps);
		s += ps;
		TLSF_AVAIL(t->avail += TLSF_HDR);
		b = prev;
	}
	if (next->size & TLSF_FREE) {
		size_t ns = free_next(t, next);

		unlink_free(t, next, ns);
		s += ns;
		TLSF_AVAIL(t->avail += TLSF_HDR);
		next = (struct tlsf_block *)((uintptr_t)next + ns);
	} else {
		next->size |= TLSF_PREV_FREE;
	}
	next->prev_phys = b;
	b->size = s | TLSF_FREE;
	insert_free(t, b, s);
	return usable;
}

/*
 * Speed builds walk the pool list of a heap with several pools out of line, as a tail call to
 * free_pools(): the call to in_one_pool() would otherwise cost every free a stack frame.
 */
#if !TLSF_ONE_POOL && !defined(__OPTIMIZE_SIZE__)
#define TLSF_FREE_POOLS 1
#else
#define TLSF_FREE_POOLS 0
#endif
#if TLSF_FREE_POOLS
TLSF_OUTLINE size_t free_pools(struct ka_alloc *a, void *ptr, bool counted);
#endif

/*
 * Shared by free and free_counted (counted): returns the usable size the block had. pools:
 * whether a heap with several pools still needs the pool check (false from free_pools()).
 */
TLSF_HOT size_t free_impl(struct ka_alloc *a, void *ptr, bool counted, bool pools)
{
	struct ka_tlsf *t = tlsf_of(a);
	struct tlsf_block *b = tlsf_from_payload(ptr), *next;
	size_t sz, s, nsz, usable;

#if TLSF_FREE_POOLS
	if (TLSF_UNLIKELY(!tlsf_in_heap(t, b)))
		return bad_pointer(t, ptr);
	if (pools && TLSF_UNLIKELY(t->npools > 1))
		return free_pools(a, ptr, counted);
	if (TLSF_UNLIKELY(!header_ok(t, b, &sz)))
		return bad_pointer(t, ptr);
#elif defined(__OPTIMIZE_SIZE__)
	(void)pools;
	sz = live_size(t, ptr);
#else
	(void)pools;
	if (TLSF_UNLIKELY(!is_live(t, b, &sz)))
		return bad_pointer(t, ptr);
#endif
	s = sz & ~TLSF_PREV_FREE; /* TLSF_FREE is clear */
	next = (struct tlsf_block *)((uintptr_t)b + s);
	nsz = next->size;
	/* Mark it free at once: a header left behind inside a merged block then still reads as
	 * free, so a second free of the same pointer is reported as a double free. */
	b->size = sz | TLSF_FREE;
	/* b's bytes, merged or not; free_merge() adds the headers merging frees. */
	usable = s - TLSF_HDR;
	TLSF_OPAQUE(usable);
	TLSF_AVAIL(t->avail += usable);
	count_free(t, counted, usable);
#ifdef __OPTIMIZE_SIZE__
	/* free_merge() handles neighbours in use too: one body in size builds. */
	(void)nsz;
	return free_merge(t, b, sz, next);
#endif
	if (sz & TLSF_PREV_FREE)
		return free_merge(t, b, sz, next);
	if (nsz & TLSF_FREE)
		return free_merge(t, b, sz, next);
	next->size = nsz | TLSF_PREV_FREE;
	insert_free(t, b, s);
	return usable;
}

#if TLSF_FREE_POOLS
/* free_impl() on a heap with several pools: b must lie inside one of them. */
TLSF_OUTLINE size_t free_pools(struct ka_alloc *a, void *ptr, bool counted)
{
	if (!in_one_pool(tlsf_of(a), tlsf_from_payload(ptr)))
		return bad_pointer(tlsf_of(a), ptr);
	return free_impl(a, ptr, counted, false);
}
#endif

#if TLSF_SIZED
static void tlsf_free_counted(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr, true, true);
}
#endif

static void tlsf_free(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr, false, true);
}

static size_t tlsf_usable_size(struct ka_alloc *a, const void *ptr)
{
	return (live_size(tlsf_of(a), ptr) & ~TLSF_FLAGS) - TLSF_HDR;
}

/*
 * Native realloc (in place where the next block allows). The minimal configuration leaves it
 * out: the generic layer's fallback (keep the block if it fits, else alloc, copy, free) serves
 * ka_realloc() there, at the cost of moving where this code would grow in place.
 */
#define TLSF_REALLOC (!KA_CFG_MINIMAL)
#if TLSF_REALLOC
/*
 * Give the tail of used block b beyond `stride` back to the free lists, merged with the next
 * block if that one is free: the tail becomes a used block of its own, which is then freed
 * like any other (b, its predecessor, is in use). Nothing happens when the tail is too small
 * for a block.
 */
static void trim_used(struct ka_alloc *a, struct tlsf_block *b, size_t stride)
{
	size_t bs = tlsf_stride(b), rs = bs - stride;
	struct tlsf_block *r = (struct tlsf_block *)((uintptr_t)b + stride);

	if (rs < TLSF_MIN_STRIDE)
		return;
	b->size = stride | (b->size & TLSF_PREV_FREE);
	r->prev_phys = b;
	r->size = rs;
	tlsf_next(r)->prev_phys = r;
	tlsf_free(a, tlsf_payload(r));
}

static void *tlsf_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct ka_tlsf *t = tlsf_of(a);
	size_t sz = live_size(t, ptr), cur, need;
	struct tlsf_block *b = tlsf_from_payload(ptr), *next;
	void *n;

	if (size > TLSF_MAX_STRIDE - TLSF_HDR)
		return NULL;
	need = tlsf_stride_for(size);
	cur = sz & ~TLSF_FLAGS;
	next = (struct tlsf_block *)((uintptr_t)b + cur);
	if (need <= cur) {
		trim_used(a, b, need);
		return ptr;
	}
	if ((next->size & TLSF_FREE) && tlsf_stride(next) >= need - cur) {
		/* Grow in place: b and the free next block together are handed out as an
		 * allocation of `need` bytes from one free block of cur + ns bytes would be
		 * (use_block(): the excess goes back, and the block after next is in use, I3).
		 * Of that block only next's usable bytes were counted as free: count b's too
		 * first. The block after next points back at b already when use_block() keeps
		 * it whole. Keep b's TLSF_PREV_FREE, which use_block() clears. */
		size_t ns = free_next(t, next);

		unlink_free(t, next, ns);
		((struct tlsf_block *)((uintptr_t)next + ns))->prev_phys = b;
		b->size = cur + ns;
		TLSF_AVAIL(t->avail += cur);
		(void)use_block(t, b, need, 0);
		b->size |= sz & TLSF_PREV_FREE;
		return ptr;
	}
	n = tlsf_alloc(a, size, TLSF_ALIGN);
	if (!n)
		return NULL;
	memcpy(n, ptr, cur - TLSF_HDR);
	tlsf_free(a, ptr);
	return n;
}

#endif /* TLSF_REALLOC */

/*
 * Lay out a pool in [start, end): pool header, one free block, sentinel. `raw` is the start of
 * the caller's region (it differs from start for the init pool, which follows the control
 * structure). Returns 0 or KA_EINVAL when the region cannot hold a minimum block.
 */
static int add_pool(struct ka_tlsf *t, uintptr_t raw, uintptr_t start, uintptr_t end)
{
	const size_t ph = sizeof(struct tlsf_pool);
	uintptr_t first, sent, lim;
	struct tlsf_pool *pool;
	struct tlsf_block *b, *s;

	/* init's region always holds a minimum block (its len check): only add_memory's can fail.
	 */
	if (!TLSF_ONE_POOL && (start > end || start > UINTPTR_MAX - (ph + TLSF_HDR + TLSF_ALIGN)))
		return KA_EINVAL;
	/* The first payload is aligned; the pool header sits right before the first header. */
	first = ka_align_up(start + ph + TLSF_HDR, TLSF_ALIGN) - TLSF_HDR;
	lim = ka_align_down(end, TLSF_ALIGN);
	if (!TLSF_ONE_POOL && (lim <= first || lim - first < TLSF_HDR + TLSF_MIN_STRIDE))
		return KA_EINVAL;
	sent = lim - TLSF_HDR;
	if (sent - first > TLSF_MAX_STRIDE)
		sent = first + TLSF_MAX_STRIDE;

	pool = (struct tlsf_pool *)(first - ph);
	pool->next = NULL;
	pool->start = raw;
	pool->end = end;
	pool->sentinel = (struct tlsf_block *)sent;
	if (TLSF_ONE_POOL) {
		t->pools = pool;
		t->npools = 1;
	} else {
		*t->pool_tail = pool;
		t->pool_tail = &pool->next;
		t->npools++;
	}

	b = (struct tlsf_block *)first;
	s = (struct tlsf_block *)sent;
	b->prev_phys = NULL;
	b->size = (sent - first) | TLSF_FREE;
	s->prev_phys = b;
	s->size = TLSF_PREV_FREE;
	if (TLSF_ONE_POOL) {
		/* The only pool, in init's zeroed state: the figures are set, not widened or
		 * added to. */
		TLSF_AVAIL(t->avail = sent - first - TLSF_HDR);
		t->blo = first;
		t->hi = sent;
		t->total = end - raw;
		t->meta = (end - raw) - (sent - first - TLSF_HDR);
	} else {
		TLSF_AVAIL(t->avail += sent - first - TLSF_HDR);
		if (first < t->blo)
			t->blo = first;
		if (sent > t->hi)
			t->hi = sent;
		t->total += end - raw;
		t->meta += (end - raw) - (sent - first - TLSF_HDR);
	}
	t->top = t->hi - TLSF_MIN_STRIDE;
	t->units = ((t->top - t->blo) >> TLSF_ALIGN_LOG2) + 1;
	/* Last, so that nothing computed above has to survive the call. */
	insert_free(t, b, sent - first);
	return 0;
}

#if !TLSF_ONE_POOL
static int tlsf_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct ka_tlsf *t = tlsf_of(a);
	uintptr_t start = (uintptr_t)base, end;

	if (len < TLSF_MIN_POOL_SIZE || ka_add_overflow(start, len, &end))
		return KA_EINVAL;
	for (const struct tlsf_pool *p = t->pools; p; p = p->next)
		if (start < p->end && p->start < end)
			return KA_EEXIST;
	return add_pool(t, start, start, end);
}
#endif

static void tlsf_info(struct ka_alloc *a, struct ka_info *out)
{
	struct ka_tlsf *t = tlsf_of(a);

	out->total = t->total;
	out->avail = t->avail;
	out->meta = t->meta;
	out->maxalloc = 0;
	if (t->fl_bitmap) {
		/* The head of the highest non-empty list: take_block() finds it for any request up
		 * to its usable size (see there), so this size is guaranteed to succeed. */
		size_t fl = tlsf_fls(t->fl_bitmap);
		size_t sl = tlsf_fls(t->sl_bitmap[fl]);

		out->maxalloc = tlsf_stride(t->heads[TLSF_LIST(fl, sl)]) - TLSF_HDR;
	}
}

/* KA_CFG_CHECK 0 (the minimal configuration) builds neither the checker nor the walker. Both
 * live in tlsf_validate.c, referenced weakly: a program that calls neither ka_check() nor
 * ka_walk() does not link them (src/core/check.h). */
KA_CHECKER_REF unsigned ka_tlsf_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_tlsf_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#define TLSF_CAPS                                                                                  \
	(KA_CAP_FREE | KA_CAP_ANYSIZE | (TLSF_ONE_POOL ? 0 : KA_CAP_ADDMEM) |                      \
	 (TLSF_REALLOC ? KA_CAP_REALLOC : 0) | KA_CAP_OWNS | (KA_CFG_CHECK ? KA_CAP_WALK : 0))

static bool tlsf_owns(struct ka_alloc *a, const void *ptr)
{
	struct ka_tlsf *t = tlsf_of(a);
	uintptr_t p = (uintptr_t)ptr;

	for (const struct tlsf_pool *pool = t->pools; pool; pool = pool->next)
		if (p >= pool->start && p < pool->end)
			return true;
	return false;
}

static const struct ka_alloc_ops tlsf_ops = {
    .alloc = tlsf_alloc,
#if TLSF_SIZED
    .alloc_counted = tlsf_alloc_counted,
#endif
    .free = tlsf_free,
#if TLSF_SIZED
    .free_counted = tlsf_free_counted,
#endif
    .usable_size = tlsf_usable_size,
#if TLSF_REALLOC
    .realloc = tlsf_realloc,
#endif
#if !TLSF_ONE_POOL
    .add_memory = tlsf_add_memory,
#endif
    .info = tlsf_info,
#if KA_CFG_CHECK
    .check = ka_tlsf_check_impl,
    .walk = ka_tlsf_walk_impl,
#endif
    .owns = tlsf_owns,
    .caps = TLSF_CAPS,
};

struct ka_alloc *ka_tlsf_init(void *base, size_t len)
{
	uintptr_t raw = (uintptr_t)base, c, end;
	struct ka_tlsf *t;

	/* A fixed minimum, not "whatever fits here": the answer must not depend on base. */
	if (!base || ka_add_overflow(raw, len, &end) ||
	    len < TLSF_CONTROL_SIZE + TLSF_MIN_POOL_SIZE)
		return NULL;
	c = ka_align_up(raw, TLSF_ALIGN);
	t = (struct ka_tlsf *)c;
	memset(t, 0, sizeof(*t));
	ka_alloc_init(&t->base, &tlsf_ops, "tlsf");
	if (!TLSF_ONE_POOL) { /* add_pool() widens the hull and appends */
		t->blo = UINTPTR_MAX;
		t->pool_tail = &t->pools;
	}
	if (add_pool(t, raw, c + sizeof(*t), end) != 0)
		return NULL;
	return &t->base;
}

size_t ka_tlsf_control_size(void)
{
	return TLSF_CONTROL_SIZE;
}

size_t ka_tlsf_block_overhead(void)
{
	return TLSF_HDR;
}

size_t ka_tlsf_pool_overhead(void)
{
	return TLSF_POOL_OVERHEAD;
}

size_t ka_tlsf_min_pool_size(void)
{
	return TLSF_MIN_POOL_SIZE;
}

size_t ka_tlsf_max_block_size(void)
{
	return TLSF_MAX_STRIDE - TLSF_HDR;
}

const struct ka_backend ka_backend_tlsf = {
    .name = "tlsf",
    .desc = "two-level segregated fit: O(1) good fit, immediate coalescing, many pools",
    .caps = TLSF_CAPS,
    .init = ka_tlsf_init,
    .min_size = TLSF_CONTROL_SIZE + TLSF_MIN_POOL_SIZE,
};
