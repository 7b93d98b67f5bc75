/* SPDX-License-Identifier: MIT */
/*
 * Page objects (kalloc/page.h) over the global allocator: one page, zeroed pages (after the
 * same memory was dirtied), contiguous aligned runs, fill and zero, the physical address
 * through the default translation and through a caller's hook, and through a frame source
 * on simulated physical memory (where runs are physically contiguous).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "global/global_priv.h"
#include "gsim.h"
#include "kalloc/page.h"

#define MiB ((size_t)1 << 20)

static struct ka_global G;
static struct gsim S;

static bool all_bytes(const void *p, size_t n, unsigned char v)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != v)
			return false;
	return true;
}

static void test_single_and_zeroed(void **state)
{
	struct ka_alloc *a;
	struct ka_page pg, z;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 0, NULL), 0);
	a = ka_global_alloc_iface(&G);
	assert_int_equal(ka_page_alloc(a, &pg), 0);
	assert_non_null(ka_page_vaddr(&pg));
	assert_int_equal((uintptr_t)ka_page_vaddr(&pg) & (KA_PAGE_SIZE - 1), 0);
	assert_int_equal(ka_page_size(&pg), KA_PAGE_SIZE);
	assert_int_equal(ka_page_count(&pg), 1);
	ka_page_fill(&pg, 0xa5);
	assert_true(all_bytes(ka_page_vaddr(&pg), KA_PAGE_SIZE, 0xa5));
	ka_page_zero(&pg);
	assert_true(all_bytes(ka_page_vaddr(&pg), KA_PAGE_SIZE, 0));
	ka_page_fill(&pg, 0x3c);
	ka_page_free(&pg);
	assert_null(ka_page_vaddr(&pg)); /* freed objects are empty */
	assert_int_equal(ka_page_size(&pg), 0);
	ka_page_free(&pg); /* and freeing an empty object does nothing */
	assert_int_equal(ka_page_alloc_zeroed(a, &z), 0);
	assert_true(all_bytes(ka_page_vaddr(&z), KA_PAGE_SIZE, 0));
	ka_page_free(&z);
	assert_int_equal(G.page_pages, 0);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

/* The default translation is the platform's (identity hosted); a hook replaces it. */
static ka_paddr_t fake_v2p(const void *v)
{
	return (ka_paddr_t)(uintptr_t)v - 0x10000000u;
}

static void test_contiguous_aligned(void **state)
{
	struct ka_page pg;
	struct ka_alloc *a;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 0, NULL), 0);
	a = ka_global_alloc_iface(&G);
	assert_int_equal(ka_page_alloc_contiguous(a, 7, 64 * KA_PAGE_SIZE, &pg), 0);
	assert_int_equal((uintptr_t)ka_page_vaddr(&pg) & (64 * KA_PAGE_SIZE - 1), 0);
	assert_int_equal(ka_page_size(&pg), 7 * KA_PAGE_SIZE);
	ka_page_fill(&pg, 0x77);
	assert_true(all_bytes(ka_page_vaddr(&pg), 7 * KA_PAGE_SIZE, 0x77));
	assert_int_equal(ka_page_paddr(&pg, NULL), ka_plat_virt_to_phys(ka_page_vaddr(&pg)));
	assert_int_equal(ka_page_paddr(&pg, fake_v2p),
			 (ka_paddr_t)(uintptr_t)ka_page_vaddr(&pg) - 0x10000000u);
	assert_int_equal(G.page_pages, 7);
	ka_page_free(&pg);
	assert_int_equal(ka_page_paddr(&pg, NULL), KA_PADDR_INV);
	/* Refusals leave the object empty. */
	assert_int_equal(ka_page_alloc_contiguous(a, 0, KA_PAGE_SIZE, &pg), KA_EINVAL);
	assert_null(ka_page_vaddr(&pg));
	assert_int_equal(ka_page_alloc_contiguous(a, 1, 3 * KA_PAGE_SIZE, &pg), KA_EINVAL);
	assert_int_equal(ka_page_alloc_contiguous(a, SIZE_MAX / 2, KA_PAGE_SIZE, &pg), KA_EINVAL);
	assert_int_equal(ka_page_alloc(NULL, &pg), KA_EINVAL);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

/* Out of memory: an error code and an empty object, the allocator intact. */
static void test_oom(void **state)
{
	struct ka_page pg;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 2 * MiB, NULL), 0);
	assert_int_equal(ka_page_alloc_contiguous(ka_global_alloc_iface(&G), 4 * MiB / KA_PAGE_SIZE,
						  KA_PAGE_SIZE, &pg),
			 KA_ENOMEM);
	assert_null(ka_page_vaddr(&pg));
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

static const struct gsim *sim_for_hook;

static ka_paddr_t sim_v2p(const void *v)
{
	return gsim_phys(sim_for_hook, v);
}

/* From frames: the physical address is the frame's, runs are physically contiguous and
 * aligned, and every frame comes back. */
static void test_physical_from_frames(void **state)
{
	(void)state;
	gsim_map(&S, 8 * MiB, MiB, 0x40000000u);
	sim_for_hook = &S;
	for (int k = 0; k < GSIM_NKINDS; k++) {
		struct ka_frame_alloc *fa = gsim_frames(&S, k);
		struct ka_page pg[8];
		size_t free0;

		assert_int_equal(ka_global_init_region(&G, fa, S.dm_off, S.mem, 8 * MiB, NULL), 0);
		free0 = fa->free_frames;
		for (size_t i = 0; i < 8; i++) {
			size_t n = i + 1, align = KA_PAGE_SIZE << i;
			ka_paddr_t p;

			assert_int_equal(
			    ka_page_alloc_contiguous(ka_global_alloc_iface(&G), n, align, &pg[i]),
			    0);
			p = ka_page_paddr(&pg[i], sim_v2p);
			assert_int_equal(p & (align - 1), 0);
			assert_true(p >= S.phys_base &&
				    p + n * KA_PAGE_SIZE <= S.phys_base + S.len);
			assert_int_equal(gsim_virt(&S, p), ka_page_vaddr(&pg[i]));
			ka_page_fill(&pg[i], (uint8_t)i);
		}
		assert_int_equal(fa->free_frames, free0 - 36);
		for (size_t i = 0; i < 8; i++) {
			assert_true(all_bytes(ka_page_vaddr(&pg[i]), ka_page_size(&pg[i]),
					      (unsigned char)i));
			ka_page_free(&pg[i]);
		}
		assert_int_equal(fa->free_frames, free0);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
	gsim_unmap(&S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_and_zeroed),
	    cmocka_unit_test(test_contiguous_aligned),
	    cmocka_unit_test(test_oom),
	    cmocka_unit_test(test_physical_from_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
