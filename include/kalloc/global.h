/* SPDX-License-Identifier: MIT */
/**
 * @file global.h
 * @brief The global allocator: a byte allocator that grows from pages (ArceOS axalloc's
 * GlobalAllocator, with its gaps closed), and the page sources it grows from.
 *
 * Model (docs/global.md has the details):
 *  - A **page source** hands out page-aligned runs of pages. Two exist: a frame allocator
 *    plus a direct map (kernels: ka_frame_source_init) and the platform's page mapper
 *    (hosted: ka_plat_source_init, mmap). Each has its own lock.
 *  - The global allocator takes **chunks** of `chunk_size` bytes (a power of two) from the
 *    source, aligned to their size, and makes each chunk a sub-heap of the chosen byte
 *    backend (tlsf, slab, buddy, tiny, ... by name). The chunk that owns a pointer is found
 *    in O(1) by masking the pointer; a chunk whose sub-heap becomes empty goes back to the
 *    source, except `keep_empty` (default one) kept cached so that a malloc/free pair at the
 * boundary does not map and unmap every time.
 *  - Requests above `large_threshold` bytes (or aligned to more than KA_PAGE_SIZE, or that
 *    no sub-heap can hold) go straight to the source as **large blocks**: a run of pages
 *    with a one-page header, placed so that the same pointer mask finds the header.
 *  - Out of memory returns NULL with the heap intact; before that, a registered hook runs
 *    (without any lock held) and may add memory, then the request is retried once.
 *  - All calls below are thread safe: the allocator sits behind a locking adapter
 *    (kalloc/lock.h), and ka_global_alloc_iface() is that adapter.
 *
 * Lock order (outermost first): global allocator lock -> page-source lock. The page-source
 * lock is the innermost lock of kalloc: nothing is called with it held but the frame
 * allocator and the platform's page mapper. The out-of-memory hook runs with no lock held.
 * The DMA allocator (kalloc/dma.h) has its own lock, which also nests outside the
 * page-source lock and is never held together with the global allocator's lock.
 */
#ifndef KALLOC_GLOBAL_H
#define KALLOC_GLOBAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "frame.h"
#include "lock.h"
#include "platform.h"

/* ---- page sources --------------------------------------------------------------------- */

struct ka_page_source;

/** @brief Operations of a page source (implementations: frame and platform). */
struct ka_page_source_ops {
	/** Map `npages` pages aligned to `align` (a power of two >= KA_PAGE_SIZE), or NULL. */
	void *(*map)(struct ka_page_source *s, size_t npages, size_t align);
	/** Give back `npages` pages from `addr` (all of, or a page-aligned part of, a map). */
	int (*unmap)(struct ka_page_source *s, void *addr, size_t npages);
	/** Take the region [base, base+len); NULL means KA_ENOTSUP. */
	int (*add_memory)(struct ka_page_source *s, void *base, size_t len);
	/** Pages that can still be mapped; SIZE_MAX when the source has no known bound. */
	size_t (*avail_pages)(struct ka_page_source *s);
	/** Longest run of pages one map() would surely give now; 0 when unknown. */
	size_t (*max_run)(struct ka_page_source *s);
	/** Count inconsistencies (logged), never abort. */
	unsigned (*check)(struct ka_page_source *s);
};

/**
 * @brief Head of a page source. Implementations embed it first. Members are private; use
 * the ka_page_source_* calls, which take `lock`.
 */
struct ka_page_source {
	const struct ka_page_source_ops *ops;
	const char *name;    /**< "frame" or "platform" */
	struct ka_lock lock; /**< guards the source (and, for "frame", its frame allocator) */
	size_t used_pages;   /**< pages mapped and not yet unmapped, through this source */
	bool zero_fill;	     /**< map() returns zeroed pages (fresh anonymous memory) */
};

/**
 * @brief A page source over a frame allocator (kernels, and simulated physical memory in
 * tests). The virtual address of frame `p` is `p + dm_off` (a direct map), or, with
 * dm_off == KA_DM_NONE, ka_plat_phys_to_virt(p) (the platform's translation hooks; the map
 * must still be linear over each contiguous run the frame allocator hands out).
 */
struct ka_frame_source {
	struct ka_page_source base;
	struct ka_frame_alloc *fa; /**< the frame allocator; only touched under base.lock */
	uintptr_t dm_off;	   /**< direct-map offset, or KA_DM_NONE */
};

/** @brief A page source over ka_plat_page_map() (hosted: mmap), optionally capped. */
struct ka_plat_source {
	struct ka_page_source base;
	size_t limit_pages; /**< at most this many pages mapped at once; 0 = no cap */
};

/**
 * @brief Make a page source over frame allocator `fa` (already initialised; it may already
 * manage memory, and more can be added with ka_page_source_add_memory()).
 * From then on `fa` must only be used through this source (it holds the lock).
 * @return &fs->base, or NULL iff fs or fa is NULL. O(1).
 */
struct ka_page_source *ka_frame_source_init(struct ka_frame_source *fs, struct ka_frame_alloc *fa,
					    uintptr_t dm_off);

/**
 * @brief Make a page source over the platform's page mapper.
 * @param limit_bytes cap on the bytes mapped at once (rounded down to pages); 0 = none.
 * The cap lets a hosted program (or a test) see out-of-memory without exhausting the machine.
 * @return &ps->base, or NULL iff ps is NULL. O(1).
 */
struct ka_page_source *ka_plat_source_init(struct ka_plat_source *ps, size_t limit_bytes);

/**
 * @brief Map `npages` pages aligned to `align` (power of two >= KA_PAGE_SIZE).
 * Fails (NULL) iff npages is 0, the size overflows, align is invalid, or no memory.
 * Contents: zero for the platform source, undefined for frames. Thread safe.
 * Complexity: the frame allocator's (frame source) or one mmap (platform).
 */
void *ka_page_source_map(struct ka_page_source *s, size_t npages, size_t align);

/**
 * @brief Give back pages from ka_page_source_map() (a whole run or a page-aligned part).
 * @return 0, KA_EINVAL (misaligned, 0 pages), KA_EFAULT (not mapped by this source, as far
 * as the frame allocator can tell). Thread safe.
 */
int ka_page_source_unmap(struct ka_page_source *s, void *addr, size_t npages);

/**
 * @brief Add the region [base, base+len) of mapped memory to the source.
 * Frame source: the region is clipped to whole pages, its first pages hold the frame
 * allocator's metadata, the rest become frames (physical address through the source's
 * translation). A region that overlaps memory the source manages, its metadata pages
 * included, is refused with KA_EEXIST and nothing changes (the frame allocator's test,
 * frame.h; without a direct map the source tells it the region's own linear offset).
 * @return 0, KA_EINVAL (too small for metadata plus one frame), KA_EEXIST,
 * KA_ENOMEM (the frame allocator's region table is full), KA_ENOTSUP (platform source).
 * Thread safe; O(frame allocator's add).
 */
int ka_page_source_add_memory(struct ka_page_source *s, void *base, size_t len);

/** @brief Pages that can still be mapped, SIZE_MAX when unbounded. Thread safe, O(1). */
size_t ka_page_source_avail(struct ka_page_source *s);

/**
 * @brief Longest run of pages one ka_page_source_map() would surely give now (capped
 * platform source: all it has left), 0 when the source cannot tell (frames, uncapped
 * platform). Thread safe, O(1).
 */
size_t ka_page_source_max_run(struct ka_page_source *s);

/** @brief Check the source (frame source: the frame allocator). Thread safe. */
unsigned ka_page_source_check(struct ka_page_source *s);

/** @brief Physical address of `vaddr` by the frame source's translation. O(1). */
ka_paddr_t ka_frame_source_virt_to_phys(const struct ka_frame_source *fs, const void *vaddr);

/** @brief Virtual address of physical `paddr` by the frame source's translation. O(1). */
void *ka_frame_source_phys_to_virt(const struct ka_frame_source *fs, ka_paddr_t paddr);

/**
 * @brief Allocate `npages` frames inside physical [min, max), aligned to `align`, through the
 * frame allocator's range allocation, under the source's lock (counted in used_pages).
 * @param out the first frame's physical address on success (untouched on failure)
 * @return 0, KA_EINVAL, KA_ENOMEM. Thread safe.
 */
int ka_frame_source_alloc_range(struct ka_frame_source *fs, size_t npages, ka_paddr_t min,
				ka_paddr_t max, size_t align, ka_paddr_t *out);

/** @brief Free frames from ka_frame_source_alloc_range(). @return 0 or the frame error. */
int ka_frame_source_free(struct ka_frame_source *fs, ka_paddr_t paddr, size_t npages);

/* ---- the global allocator ----------------------------------------------------------- */

struct ka_global;
struct ka_gchunk;

/**
 * @brief Out-of-memory hook: called, with no lock held, when a request of `size` bytes is
 * about to fail; the request is retried once when it returns. It may call
 * ka_global_add_memory() (or free caches). Several threads that fail together each call it,
 * so it must be thread safe.
 */
typedef void (*ka_global_oom_fn)(struct ka_global *g, size_t size, void *arg);

/** Default log2 of the chunk size (256 KiB chunks). */
#ifndef KA_CFG_GLOBAL_CHUNK_SHIFT
#define KA_CFG_GLOBAL_CHUNK_SHIFT 18
#endif

/** @brief Optional settings for ka_global_init*(); zero members take the defaults. */
struct ka_global_config {
	const char *backend; /**< byte backend name; NULL = ka_backend_default() */
	/** log2 chunk size; 0 = KA_CFG_GLOBAL_CHUNK_SHIFT, raised until a chunk holds the
	 * backend's minimum heap (slab needs 512 KiB chunks) */
	unsigned chunk_shift;
	size_t large_threshold; /**< larger requests go to pages; 0 = chunk size / 4 */
};

/** @brief Figures of a global allocator (ka_global_stats()). */
struct ka_global_stats {
	const char *backend; /**< the byte allocator's name, e.g. "tlsf" */
	size_t used_bytes;   /**< usable bytes of live byte allocations (large ones too) */
	size_t live_blocks;  /**< live byte allocations (large ones too) */
	size_t avail_bytes;  /**< free bytes inside the sub-heaps (without growing) */
	size_t used_pages;   /**< pages taken from the source: chunks, large blocks, page allocs */
	size_t avail_pages;  /**< pages the source can still give; SIZE_MAX = unbounded */
	size_t chunks;	     /**< sub-heap chunks now (the cached empty ones included) */
	size_t large_blocks; /**< live large blocks */
	size_t idle_large_pages;  /**< pages of freed large blocks kept for reuse (in used_pages) */
	size_t page_pages;	  /**< pages live through ka_global_alloc_pages() */
	size_t chunk_size;	  /**< bytes per chunk */
	uint64_t chunks_mapped;	  /**< chunks taken from the source since init */
	uint64_t chunks_released; /**< chunks given back to the source since init */
};

/**
 * @brief State of a global allocator. Caller-provided storage (typically static); the
 * members are private (src/global/global_priv.h documents them).
 */
struct ka_global {
	struct ka_locked locked;      /**< the thread-safe face; wraps `core` */
	struct ka_alloc core;	      /**< the chunked heap itself (single threaded) */
	struct ka_alloc_ops core_ops; /**< core's ops, with this instance's capabilities */
	struct ka_page_source *src;
	union {
		struct ka_frame_source frame;
		struct ka_plat_source plat;
	} own_src; /**< storage for the source made by the init helpers */
	const struct ka_backend *backend;
	unsigned chunk_shift;
	size_t chunk_size;
	size_t large_threshold;
	struct ka_gchunk *heaps; /**< sub-heap chunks, most recently mapped first */
	struct ka_gchunk *cur;	 /**< the sub-heap that served the last request */
	struct ka_gchunk
	    *empty;	   /**< a cached empty chunk (the last one made or emptied), or NULL */
	size_t nempty;	   /**< sub-heap chunks with no live block */
	size_t keep_empty; /**< at most this many empty chunks stay mapped */
	struct ka_gchunk *large; /**< live large blocks */
	struct ka_gchunk *idle;	 /**< freed large blocks kept mapped, most recent first */
	size_t nidle, idle_pages;
	size_t keep_large_pages; /**< cap of idle_pages (ka_global_set_keep_large()) */
	size_t nheaps, nlarge;
	size_t used_bytes;  /**< usable bytes of live blocks, moved on every alloc/free */
	size_t live_blocks; /**< live blocks (sub-heap and large) */
	size_t heap_avail;  /**< sum of the chunks' cached free bytes (ka_gchunk.avail) */
	size_t large_pages, page_pages;
	uint64_t chunks_mapped, chunks_released;
	ka_global_oom_fn oom;
	void *oom_arg;
	void **owns_root;     /**< ownership table (ka_global_owns_table()), or NULL */
	size_t owns_root_len; /**< entries of the root */
	size_t owns_pages;    /**< pages of the radix table, root included */
	/** Flat ownership map (ka_plat_reserve()): a code byte per slot, or NULL (radix). */
	unsigned char *owns_flat;
	size_t owns_flat_len; /**< slots of the flat map (the whole address space) */
	/** Slots ka_global_owns_inline() answers from (the low half's; 0 without the map). */
	size_t owns_flat_low;
	/** Offset bits of an address past a sub-heap chunk's header: (chunk size - 1) & ~(header
	 * - 1), set with the flat map (ka_global_owns_inline()'s one test of the offset). */
	uintptr_t owns_body_mask;
	bool owns_on; /**< ka_global_owns_table() was called */
};

/**
 * @brief Make a global allocator growing from page source `src`.
 * Maps the first chunk at once when the source can give it (not an error if it cannot: the
 * allocator then grows on the first request, e.g. after ka_global_add_memory()).
 * @return 0; KA_EINVAL (NULL g/src, chunk_shift outside [KA_CFG_PAGE_SHIFT + 2, bits - 2],
 * or a chunk too small for the backend's minimum heap); KA_ENOENT (no such backend, or no
 * backend compiled in). O(1) plus one chunk's backend init. Not thread safe (boot time).
 */
int ka_global_init(struct ka_global *g, struct ka_page_source *src,
		   const struct ka_global_config *cfg);

/**
 * @brief Kernel path (axalloc's init): manage the mapped region [start, start+size) through
 * frame allocator `fa` (empty or not) with direct-map offset `dm_off` (vaddr = paddr +
 * dm_off; KA_DM_NONE = the platform's translation). The whole region goes to the frame
 * allocator (its metadata at the region's start), then the first chunk is mapped.
 * The page source lives inside `g`.
 * @return 0, an error of ka_global_init(), of ka_page_source_add_memory(), or KA_ENOMEM when
 * the region cannot hold the first chunk.
 */
int ka_global_init_region(struct ka_global *g, struct ka_frame_alloc *fa, uintptr_t dm_off,
			  void *start, size_t size, const struct ka_global_config *cfg);

/**
 * @brief Hosted path: grow from the platform's page mapper (mmap), at most `limit_bytes`
 * mapped at once (0 = no limit). The page source lives inside `g`.
 * @return as ka_global_init().
 */
int ka_global_init_hosted(struct ka_global *g, size_t limit_bytes,
			  const struct ka_global_config *cfg);

/**
 * @brief Give the page source another region (axalloc gives only its largest region; every
 * region can go here). Does not take the allocator's lock, only the source's, so the
 * out-of-memory hook may call it. @return as ka_page_source_add_memory().
 */
int ka_global_add_memory(struct ka_global *g, void *base, size_t len);

/**
 * @brief Register (fn NULL: remove) the out-of-memory hook. Call before sharing `g`.
 */
void ka_global_set_oom_hook(struct ka_global *g, ka_global_oom_fn fn, void *arg);

/**
 * @brief Keep up to `n` empty sub-heap chunks mapped (default 1; 0 counts as 1), so that a
 * program that frees and rebuilds a large structure does not unmap the memory and fault it
 * in again. Empty chunks beyond `n` go back to the source (at once, when `n` is lowered).
 * Thread safe (takes the allocator's lock); O(1), or O(chunks) when `n` is lowered.
 */
void ka_global_set_keep_empty(struct ka_global *g, size_t n);

/** At most this many freed large blocks are kept for reuse, whatever their size. */
#define KA_GLOBAL_IDLE_MAX 8

/**
 * @brief Keep freed large blocks (above the large threshold) mapped, up to `bytes` in all
 * and KA_GLOBAL_IDLE_MAX blocks, for the next large request they can hold: a program that
 * allocates and frees big buffers in a loop then reuses memory it has already touched
 * instead of mapping, faulting in and zeroing fresh pages every time (the pages of a reused
 * block are only trimmed at the tail to the new size). The oldest go back to the source
 * first; all of them go back before the allocator reports a failure, when `bytes` is
 * lowered (0: keep none), and in ka_global_destroy(). Default: 0 from ka_global_init() and
 * ka_global_init_region() (a kernel's frames stay with the frame allocator, where DMA and
 * others can take them), 64 MiB from ka_global_init_hosted().
 * Thread safe (takes the allocator's lock); O(KA_GLOBAL_IDLE_MAX).
 */
void ka_global_set_keep_large(struct ka_global *g, size_t bytes);

/**
 * @brief The allocator as a `struct ka_alloc` (the locking adapter in front of it): every
 * call of kalloc/alloc.h works on it (ka_malloc, ka_realloc, ka_check, ka_walk, ...), and
 * goes through the same out-of-memory retry. O(1).
 */
struct ka_alloc *ka_global_alloc_iface(struct ka_global *g);

/**
 * @brief Allocate `size` bytes aligned to `align` (power of two; below KA_CFG_MIN_ALIGN is
 * raised to it). Size 0 gives a unique minimum block. Contents undefined.
 * Fails (NULL) iff align is not a power of two, size is above SIZE_MAX / 2, or no memory even
 * after the out-of-memory hook; the heap is intact then.
 * Complexity: the backend's in the last successful sub-heap; on a miss, each other sub-heap
 * is tried (O(chunks)) before one chunk is mapped; large requests: the page source's.
 * Thread safe.
 */
void *ka_global_alloc(struct ka_global *g, size_t size, size_t align);

/**
 * @brief Free a block from ka_global_alloc() (or ka_malloc on the iface). NULL is a no-op.
 * Misuse (a pointer whose chunk header is not this allocator's, an interior pointer of a
 * large block, a double free the backend detects) panics. O(1) + backend free; a chunk left
 * empty is unmapped (unless it is the first empty one, which is cached). Thread safe.
 */
void ka_global_free(struct ka_global *g, void *ptr);

/**
 * @brief Up to `n` blocks of `size` bytes each (aligned to KA_CFG_MIN_ALIGN) under one taking
 * of the lock, for a cache that refills a magazine: each block is still its own allocation
 * by the backend (its own usable size, counted in the figures and in the statistics of
 * ka_global_alloc_iface() one by one, as ka_global_alloc() counts it) and is freed alone or
 * in a batch. The blocks come from the sub-heap that served last, then the other sub-heaps;
 * a new chunk is mapped only when not even the first block fits. No large blocks and no
 * out-of-memory hook: a short answer is not a failure, the caller asks ka_global_alloc()
 * for what it must have.
 * @param out receives the blocks (n slots).
 * @return how many blocks were stored at out[0..): 0 when n or size is 0, size is above the
 * large threshold, or no sub-heap holds one (the heap is intact then). Complexity: n backend
 * allocations plus one miss at most (see ka_global_alloc()). Thread safe.
 */
size_t ka_global_alloc_batch(struct ka_global *g, size_t size, void **out, size_t n);

/**
 * @brief ka_global_free() of each of the `n` blocks at ptrs (none NULL) under one taking of
 * the lock, in order. Same checks and misuse reports per block as ka_global_free(); a chunk's
 * free-byte figure is refreshed once per run of blocks in the same chunk. O(n) + the
 * backend's frees. Thread safe.
 */
void ka_global_free_batch(struct ka_global *g, void *const *ptrs, size_t n);

/**
 * @brief The global allocator whose face (ka_global_alloc_iface()) `a` is, or NULL when `a` is
 * any other allocator: a layer given a `struct ka_alloc *` (the per-CPU cache) learns so that
 * it may use the batch calls. Reads only `a`'s head until it knows `a` is such a face. O(1).
 */
struct ka_global *ka_global_of(struct ka_alloc *a);

/**
 * @brief Keep the ownership table from now on, so that ka_global_owns() answers in O(1)
 * without the lock. Two forms, chosen here:
 *  - flat, when the platform reserves zero-reading address space committed on first write
 *    (ka_plat_reserve(): the hosted platform): one code byte per
 *    chunk-aligned slot of the whole address space (2^48 / chunk size bytes of address space,
 *    64 MiB for 4 MiB chunks), so a lookup is a shift and one load; memory: one page per 4096
 *    slots written (16 GiB of 4 MiB chunks), outside the page source's figures, given back
 *    by ka_global_destroy();
 *  - radix otherwise (freestanding): two bits per slot in a root of one page or a few, mapped at
 * once, and two levels of one page each below it, mapped from the page source as chunks and large
 *    blocks appear; they stay mapped until ka_global_destroy(). Cost: two pages per 2^14
 *    chunks of address range the heap touches (4 GiB of 256 KiB chunks), counted by the page
 *    source in its used_pages.
 * Either way: a few stores per chunk or large block mapped or unmapped (one per chunk-sized
 * slot a large block covers). A chunk or large block whose radix entry cannot be mapped is
 * not made (out of memory).
 * The chunks and large blocks that exist already are recorded at once.
 * @return 0, or KA_ENOMEM when a page of the table cannot be mapped (no table then).
 * Call before sharing `g`. O(chunks + large blocks). Idempotent. Takes the lock.
 */
int ka_global_owns_table(struct ka_global *g);

/**
 * @brief Does `ptr` lie in memory that `g` holds for blocks, so that ptr and the bytes just
 * below it (where in-band headers are: the chunk's, the backend's, a cache's) may be read?
 * Slots are chunk-sized and chunk-aligned. True iff ptr - 1 lies in
 *  - a sub-heap chunk of g, and ptr past the chunk's header and inside the chunk; or
 *  - the slot holding a live large block's header, and ptr in the block's usable bytes; or
 *  - a slot a live large block's mapping covers whole (past its header), and ptr is inside
 *    it or at its end with the mapping going on; or
 *  - the partly covered last slot of a live large block, within the slot's first page
 *    (the only part of that slot the table knows to be mapped).
 * So a true answer means ptr and the bytes from its slot's start up to it are readable.
 * False for every other address (NULL, unmapped memory, the stack, a global, another
 * allocator's memory, pages from ka_global_alloc_pages(), chunk headers). It does not say
 * that ptr starts a live block: the block's own (in-band) checks answer that.
 * Complexity: O(1): with the table (ka_global_owns_table()), one load of the flat map or three
 * dependent loads of the radix table (a root entry, a leaf pointer, a word of two-bit codes), plus
 * a load or two of the header in a header slot, or three more loads at a slot boundary; without the
 * table, the lock and a walk of the chunks and large blocks (O(chunks + large blocks)). Thread
 * safety: with the table, no lock is taken: the table is written under the allocator's lock with
 * release stores and read with acquire loads, so the answer is exact for every chunk mapped before
 * the call and every block the caller owns. A concurrent unmap of the chunk holding ptr (ptr freed
 * by another thread meanwhile) may make the answer stale; that is a race on ptr in the caller.
 */
bool ka_global_owns(struct ka_global *g, const void *ptr);

/** @cond internal: the table's geometry and a sub-heap chunk's header, as owns.c has them
 * (it asserts they agree), for ka_global_owns_fast(). */
#if UINTPTR_MAX > 0xffffffffu
#define KA_OWNS_VA_BITS	  48u
#define KA_OWNS_PTR_SHIFT 3u
#else
#define KA_OWNS_VA_BITS	  32u
#define KA_OWNS_PTR_SHIFT 2u
#endif
#define KA_OWNS_LEAF_BITS    (KA_CFG_PAGE_SHIFT + 2u)
#define KA_OWNS_MID_BITS     (KA_CFG_PAGE_SHIFT - KA_OWNS_PTR_SHIFT)
#define KA_OWNS_CODE_HEAD    1u
#define KA_OWNS_FLAT_HEAP    5u		 /* the flat map's code of a sub-heap chunk's slot */
#define KA_GLOBAL_HEAP_MAGIC 0x48454150u /* a sub-heap chunk's kind */
#define KA_GLOBAL_HEAP_HDR   (UINTPTR_MAX > 0xffffffffu ? 128u : 64u)
/** @endcond */

/**
 * @brief The common case of ka_global_owns(), inline and reading nothing but the flat map:
 * true when the flat map (ka_global_owns_table()) says that ptr lies in a sub-heap chunk past
 * its header (then ka_global_owns() is true too); false when it cannot tell so at once (no
 * flat map, another kind of slot, an upper-half address): ask ka_global_owns() then.
 * O(1): a shift, one acquire load of the map, a compare and an AND. Lock free, as
 * ka_global_owns().
 */
static inline bool ka_global_owns_inline(const struct ka_global *g, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr, idx = p >> g->chunk_shift;

	/* owns_flat_low is 0 without the map, so owns_flat is read only when it exists. */
	/* The last test: ptr is past the chunk's header, i.e. its offset in the chunk has a bit
	 * at or above the header's size (one AND with the mask, written with the map). */
	return idx < __atomic_load_n(&g->owns_flat_low, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&g->owns_flat[idx], __ATOMIC_ACQUIRE) == KA_OWNS_FLAT_HEAP &&
	       (p & g->owns_body_mask) != 0;
}

/**
 * @brief ka_global_owns(), with its common case inline: ptr inside a sub-heap chunk (the flat
 * map's byte, ka_global_owns_inline(); or, with the radix table, three acquire loads of the
 * table and the chunk's first word), else the call. Same answer, contract and thread safety
 * as ka_global_owns(). O(1).
 */
static inline bool ka_global_owns_fast(struct ka_global *g, const void *ptr)
{
	uintptr_t p = (uintptr_t)ptr, cs = g->chunk_size, lo = (p - 1) & ~(cs - 1), idx = lo;
	void **root;

	if (ka_global_owns_inline(g, ptr))
		return true;
	root = __atomic_load_n(&g->owns_root, __ATOMIC_ACQUIRE);

#if UINTPTR_MAX > 0xffffffffu
	if (__builtin_expect((idx >> (KA_OWNS_VA_BITS - 1)) != 0, 0))
		return ka_global_owns(g, ptr); /* upper half, NULL, non-canonical */
#endif
	idx >>= g->chunk_shift;
	if (__builtin_expect(root != NULL &&
				 (idx >> (KA_OWNS_LEAF_BITS + KA_OWNS_MID_BITS)) < g->owns_root_len,
			     1)) {
		void **mid =
		    __atomic_load_n((void ***)&root[idx >> (KA_OWNS_LEAF_BITS + KA_OWNS_MID_BITS)],
				    __ATOMIC_ACQUIRE);
		if (__builtin_expect(mid != NULL, 1)) {
			const uintptr_t *leaf = __atomic_load_n(
			    (uintptr_t **)&mid[(idx >> KA_OWNS_LEAF_BITS) &
					       (((uintptr_t)1 << KA_OWNS_MID_BITS) - 1)],
			    __ATOMIC_ACQUIRE);
			if (__builtin_expect(leaf != NULL, 1)) {
				size_t per = sizeof(uintptr_t) * 4u;
				uintptr_t w = __atomic_load_n(
				    &leaf[(idx & (((uintptr_t)1 << KA_OWNS_LEAF_BITS) - 1)) / per],
				    __ATOMIC_ACQUIRE);
				if (((w >> ((idx % per) * 2u)) & 3u) == KA_OWNS_CODE_HEAD &&
				    *(const uintptr_t *)lo == (KA_GLOBAL_HEAP_MAGIC ^ lo))
					return p >= lo + KA_GLOBAL_HEAP_HDR && p - lo < cs;
			}
		}
	}
	return ka_global_owns(g, ptr);
}

/** @brief Usable bytes of a live block (>= what was asked); 0 for NULL. O(1). Thread safe. */
size_t ka_global_usable_size(struct ka_global *g, const void *ptr);

/**
 * @brief Allocate `npages` contiguous pages aligned to `align` (power of two >= KA_PAGE_SIZE)
 * straight from the page source (no header: free with ka_global_free_pages() and the same
 * count). Frame source: physically contiguous. Fails (NULL) iff npages is 0, the size
 * overflows, align is invalid, or no memory after the out-of-memory hook. Thread safe.
 */
void *ka_global_alloc_pages(struct ka_global *g, size_t npages, size_t align);

/** @brief Free pages from ka_global_alloc_pages(). NULL is a no-op. Thread safe. */
void ka_global_free_pages(struct ka_global *g, void *ptr, size_t npages);

/**
 * @brief Fill *out with the allocator's figures, consistently (under the lock).
 * O(1): every figure is a counter kept as blocks, chunks and pages move (never a walk of
 * the heap, so a program may ask in a loop, as malloc_trim() callers do). Thread safe.
 */
void ka_global_stats(struct ka_global *g, struct ka_global_stats *out);

/** @brief The byte allocator's name ("tlsf", "slab", ...). O(1). */
const char *ka_global_name(const struct ka_global *g);

/**
 * @brief Check every sub-heap, every chunk header and large block, the bookkeeping (live
 * counts against a walk, at most one empty chunk, page counts) and the page source.
 * @return the number of inconsistencies (each logged); 0 when healthy. Never aborts.
 * O(heap). Thread safe.
 */
unsigned ka_global_check(struct ka_global *g);

/**
 * @brief Give every chunk and large block back to the page source. Live blocks become
 * invalid; pages from ka_global_alloc_pages() stay mapped (they are not tracked).
 * Not thread safe: no other call may run concurrently. O(chunks + large blocks).
 */
void ka_global_destroy(struct ka_global *g);

#endif /* KALLOC_GLOBAL_H */
