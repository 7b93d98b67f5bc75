#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Size builds (-Os, as firmware builds the library and as code_size.sh measures it) compile
# other bodies than speed builds: tlsf's one allocation and one free body, its pop through the
# general unlink. The hosted suite runs at -O2, so the conformance suite (default and minimal
# configuration) and the tlsf and tiny unit tests run here on a MinSizeRel build.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build-ci-os -DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
cmake --build build-ci-os -j "$JOBS" --target conformance_test_conformance conformance_minimal \
	unit_test_tlsf unit_test_tiny unit_test_tiny_compact >/dev/null
ctest --test-dir build-ci-os --output-on-failure -j "$JOBS" \
	-R '^(conformance_test_conformance|conformance_minimal|unit_test_tlsf|unit_test_tiny|unit_test_tiny_compact)$'
