/* SPDX-License-Identifier: MIT */
/*
 * The KALLOC_TRACE file format, version 1 (docs/trace.md is the specification), shared by the
 * recorder in the shim (shim/trace.c) and the decoder of kalloc-bench replay
 * (tools/bench/replay_trace.c). Only constants and the byte-level encoders/decoders live
 * here: static inline, no libc beyond memcpy-free byte arithmetic, so that the recorder can
 * use them inside malloc without allocating.
 *
 * Layout (all integers little-endian):
 *   file header (KT_FILE_HDR bytes): magic "KATRACE\0", u32 version, u32 header size,
 *       u32 pid, u32 parent pid, u64 CLOCK_MONOTONIC start in ns, u32 flags, u32 reserved;
 *   then chunks, each one thread's buffer flushed with one write(2):
 *       u32 magic "KTCH", u32 payload bytes, u32 records, u32 thread number,
 *       u64 base sequence number, u64 base time (ns since the file's start);
 *       payload: records, each an op byte followed by LEB128 varints:
 *         seq delta (from the previous record of the chunk, the first from the base),
 *         time delta (same), then per op:
 *         MALLOC, CALLOC:   address (zigzag delta from the chunk's previous address), size
 *         ALIGNED:          address, size, log2 of the alignment
 *         FREE:             address
 *         REALLOC:          old address, new address (zigzag delta from the old one),
 *                           size, seq2 delta (the sequence number taken after the call
 *                           minus the record's own, taken before it)
 * Sequence numbers come from one process-wide counter: an allocation takes its number after
 * the allocator returned, a free before the block is given back, so the numbers order every
 * address's lifetimes correctly across threads (see docs/trace.md).
 */
#ifndef KALLOC_TRACE_FORMAT_H
#define KALLOC_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define KT_MAGIC	  "KATRACE"
#define KT_VERSION	  1u
#define KT_FILE_HDR	  40u
#define KT_CHUNK_MAGIC	  0x4843544bu /* "KTCH" read as a little-endian u32 */
#define KT_CHUNK_HDR	  32u
#define KT_MAX_RECORD	  64u /* an encoded record never takes more bytes than this */
#define KT_MAX_CHUNK_DATA (1u << 24)

enum kt_op {
	KT_MALLOC = 1,
	KT_CALLOC = 2,
	KT_ALIGNED = 3, /* memalign, posix_memalign, aligned_alloc, valloc, pvalloc */
	KT_FREE = 4,
	KT_REALLOC = 5,
};

static inline void kt_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void kt_put_u64(uint8_t *p, uint64_t v)
{
	kt_put_u32(p, (uint32_t)v);
	kt_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t kt_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t kt_get_u64(const uint8_t *p)
{
	return (uint64_t)kt_get_u32(p) | (uint64_t)kt_get_u32(p + 4) << 32;
}

/* LEB128: 7 bits per byte, high bit set on every byte but the last. At most 10 bytes. */
static inline uint8_t *kt_put_var(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Decode one varint from [p, end); NULL if it runs past end or over 10 bytes. */
static inline const uint8_t *kt_get_var(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (p < end && shift < 64) {
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return p;
		}
		shift += 7;
	}
	return NULL;
}

/* Signed deltas as unsigned: 0, -1, 1, -2, 2, ... -> 0, 1, 2, 3, 4, ... */
static inline uint64_t kt_zigzag(uint64_t delta)
{
	return (delta << 1) ^ (uint64_t)((int64_t)delta >> 63);
}

static inline uint64_t kt_unzigzag(uint64_t z)
{
	return (z >> 1) ^ (uint64_t)(-(int64_t)(z & 1));
}

/* One record as the encoder takes it and the decoder gives it back. */
struct kt_record {
	uint8_t op;	   /* enum kt_op */
	uint8_t align_log; /* KT_ALIGNED */
	uint64_t seq;	   /* FREE and REALLOC: taken before the call; others: after it */
	uint64_t seq2;	   /* REALLOC: taken after the call */
	uint64_t time;	   /* ns since the file's start */
	uint64_t addr;	   /* the block (REALLOC: the old block) */
	uint64_t addr2;	   /* REALLOC: the new block */
	uint64_t size;	   /* bytes requested (not for FREE) */
};

/* Running state of a chunk's delta coding (both sides start from the chunk header's bases). */
struct kt_delta {
	uint64_t seq, time, addr;
};

/* Encode r at p (at least KT_MAX_RECORD bytes free); returns the end. Updates d. */
static inline uint8_t *kt_encode(uint8_t *p, struct kt_delta *d, const struct kt_record *r)
{
	*p++ = r->op;
	p = kt_put_var(p, r->seq - d->seq);
	p = kt_put_var(p, r->time - d->time);
	d->seq = r->seq;
	d->time = r->time;
	p = kt_put_var(p, kt_zigzag(r->addr - d->addr));
	d->addr = r->addr;
	switch (r->op) {
	case KT_MALLOC:
	case KT_CALLOC:
		p = kt_put_var(p, r->size);
		break;
	case KT_ALIGNED:
		p = kt_put_var(p, r->size);
		*p++ = r->align_log;
		break;
	case KT_REALLOC:
		p = kt_put_var(p, kt_zigzag(r->addr2 - r->addr));
		p = kt_put_var(p, r->size);
		p = kt_put_var(p, r->seq2 - r->seq);
		d->addr = r->addr2;
		break;
	default:
		break;
	}
	return p;
}

/* Decode one record from [p, end); NULL on a malformed or truncated record. Updates d. */
static inline const uint8_t *kt_decode(const uint8_t *p, const uint8_t *end, struct kt_delta *d,
				       struct kt_record *r)
{
	uint64_t v;

	if (p >= end)
		return NULL;
	r->op = *p++;
	r->align_log = 0;
	r->seq2 = 0;
	r->addr2 = 0;
	r->size = 0;
	if (r->op < KT_MALLOC || r->op > KT_REALLOC)
		return NULL;
	if (!(p = kt_get_var(p, end, &v)))
		return NULL;
	d->seq += v;
	r->seq = d->seq;
	if (!(p = kt_get_var(p, end, &v)))
		return NULL;
	d->time += v;
	r->time = d->time;
	if (!(p = kt_get_var(p, end, &v)))
		return NULL;
	d->addr += kt_unzigzag(v);
	r->addr = d->addr;
	switch (r->op) {
	case KT_MALLOC:
	case KT_CALLOC:
		p = kt_get_var(p, end, &r->size);
		break;
	case KT_ALIGNED:
		if (!(p = kt_get_var(p, end, &r->size)) || p >= end)
			return NULL;
		r->align_log = *p++;
		if (r->align_log > 63)
			return NULL;
		break;
	case KT_REALLOC:
		if (!(p = kt_get_var(p, end, &v)))
			return NULL;
		r->addr2 = r->addr + kt_unzigzag(v);
		d->addr = r->addr2;
		if (!(p = kt_get_var(p, end, &r->size)) || !(p = kt_get_var(p, end, &v)))
			return NULL;
		r->seq2 = r->seq + v;
		break;
	default:
		break;
	}
	return p;
}

#endif /* KALLOC_TRACE_FORMAT_H */
