/* SPDX-License-Identifier: MIT */
/*
 * Hosted platform (Linux user space): the only file of the library proper that talks to
 * libc and the kernel. Nothing here allocates through malloc, because this library may
 * itself be the process's malloc (shim/).
 */
#define _GNU_SOURCE
/* This file is the hosted platform whatever the build says: its inline CPU hooks
 * (platform.h) read the slot this file keeps. */
#ifndef KA_CFG_PLAT_HOSTED
#define KA_CFG_PLAT_HOSTED 1
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "kalloc/err.h"
#include "kalloc/platform.h"
#include "entropy.h"

_Static_assert(sizeof(pthread_mutex_t) <= KA_CFG_LOCK_BYTES, "KA_CFG_LOCK_BYTES too small");

static void write_all(const char *s, size_t n)
{
	int saved = errno; /* logging must not disturb the caller's errno (free() keeps it) */

	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		s += w;
		n -= (size_t)w;
	}
	errno = saved;
}

static void write_line(const char *msg)
{
	write_all(msg, strlen(msg));
	write_all("\n", 1);
}

noreturn void ka_plat_panic(const char *msg)
{
	write_line(msg);
	abort();
}

void ka_plat_log(enum ka_log_level level, const char *msg)
{
	if (level <= KA_LOG_WARN)
		write_line(msg);
}

void ka_plat_lock_init(struct ka_lock *lock)
{
	pthread_mutex_init((pthread_mutex_t *)(void *)lock->opaque, NULL);
}

unsigned long ka_plat_lock_acquire(struct ka_lock *lock)
{
	pthread_mutex_lock((pthread_mutex_t *)(void *)lock->opaque);
	return 0;
}

void ka_plat_lock_release(struct ka_lock *lock, unsigned long flags)
{
	(void)flags;
	pthread_mutex_unlock((pthread_mutex_t *)(void *)lock->opaque);
}

void *ka_plat_page_map(size_t len, size_t align)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t extra, total;
	char *p, *start;

	if (len == 0 || (align & (align - 1)) != 0)
		return NULL;
	if (align < page)
		align = page;
	extra = align > page ? align : 0;
	if (__builtin_add_overflow(len, extra, &total))
		return NULL;
	/* No MAP_NORESERVE: the kernel's overcommit policy decides, as for glibc's malloc, so a
	 * request far beyond RAM and swap fails here (ENOMEM) instead of in an OOM kill later. */
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (!extra)
		return p;
	/* Over-map by the alignment, then give back the unaligned head and the tail. */
	start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	if (start + len < p + total)
		munmap(start + len, (size_t)(p + total - (start + len)));
	return start;
}

int ka_plat_page_unmap(void *addr, size_t len)
{
	return munmap(addr, len) == 0 ? 0 : KA_EINVAL;
}

void *ka_plat_reserve(size_t len)
{
	/* MAP_NORESERVE: the reservation is address space; only written pages take memory. */
	void *p = len ? mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
		      : MAP_FAILED;

	return p == MAP_FAILED ? NULL : p;
}

int ka_plat_unreserve(void *addr, size_t len)
{
	return munmap(addr, len) == 0 ? 0 : KA_EINVAL;
}

int ka_plat_page_protect(void *addr, size_t len, int accessible)
{
	if (mprotect(addr, len, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0)
		return 0;
	return errno == ENOMEM ? KA_ENOMEM : KA_EINVAL;
}

ka_paddr_t ka_plat_virt_to_phys(const void *vaddr)
{
	return (ka_paddr_t)(uintptr_t)vaddr;
}

void *ka_plat_phys_to_virt(ka_paddr_t paddr)
{
	return (void *)(uintptr_t)paddr;
}

int ka_plat_map_uncached(void *addr, size_t len)
{
	(void)addr;
	(void)len;
	return 0;
}

/*
 * Thread slots: the hosted answer to "which CPU am I on" is "which slot does this thread
 * hold", so per-CPU data is per-thread data without a lock. A slot is taken on a thread's
 * first call (lowest free, so a cache with few slots serves the first threads) and given
 * back by the key's destructor at thread exit; the next thread inherits whatever a cache
 * kept in it. The slot table's mutex orders the old owner's last access before the new
 * owner's first. After the destructor the thread answers KA_PLAT_CPU_NONE (other
 * destructors may still free), and it never takes a slot again.
 */
#define SLOT_DEAD (KA_PLAT_CPU_NONE - 1u)
/* Every thread starts with KA_PLAT_CPU_NONE (the TLS image's value: no slot taken yet), so
 * that ka_plat_cpu_try_enter() answers the word as it is, with no arithmetic. */
__thread unsigned ka_plat_hosted_slot __attribute__((tls_model("initial-exec"))) = KA_PLAT_CPU_NONE;
/* ka_plat_cpu_try_enter() answers the word: without a slot that must not look like one. */
_Static_assert(SLOT_DEAD >= KA_PLAT_CPU_NONE - 2u && KA_PLAT_HOSTED_SLOTS < KA_PLAT_CPU_NONE - 2u,
	       "a thread without a slot must get an id no cache has");
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static unsigned char slot_used[KA_PLAT_HOSTED_SLOTS];

static void slot_release(void *v)
{
	unsigned s = (unsigned)(uintptr_t)v - 1u;

	pthread_mutex_lock(&slot_mu);
	if (s < KA_PLAT_HOSTED_SLOTS)
		slot_used[s] = 0;
	pthread_mutex_unlock(&slot_mu);
	ka_plat_hosted_slot = SLOT_DEAD;
}

static void slot_prefork(void)
{
	pthread_mutex_lock(&slot_mu);
}

static void slot_parent(void)
{
	pthread_mutex_unlock(&slot_mu);
}

/* Only the forking thread exists in the child: its slot stays taken, the others are free. */
static void slot_child(void)
{
	unsigned mine = ka_plat_hosted_slot;

	for (unsigned i = 0; i < KA_PLAT_HOSTED_SLOTS; i++)
		slot_used[i] = i == mine;
	pthread_mutex_init(&slot_mu, NULL);
}

static void slot_setup(void)
{
	if (pthread_key_create(&slot_key, slot_release) == 0)
		pthread_atfork(slot_prefork, slot_parent, slot_child);
	else
		slot_key = (pthread_key_t)-1;
}

static unsigned slot_take(void)
{
	unsigned s = KA_PLAT_CPU_NONE;

	pthread_once(&slot_once, slot_setup);
	if (slot_key == (pthread_key_t)-1)
		return KA_PLAT_CPU_NONE;
	pthread_mutex_lock(&slot_mu);
	for (unsigned i = 0; i < KA_PLAT_HOSTED_SLOTS; i++) {
		if (!slot_used[i]) {
			slot_used[i] = 1;
			s = i;
			break;
		}
	}
	pthread_mutex_unlock(&slot_mu);
	if (s == KA_PLAT_CPU_NONE || pthread_setspecific(slot_key, (void *)(uintptr_t)(s + 1u))) {
		if (s != KA_PLAT_CPU_NONE) {
			pthread_mutex_lock(&slot_mu);
			slot_used[s] = 0;
			pthread_mutex_unlock(&slot_mu);
		}
		ka_plat_hosted_slot = SLOT_DEAD; /* do not retry on every call */
		return KA_PLAT_CPU_NONE;
	}
	ka_plat_hosted_slot = s;
	return s;
}

unsigned ka_plat_hosted_slot_slow(void)
{
	unsigned v = ka_plat_hosted_slot;

	if (v < KA_PLAT_HOSTED_SLOTS)
		return v;
	if (v == SLOT_DEAD)
		return KA_PLAT_CPU_NONE;
	return slot_take();
}

unsigned ka_plat_cpu_call_id(void)
{
	return ka_plat_cpu_id();
}

unsigned ka_plat_cpu_call_enter(unsigned long *flags)
{
	return ka_plat_cpu_enter(flags);
}

void ka_plat_cpu_call_leave(unsigned long flags)
{
	ka_plat_cpu_leave(flags);
}

unsigned ka_plat_cpu_count(void)
{
	return KA_PLAT_HOSTED_SLOTS;
}

int ka_plat_entropy(void *buf, size_t len)
{
	unsigned char *b = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(b + got, len - got, GRND_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ka_weak_entropy(buf, len);
			return KA_ENOTSUP;
		}
		got += (size_t)n;
	}
	return 0;
}

int ka_platform_set_hooks(const struct ka_platform_hooks *hooks)
{
	(void)hooks;
	return KA_ENOTSUP;
}

const char *ka_platform_name(void)
{
	return "hosted";
}
