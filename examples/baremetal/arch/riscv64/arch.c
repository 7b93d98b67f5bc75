/* SPDX-License-Identifier: MIT */
/*
 * riscv64 on QEMU virt, M-mode, no firmware: the 16550 UART at 0x10000000 for the console,
 * the SiFive test device at 0x100000 to leave QEMU, the device tree (a1 at entry) for
 * the memory map and the harts, and the CLINT's msip registers to wake parked harts (see
 * start.S).
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
#define CLINT_MSIP  0x02000000ul
#define MAX_HARTS   8 /* mailboxes in start.S */

/* start.S: per hart, the stack top it starts on (0: stay parked) and its CPU index. */
struct hart_mbox {
	uintptr_t stack_top;
	uintptr_t index;
};
extern struct hart_mbox hart_mbox[MAX_HARTS];
static void (*secondary_entry)(unsigned);

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

unsigned arch_cpu_id(void)
{
	unsigned long tp;

	__asm__ volatile("mv %0, tp" : "=r"(tp));
	return (unsigned)tp;
}

bool arch_start_cpu(unsigned idx, unsigned long hw, void *stack_top, void (*entry)(unsigned))
{
	if (hw >= MAX_HARTS || idx == 0)
		return false;
	secondary_entry = entry;
	hart_mbox[hw].index = idx;
	/* Release: the hart reads the index and the entry only after it saw the stack. */
	__atomic_store_n(&hart_mbox[hw].stack_top, (uintptr_t)stack_top, __ATOMIC_RELEASE);
	*(volatile uint32_t *)(CLINT_MSIP + 4 * hw) = 1;
	return true;
}

noreturn void arch_cpu_park(void)
{
	arch_irq_save();
	for (;;)
		__asm__ volatile("wfi");
}

noreturn void arch_secondary(unsigned idx);
noreturn void arch_secondary(unsigned idx)
{
	secondary_entry(idx);
	arch_cpu_park();
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
	/* The boot hart is CPU 0 (tp = 0 from start.S), whatever the device tree's order. */
	for (unsigned i = 1; i < bp.ncpus; i++)
		if (bp.cpu_hw[i] == hartid) {
			bp.cpu_hw[i] = bp.cpu_hw[0];
			bp.cpu_hw[0] = hartid;
		}
	if (bp.ncpus == 0)
		bp.cpu_hw[bp.ncpus++] = hartid;
	bp.guard = dtb;
	bp.guard_len = fdt_size(dtb);
	boot_add(&bp, (uintptr_t)kernel_image_start,
		 (uintptr_t)kernel_image_end - (uintptr_t)kernel_image_start, KA_MEM_RESERVED,
		 "kernel image");
	kernel_main(&bp);
}
