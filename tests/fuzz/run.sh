#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan+UBSan) and fuzzes every backend for a bounded
# time. Usage: tests/fuzz/run.sh [seconds per backend, default 30] [build dir].
# A crash fails the script; its input is left in tests/fuzz/crashes/<backend>/ so it can be
# added to tests/fuzz/corpus/<backend>/ as a regression input.
# Prints one line per backend: "fuzz <backend>: <executions> executions, ok|CRASH".
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
build=${2:-build-fuzz}
# Optimised (-O2 -g) with the internal asserts of debug level 2: libFuzzer explores several
# times more inputs than at -O0 in the same time, and ASan+UBSan still check every access.
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DKA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DKA_DEBUG=2 >/dev/null
backends=$(sed -n 's/^KA_BACKEND(\(.*\))$/\1/p' "$build/generated/ka_backends.inc")
[ -n "$backends" ] || { echo "no backends to fuzz"; exit 1; }
targets=""
for b in $backends; do targets="$targets fuzz_$b"; done
cmake --build "$build" -j "$(nproc)" --target $targets
status=0
for b in $backends; do
	work=$(mktemp -d)
	cp tests/fuzz/corpus/common/* "$work/"
	[ -d "tests/fuzz/corpus/$b" ] && cp "tests/fuzz/corpus/$b"/* "$work/" 2>/dev/null || true
	mkdir -p "tests/fuzz/crashes/$b"
	log="$build/fuzz-$b.log"
	if "$build/fuzz/fuzz_$b" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
		-artifact_prefix="tests/fuzz/crashes/$b/" "$work" >"$log" 2>&1; then
		verdict=ok
	else
		verdict=CRASH
		status=1
		tail -n 40 "$log"
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	[ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -n1 | tr -d '#')
	echo "fuzz $b: ${execs:-0} executions, $verdict"
	rmdir "tests/fuzz/crashes/$b" 2>/dev/null || true
	rm -rf "$work"
done
exit $status
