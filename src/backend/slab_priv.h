/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the slab backend (src/backend/slab.c), shared with its white-box tests
 * (tests/unit/test_slab.c). docs/backend-slab.md explains the model.
 *
 * In-band encoding.
 *
 * Slab: a KA_SLAB_SIZE chunk aligned to KA_SLAB_SIZE, holding struct ka_slab (the header,
 * one cache line) and then the objects: slot i of class c starts at
 * slab + cls[c].obj_off + i * cls[c].size. Slots at or above `bump` have never been handed
 * out and hold nothing. A free slot that was handed out before holds two words:
 *   word 0: the next free slot of the slab (the intrusive free list), or NULL;
 *   word 1: the free mark, its own address XOR the allocator's secret (ka_slab_free_mark()).
 * Allocation clears word 1, so a live object carries the mark only if the program stores
 * exactly that value there; free() refuses a slot that carries it (double free). This is the
 * per-object marker the design allows instead of a bitmap: it costs one load and two stores
 * on the fast paths where a bitmap cost a multiply and a read-modify-write of a separate
 * line. Allocation also checks the mark of the slot it takes and that the next free slot is
 * in the same slab, so a write after free into the first two words is reported when the slot
 * is handed out again (three instructions on the fast path), before the damaged link is
 * followed. What it cannot see: a double free after the program overwrote word 1 of the
 * freed object and the slot was not handed out since; ka_check() reports that case.
 *
 * Cache colouring: the header does not sit at the slab's first byte but KA_SLAB_COLOUR(base)
 * cache lines into it, a function of the slab's address bits just above the slab size. Slabs
 * are aligned to 32 KiB, so headers at offset 0 of every slab would all fall into one L1
 * cache set and evict each other whenever more than 8 classes are busy; the colour spreads
 * them over KA_SLAB_NCOLOURS sets. The header of the slab of an object pointer p is thus
 * ka_slab_hdr(p & ~(KA_SLAB_SIZE - 1)), computed from p alone. The colour area in front of
 * the header is unused (at most 7 lines of a 32 KiB slab: 1.4%).
 *
 * Large block: a run of pages from the page source. The caller's pointer p sits `u` bytes
 * after the start of the run, and struct ka_slab_large occupies [p - KA_SLAB_LH, p):
 *  - u == KA_SLAB_LH when the requested alignment divides KA_SLAB_LH, so p lies at page
 *    offset KA_SLAB_LH;
 *  - u == max(align, KA_PAGE_SIZE) otherwise, so p lies at page offset 0.
 *
 * Telling them apart in O(1) without reading memory: a large block's pointer is always at
 * page offset 0 or KA_SLAB_LH, and slab slots at those page offsets are never handed out
 * ("reserved" slots; at most two per page, and each class's object offset is chosen to
 * keep them rare). So free() looks at p's page offset first.
 *
 * Both headers carry a mark: for a slab, the constant KA_SLAB_MAGIC XOR the header's own
 * address XOR the owning allocator's address (one compare checks both); for a large block,
 * KA_SLAB_LMAGIC XOR its address, plus a pointer to the owner. So a stray pointer or a
 * pointer of another allocator is caught before anything is written.
 */
#ifndef KALLOC_SLAB_PRIV_H
#define KALLOC_SLAB_PRIV_H

#include <stdalign.h>

#include "kalloc/alloc_impl.h"
#include "kalloc/slab.h"

#if KA_CFG_SLAB_SHIFT > KA_CFG_PAGE_SHIFT
#define KA_SLAB_SHIFT KA_CFG_SLAB_SHIFT
#else
#define KA_SLAB_SHIFT KA_CFG_PAGE_SHIFT
#endif
#define KA_SLAB_SIZE  ((size_t)1 << KA_SLAB_SHIFT)
#define KA_SLAB_PAGES (KA_SLAB_SIZE >> KA_CFG_PAGE_SHIFT)

/** 16 classes of 16-byte steps up to 256 B, then 8 per power of two up to 4 KiB. */
#define KA_SLAB_NCLASSES 48
/** Object areas start at a multiple of this, so classes that are multiples of it hold
 * objects aligned to it (aligned small requests use them). */
#define KA_SLAB_OBJ_ALIGN 64
/** Cache-line colours of slab headers (see the encoding comment). */
#define KA_SLAB_NCOLOURS 8
#define KA_SLAB_LINE	 64
/** Bytes reserved in front of a large block's pointer for struct ka_slab_large. */
#define KA_SLAB_LH 64
/** Requests up to this use the class lookup table. */
#define KA_SLAB_LUT_MAX KA_SLAB_MAX_SMALL

#define KA_SLAB_MAGIC  ((uintptr_t)0x51ab5eedu)
#define KA_SLAB_LMAGIC ((uintptr_t)0x1a49eb1cu)

/** Which list of its class a slab is on. */
enum ka_slab_list { KA_SLAB_ON_PARTIAL = 1, KA_SLAB_ON_FULL = 2 };

/* Salt of the free mark; its top bits are set so that on 64-bit targets a mark is never a
 * canonical user-space pointer, the most common content of a live object's second word. */
#if UINTPTR_MAX > 0xffffffffu
#define KA_SLAB_FSALT ((uintptr_t)0xfa11c0de5eed0000u)
#else
#define KA_SLAB_FSALT ((uintptr_t)0xfa11c0deu)
#endif

struct ka_slab_state;

/**
 * Slab header. The first line holds everything alloc and free read, including copies of the
 * class's geometry, so that a free reads no class data unless the slab changes lists.
 */
struct ka_slab {
	uintptr_t magic;      /* KA_SLAB_MAGIC ^ (uintptr_t)this ^ (uintptr_t)owner */
	void *free;	      /* intrusive list of free slots handed out before */
	uint32_t inuse;	      /* live objects */
	uint32_t bump;	      /* next never-used usable slot; nobj when none left */
	uint32_t size;	      /* object size (copy of the class's) */
	uint32_t recip;	      /* slot index = ((p - base - obj_off) * recip) >> 32 (copy) */
	uint32_t obj_off;     /* offset of slot 0 from the slab start (copy) */
	uint32_t span;	      /* nobj * size (copy) */
	uint16_t cls;	      /* class index */
	uint16_t list;	      /* enum ka_slab_list */
	struct ka_slab *prev; /* neighbours on the class's partial or full list */
	struct ka_slab *next;
};

/** One size class: one cache line, the fields the fast paths read first. */
struct ka_slab_class {
	alignas(64) struct ka_slab *partial; /* slabs with a free slot; allocation takes the head */
	uint32_t size;			     /* object size */
	uint32_t recip;			     /* ceil(2^32 / size): slot = (off * recip) >> 32 */
	uint32_t obj_off;		     /* offset of slot 0 from the slab start */
	uint32_t span;			     /* nobj * size */
	uint32_t nslabs;		     /* slabs of this class */
	uint32_t pad;
	struct ka_slab *full;  /* slabs without a free slot */
	struct ka_slab *spare; /* the one empty slab kept (on the partial list) */
	uint32_t nobj;	       /* slots per slab, reserved ones included */
	uint32_t usable;       /* slots per slab that can be handed out */
	uint32_t first;	       /* first usable slot */
	uint32_t pad2;
};

/** Header of a large block, just below the caller's pointer. */
struct ka_slab_large {
	uintptr_t magic;	     /* KA_SLAB_LMAGIC ^ (uintptr_t)this */
	struct ka_slab_state *owner; /* the allocator this block belongs to */
	struct ka_slab_large *prev;  /* list of all large blocks, for walk and check */
	struct ka_slab_large *next;
	void *base;    /* start of the page run (what ka_pfree() gets back) */
	size_t npages; /* length of the page run */
};

/** The allocator's state (in caller memory, or at the start of ka_slab_init's region). */
struct ka_slab_state {
	struct ka_alloc head;
	struct ka_alloc *ps;	     /* page source */
	uintptr_t lo, hi;	     /* hull of every page run ever taken from ps */
	uintptr_t secret;	     /* free marks are slot ^ secret (ka_slab_free_mark) */
	size_t live_bytes;	     /* bytes of live slab objects (class sizes) */
	size_t slab_bytes;	     /* bytes of usable slots in all slabs */
	uintptr_t own_lo, own_hi;    /* the state's own memory */
	struct ka_slab_large *large; /* all large blocks */
	size_t nlarge;		     /* large blocks */
	size_t large_pages;	     /* pages held by large blocks */
	size_t nslabs;		     /* slabs of all classes */
	/* Debug counters, always kept (one add on slow paths only): iterations of every loop
	 * that runs inside an alloc/free, and page-source calls. Tests bound them. */
	uint64_t steps;
	uint64_t page_allocs;
	uint64_t page_frees;
	uint8_t lut[KA_SLAB_LUT_MAX / 16 + 1]; /* (size + 15) / 16 -> class, size <= LUT_MAX */
	struct ka_slab_class cls[KA_SLAB_NCLASSES];
};

/** Header of the slab starting at `base` (KA_SLAB_SIZE aligned). */
static inline struct ka_slab *ka_slab_hdr(uintptr_t base)
{
	return (struct ka_slab *)(base + ((base >> KA_SLAB_SHIFT) & (KA_SLAB_NCOLOURS - 1)) *
					     KA_SLAB_LINE);
}

/** Start of the slab whose header is s. */
static inline uintptr_t ka_slab_base(const struct ka_slab *s)
{
	return (uintptr_t)s & ~(uintptr_t)(KA_SLAB_SIZE - 1);
}

/** Header of the slab holding object pointer p (p must lie in a slab). */
static inline struct ka_slab *ka_slab_of(const void *p)
{
	return ka_slab_hdr((uintptr_t)p & ~(uintptr_t)(KA_SLAB_SIZE - 1));
}

/** Bytes of free usable slots in all slabs. O(1). */
static inline size_t ka_slab_free_bytes(const struct ka_slab_state *st)
{
	return st->slab_bytes - st->live_bytes;
}

/** The free mark of slot p (see the encoding comment). */
static inline uintptr_t ka_slab_free_mark(const struct ka_slab_state *st, const void *p)
{
	return (uintptr_t)p ^ st->secret;
}

/** Mark of a slab header of allocator st. */
static inline uintptr_t ka_slab_mark(const struct ka_slab *s, const struct ka_slab_state *st)
{
	return KA_SLAB_MAGIC ^ (uintptr_t)s ^ (uintptr_t)st;
}

/** Size of class i (the table is computed, not stored, so it cannot drift). */
static inline size_t ka_slab_class_bytes(unsigned i)
{
	unsigned k, sub;

	if (i < 16)
		return (size_t)(i + 1) * 16;
	k = 8 + (i - 16) / 8;
	sub = (i - 16) % 8;
	return ((size_t)1 << k) + (size_t)(sub + 1) * ((size_t)1 << (k - 3));
}

/** Class of a request of 1..KA_SLAB_MAX_SMALL bytes, by formula (the LUT caches it). */
static inline unsigned ka_slab_class_index(size_t size)
{
	unsigned k;

	if (size <= 256)
		return (unsigned)((size - 1) >> 4);
	k = ka_fls(size - 1);
	return 16 + (k - 8) * 8 + (unsigned)(((size - 1) >> (k - 3)) & 7);
}

/** Whether slot i of class c is reserved (its page offset is one large blocks use). */
static inline bool ka_slab_reserved(const struct ka_slab_class *c, uint32_t i)
{
	size_t po = ((size_t)c->obj_off + (size_t)i * c->size) & (KA_PAGE_SIZE - 1);

	return po == 0 || po == KA_SLAB_LH;
}

static inline struct ka_slab_state *st_of(struct ka_alloc *a)
{
	return (struct ka_slab_state *)a;
}

static inline uintptr_t large_mark(const struct ka_slab_large *l)
{
	return KA_SLAB_LMAGIC ^ (uintptr_t)l;
}

/* Slot of offset off in a class of reciprocal recip (exact below 2^32 / size). */
static inline uint32_t slot_index(uint32_t recip, size_t off)
{
	return (uint32_t)(((uint64_t)off * recip) >> 32);
}

/* Usable bytes of a large block. */
static inline size_t large_usable(const struct ka_slab_large *l)
{
	return (l->npages << KA_CFG_PAGE_SHIFT) - ((uintptr_t)l + KA_SLAB_LH - (uintptr_t)l->base);
}

/* Large blocks start on a page or right after its header; small objects never do. */
static inline bool is_large_ptr(uintptr_t p)
{
	uintptr_t po = p & (KA_PAGE_SIZE - 1);

	return po == 0 || po == KA_SLAB_LH;
}

/** The checker and walker (slab_validate.c), named weakly by the ops table. */
unsigned ka_slab_check_impl(struct ka_alloc *a);
int ka_slab_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_SLAB_PRIV_H */
