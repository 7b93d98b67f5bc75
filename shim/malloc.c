/* SPDX-License-Identifier: MIT */
/*
 * The C library's allocation functions, exported by libkalloc-malloc.so so that LD_PRELOAD
 * (or linking it first) replaces glibc's malloc with kalloc. Behaviour follows glibc's:
 *  - malloc/calloc/realloc/reallocarray/memalign-family return NULL with errno = ENOMEM when
 *    memory runs out or the size computation overflows;
 *  - malloc(0) returns a unique, freeable pointer (a minimum block);
 *  - free(NULL) does nothing; free never changes errno;
 *  - realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL (glibc's
 *    REALLOC_ZERO_BYTES_FREES); on failure realloc returns NULL and p stays valid;
 *  - posix_memalign returns EINVAL (alignment not a power of two multiple of sizeof(void *))
 *    (errno untouched) or ENOMEM (errno also ENOMEM, as glibc) and leaves *memptr alone; memalign
 * and aligned_alloc (the same function in glibc 2.36) round an alignment that is not a power of two
 * up to the next one and give EINVAL only above SIZE_MAX/2+1, as glibc does;
 *  - valloc/pvalloc align to the page size; pvalloc also rounds the size up to whole pages.
 * Misuse detected on free/realloc/malloc_usable_size (a pointer the global allocator did not
 * hand out, a block freed twice in a row, double frees the backend sees) prints a message
 * and aborts, like glibc's "free(): invalid pointer".
 *
 * Every request goes to the heap (glue.c): the library's per-CPU cache adapter in front of the
 * global allocator on backend X, or the global allocator alone (KALLOC_CACHE=0). This file
 * has no allocator logic: it checks pointers (ownership first, then the double-free tag,
 * shim.h) and applies the C library's rules. malloc() and free() first try glue.h's inline
 * path (the library's own inline paths behind one switch) and take the full one otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glue.h"
#include "shim.h"
#include "trace.h"

#define EXPORT __attribute__((visibility("default")))

static size_t page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

void shim_misuse(const char *what, const void *p)
{
	char buf[64];
	uintptr_t v = (uintptr_t)p;
	int i = (int)sizeof(buf) - 1;

	buf[i] = '\0';
	buf[--i] = '\n';
	buf[--i] = ')';
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && i > 8);
	buf[--i] = 'x';
	buf[--i] = '0';
	shim_write_err("kalloc: ");
	shim_write_err(what);
	shim_write_err(" (ptr ");
	shim_write_err(buf + i);
	abort();
}

/* Every allocation: the heap (the cache, or the global allocator). malloc(0) gets a minimum
 * block, like any size. */
static inline __attribute__((always_inline)) void *do_alloc(size_t n, size_t align)
{
	if (__builtin_expect(!shim_heap_ready, 0))
		shim_heap_init();
	if (__builtin_expect(n > SHIM_MAX_REQUEST, 0))
		return NULL;
	return shim_heap_alloc(n ? n : 1, align);
}

static inline __attribute__((always_inline)) void *do_malloc(size_t n)
{
	return do_alloc(n, SHIM_ALIGN);
}

/* Misaligned pointers and pointers into memory the heap does not hold are refused before
 * anything around them is read (ka_global_owns()); the cache's tags or the backend then
 * tell a freed block. */
static inline void check_ptr(const void *p, const char *op)
{
	if (__builtin_expect(((uintptr_t)p & (SHIM_ALIGN - 1)) != 0 || !shim_heap_owns(p), 0))
		shim_misuse(op, p);
}

static size_t usable_of(const void *p, const char *op)
{
	check_ptr(p, op);
	return shim_heap_usable(p);
}

/* check_ptr() and the free in one call to glue.c (shim_heap_free_checked()). */
static inline void do_free(void *p)
{
	shim_heap_free_checked(p);
}

static __attribute__((noinline, cold)) void *nomem(void)
{
	errno = ENOMEM;
	return NULL;
}

/* Everything malloc() does when glue.h's inline path does not apply. */
static __attribute__((noinline)) void *malloc_full(size_t n)
{
	void *p = do_malloc(n);

	if (__builtin_expect(shim_trace_on, 0) && p)
		shim_trace_alloc(KT_MALLOC, p, n, 0);
	return p ? p : nomem();
}

EXPORT void *malloc(size_t n)
{
	void *p = shim_fast_malloc(n);

	return __builtin_expect(p != NULL, 1) ? p : malloc_full(n);
}

/* Everything free() does when glue.h's inline path does not apply: NULL, the trace, a
 * pointer to refuse, a full magazine, no cache. */
static __attribute__((noinline)) void free_full(void *p)
{
	if (p) {
		if (__builtin_expect(shim_trace_on, 0))
			shim_trace_free(p);
		do_free(p);
	}
}

EXPORT void free(void *p)
{
	if (__builtin_expect(!shim_fast_free(p), 0))
		free_full(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(n, size, &total))
		return nomem();
	p = do_malloc(total);
	if (!p)
		return nomem();
	/* Fresh pages are zero already: clearing them would commit them all at once. */
	if (!shim_heap_zeroed(p, total))
		memset(p, 0, total);
	if (__builtin_expect(shim_trace_on, 0))
		shim_trace_alloc(KT_CALLOC, p, total, 0);
	return p;
}

static void *do_realloc(void *p, size_t n)
{
	size_t u;
	void *q;

	if (!p)
		return malloc(n);
	u = usable_of(p, "realloc(): invalid pointer");
	if (n == 0) {
		do_free(p);
		return NULL;
	}
	if (n > SHIM_MAX_REQUEST)
		return nomem();
	/* Keep the block while it is big enough and not more than twice what is needed. */
	if (n <= u && n >= u / 2)
		return p;
	q = do_malloc(n);
	if (!q)
		return nomem();
	memcpy(q, p, n < u ? n : u);
	do_free(p);
	return q;
}

EXPORT void *realloc(void *p, size_t n)
{
	uint64_t seq = __builtin_expect(shim_trace_on, 0) && p ? shim_trace_seq() : 0;
	void *q = do_realloc(p, n);

	if (__builtin_expect(shim_trace_on, 0) && p)
		shim_trace_realloc(seq, p, q, n);
	return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return nomem();
	return realloc(p, total);
}

static void *aligned(size_t align, size_t n)
{
	void *p;

	p = do_alloc(n, align);
	if (__builtin_expect(shim_trace_on, 0) && p)
		shim_trace_alloc(KT_ALIGNED, p, n, align);
	return p ? p : nomem();
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t n)
{
	void *p;

	if (align == 0 || (align & (align - 1)) != 0 || align % sizeof(void *) != 0)
		return EINVAL;
	p = aligned(align, n);
	if (!p)
		return ENOMEM;
	*memptr = p;
	return 0;
}

EXPORT void *memalign(size_t align, size_t n)
{
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1)) {
		size_t a = SHIM_ALIGN;
		while (a < align)
			a <<= 1;
		align = a;
	}
	return aligned(align, n);
}

/* As glibc 2.36 (Debian 12): aligned_alloc is memalign (2.38 refuses non-powers of two). */
EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

EXPORT void *valloc(size_t n)
{
	return aligned(page_size(), n);
}

EXPORT void *pvalloc(size_t n)
{
	size_t ps = page_size();
	size_t r;

	if (__builtin_add_overflow(n, ps - 1, &r))
		return nomem();
	r &= ~(ps - 1);
	return aligned(ps, r ? r : ps);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	return usable_of(p, "malloc_usable_size(): invalid pointer");
}

EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 m;
	struct shim_heap_figures f;

	memset(&m, 0, sizeof(m));
	if (!shim_heap_ready)
		shim_heap_init();
	shim_heap_figures(&f);
	m.arena = f.mapped;
	m.uordblks = f.in_use;
	m.fordblks = f.free_bytes;
	m.ordblks = f.chunks;
	m.hblks = f.large;
	return m;
}

static int clamp_int(size_t v)
{
	return v > (size_t)0x7fffffff ? 0x7fffffff : (int)v;
}

EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo m;

	memset(&m, 0, sizeof(m));
	m.arena = clamp_int(m2.arena);
	m.uordblks = clamp_int(m2.uordblks);
	m.fordblks = clamp_int(m2.fordblks);
	m.ordblks = clamp_int(m2.ordblks);
	m.hblks = clamp_int(m2.hblks);
	return m;
}

/* glibc's tunables have no meaning for kalloc: the documented ones are accepted (return 1,
 * success, so programs that set them keep working), unknown ones refused (0), as glibc does. */
EXPORT int mallopt(int param, int value)
{
	(void)value;
	switch (param) {
	case M_MXFAST:
	case M_TRIM_THRESHOLD:
	case M_TOP_PAD:
	case M_MMAP_THRESHOLD:
	case M_MMAP_MAX:
	case M_CHECK_ACTION:
	case M_PERTURB:
	case M_ARENA_TEST:
	case M_ARENA_MAX:
		return 1;
	default:
		return 0;
	}
}

/* Flush the calling thread's cache (and the depots) and give empty memory back: 1 if some
 * was returned. */
EXPORT int malloc_trim(size_t pad)
{
	int saved = errno;
	struct shim_heap_figures before, after;

	(void)pad;
	if (!shim_heap_ready)
		return 0;
	/* Empty chunks go back to the system as soon as they empty; flushing this thread's
	 * cache and the depots is what can still empty some. */
	shim_heap_figures(&before);
	shim_heap_flush();
	shim_heap_figures(&after);
	errno = saved;
	return after.released > before.released ? 1 : 0;
}
