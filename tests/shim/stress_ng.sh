#!/bin/sh
# SPDX-License-Identifier: MIT
# stress-ng's malloc stressor (Debian's stress-ng): random malloc/calloc/realloc/free of
# blocks up to 64 KiB, with malloc_trim() calls in its loop, which made kalloc about 100x
# slower than glibc while statistics walked the heap. The run must complete successfully;
# the log shows the system allocator's time beside kalloc's.
# usage: stress_ng.sh <libkalloc-malloc.so> <backend> <work dir> [ops]
. "$(dirname "$0")/common.sh"
OPS=${4:-20000}
need stress-ng
S=$WORK/stress-ng-$BACKEND
cd "$WORK"
t0=$(date +%s.%N)
stress-ng --malloc 1 --malloc-ops "$OPS" --metrics-brief >"$S.sys.out" 2>&1
t1=$(date +%s.%N)
if ! on_kalloc stress-ng --malloc 1 --malloc-ops "$OPS" --metrics-brief >"$S.k.out" 2>&1; then
	echo "FAIL: stress-ng --malloc on kalloc/$BACKEND exited with an error"
	cat "$S.k.out"
	exit 1
fi
t2=$(date +%s.%N)
if ! grep -q "successful run completed" "$S.k.out"; then
	echo "FAIL: stress-ng on kalloc/$BACKEND did not report a successful run"
	cat "$S.k.out"
	exit 1
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" -v be="$BACKEND" -v n="$OPS" \
	'BEGIN { printf "stress-ng --malloc-ops %d: system %.2f s, kalloc/%s %.2f s\n", n, b - a, be, c - b }'
echo "PASS: stress-ng --malloc on kalloc/$BACKEND"
