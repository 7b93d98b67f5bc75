# SPDX-License-Identifier: MIT
# Freestanding riscv64 (RV64IMAC, soft-float ABI lp64, medany code model so code linked at
# 0x80000000 works). No Zbb: count-leading-zeros must use kalloc's own bit scan
# (KA_CFG_HAVE_CLZ is 0), as libgcc's __clzdi2 is not linked. Debian: gcc-riscv64-unknown-elf
# (or gcc-riscv64-linux-gnu).
set(KA_TC_PROCESSOR riscv64)
set(KA_TC_NAMES riscv64-unknown-elf-gcc riscv64-linux-gnu-gcc)
set(KA_TC_FLAGS "-march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany")
set(KA_TC_LDFLAGS "")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
