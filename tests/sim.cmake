wp_add_test(NAME test_sim SOURCES unit/test_sim.c LIBS wp_sim LABELS sim TIMEOUT 120)
add_test(NAME wpctl_sim_cli
         COMMAND ${PROJECT_SOURCE_DIR}/tests/sim/cli.sh $<TARGET_FILE:wpctl>
                 ${PROJECT_SOURCE_DIR}/tests/fixtures/sim)
set_tests_properties(wpctl_sim_cli PROPERTIES LABELS sim TIMEOUT 60)
