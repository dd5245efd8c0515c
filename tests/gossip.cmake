# Gossip (node/): pure core and codec unit tests, the gossip simulation
# targets, and the 8-process integration test.
wp_add_test(NAME test_gossip_codec SOURCES unit/test_gossip_codec.c
            LIBS wp_gossip PkgConfig::MSGPACK LABELS unit)
wp_add_test(NAME test_gossip_core SOURCES unit/test_gossip_core.c LIBS wp_gossip LABELS unit)
wp_add_test(NAME test_gossip_sim SOURCES unit/test_gossip_sim.c
            LIBS wp_gossip wp_topology LABELS sim TIMEOUT 300)
if(TARGET wp-node)
  add_test(NAME gossip_cluster_8 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/gossip_cluster.sh
           $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node>)
  set_tests_properties(gossip_cluster_8 PROPERTIES LABELS integration TIMEOUT 120)
  add_test(NAME gossip_wan COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/gossip_wan.sh
           $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node>)
  set_tests_properties(gossip_wan PROPERTIES LABELS integration TIMEOUT 60)
  wp_add_test(NAME test_node_badframes
              SOURCES integration/test_node_badframes.c ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto wp_auth PkgConfig::ZMQ LABELS integration TIMEOUT 60)
  target_include_directories(test_node_badframes PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(test_node_badframes wp-node)
endif()
wp_add_test(NAME test_sim_gossip_cli
            SOURCES unit/test_sim_gossip_cli.c ${PROJECT_SOURCE_DIR}/tools/wpctl/cmd_sim_gossip.c
                    ${PROJECT_SOURCE_DIR}/tools/wpctl/flags.c
            LIBS wp_gossip wp_topology LABELS sim)
target_include_directories(test_sim_gossip_cli PRIVATE ${PROJECT_SOURCE_DIR})
