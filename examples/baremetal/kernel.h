/* SPDX-License-Identifier: MIT */
/*
 * Interface between the architecture-independent kernel (kernel.c, kprintf.c, fdt.c) and
 * each architecture's start-up code (arch/<arch>/). The arch code sets up a stack, clears
 * BSS, collects the firmware's memory map into a struct boot_params, and calls
 * kernel_main(), which never returns: it ends with arch_exit().
 */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "kalloc/boot.h"

/** Most memory-map entries the kernel keeps (firmware entries plus its own reservations). */
#define BOOT_MAX_MAP 64

/** Most CPUs the kernel brings up (the rest stay parked). */
#define KMAX_CPUS 8

/** Longest kernel command line kept (longer ones are cut). */
#define BOOT_CMDLINE_MAX 256

/** What the arch code found at boot. Lives in BSS: the firmware's copy may be overwritten. */
struct boot_params {
	const char *arch;			/**< "i386", "riscv64" */
	const char *firmware;			/**< where the map came from ("multiboot", "fdt") */
	struct ka_mem_region map[BOOT_MAX_MAP]; /**< usable RAM and reserved ranges, any order */
	const char *what[BOOT_MAX_MAP];		/**< per entry: a label for the log */
	size_t count;
	char cmdline[BOOT_CMDLINE_MAX];
	uint64_t ram_bytes; /**< usable RAM the firmware reported (before reservations) */
	uint64_t ignored;   /**< usable bytes not addressable by this kernel (above 4 GiB) */
	const void *guard;  /**< firmware data that must survive the run (the DTB), or NULL */
	size_t guard_len;
	unsigned ncpus;			 /**< CPUs found (>= 1; the boot CPU is index 0) */
	unsigned long cpu_hw[KMAX_CPUS]; /**< per index: hart id / local APIC id */
};

/** Add an entry to bp->map (silently dropped, with a log line, when the table is full). */
void boot_add(struct boot_params *bp, uint64_t base, uint64_t len, unsigned type, const char *what);

/** The common kernel: set up kalloc, run the tests, exit QEMU. */
noreturn void kernel_main(struct boot_params *bp);

/* ---- provided by arch/<arch>/ ------------------------------------------------------- */

/** Write one character to the serial console ('\n' is sent as "\r\n" by kputc). */
void arch_putc(char c);
/** Leave QEMU with the pass or fail status (isa-debug-exit, SiFive test finisher). */
noreturn void arch_exit(bool pass);
/** Disable interrupts, return the previous state (platform hook irq_save). */
unsigned long arch_irq_save(void);
/** Restore the state arch_irq_save() returned (platform hook irq_restore). */
void arch_irq_restore(unsigned long flags);

/**
 * Index (0 .. bp->ncpus-1) of the calling CPU, from a per-CPU register the arch code set
 * when the CPU came up (riscv64: tp; x86_64: the GS base); the platform hook cpu_id.
 */
unsigned arch_cpu_id(void);
/**
 * Start CPU `idx` (hardware id `hw`) on `stack_top`: it sets its per-CPU register to idx,
 * interrupts off, and calls entry(idx), which must not return. @return false when this
 * architecture cannot start CPUs or the CPU did not answer.
 */
bool arch_start_cpu(unsigned idx, unsigned long hw, void *stack_top, void (*entry)(unsigned));
/** Stop the calling CPU for good (interrupts off, halted). */
noreturn void arch_cpu_park(void);

/** Linker-script symbols: the kernel image, from its first byte to the end of BSS. */
extern char kernel_image_start[], kernel_image_end[];

/* ---- kprintf.c --------------------------------------------------------------------- */

void kputc(char c);
void kputs(const char *s);
/**
 * Minimal printf: %s %c %d %u %x %p, with the length modifiers l, ll and z, a field width and
 * '0' padding (%08x, %-12s). 64-bit values are printed without 64-bit division (i386 has no
 * libgcc here).
 */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kvprintf(const char *fmt, va_list ap);

/* ---- fdt.c ------------------------------------------------------------------------- */

/**
 * Read a flattened device tree: every /memory node's reg as usable RAM, the memory reserve
 * map and /reserved-memory children as reserved, /chosen/bootargs as the command line, and
 * the blob itself as reserved, and each /cpus/cpu@N (its hart id) into bp->cpu_hw / ncpus.
 * @return 0, or -1 if the blob is not a valid FDT.
 */
int fdt_read(const void *fdt, struct boot_params *bp);

/** Bytes of the blob at fdt (its totalsize header field), 0 if it is not an FDT. */
size_t fdt_size(const void *fdt);

#endif /* KERNEL_H */
