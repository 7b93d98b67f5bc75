/* SPDX-License-Identifier: MIT */
/**
 * @file tlsf.h
 * @brief TLSF (Two-Level Segregated Fit) byte allocator: O(1) malloc/free for real-time use.
 *
 * The default backend of kalloc. Free blocks sit on segregated lists indexed by a two-level
 * bitmap (a power of two, then 32 linear steps inside it); an allocation finds a list whose
 * every block fits with two find-first-set instructions, a free merges the block with both
 * physical neighbours at once. No operation loops over blocks or over the heap: alloc, free,
 * realloc and usable_size take a bounded number of steps whatever the heap's size or
 * fragmentation (see docs/backend-tlsf.md for the worst case and the overhead).
 *
 * All figures below are also available at run time so that a kernel can place the allocator
 * without guessing:
 *  - ka_tlsf_control_size(): bytes the control structure takes at the start of init's region;
 *  - ka_tlsf_pool_overhead() / ka_tlsf_min_pool_size(): what one pool (init's remainder or an
 *    ka_add_memory() region) costs and the smallest one accepted;
 *  - ka_tlsf_block_overhead(): bytes each allocation costs on top of its usable size;
 *  - ka_tlsf_max_block_size(): the largest single allocation the format can describe.
 *
 * Use it through the generic interface (kalloc/alloc.h): ka_malloc(), ka_free(),
 * ka_memalign(), ka_realloc() (in place when the next block allows), ka_usable_size(),
 * ka_add_memory() (any number of pools, any time), ka_check(), ka_walk(), ka_owns().
 *
 * Misuse detection is always on and O(1): freeing (or asking the size of) a pointer that is
 * misaligned or outside the hull of all pools, a block that is already free, or a pointer whose
 * header is implausible or whose next block does not point back (interior or forged pointers,
 * overwritten headers) calls ka_misuse() (a panic). With several pools a pointer inside the
 * hull must also lie in one pool, with its stride ending inside it, before its header is
 * trusted (O(pools), only when there are several), so a pointer into the gap between two
 * regions is refused without reading the gap.
 *
 * Worst case, in instructions: no operation has a loop whose length depends on the heap's size,
 * the number of blocks, lists or pools (owns() and add_memory()'s overlap test walk the pools).
 * The longest ka_malloc() misses in its row, searches the first-level bitmap, unlinks a list
 * head, splits it and inserts the remainder (two bit scans, one unlink, one insert); the
 * longest ka_free() validates the pointer and merges with both neighbours (two unlinks, one
 * insert). tests/callgrind/worst_case.sh replays that sequence under callgrind on a 1 MiB and a
 * 64 MiB heap: at most 165 instructions per ka_malloc() and 190 per ka_free() (x86-64, gcc
 * -O2, statistics on, generic layer included), the same on both heaps; the test allows 40 more
 * for other compilers.
 *
 * Minimal configuration (KA_CFG_MINIMAL, docs/code-size.md): one pool, the remainder of
 * ka_tlsf_init()'s region. ka_add_memory() returns KA_ENOTSUP and KA_CAP_ADDMEM is not in the
 * caps; ka_realloc() moves through the generic fallback (no KA_CAP_REALLOC); no checker or
 * walker; every misuse panics with the one fixed message. The misuse checks, immediate
 * coalescing and the O(1) bounds stay the same.
 *
 * Thread safety: none (wrap it in a locked adapter). Nothing here allocates or calls libc.
 */
#ifndef KALLOC_TLSF_H
#define KALLOC_TLSF_H

#include <stddef.h>

#include "alloc.h"

/**
 * @brief Registry entry ("tlsf"): caps FREE, ANYSIZE, ADDMEM, REALLOC, WALK, OWNS (minimal
 * configuration: FREE, ANYSIZE, OWNS).
 */
extern const struct ka_backend ka_backend_tlsf;

/**
 * @brief Build a TLSF heap in [base, base+len): the control structure at the (aligned) start,
 * the rest becomes the first pool.
 * @return the allocator (pointing into the region), or NULL iff base is NULL, base + len
 * overflows, or len < ka_tlsf_control_size() + ka_tlsf_min_pool_size() (the registry's
 * min_size); the limit does not depend on the alignment of base.
 * O(1) (clears the control structure, about 15 KiB on 64-bit targets, 3 KiB on 32-bit).
 * Payloads are aligned to KA_CFG_MIN_ALIGN. Not thread safe.
 */
struct ka_alloc *ka_tlsf_init(void *base, size_t len);

/**
 * @brief Worst-case bytes the control structure takes at the start of ka_tlsf_init()'s region
 * (its size plus alignment slack). O(1), thread safe.
 */
size_t ka_tlsf_control_size(void);

/**
 * @brief Bytes one allocation costs besides its usable size: the block header (two words).
 * Each block's stride is its usable size plus this, rounded up to KA_CFG_MIN_ALIGN, and at
 * least the minimum block. O(1), thread safe.
 */
size_t ka_tlsf_block_overhead(void);

/**
 * @brief Bytes of a pool that no allocation can use: pool header, first block header and the
 * end sentinel, when base and len are multiples of KA_CFG_MIN_ALIGN. Such a pool starts as one
 * free block of usable size len - ka_tlsf_pool_overhead(). Otherwise up to
 * 2 * (KA_CFG_MIN_ALIGN - 1) more bytes are lost to alignment. O(1), thread safe.
 */
size_t ka_tlsf_pool_overhead(void);

/**
 * @brief Smallest len that ka_add_memory() accepts, whatever the base (one minimum block fits
 * even at the worst alignment). Smaller regions fail with KA_EINVAL. O(1), thread safe.
 */
size_t ka_tlsf_min_pool_size(void);

/**
 * @brief Largest usable size a single block can have (half the address space minus the
 * header). A pool larger than a block can describe is cut to that size (only possible on
 * 32-bit targets, pools above 2 GiB). O(1), thread safe.
 */
size_t ka_tlsf_max_block_size(void);

#endif /* KALLOC_TLSF_H */
