# SPDX-License-Identifier: MIT
# Trace tests (docs/trace.md): the codec unit test, recording through the shim, and a real
# program (sqlite3) recorded, replayed on every allocator and its live-byte curve checked
# against an independent decoding of the trace (check_live.py).
foreach(t trace_test_codec trace_test_record)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tools/bench/replay_trace.c)
  endif()
endforeach()
if(TEST trace_test_record)
  # Needs the shim (LD_PRELOAD), which sanitizer builds do not build: exits 77 then.
  set_tests_properties(trace_test_record PROPERTIES SKIP_RETURN_CODE 77 LABELS "trace;shim")
  if(TARGET kalloc-malloc)
    set_tests_properties(trace_test_record PROPERTIES
      ENVIRONMENT "KT_SHIM=$<TARGET_FILE:kalloc-malloc>")
  endif()
endif()
if(TARGET kalloc-malloc AND TARGET kalloc-bench)
  add_test(NAME trace_live_curve
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/trace/live_curve.sh $<TARGET_FILE:kalloc-malloc>
      $<TARGET_FILE:kalloc-bench> ${PROJECT_BINARY_DIR}/trace-work)
  set_tests_properties(trace_live_curve PROPERTIES LABELS "trace;shim" TIMEOUT 600
    SKIP_RETURN_CODE 77)
endif()
