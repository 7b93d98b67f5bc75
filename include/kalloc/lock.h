/* SPDX-License-Identifier: MIT */
/**
 * @file lock.h
 * @brief The locking adapter: makes any `struct ka_alloc` safe for several threads or CPUs.
 *
 * `struct ka_locked` is itself a `struct ka_alloc` that wraps another one (the "inner"
 * allocator) and runs every operation on it under one platform lock (kalloc/platform.h):
 *  - freestanding builds: a spinlock taken with interrupts disabled, so an allocator that is
 *    also used from interrupt handlers cannot deadlock against the code it interrupted (the
 *    bug rCore's spin-only LockedHeap had in Asterinas);
 *  - hosted builds: a pthread mutex.
 *
 * The inner allocator is called through the generic layer (ka_malloc, ka_free, ...), so it
 * keeps its own statistics and gets the generic fallbacks; the adapter keeps none of its own
 * (its head carries KA_ALLOC_NOSTATS) but copies the inner allocator's statistics into its
 * head, under the lock, after every operation, so ka_stats() on the adapter shows them. The
 * one exception is nb_enomem: on the adapter it counts the requests that failed as seen by
 * its callers (rejected arguments included; a request rescued by the retry is not a failure),
 * bumped atomically on 64-bit targets; on 32-bit targets two failures at the same instant
 * may count as one (a 64-bit atomic would need libatomic there).
 *
 * Rescue (rCore's LockedHeapWithRescue): an optional function called when an allocation
 * fails, WITHOUT the lock held, after which the request is retried once. It may add memory
 * to the allocator (ka_add_memory on the adapter) or free caches.
 *
 * Lock order: the adapter's lock is taken by each operation and released before it returns;
 * it is never held while the rescue function runs, nor while control is back in the
 * caller. Inside it only the inner allocator runs; if the inner allocator takes locks of its
 * own (the global allocator's page source does), those nest INSIDE this one. Walk callbacks
 * run with the lock held and must not call back into the same adapter (the lock is not
 * recursive: that would deadlock).
 *
 * check() and walk() are safe against the heap's other operations, but a backend's checker
 * may read the bytes of live blocks (slab tells free from used objects by a mark inside
 * each object), so running them while other threads write into their blocks is a data race
 * on that memory: harmless to the heap, reported by ThreadSanitizer. Check when quiescent.
 */
#ifndef KALLOC_LOCK_H
#define KALLOC_LOCK_H

#include <stddef.h>

#include "alloc_impl.h"
#include "platform.h"

/**
 * @brief Called when an allocation through the adapter failed; the request is then retried
 * once. Runs without the adapter's lock held, possibly on several threads at once (each
 * failing thread calls it), so it must be thread safe itself.
 * @param a the adapter (the `struct ka_alloc` ka_locked_init() returned)
 * @param size the request's size in bytes (for page requests: npages * KA_PAGE_SIZE)
 * @param align the request's alignment
 * @param arg the pointer given to ka_locked_set_rescue()
 */
typedef void (*ka_rescue_fn)(struct ka_alloc *a, size_t size, size_t align, void *arg);

/**
 * @brief State of one locking adapter. Caller-provided storage (static, or inside a larger
 * structure); the members are private.
 */
struct ka_locked {
	struct ka_alloc a;	 /**< the adapter's head (first: it is the allocator) */
	struct ka_alloc_ops ops; /**< inner's capabilities forwarded: one table per adapter */
	struct ka_alloc *inner;	 /**< the wrapped allocator */
	struct ka_lock lock;	 /**< guards `inner` and the head's statistics */
	ka_rescue_fn rescue;	 /**< out-of-memory rescue, or NULL */
	void *rescue_arg;	 /**< its argument */
};

/**
 * @brief Wrap `inner` with a lock.
 * @return the adapter, to use with every ka_* call of kalloc/alloc.h in place of `inner`
 * (which must not be used directly any more while other threads may use the adapter).
 * NULL iff `l` or `inner` is NULL.
 * O(1). Not thread safe itself: initialise before sharing. The capabilities (ops->caps) are
 * the inner allocator's; every operation is forwarded, including walk and owns.
 */
struct ka_alloc *ka_locked_init(struct ka_locked *l, struct ka_alloc *inner);

/**
 * @brief Register (or, with fn NULL, remove) the out-of-memory rescue function.
 * Call before sharing the adapter (the pointer pair is read without the lock).
 */
void ka_locked_set_rescue(struct ka_locked *l, ka_rescue_fn fn, void *arg);

/** @brief The wrapped allocator. O(1). */
struct ka_alloc *ka_locked_inner(struct ka_locked *l);

/**
 * @brief Copy the inner allocator's statistics under the lock: a consistent snapshot while
 * other threads allocate (ka_stats() on the adapter reads without the lock; use it only when
 * no other thread is active). O(1), thread safe.
 */
void ka_locked_stats(struct ka_locked *l, struct ka_stats *out);

/**
 * @brief Take the adapter's lock, to run several calls on ka_locked_inner() atomically.
 * @return the interrupt state to give back to ka_locked_unlock(). Not recursive: do not call
 * the adapter's own operations while holding it.
 */
unsigned long ka_locked_lock(struct ka_locked *l);

/** @brief Release the lock taken by ka_locked_lock(). */
void ka_locked_unlock(struct ka_locked *l, unsigned long flags);

#endif /* KALLOC_LOCK_H */
