/* eventq.c — the simulator's event queue: a binary min-heap.
 *
 * Order. Events are ordered by (at_ns, seq): the simulated time in integer
 * nanoseconds, then a sequence number the queue assigns at push, strictly
 * increasing over the queue's life. (at_ns, seq) is therefore a total
 * order with no two events equal, so the order in which events are popped
 * never depends on the heap's internal layout — the one property a
 * reproducible simulation needs from its queue.
 *
 * Tie-breaks. Two events at the same nanosecond run in the order they were
 * scheduled (first scheduled, first run). Because every handler runs in
 * that deterministic order and draws from seeded generators in that order,
 * the whole run is a pure function of the scenario, the options and the
 * seed. Consequences worth knowing: a request that finishes at exactly the
 * time another arrives frees its slot first only if its completion was
 * scheduled first (it usually was: it was scheduled when service started,
 * before the arrival was generated). Times are rounded to whole ns once,
 * when an event is scheduled (llround of a double in ms x 1e6), never
 * compared as doubles.
 *
 * Bounds. push and pop are O(log n); n is the number of pending events
 * (about the number of requests in flight plus one generator event), not
 * the number of requests simulated. The array grows by doubling; it never
 * shrinks during a run.
 */
#include "sim/sim_int.h"

#include <stdlib.h>

int wp_eventq_init(wp_eventq *q, size_t cap)
{
    q->n = 0;
    q->next_seq = 0;
    q->cap = cap ? cap : 1024;
    q->heap = malloc(q->cap * sizeof *q->heap);
    return q->heap ? WP_OK : WP_ENOMEM;
}

void wp_eventq_close(wp_eventq *q)
{
    free(q->heap);
    q->heap = NULL;
    q->n = q->cap = 0;
}

static inline bool before(const wp_event *a, const wp_event *b)
{
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

int wp_eventq_push(wp_eventq *q, uint64_t at_ns, uint32_t type, uint32_t arg)
{
    if (q->n == q->cap) {
        wp_event *h = realloc(q->heap, q->cap * 2 * sizeof *h);
        if (!h)
            return WP_ENOMEM;
        q->heap = h;
        q->cap *= 2;
    }
    wp_event ev = {.at_ns = at_ns, .seq = q->next_seq++, .type = type, .arg = arg};
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&ev, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = ev;
    return WP_OK;
}

bool wp_eventq_pop(wp_eventq *q, wp_event *ev)
{
    if (q->n == 0)
        return false;
    *ev = q->heap[0];
    wp_event last = q->heap[--q->n];
    size_t i = 0, n = q->n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t c = (l + 1 < n && before(&q->heap[l + 1], &q->heap[l])) ? l + 1 : l;
        if (!before(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n > 0)
        q->heap[i] = last;
    return true;
}
