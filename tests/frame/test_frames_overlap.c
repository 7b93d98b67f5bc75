/* SPDX-License-Identifier: MIT */
/*
 * add_memory refuses overlap with everything the allocator already owns, metadata included
 * (frame.h, ka_frame_ops.add_memory), for both frame allocators. The memory is real and
 * direct-mapped (vaddr = paddr + dm_off), laid out as the frame page source lays a region
 * out: region A's metadata in its first pages, its frames right after. Every refusal must
 * return KA_EEXIST and change nothing: the bytes of all metadata and frames, the counters,
 * the checker's verdict and the frames that can still be allocated.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "frame/fbitmap_priv.h"
#include "frame/fbuddy_priv.h"
#include "frame_harness.h"

static enum fh_kind kind_buddy = FH_BUDDY, kind_bitmap = FH_BITMAP;

#define NPG  160 /* pages of real memory */
#define G    16	 /* pages below region A, so that neighbours below stay in mem */
#define NA   24	 /* frames of region A */
#define NB   8	 /* frames of the regions added next to it */
#define FAKE ((ka_paddr_t)1 << 32)

struct world {
	struct fh h;
	struct ka_frame_alloc *fa;
	unsigned char *mem;	 /* NPG pages at "physical" FAKE */
	uintptr_t dm;		 /* direct-map offset of mem */
	size_t ma;		 /* pages of A's metadata, at page G of mem */
	ka_paddr_t a0;		 /* A's first frame (allocated, filled with 0x5a) */
	ka_paddr_t a_end;	 /* end of A's frames */
	unsigned char *xmeta[3]; /* metadata areas outside mem, poisoned */
	size_t xlen;
	unsigned char *snap;
};

#define W ((struct world *)*state)

static ka_paddr_t pa(size_t page)
{
	return FAKE + (ka_paddr_t)page * PG;
}

static unsigned char *va(struct world *w, ka_paddr_t p)
{
	return (unsigned char *)(uintptr_t)(p + w->dm);
}

static size_t pages_of(size_t bytes)
{
	return (bytes + KA_PAGE_SIZE - 1) / KA_PAGE_SIZE;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return -1;
	fh_init(&w->h, *(enum fh_kind *)*state);
	w->fa = w->h.fa;
	w->mem = aligned_alloc(KA_PAGE_SIZE, NPG * KA_PAGE_SIZE);
	w->snap = malloc(NPG * KA_PAGE_SIZE);
	w->xlen = ka_fmetadata_size(w->fa, NPG);
	w->xmeta[0] = malloc(w->xlen);
	w->xmeta[1] = malloc(w->xlen);
	w->xmeta[2] = malloc(w->xlen);
	if (!w->mem || !w->snap || !w->xmeta[0] || !w->xmeta[1] || !w->xmeta[2])
		return -1;
	memset(w->mem, 0xc3, NPG * KA_PAGE_SIZE);
	for (int i = 0; i < 3; i++)
		memset(w->xmeta[i], 0xa5, w->xlen);
	w->dm = (uintptr_t)w->mem - (uintptr_t)FAKE;
	w->ma = pages_of(ka_fmetadata_size(w->fa, NA));
	w->a0 = pa(G + w->ma);
	w->a_end = pa(G + w->ma + NA);
	if (ka_fadd_memory(w->fa, w->mem + G * KA_PAGE_SIZE, w->a0, NA, w->dm) != 0 ||
	    ka_falloc_at(w->fa, w->a0, 1) != 0)
		return -1;
	memset(va(w, w->a0), 0x5a, KA_PAGE_SIZE);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	assert_int_equal(ka_fcheck(w->fa), 0);
	free(w->mem);
	free(w->snap);
	for (int i = 0; i < 3; i++)
		free(w->xmeta[i]);
	free(w);
	return 0;
}

/* add_memory(meta, paddr, frames, dm) must be refused and change nothing. */
static void refused(struct world *w, void *meta, ka_paddr_t paddr, size_t frames, uintptr_t dm)
{
	size_t total = ka_ftotal_frames(w->fa), nfree = ka_ffree_frames(w->fa);
	unsigned char *x0 = malloc(w->xlen);

	assert_non_null(x0);
	memcpy(w->snap, w->mem, NPG * KA_PAGE_SIZE);
	memcpy(x0, w->xmeta[0], w->xlen);
	assert_int_equal(ka_fadd_memory(w->fa, meta, paddr, frames, dm), KA_EEXIST);
	assert_int_equal(ka_ftotal_frames(w->fa), total);
	assert_int_equal(ka_ffree_frames(w->fa), nfree);
	assert_int_equal(memcmp(w->snap, w->mem, NPG * KA_PAGE_SIZE), 0);
	assert_int_equal(memcmp(x0, w->xmeta[0], w->xlen), 0);
	assert_int_equal(ka_fcheck(w->fa), 0);
	free(x0);
}

/* Only A's frames (and those of regions in [lo, hi)) are ever handed out, each once; then
 * everything is given back. */
static void drain(struct world *w, ka_paddr_t lo, ka_paddr_t hi)
{
	size_t n = ka_ffree_frames(w->fa);
	ka_paddr_t *got = calloc(n + 1, sizeof(*got));

	assert_non_null(got);
	for (size_t i = 0; i < n; i++) {
		got[i] = ka_falloc(w->fa, 1);
		assert_true(got[i] != KA_PADDR_INV);
		assert_true((got[i] > w->a0 && got[i] < w->a_end) || (got[i] >= lo && got[i] < hi));
	}
	assert_true(ka_falloc(w->fa, 1) == KA_PADDR_INV);
	assert_int_equal(ka_fcheck(w->fa), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ka_ffree(w->fa, got[i], 1), 0);
	assert_int_equal(ka_ffree_frames(w->fa), n);
	for (size_t i = 0; i < KA_PAGE_SIZE; i++)
		assert_int_equal(va(w, w->a0)[i], 0x5a);
	free(got);
}

/* (a) Frames that are, through the direct map, the pages of A's metadata. */
static void t_cover_metadata(void **state)
{
	struct world *w = W;

	refused(w, w->xmeta[0], pa(G), w->ma, w->dm);	      /* exactly A's metadata pages */
	refused(w, w->xmeta[0], pa(G - 4), 5, w->dm);	      /* ending in A's header page */
	refused(w, w->xmeta[0], pa(G + w->ma - 1), 1, w->dm); /* A's last metadata page */
	/* Without a direct map nothing says where these frames are seen: accepted (the caller
	 * must not hand the allocator its own metadata pages that way, docs/frames.md). */
	assert_int_equal(ka_fadd_memory(w->fa, w->xmeta[0], pa(G), w->ma, KA_DM_NONE), 0);
	drain(w, pa(G), pa(G + w->ma));
}

/* (b) A new region whose metadata would go into A's frames: an allocated one (its contents
 * must survive) or a free one (it could be handed out later). */
static void t_metadata_in_frames(void **state)
{
	struct world *w = W;

	refused(w, va(w, w->a0), w->a_end, NB, w->dm);
	refused(w, va(w, w->a0 + 3 * PG), w->a_end, NB, w->dm);
	refused(w, va(w, w->a_end) - 64, w->a_end + PG, NB, w->dm); /* its last bytes */
	/* frames starting at A's allocated frame: a plain frame overlap */
	refused(w, w->xmeta[0], w->a0, NB, w->dm);
	drain(w, 0, 0);
}

/* (c) Inside A: frames inside A's frames, metadata inside A's metadata (with or without a
 * direct map for the new frames). */
static void t_inside(void **state)
{
	struct world *w = W;

	refused(w, w->xmeta[0], w->a0 + 4 * PG, 4, w->dm);
	refused(w, w->xmeta[0], w->a0 + 4 * PG, 4, KA_DM_NONE);
	refused(w, w->mem + G * KA_PAGE_SIZE + 64, w->a_end, NB, w->dm);
	refused(w, w->mem + G * KA_PAGE_SIZE + 64, pa(NPG + 64), NB, KA_DM_NONE);
	refused(w, w->mem + G * KA_PAGE_SIZE, pa(NPG + 64), NB, KA_DM_NONE);
	drain(w, 0, 0);
}

/* (d) Containing A: frames around all of A, metadata pages included or not. */
static void t_contains(void **state)
{
	struct world *w = W;

	refused(w, w->xmeta[0], pa(G - 8), w->ma + NA + 16, w->dm);
	refused(w, w->xmeta[0], w->a0, NA, KA_DM_NONE);
	refused(w, w->xmeta[0], w->a0 - PG, NA + 2, KA_DM_NONE);
	drain(w, 0, 0);
}

/* (e) Adjacent regions are no overlap: frames right after A's frames (B), frames right below
 * A's metadata (C), metadata ending where its own frames begin (D), metadata right after A's
 * metadata bytes (E). Each is protected in turn once added. */
static void t_adjacent(void **state)
{
	struct world *w = W;
	size_t mb8 = (ka_fmetadata_size(w->fa, NB) + 7) & ~(size_t)7;
	size_t a_meta = (ka_fmetadata_size(w->fa, NA) + 7) & ~(size_t)7;
	size_t total = ka_ftotal_frames(w->fa) + 3 * NB;
	ka_paddr_t dmeta = w->a_end + (NB + 1) * PG, d = dmeta + PG; /* D: a page after B */

	assert_true(mb8 <= KA_PAGE_SIZE);
	assert_int_equal(ka_fadd_memory(w->fa, w->xmeta[0], w->a_end, NB, w->dm), 0);
	assert_int_equal(ka_fadd_memory(w->fa, w->xmeta[1], pa(G - NB), NB, w->dm), 0);
	assert_int_equal(ka_fadd_memory(w->fa, va(w, d) - mb8, d, NB, w->dm), 0);
	if (a_meta + ka_fmetadata_size(w->fa, NB) <= w->ma * KA_PAGE_SIZE) {
		assert_int_equal(ka_fadd_memory(w->fa, w->mem + G * KA_PAGE_SIZE + a_meta,
						pa(NPG + 64), NB, KA_DM_NONE),
				 0);
		total += NB;
	}
	assert_int_equal(ka_ftotal_frames(w->fa), total);
	assert_int_equal(ka_ffree_frames(w->fa), total - 1);
	assert_int_equal(ka_fcheck(w->fa), 0);
	refused(w, w->xmeta[0] + 8, pa(NPG + 128), 1, KA_DM_NONE);  /* in B's metadata */
	refused(w, va(w, w->a_end + PG), pa(NPG + 128), 1, w->dm);  /* in B's frames */
	refused(w, w->xmeta[2], dmeta, 1, w->dm);		    /* over D's metadata */
	refused(w, va(w, pa(G - 1)), pa(NPG + 128), 1, KA_DM_NONE); /* in C's frames */
}

/* (f) The new region's own metadata inside its own frames (through the direct map). */
static void t_own_metadata(void **state)
{
	struct world *w = W;
	ka_paddr_t b = w->a_end + 4 * PG;

	refused(w, va(w, b + 2 * PG), b, NB, w->dm); /* in the middle */
	refused(w, va(w, b), b, NB, w->dm);	     /* at the start */
	refused(w, va(w, b) - 8, b, NB, w->dm);	     /* running into the first frame */
	refused(w, va(w, b + (NB - 1) * PG) + KA_PAGE_SIZE - 8, b, NB, w->dm); /* last bytes */
	/* without a direct map the allocator cannot see the frames: no overlap */
	assert_int_equal(ka_fadd_memory(w->fa, va(w, b), b, NB, KA_DM_NONE), 0);
	drain(w, b, b + NB * PG);
}

/* The direct-map offset recorded in the header of the region whose first frame is p. */
static uintptr_t *dm_field(struct world *w, ka_paddr_t p)
{
	uint64_t pfn = p >> KA_CFG_PAGE_SHIFT;

	if (w->h.kind == FH_BUDDY) {
		for (struct ka_fbuddy_region *r = w->h.u.bd.regions; r; r = r->next)
			if (r->base == pfn)
				return &r->dm_off;
	} else {
		for (struct ka_fbitmap_region *r = w->h.u.bm.regions; r; r = r->next)
			if (r->base == pfn)
				return &r->dm_off;
	}
	return NULL;
}

/* check() applies the same test to every pair of regions: a header overwritten so that a
 * region's frames are seen over another's metadata (or its own) is reported. */
static void t_check_finds_overlap(void **state)
{
	struct world *w = W;
	uintptr_t *dm, good;

	assert_int_equal(ka_fadd_memory(w->fa, w->xmeta[0], w->a_end, NB, w->dm), 0);
	assert_int_equal(ka_fcheck(w->fa), 0);
	dm = dm_field(w, w->a_end);
	assert_non_null(dm);
	good = *dm;
	/* B's frames seen at A's header page */
	*dm = w->dm - (uintptr_t)(w->a_end - pa(G));
	assert_true(ka_fcheck(w->fa) >= 1);
	/* B's frames seen at B's own metadata */
	*dm = (uintptr_t)w->xmeta[0] - (uintptr_t)w->a_end;
	assert_true(ka_fcheck(w->fa) >= 1);
	*dm = good;
	assert_int_equal(ka_fcheck(w->fa), 0);
}

#define BOTH(f)                                                                                    \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &kind_buddy),                 \
	    cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &kind_bitmap)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(t_cover_metadata),
	    BOTH(t_metadata_in_frames),
	    BOTH(t_inside),
	    BOTH(t_contains),
	    BOTH(t_adjacent),
	    BOTH(t_own_metadata),
	    BOTH(t_check_finds_overlap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
