# SPDX-License-Identifier: MIT
# Script-driven tests of libkalloc-malloc.so (label `shim`): the C semantics test and real
# programs (CPython's regression tests, sqlite3, xz/pigz/sort with threads) preloaded with
# kalloc on each general-purpose backend, compared with the same runs on the system
# allocator. Scripts exit 77 (skipped) when a program they need is not installed; the
# Debian packages are listed in docs/shim.md. Each takes well under a minute of CPU; the
# timeouts are generous because shared CI machines can be heavily oversubscribed.
if(TEST shim_test_semantics)
  # Exits 77 in sanitizer builds, where the sanitizer owns malloc.
  set_tests_properties(shim_test_semantics PROPERTIES SKIP_RETURN_CODE 77)
endif()
if(NOT TARGET kalloc-malloc)
  return()
endif()

set(KA_SHIM_LIB $<TARGET_FILE:kalloc-malloc>)
set(KA_SHIM_DIR ${CMAKE_CURRENT_SOURCE_DIR}/shim)
set(KA_SHIM_WORK ${PROJECT_BINARY_DIR}/shim-work)
set(KA_SHIM_BACKENDS "")
foreach(b tlsf slab buddy tiny)
  if(b IN_LIST KA_BACKENDS)
    list(APPEND KA_SHIM_BACKENDS ${b})
  endif()
endforeach()

foreach(b ${KA_SHIM_BACKENDS})
  add_test(NAME shim_semantics_${b} COMMAND shim_test_semantics)
  set_tests_properties(shim_semantics_${b} PROPERTIES LABELS shim TIMEOUT 300
    ENVIRONMENT "LD_PRELOAD=${KA_SHIM_LIB};KALLOC_BACKEND=${b}")

  # The two modes that put every block through the backend: no spans (small blocks are
  # backend blocks too), and no thread caches at all (every free reaches the backend).
  add_test(NAME shim_semantics_${b}_nospans COMMAND shim_test_semantics)
  set_tests_properties(shim_semantics_${b}_nospans PROPERTIES LABELS shim TIMEOUT 300
    ENVIRONMENT "LD_PRELOAD=${KA_SHIM_LIB};KALLOC_BACKEND=${b};KALLOC_SPANS=0")
  add_test(NAME shim_semantics_${b}_nocache COMMAND shim_test_semantics)
  set_tests_properties(shim_semantics_${b}_nocache PROPERTIES LABELS shim TIMEOUT 300
    ENVIRONMENT "LD_PRELOAD=${KA_SHIM_LIB};KALLOC_BACKEND=${b};KALLOC_CACHE=0")

  foreach(s env sqlite threads stress_ng)
    add_test(NAME shim_${s}_${b} COMMAND sh ${KA_SHIM_DIR}/${s}.sh ${KA_SHIM_LIB} ${b} ${KA_SHIM_WORK})
    set_tests_properties(shim_${s}_${b} PROPERTIES LABELS shim TIMEOUT 900 SKIP_RETURN_CODE 77)
  endforeach()

  # The full CPython subset on the default backend, a shorter one on the others (budget:
  # the whole label in about ten minutes on two cores).
  if(b STREQUAL KA_DEFAULT_BACKEND)
    set(list ${KA_SHIM_DIR}/python_modules.txt)
  else()
    set(list ${KA_SHIM_DIR}/python_modules_short.txt)
  endif()
  add_test(NAME shim_python_${b}
    COMMAND sh ${KA_SHIM_DIR}/python.sh ${KA_SHIM_LIB} ${b} ${KA_SHIM_WORK} ${list})
  set_tests_properties(shim_python_${b} PROPERTIES LABELS shim TIMEOUT 1800 SKIP_RETURN_CODE 77)
endforeach()
