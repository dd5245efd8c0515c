/* node/gossip_int.h — private to the gossip core (gossip*.c): its state
 * and the functions its files share. Pure, like the core: no sockets, no
 * clock, no globals. The public API is node/node.h.
 */
#ifndef WP_GOSSIP_INT_H
#define WP_GOSSIP_INT_H

#include "node/node.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RELAYS 64u

/* Resends of one periodic push-pull that got no answer (gossip.c's essay,
 * "Anti-entropy"). */
#define WP_GOSSIP_PP_RETRIES 3u

/* Hardening bounds (gossip.c's essay, "Forged records"): the most a
 * record may move a member's incarnation or capacity version past what
 * this view holds. Larger jumps are refused and counted. */
#define WP_GOSSIP_INC_JUMP_MAX (1ULL << 16)
#define WP_GOSSIP_CAP_JUMP_MAX (1ULL << 24)

/* a + 1, saturating at UINT64_MAX (incarnations and versions never wrap). */
static inline uint64_t wp_gossip__inc_sat(uint64_t a) { return a == UINT64_MAX ? a : a + 1; }
/* b - a > max, for b > a (a jump too large to accept). */
static inline bool wp_gossip__jump_over(uint64_t a, uint64_t b, uint64_t max)
{
    return b > a && b - a > max;
}

/* A pending broadcast, for ordering. */
typedef struct cand {
    uint32_t transmits;
    uint64_t bcast_seq;
    size_t idx;
} cand;

#define MAX_CONFIRM 8u

#define WP_GOSSIP_FAILED_MAX 64

typedef struct member {
    wp_gossip_member m;
    uint64_t susp_start_ns;
    uint64_t susp_deadline_ns; /* 0: not suspected by this view */
    uint32_t susp_k;
    uint32_t n_confirm;
    uint64_t susp_first_hash;
    uint64_t confirm_hash[MAX_CONFIRM];
    bool bcast;
    uint32_t transmits;
    uint64_t bcast_seq;
    size_t bq_pos; /* index in the broadcast queue while bcast */
    /* The newest owner part held (codec.c), relayed verbatim; with keys,
     * only ever one whose signature was checked. */
    uint8_t *owned;            /* malloc'd, owned_cap bytes; freed when reaped */
    uint16_t owned_len;        /* 0: none held */
    uint16_t owned_cap;
    bool has_sig;
    bool owned_left;
    uint64_t owned_inc, owned_ver;
    uint8_t sig[WP_GOSSIP_SIG_BYTES];
} member;

/* Copies an owner part into x (growing its buffer): false when out of memory. */
bool wp_gossip__owned_set(member *x, const uint8_t *bytes, size_t len);

typedef struct relay {
    bool used;
    uint64_t seq;        /* our ping's seq */
    uint64_t origin_seq;
    uint64_t nack_at_ns;
    char origin_id[WP_NAME_MAX];
    char origin_addr[WP_GOSSIP_ADDR_MAX];
} relay;

struct wp_gossip {
    wp_gossip_config cfg;
    wp_rng *rng;
    wp_logger log;
    bool has_log;
    wp_gossip_hooks hooks;
    bool has_hooks;
    wp_gossip_auth auth;
    bool has_auth;
    uint64_t forged_log_ns;  /* last "refused forged record" log line */
    uint64_t forged_unlogged;

    member *mem;
    size_t n, cap;
    int32_t *slots;
    size_t nslots; /* power of two, > 2 * cap */
    size_t *scratch;
    struct cand *cands;
    size_t *bq; /* indices of members with a pending broadcast (n_bcast of them) */
    uint64_t susp_next_ns; /* <= every pending suspicion deadline (may be stale-early) */

    uint64_t seq_next;
    uint64_t bcast_counter;
    size_t n_bcast;

    size_t probe_idx;
    struct {
        bool active;
        bool acked;
        bool indirect_sent;
        char target_id[WP_NAME_MAX];
        uint64_t seq;
        uint64_t timeout_at;
        uint64_t end_at;
        uint32_t expected_nacks;
        uint32_t nacks;
    } probe;
    uint64_t next_probe_at;
    uint64_t next_gossip_at;
    uint64_t next_pushpull_at;
    /* The periodic push-pull waiting for its answer (gossip.c's essay,
     * "Anti-entropy"): none by answer_by and it goes to another member,
     * at most WP_GOSSIP_PP_RETRIES times per push-pull interval. */
    struct {
        bool waiting;
        uint64_t seq;
        uint64_t answer_by;
        uint32_t retries;
        char target_id[WP_NAME_MAX];
    } pp;
    relay relays[MAX_RELAYS];

    /* Members declared or learned dead (not left), for reconnect: bounded,
     * the oldest dropped first; an entry goes when its member is alive
     * again or after reconnect_timeout_ns. */
    struct failed_member {
        char id[WP_NAME_MAX];
        char addr[WP_GOSSIP_ADDR_MAX];
        uint64_t since_ns;
    } failed[WP_GOSSIP_FAILED_MAX];
    size_t n_failed;
    size_t failed_next; /* round robin */
    uint64_t next_reconnect_at;

    uint32_t awareness;
    bool leaving;
    uint64_t last_stranger_pp_ns;
    int force_idx;       /* member record to put first in the next frame, or -1 */
    bool stale_about_me; /* the frame being handled carried an old rumour about us */
    wp_gossip_stats st;

    wp_gossip_out *out;
    size_t n_out, cap_out;
};

/* ---------------------------------------------------------------- internal */

/* gossip.c */
uint64_t wp_gossip__hash_id(const char *s);
int wp_gossip__find_idx(const wp_gossip *g, const char *id);
void wp_gossip__index_insert(wp_gossip *g, size_t idx);
void wp_gossip__index_rebuild(wp_gossip *g);
int wp_gossip__grow(wp_gossip *g);

/* gossip_state.c */
size_t wp_gossip__live_count(const wp_gossip *g);
uint64_t wp_gossip__scaled(const wp_gossip *g, uint64_t t);
void wp_gossip__awareness_delta(wp_gossip *g, int d);
void wp_gossip__bq_rebuild(wp_gossip *g);
void wp_gossip__queue_bcast(wp_gossip *g, size_t idx);
void wp_gossip__notify(wp_gossip *g, uint64_t now, size_t idx, wp_member_status old, bool is_new,
                       bool by_timer);
void wp_gossip__send_frame(wp_gossip *g, uint64_t now, const char *to_addr, const char *to_id,
                           uint32_t type, uint64_t seq, const char *target_id,
                           const char *target_addr, bool full_state, bool only_self);
size_t wp_gossip__pick_random(wp_gossip *g, uint64_t now, size_t k, int skip,
                              bool allow_recent_dead);
int wp_gossip__add_member(wp_gossip *g, const wp_gossip_member *r);
/* own: the record's owner part as received (NULL for this core's own
 * opinions); kept when newer than the one held. */
void wp_gossip__merge_record(wp_gossip *g, uint64_t now, const wp_gossip_member *r_in,
                             const wp_gossip_owned *own, bool from_push_pull,
                             const char *sender);
/* Re-encodes (and with keys re-signs) this member's owner part after a
 * change to its incarnation, status or capacity. */
void wp_gossip__reseal_self(wp_gossip *g);

/* gossip_sign.c */
/* Keys in use: checks one received record against its owner's signature
 * and the member's held state; may rewrite *r into an opinion only (an
 * owner part older than the one held is not checked and not used). false:
 * refused (counted, logged at most once a second). */
bool wp_gossip__admit(wp_gossip *g, uint64_t now, wp_gossip_member *r,
                      const wp_gossip_owned *own, const char *sender);
/* (incarnation, left, version) of an owner part, compared. */
int wp_gossip__owned_cmp(uint64_t inc_a, bool left_a, uint64_t ver_a, uint64_t inc_b,
                         bool left_b, uint64_t ver_b);

/* Counts of a capacity record held within their arrays. */
static inline void wp_gossip__cap_clamp(wp_gossip_capacity *c)
{
    if (c->n_warm > WP_GOSSIP_MAX_WARM)
        c->n_warm = WP_GOSSIP_MAX_WARM;
    if (c->n_servable > WP_GOSSIP_MAX_SERVABLE)
        c->n_servable = WP_GOSSIP_MAX_SERVABLE;
    if (c->n_svc > WP_GOSSIP_MAX_SVC)
        c->n_svc = WP_GOSSIP_MAX_SVC;
}

#endif /* WP_GOSSIP_INT_H */
