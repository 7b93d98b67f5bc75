/* SPDX-License-Identifier: MIT */
/*
 * The pool checker behind ka_check() and its walker behind ka_walk(). In its own object so that a
 * program links it only when it calls ka_check() or ka_walk() (src/core/check.h): pool.c names both
 * weakly.
 */
#include "pool_priv.h"

/* ---- check and walk --------------------------------------------------------------------- */

/* Bits set in x, branch-free (SWAR), so that a full check at debug level 3 costs one step per
 * bitmap word rather than per object. The constants are 0x55.., 0x33.., 0x0f.., 0x01.. of
 * size_t's width; no division happens at run time. */
static unsigned popcount(size_t x)
{
	x = x - ((x >> 1) & (SIZE_MAX / 3));
	x = (x & (SIZE_MAX / 5)) + ((x >> 2) & (SIZE_MAX / 5));
	x = (x + (x >> 4)) & (SIZE_MAX / 17);
	return (unsigned)((x * (SIZE_MAX / 255)) >> ((sizeof(size_t) - 1) * 8));
}

unsigned ka_pool_check_impl(struct ka_alloc *a)
{
	struct ka_pool_state *st = st_of(a);
	unsigned bad = 0;
	size_t nareas = 0, total = 0, used = 0, handed = 0, fresh = 0, listed = 0;
	bool seen_bump = st->bump_area == NULL;
	struct ka_pool_area *last = NULL;

	for (struct ka_pool_area *ar = &st->first; ar; last = ar, ar = ar->next) {
		size_t words = (ar->nobj + KA_POOL_WBITS - 1) >> KA_POOL_WSHIFT, live_n = 0;

		if (++nareas > st->nareas) {
			ka_check_report(a, "more areas than counted (cycle?)", ar);
			return bad + 1;
		}
		if (ar->nobj == 0 || ar->bump > ar->nobj || (ar->start & (st->align - 1)) ||
		    ar->start < ar->region_lo || ar->end != ar->start + ar->nobj * st->osz ||
		    ar->end > ar->region_hi || (uintptr_t)ar->map < ar->region_lo ||
		    (uintptr_t)(ar->map + words) > ar->start) {
			ka_check_report(a, "area geometry corrupted", ar);
			return bad + 1;
		}
		for (size_t w = 0; w < words; w++)
			live_n += popcount(ar->map[w]);
		for (size_t w = ar->bump >> KA_POOL_WSHIFT; w < words; w++) {
			size_t b = ar->bump & (KA_POOL_WBITS - 1);
			size_t high = w == (ar->bump >> KA_POOL_WSHIFT) ? ~(((size_t)1 << b) - 1)
									: ~(size_t)0;

			if (ar->map[w] & high) {
				ka_check_report(a, "live bit on an object never handed out", ar);
				bad++;
				break;
			}
		}
		/* Areas before the bump area are used up, the ones after it untouched. */
		if (ar == st->bump_area) {
			seen_bump = true;
			if (ar->bump == ar->nobj) {
				ka_check_report(a, "bump area has no fresh object", ar);
				bad++;
			}
		} else if (!seen_bump && ar->bump != ar->nobj) {
			ka_check_report(a, "area before the bump area has fresh objects", ar);
			bad++;
		} else if (seen_bump && st->bump_area && ar->bump != 0) {
			ka_check_report(a, "area after the bump area was used", ar);
			bad++;
		}
		if (!st->bump_area && ar->bump != ar->nobj) {
			ka_check_report(a, "fresh objects but no bump area", ar);
			bad++;
		}
		total += ar->nobj;
		used += live_n;
		handed += ar->bump;
		fresh += ar->nobj - ar->bump;
	}
	if (!seen_bump) {
		ka_check_report(a, "bump area is not one of the pool's areas", st->bump_area);
		bad++;
	}
	if (nareas != st->nareas || last != st->last || total != st->ntotal) {
		ka_check_report(a, "area counters disagree with the area list", st);
		bad++;
	}
	for (void *f = st->free; f; f = *(void **)f) {
		struct ka_pool_area *ar = area_of(st, (uintptr_t)f);
		size_t i;

		if (++listed > handed - (used < handed ? used : handed)) {
			ka_check_report(a, "free list longer than the free objects (cycle?)", f);
			return bad + 1;
		}
		if (!ar) {
			ka_check_report(a, "free-list entry outside every area", f);
			return bad + 1;
		}
		i = obj_index(st, ar, (uintptr_t)f);
		if (ar->start + i * st->osz != (uintptr_t)f) {
			ka_check_report(a, "free-list entry not at an object boundary", f);
			return bad + 1;
		}
		if (live(ar, i) || i >= ar->bump) {
			ka_check_report(a, "free-list entry is live or never handed out", f);
			bad++;
		}
	}
	if (used + listed != handed) {
		ka_check_report(a, "live + listed objects disagree with the objects handed out",
				st);
		bad++;
	}
	if (st->nfree != listed + fresh) {
		ka_check_report(a, "free-object counter disagrees with the pool", st);
		bad++;
	}
	return bad;
}

int ka_pool_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_pool_state *st = st_of(a);

	for (struct ka_pool_area *ar = &st->first; ar; ar = ar->next)
		for (size_t i = 0; i < ar->nobj; i++) {
			int rc = fn((void *)(ar->start + i * st->osz), st->osz, live(ar, i), arg);

			if (rc)
				return rc;
		}
	return 0;
}
