# SPDX-License-Identifier: MIT
# The benchmark's slot workloads run and print their rows (no timing asserted).
if(TARGET kalloc-bench)
  add_test(NAME bench_slots_smoke COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/slots_smoke.sh $<TARGET_FILE:kalloc-bench>)
  set_tests_properties(bench_slots_smoke PROPERTIES LABELS bench TIMEOUT 120)
endif()
