/* SPDX-License-Identifier: MIT */
/*
 * The per-operation timestamp shared by kalloc-bench and kalloc-slots: TSC cycles on x86
 * (fenced on both sides so the measured call cannot move out of the region), nanoseconds
 * from CLOCK_MONOTONIC elsewhere. Header-only: tools/common builds no program.
 */
#ifndef KALLOC_TOOLS_TICK_H
#define KALLOC_TOOLS_TICK_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_TICK_UNIT "cycles"
static inline uint64_t bench_tick(void)
{
	uint64_t t;

	_mm_lfence();
	t = __rdtsc();
	_mm_lfence();
	return t;
}
#else
#include <time.h>
#define BENCH_TICK_UNIT "ns"
static inline uint64_t bench_tick(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

#endif /* KALLOC_TOOLS_TICK_H */
