/*
 * Sets in the store: a key's members as a chain of nodes, each holding a field slot and no
 * value slot, found by a walk bounded by the set's count (at most list_length_max). Writes
 * check every limit before they change anything. The STORE forms (SINTERSTORE and the like)
 * build their result in a detached list from the pools' spare list_length_max nodes and
 * fields, then put it in place of the destination.
 */
#ifndef KV_STORE_SET_H
#define KV_STORE_SET_H

#include "store.h"

/* Registers the set type with the store (once, after store_init). */
void store_set_init(struct store *store);

/* The node holding `member` in a live set key, or false. */
KV_MUST_USE bool store_set_member(const struct store *store, uint32_t key_index,
                                  struct slice member, uint32_t *node_index);

/* SADD at the key found (a set, absent, or another type: STORE_WRONGTYPE): checks
 * everything first (key length, type, member lengths, room for the new members and for a
 * new key) and changes nothing when one fails. *added: members that were new. */
KV_MUST_USE enum store_status store_set_add(struct store *store, const struct store_found *found,
                                            struct slice key, const struct slice *members,
                                            uint32_t count, uint32_t *added);

/* SREM, SPOP on the set found: removes the members present (or one node); the key goes with
 * its last member, after which found no longer names a key. */
uint32_t store_set_remove(struct store *store, const struct store_found *found,
                          const struct slice *members, uint32_t count);
void store_set_remove_node(struct store *store, const struct store_found *found,
                           uint32_t node_index);

/* SMOVE of a member present in the set found (`source`) to `destination`, another key, as
 * `target` found it: checks the destination (type, room, a new key) first. */
KV_MUST_USE enum store_status store_set_move(struct store *store, const struct store_found *source,
                                             uint32_t node_index, struct slice destination,
                                             const struct store_found *target);

/* Adds a member to a result being built (below list_length_max members). */
void store_set_result_add(struct store *store, struct list *result, struct slice member);

/* Replaces `destination` (as `target` found it) with the result; an empty result deletes it.
 * The caller checked the key's length and room. */
void store_set_result_store(struct store *store, const struct store_found *target,
                            struct slice destination, struct list *result);

#endif
