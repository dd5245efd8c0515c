# Prometheus metrics (issue 16): the registry's exposition (unit), every
# daemon's /metrics through `promtool check metrics`, and a real Prometheus
# server scraping a small cluster under traffic (integration; both skip
# with exit 77 when the prometheus package is absent). Ports for Prometheus
# come from the one port helper, wp_ports (tests/CMakeLists.txt).
add_executable(test_metrics_registry metrics/test_registry.c)
target_link_libraries(test_metrics_registry PRIVATE wp_metrics)
add_test(NAME metrics_registry COMMAND test_metrics_registry)
set_tests_properties(metrics_registry PROPERTIES LABELS unit TIMEOUT 30)

if(TARGET wp-node AND TARGET wp-placement)
  foreach(t promtool prometheus)
    add_test(NAME metrics_${t}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metrics/metrics_${t}.sh
                     $<TARGET_FILE:wpctl> $<TARGET_FILE:wp_ports>)
    set_tests_properties(metrics_${t} PROPERTIES LABELS integration TIMEOUT 120
                         SKIP_RETURN_CODE 77
                         ENVIRONMENT "WP_NODE_BIN=$<TARGET_FILE:wp-node>;WP_PLACEMENT_BIN=$<TARGET_FILE:wp-placement>")
  endforeach()
endif()
