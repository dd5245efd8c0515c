# gpu_worker: format, CPU layers and forward pass, residency (unit); CUDA
# against CPU (gpu: skips cleanly without a device).
wp_add_test(NAME test_gpu_layers SOURCES unit/test_gpu_layers.c LIBS wp_gpu LABELS unit)
wp_add_test(NAME test_gpu_format SOURCES unit/test_gpu_format.c LIBS wp_gpu LABELS unit)
wp_add_test(NAME test_gpu_forward SOURCES unit/test_gpu_forward.c unit/ref_llama.c LIBS wp_gpu
            LABELS unit)
wp_add_test(NAME test_gpu_residency SOURCES unit/test_gpu_residency.c LIBS wp_gpu LABELS unit)
wp_add_test(NAME test_gpu_worker SOURCES unit/test_gpu_worker.c LIBS wp_gpu LABELS unit)
wp_add_test(NAME test_gpu_cli SOURCES unit/test_gpu_cli.c LIBS wp_common LABELS unit)
wp_add_test(NAME test_gpu_cuda SOURCES unit/test_gpu_cuda.c LIBS wp_gpu LABELS gpu)
set_tests_properties(test_gpu_cuda PROPERTIES SKIP_RETURN_CODE 77)
