/* SPDX-License-Identifier: MIT */
/*
 * Coherent DMA memory (kalloc/dma.h) on simulated physical memory that straddles 4 GiB:
 * bus addresses below the limit and equal to physical + offset, small buffers sharing
 * coherent sub-heaps, large aligned buffers from frame ranges, exhaustion of the low window
 * while unconstrained requests still succeed, a translation hook, zero fill, frames coming
 * back, misuse detection. Runs over both frame allocators.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsim.h"
#include "kalloc/dma.h"

#define MiB	   ((size_t)1 << 20)
#define GiB4	   ((ka_paddr_t)1 << 32)
#define BUS_OFFSET ((ka_paddr_t)1 << 20) /* bus = phys + 1 MiB */
#define PHYS_BASE  (GiB4 - 8 * MiB)	 /* [4 GiB - 8 MiB, 4 GiB + 8 MiB) */
#define SIM_LEN	   (16 * MiB)
#define MAXB	   4096

static struct gsim S;
static struct ka_frame_source FS;
static struct ka_dma D;
static struct ka_frame_alloc *FA;
static struct ka_dma_buf bufs[MAXB];

static void setup_dma(enum gsim_kind k, ka_phys_to_bus_fn hook, void *arg)
{
	struct ka_dma_config cfg = {&FS, BUS_OFFSET, hook, arg, NULL, 0, 0};

	FA = gsim_frames(&S, k);
	ka_frame_source_init(&FS, FA, S.dm_off);
	assert_int_equal(ka_page_source_add_memory(&FS.base, S.mem, SIM_LEN), 0);
	assert_int_equal(ka_dma_init(&D, &cfg), 0);
}

static bool zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void check_buf(const struct ka_dma_buf *b, size_t size, size_t align, ka_paddr_t limit)
{
	ka_paddr_t phys = gsim_phys(&S, b->cpu);

	assert_non_null(b->cpu);
	assert_int_equal(b->size, size);
	assert_int_equal(b->bus, phys + BUS_OFFSET);
	assert_int_equal(b->bus, ka_dma_virt_to_bus(&D, b->cpu));
	assert_int_equal(ka_dma_phys_to_bus(&D, phys), b->bus);
	assert_int_equal((uintptr_t)b->cpu & (align - 1), 0);
	assert_true(phys >= S.phys_base && phys + size <= S.phys_base + SIM_LEN);
	if (limit != KA_DMA_LIMIT_NONE)
		assert_true(b->bus + size <= limit);
	assert_true(zeroed(b->cpu, size));
}

/* Small buffers share sub-heaps and stay below the limit. */
static void test_small_below_limit(void **state)
{
	(void)state;
	gsim_map(&S, SIM_LEN, MiB, PHYS_BASE);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		setup_dma(k, NULL, NULL);
		size_t before = FA->free_frames;
		for (size_t i = 0; i < 100; i++) {
			assert_int_equal(
			    ka_dma_alloc_coherent(&D, 64, 64, KA_DMA_LIMIT_32, &bufs[i]), 0);
			check_buf(&bufs[i], 64, 64, KA_DMA_LIMIT_32);
			assert_non_null(bufs[i].heap);
			memset(bufs[i].cpu, 0xee, 64);
		}
		/* 100 descriptors of 64 bytes cost one sub-heap, not 100 pages. */
		assert_int_equal(ka_dma_heap_count(&D), 1);
		assert_int_equal(before - FA->free_frames, 16);
		assert_int_equal(ka_dma_check(&D), 0);
		for (size_t i = 0; i < 100; i++)
			ka_dma_free_coherent(&D, &bufs[i]);
		assert_null(bufs[0].cpu);
		/* The empty sub-heap stays cached; a new buffer reuses it, zeroed again. */
		assert_int_equal(ka_dma_heap_count(&D), 1);
		assert_int_equal(ka_dma_alloc_coherent(&D, 64, 64, KA_DMA_LIMIT_32, &bufs[0]), 0);
		check_buf(&bufs[0], 64, 64, KA_DMA_LIMIT_32);
		ka_dma_free_coherent(&D, &bufs[0]);
		assert_int_equal(ka_dma_check(&D), 0);
	}
	gsim_unmap(&S);
}

/* Large buffers: whole frames, aligned, physically contiguous, below the limit. */
static void test_large_aligned(void **state)
{
	(void)state;
	gsim_map(&S, SIM_LEN, MiB, PHYS_BASE);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		setup_dma(k, NULL, NULL);
		size_t before = FA->free_frames;
		size_t size = 5 * KA_PAGE_SIZE + 17;

		assert_int_equal(
		    ka_dma_alloc_coherent(&D, size, 16 * KA_PAGE_SIZE, KA_DMA_LIMIT_32, &bufs[0]),
		    0);
		check_buf(&bufs[0], size, 16 * KA_PAGE_SIZE, KA_DMA_LIMIT_32);
		assert_null(bufs[0].heap);
		assert_int_equal(gsim_phys(&S, bufs[0].cpu) & (16 * KA_PAGE_SIZE - 1), 0);
		assert_int_equal(before - FA->free_frames, 6);
		assert_int_equal(
		    ka_dma_alloc_coherent(&D, MiB, KA_PAGE_SIZE, KA_DMA_LIMIT_NONE, &bufs[1]), 0);
		check_buf(&bufs[1], MiB, KA_PAGE_SIZE, KA_DMA_LIMIT_NONE);
		/* An alignment larger than a page makes a small request take whole frames. */
		assert_int_equal(
		    ka_dma_alloc_coherent(&D, 32, 2 * KA_PAGE_SIZE, KA_DMA_LIMIT_32, &bufs[2]), 0);
		check_buf(&bufs[2], 32, 2 * KA_PAGE_SIZE, KA_DMA_LIMIT_32);
		assert_null(bufs[2].heap);
		for (int i = 0; i < 3; i++)
			ka_dma_free_coherent(&D, &bufs[i]);
		assert_int_equal(FA->free_frames, before);
		assert_int_equal(ka_dma_check(&D), 0);
	}
	gsim_unmap(&S);
}

/* Exhaust the window below 4 GiB: limited requests fail, unlimited ones still work, the
 * checker stays green, and every frame comes back. */
static void test_exhaust_low_window(void **state)
{
	(void)state;
	gsim_map(&S, SIM_LEN, MiB, PHYS_BASE);
	for (int k = 0; k < GSIM_NKINDS; k++) {
		setup_dma(k, NULL, NULL);
		size_t before = FA->free_frames, n = 0, small = 0;
		struct ka_dma_buf hi, lo;

		while (n < MAXB && ka_dma_alloc_coherent(&D, n % 3 ? 20000 : 300, 16,
							 KA_DMA_LIMIT_32, &bufs[n]) == 0) {
			check_buf(&bufs[n], n % 3 ? 20000 : 300, 16, KA_DMA_LIMIT_32);
			small += bufs[n].heap != NULL;
			n++;
		}
		assert_true(n > 100 && n < MAXB && small > 0);
		assert_null(bufs[n].cpu);
		assert_int_equal(ka_dma_alloc_coherent(&D, 20000, 16, KA_DMA_LIMIT_32, &lo),
				 KA_ENOMEM);
		assert_int_equal(ka_dma_check(&D), 0);
		assert_int_equal(ka_dma_alloc_coherent(&D, 20000, 16, KA_DMA_LIMIT_NONE, &hi), 0);
		check_buf(&hi, 20000, 16, KA_DMA_LIMIT_NONE);
		assert_true(hi.bus + 20000 > GiB4); /* nothing is left below */
		ka_dma_free_coherent(&D, &hi);
		for (size_t i = 0; i < n; i++)
			ka_dma_free_coherent(&D, &bufs[i]);
		assert_int_equal(ka_dma_check(&D), 0);
		/* At most one cached sub-heap still holds frames. */
		assert_true(ka_dma_heap_count(&D) <= 1);
		assert_int_equal(FA->free_frames + ka_dma_heap_count(&D) * 16, before);
	}
	gsim_unmap(&S);
}

/* A platform hook replaces the offset (here: bus = phys + arg). */
static ka_paddr_t hook_bus(ka_paddr_t p, void *arg)
{
	return p + *(const ka_paddr_t *)arg;
}

static void test_bus_hook_and_refusals(void **state)
{
	static const ka_paddr_t off = BUS_OFFSET; /* same as the offset, so check_buf holds */
	struct ka_dma_buf b;

	(void)state;
	gsim_map(&S, SIM_LEN, MiB, PHYS_BASE);
	setup_dma(GSIM_BITMAP, hook_bus, (void *)&off);
	assert_int_equal(ka_dma_alloc_coherent(&D, 1000, 8, KA_DMA_LIMIT_32, &b), 0);
	check_buf(&b, 1000, 8, KA_DMA_LIMIT_32);
	ka_dma_free_coherent(&D, &b);
	assert_int_equal(ka_dma_alloc_coherent(&D, 0, 8, KA_DMA_LIMIT_NONE, &b), KA_EINVAL);
	assert_int_equal(ka_dma_alloc_coherent(&D, 8, 3, KA_DMA_LIMIT_NONE, &b), KA_EINVAL);
	assert_int_equal(ka_dma_alloc_coherent(&D, 8, 8, 0, &b), KA_EINVAL);
	assert_null(b.cpu);
	/* No memory at all below 16 MiB on the bus. */
	assert_int_equal(ka_dma_alloc_coherent(&D, 8, 8, 16 * MiB, &b), KA_ENOMEM);
	assert_int_equal(ka_dma_check(&D), 0);
	ka_dma_free_coherent(&D, &b); /* an empty buffer: no-op */
	gsim_unmap(&S);
}

static void double_free_pages(void)
{
	struct ka_dma_buf b, copy;

	ka_dma_alloc_coherent(&D, 3 * KA_PAGE_SIZE, 8, KA_DMA_LIMIT_NONE, &b);
	copy = b;
	ka_dma_free_coherent(&D, &b);
	ka_dma_free_coherent(&D, &copy);
}

static void foreign_heap(void)
{
	struct ka_dma_buf b, keep;

	ka_dma_alloc_coherent(&D, 64, 8, KA_DMA_LIMIT_NONE, &keep);
	ka_dma_alloc_coherent(&D, 64, 8, KA_DMA_LIMIT_NONE, &b);
	b.heap = (struct ka_dma_heap *)(void *)((char *)b.heap + 64);
	ka_dma_free_coherent(&D, &b);
}

static void expect_abort(void (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void test_misuse(void **state)
{
	(void)state;
	gsim_map(&S, SIM_LEN, MiB, PHYS_BASE);
	setup_dma(GSIM_BUDDY, NULL, NULL);
	expect_abort(double_free_pages);
	expect_abort(foreign_heap);
	gsim_unmap(&S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_below_limit),
	    cmocka_unit_test(test_large_aligned),
	    cmocka_unit_test(test_exhaust_low_window),
	    cmocka_unit_test(test_bus_hook_and_refusals),
	    cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
