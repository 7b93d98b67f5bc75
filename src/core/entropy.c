/* SPDX-License-Identifier: MIT */
/* Fallback entropy for platforms without a source; see entropy.h. */
#include <stdint.h>

#include "entropy.h"

void ka_weak_entropy(void *buf, size_t len)
{
	static uint64_t calls;
	unsigned char *b = buf;
	uint64_t x = ++calls * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)buf ^
		     ((uint64_t)(uintptr_t)&x << 17);

	/* xorshift64* over the mixed seed */
	for (size_t i = 0; i < len; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		b[i] = (unsigned char)((x * 0x2545f4914f6cdd1du) >> 56);
	}
}
