# wpctl's command-line contract (issue 11): every command's --help, --json,
# one-line usage errors and exit codes (no cluster needed), and the commands
# against a real local cluster: interrupting `cluster up`, traffic's
# unknown-model refusal and Ctrl-C, placement restart, down --purge.
add_test(NAME cli_contract COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_contract.sh
         $<TARGET_FILE:wpctl>)
set_tests_properties(cli_contract PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
if(TARGET wp-node AND TARGET wp-placement)
  add_test(NAME cli_cluster COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_cluster.sh
           $<TARGET_FILE:wpctl>)
  set_tests_properties(cli_cluster PROPERTIES LABELS integration TIMEOUT 180
                       SKIP_RETURN_CODE 77
                       ENVIRONMENT "WP_NODE_BIN=$<TARGET_FILE:wp-node>;WP_PLACEMENT_BIN=$<TARGET_FILE:wp-placement>")
endif()
