/* SPDX-License-Identifier: MIT */
/*
 * A deliberately wrong program for the annotation tests (tests/annotate/expect.sh): it makes
 * a heap of one registry backend over a fresh mapping and commits one memory error inside it,
 * the kind memcheck and ASan report for malloc. With "clean" as third argument it runs the
 * same steps without the error, so a report there is a false positive.
 *
 *   annotate_bugs BACKEND CASE [clean]     exit 0 done, 77 the backend cannot run the case
 *   annotate_bugs BACKEND all clean        every case without its error, on one heap
 *
 * BACKEND is a registry name (a heap over a 4 MiB mapping) or global:NAME (the global
 * allocator growing NAME sub-heaps in 1 MiB chunks from mmap, through ka_global_alloc_iface;
 * the first chunk is filled first, so the case's blocks come from a chunk made during a call).
 *
 * Every error sits in its own function (bug_<case>), so the expected report names it as the
 * first frame of the access. Accesses go through a volatile pointer: the compiler must not
 * drop or merge them.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kalloc/alloc.h"
#include "kalloc/global.h"

#define HEAP_LEN ((size_t)4 << 20)
#define SKIP	 77

static int clean, all;
static jmp_buf next_case;

/* A case the backend cannot run (pool has one object size and no pages) is skipped: the
 * program ends with SKIP, or in "all" mode goes on with the next case. */
static void skip(const char *why)
{
	printf("skip: %s\n", why);
	if (all)
		longjmp(next_case, 1);
	exit(SKIP);
}

static void need(void *p)
{
	if (!p)
		skip("allocation failed");
}

__attribute__((noinline)) static void bug_uaf_write(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 24);

	need((void *)p);
	p[8] = 1;
	ka_free(a, (void *)p);
	if (!clean)
		p[8] = 2; /* write after free */
}

__attribute__((noinline)) static void bug_uaf_read(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 40);
	char c;

	need((void *)p);
	p[16] = 7;
	c = p[16];
	ka_free(a, (void *)p);
	if (!clean)
		c = p[16]; /* read of freed memory */
	printf("read %d\n", c);
}

/* One byte past the requested size: in the block's slack or the next block's header. */
__attribute__((noinline)) static void bug_overflow(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 24);
	void *q = ka_malloc(a, 24);

	need((void *)p);
	need(q);
	p[23] = 1;
	if (!clean)
		p[24] = 1; /* overflow */
	ka_free(a, q);
	ka_free(a, (void *)p);
}

/* Every byte from the end of p up to the start of q, the next block: whatever lies between
 * (slack, q's header) belongs to the allocator. */
__attribute__((noinline)) static void bug_overflow_next(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 40);
	volatile char *q = ka_malloc(a, 40);
	volatile char *hi = p < q ? q : p, *lo = p < q ? p : q;

	need((void *)p);
	need((void *)q);
	if (hi - lo > 4096)
		skip("the two blocks are not neighbours");
	for (volatile char *x = lo; x < lo + 40; x++)
		*x = 3;
	if (!clean)
		for (volatile char *x = lo + 40; x < hi; x++)
			*x = 4; /* overflow into the next block */
	ka_free(a, (void *)q);
	ka_free(a, (void *)p);
}

/* The byte before the block: its header, or the end of the block before it. */
__attribute__((noinline)) static void bug_underflow(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 64);

	need((void *)p);
	p[0] = 1;
	if (!clean)
		p[-1] = 1; /* underflow */
	ka_free(a, (void *)p);
}

/* The old block of a realloc that moved. */
__attribute__((noinline)) static void bug_realloc_stale(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 32);
	volatile char *n;

	need((void *)p);
	memset((void *)p, 5, 32);
	n = ka_realloc(a, (void *)p, 6000);
	need((void *)n);
	if (n[31] != 5) {
		printf("realloc lost the contents\n");
		exit(1);
	}
	if (!clean && n != p)
		p[0] = 6; /* write through the pointer realloc replaced */
	ka_free(a, (void *)n);
}

__attribute__((noinline)) static void bug_pages_uaf(struct ka_alloc *a)
{
	volatile char *p = ka_palloc(a, 2);

	need((void *)p);
	p[5000] = 1;
	ka_pfree(a, (void *)p, 2);
	if (!clean)
		p[5000] = 2; /* write to freed pages */
}

/* memcheck only: a branch on bytes the program never wrote. */
__attribute__((noinline)) static void bug_uninit(struct ka_alloc *a)
{
	volatile char *p = ka_malloc(a, 16);

	need((void *)p);
	if (clean)
		p[3] = 0;
	if (p[3] == 42) /* read of undefined bytes */
		printf("42\n");
	ka_free(a, (void *)p);
}

__attribute__((noinline)) static void bug_double_free(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 24);

	need(p);
	ka_free(a, p);
	if (!clean)
		ka_free(a, p); /* double free */
}

static const struct {
	const char *name;
	void (*fn)(struct ka_alloc *a);
} cases[] = {
    {"uaf-write", bug_uaf_write},     {"uaf-read", bug_uaf_read},
    {"overflow", bug_overflow},	      {"overflow-next", bug_overflow_next},
    {"underflow", bug_underflow},     {"realloc-stale", bug_realloc_stale},
    {"pages-uaf", bug_pages_uaf},     {"uninit", bug_uninit},
    {"double-free", bug_double_free},
};

int main(int argc, char **argv)
{
	static struct ka_global g;
	const struct ka_backend *b;
	struct ka_alloc *a;
	void *mem, *warm;

	if (argc < 3) {
		fprintf(stderr, "usage: %s BACKEND CASE [clean]\n", argv[0]);
		return 2;
	}
	clean = argc > 3 && strcmp(argv[3], "clean") == 0;
	if (strncmp(argv[1], "global:", 7) == 0) {
		struct ka_global_config cfg = {argv[1] + 7, 20, 0};

		if (ka_global_init_hosted(&g, 0, &cfg) != 0) {
			fprintf(stderr, "global init failed\n");
			return 1;
		}
		a = ka_global_alloc_iface(&g);
		for (int i = 0; i < 64; i++) {
			struct ka_global_stats gs;

			ka_global_stats(&g, &gs);
			if (gs.chunks >= 2)
				break;
			if (!ka_malloc(a, 32768)) {
				fprintf(stderr, "global did not grow\n");
				return 1;
			}
		}
		goto run;
	}
	b = ka_backend_find(argv[1]);
	if (!b) {
		fprintf(stderr, "no backend %s\n", argv[1]);
		return 2;
	}
	mem = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	a = b->init(mem, HEAP_LEN);
	if (!a) {
		fprintf(stderr, "init failed\n");
		return 1;
	}
run:
	/* One live block first, so the cases' blocks are not the heap's very first one. */
	warm = ka_malloc(a, 8);
	if (clean && strcmp(argv[2], "all") == 0) {
		/* Every case without its error, one after the other on one heap. */
		all = 1;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (setjmp(next_case) == 0)
				cases[i].fn(a);
		ka_free(a, warm);
		if (ka_check(a) != 0) {
			fprintf(stderr, "heap check failed\n");
			return 1;
		}
		printf("done %s all clean\n", argv[1]);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, argv[2]) != 0)
			continue;
		cases[i].fn(a);
		ka_free(a, warm);
		if (ka_check(a) != 0 && clean) {
			fprintf(stderr, "heap check failed\n");
			return 1;
		}
		printf("done %s %s%s\n", argv[1], argv[2], clean ? " clean" : "");
		return 0;
	}
	fprintf(stderr, "no case %s\n", argv[2]);
	return 2;
}
