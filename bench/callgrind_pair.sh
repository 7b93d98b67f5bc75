#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per malloc + free pair through the shim and through glibc (callgrind):
# bench/pair.c's workloads at N and 2N iterations, (Ir(2N) - Ir(N)) / N, so that start-up is
# removed; the loop's own instructions (about 10 per pair) stay in every figure.
#   bench/callgrind_pair.sh [BUILD_DIR] [N] [BACKENDS...]
# Backends default to "glibc tlsf slab"; "glibc" runs without the shim, "mimalloc" with
# Debian's libmimalloc2.0 preloaded instead of it.
set -eu
B=${1:-build}
N=${2:-100000}
shift 2 2>/dev/null || shift $#
BACKENDS=${*:-"glibc tlsf slab"}
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 77; }
PAIR="$B/bench-pair"
${CC:-cc} -O2 -o "$PAIR" "$(dirname "$0")/pair.c"
ir() { # backend args...
	b=$1
	shift
	out=$(mktemp)
	if [ "$b" = glibc ]; then
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$PAIR" "$@" 2>"$out" >/dev/null
	elif [ "$b" = mimalloc ]; then
		LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 valgrind --tool=callgrind \
			--callgrind-out-file=/dev/null "$PAIR" "$@" 2>"$out" >/dev/null
	else
		LD_PRELOAD="$B/libkalloc-malloc.so" KALLOC_BACKEND=$b valgrind --tool=callgrind \
			--callgrind-out-file=/dev/null "$PAIR" "$@" 2>"$out" >/dev/null
	fi
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$out"
	rm -f "$out"
}
printf '%-10s %12s %12s\n' backend "pair(64)" mixed
for b in $BACKENDS; do
	p1=$(ir "$b" pair "$N" 64)
	p2=$(ir "$b" pair $((2 * N)) 64)
	m1=$(ir "$b" mixed "$N")
	m2=$(ir "$b" mixed $((2 * N)))
	printf '%-10s %12s %12s\n' "$b" "$(echo "scale=1; ($p2 - $p1) / $N" | bc)" \
		"$(echo "scale=1; ($m2 - $m1) / $N" | bc)"
done
