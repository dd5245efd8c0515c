/* heap.c — the one binary min-heap of the project (declared in
 * common/common.h), used by the simulator's event queue, the gossip
 * simulation, the node daemon's WAN delay queue and the placement
 * optimizer.
 *
 * Shape. n elements of elem_bytes each, stored inline in one array, 0-based:
 * the children of slot i are 2i+1 and 2i+2, its parent (i-1)/2. Elements are
 * copied in and out by value (memcpy); the heap never keeps a pointer into
 * the caller's memory.
 *
 * Invariant. For every slot i > 0: !less(v[i], v[parent(i)]) — no element is
 * "less" than its parent — so v[0] is a minimum. `less` must be a strict
 * weak order; "minimum" means whatever the caller's `less` ranks first (the
 * placement optimizer passes "better than" and gets a max-heap of scores).
 *
 * Determinism. Which of several equal elements comes out first depends on
 * the heap's history, so a caller that needs a reproducible order makes its
 * order total: every user here breaks ties with a field that no two live
 * elements share (a sequence number assigned at push, or a (model, city)
 * index pair). With a total order the pop sequence is a pure function of
 * the pushed elements, whatever the heap's layout — the property the
 * simulator's per-seed reproducibility rests on. Equal-time events pop in
 * push order because their sequence numbers say so, not because of this
 * code.
 *
 * Sifting (wp_heap_push / wp_heap_pop, inline in common.h so that the
 * caller's constant kind is inlined) moves a hole instead of swapping: push walks
 * the new element's hole up from slot n, pop walks the last element's hole
 * down from the root, each element moved once per level (one memcpy, not
 * three).
 *
 * Bounds. push and pop are O(log n) comparisons and copies. The array is
 * allocated at init (or on the first push when init is given no capacity),
 * grows by doubling (WP_ENOMEM when it cannot, the heap unchanged) and
 * never shrinks until wp_heap_close.
 */
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

int wp_heap_init(wp_heap *h, const wp_heap_kind *k, size_t cap)
{
    h->n = 0;
    h->elem_bytes = k->elem_bytes;
    h->cap = 0;
    h->v = NULL;
    if (cap == 0)
        return WP_OK; /* allocated on the first push */
    h->v = cap <= SIZE_MAX / h->elem_bytes ? malloc(cap * h->elem_bytes) : NULL;
    if (!h->v)
        return WP_ENOMEM;
    h->cap = cap;
    return WP_OK;
}

void wp_heap_close(wp_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

int wp_heap__grow(wp_heap *h)
{
    const size_t sz = h->elem_bytes;
    if (h->cap > SIZE_MAX / 2 / sz)
        return WP_ENOMEM;
    size_t cap = h->cap ? 2 * h->cap : 8;
    unsigned char *nv = realloc(h->v, cap * sz);
    if (!nv)
        return WP_ENOMEM;
    h->v = nv;
    h->cap = cap;
    return WP_OK;
}
