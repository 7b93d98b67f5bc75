/* SPDX-License-Identifier: MIT */
/*
 * ka_boot(): turns a firmware memory map into a heap (see kalloc/boot.h for the steps);
 * ka_boot_system(): frames, the global allocator, DMA and optional per-CPU caches from one.
 * Works on a static table of pieces [start, end) so that nothing is allocated before the
 * allocator exists and the caller's map stays untouched.
 */
#include "kalloc/boot.h"
#include "kalloc/alloc_impl.h"
#include "kalloc/platform.h"
#include "fmt.h"
#include "kstring.h"

struct piece {
	uintptr_t start, end; /* [start, end), page aligned, start < end */
};

static struct piece pieces[KA_CFG_BOOT_MAX_REGIONS];

/* Clip an entry inward to pages; false if nothing is left or the entry wraps around. */
static bool clip_entry(const struct ka_mem_region *r, uintptr_t *start, uintptr_t *end)
{
	uintptr_t s, e;

	if (r->len == 0 || r->base + r->len < r->base)
		return false;
	if (r->base > UINTPTR_MAX - (KA_PAGE_SIZE - 1))
		return false;
	s = ka_align_up(r->base, KA_PAGE_SIZE);
	e = ka_align_down(r->base + r->len, KA_PAGE_SIZE);
	if (s >= e)
		return false;
	*start = s;
	*end = e;
	return true;
}

/* Reserved ranges are widened outward to pages: a partly reserved page is unusable. */
static void reserved_range(const struct ka_mem_region *r, uintptr_t *start, uintptr_t *end)
{
	uintptr_t last = r->base + r->len - 1;

	if (last < r->base)
		last = UINTPTR_MAX;
	*start = ka_align_down(r->base, KA_PAGE_SIZE);
	*end = ka_align_down(last, KA_PAGE_SIZE);
	*end = *end > UINTPTR_MAX - KA_PAGE_SIZE ? UINTPTR_MAX : *end + KA_PAGE_SIZE;
}

static void log_region(const char *what, uintptr_t s, uintptr_t e)
{
	char buf[128];
	struct ka_fmt f;

	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_str(&f, "kalloc: boot: ");
	ka_fmt_str(&f, what);
	ka_fmt_str(&f, " [");
	ka_fmt_hex(&f, s);
	ka_fmt_str(&f, ", ");
	ka_fmt_hex(&f, e);
	ka_fmt_str(&f, ")");
	ka_plat_log(KA_LOG_INFO, buf);
}

/* Insert [s, e) keeping pieces sorted; false when the table is full. */
static bool insert_piece(size_t *n, uintptr_t s, uintptr_t e)
{
	size_t i;

	if (*n == KA_CFG_BOOT_MAX_REGIONS)
		return false;
	for (i = *n; i > 0 && pieces[i - 1].start > s; i--)
		pieces[i] = pieces[i - 1];
	pieces[i].start = s;
	pieces[i].end = e;
	(*n)++;
	return true;
}

static void merge_pieces(size_t *n)
{
	size_t out = 0;

	for (size_t i = 0; i < *n; i++) {
		if (out > 0 && pieces[i].start <= pieces[out - 1].end) {
			if (pieces[i].end > pieces[out - 1].end)
				pieces[out - 1].end = pieces[i].end;
		} else {
			pieces[out++] = pieces[i];
		}
	}
	*n = out;
}

/* Remove [rs, re) from every piece; a piece cut in the middle becomes two. */
static void cut_reserved(size_t *n, uintptr_t rs, uintptr_t re, size_t *dropped)
{
	for (size_t i = 0; i < *n; i++) {
		struct piece *p = &pieces[i];
		if (re <= p->start || rs >= p->end)
			continue;
		if (rs <= p->start && re >= p->end) {
			memmove(p, p + 1, (*n - i - 1) * sizeof(*p));
			(*n)--;
			i--;
		} else if (rs <= p->start) {
			p->start = re;
		} else if (re >= p->end) {
			p->end = rs;
		} else {
			uintptr_t tail = p->end;
			p->end = rs;
			if (!insert_piece(n, re, tail))
				(*dropped)++;
		}
	}
}

/* Steps 1-3 of kalloc/boot.h on the static table; returns the number of pieces. */
static size_t clean_map(const struct ka_mem_region *map, size_t count, size_t *dropped)
{
	size_t n = 0;

	for (size_t i = 0; map && i < count; i++) {
		uintptr_t s, e;
		if (map[i].type != KA_MEM_USABLE || !clip_entry(&map[i], &s, &e))
			continue;
		if (!insert_piece(&n, s, e))
			(*dropped)++;
	}
	merge_pieces(&n);
	for (size_t i = 0; map && i < count; i++) {
		uintptr_t s, e;
		if (map[i].type == KA_MEM_USABLE || map[i].len == 0)
			continue;
		reserved_range(&map[i], &s, &e);
		cut_reserved(&n, s, e, dropped);
	}
	return n;
}

struct ka_alloc *ka_boot(const struct ka_mem_region *map, size_t count, const char *name,
			 struct ka_boot_info *info)
{
	struct ka_boot_info local;
	const struct ka_backend *b = name ? ka_backend_find(name) : ka_backend_default();
	struct ka_alloc *a = NULL;
	size_t n;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!b) {
		ka_plat_log(KA_LOG_WARN, "kalloc: boot: unknown backend; continuing without heap");
		return NULL;
	}
	info->backend = b->name;
	n = clean_map(map, count, &info->regions_dropped);
	/*
	 * Address 0 is the null pointer to every byte backend, which refuses such a region
	 * whole; RAM at 0 with an identity map (many ARM and RISC-V boards) then loses only
	 * its first page.
	 */
	if (n > 0 && pieces[0].start == 0) {
		pieces[0].start = KA_PAGE_SIZE;
		if (pieces[0].start >= pieces[0].end) {
			memmove(pieces, pieces + 1, (n - 1) * sizeof(pieces[0]));
			n--;
		}
	}
	for (size_t i = 0; i < n; i++) {
		void *base = (void *)pieces[i].start;
		size_t len = pieces[i].end - pieces[i].start;
		if (!a) {
			if (len >= b->min_size)
				a = b->init(base, len);
			if (!a) {
				log_region("region too small for the allocator, skipped",
					   pieces[i].start, pieces[i].end);
				info->regions_skipped++;
				continue;
			}
			info->first_base = pieces[i].start;
			info->first_len = len;
		} else if (ka_add_memory(a, base, len) != 0) {
			log_region("region refused by the allocator, skipped", pieces[i].start,
				   pieces[i].end);
			info->regions_skipped++;
			continue;
		}
		log_region("heap region", pieces[i].start, pieces[i].end);
		info->regions_used++;
		info->bytes_managed += len;
	}
	if (!a) {
		ka_plat_log(KA_LOG_WARN, "kalloc: boot: no suitable memory region for the "
					 "allocator; continuing without heap");
		return NULL;
	}
	ka_set_default(a);
	return a;
}

/* ---- ka_boot_system(): frames, global allocator, DMA from one map ---------------------- */

static bool name_is(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static struct ka_frame_alloc *make_frames(struct ka_system *sys, const char *name)
{
	if (!name || name_is(name, "fbuddy"))
		return ka_fbuddy_init(&sys->frames.buddy);
	if (name_is(name, "fbitmap"))
		return ka_fbitmap_init(&sys->frames.bitmap);
	return NULL;
}

/* The face every CPU allocates through: the global allocator, or a per-CPU cache in front
 * of it. The cache's metadata comes straight from the frame source (not from the global
 * allocator, whose statistics then count only what the kernel allocates). */
static int system_front(struct ka_system *sys, const struct ka_system_config *cfg,
			struct ka_alloc **out)
{
	struct ka_alloc *g = ka_global_alloc_iface(&sys->global);
	size_t len, pages;
	void *mem;

	if (!cfg->percpu_cache) {
		*out = g;
		return 0;
	}
	len = ka_cache_memsize(cfg->cache.ncpus, &cfg->cache);
	if (len == 0)
		return KA_EINVAL;
	pages = (len + KA_PAGE_SIZE - 1) / KA_PAGE_SIZE;
	mem = ka_page_source_map(&sys->src.base, pages, KA_PAGE_SIZE);
	if (!mem)
		return KA_ENOMEM;
	memset(mem, 0, pages * KA_PAGE_SIZE);
	sys->cache = ka_cache_init(mem, len, g, &cfg->cache);
	if (!sys->cache) {
		ka_page_source_unmap(&sys->src.base, mem, pages);
		return KA_EINVAL;
	}
	sys->cache_mem = mem;
	sys->cache_pages = pages;
	*out = sys->cache;
	return 0;
}

/* Give every piece to the frame source, at its virtual address. */
static void add_pieces(struct ka_system *sys, size_t n, uintptr_t dm_off)
{
	for (size_t i = 0; i < n; i++) {
		uintptr_t s = pieces[i].start, e = pieces[i].end;
		uintptr_t v =
		    dm_off == KA_DM_NONE ? (uintptr_t)ka_plat_phys_to_virt(s) : s + dm_off;

		/* A region whose virtual start is 0 cannot be addressed as an object. */
		if (v == 0) {
			s += KA_PAGE_SIZE;
			v += KA_PAGE_SIZE;
			if (s >= e) {
				sys->info.regions_skipped++;
				continue;
			}
		}
		if (ka_page_source_add_memory(&sys->src.base, (void *)v, e - s) != 0) {
			log_region("region refused by the frame allocator, skipped", s, e);
			sys->info.regions_skipped++;
			continue;
		}
		log_region("frame region", s, e);
		if (sys->info.regions_used++ == 0) {
			sys->info.first_base = s;
			sys->info.first_len = e - s;
		}
		sys->info.bytes_managed += e - s;
	}
}

int ka_boot_system(struct ka_system *sys, const struct ka_mem_region *map, size_t count,
		   const struct ka_system_config *cfg)
{
	static const struct ka_system_config defaults;
	struct ka_global_config gcfg;
	struct ka_dma_config dcfg;
	const struct ka_backend *b;
	struct ka_alloc *front;
	size_t n;
	int rc;

	if (!cfg)
		cfg = &defaults;
	if (!sys || (!map && count) || cfg->nzones > KA_CFG_BOOT_MAX_ZONES)
		return KA_EINVAL;
	for (size_t z = 0; z < cfg->nzones; z++)
		if (cfg->zones[z] == 0)
			return KA_EINVAL;
	b = cfg->backend ? ka_backend_find(cfg->backend) : ka_backend_default();
	memset(sys, 0, sizeof(*sys));
	sys->fa = make_frames(sys, cfg->frames);
	if (!b || !sys->fa)
		return KA_ENOENT;
	sys->info.backend = b->name;
	ka_frame_source_init(&sys->src, sys->fa, cfg->dm_off);
	n = clean_map(map, count, &sys->info.regions_dropped);
	add_pieces(sys, n, cfg->dm_off);
	if (sys->info.regions_used == 0) {
		ka_plat_log(KA_LOG_WARN, "kalloc: boot: no memory region could hold frames");
		return KA_ENOMEM;
	}
	memset(&gcfg, 0, sizeof(gcfg));
	gcfg.backend = b->name;
	gcfg.chunk_shift = cfg->chunk_shift;
	rc = ka_global_init(&sys->global, &sys->src.base, &gcfg);
	if (rc != 0)
		return rc;
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.frames = &sys->src;
	dcfg.bus_offset = cfg->bus_offset;
	dcfg.backend = b->name;
	/* The DMA sub-heaps start at 16 pages, more when the backend needs a bigger heap
	 * (slab: 512 KiB); KA_EINVAL is ka_dma_init's answer to a sub-heap too small. */
	dcfg.heap_pages = 16;
	while ((rc = ka_dma_init(&sys->dma, &dcfg)) == KA_EINVAL && dcfg.heap_pages < 4096)
		dcfg.heap_pages *= 2;
	if (rc != 0) {
		ka_global_destroy(&sys->global);
		return rc;
	}
	sys->nzones = cfg->nzones;
	for (size_t z = 0; z < cfg->nzones; z++)
		sys->zones[z] = cfg->zones[z];
	rc = system_front(sys, cfg, &front);
	if (rc != 0) {
		ka_global_destroy(&sys->global);
		return rc;
	}
	sys->alloc = front;
	ka_set_default(front);
	return 0;
}

int ka_system_dma_alloc(struct ka_system *sys, size_t zone, size_t size, size_t align,
			struct ka_dma_buf *out)
{
	if (!sys || zone > sys->nzones)
		return KA_EINVAL;
	return ka_dma_alloc_coherent(&sys->dma, size, align,
				     zone == sys->nzones ? KA_DMA_LIMIT_NONE : sys->zones[zone],
				     out);
}

unsigned ka_system_check(struct ka_system *sys)
{
	/* The global allocator's check covers the frame source and so the frame allocator. */
	return ka_check(sys->alloc) + ka_dma_check(&sys->dma);
}
