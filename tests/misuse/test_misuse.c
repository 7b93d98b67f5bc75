/* SPDX-License-Identifier: MIT */
/*
 * Misuse detection, per backend: each case runs in a forked child that commits one kind of
 * misuse on a fresh heap. A case counts as detected when the child dies with SIGABRT and
 * its first line on stderr is kalloc's report ("kalloc: <backend>: ..."). A child that
 * survives reports whether the heap checker then sees the damage (a weaker detection).
 *
 * The test prints a table "misuse <backend>: detected X/Y" and fails if a backend stops
 * detecting a case it is expected to catch (the `must` column below): detection may only
 * improve. Cases follow issue 6's list.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/alloc.h"

#define HEAP_LEN ((size_t)8 << 20)

static unsigned char *heap, *heap2;
static long a_global_object[4];

typedef void (*misuse_fn)(struct ka_alloc *a, struct ka_alloc *other);

static void m_double_free(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = ka_malloc(a, 40);
	ka_free(a, p);
	ka_free(a, p);
}

static void m_double_free_after_reuse(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = ka_malloc(a, 40);
	ka_free(a, p);
	void *q = ka_malloc(a, 40);
	ka_free(a, p); /* if q == p this frees q ... */
	ka_free(a, q); /* ... and this is the double free */
}

static void m_free_stack(struct ka_alloc *a, struct ka_alloc *o)
{
	long local[8];
	(void)o;
	ka_free(a, &local[2]);
}

static void m_free_global(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	ka_free(a, &a_global_object[2]);
}

static void m_free_foreign(struct ka_alloc *a, struct ka_alloc *o)
{
	void *p = ka_malloc(o, 40); /* from another heap of the same backend */
	ka_free(a, p);
}

static void m_free_interior(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = ka_malloc(a, 200);
	ka_free(a, p + 64);
}

static void m_free_misaligned(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = ka_malloc(a, 200);
	ka_free(a, p + 1);
}

static void overflow(struct ka_alloc *a, size_t by)
{
	unsigned char *p = ka_malloc(a, 24);
	unsigned char *q = ka_malloc(a, 24);
	memset(p + ka_usable_size(a, p), 0x41, by);
	ka_free(a, q);
	ka_free(a, p);
}

static void m_overflow_1(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	overflow(a, 1);
}

static void m_overflow_16(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	overflow(a, 16);
}

static void m_write_after_free(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = ka_malloc(a, 64);
	size_t n = ka_usable_size(a, p);
	ka_free(a, p);
	memset(p, 0x41, n);
	for (int i = 0; i < 64; i++)
		ka_free(a, ka_malloc(a, 64));
}

static void m_realloc_freed(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = ka_malloc(a, 40);
	ka_free(a, p);
	p = ka_realloc(a, p, 400);
	(void)p;
}

static void m_pfree_wrong_count(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = ka_palloc(a, 2);
	if (p)
		ka_pfree(a, p, 5);
}

struct mcase {
	const char *name;
	misuse_fn fn;
};

static const struct mcase cases[] = {
    {"double free", m_double_free},
    {"double free after reuse", m_double_free_after_reuse},
    {"free of a stack pointer", m_free_stack},
    {"free of a global pointer", m_free_global},
    {"free of another heap's pointer", m_free_foreign},
    {"free of an interior pointer", m_free_interior},
    {"free of a misaligned pointer", m_free_misaligned},
    {"1-byte overflow into the next header", m_overflow_1},
    {"16-byte overflow into the next header", m_overflow_16},
    {"write after free", m_write_after_free},
    {"realloc of a freed pointer", m_realloc_freed},
    {"pfree with the wrong page count", m_pfree_wrong_count},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Cases every backend must detect (a regression guard; detection may only grow). Stack and
 * global pointers and another heap's pointers lie outside the heap, a misaligned pointer
 * cannot be a block: all cheap checks. */
static const unsigned must_all[] = {2, 3, 4, 6};

/* Per-backend expectations on top of must_all: bit k set = case k must be detected. */
static const struct {
	const char *backend;
	unsigned cases;
} must_backend[] = {
    {"hardened", 0xfffu}, /* every case (issue 6, item 5) */
    /* The others: what each detects today (bit k = cases[k]), so that none regresses. */
    {"tlsf", 0xfffu},
    {"region", 0xdffu},
    {"tiny", 0xd7fu},
    {"buddy", 0xc7fu},
    {"slab", 0x67fu},
    {"pool", 0x67fu},
};

enum verdict { DETECTED, CHECKER_ONLY, MISSED };

static enum verdict run_case(const struct ka_backend *b, const struct mcase *c, char *line,
			     size_t cap)
{
	int fds[2];
	pid_t pid;
	int st;

	line[0] = '\0';
	if (pipe(fds) != 0)
		abort();
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		struct ka_alloc *a = b->init(heap, HEAP_LEN);
		struct ka_alloc *o = b->init(heap2, HEAP_LEN);
		c->fn(a, o);
		_exit(ka_check(a) != 0 ? 3 : 0);
	}
	close(fds[1]);
	/* Read to end of file: closing early would kill the child with SIGPIPE. */
	size_t got = 0;
	for (;;) {
		char sink[256];
		ssize_t n = got < cap - 1 ? read(fds[0], line + got, cap - 1 - got)
					  : read(fds[0], sink, sizeof(sink));
		if (n <= 0)
			break;
		if (got < cap - 1)
			got += (size_t)n;
	}
	line[got] = '\0';
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	char want[64];
	snprintf(want, sizeof(want), "kalloc: %s:", b->name);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(line, want, strlen(want)) == 0)
		return DETECTED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return CHECKER_ONLY;
	return MISSED;
}

int main(void)
{
	unsigned failed = 0, backends = 0;

	heap = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	heap2 = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap == MAP_FAILED || heap2 == MAP_FAILED)
		return 1;
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		unsigned detected = 0, checker = 0;
		bool got[NCASES] = {false};

		backends++;
		for (size_t k = 0; k < NCASES; k++) {
			char line[256];
			enum verdict v = run_case(b, &cases[k], line, sizeof(line));
			got[k] = v == DETECTED;
			detected += v == DETECTED;
			checker += v == CHECKER_ONLY;
			printf("  %-9s %-40s %s%s%s\n", b->name, cases[k].name,
			       v == DETECTED	   ? "detected"
			       : v == CHECKER_ONLY ? "checker only"
						   : "missed",
			       line[0] ? ": " : "", line);
		}
		for (size_t k = 0; k < sizeof(must_all) / sizeof(must_all[0]); k++)
			if (!got[must_all[k]]) {
				printf("  %s must detect \"%s\"\n", b->name,
				       cases[must_all[k]].name);
				failed++;
			}
		for (size_t r = 0; r < sizeof(must_backend) / sizeof(must_backend[0]); r++)
			for (size_t k = 0; k < NCASES; k++)
				if (strcmp(must_backend[r].backend, b->name) == 0 &&
				    ((must_backend[r].cases >> k) & 1u) && !got[k]) {
					printf("  %s must detect \"%s\"\n", b->name, cases[k].name);
					failed++;
				}
		printf("misuse %s: detected %u/%zu (first ten: %u/10), checker-only %u\n", b->name,
		       detected, NCASES,
		       (unsigned)(got[0] + got[1] + got[2] + got[3] + got[4] + got[5] + got[6] +
				  got[7] + got[8] + got[9]),
		       checker);
	}
	if (backends == 0)
		return 1;
	printf("%u passed, %u failed\n", backends - (failed ? 1 : 0), failed ? 1u : 0u);
	return failed ? 1 : 0;
}
