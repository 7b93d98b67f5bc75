/* SPDX-License-Identifier: MIT */
/*
 * The buddy backend's checker (bd_check) and walker (bd_walk). The checker re-derives every
 * figure the allocator keeps from the structures themselves and reports each disagreement
 * once through ka_check_report(); it reads only, never panics, and bounds every list walk so
 * that a corrupted (cyclic) list ends in a report, not a hang. Invariants: buddy_priv.h.
 */
#include "buddy_priv.h"

struct bd_tally {
	size_t list_blocks;   /* free blocks found on the lists */
	size_t map_free;      /* free block heads found walking the maps */
	size_t slabs_nonfull; /* slab pages with a free object, found walking the maps */
	size_t partial_len;   /* slabs found on the partial lists */
	size_t slab_free;     /* free object bytes found in slab pages */
};

static unsigned report(struct bd_state *b, const char *what, const void *where)
{
	ka_check_report(&b->head, what, where);
	return 1;
}

/* Free lists: links, order, alignment, map entry, unmerged buddies, counts. */
static unsigned check_lists(struct bd_state *b, struct bd_tally *t)
{
	unsigned bad = 0;
	size_t pages = 0;

	for (unsigned k = 0; k < BD_NORDERS; k++) {
		const struct bd_free *prev = NULL, *f = b->free[k];
		size_t limit = (b->free_pages >> k) + 1, n = 0;
		bool bit = (b->nonempty >> k) & 1;

		if (bit != (f != NULL))
			bad += report(b, "non-empty order bitmap disagrees with the list",
				      b->free + k);
		for (; f; prev = f, f = f->next) {
			size_t pfn = (uintptr_t)f >> KA_CFG_PAGE_SHIFT;
			struct bd_zone *z = bd_zone_of(b, (uintptr_t)f);
			struct bd_page *d;

			if (++n > limit) {
				bad += report(
				    b, "free list longer than the free pages allow (cycle?)", f);
				break;
			}
			/* Where f points is checked before f is read: a link overwritten by an
			 * overflow or a write after free may point anywhere. */
			if (!z || ((uintptr_t)f & (KA_PAGE_SIZE - 1)) || pfn < z->first_pfn ||
			    pfn - z->first_pfn >= z->npages ||
			    z->npages - (pfn - z->first_pfn) < ((size_t)1 << k)) {
				bad += report(b, "free block outside the managed pages", f);
				break;
			}
			if (f->prev != prev)
				bad += report(b, "free list back link inconsistent", f);
			if (f->zone != z)
				bad += report(b, "free block records the wrong zone", f);
			if (pfn & (((size_t)1 << k) - 1))
				bad += report(b, "free block not aligned to its order", f);
			d = bd_desc(z, pfn);
			if (d->kind != BD_FREE || d->order != k)
				bad +=
				    report(b, "free block's map entry disagrees with its list", f);
			{
				size_t bp = pfn ^ ((size_t)1 << k);
				if (bp > pfn && bp - z->first_pfn < z->npages &&
				    z->npages - (bp - z->first_pfn) >= ((size_t)1 << k)) {
					struct bd_page *bdd = bd_desc(z, bp);
					if (bdd->kind == BD_FREE && bdd->order == k)
						bad += report(b, "free buddies left unmerged", f);
				}
			}
			pages += (size_t)1 << k;
			t->list_blocks++;
		}
	}
	if (pages != b->free_pages)
		bad += report(b, "free page count does not match the lists", &b->free_pages);
	return bad;
}

static inline bool obj_is_free(const struct bd_obj *o)
{
	return o->key == ((uintptr_t)o ^ BD_OBJ_KEY);
}

/* One slab page: header, object free list, counts. */
static unsigned check_slab(struct bd_state *b, const struct bd_page *d, struct bd_slab *s,
			   struct bd_tally *t)
{
	unsigned bad = 0;
	size_t c, listed = 0;
	uintptr_t end;

	if (s->magic != (BD_SLAB_MAGIC ^ (uintptr_t)s) || s->cls != d->cls ||
	    s->cls >= b->nclasses || s->nobj != b->nobj[s->cls] || s->bumped > s->nobj ||
	    s->nfree > s->nobj)
		return report(b, "corrupted slab header", s);
	c = bd_class_size(s->cls);
	end = (uintptr_t)s + bd_slab_bytes(b, s->cls);
	for (const struct bd_obj *o = s->free; o; o = o->next) {
		uintptr_t off = end - (uintptr_t)o;

		if (++listed > s->bumped) {
			bad += report(b, "slab free list longer than its objects (cycle?)", s);
			break;
		}
		if ((uintptr_t)o <= (uintptr_t)s || (uintptr_t)o >= end ||
		    (uint32_t)off % (uint32_t)c != 0 || (uint32_t)off / (uint32_t)c > s->bumped) {
			bad += report(b, "slab free list entry is not an object of the slab", o);
			break;
		}
		if (!obj_is_free(o))
			bad += report(b, "free object lost its free key", o);
	}
	if (!bad && listed + (size_t)(s->nobj - s->bumped) != s->nfree)
		bad += report(b, "slab free count does not match its objects", s);
	if (s->nfree == s->nobj)
		bad += report(b, "empty slab not given back to the page lists", s);
	if (s->nfree > 0)
		t->slabs_nonfull++;
	t->slab_free += (size_t)s->nfree * c;
	return bad;
}

/* Zone maps: blocks tile the pages; descriptors other than heads are zero, except in a
 * slab, whose pages all say BD_SLAB, its class and their distance from its first page. */
static unsigned check_zone(struct bd_state *b, struct bd_zone *z, struct bd_tally *t)
{
	unsigned bad = 0;
	size_t i = 0;

	while (i < z->npages) {
		struct bd_page *d = &z->map[i];
		size_t pfn = z->first_pfn + i, len;

		switch (d->kind) {
		case BD_FREE:
			len = (size_t)1 << (d->order < BD_NORDERS ? d->order : 0);
			if (d->order >= BD_NORDERS || (pfn & (len - 1)) || len > z->npages - i)
				return bad + report(b, "bad free block in the page map",
						    bd_page_addr(pfn));
			t->map_free++;
			break;
		case BD_RUN:
			len = d->npages;
			if (len == 0 || len > z->npages - i)
				return bad +
				       report(b, "bad page run in the page map", bd_page_addr(pfn));
			break;
		case BD_SLAB:
			if (d->cls >= b->nclasses || d->npages != 0 ||
			    ((size_t)1 << b->sorder[d->cls]) > z->npages - i ||
			    (pfn & (((size_t)1 << b->sorder[d->cls]) - 1)))
				return bad +
				       report(b, "bad slab in the page map", bd_page_addr(pfn));
			len = (size_t)1 << b->sorder[d->cls];
			bad += check_slab(b, d, bd_page_addr(pfn), t);
			for (size_t j = 1; j < len; j++)
				if (d[j].kind != BD_SLAB || d[j].cls != d->cls ||
				    d[j].npages != j) {
					bad += report(b, "page map: slab page without its slab",
						      bd_page_addr(pfn + j));
					break;
				}
			i += len;
			continue;
		default:
			return bad +
			       report(b, "page map: page belongs to no block", bd_page_addr(pfn));
		}
		for (size_t j = 1; j < len; j++)
			if (d[j].kind != BD_NONE) {
				bad += report(b, "page map: block interior holds a head",
					      bd_page_addr(pfn + j));
				break;
			}
		i += len;
	}
	return bad;
}

static unsigned check_partial(struct bd_state *b, struct bd_tally *t)
{
	unsigned bad = 0;

	for (unsigned c = 0; c < BD_MAX_CLASSES; c++) {
		const struct bd_slab *prev = NULL;
		size_t n = 0;

		if (c >= b->nclasses && b->partial[c]) {
			bad += report(b, "partial list of an unused class", b->partial + c);
			continue;
		}
		for (struct bd_slab *s = b->partial[c]; s; prev = s, s = s->next) {
			struct bd_zone *z = bd_zone_of(b, (uintptr_t)s);
			size_t pfn = (uintptr_t)s >> KA_CFG_PAGE_SHIFT;

			if (++n > b->free_pages + t->slabs_nonfull + 1 ||
			    ((uintptr_t)s & (KA_PAGE_SIZE - 1)) || !z || pfn < z->first_pfn ||
			    pfn - z->first_pfn >= z->npages || bd_desc(z, pfn)->kind != BD_SLAB ||
			    bd_desc(z, pfn)->npages != 0) {
				bad += report(b, "partial list entry is not a slab page", s);
				break;
			}
			if (s->prev != prev)
				bad += report(b, "partial list back link inconsistent", s);
			if (s->cls != c || s->nfree == 0)
				bad += report(b, "slab on the wrong partial list", s);
			t->partial_len++;
		}
	}
	return bad;
}

/* The zone's pages lie inside its region. */
static bool pages_end_ok(const struct bd_zone *z)
{
	size_t last = z->end >> KA_CFG_PAGE_SHIFT;

	return z->first_pfn <= last && z->npages <= last - z->first_pfn;
}

unsigned bd_check(struct ka_alloc *a)
{
	struct bd_state *b = (struct bd_state *)a;
	struct bd_tally t = {0, 0, 0, 0, 0};
	unsigned bad = 0;
	size_t nz = 0, total = 0;
	struct bd_zone *z;

	for (z = b->zones; z && nz <= b->nzones; z = z->next, nz++) {
		total += z->end - z->base;
		if (((uintptr_t)z->map < z->base || (uintptr_t)z->map >= z->end ||
		     z->first_pfn < (z->base >> KA_CFG_PAGE_SHIFT) || z->npages == 0 ||
		     !pages_end_ok(z))) {
			bad += report(b, "zone descriptor inconsistent", z);
			continue;
		}
		bad += check_zone(b, z, &t);
	}
	if (z || nz != b->nzones)
		bad += report(b, "zone count does not match the list", &b->nzones);
	if (total != b->total)
		bad += report(b, "total bytes do not match the zones", &b->total);
	bad += check_lists(b, &t);
	if (t.list_blocks != t.map_free)
		bad += report(b, "free blocks in the map and on the lists differ", b->free);
	bad += check_partial(b, &t);
	if (t.partial_len != t.slabs_nonfull)
		bad +=
		    report(b, "slabs with free objects and the partial lists differ", b->partial);
	if (t.slab_free != b->slab_free)
		bad += report(b, "free slab bytes do not match the slabs", &b->slab_free);
	return bad;
}

/* ---- walker ------------------------------------------------------------------------------ */

static int walk_slab(const struct bd_state *b, struct bd_slab *s, ka_walk_fn fn, void *arg)
{
	size_t c = bd_class_size(s->cls);
	uintptr_t end = (uintptr_t)s + bd_slab_bytes(b, s->cls);
	int rc = 0;

	/* Address order: the highest index is the lowest address. */
	for (size_t i = s->nobj; i-- > 0 && rc == 0;) {
		struct bd_obj *o = (struct bd_obj *)(end - (i + 1) * c);
		bool used = i < s->bumped && !obj_is_free(o);

		rc = fn(o, c, used, arg);
	}
	return rc;
}

int bd_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct bd_state *b = (struct bd_state *)a;
	int rc = 0;

	for (struct bd_zone *z = b->zones; z && rc == 0; z = z->next) {
		size_t i = 0;

		while (i < z->npages && rc == 0) {
			struct bd_page *d = &z->map[i];
			void *p = bd_page_addr(z->first_pfn + i);
			size_t len;

			if (d->kind == BD_FREE && d->order < BD_NORDERS) {
				len = (size_t)1 << d->order;
				rc = fn(p, len << KA_CFG_PAGE_SHIFT, false, arg);
			} else if (d->kind == BD_RUN && d->npages > 0) {
				len = d->npages;
				rc = fn(p, len << KA_CFG_PAGE_SHIFT, true, arg);
			} else if (d->kind == BD_SLAB && d->cls < b->nclasses && d->npages == 0) {
				len = (size_t)1 << b->sorder[d->cls];
				rc = walk_slab(b, p, fn, arg);
			} else {
				break; /* a broken map: bd_check() reports it */
			}
			i += len;
		}
	}
	return rc;
}
