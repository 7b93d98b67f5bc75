# SPDX-License-Identifier: MIT
#
# The same conformance suite against the library built in the minimal configuration
# (KA_CFG_MINIMAL: no statistics, fixed misuse messages, no checker or walker in tiny and
# tlsf; docs/code-size.md). A second archive, so the default library stays as it is.
if(NOT KA_MINIMAL)
  add_library(kalloc_minimal STATIC ${KA_LIB_SOURCES})
  target_include_directories(kalloc_minimal
    PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/src/core ${PROJECT_BINARY_DIR}/generated)
  target_compile_options(kalloc_minimal PRIVATE ${KA_WARN})
  target_compile_definitions(kalloc_minimal PUBLIC KA_CFG_DEBUG=${KA_DEBUG}
    KA_CFG_DEFAULT_BACKEND="${KA_DEFAULT_BACKEND}" ${KA_EXTRA_DEFINES} KA_CFG_MINIMAL=1)
  set_target_properties(kalloc_minimal PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_link_libraries(kalloc_minimal PUBLIC Threads::Threads)

  add_executable(conformance_minimal ${CMAKE_CURRENT_LIST_DIR}/test_conformance.c
    ${CMAKE_CURRENT_LIST_DIR}/conformance.c)
  target_include_directories(conformance_minimal PRIVATE ${CMAKE_CURRENT_LIST_DIR}
    ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/src/core)
  target_compile_options(conformance_minimal PRIVATE ${KA_WARN} -Wno-missing-prototypes)
  target_link_libraries(conformance_minimal PRIVATE kalloc_minimal)
  set_target_properties(conformance_minimal PROPERTIES RUNTIME_OUTPUT_DIRECTORY
    ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME conformance_minimal COMMAND conformance_minimal)
  set_tests_properties(conformance_minimal PROPERTIES LABELS conformance TIMEOUT 600)
endif()
