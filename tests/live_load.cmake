# Load-aware routing in the live daemons (issue 12, live side).
if(TARGET wp-node AND TARGET wp-placement)
  # FRA + LHR, whisper on both, ~86% of the two GPUs from FRA: both serve.
  add_test(NAME live_spill
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/live_spill.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node> $<TARGET_FILE:wp-placement> 10 60)
  set_tests_properties(live_spill PROPERTIES LABELS integration TIMEOUT 120
                       SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
if(TARGET wp-node AND TARGET wp-placement)
  # Overload (1.6x the two GPUs, the default mix from FRA): no TIMEOUT,
  # errors answered within 100 ms, bge/distilbert fail <= 2%, no queue left.
  add_test(NAME live_overload
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/live_overload.sh
                   $<TARGET_FILE:wpctl> $<TARGET_FILE:wp-node> $<TARGET_FILE:wp-placement>
                   "--cities FRA,LHR" 10 60 FRA 100)
  set_tests_properties(live_overload PROPERTIES LABELS integration TIMEOUT 150
                       SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
# wpctl report FILE --vs-sim --json with the twin beside FILE.
add_test(NAME report_vs_sim_json
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/report_vs_sim.sh $<TARGET_FILE:wpctl>)
set_tests_properties(report_vs_sim_json PROPERTIES LABELS integration TIMEOUT 60
                     SKIP_RETURN_CODE 77)
