/* SPDX-License-Identifier: MIT */
/*
 * The program tests/freestanding/code_size.sh links to measure one heap: init a heap of the
 * backend KA_SIZE_INIT (e.g. ka_tiny_init) over a static arena, malloc(100), free. Built with
 * -DKA_SIZE_NONE it is the same program without a heap; the difference of the two is the
 * heap's cost. The volatile sink keeps the compiler from folding the calls away.
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
#endif
	for (;;)
		;
}
