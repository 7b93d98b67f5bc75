/* SPDX-License-Identifier: MIT */
/* The platform layers' fallback entropy (entropy.c); private to the library. */
#ifndef KALLOC_ENTROPY_H
#define KALLOC_ENTROPY_H

#include <stddef.h>

/**
 * @brief Fill buf with bytes that differ per call (a counter), per buffer and per stack (two
 * addresses, randomised where the system has ASLR) but are guessable: what
 * ka_plat_entropy() gives when the platform has no entropy source. O(len); not thread safe
 * (a racing counter only makes two calls' bytes alike, never wrong).
 */
void ka_weak_entropy(void *buf, size_t len);

#endif /* KALLOC_ENTROPY_H */
