/* SPDX-License-Identifier: MIT */
/*
 * The registry of backends compiled into this build. The build generates ka_backends.inc
 * with one KA_BACKEND(name) line per backend file, so adding a backend needs no edit here;
 * each backend defines `const struct ka_backend ka_backend_<name>`.
 */
#include "kalloc/alloc.h"
#include "annotate.h"

#define KA_BACKEND(n) extern const struct ka_backend ka_backend_##n;
#include "ka_backends.inc"
#undef KA_BACKEND

#define KA_BACKEND(n) &ka_backend_##n,
static const struct ka_backend *const backends[] = {
#include "ka_backends.inc"
    NULL,
};
#undef KA_BACKEND

static bool name_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

const struct ka_backend *ka_backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; backends[i]; i++)
		if (name_eq(backends[i]->name, name))
			return ka_an_backend(backends[i]);
	return NULL;
}

const struct ka_backend *ka_backend_at(size_t i)
{
	return i < sizeof(backends) / sizeof(backends[0]) ? ka_an_backend(backends[i]) : NULL;
}

const struct ka_backend *ka_backend_default(void)
{
	const struct ka_backend *b = ka_backend_find(KA_CFG_DEFAULT_BACKEND);

	return b ? b : ka_an_backend(backends[0]);
}
