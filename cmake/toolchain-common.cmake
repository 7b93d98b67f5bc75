# SPDX-License-Identifier: MIT
#
# Shared part of the freestanding cross toolchain files (cmake/toolchain-<target>.cmake).
# A target file sets, then includes this one:
#   KA_TC_PROCESSOR  CMAKE_SYSTEM_PROCESSOR value
#   KA_TC_NAMES      compiler names to look for, best first (or -DKA_CROSS_CC=/path/to/gcc)
#   KA_TC_FLAGS      target flags (ABI, CPU, code model, no FPU)
#   KA_TC_LDFLAGS    extra link flags for kernels built with the same file (optional)
#
# Every build made with these files is freestanding: -ffreestanding -fno-builtin, and
# -nostdinc -isystem <the compiler's own include dir>, so only the compiler's headers
# (stddef.h, stdint.h, stdbool.h, stdalign.h, stdarg.h, stdnoreturn.h) exist and any libc
# header is a compile error. Programs (the example kernel) link with -nostdlib -static:
# no libc, no libgcc, so a call to a libgcc helper (__udivdi3, __clzsi2, soft-float, atomics)
# is a link error rather than a silent dependency.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR ${KA_TC_PROCESSOR})

if(DEFINED ENV{KA_CROSS_CC} AND NOT KA_CROSS_CC)
  set(KA_CROSS_CC $ENV{KA_CROSS_CC})
endif()
if(NOT KA_CROSS_CC)
  find_program(KA_CROSS_CC NAMES ${KA_TC_NAMES})
endif()
if(NOT KA_CROSS_CC)
  message(FATAL_ERROR "kalloc: no C compiler for ${KA_TC_PROCESSOR}: none of '${KA_TC_NAMES}' "
    "is in PATH (Debian: see docs/kernel.md for the package), or pass -DKA_CROSS_CC=<gcc>")
endif()
set(CMAKE_C_COMPILER ${KA_CROSS_CC})
set(CMAKE_ASM_COMPILER ${KA_CROSS_CC})
# Try-compiles must not link: there is no libc to link against.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
# Re-read by every try-compile; pass our variables through.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KA_CROSS_CC)

separate_arguments(ka_tc_flag_list UNIX_COMMAND "${KA_TC_FLAGS}")
execute_process(COMMAND ${KA_CROSS_CC} ${ka_tc_flag_list} -print-file-name=include
  OUTPUT_VARIABLE KA_TC_INCLUDE OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE ka_tc_rc)
if(NOT ka_tc_rc EQUAL 0 OR NOT EXISTS "${KA_TC_INCLUDE}/stddef.h")
  message(FATAL_ERROR "kalloc: ${KA_CROSS_CC} -print-file-name=include gave '${KA_TC_INCLUDE}' "
    "(no stddef.h there)")
endif()

set(ka_tc_free "-ffreestanding -fno-builtin -nostdinc -isystem ${KA_TC_INCLUDE}")
set(CMAKE_C_FLAGS_INIT "${KA_TC_FLAGS} ${ka_tc_free}")
set(CMAKE_ASM_FLAGS_INIT "${KA_TC_FLAGS} ${ka_tc_free}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${KA_TC_FLAGS} -nostdlib -static ${KA_TC_LDFLAGS}")

# Find target binutils (nm, objcopy, size) next to the compiler, never the host's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# The library's platform layer for a kernel (the top-level CMakeLists.txt then builds only
# the library, adding its own -ffreestanding -fno-builtin).
set(KA_PLATFORM freestanding CACHE STRING "Platform layer: hosted or freestanding")
