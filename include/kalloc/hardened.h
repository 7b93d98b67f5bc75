/* SPDX-License-Identifier: MIT */
/**
 * @file hardened.h
 * @brief Hardened byte allocator: Oscar-style protection (Unikraft paper) done in software.
 *
 * Built for detecting heap misuse rather than for speed (docs/backend-hardened.md measures the
 * cost against tlsf). What it does, all of it always on:
 *  - Out-of-band metadata: no header next to any block. Size classes live in runs of slots;
 *    the per-page table, the per-run slot bitmaps and the quarantine sit in a separate area at
 *    the start of the region, below the arena, so that no overflow running upwards from a
 *    block can reach them; a canary page between the two (verified by the checker) shows an
 *    underflow of the first arena page. Pointers are resolved through the page table only.
 *  - Canaries right after the requested bytes: usable size is the size asked for (not the
 *    size class), and the bytes after it hold a canary (up to 8 bytes, keyed by the per-heap
 *    secret and their address, first byte never 0, so an off-by-one NUL is caught). The last
 *    8 bytes of the slot, the tail, carry the requested size bound to the slot's address by
 *    the secret (no size table in the metadata). free() and realloc() verify tail and canary,
 *    so a linear overflow of even one byte is reported at that call, and the next slot of
 *    the run: a live one by its tail, a free or quarantined one by its first 16 bytes of
 *    poison (an overflow that reached it). realloc() within the same class stays in place
 *    and moves the canary to the new end.
 *  - Randomised placement: a new block takes a random free slot of its run (a per-heap
 *    xorshift generator seeded from ka_plat_entropy()).
 *  - Quarantine: a freed block is filled with a poison byte and queued (FIFO, at most
 *    KA_HARDENED_QUARANTINE blocks and 1/8 of the heap's bytes) before it can be reused; the
 *    poison is verified when it leaves the queue and again (the whole slot) when the slot is
 *    handed out, so a write after free is reported; ka_hardened_sweep() verifies what is
 *    still in the queue, for the end of a program (the shim calls it at exit). A double
 *    free is reported as long as the slot was not handed out again, in quarantine or after
 *    (the slot is then free, and slots are chosen at random among a run's free ones, so a
 *    released slot is seldom the next one handed out). Large blocks are poisoned in their first
 *    KA_HARDENED_LARGE_POISON bytes only (the cost of whole blocks is in the docs). A
 *    request that would fail drains the queue first: the quarantine delays reuse, it never
 *    makes an allocation fail.
 *  - Large blocks (above KA_HARDENED_MAX_SMALL bytes, alignments above a page, and all
 *    ka_palloc() blocks) take whole pages followed by a trailer page. Where the platform can
 *    protect pages (hosted: mprotect) the trailer of a live block is a guard page (made
 *    accessible again when the block is freed). Each guard splits a kernel mapping in three,
 *    so at most `guard_limit` guards are live per heap (default KA_HARDENED_GUARD_LIMIT, at
 *    most 2 * 4096 extra mappings against Linux's default of 65,530): past it, or when the
 *    kernel refuses, the trailer is a canary page checked on free instead, counted in
 *    ka_hardened_stats() and logged once at KA_LOG_WARN.
 *
 * Misuse reported through ka_misuse() (a panic: "kalloc: hardened: <what> (ptr 0x...)"),
 * from free(), usable_size(), realloc() and pfree(): a pointer outside the heap (stack,
 * global, another heap's), a misaligned or interior pointer, a double free (block in
 * quarantine or already free again), a changed canary or tail (overflow, also from the
 * previous slot), a changed poison pattern (write after free: from malloc when the block
 * leaves quarantine or its slot is handed out, from ka_hardened_sweep()), realloc of a freed
 * pointer, ka_pfree() with a page count other than
 * the one given to ka_palloc(), ka_free() of a ka_palloc() block and ka_pfree() of a
 * ka_malloc() block.
 *
 * Guard pages are protected pages inside the caller's region, and exist only while their
 * block is live: once every block is freed the region is fully accessible and may be
 * abandoned and reused by anything, as with every backend. ka_hardened_init() makes the whole
 * region accessible first (so a region whose hardened heap was abandoned with live large
 * blocks can take a new hardened heap); ka_hardened_release() does it for a live heap.
 *
 * Regions: ka_add_memory() makes the added region a heap of its own with the same layout
 * (its own metadata, quarantine and canary secret), listed after the first; allocation tries
 * the regions in the order they were added, a free goes to the region whose arena holds the
 * pointer (O(regions)), and the guard-page bound holds for all regions together. An added
 * region must be at least ka_hardened_min_size() bytes (KA_EINVAL) and must not overlap the
 * heap's regions (KA_EEXIST).
 *
 * What each remaining miss would cost to catch is in docs/backend-hardened.md ("Limits").
 *
 * Capabilities: FREE, ANYSIZE, ADDMEM, PAGES, WALK, OWNS. Thread
 * safety: none (wrap it in a locked adapter). Nothing here calls libc.
 */
#ifndef KALLOC_HARDENED_H
#define KALLOC_HARDENED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

/** Largest request served from size-class slots; larger ones get pages and a trailer page. */
#define KA_HARDENED_MAX_SMALL (8192 - 8)

#ifndef KA_HARDENED_QUARANTINE
/** Blocks held in quarantine per heap before the oldest is checked and reused. */
#define KA_HARDENED_QUARANTINE 32
#endif

#ifndef KA_HARDENED_LARGE_POISON
/** Bytes at the start of a freed large block that are poisoned and checked (whole pages). */
#define KA_HARDENED_LARGE_POISON 16384
#endif

#ifndef KA_HARDENED_GUARD_LIMIT
/** Default bound on live guard pages per heap (each costs up to two kernel mappings). */
#define KA_HARDENED_GUARD_LIMIT 4096
#endif

/** @brief Registry entry ("hardened"): caps FREE, ANYSIZE, PAGES, WALK, OWNS. */
extern const struct ka_backend ka_backend_hardened;

/**
 * @brief Build a hardened heap in [base, base+len): control data and metadata first, then the
 * canary page, then the page-aligned arena.
 * @return the allocator, or NULL iff base is NULL, base + len overflows or len is below
 * ka_hardened_min_size(). O(len / KA_PAGE_SIZE) (clears the per-page table; one protect call
 * over the region, whose success says whether guard pages are available). Not thread safe.
 */
struct ka_alloc *ka_hardened_init(void *base, size_t len);

/** @brief Smallest len ka_hardened_init() accepts for any base (the registry's min_size). */
size_t ka_hardened_min_size(void);

/** @brief Security figures of one hardened heap (see ka_hardened_stats()). */
struct ka_hardened_stats {
	bool guards_available;	     /**< the platform can protect pages (guards possible) */
	bool strong_seed;	     /**< secret and generator came from a real entropy source */
	size_t guard_limit;	     /**< bound on live guard pages (ka_hardened_set_guard_limit) */
	size_t guards_live;	     /**< guard pages protected now */
	uint64_t guards_made;	     /**< large blocks that got a guard page */
	uint64_t guard_fallbacks;    /**< large blocks that got a canary page instead */
	size_t quarantine_len;	     /**< blocks in quarantine now */
	size_t quarantine_bytes;     /**< their usable bytes */
	uint64_t quarantine_checked; /**< blocks whose poison was verified on leaving */
	uint64_t quarantine_drains;  /**< times a failing request emptied the quarantine */
	size_t runs;		     /**< slot runs in use */
	size_t large_live;	     /**< large and page blocks live or quarantined */
};

/**
 * @brief Copy a hardened heap's security figures into *out.
 * @return 0, or KA_EINVAL when `a` is not a hardened heap (out untouched). O(1), not thread
 * safe against operations on the same heap.
 */
int ka_hardened_stats(struct ka_alloc *a, struct ka_hardened_stats *out);

/**
 * @brief Set the bound on live guard pages of this heap (0: never use guards). Guards already
 * live stay; new large blocks get a canary page while guards_live >= limit.
 * @return 0, or KA_EINVAL when `a` is not a hardened heap. O(1). Not thread safe.
 */
int ka_hardened_set_guard_limit(struct ka_alloc *a, size_t limit);

/**
 * @brief Verify every block in the quarantine now, without releasing any: its whole poison
 * (slots; the poisoned prefix of large blocks) and its entry, plus the canary page below the
 * arena, for every region of the heap. Meant for the end of a program (the shim's exit hook)
 * so that a write after free into a block still in quarantine is reported even though no
 * later allocation reuses it; callable at any time, as often as wanted.
 *
 * Generic entry: any allocator may be passed. For one that is not a hardened heap it does
 * nothing and returns KA_EINVAL, so code that does not know the backend (the shim, a kernel's
 * shutdown path) can call it on every heap it has.
 *
 * @return 0 when every block is intact; KA_EINVAL when `a` is NULL or not hardened. A damaged
 * block is reported through ka_misuse() (the first one found, oldest first), which does not
 * return. O(blocks in quarantine + their poisoned bytes): at most KA_HARDENED_QUARANTINE
 * blocks and 1/8 of the arena's bytes per region. Not thread safe against other operations
 * on the heap.
 */
int ka_hardened_sweep(struct ka_alloc *a);

/**
 * @brief Drain the quarantine (checking each block) and make every guard page of the heap
 * accessible again (each becomes a canary page), so that the region can be given to another
 * allocator once no block is in use. The heap stays usable, without guards from then on.
 * O(heap pages).
 * @return 0, or KA_EINVAL when `a` is not a hardened heap.
 */
int ka_hardened_release(struct ka_alloc *a);

#endif /* KALLOC_HARDENED_H */
