/* SPDX-License-Identifier: MIT */
/*
 * Buddy frame allocator: the ka_frame_ops behind ka_fbuddy_init().
 *
 * Free memory of each region is a set of naturally aligned power-of-two blocks kept in
 * per-order free lists; two free buddies of the same order are always merged. The lists'
 * nodes, a per-frame order byte and an allocation bitmap live in the caller's metadata area
 * (fbuddy_priv.h draws the layout), so the frames themselves are never read or written
 * (except to zero them on request through the direct map).
 *
 * Any run [s, e) of frames is freed by cutting it into maximal aligned blocks and freeing each
 * with merging, which is what makes partial frees work: the allocator never remembers how a
 * run was allocated, only which frames are allocated (the bitmap, which also catches double
 * frees). Allocation at a given address ("carving") removes each free block the run overlaps
 * and gives the parts outside the run back the same way.
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/fbuddy.h"
#include "frame/fbuddy_priv.h"
#include "frame/frame_common.h"
#include "kstring.h"

#define W	  ((unsigned)(sizeof(size_t) * 8))
#define SH	  (SIZE_MAX > 0xffffffffu ? 6u : 5u)
#define NONE	  SIZE_MAX
#define ONES	  (~(size_t)0)
#define PSHIFT	  KA_CFG_PAGE_SHIFT
#define PFN_LIMIT ((uint64_t)1 << (64 - PSHIFT))
#define NIL	  KA_FBUDDY_NIL
#define NOT_HEAD  KA_FBUDDY_NOT_HEAD
#define MAX_ORDER (KA_FBUDDY_ORDERS - 1)
#define BLK(k)	  ((size_t)1 << (k))

static inline struct ka_fbuddy *to_fbd(struct ka_frame_alloc *fa)
{
	return (struct ka_fbuddy *)fa;
}

/* Trailing zeros of a 64-bit frame number without 64-bit builtins (i386); 64 for 0. */
static unsigned ctz64(uint64_t p)
{
	if (p == 0)
		return 64;
	if ((uint32_t)p)
		return ka_ffs((size_t)(uint32_t)p);
	return 32 + ka_ffs((size_t)(uint32_t)(p >> 32));
}

/* Smallest k with 2^k >= n (n >= 1). */
static unsigned ceil_log2(size_t n)
{
	return n == 1 ? 0 : ka_fls(n - 1) + 1;
}

/* ---- allocation bitmap ---------------------------------------------------------------------- */

/* First index in [pos, lim) whose bit equals v, or lim. Word at a time. */
static size_t scan(const size_t *bm, size_t pos, size_t lim, bool v)
{
	while (pos < lim) {
		size_t w = (bm[pos >> SH] ^ (v ? 0 : ONES)) & (ONES << (pos & (W - 1)));

		if (w) {
			size_t i = (pos & ~(size_t)(W - 1)) + ka_ffs(w);
			return i < lim ? i : lim;
		}
		pos = (pos | (W - 1)) + 1;
	}
	return lim;
}

/* Set bits [s, e) of bm to v (e > s). */
static void bits_put(size_t *bm, size_t s, size_t e, bool v)
{
	size_t ws = s >> SH, we = (e - 1) >> SH;

	for (size_t w = ws; w <= we; w++) {
		size_t m = ONES;

		if (w == ws)
			m &= ONES << (s & (W - 1));
		if (w == we)
			m &= ONES >> (W - 1 - ((e - 1) & (W - 1)));
		if (v)
			bm[w] |= m;
		else
			bm[w] &= ~m;
	}
}

/* ---- free lists ------------------------------------------------------------------------------ */

static void list_push(struct ka_fbuddy_region *r, size_t i, unsigned k)
{
	uint32_t h = r->head[k];

	r->link[i].next = h;
	r->link[i].prev = NIL;
	if (h != NIL)
		r->link[h].prev = (uint32_t)i;
	r->head[k] = (uint32_t)i;
	r->ord[i] = (uint8_t)k;
	r->orders |= (uint32_t)1 << k;
}

static void list_remove(struct ka_fbuddy_region *r, size_t i)
{
	unsigned k = r->ord[i];
	struct ka_fbuddy_link *l = &r->link[i];

	if (l->prev != NIL)
		r->link[l->prev].next = l->next;
	else
		r->head[k] = l->next;
	if (l->next != NIL)
		r->link[l->next].prev = l->prev;
	if (r->head[k] == NIL)
		r->orders &= ~((uint32_t)1 << k);
	r->ord[i] = NOT_HEAD;
}

/* Is the block of order k at region index i wholly inside the region? (i may be "negative"
 * as a frame number below base, which the caller excludes.) */
static inline bool in_region(const struct ka_fbuddy_region *r, uint64_t pfn, unsigned k)
{
	return pfn >= r->base && pfn - r->base <= r->frames &&
	       r->frames - (pfn - r->base) >= BLK(k);
}

/* Put the free block (i, k) on its list, merging with free buddies first. O(log N). */
static void free_block(struct ka_fbuddy_region *r, size_t i, unsigned k)
{
	while (k < MAX_ORDER) {
		uint64_t bp = (r->base + i) ^ ((uint64_t)1 << k);
		size_t bi;

		if (!in_region(r, bp, k))
			break;
		bi = (size_t)(bp - r->base);
		if (r->ord[bi] != k)
			break;
		list_remove(r, bi);
		if (bi < i)
			i = bi;
		k++;
	}
	list_push(r, i, k);
}

/* Free [s, e) (bitmap already cleared) as maximal aligned blocks, each merged. */
static void free_run(struct ka_fbuddy_region *r, size_t s, size_t e)
{
	while (s < e) {
		unsigned k = ctz64(r->base + s);
		unsigned l = ka_fls(e - s);

		if (k > l)
			k = l;
		if (k > MAX_ORDER)
			k = MAX_ORDER;
		free_block(r, s, k);
		s += BLK(k);
	}
}

/* The free block containing frame i: its head (order in *k), or NONE. O(orders). */
static size_t find_block(const struct ka_fbuddy_region *r, size_t i, unsigned *k)
{
	uint64_t pfn = r->base + i;

	for (unsigned o = 0; o <= MAX_ORDER; o++) {
		uint64_t h = pfn & ~(((uint64_t)1 << o) - 1);

		if (h < r->base)
			break;
		if (r->ord[h - r->base] == o) {
			*k = o;
			return (size_t)(h - r->base);
		}
	}
	return NONE;
}

/* Allocate [s, s+n), all free: remove each overlapping free block, give back its outside
 * parts, mark the run used. */
static void carve(struct ka_fbuddy_region *r, size_t s, size_t n)
{
	size_t i = s, e = s + n;

	while (i < e) {
		unsigned k = 0;
		size_t h = find_block(r, i, &k), end;

		if (h == NONE)
			return; /* corrupted: check() reports it; never loop */
		list_remove(r, h);
		end = h + BLK(k);
		if (h < i)
			free_run(r, h, i);
		if (end > e) {
			free_run(r, e, end);
			end = e;
		}
		i = end;
	}
	bits_put(r->used, s, e, true);
	r->free -= n;
}

/* Smallest region index >= i whose frame number is a multiple of a; NONE if it is > hi. */
static size_t align_rel(const struct ka_fbuddy_region *r, size_t i, uint64_t a, size_t hi)
{
	uint64_t q = ((r->base + i) + (a - 1)) & ~(a - 1);
	uint64_t rel = q - r->base;

	return rel > hi ? NONE : (size_t)rel;
}

/* Free-list search: a free block of order >= ceil(log2 n) holding an aligned run of n inside
 * [lo, hi). O(free blocks of those orders). */
static size_t list_search(const struct ka_fbuddy_region *r, size_t lo, size_t hi, size_t n,
			  uint64_t a)
{
	for (unsigned k = ceil_log2(n); k <= MAX_ORDER; k++) {
		if (!(r->orders & ((uint32_t)1 << k)))
			continue;
		for (uint32_t h = r->head[k]; h != NIL; h = r->link[h].next) {
			size_t blo = h > lo ? h : lo;
			size_t bhi = h + BLK(k) < hi ? h + BLK(k) : hi;
			size_t s;

			if (blo >= bhi)
				continue;
			s = align_rel(r, blo, a, bhi);
			if (s != NONE && n <= bhi - s)
				return s;
		}
	}
	return NONE;
}

/* Bitmap search: first aligned run of n free frames in [lo, hi), also across blocks that
 * are not buddies. O((hi - lo) / W + free runs met). */
static size_t scan_search(const struct ka_fbuddy_region *r, size_t lo, size_t hi, size_t n,
			  uint64_t a)
{
	size_t pos = lo;

	for (;;) {
		size_t f = scan(r->used, pos, hi, false), s, c;

		if (f >= hi)
			return NONE;
		s = align_rel(r, f, a, hi);
		if (s == NONE || n > hi - s)
			return NONE;
		c = scan(r->used, s, s + n, true);
		if (c == s + n)
			return s;
		pos = c + 1;
	}
}

static size_t search(const struct ka_fbuddy_region *r, size_t lo, size_t hi, size_t n, uint64_t a)
{
	size_t s;

	if (lo >= hi || n > hi - lo || n > r->free)
		return NONE;
	s = list_search(r, lo, hi, n, a);
	return s != NONE ? s : scan_search(r, lo, hi, n, a);
}

/* ---- ops ------------------------------------------------------------------------------------- */

static struct ka_fbuddy_region *find_region(struct ka_fbuddy *fb, uint64_t pfn)
{
	for (struct ka_fbuddy_region *r = fb->regions; r; r = r->next) {
		if (pfn < r->base)
			return NULL;
		if (pfn - r->base < r->frames)
			return r;
	}
	return NULL;
}

static int finish_alloc(struct ka_fbuddy *fb, struct ka_fbuddy_region *r, size_t s, size_t n,
			unsigned flags, ka_paddr_t *paddr)
{
	carve(r, s, n);
	fb->fa.free_frames -= n;
	if (flags & KA_FALLOC_ZERO) {
		for (size_t i = 0; i < n; i++) {
			uint64_t pa = (r->base + s + i) << PSHIFT;
			memset((void *)(uintptr_t)(pa + r->dm_off), 0, KA_PAGE_SIZE);
		}
	}
	*paddr = (r->base + s) << PSHIFT;
	return 0;
}

static int fbd_alloc_op(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames, unsigned flags)
{
	struct ka_fbuddy *fb = to_fbd(fa);
	struct ka_fbuddy_region *r;
	uint64_t pfn;
	size_t rel;

	if (frames == 0 || (flags & ~KA_FALLOC_FLAGS_ALL))
		return KA_EINVAL;
	if (*paddr == KA_PADDR_ANY) {
		struct ka_fbuddy_region *best = NULL;
		unsigned need =
		    frames > KA_FBUDDY_MAX_FRAMES ? KA_FBUDDY_ORDERS : ceil_log2(frames);
		unsigned best_k = KA_FBUDDY_ORDERS;

		/* Fast path: the smallest free block that holds the run, over all regions. */
		for (r = fb->regions; r && need <= MAX_ORDER; r = r->next) {
			uint32_t m = r->orders & ~(((uint32_t)1 << need) - 1);

			if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
				continue;
			if (m && ka_ffs(m) < best_k) {
				best_k = ka_ffs(m);
				best = r;
			}
		}
		if (best)
			return finish_alloc(fb, best, best->head[best_k], frames, flags, paddr);
		/* Complete fallback: a run across neighbouring non-buddy blocks. */
		for (r = fb->regions; r; r = r->next) {
			size_t s;

			if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
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
	if (scan(r->used, rel, rel + frames, true) != rel + frames)
		return KA_EBUSY;
	return finish_alloc(fb, r, rel, frames, flags, paddr);
}

static int fbd_alloc_range_op(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			      ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags)
{
	struct ka_fbuddy *fb = to_fbd(fa);
	uint64_t minpfn, maxpfn, a;

	if (frames == 0 || (flags & ~KA_FALLOC_FLAGS_ALL) || !ka_is_pow2(align) ||
	    align < KA_PAGE_SIZE || min > max)
		return KA_EINVAL;
	minpfn = (min >> PSHIFT) + ((min & (KA_PAGE_SIZE - 1)) != 0);
	/* KA_PADDR_INV is "no bound", not the exclusive bound 2^64 - 1 that would leave out the
	 * top frame of the physical space. */
	maxpfn = max == KA_PADDR_INV ? UINT64_MAX : max >> PSHIFT;
	a = (uint64_t)align >> PSHIFT;
	for (struct ka_fbuddy_region *r = fb->regions; r; r = r->next) {
		uint64_t lo = minpfn > r->base ? minpfn : r->base;
		uint64_t hi = r->base + r->frames;
		size_t s;

		if (maxpfn < hi)
			hi = maxpfn;
		if (lo >= hi)
			continue;
		if ((flags & KA_FALLOC_ZERO) && r->dm_off == KA_DM_NONE)
			continue;
		s = search(r, (size_t)(lo - r->base), (size_t)(hi - r->base), frames, a);
		if (s != NONE)
			return finish_alloc(fb, r, s, frames, flags, paddr);
	}
	return KA_ENOMEM;
}

static int fbd_free_op(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	struct ka_fbuddy *fb = to_fbd(fa);
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
			struct ka_fbuddy_region *r = find_region(fb, p);
			size_t rel, cnt;

			if (!r)
				return KA_EFAULT;
			rel = (size_t)(p - r->base);
			cnt = r->frames - rel < left ? r->frames - rel : left;
			if (pass == 0 && scan(r->used, rel, rel + cnt, false) != rel + cnt)
				return KA_EFAULT;
			if (pass == 1) {
				bits_put(r->used, rel, rel + cnt, false);
				free_run(r, rel, rel + cnt);
				r->free += cnt;
				fa->free_frames += cnt;
			}
			p += cnt;
			left -= cnt;
		}
	}
	return 0;
}

/* Offsets of the arrays inside a region's metadata area (bytes); false if too large. */
struct layout {
	size_t used, link, ord, total;
};

static bool layout_of(size_t frames, struct layout *l)
{
	size_t words = (frames >> SH) + ((frames & (W - 1)) != 0);
	size_t sz;

	if (frames == 0 || frames > KA_FBUDDY_MAX_FRAMES)
		return false;
	l->used = ka_align_up(sizeof(struct ka_fbuddy_region), 8);
	if (ka_mul_overflow(words, sizeof(size_t), &sz) || ka_add_overflow(l->used, sz, &l->link))
		return false;
	l->link = ka_align_up(l->link, _Alignof(struct ka_fbuddy_link));
	if (ka_mul_overflow(frames, sizeof(struct ka_fbuddy_link), &sz) ||
	    ka_add_overflow(l->link, sz, &l->ord) || ka_add_overflow(l->ord, frames, &l->total))
		return false;
	return true;
}

static size_t fbd_metadata_size(struct ka_frame_alloc *fa, size_t frames)
{
	struct layout l;

	(void)fa;
	return layout_of(frames, &l) ? l.total : 0;
}

/* One region for ka_frame_add_conflict(). */
static const void *extent_of(const void *region, struct ka_frame_extent *e)
{
	const struct ka_fbuddy_region *r = region;

	e->base = r->base;
	e->frames = r->frames;
	e->dm_off = r->dm_off;
	e->meta = (uintptr_t)r;
	e->meta_len = r->meta_len;
	return r->next;
}

static int fbd_add_memory_op(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
			     size_t frames, uintptr_t dm_off)
{
	struct ka_fbuddy *fb = to_fbd(fa);
	struct ka_fbuddy_region *r, **link;
	struct ka_frame_extent n;
	struct layout l;
	uint64_t pfn;
	size_t words;

	if (!metadata || ((uintptr_t)metadata & (KA_FRAME_META_ALIGN - 1)) ||
	    (paddr & (KA_PAGE_SIZE - 1)) || !layout_of(frames, &l))
		return KA_EINVAL;
	pfn = paddr >> PSHIFT;
	if ((uint64_t)frames > PFN_LIMIT - pfn || frames > SIZE_MAX - fa->total_frames)
		return KA_EINVAL;
	n.base = pfn;
	n.frames = frames;
	n.dm_off = dm_off;
	n.meta = (uintptr_t)metadata;
	n.meta_len = l.total;
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
	r->orders = 0;
	for (unsigned k = 0; k < KA_FBUDDY_ORDERS; k++)
		r->head[k] = NIL;
	r->used = (size_t *)((char *)metadata + l.used);
	r->link = (struct ka_fbuddy_link *)((char *)metadata + l.link);
	r->ord = (uint8_t *)metadata + l.ord;
	words = (frames >> SH) + ((frames & (W - 1)) != 0);
	memset(r->used, 0, words * sizeof(size_t));
	if (frames & (W - 1))
		bits_put(r->used, frames, words << SH, true);
	memset(r->ord, NOT_HEAD, frames);
	free_run(r, 0, frames);

	r->next = *link;
	*link = r;
	fb->nregions++;
	fa->total_frames += frames;
	fa->free_frames += frames;
	return 0;
}

/* ---- checker ------------------------------------------------------------------------------- */

static void check_region(struct ka_frame_checker *c, const struct ka_fbuddy_region *r)
{
	size_t words, blocks = 0, heads = 0, in_lists = 0, zeros = 0;

	if (r->frames == 0 || r->frames > KA_FBUDDY_MAX_FRAMES) {
		ka_frame_report(c, "region header corrupted", r->base);
		return;
	}
	words = (r->frames >> SH) + ((r->frames & (W - 1)) != 0);
	if ((r->frames & (W - 1)) && scan(r->used, r->frames, words << SH, false) != words << SH)
		ka_frame_report(c, "padding bits past the last frame marked free",
				r->base + r->frames);

	for (unsigned k = 0; k < KA_FBUDDY_ORDERS; k++) {
		uint32_t prev = NIL;
		size_t n = 0;

		if (((r->orders >> k) & 1u) != (r->head[k] != NIL))
			ka_frame_report(c, "order mask disagrees with the free list", r->base);
		for (uint32_t h = r->head[k]; h != NIL; prev = h, h = r->link[h].next) {
			uint64_t pfn = r->base + h, bp;

			if (++n > r->frames || h >= r->frames) {
				ka_frame_report(c, "free list loops or leaves the region", pfn);
				break;
			}
			if (r->link[h].prev != prev)
				ka_frame_report(c, "free list back link broken", pfn);
			if (r->ord[h] != k)
				ka_frame_report(c, "order byte differs from the list's order", pfn);
			if (pfn & (((uint64_t)1 << k) - 1))
				ka_frame_report(c, "free block misaligned", pfn);
			if (r->frames - h < BLK(k)) {
				ka_frame_report(c, "free block runs past the region", pfn);
				continue;
			}
			if (scan(r->used, h, h + BLK(k), true) != h + BLK(k))
				ka_frame_report(c, "free block holds allocated frames", pfn);
			bp = pfn ^ ((uint64_t)1 << k);
			if (k < MAX_ORDER && in_region(r, bp, k) && r->ord[bp - r->base] == k)
				ka_frame_report(c, "free buddies not merged", pfn);
			blocks++;
			in_lists += BLK(k);
		}
	}
	for (size_t i = 0; i < r->frames; i++) {
		if (r->ord[i] != NOT_HEAD) {
			heads++;
			if (r->ord[i] > MAX_ORDER)
				ka_frame_report(c, "order byte out of range", r->base + i);
		}
	}
	if (heads != blocks)
		ka_frame_report(c, "order bytes mark heads that are not on a free list", r->base);
	/* Every free frame must lie in a listed block: walk free frames block by block. */
	for (size_t i = scan(r->used, 0, r->frames, false); i < r->frames;) {
		unsigned k = 0;
		size_t h = find_block(r, i, &k), end;

		if (h == NONE) {
			ka_frame_report(c, "free frame outside every free block", r->base + i);
			zeros++;
			i = scan(r->used, i + 1, r->frames, false);
			continue;
		}
		end = h + BLK(k) < r->frames ? h + BLK(k) : r->frames;
		zeros += end - i;
		i = scan(r->used, end, r->frames, false);
	}
	if (zeros != in_lists)
		ka_frame_report(c, "free frames differ from the frames in free blocks", r->base);
	if (zeros != r->free)
		ka_frame_report(c, "free count differs from the bitmap", r->base);
}

/* One region for ka_frame_check_regions(). */
static const void *visit_region(struct ka_frame_checker *c, const void *region,
				struct ka_frame_region_view *v)
{
	const struct ka_fbuddy_region *r = region;

	check_region(c, r);
	v->base = r->base;
	v->frames = r->frames;
	v->free = r->free;
	return r->next;
}

static unsigned fbd_check(struct ka_frame_alloc *fa)
{
	struct ka_fbuddy *fb = to_fbd(fa);

	return ka_frame_check_regions(fa, fb->regions, fb->nregions, visit_region, extent_of);
}

KA_FRAME_IMPL(fbd_impl, fbd_alloc_op, fbd_alloc_range_op, fbd_free_op, fbd_add_memory_op,
	      fbd_metadata_size, fbd_check);

struct ka_frame_alloc *ka_fbuddy_init(struct ka_fbuddy *fb)
{
	ka_frame_init_head(&fb->fa, &fbd_impl, "fbuddy");
	fb->regions = NULL;
	fb->nregions = 0;
	return &fb->fa;
}
