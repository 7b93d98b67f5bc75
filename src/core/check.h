/* SPDX-License-Identifier: MIT */
/*
 * Internal: how the checkers and walkers are linked only into programs that use them.
 *
 * A backend whose checker and walker live in their own object (src/backend/<name>_validate.c)
 * references them from its ops table weakly (KA_CHECKER_REF): linking the backend does not
 * load that object, and the table reads NULL for them. ka_check() and ka_walk()
 * (src/core/check.c) reference every such checker and walker strongly, so a program that
 * calls either loads the validate objects; with --gc-sections only those of the backends
 * the program also links stay (their ops tables' weak references keep them), the others are
 * dropped. A program that never checks nor walks links neither.
 *
 * Library code that checks or walks the heap below it from inside an op (the locking
 * adapter, the cache) calls ka_check_op() / ka_walk_op(): those do not load anything, since
 * the op is only ever reached through a public entry point that did. A public entry point
 * that reads ops->check or ops->walk itself (the DMA checker, the memory-checker
 * annotations, the check after every operation at debug level 3) says so with
 * KA_LINK_CHECKERS(), which loads check.c and so every validate object.
 */
#ifndef KALLOC_CORE_CHECK_H
#define KALLOC_CORE_CHECK_H

#include "kalloc/alloc_impl.h"

/* On the declaration of a checker or walker in the file that holds the ops table. Hidden:
 * the reference never goes through a GOT, and resolves to 0 when the object is not linked. */
#define KA_CHECKER_REF __attribute__((weak, visibility("hidden")))

/* The table of every split checker and walker (check.c); referencing it loads them all. */
extern const struct ka_checker_links ka_checker_links;

/* Put at file scope: the object then loads check.c, whatever of it the program calls. The
 * pointer is never read and --gc-sections drops it; the object load is what counts. */
#define KA_LINK_CHECKERS(tag)                                                                      \
	__attribute__((used)) static const void *const ka_link_checkers_##tag = &ka_checker_links

/*
 * ka_check() and ka_walk() without loading any checker: the backend's check/walk op inside
 * the memory-checker bracket. ka_check_op() on a head whose check op is NULL returns 0 when
 * the build has no checkers (KA_CFG_CHECK 0), and otherwise reports "no checker linked" once
 * through ka_check_report() and returns 1: the heap was not checked, which a caller must not
 * take for a healthy heap. ka_walk_op() returns KA_ENOTSUP for a NULL walk op.
 */
unsigned ka_check_op(struct ka_alloc *a);
int ka_walk_op(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_CORE_CHECK_H */
