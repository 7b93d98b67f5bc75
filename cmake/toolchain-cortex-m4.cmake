# SPDX-License-Identifier: MIT
# Freestanding 32-bit Arm Cortex-M4 (Thumb-2, soft-float ABI: any floating point becomes a
# libgcc call, which the symbol check rejects). Debian: gcc-arm-none-eabi.
set(KA_TC_PROCESSOR arm)
set(KA_TC_NAMES arm-none-eabi-gcc)
set(KA_TC_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=soft")
set(KA_TC_LDFLAGS "")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
