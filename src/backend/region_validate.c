/* SPDX-License-Identifier: MIT */
/*
 * The region checker behind ka_check() and its walker behind ka_walk(). In its own object so that a
 * program links it only when it calls ka_check() or ka_walk() (src/core/check.h): region.c names
 * both weakly.
 */
#include "region_priv.h"

/*
 * Follow the records of one region. Calls fn (if any) for every block; returns the number of
 * inconsistencies (a bad record ends the region's walk: what follows cannot be located).
 * *stop receives fn's non-zero result.
 */
static unsigned seg_walk(struct rg_state *s, struct rg_seg *g, ka_walk_fn fn, void *arg,
			 size_t *nblocks, int *stop)
{
	uintptr_t q = g->start;

	while (q < g->brk) {
		size_t word = *(const size_t *)q;
		size_t len = word & ~RG_TAG_MASK;
		size_t tag = word & RG_TAG_MASK;
		const struct rg_hdr *h = (const struct rg_hdr *)q;

		if (tag == RG_TAG_PAD) {
			if (len == 0 || len > g->brk - q || (len & (KA_CFG_MIN_ALIGN - 1))) {
				ka_check_report(&s->head, "bad padding record", (void *)q);
				return 1;
			}
			q += len;
			continue;
		}
		if (tag == 0 || h->check != hdr_check(h, len) || (len & (KA_CFG_MIN_ALIGN - 1)) ||
		    g->brk - q < RG_HDR || len > g->brk - q - RG_HDR) {
			ka_check_report(&s->head, "corrupted block header", (void *)q);
			return 1;
		}
		(*nblocks)++;
		if (fn && !*stop)
			*stop = fn((void *)(q + RG_HDR), len, tag == RG_TAG_USED, arg);
		q += RG_HDR + len;
	}
	if (q != g->brk) {
		ka_check_report(&s->head, "records overrun the bump pointer", (void *)g->brk);
		return 1;
	}
	if (fn && !*stop && g->end > g->brk)
		*stop = fn((void *)g->brk, g->end - g->brk, false, arg);
	return 0;
}

unsigned ka_region_check_impl(struct ka_alloc *a)
{
	struct rg_state *s = rg(a);
	unsigned bad = 0;
	size_t n = 0, total = 0, blocks = 0;
	bool cur_found = false, complete = true; /* complete: every record could be counted */
	struct rg_seg *g, *last = NULL;
	int stop = 0;

	for (g = s->first; g && n <= s->nsegs; g = g->next, n++) {
		last = g;
		total += g->end - g->base;
		if (g == s->cur)
			cur_found = true;
		if (g->base >= g->end || g->start < g->base || g->start > g->brk ||
		    g->brk > g->end || ((g->start | g->brk) & (KA_CFG_MIN_ALIGN - 1))) {
			ka_check_report(a, "region bounds inconsistent", g);
			bad++;
			complete = false;
			continue;
		}
		if (seg_walk(s, g, NULL, NULL, &blocks, &stop) != 0) {
			bad++;
			complete = false;
		}
	}
	if (g || n != s->nsegs) {
		ka_check_report(a, "region count does not match the list", s);
		bad++;
	}
	if (last != s->last || !cur_found) {
		ka_check_report(a, "last or current region not in the list", s);
		bad++;
	}
	if (total != s->total) {
		ka_check_report(a, "total bytes do not match the regions", s);
		bad++;
	}
	if (complete && blocks != s->nblocks) {
		ka_check_report(a, "block count does not match the records", s);
		bad++;
	}
	return bad;
}

int ka_region_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct rg_state *s = rg(a);
	size_t blocks = 0;
	int stop = 0;

	for (struct rg_seg *g = s->first; g && !stop; g = g->next)
		(void)seg_walk(s, g, fn, arg, &blocks, &stop);
	return stop;
}
