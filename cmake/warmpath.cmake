# wp_add_test(NAME name SOURCES a.c ... LIBS lib ... LABELS unit|sim|integration|gpu [TIMEOUT s])
# A cmocka test program registered with ctest under its label(s).
function(wp_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_compile_definitions(${T_NAME} PRIVATE
    WP_TEST_FIXTURES="${PROJECT_SOURCE_DIR}/tests/fixtures"
    WP_BUILD_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endfunction()

# Tests whose load is sized for an optimised build (the cpu backend runs a
# real model ~30x slower under ASan + UBSan at -O0): in a sanitizer build
# they see WP_SANITIZER_BUILD=1 and report SKIPPED (exit 77) with the
# reason instead of failing on rates no such build can serve.
function(wp_skip_in_sanitizer_build name)
  if(WP_ASAN)
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "WP_SANITIZER_BUILD=1")
  endif()
endfunction()
