# SPDX-License-Identifier: MIT
# Freestanding i386 with clang (32-bit size_t; no x87/SSE): clang's view of the rules that
# matter most on 32-bit targets (64-bit division and atomics become library calls).
set(KA_TC_PROCESSOR i386)
set(KA_TC_NAMES clang)
set(KA_TC_FLAGS "--target=i686-unknown-elf -mgeneral-regs-only -fno-pie")
set(KA_TC_LDFLAGS "-fuse-ld=lld")
find_program(CMAKE_NM NAMES llvm-nm)
find_program(CMAKE_OBJDUMP NAMES llvm-objdump)
find_program(CMAKE_AR NAMES llvm-ar)
find_program(CMAKE_RANLIB NAMES llvm-ranlib)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
