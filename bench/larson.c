/* SPDX-License-Identifier: MIT */
/*
 * A larson-style server simulation (after Larson and Krishnan, "Memory allocation for
 * long-running server applications"): worker threads each own a table of live blocks and
 * replace random ones with new random-sized blocks; after each round the workers exit and new
 * ones take over their tables, so blocks allocated by one thread are freed by another, as
 * request objects are in a server. The operation count is fixed (not a time budget), so wall
 * time compares allocators; the printed checksum proves they all did the same work.
 *
 * usage: larson [threads=2] [rounds=40] [ops per round=250000] [slots per thread=4000]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct table {
	unsigned char **slot;
	size_t *len;
	size_t n;
	uint64_t rng;
	uint64_t sum;
	long ops;
};

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *worker(void *arg)
{
	struct table *t = arg;

	for (long i = 0; i < t->ops; i++) {
		uint64_t r = next(&t->rng);
		size_t k = r % t->n;
		/* Sizes 8..1000, small ones more frequent, as in larson's default run. */
		size_t n = 8 + ((r >> 24) % 993) * ((r >> 40) % 3 == 0) + ((r >> 48) % 56);
		unsigned char *p = t->slot[k];
		if (p) {
			t->sum += p[0] + p[t->len[k] - 1];
			free(p);
		}
		p = malloc(n);
		if (!p) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
		p[0] = (unsigned char)n;
		p[n - 1] = (unsigned char)(k);
		t->slot[k] = p;
		t->len[k] = n;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 2;
	int rounds = argc > 2 ? atoi(argv[2]) : 40;
	long ops = argc > 3 ? atol(argv[3]) : 250000;
	size_t slots = argc > 4 ? (size_t)atol(argv[4]) : 4000;
	struct table *tab = calloc((size_t)threads, sizeof(*tab));
	uint64_t sum = 0;

	if (threads < 1 || rounds < 1 || ops < 1 || slots < 1 || !tab)
		return 2;
	for (int i = 0; i < threads; i++) {
		tab[i].slot = calloc(slots, sizeof(*tab[i].slot));
		tab[i].len = calloc(slots, sizeof(*tab[i].len));
		tab[i].n = slots;
		tab[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		tab[i].ops = ops;
		if (!tab[i].slot || !tab[i].len)
			return 1;
	}
	for (int r = 0; r < rounds; r++) {
		pthread_t th[64];
		int n = threads < 64 ? threads : 64;
		for (int i = 0; i < n; i++)
			if (pthread_create(&th[i], NULL, worker, &tab[(i + r) % threads]) != 0)
				return 1;
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
	}
	for (int i = 0; i < threads; i++) {
		for (size_t k = 0; k < slots; k++)
			free(tab[i].slot[k]);
		sum += tab[i].sum;
		free(tab[i].slot);
		free(tab[i].len);
	}
	free(tab);
	printf("larson checksum %llu\n", (unsigned long long)sum);
	return 0;
}
