# Faults against real wp-node processes (issue 13, the node half): a flood
# on the request socket, a paused node and client deadlines, garbage on the
# admin endpoint, clients that never read, oversized frames. One program,
# one ctest entry per case (tests/integration/test_node_faults.c).
if(TARGET wp-node)
  add_executable(test_node_faults integration/test_node_faults.c
                 ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c)
  target_link_libraries(test_node_faults PRIVATE wp_gossip wp_proto wp_auth PkgConfig::ZMQ
                        PkgConfig::CMOCKA Threads::Threads)
  target_include_directories(test_node_faults PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(test_node_faults PRIVATE WP_BUILD_DIR="${PROJECT_BINARY_DIR}")
  add_dependencies(test_node_faults wp-node)
  foreach(c flood deadline admin_garbage slow_readers oversize)
    add_test(NAME node_fault_${c} COMMAND test_node_faults test_${c})
    set_tests_properties(node_fault_${c} PROPERTIES LABELS integration TIMEOUT 60
                         ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
  endforeach()
  # The slow-reader case bounds the node's RSS growth; under ASan freed
  # memory waits in its quarantine (256 MiB by default) and counts as RSS:
  # keep the quarantine small so the bound measures the node, not ASan.
  if(WP_ASAN)
    set_tests_properties(node_fault_slow_readers PROPERTIES ENVIRONMENT
                         "CMOCKA_MESSAGE_OUTPUT=stdout;ASAN_OPTIONS=quarantine_size_mb=4")
  endif()
endif()
# Users of a killed ingress fail over to the next nearest live one.
if(TARGET wp-node)
  add_test(NAME traffic_failover
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/traffic_failover.sh
                   $<TARGET_FILE:wpctl>)
  set_tests_properties(traffic_failover PROPERTIES LABELS integration TIMEOUT 60)
endif()
