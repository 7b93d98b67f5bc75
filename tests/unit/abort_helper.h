/* SPDX-License-Identifier: MIT */
/*
 * Shared by the unit tests (support code linked into every tests/unit program): run a
 * misuse in a forked child and require that kalloc stops it with SIGABRT.
 */
#ifndef KALLOC_TEST_ABORT_HELPER_H
#define KALLOC_TEST_ABORT_HELPER_H

#include "kalloc/alloc.h"

/**
 * Fork; the child silences stderr, runs body(a, arg) and exits 0 if it returns. The parent
 * asserts (cmocka) that the child died of SIGABRT, i.e. that the misuse was detected.
 */
void ka_test_expect_abort(void (*body)(struct ka_alloc *a, void *arg), struct ka_alloc *a,
			  void *arg);

#endif /* KALLOC_TEST_ABORT_HELPER_H */
