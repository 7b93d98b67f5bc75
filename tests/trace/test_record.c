/* SPDX-License-Identifier: MIT */
/*
 * Recording through the shim: this program runs itself (--workload) under
 * LD_PRELOAD=$KT_SHIM with KALLOC_TRACE set, then decodes what the run wrote and checks it
 * against what the workload did: every call family, realloc(NULL)/realloc(p, 0), four threads
 * handing blocks to each other (cross-thread frees and address reuse, which the sequence
 * numbers must order), a fork() (the child records into FILE.<pid> without the parent's
 * buffered records) and an exec'd program (which must not overwrite FILE).
 * Skips (77) without KT_SHIM: sanitizer builds have no shim.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../shim/trace_format.h"
#include "../../tools/bench/replay.h"

#define THREADS 4
#define ROUNDS	20000

/* ---- the traced workload -------------------------------------------------------------- */

static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
/* Through a volatile: the compiler may not drop an allocation that is freed unused. */
static void *volatile sink;
static void *slot[8];

static void *worker(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < ROUNDS; i++) {
		void *q = malloc(2000 + i % 3), *old;
		if (i % 5 == 0)
			q = realloc(q, 2100 + i % 2);
		/* Swap with a shared slot: the previous block, often another thread's, is freed
		 * here, and its address soon comes back from this thread's cache. */
		pthread_mutex_lock(&mx);
		old = slot[(k + i) % 8];
		slot[(k + i) % 8] = q;
		pthread_mutex_unlock(&mx);
		free(old);
	}
	return NULL;
}

static int workload(const char *pidfile)
{
	pthread_t th[THREADS];
	void *a[100], *m;
	char *p;
	pid_t pid;
	int st;

	for (int i = 0; i < 100; i++)
		a[i] = malloc(100000 + (size_t)i);
	for (int i = 0; i < 100; i++)
		free(a[i]);
	p = malloc(7001);
	for (size_t n = 7002; n <= 7100; n++)
		p = realloc(p, n);
	free(p);
	free(sink = calloc(3, 3001));
	if (posix_memalign(&m, 4096, 5001) != 0)
		return 1;
	free(m);
	free(sink = memalign(64, 5002));
	free(sink = aligned_alloc(256, 5120));
	free(sink = valloc(5003));
	free(sink = realloc(NULL, 6001));
	m = malloc(6002);
	if (realloc(m, 0) != NULL)
		return 1;
	for (unsigned i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 8; i++)
		free(slot[i]);

	/* Buffered, not yet written when fork() copies the buffers. */
	m = malloc(444444);
	pid = fork();
	if (pid == 0) {
		free(sink = malloc(555555));
		exit(0);
	}
	waitpid(pid, &st, 0);
	{
		FILE *f = fopen(pidfile, "w");
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	free(m);
	/* A program started by this one (this one again, allocating 333 bytes): it finds FILE
	 * taken by a live process and writes FILE.<pid>. */
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "test_record", "--alloc-one", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return 0;
}

/* ---- the checks ------------------------------------------------------------------------ */

static char dir[] = "/tmp/kalloc-trace-rec-XXXXXX";
static char trace[128], pidfile[128];

static uint64_t count(const struct rt_trace *t, int op, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;

	for (size_t i = 0; i < t->nops; i++)
		if (t->ops[i].op == op && t->ops[i].size >= lo && t->ops[i].size <= hi)
			n++;
	return n;
}

static size_t find(const struct rt_trace *t, int op, uint64_t size)
{
	for (size_t i = 0; i < t->nops; i++)
		if (t->ops[i].op == op && t->ops[i].size == size)
			return i;
	fail_msg("no op %d of size %llu", op, (unsigned long long)size);
	return 0;
}

/* No id is freed twice, reallocated while dead, or allocated twice. */
static void check_ids(const struct rt_trace *t)
{
	uint8_t *alive = calloc(t->nobjs + 1, 1);

	for (size_t i = 0; i < t->nops; i++) {
		const struct rt_op *o = &t->ops[i];
		switch (o->op) {
		case KT_FREE:
			assert_true(alive[o->id]);
			alive[o->id] = 0;
			break;
		case KT_REALLOC:
			assert_true(alive[o->id]);
			break;
		default:
			assert_false(alive[o->id]);
			alive[o->id] = 1;
		}
	}
	free(alive);
}

static void run_traced(void)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("LD_PRELOAD", getenv("KT_SHIM"), 1);
		setenv("KALLOC_TRACE", trace, 1);
		execl("/proc/self/exe", "test_record", "--workload", pidfile, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_record(void **state)
{
	struct rt_trace t;
	char err[256];
	(void)state;

	run_traced();
	assert_int_equal(rt_load(trace, &t, err, sizeof(err)), 0);
	assert_int_equal(t.version, KT_VERSION);
	assert_int_equal(t.unknown_free, 0);
	assert_int_equal(t.unknown_realloc, 0);
	assert_int_equal(t.reused_live, 0);
	assert_int_equal(t.corrupt_chunks, 0);
	assert_false(t.truncated);
	assert_true(t.threads >= 1 + THREADS);
	check_ids(&t);

	assert_int_equal(count(&t, KT_MALLOC, 100000, 100099), 100);
	{
		size_t i = find(&t, KT_MALLOC, 7001);
		uint32_t id = t.ops[i].id;
		uint64_t n = 0;
		for (size_t j = i + 1; j < t.nops; j++)
			if (t.ops[j].id == id && t.ops[j].op == KT_REALLOC) {
				assert_int_equal(t.ops[j].size, 7002 + n);
				n++;
			}
		assert_int_equal(n, 99);
	}
	assert_int_equal(count(&t, KT_CALLOC, 9003, 9003), 1);
	assert_int_equal(t.ops[find(&t, KT_ALIGNED, 5001)].align_log, 12);
	assert_int_equal(t.ops[find(&t, KT_ALIGNED, 5002)].align_log, 6);
	assert_int_equal(t.ops[find(&t, KT_ALIGNED, 5120)].align_log, 8);
	assert_int_equal((size_t)1 << t.ops[find(&t, KT_ALIGNED, 5003)].align_log,
			 (size_t)sysconf(_SC_PAGESIZE));
	/* realloc(NULL, n) is one malloc; realloc(p, 0) a free. */
	assert_int_equal(count(&t, KT_MALLOC, 6001, 6001), 1);
	assert_int_equal(count(&t, KT_REALLOC, 6001, 6001), 0);
	{
		size_t i = find(&t, KT_MALLOC, 6002);
		bool freed = false;
		for (size_t j = i + 1; j < t.nops && !freed; j++)
			freed = t.ops[j].id == t.ops[i].id && t.ops[j].op == KT_FREE;
		assert_true(freed);
	}
	assert_int_equal(count(&t, KT_MALLOC, 2000, 2002), THREADS * ROUNDS);
	assert_int_equal(count(&t, KT_REALLOC, 2100, 2101), THREADS * ROUNDS / 5);
	/* The parent's file has the block allocated before the fork once, not the child's. */
	assert_int_equal(count(&t, KT_MALLOC, 444444, 444444), 1);
	assert_int_equal(count(&t, KT_MALLOC, 555555, 555555), 0);
	rt_release(&t);

	{
		char child[160];
		int cpid = 0;
		FILE *f = fopen(pidfile, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%d", &cpid), 1);
		fclose(f);
		snprintf(child, sizeof(child), "%s.%d", trace, cpid);
		assert_int_equal(rt_load(child, &t, err, sizeof(err)), 0);
		assert_int_equal(t.pid, (uint32_t)cpid);
		assert_int_equal(count(&t, KT_MALLOC, 555555, 555555), 1);
		assert_int_equal(count(&t, KT_MALLOC, 444444, 444444), 0);
		rt_release(&t);
	}
	/* FILE, FILE.<fork child> and FILE.<the exec'd program>, which has its 333 bytes. */
	{
		DIR *d = opendir(dir);
		struct dirent *e;
		int files = 0, exec_files = 0;
		while ((e = readdir(d))) {
			char p[300];
			if (strncmp(e->d_name, "t.kt", 4) != 0)
				continue;
			files++;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			assert_int_equal(rt_load(p, &t, err, sizeof(err)), 0);
			if (count(&t, KT_MALLOC, 333, 333) == 1) {
				exec_files++;
				assert_non_null(strchr(e->d_name + 4, '.'));
			}
			rt_release(&t);
		}
		closedir(d);
		assert_int_equal(files, 3);
		assert_int_equal(exec_files, 1);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_record)};
	const char *shim = getenv("KT_SHIM");
	int rc;

	if (argc == 3 && strcmp(argv[1], "--workload") == 0)
		return workload(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--alloc-one") == 0) {
		free(sink = malloc(333));
		return 0;
	}
	if (!shim || !*shim || access(shim, R_OK) != 0) {
		printf("SKIP: KT_SHIM does not name libkalloc-malloc.so (none in this build)\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(trace, sizeof(trace), "%s/t.kt", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/child.pid", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0) {
		char cmd[192];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
