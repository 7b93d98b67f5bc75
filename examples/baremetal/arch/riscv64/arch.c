/* SPDX-License-Identifier: MIT */
/*
 * riscv64 on QEMU virt, M-mode, no firmware: the 16550 UART at 0x10000000 for the console,
 * the SiFive test device at 0x100000 to leave QEMU, and the device tree (a1 at entry) for
 * the memory map.
 */
#include "kernel.h"

#define UART_BASE     0x10000000ul
#define UART_THR      0
#define UART_LSR      5
#define UART_LSR_THRE 0x20
#define TEST_BASE     0x100000ul
#define TEST_PASS     0x5555u
/* FAIL with exit code 1 in the upper half: QEMU exits with that code (0x3333 alone -> 0). */
#define TEST_FAIL   (0x3333u | (1u << 16))
#define MSTATUS_MIE 0x8ul

static struct boot_params bp;

void arch_putc(char c)
{
	volatile uint8_t *uart = (volatile uint8_t *)UART_BASE;

	while (!(uart[UART_LSR] & UART_LSR_THRE)) {
	}
	uart[UART_THR] = (uint8_t)c;
}

noreturn void arch_exit(bool pass)
{
	*(volatile uint32_t *)TEST_BASE = pass ? TEST_PASS : TEST_FAIL;
	for (;;)
		__asm__ volatile("wfi");
}

unsigned long arch_irq_save(void)
{
	unsigned long old;

	__asm__ volatile("csrrc %0, mstatus, %1" : "=r"(old) : "r"(MSTATUS_MIE) : "memory");
	return old & MSTATUS_MIE;
}

void arch_irq_restore(unsigned long flags)
{
	if (flags & MSTATUS_MIE)
		__asm__ volatile("csrs mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
}

noreturn void arch_trap(unsigned long cause, unsigned long epc, unsigned long tval);
noreturn void arch_trap(unsigned long cause, unsigned long epc, unsigned long tval)
{
	kprintf("TRAP: mcause %lx mepc %lx mtval %lx\nkalloc-kernel: TESTS FAILED\n", cause, epc,
		tval);
	arch_exit(false);
}

noreturn void arch_main(unsigned long hartid, const void *dtb);
noreturn void arch_main(unsigned long hartid, const void *dtb)
{
	bp.arch = "riscv64";
	bp.firmware = "fdt";
	kprintf("riscv64: hart %lu, device tree at %p\n", hartid, dtb);
	if (fdt_read(dtb, &bp) != 0) {
		kprintf("no valid device tree at %p\nkalloc-kernel: TESTS FAILED\n", dtb);
		arch_exit(false);
	}
	bp.guard = dtb;
	bp.guard_len = fdt_size(dtb);
	boot_add(&bp, (uintptr_t)kernel_image_start,
		 (uintptr_t)kernel_image_end - (uintptr_t)kernel_image_start, KA_MEM_RESERVED,
		 "kernel image");
	kernel_main(&bp);
}
