/*
 * Lists on the heap (the encodings are drawn in store_list.h). A small list is one backward
 * pack; a big list is a root over a doubly linked chain of nodes, each a 16-byte header and a
 * backward pack. Invariants: a list holds 1 .. length_max elements; a small list's pack is at
 * most STORE_LIST_PACK_BYTES_MAX bytes; a node's pack is at most that too, or holds one
 * element; no node is empty; a node's count equals its pack's; the root's count is the sum of
 * its nodes' and its node count the length of the chain, whose links agree both ways.
 *
 * Every write takes all the memory it needs before it changes anything: new nodes are built
 * off the list first (a chain, linked only to each other), the one pack that grows in place
 * is reserved (heap_resize to its final size, after which pack_insert writes in the
 * allocation it has and cannot fail), and only then does the list change. A write that
 * would take a pack past the limit rebuilds that pack's elements, the edit included, into new
 * nodes (a small list becomes big). Deletes never fail: they shrink packs (which never
 * fails), unlink and release empty nodes, merge neighbours after LREM when the heap lets
 * them, and turn a big list that is down to one small node back into a small list (no
 * memory needed: that node's pack becomes the list's). Every walk is bounded by a count:
 * elements, or nodes. No I/O; nothing but the heap.
 */
#include "store_list.h"

#include "store_internal.h"

/* A node of a big list. */
struct list_node {
    uint32_t prev;  /* the node toward the head; HEAP_REF_NONE at the head */
    uint32_t next;  /* the node toward the tail; HEAP_REF_NONE at the tail */
    uint32_t pack;  /* the node's backward pack */
    uint32_t count; /* elements in the pack (its count, kept here so that a walk skips the
                       node without reading its pack) */
};

/* The root of a big list: what the key object's value names. */
struct list_root {
    uint32_t head;       /* first node */
    uint32_t tail;       /* last node */
    uint32_t count;      /* elements: the nodes' counts summed */
    uint32_t node_count; /* nodes in the chain */
};

static_assert(sizeof(struct list_node) == 16, "a node header is one 16-byte heap object");
static_assert(sizeof(struct list_root) == 16, "a root is one 16-byte heap object");
static_assert(STORE_LIST_PACK_BYTES_LOW < STORE_LIST_PACK_BYTES_MAX, "the hysteresis is a gap");
static_assert(STORE_LIST_PACK_BYTES_MAX < PACK_COUNT_MAX, "a full pack's count fits its field");

/* ---- Access ----------------------------------------------------------------------------- */

static struct list_node *node_at(const struct store *store, uint32_t node_ref)
{
    KV_ASSERT(node_ref != HEAP_REF_NONE);
    struct list_node *node = heap_pointer(store->heap, node_ref);
    KV_ASSERT(node->pack != HEAP_REF_NONE); /* every node has its pack */
    return node;
}

static struct pack *pack_at(const struct store *store, uint32_t pack_ref)
{
    KV_ASSERT(pack_ref != HEAP_REF_NONE);
    struct pack *pack = heap_pointer(store->heap, pack_ref);
    KV_ASSERT(pack_backward(pack));
    return pack;
}

static bool list_big(const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    uint8_t encoding = store_key_encoding(key);
    KV_ASSERT(encoding == STORE_ENCODING_RAW || encoding == STORE_ENCODING_ROOT);
    return encoding == STORE_ENCODING_ROOT;
}

static struct list_root *root_of(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(list_big(key));
    struct list_root *root = heap_pointer(store->heap, key->value);
    KV_ASSERT(root->node_count > 0 || root->count == 0);
    return root;
}

/* The list key found, for a write to it. */
static struct store_key *list_key(const struct store *store, const struct store_found *found)
{
    KV_ASSERT(found->exists);
    struct store_key *key = store_key(store, found->key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    return key;
}

/* ---- Places: the one pack a write edits --------------------------------------------------- */

/* Where an edit happens: a small list's pack, or one node of a big list. */
struct list_place {
    struct list_root *root; /* NULL in a small list */
    struct list_node *node; /* NULL in a small list */
    uint32_t *pack_ref;     /* where the pack's reference is kept: the key's value or the
                               node's pack (a write that moves the pack updates it) */
};

static struct list_place place_of(const struct store *store, struct store_key *key,
                                  uint32_t node_ref)
{
    if (node_ref == HEAP_REF_NONE) {
        KV_ASSERT(!list_big(key));
        return (struct list_place){.root = NULL, .node = NULL, .pack_ref = &key->value};
    }
    struct list_node *node = node_at(store, node_ref);
    KV_ASSERT(node->count > 0);
    return (struct list_place){.root = root_of(store, key), .node = node, .pack_ref = &node->pack};
}

static struct pack *place_pack(const struct store *store, const struct list_place *place)
{
    KV_ASSERT((place->node == NULL) == (place->root == NULL));
    struct pack *pack = pack_at(store, *place->pack_ref);
    KV_ASSERT(place->node == NULL || place->node->count == pack_count(pack));
    return pack;
}

/* The counts follow a pack that gained (delta > 0) or lost elements. */
static void place_counted(struct list_place *place, int64_t delta)
{
    if (place->node == NULL) {
        return;
    }
    KV_ASSERT((int64_t)place->node->count + delta >= 0);
    KV_ASSERT((int64_t)place->root->count + delta >= 0);
    place->node->count = (uint32_t)((int64_t)place->node->count + delta);
    place->root->count = (uint32_t)((int64_t)place->root->count + delta);
}

/* Deletes delete_count elements from the one at `offset`. Never fails. */
static void place_delete(const struct store *store, struct list_place *place, uint32_t offset,
                         uint32_t delete_count)
{
    struct pack *pack = place_pack(store, place);
    KV_ASSERT(delete_count <= pack_count(pack));
    pack_delete(&pack, store->heap, offset, delete_count);
    *place->pack_ref = heap_ref(store->heap, pack);
    place_counted(place, -(int64_t)delete_count);
    KV_ASSERT(place->node == NULL || place->node->count == pack_count(pack));
}

/* Gives the pack room for `bytes` without changing its contents; false (pack untouched) when
 * the heap has none. */
static bool pack_reserve(struct heap *heap, uint32_t *pack_ref, uint64_t bytes)
{
    struct pack *pack = heap_pointer(heap, *pack_ref);
    KV_ASSERT(bytes >= pack_bytes(pack));
    if (heap_usable_bytes(heap, pack) >= bytes) {
        return true;
    }
    struct pack *grown = heap_resize(heap, pack, bytes);
    if (grown == NULL) {
        return false;
    }
    *pack_ref = heap_ref(heap, grown);
    KV_ASSERT(heap_usable_bytes(heap, grown) >= bytes);
    return true;
}

/* Values a run pushed at the head is reversed in, a chunk at a time, on the stack. */
#define LIST_RUN_CHUNK 32u

/* Pushes a run of values at one end of a pack, one pack_insert per chunk: at the tail in
 * order, at the head each before the last (reversed, as LPUSH leaves them). False when the
 * heap has no room: a pack reserved for the run cannot fail; a new node's (in a chain, off
 * the list) may, after some chunks went in. */
static bool pack_push_run(struct heap *heap, uint32_t *pack_ref, const struct slice *values,
                          uint32_t value_count, bool at_head)
{
    struct pack *pack = heap_pointer(heap, *pack_ref);
    KV_ASSERT(value_count > 0);
    bool written = true;
    if (!at_head) {
        written = pack_insert(&pack, heap, pack_end(pack), values, value_count);
    }
    struct slice reversed[LIST_RUN_CHUNK];
    /* Bounded by value_count: each pass inserts a chunk of at least one value. */
    for (uint32_t done = 0; at_head && written && done < value_count;) {
        uint32_t chunk = value_count - done < LIST_RUN_CHUNK ? value_count - done : LIST_RUN_CHUNK;
        for (uint32_t index = 0; index < chunk; index++) {
            reversed[index] = values[done + chunk - 1 - index];
        }
        written = pack_insert(&pack, heap, PACK_HEADER_BYTES, reversed, chunk);
        done += chunk;
    }
    *pack_ref = heap_ref(heap, pack);
    KV_ASSERT(pack_backward(pack));
    return written;
}

/* Pushes a run into a pack reserved for it: pack_insert grows within the allocation it has,
 * so this cannot fail and does not move the pack. */
static void pack_put_run(struct heap *heap, uint32_t pack_ref, const struct slice *values,
                         uint32_t value_count, bool at_head)
{
    uint32_t moved_ref = pack_ref;
    bool written = pack_push_run(heap, &moved_ref, values, value_count, at_head);
    KV_ASSERT(written);
    KV_ASSERT(moved_ref == pack_ref);
}

/* Bytes an element of `length` takes in a list's (backward) pack. */
static uint64_t entry_bytes(uint32_t length)
{
    uint64_t bytes = pack_entry_bytes(length, true);
    KV_ASSERT(bytes >= (uint64_t)length + 2); /* a varint at each end */
    return bytes;
}

/* How many of the values, in order, fit after a pack of `bytes` within `bytes_max`, and the
 * bytes they add (*fit_bytes). */
static uint32_t fit_count(uint64_t bytes, uint64_t bytes_max, const struct slice *values,
                          uint32_t value_count, uint64_t *fit_bytes)
{
    uint64_t added = 0;
    uint32_t fit = 0;
    /* Bounded by value_count. */
    while (fit < value_count && bytes + added + entry_bytes(values[fit].length) <= bytes_max) {
        added += entry_bytes(values[fit].length);
        fit++;
    }
    *fit_bytes = added;
    KV_ASSERT(fit <= value_count);
    KV_ASSERT(fit == 0 || bytes + added <= bytes_max);
    return fit;
}

/* ---- Chains: new nodes, linked only to each other until a write puts them in a list ------ */

struct list_chain {
    uint32_t head;           /* first node, HEAP_REF_NONE while empty */
    uint32_t tail;           /* last node */
    uint32_t count;          /* elements */
    uint32_t node_count;     /* nodes */
    uint64_t node_bytes_max; /* a node takes another element while its pack stays within
                                this; an element that fits no node gets one of its own */
};

static struct list_chain chain_start(uint64_t node_bytes_max)
{
    KV_ASSERT(node_bytes_max > PACK_HEADER_BYTES);
    KV_ASSERT(node_bytes_max <= STORE_LIST_PACK_BYTES_MAX);
    return (struct list_chain){.head = HEAP_REF_NONE, .tail = HEAP_REF_NONE,
                               .node_bytes_max = node_bytes_max};
}

/* Gives back a node and its pack. */
static void node_release(struct store *store, uint32_t node_ref)
{
    struct list_node *node = node_at(store, node_ref);
    struct pack *pack = pack_at(store, node->pack);
    /* A merged-away node's count is 0 while its pack still holds what was copied out. */
    KV_ASSERT(node->count <= pack_count(pack));
    pack_release(store->heap, pack);
    heap_release(store->heap, node);
}

/* Gives back every node of a chain (a write that could not have all its memory). */
static void chain_release(struct store *store, struct list_chain *chain)
{
    uint32_t node_ref = chain->head;
    /* Bounded by the chain's node count. */
    for (uint32_t step = 0; step < chain->node_count; step++) {
        uint32_t next = node_at(store, node_ref)->next;
        node_release(store, node_ref);
        node_ref = next;
    }
    KV_ASSERT(node_ref == HEAP_REF_NONE);
    *chain = chain_start(chain->node_bytes_max);
    KV_ASSERT(chain->count == 0);
}

/* A new node holding a run of values (pushed at the head or the tail of an empty pack),
 * unlinked; HEAP_REF_NONE when the heap has no room. */
static uint32_t node_create(struct store *store, const struct slice *values, uint32_t value_count,
                            bool at_head)
{
    KV_ASSERT(value_count > 0);
    struct list_node *node = heap_alloc(store->heap, sizeof(*node));
    if (node == NULL) {
        return HEAP_REF_NONE;
    }
    struct pack *pack = pack_create(store->heap, true, at_head ? NULL : values,
                                    at_head ? 0 : value_count);
    uint32_t pack_ref = pack == NULL ? HEAP_REF_NONE : heap_ref(store->heap, pack);
    if (pack != NULL && at_head &&
        !pack_push_run(store->heap, &pack_ref, values, value_count, true)) {
        pack_release(store->heap, pack_at(store, pack_ref));
        pack_ref = HEAP_REF_NONE;
    }
    if (pack_ref == HEAP_REF_NONE) {
        heap_release(store->heap, node);
        return HEAP_REF_NONE;
    }
    *node = (struct list_node){.prev = HEAP_REF_NONE, .next = HEAP_REF_NONE, .pack = pack_ref,
                               .count = value_count};
    KV_ASSERT(pack_count(pack_at(store, pack_ref)) == value_count);
    return heap_ref(store->heap, node);
}

/* Links a new node at one end of the chain. */
static void chain_link(struct store *store, struct list_chain *chain, uint32_t node_ref,
                       bool at_head)
{
    struct list_node *node = node_at(store, node_ref);
    KV_ASSERT(node->prev == HEAP_REF_NONE && node->next == HEAP_REF_NONE);
    uint32_t end = at_head ? chain->head : chain->tail;
    if (end == HEAP_REF_NONE) {
        chain->head = node_ref;
        chain->tail = node_ref;
    } else if (at_head) {
        node->next = end;
        node_at(store, end)->prev = node_ref;
        chain->head = node_ref;
    } else {
        node->prev = end;
        node_at(store, end)->next = node_ref;
        chain->tail = node_ref;
    }
    chain->node_count++;
    chain->count += node->count;
    KV_ASSERT(chain->node_count <= chain->count);
}

/* Adds values, pushed one by one, at one end of the chain: into the end node while it stays
 * within the chain's node size, then into new nodes (an element too big for any alone). False
 * when the heap has no room; the chain may then hold some of them, and the caller gives it
 * all back. */
static bool chain_add(struct store *store, struct list_chain *chain, const struct slice *values,
                      uint32_t value_count, bool at_head)
{
    KV_ASSERT(value_count > 0);
    uint32_t done = 0;
    /* Bounded by value_count: each pass adds at least one value. */
    while (done < value_count) {
        uint32_t end = at_head ? chain->head : chain->tail;
        struct list_node *node = end == HEAP_REF_NONE ? NULL : node_at(store, end);
        uint64_t bytes = node == NULL ? PACK_HEADER_BYTES : pack_bytes(pack_at(store, node->pack));
        uint64_t run_bytes = 0;
        uint32_t run = fit_count(bytes, chain->node_bytes_max, values + done, value_count - done,
                                 &run_bytes);
        if (node != NULL && run > 0) {
            if (!pack_push_run(store->heap, &node->pack, values + done, run, at_head)) {
                return false;
            }
            node->count += run;
            chain->count += run;
        } else {
            run = run > 0 ? run : 1; /* alone in its node */
            uint32_t node_ref = node_create(store, values + done, run, at_head);
            if (node_ref == HEAP_REF_NONE) {
                return false;
            }
            chain_link(store, chain, node_ref, at_head);
        }
        done += run;
    }
    KV_ASSERT(done == value_count);
    return true;
}

/* ---- A big list's chain ------------------------------------------------------------------ */

/* Unlinks a node from a big list and gives it back (its elements leave the count). */
static void root_unlink(struct store *store, struct list_root *root, uint32_t node_ref)
{
    struct list_node *node = node_at(store, node_ref);
    KV_ASSERT(root->node_count > 0);
    KV_ASSERT(root->count >= node->count);
    if (node->prev != HEAP_REF_NONE) {
        node_at(store, node->prev)->next = node->next;
    } else {
        root->head = node->next;
    }
    if (node->next != HEAP_REF_NONE) {
        node_at(store, node->next)->prev = node->prev;
    } else {
        root->tail = node->prev;
    }
    root->node_count--;
    root->count -= node->count;
    node_release(store, node_ref);
}

/* Puts a chain's nodes at one end of a big list. */
static void root_splice(struct store *store, struct list_root *root, struct list_chain *chain,
                        bool at_head)
{
    KV_ASSERT(chain->node_count > 0);
    KV_ASSERT((uint64_t)root->count + chain->count <= UINT32_MAX);
    if (at_head) {
        node_at(store, chain->tail)->next = root->head;
        node_at(store, root->head)->prev = chain->tail;
        root->head = chain->head;
    } else {
        node_at(store, chain->head)->prev = root->tail;
        node_at(store, root->tail)->next = chain->head;
        root->tail = chain->tail;
    }
    root->count += chain->count;
    root->node_count += chain->node_count;
}

/* Puts a chain in place of one node (a rebuilt node); the old node goes. */
static void root_replace(struct store *store, struct list_root *root, uint32_t node_ref,
                         const struct list_chain *chain)
{
    struct list_node *node = node_at(store, node_ref);
    KV_ASSERT(chain->node_count > 0);
    KV_ASSERT(root->count - node->count + (uint64_t)chain->count <= UINT32_MAX);
    node_at(store, chain->head)->prev = node->prev;
    node_at(store, chain->tail)->next = node->next;
    if (node->prev != HEAP_REF_NONE) {
        node_at(store, node->prev)->next = chain->head;
    } else {
        root->head = chain->head;
    }
    if (node->next != HEAP_REF_NONE) {
        node_at(store, node->next)->prev = chain->tail;
    } else {
        root->tail = chain->tail;
    }
    root->count = root->count - node->count + chain->count;
    root->node_count = root->node_count - 1 + chain->node_count;
    node_release(store, node_ref);
}

/* Gives back a list value of either encoding: its pack, or its root and every node. */
static void value_release(struct store *store, uint8_t encoding, uint32_t value_ref)
{
    if (encoding == STORE_ENCODING_RAW) {
        pack_release(store->heap, pack_at(store, value_ref));
        return;
    }
    KV_ASSERT(encoding == STORE_ENCODING_ROOT);
    struct list_root *root = heap_pointer(store->heap, value_ref);
    uint32_t node_ref = root->head;
    /* Bounded by the root's node count. */
    for (uint32_t step = 0; step < root->node_count; step++) {
        uint32_t next = node_at(store, node_ref)->next;
        node_release(store, node_ref);
        node_ref = next;
    }
    KV_ASSERT(node_ref == HEAP_REF_NONE);
    heap_release(store->heap, root);
}

/* Makes a small list big: its pack becomes the one node (`node`, taken by the caller) of
 * `root` (taken too). Returns the root. */
static struct list_root *list_convert(struct store *store, struct store_found *found,
                                      struct list_root *root, struct list_node *node)
{
    struct store_key *key = list_key(store, found);
    KV_ASSERT(!list_big(key));
    *node = (struct list_node){.prev = HEAP_REF_NONE, .next = HEAP_REF_NONE, .pack = key->value,
                               .count = pack_count(pack_at(store, key->value))};
    uint32_t node_ref = heap_ref(store->heap, node);
    *root = (struct list_root){.head = node_ref, .tail = node_ref, .count = node->count,
                               .node_count = 1};
    store_key_set_root(store, found, STORE_ENCODING_ROOT, heap_ref(store->heap, root));
    KV_ASSERT(list_big(store_key(store, found->key_ref)));
    return root;
}

static bool node_merge(struct store *store, struct list_root *root, uint32_t node_ref);

/* After a delete: a big list down to one node of at most STORE_LIST_PACK_BYTES_LOW becomes
 * small again, that node's pack becoming the list's (no memory needed). Two nodes that small
 * together are merged first when the heap lets the first grow (a delete never fails: else
 * the list stays big until a later delete). */
static void list_settle(struct store *store, struct store_found *found)
{
    struct store_key *key = list_key(store, found);
    if (!list_big(key)) {
        return;
    }
    struct list_root *root = root_of(store, key);
    KV_ASSERT(root->count > 0);
    if (root->node_count == 2) {
        uint64_t bytes = pack_bytes(pack_at(store, node_at(store, root->head)->pack)) +
                         pack_bytes(pack_at(store, node_at(store, root->tail)->pack)) -
                         PACK_HEADER_BYTES;
        if (bytes <= STORE_LIST_PACK_BYTES_LOW) {
            (void)node_merge(store, root, root->head);
        }
    }
    if (root->node_count != 1) {
        return;
    }
    struct list_node *node = node_at(store, root->head);
    if (pack_bytes(pack_at(store, node->pack)) > STORE_LIST_PACK_BYTES_LOW) {
        return;
    }
    uint32_t pack_ref = node->pack;
    heap_release(store->heap, node);
    heap_release(store->heap, root);
    store_key_set_root(store, found, STORE_ENCODING_RAW, pack_ref);
    KV_ASSERT(!list_big(store_key(store, found->key_ref)));
}

/* ---- The type's operations -------------------------------------------------------------- */

static void list_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    KV_ASSERT(key->value != HEAP_REF_NONE);
    value_release(store, store_key_encoding(key), key->value);
}

/* Checks a big list's chain; returns its elements. */
static uint64_t chain_verify(const struct store *store, const struct list_root *root)
{
    uint64_t count = 0;
    uint32_t prev = HEAP_REF_NONE;
    uint32_t node_ref = root->head;
    /* Bounded by the root's node count. */
    for (uint32_t step = 0; step < root->node_count; step++) {
        const struct list_node *node = node_at(store, node_ref);
        const struct pack *pack = pack_at(store, node->pack);
        pack_verify(pack, store->heap);
        KV_ASSERT(node->prev == prev);
        KV_ASSERT(node->count > 0);
        KV_ASSERT(node->count == pack_count(pack));
        KV_ASSERT(pack_bytes(pack) <= STORE_LIST_PACK_BYTES_MAX || node->count == 1);
        count += node->count;
        prev = node_ref;
        node_ref = node->next;
    }
    KV_ASSERT(node_ref == HEAP_REF_NONE);
    KV_ASSERT(prev == root->tail);
    return count;
}

static void list_verify(const struct store *store, const struct store_key *key,
                        struct store_usage *usage)
{
    uint64_t count = 0;
    if (!list_big(key)) {
        const struct pack *pack = pack_at(store, key->value);
        pack_verify(pack, store->heap);
        KV_ASSERT(pack_bytes(pack) <= STORE_LIST_PACK_BYTES_MAX);
        count = pack_count(pack);
        usage->allocations += 1;
    } else {
        const struct list_root *root = root_of(store, key);
        KV_ASSERT(root->node_count > 0);
        count = chain_verify(store, root);
        KV_ASSERT(count == root->count);
        usage->allocations += 1 + 2ull * root->node_count;
    }
    KV_ASSERT(count > 0);
    KV_ASSERT(count <= store->limits.length_max);
}

static uint64_t list_length_op(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    return store_list_length(store, heap_ref(store->heap, key));
}

static uint64_t list_memory(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    if (!list_big(key)) {
        return heap_usable_bytes(store->heap, pack_at(store, key->value));
    }
    const struct list_root *root = root_of(store, key);
    uint64_t bytes = heap_usable_bytes(store->heap, root);
    uint32_t node_ref = root->head;
    /* Bounded by the root's node count. */
    for (uint32_t step = 0; step < root->node_count; step++) {
        const struct list_node *node = node_at(store, node_ref);
        bytes += heap_usable_bytes(store->heap, node) +
                 heap_usable_bytes(store->heap, pack_at(store, node->pack));
        node_ref = node->next;
    }
    KV_ASSERT(node_ref == HEAP_REF_NONE);
    return bytes;
}

/* OBJECT ENCODING: Redis 7.0 keeps every list in a quicklist and answers "quicklist" whatever
 * its size; kv's one pack is a quicklist of one node, so it answers the same. */
static const char *list_encoding_name(const struct store *store, const struct store_key *key)
{
    (void)store;
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    return "quicklist";
}

static const struct store_type_ops list_ops = {
    .name = "list",
    .release = list_release,
    .verify = list_verify,
    .length = list_length_op,
    .memory = list_memory,
    .encoding_name = list_encoding_name,
};

void store_list_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_LIST, &list_ops);
    KV_ASSERT(store->types[STORE_TYPE_LIST] == &list_ops);
}

/* ---- Reading ------------------------------------------------------------------------------ */

uint32_t store_list_length(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    uint32_t count = list_big(key) ? root_of(store, key)->count
                                   : pack_count(pack_at(store, key->value));
    KV_ASSERT(count <= store->limits.length_max);
    return count;
}

uint32_t store_list_node_count(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    uint32_t node_count = list_big(key) ? root_of(store, key)->node_count : 0;
    KV_ASSERT(node_count <= store_list_length(store, key_ref));
    return node_count;
}

/* The pack at one end of a list, and its node (HEAP_REF_NONE in a small list). */
static uint32_t end_pack(const struct store *store, const struct store_key *key, bool at_head,
                         uint32_t *node_ref)
{
    *node_ref = HEAP_REF_NONE;
    if (!list_big(key)) {
        return key->value;
    }
    const struct list_root *root = root_of(store, key);
    KV_ASSERT(root->node_count > 0);
    *node_ref = at_head ? root->head : root->tail;
    const struct list_node *node = node_at(store, *node_ref);
    KV_ASSERT((at_head ? node->prev : node->next) == HEAP_REF_NONE);
    return node->pack;
}

struct slice store_list_end(const struct store *store, uint32_t key_ref, bool at_head)
{
    uint32_t node_ref = HEAP_REF_NONE;
    const struct pack *pack = pack_at(store, end_pack(store, store_key(store, key_ref), at_head,
                                                      &node_ref));
    KV_ASSERT(pack_count(pack) > 0);
    struct slice value = pack_get(pack, at_head ? pack_first(pack) : pack_last(pack));
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
    return value;
}

/* The node holding element `index` of a big list, walking from the nearer end and skipping
 * whole nodes by their counts; *local is the element's index in that node. */
static uint32_t node_seek(const struct store *store, const struct list_root *root,
                          uint32_t index, uint32_t *local)
{
    KV_ASSERT(index < root->count);
    uint32_t node_ref = HEAP_REF_NONE;
    if (index < root->count / 2) {
        node_ref = root->head;
        /* Bounded by the node count: each step skips one node. */
        for (uint32_t step = 0; step < root->node_count; step++) {
            const struct list_node *node = node_at(store, node_ref);
            if (index < node->count) {
                break;
            }
            index -= node->count;
            node_ref = node->next;
        }
        *local = index;
    } else {
        uint32_t back = root->count - 1 - index; /* elements after it */
        node_ref = root->tail;
        /* Bounded by the node count: each step skips one node. */
        for (uint32_t step = 0; step < root->node_count; step++) {
            const struct list_node *node = node_at(store, node_ref);
            if (back < node->count) {
                break;
            }
            back -= node->count;
            node_ref = node->prev;
        }
        *local = node_at(store, node_ref)->count - 1 - back;
    }
    KV_ASSERT(*local < node_at(store, node_ref)->count);
    return node_ref;
}

void store_list_seek(const struct store *store, uint32_t key_ref, uint32_t index,
                     struct store_list_cursor *cursor)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(index < store_list_length(store, key_ref));
    uint32_t local = index;
    cursor->node_ref = HEAP_REF_NONE;
    cursor->pack_ref = key->value;
    if (list_big(key)) {
        cursor->node_ref = node_seek(store, root_of(store, key), index, &local);
        cursor->pack_ref = node_at(store, cursor->node_ref)->pack;
    }
    cursor->offset = pack_index(pack_at(store, cursor->pack_ref), local);
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE);
}

bool store_list_next(const struct store *store, struct store_list_cursor *cursor)
{
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE);
    cursor->offset = pack_next(pack_at(store, cursor->pack_ref), cursor->offset);
    if (cursor->offset != PACK_OFFSET_NONE || cursor->node_ref == HEAP_REF_NONE) {
        return cursor->offset != PACK_OFFSET_NONE;
    }
    uint32_t next = node_at(store, cursor->node_ref)->next;
    if (next == HEAP_REF_NONE) {
        return false;
    }
    cursor->node_ref = next;
    cursor->pack_ref = node_at(store, next)->pack;
    cursor->offset = pack_first(pack_at(store, cursor->pack_ref));
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE); /* no node is empty */
    return true;
}

bool store_list_prev(const struct store *store, struct store_list_cursor *cursor)
{
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE);
    cursor->offset = pack_prev(pack_at(store, cursor->pack_ref), cursor->offset);
    if (cursor->offset != PACK_OFFSET_NONE || cursor->node_ref == HEAP_REF_NONE) {
        return cursor->offset != PACK_OFFSET_NONE;
    }
    uint32_t prev = node_at(store, cursor->node_ref)->prev;
    if (prev == HEAP_REF_NONE) {
        return false;
    }
    cursor->node_ref = prev;
    cursor->pack_ref = node_at(store, prev)->pack;
    cursor->offset = pack_last(pack_at(store, cursor->pack_ref));
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE); /* no node is empty */
    return true;
}

struct slice store_list_value(const struct store *store, const struct store_list_cursor *cursor)
{
    KV_ASSERT(cursor->offset != PACK_OFFSET_NONE);
    struct slice value = pack_get(pack_at(store, cursor->pack_ref), cursor->offset);
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
    return value;
}

bool store_list_find(const struct store *store, uint32_t key_ref, struct slice value,
                     struct store_list_cursor *cursor)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_LIST);
    if (!list_big(key)) {
        const struct pack *pack = pack_at(store, key->value);
        *cursor = (struct store_list_cursor){.node_ref = HEAP_REF_NONE, .pack_ref = key->value,
                                             .offset = pack_find(pack, pack_first(pack), value)};
        return cursor->offset != PACK_OFFSET_NONE;
    }
    const struct list_root *root = root_of(store, key);
    uint32_t node_ref = root->head;
    /* Bounded by the node count; each pack_find by its pack's count. */
    for (uint32_t step = 0; step < root->node_count; step++) {
        const struct list_node *node = node_at(store, node_ref);
        const struct pack *pack = pack_at(store, node->pack);
        uint32_t offset = pack_find(pack, pack_first(pack), value);
        if (offset != PACK_OFFSET_NONE) {
            *cursor = (struct store_list_cursor){.node_ref = node_ref, .pack_ref = node->pack,
                                                 .offset = offset};
            return true;
        }
        node_ref = node->next;
    }
    KV_ASSERT(node_ref == HEAP_REF_NONE);
    return false;
}

/* ---- Pushes ------------------------------------------------------------------------------- */

/* Every check a push needs, before anything changes, in kv's order. */
static enum store_status push_check(const struct store *store, const struct store_found *found,
                                    struct slice key, const struct slice *values,
                                    uint32_t value_count)
{
    KV_ASSERT(value_count > 0);
    KV_ASSERT(!found->exists || found->type != STORE_TYPE_ANY);
    if (!found->exists && key.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found->exists && found->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    /* Bounded by value_count. */
    for (uint32_t index = 0; index < value_count; index++) {
        if (values[index].length > store->limits.value_bytes_max) {
            return STORE_VALUE_TOO_LONG;
        }
    }
    uint64_t count = found->exists ? store_list_length(store, found->key_ref) : 0;
    if (count + value_count > store->limits.length_max) {
        return STORE_LIST_FULL;
    }
    return found->exists ? STORE_OK : store_key_check(store, key);
}

/* A small list's pack holding the values as pushed one by one at one end (a new key's whole
 * list, when it fits STORE_LIST_PACK_BYTES_MAX); HEAP_REF_NONE when the heap has no room. */
static uint32_t pack_build(struct store *store, const struct slice *values, uint32_t value_count,
                           uint64_t entries_bytes, bool at_head)
{
    if (!at_head) {
        struct pack *pack = pack_create(store->heap, true, values, value_count);
        return pack == NULL ? HEAP_REF_NONE : heap_ref(store->heap, pack);
    }
    struct pack *pack = pack_create(store->heap, true, NULL, 0);
    if (pack == NULL) {
        return HEAP_REF_NONE;
    }
    uint32_t pack_ref = heap_ref(store->heap, pack);
    if (!pack_reserve(store->heap, &pack_ref, PACK_HEADER_BYTES + entries_bytes)) {
        pack_release(store->heap, pack);
        return HEAP_REF_NONE;
    }
    pack_put_run(store->heap, pack_ref, values, value_count, true);
    KV_ASSERT(pack_count(pack_at(store, pack_ref)) == value_count);
    return pack_ref;
}

/* A new key's big list: every value into a chain of new nodes under a new root;
 * HEAP_REF_NONE when the heap has no room. */
static uint32_t root_build(struct store *store, const struct slice *values, uint32_t value_count,
                           bool at_head)
{
    KV_ASSERT(value_count > 0);
    struct list_chain chain = chain_start(STORE_LIST_PACK_BYTES_MAX);
    if (!chain_add(store, &chain, values, value_count, at_head)) {
        chain_release(store, &chain);
        return HEAP_REF_NONE;
    }
    struct list_root *root = heap_alloc(store->heap, sizeof(*root));
    if (root == NULL) {
        chain_release(store, &chain);
        return HEAP_REF_NONE;
    }
    *root = (struct list_root){.head = chain.head, .tail = chain.tail, .count = chain.count,
                               .node_count = chain.node_count};
    KV_ASSERT(root->count == value_count);
    return heap_ref(store->heap, root);
}

/* Pushes onto an absent key: a small list when the values fit one pack, else a big one; then
 * the key object. STORE_OOM changes nothing. */
static enum store_status push_new(struct store *store, struct store_found *found,
                                  struct slice key, const struct slice *values,
                                  uint32_t value_count, bool at_head)
{
    KV_ASSERT(!found->exists);
    uint64_t fit_bytes = 0;
    bool small = fit_count(PACK_HEADER_BYTES, STORE_LIST_PACK_BYTES_MAX, values, value_count,
                           &fit_bytes) == value_count;
    uint8_t encoding = small ? STORE_ENCODING_RAW : STORE_ENCODING_ROOT;
    uint32_t value_ref = small ? pack_build(store, values, value_count, fit_bytes, at_head)
                               : root_build(store, values, value_count, at_head);
    if (value_ref == HEAP_REF_NONE) {
        return STORE_OOM;
    }
    struct store_key *object = store_key_build(store, key, STORE_TYPE_LIST, 0, 0);
    if (object == NULL) {
        value_release(store, encoding, value_ref);
        return STORE_OOM;
    }
    store_object_set_root(object, encoding, value_ref);
    store_key_insert(store, found, object, NULL);
    KV_ASSERT(store_list_length(store, found->key_ref) == value_count);
    return STORE_OK;
}

/* The memory a push onto an existing list takes before it changes anything. */
struct push_parts {
    struct list_chain chain; /* the values that do not fit the end pack, in new nodes */
    struct list_root *root;  /* a small list that gains nodes becomes big: its root */
    struct list_node *node;  /* and the node its pack becomes */
};

static void parts_release(struct store *store, struct push_parts *parts)
{
    chain_release(store, &parts->chain);
    if (parts->root != NULL) {
        heap_release(store->heap, parts->root);
    }
    if (parts->node != NULL) {
        heap_release(store->heap, parts->node);
    }
    KV_ASSERT(parts->chain.node_count == 0);
}

/* Takes the parts: a chain of values[fit ..), and a root and node when a small list must
 * become big. False (nothing taken) when the heap has no room. */
static bool parts_take(struct store *store, bool big, const struct slice *values, uint32_t fit,
                       uint32_t value_count, bool at_head, struct push_parts *parts)
{
    KV_ASSERT(fit <= value_count);
    *parts = (struct push_parts){.chain = chain_start(STORE_LIST_PACK_BYTES_MAX)};
    if (fit < value_count &&
        !chain_add(store, &parts->chain, values + fit, value_count - fit, at_head)) {
        parts_release(store, parts);
        return false;
    }
    if (!big && parts->chain.node_count > 0) {
        parts->root = heap_alloc(store->heap, sizeof(*parts->root));
        parts->node = heap_alloc(store->heap, sizeof(*parts->node));
        if (parts->root == NULL || parts->node == NULL) {
            parts_release(store, parts);
            return false;
        }
    }
    KV_ASSERT(parts->chain.count == value_count - fit);
    return true;
}

/* Pushes onto an existing list: as many values as fit go into the pack at that end (reserved
 * first), the rest into new nodes (a small list becoming big). STORE_OOM changes nothing. */
static enum store_status push_existing(struct store *store, struct store_found *found,
                                       const struct slice *values, uint32_t value_count,
                                       bool at_head)
{
    struct store_key *key = list_key(store, found);
    bool big = list_big(key);
    uint32_t node_ref = HEAP_REF_NONE;
    (void)end_pack(store, key, at_head, &node_ref);
    struct list_place place = place_of(store, key, node_ref);
    uint64_t fit_bytes = 0;
    uint32_t bytes = pack_bytes(place_pack(store, &place));
    uint32_t fit = fit_count(bytes, STORE_LIST_PACK_BYTES_MAX, values, value_count, &fit_bytes);
    KV_ASSERT(big || fit > 0 || bytes + entry_bytes(values[0].length) > STORE_LIST_PACK_BYTES_MAX);
    struct push_parts parts;
    if (!parts_take(store, big, values, fit, value_count, at_head, &parts)) {
        return STORE_OOM;
    }
    if (!pack_reserve(store->heap, place.pack_ref, bytes + fit_bytes)) {
        parts_release(store, &parts);
        return STORE_OOM;
    }
    /* Everything is taken: nothing below can fail. */
    store_modified(store, key);
    if (fit > 0) {
        pack_put_run(store->heap, *place.pack_ref, values, fit, at_head);
    }
    place_counted(&place, fit);
    if (parts.chain.node_count == 0) {
        KV_ASSERT(parts.root == NULL);
        return STORE_OK;
    }
    struct list_root *root =
        big ? place.root : list_convert(store, found, parts.root, parts.node);
    root_splice(store, root, &parts.chain, at_head);
    return STORE_OK;
}

enum store_status store_list_push(struct store *store, struct store_found *found,
                                  struct slice key, const struct slice *values,
                                  uint32_t value_count, bool at_head, uint32_t *length_after)
{
    KV_ASSERT(value_count > 0);
    enum store_status status = push_check(store, found, key, values, value_count);
    if (status != STORE_OK) {
        return status;
    }
    status = found->exists ? push_existing(store, found, values, value_count, at_head)
                           : push_new(store, found, key, values, value_count, at_head);
    if (status != STORE_OK) {
        return status;
    }
    store_ready(store, store_key(store, found->key_ref));
    *length_after = store_list_length(store, found->key_ref);
    KV_ASSERT(*length_after >= value_count);
    return STORE_OK;
}

/* ---- Pops, LSET, LINSERT ----------------------------------------------------------------- */

void store_list_pop(struct store *store, struct store_found *found, bool at_head)
{
    struct store_key *key = list_key(store, found);
    KV_ASSERT(store_list_length(store, found->key_ref) > 0);
    if (store_list_length(store, found->key_ref) == 1) {
        store_remove(store, found); /* the key goes with its last element */
        return;
    }
    store_modified(store, key);
    uint32_t node_ref = HEAP_REF_NONE;
    (void)end_pack(store, key, at_head, &node_ref);
    struct list_place place = place_of(store, key, node_ref);
    struct pack *pack = place_pack(store, &place);
    place_delete(store, &place, at_head ? pack_first(pack) : pack_last(pack), 1);
    if (place.node != NULL && place.node->count == 0) {
        root_unlink(store, place.root, node_ref);
    }
    list_settle(store, found);
    KV_ASSERT(store_list_length(store, found->key_ref) > 0);
}

/* An edit of one element's place: a new element before the one at `offset` (which may be
 * the pack's end), or a new value for it. */
enum list_edit {
    LIST_EDIT_INSERT,
    LIST_EDIT_REPLACE,
};

/* The pack's bytes after the edit. */
static uint64_t edit_bytes(const struct pack *pack, uint32_t offset, enum list_edit edit,
                           struct slice value)
{
    uint64_t bytes = pack_bytes(pack) + entry_bytes(value.length);
    if (edit == LIST_EDIT_REPLACE) {
        bytes -= entry_bytes(pack_get(pack, offset).length);
    }
    KV_ASSERT(bytes > PACK_HEADER_BYTES);
    return bytes;
}

/* Fills a chain with the pack's elements, the edit applied. False when the heap has no room
 * (the chain is then given back). */
static bool chain_fill(struct store *store, struct list_chain *chain, const struct pack *pack,
                       uint32_t edit_offset, enum list_edit edit, struct slice value)
{
    KV_ASSERT(chain->node_count == 0);
    uint32_t offset = pack_first(pack);
    bool added = true;
    /* Bounded by the pack's count: one element (and perhaps the new one) per step. */
    for (uint32_t step = 0; step < pack_count(pack) && added; step++) {
        bool here = offset == edit_offset;
        if (here && edit == LIST_EDIT_INSERT) {
            added = chain_add(store, chain, &value, 1, false);
        }
        struct slice element = here && edit == LIST_EDIT_REPLACE ? value : pack_get(pack, offset);
        added = added && chain_add(store, chain, &element, 1, false);
        offset = pack_next(pack, offset);
    }
    if (added && edit == LIST_EDIT_INSERT && edit_offset == pack_end(pack)) {
        added = chain_add(store, chain, &value, 1, false);
    }
    if (!added) {
        chain_release(store, chain);
        return false;
    }
    KV_ASSERT(chain->count == pack_count(pack) + (edit == LIST_EDIT_INSERT ? 1u : 0u));
    return true;
}

/* An edit that would take its pack past the limit: the pack's elements, edit applied, go into
 * new nodes of about five eighths of the old size each (so that the next inserts find room),
 * which replace the node, or become the list of a small list turned big. */
static enum store_status list_rebuild(struct store *store, struct store_found *found,
                                      uint32_t node_ref, uint32_t offset, enum list_edit edit,
                                      struct slice value)
{
    struct store_key *key = list_key(store, found);
    struct list_place place = place_of(store, key, node_ref);
    struct pack *pack = place_pack(store, &place);
    uint64_t entries = edit_bytes(pack, offset, edit, value) - PACK_HEADER_BYTES;
    KV_ASSERT(entries > STORE_LIST_PACK_BYTES_MAX - PACK_HEADER_BYTES);
    uint64_t node_bytes = PACK_HEADER_BYTES + entries / 2 + entries / 8;
    struct list_chain chain = chain_start(node_bytes < STORE_LIST_PACK_BYTES_MAX
                                              ? node_bytes : STORE_LIST_PACK_BYTES_MAX);
    if (!chain_fill(store, &chain, pack, offset, edit, value)) {
        return STORE_OOM;
    }
    /* A small list turned big needs a root; a node's list has one. */
    struct list_root *root = place.root != NULL ? place.root
                                                : heap_alloc(store->heap, sizeof(*root));
    if (root == NULL) {
        chain_release(store, &chain);
        return STORE_OOM;
    }
    store_modified(store, key);
    if (place.node != NULL) {
        root_replace(store, root, node_ref, &chain);
        return STORE_OK;
    }
    *root = (struct list_root){.head = chain.head, .tail = chain.tail, .count = chain.count,
                               .node_count = chain.node_count};
    pack_release(store->heap, pack);
    store_key_set_root(store, found, STORE_ENCODING_ROOT, heap_ref(store->heap, root));
    KV_ASSERT(root->node_count >= 1);
    return STORE_OK;
}

/* Applies an edit: in its pack when the result stays within the limit (or, in a node, is a
 * single element), else by rebuilding the pack into new nodes. STORE_OOM changes nothing. */
static enum store_status list_edit(struct store *store, struct store_found *found,
                                   uint32_t node_ref, uint32_t offset, enum list_edit edit,
                                   struct slice value)
{
    struct store_key *key = list_key(store, found);
    struct list_place place = place_of(store, key, node_ref);
    struct pack *pack = place_pack(store, &place);
    uint64_t bytes = edit_bytes(pack, offset, edit, value);
    bool alone = place.node != NULL && edit == LIST_EDIT_REPLACE && pack_count(pack) == 1;
    if (bytes > STORE_LIST_PACK_BYTES_MAX && !alone) {
        return list_rebuild(store, found, node_ref, offset, edit, value);
    }
    if (bytes > pack_bytes(pack) && !pack_reserve(store->heap, place.pack_ref, bytes)) {
        return STORE_OOM;
    }
    store_modified(store, key);
    pack = place_pack(store, &place);
    bool written = edit == LIST_EDIT_REPLACE ? pack_replace(&pack, store->heap, offset, value)
                                             : pack_insert(&pack, store->heap, offset, &value, 1);
    KV_ASSERT(written); /* the room was reserved */
    *place.pack_ref = heap_ref(store->heap, pack);
    place_counted(&place, edit == LIST_EDIT_INSERT ? 1 : 0);
    KV_ASSERT(pack_bytes(pack) == bytes);
    return STORE_OK;
}

enum store_status store_list_set(struct store *store, struct store_found *found, uint32_t index,
                                 struct slice value)
{
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
    KV_ASSERT(index < store_list_length(store, found->key_ref));
    struct store_list_cursor cursor;
    store_list_seek(store, found->key_ref, index, &cursor);
    return list_edit(store, found, cursor.node_ref, cursor.offset, LIST_EDIT_REPLACE, value);
}

enum store_status store_list_insert(struct store *store, struct store_found *found,
                                    const struct store_list_cursor *cursor, bool before,
                                    struct slice value)
{
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
    KV_ASSERT(store_list_length(store, found->key_ref) < store->limits.length_max);
    uint32_t offset = cursor->offset;
    if (!before) {
        const struct pack *pack = pack_at(store, cursor->pack_ref);
        uint32_t next = pack_next(pack, offset);
        offset = next == PACK_OFFSET_NONE ? pack_end(pack) : next;
    }
    return list_edit(store, found, cursor->node_ref, offset, LIST_EDIT_INSERT, value);
}

/* ---- LREM, LTRIM ---------------------------------------------------------------------------- */

/* Removes up to `limit` elements equal to `value` from one pack, walking from its head or
 * tail; tells watchers before the first removal of the command (*touched). Returns how many. */
static uint64_t place_remove(struct store *store, struct store_key *key, struct list_place *place,
                             struct slice value, bool from_tail, uint64_t limit, bool *touched)
{
    KV_ASSERT(limit > 0);
    struct pack *pack = place_pack(store, place);
    uint32_t count = pack_count(pack);
    uint32_t offset = from_tail ? pack_last(pack) : pack_first(pack);
    uint64_t removed = 0;
    /* Bounded by the pack's count: each step removes or passes one element. */
    for (uint32_t step = 0; step < count && offset != PACK_OFFSET_NONE && removed < limit;
         step++) {
        /* The element before this one keeps its offset when this one goes. */
        uint32_t prev = from_tail ? pack_prev(pack, offset) : PACK_OFFSET_NONE;
        bool equal = slice_equal(pack_get(pack, offset), value);
        if (equal) {
            if (!*touched) {
                store_modified(store, key);
                *touched = true;
            }
            place_delete(store, place, offset, 1);
            pack = place_pack(store, place);
            removed++;
        }
        if (from_tail) {
            offset = prev;
        } else if (equal) {
            /* The next element slid into this offset, unless this was the last. */
            offset = offset < pack_end(pack) ? offset : PACK_OFFSET_NONE;
        } else {
            offset = pack_next(pack, offset);
        }
    }
    KV_ASSERT(removed <= count);
    return removed;
}

/* Merges the node after `node_ref` into it when both fit one pack and the heap lets the pack
 * grow (else leaves them: a delete never fails). True when it merged. */
static bool node_merge(struct store *store, struct list_root *root, uint32_t node_ref)
{
    struct list_node *node = node_at(store, node_ref);
    KV_ASSERT(node->next != HEAP_REF_NONE);
    struct list_node *next = node_at(store, node->next);
    const struct pack *from = pack_at(store, next->pack);
    uint64_t bytes = pack_bytes(pack_at(store, node->pack)) + pack_bytes(from) - PACK_HEADER_BYTES;
    if (bytes > STORE_LIST_PACK_BYTES_MAX || !pack_reserve(store->heap, &node->pack, bytes)) {
        return false;
    }
    uint32_t offset = pack_first(from);
    /* Bounded by the next node's count. */
    for (uint32_t step = 0; step < next->count; step++) {
        struct slice element = pack_get(from, offset);
        pack_put_run(store->heap, node->pack, &element, 1, false);
        offset = pack_next(from, offset);
    }
    KV_ASSERT(offset == PACK_OFFSET_NONE);
    node->count += next->count;
    next->count = 0; /* its elements are the node's now: the unlink takes none from the root */
    root_unlink(store, root, node->next);
    return true;
}

/* Merges neighbouring nodes that fit one pack together (after LREM thinned them). */
static void list_compact(struct store *store, struct list_root *root)
{
    KV_ASSERT(root->count > 0);
    uint32_t node_ref = root->head;
    uint32_t steps_max = 2 * root->node_count;
    /* Bounded by twice the node count: each step merges away a node or moves on. */
    for (uint32_t step = 0; step < steps_max && node_ref != HEAP_REF_NONE; step++) {
        struct list_node *node = node_at(store, node_ref);
        if (node->next == HEAP_REF_NONE || !node_merge(store, root, node_ref)) {
            node_ref = node->next;
        }
    }
    KV_ASSERT(root->node_count > 0);
}

uint32_t store_list_remove_value(struct store *store, struct store_found *found, int64_t count,
                                 struct slice value)
{
    struct store_key *key = list_key(store, found);
    bool from_tail = count < 0;
    uint64_t limit = count == 0 ? UINT64_MAX : (from_tail ? 0 - (uint64_t)count : (uint64_t)count);
    KV_ASSERT(limit > 0);
    uint64_t removed = 0;
    bool touched = false;
    if (!list_big(key)) {
        struct list_place place = place_of(store, key, HEAP_REF_NONE);
        removed = place_remove(store, key, &place, value, from_tail, limit, &touched);
    } else {
        struct list_root *root = root_of(store, key);
        uint32_t node_ref = from_tail ? root->tail : root->head;
        uint32_t node_count = root->node_count;
        /* Bounded by the node count: each step moves to the next node. */
        for (uint32_t step = 0; step < node_count && node_ref != HEAP_REF_NONE && removed < limit;
             step++) {
            struct list_place place = place_of(store, key, node_ref);
            uint32_t following = from_tail ? place.node->prev : place.node->next;
            removed += place_remove(store, key, &place, value, from_tail, limit - removed,
                                    &touched);
            if (place.node->count == 0) {
                root_unlink(store, root, node_ref);
            }
            node_ref = following;
        }
        if (root->count > 0 && removed > 0) {
            list_compact(store, root);
        }
    }
    KV_ASSERT(removed <= UINT32_MAX);
    KV_ASSERT(touched == (removed > 0));
    if (store_list_length(store, found->key_ref) == 0) {
        store_remove(store, found); /* releases the empty pack, or the empty root */
    } else {
        list_settle(store, found);
    }
    return (uint32_t)removed;
}

/* Drops `drop` elements from one end of a big list: whole nodes, then part of one. */
static void trim_end(struct store *store, struct store_key *key, uint32_t drop, bool at_head)
{
    struct list_root *root = root_of(store, key);
    KV_ASSERT(drop < root->count);
    uint32_t node_count = root->node_count;
    /* Bounded by the node count: each step drops a node, or ends. */
    for (uint32_t step = 0; step < node_count && drop > 0; step++) {
        uint32_t node_ref = at_head ? root->head : root->tail;
        struct list_place place = place_of(store, key, node_ref);
        if (place.node->count <= drop) {
            drop -= place.node->count;
            root_unlink(store, root, node_ref);
            continue;
        }
        struct pack *pack = place_pack(store, &place);
        uint32_t offset = at_head ? pack_first(pack) : pack_index(pack, place.node->count - drop);
        place_delete(store, &place, offset, drop);
        drop = 0;
    }
    KV_ASSERT(drop == 0);
}

void store_list_trim(struct store *store, struct store_found *found, uint32_t start,
                     uint32_t kept)
{
    struct store_key *key = list_key(store, found);
    uint32_t length = store_list_length(store, found->key_ref);
    KV_ASSERT((uint64_t)start + kept <= length);
    if (kept == 0) {
        store_remove(store, found);
        return;
    }
    store_modified(store, key);
    uint32_t tail_drop = length - start - kept;
    if (list_big(key)) {
        trim_end(store, key, start, true);
        trim_end(store, key, tail_drop, false);
        list_settle(store, found);
    } else {
        struct list_place place = place_of(store, key, HEAP_REF_NONE);
        if (tail_drop > 0) {
            place_delete(store, &place, pack_index(place_pack(store, &place), start + kept),
                         tail_drop);
        }
        if (start > 0) {
            place_delete(store, &place, pack_first(place_pack(store, &place)), start);
        }
    }
    KV_ASSERT(store_list_length(store, found->key_ref) == kept);
}

/* ---- LMOVE -------------------------------------------------------------------------------- */

/* LMOVE's checks of its destination, before anything changes. */
static enum store_status move_check(struct store *store, const struct store_found *source,
                                    const struct store_found *target, struct slice destination)
{
    KV_ASSERT(source->exists);
    KV_ASSERT(!target->exists || target->type != STORE_TYPE_ANY);
    bool same = target->exists && target->key_ref == source->key_ref;
    bool source_goes = store_list_length(store, source->key_ref) == 1 && !same;
    if (target->exists && target->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    if (target->exists && !same &&
        store_list_length(store, target->key_ref) >= store->limits.length_max) {
        return STORE_LIST_FULL;
    }
    if (target->exists) {
        return STORE_OK;
    }
    enum store_status status = store_key_check(store, destination);
    /* A source that goes with its last element frees its own key for the new one. */
    return status == STORE_FULL && source_goes ? STORE_OK : status;
}

static void bytes_reverse(uint8_t *bytes, uint32_t length)
{
    KV_ASSERT(length == 0 || bytes != NULL);
    /* Bounded by half the length. */
    for (uint32_t index = 0; index < length / 2; index++) {
        uint8_t byte = bytes[index];
        bytes[index] = bytes[length - 1 - index];
        bytes[length - 1 - index] = byte;
    }
}

/* Moves one end element of a pack to its other end in place (no memory): a backward pack's
 * entries are self-delimiting and back to back (pack.h), so rotating the entry bytes by one
 * entry's size keeps a valid pack of the same count and size. */
static void pack_rotate(struct pack *pack, bool to_head)
{
    KV_ASSERT(pack_count(pack) >= 2);
    uint32_t total = pack_bytes(pack) - PACK_HEADER_BYTES;
    uint32_t first_bytes = pack_next(pack, pack_first(pack)) - PACK_HEADER_BYTES;
    uint32_t last_bytes = pack_end(pack) - pack_last(pack);
    /* A left rotation by `split` bytes: [split, total) then [0, split). */
    uint32_t split = to_head ? total - last_bytes : first_bytes;
    bytes_reverse(pack->entries, split);
    bytes_reverse(pack->entries + split, total - split);
    bytes_reverse(pack->entries, total);
    KV_DEBUG_ASSERT(pack_next(pack, pack_first(pack)) != PACK_OFFSET_NONE);
}

/* LMOVE within one list (it keeps its key object and expiry time). From one end to the same
 * end nothing moves. To the other end: a small list or a one-node list rotates its pack;
 * else the element goes into the other end's node (the only step that may need memory) and
 * then leaves its own. */
static enum store_status move_within(struct store *store, struct store_found *found,
                                     bool from_head, bool to_head)
{
    struct store_key *key = list_key(store, found);
    KV_ASSERT(store_list_length(store, found->key_ref) > 0);
    if (from_head != to_head && store_list_node_count(store, found->key_ref) >= 2) {
        struct slice value = store_list_end(store, found->key_ref, from_head);
        enum store_status status = push_existing(store, found, &value, 1, !from_head);
        if (status == STORE_OK) {
            store_list_pop(store, found, from_head);
        }
        return status;
    }
    store_modified(store, key);
    uint32_t node_ref = HEAP_REF_NONE;
    struct pack *pack = pack_at(store, end_pack(store, key, true, &node_ref));
    if (from_head != to_head && pack_count(pack) >= 2) {
        pack_rotate(pack, to_head);
    }
    KV_ASSERT(pack_count(pack) > 0);
    return STORE_OK;
}

enum store_status store_list_move(struct store *store, struct store_found *source,
                                  struct slice destination, bool from_head, bool to_head,
                                  struct slice *moved)
{
    (void)list_key(store, source);
    KV_ASSERT(store_list_length(store, source->key_ref) > 0);
    struct store_found target;
    (void)store_find_typed(store, destination, STORE_TYPE_LIST, &target);
    enum store_status status = move_check(store, source, &target, destination);
    if (status != STORE_OK) {
        return status;
    }
    if (target.exists && target.key_ref == source->key_ref) {
        status = move_within(store, source, from_head, to_head);
        target = *source;
    } else {
        /* The value is read where it is: the push allocates, but never moves the source. */
        struct slice value = store_list_end(store, source->key_ref, from_head);
        status = target.exists ? push_existing(store, &target, &value, 1, to_head)
                               : push_new(store, &target, destination, &value, 1, to_head);
        if (status == STORE_OK) {
            store_list_pop(store, source, from_head);
        }
    }
    if (status != STORE_OK) {
        return status;
    }
    KV_ASSERT(target.exists);
    store_ready(store, store_key(store, target.key_ref));
    *moved = store_list_end(store, target.key_ref, to_head);
    return STORE_OK;
}

uint64_t store_list_bound_bytes(uint64_t count, uint64_t element_bytes)
{
    /* Worst fill: every element alone in a node (its header and a pack holding one entry:
     * the pack's header, a length varint of up to 5 bytes at each end, the bytes). A small
     * list's one pack is below that. */
    uint64_t each = heap_rounded_bytes(sizeof(struct list_node)) +
                    heap_rounded_bytes(PACK_HEADER_BYTES + 10u + element_bytes);
    uint64_t bytes = heap_rounded_bytes(sizeof(struct list_root)) + count * each;
    KV_ASSERT(bytes >= count * element_bytes);
    return bytes;
}
