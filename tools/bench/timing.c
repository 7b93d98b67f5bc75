/* SPDX-License-Identifier: MIT */
/*
 * kalloc-bench timing: calibration of the tick source against CLOCK_MONOTONIC, the cost of
 * an empty timed region (subtracted from every sample), and the latency histogram.
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "bench.h"

static double ticks_per_ns = 1.0;
static uint64_t overhead;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_timing_init(void)
{
	uint64_t best = UINT64_MAX;

#if defined(__x86_64__) || defined(__i386__)
	/* 50 ms is enough for 4 significant digits; the TSC is invariant on any x86 this
	 * runs on in practice. */
	uint64_t n0 = mono_ns(), t0 = bench_tick(), n1, t1;
	do {
		n1 = mono_ns();
	} while (n1 - n0 < 50000000u);
	t1 = bench_tick();
	ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
#endif
	/* The cheapest of many empty regions is what the timer itself costs. */
	for (int i = 0; i < 20000; i++) {
		uint64_t a = bench_tick();
		uint64_t b = bench_tick();
		if (b - a < best)
			best = b - a;
	}
	overhead = best;
}

double bench_ticks_per_ns(void)
{
	return ticks_per_ns;
}

uint64_t bench_tick_overhead(void)
{
	return overhead;
}

uint64_t bench_outlier_ticks(void)
{
	return (uint64_t)(ticks_per_ns * 1e6);
}

void hist_clear(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned fls64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

void hist_add(struct hist *h, uint64_t v)
{
	h->n++;
	if (v > h->max)
		h->max = v;
	if (v < HIST_EXACT) {
		h->exact[v]++;
		return;
	}
	unsigned e = fls64(v); /* >= 12 */
	unsigned sub = (unsigned)(v >> (e - 5)) & (HIST_SUB - 1);
	h->log[e][sub]++;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want == 0)
		want = 1;
	if (want > h->n)
		want = h->n;
	for (uint64_t v = 0; v < HIST_EXACT; v++) {
		seen += h->exact[v];
		if (seen >= want)
			return v;
	}
	for (unsigned e = 12; e < HIST_POW; e++) {
		for (unsigned s = 0; s < HIST_SUB; s++) {
			seen += h->log[e][s];
			if (seen >= want) {
				uint64_t lo = ((uint64_t)1 << e) | ((uint64_t)s << (e - 5));
				uint64_t mid = lo + ((uint64_t)1 << (e - 5)) / 2;
				return mid < h->max ? mid : h->max;
			}
		}
	}
	return h->max;
}
