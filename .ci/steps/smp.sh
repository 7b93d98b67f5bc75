#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel proof of issue 12: the example kernel booted with -smp 4 on x86_64 and riscv64,
# every CPU allocating through the per-CPU cache and freeing blocks other CPUs allocated;
# the step fails unless both boots print the success line and "smp: PASS (4 CPUs, ...)"
# (and the harness's own check rejects a boot without the proof). Bounded: 110 s for the
# whole step (kernel builds included; they are incremental after freestanding.sh), 45 s per
# boot.
set -euo pipefail
KA_BOOT_TIMEOUT=45 timeout 110 bash tests/freestanding/boot_qemu.sh --smp-only x86_64 riscv64
