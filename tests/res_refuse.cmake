wp_add_test(NAME test_res_refuse SOURCES unit/test_res_refuse.c LIBS wp_gpu LABELS unit)
