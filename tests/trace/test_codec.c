/* SPDX-License-Identifier: MIT */
/*
 * The KALLOC_TRACE encoder and decoder: record round trips through kt_encode/kt_decode, and
 * whole files built here (several threads' chunks, interleaved, with the realloc and
 * address-reuse orders a multi-threaded program produces) decoded by rt_decode() into the
 * operations a replay runs, including its repairs of partial recordings.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../shim/trace_format.h"
#include "../../tools/bench/replay.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random value of a random magnitude, so every varint length occurs. */
static uint64_t rnd_mag(void)
{
	unsigned bits = (unsigned)(rnd() % 65);
	return bits == 64 ? rnd() : rnd() & (((uint64_t)1 << bits) - 1);
}

static void test_varint_and_zigzag(void **state)
{
	uint8_t buf[16];
	(void)state;

	for (int i = 0; i < 100000; i++) {
		uint64_t v = rnd_mag(), back = 0;
		uint8_t *end = kt_put_var(buf, v);
		const uint8_t *q = kt_get_var(buf, end, &back);
		assert_ptr_equal(q, end);
		assert_int_equal(back, v);
		assert_true(end - buf <= 10);
		assert_int_equal(kt_unzigzag(kt_zigzag(v)), v);
		/* Truncated input is refused, not read past. */
		if (end - buf > 1)
			assert_null(kt_get_var(buf, end - 1, &back));
	}
	assert_int_equal(kt_zigzag((uint64_t)-1), 1);
	assert_int_equal(kt_zigzag(1), 2);
}

static void rand_record(struct kt_record *r, uint64_t *seq, uint64_t *time)
{
	memset(r, 0, sizeof(*r));
	r->op = (uint8_t)(KT_MALLOC + rnd() % 5);
	*seq += 1 + rnd() % 1000;
	*time += rnd_mag() >> (rnd() % 64);
	r->seq = *seq;
	r->time = *time;
	r->addr = rnd_mag() & ~(uint64_t)15;
	if (r->op != KT_FREE)
		r->size = rnd_mag();
	if (r->op == KT_ALIGNED)
		r->align_log = (uint8_t)(rnd() % 64);
	if (r->op == KT_REALLOC) {
		r->addr2 = rnd_mag();
		*seq += 1 + rnd() % 5;
		r->seq2 = *seq;
	}
}

static void test_record_round_trip(void **state)
{
	enum { N = 20000 };
	static uint8_t buf[N * KT_MAX_RECORD];
	static struct kt_record in[N];
	struct kt_delta e = {5, 7, 0}, d = {5, 7, 0};
	uint64_t seq = 5, time = 7;
	uint8_t *p = buf;
	const uint8_t *q = buf;
	(void)state;

	for (int i = 0; i < N; i++) {
		uint8_t *next;
		rand_record(&in[i], &seq, &time);
		next = kt_encode(p, &e, &in[i]);
		assert_true(next - p <= (ptrdiff_t)KT_MAX_RECORD);
		p = next;
	}
	for (int i = 0; i < N; i++) {
		struct kt_record r;
		q = kt_decode(q, p, &d, &r);
		assert_non_null(q);
		assert_int_equal(r.op, in[i].op);
		assert_int_equal(r.seq, in[i].seq);
		assert_int_equal(r.time, in[i].time);
		assert_int_equal(r.addr, in[i].addr);
		assert_int_equal(r.size, in[i].size);
		assert_int_equal(r.align_log, in[i].align_log);
		assert_int_equal(r.seq2, in[i].seq2);
		assert_int_equal(r.addr2, in[i].addr2);
	}
	assert_ptr_equal(q, p);
	/* A bad op code is refused. */
	buf[0] = 0;
	assert_null(kt_decode(buf, p, &d, &(struct kt_record){0}));
}

/* ---- building trace files ------------------------------------------------------------- */

struct file {
	uint8_t *b;
	size_t n;
};

static void put(struct file *f, const void *p, size_t n)
{
	f->b = realloc(f->b, f->n + n);
	assert_non_null(f->b);
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void file_header(struct file *f, uint32_t version)
{
	uint8_t h[KT_FILE_HDR] = {0};

	memcpy(h, KT_MAGIC, sizeof(KT_MAGIC));
	kt_put_u32(h + 8, version);
	kt_put_u32(h + 12, KT_FILE_HDR);
	kt_put_u32(h + 16, 1234);
	kt_put_u32(h + 20, 1);
	put(f, h, sizeof(h));
}

/* One chunk of thread `thread` holding records r[0..n) (in that thread's order). */
static void chunk(struct file *f, uint32_t thread, const struct kt_record *r, size_t n)
{
	uint8_t payload[64 * KT_MAX_RECORD], h[KT_CHUNK_HDR];
	struct kt_delta d = {r[0].seq, r[0].time, 0};
	uint8_t *p = payload;

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		p = kt_encode(p, &d, &r[i]);
	kt_put_u32(h, KT_CHUNK_MAGIC);
	kt_put_u32(h + 4, (uint32_t)(p - payload));
	kt_put_u32(h + 8, (uint32_t)n);
	kt_put_u32(h + 12, thread);
	kt_put_u64(h + 16, r[0].seq);
	kt_put_u64(h + 24, r[0].time);
	put(f, h, sizeof(h));
	put(f, payload, (size_t)(p - payload));
}

#define REC(o, s, a, sz)                                                                           \
	((struct kt_record){.op = (o), .seq = (s), .time = (s)*10, .addr = (a), .size = (sz)})

static void test_decode_two_threads(void **state)
{
	/*
	 * Thread 0: malloc A (seq 0), realloc A -> B (seq 1 before, 4 after), free B (5).
	 * Thread 1: malloc A (seq 2, the address thread 0's realloc just gave back), free A (3),
	 *           aligned C (6), calloc D (7).
	 * Thread 1's chunk is written first: the decoder must order by sequence number.
	 */
	struct kt_record t0[3] = {REC(KT_MALLOC, 0, 0x1000, 100), REC(KT_REALLOC, 1, 0x1000, 300),
				  REC(KT_FREE, 5, 0x2000, 0)};
	struct kt_record t1[4] = {REC(KT_MALLOC, 2, 0x1000, 50), REC(KT_FREE, 3, 0x1000, 0),
				  REC(KT_ALIGNED, 6, 0x3000, 4096), REC(KT_CALLOC, 7, 0x4000, 24)};
	struct file f = {0};
	struct rt_trace t;
	char err[128];
	(void)state;

	t0[1].addr2 = 0x2000;
	t0[1].seq2 = 4;
	t0[1].time = 40;
	t0[2].time = 50;
	t1[2].align_log = 12;
	file_header(&f, KT_VERSION);
	chunk(&f, 1, t1, 4);
	chunk(&f, 0, t0, 3);
	assert_int_equal(rt_decode(f.b, f.n, &t, err, sizeof(err)), 0);
	assert_int_equal(t.records, 7);
	assert_int_equal(t.chunks, 2);
	assert_int_equal(t.threads, 2);
	assert_int_equal(t.pid, 1234);
	assert_int_equal(t.unknown_free + t.unknown_realloc + t.reused_live, 0);
	assert_int_equal(t.nops, 7);
	assert_int_equal(t.nobjs, 4);
	/* Order: malloc A#0, malloc A#1 (other thread), free #1, realloc #0, free #0, aligned,
	 * calloc. */
	uint8_t ops[7] = {KT_MALLOC, KT_MALLOC,	 KT_FREE,  KT_REALLOC,
			  KT_FREE,   KT_ALIGNED, KT_CALLOC};
	uint32_t ids[7] = {0, 1, 1, 0, 0, 2, 3};
	uint64_t sizes[7] = {100, 50, 0, 300, 0, 4096, 24};
	for (int i = 0; i < 7; i++) {
		assert_int_equal(t.ops[i].op, ops[i]);
		assert_int_equal(t.ops[i].id, ids[i]);
		assert_int_equal(t.ops[i].size, sizes[i]);
	}
	assert_int_equal(t.ops[5].align_log, 12);
	assert_int_equal(t.ops[3].time, 40);
	assert_int_equal(t.ops[1].thread, 1);
	assert_int_equal(t.peak_live, 4096 + 24); /* the last two blocks; 300 before */
	rt_release(&t);
	free(f.b);
}

static void test_decode_repairs(void **state)
{
	/* free of an unknown block; realloc of an unknown block; malloc of a live address (its
	 * free was lost); realloc onto a live address. */
	struct kt_record r[6] = {REC(KT_FREE, 0, 0x9000, 0),	REC(KT_MALLOC, 1, 0x1000, 10),
				 REC(KT_MALLOC, 2, 0x1000, 20), REC(KT_REALLOC, 3, 0x7000, 30),
				 REC(KT_MALLOC, 5, 0x5000, 40), REC(KT_REALLOC, 6, 0x1000, 50)};
	struct file f = {0};
	struct rt_trace t;
	char err[128];
	(void)state;

	r[3].addr2 = 0x8000;
	r[3].seq2 = 4;
	r[5].addr2 = 0x5000; /* 0x5000 is live: its free was lost */
	r[5].seq2 = 7;
	file_header(&f, KT_VERSION);
	chunk(&f, 0, r, 6);
	assert_int_equal(rt_decode(f.b, f.n, &t, err, sizeof(err)), 0);
	assert_int_equal(t.unknown_free, 1);
	assert_int_equal(t.unknown_realloc, 1);
	assert_int_equal(t.reused_live, 2);
	/* malloc#0, free#0 (repair), malloc#1, malloc#2 (from the unknown realloc), malloc#3,
	 * free#3 (repair), realloc#1 */
	uint8_t ops[7] = {KT_MALLOC, KT_FREE, KT_MALLOC, KT_MALLOC, KT_MALLOC, KT_FREE, KT_REALLOC};
	uint32_t ids[7] = {0, 0, 1, 2, 3, 3, 1};
	assert_int_equal(t.nops, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(t.ops[i].op, ops[i]);
		assert_int_equal(t.ops[i].id, ids[i]);
	}
	rt_release(&t);

	/* A file cut inside its last chunk keeps the complete chunks. */
	{
		struct file g = {0};
		file_header(&g, KT_VERSION);
		chunk(&g, 0, r + 1, 1);
		chunk(&g, 0, r + 2, 1);
		assert_int_equal(rt_decode(g.b, g.n - 3, &t, err, sizeof(err)), 0);
		assert_true(t.truncated);
		assert_int_equal(t.nops, 1);
		rt_release(&t);
		free(g.b);
	}
	free(f.b);
}

static void test_decode_refuses(void **state)
{
	struct file f = {0};
	struct rt_trace t;
	char err[128];
	(void)state;

	file_header(&f, KT_VERSION + 1);
	assert_int_equal(rt_decode(f.b, f.n, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "version"));
	f.b[0] = 'X';
	assert_int_equal(rt_decode(f.b, f.n, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "magic"));
	assert_int_equal(rt_decode(f.b, 10, &t, err, sizeof(err)), -1);
	free(f.b);
}

/* Many interleaved threads with address reuse: every free matches, ids stay consistent. */
static void test_decode_shuffled_threads(void **state)
{
	enum { THREADS = 4, PER = 64 * 20 };
	static struct kt_record rec[THREADS][PER];
	size_t cnt[THREADS] = {0};
	uint64_t live_addr[THREADS] = {0}, seq = 0;
	struct file f = {0};
	struct rt_trace t;
	char err[128];
	(void)state;

	/* A global order: each step one thread mallocs or frees; addresses come from a small pool
	 * so they are reused by different threads. Frees happen on a random thread (cross-thread
	 * frees), allocations at a fresh seq after them. */
	uint64_t pool[8] = {0x100, 0x200, 0x300, 0x400, 0x500, 0x600, 0x700, 0x800};
	int owner[8];
	for (int i = 0; i < 8; i++)
		owner[i] = -1;
	for (int step = 0; step < THREADS * PER - 8; step++) {
		int th = (int)(rnd() % THREADS), a = (int)(rnd() % 8);
		if (cnt[th] >= PER)
			continue;
		struct kt_record *r = &rec[th][cnt[th]++];
		*r = REC(owner[a] < 0 ? KT_MALLOC : KT_FREE, seq, pool[a],
			 owner[a] < 0 ? 16 + (uint64_t)a : 0);
		owner[a] = owner[a] < 0 ? th : -1;
		seq++;
	}
	(void)live_addr;
	file_header(&f, KT_VERSION);
	/* Chunks of 64 records, threads' chunks written in a scrambled order. */
	for (size_t c = 0; c < PER / 64; c++)
		for (int k = 0; k < THREADS; k++) {
			int th = (int)((k + c) % THREADS);
			size_t from = c * 64, n = cnt[th] > from ? cnt[th] - from : 0;
			if (n > 64)
				n = 64;
			if (n)
				chunk(&f, (uint32_t)th, &rec[th][from], n);
		}
	assert_int_equal(rt_decode(f.b, f.n, &t, err, sizeof(err)), 0);
	assert_int_equal(t.unknown_free + t.unknown_realloc + t.reused_live, 0);
	assert_int_equal(t.nops, seq);
	/* Replaying ids: no id is freed twice or used after free; sizes match the address. */
	{
		uint8_t *alive = calloc(t.nobjs, 1);
		for (size_t i = 0; i < t.nops; i++) {
			if (t.ops[i].op == KT_FREE) {
				assert_true(alive[t.ops[i].id]);
				alive[t.ops[i].id] = 0;
			} else {
				assert_false(alive[t.ops[i].id]);
				alive[t.ops[i].id] = 1;
			}
		}
		free(alive);
	}
	rt_release(&t);
	free(f.b);
}

/* rt_load() of a file and of its gzip'd copy. */
static void test_load_files(void **state)
{
	struct kt_record r[2] = {REC(KT_MALLOC, 0, 0x1000, 77), REC(KT_FREE, 1, 0x1000, 0)};
	struct file f = {0};
	struct rt_trace t;
	char path[] = "/tmp/kalloc-trace-test-XXXXXX", gz[64], cmd[160], err[128];
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	file_header(&f, KT_VERSION);
	chunk(&f, 0, r, 2);
	assert_int_equal(write(fd, f.b, f.n), (ssize_t)f.n);
	close(fd);
	assert_int_equal(rt_load(path, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nops, 2);
	assert_int_equal(t.peak_live, 77);
	rt_release(&t);
	snprintf(gz, sizeof(gz), "%s.gz", path);
	snprintf(cmd, sizeof(cmd), "gzip -c %s > %s", path, gz);
	if (system(cmd) == 0) {
		assert_int_equal(rt_load(gz, &t, err, sizeof(err)), 0);
		assert_int_equal(t.nops, 2);
		assert_int_equal(t.ops[0].size, 77);
		rt_release(&t);
	}
	unlink(gz);
	unlink(path);
	assert_int_equal(rt_load(path, &t, err, sizeof(err)), -1);
	free(f.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varint_and_zigzag),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test(test_decode_two_threads),
	    cmocka_unit_test(test_decode_repairs),
	    cmocka_unit_test(test_decode_refuses),
	    cmocka_unit_test(test_decode_shuffled_threads),
	    cmocka_unit_test(test_load_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
