/* SPDX-License-Identifier: MIT */
/*
 * A deliberately wrong program on plain malloc, for the LD_PRELOAD shim under memcheck
 * (tests/annotate/shim.sh): a write after free, a read of freed memory and a write one byte
 * past malloc_usable_size(). With "clean" as argument it does the same without the errors.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pointer goes through here after free(): the compiler (GCC 12's -Wuse-after-free) must
 * not see the deliberate error, the checker must. */
static void *volatile launder;

__attribute__((noinline)) static void shim_bug_uaf(int clean)
{
	volatile char *p = malloc(100);

	if (!p)
		exit(1);
	p[10] = 1;
	launder = (void *)p;
	free((void *)p);
	p = launder;
	if (!clean)
		p[10] = 2; /* write after free */
}

__attribute__((noinline)) static void shim_bug_read_freed(int clean)
{
	volatile char *p = malloc(300);
	char c = 0;

	if (!p)
		exit(1);
	p[200] = 3;
	launder = (void *)p;
	free((void *)p);
	p = launder;
	if (!clean)
		c = p[200]; /* read of freed memory */
	printf("%d\n", c);
}

__attribute__((noinline)) static void shim_bug_overflow(int clean)
{
	volatile char *p = malloc(24);
	size_t n;

	if (!p)
		exit(1);
	n = malloc_usable_size((void *)p);
	p[n - 1] = 4;
	if (!clean)
		p[n] = 4; /* one byte past the usable size */
	free((void *)p);
}

int main(int argc, char **argv)
{
	int clean = argc > 1 && strcmp(argv[1], "clean") == 0;

	shim_bug_uaf(clean);
	shim_bug_read_freed(clean);
	shim_bug_overflow(clean);
	return 0;
}
