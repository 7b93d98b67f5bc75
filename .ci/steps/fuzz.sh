#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libFuzzer on every backend for a bounded time (KA_FUZZ_SECONDS, default 20 each).
set -euo pipefail
bash tests/fuzz/run.sh "${KA_FUZZ_SECONDS:-20}" build-fuzz
