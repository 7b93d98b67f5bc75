/* SPDX-License-Identifier: MIT */
/*
 * Out-of-memory fault injection. A wrapper around the memory source of an allocator fails
 * its N-th request, for every N along a fixed workload (N = 1 .. the number of requests the
 * workload makes when nothing fails), in two modes: that one request only, and every request
 * from the N-th on (the source has run dry for good). At each injection point the run must:
 *  - return NULL (KA_ENOMEM from posix_memalign and page objects, with the out-parameter
 *    untouched) only from an operation during which the source failed (no spurious failure), keep a
 * failed realloc's old block intact, and never hand out bad memory (every block's fill pattern is
 * verified when it is freed or resized);
 *  - keep the checker at 0 after every operation;
 *  - lose nothing: every later free succeeds, and once the workload has freed everything
 *    the heap holds no block and the source has every page back.
 *
 * Configurations: the global allocator over every byte backend of the registry (platform
 * page source wrapped), the global allocator over both frame allocators (the frame
 * allocator itself wrapped, below a frame page source), and the slab backend over a buddy
 * page source (the struct ka_alloc page source wrapped).
 *
 * Prints "oom <config>: survived N/N injection points" per configuration and fails if any
 * point fails. An optional argument selects configurations by substring. The workload is
 * 1,000 operations (then everything is freed); KA_OOM_OPS changes that (the sanitizer build
 * runs 300: the run time grows with its square).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/alloc_impl.h"
#include "kalloc/buddy.h"
#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"
#include "kalloc/global.h"
#include "kalloc/page.h"
#include "kalloc/slab.h"
#include "rel.h"

#define NSLOTS	   48
#define WORK_SEED  0x5eed0001u
#define CHUNK_HINT 16 /* log2 of the global allocator's chunk (raised to the backend's need) */

/* ---- the injector --------------------------------------------------------------------- */

/* Shared by the three wrappers: counts requests, fails the chosen ones. */
static struct {
	unsigned long calls;   /* requests seen in this run */
	unsigned long fail_at; /* 0: never fail */
	bool sticky;	       /* fail every request from fail_at on */
	unsigned long failed;  /* requests failed in this run */
} inj;

static bool inj_fail_now(void)
{
	inj.calls++;
	if (inj.fail_at && (inj.calls == inj.fail_at || (inj.sticky && inj.calls > inj.fail_at))) {
		inj.failed++;
		return true;
	}
	return false;
}

/* A page source that forwards to a platform page source (mmap). */
struct inj_source {
	struct ka_page_source base;
	struct ka_plat_source inner_mem;
	struct ka_page_source *inner;
};

static void *isrc_map(struct ka_page_source *s, size_t npages, size_t align)
{
	struct inj_source *w = (struct inj_source *)s;

	if (inj_fail_now())
		return NULL;
	return ka_page_source_map(w->inner, npages, align);
}

static int isrc_unmap(struct ka_page_source *s, void *addr, size_t npages)
{
	return ka_page_source_unmap(((struct inj_source *)s)->inner, addr, npages);
}

static size_t isrc_avail(struct ka_page_source *s)
{
	return ka_page_source_avail(((struct inj_source *)s)->inner);
}

static size_t isrc_max_run(struct ka_page_source *s)
{
	return ka_page_source_max_run(((struct inj_source *)s)->inner);
}

static unsigned isrc_check(struct ka_page_source *s)
{
	struct inj_source *w = (struct inj_source *)s;

	/* Every page mapped through the wrapper is mapped in the inner source. */
	return ka_page_source_check(w->inner) + (s->used_pages != w->inner->used_pages);
}

static const struct ka_page_source_ops isrc_ops = {
    .map = isrc_map,
    .unmap = isrc_unmap,
    .add_memory = NULL,
    .avail_pages = isrc_avail,
    .max_run = isrc_max_run,
    .check = isrc_check,
};

static struct ka_page_source *isrc_init(struct inj_source *w)
{
	memset(w, 0, sizeof(*w));
	w->inner = ka_plat_source_init(&w->inner_mem, 0);
	w->base.ops = &isrc_ops;
	w->base.name = "inject";
	ka_plat_lock_init(&w->base.lock);
	return &w->base;
}

/* A frame allocator that forwards to a real one and mirrors its counters. */
struct inj_frames {
	struct ka_frame_alloc fa;
	struct ka_frame_alloc *inner;
};

static struct ka_frame_alloc *ifa_inner(struct ka_frame_alloc *fa)
{
	return ((struct inj_frames *)fa)->inner;
}

static int ifa_sync(struct ka_frame_alloc *fa, int rc)
{
	fa->free_frames = ifa_inner(fa)->free_frames;
	fa->total_frames = ifa_inner(fa)->total_frames;
	return rc;
}

static int ifa_alloc(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames, unsigned flags)
{
	if (inj_fail_now())
		return KA_ENOMEM;
	return ifa_sync(fa, ifa_inner(fa)->ops->alloc(ifa_inner(fa), paddr, frames, flags));
}

static int ifa_alloc_range(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			   ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags)
{
	if (inj_fail_now())
		return KA_ENOMEM;
	return ifa_sync(fa, ifa_inner(fa)->ops->alloc_range(ifa_inner(fa), paddr, frames, min, max,
							    align, flags));
}

static int ifa_free(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	return ifa_sync(fa, ifa_inner(fa)->ops->free(ifa_inner(fa), paddr, frames));
}

static int ifa_add(struct ka_frame_alloc *fa, void *meta, ka_paddr_t paddr, size_t frames,
		   uintptr_t dm_off)
{
	return ifa_sync(fa,
			ifa_inner(fa)->ops->add_memory(ifa_inner(fa), meta, paddr, frames, dm_off));
}

static size_t ifa_meta(struct ka_frame_alloc *fa, size_t frames)
{
	return ifa_inner(fa)->ops->metadata_size(ifa_inner(fa), frames);
}

static unsigned ifa_check(struct ka_frame_alloc *fa)
{
	return ifa_inner(fa)->ops->check(ifa_inner(fa)) +
	       (fa->free_frames != ifa_inner(fa)->free_frames);
}

static const struct ka_frame_ops ifa_ops = {
    .alloc = ifa_alloc,
    .alloc_range = ifa_alloc_range,
    .free = ifa_free,
    .add_memory = ifa_add,
    .metadata_size = ifa_meta,
    .check = ifa_check,
};

/* A struct ka_alloc page source (for slab) that forwards to another allocator. */
struct inj_alloc {
	struct ka_alloc head;
	struct ka_alloc *inner;
};

static struct ka_alloc *ia_inner(struct ka_alloc *a)
{
	return ((struct inj_alloc *)a)->inner;
}

static void *ia_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	return inj_fail_now() ? NULL : ka_memalign(ia_inner(a), align, size);
}

static void ia_free(struct ka_alloc *a, void *ptr)
{
	ka_free(ia_inner(a), ptr);
}

static size_t ia_usable(struct ka_alloc *a, const void *ptr)
{
	return ka_usable_size(ia_inner(a), ptr);
}

static void *ia_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	return inj_fail_now() ? NULL : ka_palloc_aligned(ia_inner(a), npages, align);
}

static void ia_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	ka_pfree(ia_inner(a), ptr, npages);
}

static void ia_info(struct ka_alloc *a, struct ka_info *out)
{
	ka_info(ia_inner(a), out);
}

static unsigned ia_check(struct ka_alloc *a)
{
	return ka_check(ia_inner(a));
}

static bool ia_owns(struct ka_alloc *a, const void *ptr)
{
	return ka_owns(ia_inner(a), ptr);
}

static const struct ka_alloc_ops ia_ops = {
    .alloc = ia_alloc,
    .free = ia_free,
    .usable_size = ia_usable,
    .palloc = ia_palloc,
    .pfree = ia_pfree,
    .info = ia_info,
    .check = ia_check,
    .owns = ia_owns,
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_PAGES | KA_CAP_OWNS,
};

/* ---- configurations ------------------------------------------------------------------- */

enum kind { K_GLOBAL_PLAT, K_GLOBAL_FRAMES, K_SLAB };

struct config {
	char name[64];
	enum kind kind;
	const char *backend; /* byte backend (global) */
	int fkind;	     /* 0 buddy, 1 bitmap */
};

/* One run's allocator and what it needs to be checked and taken down. */
struct env {
	struct ka_alloc *a;
	struct ka_global g;
	struct inj_source isrc;
	struct ka_frame_source fsrc;
	struct inj_frames ifa;
	struct ka_fbuddy fbd;
	struct ka_fbitmap fbm;
	struct inj_alloc ia;
	struct ka_alloc *buddy;
	size_t buddy_avail0;
	unsigned char *mem; /* frames / slab memory */
};

#define MEM_LEN ((size_t)32 << 20)
static unsigned char *mem_area;
static unsigned nops = 1000; /* workload length; KA_OOM_OPS overrides */
static unsigned char slab_state[8192] __attribute__((aligned(64)));

static unsigned chunk_shift_for(const char *backend)
{
	unsigned shift = CHUNK_HINT;

	while (ka_backend_find(backend)->min_size > ((size_t)1 << shift) / 2)
		shift++;
	return shift;
}

static void env_up(struct env *e, const struct config *c)
{
	memset(e, 0, sizeof(*e));
	if (c->kind == K_SLAB) {
		e->buddy = ka_buddy_init(mem_area, MEM_LEN);
		REL_REQUIRE(e->buddy, "buddy over %zu bytes", MEM_LEN);
		e->buddy_avail0 = ka_availmem(e->buddy);
		e->ia.inner = e->buddy;
		ka_alloc_init(&e->ia.head, &ia_ops, "inject");
		REL_REQUIRE(ka_slab_state_size() <= sizeof(slab_state), "slab state %zu",
			    ka_slab_state_size());
		e->a = ka_slab_create(slab_state, sizeof(slab_state), &e->ia.head);
		REL_REQUIRE(e->a, "slab over the injecting page source");
		return;
	}
	struct ka_global_config cfg = {c->backend, chunk_shift_for(c->backend), 0};
	struct ka_page_source *src;
	if (c->kind == K_GLOBAL_PLAT) {
		src = isrc_init(&e->isrc);
	} else {
		e->ifa.inner = c->fkind ? ka_fbitmap_init(&e->fbm) : ka_fbuddy_init(&e->fbd);
		e->ifa.fa = *e->ifa.inner;
		e->ifa.fa.ops = &ifa_ops;
		/* dm_off 0: hosted "physical" addresses are the virtual ones. */
		src = ka_frame_source_init(&e->fsrc, &e->ifa.fa, 0);
		REL_REQUIRE(ka_page_source_add_memory(src, mem_area, MEM_LEN) == 0, "add frames");
	}
	REL_REQUIRE(ka_global_init(&e->g, src, &cfg) == 0, "global init over %s", c->backend);
	e->a = ka_global_alloc_iface(&e->g);
}

static unsigned env_check(struct env *e, const struct config *c)
{
	if (c->kind == K_SLAB)
		return ka_check(e->a) + ka_check(e->buddy);
	return ka_global_check(&e->g);
}

/* After everything was freed: nothing live, and every page back in the source. */
static bool env_empty_and_down(struct env *e, const struct config *c, char *why, size_t cap)
{
	if (ka_stats(e->a)->cur_nb_allocs != 0 || ka_stats(e->a)->cur_mem_use != 0) {
		snprintf(why, cap, "%zu blocks / %zu bytes still counted live",
			 ka_stats(e->a)->cur_nb_allocs, ka_stats(e->a)->cur_mem_use);
		return false;
	}
	if (c->kind == K_SLAB) {
		ka_slab_trim(e->a);
		if (ka_stats(e->buddy)->cur_nb_allocs != 0 ||
		    ka_availmem(e->buddy) != e->buddy_avail0 || ka_check(e->buddy) != 0) {
			snprintf(why, cap, "page source not empty: %zu runs live, %zu of %zu free",
				 ka_stats(e->buddy)->cur_nb_allocs, ka_availmem(e->buddy),
				 e->buddy_avail0);
			return false;
		}
		return true;
	}
	struct ka_global_stats st;
	ka_global_stats(&e->g, &st);
	if (st.used_bytes || st.large_blocks || st.page_pages || st.chunks > 1) {
		snprintf(why, cap, "global not empty: %zu bytes, %zu large, %zu pages, %zu chunks",
			 st.used_bytes, st.large_blocks, st.page_pages, st.chunks);
		return false;
	}
	ka_global_destroy(&e->g);
	if (e->g.src->used_pages != 0) {
		snprintf(why, cap, "%zu pages still mapped after destroy", e->g.src->used_pages);
		return false;
	}
	if (c->kind == K_GLOBAL_PLAT && e->isrc.inner->used_pages != 0) {
		snprintf(why, cap, "%zu pages still mmapped", e->isrc.inner->used_pages);
		return false;
	}
	if (c->kind == K_GLOBAL_FRAMES &&
	    (e->ifa.inner->free_frames != e->ifa.inner->total_frames ||
	     ka_fcheck(e->ifa.inner) != 0)) {
		snprintf(why, cap, "frames: %zu of %zu free", e->ifa.inner->free_frames,
			 e->ifa.inner->total_frames);
		return false;
	}
	return true;
}

/* ---- the workload --------------------------------------------------------------------- */

struct slot {
	unsigned char *p;
	size_t n;     /* bytes filled (the request) */
	size_t pages; /* page run: its page count; 0 for a byte block */
	uint32_t tag;
};

/* A request size: mostly small, some medium, some above the large threshold. */
static size_t pick_size(struct rel_rng *r)
{
	size_t k = rel_below(r, 100);

	if (k < 60)
		return rel_below(r, 300);
	if (k < 88)
		return 300 + rel_below(r, 4000);
	return 4096 + rel_below(r, 40000);
}

/* Runs the workload. Returns false (with *why) at the first broken promise. */
static bool workload(struct env *e, const struct config *c, char *why, size_t cap)
{
	struct slot s[NSLOTS] = {{0}};
	struct rel_rng r;
	uint32_t tag = 1;
	struct ka_alloc *a = e->a;

	rel_seed(&r, WORK_SEED);
	for (unsigned op = 0; op < nops + NSLOTS; op++) {
		/* The last NSLOTS steps free what is left, in slot order. */
		size_t i = op < nops ? rel_below(&r, NSLOTS) : op - nops;
		unsigned k = op < nops ? (unsigned)rel_below(&r, 100) : 0;
		unsigned long failed0 = inj.failed;
		bool got_null = false;

		if (s[i].p || op >= nops) {
			if (s[i].p && rel_verify(s[i].p, s[i].n, s[i].tag) != SIZE_MAX) {
				snprintf(why, cap, "op %u: block %zu lost its contents", op, i);
				return false;
			}
			if (op < nops && k < 25 && !s[i].pages) {
				/* realloc: grow or shrink; a failure keeps the old block. */
				size_t n = pick_size(&r);
				unsigned char *q = ka_realloc(a, s[i].p, n);
				if (!q) {
					got_null = true;
					if (rel_verify(s[i].p, s[i].n, s[i].tag) != SIZE_MAX) {
						snprintf(why, cap,
							 "op %u: failed realloc broke block", op);
						return false;
					}
				} else {
					size_t keep = n < s[i].n ? n : s[i].n;
					if (rel_verify(q, keep, s[i].tag) != SIZE_MAX) {
						snprintf(why, cap, "op %u: realloc lost contents",
							 op);
						return false;
					}
					s[i].p = q;
					s[i].n = n;
					rel_fill(q, n, s[i].tag);
				}
			} else if (s[i].p) {
				if (s[i].pages)
					ka_pfree(a, s[i].p, s[i].pages);
				else
					ka_free(a, s[i].p);
				s[i].p = NULL;
			}
		} else {
			size_t n = pick_size(&r);
			size_t pages = 0;
			unsigned char *p;

			if (k < 8) {
				pages = 1 + rel_below(&r, 6);
				p = ka_palloc(a, pages);
				n = pages * KA_PAGE_SIZE;
			} else if (k < 18) {
				size_t cnt = 1 + rel_below(&r, 8);
				n = n / 8 + 1;
				p = ka_calloc(a, cnt, n);
				n *= cnt;
				for (size_t b = 0; p && b < n; b++)
					if (p[b]) {
						snprintf(why, cap, "op %u: calloc not zeroed", op);
						return false;
					}
			} else if (k < 28) {
				size_t al = (size_t)16 << rel_below(&r, 8);
				p = ka_memalign(a, al, n);
				if (p && ((uintptr_t)p & (al - 1))) {
					snprintf(why, cap, "op %u: misaligned", op);
					return false;
				}
			} else if (k < 33) {
				/* The error-code calls: KA_ENOMEM, and the out-parameter untouched.
				 */
				void *m = &r;
				int rc = ka_posix_memalign(a, &m, 64, n);
				if ((rc != 0 && rc != KA_ENOMEM) ||
				    (rc != 0) != (m == (void *)&r)) {
					snprintf(why, cap, "op %u: posix_memalign gave %d", op, rc);
					return false;
				}
				p = rc == 0 ? m : NULL;
			} else if (k < 36) {
				struct ka_page pg;
				pages = 1 + rel_below(&r, 3);
				int rc = ka_page_alloc_contiguous(a, pages, KA_PAGE_SIZE, &pg);
				if ((rc != 0 && rc != KA_ENOMEM) ||
				    (rc != 0) != (pg.vaddr == NULL)) {
					snprintf(why, cap, "op %u: page object alloc gave %d", op,
						 rc);
					return false;
				}
				p = pg.vaddr;
				n = pages * KA_PAGE_SIZE;
			} else {
				p = ka_malloc(a, n);
			}
			if (!p) {
				got_null = true;
			} else {
				s[i] = (struct slot){p, n, pages, tag++};
				rel_fill(p, n, s[i].tag);
			}
		}
		if (got_null && inj.failed == failed0) {
			snprintf(why, cap, "op %u: NULL without an injected failure", op);
			return false;
		}
		unsigned errs = env_check(e, c);
		if (errs) {
			snprintf(why, cap, "op %u: checker found %u errors", op, errs);
			return false;
		}
	}
	return env_empty_and_down(e, c, why, cap);
}

/* Returns the number of injection points survived; *points is how many there are. */
static unsigned run_config(const struct config *c, unsigned *points)
{
	static struct env e;
	char why[200];
	unsigned ok = 0;

	inj.calls = inj.failed = 0;
	inj.fail_at = 0;
	env_up(&e, c);
	REL_REQUIRE(workload(&e, c, why, sizeof(why)), "%s without injection: %s", c->name, why);
	*points = (unsigned)inj.calls;
	for (unsigned long n = 1; n <= *points; n++) {
		bool good = true;
		for (int sticky = 0; sticky < 2 && good; sticky++) {
			inj.calls = inj.failed = 0;
			inj.fail_at = n;
			inj.sticky = sticky;
			env_up(&e, c);
			if (!workload(&e, c, why, sizeof(why))) {
				printf("  %s: failing request %lu%s: %s\n", c->name, n,
				       sticky ? " and later ones" : "", why);
				good = false;
			} else if (inj.failed == 0) {
				printf("  %s: request %lu was never made\n", c->name, n);
				good = false;
			}
		}
		ok += good;
	}
	return ok;
}

int main(int argc, char **argv)
{
	static struct config cfgs[32];
	size_t nc = 0;
	unsigned bad = 0;

	const char *env = getenv("KA_OOM_OPS");
	if (env && *env)
		nops = (unsigned)strtoul(env, NULL, 0);
	REL_REQUIRE(nops > 0, "KA_OOM_OPS");
	mem_area = rel_map(MEM_LEN); /* only buddy and the frame allocators use it */
	for (size_t i = 0; ka_backend_at(i) && nc < 28; i++) {
		cfgs[nc] =
		    (struct config){.kind = K_GLOBAL_PLAT, .backend = ka_backend_at(i)->name};
		snprintf(cfgs[nc].name, sizeof(cfgs[nc].name), "global/%s", cfgs[nc].backend);
		nc++;
	}
	const struct ka_backend *def = ka_backend_default();
	for (int f = 0; f < 2; f++) {
		cfgs[nc] =
		    (struct config){.kind = K_GLOBAL_FRAMES, .backend = def->name, .fkind = f};
		snprintf(cfgs[nc].name, sizeof(cfgs[nc].name), "global/%s over %s frames",
			 def->name, f ? "fbitmap" : "fbuddy");
		nc++;
	}
	if (ka_backend_find("slab") && ka_backend_find("buddy")) {
		cfgs[nc] = (struct config){.kind = K_SLAB};
		snprintf(cfgs[nc].name, sizeof(cfgs[nc].name), "slab over buddy pages");
		nc++;
	}
	for (size_t i = 0; i < nc; i++) {
		unsigned points, ok;

		if (argc > 1 && !strstr(cfgs[i].name, argv[1]))
			continue;
		ok = run_config(&cfgs[i], &points);
		printf("oom %s: survived %u/%u injection points\n", cfgs[i].name, ok, points);
		fflush(stdout);
		if (points == 0 || ok != points)
			bad++;
	}
	return bad ? 1 : 0;
}
