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
