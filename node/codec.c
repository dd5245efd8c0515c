/* codec.c — gossip frames in msgpack, with limits.
 *
 * msgpack-c 4.0 has no limits: a 6-byte input declaring a 268-million-
 * element array makes msgpack_unpack reserve ~8 GB (see shared notes
 * DEPS.md). So every frame first passes wp_msgpack_check (common/), which
 * walks the raw bytes without allocating and rejects oversized or
 * impossible declared counts, long strings, deep nesting, truncation and
 * trailing bytes. Only input that passes is
 * given to msgpack_unpack_next, whose allocation is then bounded by a small
 * multiple of len (which is itself capped at WP_FRAME_MAX_BYTES).
 *
 * The frame, version 2 (every field always present, positional):
 *   [ version:uint, type:uint, seq:uint, from_id:str, from_addr:str,
 *     target_id:str, target_addr:str, updates:[record...] ]
 *   record = [ owned:bin, sig:bin, status:uint, incarnation:uint,
 *              status_from:str ]
 *   owned  = msgpack bytes, as the member itself encoded them, of
 *            [ id:str, city:str, addr:str, incarnation:uint, status:uint
 *              (alive or left), cap_version:uint, gpus:uint,
 *              gpu_mem_free_bytes:uint, queue_depth:uint, draining:bool,
 *              warm:[str...] ]
 *            or the same with two more fields (issue 15; the decoder takes
 *            both lengths, and the encoder writes the long form only when it
 *            has something to say, so a timing-model cluster's frames are as
 *            before):
 *            ..., warm:[str...], servable:nil|[str...],
 *              svc:[[model:str, first_us:uint, tpot_us:uint,
 *                    service_us:uint, samples:uint]...] ]
 *            servable nil: every catalog model can be loaded there; an
 *            array: only those (at most WP_GOSSIP_MAX_SERVABLE). svc:
 *            measured service times (at most WP_GOSSIP_MAX_SVC entries of
 *            exactly 5 fields).
 *   sig    = 0 bytes (no keys) or the owner's 64-byte Ed25519 signature
 *            over `owned`.
 * Version 2 split the record (issue 14): `owned` is what only the member
 * itself may say about itself, and travels verbatim, so its signature
 * holds through any number of relays and covers every field in it (a field
 * added to the capacity record goes into `owned`, so it is signed too);
 * status, incarnation and status_from outside it are the sender's view: the
 * owner's own word when status is alive or left (then they must equal
 * owned's), an opinion (suspect, dead) about the member otherwise.
 * Unknown versions, types, statuses, wrong element types, oversize strings
 * and blobs, too many warm, servable or svc entries, and an alive or left record that
 * disagrees with its owned part are errors: the whole frame is dropped.
 */
#include "node/node.h"
#include "node/infer.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_FIELDS 8u
#define RECORD_FIELDS 5u
#define OWNED_FIELDS 11u
#define OWNED_FIELDS_EXT 13u
#define SVC_FIELDS 5u
#define MAX_DEPTH 4

/* ---------------------------------------------------------------- helpers */

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}


/* ---------------------------------------------------------------- encode */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_owned(msgpack_packer *pk, const wp_gossip_member *m)
{
    msgpack_pack_array(pk, m->cap.servable_listed || m->cap.n_svc ? OWNED_FIELDS_EXT : OWNED_FIELDS);
    pack_str(pk, m->id);
    pack_str(pk, m->city);
    pack_str(pk, m->addr);
    msgpack_pack_uint64(pk, m->incarnation);
    msgpack_pack_uint32(pk, m->status == WP_MEMBER_LEFT ? WP_MEMBER_LEFT : WP_MEMBER_ALIVE);
    msgpack_pack_uint64(pk, m->cap.version);
    msgpack_pack_uint32(pk, m->cap.gpus);
    msgpack_pack_uint64(pk, m->cap.gpu_mem_free_bytes);
    msgpack_pack_uint32(pk, m->cap.queue_depth);
    if (m->cap.draining)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    uint32_t nw = m->cap.n_warm > WP_GOSSIP_MAX_WARM ? WP_GOSSIP_MAX_WARM : m->cap.n_warm;
    msgpack_pack_array(pk, nw);
    for (uint32_t w = 0; w < nw; w++)
        pack_str(pk, m->cap.warm[w]);
    if (!(m->cap.servable_listed || m->cap.n_svc))
        return;
    if (m->cap.servable_listed) {
        uint32_t ns = m->cap.n_servable > WP_GOSSIP_MAX_SERVABLE ? WP_GOSSIP_MAX_SERVABLE
                                                                 : m->cap.n_servable;
        msgpack_pack_array(pk, ns);
        for (uint32_t k = 0; k < ns; k++)
            pack_str(pk, m->cap.servable[k]);
    } else {
        msgpack_pack_nil(pk);
    }
    uint32_t nv = m->cap.n_svc > WP_GOSSIP_MAX_SVC ? WP_GOSSIP_MAX_SVC : m->cap.n_svc;
    msgpack_pack_array(pk, nv);
    for (uint32_t k = 0; k < nv; k++) {
        const wp_gossip_svc *sv = &m->cap.svc[k];
        msgpack_pack_array(pk, SVC_FIELDS);
        pack_str(pk, sv->model);
        msgpack_pack_uint32(pk, sv->first_us);
        msgpack_pack_uint32(pk, sv->tpot_us);
        msgpack_pack_uint32(pk, sv->service_us);
        msgpack_pack_uint32(pk, sv->samples);
    }
}

int wp_gossip_owned_encode(const wp_gossip_member *m, uint8_t *out, size_t cap, size_t *len,
                           wp_err *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_owned(&pk, m);
    int rv = WP_OK;
    if (sb.size > cap || sb.size > WP_GOSSIP_OWNED_MAX)
        rv = wp_errf(err, WP_ETOOBIG, "gossip: own record of %zu bytes", (size_t)sb.size);
    else
        memcpy(out, sb.data, sb.size);
    *len = rv == WP_OK ? sb.size : 0;
    msgpack_sbuffer_destroy(&sb);
    return rv;
}

int wp_gossip_msg_encode(const wp_gossip_msg *msg, const wp_gossip_member *const *recs,
                         size_t n, uint8_t **out, size_t *out_len, wp_err *err)
{
    return wp_gossip_msg_encode_owned(msg, recs, NULL, n, out, out_len, err);
}

int wp_gossip_msg_encode_owned(const wp_gossip_msg *msg, const wp_gossip_member *const *recs,
                               const wp_gossip_owned *const *owned, size_t n, uint8_t **out,
                               size_t *out_len, wp_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (n > WP_MSG_MAX_ARRAY)
        return wp_errf(err, WP_ETOOBIG, "gossip: %zu records in one frame", n);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, FRAME_FIELDS);
    msgpack_pack_uint32(&pk, WP_GOSSIP_WIRE_VERSION);
    msgpack_pack_uint32(&pk, msg->type);
    msgpack_pack_uint64(&pk, msg->seq);
    pack_str(&pk, msg->from_id);
    pack_str(&pk, msg->from_addr);
    pack_str(&pk, msg->target_id);
    pack_str(&pk, msg->target_addr);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        const wp_gossip_member *m = recs[i];
        const wp_gossip_owned *o = owned ? owned[i] : NULL;
        msgpack_pack_array(&pk, RECORD_FIELDS);
        if (o && o->len) {
            msgpack_pack_bin(&pk, o->len);
            msgpack_pack_bin_body(&pk, o->bytes, o->len);
        } else {
            /* Unsigned: the owned part encoded here, nested as bytes. */
            msgpack_sbuffer ob;
            msgpack_sbuffer_init(&ob);
            msgpack_packer opk;
            msgpack_packer_init(&opk, &ob, msgpack_sbuffer_write);
            pack_owned(&opk, m);
            msgpack_pack_bin(&pk, ob.size);
            msgpack_pack_bin_body(&pk, ob.data, ob.size);
            msgpack_sbuffer_destroy(&ob);
        }
        bool signed_ = o && o->len && o->has_sig;
        msgpack_pack_bin(&pk, signed_ ? WP_GOSSIP_SIG_BYTES : 0);
        if (signed_)
            msgpack_pack_bin_body(&pk, o->sig, WP_GOSSIP_SIG_BYTES);
        msgpack_pack_uint32(&pk, (uint32_t)m->status);
        msgpack_pack_uint64(&pk, m->incarnation);
        pack_str(&pk, m->status_from);
    }
    if (sb.size > WP_FRAME_MAX_BYTES) {
        msgpack_sbuffer_destroy(&sb);
        return wp_errf(err, WP_ETOOBIG, "gossip: frame of %zu bytes", (size_t)sb.size);
    }
    *out = (uint8_t *)sb.data; /* sbuffer memory is malloc'ed: caller frees */
    *out_len = sb.size;
    return WP_OK;
}

/* ---------------------------------------------------------------- decode */

static int get_str(const msgpack_object *o, char *dst, size_t cap, bool nonempty,
                   const char *what, wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return wp_errf(err, WP_EPROTO, "gossip: %s is not a string", what);
    if (o->via.str.size >= cap)
        return wp_errf(err, WP_ETOOBIG, "gossip: %s of %u bytes (cap %zu)", what,
                       o->via.str.size, cap - 1);
    if (nonempty && o->via.str.size == 0)
        return wp_errf(err, WP_EPROTO, "gossip: empty %s", what);
    if (memchr(o->via.str.ptr, 0, o->via.str.size))
        return wp_errf(err, WP_EPROTO, "gossip: NUL byte in %s", what);
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return WP_OK;
}

static int get_u64(const msgpack_object *o, uint64_t max, uint64_t *out, const char *what,
                   wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wp_errf(err, WP_EPROTO, "gossip: %s is not an unsigned integer", what);
    if (o->via.u64 > max)
        return wp_errf(err, WP_ERANGE, "gossip: %s %llu out of range", what,
                       (unsigned long long)o->via.u64);
    *out = o->via.u64;
    return WP_OK;
}

/* The two fields of the long owned form: servable and svc. */
static int get_owned_ext(const msgpack_object *f, wp_gossip_member *m, wp_err *err)
{
    int rv;
    uint64_t v = 0;
    if (f[11].type == MSGPACK_OBJECT_ARRAY) {
        if (f[11].via.array.size > WP_GOSSIP_MAX_SERVABLE)
            return wp_errf(err, WP_ETOOBIG, "gossip: %u servable models (cap %u)",
                           f[11].via.array.size, WP_GOSSIP_MAX_SERVABLE);
        m->cap.servable_listed = true;
        m->cap.n_servable = f[11].via.array.size;
        for (uint32_t k = 0; k < m->cap.n_servable; k++)
            if ((rv = get_str(&f[11].via.array.ptr[k], m->cap.servable[k], WP_NAME_MAX, true,
                              "servable model", err)))
                return rv;
    } else if (f[11].type != MSGPACK_OBJECT_NIL) {
        return wp_errf(err, WP_EPROTO, "gossip: servable is neither nil nor an array");
    }
    if (f[12].type != MSGPACK_OBJECT_ARRAY)
        return wp_errf(err, WP_EPROTO, "gossip: svc is not an array");
    if (f[12].via.array.size > WP_GOSSIP_MAX_SVC)
        return wp_errf(err, WP_ETOOBIG, "gossip: %u svc records (cap %u)", f[12].via.array.size,
                       WP_GOSSIP_MAX_SVC);
    m->cap.n_svc = f[12].via.array.size;
    for (uint32_t k = 0; k < m->cap.n_svc; k++) {
        const msgpack_object *e = &f[12].via.array.ptr[k];
        wp_gossip_svc *sv = &m->cap.svc[k];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != SVC_FIELDS)
            return wp_errf(err, WP_EPROTO, "gossip: svc record is not an array of %u",
                           SVC_FIELDS);
        const msgpack_object *x = e->via.array.ptr;
        if ((rv = get_str(&x[0], sv->model, WP_NAME_MAX, true, "svc model", err)))
            return rv;
        uint32_t *dst[4] = {&sv->first_us, &sv->tpot_us, &sv->service_us, &sv->samples};
        static const char *const what[4] = {"svc first_us", "svc tpot_us", "svc service_us",
                                            "svc samples"};
        for (int i = 0; i < 4; i++) {
            if ((rv = get_u64(&x[1 + i], UINT32_MAX, &v, what[i], err)))
                return rv;
            *dst[i] = (uint32_t)v;
        }
    }
    return WP_OK;
}

/* The owned part: bounded (checked before unpacking), then every field. */
static int get_owned(msgpack_unpacked *up, const uint8_t *p, size_t len, wp_gossip_member *m,
                     uint64_t *status, wp_err *err)
{
    int rv;
    uint64_t v;
    const size_t max_array =
        2 * (WP_GOSSIP_MAX_WARM + WP_GOSSIP_MAX_SERVABLE + WP_GOSSIP_MAX_SVC);
    if ((rv = wp_msgpack_check(p, len, max_array, WP_MSG_MAX_STR, 3, err)))
        return rv;
    size_t off = 0;
    if (msgpack_unpack_next(up, (const char *)p, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        return wp_errf(err, WP_EPARSE, "gossip: owned record does not unpack");
    const msgpack_object *o = &up->data;
    if (o->type != MSGPACK_OBJECT_ARRAY ||
        (o->via.array.size != OWNED_FIELDS && o->via.array.size != OWNED_FIELDS_EXT))
        return wp_errf(err, WP_EPROTO, "gossip: owned record is not an array of %u or %u",
                       OWNED_FIELDS, OWNED_FIELDS_EXT);
    const msgpack_object *f = o->via.array.ptr;
    if ((rv = get_str(&f[0], m->id, sizeof m->id, true, "record id", err)) ||
        (rv = get_str(&f[1], m->city, sizeof m->city, false, "record city", err)) ||
        (rv = get_str(&f[2], m->addr, sizeof m->addr, false, "record addr", err)) ||
        (rv = get_u64(&f[3], UINT64_MAX, &m->incarnation, "incarnation", err)) ||
        (rv = get_u64(&f[4], WP_MEMBER_LEFT, status, "owned status", err)))
        return rv;
    if (*status != WP_MEMBER_ALIVE && *status != WP_MEMBER_LEFT)
        return wp_errf(err, WP_EPROTO, "gossip: owned status %llu (alive or left only)",
                       (unsigned long long)*status);
    if ((rv = get_u64(&f[5], UINT64_MAX, &m->cap.version, "cap version", err)))
        return rv;
    if ((rv = get_u64(&f[6], 1u << 20, &v, "gpus", err)))
        return rv;
    m->cap.gpus = (uint32_t)v;
    if ((rv = get_u64(&f[7], UINT64_MAX, &m->cap.gpu_mem_free_bytes, "gpu_mem_free_bytes",
                      err)))
        return rv;
    if ((rv = get_u64(&f[8], UINT32_MAX, &v, "queue_depth", err)))
        return rv;
    m->cap.queue_depth = (uint32_t)v;
    if (f[9].type != MSGPACK_OBJECT_BOOLEAN)
        return wp_errf(err, WP_EPROTO, "gossip: draining is not a boolean");
    m->cap.draining = f[9].via.boolean;
    if (f[10].type != MSGPACK_OBJECT_ARRAY)
        return wp_errf(err, WP_EPROTO, "gossip: warm models is not an array");
    if (f[10].via.array.size > WP_GOSSIP_MAX_WARM)
        return wp_errf(err, WP_ETOOBIG, "gossip: %u warm models (cap %u)",
                       f[10].via.array.size, WP_GOSSIP_MAX_WARM);
    m->cap.n_warm = f[10].via.array.size;
    for (uint32_t w = 0; w < m->cap.n_warm; w++)
        if ((rv = get_str(&f[10].via.array.ptr[w], m->cap.warm[w], WP_NAME_MAX, true,
                          "warm model", err)))
            return rv;
    if (o->via.array.size == OWNED_FIELDS)
        return WP_OK;
    return get_owned_ext(f, m, err);
}

/* One record: the owned bytes (kept as a pointer into the frame, which
 * msgpack-c references for bin objects) and the sender's view. */
static int get_record(const msgpack_object *o, msgpack_unpacked *up, wp_gossip_member *m,
                      wp_gossip_owned *own, wp_err *err)
{
    int rv;
    uint64_t v = 0, owned_status = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != RECORD_FIELDS)
        return wp_errf(err, WP_EPROTO, "gossip: record is not an array of %u", RECORD_FIELDS);
    const msgpack_object *f = o->via.array.ptr;
    memset(m, 0, sizeof *m);
    memset(own, 0, sizeof *own);
    if (f[0].type != MSGPACK_OBJECT_BIN || f[0].via.bin.size == 0 ||
        f[0].via.bin.size > WP_GOSSIP_OWNED_MAX)
        return wp_errf(err, WP_EPROTO, "gossip: owned record is not 1..%u bytes",
                       WP_GOSSIP_OWNED_MAX);
    if (f[1].type != MSGPACK_OBJECT_BIN ||
        (f[1].via.bin.size != 0 && f[1].via.bin.size != WP_GOSSIP_SIG_BYTES))
        return wp_errf(err, WP_EPROTO, "gossip: signature is not 0 or %u bytes",
                       WP_GOSSIP_SIG_BYTES);
    own->bytes = (const uint8_t *)f[0].via.bin.ptr;
    own->len = f[0].via.bin.size;
    own->has_sig = f[1].via.bin.size == WP_GOSSIP_SIG_BYTES;
    if (own->has_sig)
        memcpy(own->sig, f[1].via.bin.ptr, WP_GOSSIP_SIG_BYTES);
    if ((rv = get_owned(up, own->bytes, own->len, m, &owned_status, err)))
        return rv;
    uint64_t owned_inc = m->incarnation;
    own->incarnation = owned_inc;
    own->left = owned_status == WP_MEMBER_LEFT;
    if ((rv = get_u64(&f[2], WP_MEMBER_LEFT, &v, "status", err)) ||
        (rv = get_u64(&f[3], UINT64_MAX, &m->incarnation, "incarnation", err)) ||
        (rv = get_str(&f[4], m->status_from, sizeof m->status_from, false, "status_from", err)))
        return rv;
    m->status = (wp_member_status)v;
    if ((v == WP_MEMBER_ALIVE || v == WP_MEMBER_LEFT) &&
        (v != owned_status || m->incarnation != owned_inc))
        return wp_errf(err, WP_EPROTO, "gossip: %s record of %s disagrees with its own part",
                       wp_member_status_name(m->status), m->id);
    return WP_OK;
}

void wp_gossip_msg_clear(wp_gossip_msg *msg)
{
    free(msg->updates);
    free(msg->owned);
    memset(msg, 0, sizeof *msg);
}

int wp_gossip_msg_decode(const uint8_t *buf, size_t len, wp_gossip_msg *msg, wp_err *err)
{
    memset(msg, 0, sizeof *msg);
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "gossip: frame of %zu bytes (cap %u)", len,
                       WP_FRAME_MAX_BYTES);
    int rv = wp_msgpack_check(buf, len, WP_MSG_MAX_ARRAY, WP_MSG_MAX_STR, MAX_DEPTH, err);
    if (rv)
        return rv;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(&up);
        return wp_errf(err, WP_EPARSE, "gossip: msgpack unpack failed (%d)", (int)ur);
    }
    const msgpack_object *root = &up.data;
    uint64_t v = 0;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size != FRAME_FIELDS) {
        rv = wp_errf(err, WP_EPROTO, "gossip: frame is not an array of %u", FRAME_FIELDS);
        goto out;
    }
    const msgpack_object *f = root->via.array.ptr;
    if ((rv = get_u64(&f[0], UINT32_MAX, &v, "version", err)))
        goto out;
    if (v != WP_GOSSIP_WIRE_VERSION) {
        rv = wp_errf(err, WP_EUNSUPPORTED, "gossip: wire version %llu", (unsigned long long)v);
        goto out;
    }
    if ((rv = get_u64(&f[1], WP_GMSG_PUSH_PULL_RESP, &v, "type", err)))
        goto out;
    if (v < WP_GMSG_PING) {
        rv = wp_errf(err, WP_EPROTO, "gossip: message type 0");
        goto out;
    }
    msg->type = (uint32_t)v;
    if ((rv = get_u64(&f[2], UINT64_MAX, &msg->seq, "seq", err)) ||
        (rv = get_str(&f[3], msg->from_id, sizeof msg->from_id, true, "from_id", err)) ||
        (rv = get_str(&f[4], msg->from_addr, sizeof msg->from_addr, false, "from_addr", err)) ||
        (rv = get_str(&f[5], msg->target_id, sizeof msg->target_id, false, "target_id", err)) ||
        (rv = get_str(&f[6], msg->target_addr, sizeof msg->target_addr, false, "target_addr",
                      err)))
        goto out;
    if (f[7].type != MSGPACK_OBJECT_ARRAY) {
        rv = wp_errf(err, WP_EPROTO, "gossip: updates is not an array");
        goto out;
    }
    size_t n = f[7].via.array.size; /* <= WP_MSG_MAX_ARRAY, checked above */
    if (n) {
        msg->updates = calloc(n, sizeof *msg->updates);
        msg->owned = calloc(n, sizeof *msg->owned);
        if (!msg->updates || !msg->owned) {
            rv = wp_errf(err, WP_ENOMEM, "gossip: %zu records", n);
            goto out;
        }
        msgpack_unpacked inner;
        msgpack_unpacked_init(&inner);
        for (size_t i = 0; i < n && rv == WP_OK; i++)
            rv = get_record(&f[7].via.array.ptr[i], &inner, &msg->updates[i], &msg->owned[i],
                            err);
        msgpack_unpacked_destroy(&inner);
        if (rv)
            goto out;
    }
    msg->n_updates = n;
    rv = WP_OK;
out:
    msgpack_unpacked_destroy(&up);
    if (rv)
        wp_gossip_msg_clear(msg);
    return rv;
}

/* ---------------------------------------------------------------- admin frame */

void wp_admin_frame_header(uint8_t hdr[WP_ADMIN_HDR_BYTES], size_t payload_len)
{
    hdr[0] = 'W';
    hdr[1] = 'A';
    hdr[2] = WP_ADMIN_FRAME_VERSION;
    hdr[3] = 0;
    hdr[4] = (uint8_t)(payload_len >> 24);
    hdr[5] = (uint8_t)(payload_len >> 16);
    hdr[6] = (uint8_t)(payload_len >> 8);
    hdr[7] = (uint8_t)payload_len;
}

int wp_admin_frame_check(const uint8_t *buf, size_t len, size_t *payload_len, wp_err *err)
{
    *payload_len = 0;
    if (len < WP_ADMIN_HDR_BYTES)
        return wp_errf(err, WP_ETRUNC, "admin: frame of %zu bytes, header needs %u", len,
                       WP_ADMIN_HDR_BYTES);
    if (buf[0] != 'W' || buf[1] != 'A')
        return wp_errf(err, WP_EPROTO, "admin: bad magic");
    if (buf[2] != WP_ADMIN_FRAME_VERSION)
        return wp_errf(err, WP_EUNSUPPORTED, "admin: frame version %u", buf[2]);
    if (buf[3] != 0)
        return wp_errf(err, WP_EPROTO, "admin: reserved byte set");
    uint64_t n = be(buf + 4, 4);
    if (n > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "admin: payload of %llu bytes", (unsigned long long)n);
    if (n != len - WP_ADMIN_HDR_BYTES)
        return wp_errf(err, WP_ETRUNC, "admin: header says %llu bytes, got %zu",
                       (unsigned long long)n, len - WP_ADMIN_HDR_BYTES);
    *payload_len = (size_t)n;
    return WP_OK;
}
