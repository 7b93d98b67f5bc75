/* SPDX-License-Identifier: MIT */
/*
 * The architecture-independent part of the example kernel (entry: kernel_main, called by
 * arch/<arch>/ with the memory map it read from the firmware). In order, it:
 *  1. registers the platform hooks kalloc needs (panic, log, interrupt masking);
 *  2. builds the heap with ka_boot() from the real memory map, in which the kernel image,
 *     the device tree and low memory are reserved entries, and proves the heap kept out of
 *     them (every block the walker reports lies in usable RAM, outside every reservation);
 *  3. runs the shared conformance suite (tests/conformance) over every backend compiled in,
 *     on an arena taken from the boot heap, and over the global allocator;
 *  4. builds a frame allocator and frame page source over a region, grows the global
 *     allocator and the DMA allocator from it, and runs a workload on each: bytes from
 *     sub-heaps, large blocks, page runs, page objects, coherent DMA buffers under limits;
 *  5. prints the statistics, checks every heap, and exits QEMU with pass or fail.
 * Command line (multiboot cmdline or /chosen/bootargs): "backend=<name>" picks ka_boot()'s
 * backend; "selftest=fail" makes the kernel commit a double free at the end, which kalloc
 * must catch (panic hook -> failure exit) — the harness uses it to prove failures are seen;
 * "selftest=noline" exits at once with the pass status but without the success line, which
 * the harness must not take for a pass.
 */
#include "kernel.h"

#include "conformance.h"
#include "kalloc/alloc.h"
#include "kalloc/boot.h"
#include "kalloc/dma.h"
#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"
#include "kalloc/global.h"
#include "kalloc/page.h"
#include "kalloc/platform.h"

/* The line the test harness (tests/freestanding/boot_qemu.sh) waits for. */
#define PASS_LINE "kalloc-kernel: ALL TESTS PASSED"
#define FAIL_LINE "kalloc-kernel: TESTS FAILED"

static unsigned failures;

static void fail(const char *what)
{
	failures++;
	kprintf("FAIL: %s\n", what);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(#cond);                                                               \
	} while (0)

/* ---- platform hooks ------------------------------------------------------------------ */

static void hook_panic(const char *msg)
{
	kprintf("PANIC: %s\n%s\n", msg, FAIL_LINE);
	arch_exit(false);
}

static void hook_log(int level, const char *msg)
{
	static const char *const names[] = {"err", "warn", "info", "debug"};

	kprintf("[kalloc %s] %s\n", level >= 0 && level <= 3 ? names[level] : "?", msg);
}

static const struct ka_platform_hooks hooks = {
    .panic = hook_panic,
    .log = hook_log,
    .irq_save = arch_irq_save,
    .irq_restore = arch_irq_restore,
    /* Identity-mapped kernel: physical == virtual, so the default translation (virtual
     * minus direct_map_offset 0) is right, and DMA memory needs no remapping. */
    .direct_map_offset = 0,
};

/* ---- memory map ---------------------------------------------------------------------- */

void boot_add(struct boot_params *bp, uint64_t base, uint64_t len, unsigned type, const char *what)
{
	if (len == 0)
		return;
	if (bp->count == BOOT_MAX_MAP) {
		kprintf("boot: memory map full, dropping %s\n", what);
		return;
	}
	/* Addresses beyond this kernel's reach (above 4 GiB on i386) cannot be handed out. */
	if (base > UINTPTR_MAX) {
		if (type == KA_MEM_USABLE)
			bp->ignored += len;
		return;
	}
	/* Cut what lies beyond the address space (and what a size_t length cannot express).
	 * A usable entry must also end a page below the top: ka_boot() works on
	 * [base, base + len) and drops entries whose end wraps around to 0. */
	uint64_t max_last = (uint64_t)UINTPTR_MAX - base; /* largest len - 1 that fits */
	if (max_last > (uint64_t)SIZE_MAX - 1)
		max_last = (uint64_t)SIZE_MAX - 1;
	if (type == KA_MEM_USABLE) {
		if (max_last < KA_PAGE_SIZE) {
			bp->ignored += len;
			return;
		}
		max_last -= KA_PAGE_SIZE;
	}
	if (len - 1 > max_last) {
		if (type == KA_MEM_USABLE)
			bp->ignored += len - 1 - max_last;
		len = max_last + 1;
	}
	bp->map[bp->count].base = (uintptr_t)base;
	bp->map[bp->count].len = (size_t)len;
	bp->map[bp->count].type = type;
	bp->what[bp->count] = what;
	bp->count++;
}

/* Inclusive ends, so a range that ends at the top of the address space does not wrap. */
static bool overlaps(uintptr_t a, size_t alen, uintptr_t b, size_t blen)
{
	return alen && blen && a <= b + (blen - 1) && b <= a + (alen - 1);
}

static bool inside(uintptr_t a, size_t alen, uintptr_t b, size_t blen)
{
	return a >= b && a - b <= blen && alen <= blen - (a - b);
}

struct walk_ctx {
	const struct boot_params *bp;
	size_t blocks, bad;
};

/* Every block of the boot heap must lie in usable RAM and outside every reservation. */
static int walk_check(void *ptr, size_t size, bool used, void *arg)
{
	struct walk_ctx *w = arg;
	uintptr_t p = (uintptr_t)ptr;
	bool in_ram = false;

	(void)used;
	w->blocks++;
	for (size_t i = 0; i < w->bp->count; i++) {
		const struct ka_mem_region *r = &w->bp->map[i];

		if (r->type == KA_MEM_USABLE && inside(p, size, r->base, r->len))
			in_ram = true;
		if (r->type != KA_MEM_USABLE && overlaps(p, size, r->base, r->len)) {
			kprintf("FAIL: heap block %p+%zu overlaps reserved %s\n", ptr, size,
				w->bp->what[i]);
			w->bad++;
		}
	}
	if (!in_ram) {
		kprintf("FAIL: heap block %p+%zu is not in usable RAM\n", ptr, size);
		w->bad++;
	}
	return 0;
}

static uint32_t fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/* ---- command line -------------------------------------------------------------------- */

/* Value of "key=" in the command line, copied into buf; NULL when absent. */
static const char *cmdline_get(const char *cmdline, const char *key, char *buf, size_t cap)
{
	for (const char *p = cmdline; *p;) {
		const char *k = key;
		const char *q = p;

		while (*k && *q == *k) {
			k++;
			q++;
		}
		if (*k == '\0' && *q == '=' && (p == cmdline || p[-1] == ' ')) {
			size_t n = 0;

			q++;
			while (*q && *q != ' ' && n + 1 < cap)
				buf[n++] = *q++;
			buf[n] = '\0';
			return buf;
		}
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return NULL;
}

static bool streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* ---- conformance --------------------------------------------------------------------- */

static void conf_print(const char *line)
{
	kprintf("  %s\n", line);
}

static void conformance_backends(struct ka_alloc *heap, struct ka_conf *c)
{
	/* 16 MiB exercises the suite's larger cases; smaller machines get what they can. */
	size_t len = (size_t)16 << 20;
	size_t max = ka_maxalloc(heap) / 2;
	void *arena;

	if (len > max)
		len = max & ~(KA_PAGE_SIZE - 1);
	arena = ka_palloc(heap, len / KA_PAGE_SIZE);
	if (!arena || len < ((size_t)1 << 20)) {
		fail("no arena for the conformance suite");
		return;
	}
	kprintf("conformance: arena %p, %zu KiB\n", arena, len >> 10);
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		unsigned p0 = c->passed, f0 = c->failed, s0 = c->skipped;

		ka_conformance_backend(c, b, arena, len);
		kprintf("conformance: %-8s %u passed, %u failed, %u skipped\n", b->name,
			c->passed - p0, c->failed - f0, c->skipped - s0);
	}
	ka_pfree(heap, arena, len / KA_PAGE_SIZE);
}

/* ---- the global allocator, page objects and DMA --------------------------------------- */

/*
 * The memory-management stack a kernel builds after boot: a region of RAM goes to a frame
 * allocator (buddy over physical frames, metadata at the region's start), wrapped in a
 * frame page source; the global allocator grows from that source, and so does the DMA
 * allocator, which needs physical addresses. The kernel is identity mapped, so the
 * direct-map offset is 0 and bus addresses equal physical ones.
 */
static struct ka_fbuddy fbuddy;
static struct ka_fbitmap fbitmap;
static struct ka_frame_source frames;
static struct ka_global global;
static struct ka_dma dma;

struct global_ctx {
	void *mem;
	size_t len;
};

/* A fresh global allocator over the same region for each conformance case (axalloc's init
 * path: the region goes to a frame allocator owned by the global allocator). */
static struct ka_alloc *make_global(void *ctx)
{
	struct global_ctx *gc = ctx;
	int rc;

	rc = ka_global_init_region(&global, ka_fbitmap_init(&fbitmap), 0, gc->mem, gc->len, NULL);
	if (rc != 0) {
		kprintf("global: init over %p+%zu failed: %d\n", gc->mem, gc->len, rc);
		return NULL;
	}
	return ka_global_alloc_iface(&global);
}

static uint32_t rng_state = 0x2545f491u;

static uint32_t rng(void)
{
	/* xorshift32: enough to vary sizes and lifetimes reproducibly. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

#define WL_SLOTS 128

static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7u);
}

static bool intact(const unsigned char *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 7u))
			return false;
	return true;
}

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * Mixed workload on the global allocator: small and medium blocks from its sub-heaps,
 * large blocks (straight from pages) and page runs; every block is pattern-filled and
 * verified before it is freed, and the whole allocator is checked along the way.
 */
static void global_workload(void)
{
	static unsigned char *slot[WL_SLOTS];
	static size_t slot_len[WL_SLOTS];
	static uint32_t slot_seed[WL_SLOTS];
	struct ka_alloc *g = ka_global_alloc_iface(&global);
	unsigned long allocs = 0, nulls = 0, corrupt = 0;
	void *pages[8];

	for (unsigned i = 0; i < 8; i++) {
		pages[i] = ka_global_alloc_pages(&global, 1u + i, KA_PAGE_SIZE << (i & 3));
		CHECK(pages[i] != NULL);
		CHECK(((uintptr_t)pages[i] & ((KA_PAGE_SIZE << (i & 3)) - 1)) == 0);
		if (pages[i])
			fill(pages[i], (1u + i) * KA_PAGE_SIZE, i);
	}
	for (unsigned round = 0; round < 6000; round++) {
		unsigned k = rng() % WL_SLOTS;

		if (slot[k]) {
			if (!intact(slot[k], slot_len[k], slot_seed[k]))
				corrupt++;
			ka_free(g, slot[k]);
			slot[k] = NULL;
			continue;
		}
		uint32_t r = rng();
		/* 3/4 small (<= 512 B), 1/4 medium (<= 16 KiB), 1/32 large (<= 256 KiB). */
		size_t n = (r & 31) == 0  ? (r >> 8) % (256u << 10)
			   : (r & 3) == 0 ? (r >> 8) % (16u << 10)
					  : (r >> 8) % 513;
		slot[k] = ka_malloc(g, n);
		allocs++;
		if (!slot[k]) {
			nulls++;
			continue;
		}
		slot_len[k] = n;
		slot_seed[k] = r;
		fill(slot[k], n, r);
		if (round % 1000 == 999 && ka_global_check(&global) != 0)
			fail("ka_global_check during the workload");
	}
	struct ka_global_stats st;
	ka_global_stats(&global, &st);
	kprintf("global: backend %s, %lu allocations (%lu failed), %zu chunks of %zu KiB, "
		"%zu large blocks, %zu pages in page runs, %zu pages used, %zu bytes live\n",
		st.backend, allocs, nulls, st.chunks, st.chunk_size >> 10, st.large_blocks,
		st.page_pages, st.used_pages, st.used_bytes);
	CHECK(nulls == 0);
	CHECK(corrupt == 0);
	CHECK(ka_global_check(&global) == 0);
	for (unsigned k = 0; k < WL_SLOTS; k++) {
		if (slot[k] && !intact(slot[k], slot_len[k], slot_seed[k]))
			corrupt++;
		ka_free(g, slot[k]);
		slot[k] = NULL;
	}
	for (unsigned i = 0; i < 8; i++) {
		if (pages[i] && !intact(pages[i], (1u + i) * KA_PAGE_SIZE, i))
			corrupt++;
		ka_global_free_pages(&global, pages[i], 1u + i);
	}
	ka_global_stats(&global, &st);
	kprintf("global: after freeing everything: %zu bytes live, %zu chunks, %zu pages used, "
		"%llu chunks mapped / %llu released\n",
		st.used_bytes, st.chunks, st.used_pages, (unsigned long long)st.chunks_mapped,
		(unsigned long long)st.chunks_released);
	CHECK(corrupt == 0);
	CHECK(st.used_bytes == 0);
	CHECK(st.large_blocks == 0);
	CHECK(st.page_pages == 0);
	CHECK(ka_global_check(&global) == 0);
}

/* Page objects from the global allocator: one page, zeroed pages, an aligned run. */
static void page_objects(void)
{
	struct ka_alloc *g = ka_global_alloc_iface(&global);
	struct ka_page one, zero, run;

	CHECK(ka_page_alloc(g, &one) == 0);
	CHECK(ka_page_alloc_zeroed(g, &zero) == 0);
	CHECK(ka_page_alloc_contiguous(g, 16, 16 * KA_PAGE_SIZE, &run) == 0);
	if (!ka_page_vaddr(&one) || !ka_page_vaddr(&zero) || !ka_page_vaddr(&run)) {
		fail("page objects");
		return;
	}
	CHECK(ka_page_size(&one) == KA_PAGE_SIZE && ka_page_count(&run) == 16);
	CHECK(((uintptr_t)ka_page_vaddr(&one) & (KA_PAGE_SIZE - 1)) == 0);
	CHECK(((uintptr_t)ka_page_vaddr(&run) & (16 * KA_PAGE_SIZE - 1)) == 0);
	CHECK(all_bytes(ka_page_vaddr(&zero), KA_PAGE_SIZE, 0));
	/* Identity-mapped kernel: a page's physical address is its virtual one. */
	CHECK(ka_page_paddr(&run, NULL) == (ka_paddr_t)(uintptr_t)ka_page_vaddr(&run));
	ka_page_fill(&run, 0xa5);
	CHECK(all_bytes(ka_page_vaddr(&run), ka_page_size(&run), 0xa5));
	ka_page_zero(&run);
	CHECK(all_bytes(ka_page_vaddr(&run), ka_page_size(&run), 0));
	kprintf("pages: one page at %p, zeroed page at %p, 16-page run at %p (phys %p)\n",
		ka_page_vaddr(&one), ka_page_vaddr(&zero), ka_page_vaddr(&run),
		(void *)(uintptr_t)ka_page_paddr(&run, NULL));
	ka_page_free(&one);
	ka_page_free(&zero);
	ka_page_free(&run);
	CHECK(ka_page_vaddr(&run) == NULL);
	CHECK(ka_global_check(&global) == 0);
}

/* Coherent DMA buffers: small ones from uncached sub-heaps, large ones as whole frames,
 * half of them under an address limit a device might have (inside the region, which may lie
 * anywhere in RAM, even above 4 GiB), and one limit no frame can meet. */
static void dma_workload(uintptr_t region, size_t region_len)
{
	static const size_t sizes[] = {64, 200, 1500, 4096, 3 * 4096 + 1, 64 << 10};
	struct ka_dma_buf buf[2 * sizeof(sizes) / sizeof(sizes[0])];
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	/* A limit inside our region: the upper half of it is out of the device's reach. */
	ka_paddr_t limit = (ka_paddr_t)region + region_len / 2;
	unsigned ok = 0;

	for (size_t i = 0; i < 2 * n; i++) {
		size_t sz = sizes[i % n];
		ka_paddr_t lim = i < n ? KA_DMA_LIMIT_NONE : limit;

		if (ka_dma_alloc_coherent(&dma, sz, 64, lim, &buf[i]) != 0 || !buf[i].cpu) {
			kprintf("FAIL: dma: %zu bytes below %llx\n", sz, (unsigned long long)lim);
			failures++;
			buf[i].cpu = NULL;
			continue;
		}
		CHECK(((uintptr_t)buf[i].cpu & 63) == 0);
		CHECK(buf[i].bus == ka_dma_virt_to_bus(&dma, buf[i].cpu));
		CHECK(buf[i].bus == (ka_paddr_t)(uintptr_t)buf[i].cpu); /* identity, offset 0 */
		CHECK(lim == KA_DMA_LIMIT_NONE || buf[i].bus + sz <= lim);
		CHECK(all_bytes(buf[i].cpu, sz, 0)); /* coherent memory comes zeroed */
		fill(buf[i].cpu, sz, (uint32_t)i);
		ok++;
	}
	/* A device that reaches only memory below the region: nothing can satisfy it. */
	struct ka_dma_buf none;
	CHECK(ka_dma_alloc_coherent(&dma, 4096, 64, (ka_paddr_t)region, &none) == KA_ENOMEM);
	CHECK(none.cpu == NULL);
	kprintf("dma: %u coherent buffers (64 B .. 64 KiB, half below bus %llx), %zu sub-heaps\n",
		ok, (unsigned long long)limit, ka_dma_heap_count(&dma));
	CHECK(ka_dma_check(&dma) == 0);
	for (size_t i = 0; i < 2 * n; i++) {
		if (!buf[i].cpu)
			continue;
		CHECK(intact(buf[i].cpu, sizes[i % n], (uint32_t)i));
		ka_dma_free_coherent(&dma, &buf[i]);
	}
	CHECK(ka_dma_check(&dma) == 0);
}

static void global_tests(struct ka_alloc *heap, struct ka_conf *c)
{
	static struct global_ctx gc;
	size_t len = (size_t)8 << 20;

	gc.mem = ka_palloc(heap, len / KA_PAGE_SIZE);
	gc.len = len;
	if (!gc.mem) {
		fail("no region for the global allocator");
		return;
	}
	struct ka_alloc *g = make_global(&gc);
	if (!g) {
		fail("ka_global_init_region");
		ka_pfree(heap, gc.mem, len / KA_PAGE_SIZE);
		return;
	}
	struct ka_conf_target tg = {"global", g->ops->caps, make_global, &gc, NULL, 0};
	unsigned p0 = c->passed, f0 = c->failed, s0 = c->skipped;

	ka_conformance_target(c, &tg);
	kprintf("conformance: %-8s %u passed, %u failed, %u skipped\n", "global", c->passed - p0,
		c->failed - f0, c->skipped - s0);
	ka_global_destroy(&global);

	/* The same region again, now as the kernel's physical memory for everything below. */
	struct ka_page_source *src = ka_frame_source_init(&frames, ka_fbuddy_init(&fbuddy), 0);
	struct ka_dma_config dcfg = {.frames = &frames};
	int rc;

	if (!src || (rc = ka_page_source_add_memory(src, gc.mem, gc.len)) != 0) {
		fail("frame source over the region");
	} else if ((rc = ka_global_init(&global, src, NULL)) != 0) {
		kprintf("FAIL: ka_global_init: %d\n", rc);
		failures++;
	} else if ((rc = ka_dma_init(&dma, &dcfg)) != 0) {
		kprintf("FAIL: ka_dma_init: %d\n", rc);
		failures++;
	} else {
		kprintf("frames: %zu frames of %zu KiB from %p, %zu free after the global "
			"allocator's first chunk\n",
			ka_ftotal_frames(&fbuddy.fa), KA_PAGE_SIZE >> 10, gc.mem,
			ka_page_source_avail(src));
		global_workload();
		page_objects();
		dma_workload((uintptr_t)gc.mem, gc.len);
		ka_global_destroy(&global);
		CHECK(ka_page_source_check(src) == 0);
		kprintf("frames: %zu free of %zu after everything was given back (the DMA "
			"allocator keeps %zu empty sub-heap(s) cached)\n",
			ka_ffree_frames(&fbuddy.fa), ka_ftotal_frames(&fbuddy.fa),
			ka_dma_heap_count(&dma));
	}
	ka_pfree(heap, gc.mem, len / KA_PAGE_SIZE);
}

/* ---- statistics ---------------------------------------------------------------------- */

static void print_stats(struct ka_alloc *a)
{
	const struct ka_stats *s = ka_stats(a);
	struct ka_info in;

	ka_info(a, &in);
	kprintf("stats %s: allocs %llu, frees %llu, failed %llu, live %zu (peak %zu), "
		"bytes live %zu (peak %zu), request sizes last %zu min %zu max %zu\n",
		ka_name(a), (unsigned long long)s->nb_allocs, (unsigned long long)s->nb_frees,
		(unsigned long long)s->nb_enomem, s->cur_nb_allocs, s->max_nb_allocs,
		s->cur_mem_use, s->max_mem_use, s->last_alloc_size, s->min_alloc_size,
		s->max_alloc_size);
	kprintf("info  %s: total %zu KiB, available %zu KiB, largest block %zu KiB, metadata %zu "
		"bytes\n",
		ka_name(a), in.total >> 10, in.avail >> 10, in.maxalloc >> 10, in.meta);
}

/* ---- main ---------------------------------------------------------------------------- */

noreturn void kernel_main(struct boot_params *bp)
{
	char arg[32];
	const char *backend;
	struct ka_boot_info info;
	struct ka_conf conf = {conf_print, 0, 0, 0, 0};
	uint32_t guard_hash = bp->guard ? fnv1a(bp->guard, bp->guard_len) : 0;

	kprintf("kalloc-kernel: %s, memory map from %s, kernel image %p..%p\n", bp->arch,
		bp->firmware, (void *)kernel_image_start, (void *)kernel_image_end);
	kprintf("cmdline: \"%s\"\n", bp->cmdline);
	/* For the harness's own test: the pass status without the success line must not count
	 * as a pass (a kernel that dies early can leave QEMU with any status). */
	if (cmdline_get(bp->cmdline, "selftest", arg, sizeof(arg)) && streq(arg, "noline")) {
		kputs("selftest=noline: exiting with the pass status, no success line\n");
		arch_exit(true);
	}
	if (ka_platform_set_hooks(&hooks) != 0)
		fail("ka_platform_set_hooks");

	for (size_t i = 0; i < bp->count; i++)
		kprintf("map: %p..%p %-8s %s\n", (void *)bp->map[i].base,
			(void *)(bp->map[i].base + (bp->map[i].len - 1)),
			bp->map[i].type == KA_MEM_USABLE ? "usable" : "reserved", bp->what[i]);
	kprintf("ram: %llu MiB usable reported by %s", (unsigned long long)(bp->ram_bytes >> 20),
		bp->firmware);
	if (bp->ignored)
		kprintf(" (%llu MiB above this kernel's reach ignored)",
			(unsigned long long)(bp->ignored >> 20));
	kputc('\n');

	backend = cmdline_get(bp->cmdline, "backend", arg, sizeof(arg));
	struct ka_alloc *heap = ka_boot(bp->map, bp->count, backend, &info);
	if (!heap) {
		fail("ka_boot found no memory");
		kprintf("%s\n", FAIL_LINE);
		arch_exit(false);
	}
	kprintf("ka_boot: backend %s, %zu regions used, %zu skipped, %zu dropped, %zu KiB managed "
		"(heap-mib=%zu), first region %p+%zu KiB\n",
		info.backend, info.regions_used, info.regions_skipped, info.regions_dropped,
		info.bytes_managed >> 10, info.bytes_managed >> 20, (void *)info.first_base,
		info.first_len >> 10);
	CHECK(ka_default() == heap);

	struct walk_ctx w = {bp, 0, 0};
	int wr = ka_walk(heap, walk_check, &w);
	for (size_t i = 0; i < bp->count; i++)
		if (bp->map[i].type != KA_MEM_USABLE &&
		    overlaps(info.first_base, info.first_len, bp->map[i].base, bp->map[i].len))
			w.bad++;
	kprintf("heap placement: %zu blocks walked (walk %s), %zu outside usable RAM or inside a "
		"reservation\n",
		w.blocks, wr == 0 ? "ok" : "unsupported", w.bad);
	CHECK(w.bad == 0);
	CHECK(ka_check(heap) == 0);

	/* Which backends could have served as the boot heap (any request size; a pool of
	 * fixed-size objects cannot): the test harness boots once with each of them through
	 * "backend=<name>". */
	kputs("boot-heap backends:");
	for (size_t i = 0; ka_backend_at(i); i++)
		if (ka_backend_at(i)->caps & KA_CAP_ANYSIZE)
			kprintf(" %s", ka_backend_at(i)->name);
	kputc('\n');

	conformance_backends(heap, &conf);
	global_tests(heap, &conf);
	kprintf("conformance: total %u passed, %u failed, %u skipped\n", conf.passed, conf.failed,
		conf.skipped);
	CHECK(conf.failed == 0);
	CHECK(conf.passed > 0);

	print_stats(heap);
	CHECK(ka_check(heap) == 0);
	CHECK(ka_stats(heap)->cur_nb_allocs == 0);
	if (bp->guard)
		CHECK(fnv1a(bp->guard, bp->guard_len) == guard_hash);

	if (cmdline_get(bp->cmdline, "selftest", arg, sizeof(arg)) && streq(arg, "fail")) {
		void *p = ka_malloc(heap, 64);

		kprintf("selftest=fail: freeing %p twice; kalloc must panic\n", p);
		ka_free(heap, p);
		ka_free(heap, p);
		fail("double free went unnoticed");
	}

	if (failures) {
		kprintf("%u failure(s)\n%s\n", failures, FAIL_LINE);
		arch_exit(false);
	}
	kprintf("%s\n", PASS_LINE);
	arch_exit(true);
}
