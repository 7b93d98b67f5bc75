/* SPDX-License-Identifier: MIT */
/*
 * Misuse detection through the ka_* API, per backend: each case runs in a forked child that
 * commits one kind of misuse on a fresh heap, in two forms:
 *  - continue: the child keeps allocating after the bug (a churn of malloc/free pairs), then
 *    runs the heap checker;
 *  - exit: the child calls exit(0) right after the bug (atexit handlers run, nothing else is
 *    allocated), as a real program does when its bug sits near its end.
 * The exit form ends with exit(0), whose handler calls ka_sweep() on the heap, as a program or a
 * kernel's shutdown path using the library does (the shim does the same at exit): that is
 * where the hardened backend verifies what it still holds in quarantine.
 * Verdicts: `detected` = the child died of SIGABRT and its first line on stderr is kalloc's
 * report ("kalloc: <allocator>: ...", the backend's or that of the allocator it is built on);
 * `checker` = it survived but the checker counted damage
 * (continue form only); `missed` = it exited normally; `crash` = any other end (SIGSEGV,
 * SIGABRT without kalloc's report, a hang): a crash without a message; `n/a` = the backend
 * could not make the case's blocks (the pool's fixed size).
 *
 * The expected verdicts live in tests/misuse/expected.txt ("backend form case verdict
 * [reason]"). The test fails if a case falls below its expected verdict (detection may only
 * improve), or crashes where the file does not record that crash with a reason; it prints
 * every gained detection as the line to put in the file. `--measure` prints the measured
 * verdicts in the file's format instead of comparing.
 *
 * Usage: misuse_test_misuse [--measure] [EXPECTED-FILE]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/alloc.h"

#include "expect.h"

#ifndef KA_MISUSE_EXPECTED
#define KA_MISUSE_EXPECTED "tests/misuse/expected.txt"
#endif

#define HEAP_LEN ((size_t)8 << 20)
/* An address nothing maps (main() unmaps it to be sure): reading it faults. */
#define WILD ((void *)(uintptr_t)0x100000)

static unsigned char *heap, *heap2, *heap3;
static const struct ka_backend *backend; /* the child's */
static long a_global_object[4];

/* Pointers through a volatile: the compiler must neither see their origin nor elide a use. */
static void *launder(void *p)
{
	void *volatile v = p;
	return v;
}

/* A case whose blocks the backend cannot make does not apply to it. */
static void *need(void *p)
{
	if (!p)
		_exit(5);
	return p;
}

static void *mk(struct ka_alloc *a, size_t n)
{
	return need(ka_malloc(a, n));
}

/* Another heap's block, with that heap's memory then made inaccessible: a backend that reads
 * around the pointer before refusing it faults instead of reporting. */
static void *foreign(struct ka_alloc *o)
{
	void *p = mk(o, 40);
	if (mprotect(heap2, HEAP_LEN, PROT_NONE) != 0)
		_exit(6);
	return p;
}

/* ---- the cases ---------------------------------------------------------------------------- */

static void m_double_free(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = mk(a, 40);
	ka_free(a, p);
	ka_free(a, launder(p));
}

static void m_delayed_double_free(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = mk(a, 48);
	ka_free(a, p);
	for (int i = 0; i < 10; i++)
		launder(ka_malloc(a, 48));
	ka_free(a, launder(p));
}

static void m_free_stack(struct ka_alloc *a, struct ka_alloc *o)
{
	long local[8];
	(void)o;
	local[0] = 1;
	ka_free(a, launder(&local[2]));
}

static void m_free_interior(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = mk(a, 200);
	ka_free(a, launder(p + 64));
}

static void m_free_misaligned(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = mk(a, 200);
	ka_free(a, launder(p + 1));
}

static void m_free_wild(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	ka_free(a, launder(WILD));
}

/* An overflow of n bytes at p that changes every byte it writes: 0x41, or 0x42 where 0x41 is
 * already there. A store of the byte a canary already holds changes nothing, so no detector can
 * see it; with a plain memset(0x41) the 1-byte cases were missed whenever the keyed canary's
 * first byte happened to be 0x41 (about 1 run in 128 for hardened's tail word). */
static void smash(unsigned char *p, size_t n)
{
	unsigned char *volatile q = p;

	for (size_t i = 0; i < n; i++)
		q[i] = q[i] == 0x41 ? 0x42 : 0x41;
}

static void m_overflow_1(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = mk(a, 24);
	smash(launder(p), 25);
	ka_free(a, p);
}

static void m_overflow_16(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = mk(a, 24), *q = mk(a, 24);
	smash(launder(p), 40);
	ka_free(a, p);
	ka_free(a, q);
}

static void m_write_after_free(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	unsigned char *p = mk(a, 64);
	ka_free(a, p);
	memset(launder(p), 0x41, 64);
	launder(ka_malloc(a, 64));
	launder(ka_malloc(a, 64));
}

static void m_realloc_freed(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = mk(a, 40);
	ka_free(a, p);
	launder(ka_realloc(a, launder(p), 400));
}

static void m_double_free_after_reuse(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = mk(a, 40);
	ka_free(a, p);
	void *q = ka_malloc(a, 40);
	ka_free(a, launder(p)); /* if q == p this frees q ... */
	ka_free(a, launder(q)); /* ... and this is the double free */
}

static void m_free_global(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	ka_free(a, launder(&a_global_object[2]));
}

static void m_free_foreign(struct ka_alloc *a, struct ka_alloc *o)
{
	ka_free(a, launder(foreign(o)));
}

static void m_realloc_foreign(struct ka_alloc *a, struct ka_alloc *o)
{
	launder(ka_realloc(a, launder(foreign(o)), 400));
}

static void m_usable_foreign(struct ka_alloc *a, struct ka_alloc *o)
{
	volatile size_t n = ka_usable_size(a, launder(foreign(o)));
	(void)n;
}

/* A heap of two regions with an inaccessible gap between them (its pages PROT_NONE): a
 * pointer into the gap lies inside the hull of the heap's memory but in no region, so a
 * check against the hull alone lets the backend read it. */
static void m_free_between_regions(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)a;
	(void)o;
	struct ka_alloc *h = backend->init(heap3, HEAP_LEN / 4);
	if (!h || ka_add_memory(h, heap3 + HEAP_LEN / 2, HEAP_LEN / 4) != 0)
		_exit(5);
	if (mprotect(heap3 + HEAP_LEN / 4, HEAP_LEN / 4, PROT_NONE) != 0)
		_exit(6);
	ka_free(h, launder(heap3 + HEAP_LEN / 4 + 4096 + 64));
}

static void m_realloc_wild(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	launder(ka_realloc(a, launder(WILD), 400));
}

static void m_usable_wild(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	volatile size_t n = ka_usable_size(a, launder(WILD));
	(void)n;
}

/* Past the usable size rather than the request: into the next block's header where the
 * backend keeps one in band. */
static void overflow_usable(struct ka_alloc *a, size_t by)
{
	unsigned char *p = mk(a, 24), *q = mk(a, 24);
	smash((unsigned char *)launder(p) + ka_usable_size(a, p), by);
	ka_free(a, q);
	ka_free(a, p);
}

static void m_overflow_usable_1(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	overflow_usable(a, 1);
}

static void m_overflow_usable_16(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	overflow_usable(a, 16);
}

static void m_pfree_wild(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	ka_pfree(a, launder(WILD), 1);
}

static void m_pfree_wrong_count(struct ka_alloc *a, struct ka_alloc *o)
{
	(void)o;
	void *p = need(ka_palloc(a, 2));
	ka_pfree(a, launder(p), 5);
}

struct mcase {
	const char *id;
	void (*fn)(struct ka_alloc *a, struct ka_alloc *other);
};

/* The first NCLASSIC are issue 13's ten classic cases, in its order. */
#define NCLASSIC 10
static const struct mcase cases[] = {
    {"double-free", m_double_free},
    {"delayed-double-free", m_delayed_double_free},
    {"free-stack", m_free_stack},
    {"free-interior", m_free_interior},
    {"free-misaligned", m_free_misaligned},
    {"free-wild", m_free_wild},
    {"overflow-1", m_overflow_1},
    {"overflow-16-into-neighbour", m_overflow_16},
    {"write-after-free", m_write_after_free},
    {"realloc-freed", m_realloc_freed},
    {"double-free-after-reuse", m_double_free_after_reuse},
    {"free-global", m_free_global},
    {"free-other-heap", m_free_foreign},
    {"realloc-other-heap", m_realloc_foreign},
    {"usable-size-other-heap", m_usable_foreign},
    {"free-between-regions", m_free_between_regions},
    {"realloc-wild", m_realloc_wild},
    {"usable-size-wild", m_usable_wild},
    {"overflow-usable-1", m_overflow_usable_1},
    {"overflow-usable-16", m_overflow_usable_16},
    {"pfree-wrong-count", m_pfree_wrong_count},
    {"pfree-wild", m_pfree_wild},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const char *const forms[] = {"continue", "exit"};
#define NFORMS 2

/* ---- one child per case -------------------------------------------------------------------- */

/* After the bug, a program that goes on: allocation and release across sizes, then the
 * checker (exit status 3 when it counts damage). */
static void churn_and_check(struct ka_alloc *a)
{
	static const size_t sizes[] = {24, 40, 48, 64, 200};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (int i = 0; i < 64; i++)
			ka_free(a, launder(ka_malloc(a, sizes[s])));
	_exit(ka_check(a) != 0 ? 3 : 0);
}

static struct ka_alloc *exit_heap;

static void sweep_at_exit(void)
{
	if (exit_heap)
		(void)ka_sweep(exit_heap); /* KA_ENOTSUP: nothing held back */
}

static enum mx_verdict run_case(const struct ka_backend *b, const struct mcase *c, int form,
				char *line, size_t cap)
{
	int fds[2];
	pid_t pid;
	int st;

	line[0] = '\0';
	if (pipe(fds) != 0)
		abort();
	fflush(stdout); /* the exit form flushes the child's copy of our buffer */
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		alarm(20);
		backend = b;
		struct ka_alloc *a = b->init(heap, HEAP_LEN);
		struct ka_alloc *o = b->init(heap2, HEAP_LEN);
		if (!a || !o)
			_exit(7);
		exit_heap = a;
		atexit(sweep_at_exit);
		c->fn(a, o);
		if (form == 0)
			churn_and_check(a);
		exit(0);
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
	line[strcspn(line, "\n")] = '\0';
	close(fds[0]);
	waitpid(pid, &st, 0);
	/* kalloc's report, from the backend or from an allocator it is built on (the slab's page
	 * source reports under its own name). */
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(line, "kalloc: ", 8) == 0)
		return MX_DETECTED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
		return MX_CHECKER;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return MX_MISSED;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
		return MX_NA;
	char first[128];
	size_t fl = strnlen(line, sizeof(first) - 1); /* the first line, cut to fit */

	memcpy(first, line, fl);
	first[fl] = '\0';
	if (WIFSIGNALED(st))
		snprintf(line, cap, "signal %d%s%s", WTERMSIG(st),
			 WTERMSIG(st) == SIGABRT ? " without the backend's report" : "",
			 first[0] ? ", stderr: " : "");
	else
		snprintf(line, cap, "exit %d%s", WEXITSTATUS(st), first[0] ? ", stderr: " : "");
	strncat(line, first, cap - strlen(line) - 1);
	return MX_CRASH;
}

int main(int argc, char **argv)
{
	const char *path = KA_MISUSE_EXPECTED;
	bool measure = false;
	unsigned failed = 0, backends = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--measure") == 0)
			measure = true;
		else
			path = argv[i];
	}
	if (!measure && !mx_load(path))
		return 1;
	/* Core dumps of hundreds of aborting children would only cost time. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	munmap(WILD, 4096);
	heap = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	heap2 = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	heap3 = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (heap == MAP_FAILED || heap2 == MAP_FAILED || heap3 == MAP_FAILED)
		return 1;
	if (measure)
		printf("# backend form case verdict [reason]: measured by misuse_test_misuse "
		       "--measure\n");
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);

		backends++;
		for (int form = 0; form < NFORMS; form++) {
			unsigned detected = 0, checker = 0, crashes = 0, classic = 0, tried = 0;

			for (size_t k = 0; k < NCASES; k++) {
				char line[256];
				enum mx_verdict v =
				    run_case(b, &cases[k], form, line, sizeof(line));

				if (measure) {
					printf("%s %s %s %s%s%s\n", b->name, forms[form],
					       cases[k].id, mx_vname[v], v == MX_CRASH ? " " : "",
					       v == MX_CRASH ? line : "");
					continue;
				}
				tried += v != MX_NA;
				detected += v == MX_DETECTED;
				classic += v == MX_DETECTED && k < NCLASSIC;
				checker += v == MX_CHECKER;
				crashes += v == MX_CRASH;
				printf("  %-9s %-8s %-27s %s%s%s\n", b->name, forms[form],
				       cases[k].id, mx_vname[v], line[0] ? ": " : "", line);
				failed += !mx_judge(b->name, forms[form], cases[k].id, v);
			}
			if (!measure)
				printf(
				    "misuse %s %s: detected %u/%u (classic: %u/%d), checker-only "
				    "%u, crashes %u\n",
				    b->name, forms[form], detected, tried, classic, NCLASSIC,
				    checker, crashes);
		}
	}
	if (backends == 0)
		return 1;
	if (measure)
		return 0;
	printf("%u backends, %u expectations failed\n", backends, failed);
	return failed ? 1 : 0;
}
