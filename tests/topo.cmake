# topology: geo math, RTT model and fit, CSV loader errors, presets, regions,
# users/anycast/alias draws, coverage; and the `wpctl topo` CLI.
wp_add_test(NAME test_topology SOURCES unit/test_topology.c LIBS wp_topology LABELS unit)
