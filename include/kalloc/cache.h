/* SPDX-License-Identifier: MIT */
/**
 * @file cache.h
 * @brief Per-CPU cache adapter: a `struct ka_alloc` that fronts another allocator (normally
 * the global allocator) with per-CPU magazines of size classes and a bounded depot.
 *
 * Model: Bonwick's magazines (Bonwick & Adams, USENIX 2001). Every CPU holds, per size class,
 * two magazines (a loaded one and the previous one, each empty or a stack of up to `rounds`
 * blocks); behind them a depot per class keeps `depot` further magazines, full or empty,
 * under one lock. Blocks are whole blocks of the allocator below: the cache never carves
 * memory, so with backend X every block is X's block (issue 12, item 3).
 * When the allocator below is a global allocator's face (ka_global_of()), a miss takes a
 * quarter magazine from it in one batch (ka_global_alloc_batch(): one lock for the batch, one
 * backend allocation per block) and an overflow gives a quarter back (ka_global_free_batch());
 * over any other allocator, blocks move one at a time.
 *
 * Why magazines and not remote free lists (mimalloc, snmalloc): a remote free list needs to
 * find the owning CPU of a block from its address, i.e. a header or a page map of memory the
 * cache carved itself — a second slab allocator over X. With magazines a block has no owner:
 * a block freed on another CPU than the one that took it simply goes into the freeing CPU's
 * magazine, O(1), no atomic, no list to drain later.
 * What it costs: (1) blocks migrate between CPUs, so a producer/consumer pair keeps moving
 * full magazines through the depot (one lock per `rounds` operations) and the consumer reuses
 * memory the producer's cache lines last held; (2) memory held by the cache is bounded but
 * not small: at most (2 * ncpus + depot) * rounds blocks per class; (3) each block carries
 * a header of KA_CFG_MIN_ALIGN bytes (16 on x86_64) inside below's block, holding its class,
 * so that free finds the class without a call into the allocator below (whose usable_size
 * takes its lock when it is the global allocator or ka_locked); a request of the largest
 * class costs below a block of 1024 + 16 bytes; (4) the statistics of the head are shared
 * counters updated with relaxed atomic adds (a lock on 32-bit targets), one cache line every
 * CPU writes, unless KA_CACHE_PERCPU_STATS; (5) a foreign pointer is not detected (the
 * header is trusted; a header that is neither a class nor "large" panics: callers that may
 * see foreign pointers ask below's ownership first); double frees and writes after free only
 * with KA_CACHE_TAGS.
 *
 * CPU and exclusion come from the platform: ka_plat_cpu_enter() / ka_plat_cpu_leave() bracket
 * every access to the calling CPU's magazines (kernel: interrupts or preemption off, CPU id
 * from the kernel's hook; hosted: a per-thread slot, slots recycled when threads exit). A
 * caller whose id is >= ncpus (hosted: beyond the slots, or during thread exit) bypasses the
 * magazines and goes straight to the allocator below.
 *
 * Requirements on `below`: thread safe when the cache is used from several CPUs (the global
 * allocator is; wrap a bare backend in ka_locked_init()). Requests above max_size or aligned
 * beyond KA_CFG_MIN_ALIGN go to below at once (with the header) and come back to it on free;
 * ka_palloc()/ka_pfree() forward to below unchanged. ka_usable_size() of a cached block is its
 * class size (no call below).
 *
 * Fork (hosted): ka_cache_fork_prepare() before fork(), ka_cache_fork_parent() /
 * ka_cache_fork_child() after, in both processes; they hold every depot lock across the fork
 * (the platform's slot table handles itself). Magazines of threads that do not exist in the
 * child stay cached (bounded) and are not reused there.
 */
#ifndef KALLOC_CACHE_H
#define KALLOC_CACHE_H

#include <stddef.h>

#include "alloc.h"
#include "alloc_impl.h"
#include "platform.h"

/** Number of size classes the cache knows (16 B ... 2 KiB, waste <= 25% above 128 B). */
#define KA_CACHE_NCLASSES 24

/** @brief Configuration. Zero members (or a NULL config) take the defaults. */
struct ka_cache_config {
	unsigned ncpus;	 /**< CPU slots; default ka_plat_cpu_count() */
	unsigned rounds; /**< blocks per magazine; default 32 */
	unsigned depot;	 /**< magazines per class in the depot; default 4 */
	/** Largest cached request (rounded up to a class, at most 2048); default 1024. */
	size_t max_size;
	unsigned flags; /**< KA_CACHE_* */
};

/**
 * Keep the statistics per CPU (plain stores on the CPU's own row) instead of in shared
 * counters: no cache line written by every CPU. The head's figures are then refreshed only
 * by ka_cache_stats() (O(ncpus * classes)); there nb_allocs, nb_frees, cur_nb_allocs and
 * cur_mem_use are exact, max_nb_allocs and max_mem_use are the peaks seen by those refreshes, and
 * last/min/max_alloc_size stay 0. Ignored (shared counters kept) on targets without
 * lock-free 64-bit atomics.
 */
#define KA_CACHE_PERCPU_STATS 0x1u

/**
 * Keyed tags on free blocks (write-after-free and double-free detection). A block the cache
 * takes back carries, in its second word, its address XOR a per-cache secret
 * (ka_plat_entropy() at init). A free of a block whose second word is its tag already is a
 * double free; a block taken from a magazine whose tag is gone was written after its free.
 * Both are reported with ka_misuse() before the block moves. Cost: one load, compare and
 * store on each side (measured in docs/cache.md). A live block whose second word equals
 * its tag by chance would be taken for a double free: probability 2^-64 per free (64-bit).
 * Every block the cache hands out has at least 16 usable bytes (with or without the flag).
 * Without the flag the key is 0: the cache still writes that word (the block's own address
 * while it is free, 0 when it is handed out), so that its inline paths test nothing but the
 * word in either mode, and never reports.
 */
#define KA_CACHE_TAGS 0x2u

/**
 * @brief Bytes ka_cache_init() needs for this configuration. O(1).
 * @param ncpus CPU slots (0: ka_plat_cpu_count()); overrides cfg->ncpus.
 * @param cfg configuration or NULL.
 * @return the size, or 0 when the configuration is invalid (max_size above 2048, overflow).
 */
size_t ka_cache_memsize(unsigned ncpus, const struct ka_cache_config *cfg);

/**
 * @brief Build a cache in [mem, mem+len) in front of `below`.
 * @param mem storage, aligned to at least 64 bytes (the per-CPU rows are cache-line aligned).
 * @param len at least ka_cache_memsize(cfg ? cfg->ncpus : 0, cfg).
 * @param below the allocator the cache takes blocks from and gives them back to.
 * @param cfg configuration or NULL.
 * @return the adapter's head, or NULL when mem/below is NULL, mem misaligned, len too small
 * or cfg invalid. O(ncpus * classes). Not thread safe (call once before use).
 * The head keeps its own statistics (counters, never a walk); ka_walk() answers KA_ENOTSUP
 * (the blocks in magazines are live for `below`, so a walk of it would lie either way).
 */
struct ka_alloc *ka_cache_init(void *mem, size_t len, struct ka_alloc *below,
			       const struct ka_cache_config *cfg);

/**
 * @brief The cache's statistics. Without KA_CACHE_PERCPU_STATS the same as ka_stats(cache),
 * O(1); with it, first sums the per-CPU counters into the head, O(ncpus * classes). Thread safe;
 * with KA_CACHE_PERCPU_STATS, read the figures while no other thread refreshes them.
 */
const struct ka_stats *ka_cache_stats(struct ka_alloc *cache);

/** @brief The allocator below a cache. O(1). */
struct ka_alloc *ka_cache_below(struct ka_alloc *cache);

/**
 * @brief Give the calling CPU's cached blocks back to the allocator below (CPU going offline,
 * hosted thread exit when its slot is not to be inherited). O(classes * rounds). Thread safe.
 */
void ka_cache_flush_cpu(struct ka_alloc *cache);

/**
 * @brief Give the calling CPU's cached blocks and every full depot magazine back to the
 * allocator below. Other CPUs' magazines are theirs: each must call ka_cache_flush_cpu()
 * itself. O(classes * (depot + 2) * rounds). Thread safe. The cache calls it itself before
 * reporting out-of-memory.
 */
void ka_cache_flush(struct ka_alloc *cache);

/** @brief Blocks held in the calling CPU's magazines and the depot (not other CPUs'). */
size_t ka_cache_held(struct ka_alloc *cache);

/** @brief Take every depot lock (before fork()). */
void ka_cache_fork_prepare(struct ka_alloc *cache);
/** @brief Release them in the parent after fork(). */
void ka_cache_fork_parent(struct ka_alloc *cache);
/** @brief Re-initialise them in the child after fork(). */
void ka_cache_fork_child(struct ka_alloc *cache);

/* ---- inline fast paths ---------------------------------------------------------------
 * The layout below is the cache's own (cache.c), shown here only so that the common case of
 * ka_cache_malloc() / ka_cache_free() compiles into the caller: no call, one CPU lookup, a
 * magazine push or pop and a per-CPU counter. Not an interface: use the functions. */

/** @cond internal */
struct ka_cache_mag {
	struct ka_cache_mag *next;
	unsigned n;
	void *r[];
};

/* One CPU's magazines of one class, and the class blocks that CPU handed out and took back
 * (per-CPU statistics: written by that CPU only, read by ka_cache_stats()). */
struct ka_cache_slot {
	struct ka_cache_mag *loaded, *prev;
	size_t na, nf;
};

struct ka_cache_head {
	struct ka_alloc a;
	unsigned char *rows; /* ncpus rows of ncl slots, then the row's other counters */
	size_t row_bytes;
	size_t max_size; /* largest class */
	unsigned ncpus, ncl, rounds;
	/* What the inline paths serve: max_size and ncl with per-CPU statistics (or none),
	 * 0 otherwise (every request then takes ka_malloc() / ka_free()). */
	size_t fast_max;
	size_t fast_ncl;
	uintptr_t key; /* KA_CACHE_TAGS' secret, 0 without tags */
	/* ka_cache_may_hold(): bits a class block's address never has (KA_CFG_MIN_ALIGN - 1),
	 * all of them on ka_cache_none_head. */
	uintptr_t ptr_mask;
};

/* The word before each block: its class (or KA_CACHE_NCLASSES: passed to below) and the gap
 * to below's block (KA_CFG_MIN_ALIGN for class blocks). */
#define KA_CACHE_HDR ((size_t)KA_CFG_MIN_ALIGN)

#if !KA_CFG_ANNOTATE && KA_CFG_DEBUG < 3
#define KA_CACHE_INLINE 1
#else
#define KA_CACHE_INLINE 0 /* every operation through the generic layer (checks, checker) */
#endif

noreturn void ka_cache_tag_broken(struct ka_alloc *cache, const void *p);
noreturn void ka_cache_double_free(struct ka_alloc *cache, const void *p);

/* The class of every 16-byte step of sizes 1..2048 (16 B steps to 128, then four per power of
 * two): every class is a multiple of 16, so the class of s is that of s rounded up to 16.
 * One list, two tables: the class itself (ka_cache_class()) and its slot's byte offset in a
 * CPU row (ka_cache_try_malloc(), which so needs no multiply by the slot's size). */
#define KA_CACHE_OF16_(X)                                                                          \
	X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), X(8), X(8), X(9), X(9), X(10), X(10),      \
	    X(11), X(11), X(12), X(12), X(12), X(12), X(13), X(13), X(13), X(13), X(14), X(14),    \
	    X(14), X(14), X(15), X(15), X(15), X(15), X(16), X(16), X(16), X(16), X(16), X(16),    \
	    X(16), X(16), X(17), X(17), X(17), X(17), X(17), X(17), X(17), X(17), X(18), X(18),    \
	    X(18), X(18), X(18), X(18), X(18), X(18), X(19), X(19), X(19), X(19), X(19), X(19),    \
	    X(19), X(19), X(20), X(20), X(20), X(20), X(20), X(20), X(20), X(20), X(20), X(20),    \
	    X(20), X(20), X(20), X(20), X(20), X(20), X(21), X(21), X(21), X(21), X(21), X(21),    \
	    X(21), X(21), X(21), X(21), X(21), X(21), X(21), X(21), X(21), X(21), X(22), X(22),    \
	    X(22), X(22), X(22), X(22), X(22), X(22), X(22), X(22), X(22), X(22), X(22), X(22),    \
	    X(22), X(22), X(23), X(23), X(23), X(23), X(23), X(23), X(23), X(23), X(23), X(23),    \
	    X(23), X(23), X(23), X(23), X(23), X(23)
#define KA_CACHE_CLASS_(k)   k
#define KA_CACHE_SLOTOFF_(k) (unsigned short)((k) * sizeof(struct ka_cache_slot))

/* Smallest class >= s, 1 <= s <= 2048: one byte of a table indexed by (s - 1) / 16
 * (test_cache_mt checks it against the classes' formula). */
static inline unsigned ka_cache_class(size_t s)
{
	static const unsigned char of16[128] = {KA_CACHE_OF16_(KA_CACHE_CLASS_)};

	/* The mask keeps the index in the table for any s (the callers pass 1..2048). */
	return of16[((s - 1) >> 4) & 127u];
}

static inline struct ka_cache_slot *ka_cache_slot_at(const struct ka_cache_head *c, size_t cpu,
						     size_t k)
{
	return (struct ka_cache_slot *)(void *)(c->rows + cpu * c->row_bytes) + k;
}
/** @endcond */

/**
 * @brief A head that serves nothing, for a caller that keeps one pointer to "the cache, or
 * none now" (the shim before its heap is ready, without a cache, while it records a trace):
 * on it ka_cache_try_malloc() answers NULL and ka_cache_may_hold() false (ka_cache_try_free()
 * false too, after reading the words before ptr as on any cache), so that caller's fast path
 * has no NULL test of its own. Nothing else may be called on it (it is not an allocator).
 */
extern const struct ka_cache_head ka_cache_none_head;
/** ka_cache_none_head as the `struct ka_alloc *` the inline paths take (never written). */
#define KA_CACHE_NONE ((struct ka_alloc *)(uintptr_t)&ka_cache_none_head)

/**
 * @brief The common case of ka_malloc(cache, size) alone: a class block from the calling CPU's
 * loaded magazine (tag checked with KA_CACHE_TAGS), or NULL when that takes more (size 0 or
 * above the inline classes, empty magazine, no CPU row): the caller then calls ka_malloc(),
 * which also gives the error. So a caller with a slow path of its own (the shim's errno, its
 * set-up) keeps one test on the fast one. O(1), never calls below. Thread safe as the cache is.
 */
static inline void *ka_cache_try_malloc(struct ka_alloc *cache, size_t size)
{
#if KA_CACHE_INLINE
	struct ka_cache_head *c = (struct ka_cache_head *)(void *)cache;

	if (__builtin_expect(size - 1 < c->fast_max, 1)) {
		static const unsigned short off16[128] = {KA_CACHE_OF16_(KA_CACHE_SLOTOFF_)};
		size_t off;

		/* fast_max <= 2048 (ka_cache_init): the index needs no mask. */
		if ((size - 1) >> 11)
			__builtin_unreachable();
		off = off16[(size - 1) >> 4];
		unsigned long f;
		/* As wide as the offset it scales: no zero extension before the multiply. */
		size_t cpu = ka_plat_cpu_try_enter(&f);

		if (__builtin_expect(cpu < c->ncpus, 1)) {
			struct ka_cache_slot *s =
			    (struct ka_cache_slot *)(void *)(c->rows + cpu * c->row_bytes + off);
			struct ka_cache_mag *m = s->loaded;

			if (__builtin_expect(m->n != 0, 1)) {
				void *p = m->r[--m->n];
				uintptr_t *w = (uintptr_t *)p + 1, key = c->key;

				/* Without tags the word holds p ^ 0 as well (every free writes
				 * it), so this compare is the only test in either mode. */
				if (__builtin_expect(*w != ((uintptr_t)p ^ key), 0) && key != 0)
					ka_cache_tag_broken(cache, p);
				*w = 0;
				if (KA_CFG_STATS)
					__atomic_store_n(&s->na, s->na + 1, __ATOMIC_RELAXED);
				ka_plat_cpu_leave(f);
				return p;
			}
		}
		ka_plat_cpu_leave(f);
	}
#else
	(void)cache;
	(void)size;
#endif
	return NULL;
}

/**
 * @brief ka_malloc(cache, size), the common case inline (ka_cache_try_malloc()), else
 * ka_malloc(). Same contract as ka_malloc() on the cache. O(1). Thread safe as the cache is.
 */
static inline void *ka_cache_malloc(struct ka_alloc *cache, size_t size)
{
	void *p = ka_cache_try_malloc(cache, size);

	return __builtin_expect(p != NULL, 1) ? p : ka_malloc(cache, size);
}

/**
 * @brief Whether ptr may be a class block of cache, from its address alone (aligned to
 * KA_CFG_MIN_ALIGN; never on KA_CACHE_NONE): a caller that must not read near a pointer it
 * has not checked (the words ka_cache_try_free() reads) asks this first, then the allocator
 * below's ownership. Reads the head only. O(1): one test.
 */
static inline bool ka_cache_may_hold(const struct ka_alloc *cache, const void *ptr)
{
	const struct ka_cache_head *c = (const struct ka_cache_head *)(const void *)cache;

	return ((uintptr_t)ptr & c->ptr_mask) == 0;
}

/**
 * @brief ka_free(cache, ptr) for a non-NULL ptr, the common case inline: a class block goes
 * into the calling CPU's loaded magazine (double free refused with KA_CACHE_TAGS), else
 * ka_free() (also on a thread's first call, which takes its CPU slot there). Reads the word before
 * ptr, as ka_free() on the cache does: a caller that may be handed foreign pointers asks the
 * allocator below first (ka_global_owns()). O(1).
 * @return true when the block is in a magazine; false when the caller must call ka_free()
 * (magazine full, not a class block, no CPU row): so that it may do what a call below needs
 * (the shim keeps errno) only then.
 */
static inline bool ka_cache_try_free(struct ka_alloc *cache, void *ptr)
{
#if KA_CACHE_INLINE
	struct ka_cache_head *c = (struct ka_cache_head *)(void *)cache;
	const size_t *h = (const size_t *)(const void *)((unsigned char *)ptr - KA_CACHE_HDR);
	size_t k = h[0];

	if (__builtin_expect(k < c->fast_ncl && h[1] == KA_CACHE_HDR, 1)) {
		uintptr_t *w = (uintptr_t *)ptr + 1, key = c->key, t = (uintptr_t)ptr ^ key;
		unsigned long f;
		size_t cpu;

		/* The word first: it differs from t in the common case, so that one compare
		 * settles it with tags or without (the key's test only behind it). */
		if (__builtin_expect(*w == t, 0) && key != 0)
			ka_cache_double_free(cache, ptr);
		cpu = ka_plat_cpu_try_enter(&f);
		if (__builtin_expect(cpu < c->ncpus, 1)) {
			struct ka_cache_slot *s = ka_cache_slot_at(c, cpu, k);
			struct ka_cache_mag *m = s->loaded;

			if (__builtin_expect(m->n < c->rounds, 1)) {
				*w = t; /* p ^ 0 without tags: no test of the key here */
				m->r[m->n++] = ptr;
				if (KA_CFG_STATS)
					__atomic_store_n(&s->nf, s->nf + 1, __ATOMIC_RELAXED);
				ka_plat_cpu_leave(f);
				return true;
			}
		}
		ka_plat_cpu_leave(f);
	}
#else
	(void)cache;
	(void)ptr;
#endif
	return false;
}

/** @brief ka_free(cache, ptr) with the inline common case (ka_cache_try_free()). O(1). */
static inline void ka_cache_free(struct ka_alloc *cache, void *ptr)
{
	if (ptr && !ka_cache_try_free(cache, ptr))
		ka_free(cache, ptr);
}

#endif /* KALLOC_CACHE_H */
