/* SPDX-License-Identifier: MIT */
/*
 * The slab checker behind ka_check() and its walker behind ka_walk(). In its own object so that a
 * program links it only when it calls ka_check() or ka_walk() (src/core/check.h): slab.c names both
 * weakly.
 */
#include "slab_priv.h"

/* ---- check and walk --------------------------------------------------------------------- */

static inline bool has_mark(const struct ka_slab_state *st, const struct ka_slab *s,
			    const struct ka_slab_class *c, uint32_t i)
{
	const uintptr_t *o =
	    (const uintptr_t *)(ka_slab_base(s) + c->obj_off + (size_t)i * c->size);

	return o[1] == ka_slab_free_mark(st, o);
}

/* Check one slab of class ci found on list `list`; returns the inconsistencies. */
static unsigned check_slab(struct ka_slab_state *st, unsigned ci, struct ka_slab *s, unsigned list,
			   size_t *live_sum)
{
	struct ka_slab_class *c = &st->cls[ci];
	const struct ka_alloc *a = &st->head;
	unsigned bad = 0, live = 0, nfree = 0, below = 0;
	uint32_t want_free;

	if (ka_slab_hdr(ka_slab_base(s)) != s || ka_slab_base(s) < st->lo ||
	    ka_slab_base(s) + KA_SLAB_SIZE > st->hi) {
		ka_check_report(a, "slab outside the page source's memory or misaligned", s);
		return 1;
	}
	if (s->magic != ka_slab_mark(s, st)) {
		ka_check_report(a, "slab header mark corrupted (or another allocator's)", s);
		return 1;
	}
	if (s->cls != ci) {
		ka_check_report(a, "slab on the list of another class", s);
		return 1;
	}
	if (s->size != c->size || s->recip != c->recip || s->obj_off != c->obj_off ||
	    s->span != c->span) {
		ka_check_report(a, "slab's copy of its class geometry corrupted", s);
		return bad + 1;
	}
	if (s->list != list) {
		ka_check_report(a, "slab list tag disagrees with its list", s);
		bad++;
	}
	if (s->bump < c->first || s->bump > c->nobj ||
	    (s->bump < c->nobj && ka_slab_reserved(c, s->bump))) {
		ka_check_report(a, "slab bump index out of range or on a reserved slot", s);
		return bad + 1;
	}
	/* Live objects: the slots handed out (below bump, not reserved) without a free mark. */
	for (uint32_t i = 0; i < s->bump; i++)
		if (!ka_slab_reserved(c, i)) {
			below++;
			live += !has_mark(st, s, c, i);
		}
	if (live != s->inuse) {
		ka_check_report(a, "slab live count disagrees with its free marks", s);
		bad++;
	}
	*live_sum += (size_t)live * c->size;
	want_free = below - (live < below ? live : below);
	for (void *f = s->free; f; f = *(void **)f) {
		uintptr_t p = (uintptr_t)f, base = ka_slab_base(s) + c->obj_off;
		size_t off = p - base;
		uint32_t idx;

		if (++nfree > want_free) {
			ka_check_report(a, "slab free list longer than its free slots (cycle?)", s);
			return bad + 1;
		}
		if (p < base || off >= (size_t)c->nobj * c->size) {
			ka_check_report(a, "free-list entry not a slot of its slab", f);
			return bad + 1;
		}
		idx = slot_index(c->recip, off);
		if ((size_t)idx * c->size != off) {
			ka_check_report(a, "free-list entry not at a slot boundary", f);
			return bad + 1;
		}
		if (idx >= s->bump || ka_slab_reserved(c, idx)) {
			ka_check_report(a, "free-list entry is a reserved or never-used slot", f);
			bad++;
		} else if (!has_mark(st, s, c, idx)) {
			ka_check_report(a, "free-list entry lost its free mark (use after free?)",
					f);
			bad++;
		}
	}
	if (nfree != want_free) {
		ka_check_report(a, "slab free list shorter than its free slots", s);
		bad++;
	}
	if (list == KA_SLAB_ON_FULL && (s->free || s->bump < c->nobj)) {
		ka_check_report(a, "slab on the full list has free slots", s);
		bad++;
	}
	if (list == KA_SLAB_ON_PARTIAL && !s->free && s->bump >= c->nobj) {
		ka_check_report(a, "slab on the partial list has no free slot", s);
		bad++;
	}
	return bad;
}

static unsigned check_list(struct ka_slab_state *st, unsigned ci, struct ka_slab *head,
			   unsigned list, unsigned *count, unsigned *empty, size_t *live_sum)
{
	struct ka_slab_class *c = &st->cls[ci];
	struct ka_slab *prev = NULL;
	unsigned bad = 0;

	for (struct ka_slab *s = head; s; prev = s, s = s->next) {
		unsigned b;

		if (++*count > c->nslabs) {
			ka_check_report(&st->head, "class list longer than its slab count", s);
			return bad + 1;
		}
		if (s->prev != prev) {
			ka_check_report(&st->head, "slab list back link broken", s);
			bad++;
		}
		b = check_slab(st, ci, s, list, live_sum);
		bad += b;
		if (b != 0 && (s->magic != ka_slab_mark(s, st) || s->cls != ci))
			return bad; /* its links cannot be trusted */
		if (s->inuse == 0) {
			++*empty;
			if (c->spare != s) {
				ka_check_report(&st->head, "empty slab that is not the spare", s);
				bad++;
			}
		}
	}
	return bad;
}

unsigned ka_slab_check_impl(struct ka_alloc *a)
{
	struct ka_slab_state *st = st_of(a);
	unsigned bad = 0;
	size_t nslabs = 0, nlarge = 0, pages = 0, live_bytes = 0, slab_bytes = 0;
	struct ka_slab_large *prev = NULL;

	for (unsigned i = 0; i < KA_SLAB_NCLASSES; i++) {
		struct ka_slab_class *c = &st->cls[i];
		unsigned count = 0, empty = 0;
		size_t live = 0;

		if (c->size != ka_slab_class_bytes(i)) {
			ka_check_report(a, "class size corrupted", c);
			bad++;
			continue;
		}
		bad += check_list(st, i, c->partial, KA_SLAB_ON_PARTIAL, &count, &empty, &live);
		bad += check_list(st, i, c->full, KA_SLAB_ON_FULL, &count, &empty, &live);
		if (count != c->nslabs) {
			ka_check_report(a, "class slab count disagrees with its lists", c);
			bad++;
		}
		if (c->spare && empty == 0) {
			ka_check_report(a, "spare slab is not an empty slab of its class",
					c->spare);
			bad++;
		}
		nslabs += count;
		live_bytes += live;
		slab_bytes += (size_t)count * c->usable * c->size;
	}
	if (live_bytes != st->live_bytes || slab_bytes != st->slab_bytes) {
		ka_check_report(a, "live or slab byte counters disagree with the slabs", st);
		bad++;
	}
	if (nslabs != st->nslabs) {
		ka_check_report(a, "total slab count disagrees with the classes", st);
		bad++;
	}
	for (struct ka_slab_large *l = st->large; l; prev = l, l = l->next) {
		if (++nlarge > st->nlarge) {
			ka_check_report(a, "large list longer than its count (cycle?)", l);
			return bad + 1;
		}
		if ((uintptr_t)l < st->lo || (uintptr_t)l + KA_SLAB_LH > st->hi ||
		    l->magic != large_mark(l) || l->owner != st) {
			ka_check_report(a, "large block header corrupted", l);
			return bad + 1;
		}
		if (l->prev != prev) {
			ka_check_report(a, "large list back link broken", l);
			bad++;
		}
		if ((uintptr_t)l->base > (uintptr_t)l ||
		    (uintptr_t)l + KA_SLAB_LH - (uintptr_t)l->base >= l->npages * KA_PAGE_SIZE ||
		    !is_large_ptr((uintptr_t)l + KA_SLAB_LH)) {
			ka_check_report(a, "large block geometry inconsistent", l);
			bad++;
		}
		pages += l->npages;
	}
	if (nlarge != st->nlarge || pages != st->large_pages) {
		ka_check_report(a, "large block counters disagree with the list", st);
		bad++;
	}
	return bad;
}

static int walk_list(struct ka_slab_state *st, struct ka_slab *s, ka_walk_fn fn, void *arg)
{
	for (; s; s = s->next) {
		const struct ka_slab_class *c = &st->cls[s->cls];

		for (uint32_t i = 0; i < c->nobj; i++) {
			int rc;

			if (ka_slab_reserved(c, i))
				continue;
			rc = fn((char *)ka_slab_base(s) + c->obj_off + (size_t)i * c->size, c->size,
				i < s->bump && !has_mark(st, s, c, i), arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int ka_slab_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_slab_state *st = st_of(a);
	int rc;

	for (unsigned i = 0; i < KA_SLAB_NCLASSES; i++) {
		rc = walk_list(st, st->cls[i].partial, fn, arg);
		if (!rc)
			rc = walk_list(st, st->cls[i].full, fn, arg);
		if (rc)
			return rc;
	}
	for (struct ka_slab_large *l = st->large; l; l = l->next) {
		rc = fn((char *)l + KA_SLAB_LH, large_usable(l), true, arg);
		if (rc)
			return rc;
	}
	return 0;
}
