wp_add_test(NAME test_router_load SOURCES unit/test_router_load.c LIBS wp_router LABELS unit)
