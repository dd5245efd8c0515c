# Live traffic client (wpctl report / traffic / route): issue 7, client side.
wp_add_test(NAME test_report
            SOURCES unit/test_report.c ${PROJECT_SOURCE_DIR}/tools/wpctl/results.c
            LIBS wp_sim LABELS unit TIMEOUT 30)
