/* SPDX-License-Identifier: MIT */
/*
 * The buddy backend: binary buddy over pages with an out-of-band page map, page runs of any
 * length, and one-page slabs for small requests. Entry point: ka_buddy_init()
 * (kalloc/buddy.h). Formats and invariants: buddy_priv.h. The checker and the walker are in
 * buddy_validate.c.
 */
#include "buddy_priv.h"
#include "kstring.h"
#include "check.h"

_Static_assert(KA_CFG_PAGE_SHIFT >= 10 && KA_CFG_PAGE_SHIFT <= 19,
	       "slab object counts are 16-bit and classes need at least 1 KiB pages");
_Static_assert(KA_CFG_MIN_ALIGN <= BD_QUANTUM, "size classes are multiples of 16 bytes");
_Static_assert(sizeof(struct bd_obj) <= BD_QUANTUM, "a free object must fit the smallest class");
_Static_assert(sizeof(struct bd_free) <= KA_PAGE_SIZE, "a free node must fit a page");

/* Alignment of the state, zone descriptors and maps inside the region. */
#define BD_META_ALIGN 16u

/* The steps of alloc and free, inline into both the plain and the sized entry (with two
 * callers each the compiler would otherwise call them out of line). */
#define BD_HOT static inline __attribute__((always_inline))

static inline struct bd_state *bd(struct ka_alloc *a)
{
	return (struct bd_state *)a;
}

static inline size_t pages_bytes(size_t n)
{
	return n << KA_CFG_PAGE_SHIFT;
}

struct bd_zone *bd_zone_of(const struct bd_state *b, uintptr_t p)
{
	for (struct bd_zone *z = b->zones; z; z = z->next)
		if (p >= z->base && p < z->end)
			return z;
	return NULL;
}

/* ---- free lists ---------------------------------------------------------------------- */

static void list_push(struct bd_state *b, struct bd_zone *z, size_t pfn, unsigned k)
{
	struct bd_free *f = bd_page_addr(pfn);
	struct bd_page *d = bd_desc(z, pfn);

	f->zone = z;
	f->prev = NULL;
	f->next = b->free[k];
	if (f->next)
		f->next->prev = f;
	b->free[k] = f;
	b->nonempty |= (size_t)1 << k;
	d->kind = BD_FREE;
	d->order = (uint8_t)k;
	d->cls = 0;
	d->npages = 0;
	b->free_pages += (size_t)1 << k;
}

/*
 * A free block's links live in its first page, which a buffer overflow out of the page before
 * or a write after free can reach: before they are followed, each link must name the head of
 * a free block of order k in one of the zones (page aligned, its descriptor BD_FREE of that
 * order, its zone pointer that zone). O(zones) per link (one zone in most heaps).
 */
static bool free_link_ok(const struct bd_state *b, const struct bd_free *f, unsigned k)
{
	uintptr_t a = (uintptr_t)f;

	if (!f)
		return true;
	if (a & (KA_PAGE_SIZE - 1))
		return false;
	for (const struct bd_zone *z = b->zones; z; z = z->next) {
		size_t pfn = a >> KA_CFG_PAGE_SHIFT;

		if (pfn >= z->first_pfn && pfn - z->first_pfn < z->npages) {
			const struct bd_page *d = bd_desc(z, pfn);

			return d->kind == BD_FREE && d->order == k && f->zone == z;
		}
	}
	return false;
}

static void list_remove(struct bd_state *b, struct bd_free *f, unsigned k)
{
	if (!free_link_ok(b, f, k) || !free_link_ok(b, f->prev, k) ||
	    !free_link_ok(b, f->next, k) || (f->prev ? f->prev->next : b->free[k]) != f)
		ka_misuse(&b->head, "free page links overwritten (overflow or write after free)",
			  f);
	if (f->prev)
		f->prev->next = f->next;
	else
		b->free[k] = f->next;
	if (f->next)
		f->next->prev = f->prev;
	if (!b->free[k])
		b->nonempty &= ~((size_t)1 << k);
	b->free_pages -= (size_t)1 << k;
}

/*
 * Free the order-k block at pfn (its pages are used, its head descriptor may be anything) and
 * merge it with its buddy while the buddy is a free block of the same order inside the zone.
 * One map read per level decides, so this is O(log n) with no list scan.
 */
static void block_free(struct bd_state *b, struct bd_zone *z, size_t pfn, unsigned k)
{
	size_t zend = z->first_pfn + z->npages;

	*bd_desc(z, pfn) = (struct bd_page){0};
	while (k + 1 < BD_NORDERS) {
		size_t buddy = pfn ^ ((size_t)1 << k);
		struct bd_page *d;

		if (buddy < z->first_pfn || buddy + ((size_t)1 << k) > zend)
			break;
		d = bd_desc(z, buddy);
		if (d->kind != BD_FREE || d->order != k)
			break;
		list_remove(b, bd_page_addr(buddy), k);
		*d = (struct bd_page){0};
		if (buddy < pfn)
			pfn = buddy;
		k++;
	}
	list_push(b, z, pfn, k);
}

/* Order of the largest aligned block starting at pfn that fits in n pages (n >= 1). */
static unsigned piece_order(size_t pfn, size_t n)
{
	unsigned k = ka_fls(n);

	if (pfn != 0 && ka_ffs(pfn) < k)
		k = ka_ffs(pfn);
	if (k >= BD_NORDERS)
		k = BD_NORDERS - 1;
	return k;
}

/* Free the used pages [pfn, pfn+n) of z, cut into maximal aligned blocks: O(log n) blocks. */
static void range_free(struct bd_state *b, struct bd_zone *z, size_t pfn, size_t n)
{
	while (n > 0) {
		unsigned k = piece_order(pfn, n);

		block_free(b, z, pfn, k);
		pfn += (size_t)1 << k;
		n -= (size_t)1 << k;
	}
}

/*
 * Take a free block of order k (the smallest non-empty order >= k, split down): O(log n).
 * Returns its pfn and zone; the head descriptor is left for the caller to set.
 */
static bool block_alloc(struct bd_state *b, unsigned k, size_t *pfnp, struct bd_zone **zp)
{
	size_t avail = b->nonempty & ~(((size_t)1 << k) - 1);
	struct bd_free *f;
	struct bd_zone *z;
	unsigned j;
	size_t pfn;

	if (avail == 0)
		return false;
	j = ka_ffs(avail);
	f = b->free[j];
	z = f->zone;
	pfn = (uintptr_t)f >> KA_CFG_PAGE_SHIFT;
	list_remove(b, f, j);
	while (j > k) {
		j--;
		list_push(b, z, pfn + ((size_t)1 << j), j);
	}
	*bd_desc(z, pfn) = (struct bd_page){0};
	*pfnp = pfn;
	*zp = z;
	return true;
}

/* ---- page runs ------------------------------------------------------------------------- */

/* Head of the free block of z that ends right before page pfn, or pfn if page pfn - 1 is not
 * free. Such a block of order j starts at pfn - 2^j, so pfn must be a multiple of 2^j: at most
 * log n map reads. */
static size_t free_before(const struct bd_zone *z, size_t pfn)
{
	for (unsigned j = 0; j < BD_NORDERS && (pfn & (((size_t)1 << j) - 1)) == 0; j++) {
		const struct bd_page *d;

		if (((size_t)1 << j) > pfn - z->first_pfn)
			break;
		d = bd_desc(z, pfn - ((size_t)1 << j));
		if (d->kind == BD_FREE && d->order == j)
			return pfn - ((size_t)1 << j);
	}
	return pfn;
}

/*
 * The fallback of run_alloc() when no block of order k = ceil(log2 n) is free: cut the run
 * out of a stretch of adjacent smaller free blocks. Merging keeps the free blocks of a
 * stretch its maximal aligned pieces, at most two per order, so pieces of orders below k - 2
 * add up to less than 2^(k-1) < n pages: a stretch of n pages holds a block of order k - 1
 * or k - 2. Every block on those two lists is extended to its stretch (O(log n) map reads
 * each way) until one is long enough. Cost O(blocks on the two lists * log n), paid only
 * where the binary buddy alone would fail; it finds a run whenever n free pages are adjacent.
 */
static bool run_fit(struct bd_state *b, size_t n, unsigned k, size_t *pfnp, struct bd_zone **zp)
{
	for (unsigned o = k; o-- > 0 && o + 2 >= k;) {
		for (struct bd_free *f = b->free[o]; f; f = f->next) {
			struct bd_zone *z = f->zone;
			size_t zend = z->first_pfn + z->npages;
			size_t pfn = (uintptr_t)f >> KA_CFG_PAGE_SHIFT, lo = pfn, hi, q;

			for (size_t h; (h = free_before(z, lo)) != lo;)
				lo = h;
			hi = pfn + ((size_t)1 << o);
			while (hi - lo < n && hi < zend && bd_desc(z, hi)->kind == BD_FREE)
				hi += (size_t)1 << bd_desc(z, hi)->order;
			if (hi - lo < n)
				continue;
			/* Take the blocks covering [lo, lo + n); the last one's excess goes back.
			 */
			for (q = lo; q < lo + n;) {
				unsigned j = bd_desc(z, q)->order;

				list_remove(b, bd_page_addr(q), j);
				*bd_desc(z, q) = (struct bd_page){0};
				q += (size_t)1 << j;
			}
			if (q > lo + n)
				range_free(b, z, lo + n, q - (lo + n));
			*pfnp = lo;
			*zp = z;
			return true;
		}
	}
	return false;
}

/* A run of exactly n pages aligned to align (>= page): the tail of the block goes back. */
static void *run_alloc(struct bd_state *b, size_t n, size_t align)
{
	unsigned k = bd_order_of(n);
	unsigned ka = ka_fls(align) - KA_CFG_PAGE_SHIFT;
	struct bd_zone *z;
	struct bd_page *d;
	size_t pfn;

	if (ka > k)
		k = ka;
	if (k >= BD_NORDERS || n > UINT32_MAX)
		return NULL;
	if (block_alloc(b, k, &pfn, &z)) {
		if (n < ((size_t)1 << k))
			range_free(b, z, pfn + n, ((size_t)1 << k) - n);
	} else if (align > KA_PAGE_SIZE || !run_fit(b, n, k, &pfn, &z)) {
		return NULL;
	}
	d = bd_desc(z, pfn);
	d->kind = BD_RUN;
	d->npages = (uint32_t)n;
	return bd_page_addr(pfn);
}

/* ---- slabs --------------------------------------------------------------------------- */

static inline uintptr_t slab_magic(const struct bd_slab *s)
{
	return BD_SLAB_MAGIC ^ (uintptr_t)s;
}

static void partial_push(struct bd_state *b, struct bd_slab *s)
{
	s->prev = NULL;
	s->next = b->partial[s->cls];
	if (s->next)
		s->next->prev = s;
	b->partial[s->cls] = s;
}

static void partial_remove(struct bd_state *b, struct bd_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		b->partial[s->cls] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

BD_HOT void *slab_alloc(struct bd_state *b, unsigned cls)
{
	struct bd_slab *s = b->partial[cls];
	size_t c = bd_class_size(cls);
	struct bd_obj *o;

	if (!s) {
		struct bd_zone *z;
		struct bd_page *d;
		size_t pfn;

		if (!block_alloc(b, b->sorder[cls], &pfn, &z))
			return NULL;
		d = bd_desc(z, pfn);
		for (size_t i = 0; i < ((size_t)1 << b->sorder[cls]); i++)
			d[i] = (struct bd_page){BD_SLAB, 0, (uint16_t)cls, (uint32_t)i};
		s = bd_page_addr(pfn);
		s->magic = slab_magic(s);
		s->cls = (uint16_t)cls;
		s->nobj = b->nobj[cls];
		s->nfree = s->nobj;
		s->bumped = 0;
		s->free = NULL;
		partial_push(b, s);
		b->slab_free += (size_t)s->nobj * c;
	}
	if (s->free) {
		o = s->free;
		/* A write after free shows as a changed key or a link out of this slab; caught
		 * here, before the damaged link is followed or carried on by the next free. */
		bool damaged =
		    o->key != ((uintptr_t)o ^ BD_OBJ_KEY) ||
		    (o->next && (uintptr_t)o->next - (uintptr_t)s >= bd_slab_bytes(b, cls));

		if (__builtin_expect(damaged, 0))
			ka_misuse(&b->head,
				  "write after free (a free object's link or key changed)", o);
		s->free = o->next;
	} else {
		/* Never-used objects are taken from the slab end downwards, without a list. */
		s->bumped++;
		o = (struct bd_obj *)((uintptr_t)s + bd_slab_bytes(b, cls) - (size_t)s->bumped * c);
	}
	o->key = 0;
	s->nfree--;
	b->slab_free -= c;
	if (s->nfree == 0)
		partial_remove(b, s);
	return o;
}

/* Class for `size` bytes aligned to `align` (<= page), or nclasses if a page run is needed. */
static unsigned small_class(const struct bd_state *b, size_t size, size_t align)
{
	unsigned c;

	if (size > b->small_max || align > b->small_max)
		return b->nclasses;
	c = bd_class_of(size > align ? size : align);
	while (c < b->nclasses && (bd_class_size(c) & (align - 1)) != 0)
		c++;
	return c;
}

/* ---- pointer lookup (all validation of caller pointers lives here) ---------------------- */

struct bd_loc {
	struct bd_zone *z;
	size_t pfn;
	struct bd_page *d;
	struct bd_slab *slab; /* set for small objects */
	size_t csize;	      /* class size of a small object */
};

/*
 * Locate live block ptr, or panic with what is wrong. Runs must be pointed at by their first
 * page; small objects must be at an object boundary of a slab, handed out, and not free.
 */
static void locate(struct bd_state *b, const void *ptr, struct bd_loc *l)
{
	uintptr_t p = (uintptr_t)ptr;
	struct bd_zone *z = bd_zone_of(b, p);
	size_t pfn = p >> KA_CFG_PAGE_SHIFT;

	if (!z || pfn < z->first_pfn || pfn - z->first_pfn >= z->npages)
		ka_misuse(&b->head, "pointer not allocated by this buddy allocator", ptr);
	l->z = z;
	l->pfn = pfn;
	l->d = bd_desc(z, pfn);
	l->slab = NULL;
	if (l->d->kind != BD_SLAB) {
		if ((p & (KA_PAGE_SIZE - 1)) != 0)
			ka_misuse(&b->head, "invalid pointer: inside a page run or a free block",
				  ptr);
		if (l->d->kind == BD_RUN)
			return;
		if (l->d->kind == BD_FREE)
			ka_misuse(&b->head, "double free (block is free)", ptr);
		ka_misuse(&b->head, "invalid pointer: not the start of a live block", ptr);
	}
	{
		/* A slab page records its distance from the slab's first page (the header). */
		size_t head = pfn - l->d->npages;
		struct bd_slab *s = bd_page_addr(head);
		uint32_t off, c;
		const struct bd_obj *o = ptr;

		if (l->d->npages > pfn - z->first_pfn ||
		    l->d->npages >= (1u << BD_SLAB_MAX_ORDER) || s->magic != slab_magic(s) ||
		    s->cls != l->d->cls || s->cls >= b->nclasses)
			ka_misuse(&b->head, "corrupted slab header", ptr);
		off = (uint32_t)((uintptr_t)s + bd_slab_bytes(b, s->cls) - p);
		c = (uint32_t)bd_class_size(s->cls);
		if (off % c != 0 || off / c > s->bumped)
			ka_misuse(&b->head, "invalid pointer: not the start of an object", ptr);
		l->pfn = head;
		l->d = bd_desc(z, head);
		if (o->key == ((uintptr_t)o ^ BD_OBJ_KEY))
			ka_misuse(&b->head, "double free (object is free)", ptr);
		l->slab = s;
		l->csize = c;
	}
}

BD_HOT void slab_free_obj(struct bd_state *b, struct bd_loc *l, void *ptr)
{
	struct bd_slab *s = l->slab;
	struct bd_obj *o = ptr;

	o->key = (uintptr_t)o ^ BD_OBJ_KEY;
	o->next = s->free;
	s->free = o;
	s->nfree++;
	b->slab_free += l->csize;
	if (s->nfree == 1)
		partial_push(b, s);
	if (s->nfree == s->nobj) {
		/* Empty: give the pages back so that they can merge into larger blocks. */
		unsigned ord = b->sorder[s->cls];

		partial_remove(b, s);
		b->slab_free -= (size_t)s->nobj * l->csize;
		s->magic = 0;
		for (size_t i = 1; i < ((size_t)1 << ord); i++)
			l->d[i] = (struct bd_page){0};
		block_free(b, l->z, l->pfn, ord);
	}
}

/* ---- operations ----------------------------------------------------------------------- */

/* Shared by alloc and alloc_sized: *usable is what usable_size() will report (set even on
 * failure, when the caller ignores it). */
BD_HOT void *alloc_impl(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	struct bd_state *b = bd(a);
	unsigned c = small_class(b, size, align);
	size_t n;

	if (c < b->nclasses) {
		*usable = bd_class_size(c);
		return slab_alloc(b, c);
	}
	if (align < KA_PAGE_SIZE)
		align = KA_PAGE_SIZE;
	/* size <= SIZE_MAX / 2 (generic layer), so rounding up cannot overflow. */
	n = (size + KA_PAGE_SIZE - 1) >> KA_CFG_PAGE_SHIFT;
	*usable = pages_bytes(n);
	return run_alloc(b, n, align);
}

/* Shared by free and free_counted: returns the usable size the block had. */
BD_HOT size_t free_impl(struct ka_alloc *a, void *ptr)
{
	struct bd_state *b = bd(a);
	struct bd_loc l;
	size_t n;

	locate(b, ptr, &l);
	if (l.slab) {
		slab_free_obj(b, &l, ptr);
		return l.csize;
	}
	n = l.d->npages;
	range_free(b, l.z, l.pfn, n);
	return pages_bytes(n);
}

/* Without statistics the generic layer never calls the sized entries: they are left out. */
#if KA_CFG_STATS
static void *bd_alloc_sized(struct ka_alloc *a, size_t size, size_t align, size_t *usable)
{
	return alloc_impl(a, size, align, usable);
}

static size_t bd_free_sized(struct ka_alloc *a, void *ptr)
{
	return free_impl(a, ptr);
}

/* The entries the generic layer calls when it keeps statistics: the sized ones, counted. */
static void *bd_alloc_counted(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n = 0; /* read only if p is not NULL */
	void *p = bd_alloc_sized(a, size, align, &n);

	return ka_stats_alloc_done(a, p, size, n);
}

static void bd_free_counted(struct ka_alloc *a, void *ptr)
{
	ka_stats_free_done(a, bd_free_sized(a, ptr));
}
#endif

/* Size builds with statistics keep one body: the plain entries call the sized ones (as in
 * tlsf.c); speed builds inline the body into both. */
#if defined(__OPTIMIZE_SIZE__) && KA_CFG_STATS
static void *bd_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n;

	return bd_alloc_sized(a, size, align, &n);
}

static void bd_free_op(struct ka_alloc *a, void *ptr)
{
	bd_free_sized(a, ptr);
}
#else
static void *bd_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t n;

	return alloc_impl(a, size, align, &n);
}

static void bd_free_op(struct ka_alloc *a, void *ptr)
{
	free_impl(a, ptr);
}
#endif

static size_t bd_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct bd_loc l;

	locate(bd(a), ptr, &l);
	return l.slab ? l.csize : pages_bytes(l.d->npages);
}

static void *bd_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct bd_state *b = bd(a);
	struct bd_loc l;
	size_t old;
	void *n;

	locate(b, ptr, &l);
	if (l.slab) {
		if (small_class(b, size, KA_CFG_MIN_ALIGN) == l.slab->cls)
			return ptr;
		old = l.csize;
	} else {
		size_t np = (size + KA_PAGE_SIZE - 1) >> KA_CFG_PAGE_SHIFT;

		old = pages_bytes(l.d->npages);
		if (size > b->small_max && np <= l.d->npages) {
			/* Same or fewer pages: keep the run, give its tail back. */
			if (np < l.d->npages) {
				range_free(b, l.z, l.pfn + np, l.d->npages - np);
				l.d->npages = (uint32_t)np;
			}
			return ptr;
		}
	}
	n = bd_alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!n)
		return NULL;
	memcpy(n, ptr, old < size ? old : size);
	bd_free_op(a, ptr);
	return n;
}

static void *bd_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	return run_alloc(bd(a), npages, align);
}

static void bd_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct bd_state *b = bd(a);
	struct bd_loc l;

	locate(b, ptr, &l);
	if (l.slab)
		ka_misuse(a, "pfree of a small object", ptr);
	if (l.d->npages != npages)
		ka_misuse(a, "pfree with a page count that differs from the allocation", ptr);
	range_free(b, l.z, l.pfn, npages);
}

/* Where the pages of [m, end) start when the map for them is placed at m; 0 if none fits. */
static size_t zone_pages(uintptr_t m, uintptr_t end, uintptr_t *first)
{
	size_t n;
	uintptr_t f;

	if (m >= end)
		return 0;
	n = (end - m) / (KA_PAGE_SIZE + sizeof(struct bd_page));
	/* The division ignores the padding to a page boundary: adjust by whole pages. */
	for (;;) {
		f = ka_align_up(m + n * sizeof(struct bd_page), KA_PAGE_SIZE);
		if (f >= m && f <= end && pages_bytes(n) <= end - f)
			break;
		if (n == 0)
			return 0;
		n--;
	}
	for (;;) {
		uintptr_t f2 = ka_align_up(m + (n + 1) * sizeof(struct bd_page), KA_PAGE_SIZE);
		if (f2 < m || f2 > end || pages_bytes(n + 1) > end - f2)
			break;
		n++;
		f = f2;
	}
	*first = f;
	return n;
}

/* Set up a zone for region [base, end) with its descriptor at zaddr; add its pages. */
static int zone_setup(struct bd_state *b, uintptr_t zaddr, uintptr_t base, uintptr_t end)
{
	uintptr_t zh = ka_align_up(zaddr, BD_META_ALIGN);
	uintptr_t m = ka_align_up(zh + sizeof(struct bd_zone), BD_META_ALIGN);
	struct bd_zone *z, **pp;
	uintptr_t first;
	size_t n;

	if (zh < zaddr || m < zh || m >= end)
		return KA_EINVAL;
	n = zone_pages(m, end, &first);
	if (n == 0)
		return KA_EINVAL;
	z = (struct bd_zone *)zh;
	z->next = NULL;
	z->base = base;
	z->end = end;
	z->first_pfn = first >> KA_CFG_PAGE_SHIFT;
	z->npages = n;
	z->map = (struct bd_page *)m;
	memset(z->map, 0, n * sizeof(struct bd_page));
	for (pp = &b->zones; *pp; pp = &(*pp)->next)
		;
	*pp = z;
	b->nzones++;
	b->total += end - base;
	b->meta += first - base;
	range_free(b, z, z->first_pfn, n);
	return 0;
}

static int bd_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	struct bd_state *b = bd(a);
	uintptr_t s = (uintptr_t)base, e = s + len;

	for (struct bd_zone *z = b->zones; z; z = z->next)
		if (s < z->end && z->base < e)
			return KA_EEXIST;
	return zone_setup(b, s, s, e);
}

static void bd_info(struct ka_alloc *a, struct ka_info *out)
{
	struct bd_state *b = bd(a);

	out->total = b->total;
	out->meta = b->meta;
	out->avail = pages_bytes(b->free_pages) + b->slab_free;
	if (b->nonempty) {
		out->maxalloc = pages_bytes((size_t)1 << ka_fls(b->nonempty));
		return;
	}
	for (unsigned c = b->nclasses; c-- > 0;)
		if (b->partial[c]) {
			out->maxalloc = bd_class_size(c);
			return;
		}
}

static bool bd_owns(struct ka_alloc *a, const void *ptr)
{
	return bd_zone_of(bd(a), (uintptr_t)ptr) != NULL;
}

/* In buddy_validate.c, linked only with ka_check() or ka_walk() (src/core/check.h). */
KA_CHECKER_REF unsigned bd_check(struct ka_alloc *a);
KA_CHECKER_REF int bd_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg);

static const struct ka_alloc_ops bd_ops = {
    .alloc = bd_alloc,
#if KA_CFG_STATS
    .alloc_counted = bd_alloc_counted,
    .free_counted = bd_free_counted,
#endif
    .free = bd_free_op,
    .usable_size = bd_usable_size,
    .realloc = bd_realloc,
    .palloc = bd_palloc,
    .pfree = bd_pfree,
    .add_memory = bd_add_memory,
    .info = bd_info,
    .check = bd_check,
    .walk = bd_walk,
    .owns = bd_owns,
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_REALLOC |
	    KA_CAP_WALK | KA_CAP_OWNS,
};

static size_t state_bytes(void)
{
	return ka_align_up(sizeof(struct bd_state), BD_META_ALIGN) +
	       ka_align_up(sizeof(struct bd_zone), BD_META_ALIGN);
}

size_t ka_buddy_meta_size(size_t len)
{
	size_t map, sum;

	map = (len >> KA_CFG_PAGE_SHIFT) * sizeof(struct bd_page);
	if (ka_add_overflow(state_bytes(), map, &sum) ||
	    ka_add_overflow(sum, KA_PAGE_SIZE - 1, &sum))
		return 0;
	return ka_align_down(sum, KA_PAGE_SIZE);
}

struct ka_alloc *ka_buddy_init(void *base, size_t len)
{
	uintptr_t bs = (uintptr_t)base, sp;
	struct bd_state *b;

	if (!base || len < BD_MIN_SIZE || bs + len < bs)
		return NULL;
	sp = ka_align_up(bs, BD_META_ALIGN);
	b = (struct bd_state *)sp;
	memset(b, 0, sizeof(*b));
	ka_alloc_init(&b->head, &bd_ops, "buddy");
	/* Classes up to 7/8 of a page (larger requests lose less as a page run). Each gets the
	 * smallest slab, up to 2^BD_SLAB_MAX_ORDER pages, that wastes at most 1/8 of itself
	 * (header and the gap below the last object), so no class wastes more than a page run
	 * of the same size would. */
	while (b->nclasses < BD_MAX_CLASSES &&
	       bd_class_size(b->nclasses) <= KA_PAGE_SIZE - KA_PAGE_SIZE / 8) {
		size_t c = bd_class_size(b->nclasses), o = 0, room;

		for (;; o++) {
			room = ((size_t)KA_PAGE_SIZE << o) - BD_SLAB_HDR;
			if (o == BD_SLAB_MAX_ORDER || ((size_t)KA_PAGE_SIZE << o) - room / c * c <=
							  ((size_t)KA_PAGE_SIZE << o) / 8)
				break;
		}
		b->sorder[b->nclasses] = (uint8_t)o;
		b->nobj[b->nclasses] = (uint16_t)(room / c);
		b->nclasses++;
	}
	b->small_max = bd_class_size(b->nclasses - 1);
	if (zone_setup(b, sp + sizeof(*b), bs, bs + len) != 0)
		return NULL;
	return &b->head;
}

const struct ka_backend ka_backend_buddy = {
    .name = "buddy",
    .desc = "binary buddy over pages + slabs for small sizes; O(log n), page runs",
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_ADDMEM | KA_CAP_PAGES | KA_CAP_REALLOC |
	    KA_CAP_WALK | KA_CAP_OWNS,
    .init = ka_buddy_init,
    .min_size = BD_MIN_SIZE,
};
