/* msgpack_check.c — a bounded structural check of one msgpack object, on
 * the raw bytes, before msgpack-c is allowed to unpack anything.
 *
 * Why: msgpack-c has no limits of its own. A 6-byte input declaring a
 * 268-million-element array makes it reserve gigabytes; a truncated buffer
 * reports "continue" rather than an error; trailing bytes pass unnoticed
 * (see shared/notes/DEPS.md). This walk allocates nothing and refuses any
 * declared count above max_count or larger than the bytes left could hold
 * (every element takes at least one byte), any str/bin/ext longer than
 * max_str or the bytes left, nesting deeper than max_depth, reserved bytes,
 * and anything but exactly one object spanning the whole buffer.
 *
 * Bounds: O(len) time; recursion depth <= max_depth. Written by hand from
 * the msgpack format specification (no library offers a pre-unpack check).
 * Used by every msgpack decoder in the project (gossip frames, placement
 * commands and snapshots).
 */
#include "common/common.h"

#include <stdint.h>

typedef struct walker {
    const uint8_t *p;
    size_t len, off;
    size_t max_count, max_str;
    int max_depth;
    wp_err *err;
} walker;

static int need(walker *w, size_t n)
{
    if (w->len - w->off < n)
        return wp_errf(w->err, WP_ETRUNC, "msgpack: truncated at byte %zu", w->off);
    return WP_OK;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte big-endian length at off (advancing). */
static int read_len(walker *w, size_t n, uint64_t *v)
{
    int rv = need(w, n);
    if (rv != WP_OK)
        return rv;
    *v = be(w->p + w->off, n);
    w->off += n;
    return WP_OK;
}

static int skip(walker *w, uint64_t n)
{
    if (n > w->len - w->off)
        return wp_errf(w->err, WP_ETRUNC, "msgpack: truncated at byte %zu", w->off);
    w->off += (size_t)n;
    return WP_OK;
}

static int walk(walker *w, int depth);

static int walk_items(walker *w, uint64_t count, uint64_t per, int depth)
{
    if (count > w->max_count)
        return wp_errf(w->err, WP_ETOOBIG, "msgpack: declared count %llu over the limit %zu",
                       (unsigned long long)count, w->max_count);
    if (count * per > w->len - w->off)
        return wp_errf(w->err, WP_ETRUNC,
                       "msgpack: declared count %llu larger than the %zu bytes left",
                       (unsigned long long)count, w->len - w->off);
    if (depth >= w->max_depth)
        return wp_errf(w->err, WP_ETOOBIG, "msgpack: nested deeper than %d", w->max_depth);
    for (uint64_t i = 0; i < count * per; i++) {
        int rv = walk(w, depth + 1);
        if (rv != WP_OK)
            return rv;
    }
    return WP_OK;
}

static int walk_blob(walker *w, uint64_t n, const char *what)
{
    if (n > w->max_str)
        return wp_errf(w->err, WP_ETOOBIG, "msgpack: %s of %llu bytes over the limit %zu", what,
                       (unsigned long long)n, w->max_str);
    return skip(w, n);
}

static int walk(walker *w, int depth)
{
    int rv = need(w, 1);
    if (rv != WP_OK)
        return rv;
    uint8_t b = w->p[w->off++];
    uint64_t n = 0;
    if (b <= 0x7f || b >= 0xe0)
        return WP_OK;
    if (b >= 0x80 && b <= 0x8f)
        return walk_items(w, b & 0x0f, 2, depth);
    if (b >= 0x90 && b <= 0x9f)
        return walk_items(w, b & 0x0f, 1, depth);
    if (b >= 0xa0 && b <= 0xbf)
        return walk_blob(w, b & 0x1f, "string");
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return WP_OK;
    case 0xc4: case 0xc5: case 0xc6:
        if ((rv = read_len(w, (size_t)1 << (b - 0xc4), &n)) != WP_OK)
            return rv;
        return walk_blob(w, n, "binary");
    case 0xc7: case 0xc8: case 0xc9:
        if ((rv = read_len(w, (size_t)1 << (b - 0xc7), &n)) != WP_OK)
            return rv;
        return walk_blob(w, n + 1, "extension");
    case 0xca: return skip(w, 4);
    case 0xcb: return skip(w, 8);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: return skip(w, (size_t)1 << (b - 0xcc));
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: return skip(w, (size_t)1 << (b - 0xd0));
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return skip(w, 1 + ((size_t)1 << (b - 0xd4)));
    case 0xd9: case 0xda: case 0xdb:
        if ((rv = read_len(w, (size_t)1 << (b - 0xd9), &n)) != WP_OK)
            return rv;
        return walk_blob(w, n, "string");
    case 0xdc: case 0xdd:
        if ((rv = read_len(w, b == 0xdc ? 2 : 4, &n)) != WP_OK)
            return rv;
        return walk_items(w, n, 1, depth);
    case 0xde: case 0xdf:
        if ((rv = read_len(w, b == 0xde ? 2 : 4, &n)) != WP_OK)
            return rv;
        return walk_items(w, n, 2, depth);
    default:
        return wp_errf(w->err, WP_EPARSE, "msgpack: invalid byte 0x%02x at %zu", b, w->off - 1);
    }
}

int wp_msgpack_check(const void *buf, size_t len, size_t max_count, size_t max_str,
                     int max_depth, wp_err *err)
{
    if (len == 0)
        return wp_errf(err, WP_ETRUNC, "msgpack: empty frame");
    walker w = {buf, len, 0, max_count, max_str, max_depth, err};
    int rv = walk(&w, 0);
    if (rv != WP_OK)
        return rv;
    if (w.off != len)
        return wp_errf(err, WP_EPARSE, "msgpack: %zu trailing bytes after the object",
                       len - w.off);
    return WP_OK;
}

