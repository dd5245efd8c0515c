# A cluster over hosts (issue 14): placement servers and nodes in network
# namespaces joined by a bridge, bound on 0.0.0.0 and advertising their
# host's address; a partition of the leader's host and its healing. Needs
# root (CI runs as root); elsewhere it reports SKIPPED with the reason.
# Its own namespaces and addresses: no loopback ports, no shared lock.
if(TARGET wp-node AND TARGET wp-placement AND TARGET wpctl)
  add_test(NAME multihost_partition
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/multihost.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node> $<TARGET_FILE:wp-placement>)
  set_tests_properties(multihost_partition PROPERTIES LABELS multihost TIMEOUT 180
                       SKIP_RETURN_CODE 77)
  # deploy/: the systemd units' ExecStart with the example settings starts
  # both daemons (bound on 0.0.0.0, advertising the example addresses).
  add_test(NAME deploy_units
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/deploy_units.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node> $<TARGET_FILE:wp-placement>)
  set_tests_properties(deploy_units PROPERTIES LABELS multihost TIMEOUT 60 SKIP_RETURN_CODE 77)
endif()
# The endpoint helpers behind --bind / --advertise (common/net.c).
wp_add_test(NAME test_endpoint SOURCES unit/test_endpoint.c LIBS wp_common LABELS unit)
