/*
 * Lists in the store: a list key owns a chain of nodes (list.h), each holding one value slot,
 * never empty (the key goes with its last element, as in Redis). Writes to a key found with
 * store_find_typed take its record (struct store_found), so a write that empties the list
 * removes the key without probing the table again; node indexes come from walking the list
 * (list_node_at, list_node). Every limit is checked before anything changes.
 */
#ifndef KV_STORE_LIST_H
#define KV_STORE_LIST_H

#include "store.h"

/* Registers the list type with the store (once, after store_init). */
void store_list_init(struct store *store);

/* LPUSH/RPUSH at the key found (a list, absent, or another type: STORE_WRONGTYPE): all
 * values or none. Checks first, in kv's order: KEY_TOO_LONG (a new key), WRONGTYPE,
 * VALUE_TOO_LONG, LIST_FULL, FULL. *length_after is the list's new length. */
KV_MUST_USE enum store_status store_list_push(struct store *store, const struct store_found *found,
                                              struct slice key, const struct slice *values,
                                              uint32_t value_count, bool at_head,
                                              uint32_t *length_after);

/* Pops one value from the list found; the key goes when the list empties (as Redis does),
 * after which found no longer names a key. */
void store_list_pop(struct store *store, const struct store_found *found, bool at_head);

/* LSET: the value at a node becomes `value` (at most val_size_max). */
void store_list_set(struct store *store, uint32_t key_index, uint32_t node_index,
                    struct slice value);

/* LREM: removes up to |count| nodes equal to value (from the tail when count < 0, all when
 * 0); returns how many. The key goes when the list empties. */
uint32_t store_list_remove_value(struct store *store, const struct store_found *found,
                                 int64_t count, struct slice value);

/* LTRIM: keeps `kept` nodes from position `start` and drops the rest; the key goes when
 * none are kept. */
void store_list_trim(struct store *store, const struct store_found *found, uint32_t start,
                     uint32_t kept);

/* LINSERT: inserts value before or after a node; the list is below list_length_max and the
 * value within val_size_max. */
void store_list_insert(struct store *store, uint32_t key_index, uint32_t node_index, bool before,
                       struct slice value);

/* LMOVE: moves the value at one end of the list found (`source`) to one end of
 * `destination` (which may be the same key), creating it if absent. Checks first:
 * WRONGTYPE, LIST_FULL, KEY_TOO_LONG, FULL, and changes nothing then. *value_index is the
 * moved value's slot. */
KV_MUST_USE enum store_status store_list_move(struct store *store, const struct store_found *source,
                                              struct slice destination, bool from_head,
                                              bool to_head, uint32_t *value_index);

#endif
