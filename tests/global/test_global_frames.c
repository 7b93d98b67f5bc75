/* SPDX-License-Identifier: MIT */
/*
 * The global allocator over a frame source (the kernel path), on simulated physical memory:
 * init(start, size) giving the whole region to the frame allocator, add_memory of several
 * regions, the out-of-memory hook adding a region and the retry, a direct map whose offset
 * is not chunk aligned (the over-allocate-and-trim path), and every frame coming back.
 * Runs over both frame allocators (bitmap, buddy) and every byte backend.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "global/global_priv.h"
#include "gsim.h"

#define MiB ((size_t)1 << 20)

static struct ka_global G;
static struct gsim S;

static unsigned shift_for(const char *backend)
{
	unsigned shift = 16;

	while (ka_backend_find(backend)->min_size > ((size_t)1 << shift) - KA_GCHUNK_HDR)
		shift++;
	return shift;
}

static struct ka_frame_alloc *init_region(enum gsim_kind k, const char *backend, char *start,
					  size_t len)
{
	struct ka_global_config cfg = {backend, shift_for(backend), 0};
	struct ka_frame_alloc *fa = gsim_frames(&S, k);

	assert_int_equal(ka_global_init_region(&G, fa, S.dm_off, start, len, &cfg), 0);
	return fa;
}

static bool inside(const void *p, const char *start, size_t len)
{
	return (uintptr_t)p >= (uintptr_t)start && (uintptr_t)p - (uintptr_t)start < len;
}

#define MAXB 16384
static void *blocks[MAXB];

/* init(start, size): the region feeds the frame allocator; chunks come back as frames. */
static void test_init_region(void **state)
{
	(void)state;
	gsim_map(&S, 16 * MiB, MiB, 0x80000000u);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		for (const char *const *b = gsim_byte_backends(); *b; b++) {
			struct ka_frame_alloc *fa = init_region(k, *b, S.mem, 8 * MiB);
			size_t total = fa->total_frames, cp = G.chunk_size / KA_PAGE_SIZE, n = 0;

			assert_true(total > 8 * MiB / KA_PAGE_SIZE - 16);
			assert_int_equal(fa->free_frames, total - cp); /* the first chunk */
			while (n < 2000) {
				blocks[n] = ka_global_alloc(&G, 700, 16);
				assert_non_null(blocks[n]);
				assert_true(inside(blocks[n], S.mem, 8 * MiB));
				n++;
			}
			assert_true(G.nheaps > 1);
			assert_int_equal(fa->free_frames, total - G.nheaps * cp);
			assert_int_equal(ka_global_check(&G), 0);
			for (size_t i = 0; i < n; i++)
				ka_global_free(&G, blocks[i]);
			assert_int_equal(G.nheaps, 1);
			assert_int_equal(fa->free_frames, total - cp);
			assert_int_equal(ka_global_check(&G), 0);
			ka_global_destroy(&G);
			assert_int_equal(fa->free_frames, total);
			assert_int_equal(ka_fcheck(fa), 0);
		}
	}
	gsim_unmap(&S);
}

/* Several regions: every one is used, OOM leaves the checker green. */
static void test_add_memory_regions(void **state)
{
	(void)state;
	gsim_map(&S, 24 * MiB, MiB, 0x40000000u);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		for (const char *const *b = gsim_byte_backends(); *b; b++) {
			char *ra = S.mem, *rb = S.mem + 8 * MiB, *rc = S.mem + 20 * MiB;
			size_t in[3] = {0, 0, 0}, n = 0;
			struct ka_frame_alloc *fa = init_region(k, *b, ra, 2 * MiB);
			struct ka_global_stats st;

			assert_int_equal(ka_global_add_memory(&G, rb, 2 * MiB), 0);
			assert_int_equal(ka_global_add_memory(&G, rc, 2 * MiB + 100), 0);
			assert_int_equal(ka_global_add_memory(&G, rb, 2 * MiB), KA_EEXIST);
			assert_int_equal(ka_global_add_memory(&G, S.mem + 16 * MiB, 100),
					 KA_EINVAL);
			while (n < MAXB && (blocks[n] = ka_global_alloc(&G, 3000, 16)) != NULL) {
				in[0] += inside(blocks[n], ra, 2 * MiB);
				in[1] += inside(blocks[n], rb, 2 * MiB);
				in[2] += inside(blocks[n], rc, 2 * MiB + 100);
				n++;
			}
			assert_true(n < MAXB);
			assert_true(in[0] > 0 && in[1] > 0 && in[2] > 0);
			assert_int_equal(in[0] + in[1] + in[2], n);
			ka_global_stats(&G, &st);
			assert_int_equal(st.avail_pages, fa->free_frames);
			assert_null(ka_global_alloc(&G, 3000, 16));
			assert_int_equal(ka_global_check(&G), 0);
			for (size_t i = 0; i < n; i++)
				ka_global_free(&G, blocks[i]);
			assert_int_equal(ka_global_check(&G), 0);
			ka_global_destroy(&G);
			assert_int_equal(fa->free_frames, fa->total_frames);
		}
	}
	gsim_unmap(&S);
}

struct hook_ctx {
	unsigned calls;
	char *region;
	size_t len;
};

/* rCore's LockedHeapWithRescue: the hook adds a region, the request is retried. */
static void add_region_hook(struct ka_global *g, size_t size, void *arg)
{
	struct hook_ctx *h = arg;

	(void)size;
	h->calls++;
	if (h->region) {
		assert_int_equal(ka_global_add_memory(g, h->region, h->len), 0);
		h->region = NULL;
	}
}

static void test_oom_hook_adds_memory(void **state)
{
	(void)state;
	gsim_map(&S, 16 * MiB, MiB, 0x10000000u);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		for (const char *const *b = gsim_byte_backends(); *b; b++) {
			struct hook_ctx h = {0, S.mem + 8 * MiB, 4 * MiB};
			size_t n = 0, before_hook = 0, in_new = 0;

			init_region(k, *b, S.mem, 2 * MiB);
			ka_global_set_oom_hook(&G, add_region_hook, &h);
			while (n < MAXB && (blocks[n] = ka_global_alloc(&G, 2500, 16)) != NULL) {
				if (h.calls == 0)
					before_hook++;
				in_new += inside(blocks[n], S.mem + 8 * MiB, 4 * MiB);
				n++;
			}
			assert_true(h.calls >= 2); /* once with memory to add, once without */
			assert_null(h.region);
			assert_true(before_hook > 0 && n > before_hook);
			assert_true(in_new > 0);
			assert_int_equal(ka_global_check(&G), 0);
			for (size_t i = 0; i < n; i++)
				ka_global_free(&G, blocks[i]);
			assert_int_equal(ka_global_check(&G), 0);
			ka_global_destroy(&G);
		}
	}
	gsim_unmap(&S);
}

/* A direct map whose offset is not a multiple of the chunk size: chunks must still be
 * aligned virtually, and the trimmed frames must all come back. */
static void test_misaligned_direct_map(void **state)
{
	(void)state;
	gsim_map(&S, 8 * MiB, MiB, 0x200000u + 3 * KA_PAGE_SIZE);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		const char *b = gsim_byte_backends()[0];
		struct ka_frame_alloc *fa = init_region(k, b, S.mem, 8 * MiB);
		size_t n = 0;

		assert_int_not_equal(S.dm_off & (G.chunk_size - 1), 0);
		while (n < 300) {
			blocks[n] = ka_global_alloc(&G, n % 7 == 0 ? G.chunk_size : 1500, 16);
			assert_non_null(blocks[n]);
			n++;
		}
		for (struct ka_gchunk *c = G.heaps; c; c = c->next)
			assert_int_equal((uintptr_t)c & (G.chunk_size - 1), 0);
		assert_int_equal(ka_global_check(&G), 0);
		for (size_t i = 0; i < n; i++)
			ka_global_free(&G, blocks[i]);
		ka_global_destroy(&G);
		assert_int_equal(fa->free_frames, fa->total_frames);
		assert_int_equal(ka_fcheck(fa), 0);
	}
	gsim_unmap(&S);
}

/* Page allocations from frames are physically contiguous and aligned. */
static void test_pages_physical(void **state)
{
	(void)state;
	gsim_map(&S, 8 * MiB, MiB, 0x1000000u);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		init_region(k, gsim_byte_backends()[0], S.mem, 8 * MiB);
		char *p = ka_global_alloc_pages(&G, 9, 32 * KA_PAGE_SIZE);
		assert_non_null(p);
		assert_int_equal(gsim_phys(&S, p) & (32 * KA_PAGE_SIZE - 1), 0);
		assert_true(inside(p, S.mem, 8 * MiB) &&
			    inside(p + 9 * KA_PAGE_SIZE - 1, S.mem, 8 * MiB));
		assert_int_equal(ka_frame_source_virt_to_phys(&G.own_src.frame, p),
				 gsim_phys(&S, p));
		ka_global_free_pages(&G, p, 9);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
	gsim_unmap(&S);
}

/* Refusals of the kernel path. */
static void test_region_refusals(void **state)
{
	struct ka_global_config cfg = {gsim_byte_backends()[0], 0, 0};
	struct ka_frame_alloc *fa;

	(void)state;
	gsim_map(&S, 4 * MiB, MiB, 0);
	fa = gsim_frames(&S, GSIM_BITMAP);
	/* Too small for metadata plus a chunk. */
	assert_int_equal(ka_global_init_region(&G, fa, S.dm_off, S.mem, 3 * KA_PAGE_SIZE, &cfg),
			 KA_ENOMEM);
	fa = gsim_frames(&S, GSIM_BITMAP);
	assert_int_equal(ka_global_init_region(&G, fa, S.dm_off, S.mem, 100, &cfg), KA_EINVAL);
	assert_int_equal(ka_global_init_region(&G, NULL, S.dm_off, S.mem, MiB, &cfg), KA_EINVAL);
	gsim_unmap(&S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_region),
	    cmocka_unit_test(test_add_memory_regions),
	    cmocka_unit_test(test_oom_hook_adds_memory),
	    cmocka_unit_test(test_misaligned_direct_map),
	    cmocka_unit_test(test_pages_physical),
	    cmocka_unit_test(test_region_refusals),
	};

	if (!gsim_byte_backends()[0]) {
		fprintf(stderr, "no byte backend to test the global allocator with\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
