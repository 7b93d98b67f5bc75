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
#include "cache.h"
#include "dma.h"
#include "fbitmap.h"
#include "fbuddy.h"
#include "global.h"

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

/* ---- the whole memory subsystem from one map ------------------------------------------ */

/** Most DMA zones a system can have (each is an upper bus-address limit). */
#ifndef KA_CFG_BOOT_MAX_ZONES
#define KA_CFG_BOOT_MAX_ZONES 4
#endif

/** @brief Settings of ka_boot_system(); zero members take the defaults. */
struct ka_system_config {
	const char *frames;  /**< frame allocator: "fbitmap" or "fbuddy"; NULL = "fbuddy" */
	const char *backend; /**< byte backend of the global allocator and of the DMA
				  sub-heaps; NULL = ka_backend_default() */
	bool percpu_cache;   /**< per-CPU caches (kalloc/cache.h) in front of the global
				  allocator: sys->alloc is then the cache */
	struct ka_cache_config cache; /**< the caches' settings when percpu_cache (zero:
					   defaults; ncpus 0 = ka_plat_cpu_count(), so the
					   kernel's cpu_count hook must be set before the call) */
	uintptr_t dm_off;	      /**< direct map: vaddr = paddr + dm_off; KA_DM_NONE = the
					   platform's ka_plat_phys_to_virt()/virt_to_phys() hooks */
	unsigned chunk_shift;  /**< global allocator chunk size (ka_global_config); 0 = default */
	ka_paddr_t bus_offset; /**< DMA bus = phys + bus_offset */
	size_t nzones;	       /**< DMA zones in use (<= KA_CFG_BOOT_MAX_ZONES) */
	ka_paddr_t zones[KA_CFG_BOOT_MAX_ZONES]; /**< each zone: every bus address below this
						      limit (e.g. 1ull << 32: "below 4 GiB") */
};

/**
 * @brief A booted memory subsystem. Caller-provided storage (typically static); members are
 * private but for reading: use `alloc` (bytes), `global` (ka_global_*, pages), `dma`.
 */
struct ka_system {
	struct ka_alloc *alloc; /**< the byte allocator every CPU calls (ka_malloc, ...) */
	struct ka_alloc *cache; /**< the per-CPU cache (== alloc), NULL without one */
	void *cache_mem;	/**< its metadata: cache_pages pages from the frames */
	size_t cache_pages;
	struct ka_global global;    /**< the global allocator growing from the frames */
	struct ka_dma dma;	    /**< coherent DMA buffers from the same frames */
	struct ka_frame_source src; /**< the frames as a page source (with its lock) */
	struct ka_frame_alloc *fa;  /**< the frame allocator (inside `frames`) */
	union {
		struct ka_fbitmap bitmap;
		struct ka_fbuddy buddy;
	} frames;
	size_t nzones;
	ka_paddr_t zones[KA_CFG_BOOT_MAX_ZONES];
	struct ka_boot_info info; /**< regions used/skipped/dropped; bytes_managed = frames'
				       regions (their metadata included) */
};

/**
 * @brief Boot the whole memory subsystem from the firmware's map (Unikraft's ukboot heap
 * setup plus ArceOS's axalloc::global_init/add_memory in one step).
 * The map is cleaned as for ka_boot() (steps 1-3: clipped to pages, sorted, merged,
 * reserved entries cut out), but its addresses are PHYSICAL: every usable piece, at
 * virtual paddr + cfg->dm_off, becomes a region of the chosen frame allocator, whose
 * metadata is carved from the region's own first pages (a piece too small for metadata
 * plus one frame, or refused, is skipped and counted in sys->info). A piece at physical 0
 * under an identity map (dm_off 0) loses its first page, which cannot be addressed.
 * Then the global allocator is built over the frames (it grows chunk by chunk and gives
 * empty chunks back; ka_global_alloc_pages() and page objects (page.h) over sys->alloc
 * come from the same frames), and a DMA allocator over them; zones are kept for
 * ka_system_dma_alloc(). With cfg->percpu_cache, ka_cache_memsize() bytes (whole pages)
 * are taken from the frames for a per-CPU cache over the global allocator, which becomes
 * sys->alloc (every CPU's ka_malloc/ka_free go through its magazines; page objects over
 * it forward to the global allocator). The result is made the default allocator
 * (ka_set_default()).
 * @return 0; KA_EINVAL (NULL sys/map with count, more zones than KA_CFG_BOOT_MAX_ZONES, a
 * zone limit of 0, an invalid cache configuration); KA_ENOENT (unknown frame allocator or
 * byte backend); KA_ENOMEM (no piece could hold frames, or no frames left for the cache).
 * On failure nothing is set as default. Not thread safe: call once at boot, on one CPU (static
 * scratch table). Complexity O(count^2 + pieces * frame allocator add).
 */
int ka_boot_system(struct ka_system *sys, const struct ka_mem_region *map, size_t count,
		   const struct ka_system_config *cfg);

/**
 * @brief Allocate a zeroed coherent DMA buffer whose every byte has a bus address below
 * zone `zone`'s limit (zone == sys->nzones: no limit). @return as ka_dma_alloc_coherent(),
 * or KA_EINVAL for a zone beyond sys->nzones. Thread safe.
 */
int ka_system_dma_alloc(struct ka_system *sys, size_t zone, size_t size, size_t align,
			struct ka_dma_buf *out);

/**
 * @brief Check every layer: the per-CPU cache if any (the calling CPU's magazines and every
 * depot; other CPUs' magazines are theirs, see ka_check() in kalloc/cache.h), the global
 * allocator (its sub-heaps, counters and the frame source), the DMA allocator and the frame
 * allocator. @return inconsistencies (logged), 0 when healthy. Never aborts. O(heap).
 * Thread safe.
 */
unsigned ka_system_check(struct ka_system *sys);

#endif /* KALLOC_BOOT_H */
