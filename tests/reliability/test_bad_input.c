/* SPDX-License-Identifier: MIT */
/*
 * Bad inputs: API-contract cases per entry point family, each asserting the result the
 * headers document (include/kalloc/alloc.h, global.h, page.h, frame.h, pool.h, region.h):
 *  - "bytes <backend>": the ka_* byte and page API on every backend of the registry;
 *  - "global": ka_global_init/alloc/free/pages and the iface over a capped platform source;
 *  - "pages": page sources and page objects;
 *  - "frames <impl>": the frame API on fbuddy and fbitmap;
 *  - "init <backend>": every backend's init at, below and around its minimum, and the pool
 *    and region constructors too small and exactly at their maximum.
 * Prints "bad input <family>: N/N" and fails on any mismatch, naming the case.
 * The shim's malloc family is covered by shim_misuse (tests/reliability/shim_misuse.c).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/alloc_impl.h"
#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"
#include "kalloc/global.h"
#include "kalloc/page.h"
#include "kalloc/pool.h"
#include "kalloc/region.h"
#include "rel.h"

#define HEAP_LEN ((size_t)4 << 20)
#define BIG	 ((size_t)PTRDIFF_MAX + 1)

static unsigned char *heap;
static unsigned cases, passed, failures;
static const char *family;

static void expect(bool ok, const char *what)
{
	cases++;
	if (ok)
		passed++;
	else
		printf("  MISMATCH %s: %s\n", family, what);
}

static void report(void)
{
	printf("bad input %s: %u/%u\n", family, passed, cases);
	fflush(stdout);
	if (passed != cases || cases < 25)
		failures++;
	cases = passed = 0;
}

#define EXPECT(cond) expect((cond), #cond)

static bool aligned(const void *p, size_t al)
{
	return ((uintptr_t)p & (al - 1)) == 0;
}

/* ---- the byte API on one backend ------------------------------------------------------ */

static void bytes_family(const struct ka_backend *b)
{
	char name[64];
	struct ka_alloc *a = b->init(heap, HEAP_LEN);
	bool any = (b->caps & KA_CAP_ANYSIZE) != 0;
	uint64_t enomem0;
	unsigned nulls = 0; /* failing calls that must count in nb_enomem */
	void *p, *q, *m;

	snprintf(name, sizeof(name), "bytes %s", b->name);
	family = name;
	REL_REQUIRE(a, "%s init over %zu bytes", b->name, HEAP_LEN);
	enomem0 = ka_stats(a)->nb_enomem;

	/* Size 0: a unique, freeable block of at least one byte. */
	p = ka_malloc(a, 0);
	q = ka_malloc(a, 0);
	EXPECT(p && q && p != q && ka_usable_size(a, p) >= 1);
	EXPECT(aligned(p, KA_CFG_MIN_ALIGN) && aligned(q, KA_CFG_MIN_ALIGN));
	ka_free(a, p);
	ka_free(a, q);
	/* Sizes nobody can have. */
	EXPECT(ka_malloc(a, SIZE_MAX) == NULL);
	EXPECT(ka_malloc(a, BIG) == NULL);
	EXPECT(ka_malloc(a, SIZE_MAX / 2) == NULL);
	EXPECT(ka_malloc(a, HEAP_LEN + 1) == NULL);
	nulls += 4;
	/* calloc: three overflows, and the zero products that are no overflow. */
	EXPECT(ka_calloc(a, SIZE_MAX, 2) == NULL);
	EXPECT(ka_calloc(a, 2, SIZE_MAX) == NULL);
	EXPECT(ka_calloc(a, (size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)) ==
	       NULL);
	nulls += 3;
	p = ka_calloc(a, 0, SIZE_MAX);
	q = ka_calloc(a, SIZE_MAX, 0);
	EXPECT(p && q && p != q);
	ka_free(a, p);
	ka_free(a, q);
	p = ka_calloc(a, 3, 24);
	EXPECT(p && ((unsigned char *)p)[0] == 0 && ((unsigned char *)p)[71] == 0);
	ka_free(a, p);
	/* memalign: not a power of two fails, small ones are raised, too large fails. */
	EXPECT(ka_memalign(a, 0, 16) == NULL);
	EXPECT(ka_memalign(a, 3, 16) == NULL);
	EXPECT(ka_memalign(a, 24, 16) == NULL);
	EXPECT(ka_memalign(a, (size_t)1 << (sizeof(size_t) * 8 - 1), 16) == NULL);
	nulls += 4;
	p = ka_memalign(a, 1, 16);
	EXPECT(p && aligned(p, KA_CFG_MIN_ALIGN));
	ka_free(a, p);
	p = ka_memalign(a, KA_PAGE_SIZE, 100);
	/* Page alignment works on every general backend; pool objects are not page aligned. */
	EXPECT(any ? p && aligned(p, KA_PAGE_SIZE) : p == NULL);
	nulls += !any;
	ka_free(a, p);
	/* posix_memalign: EINVAL for 0, 2, 3, 24 (*memptr untouched), ENOMEM for SIZE_MAX. */
	m = &m;
	EXPECT(ka_posix_memalign(a, &m, 0, 16) == KA_EINVAL && m == &m);
	EXPECT(ka_posix_memalign(a, &m, 2, 16) == KA_EINVAL && m == &m);
	EXPECT(ka_posix_memalign(a, &m, 3, 16) == KA_EINVAL && m == &m);
	EXPECT(ka_posix_memalign(a, &m, 24, 16) == KA_EINVAL && m == &m);
	EXPECT(ka_posix_memalign(a, &m, sizeof(void *), SIZE_MAX) == KA_ENOMEM && m == &m);
	nulls += 1;
	EXPECT(ka_posix_memalign(a, &m, sizeof(void *), 100) == 0 && m != &m &&
	       aligned(m, sizeof(void *)));
	ka_free(a, m);
	/* realloc: NULL acts as malloc, 0 gives a minimum block, failures keep the block. */
	p = ka_realloc(a, NULL, 0);
	EXPECT(p && ka_usable_size(a, p) >= 1);
	ka_free(a, p);
	EXPECT(ka_realloc(a, NULL, SIZE_MAX) == NULL);
	nulls += 1;
	p = ka_malloc(a, 100);
	REL_REQUIRE(p, "%s: malloc(100)", b->name);
	rel_fill(p, 100, 7);
	size_t live = ka_stats(a)->cur_nb_allocs, us = ka_usable_size(a, p);
	EXPECT(ka_realloc(a, p, SIZE_MAX) == NULL && rel_verify(p, 100, 7) == SIZE_MAX &&
	       ka_usable_size(a, p) == us);
	EXPECT(ka_realloc(a, p, BIG) == NULL && rel_verify(p, 100, 7) == SIZE_MAX);
	EXPECT(ka_realloc(a, p, 2 * HEAP_LEN) == NULL && rel_verify(p, 100, 7) == SIZE_MAX);
	nulls += 3;
	q = ka_realloc(a, p, 0);
	EXPECT(q && ka_usable_size(a, q) >= 1 && ka_stats(a)->cur_nb_allocs == live);
	ka_free(a, q);
	/* NULL is a no-op for free, pfree, usable_size. */
	live = ka_stats(a)->cur_nb_allocs;
	uint64_t frees = ka_stats(a)->nb_frees;
	ka_free(a, NULL);
	ka_pfree(a, NULL, 3);
	EXPECT(ka_stats(a)->cur_nb_allocs == live && ka_stats(a)->nb_frees == frees);
	EXPECT(ka_usable_size(a, NULL) == 0);
	/* Pages: 0, overflowing counts and bad alignments fail. */
	EXPECT(ka_palloc(a, 0) == NULL);
	EXPECT(ka_palloc(a, SIZE_MAX) == NULL);
	EXPECT(ka_palloc(a, SIZE_MAX / KA_PAGE_SIZE + 1) == NULL);
	EXPECT(ka_palloc_aligned(a, 1, 0) == NULL);
	EXPECT(ka_palloc_aligned(a, 1, 3 * KA_PAGE_SIZE) == NULL);
	EXPECT(ka_palloc_aligned(a, 1, KA_PAGE_SIZE / 2) == NULL);
	nulls += 6;
	p = ka_palloc(a, 1);
	EXPECT(any ? p && aligned(p, KA_PAGE_SIZE) : p == NULL);
	nulls += !any;
	if (p)
		ka_pfree(a, p, 1);
	/* add_memory: NULL, empty and wrapping regions are invalid; a region that overlaps the
	 * heap is refused (EEXIST where the backend can tell, never accepted). */
	EXPECT(ka_add_memory(a, NULL, 4096) == KA_EINVAL);
	EXPECT(ka_add_memory(a, heap, 0) == KA_EINVAL);
	EXPECT(ka_add_memory(a, (void *)(UINTPTR_MAX - 100), 4096) == KA_EINVAL);
	int rc = ka_add_memory(a, heap + HEAP_LEN / 2, 8192);
	EXPECT((b->caps & KA_CAP_ADDMEM) ? rc == KA_EEXIST || rc == KA_EINVAL : rc == KA_ENOTSUP);
	rc = ka_add_memory(a, heap + HEAP_LEN / 2, 8);
	EXPECT((b->caps & KA_CAP_ADDMEM) ? rc == KA_EINVAL || rc == KA_EEXIST : rc == KA_ENOTSUP);
	/* maxalloc is a request that succeeds. */
	size_t mx = ka_maxalloc(a);
	p = ka_malloc(a, mx);
	EXPECT(mx > 0 && p != NULL);
	ka_free(a, p);
	/* Every failing allocation above was counted, and the heap is healthy and empty. */
	EXPECT(ka_stats(a)->nb_enomem - enomem0 == nulls);
	EXPECT(ka_check(a) == 0 && ka_stats(a)->cur_nb_allocs == 0);
	report();
}

/* ---- the global allocator ------------------------------------------------------------- */

static void global_family(void)
{
	static struct ka_global g;
	struct ka_plat_source ps;
	struct ka_page_source *src = ka_plat_source_init(&ps, 0);
	const char *bn = ka_backend_default()->name;
	struct ka_global_config cfg = {bn, 0, 0};
	void *p, *q, *m;

	family = "global";
	/* init */
	EXPECT(ka_global_init(NULL, src, &cfg) == KA_EINVAL);
	EXPECT(ka_global_init(&g, NULL, &cfg) == KA_EINVAL);
	cfg.backend = "no-such-backend";
	EXPECT(ka_global_init(&g, src, &cfg) == KA_ENOENT);
	cfg.backend = bn;
	cfg.chunk_shift = KA_CFG_PAGE_SHIFT + 1;
	EXPECT(ka_global_init(&g, src, &cfg) == KA_EINVAL);
	cfg.chunk_shift = sizeof(size_t) * 8 - 1;
	EXPECT(ka_global_init(&g, src, &cfg) == KA_EINVAL);
	if (ka_backend_find("slab")) {
		struct ka_global_config sc = {"slab", KA_CFG_PAGE_SHIFT + 2, 0};
		EXPECT(ka_global_init(&g, src, &sc) == KA_EINVAL);
	}
	EXPECT(src->used_pages == 0); /* no refused init kept pages */
	/* a working one over a source capped at 4 MiB */
	cfg.chunk_shift = 0;
	REL_REQUIRE(ka_global_init_hosted(&g, (size_t)4 << 20, &cfg) == 0, "global init");
	struct ka_alloc *a = ka_global_alloc_iface(&g);
	EXPECT(ka_global_add_memory(&g, heap, HEAP_LEN) == KA_ENOTSUP);
	EXPECT(ka_global_alloc(&g, 16, 0) == NULL);
	EXPECT(ka_global_alloc(&g, 16, 3) == NULL);
	EXPECT(ka_global_alloc(&g, 16, 24) == NULL);
	EXPECT(ka_global_alloc(&g, SIZE_MAX, 16) == NULL);
	EXPECT(ka_global_alloc(&g, SIZE_MAX / 2 + 1, 16) == NULL);
	EXPECT(ka_global_alloc(&g, BIG, 16) == NULL);
	EXPECT(ka_global_alloc(&g, (size_t)5 << 20, 16) == NULL); /* above the cap */
	p = ka_global_alloc(&g, 0, 16);
	q = ka_global_alloc(&g, 0, 16);
	EXPECT(p && q && p != q && ka_global_usable_size(&g, p) >= 1);
	ka_global_free(&g, p);
	ka_global_free(&g, q);
	p = ka_global_alloc(&g, 1, 1);
	EXPECT(p && aligned(p, KA_CFG_MIN_ALIGN));
	ka_global_free(&g, p);
	p = ka_global_alloc(&g, 100, (size_t)1 << 20);
	EXPECT(p && aligned(p, (size_t)1 << 20));
	ka_global_free(&g, p);
	ka_global_free(&g, NULL);
	EXPECT(ka_global_usable_size(&g, NULL) == 0);
	EXPECT(ka_global_alloc_pages(&g, 0, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_global_alloc_pages(&g, 1, 0) == NULL);
	EXPECT(ka_global_alloc_pages(&g, 1, 3 * KA_PAGE_SIZE) == NULL);
	EXPECT(ka_global_alloc_pages(&g, 1, KA_PAGE_SIZE / 2) == NULL);
	EXPECT(ka_global_alloc_pages(&g, SIZE_MAX, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_global_alloc_pages(&g, 2048, KA_PAGE_SIZE) == NULL); /* 8 MiB, above the cap */
	p = ka_global_alloc_pages(&g, 2, 2 * KA_PAGE_SIZE);
	EXPECT(p && aligned(p, 2 * KA_PAGE_SIZE));
	ka_global_free_pages(&g, p, 2);
	ka_global_free_pages(&g, NULL, 3);
	/* the iface: the byte API's rules through the locking adapter */
	EXPECT(ka_calloc(a, SIZE_MAX, 2) == NULL);
	EXPECT(ka_calloc(a, (size_t)1 << 40, (size_t)1 << 40) == NULL);
	m = &m;
	EXPECT(ka_posix_memalign(a, &m, 3, 16) == KA_EINVAL && m == &m);
	EXPECT(ka_posix_memalign(a, &m, 24, 16) == KA_EINVAL && m == &m);
	p = ka_realloc(a, NULL, 0);
	EXPECT(p != NULL);
	rel_fill(p, 1, 3);
	EXPECT(ka_realloc(a, p, SIZE_MAX) == NULL && rel_verify(p, 1, 3) == SIZE_MAX);
	EXPECT(ka_realloc(a, p, (size_t)6 << 20) == NULL && rel_verify(p, 1, 3) == SIZE_MAX);
	q = ka_realloc(a, p, 0);
	EXPECT(q != NULL);
	ka_free(a, q);
	struct ka_global_stats st;
	ka_global_stats(&g, &st);
	EXPECT(st.used_bytes == 0 && st.large_blocks == 0 && st.page_pages == 0);
	EXPECT(ka_global_check(&g) == 0);
	ka_global_destroy(&g);
	EXPECT(g.src->used_pages == 0);
	report();
}

/* ---- page sources and page objects ---------------------------------------------------- */

static void pages_family(void)
{
	static struct ka_global g;
	struct ka_plat_source ps;
	struct ka_page_source *src = ka_plat_source_init(&ps, (size_t)1 << 20);
	struct ka_page pg = {0};
	void *p;

	family = "pages";
	EXPECT(ka_plat_source_init(NULL, 0) == NULL);
	EXPECT(ka_frame_source_init(NULL, NULL, 0) == NULL);
	EXPECT(ka_page_source_map(src, 0, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_page_source_map(src, 1, 0) == NULL);
	EXPECT(ka_page_source_map(src, 1, 3 * KA_PAGE_SIZE) == NULL);
	EXPECT(ka_page_source_map(src, 1, KA_PAGE_SIZE / 2) == NULL);
	EXPECT(ka_page_source_map(src, SIZE_MAX, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_page_source_map(src, SIZE_MAX / KA_PAGE_SIZE + 1, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_page_source_map(src, 257, KA_PAGE_SIZE) == NULL); /* cap: 256 pages */
	EXPECT(ka_page_source_add_memory(src, heap, HEAP_LEN) == KA_ENOTSUP);
	EXPECT(ka_page_source_avail(src) == 256 && ka_page_source_max_run(src) == 256);
	p = ka_page_source_map(src, 256, KA_PAGE_SIZE);
	EXPECT(p && ka_page_source_avail(src) == 0);
	EXPECT(ka_page_source_map(src, 1, KA_PAGE_SIZE) == NULL);
	EXPECT(ka_page_source_unmap(src, (char *)p + 1, 1) == KA_EINVAL);
	EXPECT(ka_page_source_unmap(src, p, 0) == KA_EINVAL);
	EXPECT(ka_page_source_unmap(src, p, 256) == 0 && src->used_pages == 0);
	EXPECT(ka_page_source_check(src) == 0);
	/* page objects */
	struct ka_global_config cfg = {NULL, 0, 0};
	REL_REQUIRE(ka_global_init_hosted(&g, (size_t)4 << 20, &cfg) == 0, "global");
	struct ka_alloc *a = ka_global_alloc_iface(&g);
	EXPECT(ka_page_alloc(NULL, &pg) == KA_EINVAL);
	EXPECT(ka_page_alloc(a, NULL) == KA_EINVAL);
	EXPECT(ka_page_alloc_contiguous(a, 0, KA_PAGE_SIZE, &pg) == KA_EINVAL && !pg.vaddr);
	EXPECT(ka_page_alloc_contiguous(a, 1, 3 * KA_PAGE_SIZE, &pg) == KA_EINVAL && !pg.vaddr);
	EXPECT(ka_page_alloc_contiguous(a, 1, 0, &pg) == KA_EINVAL && !pg.vaddr);
	EXPECT(ka_page_alloc_contiguous(a, SIZE_MAX, KA_PAGE_SIZE, &pg) == KA_EINVAL && !pg.vaddr);
	EXPECT(ka_page_alloc_contiguous(a, 2048, KA_PAGE_SIZE, &pg) == KA_ENOMEM && !pg.vaddr);
	EXPECT(ka_page_vaddr(&pg) == NULL && ka_page_size(&pg) == 0 && ka_page_count(&pg) == 0 &&
	       ka_page_paddr(&pg, NULL) == KA_PADDR_INV);
	ka_page_free(&pg); /* empty: a no-op */
	ka_page_fill(&pg, 1);
	EXPECT(ka_page_alloc_zeroed(a, &pg) == 0 && ka_page_count(&pg) == 1 &&
	       aligned(pg.vaddr, KA_PAGE_SIZE) &&
	       ((unsigned char *)pg.vaddr)[KA_PAGE_SIZE - 1] == 0);
	ka_page_free(&pg);
	EXPECT(pg.vaddr == NULL);
	EXPECT(ka_page_alloc_contiguous(a, 3, 4 * KA_PAGE_SIZE, &pg) == 0 &&
	       aligned(pg.vaddr, 4 * KA_PAGE_SIZE) && ka_page_size(&pg) == 3 * KA_PAGE_SIZE);
	ka_page_free(&pg);
	EXPECT(ka_global_check(&g) == 0);
	ka_global_destroy(&g);
	EXPECT(g.src->used_pages == 0);
	report();
}

/* ---- frame allocators ----------------------------------------------------------------- */

#define NFRAMES 256

static void frames_family(int kind)
{
	static struct ka_fbuddy fbd;
	static struct ka_fbitmap fbm;
	static uint64_t meta[8192];
	struct ka_frame_alloc *fa = kind ? ka_fbitmap_init(&fbm) : ka_fbuddy_init(&fbd);
	ka_paddr_t base = (ka_paddr_t)1 << 30, p;
	const ka_paddr_t pg = KA_PAGE_SIZE;

	family = kind ? "frames fbitmap" : "frames fbuddy";
	REL_REQUIRE(ka_fmetadata_size(fa, NFRAMES) <= sizeof(meta), "metadata size");
	EXPECT(ka_fmetadata_size(fa, 0) == 0);
	EXPECT(ka_fmetadata_size(fa, SIZE_MAX) == 0);
	/* add_memory */
	EXPECT(ka_fadd_memory(fa, NULL, base, NFRAMES, KA_DM_NONE) == KA_EINVAL);
	EXPECT(ka_fadd_memory(fa, (char *)meta + 1, base, NFRAMES, KA_DM_NONE) == KA_EINVAL);
	EXPECT(ka_fadd_memory(fa, meta, base + 1, NFRAMES, KA_DM_NONE) == KA_EINVAL);
	EXPECT(ka_fadd_memory(fa, meta, base, 0, KA_DM_NONE) == KA_EINVAL);
	EXPECT(ka_fadd_memory(fa, meta, (ka_paddr_t)0 - 16 * pg, 32, KA_DM_NONE) == KA_EINVAL);
	EXPECT(ka_fadd_memory(fa, meta, base, NFRAMES, KA_DM_NONE) == 0);
	EXPECT(ka_ftotal_frames(fa) == NFRAMES && ka_ffree_frames(fa) == NFRAMES);
	static uint64_t meta2[8192];
	EXPECT(ka_fadd_memory(fa, meta2, base + 8 * pg, 4, KA_DM_NONE) == KA_EEXIST);
	/* alloc */
	p = KA_PADDR_ANY;
	EXPECT(fa->ops->alloc(fa, &p, 0, 0) == KA_EINVAL && p == KA_PADDR_ANY);
	EXPECT(fa->ops->alloc(fa, &p, 1, 0x80) == KA_EINVAL && p == KA_PADDR_ANY);
	EXPECT(fa->ops->alloc(fa, &p, NFRAMES + 1, 0) == KA_ENOMEM && p == KA_PADDR_ANY);
	EXPECT(fa->ops->alloc(fa, &p, SIZE_MAX, 0) == KA_ENOMEM && p == KA_PADDR_ANY);
	EXPECT(fa->ops->alloc(fa, &p, 1, KA_FALLOC_ZERO) == KA_ENOMEM); /* no direct map */
	p = base + 1;
	EXPECT(fa->ops->alloc(fa, &p, 1, 0) == KA_EINVAL && p == base + 1);
	EXPECT(ka_falloc_at(fa, base + NFRAMES * pg, 1) == KA_EFAULT);
	EXPECT(ka_falloc_at(fa, base + (NFRAMES - 1) * pg, 2) == KA_EFAULT);
	EXPECT(ka_falloc_at(fa, KA_PADDR_ANY, 1) == KA_EINVAL);
	EXPECT(ka_falloc_at(fa, base + 4 * pg, 4) == 0);
	EXPECT(ka_falloc_at(fa, base + 6 * pg, 4) == KA_EBUSY);
	/* alloc_range */
	p = KA_PADDR_INV;
	EXPECT(fa->ops->alloc_range(fa, &p, 0, 0, KA_PADDR_INV, pg, 0) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, KA_PADDR_INV, 0, 0) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, KA_PADDR_INV, 3 * pg, 0) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, KA_PADDR_INV, pg / 2, 0) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, base + pg, base, pg, 0) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, KA_PADDR_INV, pg, 0x80) == KA_EINVAL);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, base, pg, 0) == KA_ENOMEM);
	EXPECT(fa->ops->alloc_range(fa, &p, 1, 0, KA_PADDR_INV, (size_t)1 << 40, 0) == KA_ENOMEM);
	EXPECT(p == KA_PADDR_INV);
	/* free: all or nothing */
	size_t free0 = ka_ffree_frames(fa);
	EXPECT(ka_ffree(fa, base + 4 * pg + 1, 1) == KA_EINVAL);
	EXPECT(ka_ffree(fa, base + 4 * pg, 0) == KA_EINVAL);
	EXPECT(ka_ffree(fa, (ka_paddr_t)0 - pg, 2) == KA_EINVAL);
	EXPECT(ka_ffree(fa, base + NFRAMES * pg, 1) == KA_EFAULT);
	EXPECT(ka_ffree(fa, base + 2 * pg, 4) == KA_EFAULT); /* half free, half allocated */
	EXPECT(ka_ffree_frames(fa) == free0);
	EXPECT(ka_ffree(fa, base + 4 * pg, 4) == 0);
	EXPECT(ka_ffree(fa, base + 4 * pg, 1) == KA_EFAULT); /* double free */
	EXPECT(ka_ffree_frames(fa) == NFRAMES && ka_fcheck(fa) == 0);
	report();
}

/* ---- init at and around the limits ---------------------------------------------------- */

static void init_family(const struct ka_backend *b)
{
	char name[64];
	struct ka_alloc *a;

	snprintf(name, sizeof(name), "init %s", b->name);
	family = name;
	/* Any alignment of the base works; below min_size (or NULL) fails. */
	EXPECT(b->init(NULL, HEAP_LEN) == NULL);
	EXPECT(b->init(heap, 0) == NULL);
	EXPECT(b->min_size > 0 && b->init(heap, b->min_size - 1) == NULL);
	for (size_t off = 0; off < 24; off += 1) {
		a = b->init(heap + off, b->min_size);
		bool ok = a && ka_check(a) == 0;
		if (ok && ka_maxalloc(a) > 0) {
			void *p = ka_malloc(a, ka_maxalloc(a));
			ok = p && ka_check(a) == 0;
			ka_free(a, p);
		}
		char what[96];
		snprintf(what, sizeof(what), "init at min_size, base offset %zu", off);
		expect(ok && ka_check(a) == 0, what);
	}
	/* Filled to the last byte: the heap says so and the next request fails cleanly. */
	a = b->init(heap, (size_t)1 << 20);
	REL_REQUIRE(a, "%s over 1 MiB", b->name);
	size_t n = 0, mx;
	while ((mx = ka_maxalloc(a)) > 0 && n < 100000) {
		if (!ka_malloc(a, mx > 4096 ? 4096 : mx))
			break;
		n++;
	}
	/* maxalloc succeeds (slab's figure is conservative, so maxalloc + 1 may too), and a
	 * request for more than the heap holds fails. */
	mx = ka_maxalloc(a);
	void *last = mx ? ka_malloc(a, mx) : NULL;
	EXPECT(mx == 0 || last != NULL);
	EXPECT(ka_malloc(a, ((size_t)1 << 20) + 1) == NULL);
	EXPECT(ka_check(a) == 0);
	report();
}

static void pool_region_family(void)
{
	struct ka_alloc *a;
	unsigned char *base = heap;

	family = "init pool/region limits";
	if (!ka_backend_find("pool") || !ka_backend_find("region"))
		return; /* a build without them */
	EXPECT(ka_pool_create(base, HEAP_LEN, 0, 0) == NULL);
	EXPECT(ka_pool_create(base, HEAP_LEN, 64, 3) == NULL);
	EXPECT(ka_pool_create(base, HEAP_LEN, 64, 24) == NULL);
	EXPECT(ka_pool_create(base, HEAP_LEN, SIZE_MAX, 0) == NULL);
	EXPECT(ka_pool_create(NULL, HEAP_LEN, 64, 0) == NULL);
	EXPECT(ka_pool_memsize(0, 64, 0) == 0);
	EXPECT(ka_pool_memsize(10, 0, 0) == 0);
	EXPECT(ka_pool_memsize(10, 64, 3) == 0);
	EXPECT(ka_pool_memsize(SIZE_MAX, 64, 0) == 0);
	EXPECT(ka_pool_memsize(SIZE_MAX / 64, 64, 0) == 0);
	/* exactly at the size for n objects: n objects, one byte less: fewer */
	const size_t objs[] = {1, 7, 64, 1000};
	for (size_t i = 0; i < 4; i++) {
		size_t len = ka_pool_memsize(objs[i], 48, 64);
		a = ka_pool_create(base, len, 48, 64);
		bool ok = a && ka_pool_total_count(a) == objs[i];
		size_t got = 0;
		while (ok && ka_malloc(a, 48))
			got++;
		ok = ok && got == objs[i] && ka_check(a) == 0;
		expect(ok, "pool exactly at memsize(n) holds n objects, then NULL");
		a = ka_pool_create(base, len - 1, 48, 64);
		expect(objs[i] == 1 ? a == NULL : a && ka_pool_total_count(a) < objs[i],
		       "pool one byte short of memsize(n) holds fewer");
	}
	a = ka_pool_create(base, ka_pool_memsize(4, 48, 64), 48, 64);
	EXPECT(a && ka_malloc(a, ka_pool_obj_size(a) + 1) == NULL);
	EXPECT(a && ka_memalign(a, 2 * ka_pool_obj_align(a), 8) == NULL);
	void *batch[8];
	EXPECT(a && ka_pool_take_batch(a, batch, 8) == 4 && ka_pool_free_count(a) == 0);
	ka_pool_return_batch(a, batch, 4);
	EXPECT(ka_pool_free_count(a) == 4);
	size_t area = ka_pool_area_memsize(5, 48, 64);
	EXPECT(area > 0 && ka_add_memory(a, base + HEAP_LEN / 2, area) == 0 &&
	       ka_pool_total_count(a) == 9);
	EXPECT(ka_add_memory(a, base + HEAP_LEN / 2 + 64, area) == KA_EEXIST);
	EXPECT(ka_add_memory(a, base + HEAP_LEN / 4, 16) == KA_EINVAL);
	EXPECT(ka_check(a) == 0);
	/* region: at and below its minimum, filled exactly */
	const struct ka_backend *rb = ka_backend_find("region");
	EXPECT(ka_region_init(base, rb->min_size - 1) == NULL);
	a = ka_region_init(base, rb->min_size);
	EXPECT(a && ka_malloc(a, 1) != NULL && ka_check(a) == 0);
	a = ka_region_init(base, 64 * 1024);
	size_t mx = a ? ka_maxalloc(a) : 0;
	EXPECT(mx > 0 && ka_malloc(a, mx) != NULL && ka_maxalloc(a) == 0 &&
	       ka_malloc(a, 1) == NULL);
	EXPECT(ka_add_memory(a, base + 1024, 4096) == KA_EEXIST);
	EXPECT(ka_add_memory(a, base + HEAP_LEN / 2, 8) == KA_EINVAL);
	EXPECT(ka_add_memory(a, base + HEAP_LEN / 2, 4096) == 0 && ka_malloc(a, 1000) != NULL);
	EXPECT(ka_check(a) == 0);
	report();
}

int main(void)
{
	/* A fresh heap mapping per family (see rel_map). */
#define FRESH(call)                                                                                \
	do {                                                                                       \
		heap = rel_map(HEAP_LEN);                                                          \
		call;                                                                              \
		rel_unmap(heap, HEAP_LEN);                                                         \
	} while (0)
	for (size_t i = 0; ka_backend_at(i); i++)
		FRESH(bytes_family(ka_backend_at(i)));
	FRESH(global_family());
	FRESH(pages_family());
	FRESH(frames_family(0));
	FRESH(frames_family(1));
	for (size_t i = 0; ka_backend_at(i); i++)
		FRESH(init_family(ka_backend_at(i)));
	FRESH(pool_region_family());
	return failures ? 1 : 0;
}
