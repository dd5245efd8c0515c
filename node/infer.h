/* node/infer.h — the request path's framing, pure (no sockets, no clock):
 * the admin endpoint's frame, the inference frames (proto/inference.proto)
 * with validated decoders, and the ingress's request table. Implemented in
 * node/infer_codec.c and node/reqtab.c (library wp_gossip); used by wp-node,
 * wpctl, the benchmarks and the tests. The gossip core is node/node.h.
 */
#ifndef WP_NODE_INFER_H
#define WP_NODE_INFER_H

#include "common/common.h"

/* ---------------------------------------------------------------- admin framing */

/* The admin endpoint's frame (proto/admin.proto): "WA", version, 0, then the
 * payload length (big-endian u32, <= WP_FRAME_MAX_BYTES), then the protobuf
 * payload. */
#define WP_ADMIN_HDR_BYTES 8u
#define WP_ADMIN_FRAME_VERSION 1u
void wp_admin_frame_header(uint8_t hdr[WP_ADMIN_HDR_BYTES], size_t payload_len);
/* Checks magic, version, the length cap and that the length matches the
 * bytes received; on success the payload is buf + WP_ADMIN_HDR_BYTES. */
int wp_admin_frame_check(const uint8_t *buf, size_t len, size_t *payload_len, wp_err *err);

/* ---------------------------------------------------------------- inference framing */

/* The request path's frames (proto/inference.proto, which documents the
 * transport): "WI", version, kind, big-endian u32 payload length (<=
 * WP_FRAME_MAX_BYTES, equal to the bytes that follow), then the protobuf.
 * The protobuf-c types are only forward-declared here; include
 * "proto/inference.pb-c.h" to build or read them. Pure code (no sockets). */
#define WP_INFER_HDR_BYTES 8u
#define WP_INFER_FRAME_VERSION 1u
#define WP_INFER_MAX_INPUT_TOKENS 32768u  /* input_tokens entries, or input_text bytes */
#define WP_INFER_MAX_OUTPUT_TOKENS 32768u /* max_output_tokens, output_tokens entries */

typedef enum wp_infer_kind { /* = warmpath.infer.FrameKind */
    WP_INFER_KIND_NONE = 0,
    WP_INFER_KIND_INFER_REQUEST = 1,
    WP_INFER_KIND_INFER_RESPONSE = 2,
    WP_INFER_KIND_ROUTE_REQUEST = 3,
    WP_INFER_KIND_ROUTE_RESPONSE = 4,
    WP_INFER_KIND_FORWARD_REQUEST = 5,
    WP_INFER_KIND_FORWARD_RESPONSE = 6,
    WP_INFER_KIND_LOAD_REPORT = 7,
    WP_INFER_KIND_INFER_PART = 8,
    WP_INFER_KIND_FORWARD_PART = 9,
    WP_INFER_KIND_FORWARD_CANCEL = 10,
} wp_infer_kind;
#define WP_INFER_KIND_MAX WP_INFER_KIND_FORWARD_CANCEL

struct ProtobufCMessage;
struct Warmpath__Infer__InferRequest;
struct Warmpath__Infer__InferResponse;
struct Warmpath__Infer__RouteRequest;
struct Warmpath__Infer__RouteResponse;
struct Warmpath__Infer__ForwardRequest;
struct Warmpath__Infer__ForwardResponse;
struct Warmpath__Infer__LoadReport;
struct Warmpath__Infer__StreamPart;
struct Warmpath__Infer__ForwardCancel;

void wp_infer_frame_header(uint8_t hdr[WP_INFER_HDR_BYTES], wp_infer_kind kind,
                           size_t payload_len);
/* Checks magic, version, a known kind, the length cap and that the length
 * matches len; on success the payload is buf + WP_INFER_HDR_BYTES. */
int wp_infer_frame_check(const uint8_t *buf, size_t len, wp_infer_kind *kind,
                         size_t *payload_len, wp_err *err);
/* Header + packed message into a malloc'ed buffer (caller frees).
 * msg is e.g. &req.base. WP_ETOOBIG above the cap. */
int wp_infer_encode(wp_infer_kind kind, const struct ProtobufCMessage *msg, uint8_t **out,
                    size_t *out_len, wp_err *err);
/* The same into buf[0..cap); returns the frame length, 0 if it does not fit. */
size_t wp_infer_encode_into(wp_infer_kind kind, const struct ProtobufCMessage *msg, uint8_t *buf,
                            size_t cap);
/* Payload decoders (pass buf + WP_INFER_HDR_BYTES after wp_infer_frame_check).
 * Each unpacks, then validates by hand; on error nothing is returned and err
 * says why (WP_EPARSE garbage, WP_EINVAL a missing or bad field). Free the
 * result with the matching warmpath__infer__*__free_unpacked(m, NULL).
 * Request checks: model 1..63 bytes without control characters, input
 * non-empty (tokens or text) and <= WP_INFER_MAX_INPUT_TOKENS,
 * max_output_tokens <= WP_INFER_MAX_OUTPUT_TOKENS, names < WP_NAME_MAX,
 * client position in range. */
int wp_infer_decode_request(const uint8_t *p, size_t len,
                            struct Warmpath__Infer__InferRequest **out, wp_err *err);
int wp_infer_decode_response(const uint8_t *p, size_t len,
                             struct Warmpath__Infer__InferResponse **out, wp_err *err);
int wp_infer_decode_route_request(const uint8_t *p, size_t len,
                                  struct Warmpath__Infer__RouteRequest **out, wp_err *err);
int wp_infer_decode_route_response(const uint8_t *p, size_t len,
                                   struct Warmpath__Infer__RouteResponse **out, wp_err *err);
int wp_infer_decode_forward_request(const uint8_t *p, size_t len,
                                    struct Warmpath__Infer__ForwardRequest **out, wp_err *err);
int wp_infer_decode_forward_response(const uint8_t *p, size_t len,
                                     struct Warmpath__Infer__ForwardResponse **out, wp_err *err);
/* Load report checks: node and model names 1..WP_NAME_MAX-1 bytes, at most
 * WP_INFER_MAX_LOAD_MODELS entries. */
#define WP_INFER_MAX_LOAD_MODELS 256u
int wp_infer_decode_load_report(const uint8_t *p, size_t len,
                                struct Warmpath__Infer__LoadReport **out, wp_err *err);
/* A streamed part: kind FIRST or CHUNK, seq < WP_STREAM_MAX_PARTS, tokens
 * and output_count <= WP_INFER_MAX_OUTPUT_TOKENS, tokens <= output_count. */
int wp_infer_decode_part(const uint8_t *p, size_t len, struct Warmpath__Infer__StreamPart **out,
                         wp_err *err);
/* A cancel: hop_id set, reply_addr 1..WP_GOSSIP_ADDR_MAX-1 bytes (128),
 * ingress_node < WP_NAME_MAX. */
int wp_infer_decode_cancel(const uint8_t *p, size_t len,
                           struct Warmpath__Infer__ForwardCancel **out, wp_err *err);
/* The request checks alone (for a request built in memory). */
int wp_infer_request_check(const struct Warmpath__Infer__InferRequest *r, wp_err *err);
/* "OK", "BAD_REQUEST", ... (the proto enum names); "UNKNOWN_STATUS" otherwise. */
const char *wp_infer_status_name(int status);

/* ---------------------------------------------------------------- stream order */

/* The receiving side's check of one streamed answer (node/stream.c; the
 * protocol is in proto/inference.proto): parts must come FIRST (seq 0),
 * then CHUNKs with seq 1, 2, ...; the final message closes the stream and
 * says how many parts preceded it. Pure. Used by the ingress (parts from
 * the target) and by clients (parts from the ingress). */
#define WP_STREAM_MAX_PARTS 65536u

typedef enum wp_stream_verdict {
    WP_STREAM_IN_ORDER = 0, /* the expected next part */
    WP_STREAM_GAP,          /* later than expected: parts were lost (counted in lost) */
    WP_STREAM_STALE,        /* a duplicate or an older part: drop it */
    WP_STREAM_AFTER_FINAL,  /* the stream is closed: drop it */
    WP_STREAM_BAD,          /* FIRST not at seq 0, CHUNK at seq 0, or an unknown kind */
} wp_stream_verdict;

typedef struct wp_stream_rx {
    uint32_t next_seq;      /* the seq expected next */
    uint32_t received;      /* parts accepted (IN_ORDER or GAP) */
    uint32_t lost;          /* parts never seen (gaps, and missing at the final) */
    uint32_t dropped;       /* STALE, AFTER_FINAL and BAD parts */
    bool closed;            /* the final message came */
} wp_stream_rx;

void wp_stream_rx_init(wp_stream_rx *s);
/* kind: 1 FIRST, 2 CHUNK (warmpath.infer.PartKind). */
wp_stream_verdict wp_stream_rx_part(wp_stream_rx *s, int kind, uint32_t seq);
/* The final message: closes the stream; parts it announced (stream_parts)
 * but that never came are added to lost. Returns the parts lost in all. A
 * second final is not counted twice (returns lost unchanged). */
uint32_t wp_stream_rx_final(wp_stream_rx *s, uint32_t stream_parts);
const char *wp_stream_verdict_name(wp_stream_verdict v);

/* ---------------------------------------------------------------- request table */

/* The ingress's pending requests (node/reqtab.c explains the design). Each
 * open request has one current attempt named by a hop id; answers are
 * accepted only for the current attempt of an open request, so every
 * request is closed exactly once (answer, expiry or shutdown) and late or
 * duplicate answers match nothing. Pure: deadlines are passed in. */
typedef struct wp_reqtab wp_reqtab;

int wp_reqtab_new(uint32_t capacity, wp_reqtab **out, wp_err *err);
void wp_reqtab_free(wp_reqtab *t);
/* Opens a request (first attempt, deadline_ns); *hop names the attempt.
 * WP_EOVERLOAD when all capacity slots are in use. */
int wp_reqtab_open(wp_reqtab *t, void *user, uint64_t deadline_ns, uint64_t *hop);
/* Replaces the current attempt `hop` with a new one (*new_hop, new
 * deadline); the old hop no longer matches. WP_ENOTFOUND if hop is not
 * current. */
int wp_reqtab_retry(wp_reqtab *t, uint64_t hop, uint64_t deadline_ns, uint64_t *new_hop);
/* Moves the deadline of the current attempt hop later (never earlier:
 * an earlier deadline_ns changes nothing). WP_ENOTFOUND if hop is not
 * current. */
int wp_reqtab_extend(wp_reqtab *t, uint64_t hop, uint64_t deadline_ns);
/* The request whose current attempt is hop (and its attempt count), or
 * NULL: stale, duplicate or unknown. */
void *wp_reqtab_match(const wp_reqtab *t, uint64_t hop, uint32_t *attempts);
/* Closes the request whose current attempt is hop. WP_ENOTFOUND if not. */
int wp_reqtab_close(wp_reqtab *t, uint64_t hop);
/* Pops one request whose current attempt's deadline is <= now_ns (it stays
 * open: the caller retries or closes it). false when none. */
bool wp_reqtab_expired(wp_reqtab *t, uint64_t now_ns, uint64_t *hop, void **user);
/* Earliest current deadline, UINT64_MAX when none. */
uint64_t wp_reqtab_next_deadline(wp_reqtab *t);
size_t wp_reqtab_count(const wp_reqtab *t);
/* Any open request (for answering everything at shutdown). */
bool wp_reqtab_first(const wp_reqtab *t, uint64_t *hop, void **user);

#endif /* WP_NODE_INFER_H */
