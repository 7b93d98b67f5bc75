/* SPDX-License-Identifier: MIT */
/*
 * The global allocator (kalloc/global.h): a byte backend, one instance per chunk, growing
 * from a page source and shrinking back into it; large requests go to pages. Entry points:
 * ka_global_init(), ka_global_init_region(), ka_global_init_hosted(), and the
 * ka_global_* calls, which all go through the locking adapter `g->locked`.
 *
 * Lock order (outermost first):
 *   1. g->locked.lock   - the allocator's lock (kalloc/lock.h); every op of `core` runs
 *                         under it;
 *   2. g->src->lock     - the page source's lock, taken by ka_page_source_* calls made from
 *                         inside those ops (and alone by ka_global_add_memory()).
 * The out-of-memory hook runs with neither held (it is the locking adapter's rescue).
 *
 * The chunk header format and the pointer -> header rule are in global_priv.h.
 */
#include "global_priv.h"
/* Compiled without ASan instrumentation under KA_ANNOTATE=asan (its metadata is poisoned). */
#define KA_AN_UNINSTRUMENTED 1
#include "annotate.h"
#include "kstring.h"

static struct ka_global *from_core(struct ka_alloc *a)
{
	return (struct ka_global *)(void *)((char *)a - offsetof(struct ka_global, core));
}

/*
 * Figures are counters moved with the blocks, so that ka_global_stats() (and through it
 * mallinfo2, malloc_trim and the shim's exit report) costs O(1) whatever the heap's size:
 *  - used_bytes / live_blocks: the usable size of each block as it is handed out or freed
 *    (one backend usable_size call per allocation and per free);
 *  - heap_avail: the sum of every sub-heap's free bytes, each chunk's share cached in
 *    c->avail and refreshed from the backend's O(1) info after every operation in it.
 * Walks stay for ka_global_check() (which compares them with these counters) and ka_walk.
 */
static void chunk_refresh(struct ka_global *g, struct ka_gchunk *c)
{
	struct ka_info i = {0};

	c->heap->ops->info(c->heap, &i);
	g->heap_avail = g->heap_avail - c->avail + i.avail;
	c->avail = i.avail;
}

static size_t chunk_pages(const struct ka_global *g)
{
	return g->chunk_size >> KA_CFG_PAGE_SHIFT;
}

static void set_magic(struct ka_gchunk *c, unsigned kind)
{
	c->kind = kind;
	c->magic = (uintptr_t)kind ^ (uintptr_t)c;
}

static bool is_hdr(const struct ka_global *g, const struct ka_gchunk *c, unsigned kind)
{
	return c->magic == ((uintptr_t)kind ^ (uintptr_t)c) && c->kind == kind && c->owner == g;
}

/* Doubly linked lists (g->heaps, g->large), newest first. */
static void list_push(struct ka_gchunk **head, struct ka_gchunk *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
}

static void list_del(struct ka_gchunk **head, struct ka_gchunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* The header of a pointer this allocator handed out; anything else is misuse. Without the
 * ownership table, reading the candidate header of a wild pointer may fault when that
 * address is unmapped: the check catches pointers into mapped memory that is not ours, and
 * interior pointers. */
static struct ka_gchunk *lookup(struct ka_global *g, const void *ptr)
{
	struct ka_gchunk *c = ka_gchunk_of(g, ptr);

	/* With the ownership table a wild pointer is refused before its header is read. */
	if (g->owns_on && !ka_global_owns_fast(g, ptr))
		ka_misuse(&g->core, "pointer not from this allocator (or already freed)", ptr);
	if (is_hdr(g, c, KA_GCHUNK_HEAP)) {
		if ((uintptr_t)ptr < (uintptr_t)c + KA_GCHUNK_HDR)
			ka_misuse(&g->core, "pointer into a chunk header", ptr);
		return c;
	}
	if (is_hdr(g, c, KA_GCHUNK_LARGE)) {
		if (ptr != c->ptr)
			ka_misuse(&g->core, "interior pointer of a large block", ptr);
		return c;
	}
	ka_misuse(&g->core, "pointer not from this allocator (or already freed)", ptr);
}

/* ---- sub-heap chunks ---------------------------------------------------------------- */

static struct ka_gchunk *chunk_new(struct ka_global *g)
{
	void *m = ka_page_source_map(g->src, chunk_pages(g), g->chunk_size);
	struct ka_gchunk *c = m;
	struct ka_alloc *heap;

	if (!m)
		return NULL;
	heap = g->backend->init((char *)m + KA_GCHUNK_HDR, g->chunk_size - KA_GCHUNK_HDR);
	if (!heap || ka_owns_add(g, m, g->chunk_size, false, NULL) != 0) {
		ka_page_source_unmap(g->src, m, chunk_pages(g));
		return NULL;
	}
	/* The sub-heap is driven through its ops directly; its figures live in g. Under a memory
	 * checker the chunk joins a heap the checker has already seen: its free space is not
	 * the program's. */
	heap->flags |= KA_ALLOC_NOSTATS;
	ka_an_fresh(heap);
	c->owner = g;
	c->map = m;
	c->pages = chunk_pages(g);
	c->heap = heap;
	c->live = 0;
	c->miss = SIZE_MAX;
	c->ptr = NULL;
	c->size = 0;
	c->avail = 0;
	set_magic(c, KA_GCHUNK_HEAP);
	chunk_refresh(g, c);
	list_push(&g->heaps, c);
	g->nheaps++;
	g->nempty++;
	g->chunks_mapped++;
	return c;
}

static void chunk_release(struct ka_global *g, struct ka_gchunk *c)
{
	list_del(&g->heaps, c);
	if (g->cur == c)
		g->cur = NULL;
	if (g->empty == c)
		g->empty = NULL;
	g->nheaps--;
	if (c->live == 0)
		g->nempty--;
	g->chunks_released++;
	g->heap_avail -= c->avail;
	c->magic = 0;
	ka_owns_del(g, c->map, g->chunk_size, false, NULL);
	ka_page_source_unmap(g->src, c->map, c->pages);
}

/* At most keep_empty empty chunks are kept (a malloc/free pair at a chunk boundary would
 * otherwise map and unmap every time; a program that drops and rebuilds a big structure
 * would fault all of it in again); any other goes back. */
static void chunk_now_empty(struct ka_global *g, struct ka_gchunk *c)
{
	g->nempty++;
	if (g->nempty > g->keep_empty)
		chunk_release(g, c);
	else if (!g->empty)
		g->empty = c;
}

static void *heap_try(struct ka_global *g, struct ka_gchunk *c, size_t size, size_t align)
{
	void *p = c->heap->ops->alloc(c->heap, size, align);

	if (!p) {
		if (align <= KA_CFG_MIN_ALIGN && size < c->miss)
			c->miss = size;
		/* A failing backend may still have changed its free bytes (hardened drains its
		 * quarantine before it gives up). */
		chunk_refresh(g, c);
		return NULL;
	}
	if (c->live++ == 0)
		g->nempty--;
	if (g->empty == c)
		g->empty = NULL;
	g->cur = c;
	g->used_bytes += c->heap->ops->usable_size(c->heap, p);
	g->live_blocks++;
	chunk_refresh(g, c);
	return p;
}

/*
 * The last successful sub-heap first (allocation runs tend to continue where they left
 * off), then the others, then a new chunk. No new chunk while an empty one exists: the
 * request did not fit an empty chunk, so it will not fit a fresh one either.
 *
 * The miss hint keeps a heap of full chunks from costing one backend call per chunk on
 * every miss: a chunk where a request of `miss` bytes failed since its last free is passed
 * over for requests at least that large. The hint is a guess (with size classes a larger
 * request may fit where a smaller one did not), so before the allocator answers NULL the
 * passed-over chunks are tried after all: a failure is always certain. With may_map false
 * (the rest of a batch, core_alloc_batch()) neither a new chunk nor the passed-over ones:
 * a NULL then only ends the batch.
 */
static void *heaps_alloc(struct ka_global *g, size_t size, size_t align, bool may_map)
{
	struct ka_gchunk *c;
	void *p;

	if (g->cur) {
		p = heap_try(g, g->cur, size, align);
		if (p)
			return p;
	}
	for (c = g->heaps; c; c = c->next) {
		if (c == g->cur || size >= c->miss)
			continue;
		p = heap_try(g, c, size, align);
		if (p)
			return p;
	}
	if (!may_map)
		return NULL;
	if (g->nempty == 0) {
		c = chunk_new(g);
		if (c) {
			g->empty = c;
			p = heap_try(g, c, size, align);
			if (p)
				return p;
		}
	}
	for (c = g->heaps; c; c = c->next) {
		if (c == g->cur || size < c->miss)
			continue;
		p = heap_try(g, c, size, align);
		if (p)
			return p;
	}
	return NULL;
}

/* ---- idle large blocks: freed, kept mapped for reuse (ka_global_set_keep_large()) ---- */

static void idle_release(struct ka_global *g, struct ka_gchunk *c)
{
	list_del(&g->idle, c);
	g->nidle--;
	g->idle_pages -= c->pages;
	c->magic = 0;
	ka_page_source_unmap(g->src, c->map, c->pages);
}

/* Oldest first, until the idle blocks fit `pages` and the count bound. */
static void idle_trim(struct ka_global *g, size_t pages, size_t count)
{
	while (g->idle && (g->idle_pages > pages || g->nidle > count)) {
		struct ka_gchunk *c = g->idle;

		while (c->next)
			c = c->next; /* at most KA_GLOBAL_IDLE_MAX + 1 steps */
		idle_release(g, c);
	}
}

/* The idle block that holds `pages` with the fewest pages to spare, taken off the list;
 * NULL if none is large enough. A block more than half as large again as needed is trimmed
 * at the tail to `pages` (its head holds the header); a smaller surplus stays with the
 * block (usable size), so that a later, larger request can still reuse it. */
static struct ka_gchunk *idle_take(struct ka_global *g, size_t pages)
{
	struct ka_gchunk *best = NULL;

	for (struct ka_gchunk *c = g->idle; c; c = c->next)
		if (c->pages >= pages && (!best || c->pages < best->pages))
			best = c;
	if (!best)
		return NULL;
	list_del(&g->idle, best);
	g->nidle--;
	g->idle_pages -= best->pages;
	if (best->pages - pages > pages / 2 &&
	    ka_page_source_unmap(g->src, (char *)best->map + (pages << KA_CFG_PAGE_SHIFT),
				 best->pages - pages) == 0)
		best->pages = pages;
	return best;
}

/* A run of at least *pages pages for a large block (*pages set to what it is): an idle
 * block when possible (*fresh false: it holds what its last owner left), else a new
 * mapping (*fresh: zero if the source says so). */
static void *large_map(struct ka_global *g, size_t *pages, size_t mapalign, bool *fresh)
{
	void *m;

	if (mapalign == g->chunk_size && g->idle) {
		struct ka_gchunk *c = idle_take(g, *pages);

		if (c) {
			*fresh = false;
			*pages = c->pages; /* more than asked if the tail could not go back */
			return c->map;
		}
	}
	*fresh = g->src->zero_fill;
	m = ka_page_source_map(g->src, *pages, mapalign);
	if (!m && g->idle) {
		idle_trim(g, 0, 0); /* a failure is not reported while memory sits idle */
		m = ka_page_source_map(g->src, *pages, mapalign);
	}
	return m;
}

static void *large_alloc(struct ka_global *g, size_t size, size_t align)
{
	size_t off = align > KA_PAGE_SIZE ? align : KA_PAGE_SIZE;
	size_t mapalign = align > g->chunk_size ? align : g->chunk_size;
	size_t t, pages;
	struct ka_gchunk *c;
	bool fresh;
	char *m, *p;

	if (ka_add_overflow(off, size, &t) || t > SIZE_MAX - KA_PAGE_SIZE)
		return NULL;
	pages = ka_align_up(t, KA_PAGE_SIZE) >> KA_CFG_PAGE_SHIFT;
	m = large_map(g, &pages, mapalign, &fresh);
	if (!m)
		return NULL;
	p = m + off;
	c = ka_gchunk_of(g, p);
	if (ka_owns_add(g, m, pages << KA_CFG_PAGE_SHIFT, true, c) != 0) {
		ka_page_source_unmap(g->src, m, pages);
		return NULL;
	}
	c->owner = g;
	c->map = m;
	c->pages = pages;
	c->heap = NULL;
	c->live = 1;
	c->miss = SIZE_MAX;
	c->ptr = p;
	c->size = (pages << KA_CFG_PAGE_SHIFT) - off;
	c->fresh = fresh;
	set_magic(c, KA_GCHUNK_LARGE);
	list_push(&g->large, c);
	g->nlarge++;
	g->large_pages += pages;
	g->used_bytes += c->size;
	g->live_blocks++;
	return p;
}

static void large_free(struct ka_global *g, struct ka_gchunk *c)
{
	list_del(&g->large, c);
	g->nlarge--;
	g->large_pages -= c->pages;
	g->used_bytes -= c->size;
	g->live_blocks--;
	/* Only blocks of the plain layout (header at a chunk-aligned start, data one page in)
	 * are kept: those are what large_map() reuses. */
	ka_owns_del(g, c->map, c->pages << KA_CFG_PAGE_SHIFT, true, c);
	if (c->pages <= g->keep_large_pages && (char *)c->ptr == (char *)c->map + KA_PAGE_SIZE &&
	    ((uintptr_t)c->map & (g->chunk_size - 1)) == 0) {
		/* Not the program's any more: the ownership table forgets it (large_alloc()
		 * enters it again when it is reused), so a second free is refused unread. */
		set_magic(c, KA_GCHUNK_IDLE);
		list_push(&g->idle, c);
		g->nidle++;
		g->idle_pages += c->pages;
		idle_trim(g, g->keep_large_pages, KA_GLOBAL_IDLE_MAX);
		return;
	}
	c->magic = 0;
	ka_page_source_unmap(g->src, c->map, c->pages);
}

/* ---- core ops (run under g->locked) ---------------------------------------------------- */

static void *core_alloc(struct ka_alloc *a, size_t size, size_t align)
{
	struct ka_global *g = from_core(a);

	/* Sub-heaps guarantee alignments up to a page (the backend contract); a request that no
	 * sub-heap can hold (a backend with a size cap) falls through to pages as well. */
	if (align <= KA_PAGE_SIZE && size <= g->large_threshold) {
		void *p = heaps_alloc(g, size, align, true);
		if (p)
			return p;
	}
	return large_alloc(g, size, align);
}

/* Give ptr back to its sub-heap chunk c and keep the figures that move with it; returns the
 * block's usable size. The chunk's free bytes are the caller's to refresh (once per block in
 * core_free(), once per run of blocks in ka_global_free_batch()). */
static size_t chunk_free_block(struct ka_global *g, struct ka_gchunk *c, void *ptr)
{
	size_t n;

	if (c->live == 0)
		ka_misuse(&g->core, "free in a chunk with no live block", ptr);
	n = c->heap->ops->usable_size(c->heap, ptr);
	c->heap->ops->free(c->heap, ptr);
	c->miss = SIZE_MAX;
	c->live--;
	g->used_bytes -= n;
	g->live_blocks--;
	return n;
}

static void core_free(struct ka_alloc *a, void *ptr)
{
	struct ka_global *g = from_core(a);
	struct ka_gchunk *c = lookup(g, ptr);

	if (c->kind == KA_GCHUNK_LARGE) {
		large_free(g, c);
		return;
	}
	(void)chunk_free_block(g, c, ptr);
	chunk_refresh(g, c);
	if (c->live == 0)
		chunk_now_empty(g, c);
}

static size_t core_usable_size(struct ka_alloc *a, const void *ptr)
{
	struct ka_global *g = from_core(a);
	struct ka_gchunk *c = lookup(g, ptr);

	if (c->kind == KA_GCHUNK_LARGE)
		return c->size;
	return c->heap->ops->usable_size(c->heap, ptr);
}

static void *core_realloc(struct ka_alloc *a, void *ptr, size_t size)
{
	struct ka_global *g = from_core(a);
	struct ka_gchunk *c = lookup(g, ptr);
	size_t old;
	void *n;

	if (c->kind == KA_GCHUNK_LARGE) {
		old = c->size;
	} else {
		old = c->heap->ops->usable_size(c->heap, ptr);
		/* Inside its own sub-heap first: the backend may grow or shrink in place. */
		if (c->heap->ops->realloc && size <= g->large_threshold) {
			n = c->heap->ops->realloc(c->heap, ptr, size);
			if (n) {
				c->miss = SIZE_MAX; /* it may have shrunk or moved */
				g->used_bytes =
				    g->used_bytes - old + c->heap->ops->usable_size(c->heap, n);
				chunk_refresh(g, c);
				return n;
			}
			chunk_refresh(g, c);
		}
	}
	/* Keep a block that fits without wasting more than half of it. */
	if (size <= old && size >= old / 2)
		return ptr;
	n = core_alloc(a, size, KA_CFG_MIN_ALIGN);
	if (!n)
		return NULL;
	memcpy(n, ptr, size < old ? size : old);
	core_free(a, ptr);
	return n;
}

static void *core_palloc(struct ka_alloc *a, size_t npages, size_t align)
{
	struct ka_global *g = from_core(a);
	void *p = ka_page_source_map(g->src, npages, align);

	if (p)
		g->page_pages += npages;
	return p;
}

static void core_pfree(struct ka_alloc *a, void *ptr, size_t npages)
{
	struct ka_global *g = from_core(a);

	if (npages > g->page_pages)
		ka_misuse(a, "free_pages of more pages than are allocated", ptr);
	if (ka_page_source_unmap(g->src, ptr, npages) != 0)
		ka_misuse(a, "free_pages of pages the page source did not hand out", ptr);
	g->page_pages -= npages;
}

static int core_add_memory(struct ka_alloc *a, void *base, size_t len)
{
	return ka_page_source_add_memory(from_core(a)->src, base, len);
}

/* Bytes the source can still give, or 0 when it is unbounded (the figures then cover what
 * is mapped only) or the product would not fit. */
static size_t src_avail_bytes(struct ka_global *g)
{
	size_t pages = ka_page_source_avail(g->src), bytes;

	if (pages == SIZE_MAX || ka_mul_overflow(pages, KA_PAGE_SIZE, &bytes))
		return 0;
	return bytes;
}

static void core_info(struct ka_alloc *a, struct ka_info *out)
{
	struct ka_global *g = from_core(a);
	size_t src = src_avail_bytes(g), run;
	struct ka_gchunk *c;

	/* Idle large blocks are mapped and free: the next large request takes them. */
	out->total = g->nheaps * g->chunk_size +
		     ((g->large_pages + g->page_pages + g->idle_pages) << KA_CFG_PAGE_SHIFT) + src;
	out->avail = src + (g->idle_pages << KA_CFG_PAGE_SHIFT);
	out->maxalloc = 0;
	out->meta = g->nheaps * KA_GCHUNK_HDR + (g->nlarge << KA_CFG_PAGE_SHIFT);
	for (c = g->heaps; c; c = c->next) {
		struct ka_info i = {0};

		ka_info(c->heap, &i);
		out->avail += i.avail;
		out->meta += i.meta;
		if (i.maxalloc > out->maxalloc)
			out->maxalloc = i.maxalloc;
	}
	/* A large block needs its header page besides the data; only a run the source is sure
	 * to give counts (maxalloc is a promise, not a guess). */
	run = ka_page_source_max_run(g->src);
	if (run > 1 && ((run - 1) << KA_CFG_PAGE_SHIFT) > out->maxalloc)
		out->maxalloc = (run - 1) << KA_CFG_PAGE_SHIFT;
}

struct count_acc {
	size_t blocks, bytes;
};

static int count_used(void *ptr, size_t size, bool used, void *arg)
{
	struct count_acc *acc = arg;

	(void)ptr;
	if (used) {
		acc->blocks++;
		acc->bytes += size;
	}
	return 0;
}

static unsigned check_heaps(struct ka_global *g, size_t *walked_bytes, bool *walked_all,
			    size_t *live_out)
{
	size_t n = 0, empties = 0, live = 0, avail = 0;
	bool cur_found = g->cur == NULL, empty_found = g->empty == NULL;
	const struct ka_gchunk *prev = NULL;
	unsigned bad = 0;

	for (struct ka_gchunk *c = g->heaps; c; prev = c, c = c->next) {
		struct ka_info i = {0};

		n++;
		if (!is_hdr(g, c, KA_GCHUNK_HEAP) || c->map != (void *)c ||
		    ((uintptr_t)c & (g->chunk_size - 1)) != 0 || c->pages != chunk_pages(g)) {
			ka_check_report(&g->core, "bad sub-heap chunk header", c);
			bad++;
			break; /* the links cannot be trusted any more */
		}
		if (c->prev != prev) {
			ka_check_report(&g->core, "chunk list back link broken", c);
			bad++;
		}
		/* A backend built without its checker (KA_CFG_MINIMAL) still has its chunk checked.
		 */
		if (c->heap->ops->check)
			bad += c->heap->ops->check(c->heap);
		c->heap->ops->info(c->heap, &i);
		if (i.avail != c->avail) {
			ka_check_report(&g->core, "chunk free bytes differ from its sub-heap's", c);
			bad++;
		}
		avail += c->avail;
		live += c->live;
		if (c->heap->ops->walk) {
			struct count_acc acc = {0, 0};

			c->heap->ops->walk(c->heap, count_used, &acc);
			if (acc.blocks != c->live) {
				ka_check_report(&g->core,
						"chunk live count differs from its blocks", c);
				bad++;
			}
			*walked_bytes += acc.bytes;
		} else {
			*walked_all = false;
		}
		if (c->live == 0)
			empties++;
		if (c == g->cur)
			cur_found = true;
		if (c == g->empty) {
			empty_found = true;
			if (c->live != 0) {
				ka_check_report(&g->core, "cached empty chunk has live blocks", c);
				bad++;
			}
		}
	}
	if (n != g->nheaps) {
		ka_check_report(&g->core, "chunk count differs from the list", g);
		bad++;
	}
	if (bad == 0 && avail != g->heap_avail) {
		ka_check_report(&g->core, "free bytes differ from the chunks'", g);
		bad++;
	}
	*live_out = live;
	if (empties > g->keep_empty || empties != g->nempty) {
		ka_check_report(&g->core, "more empty chunks kept than allowed or counted", g);
		bad++;
	}
	if (!cur_found || !empty_found) {
		ka_check_report(&g->core, "current or cached chunk not on the list", g);
		bad++;
	}
	return bad;
}

static unsigned check_large(struct ka_global *g, size_t *bytes, size_t *listed)
{
	size_t n = 0, pages = 0;
	const struct ka_gchunk *prev = NULL;
	unsigned bad = 0;

	for (struct ka_gchunk *c = g->large; c; prev = c, c = c->next) {
		uintptr_t off = (uintptr_t)c->ptr - (uintptr_t)c->map;

		n++;
		if (!is_hdr(g, c, KA_GCHUNK_LARGE) || ka_gchunk_of(g, c->ptr) != c ||
		    off < KA_PAGE_SIZE || c->size != (c->pages << KA_CFG_PAGE_SHIFT) - off) {
			ka_check_report(&g->core, "bad large block header", c);
			bad++;
			break;
		}
		if (c->prev != prev) {
			ka_check_report(&g->core, "large list back link broken", c);
			bad++;
		}
		pages += c->pages;
		*bytes += c->size;
	}
	if (n != g->nlarge || (bad == 0 && pages != g->large_pages)) {
		ka_check_report(&g->core, "large block figures differ from the list", g);
		bad++;
	}
	*listed = n;
	n = pages = 0;
	prev = NULL;
	for (struct ka_gchunk *c = g->idle; c; prev = c, c = c->next) {
		n++;
		if (!is_hdr(g, c, KA_GCHUNK_IDLE) || c->prev != prev || n > KA_GLOBAL_IDLE_MAX) {
			ka_check_report(&g->core, "bad idle large block", c);
			bad++;
			break;
		}
		pages += c->pages;
	}
	if (n != g->nidle ||
	    (bad == 0 && (pages != g->idle_pages || pages > g->keep_large_pages))) {
		ka_check_report(&g->core, "idle large block figures differ from the list", g);
		bad++;
	}
	return bad;
}

static unsigned core_check(struct ka_alloc *a)
{
	struct ka_global *g = from_core(a);
	size_t bytes = 0, mine, used, live = 0, listed = 0;
	bool walked_all = true;
	unsigned long f;
	unsigned bad;

	bad = check_heaps(g, &bytes, &walked_all, &live);
	bad += check_large(g, &bytes, &listed);
	if (walked_all && bad == 0 && bytes != g->used_bytes) {
		ka_check_report(&g->core, "used bytes differ from the live blocks", g);
		bad++;
	}
	if (bad == 0 && live + listed != g->live_blocks) {
		ka_check_report(&g->core, "live block count differs from the chunks and list", g);
		bad++;
	}
	bad += ka_page_source_check(g->src);
	/* The source may serve others too (DMA), so it has at least our pages out. */
	mine = g->nheaps * chunk_pages(g) + g->large_pages + g->page_pages + g->idle_pages;
	f = ka_plat_lock_acquire(&g->src->lock);
	used = g->src->used_pages;
	ka_plat_lock_release(&g->src->lock, f);
	if (used < mine) {
		ka_check_report(&g->core, "page source has fewer pages out than the allocator", g);
		bad++;
	}
	return bad;
}

static int core_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	struct ka_global *g = from_core(a);
	int rc;

	if (!(g->core_ops.caps & KA_CAP_WALK))
		return KA_ENOTSUP;
	for (struct ka_gchunk *c = g->heaps; c; c = c->next) {
		rc = c->heap->ops->walk(c->heap, fn, arg);
		if (rc)
			return rc;
	}
	for (struct ka_gchunk *c = g->large; c; c = c->next) {
		rc = fn(c->ptr, c->size, true, arg);
		if (rc)
			return rc;
	}
	return 0;
}

static bool core_owns(struct ka_alloc *a, const void *ptr)
{
	struct ka_global *g = from_core(a);
	uintptr_t p = (uintptr_t)ptr;

	for (struct ka_gchunk *c = g->heaps; c; c = c->next)
		if (p >= (uintptr_t)c + KA_GCHUNK_HDR && p - (uintptr_t)c < g->chunk_size)
			return true;
	for (struct ka_gchunk *c = g->large; c; c = c->next)
		if (p >= (uintptr_t)c->ptr && p - (uintptr_t)c->ptr < c->size)
			return true;
	return false;
}

#if !KA_CFG_MINIMAL
/* Only a large block can be known to be zero: a sub-heap block may be reused memory. */
static bool core_known_zero(struct ka_alloc *a, const void *ptr, size_t size)
{
	struct ka_global *g = from_core(a);
	struct ka_gchunk *c = lookup(g, ptr);

	return c->kind == KA_GCHUNK_LARGE && c->fresh && size <= c->size;
}
#endif

int ka_global_owns_table_form(struct ka_global *g, bool flat)
{
	unsigned long f = ka_locked_lock(&g->locked);
	int rc = 0;

	if (!g->owns_on) {
		g->owns_on = true;
		ka_owns_start(g, flat);
		for (struct ka_gchunk *c = g->heaps; c && rc == 0; c = c->next)
			rc = ka_owns_add(g, c->map, g->chunk_size, false, NULL);
		for (struct ka_gchunk *c = g->large; c && rc == 0; c = c->next)
			rc = ka_owns_add(g, c->map, c->pages << KA_CFG_PAGE_SHIFT, true, c);
		if (rc != 0) {
			g->owns_on = false;
			ka_owns_destroy(g);
		}
	}
	ka_locked_unlock(&g->locked, f);
	return rc;
}

int ka_global_owns_table(struct ka_global *g)
{
	return ka_global_owns_table_form(g, true);
}

#if !KA_CFG_MINIMAL
/* Every sub-heap's own sweep (the backend's); KA_ENOTSUP when the backend has none. */
static int core_sweep(struct ka_alloc *a)
{
	struct ka_global *g = from_core(a);
	int rc = KA_ENOTSUP;

	for (struct ka_gchunk *c = g->heaps; c; c = c->next)
		if (c->heap->ops->sweep)
			rc = c->heap->ops->sweep(c->heap);
	return rc;
}
#endif

static const struct ka_alloc_ops core_ops_template = {
    .alloc = core_alloc,
    .free = core_free,
    .usable_size = core_usable_size,
    .realloc = core_realloc,
    .palloc = core_palloc,
    .pfree = core_pfree,
    .add_memory = core_add_memory,
    .info = core_info,
    .check = core_check,
    .walk = core_walk,
    .owns = core_owns,
#if !KA_CFG_MINIMAL
    .known_zero = core_known_zero,
    .sweep = core_sweep,
#endif
    .caps = KA_CAP_FREE | KA_CAP_ANYSIZE | KA_CAP_PAGES | KA_CAP_REALLOC | KA_CAP_OWNS,
};

/* ---- batches (ka_global_alloc_batch(), ka_global_free_batch()) ---------------------- */

/* What the generic layer does for core around one call, for the blocks of a batch, which
 * reach core without it: count each block in core's statistics (the figures
 * ka_global_alloc_iface() shows), and at debug level 3 check the heap after the operation. */
static void batch_count_alloc(struct ka_global *g, size_t req, size_t usable)
{
	if (KA_CFG_STATS && !(g->core.flags & KA_ALLOC_NOSTATS))
		ka_count_alloc(&g->core.ctr, req, usable);
}

static void batch_count_free(struct ka_global *g, size_t usable)
{
	if (KA_CFG_STATS && !(g->core.flags & KA_ALLOC_NOSTATS))
		ka_count_free(&g->core.ctr, usable);
}

static void batch_debug_check(struct ka_global *g)
{
#if KA_CFG_DEBUG >= 3
	if (core_check(&g->core) != 0)
		ka_misuse(&g->core, "heap check failed after a batch", g);
#else
	(void)g;
#endif
}

/* As many blocks as chunk c gives, up to n, each its own backend allocation; the chunk's
 * free bytes are refreshed once for the run (heap_try() does it per block). */
static size_t heap_run(struct ka_global *g, struct ka_gchunk *c, size_t size, void **out, size_t n)
{
	struct ka_alloc *h = c->heap;
	size_t got = 0;

	while (got < n) {
		void *p = h->ops->alloc(h, size, KA_CFG_MIN_ALIGN);
		size_t u;

		if (!p) {
			if (size < c->miss)
				c->miss = size;
			break;
		}
		u = h->ops->usable_size(h, p);
		if (c->live++ == 0)
			g->nempty--;
		g->used_bytes += u;
		g->live_blocks++;
		batch_count_alloc(g, size, u);
		out[got++] = p;
	}
	if (got != 0) {
		if (g->empty == c)
			g->empty = NULL;
		g->cur = c;
	}
	chunk_refresh(g, c);
	return got;
}

/*
 * The current sub-heap first, then the others as heaps_alloc() tries them; a new chunk only
 * for the first block (a single request would map it too): the rest of a batch is a guess
 * about requests to come, not worth memory the heap does not hold yet.
 */
static size_t core_alloc_batch(struct ka_global *g, size_t size, void **out, size_t n)
{
	size_t got = 0;

	if (size == 0 || size > g->large_threshold)
		return 0;
	if (g->cur)
		got = heap_run(g, g->cur, size, out, n);
	while (got < n) {
		void *p = heaps_alloc(g, size, KA_CFG_MIN_ALIGN, got == 0);

		if (!p)
			break;
		/* heaps_alloc() counted it in g; g->cur is the chunk that gave it. */
		batch_count_alloc(g, size, g->cur->heap->ops->usable_size(g->cur->heap, p));
		out[got++] = p;
		got += heap_run(g, g->cur, size, out + got, n - got);
	}
	return got;
}

size_t ka_global_alloc_batch(struct ka_global *g, size_t size, void **out, size_t n)
{
	unsigned long f;
	size_t got;

	if (n == 0)
		return 0;
	f = ka_locked_lock(&g->locked);
	got = core_alloc_batch(g, size, out, n);
	batch_debug_check(g);
	ka_locked_unlock(&g->locked, f);
	return got;
}

/* core_free() for each block; a chunk's free bytes are refreshed once per run of blocks in
 * it, and before it can go back to the source. */
void ka_global_free_batch(struct ka_global *g, void *const *ptrs, size_t n)
{
	struct ka_gchunk *stale = NULL;
	unsigned long f;

	if (n == 0)
		return;
	f = ka_locked_lock(&g->locked);
	for (size_t i = 0; i < n; i++) {
		void *ptr = ptrs[i];
		struct ka_gchunk *c = lookup(g, ptr);
		size_t u;

		if (c->kind == KA_GCHUNK_LARGE) {
			batch_count_free(g, c->size);
			large_free(g, c);
			continue;
		}
		u = chunk_free_block(g, c, ptr);
		if (stale && stale != c)
			chunk_refresh(g, stale);
		stale = c;
		batch_count_free(g, u);
		if (c->live == 0) {
			chunk_refresh(g, c);
			stale = NULL;
			chunk_now_empty(g, c);
		}
	}
	if (stale)
		chunk_refresh(g, stale);
	batch_debug_check(g);
	ka_locked_unlock(&g->locked, f);
}

/* Only arithmetic on `a` until it is known to be a locking adapter whose ops live in it (its
 * head alone may be all there is); then its inner allocator must be the core of the same
 * ka_global, driven by this file's ops. */
struct ka_global *ka_global_of(struct ka_alloc *a)
{
	struct ka_global *g;

	if (!a ||
	    (const void *)a->ops != (const void *)((char *)a + offsetof(struct ka_locked, ops)))
		return NULL;
	g = (struct ka_global *)(void *)((char *)a - offsetof(struct ka_global, locked));
	if (((struct ka_locked *)(void *)a)->inner != &g->core || g->core.ops != &g->core_ops ||
	    g->core_ops.alloc != core_alloc)
		return NULL;
	return g;
}

/* ---- setup and public calls --------------------------------------------------------- */

static void rescue(struct ka_alloc *a, size_t size, size_t align, void *arg)
{
	struct ka_global *g = arg;

	(void)a;
	(void)align;
	if (g->oom)
		g->oom(g, size, g->oom_arg);
}

static int setup(struct ka_global *g, struct ka_page_source *src,
		 const struct ka_global_config *cfg)
{
	const char *name = cfg ? cfg->backend : NULL;
	const struct ka_backend *b = name ? ka_backend_find(name) : ka_backend_default();
	unsigned shift = cfg && cfg->chunk_shift ? cfg->chunk_shift : KA_CFG_GLOBAL_CHUNK_SHIFT;
	size_t chunk, thr;

	if (!b || !b->init)
		return KA_ENOENT;
	if (shift < KA_CFG_PAGE_SHIFT + 2 || shift > sizeof(size_t) * 8 - 2)
		return KA_EINVAL;
	/* Without an explicit size, chunks grow to what the backend needs (slab wants more
	 * than the default); an explicit size the backend cannot use is an error. */
	while (!(cfg && cfg->chunk_shift) && shift < sizeof(size_t) * 8 - 2 &&
	       b->min_size > ((size_t)1 << shift) - KA_GCHUNK_HDR)
		shift++;
	chunk = (size_t)1 << shift;
	if (b->min_size > chunk - KA_GCHUNK_HDR)
		return KA_EINVAL;
	thr = cfg && cfg->large_threshold ? cfg->large_threshold : chunk / 4;
	if (thr > chunk / 2)
		thr = chunk / 2;

	g->src = src;
	g->backend = b;
	g->chunk_shift = shift;
	g->chunk_size = chunk;
	g->large_threshold = thr;
	g->heaps = g->cur = g->empty = g->large = g->idle = NULL;
	g->nidle = g->idle_pages = g->keep_large_pages = 0;
	g->nheaps = g->nlarge = 0;
	g->nempty = 0;
	g->keep_empty = 1;
	g->used_bytes = g->large_pages = g->page_pages = 0;
	g->live_blocks = g->heap_avail = 0;
	g->chunks_mapped = g->chunks_released = 0;
	g->oom = NULL;
	g->oom_arg = NULL;
	g->owns_root = NULL;
	g->owns_root_len = 0;
	g->owns_pages = 0;
	g->owns_flat = NULL;
	g->owns_flat_len = g->owns_flat_low = 0;
	g->owns_on = false;
	g->core_ops = core_ops_template;
	if (b->caps & KA_CAP_WALK)
		g->core_ops.caps |= KA_CAP_WALK;
	if (src->ops->add_memory)
		g->core_ops.caps |= KA_CAP_ADDMEM;
	ka_alloc_init(&g->core, &g->core_ops, "global");
	ka_locked_init(&g->locked, &g->core);
	g->locked.a.name = "global";
	ka_locked_set_rescue(&g->locked, rescue, g);
	return 0;
}

/* The first chunk, at once: a kernel learns at boot, not at its first malloc, that its heap
 * cannot be set up, and the figures (maxalloc) describe a usable heap from the start. */
static void first_chunk(struct ka_global *g)
{
	struct ka_gchunk *c = chunk_new(g);

	if (c)
		g->empty = c;
}

int ka_global_init(struct ka_global *g, struct ka_page_source *src,
		   const struct ka_global_config *cfg)
{
	int rc;

	if (!g || !src)
		return KA_EINVAL;
	rc = setup(g, src, cfg);
	if (rc)
		return rc;
	first_chunk(g);
	return 0;
}

int ka_global_init_region(struct ka_global *g, struct ka_frame_alloc *fa, uintptr_t dm_off,
			  void *start, size_t size, const struct ka_global_config *cfg)
{
	struct ka_page_source *src;
	int rc;

	if (!g || !fa)
		return KA_EINVAL;
	src = ka_frame_source_init(&g->own_src.frame, fa, dm_off);
	rc = setup(g, src, cfg);
	if (rc)
		return rc;
	rc = ka_page_source_add_memory(src, start, size);
	if (rc)
		return rc;
	first_chunk(g);
	return g->heaps ? 0 : KA_ENOMEM;
}

int ka_global_init_hosted(struct ka_global *g, size_t limit_bytes,
			  const struct ka_global_config *cfg)
{
	int rc;

	if (!g)
		return KA_EINVAL;
	rc = ka_global_init(g, ka_plat_source_init(&g->own_src.plat, limit_bytes), cfg);
	if (rc == 0)
		g->keep_large_pages = ((size_t)64 << 20) >> KA_CFG_PAGE_SHIFT;
	return rc;
}

int ka_global_add_memory(struct ka_global *g, void *base, size_t len)
{
	return ka_page_source_add_memory(g->src, base, len);
}

void ka_global_set_oom_hook(struct ka_global *g, ka_global_oom_fn fn, void *arg)
{
	g->oom = fn;
	g->oom_arg = arg;
}

void ka_global_set_keep_empty(struct ka_global *g, size_t n)
{
	unsigned long f = ka_locked_lock(&g->locked);

	g->keep_empty = n ? n : 1;
	for (struct ka_gchunk *c = g->heaps, *next; c && g->nempty > g->keep_empty; c = next) {
		next = c->next;
		if (c->live == 0)
			chunk_release(g, c);
	}
	ka_locked_unlock(&g->locked, f);
}

void ka_global_set_keep_large(struct ka_global *g, size_t bytes)
{
	unsigned long f = ka_locked_lock(&g->locked);

	g->keep_large_pages = bytes >> KA_CFG_PAGE_SHIFT;
	idle_trim(g, g->keep_large_pages, KA_GLOBAL_IDLE_MAX);
	ka_locked_unlock(&g->locked, f);
}

struct ka_alloc *ka_global_alloc_iface(struct ka_global *g)
{
	return &g->locked.a;
}

void *ka_global_alloc(struct ka_global *g, size_t size, size_t align)
{
	return ka_memalign(&g->locked.a, align, size);
}

void ka_global_free(struct ka_global *g, void *ptr)
{
	ka_free(&g->locked.a, ptr);
}

size_t ka_global_usable_size(struct ka_global *g, const void *ptr)
{
	return ka_usable_size(&g->locked.a, ptr);
}

void *ka_global_alloc_pages(struct ka_global *g, size_t npages, size_t align)
{
	return ka_palloc_aligned(&g->locked.a, npages, align);
}

void ka_global_free_pages(struct ka_global *g, void *ptr, size_t npages)
{
	ka_pfree(&g->locked.a, ptr, npages);
}

void ka_global_stats(struct ka_global *g, struct ka_global_stats *out)
{
	unsigned long f = ka_locked_lock(&g->locked);

	out->backend = g->backend->name;
	out->used_bytes = g->used_bytes;
	out->live_blocks = g->live_blocks;
	out->avail_bytes = g->heap_avail;
	out->used_pages =
	    g->nheaps * chunk_pages(g) + g->large_pages + g->page_pages + g->idle_pages;
	out->avail_pages = ka_page_source_avail(g->src);
	out->chunks = g->nheaps;
	out->large_blocks = g->nlarge;
	out->idle_large_pages = g->idle_pages;
	out->page_pages = g->page_pages;
	out->chunk_size = g->chunk_size;
	out->chunks_mapped = g->chunks_mapped;
	out->chunks_released = g->chunks_released;
	ka_locked_unlock(&g->locked, f);
}

const char *ka_global_name(const struct ka_global *g)
{
	return g->backend->name;
}

unsigned ka_global_check(struct ka_global *g)
{
	return ka_check(&g->locked.a);
}

void ka_global_destroy(struct ka_global *g)
{
	unsigned long f = ka_locked_lock(&g->locked);

	while (g->heaps)
		chunk_release(g, g->heaps);
	g->keep_large_pages = 0;
	while (g->large)
		large_free(g, g->large);
	idle_trim(g, 0, 0);
	g->cur = g->empty = NULL;
	ka_owns_destroy(g);
	ka_locked_unlock(&g->locked, f);
}
