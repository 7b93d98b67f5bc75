#!/bin/sh
# SPDX-License-Identifier: MIT
# Multi-threaded programs on kalloc: xz -T2 and pigz -p 2 compress and decompress a generated
# file, sort --parallel=2 sorts it; every result must equal the system allocator's (xz and
# pigz outputs are deterministic for a given thread count) and the round trips the input.
# usage: threads.sh <libkalloc-malloc.so> <backend> <work dir> [lines]
. "$(dirname "$0")/common.sh"
LINES=${4:-300000}
need xz pigz sort awk cmp
IN=$WORK/input-$LINES.txt
if [ ! -s "$IN" ]; then
	awk -v n="$LINES" 'BEGIN { x = 12345; for (i = 0; i < n; i++) {
		x = (x * 1103515245 + 12345) % 2147483648;
		printf "%010d line %d %s\n", x, i, substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1) } }' \
		>"$IN.tmp.$$"
	mv "$IN.tmp.$$" "$IN"
fi
T=$WORK/threads-$BACKEND
mkdir -p "$T"
fail() {
	echo "FAIL: $1 on kalloc/$BACKEND"
	exit 1
}
xz -T2 -3 -c "$IN" >"$T/sys.xz"
on_kalloc xz -T2 -3 -c "$IN" >"$T/k.xz" || fail "xz compress exited non-zero"
cmp -s "$T/sys.xz" "$T/k.xz" || fail "xz -T2 output differs"
on_kalloc xz -T2 -d -c "$T/k.xz" >"$T/k.txt" || fail "xz decompress exited non-zero"
cmp -s "$IN" "$T/k.txt" || fail "xz round trip differs"
pigz -p 2 -c "$IN" >"$T/sys.gz"
on_kalloc pigz -p 2 -c "$IN" >"$T/k.gz" || fail "pigz exited non-zero"
cmp -s "$T/sys.gz" "$T/k.gz" || fail "pigz output differs"
on_kalloc pigz -p 2 -d -c "$T/k.gz" >"$T/k2.txt" || fail "pigz -d exited non-zero"
cmp -s "$IN" "$T/k2.txt" || fail "pigz round trip differs"
LC_ALL=C sort --parallel=2 -S 8M -k3,3 -k1,1n "$IN" >"$T/sys.sorted"
LC_ALL=C on_kalloc sort --parallel=2 -S 8M -k3,3 -k1,1n "$IN" >"$T/k.sorted" || fail "sort exited non-zero"
cmp -s "$T/sys.sorted" "$T/k.sorted" || fail "sort --parallel=2 output differs"
echo "PASS: xz -T2, pigz -p 2 and sort --parallel=2 agree with the system allocator ($LINES lines)"
rm -rf "$T"
