/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the hardened backend (src/backend/hardened.c), shared with its checker
 * (hardened_validate.c) and the white-box unit test (tests/unit/test_hardened.c).
 *
 * Region layout (all metadata out of band, before the arena):
 *
 *   [struct ka_hardened][page table][free-page bitmap][run table] pad [meta guard][arena ...]
 *
 * The arena is npages pages. Every arena page has one `struct hd_page` entry whose top four
 * bits say what the page is:
 *   HD_PG_FREE   in the free-page pool (its bit in freemap is set, nothing else is);
 *   HD_PG_RUN    part of slot run `low` (an index into the run table);
 *   HD_PG_LARGE  first page of a large block of `low` pages; `aux` holds HD_L_* flags;
 *   HD_PG_BODY   page `low` of a large block (low >= 1, counted from the head);
 *   HD_PG_TRAIL  the trailer page after a large block of `low` pages (guard or canary page).
 *
 * Run descriptors are used in table order (runs_hw counts those ever used; the rest of the
 * table is never read or written, so it costs no memory until needed); released ones go on
 * the unused list (cls == HD_NCLS) and are reused first.
 *
 * A run is hd_run_pages(cls) pages cut into hd_run_slots(cls) slots of hd_class_size(cls)
 * bytes. Per slot two bits: `used` (not available: live or quarantined) and `live`. Bits at
 * and above nslots are permanently used (so a search never finds them) and never live.
 * Slot states: free (used 0), live (used 1, live 1), quarantined (used 1, live 0).
 *
 * Contents the checker verifies: a free or quarantined slot is all HD_POISON bytes; a live
 * slot of requested size n holds n bytes of data, then hd_gap_canary() bytes of
 * hd_canary(secret, their address), then poison, and its last HD_CANARY bytes are the tail
 * word hd_tail_make(secret, their address, n); a quarantined large block
 * holds poison in its first hd_large_poison() bytes; a trailer that is neither a guard nor
 * HD_L_OPEN is a canary page (every 8-byte word holds hd_canary(secret, page address)); so is
 * the metadata guard page. Only live large blocks have a protected (guard) trailer: free()
 * makes it accessible and marks it HD_L_OPEN, so a quarantined block is never guarded.
 *
 * Invariants (checked by ka_hardened_check_impl(), each violation counted once):
 *   H1  page table: every entry has a valid kind; runs and large blocks tile their pages
 *       exactly (a run's pages name it, a large head is followed by body pages and a trailer).
 *   H2  freemap bit set iff the page is HD_PG_FREE; free_pages equals their count.
 *   H3  runs: descriptor in use, class valid, geometry equals the class's; bits beyond
 *       nslots used and not live; live implies used; nfree and nlive equal the bitmaps.
 *   H4  a run is on its class's partial list iff nfree > 0; lists are well linked.
 *   H5  nempty[c] equals the number of runs of class c with nfree == nslots.
 *   H6  the quarantine ring holds exactly the quarantined slots and large blocks, qbytes is
 *       their size.
 *   H7  slot_avail equals sum of nfree * (class size - HD_CANARY); guards_live equals the
 *       number of large blocks with a protected trailer; large_live their number.
 *   H8  contents as above (poison, canaries, canary pages).
 */
#ifndef KALLOC_HARDENED_PRIV_H
#define KALLOC_HARDENED_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/hardened.h"
#include "kstring.h"

#define HD_PAGE	      KA_PAGE_SIZE
#define HD_SHIFT      KA_CFG_PAGE_SHIFT
#define HD_CANARY     8u
#define HD_POISON     0xdbu
#define HD_NCLS	      32u
#define HD_QCAP	      KA_HARDENED_QUARANTINE
#define HD_MAX_CLASS  8192u
#define HD_SLOT_ALIGN 16u

/* A run is at least 16 KiB (and at least a page, and at least 8 slots). */
#define HD_RUN_MIN_BYTES ((size_t)16384 > HD_PAGE ? (size_t)16384 : HD_PAGE)
#define HD_RUN_MIN_PAGES (HD_RUN_MIN_BYTES / HD_PAGE)
#define HD_WBITS	 (sizeof(size_t) * 8)
#define HD_MAX_SLOTS	 (HD_RUN_MIN_BYTES / HD_SLOT_ALIGN)
#define HD_MAP_WORDS	 ((HD_MAX_SLOTS + HD_WBITS - 1) / HD_WBITS)

/* Smallest arena: room for two minimum runs. */
#define HD_MIN_PAGES (2 * HD_RUN_MIN_PAGES)
/* Page table entries address at most 2^28 pages. */
#define HD_MAX_PAGES ((size_t)1 << 28)

_Static_assert(KA_CFG_MIN_ALIGN <= HD_SLOT_ALIGN, "slots are 16-byte aligned");
_Static_assert(HD_QCAP >= 1 && HD_QCAP <= 65536, "quarantine length out of range");

enum { HD_PG_FREE = 0, HD_PG_RUN = 1, HD_PG_LARGE = 2, HD_PG_BODY = 3, HD_PG_TRAIL = 4 };
#define HD_PG_KIND(w) ((w) >> 28)
#define HD_PG_LOW(w)  ((w)&0x0fffffffu)
#define HD_PG(k, low) (((uint32_t)(k) << 28) | (uint32_t)(low))

/* Flags of a large block (struct hd_page.aux of its head). */
#define HD_L_PAGES 0x1u /* from palloc: free with pfree and this exact count */
#define HD_L_QUAR  0x2u /* in quarantine */
#define HD_L_GUARD 0x4u /* trailer page is protected */
#define HD_L_OPEN  0x8u /* trailer was a guard, made accessible on free: not a canary page */
#define HD_L_ALL   0xfu

struct hd_page {
	uint32_t w;
	uint32_t aux;
};

/** A run of slots of one class. Released descriptors have cls == HD_NCLS and sit on a list. */
struct hd_run {
	uint32_t first;	 /* first arena page */
	uint32_t npages; /* pages of the run */
	uint32_t cls;	 /* class index, HD_NCLS when the descriptor is unused */
	uint32_t nslots;
	uint32_t nfree; /* slots with used == 0 */
	uint32_t nlive; /* slots with live == 1 */
	int32_t next;	/* partial list of the class, or the unused list */
	int32_t prev;
	size_t used[HD_MAP_WORDS];
	size_t live[HD_MAP_WORDS];
};

struct ka_hardened {
	struct ka_alloc base;
	uint64_t secret; /* canary key */
	uint64_t rng;	 /* xorshift64* state, never 0 */
	uintptr_t region_start, region_end;
	uintptr_t arena; /* first arena page */
	size_t npages;	 /* arena pages */
	size_t arena_len;
	struct hd_page *pm;
	size_t *freemap; /* bit set: page free */
	size_t freemap_words;
	struct hd_run *runs;
	uint32_t nruns;	      /* descriptors in the table */
	uint32_t runs_hw;     /* descriptors ever used; those above were never touched */
	int32_t unused_runs;  /* head of the unused-descriptor list */
	uint32_t runs_in_use; /* descriptors in use */
	int32_t partial[HD_NCLS];
	uint32_t nempty[HD_NCLS];
	uint64_t cls_inv[HD_NCLS]; /* ceil(2^HD_INV_SHIFT / class size): see hd_slot_index() */
	size_t free_pages;
	size_t slot_avail;
	size_t large_live;
	void *quar[HD_QCAP];
	uint32_t qhead; /* oldest entry */
	uint32_t qlen;
	size_t qbytes;
	size_t qbytes_max;
	uintptr_t meta_guard; /* the page between metadata and arena */
	bool guards_ok;	      /* the platform can protect pages (init's protect call worked) */
	bool strong_seed;
	bool warned;
	size_t guard_limit;
	size_t guards_live;
	uint64_t guards_made;
	uint64_t guard_fallbacks;
	uint64_t quarantine_checked;
	uint64_t quarantine_drains;
	size_t meta; /* bytes of the region not in the arena */
	/* Regions: ka_add_memory makes each added region a heap of its own (same layout, own
	 * quarantine and secret), listed from the first one, which the allocator handle is.
	 * Guard pages are bounded per allocator: `head` counts them for all its regions. */
	struct ka_hardened *head; /* the first region (itself for the first one) */
	struct ka_hardened *next; /* next added region (first region's list) */
	size_t nregions;	  /* regions in the list (first region only) */
	size_t heap_guards;	  /* live guards of all regions (first region only) */
};

/* ---- size classes ------------------------------------------------------------------------ */

/* 16..128 in steps of 16, then four classes per power of two up to 8192. Tables, not the
 * formula: the formula branches on c < 8, which a mix of sizes around 128 bytes mispredicts
 * on every other call (the free path asks for a class size several times). */
extern const uint16_t ka_hd_class_sizes[HD_NCLS];
extern const uint8_t ka_hd_class_of16[HD_MAX_CLASS / 16 + 1];

static inline size_t hd_class_size(unsigned c)
{
	return ka_hd_class_sizes[c];
}

/* Class of a slot that must hold `need` bytes (1 <= need <= HD_MAX_CLASS): every class is a
 * multiple of 16, so the class of need is that of need rounded up to 16. */
static inline unsigned hd_class_of(size_t need)
{
	return ka_hd_class_of16[(need + 15) >> 4];
}

static inline size_t hd_run_pages(unsigned c)
{
	size_t p = (8 * hd_class_size(c) + HD_PAGE - 1) / HD_PAGE;
	return p < HD_RUN_MIN_PAGES ? HD_RUN_MIN_PAGES : p;
}

static inline uint32_t hd_run_slots(unsigned c)
{
	size_t n = hd_run_pages(c) * HD_PAGE / hd_class_size(c);
	return (uint32_t)(n > HD_MAX_SLOTS ? HD_MAX_SLOTS : n);
}

/* Canary of the 8 bytes at `addr`: keyed by the heap's secret; its first byte (in memory
 * order, on either endianness) is never 0, so writing a string terminator there shows. */
static inline uint64_t hd_canary(uint64_t secret, uintptr_t addr)
{
	uint64_t x = secret ^ ((uint64_t)addr * 0x9e3779b97f4a7c15u);
	unsigned char b[8];

	x ^= x >> 29;
	memcpy(b, &x, 8);
	if (b[0] == 0)
		b[0] = 0x5a;
	memcpy(&x, b, 8);
	return x;
}

/*
 * Slot tail: the last HD_CANARY bytes of a live slot, one 64-bit word carrying the block's
 * requested size n (bits 48..60), bound to the slot's address and to n by the heap's secret,
 * so that the canary can sit right after the requested bytes without a per-slot size table
 * in the metadata (which would cost 2 bytes per 16-byte slot). With M0 a keyed value of the
 * address and M1 one of (address, n): word = M0 ^ n << 48 ^ (M1 & low 48 bits), bits 0 and 63
 * forced to 1 (so the first byte in memory is never 0 on either endianness, as for every
 * canary). free() recovers n from bits 48..60 and recomputes the word: a change anywhere
 * gives another n, or the same n with other low bits, and fails except with probability
 * 2^-47. Two multiplies: the address term, shared by both keyed values, and the one that
 * binds n.
 */
_Static_assert(KA_HARDENED_MAX_SMALL < 0x2000, "a slot's requested size fits the tail's 13 bits");
#define HD_TAIL_LOW48  0x0000ffffffffffffu
#define HD_TAIL_FORCED 0x8000000000000001u

static inline uint64_t hd_tail_word(uint64_t secret, uintptr_t tail, size_t n, uint64_t *m0out)
{
	uint64_t x = (uint64_t)tail * 0x9e3779b97f4a7c15u, m0 = secret ^ x, m1;

	m1 = (m0 ^ (uint64_t)n) * 0xbf58476d1ce4e5b9u;
	m0 ^= m0 >> 29;
	m1 ^= m1 >> 27;
	*m0out = m0;
	return (m0 ^ ((uint64_t)n << 48) ^ (m1 & HD_TAIL_LOW48)) | HD_TAIL_FORCED;
}

/* Tail word of a slot handed out for n bytes, its last HD_CANARY bytes at `tail`. */
static inline uint64_t hd_tail_make(uint64_t secret, uintptr_t tail, size_t n)
{
	uint64_t m0;

	return hd_tail_word(secret, tail, n, &m0);
}

/* Requested size of the live slot [p, p+cs) read from its tail, or 0 if the tail is not
 * intact (an overflow reached it). */
static inline size_t hd_tail_size(uint64_t secret, uintptr_t p, size_t cs)
{
	uintptr_t tail = p + cs - HD_CANARY;
	uint64_t w, m0;
	size_t n;

	memcpy(&w, (const void *)tail, 8);
	(void)hd_tail_word(secret, tail, 0, &m0);
	n = (size_t)((w ^ m0) >> 48) & 0x1fffu;
	if (n == 0 || n > cs - HD_CANARY)
		return 0;
	return hd_tail_word(secret, tail, n, &m0) == w ? n : 0;
}

/* Bytes of the canary right after the n requested bytes of a slot of cs bytes: up to 8, as
 * many as fit before the tail (0 when the tail itself follows the data). */
static inline size_t hd_gap_canary(size_t cs, size_t n)
{
	size_t g = cs - HD_CANARY - n;

	return g < 8 ? g : 8;
}

/* The k canary bytes after the requested data, at `at`, are the first k bytes of
 * hd_canary(secret, at); when k < 8 the tail word `tail` follows them. One 8-byte compare
 * against the expected bytes (n + 8 <= class size, so the 8 bytes are inside the slot). */
static inline bool hd_gap_ok(uint64_t secret, uintptr_t at, size_t k, uint64_t tail)
{
	uint64_t c = hd_canary(secret, at), v;
	unsigned char e[16];

	memcpy(e, &c, 8);
	memcpy(e + k, &tail, 8);
	memcpy(&c, e, 8);
	memcpy(&v, (const void *)at, 8);
	return v == c;
}

/*
 * Slot index of byte offset roff in a run of class c: roff / class size by a multiply (a
 * 64-bit division costs tens of cycles, on every free and every quarantine eviction). Exact
 * for every roff < 2^HD_INV_SHIFT / class size, far above any run's length (checked at init).
 */
#define HD_INV_SHIFT 40
static inline size_t hd_slot_index(const struct ka_hardened *h, unsigned c, size_t roff)
{
	return (size_t)(((uint64_t)roff * h->cls_inv[c]) >> HD_INV_SHIFT);
}

static inline struct ka_hardened *hd_of(struct ka_alloc *a)
{
	return (struct ka_hardened *)a;
}

static inline uintptr_t hd_page_addr(const struct ka_hardened *h, size_t pg)
{
	return h->arena + (pg << HD_SHIFT);
}

static inline bool hd_page_is_free(const struct ka_hardened *h, size_t pg)
{
	return (h->freemap[pg / HD_WBITS] >> (pg % HD_WBITS)) & 1u;
}

/*
 * Bytes of a quarantined large block of n pages that hold poison: the first
 * KA_HARDENED_LARGE_POISON (at least a page). Poisoning a whole 1 MiB block on free and
 * checking it on reuse costs two passes over it (10 us per operation on average in
 * kalloc-bench's powerlaw workload); stale pointers mostly write near a block's start.
 */
static inline size_t hd_large_poison(size_t n)
{
	size_t cap = ka_align_up(KA_HARDENED_LARGE_POISON, HD_PAGE);

	return n * HD_PAGE < cap ? n * HD_PAGE : cap;
}

/* True iff [p, p+n) is all poison. p aligned to 8, n a multiple of 8. */
bool ka_hd_poisoned(const void *p, size_t n);
/* True iff the page at `page` holds its canary pattern. */
bool ka_hd_canary_page_ok(const struct ka_hardened *h, uintptr_t page);

/** The checker (hardened_validate.c): counts and reports every broken invariant H1..H8. Named
 * weakly by the ops table, like the walker, so both are linked only with ka_check() or
 * ka_walk() (src/core/check.h). */
unsigned ka_hardened_check_impl(struct ka_alloc *a);
/** The walker (hardened_validate.c): every block of every region in address order. */
int ka_hardened_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_HARDENED_PRIV_H */
