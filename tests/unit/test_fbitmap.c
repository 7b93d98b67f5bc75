/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the hierarchical-bitmap frame allocator (src/frame/fbitmap_priv.h):
 * metadata size proportional to the frames (64 GiB map: one bit per frame plus summaries),
 * summary bits kept in step with the frame bitmap, searches through the summaries for runs
 * shorter and longer than a word and for large alignments, the checker finding corruption,
 * and refused frees leaving the metadata byte for byte unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/fbitmap.h"
#include "frame/fbitmap_priv.h"

#define PG ((ka_paddr_t)KA_PAGE_SIZE)

struct env {
	struct ka_fbitmap fb;
	struct ka_frame_alloc *fa;
	void *meta[4];
	size_t size[4];
	int n;
};

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->fa = ka_fbitmap_init(&e->fb);
	return e;
}

static struct ka_fbitmap_region *env_add(struct env *e, ka_paddr_t pa, size_t frames)
{
	size_t need = ka_fmetadata_size(e->fa, frames);
	void *m = malloc(need);

	assert_non_null(m);
	memset(m, 0x5a, need);
	assert_int_equal(ka_fadd_memory(e->fa, m, pa, frames, KA_DM_NONE), 0);
	e->meta[e->n] = m;
	e->size[e->n++] = need;
	return m;
}

static void env_free(struct env *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->meta[i]);
	free(e);
}

/* Expected metadata bytes, from the layout described in fbitmap_priv.h. */
static size_t expected_meta(size_t frames, unsigned *levels)
{
	size_t w = (frames + KA_FBM_W - 1) / KA_FBM_W, words = w, groups;
	unsigned k = 0;

	while (w > 1) {
		w = (w + KA_FBM_W - 1) / KA_FBM_W;
		words += 2 * w;
		k++;
	}
	*levels = k;
	groups = (frames + ((size_t)1 << KA_FBM_GSHIFT) - 1) >> KA_FBM_GSHIFT;
	return ((sizeof(struct ka_fbitmap_region) + 7) & ~(size_t)7) + words * sizeof(size_t) +
	       ((groups * sizeof(uint16_t) + 7) & ~(size_t)7);
}

static bool bit(const size_t *a, size_t i)
{
	return (a[i / KA_FBM_W] >> (i % KA_FBM_W)) & 1u;
}

static void t_metadata_64g(void **state)
{
	struct env *e = env_new();
	size_t frames = (size_t)1 << (36 - KA_CFG_PAGE_SHIFT); /* 64 GiB: 16M frames */
	size_t need = ka_fmetadata_size(e->fa, frames), mib = (size_t)1 << 20;
	unsigned levels;
	struct ka_fbitmap_region *r;
	ka_paddr_t g = (ka_paddr_t)1 << 30, p;

	(void)state;
	if (sizeof(size_t) < 8)
		skip();
	assert_int_equal(need, expected_meta(frames, &levels));
	assert_true(need >= 2 * mib);	       /* one bit per frame ... */
	assert_true(need < 2 * mib + mib / 5); /* ... plus summaries: < 2.2 MiB */
	print_message("64 GiB: %zu bytes of metadata (%u summary levels)\n", need, levels);
	/* a simulated 64 GiB map above 4 GiB; only the metadata is real memory */
	r = env_add(e, 4 * g, frames);
	assert_int_equal(r->levels, levels);
	assert_int_equal(r->nwords[r->levels], 1);
	assert_int_equal(ka_ftotal_frames(e->fa), frames);
	/* alignments up to the region size */
	assert_int_equal(ka_falloc_range(e->fa, 1, 0, KA_PADDR_INV, (size_t)g), 4 * g);
	assert_int_equal(ka_falloc_range(e->fa, 1, 0, KA_PADDR_INV, (size_t)(32 * g)), 32 * g);
	/* [16 GiB, 32 GiB) is free: it ends where the frame at 32 GiB starts */
	p = ka_falloc_range(e->fa, frames / 4, 0, KA_PADDR_INV, (size_t)(16 * g));
	assert_int_equal(p, 16 * g);
	assert_int_equal(ka_falloc_range(e->fa, frames / 4, 0, KA_PADDR_INV, (size_t)(16 * g)),
			 48 * g);
	assert_int_equal(ka_ffree(e->fa, 16 * g, frames / 4), 0);
	assert_true(ka_falloc_range(e->fa, 1, 0, KA_PADDR_INV, (size_t)(128 * g)) == KA_PADDR_INV);
	assert_int_equal(ka_fcheck(e->fa), 0);
	assert_int_equal(ka_ffree(e->fa, 48 * g, frames / 4), 0);
	assert_int_equal(ka_ffree(e->fa, 32 * g, 1), 0);
	assert_int_equal(ka_ffree(e->fa, 4 * g, 1), 0);
	assert_int_equal(ka_ffree_frames(e->fa), frames);
	env_free(e);
}

static void t_metadata_proportional(void **state)
{
	struct env *e = env_new();
	unsigned levels;
	size_t sizes[] = {1, 63, 64, 65, 4096, 4097, 100000, (size_t)1 << 28};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_int_equal(ka_fmetadata_size(e->fa, sizes[i]),
				 expected_meta(sizes[i], &levels));
	/* 1 TiB (256M frames): 32 MiB + about 2/W of it for summaries and 16/W^2 for group bounds
	 */
	assert_true(ka_fmetadata_size(e->fa, (size_t)1 << 28) <
		    ((size_t)32 << 20) + ((size_t)32 << 20) / KA_FBM_W * 3);
	assert_int_equal(ka_fmetadata_size(e->fa, KA_FBITMAP_MAX_FRAMES + 1), 0);
	env_free(e);
}

static void t_summaries(void **state)
{
	struct env *e = env_new();
	struct ka_fbitmap_region *r = env_add(e, 0, 5000);
	size_t W = KA_FBM_W;

	(void)state;
	assert_true(r->levels >= 1);
	/* padding past the last frame is never free; summaries above it say so */
	for (size_t i = 5000; i < r->nwords[0] * W; i++)
		assert_false(bit(r->any[0], i));
	assert_true(bit(r->any[1], 0) && bit(r->full[1], 0));
	/* take one whole word: both summary bits of that word clear */
	assert_int_equal(ka_falloc_at(e->fa, W * PG, W), 0);
	assert_int_equal(r->any[0][1], 0);
	assert_false(bit(r->any[1], 1));
	assert_false(bit(r->full[1], 1));
	/* take one frame of the next word: "any" stays, "full" goes */
	assert_int_equal(ka_falloc_at(e->fa, (2 * W + 5) * PG, 1), 0);
	assert_true(bit(r->any[1], 2));
	assert_false(bit(r->full[1], 2));
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* single frames come from the first free frame, found through the summaries */
	assert_int_equal(ka_falloc(e->fa, 1), 0);
	assert_int_equal(ka_ffree(e->fa, W * PG, W), 0);
	assert_true(bit(r->any[1], 1) && bit(r->full[1], 1));
	assert_int_equal(ka_ffree(e->fa, (2 * W + 5) * PG, 1), 0);
	assert_int_equal(ka_ffree(e->fa, 0, 1), 0);
	assert_int_equal(r->free, 5000);
	env_free(e);
}

/* Runs shorter and longer than a word, placed across word boundaries in a fragmented map. */
static void t_search_paths(void **state)
{
	struct env *e = env_new();
	size_t frames = 64 * 1024, W = KA_FBM_W;
	ka_paddr_t p;

	(void)state;
	env_add(e, 0, frames);
	assert_int_equal(ka_falloc_at(e->fa, 0, frames), 0);
	/* every other frame free: single frames only */
	for (size_t i = 0; i < frames; i += 2)
		assert_int_equal(ka_ffree(e->fa, i * PG, 1), 0);
	assert_true(ka_falloc(e->fa, 2) == KA_PADDR_INV);
	assert_true(ka_falloc_range(e->fa, 2, 0, KA_PADDR_INV, PG) == KA_PADDR_INV);
	assert_int_equal(ka_falloc_range(e->fa, 1, PG, KA_PADDR_INV, 2 * PG), 2 * PG);
	assert_int_equal(ka_falloc_range(e->fa, 1, PG, KA_PADDR_INV, 128 * PG), 128 * PG);
	assert_int_equal(ka_ffree(e->fa, 128 * PG, 1), 0);
	for (size_t i = 0; i < frames; i += 2)
		if (i != 2)
			assert_int_equal(ka_falloc_at(e->fa, i * PG, 1), 0);
	assert_int_equal(ka_ffree_frames(e->fa), 0);
	/* a short run straddling a word boundary */
	assert_int_equal(ka_ffree(e->fa, (3 * W - 3) * PG, 7), 0);
	assert_true(ka_falloc(e->fa, 8) == KA_PADDR_INV);
	assert_int_equal(ka_falloc_range(e->fa, 4, 0, KA_PADDR_INV, 4 * PG), 3 * W * PG);
	assert_int_equal(ka_falloc(e->fa, 3), (3 * W - 3) * PG);
	/* long runs: [1000, 1300) free, and a 100-frame decoy before it */
	assert_int_equal(ka_ffree(e->fa, 500 * PG, 100), 0);
	assert_int_equal(ka_ffree(e->fa, 1000 * PG, 300), 0);
	assert_true(ka_falloc(e->fa, 301) == KA_PADDR_INV);
	p = ka_falloc(e->fa, 200);
	assert_int_equal(p, 1000 * PG);
	assert_int_equal(ka_ffree(e->fa, p, 200), 0);
	p = ka_falloc_range(e->fa, 130, 0, KA_PADDR_INV, W * PG);
	assert_int_equal(p, ((1000 + W - 1) / W * W) * PG);
	assert_int_equal(ka_ffree(e->fa, p, 130), 0);
	/* a large alignment and a long run near the end of the region */
	assert_int_equal(ka_ffree(e->fa, (frames - 8192) * PG, 8192), 0);
	assert_int_equal(ka_falloc_range(e->fa, 4096, 0, KA_PADDR_INV, 4096 * PG),
			 (frames - 8192) * PG);
	assert_int_equal(ka_falloc_range(e->fa, 4096, 0, KA_PADDR_INV, 4096 * PG),
			 (frames - 4096) * PG);
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

static void t_refused_free_unchanged(void **state)
{
	struct env *e = env_new();
	void *copy;

	(void)state;
	env_add(e, 0, 1000);
	assert_int_equal(ka_falloc_at(e->fa, 100 * PG, 50), 0);
	assert_int_equal(ka_ffree(e->fa, 120 * PG, 5), 0);
	copy = malloc(e->size[0]);
	assert_non_null(copy);
	memcpy(copy, e->meta[0], e->size[0]);
	assert_int_equal(ka_ffree(e->fa, 100 * PG, 50), KA_EFAULT);   /* hole inside */
	assert_int_equal(ka_ffree(e->fa, 120 * PG, 1), KA_EFAULT);    /* double free */
	assert_int_equal(ka_ffree(e->fa, 149 * PG, 2), KA_EFAULT);    /* runs into free */
	assert_int_equal(ka_ffree(e->fa, 999 * PG, 2), KA_EFAULT);    /* past the region */
	assert_int_equal(ka_falloc_at(e->fa, 95 * PG, 10), KA_EBUSY); /* and a busy alloc */
	assert_memory_equal(copy, e->meta[0], e->size[0]);
	assert_int_equal(ka_ffree_frames(e->fa), 955);
	free(copy);
	env_free(e);
}

static void t_check_finds_corruption(void **state)
{
	struct env *e = env_new();
	struct ka_fbitmap_region *r = env_add(e, 0, 3000);
	size_t save;

	(void)state;
	assert_int_equal(ka_falloc_at(e->fa, 64 * PG, 64), 0);
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* a frame bit flipped: free count and the word's summary disagree */
	r->any[0][1] ^= 1;
	assert_true(ka_fcheck(e->fa) >= 2);
	r->any[0][1] ^= 1;
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* a summary bit flipped */
	r->full[1][0] ^= 1;
	assert_int_equal(ka_fcheck(e->fa), 1);
	r->full[1][0] ^= 1;
	r->any[r->levels][0] ^= 1;
	assert_int_equal(ka_fcheck(e->fa), 1);
	r->any[r->levels][0] ^= 1;
	/* padding marked free */
	r->any[0][r->nwords[0] - 1] |= (size_t)1 << (KA_FBM_W - 1);
	assert_true(ka_fcheck(e->fa) >= 1);
	r->any[0][r->nwords[0] - 1] &= ~((size_t)1 << (KA_FBM_W - 1));
	/* counters */
	save = e->fa->free_frames;
	e->fa->free_frames++;
	assert_int_equal(ka_fcheck(e->fa), 1);
	e->fa->free_frames = save;
	r->free--;
	assert_int_equal(ka_fcheck(e->fa), 2); /* region vs bitmap, total vs regions */
	r->free++;
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

/* Group bounds and search hints: kept as upper/lower bounds, tightened by searches, and
 * checked. */
static void t_bounds_and_hints(void **state)
{
	struct env *e = env_new();
	size_t G = (size_t)1 << KA_FBM_GSHIFT, frames = 3 * G;
	struct ka_fbitmap_region *r = env_add(e, 0, frames);

	(void)state;
	assert_int_equal(r->ngroups, 3);
	assert_int_equal(ka_falloc_at(e->fa, 0, frames), 0);
	/* group 0: free single frames only; group 1: one run of 10; group 2: full */
	for (size_t i = 0; i < G; i += 2)
		assert_int_equal(ka_ffree(e->fa, i * PG, 1), 0);
	assert_int_equal(ka_ffree(e->fa, (G + 100) * PG, 10), 0);
	assert_int_equal(r->gmax[0], KA_FBM_GMAX_CAP); /* unknown after frees */
	assert_int_equal(ka_falloc(e->fa, 10), (G + 100) * PG);
	/* the search looked into group 0, found nothing and tightened its bound */
	assert_int_equal(r->gmax[0], 1);
	/* no run of 16 or more (2^ceil(log2 10)) starts below the run found */
	assert_int_equal(r->hint[4], G + 100);
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* a bound below a real run, a hint above one: both found by the checker */
	r->gmax[0] = 0;
	assert_int_equal(ka_fcheck(e->fa), 1);
	r->gmax[0] = 1;
	r->hint[0] = 1;
	assert_int_equal(ka_fcheck(e->fa), 1);
	r->hint[0] = 0;
	/* a free lowers the hints enough for the runs it can create */
	assert_int_equal(ka_ffree(e->fa, 1 * PG, 1), 0);
	assert_int_equal(r->hint[4], 0);
	assert_int_equal(ka_falloc(e->fa, 3), 0);
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_metadata_64g),
	    cmocka_unit_test(t_metadata_proportional),
	    cmocka_unit_test(t_summaries),
	    cmocka_unit_test(t_search_paths),
	    cmocka_unit_test(t_refused_free_unchanged),
	    cmocka_unit_test(t_check_finds_corruption),
	    cmocka_unit_test(t_bounds_and_hints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
