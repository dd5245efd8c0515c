/* node/node.h — the public header of the gossip core: the SWIM + Lifeguard
 * membership and capacity-gossip core, its msgpack wire codec, and the
 * deterministic gossip simulation driver (`wpctl sim gossip`). The request
 * path's framing (admin and inference frames, validated decoders, the
 * ingress's request table) has its own header, node/infer.h; the daemon's
 * private structs are in node/node_int.h.
 *
 * Everything declared here is pure: no sockets, no clock, no globals. Time
 * reaches the core as `now_ns` (any monotonic origin), randomness through a
 * caller-owned wp_rng. The live daemon (wp-node, ZeroMQ + libuv) and
 * the simulator drive the same core:
 *
 *   event in:   wp_gossip_receive (a frame), wp_gossip_tick (time passed),
 *               wp_gossip_join / _set_capacity / _leave (commands)
 *   actions out: wp_gossip_outbox (frames to send, each to an address) and
 *               wp_gossip_next_deadline_ns (the one timer to set).
 *
 * Ownership: a wp_gossip is created with wp_gossip_new and freed with
 * wp_gossip_free. Outbox frames are owned by the core and stay valid until
 * wp_gossip_outbox_clear or the next event. The rng passed to wp_gossip_new
 * must outlive the core.
 */
#ifndef WP_NODE_H
#define WP_NODE_H

#include "common/common.h"

/* ---------------------------------------------------------------- limits */

#define WP_GOSSIP_ADDR_MAX 128u     /* transport address ("tcp://1.2.3.4:7001") */
#define WP_GOSSIP_CITY_MAX 32u      /* city code, as wp_city.code (WP_CITY_CODE_MAX) */
#define WP_GOSSIP_MAX_WARM 16u      /* warm model names per member */
#define WP_GOSSIP_MAX_SERVABLE 16u  /* servable model names per member (when listed) */
#define WP_GOSSIP_MAX_SVC 8u        /* measured service records per member */
#define WP_GOSSIP_MAX_MEMBERS 4096u /* members in one view (= WP_MSG_MAX_ARRAY) */
#define WP_GOSSIP_PACKET_BYTES 1400u /* budget of a ping/ack/gossip frame, as memberlist's UDP */
#define WP_GOSSIP_WIRE_VERSION 2u
#define WP_GOSSIP_OWNED_MAX 4096u /* a member's own encoding of its record (codec.c) */
#define WP_GOSSIP_SIG_BYTES 64u

/* ---------------------------------------------------------------- config */

/* Defaults (wp_gossip_config_default) are memberlist's DefaultLANConfig. */
typedef struct wp_gossip_config {
    uint64_t probe_interval_ns;      /* 1 s */
    uint64_t probe_timeout_ns;       /* 500 ms */
    uint64_t gossip_interval_ns;     /* 200 ms */
    uint32_t gossip_fanout;          /* 3 (memberlist GossipNodes) */
    uint32_t indirect_checks;        /* 3 */
    uint32_t retransmit_mult;        /* 4: limit = mult * ceil(log10(N + 1)) */
    uint32_t suspicion_mult;         /* 4: min timeout = mult * max(1, log10 N) * probe */
    uint32_t suspicion_max_mult;     /* 6: max timeout = this * min timeout (Lifeguard) */
    uint64_t push_pull_interval_ns;  /* 30 s, scaled up above 32 members like memberlist */
    uint64_t gossip_to_dead_ns;      /* 30 s: dead members still get gossip, then are reaped */
    uint32_t awareness_max;          /* 8: Lifeguard local-health multiplier cap */
    /* Reconnect (as Serf does): every reconnect_interval_ns a push-pull to
     * the next member this core holds (or held) dead, round robin, for
     * reconnect_timeout_ns after its death; heals the two sides of a
     * partition that outlasted the gossip-to-the-dead window, which
     * otherwise never speak again. 0: off. */
    uint64_t reconnect_interval_ns;  /* 10 s */
    uint64_t reconnect_timeout_ns;   /* 1 h */
} wp_gossip_config;

void wp_gossip_config_default(wp_gossip_config *c);
/* WP_OK or WP_EINVAL with a one-line reason (zero intervals, timeout >= interval, ...). */
int wp_gossip_config_check(const wp_gossip_config *c, wp_err *err);

/* ---------------------------------------------------------------- members */

typedef enum wp_member_status {
    WP_MEMBER_ALIVE = 0,
    WP_MEMBER_SUSPECT = 1,
    WP_MEMBER_DEAD = 2,
    WP_MEMBER_LEFT = 3,
} wp_member_status;

const char *wp_member_status_name(wp_member_status s); /* "alive", ... */

/* Service times a member measured for one model it runs (issue 15): the
 * time from a request's start on the GPU to its first token, the time per
 * later token, and a whole request's mean service, all without queueing;
 * samples: requests (and warm-up runs) the figures come from. */
typedef struct wp_gossip_svc {
    char model[WP_NAME_MAX];
    uint32_t first_us;
    uint32_t tpot_us;
    uint32_t service_us;
    uint32_t samples;
} wp_gossip_svc;

/* A member's capacity record. Only the member itself changes it, bumping
 * `version`; everyone else keeps the highest version seen.
 * servable_listed false: every catalog model can be loaded there (the
 * timing model, and records from before the list existed); true: only the
 * n_servable models named (a cpu/cuda node: those it has a checkpoint
 * for). svc: measured service times, for at most WP_GOSSIP_MAX_SVC models. */
typedef struct wp_gossip_capacity {
    uint64_t version;
    uint32_t gpus;
    uint64_t gpu_mem_free_bytes;
    uint32_t queue_depth;
    bool draining;
    uint32_t n_warm;
    char warm[WP_GOSSIP_MAX_WARM][WP_NAME_MAX];
    bool servable_listed;
    uint32_t n_servable;
    char servable[WP_GOSSIP_MAX_SERVABLE][WP_NAME_MAX];
    uint32_t n_svc;
    wp_gossip_svc svc[WP_GOSSIP_MAX_SVC];
} wp_gossip_capacity;

/* One member as a core sees it (also the record carried on the wire). */
typedef struct wp_gossip_member {
    char id[WP_NAME_MAX];
    char city[WP_GOSSIP_CITY_MAX];
    char addr[WP_GOSSIP_ADDR_MAX];
    uint64_t incarnation;
    wp_member_status status;
    char status_from[WP_NAME_MAX]; /* who declared suspect/dead (wire + Lifeguard) */
    uint64_t status_change_ns;     /* local time of the last status change */
    wp_gossip_capacity cap;
} wp_gossip_member;

/* ---------------------------------------------------------------- wire */

typedef enum wp_gossip_msg_type {
    WP_GMSG_PING = 1,       /* seq, from, target: direct probe */
    WP_GMSG_PING_REQ = 2,   /* seq, from, target: probe target for me */
    WP_GMSG_ACK = 3,        /* seq, from */
    WP_GMSG_NACK = 4,       /* seq, from: relay could not reach target (Lifeguard) */
    WP_GMSG_GOSSIP = 5,     /* updates only */
    WP_GMSG_PUSH_PULL = 6,  /* full state; receiver answers with PUSH_PULL_RESP */
    WP_GMSG_PUSH_PULL_RESP = 7,
} wp_gossip_msg_type;

/* A record's owner part as its owner encoded and signed it (codec.c): the
 * bytes travel verbatim from the owner through every relay. In a decoded
 * message, `bytes` points into the decoded buffer (valid while it is). */
typedef struct wp_gossip_owned {
    const uint8_t *bytes;
    size_t len;                /* 1..WP_GOSSIP_OWNED_MAX */
    bool has_sig;              /* false: unsigned (a cluster without keys) */
    uint8_t sig[WP_GOSSIP_SIG_BYTES];
    uint64_t incarnation;      /* decoded: what `bytes` say (the record's own */
    bool left;                 /* incarnation and status may be an opinion) */
} wp_gossip_owned;

/* A decoded frame. `updates` and `owned` (one per update) are heap memory
 * owned by the message (wp_gossip_msg_clear frees them). */
typedef struct wp_gossip_msg {
    uint32_t type;
    uint64_t seq;
    char from_id[WP_NAME_MAX];
    char from_addr[WP_GOSSIP_ADDR_MAX];
    char target_id[WP_NAME_MAX];
    char target_addr[WP_GOSSIP_ADDR_MAX];
    size_t n_updates;
    wp_gossip_member *updates;
    wp_gossip_owned *owned;
} wp_gossip_msg;

/* Encodes msg (header + the n records in `recs`, which override
 * msg->updates) as one msgpack frame into a malloc'ed buffer (*out, *out_len;
 * caller frees). WP_ETOOBIG if it would exceed WP_FRAME_MAX_BYTES. */
int wp_gossip_msg_encode(const wp_gossip_msg *msg, const wp_gossip_member *const *recs,
                         size_t n, uint8_t **out, size_t *out_len, wp_err *err);
/* The same, with each record's owner part given as its owner encoded and
 * signed it (owned[i] NULL or empty: encoded here from recs[i], unsigned). */
int wp_gossip_msg_encode_owned(const wp_gossip_msg *msg, const wp_gossip_member *const *recs,
                               const wp_gossip_owned *const *owned, size_t n, uint8_t **out,
                               size_t *out_len, wp_err *err);
/* A member's owner part of its own record (id, city, addr, incarnation,
 * ALIVE or LEFT, capacity), into out (cap bytes): what it signs. */
int wp_gossip_owned_encode(const wp_gossip_member *m, uint8_t *out, size_t cap, size_t *len,
                           wp_err *err);
/* Decodes one frame. Size cap, declared counts (arrays, maps, strings,
 * nesting) and exact length are checked on the raw bytes BEFORE msgpack-c
 * unpacks anything; then every field is type- and range-checked. On error
 * *msg is left empty and err says why; nothing is trusted. */
int wp_gossip_msg_decode(const uint8_t *buf, size_t len, wp_gossip_msg *msg, wp_err *err);
void wp_gossip_msg_clear(wp_gossip_msg *msg);


/* ---------------------------------------------------------------- core */

typedef struct wp_gossip wp_gossip;

/* Optional observer, called synchronously inside events. */
typedef struct wp_gossip_hooks {
    /* A member's status changed in this view (new members arrive as ALIVE
     * with old == WP_MEMBER_ALIVE and is_new). by_timer: this core's own
     * suspicion timer expired (it is the one declaring the member dead). */
    void (*member_status)(void *ctx, uint64_t now_ns, const wp_gossip_member *m,
                          wp_member_status old, bool is_new, bool by_timer);
    void *ctx;
} wp_gossip_hooks;

/* Record signatures (gossip.c's essay, "Signed records"). The core never
 * touches a key: it asks these callbacks. */
typedef struct wp_gossip_auth {
    /* Signs msg with this member's key: 0 on success. */
    int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WP_GOSSIP_SIG_BYTES]);
    /* True only if sig is member `id`'s signature over msg (its node key). */
    bool (*verify)(void *ctx, const char *id, const uint8_t *msg, size_t len,
                   const uint8_t sig[WP_GOSSIP_SIG_BYTES]);
    void *ctx;
} wp_gossip_auth;

typedef struct wp_gossip_self {
    const char *id;     /* unique, 1..WP_NAME_MAX-1 bytes */
    const char *city;   /* city code */
    const char *addr;   /* where others send to this member */
    uint64_t incarnation; /* start value; the daemon persists it across restarts */
    const wp_gossip_capacity *cap; /* initial capacity (version taken as given) */
    /* Keys in use: own record signed, every record received must carry its
     * owner's valid signature (copied; ctx must outlive the core). NULL:
     * records unsigned and taken unsigned (the forgery bounds still hold). */
    const wp_gossip_auth *auth;
} wp_gossip_self;

typedef struct wp_gossip_out {
    char to_addr[WP_GOSSIP_ADDR_MAX];
    char to_id[WP_NAME_MAX]; /* "" when unknown (join seeds) */
    uint8_t *data;
    size_t len;
} wp_gossip_out;

typedef struct wp_gossip_stats {
    uint64_t frames_in;
    uint64_t frames_bad;      /* dropped by the decoder or as nonsense */
    uint64_t frames_out;
    uint64_t bytes_out;
    uint64_t probes;
    uint64_t probes_failed;   /* no ack by the end of the probe interval */
    uint64_t suspicions;      /* members this core started suspecting */
    uint64_t deaths_declared; /* suspicion timers that expired here */
    uint64_t refutations;     /* times this member refuted a rumour about itself */
    uint64_t records_refused; /* records with an absurd incarnation or version jump */
    uint64_t records_forged;  /* keys in use: unsigned, badly signed, or an opinion
                               * claiming an incarnation its owner never signed */
    uint64_t sigs_verified;   /* signature checks run (cached ones not counted) */
    uint64_t push_pulls;
    uint64_t push_pull_retries; /* periodic push-pulls resent: no answer within a probe interval */
    uint64_t reconnects;      /* push-pulls sent to a dead member (reconnect) */
    uint32_t awareness;       /* Lifeguard local health score, 0 = healthy */
} wp_gossip_stats;

int wp_gossip_new(const wp_gossip_config *cfg, const wp_gossip_self *self, uint64_t now_ns,
                  wp_rng *rng, const wp_logger *log, const wp_gossip_hooks *hooks,
                  wp_gossip **out, wp_err *err);
void wp_gossip_free(wp_gossip *g);

/* Sends a push-pull (our full state) to each seed address. Call again to
 * retry until wp_gossip_member_count() > 1. */
void wp_gossip_join(wp_gossip *g, uint64_t now_ns, const char *const *addrs, size_t n);
/* One frame in. WP_OK, or the decode error (frame dropped, counted). */
int wp_gossip_receive(wp_gossip *g, uint64_t now_ns, const uint8_t *buf, size_t len);
/* Runs every timer due at or before now_ns. */
void wp_gossip_tick(wp_gossip *g, uint64_t now_ns);
/* The earliest time the core needs a tick. */
uint64_t wp_gossip_next_deadline_ns(const wp_gossip *g);
/* Replaces this member's capacity (version = old version + 1) and gossips it. */
void wp_gossip_set_capacity(wp_gossip *g, uint64_t now_ns, const wp_gossip_capacity *cap);
/* Graceful leave: marks self LEFT and sends it to up to 2 * fanout members
 * at once. The core ignores probes afterwards. */
void wp_gossip_leave(wp_gossip *g, uint64_t now_ns);

size_t wp_gossip_outbox(wp_gossip *g, const wp_gossip_out **out);
void wp_gossip_outbox_clear(wp_gossip *g);

size_t wp_gossip_member_count(const wp_gossip *g);
const wp_gossip_member *wp_gossip_member_at(const wp_gossip *g, size_t i);
const wp_gossip_member *wp_gossip_find(const wp_gossip *g, const char *id);
/* First member with this address, or NULL (linear). */
const wp_gossip_member *wp_gossip_find_addr(const wp_gossip *g, const char *addr);
const wp_gossip_member *wp_gossip_self_member(const wp_gossip *g);
void wp_gossip_get_stats(const wp_gossip *g, wp_gossip_stats *out);
size_t wp_gossip_count_status(const wp_gossip *g, wp_member_status s);

/* Timeouts in force for a view of n members (for tools and tests). */
uint64_t wp_gossip_suspicion_min_ns(const wp_gossip_config *c, size_t n);
uint64_t wp_gossip_suspicion_max_ns(const wp_gossip_config *c, size_t n);
uint32_t wp_gossip_retransmit_limit(const wp_gossip_config *c, size_t n);

/* ---------------------------------------------------------------- simulation */

/* A deterministic discrete-event run of n gossip cores (see gossip_sim.c).
 * oneway_ms is an n x n row-major matrix of one-way delays (simulated WAN,
 * e.g. RTT/2 of the topology's model for the city each member sits in). */
/* A fault in a gossip simulation (faultsim's campaign): PAUSE stops member
 * `node` from `from_s` to `to_s` (no ticks; frames sent to it wait and are
 * read at the end, as a SIGSTOPped process's socket buffers them);
 * PARTITION drops every frame between the members whose bit is set in
 * `side` (node < 64) and the others in [from_s, to_s); RESTART replaces
 * member `node`'s core at from_s with a new one at incarnation + 1 (as
 * wp-node --state-dir restarts), which joins through a live member. */
typedef enum { WP_GSIM_PAUSE = 1, WP_GSIM_PARTITION, WP_GSIM_RESTART } wp_gossip_sim_fault_kind;

typedef struct wp_gossip_sim_fault {
    wp_gossip_sim_fault_kind kind;
    double from_s, to_s;
    uint32_t node;
    uint64_t side;
} wp_gossip_sim_fault;

#define WP_GOSSIP_SIM_FAULTS_MAX 16

typedef struct wp_gossip_sim_config {
    size_t nodes;
    const float *oneway_ms;
    const char *const *cities; /* n city codes (labels only); may be NULL */
    wp_gossip_config gossip;
    double loss;               /* independent drop probability per message */
    uint64_t seed;
    double duration_s;         /* whole run, warm-up included (>= 120) */
    double converge_limit_s;   /* a capacity trial open longer is unconverged (0: 30 s) */
    uint32_t trials;           /* capacity-change trials */
    /* Optional: member i's record signatures (NULL: no keys). */
    const wp_gossip_auth *(*auth_of)(void *ctx, size_t i);
    void *auth_ctx;
    /* Optional faults (at most WP_GOSSIP_SIM_FAULTS_MAX), after the one
     * kill's victim is chosen they never involve it. */
    const wp_gossip_sim_fault *faults;
    size_t n_faults;
} wp_gossip_sim_config;

typedef struct wp_gossip_sim_result {
    size_t nodes;
    uint32_t trials;
    double convergence_s_p50;  /* capacity change seen by ceil(99.99%) of the others */
    double convergence_s_max;
    uint32_t trials_unconverged; /* trials that did not reach the target within
                                  * converge_limit_s (or before the run ended) */
    double detection_s;        /* kill -> every live member has it dead */
    bool detected;
    double suspicion_min_s;    /* the bound at this size */
    double suspicion_max_s;
    uint64_t false_positives;  /* live member declared dead by anyone, whole run */
    uint64_t suspicions;       /* suspicions started (false or not), whole run */
    uint64_t records_forged;   /* records refused by signature checks (with keys; 0 when
                                * every member is honest) */
    uint64_t messages;         /* frames sent */
    uint64_t messages_lost;
    double joined_s;           /* time until every member saw every other alive */
    double simulated_s;
    /* With faults: deaths declared (by timer) of a live member by an
     * observer that no fault separated from it (neither paused nor
     * restarting, not across an active partition, nor within the
     * suspicion bound after one of those ended). */
    uint64_t false_deaths_unfaulted;
    /* At the end: pairs (observer, member) of live members where the
     * observer does not hold the member alive at its current incarnation
     * (0: every live view converged), and the killed member not dead in a
     * live view (counted in the same figure). */
    uint64_t views_unconverged;
} wp_gossip_sim_result;

int wp_gossip_sim_run(const wp_gossip_sim_config *cfg, wp_gossip_sim_result *out, wp_err *err);

/* Places n members on the cities of topology t (evenly spread over the
 * city list when n <= cities, round-robin otherwise) and fills the n x n
 * one-way delay matrix (model RTT / 2, no jitter) and, if city_idx is not
 * NULL, each member's city index. */
struct wp_topology;
void wp_gossip_sim_place(const struct wp_topology *t, size_t n, float *oneway_ms,
                         size_t *city_idx);

#endif /* WP_NODE_H */
