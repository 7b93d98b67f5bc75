#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The LD_PRELOAD shim of a KA_ANNOTATE=valgrind build under memcheck, with no environment
# switch: the shim sees Valgrind and turns its cache off, so every block is a block of the
# generic layer, which annotates it (docs/annotate.md). shim_wrong's three errors must each be reported in the
# function that commits them, the same program without them and a real program (sort) must
# run without a report.
#
# Usage: shim.sh SHIM_SO SHIM_WRONG_BINARY INPUT_FILE
set -u
so=$1 bin=$2 input=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0
run() { LD_PRELOAD=$so valgrind -q --error-exitcode=99 "$@"; }

run "$bin" >"$out" 2>&1
for p in "Invalid write of size 1" "at 0x[0-9A-F]*: shim_bug_uaf (.*shim_wrong.c" \
	"Invalid read of size 1" "at 0x[0-9A-F]*: shim_bug_read_freed (.*shim_wrong.c" \
	"at 0x[0-9A-F]*: shim_bug_overflow (.*shim_wrong.c" "0 bytes after a block of size" \
	"free'd"; do
	grep -q -e "$p" "$out" || { echo "MISSING: $p"; fail=1; }
done
[ $fail = 0 ] || sed -n 1,60p "$out"
for prog in "$bin clean" "sort $input"; do
	# shellcheck disable=SC2086
	if ! run $prog >"$out" 2>&1 || grep -q 'Invalid \|uninitialised' "$out"; then
		echo "FALSE POSITIVE: $prog"
		sed -n 1,40p "$out"
		fail=1
	fi
done
echo "annotate valgrind shim: $([ $fail = 0 ] && echo "3/3 reported, clean runs ok" || echo FAILED)"
exit $fail
