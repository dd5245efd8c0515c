/* curve.c — CurveZMQ for warmpath's sockets: client identities, and the
 * ZAP handler that admits the cluster's keys by socket role (auth.h).
 *
 * One thread per process (per ZeroMQ context) answers ZAP requests on
 * inproc://zeromq.zap.01 and reads the monitors of the server sockets,
 * in one zmq_poll with a 100 ms timeout (how often it looks at its stop
 * flag). Work per request is bounded: at most ZAP_MAX_FRAMES frames are
 * read, the credentials are one 32-byte key looked up in a keyring of at
 * most WP_KEYRING_MAX keys (a linear scan, constant-time compares), and
 * the reply is six short frames. libzmq holds a connection's handshake
 * until its ZAP reply comes, so a flood of handshakes waits in libzmq
 * (bounded by the REP socket's high-water mark), never in our memory.
 *
 * A refusal is counted per socket role, and logged at most once a second
 * per role ("... and N more since"): a port scan or a misconfigured host
 * does not flood the log. ZAP refusals and handshakes that failed before
 * ZAP (a peer speaking plain ZMTP or CURVE with the wrong server key: the
 * monitor's HANDSHAKE_FAILED_PROTOCOL / NO_DETAIL events) are counted in
 * the same counter; HANDSHAKE_FAILED_AUTH is ZAP's own refusal and is not
 * counted twice. */
#include "auth/auth.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 16
#define ZAP_POLL_MS 100
#define ZAP_HWM 1024
#define MON_MAX 8
#define LOG_EVERY_NS 1000000000ULL

static const char *const ZSOCK_NAMES[WP_ZSOCK_COUNT] = {"gossip", "admin", "request",
                                                         "placement"};

const char *wp_zsock_name(wp_zsock s)
{
    return (unsigned)s < WP_ZSOCK_COUNT ? ZSOCK_NAMES[s] : NULL;
}

bool wp_zsock_admits(wp_zsock s, int role, bool public_inference)
{
    switch (s) {
    case WP_ZSOCK_GOSSIP:
        return role == WP_ROLE_NODE;
    case WP_ZSOCK_ADMIN:
        return role == WP_ROLE_OPERATOR;
    case WP_ZSOCK_REQUEST:
        return public_inference || role == WP_ROLE_CLIENT || role == WP_ROLE_NODE ||
               role == WP_ROLE_OPERATOR;
    case WP_ZSOCK_PLACEMENT:
        return role == WP_ROLE_NODE || role == WP_ROLE_OPERATOR || role == WP_ROLE_PLACEMENT;
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- client ids */

int wp_curve_id_from(wp_curve_id *id, const wp_key *k, const char *dir, wp_err *err)
{
    memset(id, 0, sizeof *id);
    if (!k->has_secret)
        return wp_errf(err, WP_EINVAL, "key %s: no secret part", k->name);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/cluster.pub", dir) >= sizeof path)
        return wp_errf(err, WP_ETOOBIG, "%s: path too long", dir);
    wp_key srv;
    int rv = wp_key_load(&srv, path, err);
    if (rv != WP_OK)
        return wp_err_wrap(err, "the cluster's server key");
    if (srv.role != WP_ROLE_SERVER)
        return wp_errf(err, WP_EINVAL, "%s: role %s, expected server", path,
                       wp_key_role_name(srv.role));
    snprintf(id->name, sizeof id->name, "%s", k->name);
    id->role = k->role;
    wp_key_z85(srv.curve_pk, id->server_public);
    wp_key_z85(k->curve_pk, id->public_key);
    wp_key_z85(k->curve_sk, id->secret_key);
    sodium_memzero(&srv, sizeof srv);
    return WP_OK;
}

int wp_curve_id_load(wp_curve_id *id, const char *key_path, wp_err *err)
{
    wp_key k;
    int rv = wp_key_load(&k, key_path, err);
    if (rv != WP_OK)
        return rv;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", key_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    rv = wp_curve_id_from(id, &k, dir, err);
    sodium_memzero(&k, sizeof k);
    return rv;
}

int wp_curve_id_from_env(wp_curve_id *id, wp_err *err)
{
    const char *p = getenv("WP_KEY");
    if (!p || !p[0])
        return 0;
    int rv = wp_curve_id_load(id, p, err);
    if (rv != WP_OK) {
        wp_err_wrap(err, "$WP_KEY (%s)", p);
        return -1;
    }
    return 1;
}

void wp_curve_id_clear(wp_curve_id *id)
{
    sodium_memzero(id, sizeof *id);
}

int wp_curve_id_apply(const wp_curve_id *id, void *sock)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, id->server_public, WP_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, id->public_key, WP_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, id->secret_key, WP_KEY_Z85_LEN) != 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- ZAP */

typedef struct {
    void *pair;
    wp_zsock role;
} zap_mon;

struct wp_zap {
    void *zctx;
    void *rep;
    char component[64];
    bool public_inference;
    wp_keyring ring;     /* swapped by wp_zap_reload under ring_mu; the
                          * thread looks keys up under it */
    pthread_mutex_t ring_mu;
    char dir[4096];      /* the key directory, for wp_zap_reload */
    char server_secret[WP_KEY_Z85_LEN + 1];
    pthread_t thread;
    bool thread_on;
    atomic_bool stop;
    atomic_uint_fast64_t refused[WP_ZSOCK_COUNT];
    atomic_uint_fast64_t admitted;
    /* monitors handed to the thread (under mu), and the thread's own */
    pthread_mutex_t mu;
    zap_mon handed[MON_MAX];
    size_t n_handed;
    zap_mon mons[MON_MAX];
    size_t n_mons;
    unsigned mon_seq;
    /* rate-limited logging (thread only) */
    uint64_t last_log_ns[WP_ZSOCK_COUNT];
    uint64_t suppressed[WP_ZSOCK_COUNT];
};

void wp_zap_count(wp_zap *z, wp_zsock s)
{
    if (z && (unsigned)s < WP_ZSOCK_COUNT)
        atomic_fetch_add(&z->refused[s], 1);
}

uint64_t wp_zap_refused(const wp_zap *z, wp_zsock s)
{
    if (!z || (unsigned)s >= WP_ZSOCK_COUNT)
        return 0;
    return atomic_load(&((wp_zap *)z)->refused[s]);
}

uint64_t wp_zap_admitted(const wp_zap *z)
{
    return z ? atomic_load(&((wp_zap *)z)->admitted) : 0;
}

/* Counts, and logs at most once a second per socket role. */
static void refuse(wp_zap *z, wp_zsock s, const char *what)
{
    wp_zap_count(z, s);
    uint64_t now = wp_clock_monotonic_ns();
    if (z->last_log_ns[s] && now - z->last_log_ns[s] < LOG_EVERY_NS) {
        z->suppressed[s]++;
        return;
    }
    if (z->suppressed[s])
        WP_WARN(z->component, "refused a connection on the %s socket: %s (and %llu more in the "
                "last %.1f s)", wp_zsock_name(s), what, (unsigned long long)z->suppressed[s],
                (double)(now - z->last_log_ns[s]) / 1e9);
    else
        WP_WARN(z->component, "refused a connection on the %s socket: %s", wp_zsock_name(s),
                what);
    z->last_log_ns[s] = now;
    z->suppressed[s] = 0;
}

static void reply(void *rep, const zmq_msg_t *req_id, const char *code, const char *text,
                  const char *user)
{
    zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(rep, zmq_msg_data((zmq_msg_t *)req_id), zmq_msg_size((zmq_msg_t *)req_id),
             ZMQ_SNDMORE);
    zmq_send(rep, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(rep, "", 0, 0);
}

static void frame_text(const zmq_msg_t *m, char *out, size_t cap)
{
    size_t n = zmq_msg_size((zmq_msg_t *)m);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, zmq_msg_data((zmq_msg_t *)m), n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
            out[i] = '?';
}

/* One ZAP request: version, request id, domain, address, identity,
 * mechanism, credentials... (RFC 27). */
static void handle_zap(wp_zap *z)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    size_t n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->rep, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_MAX_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (n < 6) {
        /* Not a ZAP request: a REP socket must still answer something. */
        if (n >= 2)
            reply(z->rep, &f[1], "500", "malformed request", "");
        else {
            zmq_msg_t empty;
            zmq_msg_init(&empty);
            reply(z->rep, &empty, "500", "malformed request", "");
            zmq_msg_close(&empty);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return;
    }
    char domain[32], address[64], mech[16];
    frame_text(&f[2], domain, sizeof domain);
    frame_text(&f[3], address, sizeof address);
    frame_text(&f[5], mech, sizeof mech);
    int s = -1;
    for (int i = 0; i < WP_ZSOCK_COUNT; i++)
        if (strcmp(domain, ZSOCK_NAMES[i]) == 0)
            s = i;
    if (s < 0) {
        reply(z->rep, &f[1], "400", "unknown domain", "");
    } else if (strcmp(mech, "CURVE") != 0 || n < 7 ||
               zmq_msg_size(&f[6]) != WP_KEY_BYTES) {
        char what[128];
        snprintf(what, sizeof what, "mechanism %s from %s, CURVE expected", mech, address);
        refuse(z, (wp_zsock)s, what);
        reply(z->rep, &f[1], "400", "CURVE required", "");
    } else {
        pthread_mutex_lock(&z->ring_mu);
        const wp_key *k = wp_keyring_by_curve(&z->ring, zmq_msg_data(&f[6]));
        int role = k ? (int)k->role : -1;
        char name[WP_KEY_NAME_MAX] = "", rname[16] = "";
        if (k) {
            snprintf(name, sizeof name, "%s", k->name);
            snprintf(rname, sizeof rname, "%s", wp_key_role_name(k->role));
        }
        pthread_mutex_unlock(&z->ring_mu);
        if (wp_zsock_admits((wp_zsock)s, role, z->public_inference)) {
            atomic_fetch_add(&z->admitted, 1);
            reply(z->rep, &f[1], "200", "OK", name);
        } else {
            char who[WP_KEY_NAME_MAX + 32];
            if (role >= 0)
                snprintf(who, sizeof who, "key %s (role %s)", name, rname);
            else
                snprintf(who, sizeof who, "a key not in the keyring");
            char what[256];
            snprintf(what, sizeof what, "%s from %s", who, address);
            refuse(z, (wp_zsock)s, what);
            reply(z->rep, &f[1], "400", "key not admitted", "");
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void handle_monitor(wp_zap *z, zap_mon *mon)
{
    for (int k = 0; k < 256; k++) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t code = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&code, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        char ep[128] = "";
        while (more) { /* the endpoint frame */
            zmq_msg_t a;
            zmq_msg_init(&a);
            if (zmq_msg_recv(&a, mon->pair, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&a);
                break;
            }
            if (!ep[0])
                frame_text(&a, ep, sizeof ep);
            more = zmq_msg_more(&a);
            zmq_msg_close(&a);
        }
        if (code == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            code == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            char what[256];
            snprintf(what, sizeof what,
                     "handshake failed at %s (%s 0x%x: no CURVE, or not this cluster's server "
                     "key)", ep,
                     code == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "errno",
                     (unsigned)value);
            refuse(z, mon->role, what);
        }
    }
}

static void *zap_main(void *arg)
{
    wp_zap *z = arg;
    while (!atomic_load(&z->stop)) {
        pthread_mutex_lock(&z->mu);
        for (size_t i = 0; i < z->n_handed && z->n_mons < MON_MAX; i++)
            z->mons[z->n_mons++] = z->handed[i];
        z->n_handed = 0;
        pthread_mutex_unlock(&z->mu);
        zmq_pollitem_t items[1 + MON_MAX];
        items[0] = (zmq_pollitem_t){.socket = z->rep, .events = ZMQ_POLLIN};
        for (size_t i = 0; i < z->n_mons; i++)
            items[1 + i] = (zmq_pollitem_t){.socket = z->mons[i].pair, .events = ZMQ_POLLIN};
        int rc = zmq_poll(items, (int)(1 + z->n_mons), ZAP_POLL_MS);
        if (rc < 0) {
            if (zmq_errno() == ETERM)
                break;
            continue;
        }
        /* Bounded per round: up to 64 requests, then the monitors. */
        for (int k = 0; k < 64 && (items[0].revents & ZMQ_POLLIN); k++) {
            handle_zap(z);
            int ev = 0;
            size_t sz = sizeof ev;
            if (zmq_getsockopt(z->rep, ZMQ_EVENTS, &ev, &sz) != 0 || !(ev & ZMQ_POLLIN))
                break;
        }
        for (size_t i = 0; i < z->n_mons; i++)
            if (items[1 + i].revents & ZMQ_POLLIN)
                handle_monitor(z, &z->mons[i]);
    }
    return NULL;
}

int wp_zap_start(void *zctx, const char *dir, bool public_inference, const char *component,
                 wp_zap **out, wp_err *err)
{
    *out = NULL;
    wp_zap *z = calloc(1, sizeof *z);
    if (!z)
        return wp_errf(err, WP_ENOMEM, "out of memory");
    z->zctx = zctx;
    z->public_inference = public_inference;
    snprintf(z->component, sizeof z->component, "%s", component ? component : "zap");
    pthread_mutex_init(&z->mu, NULL);
    pthread_mutex_init(&z->ring_mu, NULL);
    wp_keyring_init(&z->ring);
    snprintf(z->dir, sizeof z->dir, "%s", dir);
    char path[4096];
    wp_key srv;
    int rv;
    if ((size_t)snprintf(path, sizeof path, "%s/cluster.key", dir) >= sizeof path) {
        rv = wp_errf(err, WP_ETOOBIG, "%s: path too long", dir);
        goto fail;
    }
    rv = wp_key_load(&srv, path, err);
    if (rv != WP_OK) {
        wp_err_wrap(err, "the cluster's server key (wpctl keys generate cluster --role server)");
        goto fail;
    }
    if (srv.role != WP_ROLE_SERVER || !srv.has_secret) {
        sodium_memzero(&srv, sizeof srv);
        rv = wp_errf(err, WP_EINVAL, "%s: the server key needs role server and its secret", path);
        goto fail;
    }
    wp_key_z85(srv.curve_sk, z->server_secret);
    sodium_memzero(&srv, sizeof srv);
    rv = wp_keyring_load_dir(&z->ring, dir, err);
    if (rv != WP_OK)
        goto fail;
    z->rep = zmq_socket(zctx, ZMQ_REP);
    int zero = 0, hwm = ZAP_HWM;
    if (!z->rep || zmq_setsockopt(z->rep, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(z->rep, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(z->rep, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_bind(z->rep, ZAP_ENDPOINT) != 0) {
        rv = wp_errf(err, WP_EIO, "ZAP handler at %s: %s", ZAP_ENDPOINT,
                     zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&z->thread, NULL, zap_main, z) != 0) {
        rv = wp_errf(err, WP_EIO, "ZAP handler thread: %s", strerror(errno));
        goto fail;
    }
    z->thread_on = true;
    *out = z;
    return WP_OK;
fail:
    wp_zap_stop(z);
    return rv;
}

int wp_zap_server(wp_zap *z, void *sock, wp_zsock s, bool monitor, wp_err *err)
{
    int one = 1;
    const char *dom = wp_zsock_name(s);
    if (!dom)
        return wp_errf(err, WP_EINVAL, "socket role %d", (int)s);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, z->server_secret, WP_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, dom, strlen(dom)) != 0)
        return wp_errf(err, WP_EIO, "CURVE server (%s): %s", dom, zmq_strerror(zmq_errno()));
    if (!monitor)
        return WP_OK;
    pthread_mutex_lock(&z->mu);
    bool room = z->n_mons + z->n_handed < MON_MAX;
    unsigned seq = z->mon_seq++;
    pthread_mutex_unlock(&z->mu);
    if (!room)
        return wp_errf(err, WP_ETOOBIG, "more than %d monitored sockets", MON_MAX);
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://wp-zap-mon-%p-%u", (void *)z, seq);
    void *pair = zmq_socket(z->zctx, ZMQ_PAIR);
    int zero = 0;
    if (!pair ||
        zmq_socket_monitor(sock, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        zmq_setsockopt(pair, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(pair, ep) != 0) {
        if (pair)
            zmq_close(pair);
        return wp_errf(err, WP_EIO, "monitor of the %s socket: %s", dom,
                       zmq_strerror(zmq_errno()));
    }
    pthread_mutex_lock(&z->mu);
    z->handed[z->n_handed++] = (zap_mon){pair, s};
    pthread_mutex_unlock(&z->mu);
    return WP_OK;
}

int wp_zap_reload(wp_zap *z, size_t *count, wp_err *err)
{
    wp_keyring fresh;
    wp_keyring_init(&fresh);
    int rv = wp_keyring_load_dir(&fresh, z->dir, err);
    if (rv != WP_OK) {
        wp_keyring_free(&fresh);
        return rv; /* the keys in use stay */
    }
    pthread_mutex_lock(&z->ring_mu);
    wp_keyring old = z->ring;
    z->ring = fresh;
    pthread_mutex_unlock(&z->ring_mu);
    wp_keyring_free(&old);
    if (count)
        *count = z->ring.count;
    return WP_OK;
}

int wp_keys_reload(wp_keyring *ring, wp_zap *z, const char *dir, size_t *count, wp_err *err)
{
    wp_keyring fresh;
    wp_keyring_init(&fresh);
    int rv = wp_keyring_load_dir(&fresh, dir, err);
    if (rv == WP_OK && z)
        rv = wp_zap_reload(z, NULL, err);
    if (rv != WP_OK) {
        wp_keyring_free(&fresh);
        return rv;
    }
    wp_keyring_free(ring);
    *ring = fresh;
    if (count)
        *count = ring->count;
    return WP_OK;
}

const wp_key *wp_zap_peer(const wp_zap *z, void *zmq_msg)
{
    if (!z || !zmq_msg)
        return NULL;
    const char *user = zmq_msg_gets(zmq_msg, "User-Id");
    if (!user || !user[0])
        return NULL;
    return wp_keyring_by_name(&z->ring, user);
}

void wp_zap_stop(wp_zap *z)
{
    if (!z)
        return;
    if (z->thread_on) {
        atomic_store(&z->stop, true);
        pthread_join(z->thread, NULL);
    }
    pthread_mutex_lock(&z->mu);
    for (size_t i = 0; i < z->n_handed && z->n_mons < MON_MAX; i++)
        z->mons[z->n_mons++] = z->handed[i];
    z->n_handed = 0;
    pthread_mutex_unlock(&z->mu);
    for (size_t i = 0; i < z->n_mons; i++)
        zmq_close(z->mons[i].pair);
    if (z->rep)
        zmq_close(z->rep);
    wp_keyring_free(&z->ring);
    sodium_memzero(z->server_secret, sizeof z->server_secret);
    pthread_mutex_destroy(&z->mu);
    pthread_mutex_destroy(&z->ring_mu);
    free(z);
}
