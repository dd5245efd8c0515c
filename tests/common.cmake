wp_add_test(NAME test_common SOURCES unit/test_common.c LIBS wp_common LABELS unit)
