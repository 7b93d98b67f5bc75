/* SPDX-License-Identifier: MIT */
/*
 * The pool backend: objects of one size and alignment, a LIFO free list through the free
 * objects, a bump index for objects never handed out, and one live bit per object so that
 * foreign, interior and doubly freed pointers are caught in O(1). Entry points:
 * ka_pool_create() and the registry constructor ka_pool_init(). The in-band layout is
 * described in pool_priv.h, the model in docs/backend-pool.md.
 */
#include "pool_priv.h"
#include "check.h"
#include "kstring.h"

/* In pool_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). */
KA_CHECKER_REF unsigned ka_pool_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_pool_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

static const struct ka_alloc_ops pool_ops;

/* Registry regions below this cannot hold the state and one default object. */
#define POOL_MIN_SIZE 1024

_Static_assert(sizeof(struct ka_pool_state) + sizeof(size_t) + 2 * KA_CFG_MIN_ALIGN +
		       KA_CFG_POOL_DEFAULT_OBJ <=
		   POOL_MIN_SIZE,
	       "POOL_MIN_SIZE too small for one default object");

static const struct ka_pool_state *pool_of(const struct ka_alloc *a)
{
	if (a->ops != &pool_ops)
		ka_misuse(a, "pool call on an allocator that is not a pool", a);
	return (const struct ka_pool_state *)a;
}

/* ---- geometry --------------------------------------------------------------------------- */

/* Effective object size and alignment; false for invalid or overflowing parameters. */
static bool effective(size_t obj_size, size_t obj_align, size_t *osz, size_t *align)
{
	if (obj_size == 0)
		return false;
	if (obj_align == 0)
		obj_align = KA_CFG_MIN_ALIGN;
	if (!ka_is_pow2(obj_align))
		return false;
	if (obj_align < KA_CFG_MIN_ALIGN)
		obj_align = KA_CFG_MIN_ALIGN;
	if (obj_size < sizeof(void *))
		obj_size = sizeof(void *);
	if (obj_size > SIZE_MAX - (obj_align - 1))
		return false;
	*osz = ka_align_up(obj_size, obj_align);
	*align = obj_align;
	return true;
}

/*
 * Where n objects start and how many bytes from the descriptor at `d` (header `hdr` bytes)
 * to their end: the one formula behind creation, add_memory and the size queries, so that
 * ka_pool_memsize() is exact by construction. False on overflow.
 */
static bool layout(uintptr_t d, size_t hdr, size_t n, size_t osz, size_t align, uintptr_t *start,
		   size_t *need)
{
	size_t words = (n >> KA_POOL_WSHIFT) + ((n & (KA_POOL_WBITS - 1)) != 0);
	size_t bm, objs, off;
	uintptr_t s;

	if (ka_mul_overflow(words, sizeof(size_t), &bm) || ka_add_overflow(hdr, bm, &off) ||
	    ka_add_overflow(off, align - 1, &off) || ka_mul_overflow(n, osz, &objs))
		return false;
	if (d > UINTPTR_MAX - off)
		return false;
	s = ka_align_up(d + hdr + bm, align);
	if (s > UINTPTR_MAX - objs)
		return false;
	*start = s;
	*need = s + objs - d;
	return true;
}

/* Most objects that fit in `avail` bytes after descriptor `d`: a binary search over the
 * monotone layout() (O(log n), and exact where a closed form would need rounding care). */
static size_t fit(uintptr_t d, size_t hdr, size_t avail, size_t osz, size_t align)
{
	size_t lo = 0, hi = avail / osz + 1;
	uintptr_t s;
	size_t need;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (layout(d, hdr, mid, osz, align, &s, &need) && need <= avail)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static size_t memsize(size_t hdr, size_t n, size_t obj_size, size_t obj_align)
{
	size_t osz, align, need;
	uintptr_t s;

	if (n == 0 || !effective(obj_size, obj_align, &osz, &align))
		return 0;
	/* Relative to a base aligned to `align`, the layout is that of address 0. */
	if (!layout(0, hdr, n, osz, align, &s, &need))
		return 0;
	return need;
}

size_t ka_pool_memsize(size_t n, size_t obj_size, size_t obj_align)
{
	return memsize(sizeof(struct ka_pool_state), n, obj_size, obj_align);
}

size_t ka_pool_area_memsize(size_t n, size_t obj_size, size_t obj_align)
{
	return memsize(sizeof(struct ka_pool_area), n, obj_size, obj_align);
}

/* Set up area `ar` whose descriptor is at d (header hdr) over region [lo, hi). */
static bool area_init(struct ka_pool_state *st, struct ka_pool_area *ar, uintptr_t lo, uintptr_t hi,
		      uintptr_t d, size_t hdr)
{
	size_t n = fit(d, hdr, hi - d, st->osz, st->align);
	uintptr_t s;
	size_t need;

	if (n == 0 || !layout(d, hdr, n, st->osz, st->align, &s, &need))
		return false;
	ar->region_lo = lo;
	ar->region_hi = hi;
	ar->start = s;
	ar->end = s + n * st->osz;
	ar->nobj = n;
	ar->bump = 0;
	ar->next = NULL;
	ar->map = (size_t *)(d + hdr);
	memset(ar->map, 0, (size_t)((n + KA_POOL_WBITS - 1) >> KA_POOL_WSHIFT) * sizeof(size_t));
	return true;
}

/* ---- objects ---------------------------------------------------------------------------- */

/* An object, or NULL. req != 0 (alloc_counted): counted in the statistics. Inline into the
 * counted entry (req known not 0, no call) and into take() for the others (req 0) in speed
 * builds; size builds keep one body, which both share. */
#ifdef __OPTIMIZE_SIZE__
#define POOL_TAKE_INLINE
#else
#define POOL_TAKE_INLINE __attribute__((always_inline))
#endif
static inline POOL_TAKE_INLINE void *take_body(struct ka_pool_state *st, size_t req)
{
	void *p = st->free;
	struct ka_pool_area *ar;
	size_t i;

	if (p) {
		ar = area_of(st, (uintptr_t)p);
		if (!ar)
			ka_misuse(&st->head, "pool free list corrupted (use after free?)", p);
		i = obj_index(st, ar, (uintptr_t)p);
		if (live(ar, i) || i >= ar->bump)
			ka_misuse(&st->head, "pool free list corrupted (use after free?)", p);
		/* The link is checked as it is read, not only when it becomes the head: a
		 * slot taken and freed again would otherwise carry a damaged link forward. */
		st->free = *(void **)p;
		if (st->free && !area_of(st, (uintptr_t)st->free))
			ka_misuse(&st->head, "pool free list corrupted (use after free?)", p);
	} else {
		ar = st->bump_area;
		if (!ar) {
#if KA_CFG_STATS
			if (req)
				st->head.stats.nb_enomem++;
#endif
			return NULL;
		}
		i = ar->bump++;
		p = (void *)(ar->start + i * st->osz);
		/* Areas after the bump area were never used, so the next one is fresh. */
		if (ar->bump == ar->nobj)
			st->bump_area = ar->next;
	}
	ar->map[i >> KA_POOL_WSHIFT] |= (size_t)1 << (i & (KA_POOL_WBITS - 1));
	st->nfree--;
#if KA_CFG_STATS
	if (req)
		ka_count_alloc(&st->head.ctr, req, st->osz);
#else
	(void)req;
#endif
	return p;
}

static void *take(struct ka_pool_state *st)
{
	return take_body(st, 0);
}

/* Validate a live object pointer (or panic) and return its area and index. */
static struct ka_pool_area *lookup(struct ka_pool_state *st, const void *ptr, size_t *idx)
{
	struct ka_pool_area *ar = area_of(st, (uintptr_t)ptr);
	size_t i;

	if (!ar)
		ka_misuse(&st->head, "pointer is not an object of this pool", ptr);
	i = obj_index(st, ar, (uintptr_t)ptr);
	if (ar->start + i * st->osz != (uintptr_t)ptr)
		ka_misuse(&st->head, "pointer is not at an object boundary of this pool", ptr);
	if (!live(ar, i))
		ka_misuse(&st->head,
			  i < ar->bump ? "double free" : "free of an object never allocated", ptr);
	*idx = i;
	return ar;
}

/* Inline into free and free_counted, as it was into free alone. */
static inline __attribute__((always_inline)) void put(struct ka_pool_state *st, void *ptr)
{
	size_t i;
	struct ka_pool_area *ar = lookup(st, ptr, &i);

	ar->map[i >> KA_POOL_WSHIFT] &= ~((size_t)1 << (i & (KA_POOL_WBITS - 1)));
	*(void **)ptr = st->free;
	st->free = ptr;
	st->nfree++;
}

/* ---- ops -------------------------------------------------------------------------------- */

static void *pool_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	struct ka_pool_state *st = st_of(a);

	if (size > st->osz || align > st->align)
		return NULL;
	return take(st);
}

static void pool_free(struct ka_alloc *a, void *ptr)
{
	put(st_of(a), ptr);
}

/* Every object has the pool's object size: the counted entries count it without a lookup.
 * Without statistics the generic layer never calls them: they are left out. */
#if KA_CFG_STATS
static size_t pool_free_sized(struct ka_alloc *a, void *ptr)
{
	pool_free(a, ptr);
	return st_of(a)->osz;
}

/* The entries the generic layer calls when it keeps statistics. */
static void *pool_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	struct ka_pool_state *st = st_of(a);

	if (size > st->osz || align > st->align) {
		a->stats.nb_enomem++;
		return NULL;
	}
	if (size == 0) /* size >= 1 (alloc_impl.h): the counting needs no test */
		__builtin_unreachable();
	return take_body(st, size);
}

static void pool_free_counted(struct ka_alloc *a, void *ptr)
{
	ka_stats_free_done(a, pool_free_sized(a, ptr));
}
#endif

static size_t pool_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_pool_state *st = st_of(a);
	size_t i;

	lookup(st, ptr, &i);
	return st->osz;
}

static int pool_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct ka_pool_state *st = st_of(a);
	uintptr_t lo = (uintptr_t)base, hi = lo + len, d = ka_align_up(lo, KA_CFG_MIN_ALIGN);
	struct ka_pool_area *ar;

	for (ar = &st->first; ar; ar = ar->next)
		if (lo < ar->region_hi && hi > ar->region_lo)
			return KA_EEXIST;
	if (d < lo || d >= hi || hi - d < sizeof(struct ka_pool_area))
		return KA_EINVAL;
	ar = (struct ka_pool_area *)d;
	if (!area_init(st, ar, lo, hi, d, sizeof(*ar)))
		return KA_EINVAL;
	st->last->next = ar;
	st->last = ar;
	st->nareas++;
	st->ntotal += ar->nobj;
	st->nfree += ar->nobj;
	if (!st->bump_area)
		st->bump_area = ar;
	return 0;
}

static void pool_info(struct ka_alloc *a, struct ka_info *out)
{
	struct ka_pool_state *st = st_of(a);
	size_t total = 0;

	for (struct ka_pool_area *ar = &st->first; ar; ar = ar->next)
		total += ar->region_hi - ar->region_lo;
	out->total = total;
	out->avail = st->nfree * st->osz;
	out->maxalloc = st->nfree ? st->osz : 0;
	out->meta = total - st->ntotal * st->osz;
}

static bool pool_owns(struct ka_alloc *a, const void *ptr)
{
	struct ka_pool_state *st = st_of(a);
	uintptr_t p = (uintptr_t)ptr;

	for (struct ka_pool_area *ar = &st->first; ar; ar = ar->next)
		if (p >= ar->region_lo && p < ar->region_hi)
			return true;
	return false;
}

#define POOL_CAPS (KA_CAP_FREE | KA_CAP_ADDMEM | KA_CAP_WALK | KA_CAP_OWNS)

static const struct ka_alloc_ops pool_ops = {
    .alloc = pool_alloc,
#if KA_CFG_STATS
    .alloc_counted = pool_alloc_counted,
    .free_counted = pool_free_counted,
#endif
    .free = pool_free,
    .usable_size = pool_usable_size,
    .add_memory = pool_add_memory,
    .info = pool_info,
    .check = ka_pool_check_impl,
    .walk = ka_pool_walk_impl,
    .owns = pool_owns,
    .caps = POOL_CAPS,
};

/* ---- public ----------------------------------------------------------------------------- */

struct ka_alloc *ka_pool_create(void *base, size_t len, size_t obj_size, size_t obj_align)
{
	uintptr_t lo = (uintptr_t)base, hi, d;
	struct ka_pool_state *st;
	size_t osz, align;

	if (!base || !effective(obj_size, obj_align, &osz, &align) || len > UINTPTR_MAX - lo)
		return NULL;
	hi = lo + len;
	d = ka_align_up(lo, KA_CFG_MIN_ALIGN);
	if (d < lo || d >= hi || hi - d < sizeof(*st))
		return NULL;
	st = (struct ka_pool_state *)d;
	memset(st, 0, sizeof(*st));
	ka_alloc_init(&st->head, &pool_ops, "pool");
	st->osz = osz;
	st->align = align;
	st->shift = ka_is_pow2(osz) ? ka_fls(osz) : 0;
	if (!area_init(st, &st->first, lo, hi, d, sizeof(*st)))
		return NULL;
	st->nareas = 1;
	st->ntotal = st->nfree = st->first.nobj;
	st->bump_area = &st->first;
	st->last = &st->first;
	return &st->head;
}

struct ka_alloc *ka_pool_init(void *base, size_t len)
{
	if (!base || len < POOL_MIN_SIZE)
		return NULL;
	return ka_pool_create(base, len, KA_CFG_POOL_DEFAULT_OBJ, KA_CFG_MIN_ALIGN);
}

/* Batch calls bypass the generic layer, so they keep its statistics themselves, with the
 * same meaning: each object counts as one allocation of the object size. */
static void stats_take(struct ka_alloc *a, size_t osz)
{
	if (KA_CFG_STATS && !(a->flags & KA_ALLOC_NOSTATS))
		ka_count_alloc(&a->ctr, osz, osz);
}

static void stats_put(struct ka_alloc *a, size_t osz)
{
	if (KA_CFG_STATS && !(a->flags & KA_ALLOC_NOSTATS))
		ka_count_free(&a->ctr, osz);
}

static void batch_debug_check(struct ka_alloc *a)
{
#if KA_CFG_DEBUG >= 3
	if (a->ops->check && a->ops->check(a) != 0)
		ka_misuse(a, "heap check failed after a batch operation", NULL);
#else
	(void)a;
#endif
}

size_t ka_pool_take_batch(struct ka_alloc *a, void **out, size_t n)
{
	struct ka_pool_state *st = (struct ka_pool_state *)pool_of(a);
	size_t i;

	for (i = 0; i < n; i++) {
		void *p = take(st);

		if (!p)
			break;
		out[i] = p;
		stats_take(a, st->osz);
	}
	batch_debug_check(a);
	return i;
}

void ka_pool_return_batch(struct ka_alloc *a, void *const *ptrs, size_t n)
{
	struct ka_pool_state *st = (struct ka_pool_state *)pool_of(a);

	for (size_t i = 0; i < n; i++) {
		if (!ptrs[i])
			continue;
		put(st, ptrs[i]);
		stats_put(a, st->osz);
	}
	batch_debug_check(a);
}

size_t ka_pool_free_count(const struct ka_alloc *a)
{
	return pool_of(a)->nfree;
}

size_t ka_pool_total_count(const struct ka_alloc *a)
{
	return pool_of(a)->ntotal;
}

size_t ka_pool_obj_size(const struct ka_alloc *a)
{
	return pool_of(a)->osz;
}

size_t ka_pool_obj_align(const struct ka_alloc *a)
{
	return pool_of(a)->align;
}

const struct ka_backend ka_backend_pool = {
    .name = "pool",
    .desc = "fixed-size objects (ukallocpool): LIFO free list, batches, O(1) misuse checks",
    .caps = POOL_CAPS,
    .init = ka_pool_init,
    .min_size = POOL_MIN_SIZE,
};
