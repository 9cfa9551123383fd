/*
 * Lists: a list key owns a chain of nodes from the node pool, each holding one value slot
 * and no field slot. Invariants: a list holds 1 .. list_length_max nodes (the key goes with
 * its last one, as in Redis); its chain is sound (list_verify). Every write here: LPUSH and
 * RPUSH, the pops, LSET, LREM, LTRIM, LINSERT and LMOVE. Each takes a live list whose limits
 * the command checked (or checks them itself, all before the first change), tells watchers,
 * changes the nodes, and tells blocked clients when the list gained members. A write that
 * empties the list removes the key through the record of its find, with no second probe.
 * Every walk is bounded by the list's length. No allocation, no I/O.
 */
#include "store_list.h"

#include "store_internal.h"

static void list_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->type == STORE_TYPE_LIST);
    store_nodes_release(store, &key->list);
}

static void list_type_verify(const struct store *store, uint32_t key_index,
                             struct store_usage *usage)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST);
    KV_ASSERT(key->list.count > 0);
    KV_ASSERT(key->list.count <= store->list_length_max);
    list_verify(&store->nodes, &key->list);
    uint32_t node_index = key->list.head;
    /* Bounded by the list's count: list_verify checked the chain. */
    for (uint32_t step = 0; step < key->list.count; step++) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        KV_ASSERT(node->field_index == LIST_NONE);
        KV_ASSERT(pool_is_used(&store->values, node->value_index));
        node_index = node->next;
    }
    usage->values_count += key->list.count;
    usage->nodes_count += key->list.count;
}

static const struct store_type_ops list_ops = {
    .name = "list",
    .release = list_release,
    .verify = list_type_verify,
};

void store_list_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_LIST, &list_ops);
    KV_ASSERT(store->types[STORE_TYPE_LIST] == &list_ops);
}

/* The list key found, for a write to it. */
static struct store_key *list_key(const struct store *store, const struct store_found *found)
{
    KV_ASSERT(found->exists);
    struct store_key *key = store_key(store, found->key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST);
    return key;
}

/* Removes the key if its list is empty; true if it did. */
static bool list_gone_if_empty(struct store *store, const struct store_found *found)
{
    if (list_key(store, found)->list.count > 0) {
        return false;
    }
    store_remove(store, found); /* Releases nothing more: the list is empty. */
    return true;
}

/* Every check a push needs, before anything changes. */
static enum store_status push_check(const struct store *store, const struct store_found *found,
                                    struct slice key, const struct slice *values,
                                    uint32_t value_count)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found->exists && found->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    for (uint32_t index = 0; index < value_count; index++) {
        if (values[index].length > store->val_size_max) {
            return STORE_VALUE_TOO_LONG;
        }
    }
    uint64_t count = found->exists ? store_key(store, found->key_index)->list.count : 0;
    if (count + value_count > store->list_length_max) {
        return STORE_LIST_FULL;
    }
    if (!found->exists && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_list_push(struct store *store, const struct store_found *found,
                                  struct slice key, const struct slice *values,
                                  uint32_t value_count, bool at_head, uint32_t *length_after)
{
    KV_ASSERT(value_count > 0);
    enum store_status status = push_check(store, found, key, values, value_count);
    if (status != STORE_OK) {
        return status;
    }
    uint32_t key_index = found->key_index;
    if (found->exists) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, found->hash, STORE_TYPE_LIST);
    }
    struct store_key *slot = store_key(store, key_index);
    /* Bounded by value_count, checked against list_length_max. */
    for (uint32_t index = 0; index < value_count; index++) {
        uint32_t value_index = store_value_acquire(store, values[index]);
        if (at_head) {
            list_push_head(&store->nodes, &slot->list, value_index);
        } else {
            list_push_tail(&store->nodes, &slot->list, value_index);
        }
    }
    store_ready(store, key_index);
    KV_ASSERT(slot->list.count <= store->list_length_max);
    *length_after = slot->list.count;
    return STORE_OK;
}

void store_list_pop(struct store *store, const struct store_found *found, bool at_head)
{
    struct store_key *slot = list_key(store, found);
    KV_ASSERT(slot->list.count > 0);
    if (slot->list.count == 1) {
        store_remove(store, found); /* The key goes with its last element. */
        return;
    }
    store_modified(store, found->key_index);
    uint32_t value_index = at_head ? list_pop_head(&store->nodes, &slot->list)
                                   : list_pop_tail(&store->nodes, &slot->list);
    pool_release(&store->values, value_index);
    KV_ASSERT(slot->list.count > 0);
}

void store_list_set(struct store *store, uint32_t key_index, uint32_t node_index,
                    struct slice value)
{
    KV_ASSERT(value.length <= store->val_size_max);
    KV_ASSERT(store_key(store, key_index)->type == STORE_TYPE_LIST);
    store_modified(store, key_index);
    store_value_write(store, list_node(&store->nodes, node_index)->value_index, value);
}

/* Whether a node's value equals `value`. */
static bool node_holds(const struct store *store, uint32_t node_index, struct slice value)
{
    return slice_equal(store_value(store, list_node(&store->nodes, node_index)->value_index),
                       value);
}

uint32_t store_list_remove_value(struct store *store, const struct store_found *found,
                                 int64_t count, struct slice value)
{
    struct store_key *key = list_key(store, found);
    bool from_tail = count < 0;
    uint64_t limit = count == 0 ? UINT64_MAX : (from_tail ? 0 - (uint64_t)count : (uint64_t)count);
    uint32_t removed = 0;
    uint32_t node_index = from_tail ? key->list.tail : key->list.head;
    store_modified(store, found->key_index);
    /* Bounded by the list's length: each step moves one node on. */
    while (node_index != LIST_NONE && removed < limit) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        uint32_t following = from_tail ? node->prev : node->next;
        if (node_holds(store, node_index, value)) {
            pool_release(&store->values, list_remove(&store->nodes, &key->list, node_index));
            removed++;
        }
        node_index = following;
    }
    KV_ASSERT(removed <= store->list_length_max);
    list_gone_if_empty(store, found);
    return removed;
}

void store_list_trim(struct store *store, const struct store_found *found, uint32_t start,
                     uint32_t kept)
{
    struct store_key *key = list_key(store, found);
    KV_ASSERT((uint64_t)start + kept <= key->list.count);
    store_modified(store, found->key_index);
    uint32_t tail_drop = key->list.count - start - kept;
    for (uint32_t index = 0; index < start; index++) {
        pool_release(&store->values, list_pop_head(&store->nodes, &key->list));
    }
    for (uint32_t index = 0; index < tail_drop; index++) {
        pool_release(&store->values, list_pop_tail(&store->nodes, &key->list));
    }
    KV_ASSERT(key->list.count == kept);
    list_gone_if_empty(store, found);
}

void store_list_insert(struct store *store, uint32_t key_index, uint32_t node_index, bool before,
                       struct slice value)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST);
    KV_ASSERT(key->list.count < store->list_length_max);
    KV_ASSERT(value.length <= store->val_size_max);
    store_modified(store, key_index);
    list_insert(&store->nodes, &key->list, node_index, before, store_value_acquire(store, value));
}

/* LMOVE's checks of its destination, before anything changes. */
static enum store_status move_check(const struct store *store, const struct store_found *source,
                                    const struct store_found *target, struct slice destination)
{
    bool same = target->exists && target->key_index == source->key_index;
    bool source_goes = store_key(store, source->key_index)->list.count == 1 && !same;
    if (target->exists && target->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    if (target->exists && !same &&
        store_key(store, target->key_index)->list.count >= store->list_length_max) {
        return STORE_LIST_FULL;
    }
    if (!target->exists && destination.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (!target->exists && !source_goes && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_list_move(struct store *store, const struct store_found *source,
                                  struct slice destination, bool from_head, bool to_head,
                                  uint32_t *value_index)
{
    struct store_key *from = list_key(store, source);
    KV_ASSERT(from->list.count > 0);
    struct store_found target;
    store_find_typed(store, destination, STORE_TYPE_LIST, &target);
    enum store_status status = move_check(store, source, &target, destination);
    if (status != STORE_OK) {
        return status;
    }
    bool same = target.exists && target.key_index == source->key_index;
    /* The value slot moves with its bytes: only its node is given back and taken again. */
    store_modified(store, source->key_index);
    *value_index = from_head ? list_pop_head(&store->nodes, &from->list)
                             : list_pop_tail(&store->nodes, &from->list);
    /* The same key keeps its slot and expiry time: the value goes straight back. */
    if (!same) {
        list_gone_if_empty(store, source); /* Frees a key slot for a new destination. */
    }
    uint32_t target_index = target.key_index;
    if (target.exists) {
        store_modified(store, target_index);
    } else {
        target_index = store_key_insert(store, destination, target.hash, STORE_TYPE_LIST);
    }
    struct store_key *to = store_key(store, target_index);
    if (to_head) {
        list_push_head(&store->nodes, &to->list, *value_index);
    } else {
        list_push_tail(&store->nodes, &to->list, *value_index);
    }
    KV_ASSERT(to->list.count <= store->list_length_max);
    store_ready(store, target_index);
    return STORE_OK;
}
