/* SPDX-License-Identifier: MIT */
/*
 * The locking adapter (kalloc/lock.h): every operation of the wrapped allocator runs under
 * one platform lock. Entry point: ka_locked_init().
 *
 * Lock order: this adapter's lock is the outer one. The inner allocator runs inside it and
 * may take locks of its own (the global allocator's page-source lock), never the reverse.
 * The rescue function runs with the lock released, so it may call back into the adapter
 * (typically ka_add_memory) without deadlocking.
 *
 * Statistics: the generic layer would update the adapter's head outside the lock, so the
 * head carries KA_ALLOC_NOSTATS; the inner allocator keeps the figures (it is called through
 * the generic layer, under the lock) and they are copied into the head under the lock.
 */
#include "kalloc/lock.h"
#include "check.h"

static struct ka_locked *to_locked(struct ka_alloc *a)
{
	return (struct ka_locked *)a;
}

static unsigned long lk(struct ka_locked *l)
{
	return ka_plat_lock_acquire(&l->lock);
}

/* Copy the inner figures into the head, all but nb_enomem: that one counts the requests
 * that failed at the adapter (the generic layer bumps it, atomically, for heads without
 * statistics), including those it rejected before they reached the inner allocator. */
static void copy_stats(struct ka_stats *dst, const struct ka_stats *src)
{
	dst->last_alloc_size = src->last_alloc_size;
	dst->min_alloc_size = src->min_alloc_size;
	dst->max_alloc_size = src->max_alloc_size;
	dst->nb_allocs = src->nb_allocs;
	dst->nb_frees = src->nb_frees;
	dst->cur_nb_allocs = src->cur_nb_allocs;
	dst->max_nb_allocs = src->max_nb_allocs;
	dst->cur_mem_use = src->cur_mem_use;
	dst->max_mem_use = src->max_mem_use;
}

/* Publish the inner figures in the head, then drop the lock. */
static void unlk(struct ka_locked *l, unsigned long flags)
{
	copy_stats(&l->a.stats, ka_stats(l->inner));
	ka_plat_lock_release(&l->lock, flags);
}

static void *locked_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	void *p = ka_memalign(l->inner, align, size);

	unlk(l, f);
	if (!p && l->rescue) {
		l->rescue(a, size, align, l->rescue_arg);
		f = lk(l);
		p = ka_memalign(l->inner, align, size);
		unlk(l, f);
	}
	return p;
}

static void locked_free(struct ka_alloc *a, void *ptr)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);

	ka_free(l->inner, ptr);
	unlk(l, f);
}

static size_t locked_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	size_t n = ka_usable_size(l->inner, ptr);

	ka_plat_lock_release(&l->lock, f);
	return n;
}

static void *locked_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	void *p = ka_realloc(l->inner, ptr, size);

	unlk(l, f);
	if (!p && l->rescue) {
		l->rescue(a, size, KA_CFG_MIN_ALIGN, l->rescue_arg);
		f = lk(l);
		p = ka_realloc(l->inner, ptr, size);
		unlk(l, f);
	}
	return p;
}

static void *locked_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	void *p = ka_palloc_aligned(l->inner, npages, align);

	unlk(l, f);
	if (!p && l->rescue) {
		/* npages * KA_PAGE_SIZE cannot overflow: the generic layer checked it. */
		l->rescue(a, npages * KA_PAGE_SIZE, align, l->rescue_arg);
		f = lk(l);
		p = ka_palloc_aligned(l->inner, npages, align);
		unlk(l, f);
	}
	return p;
}

static void locked_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);

	ka_pfree(l->inner, ptr, npages);
	unlk(l, f);
}

static int locked_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	int rc = ka_add_memory(l->inner, base, len);

	unlk(l, f);
	return rc;
}

static void locked_info(struct ka_alloc *a, struct ka_info *out)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);

	ka_info(l->inner, out);
	ka_plat_lock_release(&l->lock, f);
}

static unsigned locked_check(struct ka_alloc *a)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	unsigned n = ka_check_op(l->inner);

	ka_plat_lock_release(&l->lock, f);
	return n;
}

static int locked_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	int rc = ka_walk_op(l->inner, fn, arg);

	ka_plat_lock_release(&l->lock, f);
	return rc;
}

static bool locked_owns(struct ka_alloc *a, const void *ptr)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	bool r = ka_owns(l->inner, ptr);

	ka_plat_lock_release(&l->lock, f);
	return r;
}

#if !KA_CFG_MINIMAL
/* Asked right after the allocation by the same thread: the block is the caller's, so the
 * answer does not change under it; the lock only keeps the lookup consistent. */
static bool locked_known_zero(struct ka_alloc *a, const void *ptr, size_t size)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f;
	bool r;

	if (!l->inner->ops->known_zero)
		return false;
	f = lk(l);
	r = l->inner->ops->known_zero(l->inner, ptr, size);
	ka_plat_lock_release(&l->lock, f);
	return r;
}
#endif

#if !KA_CFG_MINIMAL
static int locked_sweep(struct ka_alloc *a)
{
	struct ka_locked *l = to_locked(a);
	unsigned long f = lk(l);
	int rc = ka_sweep(l->inner);

	ka_plat_lock_release(&l->lock, f);
	return rc;
}
#endif

/* Template; each adapter copies it and takes the inner allocator's capabilities, so callers
 * that look at ops->caps see what the wrapped allocator can really do. */
static const struct ka_alloc_ops locked_ops = {
    .alloc = locked_alloc,
    .free = locked_free,
    .usable_size = locked_usable_size,
    .realloc = locked_realloc,
    .palloc = locked_palloc,
    .pfree = locked_pfree,
    .add_memory = locked_add_memory,
    .info = locked_info,
    .check = locked_check,
    .walk = locked_walk,
    .owns = locked_owns,
#if !KA_CFG_MINIMAL
    .known_zero = locked_known_zero,
    .sweep = locked_sweep,
#endif
    .caps = 0,
};

struct ka_alloc *ka_locked_init(struct ka_locked *l, struct ka_alloc *inner)
{
	if (!l || !inner)
		return NULL;
	l->ops = locked_ops;
	l->ops.caps = inner->ops->caps;
	ka_alloc_init(&l->a, &l->ops, "locked");
	l->a.flags |= KA_ALLOC_NOSTATS;
	l->inner = inner;
	l->rescue = NULL;
	l->rescue_arg = NULL;
	ka_plat_lock_init(&l->lock);
	copy_stats(&l->a.stats, ka_stats(inner));
	return &l->a;
}

void ka_locked_set_rescue(struct ka_locked *l, ka_rescue_fn fn, void *arg)
{
	l->rescue = fn;
	l->rescue_arg = arg;
}

struct ka_alloc *ka_locked_inner(struct ka_locked *l)
{
	return l->inner;
}

void ka_locked_stats(struct ka_locked *l, struct ka_stats *out)
{
	unsigned long f = lk(l);

	copy_stats(out, ka_stats(l->inner));
	ka_plat_lock_release(&l->lock, f);
#if UINTPTR_MAX > 0xffffffffu && defined(__GCC_ATOMIC_LLONG_LOCK_FREE) &&                          \
    __GCC_ATOMIC_LLONG_LOCK_FREE == 2
	out->nb_enomem = __atomic_load_n(&l->a.stats.nb_enomem, __ATOMIC_RELAXED);
#else
	out->nb_enomem = l->a.stats.nb_enomem;
#endif
}

unsigned long ka_locked_lock(struct ka_locked *l)
{
	return lk(l);
}

void ka_locked_unlock(struct ka_locked *l, unsigned long flags)
{
	unlk(l, flags);
}
