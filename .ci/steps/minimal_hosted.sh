#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The minimal configuration (-DKA_MINIMAL=ON, KA_CFG_MINIMAL=1) built for the host: the
# global allocator, DMA, page objects, frames and boot over backends that have no checker,
# walker, statistics or sweep must still work (the global checker once called a sub-heap's
# missing check op and crashed). Only tests whose assertions hold in that configuration run
# here: the ones left out assert statistics figures, checker messages or ka_sweep(), which
# the minimal configuration documents as absent (docs/code-size.md, config.h).
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=$(nproc 2>/dev/null || echo 2)
TESTS=(conformance_test_conformance global_test_global_conformance global_test_dma
	global_test_global_frames global_test_global_keep global_test_global_mt
	global_test_global_overlap global_test_page boot_test_boot frame_test_frames
	frame_test_frames_overlap reliability_test_bad_input reliability_test_oom
	unit_test_tiny_compact unit_test_buddy unit_test_slab unit_test_region unit_test_hardened)

cmake -S . -B build-ci-min -DKA_MINIMAL=ON >/dev/null
cmake --build build-ci-min -j "$JOBS" --target "${TESTS[@]}" >/dev/null
re="^($(IFS='|'; echo "${TESTS[*]}"))\$"
ctest --test-dir build-ci-min --output-on-failure -j "$JOBS" -R "$re" --no-tests=error
n=$(ctest --test-dir build-ci-min -N -R "$re" | sed -n 's/^Total Tests: //p')
[ "$n" -eq "${#TESTS[@]}" ] || { echo "minimal_hosted: $n tests registered, expected ${#TESTS[@]}" >&2; exit 1; }
