/* node/node_int.h — private to wp-node: the daemon's structs and the
 * functions its files share (node/wp_node.c lists which file holds what).
 * Not a library header: only the daemon's files in node/ include it. Everything
 * runs on the libuv loop thread, except the cpu/cuda worker thread's side
 * of target.c (wthread_main), which touches only the w* fields under wmu.
 */
#ifndef WP_NODE_INT_H
#define WP_NODE_INT_H

#include "auth/auth.h"
#include "node/node.h"
#include "node/infer.h"
#include "gpu_worker/gpu_worker.h"
#include "placement/client.h"
#include "proto/admin.pb-c.h"
#include "proto/inference.pb-c.h"
#include "router/router.h"
#include "topology/topology.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#define COMP "wp-node"
#define PEER_HWM 8192 /* request-path frames share the peer sockets */
/* High-water marks of the client-facing sockets, per connected client (see
 * transport.c's essay: an answer to a client at its mark is dropped and
 * counted, never queued without bound). */
#define CLIENT_HWM 1000
#define ADMIN_HWM 100
/* Messages read from one socket per wake-up before yielding to the loop. */
#define DRAIN_BUDGET 64
#define MAX_PEERS WP_GOSSIP_MAX_MEMBERS

typedef struct peer {
    char addr[WP_GOSSIP_ADDR_MAX];
    void *sock;
} peer;

#define ING_CAPACITY 65536u   /* requests pending at one ingress */
#define JOB_CAPACITY 65536u   /* requests running at one target */
#define RID_MAX 256u          /* ZeroMQ routing ids are at most 255 bytes */
#define LOAD_PERIOD_MS 100u   /* view sync and load reports (view.c) */
#define DEFAULT_POLICY WP_POLICY_LATENCY /* a request that names none */

typedef struct ing_req {
    uint8_t rid[RID_MAX];
    size_t rid_len;
    bool delim;                       /* client sent an empty delimiter frame */
    bool local_client;                /* no socket: internal (never set today) */
    Warmpath__Infer__InferRequest *req;
    uint64_t arrival_ns;
    uint64_t client_oneway_ns;
    uint64_t total_deadline_ns;       /* UINT64_MAX: none */
    uint64_t deadline_unix_ns;        /* the client's absolute deadline (0: none) */
    uint64_t route_ns;
    uint32_t model;
    int32_t target;                   /* router node index of the current attempt */
    int32_t first_target;
    bool cold;
    bool retried;
    uint64_t hop_rtt_ns;
    uint64_t arrive_ns;               /* the attempt's modelled arrival at its target
                                       * (wp_router_sends); 0: none noted */
    /* streaming (stream.c) */
    wp_stream_rx rx;                  /* parts of the current attempt, from the target */
    uint64_t first_ns;                /* the first token reached the ingress (0: not yet) */
    uint64_t target_first_ns;         /* the target's admission → first token */
    uint32_t parts_out;               /* parts sent to the client */
} ing_req;

typedef struct tgt_job {
    uint64_t hop_id;                  /* the ingress's attempt id */
    uint64_t job_id;                  /* our worker request id */
    bool local;                       /* the ingress is this node */
    char reply_addr[WP_GOSSIP_ADDR_MAX];
    uint64_t reply_delay_ns;
    char model[WP_NAME_MAX];
    uint32_t mi;                      /* router model index (load report) */
    uint64_t arrival_ns;
    uint64_t start_by_ns;             /* latest start (UINT64_MAX: none) */
    uint64_t deadline_unix_ns;        /* the client's absolute deadline (0: none) */
    bool cold;
    bool cancelled;                   /* the ingress gave up on it (target_cancel) */
    uint32_t steps;
    int32_t *prompt;
    int32_t *tokens;
    wp_gen_request gen;
    /* cpu/cuda completion, filled by the worker thread */
    uint64_t load_ns;                 /* the cold start, when cold */
    int done_error;
    wp_gen_result done_res;
    struct tgt_job *done_next;
    /* streaming: w_* on the worker thread; prog_* under wmu; the rest on the loop */
    bool stream;                      /* the client asked for chunks */
    uint32_t w_reported;              /* tokens last reported by the worker thread */
    uint32_t prog_n;
    uint64_t prog_ttft_ns;
    bool prog_queued;
    struct tgt_job *prog_next;
    uint32_t sent_tokens;             /* tokens already sent in parts */
    uint32_t parts;                   /* parts sent */
    struct tgt_job *prev, *next;      /* live jobs */
} tgt_job;

typedef struct lanswer {              /* an answer from this node's worker to itself */
    struct lanswer *next;
    uint8_t *data;
    size_t len;
} lanswer;

/* A frame held by the WAN queue (wan.c): to a peer's PULL socket (gossip or
 * request path) or to a client of the request endpoint. */
typedef struct wan_msg {
    uint64_t due_ns;
    uint64_t seq;                     /* push order: the tie-break */
    bool to_client;
    bool gossip;                      /* dropped, not sent, at shutdown */
    char addr[WP_GOSSIP_ADDR_MAX];
    uint8_t rid[RID_MAX];
    size_t rid_len;
    bool delim;
    uint8_t *data;
    size_t len;
} wan_msg;

typedef struct rnode {
    char addr[WP_GOSSIP_ADDR_MAX];
    void *sock;          /* cached PUSH socket (owned by the peers table) */
    uint64_t cap_version;
    int status;
    bool known;
} rnode;

typedef struct wop {
    struct wop *next;
    int kind; /* 1 submit, 2 assign, 3 cancel (job is only its worker id then) */
    tgt_job *job;
    char (*names)[WP_NAME_MAX];
    size_t n;
} wop;

typedef struct node {
    uv_loop_t loop;
    void *zctx;
    void *pull;
    void *admin;
    uv_poll_t pull_poll;
    uv_poll_t admin_poll;
    uv_idle_t drain_idle;  /* comes back to sockets left with messages waiting */
    bool drain_idle_on;
    uv_timer_t gossip_timer;
    uv_timer_t wan_timer;
    uv_timer_t join_timer;
    uv_timer_t sweep_timer;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_signal_t sig_hup; /* --keys: reread the key directory */
    bool admin_on;
    bool stopping;

    wp_gossip *g;
    wp_rng rng;
    wp_logger logger;
    wp_topology *topo;
    int my_city;
    bool emulate_wan;

    peer *peers;
    size_t n_peers;
    wp_heap wan;           /* of wan_msg *, by (due_ns, seq): wan.c */
    uint64_t wan_seq;
    uint64_t wan_timer_at;

    char id[WP_NAME_MAX];
    char city[WP_GOSSIP_CITY_MAX];
    /* Advertised addresses: what the others and clients send to (gossiped,
     * the reply address of forwarded requests, the admin status). The
     * sockets may be bound on a wildcard instead (--bind 0.0.0.0:P with
     * --advertise HOST:P; wp_node.c). */
    char bind_addr[WP_GOSSIP_ADDR_MAX]; /* gossip: --advertise, else --bind */
    char admin_addr[WP_GOSSIP_ADDR_MAX];
    char state_dir[512];
    char **joins;
    size_t n_joins;
    uint64_t persisted_inc;
    uint64_t started_ns;
    uint64_t dropped_sends;
    uint64_t admin_bad;

    /* CurveZMQ (--keys DIR; auth/auth.h): the ZAP handler that admits the
     * cluster's keys on the gossip, admin and request sockets, and this
     * node's key for the sockets it connects (peers, placement). NULL /
     * false with --insecure. */
    wp_zap *zap;
    bool curve;
    wp_curve_id cid;

    /* request path (its essay opens ingress.c) */
    void *rsock;
    uv_poll_t rsock_poll;
    bool rsock_on;
    char request_addr[WP_GOSSIP_ADDR_MAX];
    wp_router_view *view;
    rnode *rn;
    size_t rn_cap;
    int self_rn;
    wp_model_profile *cat; /* index = router model index */
    bool *served;          /* the worker can serve it */
    size_t n_cat, cap_cat;
    wp_reqtab *ing;
    uv_timer_t req_timer;
    uint64_t req_timer_at;
    uv_timer_t view_timer;
    /* load (view.c): this node's own sends since each target's last report,
     * and the work in flight here per router model (accept .. answer) */
    wp_router_sends *sends;
    uint32_t tgt_inflight[WP_ROUTER_MAX_MODELS];
    uint64_t load_sent, load_applied, load_stale;
    uint64_t hop_floor_ns;
    uint8_t *tx;
    tgt_job *jobs;
    size_t n_jobs;
    lanswer *la_head, *la_tail;
    /* GPU worker */
    int gpu_kind;
    wp_gpu_worker *gw;
    uint64_t gpu_cap_bytes;
    uint32_t gpus;
    /* The GPU worker's next due time, at nanosecond precision: a timerfd
     * armed with the absolute CLOCK_MONOTONIC deadline, watched by uv_poll.
     * (libuv timers count whole milliseconds from a cached loop time, which
     * held every timing-model answer 0-2 ms longer than modelled.) */
    int gpu_tfd;
    uv_poll_t gpu_timer;
    uint64_t gpu_timer_at;
    bool in_advance, kick_again;
    uv_timer_t cap_timer;
    char pub_warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t pub_n_warm;
    uint64_t pub_free;
    uint32_t pub_queue;
    uint64_t pub_at_ns;
    /* cpu/cuda worker thread */
    uv_thread_t wthread;
    bool wthread_on, wquit;
    uv_mutex_t wmu;
    uv_cond_t wcond;
    uv_async_t wasync;
    wop *wops_head, *wops_tail;
    tgt_job *wdone;
    tgt_job *wprog;                   /* jobs with progress to stream (under wmu) */
    char snap_warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    uint32_t snap_n_warm;
    uint64_t snap_free;
    uint32_t snap_queue;
    /* warm-up measurements of the warm models (worker thread, under wmu) */
    struct snap_wu {
        char model[WP_NAME_MAX];
        double first_ms, tpot_ms;
    } snap_wu[WP_GOSSIP_MAX_WARM];
    uint32_t snap_n_wu;
    /* placement */
    wp_placement_client *pc;
    uv_work_t pl_req;
    uv_timer_t pl_timer;
    bool pl_busy, pl_changed, pl_failing, pl_ok_once, pl_cat_new, pl_cat_loaded;
    int pl_rc;
    char pl_err[WP_ERRMSG_LEN];
    uint64_t pl_version;
    wp_placement_warm *pl_models;
    size_t pl_n;
    wp_model_profile *pl_cat;
    size_t pl_n_cat;
    uint64_t *rate_count;      /* requests per router model since the last heartbeat */
    size_t rate_cap;
    uint64_t rate_since_ns;
    wp_placement_rate *pl_rates; /* what the next heartbeat reports */
    size_t pl_n_rates;
    /* request-path counters */
    uint64_t st_in, st_ok, st_err, st_bad, st_retries, st_fwd, st_served, st_late;
    uint64_t st_bad_node, st_client_drops, st_deadline, st_drain_yields;
    /* measured service times per router model (stream_node.c) */
    struct svc_est {
        uint32_t samples;
        double first_ms;   /* EWMA: arrival at the target -> first token (queue incl.) */
        double first_dev_ms; /* EWMA of |sample - first_ms| (its variability) */
        double tpot_ms;    /* EWMA: per output token after the first */
    } est[WP_ROUTER_MAX_MODELS];
    /* Service times this node measured as a TARGET, per router model
     * (svc.c): warm-up on load, then an EWMA over its answers; no queue. */
    struct tsvc_est {
        uint32_t samples;
        double first_ms, tpot_ms, service_ms;
        bool idle_known;                        /* the warm-up's figures below */
        double idle_first_ms, idle_tpot_ms, idle_service_ms;
    } tsvc[WP_ROUTER_MAX_MODELS];
    /* What the cluster publishes (gossip svc records, mean over the nodes
     * that measured it; this node's own included): nodes == 0: none. */
    struct csvc_est {
        uint32_t nodes;
        double first_ms, tpot_ms, service_ms;
    } csvc[WP_ROUTER_MAX_MODELS];
    wp_gossip_svc pub_svc[WP_GOSSIP_MAX_SVC]; /* as last published */
    uint32_t pub_n_svc;
    uint64_t pub_svc_at_ns;
    uint64_t st_cancel_sent, st_cancelled, st_waited;
    bool svc_dirty;        /* a record or status changed since the last mean */
    uint64_t svc_relax_at_ns; /* the last svc_idle_relax */
    size_t svc_nmodels;    /* models whose loadable bits are set */
    /* streaming counters (stream_node.c) */
    uint64_t st_parts_in, st_parts_out, st_parts_late, st_parts_lost, st_parts_dropped;
    uint64_t st_client_gone;
    struct node_metrics *nm; /* NULL without --metrics (metrics.c) */
} node;

/* ---------------------------------------------------------------- functions */

/* wp_node.c */
int persist_incarnation(node *n, uint64_t inc);

/* transport.c */
void send_now(node *n, const char *addr, const uint8_t *data, size_t len);
void flush_outbox(node *n, bool immediate);
void arm_gossip_timer(node *n);
void after_event(node *n);
bool has_pollin(void *sock);
/* A socket was left with messages waiting after its read budget: come back
 * from the loop's idle phase (after timers and other I/O had their turn). */
void drain_later(node *n);
void on_drain_idle(uv_idle_t *h);
/* A socket with LINGER 0, both high-water marks and ZMQ_MAXMSGSIZE set
 * (each checked); NULL with a message on stderr on failure. */
void *node_zsocket(node *n, int type, int hwm, int64_t maxmsg_bytes);
/* zmq_bind, retried 20 x 50 ms while the address is in use. */
int node_bind(void *sock, const char *addr);
/* Whether the client's absolute deadline (CLOCK_REALTIME ns, 0: none) is
 * passed by now + slack_ns. */
bool deadline_passed(uint64_t deadline_unix_ns, uint64_t slack_ns);
void drain_pull(node *n);
void on_pull_poll(uv_poll_t *h, int status, int events);
/* 0, or the errno of a failed send (EHOSTUNREACH: the client is gone,
 * the socket is ROUTER_MANDATORY; EAGAIN: its queue is full). */
int client_send_now(node *n, const uint8_t *rid, size_t rid_len, bool delim,
                    const uint8_t *data, size_t len);
void on_join_timer(uv_timer_t *t);
void on_sweep_timer(uv_timer_t *t);

/* wan.c: the one WAN delay queue (see its essay) */
void wan_init(node *n);
/* Model one-way time to the member at to_addr (0 without emulation). */
uint64_t wan_delay_ns(node *n, const char *to_addr);
/* Model one-way time between two city indexes (0 without emulation). */
uint64_t oneway_ns_cities(node *n, int a, int b);
/* A frame (copied) to a peer's PULL socket after delay_ns (0: now).
 * gossip: a gossip frame (dropped rather than sent at shutdown). */
void node_send(node *n, const char *addr, const uint8_t *data, size_t len, uint64_t delay_ns,
               bool gossip);
/* A frame (copied) to a client of the request endpoint after delay_ns. */
void client_send(node *n, const uint8_t *rid, size_t rid_len, bool delim, const uint8_t *data,
                 size_t len, uint64_t delay_ns);
/* Whether a held frame goes to addr (the peer sweep keeps its socket). */
bool wan_holds_addr(const node *n, const char *addr);
/* Shutdown: request-path frames go now, gossip frames are dropped. */
void wan_flush(node *n);
/* Frees whatever is still held, and the queue. */
void wan_close(node *n);

/* admin.c */
void drain_admin(node *n);
void on_admin_poll(uv_poll_t *h, int status, int events);

/* view.c */
double rtt_fn(const void *ctx, size_t a, size_t b);
int model_register(node *n, const wp_model_profile *p);
void view_sync(node *n);
void on_view_timer(uv_timer_t *t);
/* A LoadReport frame from a peer: applied to the router view. */
void view_load_frame(node *n, const uint8_t *buf, size_t len);

/* ingress.c */
uint32_t req_in_tokens(const Warmpath__Infer__InferRequest *r);
uint32_t req_out_tokens(const Warmpath__Infer__InferRequest *r, const wp_model_profile *p);
void ing_free(ing_req *r);
void handle_fwd_response(node *n, const uint8_t *buf, size_t len);
void drain_rsock(node *n);
void on_rsock_poll(uv_poll_t *h, int status, int events);
void ingress_shutdown(node *n);

/* target.c */
void wops_push(node *n, wop *op);
void job_unlink(node *n, tgt_job *j);
void job_free(tgt_job *j);
void flush_local_answers(node *n);
void gpu_kick(node *n);
void on_gpu_timer(uv_poll_t *p, int status, int events);
void on_gpu_done(void *ctx, uint64_t req_id, int error, const wp_gen_result *res);
void on_wasync(uv_async_t *a);
/* budget_ns: how long the ingress waits for this attempt from its send
 * (ForwardRequest.budget_ms); UINT64_MAX: no deadline. */
void target_accept(node *n, uint64_t hop, const char *reply_addr, uint64_t reply_delay_ns,
                   bool local, const Warmpath__Infer__InferRequest *req, uint64_t budget_ns);
void handle_node_frame(node *n, const uint8_t *buf, size_t len);
/* The ingress gave up on attempt hop (reply_addr: its address; local: this
 * node's own ingress): the job is withdrawn from the worker and answered
 * to nobody. A hop this node does not hold changes nothing. */
void target_cancel(node *n, uint64_t hop, const char *reply_addr, bool local);
void wthread_main(void *arg);
void target_shutdown(node *n);

/* stream_node.c: streamed parts, target side and ingress side */
#define STREAM_CHUNK_TOKENS 16u /* a CHUNK part every this many tokens */
/* Worker progress callback (wp_gpu_progress_fn): the loop thread (timing
 * model) or the worker thread (cpu/cuda: queued on wprog, sent by
 * on_wasync through stream_flush_progress). */
void on_gpu_progress(void *ctx, uint64_t req_id, uint32_t n_tokens, uint64_t ttft_ns);
void stream_flush_progress(node *n, tgt_job *list);
/* Sends a frame to an ingress: to itself (queued local answer) or a peer. */
void target_send_frame(node *n, bool local, const char *reply_addr, uint64_t delay_ns,
                       uint8_t *buf, size_t len);
/* A FORWARD_PART from a target (or this node's worker). */
void handle_fwd_part(node *n, const uint8_t *p, size_t plen);
/* The final message's streaming fields at the ingress (first-token time,
 * parts count) and the lost-parts check. */
void stream_final(node *n, ing_req *r, Warmpath__Infer__InferResponse *resp,
                  Warmpath__Infer__Timings *tm);

/* A forward attempt's budget while its model has no measured sample. */
#define SVC_UNKNOWN_BUDGET_NS (30ull * WP_NS_PER_S)
/* The service time an attempt assumes for a model this ingress has no
 * sample of yet (ms), when the profile says less. */
#define SVC_BOOTSTRAP_MS 1000.0
/* Learns a target's measured times from an answer (OK, with timings). */
void svc_learn(node *n, uint32_t model, const Warmpath__Infer__InferResponse *resp);
/* Measured service estimate for out tokens, ms; < 0 when no sample yet. */
double svc_estimate_ms(const node *n, uint32_t model, uint32_t out_tokens);

/* svc.c: measured service times (this node's, and the cluster's) */
/* A job this node ran finished OK: learn its times (cpu/cuda only). */
void svc_target_learn(node *n, uint32_t model, const wp_gen_result *res);
/* Warm-up figures the worker thread left in snap_wu seed models with no
 * sample yet (loop thread). */
void svc_take_warmup(node *n);
/* Models with no work here relax toward their warm-up (idle) figures,
 * time constant SVC_IDLE_TAU_NS: an idle node serves the next request at
 * its idle speed (and a figure taken under a burst must not keep every
 * ingress refusing work, which would leave it no answer to learn from). */
void svc_idle_relax(node *n, uint64_t dt_ns);
/* This node's measurements as gossip svc records; returns how many. */
uint32_t svc_records(node *n, wp_gossip_svc *out, uint32_t cap);
/* Whether recs differ enough from what was last published (10%, or a
 * model more or less) to publish again. */
bool svc_changed(const node *n, const wp_gossip_svc *recs, uint32_t nrec);
/* A member's record changed (view_sync): its servable list into the
 * router (loadable bits of every model; O(models x list)). */
void svc_member_loadable(node *n, uint32_t idx, const wp_gossip_member *m);
/* After view_sync: the mean of the live members' svc records per model
 * into n->csvc and the router's wait estimates, when something changed;
 * every member's loadable bits again when models were added. */
void svc_sync_view(node *n);
/* Expected service of one request of model with out tokens, without
 * queueing (ms): this node's own figure as a target, else the cluster's;
 * < 0 when nobody has measured it. first_ms: its first-token part. */
double svc_measured_ms(const node *n, uint32_t model, uint32_t out_tokens, bool own_first,
                       double *first_ms);
/* The ingress's own view of an attempt's model: the tokens after the first
 * (ms) from the cluster's figure, else the profile's. */
double svc_tail_ms(const node *n, uint32_t model, uint32_t in_tokens, uint32_t out_tokens);
/* Tell the target of r's current attempt (hop) that it is abandoned. */
void svc_cancel_attempt(node *n, int32_t target, uint64_t hop);

/* placement_sync.c */
/* What this node can load at all, into cap: a cpu/cuda node only the
 * models it has a checkpoint for (listed); a timing-model node the whole
 * catalog (not listed). */
void cap_servable(node *n, wp_gossip_capacity *cap);
void on_cap_timer(uv_timer_t *t);
void on_pl_timer(uv_timer_t *t);

/* metrics.c: Prometheus metrics (--metrics). Every hook is a no-op
 * without --metrics. Event counters for the fault work: one line in
 * NM_EVENTS adds a series (sym, family, help, label, value) and
 * nm_bump(n, sym) counts it (NM_DEADLINE_INGRESS_EXPIRED mirrors st_deadline,
 * the DEADLINE_EXCEEDED answers: do not bump it). */
#define NM_EVENTS(X)                                                                           \
    X(NM_FRAME_REFUSED_REQUEST, "warmpath_frames_refused_total",                              \
      "Frames refused before decoding (size, rate or shape limits), by socket.", "socket",      \
      "request")                                                                              \
    X(NM_FRAME_REFUSED_PEER, "warmpath_frames_refused_total", "", "socket", "peer")            \
    X(NM_FRAME_REFUSED_ADMIN, "warmpath_frames_refused_total", "", "socket", "admin")          \
    X(NM_DEADLINE_ADMISSION, "warmpath_deadline_total",                                       \
      "Requests refused or dropped because of their deadline, by stage.", "stage",             \
      "ingress_admission")                                                                    \
    X(NM_DEADLINE_INGRESS_EXPIRED, "warmpath_deadline_total", "", "stage", "ingress_expired")  \
    X(NM_DEADLINE_TARGET_DROPPED, "warmpath_deadline_total", "", "stage", "target_dropped")
typedef enum nm_event {
#define NM_SYM(sym, fam, help, label, value) sym,
    NM_EVENTS(NM_SYM)
#undef NM_SYM
    NM_EVENT_COUNT
} nm_event;
typedef struct node_metrics node_metrics;
int nm_open(node *n, const char *addr, wp_err *err); /* registry + HTTP thread */
void nm_start(node *n);                              /* the refresh timer */
void nm_close(node *n);                              /* shutdown: closes the timer */
void nm_free(node *n);                               /* after the loop: stops HTTP */
void nm_ingress_done(node *n, const Warmpath__Infer__InferResponse *resp);
void nm_target_done(node *n, const char *model, int status);
void nm_first_token(node *n, const char *model, double ttft_s);
void nm_bump(node *n, nm_event e);

#endif /* WP_NODE_INT_H */
