/* consensus/peer_auth.c — a raft_uv_transport whose every connection
 * between placement servers is authenticated before raft sees a byte.
 *
 * Why not wrap raft's TCP transport. raft 0.15's own transport reads its
 * preamble (protocol, server id, address length) from whoever connects and
 * mallocs the announced address length before anything else, then hands
 * the stream to raft: an outsider reaches raft's decoders and can make a
 * server allocate what it likes. Wrapping it would authenticate only after
 * that. So this transport owns the TCP sockets itself (listen, accept,
 * connect, close) and runs its handshake first; raft's preamble is not
 * needed at all, because the accept callback is given the peer's raft id
 * and address from the authenticated handshake.
 *
 * The handshake (both sides at once, fixed sizes, nothing allocated from
 * what the peer says):
 *
 *     HELLO (240 bytes): magic "WPRAFT1\0" | raft id (u64 LE) |
 *                        raft address (128, NUL-padded) |
 *                        key name (64, NUL-padded) | nonce (32, getrandom)
 *     PROOF (64 bytes):  Ed25519 signature over
 *                        LABEL | side ('C' connector / 'A' acceptor) |
 *                        connector's HELLO | acceptor's HELLO
 *
 * Each side sends its HELLO as soon as the TCP connection exists, reads
 * the peer's HELLO (exactly 240 bytes), sends its PROOF, reads the peer's
 * PROOF (exactly 64 bytes) and checks it with the verify callback, which
 * the daemon answers from its keyring (a placement key, named for the raft
 * id it claims). Both fresh nonces are in what each side signs, so a proof
 * is never valid twice; the side byte stops a proof from being reflected
 * back; the raft ids and addresses are in it, so a connector gets exactly
 * the server it asked raft for (id and address checked) and an acceptor
 * tells raft the id the peer proved. A connector whose own address or id
 * is not in the configured server list is refused too.
 *
 * Reads never go past the handshake: the alloc callback offers exactly
 * the bytes still missing, so raft's first message (which a connector
 * sends right after its PROOF) stays in the socket for raft's own reader.
 *
 * Bounds: a handshake must finish within WP_PEER_AUTH_TIMEOUT_MS; at most
 * MAX_INCOMING incoming handshakes run at once (more are closed at
 * accept); work per wake-up is one read or one signature. A refused
 * handshake closes the socket, counts in *refused and is logged at most
 * once a second (with the number not logged).
 *
 * Lifecycle (raft/uv.h): init, listen, connect, close(cb). close stops the
 * listener, aborts every handshake (a pending connect ends with
 * RAFT_CANCELED, after its handles are closed) and calls cb when the last
 * handle is closed. t->data belongs to raft's uv I/O; this file uses
 * t->impl only. Free with wp_peer_auth_transport_free after raft closed.
 */
#include "consensus/consensus.h"

#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#define MAGIC "WPRAFT1"
#define LABEL "warmpath raft peer handshake v1"
#define NONCE_BYTES 32
#define NAME_BYTES 64
#define HELLO_BYTES (8 + 8 + WP_CONSENSUS_ADDR_MAX + NAME_BYTES + NONCE_BYTES)
#define PROOF_BYTES WP_PEER_AUTH_SIG_BYTES
#define MAX_INCOMING 16
#define LOG_EVERY_MS 1000

typedef struct pa_transport pa_transport;

typedef struct hs {
    pa_transport *t;
    struct hs *next, *prev;
    bool outgoing;
    uv_tcp_t *tcp; /* raft_malloc'd: raft frees it once it owns the stream */
    uv_timer_t timer;
    uv_connect_t connect;
    struct raft_uv_connect *req; /* outgoing only */
    raft_id want_id;             /* outgoing: the server raft asked for */
    char want_addr[WP_CONSENSUS_ADDR_MAX];
    uint8_t mine[HELLO_BYTES], theirs[HELLO_BYTES];
    uint8_t proof[PROOF_BYTES];
    size_t have;     /* bytes of the current read */
    int stage;       /* 0: connecting, 1: reading HELLO, 2: reading PROOF, 3: done */
    int closes;      /* handles still to be closed */
    int status;      /* for the connect callback once closed */
    bool handed;     /* the stream went to raft */
    bool ending;
} hs;

struct pa_transport {
    uv_loop_t *loop;
    wp_peer_auth auth;
    char self_name[NAME_BYTES];
    wp_consensus_server servers[WP_CONSENSUS_MAX_SERVERS];
    size_t n_servers;
    wp_peer_auth_stats *stats;
    raft_id id;
    char address[WP_CONSENSUS_ADDR_MAX];
    char bind_address[WP_CONSENSUS_ADDR_MAX]; /* "" = address */
    uv_tcp_t listener;
    bool listening, closing;
    int listener_open;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    struct raft_uv_transport *owner;
    hs *list;
    size_t n_incoming;
    uint64_t last_log_ms, unlogged;
};

typedef struct wbuf {
    uv_write_t req;
    uint8_t data[HELLO_BYTES];
} wbuf;

static void maybe_closed(pa_transport *t);

/* ---------------------------------------------------------------- refusals */

static void refuse(pa_transport *t, const hs *h, const char *why)
{
    t->stats->refused++;
    uint64_t now = uv_now(t->loop);
    if (t->last_log_ms != 0 && now - t->last_log_ms < LOG_EVERY_MS) {
        t->unlogged++;
        return;
    }
    char name[NAME_BYTES + 1] = "";
    if (h->stage >= 2)
        memcpy(name, h->theirs + 16 + WP_CONSENSUS_ADDR_MAX, NAME_BYTES);
    WP_WARN("consensus", "server %llu: raft peer refused (%s connection%s%s): %s "
            "(%llu refusals not logged)", (unsigned long long)t->id,
            h->outgoing ? "outgoing" : "incoming", name[0] ? ", key " : "", name, why,
            (unsigned long long)t->unlogged);
    t->last_log_ms = now ? now : 1;
    t->unlogged = 0;
}

/* ---------------------------------------------------------------- encoding */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int hello_encode(pa_transport *t, uint8_t out[HELLO_BYTES])
{
    memset(out, 0, HELLO_BYTES);
    memcpy(out, MAGIC, sizeof MAGIC);
    put_u64(out + 8, t->id);
    memcpy(out + 16, t->address, strlen(t->address));
    memcpy(out + 16 + WP_CONSENSUS_ADDR_MAX, t->self_name, strlen(t->self_name));
    uint8_t *nonce = out + 16 + WP_CONSENSUS_ADDR_MAX + NAME_BYTES;
    size_t got = 0;
    while (got < NONCE_BYTES) {
        ssize_t n = getrandom(nonce + got, NONCE_BYTES - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* A NUL-padded text field: some text, a NUL inside, only NULs after it. */
static bool field_text(const uint8_t *p, size_t cap, char *out)
{
    const uint8_t *nul = memchr(p, 0, cap);
    if (nul == NULL || nul == p)
        return false;
    for (const uint8_t *q = nul; q < p + cap; q++)
        if (*q)
            return false;
    memcpy(out, p, (size_t)(nul - p) + 1);
    return true;
}

/* What a side signs: label, side, connector's HELLO, acceptor's HELLO. */
static void transcript(const hs *h, char side, uint8_t *out)
{
    size_t n = sizeof LABEL;
    memcpy(out, LABEL, n);
    out[n++] = (uint8_t)side;
    memcpy(out + n, h->outgoing ? h->mine : h->theirs, HELLO_BYTES);
    memcpy(out + n + HELLO_BYTES, h->outgoing ? h->theirs : h->mine, HELLO_BYTES);
}
#define TRANSCRIPT_BYTES (sizeof LABEL + 1 + 2 * HELLO_BYTES)

/* ---------------------------------------------------------------- ending */

static void hs_unlink(hs *h)
{
    pa_transport *t = h->t;
    if (h->prev)
        h->prev->next = h->next;
    else
        t->list = h->next;
    if (h->next)
        h->next->prev = h->prev;
    if (!h->outgoing)
        t->n_incoming--;
}

static void hs_handle_closed(uv_handle_t *handle)
{
    hs *h = handle->data;
    if (--h->closes > 0)
        return;
    pa_transport *t = h->t;
    if (!h->handed && h->tcp)
        raft_free(h->tcp);
    if (h->outgoing && !h->handed)
        h->req->cb(h->req, NULL, h->status);
    free(h);
    maybe_closed(t);
}

/* Ends a handshake: on success the stream goes to raft; otherwise it is
 * closed (and a connect request is answered with status once closed). */
static void hs_end(hs *h, bool ok, int status)
{
    if (h->ending)
        return;
    h->ending = true;
    pa_transport *t = h->t;
    hs_unlink(h);
    uv_timer_stop(&h->timer);
    if (ok) {
        uv_read_stop((uv_stream_t *)h->tcp);
        h->handed = true;
        h->tcp->data = NULL;
        t->stats->accepted++;
        if (h->outgoing) {
            h->req->cb(h->req, (uv_stream_t *)h->tcp, 0);
        } else {
            char addr[WP_CONSENSUS_ADDR_MAX];
            field_text(h->theirs + 16, WP_CONSENSUS_ADDR_MAX, addr);
            t->accept_cb(t->owner, get_u64(h->theirs + 8), addr, (uv_stream_t *)h->tcp);
        }
        h->closes = 1;
        uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
        return;
    }
    h->status = status;
    h->closes = 2;
    uv_close((uv_handle_t *)&h->timer, hs_handle_closed);
    uv_close((uv_handle_t *)h->tcp, hs_handle_closed);
}

static void hs_fail(hs *h, const char *why)
{
    if (h->ending)
        return;
    refuse(h->t, h, why);
    hs_end(h, false, RAFT_NOCONNECTION);
}

static void on_timeout(uv_timer_t *timer)
{
    hs_fail(timer->data, "handshake timed out");
}

/* ---------------------------------------------------------------- I/O */

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a failed read */
    free(req->data);
}

static int send_bytes(hs *h, const uint8_t *p, size_t n)
{
    wbuf *w = malloc(sizeof *w);
    if (w == NULL)
        return -1;
    memcpy(w->data, p, n);
    w->req.data = w;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)h->tcp, &b, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    hs *h = handle->data;
    uint8_t *dst = h->stage == 1 ? h->theirs : h->proof;
    size_t want = h->stage == 1 ? HELLO_BYTES : PROOF_BYTES;
    *buf = uv_buf_init((char *)dst + h->have, (unsigned)(want - h->have));
}

static void hello_received(hs *h)
{
    pa_transport *t = h->t;
    char addr[WP_CONSENSUS_ADDR_MAX], name[NAME_BYTES];
    if (memcmp(h->theirs, MAGIC, sizeof MAGIC) != 0) {
        hs_fail(h, "not a warmpath raft handshake");
        return;
    }
    raft_id id = get_u64(h->theirs + 8);
    if (!field_text(h->theirs + 16, WP_CONSENSUS_ADDR_MAX, addr) ||
        !field_text(h->theirs + 16 + WP_CONSENSUS_ADDR_MAX, NAME_BYTES, name)) {
        hs_fail(h, "malformed handshake");
        return;
    }
    if (h->outgoing) {
        if (id != h->want_id || strcmp(addr, h->want_addr) != 0) {
            hs_fail(h, "the server at that address is another raft server");
            return;
        }
    } else {
        bool known = false;
        for (size_t i = 0; i < t->n_servers; i++)
            known = known || (t->servers[i].id == id && strcmp(t->servers[i].address, addr) == 0);
        if (!known || id == t->id) {
            hs_fail(h, "raft id and address are not in the configuration");
            return;
        }
    }
    uint8_t msg[TRANSCRIPT_BYTES];
    transcript(h, h->outgoing ? 'C' : 'A', msg);
    uint8_t sig[PROOF_BYTES];
    if (t->auth.sign(t->auth.ctx, msg, sizeof msg, sig) != 0 ||
        send_bytes(h, sig, sizeof sig) != 0) {
        hs_fail(h, "could not sign or send the proof");
        return;
    }
    h->stage = 2;
    h->have = 0;
}

static void proof_received(hs *h)
{
    pa_transport *t = h->t;
    char name[NAME_BYTES];
    field_text(h->theirs + 16 + WP_CONSENSUS_ADDR_MAX, NAME_BYTES, name);
    uint8_t msg[TRANSCRIPT_BYTES];
    transcript(h, h->outgoing ? 'A' : 'C', msg);
    if (!t->auth.verify(t->auth.ctx, name, get_u64(h->theirs + 8), msg, sizeof msg, h->proof)) {
        hs_fail(h, "key not admitted or bad signature");
        return;
    }
    h->stage = 3;
    hs_end(h, true, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    hs *h = stream->data;
    if (h == NULL || h->ending)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        hs_fail(h, nread == UV_EOF ? "peer closed during the handshake" : uv_strerror((int)nread));
        return;
    }
    h->have += (size_t)nread;
    size_t want = h->stage == 1 ? HELLO_BYTES : PROOF_BYTES;
    if (h->have < want)
        return;
    if (h->stage == 1)
        hello_received(h);
    else
        proof_received(h);
}

static void hs_begin(hs *h)
{
    if (hello_encode(h->t, h->mine) != 0 || send_bytes(h, h->mine, HELLO_BYTES) != 0 ||
        uv_read_start((uv_stream_t *)h->tcp, on_alloc, on_read) != 0) {
        hs_fail(h, "could not start the handshake");
        return;
    }
    h->stage = 1;
    h->have = 0;
}

/* Allocates a handshake with its timer and TCP handle (not yet open). */
static hs *hs_new(pa_transport *t, bool outgoing)
{
    hs *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->tcp = raft_malloc(sizeof *h->tcp);
    if (h->tcp == NULL) {
        free(h);
        return NULL;
    }
    h->t = t;
    h->outgoing = outgoing;
    uv_tcp_init(t->loop, h->tcp);
    uv_timer_init(t->loop, &h->timer);
    h->tcp->data = h;
    h->timer.data = h;
    h->next = t->list;
    if (t->list)
        t->list->prev = h;
    t->list = h;
    if (!outgoing)
        t->n_incoming++;
    uv_timer_start(&h->timer, on_timeout, WP_PEER_AUTH_TIMEOUT_MS, 0);
    return h;
}

/* ---------------------------------------------------------------- transport */

static int parse_ip4(const char *address, struct sockaddr_in *sa)
{
    char host[WP_CONSENSUS_ADDR_MAX];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof host)
        return -1;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return -1;
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -1;
}

static int pa_init(struct raft_uv_transport *rt, raft_id id, const char *address)
{
    pa_transport *t = rt->impl;
    if (strlen(address) >= sizeof t->address)
        return RAFT_NAMETOOLONG;
    t->id = id;
    snprintf(t->address, sizeof t->address, "%s", address);
    uv_tcp_init(t->loop, &t->listener);
    t->listener.data = t;
    t->listener_open = 1;
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    pa_transport *t = server->data;
    if (status != 0 || t->closing)
        return;
    if (t->n_incoming >= MAX_INCOMING) {
        /* Take it off the backlog and close it at once. */
        uv_tcp_t *c = malloc(sizeof *c);
        if (c == NULL)
            return;
        uv_tcp_init(t->loop, c);
        uv_accept(server, (uv_stream_t *)c);
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        hs dummy = {.t = t};
        refuse(t, &dummy, "too many handshakes at once");
        return;
    }
    hs *h = hs_new(t, false);
    if (h == NULL)
        return;
    if (uv_accept(server, (uv_stream_t *)h->tcp) != 0) {
        hs_fail(h, "accept failed");
        return;
    }
    hs_begin(h);
}

static int pa_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
    pa_transport *t = rt->impl;
    struct sockaddr_in sa;
    t->accept_cb = cb;
    const char *listen_on = t->bind_address[0] ? t->bind_address : t->address;
    if (parse_ip4(listen_on, &sa) != 0) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "raft address %s is not IPv4 HOST:PORT",
                 listen_on);
        return RAFT_INVALID;
    }
    int rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&sa, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&t->listener, 16, on_connection);
    if (rv != 0) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "listen on %s: %s", listen_on,
                 uv_strerror(rv));
        return RAFT_IOERR;
    }
    t->listening = true;
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    hs *h = req->data;
    if (h->ending)
        return;
    if (status != 0) {
        /* Nobody there (yet): not a refusal, raft retries. */
        hs_end(h, false, RAFT_NOCONNECTION);
        return;
    }
    hs_begin(h);
}

static int pa_connect(struct raft_uv_transport *rt, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    pa_transport *t = rt->impl;
    struct sockaddr_in sa;
    if (strlen(address) >= WP_CONSENSUS_ADDR_MAX || parse_ip4(address, &sa) != 0)
        return RAFT_NOCONNECTION;
    hs *h = hs_new(t, true);
    if (h == NULL)
        return RAFT_NOMEM;
    req->cb = cb;
    h->req = req;
    h->want_id = id;
    snprintf(h->want_addr, sizeof h->want_addr, "%s", address);
    h->connect.data = h;
    if (uv_tcp_connect(&h->connect, h->tcp, (const struct sockaddr *)&sa, on_connect) != 0)
        hs_end(h, false, RAFT_NOCONNECTION); /* cb runs once the handles are closed */
    return 0;
}

static void maybe_closed(pa_transport *t)
{
    if (!t->closing || t->list != NULL || t->listener_open > 0 || t->close_cb == NULL)
        return;
    raft_uv_transport_close_cb cb = t->close_cb;
    t->close_cb = NULL;
    cb(t->owner);
}

static void listener_closed(uv_handle_t *handle)
{
    pa_transport *t = handle->data;
    t->listener_open = 0;
    maybe_closed(t);
}

static void pa_close(struct raft_uv_transport *rt, raft_uv_transport_close_cb cb)
{
    pa_transport *t = rt->impl;
    t->closing = true;
    t->close_cb = cb;
    while (t->list != NULL)
        hs_end(t->list, false, RAFT_CANCELED);
    if (t->listener_open == 1) {
        t->listener_open = 2; /* closing */
        uv_close((uv_handle_t *)&t->listener, listener_closed);
    }
    maybe_closed(t);
}

int wp_peer_auth_transport_init(struct raft_uv_transport *rt, struct uv_loop_s *loop,
                                const wp_peer_auth *auth, const wp_consensus_server *servers,
                                size_t n_servers, wp_peer_auth_stats *stats)
{
    if (auth == NULL || auth->sign == NULL || auth->verify == NULL || auth->name == NULL ||
        auth->name[0] == '\0' || strlen(auth->name) >= NAME_BYTES ||
        n_servers > WP_CONSENSUS_MAX_SERVERS || stats == NULL)
        return RAFT_INVALID;
    pa_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        return RAFT_NOMEM;
    t->loop = loop;
    t->auth = *auth;
    snprintf(t->self_name, sizeof t->self_name, "%s", auth->name);
    t->auth.name = t->self_name;
    memcpy(t->servers, servers, n_servers * sizeof *servers);
    t->n_servers = n_servers;
    t->stats = stats;
    t->owner = rt;
    memset(rt, 0, sizeof *rt);
    rt->impl = t;
    rt->init = pa_init;
    rt->listen = pa_listen;
    rt->connect = pa_connect;
    rt->close = pa_close;
    return 0;
}

int wp_peer_auth_transport_set_bind(struct raft_uv_transport *rt, const char *address)
{
    pa_transport *t = rt->impl;
    if (strlen(address) >= sizeof t->bind_address)
        return RAFT_NAMETOOLONG;
    snprintf(t->bind_address, sizeof t->bind_address, "%s", address);
    return 0;
}

void wp_peer_auth_transport_free(struct raft_uv_transport *rt)
{
    free(rt->impl);
    rt->impl = NULL;
}
