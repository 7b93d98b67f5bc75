/* SPDX-License-Identifier: MIT */
/*
 * Support for the global-allocator tests: simulated physical memory (an mmap'd area whose
 * "physical" addresses are its virtual ones minus an offset) and fresh frame allocators over
 * it, so the kernel paths (frame source, page objects, DMA) run in user space.
 */
#ifndef KALLOC_TESTS_GSIM_H
#define KALLOC_TESTS_GSIM_H

#include <stddef.h>
#include <stdint.h>

#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"
#include "kalloc/global.h"

/** Simulated physical memory: [phys_base, phys_base + len) lives at mem. */
struct gsim {
	char *mem;	      /* virtual start (aligned as asked) */
	size_t len;	      /* bytes */
	ka_paddr_t phys_base; /* physical address of mem[0] */
	uintptr_t dm_off;     /* vaddr = paddr + dm_off */
	struct ka_fbitmap fbm;
	struct ka_fbuddy fbd;
	void *raw;	/* what mmap returned */
	size_t raw_len; /* and its length */
};

/** Frame allocator kinds the tests run over. */
enum gsim_kind { GSIM_BITMAP, GSIM_BUDDY, GSIM_NKINDS };

/** Map `len` bytes at a virtual address aligned to `align`, as physical `phys_base`. */
void gsim_map(struct gsim *s, size_t len, size_t align, ka_paddr_t phys_base);

/** Unmap the area. */
void gsim_unmap(struct gsim *s);

/** A fresh, empty frame allocator of the given kind (inside s). */
struct ka_frame_alloc *gsim_frames(struct gsim *s, enum gsim_kind kind);

/** The kind's name, for messages. */
const char *gsim_kind_name(enum gsim_kind kind);

/** Virtual address of physical p in s. */
void *gsim_virt(const struct gsim *s, ka_paddr_t p);

/** Physical address of virtual v in s. */
ka_paddr_t gsim_phys(const struct gsim *s, const void *v);

/** Byte backends the global allocator is tested with that this build has (NULL-ended). */
const char *const *gsim_byte_backends(void);

#endif /* KALLOC_TESTS_GSIM_H */
