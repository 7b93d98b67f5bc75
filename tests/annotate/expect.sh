#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Runs the deliberately wrong program (annotate_bugs) for every case on the given backends,
# under the checker the build annotates for, and asserts the checker's report: the kind of
# error, the function that commits it (first frame of the access) and, under memcheck, the
# block's history (alloc'd / free'd by kalloc's entry points). The same steps without the
# error must run clean (all of them in one run). Prints one line per backend: "annotate <mode>
# <backend>: reported X/Y (n/a N), clean run ok" and fails on any missing report or false
# positive.
#
# Usage: expect.sh valgrind|asan BUGS_BINARY BACKEND...
set -u
mode=$1 bin=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0

# case: patterns (each must appear in the report), separated by '|'.
declare -A want
if [ "$mode" = valgrind ]; then
	want[uaf-write]="Invalid write of size 1|at 0x[0-9A-F]*: bug_uaf_write (.*bugs.c|inside a block of size 24 free'd|: ka_free (.*alloc.c|Block was alloc'd at|alloc.c:"
	want[uaf-read]="Invalid read of size 1|at 0x[0-9A-F]*: bug_uaf_read (.*bugs.c|inside a block of size 40 free'd|: ka_free (.*alloc.c"
	want[overflow]="Invalid write of size 1|at 0x[0-9A-F]*: bug_overflow (.*bugs.c|0 bytes after a block of size 24 alloc'd|alloc.c:"
	want[overflow-next]="Invalid write of size 1|at 0x[0-9A-F]*: bug_overflow_next (.*bugs.c|0 bytes after a block of size 40 alloc'd"
	want[underflow]="Invalid write of size 1|at 0x[0-9A-F]*: bug_underflow (.*bugs.c"
	want[realloc-stale]="Invalid write of size 1|at 0x[0-9A-F]*: bug_realloc_stale (.*bugs.c|inside a block of size 32 free'd|: ka_realloc (.*alloc.c"
	want[pages-uaf]="Invalid write of size 1|at 0x[0-9A-F]*: bug_pages_uaf (.*bugs.c|inside a block of size 8,192 free'd|: ka_pfree (.*alloc.c"
	want[uninit]="Conditional jump or move depends on uninitialised value|at 0x[0-9A-F]*: bug_uninit (.*bugs.c"
	want[double-free]="Invalid free() / delete / delete\[\] / realloc()|: ka_free (.*alloc.c|by 0x[0-9A-F]*: bug_double_free (.*bugs.c|inside a block of size 24 free'd"
	cases="uaf-write uaf-read overflow overflow-next underflow realloc-stale pages-uaf uninit double-free"
	run() { valgrind -q --error-exitcode=99 --leak-check=no "$bin" "$@"; }
elif [ "$mode" = asan ]; then
	want[uaf-write]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_uaf_write .*bugs.c"
	want[uaf-read]="ERROR: AddressSanitizer: use-after-poison|READ of size 1|#0 0x[0-9a-f]* in bug_uaf_read .*bugs.c"
	want[overflow]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_overflow .*bugs.c"
	want[overflow-next]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_overflow_next .*bugs.c"
	want[underflow]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_underflow .*bugs.c"
	want[realloc-stale]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_realloc_stale .*bugs.c"
	want[pages-uaf]="ERROR: AddressSanitizer: use-after-poison|WRITE of size 1|#0 0x[0-9a-f]* in bug_pages_uaf .*bugs.c"
	# Undefined bytes are memcheck's domain; a double free is kalloc's own misuse check.
	cases="uaf-write uaf-read overflow overflow-next underflow realloc-stale pages-uaf"
	run() { ASAN_OPTIONS=detect_leaks=0 "$bin" "$@"; }
else
	echo "expect.sh: mode must be valgrind or asan" >&2
	exit 2
fi

for b in "$@"; do
	reported=0 total=0 na=0 clean=ok
	run "$b" all clean >"$out" 2>&1
	rc=$?
	if [ $rc != 0 ] || grep -q -e 'Invalid \|uninitialised\|AddressSanitizer' "$out"; then
		echo "FALSE POSITIVE: $b, every case without its error (exit $rc):"
		sed -n 1,40p "$out"
		clean=FAILED fail=1
	fi
	for c in $cases; do
		run "$b" "$c" >"$out" 2>&1
		rc=$?
		if [ $rc = 77 ]; then
			na=$((na + 1))
			continue
		fi
		total=$((total + 1))
		ok=1
		[ $rc != 0 ] || ok=0
		IFS='|' read -r -a pats <<<"${want[$c]}"
		for p in "${pats[@]}"; do
			grep -q -e "$p" "$out" || { ok=0; echo "MISSING in $b $c: $p"; }
		done
		if [ $ok = 1 ]; then
			reported=$((reported + 1))
		else
			echo "NOT REPORTED: $b $c (exit $rc):"
			sed -n 1,40p "$out"
			fail=1
		fi
	done
	echo "annotate $mode $b: reported $reported/$total (n/a $na), clean run $clean"
done
exit $fail
