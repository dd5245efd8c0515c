/* Gossip records signed by their owner (issue 14; node/gossip_sign.c).
 * Three cores with node keys (Ed25519, auth/) gossip on a simulated
 * network where a can only reach b and b only c, so everything c learns
 * about a was relayed by b. Checked:
 *  - relayed genuine records are accepted (c sees a's new capacity; nothing
 *    is refused anywhere, and the verification cache keeps the number of
 *    signature checks far below the number of records received);
 *  - a forged capacity record about a at version 2^64-1 is refused, both
 *    unsigned and signed by another node's key, whoever relays it;
 *  - a forged LEFT about a at incarnation 2^64-1 is refused, and so is a
 *    DEAD opinion at 2^64-1 that carries a's genuine, signed owner part;
 *  - a suspicion by a peer at a's signed incarnation is still taken (SWIM),
 *    and a refutes it;
 *  - a core with keys refuses unsigned records from a core without. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "node/node.h"

#define N 3
#define STEP_NS (10 * WP_NS_PER_MS)

typedef struct party {
    wp_key key;
    const wp_keyring *ring;
    wp_gossip_auth auth;
} party;

typedef struct net {
    wp_gossip *g[N];
    wp_rng rng[N];
    party p[N];
    wp_keyring ring;
    wp_key evil; /* a node key the keyring knows, not a's */
    char id[N][16], addr[N][16];
    bool link[N][N];
    uint64_t now;
} net;

static int sign_cb(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    party *p = ctx;
    return wp_key_sign(&p->key, msg, len, sig);
}

static bool verify_cb(void *ctx, const char *id, const uint8_t *msg, size_t len,
                      const uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    party *p = ctx;
    const wp_key *k = wp_keyring_by_name(p->ring, id);
    return k && k->role == WP_ROLE_NODE && wp_key_verify(k, msg, len, sig);
}

static int index_of(const net *nt, const char *addr)
{
    for (int i = 0; i < N; i++)
        if (strcmp(nt->addr[i], addr) == 0)
            return i;
    return -1;
}

/* One round: every core ticks, frames are delivered along the links. */
static void step(net *nt)
{
    nt->now += STEP_NS;
    for (int i = 0; i < N; i++)
        if (wp_gossip_next_deadline_ns(nt->g[i]) <= nt->now)
            wp_gossip_tick(nt->g[i], nt->now);
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < N; i++) {
            const wp_gossip_out *o;
            size_t k = wp_gossip_outbox(nt->g[i], &o);
            uint8_t *bufs[256];
            size_t lens[256];
            int to[256];
            size_t m = 0;
            for (size_t x = 0; x < k && m < 256; x++) {
                int j = index_of(nt, o[x].to_addr);
                if (j < 0 || !nt->link[i][j])
                    continue;
                bufs[m] = malloc(o[x].len);
                memcpy(bufs[m], o[x].data, o[x].len);
                lens[m] = o[x].len;
                to[m++] = j;
            }
            wp_gossip_outbox_clear(nt->g[i]);
            for (size_t x = 0; x < m; x++) {
                wp_gossip_receive(nt->g[to[x]], nt->now, bufs[x], lens[x]);
                free(bufs[x]);
            }
        }
}

static void run_s(net *nt, double s)
{
    uint64_t end = nt->now + (uint64_t)(s * 1e9);
    while (nt->now < end)
        step(nt);
}

static net *make_net_keys(bool keyed_ab, bool keyed_c)
{
    net *nt = calloc(1, sizeof *nt);
    wp_keyring_init(&nt->ring);
    wp_err err = {0};
    for (int i = 0; i < N; i++) {
        snprintf(nt->id[i], sizeof nt->id[i], "%c", 'a' + i);
        snprintf(nt->addr[i], sizeof nt->addr[i], "sim:%c", 'a' + i);
        assert_int_equal(wp_key_generate(&nt->p[i].key, nt->id[i], WP_ROLE_NODE, &err), WP_OK);
        assert_int_equal(wp_keyring_add(&nt->ring, &nt->p[i].key, &err), WP_OK);
    }
    assert_int_equal(wp_key_generate(&nt->evil, "evil", WP_ROLE_NODE, &err), WP_OK);
    assert_int_equal(wp_keyring_add(&nt->ring, &nt->evil, &err), WP_OK);
    wp_gossip_config cfg;
    wp_gossip_config_default(&cfg);
    cfg.push_pull_interval_ns = 5 * WP_NS_PER_S;
    for (int i = 0; i < N; i++) {
        nt->p[i].ring = &nt->ring;
        nt->p[i].auth = (wp_gossip_auth){sign_cb, verify_cb, &nt->p[i]};
        wp_rng_seed(&nt->rng[i], 77 + (uint64_t)i);
        wp_gossip_capacity cap = {.version = 1, .gpus = 2, .gpu_mem_free_bytes = 40ULL << 30};
        wp_gossip_self self = {.id = nt->id[i], .city = "FRA", .addr = nt->addr[i],
                               .incarnation = 1, .cap = &cap,
                               .auth = (i < 2 ? keyed_ab : keyed_c) ? &nt->p[i].auth : NULL};
        assert_int_equal(wp_gossip_new(&cfg, &self, nt->now, &nt->rng[i], NULL, NULL, &nt->g[i],
                                       &err),
                         WP_OK);
    }
    /* a <-> b <-> c; a and c never talk directly. */
    nt->link[0][1] = nt->link[1][0] = nt->link[1][2] = nt->link[2][1] = true;
    const char *seed_b[] = {nt->addr[1]};
    wp_gossip_join(nt->g[0], nt->now, seed_b, 1);
    wp_gossip_join(nt->g[2], nt->now, seed_b, 1);
    return nt;
}

static net *make_net(bool keyed_c)
{
    return make_net_keys(true, keyed_c);
}

static void free_net(net *nt)
{
    for (int i = 0; i < N; i++)
        wp_gossip_free(nt->g[i]);
    wp_keyring_free(&nt->ring);
    free(nt);
}

static wp_gossip_stats stats_of(net *nt, int i)
{
    wp_gossip_stats st;
    wp_gossip_get_stats(nt->g[i], &st);
    return st;
}

/* Captures a's genuine owner part (bytes and signature) from a frame a
 * sends, decoded; the caller frees *frame. */
static wp_gossip_owned capture_a(net *nt, wp_gossip_msg *msg, uint8_t **frame)
{
    wp_gossip_capacity cap = {.version = 0, .gpus = 2, .gpu_mem_free_bytes = 1};
    wp_gossip_set_capacity(nt->g[0], nt->now, &cap); /* queue a's record */
    wp_gossip_outbox_clear(nt->g[0]);
    const char *to[] = {nt->addr[1]};
    wp_gossip_join(nt->g[0], nt->now, to, 1); /* a push-pull: a's full state */
    const wp_gossip_out *o;
    assert_true(wp_gossip_outbox(nt->g[0], &o) >= 1);
    *frame = malloc(o[0].len);
    memcpy(*frame, o[0].data, o[0].len);
    wp_err err;
    assert_int_equal(wp_gossip_msg_decode(*frame, o[0].len, msg, &err), WP_OK);
    wp_gossip_outbox_clear(nt->g[0]);
    for (size_t i = 0; i < msg->n_updates; i++)
        if (strcmp(msg->updates[i].id, "a") == 0) {
            assert_true(msg->owned[i].has_sig);
            return msg->owned[i];
        }
    fail_msg("a's own record not in its push-pull");
    return msg->owned[0];
}

/* Delivers one frame "from b" to c carrying rec (with own, or unsigned). */
static void inject(net *nt, int to, const wp_gossip_member *rec, const wp_gossip_owned *own)
{
    wp_gossip_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = WP_GMSG_GOSSIP;
    snprintf(msg.from_id, sizeof msg.from_id, "b");
    snprintf(msg.from_addr, sizeof msg.from_addr, "%s", nt->addr[1]);
    const wp_gossip_member *recs[] = {rec};
    const wp_gossip_owned *owns[] = {own};
    uint8_t *buf;
    size_t len;
    wp_err err;
    assert_int_equal(wp_gossip_msg_encode_owned(&msg, recs, owns, 1, &buf, &len, &err), WP_OK);
    assert_int_equal(wp_gossip_receive(nt->g[to], nt->now, buf, len), WP_OK);
    wp_gossip_outbox_clear(nt->g[to]);
    free(buf);
}

/* The owner part of rec signed with key k (a forger's own key). */
static wp_gossip_owned sign_as(const wp_key *k, const wp_gossip_member *rec, uint8_t *store)
{
    wp_gossip_owned o;
    memset(&o, 0, sizeof o);
    wp_err err;
    assert_int_equal(wp_gossip_owned_encode(rec, store, WP_GOSSIP_OWNED_MAX, &o.len, &err),
                     WP_OK);
    o.bytes = store;
    o.has_sig = wp_key_sign(k, store, o.len, o.sig) == 0;
    o.incarnation = rec->incarnation;
    o.left = rec->status == WP_MEMBER_LEFT;
    return o;
}

static void test_relayed_genuine_accepted(void **state)
{
    (void)state;
    net *nt = make_net(true);
    run_s(nt, 3);
    const wp_gossip_member *a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_non_null(a_at_c);
    assert_int_equal(a_at_c->status, WP_MEMBER_ALIVE);
    /* a changes capacity; c hears it through b only. */
    wp_gossip_capacity cap = {.gpus = 2, .gpu_mem_free_bytes = 7ULL << 30, .n_warm = 1};
    snprintf(cap.warm[0], WP_NAME_MAX, "llama-8b");
    wp_gossip_set_capacity(nt->g[0], nt->now, &cap);
    uint64_t v = wp_gossip_self_member(nt->g[0])->cap.version;
    run_s(nt, 3);
    a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_int_equal(a_at_c->cap.version, v);
    assert_int_equal(a_at_c->cap.gpu_mem_free_bytes, 7ULL << 30);
    assert_string_equal(a_at_c->cap.warm[0], "llama-8b");
    uint64_t frames = 0, verified = 0;
    for (int i = 0; i < N; i++) {
        wp_gossip_stats st = stats_of(nt, i);
        assert_int_equal(st.records_forged, 0);
        frames += st.frames_in;
        verified += st.sigs_verified;
    }
    print_message("%llu frames in, %llu signature checks\n", (unsigned long long)frames,
                  (unsigned long long)verified);
    assert_true(verified > 0);
    assert_true(verified < frames); /* most records are ones already held */
    free_net(nt);
}

static void test_forged_capacity_refused(void **state)
{
    (void)state;
    net *nt = make_net(true);
    run_s(nt, 3);
    wp_gossip_member forged = *wp_gossip_find(nt->g[2], "a");
    uint64_t held = forged.cap.version;
    forged.cap.version = UINT64_MAX;
    forged.cap.draining = true;
    forged.cap.n_warm = 0;
    uint64_t before = stats_of(nt, 2).records_forged;
    inject(nt, 2, &forged, NULL); /* unsigned */
    uint8_t store[WP_GOSSIP_OWNED_MAX];
    wp_gossip_owned by_evil = sign_as(&nt->evil, &forged, store);
    inject(nt, 2, &forged, &by_evil); /* signed, by the wrong key */
    inject(nt, 1, &forged, &by_evil); /* to b too */
    const wp_gossip_member *a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_int_equal(a_at_c->cap.version, held);
    assert_false(a_at_c->cap.draining);
    assert_int_equal(stats_of(nt, 2).records_forged, before + 2);
    assert_true(stats_of(nt, 1).records_forged >= 1);
    /* A forgery within the jump bounds (version + 1, draining): only the
     * signature tells it from a's own. */
    forged.cap.version = held + 1;
    inject(nt, 2, &forged, NULL);
    inject(nt, 2, &forged, &by_evil);
    assert_int_equal(wp_gossip_find(nt->g[2], "a")->cap.version, held);
    assert_false(wp_gossip_find(nt->g[2], "a")->cap.draining);
    assert_int_equal(stats_of(nt, 2).records_forged, before + 4);
    /* Nothing of it spreads: a's next real change still reaches c. */
    wp_gossip_capacity cap = {.gpus = 2, .gpu_mem_free_bytes = 5ULL << 30};
    wp_gossip_set_capacity(nt->g[0], nt->now, &cap);
    run_s(nt, 3);
    a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_int_equal(a_at_c->cap.version, wp_gossip_self_member(nt->g[0])->cap.version);
    assert_int_equal(a_at_c->cap.gpu_mem_free_bytes, 5ULL << 30);
    free_net(nt);
}

static void test_forged_left_refused(void **state)
{
    (void)state;
    net *nt = make_net(true);
    run_s(nt, 3);
    wp_gossip_member forged = *wp_gossip_find(nt->g[2], "a");
    uint64_t inc = forged.incarnation;
    forged.incarnation = UINT64_MAX;
    forged.status = WP_MEMBER_LEFT;
    snprintf(forged.status_from, sizeof forged.status_from, "a");
    uint64_t before = stats_of(nt, 2).records_forged;
    inject(nt, 2, &forged, NULL);
    uint8_t store[WP_GOSSIP_OWNED_MAX];
    wp_gossip_owned by_evil = sign_as(&nt->evil, &forged, store);
    inject(nt, 2, &forged, &by_evil);
    forged.incarnation = inc + 1; /* within the jump bound */
    inject(nt, 2, &forged, NULL);
    forged.incarnation = UINT64_MAX;
    /* A DEAD opinion at 2^64-1 carrying a's genuine signed owner part. */
    wp_gossip_msg cap_msg;
    uint8_t *frame;
    wp_gossip_owned genuine = capture_a(nt, &cap_msg, &frame);
    forged.status = WP_MEMBER_DEAD;
    snprintf(forged.status_from, sizeof forged.status_from, "b");
    inject(nt, 2, &forged, &genuine);
    const wp_gossip_member *a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_int_equal(a_at_c->status, WP_MEMBER_ALIVE);
    assert_int_equal(a_at_c->incarnation, inc);
    assert_int_equal(stats_of(nt, 2).records_forged, before + 4);
    /* a's real leave is taken, relayed. */
    wp_gossip_msg_clear(&cap_msg);
    free(frame);
    run_s(nt, 1);
    wp_gossip_leave(nt->g[0], nt->now);
    run_s(nt, 3);
    a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_non_null(a_at_c); /* reaped only after gossip_to_dead (30 s) */
    assert_int_equal(a_at_c->status, WP_MEMBER_LEFT);
    free_net(nt);
}

static void test_signed_suspicion_taken_and_refuted(void **state)
{
    (void)state;
    net *nt = make_net(true);
    run_s(nt, 3);
    wp_gossip_msg cap_msg;
    uint8_t *frame;
    wp_gossip_owned genuine = capture_a(nt, &cap_msg, &frame);
    wp_gossip_member susp = cap_msg.updates[0];
    for (size_t i = 0; i < cap_msg.n_updates; i++)
        if (strcmp(cap_msg.updates[i].id, "a") == 0)
            susp = cap_msg.updates[i];
    uint64_t inc = susp.incarnation;
    susp.status = WP_MEMBER_SUSPECT;
    snprintf(susp.status_from, sizeof susp.status_from, "b");
    uint64_t before = stats_of(nt, 2).records_forged;
    inject(nt, 2, &susp, &genuine);
    assert_int_equal(stats_of(nt, 2).records_forged, before);
    assert_int_equal(wp_gossip_find(nt->g[2], "a")->status, WP_MEMBER_SUSPECT);
    wp_gossip_msg_clear(&cap_msg);
    free(frame);
    /* c gossips it; a hears it through b and refutes with a new, signed
     * incarnation that c takes. */
    run_s(nt, 4);
    const wp_gossip_member *a_at_c = wp_gossip_find(nt->g[2], "a");
    assert_int_equal(a_at_c->status, WP_MEMBER_ALIVE);
    assert_true(a_at_c->incarnation > inc);
    free_net(nt);
}

/* What the keys add: without them the same in-bounds forgeries (capacity
 * version + 1 draining; LEFT at incarnation + 1) are taken. */
static void test_without_keys_forgery_taken(void **state)
{
    (void)state;
    net *nt = make_net_keys(false, false);
    run_s(nt, 3);
    wp_gossip_member forged = *wp_gossip_find(nt->g[2], "a");
    forged.cap.version++;
    forged.cap.draining = true;
    inject(nt, 2, &forged, NULL);
    assert_true(wp_gossip_find(nt->g[2], "a")->cap.draining);
    forged.incarnation++;
    forged.status = WP_MEMBER_LEFT;
    inject(nt, 2, &forged, NULL);
    assert_int_equal(wp_gossip_find(nt->g[2], "a")->status, WP_MEMBER_LEFT);
    free_net(nt);
}

static void test_unsigned_peer_refused(void **state)
{
    (void)state;
    net *nt = make_net(false); /* c has no keys: its records are unsigned */
    run_s(nt, 3);
    assert_null(wp_gossip_find(nt->g[1], "c")); /* b never takes c's record */
    assert_true(stats_of(nt, 1).records_forged >= 1);
    /* c, without keys, still takes the others' (signed) records. */
    assert_non_null(wp_gossip_find(nt->g[2], "a"));
    free_net(nt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relayed_genuine_accepted),
        cmocka_unit_test(test_forged_capacity_refused),
        cmocka_unit_test(test_forged_left_refused),
        cmocka_unit_test(test_signed_suspicion_taken_and_refuted),
        cmocka_unit_test(test_unsigned_peer_refused),
        cmocka_unit_test(test_without_keys_forgery_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
