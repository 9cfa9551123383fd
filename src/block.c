/*
 * Blocked clients and the keys they wait on. A key with waiters lives once in `keys` (its
 * bytes, its wait list and whether it is on the ready list); each (client, key) pair is a
 * link in `links`, on the key's wait list (doubly linked, oldest first) and on the client's
 * chain (singly linked). Invariants: a key's waiter count equals the links on its wait list
 * and is never 0 while the key is in the table; a client is blocked exactly when it is on the
 * FIFO, and only a blocked client has links (none when every key it named was longer than
 * key_bytes_max: it waits for its timeout); a key is on the ready list at most once. The
 * ready list holds key slots; a key released while on it is taken off it first. Every walk is
 * bounded by a list's count; nothing allocates after block_init.
 */
#include "block.h"

#include <string.h>

struct block_key {
    uint32_t hash;        /* the store's hash of the key */
    uint32_t key_bytes;   /* key length; the bytes follow this head */
    uint32_t head;        /* oldest waiter's link */
    uint32_t tail;        /* newest waiter's link */
    uint32_t waiters;     /* links on the wait list */
    uint32_t ready_prev;  /* the ready list, when `ready` */
    uint32_t ready_next;
    bool ready;           /* on the ready list */
};

struct block_link {
    uint32_t key;         /* slot in `keys` */
    uint32_t client;      /* the waiting client's slot */
    uint32_t key_prev;    /* the key's wait list */
    uint32_t key_next;
    uint32_t client_next; /* the client's other links */
};

static uint32_t key_slot_bytes(uint32_t key_bytes_max)
{
    return (uint32_t)((sizeof(struct block_key) + (uint64_t)key_bytes_max + 7) & ~7ull);
}

static uint32_t links_for(uint32_t links_max)
{
    return links_max == 0 ? 1 : links_max; /* one slot keeps the pools non-empty */
}

uint64_t block_plan_bytes(uint32_t client_count, uint32_t links_max, uint32_t key_bytes_max)
{
    uint32_t slots = links_for(links_max);
    return (((uint64_t)client_count * sizeof(struct block_client) + 63) & ~63ull) + /* clients */
           table_plan_bytes(slots) +                                 /* key table */
           pool_plan_bytes(slots, key_slot_bytes(key_bytes_max)) +   /* keys */
           pool_plan_bytes(slots, sizeof(struct block_link));        /* links */
}

void block_init(struct block *block, struct region *region, uint32_t client_count,
                uint32_t links_max, uint32_t key_bytes_max)
{
    KV_ASSERT(client_count > 0 && client_count < BLOCK_NONE);
    memset(block, 0, sizeof(*block));
    uint32_t slots = links_for(links_max);
    block->clients = region_carve(region, (uint64_t)client_count * sizeof(struct block_client), 64);
    for (uint32_t client = 0; client < client_count; client++) {
        block->clients[client] = (struct block_client){
            .links = BLOCK_NONE, .fifo_prev = BLOCK_NONE, .fifo_next = BLOCK_NONE};
    }
    table_init(&block->table, region, slots);
    pool_init(&block->keys, region, slots, key_slot_bytes(key_bytes_max));
    pool_init(&block->links, region, slots, sizeof(struct block_link));
    block->client_count = client_count;
    block->key_bytes_max = key_bytes_max;
    block->fifo_head = BLOCK_NONE;
    block->fifo_tail = BLOCK_NONE;
    block->ready_head = BLOCK_NONE;
    block->ready_tail = BLOCK_NONE;
    block->links_max = links_max;
}

static struct block_key *key_at(const struct block *block, uint32_t key_slot)
{
    return (struct block_key *)pool_slot(&block->keys, key_slot);
}

static struct block_link *link_at(const struct block *block, uint32_t link)
{
    return (struct block_link *)pool_slot(&block->links, link);
}

static struct slice key_name(const struct block_key *key)
{
    return (struct slice){.bytes = (const uint8_t *)(key + 1), .length = key->key_bytes};
}

struct key_probe {
    const struct block *block;
    struct slice key;
};

static bool key_equal(const void *context, uint32_t key_slot)
{
    const struct key_probe *probe = context;
    const struct block_key *key = key_at(probe->block, key_slot);
    return key->key_bytes == probe->key.length &&
           memcmp(key + 1, probe->key.bytes, probe->key.length) == 0;
}

static bool key_find(const struct block *block, uint32_t hash, struct slice key,
                     uint32_t *key_slot, uint32_t *table_slot)
{
    struct key_probe probe = {.block = block, .key = key};
    return table_find(&block->table, hash, key_equal, &probe, key_slot, table_slot);
}

/* Whether the client already waits on this key slot (a key named twice). */
static bool client_waits_on(const struct block *block, uint32_t client, uint32_t key_slot)
{
    const struct block_client *state = &block->clients[client];
    uint32_t link = state->links;
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < state->link_count; step++) {
        if (link_at(block, link)->key == key_slot) {
            return true;
        }
        link = link_at(block, link)->client_next;
    }
    return false;
}

/* The key slot for a key, created (with no waiters yet) when absent; room was checked. */
static uint32_t key_acquire(struct block *block, uint32_t hash, struct slice key)
{
    uint32_t key_slot = 0;
    uint32_t table_slot = 0;
    if (key_find(block, hash, key, &key_slot, &table_slot)) {
        return key_slot;
    }
    bool acquired = pool_acquire(&block->keys, &key_slot);
    KV_ASSERT(acquired);
    struct block_key *slot = key_at(block, key_slot);
    *slot = (struct block_key){.hash = hash, .key_bytes = key.length, .head = BLOCK_NONE,
                               .tail = BLOCK_NONE, .ready_prev = BLOCK_NONE,
                               .ready_next = BLOCK_NONE};
    if (key.length > 0) {
        memcpy(slot + 1, key.bytes, key.length);
    }
    table_insert(&block->table, hash, key_slot);
    return key_slot;
}

static void link_append(struct block *block, uint32_t client, uint32_t key_slot)
{
    uint32_t link = 0;
    bool acquired = pool_acquire(&block->links, &link);
    KV_ASSERT(acquired);
    struct block_key *key = key_at(block, key_slot);
    struct block_client *state = &block->clients[client];
    *link_at(block, link) = (struct block_link){.key = key_slot, .client = client,
                                                .key_prev = key->tail, .key_next = BLOCK_NONE,
                                                .client_next = state->links};
    if (key->tail == BLOCK_NONE) {
        key->head = link;
    } else {
        link_at(block, key->tail)->key_next = link;
    }
    key->tail = link;
    key->waiters++;
    state->links = link;
    state->link_count++;
}

static void fifo_append(struct block *block, uint32_t client)
{
    struct block_client *state = &block->clients[client];
    state->fifo_prev = block->fifo_tail;
    state->fifo_next = BLOCK_NONE;
    if (block->fifo_tail == BLOCK_NONE) {
        block->fifo_head = client;
    } else {
        block->clients[block->fifo_tail].fifo_next = client;
    }
    block->fifo_tail = client;
    block->blocked_count++;
}

enum block_status block_add(struct block *block, uint32_t client, const struct slice *keys,
                            uint32_t key_count, int64_t deadline_ms, block_hash_fn *hash,
                            const void *hash_context)
{
    KV_ASSERT(client < block->client_count);
    KV_ASSERT(!block->clients[client].blocked);
    /* Each key may need a link and a key slot: check room for all before changing anything. */
    if (key_count > block->links_max || block->links.free_count < key_count ||
        block->keys.free_count < key_count) {
        return BLOCK_FULL;
    }
    struct block_client *state = &block->clients[client];
    state->blocked = true;
    state->deadline_ms = deadline_ms;
    for (uint32_t index = 0; index < key_count; index++) {
        if (keys[index].length > block->key_bytes_max) {
            continue; /* No such key can ever exist, so it can never wake the client. */
        }
        uint32_t key_slot = key_acquire(block, hash(hash_context, keys[index]), keys[index]);
        if (!client_waits_on(block, client, key_slot)) {
            link_append(block, client, key_slot);
        }
    }
    fifo_append(block, client);
    KV_ASSERT(state->link_count <= key_count);
    return BLOCK_OK;
}

static void ready_unlink(struct block *block, uint32_t key_slot)
{
    struct block_key *key = key_at(block, key_slot);
    KV_ASSERT(key->ready);
    if (key->ready_prev == BLOCK_NONE) {
        block->ready_head = key->ready_next;
    } else {
        key_at(block, key->ready_prev)->ready_next = key->ready_next;
    }
    if (key->ready_next == BLOCK_NONE) {
        block->ready_tail = key->ready_prev;
    } else {
        key_at(block, key->ready_next)->ready_prev = key->ready_prev;
    }
    key->ready = false;
}

/* Takes one link off its key's wait list; the key goes when its last waiter does. */
static void link_release(struct block *block, uint32_t link)
{
    struct block_link *entry = link_at(block, link);
    struct block_key *key = key_at(block, entry->key);
    if (entry->key_prev == BLOCK_NONE) {
        key->head = entry->key_next;
    } else {
        link_at(block, entry->key_prev)->key_next = entry->key_next;
    }
    if (entry->key_next == BLOCK_NONE) {
        key->tail = entry->key_prev;
    } else {
        link_at(block, entry->key_next)->key_prev = entry->key_prev;
    }
    KV_ASSERT(key->waiters > 0);
    key->waiters--;
    if (key->waiters == 0) {
        KV_ASSERT(key->head == BLOCK_NONE && key->tail == BLOCK_NONE);
        if (key->ready) {
            ready_unlink(block, entry->key);
        }
        uint32_t key_slot = 0;
        uint32_t table_slot = 0;
        bool found = key_find(block, key->hash, key_name(key), &key_slot, &table_slot);
        KV_ASSERT(found && key_slot == entry->key);
        table_remove_at(&block->table, table_slot);
        pool_release(&block->keys, key_slot);
    }
    pool_release(&block->links, link);
}

void block_remove(struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count);
    struct block_client *state = &block->clients[client];
    KV_ASSERT(state->blocked && block->blocked_count > 0);
    /* Bounded by the client's link count. */
    for (uint32_t step = state->link_count; step > 0; step--) {
        uint32_t link = state->links;
        KV_ASSERT(link != BLOCK_NONE);
        state->links = link_at(block, link)->client_next;
        link_release(block, link);
    }
    KV_ASSERT(state->links == BLOCK_NONE);
    if (state->fifo_prev == BLOCK_NONE) {
        block->fifo_head = state->fifo_next;
    } else {
        block->clients[state->fifo_prev].fifo_next = state->fifo_next;
    }
    if (state->fifo_next == BLOCK_NONE) {
        block->fifo_tail = state->fifo_prev;
    } else {
        block->clients[state->fifo_next].fifo_prev = state->fifo_prev;
    }
    block->blocked_count--;
    *state = (struct block_client){
        .links = BLOCK_NONE, .fifo_prev = BLOCK_NONE, .fifo_next = BLOCK_NONE};
}

void block_key_ready(void *context, uint32_t hash, struct slice key)
{
    struct block *block = context;
    if (block->table.count == 0) {
        return; /* Nobody waits: the common case costs one compare. */
    }
    uint32_t key_slot = 0;
    uint32_t table_slot = 0;
    if (!key_find(block, hash, key, &key_slot, &table_slot)) {
        return;
    }
    struct block_key *slot = key_at(block, key_slot);
    if (slot->ready) {
        return;
    }
    slot->ready = true;
    slot->ready_prev = block->ready_tail;
    slot->ready_next = BLOCK_NONE;
    if (block->ready_tail == BLOCK_NONE) {
        block->ready_head = key_slot;
    } else {
        key_at(block, block->ready_tail)->ready_next = key_slot;
    }
    block->ready_tail = key_slot;
}

bool block_ready_pop(struct block *block, uint32_t *key_slot)
{
    if (block->ready_head == BLOCK_NONE) {
        return false;
    }
    *key_slot = block->ready_head;
    KV_ASSERT(block_key_live(block, *key_slot));
    ready_unlink(block, *key_slot);
    return true;
}

bool block_key_live(const struct block *block, uint32_t key_slot)
{
    return key_slot < block->keys.slot_count && pool_is_used(&block->keys, key_slot) &&
           key_at(block, key_slot)->waiters > 0;
}

bool block_waiter_first(const struct block *block, uint32_t key_slot, uint32_t *link,
                        uint32_t *client)
{
    KV_ASSERT(block_key_live(block, key_slot));
    *link = key_at(block, key_slot)->head;
    KV_ASSERT(*link != BLOCK_NONE);
    *client = link_at(block, *link)->client;
    return true;
}

bool block_waiter_next(const struct block *block, uint32_t *link, uint32_t *client)
{
    KV_ASSERT(*link != BLOCK_NONE);
    uint32_t next = link_at(block, *link)->key_next;
    if (next == BLOCK_NONE) {
        return false;
    }
    *link = next;
    *client = link_at(block, next)->client;
    return true;
}

bool block_link_is(const struct block *block, uint32_t link, uint32_t client)
{
    return link < block->links.slot_count && pool_is_used(&block->links, link) &&
           link_at(block, link)->client == client;
}

int64_t block_next_deadline(const struct block *block)
{
    int64_t earliest = 0;
    uint32_t client = block->fifo_head;
    /* Bounded by the blocked count. */
    for (uint32_t steps = block->blocked_count; steps > 0 && client != BLOCK_NONE; steps--) {
        const struct block_client *state = &block->clients[client];
        if (state->deadline_ms != 0 && (earliest == 0 || state->deadline_ms < earliest)) {
            earliest = state->deadline_ms;
        }
        client = state->fifo_next;
    }
    return earliest;
}

/* Checks one client's links against the keys they name. */
static void verify_client(const struct block *block, uint32_t client)
{
    const struct block_client *state = &block->clients[client];
    uint32_t link = state->links;
    for (uint32_t step = 0; step < state->link_count; step++) {
        KV_ASSERT(link != BLOCK_NONE && pool_is_used(&block->links, link));
        const struct block_link *entry = link_at(block, link);
        KV_ASSERT(entry->client == client);
        KV_ASSERT(block_key_live(block, entry->key));
        link = entry->client_next;
    }
    KV_ASSERT(link == BLOCK_NONE);
    KV_ASSERT(state->blocked || state->link_count == 0);
}

void block_verify(const struct block *block)
{
    table_verify(&block->table);
    pool_verify(&block->keys);
    pool_verify(&block->links);
    KV_ASSERT(block->table.count == pool_used_count(&block->keys));
    uint64_t links = 0;
    uint32_t blocked = 0;
    uint32_t client = block->fifo_head;
    uint32_t previous = BLOCK_NONE;
    for (uint32_t steps = 0; client != BLOCK_NONE; steps++) {
        KV_ASSERT(steps < block->client_count);
        const struct block_client *state = &block->clients[client];
        KV_ASSERT(state->blocked && state->fifo_prev == previous);
        verify_client(block, client);
        links += state->link_count;
        blocked++;
        previous = client;
        client = state->fifo_next;
    }
    KV_ASSERT(previous == block->fifo_tail && blocked == block->blocked_count);
    for (uint32_t index = 0; index < block->client_count; index++) {
        KV_ASSERT(block->clients[index].blocked || block->clients[index].links == BLOCK_NONE);
    }
    /* Each live key's wait list agrees with its count; links add up. */
    uint64_t waiters = 0;
    for (uint32_t slot = 0; slot < block->table.capacity; slot++) {
        uint32_t key_slot = 0;
        if (!table_value_at(&block->table, slot, &key_slot)) {
            continue;
        }
        const struct block_key *key = key_at(block, key_slot);
        KV_ASSERT(key->waiters > 0);
        uint32_t link = key->head;
        uint32_t prev = BLOCK_NONE;
        for (uint32_t step = 0; step < key->waiters; step++) {
            KV_ASSERT(link != BLOCK_NONE && link_at(block, link)->key == key_slot);
            KV_ASSERT(link_at(block, link)->key_prev == prev);
            prev = link;
            link = link_at(block, link)->key_next;
        }
        KV_ASSERT(link == BLOCK_NONE && prev == key->tail);
        waiters += key->waiters;
    }
    KV_ASSERT(waiters == links);
    KV_ASSERT(links == pool_used_count(&block->links));
    /* The ready list: live keys, each once (a ready key is marked, so a repeat would need a
     * cycle, which the step bound catches). */
    uint32_t key_slot = block->ready_head;
    uint32_t prev = BLOCK_NONE;
    for (uint32_t steps = 0; key_slot != BLOCK_NONE; steps++) {
        KV_ASSERT(steps < block->keys.slot_count);
        KV_ASSERT(block_key_live(block, key_slot) && key_at(block, key_slot)->ready);
        KV_ASSERT(key_at(block, key_slot)->ready_prev == prev);
        prev = key_slot;
        key_slot = key_at(block, key_slot)->ready_next;
    }
    KV_ASSERT(prev == block->ready_tail);
}
