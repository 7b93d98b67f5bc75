/* SPDX-License-Identifier: MIT */
/*
 * Test support shared by the frame-allocator tests: one harness that builds either frame
 * allocator (buddy or bitmap) and owns the metadata areas it hands to add_memory, so each
 * test body runs unchanged against both implementations.
 */
#ifndef FRAME_HARNESS_H
#define FRAME_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"

enum fh_kind { FH_BUDDY, FH_BITMAP };

#define FH_MAX_REGIONS 64

struct fh {
	union {
		struct ka_fbuddy bd;
		struct ka_fbitmap bm;
	} u;
	struct ka_frame_alloc *fa;
	enum fh_kind kind;
	void *meta[FH_MAX_REGIONS];
	size_t nmeta;
};

/* Build an empty allocator of the given kind. */
void fh_init(struct fh *h, enum fh_kind kind);
/* Add [paddr, paddr + frames pages) with freshly allocated metadata; returns add_memory's
 * code (the metadata is freed again on failure). */
int fh_add(struct fh *h, ka_paddr_t paddr, size_t frames, uintptr_t dm_off);
/* Release the metadata areas. */
void fh_fini(struct fh *h);
/* "buddy" or "bitmap". */
const char *fh_name(enum fh_kind kind);

#define PG ((ka_paddr_t)KA_PAGE_SIZE)

#endif /* FRAME_HARNESS_H */
