# Live traffic client (wpctl report / traffic / route): issue 7, client side.
wp_add_test(NAME test_report
            SOURCES unit/test_report.c ${PROJECT_SOURCE_DIR}/tools/wpctl/results.c
                    ${PROJECT_SOURCE_DIR}/tools/wpctl/html_live.c
            LIBS wp_sim LABELS unit TIMEOUT 30)
# The simulator's `cities` key (make demo's live-vs-sim twin).
wp_add_test(NAME test_sim_cities SOURCES unit/test_sim_cities.c LIBS wp_sim LABELS sim
            TIMEOUT 60)
# wpctl traffic's accounting against a fake ingress (test stub).
if(TARGET wp_gossip AND TARGET wp_proto)
  add_executable(fake_ingress integration/fake_ingress.c)
  target_link_libraries(fake_ingress PRIVATE wp_gossip wp_proto wp_common PkgConfig::ZMQ)
  add_test(NAME traffic_client_accounting
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/traffic_client.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:fake_ingress>)
  set_tests_properties(traffic_client_accounting PROPERTIES LABELS integration TIMEOUT 60)
endif()
# Kill a serving node during live traffic (real wp-node processes).
if(TARGET wp-node)
  add_test(NAME traffic_kill_node
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/traffic_kill.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node>)
  set_tests_properties(traffic_kill_node PROPERTIES LABELS integration TIMEOUT 90
                       SKIP_RETURN_CODE 77)
endif()
# Anycast ingress choice of the traffic client.
if(TARGET wp_gossip AND TARGET wp_proto)
  wp_add_test(NAME test_anycast
              SOURCES unit/test_anycast.c ${PROJECT_SOURCE_DIR}/tools/wpctl/infer_client.c
                      ${PROJECT_SOURCE_DIR}/tools/wpctl/cluster_util.c
              LIBS wp_gossip wp_proto wp_topology wp_auth PkgConfig::ZMQ LABELS unit TIMEOUT 30)
endif()
