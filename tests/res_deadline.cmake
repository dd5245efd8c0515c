wp_add_test(NAME test_res_deadline SOURCES unit/test_res_deadline.c LIBS wp_gpu LABELS unit)
