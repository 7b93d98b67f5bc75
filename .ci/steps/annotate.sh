#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Memory checkers see inside kalloc's heaps (docs/annotate.md): a deliberately wrong program
# per error kind must be reported by ASan (KA_ANNOTATE=asan) and by memcheck
# (KA_ANNOTATE=valgrind) on every backend and through the LD_PRELOAD shim; the same programs
# without their errors and the conformance suite must run clean under memcheck. About 2
# minutes on 2 cores (48 s of CPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build-ci-annotate-asan -DCMAKE_C_COMPILER=clang -DKA_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=Debug -DKA_ANNOTATE=asan >/dev/null
cmake --build build-ci-annotate-asan -j "$JOBS" --target annotate_bugs >/dev/null
ctest --test-dir build-ci-annotate-asan --output-on-failure -j "$JOBS" -L annotate

cmake -S . -B build-ci-annotate-vg -DKA_ANNOTATE=valgrind >/dev/null
cmake --build build-ci-annotate-vg -j "$JOBS" --target annotate_bugs conformance_test_conformance \
	kalloc-malloc annotate_shim_wrong >/dev/null
ctest --test-dir build-ci-annotate-vg --output-on-failure -j "$JOBS" -L annotate
