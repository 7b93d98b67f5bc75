/* SPDX-License-Identifier: MIT */
/*
 * The program tests/freestanding/code_size.sh links to measure one heap: init a heap of the
 * backend KA_SIZE_INIT (e.g. ka_tiny_init) over a static arena, malloc(100), free. Built with
 * -DKA_SIZE_NONE it is the same program without a heap; the difference of the two is the
 * heap's cost. The volatile sink keeps the compiler from folding the calls away. With
 * -DKA_SIZE_CHECK it also checks and walks the heap: code_size.sh --check links that variant
 * to see that the checker comes with ka_check() and only with it.
 */
#include <stddef.h>

#ifndef KA_SIZE_NONE
#include "kalloc/alloc.h"
#include "kalloc/hardened.h"
#include "kalloc/tiny.h"
#include "kalloc/tlsf.h"
#include "kalloc/slab.h"
#include "kalloc/buddy.h"
#include "kalloc/pool.h"
#include "kalloc/region.h"
#endif

void *volatile ka_size_sink;

#ifdef KA_SIZE_CHECK
static int count_block(void *ptr, size_t size, bool used, void *arg)
{
	(void)size;
	(void)used;
	(void)arg;
	ka_size_sink = ptr;
	return 0;
}
#endif
static _Alignas(4096) unsigned char arena[64 * 1024];

void _start(void);
void _start(void)
{
#ifdef KA_SIZE_NONE
	ka_size_sink = arena;
	ka_size_sink = (void *)100;
	ka_size_sink = 0;
#else
	struct ka_alloc *a = KA_SIZE_INIT(arena, sizeof(arena));
	void *p = ka_malloc(a, 100);

	ka_size_sink = p;
	ka_free(a, p);
#ifdef KA_SIZE_CHECK
	ka_size_sink = (void *)(size_t)ka_check(a);
	ka_size_sink = (void *)(size_t)ka_walk(a, count_block, NULL);
#endif
#endif
	for (;;)
		;
}
