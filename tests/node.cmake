# The node's request path (node/): inference framing and decoders, the
# request table, and the live request-path integration tests.
wp_add_test(NAME test_infer_codec SOURCES unit/test_infer_codec.c
            LIBS wp_gossip wp_proto LABELS unit)
wp_add_test(NAME test_reqtab SOURCES unit/test_reqtab.c LIBS wp_gossip LABELS unit)
if(TARGET wp-node)
  wp_add_test(NAME test_reqpath SOURCES integration/test_reqpath.c
              ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto wp_auth PkgConfig::ZMQ LABELS integration TIMEOUT 90)
  target_include_directories(test_reqpath PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(test_reqpath wp-node wpctl)
endif()
if(TARGET wp-node AND TARGET wp-placement)
  add_test(NAME cluster_placement COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/cluster_placement.sh
           $<TARGET_FILE:wpctl>)
  set_tests_properties(cluster_placement PROPERTIES LABELS integration TIMEOUT 90)
endif()
