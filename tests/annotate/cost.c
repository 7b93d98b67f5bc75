/* SPDX-License-Identifier: MIT */
/*
 * Cost of the annotation hooks, for callgrind (docs/annotate.md): 20,000 rounds of 64
 * ka_malloc calls (16..520 bytes) then 64 ka_free on one heap of the named backend, so the
 * instruction count divided by 1,280,000 is the cost of one malloc/free pair.
 *
 *   annotate_cost BACKEND [native]
 *
 * "native", in a KA_ANNOTATE=valgrind build run on callgrind, forces the hooks onto the path
 * a program takes when it does not run on Valgrind (the cached answer of RUNNING_ON_VALGRIND
 * set to no); without it the hooks are active, as under memcheck.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "kalloc/alloc.h"

#if KA_CFG_ANNOTATE == 1
extern int ka_an_state;
#endif

#define HEAP_LEN ((size_t)16 << 20)

int main(int argc, char **argv)
{
	const struct ka_backend *b = ka_backend_find(argc > 1 ? argv[1] : "tlsf");
	void *mem, *p[64];
	struct ka_alloc *a;

	if (!b) {
		fprintf(stderr, "no such backend\n");
		return 2;
	}
	mem = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || !(a = b->init(mem, HEAP_LEN))) {
		fprintf(stderr, "no heap\n");
		return 1;
	}
#if KA_CFG_ANNOTATE == 1
	if (argc > 2 && strcmp(argv[2], "native") == 0)
		ka_an_state = 0;
#endif
	for (int r = 0; r < 20000; r++) {
		for (int i = 0; i < 64; i++)
			if (!(p[i] = ka_malloc(a, 16 + (size_t)i * 8)))
				return 1;
		for (int i = 0; i < 64; i++)
			ka_free(a, p[i]);
	}
	printf("%s: 1280000 malloc/free pairs\n", b->name);
	return 0;
}
