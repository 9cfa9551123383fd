/*
 * Lists in the store, on the heap. A list key's value is a separate allocation, in one of two
 * encodings (the key object's encoding field says which):
 *
 *   STORE_ENCODING_RAW   a small list: ONE backward pack (pack.h) holding every element in
 *                        order, at most STORE_LIST_PACK_BYTES_MAX bytes.
 *   STORE_ENCODING_ROOT  a big list (Redis's quicklist): a root holding the head and tail of a
 *                        doubly linked chain of nodes, the element count and the node count;
 *                        each node is a small header (links, its pack, its count) and a
 *                        backward pack of at most STORE_LIST_PACK_BYTES_MAX bytes, or of one
 *                        element of any size.
 *
 * A small list becomes big when a write would take its pack past STORE_LIST_PACK_BYTES_MAX
 * (Redis's list-max-listpack-size -2: 8 KiB); a big list becomes small again when a delete
 * leaves it in one node of at most STORE_LIST_PACK_BYTES_LOW bytes, half the limit (two such
 * nodes are merged first), so that a push and a pop at the boundary do not convert every
 * time. LREM merges neighbouring nodes that fit one pack. A list is never empty: the key goes
 * with its last element, as in Redis.
 *
 * Memory: an element of up to 127 bytes takes its bytes plus 2 (a length varint at each end
 * of its entry), up to 16383 bytes plus 4; a small list adds its pack's 8-byte header and
 * its heap class's rounding; a big list adds a 16-byte root, and per node a 16-byte header
 * and a pack header.
 *
 * Reads go through a cursor (an element's place: node, pack, offset), valid until the store
 * next changes. Writes take the record store_find_typed gave (struct store_found), so a write
 * that empties the list removes the key without probing the keyspace again; each takes all
 * the memory it needs before it changes anything and answers STORE_OOM, having changed
 * nothing, when the heap has no room. Deletes never fail. Pushes tell blocked clients
 * (store_ready) after adding.
 */
#ifndef KV_STORE_LIST_H
#define KV_STORE_LIST_H

#include "pack.h"
#include "store.h"

/* The largest pack of a small list, and of a node holding two elements or more: Redis's
 * list-max-listpack-size -2. */
#define STORE_LIST_PACK_BYTES_MAX 8192u

/* A big list down to one node this small becomes a small list again (half the limit: the
 * hysteresis between the two conversions). */
#define STORE_LIST_PACK_BYTES_LOW (STORE_LIST_PACK_BYTES_MAX / 2u)

/* An element's place, for reads: valid until the store next changes. */
struct store_list_cursor {
    uint32_t node_ref;  /* the element's node in a big list; HEAP_REF_NONE in a small one */
    uint32_t pack_ref;  /* the pack holding the element */
    uint32_t offset;    /* the element's offset in that pack; PACK_OFFSET_NONE: past an end */
};

/* Registers the list type with the store (once, after store_init). */
void store_list_init(struct store *store);

/* ---- Reading (a live list key; nothing changes) ---- */

/* Elements in the list (at least 1). */
uint32_t store_list_length(const struct store *store, uint32_t key_ref);

/* Nodes of a big list; 0 for a small one (tests, MEMORY). */
uint32_t store_list_node_count(const struct store *store, uint32_t key_ref);

/* The element at one end. */
struct slice store_list_end(const struct store *store, uint32_t key_ref, bool at_head);

/* A cursor on element `index` (< length): walks from the nearer end, skipping whole nodes by
 * their counts, then inside one pack. */
void store_list_seek(const struct store *store, uint32_t key_ref, uint32_t index,
                     struct store_list_cursor *cursor);

/* Moves the cursor one element toward the tail (next) or the head (prev); false, the cursor
 * past the end, when there is none. */
bool store_list_next(const struct store *store, struct store_list_cursor *cursor);
bool store_list_prev(const struct store *store, struct store_list_cursor *cursor);

/* The element under a cursor (not past an end). */
struct slice store_list_value(const struct store *store, const struct store_list_cursor *cursor);

/* A cursor on the first element equal to `value`, from the head; false when there is none. */
bool store_list_find(const struct store *store, uint32_t key_ref, struct slice value,
                     struct store_list_cursor *cursor);

/* ---- Writing ---- */

/* LPUSH/RPUSH at the key found (a list, absent, or another type: STORE_WRONGTYPE): all
 * values or none. Checks first, in kv's order: KEY_TOO_LONG (a new key), WRONGTYPE,
 * VALUE_TOO_LONG, LIST_FULL, FULL; then STORE_OOM when the heap cannot hold them. A new key
 * is created (*found then names it). *length_after is the list's new length. */
KV_MUST_USE enum store_status store_list_push(struct store *store, struct store_found *found,
                                              struct slice key, const struct slice *values,
                                              uint32_t value_count, bool at_head,
                                              uint32_t *length_after);

/* Pops one element from the list found; the key goes when the list empties (as Redis does),
 * after which found names no key. Never fails. */
void store_list_pop(struct store *store, struct store_found *found, bool at_head);

/* LSET: element `index` (< length) becomes `value` (at most the value cap). STORE_OOM when
 * the heap cannot hold it, and then nothing changed. */
KV_MUST_USE enum store_status store_list_set(struct store *store, struct store_found *found,
                                             uint32_t index, struct slice value);

/* LINSERT: inserts `value` before or after the element under `cursor` (from
 * store_list_find, nothing changed since); the list is below the length cap and the value
 * within the value cap. STORE_OOM changes nothing. */
KV_MUST_USE enum store_status store_list_insert(struct store *store, struct store_found *found,
                                                const struct store_list_cursor *cursor,
                                                bool before, struct slice value);

/* LREM: removes up to |count| elements equal to value (from the tail when count < 0, all
 * when 0); returns how many. The key goes when the list empties. Never fails. */
uint32_t store_list_remove_value(struct store *store, struct store_found *found, int64_t count,
                                 struct slice value);

/* LTRIM: keeps `kept` elements from position `start` and drops the rest; the key goes when
 * none are kept. Never fails. */
void store_list_trim(struct store *store, struct store_found *found, uint32_t start,
                     uint32_t kept);

/* LMOVE: moves the element at one end of the list found (`source`) to one end of
 * `destination` (which may be the same key), creating it if absent. Checks first:
 * WRONGTYPE, LIST_FULL, KEY_TOO_LONG, FULL, then STORE_OOM, and changes nothing then.
 * *moved is the moved element where it now is (valid until the store next changes). */
KV_MUST_USE enum store_status store_list_move(struct store *store, struct store_found *source,
                                              struct slice destination, bool from_head,
                                              bool to_head, struct slice *moved);


/* The most heap bytes (usable sizes, so class rounding included) a value of `count`
 * elements of up to `element_bytes` each (and `field_bytes`, for a field or member) can take
 * in its worst encoding and fill, its share of table buckets included; `kv --plan` sums it
 * into the budget that guarantees the caps. */
uint64_t store_list_bound_bytes(uint64_t count, uint64_t element_bytes);

#endif
