/* SPDX-License-Identifier: MIT */
/*
 * ka_check() and ka_walk(), in their own object: the only references to the checkers and
 * walkers that backends keep in their own object (check.h explains the scheme). A program
 * that calls neither does not load this object and so links no checker.
 */
#include "check.h"

/* Declared in each backend's private header (<name>_priv.h), which cannot all be included in
 * one file (their local helpers share names). */
unsigned bd_check(struct ka_alloc *a);
int bd_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_hardened_check_impl(struct ka_alloc *a);
int ka_hardened_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_pool_check_impl(struct ka_alloc *a);
int ka_pool_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_region_check_impl(struct ka_alloc *a);
int ka_region_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_slab_check_impl(struct ka_alloc *a);
int ka_slab_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_tiny_check_impl(struct ka_alloc *a);
int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);
unsigned ka_tlsf_check_impl(struct ka_alloc *a);
int ka_tlsf_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

/* One member per split checker and walker. Adding a backend's <name>_validate.c means a
 * member here; the conformance suite checks every backend through ka_check(), and a member
 * left out shows there as "no checker linked". */
struct ka_checker_links {
	unsigned (*buddy_check)(struct ka_alloc *a);
	int (*buddy_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*hardened_check)(struct ka_alloc *a);
	int (*hardened_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*pool_check)(struct ka_alloc *a);
	int (*pool_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*region_check)(struct ka_alloc *a);
	int (*region_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*slab_check)(struct ka_alloc *a);
	int (*slab_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*tiny_check)(struct ka_alloc *a);
	int (*tiny_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*tlsf_check)(struct ka_alloc *a);
	int (*tlsf_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
};

/* Read by nothing: its relocations are what load the validate objects. Also in a build
 * without checkers (KA_CFG_CHECK 0), where ops tables that leave theirs out (tlsf) keep
 * none of them, and those that keep theirs (buddy) still get them. */
__attribute__((used)) const struct ka_checker_links ka_checker_links = {
    .buddy_check = bd_check,
    .buddy_walk = bd_walk,
    .hardened_check = ka_hardened_check_impl,
    .hardened_walk = ka_hardened_walk_impl,
    .pool_check = ka_pool_check_impl,
    .pool_walk = ka_pool_walk_impl,
    .region_check = ka_region_check_impl,
    .region_walk = ka_region_walk_impl,
    .slab_check = ka_slab_check_impl,
    .slab_walk = ka_slab_walk_impl,
    /* Either variant's: tiny_validate.c or tiny_compact_validate.c. */
    .tiny_check = ka_tiny_check_impl,
    .tiny_walk = ka_tiny_walk_impl,
    .tlsf_check = ka_tlsf_check_impl,
    .tlsf_walk = ka_tlsf_walk_impl,
};

unsigned ka_check(struct ka_alloc *a)
{
	return ka_check_op(a);
}

int ka_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	return ka_walk_op(a, fn, arg);
}
