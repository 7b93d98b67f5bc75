/* SPDX-License-Identifier: MIT */
/*
 * Hierarchical-bitmap frame allocator: the ka_frame_ops behind ka_fbitmap_init().
 *
 * Each region has a bitmap with one bit per frame (1 = free) and summary levels above it;
 * the layout is drawn in fbitmap_priv.h. Two searches use the summaries:
 *  - next_free(i): the first free frame >= i, through the "any" bits (skips allocated
 *    stretches W, W^2, ... frames at a time);
 *  - next_used(i): the first allocated frame >= i, through the "full" bits (skips free
 *    stretches the same way).
 * A run of n frames aligned to a is then found by alternating the two (a candidate start
 * from next_free, its length from next_used), with two accelerations that keep the work
 * per bitmap word bounded: runs of at most W frames are found with word-parallel bit
 * operations on two adjacent words, and longer runs can only start inside the free run at
 * the top of a word, so after a failed candidate the search jumps to the next such run.
 * Two more structures keep first-fit searches off fragmented memory they have already seen:
 * per-size-class hints (where runs of 2^j frames can start at the earliest) and per-group
 * upper bounds of the longest free run (groups of W^2 frames that cannot hold the request
 * are skipped). Both are bounds, kept valid cheaply and tightened by the searches
 * themselves; fbitmap_priv.h states their invariants. Entry point: ka_fbitmap_init().
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/fbitmap.h"
#include "frame/fbitmap_priv.h"
#include "frame/frame_common.h"
#include "kstring.h"

#define W      KA_FBM_W
#define SH     KA_FBM_SHIFT
#define NONE   SIZE_MAX
#define ONES   (~(size_t)0)
#define PSHIFT KA_CFG_PAGE_SHIFT
/* Frame numbers live in [0, PFN_LIMIT): a 64-bit physical address space. */
#define PFN_LIMIT ((uint64_t)1 << (64 - PSHIFT))

static inline struct ka_fbitmap *to_fbm(struct ka_frame_alloc *fa)
{
	return (struct ka_fbitmap *)fa;
}

/* ---- bit helpers ------------------------------------------------------------------------ */

/* Leading (most significant) ones of w. */
static inline unsigned clo(size_t w)
{
	return w == ONES ? W : W - 1 - ka_fls(~w);
}

static size_t popcount(size_t x)
{
	size_t m1 = ONES / 3, m2 = ONES / 15 * 3, m4 = ONES / 255 * 15, h01 = ONES / 255;

	x -= (x >> 1) & m1;
	x = (x & m2) + ((x >> 2) & m2);
	x = (x + (x >> 4)) & m4;
	return (x * h01) >> (W - 8);
}

static inline bool bit_get(const size_t *a, size_t i)
{
	return (a[i >> SH] >> (i & (W - 1))) & 1u;
}

static inline void bit_put(size_t *a, size_t i, bool v)
{
	size_t m = (size_t)1 << (i & (W - 1));

	if (v)
		a[i >> SH] |= m;
	else
		a[i >> SH] &= ~m;
}

/* Set bits [s, e) of a to v (e > s). */
static void bits_put(size_t *a, size_t s, size_t e, bool v)
{
	size_t ws = s >> SH, we = (e - 1) >> SH;
	size_t ms = ONES << (s & (W - 1));
	size_t me = ONES >> (W - 1 - ((e - 1) & (W - 1)));

	for (size_t w = ws; w <= we; w++) {
		size_t m = ONES;
		if (w == ws)
			m &= ms;
		if (w == we)
			m &= me;
		if (v)
			a[w] |= m;
		else
			a[w] &= ~m;
	}
}

/*
 * Starts of runs of n (1..W) set bits that begin in word x and may continue into the next
 * word y: bit p of the result is set iff bits p .. p+n-1 of the 2W-bit value y:x are all set.
 * Doubling: after each step bit p stands for a window of len bits; windows never reach past
 * bit 2W-2, so the zeros shifted into the top of y are never read.
 */
static size_t runs_from(size_t x, size_t y, size_t n)
{
	size_t len = 1;

	while (len * 2 <= n) {
		size_t lo = (x >> len) | (y << (W - len));
		y &= y >> len;
		x &= lo;
		len *= 2;
	}
	if (len < n) {
		size_t d = n - len;
		x &= (x >> d) | (y << (W - d));
	}
	return x;
}

/* ---- summary maintenance and search ------------------------------------------------------ */

/* Recompute the summary bits above level-0 words wlo..whi (inclusive), level by level. */
static void propagate(struct ka_fbitmap_region *r, size_t wlo, size_t whi)
{
	for (unsigned k = 0; k < r->levels; k++) {
		for (size_t j = wlo; j <= whi; j++) {
			bit_put(r->any[k + 1], j, r->any[k][j] != 0);
			bit_put(r->full[k + 1], j, r->full[k][j] == ONES);
		}
		wlo >>= SH;
		whi >>= SH;
	}
}

/*
 * First set bit >= pos of level 0 (inv false: a free frame, via the any levels) or first
 * clear bit (inv true: an allocated frame or padding, via the full levels, all words read
 * inverted). Climbs while the rest of the current word is empty, then descends along the
 * first set bit; a word found empty on the way down can only mean corruption (check()
 * reports it), and the search then reports nothing. NONE if there is none.
 */
static size_t find_next(const struct ka_fbitmap_region *r, size_t pos, bool inv)
{
	size_t *const *lv = inv ? r->full : r->any;
	size_t flip = inv ? ONES : 0;
	unsigned k = 0;
	size_t idx = pos;

	for (;;) {
		size_t wi = idx >> SH;
		size_t w;

		if (wi >= r->nwords[k])
			return NONE;
		w = (lv[k][wi] ^ flip) & (ONES << (idx & (W - 1)));
		if (w) {
			idx = (wi << SH) + ka_ffs(w);
			break;
		}
		if (k == r->levels)
			return NONE;
		k++;
		idx = wi + 1;
	}
	while (k > 0) {
		size_t w;

		k--;
		if (idx >= r->nwords[k])
			return NONE;
		w = lv[k][idx] ^ flip;
		if (!w)
			return NONE;
		idx = (idx << SH) + ka_ffs(w);
	}
	return idx;
}

static size_t next_free(const struct ka_fbitmap_region *r, size_t pos)
{
	size_t f;

	if (pos >= r->frames)
		return NONE;
	f = find_next(r, pos, false);
	return f < r->frames ? f : NONE;
}

/* First allocated frame >= pos, or r->frames when all frames from pos on are free. */
static size_t next_used(const struct ka_fbitmap_region *r, size_t pos)
{
	size_t u;

	if (pos >= r->frames)
		return r->frames;
	u = find_next(r, pos, true);
	return u < r->frames ? u : r->frames;
}

/* Smallest region index >= i whose frame number is a multiple of a; NONE if it is > hi. */
static size_t align_rel(const struct ka_fbitmap_region *r, size_t i, uint64_t a, size_t hi)
{
	uint64_t q = ((r->base + i) + (a - 1)) & ~(a - 1);
	uint64_t rel = q - r->base;

	return rel > hi ? NONE : (size_t)rel;
}

/*
 * First start s in [lo, hi - n] of n free frames whose frame number is a multiple of a (a
 * power of two, in frames), or NONE. Needs lo < hi <= r->frames.
 */
static size_t search_from(const struct ka_fbitmap_region *r, size_t lo, size_t hi, size_t n,
			  uint64_t a)
{
	const size_t *bm = r->any[0];
	size_t pos = lo;

	if (n > hi - lo)
		return NONE;
	if (n <= W && a <= W) {
		/* pat: one bit every a bits (a divides W) */
		size_t pat = 1;

		for (unsigned s = (unsigned)a; s < W; s <<= 1)
			pat |= pat << s;
		for (;;) {
			size_t f = next_free(r, pos);
			size_t wi, x, y, m;
			uint64_t first;

			if (f == NONE || f >= hi || n > hi - f)
				return NONE;
			wi = f >> SH;
			x = bm[wi] & (ONES << (f & (W - 1)));
			y = wi + 1 < r->nwords[0] ? bm[wi + 1] : 0;
			m = runs_from(x, y, n);
			first = (0 - (r->base + ((uint64_t)wi << SH))) & (a - 1);
			m &= first < W ? pat << (unsigned)first : 0;
			if (m) {
				size_t s = (wi << SH) + ka_ffs(m);
				return s <= hi - n ? s : NONE;
			}
			pos = (wi + 1) << SH;
		}
	}
	for (;;) {
		size_t f = next_free(r, pos);
		size_t s, c;

		if (f == NONE || f >= hi)
			return NONE;
		s = align_rel(r, f, a, hi);
		if (s == NONE || n > hi - s)
			return NONE;
		c = next_used(r, s);
		if (c - s >= n)
			return s;
		pos = c + 1;
		if (n > W && pos < r->frames) {
			/* A run longer than a word crosses the end of the word it starts in, so it
			 * starts inside that word's top free run: jump there. */
			size_t j = pos >> SH;
			unsigned t = clo(bm[j] & (ONES << (pos & (W - 1))));

			pos = ((j + 1) << SH) - t;
		}
	}
}

#define GSH KA_FBM_GSHIFT
#define CAP KA_FBM_GMAX_CAP

/* Longest run of set bits in x: each step shortens every run by one. O(result). */
static unsigned word_maxrun(size_t x)
{
	unsigned k = 0;

	while (x) {
		x &= x >> 1;
		k++;
	}
	return k;
}

/* Exact longest free run inside group g (the parts inside it of runs crossing its edges),
 * capped at CAP. O(W) words. */
static unsigned group_maxrun(const struct ka_fbitmap_region *r, size_t g)
{
	const size_t *bm = r->any[0];
	size_t w0 = g << SH, w1 = w0 + W < r->nwords[0] ? w0 + W : r->nwords[0];
	size_t run = 0, best = 0;

	for (size_t w = w0; w < w1 && best < CAP; w++) {
		size_t x = bm[w];
		unsigned m;

		if (x == ONES) {
			run += W;
			continue;
		}
		if (x == 0) {
			best = run > best ? run : best;
			run = 0;
			continue;
		}
		run += ka_ffs(~x);
		best = run > best ? run : best;
		m = word_maxrun(x);
		best = m > best ? m : best;
		run = clo(x);
	}
	best = run > best ? run : best;
	return best > CAP ? CAP : (unsigned)best;
}

/*
 * First-fit search for 2..CAP frames, group by group: inside a group only when its bound
 * allows a run of n (recomputing the bound when the group holds none after all), and across
 * each group edge whose two frames are free. O(groups + W words per group searched).
 */
static size_t search_groups(struct ka_fbitmap_region *r, size_t lo, size_t hi, size_t n, uint64_t a)
{
	const size_t *bm = r->any[0];

	for (size_t g = lo >> GSH; (g << GSH) < hi; g++) {
		size_t gs = g << GSH, ge = gs + ((size_t)1 << GSH);
		size_t glo = lo > gs ? lo : gs, ghi = hi < ge ? hi : ge, s;

		if (r->gmax[g] >= n) {
			s = search_from(r, glo, ghi, n, a);
			if (s != NONE)
				return s;
			r->gmax[g] = (uint16_t)group_maxrun(r, g);
		}
		/* A run crossing into group g+1 starts in the last n-1 frames of group g and,
		 * as n <= CAP = group size, ends inside group g+1. */
		if (ge < hi && bit_get(bm, ge - 1) && bit_get(bm, ge)) {
			size_t cs = ge - (n - 1) > glo ? ge - (n - 1) : glo;
			size_t ce = ge + (n - 1) < hi ? ge + (n - 1) : hi;

			s = search_from(r, cs, ce, n, a);
			if (s != NONE)
				return s;
		}
	}
	return NONE;
}

/* Smallest k with 2^k >= n (n >= 1). */
static unsigned ceil_log2(size_t n)
{
	return n == 1 ? 0 : ka_fls(n - 1) + 1;
}

/*
 * search_from() started at the hint for n's size class (fbitmap_priv.h, "Search hints").
 * When the search covered everything from that hint to the region end with no alignment,
 * its result also bounds the runs of n or more frames, so the hints of classes 2^c >= n
 * move up to it.
 */
static size_t search(struct ka_fbitmap_region *r, size_t lo, size_t hi, size_t n, uint64_t a)
{
	unsigned j = ka_fls(n);
	size_t pos = lo, s;
	bool exact;

	if (j >= r->classes)
		return NONE; /* longer than the region */
	exact = lo <= r->hint[j] && a == 1 && hi == r->frames;
	if (pos < r->hint[j])
		pos = r->hint[j];
	if (pos >= hi)
		s = NONE;
	else if (n >= 2 && n <= CAP)
		s = search_groups(r, pos, hi, n, a);
	else
		s = search_from(r, pos, hi, n, a);
	if (exact) {
		size_t bound = s == NONE ? r->frames : s;

		for (unsigned c = ceil_log2(n); c < r->classes; c++)
			if (r->hint[c] < bound)
				r->hint[c] = bound;
	}
	return s;
}

/* ---- region operations --------------------------------------------------------------------- */

static void take(struct ka_fbitmap *fb, struct ka_fbitmap_region *r, size_t s, size_t n)
{
	bits_put(r->any[0], s, s + n, false);
	propagate(r, s >> SH, (s + n - 1) >> SH);
	r->free -= n;
	fb->fa.free_frames -= n;
}

static void give(struct ka_fbitmap *fb, struct ka_fbitmap_region *r, size_t s, size_t n)
{
	for (size_t g = s >> GSH; g <= (s + n - 1) >> GSH; g++)
		r->gmax[g] = CAP;
	for (unsigned j = 0; j < r->classes; j++) {
		size_t d = ((size_t)1 << j) - 1;
		size_t h = s > d ? s - d : 0;

		if (r->hint[j] > h)
			r->hint[j] = h;
	}
	bits_put(r->any[0], s, s + n, true);
	propagate(r, s >> SH, (s + n - 1) >> SH);
	r->free += n;
	fb->fa.free_frames += n;
}

/* Zero frames through the direct map one page at a time (n pages may not fit a size_t). */
static void zero_frames(const struct ka_fbitmap_region *r, size_t s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pa = (r->base + s + i) << PSHIFT;
		memset((void *)(uintptr_t)(pa + r->dm_off), 0, KA_PAGE_SIZE);
	}
}

static struct ka_fbitmap_region *find_region(struct ka_fbitmap *fb, uint64_t pfn)
{
	for (struct ka_fbitmap_region *r = fb->regions; r; r = r->next) {
		if (pfn < r->base)
			return NULL;
		if (pfn - r->base < r->frames)
			return r;
	}
	return NULL;
}

static int finish_alloc(struct ka_fbitmap *fb, struct ka_fbitmap_region *r, size_t s, size_t n,
			unsigned flags, ka_paddr_t *paddr)
{
	take(fb, r, s, n);
	if (flags & KA_FALLOC_ZERO)
		zero_frames(r, s, n);
	*paddr = (r->base + s) << PSHIFT;
	return 0;
}

/* ---- ops ----------------------------------------------------------------------------------- */

static int fbm_alloc_op(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames, unsigned flags)
{
	struct ka_fbitmap *fb = to_fbm(fa);
	struct ka_fbitmap_region *r;
	uint64_t pfn;
	size_t rel;

	if (frames == 0 || (flags & ~KA_FALLOC_FLAGS_ALL))
		return KA_EINVAL;
	if (*paddr == KA_PADDR_ANY) {
		for (r = fb->regions; r; r = r->next) {
			size_t s;

			if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
				continue;
			if (frames > r->free)
				continue;
			s = search(r, 0, r->frames, frames, 1);
			if (s != NONE)
				return finish_alloc(fb, r, s, frames, flags, paddr);
		}
		return KA_ENOMEM;
	}
	if (*paddr & (KA_PAGE_SIZE - 1))
		return KA_EINVAL;
	pfn = *paddr >> PSHIFT;
	r = find_region(fb, pfn);
	if (!r)
		return KA_EFAULT;
	rel = (size_t)(pfn - r->base);
	if (frames > r->frames - rel)
		return KA_EFAULT;
	if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
		return KA_EINVAL;
	if (next_used(r, rel) - rel < frames)
		return KA_EBUSY;
	return finish_alloc(fb, r, rel, frames, flags, paddr);
}

static int fbm_alloc_range_op(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			      ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags)
{
	struct ka_fbitmap *fb = to_fbm(fa);
	uint64_t minpfn, maxpfn, a;

	if (frames == 0 || (flags & ~KA_FALLOC_FLAGS_ALL) || !ka_is_pow2(align) ||
	    align < KA_PAGE_SIZE || min > max)
		return KA_EINVAL;
	minpfn = (min >> PSHIFT) + ((min & (KA_PAGE_SIZE - 1)) != 0);
	/* KA_PADDR_INV is "no bound", not the exclusive bound 2^64 - 1 that would leave out the
	 * top frame of the physical space. */
	maxpfn = max == KA_PADDR_INV ? UINT64_MAX : max >> PSHIFT;
	a = (uint64_t)align >> PSHIFT;
	for (struct ka_fbitmap_region *r = fb->regions; r; r = r->next) {
		uint64_t lo = minpfn > r->base ? minpfn : r->base;
		uint64_t hi = r->base + r->frames;
		size_t s;

		if (maxpfn < hi)
			hi = maxpfn;
		if (lo >= hi || frames > r->free)
			continue;
		if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
			continue;
		s = search(r, (size_t)(lo - r->base), (size_t)(hi - r->base), frames, a);
		if (s != NONE)
			return finish_alloc(fb, r, s, frames, flags, paddr);
	}
	return KA_ENOMEM;
}

static int fbm_free_op(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	struct ka_fbitmap *fb = to_fbm(fa);
	uint64_t pfn;

	if (frames == 0 || (paddr & (KA_PAGE_SIZE - 1)))
		return KA_EINVAL;
	pfn = paddr >> PSHIFT;
	if ((uint64_t)frames > PFN_LIMIT - pfn)
		return KA_EINVAL;
	/* Validate every piece first so that a refused free changes nothing. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t p = pfn;
		size_t left = frames;

		while (left) {
			struct ka_fbitmap_region *r = find_region(fb, p);
			size_t rel, cnt;

			if (!r)
				return KA_EFAULT;
			rel = (size_t)(p - r->base);
			cnt = r->frames - rel < left ? r->frames - rel : left;
			if (pass == 0 && next_free(r, rel) < rel + cnt)
				return KA_EFAULT;
			if (pass == 1)
				give(fb, r, rel, cnt);
			p += cnt;
			left -= cnt;
		}
	}
	return 0;
}

/* Words per level for a region of `frames` frames; returns the number of summary levels. */
static unsigned level_words(size_t frames, size_t nwords[KA_FBM_MAX_LEVELS + 1])
{
	unsigned k = 0;

	nwords[0] = (frames >> SH) + ((frames & (W - 1)) != 0);
	while (nwords[k] > 1) {
		nwords[k + 1] = (nwords[k] >> SH) + ((nwords[k] & (W - 1)) != 0);
		k++;
	}
	return k;
}

static size_t groups_of(size_t frames)
{
	return (frames >> GSH) + ((frames & (((size_t)1 << GSH) - 1)) != 0);
}

static size_t header_size(void)
{
	return ka_align_up(sizeof(struct ka_fbitmap_region), 8);
}

static size_t fbm_metadata_size(struct ka_frame_alloc *fa, size_t frames)
{
	size_t nwords[KA_FBM_MAX_LEVELS + 1];
	size_t words, bytes;
	unsigned levels;

	(void)fa;
	if (frames == 0 || frames > KA_FBITMAP_MAX_FRAMES)
		return 0;
	levels = level_words(frames, nwords);
	words = nwords[0];
	for (unsigned k = 1; k <= levels; k++) {
		if (ka_add_overflow(words, 2 * nwords[k], &words))
			return 0;
	}
	if (ka_mul_overflow(words, sizeof(size_t), &bytes) ||
	    ka_add_overflow(bytes, header_size(), &bytes) ||
	    ka_add_overflow(bytes, ka_align_up(groups_of(frames) * sizeof(uint16_t), 8), &bytes))
		return 0;
	return bytes;
}

/* One region for ka_frame_add_conflict(). */
static const void *extent_of(const void *region, struct ka_frame_extent *e)
{
	const struct ka_fbitmap_region *r = region;

	e->base = r->base;
	e->frames = r->frames;
	e->dm_off = r->dm_off;
	e->meta = (uintptr_t)r;
	e->meta_len = r->meta_len;
	return r->next;
}

static int fbm_add_memory_op(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
			     size_t frames, uintptr_t dm_off)
{
	struct ka_fbitmap *fb = to_fbm(fa);
	struct ka_fbitmap_region *r, **link;
	struct ka_frame_extent n;
	uint64_t pfn;
	size_t *w;

	if (!metadata || ((uintptr_t)metadata & (KA_FRAME_META_ALIGN - 1)) ||
	    (paddr & (KA_PAGE_SIZE - 1)) || frames == 0 || frames > KA_FBITMAP_MAX_FRAMES)
		return KA_EINVAL;
	pfn = paddr >> PSHIFT;
	if ((uint64_t)frames > PFN_LIMIT - pfn)
		return KA_EINVAL;
	if (frames > SIZE_MAX - fa->total_frames)
		return KA_EINVAL;
	n.base = pfn;
	n.frames = frames;
	n.dm_off = dm_off;
	n.meta = (uintptr_t)metadata;
	n.meta_len = fbm_metadata_size(fa, frames);
	if (ka_frame_add_conflict(&n, fb->regions, fb->nregions, extent_of) != 0)
		return KA_EEXIST;
	/* No overlap anywhere: the place in the address-sorted list is free. */
	for (link = &fb->regions; *link && (*link)->base < pfn; link = &(*link)->next)
		;

	r = metadata;
	r->base = pfn;
	r->frames = frames;
	r->free = frames;
	r->dm_off = dm_off;
	r->meta_len = n.meta_len;
	r->levels = level_words(frames, r->nwords);
	r->classes = ka_fls(frames) + 1;
	for (unsigned j = 0; j < KA_FBM_W; j++)
		r->hint[j] = 0;
	w = (size_t *)((char *)metadata + header_size());
	r->any[0] = r->full[0] = w;
	w += r->nwords[0];
	for (unsigned k = 1; k <= r->levels; k++) {
		r->any[k] = w;
		w += r->nwords[k];
		r->full[k] = w;
		w += r->nwords[k];
		memset(r->any[k], 0, r->nwords[k] * sizeof(size_t));
		memset(r->full[k], 0xff, r->nwords[k] * sizeof(size_t));
	}
	r->ngroups = groups_of(frames);
	r->gmax = (uint16_t *)w;
	for (size_t g = 0; g < r->ngroups; g++)
		r->gmax[g] = CAP;
	memset(r->any[0], 0, r->nwords[0] * sizeof(size_t));
	bits_put(r->any[0], 0, frames, true);
	propagate(r, 0, r->nwords[0] - 1);

	r->next = *link;
	*link = r;
	fb->nregions++;
	fa->total_frames += frames;
	fa->free_frames += frames;
	return 0;
}

/* ---- checker --------------------------------------------------------------------------------- */

/* Every free run of 2^j or more frames must start at or above hint[j]. One pass over the
 * free runs, found through the summaries: O(frames / W + runs + classes). */
static void check_hints(struct ka_frame_checker *c, const struct ka_fbitmap_region *r)
{
	unsigned seen = 0; /* classes whose lowest run start is known */

	if (r->classes != ka_fls(r->frames) + 1) {
		ka_frame_report(c, "size class count corrupted", r->base);
		return;
	}
	for (size_t x = next_free(r, 0); x != NONE && seen < r->classes;) {
		size_t y = next_used(r, x);
		unsigned top = ka_fls(y - x);

		for (; seen <= top; seen++)
			if (x < r->hint[seen])
				ka_frame_report(c, "search hint above a free run of its size",
						r->base + x);
		x = next_free(r, y);
	}
}

static void check_region(struct ka_frame_checker *c, const struct ka_fbitmap_region *r)
{
	size_t nwords[KA_FBM_MAX_LEVELS + 1];
	size_t bits = 0;
	unsigned tail = (unsigned)(r->frames & (W - 1));

	if (r->frames == 0 || r->frames > KA_FBITMAP_MAX_FRAMES ||
	    level_words(r->frames, nwords) != r->levels) {
		ka_frame_report(c, "region header corrupted", r->base);
		return;
	}
	for (unsigned k = 0; k <= r->levels; k++) {
		if (nwords[k] != r->nwords[k]) {
			ka_frame_report(c, "region word counts corrupted", r->base);
			return;
		}
	}
	for (size_t j = 0; j < r->nwords[0]; j++)
		bits += popcount(r->any[0][j]);
	if (tail && (r->any[0][r->nwords[0] - 1] >> tail) != 0)
		ka_frame_report(c, "padding bits past the last frame marked free",
				r->base + r->frames);
	if (bits != r->free)
		ka_frame_report(c, "free count differs from the bitmap", r->base);
	if (r->free > r->frames)
		ka_frame_report(c, "more free frames than frames", r->base);
	check_hints(c, r);
	if (r->ngroups != groups_of(r->frames))
		ka_frame_report(c, "group count corrupted", r->base);
	else
		for (size_t g = 0; g < r->ngroups; g++)
			if (r->gmax[g] < group_maxrun(r, g))
				ka_frame_report(c, "group bound below a free run inside the group",
						r->base + ((uint64_t)g << GSH));
	for (unsigned k = 0; k < r->levels; k++) {
		size_t cap = r->nwords[k + 1] << SH;

		for (size_t j = 0; j < cap; j++) {
			bool any = j < r->nwords[k] && r->any[k][j] != 0;
			bool full = j >= r->nwords[k] || r->full[k][j] == ONES;
			/* frame number of the first frame word j of level k covers */
			unsigned sh = SH * (k + 1);
			uint64_t at = r->base + (sh < 64 ? (uint64_t)j << sh : 0);

			if (bit_get(r->any[k + 1], j) != any)
				ka_frame_report(c, "any-free summary bit wrong", at);
			if (bit_get(r->full[k + 1], j) != full)
				ka_frame_report(c, "all-free summary bit wrong", at);
		}
	}
}

/* One region for ka_frame_check_regions(). */
static const void *visit_region(struct ka_frame_checker *c, const void *region,
				struct ka_frame_region_view *v)
{
	const struct ka_fbitmap_region *r = region;

	check_region(c, r);
	v->base = r->base;
	v->frames = r->frames;
	v->free = r->free;
	return r->next;
}

static unsigned fbm_check(struct ka_frame_alloc *fa)
{
	struct ka_fbitmap *fb = to_fbm(fa);

	return ka_frame_check_regions(fa, fb->regions, fb->nregions, visit_region, extent_of);
}

KA_FRAME_IMPL(fbm_impl, fbm_alloc_op, fbm_alloc_range_op, fbm_free_op, fbm_add_memory_op,
	      fbm_metadata_size, fbm_check);

struct ka_frame_alloc *ka_fbitmap_init(struct ka_fbitmap *fb)
{
	ka_frame_init_head(&fb->fa, &fbm_impl, "fbitmap");
	fb->regions = NULL;
	fb->nregions = 0;
	return &fb->fa;
}
