/* reqtab.c — the ingress's table of pending requests (pure: no clock).
 *
 * What it guarantees. A request is OPENed once and CLOSEd once; in between
 * it has one current attempt, named by a 64-bit hop id. An answer is
 * accepted only if its hop id is the current attempt of an open request
 * (wp_reqtab_match); anything else — an answer to a replaced attempt after
 * a retry, a duplicate, an answer after the request was closed by a
 * timeout or at shutdown — matches nothing and is dropped by the caller.
 * So the caller answers its client exactly once: on the first of {matched
 * answer, expiry, shutdown} that closes the entry.
 *
 * How. Entries live in a fixed array of `capacity` slots with a free list.
 * A hop id is (generation << 24) | slot: each new attempt (and each reuse
 * of the slot) bumps the slot's generation, so a stale hop id no longer
 * matches, and lookup is O(1) with no hashing. Deadlines are kept in a
 * binary min-heap of (deadline, hop id) with lazy deletion: an entry whose
 * hop id is no longer current is discarded when it reaches the top. Each
 * attempt pushes one heap entry, so the heap holds at most the attempts
 * started within one deadline window (bounded by 2 x capacity: at most
 * two attempts per request, and stale entries are dropped as they surface
 * or when the heap would grow past its bound — see compact()).
 *
 * An attempt's deadline may be moved later (wp_reqtab_extend: a streaming
 * target showed progress); that pushes a new heap entry and leaves the old
 * one stale (its deadline no longer matches the slot's).
 *
 * Bounds: capacity <= 2^24 slots; generations wrap after 2^40 attempts per
 * slot (never in practice).
 */
#include "node/node.h"
#include "node/infer.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_BITS 24u
#define SLOT_MASK ((1ull << SLOT_BITS) - 1u)

typedef struct rt_slot {
    uint64_t gen;      /* current generation; hop = gen << 24 | slot */
    uint64_t deadline_ns;
    void *user;
    uint32_t attempts;
    bool open;
    uint32_t next_free;
} rt_slot;

typedef struct rt_heap_ent {
    uint64_t deadline_ns;
    uint64_t hop;
} rt_heap_ent;

struct wp_reqtab {
    rt_slot *slots;
    uint32_t capacity;
    uint32_t free_head; /* UINT32_MAX: none */
    uint32_t n_open;
    rt_heap_ent *heap;
    size_t n_heap, cap_heap;
};

int wp_reqtab_new(uint32_t capacity, wp_reqtab **out, wp_err *err)
{
    *out = NULL;
    if (capacity == 0 || capacity > SLOT_MASK)
        return wp_errf(err, WP_EINVAL, "reqtab: capacity must be 1..%llu",
                       (unsigned long long)SLOT_MASK);
    wp_reqtab *t = calloc(1, sizeof *t);
    if (!t)
        return wp_errf(err, WP_ENOMEM, "reqtab: out of memory");
    t->slots = calloc(capacity, sizeof *t->slots);
    t->cap_heap = 2u * (size_t)capacity + 16u;
    t->heap = malloc(t->cap_heap * sizeof *t->heap);
    if (!t->slots || !t->heap) {
        wp_reqtab_free(t);
        return wp_errf(err, WP_ENOMEM, "reqtab: out of memory");
    }
    t->capacity = capacity;
    for (uint32_t i = 0; i < capacity; i++) {
        t->slots[i].gen = 1;
        t->slots[i].next_free = i + 1 < capacity ? i + 1 : UINT32_MAX;
    }
    t->free_head = 0;
    *out = t;
    return WP_OK;
}

void wp_reqtab_free(wp_reqtab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->heap);
    free(t);
}

static uint64_t hop_of(const wp_reqtab *t, uint32_t slot)
{
    return (t->slots[slot].gen << SLOT_BITS) | slot;
}

static rt_slot *slot_of(const wp_reqtab *t, uint64_t hop)
{
    uint64_t s = hop & SLOT_MASK;
    if (s >= t->capacity)
        return NULL;
    rt_slot *e = &t->slots[s];
    if (!e->open || e->gen != hop >> SLOT_BITS)
        return NULL;
    return e;
}

static void heap_up(wp_reqtab *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->heap[p].deadline_ns <= t->heap[i].deadline_ns)
            break;
        rt_heap_ent x = t->heap[p];
        t->heap[p] = t->heap[i];
        t->heap[i] = x;
        i = p;
    }
}

static void heap_down(wp_reqtab *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n_heap && t->heap[l].deadline_ns < t->heap[m].deadline_ns)
            m = l;
        if (r < t->n_heap && t->heap[r].deadline_ns < t->heap[m].deadline_ns)
            m = r;
        if (m == i)
            return;
        rt_heap_ent x = t->heap[m];
        t->heap[m] = t->heap[i];
        t->heap[i] = x;
        i = m;
    }
}

static void heap_pop(wp_reqtab *t)
{
    t->heap[0] = t->heap[--t->n_heap];
    if (t->n_heap)
        heap_down(t, 0);
}

/* Drops stale entries everywhere (O(n)) and rebuilds the heap. */
static void compact(wp_reqtab *t)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n_heap; i++) {
        const rt_slot *e = slot_of(t, t->heap[i].hop);
        if (e && e->deadline_ns == t->heap[i].deadline_ns)
            t->heap[w++] = t->heap[i];
    }
    t->n_heap = w;
    for (size_t i = w / 2; i-- > 0;)
        heap_down(t, i);
}

int wp_reqtab_open(wp_reqtab *t, void *user, uint64_t deadline_ns, uint64_t *hop)
{
    if (t->free_head == UINT32_MAX)
        return WP_EOVERLOAD;
    uint32_t s = t->free_head;
    rt_slot *e = &t->slots[s];
    t->free_head = e->next_free;
    e->gen++;
    e->open = true;
    e->user = user;
    e->attempts = 1;
    e->deadline_ns = deadline_ns;
    t->n_open++;
    *hop = hop_of(t, s);
    if (t->n_heap == t->cap_heap)
        compact(t);
    t->heap[t->n_heap].deadline_ns = deadline_ns;
    t->heap[t->n_heap].hop = *hop;
    heap_up(t, t->n_heap++);
    return WP_OK;
}

int wp_reqtab_retry(wp_reqtab *t, uint64_t hop, uint64_t deadline_ns, uint64_t *new_hop)
{
    rt_slot *e = slot_of(t, hop);
    if (!e)
        return WP_ENOTFOUND;
    e->gen++;
    e->attempts++;
    e->deadline_ns = deadline_ns;
    *new_hop = hop_of(t, (uint32_t)(hop & SLOT_MASK));
    if (t->n_heap == t->cap_heap)
        compact(t);
    if (t->n_heap == t->cap_heap)
        return WP_ENOSPC; /* cannot happen: live entries <= capacity */
    t->heap[t->n_heap].deadline_ns = deadline_ns;
    t->heap[t->n_heap].hop = *new_hop;
    heap_up(t, t->n_heap++);
    return WP_OK;
}

int wp_reqtab_extend(wp_reqtab *t, uint64_t hop, uint64_t deadline_ns)
{
    rt_slot *e = slot_of(t, hop);
    if (!e)
        return WP_ENOTFOUND;
    if (deadline_ns <= e->deadline_ns)
        return WP_OK;
    if (t->n_heap == t->cap_heap)
        compact(t);
    if (t->n_heap == t->cap_heap)
        return WP_ENOSPC; /* cannot happen: live entries <= capacity */
    e->deadline_ns = deadline_ns; /* the old heap entry is stale now */
    t->heap[t->n_heap].deadline_ns = deadline_ns;
    t->heap[t->n_heap].hop = hop;
    heap_up(t, t->n_heap++);
    return WP_OK;
}

void *wp_reqtab_match(const wp_reqtab *t, uint64_t hop, uint32_t *attempts)
{
    const rt_slot *e = slot_of(t, hop);
    if (!e)
        return NULL;
    if (attempts)
        *attempts = e->attempts;
    return e->user;
}

int wp_reqtab_close(wp_reqtab *t, uint64_t hop)
{
    rt_slot *e = slot_of(t, hop);
    if (!e)
        return WP_ENOTFOUND;
    uint32_t s = (uint32_t)(hop & SLOT_MASK);
    e->open = false;
    e->gen++; /* any later answer to this hop is stale */
    e->user = NULL;
    e->next_free = t->free_head;
    t->free_head = s;
    t->n_open--;
    return WP_OK;
}

bool wp_reqtab_expired(wp_reqtab *t, uint64_t now_ns, uint64_t *hop, void **user)
{
    while (t->n_heap) {
        rt_heap_ent top = t->heap[0];
        const rt_slot *e = slot_of(t, top.hop);
        if (!e || e->deadline_ns != top.deadline_ns) {
            heap_pop(t); /* stale: answered, retried or closed */
            continue;
        }
        if (top.deadline_ns > now_ns)
            return false;
        heap_pop(t);
        *hop = top.hop;
        *user = e->user;
        return true;
    }
    return false;
}

uint64_t wp_reqtab_next_deadline(wp_reqtab *t)
{
    while (t->n_heap) {
        const rt_slot *e = slot_of(t, t->heap[0].hop);
        if (e && e->deadline_ns == t->heap[0].deadline_ns)
            return t->heap[0].deadline_ns;
        heap_pop(t);
    }
    return UINT64_MAX;
}

size_t wp_reqtab_count(const wp_reqtab *t) { return t->n_open; }

bool wp_reqtab_first(const wp_reqtab *t, uint64_t *hop, void **user)
{
    for (uint32_t s = 0; s < t->capacity; s++)
        if (t->slots[s].open) {
            *hop = hop_of(t, s);
            *user = t->slots[s].user;
            return true;
        }
    return false;
}
