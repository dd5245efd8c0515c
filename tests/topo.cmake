# topology: geo math, RTT model and fit, CSV loader errors, presets, regions,
# users/anycast/alias draws, coverage; and the `wpctl topo` CLI.
wp_add_test(NAME test_topology SOURCES unit/test_topology.c LIBS wp_topology LABELS unit)
add_test(NAME topo_cli COMMAND sh ${PROJECT_SOURCE_DIR}/tests/cli/topo_cli.sh $<TARGET_FILE:wpctl>
         ${PROJECT_SOURCE_DIR}/tests/fixtures/topo)
set_tests_properties(topo_cli PROPERTIES LABELS unit TIMEOUT 60)
