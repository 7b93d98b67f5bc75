/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the TLSF backend (src/backend/tlsf.c): the in-band block format, the pool
 * header, the control structure and the size-class mapping. Shared by tlsf.c, its checker
 * (tlsf_validate.c) and the white-box unit test (tests/unit/test_tlsf.c); nothing else may
 * include it.
 *
 * In-band encoding (every address below is inside the managed memory)
 * -------------------------------------------------------------------
 * A pool is cut into physically adjacent blocks and ends with a sentinel block:
 *
 *     [pool header][blk A hdr | A payload ......][blk B hdr | B payload ...]...[sentinel hdr]
 *
 * Each block starts with a two-word header, `struct tlsf_block`:
 *   - prev_phys: the address of the physically previous block, or NULL for the first block of
 *     a pool. It is ALWAYS valid (not only when the previous block is free, unlike classic
 *     TLSF), so free() can verify that the next block points back at the block being freed;
 *     this costs one word per block and catches interior and forged pointers in O(1).
 *   - size: the block's stride (distance from this header to the next block's header, a
 *     multiple of TLSF_ALIGN) OR-ed with two flag bits that the alignment leaves free:
 *       bit 0  TLSF_FREE       this block is free (and then on exactly one free list);
 *       bit 1  TLSF_PREV_FREE  the physically previous block is free (a copy of the previous
 *                              block's TLSF_FREE bit, so free() need not touch the previous
 *                              block's cache line when it is in use).
 * The payload starts right after the header (header + 2 words) and runs to the next header:
 * usable size = stride - TLSF_HDR. Header addresses are chosen so that every payload is
 * aligned to KA_CFG_MIN_ALIGN (header address + TLSF_HDR is a multiple of TLSF_ALIGN).
 *
 * A free block also uses the first two payload words for the links of its segregated free
 * list (next_free, prev_free; NULL-terminated), hence the minimum stride TLSF_MIN_STRIDE.
 *
 * The sentinel is a header with stride 0, TLSF_FREE clear (it is never merged), and
 * TLSF_PREV_FREE set when the last real block is free. Its prev_phys points at the last block.
 *
 * Invariants (checked by ka_tlsf_check_impl()):
 *   I1  blocks tile each pool: first block .. sentinel, strides multiples of TLSF_ALIGN, each
 *       >= TLSF_MIN_STRIDE; next(b)->prev_phys == b; first block's prev_phys == NULL.
 *   I2  next(b).TLSF_PREV_FREE == b.TLSF_FREE.
 *   I3  no two physically adjacent blocks are both free (immediate coalescing).
 *   I4  a block is on a free list iff it is free, and then on list mapping(stride) exactly.
 *   I5  bit sl of sl_bitmap[fl] is set iff heads[fl][sl] != NULL; bit fl of fl_bitmap is set
 *       iff sl_bitmap[fl] != 0.
 *   I6  avail == sum over free blocks of (stride - TLSF_HDR).
 */
#ifndef KALLOC_TLSF_PRIV_H
#define KALLOC_TLSF_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/tlsf.h"

/* ---- sizes and the size-class mapping ---------------------------------------------------- */

/** Bits in size_t, derived from SIZE_MAX so that 32-bit targets get 32. */
#if SIZE_MAX > 0xffffffffu
#define TLSF_SIZE_BITS 64u
#else
#define TLSF_SIZE_BITS 32u
#endif

/** Word size; the header is two of them. */
#define TLSF_W	 sizeof(size_t)
#define TLSF_HDR (2 * TLSF_W)

/** Payload alignment (and stride granularity). */
#define TLSF_ALIGN ((size_t)KA_CFG_MIN_ALIGN)

/** log2(TLSF_ALIGN) as a constant expression (usable in array bounds). */
#define TLSF_ALIGN_LOG2                                                                            \
	(TLSF_ALIGN == 4    ? 2u                                                                   \
	 : TLSF_ALIGN == 8  ? 3u                                                                   \
	 : TLSF_ALIGN == 16 ? 4u                                                                   \
	 : TLSF_ALIGN == 32 ? 5u                                                                   \
	 : TLSF_ALIGN == 64 ? 6u                                                                   \
			    : 7u)

/** Second level: 2^5 = 32 lists per power of two, i.e. at most ~3% internal rounding. */
#define TLSF_SL_LOG2  5u
#define TLSF_SL_COUNT (1u << TLSF_SL_LOG2)

/**
 * Strides below TLSF_SMALL (= TLSF_SL_COUNT * TLSF_ALIGN) live in first-level list 0, one list
 * per exact stride; from TLSF_SMALL on, first level fl >= 1 covers [2^(fl+FL_SHIFT-1),
 * 2^(fl+FL_SHIFT)) split into TLSF_SL_COUNT equal parts.
 */
#define TLSF_FL_SHIFT (TLSF_SL_LOG2 + TLSF_ALIGN_LOG2)
#define TLSF_SMALL    ((size_t)1 << TLSF_FL_SHIFT)

/** Largest stride of one block: half the address space (no pool or request is larger). */
#define TLSF_MAX_STRIDE ((size_t)1 << (TLSF_SIZE_BITS - 1))

/** First-level lists: list 0 plus one per power of two from TLSF_SMALL to TLSF_MAX_STRIDE. */
#define TLSF_FL_COUNT (TLSF_SIZE_BITS - TLSF_FL_SHIFT + 1)

/** A free block holds its header, its two list links, and nothing else. */
#define TLSF_MIN_STRIDE ((4 * TLSF_W + TLSF_ALIGN - 1) & ~(TLSF_ALIGN - 1))

/** Index of list (fl, sl) in heads[] (the flat numbering of tlsf_index()). */
#define TLSF_LIST(fl, sl) ((fl)*TLSF_SL_COUNT + (sl))

/** Flag bits in struct tlsf_block.size. */
#define TLSF_FREE      ((size_t)1)
#define TLSF_PREV_FREE ((size_t)2)
#define TLSF_FLAGS     (TLSF_FREE | TLSF_PREV_FREE)

_Static_assert(sizeof(void *) == sizeof(size_t), "tlsf assumes pointer-sized size_t");
_Static_assert(TLSF_ALIGN >= TLSF_W && TLSF_ALIGN >= 4 && (TLSF_ALIGN & (TLSF_ALIGN - 1)) == 0,
	       "KA_CFG_MIN_ALIGN must be a power of two >= sizeof(void *)");
_Static_assert(TLSF_ALIGN_LOG2 < 7u, "KA_CFG_MIN_ALIGN above 64 is not supported");
_Static_assert(TLSF_FL_COUNT <= TLSF_SIZE_BITS, "fl_bitmap must fit in a size_t");
_Static_assert((TLSF_MIN_STRIDE & (TLSF_MIN_STRIDE - 1)) == 0,
	       "checker divides by it with a shift");

/**
 * A second-level bitmap: 32 bits are enough (TLSF_SL_COUNT), but 64-bit size builds keep it in
 * a full word, which their loads and shifts then need not narrow and widen again.
 */
#if defined(__OPTIMIZE_SIZE__) && TLSF_SIZE_BITS == 64
typedef size_t tlsf_slmap_t;
#else
typedef uint32_t tlsf_slmap_t;
#endif

/** Block header; see the encoding comment at the top of this file. */
struct tlsf_block {
	struct tlsf_block *prev_phys;
	size_t size;
	/* Only valid while the block is free: */
	struct tlsf_block *next_free;
	struct tlsf_block *prev_free;
};

/**
 * Pool header, placed right before the pool's first block. `start`/`end` are the caller's
 * range (for owns() and overlap checks); the init pool's start is the control structure's
 * base, so the control structure counts as managed memory too.
 */
struct tlsf_pool {
	struct tlsf_pool *next;
	uintptr_t start;
	uintptr_t end;
	struct tlsf_block *sentinel;
};

/**
 * The allocator: `struct ka_alloc` first, then the pool list and the scalars, then the
 * two-level index. The index goes last so that every scalar sits at a small offset from the
 * state: riscv64 loads one of them at an offset above 2 KiB with an extra instruction pair,
 * Thumb-2 one above 124 bytes with a 32-bit instead of a 16-bit load.
 */
struct ka_tlsf {
	struct ka_alloc base;
	uintptr_t blo;		 /* lowest first-block address of any pool */
	uintptr_t hi;		 /* highest sentinel address of any pool */
	uintptr_t top;		 /* hi - TLSF_MIN_STRIDE: no block header lies above it */
	uintptr_t units;	 /* (top - blo) / TLSF_ALIGN + 1: see tlsf_in_heap() */
	size_t avail;		 /* sum of usable sizes of free blocks (I6) */
	size_t total;		 /* bytes handed to init + add_memory */
	size_t meta;		 /* bytes never usable: control, pool headers, ... */
	struct tlsf_pool *pools; /* in the order they were added */
	struct tlsf_pool **pool_tail;
	size_t npools;
	size_t fl_bitmap;		       /* bit fl: sl_bitmap[fl] != 0 */
	tlsf_slmap_t sl_bitmap[TLSF_FL_COUNT]; /* bit sl: heads[fl][sl] != NULL */
	struct tlsf_block
	    *heads[TLSF_FL_COUNT * TLSF_SL_COUNT]; /* list (fl, sl): TLSF_LIST(fl, sl) */
};

/** Bytes the control structure takes at the start of init's region, worst case. */
#define TLSF_CONTROL_SIZE (sizeof(struct ka_tlsf) + TLSF_ALIGN - 1)

/** Bytes of a pool (base and len aligned to TLSF_ALIGN) that the first block cannot use. */
#define TLSF_POOL_OVERHEAD                                                                         \
	(((sizeof(struct tlsf_pool) + TLSF_HDR + TLSF_ALIGN - 1) & ~(TLSF_ALIGN - 1)) + TLSF_HDR)

/** Smallest len that add_memory() accepts for any base address. */
#define TLSF_MIN_POOL_SIZE                                                                         \
	(TLSF_POOL_OVERHEAD + (TLSF_MIN_STRIDE - TLSF_HDR) + 2 * (TLSF_ALIGN - 1))

/* ---- the mapping, inline for the hot path and for white-box tests ------------------------ */

static inline size_t tlsf_stride(const struct tlsf_block *b)
{
	return b->size & ~TLSF_FLAGS;
}

static inline struct tlsf_block *tlsf_next(const struct tlsf_block *b)
{
	return (struct tlsf_block *)((uintptr_t)b + tlsf_stride(b));
}

static inline void *tlsf_payload(const struct tlsf_block *b)
{
	return (void *)((uintptr_t)b + TLSF_HDR);
}

static inline struct tlsf_block *tlsf_from_payload(const void *p)
{
	return (struct tlsf_block *)((uintptr_t)p - TLSF_HDR);
}

/**
 * Stride of a block whose payload holds `size` bytes. Caller guarantees
 * 1 <= size <= SIZE_MAX / 2, so nothing overflows.
 */
static inline size_t tlsf_stride_for(size_t size)
{
	size_t s = (size + TLSF_HDR + TLSF_ALIGN - 1) & ~(TLSF_ALIGN - 1);

	/* For size >= 1 (every caller's: the generic layer's contract) s is at least TLSF_HDR +
	 * TLSF_ALIGN, already a minimum block in every configuration except KA_CFG_MIN_ALIGN 8
	 * on 64-bit targets: the compare is compiled only there. */
	KA_ASSERT(size >= 1);
	if (TLSF_HDR + TLSF_ALIGN < TLSF_MIN_STRIDE && s < TLSF_MIN_STRIDE)
		s = TLSF_MIN_STRIDE;
	return s;
}

/*
 * Lists are numbered flat: list (fl, sl) is index fl * TLSF_SL_COUNT + sl, so heads[] can be
 * addressed with one index and fl, sl are its high and low bits. For a stride s >= TLSF_SMALL
 * with f = fls(s), fl = f - TLSF_FL_SHIFT + 1 and sl = (s >> (f - 5)) - 32, hence
 * index = (f - TLSF_FL_SHIFT) * 32 + (s >> (f - 5)): one bit scan, two shifts and an add, no
 * loop and no table.
 */

#if !KA_CFG_HAVE_CLZ && defined(__OPTIMIZE_SIZE__)
/*
 * Size builds without clz: the bit scans as the smallest loops, one step per bit (at most the
 * bits of a word; the allocator scans a bitmap of at most TLSF_FL_COUNT or TLSF_SL_COUNT
 * bits), computed in size_t so that no use widens a 32-bit result again. Speed builds keep
 * ka_fls()'s binary search.
 */
static __attribute__((noinline, unused)) size_t tlsf_fls(size_t x)
{
	size_t r = 0;

	while (x >>= 1)
		r++;
	return r;
}

static __attribute__((noinline, unused)) size_t tlsf_ffs(size_t x)
{
	return tlsf_fls(x & (~x + 1));
}
#else
static inline size_t tlsf_fls(size_t x)
{
	return ka_fls(x);
}

static inline size_t tlsf_ffs(size_t x)
{
	return ka_ffs(x);
}
#endif

#if !KA_CFG_HAVE_CLZ && defined(__OPTIMIZE_SIZE__)
/*
 * Size builds without clz: tlsf_index() (up 0) and tlsf_index_up() (up 1) as one leaf body that
 * halves the stride's unit count down into a row, one row per halving, and remembers whether a
 * halving dropped a set bit (the stride is then above its list's first one: rounding up takes
 * the next list). At most TLSF_FL_COUNT - 2 halvings, and none below TLSF_SMALL * 2.
 */
static __attribute__((noinline, unused)) size_t tlsf_index_by_halving(size_t stride, size_t up)
{
	size_t i = stride >> TLSF_ALIGN_LOG2, row = 0, lost = 0;

	while (i >= 2 * TLSF_SL_COUNT) {
		lost |= i & 1;
		i >>= 1;
		row += TLSF_SL_COUNT;
	}
	return row + i + (lost & up);
}
#define TLSF_INDEX_BY_HALVING 1
#else
#define TLSF_INDEX_BY_HALVING 0
#endif

/** Index of the list a free block of this stride lives on (rounding down). */
static inline size_t tlsf_index(size_t stride)
{
#if TLSF_INDEX_BY_HALVING
	return tlsf_index_by_halving(stride, 0);
#else
	unsigned f;

	if (stride < TLSF_SMALL)
		return stride >> TLSF_ALIGN_LOG2;
	f = (unsigned)tlsf_fls(stride);
	return ((size_t)(f - TLSF_FL_SHIFT) << TLSF_SL_LOG2) + (stride >> (f - TLSF_SL_LOG2));
#endif
}

/**
 * Index of the first list whose EVERY block has at least this stride: the stride's own list
 * if the stride is that list's smallest, else the next one (rounding up; sl 32 carries into
 * the next row by itself). Searching from there never has to walk a list (good fit, O(1)).
 * Defined for every stride up to TLSF_MAX_STRIDE + TLSF_ALIGN (the largest request's).
 */
static inline size_t tlsf_index_up(size_t stride)
{
#if TLSF_INDEX_BY_HALVING
	return tlsf_index_by_halving(stride, 1);
#elif defined(__OPTIMIZE_SIZE__)
	/* One body with tlsf_index(): the index of the stride rounded up (tlsf_round_up()). */
	if (stride >= TLSF_SMALL)
		stride += ((size_t)1 << (tlsf_fls(stride) - TLSF_SL_LOG2)) - 1;
	return tlsf_index(stride);
#else
	unsigned f, sh;

	if (stride < TLSF_SMALL)
		return stride >> TLSF_ALIGN_LOG2;
	f = (unsigned)tlsf_fls(stride);
	sh = f - TLSF_SL_LOG2;
	return ((size_t)(f - TLSF_FL_SHIFT) << TLSF_SL_LOG2) +
	       ((stride + (((size_t)1 << sh) - 1)) >> sh);
#endif
}

/** The list (fl, sl) a free block of this stride lives on. */
static inline void tlsf_mapping(size_t stride, unsigned *fl, unsigned *sl)
{
	size_t i = tlsf_index(stride);

	*fl = (unsigned)(i >> TLSF_SL_LOG2);
	*sl = (unsigned)(i & (TLSF_SL_COUNT - 1));
}

/**
 * Round a request's stride up to the first stride of its list's successor (unless it is the
 * first stride of its list): mapping(round_up(s)) is the list tlsf_index_up(s) names. For the
 * tests and the docs; the allocator uses tlsf_index_up().
 */
static inline size_t tlsf_round_up(size_t stride)
{
	if (stride >= TLSF_SMALL)
		stride += ((size_t)1 << (tlsf_fls(stride) - TLSF_SL_LOG2)) - 1;
	return stride;
}

/** Smallest stride that maps to list (fl, sl); for tests, the checker and the docs. */
static inline size_t tlsf_list_min(unsigned fl, unsigned sl)
{
	if (fl == 0)
		return (size_t)sl << TLSF_ALIGN_LOG2;
	return ((size_t)1 << (fl + TLSF_FL_SHIFT - 1)) +
	       ((size_t)sl << (fl + TLSF_FL_SHIFT - 1 - TLSF_SL_LOG2));
}

/**
 * Index of the least significant set bit of a second-level bitmap (x != 0): ka_ffs() on 32
 * bits, which spares x86-64 the widening of x.
 */
static inline size_t tlsf_ffs32(tlsf_slmap_t x)
{
#if KA_CFG_HAVE_CLZ && __SIZEOF_INT__ >= 4
	return (unsigned)__builtin_ctz(x);
#else
	return tlsf_ffs(x);
#endif
}

/**
 * May b be a block header of this heap: aligned like one and inside [blo, top]? One subtract,
 * one rotate and one compare: a misaligned difference rotates its low bits to the top and
 * fails the same compare as an address out of range. NULL is never in the heap. Nothing at b
 * is read, so any value may be tested.
 */
static inline bool tlsf_in_heap(const struct ka_tlsf *t, const void *b)
{
	return ka_aligned_index_below((uintptr_t)b - t->blo, TLSF_ALIGN_LOG2, t->units);
}

static inline struct ka_tlsf *tlsf_of(struct ka_alloc *a)
{
	return (struct ka_tlsf *)a;
}

/** The checker (tlsf_validate.c): counts and reports every broken invariant I1..I6. */
unsigned ka_tlsf_check_impl(struct ka_alloc *a);
/** The walker (tlsf_validate.c): every block of every pool, in address order. */
int ka_tlsf_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_TLSF_PRIV_H */
