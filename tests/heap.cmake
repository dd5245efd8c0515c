wp_add_test(NAME test_heap SOURCES unit/test_heap.c LIBS wp_common LABELS unit)
