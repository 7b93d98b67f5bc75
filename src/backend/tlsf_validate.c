/* SPDX-License-Identifier: MIT */
/*
 * The TLSF checker behind ka_check(): verifies invariants I1..I6 of tlsf_priv.h over every
 * pool and every free list, logs each inconsistency with ka_check_report() and returns how many
 * it found. It never aborts and never writes to the heap; it follows no pointer it has not
 * first bounded to the heap, and it bounds every list walk, so a corrupted heap cannot make it
 * fault or loop. O(blocks + lists).
 */
#include "tlsf_priv.h"

/* Result of the physical walk. */
struct phys_totals {
	size_t nfree;	   /* free blocks seen */
	size_t free_bytes; /* their usable bytes */
	bool broken;	   /* a pool could not be walked to its end: totals are partial */
};

static unsigned check_pool(struct ka_alloc *a, const struct tlsf_pool *p, struct phys_totals *pt)
{
	const struct tlsf_block *b = (const struct tlsf_block *)(p + 1);
	const struct tlsf_block *end = p->sentinel;
	unsigned bad = 0;

	if (b->prev_phys != NULL) {
		ka_check_report(a, "first block's prev_phys is not NULL", b);
		bad++;
	}
	if (b->size & TLSF_PREV_FREE) {
		ka_check_report(a, "first block claims a free predecessor", b);
		bad++;
	}
	while (b != end) {
		size_t s = tlsf_stride(b);
		const struct tlsf_block *n;

		if (s < TLSF_MIN_STRIDE || (s & (TLSF_ALIGN - 1)) != 0 ||
		    s > (uintptr_t)end - (uintptr_t)b) {
			/* Without a size the rest of the pool cannot be found: one finding. */
			ka_check_report(a, "implausible block size, rest of pool skipped", b);
			pt->broken = true;
			return bad + 1;
		}
		n = (const struct tlsf_block *)((uintptr_t)b + s);
		if (n->prev_phys != b) {
			ka_check_report(a, "next block's prev_phys does not point back", n);
			bad++;
		}
		if (!(n->size & TLSF_PREV_FREE) != !(b->size & TLSF_FREE)) {
			ka_check_report(a, "prev-free bit disagrees with the previous block", n);
			bad++;
		}
		if (b->size & TLSF_FREE) {
			pt->nfree++;
			pt->free_bytes += s - TLSF_HDR;
			if ((n->size & TLSF_FREE) && n != end) {
				ka_check_report(a, "two adjacent free blocks (missed coalescing)",
						b);
				bad++;
			}
		}
		b = n;
	}
	if ((end->size & ~TLSF_PREV_FREE) != 0) {
		ka_check_report(a, "pool end sentinel overwritten", end);
		bad++;
	}
	return bad;
}

/* Is b a plausible block address inside the hull of the pools (so it may be read)? */
static bool in_heap(const struct ka_tlsf *t, const struct tlsf_block *b)
{
	uintptr_t p = (uintptr_t)b + TLSF_HDR;

	return ((p & (TLSF_ALIGN - 1)) == 0) && (uintptr_t)b - t->blo < t->hi - t->blo;
}

/*
 * Walk list (fl, sl). *budget bounds the number of entries all lists may still hold; a cycle
 * or a list longer than the heap exhausts it and is reported once.
 */
static unsigned check_list(struct ka_alloc *a, const struct ka_tlsf *t, unsigned fl, unsigned sl,
			   size_t *budget, size_t *nlisted)
{
	const struct tlsf_block *prev = NULL;
	unsigned bad = 0;

	for (const struct tlsf_block *b = t->heads[TLSF_LIST(fl, sl)]; b;
	     prev = b, b = b->next_free) {
		unsigned f, s;

		if (*budget == 0) {
			ka_check_report(a, "free lists hold more blocks than the heap (cycle?)", b);
			*budget = SIZE_MAX; /* marks the walk as abandoned */
			return bad + 1;
		}
		(*budget)--;
		if (!in_heap(t, b)) {
			ka_check_report(a, "free-list entry outside the heap", b);
			return bad + 1;
		}
		/* The first node a cycle revisits has a back link to another predecessor (the
		 * head's is NULL), so stopping here finds every cycle at its first repeat. */
		if (b->prev_free != prev) {
			ka_check_report(a, "free-list back link broken", b);
			return bad + 1;
		}
		(*nlisted)++;
		if (!(b->size & TLSF_FREE)) {
			ka_check_report(a, "used block on a free list", b);
			bad++;
		}
		tlsf_mapping(tlsf_stride(b), &f, &s);
		if (f != fl || s != sl) {
			ka_check_report(a, "free block on the wrong list", b);
			bad++;
		}
	}
	return bad;
}

unsigned ka_tlsf_check_impl(struct ka_alloc *a)
{
	const struct ka_tlsf *t = tlsf_of(a);
	struct phys_totals pt = {0, 0, false};
	size_t nlisted = 0, budget;
	unsigned bad = 0, npools = 0;

	for (const struct tlsf_pool *p = t->pools; p; p = p->next) {
		if (++npools > t->npools) {
			ka_check_report(a, "pool list longer than the pool count", p);
			bad++;
			pt.broken = true;
			break;
		}
		bad += check_pool(a, p, &pt);
	}
	if (npools < t->npools) {
		ka_check_report(a, "pool list shorter than the pool count", t);
		bad++;
	}

	/* Every block is at least TLSF_MIN_STRIDE bytes, so all lists together cannot hold more
	 * entries than this; more means a cycle. (A power-of-two divisor: a shift, no libgcc.) */
	budget = t->total / TLSF_MIN_STRIDE + 1;
	for (unsigned fl = 0; fl < TLSF_FL_COUNT; fl++) {
		for (unsigned sl = 0; sl < TLSF_SL_COUNT; sl++) {
			bool bit = (t->sl_bitmap[fl] >> sl) & 1u;

			if (bit != (t->heads[TLSF_LIST(fl, sl)] != NULL)) {
				ka_check_report(a, "second-level bitmap disagrees with its list",
						&t->heads[TLSF_LIST(fl, sl)]);
				bad++;
			}
			if (budget != SIZE_MAX)
				bad += check_list(a, t, fl, sl, &budget, &nlisted);
		}
		if (((t->fl_bitmap >> fl) & 1u) != (t->sl_bitmap[fl] != 0)) {
			ka_check_report(a, "first-level bitmap disagrees with its row",
					&t->sl_bitmap[fl]);
			bad++;
		}
	}
	if (TLSF_FL_COUNT < TLSF_SIZE_BITS && (t->fl_bitmap >> (TLSF_FL_COUNT % TLSF_SIZE_BITS))) {
		ka_check_report(a, "first-level bitmap has bits beyond the last list",
				&t->fl_bitmap);
		bad++;
	}

	if (!pt.broken) {
		if (budget != SIZE_MAX && nlisted != pt.nfree) {
			ka_check_report(a, "free blocks and free-list entries differ in number", t);
			bad++;
		}
		if (pt.free_bytes != t->avail) {
			ka_check_report(a, "free-byte counter disagrees with the free blocks", t);
			bad++;
		}
	}
	return bad;
}

/* The walker behind ka_walk(): every block of every pool in address order. */
int ka_tlsf_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_tlsf *t = tlsf_of(a);

	for (const struct tlsf_pool *p = t->pools; p; p = p->next) {
		const struct tlsf_block *b = (const struct tlsf_block *)(p + 1);

		while (b != p->sentinel) {
			size_t s = tlsf_stride(b);
			int rc;

			/* A broken heap must not send the walk outside the pool. */
			if (s < TLSF_MIN_STRIDE || s > (uintptr_t)p->sentinel - (uintptr_t)b)
				return KA_EFAULT;
			rc = fn(tlsf_payload(b), s - TLSF_HDR, !(b->size & TLSF_FREE), arg);
			if (rc)
				return rc;
			b = (const struct tlsf_block *)((uintptr_t)b + s);
		}
	}
	return 0;
}
