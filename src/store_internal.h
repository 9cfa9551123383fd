/*
 * The store's building blocks, for the store_*.c files only: commands use store.h and the
 * store_<type>.h headers, never this one. The core (store.c) implements everything declared
 * here; the type files call it, and the core calls a type only through the operations table
 * the type registers, so dependencies point one way: store_<type>.c -> store.c. Every
 * function keeps the store's invariants (store.c) given its stated preconditions; a write
 * that keeps a key calls store_modified before changing it, and store_key_insert and the
 * removals tell watchers themselves.
 */
#ifndef KV_STORE_INTERNAL_H
#define KV_STORE_INTERNAL_H

#include "store.h"

/* The bytes after a key slot's head. */
static inline uint8_t *store_key_bytes(struct store_key *key)
{
    return (uint8_t *)(key + 1);
}

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

/* Registers a type's operations (once, from store_<type>_init, before any key of it). */
void store_type_register(struct store *store, uint8_t type, const struct store_type_ops *ops);

/* Takes a key slot for an absent key (store_key_room checked; `hash` from the miss's
 * store_found) and enters it in the table, with an empty value of `type`. */
uint32_t store_key_insert(struct store *store, struct slice key, uint32_t hash, uint8_t type);

/* Gives back everything a key's value holds (its type's release), leaving the key slot with
 * an empty list and no value: the key is about to take a value of another type. */
void store_value_release_all(struct store *store, struct store_key *key);

/* Takes a value slot (cannot fail within the limits) and writes bytes into it. */
uint32_t store_value_acquire(struct store *store, struct slice bytes);

/* Overwrites a value slot's bytes (at most val_size_max). */
void store_value_write(struct store *store, uint32_t value_index, struct slice bytes);

/* A value slot's bytes for writing in place: val_size_max bytes of room; *length is its
 * length, which the caller may change (at most val_size_max). Strings only (store_string.c). */
uint8_t *store_value_bytes(struct store *store, uint32_t value_index, uint32_t **length);

/* Takes a field slot (cannot fail within the limits) and writes bytes (at most key_size_max)
 * into it: a hash field, a set or sorted-set member. */
uint32_t store_field_acquire(struct store *store, struct slice bytes);

/* Gives back every node of a collection (list, hash, set) with the value and field slots its
 * nodes hold, leaving the list empty. */
void store_nodes_release(struct store *store, struct list *list);

#endif
