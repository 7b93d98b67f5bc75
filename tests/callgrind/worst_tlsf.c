/* SPDX-License-Identifier: MIT */
/*
 * The adversarial sequence of tlsf's worst-case test (tests/callgrind/worst_case.sh): run under
 * callgrind, which counts the instructions of one measured phase.
 *
 *   kalloc-worst-tlsf HEAP_MIB free|alloc
 *
 * Setup (not measured): fill a heap with NPAIR pairs of a block of varied size (16..208 bytes,
 * row 0) and a small guard, then free every varied block: hundreds of free blocks on many
 * lists, several per list, each between two used guards. Phase "free" (measured, in
 * phase_free): free every guard, so that each free merges with a free block on both sides,
 * unlinking both from the middle or the head of their lists. Phase "alloc" (measured, in
 * phase_alloc, after the frees): NALLOC requests whose own row and every row up to the heap's
 * last block are empty, from 600 B to 4.7 KiB (rows 1 to 4), so that each one misses in its
 * row, searches the first-level bitmap, takes the heap's tail block and splits it. The script
 * divides each phase's count by its number of calls. Prints the count of calls that failed (must be
 * 0).
 */
#include <stdio.h>
#include <stdlib.h>

#include "kalloc/alloc.h"
#include "kalloc/tlsf.h"

#define NPAIR  1000
#define NALLOC 200

static void *var[NPAIR], *guard[NPAIR], *got[NALLOC];

__attribute__((noinline)) static void phase_free(struct ka_alloc *a)
{
	for (int i = 0; i < NPAIR; i++)
		ka_free(a, guard[i]);
}

__attribute__((noinline)) static size_t phase_alloc(struct ka_alloc *a)
{
	size_t fails = 0;

	for (int i = 0; i < NALLOC; i++) {
		got[i] = ka_malloc(a, (size_t)600 << (i % 4));
		fails += got[i] == NULL;
	}
	return fails;
}

int main(int argc, char **argv)
{
	size_t mib, len, fails = 0;
	void *mem;
	struct ka_alloc *a;

	if (argc != 3) {
		fprintf(stderr, "usage: %s HEAP_MIB free|alloc\n", argv[0]);
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	len = mib << 20;
	mem = malloc(len);
	if (!mem || !(a = ka_tlsf_init(mem, len)))
		return 1;
	for (int i = 0; i < NPAIR; i++) {
		var[i] = ka_malloc(a, 16 + (size_t)(i * 37 % 13) * 16);
		guard[i] = ka_malloc(a, 24);
		fails += !var[i] || !guard[i];
	}
	for (int i = 0; i < NPAIR; i++)
		ka_free(a, var[i]);
	phase_free(a);
	if (argv[2][0] == 'a')
		fails += phase_alloc(a);
	fails += ka_check(a) != 0;
	printf("fails %zu\n", fails);
	return fails != 0;
}
