#!/bin/sh
# SPDX-License-Identifier: MIT
# Re-record the sample traces of bench/traces/ (docs/trace.md): CPython running three of its
# test modules, sqlite3 on 40 000 rows (the shim test's script), and GCC's cc1 compiling
# src/global/global.c at -O2. Each trace is gzip'd; kalloc-bench replay reads .gz directly.
# usage: bench/trace/record_samples.sh [libkalloc-malloc.so] [output dir]
# Needs: python3.11 with libpython3.11-testsuite, sqlite3, gcc.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=${1:-$ROOT/build/libkalloc-malloc.so}
OUT=${2:-$ROOT/bench/traces}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# CPython: PYTHONMALLOC=malloc sends every object allocation to malloc (no pymalloc arenas).
(cd "$TMP" && env PYTHONMALLOC=malloc LD_PRELOAD="$LIB" KALLOC_TRACE="$TMP/py.kt" \
	python3.11 -m test test_bisect test_fnmatch test_keyword >"$TMP/py.log" 2>&1)
gzip -9 -c "$TMP/py.kt" >"$OUT/python-tests.kt.gz"

# sqlite3: the script of tests/shim/sqlite.sh with 40 000 rows.
sed -n '/cat >"\$SQL" <<SQL/,/^SQL$/p' "$ROOT/tests/shim/sqlite.sh" | sed '1d;$d' |
	sed 's/\$ROWS/40000/' >"$TMP/q.sql"
env LD_PRELOAD="$LIB" KALLOC_TRACE="$TMP/sq.kt" sqlite3 "$TMP/db" <"$TMP/q.sql" >/dev/null
gzip -9 -c "$TMP/sq.kt" >"$OUT/sqlite3.kt.gz"

# gcc: the driver writes FILE, the programs it runs FILE.<pid>; cc1 is the largest.
env LD_PRELOAD="$LIB" KALLOC_TRACE="$TMP/gcc.kt" gcc -O2 -c -I"$ROOT/include" -I"$ROOT/src" \
	-I"$ROOT/src/core" "$ROOT/src/global/global.c" -o "$TMP/global.o"
CC1=$(ls -S "$TMP"/gcc.kt.* | head -n 1)
gzip -9 -c "$CC1" >"$OUT/gcc-cc1.kt.gz"
ls -l "$OUT"
