/* SPDX-License-Identifier: MIT */
/* Uses an installed kalloc: boots the default backend on a static buffer and allocates. */
#include <stdio.h>

#include <kalloc/alloc.h>

static _Alignas(4096) unsigned char heap[1 << 20];

int main(void)
{
	const struct ka_backend *b = ka_backend_default();
	struct ka_alloc *a = b ? b->init(heap, sizeof(heap)) : NULL;
	char *p = a ? ka_malloc(a, 100) : NULL;

	if (!p) {
		fprintf(stderr, "consumer: allocation failed\n");
		return 1;
	}
	ka_free(a, p);
	printf("consumer: %s ok, check %u\n", ka_name(a), ka_check(a));
	return ka_check(a) == 0 ? 0 : 1;
}
