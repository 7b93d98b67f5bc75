/* SPDX-License-Identifier: MIT */
/*
 * Allocation workloads for comparing allocators by preloading (bench/peers.sh): plain
 * malloc/free/realloc, so glibc, mimalloc, jemalloc, tcmalloc and libkalloc-malloc.so all
 * run exactly the same calls. The random streams are fixed (seeded xorshift), and the program
 * prints a checksum of what it read back, so every allocator must do the same work.
 *
 *   workload small   5M replace operations on 100k live blocks of 16..256 bytes
 *   workload mixed   2M operations on 20k live blocks: 80% <= 512 B, 15% <= 8 KiB,
 *                    5% <= 256 KiB, one in ten a realloc
 *   workload churn   5 rounds: build 1M linked 32..96-byte nodes, free half in address
 *                    order and half in reverse, as a program building and dropping trees
 *   workload large   400 blocks of 5..25 MiB, four live at a time, each filled once (an image
 *                    or buffer pipeline): what the allocator does with big freed blocks
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t sum;

static void *take(size_t n)
{
	unsigned char *p = malloc(n);

	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	p[0] = (unsigned char)n;
	p[n - 1] = (unsigned char)(n >> 4);
	return p;
}

static void give(void *q, size_t n)
{
	unsigned char *p = q;

	if (!p)
		return;
	sum += p[0] + p[n - 1];
	free(p);
}

static void small(void)
{
	enum { SLOTS = 100000 };
	static void *slot[SLOTS];
	static size_t len[SLOTS];

	for (long i = 0; i < 5000000; i++) {
		uint64_t r = next();
		size_t k = r % SLOTS;
		give(slot[k], len[k]);
		len[k] = 16 + ((r >> 20) % 241) * ((r >> 40) % 4 == 0 ? 1 : 0) + ((r >> 32) % 64);
		slot[k] = take(len[k]);
	}
	for (size_t k = 0; k < SLOTS; k++)
		give(slot[k], len[k]);
}

static size_t mixed_size(uint64_t r)
{
	unsigned c = (unsigned)(r % 100);

	if (c < 80)
		return 16 + (r >> 8) % 497;
	if (c < 95)
		return 512 + (r >> 8) % (8192 - 512);
	return 8192 + (r >> 8) % (262144 - 8192);
}

static void mixed(void)
{
	enum { SLOTS = 20000 };
	static void *slot[SLOTS];
	static size_t len[SLOTS];

	for (long i = 0; i < 2000000; i++) {
		uint64_t r = next();
		size_t k = r % SLOTS;
		size_t n = mixed_size(next());
		if (slot[k] && (r >> 32) % 10 == 0) {
			unsigned char *p = realloc(slot[k], n);
			if (!p)
				exit(1);
			sum += p[0];
			p[n - 1] = (unsigned char)(n >> 4);
			p[0] = (unsigned char)n;
			slot[k] = p;
			len[k] = n;
			continue;
		}
		give(slot[k], len[k]);
		len[k] = n;
		slot[k] = take(n);
	}
	for (size_t k = 0; k < SLOTS; k++)
		give(slot[k], len[k]);
}

struct node {
	struct node *next;
	size_t n;
};

/* The node's first bytes hold its link, so only the last byte (set by take) is checked. */
static void drop(struct node *x)
{
	sum += ((unsigned char *)x)[x->n - 1];
	free(x);
}

static void churn(void)
{
	enum { NODES = 1000000 };
	static struct node *arr[NODES];

	for (int round = 0; round < 5; round++) {
		struct node *head = NULL;
		for (long i = 0; i < NODES; i++) {
			size_t n = 32 + (next() % 65);
			struct node *x = take(n);
			x->n = n;
			x->next = head;
			head = x;
			arr[i] = x;
		}
		/* Free the odd ones in allocation order, the even ones in reverse. */
		for (long i = 1; i < NODES; i += 2)
			drop(arr[i]);
		for (long i = NODES - 2; i >= 0; i -= 2)
			drop(arr[i]);
	}
}

static void large(void)
{
	enum { LIVE = 4, ROUNDS = 400 };
	unsigned char *blk[LIVE] = {0};
	size_t len[LIVE] = {0};

	for (int i = 0; i < ROUNDS; i++) {
		int k = i % LIVE;
		size_t n = ((size_t)5 << 20) + next() % ((size_t)20 << 20);

		if (blk[k]) {
			sum += blk[k][len[k] / 2];
			free(blk[k]);
		}
		blk[k] = take(n);
		len[k] = n;
		memset(blk[k], (int)(i & 0xff), n);
	}
	for (int k = 0; k < LIVE; k++) {
		sum += blk[k][len[k] / 2];
		free(blk[k]);
	}
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "";

	if (strcmp(w, "small") == 0)
		small();
	else if (strcmp(w, "mixed") == 0)
		mixed();
	else if (strcmp(w, "churn") == 0)
		churn();
	else if (strcmp(w, "large") == 0)
		large();
	else {
		fprintf(stderr, "usage: workload small|mixed|churn|large\n");
		return 2;
	}
	printf("%s checksum %llu\n", w, (unsigned long long)sum);
	return 0;
}
