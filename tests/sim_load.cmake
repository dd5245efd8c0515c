# Issue 12: the simulator's per-ingress load views, deadlines and faults.
wp_add_test(NAME test_sim_load SOURCES unit/test_sim_load.c LIBS wp_sim LABELS sim TIMEOUT 120)
add_test(NAME wpctl_sim_fault
         COMMAND ${PROJECT_SOURCE_DIR}/tests/sim/fault.sh $<TARGET_FILE:wpctl>)
set_tests_properties(wpctl_sim_fault PROPERTIES LABELS sim TIMEOUT 120 SKIP_RETURN_CODE 77)
