/* SPDX-License-Identifier: MIT */
/*
 * Page sources (kalloc/global.h): where the global allocator's chunks and large blocks come
 * from. Two implementations: a frame allocator seen through a direct map (kernels), and the
 * platform's page mapper (hosted: mmap). Entry points: ka_frame_source_init(),
 * ka_plat_source_init(), and the ka_page_source_* calls, which take the source's lock.
 *
 * Lock order: the source's lock is the innermost lock of kalloc; callers (the global
 * allocator, DMA) may hold their own lock when they call in, never the reverse. Only the
 * frame allocator and ka_plat_page_map/unmap run under it.
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/global.h"

/* ---- frame source ------------------------------------------------------------------- */

static struct ka_frame_source *to_fs(struct ka_page_source *s)
{
	return (struct ka_frame_source *)s;
}

ka_paddr_t ka_frame_source_virt_to_phys(const struct ka_frame_source *fs, const void *vaddr)
{
	if (fs->dm_off == KA_DM_NONE)
		return ka_plat_virt_to_phys(vaddr);
	return (ka_paddr_t)((uintptr_t)vaddr - fs->dm_off);
}

void *ka_frame_source_phys_to_virt(const struct ka_frame_source *fs, ka_paddr_t paddr)
{
	if (fs->dm_off == KA_DM_NONE)
		return ka_plat_phys_to_virt(paddr);
	return (void *)((uintptr_t)paddr + fs->dm_off);
}

/*
 * Alignment is a virtual-address property (the global allocator masks pointers), while the
 * frame allocator aligns physical addresses. They agree when the direct-map offset is itself
 * a multiple of the alignment; otherwise over-allocate by the alignment and give back the
 * unaligned head and tail (the frame contract allows partial frees).
 */
static void *frame_map(struct ka_page_source *s, size_t npages, size_t align)
{
	struct ka_frame_source *fs = to_fs(s);
	struct ka_frame_alloc *fa = fs->fa;
	ka_paddr_t p = KA_PADDR_ANY;
	size_t extra, total, head;
	uintptr_t v, start;

	if (align <= KA_PAGE_SIZE) {
		if (fa->ops->alloc(fa, &p, npages, 0) != 0)
			return NULL;
		return ka_frame_source_phys_to_virt(fs, p);
	}
	if (fs->dm_off != KA_DM_NONE && (fs->dm_off & (align - 1)) == 0) {
		p = KA_PADDR_INV;
		if (fa->ops->alloc_range(fa, &p, npages, 0, KA_PADDR_INV, align, 0) != 0)
			return NULL;
		return ka_frame_source_phys_to_virt(fs, p);
	}
	extra = (align >> KA_CFG_PAGE_SHIFT) - 1;
	if (ka_add_overflow(npages, extra, &total))
		return NULL;
	if (fa->ops->alloc(fa, &p, total, 0) != 0)
		return NULL;
	v = (uintptr_t)ka_frame_source_phys_to_virt(fs, p);
	start = ka_align_up(v, align);
	head = (size_t)(start - v) >> KA_CFG_PAGE_SHIFT;
	if (head)
		fa->ops->free(fa, p, head);
	if (extra - head)
		fa->ops->free(fa, p + ((ka_paddr_t)(head + npages) << KA_CFG_PAGE_SHIFT),
			      extra - head);
	return (void *)start;
}

static int frame_unmap(struct ka_page_source *s, void *addr, size_t npages)
{
	struct ka_frame_source *fs = to_fs(s);

	return fs->fa->ops->free(fs->fa, ka_frame_source_virt_to_phys(fs, addr), npages);
}

/*
 * A region given to the frame source carries its own bookkeeping: its first pages hold the
 * frame allocator's metadata for the rest. metadata_size() grows with the frame count, so
 * sizing it for all frames of the region is enough for the fewer frames that remain.
 *
 * The frame allocator refuses a region that overlaps anything it manages, metadata included
 * (KA_EEXIST, nothing changed), but it can only compare frames with metadata where it knows
 * at which virtual address the frames are seen. Without a direct map the region itself says
 * so: the source already requires the platform's translation to be linear over it, so its
 * frames are at vaddr = paddr + (frames' vaddr - their paddr), which is what is passed.
 */
static int frame_add_memory(struct ka_page_source *s, void *base, size_t len)
{
	struct ka_frame_source *fs = to_fs(s);
	struct ka_frame_alloc *fa = fs->fa;
	uintptr_t start, end, b = (uintptr_t)base;
	size_t frames, meta, mpages;
	uintptr_t fv;
	ka_paddr_t fp;

	if (b + len < b || b > UINTPTR_MAX - KA_PAGE_SIZE)
		return KA_EINVAL;
	start = ka_align_up(b, KA_PAGE_SIZE);
	end = ka_align_down(b + len, KA_PAGE_SIZE);
	if (end <= start)
		return KA_EINVAL;
	frames = (size_t)(end - start) >> KA_CFG_PAGE_SHIFT;
	meta = fa->ops->metadata_size(fa, frames);
	mpages = (meta >> KA_CFG_PAGE_SHIFT) + ((meta & (KA_PAGE_SIZE - 1)) != 0);
	if (mpages >= frames)
		return KA_EINVAL;
	fv = start + (mpages << KA_CFG_PAGE_SHIFT);
	fp = ka_frame_source_virt_to_phys(fs, (void *)fv);
	return fa->ops->add_memory(fa, (void *)start, fp, frames - mpages,
				   fs->dm_off != KA_DM_NONE ? fs->dm_off : fv - (uintptr_t)fp);
}

static size_t frame_avail(struct ka_page_source *s)
{
	return to_fs(s)->fa->free_frames;
}

/* The frame interface does not report its longest free run. */
static size_t frame_max_run(struct ka_page_source *s)
{
	(void)s;
	return 0;
}

static unsigned frame_check(struct ka_page_source *s)
{
	struct ka_frame_alloc *fa = to_fs(s)->fa;
	unsigned n = fa->ops->check(fa);

	if (fa->free_frames > fa->total_frames ||
	    s->used_pages > fa->total_frames - fa->free_frames) {
		ka_check_report(NULL, "frame source: more pages mapped than frames in use", s);
		n++;
	}
	return n;
}

static const struct ka_page_source_ops frame_ops = {
    .map = frame_map,
    .unmap = frame_unmap,
    .add_memory = frame_add_memory,
    .avail_pages = frame_avail,
    .max_run = frame_max_run,
    .check = frame_check,
};

struct ka_page_source *ka_frame_source_init(struct ka_frame_source *fs, struct ka_frame_alloc *fa,
					    uintptr_t dm_off)
{
	if (!fs || !fa)
		return NULL;
	fs->base.ops = &frame_ops;
	fs->base.name = "frame";
	fs->base.used_pages = 0;
	fs->base.zero_fill = false; /* frames hold whatever their last owner left */
	ka_plat_lock_init(&fs->base.lock);
	fs->fa = fa;
	fs->dm_off = dm_off;
	return &fs->base;
}

int ka_frame_source_alloc_range(struct ka_frame_source *fs, size_t npages, ka_paddr_t min,
				ka_paddr_t max, size_t align, ka_paddr_t *out)
{
	ka_paddr_t p = KA_PADDR_INV;
	unsigned long f;
	int rc;

	if (npages == 0 || !ka_is_pow2(align) || align < KA_PAGE_SIZE || min >= max)
		return KA_EINVAL;
	f = ka_plat_lock_acquire(&fs->base.lock);
	rc = fs->fa->ops->alloc_range(fs->fa, &p, npages, min, max, align, 0);
	if (rc == 0)
		fs->base.used_pages += npages;
	ka_plat_lock_release(&fs->base.lock, f);
	if (rc == 0)
		*out = p;
	return rc;
}

int ka_frame_source_free(struct ka_frame_source *fs, ka_paddr_t paddr, size_t npages)
{
	unsigned long f = ka_plat_lock_acquire(&fs->base.lock);
	int rc = fs->fa->ops->free(fs->fa, paddr, npages);

	if (rc == 0)
		fs->base.used_pages -= npages;
	ka_plat_lock_release(&fs->base.lock, f);
	return rc;
}

/* ---- platform source ---------------------------------------------------------------- */

static struct ka_plat_source *to_ps(struct ka_page_source *s)
{
	return (struct ka_plat_source *)s;
}

static void *plat_map(struct ka_page_source *s, size_t npages, size_t align)
{
	struct ka_plat_source *ps = to_ps(s);

	if (ps->limit_pages &&
	    (npages > ps->limit_pages || s->used_pages > ps->limit_pages - npages))
		return NULL;
	return ka_plat_page_map(npages << KA_CFG_PAGE_SHIFT, align);
}

static int plat_unmap(struct ka_page_source *s, void *addr, size_t npages)
{
	(void)s;
	return ka_plat_page_unmap(addr, npages << KA_CFG_PAGE_SHIFT);
}

static size_t plat_avail(struct ka_page_source *s)
{
	struct ka_plat_source *ps = to_ps(s);

	if (!ps->limit_pages)
		return SIZE_MAX;
	return ps->limit_pages - s->used_pages;
}

/* Virtual memory is contiguous: a capped source can map all it has left in one run. */
static size_t plat_max_run(struct ka_page_source *s)
{
	struct ka_plat_source *ps = to_ps(s);

	return ps->limit_pages ? ps->limit_pages - s->used_pages : 0;
}

static unsigned plat_check(struct ka_page_source *s)
{
	struct ka_plat_source *ps = to_ps(s);

	if (ps->limit_pages && s->used_pages > ps->limit_pages) {
		ka_check_report(NULL, "platform source: more pages mapped than its cap", s);
		return 1;
	}
	return 0;
}

static const struct ka_page_source_ops plat_ops = {
    .map = plat_map,
    .unmap = plat_unmap,
    .add_memory = NULL,
    .avail_pages = plat_avail,
    .max_run = plat_max_run,
    .check = plat_check,
};

struct ka_page_source *ka_plat_source_init(struct ka_plat_source *ps, size_t limit_bytes)
{
	if (!ps)
		return NULL;
	ps->base.ops = &plat_ops;
	ps->base.name = "platform";
	ps->base.used_pages = 0;
	ps->base.zero_fill = true; /* the platform maps fresh anonymous pages (hosted: mmap) */
	ka_plat_lock_init(&ps->base.lock);
	ps->limit_pages = limit_bytes >> KA_CFG_PAGE_SHIFT;
	return &ps->base;
}

/* ---- locked entry points -------------------------------------------------------------- */

void *ka_page_source_map(struct ka_page_source *s, size_t npages, size_t align)
{
	unsigned long f;
	void *p;

	if (npages == 0 || npages > (SIZE_MAX >> 1) >> KA_CFG_PAGE_SHIFT || !ka_is_pow2(align) ||
	    align < KA_PAGE_SIZE)
		return NULL;
	f = ka_plat_lock_acquire(&s->lock);
	p = s->ops->map(s, npages, align);
	if (p)
		s->used_pages += npages;
	ka_plat_lock_release(&s->lock, f);
	return p;
}

int ka_page_source_unmap(struct ka_page_source *s, void *addr, size_t npages)
{
	unsigned long f;
	int rc;

	if (npages == 0 || ((uintptr_t)addr & (KA_PAGE_SIZE - 1)) != 0)
		return KA_EINVAL;
	f = ka_plat_lock_acquire(&s->lock);
	if (npages > s->used_pages) {
		rc = KA_EFAULT;
	} else {
		rc = s->ops->unmap(s, addr, npages);
		if (rc == 0)
			s->used_pages -= npages;
	}
	ka_plat_lock_release(&s->lock, f);
	return rc;
}

int ka_page_source_add_memory(struct ka_page_source *s, void *base, size_t len)
{
	unsigned long f;
	int rc;

	if (!base || len == 0)
		return KA_EINVAL;
	if (!s->ops->add_memory)
		return KA_ENOTSUP;
	f = ka_plat_lock_acquire(&s->lock);
	rc = s->ops->add_memory(s, base, len);
	ka_plat_lock_release(&s->lock, f);
	return rc;
}

size_t ka_page_source_avail(struct ka_page_source *s)
{
	unsigned long f = ka_plat_lock_acquire(&s->lock);
	size_t n = s->ops->avail_pages(s);

	ka_plat_lock_release(&s->lock, f);
	return n;
}

size_t ka_page_source_max_run(struct ka_page_source *s)
{
	unsigned long f = ka_plat_lock_acquire(&s->lock);
	size_t n = s->ops->max_run(s);

	ka_plat_lock_release(&s->lock, f);
	return n;
}

unsigned ka_page_source_check(struct ka_page_source *s)
{
	unsigned long f = ka_plat_lock_acquire(&s->lock);
	unsigned n = s->ops->check(s);

	ka_plat_lock_release(&s->lock, f);
	return n;
}
