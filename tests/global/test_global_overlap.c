/* SPDX-License-Identifier: MIT */
/*
 * ka_global_add_memory() and ka_page_source_add_memory() on a frame source refuse memory that
 * overlaps what the source already manages, its metadata pages included, with KA_EEXIST and
 * no change at all (issue 14, item 1): a region whose frames cover an existing region's
 * metadata, one that starts at an allocated page, one inside or around an existing one.
 * Adjacent regions are accepted. Runs over both frame allocators, through the global
 * allocator with a direct map and through a bare frame source without one (the platform's
 * translation, the identity on hosted builds).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "global/global_priv.h"
#include "gsim.h"

#define MiB ((size_t)1 << 20)
#define LEN (16 * MiB)

static struct ka_global G;
static struct gsim S;
static unsigned char *snap;

/* Where each case adds memory: the global allocator, or a bare frame source. */
struct target {
	struct ka_frame_alloc *fa;
	struct ka_frame_source *fs;
	struct ka_global *g; /* NULL: the bare source */
};

static int add(const struct target *t, char *base, size_t len)
{
	return t->g ? ka_global_add_memory(t->g, base, len)
		    : ka_page_source_add_memory(&t->fs->base, base, len);
}

static unsigned check(const struct target *t)
{
	return t->g ? ka_global_check(t->g) : ka_page_source_check(&t->fs->base);
}

static size_t pages_of(size_t bytes)
{
	return (bytes + KA_PAGE_SIZE - 1) / KA_PAGE_SIZE;
}

/* add(base, len) is refused with KA_EEXIST and nothing changes: counters, bytes, checker. */
static void refused(const struct target *t, char *base, size_t len)
{
	size_t total = t->fa->total_frames, nfree = t->fa->free_frames;

	memcpy(snap, S.mem, LEN);
	assert_int_equal(add(t, base, len), KA_EEXIST);
	assert_int_equal(t->fa->total_frames, total);
	assert_int_equal(t->fa->free_frames, nfree);
	assert_int_equal(memcmp(snap, S.mem, LEN), 0);
	assert_int_equal(check(t), 0);
}

/*
 * Region A is [a, a + 2 MiB) of the simulated memory, its metadata in its first `ma` pages.
 * Every case is tried against it, then all frames are allocated: each must be a frame of a
 * region (never a metadata page) and the live page keeps its contents.
 */
static void cases(const struct target *t, char *a, ka_paddr_t (*phys)(const void *),
		  void *(*virt)(ka_paddr_t))
{
	size_t ma = pages_of(t->fa->ops->metadata_size(t->fa, 2 * MiB / KA_PAGE_SIZE));
	size_t mb = pages_of(t->fa->ops->metadata_size(t->fa, MiB / KA_PAGE_SIZE));
	char *a_end = a + 2 * MiB, *live;
	size_t n, got = 0;
	ka_paddr_t p;

	assert_int_equal(t->fa->total_frames, 2 * MiB / KA_PAGE_SIZE - ma);
	/* A's last page allocated and filled: the live page */
	assert_int_equal(ka_frame_source_alloc_range(t->fs, 1, phys(a_end - KA_PAGE_SIZE),
						     phys(a_end), KA_PAGE_SIZE, &p),
			 0);
	live = virt(p);
	assert_ptr_equal(live, a_end - KA_PAGE_SIZE);
	memset(live, 0x5a, KA_PAGE_SIZE);

	/* (a) frames over A's metadata pages: its header page, or exactly all of them */
	refused(t, a - MiB, MiB + KA_PAGE_SIZE);
	refused(t, a - MiB, MiB + ma * KA_PAGE_SIZE);
	/* (b) starting at the allocated page (the new metadata would overwrite it) */
	refused(t, live, 2 * MiB);
	if (t->g) /* the same through the allocator interface (ka_add_memory) */
		assert_int_equal(ka_add_memory(ka_global_alloc_iface(t->g), live, 2 * MiB),
				 KA_EEXIST);
	refused(t, live - 100, 2 * MiB);
	/* ... or at a free frame of A */
	refused(t, a_end - 2 * KA_PAGE_SIZE, 2 * MiB);
	/* (c) inside A, (d) around A */
	refused(t, a + MiB / 4, MiB / 4);
	refused(t, a, 2 * MiB);
	refused(t, a - MiB, 4 * MiB);
	/* (e) adjacent below and above: accepted */
	assert_int_equal(add(t, a - MiB, MiB), 0);
	assert_int_equal(add(t, a_end, MiB), 0);
	assert_int_equal(t->fa->total_frames, 4 * MiB / KA_PAGE_SIZE - ma - 2 * mb);
	assert_int_equal(check(t), 0);
	/* and now the new regions' metadata is protected too */
	refused(t, a - 2 * MiB, MiB + KA_PAGE_SIZE);

	/* the global allocator's blocks come from frames only, and its checker stays green */
	if (t->g) {
		static char *blk[400];

		for (size_t i = 0; i < 400; i++) {
			blk[i] = ka_global_alloc(t->g, 3000, 16);
			assert_non_null(blk[i]);
			assert_true(blk[i] >= a - MiB && blk[i] < a_end + MiB);
			assert_false(blk[i] >= a && blk[i] < a + ma * KA_PAGE_SIZE);
			assert_false(blk[i] >= a_end && blk[i] < a_end + mb * KA_PAGE_SIZE);
			memset(blk[i], 0x44, 3000);
		}
		assert_int_equal(ka_global_check(t->g), 0);
		for (size_t i = 0; i < 400; i++)
			ka_global_free(t->g, blk[i]);
		ka_global_destroy(t->g);
		assert_int_equal(t->fa->free_frames, t->fa->total_frames - 1);
	}
	/* every free frame is a frame of A, B or C; none is a metadata page */
	n = t->fa->free_frames;
	while (got < n) {
		char *v;

		assert_int_equal(
		    ka_frame_source_alloc_range(t->fs, 1, 0, KA_PADDR_INV, KA_PAGE_SIZE, &p), 0);
		v = virt(p);
		assert_true(v >= a - MiB && v < a_end + MiB);
		assert_false(v >= a - MiB && v < a - MiB + mb * KA_PAGE_SIZE);
		assert_false(v >= a && v < a + ma * KA_PAGE_SIZE);
		assert_false(v >= a_end && v < a_end + mb * KA_PAGE_SIZE);
		assert_true(v != live);
		memset(v, 0x33, KA_PAGE_SIZE);
		got++;
	}
	assert_int_equal(t->fa->free_frames, 0);
	assert_int_equal(ka_fcheck(t->fa), 0);
	for (size_t i = 0; i < KA_PAGE_SIZE; i++)
		assert_int_equal((unsigned char)live[i], 0x5a);
}

static ka_paddr_t sim_phys(const void *v)
{
	return gsim_phys(&S, v);
}

static void *sim_virt(ka_paddr_t p)
{
	return gsim_virt(&S, p);
}

/* Through the global allocator over a direct-mapped frame source. */
static void test_global_direct_map(void **state)
{
	(void)state;
	for (int k = 0; k < GSIM_NKINDS; k++) {
		struct ka_global_config cfg = {gsim_byte_backends()[0], 16, 0};
		struct target t = {NULL, &G.own_src.frame, &G};
		char *a;

		gsim_map(&S, LEN, MiB, 0x40000000u);
		t.fa = gsim_frames(&S, k);
		a = S.mem + 4 * MiB;
		while (ka_backend_find(cfg.backend)->min_size >
		       ((size_t)1 << cfg.chunk_shift) - KA_GCHUNK_HDR)
			cfg.chunk_shift++;
		/* no chunk yet: the test owns every frame of the source */
		assert_int_equal(
		    ka_global_init(&G, ka_frame_source_init(&G.own_src.frame, t.fa, S.dm_off),
				   &cfg),
		    0);
		assert_int_equal(ka_global_add_memory(&G, a, 2 * MiB), 0);
		cases(&t, a, sim_phys, sim_virt);
		gsim_unmap(&S);
	}
}

static ka_paddr_t plat_phys(const void *v)
{
	return ka_plat_virt_to_phys(v);
}

static void *plat_virt(ka_paddr_t p)
{
	return ka_plat_phys_to_virt(p);
}

/* Through a bare frame source without a direct map (KA_DM_NONE). */
static void test_source_no_direct_map(void **state)
{
	(void)state;
	for (int k = 0; k < GSIM_NKINDS; k++) {
		static struct ka_frame_source fs;
		struct target t = {NULL, &fs, NULL};
		char *a;

		gsim_map(&S, LEN, MiB, 0);
		t.fa = gsim_frames(&S, k);
		a = S.mem + 4 * MiB;
		assert_non_null(ka_frame_source_init(&fs, t.fa, KA_DM_NONE));
		assert_int_equal(ka_page_source_add_memory(&fs.base, a, 2 * MiB), 0);
		cases(&t, a, plat_phys, plat_virt);
		gsim_unmap(&S);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_global_direct_map),
	    cmocka_unit_test(test_source_no_direct_map),
	};
	int rc;

	if (!gsim_byte_backends()[0]) {
		fprintf(stderr, "no byte backend to test the global allocator with\n");
		return 1;
	}
	snap = malloc(LEN);
	if (!snap)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(snap);
	return rc;
}
