# SPDX-License-Identifier: MIT
# Annotation tests (docs/annotate.md), only in builds made with -DKA_ANNOTATE=valgrind|asan:
# a deliberately wrong program per error kind and backend, whose checker report is asserted
# by expect.sh; and, under memcheck, the conformance suite, which must run without a report.
set(ka_an_dir ${CMAKE_CURRENT_LIST_DIR})

# Not a test: the program the cost figures of docs/annotate.md come from (callgrind), built in
# every hosted build so that annotated and plain builds can be compared.
add_executable(annotate_cost ${ka_an_dir}/cost.c)
target_compile_options(annotate_cost PRIVATE ${KA_WARN})
target_link_libraries(annotate_cost PRIVATE kalloc)
set_target_properties(annotate_cost PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

if(NOT KA_ANNOTATE)
  return()
endif()
add_executable(annotate_bugs ${ka_an_dir}/bugs.c)
target_compile_options(annotate_bugs PRIVATE ${KA_WARN} -O1 -fno-inline)
target_link_libraries(annotate_bugs PRIVATE kalloc)
set_target_properties(annotate_bugs PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# Every registry backend as a heap of its own, and two as sub-heaps of the global allocator
# (slab there nests a page source inside each chunk).
foreach(b ${KA_BACKENDS} global:tlsf global:slab)
  # hardened fills free slots with a poison pattern and checks it with memset/memcmp, which
  # ASan's interceptors check even when called from the uninstrumented backend: under ASan
  # it runs without annotations' help (docs/annotate.md); memcheck covers it.
  if(KA_ANNOTATE STREQUAL "asan" AND b STREQUAL "hardened")
    continue()
  endif()
  string(REPLACE ":" "_" t annotate_${KA_ANNOTATE}_${b})
  add_test(NAME ${t}
    COMMAND bash ${ka_an_dir}/expect.sh ${KA_ANNOTATE} $<TARGET_FILE:annotate_bugs> ${b})
  set_tests_properties(${t} PROPERTIES LABELS annotate TIMEOUT 600)
endforeach()

if(KA_ANNOTATE STREQUAL "valgrind")
  find_program(KA_VALGRIND valgrind REQUIRED)
  # No false positive over the whole conformance suite (heaps made and dropped over one
  # region for every case). Leak checking stays off: the suite drops heaps with live blocks.
  foreach(b ${KA_BACKENDS})
    add_test(NAME annotate_valgrind_conformance_${b}
      COMMAND ${KA_VALGRIND} -q --error-exitcode=99 --leak-check=no
        $<TARGET_FILE:conformance_test_conformance> ${b})
    set_tests_properties(annotate_valgrind_conformance_${b} PROPERTIES LABELS annotate TIMEOUT 600)
  endforeach()
  if(TARGET kalloc-malloc)
    add_executable(annotate_shim_wrong ${ka_an_dir}/shim_wrong.c)
    target_compile_options(annotate_shim_wrong PRIVATE ${KA_WARN} -O1 -fno-inline)
    set_target_properties(annotate_shim_wrong PROPERTIES
      RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
    add_test(NAME annotate_valgrind_shim
      COMMAND bash ${ka_an_dir}/shim.sh $<TARGET_FILE:kalloc-malloc>
        $<TARGET_FILE:annotate_shim_wrong> ${PROJECT_SOURCE_DIR}/README.md)
    set_tests_properties(annotate_valgrind_shim PROPERTIES LABELS annotate TIMEOUT 600)
  endif()
endif()
