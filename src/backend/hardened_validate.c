/* SPDX-License-Identifier: MIT */
/*
 * Checker of the hardened backend behind ka_check(), and its walker behind ka_walk(). In their
 * own object so that a program links them only when it calls ka_check() or ka_walk()
 * (src/core/check.h): hardened.c names both weakly.
 *
 * The checker verifies invariants H1..H8 of hardened_priv.h. Cached
 * counters are compared with what the page table and the bitmaps say (the ground truth), so
 * one corrupted field is one finding. Never aborts, never writes, never reads a protected
 * page (the guard trailers of live large blocks), and range-checks every
 * index before using it, so a corrupted table cannot send it outside the region.
 */
#include "hardened_priv.h"

/* Bytes at each end of a free slot that the checker verifies. */
#define HD_FREE_PROBE 32u

struct tally {
	struct ka_hardened *h;
	unsigned errors;
	size_t quar_found; /* quarantined slots and large blocks seen in the arena */
	size_t quar_bytes;
	size_t slot_avail;
	size_t guards;
	size_t large;
	size_t runs;
	uint32_t empty[HD_NCLS];
	uint32_t partial_runs[HD_NCLS];
};

static void bad(struct tally *t, const char *what, uintptr_t where)
{
	t->errors++;
	ka_check_report(&t->h->base, what, (const void *)where);
}

static bool bit(const size_t *map, size_t i)
{
	return (map[i / HD_WBITS] >> (i % HD_WBITS)) & 1u;
}

static unsigned popcount(size_t x)
{
	unsigned n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* H3 and H8 for one run whose descriptor index and position were already validated. */
static void check_run(struct tally *t, const struct hd_run *r)
{
	struct ka_hardened *h = t->h;
	uintptr_t base = hd_page_addr(h, r->first);
	size_t cs = hd_class_size(r->cls);
	unsigned nfree = 0, nlive = 0;

	if (r->npages != hd_run_pages(r->cls) || r->nslots != hd_run_slots(r->cls)) {
		bad(t, "run geometry does not match its class", base);
		return;
	}
	for (size_t w = 0; w < HD_MAP_WORDS; w++) {
		size_t lo = w * HD_WBITS, beyond = 0;
		if (lo + HD_WBITS > r->nslots)
			beyond = lo >= r->nslots ? ~(size_t)0 : ~(size_t)0 << (r->nslots - lo);
		if ((r->used[w] & beyond) != beyond || (r->live[w] & beyond) != 0)
			bad(t, "run bitmap has bits beyond its slots", base);
		if (r->live[w] & ~r->used[w])
			bad(t, "run has a live slot that is not marked used", base);
		nfree += popcount(~r->used[w] & ~beyond);
		nlive += popcount(r->live[w] & ~beyond);
	}
	if (r->nfree != nfree)
		bad(t, "run's free count disagrees with its bitmap", base);
	if (r->nlive != nlive)
		bad(t, "run's live count disagrees with its bitmap", base);
	t->slot_avail += (size_t)nfree * (cs - HD_CANARY);
	if (nfree == r->nslots)
		t->empty[r->cls]++;
	if (nfree > 0)
		t->partial_runs[r->cls]++;
	for (size_t s = 0; s < r->nslots; s++) {
		uintptr_t p = base + s * cs;
		bool used = bit(r->used, s), live = bit(r->live, s);

		if (live) {
			/* One finding per block: the tail, else the canary after the request. */
			size_t n = hd_tail_size(h->secret, p, cs);
			uint64_t tw;
			memcpy(&tw, (const void *)(p + cs - HD_CANARY), 8);
			if (n == 0)
				bad(t, "tail of a live block overwritten", p);
			else if (!hd_gap_ok(h->secret, p + n, hd_gap_canary(cs, n), tw))
				bad(t, "canary of a live block overwritten", p);
		} else {
			/* Quarantined slots (at most KA_HARDENED_QUARANTINE) in full; free slots
			 * by their first and last HD_FREE_PROBE bytes, as the checker runs after
			 * every operation in debug builds and fuzzing: slot_take() verifies the
			 * whole slot before handing it out anyway. */
			bool ok = used || cs <= 2 * HD_FREE_PROBE
				      ? ka_hd_poisoned((const void *)p, cs)
				      : ka_hd_poisoned((const void *)p, HD_FREE_PROBE) &&
					    ka_hd_poisoned((const void *)(p + cs - HD_FREE_PROBE),
							   HD_FREE_PROBE);
			if (!ok)
				bad(t,
				    used ? "write after free (quarantined block)"
					 : "write into a free slot",
				    p);
			if (used) {
				t->quar_found++;
				t->quar_bytes += cs;
			}
		}
	}
}

/* H1 and H8 for a large block at page pg; returns the pages it spans (at least 1). */
static size_t check_large(struct tally *t, size_t pg)
{
	struct ka_hardened *h = t->h;
	const struct hd_page *e = &h->pm[pg];
	size_t n = HD_PG_LOW(e->w);
	uintptr_t addr = hd_page_addr(h, pg);

	if (n == 0 || n + 1 > h->npages - pg) {
		bad(t, "large block runs past the arena", addr);
		return 1;
	}
	for (size_t i = 1; i < n; i++)
		if (h->pm[pg + i].w != HD_PG(HD_PG_BODY, i)) {
			bad(t, "large block's page table entries are broken", addr);
			return 1;
		}
	if (h->pm[pg + n].w != HD_PG(HD_PG_TRAIL, n)) {
		bad(t, "large block's trailer entry is broken", addr);
		return 1;
	}
	if ((e->aux & ~HD_L_ALL) || ((e->aux & HD_L_GUARD) && (e->aux & (HD_L_QUAR | HD_L_OPEN))))
		bad(t, "large block has impossible flags", addr);
	t->large++;
	if (e->aux & HD_L_GUARD)
		t->guards++;
	else if (!(e->aux & HD_L_OPEN) && !ka_hd_canary_page_ok(h, addr + n * HD_PAGE))
		bad(t, "canary page after a large block overwritten", addr);
	if (e->aux & HD_L_QUAR) {
		t->quar_found++;
		t->quar_bytes += n * HD_PAGE;
		if (!ka_hd_poisoned((const void *)addr, hd_large_poison(n)))
			bad(t, "write after free (quarantined large block)", addr);
	}
	return n + 1;
}

/* H1, H2 and, through check_run/check_large, H3 and H8: one pass over the page table. */
static void check_pages(struct tally *t)
{
	struct ka_hardened *h = t->h;
	size_t free_pages = 0;

	for (size_t pg = 0; pg < h->npages;) {
		uint32_t w = h->pm[pg].w;
		uintptr_t addr = hd_page_addr(h, pg);
		bool is_free = HD_PG_KIND(w) == HD_PG_FREE;
		size_t span = 1;

		if (hd_page_is_free(h, pg) != is_free)
			bad(t, "free-page bitmap disagrees with the page table", addr);
		switch (HD_PG_KIND(w)) {
		case HD_PG_FREE:
			free_pages++;
			if (HD_PG_LOW(w) != 0 || h->pm[pg].aux != 0)
				bad(t, "free page has a non-zero entry", addr);
			break;
		case HD_PG_RUN: {
			const struct hd_run *r;

			if (HD_PG_LOW(w) >= h->runs_hw) {
				bad(t, "page names a run that does not exist", addr);
				break;
			}
			r = &h->runs[HD_PG_LOW(w)];
			if (r->cls >= HD_NCLS || r->first != pg || r->npages == 0 ||
			    r->npages > h->npages - pg) {
				bad(t, "page names a run that does not start there", addr);
				break;
			}
			for (size_t i = 1; i < r->npages; i++)
				if (h->pm[pg + i].w != w) {
					bad(t, "run's pages are not all marked as the run's", addr);
					break;
				}
			for (size_t i = 1; i < r->npages; i++)
				if (hd_page_is_free(h, pg + i))
					bad(t, "free-page bitmap disagrees with the page table",
					    hd_page_addr(h, pg + i));
			t->runs++;
			check_run(t, r);
			span = r->npages;
			break;
		}
		case HD_PG_LARGE:
			span = check_large(t, pg);
			for (size_t i = 1; i < span; i++)
				if (hd_page_is_free(h, pg + i))
					bad(t, "free-page bitmap disagrees with the page table",
					    hd_page_addr(h, pg + i));
			break;
		default:
			bad(t, "page table entry of no block", addr);
			break;
		}
		pg += span;
	}
	if (free_pages != h->free_pages)
		bad(t, "free page count is wrong", h->arena);
	for (size_t i = h->npages; i < h->freemap_words * HD_WBITS; i++)
		if (bit(h->freemap, i)) {
			bad(t, "free-page bitmap has bits beyond the arena", h->arena);
			break;
		}
}

/* H3 (descriptor table) and H4: partial lists and the unused-descriptor list. */
static void check_lists(struct tally *t)
{
	struct ka_hardened *h = t->h;
	uint32_t in_use = 0, unused = 0;

	if (h->runs_hw > h->nruns) {
		bad(t, "run table high-water mark out of range", (uintptr_t)h->runs);
		return;
	}
	for (uint32_t i = 0; i < h->runs_hw; i++)
		in_use += h->runs[i].cls < HD_NCLS;
	if (in_use != h->runs_in_use || in_use != t->runs)
		bad(t, "run count is wrong", (uintptr_t)h->runs);
	for (int32_t i = h->unused_runs; i >= 0; i = h->runs[i].next) {
		if ((uint32_t)i >= h->runs_hw || h->runs[i].cls != HD_NCLS ||
		    ++unused > h->runs_hw) {
			bad(t, "unused-run list is broken", (uintptr_t)h->runs);
			break;
		}
	}
	if (unused + in_use != h->runs_hw)
		bad(t, "unused-run list misses descriptors", (uintptr_t)h->runs);
	for (unsigned c = 0; c < HD_NCLS; c++) {
		uint32_t n = 0;
		int32_t prev = -1;

		for (int32_t i = h->partial[c]; i >= 0; i = h->runs[i].next) {
			const struct hd_run *r;

			if ((uint32_t)i >= h->runs_hw || ++n > h->runs_hw) {
				bad(t, "partial list is broken", (uintptr_t)&h->partial[c]);
				break;
			}
			r = &h->runs[i];
			if (r->cls != c || r->nfree == 0 || r->prev != prev) {
				bad(t, "partial list holds a run that does not belong there",
				    (uintptr_t)r);
				break;
			}
			prev = i;
		}
		if (n != t->partial_runs[c])
			bad(t, "partial list misses runs with free slots",
			    (uintptr_t)&h->partial[c]);
		if (h->nempty[c] != t->empty[c])
			bad(t, "empty-run count is wrong", (uintptr_t)&h->nempty[c]);
	}
}

/* H6: every ring entry is a quarantined block, and there are no others. */
static void check_quarantine(struct tally *t)
{
	struct ka_hardened *h = t->h;

	if (h->qlen > HD_QCAP || h->qhead >= HD_QCAP) {
		bad(t, "quarantine ring indices out of range", (uintptr_t)h->quar);
		return;
	}
	for (uint32_t k = 0; k < h->qlen; k++) {
		uintptr_t p = (uintptr_t)h->quar[(h->qhead + k) % HD_QCAP], off = p - h->arena;
		size_t pg = off >> HD_SHIFT;
		bool ok = false;

		if (off < h->arena_len) {
			uint32_t w = h->pm[pg].w;
			if (HD_PG_KIND(w) == HD_PG_RUN && HD_PG_LOW(w) < h->runs_hw) {
				const struct hd_run *r = &h->runs[HD_PG_LOW(w)];
				if (r->cls < HD_NCLS && pg >= r->first) {
					size_t cs = hd_class_size(r->cls);
					size_t ro = p - hd_page_addr(h, r->first), s = ro / cs;
					ok = ro % cs == 0 && s < r->nslots && bit(r->used, s) &&
					     !bit(r->live, s);
				}
			} else if (HD_PG_KIND(w) == HD_PG_LARGE) {
				ok = (p & (HD_PAGE - 1)) == 0 && (h->pm[pg].aux & HD_L_QUAR);
			}
		}
		if (!ok)
			bad(t, "quarantine entry is not a quarantined block", p);
	}
	if (t->quar_found != h->qlen)
		bad(t, "quarantined blocks and quarantine ring disagree", (uintptr_t)h->quar);
	if (t->quar_bytes != h->qbytes)
		bad(t, "quarantine byte count is wrong", (uintptr_t)h->quar);
}

/* Also gives the guard pages the region's page table shows (not its own counter). */
static unsigned check_region(struct ka_hardened *h, size_t *guards)
{
	struct tally t;

	memset(&t, 0, sizeof(t));
	t.h = h;
	*guards = h->guards_live; /* a region too broken to walk adds no second finding */
	if ((h->arena & (HD_PAGE - 1)) != 0 || h->npages < HD_MIN_PAGES ||
	    h->npages >= HD_MAX_PAGES || h->arena_len != h->npages * HD_PAGE ||
	    h->freemap_words != (h->npages + HD_WBITS - 1) / HD_WBITS ||
	    h->meta_guard != h->arena - HD_PAGE || h->arena < h->region_start ||
	    h->arena_len > h->region_end - h->arena) {
		bad(&t, "control structure is corrupted", (uintptr_t)h);
		return t.errors;
	}
	check_pages(&t);
	check_lists(&t);
	check_quarantine(&t);
	if (t.slot_avail != h->slot_avail)
		bad(&t, "free slot byte count is wrong", (uintptr_t)h);
	*guards = t.guards;
	if (t.guards != h->guards_live)
		bad(&t, "live guard count is wrong", (uintptr_t)h);
	if (t.large != h->large_live)
		bad(&t, "large block count is wrong", (uintptr_t)h);
	if (!ka_hd_canary_page_ok(h, h->meta_guard))
		bad(&t, "canary page below the arena overwritten", h->meta_guard);
	return t.errors;
}

unsigned ka_hardened_check_impl(struct ka_alloc *a)
{
	struct ka_hardened *first = hd_of(a);
	unsigned errors = 0;
	size_t n = 0, guards = 0;

	for (struct ka_hardened *h = first; h; h = h->next) {
		/* A loop in the list, or a region claiming another head, is corrupted control. */
		if (n++ > first->nregions || h->head != first) {
			ka_check_report(a, "region list is corrupted", h);
			return errors + 1;
		}
		size_t g = 0;

		errors += check_region(h, &g);
		guards += g;
	}
	if (n != first->nregions) {
		ka_check_report(a, "region count is wrong", first);
		errors++;
	}
	if (guards != first->heap_guards) {
		ka_check_report(a, "heap guard count is wrong", first);
		errors++;
	}
	return errors;
}

static int region_walk(struct ka_hardened *h, ka_walk_fn fn, void *arg)
{
	int rc;

	for (size_t pg = 0; pg < h->npages;) {
		uint32_t w = h->pm[pg].w;
		uintptr_t addr = hd_page_addr(h, pg);

		switch (HD_PG_KIND(w)) {
		case HD_PG_FREE: {
			size_t e = pg + 1;
			while (e < h->npages && HD_PG_KIND(h->pm[e].w) == HD_PG_FREE)
				e++;
			if ((rc = fn((void *)addr, (e - pg) * HD_PAGE, false, arg)) != 0)
				return rc;
			pg = e;
			break;
		}
		case HD_PG_RUN: {
			const struct hd_run *r;
			size_t cs;

			if (HD_PG_LOW(w) >= h->runs_hw)
				return KA_EFAULT;
			r = &h->runs[HD_PG_LOW(w)];
			if (r->cls >= HD_NCLS || r->first != pg || r->npages == 0 ||
			    r->first + r->npages > h->npages)
				return KA_EFAULT;
			cs = hd_class_size(r->cls);
			for (size_t s = 0; s < r->nslots; s++) {
				bool live = (r->live[s / HD_WBITS] >> (s % HD_WBITS)) & 1u;
				size_t n = cs - HD_CANARY;
				/* A live block has its requested size (what usable_size says); a
				 * broken tail is the checker's to report, not the walk's. */
				if (live) {
					size_t t = hd_tail_size(h->secret, addr + s * cs, cs);
					n = t ? t : n;
				}
				if ((rc = fn((void *)(addr + s * cs), n, live, arg)) != 0)
					return rc;
			}
			pg += r->npages;
			break;
		}
		case HD_PG_LARGE: {
			size_t n = HD_PG_LOW(w);
			if (n == 0 || n + 1 > h->npages - pg)
				return KA_EFAULT;
			if ((rc = fn((void *)addr, n * HD_PAGE, !(h->pm[pg].aux & HD_L_QUAR),
				     arg)) != 0)
				return rc;
			pg += n + 1;
			break;
		}
		default:
			return KA_EFAULT;
		}
	}
	return 0;
}

/* The walker behind ka_walk(): every block of every region in address order. */
int ka_hardened_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	int rc = 0;

	for (struct ka_hardened *h = hd_of(a); h && rc == 0; h = h->next)
		rc = region_walk(h, fn, arg);
	return rc;
}
