/* SPDX-License-Identifier: MIT */
/*
 * riscv64 entry on QEMU's virt machine with -bios none: the reset ROM jumps to _start at
 * 0x80000000 in M-mode on every hart at once, with a0 = hart id and a1 = the device tree's
 * address. Hart 0 sets up the stack, clears BSS, installs the trap vector and calls
 * arch_main(hartid, dtb). Every other hart parks: it enables only its machine software
 * interrupt in mie (mstatus.MIE stays 0, so nothing traps: the interrupt only ends wfi) and
 * waits until hart 0 has written a stack into its mailbox (hart_mbox[hartid], in .data so
 * that hart 0 clearing BSS cannot race with it) and raised its CLINT msip. This is the
 * spin table firmware implements; OpenSBI's HSM hart_start does the same from M-mode.
 * A started hart sets tp = its CPU index (the kernel's cpu_id hook) and calls
 * arch_secondary(index).
 */
#define MAX_HARTS 8
#define CLINT_MSIP 0x02000000
#define MIE_MSIE 0x8

	.section .text.start, "ax"
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	li	tp, 0
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
halt:
	wfi
	j	halt

/* t0 = hart id. Harts beyond the mailboxes halt for good. */
park:
	li	t1, MAX_HARTS
	bgeu	t0, t1, halt
	li	t1, MIE_MSIE
	csrw	mie, t1
	la	t1, hart_mbox
	slli	t2, t0, 4		/* 16 bytes per mailbox: stack top, CPU index */
	add	t1, t1, t2
3:	wfi
	ld	t2, 0(t1)
	beqz	t2, 3b
	fence	r, rw			/* the mailbox before anything hart 0 prepared */
	li	t3, CLINT_MSIP		/* acknowledge the software interrupt */
	slli	t4, t0, 2
	add	t3, t3, t4
	sw	zero, 0(t3)
	mv	sp, t2
	ld	tp, 8(t1)
	la	t2, trap_entry
	csrw	mtvec, t2
	mv	a0, tp
	call	arch_secondary
	j	halt

/* Any trap is fatal here (no interrupts are enabled): report it from C and exit. */
	.align	4
trap_entry:
	csrr	a0, mcause
	csrr	a1, mepc
	csrr	a2, mtval
	call	arch_trap
	j	halt

	.data
	.align	4
	.globl	hart_mbox
hart_mbox:
	.space	16 * MAX_HARTS

	.section .bss.stack, "aw", @nobits
	.align	4
	.space	65536
stack_top:
