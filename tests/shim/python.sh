#!/bin/sh
# SPDX-License-Identifier: MIT
# CPython's own regression tests with every object allocated by kalloc.
# usage: python.sh <libkalloc-malloc.so> <backend> <work dir> <module list file>
# Runs `python3.11 -m test -j2` on the listed modules with PYTHONMALLOC=malloc (so pymalloc
# does not hide the allocator) on the system allocator (once per work dir: the baseline) and
# preloaded with kalloc, and fails unless both give the same status for every module.
# A module whose status differs is run again once, alone, on both, before failing, so that a
# timing-sensitive test that flaked under load does not count as a kalloc failure.
. "$(dirname "$0")/common.sh"
LIST=$4
PY=/usr/bin/python3.11
need $PY
if ! $PY -c 'import test.libregrtest' 2>/dev/null; then
	echo "SKIP: CPython's test suite is not installed (Debian: libpython3.11-testsuite)"
	exit 77
fi
MODULES=$(grep -v '^#' "$LIST" | tr '\n' ' ')
# The cached baseline is named after the list and its contents, so an edited list gets a new one.
NAME=$(basename "$LIST" .txt)-$(cksum <"$LIST" | cut -d" " -f1)
export PYTHONMALLOC=malloc

# Module statuses from regrtest's progress lines ("[3/60] test_x passed (1.2 sec)").
statuses() {
	sed -n 's/.*\] \(test_[A-Za-z0-9_]*\) \([a-z]*\).*/\1 \2/p' "$1" | sort
}

run() { # <log> <modules...>
	log=$1
	shift
	(cd "$WORK" && $PY -m test -j2 --timeout 600 "$@") >"$log" 2>&1 || true
}

BASE=$WORK/$NAME.base
(
	flock 9
	if [ ! -s "$BASE" ]; then
		run "$WORK/$NAME.base.log" $MODULES
		statuses "$WORK/$NAME.base.log" >"$BASE"
	fi
) 9>"$WORK/$NAME.lock"

OUT=$WORK/$NAME.$BACKEND
LD_PRELOAD=$LIB KALLOC_BACKEND=$BACKEND run "$OUT.log" $MODULES
statuses "$OUT.log" >"$OUT"
echo "modules: $(wc -l <"$BASE") on the system allocator, $(wc -l <"$OUT") on kalloc/$BACKEND"
if [ "$(wc -l <"$BASE")" -lt 5 ]; then
	echo "FAIL: the baseline run produced no statuses; see $WORK/$NAME.base.log"
	exit 1
fi
if cmp -s "$BASE" "$OUT"; then
	echo "PASS: same status for every module ($(grep -c ' passed' "$OUT") passed)"
	exit 0
fi
diff "$BASE" "$OUT" || true
DIFF=$(diff "$BASE" "$OUT" | sed -n 's/^[<>] \(test_[A-Za-z0-9_]*\) .*/\1/p' | sort -u | tr '\n' ' ')
echo "re-running alone: $DIFF"
run "$OUT.rerun-base.log" $DIFF
LD_PRELOAD=$LIB KALLOC_BACKEND=$BACKEND run "$OUT.rerun.log" $DIFF
statuses "$OUT.rerun-base.log" >"$OUT.rerun-base"
statuses "$OUT.rerun.log" >"$OUT.rerun"
if cmp -s "$OUT.rerun-base" "$OUT.rerun" && [ -s "$OUT.rerun" ]; then
	echo "PASS: the differing modules agree when run again"
	exit 0
fi
diff "$OUT.rerun-base" "$OUT.rerun" || true
echo "FAIL: kalloc/$BACKEND changes CPython's test results; logs in $WORK"
tail -40 "$OUT.rerun.log"
exit 1
