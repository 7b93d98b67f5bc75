/* SPDX-License-Identifier: MIT */
/*
 * riscv64 entry on QEMU's virt machine with -bios none: the reset ROM jumps to _start at
 * 0x80000000 in M-mode with a0 = hart id and a1 = the device tree's address. Hart 0 sets up
 * the stack, clears BSS, installs the trap vector and calls arch_main(hartid, dtb); any other
 * hart parks.
 */
	.section .text.start, "ax"
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, stack_top
	mv	s0, a0
	mv	s1, a1
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	la	t0, trap_entry
	csrw	mtvec, t0
	mv	a0, s0
	mv	a1, s1
	call	arch_main
park:
	wfi
	j	park

/* Any trap is fatal here (no interrupts are enabled): report it from C and exit. */
	.align	4
trap_entry:
	csrr	a0, mcause
	csrr	a1, mepc
	csrr	a2, mtval
	call	arch_trap
	j	park

	.section .bss.stack, "aw", @nobits
	.align	4
	.space	65536
stack_top:
