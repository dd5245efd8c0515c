/* clock.c — the live world's clocks. Pure cores take time as an argument
 * and never call these. */
#include "common/common.h"

#include <time.h>

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * WP_NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t wp_clock_monotonic_ns(void) { return read_clock(CLOCK_MONOTONIC); }
uint64_t wp_clock_realtime_ns(void) { return read_clock(CLOCK_REALTIME); }
uint64_t wp_clock_thread_cpu_ns(void) { return read_clock(CLOCK_THREAD_CPUTIME_ID); }
