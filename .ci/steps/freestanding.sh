#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Freestanding builds for x86_64, i386, riscv64, aarch64 and Cortex-M4 with the undefined-
# symbol check (and its self-test), then the example kernel booted in QEMU on i386, x86_64
# and riscv64 at several memory sizes and with -smp 4 (x86_64, riscv64; .ci/steps/smp.sh runs
# those boots alone as well), including deliberate failures that must be caught.
set -euo pipefail
bash tests/freestanding/build_all.sh --selftest
bash tests/freestanding/boot_qemu.sh
