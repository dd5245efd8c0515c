# Streamed answers and real models in a cluster (issue 15, node/protocol half).
# Codec level: the order check of parts and the StreamPart decoder.
wp_add_test(NAME test_stream SOURCES unit/test_stream.c LIBS wp_gossip wp_proto LABELS unit)
# Integration: streamed frames through a real node (order, no-stream, a chunk
# after the final, a client that disconnects mid-stream).
if(TARGET wp-node)
  wp_add_test(NAME test_stream_live SOURCES integration/test_stream_live.c
              ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto wp_auth PkgConfig::ZMQ LABELS integration TIMEOUT 90)
  target_include_directories(test_stream_live PRIVATE ${PROJECT_SOURCE_DIR})
  add_dependencies(test_stream_live wp-node wpctl)
endif()
# A cpu-backend cluster serving a generated checkpoint under traffic (~20 s).
if(TARGET wp-node AND TARGET wpctl)
  add_test(NAME stream_cpu_cluster
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/stream_cpu_cluster.sh
                   $<TARGET_FILE:wpctl>)
  set_tests_properties(stream_cpu_cluster PROPERTIES LABELS integration TIMEOUT 120
                       SKIP_RETURN_CODE 77)
  wp_skip_in_sanitizer_build(stream_cpu_cluster)
endif()
