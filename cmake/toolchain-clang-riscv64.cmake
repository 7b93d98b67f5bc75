# SPDX-License-Identifier: MIT
# Freestanding riscv64 with clang (same ABI as toolchain-riscv64.cmake: RV64IMAC, lp64,
# medany), to hold the library to clang's code generation as well: clang lowers some
# operations to library calls where gcc does not, and the symbol check sees both.
# -mno-relax: lld 14 cannot do RISC-V linker relaxation (needed to link the example kernel).
set(KA_TC_PROCESSOR riscv64)
set(KA_TC_NAMES clang)
set(KA_TC_FLAGS "--target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mcmodel=medany -mno-relax")
set(KA_TC_LDFLAGS "-fuse-ld=lld")
find_program(CMAKE_NM NAMES llvm-nm)
find_program(CMAKE_OBJDUMP NAMES llvm-objdump)
find_program(CMAKE_AR NAMES llvm-ar)
find_program(CMAKE_RANLIB NAMES llvm-ranlib)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
