/* SPDX-License-Identifier: MIT */
/*
 * The slab backend: 48 size classes for requests up to KA_SLAB_MAX_SMALL bytes, carved out of
 * KA_SLAB_SIZE-aligned slabs taken from a page source; larger requests go to the page source
 * with a header in front. Entry points: ka_slab_create() (over any page source) and
 * ka_slab_init() (registry: slab state + a buddy page source in one region).
 * The in-band encoding is described in slab_priv.h, the model in docs/backend-slab.md.
 *
 * Why this shape: ArceOS's slab allocator scanned its slabs on free and took 380 ms on a
 * random-free pattern that TLSF handled in 0.7 ms. Here no path loops over slabs or objects:
 * the slab is found by masking the pointer, the slot by a multiply, a double free by one
 * per-object mark, and the slab moves between the full and partial lists in O(1) (doubly
 * linked).
 */
#include "slab_priv.h"
#include "check.h"
#include "kalloc/buddy.h"
#include "kstring.h"

/* In slab_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). */
KA_CHECKER_REF unsigned ka_slab_check_impl(struct ka_alloc *a);
KA_CHECKER_REF int ka_slab_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

static const struct ka_alloc_ops slab_ops;

/* Keep the slow paths out of line so the fast paths need no callee-saved registers. */
#define KA_SLAB_COLD	    __attribute__((noinline, cold))
#define KA_SLAB_LIKELY(x)   __builtin_expect(!!(x), 1)
#define KA_SLAB_UNLIKELY(x) __builtin_expect(!!(x), 0)

_Static_assert(KA_SLAB_SHIFT >= 15 && KA_SLAB_SHIFT <= 20, "slab size out of range");
_Static_assert(sizeof(struct ka_slab_large) <= KA_SLAB_LH, "large header too big");
_Static_assert(KA_SLAB_LH % KA_CFG_MIN_ALIGN == 0, "large header breaks alignment");
_Static_assert(KA_SLAB_OBJ_ALIGN % KA_CFG_MIN_ALIGN == 0, "object alignment too small");
_Static_assert(KA_PAGE_SIZE > 2 * KA_SLAB_LH, "pages too small for large headers");
_Static_assert(KA_SLAB_NCLASSES == 16 + 8 * 4, "class table and KA_SLAB_MAX_SMALL disagree");

/* ---- class geometry -------------------------------------------------------------------- */

/* Usable slots of a class laid out at object offset `off`. Init-time only. */
static uint32_t count_usable(struct ka_slab_class *c, uint32_t off, uint32_t nobj)
{
	uint32_t n = 0;

	c->obj_off = off;
	for (uint32_t i = 0; i < nobj; i++)
		n += !ka_slab_reserved(c, i);
	return n;
}

/*
 * Lay out one class: colour area and header first, then the objects from a multiple of
 * KA_SLAB_OBJ_ALIGN. Of the first few candidate offsets the one with the most usable slots
 * wins, so that classes whose slots would fall on reserved page offsets (a multiple of the
 * page size, e.g. 4096) are shifted off them instead of losing whole columns of slots.
 */
static void layout_class(struct ka_slab_class *c, uint32_t size)
{
	uint32_t hdr = (uint32_t)(sizeof(struct ka_slab) + (KA_SLAB_NCOLOURS - 1) * KA_SLAB_LINE);
	uint32_t best_off = 0, best_n = 0, best_u = 0;
	uint32_t min_off = (uint32_t)ka_align_up(hdr, KA_SLAB_OBJ_ALIGN);

	c->size = size;
	for (uint32_t k = 0; k < 4; k++) {
		uint32_t off = min_off + k * KA_SLAB_OBJ_ALIGN;
		uint32_t nobj = (uint32_t)((KA_SLAB_SIZE - off) / size);
		uint32_t u = count_usable(c, off, nobj);

		if (u > best_u) {
			best_u = u;
			best_off = off;
			best_n = nobj;
		}
		if (u == nobj)
			break;
	}
	c->obj_off = best_off;
	c->nobj = best_n;
	c->usable = best_u;
	c->span = best_n * size;
	c->recip = (uint32_t)(0xffffffffu / size) + 1;
	c->first = 0;
	while (ka_slab_reserved(c, c->first))
		c->first++;
	c->partial = c->full = c->spare = NULL;
	c->nslabs = 0;
}

/*
 * Whether off is a multiple of the class size, from the same product: with
 * recip = ceil(2^32 / size) and off = q * size + r, the low half of off * recip is
 * q * (size * recip - 2^32) + r * recip, which is below recip iff r == 0 as long as
 * off < 2^32 / size (the same bound that makes slot_index() exact). One compare instead of
 * multiplying the index back; tests/unit/test_slab.c checks every offset of every class.
 */
static inline bool slot_exact(uint32_t recip, size_t off)
{
	return (uint32_t)((uint64_t)off * recip) < recip;
}

/* ---- lists ------------------------------------------------------------------------------ */

static inline void list_push(struct ka_slab **head, struct ka_slab *s)
{
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
}

static inline void list_del(struct ka_slab **head, struct ka_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*head = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

/* ---- page source ------------------------------------------------------------------------ */

static void hull_add(struct ka_slab_state *st, void *base, size_t bytes)
{
	uintptr_t lo = (uintptr_t)base, hi = lo + bytes;

	if (st->lo == st->hi) {
		st->lo = lo;
		st->hi = hi;
		return;
	}
	if (lo < st->lo)
		st->lo = lo;
	if (hi > st->hi)
		st->hi = hi;
}

static void release_slab(struct ka_slab_state *st, struct ka_slab_class *c, struct ka_slab *s)
{
	list_del(&c->partial, s);
	if (c->spare == s)
		c->spare = NULL;
	c->nslabs--;
	st->nslabs--;
	st->slab_bytes -= (size_t)c->usable * c->size;
	s->magic = 0;
	st->page_frees++;
	ka_pfree(st->ps, (void *)ka_slab_base(s), KA_SLAB_PAGES);
}

static size_t trim(struct ka_slab_state *st)
{
	size_t bytes = 0;

	for (unsigned i = 0; i < KA_SLAB_NCLASSES; i++) {
		struct ka_slab_class *c = &st->cls[i];

		st->steps++;
		if (c->spare) {
			release_slab(st, c, c->spare);
			bytes += KA_SLAB_SIZE;
		}
	}
	return bytes;
}

/* Ask the page source; when it is dry, give back the cached empty slabs and ask again. */
static void *get_pages(struct ka_slab_state *st, size_t npages, size_t align)
{
	void *p = ka_palloc_aligned(st->ps, npages, align);

	if (!p && trim(st) != 0)
		p = ka_palloc_aligned(st->ps, npages, align);
	if (p) {
		st->page_allocs++;
		hull_add(st, p, npages << KA_CFG_PAGE_SHIFT);
	}
	return p;
}

static struct ka_slab *new_slab(struct ka_slab_state *st, unsigned ci)
{
	struct ka_slab_class *c = &st->cls[ci];
	void *base = get_pages(st, KA_SLAB_PAGES, KA_SLAB_SIZE);
	struct ka_slab *s;

	if (!base)
		return NULL;
	s = ka_slab_hdr((uintptr_t)base);
	s->magic = ka_slab_mark(s, st);
	s->free = NULL;
	s->size = c->size;
	s->recip = c->recip;
	s->obj_off = c->obj_off;
	s->span = c->span;
	s->inuse = 0;
	s->bump = c->first;
	s->cls = (uint16_t)ci;
	s->list = KA_SLAB_ON_PARTIAL;
	list_push(&c->partial, s);
	c->spare = s;
	c->nslabs++;
	st->nslabs++;
	st->slab_bytes += (size_t)c->usable * c->size;
	return s;
}

/* ---- small objects ---------------------------------------------------------------------- */

/* Allocation from class ci in general: a new slab when none is partial, never-used slots,
 * moving a slab to the full list. slab_alloc() inlines the common case. */
/* The statistics where an allocation ends: req is the request to count (alloc_counted), 0 for
 * none (alloc). Passed down, so that every step stays a tail call. */
static inline void count_alloc(struct ka_slab_state *st, size_t req, size_t usable)
{
#if KA_CFG_STATS
	if (req)
		ka_count_alloc(&st->head.ctr, req, usable);
#else
	(void)st;
	(void)req;
	(void)usable;
#endif
}

static void *alloc_failed(struct ka_slab_state *st, size_t req)
{
#if KA_CFG_STATS
	if (req)
		st->head.stats.nb_enomem++;
#else
	(void)st;
	(void)req;
#endif
	return NULL;
}

/* The cold allocation paths count the block for req != 0 (alloc_counted). */
static KA_SLAB_COLD void *class_alloc(struct ka_slab_state *st, unsigned ci, size_t req)
{
	struct ka_slab_class *c = &st->cls[ci];
	struct ka_slab *s = c->partial;
	void *obj;

	if (!s) {
		s = new_slab(st, ci);
		if (!s)
			return alloc_failed(st, req);
	}
	obj = s->free;
	if (obj) {
		void *next = *(void **)obj;

		if (KA_SLAB_UNLIKELY(((uintptr_t *)obj)[1] != ka_slab_free_mark(st, obj) ||
				     (next && ((uintptr_t)next ^ (uintptr_t)obj) >= KA_SLAB_SIZE)))
			ka_misuse(&st->head,
				  "write after free (a free slot's link or mark changed)", obj);
		s->free = next;
	} else {
		/* Never-used slots are handed out in order, so a new slab costs no loop over
		 * its objects. At most two reserved slots follow each other (their page
		 * offsets, 0 and KA_SLAB_LH, are 64 bytes apart and a class is >= 16 bytes). */
		obj = (char *)ka_slab_base(s) + s->obj_off + (size_t)s->bump * s->size;
		do {
			s->bump++;
			st->steps++;
		} while (s->bump < c->nobj && ka_slab_reserved(c, s->bump));
	}
	((uintptr_t *)obj)[1] = 0; /* no free mark on a live object */
	if (s->inuse++ == 0)
		c->spare = NULL;
	st->live_bytes += s->size;
	if (!s->free && s->bump >= c->nobj) {
		list_del(&c->partial, s);
		list_push(&c->full, s);
		s->list = KA_SLAB_ON_FULL;
	}
	count_alloc(st, req, s->size);
	return obj;
}

/*
 * Validate an object pointer and return its slab and slot, or panic. Every check is O(1)
 * and reads only the header's first line: the hull check keeps the header read inside
 * memory the page source gave us; the mark catches foreign memory and other allocators'
 * slabs; the bound and the multiply-back catch header and interior pointers.
 */
static inline struct ka_slab *obj_lookup(struct ka_slab_state *st, const void *ptr,
					 uint32_t *out_idx)
{
	uintptr_t p = (uintptr_t)ptr, base = p & ~(uintptr_t)(KA_SLAB_SIZE - 1);
	struct ka_slab *s = ka_slab_hdr(base);
	size_t off;
	uint32_t idx;

	if (KA_SLAB_UNLIKELY(base < st->lo || s->magic != ka_slab_mark(s, st)))
		ka_misuse(&st->head, "pointer is not from this slab allocator", ptr);
	off = p - base - s->obj_off; /* wraps to a huge value below the first slot */
	if (KA_SLAB_UNLIKELY(off >= s->span))
		ka_misuse(&st->head, "pointer inside a slab header", ptr);
	idx = slot_index(s->recip, off);
	if (KA_SLAB_UNLIKELY(!slot_exact(s->recip, off)))
		ka_misuse(&st->head, "interior pointer into a slab object", ptr);
	*out_idx = idx;
	return s;
}

/* The rare part of a free: the slab leaves the full list, or becomes empty. */
static KA_SLAB_COLD void free_slow(struct ka_slab_state *st, struct ka_slab *s)
{
	struct ka_slab_class *c = &st->cls[s->cls];

	if (s->list == KA_SLAB_ON_FULL) {
		list_del(&c->full, s);
		list_push(&c->partial, s);
		s->list = KA_SLAB_ON_PARTIAL;
	}
	if (s->inuse == 0) {
		/* Keep one empty slab per class so that a class that oscillates around a
		 * slab boundary does not call the page source on every operation. */
		if (c->spare)
			release_slab(st, c, s);
		else
			c->spare = s;
	}
}

/* Returns the object's usable size (free_counted). */
static inline size_t obj_free(struct ka_slab_state *st, void *ptr)
{
	uint32_t idx;
	struct ka_slab *s = obj_lookup(st, ptr, &idx);
	uintptr_t mark = ka_slab_free_mark(st, ptr);

	if (KA_SLAB_UNLIKELY(idx >= s->bump))
		ka_misuse(&st->head, "free of a slot never allocated", ptr);
	if (KA_SLAB_UNLIKELY(((uintptr_t *)ptr)[1] == mark))
		ka_misuse(&st->head, "double free", ptr);
	((uintptr_t *)ptr)[1] = mark;
	*(void **)ptr = s->free;
	s->free = ptr;
	st->live_bytes -= s->size;
	s->inuse--;
	if (KA_SLAB_UNLIKELY(s->list == KA_SLAB_ON_FULL || s->inuse == 0))
		free_slow(st, s);
	return s->size;
}

/* ---- large blocks ----------------------------------------------------------------------- */

static KA_SLAB_COLD void *large_alloc(struct ka_slab_state *st, size_t size, size_t align,
				      size_t req)
{
	size_t u =
	    KA_SLAB_LH % align == 0 ? KA_SLAB_LH : (align > KA_PAGE_SIZE ? align : KA_PAGE_SIZE);
	size_t palign = align > KA_PAGE_SIZE ? align : KA_PAGE_SIZE;
	size_t bytes, npages;
	struct ka_slab_large *l;
	char *base, *p;

	if (ka_add_overflow(size, u, &bytes) || ka_add_overflow(bytes, KA_PAGE_SIZE - 1, &bytes))
		return alloc_failed(st, req);
	npages = bytes >> KA_CFG_PAGE_SHIFT;
	base = get_pages(st, npages, palign);
	if (!base)
		return alloc_failed(st, req);
	p = base + u;
	l = (struct ka_slab_large *)(p - KA_SLAB_LH);
	l->magic = large_mark(l);
	l->owner = st;
	l->base = base;
	l->npages = npages;
	l->prev = NULL;
	l->next = st->large;
	if (st->large)
		st->large->prev = l;
	st->large = l;
	st->nlarge++;
	st->large_pages += npages;
	count_alloc(st, req, large_usable(l));
	return p;
}

static struct ka_slab_large *large_lookup(struct ka_slab_state *st, const void *ptr)
{
	struct ka_slab_large *l = (struct ka_slab_large *)((uintptr_t)ptr - KA_SLAB_LH);

	if ((uintptr_t)l < st->lo || l->magic != large_mark(l) || l->owner != st ||
	    (uintptr_t)l->base > (uintptr_t)l || l->npages == 0)
		ka_misuse(&st->head, "pointer is not a live block of this slab allocator", ptr);
	return l;
}

/* Returns the block's usable size (free_counted). */
static KA_SLAB_COLD size_t large_free(struct ka_slab_state *st, void *ptr)
{
	struct ka_slab_large *l = large_lookup(st, ptr);
	size_t n = large_usable(l);

	if (l->prev)
		l->prev->next = l->next;
	else
		st->large = l->next;
	if (l->next)
		l->next->prev = l->prev;
	st->nlarge--;
	st->large_pages -= l->npages;
	l->magic = 0;
	l->owner = NULL;
	st->page_frees++;
	ka_pfree(st->ps, l->base, l->npages);
	return n;
}

/* ---- ops -------------------------------------------------------------------------------- */

static inline void check_hull(struct ka_slab_state *st, const void *ptr)
{
	if (KA_SLAB_UNLIKELY((uintptr_t)ptr - st->lo >= st->hi - st->lo))
		ka_misuse(&st->head, "pointer outside the slab allocator's memory", ptr);
}

/* Requests that are large, above the lookup table, or aligned beyond KA_CFG_MIN_ALIGN. */
static KA_SLAB_COLD void *alloc_other(struct ka_slab_state *st, size_t size, size_t align,
				      size_t req)
{
	unsigned ci;

	if (size > KA_SLAB_MAX_SMALL || align > KA_SLAB_OBJ_ALIGN)
		return large_alloc(st, size, align, req);
	ci = ka_slab_class_index(size);
	/* Classes that are multiples of `align` hold aligned objects (object areas start at
	 * a multiple of KA_SLAB_OBJ_ALIGN); one exists within 4 classes. */
	while (st->cls[ci].size & (align - 1)) {
		ci++;
		st->steps++;
	}
	return class_alloc(st, ci, req);
}

/*
 * The fast path: table lookup of the class, pop from the head slab's free list, set the
 * slot's live bit. Everything else (new slab, never-used slots, the slab filling up, large
 * or aligned requests) is in the cold functions above, so this stays a few dozen
 * instructions without saving registers. Shared by alloc (req 0) and alloc_counted (req: its
 * size, counted where the block is known; the cold paths stay tail calls).
 */
static inline __attribute__((always_inline)) void *alloc_impl(struct ka_alloc *a, size_t size,
							      size_t align, size_t req)
{
	struct ka_slab_state *st = st_of(a);

	if (KA_SLAB_LIKELY(size <= KA_SLAB_LUT_MAX && align <= KA_CFG_MIN_ALIGN)) {
		unsigned ci = st->lut[(size + 15) >> 4];
		struct ka_slab_class *c = &st->cls[ci];
		struct ka_slab *s = c->partial;
		void *obj, *next;

		if (KA_SLAB_UNLIKELY(!s || !(obj = s->free)))
			return class_alloc(st, ci, req);
		next = *(void **)obj;
		/* A write after free shows as a changed mark or a link out of this slab;
		 * class_alloc() reports it. */
		if (KA_SLAB_UNLIKELY(((uintptr_t *)obj)[1] != ka_slab_free_mark(st, obj)))
			return class_alloc(st, ci, req);
		if (KA_SLAB_UNLIKELY(!next ? s->bump >= c->nobj /* the slab becomes full */
					   : ((uintptr_t)next ^ (uintptr_t)obj) >= KA_SLAB_SIZE))
			return class_alloc(st, ci, req);
		s->free = next;
		((uintptr_t *)obj)[1] = 0; /* no free mark on a live object */
		st->live_bytes += s->size;
		if (KA_SLAB_UNLIKELY(s->inuse++ == 0))
			c->spare = NULL;
		count_alloc(st, req, s->size);
		return obj;
	}
	return alloc_other(st, size, align, req);
}

/* Shared by free and free_counted: returns the usable size the block had. */
static inline __attribute__((always_inline)) size_t free_impl(struct ka_alloc *a, void *ptr)
{
	struct ka_slab_state *st = st_of(a);

	check_hull(st, ptr);
	if (KA_SLAB_UNLIKELY(is_large_ptr((uintptr_t)ptr)))
		return large_free(st, ptr);
	return obj_free(st, ptr);
}

/* Size builds keep one allocation body, speed builds inline it into both entries. */
#ifdef __OPTIMIZE_SIZE__
static void *alloc_any(struct ka_alloc *a, size_t size, size_t align, size_t req)
{
	return alloc_impl(a, size, align, req);
}
#else
#define alloc_any alloc_impl
#endif

/* Without statistics the generic layer never calls the counted entries: they are left out. */
#if KA_CFG_STATS
static void *slab_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	if (size == 0) /* size >= 1 (alloc_impl.h): the counting needs no test */
		__builtin_unreachable();
	return alloc_any(a, size, align, size);
}

static void slab_free_counted(struct ka_alloc *a, void *ptr)
{
	ka_stats_free_done(a, free_impl(a, ptr));
}
#endif

static void *slab_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	return alloc_any(a, size, align, 0);
}

static void slab_free(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr);
}

static size_t slab_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_slab_state *st = st_of(a);
	struct ka_slab *s;
	uint32_t idx;

	check_hull(st, ptr);
	if (is_large_ptr((uintptr_t)ptr))
		return large_usable(large_lookup(st, ptr));
	s = obj_lookup(st, ptr, &idx);
	if (idx >= s->bump || ((const uintptr_t *)ptr)[1] == ka_slab_free_mark(st, ptr))
		ka_misuse(a, "block is not live (double free?)", ptr);
	return s->size;
}

/* Page runs for ka_palloc(): straight from the page source, outside the slab bookkeeping
 * (they are freed with ka_pfree(), never ka_free(), so no header is needed). */
static void *slab_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	return get_pages(st_of(a), npages, align);
}

static void slab_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct ka_slab_state *st = st_of(a);

	st->page_frees++;
	ka_pfree(st->ps, ptr, npages);
}

static int slab_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct ka_slab_state *st = st_of(a);
	uintptr_t lo = (uintptr_t)base, hi = lo + len;

	if (lo < st->own_hi && hi > st->own_lo)
		return KA_EEXIST;
	return ka_add_memory(st->ps, base, len);
}

static void slab_info(struct ka_alloc *a, struct ka_info *out)
{
	struct ka_slab_state *st = st_of(a);
	struct ka_info pi;
	size_t big = 0, meta = st->own_hi - st->own_lo;

	ka_info(st->ps, &pi);
	if (pi.maxalloc >= KA_PAGE_SIZE)
		big = (pi.maxalloc & ~(size_t)(KA_PAGE_SIZE - 1)) - KA_SLAB_LH;
	if (big < KA_SLAB_MAX_SMALL && pi.maxalloc >= KA_SLAB_SIZE)
		big = KA_SLAB_MAX_SMALL;
	for (unsigned i = KA_SLAB_NCLASSES; i-- > 0 && big < st->cls[i].size;)
		if (st->cls[i].partial) {
			big = st->cls[i].size;
			break;
		}
	for (unsigned i = 0; i < KA_SLAB_NCLASSES; i++)
		meta += (size_t)st->cls[i].nslabs *
			(KA_SLAB_SIZE - (size_t)st->cls[i].usable * st->cls[i].size);
	out->total = pi.total + (st->own_hi - st->own_lo);
	out->avail = pi.avail + ka_slab_free_bytes(st);
	out->maxalloc = big;
	out->meta = pi.meta + meta + st->nlarge * KA_SLAB_LH;
}

static bool slab_owns(struct ka_alloc *a, const void *ptr)
{
	struct ka_slab_state *st = st_of(a);
	uintptr_t p = (uintptr_t)ptr;

	return (p >= st->own_lo && p < st->own_hi) || ka_owns(st->ps, ptr);
}

#define SLAB_CAPS                                                                                  \
	(KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_WALK | KA_CAP_OWNS)

static const struct ka_alloc_ops slab_ops = {
    .alloc = slab_alloc,
#if KA_CFG_STATS
    .alloc_counted = slab_alloc_counted,
    .free_counted = slab_free_counted,
#endif
    .free = slab_free,
    .usable_size = slab_usable_size,
    .realloc = NULL,
    .palloc = slab_palloc,
    .pfree = slab_pfree,
    .add_memory = slab_add_memory,
    .info = slab_info,
    .check = ka_slab_check_impl,
    .walk = ka_slab_walk_impl,
    .owns = slab_owns,
    .caps = SLAB_CAPS,
};

/* ---- construction ----------------------------------------------------------------------- */

size_t ka_slab_state_size(void)
{
	return sizeof(struct ka_slab_state) + alignof(struct ka_slab_state) - 1;
}

size_t ka_slab_class_size(size_t size)
{
	if (size == 0 || size > KA_SLAB_MAX_SMALL)
		return 0;
	return ka_slab_class_bytes(ka_slab_class_index(size));
}

struct ka_alloc *ka_slab_create(void *state_mem, size_t state_len, struct ka_alloc *page_source)
{
	uintptr_t p = (uintptr_t)state_mem, q;
	struct ka_slab_state *st;

	if (!state_mem || !page_source)
		return NULL;
	q = ka_align_up(p, alignof(struct ka_slab_state));
	if (q < p || state_len < q - p || state_len - (q - p) < sizeof(*st))
		return NULL;
	st = (struct ka_slab_state *)q;
	memset(st, 0, sizeof(*st));
	ka_alloc_init(&st->head, &slab_ops, "slab");
	st->ps = page_source;
	st->secret = (uintptr_t)st ^ KA_SLAB_FSALT;
	st->own_lo = q;
	st->own_hi = q + sizeof(*st);
	for (unsigned i = 0; i < KA_SLAB_NCLASSES; i++)
		layout_class(&st->cls[i], (uint32_t)ka_slab_class_bytes(i));
	for (unsigned j = 1; j <= KA_SLAB_LUT_MAX / 16; j++)
		st->lut[j] = (uint8_t)ka_slab_class_index((size_t)j * 16);
	return &st->head;
}

/* Registry region: the slab state first, the buddy page source over everything after it. */
#define SLAB_MIN_SIZE ((size_t)256 * 1024)

struct ka_alloc *ka_slab_init(void *base, size_t len)
{
	uintptr_t b = (uintptr_t)base, start;
	struct ka_alloc *ps, *a;
	size_t skip;

	if (!base || len < SLAB_MIN_SIZE)
		return NULL;
	start = ka_align_up(b, alignof(struct ka_slab_state));
	skip = (start - b) + sizeof(struct ka_slab_state);
	ps = ka_buddy_init((char *)base + skip, len - skip);
	if (!ps)
		return NULL;
	a = ka_slab_create(base, skip, ps);
	if (a)
		st_of(a)->own_hi = b + skip;
	return a;
}

size_t ka_slab_trim(struct ka_alloc *a)
{
	if (a->ops != &slab_ops)
		ka_misuse(a, "ka_slab_trim on an allocator that is not a slab", a);
	return trim(st_of(a));
}

struct ka_alloc *ka_slab_page_source(struct ka_alloc *a)
{
	if (a->ops != &slab_ops)
		ka_misuse(a, "ka_slab_page_source on an allocator that is not a slab", a);
	return st_of(a)->ps;
}

const struct ka_backend ka_backend_slab = {
    .name = "slab",
    .desc = "size classes over buddy pages: O(1) small objects, large requests as page runs",
    .caps = SLAB_CAPS,
    .init = ka_slab_init,
    .min_size = SLAB_MIN_SIZE,
};
