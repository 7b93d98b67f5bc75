/* SPDX-License-Identifier: MIT */
/*
 * KALLOC_BACKEND tells the truth: a program preloaded with libkalloc-malloc.so on backend X
 * makes NBLK mallocs of every size from 1 to 1024 bytes and keeps them all, so that each one
 * reaches the allocator below whatever cache is in front (a cache serves only blocks freed
 * before); its KALLOC_STATS line at exit must then show X by name with at least NBLK
 * allocations and NBLK live blocks of the global allocator, whose sub-heaps are X's (no
 * large blocks: these sizes are all far below the large threshold), holding at least the
 * bytes asked for. Before the shim became a layer over the library, its own spans carved
 * these blocks out of a few 68 KiB groups, and X saw a handful of allocations.
 * Run for every shim backend, with the cache and without (KALLOC_CACHE=0).
 * Environment (tests/extra.cmake): KALLOC_SHIM_LIB (the shim) and KALLOC_SHIM_BACKENDS.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NBLK 6000

static void *(*volatile v_malloc)(size_t) = malloc;

/* The preloaded child: allocate, touch, keep; the shim prints its line at exit. */
static int child(void)
{
	for (unsigned i = 0; i < NBLK; i++) {
		size_t n = 1 + (i * 7u) % 1024;
		unsigned char *p = v_malloc(n);

		if (!p)
			return 2;
		memset(p, (int)i, n);
	}
	return 0;
}

static size_t requested(void)
{
	size_t sum = 0;

	for (unsigned i = 0; i < NBLK; i++)
		sum += 1 + (i * 7u) % 1024;
	return sum;
}

static unsigned long long field(const char *line, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), " %s=", name);
	p = strstr(line, key);
	assert_non_null(p);
	return strtoull(p + strlen(key), NULL, 10);
}

static void run(const char *lib, const char *backend, const char *cache)
{
	char path[] = "/tmp/kalloc-truthXXXXXX", buf[4096], want[80];
	int fd = mkstemp(path), st;
	ssize_t n;
	pid_t pid;
	const char *line;

	assert_true(fd >= 0);
	unlink(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, 2);
		setenv("KALLOC_TRUTH_CHILD", "1", 1);
		setenv("KALLOC_BACKEND", backend, 1);
		setenv("KALLOC_STATS", "1", 1);
		setenv("KALLOC_CACHE", cache, 1);
		setenv("LD_PRELOAD", lib, 1);
		execl("/proc/self/exe", "test_truth", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s cache=%s: status %#x: %s", backend, cache, st, buf);
	snprintf(want, sizeof(want), "kalloc: backend=%s ", backend);
	line = strstr(buf, want);
	if (!line)
		fail_msg("%s cache=%s: no statistics line for the backend: %s", backend, cache,
			 buf);
	print_message("%s cache=%s: heap_allocs=%llu live_blocks=%llu in_use=%llu\n", backend,
		      cache, field(line, "heap_allocs"), field(line, "live_blocks"),
		      field(line, "in_use"));
	assert_true(field(line, "heap_allocs") >= NBLK);
	assert_true(field(line, "live_blocks") >= NBLK);
	assert_int_equal(field(line, "large_blocks"), 0);
	assert_true(field(line, "in_use") >= requested());
}

static void t_backend_serves_every_block(void **state)
{
	const char *lib = getenv("KALLOC_SHIM_LIB");
	char list[256], *save = NULL;

	(void)state;
	if (!lib || !getenv("KALLOC_SHIM_BACKENDS"))
		skip(); /* only meaningful from tests/extra.cmake, which names the shim */
	snprintf(list, sizeof(list), "%s", getenv("KALLOC_SHIM_BACKENDS"));
	for (char *b = strtok_r(list, ";, ", &save); b; b = strtok_r(NULL, ";, ", &save)) {
		run(lib, b, "1");
		run(lib, b, "0");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_backend_serves_every_block),
	};

	if (getenv("KALLOC_TRUTH_CHILD"))
		return child();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
