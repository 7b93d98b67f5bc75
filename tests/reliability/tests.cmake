# SPDX-License-Identifier: MIT
# Reliability tests beyond the tests/<kind>/test_*.c convention:
#  - the load and OOM-injection tests run shorter workloads in sanitizer builds (the default
#    run does the full million operations per backend and the 1,000-operation workload);
#  - shim_misuse (tests/reliability/shim/) commits heap misuse through the LD_PRELOAD shim on
#    each general-purpose backend and on the system allocator, in the continue-after-bug and
#    exit-after-bug forms, judged against shim/expected.txt; label `shim` (the sanitizer
#    jobs skip it, and the shim is not built under ASan/TSan).
if(KA_SANITIZE AND TEST reliability_test_load)
  set_tests_properties(reliability_test_load PROPERTIES ENVIRONMENT KA_LOAD_OPS=100000)
  set_tests_properties(reliability_test_oom PROPERTIES ENVIRONMENT KA_OOM_OPS=300)
endif()

if(NOT TARGET kalloc-malloc)
  return()
endif()
set(KA_REL_SHIM_BACKENDS "")
foreach(b tlsf slab buddy tiny hardened)
  if(b IN_LIST KA_BACKENDS)
    list(APPEND KA_REL_SHIM_BACKENDS ${b})
  endif()
endforeach()
add_executable(reliability_shim_misuse ${CMAKE_CURRENT_LIST_DIR}/shim/shim_misuse.c
  ${PROJECT_SOURCE_DIR}/tests/misuse/expect.c)
target_include_directories(reliability_shim_misuse PRIVATE ${PROJECT_SOURCE_DIR}/tests/misuse)
target_compile_definitions(reliability_shim_misuse PRIVATE
  KA_SHIM_MISUSE_EXPECTED="${CMAKE_CURRENT_LIST_DIR}/shim/expected.txt")
# No builtin knowledge of malloc/free: the compiler must not elide or reject the misuse.
target_compile_options(reliability_shim_misuse PRIVATE ${KA_WARN} -fno-builtin)
target_link_libraries(reliability_shim_misuse PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(reliability_shim_misuse PROPERTIES RUNTIME_OUTPUT_DIRECTORY
  ${PROJECT_BINARY_DIR}/tests)
add_dependencies(reliability_shim_misuse kalloc-malloc)
add_test(NAME reliability_shim_misuse
  COMMAND reliability_shim_misuse $<TARGET_FILE:kalloc-malloc> ${KA_REL_SHIM_BACKENDS})
set_tests_properties(reliability_shim_misuse PROPERTIES LABELS "shim;reliability" TIMEOUT 600)
