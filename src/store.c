/*
 * The store: keys to strings and lists, in fixed pools. A key slot holds the key bytes and
 * its value's handle (a value slot for a string, a list of nodes for a list); the table maps
 * the key's hash to its slot. Invariants: every table entry names a used key slot whose hash
 * matches; every used key slot is in the table once; a string key owns exactly one value
 * slot, a list key one value slot per node, and a list is never empty (the key goes with its
 * last element, as in Redis). Writes validate every limit first and then cannot fail: the
 * value and node pools hold key_count * list_length_max slots, so any key within limits
 * finds its slots. No allocation, no I/O.
 */
#include "store.h"

#include <string.h>

#include "hashfn.h"
#include "store_internal.h"

static uint32_t round_up_8(uint64_t bytes)
{
    KV_ASSERT(bytes < UINT32_MAX - 8);
    return (uint32_t)((bytes + 7) & ~7ull);
}

uint32_t store_key_slot_bytes(const struct config *config)
{
    return round_up_8(sizeof(struct store_key) + (uint64_t)config->key_size_max);
}

uint32_t store_value_slot_bytes(const struct config *config)
{
    return round_up_8(sizeof(struct store_value) + (uint64_t)config->val_size_max);
}

static uint32_t value_slot_count(const struct config *config)
{
    uint64_t count = (uint64_t)config->key_count * config->list_length_max;
    KV_ASSERT(count < UINT32_MAX);
    return (uint32_t)count;
}

uint64_t store_plan_keys_bytes(const struct config *config)
{
    return pool_plan_bytes(config->key_count, store_key_slot_bytes(config));
}

/* Nodes and fields: one per value slot, and list_length_max more for the result a set
 * command builds before it replaces its destination (SUNIONSTORE and the like). */
static uint32_t member_slot_count(const struct config *config)
{
    uint64_t count = (uint64_t)value_slot_count(config) + config->list_length_max;
    KV_ASSERT(count < UINT32_MAX);
    return (uint32_t)count;
}

uint64_t store_plan_values_bytes(const struct config *config)
{
    return pool_plan_bytes(value_slot_count(config), store_value_slot_bytes(config));
}

uint64_t store_plan_nodes_bytes(const struct config *config)
{
    return list_nodes_plan_bytes(member_slot_count(config));
}

uint64_t store_plan_table_bytes(const struct config *config)
{
    return table_plan_bytes(config->key_count);
}

static uint32_t field_slot_bytes(const struct config *config)
{
    return round_up_8(sizeof(struct store_value) + (uint64_t)config->key_size_max);
}

uint64_t store_plan_fields_bytes(const struct config *config)
{
    return pool_plan_bytes(member_slot_count(config), field_slot_bytes(config));
}

uint64_t store_plan_zset_bytes(const struct config *config)
{
    return pool_plan_bytes(member_slot_count(config), sizeof(struct zset_node)) +
           table_plan_bytes(member_slot_count(config));
}

/* The sorted sets' member bytes, for the treap's order. */
static struct slice zset_member(const void *context, uint32_t field_index)
{
    return store_field(context, field_index);
}

void store_init(struct store *store, struct region *region, const struct config *config,
                uint64_t seed)
{
    memset(store, 0, sizeof(*store));
    table_init(&store->table, region, config->key_count);
    pool_init(&store->keys, region, config->key_count, store_key_slot_bytes(config));
    pool_init(&store->values, region, value_slot_count(config), store_value_slot_bytes(config));
    list_nodes_init(&store->nodes, region, member_slot_count(config));
    pool_init(&store->fields, region, member_slot_count(config), field_slot_bytes(config));
    pool_init(&store->znodes, region, member_slot_count(config), sizeof(struct zset_node));
    table_init(&store->zmembers, region, member_slot_count(config));
    store->ztree = (struct zset_tree){.nodes = &store->znodes, .member = zset_member,
                                      .member_context = store, .random_state = seed | 1};
    store->seed = seed;
    store->key_size_max = config->key_size_max;
    store->val_size_max = config->val_size_max;
    store->list_length_max = config->list_length_max;
    KV_ASSERT(store->table.count_max == config->key_count);
    KV_ASSERT(store->values.slot_count + store->list_length_max == store->nodes.slot_count);
}

uint32_t store_key_hash(const struct store *store, struct slice key)
{
    return (uint32_t)hashfn_bytes(key.bytes, key.length, store->seed);
}

struct key_probe {
    const struct store *store;
    struct slice key;
};

static bool key_equal(const void *context, uint32_t key_index)
{
    const struct key_probe *probe = context;
    struct store_key *key = store_key(probe->store, key_index);
    return key->key_bytes == probe->key.length &&
           memcmp(store_key_bytes(key), probe->key.bytes, probe->key.length) == 0;
}

bool store_find_slot(const struct store *store, struct slice key, uint32_t hash,
                     uint32_t *key_index, uint32_t *table_slot)
{
    struct key_probe probe = {.store = store, .key = key};
    return table_find(&store->table, hash, key_equal, &probe, key_index, table_slot);
}

bool store_find(struct store *store, struct slice key, uint32_t *key_index)
{
    uint32_t table_slot = 0;
    if (!store_find_slot(store, key, store_key_hash(store, key), key_index, &table_slot)) {
        return false;
    }
    if (store_key_expired(store, store_key(store, *key_index))) {
        store_key_remove(store, *key_index, table_slot);
        store->expired_keys++;
        return false;
    }
    return true;
}

void store_expire_due(struct store *store, struct slice key)
{
    uint32_t key_index = 0;
    bool live = store_find(store, key, &key_index);
    KV_ASSERT(!live || !store_key_expired(store, store_key(store, key_index)));
}

struct slice store_key_name(const struct store *store, uint32_t key_index)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->key_bytes <= store->key_size_max);
    return (struct slice){.bytes = store_key_bytes(key), .length = key->key_bytes};
}

void store_modified(struct store *store, uint32_t key_index)
{
    if (store->touched != NULL) {
        struct store_key *key = store_key(store, key_index);
        store->touched(store->touched_context, key->hash, store_key_name(store, key_index));
    }
}

struct slice store_value(const struct store *store, uint32_t value_index)
{
    KV_ASSERT(pool_is_used(&store->values, value_index));
    const struct store_value *value = pool_slot(&store->values, value_index);
    KV_ASSERT(value->length <= store->val_size_max);
    return (struct slice){.bytes = (const uint8_t *)(value + 1), .length = value->length};
}

void store_value_write(struct store *store, uint32_t value_index, struct slice bytes)
{
    KV_ASSERT(bytes.length <= store->val_size_max);
    struct store_value *value = pool_slot(&store->values, value_index);
    value->length = bytes.length;
    if (bytes.length > 0) {
        memcpy(value + 1, bytes.bytes, bytes.length);
    }
}

uint8_t *store_value_bytes(struct store *store, uint32_t value_index, uint32_t **length)
{
    KV_ASSERT(pool_is_used(&store->values, value_index));
    struct store_value *value = pool_slot(&store->values, value_index);
    *length = &value->length;
    return (uint8_t *)(value + 1);
}

uint32_t store_value_acquire(struct store *store, struct slice bytes)
{
    uint32_t value_index = 0;
    /* Sized for every key to hold a maximal list: cannot be empty within the limits. */
    bool acquired = pool_acquire(&store->values, &value_index);
    KV_ASSERT(acquired);
    store_value_write(store, value_index, bytes);
    return value_index;
}

void store_value_release_all(struct store *store, struct store_key *key)
{
    if (key->type == STORE_TYPE_STRING) {
        pool_release(&store->values, key->value_index);
        return;
    }
    if (key->type == STORE_TYPE_ZSET) {
        store_zset_release_all(store, key);
        return;
    }
    KV_ASSERT(key->type == STORE_TYPE_LIST || key->type == STORE_TYPE_HASH ||
              key->type == STORE_TYPE_SET);
    store_members_release(store, &key->list);
}

void store_members_release(struct store *store, struct list *list)
{
    /* Bounded by the collection's count, at most list_length_max. */
    while (list->count > 0) {
        uint32_t field_index = list_node(&store->nodes, list->head)->field_index;
        uint32_t value_index = list_pop_head(&store->nodes, list);
        if (value_index != LIST_NONE) {
            pool_release(&store->values, value_index);
        }
        if (field_index != LIST_NONE) {
            pool_release(&store->fields, field_index);
        }
    }
}

uint32_t store_key_insert(struct store *store, struct slice key, uint32_t hash, uint8_t type)
{
    if (store->touched != NULL) {
        store->touched(store->touched_context, hash, key);
    }
    uint32_t key_index = 0;
    bool acquired = pool_acquire(&store->keys, &key_index);
    KV_ASSERT(acquired);
    struct store_key *slot = store_key(store, key_index);
    memset(slot, 0, sizeof(*slot));
    slot->hash = hash;
    slot->key_bytes = key.length;
    slot->type = type;
    list_init(&slot->list);
    if (key.length > 0) {
        memcpy(store_key_bytes(slot), key.bytes, key.length);
    }
    table_insert(&store->table, hash, key_index);
    return key_index;
}

void store_key_remove(struct store *store, uint32_t key_index, uint32_t table_slot)
{
    struct store_key *key = store_key(store, key_index);
    store_modified(store, key_index);
    if (key->expire_at_ms != 0) {
        KV_ASSERT(store->expires_count > 0);
        store->expires_count--;
        key->expire_at_ms = 0;
    }
    store_value_release_all(store, key);
    table_remove_at(&store->table, table_slot);
    pool_release(&store->keys, key_index);
}

/* A live key becomes a string holding `value`, without an expiry time (SET). */
static void string_replace(struct store *store, uint32_t key_index, struct slice value)
{
    struct store_key *slot = store_key(store, key_index);
    store_modified(store, key_index);
    store_expire_set(store, key_index, 0);
    if (slot->type == STORE_TYPE_STRING) {
        store_value_write(store, slot->value_index, value);
        return;
    }
    store_value_release_all(store, slot);
    slot->type = STORE_TYPE_STRING;
    slot->value_index = store_value_acquire(store, value);
}

enum store_status store_set_string(struct store *store, struct slice key, struct slice value)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (value.length > store->val_size_max) {
        return STORE_VALUE_TOO_LONG;
    }
    uint32_t key_index = 0;
    if (store_find(store, key, &key_index)) {
        string_replace(store, key_index, value);
        return STORE_OK;
    }
    if (!store_key_room(store)) {
        return STORE_FULL;
    }
    key_index = store_key_insert(store, key, store_key_hash(store, key), STORE_TYPE_STRING);
    store_key(store, key_index)->value_index = store_value_acquire(store, value);
    return STORE_OK;
}

enum store_status store_get_string(struct store *store, struct slice key,
                                   struct slice *value)
{
    uint32_t key_index = 0;
    if (!store_find(store, key, &key_index)) {
        return STORE_NOT_FOUND;
    }
    const struct store_key *slot = store_key(store, key_index);
    if (slot->type != STORE_TYPE_STRING) {
        return STORE_WRONGTYPE;
    }
    *value = store_value(store, slot->value_index);
    return STORE_OK;
}

/* The table slot of a live key found with store_find. */
static uint32_t table_slot_of(const struct store *store, uint32_t key_index)
{
    struct store_key *slot = store_key(store, key_index);
    uint32_t found_index = 0;
    uint32_t table_slot = 0;
    bool found = store_find_slot(store, store_key_name(store, key_index), slot->hash,
                                 &found_index, &table_slot);
    KV_ASSERT(found && found_index == key_index);
    return table_slot;
}

void store_remove(struct store *store, uint32_t key_index)
{
    store_key_remove(store, key_index, table_slot_of(store, key_index));
}

bool store_delete(struct store *store, struct slice key)
{
    uint32_t key_index = 0;
    if (!store_find(store, key, &key_index)) {
        return false;
    }
    store_remove(store, key_index);
    return true;
}

bool store_expire_set(struct store *store, uint32_t key_index, int64_t at_ms)
{
    struct store_key *key = store_key(store, key_index);
    KV_ASSERT(!store_key_expired(store, key));
    if (at_ms != 0 && at_ms <= store->now_ms) {
        store_remove(store, key_index);
        return false;
    }
    if (key->expire_at_ms == 0 && at_ms != 0) {
        store->expires_count++;
    } else if (key->expire_at_ms != 0 && at_ms == 0) {
        KV_ASSERT(store->expires_count > 0);
        store->expires_count--;
    }
    key->expire_at_ms = at_ms;
    KV_ASSERT(store->expires_count <= store->table.count);
    return true;
}

uint32_t store_expire_slice(struct store *store, uint32_t slots_max)
{
    uint32_t removed = 0;
    uint32_t slot_index = store->expire_cursor & store->table.mask;
    /* Bounded by slots_max examinations. A removal shifts the next entries back by one, so
     * the same slot is examined again rather than skipping the entry moved into it. */
    for (uint32_t examined = 0; examined < slots_max && store->expires_count > 0; examined++) {
        uint32_t key_index = 0;
        if (table_value_at(&store->table, slot_index, &key_index) &&
            store_key_expired(store, store_key(store, key_index))) {
            store_key_remove(store, key_index, slot_index);
            store->expired_keys++;
            removed++;
            continue;
        }
        slot_index = (slot_index + 1) & store->table.mask;
    }
    store->expire_cursor = slot_index;
    return removed;
}

void store_flush(struct store *store)
{
    /* Bounded by the table's capacity; each removal may shift entries into this slot, so a
     * slot is left only once it is empty. */
    for (uint32_t slot_index = 0; slot_index < store->table.capacity; slot_index++) {
        uint32_t key_index = 0;
        while (table_value_at(&store->table, slot_index, &key_index)) {
            store_key_remove(store, key_index, slot_index);
        }
    }
    KV_ASSERT(store->table.count == 0 && store->expires_count == 0);
}

enum store_status store_find_list(struct store *store, struct slice key,
                                  uint32_t *key_index)
{
    if (!store_find(store, key, key_index)) {
        return STORE_NOT_FOUND;
    }
    return store_key(store, *key_index)->type == STORE_TYPE_LIST ? STORE_OK : STORE_WRONGTYPE;
}

/* Every check a push needs, before anything changes. */
static enum store_status push_check(const struct store *store, struct slice key,
                                    const struct slice *values, uint32_t value_count,
                                    bool found, const struct store_key *slot)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found && slot->type != STORE_TYPE_LIST) {
        return STORE_WRONGTYPE;
    }
    for (uint32_t index = 0; index < value_count; index++) {
        if (values[index].length > store->val_size_max) {
            return STORE_VALUE_TOO_LONG;
        }
    }
    uint64_t length = (found ? slot->list.count : 0) + (uint64_t)value_count;
    if (length > store->list_length_max) {
        return STORE_LIST_FULL;
    }
    if (!found && !store_key_room(store)) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_list_push(struct store *store, struct slice key,
                                  const struct slice *values, uint32_t value_count, bool at_head,
                                  uint32_t *length_after)
{
    KV_ASSERT(value_count > 0);
    uint32_t key_index = 0;
    bool found = store_find(store, key, &key_index);
    const struct store_key *existing = found ? store_key(store, key_index) : NULL;
    enum store_status status = push_check(store, key, values, value_count, found, existing);
    if (status != STORE_OK) {
        return status;
    }
    if (found) {
        store_modified(store, key_index);
    } else {
        key_index = store_key_insert(store, key, store_key_hash(store, key), STORE_TYPE_LIST);
    }
    struct store_key *slot = store_key(store, key_index);
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

void store_list_pop(struct store *store, uint32_t key_index, bool at_head)
{
    struct store_key *slot = store_key(store, key_index);
    KV_ASSERT(slot->type == STORE_TYPE_LIST && slot->list.count > 0);
    if (slot->list.count == 1) {
        store_remove(store, key_index); /* The key goes with its last element. */
        return;
    }
    store_modified(store, key_index);
    uint32_t value_index = at_head ? list_pop_head(&store->nodes, &slot->list)
                                   : list_pop_tail(&store->nodes, &slot->list);
    pool_release(&store->values, value_index);
}

void store_verify(const struct store *store)
{
    table_verify(&store->table);
    pool_verify(&store->keys);
    pool_verify(&store->values);
    pool_verify(&store->nodes);
    pool_verify(&store->fields);
    KV_ASSERT(store->table.count == pool_used_count(&store->keys));
    uint64_t values_used = 0;
    uint64_t fields_used = 0;
    uint64_t zset_members = 0;
    uint32_t expires = 0;
    for (uint32_t slot_index = 0; slot_index < store->table.capacity; slot_index++) {
        uint32_t key_index = 0;
        if (!table_value_at(&store->table, slot_index, &key_index)) {
            continue;
        }
        KV_ASSERT(pool_is_used(&store->keys, key_index));
        const struct store_key *key = store_key(store, key_index);
        KV_ASSERT(key->key_bytes <= store->key_size_max);
        expires += key->expire_at_ms != 0 ? 1 : 0;
        if (key->type == STORE_TYPE_STRING) {
            KV_ASSERT(pool_is_used(&store->values, key->value_index));
            values_used++;
        } else if (key->type == STORE_TYPE_ZSET) {
            struct zset set = store_zset_view(store, key_index);
            KV_ASSERT(set.count > 0 && set.count <= store->list_length_max);
            zset_verify(&store->ztree, &set);
            fields_used += set.count;
            zset_members += set.count;
        } else {
            KV_ASSERT(key->type == STORE_TYPE_LIST || key->type == STORE_TYPE_HASH ||
                      key->type == STORE_TYPE_SET);
            KV_ASSERT(key->list.count > 0 && key->list.count <= store->list_length_max);
            list_verify(&store->nodes, &key->list);
            values_used += key->type != STORE_TYPE_SET ? key->list.count : 0;
            fields_used += key->type != STORE_TYPE_LIST ? key->list.count : 0;
        }
    }
    KV_ASSERT(values_used == pool_used_count(&store->values));
    KV_ASSERT(fields_used == pool_used_count(&store->fields));
    KV_ASSERT(zset_members == pool_used_count(&store->znodes));
    KV_ASSERT(zset_members == store->zmembers.count);
    KV_ASSERT(expires == store->expires_count);
    KV_ASSERT(pool_used_count(&store->nodes) <= values_used);
}
