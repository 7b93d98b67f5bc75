#!/bin/sh
# SPDX-License-Identifier: MIT
# The shim's environment handling: an unknown KALLOC_BACKEND is a clear message and exit
# status 1 (no crash, no output from the program); KALLOC_STATS=1 prints statistics at exit.
# usage: env.sh <libkalloc-malloc.so> <backend> <work dir>
. "$(dirname "$0")/common.sh"
need sh sort
set +e
LD_PRELOAD=$LIB KALLOC_BACKEND=no-such-backend sh -c 'echo should-not-run' \
	>"$WORK/env-$BACKEND.out" 2>"$WORK/env-$BACKEND.err"
rc=$?
set -e
grep -q "kalloc: unknown KALLOC_BACKEND 'no-such-backend'; known backends:.*$BACKEND" \
	"$WORK/env-$BACKEND.err" || { cat "$WORK/env-$BACKEND.err"; echo "FAIL: no clear message"; exit 1; }
[ "$rc" = 1 ] || { echo "FAIL: exit status $rc, expected 1"; exit 1; }
[ ! -s "$WORK/env-$BACKEND.out" ] || { echo "FAIL: the program ran"; exit 1; }
# sort closes stderr before it exits: the statistics must still appear.
printf 'hello\n' | LD_PRELOAD=$LIB KALLOC_BACKEND=$BACKEND KALLOC_STATS=1 sort \
	>"$WORK/env-$BACKEND.out" 2>"$WORK/env-$BACKEND.err"
grep -qx hello "$WORK/env-$BACKEND.out" || { echo "FAIL: program output lost"; exit 1; }
grep -q "^kalloc: backend=$BACKEND mapped=[0-9]* in_use=" "$WORK/env-$BACKEND.err" ||
	{ cat "$WORK/env-$BACKEND.err"; echo "FAIL: no statistics line"; exit 1; }
grep -q "^kalloc: cache: \(on allocs=[1-9]\|off\)" "$WORK/env-$BACKEND.err" ||
	{ cat "$WORK/env-$BACKEND.err"; echo "FAIL: no cache statistics"; exit 1; }
echo "PASS: unknown backend refused cleanly; statistics printed"
