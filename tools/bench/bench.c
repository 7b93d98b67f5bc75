/* SPDX-License-Identifier: MIT */
/*
 * kalloc-bench: runs the same workloads on every backend of the registry, on glibc's malloc
 * and on mimalloc (when built with libmimalloc-dev), all in this one process, and prints a
 * table of operations per second, nanoseconds per alloc+free, 99.9th-percentile and worst
 * ticks per operation, and peak footprint against peak live bytes.
 *
 * The machine is shared and noisy, so contenders alternate: each round runs every
 * contender once, in an order rotated by one each round, and the table shows the median
 * over the rounds of each figure. --heap-sweep instead runs one backend (tlsf by default)
 * on heaps from 1 MiB to 1 GiB to show how its per-operation times depend on heap size.
 * Every kalloc heap is a fresh MAP_NORESERVE mapping per run. docs/bench.md explains the
 * columns.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CONTENDERS 32
#define MAX_ROUNDS     99

struct opts {
	const char *workloads;
	const char *backends;
	unsigned rounds;
	uint64_t ops;
	size_t heap;
	size_t live;
	uint64_t seed;
	bool csv, sweep, stats, in_process;
};

/* One contender's figures for one workload and round. */
struct cell {
	bool ran, ok;
	char why[96];
	double mops, ns_pair, p999, worst, live, foot, outliers;
	double worst_min; /**< summaries: the lowest per-round worst (the least disturbed run) */
};

static uint64_t total_outliers, total_ops;

/* What a run in a child process hands back (MAP_SHARED, so the parent sees it). */
struct shared {
	struct result r;
	struct hist h;
	size_t fp_base, fp_peak;
	char why[96];
};

static struct shared *sh;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One run: begin, workload, end, results into *sh. In a child process unless in_process. */
static void run_once(const struct workload *w, const struct contender *c, const struct opts *o,
		     size_t heap, size_t live, uint64_t seed)
{
	struct session s;
	const char *why = NULL;

	sh->why[0] = '\0';
	if (!contender_begin(&s, c, heap, o->stats, &why)) {
		snprintf(sh->why, sizeof(sh->why), "%s", why);
		return;
	}
	w->run(&s, o->ops, seed, &sh->h, &sh->r, live);
	contender_end(&s);
	sh->fp_base = s.fp_base;
	sh->fp_peak = s.fp_peak;
}

/*
 * Run one workload on one contender and turn the raw result into table figures. Each run
 * happens in a fresh fork() of this process, so every allocator starts from the same
 * state: glibc's arena and mimalloc's segments carry nothing over from earlier runs (glibc
 * keeps freed chunks in its per-thread cache, which pins its heap at the extent the largest
 * earlier run reached), and a backend that panics costs one cell, not the whole table.
 */
static void run_cell(const struct workload *w, const struct contender *c, const struct opts *o,
		     size_t heap, size_t live, uint64_t seed, struct cell *out)
{
	struct result *r = &sh->r;
	double tpn = bench_ticks_per_ns();

	memset(out, 0, sizeof(*out));
	memset(&sh->r, 0, sizeof(sh->r));
	snprintf(sh->why, sizeof(sh->why), "run did not finish");
	out->ran = true;
	if (o->in_process) {
		run_once(w, c, o, heap, live, seed);
	} else {
		int st = 0;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(out->why, sizeof(out->why), "fork failed");
			return;
		}
		if (pid == 0) {
			run_once(w, c, o, heap, live, seed);
			_exit(0);
		}
		while (waitpid(pid, &st, 0) < 0)
			;
		if (WIFSIGNALED(st)) {
			snprintf(out->why, sizeof(out->why), "crashed with signal %d (%s)",
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
			return;
		}
	}
	if (sh->why[0]) {
		snprintf(out->why, sizeof(out->why), "%s", sh->why);
		return;
	}
	total_outliers += r->outliers;
	total_ops += r->ops;
	if (!r->ok) {
		snprintf(out->why, sizeof(out->why), "%s", r->why);
		return;
	}
	uint64_t ticks = r->t_alloc + r->t_free + r->t_realloc;
	uint64_t calls = r->n_alloc + r->n_free + r->n_realloc;
	out->ok = true;
	out->outliers = (double)r->outliers;
	out->mops = ticks ? (double)calls / ((double)ticks / tpn) * 1e3 : 0;
	if (r->n_realloc > r->n_alloc + r->n_free)
		out->ns_pair = (double)r->t_realloc / (double)r->n_realloc / tpn;
	else
		out->ns_pair = ((r->n_alloc ? (double)r->t_alloc / (double)r->n_alloc : 0) +
				(r->n_free ? (double)r->t_free / (double)r->n_free : 0)) /
			       tpn;
	out->p999 = (double)r->p999;
	out->worst = (double)r->worst;
	out->live = (double)r->peak_live;
	out->foot = sh->fp_peak > sh->fp_base ? (double)(sh->fp_peak - sh->fp_base) : 0;
}

/* Median of each figure over the rounds; not ok if any round failed (first reason kept). */
static struct cell summarize(const struct cell *cells, unsigned rounds)
{
	struct cell m;
	double v[7][MAX_ROUNDS];

	memset(&m, 0, sizeof(m));
	m.ok = true;
	for (unsigned i = 0; i < rounds; i++) {
		if (!cells[i].ok) {
			m.ok = false;
			snprintf(m.why, sizeof(m.why), "%s", cells[i].why);
			return m;
		}
		v[0][i] = cells[i].mops;
		v[1][i] = cells[i].ns_pair;
		v[2][i] = cells[i].p999;
		v[3][i] = cells[i].worst;
		v[4][i] = cells[i].live;
		v[5][i] = cells[i].foot;
		v[6][i] = cells[i].outliers;
	}
	m.mops = median(v[0], rounds);
	m.ns_pair = median(v[1], rounds);
	m.p999 = median(v[2], rounds);
	m.worst = median(v[3], rounds); /* sorts v[3] */
	m.worst_min = v[3][0];
	m.live = median(v[4], rounds);
	m.foot = median(v[5], rounds);
	m.outliers = median(v[6], rounds);
	return m;
}

static void print_header(const struct opts *o)
{
	if (o->csv) {
		printf("workload,allocator,status,mops,ns_pair,p999_%s,worst_%s,over_1ms,peak_live,"
		       "footprint,foot_per_live,reason\n",
		       BENCH_TICK_UNIT, BENCH_TICK_UNIT);
		return;
	}
	printf("%-9s %-9s %8s %8s %8s %8s %5s %11s %11s %9s\n", "workload", "allocator", "Mops/s",
	       "ns/a+f", "p99.9", "worst", ">1ms", "peak live", "footprint", "foot/live");
}

static void print_row(const struct opts *o, const char *w, const char *c, const struct cell *m,
		      const char *na)
{
	char live[32], foot[32], ratio[32];

	if (o->csv) {
		if (na || !m->ok)
			printf("%s,%s,n/a,,,,,,,,,\"%s\"\n", w, c, na ? na : m->why);
		else
			printf("%s,%s,ok,%.3f,%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.3f,\n", w, c, m->mops,
			       m->ns_pair, m->p999, m->worst, m->outliers, m->live, m->foot,
			       m->live > 0 ? m->foot / m->live : 0);
		return;
	}
	if (na || !m->ok) {
		printf("%-9s %-9s n/a (%s)\n", w, c, na ? na : m->why);
		return;
	}
	bench_fmt_bytes(live, sizeof(live), m->live);
	if (m->foot > 0) {
		bench_fmt_bytes(foot, sizeof(foot), m->foot);
		snprintf(ratio, sizeof(ratio), "%.2f", m->foot / m->live);
	} else {
		snprintf(foot, sizeof(foot), "-");
		snprintf(ratio, sizeof(ratio), "-");
	}
	printf("%-9s %-9s %8.2f %8.1f %8.0f %8.0f %5.0f %11s %11s %9s\n", w, c, m->mops, m->ns_pair,
	       m->p999, m->worst, m->outliers, live, foot, ratio);
}

static int run_table(const struct opts *o, struct contender *all, size_t nall)
{
	static struct cell cells[MAX_CONTENDERS][MAX_ROUNDS];
	struct contender sel[MAX_CONTENDERS];
	size_t nsel = 0;
	unsigned nw = 0;

	for (size_t i = 0; i < nall; i++)
		if (bench_listed(o->backends, all[i].name))
			sel[nsel++] = all[i];
	if (nsel == 0) {
		fprintf(stderr, "kalloc-bench: no allocator matches --backend %s\n", o->backends);
		return 2;
	}
	print_header(o);
	for (size_t wi = 0; wi < bench_nworkloads; wi++) {
		const struct workload *w = &bench_workloads[wi];
		if (!bench_listed(o->workloads, w->name))
			continue;
		nw++;
		memset(cells, 0, sizeof(cells));
		for (unsigned r = 0; r < o->rounds; r++) {
			uint64_t seed = o->seed + wi * 1000003u + r * 7919u;
			for (size_t k = 0; k < nsel; k++) {
				size_t ci = (k + r) % nsel;
				if (contender_unfit(&sel[ci], w->need))
					continue;
				run_cell(w, &sel[ci], o, o->heap, o->live, seed, &cells[ci][r]);
			}
		}
		for (size_t ci = 0; ci < nsel; ci++) {
			const char *na = contender_unfit(&sel[ci], w->need);
			struct cell m;
			if (!na)
				m = summarize(cells[ci], o->rounds);
			print_row(o, w->name, sel[ci].name, &m, na);
		}
		fflush(stdout);
	}
	if (nw == 0) {
		fprintf(stderr, "kalloc-bench: no workload matches --workload %s\n", o->workloads);
		return 2;
	}
	return 0;
}

/* --heap-sweep: one kalloc backend on heaps of 1 MiB to 1 GiB (each a sparse mapping),
 * the same small workloads on each, rounds rotating over the heap sizes. */
static int run_sweep(const struct opts *o, struct contender *all, size_t nall)
{
	static const size_t heaps[] = {(size_t)1 << 20,	 (size_t)4 << 20,   (size_t)16 << 20,
				       (size_t)64 << 20, (size_t)256 << 20, (size_t)1 << 30};
	enum { NH = sizeof(heaps) / sizeof(heaps[0]) };
	static struct cell cells[NH][MAX_ROUNDS];
	/* Live targets that fit the 1 MiB heap, so every heap runs the very same sequence. */
	static const struct {
		const char *name;
		size_t live;
	} sw[] = {{"small", 300}, {"uniform", 100}};
	const struct contender *c = NULL;
	const char *want = o->backends ? o->backends : "tlsf";

	for (size_t i = 0; i < nall; i++)
		if (all[i].kind == C_KALLOC && bench_listed(want, all[i].name)) {
			c = &all[i];
			break;
		}
	if (!c) {
		fprintf(stderr, "kalloc-bench: --heap-sweep: no kalloc backend named %s\n", want);
		return 2;
	}
	if (o->csv)
		printf("backend,workload,live,heap,status,mops,ns_pair,p999_%s,worst_%s,"
		       "min_worst_%s,over_1ms,reason\n",
		       BENCH_TICK_UNIT, BENCH_TICK_UNIT, BENCH_TICK_UNIT);
	else
		printf("%-8s %-8s %5s %9s %8s %8s %8s %8s %9s %5s\n", "backend", "workload", "live",
		       "heap", "Mops/s", "ns/a+f", "p99.9", "worst", "min-worst", ">1ms");
	for (size_t wi = 0; wi < sizeof(sw) / sizeof(sw[0]); wi++) {
		const struct workload *w = NULL;
		double lo[2] = {1e300, 1e300}, hi[2] = {0, 0};
		bool all_ok = true;
		for (size_t i = 0; i < bench_nworkloads; i++)
			if (strcmp(bench_workloads[i].name, sw[wi].name) == 0)
				w = &bench_workloads[i];
		if (!w || (o->workloads && !bench_listed(o->workloads, w->name)))
			continue;
		size_t live = o->live ? o->live : sw[wi].live;
		const char *na = contender_unfit(c, w->need);
		if (na) {
			if (o->csv)
				printf("%s,%s,%zu,,n/a,,,,,,,\"%s\"\n", c->name, w->name, live, na);
			else
				printf("%-8s %-8s %5zu %9s n/a (%s)\n", c->name, w->name, live, "-",
				       na);
			continue;
		}
		memset(cells, 0, sizeof(cells));
		for (unsigned r = 0; r < o->rounds; r++)
			for (size_t k = 0; k < NH; k++) {
				size_t hi_ = (k + r) % NH;
				run_cell(w, c, o, heaps[hi_], live, o->seed + wi * 1000003u + r,
					 &cells[hi_][r]);
			}
		for (size_t h = 0; h < NH; h++) {
			struct cell m = summarize(cells[h], o->rounds);
			char hb[32];
			bench_fmt_bytes(hb, sizeof(hb), (double)heaps[h]);
			if (!m.ok) {
				all_ok = false;
				if (o->csv)
					printf("%s,%s,%zu,%zu,n/a,,,,,,,\"%s\"\n", c->name, w->name,
					       live, heaps[h], m.why);
				else
					printf("%-8s %-8s %5zu %9s n/a (%s)\n", c->name, w->name,
					       live, hb, m.why);
				continue;
			}
			if (m.p999 < lo[0])
				lo[0] = m.p999;
			if (m.p999 > hi[0])
				hi[0] = m.p999;
			if (m.worst < lo[1])
				lo[1] = m.worst;
			if (m.worst > hi[1])
				hi[1] = m.worst;
			if (o->csv)
				printf("%s,%s,%zu,%zu,ok,%.3f,%.1f,%.0f,%.0f,%.0f,%.0f,\n", c->name,
				       w->name, live, heaps[h], m.mops, m.ns_pair, m.p999, m.worst,
				       m.worst_min, m.outliers);
			else
				printf("%-8s %-8s %5zu %9s %8.2f %8.1f %8.0f %8.0f %9.0f %5.0f\n",
				       c->name, w->name, live, hb, m.mops, m.ns_pair, m.p999,
				       m.worst, m.worst_min, m.outliers);
		}
		/* min-worst has no ratio: it is bimodal (a run either met an interrupt or not). */
		if (!o->csv && all_ok && lo[0] > 0 && lo[1] > 0)
			printf(
			    "%-8s %-8s flatness over heaps (max/min): p99.9 x%.2f, worst x%.2f\n",
			    c->name, w->name, hi[0] / lo[0], hi[1] / lo[1]);
		fflush(stdout);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kalloc-bench [options]\n"
		"  -w, --workload LIST  comma-separated workloads, or all (default)\n"
		"  -r, --rounds N       rounds; each runs every allocator once, order rotated\n"
		"                       (default 5, at most %d); figures are medians\n"
		"  -n, --ops N          timed operations per run (default 100000)\n"
		"  -H, --heap SIZE      kalloc heap per run, e.g. 64M (default), 1G\n"
		"  -b, --backend LIST   comma-separated allocators (kalloc backends, glibc,\n"
		"                       mimalloc), or all (default)\n"
		"  -l, --live N         override each workload's live-block target\n"
		"  -s, --seed N         base random seed (default 1)\n"
		"  -c, --csv            CSV instead of a table\n"
		"  -S, --heap-sweep     one backend (--backend, default tlsf) on heaps of\n"
		"                       1 MiB..1 GiB: are worst and p99.9 flat? (defaults\n"
		"                       to 99 rounds of 20000 ops)\n"
		"      --stats          keep kalloc statistics during runs (default off)\n"
		"      --in-process     run everything in this process instead of one fork()\n"
		"                       per run (glibc then carries state between runs)\n"
		"  -L, --list           list workloads and allocators, then exit\n"
		"  -h, --help           this text\n"
		"also: kalloc-bench threads [--ops N] [--reps R]  the per-CPU cache on 1 and 2 "
		"threads\n"
		"also: kalloc-bench slots [--steps N] [--workload S|M|all] [--backends LIST]\n"
		"      the random slot workloads S and M (kalloc-bench slots --help)\n",
		MAX_ROUNDS);
}

static void list_all(struct contender *all, size_t nall)
{
	printf("workloads:\n");
	for (size_t i = 0; i < bench_nworkloads; i++)
		printf("  %-9s %s\n", bench_workloads[i].name, bench_workloads[i].desc);
	printf("allocators:\n");
	for (size_t i = 0; i < nall; i++)
		printf("  %-9s %s\n", all[i].name,
		       all[i].kind == C_KALLOC ? all[i].kb->desc
		       : all[i].kind == C_GLIBC
			   ? "the C library's malloc (glibc ptmalloc2), called through libc.so.6"
			   : "mimalloc from libmimalloc-dev, mi_malloc/mi_free/mi_realloc");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"workload", required_argument, NULL, 'w'}, {"rounds", required_argument, NULL, 'r'},
	    {"ops", required_argument, NULL, 'n'},	{"heap", required_argument, NULL, 'H'},
	    {"backend", required_argument, NULL, 'b'},	{"live", required_argument, NULL, 'l'},
	    {"seed", required_argument, NULL, 's'},	{"csv", no_argument, NULL, 'c'},
	    {"heap-sweep", no_argument, NULL, 'S'},	{"stats", no_argument, NULL, 1},
	    {"in-process", no_argument, NULL, 2},	{"list", no_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0},
	};
	struct opts o = {NULL, NULL, 5, 100000, (size_t)64 << 20, 0, 1, false, false, false, false};
	struct contender all[MAX_CONTENDERS];
	size_t nall = contenders_all(all, MAX_CONTENDERS);
	bool list = false, set_rounds = false, set_ops = false;
	char *end;
	int ch, rc;

	/* `kalloc-bench replay FILE ...` replays a recorded trace (replay.c) instead. */
	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return bench_replay_main(argc - 1, argv + 1);
	/* `kalloc-bench threads ...`: the cache adapter on 1 and 2 threads (threads.c). */
	if (argc > 1 && strcmp(argv[1], "threads") == 0)
		return bench_threads_main(argc - 1, argv + 1);
	/* `kalloc-bench slots ...`: the random slot workloads S and M (slots.c). */
	if (argc > 1 && strcmp(argv[1], "slots") == 0)
		return bench_slots_main(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "w:r:n:H:b:l:s:cSLh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			o.workloads = optarg;
			break;
		case 'r':
			o.rounds = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.rounds == 0 || o.rounds > MAX_ROUNDS) {
				fprintf(stderr, "kalloc-bench: --rounds: 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			set_rounds = true;
			break;
		case 'n':
			o.ops = strtoull(optarg, &end, 10);
			if (*end || o.ops == 0) {
				fprintf(stderr, "kalloc-bench: --ops: a positive count\n");
				return 2;
			}
			set_ops = true;
			break;
		case 'H':
			if (!bench_parse_size(optarg, &o.heap)) {
				fprintf(stderr, "kalloc-bench: --heap: a size such as 64M\n");
				return 2;
			}
			break;
		case 'b':
			o.backends = optarg;
			break;
		case 'l':
			o.live = (size_t)strtoull(optarg, &end, 10);
			if (*end || o.live < 4) {
				fprintf(stderr, "kalloc-bench: --live: at least 4\n");
				return 2;
			}
			break;
		case 's':
			o.seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "kalloc-bench: --seed: a number\n");
				return 2;
			}
			break;
		case 'c':
			o.csv = true;
			break;
		case 'S':
			o.sweep = true;
			break;
		case 1:
			o.stats = true;
			break;
		case 2:
			o.in_process = true;
			break;
		case 'L':
			list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kalloc-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (list) {
		list_all(all, nall);
		return 0;
	}
	bool any = false;
	for (size_t i = 0; i < bench_nworkloads; i++)
		any |= bench_listed(o.workloads, bench_workloads[i].name);
	if (!any) {
		fprintf(stderr, "kalloc-bench: no workload matches --workload %s (see --list)\n",
			o.workloads);
		return 2;
	}
	/* The sweep's worst and p99.9 need many short runs on a shared or virtual machine:
	 * long runs nearly all contain a timer interrupt or a preemption, whose cost then is
	 * the worst; very short ones make p99.9 a handful of samples (docs/bench.md). */
	if (o.sweep && !set_rounds)
		o.rounds = 99;
	if (o.sweep && !set_ops)
		o.ops = 20000;
	bench_timing_init();
	bench_glibc_resolve();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("kalloc-bench: mmap");
		return 2;
	}
	double t0 = bench_now_s();
	if (!o.csv) {
		char hb[32];
		bench_fmt_bytes(hb, sizeof(hb), (double)o.heap);
		printf("kalloc-bench: %u rounds (medians), %llu timed ops per run, kalloc heap %s"
		       "%s, mimalloc %s\n",
		       o.rounds, (unsigned long long)o.ops, hb, o.stats ? " with stats" : "",
		       bench_have_mimalloc() ? "linked" : "not built");
		printf("ticks: %s, %.3f per ns, timer overhead %llu subtracted per sample\n",
		       BENCH_TICK_UNIT, bench_ticks_per_ns(),
		       (unsigned long long)bench_tick_overhead());
	}
	rc = o.sweep ? run_sweep(&o, all, nall) : run_table(&o, all, nall);
	if (!o.csv)
		printf(
		    "elapsed %.1f s; %llu of %llu timed calls took over 1 ms (preemption) and are"
		    " left out of Mops/s, ns/a+f and worst\n",
		    bench_now_s() - t0, (unsigned long long)total_outliers,
		    (unsigned long long)total_ops);
	return rc;
}
