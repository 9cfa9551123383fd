/*
 * Sets: a key's members as a chain of nodes, each holding a field slot (key_size_max bytes)
 * and no value slot. Invariants: a set holds 1 .. list_length_max distinct members (the key
 * goes with its last one). A member is found by a walk bounded by the set's count. A write
 * checks every limit before it changes anything; the STORE forms build their result in a
 * detached list from the pools' spare list_length_max nodes and fields, then put it in place
 * of the destination (which may have been one of the sources), so no result outlives its
 * command. Writes take the records of the keys' finds: no key is probed twice. No
 * allocation, no I/O.
 */
#include "store_set.h"

#include "store_internal.h"

static void set_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->type == STORE_TYPE_SET);
    store_nodes_release(store, &key->list);
}

static void set_verify(const struct store *store, uint32_t key_index,
                       struct store_usage *usage)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_SET);
    KV_ASSERT(key->list.count > 0);
    KV_ASSERT(key->list.count <= store->list_length_max);
    list_verify(&store->nodes, &key->list);
    uint32_t node_index = key->list.head;
    /* Bounded by the set's count: list_verify checked the chain. */
    for (uint32_t step = 0; step < key->list.count; step++) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        KV_ASSERT(node->value_index == LIST_NONE);
        KV_ASSERT(pool_is_used(&store->fields, node->field_index));
        node_index = node->next;
    }
    usage->fields_count += key->list.count;
    usage->nodes_count += key->list.count;
}

static const struct store_type_ops set_ops = {
    .name = "set",
    .release = set_release,
    .verify = set_verify,
};

void store_set_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_SET, &set_ops);
    KV_ASSERT(store->types[STORE_TYPE_SET] == &set_ops);
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
    list_node(&store->nodes, list->tail)->field_index = store_field_acquire(store, member);
    KV_ASSERT(list->count <= store->list_length_max);
}

/* Whether member `index` is new: not in the set and not earlier in the command. */
static bool member_new(const struct store *store, const struct store_found *found,
                       const struct slice *members, uint32_t index)
{
    uint32_t node_index = 0;
    if (found->exists && store_set_member(store, found->key_index, members[index], &node_index)) {
        return false;
    }
    for (uint32_t earlier = 0; earlier < index; earlier++) {
        if (slice_equal(members[earlier], members[index])) {
            return false;
        }
    }
    return true;
}

/* Every check of SADD, before anything changes; *added counts the new members. */
static enum store_status set_add_check(const struct store *store, const struct store_found *found,
                                       struct slice key, const struct slice *members,
                                       uint32_t count, uint32_t *added)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found->exists && found->type != STORE_TYPE_SET) {
        return STORE_WRONGTYPE;
    }
    for (uint32_t index = 0; index < count; index++) {
        if (members[index].length > store->key_size_max) {
            return STORE_MEMBER_TOO_LONG;
        }
    }
    *added = 0;
    for (uint32_t index = 0; index < count; index++) {
        *added += member_new(store, found, members, index) ? 1 : 0;
    }
    uint64_t size = found->exists ? store_key(store, found->key_index)->list.count : 0;
    if (size + *added > store->list_length_max) {
        return STORE_SET_FULL;
    }
    if (!found->exists && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_set_add(struct store *store, const struct store_found *found,
                                struct slice key, const struct slice *members, uint32_t count,
                                uint32_t *added)
{
    KV_ASSERT(count > 0);
    enum store_status status = set_add_check(store, found, key, members, count, added);
    if (status != STORE_OK || *added == 0) {
        return status;
    }
    uint32_t key_index = found->key_index;
    if (found->exists) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, found->hash, STORE_TYPE_SET);
    }
    struct store_key *slot = store_key(store, key_index);
    /* Bounded by the members; each lookup by the set's count. */
    for (uint32_t index = 0; index < count; index++) {
        uint32_t node_index = 0;
        if (!store_set_member(store, key_index, members[index], &node_index)) {
            member_push(store, &slot->list, members[index]);
        }
    }
    KV_ASSERT(slot->list.count > 0);
    KV_ASSERT(slot->list.count <= store->list_length_max);
    return STORE_OK;
}

void store_set_remove_node(struct store *store, const struct store_found *found,
                           uint32_t node_index)
{
    KV_ASSERT(found->exists);
    struct store_key *key = store_key(store, found->key_index);
    KV_ASSERT(key->type == STORE_TYPE_SET);
    KV_ASSERT(key->list.count > 0);
    store_modified(store, found->key_index);
    uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
    uint32_t value_index = list_remove(&store->nodes, &key->list, node_index);
    KV_ASSERT(value_index == LIST_NONE);
    pool_release(&store->fields, field_index);
    if (key->list.count == 0) {
        store_remove(store, found);
    }
}

uint32_t store_set_remove(struct store *store, const struct store_found *found,
                          const struct slice *members, uint32_t count)
{
    KV_ASSERT(found->exists);
    uint32_t removed = 0;
    /* Bounded by the members; the key goes with its last one, which ends the loop. */
    for (uint32_t index = 0; index < count; index++) {
        uint32_t node_index = 0;
        bool last = store_key(store, found->key_index)->list.count == 1;
        if (store_set_member(store, found->key_index, members[index], &node_index)) {
            store_set_remove_node(store, found, node_index);
            removed++;
            if (last) {
                break;
            }
        }
    }
    KV_ASSERT(removed <= count);
    return removed;
}

/* SMOVE's checks of its destination, before anything changes; *already: the destination
 * holds the member. */
static enum store_status move_check(const struct store *store, const struct store_found *source,
                                    uint32_t node_index, struct slice destination,
                                    const struct store_found *target, bool *already)
{
    if (target->exists && target->type != STORE_TYPE_SET) {
        return STORE_WRONGTYPE;
    }
    struct slice member = store_field(store, list_node(&store->nodes, node_index)->field_index);
    uint32_t present = 0;
    *already = target->exists && store_set_member(store, target->key_index, member, &present);
    if (target->exists && !*already &&
        store_key(store, target->key_index)->list.count >= store->list_length_max) {
        return STORE_SET_FULL;
    }
    if (!target->exists && destination.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    bool source_goes = store_key(store, source->key_index)->list.count == 1;
    if (!target->exists && !source_goes && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_set_move(struct store *store, const struct store_found *source,
                                 uint32_t node_index, struct slice destination,
                                 const struct store_found *target)
{
    KV_ASSERT(source->exists);
    KV_ASSERT(!target->exists || target->key_index != source->key_index);
    bool already = false;
    enum store_status status = move_check(store, source, node_index, destination, target,
                                          &already);
    if (status != STORE_OK) {
        return status;
    }
    if (already) {
        store_set_remove_node(store, source, node_index);
        return STORE_OK;
    }
    /* The member's field slot moves with it: only its node is given back and taken again. */
    uint32_t field_index = list_node(&store->nodes, node_index)->field_index;
    struct store_key *from = store_key(store, source->key_index);
    store_modified(store, source->key_index);
    uint32_t value_index = list_remove(&store->nodes, &from->list, node_index);
    KV_ASSERT(value_index == LIST_NONE);
    if (from->list.count == 0) {
        store_remove(store, source); /* Frees a key slot for a new destination. */
    }
    uint32_t target_index = target->key_index;
    if (target->exists) {
        store_modified(store, target_index);
    } else {
        target_index = store_key_insert(store, destination, target->hash, STORE_TYPE_SET);
    }
    struct store_key *to = store_key(store, target_index);
    list_push_tail(&store->nodes, &to->list, LIST_NONE);
    list_node(&store->nodes, to->list.tail)->field_index = field_index;
    KV_ASSERT(to->list.count <= store->list_length_max);
    return STORE_OK;
}

void store_set_result_add(struct store *store, struct list *result, struct slice member)
{
    KV_ASSERT(result->count < store->list_length_max);
    member_push(store, result, member);
}

void store_set_result_store(struct store *store, const struct store_found *target,
                            struct slice destination, struct list *result)
{
    KV_ASSERT(result->count <= store->list_length_max);
    if (target->exists) {
        store_remove(store, target); /* Frees its members before the result moves in. */
    } else if (store->touched != NULL) {
        store->touched(store->touched_context, target->hash, destination);
    }
    if (result->count == 0) {
        return;
    }
    KV_ASSERT(destination.length <= store->key_size_max);
    KV_ASSERT(store_key_room(store));
    uint32_t key_index = store_key_insert(store, destination, target->hash, STORE_TYPE_SET);
    store_key(store, key_index)->list = *result;
    list_init(result);
}
