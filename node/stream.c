/* stream.c — the receiving side's order check of a streamed answer
 * (proto/inference.proto, "Streaming").
 *
 * A sender numbers the parts of one answer 0 (FIRST), 1, 2, ... (CHUNKs)
 * and then sends the final message, which says how many parts it sent.
 * ZeroMQ delivers in order on one connection, so on the wire a part can
 * only be lost (a full queue drops it), never reordered; but an answer may
 * pass through two hops and a retry, so the receiver checks anyway:
 *   - the expected seq: accepted;
 *   - a later seq: the parts between were lost (counted), accepted;
 *   - an earlier seq: a duplicate or stale part, dropped;
 *   - anything after the final message: dropped (the request already has
 *     its one answer);
 *   - at the final: parts announced but never received count as lost.
 * The final message carries the whole output, so a lost part costs only
 * the early view of those tokens, never the answer.
 */
#include "node/infer.h"

void wp_stream_rx_init(wp_stream_rx *s)
{
    *s = (wp_stream_rx){0};
}

wp_stream_verdict wp_stream_rx_part(wp_stream_rx *s, int kind, uint32_t seq)
{
    if (s->closed) {
        s->dropped++;
        return WP_STREAM_AFTER_FINAL;
    }
    if ((kind == 1) != (seq == 0) || (kind != 1 && kind != 2) || seq >= WP_STREAM_MAX_PARTS) {
        s->dropped++;
        return WP_STREAM_BAD;
    }
    if (seq < s->next_seq) {
        s->dropped++;
        return WP_STREAM_STALE;
    }
    wp_stream_verdict v = WP_STREAM_IN_ORDER;
    if (seq > s->next_seq) {
        s->lost += seq - s->next_seq;
        v = WP_STREAM_GAP;
    }
    s->next_seq = seq + 1;
    s->received++;
    return v;
}

uint32_t wp_stream_rx_final(wp_stream_rx *s, uint32_t stream_parts)
{
    if (s->closed)
        return s->lost;
    s->closed = true;
    if (stream_parts > s->next_seq)
        s->lost += stream_parts - s->next_seq;
    return s->lost;
}

const char *wp_stream_verdict_name(wp_stream_verdict v)
{
    switch (v) {
    case WP_STREAM_IN_ORDER: return "in-order";
    case WP_STREAM_GAP: return "gap";
    case WP_STREAM_STALE: return "stale";
    case WP_STREAM_AFTER_FINAL: return "after-final";
    case WP_STREAM_BAD: return "bad";
    }
    return "unknown";
}
