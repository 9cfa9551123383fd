/*
 * Sorted sets: each member a field slot (its bytes) and a znode (its score and place in the
 * key's treap, zset.c), found in O(1) through the zmembers table keyed by (owner key slot,
 * member). A key's treap root and size live in its list head and count (tail unused).
 * Invariants: a sorted set holds 1 .. list_length_max distinct members (the key goes with
 * its last one); every znode of a set names the set's key slot as owner and is in zmembers
 * once. A rename keeps the key slot, so members need no rekeying. The pools and the table
 * hold list_length_max members for every key, so a write whose limits were checked cannot
 * run out. No allocation, no I/O.
 */
#include "store_zset.h"

#include "hashfn.h"
#include "store_internal.h"

/* The zmembers hash of (owner, member). */
static uint32_t member_hash(const struct store *store, uint32_t owner, struct slice member)
{
    return (uint32_t)hashfn_bytes(member.bytes, member.length,
                                  store->seed ^ (0x9E37u * owner + 1));
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
    KV_ASSERT(owner < store->keys.slot_count);
    struct member_probe probe = {.store = store, .owner = owner, .member = member};
    return table_find(&store->zmembers, member_hash(store, owner, member), member_equal, &probe,
                      node_index, table_slot);
}

/* Unlinks a node from its treap and the table and gives back its slots. */
static void node_release(struct store *store, struct zset *set, uint32_t node_index)
{
    const struct zset_node *node = zset_node(&store->ztree, node_index);
    uint32_t found_index = 0;
    uint32_t table_slot = 0;
    bool found = member_find(store, node->owner, store_field(store, node->field_index),
                             &found_index, &table_slot);
    KV_ASSERT(found);
    KV_ASSERT(found_index == node_index);
    table_remove_at(&store->zmembers, table_slot);
    zset_remove(&store->ztree, set, node_index);
    pool_release(&store->fields, node->field_index);
    pool_release(&store->znodes, node_index);
}

static void zset_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->type == STORE_TYPE_ZSET);
    struct zset set = {.root = key->list.head, .count = key->list.count};
    /* Bounded by the set's count: the root goes each time. */
    while (set.count > 0) {
        node_release(store, &set, set.root);
    }
    list_init(&key->list);
}

static void zset_type_verify(const struct store *store, uint32_t key_index,
                             struct store_usage *usage)
{
    struct zset set = store_zset_view(store, key_index);
    KV_ASSERT(set.count > 0);
    KV_ASSERT(set.count <= store->list_length_max);
    zset_verify(&store->ztree, &set);
    uint32_t node_index = zset_select(&store->ztree, &set, 0);
    /* Bounded by the set's count: zset_verify counted the nodes. */
    for (uint32_t step = 0; step < set.count; step++) {
        const struct zset_node *node = zset_node(&store->ztree, node_index);
        uint32_t found_index = 0;
        uint32_t table_slot = 0;
        KV_ASSERT(node->owner == key_index);
        bool present = member_find(store, key_index, store_field(store, node->field_index),
                                   &found_index, &table_slot);
        KV_ASSERT(present);
        KV_ASSERT(found_index == node_index);
        node_index = zset_next(&store->ztree, node_index);
    }
    usage->fields_count += set.count;
    usage->znodes_count += set.count;
}

static const struct store_type_ops zset_ops = {
    .name = "zset",
    .release = zset_release,
    .verify = zset_type_verify,
};

/* The sorted sets' member bytes, for the treap's order. */
static struct slice zset_member(const void *context, uint32_t field_index)
{
    return store_field(context, field_index);
}

void store_zset_init(struct store *store)
{
    store->ztree = (struct zset_tree){.nodes = &store->znodes, .member = zset_member,
                                      .member_context = store, .random_state = store->seed | 1};
    store_type_register(store, STORE_TYPE_ZSET, &zset_ops);
    KV_ASSERT(store->types[STORE_TYPE_ZSET] == &zset_ops);
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
    KV_ASSERT(key->type == STORE_TYPE_ZSET);
    key->list.head = set->root;
    key->list.tail = LIST_NONE;
    key->list.count = set->count;
}

struct slice store_zset_member_bytes(const struct store *store, uint32_t node_index)
{
    KV_ASSERT(pool_is_used(&store->znodes, node_index));
    return store_field(store, zset_node(&store->ztree, node_index)->field_index);
}

bool store_zset_member(const struct store *store, uint32_t key_index, struct slice member,
                       uint32_t *node_index)
{
    uint32_t table_slot = 0;
    KV_ASSERT(store_key(store, key_index)->type == STORE_TYPE_ZSET);
    return member.length <= store->key_size_max &&
           member_find(store, key_index, member, node_index, &table_slot);
}

enum store_status store_zset_room(const struct store *store, const struct store_found *found,
                                  struct slice key, uint32_t added)
{
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_ZSET);
    if (!found->exists && key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    uint64_t count = found->exists ? store_key(store, found->key_index)->list.count : 0;
    if (count + added > store->list_length_max) {
        return STORE_ZSET_FULL;
    }
    if (!found->exists && added > 0 && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

uint32_t store_zset_create(struct store *store, const struct store_found *found, struct slice key)
{
    KV_ASSERT(!found->exists);
    uint32_t key_index = store_key_insert(store, key, found->hash, STORE_TYPE_ZSET);
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
    uint32_t field_index = store_field_acquire(store, member);
    uint32_t node_index = 0;
    bool acquired = pool_acquire(&store->znodes, &node_index);
    KV_ASSERT(acquired); /* sized for every key's maximal sorted set */
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
    KV_ASSERT(zset_node(&store->ztree, node_index)->owner == key_index);
    store_modified(store, key_index);
    zset_remove(&store->ztree, &set, node_index);
    zset_node(&store->ztree, node_index)->score = score + 0.0;
    zset_insert(&store->ztree, &set, node_index);
    view_store(store, key_index, &set);
}

void store_zset_remove_node(struct store *store, const struct store_found *found,
                            uint32_t node_index)
{
    KV_ASSERT(found->exists);
    struct zset set = store_zset_view(store, found->key_index);
    KV_ASSERT(zset_node(&store->ztree, node_index)->owner == found->key_index);
    store_modified(store, found->key_index);
    node_release(store, &set, node_index);
    view_store(store, found->key_index, &set);
    if (set.count == 0) {
        store_remove(store, found);
    }
}
