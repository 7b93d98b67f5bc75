#!/bin/sh
# SPDX-License-Identifier: MIT
# Cost of recording: sqlite3 on 40 000 rows (tests/shim/sqlite.sh's script) in an in-memory
# database (no disk waits, so the figure is the CPU cost) under the shim, with and without
# KALLOC_TRACE, runs alternating, medians of wall and CPU (user+sys) time.
# usage: bench/trace/overhead.sh [libkalloc-malloc.so] [pairs (default 7)]
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=${1:-$ROOT/build/libkalloc-malloc.so}
N=${2:-7}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
sed -n '/cat >"\$SQL" <<SQL/,/^SQL$/p' "$ROOT/tests/shim/sqlite.sh" | sed '1d;$d' |
	sed 's/\$ROWS/40000/' >"$TMP/q.sql"

one() { # <trace or empty> -> "wall cpu" in seconds
	rm -f "$TMP/t.kt"*
	/usr/bin/time -f "%e %U %S" -o "$TMP/time" env LD_PRELOAD="$LIB" ${1:+KALLOC_TRACE=$1} \
		sqlite3 :memory: <"$TMP/q.sql" >/dev/null
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$TMP/time"
}

: >"$TMP/off"
: >"$TMP/on"
i=0
while [ $i -lt "$N" ]; do
	one "" >>"$TMP/off"
	one "$TMP/t.kt" >>"$TMP/on"
	i=$((i + 1))
done
size=$(wc -c <"$TMP/t.kt" 2>/dev/null || echo 0)
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
w0=$(cut -d' ' -f1 "$TMP/off" | med); w1=$(cut -d' ' -f1 "$TMP/on" | med)
c0=$(cut -d' ' -f2 "$TMP/off" | med); c1=$(cut -d' ' -f2 "$TMP/on" | med)
echo "sqlite3, $N alternating pairs, medians: wall ${w0}s untraced, ${w1}s traced;" \
	"cpu ${c0}s untraced, ${c1}s traced; trace $size bytes"
awk -v a="$w0" -v b="$w1" -v c="$c0" -v d="$c1" 'BEGIN { printf "overhead: wall %+.1f%%, cpu %+.1f%%\n", (b / a - 1) * 100, (d / c - 1) * 100 }'
