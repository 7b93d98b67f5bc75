#!/bin/sh
# SPDX-License-Identifier: MIT
# tlsf's worst case in instructions (docs/backend-tlsf.md, "Worst case"): runs the adversarial
# sequence of worst_tlsf.c under callgrind on a 1 MiB and a 64 MiB heap, divides each measured
# phase's instruction count by its number of calls (ka_free with both neighbours free,
# ka_malloc missing its row and splitting; the generic layer and statistics included), and
# fails if a figure exceeds the documented bound plus the documented constant, or if the
# 64 MiB heap costs more than 2 instructions per call over the 1 MiB one (no path depends on the
# heap's size). Exit 77 (CTest SKIP) without valgrind.
#   worst_case.sh KALLOC_WORST_TLSF_BINARY
set -eu
bin=$1
# The documented bounds (x86-64, gcc -O2, statistics on) and the constant allowed on top of
# them for other compilers and flags (the clang build of CI).
FREE_BOUND=190
ALLOC_BOUND=165
SLACK=40
NPAIR=1000
NALLOC=200
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skipped"; exit 77; }
# Valgrind 3.19 cannot read clang 14's DWARF 5; the function names it needs are in the symbol
# table, so a copy without debug information serves every compiler.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if command -v objcopy >/dev/null 2>&1 && objcopy --strip-debug "$bin" "$tmp"; then
	chmod +x "$tmp"
	bin=$tmp
fi
per_call() { # HEAP_MIB PHASE CALLS
	out=$(valgrind --tool=callgrind --toggle-collect="phase_$2" --callgrind-out-file=/dev/null \
		"$bin" "$1" "$2" 2>&1) || { echo "$out" >&2; echo "worst_case: run failed" >&2; exit 1; }
	ir=$(echo "$out" | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
	echo $((ir / $3))
}
fail=0
f1=$(per_call 1 free $NPAIR)
f64=$(per_call 64 free $NPAIR)
a1=$(per_call 1 alloc $NALLOC)
a64=$(per_call 64 alloc $NALLOC)
echo "worst ka_free:   $f1 (1 MiB) $f64 (64 MiB) instructions per call, bound $FREE_BOUND + $SLACK"
echo "worst ka_malloc: $a1 (1 MiB) $a64 (64 MiB) instructions per call, bound $ALLOC_BOUND + $SLACK"
for v in $f1 $f64; do [ "$v" -le $((FREE_BOUND + SLACK)) ] || { echo "FAIL: free $v" >&2; fail=1; }; done
for v in $a1 $a64; do [ "$v" -le $((ALLOC_BOUND + SLACK)) ] || { echo "FAIL: alloc $v" >&2; fail=1; }; done
[ "$f64" -le $((f1 + 2)) ] || { echo "FAIL: free grows with the heap" >&2; fail=1; }
[ "$a64" -le $((a1 + 2)) ] || { echo "FAIL: alloc grows with the heap" >&2; fail=1; }
[ $fail = 0 ] && echo "1 passed, 0 failed"
exit $fail
