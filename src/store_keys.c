/*
 * Keyspace-wide operations of the store: renaming a key in place, and walking the table by
 * slot for SCAN, KEYS and RANDOMKEY. A rename keeps the key slot, its value and its expiry
 * time; only the name, the hash and the table entry change, so it needs no pool slot and
 * cannot fail once the name's length is checked.
 */
#include <string.h>

#include "store.h"
#include "store_internal.h"

void store_rename(struct store *store, uint32_t key_index, struct slice new_key)
{
    KV_ASSERT(new_key.length <= store->key_size_max);
    uint32_t probe_index = 0;
    uint32_t new_hash = store_key_hash(store, new_key);
    uint32_t unused_slot = 0;
    KV_ASSERT(!store_find_slot(store, new_key, new_hash, &probe_index, &unused_slot));
    store_modified(store, key_index);
    if (store->touched != NULL) {
        store->touched(store->touched_context, new_hash, new_key);
    }
    struct store_key *key = store_key(store, key_index);
    uint32_t table_slot = 0;
    bool found = store_find_slot(store, store_key_name(store, key_index), key->hash,
                                 &probe_index, &table_slot);
    KV_ASSERT(found && probe_index == key_index);
    table_remove_at(&store->table, table_slot);
    key->hash = new_hash;
    key->key_bytes = new_key.length;
    if (new_key.length > 0) {
        memmove(store_key_bytes(key), new_key.bytes, new_key.length);
    }
    table_insert(&store->table, new_hash, key_index);
    store_ready(store, key_index); /* the new name may be a key a client waits on */
}

bool store_peek(const struct store *store, struct slice key, uint32_t *key_index)
{
    uint32_t table_slot = 0;
    return key.length <= store->key_size_max &&
           store_find_slot(store, key, store_key_hash(store, key), key_index, &table_slot);
}

bool store_key_at(const struct store *store, uint32_t table_slot, uint32_t *key_index)
{
    KV_ASSERT(table_slot < store->table.capacity);
    return table_value_at(&store->table, table_slot, key_index) &&
           !store_key_expired(store, store_key(store, *key_index));
}

bool store_slot_empty(const struct store *store, uint32_t table_slot)
{
    uint32_t key_index = 0;
    KV_ASSERT(table_slot < store->table.capacity);
    return !table_value_at(&store->table, table_slot, &key_index);
}
