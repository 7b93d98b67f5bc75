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

/* The hot path is a handful of small steps; inlining them all into alloc and free saves the
 * calls and lets the compiler keep the control structure's fields in registers. The rarer
 * paths stay out of line so that the common one needs no stack frame. */
#if defined(__GNUC__) || defined(__clang__)
#define TLSF_HOT	 static inline __attribute__((always_inline))
#define TLSF_OUTLINE	 static __attribute__((noinline))
#define TLSF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TLSF_HOT	 static inline
#define TLSF_OUTLINE	 static
#define TLSF_UNLIKELY(x) (x)
#endif

/* ---- free lists ---------------------------------------------------------------------------- */

/*
 * Free-byte accounting (t->avail, invariant I6) is not done here but once per operation, as
 * the net change of that operation: a list splice happens up to three times per call, the
 * operation's net effect is one addition.
 *
 * The list operations below are written without data-dependent branches where a list may or
 * may not be empty: that outcome is random under a random workload, and a mispredicted branch
 * costs more than the few instructions of a conditional move. Writes that would go through a
 * NULL link go to t->scratch instead.
 */
static inline void insert_free(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	unsigned fl, sl;
	struct tlsf_block *h;

	tlsf_mapping(stride, &fl, &sl);
	h = t->heads[fl][sl];
	b->next_free = h;
	b->prev_free = NULL;
	(h ? h : &t->scratch)->prev_free = b;
	t->heads[fl][sl] = b;
	t->fl_bitmap |= (size_t)1 << fl;
	t->sl_bitmap[fl] |= (uint32_t)1 << sl;
}

/*
 * Unlink b from list (fl, sl). Links overwritten after a free (use after free) are refused
 * before they are written through: both must point into the heap (or be NULL), and a block
 * without a predecessor must be its list's head. The links' targets are NOT read back (no
 * glibc-style "does next->prev point at me" check): on a large heap each such read is a cache
 * miss on the critical path (see docs/backend-tlsf.md for the measured cost), and a forged
 * in-heap link is left to the checker.
 */
static inline void unlink_free(struct ka_tlsf *t, struct tlsf_block *b, unsigned fl, unsigned sl)
{
	struct tlsf_block *prev = b->prev_free, *next = b->next_free;
	struct tlsf_block *nt = next ? next : &t->scratch;
	struct tlsf_block **pnext = prev ? &prev->next_free : &t->heads[fl][sl];

	if (TLSF_UNLIKELY((((uintptr_t)next - t->blo >= t->bspan) & (next != NULL)) |
			  (((uintptr_t)prev - t->blo >= t->bspan) & (prev != NULL)) |
			  ((prev == NULL) & (t->heads[fl][sl] != b))))
		ka_misuse(&t->base, "corrupted free list (use after free?)", tlsf_payload(b));
	nt->prev_free = prev;
	*pnext = next;
	t->sl_bitmap[fl] &= ~((uint32_t)(t->heads[fl][sl] == NULL) << sl);
	t->fl_bitmap &= ~((size_t)(t->sl_bitmap[fl] == 0) << fl);
}

/* unlink_free() for the head of its list, the allocation path. */
static inline void unlink_head(struct ka_tlsf *t, struct tlsf_block *b, unsigned fl, unsigned sl)
{
	struct tlsf_block *next = b->next_free;
	struct tlsf_block *nt = next ? next : &t->scratch;

	if (TLSF_UNLIKELY((((uintptr_t)next - t->blo >= t->bspan) & (next != NULL)) |
			  (b->prev_free != NULL)))
		ka_misuse(&t->base, "corrupted free list (use after free?)", tlsf_payload(b));
	nt->prev_free = NULL;
	t->heads[fl][sl] = next;
	t->sl_bitmap[fl] &= ~((uint32_t)(next == NULL) << sl);
	t->fl_bitmap &= ~((size_t)(t->sl_bitmap[fl] == 0) << fl);
}

static inline void remove_free(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	unsigned fl, sl;

	tlsf_mapping(stride, &fl, &sl);
	unlink_free(t, b, fl, sl);
}

/*
 * First non-empty list at or above (fl, sl): two find-first-set operations. Updates fl/sl to
 * the list found. NULL when every list from there up is empty.
 */
static inline struct tlsf_block *search_lists(const struct ka_tlsf *t, unsigned *fl, unsigned *sl)
{
	uint32_t slmap = t->sl_bitmap[*fl] & (~(uint32_t)0 << *sl);

	if (!slmap) {
		size_t flmap = t->fl_bitmap & (~(size_t)0 << (*fl + 1));

		if (!flmap)
			return NULL;
		*fl = ka_ffs(flmap);
		slmap = t->sl_bitmap[*fl];
	}
	*sl = ka_ffs(slmap);
	return t->heads[*fl][*sl];
}

/*
 * Find and unlink a free block of at least `stride` bytes. Good fit first (the rounded-up list,
 * where every block fits); if that finds nothing, the head of the request's own list may still
 * fit: one comparison, no list walk. That second look makes every request up to the size
 * info() reports as maxalloc succeed.
 */
TLSF_HOT struct tlsf_block *take_block(struct ka_tlsf *t, size_t stride)
{
	unsigned fl, sl;
	struct tlsf_block *b;

	tlsf_mapping(tlsf_round_up(stride), &fl, &sl);
	b = search_lists(t, &fl, &sl);
	if (!b) {
		tlsf_mapping(stride, &fl, &sl);
		b = t->heads[fl][sl];
		if (!b || tlsf_stride(b) < stride)
			return NULL;
	}
	unlink_head(t, b, fl, sl);
	return b;
}

/*
 * Give the tail of block b beyond `stride` (at least a minimum block) back to the free lists.
 * Out of line: most allocations of a steady workload reuse a block of exactly their size.
 */
TLSF_OUTLINE void split_tail(struct ka_tlsf *t, struct tlsf_block *b, size_t stride, size_t bs)
{
	struct tlsf_block *r = (struct tlsf_block *)((uintptr_t)b + stride);

	r->prev_phys = b;
	r->size = (bs - stride) | TLSF_FREE;
	((struct tlsf_block *)((uintptr_t)b + bs))->prev_phys = r;
	b->size = stride | (b->size & TLSF_PREV_FREE);
	insert_free(t, r, bs - stride);
	t->avail -= stride; /* bs - HDR left the lists, bs - stride - HDR came back */
}

/*
 * Turn the unlinked free block b into a used block of `stride` bytes, giving any remainder
 * large enough for a block back to the free lists. b's next neighbour is used (I3), so the
 * remainder never needs merging.
 */
TLSF_HOT size_t use_block(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	size_t bs = tlsf_stride(b);

	KA_ASSERT(bs >= stride);
	if (bs - stride >= TLSF_MIN_STRIDE) {
		split_tail(t, b, stride, bs);
		return stride;
	}
	b->size = bs | (b->size & TLSF_PREV_FREE);
	((struct tlsf_block *)((uintptr_t)b + bs))->size &= ~TLSF_PREV_FREE;
	t->avail -= bs - TLSF_HDR;
	return bs;
}

/* ---- pointer validation ------------------------------------------------------------------- */

/*
 * Name the misuse: a header with the free bit and a plausible stride is a block freed before
 * (possibly since merged into its neighbour, whose header no longer points back at it); any
 * other header was overwritten or never existed (interior or forged pointer). Cold path.
 */
static noreturn void bad_block(const struct ka_tlsf *t, const void *ptr, size_t sz)
{
	size_t s = sz & ~TLSF_FLAGS;
	uintptr_t b = (uintptr_t)tlsf_from_payload(ptr);

	if ((sz & TLSF_FREE) && s >= TLSF_MIN_STRIDE && (s & (TLSF_ALIGN - 1)) == 0 &&
	    s <= t->hi - b)
		ka_misuse(&t->base, "double free (block is already free)", ptr);
	ka_misuse(&t->base, "corrupted block header or interior pointer", ptr);
}

/*
 * The O(1) misuse checks shared by free, usable_size and realloc. A live block's payload is
 * aligned, its header lies in [blo, hi) (the hull of all pools), has TLSF_FREE clear and a
 * plausible stride, and the next block's always-valid prev_phys points back at it. An interior or
 * forged pointer would need all of these to hold by chance.
 */
TLSF_HOT struct tlsf_block *live_block(struct ka_tlsf *t, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	struct tlsf_block *b;
	size_t sz, s;

	b = tlsf_from_payload(ptr);
	if ((p & (TLSF_ALIGN - 1)) != 0 || (uintptr_t)b - t->blo >= t->bspan)
		ka_misuse(&t->base, "pointer not from this heap (foreign or misaligned)", ptr);
	sz = b->size;
	s = sz & ~TLSF_FLAGS;
	if ((sz & TLSF_FREE) || s < TLSF_MIN_STRIDE || (s & (TLSF_ALIGN - 1)) != 0 ||
	    s > t->hi - (uintptr_t)b || ((struct tlsf_block *)((uintptr_t)b + s))->prev_phys != b)
		bad_block(t, ptr, sz);
	return b;
}

/*
 * Check a free neighbour before merging with it: its stride must be plausible and the block
 * after it must point back. Returns the neighbour's stride.
 */
static inline size_t free_neighbour(struct ka_tlsf *t, const struct tlsf_block *n)
{
	size_t s = tlsf_stride(n);

	if (s < TLSF_MIN_STRIDE || (s & (TLSF_ALIGN - 1)) != 0 || s > t->hi - (uintptr_t)n ||
	    ((struct tlsf_block *)((uintptr_t)n + s))->prev_phys != n)
		ka_misuse(&t->base, "corrupted header of a free neighbour", tlsf_payload(n));
	return s;
}

/* ---- operations -------------------------------------------------------------------------- */

TLSF_OUTLINE void *alloc_aligned(struct ka_tlsf *t, size_t stride, size_t align, size_t *usable)
{
	size_t need, gap;
	uintptr_t p, ap;
	struct tlsf_block *b;

	/*
	 * The payload must move up to an align boundary; the leading gap becomes a free block, so
	 * it is either 0 or at least TLSF_MIN_STRIDE. The worst gap is below align +
	 * TLSF_MIN_STRIDE, so a block of stride + align + TLSF_MIN_STRIDE always suffices.
	 */
	if (ka_add_overflow(stride, align, &need) ||
	    ka_add_overflow(need, TLSF_MIN_STRIDE, &need) || need > TLSF_MAX_STRIDE)
		return NULL;
	b = take_block(t, need);
	if (!b)
		return NULL;
	p = (uintptr_t)tlsf_payload(b);
	ap = (p + (align - 1)) & ~(uintptr_t)(align - 1);
	gap = ap - p;
	if (gap != 0 && gap < TLSF_MIN_STRIDE) /* next boundaries until a block fits */
		gap += ka_align_up(TLSF_MIN_STRIDE - gap, align);
	if (gap != 0) {
		size_t bs = tlsf_stride(b);
		struct tlsf_block *nb = (struct tlsf_block *)((uintptr_t)b + gap);

		/* b's predecessor is used (b was free, I3): the gap stays a lone free block. */
		nb->prev_phys = b;
		nb->size = (bs - gap) | TLSF_PREV_FREE;
		tlsf_next(nb)->prev_phys = nb;
		b->size = gap | TLSF_FREE | (b->size & TLSF_PREV_FREE);
		insert_free(t, b, gap);
		/* One free block became two (gap and nb, which use_block() accounts for as the
		 * block it takes): one more header. */
		t->avail -= TLSF_HDR;
		b = nb;
	}
	*usable = use_block(t, b, stride) - TLSF_HDR;
	return tlsf_payload(b);
}

/* Shared by alloc and alloc_sized; *usable is the block's usable size on success. */
TLSF_HOT void *alloc_impl(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	struct ka_tlsf *t = tlsf_of(a);
	struct tlsf_block *b;
	size_t stride;

	if (size > TLSF_MAX_STRIDE - TLSF_HDR)
		return NULL;
	stride = tlsf_stride_for(size);
	if (align > TLSF_ALIGN)
		return alloc_aligned(t, stride, align, usable);
	b = take_block(t, stride);
	if (!b)
		return NULL;
	*usable = use_block(t, b, stride) - TLSF_HDR;
	return tlsf_payload(b);
}

static void *tlsf_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n;

	return alloc_impl(a, size, align, &n);
}

static void *tlsf_alloc_sized(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	return alloc_impl(a, size, align, usable);
}

/*
 * free() with at least one free neighbour: merge, then insert. Kept out of line so that the
 * common case (both neighbours in use) needs few registers and no stack frame.
 */
TLSF_OUTLINE void free_merge(struct ka_tlsf *t, struct tlsf_block *b, size_t sz,
			     struct tlsf_block *next)
{
	size_t s = sz & ~TLSF_FLAGS;
	size_t gain = s - TLSF_HDR; /* b's bytes, plus a header per merge */

	if (sz & TLSF_PREV_FREE) {
		struct tlsf_block *prev = b->prev_phys;
		size_t ps;

		/* prev must lie in [first block of the lowest pool, b) before we read it. */
		if ((uintptr_t)prev - t->blo >= (uintptr_t)b - t->blo ||
		    !(prev->size & TLSF_FREE) ||
		    (uintptr_t)prev + tlsf_stride(prev) != (uintptr_t)b)
			ka_misuse(&t->base, "corrupted header of the previous block",
				  tlsf_payload(b));
		ps = tlsf_stride(prev);
		remove_free(t, prev, ps);
		s += ps;
		gain += TLSF_HDR;
		b = prev;
	}
	if (next->size & TLSF_FREE) {
		size_t ns = free_neighbour(t, next);

		remove_free(t, next, ns);
		s += ns;
		gain += TLSF_HDR;
		next = (struct tlsf_block *)((uintptr_t)next + ns);
	} else {
		next->size |= TLSF_PREV_FREE;
	}
	next->prev_phys = b;
	b->size = s | TLSF_FREE;
	insert_free(t, b, s);
	t->avail += gain;
}

/* Shared by free and free_sized: returns the usable size the block had. */
TLSF_HOT size_t free_impl(struct ka_alloc *a, void *ptr)
{
	struct ka_tlsf *t = tlsf_of(a);
	struct tlsf_block *b = live_block(t, ptr);
	size_t sz = b->size;
	size_t s = sz & ~TLSF_FLAGS;
	struct tlsf_block *next = (struct tlsf_block *)((uintptr_t)b + s);

	/* Mark it free at once: a header left behind inside a merged block then still reads as
	 * free, so a second free of the same pointer is reported as a double free. */
	b->size = sz | TLSF_FREE;
	if ((sz & TLSF_PREV_FREE) | (next->size & TLSF_FREE)) {
		free_merge(t, b, sz, next);
		return s - TLSF_HDR;
	}
	next->size |= TLSF_PREV_FREE;
	insert_free(t, b, s);
	t->avail += s - TLSF_HDR;
	return s - TLSF_HDR;
}

static void tlsf_free(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr);
}

static size_t tlsf_free_sized(struct ka_alloc *a, void *ptr)
{
	return free_impl(a, ptr);
}

static size_t tlsf_usable_size(struct ka_alloc *a, const void *ptr)
{
	return tlsf_stride(live_block(tlsf_of(a), ptr)) - TLSF_HDR;
}

/*
 * Give the tail of used block b beyond `stride` back to the free lists, merged with the next
 * block if that one is free. Nothing happens when the tail is too small for a block.
 */
static void trim_used(struct ka_tlsf *t, struct tlsf_block *b, size_t stride)
{
	size_t bs = tlsf_stride(b), rs;
	struct tlsf_block *next, *r;

	if (bs - stride < TLSF_MIN_STRIDE)
		return;
	next = (struct tlsf_block *)((uintptr_t)b + bs);
	r = (struct tlsf_block *)((uintptr_t)b + stride);
	rs = bs - stride;
	b->size = stride | (b->size & TLSF_PREV_FREE);
	r->prev_phys = b;
	/* The tail's bytes come back; merged into a free next block it also frees no header. */
	t->avail += rs - TLSF_HDR;
	if (next->size & TLSF_FREE) {
		size_t ns = free_neighbour(t, next);

		remove_free(t, next, ns);
		rs += ns;
		t->avail += TLSF_HDR;
		next = (struct tlsf_block *)((uintptr_t)next + ns);
	} else {
		next->size |= TLSF_PREV_FREE;
	}
	next->prev_phys = r;
	r->size = rs | TLSF_FREE;
	insert_free(t, r, rs);
}

static void *tlsf_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct ka_tlsf *t = tlsf_of(a);
	struct tlsf_block *b = live_block(t, ptr), *next;
	size_t cur, need;
	void *n;

	if (size > TLSF_MAX_STRIDE - TLSF_HDR)
		return NULL;
	need = tlsf_stride_for(size);
	cur = tlsf_stride(b);
	next = (struct tlsf_block *)((uintptr_t)b + cur);
	if (need > cur) {
		if ((next->size & TLSF_FREE) && tlsf_stride(next) >= need - cur) {
			/* Grow in place: swallow the free next block, then give back the excess. */
			size_t ns = free_neighbour(t, next);

			remove_free(t, next, ns);
			t->avail -= ns - TLSF_HDR;
			cur += ns;
			next = (struct tlsf_block *)((uintptr_t)next + ns);
			next->prev_phys = b;
			next->size &= ~TLSF_PREV_FREE;
			b->size = cur | (b->size & TLSF_PREV_FREE);
		} else {
			n = tlsf_alloc(a, size, TLSF_ALIGN);
			if (!n)
				return NULL;
			memcpy(n, ptr, cur - TLSF_HDR);
			tlsf_free(a, ptr);
			return n;
		}
	}
	trim_used(t, b, need);
	return ptr;
}

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

	if (start > end || start > UINTPTR_MAX - (ph + TLSF_HDR + TLSF_ALIGN))
		return KA_EINVAL;
	/* The first payload is aligned; the pool header sits right before the first header. */
	first = ka_align_up(start + ph + TLSF_HDR, TLSF_ALIGN) - TLSF_HDR;
	lim = ka_align_down(end, TLSF_ALIGN);
	if (lim <= first || lim - first < TLSF_HDR + TLSF_MIN_STRIDE)
		return KA_EINVAL;
	sent = lim - TLSF_HDR;
	if (sent - first > TLSF_MAX_STRIDE)
		sent = first + TLSF_MAX_STRIDE;

	pool = (struct tlsf_pool *)(first - ph);
	pool->next = NULL;
	pool->start = raw;
	pool->end = end;
	pool->sentinel = (struct tlsf_block *)sent;
	*t->pool_tail = pool;
	t->pool_tail = &pool->next;
	t->npools++;

	b = (struct tlsf_block *)first;
	s = (struct tlsf_block *)sent;
	b->prev_phys = NULL;
	b->size = (sent - first) | TLSF_FREE;
	s->prev_phys = b;
	s->size = TLSF_PREV_FREE;
	insert_free(t, b, sent - first);
	t->avail += sent - first - TLSF_HDR;

	if (first < t->blo)
		t->blo = first;
	if (sent > t->hi)
		t->hi = sent;
	t->bspan = t->hi - t->blo;
	t->total += end - raw;
	t->meta += (end - raw) - (sent - first - TLSF_HDR);
	return 0;
}

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
		unsigned fl = ka_fls(t->fl_bitmap);
		unsigned sl = ka_fls(t->sl_bitmap[fl]);

		out->maxalloc = tlsf_stride(t->heads[fl][sl]) - TLSF_HDR;
	}
}

#if KA_CFG_CHECK
static int tlsf_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_tlsf *t = tlsf_of(a);

	for (const struct tlsf_pool *p = t->pools; p; p = p->next) {
		const struct tlsf_block *b = (const struct tlsf_block *)(p + 1);

		while (b != p->sentinel) {
			size_t s = tlsf_stride(b);
			int rc;

			/* A broken heap must not send the walk outside the pool. */
			if (s < TLSF_MIN_STRIDE || s > (uintptr_t)p->sentinel - (uintptr_t)b)
				return KA_EFAULT;
			rc = fn(tlsf_payload(b), s - TLSF_HDR, !(b->size & TLSF_FREE), arg);
			if (rc)
				return rc;
			b = (const struct tlsf_block *)((uintptr_t)b + s);
		}
	}
	return 0;
}
#endif

/* KA_CFG_CHECK 0 (the minimal configuration) builds neither the checker nor the walker. */
#define TLSF_CAPS                                                                                  \
	(KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_REALLOC | KA_CAP_OWNS |             \
	 (KA_CFG_CHECK ? KA_CAP_WALK : 0))

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
    .alloc_sized = tlsf_alloc_sized,
    .free = tlsf_free,
    .free_sized = tlsf_free_sized,
    .usable_size = tlsf_usable_size,
    .realloc = tlsf_realloc,
    .add_memory = tlsf_add_memory,
    .info = tlsf_info,
#if KA_CFG_CHECK
    .check = ka_tlsf_check_impl,
    .walk = tlsf_walk,
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
	t->blo = UINTPTR_MAX;
	t->hi = 0;
	t->pool_tail = &t->pools;
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
