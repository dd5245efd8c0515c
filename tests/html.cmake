# html: the `--html` reports, rendered by a real browser (headless Chromium;
# skipped, with the reason, where it cannot start). Screenshots stay in
# build/html/.
add_test(NAME html_browser
         COMMAND bash ${PROJECT_SOURCE_DIR}/tests/html/html_browser.sh $<TARGET_FILE:wpctl>
                 ${PROJECT_SOURCE_DIR}/tests/fixtures/traffic/results_small.csv
                 ${CMAKE_BINARY_DIR}/html)
set_tests_properties(html_browser PROPERTIES LABELS html TIMEOUT 600 SKIP_RETURN_CODE 77)

# The simulator's per-city figures behind the map (wp_sim_options.by_city).
wp_add_test(NAME test_sim_city SOURCES unit/test_sim_city.c LIBS wp_sim LABELS sim html TIMEOUT 120)

# The map's TopoJSON reader on good and bad input (tools/wpctl/html_map.c).
wp_add_test(NAME test_html_map SOURCES unit/test_html_map.c LIBS wpctl_map LABELS unit html)
