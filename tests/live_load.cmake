# Load-aware routing in the live daemons (issue 12, live side).
if(TARGET wp-node AND TARGET wp-placement)
  # FRA + LHR, whisper on both, ~86% of the two GPUs from FRA: both serve.
  add_test(NAME live_spill
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/live_spill.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node> $<TARGET_FILE:wp-placement> 10 60)
  set_tests_properties(live_spill PROPERTIES LABELS integration TIMEOUT 120
                       SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
