/*
 * Watched keys. A watched key lives once in `keys` however many clients watch it; each
 * (client, key) pair is a link in `links`, chained per client through `next` and recording
 * the epoch when the client watched. Invariants: a key's refs equals the links naming it;
 * a key with refs > 0 is in the table exactly once; touched_epoch <= epoch. Nothing here
 * allocates; every walk is bounded by a client's link count.
 */
#include "watch.h"

#include <string.h>

struct watch_key {
    uint64_t touched_epoch; /* epoch of the last touch, 0 if none since it was first watched */
    uint32_t hash;          /* the store's hash of the key */
    uint32_t key_bytes;     /* key length */
    uint32_t refs;          /* links naming this key */
    uint32_t reserved;      /* zero */
};

struct watch_link {
    uint64_t watched_epoch; /* epoch when the client watched the key */
    uint32_t key_index;     /* slot in watch->keys */
    uint32_t next;          /* next link of the same client, WATCH_NONE at the end */
};

static uint32_t key_slot_bytes(uint32_t key_size_max)
{
    return (uint32_t)((sizeof(struct watch_key) + (uint64_t)key_size_max + 7) & ~7ull);
}

static uint32_t slots_for(uint32_t watch_keys_max)
{
    return watch_keys_max == 0 ? 1 : watch_keys_max; /* one slot keeps the pools non-empty */
}

uint64_t watch_plan_bytes(uint32_t watch_keys_max, uint32_t key_size_max)
{
    uint32_t slots = slots_for(watch_keys_max);
    return table_plan_bytes(slots) + pool_plan_bytes(slots, key_slot_bytes(key_size_max)) +
           pool_plan_bytes(slots, sizeof(struct watch_link));
}

void watch_init(struct watch *watch, struct region *region, uint32_t watch_keys_max,
                uint32_t key_size_max)
{
    memset(watch, 0, sizeof(*watch));
    uint32_t slots = slots_for(watch_keys_max);
    table_init(&watch->table, region, slots);
    pool_init(&watch->keys, region, slots, key_slot_bytes(key_size_max));
    pool_init(&watch->links, region, slots, sizeof(struct watch_link));
    watch->key_size_max = key_size_max;
    if (watch_keys_max == 0) {
        /* WATCH disabled: hold the only slot so every watch_add fails. */
        uint32_t held = 0;
        bool acquired = pool_acquire(&watch->links, &held);
        KV_ASSERT(acquired);
    }
}

static struct watch_key *key_at(const struct watch *watch, uint32_t key_index)
{
    return (struct watch_key *)pool_slot(&watch->keys, key_index);
}

static struct watch_link *link_at(const struct watch *watch, uint32_t link_index)
{
    return (struct watch_link *)pool_slot(&watch->links, link_index);
}

struct key_probe {
    const struct watch *watch;
    struct slice key;
};

static bool key_equal(const void *context, uint32_t key_index)
{
    const struct key_probe *probe = context;
    const struct watch_key *key = key_at(probe->watch, key_index);
    return key->key_bytes == probe->key.length &&
           memcmp(key + 1, probe->key.bytes, probe->key.length) == 0;
}

static bool key_find(const struct watch *watch, uint32_t hash, struct slice key,
                     uint32_t *key_index, uint32_t *table_slot)
{
    struct key_probe probe = {.watch = watch, .key = key};
    return table_find(&watch->table, hash, key_equal, &probe, key_index, table_slot);
}

bool watch_add(struct watch *watch, struct watch_list *list, uint32_t hash, struct slice key)
{
    KV_ASSERT(key.length <= watch->key_size_max);
    uint32_t key_index = 0;
    uint32_t table_slot = 0;
    bool found = key_find(watch, hash, key, &key_index, &table_slot);
    if (found) {
        /* Bounded by the client's link count. */
        uint32_t link_index = list->head;
        for (uint32_t step = 0; step < list->count; step++) {
            if (link_at(watch, link_index)->key_index == key_index) {
                return true;
            }
            link_index = link_at(watch, link_index)->next;
        }
        KV_ASSERT(link_index == WATCH_NONE);
    }
    if (watch->links.free_count == 0 || (!found && watch->keys.free_count == 0)) {
        return false;
    }
    if (!found) {
        bool acquired = pool_acquire(&watch->keys, &key_index);
        KV_ASSERT(acquired);
        struct watch_key *slot = key_at(watch, key_index);
        memset(slot, 0, sizeof(*slot));
        slot->hash = hash;
        slot->key_bytes = key.length;
        if (key.length > 0) {
            memcpy(slot + 1, key.bytes, key.length);
        }
        table_insert(&watch->table, hash, key_index);
    }
    uint32_t link_index = 0;
    bool acquired = pool_acquire(&watch->links, &link_index);
    KV_ASSERT(acquired);
    struct watch_link *link = link_at(watch, link_index);
    link->watched_epoch = watch->epoch;
    link->key_index = key_index;
    link->next = list->head;
    list->head = link_index;
    list->count++;
    key_at(watch, key_index)->refs++;
    return true;
}

void watch_clear(struct watch *watch, struct watch_list *list)
{
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < list->count; step++) {
        uint32_t link_index = list->head;
        KV_ASSERT(link_index != WATCH_NONE);
        struct watch_link *link = link_at(watch, link_index);
        struct watch_key *key = key_at(watch, link->key_index);
        KV_ASSERT(key->refs > 0);
        key->refs--;
        if (key->refs == 0) {
            struct slice bytes = {.bytes = (const uint8_t *)(key + 1), .length = key->key_bytes};
            uint32_t found_index = 0;
            uint32_t table_slot = 0;
            bool found = key_find(watch, key->hash, bytes, &found_index, &table_slot);
            KV_ASSERT(found && found_index == link->key_index);
            table_remove_at(&watch->table, table_slot);
            pool_release(&watch->keys, link->key_index);
        }
        list->head = link->next;
        pool_release(&watch->links, link_index);
    }
    KV_ASSERT(list->head == WATCH_NONE);
    list->count = 0;
}

bool watch_changed(const struct watch *watch, const struct watch_list *list)
{
    uint32_t link_index = list->head;
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < list->count; step++) {
        const struct watch_link *link = link_at(watch, link_index);
        if (key_at(watch, link->key_index)->touched_epoch > link->watched_epoch) {
            return true;
        }
        link_index = link->next;
    }
    KV_ASSERT(link_index == WATCH_NONE);
    return false;
}

bool watch_next(const struct watch *watch, uint32_t *link_index, struct slice *key)
{
    if (*link_index == WATCH_NONE) {
        return false;
    }
    const struct watch_link *link = link_at(watch, *link_index);
    const struct watch_key *slot = key_at(watch, link->key_index);
    *key = (struct slice){.bytes = (const uint8_t *)(slot + 1), .length = slot->key_bytes};
    *link_index = link->next;
    return true;
}

void watch_touched(void *context, uint32_t hash, struct slice key)
{
    struct watch *watch = context;
    if (watch->table.count == 0) {
        return; /* Nothing watched: the common case costs one compare. */
    }
    uint32_t key_index = 0;
    uint32_t table_slot = 0;
    if (key_find(watch, hash, key, &key_index, &table_slot)) {
        watch->epoch++;
        key_at(watch, key_index)->touched_epoch = watch->epoch;
    }
}

void watch_verify(const struct watch *watch)
{
    table_verify(&watch->table);
    pool_verify(&watch->keys);
    pool_verify(&watch->links);
    KV_ASSERT(watch->table.count == pool_used_count(&watch->keys));
    for (uint32_t slot_index = 0; slot_index < watch->table.capacity; slot_index++) {
        uint32_t key_index = 0;
        if (table_value_at(&watch->table, slot_index, &key_index)) {
            const struct watch_key *key = key_at(watch, key_index);
            KV_ASSERT(key->refs > 0);
            KV_ASSERT(key->touched_epoch <= watch->epoch);
        }
    }
}
