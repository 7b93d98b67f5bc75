/* SPDX-License-Identifier: MIT */
/*
 * The C library allocation contract as programs rely on it: errno values, NULL rules,
 * realloc(p, 0), alignment, malloc_usable_size, free keeping errno, double free stopping the
 * process, threads with cross-thread frees and thread exit, and fork() while other threads
 * allocate. The same program runs twice in CTest: on the system allocator (shim_test_semantics,
 * which shows the expectations are glibc's) and preloaded with libkalloc-malloc.so on each
 * general-purpose backend (shim_semantics_<backend>, tests/extra.cmake); under the preload it
 * also checks that malloc really is kalloc's.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

/* The compiler must not reason about these calls: they are what is being tested. */
static void *(*volatile v_malloc)(size_t) = malloc;
static void *(*volatile v_realloc)(void *, size_t) = realloc;
static void *(*volatile v_calloc)(size_t, size_t) = calloc;
static void (*volatile v_free)(void *) = free;
static void *(*volatile v_reallocarray)(void *, size_t, size_t) = reallocarray;
static void *(*volatile v_memalign)(size_t, size_t) = memalign;
static void *(*volatile v_aligned_alloc)(size_t, size_t) = aligned_alloc;
static int (*volatile v_posix_memalign)(void **, size_t, size_t) = posix_memalign;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KA_SANITIZER_OWNS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KA_SANITIZER_OWNS_MALLOC 1
#endif
#endif

static void *before_main;

__attribute__((constructor)) static void early(void)
{
#ifndef KA_SANITIZER_OWNS_MALLOC
	before_main = malloc(100);
	memset(before_main, 0x5a, 100);
#endif
}

static bool under_kalloc(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "kalloc") != NULL;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed);
}

static bool check_fill(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31u + seed))
			return false;
	return true;
}

static void t_preload_active(void **state)
{
	(void)state;
	if (!under_kalloc())
		skip();
	/* The shim's malloc is the one every library resolves to. */
	void *sym = dlsym(RTLD_DEFAULT, "malloc");
	Dl_info info;
	assert_non_null(sym);
	assert_true(dladdr(sym, &info) != 0);
	assert_non_null(strstr(info.dli_fname, "kalloc"));
}

static void t_before_main(void **state)
{
	(void)state;
	assert_non_null(before_main);
	for (int i = 0; i < 100; i++)
		assert_int_equal(((unsigned char *)before_main)[i], 0x5a);
	assert_true(malloc_usable_size(before_main) >= 100);
	free(before_main);
	before_main = NULL;
}

static void t_zero_and_null(void **state)
{
	(void)state;
	void *a = v_malloc(0), *b = v_malloc(0);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	v_free(a);
	v_free(b);
	v_free(NULL);
	assert_int_equal(malloc_usable_size(NULL), 0);
}

static void t_enomem(void **state)
{
	(void)state;
	errno = 0;
	assert_null(v_malloc(SIZE_MAX));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(v_malloc(SIZE_MAX / 2 + 1));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(v_calloc(SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(v_reallocarray(NULL, SIZE_MAX / 4, 8));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(v_memalign(64, SIZE_MAX - 10));
	assert_int_equal(errno, ENOMEM);
}

static void t_calloc_zeroes(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 8, 24, 100, 1000, 5000, 20000, 300000};
	for (size_t r = 0; r < 3; r++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			/* Dirty a block of the same size first so calloc must really clear. */
			unsigned char *d = v_malloc(sizes[i]);
			assert_non_null(d);
			memset(d, 0xee, sizes[i]);
			v_free(d);
			unsigned char *p = v_calloc(1, sizes[i]);
			assert_non_null(p);
			for (size_t k = 0; k < sizes[i]; k++)
				assert_int_equal(p[k], 0);
			v_free(p);
		}
	}
}

/* Resident bytes of this process, from /proc/self/statm. */
static size_t resident_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* calloc of a large block leaves the fresh pages untouched (they are zero already): the
 * process does not commit the whole block at once. */
static void t_calloc_lazy(void **state)
{
	const size_t big = (size_t)512 << 20;
	size_t before, after;
	unsigned char *p;

	(void)state;
	before = resident_bytes();
	p = v_calloc(1, big);
	assert_non_null(p);
	after = resident_bytes();
	assert_true(p[0] == 0 && p[big / 2] == 0 && p[big - 1] == 0);
	print_message("calloc(%zu MiB): resident %zu -> %zu MiB\n", big >> 20, before >> 20,
		      after >> 20);
	assert_true(after < before + ((size_t)32 << 20));
	v_free(p);
}

/* A request far beyond RAM and swap follows the kernel's overcommit policy as glibc's malloc
 * does: refused with ENOMEM in heuristic (0) and strict (2) modes. Mode 1 grants everything. */
static void t_overcommit_policy(void **state)
{
	struct sysinfo si;
	int mode = -1;
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");

	(void)state;
	if (!f || fscanf(f, "%d", &mode) != 1)
		mode = -1;
	if (f)
		fclose(f);
	if (mode != 0 && mode != 2) {
		print_message(
		    "vm.overcommit_memory is %d, not 0 or 2: nothing to refuse, skipped\n", mode);
		skip();
	}
	assert_int_equal(sysinfo(&si), 0);
	size_t total = ((size_t)si.totalram + (size_t)si.totalswap) * si.mem_unit;
	errno = 0;
	void *p = v_malloc(2 * total);
	int e = errno;
	if (p)
		v_free(p);
	assert_null(p);
	assert_int_equal(e, ENOMEM);
	errno = 0;
	p = v_calloc(2, total);
	e = errno;
	if (p)
		v_free(p);
	assert_null(p);
	assert_int_equal(e, ENOMEM);
}

static void t_realloc(void **state)
{
	(void)state;
	unsigned char *p = v_realloc(NULL, 10);
	size_t n = 10;
	assert_non_null(p);
	fill(p, n, 7);
	/* Grow through every regime (small classes, large blocks, page-sized), then shrink. */
	while (n < (4u << 20)) {
		size_t m = n * 3 + 1;
		unsigned char *q = v_realloc(p, m);
		assert_non_null(q);
		assert_true(check_fill(q, n, 7));
		fill(q, m, 7);
		p = q;
		n = m;
	}
	while (n > 3) {
		size_t m = n / 5;
		unsigned char *q = v_realloc(p, m);
		assert_non_null(q);
		assert_true(check_fill(q, m, 7));
		p = q;
		n = m;
	}
	/* A failed realloc keeps the old block and sets ENOMEM. */
	fill(p, n, 9);
	errno = 0;
	assert_null(v_realloc(p, SIZE_MAX - 100));
	assert_int_equal(errno, ENOMEM);
	assert_true(check_fill(p, n, 9));
	errno = 0;
	assert_null(v_reallocarray(p, SIZE_MAX / 2, 4));
	assert_int_equal(errno, ENOMEM);
	assert_true(check_fill(p, n, 9));
	/* glibc: realloc(p, 0) frees p and returns NULL. */
	assert_null(v_realloc(p, 0));
	p = v_reallocarray(NULL, 10, 10);
	assert_non_null(p);
	assert_true(malloc_usable_size(p) >= 100);
	v_free(p);
}

static void t_alignment(void **state)
{
	(void)state;
	void *p = (void *)1;

	for (size_t n = 0; n < 5000; n += 37) {
		void *m = v_malloc(n);
		assert_non_null(m);
		assert_int_equal((uintptr_t)m % _Alignof(max_align_t), 0);
		v_free(m);
	}
	errno = 1234;
	assert_int_equal(v_posix_memalign(&p, 0, 10), EINVAL);
	assert_int_equal(v_posix_memalign(&p, 3, 10), EINVAL);
	assert_int_equal(v_posix_memalign(&p, sizeof(void *) / 2, 10), EINVAL);
	assert_int_equal(v_posix_memalign(&p, 24, 10), EINVAL);
	assert_ptr_equal(p, (void *)1);
	assert_int_equal(errno, 1234); /* EINVAL is returned, not stored in errno */
	assert_int_equal(v_posix_memalign(&p, 64, SIZE_MAX - 1000), ENOMEM);
	assert_ptr_equal(p, (void *)1);
	for (size_t a = sizeof(void *); a <= (1u << 20); a <<= 1) {
		for (size_t n = 0; n < 70000; n = n * 4 + 1) {
			void *q = NULL;
			assert_int_equal(v_posix_memalign(&q, a, n), 0);
			assert_non_null(q);
			assert_int_equal((uintptr_t)q % a, 0);
			assert_true(malloc_usable_size(q) >= n);
			memset(q, 0xab, n);
			free(q);
			q = v_aligned_alloc(a, n);
			assert_non_null(q);
			assert_int_equal((uintptr_t)q % a, 0);
			free(q);
			q = v_memalign(a, n);
			assert_non_null(q);
			assert_int_equal((uintptr_t)q % a, 0);
			free(q);
		}
	}
	/* memalign rounds a non-power-of-two alignment up; refuses absurd ones. */
	p = v_memalign(48, 100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 64, 0);
	free(p);
	errno = 0;
	assert_null(v_memalign(SIZE_MAX / 2 + 2, 1));
	assert_int_equal(errno, EINVAL);

	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	p = valloc(10);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % ps, 0);
	free(p);
	p = pvalloc(1);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % ps, 0);
	assert_true(malloc_usable_size(p) >= ps);
	memset(p, 1, ps);
	free(p);
	p = pvalloc(0);
	assert_non_null(p);
	free(p);
}

static void t_usable_size(void **state)
{
	(void)state;
	for (size_t n = 1; n < 300000; n = n * 3 / 2 + 1) {
		unsigned char *p = v_malloc(n);
		size_t u;
		assert_non_null(p);
		u = malloc_usable_size(p);
		assert_true(u >= n);
		/* All of the usable size is really usable. */
		memset(p, 0x77, u);
		v_free(p);
	}
}

static void t_free_keeps_errno(void **state)
{
	(void)state;
	static const size_t sizes[] = {16, 1000, 20000, 200000, 4u << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = v_malloc(sizes[i]);
		assert_non_null(p);
		errno = 4321;
		v_free(p);
		assert_int_equal(errno, 4321);
	}
}

static void t_double_free_aborts(void **state)
{
	(void)state;
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		/* Quiet the expected message; a timeout would mean a hang, not a pass. */
		alarm(10);
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		void *p = v_malloc(24);
		v_free(p);
		v_free(p);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* Run fn in a child with stderr captured; true when the child was stopped by SIGABRT
 * after writing a message that contains `want` (never another signal: SIGSEGV means the
 * pointer was read before it was refused). */
static bool aborts_with(void (*fn)(int), int arg, const char *want)
{
	char path[] = "/tmp/kalloc-shim-msgXXXXXX";
	int fd = mkstemp(path), st;
	char buf[512];
	ssize_t n;
	pid_t pid;

	assert_true(fd >= 0);
	unlink(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		dup2(fd, 2);
		fn(arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
		print_error("case %d: status %#x, stderr: %s\n", arg, st, buf);
		return false;
	}
	if (!strstr(buf, want)) {
		print_error("case %d: no '%s' in: %s\n", arg, want, buf);
		return false;
	}
	return true;
}

static char foreign_global[64] __attribute__((aligned(64)));

static void free_foreign(int what)
{
	char stack[64] __attribute__((aligned(64)));
	unsigned char *small = v_malloc(100), *big = v_malloc((size_t)24 << 20);
	void *p = NULL;

	memset(stack, 0, sizeof(stack));
	switch (what) {
	case 0:
		p = (void *)(uintptr_t)0x100000;
		break; /* unmapped: a read there faults */
	case 1:
		p = stack;
		break;
	case 2:
		p = foreign_global;
		break;
	case 3:
		p = small + 16;
		break; /* interior, aligned */
	case 4:
		p = small + 1;
		break; /* misaligned */
	case 5:
		p = big + ((size_t)12 << 20);
		break;
	case 6:
		p = big + 4096;
		break;
	}
	switch (what % 3) {
	case 0:
		v_free(p);
		break;
	case 1:
		p = v_realloc(p, 10);
		break;
	case 2:
		(void)malloc_usable_size(p);
		break;
	}
	/* Reached only if the pointer was accepted. */
	v_free(small);
	v_free(big);
}

/* A pointer the heap did not hand out is refused with a message before any byte around it
 * is read (kalloc: ka_global_owns(); glibc faults on some of these, so kalloc only). */
static void t_foreign_pointer_refused(void **state)
{
	(void)state;
	if (!under_kalloc())
		skip();
	for (int i = 0; i <= 6; i++)
		assert_true(aborts_with(free_foreign, i, "kalloc: "));
}

#define NSLOTS 512
struct ring {
	pthread_mutex_t m;
	void *slot[NSLOTS];
	unsigned head, tail;
	int done;
};

static void *producer(void *arg)
{
	struct ring *r = arg;
	for (unsigned i = 0; i < 200000; i++) {
		size_t n = 8 + (i * 2654435761u) % 3000;
		unsigned char *p = v_malloc(n);
		if (!p)
			abort();
		p[0] = (unsigned char)n;
		p[n - 1] = (unsigned char)(n >> 3);
		for (;;) {
			pthread_mutex_lock(&r->m);
			if (r->head - r->tail < NSLOTS) {
				r->slot[r->head++ % NSLOTS] = p;
				pthread_mutex_unlock(&r->m);
				break;
			}
			pthread_mutex_unlock(&r->m);
			sched_yield();
		}
	}
	pthread_mutex_lock(&r->m);
	r->done = 1;
	pthread_mutex_unlock(&r->m);
	return NULL;
}

static void *consumer(void *arg)
{
	struct ring *r = arg;
	for (;;) {
		void *p = NULL;
		int done;
		pthread_mutex_lock(&r->m);
		if (r->head != r->tail)
			p = r->slot[r->tail++ % NSLOTS];
		done = r->done && r->head == r->tail;
		pthread_mutex_unlock(&r->m);
		if (p) {
			size_t n = malloc_usable_size(p);
			if (n < 8)
				abort();
			v_free(p); /* freed by another thread than the one that allocated it */
		} else if (done) {
			return NULL;
		} else {
			sched_yield();
		}
	}
}

static void t_cross_thread_free(void **state)
{
	(void)state;
	static struct ring r = {.m = PTHREAD_MUTEX_INITIALIZER};
	pthread_t a, b;
	assert_int_equal(pthread_create(&a, NULL, producer, &r), 0);
	assert_int_equal(pthread_create(&b, NULL, consumer, &r), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(r.head, r.tail);
}

static void *short_lived(void *arg)
{
	void *keep[64];
	(void)arg;
	for (int i = 0; i < 64; i++) {
		keep[i] = v_malloc((size_t)(16 + i * 40));
		if (!keep[i])
			abort();
	}
	for (int i = 0; i < 64; i++)
		v_free(keep[i]);
	return v_malloc(40); /* freed by the joining thread after this thread's exit */
}

static void t_thread_exit(void **state)
{
	(void)state;
	for (int round = 0; round < 200; round++) {
		pthread_t t;
		void *ret = NULL;
		assert_int_equal(pthread_create(&t, NULL, short_lived, NULL), 0);
		assert_int_equal(pthread_join(t, &ret), 0);
		assert_non_null(ret);
		v_free(ret);
	}
}

static volatile int churn_stop;

static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	void *slots[64] = {0};
	while (!churn_stop) {
		seed = seed * 1103515245u + 12345u;
		unsigned i = (seed >> 8) % 64;
		v_free(slots[i]);
		size_t n =
		    (seed >> 16) % 4 == 0 ? 40000 + (seed >> 20) % 100000 : (seed >> 12) % 2000;
		slots[i] = v_malloc(n);
	}
	for (int i = 0; i < 64; i++)
		v_free(slots[i]);
	return NULL;
}

static void t_fork_with_threads(void **state)
{
	(void)state;
	pthread_t th[2];
	churn_stop = 0;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1)),
				 0);
	for (int round = 0; round < 40; round++) {
		pid_t pid = fork();
		int st;
		assert_true(pid >= 0);
		if (pid == 0) {
			/* The child must be able to allocate at once, small and large, without
			 * deadlocking on a lock a vanished thread held at fork time. */
			alarm(10);
			void *v[200];
			for (int i = 0; i < 200; i++)
				if (!(v[i] = v_malloc((size_t)(i * 997 % 70000 + 1))))
					_exit(2);
			for (int i = 0; i < 200; i++)
				v_free(v[i]);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	churn_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
}

static void t_mallinfo_mallopt_trim(void **state)
{
	(void)state;
	void *big[32];
	for (int i = 0; i < 32; i++)
		big[i] = v_malloc(100000);
	struct mallinfo2 m = mallinfo2();
	/* uordblks counts the blocks just made, in either allocator. */
	assert_true(m.uordblks >= 32u * 100000u);
	for (int i = 0; i < 32; i++)
		v_free(big[i]);
	assert_int_equal(mallopt(M_TRIM_THRESHOLD, 1 << 20), 1);
	assert_int_equal(mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
	int r = malloc_trim(0);
	assert_true(r == 0 || r == 1);
	void *p = v_malloc(100);
	assert_non_null(p);
	v_free(p);
}

static void t_dlerror_allocates(void **state)
{
	(void)state;
	/* dlopen failures make libdl allocate the message with malloc and free it later. */
	for (int i = 0; i < 50; i++) {
		void *h = dlopen("/nonexistent/libnothing.so", RTLD_NOW);
		assert_null(h);
		const char *e = dlerror();
		assert_non_null(e);
		assert_null(dlsym(RTLD_DEFAULT, "no_such_symbol_anywhere"));
		assert_non_null(dlerror());
	}
	char *s = strdup("kalloc");
	assert_non_null(s);
	free(s);
	char *line = NULL;
	assert_true(asprintf(&line, "%d %s", 42, "x") > 0);
	free(line);
}

int main(void)
{
#ifdef KA_SANITIZER_OWNS_MALLOC
	/* The sanitizer's malloc is neither glibc's nor kalloc's (and the shim is not built):
	 * nothing of this contract to test. 77 = skipped (tests/extra.cmake). */
	return 77;
#endif
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_preload_active),	   cmocka_unit_test(t_before_main),
	    cmocka_unit_test(t_zero_and_null),	   cmocka_unit_test(t_enomem),
	    cmocka_unit_test(t_calloc_zeroes),	   cmocka_unit_test(t_calloc_lazy),
	    cmocka_unit_test(t_overcommit_policy), cmocka_unit_test(t_realloc),
	    cmocka_unit_test(t_alignment),	   cmocka_unit_test(t_usable_size),
	    cmocka_unit_test(t_free_keeps_errno),  cmocka_unit_test(t_double_free_aborts),
	    cmocka_unit_test(t_cross_thread_free), cmocka_unit_test(t_thread_exit),
	    cmocka_unit_test(t_fork_with_threads), cmocka_unit_test(t_mallinfo_mallopt_trim),
	    cmocka_unit_test(t_dlerror_allocates), cmocka_unit_test(t_foreign_pointer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
