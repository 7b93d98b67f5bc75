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
foreach(b tlsf slab buddy tiny hardened)
  if(b IN_LIST KA_BACKENDS)
    list(APPEND KA_SHIM_BACKENDS ${b})
  endif()
endforeach()

# KALLOC_BACKEND tells the truth: every backend's own figures show it served every block.
if(TEST shim_test_truth)
  string(REPLACE ";" "," KA_SHIM_BACKENDS_CSV "${KA_SHIM_BACKENDS}")
  set_tests_properties(shim_test_truth PROPERTIES
    ENVIRONMENT "KALLOC_SHIM_LIB=${KA_SHIM_LIB};KALLOC_SHIM_BACKENDS=${KA_SHIM_BACKENDS_CSV}")
endif()

# The settings matrix (issue 14): every documented value of every documented setting
# (docs/shim.md) runs the semantics test, one setting at a time on top of the backend's
# defaults. Each run takes about half a second of CPU.
function(ka_shim_semantics name env)
  add_test(NAME shim_semantics_${name} COMMAND shim_test_semantics)
  set_tests_properties(shim_semantics_${name} PROPERTIES LABELS shim TIMEOUT 300
    ENVIRONMENT "LD_PRELOAD=${KA_SHIM_LIB};${env}")
endfunction()

foreach(b ${KA_SHIM_BACKENDS})
  ka_shim_semantics(${b} "KALLOC_BACKEND=${b}")
  ka_shim_semantics(${b}_cache1 "KALLOC_BACKEND=${b};KALLOC_CACHE=1")
  ka_shim_semantics(${b}_nocache "KALLOC_BACKEND=${b};KALLOC_CACHE=0")
  ka_shim_semantics(${b}_stats "KALLOC_BACKEND=${b};KALLOC_STATS=1")
  # The smallest chunks, where blocks of a few KiB are already large blocks.
  foreach(s 16 17 18)
    ka_shim_semantics(${b}_chunk${s} "KALLOC_BACKEND=${b};KALLOC_CHUNK_SHIFT=${s}")
  endforeach()
endforeach()
ka_shim_semantics(default "KALLOC_BACKEND=")
ka_shim_semantics(stats0 "KALLOC_STATS=0")
foreach(s RANGE 19 30)
  ka_shim_semantics(chunk${s} "KALLOC_CHUNK_SHIFT=${s}")
endforeach()
foreach(k 1 4096)
  ka_shim_semantics(keep${k} "KALLOC_KEEP_CHUNKS=${k}")
  ka_shim_semantics(keep${k}_chunk16 "KALLOC_KEEP_CHUNKS=${k};KALLOC_CHUNK_SHIFT=16")
endforeach()

foreach(b tlsf slab buddy tiny)
  if(NOT b IN_LIST KA_SHIM_BACKENDS)
    continue()
  endif()
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
