/* SPDX-License-Identifier: MIT */
/* Simulated physical memory for the global-allocator tests (gsim.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gsim.h"

void gsim_map(struct gsim *s, size_t len, size_t align, ka_paddr_t phys_base)
{
	size_t raw_len = len + align;
	char *raw = mmap(NULL, raw_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (raw == MAP_FAILED) {
		perror("gsim mmap");
		abort();
	}
	memset(s, 0, sizeof(*s));
	s->raw = raw;
	s->raw_len = raw_len;
	s->mem = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	s->len = len;
	s->phys_base = phys_base;
	s->dm_off = (uintptr_t)s->mem - (uintptr_t)phys_base;
}

void gsim_unmap(struct gsim *s)
{
	munmap(s->raw, s->raw_len);
	s->raw = NULL;
	s->mem = NULL;
}

struct ka_frame_alloc *gsim_frames(struct gsim *s, enum gsim_kind kind)
{
	return kind == GSIM_BITMAP ? ka_fbitmap_init(&s->fbm) : ka_fbuddy_init(&s->fbd);
}

const char *gsim_kind_name(enum gsim_kind kind)
{
	return kind == GSIM_BITMAP ? "fbitmap" : "fbuddy";
}

void *gsim_virt(const struct gsim *s, ka_paddr_t p)
{
	return (void *)((uintptr_t)p + s->dm_off);
}

ka_paddr_t gsim_phys(const struct gsim *s, const void *v)
{
	return (ka_paddr_t)((uintptr_t)v - s->dm_off);
}

const char *const *gsim_byte_backends(void)
{
	static const char *const wanted[] = {"tlsf", "slab", "buddy", "tiny"};
	static const char *have[5];
	size_t n = 0;

	for (size_t i = 0; i < 4; i++)
		if (ka_backend_find(wanted[i]))
			have[n++] = wanted[i];
	have[n] = NULL;
	return have;
}
