/* SPDX-License-Identifier: MIT */
/*
 * The four memory functions kalloc uses, declared without <string.h> so that core and
 * backends compile with -nostdinc. The hosted build gets them from libc, the freestanding
 * build from src/platform/freestanding.c (weak) or from the kernel.
 */
#ifndef KALLOC_KSTRING_H
#define KALLOC_KSTRING_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif /* KALLOC_KSTRING_H */
