/*
 * Sorted sets in the store: each member a field slot (its bytes) and a znode (its score and
 * place in the key's treap, zset.h), ordered by (score, member) and found in O(1) through the
 * zmembers table keyed by (owner key slot, member). A key's treap root and size live in its
 * list head and count. Writes assume their limits were checked (store_zset_room).
 */
#ifndef KV_STORE_ZSET_H
#define KV_STORE_ZSET_H

#include "store.h"

/* Registers the sorted-set type with the store and sets up the treap's context (once, after
 * store_init). */
void store_zset_init(struct store *store);

/* A live sorted set's treap view (root and count). */
struct zset store_zset_view(const struct store *store, uint32_t key_index);

/* The znode of a member in a live sorted set, or false. */
KV_MUST_USE bool store_zset_member(const struct store *store, uint32_t key_index,
                                   struct slice member, uint32_t *node_index);

/* The bytes of a znode's member. */
struct slice store_zset_member_bytes(const struct store *store, uint32_t node_index);

/* Whether a ZADD may add `added` new members to the key found (a sorted set or absent):
 * kv's limits, in its order: KEY_TOO_LONG (a new key), ZSET_FULL, FULL. */
KV_MUST_USE enum store_status store_zset_room(const struct store *store,
                                              const struct store_found *found, struct slice key,
                                              uint32_t added);

/* Creates the absent key found as an empty sorted set (store_zset_room checked); returns its
 * key slot. The caller adds at least one member before the command ends. */
uint32_t store_zset_create(struct store *store, const struct store_found *found, struct slice key);

/* Adds a new member (length checked, room checked) or moves an existing node to a score. */
void store_zset_insert(struct store *store, uint32_t key_index, struct slice member, double score);
void store_zset_rescore(struct store *store, uint32_t key_index, uint32_t node_index, double score);

/* Removes a member's node from the sorted set found; the key goes with its last member,
 * after which found no longer names a key. */
void store_zset_remove_node(struct store *store, const struct store_found *found,
                            uint32_t node_index);

#endif
