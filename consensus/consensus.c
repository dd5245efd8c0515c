/* consensus/consensus.c — canonical raft 0.15 + libuv, wrapped.
 *
 * Start sequence (DEPS.md): raft_uv_tcp_init → raft_uv_init → raft_init →
 * raft_configuration_add (all voters) → raft_bootstrap (RAFT_CANTBOOTSTRAP
 * on a restart is expected) → raft_start. Pre-vote is on so that a server
 * cut off from the others does not keep raising its term and depose a
 * healthy leader when it comes back. Shutdown: raft_close, and in its
 * callback raft_uv_close + raft_uv_tcp_close, then free.
 *
 * Timeouts: the defaults (election 1000 ms, heartbeat 100 ms) give 1-2 s
 * from a leader's death to a new leader; warmpath wants a new leader within
 * 3 s of a kill on a busy 2-core machine, so it uses 300/30 ms: followers
 * notice a dead leader after 300-600 ms (raft randomises in [T, 2T]) and a
 * pre-vote plus vote round on loopback takes a few ms. Shorter timeouts
 * were measured to work (150/15 ms) but leave little margin for a
 * scheduler stall on a shared machine, which would cause needless
 * elections. The heartbeat also bounds how soon followers apply a commit.
 *
 * Segments: raft 0.15 preallocates each open log segment to the full
 * segment size and, on start, reads every open segment to its end. With
 * its default of 8 MiB that took ~1.1 s per server on this machine (three
 * servers restarting together: 1.3-2.0 s before a leader served, more on a
 * busy machine, the first server up starting elections the others could
 * not yet answer). Placement entries are ~100-200 bytes, so 1 MiB segments
 * hold thousands of them: start takes ~90 ms and a full restart serves a
 * write after ~0.6-0.7 s (test_placement_cluster faults, test_full_restart).
 */
#include "consensus/consensus.h"

#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

struct wp_consensus {
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    wp_consensus_sm sm;
    uint64_t id;
    char address[WP_CONSENSUS_ADDR_MAX];
    char bind_address[WP_CONSENSUS_ADDR_MAX]; /* "" = address */
    wp_consensus_server servers[WP_CONSENSUS_MAX_SERVERS];
    size_t n_servers;
    bool transport_ok, io_ok, raft_ok, started, closing;
    void (*close_cb)(void *data);
    void *close_data;
    /* Restarting raft from disk (after a failed write, or on request). */
    struct uv_loop_s *loop;
    char *data_dir;
    unsigned election_ms, heartbeat_ms, snap_threshold, snap_trailing, segment_kib;
    wp_consensus_shim *shim;
    uv_timer_t watch;        /* every WATCH_MS: fenced? then restart */
    bool raft_open;          /* raft_init done and not closed yet */
    bool raft_closing;       /* raft_close called, its callback not yet run */
    bool restarting;         /* raft is closed or closing for a restart */
    uint64_t retry_at_ms, n_restarts;
    int handles_open;        /* uv handles not yet closed (watch) */
    bool has_auth;           /* peer_auth set: our transport, not raft's TCP one */
    wp_peer_auth auth;
    char auth_name[64];
    wp_peer_auth_stats auth_stats;
};

#define WATCH_MS 50
#define RETRY_MS 200

/* ---------------------------------------------------------------- fsm */

/* raft 0.15's disk log needs every entry's length to be a multiple of 8: it
 * pads when writing but not when reading a closed segment back, so an entry
 * of 23 bytes makes the next restart fail ("load closed segment ... short
 * read", canonical/raft#304). Every command and snapshot we hand to raft is
 * therefore framed: an 8-byte header (magic "WPC1", u32 little-endian
 * payload length), the payload, zero padding to a multiple of 8. */
#define FRAME_HDR 8
static const uint8_t FRAME_MAGIC[4] = {'W', 'P', 'C', '1'};

static size_t framed_len(size_t len)
{
    return (FRAME_HDR + len + 7) & ~(size_t)7;
}

static void frame_write(uint8_t *dst, const void *payload, size_t len)
{
    size_t total = framed_len(len);
    memcpy(dst, FRAME_MAGIC, 4);
    dst[4] = (uint8_t)len;
    dst[5] = (uint8_t)(len >> 8);
    dst[6] = (uint8_t)(len >> 16);
    dst[7] = (uint8_t)(len >> 24);
    if (len)
        memcpy(dst + FRAME_HDR, payload, len);
    memset(dst + FRAME_HDR + len, 0, total - FRAME_HDR - len);
}

/* The payload inside a framed buffer, or false if it is not one. */
static bool frame_read(const void *buf, size_t len, const uint8_t **payload, size_t *plen)
{
    const uint8_t *p = buf;
    if (len < FRAME_HDR || memcmp(p, FRAME_MAGIC, 4) != 0)
        return false;
    size_t n = (size_t)p[4] | (size_t)p[5] << 8 | (size_t)p[6] << 16 | (size_t)p[7] << 24;
    if (n > len - FRAME_HDR || framed_len(n) != len)
        return false;
    *payload = p + FRAME_HDR;
    *plen = n;
    return true;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    wp_consensus_sm *sm = fsm->data;
    const void *res = NULL;
    const uint8_t *payload;
    size_t plen;
    if (!frame_read(buf->base, buf->len, &payload, &plen)) {
        /* Not ours: hand the raw bytes over, the state machine refuses them. */
        payload = buf->base;
        plen = buf->len;
    }
    int rv = sm->apply(sm->ctx, payload, plen, &res);
    *result = (void *)res;
    return rv == 0 ? 0 : RAFT_NOMEM;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    wp_consensus_sm *sm = fsm->data;
    void *data = NULL;
    size_t len = 0;
    if (sm->snapshot(sm->ctx, &data, &len) != 0)
        return RAFT_NOMEM;
    uint8_t *framed = len <= UINT32_MAX ? malloc(framed_len(len)) : NULL;
    *bufs = raft_malloc(sizeof **bufs);
    if (*bufs == NULL || framed == NULL) {
        free(data);
        free(framed);
        raft_free(*bufs);
        *bufs = NULL;
        return RAFT_NOMEM;
    }
    frame_write(framed, data, len);
    free(data);
    (*bufs)[0].base = framed;
    (*bufs)[0].len = framed_len(len);
    *n_bufs = 1;
    return 0;
}

/* Version 2: raft takes no ownership of the buffers; we free them here. */
static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
    (void)fsm;
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++)
            free((*bufs)[i].base);
        raft_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

/* On success the FSM owns buf->base (raft_malloc'd) and frees it. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    wp_consensus_sm *sm = fsm->data;
    wp_err err = {0};
    const uint8_t *payload;
    size_t plen;
    if (!frame_read(buf->base, buf->len, &payload, &plen)) {
        WP_ERROR("consensus", "restore snapshot: not a framed snapshot (%zu bytes)", buf->len);
        return RAFT_CORRUPT;
    }
    int rv = sm->restore(sm->ctx, payload, plen, &err);
    if (rv != 0) {
        WP_ERROR("consensus", "restore snapshot: %s", wp_err_text(&err));
        return RAFT_CORRUPT;
    }
    raft_free(buf->base);
    return 0;
}

size_t wp_consensus_frame(void *dst, const void *cmd, size_t len)
{
    if (dst != NULL)
        frame_write(dst, cmd, len);
    return framed_len(len);
}

void wp_consensus_fsm_init(struct raft_fsm *fsm, wp_consensus_sm *sm)
{
    memset(fsm, 0, sizeof *fsm);
    fsm->version = 2;
    fsm->data = sm;
    fsm->apply = fsm_apply;
    fsm->snapshot = fsm_snapshot;
    fsm->restore = fsm_restore;
    fsm->snapshot_finalize = fsm_snapshot_finalize;
}

/* ---------------------------------------------------------------- shim
 *
 * Three faults of raft 0.15, fixed underneath it, in its raft_io.
 *
 * 1. A follower left behind for good. A follower that answers an
 *    AppendEntries which adds nothing new (a heartbeat, or entries it
 *    already has) replies "success, last_log_index = last_stored": its whole
 *    stored log. If that log ends with entries of an older term that the
 *    leader does not have (a leader that was cut off appended them), the
 *    leader records them as matched; later heartbeats carry the leader's
 *    last index, the follower rejects them (its entry there has another
 *    term), and the leader discards the rejection as stale because its
 *    match index is already there. The follower never gets the leader's
 *    entries and its commit index stays behind forever; worse, the leader
 *    counts it towards the majority for entries it does not hold.
 *    Reproduced in tests/sim/test_placement_raft.c (seed 5: servers 0 and 3
 *    hold term-2 entries at 24-25, the term-3 leader's progress says match
 *    25, their commit stays at 23). Upstream raft later tracks the proven
 *    match index on the follower for this reason. The shim does the same
 *    from below: while raft handles an incoming AppendEntries, a success
 *    answer it sends is capped at prev_log_index + n_entries of that
 *    request, the index up to which the follower's log is proven to match.
 *    The leader then sees the real match index, its next heartbeat is
 *    rejected above it, it probes back and overwrites the stale entries.
 *    (Answers sent later, after a disk write, need no cap: the write
 *    truncated any conflicting suffix first.)
 *
 * 2. A failed disk write. raft 0.15 rolls its in-memory log back after a
 *    failed append and hands the same index to the next entry in the same
 *    term (canonical/raft#320): a follower that already received the first
 *    entry at that index applies it while the others apply the second one.
 *    And its uv layer keeps writing requests queued behind the failed one,
 *    so entries can sit on disk past a hole (canonical/raft#466). The shim
 *    fences the server at the first failed write (append, term or vote):
 *    from then on every send is refused, so nothing built on the rolled-back
 *    log ever reaches another server, and every write reports failure, even
 *    one that succeeded, so nothing past the hole is acknowledged. The
 *    owner (wp_consensus) then closes the raft instance and starts a new one
 *    from what is on disk, retrying until the disk takes writes again.
 *
 * 3. A follower whose own snapshot is ahead of the leader's view of it.
 *    A follower that took a snapshot at S keeps only a few entries below S
 *    (raft's trailing). When the leader's next index for it lies at or
 *    below S (its match index is older than the follower's snapshot), its
 *    AppendEntries carries a prev_log_index P < S that the follower no
 *    longer holds: raft 0.15 rejects it ("no entry at index P"), and the
 *    leader, probing, takes next = min(P, hint + 1) = P, ignoring the hint
 *    (the follower's last index, above P); it walks down below its own
 *    snapshot and sends that snapshot, older than the follower's. raft
 *    ignores an InstallSnapshot older than its own and answers success with
 *    that snapshot's index, which leaves the leader's match there (or where
 *    it was), and once back in probe mode the leader starts again from
 *    match + 1 < S: the follower never gets the entries past its log
 *    (faultsim seeds 2355, 3193 and 4585 of 10,000: the leader's snapshot
 *    at 8, the follower's at 13, the leader's progress next 9, match 8).
 *    The shim rewrites such a request before raft sees it: when P < S <=
 *    P + n_entries and the request's entry at S has the term of the
 *    follower's snapshot, the entries at P+1..S are dropped and prev becomes
 *    (S, that term). Why that is sound: by the Log Matching Property, two
 *    logs holding an entry of the same index and term are identical up to
 *    it, so the leader's log equals, up to S, the log the follower's
 *    snapshot was made from (a snapshot covers applied, hence committed,
 *    entries; by Leader Completeness every leader of the follower's term or
 *    a later one holds them, which is why the check passes whenever the
 *    request is current). The rewritten request is then exactly what the
 *    leader sends once its next index for the follower is S + 1: same term,
 *    same entries past S, same leader_commit (<= P + n_entries, which the
 *    rewrite keeps), prev at S with the leader's own term there. The term of
 *    the request is checked too: an older one is left to raft, which
 *    rejects it on its term. A request that fails the check, or ends below
 *    S, goes to raft unchanged (no leader of the current term sends one).
 *    Nor is a request touched while raft stores a snapshot: raft puts an
 *    installed snapshot's index in its log before the state machine has
 *    it. The cap of fault 1 uses the rewritten request (its P + n_entries
 *    is unchanged).
 *    The InstallSnapshot older than the follower's needs nothing more: with
 *    the rewrite the leader leaves snapshot mode by itself. raft's success
 *    answer to it raises the leader's match to that snapshot's index when
 *    it was below, and the leader probes from the index after it, a request
 *    the shim rewrites; when the match was there already, the snapshot
 *    timeout puts the leader back to probing from match + 1, the same.
 *    Answering with the follower's own snapshot index instead would save
 *    that wait but claim a match that nothing in the request proves (it
 *    would rest on Leader Completeness alone, with no term to check); in
 *    the campaign the case is rare anyway (2 older snapshots in 10,000
 *    seeds with the rewrite, both caught up). Memory: raft owns a received request's entries array and
 *    the one batch that backs all the entries of a message (both raft_io
 *    backends decode or copy a message into one batch, and raft frees
 *    entries[0].batch and the array); the dropped entries are shifted out
 *    of the array in place, and when none is left the shim frees the batch,
 *    which raft frees only when n_entries > 0. */

struct wp_consensus_shim {
    struct raft_io *io;
    int (*start)(struct raft_io *, unsigned, raft_io_tick_cb, raft_io_recv_cb);
    int (*send)(struct raft_io *, struct raft_io_send *, const struct raft_message *,
                raft_io_send_cb);
    int (*append)(struct raft_io *, struct raft_io_append *, const struct raft_entry[],
                  unsigned, raft_io_append_cb);
    int (*set_term)(struct raft_io *, raft_term);
    int (*set_vote)(struct raft_io *, raft_id);
    raft_io_recv_cb recv;
    bool answering;          /* raft is handling an AppendEntries now */
    raft_index proven_index; /* its prev_log_index + n_entries */
    uint64_t n_capped;
    uint64_t n_trimmed;      /* requests rewritten past the snapshot (fault 3) */
    uint64_t n_trim_mismatch; /* ...left alone: their entry at it had another term */
    int disk_status;         /* first failed write; 0 = none */
    bool inject;             /* tests: the next write completes with an error */
    bool releasing;          /* the instance is closing: report results */
    bool guard_truncate;     /* raft's fixture: see wp_consensus_shim_guard_fixture */
    bool bare;               /* tests: pass everything through unchanged */
    int (*truncate)(struct raft_io *, raft_index);
    int (*bootstrap)(struct raft_io *, const struct raft_configuration *);
    raft_index persisted;    /* entries the backend has written (guard only) */
    struct shim_write *held; /* results held back while fenced */
};

typedef struct shim_write {
    struct raft_io_append inner;
    struct raft_io_append *outer;
    raft_io_append_cb cb;
    wp_consensus_shim *shim;
    struct shim_write *next;
    unsigned n; /* entries in this write */
} shim_write;

static const char *raft_code_text(int rv);

/* raft_init points io->data at the raft instance; the shim hangs on that
 * instance's user data pointer, which raft itself never touches. */
static wp_consensus_shim *shim_of(struct raft_io *io)
{
    return ((struct raft *)io->data)->data;
}

static void shim_fence(wp_consensus_shim *s, int status)
{
    if (s->disk_status == 0) {
        s->disk_status = status;
        WP_WARN("consensus", "disk write failed (%s): this server stops talking to the others "
                "until it restarts raft from disk", raft_code_text(status));
    }
}

/* Fault 3: an AppendEntries whose prev_log_index lies below this server's
 * snapshot is made to start at the snapshot, when its entry there has the
 * snapshot's term (see the comment above). */
static void shim_trim_snapshotted(wp_consensus_shim *s, const struct raft *r,
                                  struct raft_append_entries *ae)
{
    raft_index snap = r->log.snapshot.last_index;
    raft_term snap_term = r->log.snapshot.last_term;
    if (snap == 0 || ae->prev_log_index >= snap || ae->term < r->current_term)
        return;
    if (r->snapshot.put.data != NULL)
        return; /* storing a snapshot: an installed one is in log.snapshot already */
    raft_index drop = snap - ae->prev_log_index; /* entries at P+1..S */
    if (drop > ae->n_entries)
        return; /* ends below S: raft's to reject */
    if (ae->entries[drop - 1].term != snap_term) {
        s->n_trim_mismatch++; /* Log Matching says never; raft's to judge */
        return;
    }
    unsigned keep = ae->n_entries - (unsigned)drop;
    void *batch = ae->entries[0].batch;
    for (raft_index i = 0; i < drop; i++)
        if (ae->entries[i].batch == NULL) /* not the backends' way: own buffer */
            raft_free(ae->entries[i].buf.base);
    if (keep > 0)
        memmove(ae->entries, ae->entries + drop, keep * sizeof *ae->entries);
    else if (batch != NULL)
        raft_free(batch); /* raft frees entries[0].batch only if n_entries > 0 */
    ae->n_entries = keep;
    ae->prev_log_index = snap;
    ae->prev_log_term = snap_term;
    s->n_trimmed++;
}

/* Frees what raft would have freed of a received message that the shim
 * keeps from it: an AppendEntries' batch and entries array, an
 * InstallSnapshot's configuration and data (the other messages own no
 * memory). */
static void shim_drop(struct raft_message *m)
{
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        struct raft_append_entries *ae = &m->append_entries;
        if (ae->n_entries > 0 && ae->entries[0].batch != NULL)
            raft_free(ae->entries[0].batch);
        raft_free(ae->entries);
    } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

static void shim_recv(struct raft_io *io, struct raft_message *m)
{
    wp_consensus_shim *s = shim_of(io);
    if (s->disk_status != 0) { /* fenced: hears nothing either */
        shim_drop(m);
        return;
    }
    bool ae = m->type == RAFT_IO_APPEND_ENTRIES;
    if (ae) {
        if (!s->bare)
            shim_trim_snapshotted(s, io->data, &m->append_entries);
        s->answering = true;
        s->proven_index = m->append_entries.prev_log_index + m->append_entries.n_entries;
    }
    s->recv(io, m);
    if (ae)
        s->answering = false;
}

static int shim_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                      raft_io_recv_cb recv)
{
    wp_consensus_shim *s = shim_of(io);
    s->recv = recv;
    return s->start(io, msecs, tick, shim_recv);
}

static int shim_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
                     raft_io_send_cb cb)
{
    wp_consensus_shim *s = shim_of(io);
    if (s->disk_status != 0)
        return RAFT_NOCONNECTION;
    if (s->answering && !s->bare && m->type == RAFT_IO_APPEND_ENTRIES_RESULT &&
        m->append_entries_result.rejected == 0 &&
        m->append_entries_result.last_log_index > s->proven_index) {
        struct raft_message capped = *m; /* both raft_io backends copy it */
        capped.append_entries_result.last_log_index = s->proven_index;
        s->n_capped++;
        return s->send(io, req, &capped, cb);
    }
    return s->send(io, req, m, cb);
}

/* A write's result reaches raft only while the server is not fenced. The
 * failed write itself and every later one are held back: raft 0.15's
 * handling of a failed write is what goes wrong (#320: it rolls its log
 * back and reuses the index; later versions hit an assertion there,
 * canonical/raft#470). They are reported, as failures, only when the
 * instance is closed (wp_consensus_shim_release), so raft frees what it
 * holds for them. */
static void shim_deliver(shim_write *a, int status)
{
    raft_io_append_cb cb = a->cb;
    struct raft_io_append *outer = a->outer;
    free(a);
    outer->cb = cb;
    cb(outer, status);
}

static void shim_append_done(struct raft_io_append *inner, int status)
{
    shim_write *a = inner->data;
    wp_consensus_shim *s = a->shim;
    if (status == 0 && s->inject) {
        s->inject = false;
        status = RAFT_NOSPACE;
    }
    if (status == 0)
        s->persisted += a->n;
    if (s->bare) {
        shim_deliver(a, status);
        return;
    }
    if (status != 0)
        shim_fence(s, status);
    if (s->disk_status != 0 && !s->releasing) {
        a->next = s->held;
        s->held = a;
        return;
    }
    shim_deliver(a, s->disk_status != 0 ? s->disk_status : status);
}

static int shim_append(struct raft_io *io, struct raft_io_append *req,
                       const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    wp_consensus_shim *s = shim_of(io);
    shim_write *a = malloc(sizeof *a);
    if (a == NULL)
        return RAFT_NOMEM;
    a->inner.data = a;
    a->outer = req;
    a->cb = cb;
    a->shim = s;
    a->next = NULL;
    a->n = n;
    if (s->disk_status != 0) { /* fenced: held, never written */
        a->next = s->held;
        s->held = a;
        return 0;
    }
    int rv = s->append(io, &a->inner, entries, n, shim_append_done);
    if (rv != 0)
        free(a);
    return rv;
}

/* raft 0.15's in-memory fixture truncates its array at once, even while
 * writes to it are pending, and reads past its end when the cut lies in
 * entries not written yet (a crash of the simulation, with or without the
 * rest of the shim). With the guard, such a cut is skipped: nothing written
 * lies at or past it; the pending writes land later on the fixture's disk,
 * which a fixture never reads back. Never used on a real disk. */
static int shim_truncate(struct raft_io *io, raft_index index)
{
    wp_consensus_shim *s = shim_of(io);
    if (s->guard_truncate && index > s->persisted + 1)
        return 0;
    int rv = s->truncate(io, index);
    if (rv == 0 && index - 1 < s->persisted)
        s->persisted = index - 1;
    return rv;
}

static int shim_bootstrap(struct raft_io *io, const struct raft_configuration *conf)
{
    wp_consensus_shim *s = shim_of(io);
    int rv = s->bootstrap(io, conf);
    if (rv == 0)
        s->persisted = 1;
    return rv;
}

void wp_consensus_shim_bare(wp_consensus_shim *shim)
{
    shim->bare = true;
}

void wp_consensus_shim_guard_fixture(wp_consensus_shim *shim)
{
    shim->guard_truncate = true;
}

void wp_consensus_shim_release(wp_consensus_shim *shim)
{
    shim->releasing = true;
    while (shim->held != NULL) {
        shim_write *a = shim->held;
        shim->held = a->next;
        shim_deliver(a, shim->disk_status);
    }
}

static int shim_set_term(struct raft_io *io, raft_term term)
{
    wp_consensus_shim *s = shim_of(io);
    int rv = s->disk_status != 0 ? s->disk_status : s->set_term(io, term);
    if (rv != 0 && !s->bare)
        shim_fence(s, rv);
    return rv;
}

static int shim_set_vote(struct raft_io *io, raft_id id)
{
    wp_consensus_shim *s = shim_of(io);
    int rv = s->disk_status != 0 ? s->disk_status : s->set_vote(io, id);
    if (rv != 0 && !s->bare)
        shim_fence(s, rv);
    return rv;
}

/* Hooks s (zeroed) into io after raft_init; false if io is not ready. */
static bool shim_attach(wp_consensus_shim *s, struct raft_io *io)
{
    struct raft *r = io->data;
    if (r == NULL || r->io != io || r->data != NULL)
        return false;
    s->io = io;
    s->start = io->start;
    s->send = io->send;
    s->append = io->append;
    s->set_term = io->set_term;
    s->set_vote = io->set_vote;
    s->truncate = io->truncate;
    s->bootstrap = io->bootstrap;
    r->data = s;
    io->truncate = shim_truncate;
    io->bootstrap = shim_bootstrap;
    io->start = shim_start;
    io->send = shim_send;
    io->append = shim_append;
    io->set_term = shim_set_term;
    io->set_vote = shim_set_vote;
    return true;
}

wp_consensus_shim *wp_consensus_shim_install(struct raft_io *io)
{
    wp_consensus_shim *s = calloc(1, sizeof *s);
    if (s != NULL && !shim_attach(s, io)) {
        free(s);
        s = NULL;
    }
    return s;
}

void wp_consensus_shim_free(wp_consensus_shim *shim)
{
    free(shim);
}

int wp_consensus_shim_disk_status(const wp_consensus_shim *shim)
{
    return shim->disk_status;
}

void wp_consensus_shim_inject_disk_failure(wp_consensus_shim *shim)
{
    shim->inject = true;
}

uint64_t wp_consensus_shim_capped(const wp_consensus_shim *shim)
{
    return shim->n_capped;
}

uint64_t wp_consensus_shim_trimmed(const wp_consensus_shim *shim, uint64_t *mismatched)
{
    if (mismatched != NULL)
        *mismatched = shim->n_trim_mismatch;
    return shim->n_trimmed;
}

/* ---------------------------------------------------------------- helpers */

/* raft_strerror says "unknown error" for 19..23 in 0.15; name them. */
static const char *raft_code_text(int rv)
{
    switch (rv) {
    case RAFT_NOTFOUND: return "not found";
    case RAFT_INVALID: return "invalid parameter";
    case RAFT_UNAUTHORIZED: return "permission denied";
    case RAFT_NOSPACE: return "no space left on device";
    case RAFT_TOOMANY: return "a system or raft limit was hit";
    default: return raft_strerror(rv);
    }
}

/* One readable line: the object's message if it has one, else the code's. */
static int raft_fail(wp_err *err, int wp_code, const char *what, const char *msg, int rv)
{
    if (msg != NULL && msg[0] != '\0')
        return wp_errf(err, wp_code, "%s: %s", what, msg);
    return wp_errf(err, wp_code, "%s: %s", what, raft_code_text(rv));
}

static int map_code(int rv)
{
    switch (rv) {
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST: return WP_ENOLEADER;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED: return WP_ECANCELED;
    case RAFT_NOMEM: return WP_ENOMEM;
    case RAFT_TOOBIG: return WP_ETOOBIG;
    case RAFT_BUSY: return WP_EBUSY;
    default: return WP_EIO;
    }
}

static int make_dir(const char *path, wp_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return wp_errf(err, WP_EINVAL, "data dir %s: not a directory", path);
        return WP_OK;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return wp_errf(err, WP_EIO, "data dir %s: %s", path, strerror(errno));
    return WP_OK;
}

/* ---------------------------------------------------------------- lifecycle */

static void on_watch(uv_timer_t *t);
static void close_raft(wp_consensus *c);

/* raft's plain TCP transport, or the authenticated one (peer_auth.c). */
static int transport_init(wp_consensus *c)
{
    if (!c->has_auth)
        return raft_uv_tcp_init(&c->transport, c->loop);
    int rv = wp_peer_auth_transport_init(&c->transport, c->loop, &c->auth, c->servers,
                                         c->n_servers, &c->auth_stats);
    if (rv != 0)
        snprintf(c->transport.errmsg, sizeof c->transport.errmsg, "peer authentication set-up");
    return rv;
}

static void transport_free(wp_consensus *c)
{
    if (c->has_auth)
        wp_peer_auth_transport_free(&c->transport);
    else
        raft_uv_tcp_close(&c->transport);
}

/* Transport, disk I/O, raft_init, the shim and the settings; on error
 * nothing is left open. */
static int open_raft(wp_consensus *c, wp_err *err)
{
    wp_consensus_shim *shim = calloc(1, sizeof *shim);
    if (shim == NULL)
        return wp_errf(err, WP_ENOMEM, "consensus: out of memory");
    memset(&c->raft, 0, sizeof c->raft);
    memset(&c->io, 0, sizeof c->io);
    memset(&c->transport, 0, sizeof c->transport);
    int rv = transport_init(c);
    if (rv != 0) {
        free(shim);
        return raft_fail(err, WP_EIO, "consensus: tcp transport", c->transport.errmsg, rv);
    }
    if (c->bind_address[0] &&
        (rv = c->has_auth ? wp_peer_auth_transport_set_bind(&c->transport, c->bind_address)
                          : raft_uv_tcp_set_bind_address(&c->transport, c->bind_address)) != 0) {
        char what[WP_CONSENSUS_ADDR_MAX + 48];
        snprintf(what, sizeof what, "consensus: raft bind address '%s'", c->bind_address);
        raft_fail(err, WP_EINVAL, what, c->transport.errmsg, rv);
        transport_free(c);
        free(shim);
        return WP_EINVAL;
    }
    rv = raft_uv_init(&c->io, c->loop, c->data_dir, &c->transport);
    if (rv != 0) {
        raft_fail(err, WP_EIO, "consensus: disk I/O", c->io.errmsg, rv);
        transport_free(c);
        free(shim);
        return WP_EIO;
    }
    raft_uv_set_connect_retry_delay(&c->io, 100);
    raft_uv_set_segment_size(&c->io, (size_t)c->segment_kib * 1024);
    rv = raft_init(&c->raft, &c->io, &c->fsm, c->id, c->address);
    if (rv != 0) {
        raft_fail(err, WP_EIO, "consensus: init", raft_errmsg(&c->raft), rv);
        raft_uv_close(&c->io);
        transport_free(c);
        free(shim);
        return WP_EIO;
    }
    c->transport_ok = c->io_ok = c->raft_ok = true;
    c->raft_open = true;
    shim_attach(shim, &c->io); /* cannot fail right after raft_init */
    c->shim = shim;
    raft_set_pre_vote(&c->raft, true);
    raft_set_election_timeout(&c->raft, c->election_ms);
    raft_set_heartbeat_timeout(&c->raft, c->heartbeat_ms);
    raft_set_snapshot_threshold(&c->raft, c->snap_threshold);
    raft_set_snapshot_trailing(&c->raft, c->snap_trailing);
    /* A lost InstallSnapshot is sent again after this (default 30 s). */
    raft_set_install_snapshot_timeout(&c->raft, 10 * c->election_ms);
    return WP_OK;
}

/* Bootstraps a fresh data directory (an existing one is simply
 * restarted) and starts raft. */
static int start_raft(wp_consensus *c, wp_err *err)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rv = 0;
    for (size_t i = 0; i < c->n_servers && rv == 0; i++)
        rv = raft_configuration_add(&conf, c->servers[i].id, c->servers[i].address, RAFT_VOTER);
    if (rv != 0) {
        raft_configuration_close(&conf);
        return wp_errf(err, WP_EINVAL, "consensus: configuration: %s", raft_code_text(rv));
    }
    rv = raft_bootstrap(&c->raft, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP)
        return raft_fail(err, map_code(rv), "consensus: bootstrap", raft_errmsg(&c->raft), rv);
    if (rv == RAFT_CANTBOOTSTRAP)
        WP_INFO("consensus", "server %llu: restarting from existing data",
                (unsigned long long)c->id);
    rv = raft_start(&c->raft);
    if (rv != 0) {
        const char *msg = raft_errmsg(&c->raft);
        if (msg == NULL || msg[0] == '\0')
            msg = c->io.errmsg;
        if (msg == NULL || msg[0] == '\0')
            msg = c->transport.errmsg;
        if (rv == RAFT_IOERR && (msg == NULL || msg[0] == '\0'))
            msg = "I/O error (is the raft address already in use?)";
        return raft_fail(err, map_code(rv), "consensus: start", msg, rv);
    }
    return WP_OK;
}

int wp_consensus_new(struct uv_loop_s *loop, const wp_consensus_config *cfg,
                     wp_consensus **out, wp_err *err)
{
    *out = NULL;
    if (cfg->n_servers < 1 || cfg->n_servers > WP_CONSENSUS_MAX_SERVERS)
        return wp_errf(err, WP_EINVAL, "consensus: %zu servers (need 1..%d)", cfg->n_servers,
                       WP_CONSENSUS_MAX_SERVERS);
    if (cfg->sm.apply == NULL || cfg->sm.snapshot == NULL || cfg->sm.restore == NULL)
        return wp_errf(err, WP_EINVAL, "consensus: state machine callbacks missing");
    const char *self_addr = NULL;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        if (cfg->servers[i].id == 0)
            return wp_errf(err, WP_EINVAL, "consensus: server id 0 is not allowed");
        for (size_t j = 0; j < i; j++)
            if (cfg->servers[j].id == cfg->servers[i].id)
                return wp_errf(err, WP_EINVAL, "consensus: server id %llu listed twice",
                               (unsigned long long)cfg->servers[i].id);
        if (cfg->servers[i].id == cfg->id)
            self_addr = cfg->servers[i].address;
    }
    if (self_addr == NULL)
        return wp_errf(err, WP_EINVAL, "consensus: id %llu is not in the server list",
                       (unsigned long long)cfg->id);
    int rv = make_dir(cfg->data_dir, err);
    if (rv != WP_OK)
        return rv;

    wp_consensus *c = calloc(1, sizeof *c);
    if (c == NULL || (c->data_dir = strdup(cfg->data_dir)) == NULL) {
        free(c);
        return wp_errf(err, WP_ENOMEM, "consensus: out of memory");
    }
    c->sm = cfg->sm;
    c->id = cfg->id;
    c->loop = loop;
    c->election_ms = cfg->election_timeout_ms ? cfg->election_timeout_ms : 300;
    c->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 30;
    c->snap_threshold = cfg->snapshot_threshold ? cfg->snapshot_threshold : 1024;
    c->snap_trailing = cfg->snapshot_trailing ? cfg->snapshot_trailing : 128;
    c->segment_kib = cfg->segment_kib ? cfg->segment_kib : 1024;
    snprintf(c->address, sizeof c->address, "%s", self_addr);
    if (cfg->bind_address && strlen(cfg->bind_address) >= sizeof c->bind_address) {
        free(c->data_dir);
        free(c);
        return wp_errf(err, WP_EINVAL, "consensus: bind address too long");
    }
    snprintf(c->bind_address, sizeof c->bind_address, "%s",
             cfg->bind_address ? cfg->bind_address : "");
    memcpy(c->servers, cfg->servers, cfg->n_servers * sizeof *cfg->servers);
    c->n_servers = cfg->n_servers;
    if (cfg->peer_auth != NULL) {
        if (cfg->peer_auth->name == NULL ||
            strlen(cfg->peer_auth->name) >= sizeof c->auth_name) {
            free(c->data_dir);
            free(c);
            return wp_errf(err, WP_EINVAL, "consensus: peer key name missing or too long");
        }
        c->has_auth = true;
        c->auth = *cfg->peer_auth;
        snprintf(c->auth_name, sizeof c->auth_name, "%s", cfg->peer_auth->name);
        c->auth.name = c->auth_name;
    }
    wp_consensus_fsm_init(&c->fsm, &c->sm);
    rv = open_raft(c, err);
    if (rv != WP_OK) {
        free(c->data_dir);
        free(c);
        return rv;
    }
    uv_timer_init(loop, &c->watch);
    c->watch.data = c;
    c->handles_open = 1;
    *out = c;
    return WP_OK;
}

int wp_consensus_start(wp_consensus *c, wp_err *err)
{
    int rv = start_raft(c, err);
    if (rv != WP_OK)
        return rv;
    c->started = true;
    uv_timer_start(&c->watch, on_watch, WATCH_MS, WATCH_MS);
    return WP_OK;
}

static void maybe_freed(wp_consensus *c)
{
    if (!c->closing || c->raft_open || c->handles_open > 0)
        return;
    void (*cb)(void *) = c->close_cb;
    void *data = c->close_data;
    wp_consensus_shim_free(c->shim);
    free(c->data_dir);
    free(c);
    if (cb != NULL)
        cb(data);
}

static void raft_closed(struct raft *r)
{
    wp_consensus *c = (wp_consensus *)((char *)r - offsetof(wp_consensus, raft));
    raft_uv_close(&c->io);
    transport_free(c);
    c->raft_open = c->raft_closing = false;
    c->transport_ok = c->io_ok = c->raft_ok = false;
    wp_consensus_shim_free(c->shim);
    c->shim = NULL;
    if (c->restarting && !c->closing)
        WP_INFO("consensus", "server %llu: raft closed; starting it again from disk",
                (unsigned long long)c->id);
    maybe_freed(c);
}

static void close_raft(wp_consensus *c)
{
    if (!c->raft_open || c->raft_closing)
        return;
    c->raft_closing = true;
    if (c->shim)
        wp_consensus_shim_release(c->shim);
    raft_close(&c->raft, raft_closed);
}

static void watch_closed(uv_handle_t *h)
{
    wp_consensus *c = h->data;
    c->handles_open--;
    maybe_freed(c);
}

void wp_consensus_close(wp_consensus *c, void (*cb)(void *data), void *data)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_data = data;
    uv_close((uv_handle_t *)&c->watch, watch_closed);
    close_raft(c);
}

int wp_consensus_restart(wp_consensus *c, const char *why)
{
    if (c->closing || !c->started || c->restarting || c->sm.reset == NULL)
        return WP_ESTATE;
    WP_WARN("consensus", "server %llu: restarting raft from disk: %s", (unsigned long long)c->id,
            why);
    c->restarting = true;
    c->retry_at_ms = 0;
    close_raft(c);
    return WP_OK;
}

uint64_t wp_consensus_restarts(const wp_consensus *c)
{
    return c->n_restarts;
}

/* Every WATCH_MS: a fenced raft (failed disk write) is closed; a closed one
 * is started again from its data directory, every RETRY_MS until that
 * works (a full disk makes raft_uv_init or raft_start fail). */
static void on_watch(uv_timer_t *t)
{
    wp_consensus *c = t->data;
    if (c->closing)
        return;
    if (!c->restarting) {
        if (c->shim && wp_consensus_shim_disk_status(c->shim) != 0)
            wp_consensus_restart(c, "a disk write failed");
        return;
    }
    uint64_t now = uv_now(c->loop);
    if (c->raft_open || now < c->retry_at_ms)
        return;
    wp_err err = {0};
    /* raft restores its last snapshot and replays what follows onto the
     * state machine: it must start from empty, or commands apply twice. */
    if (c->sm.reset(c->sm.ctx) != 0) {
        WP_ERROR("consensus", "server %llu: state machine reset failed; retrying",
                 (unsigned long long)c->id);
        c->retry_at_ms = now + RETRY_MS;
        return;
    }
    int rv = open_raft(c, &err);
    if (rv == WP_OK)
        rv = start_raft(c, &err);
    if (rv != WP_OK) {
        WP_DEBUG("consensus", "server %llu: restart failed, retrying: %s",
                 (unsigned long long)c->id, wp_err_text(&err));
        c->retry_at_ms = now + RETRY_MS;
        close_raft(c); /* raft_closed clears raft_open; we retry after that */
        return;
    }
    c->restarting = false;
    c->n_restarts++;
    WP_INFO("consensus", "server %llu: raft started again from disk (restart %llu)",
            (unsigned long long)c->id, (unsigned long long)c->n_restarts);
}

/* ---------------------------------------------------------------- apply */

/* raft is open, started and not fenced. */
static bool running(const wp_consensus *c)
{
    return c->started && !c->closing && !c->restarting && c->raft_open &&
           (c->shim == NULL || wp_consensus_shim_disk_status(c->shim) == 0);
}

struct apply_req {
    struct raft_apply req;
    wp_consensus *c;
    wp_consensus_apply_cb cb;
    void *data;
};

/* Any failure after raft accepted the command leaves its fate open: the
 * entry may already sit on other servers, which can commit it under the
 * next leader (leadership lost, shutdown, a restart after a failed write).
 * It is reported as such, never as "not committed". */
static void apply_done(struct raft_apply *req, int status, void *result)
{
    struct apply_req *a = req->data;
    if (status == 0) {
        a->cb(a->data, 0, NULL, result);
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "outcome unknown (it may or may not be committed): %s",
                 raft_code_text(status));
        a->cb(a->data, WP_EUNKNOWN, msg, NULL);
    }
    free(a);
}

int wp_consensus_apply(wp_consensus *c, const void *cmd, size_t len, wp_consensus_apply_cb cb,
                       void *data, wp_err *err)
{
    if (c->closing || !c->started)
        return wp_errf(err, WP_ESTATE, "consensus: not running");
    if (!running(c))
        return wp_errf(err, WP_ENOLEADER, "consensus: raft is restarting from disk");
    if (raft_state(&c->raft) != RAFT_LEADER)
        return wp_errf(err, WP_ENOLEADER, "consensus: this server is not the leader");
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "consensus: command of %zu bytes over the limit", len);
    struct apply_req *a = calloc(1, sizeof *a);
    struct raft_buffer buf = {raft_malloc(framed_len(len)), framed_len(len)};
    if (a == NULL || buf.base == NULL) {
        free(a);
        raft_free(buf.base);
        return wp_errf(err, WP_ENOMEM, "consensus: out of memory");
    }
    frame_write(buf.base, cmd, len);
    a->c = c;
    a->cb = cb;
    a->data = data;
    a->req.data = a;
    int rv = raft_apply(&c->raft, &a->req, &buf, 1, apply_done);
    if (rv != 0) {
        raft_fail(err, map_code(rv), "consensus: apply", raft_errmsg(&c->raft), rv);
        raft_free(buf.base);
        free(a);
        return map_code(rv);
    }
    return WP_OK;
}

struct barrier_req {
    struct raft_barrier req;
    wp_consensus_apply_cb cb;
    void *data;
};

static void barrier_done(struct raft_barrier *req, int status)
{
    struct barrier_req *b = req->data;
    if (status == 0) {
        b->cb(b->data, 0, NULL, NULL);
    } else {
        char msg[256];
        snprintf(msg, sizeof msg, "barrier: %s", raft_code_text(status));
        b->cb(b->data, map_code(status), msg, NULL);
    }
    free(b);
}

int wp_consensus_barrier(wp_consensus *c, wp_consensus_apply_cb cb, void *data, wp_err *err)
{
    if (c->closing || !c->started)
        return wp_errf(err, WP_ESTATE, "consensus: not running");
    if (!running(c))
        return wp_errf(err, WP_ENOLEADER, "consensus: raft is restarting from disk");
    if (raft_state(&c->raft) != RAFT_LEADER)
        return wp_errf(err, WP_ENOLEADER, "consensus: this server is not the leader");
    struct barrier_req *b = calloc(1, sizeof *b);
    if (b == NULL)
        return wp_errf(err, WP_ENOMEM, "consensus: out of memory");
    b->cb = cb;
    b->data = data;
    b->req.data = b;
    int rv = raft_barrier(&c->raft, &b->req, barrier_done);
    if (rv != 0) {
        free(b);
        return raft_fail(err, map_code(rv), "consensus: barrier", raft_errmsg(&c->raft), rv);
    }
    return WP_OK;
}

/* ---------------------------------------------------------------- status */

const char *wp_consensus_role_name(int role)
{
    switch (role) {
    case WP_ROLE_FOLLOWER: return "follower";
    case WP_ROLE_CANDIDATE: return "candidate";
    case WP_ROLE_LEADER: return "leader";
    default: return "unavailable";
    }
}

void wp_consensus_get_status(wp_consensus *c, wp_consensus_status *st)
{
    memset(st, 0, sizeof *st);
    st->id = c->id;
    st->restarts = c->n_restarts;
    st->peer_auth = c->has_auth;
    st->peer = c->auth_stats;
    if (!running(c))
        return;
    switch (raft_state(&c->raft)) {
    case RAFT_FOLLOWER: st->role = WP_ROLE_FOLLOWER; break;
    case RAFT_CANDIDATE: st->role = WP_ROLE_CANDIDATE; break;
    case RAFT_LEADER: st->role = WP_ROLE_LEADER; break;
    default: st->role = WP_ROLE_UNAVAILABLE; break;
    }
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&c->raft, &lid, &laddr);
    st->leader_id = lid;
    if (laddr != NULL)
        snprintf(st->leader_address, sizeof st->leader_address, "%s", laddr);
    st->term = c->raft.current_term;
    st->commit_index = c->raft.commit_index;
    st->last_applied = raft_last_applied(&c->raft);
    st->last_index = raft_last_index(&c->raft);
}

bool wp_consensus_is_leader(wp_consensus *c)
{
    return running(c) && raft_state(&c->raft) == RAFT_LEADER;
}

/* ---------------------------------------------------------------- peers */

int wp_consensus_parse_peers(const char *spec, wp_consensus_server *servers, size_t max,
                             size_t *n, char (*extra)[WP_CONSENSUS_ADDR_MAX], wp_err *err)
{
    *n = 0;
    const char *p = spec;
    if (spec == NULL || *spec == '\0')
        return wp_errf(err, WP_EINVAL, "peers: empty list");
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[2 * WP_CONSENSUS_ADDR_MAX + 32];
        if (len == 0 || len >= sizeof item)
            return wp_errf(err, WP_EINVAL, "peers: bad entry '%.*s' (expected ID=ADDR)",
                           (int)(len > 64 ? 64 : len), p);
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL)
            return wp_errf(err, WP_EINVAL, "peers: '%s': expected ID=ADDR", item);
        *eq = '\0';
        uint64_t id;
        if (wp_parse_u64(item, &id) != WP_OK || id == 0)
            return wp_errf(err, WP_EINVAL, "peers: '%s': id must be a positive integer", item);
        char *addr = eq + 1;
        char *at = strchr(addr, '@');
        if (at != NULL) {
            if (extra == NULL)
                return wp_errf(err, WP_EINVAL, "peers: '%s': unexpected '@'", addr);
            *at = '\0';
        }
        if (*addr == '\0' || strlen(addr) >= WP_CONSENSUS_ADDR_MAX)
            return wp_errf(err, WP_EINVAL, "peers: id %llu: bad address", (unsigned long long)id);
        if (*n >= max)
            return wp_errf(err, WP_EINVAL, "peers: more than %zu servers", max);
        for (size_t i = 0; i < *n; i++)
            if (servers[i].id == id)
                return wp_errf(err, WP_EINVAL, "peers: id %llu listed twice",
                               (unsigned long long)id);
        servers[*n].id = id;
        snprintf(servers[*n].address, sizeof servers[*n].address, "%s", addr);
        if (extra != NULL) {
            extra[*n][0] = '\0';
            if (at != NULL) {
                if (strlen(at + 1) >= WP_CONSENSUS_ADDR_MAX || at[1] == '\0')
                    return wp_errf(err, WP_EINVAL, "peers: id %llu: bad '@' address",
                                   (unsigned long long)id);
                snprintf(extra[*n], WP_CONSENSUS_ADDR_MAX, "%s", at + 1);
            }
        }
        (*n)++;
        p += len;
        if (*p == ',')
            p++;
    }
    return WP_OK;
}
