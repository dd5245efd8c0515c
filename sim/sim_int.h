/* sim/sim_int.h — private to wp_sim: the event queue. */
#ifndef WP_SIM_INT_H
#define WP_SIM_INT_H

#include "sim/sim.h"

typedef struct wp_event {
    uint64_t at_ns;
    uint64_t seq;
    uint32_t type;
    uint32_t arg; /* a request id, or a (site, model) slot */
} wp_event;

typedef struct wp_eventq {
    wp_event *heap;
    size_t n, cap;
    uint64_t next_seq;
} wp_eventq;

int wp_eventq_init(wp_eventq *q, size_t cap);
void wp_eventq_close(wp_eventq *q);
/* Schedules an event; WP_ENOMEM if the heap cannot grow. */
int wp_eventq_push(wp_eventq *q, uint64_t at_ns, uint32_t type, uint32_t arg);
/* Removes the earliest event into *ev; false when empty. */
bool wp_eventq_pop(wp_eventq *q, wp_event *ev);
static inline size_t wp_eventq_len(const wp_eventq *q)
{
    return q->n;
}



/* Spreads `total` GPUs over n sites: one each, the rest in proportion to
 * demand (largest remainder, ties to the lower index). total >= n. */
void wp_sim__spread_gpus(const double *site_demand, size_t n, uint32_t total, uint32_t *gpus);
#endif
