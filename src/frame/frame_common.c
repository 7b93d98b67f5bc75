/* SPDX-License-Identifier: MIT */
/* Checker pieces shared by the frame allocators; see frame_common.h. */
#include "frame/frame_common.h"

#include "kalloc/config.h"
#include "kalloc/platform.h"
#include "fmt.h"

/* Findings logged per check() call; the rest are only counted. */
#define MAX_LOGGED 16

void ka_frame_report(struct ka_frame_checker *c, const char *what, uint64_t pfn)
{
	char buf[160];
	struct ka_fmt f;

	if (c->found++ >= MAX_LOGGED)
		return;
	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_str(&f, "kalloc: ");
	ka_fmt_str(&f, c->fa->name);
	ka_fmt_str(&f, ": check: ");
	ka_fmt_str(&f, what);
	ka_fmt_str(&f, " (at frame ");
	ka_fmt_hex(&f, pfn);
	ka_fmt_str(&f, ")");
	ka_plat_log(KA_LOG_ERR, buf);
}

unsigned ka_frame_check_regions(struct ka_frame_alloc *fa, const void *first, size_t nregions,
				ka_frame_region_fn visit, ka_frame_extent_fn extent)
{
	struct ka_frame_checker c = {fa, 0};
	size_t total = 0, nfree = 0, n = 0;
	uint64_t prev_end = 0;

	for (const void *r = first; r;) {
		struct ka_frame_region_view v;

		if (n++ > nregions) {
			ka_frame_report(&c, "region list longer than the region count (loop?)", 0);
			break;
		}
		r = visit(&c, r, &v);
		if (v.base < prev_end)
			ka_frame_report(&c, "regions unsorted or overlapping", v.base);
		prev_end = v.base + v.frames;
		total += v.frames;
		nfree += v.free;
	}
	if (n != nregions)
		ka_frame_report(&c, "region count differs from the list", 0);
	else
		/* The list is sound: each region against itself and every one after it. */
		for (const void *r = first; r; n--) {
			struct ka_frame_extent e;
			const void *rest = extent(r, &e);

			if (ka_frame_add_conflict(&e, rest, n - 1, extent) != 0)
				ka_frame_report(
				    &c, "region overlaps frames or metadata of a region", e.base);
			r = rest;
		}
	if (total != fa->total_frames)
		ka_frame_report(&c, "total frame count differs from the regions", 0);
	if (nfree != fa->free_frames)
		ka_frame_report(&c, "free frame count differs from the regions", 0);
	return c.found;
}

/* Do the metadata bytes [m, m + len) lie, through f's direct map, in one of f's frames? */
static bool frames_hold(const struct ka_frame_extent *f, uintptr_t m, size_t len)
{
	uintptr_t v;

	if (f->dm_off == KA_DM_NONE)
		return false;
	v = (uintptr_t)((f->base << KA_CFG_PAGE_SHIFT) + f->dm_off);
	/* m inside [v, v + frames pages), or v inside [m, m + len); both modulo the address
	 * space. Comparing pages, not bytes, keeps frames * KA_PAGE_SIZE from overflowing. */
	return ((uintptr_t)(m - v) >> KA_CFG_PAGE_SHIFT) < f->frames || (uintptr_t)(v - m) < len;
}

static bool metas_overlap(const struct ka_frame_extent *a, const struct ka_frame_extent *b)
{
	return (uintptr_t)(b->meta - a->meta) < a->meta_len ||
	       (uintptr_t)(a->meta - b->meta) < b->meta_len;
}

int ka_frame_add_conflict(const struct ka_frame_extent *n, const void *first, size_t nregions,
			  ka_frame_extent_fn next)
{
	if (frames_hold(n, n->meta, n->meta_len))
		return KA_EEXIST;
	/* Metadata may sit anywhere, so the whole list is visited even though it is sorted. */
	for (const void *r = first; r && nregions; nregions--) {
		struct ka_frame_extent o;

		r = next(r, &o);
		if ((n->base < o.base + o.frames && o.base < n->base + n->frames) ||
		    metas_overlap(n, &o) || frames_hold(n, o.meta, o.meta_len) ||
		    frames_hold(&o, n->meta, n->meta_len))
			return KA_EEXIST;
	}
	return 0;
}

static const struct ka_frame_ops *raw(const struct ka_frame_alloc *fa)
{
	/* fa->ops is the `pub` member, first in its ka_frame_impl. */
	return &((const struct ka_frame_impl *)(const void *)fa->ops)->raw;
}

static int checked(struct ka_frame_alloc *fa, int rc)
{
	if (fa->ops->check(fa) != 0)
		ka_plat_panic("kalloc: frame allocator check failed after an operation");
	return rc;
}

int ka_frame_checked_alloc(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			   unsigned flags)
{
	return checked(fa, raw(fa)->alloc(fa, paddr, frames, flags));
}

int ka_frame_checked_alloc_range(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
				 ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags)
{
	return checked(fa, raw(fa)->alloc_range(fa, paddr, frames, min, max, align, flags));
}

int ka_frame_checked_free(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	return checked(fa, raw(fa)->free(fa, paddr, frames));
}

int ka_frame_checked_add_memory(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
				size_t frames, uintptr_t dm_off)
{
	return checked(fa, raw(fa)->add_memory(fa, metadata, paddr, frames, dm_off));
}

void ka_frame_init_head(struct ka_frame_alloc *fa, const struct ka_frame_impl *impl,
			const char *name)
{
	fa->ops = &impl->pub;
	fa->name = name;
	fa->free_frames = 0;
	fa->total_frames = 0;
}
