/*
 * Sorted sets in the store: each member a field slot (its bytes) and a znode (its score and
 * place in the key's treap, zset.c), found in O(1) through the zmembers table keyed by (owner
 * key slot, member). The pools and the table hold list_length_max members for every key, so
 * a write whose limits were checked cannot run out. A key's treap root and size live in its
 * list head and count.
 */
#include <string.h>

#include "hashfn.h"
#include "store.h"
#include "store_internal.h"

enum store_status store_find_zset(struct store *store, struct slice key, uint32_t *key_index)
{
    if (!store_find(store, key, key_index)) {
        return STORE_NOT_FOUND;
    }
    return store_key(store, *key_index)->type == STORE_TYPE_ZSET ? STORE_OK : STORE_WRONGTYPE;
}

struct zset store_zset_view(const struct store *store, uint32_t key_index)
{
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_ZSET);
    return (struct zset){.root = key->list.head, .count = key->list.count};
}

static void view_store(struct store *store, uint32_t key_index, const struct zset *set)
{
    struct store_key *key = store_key(store, key_index);
    key->list.head = set->root;
    key->list.tail = LIST_NONE;
    key->list.count = set->count;
}

struct slice store_zset_member_bytes(const struct store *store, uint32_t node_index)
{
    return store_field(store, zset_node(&store->ztree, node_index)->field_index);
}

/* The zmembers hash of (owner, member). */
static uint32_t member_hash(const struct store *store, uint32_t owner, struct slice member)
{
    return (uint32_t)hashfn_bytes(member.bytes, member.length, store->seed ^ (0x9E37u * owner + 1));
}

struct member_probe {
    const struct store *store;
    uint32_t owner;
    struct slice member;
};

static bool member_equal(const void *context, uint32_t node_index)
{
    const struct member_probe *probe = context;
    const struct zset_node *node = zset_node(&probe->store->ztree, node_index);
    return node->owner == probe->owner &&
           slice_equal(store_field(probe->store, node->field_index), probe->member);
}

static bool member_find(const struct store *store, uint32_t owner, struct slice member,
                        uint32_t *node_index, uint32_t *table_slot)
{
    struct member_probe probe = {.store = store, .owner = owner, .member = member};
    return table_find(&store->zmembers, member_hash(store, owner, member), member_equal, &probe,
                      node_index, table_slot);
}

bool store_zset_member(const struct store *store, uint32_t key_index, struct slice member,
                       uint32_t *node_index)
{
    uint32_t table_slot = 0;
    return member.length <= store->key_size_max &&
           member_find(store, key_index, member, node_index, &table_slot);
}

enum store_status store_zset_room(const struct store *store, struct slice key, bool found,
                                  uint32_t key_index, uint32_t added)
{
    if (!found && key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    uint64_t count = (found ? store_key(store, key_index)->list.count : 0) + (uint64_t)added;
    if (count > store->list_length_max) {
        return STORE_ZSET_FULL;
    }
    if (!found && added > 0 && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

uint32_t store_zset_create(struct store *store, struct slice key)
{
    uint32_t key_index = store_key_insert(store, key, store_key_hash(store, key), STORE_TYPE_ZSET);
    struct zset set;
    zset_init(&set);
    view_store(store, key_index, &set);
    return key_index;
}

void store_zset_insert(struct store *store, uint32_t key_index, struct slice member, double score)
{
    KV_ASSERT(member.length <= store->key_size_max);
    struct zset set = store_zset_view(store, key_index);
    KV_ASSERT(set.count < store->list_length_max);
    store_modified(store, key_index);
    uint32_t field_index = 0;
    uint32_t node_index = 0;
    bool acquired = pool_acquire(&store->fields, &field_index) &&
                    pool_acquire(&store->znodes, &node_index);
    KV_ASSERT(acquired); /* sized for every key's maximal sorted set */
    struct store_value *bytes = pool_slot(&store->fields, field_index);
    bytes->length = member.length;
    if (member.length > 0) {
        memcpy(bytes + 1, member.bytes, member.length);
    }
    struct zset_node *node = zset_node(&store->ztree, node_index);
    node->field_index = field_index;
    node->owner = key_index;
    node->score = score + 0.0; /* -0 is 0, as Redis's small sorted sets keep it */
    zset_insert(&store->ztree, &set, node_index);
    table_insert(&store->zmembers, member_hash(store, key_index, member), node_index);
    view_store(store, key_index, &set);
    store_ready(store, key_index);
}

void store_zset_rescore(struct store *store, uint32_t key_index, uint32_t node_index, double score)
{
    struct zset set = store_zset_view(store, key_index);
    store_modified(store, key_index);
    zset_remove(&store->ztree, &set, node_index);
    zset_node(&store->ztree, node_index)->score = score + 0.0;
    zset_insert(&store->ztree, &set, node_index);
    view_store(store, key_index, &set);
}

/* Unlinks a node from its treap and the table and gives back its slots. */
static void node_release(struct store *store, struct zset *set, uint32_t node_index)
{
    const struct zset_node *node = zset_node(&store->ztree, node_index);
    uint32_t found_index = 0;
    uint32_t table_slot = 0;
    bool found = member_find(store, node->owner, store_field(store, node->field_index),
                             &found_index, &table_slot);
    KV_ASSERT(found && found_index == node_index);
    table_remove_at(&store->zmembers, table_slot);
    zset_remove(&store->ztree, set, node_index);
    pool_release(&store->fields, node->field_index);
    pool_release(&store->znodes, node_index);
}

void store_zset_remove_node(struct store *store, uint32_t key_index, uint32_t node_index)
{
    struct zset set = store_zset_view(store, key_index);
    store_modified(store, key_index);
    node_release(store, &set, node_index);
    view_store(store, key_index, &set);
    if (set.count == 0) {
        store_remove(store, key_index);
    }
}

void store_zset_release_all(struct store *store, struct store_key *key)
{
    struct zset set = {.root = key->list.head, .count = key->list.count};
    /* Bounded by the set's count: the root goes each time. */
    while (set.count > 0) {
        node_release(store, &set, set.root);
    }
    list_init(&key->list);
}
