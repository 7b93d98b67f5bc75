/* SPDX-License-Identifier: MIT */
/*
 * The architecture-independent part of the example kernel (entry: kernel_main, called by
 * arch/<arch>/ with the memory map it read from the firmware). In order, it:
 *  1. registers the platform hooks kalloc needs (panic, log, interrupt masking, CPU id and
 *     count);
 *  2. boots the whole memory subsystem with ka_boot_system() from the real memory map, in
 *     which the kernel image, the device tree and low memory are reserved entries: frames
 *     over every usable region, the global allocator growing from them, a per-CPU cache in
 *     front of it, DMA zones; and proves the memory it hands out kept out of the
 *     reservations;
 *  3. runs the shared conformance suite (tests/conformance) over every backend compiled in,
 *     on an arena taken from the system, and over a global allocator of its own;
 *  4. runs a workload on each layer of the system: bytes from sub-heaps, large blocks, page
 *     runs, page objects, coherent DMA buffers in each zone;
 *  5. starts the other CPUs (bp->ncpus): every CPU allocates through the cache and frees
 *     blocks other CPUs allocated (a shared ring of pointers) for a fixed number of rounds;
 *     after a barrier each CPU flushes its magazines, then CPU 0 flushes the depot, runs
 *     every checker and verifies that allocations - frees = live blocks and that the bytes
 *     add up ("smp: PASS");
 *  6. prints the statistics, checks every heap, and exits QEMU with pass or fail.
 * Command line (multiboot cmdline or /chosen/bootargs): "backend=<name>" picks the global
 * allocator's byte backend, "frames=fbitmap|fbuddy" the frame allocator; "selftest=fail"
 * makes the kernel commit a double free at the end, which kalloc must catch (panic hook ->
 * failure exit) — the harness uses it to prove failures are seen; "selftest=noline" exits at
 * once with the pass status but without the success line, which the harness must not take
 * for a pass; "selftest=nosmp" leaves the SMP proof out, which the harness's -smp boot must
 * not take for a pass.
 */
#include "kernel.h"

#include "conformance.h"
#include "kalloc/alloc.h"
#include "kalloc/boot.h"
#include "kalloc/cache.h"
#include "kalloc/dma.h"
#include "kalloc/fbitmap.h"
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

static unsigned ncpus = 1;

static unsigned hook_cpu_count(void)
{
	return ncpus;
}

static const struct ka_platform_hooks hooks = {
    .panic = hook_panic,
    .log = hook_log,
    .irq_save = arch_irq_save,
    .irq_restore = arch_irq_restore,
    /* The per-CPU cache's CPU: an index the arch code keeps in a per-CPU register; its
     * exclusion is the default, interrupts off (cpu_pin unset). */
    .cpu_id = arch_cpu_id,
    .cpu_count = hook_cpu_count,
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
	 * A usable entry must also end a page below the top: ka_boot_system() works on
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
	/* 16 MiB exercises the suite's larger cases; smaller machines get what they can (the
	 * arena is a page run from the frames, not bounded by a chunk of the heap). */
	size_t len = (size_t)16 << 20;
	void *arena;

	while ((arena = ka_palloc(heap, len / KA_PAGE_SIZE)) == NULL && len > ((size_t)1 << 20))
		len /= 2;
	if (!arena) {
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

/* The memory subsystem, booted by ka_boot_system() from the firmware's map. The kernel is
 * identity mapped: direct-map offset 0, bus addresses equal physical ones. */
static struct ka_system sys;

/* DMA zones (upper bus-address limits) the system is booted with: none below the kernel
 * image (no frame can meet it), "32 MiB above the image" (a device reaching only low RAM),
 * and "below 4 GiB". */
enum { ZONE_NONE, ZONE_LOW, ZONE_4G, NZONES };

/* A global allocator of its own for the conformance suite: re-created over one region for
 * each case (axalloc's init path: the region goes to a frame allocator owned by it). */
static struct ka_fbitmap conf_fbitmap;
static struct ka_global conf_global;

struct global_ctx {
	void *mem;
	size_t len;
};

static struct ka_alloc *make_global(void *ctx)
{
	struct global_ctx *gc = ctx;
	int rc;

	rc = ka_global_init_region(&conf_global, ka_fbitmap_init(&conf_fbitmap), 0, gc->mem,
				   gc->len, NULL);
	if (rc != 0) {
		kprintf("global: init over %p+%zu failed: %d\n", gc->mem, gc->len, rc);
		return NULL;
	}
	return ka_global_alloc_iface(&conf_global);
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
 * Mixed workload on the system (through the cache) and the global allocator below it:
 * small and medium blocks from its sub-heaps,
 * large blocks (straight from pages) and page runs; every block is pattern-filled and
 * verified before it is freed, and the whole allocator is checked along the way.
 */
static void global_workload(void)
{
	static unsigned char *slot[WL_SLOTS];
	static size_t slot_len[WL_SLOTS];
	static uint32_t slot_seed[WL_SLOTS];
	struct ka_alloc *g = sys.alloc;
	struct ka_global *global = &sys.global;
	unsigned long allocs = 0, nulls = 0, corrupt = 0;
	void *pages[8];

	for (unsigned i = 0; i < 8; i++) {
		pages[i] = ka_global_alloc_pages(global, 1u + i, KA_PAGE_SIZE << (i & 3));
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
		if (round % 1000 == 999 && ka_global_check(global) != 0)
			fail("ka_global_check during the workload");
	}
	struct ka_global_stats st;
	ka_global_stats(global, &st);
	kprintf("global: backend %s, %lu allocations (%lu failed), %zu chunks of %zu KiB, "
		"%zu large blocks, %zu pages in page runs, %zu pages used, %zu bytes live\n",
		st.backend, allocs, nulls, st.chunks, st.chunk_size >> 10, st.large_blocks,
		st.page_pages, st.used_pages, st.used_bytes);
	CHECK(nulls == 0);
	CHECK(corrupt == 0);
	CHECK(ka_global_check(global) == 0);
	for (unsigned k = 0; k < WL_SLOTS; k++) {
		if (slot[k] && !intact(slot[k], slot_len[k], slot_seed[k]))
			corrupt++;
		ka_free(g, slot[k]);
		slot[k] = NULL;
	}
	for (unsigned i = 0; i < 8; i++) {
		if (pages[i] && !intact(pages[i], (1u + i) * KA_PAGE_SIZE, i))
			corrupt++;
		ka_global_free_pages(global, pages[i], 1u + i);
	}
	/* Freed small blocks wait in the cache's magazines, still live for the global
	 * allocator; only CPU 0 has run so far, so this flush empties the whole cache. */
	if (sys.cache)
		ka_cache_flush(sys.cache);
	ka_global_stats(global, &st);
	kprintf("global: after freeing everything: %zu bytes live, %zu chunks, %zu pages used, "
		"%llu chunks mapped / %llu released\n",
		st.used_bytes, st.chunks, st.used_pages, (unsigned long long)st.chunks_mapped,
		(unsigned long long)st.chunks_released);
	CHECK(corrupt == 0);
	CHECK(st.used_bytes == 0);
	CHECK(st.large_blocks == 0);
	CHECK(st.page_pages == 0);
	CHECK(ka_global_check(global) == 0);
}

/* Page objects from the system's allocator: one page, zeroed pages, an aligned run. */
static void page_objects(void)
{
	struct ka_alloc *g = sys.alloc;
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
	CHECK(ka_system_check(&sys) == 0);
}

/* Coherent DMA buffers in the system's zones: small ones from uncached sub-heaps, large ones
 * as whole frames, half of them in the low zone, and one in a zone no frame can meet. */
static void dma_workload(void)
{
	static const size_t sizes[] = {64, 200, 1500, 4096, 3 * 4096 + 1, 64 << 10};
	struct ka_dma_buf buf[2 * sizeof(sizes) / sizeof(sizes[0])];
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned ok = 0;

	for (size_t i = 0; i < 2 * n; i++) {
		size_t sz = sizes[i % n];
		size_t zone = i < n ? sys.nzones : ZONE_LOW; /* nzones: no limit */
		ka_paddr_t lim = zone == sys.nzones ? KA_DMA_LIMIT_NONE : sys.zones[zone];

		if (ka_system_dma_alloc(&sys, zone, sz, 64, &buf[i]) != 0 || !buf[i].cpu) {
			kprintf("FAIL: dma: %zu bytes below %llx\n", sz, (unsigned long long)lim);
			failures++;
			buf[i].cpu = NULL;
			continue;
		}
		CHECK(((uintptr_t)buf[i].cpu & 63) == 0);
		CHECK(buf[i].bus == ka_dma_virt_to_bus(&sys.dma, buf[i].cpu));
		CHECK(buf[i].bus == (ka_paddr_t)(uintptr_t)buf[i].cpu); /* identity, offset 0 */
		CHECK(lim == KA_DMA_LIMIT_NONE || buf[i].bus + sz <= lim);
		CHECK(all_bytes(buf[i].cpu, sz, 0)); /* coherent memory comes zeroed */
		fill(buf[i].cpu, sz, (uint32_t)i);
		ok++;
	}
	/* A device that reaches only memory below the kernel image: nothing can satisfy it. */
	struct ka_dma_buf none;
	CHECK(ka_system_dma_alloc(&sys, ZONE_NONE, 4096, 64, &none) == KA_ENOMEM);
	CHECK(none.cpu == NULL);
	CHECK(ka_system_dma_alloc(&sys, sys.nzones + 1, 64, 64, &none) == KA_EINVAL);
	kprintf("dma: %u coherent buffers (64 B .. 64 KiB, half below bus %llx), %zu sub-heaps\n",
		ok, (unsigned long long)sys.zones[ZONE_LOW], ka_dma_heap_count(&sys.dma));
	CHECK(ka_dma_check(&sys.dma) == 0);
	for (size_t i = 0; i < 2 * n; i++) {
		if (!buf[i].cpu)
			continue;
		CHECK(intact(buf[i].cpu, sizes[i % n], (uint32_t)i));
		ka_dma_free_coherent(&sys.dma, &buf[i]);
	}
	CHECK(ka_dma_check(&sys.dma) == 0);
}

/* The conformance suite over a global allocator of its own, on a region from the system. */
static void global_conformance(struct ka_conf *c)
{
	static struct global_ctx gc;
	size_t len = (size_t)8 << 20;

	gc.mem = ka_palloc(sys.alloc, len / KA_PAGE_SIZE);
	gc.len = len;
	if (!gc.mem) {
		fail("no region for the global allocator");
		return;
	}
	struct ka_alloc *g = make_global(&gc);
	if (!g) {
		fail("ka_global_init_region");
		ka_pfree(sys.alloc, gc.mem, len / KA_PAGE_SIZE);
		return;
	}
	struct ka_conf_target tg = {"global", g->ops->caps, make_global, &gc, NULL, 0};
	unsigned p0 = c->passed, f0 = c->failed, s0 = c->skipped;

	ka_conformance_target(c, &tg);
	kprintf("conformance: %-8s %u passed, %u failed, %u skipped\n", "global", c->passed - p0,
		c->failed - f0, c->skipped - s0);
	ka_global_destroy(&conf_global);
	ka_pfree(sys.alloc, gc.mem, len / KA_PAGE_SIZE);
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

/* ---- placement ----------------------------------------------------------------------- */

/*
 * Memory the system hands out must lie in usable RAM and outside every reservation: blocks
 * of many sizes (through the cache), page runs and DMA buffers, each checked, and the global
 * allocator walked while they are live (every block it reports checked too).
 */
static void placement(const struct boot_params *bp)
{
	struct walk_ctx w = {bp, 0, 0};
	void *blk[48];
	struct ka_page pg[4];
	struct ka_dma_buf d;
	int wr;

	for (unsigned i = 0; i < 48; i++) {
		size_t n = (size_t)16 << (i % 14);

		blk[i] = ka_malloc(sys.alloc, n);
		if (!blk[i]) {
			fail("placement: allocation");
			continue;
		}
		walk_check(blk[i], n, true, &w);
	}
	for (unsigned i = 0; i < 4; i++)
		if (ka_page_alloc_contiguous(sys.alloc, 1u << i, KA_PAGE_SIZE, &pg[i]) == 0)
			walk_check(ka_page_vaddr(&pg[i]), ka_page_size(&pg[i]), true, &w);
		else
			fail("placement: page run");
	if (ka_system_dma_alloc(&sys, ZONE_4G, 5000, 64, &d) == 0)
		walk_check(d.cpu, d.size, true, &w);
	else
		fail("placement: dma");
	size_t direct = w.blocks;
	wr = ka_walk(ka_global_alloc_iface(&sys.global), walk_check, &w);
	for (size_t i = 0; i < bp->count; i++)
		if (bp->map[i].type != KA_MEM_USABLE &&
		    overlaps(sys.info.first_base, sys.info.first_len, bp->map[i].base,
			     bp->map[i].len))
			w.bad++;
	kprintf("placement: %zu blocks, page runs and DMA buffers checked, %zu global blocks "
		"walked (walk %s), %zu outside usable RAM or inside a reservation\n",
		direct, w.blocks - direct, wr == 0 ? "ok" : "unsupported", w.bad);
	CHECK(w.bad == 0);
	CHECK(ka_system_check(&sys) == 0);
	for (unsigned i = 0; i < 48; i++)
		ka_free(sys.alloc, blk[i]);
	for (unsigned i = 0; i < 4; i++)
		ka_page_free(&pg[i]);
	ka_dma_free_coherent(&sys.dma, &d);
}

/* ---- SMP: every CPU through the cache, blocks freed by other CPUs ----------------------- */

#define SMP_ROUNDS 20000
#define SMP_RING   256
#define SMP_MAGIC  0x6b616c6cu

/* The first bytes of every block: who allocated it, how big, and a check word. */
struct smp_tag {
	uint32_t magic, cpu;
	uint32_t size, check;
};

struct smp_cpu {
	unsigned long allocs, frees, remote_frees, failed, corrupt;
	uint64_t bytes_in, bytes_out; /* usable sizes allocated / freed */
	uint32_t rng;
} __attribute__((aligned(64)));

static struct smp_cpu smp_cpu[KMAX_CPUS];
static void *smp_ring[SMP_RING];
static unsigned smp_ncpus, smp_online, smp_go, smp_done, smp_flushed;
static unsigned char smp_stacks[KMAX_CPUS][16384] __attribute__((aligned(16)));

static uint32_t smp_rng(struct smp_cpu *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 17;
	c->rng ^= c->rng << 5;
	return c->rng;
}

static void smp_wait(unsigned *counter, unsigned value)
{
	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < value) {
	}
}

static void smp_free(struct smp_cpu *c, unsigned me, void *p)
{
	struct smp_tag *t = p;

	if (t->magic != SMP_MAGIC || t->cpu >= smp_ncpus ||
	    t->check != (t->size ^ t->cpu ^ (uint32_t)(uintptr_t)p))
		c->corrupt++;
	else if (t->cpu != me)
		c->remote_frees++;
	c->bytes_out += ka_usable_size(sys.alloc, p);
	c->frees++;
	ka_free(sys.alloc, p);
}

/* One CPU's share: allocate a block, put it in a random ring slot and free what was there
 * (a block some CPU put there earlier). 7 in 8 requests are cached sizes (16..1024 bytes),
 * the rest go past the cache to the global allocator (up to 8 KiB). */
static void smp_work(unsigned me)
{
	struct smp_cpu *c = &smp_cpu[me];
	struct ka_alloc *a = sys.alloc;

	c->rng = 0x9e3779b9u * (me + 1);
	__atomic_add_fetch(&smp_online, 1, __ATOMIC_ACQ_REL);
	smp_wait(&smp_go, 1);
	for (unsigned r = 0; r < SMP_ROUNDS; r++) {
		uint32_t x = smp_rng(c);
		size_t n = (x & 7) ? 16 + (x >> 8) % 1009 : 1025 + (x >> 8) % 7168;
		struct smp_tag *t = ka_malloc(a, n);

		if (!t) {
			c->failed++;
			continue;
		}
		t->magic = SMP_MAGIC;
		t->cpu = me;
		t->size = (uint32_t)n;
		t->check = t->size ^ me ^ (uint32_t)(uintptr_t)t;
		c->allocs++;
		c->bytes_in += ka_usable_size(a, t);
		void *old = __atomic_exchange_n(&smp_ring[smp_rng(c) % SMP_RING], (void *)t,
						__ATOMIC_ACQ_REL);
		if (old)
			smp_free(c, me, old);
	}
	/* Barrier: nobody allocates any more; then each CPU empties its own magazines (only it
	 * may touch them) and says so. */
	__atomic_add_fetch(&smp_done, 1, __ATOMIC_ACQ_REL);
	smp_wait(&smp_done, smp_ncpus);
	ka_cache_flush_cpu(a);
	__atomic_add_fetch(&smp_flushed, 1, __ATOMIC_ACQ_REL);
}

static void smp_secondary(unsigned idx)
{
	smp_work(idx);
	arch_cpu_park();
}

static void smp_test(const struct boot_params *bp)
{
	struct ka_alloc *a = sys.alloc;
	struct ka_global_stats g0, g1;
	const struct ka_stats *st;
	uint64_t allocs0, frees0, live0, bytes0;
	unsigned long allocs = 0, frees = 0, remote = 0, failed = 0, corrupt = 0;
	uint64_t bytes_in = 0, bytes_out = 0, ring_bytes = 0;
	size_t ring_blocks = 0;

	if (!sys.cache) {
		fail("smp: no per-CPU cache");
		return;
	}
	/* Baseline with every cached block given back: the global allocator's live blocks are
	 * then exactly the kernel's. */
	ka_cache_flush(a);
	ka_global_stats(&sys.global, &g0);
	st = ka_cache_stats(a);
	allocs0 = st->nb_allocs;
	frees0 = st->nb_frees;
	live0 = st->cur_nb_allocs;
	bytes0 = st->cur_mem_use;

	smp_ncpus = bp->ncpus;
	for (unsigned i = 1; i < bp->ncpus; i++) {
		unsigned before = __atomic_load_n(&smp_online, __ATOMIC_ACQUIRE);
		bool up = arch_start_cpu(i, bp->cpu_hw[i], smp_stacks[i] + sizeof(smp_stacks[i]),
					 smp_secondary);

		for (unsigned long spin = 0; up && spin < 400000000ul; spin++)
			if (__atomic_load_n(&smp_online, __ATOMIC_ACQUIRE) > before)
				break;
		if (!up || __atomic_load_n(&smp_online, __ATOMIC_ACQUIRE) == before) {
			kprintf("FAIL: smp: CPU %u (hw id %lu) did not come up\n", i,
				bp->cpu_hw[i]);
			failures++;
			smp_ncpus = i;
			break;
		}
	}
	kprintf("smp: %u CPU(s) online, %u rounds each through the per-CPU cache\n", smp_ncpus,
		SMP_ROUNDS);
	__atomic_store_n(&smp_go, 1, __ATOMIC_RELEASE);
	smp_work(0);
	smp_wait(&smp_flushed, smp_ncpus);

	/* Every CPU flushed its magazines; the depot is CPU 0's to empty. */
	ka_cache_flush(a);
	CHECK(ka_cache_held(a) == 0);
	CHECK(ka_system_check(&sys) == 0);
	for (unsigned i = 0; i < smp_ncpus; i++) {
		struct smp_cpu *c = &smp_cpu[i];

		kprintf("smp: cpu %u: %lu allocations, %lu frees (%lu of blocks another CPU "
			"allocated)\n",
			i, c->allocs, c->frees, c->remote_frees);
		allocs += c->allocs;
		frees += c->frees;
		remote += c->remote_frees;
		failed += c->failed;
		corrupt += c->corrupt;
		bytes_in += c->bytes_in;
		bytes_out += c->bytes_out;
		if (smp_ncpus > 1)
			CHECK(c->remote_frees > 0);
	}
	for (unsigned k = 0; k < SMP_RING; k++)
		if (smp_ring[k]) {
			ring_blocks++;
			ring_bytes += ka_usable_size(a, smp_ring[k]);
		}
	st = ka_cache_stats(a);
	ka_global_stats(&sys.global, &g1);
	kprintf("smp: %lu allocations, %lu frees, %zu blocks (%llu bytes) live in the ring; "
		"cache: +%llu allocs, +%llu frees, +%llu live, +%llu bytes; global: %zu live "
		"blocks more\n",
		allocs, frees, ring_blocks, (unsigned long long)ring_bytes,
		(unsigned long long)(st->nb_allocs - allocs0),
		(unsigned long long)(st->nb_frees - frees0),
		(unsigned long long)(st->cur_nb_allocs - live0),
		(unsigned long long)(st->cur_mem_use - bytes0), g1.live_blocks - g0.live_blocks);
	CHECK(failed == 0);
	CHECK(corrupt == 0);
	CHECK(st->nb_allocs - allocs0 == allocs);
	CHECK(st->nb_frees - frees0 == frees);
	CHECK(allocs - frees == ring_blocks);
	CHECK(st->cur_nb_allocs - live0 == ring_blocks);
	CHECK(bytes_in - bytes_out == ring_bytes);
	CHECK(st->cur_mem_use - bytes0 == ring_bytes);
	/* With every magazine empty, each live block is one block of the global allocator. */
	CHECK(g1.live_blocks - g0.live_blocks == ring_blocks);

	for (unsigned k = 0; k < SMP_RING; k++)
		if (smp_ring[k]) {
			smp_free(&smp_cpu[0], 0, smp_ring[k]);
			smp_ring[k] = NULL;
		}
	ka_cache_flush(a);
	st = ka_cache_stats(a);
	ka_global_stats(&sys.global, &g1);
	CHECK(st->cur_nb_allocs == live0 && st->cur_mem_use == bytes0);
	CHECK(g1.live_blocks == g0.live_blocks && g1.used_bytes == g0.used_bytes);
	CHECK(smp_cpu[0].corrupt == 0);
	CHECK(ka_system_check(&sys) == 0);
	if (failures == 0)
		kprintf("smp: PASS (%u CPUs, %lu blocks freed by another CPU than their own)\n",
			smp_ncpus, remote);
}

/* ---- main ---------------------------------------------------------------------------- */

noreturn void kernel_main(struct boot_params *bp)
{
	char arg[32], farg[16];
	const char *backend, *frames;
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
	frames = cmdline_get(bp->cmdline, "frames", farg, sizeof(farg));
	ncpus = bp->ncpus ? bp->ncpus : 1;
	struct ka_system_config cfg = {
	    .frames = frames,
	    .backend = backend,
	    .percpu_cache = true, /* ncpus from the cpu_count hook */
	    .dm_off = 0,
	    .nzones = NZONES,
	    .zones = {[ZONE_NONE] = (ka_paddr_t)(uintptr_t)kernel_image_start,
		      [ZONE_LOW] = (ka_paddr_t)(uintptr_t)kernel_image_end + (32u << 20),
		      [ZONE_4G] = (ka_paddr_t)1 << 32},
	};
	int rc = ka_boot_system(&sys, bp->map, bp->count, &cfg);
	if (rc != 0) {
		kprintf("FAIL: ka_boot_system: %d\n%s\n", rc, FAIL_LINE);
		arch_exit(false);
	}
	const struct ka_boot_info *info = &sys.info;
	kprintf("ka_boot_system: backend %s, frames %s, per-CPU cache for %u CPU(s) (%zu KiB), "
		"%zu regions used, %zu skipped, %zu dropped, %zu KiB managed (heap-mib=%zu), "
		"first region %p+%zu KiB\n",
		info->backend, frames ? frames : "fbuddy", ncpus,
		sys.cache_pages * KA_PAGE_SIZE >> 10, info->regions_used, info->regions_skipped,
		info->regions_dropped, info->bytes_managed >> 10, info->bytes_managed >> 20,
		(void *)info->first_base, info->first_len >> 10);
	CHECK(ka_default() == sys.alloc);
	CHECK(sys.cache == sys.alloc);
	placement(bp);

	/* Which backends could serve the global allocator (any request size, blocks really
	 * freed): the test harness boots once with each of them through "backend=<name>". */
	kputs("system backends:");
	for (size_t i = 0; ka_backend_at(i); i++)
		if ((ka_backend_at(i)->caps & (KA_CAP_ANYSIZE | KA_CAP_FREE)) ==
		    (KA_CAP_ANYSIZE | KA_CAP_FREE))
			kprintf(" %s", ka_backend_at(i)->name);
	kputc('\n');

	conformance_backends(sys.alloc, &conf);
	global_conformance(&conf);
	kprintf("conformance: total %u passed, %u failed, %u skipped\n", conf.passed, conf.failed,
		conf.skipped);
	CHECK(conf.failed == 0);
	CHECK(conf.passed > 0);

	kprintf("frames: %zu frames of %zu KiB, %zu free\n", ka_ftotal_frames(sys.fa),
		KA_PAGE_SIZE >> 10, ka_ffree_frames(sys.fa));
	global_workload();
	page_objects();
	dma_workload();
	/* selftest=nosmp: no SMP proof (and no "smp: PASS" line), for the harness's own test. */
	if (cmdline_get(bp->cmdline, "selftest", arg, sizeof(arg)) && streq(arg, "nosmp"))
		kputs("selftest=nosmp: the SMP proof is left out\n");
	else
		smp_test(bp);

	ka_cache_flush(sys.alloc);
	print_stats(sys.alloc);
	print_stats(ka_global_alloc_iface(&sys.global));
	CHECK(ka_system_check(&sys) == 0);
	CHECK(ka_stats(sys.alloc)->cur_nb_allocs == 0);
	kprintf("frames: %zu free of %zu at the end (the DMA allocator keeps %zu empty sub-heap(s) "
		"cached)\n",
		ka_ffree_frames(sys.fa), ka_ftotal_frames(sys.fa), ka_dma_heap_count(&sys.dma));
	if (bp->guard)
		CHECK(fnv1a(bp->guard, bp->guard_len) == guard_hash);

	if (cmdline_get(bp->cmdline, "selftest", arg, sizeof(arg)) && streq(arg, "fail")) {
		/* Through the global allocator: the cache's fast path does not look for double
		 * frees (kalloc/cache.h), the byte backend below it does. */
		struct ka_alloc *g = ka_global_alloc_iface(&sys.global);
		void *p = ka_malloc(g, 64);

		kprintf("selftest=fail: freeing %p twice; kalloc must panic\n", p);
		ka_free(g, p);
		ka_free(g, p);
		fail("double free went unnoticed");
	}

	if (failures) {
		kprintf("%u failure(s)\n%s\n", failures, FAIL_LINE);
		arch_exit(false);
	}
	kprintf("%s\n", PASS_LINE);
	arch_exit(true);
}
