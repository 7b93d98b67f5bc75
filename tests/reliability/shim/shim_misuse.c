/* SPDX-License-Identifier: MIT */
/*
 * Misuse through the LD_PRELOAD shim: each case is one kind of heap misuse committed with
 * the plain malloc family, run in a child that re-executes this program with
 * LD_PRELOAD=libkalloc-malloc.so and KALLOC_BACKEND=<backend> (and once without a preload,
 * on the system allocator, for comparison). A case counts as detected when the child dies
 * of SIGABRT and, under kalloc, the first line it wrote on stderr starts with "kalloc:"
 * (the shim's or the backend's report). A child that exits normally, crashes with another
 * signal or hangs (60 s alarm: CI machines can be slow and loaded) counts as missed.
 *
 * The same program also checks the malloc family's documented results on bad inputs
 * (docs/shim.md: glibc's semantics) in one child per allocator: "bad input shim <backend>: N/N".
 *
 * Usage: shim_misuse LIB BACKEND...   (the driver; prints per backend and for glibc:
 *   "bad input shim <backend>: N/N" and "shim misuse <backend>: detected X/Y (first ten: A/10)")
 *        shim_misuse --case K          (a child: commit misuse K and exit 0)
 *        shim_misuse --bad-input LABEL (a child: run the bad-input cases)
 * The driver fails if a backend detects fewer cases than its minimum in `minimums` below
 * (detection may only improve: raise the figures when it does), or if a child did not run
 * under the preload it asked for.
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

/* Per backend: cases that must be detected in all, and among the first ten. What is
 * detected today; raise these when detection improves. A backend not listed must detect
 * at least `default_minimum`. */
static const struct {
	const char *backend;
	unsigned all, first_ten;
} minimums[] = {
    /* measured at commit time (see docs/reliability.md for the table it produces) */
    {"tlsf", 15, 8}, {"slab", 15, 8}, {"buddy", 15, 8}, {"tiny", 15, 8}, {"hardened", 17, 10},
};
static const unsigned default_minimum = 0;

/* Keeps the compiler from seeing where a pointer comes from (it would reject or elide the
 * misuse at compile time). */
static void *launder(void *p)
{
	void *volatile v = p;
	return v;
}

static void churn(size_t size)
{
	for (int i = 0; i < 64; i++)
		free(launder(malloc(size)));
}

static long a_global_object[8];

static void c_double_free(void)
{
	void *p = malloc(40);
	free(p);
	free(launder(p));
}

static void c_double_free_after_reuse(void)
{
	void *p = malloc(40);
	free(p);
	void *q = malloc(40);
	free(launder(p)); /* if q == p this frees q ... */
	free(launder(q)); /* ... and this is the double free */
}

static void c_free_stack(void)
{
	long local[8];
	local[0] = 1;
	free(launder(&local[2]));
}

static void c_free_global(void)
{
	free(launder(&a_global_object[2]));
}

static void c_free_foreign(void)
{
	/* Memory no allocator handed out: a page of our own. */
	char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		_exit(5);
	free(launder(m + 4096 + 32));
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

static void overflow(size_t by)
{
	unsigned char *p = malloc(24), *q = malloc(24);
	memset(p + malloc_usable_size(p), 0x41, by);
	free(q);
	free(p);
	churn(24);
}

static void c_overflow_1(void)
{
	overflow(1);
}

static void c_overflow_16(void)
{
	overflow(16);
}

static void c_write_after_free(void)
{
	unsigned char *p = malloc(64);
	size_t n = malloc_usable_size(p);
	free(p);
	memset(launder(p), 0x41, n);
	churn(64);
}

static void c_realloc_freed(void)
{
	void *p = malloc(40);
	free(p);
	p = realloc(launder(p), 400);
	free(p);
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

static void c_write_after_free_large(void)
{
	unsigned char *p = malloc(3000);
	size_t n = malloc_usable_size(p);
	free(p);
	memset(launder(p), 0x41, n);
	churn(3000);
}

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
    {"double free", c_double_free},
    {"double free after reuse", c_double_free_after_reuse},
    {"free of a stack pointer", c_free_stack},
    {"free of a global pointer", c_free_global},
    {"free of a foreign (mmap) pointer", c_free_foreign},
    {"free of an interior pointer", c_free_interior},
    {"free of a misaligned pointer", c_free_misaligned},
    {"1-byte overflow into the next header", c_overflow_1},
    {"16-byte overflow into the next header", c_overflow_16},
    {"write after free", c_write_after_free},
    {"realloc of a freed pointer", c_realloc_freed},
    {"double free with a free in between", c_double_free_between},
    {"free of an interior pointer of a large block", c_free_interior_large},
    {"double free of a large block", c_double_free_large},
    {"realloc of an interior pointer", c_realloc_interior},
    {"free of the address 16 bytes below a block", c_free_header_of_block},
    {"write after free, 3000-byte block", c_write_after_free_large},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

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

static int child(size_t k, bool want_kalloc)
{
	/* The preload must really be in place (or really absent). */
	if (under_kalloc() != want_kalloc)
		return 4;
	alarm(60);
	cases[k].fn();
	return 0;
}

/* ---- driver --------------------------------------------------------------------------- */

enum verdict { DETECTED, MISSED, HARNESS };

static enum verdict run_case(const char *self, const char *lib, const char *backend, size_t k,
			     char *line, size_t cap, int *status)
{
	int fds[2];
	char kbuf[16];
	pid_t pid;

	snprintf(kbuf, sizeof(kbuf), "%zu", k);
	if (pipe(fds) != 0)
		return HARNESS;
	pid = fork();
	if (pid < 0)
		return HARNESS;
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
		execl(self, self, lib ? "--case" : "--case-system", kbuf, (char *)NULL);
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
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	close(fds[0]);
	waitpid(pid, status, 0);
	if (WIFEXITED(*status) && WEXITSTATUS(*status) != 0)
		return HARNESS;
	if (WIFSIGNALED(*status) && WTERMSIG(*status) == SIGABRT &&
	    (!lib || strncmp(line, "kalloc:", 7) == 0))
		return DETECTED;
	return MISSED;
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

static bool run_allocator(const char *self, const char *lib, const char *backend)
{
	unsigned detected = 0, first_ten = 0, harness = 0;
	const char *label = lib ? backend : "glibc";

	for (size_t k = 0; k < NCASES; k++) {
		char line[256];
		int st = 0;
		enum verdict v = run_case(self, lib, backend, k, line, sizeof(line), &st);
		char how[64];

		if (WIFSIGNALED(st))
			snprintf(how, sizeof(how), "signal %d", WTERMSIG(st));
		else
			snprintf(how, sizeof(how), "exit %d", WEXITSTATUS(st));
		detected += v == DETECTED;
		first_ten += v == DETECTED && k < 10;
		harness += v == HARNESS;
		printf("  %-8s %-46s %-8s (%s)%s%s\n", label, cases[k].name,
		       v == DETECTED ? "detected"
		       : v == MISSED ? "missed"
				     : "HARNESS",
		       how, line[0] ? ": " : "", line);
	}
	printf("shim misuse %s: detected %u/%zu (first ten: %u/10)\n", label, detected, NCASES,
	       first_ten);
	fflush(stdout);
	if (harness) {
		printf("  %s: %u children did not run as asked (preload or backend refused)\n",
		       label, harness);
		return false;
	}
	if (!lib)
		return true; /* the comparison has no minimum */
	unsigned min_all = default_minimum, min_ten = 0;
	for (size_t i = 0; i < sizeof(minimums) / sizeof(minimums[0]); i++)
		if (strcmp(minimums[i].backend, backend) == 0) {
			min_all = minimums[i].all;
			min_ten = minimums[i].first_ten;
		}
	if (detected < min_all || first_ten < min_ten) {
		printf("  %s: below its minimum (%u in all, %u of the first ten)\n", backend,
		       min_all, min_ten);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	if (argc == 3 &&
	    (strcmp(argv[1], "--case") == 0 || strcmp(argv[1], "--case-system") == 0)) {
		size_t k = strtoul(argv[2], NULL, 10);
		return k < NCASES ? child(k, strcmp(argv[1], "--case") == 0) : 7;
	}
	if (argc == 3 && strncmp(argv[1], "--bad-input", 11) == 0) {
		if (under_kalloc() != (strcmp(argv[1], "--bad-input") == 0))
			return 4;
		return bad_inputs(argv[2]);
	}
	if (argc < 3) {
		fprintf(stderr, "usage: %s LIB BACKEND...\n", argv[0]);
		return 2;
	}
	/* Core dumps of a hundred aborting children would only cost time. */
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	unsigned bad = 0;
	for (int i = 2; i < argc; i++)
		bad += !run_bad_inputs(self, argv[1], argv[i]);
	bad += !run_bad_inputs(self, NULL, NULL);
	for (int i = 2; i < argc; i++)
		bad += !run_allocator(self, argv[1], argv[i]);
	bad += !run_allocator(self, NULL, NULL);
	return bad ? 1 : 0;
}
