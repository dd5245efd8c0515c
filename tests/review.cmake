# Regression tests for hostile inputs (review; fuzz finds from tests/fuzz/).
wp_add_test(NAME test_hostile SOURCES unit/test_hostile.c
            LIBS wp_sim wp_placement wp_placement_client wp_gpu wp_topology LABELS unit
            TIMEOUT 60)
add_test(NAME review_cli COMMAND sh ${PROJECT_SOURCE_DIR}/tests/cli/review_cli.sh
         $<TARGET_FILE:wpctl>)
set_tests_properties(review_cli PROPERTIES LABELS unit TIMEOUT 120)
