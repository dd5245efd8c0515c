/* placement/pmetrics.h — private to wp-placement: its Prometheus metrics
 * (placement/pmetrics.c over metrics/metrics.h). Not a library header. */
#ifndef WP_PMETRICS_H
#define WP_PMETRICS_H

#include "consensus/consensus.h"
#include "placement/placement.h"

typedef struct wp_pmetrics wp_pmetrics;

/* Defines the families and starts the HTTP thread on addr ("HOST:PORT"). */
int wp_pmetrics_open(const char *addr, uint64_t id, wp_pmetrics **out, wp_err *err);
/* Copies raft's status, the state machine's figures and the daemon's API
 * counters into the metrics (loop thread; call from a timer). */
void wp_pmetrics_refresh(wp_pmetrics *m, wp_consensus *c, const wp_place_state *s,
                         uint64_t replies_dropped, uint64_t api_disconnects,
                         uint64_t auth_refused);
/* Stops the HTTP thread and frees; NULL is fine. */
void wp_pmetrics_free(wp_pmetrics *m);

#endif /* WP_PMETRICS_H */
