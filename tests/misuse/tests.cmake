# SPDX-License-Identifier: MIT
# The misuse test reads its expected verdicts (per backend, form and case) from the source
# tree; see tests/misuse/test_misuse.c for the format.
if(TARGET misuse_test_misuse)
  target_compile_definitions(misuse_test_misuse PRIVATE
    KA_MISUSE_EXPECTED="${CMAKE_CURRENT_LIST_DIR}/expected.txt")
endif()
