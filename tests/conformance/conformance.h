/* SPDX-License-Identifier: MIT */
/*
 * The one conformance suite every allocator passes, written against struct ka_alloc only and
 * with no libc, so that the same code runs hosted (tests/conformance/test_conformance.c) and
 * inside the bare-metal kernel (examples/baremetal).
 *
 * Entry points: ka_conformance_backend() for a registry backend over caller memory, and
 * ka_conformance_target() for anything else that can make fresh allocators (the global
 * allocator, adapters).
 */
#ifndef KALLOC_CONFORMANCE_H
#define KALLOC_CONFORMANCE_H

#include <stddef.h>

#include "kalloc/alloc.h"

/** Results and output of a run. Zero it, set print (may be NULL), then run. */
struct ka_conf {
	void (*print)(const char *line); /**< one line, no newline; NULL = silent */
	int verbose;			 /**< also print passing cases */
	unsigned passed;		 /**< cases that passed (accumulates over runs) */
	unsigned failed;		 /**< cases that failed (accumulates over runs) */
	unsigned skipped;		 /**< cases not applicable to the target's capabilities */
};

/** Something the suite can test: it makes a fresh, empty allocator per case. */
struct ka_conf_target {
	const char *name;
	unsigned caps; /**< KA_CAP_* the target claims */
	/** Return a fresh empty allocator (previous ones are abandoned), NULL on failure. */
	struct ka_alloc *(*make)(void *ctx);
	void *ctx;
	/** Optional second region for the add_memory case (NULL: the case is skipped). */
	void *extra;
	size_t extra_len;
};

/**
 * @brief Run every case over `t`. Adds to c->passed/failed/skipped. Needs no libc; uses at
 * most a few KiB of stack.
 */
void ka_conformance_target(struct ka_conf *c, const struct ka_conf_target *t);

/**
 * @brief Run every case over registry backend `b`, each case on a fresh heap made by
 * b->init() on the first 3/4 of [mem, mem+len); the last quarter serves the add_memory case.
 * `mem` must be at least 1 MiB and page aligned; 16 MiB or more exercises the larger cases.
 */
void ka_conformance_backend(struct ka_conf *c, const struct ka_backend *b, void *mem, size_t len);

#endif /* KALLOC_CONFORMANCE_H */
