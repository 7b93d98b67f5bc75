/* SPDX-License-Identifier: MIT */
/*
 * `kalloc-bench replay FILE`: replay a KALLOC_TRACE recording (docs/trace.md) on every
 * contender of this build (kalloc backends, glibc, mimalloc) and print, per contender: the
 * time spent in the allocator, operations per second, p99.9 and worst latency, peak
 * footprint against peak live bytes, and failed requests.
 *
 * The trace is decoded once, before any run, into an array of operations on object ids
 * (replay_trace.c), so a replay is a loop over that array with one pointer table: no
 * lookups, no parsing. Each contender runs in a fresh fork() (as the bench's own workloads
 * do, bench.c), single-threaded, in the recording's total order; every call is timed on its
 * own, every block is written to (one byte per page and its last byte) as the program would.
 *
 * With --out DIR the runs also write, for the report (bench/trace/report.py): time series of
 * live bytes and footprint, the latency histogram, and, for kalloc backends that can walk
 * their heap, the heap's used/free layout at its fragmentation peak: of the moments when at
 * least half the trace's peak of live bytes is live, the one when the most touched memory
 * lies in free holes between used blocks (holes()).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../shim/trace_format.h"
#include "bench.h"
#include "replay.h"

#ifndef KA_BENCH_MIMALLOC
#define KA_BENCH_MIMALLOC 0
#endif
#if KA_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

#define MAX_C 32

struct ropts {
	const char *file, *backends, *out;
	size_t heap;
	unsigned points;
	bool quiet, csv, in_process;
};

/* What one contender's run hands back (MAP_SHARED, written by the child). */
struct rres {
	bool ran, ok;
	char why[96];
	uint64_t ops, calls, outliers, failed;
	uint64_t ticks; /* allocator time, outliers left out */
	uint64_t p999, worst;
	uint64_t peak_live, footprint;
	double wall; /* seconds for the whole replay loop (harness included) */
	size_t heap;
};

/* A point of the time series. */
struct point {
	uint64_t op, time, live, foot, frag;
};

/* A block of a layout snapshot, relative to the heap's base. */
struct lblock {
	uint64_t off, size;
	uint8_t used;
};

struct layout {
	struct lblock *b;
	size_t n, cap;
	uint64_t base;
	bool overflow;
};

/* ---- aligned allocation per contender (the call table has none) ------------------------ */

static void *(*g_memalign)(size_t, size_t);

static void resolve_memalign(void)
{
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);

	if (h)
		g_memalign = (void *(*)(size_t, size_t))dlsym(h, "memalign");
	if (!g_memalign)
		g_memalign = memalign;
}

static void *aligned_alloc_on(struct session *s, size_t align, size_t n)
{
	switch (s->c->kind) {
	case C_KALLOC:
		return ka_memalign(s->ctx, align, n);
	case C_GLIBC:
		return g_memalign(align, n);
	case C_MIMALLOC:
#if KA_BENCH_MIMALLOC
		return mi_malloc_aligned(n, align);
#else
		break;
#endif
	}
	return NULL;
}

/* ---- footprint now --------------------------------------------------------------------- */

static unsigned char *mc_vec;
static size_t mc_len, mc_page = 4096;

/* kalloc: bytes of the heap mapping touched so far (the measure contender_end() takes). */
static uint64_t resident(const struct session *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (s->heap_len + page - 1) / page;
	uint64_t r = 0;

	mc_page = page;
	if (n > mc_len) {
		if (mc_vec)
			bench_scratch_free(mc_vec, mc_len);
		mc_len = n;
		mc_vec = bench_scratch(n);
	}
	if (mincore(s->mem, s->heap_len, mc_vec) == 0)
		for (size_t i = 0; i < n; i++)
			r += mc_vec[i] & 1;
	return r * page;
}

/* The contender's footprint now, in bytes above its start. glibc and mimalloc: through
 * contender_sample(), which keeps the peak, so it is asked from a zero peak. */
static uint64_t footprint_now(struct session *s)
{
	size_t peak, now;

	if (s->c->kind == C_KALLOC)
		return resident(s);
	peak = s->fp_peak;
	s->fp_peak = 0;
	contender_sample(s);
	now = s->fp_peak;
	s->fp_peak = now > peak ? now : peak;
	return now > s->fp_base ? now - s->fp_base : 0;
}

/* ---- layout snapshots -------------------------------------------------------------------- */

static int walk_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct layout *l = arg;

	if ((l->n + 1) * sizeof(*l->b) > l->cap) {
		void *p = rt_grow(l->b, &l->cap, (l->n + 1) * sizeof(*l->b));
		if (!p) {
			l->overflow = true;
			return 1;
		}
		l->b = p;
	}
	l->b[l->n++] = (struct lblock){(uint64_t)(uintptr_t)ptr - l->base, size, used};
	return 0;
}

/* Resident bytes of [off, off+n) of the heap, from the page map resident() last filled. */
static uint64_t resident_in(uint64_t off, uint64_t n)
{
	const uint64_t page = mc_page;
	uint64_t r = 0;

	for (uint64_t a = off; a < off + n;) {
		uint64_t pg = a / page, end = (pg + 1) * page;
		if (end > off + n)
			end = off + n;
		if (pg < mc_len && (mc_vec[pg] & 1))
			r += end - a;
		a = end;
	}
	return r;
}

/* Fragmentation of a walked heap: free bytes in holes (free blocks with used blocks on both
 * sides) that lie on pages the program has touched: memory paid for that the heap can only
 * reuse for requests that fit the holes. Untouched free space (a buddy heap's unsplit
 * halves, the wilderness) does not count. */
static uint64_t holes(const struct layout *l)
{
	size_t first = l->n, last = 0;
	uint64_t sum = 0;

	for (size_t i = 0; i < l->n; i++)
		if (l->b[i].used) {
			if (first == l->n)
				first = i;
			last = i;
		}
	for (size_t i = first; i < last; i++)
		if (!l->b[i].used)
			sum += resident_in(l->b[i].off, l->b[i].size);
	return sum;
}

/* ---- one run ----------------------------------------------------------------------------- */

static void touch(void *p, size_t n)
{
	unsigned char *b = p;

	if (n == 0)
		return;
	b[0] = 1;
	for (size_t i = 4096; i < n; i += 4096)
		b[i] = 1;
	b[n - 1] = 1;
}

struct run {
	const struct ropts *o;
	const struct rt_trace *t;
	struct session *s;
	struct rres *res;
	struct hist *h;
	struct point *pts;
	size_t npts, maxpts;
	struct layout snap, best;
	uint64_t best_frag, best_op, best_live;
	double walk_s, t0; /* time spent walking; start of the loop */
	double samp_s;	   /* time spent in contender_sample() */
};

/* Footprint samples for the peak (glibc, mimalloc; kalloc's is measured at the end) as the
 * bench's workloads take them, but within 10% of the replay's time: glibc's mallinfo2() walks
 * every free chunk, which on a long trace would otherwise dominate the replay. */
static void peak_sample(struct run *x)
{
	double t;

	if (x->s->c->kind == C_KALLOC)
		return;
	t = bench_now_s();
	if (x->samp_s > 0.1 * (t - x->t0) + 0.05)
		return;
	contender_sample(x->s);
	x->samp_s += bench_now_s() - t;
}

static void sample(struct run *x, size_t i, uint64_t live)
{
	struct point *p;
	uint64_t frag;

	if (x->npts >= x->maxpts)
		return;
	p = &x->pts[x->npts++];
	p->op = i;
	p->time = i < x->t->nops ? x->t->ops[i].time : x->t->duration;
	p->live = live;
	p->foot = footprint_now(x->s);
	p->frag = 0;
	/* Fragmentation (holes(), after footprint_now() filled the page map), from a walk of
	 * the heap. Walks are O(blocks), so they get at most about half the replay's own time
	 * (plus 0.2 s): long traces with many live blocks walk at fewer points. */
	if (x->s->c->kind == C_KALLOC && (x->s->c->kb->caps & KA_CAP_WALK)) {
		double w0 = bench_now_s();
		if (x->walk_s > 0.5 * (w0 - x->t0 - x->walk_s) + 0.2 && i < x->t->nops)
			return;
		x->snap.n = 0;
		x->snap.overflow = false;
		x->snap.base = (uint64_t)(uintptr_t)x->s->mem;
		if (ka_walk(x->s->ctx, walk_cb, &x->snap) == 0 && !x->snap.overflow) {
			frag = p->frag = holes(&x->snap);
			/* Under load only: at teardown every heap is mostly holes. */
			if (frag > x->best_frag && 2 * live >= x->t->peak_live) {
				struct layout tmp = x->best;
				x->best = x->snap;
				x->snap = tmp;
				x->best_frag = frag;
				x->best_op = i;
				x->best_live = live;
			}
		}
		x->walk_s += bench_now_s() - w0;
	}
}

static void progress(const struct run *x, size_t i, double t0, bool done)
{
	double el = bench_now_s() - t0;

	if (x->o->quiet)
		return;
	if (done) {
		if (isatty(2))
			fprintf(stderr, "\r%-70s\r", "");
		return;
	}
	fprintf(stderr, "\rreplay %s: %5.1f%% of %zu ops, %.1f s, %.2f M ops/s  ", x->s->c->name,
		100.0 * (double)i / (double)x->t->nops, x->t->nops, el, (double)i / el / 1e6);
	if (!isatty(2))
		fputc('\n', stderr);
}

static void replay_loop(struct run *x)
{
	const struct rt_trace *t = x->t;
	const struct api *api = x->s->api;
	struct session *s = x->s;
	struct rres *r = x->res;
	void *ctx = s->ctx;
	void **ptr = bench_scratch((size_t)t->nobjs * sizeof(void *) + 8);
	uint64_t *sz = bench_scratch((size_t)t->nobjs * sizeof(uint64_t) + 8);
	uint64_t ovh = bench_tick_overhead(), outl = bench_outlier_ticks(), live = 0;
	size_t every = x->maxpts > 1 ? t->nops / (x->maxpts - 1) + 1 : 0, since = 0;
	double t0 = bench_now_s(), next = t0 + 1.0;
	bool showed = false;

	x->t0 = t0;

	for (size_t i = 0; i < t->nops; i++) {
		const struct rt_op *o = &t->ops[i];
		void *p = NULL, *q;
		uint64_t a, b, dt;

		if (every && i % every == 0)
			sample(x, i, live);
		if ((i & 0xffff) == 0xffff && !x->o->quiet && bench_now_s() >= next) {
			progress(x, i, t0, false);
			showed = true;
			next = bench_now_s() + (isatty(2) ? 0.5 : 5.0);
		}
		switch (o->op) {
		case KT_MALLOC:
		case KT_CALLOC:
			a = bench_tick();
			p = api->malloc(ctx, o->size);
			b = bench_tick();
			break;
		case KT_ALIGNED:
			a = bench_tick();
			p = aligned_alloc_on(s, (size_t)1 << o->align_log, o->size);
			b = bench_tick();
			break;
		case KT_FREE:
			if (!ptr[o->id])
				continue; /* its allocation failed here */
			a = bench_tick();
			api->free(ctx, ptr[o->id]);
			b = bench_tick();
			ptr[o->id] = NULL;
			live -= sz[o->id];
			break;
		case KT_REALLOC:
			a = bench_tick();
			q = ptr[o->id] ? api->realloc(ctx, ptr[o->id], o->size)
				       : api->malloc(ctx, o->size);
			b = bench_tick();
			if (!q) {
				r->failed++;
				break;
			}
			if (o->size > sz[o->id] || !ptr[o->id])
				touch(q, o->size);
			if (ptr[o->id])
				live -= sz[o->id];
			ptr[o->id] = q;
			sz[o->id] = o->size;
			live += o->size;
			break;
		default:
			continue;
		}
		if (o->op == KT_MALLOC || o->op == KT_CALLOC || o->op == KT_ALIGNED) {
			if (!p) {
				r->failed++;
			} else {
				touch(p, o->size);
				ptr[o->id] = p;
				sz[o->id] = o->size;
				live += o->size;
			}
		}
		dt = b - a;
		dt = dt > ovh ? dt - ovh : 0;
		hist_add(x->h, dt);
		r->ops++;
		if (dt >= outl) {
			r->outliers++;
		} else {
			r->ticks += dt;
			r->calls++;
			if (dt > r->worst)
				r->worst = dt;
		}
		if (live > r->peak_live) {
			r->peak_live = live;
			if (++since >= 16) {
				peak_sample(x);
				since = 0;
			}
		} else if (++since >= 256) {
			peak_sample(x);
			since = 0;
		}
	}
	if (every)
		sample(x, t->nops, live);
	r->wall = bench_now_s() - t0;
	if (showed)
		progress(x, t->nops, t0, true);
	/* What the program left allocated stays so: the footprint is measured as it ends. */
	bench_scratch_free(ptr, (size_t)t->nobjs * sizeof(void *) + 8);
	bench_scratch_free(sz, (size_t)t->nobjs * sizeof(uint64_t) + 8);
}

/* ---- output files ------------------------------------------------------------------------ */

static FILE *open_out(const struct ropts *o, const char *what, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s%s%s.csv", o->out, what, name ? "-" : "",
		 name ? name : "");
	f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "kalloc-bench replay: cannot write %s: %s\n", path,
			strerror(errno));
	return f;
}

static void write_files(struct run *x)
{
	const char *name = x->s->c->name;
	double tpn = bench_ticks_per_ns();
	FILE *f;

	if ((f = open_out(x->o, "series", name))) {
		fprintf(f, "op,time_ns,live,footprint,frag\n");
		for (size_t i = 0; i < x->npts; i++)
			fprintf(
			    f, "%llu,%llu,%llu,%llu,%llu\n", (unsigned long long)x->pts[i].op,
			    (unsigned long long)x->pts[i].time, (unsigned long long)x->pts[i].live,
			    (unsigned long long)x->pts[i].foot, (unsigned long long)x->pts[i].frag);
		fclose(f);
	}
	if ((f = open_out(x->o, "hist", name))) {
		/* 8 buckets per power of two; the exact part of struct hist is folded in. */
		static uint64_t cnt[64][8];
		memset(cnt, 0, sizeof(cnt));
		for (uint64_t v = 0; v < HIST_EXACT; v++) {
			unsigned e = v ? 63u - (unsigned)__builtin_clzll(v) : 0;
			unsigned sub = e >= 3 ? (unsigned)(v >> (e - 3)) & 7 : 0;
			cnt[e][sub] += x->h->exact[v];
		}
		for (unsigned e = 12; e < HIST_POW; e++)
			for (unsigned sb = 0; sb < HIST_SUB; sb++)
				cnt[e][sb / 4] += x->h->log[e][sb];
		fprintf(f, "lo_ns,hi_ns,count\n");
		for (unsigned e = 0; e < 64; e++)
			for (unsigned sb = 0; sb < 8; sb++) {
				double lo, hi;
				if (!cnt[e][sb])
					continue;
				if (e < 3) {
					lo = (double)((uint64_t)1 << e);
					hi = lo * 2;
					if (e == 0)
						lo = 0;
				} else {
					lo = (double)(((uint64_t)1 << e) |
						      ((uint64_t)sb << (e - 3)));
					hi = lo + (double)((uint64_t)1 << (e - 3));
				}
				fprintf(f, "%.2f,%.2f,%llu\n", lo / tpn, hi / tpn,
					(unsigned long long)cnt[e][sb]);
			}
		fclose(f);
	}
	if (x->best.n && (f = open_out(x->o, "layout", name))) {
		fprintf(f, "# op=%llu live=%llu frag=%llu heap=%zu\n",
			(unsigned long long)x->best_op, (unsigned long long)x->best_live,
			(unsigned long long)x->best_frag, x->s->heap_len);
		fprintf(f, "offset,size,used\n");
		for (size_t i = 0; i < x->best.n; i++)
			fprintf(f, "%llu,%llu,%u\n", (unsigned long long)x->best.b[i].off,
				(unsigned long long)x->best.b[i].size, x->best.b[i].used);
		fclose(f);
	}
}

/* The kalloc heap: room for 4x the trace's peak, a power of two (buddy wants one), 64 MiB at
 * least. The mapping is sparse (MAP_NORESERVE): only what the backend touches costs memory. */
static size_t auto_heap(const struct rt_trace *t)
{
	size_t h = (size_t)64 << 20;

	while (h < 4 * t->peak_live + ((size_t)16 << 20) && h < ((size_t)1 << 40))
		h <<= 1;
	return h;
}

static void run_one(const struct ropts *o, const struct rt_trace *t, const struct contender *c,
		    struct rres *res, struct hist *h)
{
	struct session s;
	const char *why = NULL;
	struct run x;

	memset(&x, 0, sizeof(x));
	hist_clear(h);
	res->heap = o->heap ? o->heap : auto_heap(t);
	if (!contender_begin(&s, c, res->heap, false, &why)) {
		snprintf(res->why, sizeof(res->why), "%s", why);
		return;
	}
	x.o = o;
	x.t = t;
	x.s = &s;
	x.res = res;
	x.h = h;
	if (o->out) {
		x.maxpts = o->points + 2;
		x.pts = bench_scratch(x.maxpts * sizeof(*x.pts));
	}
	replay_loop(&x);
	contender_end(&s);
	res->footprint = s.fp_peak > s.fp_base ? s.fp_peak - s.fp_base : 0;
	res->p999 = hist_quantile(h, 0.999);
	res->ok = true;
	if (o->out)
		write_files(&x);
}

/* ---- the table ------------------------------------------------------------------------- */

static void print_row(const struct ropts *o, const char *name, const struct rres *r)
{
	double tpn = bench_ticks_per_ns(), secs = (double)r->ticks / tpn * 1e-9;
	char live[32], foot[32];

	if (o->csv) {
		if (!r->ok)
			printf("%s,n/a,,,,,,,,,,\"%s\"\n", name, r->why);
		else
			printf("%s,ok,%llu,%.6f,%.3f,%.1f,%.1f,%llu,%llu,%.3f,%llu,%.3f,\n", name,
			       (unsigned long long)r->ops, secs,
			       secs > 0 ? (double)r->calls / secs / 1e6 : 0, (double)r->p999 / tpn,
			       (double)r->worst / tpn, (unsigned long long)r->peak_live,
			       (unsigned long long)r->footprint,
			       r->peak_live ? (double)r->footprint / (double)r->peak_live : 0,
			       (unsigned long long)r->failed,
			       r->wall > 0 ? (double)r->ops / r->wall / 1e6 : 0);
		return;
	}
	if (!r->ok) {
		printf("%-9s n/a (%s)\n", name, r->why);
		return;
	}
	bench_fmt_bytes(live, sizeof(live), (double)r->peak_live);
	bench_fmt_bytes(foot, sizeof(foot), (double)r->footprint);
	printf("%-9s %9.4f %8.2f %9.0f %9.0f %11s %11s %7.2f %8llu %8.2f\n", name, secs,
	       secs > 0 ? (double)r->calls / secs / 1e6 : 0, (double)r->p999 / tpn,
	       (double)r->worst / tpn, live, foot,
	       r->peak_live ? (double)r->footprint / (double)r->peak_live : 0,
	       (unsigned long long)r->failed, r->wall > 0 ? (double)r->ops / r->wall / 1e6 : 0);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kalloc-bench replay FILE [options]\n"
		"Replays a KALLOC_TRACE recording (docs/trace.md) on every allocator.\n"
		"  -b, --backend LIST  comma-separated allocators (kalloc backends, glibc,\n"
		"                      mimalloc), or all (default)\n"
		"  -H, --heap SIZE     kalloc heap per run (default: 4x the peak live bytes,\n"
		"                      a power of two, at least 64M)\n"
		"  -o, --out DIR       write summary, time series, latency histograms and heap\n"
		"                      layouts there for bench/trace/report.py\n"
		"  -p, --points N      time-series points per allocator with --out (default 1000)\n"
		"  -c, --csv           CSV instead of the table\n"
		"  -q, --quiet         no progress on stderr\n"
		"      --in-process    no fork() per allocator (glibc then carries state over)\n"
		"  -h, --help          this text\n");
}

static void print_trace(const struct ropts *o, const struct rt_trace *t)
{
	char live[32];

	bench_fmt_bytes(live, sizeof(live), (double)t->peak_live);
	fprintf(o->csv ? stderr : stdout,
		"trace %s: pid %u, %zu ops (%llu malloc, %llu calloc, %llu aligned, %llu free, "
		"%llu realloc), %u objects, %llu threads, peak live %s, %.3f s recorded\n",
		o->file, t->pid, t->nops, (unsigned long long)t->by_op[KT_MALLOC],
		(unsigned long long)t->by_op[KT_CALLOC], (unsigned long long)t->by_op[KT_ALIGNED],
		(unsigned long long)t->by_op[KT_FREE], (unsigned long long)t->by_op[KT_REALLOC],
		t->nobjs, (unsigned long long)t->threads, live, (double)t->duration * 1e-9);
	if (t->unknown_free || t->unknown_realloc || t->reused_live || t->corrupt_chunks ||
	    t->truncated)
		fprintf(o->csv ? stderr : stdout,
			"trace repairs: %llu frees and %llu reallocs of unknown blocks, %llu "
			"reuses of live addresses, %llu corrupt chunks%s\n",
			(unsigned long long)t->unknown_free, (unsigned long long)t->unknown_realloc,
			(unsigned long long)t->reused_live, (unsigned long long)t->corrupt_chunks,
			t->truncated ? ", truncated" : "");
}

static void write_summary(const struct ropts *o, const struct rt_trace *t,
			  const struct contender *sel, size_t n, const struct rres *res)
{
	FILE *f = open_out(o, "summary", NULL);
	double tpn = bench_ticks_per_ns();

	if (!f)
		return;
	fprintf(f, "# trace=%s ops=%zu objects=%u threads=%llu peak_live=%llu duration_ns=%llu\n",
		o->file, t->nops, t->nobjs, (unsigned long long)t->threads,
		(unsigned long long)t->peak_live, (unsigned long long)t->duration);
	fprintf(f, "allocator,status,ops,alloc_seconds,mops,p999_ns,worst_ns,peak_live,"
		   "footprint,failed,replay_mops,heap,reason\n");
	for (size_t i = 0; i < n; i++) {
		const struct rres *r = &res[i];
		double secs = (double)r->ticks / tpn * 1e-9;
		if (!r->ok) {
			fprintf(f, "%s,n/a,,,,,,,,,,,\"%s\"\n", sel[i].name, r->why);
			continue;
		}
		fprintf(f, "%s,ok,%llu,%.6f,%.3f,%.1f,%.1f,%llu,%llu,%llu,%.3f,%zu,\n", sel[i].name,
			(unsigned long long)r->ops, secs,
			secs > 0 ? (double)r->calls / secs / 1e6 : 0, (double)r->p999 / tpn,
			(double)r->worst / tpn, (unsigned long long)r->peak_live,
			(unsigned long long)r->footprint, (unsigned long long)r->failed,
			r->wall > 0 ? (double)r->ops / r->wall / 1e6 : 0, r->heap);
	}
	fclose(f);
}

int bench_replay_main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"backend", required_argument, NULL, 'b'},
	    {"heap", required_argument, NULL, 'H'},
	    {"out", required_argument, NULL, 'o'},
	    {"points", required_argument, NULL, 'p'},
	    {"csv", no_argument, NULL, 'c'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"in-process", no_argument, NULL, 1},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ropts o = {.points = 1000};
	struct contender all[MAX_C], sel[MAX_C];
	size_t nall = contenders_all(all, MAX_C), nsel = 0;
	struct rt_trace t;
	struct rres *res;
	struct hist *h;
	char err[256], *end;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "b:H:o:p:cqh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o.backends = optarg;
			break;
		case 'H':
			if (!bench_parse_size(optarg, &o.heap)) {
				fprintf(stderr,
					"kalloc-bench replay: --heap: a size such as 256M\n");
				return 2;
			}
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'p':
			o.points = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o.points < 2 || o.points > 1000000) {
				fprintf(stderr, "kalloc-bench replay: --points: 2..1000000\n");
				return 2;
			}
			break;
		case 'c':
			o.csv = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 1:
			o.in_process = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o.file = argv[optind];
	for (size_t i = 0; i < nall; i++)
		if (bench_listed(o.backends, all[i].name))
			sel[nsel++] = all[i];
	if (nsel == 0) {
		fprintf(stderr, "kalloc-bench replay: no allocator matches --backend %s\n",
			o.backends);
		return 2;
	}
	if (o.out && mkdir(o.out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "kalloc-bench replay: cannot create %s: %s\n", o.out,
			strerror(errno));
		return 2;
	}
	if (rt_load(o.file, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "kalloc-bench replay: %s\n", err);
		return 2;
	}
	bench_timing_init();
	bench_glibc_resolve();
	resolve_memalign();
	print_trace(&o, &t);
	res = mmap(NULL, sizeof(*res) * MAX_C, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		   -1, 0);
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED || h == MAP_FAILED) {
		perror("kalloc-bench replay: mmap");
		return 2;
	}
	memset(res, 0, sizeof(*res) * MAX_C);
	if (o.csv)
		printf("allocator,status,ops,alloc_seconds,mops,p999_ns,worst_ns,peak_live,"
		       "footprint,foot_per_live,failed,replay_mops,reason\n");
	else
		printf("%-9s %9s %8s %9s %9s %11s %11s %7s %8s %8s\n", "allocator", "alloc s",
		       "Mops/s", "p99.9 ns", "worst ns", "peak live", "footprint", "ft/live",
		       "failed", "replay/s");
	for (size_t i = 0; i < nsel; i++) {
		struct rres *r = &res[i];
		const char *na = contender_unfit(&sel[i], KA_CAP_FREE | KA_CAP_ANYSIZE);
		r->ran = true;
		if (na) {
			snprintf(r->why, sizeof(r->why), "%s", na);
		} else if (o.in_process) {
			run_one(&o, &t, &sel[i], r, h);
		} else {
			int st = 0;
			pid_t pid;
			fflush(stdout);
			fflush(stderr);
			snprintf(r->why, sizeof(r->why), "run did not finish");
			pid = fork();
			if (pid == 0) {
				r->why[0] = '\0';
				run_one(&o, &t, &sel[i], r, h);
				fflush(NULL);
				_exit(0);
			}
			while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			if (pid < 0)
				snprintf(r->why, sizeof(r->why), "fork failed");
			else if (WIFSIGNALED(st))
				snprintf(r->why, sizeof(r->why), "crashed with signal %d (%s)",
					 WTERMSIG(st), strsignal(WTERMSIG(st)));
		}
		print_row(&o, sel[i].name, r);
		fflush(stdout);
	}
	if (o.out)
		write_summary(&o, &t, sel, nsel, res);
	if (!o.csv)
		printf("alloc s: time in allocator calls; Mops/s: calls per second of it; "
		       "replay/s: whole replay loop, M ops/s; footprint: peak above start\n");
	rt_release(&t);
	return 0;
}
