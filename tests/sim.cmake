wp_add_test(NAME test_sim SOURCES unit/test_sim.c LIBS wp_sim LABELS sim TIMEOUT 120)
