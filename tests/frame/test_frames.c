/* SPDX-License-Identifier: MIT */
/*
 * Contract tests of the frame-allocator interface (kalloc/frame.h), run against both
 * implementations (buddy and hierarchical bitmap): exact-address and range allocation,
 * partial free, double free refused, regions at physical 0, several regions, alignment up
 * to 1 GiB on a simulated 4 GiB map, zeroing through the direct map, add_memory errors.
 * Frames are simulated: only the metadata is real memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "frame_harness.h"

static enum fh_kind kind_buddy = FH_BUDDY, kind_bitmap = FH_BITMAP;

static int setup(void **state)
{
	struct fh *h = malloc(sizeof(*h));

	if (!h)
		return -1;
	fh_init(h, *(enum fh_kind *)*state);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct fh *h = *state;

	assert_int_equal(ka_fcheck(h->fa), 0);
	fh_fini(h);
	free(h);
	return 0;
}

#define H ((struct fh *)*state)

static void t_counts_and_restore(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t p[10];

	assert_int_equal(fh_add(H, 0, 100, KA_DM_NONE), 0);
	assert_int_equal(ka_ftotal_frames(fa), 100);
	assert_int_equal(ka_ffree_frames(fa), 100);
	for (int i = 0; i < 10; i++) {
		p[i] = ka_falloc(fa, (size_t)i + 1);
		assert_true(p[i] != KA_PADDR_INV);
		assert_int_equal(p[i] & (PG - 1), 0);
		assert_true(p[i] + (ka_paddr_t)(i + 1) * PG <= 100 * PG);
	}
	assert_int_equal(ka_ffree_frames(fa), 100 - 55);
	assert_int_equal(ka_fcheck(fa), 0);
	/* no two allocations overlap */
	for (int i = 0; i < 10; i++)
		for (int j = 0; j < i; j++)
			assert_true(p[i] >= p[j] + (ka_paddr_t)(j + 1) * PG ||
				    p[j] >= p[i] + (ka_paddr_t)(i + 1) * PG);
	for (int i = 9; i >= 0; i -= 2)
		assert_int_equal(ka_ffree(fa, p[i], (size_t)i + 1), 0);
	for (int i = 0; i < 10; i += 2)
		assert_int_equal(ka_ffree(fa, p[i], (size_t)i + 1), 0);
	assert_int_equal(ka_ffree_frames(fa), 100);
	assert_int_equal(ka_ftotal_frames(fa), 100);
	/* everything merged back: the whole region is one free run again */
	assert_int_equal(ka_falloc_at(fa, 0, 100), 0);
	assert_int_equal(ka_ffree_frames(fa), 0);
	assert_true(ka_falloc(fa, 1) == KA_PADDR_INV);
	assert_int_equal(ka_ffree(fa, 0, 100), 0);
}

static void t_region_at_zero(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t p = KA_PADDR_ANY;

	assert_int_equal(fh_add(H, 0, 64, KA_DM_NONE), 0);
	/* frame 0 is a valid frame, handed out like any other */
	assert_int_equal(ka_falloc_range(fa, 1, 0, PG, PG), 0);
	assert_int_equal(ka_ffree(fa, 0, 1), 0);
	assert_int_equal(ka_falloc_at(fa, 0, 64), 0);
	assert_int_equal(ka_ffree(fa, 0, 64), 0);
	assert_int_equal(fa->ops->alloc(fa, &p, 64, 0), 0);
	assert_int_equal(p, 0);
	assert_int_equal(ka_ffree(fa, 0, 64), 0);
	/* frame 0 exact, then everything else one by one */
	assert_int_equal(ka_falloc_at(fa, 0, 1), 0);
	for (int i = 1; i < 64; i++) {
		ka_paddr_t q = ka_falloc(fa, 1);
		assert_true(q != KA_PADDR_INV && q != 0);
	}
	assert_true(ka_falloc(fa, 1) == KA_PADDR_INV);
	assert_int_equal(ka_ffree(fa, 0, 64), 0);
	assert_int_equal(ka_ffree_frames(fa), 64);
}

static void t_exact(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t base = 0x100000; /* 1 MiB */
	ka_paddr_t p;

	assert_int_equal(fh_add(H, base, 256, KA_DM_NONE), 0);
	assert_int_equal(ka_falloc_at(fa, base + 37 * PG, 20), 0);
	assert_int_equal(ka_ffree_frames(fa), 236);
	/* overlapping: busy, nothing changes */
	assert_int_equal(ka_falloc_at(fa, base + 30 * PG, 8), KA_EBUSY);
	assert_int_equal(ka_falloc_at(fa, base + 56 * PG, 1), KA_EBUSY);
	assert_int_equal(ka_ffree_frames(fa), 236);
	/* neighbours on both sides are free */
	assert_int_equal(ka_falloc_at(fa, base + 30 * PG, 7), 0);
	assert_int_equal(ka_falloc_at(fa, base + 57 * PG, 1), 0);
	/* outside managed memory, crossing the end, misaligned, zero frames */
	assert_int_equal(ka_falloc_at(fa, 0, 1), KA_EFAULT);
	assert_int_equal(ka_falloc_at(fa, base + 256 * PG, 1), KA_EFAULT);
	assert_int_equal(ka_falloc_at(fa, base + 250 * PG, 7), KA_EFAULT);
	assert_int_equal(ka_falloc_at(fa, base + 1, 1), KA_EINVAL);
	assert_int_equal(ka_falloc_at(fa, base, 0), KA_EINVAL);
	p = base + 100 * PG;
	assert_int_equal(fa->ops->alloc(fa, &p, 1, 0x80), KA_EINVAL);
	assert_int_equal(p, base + 100 * PG);
	assert_int_equal(ka_ffree_frames(fa), 256 - 28);
	assert_int_equal(ka_fcheck(fa), 0);
	/* the last frame and the first frame of the region */
	assert_int_equal(ka_falloc_at(fa, base + 255 * PG, 1), 0);
	assert_int_equal(ka_falloc_at(fa, base, 1), 0);
	assert_int_equal(ka_ffree(fa, base + 30 * PG, 28), 0);
	assert_int_equal(ka_ffree(fa, base, 1), 0);
	assert_int_equal(ka_ffree(fa, base + 255 * PG, 1), 0);
	assert_int_equal(ka_ffree_frames(fa), 256);
}

static void t_partial_free(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t p;

	assert_int_equal(fh_add(H, 0x200000, 64, KA_DM_NONE), 0);
	p = ka_falloc(fa, 8);
	assert_true(p != KA_PADDR_INV);
	assert_int_equal(ka_ffree(fa, p + 2 * PG, 3), 0);
	assert_int_equal(ka_ffree_frames(fa), 64 - 5);
	assert_int_equal(ka_fcheck(fa), 0);
	/* frames 2..4 are free again: freeing across them is refused */
	assert_int_equal(ka_ffree(fa, p, 8), KA_EFAULT);
	assert_int_equal(ka_ffree(fa, p + 4 * PG, 2), KA_EFAULT);
	assert_int_equal(ka_ffree_frames(fa), 64 - 5);
	/* and they can be handed out again, exactly */
	assert_int_equal(ka_falloc_at(fa, p + 3 * PG, 1), 0);
	assert_int_equal(ka_ffree(fa, p + 3 * PG, 1), 0);
	assert_int_equal(ka_ffree(fa, p, 2), 0);
	assert_int_equal(ka_ffree(fa, p + 5 * PG, 3), 0);
	assert_int_equal(ka_ffree_frames(fa), 64);
	assert_int_equal(ka_falloc_at(fa, 0x200000, 64), 0);
	assert_int_equal(ka_ffree(fa, 0x200000, 64), 0);
	/* a free may cover several earlier allocations at once */
	assert_int_equal(ka_falloc_at(fa, 0x200000 + 10 * PG, 3), 0);
	assert_int_equal(ka_falloc_at(fa, 0x200000 + 13 * PG, 5), 0);
	assert_int_equal(ka_ffree(fa, 0x200000 + 11 * PG, 6), 0);
	assert_int_equal(ka_ffree(fa, 0x200000 + 10 * PG, 1), 0);
	assert_int_equal(ka_ffree(fa, 0x200000 + 17 * PG, 1), 0);
	assert_int_equal(ka_ffree_frames(fa), 64);
}

static void t_double_free(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t p;

	assert_int_equal(fh_add(H, 0, 32, KA_DM_NONE), 0);
	p = ka_falloc(fa, 4);
	assert_int_equal(ka_ffree(fa, p, 4), 0);
	assert_int_equal(ka_ffree(fa, p, 4), KA_EFAULT);
	assert_int_equal(ka_ffree(fa, p + PG, 1), KA_EFAULT);
	assert_int_equal(ka_ffree_frames(fa), 32);
	assert_int_equal(ka_fcheck(fa), 0);
	/* half free, half allocated: refused as a whole, the allocated half stays allocated */
	p = ka_falloc(fa, 4);
	assert_int_equal(ka_ffree(fa, p, 2), 0);
	assert_int_equal(ka_ffree(fa, p, 4), KA_EFAULT);
	assert_int_equal(ka_ffree_frames(fa), 30);
	assert_int_equal(ka_falloc_at(fa, p + 2 * PG, 1), KA_EBUSY);
	assert_int_equal(ka_ffree(fa, p + 2 * PG, 2), 0);
	/* never managed, misaligned, zero, wrapping */
	assert_int_equal(ka_ffree(fa, 32 * PG, 1), KA_EFAULT);
	assert_int_equal(ka_ffree(fa, 31 * PG, 2), KA_EFAULT);
	assert_int_equal(ka_ffree(fa, 3, 1), KA_EINVAL);
	assert_int_equal(ka_ffree(fa, 0, 0), KA_EINVAL);
	assert_int_equal(ka_ffree(fa, (ka_paddr_t)0 - PG, 2), KA_EINVAL);
	assert_int_equal(ka_ffree_frames(fa), 32);
}

static void t_several_regions(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t g = (ka_paddr_t)1 << 30, p;

	/* added out of order; two of them physically adjacent */
	assert_int_equal(fh_add(H, 5 * g, 512, KA_DM_NONE), 0);
	assert_int_equal(fh_add(H, 0, 16, KA_DM_NONE), 0);
	assert_int_equal(fh_add(H, 16 * PG, 16, KA_DM_NONE), 0);
	assert_int_equal(fh_add(H, 3 * g + 7 * PG, 100, KA_DM_NONE), 0);
	assert_int_equal(ka_ftotal_frames(fa), 644);
	/* overlapping regions are refused */
	assert_int_equal(fh_add(H, 8 * PG, 16, KA_DM_NONE), KA_EEXIST);
	assert_int_equal(fh_add(H, 5 * g - PG, 2, KA_DM_NONE), KA_EEXIST);
	assert_int_equal(fh_add(H, 4 * g, (size_t)(g >> KA_CFG_PAGE_SHIFT) + 1, KA_DM_NONE),
			 KA_EEXIST);
	assert_int_equal(ka_ftotal_frames(fa), 644);
	/* range restricted to one region each */
	p = ka_falloc_range(fa, 16, 0, 32 * PG, PG);
	assert_true(p == 0 || p == 16 * PG);
	assert_true(ka_falloc_range(fa, 100, 3 * g, 4 * g, PG) == 3 * g + 7 * PG);
	assert_true(ka_falloc_range(fa, 1, 3 * g, 4 * g, PG) == KA_PADDR_INV);
	assert_true(ka_falloc_range(fa, 300, 5 * g, KA_PADDR_INV, PG) == 5 * g);
	assert_true(ka_falloc_range(fa, 300, 5 * g, KA_PADDR_INV, PG) == KA_PADDR_INV);
	assert_int_equal(ka_ffree_frames(fa), 644 - 416);
	assert_int_equal(ka_ffree(fa, 3 * g + 7 * PG, 100), 0);
	assert_int_equal(ka_ffree(fa, 5 * g, 300), 0);
	assert_int_equal(ka_ffree(fa, p, 16), 0);
	/* an allocation never spans the two adjacent regions, but a free may */
	assert_true(ka_falloc_range(fa, 17, 0, 32 * PG, PG) == KA_PADDR_INV);
	assert_int_equal(ka_falloc_at(fa, 8 * PG, 16), KA_EFAULT);
	assert_int_equal(ka_falloc_at(fa, 8 * PG, 8), 0);
	assert_int_equal(ka_falloc_at(fa, 16 * PG, 8), 0);
	assert_int_equal(ka_ffree(fa, 8 * PG, 16), 0);
	assert_int_equal(ka_falloc_at(fa, 0, 16), 0);
	assert_int_equal(ka_falloc_at(fa, 16 * PG, 16), 0);
	assert_int_equal(ka_ffree(fa, 0, 32), 0);
	assert_int_equal(ka_ffree_frames(fa), 644);
}

static void t_range(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t g = (ka_paddr_t)1 << 30, p;

	/* a DMA32 zone below 4 GiB and high memory above it */
	assert_int_equal(fh_add(H, 0, 4096, KA_DM_NONE), 0);
	assert_int_equal(fh_add(H, 4 * g, 8192, KA_DM_NONE), 0);
	for (int i = 0; i < 20; i++) {
		p = ka_falloc_range(fa, 3, 0, 4 * g, 4 * PG);
		assert_true(p != KA_PADDR_INV);
		assert_true(p + 3 * PG <= 4096 * PG);
		assert_int_equal(p & (4 * PG - 1), 0);
	}
	/* unaligned bounds are rounded inwards: [100 pages + 1, 103 pages - 1) holds frames
	 * 101 only (frame 102 would end past the bound) */
	assert_true(ka_falloc_range(fa, 2, 100 * PG + 1, 103 * PG - 1, PG) == KA_PADDR_INV);
	p = ka_falloc_range(fa, 1, 100 * PG + 1, 103 * PG - 1, PG);
	assert_int_equal(p, 101 * PG);
	assert_int_equal(ka_falloc_range(fa, 2, 101 * PG, 104 * PG, PG), 102 * PG);
	/* above 4 GiB only */
	p = ka_falloc_range(fa, 1000, 4 * g, KA_PADDR_INV, 64 * PG);
	assert_true(p >= 4 * g && (p & (64 * PG - 1)) == 0);
	/* a window between the regions holds nothing */
	assert_true(ka_falloc_range(fa, 1, 4096 * PG, 4 * g, PG) == KA_PADDR_INV);
	/* argument errors */
	assert_int_equal(fa->ops->alloc_range(fa, &p, 1, 2 * PG, PG, PG, 0), KA_EINVAL);
	assert_int_equal(fa->ops->alloc_range(fa, &p, 1, 0, g, 3 * PG, 0), KA_EINVAL);
	assert_int_equal(fa->ops->alloc_range(fa, &p, 1, 0, g, PG / 2, 0), KA_EINVAL);
	assert_int_equal(fa->ops->alloc_range(fa, &p, 0, 0, g, PG, 0), KA_EINVAL);
	assert_int_equal(fa->ops->alloc_range(fa, &p, 1, 0, g, PG, 0x40), KA_EINVAL);
	assert_int_equal(fa->ops->alloc_range(fa, &p, 5000, 0, 4 * g, PG, 0), KA_ENOMEM);
	assert_int_equal(ka_fcheck(fa), 0);
}

/* Runs that cross buddy-block boundaries must still be found (allocation is complete). */
static void t_complete(void **state)
{
	struct ka_frame_alloc *fa = H->fa;

	assert_int_equal(fh_add(H, 0, 16, KA_DM_NONE), 0);
	assert_int_equal(ka_falloc_at(fa, 0, 16), 0);
	/* free 3..8: blocks [3], [4..7], [8] in buddy terms */
	assert_int_equal(ka_ffree(fa, 3 * PG, 6), 0);
	assert_int_equal(ka_falloc(fa, 6), 3 * PG);
	assert_int_equal(ka_ffree(fa, 3 * PG, 6), 0);
	assert_true(ka_falloc_range(fa, 5, 0, 16 * PG, PG) != KA_PADDR_INV);
	assert_int_equal(ka_ffree_frames(fa), 1);
	assert_true(ka_falloc(fa, 2) == KA_PADDR_INV);
	assert_true(ka_falloc(fa, 1) != KA_PADDR_INV);
	assert_int_equal(ka_ffree(fa, 0, 16), 0);
}

/* A simulated 4 GiB map at physical 0 (1M frames): alignments up to and past 1 GiB. */
static void t_align_1g(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t g = (ka_paddr_t)1 << 30, p;
	size_t gf = (size_t)(g >> KA_CFG_PAGE_SHIFT);
	size_t big = (size_t)1 << (sizeof(size_t) * 8 - 1);

	assert_int_equal(fh_add(H, 0, 4 * gf, KA_DM_NONE), 0);
	assert_int_equal(ka_falloc_at(fa, 0, 1), 0);
	p = ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)g);
	assert_int_equal(p, g);
	p = ka_falloc_range(fa, 3, 0, KA_PADDR_INV, (size_t)g);
	assert_int_equal(p, 2 * g);
	/* a whole GiB, GiB aligned */
	p = ka_falloc_range(fa, gf, 0, KA_PADDR_INV, (size_t)g);
	assert_int_equal(p, 3 * g);
	assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)g) == KA_PADDR_INV);
	/* alignments no address of the region satisfies any more (0 is taken): fail, no hang */
	if (sizeof(size_t) >= 8) {
		assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)(4 * g)) ==
			    KA_PADDR_INV);
		assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)(64 * g)) ==
			    KA_PADDR_INV);
	}
	assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, big) == KA_PADDR_INV);
	assert_int_equal(ka_fcheck(fa), 0);
	assert_int_equal(ka_ffree(fa, 3 * g, gf), 0);
	assert_int_equal(ka_ffree(fa, 2 * g, 3), 0);
	assert_int_equal(ka_ffree(fa, g, 1), 0);
	/* with frame 0 free again, the largest alignment is satisfied by address 0 */
	assert_int_equal(ka_ffree(fa, 0, 1), 0);
	assert_int_equal(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, big), 0);
	assert_int_equal(ka_ffree(fa, 0, 1), 0);
	assert_int_equal(ka_ffree_frames(fa), 4 * gf);
}

/* A region that does not start at 0 and holds no 1 GiB-aligned address. */
static void t_align_past_region(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	ka_paddr_t g = (ka_paddr_t)1 << 30;
	size_t gf = (size_t)(g >> KA_CFG_PAGE_SHIFT);

	assert_int_equal(fh_add(H, 1 << 20, gf - 512, KA_DM_NONE), 0);
	assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)g) == KA_PADDR_INV);
	assert_int_equal(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)g / 2), g / 2);
	assert_int_equal(ka_ffree(fa, g / 2, 1), 0);
	if (sizeof(size_t) >= 8)
		assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, (size_t)(8 * g)) ==
			    KA_PADDR_INV);
	/* a run longer than the region */
	assert_true(ka_falloc(fa, gf - 511) == KA_PADDR_INV);
	assert_true(ka_falloc(fa, gf - 512) == ((ka_paddr_t)1 << 20));
	assert_int_equal(ka_ffree(fa, (ka_paddr_t)1 << 20, gf - 512), 0);
}

static void t_zero(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	unsigned char *mem = aligned_alloc(KA_PAGE_SIZE, 8 * KA_PAGE_SIZE);
	ka_paddr_t fake = (ka_paddr_t)1 << 32; /* "physical" address of mem */
	ka_paddr_t p;

	assert_non_null(mem);
	memset(mem, 0xaa, 8 * KA_PAGE_SIZE);
	/* no direct map: zeroing impossible there */
	assert_int_equal(fh_add(H, 0, 8, KA_DM_NONE), 0);
	p = KA_PADDR_ANY;
	assert_int_equal(fa->ops->alloc(fa, &p, 1, KA_FALLOC_ZERO), KA_ENOMEM);
	p = 0;
	assert_int_equal(fa->ops->alloc(fa, &p, 1, KA_FALLOC_ZERO), KA_EINVAL);
	assert_int_equal(ka_ffree_frames(fa), 8);
	/* vaddr = paddr + dm_off, in modular arithmetic */
	assert_int_equal(fh_add(H, fake, 8, (uintptr_t)mem - (uintptr_t)fake), 0);
	p = KA_PADDR_ANY;
	assert_int_equal(fa->ops->alloc(fa, &p, 3, KA_FALLOC_ZERO), 0);
	assert_true(p >= fake && p + 3 * PG <= fake + 8 * PG);
	for (size_t i = 0; i < 8 * KA_PAGE_SIZE; i++) {
		ka_paddr_t at = fake + i;
		unsigned char want = (at >= p && at < p + 3 * PG) ? 0 : 0xaa;
		if (mem[i] != want)
			fail_msg("byte %zu is %#x", i, mem[i]);
	}
	assert_int_equal(fa->ops->alloc_range(fa, &p, 2, 0, KA_PADDR_INV, PG, KA_FALLOC_ZERO), 0);
	assert_true(p >= fake);
	assert_int_equal(mem[p - fake], 0);
	assert_int_equal(mem[p - fake + 2 * PG - 1], 0);
	assert_int_equal(ka_ffree_frames(fa), 16 - 5);
	free(mem);
}

static void t_add_errors(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	size_t need = ka_fmetadata_size(fa, 64);
	uint64_t *meta = malloc(need + 16);

	assert_non_null(meta);
	assert_true(need > 0);
	assert_int_equal(ka_fmetadata_size(fa, 0), 0);
	assert_int_equal(ka_fmetadata_size(fa, SIZE_MAX), 0);
	assert_true(ka_fmetadata_size(fa, 128) > need);
	assert_int_equal(ka_fadd_memory(fa, NULL, 0, 64, KA_DM_NONE), KA_EINVAL);
	assert_int_equal(ka_fadd_memory(fa, (char *)meta + 4, 0, 64, KA_DM_NONE), KA_EINVAL);
	assert_int_equal(ka_fadd_memory(fa, meta, 12, 64, KA_DM_NONE), KA_EINVAL);
	assert_int_equal(ka_fadd_memory(fa, meta, 0, 0, KA_DM_NONE), KA_EINVAL);
	assert_int_equal(ka_fadd_memory(fa, meta, (ka_paddr_t)0 - 4 * PG, 64, KA_DM_NONE),
			 KA_EINVAL);
	assert_int_equal(ka_ftotal_frames(fa), 0);
	assert_true(ka_falloc(fa, 1) == KA_PADDR_INV);
	assert_int_equal(ka_ffree(fa, 0, 1), KA_EFAULT);
	/* the highest frames of the physical address space */
	assert_int_equal(ka_fadd_memory(fa, meta, (ka_paddr_t)0 - 64 * PG, 64, KA_DM_NONE), 0);
	assert_int_equal(ka_falloc_at(fa, (ka_paddr_t)0 - PG, 1), 0);
	assert_int_equal(ka_ffree(fa, (ka_paddr_t)0 - PG, 1), 0);
	assert_int_equal(ka_fcheck(fa), 0);
	H->meta[H->nmeta++] = meta;
}

/* Any number of regions, added in any order, down to single frames. */
static void t_many_regions(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	enum { NR = 40 };
	size_t base[NR], len[NR], order[NR], total = 0, pfn = 5;
	ka_paddr_t *got;

	for (size_t i = 0; i < NR; i++) {
		len[i] = i % 7 == 0 ? 1 : 1 + (i * 37) % 50;
		base[i] = pfn;
		pfn += len[i] + (i % 3 == 0 ? 0 : 1 + i % 5); /* some physically adjacent */
		order[i] = i;
		total += len[i];
	}
	for (size_t i = NR - 1; i > 0; i--) { /* a fixed shuffle */
		size_t j = (i * 7919) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < NR; i++)
		assert_int_equal(fh_add(H, base[order[i]] * PG, len[order[i]], KA_DM_NONE), 0);
	assert_int_equal(ka_ftotal_frames(fa), total);
	assert_int_equal(ka_fcheck(fa), 0);
	got = calloc(total, sizeof(*got));
	assert_non_null(got);
	for (size_t i = 0; i < total; i++) {
		got[i] = ka_falloc(fa, 1);
		assert_true(got[i] != KA_PADDR_INV);
		for (size_t j = 0; j < i; j++)
			assert_true(got[j] != got[i]);
	}
	assert_true(ka_falloc(fa, 1) == KA_PADDR_INV);
	assert_int_equal(ka_fcheck(fa), 0);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(ka_ffree(fa, got[i], 1), 0);
	for (size_t i = 0; i < NR; i++) {
		assert_int_equal(ka_falloc_at(fa, base[i] * PG, len[i]), 0);
		/* one frame more, reaching into the frame below, is never granted */
		assert_true(ka_falloc_at(fa, (base[i] - 1) * PG, len[i] + 1) != 0);
	}
	assert_int_equal(ka_ffree_frames(fa), 0);
	for (size_t i = 0; i < NR; i++)
		assert_int_equal(ka_ffree(fa, base[i] * PG, len[i]), 0);
	assert_int_equal(ka_ffree_frames(fa), total);
	free(got);
}

/* metadata_size never decreases with the frame count (callers size an area once for a
 * region and give the allocator fewer frames), and is small per frame. */
static void t_metadata_monotonic(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	size_t prev = 0;

	for (size_t f = 1; f < 70000; f += 1 + f / 64) {
		size_t m = ka_fmetadata_size(fa, f);
		assert_true(m > 0);
		assert_true(m >= prev);
		assert_true(m <= 1024 + f * 10);
		prev = m;
	}
}

/* A region ending at the top of the 64-bit physical space: "no upper bound" (KA_PADDR_INV)
 * reaches its last frame, just as a plain allocation does. */
static void t_range_top(void **state)
{
	struct ka_frame_alloc *fa = H->fa;
	const ka_paddr_t top = (ka_paddr_t)0 - 16 * PG;

	assert_int_equal(fh_add(H, top, 16, KA_DM_NONE), 0);
	assert_true(ka_falloc_range(fa, 16, 0, KA_PADDR_INV, PG) == top);
	assert_int_equal(ka_ffree(fa, top, 16), 0);
	assert_true(ka_falloc_range(fa, 15, 0, KA_PADDR_INV, PG) == top);
	assert_true(ka_falloc_range(fa, 1, 0, KA_PADDR_INV, PG) == KA_PADDR_INV - PG + 1);
	assert_int_equal(ka_ffree_frames(fa), 0);
	assert_int_equal(ka_ffree(fa, top, 16), 0);
	/* an explicit bound below the top still excludes the frames from it on */
	assert_true(ka_falloc_range(fa, 16, 0, KA_PADDR_INV - PG + 1, PG) == KA_PADDR_INV);
	assert_true(ka_falloc_range(fa, 15, 0, KA_PADDR_INV - PG + 1, PG) == top);
	assert_int_equal(ka_fcheck(fa), 0);
}

#define BOTH(f)                                                                                    \
	cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &kind_buddy),                 \
	    cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &kind_bitmap)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(t_counts_and_restore),
	    BOTH(t_region_at_zero),
	    BOTH(t_exact),
	    BOTH(t_partial_free),
	    BOTH(t_double_free),
	    BOTH(t_several_regions),
	    BOTH(t_range),
	    BOTH(t_complete),
	    BOTH(t_align_1g),
	    BOTH(t_align_past_region),
	    BOTH(t_zero),
	    BOTH(t_add_errors),
	    BOTH(t_metadata_monotonic),
	    BOTH(t_many_regions),
	    BOTH(t_range_top),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
