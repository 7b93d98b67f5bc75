# SPDX-License-Identifier: MIT
# Fuzzing (included from tests/CMakeLists.txt).
#  - Every build: fuzzrun_<backend> runs the seed corpus (corpus/common + corpus/<backend>)
#    through the harness once, as the CTest test fuzz_corpus_<backend> (label fuzz).
#  - With clang and -DKA_FUZZ=ON: fuzz_<backend> is a libFuzzer binary over a copy of the
#    library instrumented for coverage, with ASan+UBSan (see tests/fuzz/run.sh).
option(KA_FUZZ "Build libFuzzer targets (clang only)" OFF)
set(fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

if(KA_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KA_FUZZ needs clang")
  endif()
  add_library(kalloc_fuzz STATIC ${KA_LIB_SOURCES})
  target_include_directories(kalloc_fuzz PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/src/core ${PROJECT_BINARY_DIR}/generated)
  target_compile_definitions(kalloc_fuzz PUBLIC KA_CFG_DEBUG=1
    KA_CFG_DEFAULT_BACKEND="${KA_DEFAULT_BACKEND}")
  target_compile_options(kalloc_fuzz PRIVATE -fsanitize=fuzzer-no-link,address,undefined -g)
  target_link_libraries(kalloc_fuzz PUBLIC Threads::Threads)
endif()

foreach(b ${KA_BACKENDS})
  add_executable(fuzzrun_${b} ${fuzz_dir}/fuzz_backend.c ${fuzz_dir}/fuzz_standalone.c)
  target_compile_definitions(fuzzrun_${b} PRIVATE KA_FUZZ_BACKEND="${b}")
  target_compile_options(fuzzrun_${b} PRIVATE ${KA_WARN} -Wno-missing-prototypes)
  target_link_libraries(fuzzrun_${b} PRIVATE kalloc)
  set_target_properties(fuzzrun_${b} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  set(dirs ${fuzz_dir}/corpus/common)
  if(EXISTS ${fuzz_dir}/corpus/${b})
    list(APPEND dirs ${fuzz_dir}/corpus/${b})
  endif()
  add_test(NAME fuzz_corpus_${b} COMMAND fuzzrun_${b} ${dirs})
  set_tests_properties(fuzz_corpus_${b} PROPERTIES LABELS fuzz TIMEOUT 300)
  if(KA_FUZZ)
    add_executable(fuzz_${b} ${fuzz_dir}/fuzz_backend.c)
    target_compile_definitions(fuzz_${b} PRIVATE KA_FUZZ_BACKEND="${b}")
    target_compile_options(fuzz_${b} PRIVATE -fsanitize=fuzzer,address,undefined -g)
    target_link_options(fuzz_${b} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_${b} PRIVATE kalloc_fuzz)
    set_target_properties(fuzz_${b} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
  endif()
endforeach()
