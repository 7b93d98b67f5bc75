/* SPDX-License-Identifier: MIT */
/*
 * Set-up of the shim's heap, the first time any allocation function needs it, from the
 * environment (the shim is the only part of kalloc that reads environment variables):
 *  - KALLOC_BACKEND=<name>: the global allocator's byte backend (tlsf, slab, buddy, tiny, ...);
 *    unset or empty: the build's default. An unknown name prints the list of known names and
 *    ends the process with exit status 1 (no crash, nothing allocated);
 *  - KALLOC_STATS=1: print statistics to stderr at exit, with write(2) from a fixed buffer
 *    (to a copy of stderr made at start-up, fd >= 100, since some programs close stderr
 *    before they exit); programs that end with _exit() print nothing;
 *  - KALLOC_CHUNK_SHIFT=<16..30>: log2 of the global allocator's chunk size (default 22);
 *  - KALLOC_KEEP_CHUNKS=<1..4096>: empty chunks kept mapped for reuse (default 128 MiB worth);
 *  - KALLOC_CACHE=0: no per-CPU cache (kalloc/cache.h) in front of the global allocator:
 *    every malloc and free reaches the backend at once. The default on the hardened
 *    backend, whose quarantine, canaries and out-of-band checks would otherwise see only the
 *    blocks the cache gives back. (KALLOC_SPANS is gone with the shim's own spans: every
 *    block is a block of the backend whatever the setting; docs/shim.md.)
 *
 * No constructor is needed: the first malloc (possibly from the dynamic linker, before main)
 * runs shim_heap_init() under the init lock. The environment is read with getenv(), which does
 * not allocate; if a call comes so early that libc's environ is not set yet, the variables
 * are read from /proc/self/environ into a static buffer instead.
 *
 * fork(): handlers registered with pthread_atfork() (after the first initialisation, outside
 * the init lock, because pthread_atfork may itself call malloc) take the init lock, then the
 * heap lock, in the prepare step; the parent releases them; the child re-initialises them,
 * since the thread that held them in the parent is the only thread of the child. Order: the
 * init lock, then the cache's depot locks, then the heap lock (glue.c); the hosted
 * platform's thread-slot table has handlers of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "trace.h"
#if KA_CFG_ANNOTATE == 1
#include "annotate.h"
#endif

extern char **environ;

volatile int shim_heap_ready;
/* A fixed odd key until the heap is set up (never 0: zeroed memory never carries a tag). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int stats_on;
static int stats_fd = STDERR_FILENO;
static int atfork_state; /* 0 none, 1 being registered, 2 registered */

/* Copy of the variables we care about when environ is not available yet. */
static char env_buf[256];

static void write_fd(int fd, const char *s)
{
	int saved = errno;
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		s += w;
		n -= (size_t)w;
	}
	errno = saved;
}

void shim_write_err(const char *s)
{
	write_fd(STDERR_FILENO, s);
}

/* getenv() when libc has its environment, else a scan of /proc/self/environ. The returned
 * string lives in env_buf in the second case (one variable at a time is enough here). */
const char *shim_env_get(const char *name)
{
	static char chunk[4096];
	size_t nlen = strlen(name);
	size_t have = 0;
	int fd;

	if (environ)
		return getenv(name);
	fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* Entries are NUL-terminated; keep a partial entry at the front between reads. */
	for (;;) {
		ssize_t r = read(fd, chunk + have, sizeof(chunk) - have);
		size_t start = 0, end;

		if (r <= 0)
			break;
		end = have + (size_t)r;
		for (size_t i = 0; i < end; i++) {
			if (chunk[i] != '\0')
				continue;
			if (i - start > nlen && memcmp(chunk + start, name, nlen) == 0 &&
			    chunk[start + nlen] == '=') {
				size_t vlen = i - start - nlen - 1;
				if (vlen >= sizeof(env_buf))
					vlen = sizeof(env_buf) - 1;
				memcpy(env_buf, chunk + start + nlen + 1, vlen);
				env_buf[vlen] = '\0';
				close(fd);
				return env_buf;
			}
			start = i + 1;
		}
		have = end - start;
		if (have == sizeof(chunk))
			have = 0; /* an entry longer than the buffer: not one of ours */
		memmove(chunk, chunk + start, have);
	}
	close(fd);
	return NULL;
}

/* KALLOC_CHUNK_SHIFT: log2 of the global allocator's chunk size, 16..30 (default 22). */
static unsigned chunk_shift(void)
{
	const char *s = shim_env_get("KALLOC_CHUNK_SHIFT");
	unsigned v = 0;

	if (!s || !*s)
		return 22;
	for (; *s >= '0' && *s <= '9' && v < 100; s++)
		v = v * 10 + (unsigned)(*s - '0');
	return v >= 16 && v <= 30 ? v : 22;
}

/* KALLOC_KEEP_CHUNKS: empty chunks kept mapped, 1..4096 (default: 128 MiB worth, 32 of the
 * default 4 MiB chunks, kept so that a program that frees and rebuilds a large structure
 * does not fault its memory in again). */
static size_t keep_chunks(unsigned shift)
{
	const char *s = shim_env_get("KALLOC_KEEP_CHUNKS");
	size_t v = 0, dflt = shift >= 27 ? 1 : (size_t)1 << (27 - shift);

	if (!s || !*s)
		return dflt;
	for (; *s >= '0' && *s <= '9' && v < 100000; s++)
		v = v * 10 + (size_t)(*s - '0');
	return v >= 1 && v <= 4096 ? v : dflt;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&init_lock);
	if (shim_heap_ready)
		shim_heap_fork_prepare();
}

static void atfork_parent(void)
{
	if (shim_heap_ready)
		shim_heap_fork_parent();
	pthread_mutex_unlock(&init_lock);
}

static void atfork_child(void)
{
	if (shim_heap_ready)
		shim_heap_fork_child();
	pthread_mutex_init(&init_lock, NULL);
	shim_trace_atfork_child();
}

static _Noreturn void fail_init(const char *what, const char *name)
{
	shim_write_err("kalloc: ");
	shim_write_err(what);
	if (name) {
		shim_write_err(" '");
		shim_write_err(name);
		shim_write_err("'; known backends: ");
		shim_write_err(shim_glue_backends());
	}
	shim_write_err("\n");
	_exit(1);
}

void shim_heap_init(void)
{
	int expect = 0;

	pthread_mutex_lock(&init_lock);
	if (!shim_heap_ready) {
		const char *name = shim_env_get("KALLOC_BACKEND");
		char name_copy[64];
		const char *st;
		bool with_cache;
		int rc;

		if (name && name[0] == '\0')
			name = NULL;
		if (name) {
			size_t n = strlen(name);
			if (n >= sizeof(name_copy))
				n = sizeof(name_copy) - 1;
			memcpy(name_copy, name, n);
			name_copy[n] = '\0';
			name = name_copy;
		}
		st = shim_env_get("KALLOC_STATS");
		stats_on = st && st[0] != '\0' && strcmp(st, "0") != 0;
		if (stats_on) {
			/* Programs may close stderr before exit (coreutils do): keep a copy. */
			int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
			if (fd >= 0)
				stats_fd = fd;
		}
		st = shim_env_get("KALLOC_CACHE");
		with_cache = !(st && strcmp(st, "0") == 0);
#if KA_CFG_ANNOTATE == 1
		/* On Valgrind every block must pass the generic layer of the backend, which tells
		 * memcheck about it: a cache would hide allocations and frees (docs/annotate.md).
		 */
		if (ka_an_active())
			with_cache = false;
#endif
		rc = shim_glue_create(name, chunk_shift(), keep_chunks(chunk_shift()), with_cache);
		if (rc == -1)
			fail_init("unknown KALLOC_BACKEND", name);
		if (rc != 0)
			fail_init("cannot map the first heap chunk", NULL);
		shim_trace_init();
		/* A trace records every call: then no call may skip the full path. */
		shim_glue_fast(!shim_trace_on);
		__atomic_store_n(&shim_heap_ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
	if (__atomic_compare_exchange_n(&atfork_state, &expect, 1, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
		__atomic_store_n(&atfork_state, 2, __ATOMIC_RELEASE);
	}
}

/* ---- statistics at exit ------------------------------------------------------------------- */

struct line {
	char buf[512];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
	l->buf[l->len] = '\0';
}

static void put_u(struct line *l, uint64_t v)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i > 0 && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = tmp[--i];
	l->buf[l->len] = '\0';
}

static void field(struct line *l, const char *name, uint64_t v)
{
	put(l, " ");
	put(l, name);
	put(l, "=");
	put_u(l, v);
}

/* At exit (return from main or exit(), not _exit): the quarantine's last check. A write after
 * free into a block still in quarantine is reported here even though no later malloc reuses
 * the slot. Bounded by the quarantine's limits (ka_sweep()). */
__attribute__((destructor)) static void shim_exit_sweep(void)
{
	if (shim_heap_ready)
		shim_heap_sweep();
}

/* A destructor only prints: correctness never depends on it (programs that end with _exit
 * simply print nothing). It formats into a stack buffer and writes with write(2). */
__attribute__((destructor)) static void shim_print_stats(void)
{
	struct shim_heap_figures f;
	uint64_t ca, cf;
	struct line l = {.len = 0};

	if (!shim_heap_ready) {
		/* A program that never allocated still gets its line when it asked for one. */
		const char *st = shim_env_get("KALLOC_STATS");

		if (!st || st[0] == '\0' || strcmp(st, "0") == 0)
			return;
		shim_heap_init();
	}
	if (!stats_on)
		return;
	shim_heap_figures(&f);
	shim_heap_cache_counts(&ca, &cf);
	put(&l, "kalloc: backend=");
	put(&l, shim_glue_backend());
	field(&l, "mapped", f.mapped);
	field(&l, "in_use", f.in_use);
	field(&l, "free", f.free_bytes);
	field(&l, "chunks", f.chunks);
	field(&l, "large_blocks", f.large);
	field(&l, "live_blocks", f.live);
	field(&l, "heap_allocs", f.allocs);
	field(&l, "heap_frees", f.frees);
	field(&l, "enomem", f.enomem);
	field(&l, "chunks_released", f.released);
	put(&l, "\nkalloc: cache: ");
	put(&l, shim_heap_cached() ? "on" : "off");
	field(&l, "allocs", ca);
	field(&l, "frees", cf);
	put(&l, "\n");
	write_fd(stats_fd, l.buf);
}
