/* SPDX-License-Identifier: MIT */
/*
 * i386 entry through Multiboot 1 (QEMU's -kernel loads this ELF itself: no firmware or boot
 * loader to download). The loader enters _start in 32-bit protected mode, paging off,
 * interrupts off, with eax = 0x2BADB002 and ebx = the physical address of the multiboot
 * information. We load our own flat GDT (the loader's may be gone), an IDT whose 32
 * exception vectors report the fault and exit QEMU (instead of a silent triple fault),
 * set up the stack, clear BSS and call arch_main(magic, info).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-align modules, bit 1: give the memory map */

	.section .multiboot, "a"
	.align	4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.text
	.globl	_start
_start:
	cli
	mov	%eax, %esi
	mov	%ebx, %ebp
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %fs
	mov	%ax, %gs
	mov	%ax, %ss
	mov	$stack_top, %esp
	cld
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	xor	%eax, %eax
	rep stosb
	call	idt_setup
	lidt	idt_desc
	push	%ebp
	push	%esi
	call	arch_main
2:	hlt
	jmp	2b

/* Fill the 32 exception gates: interrupt gate, ring 0, code selector 0x08. */
idt_setup:
	xor	%ecx, %ecx
1:	mov	exc_stubs(,%ecx,4), %eax
	lea	idt(,%ecx,8), %edx
	mov	%ax, (%edx)
	movw	$0x08, 2(%edx)
	movw	$0x8e00, 4(%edx)
	shr	$16, %eax
	mov	%ax, 6(%edx)
	inc	%ecx
	cmp	$32, %ecx
	jne	1b
	ret

/* One stub per vector: those without a CPU error code push a 0 so the frame is uniform. */
	.macro	exc n
exc_\n:
	.if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21)
	.else
	push	$0
	.endif
	push	$\n
	jmp	exc_common
	.endm
	.altmacro
	.set	i, 0
	.rept	32
	exc	%i
	.set	i, i + 1
	.endr

exc_common:
	/* Stack: vector, error code, eip, cs, eflags: arch_exception(vector, error, eip). */
	call	arch_exception
3:	hlt
	jmp	3b

	.macro	excaddr n
	.long	exc_\n
	.endm
	.section .rodata
	.align	4
exc_stubs:
	.set	i, 0
	.rept	32
	excaddr	%i
	.set	i, i + 1
	.endr

	.align	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff /* 0x08: code, base 0, limit 4 GiB, 32-bit */
	.quad	0x00cf92000000ffff /* 0x10: data, base 0, limit 4 GiB */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
idt_desc:
	.word	32 * 8 - 1
	.long	idt

	.bss
	.align	8
idt:
	.space	32 * 8
	.align	16
	.space	65536
stack_top:

	.section .note.GNU-stack, "", @progbits
