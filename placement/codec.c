/* placement/codec.c — the msgpack codec of placement commands, with limits.
 *
 * msgpack-c has no limits of its own: a 6-byte input declaring a
 * 268-million-element array makes it reserve gigabytes, a truncated buffer
 * reports "continue" instead of an error, and trailing bytes pass
 * unnoticed. So every frame goes through wp_msgpack_check (common/) first — a walk
 * over the raw bytes that allocates nothing and refuses any declared
 * count above the cap or larger than the bytes left (each element takes at
 * least one byte), any string above the cap, nesting deeper than 8, and
 * anything but exactly one object spanning the whole frame — and only then
 * through msgpack_unpack_next, into a fresh msgpack_unpacked per frame (no
 * unpacker state survives a bad frame, so there is nothing to reset).
 *
 * A command frame is one array: [format version (1), type, fields...],
 * fields per type as listed in placement.h.
 */
#include "placement/mp_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CMD_FORMAT 1
#define MP_MAX_DEPTH 8

/* ---------------------------------------------------------------- access */

int wp__mp_unpack(const void *buf, size_t len, size_t max_bytes, size_t max_count,
                  msgpack_unpacked *u, wp_err *err)
{
    if (buf == NULL && len > 0)
        return wp_errf(err, WP_EINVAL, "msgpack: no buffer");
    if (len > max_bytes)
        return wp_errf(err, WP_ETOOBIG, "msgpack: frame of %zu bytes over the limit %zu", len,
                       max_bytes);
    int rv = wp_msgpack_check(buf, len, max_count, WP_MSG_MAX_STR, MP_MAX_DEPTH, err);
    if (rv != WP_OK)
        return rv;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(u, buf, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        return wp_errf(err, WP_ENOMEM, "msgpack: out of memory");
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        return wp_errf(err, WP_EPARSE, "msgpack: malformed frame");
    return WP_OK;
}

int wp__mp_array(const msgpack_object *o, size_t min, size_t max, const char *what, wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wp_errf(err, WP_EPROTO, "%s: expected an array", what);
    if (o->via.array.size < min || o->via.array.size > max)
        return wp_errf(err, WP_EPROTO, "%s: %u items (expected %zu..%zu)", what,
                       o->via.array.size, min, max);
    return WP_OK;
}

int wp__mp_str(const msgpack_object *o, char *dst, size_t cap, const char *what, wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return wp_errf(err, WP_EPROTO, "%s: expected a string", what);
    size_t n = o->via.str.size;
    if (n >= cap)
        return wp_errf(err, WP_ETOOBIG, "%s: %zu bytes (at most %zu)", what, n, cap - 1);
    if (n > 0 && memchr(o->via.str.ptr, '\0', n) != NULL)
        return wp_errf(err, WP_EPROTO, "%s: contains a NUL byte", what);
    if (n > 0)
        memcpy(dst, o->via.str.ptr, n);
    dst[n] = '\0';
    return WP_OK;
}

int wp__mp_u64(const msgpack_object *o, uint64_t *v, const char *what, wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wp_errf(err, WP_EPROTO, "%s: expected a non-negative integer", what);
    *v = o->via.u64;
    return WP_OK;
}

int wp__mp_u32(const msgpack_object *o, uint32_t *v, const char *what, wp_err *err)
{
    uint64_t x = 0;
    int rv = wp__mp_u64(o, &x, what, err);
    if (rv != WP_OK)
        return rv;
    if (x > UINT32_MAX)
        return wp_errf(err, WP_ERANGE, "%s: %llu out of range", what, (unsigned long long)x);
    *v = (uint32_t)x;
    return WP_OK;
}

int wp__mp_double(const msgpack_object *o, double *v, const char *what, wp_err *err)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *v = o->via.f64; break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *v = (double)o->via.u64; break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *v = (double)o->via.i64; break;
    default: return wp_errf(err, WP_EPROTO, "%s: expected a number", what);
    }
    if (!isfinite(*v))
        return wp_errf(err, WP_ERANGE, "%s: not a finite number", what);
    return WP_OK;
}

int wp__mp_bool(const msgpack_object *o, bool *v, const char *what, wp_err *err)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return wp_errf(err, WP_EPROTO, "%s: expected a boolean", what);
    *v = o->via.boolean;
    return WP_OK;
}

void wp__mp_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* ---------------------------------------------------------------- commands */

const char *wp_place_cmd_name(int type)
{
    switch (type) {
    case WP_PLACE_CMD_REGISTER_NODE: return "register-node";
    case WP_PLACE_CMD_REMOVE_NODE: return "remove-node";
    case WP_PLACE_CMD_NODE_UP: return "node-up";
    case WP_PLACE_CMD_CATALOG_ADD: return "catalog-add";
    case WP_PLACE_CMD_CATALOG_REMOVE: return "catalog-remove";
    case WP_PLACE_CMD_PIN: return "pin";
    case WP_PLACE_CMD_UNPIN: return "unpin";
    case WP_PLACE_CMD_SET_DEMAND: return "set-demand";
    default: return "unknown";
    }
}

static void pack_profile(msgpack_packer *pk, const wp_model_profile *m)
{
    wp__mp_pack_str(pk, m->name);
    msgpack_pack_uint64(pk, m->size_bytes);
    msgpack_pack_double(pk, m->prefill_base_ms);
    msgpack_pack_double(pk, m->prefill_ms_per_token);
    msgpack_pack_double(pk, m->decode_ms_per_token);
    msgpack_pack_uint32(pk, m->slots_per_gpu);
    msgpack_pack_double(pk, m->load_bytes_per_s);
    msgpack_pack_double(pk, m->load_fixed_ms);
    msgpack_pack_uint32(pk, m->typical_in_tokens);
    msgpack_pack_uint32(pk, m->typical_out_tokens);
}

int wp__place_unpack_profile(const msgpack_object *f, wp_model_profile *m, wp_err *err)
{
    memset(m, 0, sizeof *m);
    int rv;
    if ((rv = wp__mp_str(&f[0], m->name, sizeof m->name, "model name", err)) ||
        (rv = wp__mp_u64(&f[1], &m->size_bytes, "size_bytes", err)) ||
        (rv = wp__mp_double(&f[2], &m->prefill_base_ms, "prefill_base_ms", err)) ||
        (rv = wp__mp_double(&f[3], &m->prefill_ms_per_token, "prefill_ms_per_token", err)) ||
        (rv = wp__mp_double(&f[4], &m->decode_ms_per_token, "decode_ms_per_token", err)) ||
        (rv = wp__mp_u32(&f[5], &m->slots_per_gpu, "slots_per_gpu", err)) ||
        (rv = wp__mp_double(&f[6], &m->load_bytes_per_s, "load_bytes_per_s", err)) ||
        (rv = wp__mp_double(&f[7], &m->load_fixed_ms, "load_fixed_ms", err)) ||
        (rv = wp__mp_u32(&f[8], &m->typical_in_tokens, "typical_in_tokens", err)) ||
        (rv = wp__mp_u32(&f[9], &m->typical_out_tokens, "typical_out_tokens", err)))
        return rv;
    return WP_OK;
}

void wp__place_pack_profile(msgpack_packer *pk, const wp_model_profile *m)
{
    msgpack_pack_array(pk, PROFILE_FIELDS);
    pack_profile(pk, m);
}

int wp_place_cmd_encode(const wp_place_cmd *c, void **buf, size_t *len, wp_err *err)
{
    *buf = NULL;
    *len = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    switch (c->type) {
    case WP_PLACE_CMD_REGISTER_NODE:
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->node);
        wp__mp_pack_str(&pk, c->city);
        msgpack_pack_uint32(&pk, c->gpus);
        msgpack_pack_uint64(&pk, c->gpu_mem_bytes);
        break;
    case WP_PLACE_CMD_REMOVE_NODE:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->node);
        break;
    case WP_PLACE_CMD_NODE_UP:
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->node);
        if (c->up)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        break;
    case WP_PLACE_CMD_CATALOG_ADD:
        msgpack_pack_array(&pk, 2 + PROFILE_FIELDS);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        pack_profile(&pk, &c->profile);
        break;
    case WP_PLACE_CMD_CATALOG_REMOVE:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->model);
        break;
    case WP_PLACE_CMD_PIN:
        if (c->n_cities > WP_PLACE_MAX_PIN_CITIES) {
            msgpack_sbuffer_destroy(&sb);
            return wp_errf(err, WP_ETOOBIG, "pin: more than %d cities", WP_PLACE_MAX_PIN_CITIES);
        }
        msgpack_pack_array(&pk, 5);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->model);
        msgpack_pack_array(&pk, c->n_cities);
        for (size_t i = 0; i < c->n_cities; i++)
            wp__mp_pack_str(&pk, c->cities[i]);
        msgpack_pack_uint32(&pk, c->replicas);
        break;
    case WP_PLACE_CMD_UNPIN:
        msgpack_pack_array(&pk, 4);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        wp__mp_pack_str(&pk, c->model);
        if (c->n_cities > 0)
            wp__mp_pack_str(&pk, c->cities[0]);
        else
            msgpack_pack_nil(&pk);
        break;
    case WP_PLACE_CMD_SET_DEMAND:
        if (c->n_demand > WP_MSG_MAX_ARRAY) {
            msgpack_sbuffer_destroy(&sb);
            return wp_errf(err, WP_ETOOBIG, "set-demand: more than %u entries",
                           WP_MSG_MAX_ARRAY);
        }
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint32(&pk, CMD_FORMAT);
        msgpack_pack_int(&pk, c->type);
        msgpack_pack_array(&pk, c->n_demand);
        for (size_t i = 0; i < c->n_demand; i++) {
            msgpack_pack_array(&pk, 3);
            wp__mp_pack_str(&pk, c->demand[i].city);
            wp__mp_pack_str(&pk, c->demand[i].model);
            msgpack_pack_double(&pk, c->demand[i].rate_per_s);
        }
        break;
    default:
        msgpack_sbuffer_destroy(&sb);
        return wp_errf(err, WP_EINVAL, "encode: unknown command type %d", c->type);
    }
    if (sb.data == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return wp_errf(err, WP_ENOMEM, "encode: out of memory");
    }
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    return WP_OK;
}

void wp_place_cmd_close(wp_place_cmd *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->demand);
    cmd->demand = NULL;
    cmd->n_demand = 0;
}

static int decode_fields(const msgpack_object *root, wp_place_cmd *c, wp_err *err)
{
    int rv = wp__mp_array(root, 2, 2 + PROFILE_FIELDS, "command", err);
    if (rv != WP_OK)
        return rv;
    const msgpack_object *f = root->via.array.ptr;
    size_t n = root->via.array.size;
    uint32_t format, type;
    if ((rv = wp__mp_u32(&f[0], &format, "command format", err)) != WP_OK)
        return rv;
    if (format != CMD_FORMAT)
        return wp_errf(err, WP_EUNSUPPORTED, "command format %u not supported (this is %d)",
                       format, CMD_FORMAT);
    if ((rv = wp__mp_u32(&f[1], &type, "command type", err)) != WP_OK)
        return rv;
    c->type = (int)type;
    static const size_t want[] = {0, 6, 3, 4, 2 + PROFILE_FIELDS, 3, 5, 4, 3};
    if (type == 0 || type >= WP_ARRAY_LEN(want))
        return wp_errf(err, WP_EPROTO, "unknown command type %u", type);
    if (n != want[type])
        return wp_errf(err, WP_EPROTO, "%s: %zu fields (expected %zu)", wp_place_cmd_name(c->type),
                       n, want[type]);
    f += 2;
    switch (type) {
    case WP_PLACE_CMD_REGISTER_NODE:
        if ((rv = wp__mp_str(&f[0], c->node, sizeof c->node, "node id", err)) ||
            (rv = wp__mp_str(&f[1], c->city, sizeof c->city, "city", err)) ||
            (rv = wp__mp_u32(&f[2], &c->gpus, "gpus", err)) ||
            (rv = wp__mp_u64(&f[3], &c->gpu_mem_bytes, "gpu_mem_bytes", err)))
            return rv;
        return WP_OK;
    case WP_PLACE_CMD_REMOVE_NODE:
        return wp__mp_str(&f[0], c->node, sizeof c->node, "node id", err);
    case WP_PLACE_CMD_NODE_UP:
        if ((rv = wp__mp_str(&f[0], c->node, sizeof c->node, "node id", err)))
            return rv;
        return wp__mp_bool(&f[1], &c->up, "up", err);
    case WP_PLACE_CMD_CATALOG_ADD:
        return wp__place_unpack_profile(f, &c->profile, err);
    case WP_PLACE_CMD_CATALOG_REMOVE:
        return wp__mp_str(&f[0], c->model, sizeof c->model, "model", err);
    case WP_PLACE_CMD_PIN:
        if ((rv = wp__mp_str(&f[0], c->model, sizeof c->model, "model", err)) ||
            (rv = wp__mp_array(&f[1], 1, WP_PLACE_MAX_PIN_CITIES, "pin cities", err)))
            return rv;
        c->n_cities = f[1].via.array.size;
        for (size_t i = 0; i < c->n_cities; i++)
            if ((rv = wp__mp_str(&f[1].via.array.ptr[i], c->cities[i], sizeof c->cities[i],
                                 "city", err)))
                return rv;
        return wp__mp_u32(&f[2], &c->replicas, "replicas", err);
    case WP_PLACE_CMD_UNPIN:
        if ((rv = wp__mp_str(&f[0], c->model, sizeof c->model, "model", err)))
            return rv;
        if (f[1].type == MSGPACK_OBJECT_NIL) {
            c->n_cities = 0;
            return WP_OK;
        }
        c->n_cities = 1;
        return wp__mp_str(&f[1], c->cities[0], sizeof c->cities[0], "city", err);
    case WP_PLACE_CMD_SET_DEMAND: {
        if ((rv = wp__mp_array(&f[0], 0, WP_MSG_MAX_ARRAY, "demand", err)))
            return rv;
        size_t k = f[0].via.array.size;
        c->demand = calloc(k ? k : 1, sizeof *c->demand);
        if (c->demand == NULL)
            return wp_errf(err, WP_ENOMEM, "set-demand: out of memory");
        c->n_demand = k;
        for (size_t i = 0; i < k; i++) {
            const msgpack_object *e = &f[0].via.array.ptr[i];
            if ((rv = wp__mp_array(e, 3, 3, "demand entry", err)) ||
                (rv = wp__mp_str(&e->via.array.ptr[0], c->demand[i].city,
                                 sizeof c->demand[i].city, "demand city", err)) ||
                (rv = wp__mp_str(&e->via.array.ptr[1], c->demand[i].model,
                                 sizeof c->demand[i].model, "demand model", err)) ||
                (rv = wp__mp_double(&e->via.array.ptr[2], &c->demand[i].rate_per_s, "demand rate",
                                    err)))
                return rv;
        }
        return WP_OK;
    }
    }
    return wp_errf(err, WP_EPROTO, "unknown command type %u", type);
}

int wp_place_cmd_decode(const void *buf, size_t len, wp_place_cmd *out, wp_err *err)
{
    memset(out, 0, sizeof *out);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rv = wp__mp_unpack(buf, len, WP_FRAME_MAX_BYTES, WP_MSG_MAX_ARRAY, &u, err);
    if (rv == WP_OK)
        rv = decode_fields(&u.data, out, err);
    msgpack_unpacked_destroy(&u);
    if (rv != WP_OK) {
        wp_place_cmd_close(out);
        memset(out, 0, sizeof *out);
    }
    return rv;
}
