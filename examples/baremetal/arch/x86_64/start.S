/* SPDX-License-Identifier: MIT */
/*
 * x86_64 entry through Multiboot 1. QEMU's multiboot loader starts every kernel in 32-bit
 * protected mode (and loads only ELF32 files: the build converts this 64-bit image with
 * objcopy -O elf32-i386), so _start is 32-bit code that:
 *  - sets up a stack and clears BSS (the page tables live there);
 *  - identity-maps the first 8 GiB with 2 MiB pages (PML4[0] -> one PDPT -> 8 page
 *    directories of 512 entries), enough for the kernel, the heap and RAM QEMU puts above
 *    4 GiB; arch/x86/pc.c reserves everything beyond it;
 *  - enables PAE, long mode (EFER.LME) and paging, loads a 64-bit GDT and jumps to 64-bit
 *    code, which loads an IDT whose 32 exception vectors report the fault and exit QEMU,
 *    and calls arch_main(magic, multiboot info).
 * It also holds the real-mode trampoline other CPUs start in (ap_tramp, see below) and their
 * 64-bit entry (ap_entry64).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-align modules, bit 1: give the memory map */
#define IDMAP_PDS 8	    /* page directories: GiB identity-mapped (KERNEL_IDMAP_GIB) */

	.section .multiboot, "a"
	.align	4
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)

	.section .text.boot32, "ax"
	.code32
	.globl	_start
_start:
	cli
	mov	%eax, %esi
	mov	%ebx, %ebp
	mov	$stack_top, %esp
	cld
	mov	$__bss_start, %edi
	mov	$__bss_end, %ecx
	sub	%edi, %ecx
	xor	%eax, %eax
	rep stosb

	/* PML4[0] -> PDPT; PDPT[i] -> page directory i. Flags 0x3: present, writable. */
	mov	$pdpt, %eax
	or	$0x3, %eax
	mov	%eax, pml4
	mov	$pds, %eax
	or	$0x3, %eax
	xor	%ecx, %ecx
1:	mov	%eax, pdpt(, %ecx, 8)
	add	$4096, %eax
	inc	%ecx
	cmp	$IDMAP_PDS, %ecx
	jne	1b
	/* Entry k maps k * 2 MiB (flags 0x83: present, writable, 2 MiB page); the high half
	 * of the 64-bit entry holds bits 32.. of the address, k >> 11. */
	xor	%ecx, %ecx
2:	mov	%ecx, %eax
	shl	$21, %eax
	or	$0x83, %eax
	mov	%eax, pds(, %ecx, 8)
	mov	%ecx, %eax
	shr	$11, %eax
	mov	%eax, pds + 4(, %ecx, 8)
	inc	%ecx
	cmp	$(IDMAP_PDS * 512), %ecx
	jne	2b

	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	lgdt	gdt_desc
	ljmp	$0x08, $long_mode

	.code64
	.text
long_mode:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$stack_top, %rsp
	call	idt_setup
	lidt	idt_desc
	mov	%esi, %edi		/* magic (zero-extended) */
	mov	%ebp, %esi		/* multiboot info, below 4 GiB */
	call	arch_main
3:	hlt
	jmp	3b

/* An application processor arrives here from ap_tramp, in long mode on our page tables,
 * with the trampoline's GDT: switch to the kernel's GDT (reloading CS), its IDT and the
 * stack arch_start_cpu() set (arch/x86/pc.c), then ap_main(ap_index). */
	.globl	ap_entry64
ap_entry64:
	mov	ap_stack(%rip), %rsp
	lgdt	gdt_desc
	lidt	idt_desc
	pushq	$0x08
	lea	1f(%rip), %rax
	pushq	%rax
	lretq
1:	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	ap_index(%rip), %edi
	call	ap_main
2:	cli
	hlt
	jmp	2b

/* Fill the 32 exception gates (16 bytes each): interrupt gate, ring 0, selector 0x08. */
idt_setup:
	xor	%ecx, %ecx
1:	mov	exc_stubs(, %rcx, 8), %rax
	mov	%rcx, %rdx
	shl	$4, %rdx
	lea	idt(%rdx), %rdx
	mov	%ax, (%rdx)
	movw	$0x08, 2(%rdx)
	movw	$0x8e00, 4(%rdx)
	shr	$16, %rax
	mov	%ax, 6(%rdx)
	shr	$16, %rax
	mov	%eax, 8(%rdx)
	movl	$0, 12(%rdx)
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
	/* Stack: vector, error code, rip: arch_exception(vector, error, rip). */
	mov	0(%rsp), %rdi
	mov	8(%rsp), %rsi
	mov	16(%rsp), %rdx
	and	$-16, %rsp
	call	arch_exception
4:	hlt
	jmp	4b

	.macro	excaddr n
	.quad	exc_\n
	.endm
/*
 * The AP start-up trampoline: arch_start_cpu() copies ap_tramp .. ap_tramp_end to TRAMP
 * (0x8000, below 1 MiB, as the STARTUP IPI requires) and the AP starts there in real mode
 * (CS = TRAMP >> 4, IP = 0). Every address inside is TRAMP + offset, as it runs from the
 * copy. Real mode -> protected mode (its own flat GDT) -> PAE, the boot CPU's PML4, EFER.LME,
 * paging -> 64-bit code -> ap_entry64 in the kernel image.
 */
#define TRAMP 0x8000
#define T(sym) (TRAMP + ((sym) - ap_tramp))
	.section .rodata
	.globl	ap_tramp, ap_tramp_end
	.code16
ap_tramp:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	T(ap_gdt_desc)
	mov	%cr0, %eax
	or	$1, %eax
	mov	%eax, %cr0
	ljmpl	$0x08, $T(ap_pm)
	.code32
ap_pm:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG | PE */
	mov	%eax, %cr0
	ljmp	$0x18, $T(ap_lm)
	.code64
ap_lm:
	mov	$ap_entry64, %eax
	jmp	*%rax
	.align	8
ap_gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
	.quad	0x00af9a000000ffff	/* 0x18: 64-bit code */
ap_gdt_desc:
	.word	4 * 8 - 1
	.long	T(ap_gdt)
ap_tramp_end:

	.align	8
exc_stubs:
	.set	i, 0
	.rept	32
	excaddr	%i
	.set	i, i + 1
	.endr

	.align	8
gdt:
	.quad	0
	.quad	0x00af9a000000ffff /* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff /* 0x10: data */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.quad	gdt
idt_desc:
	.word	32 * 16 - 1
	.quad	idt

	.bss
	.align	4096
pml4:
	.space	4096
pdpt:
	.space	4096
pds:
	.space	IDMAP_PDS * 4096
	.align	16
idt:
	.space	32 * 16
	.align	16
	.space	65536
stack_top:

	.section .note.GNU-stack, "", @progbits
