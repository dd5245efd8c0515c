# Issue 13 (placement and consensus half): faults, floods and limits.
if(TARGET test_placement_cluster)
  add_test(NAME placement_faults COMMAND test_placement_cluster faults)
  set_tests_properties(placement_faults PROPERTIES LABELS integration TIMEOUT 120
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
if(TARGET wp_faultsim)
  wp_add_test(NAME test_fault_campaign SOURCES sim/test_fault_campaign.c
              LIBS wp_faultsim LABELS sim TIMEOUT 120)
endif()
if(TARGET test_placement_cluster)
  add_test(NAME placement_full_disk COMMAND test_placement_cluster disk)
  set_tests_properties(placement_full_disk PROPERTIES LABELS integration TIMEOUT 120
    SKIP_RETURN_CODE 77 ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
