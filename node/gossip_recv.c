/* gossip_recv.c — the gossip core's receive path: one decoded frame
 * (ping, ping-req with its relay table, ack, nack, gossip, push-pull) in,
 * merges and answers out. Pure; gossip.c's essay has the protocol.
 */
#include "node/gossip_int.h"

/* ---------------------------------------------------------------- receive */

static relay *relay_find(wp_gossip *g, uint64_t seq)
{
    for (size_t i = 0; i < MAX_RELAYS; i++)
        if (g->relays[i].used && g->relays[i].seq == seq)
            return &g->relays[i];
    return NULL;
}

static relay *relay_alloc(wp_gossip *g)
{
    relay *oldest = &g->relays[0];
    for (size_t i = 0; i < MAX_RELAYS; i++) {
        if (!g->relays[i].used)
            return &g->relays[i];
        if (g->relays[i].nack_at_ns < oldest->nack_at_ns)
            oldest = &g->relays[i];
    }
    return oldest;
}

/* Every record of a frame, each admitted first (gossip_sign.c). */
static void merge_all(wp_gossip *g, uint64_t now_ns, wp_gossip_msg *msg, bool pp)
{
    for (size_t i = 0; i < msg->n_updates; i++)
        if (wp_gossip__admit(g, now_ns, &msg->updates[i], &msg->owned[i], msg->from_id))
            wp_gossip__merge_record(g, now_ns, &msg->updates[i], &msg->owned[i], pp,
                                    msg->from_id);
}

int wp_gossip_receive(wp_gossip *g, uint64_t now_ns, const uint8_t *buf, size_t len)
{
    wp_gossip_msg msg;
    wp_err err;
    g->st.frames_in++;
    int rv = wp_gossip_msg_decode(buf, len, &msg, &err);
    if (rv) {
        g->st.frames_bad++;
        WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_DEBUG, now_ns, "%s: dropped frame: %s",
                    g->mem[0].m.id, wp_err_text(&err));
        return rv;
    }
    if (strcmp(msg.from_id, g->mem[0].m.id) == 0) {
        /* Our own id from elsewhere: a stale life of ours, or a duplicate. */
        bool pp = msg.type == WP_GMSG_PUSH_PULL || msg.type == WP_GMSG_PUSH_PULL_RESP;
        merge_all(g, now_ns, &msg, pp);
        wp_gossip_msg_clear(&msg);
        return WP_OK;
    }
    bool pp = msg.type == WP_GMSG_PUSH_PULL || msg.type == WP_GMSG_PUSH_PULL_RESP;
    g->stale_about_me = false;
    merge_all(g, now_ns, &msg, pp);
    /* The sender holds an old rumour about us that we refuted already:
     * correct it directly (our record rides on the ack, or goes alone). */
    bool correct_sender = g->stale_about_me && !g->leaving && msg.from_addr[0];
    if (correct_sender && msg.type != WP_GMSG_PING)
        wp_gossip__send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_GOSSIP, 0, "", "",
                              false, true);
    /* A sender we have never heard of knows us: sync with it (at most one
     * such push-pull per probe interval). */
    if (!pp && !g->leaving && msg.from_addr[0] && wp_gossip__find_idx(g, msg.from_id) < 0 &&
        now_ns - g->last_stranger_pp_ns >= g->cfg.probe_interval_ns) {
        g->last_stranger_pp_ns = now_ns;
        g->st.push_pulls++;
        wp_gossip__send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_PUSH_PULL, 0, "", "",
                              true, false);
    }
    if (g->leaving) {
        wp_gossip_msg_clear(&msg);
        return WP_OK;
    }
    switch (msg.type) {
    case WP_GMSG_PING:
        if (msg.target_id[0] && strcmp(msg.target_id, g->mem[0].m.id) != 0)
            break; /* meant for someone who had our address before */
        if (correct_sender)
            g->force_idx = 0;
        wp_gossip__send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_ACK, msg.seq, "", "",
                              false, false);
        g->force_idx = -1;
        break;
    case WP_GMSG_PING_REQ: {
        if (!msg.target_addr[0])
            break;
        relay *r = relay_alloc(g);
        memset(r, 0, sizeof *r);
        r->used = true;
        r->seq = g->seq_next++;
        r->origin_seq = msg.seq;
        r->nack_at_ns = now_ns + g->cfg.probe_timeout_ns;
        snprintf(r->origin_id, sizeof r->origin_id, "%s", msg.from_id);
        snprintf(r->origin_addr, sizeof r->origin_addr, "%s", msg.from_addr);
        wp_gossip__send_frame(g, now_ns, msg.target_addr, msg.target_id, WP_GMSG_PING, r->seq,
                   msg.target_id, msg.target_addr, false, false);
        break;
    }
    case WP_GMSG_ACK: {
        if (g->probe.active && msg.seq == g->probe.seq) {
            if (!g->probe.acked) {
                g->probe.acked = true;
                g->probe.active = false;
                wp_gossip__awareness_delta(g, g->probe.indirect_sent ? 0 : -1);
            }
            break;
        }
        relay *r = relay_find(g, msg.seq);
        if (r) {
            char oa[WP_GOSSIP_ADDR_MAX], oi[WP_NAME_MAX];
            memcpy(oa, r->origin_addr, sizeof oa);
            memcpy(oi, r->origin_id, sizeof oi);
            uint64_t os = r->origin_seq;
            r->used = false;
            wp_gossip__send_frame(g, now_ns, oa, oi, WP_GMSG_ACK, os, "", "", false, false);
        }
        break;
    }
    case WP_GMSG_NACK:
        if (g->probe.active && msg.seq == g->probe.seq)
            g->probe.nacks++;
        break;
    case WP_GMSG_PUSH_PULL:
        wp_gossip__send_frame(g, now_ns, msg.from_addr, msg.from_id, WP_GMSG_PUSH_PULL_RESP,
                              msg.seq, "", "", true, false);
        break;
    case WP_GMSG_PUSH_PULL_RESP:
        /* The answer to our periodic push-pull: no resend (gossip_tick.c). */
        if (g->pp.waiting && msg.seq == g->pp.seq && strcmp(msg.from_id, g->pp.target_id) == 0)
            g->pp.waiting = false;
        break;
    default:
        break;
    }
    wp_gossip_msg_clear(&msg);
    return WP_OK;
}

