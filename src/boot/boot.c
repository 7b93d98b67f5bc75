/* SPDX-License-Identifier: MIT */
/*
 * ka_boot(): turns a firmware memory map into a heap (see kalloc/boot.h for the steps).
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

struct ka_alloc *ka_boot(const struct ka_mem_region *map, size_t count, const char *name,
			 struct ka_boot_info *info)
{
	struct ka_boot_info local;
	const struct ka_backend *b = name ? ka_backend_find(name) : ka_backend_default();
	struct ka_alloc *a = NULL;
	size_t n = 0;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!b) {
		ka_plat_log(KA_LOG_WARN, "kalloc: boot: unknown backend; continuing without heap");
		return NULL;
	}
	info->backend = b->name;
	for (size_t i = 0; map && i < count; i++) {
		uintptr_t s, e;
		if (map[i].type != KA_MEM_USABLE || !clip_entry(&map[i], &s, &e))
			continue;
		if (!insert_piece(&n, s, e))
			info->regions_dropped++;
	}
	merge_pieces(&n);
	for (size_t i = 0; map && i < count; i++) {
		uintptr_t s, e;
		if (map[i].type == KA_MEM_USABLE || map[i].len == 0)
			continue;
		reserved_range(&map[i], &s, &e);
		cut_reserved(&n, s, e, &info->regions_dropped);
	}
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
