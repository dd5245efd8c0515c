# Placement service (issue 6): state machine, optimizer, codec, consensus.
if(TARGET wp_placement)
  wp_add_test(NAME test_placement_optimizer SOURCES unit/test_placement_optimizer.c
              LIBS wp_placement LABELS unit)
  wp_add_test(NAME test_placement_state SOURCES unit/test_placement_state.c
              LIBS wp_placement LABELS unit)
endif()
if(TARGET wp_faultsim)
  wp_add_test(NAME test_placement_raft SOURCES sim/test_placement_raft.c
              LIBS wp_faultsim LABELS sim)
endif()
if(TARGET wp-placement AND TARGET wp_placement_client)
  wp_add_test(NAME test_placement_cluster SOURCES integration/test_placement_cluster.c
              LIBS wp_placement_client PkgConfig::ZMQ LABELS integration TIMEOUT 90)
  add_dependencies(test_placement_cluster wp-placement wpctl)
endif()
if(TARGET wp_consensus)
  wp_add_test(NAME test_consensus_uv SOURCES integration/test_consensus_uv.c
              LIBS wp_consensus LABELS integration TIMEOUT 60)
endif()
if(TARGET wp_placement_client)
  wp_add_test(NAME test_placement_wire SOURCES unit/test_placement_wire.c
              LIBS wp_placement_client LABELS unit)
endif()
