# SPDX-License-Identifier: MIT
# Freestanding aarch64 (kernel code: general registers only, so floating point is a compile
# error) and inline atomics (no libgcc __aarch64_* helpers). Debian: gcc-aarch64-linux-gnu.
set(KA_TC_PROCESSOR aarch64)
set(KA_TC_NAMES aarch64-linux-gnu-gcc aarch64-none-elf-gcc aarch64-elf-gcc)
set(KA_TC_FLAGS "-mgeneral-regs-only -mno-outline-atomics -fno-pie")
set(KA_TC_LDFLAGS "-no-pie")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
