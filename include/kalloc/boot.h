/* SPDX-License-Identifier: MIT */
/**
 * @file boot.h
 * @brief Boot-time heap setup from a firmware memory map (Unikraft ukboot's heap loop).
 *
 * The kernel passes the map it got from firmware (multiboot, e820, UEFI, a device tree)
 * with its own image, the device tree blob and anything else it must keep added as
 * KA_MEM_RESERVED entries. ka_boot() then:
 *  1. keeps the usable entries, clips them inward to page boundaries, drops empty ones,
 *     including entries whose end would wrap around the address space;
 *  2. sorts them by address and merges overlapping or touching ones;
 *  3. cuts every non-usable entry out of them (reserved wins over usable where they overlap,
 *     whatever the order in the map);
 *  4. builds the chosen backend on the first remaining region at least the backend's
 *     min_size long, and adds every later region with ka_add_memory(); regions too small
 *     or refused are skipped and counted;
 *  5. makes the result the default allocator (ka_set_default()).
 * Addresses in the map are virtual addresses the kernel can already access (a direct map).
 */
#ifndef KALLOC_BOOT_H
#define KALLOC_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"

/** Kinds of memory-map entries. Only KA_MEM_USABLE memory is given to the heap. */
enum ka_mem_type {
	KA_MEM_USABLE = 1,
	KA_MEM_RESERVED = 2,
	KA_MEM_ACPI_RECLAIMABLE = 3,
	KA_MEM_ACPI_NVS = 4,
	KA_MEM_BAD = 5,
};

/** One memory-map entry. */
struct ka_mem_region {
	uintptr_t base; /**< first byte */
	size_t len;	/**< length in bytes */
	unsigned type;	/**< enum ka_mem_type; unknown values are treated as reserved */
};

/** Most usable pieces ka_boot() can track after cutting out reserved entries. */
#ifndef KA_CFG_BOOT_MAX_REGIONS
#define KA_CFG_BOOT_MAX_REGIONS 64
#endif

/** What ka_boot() did. */
struct ka_boot_info {
	const char *backend;	/**< name of the backend used (NULL if none was found) */
	size_t regions_used;	/**< regions given to the allocator (init + added) */
	size_t regions_skipped; /**< usable pieces too small or refused by the backend */
	size_t regions_dropped; /**< usable pieces beyond KA_CFG_BOOT_MAX_REGIONS */
	size_t bytes_managed;	/**< sum of the lengths of the regions used */
	uintptr_t first_base;	/**< region that made the allocator */
	size_t first_len;
};

/**
 * @brief Build the heap from a memory map.
 * @param map entries in any order, possibly overlapping; not modified.
 * @param count number of entries (0 allowed).
 * @param backend registry name ("tlsf", "buddy", ...), or NULL for the build's default
 *        (CMake option KA_DEFAULT_BACKEND, i.e. KA_CFG_DEFAULT_BACKEND).
 * @param info filled in when non-NULL (also on failure).
 * @return the allocator, or NULL (with a warning logged) when the backend name is unknown
 *         or no usable region is large enough. Never panics on a bad map.
 * Complexity O(count^2 + pieces * backend add cost). Not thread safe: call once at boot,
 * on one CPU (it uses a static scratch table of KA_CFG_BOOT_MAX_REGIONS entries).
 */
struct ka_alloc *ka_boot(const struct ka_mem_region *map, size_t count, const char *backend,
			 struct ka_boot_info *info);

#endif /* KALLOC_BOOT_H */
