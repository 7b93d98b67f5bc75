#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Code size: the linked one-heap program of every backend, in the minimal and the default
# configuration on Cortex-M4 and riscv64, must not grow by more than 5% over the table
# committed in docs/code-size.md (regenerate it with tests/freestanding/code_size.sh when a
# change is meant to cost code).
set -euo pipefail
sh tests/freestanding/code_size.sh -o build/code-size --check docs/code-size.md
