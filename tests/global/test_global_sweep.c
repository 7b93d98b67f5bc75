/* SPDX-License-Identifier: MIT */
/*
 * ka_sweep() through the global allocator: on the hardened backend it verifies every
 * sub-heap's quarantine, so a write after free into a block nothing reuses is reported by
 * a program that sweeps and then exits; on a backend that holds nothing back it answers
 * KA_ENOTSUP and changes nothing.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/alloc.h"
#include "kalloc/global.h"

static struct ka_global G;

static struct ka_alloc *make(const char *backend)
{
	struct ka_global_config cfg = {backend, 0, 0};

	assert_int_equal(ka_global_init_hosted(&G, 0, &cfg), 0);
	return ka_global_alloc_iface(&G);
}

static void test_sweep_clean(void **state)
{
	struct ka_alloc *a;
	void *p[100];

	(void)state;
	if (!ka_backend_find("hardened"))
		skip();
	a = make("hardened");
	for (int i = 0; i < 100; i++)
		assert_non_null(p[i] = ka_malloc(a, 16 + (size_t)i * 40));
	for (int i = 0; i < 100; i += 2)
		ka_free(a, p[i]);
	assert_int_equal(ka_sweep(a), 0);
	for (int i = 1; i < 100; i += 2)
		ka_free(a, p[i]);
	assert_int_equal(ka_sweep(a), 0);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

static void test_sweep_notsup(void **state)
{
	struct ka_alloc *a;
	unsigned char *p;

	(void)state;
	a = make("tlsf");
	p = ka_malloc(a, 64);
	assert_non_null(p);
	ka_free(a, p);
	assert_int_equal(ka_sweep(a), KA_ENOTSUP);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

/* The bug, then the sweep a program's exit path makes, and nothing else. */
static void write_after_free_then_sweep(void)
{
	struct ka_alloc *a = make("hardened");
	unsigned char *p = ka_malloc(a, 64);

	ka_free(a, p);
	memset(p, 'A', 64);
	(void)ka_sweep(a);
}

static void test_sweep_finds_write_after_free(void **state)
{
	int fd[2], st;
	char buf[256] = {0};
	pid_t pid;

	(void)state;
	if (!ka_backend_find("hardened"))
		skip();
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 2);
		write_after_free_then_sweep();
		_exit(0);
	}
	close(fd[1]);
	assert_true(read(fd[0], buf, sizeof(buf) - 1) > 0);
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(buf, "write after free"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sweep_clean),
	    cmocka_unit_test(test_sweep_notsup),
	    cmocka_unit_test(test_sweep_finds_write_after_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
