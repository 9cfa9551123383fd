/*
 * The store's core: keys in a pool of key slots and one hash table from the key's hash to its
 * slot; the value pools every type draws from; expiry; the operations table through which it
 * releases and verifies a value without naming its type (store.h). Invariants: every table
 * entry names a used key slot whose hash matches its name, and every used key slot is in the
 * table once; every live key has a registered type, and its value holds exactly the slots
 * its type's verify counts, so the pools' used counts equal the sums over the keys;
 * expires_count is the number of keys with an expiry time. Writes validate every limit
 * first and then cannot fail: the pools hold list_length_max members for every key. A find
 * costs one probe of the table, and the record it returns (struct store_found) lets the
 * write that follows remove or replace the key without another. No allocation after init,
 * no I/O, and no call to a type file by name: types depend on the core, never the reverse.
 */
#include "store.h"

#include <string.h>

#include "hashfn.h"
#include "store_internal.h"

static uint32_t round_up_8(uint64_t bytes)
{
    KV_ASSERT(bytes < UINT32_MAX - 8);
    uint32_t rounded = (uint32_t)((bytes + 7) & ~7ull);
    KV_ASSERT(rounded % 8 == 0);
    return rounded;
}

uint32_t store_key_slot_bytes(const struct config *config)
{
    KV_ASSERT(config->key_size_max > 0);
    return round_up_8(sizeof(struct store_key) + (uint64_t)config->key_size_max);
}

uint32_t store_value_slot_bytes(const struct config *config)
{
    KV_ASSERT(config->val_size_max > 0);
    return round_up_8(sizeof(struct store_value) + (uint64_t)config->val_size_max);
}

static uint32_t value_slot_count(const struct config *config)
{
    uint64_t count = (uint64_t)config->key_count * config->list_length_max;
    KV_ASSERT(count > 0);
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
    store->seed = seed;
    store->key_size_max = config->key_size_max;
    store->val_size_max = config->val_size_max;
    store->list_length_max = config->list_length_max;
    KV_ASSERT(store->table.count_max == config->key_count);
    KV_ASSERT(store->values.slot_count + store->list_length_max == store->nodes.slot_count);
}

void store_type_register(struct store *store, uint8_t type, const struct store_type_ops *ops)
{
    KV_ASSERT(type > STORE_TYPE_ANY);
    KV_ASSERT(type < STORE_TYPE_COUNT);
    KV_ASSERT(ops->name != NULL);
    KV_ASSERT(ops->release != NULL);
    KV_ASSERT(ops->verify != NULL);
    /* Once per type; registering the same table again (a test's second setup) is harmless. */
    KV_ASSERT(store->types[type] == NULL || store->types[type] == ops);
    store->types[type] = ops;
}

/* The operations of a live key's type; a type nobody registered is a wiring bug. */
static const struct store_type_ops *type_ops(const struct store *store, uint8_t type)
{
    KV_ASSERT(type > STORE_TYPE_ANY);
    KV_ASSERT(type < STORE_TYPE_COUNT);
    const struct store_type_ops *ops = store->types[type];
    KV_ASSERT(ops != NULL); /* store_<type>_init was not called */
    return ops;
}

const char *store_type_name(const struct store *store, uint8_t type)
{
    return type_ops(store, type)->name;
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

/* One probe: a key whether or not its time has passed, with its table slot. */
static bool key_find_slot(const struct store *store, struct slice key, uint32_t hash,
                          uint32_t *key_index, uint32_t *table_slot)
{
    struct key_probe probe = {.store = store, .key = key};
    bool found = table_find(&store->table, hash, key_equal, &probe, key_index, table_slot);
    KV_ASSERT(!found || *table_slot < store->table.capacity);
    return found;
}

bool store_peek(const struct store *store, struct slice key, uint32_t *key_index)
{
    uint32_t table_slot = 0;
    return key.length <= store->key_size_max &&
           key_find_slot(store, key, store_key_hash(store, key), key_index, &table_slot);
}

/* The table slot of a live key: the hint when its entry is still there (one compare), else a
 * walk from the key's home slot comparing slot indexes, bounded by the table's capacity (a
 * key removed since the hint was taken may have shifted the entry back). */
static uint32_t table_slot_of(struct store *store, uint32_t key_index, uint32_t hint)
{
    KV_ASSERT(hint < store->table.capacity);
    uint32_t value = 0;
    if (table_value_at(&store->table, hint, &value) && value == key_index) {
        return hint;
    }
    store->key_probe_count++;
    uint32_t slot = store_key(store, key_index)->hash & store->table.mask;
    for (uint32_t step = 0; step < store->table.capacity; step++) {
        bool occupied = table_value_at(&store->table, slot, &value);
        KV_ASSERT(occupied); /* no empty slot separates an entry from its home */
        if (value == key_index) {
            return slot;
        }
        slot = (slot + 1) & store->table.mask;
    }
    KV_ASSERT(false); /* a live key is in the table */
    return 0;
}

/* Gives back a key's value, expiry and slot after telling watchers; its table entry stays
 * for the caller to remove or reuse. */
static void key_release(struct store *store, uint32_t key_index)
{
    struct store_key *key = store_key(store, key_index);
    store_modified(store, key_index);
    if (key->expire_at_ms != 0) {
        KV_ASSERT(store->expires_count > 0);
        store->expires_count--;
        key->expire_at_ms = 0;
    }
    type_ops(store, key->type)->release(store, key);
    pool_release(&store->keys, key_index);
    KV_ASSERT(store->expires_count <= store->table.count);
}

/* Removes a key whose table entry is at table_slot: its value, its expiry, its slot. */
static void key_remove(struct store *store, uint32_t key_index, uint32_t table_slot)
{
    uint32_t value = 0;
    bool occupied = table_value_at(&store->table, table_slot, &value);
    KV_ASSERT(occupied);
    KV_ASSERT(value == key_index);
    key_release(store, key_index);
    table_remove_at(&store->table, table_slot);
}

enum store_status store_find_typed(struct store *store, struct slice key, uint8_t type,
                                   struct store_found *found)
{
    KV_ASSERT(type < STORE_TYPE_COUNT);
    uint32_t hash = store_key_hash(store, key);
    *found = (struct store_found){.table_slot = hash & store->table.mask, .hash = hash};
    store->key_probe_count++;
    uint32_t key_index = 0;
    uint32_t table_slot = 0;
    if (!key_find_slot(store, key, hash, &key_index, &table_slot)) {
        return STORE_NOT_FOUND;
    }
    const struct store_key *slot = store_key(store, key_index);
    if (store_key_expired(store, slot)) {
        key_remove(store, key_index, table_slot);
        store->expired_keys++;
        return STORE_NOT_FOUND;
    }
    KV_ASSERT(slot->type != STORE_TYPE_ANY);
    found->key_index = key_index;
    found->table_slot = table_slot;
    found->type = slot->type;
    found->exists = true;
    return type == STORE_TYPE_ANY || type == slot->type ? STORE_OK : STORE_WRONGTYPE;
}

bool store_find(struct store *store, struct slice key, uint32_t *key_index)
{
    struct store_found found;
    bool exists = store_find_typed(store, key, STORE_TYPE_ANY, &found) == STORE_OK;
    KV_ASSERT(exists == found.exists);
    *key_index = found.key_index;
    return exists;
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
    KV_ASSERT(pool_is_used(&store->keys, key_index));
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
    KV_ASSERT(pool_is_used(&store->values, value_index));
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
    KV_ASSERT(value->length <= store->val_size_max);
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

struct slice store_field(const struct store *store, uint32_t field_index)
{
    KV_ASSERT(pool_is_used(&store->fields, field_index));
    const struct store_value *field = pool_slot(&store->fields, field_index);
    KV_ASSERT(field->length <= store->key_size_max);
    return (struct slice){.bytes = (const uint8_t *)(field + 1), .length = field->length};
}

uint32_t store_field_acquire(struct store *store, struct slice bytes)
{
    KV_ASSERT(bytes.length <= store->key_size_max);
    uint32_t field_index = 0;
    /* Sized for every key's maximal collection and one set result: cannot be empty. */
    bool acquired = pool_acquire(&store->fields, &field_index);
    KV_ASSERT(acquired);
    struct store_value *field = pool_slot(&store->fields, field_index);
    field->length = bytes.length;
    if (bytes.length > 0) {
        memcpy(field + 1, bytes.bytes, bytes.length);
    }
    return field_index;
}

void store_nodes_release(struct store *store, struct list *list)
{
    KV_ASSERT(list->count <= store->list_length_max);
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
    KV_ASSERT(list->head == LIST_NONE);
}

void store_value_release_all(struct store *store, struct store_key *key)
{
    type_ops(store, key->type)->release(store, key);
    list_init(&key->list);
    KV_ASSERT(key->list.count == 0);
}

uint32_t store_key_insert(struct store *store, struct slice key, uint32_t hash, uint8_t type)
{
    KV_ASSERT(key.length <= store->key_size_max);
    (void)type_ops(store, type); /* the type is registered before a key takes it */
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

void store_remove(struct store *store, const struct store_found *found)
{
    KV_ASSERT(found->exists);
    KV_ASSERT(pool_is_used(&store->keys, found->key_index));
    key_remove(store, found->key_index,
               table_slot_of(store, found->key_index, found->table_slot));
}

bool store_delete(struct store *store, struct slice key)
{
    struct store_found found;
    if (store_find_typed(store, key, STORE_TYPE_ANY, &found) == STORE_NOT_FOUND) {
        return false;
    }
    key_remove(store, found.key_index, found.table_slot); /* the entry is where the find saw it */
    return true;
}

void store_rename(struct store *store, const struct store_found *source, struct slice new_key,
                  const struct store_found *target)
{
    KV_ASSERT(source->exists);
    KV_ASSERT(new_key.length <= store->key_size_max);
    KV_ASSERT(!target->exists || target->key_index != source->key_index);
    uint32_t key_index = source->key_index;
    uint32_t source_slot = table_slot_of(store, key_index, source->table_slot);
    if (target->exists) {
        /* The target's entry already has the new name's hash: it takes the source's slot
         * index, and only the source's entry goes, so nothing is probed again. */
        uint32_t target_slot = table_slot_of(store, target->key_index, target->table_slot);
        KV_ASSERT(store_key(store, target->key_index)->hash == target->hash);
        key_release(store, target->key_index);
        table_replace_at(&store->table, target_slot, key_index);
        store_modified(store, key_index);
        table_remove_at(&store->table, source_slot);
    } else {
        store_modified(store, key_index);
        if (store->touched != NULL) {
            store->touched(store->touched_context, target->hash, new_key);
        }
        table_remove_at(&store->table, source_slot);
        table_insert(&store->table, target->hash, key_index);
    }
    struct store_key *key = store_key(store, key_index);
    key->hash = target->hash;
    key->key_bytes = new_key.length;
    if (new_key.length > 0) {
        memmove(store_key_bytes(key), new_key.bytes, new_key.length);
    }
    store_ready(store, key_index); /* the new name may be a key a client waits on */
}

bool store_expire_set(struct store *store, const struct store_found *found, int64_t at_ms)
{
    KV_ASSERT(found->exists);
    struct store_key *key = store_key(store, found->key_index);
    KV_ASSERT(!store_key_expired(store, key));
    if (at_ms != 0 && at_ms <= store->now_ms) {
        store_remove(store, found);
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
            key_remove(store, key_index, slot_index);
            store->expired_keys++;
            removed++;
            continue;
        }
        slot_index = (slot_index + 1) & store->table.mask;
    }
    store->expire_cursor = slot_index;
    KV_ASSERT(removed <= slots_max);
    return removed;
}

void store_flush(struct store *store)
{
    /* Bounded by the table's capacity; each removal may shift entries into this slot, so a
     * slot is left only once it is empty. */
    for (uint32_t slot_index = 0; slot_index < store->table.capacity; slot_index++) {
        uint32_t key_index = 0;
        while (table_value_at(&store->table, slot_index, &key_index)) {
            key_remove(store, key_index, slot_index);
        }
    }
    KV_ASSERT(store->table.count == 0);
    KV_ASSERT(store->expires_count == 0);
}

bool store_key_at(const struct store *store, uint32_t table_slot, uint32_t *key_index)
{
    KV_ASSERT(table_slot < store->table.capacity);
    return table_value_at(&store->table, table_slot, key_index) &&
           !store_key_expired(store, store_key(store, *key_index));
}

bool store_slot_empty(const struct store *store, uint32_t table_slot)
{
    uint32_t key_index = 0;
    KV_ASSERT(table_slot < store->table.capacity);
    return !table_value_at(&store->table, table_slot, &key_index);
}

/* One key's share of store_verify: its slot, name, hash and value (through its type). */
static void key_verify(const struct store *store, uint32_t key_index, struct store_usage *usage)
{
    KV_ASSERT(pool_is_used(&store->keys, key_index));
    const struct store_key *key = store_key(store, key_index);
    KV_ASSERT(key->key_bytes <= store->key_size_max);
    KV_ASSERT(key->hash == store_key_hash(store, store_key_name(store, key_index)));
    type_ops(store, key->type)->verify(store, key_index, usage);
}

void store_verify(const struct store *store)
{
    table_verify(&store->table);
    table_verify(&store->zmembers);
    pool_verify(&store->keys);
    pool_verify(&store->values);
    pool_verify(&store->nodes);
    pool_verify(&store->fields);
    pool_verify(&store->znodes);
    KV_ASSERT(store->table.count == pool_used_count(&store->keys));
    struct store_usage usage = {0};
    uint32_t expires = 0;
    /* Bounded by the table's capacity. */
    for (uint32_t slot_index = 0; slot_index < store->table.capacity; slot_index++) {
        uint32_t key_index = 0;
        if (table_value_at(&store->table, slot_index, &key_index)) {
            key_verify(store, key_index, &usage);
            expires += store_key(store, key_index)->expire_at_ms != 0 ? 1 : 0;
        }
    }
    /* Every used slot belongs to exactly one key's value (no set result outlives its
     * command, so none is detached now). */
    KV_ASSERT(usage.values_count == pool_used_count(&store->values));
    KV_ASSERT(usage.fields_count == pool_used_count(&store->fields));
    KV_ASSERT(usage.nodes_count == pool_used_count(&store->nodes));
    KV_ASSERT(usage.znodes_count == pool_used_count(&store->znodes));
    KV_ASSERT(usage.znodes_count == store->zmembers.count);
    KV_ASSERT(expires == store->expires_count);
}
