/* SPDX-License-Identifier: MIT */
/**
 * @file config.h
 * @brief Build-time configuration of kalloc.
 *
 * Every knob is a `KA_CFG_` macro with a default here; a kernel overrides it with `-D` on its
 * compiler line (CMake passes the cache options through). Nothing in this header depends on
 * the platform: it is safe to include from freestanding code.
 */
#ifndef KALLOC_CONFIG_H
#define KALLOC_CONFIG_H

#include <stddef.h>

/** Debug level: 0 none, 1 contract asserts, 2 internal checks, 3 full check after every op. */
#ifndef KA_CFG_DEBUG
#define KA_CFG_DEBUG 0
#endif

/** log2 of the page (and frame) size. 12 gives 4 KiB pages. */
#ifndef KA_CFG_PAGE_SHIFT
#define KA_CFG_PAGE_SHIFT 12
#endif

/** Page size in bytes, derived from KA_CFG_PAGE_SHIFT. */
#define KA_PAGE_SIZE ((size_t)1 << KA_CFG_PAGE_SHIFT)

/**
 * Alignment of every pointer returned by ka_malloc(): the C library's guarantee
 * (`alignof(max_align_t)`), so that kalloc can replace malloc.
 */
#ifndef KA_CFG_MIN_ALIGN
#define KA_CFG_MIN_ALIGN _Alignof(max_align_t)
#endif

/** Bytes reserved for a platform lock inside allocator state (hosted: a pthread mutex). */
#ifndef KA_CFG_LOCK_BYTES
#define KA_CFG_LOCK_BYTES 64
#endif

/**
 * Non-zero when the target has a count-leading/trailing-zeros instruction the compiler emits
 * inline. When zero, kalloc uses its own bit scans instead of `__builtin_clz` (which would
 * otherwise call libgcc's `__clzsi2`/`__clzdi2` on e.g. rv64gc without Zbb or Cortex-M0).
 * On Arm the ACLE macro `__ARM_FEATURE_CLZ` says it for the current instruction set: the
 * architecture version alone does not (Thumb-1 code on ARMv5TE/ARMv6 and ARMv8-M Baseline,
 * e.g. Cortex-M23, have no CLZ).
 */
#ifndef KA_CFG_HAVE_CLZ
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) ||                            \
    defined(__ARM_FEATURE_CLZ) || defined(__riscv_zbb)
#define KA_CFG_HAVE_CLZ 1
#else
#define KA_CFG_HAVE_CLZ 0
#endif
#endif

/**
 * Minimal configuration for firmware (docs/code-size.md): 1 changes the defaults of the knobs
 * below to KA_CFG_STATS 0, KA_CFG_REPORT 0 and KA_CFG_CHECK 0, so that a program with one
 * heap links the allocation paths and the misuse detection and nothing else. Each knob can
 * still be set on its own. It also keeps tlsf and tiny to the one region given to their init
 * (ka_add_memory() returns KA_ENOTSUP; ka_boot() then skips the map's further regions).
 * CMake: -DKA_MINIMAL=ON.
 */
#ifndef KA_CFG_MINIMAL
#define KA_CFG_MINIMAL 0
#endif

/**
 * Keep per-allocator statistics (ka_stats). The backends count each block where they hand it
 * out or take it back (alloc_counted, free_counted): about 10 instructions per operation
 * (docs/bench.md). When 0,
 * ka_stats() still answers, but only nb_enomem (failed requests) moves; every other figure
 * stays at its initial value.
 */
#ifndef KA_CFG_STATS
#define KA_CFG_STATS (!KA_CFG_MINIMAL)
#endif

/**
 * Formatted reports. 1: a misuse panics with the heap's name, what was wrong and the pointer
 * in hex, and a checker finding is logged the same way. 0: no formatter is linked; a misuse
 * calls ka_plat_panic() with the fixed message "kalloc: heap misuse", a failed assertion with
 * "kalloc: assertion failed", and a checker finding logs "kalloc: check failed". Detection is
 * the same either way: only the message differs.
 */
#ifndef KA_CFG_REPORT
#define KA_CFG_REPORT (!KA_CFG_MINIMAL)
#endif

/**
 * Heap checker and walker of the tiny and tlsf backends. 0 leaves them out of the build:
 * their ops tables carry no check and no walk, KA_CAP_WALK is not in their caps, ka_walk()
 * returns KA_ENOTSUP and ka_check() returns 0 (no checker ran, so it found nothing). The
 * checks made on every free (double free, foreign pointer, corrupted neighbour) stay.
 */
#ifndef KA_CFG_CHECK
#define KA_CFG_CHECK (!KA_CFG_MINIMAL)
#endif

/**
 * Variant of the tiny backend (docs/backend-tiny.md). 0: the binned variant, boundary tags
 * and 32 segregated free lists (src/backend/tiny.c): O(1) free and, for the common sizes,
 * O(1) malloc. 1: the compact variant (src/backend/tiny_compact.c), one address-ordered free
 * list: about a third of the code, with merging, double-free detection, statistics,
 * formatted reports, ka_add_memory(), ka_owns() and the checker and walker kept (the last
 * three per the knobs above), but first fit, so malloc and free are O(free blocks).
 * Defaults to 1 when the compiler optimises for size (-Os/-Oz: `__OPTIMIZE_SIZE__`, as newlib
 * picks its small variants) or in the minimal configuration, else 0. A program built at -Os
 * that needs O(1) operations sets it to 0; -DKA_CFG_TINY_COMPACT=1 builds the compact one
 * at any level. The library's objects decide: code that includes tiny's private headers
 * must see the same value.
 */
#ifndef KA_CFG_TINY_COMPACT
#if KA_CFG_MINIMAL || defined(__OPTIMIZE_SIZE__)
#define KA_CFG_TINY_COMPACT 1
#else
#define KA_CFG_TINY_COMPACT 0
#endif
#endif

/**
 * Memory-checker annotations (docs/annotate.md): 0 none, 1 Valgrind client requests (hosted,
 * needs <valgrind/memcheck.h>; one load and branch per call when not on Valgrind), 2 ASan
 * poisoning (needs -fsanitize=address). CMake sets it from -DKA_ANNOTATE=valgrind|asan.
 */
#ifndef KA_CFG_ANNOTATE
#define KA_CFG_ANNOTATE 0
#endif

/** Name of the backend ka_backend_default() returns and ka_boot() uses without a name. */
#ifndef KA_CFG_DEFAULT_BACKEND
#define KA_CFG_DEFAULT_BACKEND "tlsf"
#endif

#endif /* KALLOC_CONFIG_H */
