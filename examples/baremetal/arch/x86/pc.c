/* SPDX-License-Identifier: MIT */
/*
 * x86 (i386 and x86_64) on QEMU's pc machine, booted by QEMU's own multiboot loader: COM1
 * (a 16550 at I/O port 0x3f8) for the console, isa-debug-exit (-device isa-debug-exit,
 * iobase=0xf4,iosize=0x04) to leave QEMU, and the multiboot memory map (BIOS e820) for the
 * memory map. arch/<arch>/start.S gets there (x86_64: through long mode and an identity
 * map of the first KERNEL_IDMAP_GIB GiB).
 *
 * The multiboot information lies in RAM the heap will take (QEMU puts it right after the
 * kernel image), so everything needed from it is copied into BSS before ka_boot_system() runs.
 */
#include "kernel.h"

#define COM1	  0x3f8
#define EXIT_PORT 0xf4
/* isa-debug-exit makes QEMU exit with (value << 1) | 1: 33 for pass, 35 for fail. */
#define EXIT_PASS	0x10
#define EXIT_FAIL	0x11
#define MB_BOOT_MAGIC	0x2BADB002u
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP	(1u << 6)
/* Keep in step with arch/x86_64/start.S (IDMAP_PDS: page directories it fills). */
#define KERNEL_IDMAP_GIB 8

/* The parts of the multiboot information structure (spec 3.3) used here. */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

/* One map entry; `size` counts the bytes after itself (entries may grow in later specs). */
struct mb_mmap {
	uint32_t size;
	uint32_t addr_lo, addr_hi;
	uint32_t len_lo, len_hi;
	uint32_t type;
} __attribute__((packed));

static struct boot_params bp;

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void arch_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20)) {
	}
	outb(COM1, (uint8_t)c);
}

noreturn void arch_exit(bool pass)
{
	outl(EXIT_PORT, pass ? EXIT_PASS : EXIT_FAIL);
	/* Without the exit device: stop here (the harness's timeout reports it). */
	for (;;)
		__asm__ volatile("cli; hlt");
}

unsigned long arch_irq_save(void)
{
	unsigned long flags;

#if defined(__x86_64__)
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
#else
	__asm__ volatile("pushfl; popl %0; cli" : "=r"(flags) : : "memory");
#endif
	return flags;
}

void arch_irq_restore(unsigned long flags)
{
	if (flags & 0x200) /* IF */
		__asm__ volatile("sti" : : : "memory");
}

/* ---- CPUs ---------------------------------------------------------------------------- */

noreturn void arch_cpu_park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

#if defined(__x86_64__)
/*
 * x86_64 SMP. The number of CPUs comes from QEMU's fw_cfg (FW_CFG_NB_CPUS), their local
 * APIC ids are taken to be 0 .. n-1 (QEMU's default topology; a CPU that does not answer is
 * reported). An application processor is started the Intel way (SDM vol. 3, 8.4.4): INIT,
 * then STARTUP IPIs with vector TRAMP >> 12 through the boot CPU's local APIC (MMIO at
 * 0xfee00000, inside the identity map); it begins in real mode at TRAMP, where ap_tramp
 * (start.S, copied below 1 MiB, in the reserved low memory) takes it through protected mode
 * into long mode on the boot CPU's page tables and to ap_entry64, which loads the kernel's
 * GDT and IDT, takes ap_stack and calls ap_main(ap_index). Each CPU's index lives at its
 * GS base (arch_cpu_id reads %gs:0). One CPU is started at a time (ap_stack is shared).
 */
#define LAPIC_BASE   0xfee00000ul
#define LAPIC_SVR    0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_PENDING  (1u << 12)
#define ICR_INIT     0x00004500u /* INIT, level assert */
#define ICR_STARTUP  0x00004600u
#define TRAMP	     0x8000u
#define MSR_GS_BASE  0xc0000101u
#define FW_CFG_SEL   0x510
#define FW_CFG_DATA  0x511

extern const char ap_tramp[], ap_tramp_end[];
/* Read by ap_entry64 (start.S). */
uintptr_t ap_stack;
unsigned ap_index;
static unsigned ap_started;
static void (*ap_entry)(unsigned);
static struct {
	unsigned index;
} __attribute__((aligned(64))) cpu_local[KMAX_CPUS];

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static volatile uint32_t *lapic(unsigned reg)
{
	return (volatile uint32_t *)(LAPIC_BASE + reg);
}

static unsigned lapic_id(void)
{
	uint32_t a = 1, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static void set_cpu_index(unsigned idx)
{
	cpu_local[idx].index = idx;
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)&cpu_local[idx]);
}

unsigned arch_cpu_id(void)
{
	unsigned v;

	__asm__ volatile("movl %%gs:0, %0" : "=r"(v));
	return v;
}

static unsigned fw_cfg_cpus(void)
{
	outw(FW_CFG_SEL, 0x05); /* FW_CFG_NB_CPUS, 16 bits little-endian */
	unsigned n = inb(FW_CFG_DATA);
	return n | (unsigned)inb(FW_CFG_DATA) << 8;
}

/* Wait about `n` port reads (port 0x80 is the POST port, harmless to read). */
static void delay(unsigned n)
{
	while (n--)
		(void)inb(0x80);
}

static void send_ipi(unsigned apic, uint32_t lo)
{
	*lapic(LAPIC_ICR_HI) = (uint32_t)apic << 24;
	*lapic(LAPIC_ICR_LO) = lo;
	while (*lapic(LAPIC_ICR_LO) & ICR_PENDING) {
	}
}

noreturn void ap_main(unsigned idx);
noreturn void ap_main(unsigned idx)
{
	void (*entry)(unsigned) = ap_entry;

	set_cpu_index(idx);
	__atomic_store_n(&ap_started, idx, __ATOMIC_RELEASE);
	entry(idx);
	arch_cpu_park();
}

bool arch_start_cpu(unsigned idx, unsigned long hw, void *stack_top, void (*entry)(unsigned))
{
	volatile char *dst = (volatile char *)(uintptr_t)TRAMP;

	if (idx == 0 || idx >= KMAX_CPUS)
		return false;
	for (const char *p = ap_tramp; p < ap_tramp_end; p++)
		*dst++ = *p;
	ap_stack = (uintptr_t)stack_top;
	ap_index = idx;
	ap_entry = entry;
	__atomic_store_n(&ap_started, 0, __ATOMIC_RELEASE);
	*lapic(LAPIC_SVR) |= 0x1ff; /* software-enable the local APIC, spurious vector 0xff */
	send_ipi((unsigned)hw, ICR_INIT);
	delay(10000);
	for (int i = 0; i < 2; i++) {
		send_ipi((unsigned)hw, ICR_STARTUP | (TRAMP >> 12));
		for (unsigned long spin = 0; spin < 20000000ul; spin++)
			if (__atomic_load_n(&ap_started, __ATOMIC_ACQUIRE) == idx)
				return true;
	}
	return false;
}
#else
unsigned arch_cpu_id(void)
{
	return 0;
}

bool arch_start_cpu(unsigned idx, unsigned long hw, void *stack_top, void (*entry)(unsigned))
{
	(void)idx;
	(void)hw;
	(void)stack_top;
	(void)entry;
	return false;
}
#endif

noreturn void arch_exception(unsigned long vector, unsigned long error, unsigned long ip);
noreturn void arch_exception(unsigned long vector, unsigned long error, unsigned long ip)
{
	kprintf("EXCEPTION: vector %lu, error code %lx, ip %lx\nkalloc-kernel: TESTS FAILED\n",
		vector, error, ip);
	arch_exit(false);
}

static unsigned mb_type(uint32_t t)
{
	switch (t) {
	case 1:
		return KA_MEM_USABLE;
	case 3:
		return KA_MEM_ACPI_RECLAIMABLE;
	case 4:
		return KA_MEM_ACPI_NVS;
	case 5:
		return KA_MEM_BAD;
	default:
		return KA_MEM_RESERVED;
	}
}

noreturn void arch_main(uint32_t magic, const struct mb_info *mbi);
noreturn void arch_main(uint32_t magic, const struct mb_info *mbi)
{
	/* 8N1 at 115200 baud, FIFO on. QEMU does not need it; real 16550s do. */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);
	outb(COM1 + 2, 0xc7);

#if defined(__x86_64__)
	bp.arch = "x86_64";
#else
	bp.arch = "i386";
#endif
	bp.firmware = "multiboot";
	if (magic != MB_BOOT_MAGIC || !(mbi->flags & MB_INFO_MMAP)) {
		kprintf("not booted by multiboot with a memory map (magic %x)\n"
			"kalloc-kernel: TESTS FAILED\n",
			magic);
		arch_exit(false);
	}
	if (mbi->flags & MB_INFO_CMDLINE) {
		const char *s = (const char *)(uintptr_t)mbi->cmdline;
		size_t i = 0;

		for (; s[i] && i + 1 < sizeof(bp.cmdline); i++)
			bp.cmdline[i] = s[i];
		bp.cmdline[i] = '\0';
	}
	for (uint32_t off = 0; off + sizeof(struct mb_mmap) <= mbi->mmap_length;) {
		const struct mb_mmap *e = (const void *)(uintptr_t)(mbi->mmap_addr + off);
		uint64_t base = (uint64_t)e->addr_hi << 32 | e->addr_lo;
		uint64_t len = (uint64_t)e->len_hi << 32 | e->len_lo;

		if (e->type == 1)
			bp.ram_bytes += len;
		boot_add(&bp, base, len, mb_type(e->type), "multiboot mmap");
		off += e->size + 4;
	}
	/* Real-mode IVT, BIOS data, EBDA, VGA and option ROMs: never heap, even where the
	 * map calls part of it usable (and address 0 would look like NULL). */
	boot_add(&bp, 0, 0x100000, KA_MEM_RESERVED, "low 1 MiB (BIOS)");
#if defined(__x86_64__)
	/* start.S identity-maps only the first KERNEL_IDMAP_GIB GiB. */
	boot_add(&bp, (uint64_t)KERNEL_IDMAP_GIB << 30,
		 UINT64_MAX - ((uint64_t)KERNEL_IDMAP_GIB << 30) + 1, KA_MEM_RESERVED,
		 "beyond the identity map");
#endif
	boot_add(&bp, (uintptr_t)kernel_image_start,
		 (uintptr_t)kernel_image_end - (uintptr_t)kernel_image_start, KA_MEM_RESERVED,
		 "kernel image");
#if defined(__x86_64__)
	set_cpu_index(0);
	bp.ncpus = fw_cfg_cpus();
	if (bp.ncpus == 0 || bp.ncpus > KMAX_CPUS)
		bp.ncpus = bp.ncpus ? KMAX_CPUS : 1;
	bp.cpu_hw[0] = lapic_id();
	for (unsigned i = 1, id = 0; i < bp.ncpus; i++, id++)
		bp.cpu_hw[i] = id == bp.cpu_hw[0] ? ++id : id;
#else
	bp.ncpus = 1;
#endif
	kernel_main(&bp);
}
