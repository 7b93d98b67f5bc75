/* SPDX-License-Identifier: MIT */
/*
 * `kalloc-bench slots`: the random slot workloads S and M of issue 15 (tools/common/slots.h,
 * the same generator and loop as kalloc-slots) on every kalloc backend that frees and takes
 * any size, on glibc and on mimalloc. Per allocator: ticks per call (median, p99, p99.9,
 * max; timer overhead subtracted), calls over 1 ms (preemption), peak live requested bytes
 * and peak footprint. Each run is a fresh fork() of the bench.
 *
 * Footprint: for kalloc, the pages of the freshly mmapped arena the backend has touched
 * (mincore after the loop; control data included; a backend never gives pages back inside
 * its arena, so this is its peak); for glibc and mimalloc, the growth of the process's peak
 * resident set (getrusage ru_maxrss) from just before the first call (harness arrays
 * already touched) to the end of the loop: the pages they took from the OS and touched.
 *
 * --count runs one workload on one allocator in this process, untimed, for callgrind
 * (bench/callgrind_slots.sh); "empty" and "empty-ptr" are then the harnesses of the kalloc
 * and of the glibc/mimalloc call shapes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/slots.h"
#include "bench.h"

#if KA_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

#define NCONT_MAX 34

/* What one run hands back to the parent (MAP_SHARED). */
struct slot_result {
	bool done;
	char why[96];
	size_t fails, peak_live, footprint;
	uint64_t median, p99, p999, max, over_1ms;
	struct hist h;
};

/* Pages of a kalloc heap's arena the backend has touched: the arena is a fresh mapping (no
 * page resident before init) and a backend never gives pages back inside it, so this is its
 * peak footprint, control data included. The process's peak RSS cannot show it: a fork()ed
 * child's high-water mark starts at what it shares with the parent. */
static size_t arena_resident(void *mem, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, res = 0;
	unsigned char *vec = malloc(n);

	if (!vec)
		return 0;
	if (mincore(mem, len, vec) == 0)
		for (size_t i = 0; i < n; i++)
			res += vec[i] & 1;
	free(vec);
	return res * pg;
}

static size_t maxrss_bytes(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (size_t)ru.ru_maxrss * 1024;
}

/* Set r's call shape for contender c (NULL with name: a harness). False if not runnable. */
static bool pick_shape(struct slot_run *r, const struct contender *c, const char *name,
		       enum slot_shape *shape)
{
	if (!c) {
		if (strcmp(name, "empty") == 0) {
			*shape = SLOT_EMPTY;
			return true;
		}
		*shape = SLOT_PTR;
		r->malloc = slot_empty_malloc;
		r->free = slot_empty_free;
		return true;
	}
	switch (c->kind) {
	case C_KALLOC:
		*shape = SLOT_KALLOC;
		return true;
	case C_GLIBC:
		*shape = SLOT_PTR;
		bench_glibc_api(&r->malloc, &r->free);
		return true;
	case C_MIMALLOC:
#if KA_BENCH_MIMALLOC
		*shape = SLOT_PTR;
		r->malloc = mi_malloc;
		r->free = mi_free;
		return true;
#else
		return false;
#endif
	}
	return false;
}

static void dispatch(struct slot_run *r, enum slot_shape shape)
{
	if (shape == SLOT_KALLOC)
		slot_run_kalloc(r);
	else if (shape == SLOT_EMPTY)
		slot_run_empty(r);
	else
		slot_run_ptr(r);
}

/* One run (in a child): harness arrays, baseline, heap, loop, figures into *out. */
static void run_one(const struct slot_wl *wl, const struct contender *c, const char *name,
		    uint64_t steps, bool nostats, bool timed, struct slot_result *out)
{
	struct slot_run r;
	struct session s;
	enum slot_shape shape = SLOT_EMPTY;
	const char *why = NULL;
	size_t tbytes = timed ? steps * sizeof(uint32_t) : 0;

	memset(&r, 0, sizeof(r));
	r.wl = wl;
	r.steps = steps;
	r.slot = bench_scratch(wl->nslots * sizeof(*r.slot));
	r.slot_size = bench_scratch(wl->nslots * sizeof(*r.slot_size));
	if (timed) {
		r.ticks = bench_scratch(tbytes);
		memset(r.ticks, 0, tbytes); /* resident before the baseline */
	}
	memset(r.slot, 0, wl->nslots * sizeof(*r.slot));
	memset(r.slot_size, 0, wl->nslots * sizeof(*r.slot_size));
	if (!pick_shape(&r, c, name, &shape)) {
		snprintf(out->why, sizeof(out->why), "not built");
		return;
	}
	size_t base = maxrss_bytes();
	if (c) {
		if (!contender_begin(&s, c, wl->heap, !nostats, &why)) {
			snprintf(out->why, sizeof(out->why), "%s", why);
			return;
		}
		r.a = s.ctx;
	}
	dispatch(&r, shape);
	out->footprint = c && s.mem ? arena_resident(s.mem, s.heap_len) : maxrss_bytes() - base;
	out->fails = r.fails;
	out->peak_live = r.peak_live;
	if (r.a && ka_check(r.a) != 0) {
		snprintf(out->why, sizeof(out->why), "ka_check failed after the run");
		return;
	}
	if (timed) {
		uint64_t ov = bench_tick_overhead(), lim = bench_outlier_ticks();
		hist_clear(&out->h);
		for (uint64_t i = 0; i < steps; i++) {
			uint64_t t = r.ticks[i] > ov ? r.ticks[i] - ov : 0;
			hist_add(&out->h, t);
			out->over_1ms += t >= lim;
		}
		out->median = hist_quantile(&out->h, 0.5);
		out->p99 = hist_quantile(&out->h, 0.99);
		out->p999 = hist_quantile(&out->h, 0.999);
		out->max = out->h.max;
		bench_scratch_free(r.ticks, tbytes);
	}
	if (c)
		contender_end(&s);
	out->done = true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kalloc-bench slots [--steps N] [--workload S|M|all] [--backends LIST]\n"
		   "                          [--nostats] [--count]\n"
		   "  --steps N      steps per run (default 10000000)\n"
		   "  --workload W   S (256 slots, 8-256 B, 1 MiB heap), M (8192 slots,\n"
		   "                 16-4096 B, 64 MiB heap) or all (default)\n"
		   "  --backends L   comma-separated allocators (default: every one that frees\n"
		   "                 and takes any size); empty, empty-ptr: the harnesses\n"
		   "  --nostats      kalloc heaps with KA_ALLOC_NOSTATS (default: statistics on)\n"
		   "  --count        one workload, one allocator, in this process, untimed\n"
		   "                 (for callgrind: bench/callgrind_slots.sh)\n");
}

int bench_slots_main(int argc, char **argv)
{
	struct contender all[NCONT_MAX];
	size_t nall = contenders_all(all, NCONT_MAX);
	const char *wls = "all", *backends = NULL;
	uint64_t steps = 10000000;
	bool nostats = false, count = false;
	char *end;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--steps") && i + 1 < argc) {
			steps = strtoull(argv[++i], &end, 10);
			if (*end || steps == 0) {
				fprintf(stderr, "kalloc-bench slots: --steps: a positive count\n");
				return 2;
			}
		} else if (!strcmp(o, "--workload") && i + 1 < argc) {
			wls = argv[++i];
		} else if (!strcmp(o, "--backends") && i + 1 < argc) {
			backends = argv[++i];
		} else if (!strcmp(o, "--nostats")) {
			nostats = true;
		} else if (!strcmp(o, "--count")) {
			count = true;
		} else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (strcmp(wls, "all") != 0 && strcmp(wls, "S") != 0 && strcmp(wls, "M") != 0) {
		fprintf(stderr, "kalloc-bench slots: --workload: S, M or all\n");
		return 2;
	}

	/* The selected allocators: contenders, then the harnesses if asked for by name. */
	const struct contender *sel[NCONT_MAX + 2];
	const char *names[NCONT_MAX + 2];
	size_t nsel = 0;
	for (size_t i = 0; i < nall; i++)
		if (bench_listed(backends, all[i].name)) {
			if (!backends && contender_unfit(&all[i], KA_CAP_FREE | KA_CAP_ANYSIZE))
				continue;
			sel[nsel] = &all[i];
			names[nsel++] = all[i].name;
		}
	static const char *const harness[] = {"empty", "empty-ptr"};
	for (size_t i = 0; i < 2; i++)
		if (backends && bench_listed(backends, harness[i])) {
			sel[nsel] = NULL;
			names[nsel++] = harness[i];
		}
	if (nsel == 0) {
		fprintf(stderr, "kalloc-bench slots: no allocator matches --backends %s\n",
			backends);
		return 2;
	}

	if (count) {
		static struct slot_result res;
		const struct slot_wl *wl = slot_wl_find(wls);
		if (!wl || nsel != 1) {
			fprintf(stderr, "kalloc-bench slots --count: one --workload and one "
					"--backends\n");
			return 2;
		}
		bench_glibc_resolve();
		run_one(wl, sel[0], names[0], steps, nostats, false, &res);
		if (!res.done) {
			fprintf(stderr, "kalloc-bench slots: %s: %s\n", names[0], res.why);
			return 1;
		}
		printf("%s %s steps %llu fails %zu peak_live %zu\n", names[0], wl->name,
		       (unsigned long long)steps, res.fails, res.peak_live);
		return 0;
	}

	struct slot_result *res =
	    mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		perror("kalloc-bench: mmap");
		return 2;
	}
	bench_timing_init();
	bench_glibc_resolve();
	printf("kalloc-bench slots: %llu steps per run, seed fixed, kalloc statistics %s, "
	       "mimalloc %s\n",
	       (unsigned long long)steps, nostats ? "off" : "on",
	       bench_have_mimalloc() ? "linked" : "not built");
	printf("per call: %s%s, timer overhead %llu subtracted; footprint: kalloc arena pages "
	       "touched (mincore), glibc/mimalloc peak RSS growth\n",
	       BENCH_TICK_UNIT,
	       strcmp(BENCH_TICK_UNIT, "ns") == 0 ? " (clock_gettime: no cycle counter here)"
						  : " (rdtsc, lfence on both sides)",
	       (unsigned long long)bench_tick_overhead());
	printf("%-2s %-9s %7s %7s %7s %7s %9s %5s %11s %11s %9s\n", "wl", "allocator", "fails",
	       "median", "p99", "p99.9", "max", ">1ms", "peak live", "footprint", "foot/live");
	int rc = 0;
	for (size_t w = 0; w < sizeof(slot_workloads) / sizeof(slot_workloads[0]); w++) {
		const struct slot_wl *wl = &slot_workloads[w];
		if (strcmp(wls, "all") != 0 && strcmp(wls, wl->name) != 0)
			continue;
		for (size_t k = 0; k < nsel; k++) {
			const char *na =
			    sel[k] ? contender_unfit(sel[k], KA_CAP_FREE | KA_CAP_ANYSIZE) : NULL;
			char live[32], foot[32];
			int st = 0;
			if (na) {
				printf("%-2s %-9s n/a (%s)\n", wl->name, names[k], na);
				continue;
			}
			memset(res, 0, sizeof(*res));
			snprintf(res->why, sizeof(res->why), "run did not finish");
			fflush(stdout);
			pid_t pid = fork();
			if (pid < 0) {
				perror("kalloc-bench: fork");
				return 2;
			}
			if (pid == 0) {
				run_one(wl, sel[k], names[k], steps, nostats, true, res);
				_exit(0);
			}
			while (waitpid(pid, &st, 0) < 0)
				;
			if (WIFSIGNALED(st))
				snprintf(res->why, sizeof(res->why), "crashed with signal %d",
					 WTERMSIG(st));
			if (!res->done || WIFSIGNALED(st)) {
				printf("%-2s %-9s n/a (%s)\n", wl->name, names[k], res->why);
				rc = 1;
				continue;
			}
			bench_fmt_bytes(live, sizeof(live), (double)res->peak_live);
			bench_fmt_bytes(foot, sizeof(foot), (double)res->footprint);
			printf("%-2s %-9s %7zu %7llu %7llu %7llu %9llu %5llu %11s %11s %9.2f\n",
			       wl->name, names[k], res->fails, (unsigned long long)res->median,
			       (unsigned long long)res->p99, (unsigned long long)res->p999,
			       (unsigned long long)res->max, (unsigned long long)res->over_1ms,
			       live, foot,
			       res->peak_live ? (double)res->footprint / (double)res->peak_live
					      : 0);
			fflush(stdout);
		}
	}
	munmap(res, sizeof(*res));
	return rc;
}
