# gpu_worker continuous batching (issue 15): batched forward = unbatched,
# generation batched = alone; the real stories260K checkpoint (from the
# shared data folder beside the checkout; SKIPPED when absent).
wp_add_test(NAME test_gpu_batch SOURCES unit/test_gpu_batch.c unit/ref_llama.c LIBS wp_gpu
            LABELS unit)
add_test(NAME test_gpu_stories260k COMMAND test_gpu_batch stories260K)
set_tests_properties(test_gpu_stories260k PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77
                     ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
target_compile_definitions(test_gpu_batch PRIVATE
                           WP_SHARED_DATA="${PROJECT_SOURCE_DIR}/../shared/data")
# wpctl model profile: errors, and a measured profile consistent with its points.
add_test(NAME model_profile_cli
         COMMAND sh ${PROJECT_SOURCE_DIR}/tests/cli/model_profile_cli.sh $<TARGET_FILE:wpctl>)
set_tests_properties(model_profile_cli PROPERTIES LABELS unit TIMEOUT 60)
