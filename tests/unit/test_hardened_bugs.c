/* SPDX-License-Identifier: MIT */
/*
 * The hardened backend reports a heap bug at the call that does the damage, or at the exit
 * sweep, in programs that stop right after the bug (issue 13): every case runs in a forked
 * child that must die of SIGABRT with the expected kalloc message, and then does nothing
 * more (no allocation after the bug unless the case is "reported at reuse"). Also: the same
 * operations without the bug report nothing (no false positives).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/hardened.h"
#include "kalloc/tlsf.h"
#include "backend/hardened_priv.h"

#define HEAP_LEN ((size_t)4 << 20)

static unsigned char *heap;

static struct ka_alloc *mk(void)
{
	struct ka_alloc *a = ka_hardened_init(heap, HEAP_LEN);

	assert_non_null(a);
	return a;
}

/* Run body in a child whose stderr is a pipe; the child must die of SIGABRT and its output
 * must contain `want`. The parent sees neither the child's heap nor its writes. */
static void expect_report(void (*body)(struct ka_alloc *a, size_t arg), size_t arg,
			  const char *want)
{
	int fds[2], st = 0;
	char out[1024];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		body(mk(), arg);
		_exit(0); /* not reported: the parent fails the test */
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT || !strstr(out, want)) {
		print_error("case %zu: status %#x, wanted \"%s\", got \"%s\"\n", arg, st, want,
			    out);
		fail();
	}
}

/* free(p); ten allocations of the same size; free(p): the slot was not reused. */
static void delayed_double_free(struct ka_alloc *a, size_t n)
{
	void *p = ka_malloc(a, n);

	ka_free(a, p);
	for (int i = 0; i < 10; i++)
		assert_non_null(ka_malloc(a, n));
	ka_free(a, p);
}

/* Double free after the quarantine let the slot go (but nothing reused it). */
static void double_free_after_quarantine(struct ka_alloc *a, size_t n)
{
	void *p = ka_malloc(a, n);

	ka_free(a, p);
	for (int i = 0; i < 2 * KA_HARDENED_QUARANTINE; i++)
		ka_free(a, ka_malloc(a, 1000));
	ka_free(a, p);
}

static void test_delayed_double_free(void **state)
{
	(void)state;
	expect_report(delayed_double_free, 48, "double free or use after free");
	expect_report(delayed_double_free, 24, "double free or use after free");
	expect_report(delayed_double_free, 3000, "double free or use after free");
	expect_report(delayed_double_free, 20000, "double free or use after free");
	expect_report(double_free_after_quarantine, 40, "double free or use after free");
}

/* Linear overflow of one byte past the request (a value that differs from what is there). */
static void overflow_one(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n);

	memset(p, 'A', n);
	p[n] ^= 0x41;
	ka_free(a, p);
}

/* The classic off-by-one: a string terminator one past the end. */
static void overflow_nul(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n);

	memset(p, 'A', n);
	p[n] = 0;
	ka_free(a, p);
}

/* Reported at realloc, which also checks the old block. */
static void overflow_then_realloc(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n);

	memset(p, 'A', n + 1);
	ka_realloc(a, p, n * 4);
}

/* After an in-place realloc the canary follows the new size. */
static void overflow_after_realloc(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n), *q = ka_realloc(a, p, n - 3);

	assert_ptr_equal(p, q);
	assert_int_equal(ka_usable_size(a, q), n - 3);
	q[n - 3] ^= 0x55;
	ka_free(a, q);
}

static void test_overflow_one_byte(void **state)
{
	(void)state;
	/* Sizes that leave 0..8+ bytes of gap before the slot tail, and every class. */
	static const size_t sizes[] = {1, 8, 23, 24, 25, 40, 100, 120, 504, 1000, 4096, 8184};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		expect_report(overflow_one, sizes[i], "overflow past the end of the block");
		expect_report(overflow_nul, sizes[i], "overflow past the end of the block");
	}
	expect_report(overflow_then_realloc, 24, "overflow past the end of the block");
	expect_report(overflow_after_realloc, 100, "overflow past the end of the block");
}

/* p = malloc(24); q = malloc(24); 40 bytes written into p; free(p). */
static void overflow_into_next(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n), *q = ka_malloc(a, n);

	(void)q;
	memset(p, 'B', n + 16);
	ka_free(a, p);
}

/* Two adjacent slots p, q (found by allocating until the random placement gives them). */
static unsigned char *adjacent(struct ka_alloc *a, size_t n, unsigned char **next)
{
	size_t cs = hd_class_size(hd_class_of(n + HD_CANARY));
	unsigned char *got[400];

	for (int i = 0; i < 400; i++) {
		got[i] = ka_malloc(a, n);
		for (int j = 0; j < i; j++)
			if (got[j] + cs == got[i]) {
				*next = got[i];
				return got[j];
			}
	}
	fail_msg("no two adjacent slots among 400");
	return NULL;
}

/* A write that skips p's own canary and tail but lands in the next live block's tail (as a
 * stride-wise overflow from p would): found at free(p) through the neighbour check. */
static void skip_into_next_tail(struct ka_alloc *a, size_t n)
{
	unsigned char *q, *p = adjacent(a, n, &q);
	size_t cs = hd_class_size(hd_class_of(n + HD_CANARY));

	q[cs - 2] ^= 1;
	ka_free(a, p);
}

/* The same into the next slot when it is free (freed, in quarantine). */
static void skip_into_next_free(struct ka_alloc *a, size_t n)
{
	unsigned char *q, *p = adjacent(a, n, &q);

	ka_free(a, q);
	q[3] = 0;
	ka_free(a, p);
}

static void test_overflow_into_neighbour(void **state)
{
	(void)state;
	expect_report(overflow_into_next, 24, "overflow past the end of the block");
	expect_report(overflow_into_next, 48, "overflow past the end of the block");
	expect_report(skip_into_next_tail, 24, "tail of the next block overwritten");
	expect_report(skip_into_next_free, 24, "free slot after the block overwritten");
}

/* p = malloc(n); free(p); write n bytes into p; the program's exit hook sweeps. */
static void write_after_free_exit(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n);

	ka_free(a, p);
	memset(p, 'C', n < 64 ? n : 64);
	ka_hardened_sweep(a);
}

/* One byte written after free, anywhere in the slot; then the program goes on allocating
 * the same size: reported when the block leaves quarantine (before its slot is reused). */
static void write_after_free_reuse(struct ka_alloc *a, size_t n)
{
	unsigned char *p = ka_malloc(a, n);

	ka_free(a, p);
	p[n - 1] ^= 1;
	for (int i = 0; i < 100000; i++)
		ka_free(a, ka_malloc(a, n));
}

static void test_write_after_free(void **state)
{
	(void)state;
	expect_report(write_after_free_exit, 64, "found by the sweep");
	expect_report(write_after_free_exit, 16, "found by the sweep");
	expect_report(write_after_free_exit, 30000, "found by the sweep");
	expect_report(write_after_free_reuse, 64, "write after free");
	expect_report(write_after_free_reuse, 1, "write after free");
	expect_report(write_after_free_reuse, 5000, "write after free");
}

/* The sweep on a clean heap reports nothing, and on another backend says KA_EINVAL. */
static void test_sweep_clean(void **state)
{
	struct ka_alloc *a = mk(), *t;
	unsigned char *p[300];
	static unsigned char other[1 << 16];
	(void)state;

	assert_int_equal(ka_hardened_sweep(a), 0);
	for (int i = 0; i < 300; i++) {
		size_t n = (size_t)(i * 37 % 2000) + 1;
		p[i] = ka_malloc(a, n);
		assert_non_null(p[i]);
		memset(p[i], i, ka_usable_size(a, p[i]));
	}
	for (int i = 0; i < 300; i += 2)
		ka_free(a, p[i]);
	assert_true(hd_of(a)->qlen > 0);
	assert_int_equal(ka_hardened_sweep(a), 0);
	assert_int_equal(ka_check(a), 0);
	t = ka_tlsf_init(other, sizeof(other));
	assert_non_null(t);
	assert_int_equal(ka_hardened_sweep(t), KA_EINVAL);
	assert_int_equal(ka_hardened_sweep(NULL), KA_EINVAL);
}

/* No false positives: every block written up to its usable size, grown and shrunk in place
 * and by moving, freed in random order, with the checker and the sweep in between. */
static void test_no_false_positive(void **state)
{
	struct ka_alloc *a = mk();
	unsigned char *p[512] = {0};
	uint64_t x = 88172645463325252u;
	(void)state;

	for (int op = 0; op < 40000; op++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t i = x % 512, n = (x >> 16) % 3000 + 1;
		if (!p[i]) {
			p[i] = ka_malloc(a, n);
		} else if ((x >> 40) % 3 == 0) {
			p[i] = ka_realloc(a, p[i], n);
		} else {
			ka_free(a, p[i]);
			p[i] = NULL;
			continue;
		}
		assert_non_null(p[i]);
		assert_int_equal(ka_usable_size(a, p[i]), n);
		memset(p[i], (int)op, n);
		if (op % 4096 == 0) {
			assert_int_equal(ka_check(a), 0);
			assert_int_equal(ka_hardened_sweep(a), 0);
		}
	}
	for (size_t i = 0; i < 512; i++)
		ka_free(a, p[i]);
	assert_int_equal(ka_check(a), 0);
	assert_int_equal(ka_hardened_sweep(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delayed_double_free),
	    cmocka_unit_test(test_overflow_one_byte),
	    cmocka_unit_test(test_overflow_into_neighbour),
	    cmocka_unit_test(test_write_after_free),
	    cmocka_unit_test(test_sweep_clean),
	    cmocka_unit_test(test_no_false_positive),
	};

	heap = aligned_alloc(4096, HEAP_LEN);
	if (!heap)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
