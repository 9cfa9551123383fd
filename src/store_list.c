/*
 * The list writes beyond push and pop: LSET, LREM, LTRIM, LINSERT and LMOVE. Each takes a
 * live list key whose limits the command checked, tells watchers, changes the nodes, and
 * removes the key when its list empties (a list is never empty). Every walk is bounded by
 * the list's length, at most list_length_max.
 */
#include "store.h"
#include "store_internal.h"

/* Removes the key if its list is empty; true if it did. */
static bool list_gone_if_empty(struct store *store, uint32_t key_index)
{
    if (store_key(store, key_index)->list.count > 0) {
        return false;
    }
    store_remove(store, key_index); /* Releases nothing more: the list is empty. */
    return true;
}

void store_list_set(struct store *store, uint32_t key_index, uint32_t node_index,
                    struct slice value)
{
    KV_ASSERT(value.length <= store->val_size_max);
    store_modified(store, key_index);
    store_value_write(store, list_node(&store->nodes, node_index)->value_index, value);
}

/* Whether a node's value equals `value`. */
static bool node_holds(const struct store *store, uint32_t node_index, struct slice value)
{
    return slice_equal(store_value(store, list_node(&store->nodes, node_index)->value_index),
                       value);
}

uint32_t store_list_remove_value(struct store *store, uint32_t key_index, int64_t count,
                                 struct slice value)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST);
    bool from_tail = count < 0;
    uint64_t limit = count == 0 ? UINT64_MAX : (from_tail ? 0 - (uint64_t)count : (uint64_t)count);
    uint32_t removed = 0;
    uint32_t node_index = from_tail ? key->list.tail : key->list.head;
    store_modified(store, key_index);
    while (node_index != LIST_NONE && removed < limit) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        uint32_t following = from_tail ? node->prev : node->next;
        if (node_holds(store, node_index, value)) {
            pool_release(&store->values, list_remove(&store->nodes, &key->list, node_index));
            removed++;
        }
        node_index = following;
    }
    list_gone_if_empty(store, key_index);
    return removed;
}

void store_list_trim(struct store *store, uint32_t key_index, uint32_t start, uint32_t kept)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST && (uint64_t)start + kept <= key->list.count);
    store_modified(store, key_index);
    uint32_t tail_drop = key->list.count - start - kept;
    for (uint32_t index = 0; index < start; index++) {
        pool_release(&store->values, list_pop_head(&store->nodes, &key->list));
    }
    for (uint32_t index = 0; index < tail_drop; index++) {
        pool_release(&store->values, list_pop_tail(&store->nodes, &key->list));
    }
    list_gone_if_empty(store, key_index);
}

void store_list_insert(struct store *store, uint32_t key_index, uint32_t node_index, bool before,
                       struct slice value)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_LIST && key->list.count < store->list_length_max);
    KV_ASSERT(value.length <= store->val_size_max);
    store_modified(store, key_index);
    list_insert(&store->nodes, &key->list, node_index, before, store_value_acquire(store, value));
}

enum store_status store_list_move(struct store *store, uint32_t source_index,
                                  struct slice destination, bool from_head, bool to_head,
                                  uint32_t *value_index)
{
    struct store_key *source = store_key(store, source_index);
    KV_ASSERT(source->type == STORE_TYPE_LIST && source->list.count > 0);
    uint32_t target_index = 0;
    bool found = store_find(store, destination, &target_index);
    bool same = found && target_index == source_index;
    bool source_goes = source->list.count == 1 && !same;
    if (found && store_key(store, target_index)->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    if (found && !same && store_key(store, target_index)->list.count >= store->list_length_max) {
        return STORE_LIST_FULL;
    }
    if (!found && destination.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (!found && !source_goes && !store_key_room(store)) {
        return STORE_FULL;
    }
    /* The value slot moves with its bytes: only its node is given back and taken again. */
    store_modified(store, source_index);
    *value_index = from_head ? list_pop_head(&store->nodes, &source->list)
                             : list_pop_tail(&store->nodes, &source->list);
    /* The same key keeps its slot and expiry time: the value goes straight back. */
    if (!same) {
        list_gone_if_empty(store, source_index); /* Frees a key slot for a new destination. */
    }
    if (found) {
        store_modified(store, target_index);
    } else {
        target_index = store_key_insert(store, destination, store_key_hash(store, destination),
                                        STORE_TYPE_LIST);
    }
    struct store_key *target = store_key(store, target_index);
    if (to_head) {
        list_push_head(&store->nodes, &target->list, *value_index);
    } else {
        list_push_tail(&store->nodes, &target->list, *value_index);
    }
    KV_ASSERT(target->list.count <= store->list_length_max);
    store_ready(store, target_index);
    return STORE_OK;
}
