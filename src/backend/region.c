/* SPDX-License-Identifier: MIT */
/*
 * The region backend: bump allocation over a list of regions, no reuse of freed memory.
 * Entry point: ka_region_init() (kalloc/region.h). The record format inside each region is
 * described in region_priv.h.
 */
#include "region_priv.h"
#include "check.h"
#include "kstring.h"

_Static_assert(KA_CFG_MIN_ALIGN >= 4, "the record tag needs two free low bits");
_Static_assert(KA_CFG_MIN_ALIGN >= sizeof(size_t), "a pad record needs one word");

static struct rg_seg *seg_of(struct rg_state *s, uintptr_t p)
{
	for (struct rg_seg *g = s->first; g; g = g->next)
		if (p >= g->base && p < g->end)
			return g;
	return NULL;
}

/*
 * Find the header of live or freed block `ptr`, or panic: the pointer must lie in a region,
 * be aligned, sit after a header whose check word matches. Catches foreign and interior
 * pointers and overwritten headers for the price of a region lookup.
 */
static struct rg_hdr *find_hdr(struct rg_state *s, const void *ptr, struct rg_seg **segp)
{
	uintptr_t p = (uintptr_t)ptr;
	struct rg_seg *g = seg_of(s, p);
	struct rg_hdr *h;
	size_t size, tag;

	if (!g || p < g->start + RG_HDR || p >= g->brk || (p & (KA_CFG_MIN_ALIGN - 1)))
		ka_misuse(&s->head, "pointer not allocated by this region allocator", ptr);
	h = (struct rg_hdr *)(p - RG_HDR);
	size = h->word & ~RG_TAG_MASK;
	tag = h->word & RG_TAG_MASK;
	if ((tag != RG_TAG_USED && tag != RG_TAG_FREED) || h->check != hdr_check(h, size) ||
	    size > g->brk - p)
		ka_misuse(&s->head, "invalid pointer or corrupted block header", ptr);
	if (segp)
		*segp = g;
	return h;
}

static struct rg_hdr *live_hdr(struct rg_state *s, const void *ptr, struct rg_seg **segp)
{
	struct rg_hdr *h = find_hdr(s, ptr, segp);

	if ((h->word & RG_TAG_MASK) == RG_TAG_FREED)
		ka_misuse(&s->head, "double free or use of a freed block", ptr);
	return h;
}

/* Bump `usable` bytes aligned to `align` in g, or return NULL if g has no room. */
static void *seg_bump(struct rg_state *s, struct rg_seg *g, size_t usable, size_t align)
{
	size_t need;
	uintptr_t p, pad;
	struct rg_hdr *h;

	if (ka_add_overflow(g->brk, RG_HDR + (align - 1), &need))
		return NULL;
	p = ka_align_up(g->brk + RG_HDR, align);
	if (p > g->end || g->end - p < usable)
		return NULL;
	pad = p - RG_HDR - g->brk;
	if (pad)
		*(size_t *)g->brk = (size_t)pad | RG_TAG_PAD;
	h = (struct rg_hdr *)(p - RG_HDR);
	h->word = usable | RG_TAG_USED;
	h->check = hdr_check(h, usable);
	g->brk = p + usable;
	s->meta += RG_HDR + pad;
	s->nblocks++;
	return (void *)p;
}

/* Shared by alloc and alloc_sized: *out is the block's usable size (set even on failure). */
static inline __attribute__((always_inline)) void *alloc_impl(struct ka_alloc *a, size_t size,
							      size_t align, size_t *out)
{
	struct rg_state *s = rg(a);
	size_t usable = ka_align_up(size, KA_CFG_MIN_ALIGN);
	struct rg_seg *g = s->cur;

	*out = usable;
	/* Current region first (the O(1) case), then every other one in order, wrapping. */
	for (size_t i = 0; i < s->nsegs; i++) {
		void *p = seg_bump(s, g, usable, align);
		if (p) {
			s->cur = g;
			return p;
		}
		g = g->next ? g->next : s->first;
	}
	return NULL;
}

static void *rg_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n;

	return alloc_impl(a, size, align, &n);
}

/* Shared by free and free_counted: returns the usable size the block had. */
static inline __attribute__((always_inline)) size_t free_impl(struct ka_alloc *a, void *ptr)
{
	struct rg_hdr *h = live_hdr(rg(a), ptr, NULL);
	size_t w = h->word;

	h->word = w | RG_TAG_FREED;
	return w & ~RG_TAG_MASK;
}

static void rg_free(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr);
}

/* Without statistics the generic layer never calls the sized entries: they are left out. */
#if KA_CFG_STATS
static void *rg_alloc_sized(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	return alloc_impl(a, size, align, usable);
}

static size_t rg_free_sized(struct ka_alloc *a, void *ptr)
{
	return free_impl(a, ptr);
}

/* The entries the generic layer calls when it keeps statistics: the sized ones, counted. */
static void *rg_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n = 0; /* read only if p is not NULL */
	void *p = rg_alloc_sized(a, size, align, &n);

	return ka_stats_alloc_done(a, p, size, n);
}

static void rg_free_counted(struct ka_alloc *a, void *ptr)
{
	ka_stats_free_done(a, rg_free_sized(a, ptr));
}
#endif

static size_t rg_usable_size(struct ka_alloc *a, const void *ptr)
{
	return live_hdr(rg(a), ptr, NULL)->word & ~RG_TAG_MASK;
}

static void *rg_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct rg_state *s = rg(a);
	struct rg_seg *g;
	struct rg_hdr *h = live_hdr(s, ptr, &g);
	size_t old = h->word & ~RG_TAG_MASK;
	size_t usable = ka_align_up(size, KA_CFG_MIN_ALIGN);
	uintptr_t p = (uintptr_t)ptr;
	void *n;

	if (p + old == g->brk && g->end - p >= usable) {
		/* The last block of its region: move the bump pointer instead of copying. */
		h->word = usable | RG_TAG_USED;
		h->check = hdr_check(h, usable);
		g->brk = p + usable;
		return ptr;
	}
	if (usable <= old)
		return ptr;
	n = rg_alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!n)
		return NULL;
	memcpy(n, ptr, old);
	h->word |= RG_TAG_FREED;
	return n;
}

/* Append region [b, e) with its descriptor at gs (>= b); KA_EINVAL if it has no room. */
static int seg_setup(struct rg_state *s, uintptr_t gs, uintptr_t b, uintptr_t e)
{
	struct rg_seg *g;
	uintptr_t start;

	gs = ka_align_up(gs, _Alignof(struct rg_seg));
	start = ka_align_up(gs + sizeof(struct rg_seg), KA_CFG_MIN_ALIGN);
	if (start < b || start > e || e - start < RG_HDR + KA_CFG_MIN_ALIGN)
		return KA_EINVAL;
	g = (struct rg_seg *)gs;
	g->next = NULL;
	g->base = b;
	g->end = e;
	g->start = start;
	g->brk = start;
	if (s->last)
		s->last->next = g;
	else
		s->first = g;
	s->last = g;
	s->nsegs++;
	s->total += e - b;
	s->meta += start - b;
	return 0;
}

static int rg_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct rg_state *s = rg(a);
	uintptr_t b = (uintptr_t)base, e = b + len;

	for (struct rg_seg *g = s->first; g; g = g->next)
		if (b < g->end && g->base < e)
			return KA_EEXIST;
	if (len < sizeof(struct rg_seg) + RG_HDR + 2 * KA_CFG_MIN_ALIGN)
		return KA_EINVAL;
	return seg_setup(s, b, b, e);
}

static void rg_info(struct ka_alloc *a, struct ka_info *out)
{
	struct rg_state *s = rg(a);

	out->total = s->total;
	out->meta = s->meta;
	for (struct rg_seg *g = s->first; g; g = g->next) {
		uintptr_t p = g->brk + RG_HDR;

		out->avail += g->end - g->brk;
		if (p <= g->end) {
			size_t room = ka_align_down(g->end - p, KA_CFG_MIN_ALIGN);
			if (room > out->maxalloc)
				out->maxalloc = room;
		}
	}
}

static bool rg_owns(struct ka_alloc *a, const void *ptr)
{
	return seg_of(rg(a), (uintptr_t)ptr) != NULL;
}

/* In region_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). */
KA_CHECKER_REF unsigned ka_region_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_region_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

static const struct ka_alloc_ops rg_ops = {
    .alloc = rg_alloc,
#if KA_CFG_STATS
    .alloc_counted = rg_alloc_counted,
    .free_counted = rg_free_counted,
#endif
    .free = rg_free,
    .usable_size = rg_usable_size,
    .realloc = rg_realloc,
    .add_memory = rg_add_memory,
    .info = rg_info,
    .check = ka_region_check_impl,
    .walk = ka_region_walk_impl,
    .owns = rg_owns,
    .caps = KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_REALLOC | KA_CAP_WALK | KA_CAP_OWNS,
};

struct ka_alloc *ka_region_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base, sp;
	struct rg_state *s;

	if (!base || len < RG_MIN_SIZE || b + len < b)
		return NULL;
	sp = ka_align_up(b, _Alignof(struct rg_state));
	s = (struct rg_state *)sp;
	ka_alloc_init(&s->head, &rg_ops, "region");
	s->first = s->last = NULL;
	s->nsegs = 0;
	s->total = 0;
	s->meta = 0;
	s->nblocks = 0;
	/* The first region is the whole memory, so the state counts as its metadata and the
	 * overlap check of add_memory covers it. */
	if (seg_setup(s, sp + sizeof(*s), b, b + len) != 0)
		return NULL;
	s->cur = s->first;
	return &s->head;
}

const struct ka_backend ka_backend_region = {
    .name = "region",
    .desc = "bump allocator, never reuses memory; several regions",
    .caps = KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_REALLOC | KA_CAP_WALK | KA_CAP_OWNS,
    .init = ka_region_init,
    .min_size = RG_MIN_SIZE,
};
