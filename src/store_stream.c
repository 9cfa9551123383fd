/*
 * Streams (store_stream.h): a root, an index of node slots sorted by first ID, nodes of
 * packed entries, and consumer groups with their PELs.
 *
 * Invariants (stream_verify checks each): the slots' first IDs strictly increase and each
 * equals its node's first entry's ID; entries strictly increase by ID across the whole
 * stream and none passes last_id; a node holds 1 .. STORE_STREAM_NODE_ENTRIES_MAX entries of
 * which at least one is live, and its lp_bytes is the size Redis's listpack would have; the
 * live entries number `length`, the first of them is first_id (0-0 when empty); node_bytes
 * is the usable bytes of the nodes and the index. Groups are in strictly increasing name
 * order, each PEL strictly increasing by ID, each nack's consumer is a consumer of its
 * group, and the consumers' pending IDs are exactly the PEL's, each under its nack's owner.
 *
 * Writes take their memory first: an append grows the index and takes or grows a node before
 * it writes a byte; PEL changes reserve their arrays' room first (store_stream_pel_reserve).
 * Deleting marks an entry (the node keeps its bytes, as a listpack does) and a node with no
 * live entry goes, which never fails. No I/O; memory only from the heap.
 */
#include "store_stream.h"

#include "pack.h"
#include "store_internal.h"

/* Entry flags, as Redis's STREAM_ITEM_FLAG_*: DELETED is read; SAMEFIELDS only sizes. */
#define ENTRY_FLAG_DELETED 1u
#define ENTRY_FLAG_SAMEFIELDS 2u

/* An entry's head: the ID's two words and the flags byte. */
#define ENTRY_HEAD_BYTES 17u

/* Redis's listpack: a 6-byte header and the end byte. */
#define LP_EMPTY_BYTES 7u

/* A node: its entries packed after this head. */
struct stream_node {
    uint32_t used_bytes;   /* bytes of data in use */
    uint16_t entry_count;  /* entries, deleted included */
    uint16_t live_count;   /* entries not deleted */
    uint32_t lp_bytes;     /* the size Redis's listpack for these entries would have */
    uint32_t reserved;     /* zero */
    uint8_t data[];
};

/* The index: one slot per node, sorted by first ID. */
struct stream_slot {
    struct stream_id first;
    uint32_t node_ref;
    uint32_t reserved;     /* zero */
};

static_assert(sizeof(struct stream_node) == 16, "a node's head is 16 bytes");
static_assert(sizeof(struct stream_slot) == 24, "a slot is 24 bytes");
static_assert(STORE_STREAM_NODE_ENTRIES_MAX <= UINT16_MAX, "entry counts fit 16 bits");

/* ---- Redis's listpack sizes (for where nodes split) ------------------------------------------ */

static uint64_t lp_backlen_bytes(uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    if (bytes <= 127) {
        return 1;
    }
    if (bytes < 16383) {
        return 2;
    }
    if (bytes < 2097151) {
        return 3;
    }
    return bytes < 268435455 ? 4 : 5;
}

/* An integer element: its encoding and its backlen. */
static uint64_t lp_int_bytes(int64_t value)
{
    uint64_t bytes = 9;
    if (value >= 0 && value <= 127) {
        bytes = 1;
    } else if (value >= -4096 && value <= 4095) {
        bytes = 2;
    } else if (value >= -32768 && value <= 32767) {
        bytes = 3;
    } else if (value >= -8388608 && value <= 8388607) {
        bytes = 4;
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
        bytes = 5;
    }
    return bytes + lp_backlen_bytes(bytes);
}

/* Whether listpack stores the string as an integer (lpStringToInt64's rules). */
static bool lp_string_int(struct slice text, int64_t *value)
{
    if (text.length == 0 || text.length >= 21) {
        return false;
    }
    if (text.length == 1 && text.bytes[0] == '0') {
        *value = 0;
        return true;
    }
    uint32_t at = 0;
    bool negative = text.bytes[0] == '-';
    at += negative ? 1u : 0u;
    if (at == text.length || text.bytes[at] < '1' || text.bytes[at] > '9') {
        return false;
    }
    uint64_t magnitude = 0;
    /* Bounded by the length (under 21). */
    for (; at < text.length; at++) {
        uint8_t digit = text.bytes[at];
        if (digit < '0' || digit > '9' || magnitude > UINT64_MAX / 10 ||
            magnitude * 10 > UINT64_MAX - (digit - '0')) {
            return false;
        }
        magnitude = magnitude * 10 + (digit - '0');
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *value = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
    } else {
        if (magnitude > (uint64_t)INT64_MAX) {
            return false;
        }
        *value = (int64_t)magnitude;
    }
    return true;
}

static uint64_t lp_string_bytes(struct slice text)
{
    int64_t value = 0;
    if (lp_string_int(text, &value)) {
        return lp_int_bytes(value);
    }
    uint64_t bytes = text.length < 64 ? 1u + text.length
                     : text.length < 4096 ? 2u + text.length
                                          : 5u + (uint64_t)text.length;
    return bytes + lp_backlen_bytes(bytes);
}

/* ---- Entries in a node ----------------------------------------------------------------------- */

struct entry_view {
    struct stream_id id;
    uint8_t flags;
    uint32_t pair_count;
    uint32_t pairs_bytes;
    const uint8_t *pairs;
    uint32_t size;         /* the whole entry's bytes */
};

static struct entry_view entry_at(const struct stream_node *node, uint32_t offset)
{
    KV_ASSERT(offset + ENTRY_HEAD_BYTES < node->used_bytes);
    const uint8_t *at = node->data + offset;
    struct entry_view view;
    memcpy(&view.id.ms, at, sizeof(uint64_t));
    memcpy(&view.id.seq, at + 8, sizeof(uint64_t));
    view.flags = at[16];
    uint32_t length = ENTRY_HEAD_BYTES;
    length += pack_varint_read(at + length, &view.pair_count);
    length += pack_varint_read(at + length, &view.pairs_bytes);
    view.pairs = at + length;
    view.size = length + view.pairs_bytes;
    KV_ASSERT(offset + view.size <= node->used_bytes);
    return view;
}

static uint64_t entry_bytes(uint32_t pair_count, uint64_t pairs_bytes)
{
    KV_ASSERT(pairs_bytes <= UINT32_MAX);
    return ENTRY_HEAD_BYTES + pack_varint_bytes(pair_count) +
           pack_varint_bytes((uint32_t)pairs_bytes) + pairs_bytes;
}

static uint64_t pairs_bytes_of(const struct slice *pairs, uint32_t pair_count)
{
    uint64_t bytes = 0;
    /* Bounded by the pairs given. */
    for (uint32_t index = 0; index < 2u * pair_count; index++) {
        bytes += pack_varint_bytes(pairs[index].length) + pairs[index].length;
    }
    return bytes;
}

void store_stream_pair(const struct store_stream_entry *entry, uint32_t *at, struct slice *field,
                       struct slice *value)
{
    KV_ASSERT(entry->pair_count > 0);
    uint32_t length = 0;
    *at += pack_varint_read(entry->pairs + *at, &length);
    *field = (struct slice){.bytes = entry->pairs + *at, .length = length};
    *at += length;
    *at += pack_varint_read(entry->pairs + *at, &length);
    *value = (struct slice){.bytes = entry->pairs + *at, .length = length};
    *at += length;
}

/* Each entry's offset in the node, in order; returns the count. */
static uint32_t node_offsets(const struct stream_node *node, uint32_t *offsets)
{
    uint32_t count = 0;
    uint32_t offset = 0;
    /* Bounded by the node's entry count. */
    while (offset < node->used_bytes) {
        KV_ASSERT(count < node->entry_count);
        offsets[count] = offset;
        count++;
        offset += entry_at(node, offset).size;
    }
    KV_ASSERT(count == node->entry_count);
    return count;
}

/* Whether the entry's fields equal the master entry's (the node's first entry's). */
static bool same_fields(const struct stream_node *node, const struct slice *pairs,
                        uint32_t pair_count)
{
    struct entry_view master = entry_at(node, 0);
    if (master.pair_count != pair_count) {
        return false;
    }
    struct store_stream_entry entry = {master.id, master.pair_count, master.pairs};
    uint32_t at = 0;
    /* Bounded by the pair count. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice field;
        struct slice value;
        store_stream_pair(&entry, &at, &field, &value);
        if (!slice_equal(field, pairs[2u * index])) {
            return false;
        }
    }
    return true;
}

/* The listpack bytes an entry adds to a node whose master is `master` (SAMEFIELDS when
 * `same`). */
static uint64_t lp_entry_bytes(struct stream_id master, struct stream_id id, bool same,
                               const struct slice *pairs, uint32_t pair_count)
{
    uint64_t bytes = lp_int_bytes(same ? ENTRY_FLAG_SAMEFIELDS : 0) +
                     lp_int_bytes((int64_t)(id.ms - master.ms)) +
                     lp_int_bytes((int64_t)(id.seq - master.seq));
    int64_t lp_count = (int64_t)pair_count + 3;
    if (!same) {
        bytes += lp_int_bytes(pair_count);
        lp_count += pair_count + 1;
    }
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pair_count; index++) {
        bytes += same ? 0 : lp_string_bytes(pairs[2u * index]);
        bytes += lp_string_bytes(pairs[2u * index + 1]);
    }
    return bytes + lp_int_bytes(lp_count);
}

/* The listpack bytes of a new node's master entry. */
static uint64_t lp_master_bytes(const struct slice *pairs, uint32_t pair_count)
{
    uint64_t bytes = LP_EMPTY_BYTES + lp_int_bytes(1) + lp_int_bytes(0) +
                     lp_int_bytes(pair_count) + lp_int_bytes(0);
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pair_count; index++) {
        bytes += lp_string_bytes(pairs[2u * index]);
    }
    return bytes;
}

/* ---- The root and the index ------------------------------------------------------------------ */

static struct store_stream *root_of(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STREAM);
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_RAW);
    return heap_pointer(store->heap, key->value);
}

const struct store_stream *store_stream_of(const struct store *store, uint32_t key_ref)
{
    return root_of(store, store_key(store, key_ref));
}

static struct stream_slot *slots_of(const struct store *store, const struct store_stream *root)
{
    KV_ASSERT(root->index_ref != HEAP_REF_NONE);
    return heap_pointer(store->heap, root->index_ref);
}

static struct stream_node *node_of(const struct store *store, const struct store_stream *root,
                                   uint32_t index)
{
    KV_ASSERT(index < root->node_count);
    return heap_pointer(store->heap, slots_of(store, root)[index].node_ref);
}

uint32_t store_stream_node_count(const struct store *store, uint32_t key_ref)
{
    return store_stream_of(store, key_ref)->node_count;
}

struct stream_id store_stream_node_first(const struct store *store, uint32_t key_ref,
                                         uint32_t index)
{
    const struct store_stream *root = store_stream_of(store, key_ref);
    KV_ASSERT(index < root->node_count);
    return slots_of(store, root)[index].first;
}

/* The last node whose first ID is at most `id`; node_count when none (id before them all). */
static uint32_t node_seek(const struct store *store, const struct store_stream *root,
                          struct stream_id id)
{
    if (root->node_count == 0) {
        return 0;
    }
    const struct stream_slot *slots = slots_of(store, root);
    if (stream_id_compare(slots[0].first, id) > 0) {
        return root->node_count;
    }
    uint32_t low = 0;                 /* slots[low].first <= id */
    uint32_t high = root->node_count; /* slots[high].first > id, or the end */
    /* Bounded: the range halves each pass. */
    while (high - low > 1) {
        uint32_t middle = low + (high - low) / 2;
        if (stream_id_compare(slots[middle].first, id) <= 0) {
            low = middle;
        } else {
            high = middle;
        }
    }
    KV_ASSERT(stream_id_compare(slots[low].first, id) <= 0);
    return low;
}

/* Takes node slot `index` out of the index and gives the node back. */
static void node_remove(struct store *store, struct store_stream *root, uint32_t index)
{
    KV_ASSERT(index < root->node_count);
    struct stream_slot *slots = slots_of(store, root);
    struct stream_node *node = heap_pointer(store->heap, slots[index].node_ref);
    root->node_bytes -= heap_usable_bytes(store->heap, node);
    heap_release(store->heap, node);
    memmove(&slots[index], &slots[index + 1],
            (size_t)(root->node_count - index - 1) * sizeof(struct stream_slot));
    root->node_count--;
    if (root->node_count == 0) {
        root->node_bytes -= heap_usable_bytes(store->heap, slots);
        heap_release(store->heap, slots);
        root->index_ref = HEAP_REF_NONE;
    }
}

/* The first live entry's ID (0-0 when empty). */
static struct stream_id first_live_id(const struct store *store, const struct store_stream *root)
{
    if (root->length == 0) {
        return (struct stream_id){0, 0};
    }
    KV_ASSERT(root->node_count > 0);
    const struct stream_node *node = node_of(store, root, 0);
    uint32_t offset = 0;
    /* Bounded by the node's bytes; a node has a live entry. */
    while (offset < node->used_bytes) {
        struct entry_view view = entry_at(node, offset);
        if ((view.flags & ENTRY_FLAG_DELETED) == 0) {
            return view.id;
        }
        offset += view.size;
    }
    KV_ASSERT(false); /* a node with no live entry is removed */
    return (struct stream_id){0, 0};
}

/* ---- Type operations ------------------------------------------------------------------------- */

static void groups_release(struct store *store, struct store_stream *root);

static void stream_release(struct store *store, struct store_key *key)
{
    struct store_stream *root = root_of(store, key);
    /* Bounded by the node count. */
    while (root->node_count > 0) {
        node_remove(store, root, root->node_count - 1);
    }
    groups_release(store, root);
    heap_release(store->heap, root);
}

static uint64_t groups_verify(const struct store *store, const struct store_stream *root);
static uint64_t groups_memory(const struct store *store, const struct store_stream *root);

static void stream_verify(const struct store *store, const struct store_key *key,
                          struct store_usage *usage)
{
    const struct store_stream *root = root_of(store, key);
    uint64_t allocations = 1;
    uint64_t live = 0;
    uint64_t bytes = 0;
    struct stream_id previous = {0, 0};
    bool any = false;
    bool first_seen = false;
    uint32_t offsets[STORE_STREAM_NODE_ENTRIES_MAX];
    if (root->node_count > 0) {
        allocations++;
        bytes += heap_usable_bytes(store->heap, slots_of(store, root));
        KV_ASSERT(heap_usable_bytes(store->heap, slots_of(store, root)) >=
                  (uint64_t)root->node_count * sizeof(struct stream_slot));
    } else {
        KV_ASSERT(root->index_ref == HEAP_REF_NONE);
    }
    /* Bounded by the node count, and each node's entry count. */
    for (uint32_t index = 0; index < root->node_count; index++) {
        const struct stream_slot *slot = &slots_of(store, root)[index];
        const struct stream_node *node = node_of(store, root, index);
        allocations++;
        bytes += heap_usable_bytes(store->heap, node);
        KV_ASSERT(node->entry_count >= 1 && node->entry_count <= STORE_STREAM_NODE_ENTRIES_MAX);
        KV_ASSERT(node->live_count >= 1 && node->live_count <= node->entry_count);
        KV_ASSERT(node->reserved == 0 && slot->reserved == 0);
        uint32_t count = node_offsets(node, offsets);
        struct entry_view master = entry_at(node, 0);
        KV_ASSERT(stream_id_compare(master.id, slot->first) == 0);
        uint32_t node_live = 0;
        for (uint32_t at = 0; at < count; at++) {
            struct entry_view view = entry_at(node, offsets[at]);
            KV_ASSERT(!any || stream_id_compare(previous, view.id) < 0);
            KV_ASSERT((view.flags & ~(uint32_t)ENTRY_FLAG_DELETED) == 0);
            KV_ASSERT(view.pair_count >= 1);
            previous = view.id;
            any = true;
            if ((view.flags & ENTRY_FLAG_DELETED) == 0) {
                node_live++;
                if (!first_seen) {
                    KV_ASSERT(stream_id_compare(view.id, root->first_id) == 0);
                    first_seen = true;
                }
            }
        }
        KV_ASSERT(node_live == node->live_count);
        live += node_live;
    }
    KV_ASSERT(live == root->length);
    KV_ASSERT(first_seen || stream_id_is_zero(root->first_id));
    KV_ASSERT(!any || stream_id_compare(previous, root->last_id) <= 0);
    KV_ASSERT(bytes == root->node_bytes);
    KV_ASSERT(root->entries_added >= root->length);
    allocations += groups_verify(store, root);
    usage->allocations += allocations;
}

static uint64_t stream_length(const struct store *store, const struct store_key *key)
{
    return root_of(store, key)->length;
}

static uint64_t stream_memory(const struct store *store, const struct store_key *key)
{
    const struct store_stream *root = root_of(store, key);
    return heap_usable_bytes(store->heap, root) + root->node_bytes + groups_memory(store, root);
}

static const char *stream_encoding_name(const struct store *store, const struct store_key *key)
{
    (void)store;
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STREAM);
    return "stream";
}

static const struct store_type_ops stream_ops = {
    .name = "stream",
    .release = stream_release,
    .verify = stream_verify,
    .length = stream_length,
    .memory = stream_memory,
    .encoding_name = stream_encoding_name,
};

void store_stream_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_STREAM, &stream_ops);
    KV_ASSERT(store->types[STORE_TYPE_STREAM] == &stream_ops);
}

/* ---- Reads ----------------------------------------------------------------------------------- */

/* Loads node `index` into the walk (its offsets), positioned at its first or last entry. */
static void walk_load(struct store_stream_walk *walk, const struct store_stream *root,
                      uint32_t index)
{
    KV_ASSERT(index < root->node_count);
    walk->node_index = index;
    walk->offset_count = node_offsets(node_of(walk->store, root, index), walk->offsets);
    walk->position = walk->reverse ? walk->offset_count : 0;
    KV_ASSERT(walk->offset_count > 0);
}

void store_stream_walk_start(struct store_stream_walk *walk, const struct store *store,
                             uint32_t key_ref, struct stream_id start, struct stream_id end,
                             bool reverse)
{
    const struct store_stream *root = store_stream_of(store, key_ref);
    walk->store = store;
    walk->key_ref = key_ref;
    walk->start = start;
    walk->end = end;
    walk->reverse = reverse;
    walk->done = root->node_count == 0 || stream_id_compare(start, end) > 0;
    walk->offset_count = 0;
    walk->position = 0;
    if (walk->done) {
        return;
    }
    uint32_t index = node_seek(store, root, reverse ? end : start);
    if (index == root->node_count) {
        /* Every node starts past the ID: forward starts at the first, reverse has none. */
        walk->done = reverse;
        index = 0;
    }
    if (!walk->done) {
        walk_load(walk, root, index);
    }
}

bool store_stream_walk_next(struct store_stream_walk *walk, struct store_stream_entry *entry)
{
    const struct store_stream *root = store_stream_of(walk->store, walk->key_ref);
    /* Bounded: each pass moves one entry or one node, in one direction. */
    while (!walk->done) {
        bool node_end = walk->reverse ? walk->position == 0 : walk->position == walk->offset_count;
        if (node_end) {
            if (walk->reverse ? walk->node_index == 0
                              : walk->node_index + 1 == root->node_count) {
                walk->done = true;
                break;
            }
            walk_load(walk, root, walk->reverse ? walk->node_index - 1 : walk->node_index + 1);
            continue;
        }
        uint32_t at = walk->reverse ? walk->position - 1 : walk->position;
        walk->position = walk->reverse ? walk->position - 1 : walk->position + 1;
        struct entry_view view =
            entry_at(node_of(walk->store, root, walk->node_index), walk->offsets[at]);
        if (walk->reverse ? stream_id_compare(view.id, walk->start) < 0
                          : stream_id_compare(view.id, walk->end) > 0) {
            walk->done = true;
            break;
        }
        if ((view.flags & ENTRY_FLAG_DELETED) != 0 ||
            (walk->reverse ? stream_id_compare(view.id, walk->end) > 0
                           : stream_id_compare(view.id, walk->start) < 0)) {
            continue;
        }
        *entry = (struct store_stream_entry){view.id, view.pair_count, view.pairs};
        return true;
    }
    return false;
}

bool store_stream_find_entry(const struct store *store, uint32_t key_ref, struct stream_id id,
                             struct store_stream_entry *entry)
{
    struct store_stream_walk walk;
    store_stream_walk_start(&walk, store, key_ref, id, id, false);
    return store_stream_walk_next(&walk, entry);
}

/* ---- Writes ---------------------------------------------------------------------------------- */

/* Makes room in the index for one more slot. */
static bool index_grow(struct store *store, struct store_stream *root)
{
    uint64_t wanted = ((uint64_t)root->node_count + 1) * sizeof(struct stream_slot);
    if (root->index_ref == HEAP_REF_NONE) {
        struct stream_slot *slots = heap_alloc(store->heap, wanted);
        if (slots == NULL) {
            return false;
        }
        root->index_ref = heap_ref(store->heap, slots);
        root->node_bytes += heap_usable_bytes(store->heap, slots);
        return true;
    }
    struct stream_slot *slots = slots_of(store, root);
    uint64_t usable = heap_usable_bytes(store->heap, slots);
    if (usable >= wanted) {
        return true;
    }
    uint64_t grown = wanted + wanted / 2; /* amortised: a node's worth of appends per copy */
    struct stream_slot *moved = heap_resize(store->heap, slots, grown);
    if (moved == NULL) {
        return false;
    }
    root->node_bytes = root->node_bytes - usable + heap_usable_bytes(store->heap, moved);
    root->index_ref = heap_ref(store->heap, moved);
    return true;
}

/* Writes an entry at the node's end (room there). */
static void entry_write(struct stream_node *node, struct stream_id id, const struct slice *pairs,
                        uint32_t pair_count, uint64_t pairs_bytes)
{
    uint8_t *at = node->data + node->used_bytes;
    memcpy(at, &id.ms, sizeof(uint64_t));
    memcpy(at + 8, &id.seq, sizeof(uint64_t));
    at[16] = 0;
    uint32_t length = ENTRY_HEAD_BYTES;
    length += pack_varint_write(at + length, pair_count);
    length += pack_varint_write(at + length, (uint32_t)pairs_bytes);
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < 2u * pair_count; index++) {
        length += pack_varint_write(at + length, pairs[index].length);
        if (pairs[index].length > 0) {
            memcpy(at + length, pairs[index].bytes, pairs[index].length);
        }
        length += pairs[index].length;
    }
    KV_ASSERT(length == entry_bytes(pair_count, pairs_bytes));
    node->used_bytes += length;
    node->entry_count++;
    node->live_count++;
}

/* Appends to the stream's root (its key exists or is built): false when the heap has no room,
 * and then nothing a reader sees changed (the index may have grown its room). */
static bool append(struct store *store, struct store_stream *root, struct stream_id id,
                   const struct slice *pairs, uint32_t pair_count)
{
    uint64_t pairs_bytes = pairs_bytes_of(pairs, pair_count);
    uint64_t bytes = entry_bytes(pair_count, pairs_bytes);
    uint64_t value_bytes = 0;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < 2u * pair_count; index++) {
        value_bytes += pairs[index].length;
    }
    struct stream_node *last = root->node_count > 0 ? node_of(store, root, root->node_count - 1)
                                                    : NULL;
    if (last != NULL) {
        bool full = last->lp_bytes + value_bytes >= STORE_STREAM_NODE_BYTES_MAX ||
                    last->entry_count >= STORE_STREAM_NODE_ENTRIES_MAX;
        if (!full) {
            struct stream_id master = slots_of(store, root)[root->node_count - 1].first;
            bool same = same_fields(last, pairs, pair_count);
            uint64_t lp_bytes = lp_entry_bytes(master, id, same, pairs, pair_count);
            uint64_t usable = heap_usable_bytes(store->heap, last);
            uint64_t wanted = sizeof(struct stream_node) + last->used_bytes + bytes;
            struct stream_node *node = last;
            if (usable < wanted) {
                node = heap_resize(store->heap, last, wanted + wanted / 4);
                if (node == NULL) {
                    return false;
                }
                slots_of(store, root)[root->node_count - 1].node_ref = heap_ref(store->heap, node);
                root->node_bytes = root->node_bytes - usable + heap_usable_bytes(store->heap, node);
            }
            entry_write(node, id, pairs, pair_count, pairs_bytes);
            node->lp_bytes += (uint32_t)lp_bytes;
            return true;
        }
    }
    if (!index_grow(store, root)) {
        return false;
    }
    struct stream_node *node = heap_alloc(store->heap, sizeof(struct stream_node) + bytes);
    if (node == NULL) {
        if (root->node_count == 0) {
            root->node_bytes -= heap_usable_bytes(store->heap, slots_of(store, root));
            heap_release(store->heap, slots_of(store, root));
            root->index_ref = HEAP_REF_NONE;
        }
        return false;
    }
    *node = (struct stream_node){0};
    entry_write(node, id, pairs, pair_count, pairs_bytes);
    uint64_t lp_bytes = lp_master_bytes(pairs, pair_count) +
                        lp_entry_bytes(id, id, true, pairs, pair_count);
    node->lp_bytes = lp_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)lp_bytes;
    struct stream_slot *slots = slots_of(store, root);
    slots[root->node_count] =
        (struct stream_slot){.first = id, .node_ref = heap_ref(store->heap, node)};
    root->node_count++;
    root->node_bytes += heap_usable_bytes(store->heap, node);
    return true;
}

/* A new root, empty. */
static struct store_stream *root_create(struct store *store)
{
    struct store_stream *root = heap_alloc(store->heap, sizeof(struct store_stream));
    if (root != NULL) {
        *root = (struct store_stream){0};
    }
    return root;
}

enum store_status store_stream_create(struct store *store, struct store_found *found,
                                      struct slice key)
{
    KV_ASSERT(!found->exists);
    enum store_status status = store_key_check(store, key);
    if (status != STORE_OK) {
        return status;
    }
    struct store_key *object = store_key_build(store, key, STORE_TYPE_STREAM, 0, 0);
    struct store_stream *root = object != NULL ? root_create(store) : NULL;
    if (root == NULL) {
        if (object != NULL) {
            heap_release(store->heap, object);
        }
        return STORE_OOM;
    }
    store_object_set_root(object, STORE_ENCODING_RAW, heap_ref(store->heap, root));
    store_key_insert(store, found, object, NULL);
    KV_ASSERT(found->exists);
    return STORE_OK;
}

enum store_status store_stream_add(struct store *store, struct store_found *found,
                                   struct slice key, struct stream_id id,
                                   const struct slice *pairs, uint32_t pair_count)
{
    KV_ASSERT(pair_count > 0);
    if (found->exists) {
        struct store_key *object = store_key(store, found->key_ref);
        struct store_stream *root = root_of(store, object);
        KV_ASSERT(stream_id_compare(id, root->last_id) > 0);
        store_modified(store, object);
        if (!append(store, root, id, pairs, pair_count)) {
            return STORE_OOM;
        }
        root->length++;
        root->entries_added++;
        root->last_id = id;
        if (root->length == 1) {
            root->first_id = id;
        }
        store_ready(store, object);
        return STORE_OK;
    }
    enum store_status status = store_key_check(store, key);
    if (status != STORE_OK) {
        return status;
    }
    struct store_key *object = store_key_build(store, key, STORE_TYPE_STREAM, 0, 0);
    struct store_stream *root = object != NULL ? root_create(store) : NULL;
    if (root == NULL || !append(store, root, id, pairs, pair_count)) {
        if (root != NULL) {
            heap_release(store->heap, root);
        }
        if (object != NULL) {
            heap_release(store->heap, object);
        }
        return STORE_OOM;
    }
    root->length = 1;
    root->entries_added = 1;
    root->last_id = id;
    root->first_id = id;
    store_object_set_root(object, STORE_ENCODING_RAW, heap_ref(store->heap, root));
    store_key_insert(store, found, object, NULL);
    store_ready(store, store_key(store, found->key_ref));
    return STORE_OK;
}

/* Marks the entry at `offset` of node `index` deleted; removes the node when it was its last
 * live entry. Returns whether the node was removed. */
static bool entry_delete(struct store *store, struct store_stream *root, uint32_t index,
                         uint32_t offset)
{
    struct stream_node *node = node_of(store, root, index);
    KV_ASSERT((node->data[offset + 16] & ENTRY_FLAG_DELETED) == 0);
    KV_ASSERT(node->live_count > 0 && root->length > 0);
    node->data[offset + 16] |= ENTRY_FLAG_DELETED;
    node->live_count--;
    root->length--;
    if (node->live_count == 0) {
        node_remove(store, root, index);
        return true;
    }
    return false;
}

uint64_t store_stream_trim(struct store *store, struct store_found *found,
                           const struct store_stream_trim *trim)
{
    KV_ASSERT(found->exists);
    struct store_key *object = store_key(store, found->key_ref);
    struct store_stream *root = root_of(store, object);
    if (trim->strategy == STORE_STREAM_TRIM_NONE) {
        return 0;
    }
    bool touched = false; /* watchers hear of a trim that deletes, as in Redis */
    uint64_t deleted = 0;
    uint32_t offsets[STORE_STREAM_NODE_ENTRIES_MAX];
    /* Bounded by the node count: each pass removes the first node or ends. */
    while (root->node_count > 0) {
        if (trim->strategy == STORE_STREAM_TRIM_MAXLEN && root->length <= trim->maxlen) {
            break;
        }
        struct stream_node *node = node_of(store, root, 0);
        uint64_t entries = node->live_count;
        if (trim->limit != 0 && deleted + entries > trim->limit) {
            break;
        }
        uint32_t count = node_offsets(node, offsets);
        bool remove_node = false;
        if (trim->strategy == STORE_STREAM_TRIM_MAXLEN) {
            remove_node = root->length - entries >= trim->maxlen;
        } else {
            struct entry_view last = entry_at(node, offsets[count - 1]);
            remove_node = stream_id_compare(last.id, trim->minid) < 0;
        }
        if (!touched && remove_node) {
            store_modified(store, object);
            touched = true;
        }
        if (remove_node) {
            root->length -= entries;
            deleted += entries;
            node_remove(store, root, 0);
            continue;
        }
        if (trim->approx) {
            break;
        }
        /* Bounded by the node's entries; the node keeps a live one (it was not removed). */
        for (uint32_t at = 0; at < count; at++) {
            struct entry_view view = entry_at(node, offsets[at]);
            bool stop = trim->strategy == STORE_STREAM_TRIM_MAXLEN
                            ? root->length <= trim->maxlen
                            : stream_id_compare(view.id, trim->minid) >= 0;
            if (stop) {
                break;
            }
            if ((view.flags & ENTRY_FLAG_DELETED) == 0) {
                if (!touched) {
                    store_modified(store, object);
                    touched = true;
                }
                bool removed = entry_delete(store, root, 0, offsets[at]);
                KV_ASSERT(!removed);
                deleted++;
            }
        }
        break;
    }
    if (root->length == 0) {
        root->first_id = (struct stream_id){0, 0};
    } else if (deleted > 0) {
        root->first_id = first_live_id(store, root);
    }
    return deleted;
}

bool store_stream_delete(struct store *store, struct store_found *found, struct stream_id id)
{
    KV_ASSERT(found->exists);
    struct store_key *object = store_key(store, found->key_ref);
    struct store_stream *root = root_of(store, object);
    uint32_t index = node_seek(store, root, id);
    if (index == root->node_count) {
        return false;
    }
    struct stream_node *node = node_of(store, root, index);
    uint32_t offset = 0;
    /* Bounded by the node's bytes. */
    while (offset < node->used_bytes) {
        struct entry_view view = entry_at(node, offset);
        int order = stream_id_compare(view.id, id);
        if (order > 0) {
            return false;
        }
        if (order == 0) {
            if ((view.flags & ENTRY_FLAG_DELETED) != 0) {
                return false;
            }
            store_modified(store, object);
            (void)entry_delete(store, root, index, offset);
            if (stream_id_compare(id, root->max_deleted_id) > 0) {
                root->max_deleted_id = id;
            }
            if (root->length == 0) {
                root->first_id = (struct stream_id){0, 0};
            } else if (stream_id_compare(id, root->first_id) == 0) {
                root->first_id = first_live_id(store, root);
            }
            return true;
        }
        offset += view.size;
    }
    return false;
}

void store_stream_set_id(struct store *store, struct store_found *found, struct stream_id last_id,
                         const uint64_t *entries_added, const struct stream_id *max_deleted_id)
{
    KV_ASSERT(found->exists);
    struct store_key *object = store_key(store, found->key_ref);
    struct store_stream *root = root_of(store, object);
    root->last_id = last_id; /* watchers are not told, as Redis's XSETID does not */
    if (entries_added != NULL) {
        KV_ASSERT(*entries_added >= root->length);
        root->entries_added = *entries_added;
    }
    if (max_deleted_id != NULL) {
        root->max_deleted_id = *max_deleted_id;
    }
}

/* ---- Consumer groups ------------------------------------------------------------------------- */

static struct store_stream_group *group_at(const struct store *store, uint32_t ref)
{
    return ref == HEAP_REF_NONE ? NULL : heap_pointer(store->heap, ref);
}

static struct store_stream_consumer *consumer_at(const struct store *store, uint32_t ref)
{
    return ref == HEAP_REF_NONE ? NULL : heap_pointer(store->heap, ref);
}

/* Orders names as Redis's rax does: bytes, then the shorter first. */
static int name_compare(struct slice a, struct slice b)
{
    uint32_t common = a.length < b.length ? a.length : b.length;
    int order = common > 0 ? memcmp(a.bytes, b.bytes, common) : 0;
    if (order != 0) {
        return order;
    }
    return a.length < b.length ? -1 : (a.length > b.length ? 1 : 0);
}

struct store_stream_group *store_stream_group_first(const struct store *store, uint32_t key_ref)
{
    return group_at(store, store_stream_of(store, key_ref)->groups_ref);
}

struct store_stream_group *store_stream_group_next(const struct store *store,
                                                   const struct store_stream_group *group)
{
    return group_at(store, group->next_ref);
}

struct store_stream_group *store_stream_group_find(const struct store *store, uint32_t key_ref,
                                                   struct slice name)
{
    struct store_stream_group *group = store_stream_group_first(store, key_ref);
    /* Bounded by the group count. */
    while (group != NULL) {
        int order = name_compare(store_stream_group_name(group), name);
        if (order == 0) {
            return group;
        }
        if (order > 0) {
            return NULL;
        }
        group = group_at(store, group->next_ref);
    }
    return NULL;
}

struct store_stream_consumer *store_stream_consumer_first(const struct store *store,
                                                          const struct store_stream_group *g)
{
    return consumer_at(store, g->consumers_ref);
}

struct store_stream_consumer *store_stream_consumer_next(const struct store *store,
                                                         const struct store_stream_consumer *c)
{
    return consumer_at(store, c->next_ref);
}

struct store_stream_consumer *store_stream_consumer_find(const struct store *store,
                                                         const struct store_stream_group *group,
                                                         struct slice name)
{
    struct store_stream_consumer *consumer = consumer_at(store, group->consumers_ref);
    /* Bounded by the consumer count. */
    while (consumer != NULL) {
        int order = name_compare(store_stream_consumer_name(consumer), name);
        if (order == 0) {
            return consumer;
        }
        if (order > 0) {
            return NULL;
        }
        consumer = consumer_at(store, consumer->next_ref);
    }
    return NULL;
}

enum store_status store_stream_group_create(struct store *store, struct store_found *found,
                                            struct slice name, struct stream_id id,
                                            int64_t entries_read)
{
    KV_ASSERT(found->exists);
    struct store_key *object = store_key(store, found->key_ref);
    struct store_stream *root = root_of(store, object);
    KV_ASSERT(store_stream_group_find(store, found->key_ref, name) == NULL);
    struct store_stream_group *group =
        heap_alloc(store->heap, sizeof(struct store_stream_group) + (uint64_t)name.length);
    if (group == NULL) {
        return STORE_OOM;
    }
    *group = (struct store_stream_group){.last_id = id, .entries_read = entries_read,
                                         .name_bytes = name.length};
    if (name.length > 0) {
        memcpy(group->name, name.bytes, name.length);
    }
    uint32_t *link = &root->groups_ref;
    /* Bounded by the group count. */
    while (*link != HEAP_REF_NONE &&
           name_compare(store_stream_group_name(group_at(store, *link)), name) < 0) {
        link = &group_at(store, *link)->next_ref;
    }
    group->next_ref = *link;
    *link = heap_ref(store->heap, group);
    root->group_count++;
    return STORE_OK;
}

static void consumer_release(struct store *store, struct store_stream_consumer *consumer)
{
    if (consumer->ids_ref != HEAP_REF_NONE) {
        heap_release(store->heap, heap_pointer(store->heap, consumer->ids_ref));
    }
    heap_release(store->heap, consumer);
}

static void group_release(struct store *store, struct store_stream_group *group)
{
    struct store_stream_consumer *consumer = consumer_at(store, group->consumers_ref);
    /* Bounded by the consumer count. */
    while (consumer != NULL) {
        struct store_stream_consumer *next = consumer_at(store, consumer->next_ref);
        consumer_release(store, consumer);
        consumer = next;
    }
    if (group->pel_ref != HEAP_REF_NONE) {
        heap_release(store->heap, heap_pointer(store->heap, group->pel_ref));
    }
    heap_release(store->heap, group);
}

static void groups_release(struct store *store, struct store_stream *root)
{
    struct store_stream_group *group = group_at(store, root->groups_ref);
    /* Bounded by the group count. */
    while (group != NULL) {
        struct store_stream_group *next = group_at(store, group->next_ref);
        group_release(store, group);
        group = next;
    }
    root->groups_ref = HEAP_REF_NONE;
    root->group_count = 0;
}

void store_stream_group_destroy(struct store *store, struct store_found *found,
                                struct store_stream_group *group)
{
    KV_ASSERT(found->exists);
    struct store_key *object = store_key(store, found->key_ref);
    struct store_stream *root = root_of(store, object);
    uint32_t target = heap_ref(store->heap, group);
    uint32_t *link = &root->groups_ref;
    /* Bounded by the group count. */
    while (*link != target) {
        KV_ASSERT(*link != HEAP_REF_NONE);
        link = &group_at(store, *link)->next_ref;
    }
    *link = group->next_ref;
    KV_ASSERT(root->group_count > 0);
    root->group_count--;
    group_release(store, group);
    store_ready(store, object); /* readers blocked on the group hear it went */
}

struct store_stream_consumer *store_stream_consumer_create(struct store *store,
                                                           struct store_stream_group *group,
                                                           struct slice name, int64_t now_ms)
{
    KV_ASSERT(store_stream_consumer_find(store, group, name) == NULL);
    struct store_stream_consumer *consumer =
        heap_alloc(store->heap, sizeof(struct store_stream_consumer) + (uint64_t)name.length);
    if (consumer == NULL) {
        return NULL;
    }
    *consumer = (struct store_stream_consumer){.name_bytes = name.length, .seen_ms = now_ms};
    if (name.length > 0) {
        memcpy(consumer->name, name.bytes, name.length);
    }
    uint32_t *link = &group->consumers_ref;
    /* Bounded by the consumer count. */
    while (*link != HEAP_REF_NONE &&
           name_compare(store_stream_consumer_name(consumer_at(store, *link)), name) < 0) {
        link = &consumer_at(store, *link)->next_ref;
    }
    consumer->next_ref = *link;
    *link = heap_ref(store->heap, consumer);
    group->consumer_count++;
    return consumer;
}

struct store_stream_nack *store_stream_pel(const struct store *store,
                                           const struct store_stream_group *group)
{
    return group->pel_ref == HEAP_REF_NONE ? NULL : heap_pointer(store->heap, group->pel_ref);
}

const struct stream_id *store_stream_consumer_ids(const struct store *store,
                                                  const struct store_stream_consumer *consumer)
{
    return consumer->ids_ref == HEAP_REF_NONE ? NULL
                                              : heap_pointer(store->heap, consumer->ids_ref);
}

uint32_t store_stream_pel_seek(const struct store *store, const struct store_stream_group *group,
                               struct stream_id id)
{
    const struct store_stream_nack *pel = store_stream_pel(store, group);
    uint32_t low = 0;
    uint32_t high = group->pel_count;
    /* Bounded: the range halves each pass. */
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (stream_id_compare(pel[middle].id, id) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    KV_ASSERT(low <= group->pel_count);
    return low;
}

struct store_stream_nack *store_stream_pel_find(const struct store *store,
                                                const struct store_stream_group *group,
                                                struct stream_id id)
{
    uint32_t index = store_stream_pel_seek(store, group, id);
    if (index == group->pel_count) {
        return NULL;
    }
    struct store_stream_nack *nack = &store_stream_pel(store, group)[index];
    return stream_id_compare(nack->id, id) == 0 ? nack : NULL;
}

/* The index of the first ID >= id in a consumer's sorted list. */
static uint32_t ids_seek(const struct stream_id *ids, uint32_t count, struct stream_id id)
{
    uint32_t low = 0;
    uint32_t high = count;
    /* Bounded: the range halves each pass. */
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (stream_id_compare(ids[middle], id) < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

/* Grows an array allocation (*ref) to hold `count` items of `item_bytes`. */
static bool array_reserve(struct store *store, uint32_t *ref, uint64_t count, uint64_t item_bytes)
{
    uint64_t wanted = count * item_bytes;
    KV_ASSERT(wanted > 0);
    if (*ref == HEAP_REF_NONE) {
        void *array = heap_alloc(store->heap, wanted);
        if (array == NULL) {
            return false;
        }
        *ref = heap_ref(store->heap, array);
        return true;
    }
    void *array = heap_pointer(store->heap, *ref);
    if (heap_usable_bytes(store->heap, array) >= wanted) {
        return true;
    }
    void *moved = heap_resize(store->heap, array, wanted + wanted / 2);
    if (moved == NULL) {
        return false;
    }
    *ref = heap_ref(store->heap, moved);
    return true;
}

enum store_status store_stream_pel_reserve(struct store *store, struct store_stream_group *group,
                                           struct store_stream_consumer *consumer, uint32_t count)
{
    if (count == 0) {
        return STORE_OK;
    }
    if (!array_reserve(store, &group->pel_ref, (uint64_t)group->pel_count + count,
                       sizeof(struct store_stream_nack))) {
        return STORE_OOM;
    }
    if (consumer != NULL &&
        !array_reserve(store, &consumer->ids_ref, (uint64_t)consumer->pending_count + count,
                       sizeof(struct stream_id))) {
        return STORE_OOM;
    }
    return STORE_OK;
}

/* Adds an ID to a consumer's list (room reserved). */
static void consumer_id_add(struct store *store, struct store_stream_consumer *consumer,
                            struct stream_id id)
{
    KV_ASSERT(consumer->ids_ref != HEAP_REF_NONE);
    struct stream_id *ids = heap_pointer(store->heap, consumer->ids_ref);
    KV_ASSERT(heap_usable_bytes(store->heap, ids) >=
              ((uint64_t)consumer->pending_count + 1) * sizeof(struct stream_id));
    uint32_t at = ids_seek(ids, consumer->pending_count, id);
    KV_ASSERT(at == consumer->pending_count || stream_id_compare(ids[at], id) != 0);
    memmove(&ids[at + 1], &ids[at], (size_t)(consumer->pending_count - at) * sizeof(ids[0]));
    ids[at] = id;
    consumer->pending_count++;
}

static void consumer_id_remove(struct store *store, struct store_stream_consumer *consumer,
                               struct stream_id id)
{
    struct stream_id *ids = heap_pointer(store->heap, consumer->ids_ref);
    uint32_t at = ids_seek(ids, consumer->pending_count, id);
    KV_ASSERT(at < consumer->pending_count && stream_id_compare(ids[at], id) == 0);
    memmove(&ids[at], &ids[at + 1], (size_t)(consumer->pending_count - at - 1) * sizeof(ids[0]));
    consumer->pending_count--;
    if (consumer->pending_count == 0) {
        heap_release(store->heap, ids);
        consumer->ids_ref = HEAP_REF_NONE;
    }
}

void store_stream_pel_deliver(struct store *store, struct store_stream_group *group,
                              struct store_stream_consumer *consumer, struct stream_id id,
                              int64_t now_ms, bool count_delivery)
{
    (void)count_delivery;
    uint32_t consumer_ref = heap_ref(store->heap, consumer);
    uint32_t at = store_stream_pel_seek(store, group, id);
    struct store_stream_nack *pel = store_stream_pel(store, group);
    KV_ASSERT(pel != NULL);
    if (at < group->pel_count && stream_id_compare(pel[at].id, id) == 0) {
        /* Already pending (the group's ID was set back): it moves here, delivered once. */
        struct store_stream_nack *nack = &pel[at];
        if (nack->consumer_ref != consumer_ref) {
            consumer_id_remove(store, consumer_at(store, nack->consumer_ref), id);
            consumer_id_add(store, consumer, id);
            nack->consumer_ref = consumer_ref;
        }
        nack->delivery_ms = now_ms;
        nack->delivery_count = 1;
        return;
    }
    KV_ASSERT(heap_usable_bytes(store->heap, pel) >=
              ((uint64_t)group->pel_count + 1) * sizeof(struct store_stream_nack));
    memmove(&pel[at + 1], &pel[at], (size_t)(group->pel_count - at) * sizeof(pel[0]));
    pel[at] = (struct store_stream_nack){.id = id, .delivery_ms = now_ms, .delivery_count = 1,
                                         .consumer_ref = consumer_ref};
    group->pel_count++;
    consumer_id_add(store, consumer, id);
}

void store_stream_nack_move(struct store *store, struct store_stream_group *group,
                            struct store_stream_nack *nack, struct store_stream_consumer *consumer)
{
    (void)group;
    uint32_t consumer_ref = heap_ref(store->heap, consumer);
    if (nack->consumer_ref == consumer_ref) {
        return;
    }
    consumer_id_remove(store, consumer_at(store, nack->consumer_ref), nack->id);
    consumer_id_add(store, consumer, nack->id);
    nack->consumer_ref = consumer_ref;
}

/* Removes PEL entry `at` from the group and its consumer. */
static void pel_remove_at(struct store *store, struct store_stream_group *group, uint32_t at)
{
    struct store_stream_nack *pel = store_stream_pel(store, group);
    KV_ASSERT(at < group->pel_count);
    consumer_id_remove(store, consumer_at(store, pel[at].consumer_ref), pel[at].id);
    memmove(&pel[at], &pel[at + 1], (size_t)(group->pel_count - at - 1) * sizeof(pel[0]));
    group->pel_count--;
    if (group->pel_count == 0) {
        heap_release(store->heap, pel);
        group->pel_ref = HEAP_REF_NONE;
    }
}

bool store_stream_ack(struct store *store, struct store_stream_group *group, struct stream_id id)
{
    if (group->pel_count == 0) {
        return false;
    }
    uint32_t at = store_stream_pel_seek(store, group, id);
    if (at == group->pel_count ||
        stream_id_compare(store_stream_pel(store, group)[at].id, id) != 0) {
        return false;
    }
    pel_remove_at(store, group, at);
    return true;
}

uint32_t store_stream_consumer_delete(struct store *store, struct store_stream_group *group,
                                      struct store_stream_consumer *consumer)
{
    uint32_t pending = consumer->pending_count;
    /* Bounded by the consumer's pending count: each pass removes one. */
    while (consumer->pending_count > 0) {
        struct stream_id id = store_stream_consumer_ids(store, consumer)[0];
        bool acked = store_stream_ack(store, group, id);
        KV_ASSERT(acked);
    }
    uint32_t target = heap_ref(store->heap, consumer);
    uint32_t *link = &group->consumers_ref;
    /* Bounded by the consumer count. */
    while (*link != target) {
        KV_ASSERT(*link != HEAP_REF_NONE);
        link = &consumer_at(store, *link)->next_ref;
    }
    *link = consumer->next_ref;
    KV_ASSERT(group->consumer_count > 0);
    group->consumer_count--;
    consumer_release(store, consumer);
    return pending;
}

static uint64_t groups_memory(const struct store *store, const struct store_stream *root)
{
    uint64_t bytes = 0;
    const struct store_stream_group *group = group_at(store, root->groups_ref);
    /* Bounded by the groups and their consumers. */
    while (group != NULL) {
        bytes += heap_usable_bytes(store->heap, group);
        if (group->pel_ref != HEAP_REF_NONE) {
            bytes += heap_usable_bytes(store->heap, store_stream_pel(store, group));
        }
        const struct store_stream_consumer *consumer = consumer_at(store, group->consumers_ref);
        while (consumer != NULL) {
            bytes += heap_usable_bytes(store->heap, consumer);
            if (consumer->ids_ref != HEAP_REF_NONE) {
                bytes += heap_usable_bytes(store->heap, store_stream_consumer_ids(store, consumer));
            }
            consumer = consumer_at(store, consumer->next_ref);
        }
        group = group_at(store, group->next_ref);
    }
    return bytes;
}

static uint64_t groups_verify(const struct store *store, const struct store_stream *root)
{
    uint64_t allocations = 0;
    uint32_t groups = 0;
    const struct store_stream_group *group = group_at(store, root->groups_ref);
    const struct store_stream_group *previous = NULL;
    /* Bounded by the groups, their consumers and PELs. */
    while (group != NULL) {
        groups++;
        allocations++;
        KV_ASSERT(previous == NULL || name_compare(store_stream_group_name(previous),
                                                   store_stream_group_name(group)) < 0);
        KV_ASSERT(group->entries_read >= -1);
        const struct store_stream_nack *pel = store_stream_pel(store, group);
        KV_ASSERT((pel == NULL) == (group->pel_count == 0));
        allocations += pel != NULL ? 1u : 0u;
        for (uint32_t at = 0; at < group->pel_count; at++) {
            KV_ASSERT(at == 0 || stream_id_compare(pel[at - 1].id, pel[at].id) < 0);
            KV_ASSERT(pel[at].delivery_count >= 1 || pel[at].delivery_count == 0);
            const struct store_stream_consumer *owner = consumer_at(store, pel[at].consumer_ref);
            KV_ASSERT(owner != NULL);
            KV_ASSERT(store_stream_consumer_find(store, group, store_stream_consumer_name(owner)) ==
                      owner);
            const struct stream_id *ids = store_stream_consumer_ids(store, owner);
            uint32_t found = ids_seek(ids, owner->pending_count, pel[at].id);
            KV_ASSERT(found < owner->pending_count &&
                      stream_id_compare(ids[found], pel[at].id) == 0);
        }
        uint64_t pending = 0;
        uint32_t consumers = 0;
        const struct store_stream_consumer *consumer = consumer_at(store, group->consumers_ref);
        const struct store_stream_consumer *before = NULL;
        while (consumer != NULL) {
            consumers++;
            allocations++;
            KV_ASSERT(before == NULL || name_compare(store_stream_consumer_name(before),
                                                     store_stream_consumer_name(consumer)) < 0);
            KV_ASSERT((consumer->ids_ref == HEAP_REF_NONE) == (consumer->pending_count == 0));
            allocations += consumer->ids_ref != HEAP_REF_NONE ? 1u : 0u;
            pending += consumer->pending_count;
            before = consumer;
            consumer = consumer_at(store, consumer->next_ref);
        }
        KV_ASSERT(consumers == group->consumer_count);
        KV_ASSERT(pending == group->pel_count);
        previous = group;
        group = group_at(store, group->next_ref);
    }
    KV_ASSERT(groups == root->group_count);
    return allocations;
}
