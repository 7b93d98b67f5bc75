/* SPDX-License-Identifier: MIT */
/*
 * Support shared by the reliability tests: a small seeded PRNG (runs are reproducible from
 * the seed printed on failure), per-block fill patterns, and a fatal-check macro that names
 * the configuration and step, so a failing run says where to look.
 */
#ifndef KALLOC_TESTS_REL_H
#define KALLOC_TESTS_REL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** xorshift64* state; never 0. */
struct rel_rng {
	uint64_t s;
};

void rel_seed(struct rel_rng *r, uint64_t seed);
uint64_t rel_next(struct rel_rng *r);
/** Uniform in [0, n) (n > 0). */
size_t rel_below(struct rel_rng *r, size_t n);

/** Fill n bytes with the pattern of `tag` (a byte sequence that depends on tag and offset). */
void rel_fill(void *p, size_t n, uint32_t tag);
/** Offset of the first byte that differs from the pattern, or SIZE_MAX when all match. */
size_t rel_verify(const void *p, size_t n, uint32_t tag);

/**
 * A fresh anonymous mapping of len bytes (exits on failure). Each heap under test gets its
 * own: a backend may leave guard pages protected in the memory it was given (hardened), so
 * memory is never handed from one backend to the next.
 */
void *rel_map(size_t len);
void rel_unmap(void *p, size_t len);

/** Byte backends of the registry that free and take any size (the general-purpose ones). */
bool rel_general(const char *name);

#define REL_REQUIRE(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s failed: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#endif /* KALLOC_TESTS_REL_H */
