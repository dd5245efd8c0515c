/* faultsim/raft_campaign.c — the placement state machine on raft's
 * in-memory fixture under seeded fault schedules (see faultsim.h).
 *
 * A schedule is `steps` steps; each picks one action with the seed's rng
 * and then lets 50-450 ms of simulated time pass:
 *   kill a server / revive one, pause a server for 0.3-3 s, cut a link both
 *   ways / heal one, drop one direction of a link (loss) / restore it, make
 *   a server's disk fail, or propose a command to whoever leads.
 * Never more than two servers of five are out at once (killed, paused or
 * fenced by a disk failure), so a majority can always make progress once
 * links heal. At the end every link and server comes back (fenced servers
 * stay out), a last command must commit, and wp_fsim_check's invariants
 * must hold. */
#include "faultsim/faultsim.h"

#include <stdlib.h>
#include <string.h>

static int sm_apply(void *ctx, const void *cmd, size_t len, const void **result)
{
    wp_fsim_server *sv = ctx;
    int rv = wp_place_state_apply(sv->state, cmd, len, &sv->last);
    *result = &sv->last;
    return rv;
}

static int sm_snapshot(void *ctx, void **buf, size_t *len)
{
    wp_fsim_server *sv = ctx;
    return wp_place_state_snapshot(sv->state, buf, len, NULL);
}

static int sm_restore(void *ctx, const void *buf, size_t len, wp_err *err)
{
    wp_fsim_server *sv = ctx;
    sv->restores++;
    return wp_place_state_restore(sv->state, buf, len, err);
}

int wp_fsim_world_init(wp_fsim_world *w, unsigned n, bool shim, wp_err *err)
{
    memset(w, 0, sizeof *w);
    if (n < 1 || n > WP_FSIM_MAX_SERVERS)
        return wp_errf(err, WP_EINVAL, "faultsim: %u servers (1..%d)", n, WP_FSIM_MAX_SERVERS);
    w->n = n;
    w->shim = shim;
    int rv = wp_place_geo_init(&w->geo, 3, err);
    if (rv != WP_OK)
        return rv;
    const char *codes[] = {"FRA", "JFK", "SIN"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(w->geo.cities[i].code, WP_PLACE_CODE_MAX, "%s", codes[i]);
        w->geo.cities[i].pop_weight = 1;
        for (size_t j = 0; j < 3; j++)
            w->geo.rtt_ms[i * 3 + j] = i == j ? 1.0f : 80.0f;
    }
    /* memset above: the fixture reads fields it never sets otherwise */
    if (raft_fixture_initialize(&w->f) != 0)
        return wp_errf(err, WP_ENOMEM, "faultsim: fixture");
    for (unsigned i = 0; i < n; i++) {
        wp_fsim_server *sv = &w->s[i];
        rv = wp_place_state_new(&w->geo, &sv->state, err);
        if (rv != WP_OK)
            return rv;
        sv->sm = (wp_consensus_sm){sv, sm_apply, sm_snapshot, sm_restore, NULL};
        wp_consensus_fsm_init(&sv->fsm, &sv->sm);
        if (raft_fixture_grow(&w->f, &sv->fsm) != 0)
            return wp_errf(err, WP_ENOMEM, "faultsim: fixture grow");
        struct raft *r = raft_fixture_get(&w->f, i);
        /* Without the shim a bare guard still goes on: the fixture's disk
         * cannot take a cut past its pending writes (consensus.c). */
        if ((sv->shim = wp_consensus_shim_install(r->io)) == NULL)
            return wp_errf(err, WP_ENOMEM, "faultsim: shim");
        wp_consensus_shim_guard_fixture(sv->shim);
        if (!shim)
            wp_consensus_shim_bare(sv->shim);
        raft_set_pre_vote(r, true);
        raft_set_snapshot_threshold(r, 8);
        raft_set_snapshot_trailing(r, 4);
        /* A lost InstallSnapshot is resent after this (raft's default is
         * 30 s, longer than the convergence the check waits for). */
        raft_set_install_snapshot_timeout(r, 2000);
    }
    struct raft_configuration conf;
    if (raft_fixture_configuration(&w->f, n, &conf) != 0)
        return wp_errf(err, WP_ENOMEM, "faultsim: configuration");
    rv = raft_fixture_bootstrap(&w->f, &conf);
    raft_configuration_close(&conf);
    if (rv != 0 || raft_fixture_start(&w->f) != 0)
        return wp_errf(err, WP_EIO, "faultsim: fixture start");
    if (!raft_fixture_step_until_has_leader(&w->f, 10000))
        return wp_errf(err, WP_ESTATE, "faultsim: no first leader");
    return WP_OK;
}

void wp_fsim_world_close(wp_fsim_world *w)
{
    for (unsigned i = 0; i < w->n; i++)
        if (w->s[i].shim)
            wp_consensus_shim_release(w->s[i].shim);
    raft_fixture_close(&w->f);
    for (unsigned i = 0; i < w->n; i++) {
        wp_place_state_free(w->s[i].state);
        wp_consensus_shim_free(w->s[i].shim);
    }
    wp_place_geo_close(&w->geo);
}

static void apply_done(struct raft_apply *a, int status, void *result)
{
    wp_fsim_req *r = a->data;
    r->done = true;
    r->status = status;
    r->code = status == 0 ? ((const wp_place_result *)result)->code : -1;
}

wp_fsim_req *wp_fsim_propose(wp_fsim_world *w, unsigned i, const wp_place_cmd *cmd)
{
    void *buf;
    size_t len;
    if (w->n_reqs >= WP_FSIM_MAX_REQS || wp_place_cmd_encode(cmd, &buf, &len, NULL) != WP_OK)
        return NULL;
    wp_fsim_req *r = &w->reqs[w->n_reqs];
    memset(r, 0, sizeof *r);
    r->apply.data = r;
    if (cmd->type == WP_PLACE_CMD_CATALOG_ADD)
        snprintf(r->model, sizeof r->model, "%s", cmd->profile.name);
    size_t flen = wp_consensus_frame(NULL, buf, len);
    struct raft_buffer rb = {raft_malloc(flen), flen};
    if (rb.base == NULL) {
        free(buf);
        return NULL;
    }
    wp_consensus_frame(rb.base, buf, len);
    free(buf);
    if (raft_apply(raft_fixture_get(&w->f, i), &r->apply, &rb, 1, apply_done) != 0) {
        raft_free(rb.base);
        return NULL;
    }
    w->n_reqs++;
    return r;
}

wp_fsim_req *wp_fsim_add_model(wp_fsim_world *w, unsigned i, const char *name)
{
    wp_place_cmd c = {.type = WP_PLACE_CMD_CATALOG_ADD};
    snprintf(c.profile.name, sizeof c.profile.name, "%s", name);
    c.profile.size_bytes = 4ull * 1000 * 1000 * 1000;
    c.profile.slots_per_gpu = 4;
    c.profile.load_bytes_per_s = 2e9;
    return wp_fsim_propose(w, i, &c);
}

bool wp_fsim_fenced(const wp_fsim_world *w, unsigned i)
{
    return w->s[i].shim != NULL && wp_consensus_shim_disk_status(w->s[i].shim) != 0;
}

static bool fail(char *why, size_t cap, const char *fmt, ...) WP_PRINTF(3, 4);
static bool fail(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return false;
}

/* Every server that is not fenced has applied index. */
static bool all_applied(struct raft_fixture *f, void *arg)
{
    const wp_fsim_world *w = arg;
    unsigned l = raft_fixture_leader_index(f);
    if (l >= w->n)
        return false;
    raft_index last = raft_last_index(raft_fixture_get(f, l));
    for (unsigned i = 0; i < w->n; i++)
        if (!wp_fsim_fenced(w, i) && raft_last_applied(raft_fixture_get(f, i)) < last)
            return false;
    return true;
}

bool wp_fsim_check(wp_fsim_world *w, char *why, size_t cap)
{
    /* The fixture only calls a leader stable once every connected server
     * follows it, so a leader can blink out while a server catches up:
     * look again (three rounds of up to 10 s simulated). */
    unsigned l = w->n;
    raft_index last = 0;
    for (int round = 0; round < 3; round++) {
        if (!raft_fixture_step_until_has_leader(&w->f, 10000))
            return fail(why, cap, "no leader");
        l = raft_fixture_leader_index(&w->f);
        last = raft_last_index(raft_fixture_get(&w->f, l));
        raft_fixture_step_until(&w->f, all_applied, w, 10000);
        if (raft_fixture_leader_index(&w->f) < w->n)
            break;
    }
    for (unsigned i = 0; i < w->n; i++) {
        struct raft *r = raft_fixture_get(&w->f, i);
        if (!wp_fsim_fenced(w, i) && raft_last_applied(r) < last) {
            /* The leader's replication state for it (raft.h struct
             * raft_progress), for the reproduction: in the 3 of 10,000
             * schedules that failed before the shim's fault 3 fix
             * (consensus.c), the follower followed this leader in its
             * term, every link was up, and the leader stayed at next 9,
             * match 8 (snapshot or probe) for 30 s while the follower
             * held more. */
            struct raft *lr = l < w->n ? raft_fixture_get(&w->f, l) : NULL;
            const struct raft_progress *pg =
                lr && lr->state == RAFT_LEADER ? &lr->leader_state.progress[i] : NULL;
            return fail(why, cap,
                        "server %u left behind: applied %llu of %llu (commit %llu, last %llu, "
                        "term %llu; leader %u, its view of it: state %d next %llu match %llu "
                        "snapshot %llu)",
                        i, (unsigned long long)raft_last_applied(r), (unsigned long long)last,
                        (unsigned long long)r->commit_index,
                        (unsigned long long)raft_last_index(r),
                        (unsigned long long)r->current_term, l, pg ? (int)pg->state : -1,
                        (unsigned long long)(pg ? pg->next_index : 0),
                        (unsigned long long)(pg ? pg->match_index : 0),
                        (unsigned long long)(pg ? pg->snapshot_index : 0));
        }
    }
    void *ref = NULL;
    size_t ref_len = 0;
    bool ok = true;
    for (unsigned i = 0; i < w->n && ok; i++) {
        if (wp_fsim_fenced(w, i))
            continue;
        for (unsigned k = 0; k < w->n_reqs && ok; k++) {
            const wp_fsim_req *r = &w->reqs[k];
            if (r->done && r->status == 0 && r->code == WP_OK && r->model[0] &&
                wp_place_state_find_model(w->s[i].state, r->model) < 0)
                ok = fail(why, cap, "server %u lost acknowledged model %s", i, r->model);
        }
        void *buf;
        size_t len;
        if (!ok || wp_place_state_snapshot(w->s[i].state, &buf, &len, NULL) != WP_OK) {
            ok = ok && fail(why, cap, "server %u: snapshot failed", i);
            break;
        }
        if (ref == NULL) {
            ref = buf;
            ref_len = len;
            continue;
        }
        if (len != ref_len || memcmp(buf, ref, len) != 0)
            ok = fail(why, cap, "server %u's state differs from the first live server's", i);
        free(buf);
    }
    free(ref);
    return ok;
}

enum { OUT_NONE, OUT_KILLED, OUT_PAUSED, OUT_FENCED };

/* A server fenced by a failed write leaves the fixture for good (it would
 * never follow anyone, and the fixture only calls a leader stable once
 * every connected live server follows it). */
static void retire_fenced(wp_fsim_world *w, int *out)
{
    for (unsigned i = 0; i < w->n; i++)
        if (out[i] != OUT_FENCED && wp_fsim_fenced(w, i)) {
            raft_fixture_kill(&w->f, i);
            out[i] = OUT_FENCED;
        }
}

/* Lets ms of simulated time pass, retiring servers as they are fenced. */
static void pass(wp_fsim_world *w, int *out, unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 10) {
        raft_fixture_step_until_elapsed(&w->f, 10);
        retire_fenced(w, out);
    }
}

int wp_fsim_raft_run(uint64_t seed, const wp_fsim_opts *o, wp_fsim_report *rep, wp_err *err)
{
    memset(rep, 0, sizeof *rep);
    rep->seed = seed;
    wp_fsim_world *w = malloc(sizeof *w);
    if (w == NULL)
        return wp_errf(err, WP_ENOMEM, "faultsim: out of memory");
    int rv = wp_fsim_world_init(w, 5, o->shim, err);
    if (rv != WP_OK) {
        free(w);
        return rv;
    }
    wp_rng rng;
    wp_rng_seed(&rng, seed);
    int out[5] = {OUT_NONE};
    uint64_t resume_at[5] = {0};
    bool injected[5] = {false}; /* a disk failure is armed (fences on its next write) */
    unsigned steps = o->steps ? o->steps : 80, k = 0;
    for (unsigned step = 0; step < steps && w->n_reqs < WP_FSIM_MAX_REQS - 2; step++) {
        unsigned n_out = 0;
        for (unsigned i = 0; i < 5; i++) {
            if (out[i] == OUT_PAUSED && raft_fixture_time(&w->f) >= resume_at[i]) {
                raft_fixture_revive(&w->f, i);
                out[i] = OUT_NONE;
            }
            n_out += out[i] != OUT_NONE || injected[i];
        }
        unsigned a = (unsigned)wp_rng_below(&rng, 5), b = (unsigned)wp_rng_below(&rng, 5);
        bool a_up = out[a] == OUT_NONE && !injected[a];
        switch (wp_rng_below(&rng, 10)) {
        case 0: /* kill */
            if (a_up && n_out < 2) {
                raft_fixture_kill(&w->f, a);
                out[a] = OUT_KILLED;
                rep->kills++;
            }
            break;
        case 1: /* revive */
            if (out[a] == OUT_KILLED) {
                raft_fixture_revive(&w->f, a);
                out[a] = OUT_NONE;
            }
            break;
        case 2: /* pause */
            if (a_up && n_out < 2) {
                raft_fixture_kill(&w->f, a);
                out[a] = OUT_PAUSED;
                resume_at[a] = raft_fixture_time(&w->f) + 300 + wp_rng_below(&rng, 2700);
                rep->pauses++;
            }
            break;
        case 3: /* a link fails both ways */
            if (a != b) {
                raft_fixture_disconnect(&w->f, a, b);
                rep->partitions++;
            }
            break;
        case 4:
            if (a != b && out[a] == OUT_NONE && out[b] == OUT_NONE)
                raft_fixture_reconnect(&w->f, a, b);
            break;
        case 5: /* one direction drops everything */
            if (a != b) {
                raft_fixture_saturate(&w->f, a, b);
                rep->losses++;
            }
            break;
        case 6:
            if (a != b)
                raft_fixture_desaturate(&w->f, a, b);
            break;
        case 7: /* the next disk write fails, as on a full disk */
            if (o->disk_faults && o->shim && a_up && n_out < 2) {
                wp_consensus_shim_inject_disk_failure(w->s[a].shim);
                injected[a] = true;
                rep->disk_faults++;
            }
            break;
        default: /* a proposal to whoever leads */
            for (unsigned i = 0; i < 5; i++)
                if (out[i] == OUT_NONE && !wp_fsim_fenced(w, i) &&
                    raft_state(raft_fixture_get(&w->f, i)) == RAFT_LEADER) {
                    char name[32];
                    snprintf(name, sizeof name, "m%03u", k++);
                    if (wp_fsim_add_model(w, i, name))
                        rep->proposals++;
                    break;
                }
            break;
        }
        pass(w, out, 50 + (unsigned)wp_rng_below(&rng, 400));
    }
    /* Heal: every server back, every link up both ways, no loss. A server
     * whose disk failed stays out (its I/O keeps failing). */
    for (unsigned i = 0; i < 5; i++)
        if (out[i] == OUT_KILLED || out[i] == OUT_PAUSED) {
            raft_fixture_revive(&w->f, i);
            out[i] = OUT_NONE;
        }
    for (unsigned i = 0; i < 5; i++)
        for (unsigned j = 0; j < 5; j++)
            if (i != j && out[i] == OUT_NONE && out[j] == OUT_NONE) {
                raft_fixture_reconnect(&w->f, i, j);
                raft_fixture_desaturate(&w->f, i, j);
            }
    rep->ok = true;
    if (!raft_fixture_step_until_has_leader(&w->f, 20000)) {
        rep->ok = fail(rep->why, sizeof rep->why, "no leader after healing");
    } else {
        /* The last command, retried as a client would while its outcome is
         * unknown (its leader may be fenced by a disk failure armed earlier). */
        wp_fsim_req *last = NULL;
        for (int tries = 0; tries < 10 && !(last && last->done && last->status == 0); tries++) {
            unsigned l = raft_fixture_leader_index(&w->f);
            last = l < 5 ? wp_fsim_add_model(w, l, "final") : NULL;
            for (unsigned t = 0; last && t < 3000 && !last->done; t += 10)
                pass(w, out, 10);
            if (last == NULL || !last->done)
                pass(w, out, 500);
        }
        if (last == NULL || !last->done || last->status != 0)
            rep->ok = fail(rep->why, sizeof rep->why, "the final command did not commit");
        else
            rep->ok = wp_fsim_check(w, rep->why, sizeof rep->why);
    }
    for (unsigned i = 0; i < w->n_reqs; i++)
        rep->acked += w->reqs[i].done && w->reqs[i].status == 0;
    for (unsigned i = 0; i < 5; i++)
        if (w->s[i].shim) {
            rep->capped += wp_consensus_shim_capped(w->s[i].shim);
            uint64_t mismatched = 0;
            rep->trimmed += wp_consensus_shim_trimmed(w->s[i].shim, &mismatched);
            rep->trim_mismatched += mismatched;
        }
    wp_fsim_world_close(w);
    free(w);
    return WP_OK;
}
