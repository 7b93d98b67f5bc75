# SPDX-License-Identifier: MIT
# KA_ANNOTATE: memory-checker annotations in the generic layer (docs/annotate.md).
#   valgrind  memcheck client requests (KA_CFG_ANNOTATE=1); inert unless run on Valgrind.
#   asan      ASan manual poisoning (KA_CFG_ANNOTATE=2); needs KA_SANITIZE with address. The
#             backends then run uninstrumented: they read and write their in-band metadata,
#             which is poisoned for the program.
# Hosted builds only: freestanding targets have neither tool.
if(NOT KA_ANNOTATE)
  return()
endif()
if(NOT KA_PLATFORM STREQUAL "hosted")
  message(FATAL_ERROR "KA_ANNOTATE=${KA_ANNOTATE} needs KA_PLATFORM=hosted")
endif()
if(KA_ANNOTATE STREQUAL "valgrind")
  find_path(KA_VALGRIND_INC valgrind/memcheck.h)
  if(NOT KA_VALGRIND_INC)
    message(FATAL_ERROR "KA_ANNOTATE=valgrind needs valgrind/memcheck.h (Debian: apt-get install valgrind)")
  endif()
  target_include_directories(kalloc PRIVATE ${KA_VALGRIND_INC})
  target_compile_definitions(kalloc PUBLIC KA_CFG_ANNOTATE=1)
  # Valgrind 3.19 (Debian 12) gives up on clang 14's DWARF 5 (forms strx1, addrx): stacks in
  # reports need DWARF 4. Here for the library, and for every target defined after it.
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    target_compile_options(kalloc PRIVATE -gdwarf-4)
    add_compile_options(-gdwarf-4)
  endif()
elseif(KA_ANNOTATE STREQUAL "asan")
  if(NOT KA_SANITIZE MATCHES "address")
    message(FATAL_ERROR "KA_ANNOTATE=asan needs -DKA_SANITIZE=address[,undefined]")
  endif()
  target_compile_definitions(kalloc PUBLIC KA_CFG_ANNOTATE=2)
  set_source_files_properties(${KA_BACKEND_SRC} ${KA_GLOBAL_SRC} ${KA_FRAME_SRC}
    PROPERTIES COMPILE_OPTIONS -fno-sanitize=address)
else()
  message(FATAL_ERROR "KA_ANNOTATE must be empty, valgrind or asan (got '${KA_ANNOTATE}')")
endif()
message(STATUS "kalloc annotations: ${KA_ANNOTATE}")
