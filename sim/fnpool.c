/* fnpool.c — per-tenant execution environments, keyed by (site, function).
 *
 * What. Serverless platforms give every customer FUNCTION its own
 * execution environments. Two kinds are modelled:
 *   containers  (regional world, Lambda-like): one environment serves one
 *               request at a time. A request takes an idle container of
 *               its (region, function) if one has been idle for less than
 *               the keep-alive, the most recently idle first; else a new
 *               one cold-starts. When the request is done the container
 *               goes back on its pool's idle stack.
 *   isolate     (edge world, Workers-like): one V8 isolate per (PoP,
 *               function) serves any number of concurrent requests. It is
 *               warm while a request uses it or for the keep-alive after
 *               its last use; else the request pays an isolate start.
 *
 * Storage. Sites x functions can be 30 x 10^6 pairs while a run touches
 * a few thousand, so pools are found through an open-addressing map
 * (linear probing over a power-of-two table of pool ids, key = a 64-bit
 * mix of (site, function)). Pool records live in one array with a free
 * list; idle containers are records in a second array, chained newest
 * first, also with a free list. Both arrays grow by doubling up to the
 * peak in use and are then reused: no allocation per request in steady
 * state.
 *
 * Invariants.
 *  - An idle stack is ordered newest first (pushes happen in event-time
 *    order), so if its head has been idle for the keep-alive or longer,
 *    so has every container below it: the whole chain is freed at once
 *    (each container freed once: O(1) amortised).
 *  - A pool is dead when nothing uses it (busy == 0) and its last use
 *    (acquire or release) is a keep-alive or more in the past: then none
 *    of its environments is warm, and dropping it changes no outcome (the
 *    next request would cold-start either way).
 *  - The table is at most half full after an insert. Before it would pass
 *    half, dead pools are swept out and the table is rebuilt; it doubles
 *    until the live pools fill at most a quarter of it, so at least a
 *    quarter of the table's inserts pass before the next sweep: O(1)
 *    amortised per insert.
 * Bounds: table <= max(initial, 8 x pools live at the last sweep); pool
 * and idle records <= their peak in use. O(active pools), never
 * O(sites x functions).
 *
 * Outcomes never depend on the table's layout (it only finds records),
 * so runs stay deterministic whatever the growth history.
 */
#include "sim/sim_int.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define INITIAL_SLOTS 256u

static uint64_t mix64(uint64_t x) /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static size_t home(const wp_fnpool *p, uint32_t site, uint32_t fn)
{
    return (size_t)(mix64(((uint64_t)site << 32) | fn) & (p->nslot - 1));
}

int wp_fnpool_init(wp_fnpool *p, wp_fnpool_kind kind, uint64_t keep_ns)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->keep_ns = keep_ns;
    p->free_ent = NONE;
    p->free_idle = NONE;
    p->nslot = INITIAL_SLOTS;
    p->slot = malloc(p->nslot * sizeof *p->slot);
    if (!p->slot)
        return WP_ENOMEM;
    memset(p->slot, 0xff, p->nslot * sizeof *p->slot); /* all NONE */
    return WP_OK;
}

void wp_fnpool_close(wp_fnpool *p)
{
    free(p->slot);
    free(p->ent);
    free(p->idle);
    memset(p, 0, sizeof *p);
}

static void free_idle_chain(wp_fnpool *p, wp_fnpool_ent *en)
{
    uint32_t i = en->idle;
    while (i != NONE) {
        uint32_t next = p->idle[i].next;
        p->idle[i].next = p->free_idle;
        p->free_idle = i;
        i = next;
    }
    en->idle = NONE;
}

static bool dead(const wp_fnpool *p, const wp_fnpool_ent *en, uint64_t now_ns)
{
    return en->busy == 0 && now_ns - en->last_ns >= p->keep_ns;
}

static void place(wp_fnpool *p, uint32_t id)
{
    size_t i = home(p, p->ent[id].site, p->ent[id].fn);
    while (p->slot[i] != NONE)
        i = (i + 1) & (p->nslot - 1);
    p->slot[i] = id;
}

/* Drops dead pools and rebuilds the table, doubled until the live pools
 * fill at most a quarter of it. */
static int sweep(wp_fnpool *p, uint64_t now_ns)
{
    for (uint32_t id = 0; id < p->nent; id++) {
        wp_fnpool_ent *en = &p->ent[id];
        if (!en->used || !dead(p, en, now_ns))
            continue;
        free_idle_chain(p, en);
        en->used = false;
        en->idle = p->free_ent; /* free-list link */
        p->free_ent = id;
        p->nlive--;
        p->dropped++;
    }
    size_t n = p->nslot;
    while ((p->nlive + 1) * 4 > n)
        n *= 2;
    if (n != p->nslot) {
        uint32_t *s = malloc(n * sizeof *s);
        if (!s)
            return WP_ENOMEM;
        free(p->slot);
        p->slot = s;
        p->nslot = n;
    }
    memset(p->slot, 0xff, p->nslot * sizeof *p->slot);
    for (uint32_t id = 0; id < p->nent; id++)
        if (p->ent[id].used)
            place(p, id);
    p->sweeps++;
    return WP_OK;
}

static int new_pool(wp_fnpool *p, uint32_t site, uint32_t fn, uint64_t now_ns, uint32_t *out)
{
    if ((p->nlive + 1) * 2 > p->nslot) {
        int rv = sweep(p, now_ns);
        if (rv != WP_OK)
            return rv;
    }
    uint32_t id;
    if (p->free_ent != NONE) {
        id = p->free_ent;
        p->free_ent = p->ent[id].idle;
    } else {
        if (p->nent == p->cap_ent) {
            uint32_t cap = p->cap_ent ? p->cap_ent * 2 : 256;
            wp_fnpool_ent *n = realloc(p->ent, (size_t)cap * sizeof *n);
            if (!n)
                return WP_ENOMEM;
            p->ent = n;
            p->cap_ent = cap;
        }
        id = p->nent++;
    }
    p->ent[id] = (wp_fnpool_ent){.last_ns = now_ns, .site = site, .fn = fn, .busy = 0,
                                 .idle = NONE, .used = true};
    p->nlive++;
    place(p, id);
    *out = id;
    return WP_OK;
}

int wp_fnpool_acquire(wp_fnpool *p, uint32_t site, uint32_t fn, uint64_t now_ns, uint32_t *id,
                      bool *started)
{
    size_t i = home(p, site, fn);
    uint32_t found = NONE;
    for (; p->slot[i] != NONE; i = (i + 1) & (p->nslot - 1)) {
        const wp_fnpool_ent *en = &p->ent[p->slot[i]];
        if (en->site == site && en->fn == fn) {
            found = p->slot[i];
            break;
        }
    }
    if (found == NONE) {
        int rv = new_pool(p, site, fn, now_ns, &found);
        if (rv != WP_OK)
            return rv;
        *started = true;
    } else {
        wp_fnpool_ent *en = &p->ent[found];
        if (p->kind == WP_FNPOOL_ISOLATE) {
            *started = dead(p, en, now_ns);
        } else if (en->idle != NONE && now_ns - p->idle[en->idle].since_ns < p->keep_ns) {
            uint32_t c = en->idle; /* the most recently idle container */
            en->idle = p->idle[c].next;
            p->idle[c].next = p->free_idle;
            p->free_idle = c;
            *started = false;
        } else {
            free_idle_chain(p, en); /* the newest expired: all did */
            *started = true;
        }
    }
    wp_fnpool_ent *en = &p->ent[found];
    en->busy++;
    en->last_ns = now_ns;
    if (*started)
        p->started++;
    *id = found;
    return WP_OK;
}

int wp_fnpool_release(wp_fnpool *p, uint32_t id, uint64_t now_ns)
{
    if (id >= p->nent || !p->ent[id].used || p->ent[id].busy == 0)
        return WP_ESTATE;
    wp_fnpool_ent *en = &p->ent[id];
    en->busy--;
    en->last_ns = now_ns;
    if (p->kind == WP_FNPOOL_ISOLATE)
        return WP_OK;
    uint32_t c;
    if (p->free_idle != NONE) {
        c = p->free_idle;
        p->free_idle = p->idle[c].next;
    } else {
        if (p->nidle == p->cap_idle) {
            uint32_t cap = p->cap_idle ? p->cap_idle * 2 : 256;
            wp_fnpool_idle *n = realloc(p->idle, (size_t)cap * sizeof *n);
            if (!n)
                return WP_ENOMEM;
            p->idle = n;
            p->cap_idle = cap;
        }
        c = p->nidle++;
    }
    p->idle[c].since_ns = now_ns;
    p->idle[c].next = en->idle;
    en->idle = c;
    return WP_OK;
}

size_t wp_fnpool_idle_count(const wp_fnpool *p, uint32_t id)
{
    size_t n = 0;
    for (uint32_t i = p->ent[id].idle; i != NONE; i = p->idle[i].next)
        n++;
    return n;
}
