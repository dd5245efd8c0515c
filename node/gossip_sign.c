/* gossip_sign.c — signed records in the gossip core (issue 14). Pure: the
 * keys stay with the caller, reached through wp_gossip_auth.
 *
 * What is signed. A record is split (codec.c) into its owner part — id,
 * city, address, incarnation, alive-or-left, the whole capacity record —
 * which only the member itself produces, and the sender's view (status,
 * incarnation, status_from). The owner encodes its part once per change
 * (wp_gossip__reseal_self), signs those bytes, and every relay forwards
 * the same bytes and signature: the signature holds end to end and covers
 * any field added to the capacity record.
 *
 * What a receiver with keys accepts (wp_gossip__admit):
 *  - a record whose owner part is newer than the one it holds, (incarnation,
 *    left, capacity version) compared, only with a valid signature by the
 *    member named in it: a forged capacity record at version 2^64-1, or a
 *    LEFT at incarnation 2^64-1, is refused here, whoever relays it;
 *  - the owner part it already holds, byte for byte: no check (it was
 *    checked when first held) — the cache that keeps verification off the
 *    hot path, since most records a member hears are relays of what it has;
 *  - an older owner part: never checked and never used; the record is kept
 *    only as an opinion (suspect/dead) and an alive/left one is dropped as
 *    stale;
 *  - opinions (suspect, dead) made by a third party stay SWIM's: anyone
 *    admitted to gossip (CurveZMQ decides who) may suspect anyone, but at
 *    an incarnation the owner has signed, no higher; so nobody but the
 *    member raises its incarnation, and its refutation (its own next
 *    incarnation, signed) always wins. LEFT is the owner's word only: the
 *    codec refuses a left record whose owner part does not say left.
 * Anything else — unsigned, badly signed, an opinion past the signed
 * incarnation — is refused, counted in records_forged and logged at most
 * once a second (with how many were not). Without keys (auth NULL) records
 * travel unsigned and are taken as before; the bounds of gossip.c's essay
 * ("Forged records") hold either way.
 */
#include "node/gossip_int.h"

int wp_gossip__owned_cmp(uint64_t inc_a, bool left_a, uint64_t ver_a, uint64_t inc_b,
                         bool left_b, uint64_t ver_b)
{
    if (inc_a != inc_b)
        return inc_a < inc_b ? -1 : 1;
    if (left_a != left_b)
        return left_a ? 1 : -1;
    if (ver_a != ver_b)
        return ver_a < ver_b ? -1 : 1;
    return 0;
}

bool wp_gossip__owned_set(member *x, const uint8_t *bytes, size_t len)
{
    if (len > WP_GOSSIP_OWNED_MAX)
        return false;
    if (len > x->owned_cap) {
        uint8_t *p = realloc(x->owned, len);
        if (!p)
            return false;
        x->owned = p;
        x->owned_cap = (uint16_t)len;
    }
    memcpy(x->owned, bytes, len);
    x->owned_len = (uint16_t)len;
    return true;
}

void wp_gossip__reseal_self(wp_gossip *g)
{
    member *s = &g->mem[0];
    uint8_t buf[WP_GOSSIP_OWNED_MAX];
    size_t len = 0;
    wp_err err;
    s->has_sig = false;
    if (wp_gossip_owned_encode(&s->m, buf, sizeof buf, &len, &err) != WP_OK ||
        !wp_gossip__owned_set(s, buf, len)) {
        s->owned_len = 0;
        return;
    }
    s->owned_inc = s->m.incarnation;
    s->owned_left = s->m.status == WP_MEMBER_LEFT;
    s->owned_ver = s->m.cap.version;
    if (g->has_auth)
        s->has_sig = g->auth.sign(g->auth.ctx, s->owned, len, s->sig) == 0;
}

static bool refuse(wp_gossip *g, uint64_t now, const wp_gossip_member *r, const char *sender,
                   const char *why)
{
    g->st.records_forged++;
    if (g->forged_log_ns != 0 && now - g->forged_log_ns < WP_NS_PER_S) {
        g->forged_unlogged++;
        return false;
    }
    WP_CORE_LOG(g->has_log ? &g->log : NULL, WP_LOG_WARN, now,
                "%s: refused record (%s) about %s from %s: %s (%llu more not logged)",
                g->mem[0].m.id, wp_member_status_name(r->status), r->id, sender, why,
                (unsigned long long)g->forged_unlogged);
    g->forged_log_ns = now ? now : 1;
    g->forged_unlogged = 0;
    return false;
}

bool wp_gossip__admit(wp_gossip *g, uint64_t now, wp_gossip_member *r,
                      const wp_gossip_owned *own, const char *sender)
{
    if (!g->has_auth)
        return true;
    if (!own || !own->len || !own->has_sig)
        return refuse(g, now, r, sender, "unsigned");
    int idx = wp_gossip__find_idx(g, r->id);
    member *x = idx >= 0 ? &g->mem[idx] : NULL;
    uint64_t signed_inc;
    int c = x && x->owned_len ? wp_gossip__owned_cmp(own->incarnation, own->left,
                                                     r->cap.version, x->owned_inc,
                                                     x->owned_left, x->owned_ver)
                              : 1;
    if (c <= 0) {
        bool same = c == 0 && x->has_sig && x->owned_len == own->len &&
                    memcmp(x->owned, own->bytes, own->len) == 0 &&
                    memcmp(x->sig, own->sig, WP_GOSSIP_SIG_BYTES) == 0;
        if (!same) {
            /* Not newer than what we hold: its owner part is not used, so
             * not checked. An alive/left record says nothing new. */
            if (r->status == WP_MEMBER_ALIVE || r->status == WP_MEMBER_LEFT)
                return false;
            snprintf(r->city, sizeof r->city, "%s", x->m.city);
            snprintf(r->addr, sizeof r->addr, "%s", x->m.addr);
            r->cap = x->m.cap;
        }
        signed_inc = x->owned_inc;
    } else {
        g->st.sigs_verified++;
        if (!g->auth.verify(g->auth.ctx, r->id, own->bytes, own->len, own->sig))
            return refuse(g, now, r, sender, "bad signature or unknown key");
        signed_inc = own->incarnation;
    }
    if ((r->status == WP_MEMBER_SUSPECT || r->status == WP_MEMBER_DEAD) &&
        r->incarnation > signed_inc)
        return refuse(g, now, r, sender, "an opinion past the incarnation its owner signed");
    return true;
}
