/*
 * Strings: a string key owns exactly one value slot (val_size_max bytes) and an empty list.
 * This file holds every write of a string's bytes (SET and its forms, APPEND, SETRANGE, the
 * results of INCR and INCRBYFLOAT) and the type's operations for the core. Each write takes
 * the record of the find that preceded it, so the key is probed once per command: creating
 * reuses its hash, replacing and removing its slot and table entry. Writes change nothing
 * until the caller has checked every limit, and then cannot fail (a value slot is always
 * free for a key within the limits). No allocation, no I/O.
 */
#include "store_string.h"

#include <string.h>

#include "store_internal.h"

static void string_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->type == STORE_TYPE_STRING);
    KV_ASSERT(key->list.count == 0);
    pool_release(&store->values, key->value_index);
}

static void string_verify(const struct store *store, uint32_t key_index,
                          struct store_usage *usage)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_STRING);
    KV_ASSERT(key->list.count == 0);
    KV_ASSERT(pool_is_used(&store->values, key->value_index));
    KV_ASSERT(store_value(store, key->value_index).length <= store->val_size_max);
    usage->values_count++;
}

static const struct store_type_ops string_ops = {
    .name = "string",
    .release = string_release,
    .verify = string_verify,
};

void store_string_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_STRING, &string_ops);
    KV_ASSERT(store->types[STORE_TYPE_STRING] == &string_ops);
}

struct slice store_string_value(const struct store *store, uint32_t key_index)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_STRING);
    return store_value(store, key->value_index);
}

enum store_status store_string_check(const struct store *store, const struct store_found *found,
                                     struct slice key, struct slice value)
{
    if (value.length > store->val_size_max) {
        return STORE_VALUE_TOO_LONG;
    }
    if (found->exists) {
        return STORE_OK;
    }
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    return store_key_room(store) ? STORE_OK : STORE_FULL;
}

/* Creates an absent key (its limits checked) holding `value`; returns its key slot. */
static uint32_t string_create(struct store *store, const struct store_found *found,
                              struct slice key, struct slice value)
{
    KV_ASSERT(!found->exists);
    KV_ASSERT(store_key_room(store));
    uint32_t key_index = store_key_insert(store, key, found->hash, STORE_TYPE_STRING);
    store_key(store, key_index)->value_index = store_value_acquire(store, value);
    return key_index;
}

/* A live key of any type becomes a string holding `value`; its expiry time stays. */
static void string_replace(struct store *store, uint32_t key_index, struct slice value)
{
    struct store_key *slot = store_key(store, key_index);
    store_modified(store, key_index);
    if (slot->type == STORE_TYPE_STRING) {
        store_value_write(store, slot->value_index, value);
        return;
    }
    store_value_release_all(store, slot);
    slot->type = STORE_TYPE_STRING;
    slot->value_index = store_value_acquire(store, value);
    KV_ASSERT(slot->list.count == 0);
}

void store_string_put(struct store *store, const struct store_found *found, struct slice key,
                      struct slice value, int64_t at_ms, bool keep_ttl)
{
    KV_ASSERT(value.length <= store->val_size_max);
    KV_ASSERT(at_ms >= 0);
    if (found->exists) {
        string_replace(store, found->key_index, value);
        if (!keep_ttl) {
            (void)store_expire_set(store, found, at_ms); /* a past time removes the key */
        }
        return;
    }
    /* The key is new: where the find's probe ended is where its entry now is, unless the
     * find removed an expired key on the way (the core checks the hint). */
    struct store_found created = *found;
    created.key_index = string_create(store, found, key, value);
    created.type = STORE_TYPE_STRING;
    created.exists = true;
    if (!keep_ttl && at_ms != 0) {
        (void)store_expire_set(store, &created, at_ms);
    }
}

uint32_t store_string_splice(struct store *store, const struct store_found *found,
                             struct slice key, uint64_t offset, struct slice bytes)
{
    KV_ASSERT(offset + bytes.length <= store->val_size_max);
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_STRING);
    static const struct slice empty = {.bytes = NULL, .length = 0};
    uint32_t key_index = found->exists ? found->key_index : string_create(store, found, key, empty);
    store_modified(store, key_index);
    uint32_t *length = NULL;
    uint8_t *value = store_value_bytes(store, store_key(store, key_index)->value_index, &length);
    if (offset > *length) {
        memset(value + *length, 0, offset - *length);
    }
    if (bytes.length > 0) {
        memcpy(value + offset, bytes.bytes, bytes.length);
    }
    uint64_t end = offset + bytes.length;
    *length = end > *length ? (uint32_t)end : *length;
    KV_ASSERT(*length <= store->val_size_max);
    return *length;
}

enum store_status store_string_set(struct store *store, struct slice key, struct slice value)
{
    struct store_found found;
    store_find_typed(store, key, STORE_TYPE_ANY, &found);
    enum store_status status = store_string_check(store, &found, key, value);
    if (status != STORE_OK) {
        return status;
    }
    store_string_put(store, &found, key, value, 0, false);
    KV_ASSERT(store_key_count(store) > 0);
    return STORE_OK;
}

enum store_status store_string_get(struct store *store, struct slice key, struct slice *value)
{
    struct store_found found;
    enum store_status status = store_find_typed(store, key, STORE_TYPE_STRING, &found);
    if (status == STORE_OK) {
        *value = store_string_value(store, found.key_index);
    }
    return status;
}
