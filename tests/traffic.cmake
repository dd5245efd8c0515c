# Live traffic client (wpctl report / traffic / route): issue 7, client side.
wp_add_test(NAME test_report
            SOURCES unit/test_report.c ${PROJECT_SOURCE_DIR}/tools/wpctl/results.c
            LIBS wp_sim LABELS unit TIMEOUT 30)
# The simulator's `cities` key (make demo's live-vs-sim twin).
wp_add_test(NAME test_sim_cities SOURCES unit/test_sim_cities.c LIBS wp_sim LABELS sim
            TIMEOUT 60)
