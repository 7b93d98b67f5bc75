/* SPDX-License-Identifier: MIT */
/*
 * KALLOC_TRACE=FILE: a binary record of every allocation call (format: trace_format.h,
 * docs/trace.md), written without ever allocating: buffers come from mmap, output goes out
 * with write(2).
 *
 * Buffers. Each thread appends to its own 64 KiB buffer (a slot of a fixed table, claimed on
 * the thread's first record) and writes it out as one chunk when it is full. A buffer has a
 * spin flag that only its owner takes on the fast path (uncontended: one atomic exchange);
 * the exit flush and fork take it from other threads. A thread-exit key flushes the buffer
 * and frees the slot for a later thread; records made after that (by later TLS destructors)
 * are written at once as one-record chunks. Writes of whole chunks are serialised by one
 * mutex, so chunks never interleave.
 *
 * Time. A thread reads the clock at every 8th record; the records between carry the last
 * reading, so a timestamp is exact to within seven records of its thread.
 *
 * Order. One process-wide counter numbers the records: allocations take their number after
 * the allocator returned, frees before they hand the block back, realloc both (before and
 * after). Any block's free therefore numbers below the allocation that gets its address
 * next, whichever threads are involved; the decoder sorts by number.
 *
 * Files. The first traced process takes FILE. A process that finds FILE written by another
 * live traced process (a program started by a traced one: gcc's cc1, a shell's commands)
 * writes FILE.<pid> instead, and so does the child of a fork(), whose buffered records of the
 * parent are dropped (the parent writes them). At exit every buffer is flushed by a
 * destructor; records after it are written one by one. A process that ends with _exit() or a
 * signal loses what its buffers held (at most 64 KiB of records per thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"
#include "trace.h"
#include "trace_format.h"

#define TBUF_BYTES ((size_t)65536)
#define NSLOTS	   1024

struct tbuf {
	int lock;
	int claimed;
	uint32_t thread_no;
	uint32_t nrec;
	uint64_t base_seq, base_time;
	struct kt_delta d;
	size_t len; /* bytes used in data[], the chunk header's room included */
	uint8_t data[];
};
#define TBUF_DATA (TBUF_BYTES - sizeof(struct tbuf))

int shim_trace_on;
static int trace_fd = -1;
static int need_open; /* fork child: open FILE.<pid> at the first write */
static int exiting;   /* after the exit flush: every record is written at once */
static uint64_t seq_ctr;
static uint32_t thread_ctr;
static uint64_t t_start;
static char path[4096];
static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t tkey;
static int tkey_ok;
static struct tbuf *slots[NSLOTS];

enum { T_NEW = 0, T_ACTIVE = 1, T_DEAD = 2 };
static __thread struct tbuf *my_buf __attribute__((tls_model("initial-exec")));
static __thread int my_state __attribute__((tls_model("initial-exec")));
static __thread uint32_t my_thread_no __attribute__((tls_model("initial-exec")));
static __thread uint32_t my_clock_n __attribute__((tls_model("initial-exec")));
static __thread uint64_t my_time __attribute__((tls_model("initial-exec")));

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_lock(int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(l, __ATOMIC_RELAXED))
			sched_yield();
}

static void spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Decimal digits of v at the end of buf; returns the first digit. */
static char *utoa(char *end, unsigned long v)
{
	*end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Open `name` for writing, move it above the fds programs use, write the file header. */
static int open_trace(const char *name, int flags)
{
	uint8_t h[KT_FILE_HDR];
	int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

	if (fd < 0)
		return -1;
	{
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, 200);
		if (hi >= 0) {
			close(fd);
			fd = hi;
		}
	}
	memset(h, 0, sizeof(h));
	memcpy(h, KT_MAGIC, sizeof(KT_MAGIC));
	kt_put_u32(h + 8, KT_VERSION);
	kt_put_u32(h + 12, KT_FILE_HDR);
	kt_put_u32(h + 16, (uint32_t)getpid());
	kt_put_u32(h + 20, (uint32_t)getppid());
	kt_put_u64(h + 24, t_start);
	if (write_all(fd, h, sizeof(h)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* FILE.<pid> */
static int open_per_pid(void)
{
	char name[sizeof(path) + 24], digits[24];
	const char *d = utoa(digits + sizeof(digits) - 1, (unsigned long)getpid());
	size_t n = strlen(path), m = strlen(d);

	if (n + 1 + m >= sizeof(name))
		return -1;
	memcpy(name, path, n);
	name[n] = '.';
	memcpy(name + n + 1, d, m + 1);
	return open_trace(name, O_TRUNC);
}

/* Is FILE being written by another live traced process (our parent, usually)? */
static int owned_by_other(void)
{
	uint8_t h[KT_FILE_HDR];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	pid_t pid;

	if (fd < 0)
		return 0;
	r = read(fd, h, sizeof(h));
	close(fd);
	if (r != (ssize_t)sizeof(h) || memcmp(h, KT_MAGIC, sizeof(KT_MAGIC)) != 0)
		return 0;
	pid = (pid_t)kt_get_u32(h + 16);
	if (pid <= 0 || pid == getpid())
		return 0;
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* With wlock held. Turns recording off for good when the file cannot be written. */
static void write_chunk(const uint8_t *p, size_t n)
{
	if (need_open) {
		need_open = 0;
		trace_fd = open_per_pid();
		if (trace_fd < 0)
			shim_write_err("kalloc: KALLOC_TRACE: cannot open FILE.<pid> for a forked "
				       "child: not tracing it\n");
	}
	if (trace_fd < 0)
		return;
	if (write_all(trace_fd, p, n) != 0) {
		shim_write_err("kalloc: KALLOC_TRACE: write failed: tracing stopped\n");
		close(trace_fd);
		trace_fd = -1;
		__atomic_store_n(&shim_trace_on, 0, __ATOMIC_RELAXED);
	}
}

static void fill_header(uint8_t *h, uint32_t payload, uint32_t nrec, uint32_t thread_no,
			uint64_t base_seq, uint64_t base_time)
{
	kt_put_u32(h, KT_CHUNK_MAGIC);
	kt_put_u32(h + 4, payload);
	kt_put_u32(h + 8, nrec);
	kt_put_u32(h + 12, thread_no);
	kt_put_u64(h + 16, base_seq);
	kt_put_u64(h + 24, base_time);
}

/* With b->lock held. */
static void flush_locked(struct tbuf *b)
{
	if (b->nrec == 0)
		return;
	fill_header(b->data, (uint32_t)(b->len - KT_CHUNK_HDR), b->nrec, b->thread_no, b->base_seq,
		    b->base_time);
	pthread_mutex_lock(&wlock);
	write_chunk(b->data, b->len);
	pthread_mutex_unlock(&wlock);
	b->len = KT_CHUNK_HDR;
	b->nrec = 0;
}

static void thread_exit(void *arg)
{
	struct tbuf *b = arg;
	int saved = errno;

	spin_lock(&b->lock);
	flush_locked(b);
	spin_unlock(&b->lock);
	__atomic_store_n(&b->claimed, 0, __ATOMIC_RELEASE);
	my_buf = NULL;
	my_state = T_DEAD;
	errno = saved;
}

static struct tbuf *claim(void)
{
	struct tbuf *b = NULL;

	for (size_t i = 0; i < NSLOTS && !b; i++) {
		struct tbuf *s = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		int expect = 0;
		if (!s) {
			void *m = mmap(NULL, TBUF_BYTES, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			struct tbuf *none = NULL;
			if (m == MAP_FAILED)
				return NULL;
			s = m;
			s->claimed = 1;
			if (__atomic_compare_exchange_n(&slots[i], &none, s, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				b = s;
				break;
			}
			munmap(m, TBUF_BYTES);
			s = none;
		}
		if (__atomic_compare_exchange_n(&s->claimed, &expect, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			b = s;
	}
	if (!b)
		return NULL;
	my_thread_no = __atomic_fetch_add(&thread_ctr, 1, __ATOMIC_RELAXED);
	b->thread_no = my_thread_no;
	b->nrec = 0;
	b->len = KT_CHUNK_HDR;
	if (tkey_ok)
		pthread_setspecific(tkey, b);
	return b;
}

/* A record outside any buffer (dead thread, no free slot): one chunk of one record. */
static void write_single(const struct kt_record *r)
{
	uint8_t tmp[KT_CHUNK_HDR + KT_MAX_RECORD];
	struct kt_delta d = {r->seq, r->time, 0};
	uint8_t *end = kt_encode(tmp + KT_CHUNK_HDR, &d, r);

	fill_header(tmp, (uint32_t)(end - tmp - KT_CHUNK_HDR), 1, my_thread_no, r->seq, r->time);
	pthread_mutex_lock(&wlock);
	write_chunk(tmp, (size_t)(end - tmp));
	pthread_mutex_unlock(&wlock);
}

static void record(struct kt_record *r)
{
	struct tbuf *b = my_buf;
	int saved = errno;

	/* The clock every 8th record of a thread: clock_gettime() costs ~70 ns in a VM, most of
	 * a record's cost; the records between carry the last reading (docs/trace.md). */
	if ((my_clock_n++ & 7) == 0) {
		uint64_t t = now_ns();
		my_time = t > t_start ? t - t_start : 0;
	}
	r->time = my_time;
	if (!b && my_state == T_NEW) {
		b = claim();
		if (b) {
			my_buf = b;
			my_state = T_ACTIVE;
		}
	}
	if (!b) {
		write_single(r);
		errno = saved;
		return;
	}
	spin_lock(&b->lock);
	if (b->nrec != 0 && b->len + KT_MAX_RECORD > TBUF_DATA)
		flush_locked(b);
	if (b->nrec == 0) {
		b->base_seq = r->seq;
		b->base_time = r->time;
		b->d = (struct kt_delta){r->seq, r->time, 0};
	}
	b->len = (size_t)(kt_encode(b->data + b->len, &b->d, r) - b->data);
	b->nrec++;
	if (__atomic_load_n(&exiting, __ATOMIC_RELAXED))
		flush_locked(b);
	spin_unlock(&b->lock);
	errno = saved;
}

uint64_t shim_trace_seq(void)
{
	return __atomic_fetch_add(&seq_ctr, 1, __ATOMIC_RELAXED);
}

static unsigned log2_of(size_t a)
{
	unsigned l = 0;

	while (l < 63 && ((size_t)1 << l) < a)
		l++;
	return l;
}

void shim_trace_alloc(int op, void *p, size_t n, size_t align)
{
	struct kt_record r = {.op = (uint8_t)op, .addr = (uintptr_t)p, .size = n};

	r.align_log = op == KT_ALIGNED ? (uint8_t)log2_of(align) : 0;
	r.seq = shim_trace_seq();
	record(&r);
}

void shim_trace_free(void *p)
{
	struct kt_record r = {.op = KT_FREE, .addr = (uintptr_t)p};

	r.seq = shim_trace_seq();
	record(&r);
}

void shim_trace_realloc(uint64_t seq_before, void *p, void *q, size_t n)
{
	struct kt_record r = {.addr = (uintptr_t)p, .seq = seq_before};

	if (!q) {
		if (n != 0)
			return; /* failed: p is untouched, nothing happened to it */
		r.op = KT_FREE;
	} else {
		r.op = KT_REALLOC;
		r.addr2 = (uintptr_t)q;
		r.size = n;
		r.seq2 = shim_trace_seq();
	}
	record(&r);
}

void shim_trace_init(void)
{
	const char *v = shim_env_get("KALLOC_TRACE");
	size_t n;

	if (!v || !*v)
		return;
	n = strlen(v);
	if (n >= sizeof(path) - 24) {
		shim_write_err("kalloc: KALLOC_TRACE: path too long: not tracing\n");
		return;
	}
	memcpy(path, v, n + 1);
	t_start = now_ns();
	trace_fd = open_trace(path, O_EXCL);
	if (trace_fd < 0 && errno == EEXIST)
		trace_fd = owned_by_other() ? open_per_pid() : open_trace(path, O_TRUNC);
	if (trace_fd < 0) {
		shim_write_err("kalloc: KALLOC_TRACE: cannot create the trace file: not tracing\n");
		return;
	}
	tkey_ok = pthread_key_create(&tkey, thread_exit) == 0;
	__atomic_store_n(&shim_trace_on, 1, __ATOMIC_RELEASE);
}

void shim_trace_atfork_child(void)
{
	if (!shim_trace_on)
		return;
	pthread_mutex_init(&wlock, NULL);
	if (trace_fd >= 0)
		close(trace_fd);
	trace_fd = -1;
	need_open = 1;
	for (size_t i = 0; i < NSLOTS; i++) {
		struct tbuf *b = slots[i];
		if (!b)
			continue;
		b->lock = 0;
		b->nrec = 0;
		b->len = KT_CHUNK_HDR;
		if (b != my_buf)
			b->claimed = 0; /* its thread does not exist in the child */
	}
}

/* Runs late (the preloaded library is finalised after the program's own libraries). */
__attribute__((destructor)) static void trace_exit_flush(void)
{
	if (!shim_trace_on)
		return;
	__atomic_store_n(&exiting, 1, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < NSLOTS; i++) {
		struct tbuf *b = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		if (!b)
			continue;
		spin_lock(&b->lock);
		flush_locked(b);
		spin_unlock(&b->lock);
	}
}
