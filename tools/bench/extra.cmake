# SPDX-License-Identifier: MIT
# kalloc-bench: link mimalloc (Debian libmimalloc-dev) when it is installed, so that it runs
# beside glibc in the same process; without it the bench builds and runs without that
# column. Sanitizer builds leave it out (mimalloc's malloc override and ASan's interceptors
# do not mix). glibc itself is reached through dlsym (contenders.c).
find_library(KA_MIMALLOC_LIB mimalloc)
find_path(KA_MIMALLOC_INC mimalloc.h)
if(KA_MIMALLOC_LIB AND KA_MIMALLOC_INC AND NOT KA_SANITIZE)
  target_include_directories(kalloc-${n} PRIVATE ${KA_MIMALLOC_INC})
  target_link_libraries(kalloc-${n} PRIVATE ${KA_MIMALLOC_LIB})
  target_compile_definitions(kalloc-${n} PRIVATE KA_BENCH_MIMALLOC=1)
  message(STATUS "kalloc-bench: mimalloc found (${KA_MIMALLOC_LIB})")
else()
  message(STATUS "kalloc-bench: building without mimalloc (install libmimalloc-dev for it)")
endif()
target_link_libraries(kalloc-${n} PRIVATE ${CMAKE_DL_LIBS})
