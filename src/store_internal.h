/*
 * The store's building blocks, shared by the store_*.c files that implement one family of
 * writes each (strings, keys, lists). Not for commands: they use store.h. Every function
 * here keeps the store's invariants (store.c) given its stated preconditions; a write that
 * keeps a key calls store_modified before changing it, and key_insert/key_remove tell
 * watchers themselves.
 */
#ifndef KV_STORE_INTERNAL_H
#define KV_STORE_INTERNAL_H

#include "store.h"

/* The bytes after a key slot's head. */
static inline uint8_t *store_key_bytes(struct store_key *key)
{
    return (uint8_t *)(key + 1);
}

/* Finds a key whether or not its time has passed, with its table slot (no expiry). */
KV_MUST_USE bool store_find_slot(const struct store *store, struct slice key, uint32_t hash,
                                 uint32_t *key_index, uint32_t *table_slot);

/* Whether a key's time has passed by the store's clock. */
static inline bool store_key_expired(const struct store *store, const struct store_key *key)
{
    return key->expire_at_ms != 0 && key->expire_at_ms <= store->now_ms;
}

/* A list or sorted set key gained members: tells the ready hook (blocked clients). */
static inline void store_ready(struct store *store, uint32_t key_index)
{
    if (store->ready != NULL) {
        const struct store_key *key = store_key(store, key_index);
        store->ready(store->ready_context, key->hash, store_key_name(store, key_index));
    }
}

/* Room for one more key (a free key slot). */
static inline bool store_key_room(const struct store *store)
{
    return store->keys.free_count > 0;
}

/* Takes a key slot for an absent key (store_key_room checked) and enters it in the table. */
uint32_t store_key_insert(struct store *store, struct slice key, uint32_t hash, uint8_t type);

/* Removes a key at its table slot: its value, its expiry, its slot. */
void store_key_remove(struct store *store, uint32_t key_index, uint32_t table_slot);

/* Takes a value slot (cannot fail within the limits) and writes bytes into it. */
uint32_t store_value_acquire(struct store *store, struct slice bytes);

/* Overwrites a value slot's bytes (at most val_size_max). */
void store_value_write(struct store *store, uint32_t value_index, struct slice bytes);

/* A value slot's bytes for writing in place: val_size_max bytes of room; *length is its
 * length, which the caller may change (at most val_size_max). */
uint8_t *store_value_bytes(struct store *store, uint32_t value_index, uint32_t **length);

/* Gives back every member of a sorted set (its field slot, znode and table entry). */
void store_zset_release_all(struct store *store, struct store_key *key);

/* Gives back every node of a collection with its value and field slots. */
void store_members_release(struct store *store, struct list *list);

/* Gives back everything a key's value holds, leaving the key slot itself. */
void store_value_release_all(struct store *store, struct store_key *key);

#endif
