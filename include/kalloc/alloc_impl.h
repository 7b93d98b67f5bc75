/* SPDX-License-Identifier: MIT */
/**
 * @file alloc_impl.h
 * @brief For backend and adapter authors: the ops table and the helpers they share.
 *
 * A backend embeds `struct ka_alloc` as the FIRST member of its state and points `ops` at one
 * `static const struct ka_alloc_ops` (so the table can live in ROM). The generic layer
 * (src/core/alloc.c) guarantees, before it calls an op:
 *  - alloc(): 1 <= size, size <= SIZE_MAX/2, align a power of two >= KA_CFG_MIN_ALIGN;
 *  - alloc_counted(): as alloc();
 *  - free(), free_counted(), usable_size(), realloc(): ptr != NULL (the backend checks it is
 *    its own);
 *  - realloc(): size >= 1;
 *  - palloc()/pfree(): npages >= 1, npages * KA_PAGE_SIZE does not overflow, align is a power
 *    of two >= KA_PAGE_SIZE.
 * Ops never touch `struct ka_alloc.stats` but through alloc_counted() and free_counted(): the
 * generic layer keeps them.
 * Optional ops may be NULL; the generic layer then falls back (see each member).
 */
#ifndef KALLOC_ALLOC_IMPL_H
#define KALLOC_ALLOC_IMPL_H

#include "alloc.h"
#include "platform.h"

/** @brief Operations of one backend or adapter. */
struct ka_alloc_ops {
	/** Required. Return a block of >= size bytes aligned to align, or NULL. */
	void *(*alloc)(struct ka_alloc *a, size_t size, size_t align);
	/** Required. Release a block (may be a no-op, e.g. region). Detect misuse where cheap. */
	void (*free)(struct ka_alloc *a, void *ptr);
	/**
	 * Optional, with free_counted. alloc() that also keeps the statistics:
	 * ka_stats_alloc_done(a, p, size, usable size of block p) at its end, which counts the
	 * block or, for NULL, the failure. The generic layer calls it instead of alloc() on heads
	 * that keep statistics, for requests of 1 byte or more (a zero-size request counts 0 as
	 * its size): ka_malloc() then makes one tail call, and the figures are updated where the
	 * block's size is known, with no second look at its header.
	 */
	void *(*alloc_counted)(struct ka_alloc *a, size_t size, size_t align);
	/**
	 * Optional, with alloc_counted. free() that also counts the block:
	 * ka_stats_free_done(a, usable size the block had), for the same reason.
	 */
	void (*free_counted)(struct ka_alloc *a, void *ptr);
	/** Required. Usable bytes of a live block. */
	size_t (*usable_size)(struct ka_alloc *a, const void *ptr);
	/**
	 * Optional. Resize in place or move; NULL on failure with the old block intact.
	 * Fallback: keep the block if it fits and is not more than twice the need, else
	 * alloc + copy + free.
	 */
	void *(*realloc)(struct ka_alloc *a, void *ptr, size_t size);
	/** Optional. Pages; fallback: alloc(npages * page, max(align, page)). */
	void *(*palloc)(struct ka_alloc *a, size_t npages, size_t align);
	/** Optional (required if palloc is set). */
	void (*pfree)(struct ka_alloc *a, void *ptr, size_t npages);
	/** Optional. Return 0 or KA_E*; NULL means KA_ENOTSUP. */
	int (*add_memory)(struct ka_alloc *a, void *base, size_t len);
	/** Required. Memory figures. */
	void (*info)(struct ka_alloc *a, struct ka_info *out);
	/** Required. Count inconsistencies, log each, never abort. */
	/* NULL: no checker in this build, or not linked: a backend may name it weakly
	 * (KA_CHECKER_REF, src/core/check.h) so that only programs calling ka_check() link it */
	unsigned (*check)(struct ka_alloc *a);
	/** Optional. Visit blocks; NULL means KA_ENOTSUP. */
	int (*walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	/** Optional. Is ptr inside this allocator's memory? NULL means "cannot tell" (false). */
	bool (*owns)(struct ka_alloc *a, const void *ptr);
#if !KA_CFG_MINIMAL
	/* Not in the minimal configuration: 2 pointers of every ops table (a firmware heap
	 * clears in calloc and holds nothing back to sweep). */
	/**
	 * Optional. Called by ka_calloc() right after alloc() returned ptr: true if the first
	 * `size` bytes of the block are known to be zero (fresh pages from a zero-filling
	 * source), so the clearing can be skipped; NULL or false: ka_calloc() clears them.
	 * Clearing fresh pages would commit every one of them at once.
	 */
	bool (*known_zero)(struct ka_alloc *a, const void *ptr, size_t size);
	/**
	 * Optional. Verify now the freed memory the allocator holds back (hardened: its
	 * quarantine), reporting damage through ka_misuse(); 0 when intact. NULL: nothing to
	 * verify (ka_sweep() returns KA_ENOTSUP). Adapters forward it.
	 */
	int (*sweep)(struct ka_alloc *a);
#endif
	/** KA_CAP_* flags describing this backend. */
	unsigned caps;
};

/** Flags in struct ka_alloc.flags. */
/** Do not keep statistics (hot adapters below a cache, benchmarks). ka_malloc() and ka_free()
 * on such a head then call the backend directly after one flag test (below debug level 3 and
 * without an active memory checker); the failure count nb_enomem is still kept. */
#define KA_ALLOC_NOSTATS 0x1u
/** Set by ka_alloc_init() when the ops have alloc_counted and free_counted: ka_malloc() and
 * ka_free() then find their common case (statistics kept, by the backend) in one test of
 * flags. Never set it by hand; clearing it only sends calls down the general path. A head
 * whose ops change after ka_alloc_init() must be initialised again. */
#define KA_ALLOC_COUNTED 0x2u

/**
 * @brief The counters of a head that keeps statistics, from which ka_stats() derives the
 * public figures (struct ka_stats) when asked. Live figures are stored as the distance to
 * their peak, so that a block counts with one subtraction per figure (and a branch only when
 * the peak grows) and is taken back with one addition; nb_frees is nb_allocs minus the live
 * blocks.
 */
struct ka_counters {
	size_t last_alloc_size; /**< as in struct ka_stats */
	size_t min_alloc_size;
	size_t max_alloc_size;
	uint64_t nb_allocs;
	size_t max_nb_allocs;
	size_t nb_room; /**< max_nb_allocs - cur_nb_allocs */
	size_t max_mem_use;
	size_t mem_room; /**< max_mem_use - cur_mem_use */
};

/**
 * @brief The head of every allocator. Backends embed it first and set it with ka_alloc_init().
 * With statistics kept (no KA_ALLOC_NOSTATS) the figures live in `ctr` and `stats` is the view
 * ka_stats() fills, but for nb_enomem, which is always counted in `stats`. Heads without
 * (the cache, the locking adapter) keep their figures in `stats` themselves.
 */
struct ka_alloc {
	const struct ka_alloc_ops *ops;
	const char *name;
	unsigned flags;
	struct ka_counters ctr;
	struct ka_stats stats;
};

/** @brief Initialise the head: ops, name, zeroed statistics. O(1). */
void ka_alloc_init(struct ka_alloc *a, const struct ka_alloc_ops *ops, const char *name);

/**
 * @brief Report misuse and stop: formats "kalloc: <name>: <what> (ptr 0x...)" into a stack
 * buffer and calls ka_plat_panic(). For double frees, foreign pointers, corrupted headers.
 * With KA_CFG_REPORT 0 the message is the fixed "kalloc: heap misuse" (no formatter linked).
 */
noreturn void ka_misuse(const struct ka_alloc *a, const char *what, const void *ptr);

/**
 * @brief Log one checker finding: "kalloc: <name>: check: <what> (at 0x...)" at KA_LOG_ERR.
 * Checkers call it once per inconsistency they count. KA_CFG_REPORT 0: "kalloc: check failed".
 */
void ka_check_report(const struct ka_alloc *a, const char *what, const void *where);

#if !KA_CFG_REPORT
/* Without formatted reports the descriptions are never printed: dropping them at the call
 * keeps their strings out of the program. */
#define ka_misuse(a, what, ptr)		((void)(what), (ka_misuse)((a), NULL, (ptr)))
#define ka_check_report(a, what, where) ((void)(what), (ka_check_report)((a), NULL, (where)))
#endif

/**
 * @brief Count one block handed out in figures kept as struct ka_stats (adapters that keep
 * their own, such as the cache; heads that keep statistics count in `ctr` instead, with
 * ka_count_alloc(), which gives the same figures): request size req (last/min/max), usable
 * bytes (current and peak use, live and peak block counts). O(1), branches only for min/max;
 * not atomic: the caller serialises.
 */
static inline void ka_stats_note_alloc(struct ka_stats *s, size_t req, size_t bytes)
{
	s->last_alloc_size = req;
	if (req < s->min_alloc_size)
		s->min_alloc_size = req;
	if (req > s->max_alloc_size)
		s->max_alloc_size = req;
	s->nb_allocs++;
	s->cur_nb_allocs++;
	if (s->cur_nb_allocs > s->max_nb_allocs)
		s->max_nb_allocs = s->cur_nb_allocs;
	s->cur_mem_use += bytes;
	if (s->cur_mem_use > s->max_mem_use)
		s->max_mem_use = s->cur_mem_use;
}

/** @brief Count one block of `bytes` usable bytes taken back. O(1); the caller serialises. */
static inline void ka_stats_note_free(struct ka_stats *s, size_t bytes)
{
	s->nb_frees++;
	s->cur_nb_allocs--;
	s->cur_mem_use -= bytes;
}

/**
 * @brief *p -= v; true if that wrapped (v > *p). On x86-64 one subtraction in memory whose
 * borrow is the result: compilers otherwise load, subtract, test and store, which is most of
 * what counting a block costs.
 */
static inline bool ka_sub_borrows(size_t *p, size_t v)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
	bool borrow;

	__asm__("subq %2, %0" : "+m"(*p), "=@ccc"(borrow) : "er"(v));
	return borrow;
#else
	return __builtin_sub_overflow(*p, v, p);
#endif
}

/**
 * @brief ka_stats_note_alloc() for a head that keeps statistics (its `ctr`). O(1); branches
 * only for min/max and a new peak; the caller serialises. Code built for size (-Os) calls
 * one shared copy, ka_count_alloc_shared(), instead of holding its own.
 */
static inline void ka_count_alloc_inline(struct ka_counters *c, size_t req, size_t bytes)
{
	c->last_alloc_size = req;
	if (req < c->min_alloc_size)
		c->min_alloc_size = req;
	if (req > c->max_alloc_size)
		c->max_alloc_size = req;
	c->nb_allocs++;
	/* A room that went below 0 is a new peak: the peak grows by the excess. */
	if (__builtin_expect(ka_sub_borrows(&c->nb_room, 1), 0)) {
		c->max_nb_allocs -= c->nb_room;
		c->nb_room = 0;
	}
	if (__builtin_expect(ka_sub_borrows(&c->mem_room, bytes), 0)) {
		c->max_mem_use -= c->mem_room;
		c->mem_room = 0;
	}
}

/** @brief ka_count_alloc_inline() out of line (src/core/alloc.c), for code built for size. */
void ka_count_alloc_shared(struct ka_counters *c, size_t req, size_t bytes);

#ifdef __OPTIMIZE_SIZE__
/* Not inlined at -Os anyway (compilers keep a static copy in every object that counts, 70
 * bytes on Cortex-M4): one copy for the whole program. */
#define ka_count_alloc ka_count_alloc_shared
#else
static inline void ka_count_alloc(struct ka_counters *c, size_t req, size_t bytes)
{
	ka_count_alloc_inline(c, req, bytes);
}
#endif

/** @brief ka_stats_note_free() for a head that keeps statistics. O(1); the caller serialises. */
static inline void ka_count_free(struct ka_counters *c, size_t bytes)
{
	c->nb_room++;
	c->mem_room += bytes;
}

/**
 * @brief The end of a backend's alloc_counted(): count block p (usable bytes) for a request
 * of req bytes, or the failure if p is NULL; returns p. O(1); the caller serialises.
 */
static inline void *ka_stats_alloc_done(struct ka_alloc *a, void *p, size_t req, size_t usable)
{
	if (__builtin_expect(p != NULL, 1))
		ka_count_alloc(&a->ctr, req, usable);
	else
		a->stats.nb_enomem++;
	return p;
}

/** @brief The end of a backend's free_counted(): count a block of `usable` bytes taken back. */
static inline void ka_stats_free_done(struct ka_alloc *a, size_t usable)
{
	ka_count_free(&a->ctr, usable);
}

/* ---- small helpers every backend needs ------------------------------------------------- */

/** True iff x is a power of two (0 is not). */
static inline bool ka_is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/** Round x up to a multiple of the power of two a; caller guarantees no overflow. */
static inline uintptr_t ka_align_up(uintptr_t x, size_t a)
{
	return (x + (a - 1)) & ~(uintptr_t)(a - 1);
}

/** Round x down to a multiple of the power of two a. */
static inline uintptr_t ka_align_down(uintptr_t x, size_t a)
{
	return x & ~(uintptr_t)(a - 1);
}

/** *out = a + b; returns true on overflow. */
static inline bool ka_add_overflow(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

/** *out = a * b; returns true on overflow. */
static inline bool ka_mul_overflow(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

/**
 * Index of the most significant set bit of x (x != 0): floor(log2 x). Uses the CPU's clz where
 * KA_CFG_HAVE_CLZ says the compiler inlines it, a binary search otherwise (unrolled, or a
 * loop in size builds), so no libgcc helper is ever called.
 */
static inline unsigned ka_fls(size_t x)
{
#if KA_CFG_HAVE_CLZ
	/* XOR, not subtraction: the same value for 0..63, and compilers then emit x86's bsr
	 * alone instead of bsr followed by two corrections. */
	return (unsigned)(sizeof(size_t) * 8 - 1) ^ (unsigned)__builtin_clzl((unsigned long)x);
#elif defined(__OPTIMIZE_SIZE__)
	/* The same binary search as a loop: a third of the code, for a few more steps. */
	unsigned r = 0;

	for (unsigned s = sizeof(size_t) * 4; s; s >>= 1)
		if (x >> s) {
			x >>= s;
			r += s;
		}
	return r;
#else
	unsigned r = 0;
#if SIZE_MAX > 0xffffffffu
	if (x >> 32) {
		x >>= 32;
		r += 32;
	}
#endif
	if (x >> 16) {
		x >>= 16;
		r += 16;
	}
	if (x >> 8) {
		x >>= 8;
		r += 8;
	}
	if (x >> 4) {
		x >>= 4;
		r += 4;
	}
	if (x >> 2) {
		x >>= 2;
		r += 2;
	}
	if (x >> 1)
		r += 1;
	return r;
#endif
}

/**
 * True iff d is a multiple of 2^shift and d / 2^shift < n (0 < shift < bits of uintptr_t):
 * d rotated right by shift is below n only if the bits rotated out to the top were zero.
 * One rotate and one compare test an offset for alignment and range at once; a backend's
 * "may this be a block of mine" test before it reads anything at the address.
 */
static inline bool ka_aligned_index_below(uintptr_t d, unsigned shift, uintptr_t n)
{
	return ((d >> shift) | (d << (sizeof(uintptr_t) * 8 - shift))) < n;
}

/** Index of the least significant set bit of x (x != 0). */
static inline unsigned ka_ffs(size_t x)
{
#if KA_CFG_HAVE_CLZ
	return (unsigned)__builtin_ctzl((unsigned long)x);
#else
	return ka_fls(x & (~x + 1));
#endif
}

/* Memory-checker annotations (ASan poisoning, Valgrind client requests) live in the generic
 * layer only, not in backends: src/core/annotate.h, docs/annotate.md. They reserve bit
 * 0x80000000 of struct ka_alloc.flags (KA_ALLOC_AN_SEEN). */

#if KA_CFG_DEBUG >= 1
#define KA_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ka_assert_fail(#cond, __FILE__, __LINE__);                                 \
	} while (0)
#else
#define KA_ASSERT(cond)                                                                            \
	do {                                                                                       \
	} while (0)
#endif

/** @brief Failed KA_ASSERT: panics with the condition and location. */
noreturn void ka_assert_fail(const char *cond, const char *file, int line);

#endif /* KALLOC_ALLOC_IMPL_H */
