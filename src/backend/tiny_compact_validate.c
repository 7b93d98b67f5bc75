/* SPDX-License-Identifier: MIT */
/*
 * The checker behind ka_check() and the walker behind ka_walk() for the compact variant of
 * tiny (tiny_compact.c, which names both weakly). In its own object so that a program links
 * them only when it calls ka_check() or ka_walk() (src/core/check.h). Compiled with the
 * compact variant only, like tiny_compact.c; the binned variant has tiny_validate.c.
 */
#include "tiny_compact_priv.h"

#if KA_CFG_TINY_COMPACT

/* Invariants: the regions are in address order and disjoint; in each, the blocks tile
 * [first, first + span) with sizes that are whole units; no two free blocks are adjacent;
 * and the free list, followed from the anchor, is exactly the free blocks in address order.
 * That last one is checked by walking the blocks of every region in address order with the
 * list beside them: a list node is only followed once the block walk found it to be a free
 * block, so a corrupted link is read never, and a cycle cannot hang the check. Each broken
 * invariant is reported and counted once. */
unsigned ka_tiny_check_impl(struct ka_alloc *a)
{
	struct tiny *t = (struct tiny *)a;
	const struct ka_alloc *h0 = &t->head;
	struct tc_region *r;
	const struct tc_free *want = t->anchor.next;
	uintptr_t blk, end, last = 0;
	size_t h, s, nreg = 0;
	unsigned bad = 0;
	bool pfree, lost = false;

	if (t->anchor.hdr != TC_ANCHOR_HDR(t)) {
		ka_check_report(h0, "free list anchor corrupted", &t->anchor);
		bad++;
	}
	for (r = TC_REGION_LIST(t); r; r = TC_REGION_NEXT(r)) {
		/* Each region holds at least a record and one unit. */
		if (++nreg > t->total / TC_UNIT || r->first < last ||
		    ((r->first + TC_HDR) & (TC_UNIT - 1)) || (r->span & (TC_UNIT - 1))) {
			ka_check_report(h0, "region list corrupted", r);
			return bad + 1;
		}
		last = end = r->first + r->span;
		pfree = false;
		for (blk = r->first; blk < end; blk += s) {
			h = *(const size_t *)blk;
			s = h & ~TC_USED;
			if (s < TC_UNIT || (s & (TC_UNIT - 1)) || s > end - blk) {
				ka_check_report(h0, "block size out of range", (void *)blk);
				bad++;
				break;
			}
			if (h & TC_USED) {
				pfree = false;
				continue;
			}
			if (pfree) {
				ka_check_report(h0, "two adjacent free blocks", (void *)blk);
				bad++;
			}
			pfree = true;
			if (lost)
				continue;
			if ((uintptr_t)want == blk) {
				want = want->next;
			} else {
				ka_check_report(h0, "free list does not match the free blocks",
						(void *)blk);
				bad++;
				lost = true;
			}
		}
	}
	if (!lost && want) {
		ka_check_report(h0, "free list holds a block the heap does not", want);
		bad++;
	}
	return bad;
}

int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct tiny *t = (struct tiny *)a;
	struct tc_region *r;
	uintptr_t blk, end;
	size_t h, s;
	int rc;

	for (r = TC_REGION_LIST(t); r; r = TC_REGION_NEXT(r)) {
		end = r->first + r->span;
		for (blk = r->first; blk < end; blk += s) {
			h = *(const size_t *)blk;
			s = h & ~TC_USED;
			if (s < TC_UNIT || (s & (TC_UNIT - 1)) || s > end - blk)
				return KA_EFAULT;
			rc = fn((void *)(blk + TC_HDR), s - TC_HDR, (h & TC_USED) != 0, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

#endif /* KA_CFG_TINY_COMPACT */
