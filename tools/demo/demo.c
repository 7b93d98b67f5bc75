/* SPDX-License-Identifier: MIT */
/*
 * kalloc-demo: boots every backend on a simulated machine as a kernel would, runs the same
 * mixed workload on each, and prints one table row per backend.
 *
 * The machine: 256 MiB of address space from one mmap (MAP_NORESERVE, so untouched memory
 * costs nothing), described by a firmware-style memory map with holes, a reserved kernel
 * image, ACPI ranges and a tiny fragment, listed out of order. ka_boot() turns it into a
 * heap; the workload then mixes malloc, calloc, realloc, memalign and free over a live set
 * of a few thousand blocks with sizes from 16 B to 64 KiB.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kalloc/alloc.h"
#include "kalloc/boot.h"

#define MIB	 ((size_t)1 << 20)
#define SIM_LEN	 (256 * MIB)
#define MAX_LIVE 4000

static unsigned char *sim;

static size_t machine_map(struct ka_mem_region *m)
{
	uintptr_t b = (uintptr_t)sim;
	size_t n = 0;

	m[n++] = (struct ka_mem_region){b + 128 * MIB, 96 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){b + 0, 640 * 1024, KA_MEM_USABLE}; /* low memory */
	m[n++] = (struct ka_mem_region){b + 1 * MIB, 63 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){b + 1 * MIB, 3 * MIB, KA_MEM_RESERVED}; /* kernel image */
	m[n++] = (struct ka_mem_region){b + 64 * MIB, 1 * MIB, KA_MEM_ACPI_RECLAIMABLE};
	m[n++] = (struct ka_mem_region){b + 65 * MIB, 48 * MIB, KA_MEM_USABLE};
	m[n++] = (struct ka_mem_region){b + 120 * MIB, 8 * 1024, KA_MEM_USABLE}; /* fragment */
	m[n++] = (struct ka_mem_region){b + 224 * MIB, 32 * MIB, KA_MEM_ACPI_NVS};
	return n;
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mostly small, sometimes large: roughly what a kernel's heap sees. */
static size_t pick_size(void)
{
	uint64_t r = next() % 1000;

	if (r < 700)
		return 16 + next() % 240;
	if (r < 950)
		return 256 + next() % 3840;
	return 4096 + next() % (60 * 1024);
}

struct result {
	double ops_per_s;
	size_t peak_footprint, peak_live;
	uint64_t failed;
	unsigned check;
	size_t regions;
	int booted;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run(const struct ka_backend *b, unsigned long ops, struct result *r)
{
	static void *live[MAX_LIVE];
	struct ka_mem_region map[16];
	size_t nmap = machine_map(map), n = 0;
	struct ka_boot_info info;
	struct ka_info mi;
	size_t base_used, live_peak = 0;

	memset(r, 0, sizeof(*r));
	rng = 0x243f6a8885a308d3ULL;
	struct ka_alloc *a = ka_boot(map, nmap, b->name, &info);
	if (!a)
		return;
	r->booted = 1;
	r->regions = info.regions_used;
	ka_info(a, &mi);
	base_used = mi.total - mi.avail; /* the backend's own metadata before any request */

	double t0 = now();
	for (unsigned long op = 0; op < ops; op++) {
		uint64_t k = next() % 100;
		if (n > 0 && (k < 45 || n == MAX_LIVE)) {
			size_t i = next() % n;
			ka_free(a, live[i]);
			live[i] = live[--n];
		} else if (n > 0 && k < 55) {
			size_t i = next() % n;
			void *p = ka_realloc(a, live[i], pick_size());
			if (p)
				live[i] = p;
		} else {
			void *p;
			size_t sz = pick_size();
			if (k < 60)
				p = ka_memalign(a, (size_t)64 << (next() % 4), sz);
			else if (k < 65)
				p = ka_calloc(a, 1, sz);
			else
				p = ka_malloc(a, sz);
			if (p) {
				((unsigned char *)p)[0] = (unsigned char)op;
				live[n++] = p;
			}
		}
		/* Sample at every new live-bytes peak (where the footprint usually peaks too)
		 * and every 1024 operations (fragmentation can peak elsewhere). */
		if (ka_stats(a)->cur_mem_use > live_peak || (op & 1023) == 0) {
			if (ka_stats(a)->cur_mem_use > live_peak)
				live_peak = ka_stats(a)->cur_mem_use;
			ka_info(a, &mi);
			size_t used = mi.total - mi.avail - base_used;
			if (used > r->peak_footprint)
				r->peak_footprint = used;
		}
	}
	double t1 = now();
	r->ops_per_s = (double)ops / (t1 - t0);
	r->peak_live = ka_stats(a)->max_mem_use;
	r->failed = ka_stats(a)->nb_enomem;
	r->check = ka_check(a);
	while (n)
		ka_free(a, live[--n]);
	if (ka_check(a) != 0 || ka_stats(a)->cur_nb_allocs != 0)
		r->check++;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--ops N] [--backend NAME]\n"
		"Boots each kalloc backend on a simulated machine and runs a mixed workload.\n",
		argv0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"ops", required_argument, NULL, 'o'},
					     {"backend", required_argument, NULL, 'b'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	unsigned long ops = 400000;
	const char *only = NULL;
	int c, bad = 0;

	while ((c = getopt_long(argc, argv, "o:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			ops = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			only = optarg;
			break;
		default:
			usage(argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (only && !ka_backend_find(only)) {
		fprintf(stderr, "kalloc-demo: unknown backend '%s'\n", only);
		return 2;
	}
	sim = mmap(NULL, SIM_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sim == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	struct ka_mem_region map[16];
	size_t nmap = machine_map(map);
	printf("simulated machine: %zu MiB of address space, memory map (as firmware gave it):\n",
	       SIM_LEN / MIB);
	static const char *types[] = {"?", "usable", "reserved", "ACPI reclaim", "ACPI NVS", "bad"};
	for (size_t i = 0; i < nmap; i++)
		printf("  +%#10zx  %8zu KiB  %s\n", (size_t)(map[i].base - (uintptr_t)sim),
		       map[i].len / 1024, types[map[i].type < 6 ? map[i].type : 0]);
	printf("workload: %lu mixed operations (malloc/calloc/memalign/realloc/free), "
	       "16 B - 64 KiB, up to %d live blocks\n\n",
	       ops, MAX_LIVE);
	printf("%-9s %8s %12s %14s %12s %7s %8s %s\n", "backend", "regions", "ops/s", "peak in use",
	       "peak live", "ratio", "failed", "check");
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		struct result r;
		if (only && strcmp(only, b->name) != 0)
			continue;
		if (!(b->caps & KA_CAP_ANYSIZE)) {
			printf("%-9s %s\n", b->name,
			       "n/a: fixed-size objects only (see its unit test and kalloc-bench)");
			continue;
		}
		run(b, ops, &r);
		if (!r.booted) {
			printf("%-9s boot failed\n", b->name);
			bad = 1;
			continue;
		}
		printf("%-9s %8zu %12.0f %10zu KiB %8zu KiB %6.2fx %8llu %s\n", b->name, r.regions,
		       r.ops_per_s, r.peak_footprint / 1024, r.peak_live / 1024,
		       r.peak_live ? (double)r.peak_footprint / (double)r.peak_live : 0.0,
		       (unsigned long long)r.failed, r.check == 0 ? "ok" : "FAILED");
		if (r.check)
			bad = 1;
	}
	printf("\npeak in use: most heap bytes not available for allocation at any sample (live "
	       "bytes + headers + rounding waste),\nminus the backend's own metadata at boot; "
	       "ratio = peak in use / peak live bytes.\n"
	       "region never reuses freed memory, so it fails once the map is used up.\n");
	munmap(sim, SIM_LEN);
	return bad;
}
