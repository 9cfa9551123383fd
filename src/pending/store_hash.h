/*
 * Hashes in the store (the Redis hash type; the hash function is hashfn.h): a key's fields
 * and values as a chain of nodes in insertion order, as Redis keeps a small hash, each node
 * holding a field slot and a value slot. A field is found by a walk bounded by the hash's
 * count, at most list_length_max. Writes check every limit before they change anything.
 */
#ifndef KV_STORE_HASH_H
#define KV_STORE_HASH_H

#include "store.h"

/* Registers the hash type with the store (once, after store_init). */
void store_hash_init(struct store *store);

/* The node holding `field` in a live hash key, or false. */
KV_MUST_USE bool store_hash_field(const struct store *store, uint32_t key_index, struct slice field,
                                  uint32_t *node_index);

/* HSET/HMSET/HSETNX at the key found (a hash, absent, or another type: STORE_WRONGTYPE):
 * pairs[0..2*pair_count) are field, value, field, value...; a repeated field takes its last
 * value. Checks everything first (key length, type, field and value lengths, room for the
 * new fields and for a new key) and changes nothing when one fails. With `only_new`,
 * existing fields keep their values. *added: fields that did not exist. */
KV_MUST_USE enum store_status store_hash_set(struct store *store, const struct store_found *found,
                                             struct slice key, const struct slice *pairs,
                                             uint32_t pair_count, bool only_new, uint32_t *added);

/* HDEL on the hash found: removes the fields present; the key goes with its last field.
 * Returns how many fields it removed. */
uint32_t store_hash_delete(struct store *store, const struct store_found *found,
                           const struct slice *fields, uint32_t field_count);

#endif
