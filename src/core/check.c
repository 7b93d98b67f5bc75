/* SPDX-License-Identifier: MIT */
/*
 * ka_check() and ka_walk(), in their own object: the only references to the checkers and
 * walkers that backends keep in their own object (check.h explains the scheme). A program
 * that calls neither does not load this object and so links no checker.
 */
#include "check.h"
#include "backend/buddy_priv.h"
#include "backend/tlsf_priv.h"

/* One member per split checker and walker. Adding a backend's <name>_validate.c means a
 * member here; the conformance suite checks every backend through ka_check(), and a member
 * left out shows there as "no checker linked". */
struct ka_checker_links {
	unsigned (*buddy_check)(struct ka_alloc *a);
	int (*buddy_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
	unsigned (*tlsf_check)(struct ka_alloc *a);
	int (*tlsf_walk)(struct ka_alloc *a, ka_walk_fn fn, void *arg);
};

/* Read by nothing: its relocations are what load the validate objects. Also in a build
 * without checkers (KA_CFG_CHECK 0), where ops tables that leave theirs out (tlsf) keep
 * none of them, and those that keep theirs (buddy) still get them. */
__attribute__((used)) const struct ka_checker_links ka_checker_links = {
    .buddy_check = bd_check,
    .buddy_walk = bd_walk,
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
