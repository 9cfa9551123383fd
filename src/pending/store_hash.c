/*
 * Hashes (the Redis hash type; the hash function is hashfn.c): a key's fields and values as a
 * chain of nodes in insertion order (as Redis keeps a small hash), each node holding a field
 * slot (key_size_max bytes) and a value slot (val_size_max bytes). Invariants: a hash holds
 * 1 .. list_length_max fields, all distinct (the key goes with its last field). A field is
 * found by a walk bounded by the hash's count. A write checks every limit before it changes
 * anything; the pools hold list_length_max fields and values for every key, so a checked
 * write cannot run out. Writes take the record of the key's find: creating the key reuses
 * its hash, removing it its table slot. No allocation, no I/O.
 */
#include "store_hash.h"

#include "store_internal.h"

static void hash_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    store_nodes_release(store, &key->list);
}

static void hash_verify(const struct store *store, uint32_t key_index,
                        struct store_usage *usage)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    KV_ASSERT(key->list.count > 0);
    KV_ASSERT(key->list.count <= store->list_length_max);
    list_verify(&store->nodes, &key->list);
    uint32_t node_index = key->list.head;
    /* Bounded by the hash's count: list_verify checked the chain. */
    for (uint32_t step = 0; step < key->list.count; step++) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        KV_ASSERT(pool_is_used(&store->fields, node->field_index));
        KV_ASSERT(pool_is_used(&store->values, node->value_index));
        node_index = node->next;
    }
    usage->values_count += key->list.count;
    usage->fields_count += key->list.count;
    usage->nodes_count += key->list.count;
}

static const struct store_type_ops hash_ops = {
    .name = "hash",
    .release = hash_release,
    .verify = hash_verify,
};

void store_hash_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_HASH, &hash_ops);
    KV_ASSERT(store->types[STORE_TYPE_HASH] == &hash_ops);
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
static bool pair_field_new(const struct store *store, const struct store_found *found,
                           const struct slice *pairs, uint32_t index)
{
    uint32_t node_index = 0;
    if (found->exists && store_hash_field(store, found->key_index, pairs[2 * index], &node_index)) {
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
static enum store_status hash_set_check(const struct store *store, const struct store_found *found,
                                        struct slice key, const struct slice *pairs,
                                        uint32_t pair_count, uint32_t *added)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found->exists && found->type != STORE_TYPE_HASH) {
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
    uint64_t count = found->exists ? store_key(store, found->key_index)->list.count : 0;
    *added = 0;
    for (uint32_t index = 0; index < pair_count; index++) {
        *added += pair_field_new(store, found, pairs, index) ? 1 : 0;
    }
    if (count + *added > store->list_length_max) {
        return STORE_HASH_FULL;
    }
    if (!found->exists && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

/* Sets one checked pair on a live hash: a new node, or the field's value in place. */
static void hash_pair_put(struct store *store, uint32_t key_index, struct slice field,
                          struct slice value, bool only_new)
{
    struct store_key *slot = store_key(store, key_index);
    uint32_t node_index = 0;
    if (store_hash_field(store, key_index, field, &node_index)) {
        if (!only_new) {
            store_value_write(store, list_node(&store->nodes, node_index)->value_index, value);
        }
        return;
    }
    KV_ASSERT(slot->list.count < store->list_length_max);
    list_push_tail(&store->nodes, &slot->list, store_value_acquire(store, value));
    list_node(&store->nodes, slot->list.tail)->field_index = store_field_acquire(store, field);
}

enum store_status store_hash_set(struct store *store, const struct store_found *found,
                                 struct slice key, const struct slice *pairs, uint32_t pair_count,
                                 bool only_new, uint32_t *added)
{
    KV_ASSERT(pair_count > 0);
    enum store_status status = hash_set_check(store, found, key, pairs, pair_count, added);
    if (status != STORE_OK || (only_new && *added == 0)) {
        return status;
    }
    uint32_t key_index = found->key_index;
    if (found->exists) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, found->hash, STORE_TYPE_HASH);
    }
    /* Bounded by the pairs; each field lookup by the hash's count. */
    for (uint32_t index = 0; index < pair_count; index++) {
        hash_pair_put(store, key_index, pairs[2 * index], pairs[2 * index + 1], only_new);
    }
    KV_ASSERT(store_key(store, key_index)->list.count > 0);
    KV_ASSERT(store_key(store, key_index)->list.count <= store->list_length_max);
    return STORE_OK;
}

uint32_t store_hash_delete(struct store *store, const struct store_found *found,
                           const struct slice *fields, uint32_t field_count)
{
    KV_ASSERT(found->exists);
    struct store_key *key = store_key(store, found->key_index);
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    uint32_t removed = 0;
    store_modified(store, found->key_index);
    /* Bounded by the fields named; stops when the hash empties. */
    for (uint32_t index = 0; index < field_count && key->list.count > 0; index++) {
        uint32_t node_index = 0;
        if (!store_hash_field(store, found->key_index, fields[index], &node_index)) {
            continue;
        }
        uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
        pool_release(&store->values, list_remove(&store->nodes, &key->list, node_index));
        pool_release(&store->fields, field_index);
        removed++;
    }
    if (key->list.count == 0) {
        store_remove(store, found);
    }
    return removed;
}
