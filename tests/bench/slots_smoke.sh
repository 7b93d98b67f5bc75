#!/bin/sh
# SPDX-License-Identifier: MIT
# kalloc-bench slots runs both slot workloads on every allocator it lists and prints one row
# per workload and allocator, with no failed request (the workload never exceeds the heap);
# --count (the callgrind entry) runs one workload quietly. No timing is asserted.
# usage: slots_smoke.sh <kalloc-bench>
set -eu
B=$1
out=$($B slots --steps 20000)
echo "$out"
for wl in S M; do
	for a in tlsf tiny glibc; do
		row=$(echo "$out" | awk -v w="$wl" -v a="$a" '$1 == w && $2 == a')
		[ -n "$row" ] || { echo "FAIL: no row for $a on $wl"; exit 1; }
		echo "$row" | awk '{ if ($3 != 0 || $4 !~ /^[0-9]+$/) exit 1 }' ||
			{ echo "FAIL: $a on $wl: $row"; exit 1; }
	done
done
$B slots --count --workload S --backends tlsf --steps 20000 >/dev/null
echo "PASS: kalloc-bench slots"
