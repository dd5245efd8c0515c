# Issue 14, signatures: raft peers authenticated by their placement keys
# (consensus/peer_auth.c) and gossip records signed by their owner.
if(TARGET wp_consensus AND TARGET wp_auth)
  wp_add_test(NAME test_raft_peer_auth SOURCES integration/test_raft_peer_auth.c
              LIBS wp_consensus wp_auth LABELS integration TIMEOUT 90)
endif()
if(TARGET wp-placement AND TARGET wp_placement_client AND TARGET wp_auth)
  wp_add_test(NAME test_placement_keys SOURCES integration/test_placement_keys.c
              LIBS wp_placement_client wp_auth LABELS integration TIMEOUT 90)
  add_dependencies(test_placement_keys wp-placement)
endif()
if(TARGET wp_gossip AND TARGET wp_auth)
  wp_add_test(NAME test_gossip_sign SOURCES unit/test_gossip_sign.c
              LIBS wp_gossip wp_auth LABELS unit)
endif()
if(TARGET wp-node AND TARGET wp_auth)
  wp_add_test(NAME test_node_keys
              SOURCES integration/test_node_keys.c ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto wp_auth PkgConfig::ZMQ LABELS integration TIMEOUT 90)
  target_include_directories(test_node_keys PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(test_node_keys wp-node)
endif()
