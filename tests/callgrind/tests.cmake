# SPDX-License-Identifier: MIT
#
# Worst-case instruction counts under callgrind (label callgrind): tlsf's adversarial sequence
# against its documented bound (worst_case.sh). Skipped (exit 77) without valgrind; not built
# with sanitizers, which valgrind cannot run.
if(NOT KA_SANITIZE)
  add_executable(kalloc-worst-tlsf ${CMAKE_CURRENT_LIST_DIR}/worst_tlsf.c)
  target_compile_options(kalloc-worst-tlsf PRIVATE ${KA_WARN})
  target_link_libraries(kalloc-worst-tlsf PRIVATE kalloc)
  set_target_properties(kalloc-worst-tlsf PROPERTIES RUNTIME_OUTPUT_DIRECTORY
    ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME callgrind_worst_tlsf COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/worst_case.sh
    $<TARGET_FILE:kalloc-worst-tlsf>)
  set_tests_properties(callgrind_worst_tlsf PROPERTIES LABELS callgrind TIMEOUT 120
    SKIP_RETURN_CODE 77)
endif()
