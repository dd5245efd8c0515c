/* infer_codec.c — framing and validated decoding of proto/inference.proto.
 *
 * A frame is "WI", version, kind, a big-endian u32 payload length (at most
 * WP_FRAME_MAX_BYTES, equal to the bytes that follow), then the protobuf.
 * Decoding order: header first (size cap and exact length before anything
 * is allocated), then protobuf-c unpacks (its allocation is bounded by a
 * small multiple of the payload, itself capped), then every field that the
 * request path relies on is checked by hand, because protobuf-c accepts a
 * message cut at any field boundary and proto3 has no required fields:
 * names non-empty and < WP_NAME_MAX bytes, input non-empty, token counts
 * and text bounded, nested messages present. A message that fails is freed
 * here; the caller never sees it.
 */
#include "node/node.h"
#include "node/infer.h"

#include "proto/inference.pb-c.h"

#include <stdlib.h>
#include <ctype.h>
#include <string.h>

void wp_infer_frame_header(uint8_t hdr[WP_INFER_HDR_BYTES], wp_infer_kind kind,
                           size_t payload_len)
{
    hdr[0] = 'W';
    hdr[1] = 'I';
    hdr[2] = WP_INFER_FRAME_VERSION;
    hdr[3] = (uint8_t)kind;
    hdr[4] = (uint8_t)(payload_len >> 24);
    hdr[5] = (uint8_t)(payload_len >> 16);
    hdr[6] = (uint8_t)(payload_len >> 8);
    hdr[7] = (uint8_t)payload_len;
}

int wp_infer_frame_check(const uint8_t *buf, size_t len, wp_infer_kind *kind,
                         size_t *payload_len, wp_err *err)
{
    *payload_len = 0;
    *kind = WP_INFER_KIND_NONE;
    if (len < WP_INFER_HDR_BYTES)
        return wp_errf(err, WP_ETRUNC, "infer: frame of %zu bytes, header needs %u", len,
                       WP_INFER_HDR_BYTES);
    if (buf[0] != 'W' || buf[1] != 'I')
        return wp_errf(err, WP_EPROTO, "infer: bad magic (not an inference frame)");
    if (buf[2] != WP_INFER_FRAME_VERSION)
        return wp_errf(err, WP_EUNSUPPORTED, "infer: frame version %u (want %u)", buf[2],
                       WP_INFER_FRAME_VERSION);
    if (buf[3] == WP_INFER_KIND_NONE || buf[3] > WP_INFER_KIND_MAX)
        return wp_errf(err, WP_EPROTO, "infer: unknown frame kind %u", buf[3]);
    uint64_t n = ((uint64_t)buf[4] << 24) | ((uint64_t)buf[5] << 16) | ((uint64_t)buf[6] << 8) |
                 (uint64_t)buf[7];
    if (n > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "infer: payload of %llu bytes (max %u)",
                       (unsigned long long)n, WP_FRAME_MAX_BYTES);
    if (n != len - WP_INFER_HDR_BYTES)
        return wp_errf(err, WP_ETRUNC, "infer: header says %llu bytes, got %zu",
                       (unsigned long long)n, len - WP_INFER_HDR_BYTES);
    *kind = (wp_infer_kind)buf[3];
    *payload_len = (size_t)n;
    return WP_OK;
}

int wp_infer_encode(wp_infer_kind kind, const struct ProtobufCMessage *msg, uint8_t **out,
                    size_t *out_len, wp_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "infer: message of %zu bytes exceeds the %u-byte cap", n,
                       WP_FRAME_MAX_BYTES);
    uint8_t *b = malloc(WP_INFER_HDR_BYTES + n);
    if (!b)
        return wp_errf(err, WP_ENOMEM, "infer: out of memory");
    wp_infer_frame_header(b, kind, n);
    size_t w = protobuf_c_message_pack(msg, b + WP_INFER_HDR_BYTES);
    if (w != n) {
        free(b);
        return wp_errf(err, WP_EPROTO, "infer: packed %zu bytes, expected %zu", w, n);
    }
    *out = b;
    *out_len = WP_INFER_HDR_BYTES + n;
    return WP_OK;
}

size_t wp_infer_encode_into(wp_infer_kind kind, const struct ProtobufCMessage *msg, uint8_t *buf,
                            size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > WP_FRAME_MAX_BYTES || n + WP_INFER_HDR_BYTES > cap)
        return 0;
    wp_infer_frame_header(buf, kind, n);
    if (protobuf_c_message_pack(msg, buf + WP_INFER_HDR_BYTES) != n)
        return 0;
    return WP_INFER_HDR_BYTES + n;
}

/* ---------------------------------------------------------------- validation */

static int check_name(const char *what, const char *s, bool required, wp_err *err)
{
    if (!s || !s[0]) {
        if (required)
            return wp_errf(err, WP_EINVAL, "missing %s", what);
        return WP_OK;
    }
    size_t n = strnlen(s, WP_NAME_MAX);
    if (n >= WP_NAME_MAX)
        return wp_errf(err, WP_EINVAL, "%s longer than %u bytes", what, WP_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return wp_errf(err, WP_EINVAL, "%s has a control character", what);
    return WP_OK;
}

int wp_infer_request_check(const struct Warmpath__Infer__InferRequest *r, wp_err *err)
{
    int rc = check_name("model", r->model, true, err);
    if (rc)
        return rc;
    if (r->n_input_tokens == 0 && (!r->input_text || !r->input_text[0]))
        return wp_errf(err, WP_EINVAL, "empty input (give input_tokens or input_text)");
    if (r->n_input_tokens > WP_INFER_MAX_INPUT_TOKENS)
        return wp_errf(err, WP_EINVAL, "%zu input tokens (max %u)", r->n_input_tokens,
                       WP_INFER_MAX_INPUT_TOKENS);
    if (r->n_input_tokens == 0 && strlen(r->input_text) > WP_INFER_MAX_INPUT_TOKENS)
        return wp_errf(err, WP_EINVAL, "input text longer than %u bytes",
                       WP_INFER_MAX_INPUT_TOKENS);
    if (r->max_output_tokens > WP_INFER_MAX_OUTPUT_TOKENS)
        return wp_errf(err, WP_EINVAL, "max_output_tokens %u (max %u)", r->max_output_tokens,
                       WP_INFER_MAX_OUTPUT_TOKENS);
    if ((rc = check_name("client_city", r->client_city, false, err)))
        return rc;
    const char *cc = r->client_country;
    if (cc && cc[0] && !(isupper((unsigned char)cc[0]) && isupper((unsigned char)cc[1]) && !cc[2]))
        return wp_errf(err, WP_EINVAL, "client_country: expected an ISO 3166-1 alpha-2 code");
    if (r->has_client_pos && !(r->client_lat >= -90.0 && r->client_lat <= 90.0 &&
                               r->client_lon >= -180.0 && r->client_lon <= 180.0))
        return wp_errf(err, WP_EINVAL, "client position out of range");
    if ((rc = check_name("policy", r->policy, false, err)))
        return rc;
    return WP_OK;
}

static int check_response(const Warmpath__Infer__InferResponse *r, wp_err *err)
{
    if ((unsigned)r->status > WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED)
        return wp_errf(err, WP_EPROTO, "unknown status %d", (int)r->status);
    if (r->n_output_tokens > WP_INFER_MAX_OUTPUT_TOKENS)
        return wp_errf(err, WP_EPROTO, "%zu output tokens (max %u)", r->n_output_tokens,
                       WP_INFER_MAX_OUTPUT_TOKENS);
    int rc;
    if ((rc = check_name("serving_node", r->serving_node, false, err)) ||
        (rc = check_name("serving_city", r->serving_city, false, err)) ||
        (rc = check_name("ingress_node", r->ingress_node, false, err)))
        return rc;
    return WP_OK;
}

/* ---------------------------------------------------------------- decode */

int wp_infer_decode_request(const uint8_t *p, size_t len,
                            struct Warmpath__Infer__InferRequest **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "infer request of %zu bytes", len);
    Warmpath__Infer__InferRequest *m = warmpath__infer__infer_request__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "infer request: not a valid protobuf message");
    int rc = wp_infer_request_check(m, err);
    if (rc) {
        warmpath__infer__infer_request__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_response(const uint8_t *p, size_t len,
                             struct Warmpath__Infer__InferResponse **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "infer response of %zu bytes", len);
    Warmpath__Infer__InferResponse *m = warmpath__infer__infer_response__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "infer response: not a valid protobuf message");
    int rc = check_response(m, err);
    if (rc) {
        warmpath__infer__infer_response__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_route_request(const uint8_t *p, size_t len,
                                  struct Warmpath__Infer__RouteRequest **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "route request of %zu bytes", len);
    Warmpath__Infer__RouteRequest *m = warmpath__infer__route_request__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "route request: not a valid protobuf message");
    int rc;
    if ((rc = check_name("model", m->model, true, err)) ||
        (rc = check_name("client_city", m->client_city, false, err)) ||
        (rc = check_name("policy", m->policy, false, err)) ||
        (m->max_candidates > 256u &&
         (rc = wp_errf(err, WP_EINVAL, "max_candidates %u (max 256)", m->max_candidates)))) {
        warmpath__infer__route_request__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_route_response(const uint8_t *p, size_t len,
                                   struct Warmpath__Infer__RouteResponse **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "route response of %zu bytes", len);
    Warmpath__Infer__RouteResponse *m = warmpath__infer__route_response__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "route response: not a valid protobuf message");
    if ((unsigned)m->status > WARMPATH__INFER__STATUS__DEADLINE_EXCEEDED || m->n_candidates > 256u) {
        warmpath__infer__route_response__free_unpacked(m, NULL);
        return wp_errf(err, WP_EPROTO, "route response: bad status or too many candidates");
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_forward_request(const uint8_t *p, size_t len,
                                    struct Warmpath__Infer__ForwardRequest **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "forward request of %zu bytes", len);
    Warmpath__Infer__ForwardRequest *m = warmpath__infer__forward_request__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "forward request: not a valid protobuf message");
    int rc;
    if (!m->request)
        rc = wp_errf(err, WP_EINVAL, "forward request without a request");
    else if ((rc = check_name("ingress_node", m->ingress_node, true, err)) == WP_OK &&
             (rc = check_name("ingress_city", m->ingress_city, false, err)) == WP_OK) {
        size_t al = m->reply_addr ? strnlen(m->reply_addr, WP_GOSSIP_ADDR_MAX) : 0;
        if (al == 0 || al >= WP_GOSSIP_ADDR_MAX)
            rc = wp_errf(err, WP_EINVAL, "forward request: reply_addr must be 1..%u bytes",
                         WP_GOSSIP_ADDR_MAX - 1);
        else
            rc = wp_infer_request_check(m->request, err);
    }
    if (rc) {
        warmpath__infer__forward_request__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_forward_response(const uint8_t *p, size_t len,
                                     struct Warmpath__Infer__ForwardResponse **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "forward response of %zu bytes", len);
    Warmpath__Infer__ForwardResponse *m = warmpath__infer__forward_response__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "forward response: not a valid protobuf message");
    int rc;
    if (!m->response)
        rc = wp_errf(err, WP_EINVAL, "forward response without a response");
    else
        rc = check_response(m->response, err);
    if (rc) {
        warmpath__infer__forward_response__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_load_report(const uint8_t *p, size_t len,
                                struct Warmpath__Infer__LoadReport **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "load report of %zu bytes", len);
    Warmpath__Infer__LoadReport *m = warmpath__infer__load_report__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "load report: not a valid protobuf message");
    int rc = check_name("node", m->node, true, err);
    if (!rc && m->n_models > WP_INFER_MAX_LOAD_MODELS)
        rc = wp_errf(err, WP_EINVAL, "load report: %zu models (max %u)", m->n_models,
                     WP_INFER_MAX_LOAD_MODELS);
    for (size_t i = 0; !rc && i < m->n_models; i++)
        rc = check_name("model", m->models[i]->model, true, err);
    if (rc) {
        warmpath__infer__load_report__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

int wp_infer_decode_part(const uint8_t *p, size_t len, struct Warmpath__Infer__StreamPart **out,
                         wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "stream part of %zu bytes", len);
    Warmpath__Infer__StreamPart *m = warmpath__infer__stream_part__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "stream part: not a valid protobuf message");
    int rc = WP_OK;
    if (m->kind != WARMPATH__INFER__PART_KIND__PART_FIRST &&
        m->kind != WARMPATH__INFER__PART_KIND__PART_CHUNK)
        rc = wp_errf(err, WP_EPROTO, "stream part: kind %d (want FIRST or CHUNK)", (int)m->kind);
    else if (m->seq >= WP_STREAM_MAX_PARTS)
        rc = wp_errf(err, WP_EPROTO, "stream part: seq %u (max %u)", m->seq,
                     WP_STREAM_MAX_PARTS - 1);
    else if (m->output_count > WP_INFER_MAX_OUTPUT_TOKENS || m->n_tokens > m->output_count)
        rc = wp_errf(err, WP_EPROTO, "stream part: %zu tokens, output_count %u (max %u)",
                     m->n_tokens, m->output_count, WP_INFER_MAX_OUTPUT_TOKENS);
    if (rc) {
        warmpath__infer__stream_part__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}

const char *wp_infer_status_name(int status)
{
    static const char *const names[] = {
        "OK",      "BAD_REQUEST",   "UNKNOWN_MODEL", "NO_ROUTE", "OVERLOADED",
        "TIMEOUT", "TARGET_FAILED", "DRAINING",      "SHUTTING_DOWN", "INTERNAL",
        "DEADLINE_EXCEEDED",
    };
    if (status < 0 || (size_t)status >= sizeof names / sizeof names[0])
        return "UNKNOWN_STATUS";
    return names[status];
}

int wp_infer_decode_cancel(const uint8_t *p, size_t len,
                           struct Warmpath__Infer__ForwardCancel **out, wp_err *err)
{
    *out = NULL;
    if (len > WP_FRAME_MAX_BYTES)
        return wp_errf(err, WP_ETOOBIG, "cancel of %zu bytes", len);
    Warmpath__Infer__ForwardCancel *m = warmpath__infer__forward_cancel__unpack(NULL, len, p);
    if (!m)
        return wp_errf(err, WP_EPARSE, "cancel: not a valid protobuf message");
    int rc = m->hop_id ? WP_OK : wp_errf(err, WP_EINVAL, "cancel: missing hop_id");
    if (!rc)
        rc = check_name("ingress_node", m->ingress_node, false, err);
    size_t al = m->reply_addr ? strnlen(m->reply_addr, WP_GOSSIP_ADDR_MAX) : 0;
    if (!rc && (al == 0 || al >= WP_GOSSIP_ADDR_MAX))
        rc = wp_errf(err, WP_EINVAL, "cancel: reply_addr must be 1..%u bytes",
                     WP_GOSSIP_ADDR_MAX - 1);
    if (rc) {
        warmpath__infer__forward_cancel__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return WP_OK;
}
