/* consensus/consensus.h — a thin layer over canonical raft 0.15 with libuv
 * I/O: start (bootstrap or restart from a data directory), apply a command
 * and get the state machine's result, snapshot and restore, report leader,
 * term and commit index. Errors come out as text (raft_errmsg), never as
 * bare raft codes.
 *
 * The replicated state machine is given as a wp_consensus_sm: three
 * callbacks over plain byte buffers, so the state machine itself (for
 * warmpath, placement/) never sees raft, libuv or this header.
 *
 * Lifecycle: wp_consensus_new → wp_consensus_start → ... →
 * wp_consensus_close(cb). The object is freed after the close callback has
 * run; the loop must keep running until then. Single-threaded: every call
 * is made on the loop's thread.
 */
#ifndef WP_CONSENSUS_H
#define WP_CONSENSUS_H

#include "common/common.h"

struct uv_loop_s;
struct raft_fsm;
struct raft_io;

/* The replicated state machine.
 * apply: a committed command. Must be deterministic and must not fail for
 *   bad input (a refused command is a result, not an error): write the
 *   outcome to *result, a pointer into memory the state machine owns that
 *   stays valid until the next apply. Return non-zero only for a fatal
 *   error (out of memory), which stops this server.
 * snapshot: encode the whole state into a malloc'd buffer (*buf, *len);
 *   the caller frees it with free().
 * restore: replace the state with a decoded snapshot; on error the state
 *   is unchanged and the message says why.
 * reset: back to the empty initial state; called before raft is started
 *   again from disk (wp_consensus_restart), which restores the last
 *   snapshot and replays the log after it. May be NULL where raft is never
 *   restarted (the fixture); wp_consensus refuses to restart without it. */
typedef struct wp_consensus_sm {
    void *ctx;
    int (*apply)(void *ctx, const void *cmd, size_t len, const void **result);
    int (*snapshot)(void *ctx, void **buf, size_t *len);
    int (*restore)(void *ctx, const void *buf, size_t len, wp_err *err);
    int (*reset)(void *ctx);
} wp_consensus_sm;

/* Fills a raft_fsm (version 2) that drives sm; for raft's in-memory
 * fixture in tests, and used internally by wp_consensus_new. sm must
 * outlive fsm. */
void wp_consensus_fsm_init(struct raft_fsm *fsm, wp_consensus_sm *sm);

/* Frames a command as wp_consensus_apply hands it to raft (8-byte header,
 * padded to a multiple of 8, which raft's disk log needs); for tests that
 * call raft_apply on the in-memory fixture directly. dst NULL: returns the
 * framed size only. */
size_t wp_consensus_frame(void *dst, const void *cmd, size_t len);

/* A shim between raft 0.15 and its raft_io (disk and network), fixing three
 * faults of the library from below (consensus.c has the essay):
 *  - a follower answering an AppendEntries that added nothing reports its
 *    whole stored log as matching the leader's, stale entries of an older
 *    term included; the leader then counts it as holding entries it does not
 *    hold and never repairs it (a follower left behind for good, and a
 *    commit counted on a replica that lacks the entry). The shim caps the
 *    reported index at what the request proved: prev_log_index + n_entries.
 *  - after a failed disk write raft 0.15 reuses the log index
 *    (canonical/raft#320) and uv may write later entries past a hole. The
 *    shim fences the server at the first failed write: every later send is
 *    refused (nothing it says can be wrong) and every later write reports
 *    failure (nothing after the hole is acknowledged). A fenced raft
 *    instance must be closed and started again from disk; wp_consensus does
 *    that by itself.
 *  - a leader whose view of a follower lies below the follower's own
 *    snapshot sends it an AppendEntries whose prev_log_index the follower
 *    has compacted away; raft rejects it, the leader probes down to its own
 *    older snapshot, which raft ignores, and the follower never catches up.
 *    The shim starts such a request at the follower's snapshot (dropping the
 *    entries it covers) when the request's entry there has the snapshot's
 *    term: by Log Matching the leader could have sent it so.
 * Install it on a raft_io after raft_init and before raft_start; it hangs
 * on the raft instance's user data pointer (struct raft.data), which must
 * be unused. */
typedef struct wp_consensus_shim wp_consensus_shim;
/* Installs a shim (malloc'd; NULL when out of memory). Free it with
 * wp_consensus_shim_free once the raft instance using io is closed. */
wp_consensus_shim *wp_consensus_shim_install(struct raft_io *io);
void wp_consensus_shim_free(wp_consensus_shim *shim);
/* Call right before closing the raft instance: writes held back while
 * fenced are reported to raft (as failures) so it frees what it holds. */
void wp_consensus_shim_release(wp_consensus_shim *shim);
/* The raft code of the first failed disk write (0: none; the server is
 * fenced while it is not 0), and how many answers were capped. */
int wp_consensus_shim_disk_status(const wp_consensus_shim *shim);
uint64_t wp_consensus_shim_capped(const wp_consensus_shim *shim);
/* How many incoming AppendEntries were rewritten to start at this server's
 * snapshot (their prev_log_index lay below it; consensus.c, fault 3), and
 * in *mismatched (if not NULL) how many such requests of the current term
 * were left alone because their entry at the snapshot's index had another
 * term, which Log Matching rules out (0 unless raft broke it). */
uint64_t wp_consensus_shim_trimmed(const wp_consensus_shim *shim, uint64_t *mismatched);
/* For tests on raft's fixture: the next disk write completes with
 * RAFT_NOSPACE, as one on a full disk does (asynchronously; the fixture's
 * own I/O faults fail synchronously, a path raft 0.15 double-frees on). */
void wp_consensus_shim_inject_disk_failure(wp_consensus_shim *shim);
/* For raft's fixture only: skip truncations past what its in-memory disk
 * has written (the fixture reads past its array otherwise; consensus.c). */
void wp_consensus_shim_guard_fixture(wp_consensus_shim *shim);
/* For tests: no capping, no fencing, no rewriting (raft 0.15 as it is),
 * guard aside. */
void wp_consensus_shim_bare(wp_consensus_shim *shim);

#define WP_CONSENSUS_ADDR_MAX 128
#define WP_CONSENSUS_MAX_SERVERS 7

typedef struct wp_consensus_server {
    uint64_t id; /* > 0, unique */
    char address[WP_CONSENSUS_ADDR_MAX]; /* raft address the others reach, "10.0.0.5:7001" */
} wp_consensus_server;

/* Authenticated raft peer traffic (consensus/peer_auth.c has the essay):
 * a raft_uv_transport over TCP that runs a mutual Ed25519 challenge-
 * response with every peer before raft reads or writes a byte on the
 * connection. The keys stay with the caller: the transport asks it to sign
 * its side of a handshake and to judge the other side's. */
#define WP_PEER_AUTH_SIG_BYTES 64
#define WP_PEER_AUTH_TIMEOUT_MS 2000
typedef struct wp_peer_auth {
    const char *name; /* this server's key name, 1..63 bytes (copied) */
    /* Signs msg with this server's key: 0 on success. */
    int (*sign)(void *ctx, const void *msg, size_t len, uint8_t sig[WP_PEER_AUTH_SIG_BYTES]);
    /* True only if `name` is a key allowed to speak raft as server
     * raft_id and sig is its signature over msg. */
    bool (*verify)(void *ctx, const char *name, uint64_t raft_id, const void *msg, size_t len,
                   const uint8_t sig[WP_PEER_AUTH_SIG_BYTES]);
    void *ctx;
} wp_peer_auth;

typedef struct wp_peer_auth_stats {
    uint64_t accepted; /* handshakes passed, both directions */
    uint64_t refused;  /* handshakes failed: no or wrong key, bad proof, timeout, junk */
} wp_peer_auth_stats;

struct raft_uv_transport;
/* Fills t with the authenticated transport. servers: the raft
 * configuration (an incoming peer must prove one of these ids with its
 * address). stats must outlive t. Returns 0 or a raft error code. Free
 * with wp_peer_auth_transport_free once raft's I/O has closed it. */
int wp_peer_auth_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop,
                                const wp_peer_auth *auth, const wp_consensus_server *servers,
                                size_t n_servers, wp_peer_auth_stats *stats);
/* Listens on address (IPv4 HOST:PORT, e.g. 0.0.0.0:P) instead of the raft
 * address given to init, which stays what peers are told and checked
 * against. Call before raft starts. */
int wp_peer_auth_transport_set_bind(struct raft_uv_transport *t, const char *address);
void wp_peer_auth_transport_free(struct raft_uv_transport *t);

typedef struct wp_consensus_config {
    uint64_t id;               /* this server; must be one of servers[] */
    const char *data_dir;      /* created (one level) if missing */
    const wp_consensus_server *servers; /* the initial configuration */
    size_t n_servers;          /* 1..WP_CONSENSUS_MAX_SERVERS */
    unsigned election_timeout_ms; /* 0 = 300 */
    unsigned heartbeat_ms;        /* 0 = 30 */
    unsigned snapshot_threshold;  /* entries between snapshots; 0 = 1024 */
    unsigned snapshot_trailing;   /* entries kept after one; 0 = 128 */
    unsigned segment_kib;         /* raft log segment size; 0 = 1024 (consensus.c) */
    const char *bind_address;     /* raft listens here (e.g. "0.0.0.0:7001"); NULL = this
                                   * server's address in servers[] */
    wp_consensus_sm sm;
    /* Peer authentication (copied; ctx must outlive the consensus). NULL:
     * raft's own plain TCP transport, which any process that reaches the
     * raft port can speak to. */
    const wp_peer_auth *peer_auth;
} wp_consensus_config;

typedef struct wp_consensus wp_consensus;

/* Initialises raft on loop: transport, disk I/O, configuration. Does not
 * start it. On error *out is NULL and err says why. */
int wp_consensus_new(struct uv_loop_s *loop, const wp_consensus_config *cfg,
                     wp_consensus **out, wp_err *err);
/* Bootstraps the configuration on a fresh data directory (an existing one
 * is simply restarted) and starts elections and I/O. */
int wp_consensus_start(wp_consensus *c, wp_err *err);
/* Stops raft and closes its I/O; cb(data) runs once everything is closed
 * and c has been freed. Safe on a consensus that was never started. */
void wp_consensus_close(wp_consensus *c, void (*cb)(void *data), void *data);

/* Result of an apply: status 0 and the state machine's result pointer
 * (valid only during the callback), or WP_EUNKNOWN with a message: raft
 * took the command but could not see it committed (leadership lost,
 * shutdown, a restart after a failed write); it may still be committed by
 * the next leader. */
typedef void (*wp_consensus_apply_cb)(void *data, int status, const char *errmsg,
                                      const void *result);
/* Proposes cmd (copied). Only a leader accepts: WP_ENOLEADER otherwise. If
 * this returns an error, cb is never called. */
int wp_consensus_apply(wp_consensus *c, const void *cmd, size_t len, wp_consensus_apply_cb cb,
                       void *data, wp_err *err);

/* Appends a barrier entry: cb(data, 0, NULL, NULL) runs once every entry
 * before it is committed and applied here. A new leader uses it before
 * serving reads (raft 0.15 appends no entry of its own on election, so
 * entries of earlier terms are not applied until something commits). */
int wp_consensus_barrier(wp_consensus *c, wp_consensus_apply_cb cb, void *data, wp_err *err);

enum wp_consensus_role {
    WP_ROLE_UNAVAILABLE = 0,
    WP_ROLE_FOLLOWER,
    WP_ROLE_CANDIDATE,
    WP_ROLE_LEADER
};
const char *wp_consensus_role_name(int role);

typedef struct wp_consensus_status {
    uint64_t id;
    int role;              /* enum wp_consensus_role */
    uint64_t leader_id;    /* 0 if none known */
    char leader_address[WP_CONSENSUS_ADDR_MAX];
    uint64_t term;
    uint64_t commit_index;
    uint64_t last_applied;
    uint64_t last_index;
    uint64_t restarts;     /* raft instances restarted from disk */
    bool peer_auth;        /* raft peers authenticated (wp_peer_auth) */
    wp_peer_auth_stats peer; /* handshakes, all raft instances of this server */
} wp_consensus_status;

/* Closes this server's raft instance and starts a new one from its data
 * directory (retrying every 200 ms while that fails, e.g. on a full
 * disk): a leader steps down, pending commands end as WP_EUNKNOWN. Done by
 * itself when a disk write fails (see the shim above); the daemon also
 * uses it for a leader whose barrier never completes. WP_ESTATE if one is
 * already under way. */
int wp_consensus_restart(wp_consensus *c, const char *why);
uint64_t wp_consensus_restarts(const wp_consensus *c);

/* Polled, not pushed: raft 0.15 has no state-change callback. */
void wp_consensus_get_status(wp_consensus *c, wp_consensus_status *st);
bool wp_consensus_is_leader(wp_consensus *c);

/* Parses "ID=ADDR[,ID=ADDR...]" into servers (ids > 0, unique; ADDR up to
 * WP_CONSENSUS_ADDR_MAX-1 bytes; an optional "@..." suffix after ADDR is
 * returned in extra[i] when extra is not NULL, else refused). */
int wp_consensus_parse_peers(const char *spec, wp_consensus_server *servers, size_t max,
                             size_t *n, char (*extra)[WP_CONSENSUS_ADDR_MAX], wp_err *err);

#endif /* WP_CONSENSUS_H */
