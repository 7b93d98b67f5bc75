/* SPDX-License-Identifier: MIT */
/*
 * Boot-time setup on simulated physical memory: maps that are unsorted, overlapping, have
 * reserved ranges inside and across usable ones, tiny and empty regions, entries that wrap
 * around the address space, no usable memory at all, and more pieces than the table holds.
 * Every backend that can add memory is booted on the same map; the test then allocates
 * until the heap is exhausted and checks every block lies inside the expected usable pieces.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "kalloc/boot.h"

#define MIB	((size_t)1 << 20)
#define SIM_LEN (64 * MIB)

static unsigned char *sim;

struct range {
	uintptr_t s, e;
};

/* The usable pieces the map below must produce, in address order (offsets into sim). */
static struct range expect[8];
static size_t nexpect;

static size_t build_map(struct ka_mem_region *m)
{
	uintptr_t b = (uintptr_t)sim;
	size_t n = 0;

	/* Deliberately unsorted. */
	m[n++] = (struct ka_mem_region){b + 48 * MIB, 8 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){b + 12 * MIB, 8 * MIB, KA_MEM_USABLE}; /* overlaps next */
	m[n++] = (struct ka_mem_region){b + 8 * MIB, 8 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){b + 10 * MIB, 1 * MIB, KA_MEM_RESERVED}; /* inside */
	m[n++] =
	    (struct ka_mem_region){b + 55 * MIB + 100, 2 * MIB, KA_MEM_ACPI_NVS};  /* across end */
	m[n++] = (struct ka_mem_region){b + 0x1000 + 123, 4 * MIB, KA_MEM_USABLE}; /* unaligned */
	m[n++] = (struct ka_mem_region){b + 30 * MIB, 0x800, KA_MEM_USABLE};	   /* < a page */
	m[n++] = (struct ka_mem_region){b + 32 * MIB, 0, KA_MEM_USABLE};	   /* empty */
	m[n++] = (struct ka_mem_region){UINTPTR_MAX - 100, 1000, KA_MEM_USABLE};   /* wraps */
	m[n++] = (struct ka_mem_region){b + 36 * MIB, 2 * MIB, 77};	       /* unknown type */
	m[n++] = (struct ka_mem_region){b + 36 * MIB, 4 * MIB, KA_MEM_USABLE}; /* half reserved */

	nexpect = 0;
	expect[nexpect++] = (struct range){b + 0x2000, b + 0x1000 + 4 * MIB};
	expect[nexpect++] = (struct range){b + 8 * MIB, b + 10 * MIB};
	expect[nexpect++] = (struct range){b + 11 * MIB, b + 20 * MIB};
	expect[nexpect++] = (struct range){b + 38 * MIB, b + 40 * MIB};
	expect[nexpect++] = (struct range){b + 48 * MIB, b + 55 * MIB};
	return n;
}

static bool inside_expected(uintptr_t p, size_t n, size_t *which)
{
	for (size_t i = 0; i < nexpect; i++)
		if (p >= expect[i].s && p + n <= expect[i].e) {
			*which = i;
			return true;
		}
	return false;
}

static int setup(void **state)
{
	(void)state;
	sim = mmap(NULL, SIM_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return sim == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(sim, SIM_LEN);
	return 0;
}

static void test_no_map(void **state)
{
	struct ka_boot_info info;

	(void)state;
	assert_null(ka_boot(NULL, 0, NULL, &info));
	assert_int_equal(info.regions_used, 0);
}

static void test_unknown_backend(void **state)
{
	struct ka_mem_region m[16];
	size_t n = build_map(m);
	struct ka_boot_info info;

	(void)state;
	assert_null(ka_boot(m, n, "no-such-backend", &info));
	assert_null(info.backend);
}

static void test_only_reserved(void **state)
{
	struct ka_mem_region m[2] = {
	    {(uintptr_t)sim, 8 * MIB, KA_MEM_RESERVED},
	    {(uintptr_t)sim + 8 * MIB, 8 * MIB, KA_MEM_BAD},
	};

	(void)state;
	for (size_t i = 0; ka_backend_at(i); i++)
		assert_null(ka_boot(m, 2, ka_backend_at(i)->name, NULL));
}

/* A usable region fully covered by reserved ones, whatever their order, gives nothing. */
static void test_reserved_wins(void **state)
{
	struct ka_mem_region m[3] = {
	    {(uintptr_t)sim + 4 * MIB, 4 * MIB, KA_MEM_RESERVED},
	    {(uintptr_t)sim, 8 * MIB, KA_MEM_USABLE},
	    {(uintptr_t)sim, 4 * MIB + 1, KA_MEM_RESERVED},
	};

	(void)state;
	assert_null(ka_boot(m, 3, NULL, NULL));
}

static void boot_one(const struct ka_backend *b)
{
	struct ka_mem_region m[16];
	size_t n = build_map(m);
	struct ka_boot_info info;
	bool used_piece[8] = {false};
	size_t blocks = 0;

	memset(sim, 0, 64); /* the map must not depend on the memory's contents */
	struct ka_alloc *a = ka_boot(m, n, b->name, &info);
	assert_non_null(a);
	assert_ptr_equal(ka_default(), a);
	assert_string_equal(info.backend, b->name);
	assert_int_equal(info.first_base, expect[0].s);
	assert_int_equal(info.first_len, expect[0].e - expect[0].s);
	assert_int_equal(info.regions_used + info.regions_skipped, nexpect);
	assert_int_equal(info.regions_used, nexpect); /* every piece is >= 2 MiB */
	assert_int_equal(info.regions_dropped, 0);
	size_t total = 0;
	for (size_t i = 0; i < nexpect; i++)
		total += expect[i].e - expect[i].s;
	assert_int_equal(info.bytes_managed, total);
	assert_int_equal(ka_check(a), 0);

	/* Exhaust the heap: big blocks first, then small ones; each must sit in a piece. The
	 * blocks are chained through their first word so that they can all be freed again. */
	static const size_t sizes[] = {256 * 1024, 16 * 1024, 512};
	void *chain = NULL;
	size_t avail = ka_availmem(a);
	for (size_t k = 0; k < 3; k++) {
		for (;;) {
			unsigned char *p = ka_malloc(a, sizes[k]);
			size_t which = 0;
			if (!p)
				break;
			assert_true(inside_expected((uintptr_t)p, sizes[k], &which));
			used_piece[which] = true;
			p[sizes[k] - 1] = 2;
			memcpy(p, &chain, sizeof(chain));
			chain = p;
			blocks++;
		}
	}
	assert_true(blocks > 0);
	for (size_t i = 0; i < nexpect; i++)
		assert_true(used_piece[i]); /* every region was really added */
	assert_int_equal(ka_check(a), 0);
	/* Frees reach the right region, and the memory of every region comes back. */
	while (chain) {
		void *next;

		memcpy(&next, chain, sizeof(next));
		ka_free(a, chain);
		chain = next;
	}
	assert_int_equal(ka_check(a), 0);
	if (b->caps & KA_CAP_FREE)
		assert_true(ka_availmem(a) >= avail - avail / 8);
}

static void test_every_backend(void **state)
{
	unsigned booted = 0;

	(void)state;
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		if ((b->caps & (KA_CAP_ADDMEM | KA_CAP_ANYSIZE)) !=
		    (KA_CAP_ADDMEM | KA_CAP_ANYSIZE))
			continue;
		print_message("booting %s\n", b->name);
		boot_one(b);
		booted++;
	}
	assert_true(booted > 0);
}

static void test_default_backend(void **state)
{
	struct ka_mem_region m[16];
	size_t n = build_map(m);
	struct ka_boot_info info;

	(void)state;
	struct ka_alloc *a = ka_boot(m, n, NULL, &info);
	assert_non_null(a);
	assert_string_equal(info.backend, ka_backend_default()->name);
	assert_string_equal(ka_name(a), ka_backend_default()->name);
}

/* More pieces than the table holds: the rest is counted as dropped, nothing breaks. */
static void test_too_many_pieces(void **state)
{
	static struct ka_mem_region m[KA_CFG_BOOT_MAX_REGIONS + 10];
	const size_t stride = 256 * 1024;
	struct ka_boot_info info;

	(void)state;
	for (size_t i = 0; i < KA_CFG_BOOT_MAX_REGIONS + 10; i++)
		m[i] =
		    (struct ka_mem_region){(uintptr_t)sim + i * stride, stride / 2, KA_MEM_USABLE};
	struct ka_alloc *a = ka_boot(m, KA_CFG_BOOT_MAX_REGIONS + 10, NULL, &info);
	assert_non_null(a);
	assert_int_equal(info.regions_dropped, 10);
	assert_int_equal(info.regions_used + info.regions_skipped, KA_CFG_BOOT_MAX_REGIONS);
	assert_int_equal(ka_check(a), 0);
}

/*
 * RAM at physical address 0 with an identity map: the entry loses its first page (the null
 * pointer), not the whole region. Needs vm.mmap_min_addr <= 4096 to place memory at page 1.
 */
static void test_memory_at_zero(void **state)
{
	const size_t len = 8 * MIB;
	void *low = mmap((void *)(uintptr_t)0x1000, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
	unsigned booted = 0;

	(void)state;
	if (low != (void *)(uintptr_t)0x1000) {
		if (low != MAP_FAILED)
			munmap(low, len);
		print_message("cannot map page 1 (vm.mmap_min_addr > 4096): skipped\n");
		skip();
	}
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		struct ka_mem_region m[1] = {{0, 0x1000 + len, KA_MEM_USABLE}};
		struct ka_boot_info info;
		if (!(b->caps & KA_CAP_ANYSIZE))
			continue;
		struct ka_alloc *a = ka_boot(m, 1, b->name, &info);
		assert_non_null(a);
		assert_int_equal(info.regions_used, 1);
		assert_int_equal(info.first_base, 0x1000);
		assert_int_equal(info.bytes_managed, len);
		void *p = ka_malloc(a, 100);
		assert_non_null(p);
		assert_true((uintptr_t)p >= 0x1000 && (uintptr_t)p + 100 <= 0x1000 + len);
		ka_free(a, p);
		assert_int_equal(ka_check(a), 0);
		booted++;
	}
	munmap(low, len);
	assert_true(booted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_map),	    cmocka_unit_test(test_unknown_backend),
	    cmocka_unit_test(test_only_reserved),   cmocka_unit_test(test_reserved_wins),
	    cmocka_unit_test(test_every_backend),   cmocka_unit_test(test_default_backend),
	    cmocka_unit_test(test_too_many_pieces), cmocka_unit_test(test_memory_at_zero),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
