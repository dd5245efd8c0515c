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
 * Bounds. push and pop are O(log n) (the heap is common/heap.c's); n is
 * the number of pending events (about the number of requests in flight
 * plus one generator event), not the number of requests simulated. The
 * array grows by doubling; it never shrinks during a run.
 */
#include "sim/sim_int.h"

static bool before(const void *pa, const void *pb)
{
    const wp_event *a = pa, *b = pb;
    return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static const wp_heap_kind EVENTS = {sizeof(wp_event), before};

int wp_eventq_init(wp_eventq *q, size_t cap)
{
    q->next_seq = 0;
    return wp_heap_init(&q->heap, &EVENTS, cap ? cap : 1024);
}

void wp_eventq_close(wp_eventq *q)
{
    wp_heap_close(&q->heap);
}

int wp_eventq_push(wp_eventq *q, uint64_t at_ns, uint32_t type, uint32_t arg)
{
    wp_event ev = {.at_ns = at_ns, .seq = q->next_seq, .type = type, .arg = arg};
    int rv = wp_heap_push(&q->heap, &EVENTS, &ev);
    if (rv == WP_OK)
        q->next_seq++;
    return rv;
}

bool wp_eventq_pop(wp_eventq *q, wp_event *ev)
{
    return wp_heap_pop(&q->heap, &EVENTS, ev);
}
