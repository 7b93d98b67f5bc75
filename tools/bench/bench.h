/* SPDX-License-Identifier: MIT */
/*
 * kalloc-bench internals shared by its files: the contenders (kalloc backends, glibc,
 * mimalloc) behind one small call table, the per-operation timer and latency histogram,
 * and the workloads. See docs/bench.md for what is measured and how.
 */
#ifndef KALLOC_BENCH_H
#define KALLOC_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kalloc/alloc.h"

/* ---- timing (timing.c) ------------------------------------------------------------------ */

/* bench_tick() and BENCH_TICK_UNIT. */
#include "../common/tick.h"

/** Calibrate: ticks per nanosecond and the cost of an empty timed region. Call once. */
void bench_timing_init(void);
/** Ticks per nanosecond (1.0 for the clock_gettime fallback). */
double bench_ticks_per_ns(void);
/** Ticks an empty bench_tick()..bench_tick() pair measures; subtracted from every sample. */
uint64_t bench_tick_overhead(void);
/**
 * Samples of this many ticks (1 ms) or more are the OS taking the CPU away (preemption on a
 * shared machine), not allocator work: they count in the histogram (p99.9) and are counted
 * apart, but stay out of the sums behind ops/s and ns per call and out of "worst".
 */
uint64_t bench_outlier_ticks(void);

/**
 * Latency histogram: exact below HIST_EXACT ticks, then 32 sub-buckets per power of two
 * (percentiles within ~3%); the maximum is kept exactly.
 */
#define HIST_EXACT 4096
#define HIST_SUB   32
#define HIST_POW   64
struct hist {
	uint64_t n, max;
	uint32_t exact[HIST_EXACT];
	uint32_t log[HIST_POW][HIST_SUB];
};

void hist_clear(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/** Smallest value v such that at least q (0..1) of the samples are <= v (bucket midpoint). */
uint64_t hist_quantile(const struct hist *h, double q);

/* ---- contenders (contenders.c) ---------------------------------------------------------- */

enum contender_kind { C_KALLOC, C_GLIBC, C_MIMALLOC };

struct contender {
	const char *name;
	enum contender_kind kind;
	const struct ka_backend *kb; /**< for C_KALLOC */
};

/** The call table a workload drives; ctx is the contender's per-run state. */
struct api {
	void *(*malloc)(void *ctx, size_t n);
	void (*free)(void *ctx, void *p);
	void *(*realloc)(void *ctx, void *p, size_t n);
};

/** One run of one contender: set up by contender_begin(), torn down by contender_end(). */
struct session {
	const struct contender *c;
	const struct api *api;
	void *ctx; /**< struct ka_alloc * for kalloc, NULL otherwise */
	/* kalloc heap */
	void *mem;
	size_t heap_len;
	/* footprint */
	size_t fp_base;	 /**< glibc/mimalloc: figure at the start of the run */
	size_t fp_peak;	 /**< peak footprint in bytes over the run */
	bool keep_stats; /**< kalloc: keep ka_stats (off by default: the harness counts) */
};

/** Fill `out` with every contender of this build; returns the count (at most `max`). */
size_t contenders_all(struct contender *out, size_t max);
/** Why a contender cannot run a workload that needs `need` (KA_CAP_*), or NULL if it can. */
const char *contender_unfit(const struct contender *c, unsigned need);
/** Prepare a run (fresh kalloc heap of heap_len bytes). False with *why set on failure. */
bool contender_begin(struct session *s, const struct contender *c, size_t heap_len, bool keep_stats,
		     const char **why);
/** Sample the footprint (called by the workloads at new peaks of live bytes). */
void contender_sample(struct session *s);
/** End a run: final footprint (kalloc: pages of the heap ever touched), heap released. */
void contender_end(struct session *s);

/** Look glibc's allocator up in libc.so.6 (once; before forking runs). */
void bench_glibc_resolve(void);

/** glibc's malloc and free as bench_glibc_resolve() found them (call it first). */
void bench_glibc_api(void *(**m)(size_t), void (**f)(void *));

/** True if mimalloc was linked in. */
bool bench_have_mimalloc(void);

/* ---- workloads (workloads.c) ------------------------------------------------------------ */

/** What one run measured. */
struct result {
	bool ok;
	char why[96];	   /**< reason when !ok */
	uint64_t ops;	   /**< timed operations */
	uint64_t outliers; /**< of which took >= bench_outlier_ticks() (left out of the sums) */
	uint64_t n_alloc, n_free, n_realloc; /**< calls in the sums (outliers excluded) */
	uint64_t t_alloc, t_free, t_realloc; /**< ticks spent in each kind of call */
	uint64_t p999, worst;		     /**< ticks per operation */
	size_t peak_live;		     /**< peak of the bytes requested and live */
	size_t footprint;		     /**< peak footprint (bytes), see docs/bench.md */
};

struct workload {
	const char *name;
	const char *desc;
	unsigned need; /**< KA_CAP_* a kalloc backend needs for it */
	/** Run `ops` timed operations with seed `seed`; `live` overrides the live target (0:
	 * the workload's default). */
	void (*run)(struct session *s, uint64_t ops, uint64_t seed, struct hist *h,
		    struct result *r, size_t live);
};

extern const struct workload bench_workloads[];
extern const size_t bench_nworkloads;

/** Scratch memory for the harness, from mmap so it never shows up in glibc's figures. */
void *bench_scratch(size_t bytes);
void bench_scratch_free(void *p, size_t bytes);

/**
 * @brief `kalloc-bench replay FILE [options]`: replay a KALLOC_TRACE recording on every
 * contender (replay.c). argv[0] is "replay". Returns the process exit status.
 */
int bench_replay_main(int argc, char **argv);

/**
 * @brief `kalloc-bench threads [--ops N] [--reps R]`: the per-CPU cache adapter over tlsf
 * beside ka_locked(tlsf), glibc and mimalloc on 1 and 2 threads (threads.c).
 */
int bench_threads_main(int argc, char **argv);

/**
 * @brief `kalloc-bench slots [--steps N] [--workload S|M|all] [--backends LIST] [--nostats]
 * [--count]`: the random slot workloads S and M of issue 15 (slots.c).
 */
int bench_slots_main(int argc, char **argv);

/* ---- helpers shared by the bench and the replay (util.c); none allocates ---------------- */

/** @brief Monotonic clock in seconds. */
double bench_now_s(void);

/**
 * @brief Parse a size such as "4096", "512k", "64M", "1GiB" (binary multiples) into *out.
 * @return false (and *out untouched) for anything else or 0.
 */
bool bench_parse_size(const char *s, size_t *out);

/** @brief Is `name` an entry of the comma-separated `list`? NULL or "all" lists everything. */
bool bench_listed(const char *list, const char *name);

/** @brief Format a byte count as "12.3 KiB" / "4.5 MiB" / "1.25 GiB" into buf. */
void bench_fmt_bytes(char *buf, size_t cap, double b);

#endif /* KALLOC_BENCH_H */
