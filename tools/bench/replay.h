/* SPDX-License-Identifier: MIT */
/*
 * Decoded KALLOC_TRACE recordings (replay_trace.c), for `kalloc-bench replay` (replay.c) and
 * the trace tests. Decoding turns a file of per-thread chunks of address-based records into
 * one array of operations in the recording's total order, on dense object ids instead of
 * addresses, so that a replay does no lookups: op i acts on ptr[ops[i].id].
 *
 * Robustness (the recording may be partial: a forked child's file lacks the parent's
 * allocations, a process killed by a signal loses its last buffers):
 *  - a free (or the first half of a realloc) of an address that is not live is dropped
 *    (unknown_free) (a realloc of it becomes a malloc: unknown_realloc);
 *  - an allocation returning an address that is still live (its free was lost) first frees
 *    the old object (reused_live);
 *  - a truncated last chunk keeps the records before the cut (truncated).
 * docs/trace.md gives the format and these rules.
 */
#ifndef KALLOC_BENCH_REPLAY_H
#define KALLOC_BENCH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One operation of the replay. op is a KT_* code of trace_format.h (never KT_REALLOC for a
 * new object: that is a KT_MALLOC). */
struct rt_op {
	uint64_t size; /* bytes requested (0 for KT_FREE) */
	uint64_t time; /* ns since the recording's start */
	uint32_t id;   /* object */
	uint8_t op;
	uint8_t align_log; /* KT_ALIGNED */
	uint16_t thread;   /* recording thread number (saturates at 65535) */
};

struct rt_trace {
	struct rt_op *ops;
	size_t nops;
	uint32_t nobjs; /* distinct objects (ids 0..nobjs-1) */
	uint32_t version, pid, ppid;
	uint64_t records, chunks, threads;
	uint64_t by_op[6];	  /* decoded operations per KT_* code */
	uint64_t unknown_free;	  /* frees of addresses not live (dropped) */
	uint64_t unknown_realloc; /* reallocs of addresses not live (became mallocs) */
	uint64_t reused_live;	  /* allocations at a live address (old object freed first) */
	uint64_t corrupt_chunks;  /* chunks whose records did not decode (rest dropped) */
	bool truncated;		  /* the file ended inside a chunk */
	uint64_t peak_live;	  /* peak of the requested bytes live */
	uint64_t duration;	  /* time of the last operation, ns */
	size_t ops_bytes;	  /* mapping behind ops */
};

/**
 * Read and decode a trace file (gzip-compressed files are read through `gzip -dc`).
 * @return 0 and *t filled, or -1 with a message in err (cannot open or read, bad magic,
 * unknown version, out of memory). Memory comes from mmap (never malloc), so decoding leaves
 * no trace in the allocators measured later; it peaks at about 90 bytes per operation.
 * O(records) (O(records log records) for a trace whose sequence numbers are sparse).
 * Thread safe on distinct *t (no shared state).
 */
int rt_load(const char *path, struct rt_trace *t, char *err, size_t errlen);

/** As rt_load() on a trace already in memory (data is only read). */
int rt_decode(const uint8_t *data, size_t len, struct rt_trace *t, char *err, size_t errlen);

/** Release what rt_load()/rt_decode() mapped; *t is empty afterwards. O(1). */
void rt_release(struct rt_trace *t);

/** Growable anonymous mapping: make *p hold at least `need` bytes (*cap its size). NULL on
 * failure (the old mapping is kept). */
void *rt_grow(void *p, size_t *cap, size_t need);

#endif /* KALLOC_BENCH_REPLAY_H */
