/* SPDX-License-Identifier: MIT */
/* Test support: see frame_harness.h. */
#include <stdlib.h>
#include <string.h>

#include "frame_harness.h"

void fh_init(struct fh *h, enum fh_kind kind)
{
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	h->fa = kind == FH_BUDDY ? ka_fbuddy_init(&h->u.bd) : ka_fbitmap_init(&h->u.bm);
}

int fh_add(struct fh *h, ka_paddr_t paddr, size_t frames, uintptr_t dm_off)
{
	size_t need = ka_fmetadata_size(h->fa, frames);
	void *meta;
	int rc;

	if (h->nmeta == FH_MAX_REGIONS)
		return KA_ENOMEM;
	/* Poison the area: add_memory must initialise everything it relies on. */
	meta = malloc(need ? need : 16);
	if (!meta)
		abort();
	memset(meta, 0xa5, need ? need : 16);
	rc = ka_fadd_memory(h->fa, meta, paddr, frames, dm_off);
	if (rc == 0)
		h->meta[h->nmeta++] = meta;
	else
		free(meta);
	return rc;
}

void fh_fini(struct fh *h)
{
	for (size_t i = 0; i < h->nmeta; i++)
		free(h->meta[i]);
	h->nmeta = 0;
}

const char *fh_name(enum fh_kind kind)
{
	return kind == FH_BUDDY ? "buddy" : "bitmap";
}
