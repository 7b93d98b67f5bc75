/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU cache adapter (kalloc/cache.h): Bonwick magazines of whole blocks of the
 * allocator below, a bounded depot per class, no memory carved by the cache itself.
 *
 * Invariants (ka_cache's checker tests them): every CPU row holds exactly two magazines per
 * class; the loaded one has 0..rounds blocks, the previous one is empty or full; each class's
 * depot holds `depot` magazines, on its full or its empty list; a block in a class-c
 * magazine is a live block of `below` whose header says class c.
 *
 * A block's usable size is its class (cached blocks) or below's figure minus the header, the
 * same when it is handed out and when it comes back, so the statistics add up exactly.
 */
#include "kalloc/cache.h"

#include "kalloc/alloc_impl.h"
#include "kalloc/err.h"
#include "kalloc/global.h"
#include "check.h"

#define NCL	  KA_CACHE_NCLASSES
#define ROW_ALIGN 64u

#define mag  ka_cache_mag
#define slot ka_cache_slot

struct depot {
	struct ka_lock lock;
	struct mag *full, *empty;
	unsigned nfull, nempty;
};

/* The head (cache.h) holds what the inline paths read: rows, row_bytes, max_size (the largest
 * class), ncpus, ncl, rounds, fast, key. */
struct ka_cache {
	struct ka_cache_head h;
	struct ka_alloc *below;
	/* below as a global allocator (ka_global_of()), whose batch calls then refill and
	 * flush whole magazines; NULL for any other below, and under a memory checker, whose
	 * annotations the generic layer makes for each call below (the batches bypass it). */
	struct ka_global *g;
	unsigned batch; /* blocks per refill and per flush through g, 1..rounds */
	unsigned ndepot;
	size_t mag_bytes;
	struct depot *depots;
	bool percpu;		   /* KA_CACHE_PERCPU_STATS in effect */
	struct ka_lock stats_lock; /* 32-bit: no lock-free 64-bit counters; per-CPU refreshes */
	size_t sh_na, sh_nf, sh_ba, sh_bf; /* per-CPU mode: callers without a row */
	struct ka_alloc_ops ops;	   /* cache_ops with the capabilities of `below` */
};

/* fast_max and fast_ncl 0 send every request to the caller's full path; no pointer passes
 * ka_cache_may_hold(). */
const struct ka_cache_head ka_cache_none_head = {.ptr_mask = UINTPTR_MAX};

static const unsigned short class_size[NCL] = {16,  32,	 48,  64,   80,	  96,	112,  128,
					       160, 192, 224, 256,  320,  384,	448,  512,
					       640, 768, 896, 1024, 1280, 1536, 1792, 2048};

static struct ka_cache *to_cache(struct ka_alloc *a)
{
	return (struct ka_cache *)a;
}

static unsigned class_of(size_t s)
{
	return ka_cache_class(s);
}

/* Per-CPU statistics at the end of each row: written by their CPU only (inside its
 * section), read by ka_cache_stats() from any CPU, hence relaxed atomic loads and stores. */
struct pcs {
	size_t na, nf, ba, bf; /* allocations, frees, bytes allocated, bytes freed */
};

static struct slot *slot_of(struct ka_cache *c, unsigned cpu, unsigned k)
{
	return (struct slot *)(void *)(c->h.rows + (size_t)cpu * c->h.row_bytes) + k;
}

/* ---- statistics: shared counters ----------------------------------------------------- */

#if UINTPTR_MAX > 0xffffffffu && defined(__GCC_ATOMIC_LLONG_LOCK_FREE) &&                          \
    __GCC_ATOMIC_LLONG_LOCK_FREE == 2
#define ATOMIC_STATS 1
#else
#define ATOMIC_STATS 0
#endif

#if ATOMIC_STATS
static void umax(size_t *p, size_t v)
{
	size_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void umin(size_t *p, size_t v)
{
	size_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v < cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
#endif

static void st_alloc(struct ka_cache *c, size_t req, size_t use)
{
	struct ka_stats *s = &c->h.a.stats;
#if ATOMIC_STATS
	__atomic_store_n(&s->last_alloc_size, req, __ATOMIC_RELAXED);
	umin(&s->min_alloc_size, req);
	umax(&s->max_alloc_size, req);
	__atomic_fetch_add(&s->nb_allocs, 1, __ATOMIC_RELAXED);
	umax(&s->max_nb_allocs, __atomic_add_fetch(&s->cur_nb_allocs, 1, __ATOMIC_RELAXED));
	umax(&s->max_mem_use, __atomic_add_fetch(&s->cur_mem_use, use, __ATOMIC_RELAXED));
#else
	unsigned long f = ka_plat_lock_acquire(&c->stats_lock);
	ka_stats_note_alloc(s, req, use);
	ka_plat_lock_release(&c->stats_lock, f);
#endif
}

static void st_free(struct ka_cache *c, size_t use)
{
	struct ka_stats *s = &c->h.a.stats;
#if ATOMIC_STATS
	__atomic_fetch_add(&s->nb_frees, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&s->cur_nb_allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&s->cur_mem_use, use, __ATOMIC_RELAXED);
#else
	unsigned long f = ka_plat_lock_acquire(&c->stats_lock);
	ka_stats_note_free(s, use);
	ka_plat_lock_release(&c->stats_lock, f);
#endif
}

static struct pcs *pcs_of(struct ka_cache *c, unsigned cpu)
{
	return (struct pcs *)(void *)(c->h.rows + (size_t)cpu * c->h.row_bytes +
				      c->h.ncl * sizeof(struct slot));
}

static void pc_add(size_t *p, size_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* Count an allocation or a free on the calling CPU's row, inside its section. */
static void pc_count(struct ka_cache *c, unsigned cpu, bool alloc, size_t use)
{
	struct pcs *s = pcs_of(c, cpu);

	if (alloc) {
		pc_add(&s->na, 1);
		pc_add(&s->ba, use);
	} else {
		pc_add(&s->nf, 1);
		pc_add(&s->bf, use);
	}
}

/* Count outside a section: per CPU when the mode says so (callers without a row in shared
 * counters that ka_cache_stats() adds in), else in the head's shared counters. */
static void count(struct ka_cache *c, bool alloc, size_t req, size_t use)
{
	/* The minimal configuration keeps no statistics anywhere (config.h), the cache too. */
	if (!KA_CFG_STATS)
		return;
	if (c->percpu) {
		unsigned long f;
		unsigned cpu = ka_plat_cpu_enter(&f);
		if (cpu < c->h.ncpus)
			pc_count(c, cpu, alloc, use);
		ka_plat_cpu_leave(f);
		if (cpu < c->h.ncpus)
			return;
		__atomic_fetch_add(alloc ? &c->sh_na : &c->sh_nf, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(alloc ? &c->sh_ba : &c->sh_bf, use, __ATOMIC_RELAXED);
		return;
	}
	if (alloc)
		st_alloc(c, req, use);
	else
		st_free(c, use);
}

/*
 * Every block the cache hands out is a block of `below` with a header of HDR bytes in front:
 * the class (or BIG) and the offset from the start of below's block. free() reads the class
 * there instead of asking below (whose usable_size takes below's lock when it is the global
 * allocator or ka_locked: on every free of every CPU, that lock was the cache's bottleneck).
 */
#define HDR ((size_t)KA_CFG_MIN_ALIGN)
#define BIG NCL

struct hdr {
	size_t cls; /* class index, or BIG for a block that never enters a magazine */
	size_t off; /* user pointer - below's block */
};

_Static_assert(sizeof(struct hdr) <= HDR, "header larger than the minimum alignment");

static struct hdr *hdr_of(const void *p)
{
	return (struct hdr *)(void *)((unsigned char *)(uintptr_t)p - HDR);
}

/* The header of a block handed to free or usable_size: a class with the fixed gap, or BIG with
 * a power-of-two gap of at least HDR. Anything else is a pointer the cache did not hand out
 * (an interior pointer into zeroed or ordinary data usually fails this); panics then. */
static const struct hdr *hdr_checked(struct ka_cache *c, const void *p)
{
	const struct hdr *h = hdr_of(p);

	if (__builtin_expect(h->cls < c->h.ncl && h->off == HDR, 1))
		return h;
	if (h->cls == BIG && h->off >= HDR && (h->off & (h->off - 1)) == 0)
		return h;
	ka_misuse(&c->h.a, "free of a block without a cache header (foreign or corrupted)", p);
}

/* The word of a block that carries its KA_CACHE_TAGS tag while the cache holds it. */
static uintptr_t *tag_word(const void *p)
{
	return (uintptr_t *)(uintptr_t)p + 1;
}

static void *below_block(const void *p)
{
	return (unsigned char *)(uintptr_t)p - hdr_of(p)->off;
}

/* Usable size as the cache reports it: the class for cached blocks, else what remains of
 * below's block after the header and the alignment gap. */
static size_t cache_usable(struct ka_cache *c, const void *p)
{
	const struct hdr *h = hdr_checked(c, p);

	if (h->cls < NCL)
		return class_size[h->cls];
	return ka_usable_size(c->below, below_block(p)) - h->off;
}

/* ---- magazines ----------------------------------------------------------------------- */

/* Give every block of m back to below: in one batch, one lock, when below is the global
 * allocator (the magazine's slots then hold below's pointers for the call). */
static void mag_drain(struct ka_cache *c, struct mag *m)
{
	if (c->g) {
		for (unsigned i = 0; i < m->n; i++)
			m->r[i] = below_block(m->r[i]);
		ka_global_free_batch(c->g, m->r, m->n);
		m->n = 0;
		return;
	}
	while (m->n > 0)
		ka_free(c->below, below_block(m->r[--m->n]));
}

/*
 * Fill the loaded magazine of class k (empty, as are the previous one and the depot's full
 * list) with up to `batch` blocks of the global allocator in one batch, so that one miss
 * pays below's lock and sub-heap lookup once for them instead of once per block.
 * Each block gets its header and, being free in a magazine, its tag. Stored from the last
 * slot down, so that pops hand them out in the order below gave them. False when below
 * gave none (the caller then takes the path with the out-of-memory retry). Runs inside the
 * CPU's section, as the flushes' calls below always did; a batch runs no out-of-memory hook.
 */
static bool mag_refill(struct ka_cache *c, struct slot *s, unsigned k)
{
	struct mag *m = s->loaded;
	size_t n = ka_global_alloc_batch(c->g, class_size[k] + HDR, m->r, c->batch);

	for (size_t i = 0, j = n; i < j; i++, j--) {
		void *t = m->r[i];
		m->r[i] = m->r[j - 1];
		m->r[j - 1] = t;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = (unsigned char *)m->r[i] + HDR;
		struct hdr *h = hdr_of(p);
		h->cls = k;
		h->off = HDR;
		*tag_word(p) = (uintptr_t)p ^ c->h.key;
		m->r[i] = p;
	}
	m->n = (unsigned)n;
	return n != 0;
}

/* Pop a block of class k on the calling CPU's row, exchanging with the depot if needed. */
static void *mag_pop(struct ka_cache *c, struct slot *s, unsigned k)
{
	struct mag *m = s->loaded;

	if (m->n > 0)
		return m->r[--m->n];
	if (s->prev->n > 0) {
		s->loaded = s->prev;
		s->prev = m;
		return s->loaded->r[--s->loaded->n];
	}
	struct depot *d = &c->depots[k];
	unsigned long f = ka_plat_lock_acquire(&d->lock);
	struct mag *full = d->full;
	if (full) {
		d->full = full->next;
		d->nfull--;
		s->prev->next = d->empty;
		d->empty = s->prev;
		d->nempty++;
		s->prev = m;
		s->loaded = full;
	}
	ka_plat_lock_release(&d->lock, f);
	return full ? full->r[--full->n] : NULL;
}

/* Push p into the calling CPU's row; false when every magazine and the depot are full and
 * below is not the global allocator (p then goes to below alone). */
static bool mag_push(struct ka_cache *c, struct slot *s, unsigned k, void *p)
{
	struct mag *m = s->loaded;

	if (m->n < c->h.rounds) {
		m->r[m->n++] = p;
		return true;
	}
	if (s->prev->n == 0) {
		s->loaded = s->prev;
		s->prev = m;
		s->loaded->r[s->loaded->n++] = p;
		return true;
	}
	struct depot *d = &c->depots[k];
	unsigned long f = ka_plat_lock_acquire(&d->lock);
	struct mag *e = d->empty;
	if (e) {
		d->empty = e->next;
		d->nempty--;
		s->prev->next = d->full;
		d->full = s->prev;
		d->nfull++;
		s->prev = m;
		s->loaded = e;
		e->r[e->n++] = p;
	}
	ka_plat_lock_release(&d->lock, f);
	if (e || !c->g)
		return e != NULL;
	/* No empty magazine anywhere: the oldest `batch` blocks of the loaded (full) one go back
	 * to the global allocator in one batch, and p takes a slot there. */
	{
		unsigned q = c->batch;
		for (unsigned i = 0; i < q; i++)
			m->r[i] = below_block(m->r[i]);
		ka_global_free_batch(c->g, m->r, q);
		for (unsigned i = q; i < m->n; i++)
			m->r[i - q] = m->r[i];
		m->n -= q;
		m->r[m->n++] = p;
	}
	return true;
}

/* ---- ops ----------------------------------------------------------------------------- */

static void flush_row(struct ka_cache *c, unsigned cpu)
{
	for (unsigned k = 0; k < c->h.ncl; k++) {
		struct slot *s = slot_of(c, cpu, k);
		mag_drain(c, s->loaded);
		mag_drain(c, s->prev);
	}
}

static void flush_depots(struct ka_cache *c)
{
	for (unsigned k = 0; k < c->h.ncl; k++) {
		struct depot *d = &c->depots[k];
		unsigned long f = ka_plat_lock_acquire(&d->lock);
		while (d->full) {
			struct mag *m = d->full;
			d->full = m->next;
			d->nfull--;
			mag_drain(c, m);
			m->next = d->empty;
			d->empty = m;
			d->nempty++;
		}
		ka_plat_lock_release(&d->lock, f);
	}
}

void ka_cache_flush_cpu(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);
	unsigned long f;
	unsigned cpu = ka_plat_cpu_enter(&f);

	if (cpu < c->h.ncpus)
		flush_row(c, cpu);
	ka_plat_cpu_leave(f);
}

void ka_cache_flush(struct ka_alloc *a)
{
	ka_cache_flush_cpu(a);
	flush_depots(to_cache(a));
}

/* Ask below; on failure give back what this CPU and the depot hold, then ask once more. */
static void *below_alloc(struct ka_cache *c, size_t size, size_t align)
{
	void *p = ka_memalign(c->below, align, size);

	if (!p) {
		ka_cache_flush(&c->h.a);
		p = ka_memalign(c->below, align, size);
	}
	return p;
}

/* A block of below with the header in front: cls is a class or BIG, off the gap (HDR, or the
 * alignment when it is larger, so the user pointer keeps below's alignment). */
static void *below_take(struct ka_cache *c, size_t size, size_t align, size_t cls)
{
	size_t off = align > HDR ? align : HDR, n;

	/* Room for the tag word (and the first): every cache block has 16 usable bytes. */
	if (size < 2 * sizeof(uintptr_t))
		size = 2 * sizeof(uintptr_t);
	if (ka_add_overflow(size, off, &n))
		return NULL;
	unsigned char *b = below_alloc(c, n, align);
	if (!b)
		return NULL;
	struct hdr *h = hdr_of(b + off);
	h->cls = cls;
	h->off = off;
	*tag_word(b + off) = 0; /* below's memory may hold an old tag */
	return b + off;
}

/* ---- tags (KA_CACHE_TAGS) --------------------------------------------------------------- */

void ka_cache_tag_broken(struct ka_alloc *a, const void *p)
{
	ka_misuse(a, "write after free: a cached free block's tag was overwritten", p);
}

void ka_cache_double_free(struct ka_alloc *a, const void *p)
{
	ka_misuse(a, "double free: the block carries the cache's free tag already", p);
}

/* A block leaving a magazine: its tag must still be there; cleared for its new owner. */
static void tag_take(struct ka_cache *c, void *p)
{
	if (*tag_word(p) != ((uintptr_t)p ^ c->h.key) && c->h.key)
		ka_cache_tag_broken(&c->h.a, p);
	*tag_word(p) = 0;
}

/* A block coming back: a tag already there is a double free; else it gets one (also when it
 * goes on to below, so that a second free is still seen while below leaves the word alone).
 * Without tags (key 0) the word is written too, p ^ 0: the inline paths (cache.h) then need
 * no test of the key on their common case, only behind a compare that fails. */
static void tag_give(struct ka_cache *c, void *p)
{
	uintptr_t t = (uintptr_t)p ^ c->h.key;

	if (*tag_word(p) == t && c->h.key)
		ka_cache_double_free(&c->h.a, p);
	*tag_word(p) = t;
}

static void cnt_add(size_t *p)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static void *cache_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	struct ka_cache *c = to_cache(a);
	void *p = NULL;

	if (size > c->h.max_size || align > KA_CFG_MIN_ALIGN) {
		p = below_take(c, size, align, BIG);
		if (p)
			count(c, true, size, cache_usable(c, p));
		return p;
	}
	unsigned k = class_of(size);
	unsigned long f;
	unsigned cpu = ka_plat_cpu_enter(&f);
	if (cpu < c->h.ncpus) {
		struct slot *s = slot_of(c, cpu, k);
		p = mag_pop(c, s, k);
		if (!p && c->g && mag_refill(c, s, k))
			p = s->loaded->r[--s->loaded->n];
		if (p)
			tag_take(c, p);
		if (p && c->percpu) {
			if (KA_CFG_STATS)
				cnt_add(&s->na);
			ka_plat_cpu_leave(f);
			return p;
		}
	}
	ka_plat_cpu_leave(f);
	if (!p)
		p = below_take(c, class_size[k], align, k);
	if (p)
		count(c, true, size, class_size[k]);
	return p;
}

static void cache_free(struct ka_alloc *a, void *ptr)
{
	struct ka_cache *c = to_cache(a);
	size_t k = hdr_checked(c, ptr)->cls;
	bool kept = false;

	tag_give(c, ptr);
	if (k < c->h.ncl) {
		unsigned long f;
		bool counted = false;
		unsigned cpu = ka_plat_cpu_enter(&f);
		if (cpu < c->h.ncpus) {
			struct slot *s = slot_of(c, cpu, (unsigned)k);
			kept = mag_push(c, s, (unsigned)k, ptr);
			if (c->percpu) {
				if (KA_CFG_STATS)
					cnt_add(&s->nf);
				counted = true;
			}
		}
		ka_plat_cpu_leave(f);
		if (!counted)
			count(c, false, 0, class_size[k]);
	} else {
		count(c, false, 0, cache_usable(c, ptr));
	}
	if (!kept)
		ka_free(c->below, below_block(ptr));
}

static size_t cache_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_cache *c = to_cache(a);

	/* A freed block asked about (realloc of a freed block) is refused as a double free. */
	if (c->h.key && *tag_word(ptr) == ((uintptr_t)ptr ^ c->h.key))
		ka_cache_double_free(a, ptr);
	return cache_usable(c, ptr);
}

static void *cache_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	struct ka_cache *c = to_cache(a);
	void *p = ka_palloc_aligned(c->below, npages, align);

	if (!p) {
		ka_cache_flush(a);
		p = ka_palloc_aligned(c->below, npages, align);
	}
	if (p)
		count(c, true, npages * KA_PAGE_SIZE, npages * KA_PAGE_SIZE);
	return p;
}

static void cache_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct ka_cache *c = to_cache(a);

	ka_pfree(c->below, ptr, npages);
	count(c, false, 0, npages * KA_PAGE_SIZE);
}

static int cache_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	return ka_add_memory(to_cache(a)->below, base, len);
}

/* Below's figures: cached blocks count as used there, so avail and maxalloc are what a
 * request that misses the magazines can get. */
static void cache_info(struct ka_alloc *a, struct ka_info *out)
{
	ka_info(to_cache(a)->below, out);
}

static unsigned check_mag(struct ka_cache *c, const struct mag *m, unsigned k, bool any_fill)
{
	unsigned bad = 0;

	if (m->n > c->h.rounds || (!any_fill && m->n != 0 && m->n != c->h.rounds)) {
		ka_check_report(&c->h.a, "magazine fill out of range", m);
		return 1;
	}
	for (unsigned i = 0; i < m->n; i++) {
		const void *p = m->r[i];
		if (!p || (c->below->ops->owns && !ka_owns(c->below, below_block(p)))) {
			ka_check_report(&c->h.a, "cached block not owned by the allocator below",
					p);
			bad++;
		} else if (hdr_of(p)->cls != k || hdr_of(p)->off != HDR) {
			ka_check_report(&c->h.a, "cached block's header is not its class", p);
			bad++;
		} else if (c->h.key && *tag_word(p) != ((uintptr_t)p ^ c->h.key)) {
			ka_check_report(&c->h.a, "cached block written after its free (tag gone)",
					p);
			bad++;
		}
	}
	return bad;
}

/* The calling CPU's row (others may be in use) and every depot, then the allocator below. */
static unsigned cache_check(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);
	unsigned bad = 0;
	unsigned long f;
	unsigned cpu = ka_plat_cpu_enter(&f);

	if (cpu < c->h.ncpus) {
		for (unsigned k = 0; k < c->h.ncl; k++) {
			struct slot *s = slot_of(c, cpu, k);
			bad += check_mag(c, s->loaded, k, true);
			bad += check_mag(c, s->prev, k, false);
		}
	}
	ka_plat_cpu_leave(f);
	for (unsigned k = 0; k < c->h.ncl; k++) {
		struct depot *d = &c->depots[k];
		unsigned long lf = ka_plat_lock_acquire(&d->lock);
		unsigned nf = 0, ne = 0;
		for (const struct mag *m = d->full; m && nf <= c->ndepot; m = m->next, nf++) {
			if (m->n != c->h.rounds) {
				ka_check_report(a, "depot full list holds a partial magazine", m);
				bad++;
			}
			bad += check_mag(c, m, k, true);
		}
		for (const struct mag *m = d->empty; m && ne <= c->ndepot; m = m->next, ne++) {
			if (m->n != 0) {
				ka_check_report(a, "depot empty list holds blocks", m);
				bad++;
			}
		}
		if (nf != d->nfull || ne != d->nempty || nf + ne != c->ndepot) {
			ka_check_report(a, "depot magazine count wrong", d);
			bad++;
		}
		ka_plat_lock_release(&d->lock, lf);
	}
	return bad + ka_check_op(c->below);
}

static bool cache_owns(struct ka_alloc *a, const void *ptr)
{
	return ka_owns(to_cache(a)->below, ptr);
}

#if !KA_CFG_MINIMAL
/* A cached class's block may be reused memory; a block passed through to below (BIG) is
 * below's, whose answer covers the header in front too (written after below handed it out,
 * so only the bytes from ptr on are the caller's question). */
static bool cache_known_zero(struct ka_alloc *a, const void *ptr, size_t size)
{
	struct ka_cache *c = to_cache(a);
	const struct hdr *h = hdr_checked(c, ptr);
	struct ka_alloc *b = c->below;

	return h->cls == BIG && b->ops->known_zero &&
	       b->ops->known_zero(b, below_block(ptr), size + h->off);
}
#endif

#if !KA_CFG_MINIMAL
/* What the cache holds is below's blocks, verified when they leave it; below's own. */
static int cache_sweep(struct ka_alloc *a)
{
	return ka_sweep(to_cache(a)->below);
}
#endif

static const struct ka_alloc_ops cache_ops = {
    .alloc = cache_alloc,
    .free = cache_free,
    .usable_size = cache_usable_size,
    .realloc = NULL,
    .palloc = cache_palloc,
    .pfree = cache_pfree,
    .add_memory = cache_add_memory,
    .info = cache_info,
    .check = cache_check,
    .walk = NULL,
    .owns = cache_owns,
#if !KA_CFG_MINIMAL
    .known_zero = cache_known_zero,
    .sweep = cache_sweep,
#endif
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE,
};

/* What the cache can do beyond free and any size is what the allocator below can. */
#define INHERITED_CAPS (KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_OWNS)

/* ---- layout and init ----------------------------------------------------------------- */

struct layout {
	unsigned ncpus, ncl, rounds, ndepot, batch;
	size_t row_bytes, mag_bytes, depots_off, rows_off, mags_off, total;
};

static bool plan(unsigned ncpus, const struct ka_cache_config *cfg, struct layout *l)
{
	size_t max = cfg && cfg->max_size ? cfg->max_size : 1024;
	size_t n, t;

	if (max > class_size[NCL - 1])
		return false;
	l->ncpus = ncpus ? ncpus : (cfg && cfg->ncpus ? cfg->ncpus : ka_plat_cpu_count());
	if (l->ncpus >= KA_PLAT_CPU_NONE - 2u)
		return false; /* ids from there on mean "no CPU" (ka_plat_cpu_try_enter()) */
	l->rounds = cfg && cfg->rounds ? cfg->rounds : 32;
	l->ndepot = cfg && cfg->depot ? cfg->depot : 4;
	/* A quarter of a magazine by default: whole magazines made the shim's peak RSS on
	 * `workload small` 3% larger (docs/cache.md) for under 1% fewer instructions. */
	l->batch = (l->rounds + 3) / 4;
	l->ncl = class_of(max) + 1;
	if (l->rounds > (1u << 20))
		return false;
	l->row_bytes = ka_align_up(l->ncl * sizeof(struct slot) + sizeof(struct pcs), ROW_ALIGN);
	l->mag_bytes = ka_align_up(sizeof(struct mag) + l->rounds * sizeof(void *), sizeof(void *));
	l->depots_off = ka_align_up(sizeof(struct ka_cache), ROW_ALIGN);
	l->rows_off = ka_align_up(l->depots_off + l->ncl * sizeof(struct depot), ROW_ALIGN);
	if (ka_mul_overflow(l->ncpus, l->row_bytes, &t) || ka_add_overflow(l->rows_off, t, &t))
		return false;
	l->mags_off = t;
	/* Two magazines per CPU and class, ndepot per class in the depot. */
	if (ka_mul_overflow(l->ncpus, 2, &n) || ka_add_overflow(n, l->ndepot, &n) ||
	    ka_mul_overflow(n, l->ncl, &n) || ka_mul_overflow(n, l->mag_bytes, &n) ||
	    ka_add_overflow(t, n, &l->total))
		return false;
	return true;
}

size_t ka_cache_memsize(unsigned ncpus, const struct ka_cache_config *cfg)
{
	struct layout l;

	return plan(ncpus, cfg, &l) ? l.total : 0;
}

struct ka_alloc *ka_cache_init(void *mem, size_t len, struct ka_alloc *below,
			       const struct ka_cache_config *cfg)
{
	struct layout l;

	if (!mem || !below || ((uintptr_t)mem & (ROW_ALIGN - 1)) || !plan(0, cfg, &l) ||
	    len < l.total)
		return NULL;
	struct ka_cache *c = mem;
	unsigned char *base = mem;
	c->ops = cache_ops;
	c->ops.caps |= below->ops->caps & INHERITED_CAPS;
	ka_alloc_init(&c->h.a, &c->ops, "cache");
	c->h.a.flags |= KA_ALLOC_NOSTATS; /* kept here, as shared counters */
	c->below = below;
	c->g = KA_CFG_ANNOTATE ? NULL : ka_global_of(below);
	c->h.ncpus = l.ncpus;
	c->h.ncl = l.ncl;
	c->h.rounds = l.rounds;
	c->ndepot = l.ndepot;
	c->batch = l.batch;
	c->h.max_size = class_size[l.ncl - 1];
	c->h.row_bytes = l.row_bytes;
	c->mag_bytes = l.mag_bytes;
	c->h.rows = base + l.rows_off;
	c->depots = (struct depot *)(void *)(base + l.depots_off);
	ka_plat_lock_init(&c->stats_lock);
	c->percpu = ATOMIC_STATS && cfg && (cfg->flags & KA_CACHE_PERCPU_STATS);
	c->h.fast_max = c->percpu || !KA_CFG_STATS ? c->h.max_size : 0;
	c->h.fast_ncl = c->percpu || !KA_CFG_STATS ? c->h.ncl : 0;
	c->h.ptr_mask = KA_CFG_MIN_ALIGN - 1;
	c->h.key = 0;
	if (cfg && (cfg->flags & KA_CACHE_TAGS)) {
		/* Odd, so never 0; a weak source (no entropy) still gives a per-call mix. */
		(void)ka_plat_entropy(&c->h.key, sizeof(c->h.key));
		c->h.key |= 1;
	}
	c->sh_na = c->sh_nf = c->sh_ba = c->sh_bf = 0;

	unsigned char *mp = base + l.mags_off;
	for (unsigned k = 0; k < l.ncl; k++) {
		struct depot *d = &c->depots[k];
		ka_plat_lock_init(&d->lock);
		d->full = d->empty = NULL;
		d->nfull = d->nempty = 0;
		for (unsigned i = 0; i < l.ndepot; i++, mp += l.mag_bytes) {
			struct mag *m = (struct mag *)(void *)mp;
			m->n = 0;
			m->next = d->empty;
			d->empty = m;
			d->nempty++;
		}
		for (unsigned cpu = 0; cpu < l.ncpus; cpu++) {
			struct slot *s = slot_of(c, cpu, k);
			if (k == 0)
				*pcs_of(c, cpu) = (struct pcs){0, 0, 0, 0};
			s->na = s->nf = 0;
			s->loaded = (struct mag *)(void *)mp;
			s->loaded->n = 0;
			s->loaded->next = NULL;
			mp += l.mag_bytes;
			s->prev = (struct mag *)(void *)mp;
			s->prev->n = 0;
			s->prev->next = NULL;
			mp += l.mag_bytes;
		}
	}
	return &c->h.a;
}

struct ka_alloc *ka_cache_below(struct ka_alloc *a)
{
	return to_cache(a)->below;
}

size_t ka_cache_held(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);
	size_t n = 0;
	unsigned long f;
	unsigned cpu = ka_plat_cpu_enter(&f);

	if (cpu < c->h.ncpus)
		for (unsigned k = 0; k < c->h.ncl; k++)
			n += slot_of(c, cpu, k)->loaded->n + slot_of(c, cpu, k)->prev->n;
	ka_plat_cpu_leave(f);
	for (unsigned k = 0; k < c->h.ncl; k++) {
		struct depot *d = &c->depots[k];
		unsigned long lf = ka_plat_lock_acquire(&d->lock);
		n += (size_t)d->nfull * c->h.rounds;
		ka_plat_lock_release(&d->lock, lf);
	}
	return n;
}

void ka_cache_fork_prepare(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);

	for (unsigned k = 0; k < c->h.ncl; k++)
		(void)ka_plat_lock_acquire(&c->depots[k].lock);
}

void ka_cache_fork_parent(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);

	for (unsigned k = c->h.ncl; k-- > 0;)
		ka_plat_lock_release(&c->depots[k].lock, 0);
}

void ka_cache_fork_child(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);

	for (unsigned k = 0; k < c->h.ncl; k++)
		ka_plat_lock_init(&c->depots[k].lock);
}

const struct ka_stats *ka_cache_stats(struct ka_alloc *a)
{
	struct ka_cache *c = to_cache(a);
	struct ka_stats *s = &a->stats;

	if (!c->percpu)
		return s;
	unsigned long f = ka_plat_lock_acquire(&c->stats_lock);
	size_t na = __atomic_load_n(&c->sh_na, __ATOMIC_RELAXED);
	size_t nf = __atomic_load_n(&c->sh_nf, __ATOMIC_RELAXED);
	size_t ba = __atomic_load_n(&c->sh_ba, __ATOMIC_RELAXED);
	size_t bf = __atomic_load_n(&c->sh_bf, __ATOMIC_RELAXED);
	for (unsigned cpu = 0; cpu < c->h.ncpus; cpu++) {
		struct pcs *p = pcs_of(c, cpu);
		na += __atomic_load_n(&p->na, __ATOMIC_RELAXED);
		nf += __atomic_load_n(&p->nf, __ATOMIC_RELAXED);
		ba += __atomic_load_n(&p->ba, __ATOMIC_RELAXED);
		bf += __atomic_load_n(&p->bf, __ATOMIC_RELAXED);
		/* Class blocks are counted per slot, their bytes are their class. */
		for (unsigned k = 0; k < c->h.ncl; k++) {
			struct slot *sl = slot_of(c, cpu, k);
			size_t ka = __atomic_load_n(&sl->na, __ATOMIC_RELAXED);
			size_t kf = __atomic_load_n(&sl->nf, __ATOMIC_RELAXED);
			na += ka;
			nf += kf;
			ba += ka * class_size[k];
			bf += kf * class_size[k];
		}
	}
	/* nb_enomem is bumped atomically by the generic layer: leave it alone. */
	s->nb_allocs = na;
	s->nb_frees = nf;
	s->cur_nb_allocs = na - nf;
	s->cur_mem_use = ba - bf;
	if (s->cur_nb_allocs > s->max_nb_allocs)
		s->max_nb_allocs = s->cur_nb_allocs;
	if (s->cur_mem_use > s->max_mem_use)
		s->max_mem_use = s->cur_mem_use;
	ka_plat_lock_release(&c->stats_lock, f);
	return s;
}
