/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness over one backend (KA_FUZZ_BACKEND, a registry name). The input bytes are
 * decoded into a sequence of malloc / calloc / realloc / memalign / free / palloc / pfree /
 * add_memory operations on a fresh heap; a shadow model of live blocks (pointer, size,
 * alignment, fill seed) is checked after every operation: no overlap, contents intact,
 * alignment honoured, statistics equal to the model, the backend's checker passes.
 * Any mismatch calls abort(), which libFuzzer (and the standalone runner) reports.
 *
 * Encoding: each operation takes one opcode byte then up to three argument bytes; missing
 * bytes read as zero, so every input is valid.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/alloc.h"

#ifndef KA_FUZZ_BACKEND
#error "define KA_FUZZ_BACKEND"
#endif

#define HEAP_LEN  ((size_t)4 << 20)
#define EXTRA_LEN ((size_t)256 << 10)
#define N_EXTRA	  4
#define MAX_LIVE  64

static _Alignas(65536) unsigned char heap[HEAP_LEN];
static _Alignas(65536) unsigned char extra[N_EXTRA][EXTRA_LEN];

struct blk {
	unsigned char *p;
	size_t n;     /* bytes the model filled (the request) */
	size_t bytes; /* bytes the statistics count for it */
	size_t align;
	size_t pages; /* non-zero for palloc blocks */
	uint8_t seed;
};

static struct blk live[MAX_LIVE];
static size_t nlive;

static void die(const char *what)
{
	fprintf(stderr, "fuzz %s: %s\n", KA_FUZZ_BACKEND, what);
	abort();
}

/* A block of seed s holds the bytes (s + i) mod 256: a window of this table, which repeats
 * every 256 bytes, so a block is painted and verified with memcpy/memcmp of PAT_CHUNK-byte
 * windows instead of byte loops (the checks run at library speed, the fuzzer explores more). */
#define PAT_CHUNK ((size_t)64 << 10)
static unsigned char pattern[PAT_CHUNK + 256];

static void pattern_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)i;
}

static void paint(const struct blk *b)
{
	for (size_t off = 0; off < b->n; off += PAT_CHUNK) {
		size_t len = b->n - off < PAT_CHUNK ? b->n - off : PAT_CHUNK;
		memcpy(b->p + off, pattern + b->seed, len);
	}
}

static void verify(const struct blk *b)
{
	for (size_t off = 0; off < b->n; off += PAT_CHUNK) {
		size_t len = b->n - off < PAT_CHUNK ? b->n - off : PAT_CHUNK;
		if (memcmp(b->p + off, pattern + b->seed, len) != 0)
			die("block contents changed");
	}
}

/* Alignment, overlap, statistics and the checker after every operation; contents of every
 * live block only every 16 operations and at the end (the freed or resized block is always
 * verified on its own), which keeps a unit fast enough for libFuzzer to explore. */
static void model_check(struct ka_alloc *a, bool contents)
{
	size_t bytes = 0;

	for (size_t i = 0; i < nlive; i++) {
		const struct blk *x = &live[i];
		if ((uintptr_t)x->p % x->align)
			die("misaligned block");
		if (x->bytes < x->n)
			die("usable size below the request");
		if (!x->pages && ka_usable_size(a, x->p) != x->bytes)
			die("usable size of a live block changed");
		for (size_t j = i + 1; j < nlive; j++) {
			const struct blk *y = &live[j];
			if (x->p < y->p + y->bytes && y->p < x->p + x->bytes)
				die("blocks overlap");
		}
		if (contents)
			verify(x);
		bytes += x->bytes;
	}
	if (ka_stats(a)->cur_nb_allocs != nlive || ka_stats(a)->cur_mem_use != bytes)
		die("statistics disagree with the model");
	if (ka_check(a) != 0)
		die("checker found a problem");
}

static void add(struct ka_alloc *a, void *p, size_t n, size_t align, size_t pages, uint8_t seed)
{
	struct blk b = {p,
			n,
			pages ? pages * KA_PAGE_SIZE : ka_usable_size(a, p),
			align < KA_CFG_MIN_ALIGN ? KA_CFG_MIN_ALIGN : align,
			pages,
			seed};

	live[nlive++] = b;
	paint(&b);
}

static void drop(struct ka_alloc *a, size_t i)
{
	verify(&live[i]);
	if (live[i].pages)
		ka_pfree(a, live[i].p, live[i].pages);
	else
		ka_free(a, live[i].p);
	live[i] = live[--nlive];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ka_backend *b = ka_backend_find(KA_FUZZ_BACKEND);
	struct ka_alloc *a;
	size_t pos = 0, added = 0, nops = 0;

	if (!b)
		die("backend not compiled in");
	if (pattern[1] == 0)
		pattern_init();
	a = b->init(heap, HEAP_LEN);
	if (!a)
		die("init failed");
	nlive = 0;
	while (pos < size) {
		uint8_t op = data[pos];
		uint8_t x = pos + 1 < size ? data[pos + 1] : 0;
		uint8_t y = pos + 2 < size ? data[pos + 2] : 0;
		uint8_t z = pos + 3 < size ? data[pos + 3] : 0;
		size_t sz = ((size_t)x << 8 | y) >> (z & 7); /* 0 .. 64 KiB, skewed small */
		void *p;

		pos += 4;
		switch (op % 10) {
		case 0:
		case 1:
		case 2:
			if (nlive < MAX_LIVE && (p = ka_malloc(a, sz)))
				add(a, p, sz, KA_CFG_MIN_ALIGN, 0, z);
			break;
		case 3:
			if (nlive < MAX_LIVE && (p = ka_calloc(a, z & 15, sz >> 4))) {
				for (size_t i = 0; i < (size_t)(z & 15) * (sz >> 4); i++)
					if (((unsigned char *)p)[i])
						die("calloc memory not zeroed");
				add(a, p, (size_t)(z & 15) * (sz >> 4), KA_CFG_MIN_ALIGN, 0, z);
			}
			break;
		case 4:
		case 5:
			if (nlive)
				drop(a, x % nlive);
			break;
		case 6:
			if (nlive && !live[x % nlive].pages) {
				struct blk *o = &live[x % nlive];
				verify(o);
				p = ka_realloc(a, o->p, sz);
				if (p) {
					size_t keep = sz < o->n ? sz : o->n;
					struct blk k = {p, keep, 0, 1, 0, o->seed};
					verify(&k);
					o->p = p;
					o->n = sz;
					o->bytes = ka_usable_size(a, p);
					o->align = KA_CFG_MIN_ALIGN;
					paint(o);
				} else {
					verify(o);
				}
			}
			break;
		case 7: {
			size_t al = (size_t)1 << (z % 17);
			if (nlive < MAX_LIVE && (p = ka_memalign(a, al, sz)))
				add(a, p, sz, al, 0, x);
			break;
		}
		case 8:
			if (nlive < MAX_LIVE && (p = ka_palloc(a, 1 + (x & 7))))
				add(a, p, (1 + (size_t)(x & 7)) * KA_PAGE_SIZE, KA_PAGE_SIZE,
				    1 + (size_t)(x & 7), y);
			break;
		case 9:
			if (added < N_EXTRA && (b->caps & KA_CAP_ADDMEM)) {
				if (ka_add_memory(a, extra[added], EXTRA_LEN) != 0)
					die("add_memory refused a fresh region");
				added++;
			}
			break;
		}
		model_check(a, ++nops % 16 == 0);
	}
	model_check(a, true);
	while (nlive)
		drop(a, nlive - 1);
	if (ka_stats(a)->cur_nb_allocs != 0 || ka_stats(a)->cur_mem_use != 0 || ka_check(a) != 0)
		die("heap not empty and healthy after freeing everything");
	return 0;
}
