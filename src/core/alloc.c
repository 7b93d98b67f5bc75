/* SPDX-License-Identifier: MIT */
/*
 * The generic layer behind kalloc/alloc.h: argument checks, statistics, and the fallbacks
 * (realloc, memalign, pages) for backends that lack an operation. Every public ka_* call on
 * a `struct ka_alloc` enters here, so backends see only the pre-checked requests described
 * in kalloc/alloc_impl.h.
 */
#include "kalloc/alloc_impl.h"
#include "kalloc/platform.h"
#include "annotate.h"
#include "check.h"
#include "kstring.h"

/* Requests above this cannot be satisfied by any backend (a heap is smaller than half the
 * address space) and would make size + header arithmetic overflow inside backends. */
#define KA_MAX_REQUEST (SIZE_MAX / 2)

static struct ka_alloc *default_alloc;

void ka_count_alloc_shared(struct ka_counters *c, size_t req, size_t bytes)
{
	ka_count_alloc_inline(c, req, bytes);
}

void ka_alloc_init(struct ka_alloc *a, const struct ka_alloc_ops *ops, const char *name)
{
	a->ops = ops;
	a->name = name;
#if KA_CFG_STATS
	a->flags = ops && ops->alloc_counted && ops->free_counted ? KA_ALLOC_COUNTED : 0;
	memset(&a->ctr, 0, sizeof(a->ctr));
	a->ctr.min_alloc_size = SIZE_MAX;
#else
	a->flags = 0; /* the counters stay unused */
#endif
	memset(&a->stats, 0, sizeof(a->stats));
	a->stats.min_alloc_size = SIZE_MAX;
}

void ka_set_default(struct ka_alloc *a)
{
	default_alloc = a;
}

struct ka_alloc *ka_default(void)
{
	return default_alloc;
}

static inline bool keep_stats(const struct ka_alloc *a)
{
	return KA_CFG_STATS && !(a->flags & KA_ALLOC_NOSTATS);
}

/* Heads without statistics may be shared between threads (the locking adapter, whose
 * figures are copied in under its lock): the failure count, which only this layer can see
 * for requests it rejects, is then bumped atomically on 64-bit targets. 32-bit targets would
 * need libatomic for a 64-bit counter (i386 aligns it to 4 bytes only), so there a failure
 * that races with another may go uncounted. */
static void *fail(struct ka_alloc *a)
{
#if UINTPTR_MAX > 0xffffffffu && defined(__GCC_ATOMIC_LLONG_LOCK_FREE) &&                          \
    __GCC_ATOMIC_LLONG_LOCK_FREE == 2
	/* Size builds bump every head's count atomically: one body, and a failure is no hot
	 * path. */
#ifdef __OPTIMIZE_SIZE__
	const bool shared = true;
#else
	const bool shared = (a->flags & KA_ALLOC_NOSTATS) != 0;
#endif

	if (shared) {
		__atomic_fetch_add(&a->stats.nb_enomem, 1, __ATOMIC_RELAXED);
		return NULL;
	}
#endif
	a->stats.nb_enomem++;
	return NULL;
}

/* At debug level 3 every operation is followed by a full check; a heap that fails it is
 * reported at once, next to the operation that broke it, instead of much later. */
#if KA_CFG_DEBUG >= 3
KA_LINK_CHECKERS(alloc);
#endif
static inline void debug_check(struct ka_alloc *a, const void *ptr)
{
#if KA_CFG_DEBUG >= 3
	if (a->ops->check && a->ops->check(a) != 0)
		ka_misuse(a, "heap check failed after operation", ptr);
#else
	(void)a;
	(void)ptr;
#endif
}

/*
 * Most calls need none of this layer's work: no statistics (KA_ALLOC_NOSTATS: kept by a
 * cache or adapter above, or not wanted; or KA_CFG_STATS 0), no check after each operation
 * (debug level below 3) and no memory checker (annotate.h). ka_malloc() and ka_free() then go
 * straight to the backend after one flag test, and free() is a tail call. Through do_alloc()
 * this layer cost about 2.2 ns per alloc+free on the slab backend (docs/bench.md).
 */
#define KA_LIKELY(x) __builtin_expect(!!(x), 1)
#if KA_CFG_ANNOTATE
#define PLAIN_ANNOTATE ka_an_active()
#else
#define PLAIN_ANNOTATE 0
#endif

static inline bool plain(const struct ka_alloc *a)
{
#if KA_CFG_DEBUG >= 3
	(void)a;
	return false;
#else
	return (!KA_CFG_STATS || (a->flags & KA_ALLOC_NOSTATS)) && !PLAIN_ANNOTATE;
#endif
}

/* The common case, the default build's: statistics kept by the backend (alloc_counted,
 * free_counted), no check after each operation, no memory checker. ka_malloc() and ka_free()
 * test it first, as one compare of flags with KA_ALLOC_COUNTED alone, and then make one tail
 * call. Heads with other flags (KA_ALLOC_NOSTATS, the checker's bit) take the tests after. */
static inline bool counted(const struct ka_alloc *a)
{
#if KA_CFG_DEBUG >= 3 || !KA_CFG_STATS
	(void)a;
	return false;
#else
	return a->flags == KA_ALLOC_COUNTED && !PLAIN_ANNOTATE;
#endif
}

/* do_alloc() and ka_free() under an active memory checker (annotate.h), out of line so
 * that the native paths keep their shape: one more test each when the checker is absent. */
static void *annotated_alloc(struct ka_alloc *a, size_t size, size_t align, size_t req)
{
	unsigned an = ka_an_enter(a);
	void *p = a->ops->alloc(a, size, align);

	if (!p) {
		ka_an_leave(an);
		return fail(a);
	}
	KA_ASSERT(((uintptr_t)p & (align - 1)) == 0);
	/* The program owns `size` bytes (1 for a zero-size request, whose block still has a
	 * usable byte) and the statistics count those, as ka_usable_size() does. */
	if (an & KA_AN_OUTER)
		ka_an_alloc(p, size, a->ops->usable_size(a, p));
	if (keep_stats(a))
		ka_count_alloc(&a->ctr, req, (an & KA_AN_OUTER) ? size : a->ops->usable_size(a, p));
	debug_check(a, p);
	ka_an_leave(an);
	return p;
}

static void annotated_free(struct ka_alloc *a, void *ptr)
{
	unsigned an = ka_an_enter(a);

	if (an & KA_AN_OUTER) {
		size_t live = ka_an_free(a, ptr, 0);
		if (keep_stats(a))
			ka_count_free(&a->ctr, live);
	} else if (keep_stats(a)) {
		ka_count_free(&a->ctr, a->ops->usable_size(a, ptr));
	}
	a->ops->free(a, ptr);
	debug_check(a, NULL);
	ka_an_leave(an);
}

static void *do_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	size_t req = size;
	void *p;

	if (size == 0)
		size = 1;
	if (size > KA_MAX_REQUEST)
		return fail(a);
	if (align < KA_CFG_MIN_ALIGN)
		align = KA_CFG_MIN_ALIGN;
	if (__builtin_expect(PLAIN_ANNOTATE, 0))
		return annotated_alloc(a, size, align, req);
	if (keep_stats(a)) {
		/* The backend counts the block (or the failure) itself when it can; a zero-size
		 * request, which it sees as 1 byte, is counted here, as 0. */
		if (KA_LIKELY(a->ops->alloc_counted != NULL && req != 0)) {
			p = a->ops->alloc_counted(a, size, align);
			if (!p)
				return NULL;
		} else {
			p = a->ops->alloc(a, size, align);
			if (!p)
				return fail(a);
			ka_count_alloc(&a->ctr, req, a->ops->usable_size(a, p));
		}
		KA_ASSERT(((uintptr_t)p & (align - 1)) == 0);
		debug_check(a, p);
		return p;
	}
	p = a->ops->alloc(a, size, align);
	if (!p)
		return fail(a);
	KA_ASSERT(((uintptr_t)p & (align - 1)) == 0);
	debug_check(a, p);
	return p;
}

/* ka_malloc() on a head without statistics, out of line where a counted path exists: it
 * needs a stack frame (to keep `a` for the failure count), the counted path needs none. */
#if KA_CFG_STATS && KA_CFG_DEBUG < 3
#define PLAIN_MALLOC_INLINE __attribute__((noinline))
#else
#define PLAIN_MALLOC_INLINE inline
#endif
static PLAIN_MALLOC_INLINE void *plain_malloc(struct ka_alloc *a, size_t size)
{
	void *p = a->ops->alloc(a, size, KA_CFG_MIN_ALIGN);

	if (KA_LIKELY(p != NULL)) {
		KA_ASSERT(((uintptr_t)p & (KA_CFG_MIN_ALIGN - 1)) == 0);
		return p;
	}
	return fail(a);
}

/*
 * ka_malloc() and ka_free() test the common heads first and make one tail call for them.
 * Size builds (-Os) leave those shortcuts out: the general path after them does the same for
 * every head, one test later.
 */
#ifdef __OPTIMIZE_SIZE__
#define KA_SHORTCUTS 0
#else
#define KA_SHORTCUTS 1
#endif

void *ka_malloc(struct ka_alloc *a, size_t size)
{
	/* size - 1 wraps for 0, which takes the general path (it becomes 1 there). */
	if (KA_LIKELY(KA_SHORTCUTS && counted(a) && size - 1 < KA_MAX_REQUEST)) {
		void *p = a->ops->alloc_counted(a, size, KA_CFG_MIN_ALIGN);

		KA_ASSERT(((uintptr_t)p & (KA_CFG_MIN_ALIGN - 1)) == 0);
		return p;
	}
	if (KA_LIKELY(KA_SHORTCUTS && plain(a) && size - 1 < KA_MAX_REQUEST))
		return plain_malloc(a, size);
	return do_alloc(a, size, KA_CFG_MIN_ALIGN);
}

void *ka_calloc(struct ka_alloc *a, size_t n, size_t size)
{
	size_t total;
	void *p;

	if (ka_mul_overflow(n, size, &total))
		return fail(a);
	p = do_alloc(a, total, KA_CFG_MIN_ALIGN);
#if KA_CFG_MINIMAL
	if (p)
		memset(p, 0, total);
#else
	if (p && !(a->ops->known_zero && a->ops->known_zero(a, p, total)))
		memset(p, 0, total);
#endif
	return p;
}

void *ka_memalign(struct ka_alloc *a, size_t align, size_t size)
{
	if (!ka_is_pow2(align))
		return fail(a);
	return do_alloc(a, size, align);
}

int ka_posix_memalign(struct ka_alloc *a, void **memptr, size_t align, size_t size)
{
	void *p;

	if (!ka_is_pow2(align) || align % sizeof(void *) != 0)
		return KA_EINVAL;
	p = do_alloc(a, size, align);
	if (!p)
		return KA_ENOMEM;
	*memptr = p;
	return 0;
}

void ka_free(struct ka_alloc *a, void *ptr)
{
	if (!ptr)
		return;
	if (KA_LIKELY(KA_SHORTCUTS && counted(a))) {
		a->ops->free_counted(a, ptr);
		return;
	}
	if (KA_LIKELY(KA_SHORTCUTS && plain(a))) {
		a->ops->free(a, ptr);
		return;
	}
	if (__builtin_expect(PLAIN_ANNOTATE, 0)) {
		annotated_free(a, ptr);
		return;
	}
	if (keep_stats(a)) {
		if (KA_LIKELY(a->ops->free_counted != NULL)) {
			a->ops->free_counted(a, ptr);
		} else {
			ka_count_free(&a->ctr, a->ops->usable_size(a, ptr));
			a->ops->free(a, ptr);
		}
	} else {
		a->ops->free(a, ptr);
	}
	debug_check(a, NULL);
}

/* Under a memory checker the usable size is the requested size, as for malloc_usable_size
 * under memcheck or ASan: the bytes past it are unaddressable. */
size_t ka_usable_size(struct ka_alloc *a, const void *ptr)
{
	unsigned an;
	size_t n;

	if (!ptr)
		return 0;
	an = ka_an_enter(a);
	n = a->ops->usable_size(a, ptr);
	if (an & KA_AN_OUTER)
		n = ka_an_live_size(ptr, n);
	ka_an_leave(an);
	return n;
}

/* Generic resize: keep the block when the new size fits and does not waste more than half
 * of it, otherwise move. Shrinking below half moves so that a shrunk buffer does not pin a
 * large block for its whole life. */
static void *generic_realloc(struct ka_alloc *a, void *ptr, size_t size, size_t old)
{
	void *n;

	if (size <= old && size >= old / 2)
		return ptr;
	n = a->ops->alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!n)
		return NULL;
	memcpy(n, ptr, size < old ? size : old);
	a->ops->free(a, ptr);
	return n;
}

/* Resize under a memory checker: keep the block on the generic rule (the checker is told the
 * new size), otherwise move with the copy made here, after the new block is annotated, so the
 * checker keeps the definedness of the copied bytes. A backend's own realloc would copy
 * inside the bracket, where the checker cannot follow. malloc under memcheck or ASan always
 * moves; this moves less. */
static void *annotated_realloc(struct ka_alloc *a, void *ptr, size_t size, size_t *oldp)
{
	size_t old = *oldp, live = ka_an_live_size(ptr, old);
	void *n;

	*oldp = live; /* what the statistics counted for this block */
	if (size <= old && size >= old / 2) {
		ka_an_resize(ptr, live, size, old);
		return ptr;
	}
	n = a->ops->alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!n)
		return NULL;
	ka_an_alloc(n, size, a->ops->usable_size(a, n));
	memcpy(n, ptr, size < live ? size : live);
	ka_an_free(a, ptr, old);
	a->ops->free(a, ptr);
	return n;
}

void *ka_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	size_t old, req = size;
	unsigned an;
	void *n;

	if (!ptr)
		return ka_malloc(a, size);
	if (size == 0)
		size = 1;
	if (size > KA_MAX_REQUEST)
		return fail(a);
	an = ka_an_enter(a);
	old = a->ops->usable_size(a, ptr);
	if (an & KA_AN_OUTER)
		n = annotated_realloc(a, ptr, size, &old);
	else if (a->ops->realloc)
		n = a->ops->realloc(a, ptr, size);
	else
		n = generic_realloc(a, ptr, size, old);
	if (!n) {
		ka_an_leave(an);
		return fail(a);
	}
	if (keep_stats(a)) {
		size_t now = (an & KA_AN_OUTER) ? size : a->ops->usable_size(a, n);
		if (n != ptr) {
			ka_count_free(&a->ctr, old);
			ka_count_alloc(&a->ctr, req, now);
		} else {
			struct ka_counters *c = &a->ctr;

			if (now <= old)
				c->mem_room += old - now;
			else if (now - old <= c->mem_room)
				c->mem_room -= now - old;
			else {
				c->max_mem_use += now - old - c->mem_room;
				c->mem_room = 0;
			}
			c->last_alloc_size = req;
		}
	}
	debug_check(a, n);
	ka_an_leave(an);
	return n;
}

void *ka_palloc_aligned(struct ka_alloc *a, size_t npages, size_t align)
{
	size_t bytes;
	unsigned an;
	void *p;

	if (npages == 0 || ka_mul_overflow(npages, KA_PAGE_SIZE, &bytes) ||
	    bytes > KA_MAX_REQUEST || !ka_is_pow2(align) || align < KA_PAGE_SIZE)
		return fail(a);
	an = ka_an_enter(a);
	if (a->ops->palloc)
		p = a->ops->palloc(a, npages, align);
	else
		p = a->ops->alloc(a, bytes, align);
	if (!p) {
		ka_an_leave(an);
		return fail(a);
	}
	if (keep_stats(a))
		ka_count_alloc(&a->ctr, bytes, bytes);
	debug_check(a, p);
	if (an & KA_AN_OUTER)
		ka_an_alloc(p, bytes, bytes);
	ka_an_leave(an);
	return p;
}

void *ka_palloc(struct ka_alloc *a, size_t npages)
{
	return ka_palloc_aligned(a, npages, KA_PAGE_SIZE);
}

void ka_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	unsigned an;

	if (!ptr)
		return;
	if (npages == 0 || npages > KA_MAX_REQUEST / KA_PAGE_SIZE)
		ka_misuse(a, "pfree with an invalid page count", ptr);
	if (((uintptr_t)ptr & (KA_PAGE_SIZE - 1)) != 0)
		ka_misuse(a, "pfree of a pointer that is not page aligned", ptr);
	/* Without native pages the block came from alloc(); its usable size bounds the count,
	 * so freeing more pages than were allocated is caught before it corrupts anything. */
	an = ka_an_enter(a);
	if (!a->ops->pfree && a->ops->usable_size(a, ptr) < npages * KA_PAGE_SIZE)
		ka_misuse(a, "pfree with more pages than were allocated", ptr);
	if (an & KA_AN_OUTER)
		ka_an_free(a, ptr, npages * KA_PAGE_SIZE);
	if (keep_stats(a))
		ka_count_free(&a->ctr, npages * KA_PAGE_SIZE);
	if (a->ops->pfree)
		a->ops->pfree(a, ptr, npages);
	else
		a->ops->free(a, ptr);
	debug_check(a, NULL);
	ka_an_leave(an);
}

int ka_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	unsigned an;
	int rc;

	if (!base || len == 0)
		return KA_EINVAL;
	if ((uintptr_t)base + len < (uintptr_t)base)
		return KA_EINVAL;
	if (!a->ops->add_memory)
		return KA_ENOTSUP;
	an = ka_an_enter(a);
	rc = a->ops->add_memory(a, base, len);
	debug_check(a, base);
	/* The new memory is free space and the backend's metadata for it: none of it is the
	 * program's until a block is handed out. */
	if (an && rc == 0)
		ka_an_noaccess(base, len);
	ka_an_leave(an);
	return rc;
}

void ka_info(struct ka_alloc *a, struct ka_info *out)
{
	unsigned an;

	memset(out, 0, sizeof(*out));
	an = ka_an_enter(a);
	a->ops->info(a, out);
	ka_an_leave(an);
}

size_t ka_availmem(struct ka_alloc *a)
{
	struct ka_info i;

	ka_info(a, &i);
	return i.avail;
}

size_t ka_maxalloc(struct ka_alloc *a)
{
	struct ka_info i;

	ka_info(a, &i);
	return i.maxalloc;
}

/* The view is the allocator's own memory (no allocator is defined const), written through the
 * const pointer: reading the figures does not change them. */
const struct ka_stats *ka_stats(const struct ka_alloc *a)
{
#if KA_CFG_STATS
	if (!(a->flags & KA_ALLOC_NOSTATS)) {
		struct ka_stats *v = (struct ka_stats *)(uintptr_t)&a->stats;
		const struct ka_counters *c = &a->ctr;
		size_t live = c->max_nb_allocs - c->nb_room;

		v->last_alloc_size = c->last_alloc_size;
		v->min_alloc_size = c->min_alloc_size;
		v->max_alloc_size = c->max_alloc_size;
		v->nb_allocs = c->nb_allocs;
		v->nb_frees = c->nb_allocs - live;
		v->cur_nb_allocs = live;
		v->max_nb_allocs = c->max_nb_allocs;
		v->cur_mem_use = c->max_mem_use - c->mem_room;
		v->max_mem_use = c->max_mem_use;
	}
#endif
	return &a->stats;
}

const char *ka_name(const struct ka_alloc *a)
{
	return a->name;
}

/* The bodies of ka_check() and ka_walk() (check.c), here so that the ops of adapters can
 * call them without loading any checker (check.h). */
unsigned ka_check_op(struct ka_alloc *a)
{
	unsigned an, n;

	if (!a->ops->check) {
#if KA_CFG_CHECK
		/* Checkers are in the build but this heap's is not linked (or it has none): say
		 * so, rather than pass an unchecked heap for a healthy one. */
		ka_check_report(a, "no checker linked", NULL);
		return 1;
#else
		return 0; /* a build without checkers: nothing was checked */
#endif
	}
	an = ka_an_enter(a);
	n = a->ops->check(a);
	ka_an_leave(an);
	return n;
}

/* Under a memory checker the callback runs inside the bracket too (memcheck reports nothing
 * it does); a walk is a debugging aid, not a place for the program's own work. */
int ka_walk_op(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	unsigned an;
	int rc;

	if (!a->ops->walk)
		return KA_ENOTSUP;
	an = ka_an_enter(a);
	rc = a->ops->walk(a, fn, arg);
	ka_an_leave(an);
	return rc;
}

int ka_sweep(struct ka_alloc *a)
{
#if KA_CFG_MINIMAL
	(void)a;
	return KA_ENOTSUP;
#else
	if (!a->ops->sweep)
		return KA_ENOTSUP;
	return a->ops->sweep(a);
#endif
}

bool ka_owns(struct ka_alloc *a, const void *ptr)
{
	unsigned an;
	bool r;

	if (!a->ops->owns)
		return false;
	an = ka_an_enter(a);
	r = a->ops->owns(a, ptr);
	ka_an_leave(an);
	return r;
}
