# The node's request path (node/): inference framing and decoders, the
# request table, and the live request-path integration tests.
wp_add_test(NAME test_infer_codec SOURCES unit/test_infer_codec.c
            LIBS wp_gossip wp_proto LABELS unit)
wp_add_test(NAME test_reqtab SOURCES unit/test_reqtab.c LIBS wp_gossip LABELS unit)
if(TARGET wp-node)
  wp_add_test(NAME test_reqpath SOURCES integration/test_reqpath.c
              ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto PkgConfig::ZMQ LABELS integration TIMEOUT 90)
  target_include_directories(test_reqpath PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(test_reqpath wp-node wpctl)
endif()
