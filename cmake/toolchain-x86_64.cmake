# SPDX-License-Identifier: MIT
# Freestanding x86_64 (kernel code: no red zone, no SSE/x87 so floating point is a compile
# error), with the host gcc. Usage: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-x86_64.cmake
set(KA_TC_PROCESSOR x86_64)
set(KA_TC_NAMES x86_64-linux-gnu-gcc gcc)
set(KA_TC_FLAGS "-m64 -mno-red-zone -mgeneral-regs-only -fno-pie")
set(KA_TC_LDFLAGS "-no-pie")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
