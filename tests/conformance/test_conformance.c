/* SPDX-License-Identifier: MIT */
/*
 * Hosted driver of the conformance suite: every backend in the registry, each over a fresh
 * 32 MiB mapping (page aligned, like a kernel's memory). Optional argument: a backend name.
 * Fails if any case fails or if no backend is compiled in (a suite that tests nothing must
 * not pass). Then the per-CPU cache adapter over a locked backend ("cache(tlsf)",
 * "cache(slab)"), with small magazines so that the cases move magazines through the depot.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "conformance.h"
#include "kalloc/cache.h"
#include "kalloc/lock.h"

#define HEAP_LEN ((size_t)32 << 20)

static void print_line(const char *line)
{
	puts(line);
}

/* The cache adapter over ka_locked(backend): what a kernel without the global allocator
 * would build. The backend takes the first 3/4 of the heap, the rest is add_memory's. */
struct cache_ctx {
	const struct ka_backend *b;
	void *mem, *cmem;
	size_t len, clen;
	struct ka_locked lk;
	const struct ka_cache_config *cfg;
};

static const struct ka_cache_config cache_cfg = {4, 8, 2, 1024, 0};
/* The same with keyed tags on free blocks (write-after-free and double-free checks). */
static const struct ka_cache_config tags_cfg = {4, 8, 2, 1024, KA_CACHE_TAGS};

static struct ka_alloc *make_cache(void *ctx)
{
	struct cache_ctx *cc = ctx;
	struct ka_alloc *inner = cc->b->init(cc->mem, cc->len);

	if (!inner)
		return NULL;
	return ka_cache_init(cc->cmem, cc->clen, ka_locked_init(&cc->lk, inner), cc->cfg);
}

static int run_cache(struct ka_conf *c, const char *bname, const char *tname,
		     const struct ka_cache_config *cfg)
{
	static struct cache_ctx cc;
	const struct ka_backend *b = ka_backend_find(bname);
	size_t main_len = (HEAP_LEN / 4 * 3) & ~(KA_PAGE_SIZE - 1);

	if (!b)
		return 0;
	cc.b = b;
	cc.cfg = cfg;
	cc.len = main_len;
	cc.clen = ka_cache_memsize(cache_cfg.ncpus, &cache_cfg);
	cc.mem = mmap(NULL, HEAP_LEN + cc.clen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (cc.mem == MAP_FAILED) {
		perror("mmap");
		return -1;
	}
	cc.cmem = (char *)cc.mem + HEAP_LEN;
	unsigned before = c->failed;
	struct ka_conf_target tg = {
	    tname, 0, make_cache, &cc, (char *)cc.mem + main_len, HEAP_LEN - main_len};
	tg.caps = make_cache(&cc)->ops->caps;
	ka_conformance_target(c, &tg);
	printf("%s: %s\n", tname, c->failed == before ? "ok" : "FAILED");
	munmap(cc.mem, HEAP_LEN + cc.clen);
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const cached[][2] = {
	    {"tlsf", "cache(tlsf)"}, {"slab", "cache(slab)"}, {"tlsf", "cache+tags(tlsf)"}};
	struct ka_conf c = {print_line, 1, 0, 0, 0};
	unsigned backends = 0;

	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		if (argc > 1 && strcmp(argv[1], b->name) != 0)
			continue;
		void *mem = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		unsigned before = c.failed;
		ka_conformance_backend(&c, b, mem, HEAP_LEN);
		printf("backend %s: %s\n", b->name, c.failed == before ? "ok" : "FAILED");
		munmap(mem, HEAP_LEN);
		backends++;
	}
	for (size_t i = 0; i < sizeof(cached) / sizeof(cached[0]); i++) {
		if (argc > 1 && strcmp(argv[1], cached[i][1]) != 0)
			continue;
		int r = run_cache(&c, cached[i][0], cached[i][1], i == 2 ? &tags_cfg : &cache_cfg);
		if (r < 0)
			return 1;
		backends += (unsigned)r;
	}
	if (backends == 0) {
		fprintf(stderr, "no backend to test%s%s\n", argc > 1 ? " named " : "",
			argc > 1 ? argv[1] : "");
		return 1;
	}
	printf("conformance: %u backends, %u skipped\n", backends, c.skipped);
	printf("%u passed, %u failed\n", c.passed, c.failed);
	return c.failed == 0 ? 0 : 1;
}
