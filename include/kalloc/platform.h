/* SPDX-License-Identifier: MIT */
/**
 * @file platform.h
 * @brief The platform layer: the only things core and backends may ask of the outside world.
 *
 * Two implementations exist, chosen by the build (not by `#if` chains in the core):
 *  - `src/platform/hosted.c`: Linux user space (mmap, pthreads, stderr).
 *  - `src/platform/freestanding.c`: a kernel; it forwards to a `struct ka_platform_hooks` the
 *    kernel registers with ka_platform_set_hooks() and implements locks as IRQ-saving
 *    spinlocks on top of the kernel's irq_save/irq_restore hooks.
 *
 * Besides these functions the library needs only `memset`, `memcpy`, `memmove` and `memcmp`
 * (the freestanding build supplies weak definitions; a kernel may provide its own).
 *
 * None of these functions allocates. All are safe to call from any thread or CPU; the
 * lock functions are safe in interrupt context in the freestanding build.
 */
#ifndef KALLOC_PLATFORM_H
#define KALLOC_PLATFORM_H

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "config.h"

/** A physical (or bus) address. 64 bits everywhere: 32-bit CPUs with PAE/LPAE exceed 4 GiB. */
typedef uint64_t ka_paddr_t;

/** The invalid physical address. 0 is a valid physical address, so it cannot be the marker. */
#define KA_PADDR_INV ((ka_paddr_t)UINT64_MAX)

/** Log levels for ka_plat_log(). */
enum ka_log_level { KA_LOG_ERR = 0, KA_LOG_WARN = 1, KA_LOG_INFO = 2, KA_LOG_DEBUG = 3 };

/**
 * @brief Storage for a platform lock. Opaque: only the ka_plat_lock_* functions look inside.
 *
 * Sized by KA_CFG_LOCK_BYTES so allocator state can embed it without knowing the platform.
 */
struct ka_lock {
	alignas(16) unsigned char opaque[KA_CFG_LOCK_BYTES];
};

/**
 * @brief Stop the system after fatal misuse or corruption (double free, foreign pointer,
 * corrupted header, failed assert). Never returns, never allocates.
 * @param msg NUL-terminated message, already formatted ("kalloc: <allocator>: <what> ...").
 * Hosted: writes msg and a newline to stderr, then abort(). Freestanding: calls the kernel's
 * panic hook (or spins forever when none is registered).
 */
noreturn void ka_plat_panic(const char *msg);

/**
 * @brief Write one log line (no trailing newline needed). Never allocates. Messages above the
 * platform's level (hosted: env-free default KA_LOG_WARN) are dropped.
 */
void ka_plat_log(enum ka_log_level level, const char *msg);

/** @brief Initialise a lock to the unlocked state. O(1). */
void ka_plat_lock_init(struct ka_lock *lock);

/**
 * @brief Acquire a lock. Freestanding: disables interrupts first (so an allocator used from an
 * interrupt handler cannot deadlock against the code it interrupted), then spins.
 * @return the saved interrupt state, to hand back to ka_plat_lock_release().
 * Not recursive.
 */
unsigned long ka_plat_lock_acquire(struct ka_lock *lock);

/** @brief Release a lock and restore the interrupt state ka_plat_lock_acquire() returned. */
void ka_plat_lock_release(struct ka_lock *lock, unsigned long flags);

/**
 * @brief Map `len` bytes (a multiple of KA_PAGE_SIZE) of fresh zero-filled, read-write memory,
 * aligned to `align` (a power of two, at least KA_PAGE_SIZE).
 * @return the start, or NULL when the platform has no page source or no memory.
 * Hosted: mmap. Freestanding: the kernel's page_map hook, NULL when none is registered.
 */
void *ka_plat_page_map(size_t len, size_t align);

/**
 * @brief Return memory obtained from ka_plat_page_map() (whole mapping or a page-aligned part).
 * @return 0, or KA_EINVAL / KA_ENOTSUP.
 */
int ka_plat_page_unmap(void *addr, size_t len);

/**
 * @brief Reserve `len` bytes (a multiple of KA_PAGE_SIZE) of address space that reads as zero
 * and is backed by memory only where it is written: a sparse table over the whole address
 * space (the global allocator's flat ownership map) costs a page per page written, not its size.
 * @return the start (page aligned), or NULL when the platform has no such reservation or no
 * address space; callers then use a structure of mapped pages instead.
 * Hosted: mmap(MAP_NORESERVE), pages committed by the OS on their first write (a write the
 * OS cannot back ends the process as any overcommitted write does). Freestanding: NULL (a
 * kernel's heap keeps structures of mapped pages: the global allocator's radix ownership
 * table). O(1), never allocates.
 */
void *ka_plat_reserve(size_t len);

/**
 * @brief Give back a whole reservation of ka_plat_reserve() (the same addr and len).
 * @return 0, or KA_EINVAL; KA_ENOTSUP freestanding (where ka_plat_reserve() gives none).
 */
int ka_plat_unreserve(void *addr, size_t len);

/**
 * @brief Make [addr, addr+len) inaccessible (a guard). Hosted: mprotect(PROT_NONE).
 * @return 0, or KA_ENOTSUP when the platform cannot, or KA_ENOMEM when the kernel's mapping
 * table is full.
 */
int ka_plat_page_protect(void *addr, size_t len, int accessible);

/**
 * @brief Translate a virtual address of memory kalloc manages to its physical address.
 * Hosted: the identity (the simulated machine's "physical" addresses are its virtual ones).
 * Freestanding: the kernel's virt_to_phys hook, or virtual minus the registered direct-map
 * offset when no hook is given.
 */
ka_paddr_t ka_plat_virt_to_phys(const void *vaddr);

/** @brief Inverse of ka_plat_virt_to_phys() for memory in the direct map. */
void *ka_plat_phys_to_virt(ka_paddr_t paddr);

/**
 * @brief Make [addr, addr+len) uncached / device-coherent for DMA. Hosted: a no-op returning 0.
 * @return 0 or a negative KA_E* code.
 */
int ka_plat_map_uncached(void *addr, size_t len);

/**
 * @brief Index of the calling CPU (freestanding: the kernel's cpu_id hook, default 0) or the
 * calling thread's slot (hosted: a small number held in initial-exec TLS, given out lowest
 * first and recycled by a pthread key destructor when the thread exits). Hosted answers
 * KA_PLAT_CPU_NONE when all KA_PLAT_HOSTED_SLOTS slots are taken or the thread is exiting.
 * O(1) after a thread's first call. Only the platform layer keeps thread-local state.
 * Hosted builds (KA_CFG_PLAT_HOSTED) read the slot inline: one TLS load and a compare, a call
 * only on a thread's first use; freestanding builds call the kernel's hook.
 */
static inline unsigned ka_plat_cpu_id(void);

/** ka_plat_cpu_id() answer of a hosted thread without a slot: callers take a shared path. */
#define KA_PLAT_CPU_NONE 0xffffffffu

/** Hosted: number of thread slots ka_plat_cpu_id() hands out. */
#define KA_PLAT_HOSTED_SLOTS 64u

/**
 * @brief Number of CPU ids (every ka_plat_cpu_id() answer but KA_PLAT_CPU_NONE is below it).
 * Freestanding: the kernel's cpu_count hook, default 1. Hosted: KA_PLAT_HOSTED_SLOTS. O(1).
 */
unsigned ka_plat_cpu_count(void);

/**
 * @brief Enter a section in which the calling code stays on its CPU and no other code runs on
 * that CPU's per-CPU data (per-CPU caches), and return the CPU id (as ka_plat_cpu_id()).
 * Freestanding: the kernel's cpu_pin hook (e.g. preempt_disable), default irq_save (no
 * interrupts, hence no preemption); the state goes to *flags. Hosted: the thread is its own
 * "CPU", nothing to disable (*flags = 0); signal handlers must not allocate (as with malloc).
 * Not nestable with itself on the same data. O(1). Pair with ka_plat_cpu_leave().
 * Hosted builds inline it (as ka_plat_cpu_id()); a caller that needs the CPU once per
 * operation should call it once and pass the id on.
 */
static inline unsigned ka_plat_cpu_enter(unsigned long *flags);

/**
 * @brief ka_plat_cpu_enter() for an inline fast path that must not call out. Hosted: one TLS
 * load, never a call; a thread that holds no slot (its first call, or after its exit
 * destructor) gets an id of KA_PLAT_CPU_NONE - 2 or more, so that the caller's `id < ncpus`
 * test sends it to its full path, whose ka_plat_cpu_enter() takes the slot. Freestanding:
 * ka_plat_cpu_enter(). Pair with ka_plat_cpu_leave(). O(1).
 */
static inline unsigned ka_plat_cpu_try_enter(unsigned long *flags);

/** @brief Leave the section ka_plat_cpu_enter() opened, restoring *flags' state. O(1).
 * Hosted: nothing to do, inline. */
static inline void ka_plat_cpu_leave(unsigned long flags);

/* Out-of-line forms, defined by both platforms (freestanding: the kernel's hooks; hosted: the
 * same as the inline hooks, for code built without KA_CFG_PLAT_HOSTED). */
unsigned ka_plat_cpu_call_id(void);
unsigned ka_plat_cpu_call_enter(unsigned long *flags);
void ka_plat_cpu_call_leave(unsigned long flags);

#if defined(KA_CFG_PLAT_HOSTED) && KA_CFG_PLAT_HOSTED
/* The calling thread's slot (KA_PLAT_CPU_NONE: none taken yet; KA_PLAT_CPU_NONE - 1: dead or
 * none to be had). Part of the hosted platform; only the inline hooks below read it. */
extern __thread unsigned ka_plat_hosted_slot __attribute__((tls_model("initial-exec")));

/** @brief Hosted, out of line: the slot of a thread whose TLS holds none (first call, thread
 * exit). Takes the slot table's mutex on a first call; O(KA_PLAT_HOSTED_SLOTS). */
unsigned ka_plat_hosted_slot_slow(void);

static inline unsigned ka_plat_cpu_id(void)
{
	unsigned v = ka_plat_hosted_slot;

	if (__builtin_expect(v < KA_PLAT_HOSTED_SLOTS, 1))
		return v;
	return ka_plat_hosted_slot_slow();
}

static inline unsigned ka_plat_cpu_enter(unsigned long *flags)
{
	*flags = 0;
	return ka_plat_cpu_id();
}

static inline unsigned ka_plat_cpu_try_enter(unsigned long *flags)
{
	*flags = 0;
	return ka_plat_hosted_slot; /* no slot: KA_PLAT_CPU_NONE or the dead mark (hosted.c) */
}

static inline void ka_plat_cpu_leave(unsigned long flags)
{
	(void)flags;
}
#else

static inline unsigned ka_plat_cpu_id(void)
{
	return ka_plat_cpu_call_id();
}

static inline unsigned ka_plat_cpu_enter(unsigned long *flags)
{
	return ka_plat_cpu_call_enter(flags);
}

static inline unsigned ka_plat_cpu_try_enter(unsigned long *flags)
{
	return ka_plat_cpu_call_enter(flags);
}

static inline void ka_plat_cpu_leave(unsigned long flags)
{
	ka_plat_cpu_call_leave(flags);
}
#endif

/**
 * @brief Fill buf with `len` unpredictable bytes (secrets and seeds of the hardened backend).
 * Hosted: getrandom() (non-blocking). Freestanding: the kernel's `entropy` hook.
 * Never fails to fill the buffer: without a source (no hook, or getrandom unavailable) it
 * writes a weak mix of a call counter, the buffer's address and a stack address, which differs
 * per call but is guessable, and says so in its return value. O(len), never allocates.
 * @return 0 when the bytes came from a real source, KA_ENOTSUP when they are the weak mix.
 */
int ka_plat_entropy(void *buf, size_t len);

/**
 * @brief What a kernel supplies to the freestanding platform. Any member may be NULL; the
 * defaults are then: panic spins forever, log discards, no IRQ masking, no page source,
 * virt_to_phys subtracts `direct_map_offset`, map_uncached succeeds, cpu_id returns 0,
 * cpu_count returns 1, cpu_pin/cpu_unpin are irq_save/irq_restore,
 * entropy falls back to a weak mix (see ka_plat_entropy()).
 */
struct ka_platform_hooks {
	void (*panic)(const char *msg);		  /**< must not return */
	void (*log)(int level, const char *msg);  /**< write one line */
	unsigned long (*irq_save)(void);	  /**< disable interrupts, return old state */
	void (*irq_restore)(unsigned long flags); /**< restore the state irq_save returned */
	void *(*page_map)(size_t len, size_t align);
	int (*page_unmap)(void *addr, size_t len);
	ka_paddr_t (*virt_to_phys)(const void *vaddr);
	void *(*phys_to_virt)(ka_paddr_t paddr);
	int (*map_uncached)(void *addr, size_t len);
	unsigned (*cpu_id)(void);
	uintptr_t direct_map_offset; /**< vaddr = paddr + offset when the hooks are NULL */
	/** Fill buf with len random bytes, return 0 (else ka_plat_entropy()'s weak mix). */
	int (*entropy)(void *buf, size_t len);
	/** Number of CPUs (ids 0..n-1); NULL: 1. */
	unsigned (*cpu_count)(void);
	/** Pin to the CPU (preemption off), return state; NULL: irq_save (or nothing). */
	unsigned long (*cpu_pin)(void);
	/** Undo cpu_pin with its state; NULL: irq_restore. Set both pin hooks or neither. */
	void (*cpu_unpin)(unsigned long flags);
};

/**
 * @brief Register the kernel's hooks (freestanding build only; the hosted build ignores it
 * and returns KA_ENOTSUP). Call once, early, before any allocation. The struct is copied.
 * @return 0 or KA_ENOTSUP.
 */
int ka_platform_set_hooks(const struct ka_platform_hooks *hooks);

/** @brief "hosted" or "freestanding". */
const char *ka_platform_name(void);

#endif /* KALLOC_PLATFORM_H */
