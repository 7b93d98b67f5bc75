/* SPDX-License-Identifier: MIT */
/*
 * ka_boot_system() on simulated physical memory: one mmap'd area plays the physical
 * address space through the direct-map offset (vaddr = paddr + dm_off). Two layouts:
 *  - the area is physical [0, 64 MiB): a region at address 0, unsorted, overlapping,
 *    tiny and reserved entries;
 *  - the area is physical [4 GiB - 32 MiB, 4 GiB + 32 MiB): regions on both sides of the
 *    4 GiB line, so the "below 4 GiB" zone has to pick the right frames.
 * Each layout is booted with each frame allocator and several byte backends; bytes, pages
 * (page objects) and DMA buffers are allocated, DMA bus addresses checked against the
 * zone, the checkers must be green and the statistics must add up; then both layouts once
 * more with per-CPU caches in front of the global allocator, and the example kernel's SMP
 * proof with threads for CPUs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "kalloc/boot.h"
#include "kalloc/err.h"
#include "kalloc/page.h"

#define MIB	((size_t)1 << 20)
#define GIB	((uint64_t)1 << 30)
#define SIM_LEN (64 * MIB)

static struct ka_system SYS;
static char *sim;     /* virtual start of the simulated memory */
static void *sim_raw; /* what mmap returned */
static size_t sim_raw_len;

static void sim_map(void)
{
	size_t align = 4 * MIB;

	sim_raw_len = SIM_LEN + align;
	sim_raw =
	    mmap(NULL, sim_raw_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(sim_raw != MAP_FAILED);
	sim = (char *)(((uintptr_t)sim_raw + align - 1) & ~(uintptr_t)(align - 1));
}

/* Layout 1: physical [0, 64 MiB) with a region at 0 and the usual mess around it. */
static size_t map_low(struct ka_mem_region *m)
{
	size_t n = 0;

	m[n++] = (struct ka_mem_region){20 * MIB, 30 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){0, 8 * MIB, KA_MEM_USABLE};	     /* at address 0 */
	m[n++] = (struct ka_mem_region){6 * MIB, 4 * MIB, KA_MEM_USABLE};    /* overlaps [0, 8) */
	m[n++] = (struct ka_mem_region){1 * MIB, 1 * MIB, KA_MEM_RESERVED};  /* kernel image */
	m[n++] = (struct ka_mem_region){52 * MIB + 100, 300, KA_MEM_USABLE}; /* tiny: dropped */
	m[n++] = (struct ka_mem_region){54 * MIB, 2 * KA_PAGE_SIZE, KA_MEM_USABLE}; /* tiny */
	m[n++] = (struct ka_mem_region){30 * MIB, 2 * MIB, KA_MEM_ACPI_NVS};
	m[n++] = (struct ka_mem_region){58 * MIB, 6 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){60 * MIB, 1 * MIB, KA_MEM_BAD};
	return n;
}

/* Layout 2: physical [4 GiB - 32 MiB, 4 GiB + 32 MiB). */
#define HI_BASE (4 * GIB - 32 * MIB)
static size_t map_high(struct ka_mem_region *m)
{
	size_t n = 0;

	m[n++] = (struct ka_mem_region){(uintptr_t)(4 * GIB), 32 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){(uintptr_t)HI_BASE, 24 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){(uintptr_t)(4 * GIB + 8 * MIB), MIB, KA_MEM_RESERVED};
	return n;
}

static const char *const frames_kinds[] = {"fbitmap", "fbuddy"};
static const char *const byte_backends[] = {"tlsf", "slab", "buddy", "tiny"};

#define NB 300
static void *blocks[NB];

static void boot_and_use(const char *frames, const char *backend, bool high, bool percpu)
{
	struct ka_mem_region map[16];
	struct ka_system_config cfg;
	struct ka_global_stats gs;
	struct ka_page pg;
	struct ka_dma_buf dz, dn, bad;
	size_t n = high ? map_high(map) : map_low(map), sum = 0, total, freef;
	ka_paddr_t limit = high ? 4 * GIB : 16 * MIB;

	memset(&cfg, 0, sizeof(cfg));
	cfg.frames = frames;
	cfg.backend = backend;
	cfg.dm_off = (uintptr_t)sim - (high ? (uintptr_t)HI_BASE : 0);
	cfg.nzones = 1;
	cfg.zones[0] = limit;
	cfg.percpu_cache = percpu;
	cfg.cache.ncpus = 4;
	cfg.cache.rounds = 8; /* small magazines: the frees below go through the depot */
	assert_int_equal(ka_boot_system(&SYS, map, n, &cfg), 0);
	assert_string_equal(SYS.info.backend, backend);
	assert_true(SYS.info.regions_used >= 2);
	assert_ptr_equal(ka_default(), SYS.alloc);
	if (percpu) {
		assert_non_null(SYS.cache);
		assert_ptr_equal(SYS.alloc, SYS.cache);
		assert_ptr_equal(ka_cache_below(SYS.cache), ka_global_alloc_iface(&SYS.global));
		assert_true(SYS.cache_pages * KA_PAGE_SIZE >= ka_cache_memsize(4, &cfg.cache));
	} else {
		assert_null(SYS.cache);
		assert_ptr_equal(SYS.alloc, ka_global_alloc_iface(&SYS.global));
	}

	for (size_t i = 0; i < NB; i++) {
		blocks[i] = ka_malloc(SYS.alloc, 16 + i * 61 + (i % 37 == 0 ? 200000 : 0));
		assert_non_null(blocks[i]);
		memset(blocks[i], (int)i, 16);
		sum += ka_usable_size(SYS.alloc, blocks[i]);
	}
	assert_int_equal(ka_page_alloc_contiguous(SYS.alloc, 3, KA_PAGE_SIZE, &pg), 0);
	ka_page_fill(&pg, 0x5a);

	assert_int_equal(ka_system_dma_alloc(&SYS, 0, 3000, 64, &dz), 0);
	assert_true(dz.bus + dz.size <= limit);
	assert_int_equal(((unsigned char *)dz.cpu)[0], 0);
	assert_int_equal(ka_system_dma_alloc(&SYS, 1, 5 * KA_PAGE_SIZE, KA_PAGE_SIZE, &dn), 0);
	assert_int_equal(ka_system_dma_alloc(&SYS, 2, 64, 64, &bad), KA_EINVAL);
	/* Every DMA byte lies in the simulated memory, at its physical place. */
	assert_ptr_equal(dz.cpu, (void *)(uintptr_t)(dz.bus + cfg.dm_off));

	assert_int_equal(ka_system_check(&SYS), 0);
	ka_global_stats(&SYS.global, &gs);
	/* Every block came from the global allocator; a miss of the cache takes a batch of them
	 * (cache.h), so the global allocator also holds those still in the magazines. */
	assert_int_equal(gs.live_blocks, NB + (percpu ? ka_cache_held(SYS.cache) : 0));
	if (percpu) {
		/* The cache's own figures count the page run as one more block. */
		const struct ka_stats *cs = ka_cache_stats(SYS.cache);
		assert_int_equal(cs->cur_nb_allocs, NB + 1);
		assert_int_equal(cs->nb_allocs - cs->nb_frees, NB + 1);
		assert_int_equal(cs->cur_mem_use, sum + 3 * KA_PAGE_SIZE);
		/* The global allocator's blocks hold the cache's header in front of each. */
		assert_true(gs.used_bytes > sum);
	} else {
		assert_int_equal(gs.used_bytes, sum);
	}
	assert_int_equal(gs.page_pages, 3);
	total = ka_ftotal_frames(SYS.fa);
	freef = ka_ffree_frames(SYS.fa);
	/* Frames out = pages the source handed out (global allocator and DMA together). */
	assert_int_equal(total - freef, SYS.src.base.used_pages);
	assert_true(SYS.src.base.used_pages >= gs.used_pages + 5);
	assert_int_equal(gs.used_pages + gs.avail_pages,
			 total - (SYS.src.base.used_pages - gs.used_pages));

	ka_dma_free_coherent(&SYS.dma, &dz);
	ka_dma_free_coherent(&SYS.dma, &dn);
	ka_page_free(&pg);
	for (size_t i = 0; i < NB; i++)
		ka_free(SYS.alloc, blocks[i]);
	if (percpu) {
		/* Freed blocks wait in this CPU's magazines and the depot, still live below. */
		size_t held = ka_cache_held(SYS.cache);
		assert_int_equal(ka_cache_stats(SYS.cache)->cur_nb_allocs, 0);
		assert_int_equal(ka_cache_stats(SYS.cache)->cur_mem_use, 0);
		ka_global_stats(&SYS.global, &gs);
		assert_true(held > 0);
		assert_int_equal(gs.live_blocks, held);
		assert_int_equal(ka_system_check(&SYS), 0);
		ka_cache_flush(SYS.cache);
		assert_int_equal(ka_cache_held(SYS.cache), 0);
	}
	ka_global_stats(&SYS.global, &gs);
	assert_int_equal(gs.live_blocks, 0);
	assert_int_equal(gs.used_bytes, 0);
	assert_int_equal(ka_system_check(&SYS), 0);
	ka_global_destroy(&SYS.global);
	assert_int_equal(SYS.src.base.used_pages,
			 SYS.dma.nheaps * SYS.dma.heap_pages + SYS.cache_pages);
}

static void test_low_map(void **state)
{
	(void)state;
	for (size_t f = 0; f < 2; f++)
		for (size_t b = 0; b < sizeof(byte_backends) / sizeof(byte_backends[0]); b++)
			if (ka_backend_find(byte_backends[b]))
				boot_and_use(frames_kinds[f], byte_backends[b], false, false);
}

static void test_high_map(void **state)
{
	(void)state;
	for (size_t f = 0; f < 2; f++)
		for (size_t b = 0; b < sizeof(byte_backends) / sizeof(byte_backends[0]); b++)
			if (ka_backend_find(byte_backends[b]))
				boot_and_use(frames_kinds[f], byte_backends[b], true, false);
}

/* Both layouts again with per-CPU caches in front of the global allocator. */
static void test_percpu_cache(void **state)
{
	(void)state;
	for (size_t f = 0; f < 2; f++)
		for (size_t b = 0; b < sizeof(byte_backends) / sizeof(byte_backends[0]); b++)
			if (ka_backend_find(byte_backends[b])) {
				boot_and_use(frames_kinds[f], byte_backends[b], false, true);
				boot_and_use(frames_kinds[f], byte_backends[b], true, true);
			}
}

/* A zone no frame satisfies: the DMA request fails cleanly, the system stays green. */
static void test_zone_unsatisfiable(void **state)
{
	struct ka_mem_region m[1] = {{(uintptr_t)(4 * GIB), 32 * MIB, KA_MEM_USABLE}};
	struct ka_system_config cfg;
	struct ka_dma_buf d;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dm_off = (uintptr_t)sim - (uintptr_t)(4 * GIB);
	cfg.nzones = 1;
	cfg.zones[0] = 4 * GIB;
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), 0);
	assert_int_equal(ka_system_dma_alloc(&SYS, 0, 64, 64, &d), KA_ENOMEM);
	assert_null(d.cpu);
	assert_int_equal(ka_system_dma_alloc(&SYS, 1, 64, 64, &d), 0);
	assert_true(d.bus >= 4 * GIB);
	ka_dma_free_coherent(&SYS.dma, &d);
	assert_int_equal(ka_system_check(&SYS), 0);
	ka_global_destroy(&SYS.global);
}

/*
 * The example kernel's SMP proof, hosted: threads are the CPUs (a thread slot each). Every
 * thread allocates through the cache and swaps its block into a shared ring, freeing what
 * was there (mostly other threads' blocks), then empties its own magazines. Afterwards the
 * cache's and the global allocator's figures must match the ring exactly.
 */
#define MT_THREADS 4
#define MT_ROUNDS  20000
#define MT_RING	   256

static void *mt_ring[MT_RING];

struct mt_cpu {
	pthread_t th;
	unsigned id;
	uint32_t rng;
	unsigned long allocs, frees, remote, bad;
	size_t in, out;
};

static void mt_free(struct mt_cpu *c, void *p)
{
	unsigned owner;

	memcpy(&owner, p, sizeof(owner));
	if (owner >= MT_THREADS)
		c->bad++;
	else if (owner != c->id)
		c->remote++;
	c->out += ka_usable_size(SYS.alloc, p);
	c->frees++;
	ka_free(SYS.alloc, p);
}

static void *mt_worker(void *arg)
{
	struct mt_cpu *c = arg;

	for (unsigned r = 0; r < MT_ROUNDS; r++) {
		c->rng = c->rng * 1103515245u + 12345u;
		uint32_t x = c->rng >> 4;
		size_t n = (x & 7) ? 16 + x % 1009 : 1025 + x % 7168;
		void *p = ka_malloc(SYS.alloc, n);

		if (!p) {
			c->bad++;
			continue;
		}
		memcpy(p, &c->id, sizeof(c->id));
		c->allocs++;
		c->in += ka_usable_size(SYS.alloc, p);
		void *old = __atomic_exchange_n(&mt_ring[(x >> 12) % MT_RING], p, __ATOMIC_ACQ_REL);
		if (old)
			mt_free(c, old);
	}
	ka_cache_flush_cpu(SYS.cache);
	return NULL;
}

static void test_percpu_threads(void **state)
{
	struct ka_mem_region m[1] = {{0, SIM_LEN, KA_MEM_USABLE}};
	struct ka_system_config cfg;
	struct mt_cpu cpu[MT_THREADS];
	struct ka_global_stats g0, g1;
	unsigned long allocs = 0, frees = 0, remote = 0, bad = 0;
	size_t in = 0, out = 0, ring_n = 0, ring_bytes = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dm_off = (uintptr_t)sim;
	cfg.percpu_cache = true; /* ncpus 0: every hosted thread slot */
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), 0);
	assert_non_null(SYS.cache);
	ka_global_stats(&SYS.global, &g0);
	memset(cpu, 0, sizeof(cpu));
	for (unsigned i = 0; i < MT_THREADS; i++) {
		cpu[i].id = i;
		cpu[i].rng = 0x9e3779b9u * (i + 1);
		assert_int_equal(pthread_create(&cpu[i].th, NULL, mt_worker, &cpu[i]), 0);
	}
	for (unsigned i = 0; i < MT_THREADS; i++) {
		assert_int_equal(pthread_join(cpu[i].th, NULL), 0);
		allocs += cpu[i].allocs;
		frees += cpu[i].frees;
		remote += cpu[i].remote;
		bad += cpu[i].bad;
		in += cpu[i].in;
		out += cpu[i].out;
	}
	for (unsigned k = 0; k < MT_RING; k++)
		if (mt_ring[k]) {
			ring_n++;
			ring_bytes += ka_usable_size(SYS.alloc, mt_ring[k]);
		}
	/* Every thread emptied its magazines; the depot is left, and this thread's (empty). */
	ka_cache_flush(SYS.cache);
	assert_int_equal(ka_cache_held(SYS.cache), 0);
	assert_int_equal(ka_system_check(&SYS), 0);

	const struct ka_stats *cs = ka_cache_stats(SYS.cache);
	ka_global_stats(&SYS.global, &g1);
	assert_int_equal(bad, 0);
	assert_true(remote > 0);
	assert_int_equal(allocs, (unsigned long)MT_THREADS * MT_ROUNDS);
	assert_int_equal(cs->nb_allocs, allocs);
	assert_int_equal(cs->nb_frees, frees);
	assert_int_equal(allocs - frees, ring_n);
	assert_int_equal(cs->cur_nb_allocs, ring_n);
	assert_int_equal(in - out, ring_bytes);
	assert_int_equal(cs->cur_mem_use, ring_bytes);
	assert_int_equal(g1.live_blocks - g0.live_blocks, ring_n);

	for (unsigned k = 0; k < MT_RING; k++) {
		ka_free(SYS.alloc, mt_ring[k]);
		mt_ring[k] = NULL;
	}
	ka_cache_flush(SYS.cache);
	ka_global_stats(&SYS.global, &g1);
	assert_int_equal(ka_cache_stats(SYS.cache)->cur_nb_allocs, 0);
	assert_int_equal(g1.live_blocks, g0.live_blocks);
	assert_int_equal(g1.used_bytes, g0.used_bytes);
	assert_int_equal(ka_system_check(&SYS), 0);
	ka_global_destroy(&SYS.global);
}

static void test_refusals(void **state)
{
	struct ka_mem_region m[2] = {{0, 16 * MIB, KA_MEM_USABLE}, {0, 16 * MIB, KA_MEM_RESERVED}};
	struct ka_system_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.dm_off = (uintptr_t)sim;
	cfg.percpu_cache = true;
	cfg.cache.max_size = 4096; /* above the largest class: invalid */
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), KA_EINVAL);
	cfg.percpu_cache = false;
	cfg.cache.max_size = 0;
	cfg.frames = "fnone";
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), KA_ENOENT);
	cfg.frames = NULL;
	cfg.backend = "nosuch";
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), KA_ENOENT);
	cfg.backend = NULL;
	cfg.nzones = KA_CFG_BOOT_MAX_ZONES + 1;
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), KA_EINVAL);
	cfg.nzones = 1;
	cfg.zones[0] = 0;
	assert_int_equal(ka_boot_system(&SYS, m, 1, &cfg), KA_EINVAL);
	cfg.nzones = 0;
	assert_int_equal(ka_boot_system(NULL, m, 1, &cfg), KA_EINVAL);
	/* Everything reserved: no memory. */
	assert_int_equal(ka_boot_system(&SYS, m, 2, &cfg), KA_ENOMEM);
	assert_int_equal(ka_boot_system(&SYS, NULL, 0, &cfg), KA_ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_low_map),
	    cmocka_unit_test(test_high_map),
	    cmocka_unit_test(test_percpu_cache),
	    cmocka_unit_test(test_percpu_threads),
	    cmocka_unit_test(test_zone_unsatisfiable),
	    cmocka_unit_test(test_refusals),
	};
	int rc;

	sim_map();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	munmap(sim_raw, sim_raw_len);
	return rc;
}
