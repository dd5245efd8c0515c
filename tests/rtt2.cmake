# RTT model v2 (issue 17): backbone graph paths, robust calibration, access
# latency and coverage, the parameter file, the simulator's access hook.
wp_add_test(NAME test_rtt2 SOURCES unit/test_rtt2.c LIBS wp_sim wp_topology LABELS unit
            TIMEOUT 120)
