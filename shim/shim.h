/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the three parts of libkalloc-malloc.so:
 *  - malloc.c: the exported C library functions (errno, NULL and alignment rules);
 *  - cache.c:  the per-thread cache of small blocks (magazines per size class);
 *  - heap.c:   the process heap, the kalloc global allocator behind one lock, lazily set up
 *              from the environment (KALLOC_BACKEND, KALLOC_STATS), fork handlers, statistics.
 *
 * Block format. Two kinds of blocks, told apart on free by the page they lie in:
 *  - span blocks (span.c): requests up to SHIM_SPAN_MAX bytes are carved from 4 KiB spans, a
 *    page each, holding blocks of one size class behind a 64-byte span header at the page's
 *    start (struct shim_span). Spans are carved from "groups", blocks of the global allocator
 *    (so of the chosen byte backend) of SHIM_GROUP_BYTES, which go back to it when all their
 *    spans are empty. free() finds the header by masking the pointer: one load gives the
 *    class, no call into the backend. KALLOC_SPANS=0 turns spans off.
 *  - backend blocks: every other request is a block of the global allocator, exactly as the
 *    byte backend returned it; its size class on free is derived from its usable size, which
 *    the backend keeps in band (shim_heap_usable(), no lock: see glue.c). A block of usable
 *    size u can serve any class of size <= u, so it joins the magazine of the largest such
 *    class.
 * Free blocks (in a thread's magazine or in a span's free list) hold a link in their first
 * word and a tag in their second: shim_tag(block, link), keyed by a per-process random value.
 * free() refuses a block that already carries its tag (double free, however long ago, as long
 * as the block was not handed out again); malloc() refuses to hand out a block whose link or
 * tag was changed while it was free (write after free) and clears the tag. Before anything
 * around a pointer is read, free() asks the global allocator whether it holds the memory
 * (shim_heap_owns(), ka_global_owns()).
 */
#ifndef KALLOC_SHIM_H
#define KALLOC_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_ALIGN _Alignof(max_align_t)

/* Size classes: 16-byte steps up to 128, then four classes per power of two up to 16 KiB. */
#define SHIM_NCLS      36
#define SHIM_SMALL_MAX ((size_t)16384)

/* Span classes: the first SHIM_SPAN_NCLS classes (up to 1 KiB; a 4 KiB span holds 252 blocks
 * of 16 bytes, 7 of 512, 3 of 1 KiB: the larger classes waste up to a quarter of a span). */
#define SHIM_SPAN_NCLS	20
#define SHIM_SPAN_MAX	((size_t)1024)
#define SHIM_SPAN_BYTES ((uintptr_t)4096)
#define SHIM_SPAN_HDR	((uintptr_t)64)
/* A group: 17 pages, so that at least 16 aligned spans fit wherever the backend puts it. */
#define SHIM_GROUP_BYTES ((size_t)17 * 4096)

/* Requests above this fail with ENOMEM before any arithmetic can overflow. */
#define SHIM_MAX_REQUEST (SIZE_MAX / 2 - 65536)

static inline unsigned shim_fls(size_t x)
{
	return (unsigned)(sizeof(size_t) * 8 - 1) - (unsigned)__builtin_clzl((unsigned long)x);
}

/* Classes of requests up to 1 KiB, indexed by (n + 15) / 16 (every class size up to 1 KiB is
 * a multiple of 16, so all requests of one index share a class). */
extern const uint8_t shim_class_tab[65];

/* Size class of a request of n bytes (0 <= n <= SHIM_SMALL_MAX). */
static inline unsigned shim_class_of(size_t n)
{
	unsigned e;

	if (n <= 1024)
		return shim_class_tab[(n + 15) >> 4];
	if (n <= 128)
		return n == 0 ? 0 : (unsigned)((n + 15) >> 4) - 1;
	e = shim_fls(n - 1);
	return 8 + (e - 7) * 4 + (unsigned)((n - 1) >> (e - 2)) - 4;
}

/* The largest class whose blocks fit in u usable bytes (16 <= u <= SHIM_SMALL_MAX). */
static inline unsigned shim_class_floor(size_t u)
{
	return u >= SHIM_SMALL_MAX ? SHIM_NCLS - 1 : shim_class_of(u + 1) - 1;
}

/* Bytes a block of class c offers the caller. */
static inline size_t shim_class_size(unsigned c)
{
	unsigned e;

	if (c < 8)
		return (size_t)(c + 1) << 4;
	e = 7 + (c - 8) / 4;
	return ((size_t)1 << e) + (size_t)((c - 8) % 4 + 1) * ((size_t)1 << (e - 2));
}

/* Report misuse (double free, foreign pointer) and abort. Never allocates (malloc.c). */
__attribute__((__noreturn__)) void shim_misuse(const char *what, const void *p);

/* ---- tags and the mapping registry --------------------------------------------------------- */

/* Per-process random key (heap.c, from getrandom or the clock at start-up). */
extern uintptr_t shim_key;

/* Tag of a free block whose link word holds `link`. */
static inline uintptr_t shim_tag(const void *block, const void *link)
{
	return shim_key ^ (uintptr_t)block ^ (uintptr_t)link;
}

/* Link a free block in front of `head`. */
static inline void shim_link(void *block, void *head)
{
	((void **)block)[0] = head;
	((uintptr_t *)block)[1] = shim_tag(block, head);
}

/* True when a block carries the tag of a free block. */
static inline bool shim_is_tagged(const void *block)
{
	return ((const uintptr_t *)block)[1] == shim_tag(block, ((void *const *)block)[0]);
}

/* Chunk size - 1 of the global allocator, once the heap exists (glue.c). */
extern uintptr_t shim_chunk_mask;

/* True when p lies in memory the heap holds for blocks (ka_global_owns(): p and the bytes
 * of its chunk slot below it can be read). Lock free; false before the heap exists. */
bool shim_heap_owns(const void *p);

/* ---- span.c: size-class spans ------------------------------------------------------------- */

/* Header at the start of every span page; the blocks follow from SHIM_SPAN_HDR. Fields other
 * than magic/cls are guarded by the span's class lock (span.c). */
struct shim_span {
	uintptr_t magic;	/* (uintptr_t)this ^ shim_key while the page is a span */
	uint16_t cls;		/* size class, while the span belongs to one */
	uint16_t cap;		/* blocks in the span */
	uint16_t nfree;		/* blocks on `free` */
	uint16_t carved;	/* blocks handed out at least once (the rest are untouched) */
	uint8_t listed;		/* on its class's list of spans with blocks to give */
	uint8_t pooled;		/* on the pool of empty spans */
	uint16_t gspans;	/* first span of a group: spans in the group */
	uint32_t glive;		/* first span of a group: spans of the group not in the pool */
	void *free;		/* free blocks, linked and tagged as in a magazine */
	struct shim_span *prev; /* class list or pool */
	struct shim_span *next;
	struct shim_span *first; /* first span of the group (holds gspans, glive, gbase) */
	void *gbase;		 /* first span of a group: the global allocator's block */
};

extern unsigned shim_span_ncls;		/* SHIM_SPAN_NCLS, or 0 with KALLOC_SPANS=0 */
extern const uint32_t shim_span_size[]; /* per class: the class size */

#define SHIM_SPAN_ROWS 32 /* a power of two > SHIM_SPAN_NCLS */
extern const uint64_t shim_span_starts[SHIM_SPAN_ROWS][4];

/* True when the byte at offset off (< SHIM_SPAN_BYTES, multiple of 16) of a span of class c
 * starts a block (c == SHIM_SPAN_NCLS: a span in the pool, nothing starts there). */
static inline bool shim_span_starts_at(unsigned c, uintptr_t off)
{
	unsigned g = (unsigned)(off >> 4);

	return (shim_span_starts[c & (SHIM_SPAN_ROWS - 1)][g >> 6] >> (g & 63)) & 1;
}

/* The span a block of the heap lies in, or NULL. p is 16-byte aligned and shim_heap_owns(p). Stops
 * the process on a pointer into a span header or between blocks. */
static inline struct shim_span *shim_span_of(const void *p)
{
	uintptr_t a = (uintptr_t)p, off = a & (SHIM_SPAN_BYTES - 1);
	struct shim_span *s = (struct shim_span *)(a - off);

	if ((a & shim_chunk_mask) == 0 || s->magic != ((uintptr_t)s ^ shim_key))
		return NULL;
	if (!shim_span_starts_at(s->cls, off))
		shim_misuse("free(): invalid pointer (not the start of a block)", p);
	return s;
}

/* A list of free blocks of span class c (linked and tagged), *n >= want of them (whole
 * spans: often more), or fewer (NULL, *n = 0) when memory runs out. Takes the class lock. */
void *shim_span_refill(unsigned c, uint32_t want, uint32_t *n);
/* Give the first n blocks of the list `head` of span class c back to their spans; returns
 * the rest of the list. Takes the class lock. Stops the process on a block whose link or tag
 * was overwritten while it was free. */
void *shim_span_flush(unsigned c, void *head, uint32_t n);
/* fork(): take / release / re-initialise every class lock (heap.c's handlers). */
void shim_span_lock_all(void);
void shim_span_unlock_all(void);
void shim_span_reinit_locks(void);
/* Spans and groups held now, for the exit statistics. */
void shim_span_figures(size_t *spans, size_t *groups);

/* ---- heap.c: lazy set-up from the environment, fork handlers, exit statistics ------------ */

/* True once the heap is set up; shim_heap_init() sets it up (idempotent, thread safe). */
extern volatile int shim_heap_ready;
void shim_heap_init(void);

/* ---- glue.c: the kalloc global allocator behind one lock (the only file using global.h) --- */

/* Build the global allocator on the byte backend `name` (NULL: the build's default) with
 * chunks of 2^chunk_shift bytes, keeping up to keep_chunks empty chunks mapped. 0, or -1 when
 * no usable backend has that name, -2 when the global allocator refuses to start. */
int shim_glue_create(const char *name, unsigned chunk_shift, size_t keep_chunks);
/* Names of the byte backends the global allocator accepts, separated by spaces. */
const char *shim_glue_backends(void);
/* Name of the byte backend in use. */
const char *shim_glue_backend(void);

void shim_heap_lock(void);
void shim_heap_unlock(void);
/* Fork: the child re-initialises the lock the parent's forking thread held. */
void shim_heap_lock_reinit(void);
/* With the heap lock held: a block of >= size bytes aligned to align (power of two), or NULL. */
void *shim_heap_alloc_locked(size_t size, size_t align);
void shim_heap_free_locked(void *block);
/* Usable bytes of a live block from shim_heap_alloc_locked(), WITHOUT the heap lock (the
 * block's own in-band header and its chunk's header, which only the owner of a live block
 * can change). Stops the process on a pointer the global allocator did not hand out. */
size_t shim_heap_usable(const void *block);
/* With the heap lock held: resize (may move, keeps contents); NULL with the block intact. */
void *shim_heap_realloc_locked(void *block, size_t size);
/* True when a block of `size` bytes and malloc's alignment from shim_heap_alloc_locked() is
 * a large block of the global allocator: pages mapped from the OS for it alone (and unmapped
 * when it is freed), so zero on return. calloc() then clears nothing, leaving the pages
 * uncommitted as glibc does. No lock: the threshold is fixed once the heap exists. */
bool shim_heap_fresh(size_t size);

/* Figures for mallinfo2() and the exit statistics. */
struct shim_heap_figures {
	size_t mapped;	   /* bytes the global allocator holds from the system */
	size_t in_use;	   /* bytes in live global-allocator blocks (thread caches included) */
	size_t free_bytes; /* bytes free inside what is mapped */
	size_t chunks;	   /* sub-heap chunks mapped now */
	size_t large;	   /* live blocks served straight from pages */
	uint64_t allocs;   /* global-allocator allocations */
	uint64_t frees;	   /* global-allocator frees */
	uint64_t enomem;   /* failed requests */
	uint64_t released; /* chunks given back to the system so far */
};
/* Takes the heap lock. */
void shim_heap_figures(struct shim_heap_figures *out);

/* ---- cache.c: per-thread magazines --------------------------------------------------------- */

struct shim_bin {
	void *head;
	uint32_t count;
	uint32_t bound;
};

struct shim_tcache {
	struct shim_bin bins[SHIM_NCLS];
	int state;
	uint64_t hits, misses, frees, flushes;
};

/* The calling thread's magazines (initial-exec TLS: no call, no allocation on access). */
extern __thread struct shim_tcache shim_tc __attribute__((tls_model("initial-exec")));

void *shim_cache_alloc_slow(unsigned c);
void shim_cache_free_slow(void *p, unsigned c);

/* Small block of class c from the calling thread's cache (refilled under a lock when empty).
 * Stops the process on a block whose link or tag changed while it was free. */
static inline void *shim_cache_alloc(unsigned c)
{
	struct shim_bin *b = &shim_tc.bins[c];
	void *p = b->head;

	if (__builtin_expect(p == NULL, 0))
		return shim_cache_alloc_slow(c);
	if (__builtin_expect(!shim_is_tagged(p), 0))
		shim_misuse("malloc(): free block modified after free (write after free)", p);
	b->head = *(void **)p;
	((uintptr_t *)p)[1] = 0;
	b->count--;
	shim_tc.hits++;
	return p;
}

/* Return a block to the calling thread's magazine of class c: a span block of class c, or a
 * backend block whose usable size floors to class c >= shim_span_ncls. Stops the process on a
 * block that is free already (its tag): a double free, at once or long after, as long as
 * nobody was handed the block since. */
static inline void shim_cache_free(void *p, unsigned c)
{
	struct shim_bin *b = &shim_tc.bins[c];

	if (__builtin_expect(shim_is_tagged(p), 0))
		shim_misuse("free(): double free", p);
	if (__builtin_expect(b->count >= b->bound, 0)) {
		shim_cache_free_slow(p, c);
		return;
	}
	shim_link(p, b->head);
	b->head = p;
	b->count++;
	shim_tc.frees++;
}

/* Set before shim_cache_init_key(): no caching (bounds 0), every block goes back at once. */
extern int shim_cache_direct;
/* Give every block of the calling thread's cache back to the global allocator. */
void shim_cache_flush_self(void);
/* Called once by heap.c's initialisation: bounds and the thread-exit key. */
void shim_cache_init_key(void);
/* Most bytes one thread's cache can hold (headers included). */
size_t shim_cache_bytes_max(void);

struct shim_cache_counts {
	uint64_t hits;	  /* allocations served from a thread cache */
	uint64_t misses;  /* allocations that had to refill */
	uint64_t frees;	  /* frees kept in a thread cache */
	uint64_t flushes; /* frees that overflowed a cache and flushed part of it */
};
void shim_cache_counts(struct shim_cache_counts *out);

/* ---- malloc.c ------------------------------------------------------------------------------ */

/* An environment variable, readable before libc has set environ up (heap.c). */
const char *shim_env_get(const char *name);

/* Write a NUL-terminated string to stderr with write(2); keeps errno. */
void shim_write_err(const char *s);

#endif /* KALLOC_SHIM_H */
