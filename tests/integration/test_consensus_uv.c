/* consensus/ with its real I/O (libuv TCP on loopback, raft log and
 * snapshots on disk), all servers in one process and one loop: clusters of
 * 1, 3 and 5 servers elect a leader, apply commands (odd lengths, to check
 * the 8-byte framing raft's disk log needs) and return the state machine's
 * result; after a clean close (the loop must close with no handle left)
 * the cluster restarts from its data directories — through snapshots, taken
 * every 8 entries here — and continues where it stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "consensus/consensus.h"

#define MAX_SRV 5

typedef struct sm_state {
    uint64_t count;
    uint64_t sum; /* of every byte of every command */
    uint64_t result;
    unsigned restores;
} sm_state;

/* One free loopback port (common/net.c), or -1. */
static int free_port(void)
{
    int port;
    return wp_loopback_ports(&port, 1, NULL) == WP_OK ? port : -1;
}

static int sm_apply(void *ctx, const void *cmd, size_t len, const void **result)
{
    sm_state *s = ctx;
    s->count++;
    for (size_t i = 0; i < len; i++)
        s->sum += ((const uint8_t *)cmd)[i];
    s->result = s->count;
    *result = &s->result;
    return 0;
}

static int sm_snapshot(void *ctx, void **buf, size_t *len)
{
    sm_state *s = ctx;
    uint64_t *b = malloc(2 * sizeof *b);
    if (b == NULL)
        return WP_ENOMEM;
    b[0] = s->count;
    b[1] = s->sum;
    *buf = b;
    *len = 2 * sizeof *b;
    return 0;
}

static int sm_restore(void *ctx, const void *buf, size_t len, wp_err *err)
{
    sm_state *s = ctx;
    if (len != 2 * sizeof(uint64_t))
        return wp_errf(err, WP_EPARSE, "snapshot of %zu bytes", len);
    memcpy(&s->count, buf, sizeof s->count);
    memcpy(&s->sum, (const uint8_t *)buf + 8, sizeof s->sum);
    s->restores++;
    return 0;
}

typedef struct cluster {
    uv_loop_t loop;
    size_t n;
    wp_consensus *c[MAX_SRV];
    sm_state sm[MAX_SRV];
    wp_consensus_server servers[MAX_SRV];
    char dirs[MAX_SRV][64];
    unsigned closed;
    unsigned done;
    int last_status;
    uint64_t last_result;
} cluster;

static void start(cluster *cl, size_t n, const int *ports, const char *root, bool fresh)
{
    if (fresh) {
        memset(cl, 0, sizeof *cl);
    } else {
        memset(cl->c, 0, sizeof cl->c);
        memset(cl->sm, 0, sizeof cl->sm);
        cl->closed = cl->done = 0;
    }
    cl->n = n;
    assert_int_equal(uv_loop_init(&cl->loop), 0);
    for (size_t i = 0; i < n; i++) {
        cl->servers[i].id = i + 1;
        snprintf(cl->servers[i].address, WP_CONSENSUS_ADDR_MAX, "127.0.0.1:%d",
                 ports[i]);
        snprintf(cl->dirs[i], sizeof cl->dirs[i], "%s/s%zu", root, i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        wp_consensus_config cfg = {
            .id = i + 1, .data_dir = cl->dirs[i], .servers = cl->servers, .n_servers = n,
            .election_timeout_ms = 150, .heartbeat_ms = 15, .snapshot_threshold = 8,
            .snapshot_trailing = 2, .sm = {&cl->sm[i], sm_apply, sm_snapshot, sm_restore, NULL},
        };
        wp_err err = {0};
        if (wp_consensus_new(&cl->loop, &cfg, &cl->c[i], &err) != WP_OK ||
            wp_consensus_start(cl->c[i], &err) != WP_OK)
            fail_msg("server %zu: %s", i + 1, wp_err_text(&err));
    }
}

static int leader_of(cluster *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        if (wp_consensus_is_leader(cl->c[i]))
            return (int)i;
    return -1;
}

/* Runs the loop until pred holds or max_ms passes. */
static bool run_until(cluster *cl, bool (*pred)(cluster *), int max_ms)
{
    uint64_t end = wp_clock_monotonic_ns() + (uint64_t)max_ms * WP_NS_PER_MS;
    while (!pred(cl)) {
        if (wp_clock_monotonic_ns() > end)
            return false;
        uv_run(&cl->loop, UV_RUN_ONCE);
    }
    return true;
}

static bool has_leader(cluster *cl)
{
    return leader_of(cl) >= 0;
}

static void applied(void *data, int status, const char *errmsg, const void *result)
{
    cluster *cl = data;
    (void)errmsg;
    cl->done++;
    cl->last_status = status;
    cl->last_result = status == 0 ? *(const uint64_t *)result : 0;
}

static size_t want_done;
static bool all_done(cluster *cl)
{
    return cl->done >= want_done;
}

static uint64_t want_count;
static bool all_applied(cluster *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cl->sm[i].count != want_count)
            return false;
    return true;
}

static void apply_n(cluster *cl, int k, uint64_t expect_last)
{
    int l = leader_of(cl);
    assert_true(l >= 0);
    cl->done = 0;
    for (int j = 0; j < k; j++) {
        char cmd[16];
        size_t len = 1 + (size_t)(j % 13); /* odd and even lengths */
        memset(cmd, 'a' + j % 26, len);
        wp_err err = {0};
        if (wp_consensus_apply(cl->c[l], cmd, len, applied, cl, &err) != WP_OK)
            fail_msg("apply: %s", wp_err_text(&err));
    }
    want_done = (size_t)k;
    assert_true(run_until(cl, all_done, 5000));
    assert_int_equal(cl->last_status, 0);
    assert_int_equal(cl->last_result, expect_last);
    /* A follower refuses to propose, with a reason. */
    if (cl->n > 1) {
        wp_err err = {0};
        size_t f = (size_t)(l + 1) % cl->n;
        assert_int_equal(wp_consensus_apply(cl->c[f], "x", 1, applied, cl, &err), WP_ENOLEADER);
        assert_non_null(strstr(err.msg, "not the leader"));
    }
}

static void on_closed(void *data)
{
    ((cluster *)data)->closed++;
}

static bool all_closed(cluster *cl)
{
    return cl->closed == cl->n;
}

static void stop(cluster *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        wp_consensus_close(cl->c[i], on_closed, cl);
    assert_true(run_until(cl, all_closed, 5000));
    uv_run(&cl->loop, UV_RUN_DEFAULT); /* let the handles finish closing */
    assert_int_equal(uv_loop_close(&cl->loop), 0);
}

static void run_cluster(size_t n)
{
    char root[64];
    snprintf(root, sizeof root, "/tmp/wp-consensus-test-XXXXXX");
    assert_non_null(mkdtemp(root));
    int ports[MAX_SRV];
    for (size_t i = 0; i < n; i++) {
        ports[i] = free_port();
        assert_true(ports[i] > 0);
    }
    cluster *cl = malloc(sizeof *cl);
    start(cl, n, ports, root, true);
    assert_true(run_until(cl, has_leader, 5000));
    apply_n(cl, 20, 20);
    want_count = 20;
    assert_true(run_until(cl, all_applied, 5000));
    uint64_t sum = cl->sm[0].sum;
    for (size_t i = 1; i < n; i++)
        assert_int_equal(cl->sm[i].sum, sum);
    wp_consensus_status st;
    wp_consensus_get_status(cl->c[leader_of(cl)], &st);
    assert_int_equal(st.role, WP_ROLE_LEADER);
    assert_true(st.term >= 1);
    assert_true(st.commit_index >= 21);
    assert_int_equal(st.leader_id, (uint64_t)leader_of(cl) + 1);
    /* Give the snapshots (every 8 entries, written in the background) time
     * to reach the disk. */
    uint64_t until = wp_clock_monotonic_ns() + 300 * WP_NS_PER_MS;
    while (wp_clock_monotonic_ns() < until)
        uv_run(&cl->loop, UV_RUN_ONCE);
    stop(cl);

    /* Restart from disk: the state comes back (snapshot + log). */
    start(cl, n, ports, root, false);
    assert_true(run_until(cl, has_leader, 5000));
    apply_n(cl, 1, 21);
    want_count = 21;
    assert_true(run_until(cl, all_applied, 5000));
    unsigned restored = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(cl->sm[i].sum > sum);
        restored += cl->sm[i].restores;
    }
    /* Snapshots are taken every 8 entries by each server on its own; at
     * least one must have been loaded at restart (the others replayed the
     * log), and every state machine is back at 21 commands. */
    assert_true(restored >= 1);
    stop(cl);
    free(cl);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void test_one(void **state)
{
    (void)state;
    run_cluster(1);
}

static void test_three(void **state)
{
    (void)state;
    run_cluster(3);
}

static void test_five(void **state)
{
    (void)state;
    run_cluster(5);
}

static void test_bad_config(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    wp_consensus_server s[2] = {{1, "127.0.0.1:1"}, {1, "127.0.0.1:2"}};
    wp_consensus_config cfg = {.id = 1, .data_dir = "/tmp", .servers = s, .n_servers = 2,
                               .sm = {NULL, sm_apply, sm_snapshot, sm_restore, NULL}};
    wp_consensus *c;
    wp_err err = {0};
    assert_int_equal(wp_consensus_new(&loop, &cfg, &c, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "listed twice"));
    cfg.n_servers = 1;
    cfg.id = 9;
    assert_int_equal(wp_consensus_new(&loop, &cfg, &c, &err), WP_EINVAL);
    assert_non_null(strstr(err.msg, "not in the server list"));
    cfg.id = 1;
    cfg.data_dir = "/proc/version/x";
    assert_int_not_equal(wp_consensus_new(&loop, &cfg, &c, &err), WP_OK);
    assert_non_null(strstr(err.msg, "data dir"));
    /* Peers parsing. */
    wp_consensus_server out[4];
    size_t n;
    char extra[4][WP_CONSENSUS_ADDR_MAX];
    assert_int_equal(wp_consensus_parse_peers("1=a:1@tcp://a:2,2=b:1", out, 4, &n, extra, &err),
                     WP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].address, "a:1");
    assert_string_equal(extra[0], "tcp://a:2");
    assert_string_equal(extra[1], "");
    assert_int_equal(wp_consensus_parse_peers("0=a:1", out, 4, &n, NULL, &err), WP_EINVAL);
    assert_int_equal(wp_consensus_parse_peers("1=a:1,1=b:2", out, 4, &n, NULL, &err), WP_EINVAL);
    assert_int_equal(wp_consensus_parse_peers("x", out, 4, &n, NULL, &err), WP_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_one),
        cmocka_unit_test(test_three),
        cmocka_unit_test(test_five),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
