#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ThreadSanitizer over the multi-threaded tests (the locked global allocator hammered by
# several threads; the per-CPU cache adapter with blocks freed on other threads; the booted
# system with per-CPU caches, four threads as CPUs). The shim is not built under TSan (TSan replaces malloc itself).
set -euo pipefail
cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DKA_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-tsan -j "$(nproc)" --target global_test_global_mt global_test_cache_mt boot_test_system
ctest --test-dir build-tsan --output-on-failure -R 'global_test_(global|cache)_mt|boot_test_system'
