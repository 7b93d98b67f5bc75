/* SPDX-License-Identifier: MIT */
/*
 * The tiny checker behind ka_check() and its walker behind ka_walk(). In its own object so that a
 * program links them only when it calls ka_check() or ka_walk() (src/core/check.h): tiny.c names
 * both weakly. Compiled with the default variant only (KA_CFG_TINY_COMPACT 0, like tiny.c): the
 * compact variant has neither.
 */
#include "tiny_priv.h"

#if !KA_CFG_TINY_COMPACT

/* Each finding is reported once. The block walk stops in a region at a size it cannot
 * trust; list walks are bounded by the number of free blocks the block walk saw, so a
 * cycle is one finding and never a hang. */
unsigned ka_tiny_check_impl(struct ka_alloc *a)
{
	struct tiny *t = (struct tiny *)a;
	const struct ka_alloc *h0 = &t->head;
	struct tiny_region *r;
	struct tiny_free *f, *prev;
	size_t nfree = 0, listed = 0, avail = 0, nreg = 0, h, s;
	unsigned bad = 0, b;
	uintptr_t blk;
	bool pfree;

	for (r = t->regions; r; r = r->next) {
		if (++nreg > (t->total >> 4)) {
			ka_check_report(h0, "region list does not end", r);
			return bad + 1;
		}
		pfree = false;
		for (blk = r->first; blk < r->fence; blk += s) {
			h = *hdrp(blk);
			s = tiny_size(h);
			if (s < TINY_MINBLK || s > r->fence - blk ||
			    (h & (TINY_UNIT - 1) & ~TINY_FLAGS)) {
				ka_check_report(h0, "block size out of range", (void *)blk);
				bad++;
				break;
			}
			if (((h & TINY_PFREE) != 0) != pfree) {
				ka_check_report(h0, "previous-free bit wrong", (void *)blk);
				bad++;
			}
			if (!(h & TINY_USED)) {
				if (pfree) {
					ka_check_report(h0, "two adjacent free blocks",
							(void *)blk);
					bad++;
				}
				if (*ftrp(blk, s) != s) {
					ka_check_report(h0, "free block footer mismatch",
							(void *)blk);
					bad++;
				}
				nfree++;
				avail += s - TINY_HDR;
			}
			pfree = !(h & TINY_USED);
		}
		if (blk == r->fence) {
			h = *hdrp(blk);
			if (tiny_size(h) != 0 || !(h & TINY_USED) ||
			    ((h & TINY_PFREE) != 0) != pfree) {
				ka_check_report(h0, "region fence corrupted", (void *)blk);
				bad++;
			}
		}
	}
	for (b = 0; b < TINY_NBINS; b++) {
		if ((((t->bitmap >> b) & 1) != 0) != (t->bins[b] != NULL)) {
			ka_check_report(h0, "bitmap disagrees with its list", &t->bins[b]);
			bad++;
		}
		for (prev = NULL, f = t->bins[b]; f; prev = f, f = f->next) {
			if (++listed > nfree) {
				ka_check_report(h0, "free lists hold more blocks than the heap", f);
				return bad + 1;
			}
			if (!region_of(t, (uintptr_t)f) ||
			    (((uintptr_t)f + TINY_HDR) & (TINY_UNIT - 1))) {
				ka_check_report(h0, "free list link outside the heap", f);
				bad++;
				break;
			}
			if (f->hdr & TINY_USED) {
				ka_check_report(h0, "used block on a free list", f);
				bad++;
			} else if (tiny_bin(tiny_size(f->hdr)) != b) {
				ka_check_report(h0, "free block on the wrong list", f);
				bad++;
			}
			if (f->prev != prev) {
				ka_check_report(h0, "free list back link wrong", f);
				bad++;
			}
		}
	}
	if (listed != nfree) {
		ka_check_report(h0, "free block missing from the lists", t);
		bad++;
	}
	if (avail != t->avail) {
		ka_check_report(h0, "free byte count wrong", &t->avail);
		bad++;
	}
	return bad;
}

int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct tiny *t = (struct tiny *)a;
	struct tiny_region *r;
	uintptr_t blk;
	size_t h, s;
	int rc;

	for (r = t->regions; r; r = r->next) {
		for (blk = r->first; blk < r->fence; blk += s) {
			h = *hdrp(blk);
			s = tiny_size(h);
			if (s < TINY_MINBLK || s > r->fence - blk)
				return KA_EFAULT;
			rc = fn((void *)(blk + TINY_HDR), s - TINY_HDR, (h & TINY_USED) != 0, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

#endif /* !KA_CFG_TINY_COMPACT */
