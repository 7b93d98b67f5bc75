/* SPDX-License-Identifier: MIT */
/* The expected-set file of the misuse tests: see expect.h. */
#include "expect.h"

#include <stdio.h>
#include <string.h>

const char *const mx_vname[] = {"missed", "checker", "detected", "crash", "n/a"};

#define MAX_EXPECT 2048
static struct expect {
	char backend[32], form[16], id[48];
	enum mx_verdict v;
	char reason[200];
} expect[MAX_EXPECT];
static size_t nexpect;
static const char *expect_path = "";

/* Detection strength: "lost" is a comparison of ranks; a crash or n/a detects nothing. */
static int rank(enum mx_verdict v)
{
	return v <= MX_DETECTED ? (int)v : 0;
}

bool mx_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	bool ok = true;

	expect_path = path;
	if (!f) {
		printf("cannot open the expected set %s\n", path);
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char b[32], fm[16], id[48], v[16];
		int used = 0, k = -1;

		lineno++;
		if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line))
			continue;
		if (sscanf(line, "%31s %15s %47s %15s %n", b, fm, id, v, &used) != 4 ||
		    nexpect == MAX_EXPECT) {
			printf("%s:%u: malformed line\n", path, lineno);
			ok = false;
			continue;
		}
		for (int j = 0; j <= MX_NA; j++)
			if (strcmp(v, mx_vname[j]) == 0)
				k = j;
		if (k < 0) {
			printf("%s:%u: unknown verdict \"%s\"\n", path, lineno, v);
			ok = false;
			continue;
		}
		struct expect *e = &expect[nexpect];
		snprintf(e->backend, sizeof(e->backend), "%s", b);
		snprintf(e->form, sizeof(e->form), "%s", fm);
		snprintf(e->id, sizeof(e->id), "%s", id);
		e->v = (enum mx_verdict)k;
		snprintf(e->reason, sizeof(e->reason), "%s", line + used);
		e->reason[strcspn(e->reason, "\r\n")] = '\0';
		if (e->v == MX_CRASH && e->reason[0] == '\0') {
			printf("%s:%u: a known crash needs its reason on the line\n", path, lineno);
			ok = false;
			continue;
		}
		nexpect++;
	}
	fclose(f);
	return ok;
}

static const struct expect *find(const char *b, const char *form, const char *id)
{
	for (size_t i = 0; i < nexpect; i++)
		if (strcmp(expect[i].backend, b) == 0 && strcmp(expect[i].form, form) == 0 &&
		    strcmp(expect[i].id, id) == 0)
			return &expect[i];
	return NULL;
}

bool mx_judge(const char *backend, const char *form, const char *id, enum mx_verdict got)
{
	const struct expect *e = find(backend, form, id);
	enum mx_verdict want = e ? e->v : MX_MISSED;
	bool ok = true;

	if (got == MX_CRASH && want != MX_CRASH) {
		printf("  FAIL %s %s %s: crashed without kalloc's report\n", backend, form, id);
		return false;
	}
	if (got == MX_CRASH) {
		printf("  known crash %s %s %s: %s\n", backend, form, id, e->reason);
		return true;
	}
	if (rank(got) < rank(want)) {
		printf("  FAIL %s %s %s: expected %s, got %s\n", backend, form, id, mx_vname[want],
		       mx_vname[got]);
		ok = false;
	}
	if (got != want && rank(got) >= rank(want))
		printf("  %s, put in %s: %s %s %s %s\n",
		       rank(got) > rank(want) ? "gained" : "changed", expect_path, backend, form,
		       id, mx_vname[got]);
	return ok;
}
