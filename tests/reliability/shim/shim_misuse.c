/* SPDX-License-Identifier: MIT */
/*
 * Misuse through the LD_PRELOAD shim: each case is one kind of heap misuse committed with
 * the plain malloc family, run in a child that re-executes this program with
 * LD_PRELOAD=libkalloc-malloc.so and KALLOC_BACKEND=<backend> (and once without a preload,
 * on the system allocator, for comparison), in two forms:
 *  - continue: the child goes on allocating after the bug (a churn across sizes);
 *  - exit: the child returns from main right after the bug (atexit handlers and destructors
 *    run, nothing else is allocated), as a real program does when its bug sits near its end.
 * Verdicts: `detected` = the child died of SIGABRT and, under kalloc, the first line it wrote
 * on stderr starts with "kalloc:" (the shim's or the backend's report); `missed` = it exited
 * normally; `crash` = any other end (SIGSEGV, SIGABRT without kalloc's report, a hang past the
 * 60 s alarm). The first ten cases are issue 13's ten classic ones.
 *
 * The expected verdicts per backend live in tests/reliability/shim/expected.txt (format:
 * tests/misuse/expect.h). The driver fails if a case falls below its line, if a child crashes
 * where the file does not record that crash with a reason, or if a child did not run under
 * the preload it asked for; it prints gains as lines for the file. glibc is reported only.
 *
 * The same program also checks the malloc family's documented results on bad inputs
 * (docs/shim.md: glibc's semantics) in one child per allocator: "bad input shim <backend>: N/N".
 *
 * Usage: shim_misuse [--measure] [--expected FILE] LIB BACKEND...   (the driver; prints per
 *   allocator and form "shim misuse <backend> <form>: detected X/Y (classic: A/10), crashes C";
 *   --measure prints the verdicts in the expected file's format instead)
 *        shim_misuse --case K FORM     (a child: commit misuse K in form FORM, 0 = continue)
 *        shim_misuse --bad-input LABEL (a child: run the bad-input cases)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"

#ifndef KA_SHIM_MISUSE_EXPECTED
#define KA_SHIM_MISUSE_EXPECTED "tests/reliability/shim/expected.txt"
#endif

/* An address nothing maps (the child unmaps it to be sure): reading it faults. */
#define WILD ((void *)(uintptr_t)0x100000)

/* Keeps the compiler from seeing where a pointer comes from (it would reject or elide the
 * misuse at compile time). */
static void *launder(void *p)
{
	void *volatile v = p;
	return v;
}

/* The continue form's life after the bug: allocation and release across sizes. */
static void churn_sizes(void)
{
	static const size_t sizes[] = {24, 40, 48, 64, 200, 3000};

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (int i = 0; i < 64; i++)
			free(launder(malloc(sizes[s])));
}

static long a_global_object[8];

static void c_double_free(void)
{
	void *p = malloc(40);
	free(p);
	free(launder(p));
}

static void c_delayed_double_free(void)
{
	void *p = malloc(48);
	free(p);
	for (int i = 0; i < 10; i++)
		launder(malloc(48));
	free(launder(p));
}

static void c_free_stack(void)
{
	long local[8];
	local[0] = 1;
	free(launder(&local[2]));
}

static void c_free_interior(void)
{
	char *p = malloc(200);
	free(launder(p + 64));
}

static void c_free_misaligned(void)
{
	char *p = malloc(200);
	free(launder(p + 1));
}

static void c_free_wild(void)
{
	free(launder(WILD));
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

static void c_overflow_1(void)
{
	unsigned char *p = malloc(24);
	smash(launder(p), 25);
	free(p);
}

static void c_overflow_16(void)
{
	unsigned char *p = malloc(24), *q = malloc(24);
	smash(launder(p), 40);
	free(p);
	free(q);
}

static void c_write_after_free(void)
{
	unsigned char *p = malloc(64);
	free(p);
	memset(launder(p), 0x41, 64);
	launder(malloc(64));
	launder(malloc(64));
}

static void c_realloc_freed(void)
{
	void *p = malloc(40);
	free(p);
	p = realloc(launder(p), 400);
	launder(p);
}

static void c_double_free_after_reuse(void)
{
	void *p = malloc(40);
	free(p);
	void *q = malloc(40);
	free(launder(p)); /* if q == p this frees q ... */
	free(launder(q)); /* ... and this is the double free */
}

static void c_free_global(void)
{
	free(launder(&a_global_object[2]));
}

/* Memory no allocator handed out: a mapping of our own, readable or not (a shim that reads
 * around the pointer before refusing it faults on the second). */
static char *own_mapping(int prot)
{
	char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m, 1 << 16, prot) != 0)
		_exit(5);
	return m;
}

static void c_free_foreign(void)
{
	free(launder(own_mapping(PROT_READ | PROT_WRITE) + 4096 + 32));
}

static void c_free_inaccessible(void)
{
	free(launder(own_mapping(PROT_NONE) + 4096 + 32));
}

static void c_realloc_wild(void)
{
	launder(realloc(launder(WILD), 400));
}

static void c_usable_size_wild(void)
{
	volatile size_t n = malloc_usable_size(launder(WILD));
	(void)n;
}

static void c_double_free_between(void)
{
	void *p = malloc(40), *q = malloc(40);
	free(p);
	free(q);
	free(launder(p));
}

static void c_free_interior_large(void)
{
	char *p = malloc(1 << 20);
	free(launder(p + 8192));
}

static void c_double_free_large(void)
{
	void *p = malloc(1 << 20);
	free(p);
	free(launder(p));
}

static void c_realloc_interior(void)
{
	char *p = malloc(200);
	p = realloc(launder(p + 64), 1000);
	free(p);
}

static void c_free_header_of_block(void)
{
	/* Freeing the word just below a block: where in-band allocators keep the header. */
	char *p = malloc(200);
	free(launder(p - 16));
}

/* Past the usable size rather than the request: into the next block's header where the
 * allocator keeps one in band. */
static void overflow_usable(size_t by)
{
	unsigned char *p = malloc(24), *q = malloc(24);
	smash((unsigned char *)launder(p) + malloc_usable_size(p), by);
	free(q);
	free(p);
}

static void c_overflow_usable_1(void)
{
	overflow_usable(1);
}

static void c_overflow_usable_16(void)
{
	overflow_usable(16);
}

static void c_write_after_free_large(void)
{
	unsigned char *p = malloc(3000);
	size_t n = malloc_usable_size(p);
	free(p);
	memset(launder(p), 0x41, n);
	launder(malloc(3000));
	launder(malloc(3000));
}

/* The first NCLASSIC are issue 13's ten classic cases, in its order. */
#define NCLASSIC 10
static const struct {
	const char *id;
	void (*fn)(void);
} cases[] = {
    {"double-free", c_double_free},
    {"delayed-double-free", c_delayed_double_free},
    {"free-stack", c_free_stack},
    {"free-interior", c_free_interior},
    {"free-misaligned", c_free_misaligned},
    {"free-wild", c_free_wild},
    {"overflow-1", c_overflow_1},
    {"overflow-16-into-neighbour", c_overflow_16},
    {"write-after-free", c_write_after_free},
    {"realloc-freed", c_realloc_freed},
    {"double-free-after-reuse", c_double_free_after_reuse},
    {"free-global", c_free_global},
    {"free-foreign-mmap", c_free_foreign},
    {"free-inaccessible-mmap", c_free_inaccessible},
    {"realloc-wild", c_realloc_wild},
    {"usable-size-wild", c_usable_size_wild},
    {"double-free-between", c_double_free_between},
    {"free-interior-large", c_free_interior_large},
    {"double-free-large", c_double_free_large},
    {"realloc-interior", c_realloc_interior},
    {"free-header-of-block", c_free_header_of_block},
    {"overflow-usable-1", c_overflow_usable_1},
    {"overflow-usable-16", c_overflow_usable_16},
    {"write-after-free-3000", c_write_after_free_large},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const char *const forms[] = {"continue", "exit"};
#define NFORMS 2

/* ---- bad inputs (child) --------------------------------------------------------------- */

static unsigned bi_cases, bi_passed;

static void bi_expect(bool ok, const char *what)
{
	bi_cases++;
	if (ok)
		bi_passed++;
	else
		printf("  MISMATCH %s\n", what);
}

#define BI(cond) bi_expect((cond), #cond)

/* Sizes through a volatile, so the compiler neither warns about nor folds the calls. */
static size_t vsz(size_t x)
{
	volatile size_t v = x;
	return v;
}

static bool pal(const void *p, size_t al)
{
	return p && ((uintptr_t)p & (al - 1)) == 0;
}

static bool fails_enomem(void *p)
{
	bool ok = p == NULL && errno == ENOMEM;
	free(p);
	return ok;
}

static bool filled(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

static int bad_inputs(const char *label)
{
	const size_t big = (size_t)PTRDIFF_MAX + 1, half = (size_t)1 << (sizeof(size_t) * 4);
	void *p, *q, *m;
	int rc;

	/* size 0 and impossible sizes */
	p = malloc(vsz(0));
	q = malloc(vsz(0));
	BI(p && q && p != q);
	free(p);
	free(q);
	errno = 0;
	BI(fails_enomem(malloc(vsz(SIZE_MAX))));
	errno = 0;
	BI(fails_enomem(malloc(vsz(big))));
	errno = 0;
	BI(fails_enomem(malloc(vsz(PTRDIFF_MAX))));
	/* calloc: three overflows, zero products, zeroing of a reused block */
	errno = 0;
	BI(fails_enomem(calloc(vsz(SIZE_MAX), vsz(2))));
	errno = 0;
	BI(fails_enomem(calloc(vsz(2), vsz(SIZE_MAX))));
	errno = 0;
	BI(fails_enomem(calloc(vsz(half), vsz(half))));
	p = calloc(vsz(0), vsz(SIZE_MAX));
	q = calloc(vsz(SIZE_MAX), vsz(0));
	BI(p && q && p != q);
	free(p);
	free(q);
	p = malloc(vsz(200));
	memset(p, 0xff, 200);
	free(p);
	p = calloc(vsz(1), vsz(200));
	BI(p && filled(p, 200, 0));
	free(p);
	/* posix_memalign: EINVAL for 0, 2, 3, 24 with errno and *memptr untouched; ENOMEM */
	static const size_t bad_al[] = {0, 2, 3, 24};
	for (size_t i = 0; i < 4; i++) {
		char what[64];
		m = &m;
		errno = 1234;
		rc = posix_memalign(&m, vsz(bad_al[i]), vsz(16));
		snprintf(what, sizeof(what), "posix_memalign alignment %zu: EINVAL", bad_al[i]);
		bi_expect(rc == EINVAL && m == &m && errno == 1234, what);
	}
	m = &m;
	errno = 0;
	rc = posix_memalign(&m, vsz(sizeof(void *)), vsz(SIZE_MAX));
	BI(rc == ENOMEM && m == &m && errno == ENOMEM);
	rc = posix_memalign(&m, vsz(4096), vsz(100));
	BI(rc == 0 && pal(m, 4096));
	free(m);
	/* memalign / aligned_alloc: a non-power of two is rounded up (glibc 2.36) */
	p = aligned_alloc(vsz(24), vsz(48));
	BI(pal(p, 32));
	free(p);
	p = memalign(vsz(3), vsz(10));
	BI(pal(p, 4));
	free(p);
	p = aligned_alloc(vsz(65536), vsz(100));
	BI(pal(p, 65536));
	free(p);
	errno = 0;
	p = memalign(vsz(SIZE_MAX), vsz(16));
	BI(p == NULL && errno == EINVAL);
	errno = 0;
	BI(fails_enomem(aligned_alloc(vsz(64), vsz(SIZE_MAX))));
	/* realloc */
	p = realloc(NULL, vsz(0));
	BI(p != NULL);
	free(p);
	p = malloc(vsz(100));
	BI(realloc(launder(p), vsz(0)) == NULL); /* frees p, glibc's behaviour */
	p = malloc(vsz(100));
	memset(p, 0x5a, 100);
	size_t us = malloc_usable_size(p);
	errno = 0;
	BI(realloc(launder(p), vsz(SIZE_MAX)) == NULL && errno == ENOMEM && filled(p, 100, 0x5a) &&
	   malloc_usable_size(p) == us);
	errno = 0;
	BI(realloc(launder(p), vsz(big)) == NULL && errno == ENOMEM && filled(p, 100, 0x5a));
	errno = 0;
	BI(reallocarray(launder(p), vsz(SIZE_MAX), vsz(2)) == NULL && errno == ENOMEM &&
	   filled(p, 100, 0x5a));
	errno = 0;
	BI(reallocarray(NULL, vsz(half), vsz(half)) == NULL && errno == ENOMEM);
	q = reallocarray(launder(p), vsz(10), vsz(30));
	BI(q && filled(q, 100, 0x5a) && malloc_usable_size(q) >= 300);
	/* free: NULL is a no-op; errno is kept, for small and page-sized (unmapped) blocks */
	errno = 4321;
	free(NULL);
	BI(errno == 4321);
	free(q);
	BI(errno == 4321);
	p = malloc(vsz(8 << 20));
	errno = 4321;
	free(p);
	BI(errno == 4321);
	/* the rest of the family */
	BI(malloc_usable_size(NULL) == 0);
	p = malloc(vsz(1));
	BI(p && malloc_usable_size(p) >= 1);
	free(p);
	p = valloc(vsz(100));
	BI(pal(p, 4096));
	free(p);
	p = pvalloc(vsz(0));
	BI(pal(p, 4096) && malloc_usable_size(p) >= 4096);
	free(p);
	p = pvalloc(vsz(5000));
	BI(pal(p, 4096) && malloc_usable_size(p) >= 8192);
	free(p);
	BI(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
	BI(mallopt(-12345, 1) == 0);
	rc = malloc_trim(0);
	BI(rc == 0 || rc == 1);
	printf("bad input shim %s: %u/%u\n", label, bi_passed, bi_cases);
	fflush(stdout);
	return bi_passed == bi_cases && bi_cases >= 25 ? 0 : 1;
}

/* ---- child ---------------------------------------------------------------------------- */

static bool under_kalloc(void)
{
	Dl_info info;

	return dladdr((void *)(uintptr_t)&malloc, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "kalloc");
}

static int child(size_t k, int form, bool want_kalloc)
{
	/* The preload must really be in place (or really absent). */
	if (under_kalloc() != want_kalloc)
		return 4;
	alarm(60);
	munmap(WILD, 4096);
	cases[k].fn();
	if (form == 0)
		churn_sizes();
	return 0; /* the exit form: straight back to main's caller, atexit handlers and all */
}

/* ---- driver --------------------------------------------------------------------------- */

/* MX_MISSED, MX_DETECTED or MX_CRASH; MX_NA stands for a harness failure here (the child did
 * not run as asked). */
static enum mx_verdict run_case(const char *self, const char *lib, const char *backend, size_t k,
				int form, char *line, size_t cap, int *status)
{
	int fds[2];
	char kbuf[16], fbuf[4];
	pid_t pid;

	snprintf(kbuf, sizeof(kbuf), "%zu", k);
	snprintf(fbuf, sizeof(fbuf), "%d", form);
	if (pipe(fds) != 0)
		return MX_NA;
	pid = fork();
	if (pid < 0)
		return MX_NA;
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		if (lib) {
			setenv("LD_PRELOAD", lib, 1);
			setenv("KALLOC_BACKEND", backend, 1);
		} else {
			unsetenv("LD_PRELOAD");
		}
		execl(self, self, lib ? "--case" : "--case-system", kbuf, fbuf, (char *)NULL);
		_exit(6);
	}
	close(fds[1]);
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
	waitpid(pid, status, 0);
	if (WIFEXITED(*status))
		return WEXITSTATUS(*status) == 0 ? MX_MISSED : MX_NA;
	if (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGABRT &&
	    (!lib || strncmp(line, "kalloc:", 7) == 0))
		return MX_DETECTED;
	return MX_CRASH;
}

/* One child runs every bad-input case; its lines go straight to our stdout. */
static bool run_bad_inputs(const char *self, const char *lib, const char *backend)
{
	const char *label = lib ? backend : "glibc";
	int st;

	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		if (lib) {
			setenv("LD_PRELOAD", lib, 1);
			setenv("KALLOC_BACKEND", backend, 1);
		} else {
			unsetenv("LD_PRELOAD");
		}
		execl(self, self, lib ? "--bad-input" : "--bad-input-system", label, (char *)NULL);
		_exit(6);
	}
	waitpid(pid, &st, 0);
	/* glibc is the comparison, not the contract (docs/shim.md is): it differs on pvalloc(0)
	 * (less than a page) and mallopt of an unknown parameter (1); only a harness failure
	 * counts there. */
	if (!lib && WIFEXITED(st) && WEXITSTATUS(st) == 1)
		return true;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("  bad input shim %s: child ended with status %d\n", label, st);
		return false;
	}
	return true;
}

/* Every case in both forms on one allocator (lib NULL: the system allocator, which is only
 * reported, not judged). */
static bool run_allocator(const char *self, const char *lib, const char *backend, bool measure)
{
	const char *label = lib ? backend : "glibc";
	unsigned harness = 0, failed = 0;

	for (int form = 0; form < NFORMS; form++) {
		unsigned detected = 0, classic = 0, crashes = 0;

		for (size_t k = 0; k < NCASES; k++) {
			char line[256], how[64];
			int st = 0;
			enum mx_verdict v =
			    run_case(self, lib, backend, k, form, line, sizeof(line), &st);

			if (WIFSIGNALED(st))
				snprintf(how, sizeof(how), "signal %d", WTERMSIG(st));
			else
				snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(st));
			if (measure) {
				if (lib && v != MX_NA)
					printf("%s %s %s %s%s%s\n", label, forms[form], cases[k].id,
					       mx_vname[v], v == MX_CRASH ? " " : "",
					       v == MX_CRASH ? how : "");
				harness += v == MX_NA;
				continue;
			}
			detected += v == MX_DETECTED;
			classic += v == MX_DETECTED && k < NCLASSIC;
			crashes += v == MX_CRASH;
			harness += v == MX_NA;
			printf("  %-8s %-8s %-27s %-8s (%s)%s%s\n", label, forms[form], cases[k].id,
			       v == MX_NA ? "HARNESS" : mx_vname[v], how, line[0] ? ": " : "",
			       line);
			if (lib && v != MX_NA)
				failed += !mx_judge(label, forms[form], cases[k].id, v);
		}
		if (!measure)
			printf("shim misuse %s %s: detected %u/%zu (classic: %u/%d), crashes %u\n",
			       label, forms[form], detected, NCASES, classic, NCLASSIC, crashes);
	}
	fflush(stdout);
	if (harness)
		printf("  %s: %u children did not run as asked (preload or backend refused)\n",
		       label, harness);
	return harness == 0 && failed == 0;
}

int main(int argc, char **argv)
{
	const char *path = KA_SHIM_MISUSE_EXPECTED;
	bool measure = false;
	int i = 1;

	if (argc == 4 &&
	    (strcmp(argv[1], "--case") == 0 || strcmp(argv[1], "--case-system") == 0)) {
		size_t k = strtoul(argv[2], NULL, 10);
		int form = atoi(argv[3]);
		return k < NCASES && form >= 0 && form < NFORMS
			   ? child(k, form, strcmp(argv[1], "--case") == 0)
			   : 7;
	}
	if (argc == 3 && strncmp(argv[1], "--bad-input", 11) == 0) {
		if (under_kalloc() != (strcmp(argv[1], "--bad-input") == 0))
			return 4;
		return bad_inputs(argv[2]);
	}
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--measure") == 0)
			measure = true;
		else if (strcmp(argv[i], "--expected") == 0 && i + 1 < argc)
			path = argv[++i];
		else
			break;
	}
	if (argc - i < 2) {
		fprintf(stderr, "usage: %s [--measure] [--expected FILE] LIB BACKEND...\n",
			argv[0]);
		return 2;
	}
	if (!measure && !mx_load(path))
		return 1;
	/* Core dumps of hundreds of aborting children would only cost time. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	const char *lib = argv[i++];
	unsigned bad = 0;
	if (!measure) {
		for (int j = i; j < argc; j++)
			bad += !run_bad_inputs(self, lib, argv[j]);
		bad += !run_bad_inputs(self, NULL, NULL);
	} else {
		printf("# backend form case verdict [reason]: measured by shim_misuse --measure\n");
	}
	for (int j = i; j < argc; j++)
		bad += !run_allocator(self, lib, argv[j], measure);
	if (!measure)
		bad += !run_allocator(self, NULL, NULL, false);
	return bad ? 1 : 0;
}
