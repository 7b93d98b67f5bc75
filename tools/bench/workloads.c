/* SPDX-License-Identifier: MIT */
/*
 * kalloc-bench workloads. Each one drives a contender through struct api with a seeded
 * random sequence (the same for every contender of a round), times every allocator call on
 * its own, writes into every page of every block it gets (as a program would, and so that
 * the page-based footprint sees it), and tracks the bytes requested and live.
 *
 * Only the steady state is timed: every workload first runs a quarter of its operations
 * untimed (the churn workloads after filling up to their live target), so that first-touch
 * page faults of a fresh heap mostly fall outside the timed part.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench.h"

struct wctx {
	struct session *s;
	const struct api *api;
	void *c;
	struct hist *h;
	struct result *r;
	uint64_t ovh, outlier;
	uint64_t rng;
	uint64_t since_sample;
	size_t live;
	bool timed;
};

static inline uint64_t rnd(struct wctx *x)
{
	/* xorshift64*: fast, and good enough to pick sizes and victims. */
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 0x2545f4914f6cdd1dULL;
}

static inline size_t between(struct wctx *x, size_t lo, size_t hi)
{
	return lo + (size_t)(rnd(x) % (hi - lo + 1));
}

static inline void account(struct wctx *x, uint64_t dt, uint64_t *sum, uint64_t *count)
{
	if (!x->timed)
		return;
	dt = dt > x->ovh ? dt - x->ovh : 0;
	hist_add(x->h, dt);
	x->r->ops++;
	if (dt >= x->outlier) {
		x->r->outliers++;
		return;
	}
	*sum += dt;
	(*count)++;
	if (dt > x->r->worst)
		x->r->worst = dt;
}

/* Write one byte per page and the last byte: the block is really used, and every page it
 * spans becomes resident. The first byte holds a tag the realloc workload checks. */
static void touch(void *p, size_t n, unsigned char tag)
{
	unsigned char *b = p;

	b[0] = tag;
	for (size_t i = 4096; i < n; i += 4096)
		b[i] = tag;
	b[n - 1] = tag;
}

static void note_live(struct wctx *x, size_t plus, size_t minus)
{
	x->live = x->live + plus - minus;
	/* Footprint samples at new peaks of live bytes (at most every 16 operations) and
	 * every 256 operations: the footprint can peak after the live bytes do
	 * (fragmentation). */
	x->since_sample++;
	if (x->live > x->r->peak_live) {
		x->r->peak_live = x->live;
		if (x->since_sample >= 16) {
			contender_sample(x->s);
			x->since_sample = 0;
		}
	} else if (x->since_sample >= 256) {
		contender_sample(x->s);
		x->since_sample = 0;
	}
}

static void *w_alloc(struct wctx *x, size_t n, unsigned char tag)
{
	uint64_t t0 = bench_tick();
	void *p = x->api->malloc(x->c, n);
	uint64_t t1 = bench_tick();

	account(x, t1 - t0, &x->r->t_alloc, &x->r->n_alloc);
	if (!p)
		return NULL;
	touch(p, n, tag);
	note_live(x, n, 0);
	return p;
}

static void w_free(struct wctx *x, void *p, size_t n)
{
	uint64_t t0 = bench_tick();
	x->api->free(x->c, p);
	uint64_t t1 = bench_tick();

	account(x, t1 - t0, &x->r->t_free, &x->r->n_free);
	note_live(x, 0, n);
}

static void *w_realloc(struct wctx *x, void *p, size_t old, size_t n)
{
	uint64_t t0 = bench_tick();
	void *q = x->api->realloc(x->c, p, n);
	uint64_t t1 = bench_tick();

	account(x, t1 - t0, &x->r->t_realloc, &x->r->n_realloc);
	if (q)
		note_live(x, n, old);
	return q;
}

static void fail(struct wctx *x, const char *what, size_t n)
{
	x->r->ok = false;
	snprintf(x->r->why, sizeof(x->r->why), "%s at %zu B after %llu ops", what, n,
		 (unsigned long long)x->r->ops);
}

/* A table of live blocks (from mmap, so it never shows in glibc's figures). */
struct table {
	void **p;
	size_t *n;
	size_t count, cap;
};

static void table_init(struct table *t, size_t cap)
{
	t->p = bench_scratch(cap * sizeof(void *));
	t->n = bench_scratch(cap * sizeof(size_t));
	t->count = 0;
	t->cap = cap;
}

/* Free every block left (untimed) and release the table. */
static void table_drain(struct wctx *x, struct table *t)
{
	x->timed = false;
	while (t->count) {
		t->count--;
		if (t->p[t->count])
			w_free(x, t->p[t->count], t->n[t->count]);
	}
	bench_scratch_free(t->p, t->cap * sizeof(void *));
	bench_scratch_free(t->n, t->cap * sizeof(size_t));
}

static void begin(struct wctx *x, struct session *s, uint64_t seed, struct hist *h,
		  struct result *r)
{
	memset(x, 0, sizeof(*x));
	memset(r, 0, sizeof(*r));
	hist_clear(h);
	x->s = s;
	x->api = s->api;
	x->c = s->ctx;
	x->h = h;
	x->r = r;
	x->ovh = bench_tick_overhead();
	x->outlier = bench_outlier_ticks();
	x->rng = seed * 0x9e3779b97f4a7c15ULL + 0x1234567;
	r->ok = true;
}

static void finish(struct wctx *x)
{
	x->r->p999 = hist_quantile(x->h, 0.999);
}

/* ---- churn: random allocs and frees around a live target ----------------------------- */

typedef size_t (*size_fn)(struct wctx *x);

static size_t size_uniform(struct wctx *x)
{
	return between(x, 16, 4096);
}

static size_t size_small(struct wctx *x)
{
	return between(x, 8, 256);
}

/* Log-uniform from 16 B to 1 MiB: a power of two 2^4..2^19 chosen uniformly, then a
 * uniform size inside it. The density falls as 1/size, so small blocks dominate the
 * count and large ones the bytes. */
static size_t size_powerlaw(struct wctx *x)
{
	unsigned e = 4 + (unsigned)(rnd(x) % 16);
	return ((size_t)1 << e) + (size_t)(rnd(x) % ((uint64_t)1 << e));
}

/* Fill to `live` blocks untimed, then ops/4 untimed and `ops` timed operations: below 3/4
 * of the target always allocate, above 5/4 always free, in between toss a coin; frees hit
 * a random live block. */
static void churn(struct session *s, uint64_t ops, uint64_t seed, struct hist *h, struct result *r,
		  size_t live, size_fn pick)
{
	struct wctx x;
	struct table t;
	size_t lo = live * 3 / 4, hi = live * 5 / 4;

	begin(&x, s, seed, h, r);
	table_init(&t, hi + 1);
	while (t.count < live) {
		size_t n = pick(&x);
		void *p = w_alloc(&x, n, (unsigned char)t.count);
		if (!p) {
			fail(&x, "out of memory while filling", n);
			goto out;
		}
		t.p[t.count] = p;
		t.n[t.count++] = n;
	}
	for (uint64_t op = 0, warm = ops / 4; op < warm + ops; op++) {
		x.timed = op >= warm;
		bool alloc = t.count < lo ? true : t.count >= hi ? false : (rnd(&x) & 1);
		if (alloc) {
			size_t n = pick(&x);
			void *p = w_alloc(&x, n, (unsigned char)op);
			if (!p) {
				fail(&x, "out of memory", n);
				goto out;
			}
			t.p[t.count] = p;
			t.n[t.count++] = n;
		} else {
			size_t i = (size_t)(rnd(&x) % t.count);
			w_free(&x, t.p[i], t.n[i]);
			t.count--;
			t.p[i] = t.p[t.count];
			t.n[i] = t.n[t.count];
		}
	}
out:
	table_drain(&x, &t);
	finish(&x);
}

static void run_uniform(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
			struct result *r, size_t live)
{
	churn(s, ops, seed, h, r, live ? live : 8000, size_uniform);
}

static void run_small(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
		      struct result *r, size_t live)
{
	churn(s, ops, seed, h, r, live ? live : 300, size_small);
}

static void run_powerlaw(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
			 struct result *r, size_t live)
{
	churn(s, ops, seed, h, r, live ? live : 150, size_powerlaw);
}

/* ---- realloc growth ------------------------------------------------------------------ */

/* `live` buffers grow like strings being appended to: each operation picks a buffer; an
 * empty one is allocated (16-64 B), a full one (past its cap: 1 KiB << 0..8, plus up to as
 * much again, so 1 KiB-512 KiB) is freed, any other grows by 16 B to half its size. The
 * first byte and the old last byte must survive each realloc. */
static void run_realloc(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
			struct result *r, size_t live)
{
	struct wctx x;
	struct table t;
	size_t *cap;
	uint64_t warm = ops / 4;

	if (!live)
		live = 256;
	begin(&x, s, seed, h, r);
	table_init(&t, live);
	cap = bench_scratch(live * sizeof(size_t));
	for (size_t i = 0; i < live; i++) {
		t.p[i] = NULL;
		t.n[i] = 0;
		cap[i] = (size_t)1024 << (rnd(&x) % 9);
		cap[i] += (size_t)(rnd(&x) % cap[i]);
	}
	t.count = live;
	for (uint64_t op = 0; op < warm + ops; op++) {
		size_t i = (size_t)(rnd(&x) % live);
		unsigned char tag = (unsigned char)(i * 7 + 1);
		x.timed = op >= warm;
		if (!t.p[i]) {
			size_t n = between(&x, 16, 64);
			t.p[i] = w_alloc(&x, n, tag);
			if (!t.p[i]) {
				fail(&x, "out of memory", n);
				break;
			}
			t.n[i] = n;
		} else if (t.n[i] >= cap[i]) {
			w_free(&x, t.p[i], t.n[i]);
			t.p[i] = NULL;
			t.n[i] = 0;
		} else {
			size_t old = t.n[i], n = old + between(&x, 16, old / 2 + 16);
			unsigned char *q = w_realloc(&x, t.p[i], old, n);
			if (!q) {
				fail(&x, "out of memory in realloc", n);
				break;
			}
			if (q[0] != tag || q[old - 1] != tag) {
				fail(&x, "realloc lost data", n);
				t.p[i] = q;
				t.n[i] = n;
				break;
			}
			touch(q + old - 1, n - old + 1, tag);
			t.p[i] = q;
			t.n[i] = n;
		}
	}
	bench_scratch_free(cap, live * sizeof(size_t));
	table_drain(&x, &t);
	finish(&x);
}

/* ---- fragmentation torture ------------------------------------------------------------- */

/* Alternating lifetimes. Each phase allocates 1000 short-lived and 1000 long-lived blocks
 * alternately (16-256 B each, so they interleave in memory), then frees the short ones,
 * leaving small holes pinned between long-lived blocks; then it replaces the previous
 * phase's 250 medium blocks (512 B-4 KiB), which do not fit those holes. Long-lived blocks
 * stay until `live` of them exist, then a random one dies for each newcomer. A phase is
 * about 3000 timed operations; the first quarter of the operations is a warm-up. */
static void run_frag(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
		     struct result *r, size_t live)
{
	enum { P = 1000, M = 250 };
	struct wctx x;
	struct table lng, shrt, mid;
	uint64_t warm = ops / 4, done = 0;

	if (!live)
		live = 8000;
	begin(&x, s, seed, h, r);
	table_init(&lng, live + 1);
	table_init(&shrt, P);
	table_init(&mid, M);
	while (done < warm + ops) {
		x.timed = done >= warm;
		for (size_t j = 0; j < P; j++) {
			size_t n = between(&x, 16, 256);
			void *p = w_alloc(&x, n, 1);
			if (!p) {
				fail(&x, "out of memory", n);
				goto out;
			}
			shrt.p[shrt.count] = p;
			shrt.n[shrt.count++] = n;
			if (lng.count == live) {
				size_t i = (size_t)(rnd(&x) % lng.count);
				w_free(&x, lng.p[i], lng.n[i]);
				lng.count--;
				lng.p[i] = lng.p[lng.count];
				lng.n[i] = lng.n[lng.count];
				done++;
			}
			n = between(&x, 16, 256);
			p = w_alloc(&x, n, 2);
			if (!p) {
				fail(&x, "out of memory", n);
				goto out;
			}
			lng.p[lng.count] = p;
			lng.n[lng.count++] = n;
			done += 2;
		}
		while (shrt.count) {
			size_t i = (size_t)(rnd(&x) % shrt.count);
			w_free(&x, shrt.p[i], shrt.n[i]);
			shrt.count--;
			shrt.p[i] = shrt.p[shrt.count];
			shrt.n[i] = shrt.n[shrt.count];
			done++;
		}
		while (mid.count) {
			mid.count--;
			w_free(&x, mid.p[mid.count], mid.n[mid.count]);
			done++;
		}
		for (size_t j = 0; j < M; j++) {
			size_t n = between(&x, 512, 4096);
			void *p = w_alloc(&x, n, 3);
			if (!p) {
				fail(&x, "out of memory", n);
				goto out;
			}
			mid.p[mid.count] = p;
			mid.n[mid.count++] = n;
			done++;
		}
	}
out:
	table_drain(&x, &mid);
	table_drain(&x, &shrt);
	table_drain(&x, &lng);
	finish(&x);
}

const struct workload bench_workloads[] = {
    {"uniform", "16 B-4 KiB uniform, ~8000 live, random frees", KA_CAP_FREE | KA_CAP_ANYSIZE,
     run_uniform},
    {"small", "8-256 B uniform, ~300 live, random frees", KA_CAP_FREE | KA_CAP_ANYSIZE, run_small},
    {"powerlaw", "16 B-1 MiB log-uniform, ~150 live, random frees", KA_CAP_FREE | KA_CAP_ANYSIZE,
     run_powerlaw},
    {"realloc", "256 buffers growing by realloc to 1-512 KiB, then freed",
     KA_CAP_FREE | KA_CAP_ANYSIZE, run_realloc},
    {"frag", "alternating short/long lifetimes, 8000 long-lived, 512 B-4 KiB misfits",
     KA_CAP_FREE | KA_CAP_ANYSIZE, run_frag},
};

const size_t bench_nworkloads = sizeof(bench_workloads) / sizeof(bench_workloads[0]);
