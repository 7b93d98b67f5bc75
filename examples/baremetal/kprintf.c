/* SPDX-License-Identifier: MIT */
/*
 * Serial console output for the example kernel: a printf subset small enough to read in
 * one sitting. Decimal conversion of 64-bit values divides by 10 in 16-bit steps so the
 * i386 build needs no libgcc (__udivdi3).
 */
#include "kernel.h"

void kputc(char c)
{
	if (c == '\n')
		arch_putc('\r');
	arch_putc(c);
}

void kputs(const char *s)
{
	while (*s)
		kputc(*s++);
}

/* v / 10 with 32-bit operations only (long division on 16-bit digits). */
static uint64_t div10(uint64_t v, unsigned *rem)
{
	uint64_t q = 0;
	uint32_t r = 0;

	for (int shift = 48; shift >= 0; shift -= 16) {
		uint32_t cur = (r << 16) | (uint32_t)((v >> shift) & 0xffff);
		q = (q << 16) | (cur / 10);
		r = cur % 10;
	}
	*rem = r;
	return q;
}

static void pad(int n, char c)
{
	while (n-- > 0)
		kputc(c);
}

static void put_num(uint64_t v, bool neg, unsigned base, int width, bool zero, bool left)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	int n = 0, len;

	do {
		unsigned d;

		if (base == 16) {
			d = (unsigned)(v & 0xf);
			v >>= 4;
		} else {
			v = div10(v, &d);
		}
		tmp[n++] = digits[d];
	} while (v);
	if (neg)
		tmp[n++] = '-';
	len = n;
	if (!left)
		pad(width - len, zero ? '0' : ' ');
	while (n > 0)
		kputc(tmp[--n]);
	if (left)
		pad(width - len, ' ');
}

void kvprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		bool zero = false, left = false;

		if (*fmt != '%') {
			kputc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '-') {
			left = true;
			fmt++;
		}
		if (*fmt == '0') {
			zero = true;
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		if (*fmt == 'z') {
			lng = sizeof(size_t) == sizeof(unsigned long long) ? 2 : 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = 0;

			if (!s)
				s = "(null)";
			while (s[len])
				len++;
			if (!left)
				pad(width - len, ' ');
			kputs(s);
			if (left)
				pad(width - len, ' ');
			break;
		}
		case 'c':
			kputc((char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = lng >= 2	 ? va_arg(ap, long long)
				      : lng == 1 ? va_arg(ap, long)
						 : va_arg(ap, int);
			uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

			put_num(m, v < 0, 10, width, zero, left);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lng >= 2	? va_arg(ap, unsigned long long)
				     : lng == 1 ? va_arg(ap, unsigned long)
						: va_arg(ap, unsigned);

			put_num(v, false, *fmt == 'x' ? 16 : 10, width, zero, left);
			break;
		}
		case 'p':
			kputs("0x");
			put_num((uintptr_t)va_arg(ap, void *), false, 16, width, zero, false);
			break;
		case '%':
			kputc('%');
			break;
		case '\0':
			return;
		default:
			kputc('%');
			kputc(*fmt);
			break;
		}
	}
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}
