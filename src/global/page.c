/* SPDX-License-Identifier: MIT */
/*
 * Page objects (kalloc/page.h): a run of pages from any allocator's page interface that
 * remembers where it came from. Entry points: ka_page_alloc*(), ka_page_free().
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/page.h"
#include "kstring.h"

static void set_empty(struct ka_page *pg)
{
	pg->vaddr = NULL;
	pg->npages = 0;
	pg->from = NULL;
}

int ka_page_alloc_contiguous(struct ka_alloc *a, size_t npages, size_t align, struct ka_page *out)
{
	size_t bytes;
	void *p;

	if (!out)
		return KA_EINVAL;
	set_empty(out);
	if (!a || npages == 0 || !ka_is_pow2(align) || align < KA_PAGE_SIZE ||
	    ka_mul_overflow(npages, KA_PAGE_SIZE, &bytes))
		return KA_EINVAL;
	p = ka_palloc_aligned(a, npages, align);
	if (!p)
		return KA_ENOMEM;
	out->vaddr = p;
	out->npages = npages;
	out->from = a;
	return 0;
}

int ka_page_alloc(struct ka_alloc *a, struct ka_page *out)
{
	return ka_page_alloc_contiguous(a, 1, KA_PAGE_SIZE, out);
}

int ka_page_alloc_zeroed(struct ka_alloc *a, struct ka_page *out)
{
	int rc = ka_page_alloc(a, out);

	if (rc == 0)
		ka_page_zero(out);
	return rc;
}

void *ka_page_vaddr(const struct ka_page *pg)
{
	return pg->vaddr;
}

ka_paddr_t ka_page_paddr(const struct ka_page *pg, ka_virt_to_phys_fn v2p)
{
	if (!pg->vaddr)
		return KA_PADDR_INV;
	return v2p ? v2p(pg->vaddr) : ka_plat_virt_to_phys(pg->vaddr);
}

size_t ka_page_size(const struct ka_page *pg)
{
	return pg->npages << KA_CFG_PAGE_SHIFT;
}

size_t ka_page_count(const struct ka_page *pg)
{
	return pg->npages;
}

void ka_page_fill(struct ka_page *pg, uint8_t byte)
{
	if (pg->vaddr)
		memset(pg->vaddr, byte, ka_page_size(pg));
}

void ka_page_zero(struct ka_page *pg)
{
	ka_page_fill(pg, 0);
}

void ka_page_free(struct ka_page *pg)
{
	if (!pg->vaddr)
		return;
	ka_pfree(pg->from, pg->vaddr, pg->npages);
	set_empty(pg);
}
