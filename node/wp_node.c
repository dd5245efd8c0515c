/* wp_node.c — the wp-node daemon's options, `main`, lifecycle and shutdown.
 *
 * The daemon drives the pure gossip core (node/gossip.c) from a libuv loop
 * with ZeroMQ sockets, and runs the live request path. Where each part is:
 *   transport.c       ZeroMQ sockets in libuv, the gossip core's timers and
 *                     outbox, the join and peer-sweep timers
 *   wan.c             WAN emulation: the one delay queue for every frame
 *   admin.c           the admin endpoint (protobuf over REP)
 *   view.c            gossip view -> router view sync, the model catalog
 *   ingress.c         the request path's ingress (its essay is there)
 *   target.c          the target: forwarded requests through the GPU worker
 *   placement_sync.c  published capacity and the placement client
 *   node_int.h        the daemon's structs and internal functions
 *
 * State dir (--state-dir): holds `incarnation`; a start reads it, adds one
 * and writes it back (tmp + rename) before joining, and every refutation is
 * written too, so a restarted node always rejoins with a higher incarnation.
 *
 * Shutdown on SIGINT/SIGTERM: graceful leave (LEFT sent at once to 2 x
 * fanout members), the request path answers everything in flight, then
 * every uv handle is closed, the loop runs until the close callbacks are
 * done, sockets close (peer sockets linger 300 ms so the leave gets out),
 * the context terminates, and uv_loop_close must return 0.
 */
#include "node/node_int.h"
#include "auth/auth.h"

/* ---------------------------------------------------------------- helpers */

static void core_log(void *ctx, int level, uint64_t now_ns, const char *msg)
{
    (void)now_ns;
    node *n = ctx;
    wp_log_write(level, n->id, "%s", msg);
}

int persist_incarnation(node *n, uint64_t inc)
{
    if (!n->state_dir[0])
        return WP_OK;
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/incarnation", n->state_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return WP_EIO;
    fprintf(fp, "%llu\n", (unsigned long long)inc);
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return WP_EIO;
    n->persisted_inc = inc;
    return WP_OK;
}

static int load_incarnation(node *n, uint64_t *out, wp_err *err)
{
    *out = 0;
    if (!n->state_dir[0])
        return WP_OK;
    if (mkdir(n->state_dir, 0755) != 0 && errno != EEXIST)
        return wp_errf(err, WP_EIO, "state dir %s: %s", n->state_dir, strerror(errno));
    char path[600];
    snprintf(path, sizeof path, "%s/incarnation", n->state_dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return WP_OK; /* first start */
    char line[64] = {0};
    bool ok = fgets(line, sizeof line, fp) != NULL;
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || wp_parse_u64(line, out))
        return wp_errf(err, WP_EPARSE, "%s: expected an unsigned integer", path);
    return WP_OK;
}

/* ---------------------------------------------------------------- shutdown */

/* Answers everything in flight before the sockets close: target jobs get
 * SHUTTING_DOWN (the ingress retries elsewhere), held WAN sends of the
 * request path go out now (held gossip frames are dropped: the leave went
 * out first), and every pending ingress request is answered SHUTTING_DOWN. */
static void reqpath_shutdown(node *n)
{
    target_shutdown(n);
    wan_flush(n);
    ingress_shutdown(n);
}

static void on_closed(uv_handle_t *h) { (void)h; }

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, on_closed);
}

static void begin_shutdown(node *n, const char *why)
{
    if (n->stopping)
        return;
    WP_INFO(n->id, "%s: leaving the cluster", why);
    wp_gossip_leave(n->g, wp_clock_monotonic_ns());
    flush_outbox(n, true); /* the leave goes out now, WAN emulation or not */
    n->stopping = true;
    reqpath_shutdown(n);
    close_handle((uv_handle_t *)&n->pull_poll);
    if (n->admin_on)
        close_handle((uv_handle_t *)&n->admin_poll);
    close_handle((uv_handle_t *)&n->drain_idle);
    close_handle((uv_handle_t *)&n->gossip_timer);
    close_handle((uv_handle_t *)&n->wan_timer);
    close_handle((uv_handle_t *)&n->join_timer);
    close_handle((uv_handle_t *)&n->sweep_timer);
    close_handle((uv_handle_t *)&n->sig_int);
    close_handle((uv_handle_t *)&n->sig_term);
    close_handle((uv_handle_t *)&n->sig_hup);
    if (n->rsock_on)
        close_handle((uv_handle_t *)&n->rsock_poll);
    close_handle((uv_handle_t *)&n->req_timer);
    close_handle((uv_handle_t *)&n->view_timer);
    close_handle((uv_handle_t *)&n->gpu_timer);
    close_handle((uv_handle_t *)&n->cap_timer);
    close_handle((uv_handle_t *)&n->pl_timer);
    nm_close(n);
    if (n->gpu_kind != WP_GPU_MODEL && n->gw)
        close_handle((uv_handle_t *)&n->wasync);
}

static void on_signal(uv_signal_t *s, int signum)
{
    begin_shutdown(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---------------------------------------------------------------- main */

static const char *const usage_text =
    "usage: wp-node --city CODE --bind ADDR [--advertise ADDR] [--id ID] [--join ADDR,...]\n"
    "               [--gpus N] [--gpu-mem-gb G] [--emulate-wan] [--state-dir D] [--admin ADDR]\n"
    "               [--probe-interval-ms MS] [--probe-timeout-ms MS]\n"
    "               [--gossip-interval-ms MS] [--push-pull-s S] [--dead-reap-s S]\n"
    "               [--request ADDR] [--placement ADDR,...] [--gpu-backend cuda|cpu|model]\n"
    "               [--model-file NAME=PATH]... [--hop-timeout-floor-ms MS] [--log-level L]\n"
    "               [--rtt-params FILE] [--metrics HOST:PORT]\n\n"
    "A warmpath node: SWIM + Lifeguard membership and GPU-capacity gossip over\n"
    "ZeroMQ (msgpack frames), an admin endpoint (protobuf, proto/admin.proto).\n\n"
    "  --city CODE      city of this node (a code of the edge preset, e.g. FRA)\n"
    "  --bind ADDR      gossip address to bind (tcp://10.0.0.5:7001 or 10.0.0.5:7001;\n"
    "                   0.0.0.0:7001 binds every interface and needs --advertise)\n"
    "  --advertise ADDR gossip address the others send to (default: --bind): it is\n"
    "                   gossiped and is the reply address of forwarded requests;\n"
    "                   a wildcard host in --admin/--request is reported as its host\n"
    "  --id ID          member id (default: <city>-<port>, lower case)\n"
    "  --join ADDRS     comma-separated gossip addresses of members to join through\n"
    "  --gpus N         GPUs of this node (default 0)\n"
    "  --gpu-mem-gb G   free GPU memory to advertise, GiB (default 0)\n"
    "  --emulate-wan    hold every frame for the model one-way time between the\n"
    "                   two cities (topology RTT / 2), to emulate a WAN on one host;\n"
    "                   a client's leg also carries its access latency (v2 model)\n"
    "  --rtt-params F   RTT model parameters (wpctl topo fit --out F; default: the\n"
    "                   shipped v2 model)\n"
    "  --state-dir D    keeps the incarnation so a restart rejoins with a higher one\n"
    "  --admin ADDR     admin endpoint to bind (ZeroMQ REP), e.g. tcp://127.0.0.1:7101\n"
    "  --probe-interval-ms MS   SWIM probe interval (default 1000, memberlist LAN)\n"
    "  --probe-timeout-ms MS    direct probe timeout (default 500)\n"
    "  --gossip-interval-ms MS  gossip interval (default 200)\n"
    "  --push-pull-s S          full-state sync interval (default 30)\n"
    "  --dead-reap-s S          dead members are kept (and gossiped to) this long (default 30)\n"
    "  --request ADDR   client-facing request endpoint (ZeroMQ ROUTER, frames of\n"
    "                   proto/inference.proto): every node is an ingress that routes\n"
    "                   to the nearest warm GPU, forwards, retries once, answers once\n"
    "  --placement LIST wp-placement API addresses (comma-separated): register,\n"
    "                   heartbeat and fetch the assignment about once a second, keep\n"
    "                   the assigned models warm, learn the catalog\n"
    "  --gpu-backend B  cuda | cpu | model. model is a TIMING MODEL: no compute,\n"
    "                   service and cold-load times from the catalog's latency\n"
    "                   profiles (default: cuda when a device exists, else model)\n"
    "  --model-file NAME=PATH  llama2.c checkpoint serving model NAME (cpu/cuda;\n"
    "                   repeatable; `wpctl model gen` writes one)\n"
    "  --gpus N / --gpu-mem-gb G  also the worker's capacity: G GiB of GPU memory\n"
    "  --gpu-threads N  cpu backend: compute threads per model (default 0: all cores)\n"
    "  --hop-timeout-floor-ms MS  floor of a forward attempt's deadline (default\n"
    "                   250; deadline = floor + 2 x the expected cost)\n"
    "  --queue-per-slot Q  a node is full for the router at its slots x (1 + Q)\n"
    "                   of work (default 1, the simulator's default too); a\n"
    "                   request's deadline bounds the queue more tightly\n"
    "  --log-level L    error, warn, info (default), debug\n"
    "  --metrics HOST:PORT  serve Prometheus metrics over HTTP at /metrics\n"
    "                   (e.g. 127.0.0.1:9100)\n";
static const char *const usage_keys =
    "  --keys DIR       cluster keys: gossip records signed with DIR/ID.key, a\n"
    "                   record about member X taken only signed by DIR/X.pub\n"
    "                   and every ZeroMQ socket CurveZMQ: listening sockets use the\n"
    "                   server key DIR/cluster.key and admit by role (node keys on\n"
    "                   gossip, operator keys on --admin, client/node/operator keys\n"
    "                   on --request); connections use DIR/ID.key and DIR/cluster.pub\n"
    "  --public-inference  with --keys: any client key may use --request (never\n"
    "                   gossip or admin)\n"
    "  --insecure       no keys: plain ZeroMQ, records unsigned, logged as a warning\n\n"
    "Stops with a graceful leave on SIGINT or SIGTERM.\n";

static int usage_error(const char *fmt, ...) WP_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wp-node: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'wp-node --help'.\n");
    va_end(ap);
    return 2;
}

static int parse_ms(const char *s, uint64_t lo, uint64_t hi, uint64_t *out_ns)
{
    uint64_t v;
    if (wp_parse_u64(s, &v) || v < lo || v > hi)
        return -1;
    *out_ns = v * WP_NS_PER_MS;
    return 0;
}

/* --keys DIR: this node signs its gossip records with DIR/ID.key and
 * takes a record about member X only with X's signature (DIR/X.pub, role
 * node). The core asks through wp_gossip_auth (node/gossip_sign.c). */
typedef struct gossip_keys {
    wp_key self;
    wp_keyring ring;
} gossip_keys;

static int gossip_sign(void *ctx, const uint8_t *msg, size_t len,
                       uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    gossip_keys *gk = ctx;
    return wp_key_sign(&gk->self, msg, len, sig);
}

static bool gossip_verify(void *ctx, const char *id, const uint8_t *msg, size_t len,
                          const uint8_t sig[WP_GOSSIP_SIG_BYTES])
{
    gossip_keys *gk = ctx;
    const wp_key *k = wp_keyring_by_name(&gk->ring, id);
    return k != NULL && k->role == WP_ROLE_NODE && wp_key_verify(k, msg, len, sig);
}

/* The node's gossip keys and key directory (--keys), for SIGHUP. */
static gossip_keys *g_gk;
static const char *g_keys_dir;

/* SIGHUP with --keys: the key directory is read again, for the ZAP handler
 * (who may connect) and the gossip records (whose signatures count): a
 * node whose key was made after this one started is admitted, a key whose
 * files were removed is refused from now on. On an error the keys in use
 * stay. Runs on the loop thread, like every reader of these keyrings. */
static int gossip_keys_reload(node *n)
{
    if (!g_gk || !g_keys_dir)
        return 0;
    wp_err err;
    wp_err_clear(&err);
    size_t count = 0;
    if (wp_keys_reload(&g_gk->ring, n->zap, g_keys_dir, &count, &err) != WP_OK) {
        WP_WARN(n->id, "SIGHUP: keys not reloaded, the old ones stay: %s", wp_err_text(&err));
        return -1;
    }
    WP_INFO(n->id, "SIGHUP: %zu keys reloaded from %s", count, g_keys_dir);
    return 0;
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    (void)gossip_keys_reload(s->data);
}

static int gossip_keys_load(gossip_keys *gk, const char *dir, const char *id, wp_err *err)
{
    char path[4096];
    wp_keyring_init(&gk->ring);
    int k = snprintf(path, sizeof path, "%s/%s.key", dir, id);
    if (k < 0 || (size_t)k >= sizeof path)
        return wp_errf(err, WP_EINVAL, "key directory path too long");
    int rv = wp_key_load(&gk->self, path, err);
    if (rv != WP_OK)
        return rv;
    if (!gk->self.has_secret || gk->self.role != WP_ROLE_NODE)
        return wp_errf(err, WP_EINVAL, "%s: a node needs its secret key with role node", path);
    return wp_keyring_load_dir(&gk->ring, dir, err);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"city", required_argument, NULL, 'c'},
        {"id", required_argument, NULL, 'i'},
        {"bind", required_argument, NULL, 'b'},
        {"advertise", required_argument, NULL, 30},
        {"join", required_argument, NULL, 'j'},
        {"gpus", required_argument, NULL, 'g'},
        {"gpu-mem-gb", required_argument, NULL, 'm'},
        {"emulate-wan", no_argument, NULL, 'w'},
        {"state-dir", required_argument, NULL, 's'},
        {"admin", required_argument, NULL, 'a'},
        {"probe-interval-ms", required_argument, NULL, 1},
        {"probe-timeout-ms", required_argument, NULL, 2},
        {"gossip-interval-ms", required_argument, NULL, 3},
        {"push-pull-s", required_argument, NULL, 4},
        {"dead-reap-s", required_argument, NULL, 5},
        {"log-level", required_argument, NULL, 6},
        {"request", required_argument, NULL, 7},
        {"placement", required_argument, NULL, 8},
        {"gpu-backend", required_argument, NULL, 9},
        {"model-file", required_argument, NULL, 10},
        {"hop-timeout-floor-ms", required_argument, NULL, 11},
        {"queue-per-slot", required_argument, NULL, 13},
        {"rtt-params", required_argument, NULL, 12},
        {"gpu-threads", required_argument, NULL, 14},
        {"metrics", required_argument, NULL, 15},
        {"keys", required_argument, NULL, 16},
        {"insecure", no_argument, NULL, 17},
        {"public-inference", no_argument, NULL, 18},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static node nd;
    node *n = &nd;
    memset(n, 0, sizeof *n);
    n->my_city = -1;
    n->gpu_tfd = -1;
    const char *city = NULL, *id = NULL, *bind = NULL, *join = NULL, *admin = NULL;
    const char *advertise = NULL;
    const char *request = NULL, *placement = NULL, *rtt_params = NULL, *metrics = NULL;
    const char *keys_dir = NULL;
    bool insecure = false, public_inference = false;
    int gpu_kind = -1;
    char mf_name[32][WP_NAME_MAX];
    const char *mf_path[32];
    size_t n_mf = 0;
    n->hop_floor_ns = 250 * WP_NS_PER_MS;
    n->self_rn = -1;
    int64_t gpus = 0;
    double mem_gb = 0, queue_per_slot = WP_ROUTER_QUEUE_PER_SLOT_DEFAULT;
    uint32_t gpu_threads = 0;
    wp_gossip_config cfg;
    wp_gossip_config_default(&cfg);
    bool timeout_given = false, gossip_given = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        uint64_t v;
        switch (c) {
        case 'c': city = optarg; break;
        case 'i': id = optarg; break;
        case 'b': bind = optarg; break;
        case 30: advertise = optarg; break;
        case 'j': join = optarg; break;
        case 'a': admin = optarg; break;
        case 'w': n->emulate_wan = true; break;
        case 's':
            if (strlen(optarg) >= sizeof n->state_dir - 32)
                return usage_error("--state-dir path too long: '%s'", optarg);
            snprintf(n->state_dir, sizeof n->state_dir, "%s", optarg);
            break;
        case 'g':
            if (wp_parse_int64(optarg, &gpus) || gpus < 0 || gpus > 1024)
                return usage_error("--gpus must be 0..1024, got '%s'", optarg);
            break;
        case 'm':
            if (wp_parse_double(optarg, &mem_gb) || !(mem_gb >= 0 && mem_gb <= 1e6))
                return usage_error("--gpu-mem-gb must be 0..1000000, got '%s'", optarg);
            break;
        case 1:
            if (parse_ms(optarg, 10, 600000, &cfg.probe_interval_ns))
                return usage_error("--probe-interval-ms must be 10..600000, got '%s'", optarg);
            break;
        case 2:
            if (parse_ms(optarg, 1, 600000, &cfg.probe_timeout_ns))
                return usage_error("--probe-timeout-ms must be 1..600000, got '%s'", optarg);
            timeout_given = true;
            break;
        case 3:
            if (parse_ms(optarg, 1, 600000, &cfg.gossip_interval_ns))
                return usage_error("--gossip-interval-ms must be 1..600000, got '%s'", optarg);
            gossip_given = true;
            break;
        case 4:
            if (wp_parse_u64(optarg, &v) || v < 1 || v > 86400)
                return usage_error("--push-pull-s must be 1..86400, got '%s'", optarg);
            cfg.push_pull_interval_ns = v * WP_NS_PER_S;
            break;
        case 5:
            if (wp_parse_u64(optarg, &v) || v < 1 || v > 86400)
                return usage_error("--dead-reap-s must be 1..86400, got '%s'", optarg);
            cfg.gossip_to_dead_ns = v * WP_NS_PER_S;
            break;
        case 6: {
            int l = wp_log_level_parse(optarg);
            if (l < 0)
                return usage_error("unknown --log-level '%s'", optarg);
            wp_log_set_level(l);
            break;
        }
        case 7: request = optarg; break;
        case 8: placement = optarg; break;
        case 12: rtt_params = optarg; break;
        case 9:
            if (wp_gpu_kind_parse(optarg, &gpu_kind) != WP_OK)
                return usage_error("--gpu-backend must be cuda, cpu or model, got '%s'", optarg);
            break;
        case 10: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || (size_t)(eq - optarg) >= WP_NAME_MAX)
                return usage_error("--model-file wants NAME=PATH, got '%s'", optarg);
            if (n_mf == WP_ARRAY_LEN(mf_name))
                return usage_error("at most %zu --model-file", WP_ARRAY_LEN(mf_name));
            snprintf(mf_name[n_mf], WP_NAME_MAX, "%.*s", (int)(eq - optarg), optarg);
            mf_path[n_mf++] = eq + 1;
            break;
        }
        case 11:
            if (parse_ms(optarg, 1, 600000, &n->hop_floor_ns))
                return usage_error("--hop-timeout-floor-ms must be 1..600000, got '%s'", optarg);
            break;
        case 13:
            if (wp_parse_double(optarg, &queue_per_slot) != WP_OK || !(queue_per_slot >= 0) ||
                queue_per_slot > 1000)
                return usage_error("--queue-per-slot must be 0..1000, got '%s'", optarg);
            break;
        case 14:
            if (wp_parse_u64(optarg, &v) || v > 1024)
                return usage_error("--gpu-threads must be 0..1024, got '%s'", optarg);
            gpu_threads = (uint32_t)v;
            break;
        case 15: metrics = optarg; break;
        case 16: keys_dir = optarg; break;
        case 17: insecure = true; break;
        case 18: public_inference = true; break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(usage_keys, stdout);
            return 0;
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!city)
        return usage_error("%s", "--city is required");
    if (!bind)
        return usage_error("%s", "--bind is required");
    if (keys_dir && insecure)
        return usage_error("%s", "--keys and --insecure exclude each other");
    if (public_inference && !keys_dir)
        return usage_error("%s", "--public-inference needs --keys DIR");
    /* A faster probe interval given alone scales the other timers with it. */
    if (!timeout_given && cfg.probe_timeout_ns >= cfg.probe_interval_ns)
        cfg.probe_timeout_ns = cfg.probe_interval_ns / 2;
    if (!gossip_given && cfg.gossip_interval_ns > cfg.probe_interval_ns / 5)
        cfg.gossip_interval_ns = cfg.probe_interval_ns / 5;
    wp_err err;
    wp_err_clear(&err);
    if (wp_gossip_config_check(&cfg, &err))
        return usage_error("%s", wp_err_text(&err));

    /* The RTT model for WAN emulation: --rtt-params FILE, else the v2 default. */
    wp_rtt_params rtt;
    wp_rtt_params_default(&rtt);
    if (rtt_params && wp_rtt_params_load(rtt_params, &rtt, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        return 2;
    }
    if (wp_topo_load_preset("edge", &rtt, &n->topo, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        return 1;
    }
    n->my_city = wp_topo_find(n->topo, city);
    if (n->my_city < 0) {
        fprintf(stderr, "wp-node: unknown city '%s' (not in the edge preset)\n", city);
        wp_topo_free(n->topo);
        return 2;
    }
    snprintf(n->city, sizeof n->city, "%s", wp_topo_city(n->topo, (size_t)n->my_city)->code);
    /* Bound addresses here, advertised ones in n (node_int.h). */
    char gossip_bind[WP_GOSSIP_ADDR_MAX], admin_bind[WP_GOSSIP_ADDR_MAX] = "";
    char request_bind[WP_GOSSIP_ADDR_MAX] = "";
    if (wp_endpoint_normalize(bind, gossip_bind, sizeof gossip_bind) ||
        wp_endpoint_normalize(advertise ? advertise : bind, n->bind_addr, sizeof n->bind_addr) ||
        (admin && wp_endpoint_normalize(admin, admin_bind, sizeof admin_bind)) ||
        (request && wp_endpoint_normalize(request, request_bind, sizeof request_bind))) {
        wp_topo_free(n->topo);
        return usage_error("%s", "address too long or empty");
    }
    if (wp_endpoint_is_wildcard(n->bind_addr)) {
        wp_topo_free(n->topo);
        return usage_error("%s can be bound but not sent to: give --advertise HOST:PORT, the "
                           "address the others reach this node at", n->bind_addr);
    }
    if ((admin_bind[0] && wp_endpoint_with_host(admin_bind, wp_endpoint_is_wildcard(admin_bind)
                                                    ? n->bind_addr : admin_bind,
                                                n->admin_addr, sizeof n->admin_addr)) ||
        (request_bind[0] &&
         wp_endpoint_with_host(request_bind, wp_endpoint_is_wildcard(request_bind)
                                                 ? n->bind_addr : request_bind,
                               n->request_addr, sizeof n->request_addr))) {
        wp_topo_free(n->topo);
        return usage_error("%s", "address too long");
    }
    if (id) {
        if (!id[0] || strlen(id) >= WP_NAME_MAX) {
            wp_topo_free(n->topo);
            return usage_error("--id must be 1..63 bytes, got '%s'", id);
        }
        snprintf(n->id, sizeof n->id, "%s", id);
    } else {
        const char *port = strrchr(n->bind_addr, ':');
        snprintf(n->id, sizeof n->id, "%.31s-%.30s", n->city, port ? port + 1 : "0");
        for (char *p = n->id; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    char *join_copy = NULL;
    if (join) {
        join_copy = strdup(join);
        size_t cnt = 1;
        for (const char *p = join; *p; p++)
            cnt += *p == ',';
        n->joins = calloc(cnt, sizeof *n->joins);
        for (char *tok = strtok(join_copy, ","); tok; tok = strtok(NULL, ",")) {
            char a[WP_GOSSIP_ADDR_MAX];
            if (wp_endpoint_normalize(tok, a, sizeof a) == WP_OK)
                n->joins[n->n_joins++] = strdup(a);
        }
        free(join_copy);
    }

    uint64_t inc = 0;
    int rc = 1;
    if (load_incarnation(n, &inc, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        goto out_early;
    }
    inc++;
    if (persist_incarnation(n, inc) != WP_OK) {
        fprintf(stderr, "wp-node: cannot write %s/incarnation\n", n->state_dir);
        goto out_early;
    }
    if (metrics && nm_open(n, metrics, &err) != WP_OK) {
        fprintf(stderr, "wp-node: --metrics: %s\n", wp_err_text(&err));
        goto out_early;
    }

    n->started_ns = wp_clock_monotonic_ns();
    wp_rng_seed(&n->rng, n->started_ns ^ ((uint64_t)getpid() << 32));
    n->logger = (wp_logger){.fn = core_log, .ctx = n, .level = wp_log_level_global};
    wp_gossip_capacity cap;
    memset(&cap, 0, sizeof cap);
    cap.version = 1;
    cap.gpus = (uint32_t)gpus;
    cap.gpu_mem_free_bytes = (uint64_t)(mem_gb * 1073741824.0);
    /* A cpu/cuda node can load nothing until its checkpoints are known
     * (the capacity timer lists them); a timing-model node, the catalog. */
    cap.servable_listed = (gpu_kind >= 0 ? gpu_kind : wp_gpu_kind_default()) != WP_GPU_MODEL;
    wp_gossip_self self = {.id = n->id, .city = n->city, .addr = n->bind_addr,
                           .incarnation = inc, .cap = &cap};
    static gossip_keys gk;
    wp_gossip_auth gauth = {gossip_sign, gossip_verify, &gk};
    if (keys_dir) {
        if (gossip_keys_load(&gk, keys_dir, n->id, &err) != WP_OK) {
            fprintf(stderr, "wp-node: --keys: %s\n", wp_err_text(&err));
            goto out_early;
        }
        self.auth = &gauth;
        g_gk = &gk;
        g_keys_dir = keys_dir;
        WP_INFO("node", "%s: gossip records signed with key %s; %zu keys in %s", n->id,
                gk.self.name, gk.ring.count, keys_dir);
    } else {
        WP_WARN("node", "%s: gossip records are NOT signed and ZeroMQ is NOT encrypted or "
                "authenticated (%s): anyone who reaches a port can speak for any member, "
                "drain and send requests", n->id, insecure ? "--insecure" : "no --keys");
    }
    if (wp_gossip_new(&cfg, &self, n->started_ns, &n->rng, &n->logger, NULL, &n->g, &err)) {
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
        goto out_early;
    }
    n->peers = calloc(MAX_PEERS, sizeof *n->peers);
    n->zctx = zmq_ctx_new();
    if (!n->peers || !n->zctx) {
        fprintf(stderr, "wp-node: out of memory\n");
        goto out_core;
    }
    /* One PUSH socket per peer: raise ZeroMQ's default cap of 1023 sockets
     * (file descriptors, `ulimit -n`, are then the limit). */
    zmq_ctx_set(n->zctx, ZMQ_MAX_SOCKETS, (int)MAX_PEERS + 16);
    /* CurveZMQ: the ZAP handler before any listening socket exists. */
    if (keys_dir) {
        if (wp_zap_start(n->zctx, keys_dir, public_inference, n->id, &n->zap, &err) != WP_OK ||
            wp_curve_id_from(&n->cid, &gk.self, keys_dir, &err) != WP_OK) {
            fprintf(stderr, "wp-node: --keys: %s\n", wp_err_text(&err));
            goto out_zmq;
        }
        n->curve = true;
        WP_INFO("node", "%s: CurveZMQ on every socket (server key %s/cluster.key; this node "
                "connects as %s)%s", n->id, keys_dir, n->cid.name,
                public_inference ? "; --public-inference: any client key on --request" : "");
    }
    /* Every socket gets LINGER 0, high-water marks and ZMQ_MAXMSGSIZE
     * (checked: node_zsocket); binds retry briefly while the port is in
     * use (a restart racing its old self, a test's port helper racing the
     * kernel). Limits and what happens at them: transport.c's essay. */
    n->pull = node_zsocket(n, ZMQ_PULL, 10000, (int64_t)WP_FRAME_MAX_BYTES);
    if (!n->pull || (n->zap && wp_zap_server(n->zap, n->pull, WP_ZSOCK_GOSSIP, true, &err)))
        goto out_zmq_err;
    if (node_bind(n->pull, gossip_bind) != 0) {
        fprintf(stderr, "wp-node: bind %s: %s\n", gossip_bind, zmq_strerror(zmq_errno()));
        goto out_zmq;
    }
    if (n->admin_addr[0]) {
        /* A ROUTER (admin.c says why not REP). */
        n->admin = node_zsocket(n, ZMQ_ROUTER, ADMIN_HWM,
                                (int64_t)(WP_FRAME_MAX_BYTES + WP_ADMIN_HDR_BYTES));
        if (!n->admin ||
            (n->zap && wp_zap_server(n->zap, n->admin, WP_ZSOCK_ADMIN, true, &err)))
            goto out_zmq_err;
        if (node_bind(n->admin, admin_bind) != 0) {
            fprintf(stderr, "wp-node: bind admin %s: %s\n", admin_bind,
                    zmq_strerror(zmq_errno()));
            goto out_zmq;
        }
        n->admin_on = true;
    }
    if (n->request_addr[0]) {
        /* Frames up to 4 x the cap are read and answered BAD_REQUEST (the
         * header check refuses them); beyond that ZeroMQ drops the
         * connection before we see anything. */
        n->rsock = node_zsocket(n, ZMQ_ROUTER, CLIENT_HWM, 4 * (int64_t)WP_FRAME_MAX_BYTES);
        if (!n->rsock ||
            (n->zap && wp_zap_server(n->zap, n->rsock, WP_ZSOCK_REQUEST, true, &err)))
            goto out_zmq_err;
        /* A send to a client that is gone fails (EHOSTUNREACH) instead of
         * vanishing: a streamed request ends when its client left. */
        int one = 1;
        zmq_setsockopt(n->rsock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        if (node_bind(n->rsock, request_bind) != 0) {
            fprintf(stderr, "wp-node: bind request %s: %s\n", request_bind,
                    zmq_strerror(zmq_errno()));
            goto out_zmq;
        }
        n->rsock_on = true;
    }
    /* The request path: router view over the edge preset's cities, the
     * catalog (the simulator's default models; placement adds its own),
     * the GPU worker, the pending-request table. */
    {
        wp_router_config rc_cfg = {.ncities = wp_topo_count(n->topo), .rtt_ms = rtt_fn,
                                   .rtt_ctx = n->topo, .queue_per_slot = queue_per_slot,
                                   .report_period_ns = LOAD_PERIOD_MS * WP_NS_PER_MS};
        n->gpu_kind = gpu_kind >= 0 ? gpu_kind : wp_gpu_kind_default();
        n->gpus = (uint32_t)gpus;
        n->gpu_cap_bytes = (uint64_t)(mem_gb * 1073741824.0);
        n->tx = malloc(WP_INFER_HDR_BYTES + WP_FRAME_MAX_BYTES);
        if (!n->tx || wp_router_view_new(&rc_cfg, &n->view, &err) ||
            wp_reqtab_new(ING_CAPACITY, &n->ing, &err) ||
            wp_router_sends_new(&n->sends, &err)) {
            fprintf(stderr, "wp-node: request path: %s\n", wp_err_text(&err));
            goto out_zmq;
        }
        wp_gpu_worker_config wc = {.kind = n->gpu_kind, .capacity_bytes = n->gpu_cap_bytes,
                                   .max_batch = WP_RES_MAX_BATCH, .max_queue = 4096,
                                   .on_done = on_gpu_done, .ctx = n, .log = n->logger,
                                   .gpus = n->gpus, .threads = gpu_threads,
                                   .on_progress = on_gpu_progress};
        if (n->gpu_cap_bytes == 0 || n->gpus == 0) {
            n->gw = NULL; /* no GPU memory: an ingress only, never a target */
        } else if (wp_gpu_worker_new(&wc, &n->gw, &err)) {
            fprintf(stderr, "wp-node: GPU worker (%s): %s\n", wp_gpu_kind_name(n->gpu_kind),
                    wp_err_text(&err));
            goto out_zmq;
        }
        for (size_t i = 0; i < wp_catalog_count(); i++)
            model_register(n, wp_catalog_model(i));
        for (size_t i = 0; i < n_mf; i++) {
            if (n->gpu_kind == WP_GPU_MODEL) {
                fprintf(stderr, "wp-node: --model-file needs --gpu-backend cpu or cuda (the "
                                "timing model uses the catalog's profiles)\n");
                goto out_zmq;
            }
            if (!n->gw) {
                fprintf(stderr, "wp-node: --model-file needs --gpus and --gpu-mem-gb\n");
                goto out_zmq;
            }
            if (wp_gpu_worker_add_model(n->gw, mf_name[i], mf_path[i], NULL, &err)) {
                fprintf(stderr, "wp-node: --model-file %s: %s\n", mf_name[i], wp_err_text(&err));
                goto out_zmq;
            }
            int mi = wp_router_model_find(n->view, mf_name[i]);
            if (mi < 0) {
                /* Not in the catalog: a profile for routing estimates only. */
                wp_llama_config lc;
                wp_model_profile p;
                memset(&p, 0, sizeof p);
                snprintf(p.name, sizeof p.name, "%s", mf_name[i]);
                if (wp_llama_read_config(mf_path[i], &lc, &err) == WP_OK)
                    p.size_bytes = wp_llama_mem_bytes(&lc);
                p.prefill_base_ms = 1;
                p.prefill_ms_per_token = 0.1;
                p.decode_ms_per_token = 5;
                p.slots_per_gpu = 1;
                p.load_bytes_per_s = 1e9;
                p.load_fixed_ms = 50;
                p.typical_in_tokens = 16;
                p.typical_out_tokens = 16;
                mi = model_register(n, &p);
            }
            if (mi >= 0)
                n->served[mi] = true;
        }
        /* Its checkpoints into its record before anyone routes to it (the
         * record started listing none). */
        {
            wp_gossip_capacity sc = wp_gossip_self_member(n->g)->cap;
            cap_servable(n, &sc);
            wp_gossip_set_capacity(n->g, wp_clock_monotonic_ns(), &sc);
        }
        if (placement && wp_placement_client_new_list(placement, 800, &n->pc, &err)) {
            fprintf(stderr, "wp-node: --placement: %s\n", wp_err_text(&err));
            goto out_zmq;
        }
        if (n->pc) /* its own key, never $WP_KEY's; plain with --insecure */
            wp_placement_client_set_curve(n->pc, n->curve ? &n->cid : NULL);
    }

    n->gpu_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (n->gpu_tfd < 0) {
        fprintf(stderr, "wp-node: GPU timer (timerfd_create): %s\n", strerror(errno));
        goto out_zmq;
    }
    uv_loop_init(&n->loop);
    int fd;
    size_t fdsz = sizeof fd;
    zmq_getsockopt(n->pull, ZMQ_FD, &fd, &fdsz);
    uv_poll_init(&n->loop, &n->pull_poll, fd);
    n->pull_poll.data = n;
    uv_poll_start(&n->pull_poll, UV_READABLE, on_pull_poll);
    if (n->admin_on) {
        fdsz = sizeof fd;
        zmq_getsockopt(n->admin, ZMQ_FD, &fd, &fdsz);
        uv_poll_init(&n->loop, &n->admin_poll, fd);
        n->admin_poll.data = n;
        uv_poll_start(&n->admin_poll, UV_READABLE, on_admin_poll);
    }
    uv_idle_init(&n->loop, &n->drain_idle);
    n->drain_idle.data = n;
    uv_timer_init(&n->loop, &n->gossip_timer);
    n->gossip_timer.data = n;
    wan_init(n);
    uv_timer_init(&n->loop, &n->join_timer);
    n->join_timer.data = n;
    uv_timer_init(&n->loop, &n->sweep_timer);
    n->sweep_timer.data = n;
    uv_timer_start(&n->sweep_timer, on_sweep_timer, 10000, 10000);
    uv_signal_init(&n->loop, &n->sig_int);
    n->sig_int.data = n;
    uv_signal_start(&n->sig_int, on_signal, SIGINT);
    uv_signal_init(&n->loop, &n->sig_term);
    n->sig_term.data = n;
    uv_signal_start(&n->sig_term, on_signal, SIGTERM);
    uv_signal_init(&n->loop, &n->sig_hup);
    n->sig_hup.data = n;
    uv_signal_start(&n->sig_hup, on_hup, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    if (n->rsock_on) {
        fdsz = sizeof fd;
        zmq_getsockopt(n->rsock, ZMQ_FD, &fd, &fdsz);
        uv_poll_init(&n->loop, &n->rsock_poll, fd);
        n->rsock_poll.data = n;
        uv_poll_start(&n->rsock_poll, UV_READABLE, on_rsock_poll);
    }
    uv_timer_init(&n->loop, &n->req_timer);
    n->req_timer.data = n;
    n->req_timer_at = UINT64_MAX;
    uv_timer_init(&n->loop, &n->view_timer);
    n->view_timer.data = n;
    uv_timer_start(&n->view_timer, on_view_timer, 0, LOAD_PERIOD_MS);
    uv_poll_init(&n->loop, &n->gpu_timer, n->gpu_tfd); /* a valid fd: cannot fail */
    n->gpu_timer.data = n;
    n->gpu_timer_at = UINT64_MAX;
    uv_poll_start(&n->gpu_timer, UV_READABLE, on_gpu_timer);
    uv_timer_init(&n->loop, &n->cap_timer);
    n->cap_timer.data = n;
    uv_timer_start(&n->cap_timer, on_cap_timer, 50, 200);
    uv_timer_init(&n->loop, &n->pl_timer);
    n->pl_timer.data = n;
    if (n->pc)
        uv_timer_start(&n->pl_timer, on_pl_timer, 0, 1000);
    if (n->gpu_kind != WP_GPU_MODEL && n->gw) {
        uv_mutex_init(&n->wmu);
        uv_cond_init(&n->wcond);
        uv_async_init(&n->loop, &n->wasync, on_wasync);
        n->wasync.data = n;
        if (uv_thread_create(&n->wthread, wthread_main, n) == 0)
            n->wthread_on = true;
    }
    view_sync(n);
    nm_start(n);

    char model[256];
    wp_rtt_params_describe(wp_topo_params(n->topo), model, sizeof model);
    WP_INFO(n->id, "up: city %s, gossip %s (bound %s), admin %s, incarnation %llu, wan "
            "emulation %s (RTT model: %s)",
            n->city, n->bind_addr, gossip_bind, n->admin_addr[0] ? n->admin_addr : "off",
            (unsigned long long)inc, n->emulate_wan ? "on" : "off", model);
    WP_INFO(n->id, "request endpoint %s, GPU backend %s, %u GPU(s), %.1f GiB, %zu model(s) in "
            "the catalog, placement %s",
            n->request_addr[0] ? n->request_addr : "off",
            n->gw ? wp_gpu_kind_name(n->gpu_kind) : "none (no GPU memory: ingress only)",
            n->gpus, (double)n->gpu_cap_bytes / 1073741824.0, n->n_cat,
            placement ? placement : "off");
    if (n->n_joins)
        uv_timer_start(&n->join_timer, on_join_timer, 0, 1000);
    arm_gossip_timer(n);
    /* Bind done: check the edges once before waiting on them. */
    drain_pull(n);
    drain_admin(n);
    drain_rsock(n);

    uv_run(&n->loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&n->loop);
    if (lc != 0)
        WP_ERROR(n->id, "uv_loop_close: %s", uv_strerror(lc));
    rc = lc == 0 ? 0 : 1;
    goto out_zmq;
out_zmq_err:
    if (err.code)
        fprintf(stderr, "wp-node: %s\n", wp_err_text(&err));
out_zmq:
    if (n->gpu_tfd >= 0) /* after the loop closed its poll handle */
        close(n->gpu_tfd);
    for (size_t i = 0; i < n->n_peers; i++) {
        int linger = 300;
        zmq_setsockopt(n->peers[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(n->peers[i].sock);
    }
    if (n->pull)
        zmq_close(n->pull);
    if (n->admin)
        zmq_close(n->admin);
    if (n->rsock) {
        int linger = 500; /* the SHUTTING_DOWN answers get out */
        zmq_setsockopt(n->rsock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(n->rsock);
    }
    if (n->wthread_on) { /* an early exit before the loop ran */
        uv_mutex_lock(&n->wmu);
        n->wquit = true;
        uv_cond_signal(&n->wcond);
        uv_mutex_unlock(&n->wmu);
        uv_thread_join(&n->wthread);
    }
    wp_placement_client_free(n->pc);
    free(n->rate_count);
    free(n->pl_rates);
    free(n->pl_models);
    free(n->pl_cat);
    wp_gpu_worker_free(n->gw);
    while (n->jobs) {
        tgt_job *j = n->jobs;
        job_unlink(n, j);
        job_free(j);
    }
    {
        uint64_t hop;
        void *u;
        while (n->ing && wp_reqtab_first(n->ing, &hop, &u)) {
            wp_reqtab_close(n->ing, hop);
            ing_free(u);
        }
    }
    wan_close(n);
    wp_reqtab_free(n->ing);
    wp_router_view_free(n->view);
    wp_router_sends_free(n->sends);
    free(n->rn);
    free(n->cat);
    free(n->served);
    free(n->tx);
    wp_zap_stop(n->zap); /* after every socket it monitors is closed */
    wp_curve_id_clear(&n->cid);
    zmq_ctx_term(n->zctx);
out_core:
    free(n->peers);
    wp_gossip_free(n->g);
out_early:
    nm_free(n);
    for (size_t i = 0; i < n->n_joins; i++)
        free(n->joins[i]);
    free(n->joins);
    wp_topo_free(n->topo);
    if (rc == 0)
        WP_INFO(n->id, "stopped cleanly");
    return rc;
}
