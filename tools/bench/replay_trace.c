/* SPDX-License-Identifier: MIT */
/*
 * Decoder of KALLOC_TRACE files (format: shim/trace_format.h, docs/trace.md): chunks ->
 * events sorted by sequence number -> operations on dense object ids (replay.h).
 *
 * A realloc is two events: its first half (the sequence number taken before the call)
 * releases the old address, the second (taken after) binds the new one to the same object.
 * Between the two, another thread may legitimately have received the old address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/trace_format.h"
#include "replay.h"

#define EV_RELEASE 6 /* first half of a realloc */
#define NO_ID	   UINT32_MAX

struct ev {
	uint64_t seq;
	uint64_t seq1; /* realloc: the first half's number (key of the pending object) */
	uint64_t addr, addr2, size, time;
	uint8_t kind, align_log;
	uint16_t thread;
};

void *rt_grow(void *p, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 65536;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if (p)
		q = mremap(p, *cap, n, MREMAP_MAYMOVE);
	else
		q = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return NULL;
	*cap = n;
	return q;
}

/* ---- u64 -> u32 map: open addressing, linear probing, backward-shift deletion ---------- */

struct map {
	uint64_t *keys; /* 0: empty */
	uint32_t *vals;
	size_t cap, count; /* cap: power of two */
	unsigned bits;
};

static size_t slot_of(const struct map *m, uint64_t k)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ull) >> (64 - m->bits));
}

static void map_free(struct map *m)
{
	if (m->keys)
		munmap(m->keys, m->cap * sizeof(uint64_t));
	if (m->vals)
		munmap(m->vals, m->cap * sizeof(uint32_t));
	memset(m, 0, sizeof(*m));
}

static int map_init(struct map *m, unsigned bits)
{
	memset(m, 0, sizeof(*m));
	m->bits = bits;
	m->cap = (size_t)1 << bits;
	m->keys = mmap(NULL, m->cap * sizeof(uint64_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	m->vals = mmap(NULL, m->cap * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->keys == MAP_FAILED || m->vals == MAP_FAILED) {
		if (m->keys == MAP_FAILED)
			m->keys = NULL;
		if (m->vals == MAP_FAILED)
			m->vals = NULL;
		map_free(m);
		return -1;
	}
	return 0;
}

static int map_put(struct map *m, uint64_t k, uint32_t v);

static int map_rehash(struct map *m)
{
	struct map n;

	if (map_init(&n, m->bits + 1) != 0)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			map_put(&n, m->keys[i], m->vals[i]);
	map_free(m);
	*m = n;
	return 0;
}

/* Insert or overwrite; k != 0. */
static int map_put(struct map *m, uint64_t k, uint32_t v)
{
	size_t i;

	if ((m->count + 1) * 2 > m->cap && map_rehash(m) != 0)
		return -1;
	for (i = slot_of(m, k); m->keys[i] && m->keys[i] != k; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->count++;
	m->keys[i] = k;
	m->vals[i] = v;
	return 0;
}

static uint32_t map_get(const struct map *m, uint64_t k)
{
	for (size_t i = slot_of(m, k); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == k)
			return m->vals[i];
	return NO_ID;
}

/* Remove k; its value, or NO_ID if absent. */
static uint32_t map_take(struct map *m, uint64_t k)
{
	size_t mask = m->cap - 1, i, j;
	uint32_t v;

	for (i = slot_of(m, k); m->keys[i] != k; i = (i + 1) & mask)
		if (!m->keys[i])
			return NO_ID;
	v = m->vals[i];
	/* Backward shift: pull later members of the probe run into the hole. */
	for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->keys[j]);
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->count--;
	return v;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void errf(char *err, size_t errlen, const char *fmt, const char *a)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, a);
}

/* The whole of `path` in a mapping: the file itself, or gzip's output for a .gz. */
static int read_all(const char *path, uint8_t **data, size_t *len, size_t *cap, char *err,
		    size_t errlen)
{
	unsigned char magic[2] = {0, 0};
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*data = NULL;
	*len = *cap = 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		errf(err, errlen, "cannot open %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (read(fd, magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		int pfd[2], status;
		pid_t pid;

		close(fd);
		if (pipe(pfd) != 0)
			return -1;
		pid = fork();
		if (pid == 0) {
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
			execlp("gzip", "gzip", "-dc", "--", path, (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		for (;;) {
			uint8_t *d = rt_grow(*data, cap, *len + 1048576);
			ssize_t r;
			if (!d)
				break;
			*data = d;
			r = read(pfd[0], *data + *len, *cap - *len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			*len += (size_t)r;
		}
		close(pfd[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			errf(err, errlen, "gzip -dc %s failed", path);
			return -1;
		}
		return 0;
	}
	*len = (size_t)st.st_size;
	if (*len == 0) {
		close(fd);
		errf(err, errlen, "%s is empty", path);
		return -1;
	}
	*data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*data == MAP_FAILED) {
		*data = NULL;
		errf(err, errlen, "cannot map %s", path);
		return -1;
	}
	*cap = *len;
	return 0;
}

int rt_load(const char *path, struct rt_trace *t, char *err, size_t errlen)
{
	uint8_t *data;
	size_t len, cap;
	int rc;

	memset(t, 0, sizeof(*t));
	if (read_all(path, &data, &len, &cap, err, errlen) != 0) {
		if (data)
			munmap(data, cap);
		return -1;
	}
	rc = rt_decode(data, len, t, err, errlen);
	munmap(data, cap);
	return rc;
}

/* ---- decoding ----------------------------------------------------------------------------- */

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The events in sequence-number order, as indices into evs (*idx, n of them). One thread's
 * chunks come sorted; interleaved threads do not. Every event has its own number and the
 * numbers are nearly dense (gaps: failed reallocs, lost buffers), so each event's index is
 * scattered to its number's rank in one pass; sparse traces fall back to qsort.
 */
static int order(struct ev *evs, size_t nev, uint32_t **idx, size_t *idxcap, size_t *n)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	bool sorted = true;
	uint32_t *o;
	size_t range;

	*n = 0;
	for (size_t i = 0; i < nev; i++) {
		uint64_t q = evs[i].seq;
		if (i && q < evs[i - 1].seq)
			sorted = false;
		lo = q < lo ? q : lo;
		hi = q > hi ? q : hi;
	}
	range = nev ? (size_t)(hi - lo + 1) : 0;
	if (!sorted && (hi - lo >= (uint64_t)nev * 3 || nev >= UINT32_MAX)) {
		qsort(evs, nev, sizeof(*evs), cmp_ev);
		sorted = true;
	}
	if (sorted)
		range = nev;
	if (!(o = rt_grow(NULL, idxcap, (range + 1) * sizeof(*o))))
		return -1;
	*idx = o;
	if (sorted) {
		for (size_t i = 0; i < nev; i++)
			o[i] = (uint32_t)i;
		*n = nev;
		return 0;
	}
	/* A fresh mapping is zeroed: store index + 1, 0 marks a number no event has. */
	for (size_t i = 0; i < nev; i++)
		o[evs[i].seq - lo] = (uint32_t)i + 1;
	for (size_t i = 0; i < range; i++)
		if (o[i])
			o[(*n)++] = o[i] - 1;
	return 0;
}

static int emit(struct rt_trace *t, uint8_t op, uint32_t id, uint64_t size, uint64_t time,
		uint8_t align_log, uint16_t thread)
{
	struct rt_op *o;

	if ((t->nops + 1) * sizeof(*o) > t->ops_bytes) {
		void *p = rt_grow(t->ops, &t->ops_bytes, (t->nops + 1) * sizeof(*o));
		if (!p)
			return -1;
		t->ops = p;
	}
	o = &t->ops[t->nops++];
	o->size = size;
	o->time = time;
	o->id = id;
	o->op = op;
	o->align_log = align_log;
	o->thread = thread;
	t->by_op[op]++;
	if (time > t->duration)
		t->duration = time;
	return 0;
}

/* Chunks -> events (one per record, two per realloc). */
static int collect(const uint8_t *data, size_t len, struct rt_trace *t, struct ev **evs,
		   size_t *nev, size_t *evcap)
{
	size_t off = KT_FILE_HDR;
	uint64_t max_thread = 0;

	*nev = 0;
	while (off < len) {
		const uint8_t *h = data + off, *p, *end;
		uint32_t payload, nrec, thread;
		struct kt_delta d;

		if (len - off < KT_CHUNK_HDR) {
			t->truncated = true;
			break;
		}
		if (kt_get_u32(h) != KT_CHUNK_MAGIC) {
			t->corrupt_chunks++;
			break; /* no way to resynchronise safely */
		}
		payload = kt_get_u32(h + 4);
		nrec = kt_get_u32(h + 8);
		thread = kt_get_u32(h + 12);
		if (payload > len - off - KT_CHUNK_HDR) {
			t->truncated = true;
			break;
		}
		d.seq = kt_get_u64(h + 16);
		d.time = kt_get_u64(h + 24);
		d.addr = 0;
		p = h + KT_CHUNK_HDR;
		end = p + payload;
		t->chunks++;
		if (thread + 1u > max_thread)
			max_thread = thread + 1u;
		for (uint32_t i = 0; i < nrec; i++) {
			struct kt_record r;
			struct ev *e;
			const uint8_t *q = kt_decode(p, end, &d, &r);

			if (!q) {
				t->corrupt_chunks++;
				break;
			}
			p = q;
			t->records++;
			if (!(*evs = rt_grow(*evs, evcap, (*nev + 2) * sizeof(struct ev))))
				return -1;
			e = &(*evs)[(*nev)++];
			e->kind = r.op;
			e->seq = r.op == KT_REALLOC ? r.seq2 : r.seq;
			e->seq1 = r.seq;
			e->addr = r.addr;
			e->addr2 = r.addr2;
			e->size = r.size;
			e->time = r.time;
			e->align_log = r.align_log;
			e->thread = thread > 65535 ? 65535 : (uint16_t)thread;
			if (r.op == KT_REALLOC) {
				struct ev *f = &(*evs)[(*nev)++];
				*f = *e;
				f->kind = EV_RELEASE;
				f->seq = r.seq;
			}
		}
		off += KT_CHUNK_HDR + payload;
	}
	t->threads = max_thread;
	return 0;
}

int rt_decode(const uint8_t *data, size_t len, struct rt_trace *t, char *err, size_t errlen)
{
	struct ev *evs = NULL;
	uint32_t *idx = NULL;
	size_t nev = 0, evcap = 0, szcap = 0, idxcap = 0, nord = 0;
	uint64_t *sz = NULL, live = 0;
	struct map addr, pending;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (len < KT_FILE_HDR || memcmp(data, KT_MAGIC, sizeof(KT_MAGIC)) != 0) {
		errf(err, errlen, "%s", "not a KALLOC_TRACE file (bad magic)");
		return -1;
	}
	t->version = kt_get_u32(data + 8);
	if (t->version != KT_VERSION || kt_get_u32(data + 12) != KT_FILE_HDR) {
		errf(err, errlen, "%s", "unsupported trace version (this decoder reads version 1)");
		return -1;
	}
	t->pid = kt_get_u32(data + 16);
	t->ppid = kt_get_u32(data + 20);
	if (map_init(&addr, 12) != 0 || map_init(&pending, 6) != 0) {
		errf(err, errlen, "%s", "out of memory");
		return -1;
	}
	if (collect(data, len, t, &evs, &nev, &evcap) != 0)
		goto oom;
	if (order(evs, nev, &idx, &idxcap, &nord) != 0)
		goto oom;
	for (size_t k = 0; k < nord; k++) {
		const struct ev *e = &evs[idx[k]];
		uint32_t id, old;

		switch (e->kind) {
		case KT_MALLOC:
		case KT_CALLOC:
		case KT_ALIGNED:
			old = map_get(&addr, e->addr);
			if (old != NO_ID) {
				t->reused_live++;
				live -= sz[old];
				if (emit(t, KT_FREE, old, 0, e->time, 0, e->thread) != 0)
					goto oom;
			}
			id = t->nobjs++;
			if (!(sz = rt_grow(sz, &szcap, (size_t)t->nobjs * sizeof(*sz))) ||
			    map_put(&addr, e->addr, id) != 0 ||
			    emit(t, e->kind, id, e->size, e->time, e->align_log, e->thread) != 0)
				goto oom;
			sz[id] = e->size;
			live += e->size;
			break;
		case KT_FREE:
			id = map_take(&addr, e->addr);
			if (id == NO_ID) {
				t->unknown_free++;
				break;
			}
			live -= sz[id];
			if (emit(t, KT_FREE, id, 0, e->time, 0, e->thread) != 0)
				goto oom;
			break;
		case EV_RELEASE:
			id = map_take(&addr, e->addr);
			if (id != NO_ID && map_put(&pending, e->seq1 + 1, id) != 0)
				goto oom;
			break;
		case KT_REALLOC:
			id = map_take(&pending, e->seq1 + 1);
			old = map_get(&addr, e->addr2);
			if (old != NO_ID) {
				t->reused_live++;
				live -= sz[old];
				map_take(&addr, e->addr2);
				if (emit(t, KT_FREE, old, 0, e->time, 0, e->thread) != 0)
					goto oom;
			}
			if (id == NO_ID) {
				t->unknown_realloc++;
				id = t->nobjs++;
				if (!(sz = rt_grow(sz, &szcap, (size_t)t->nobjs * sizeof(*sz))) ||
				    emit(t, KT_MALLOC, id, e->size, e->time, 0, e->thread) != 0)
					goto oom;
			} else {
				live -= sz[id];
				if (emit(t, KT_REALLOC, id, e->size, e->time, 0, e->thread) != 0)
					goto oom;
			}
			if (map_put(&addr, e->addr2, id) != 0)
				goto oom;
			sz[id] = e->size;
			live += e->size;
			break;
		default:
			break;
		}
		if (live > t->peak_live)
			t->peak_live = live;
	}
	rc = 0;
	goto out;
oom:
	errf(err, errlen, "%s", "out of memory while decoding");
	rt_release(t);
out:
	if (evs)
		munmap(evs, evcap);
	if (idx)
		munmap(idx, idxcap);
	if (sz)
		munmap(sz, szcap);
	map_free(&addr);
	map_free(&pending);
	return rc;
}

void rt_release(struct rt_trace *t)
{
	if (t->ops)
		munmap(t->ops, t->ops_bytes);
	t->ops = NULL;
	t->nops = 0;
	t->ops_bytes = 0;
}
