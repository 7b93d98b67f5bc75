/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the buddy frame allocator, for src/frame/fbuddy.c and its white-box
 * tests (never hand-mirror these structs).
 *
 * Metadata area of one region of F frames (frames themselves are never touched):
 *
 *   struct ka_fbuddy_region   header with the KA_FBUDDY_ORDERS free-list heads
 *   used[ceil(F / W)]         allocation bitmap, bit i = frame i allocated; padding bits
 *                             past frame F-1 are 1, so scans never see them free
 *   link[F]                   free-list node of the block whose first frame is i (next and
 *                             prev frame index, KA_FBUDDY_NIL ends the list); meaningful only
 *                             while i heads a free block
 *   ord[F]                    order k of the free block headed by frame i, or
 *                             KA_FBUDDY_NOT_HEAD for every other frame
 *
 * Frame indexes are relative to the region (i = pfn - base) but block alignment is absolute:
 * a block of order k heads at a frame number that is a multiple of 2^k, and its buddy is the
 * block at pfn ^ 2^k, if that block lies wholly inside the same region.
 */
#ifndef KALLOC_FBUDDY_PRIV_H
#define KALLOC_FBUDDY_PRIV_H

#include "kalloc/fbuddy.h"

#define KA_FBUDDY_NIL	   UINT32_MAX
#define KA_FBUDDY_NOT_HEAD 0xffu

/** Free-list node of a free block, kept in the metadata area (frames are not mapped). */
struct ka_fbuddy_link {
	uint32_t next;
	uint32_t prev;
};

/** One region: physically contiguous frames with their own free lists. */
struct ka_fbuddy_region {
	struct ka_fbuddy_region *next; /* next region by address */
	uint64_t base;		       /* first frame number (paddr >> KA_CFG_PAGE_SHIFT) */
	size_t frames;		       /* frames in the region */
	size_t free;		       /* free frames in the region */
	uintptr_t dm_off;	       /* direct-map offset or KA_DM_NONE */
	size_t meta_len;	       /* bytes of the metadata area in use, from the header on */
	uint32_t orders;	       /* bit k set iff free list k is not empty */
	uint32_t head[KA_FBUDDY_ORDERS];
	size_t *used;
	struct ka_fbuddy_link *link;
	uint8_t *ord;
};

#endif /* KALLOC_FBUDDY_PRIV_H */
