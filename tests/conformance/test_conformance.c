/* SPDX-License-Identifier: MIT */
/*
 * Hosted driver of the conformance suite: every backend in the registry, each over a fresh
 * 32 MiB mapping (page aligned, like a kernel's memory). Optional argument: a backend name.
 * Fails if any case fails or if no backend is compiled in (a suite that tests nothing must
 * not pass).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "conformance.h"

#define HEAP_LEN ((size_t)32 << 20)

static void print_line(const char *line)
{
	puts(line);
}

int main(int argc, char **argv)
{
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
	if (backends == 0) {
		fprintf(stderr, "no backend to test%s%s\n", argc > 1 ? " named " : "",
			argc > 1 ? argv[1] : "");
		return 1;
	}
	printf("conformance: %u backends, %u skipped\n", backends, c.skipped);
	printf("%u passed, %u failed\n", c.passed, c.failed);
	return c.failed == 0 ? 0 : 1;
}
