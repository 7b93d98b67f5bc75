/* SPDX-License-Identifier: MIT */
/*
 * Size-class spans for the small classes (<= SHIM_SPAN_MAX bytes), under the thread caches.
 *
 * Why: a magazine miss of a small class used to cost one trip through the global allocator
 * and the backend per block, and every free asked the backend for the block's usable size.
 * A span is a 4 KiB page of same-size blocks with a 64-byte header at its start, so a free
 * finds the class by masking the pointer, a refill moves a whole span's free blocks to the
 * thread in O(1), and a flush pushes each block on its span's list.
 *
 * Layout. Spans are carved out of groups: a group is one block of SHIM_GROUP_BYTES (17
 * pages) from the global allocator, so of the chosen byte backend; every 4 KiB-aligned page
 * that lies wholly inside it becomes a span (16 or 17 of them). The first span of a group
 * holds the group's figures (block address, span count, spans in use). A span is in one of
 * three states: in the pool of empty spans (any class may take it), owned by a class with
 * blocks to give (on the class's list), or owned by a class with every block handed out (on
 * no list). Blocks of a span that were never handed out are not linked anywhere: `carved`
 * counts the prefix that was, so an empty span costs no writes until it is used.
 *
 * Locks. One mutex per span class guards the class's list and the mutable fields of its
 * spans (free, nfree, carved, listed). The pool and the groups are guarded by the heap lock
 * (glue.c), taken inside a class lock when a class needs a span or gives one back. Lock
 * order: class lock -> heap lock; two class locks are never held together (fork() takes them
 * all, in class order, before the heap lock: heap.c). free() reads a span's magic, cls and
 * cap without a lock: they change only while the span has no block handed out.
 *
 * Bounds. An empty span goes back to the pool at once; a group whose spans are all in the
 * pool goes back to the global allocator unless the pool would then hold fewer than 16 spans
 * (a reserve, so that a class emptying and refilling one span does not free and re-allocate
 * a group every time). Memory held beyond live blocks: the pool's reserve (64 KiB), the
 * partly used spans (at most one page per span in use), and the thread caches (cache.c).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "shim.h"

unsigned shim_span_ncls = SHIM_SPAN_NCLS;
const uint32_t shim_span_size[SHIM_SPAN_NCLS] = {16,  32,  48,	64,  80,  96,  112, 128, 160, 192,
						 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024};

/* Per class (and all-zero rows for spans in the pool and for any other cls value a damaged
 * header may hold: the index is masked to the table), bit g set iff a block starts at
 * byte 16 * g of a span: free() tells a block's start from any other address with one bit
 * test. Generated from the layout (first block at SHIM_SPAN_HDR, cap = 4032 / size). */
const uint64_t shim_span_starts[SHIM_SPAN_ROWS][4] = {
    {0xfffffffffffffff0ull, 0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull},
    {0x5555555555555550ull, 0x5555555555555555ull, 0x5555555555555555ull, 0x5555555555555555ull},
    {0x2492492492492490ull, 0x9249249249249249ull, 0x4924924924924924ull, 0x2492492492492492ull},
    {0x1111111111111110ull, 0x1111111111111111ull, 0x1111111111111111ull, 0x1111111111111111ull},
    {0x0842108421084210ull, 0x1084210842108421ull, 0x2108421084210842ull, 0x0210842108421084ull},
    {0x0410410410410410ull, 0x1041041041041041ull, 0x4104104104104104ull, 0x0410410410410410ull},
    {0x1020408102040810ull, 0x0810204081020408ull, 0x0408102040810204ull, 0x0204081020408102ull},
    {0x1010101010101010ull, 0x1010101010101010ull, 0x1010101010101010ull, 0x0010101010101010ull},
    {0x0040100401004010ull, 0x1004010040100401ull, 0x0100401004010040ull, 0x0010040100401004ull},
    {0x0010010010010010ull, 0x1001001001001001ull, 0x0100100100100100ull, 0x0010010010010010ull},
    {0x1000400100040010ull, 0x0010004001000400ull, 0x0400100040010004ull, 0x0004001000400100ull},
    {0x0010001000100010ull, 0x0010001000100010ull, 0x0010001000100010ull, 0x0000001000100010ull},
    {0x0000100001000010ull, 0x1000010000100001ull, 0x0100001000010000ull, 0x0000000100001000ull},
    {0x0010000010000010ull, 0x1000001000001000ull, 0x0000100000100000ull, 0x0000000010000010ull},
    {0x1000000100000010ull, 0x0010000001000000ull, 0x0000100000010000ull, 0x0000001000000100ull},
    {0x0000001000000010ull, 0x0000001000000010ull, 0x0000001000000010ull, 0x0000000000000010ull},
    {0x0000100000000010ull, 0x1000000000100000ull, 0x0000001000000000ull, 0x0000000000001000ull},
    {0x0010000000000010ull, 0x0000001000000000ull, 0x0000000000100000ull, 0x0000000000000010ull},
    {0x1000000000000010ull, 0x0010000000000000ull, 0x0000100000000000ull, 0x0000000000000000ull},
    {0x0000000000000010ull, 0x0000000000000010ull, 0x0000000000000010ull, 0x0000000000000000ull},
    {0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000000ull, 0x0000000000000000ull}};

static pthread_mutex_t cls_lock[SHIM_SPAN_NCLS] = {[0 ... SHIM_SPAN_NCLS - 1] =
						       PTHREAD_MUTEX_INITIALIZER};
static struct shim_span *avail[SHIM_SPAN_NCLS]; /* spans with blocks to give, per class */

/* Under the heap lock. */
static struct shim_span *pool;
static size_t pool_n, n_groups, n_spans;

#define POOL_RESERVE 16

static void lpush(struct shim_span **h, struct shim_span *s)
{
	s->prev = NULL;
	s->next = *h;
	if (*h)
		(*h)->prev = s;
	*h = s;
}

static void ldel(struct shim_span **h, struct shim_span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*h = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static struct shim_span *span_at(struct shim_span *first, unsigned i)
{
	return (struct shim_span *)(void *)((char *)first + (size_t)i * SHIM_SPAN_BYTES);
}

/* Heap lock held: a new group, its spans into the pool. */
static bool group_new(void)
{
	char *g = shim_heap_alloc_locked(SHIM_GROUP_BYTES, SHIM_ALIGN);
	uintptr_t a;
	struct shim_span *f;
	unsigned n;

	if (!g)
		return false;
	a = ((uintptr_t)g + SHIM_SPAN_BYTES - 1) & ~(SHIM_SPAN_BYTES - 1);
	n = (unsigned)(((uintptr_t)g + SHIM_GROUP_BYTES - a) / SHIM_SPAN_BYTES);
	f = (struct shim_span *)a;
	for (unsigned i = 0; i < n; i++) {
		struct shim_span *s = span_at(f, i);

		s->cls =
		    SHIM_SPAN_NCLS; /* the all-zero row: a free() into a pooled span is refused */
		s->cap = 0;
		s->listed = 0;
		s->pooled = 1;
		s->first = f;
		s->free = NULL;
		s->magic = (uintptr_t)s ^ shim_key;
		lpush(&pool, s);
	}
	f->gspans = (uint16_t)n;
	f->glive = 0;
	f->gbase = g;
	pool_n += n;
	n_spans += n;
	n_groups++;
	return true;
}

/* Heap lock held: every span of the group is in the pool; give the group back. */
static void group_free(struct shim_span *f)
{
	unsigned n = f->gspans;
	void *g = f->gbase;

	for (unsigned i = 0; i < n; i++) {
		struct shim_span *s = span_at(f, i);

		ldel(&pool, s);
		s->magic = 0; /* the page may become anything: it is no span any more */
	}
	pool_n -= n;
	n_spans -= n;
	n_groups--;
	shim_heap_free_locked(g);
}

/* Class lock held: an empty span for class c, or NULL. */
static struct shim_span *span_take(unsigned c)
{
	struct shim_span *s;

	shim_heap_lock();
	if (!pool && !group_new()) {
		shim_heap_unlock();
		return NULL;
	}
	s = pool;
	ldel(&pool, s);
	pool_n--;
	s->pooled = 0;
	s->first->glive++;
	shim_heap_unlock();
	s->cls = (uint16_t)c;
	s->nfree = 0;
	s->carved = 0;
	s->free = NULL;
	s->listed = 0;
	s->cap = (uint16_t)((SHIM_SPAN_BYTES - SHIM_SPAN_HDR) / shim_span_size[c]);
	return s;
}

/* Class lock held: s has every carved block back; it goes to the pool. */
static void span_release(unsigned c, struct shim_span *s)
{
	struct shim_span *f = s->first;

	if (s->listed) {
		ldel(&avail[c], s);
		s->listed = 0;
	}
	s->cls = SHIM_SPAN_NCLS;
	s->cap = 0;
	s->free = NULL;
	shim_heap_lock();
	lpush(&pool, s);
	s->pooled = 1;
	pool_n++;
	if (--f->glive == 0 && pool_n >= (size_t)f->gspans + POOL_RESERVE)
		group_free(f);
	shim_heap_unlock();
}

void *shim_span_refill(unsigned c, uint32_t want, uint32_t *n)
{
	void *head = NULL;
	uint32_t got = 0;

	pthread_mutex_lock(&cls_lock[c]);
	while (got < want || got == 0) {
		struct shim_span *s = avail[c];
		char *base;
		uint32_t size = shim_span_size[c];

		if (!s) {
			s = span_take(c);
			if (!s)
				break;
		} else {
			ldel(&avail[c], s);
			s->listed = 0;
		}
		/* Its free list first (O(1) when nothing is taken yet), then the untouched rest. */
		if (s->free) {
			if (head) {
				void *t = s->free;

				while (((void **)t)[0])
					t = ((void **)t)[0];
				shim_link(t, head);
			}
			head = s->free;
			got += s->nfree;
			s->free = NULL;
			s->nfree = 0;
		}
		base = (char *)s + SHIM_SPAN_HDR;
		for (uint32_t i = s->cap; i > s->carved; i--) {
			void *b = base + (size_t)(i - 1) * size;

			shim_link(b, head);
			head = b;
		}
		got += (uint32_t)(s->cap - s->carved);
		s->carved = s->cap;
	}
	pthread_mutex_unlock(&cls_lock[c]);
	*n = got;
	return head;
}

void *shim_span_flush(unsigned c, void *head, uint32_t n)
{
	pthread_mutex_lock(&cls_lock[c]);
	while (n--) {
		void *b = head;
		struct shim_span *s = (struct shim_span *)((uintptr_t)b & ~(SHIM_SPAN_BYTES - 1));

		if (!shim_is_tagged(b))
			shim_misuse("free block modified after free (write after free)", b);
		head = ((void **)b)[0];
		shim_link(b, s->free);
		s->free = b;
		if (++s->nfree == s->carved) {
			span_release(c, s);
		} else if (!s->listed) {
			lpush(&avail[c], s);
			s->listed = 1;
		}
	}
	pthread_mutex_unlock(&cls_lock[c]);
	return head;
}

void shim_span_lock_all(void)
{
	for (unsigned c = 0; c < SHIM_SPAN_NCLS; c++)
		pthread_mutex_lock(&cls_lock[c]);
}

void shim_span_unlock_all(void)
{
	for (unsigned c = SHIM_SPAN_NCLS; c-- > 0;)
		pthread_mutex_unlock(&cls_lock[c]);
}

void shim_span_reinit_locks(void)
{
	for (unsigned c = 0; c < SHIM_SPAN_NCLS; c++)
		pthread_mutex_init(&cls_lock[c], NULL);
}

void shim_span_figures(size_t *spans, size_t *groups)
{
	shim_heap_lock();
	*spans = n_spans - pool_n;
	*groups = n_groups;
	shim_heap_unlock();
}
