/*
 * Hashes: a key's fields and values as a list of nodes in insertion order (as Redis keeps a
 * small hash), each node holding a field slot (key_size_max bytes) and a value slot
 * (val_size_max bytes). A field is found by a walk bounded by the hash's count, at most
 * list_length_max. A write checks every limit before it changes anything; the pools hold
 * list_length_max fields and values for every key, so a checked write cannot run out.
 */
#include <string.h>

#include "store.h"
#include "store_internal.h"

struct slice store_field(const struct store *store, uint32_t field_index)
{
    KV_ASSERT(pool_is_used(&store->fields, field_index));
    const struct store_value *field = pool_slot(&store->fields, field_index);
    KV_ASSERT(field->length <= store->key_size_max);
    return (struct slice){.bytes = (const uint8_t *)(field + 1), .length = field->length};
}

enum store_status store_find_hash(struct store *store, struct slice key, uint32_t *key_index)
{
    if (!store_find(store, key, key_index)) {
        return STORE_NOT_FOUND;
    }
    return store_key(store, *key_index)->type == STORE_TYPE_HASH ? STORE_OK : STORE_WRONGTYPE;
}

bool store_hash_field(const struct store *store, uint32_t key_index, struct slice field,
                      uint32_t *node_index)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    uint32_t at = key->list.head;
    /* Bounded by the hash's count. */
    for (uint32_t step = 0; step < key->list.count; step++) {
        const struct list_node *node = list_node(&store->nodes, at);
        if (slice_equal(store_field(store, node->field_index), field)) {
            *node_index = at;
            return true;
        }
        at = node->next;
    }
    return false;
}

/* Whether pair `index`'s field is new: not in the hash (found) and not earlier in the
 * command. The walk over earlier pairs runs only for fields the hash lacks. */
static bool pair_field_new(const struct store *store, bool found, uint32_t key_index,
                           const struct slice *pairs, uint32_t index)
{
    uint32_t node_index = 0;
    if (found && store_hash_field(store, key_index, pairs[2 * index], &node_index)) {
        return false;
    }
    for (uint32_t earlier = 0; earlier < index; earlier++) {
        if (slice_equal(pairs[2 * earlier], pairs[2 * index])) {
            return false;
        }
    }
    return true;
}

/* Every check of a hash write, before anything changes; *added counts the new fields. */
static enum store_status hash_set_check(const struct store *store, struct slice key, bool found,
                                        uint32_t key_index, const struct slice *pairs,
                                        uint32_t pair_count, uint32_t *added)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found && store_key(store, key_index)->type != STORE_TYPE_HASH) {
        return STORE_WRONGTYPE;
    }
    for (uint32_t index = 0; index < pair_count; index++) {
        if (pairs[2 * index].length > store->key_size_max) {
            return STORE_FIELD_TOO_LONG;
        }
        if (pairs[2 * index + 1].length > store->val_size_max) {
            return STORE_VALUE_TOO_LONG;
        }
    }
    uint64_t count = found ? store_key(store, key_index)->list.count : 0;
    *added = 0;
    for (uint32_t index = 0; index < pair_count; index++) {
        *added += pair_field_new(store, found, key_index, pairs, index) ? 1 : 0;
    }
    if (count + *added > store->list_length_max) {
        return STORE_HASH_FULL;
    }
    if (!found && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_hash_set(struct store *store, struct slice key, const struct slice *pairs,
                                 uint32_t pair_count, bool only_new, uint32_t *added)
{
    KV_ASSERT(pair_count > 0);
    uint32_t key_index = 0;
    bool found = store_find(store, key, &key_index);
    enum store_status status =
        hash_set_check(store, key, found, key_index, pairs, pair_count, added);
    if (status != STORE_OK || (only_new && *added == 0)) {
        return status;
    }
    if (found) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, store_key_hash(store, key), STORE_TYPE_HASH);
    }
    struct store_key *slot = store_key(store, key_index);
    /* Bounded by the pairs; each field lookup by the hash's count. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice field = pairs[2 * index];
        struct slice value = pairs[2 * index + 1];
        uint32_t node_index = 0;
        if (store_hash_field(store, key_index, field, &node_index)) {
            if (!only_new) {
                store_value_write(store, list_node(&store->nodes, node_index)->value_index, value);
            }
            continue;
        }
        list_push_tail(&store->nodes, &slot->list, store_value_acquire(store, value));
        uint32_t field_index = 0;
        bool acquired = pool_acquire(&store->fields, &field_index);
        KV_ASSERT(acquired); /* sized for every key's maximal hash */
        struct store_value *bytes = pool_slot(&store->fields, field_index);
        bytes->length = field.length;
        if (field.length > 0) {
            memcpy(bytes + 1, field.bytes, field.length);
        }
        list_node(&store->nodes, slot->list.tail)->field_index = field_index;
    }
    KV_ASSERT(slot->list.count <= store->list_length_max);
    return STORE_OK;
}

uint32_t store_hash_delete(struct store *store, uint32_t key_index, const struct slice *fields,
                           uint32_t field_count)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    uint32_t removed = 0;
    store_modified(store, key_index);
    for (uint32_t index = 0; index < field_count && key->list.count > 0; index++) {
        uint32_t node_index = 0;
        if (!store_hash_field(store, key_index, fields[index], &node_index)) {
            continue;
        }
        uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
        pool_release(&store->values, list_remove(&store->nodes, &key->list, node_index));
        pool_release(&store->fields, field_index);
        removed++;
    }
    if (key->list.count == 0) {
        store_remove(store, key_index);
    }
    return removed;
}
