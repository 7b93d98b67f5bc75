/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the slab backend (src/backend/slab.c), shared with its white-box tests
 * (tests/unit/test_slab.c). docs/backend-slab.md explains the model.
 *
 * In-band encoding.
 *
 * Slab: a KA_SLAB_SIZE chunk aligned to KA_SLAB_SIZE. It starts with struct ka_slab (the
 * header) followed by the allocation bitmap (bit i set = slot i is live). Slot i of class c
 * starts at slab + cls[c].obj_off + i * cls[c].size. A free slot that has been handed out
 * before holds the next free slot's address in its first word (the intrusive free list);
 * slots at or above `bump` have never been handed out and hold nothing. The header of the
 * slab of an object pointer p is p & ~(KA_SLAB_SIZE - 1).
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
 * Both headers carry a mark: the constant KA_SLAB_MAGIC (or KA_SLAB_LMAGIC) XOR the
 * header's own address, plus a pointer to the owning allocator, so a stray pointer or a
 * pointer of another allocator is caught before anything is written.
 */
#ifndef KALLOC_SLAB_PRIV_H
#define KALLOC_SLAB_PRIV_H

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
/** Bytes reserved in front of a large block's pointer for struct ka_slab_large. */
#define KA_SLAB_LH 64
/** Requests up to this use the class lookup table. */
#define KA_SLAB_LUT_MAX 1024

#define KA_SLAB_MAGIC  ((uintptr_t)0x51ab5eedu)
#define KA_SLAB_LMAGIC ((uintptr_t)0x1a49eb1cu)

/** Which list of its class a slab is on. */
enum ka_slab_list { KA_SLAB_ON_PARTIAL = 1, KA_SLAB_ON_FULL = 2 };

#define KA_SLAB_WBITS (sizeof(size_t) * 8)
#if SIZE_MAX > 0xffffffffu
#define KA_SLAB_WSHIFT 6
#else
#define KA_SLAB_WSHIFT 5
#endif

struct ka_slab_state;

/** Header at the start of every slab. */
struct ka_slab {
	uintptr_t magic;	     /* KA_SLAB_MAGIC ^ (uintptr_t)this */
	struct ka_slab_state *owner; /* the allocator this slab belongs to */
	struct ka_slab *prev;	     /* neighbours on the class's partial or full list */
	struct ka_slab *next;
	void *free;	/* intrusive list of free slots handed out before */
	uint32_t inuse; /* live objects */
	uint32_t bump;	/* next never-used usable slot; nobj when none left */
	uint16_t cls;	/* class index */
	uint16_t list;	/* enum ka_slab_list */
	size_t map[];	/* allocation bitmap, cls.map_words words */
};

/** One size class. */
struct ka_slab_class {
	struct ka_slab *partial; /* slabs with a free slot; allocation takes the head */
	struct ka_slab *full;	 /* slabs without a free slot */
	struct ka_slab *spare;	 /* the one empty slab kept (on the partial list), or NULL */
	uint32_t size;		 /* object size */
	uint32_t nobj;		 /* slots per slab, reserved ones included */
	uint32_t usable;	 /* slots per slab that can be handed out */
	uint32_t first;		 /* first usable slot */
	uint32_t obj_off;	 /* offset of slot 0 from the slab start */
	uint32_t recip;		 /* ceil(2^32 / size): slot index = (off * recip) >> 32 */
	uint32_t map_words;	 /* bitmap words per slab */
	uint32_t nslabs;	 /* slabs of this class */
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
	uintptr_t own_lo, own_hi;    /* the state's own memory */
	struct ka_slab_large *large; /* all large blocks */
	size_t nlarge;		     /* large blocks */
	size_t large_pages;	     /* pages held by large blocks */
	size_t free_bytes;	     /* bytes of free usable slots in all slabs */
	size_t nslabs;		     /* slabs of all classes */
	/* Debug counters, always kept (one add on slow paths only): iterations of every loop
	 * that runs inside an alloc/free, and page-source calls. Tests bound them. */
	uint64_t steps;
	uint64_t page_allocs;
	uint64_t page_frees;
	uint8_t lut[KA_SLAB_LUT_MAX / 16 + 1]; /* (size + 15) / 16 -> class, size <= LUT_MAX */
	struct ka_slab_class cls[KA_SLAB_NCLASSES];
};

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

#endif /* KALLOC_SLAB_PRIV_H */
