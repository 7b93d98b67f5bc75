/* SPDX-License-Identifier: MIT */
/*
 * Coherent DMA memory (kalloc/dma.h). Entry points: ka_dma_init(), ka_dma_alloc_coherent(),
 * ka_dma_free_coherent().
 *
 * Lock order: d->lock (outer) -> d->fs->base.lock (inner, taken by the frame source calls).
 *
 * In-band encoding: a coherent sub-heap is a run of `heap_pages` frames, mapped uncached,
 * that starts with a `struct ka_dma_heap` header (magic = KA_DMA_HEAP_MAGIC XOR the header's
 * address; owner = the `struct ka_dma`), followed, from KA_DMA_HDR bytes in, by a byte
 * backend's heap. A buffer records its sub-heap in ka_dma_buf.heap; the header is validated
 * (magic, owner, the pointer inside the heap) before it is trusted.
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/dma.h"
#include "kstring.h"
#include "check.h"

#define KA_DMA_HEAP_MAGIC 0x444d4148u /* "DMAH" */

struct ka_dma_heap {
	uintptr_t magic;
	struct ka_dma *owner;
	struct ka_dma_heap *prev, *next;
	ka_paddr_t phys;    /* first frame */
	ka_paddr_t bus_end; /* bus address one past the last byte */
	size_t npages;
	size_t live; /* buffers live in it */
	struct ka_alloc *heap;
};

#define KA_DMA_HDR (((sizeof(struct ka_dma_heap) + 63) / 64) * 64)

/* Name carrier for misuse reports (ka_misuse prints the allocator's name). */
static const struct ka_alloc dma_head = {.ops = NULL, .name = "dma", .flags = 0};

ka_paddr_t ka_dma_phys_to_bus(const struct ka_dma *d, ka_paddr_t paddr)
{
	if (d->phys_to_bus)
		return d->phys_to_bus(paddr, d->hook_arg);
	return paddr + d->bus_offset;
}

ka_paddr_t ka_dma_virt_to_bus(const struct ka_dma *d, const void *vaddr)
{
	return ka_dma_phys_to_bus(d, ka_frame_source_virt_to_phys(d->fs, vaddr));
}

int ka_dma_init(struct ka_dma *d, const struct ka_dma_config *cfg)
{
	const struct ka_backend *b;
	size_t pages, bytes;

	if (!d || !cfg || !cfg->frames)
		return KA_EINVAL;
	b = cfg->backend ? ka_backend_find(cfg->backend) : ka_backend_default();
	if (!b || !b->init)
		return KA_ENOENT;
	pages = cfg->heap_pages ? cfg->heap_pages : 16;
	if (ka_mul_overflow(pages, KA_PAGE_SIZE, &bytes) || bytes > SIZE_MAX / 2 ||
	    b->min_size > bytes - KA_DMA_HDR)
		return KA_EINVAL;
	ka_plat_lock_init(&d->lock);
	d->fs = cfg->frames;
	d->bus_offset = cfg->bus_offset;
	d->phys_to_bus = cfg->phys_to_bus;
	d->hook_arg = cfg->hook_arg;
	d->backend = b;
	d->heap_pages = pages;
	d->small_max = cfg->small_max ? cfg->small_max : bytes / 8;
	d->heaps = NULL;
	d->empty = NULL;
	d->nheaps = 0;
	d->page_bufs = 0;
	return 0;
}

/*
 * The physical window [0, max) whose frames have bus addresses below `limit` with the offset
 * model; with a hook, [0, limit) is a first guess that the caller verifies after allocating.
 * Returns false when no frame can qualify.
 */
static bool phys_window(const struct ka_dma *d, ka_paddr_t limit, ka_paddr_t *max)
{
	if (limit == KA_DMA_LIMIT_NONE) {
		*max = KA_PADDR_INV;
		return true;
	}
	if (d->phys_to_bus) {
		*max = limit;
		return true;
	}
	if (limit <= d->bus_offset)
		return false;
	*max = limit - d->bus_offset;
	return true;
}

/* Whether [phys, phys + bytes) is below the limit on the device's side. */
static bool bus_ok(const struct ka_dma *d, ka_paddr_t phys, size_t bytes, ka_paddr_t limit)
{
	ka_paddr_t bus = ka_dma_phys_to_bus(d, phys);

	if (limit == KA_DMA_LIMIT_NONE)
		return bus + bytes >= bus;
	return bus < limit && limit - bus >= bytes;
}

/* Frames below the limit, mapped uncached. 0 or KA_ENOMEM; on success *cpu and *phys. */
static int get_frames(struct ka_dma *d, size_t npages, size_t align, ka_paddr_t limit, void **cpu,
		      ka_paddr_t *phys)
{
	ka_paddr_t max, p;
	void *v;

	if (!phys_window(d, limit, &max))
		return KA_ENOMEM;
	if (ka_frame_source_alloc_range(d->fs, npages, 0, max, align, &p) != 0)
		return KA_ENOMEM;
	v = ka_frame_source_phys_to_virt(d->fs, p);
	if (!bus_ok(d, p, npages << KA_CFG_PAGE_SHIFT, limit) ||
	    ka_plat_map_uncached(v, npages << KA_CFG_PAGE_SHIFT) != 0) {
		ka_frame_source_free(d->fs, p, npages);
		return KA_ENOMEM;
	}
	*cpu = v;
	*phys = p;
	return 0;
}

static void heap_unlink(struct ka_dma *d, struct ka_dma_heap *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		d->heaps = h->next;
	if (h->next)
		h->next->prev = h->prev;
}

static struct ka_dma_heap *heap_new(struct ka_dma *d, ka_paddr_t limit)
{
	struct ka_dma_heap *h;
	struct ka_alloc *heap;
	ka_paddr_t phys;
	void *v;

	if (get_frames(d, d->heap_pages, KA_PAGE_SIZE, limit, &v, &phys) != 0)
		return NULL;
	heap = d->backend->init((char *)v + KA_DMA_HDR,
				(d->heap_pages << KA_CFG_PAGE_SHIFT) - KA_DMA_HDR);
	if (!heap) {
		ka_frame_source_free(d->fs, phys, d->heap_pages);
		return NULL;
	}
	heap->flags |= KA_ALLOC_NOSTATS;
	h = v;
	h->magic = KA_DMA_HEAP_MAGIC ^ (uintptr_t)h;
	h->owner = d;
	h->phys = phys;
	h->bus_end = ka_dma_phys_to_bus(d, phys) + (d->heap_pages << KA_CFG_PAGE_SHIFT);
	h->npages = d->heap_pages;
	h->live = 0;
	h->heap = heap;
	h->prev = NULL;
	h->next = d->heaps;
	if (d->heaps)
		d->heaps->prev = h;
	d->heaps = h;
	d->nheaps++;
	return h;
}

static void heap_release(struct ka_dma *d, struct ka_dma_heap *h)
{
	heap_unlink(d, h);
	d->nheaps--;
	if (d->empty == h)
		d->empty = NULL;
	h->magic = 0;
	ka_frame_source_free(d->fs, h->phys, h->npages);
}

static void *heap_try(struct ka_dma *d, struct ka_dma_heap *h, size_t size, size_t align)
{
	void *p = h->heap->ops->alloc(h->heap, size, align);

	if (p) {
		h->live++;
		if (d->empty == h)
			d->empty = NULL;
	}
	return p;
}

/* A sub-heap qualifies when its whole range is below the limit: sub-heaps made for a 32-bit
 * device serve everyone, those made without a limit serve only unconstrained requests. */
static void *small_alloc(struct ka_dma *d, size_t size, size_t align, ka_paddr_t limit,
			 struct ka_dma_heap **from)
{
	struct ka_dma_heap *h;
	void *p;

	for (h = d->heaps; h; h = h->next) {
		if (limit != KA_DMA_LIMIT_NONE && h->bus_end > limit)
			continue;
		p = heap_try(d, h, size, align);
		if (p) {
			*from = h;
			return p;
		}
	}
	h = heap_new(d, limit);
	if (!h)
		return NULL;
	p = heap_try(d, h, size, align);
	if (!p) {
		heap_release(d, h);
		return NULL;
	}
	*from = h;
	return p;
}

int ka_dma_alloc_coherent(struct ka_dma *d, size_t size, size_t align, ka_paddr_t limit,
			  struct ka_dma_buf *out)
{
	struct ka_dma_heap *h = NULL;
	unsigned long f;
	size_t npages = 0;
	ka_paddr_t phys;
	void *p = NULL;
	int rc = 0;

	if (!out)
		return KA_EINVAL;
	out->cpu = NULL;
	out->heap = NULL;
	out->npages = 0;
	if (!d || size == 0 || size > SIZE_MAX / 2 || !ka_is_pow2(align) || limit == 0)
		return KA_EINVAL;
	if (align < KA_CFG_MIN_ALIGN)
		align = KA_CFG_MIN_ALIGN;
	f = ka_plat_lock_acquire(&d->lock);
	if (size <= d->small_max && align <= KA_PAGE_SIZE)
		p = small_alloc(d, size, align, limit, &h);
	if (!p) {
		npages = (size >> KA_CFG_PAGE_SHIFT) + ((size & (KA_PAGE_SIZE - 1)) != 0);
		rc = get_frames(d, npages, align > KA_PAGE_SIZE ? align : KA_PAGE_SIZE, limit, &p,
				&phys);
		if (rc == 0)
			d->page_bufs++;
		else
			npages = 0;
	}
	ka_plat_lock_release(&d->lock, f);
	if (!p)
		return KA_ENOMEM;
	memset(p, 0, size);
	out->cpu = p;
	out->bus = ka_dma_virt_to_bus(d, p);
	out->size = size;
	out->heap = h;
	out->npages = npages;
	return 0;
}

void ka_dma_free_coherent(struct ka_dma *d, struct ka_dma_buf *buf)
{
	struct ka_dma_heap *h = buf->heap;
	unsigned long f;

	if (!buf->cpu)
		return;
	f = ka_plat_lock_acquire(&d->lock);
	if (h) {
		uintptr_t c = (uintptr_t)buf->cpu;

		if (h->magic != (KA_DMA_HEAP_MAGIC ^ (uintptr_t)h) || h->owner != d ||
		    c < (uintptr_t)h + KA_DMA_HDR ||
		    c - (uintptr_t)h >= h->npages << KA_CFG_PAGE_SHIFT)
			ka_misuse(&dma_head, "coherent buffer not from this DMA allocator",
				  buf->cpu);
		if (h->live == 0)
			ka_misuse(&dma_head, "free in a coherent sub-heap with no live buffer",
				  buf->cpu);
		h->heap->ops->free(h->heap, buf->cpu);
		if (--h->live == 0) {
			if (!d->empty)
				d->empty = h;
			else if (d->empty != h)
				heap_release(d, h);
		}
	} else {
		if (buf->npages == 0 || d->page_bufs == 0 ||
		    ka_frame_source_free(d->fs, ka_frame_source_virt_to_phys(d->fs, buf->cpu),
					 buf->npages) != 0)
			ka_misuse(&dma_head,
				  "coherent buffer not from this DMA allocator (or freed)",
				  buf->cpu);
		d->page_bufs--;
	}
	ka_plat_lock_release(&d->lock, f);
	buf->cpu = NULL;
	buf->heap = NULL;
	buf->npages = 0;
}

struct live_acc {
	size_t blocks;
};

static int count_used(void *ptr, size_t size, bool used, void *arg)
{
	(void)ptr;
	(void)size;
	if (used)
		((struct live_acc *)arg)->blocks++;
	return 0;
}

/* ka_dma_check() runs its sub-heaps' check and walk ops itself (the DMA head has none). */
KA_LINK_CHECKERS(dma);

unsigned ka_dma_check(struct ka_dma *d)
{
	unsigned long f = ka_plat_lock_acquire(&d->lock);
	const struct ka_dma_heap *prev = NULL;
	unsigned bad = 0;
	size_t n = 0, empties = 0;

	for (struct ka_dma_heap *h = d->heaps; h; prev = h, h = h->next) {
		n++;
		if (h->magic != (KA_DMA_HEAP_MAGIC ^ (uintptr_t)h) || h->owner != d ||
		    h->prev != prev || ka_frame_source_phys_to_virt(d->fs, h->phys) != (void *)h) {
			ka_check_report(&dma_head, "bad coherent sub-heap header", h);
			bad++;
			break;
		}
		if (h->heap->ops->check) /* absent in KA_CFG_MINIMAL builds */
			bad += h->heap->ops->check(h->heap);
		if (h->heap->ops->walk) {
			struct live_acc acc = {0};

			h->heap->ops->walk(h->heap, count_used, &acc);
			if (acc.blocks != h->live) {
				ka_check_report(&dma_head, "sub-heap live count differs", h);
				bad++;
			}
		}
		if (h->live == 0)
			empties++;
	}
	if (n != d->nheaps || empties > 1 || (d->empty && d->empty->live != 0)) {
		ka_check_report(&dma_head, "sub-heap figures differ from the list", d);
		bad++;
	}
	ka_plat_lock_release(&d->lock, f);
	return bad + ka_page_source_check(&d->fs->base);
}

size_t ka_dma_heap_count(struct ka_dma *d)
{
	unsigned long f = ka_plat_lock_acquire(&d->lock);
	size_t n = d->nheaps;

	ka_plat_lock_release(&d->lock, f);
	return n;
}
