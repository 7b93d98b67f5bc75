/* SPDX-License-Identifier: MIT */
/*
 * The global allocator's ownership table (ka_global_owns_table(), kalloc/global.h): two bits
 * per chunk-aligned slot of the address space, so that ka_global_owns() refuses a foreign
 * pointer before anything around it is read, in O(1) and without the lock.
 *
 * Why a radix table and not the chunk headers: a header is found by masking the pointer, but
 * reading it faults when the pointer is not the heap's (free((void *)0x100000) in a
 * program); the table lives in pages the allocator mapped itself, so every read of a lookup
 * is of memory that exists. Why not a hash of chunks: its probe length is not bounded.
 *
 * Layout: the slot index is the address's low KA_OWNS_VA bits (64-bit: 48, after a check that
 * the address is canonical, so a kernel's upper half maps to the upper half of the index)
 * shifted right by the chunk shift. Its low LEAF_BITS select two bits in a leaf page, the
 * next MID_BITS a leaf in a mid page of pointers, the rest a mid page in the root (mapped at
 * init: one page for chunks of 256 KiB or more, four for the smallest chunks of 16 KiB).
 * Table pages come from the allocator's page source and stay until ka_global_destroy():
 * one leaf covers 2^LEAF_BITS chunks (4 GiB of 256 KiB chunks), so there are few of them.
 *
 * Flat form: where the platform reserves zero-reading address space committed on first write
 * (ka_plat_reserve(); hosted: MAP_NORESERVE), the table is instead one code byte per slot
 * over the whole index range, so the lookup is the slot index and one load. A sub-heap
 * chunk's slot carries KA_OWNS_HEAD | FLAT_HEAP_BIT there, so that the inline check
 * (ka_global_owns_inline(), global.h) needs no read of the chunk's header. The untouched
 * pages read as zero (KA_OWNS_NONE); a page is committed when a slot in it is first written.
 *
 * Concurrency: writers hold the allocator's lock; a table page is zeroed, then published
 * with a release store; a leaf word is replaced with a release store. Readers use acquire
 * loads and never see a half-made page.
 */
#include "global_priv.h"
#include "kstring.h"

#if UINTPTR_MAX > 0xffffffffu
#define KA_OWNS_VA 48u
#define PTR_SHIFT  3u
#else
#define KA_OWNS_VA 32u
#define PTR_SHIFT  2u
#endif
#define LEAF_BITS     (KA_CFG_PAGE_SHIFT + 2u) /* four slots per byte */
#define MID_BITS      (KA_CFG_PAGE_SHIFT - PTR_SHIFT)
#define SLOTS_WORD    (sizeof(uintptr_t) * 4u)
#define FLAT_HEAP_BIT 4u /* flat map: the HEAD of a sub-heap chunk, not of a large block */

/* ka_global_owns_fast() (global.h) repeats the lookup inline: the same geometry. */
_Static_assert(KA_OWNS_VA_BITS == KA_OWNS_VA && KA_OWNS_LEAF_BITS == LEAF_BITS &&
		   KA_OWNS_MID_BITS == MID_BITS && KA_OWNS_CODE_HEAD == KA_OWNS_HEAD &&
		   KA_OWNS_FLAT_HEAP == (KA_OWNS_HEAD | FLAT_HEAP_BIT),
	       "global.h's ownership geometry differs from owns.c's");
_Static_assert(KA_GLOBAL_HEAP_MAGIC == KA_GCHUNK_HEAP && KA_GLOBAL_HEAP_HDR == KA_GCHUNK_HDR &&
		   offsetof(struct ka_gchunk, magic) == 0,
	       "global.h's sub-heap chunk header differs from global_priv.h's");

static inline bool slot_index(const struct ka_global *g, uintptr_t a, uintptr_t *idx)
{
#if UINTPTR_MAX > 0xffffffffu
	uintptr_t top = a >> (KA_OWNS_VA - 1);

	if (top != 0 && top != ((uintptr_t)1 << (64 - KA_OWNS_VA + 1)) - 1)
		return false;
	a &= ((uintptr_t)1 << KA_OWNS_VA) - 1;
#endif
	*idx = a >> g->chunk_shift;
	return true;
}

static void *table_page(struct ka_global *g, size_t npages)
{
	void *p = ka_page_source_map(g->src, npages, KA_PAGE_SIZE);

	if (p) {
		memset(p, 0, npages << KA_CFG_PAGE_SHIFT); /* frame sources give dirty pages */
		g->owns_pages += npages;
	}
	return p;
}

static size_t root_len(unsigned chunk_shift)
{
	unsigned below = chunk_shift + LEAF_BITS + MID_BITS;

	return below >= KA_OWNS_VA ? 1 : (size_t)1 << (KA_OWNS_VA - below);
}

static size_t root_pages(size_t len)
{
	return ((len << PTR_SHIFT) + KA_PAGE_SIZE - 1) >> KA_CFG_PAGE_SHIFT;
}

/* The leaf word of slot idx; made (with its mid page) when `make`. NULL when absent. */
static uintptr_t *leaf_word(struct ka_global *g, uintptr_t idx, bool make)
{
	uintptr_t ri = idx >> (LEAF_BITS + MID_BITS);
	void **mid, **pmid;
	uintptr_t *leaf, **pleaf;

	if (!g->owns_root && make) {
		size_t len = root_len(g->chunk_shift);
		void **r = table_page(g, root_pages(len));

		if (!r)
			return NULL;
		g->owns_root_len = len;
		__atomic_store_n(&g->owns_root, r, __ATOMIC_RELEASE);
	}
	if (!g->owns_root || ri >= g->owns_root_len)
		return NULL;
	pmid = &g->owns_root[ri];
	mid = __atomic_load_n((void ***)pmid, __ATOMIC_ACQUIRE);
	if (!mid) {
		if (!make || !(mid = table_page(g, 1)))
			return NULL;
		__atomic_store_n((void ***)pmid, mid, __ATOMIC_RELEASE);
	}
	pleaf = (uintptr_t **)&mid[(idx >> LEAF_BITS) & (((uintptr_t)1 << MID_BITS) - 1)];
	leaf = __atomic_load_n(pleaf, __ATOMIC_ACQUIRE);
	if (!leaf) {
		if (!make || !(leaf = table_page(g, 1)))
			return NULL;
		__atomic_store_n(pleaf, leaf, __ATOMIC_RELEASE);
	}
	return &leaf[(idx & (((uintptr_t)1 << LEAF_BITS) - 1)) / SLOTS_WORD];
}

static void set_code(uintptr_t *w, uintptr_t idx, unsigned code)
{
	unsigned sh = (unsigned)(idx % SLOTS_WORD) * 2u;
	uintptr_t v = (*w & ~((uintptr_t)3 << sh)) | ((uintptr_t)code << sh);

	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* Code of slot address lo in a recorded range: a chunk's slot, a large block's header slot,
 * then the slots its mapping covers whole, then a partly covered last one. */
static unsigned code_at(const struct ka_global *g, uintptr_t lo, uintptr_t end, bool large,
			uintptr_t hdr)
{
	if (!large || lo == hdr)
		return KA_OWNS_HEAD;
	if (lo < hdr)
		return KA_OWNS_NONE;
	return end - lo >= g->chunk_size ? KA_OWNS_FULL : KA_OWNS_TAIL;
}

/* Apply fn over the slots of [map, map + len) from the first recorded one: make (and check
 * for) the table words, then set codes, so that a failure records nothing. */
static int walk(struct ka_global *g, void *map, size_t len, bool large, const void *hdr, bool add)
{
	uintptr_t m = (uintptr_t)map, end = m + len, h = (uintptr_t)hdr;

	uintptr_t first = large ? h : m, s0, s1;

	if (!g->owns_on)
		return 0;
	if (!slot_index(g, first, &s0) || !slot_index(g, end - 1, &s1) || s1 < s0)
		return add ? KA_ENOMEM : 0; /* never recorded: never owned */
	for (int pass = add ? 0 : 1; pass < 2; pass++) {
		for (uintptr_t s = s0, a = first & ~(uintptr_t)(g->chunk_size - 1); s <= s1;
		     s++, a += g->chunk_size) {
			unsigned code = code_at(g, a, end, large, h);
			uintptr_t *w;

			if (code == KA_OWNS_NONE)
				continue;
			if (g->owns_flat) {
				/* Every index slot_index() gives has its byte: nothing to make. */
				if (pass == 1)
					__atomic_store_n(
					    &g->owns_flat[s],
					    (unsigned char)(!add    ? KA_OWNS_NONE
							    : large ? code
								    : code | FLAT_HEAP_BIT),
					    __ATOMIC_RELEASE);
				continue;
			}
			w = leaf_word(g, s, add);
			if (!w) {
				if (add)
					return KA_ENOMEM;
				continue;
			}
			if (pass == 1)
				set_code(w, s, add ? code : KA_OWNS_NONE);
		}
	}
	return 0;
}

int ka_owns_add(struct ka_global *g, void *map, size_t len, bool large, const void *hdr)
{
	return walk(g, map, len, large, hdr, true);
}

void ka_owns_del(struct ka_global *g, void *map, size_t len, bool large, const void *hdr)
{
	(void)walk(g, map, len, large, hdr, false);
}

/* Slots of the index range: slot_index() gives every address an index below this. */
static size_t index_slots(unsigned chunk_shift)
{
	return (size_t)1 << (KA_OWNS_VA - chunk_shift);
}

void ka_owns_start(struct ka_global *g, bool flat)
{
	size_t len = index_slots(g->chunk_shift);
	size_t bytes = (len + KA_PAGE_SIZE - 1) & ~(size_t)(KA_PAGE_SIZE - 1);
	unsigned char *m = flat ? ka_plat_reserve(bytes) : NULL;

	if (!m)
		return; /* the radix table, made as slots are recorded */
	g->owns_flat = m;
	g->owns_flat_len = len;
	/* Published by the release store of owns_flat_low below, as the map is. */
	_Static_assert((KA_GCHUNK_HDR & (KA_GCHUNK_HDR - 1u)) == 0,
		       "the mask needs a power of two");
	g->owns_body_mask =
	    (((uintptr_t)1 << g->chunk_shift) - 1u) & ~(uintptr_t)(KA_GCHUNK_HDR - 1u);
#if UINTPTR_MAX > 0xffffffffu
	/* Upper-half addresses have their indexes in the map's upper half; the inline check
	 * takes low ones only, so that it needs no canonical check. */
	__atomic_store_n(&g->owns_flat_low, len / 2, __ATOMIC_RELEASE);
#else
	__atomic_store_n(&g->owns_flat_low, len, __ATOMIC_RELEASE);
#endif
}

void ka_owns_destroy(struct ka_global *g)
{
	void **root = g->owns_root;

	if (g->owns_flat) {
		size_t bytes = (g->owns_flat_len + KA_PAGE_SIZE - 1) & ~(size_t)(KA_PAGE_SIZE - 1);

		__atomic_store_n(&g->owns_flat_low, 0, __ATOMIC_RELEASE);
		(void)ka_plat_unreserve(g->owns_flat, bytes);
		g->owns_flat = NULL;
		g->owns_flat_len = 0;
	}
	if (!root)
		return;
	for (size_t i = 0; i < g->owns_root_len; i++) {
		void **mid = root[i];

		if (!mid)
			continue;
		for (size_t j = 0; j < ((size_t)1 << MID_BITS); j++)
			if (mid[j])
				ka_page_source_unmap(g->src, mid[j], 1);
		ka_page_source_unmap(g->src, mid, 1);
	}
	ka_page_source_unmap(g->src, root, root_pages(g->owns_root_len));
	g->owns_root = NULL;
	g->owns_root_len = 0;
	g->owns_pages = 0;
}

/* The code of the slot at chunk-aligned address lo, from the table: three acquire loads,
 * no call (free() asks this on every block). */
static inline unsigned table_code(const struct ka_global *g, uintptr_t lo)
{
	uintptr_t idx, ri;
	void **root, **mid;
	const uintptr_t *leaf;

	if (!slot_index(g, lo, &idx))
		return KA_OWNS_NONE;
	if (g->owns_flat)
		return idx < g->owns_flat_len
			   ? __atomic_load_n(&g->owns_flat[idx], __ATOMIC_ACQUIRE) & 3u
			   : KA_OWNS_NONE;
	root = __atomic_load_n(&g->owns_root, __ATOMIC_ACQUIRE);
	ri = idx >> (LEAF_BITS + MID_BITS);
	if (__builtin_expect(!root || ri >= g->owns_root_len, 0))
		return KA_OWNS_NONE;
	mid = __atomic_load_n((void ***)&root[ri], __ATOMIC_ACQUIRE);
	if (__builtin_expect(!mid, 0))
		return KA_OWNS_NONE;
	leaf = __atomic_load_n(
	    (uintptr_t **)&mid[(idx >> LEAF_BITS) & (((uintptr_t)1 << MID_BITS) - 1)],
	    __ATOMIC_ACQUIRE);
	if (__builtin_expect(!leaf, 0))
		return KA_OWNS_NONE;
	return (unsigned)(__atomic_load_n(
			      &leaf[(idx & (((uintptr_t)1 << LEAF_BITS) - 1)) / SLOTS_WORD],
			      __ATOMIC_ACQUIRE) >>
			  ((idx % SLOTS_WORD) * 2u)) &
	       3u;
}

/* The same code from the lists (no table; the caller holds the lock). */
static unsigned walk_code(struct ka_global *g, uintptr_t lo)
{
	for (struct ka_gchunk *c = g->heaps; c; c = c->next)
		if ((uintptr_t)c == lo)
			return KA_OWNS_HEAD;
	for (struct ka_gchunk *c = g->large; c; c = c->next) {
		uintptr_t h = (uintptr_t)c,
			  end = (uintptr_t)c->map + (c->pages << KA_CFG_PAGE_SHIFT);

		if (lo >= h && lo < end)
			return code_at(g, lo, end, true, h);
	}
	return KA_OWNS_NONE;
}

static inline unsigned code_of(struct ka_global *g, uintptr_t lo, bool walk)
{
	return walk ? walk_code(g, lo) : table_code(g, lo);
}

/* The answer of global.h's contract from the codes of the slots of ptr - 1 and ptr. */
static inline __attribute__((always_inline)) bool decide(struct ka_global *g, const void *ptr,
							 bool walk)
{
	uintptr_t p = (uintptr_t)ptr, cs = g->chunk_size, lo = (p - 1) & ~(cs - 1);
	const struct ka_gchunk *h = (const struct ka_gchunk *)lo;

	switch (code_of(g, lo, walk)) {
	case KA_OWNS_HEAD:
		if (h->kind == KA_GCHUNK_HEAP)
			return p >= lo + KA_GCHUNK_HDR && p - lo < cs;
		return p >= (uintptr_t)h->ptr && p - (uintptr_t)h->ptr < h->size;
	case KA_OWNS_FULL:
		if ((p & (cs - 1)) != 0)
			return true;
		/* At the slot's end: ptr is mapped iff the mapping goes on into its slot, whose
		 * first page is then mapped. */
		switch (code_of(g, p, walk)) {
		case KA_OWNS_FULL:
		case KA_OWNS_TAIL:
			return true;
		default:
			return false;
		}
	case KA_OWNS_TAIL:
		/* The mapping covers at least the slot's first page. */
		return p - lo < KA_PAGE_SIZE;
	default:
		return false;
	}
}

bool ka_global_owns_walk(struct ka_global *g, const void *ptr)
{
	unsigned long f = ka_locked_lock(&g->locked);
	bool yes = decide(g, ptr, true);

	ka_locked_unlock(&g->locked, f);
	return yes;
}

bool ka_global_owns(struct ka_global *g, const void *ptr)
{
	if (!g || !ptr)
		return false;
	if (!g->owns_on)
		return ka_global_owns_walk(g, ptr);
	return decide(g, ptr, false);
}
