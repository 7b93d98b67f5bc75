/* SPDX-License-Identifier: MIT */
/*
 * A fixed workload for instruction counts of malloc + free through whatever malloc the
 * process has (glibc, or the shim by LD_PRELOAD), for bench/callgrind_pair.sh:
 *   pair N SIZE   N times p = malloc(SIZE); free(p)
 *   mixed N       N times: free the block in one of 64 slots and malloc a new one there, of a
 *                 size from 8 to 1024 bytes drawn by a fixed LCG (the same sequence in every run)
 * The script runs each at N and 2N and divides the difference by N, which removes start-up.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 100000;

	if (argc > 3 && argv[1][0] == 'p') {
		size_t s = (size_t)atol(argv[3]);

		for (long i = 0; i < n; i++) {
			void *volatile p = malloc(s);
			free(p);
		}
		return 0;
	}
	if (argc > 2 && argv[1][0] == 'm') {
		void *slot[64] = {0};
		unsigned x = 12345;

		for (long i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			unsigned k = (x >> 8) & 63u;
			free(slot[k]);
			slot[k] = malloc(8 + ((x >> 16) & 1023u));
			if (!slot[k])
				return 1;
		}
		for (int k = 0; k < 64; k++)
			free(slot[k]);
		return 0;
	}
	fprintf(stderr, "usage: %s pair N SIZE | mixed N\n", argv[0]);
	return 2;
}
