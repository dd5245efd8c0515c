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
    wp_heap heap;
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
    return wp_heap_len(&q->heap);
}

/* Per-tenant execution environments keyed by (site, function): the
 * containers of a (region, function) or the isolate of a (PoP, function).
 * See fnpool.c for the model, the invariants and the bounds. */
typedef enum wp_fnpool_kind {
    WP_FNPOOL_CONTAINERS = 0, /* one request per container, idle stack */
    WP_FNPOOL_ISOLATE,        /* one isolate per pool, any concurrency */
} wp_fnpool_kind;

typedef struct wp_fnpool_ent {
    uint64_t last_ns; /* last acquire or release */
    uint32_t site, fn;
    uint32_t busy;    /* requests using the pool now */
    uint32_t idle;    /* head of the idle stack (newest first); free-list link when unused */
    bool used;
} wp_fnpool_ent;

typedef struct wp_fnpool_idle {
    uint64_t since_ns;
    uint32_t next;
} wp_fnpool_idle;

typedef struct wp_fnpool {
    wp_fnpool_kind kind;
    uint64_t keep_ns;
    uint32_t *slot;           /* nslot (a power of two) pool ids, UINT32_MAX = empty */
    size_t nslot, nlive;      /* table size; pools in the table */
    wp_fnpool_ent *ent;
    uint32_t nent, cap_ent, free_ent;
    wp_fnpool_idle *idle;
    uint32_t nidle, cap_idle, free_idle;
    uint64_t started;         /* environments started (cold) */
    uint64_t sweeps, dropped; /* table rebuilds; dead pools dropped */
} wp_fnpool;

int wp_fnpool_init(wp_fnpool *p, wp_fnpool_kind kind, uint64_t keep_ns);
void wp_fnpool_close(wp_fnpool *p);
/* Takes an environment of (site, fn) at now_ns (times never go back):
 * *started = true when one had to be started (a cold start); *id names
 * the pool for the release. WP_ENOMEM only when a structure cannot grow. */
int wp_fnpool_acquire(wp_fnpool *p, uint32_t site, uint32_t fn, uint64_t now_ns, uint32_t *id,
                      bool *started);
/* Gives the environment back at now_ns (a container goes idle; an
 * isolate's keep-alive restarts). WP_ESTATE if the pool is not in use. */
int wp_fnpool_release(wp_fnpool *p, uint32_t id, uint64_t now_ns);
/* Idle containers of a pool (tests). */
size_t wp_fnpool_idle_count(const wp_fnpool *p, uint32_t id);

/* Spreads `total` GPUs over n sites: one each, the rest in proportion to
 * demand (largest remainder, ties to the lower index). total >= n. */
void wp_sim__spread_gpus(const double *site_demand, size_t n, uint32_t total, uint32_t *gpus);
#endif
