# SPDX-License-Identifier: MIT
# Freestanding i386 (32-bit protected mode, no x87/SSE), with the host gcc and -m32: size_t
# is 32 bits, and 64-bit division would call libgcc's __udivdi3 (a link error here).
set(KA_TC_PROCESSOR i386)
set(KA_TC_NAMES x86_64-linux-gnu-gcc gcc)
set(KA_TC_FLAGS "-m32 -march=i686 -mgeneral-regs-only -fno-pie")
set(KA_TC_LDFLAGS "-no-pie -Wl,-m,elf_i386")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
