/* SPDX-License-Identifier: MIT */
/*
 * Freestanding platform: forwards to the hooks a kernel registers with
 * ka_platform_set_hooks(), and supplies what a bare kernel may lack (weak mem* functions).
 *
 * Locks are test-and-set spinlocks taken with interrupts disabled (irq_save hook), so that
 * an allocator shared with interrupt handlers cannot deadlock: an interrupt can never arrive
 * on a CPU while that CPU holds the lock. With KA_CFG_UNIPROCESSOR the spin is left out
 * (targets such as Cortex-M0 lack the atomic exchange it needs).
 */
#include "kalloc/err.h"
#include "kalloc/platform.h"
#include "kstring.h"
#include "entropy.h"

#ifndef KA_CFG_UNIPROCESSOR
#define KA_CFG_UNIPROCESSOR 0
#endif

static struct ka_platform_hooks hooks;

int ka_platform_set_hooks(const struct ka_platform_hooks *h)
{
	if (!h)
		return KA_EINVAL;
	hooks = *h;
	return 0;
}

const char *ka_platform_name(void)
{
	return "freestanding";
}

noreturn void ka_plat_panic(const char *msg)
{
	if (hooks.panic)
		hooks.panic(msg);
	for (;;) {
	}
}

void ka_plat_log(enum ka_log_level level, const char *msg)
{
	if (hooks.log)
		hooks.log((int)level, msg);
}

/* The lock word lives at the start of the opaque storage; 32 bits, the widest word every
 * supported target exchanges atomically without libatomic. */
static unsigned *lock_word(struct ka_lock *lock)
{
	return (unsigned *)(void *)lock->opaque;
}

void ka_plat_lock_init(struct ka_lock *lock)
{
	__atomic_store_n(lock_word(lock), 0u, __ATOMIC_RELAXED);
}

unsigned long ka_plat_lock_acquire(struct ka_lock *lock)
{
	unsigned long flags = hooks.irq_save ? hooks.irq_save() : 0;

#if !KA_CFG_UNIPROCESSOR
	while (__atomic_exchange_n(lock_word(lock), 1u, __ATOMIC_ACQUIRE) != 0u) {
		while (__atomic_load_n(lock_word(lock), __ATOMIC_RELAXED) != 0u) {
		}
	}
#else
	(void)lock;
#endif
	return flags;
}

void ka_plat_lock_release(struct ka_lock *lock, unsigned long flags)
{
#if !KA_CFG_UNIPROCESSOR
	__atomic_store_n(lock_word(lock), 0u, __ATOMIC_RELEASE);
#else
	(void)lock;
#endif
	if (hooks.irq_restore)
		hooks.irq_restore(flags);
}

void *ka_plat_page_map(size_t len, size_t align)
{
	return hooks.page_map ? hooks.page_map(len, align) : NULL;
}

int ka_plat_page_unmap(void *addr, size_t len)
{
	return hooks.page_unmap ? hooks.page_unmap(addr, len) : KA_ENOTSUP;
}

/* No sparse reservation in a kernel's address space here: its heap's tables are made of
 * pages it maps (the global allocator's radix ownership table). */
void *ka_plat_reserve(size_t len)
{
	(void)len;
	return NULL;
}

int ka_plat_unreserve(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return KA_ENOTSUP;
}

int ka_plat_page_protect(void *addr, size_t len, int accessible)
{
	(void)addr;
	(void)len;
	(void)accessible;
	return KA_ENOTSUP;
}

ka_paddr_t ka_plat_virt_to_phys(const void *vaddr)
{
	if (hooks.virt_to_phys)
		return hooks.virt_to_phys(vaddr);
	return (ka_paddr_t)((uintptr_t)vaddr - hooks.direct_map_offset);
}

void *ka_plat_phys_to_virt(ka_paddr_t paddr)
{
	if (hooks.phys_to_virt)
		return hooks.phys_to_virt(paddr);
	return (void *)((uintptr_t)paddr + hooks.direct_map_offset);
}

int ka_plat_map_uncached(void *addr, size_t len)
{
	return hooks.map_uncached ? hooks.map_uncached(addr, len) : 0;
}

unsigned ka_plat_cpu_call_id(void)
{
	return hooks.cpu_id ? hooks.cpu_id() : 0u;
}

unsigned ka_plat_cpu_count(void)
{
	unsigned n = hooks.cpu_count ? hooks.cpu_count() : 1u;

	return n ? n : 1u;
}

unsigned ka_plat_cpu_call_enter(unsigned long *flags)
{
	if (hooks.cpu_pin && hooks.cpu_unpin)
		*flags = hooks.cpu_pin();
	else
		*flags = hooks.irq_save ? hooks.irq_save() : 0;
	return ka_plat_cpu_id();
}

void ka_plat_cpu_call_leave(unsigned long flags)
{
	if (hooks.cpu_pin && hooks.cpu_unpin)
		hooks.cpu_unpin(flags);
	else if (hooks.irq_restore)
		hooks.irq_restore(flags);
}

int ka_plat_entropy(void *buf, size_t len)
{
	if (hooks.entropy && hooks.entropy(buf, len) == 0)
		return 0;
	ka_weak_entropy(buf, len);
	return KA_ENOTSUP;
}

/*
 * Byte-wise mem* functions, weak so a kernel's optimised versions win at link time. The
 * build compiles this file with -fno-builtin (and, with gcc, -fno-tree-loop-distribute-
 * patterns) so the compiler cannot turn these loops back into calls to themselves.
 */
__attribute__((weak)) void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

__attribute__((weak)) void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

__attribute__((weak)) void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else if (d > s) {
		d += n;
		s += n;
		while (n--)
			*--d = *--s;
	}
	return dst;
}

__attribute__((weak)) int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}
