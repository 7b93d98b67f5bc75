/* SPDX-License-Identifier: MIT */
/* Support for the reliability tests (see rel.h). */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "kalloc/alloc.h"
#include "rel.h"

void rel_seed(struct rel_rng *r, uint64_t seed)
{
	r->s = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t rel_next(struct rel_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

size_t rel_below(struct rel_rng *r, size_t n)
{
	return (size_t)(rel_next(r) % n);
}

/* Byte i of a block tagged t: differs between neighbouring blocks and along the block, so a
 * block moved, truncated or overwritten by a neighbour shows up. */
static inline unsigned char pat(uint32_t tag, size_t i)
{
	return (unsigned char)((tag * 0x9du) ^ (i * 31u) ^ (i >> 8));
}

void rel_fill(void *p, size_t n, uint32_t tag)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = pat(tag, i);
}

size_t rel_verify(const void *p, size_t n, uint32_t tag)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(tag, i))
			return i;
	return SIZE_MAX;
}

bool rel_general(const char *name)
{
	const struct ka_backend *b = ka_backend_find(name);

	return b && (b->caps & KA_CAP_FREE) && (b->caps & KA_CAP_ANYSIZE);
}

void *rel_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	REL_REQUIRE(p != MAP_FAILED, "mmap of %zu bytes", len);
	return p;
}

void rel_unmap(void *p, size_t len)
{
	REL_REQUIRE(munmap(p, len) == 0, "munmap");
}
