/* SPDX-License-Identifier: MIT */
/*
 * Expected misuse verdicts, shared by the ka_* API misuse test (tests/misuse/test_misuse.c)
 * and the misuse test through the LD_PRELOAD shim (tests/reliability/shim/shim_misuse.c).
 * A file holds one line per allocator, form and case: "backend form case verdict [reason]";
 * '#' starts a comment line. Verdicts, strongest first: detected (SIGABRT with kalloc's
 * report), checker (only the heap checker saw it), missed; then crash (the child ended
 * without kalloc's report: allowed only where the file records it, with a reason) and n/a
 * (the allocator cannot make the case's blocks). Hosted test code only.
 */
#ifndef KA_TEST_MISUSE_EXPECT_H
#define KA_TEST_MISUSE_EXPECT_H

#include <stdbool.h>

enum mx_verdict { MX_MISSED, MX_CHECKER, MX_DETECTED, MX_CRASH, MX_NA };

/** Names of the verdicts as written in the file, indexed by enum mx_verdict. */
extern const char *const mx_vname[];

/** Read the expected set at `path`; false (with a message on stdout) if it is unreadable or
 * malformed. Lines for the same allocator, form and case: the first counts. */
bool mx_load(const char *path);

/**
 * Compare a measured verdict with the file's line for (backend, form, id); a missing line
 * means "missed". Prints a FAIL line and returns false when the case fell below its line or
 * crashed where no line records that crash; prints the known crash's reason, and every gain
 * or change as the line to put in the file.
 */
bool mx_judge(const char *backend, const char *form, const char *id, enum mx_verdict got);

#endif
