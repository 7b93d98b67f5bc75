/* SPDX-License-Identifier: MIT */
/*
 * A minimal reader of the flattened device tree (Devicetree Specification v0.4, chapter 5)
 * for the memory map: enough to find RAM, what must not be touched, the command line and
 * the CPUs (the hart ids of /cpus/cpu@N).
 *
 * Blob layout: a big-endian header (magic 0xd00dfeed, totalsize, offsets of the structure
 * block, the strings block and the memory reserve map), then the reserve map (pairs of
 * big-endian u64 address/size, ended by 0/0), then the structure block: a token stream of
 * BEGIN_NODE (1, followed by the NUL-terminated name padded to 4 bytes), END_NODE (2),
 * PROP (3, followed by u32 length, u32 offset of the name in the strings block, and the
 * value padded to 4 bytes), NOP (4) and END (9).
 *
 * A node's reg property is a list of (address, size) pairs whose widths, in 32-bit cells,
 * are the PARENT's #address-cells and #size-cells (defaults 2 and 1).
 */
#include "kernel.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE   2u
#define FDT_PROP       3u
#define FDT_NOP	       4u
#define FDT_END	       9u
#define FDT_MAX_DEPTH  16

static uint32_t be32(const void *p)
{
	const unsigned char *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t be64(const void *p)
{
	return (uint64_t)be32(p) << 32 | be32((const unsigned char *)p + 4);
}

static bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Node name without its unit address ("memory@80000000" -> "memory"). */
static bool name_is(const char *name, const char *base)
{
	while (*base && *name == *base) {
		name++;
		base++;
	}
	return *base == '\0' && (*name == '\0' || *name == '@');
}

/* Read a value of `cells` 32-bit cells (1 or 2). */
static uint64_t cells_val(const unsigned char *p, uint32_t cells)
{
	return cells == 2 ? be64(p) : be32(p);
}

size_t fdt_size(const void *fdt)
{
	if (!fdt || be32(fdt) != FDT_MAGIC)
		return 0;
	return be32((const unsigned char *)fdt + 4);
}

/* Per open node: the cells its children's reg uses, and what kind of node it is. */
struct level {
	uint32_t addr_cells, size_cells;
	bool memory, reserved_parent, chosen, cpus, cpu;
};

static void add_reg(struct boot_params *bp, const unsigned char *val, uint32_t len,
		    const struct level *parent, unsigned type, const char *what)
{
	uint32_t ac = parent->addr_cells, sc = parent->size_cells;
	uint32_t step = (ac + sc) * 4;

	if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
		return;
	for (uint32_t off = 0; off + step <= len; off += step) {
		uint64_t base = cells_val(val + off, ac);
		uint64_t size = cells_val(val + off + ac * 4, sc);

		if (type == KA_MEM_USABLE)
			bp->ram_bytes += size;
		boot_add(bp, base, size, type, what);
	}
}

int fdt_read(const void *fdt, struct boot_params *bp)
{
	const unsigned char *blob = fdt;
	size_t total = fdt_size(fdt);
	struct level lv[FDT_MAX_DEPTH + 1];
	int depth = 0;

	if (total < 40)
		return -1;
	const unsigned char *st = blob + be32(blob + 8);
	const char *strings = (const char *)blob + be32(blob + 12);
	const unsigned char *rsv = blob + be32(blob + 16);
	const unsigned char *end = st + be32(blob + 36);

	/* The blob itself: it sits in RAM (on QEMU's virt, at its top) and must survive. */
	boot_add(bp, (uintptr_t)fdt, total, KA_MEM_RESERVED, "device tree blob");

	for (; (size_t)(rsv - blob) + 16 <= total; rsv += 16) {
		uint64_t a = be64(rsv), s = be64(rsv + 8);

		if (a == 0 && s == 0)
			break;
		boot_add(bp, a, s, KA_MEM_RESERVED, "fdt reserve map");
	}

	lv[0] = (struct level){2, 1, false, false, false, false, false};
	for (const unsigned char *p = st; p + 4 <= end;) {
		uint32_t tok = be32(p);

		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			size_t n = 0;

			while (name[n])
				n++;
			p += (n + 1 + 3) & ~(size_t)3;
			if (depth == FDT_MAX_DEPTH)
				return -1;
			depth++;
			/* Children inherit the defaults until they say otherwise (spec 2.3.5). */
			lv[depth] = (struct level){2, 1, false, false, false, false, false};
			if (depth == 2 && name_is(name, "memory"))
				lv[depth].memory = true;
			if (depth == 2 && name_is(name, "reserved-memory"))
				lv[depth].reserved_parent = true;
			if (depth == 2 && name_is(name, "chosen"))
				lv[depth].chosen = true;
			if (depth == 2 && name_is(name, "cpus"))
				lv[depth].cpus = true;
			if (depth == 3 && lv[2].cpus && name_is(name, "cpu"))
				lv[depth].cpu = true;
		} else if (tok == FDT_END_NODE) {
			if (depth == 0)
				return -1;
			depth--;
		} else if (tok == FDT_PROP) {
			uint32_t len = be32(p), nameoff = be32(p + 4);
			const unsigned char *val = p + 8;
			const char *pname = strings + nameoff;

			p = val + ((len + 3) & ~3u);
			if (p > end)
				return -1;
			if (str_eq(pname, "#address-cells") && len == 4)
				lv[depth].addr_cells = be32(val);
			else if (str_eq(pname, "#size-cells") && len == 4)
				lv[depth].size_cells = be32(val);
			else if (str_eq(pname, "device_type") && depth == 2 && len == 7 &&
				 str_eq((const char *)val, "memory")) /* 7: "memory" and its NUL */
				lv[depth].memory = true;
			/* A node named memory[@...] is RAM from its first property on (QEMU writes
			 * reg before device_type); other names count once device_type = "memory"
			 * was seen. */
			if (str_eq(pname, "reg") && depth >= 1) {
				if (lv[depth].memory)
					add_reg(bp, val, len, &lv[depth - 1], KA_MEM_USABLE,
						"fdt /memory");
				else if (depth == 3 && lv[depth - 1].reserved_parent)
					add_reg(bp, val, len, &lv[depth - 1], KA_MEM_RESERVED,
						"fdt /reserved-memory");
			}
			/* /cpus/cpu@N: reg is the hart id (#address-cells of /cpus, 1). */
			if (lv[depth].cpu && str_eq(pname, "reg") && len >= 4 &&
			    bp->ncpus < KMAX_CPUS)
				bp->cpu_hw[bp->ncpus++] = (unsigned long)cells_val(
				    val, lv[depth - 1].addr_cells == 2 && len >= 8 ? 2 : 1);
			if (lv[depth].chosen && str_eq(pname, "bootargs")) {
				size_t i = 0;

				for (; i + 1 < sizeof(bp->cmdline) && i < len && val[i]; i++)
					bp->cmdline[i] = (char)val[i];
				bp->cmdline[i] = '\0';
			}
		} else if (tok == FDT_NOP) {
			continue;
		} else if (tok == FDT_END) {
			return depth == 0 ? 0 : -1;
		} else {
			return -1;
		}
	}
	return -1;
}
