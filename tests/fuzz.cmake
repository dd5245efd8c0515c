# Every fuzz target of tests/fuzz/fuzz_targets.c, run for a few seconds in
# ctest by tests/fuzz/replay.c (seeds + seeded random mutations; gcc has no
# libFuzzer; tests/fuzz/run.sh is the clang/libFuzzer run for depth).
set(WP_FUZZ_TARGETS PLACE_CMD PLACE_SNAP PL_FRAME LLAMA_HDR TOPO_CSV SIM_SCENARIO SIM_TRACE
    MSGPACK_CHECK GOSSIP_RECV INFER_FRAME ADMIN_FRAME TOPOJSON)
set(WP_FUZZ_SECONDS 3)
set(WP_FUZZ_SEEDS_TOPO_CSV ${PROJECT_SOURCE_DIR}/topology/data/tiny.csv)
set(WP_FUZZ_SEEDS_SIM_TRACE ${PROJECT_SOURCE_DIR}/tests/fixtures/sim/azure_conv_300.csv
    ${PROJECT_SOURCE_DIR}/tests/fixtures/sim/mooncake_300.csv)
set(WP_FUZZ_SEEDS_TOPOJSON ${PROJECT_SOURCE_DIR}/tests/fixtures/map/two_countries.topojson)
foreach(t ${WP_FUZZ_TARGETS})
  string(TOLOWER ${t} tl)
  add_executable(fuzz_replay_${tl} fuzz/replay.c fuzz/fuzz_targets.c)
  target_compile_definitions(fuzz_replay_${tl} PRIVATE WP_FUZZ_${t})
  target_include_directories(fuzz_replay_${tl} PRIVATE ${PROJECT_SOURCE_DIR}
                             ${PROJECT_BINARY_DIR} ${PROJECT_BINARY_DIR}/proto/gen)
  target_link_libraries(fuzz_replay_${tl} PRIVATE ${WP_ALL_LIBS} wpctl_map PkgConfig::MSGPACK)
  add_test(NAME fuzz_${tl}
           COMMAND fuzz_replay_${tl} ${CMAKE_CURRENT_BINARY_DIR}/fuzz_work_${tl}
                   ${WP_FUZZ_SECONDS} 1 ${WP_FUZZ_SEEDS_${t}})
  set_tests_properties(fuzz_${tl} PROPERTIES LABELS fuzz TIMEOUT 60)
endforeach()
