/* SPDX-License-Identifier: MIT */
/*
 * Reporting: misuse panics, checker findings, failed asserts, error names, and the bounded
 * formatter they use (fmt.h). None of this allocates.
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/err.h"
#include "kalloc/platform.h"
#include "fmt.h"

void ka_fmt_str(struct ka_fmt *f, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s && f->len + 1 < f->cap)
		f->buf[f->len++] = *s++;
	f->buf[f->len] = '\0';
}

/* Divide a 64-bit value by 10 with 32-bit operations only: long division on 16-bit halves
 * keeps every intermediate below 2^32, so no libgcc helper is needed on 32-bit targets. */
static uint64_t div10(uint64_t v, unsigned *rem)
{
	uint32_t parts[4] = {(uint32_t)(v >> 48) & 0xffff, (uint32_t)(v >> 32) & 0xffff,
			     (uint32_t)(v >> 16) & 0xffff, (uint32_t)v & 0xffff};
	uint32_t r = 0;
	uint64_t q = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t cur = (r << 16) | parts[i];
		q = (q << 16) | (cur / 10);
		r = cur % 10;
	}
	*rem = r;
	return q;
}

void ka_fmt_dec(struct ka_fmt *f, uint64_t v)
{
	char tmp[24];
	int n = 0;
	unsigned rem;

	do {
		v = div10(v, &rem);
		tmp[n++] = (char)('0' + rem);
	} while (v && n < (int)sizeof(tmp));
	while (n > 0 && f->len + 1 < f->cap)
		f->buf[f->len++] = tmp[--n];
	f->buf[f->len] = '\0';
}

/* The digits are written backwards into a string that ka_fmt_str() then appends: its bounds
 * check is the only one. */
void ka_fmt_hex(struct ka_fmt *f, uint64_t v)
{
	char tmp[19], *p = tmp + sizeof(tmp) - 1;

	*p = '\0';
	do {
		*--p = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	*--p = 'x';
	*--p = '0';
	ka_fmt_str(f, p);
}

#if KA_CFG_REPORT
/* "kalloc: <name>: <kind><what> (<at>0x...)" into buf: the one body of both reports below. */
static void report(char *buf, size_t cap, const struct ka_alloc *a, const char *kind,
		   const char *what, const char *at, const void *ptr)
{
	const char *const parts[] = {"kalloc: ", a ? a->name : "?", ": ", kind, what, at};
	struct ka_fmt f;

	ka_fmt_init(&f, buf, cap);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		ka_fmt_str(&f, parts[i]);
	ka_fmt_hex(&f, (uintptr_t)ptr);
	ka_fmt_str(&f, ")");
}

noreturn void ka_misuse(const struct ka_alloc *a, const char *what, const void *ptr)
{
	char buf[160];

	report(buf, sizeof(buf), a, "", what, " (ptr ", ptr);
	ka_plat_panic(buf);
}

void ka_check_report(const struct ka_alloc *a, const char *what, const void *where)
{
	char buf[160];

	report(buf, sizeof(buf), a, "check: ", what, " (at ", where);
	ka_plat_log(KA_LOG_ERR, buf);
}

noreturn void ka_assert_fail(const char *cond, const char *file, int line)
{
	char buf[200];
	struct ka_fmt f;

	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_str(&f, "kalloc: assertion failed: ");
	ka_fmt_str(&f, cond);
	ka_fmt_str(&f, " at ");
	ka_fmt_str(&f, file);
	ka_fmt_str(&f, ":");
	ka_fmt_dec(&f, (uint64_t)(line < 0 ? 0 : line));
	ka_plat_panic(buf);
}

#else
/* KA_CFG_REPORT 0: fixed messages, so the formatter above is never referenced and a
 * --gc-sections link drops it. */
noreturn void(ka_misuse)(const struct ka_alloc *a, const char *what, const void *ptr)
{
	(void)a;
	(void)what;
	(void)ptr;
	ka_plat_panic("kalloc: heap misuse");
}

void(ka_check_report)(const struct ka_alloc *a, const char *what, const void *where)
{
	(void)a;
	(void)what;
	(void)where;
	ka_plat_log(KA_LOG_ERR, "kalloc: check failed");
}

noreturn void ka_assert_fail(const char *cond, const char *file, int line)
{
	(void)cond;
	(void)file;
	(void)line;
	ka_plat_panic("kalloc: assertion failed");
}
#endif

const char *ka_strerror(int err)
{
	switch (err) {
	case KA_OK:
		return "success";
	case KA_ENOENT:
		return "not found";
	case KA_ENOMEM:
		return "out of memory";
	case KA_EFAULT:
		return "bad address";
	case KA_EBUSY:
		return "busy";
	case KA_EEXIST:
		return "overlaps managed memory";
	case KA_EINVAL:
		return "invalid argument";
	case KA_ERANGE:
		return "out of range";
	case KA_ENOTSUP:
		return "not supported";
	default:
		return "unknown error";
	}
}
