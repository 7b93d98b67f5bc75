/* SPDX-License-Identifier: MIT */
/*
 * KALLOC_TRACE=FILE: the shim records every allocation call into FILE (format:
 * shim/trace_format.h, docs/trace.md). malloc.c calls these hooks only while shim_trace_on is
 * set, so an untraced process pays one predictable branch per call.
 *
 * Thread safety: every hook may be called from any thread at any time, including inside
 * fork() handlers and after exit() began. None of them allocates.
 */
#ifndef KALLOC_SHIM_TRACE_H
#define KALLOC_SHIM_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

/* Non-zero while recording. Set once by shim_trace_init(). */
extern int shim_trace_on;

/* From shim_heap_init(), once, with the init lock held: reads KALLOC_TRACE and, when it is
 * set, opens the trace file and turns recording on. Failures print one line on stderr and
 * leave recording off. */
void shim_trace_init(void);

/* fork() child handler (heap.c): drop the parent's buffered records (the parent writes them)
 * and record the child into FILE.<pid>, opened at the first flush. */
void shim_trace_atfork_child(void);

/* A successful allocation p of n bytes by op (KT_MALLOC, KT_CALLOC or KT_ALIGNED with the
 * alignment asked, rounded up to a power of two). Called after the allocator returned. */
void shim_trace_alloc(int op, void *p, size_t n, size_t align);

/* free(p), p != NULL: called before the block is given back. */
void shim_trace_free(void *p);

/* realloc in two halves: shim_trace_seq() before the call, then shim_trace_realloc() with
 * its result (p != NULL). A failed resize records nothing; realloc(p, 0) records a free. */
uint64_t shim_trace_seq(void);
void shim_trace_realloc(uint64_t seq_before, void *p, void *q, size_t n);

#endif /* KALLOC_SHIM_TRACE_H */
