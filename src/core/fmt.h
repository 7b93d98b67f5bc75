/* SPDX-License-Identifier: MIT */
/*
 * A tiny bounded string builder for log and panic messages. It exists because the core may
 * not call snprintf (no libc in a kernel) and must not allocate while reporting that the
 * heap is broken. Output is always NUL-terminated and silently truncated.
 */
#ifndef KALLOC_FMT_H
#define KALLOC_FMT_H

#include <stddef.h>
#include <stdint.h>

struct ka_fmt {
	char *buf;
	size_t cap; /* bytes in buf, including the NUL */
	size_t len;
};

static inline void ka_fmt_init(struct ka_fmt *f, char *buf, size_t cap)
{
	f->buf = buf;
	f->cap = cap;
	f->len = 0;
	buf[0] = '\0';
}

void ka_fmt_str(struct ka_fmt *f, const char *s);
/* Unsigned decimal; uses only 32-bit division steps so i386 needs no __udivdi3. */
void ka_fmt_dec(struct ka_fmt *f, uint64_t v);
/* "0x" followed by lower-case hex digits, no padding. */
void ka_fmt_hex(struct ka_fmt *f, uint64_t v);

#endif /* KALLOC_FMT_H */
