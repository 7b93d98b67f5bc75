/* SPDX-License-Identifier: MIT */
/*
 * Hardened backend: out-of-band metadata, slot canaries, random slot choice, a poisoned FIFO
 * quarantine and guard pages for large blocks (see kalloc/hardened.h for the contract and
 * hardened_priv.h for the layout and invariants; the checker and walker are in
 * hardened_validate.c).
 *
 * Every pointer handed to free/usable_size/pfree is resolved through the page table, never
 * through anything stored next to the block, so an overflow can damage only other blocks'
 * contents, which the canaries and the poison make visible.
 */
#include "hardened_priv.h"
#include "check.h"

#if defined(__GNUC__) || defined(__clang__)
#define HD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define HD_UNLIKELY(x) (x)
#endif
#if defined(__GNUC__) || defined(__clang__)
#define HD_INLINE inline __attribute__((always_inline))
#else
#define HD_INLINE inline
#endif

static const struct ka_alloc_ops hardened_ops;

/* Size classes (see hd_class_size()): 16..128 in steps of 16, then 2^f + k * 2^(f-2). */
const uint16_t ka_hd_class_sizes[HD_NCLS] = {
    16,	 32,  48,  64,	 80,   96,   112,  128,	 160,  192,  224,  256,	 320,  384,  448,  512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192};

/* ka_hd_class_of16[i]: the smallest class of at least 16 * i bytes (i = 0 maps to class 0). */
const uint8_t ka_hd_class_of16[HD_MAX_CLASS / 16 + 1] = {
    0,	0,  1,	2,  3,	4,  5,	6,  7,	8,  8,	9,  9,	10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13,
    13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20,
    20, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21,
    21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24,
    24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25,
    25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25,
    25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
    26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
    27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29,
    29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29,
    29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29,
    29, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30,
    30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31};

/* All bytes equal the first, and the first is the poison: one memcmp of the range against
 * itself shifted by a byte, no reference buffer. */
bool ka_hd_poisoned(const void *p, size_t n)
{
	const unsigned char *b = p;

	return n == 0 || (b[0] == HD_POISON && memcmp(b, b + 1, n - 1) == 0);
}

/* A canary page repeats one keyed value (of the page's address): one multiply per page, and
 * an overflow cannot forge it without the heap's secret. */
static void canary_page_fill(const struct ka_hardened *h, uintptr_t page)
{
	uint64_t c = hd_canary(h->secret, page);

	for (uintptr_t w = page; w < page + HD_PAGE; w += 8)
		memcpy((void *)w, &c, 8);
}

bool ka_hd_canary_page_ok(const struct ka_hardened *h, uintptr_t page)
{
	uint64_t c = hd_canary(h->secret, page), diff = 0;

	for (uintptr_t w = page; w < page + HD_PAGE; w += 8) {
		uint64_t v;
		memcpy(&v, (const void *)w, 8);
		diff |= v ^ c;
	}
	return diff == 0;
}

static uint32_t rnd32(struct ka_hardened *h)
{
	uint64_t x = h->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1du) >> 32);
}

/* ---- the free-page pool ------------------------------------------------------------------ */

static void pages_mark(struct ka_hardened *h, size_t pg, size_t n, bool free)
{
	for (size_t i = pg; i < pg + n; i++) {
		size_t bit = (size_t)1 << (i % HD_WBITS);
		if (free)
			h->freemap[i / HD_WBITS] |= bit;
		else
			h->freemap[i / HD_WBITS] &= ~bit;
	}
	if (free)
		h->free_pages += n;
	else
		h->free_pages -= n;
}

/* First page >= from whose free bit equals `want`, or npages. */
static size_t next_page(const struct ka_hardened *h, size_t from, bool want)
{
	while (from < h->npages) {
		size_t w = h->freemap[from / HD_WBITS];
		if (!want)
			w = ~w;
		w &= ~(size_t)0 << (from % HD_WBITS);
		if (w) {
			size_t i = from - from % HD_WBITS + ka_ffs(w);
			return i < h->npages ? i : h->npages;
		}
		from = from - from % HD_WBITS + HD_WBITS;
	}
	return h->npages;
}

/*
 * First fit: the lowest run of n free pages whose first page's address is a multiple of
 * align (a power of two >= HD_PAGE). Returns its index or SIZE_MAX. O(bitmap words + free
 * ranges): placement of whole pages is not randomised (it would fragment the page pool).
 */
static size_t find_pages(const struct ka_hardened *h, size_t n, size_t align)
{
	size_t apg = align >> HD_SHIFT, base = h->arena >> HD_SHIFT;

	for (size_t s = next_page(h, 0, true); s < h->npages;) {
		size_t e = next_page(h, s, false);
		size_t a = s + ((apg - ((base + s) & (apg - 1))) & (apg - 1));
		if (a < e && e - a >= n)
			return a;
		s = next_page(h, e, true);
	}
	return SIZE_MAX;
}

/* Longest run of free pages (for info). O(bitmap words + free ranges). */
static size_t longest_free(const struct ka_hardened *h)
{
	size_t best = 0;

	for (size_t s = next_page(h, 0, true); s < h->npages;) {
		size_t e = next_page(h, s, false);
		if (e - s > best)
			best = e - s;
		s = next_page(h, e, true);
	}
	return best;
}

/* ---- runs -------------------------------------------------------------------------------- */

static void partial_push(struct ka_hardened *h, int32_t ri)
{
	struct hd_run *r = &h->runs[ri];
	int32_t head = h->partial[r->cls];

	r->prev = -1;
	r->next = head;
	if (head >= 0)
		h->runs[head].prev = ri;
	h->partial[r->cls] = ri;
}

static void partial_unlink(struct ka_hardened *h, int32_t ri)
{
	struct hd_run *r = &h->runs[ri];

	if (r->prev >= 0)
		h->runs[r->prev].next = r->next;
	else
		h->partial[r->cls] = r->next;
	if (r->next >= 0)
		h->runs[r->next].prev = r->prev;
	r->next = r->prev = -1;
}

static int32_t run_new(struct ka_hardened *h, unsigned cls)
{
	size_t np = hd_run_pages(cls), pg;
	int32_t ri = h->unused_runs;
	struct hd_run *r;

	if (ri < 0 && h->runs_hw == h->nruns)
		return -1;
	pg = find_pages(h, np, HD_PAGE);
	if (pg == SIZE_MAX)
		return -1;
	/* Released descriptors first; then the next never-used one (the table is not touched
	 * at init, so a large heap costs no memory for descriptors it never uses). */
	if (ri >= 0) {
		r = &h->runs[ri];
		h->unused_runs = r->next;
	} else {
		ri = (int32_t)h->runs_hw++;
		r = &h->runs[ri];
	}
	h->runs_in_use++;
	pages_mark(h, pg, np, false);
	for (size_t i = 0; i < np; i++)
		h->pm[pg + i].w = HD_PG(HD_PG_RUN, (uint32_t)ri);
	r->first = (uint32_t)pg;
	r->npages = (uint32_t)np;
	r->cls = cls;
	r->nslots = hd_run_slots(cls);
	r->nfree = r->nslots;
	r->nlive = 0;
	for (size_t w = 0; w < HD_MAP_WORDS; w++) {
		size_t lo = w * HD_WBITS;
		r->live[w] = 0;
		if (lo + HD_WBITS <= r->nslots)
			r->used[w] = 0;
		else if (lo >= r->nslots)
			r->used[w] = ~(size_t)0;
		else
			r->used[w] = ~(size_t)0 << (r->nslots - lo);
	}
	/* Free slots always hold poison: what a slot holds when handed out is checked. */
	memset((void *)hd_page_addr(h, pg), HD_POISON, np * HD_PAGE);
	h->slot_avail += (size_t)r->nslots * (hd_class_size(cls) - HD_CANARY);
	h->nempty[cls]++;
	partial_push(h, ri);
	return ri;
}

static void run_release(struct ka_hardened *h, int32_t ri)
{
	struct hd_run *r = &h->runs[ri];

	partial_unlink(h, ri);
	for (size_t i = 0; i < r->npages; i++)
		h->pm[r->first + i].w = HD_PG(HD_PG_FREE, 0);
	pages_mark(h, r->first, r->npages, true);
	h->slot_avail -= (size_t)r->nslots * (hd_class_size(r->cls) - HD_CANARY);
	h->nempty[r->cls]--;
	r->cls = HD_NCLS;
	r->next = h->unused_runs;
	h->unused_runs = ri;
	h->runs_in_use--;
}

/* ---- pointer resolution ------------------------------------------------------------------ */

struct hd_ref {
	struct hd_run *run; /* NULL for a large block */
	size_t slot;	    /* slot index, or the head page of a large block */
};

/*
 * Resolve a pointer the caller says is a live block, or report the misuse. Everything read
 * here is out-of-band metadata: the pointer is checked against the arena's bounds before any
 * table lookup, and table contents are range-checked before they are used as indices.
 */
static struct hd_ref resolve(struct ka_hardened *h, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr, off = p - h->arena;
	struct hd_ref ref = {NULL, 0};
	size_t pg;
	uint32_t w;

	if (HD_UNLIKELY(off >= h->arena_len))
		ka_misuse(&h->base, "pointer not from this heap (stack, global or foreign)", ptr);
	if (HD_UNLIKELY(p & (HD_SLOT_ALIGN - 1)))
		ka_misuse(&h->base, "misaligned pointer (not the start of a block)", ptr);
	pg = off >> HD_SHIFT;
	w = h->pm[pg].w;
	switch (HD_PG_KIND(w)) {
	case HD_PG_RUN: {
		struct hd_run *r;
		size_t roff, cs, s;

		if (HD_UNLIKELY(HD_PG_LOW(w) >= h->runs_hw))
			break;
		r = &h->runs[HD_PG_LOW(w)];
		if (HD_UNLIKELY(r->cls >= HD_NCLS || pg - r->first >= r->npages))
			break;
		cs = hd_class_size(r->cls);
		roff = p - hd_page_addr(h, r->first);
		s = hd_slot_index(h, r->cls, roff);
		if (HD_UNLIKELY(s * cs != roff || s >= r->nslots))
			ka_misuse(&h->base, "interior pointer (not the start of a block)", ptr);
		if (HD_UNLIKELY(!((r->live[s / HD_WBITS] >> (s % HD_WBITS)) & 1u))) {
			if ((r->used[s / HD_WBITS] >> (s % HD_WBITS)) & 1u)
				ka_misuse(&h->base,
					  "double free or use after free (block is in quarantine)",
					  ptr);
			ka_misuse(&h->base, "double free or use after free (block is free)", ptr);
		}
		ref.run = r;
		ref.slot = s;
		return ref;
	}
	case HD_PG_LARGE:
		if (HD_UNLIKELY(p & (HD_PAGE - 1)))
			ka_misuse(&h->base, "interior pointer (not the start of a block)", ptr);
		if (HD_UNLIKELY(h->pm[pg].aux & HD_L_QUAR))
			ka_misuse(&h->base,
				  "double free or use after free (block is in quarantine)", ptr);
		ref.slot = pg;
		return ref;
	case HD_PG_BODY:
	case HD_PG_TRAIL:
		ka_misuse(&h->base, "interior pointer (not the start of a block)", ptr);
	case HD_PG_FREE:
		ka_misuse(&h->base, "double free or use after free (memory is free)", ptr);
	default:
		break;
	}
	ka_misuse(&h->base, "corrupted page table", ptr);
}

/* ---- quarantine -------------------------------------------------------------------------- */

static void slot_release(struct ka_hardened *h, struct hd_run *r, size_t s)
{
	int32_t ri = (int32_t)(r - h->runs);

	r->used[s / HD_WBITS] &= ~((size_t)1 << (s % HD_WBITS));
	r->nfree++;
	h->slot_avail += hd_class_size(r->cls) - HD_CANARY;
	if (r->nfree == 1)
		partial_push(h, ri);
	if (r->nfree == r->nslots) {
		/* Keep one empty run per class: a malloc/free pair at a run boundary would
		 * otherwise create (and poison) a run every time. */
		h->nempty[r->cls]++;
		if (h->nempty[r->cls] > 1)
			run_release(h, ri);
	}
}

static void large_release(struct ka_hardened *h, size_t pg)
{
	size_t n = HD_PG_LOW(h->pm[pg].w);

	for (size_t i = 0; i <= n; i++)
		h->pm[pg + i] = (struct hd_page){HD_PG(HD_PG_FREE, 0), 0};
	pages_mark(h, pg, n + 1, true);
	h->large_live--;
}

/*
 * Verify one quarantined block: the entry must name a quarantined slot or large block, and
 * its poison must be intact (whole slot; a large block's poisoned prefix). Returns the run of
 * a slot (its index in *slot) or NULL for a large block (its head page in *slot).
 */
static HD_INLINE struct hd_run *quarantine_check(struct ka_hardened *h, void *p, size_t *slot,
						 const char *what)
{
	uintptr_t off = (uintptr_t)p - h->arena;
	size_t pg = off >> HD_SHIFT;
	uint32_t w;

	if (HD_UNLIKELY(off >= h->arena_len))
		ka_misuse(&h->base, "corrupted quarantine entry", p);
	w = h->pm[pg].w;
	if (HD_PG_KIND(w) == HD_PG_RUN && HD_PG_LOW(w) < h->runs_hw &&
	    h->runs[HD_PG_LOW(w)].cls < HD_NCLS) {
		struct hd_run *r = &h->runs[HD_PG_LOW(w)];
		size_t cs = hd_class_size(r->cls);
		size_t roff = (uintptr_t)p - hd_page_addr(h, r->first);
		size_t s = hd_slot_index(h, r->cls, roff);

		if (HD_UNLIKELY(s >= r->nslots || s * cs != roff ||
				((r->live[s / HD_WBITS] >> (s % HD_WBITS)) & 1u) ||
				!((r->used[s / HD_WBITS] >> (s % HD_WBITS)) & 1u)))
			ka_misuse(&h->base, "corrupted quarantine entry", p);
		if (HD_UNLIKELY(!ka_hd_poisoned(p, cs)))
			ka_misuse(&h->base, what, p);
		*slot = s;
		return r;
	}
	if (HD_UNLIKELY(HD_PG_KIND(w) != HD_PG_LARGE || !(h->pm[pg].aux & HD_L_QUAR)))
		ka_misuse(&h->base, "corrupted quarantine entry", p);
	if (HD_UNLIKELY(!ka_hd_poisoned(p, hd_large_poison(HD_PG_LOW(w)))))
		ka_misuse(&h->base, what, p);
	*slot = pg;
	return NULL;
}

/* The oldest block leaves quarantine: its poison must be intact, then it becomes reusable. */
static void quarantine_evict(struct ka_hardened *h)
{
	void *p = h->quar[h->qhead];
	size_t s;
	struct hd_run *r;

	h->qhead = (h->qhead + 1) % HD_QCAP;
	h->qlen--;
	h->quarantine_checked++;
	r = quarantine_check(h, p, &s, "write after free (poison changed in quarantine)");
	if (r) {
		h->qbytes -= hd_class_size(r->cls);
		slot_release(h, r, s);
		return;
	}
	h->qbytes -= (size_t)HD_PG_LOW(h->pm[s].w) * HD_PAGE;
	large_release(h, s);
}

static void quarantine_push(struct ka_hardened *h, void *p, size_t bytes)
{
	while (h->qlen > 0 && (h->qlen == HD_QCAP || h->qbytes + bytes > h->qbytes_max))
		quarantine_evict(h);
	h->quar[(h->qhead + h->qlen) % HD_QCAP] = p;
	h->qlen++;
	h->qbytes += bytes;
}

/*
 * A request is about to fail: empty the quarantine (checking every block) and give every
 * empty run back to the page pool, so that delayed reuse never turns into an out-of-memory.
 * Returns whether anything was reclaimed.
 */
static bool reclaim(struct ka_hardened *h)
{
	bool any = h->qlen > 0;

	if (any)
		h->quarantine_drains++;
	while (h->qlen > 0)
		quarantine_evict(h);
	for (uint32_t i = 0; i < h->runs_hw; i++) {
		struct hd_run *r = &h->runs[i];
		if (r->cls < HD_NCLS && r->nfree == r->nslots) {
			run_release(h, (int32_t)i);
			any = true;
		}
	}
	return any;
}

/* ---- allocation -------------------------------------------------------------------------- */

/* Canary after the n requested bytes and the tail of a slot handed out (the rest of the gap
 * keeps the poison the slot was verified to hold). */
static void slot_mark(struct ka_hardened *h, unsigned char *p, size_t cs, size_t n)
{
	uint64_t c = hd_canary(h->secret, (uintptr_t)p + n);
	uint64_t t = hd_tail_make(h->secret, (uintptr_t)p + cs - HD_CANARY, n);

	/* Eight bytes always fit before the slot's end (n + HD_CANARY <= cs); the tail then
	 * overwrites the part of them that is not gap. */
	memcpy(p + n, &c, 8);
	memcpy(p + cs - HD_CANARY, &t, 8);
}

/* Inline into region_alloc, the one caller (twice inlined: plain and sized alloc). */
static HD_INLINE void *slot_take(struct ka_hardened *h, unsigned cls, size_t n)
{
	int32_t ri = h->partial[cls];
	struct hd_run *r;
	size_t s, cs = hd_class_size(cls);
	void *p;

	if (ri < 0 && (ri = run_new(h, cls)) < 0)
		return NULL;
	r = &h->runs[ri];
	/* A random free slot: from a random index, the first free one (wrapping around). */
	s = (size_t)(((uint64_t)rnd32(h) * r->nslots) >> 32);
	{
		size_t sw = s / HD_WBITS, m = ~r->used[sw] & (~(size_t)0 << (s % HD_WBITS));
		size_t i = 0, wi = sw, nw = (r->nslots + HD_WBITS - 1) / HD_WBITS;

		/* Only the run's own words: those past nslots are all used. */
		while (!m && ++i <= nw) {
			wi = sw + i < nw ? sw + i : sw + i - nw;
			m = ~r->used[wi];
		}
		if (HD_UNLIKELY(!m))
			ka_misuse(&h->base, "corrupted run bitmap",
				  (void *)hd_page_addr(h, r->first));
		s = wi * HD_WBITS + ka_ffs(m);
	}
	p = (void *)(hd_page_addr(h, r->first) + s * cs);
	if (HD_UNLIKELY(!ka_hd_poisoned(p, cs)))
		ka_misuse(&h->base, "write after free (poison of a free slot changed)", p);
	if (r->nfree == r->nslots)
		h->nempty[cls]--;
	r->used[s / HD_WBITS] |= (size_t)1 << (s % HD_WBITS);
	r->live[s / HD_WBITS] |= (size_t)1 << (s % HD_WBITS);
	r->nfree--;
	r->nlive++;
	h->slot_avail -= cs - HD_CANARY;
	if (r->nfree == 0)
		partial_unlink(h, ri);
	slot_mark(h, p, cs, n);
	return p;
}

static void note_fallback(struct ka_hardened *h, const char *why)
{
	h->guard_fallbacks++;
	if (!h->warned) {
		h->warned = true;
		ka_plat_log(KA_LOG_WARN, why);
	}
}

/* n pages plus a trailer page (a guard where possible, else a canary page). */
static void *large_take(struct ka_hardened *h, size_t n, size_t align, uint32_t flags)
{
	size_t pg;
	uintptr_t addr, trailer;

	if (n >= HD_MAX_PAGES || n + 1 > h->npages)
		return NULL;
	pg = find_pages(h, n + 1, align);
	if (pg == SIZE_MAX)
		return NULL;
	pages_mark(h, pg, n + 1, false);
	h->pm[pg] = (struct hd_page){HD_PG(HD_PG_LARGE, n), flags};
	for (size_t i = 1; i < n; i++)
		h->pm[pg + i] = (struct hd_page){HD_PG(HD_PG_BODY, i), 0};
	h->pm[pg + n] = (struct hd_page){HD_PG(HD_PG_TRAIL, n), 0};
	addr = hd_page_addr(h, pg);
	trailer = addr + n * HD_PAGE;
	h->large_live++;
	if (h->guards_ok && h->head->heap_guards < h->head->guard_limit) {
		if (ka_plat_page_protect((void *)trailer, HD_PAGE, 0) == 0) {
			h->pm[pg].aux |= HD_L_GUARD;
			h->guards_live++;
			h->head->heap_guards++;
			h->guards_made++;
			return (void *)addr;
		}
		note_fallback(h, "kalloc: hardened: the platform refused a guard page; large "
				 "blocks get canary pages instead");
	} else if (h->guards_ok) {
		note_fallback(h, "kalloc: hardened: guard page limit reached; large blocks get "
				 "canary pages instead");
	} else {
		h->guard_fallbacks++;
	}
	canary_page_fill(h, trailer);
	return (void *)addr;
}

/* The statistics of alloc_counted (req != 0; 0: alloc) where the block is known, with what
 * usable_size() will report: the requested size of a slot, the pages of a large block. */
static HD_INLINE void count_alloc(struct ka_hardened *h, size_t req, size_t usable)
{
#if KA_CFG_STATS
	if (req)
		ka_count_alloc(&h->base.ctr, req, usable);
#else
	(void)h;
	(void)req;
	(void)usable;
#endif
}

/* Inline into both the plain and the counted alloc, as it was into the one before. */
static HD_INLINE void *region_alloc(struct ka_hardened *h, struct ka_hardened *first, size_t size,
				    size_t align, size_t req)
{
	size_t np = (size + HD_PAGE - 1) >> HD_SHIFT;

	void *p;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (align <= HD_PAGE && size <= KA_HARDENED_MAX_SMALL) {
			/* A class whose slots are multiples of align: every slot is then aligned,
			 * as runs start on a page. Powers of two are classes, so one exists. */
			unsigned c =
			    hd_class_of(size + HD_CANARY < align ? align : size + HD_CANARY);
			/* Every class is a multiple of HD_SLOT_ALIGN: no search for malloc's. */
			while (align > HD_SLOT_ALIGN && c < HD_NCLS &&
			       (hd_class_size(c) & (align - 1)) != 0)
				c++;
			if (c < HD_NCLS && (p = slot_take(h, c, size)) != NULL) {
				count_alloc(first, req, size);
				return p;
			}
		}
		p = large_take(h, np, align < HD_PAGE ? HD_PAGE : align, 0);
		if (p) {
			count_alloc(first, req, np << HD_SHIFT);
			return p;
		}
		if (!reclaim(h))
			return NULL;
	}
	return NULL;
}

static void *region_palloc(struct ka_hardened *h, size_t npages, size_t align)
{
	void *p = large_take(h, npages, align, HD_L_PAGES);

	if (!p && reclaim(h))
		p = large_take(h, npages, align, HD_L_PAGES);
	return p;
}

/* Regions in the order they were added: the first keeps the hot data, later ones serve
 * what it cannot (each drains its own quarantine before giving up). O(regions). */
static HD_INLINE void *alloc_impl(struct ka_alloc *a, size_t size, size_t align, size_t req)
{
	void *p = NULL;

	for (struct ka_hardened *h = hd_of(a); h && !p; h = h->next)
		p = region_alloc(h, hd_of(a), size, align, req);
#if KA_CFG_STATS
	if (!p && req)
		a->stats.nb_enomem++;
#endif
	return p;
}

static void *hd_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	void *p = NULL;

	for (struct ka_hardened *h = hd_of(a); h && !p; h = h->next)
		p = region_palloc(h, npages, align);
	return p;
}

/* The region whose arena holds ptr; the first region for a pointer in none, so that its
 * resolve() reports the foreign pointer. */
static struct ka_hardened *region_of(struct ka_alloc *a, const void *ptr)
{
	struct ka_hardened *first = hd_of(a);

	for (struct ka_hardened *h = first; h; h = h->next)
		if ((uintptr_t)ptr - h->arena < h->arena_len)
			return h;
	return first;
}

/* Returns the block's usable size (its pages). */
static size_t large_free(struct ka_hardened *h, void *ptr, size_t pg)
{
	struct hd_page *e = &h->pm[pg];
	size_t n = HD_PG_LOW(e->w);

	if (!(e->aux & (HD_L_GUARD | HD_L_OPEN)) &&
	    HD_UNLIKELY(!ka_hd_canary_page_ok(h, hd_page_addr(h, pg) + n * HD_PAGE)))
		ka_misuse(&h->base, "canary page overwritten (overflow past the end of the block)",
			  ptr);
	/* Protected pages live only as long as their block: a heap whose blocks are all freed
	 * leaves its region fully accessible, so callers may abandon it and reuse the memory
	 * (as they may with every other backend). The trailer is left unchecked from then on. */
	if (e->aux & HD_L_GUARD) {
		uintptr_t trailer = hd_page_addr(h, pg) + n * HD_PAGE;
		ka_plat_page_protect((void *)trailer, HD_PAGE, 1);
		e->aux = (e->aux & ~HD_L_GUARD) | HD_L_OPEN;
		h->guards_live--;
		h->head->heap_guards--;
	}
	e->aux |= HD_L_QUAR;
	memset(ptr, HD_POISON, hd_large_poison(n));
	quarantine_push(h, ptr, n * HD_PAGE);
	return n * HD_PAGE;
}

/*
 * The checks of a live slot at free and realloc, the call that did the damage: its tail (the
 * requested size n), the canary right after the n bytes, and the next slot of the run: a live
 * one by its tail, a free or quarantined one by its first 16 bytes of poison. Returns n. O(1).
 * The poison between canary and tail is not read (a linear overflow meets the canary
 * first).
 */
#define HD_POISON_WORD (0x0101010101010101u * HD_POISON)
static bool poison_probe(uintptr_t q)
{
	uint64_t v[2];

	memcpy(v, (const void *)q, 16);
	return ((v[0] ^ HD_POISON_WORD) | (v[1] ^ HD_POISON_WORD)) == 0;
}

static size_t slot_verify(struct ka_hardened *h, const struct hd_run *r, size_t s, void *ptr)
{
	size_t cs = hd_class_size(r->cls), n = hd_tail_size(h->secret, (uintptr_t)ptr, cs), k;
	unsigned char *p = ptr;
	uint64_t t;

	if (HD_UNLIKELY(n == 0))
		ka_misuse(&h->base, "slot tail overwritten (overflow past the end of the block)",
			  ptr);
	k = hd_gap_canary(cs, n);
	memcpy(&t, p + cs - HD_CANARY, 8);
	if (HD_UNLIKELY(!hd_gap_ok(h->secret, (uintptr_t)p + n, k, t)))
		ka_misuse(&h->base, "canary overwritten (overflow past the end of the block)", ptr);
	if (s + 1 < r->nslots) {
		uintptr_t q = (uintptr_t)p + cs;
		if ((r->live[(s + 1) / HD_WBITS] >> ((s + 1) % HD_WBITS)) & 1u) {
			if (HD_UNLIKELY(hd_tail_size(h->secret, q, cs) == 0))
				ka_misuse(&h->base,
					  "tail of the next block overwritten (overflow from this "
					  "block or the next)",
					  ptr);
		} else if (HD_UNLIKELY(!poison_probe(q))) {
			ka_misuse(
			    &h->base,
			    "free slot after the block overwritten (overflow past its end, or "
			    "write after free)",
			    ptr);
		}
	}
	return n;
}

/* Shared by free and free_counted: returns the usable size the block had. */
static HD_INLINE size_t free_impl(struct ka_alloc *a, void *ptr)
{
	struct ka_hardened *h = region_of(a, ptr);
	struct hd_ref ref = resolve(h, ptr);

	if (!ref.run) {
		if (HD_UNLIKELY(h->pm[ref.slot].aux & HD_L_PAGES))
			ka_misuse(a, "ka_free of a block from ka_palloc (use ka_pfree)", ptr);
		return large_free(h, ptr, ref.slot);
	}
	struct hd_run *r = ref.run;
	size_t s = ref.slot, cs = hd_class_size(r->cls);
	size_t n = slot_verify(h, r, s, ptr);

	r->live[s / HD_WBITS] &= ~((size_t)1 << (s % HD_WBITS));
	r->nlive--;
	/* The whole slot in one call (cheaper than data and tail apart). A stray write into
	 * the padding between canary and tail is erased here, not reported: only a write that
	 * skips the canary gets there, and a linear overflow meets the canary first. */
	memset(ptr, HD_POISON, cs);
	quarantine_push(h, ptr, cs);
	return n;
}

/* Size builds keep one allocation body, speed builds inline it into both entries. */
#ifdef __OPTIMIZE_SIZE__
static void *alloc_any(struct ka_alloc *a, size_t size, size_t align, size_t req)
{
	return alloc_impl(a, size, align, req);
}
#else
#define alloc_any alloc_impl
#endif

/* Without statistics the generic layer never calls the counted entries: they are left out. */
#if KA_CFG_STATS
static size_t hd_free_sized(struct ka_alloc *a, void *ptr)
{
	return free_impl(a, ptr);
}

static void *hd_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	if (size == 0) /* size >= 1 (alloc_impl.h): the counting needs no test */
		__builtin_unreachable();
	return alloc_any(a, size, align, size);
}

static void hd_free_counted(struct ka_alloc *a, void *ptr)
{
	ka_stats_free_done(a, hd_free_sized(a, ptr));
}
#endif

static void *hd_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	return alloc_any(a, size, align, 0);
}

/* Size builds with statistics keep one free body: the plain entry calls the sized one (as in
 * tlsf.c); speed builds inline the body into both. */
#if defined(__OPTIMIZE_SIZE__) && KA_CFG_STATS
static void hd_free(struct ka_alloc *a, void *ptr)
{
	hd_free_sized(a, ptr);
}
#else
static void hd_free(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr);
}
#endif

/*
 * In place when the new size needs the same class (the canary and tail move to the new end,
 * so an overflow past the new size is caught as at free); a large block stays when its page
 * count would not change; otherwise alloc, copy, free (which checks the old block). Either
 * way the old block is checked first, as realloc is also a call that can reveal damage.
 */
static void *hd_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct ka_hardened *h = region_of(a, ptr);
	struct hd_ref ref = resolve(h, ptr);
	size_t old;
	void *q;

	if (ref.run) {
		size_t cs = hd_class_size(ref.run->cls);

		old = slot_verify(h, ref.run, ref.slot, ptr);
		if (size <= KA_HARDENED_MAX_SMALL &&
		    hd_class_of(size + HD_CANARY) == ref.run->cls) {
			if (size < old + hd_gap_canary(cs, old))
				memset((char *)ptr + size, HD_POISON,
				       old + hd_gap_canary(cs, old) - size);
			slot_mark(h, ptr, cs, size);
			return ptr;
		}
	} else {
		if (HD_UNLIKELY(h->pm[ref.slot].aux & HD_L_PAGES))
			ka_misuse(a, "ka_realloc of a block from ka_palloc", ptr);
		old = (size_t)HD_PG_LOW(h->pm[ref.slot].w) << HD_SHIFT;
		if (size > KA_HARDENED_MAX_SMALL && size <= old && size > old - HD_PAGE)
			return ptr;
	}
	q = hd_alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!q)
		return NULL;
	memcpy(q, ptr, size < old ? size : old);
	hd_free(a, ptr);
	return q;
}

static void hd_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct ka_hardened *h = region_of(a, ptr);
	struct hd_ref ref = resolve(h, ptr);

	if (ref.run || !(h->pm[ref.slot].aux & HD_L_PAGES))
		ka_misuse(a, "ka_pfree of a block from ka_malloc (use ka_free)", ptr);
	if (HD_PG_LOW(h->pm[ref.slot].w) != npages)
		ka_misuse(a, "pfree with the wrong page count", ptr);
	large_free(h, ptr, ref.slot);
}

static size_t hd_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_hardened *h = region_of(a, ptr);
	struct hd_ref ref = resolve(h, ptr);

	size_t cs, n;

	if (!ref.run)
		return (size_t)HD_PG_LOW(h->pm[ref.slot].w) << HD_SHIFT;
	cs = hd_class_size(ref.run->cls);
	n = hd_tail_size(h->secret, (uintptr_t)ptr, cs);
	if (HD_UNLIKELY(n == 0))
		ka_misuse(a, "slot tail overwritten (overflow past the end of the block)", ptr);
	return n;
}

/* ---- figures, ownership ------------------------------------------------------------------ */

static void region_info(struct ka_hardened *h, struct ka_info *out)
{
	size_t longest = longest_free(h), small = 0;

	out->total = h->region_end - h->region_start;
	out->meta = h->meta;
	out->avail = h->free_pages * HD_PAGE + h->slot_avail;
	/* Guaranteed sizes only: a large block needs its pages plus the trailer; a small one a
	 * free slot of its class or room for a new run. */
	for (unsigned c = HD_NCLS; c-- > 0;)
		if (h->partial[c] >= 0 || hd_run_pages(c) <= longest) {
			small = hd_class_size(c) - HD_CANARY;
			break;
		}
	out->maxalloc = longest >= 2 ? (longest - 1) * HD_PAGE : 0;
	if (small > out->maxalloc)
		out->maxalloc = small;
}

static void hd_info(struct ka_alloc *a, struct ka_info *out)
{
	region_info(hd_of(a), out);
	for (struct ka_hardened *h = hd_of(a)->next; h; h = h->next) {
		struct ka_info r;

		region_info(h, &r);
		out->total += r.total;
		out->meta += r.meta;
		out->avail += r.avail;
		if (r.maxalloc > out->maxalloc)
			out->maxalloc = r.maxalloc;
	}
}

static bool hd_owns(struct ka_alloc *a, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;

	for (struct ka_hardened *h = hd_of(a); h; h = h->next)
		if (p >= h->region_start && p < h->region_end)
			return true;
	return false;
}

static int hd_add_memory(struct ka_alloc *a, void *base, size_t len);

#if !KA_CFG_MINIMAL
static int hd_sweep(struct ka_alloc *a)
{
	return ka_hardened_sweep(a);
}
#endif

/* In hardened_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). */
KA_CHECKER_REF unsigned ka_hardened_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_hardened_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

static const struct ka_alloc_ops hardened_ops = {
    .alloc = hd_alloc,
#if KA_CFG_STATS
    .alloc_counted = hd_alloc_counted,
    .free_counted = hd_free_counted,
#endif
    .free = hd_free,
    .usable_size = hd_usable_size,
    .realloc = hd_realloc,
    .palloc = hd_palloc,
    .pfree = hd_pfree,
    .info = hd_info,
    .check = ka_hardened_check_impl,
    .walk = ka_hardened_walk_impl,
    .owns = hd_owns,
#if !KA_CFG_MINIMAL
    .sweep = hd_sweep,
#endif
    .add_memory = hd_add_memory,
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_WALK | KA_CAP_OWNS,
};

/* ---- setup ------------------------------------------------------------------------------- */

#define HD_CTRL_SIZE (sizeof(struct ka_hardened) + 63)

/* Metadata bytes for an arena of n pages: page table, free bitmap, run table, alignment. */
#define HD_META_BYTES(n)                                                                           \
	((n) * sizeof(struct hd_page) + ((n) + HD_WBITS - 1) / HD_WBITS * sizeof(size_t) +         \
	 ((n) / HD_RUN_MIN_PAGES + 1) * sizeof(struct hd_run) + 3 * 16)

/* Control and metadata for the minimum arena, the page-alignment slack, the guard, the arena. */
#define HD_MIN_SIZE                                                                                \
	(HD_CTRL_SIZE + HD_META_BYTES(HD_MIN_PAGES) + 2 * HD_PAGE + HD_MIN_PAGES * HD_PAGE)

size_t ka_hardened_min_size(void)
{
	return HD_MIN_SIZE;
}

/* Arena start and end for an arena of n pages whose control structure is at c; returns the
 * end (0 on overflow). */
static uintptr_t layout_end(uintptr_t c, size_t n, uintptr_t *arena)
{
	uintptr_t m = c + sizeof(struct ka_hardened), e;

	if (ka_add_overflow(m, HD_META_BYTES(n) + 2 * HD_PAGE, &e))
		return 0;
	*arena = ka_align_up(e - 2 * HD_PAGE, HD_PAGE) + HD_PAGE;
	if (ka_add_overflow(*arena, n * HD_PAGE, &e))
		return 0;
	return e;
}

static uintptr_t carve(uintptr_t *cur, size_t bytes)
{
	uintptr_t p = ka_align_up(*cur, 16);

	*cur = p + bytes;
	return p;
}

static void seed(struct ka_hardened *h)
{
	uint64_t s[2];

	h->strong_seed = ka_plat_entropy(s, sizeof(s)) == 0;
	/* Mix in this heap's address: two heaps seeded by the weak fallback still differ. */
	h->secret = s[0] ^ ((uint64_t)(uintptr_t)h * 0xbf58476d1ce4e5b9u);
	h->rng = s[1] | 1u;
}

/* ceil(2^HD_INV_SHIFT / d) by long division: a 64-bit '/' would call libgcc's __udivdi3 on
 * 32-bit targets, which a freestanding kernel does not link (tests/freestanding). Init only. */
static uint64_t hd_inv_ceil(size_t d)
{
	uint64_t q = 0, r = 0;

	for (int bit = HD_INV_SHIFT; bit >= 0; bit--) {
		r = (r << 1) | (bit == HD_INV_SHIFT);
		q <<= 1;
		if (r >= d) {
			r -= d;
			q |= 1;
		}
	}
	return q + (r != 0);
}

struct ka_alloc *ka_hardened_init(void *base, size_t len)
{
	uintptr_t raw = (uintptr_t)base, end, c, arena = 0, cur, pstart, pend;
	struct ka_hardened *h;
	size_t n, per;
	bool guards;

	if (!base || ka_add_overflow(raw, len, &end) || len < HD_MIN_SIZE)
		return NULL;
	/* Guards of an earlier heap in this region (abandoned, not released) must go before
	 * anything is written. The platform may not protect at all: then there are none. */
	pstart = ka_align_up(raw, HD_PAGE);
	pend = ka_align_down(end, HD_PAGE);
	guards = pend > pstart && ka_plat_page_protect((void *)pstart, pend - pstart, 1) == 0;

	c = ka_align_up(raw, 64);
	per = HD_PAGE + sizeof(struct hd_page) + sizeof(struct hd_run) / HD_RUN_MIN_PAGES + 1;
	n = (len - (c - raw) - sizeof(struct ka_hardened) - 2 * HD_PAGE) / per;
	if (n > HD_MAX_PAGES - 1)
		n = HD_MAX_PAGES - 1;
	while (n >= HD_MIN_PAGES) {
		uintptr_t e = layout_end(c, n, &arena);
		if (e != 0 && e <= end)
			break;
		n--;
	}
	if (n < HD_MIN_PAGES)
		return NULL;

	h = (struct ka_hardened *)c;
	memset(h, 0, sizeof(*h));
	ka_alloc_init(&h->base, &hardened_ops, "hardened");
	h->region_start = raw;
	h->region_end = end;
	h->arena = arena;
	h->npages = n;
	h->arena_len = n * HD_PAGE;
	cur = c + sizeof(*h);
	h->pm = (struct hd_page *)carve(&cur, n * sizeof(struct hd_page));
	h->freemap_words = (n + HD_WBITS - 1) / HD_WBITS;
	h->freemap = (size_t *)carve(&cur, h->freemap_words * sizeof(size_t));
	h->nruns = (uint32_t)(n / HD_RUN_MIN_PAGES + 1);
	h->runs = (struct hd_run *)carve(&cur, h->nruns * sizeof(struct hd_run));
	KA_ASSERT(cur <= arena - HD_PAGE);
	memset(h->pm, 0, n * sizeof(struct hd_page));
	memset(h->freemap, 0, h->freemap_words * sizeof(size_t));
	pages_mark(h, 0, n, true);
	h->unused_runs = -1;
	for (unsigned k = 0; k < HD_NCLS; k++) {
		size_t cs = hd_class_size(k);
		h->partial[k] = -1;
		h->cls_inv[k] = hd_inv_ceil(cs);
		/* Exactness of hd_slot_index(): the error of the rounded reciprocal times the
		 * largest offset in a run stays below one unit of the result. */
		KA_ASSERT((h->cls_inv[k] * cs - ((uint64_t)1 << HD_INV_SHIFT)) *
			      (uint64_t)(hd_run_pages(k) * HD_PAGE) <
			  ((uint64_t)1 << HD_INV_SHIFT));
	}
	h->qbytes_max = h->arena_len / 8;
	h->guard_limit = KA_HARDENED_GUARD_LIMIT;
	h->meta = (end - raw) - h->arena_len;
	seed(h);
	h->meta_guard = arena - HD_PAGE;
	h->guards_ok = guards;
	/* Not protected even where that works: the heap has no destroy operation, and a region
	 * must be reusable once its blocks are freed. Overflows run upwards, away from the
	 * metadata; this page catches underflows of the first arena page, through the checker. */
	canary_page_fill(h, h->meta_guard);
	h->head = h;
	h->nregions = 1;
	return &h->base;
}

static int hd_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct ka_hardened *first = hd_of(a), *h, **tail = &first->next;
	struct ka_alloc *region;
	uintptr_t lo = (uintptr_t)base, hi;

	if (!base || len < HD_MIN_SIZE || ka_add_overflow(lo, len, &hi))
		return KA_EINVAL;
	for (h = first; h; h = h->next)
		if (lo < h->region_end && h->region_start < hi)
			return KA_EEXIST;
	region = ka_hardened_init(base, len);
	if (!region)
		return KA_EINVAL;
	h = hd_of(region);
	h->head = first;
	h->nregions = 0;
	h->guard_limit = first->guard_limit;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
	first->nregions++;
	return 0;
}

static struct ka_hardened *hd_checked(struct ka_alloc *a)
{
	return a && a->ops == &hardened_ops ? hd_of(a) : NULL;
}

int ka_hardened_stats(struct ka_alloc *a, struct ka_hardened_stats *out)
{
	struct ka_hardened *h = hd_checked(a);

	if (!h)
		return KA_EINVAL;
	memset(out, 0, sizeof(*out));
	out->guards_available = h->guards_ok;
	out->strong_seed = h->strong_seed;
	out->guard_limit = h->guard_limit;
	for (; h; h = h->next) {
		out->guards_live += h->guards_live;
		out->guards_made += h->guards_made;
		out->guard_fallbacks += h->guard_fallbacks;
		out->quarantine_len += h->qlen;
		out->quarantine_bytes += h->qbytes;
		out->quarantine_checked += h->quarantine_checked;
		out->quarantine_drains += h->quarantine_drains;
		out->runs += h->runs_in_use;
		out->large_live += h->large_live;
	}
	return 0;
}

int ka_hardened_set_guard_limit(struct ka_alloc *a, size_t limit)
{
	struct ka_hardened *h = hd_checked(a);

	if (!h)
		return KA_EINVAL;
	for (; h; h = h->next) {
		h->guard_limit = limit;
		h->warned = false;
	}
	return 0;
}

static void region_sweep(struct ka_hardened *h)
{
	for (uint32_t i = 0; i < h->qlen; i++) {
		size_t s;
		quarantine_check(
		    h, h->quar[(h->qhead + i) % HD_QCAP], &s,
		    "write after free (poison changed in quarantine, found by the sweep)");
	}
	if (HD_UNLIKELY(!ka_hd_canary_page_ok(h, h->meta_guard)))
		ka_misuse(&h->base, "canary page below the arena overwritten (underflow)",
			  (void *)h->meta_guard);
}

int ka_hardened_sweep(struct ka_alloc *a)
{
	struct ka_hardened *h = hd_checked(a);

	if (!h)
		return KA_EINVAL;
	for (; h; h = h->next)
		region_sweep(h);
	return 0;
}

static void region_release(struct ka_hardened *h)
{
	while (h->qlen > 0)
		quarantine_evict(h);
	for (size_t pg = 0; pg < h->npages; pg++) {
		struct hd_page *e = &h->pm[pg];
		if (HD_PG_KIND(e->w) != HD_PG_LARGE || !(e->aux & HD_L_GUARD))
			continue;
		uintptr_t trailer = hd_page_addr(h, pg) + HD_PG_LOW(e->w) * HD_PAGE;
		ka_plat_page_protect((void *)trailer, HD_PAGE, 1);
		canary_page_fill(h, trailer);
		e->aux &= ~HD_L_GUARD;
		h->guards_live--;
		h->head->heap_guards--;
	}
	h->guards_ok = false;
}

int ka_hardened_release(struct ka_alloc *a)
{
	struct ka_hardened *h = hd_checked(a);

	if (!h)
		return KA_EINVAL;
	for (; h; h = h->next)
		region_release(h);
	return 0;
}

const struct ka_backend ka_backend_hardened = {
    .name = "hardened",
    .desc = "out-of-band metadata, canaries, random slots, quarantine, guard pages",
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_WALK | KA_CAP_OWNS,
    .init = ka_hardened_init,
    .min_size = HD_MIN_SIZE,
};
