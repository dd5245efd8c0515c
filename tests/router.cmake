wp_add_test(NAME test_router SOURCES unit/test_router.c LIBS wp_router LABELS unit)
