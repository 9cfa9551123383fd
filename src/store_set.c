/*
 * Sets: a key's members as a list of nodes, each holding a field slot (key_size_max bytes)
 * and no value slot. A member is found by a walk bounded by the set's count, at most
 * list_length_max. A write checks every limit before it changes anything; the STORE forms
 * build their result in a detached list from the pools' spare list_length_max nodes and
 * fields, then put it in place of the destination (which may have been one of the sources).
 */
#include <string.h>

#include "store.h"
#include "store_internal.h"

enum store_status store_find_set(struct store *store, struct slice key, uint32_t *key_index)
{
    if (!store_find(store, key, key_index)) {
        return STORE_NOT_FOUND;
    }
    return store_key(store, *key_index)->type == STORE_TYPE_SET ? STORE_OK : STORE_WRONGTYPE;
}

bool store_set_member(const struct store *store, uint32_t key_index, struct slice member,
                      uint32_t *node_index)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_SET);
    uint32_t at = key->list.head;
    /* Bounded by the set's count. */
    for (uint32_t step = 0; step < key->list.count; step++) {
        const struct list_node *node = list_node(&store->nodes, at);
        if (slice_equal(store_field(store, node->field_index), member)) {
            *node_index = at;
            return true;
        }
        at = node->next;
    }
    return false;
}

/* Appends a member (a field slot, no value slot) to a collection's nodes. */
static void member_push(struct store *store, struct list *list, struct slice member)
{
    KV_ASSERT(member.length <= store->key_size_max);
    list_push_tail(&store->nodes, list, LIST_NONE);
    uint32_t field_index = 0;
    bool acquired = pool_acquire(&store->fields, &field_index);
    KV_ASSERT(acquired); /* sized for every key's maximal set and one result */
    struct store_value *bytes = pool_slot(&store->fields, field_index);
    bytes->length = member.length;
    if (member.length > 0) {
        memcpy(bytes + 1, member.bytes, member.length);
    }
    list_node(&store->nodes, list->tail)->field_index = field_index;
}

/* Whether member `index` is new: not in the set and not earlier in the command. */
static bool member_new(const struct store *store, bool found, uint32_t key_index,
                       const struct slice *members, uint32_t index)
{
    uint32_t node_index = 0;
    if (found && store_set_member(store, key_index, members[index], &node_index)) {
        return false;
    }
    for (uint32_t earlier = 0; earlier < index; earlier++) {
        if (slice_equal(members[earlier], members[index])) {
            return false;
        }
    }
    return true;
}

enum store_status store_set_add(struct store *store, struct slice key, const struct slice *members,
                                uint32_t count, uint32_t *added)
{
    KV_ASSERT(count > 0);
    uint32_t key_index = 0;
    bool found = store_find(store, key, &key_index);
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found && store_key(store, key_index)->type != STORE_TYPE_SET) {
        return STORE_WRONGTYPE;
    }
    for (uint32_t index = 0; index < count; index++) {
        if (members[index].length > store->key_size_max) {
            return STORE_MEMBER_TOO_LONG;
        }
    }
    *added = 0;
    for (uint32_t index = 0; index < count; index++) {
        *added += member_new(store, found, key_index, members, index) ? 1 : 0;
    }
    uint64_t size = (found ? store_key(store, key_index)->list.count : 0) + (uint64_t)*added;
    if (size > store->list_length_max) {
        return STORE_SET_FULL;
    }
    if (!found && !store_key_room(store)) {
        return STORE_FULL;
    }
    if (*added == 0) {
        return STORE_OK;
    }
    if (found) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, store_key_hash(store, key), STORE_TYPE_SET);
    }
    struct store_key *slot = store_key(store, key_index);
    for (uint32_t index = 0; index < count; index++) {
        uint32_t node_index = 0;
        if (!store_set_member(store, key_index, members[index], &node_index)) {
            member_push(store, &slot->list, members[index]);
        }
    }
    KV_ASSERT(slot->list.count <= store->list_length_max);
    return STORE_OK;
}

void store_set_remove_node(struct store *store, uint32_t key_index, uint32_t node_index)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_SET && key->list.count > 0);
    store_modified(store, key_index);
    uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
    uint32_t value_index = list_remove(&store->nodes, &key->list, node_index);
    KV_ASSERT(value_index == LIST_NONE);
    pool_release(&store->fields, field_index);
    if (key->list.count == 0) {
        store_remove(store, key_index);
    }
}

uint32_t store_set_remove(struct store *store, uint32_t key_index, const struct slice *members,
                          uint32_t count)
{
    uint32_t removed = 0;
    /* Bounded by the members; the key goes with its last one, which ends the loop. */
    for (uint32_t index = 0; index < count; index++) {
        uint32_t node_index = 0;
        bool last = store_key(store, key_index)->list.count == 1;
        if (store_set_member(store, key_index, members[index], &node_index)) {
            store_set_remove_node(store, key_index, node_index);
            removed++;
            if (last) {
                break;
            }
        }
    }
    return removed;
}

enum store_status store_set_move(struct store *store, uint32_t source_index, uint32_t node_index,
                                  struct slice destination)
{
    uint32_t target_index = 0;
    bool found = store_find(store, destination, &target_index);
    KV_ASSERT(!found || target_index != source_index);
    if (found && store_key(store, target_index)->type != STORE_TYPE_SET) {
        return STORE_WRONGTYPE;
    }
    struct slice member = store_field(store, list_node(&store->nodes, node_index)->field_index);
    uint32_t present = 0;
    bool already = found && store_set_member(store, target_index, member, &present);
    if (found && !already && store_key(store, target_index)->list.count >= store->list_length_max) {
        return STORE_SET_FULL;
    }
    if (!found && destination.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    bool source_goes = store_key(store, source_index)->list.count == 1;
    if (!found && !source_goes && !store_key_room(store)) {
        return STORE_FULL;
    }
    if (already) {
        store_set_remove_node(store, source_index, node_index);
        return STORE_OK;
    }
    /* The member's field slot moves with it: only its node is given back and taken again. */
    uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
    struct store_key *source = store_key(store, source_index);
    store_modified(store, source_index);
    uint32_t value_index = list_remove(&store->nodes, &source->list, node_index);
    KV_ASSERT(value_index == LIST_NONE);
    if (source->list.count == 0) {
        store_remove(store, source_index); /* Frees a key slot for a new destination. */
    }
    if (found) {
        store_modified(store, target_index);
    } else {
        target_index = store_key_insert(store, destination, store_key_hash(store, destination),
                                        STORE_TYPE_SET);
    }
    struct store_key *target = store_key(store, target_index);
    list_push_tail(&store->nodes, &target->list, LIST_NONE);
    list_node(&store->nodes, target->list.tail)->field_index = field_index;
    return STORE_OK;
}

void store_set_result_add(struct store *store, struct list *result, struct slice member)
{
    KV_ASSERT(result->count < store->list_length_max);
    member_push(store, result, member);
}

void store_set_result_store(struct store *store, struct slice destination, struct list *result)
{
    KV_ASSERT(result->count <= store->list_length_max);
    uint32_t key_index = 0;
    if (store_find(store, destination, &key_index)) {
        store_remove(store, key_index); /* Frees its members before the result moves in. */
    } else if (store->touched != NULL) {
        store->touched(store->touched_context, store_key_hash(store, destination), destination);
    }
    if (result->count == 0) {
        return;
    }
    KV_ASSERT(destination.length <= store->key_size_max && store_key_room(store));
    key_index = store_key_insert(store, destination, store_key_hash(store, destination),
                                 STORE_TYPE_SET);
    store_key(store, key_index)->list = *result;
    list_init(result);
}
