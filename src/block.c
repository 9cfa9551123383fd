/*
 * Blocked clients and the keys they wait on. A key with waiters is one heap entry in the
 * `keys` dict (its bytes, its wait list and whether it is on the ready list); each (client,
 * key) pair is a heap entry (a link) on the key's wait list (doubly linked, oldest first) and
 * on the client's chain (singly linked, newest first).
 *
 * Keys are by name, whatever the database: a client blocked on `q` in database 3 is tried
 * again when `q` gains members in any database, and its command, run again in its own
 * database, finds nothing there and leaves it waiting where it was (Redis keys them by
 * database; the only cost here is that retry). SWAPDB marks every key ready.
 *
 * Invariants: a key's waiter count equals the links on its wait list and is never 0 while
 * the key is in the dict; a client is blocked exactly when it is on the FIFO, and only a
 * blocked client has links; a client waits on a key at most once (while it blocks, its links
 * are appended to the keys' tails, so a key it named already has its link at the tail); a
 * key is on the ready list exactly when its `ready` is set, at most once; link_count is the
 * links in all and entry_bytes the usable bytes of every key and link entry; the dict holds
 * no bucket array while no key has waiters. A key released while on the ready list is taken
 * off it first. Every walk is bounded by a list's count; memory comes only from the heap,
 * and a block_add that finds no room undoes what it did.
 */
#include "block.h"

#include <stddef.h>
#include <string.h>

struct block_key {
    uint32_t next;        /* the dict's chain link (dict.h: first four bytes) */
    uint32_t key_bytes;   /* key length; the bytes follow the head */
    uint32_t head;        /* oldest waiter's link */
    uint32_t tail;        /* newest waiter's link */
    uint32_t waiters;     /* links on the wait list */
    uint32_t ready_prev;  /* the ready list, when `ready` */
    uint32_t ready_next;
    uint32_t ready;       /* 1: on the ready list */
    uint8_t bytes[];      /* key_bytes bytes */
};

struct block_link {
    uint32_t key;         /* the key entry */
    uint32_t client;      /* the waiting client's slot */
    uint32_t key_prev;    /* the key's wait list */
    uint32_t key_next;
    uint32_t client_next; /* the client's next older link */
};

static_assert(offsetof(struct block_key, bytes) == 32, "a key entry's head is 32 bytes");
static_assert(sizeof(struct block_link) == 20, "a link is one 24-byte heap object");

uint64_t block_plan_bytes(uint32_t client_count)
{
    return ((uint64_t)client_count * sizeof(struct block_client) + 63) & ~63ull;
}

static struct block_key *key_at(const struct block *block, uint32_t key_ref)
{
    return heap_pointer(block->heap, key_ref);
}

static struct block_link *link_at(const struct block *block, uint32_t link_ref)
{
    return heap_pointer(block->heap, link_ref);
}

static struct slice key_name(const struct block_key *key)
{
    return (struct slice){.bytes = key->bytes, .length = key->key_bytes};
}

static struct slice keys_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return key_name(entry);
}

static struct block_client client_idle(void)
{
    return (struct block_client){
        .links = HEAP_REF_NONE, .fifo_prev = BLOCK_NONE, .fifo_next = BLOCK_NONE,
        .stash = HEAP_REF_NONE};
}

void block_init(struct block *block, struct region *region, struct heap *heap,
                uint32_t client_count, uint32_t links_max, uint64_t seed)
{
    KV_ASSERT(client_count > 0 && client_count < BLOCK_NONE);
    KV_ASSERT(heap != NULL);
    memset(block, 0, sizeof(*block));
    block->clients = region_carve(region, block_plan_bytes(client_count), 64);
    /* Bounded by the connection slots. */
    for (uint32_t client = 0; client < client_count; client++) {
        block->clients[client] = client_idle();
    }
    block->heap = heap;
    dict_init(&block->keys, heap, keys_dict_key, seed);
    block->client_count = client_count;
    block->links_max = links_max;
    block->fifo_head = BLOCK_NONE;
    block->fifo_tail = BLOCK_NONE;
    block->ready_head = HEAP_REF_NONE;
    block->ready_tail = HEAP_REF_NONE;
    KV_ASSERT(block_memory_bytes(block) == 0);
}

/* Appends a new link for this client to a key's wait list and to the client's chain. */
static void link_append(struct block *block, uint32_t client, uint32_t key_ref,
                        struct block_link *link)
{
    struct block_key *key = key_at(block, key_ref);
    struct block_client *state = &block->clients[client];
    uint32_t link_ref = heap_ref(block->heap, link);
    *link = (struct block_link){.key = key_ref, .client = client, .key_prev = key->tail,
                                .key_next = HEAP_REF_NONE, .client_next = state->links};
    if (key->tail == HEAP_REF_NONE) {
        key->head = link_ref;
    } else {
        link_at(block, key->tail)->key_next = link_ref;
    }
    key->tail = link_ref;
    key->waiters++;
    state->links = link_ref;
    state->link_count++;
    block->link_count++;
    KV_ASSERT(key->waiters > 0);
}

/* Makes the client wait on one key (once); false when the heap has no room, with nothing
 * changed. */
static bool key_wait(struct block *block, uint32_t client, struct slice key)
{
    uint32_t key_ref = dict_find(&block->keys, key, NULL);
    if (key_ref != HEAP_REF_NONE) {
        uint32_t tail = key_at(block, key_ref)->tail;
        KV_ASSERT(tail != HEAP_REF_NONE);
        if (link_at(block, tail)->client == client) {
            return true; /* named twice: it waits once */
        }
    }
    struct block_link *link = heap_alloc_counted(block->heap, sizeof(*link), &block->entry_bytes);
    if (link == NULL) {
        return false;
    }
    if (key_ref == HEAP_REF_NONE) {
        uint64_t bytes = offsetof(struct block_key, bytes) + (uint64_t)key.length;
        struct block_key *fresh = heap_alloc_counted(block->heap, bytes, &block->entry_bytes);
        if (fresh == NULL) {
            heap_release_counted(block->heap, link, &block->entry_bytes);
            return false;
        }
        *fresh = (struct block_key){.key_bytes = key.length, .head = HEAP_REF_NONE,
                                    .tail = HEAP_REF_NONE, .ready_prev = HEAP_REF_NONE,
                                    .ready_next = HEAP_REF_NONE};
        if (key.length > 0) {
            memcpy(fresh->bytes, key.bytes, key.length);
        }
        key_ref = heap_ref(block->heap, fresh);
        dict_insert(&block->keys, key_ref);
    }
    link_append(block, client, key_ref, link);
    return true;
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

static void ready_unlink(struct block *block, uint32_t key_ref)
{
    struct block_key *key = key_at(block, key_ref);
    KV_ASSERT(key->ready);
    if (key->ready_prev == HEAP_REF_NONE) {
        block->ready_head = key->ready_next;
    } else {
        key_at(block, key->ready_prev)->ready_next = key->ready_next;
    }
    if (key->ready_next == HEAP_REF_NONE) {
        block->ready_tail = key->ready_prev;
    } else {
        key_at(block, key->ready_next)->ready_prev = key->ready_prev;
    }
    key->ready = 0;
}

/* Takes one link off its key's wait list and gives it back; the key goes when its last
 * waiter does. */
static void link_release(struct block *block, uint32_t link_ref)
{
    struct block_link *link = link_at(block, link_ref);
    struct block_key *key = key_at(block, link->key);
    if (link->key_prev == HEAP_REF_NONE) {
        key->head = link->key_next;
    } else {
        link_at(block, link->key_prev)->key_next = link->key_next;
    }
    if (link->key_next == HEAP_REF_NONE) {
        key->tail = link->key_prev;
    } else {
        link_at(block, link->key_next)->key_prev = link->key_prev;
    }
    KV_ASSERT(key->waiters > 0);
    key->waiters--;
    if (key->waiters == 0) {
        KV_ASSERT(key->head == HEAP_REF_NONE && key->tail == HEAP_REF_NONE);
        if (key->ready) {
            ready_unlink(block, link->key);
        }
        uint32_t removed = dict_remove(&block->keys, key_name(key));
        KV_ASSERT(removed == link->key);
        heap_release_counted(block->heap, key, &block->entry_bytes);
    }
    KV_ASSERT(block->link_count > 0);
    block->link_count--;
    heap_release_counted(block->heap, link, &block->entry_bytes);
}

/* Gives back every link of a client (blocked, or rolling back a block_add). */
/* A stash: its length, then its bytes. */
struct block_stash_head {
    uint32_t length;
    uint8_t bytes[];
};

static void stash_release(struct block *block, uint32_t client)
{
    struct block_client *state = &block->clients[client];
    if (state->stash != HEAP_REF_NONE) {
        heap_release_counted(block->heap, heap_pointer(block->heap, state->stash),
                             &block->stash_bytes);
        state->stash = HEAP_REF_NONE;
    }
    KV_ASSERT(state->stash == HEAP_REF_NONE);
}

uint8_t *block_stash_take(struct block *block, uint32_t client, uint32_t bytes)
{
    KV_ASSERT(client < block->client_count);
    KV_ASSERT(!block->clients[client].blocked);
    stash_release(block, client);
    struct block_stash_head *head = heap_alloc_counted(
        block->heap, sizeof(struct block_stash_head) + (uint64_t)bytes, &block->stash_bytes);
    if (head == NULL) {
        return NULL;
    }
    head->length = bytes;
    block->clients[client].stash = heap_ref(block->heap, head);
    KV_ASSERT(heap_usable_bytes(block->heap, head) >= sizeof(*head) + (uint64_t)bytes);
    return head->bytes;
}

struct slice block_stash(const struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count);
    uint32_t ref = block->clients[client].stash;
    if (ref == HEAP_REF_NONE) {
        return (struct slice){.bytes = NULL, .length = 0};
    }
    const struct block_stash_head *head = heap_pointer(block->heap, ref);
    return (struct slice){.bytes = head->bytes, .length = head->length};
}

static void links_release(struct block *block, uint32_t client)
{
    struct block_client *state = &block->clients[client];
    /* Bounded by the client's link count. */
    for (uint32_t step = state->link_count; step > 0; step--) {
        uint32_t link_ref = state->links;
        KV_ASSERT(link_ref != HEAP_REF_NONE);
        state->links = link_at(block, link_ref)->client_next;
        link_release(block, link_ref);
    }
    KV_ASSERT(state->links == HEAP_REF_NONE);
    state->link_count = 0;
    /* No key waited on: the dict gives its buckets back, and blocking holds no memory. */
    dict_settle(&block->keys);
}

enum block_status block_add(struct block *block, uint32_t client, const struct slice *keys,
                            uint32_t key_count, int64_t deadline_ms)
{
    KV_ASSERT(client < block->client_count);
    KV_ASSERT(!block->clients[client].blocked);
    KV_ASSERT(block->clients[client].link_count == 0);
    /* The cap counts a key named twice twice: it is checked before any key is looked at. */
    KV_ASSERT(block->links_max == 0 || block->link_count <= block->links_max);
    if (block->links_max != 0 && key_count > block->links_max - block->link_count) {
        stash_release(block, client);
        return BLOCK_FULL;
    }
    /* Bounded by the keys named. */
    for (uint32_t index = 0; index < key_count; index++) {
        if (!key_wait(block, client, keys[index])) {
            links_release(block, client);
            stash_release(block, client);
            return BLOCK_OOM;
        }
    }
    struct block_client *state = &block->clients[client];
    state->blocked = true;
    state->deadline_ms = deadline_ms;
    fifo_append(block, client);
    KV_ASSERT(state->link_count <= key_count);
    return BLOCK_OK;
}

void block_remove(struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count);
    struct block_client *state = &block->clients[client];
    KV_ASSERT(state->blocked && block->blocked_count > 0);
    links_release(block, client);
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
    stash_release(block, client);
    *state = client_idle();
    KV_ASSERT(!block_is_blocked(block, client));
}

/* Puts a key with waiters on the ready list, once. */
static void ready_append(struct block *block, uint32_t key_ref)
{
    struct block_key *entry = key_at(block, key_ref);
    KV_ASSERT(entry->waiters > 0);
    if (entry->ready) {
        return;
    }
    entry->ready = 1;
    entry->ready_prev = block->ready_tail;
    entry->ready_next = HEAP_REF_NONE;
    if (block->ready_tail == HEAP_REF_NONE) {
        block->ready_head = key_ref;
    } else {
        key_at(block, block->ready_tail)->ready_next = key_ref;
    }
    block->ready_tail = key_ref;
    KV_ASSERT(block->ready_head != HEAP_REF_NONE);
}

void block_key_ready(void *context, uint32_t hash, struct slice key)
{
    (void)hash;
    struct block *block = context;
    if (dict_count(&block->keys) == 0) {
        return; /* Nobody waits: the common case costs one compare. */
    }
    uint32_t key_ref = dict_find(&block->keys, key, NULL);
    if (key_ref == HEAP_REF_NONE) {
        return;
    }
    ready_append(block, key_ref);
}

void block_ready_all(struct block *block)
{
    struct dict_walk walk;
    uint32_t key_ref = HEAP_REF_NONE;
    uint64_t marked = 0;
    dict_walk_start(&block->keys, &walk);
    /* Bounded by the keys with waiters; marking changes the ready list, never the dict. */
    while (dict_walk_next(&block->keys, &walk, &key_ref)) {
        ready_append(block, key_ref);
        marked++;
    }
    KV_ASSERT(marked == dict_count(&block->keys));
}

struct slice block_key_name(const struct block *block, uint32_t key_ref)
{
    KV_ASSERT(key_ref != HEAP_REF_NONE);
    const struct block_key *key = heap_pointer(block->heap, key_ref);
    KV_ASSERT(key->waiters > 0);
    return (struct slice){.bytes = key->bytes, .length = key->key_bytes};
}

bool block_ready_pop(struct block *block, uint32_t *key_ref)
{
    if (block->ready_head == HEAP_REF_NONE) {
        return false;
    }
    *key_ref = block->ready_head;
    KV_ASSERT(key_at(block, *key_ref)->waiters > 0); /* a key leaves the list with its last */
    ready_unlink(block, *key_ref);
    return true;
}

bool block_waiter_first(const struct block *block, uint32_t key_ref, uint32_t *link,
                        uint32_t *client)
{
    const struct block_key *key = key_at(block, key_ref);
    KV_ASSERT(key->waiters > 0);
    *link = key->head;
    KV_ASSERT(*link != HEAP_REF_NONE);
    *client = link_at(block, *link)->client;
    return true;
}

bool block_waiter_next(const struct block *block, uint32_t *link, uint32_t *client)
{
    KV_ASSERT(*link != HEAP_REF_NONE);
    uint32_t next = link_at(block, *link)->key_next;
    if (next == HEAP_REF_NONE) {
        return false;
    }
    *link = next;
    *client = link_at(block, next)->client;
    return true;
}

bool block_link_is(const struct block *block, uint32_t link, uint32_t client)
{
    return link != HEAP_REF_NONE && client < block->client_count &&
           block->clients[client].blocked && link_at(block, link)->client == client;
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

uint64_t block_memory_bytes(const struct block *block)
{
    KV_ASSERT(block->link_count > 0 || block->entry_bytes == 0);
    return block->entry_bytes + block->stash_bytes + dict_bucket_bytes(&block->keys);
}

/* Checks one client's links against the keys they name; returns their usable bytes. */
static uint64_t verify_client(const struct block *block, uint32_t client)
{
    const struct block_client *state = &block->clients[client];
    KV_ASSERT(state->blocked);
    uint64_t bytes = 0;
    uint32_t link = state->links;
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < state->link_count; step++) {
        KV_ASSERT(link != HEAP_REF_NONE);
        const struct block_link *entry = link_at(block, link);
        KV_ASSERT(entry->client == client);
        const struct block_key *key = key_at(block, entry->key);
        KV_ASSERT(key->waiters > 0);
        KV_ASSERT(dict_lookup(&block->keys, key_name(key)) == entry->key);
        bytes += heap_usable_bytes(block->heap, entry);
        link = entry->client_next;
    }
    KV_ASSERT(link == HEAP_REF_NONE);
    return bytes;
}

/* Checks one key's wait list; returns the key's usable bytes. */
static uint64_t verify_key(const struct block *block, uint32_t key_ref)
{
    const struct block_key *key = key_at(block, key_ref);
    KV_ASSERT(key->waiters > 0);
    uint32_t link = key->head;
    uint32_t prev = HEAP_REF_NONE;
    /* Bounded by the key's waiter count. */
    for (uint32_t step = 0; step < key->waiters; step++) {
        KV_ASSERT(link != HEAP_REF_NONE);
        KV_ASSERT(link_at(block, link)->key == key_ref);
        KV_ASSERT(link_at(block, link)->key_prev == prev);
        KV_ASSERT(block->clients[link_at(block, link)->client].blocked);
        prev = link;
        link = link_at(block, link)->key_next;
    }
    KV_ASSERT(link == HEAP_REF_NONE && prev == key->tail);
    uint64_t bytes = heap_usable_bytes(block->heap, key);
    KV_ASSERT(bytes >= offsetof(struct block_key, bytes) + (uint64_t)key->key_bytes);
    return bytes;
}

/* Checks the ready list (live keys, each marked and once); returns its length. */
static uint64_t verify_ready(const struct block *block)
{
    uint32_t key_ref = block->ready_head;
    uint32_t prev = HEAP_REF_NONE;
    uint64_t count = 0;
    /* Bounded by the keys: a repeat needs a cycle, which the bound catches. */
    for (; key_ref != HEAP_REF_NONE; count++) {
        KV_ASSERT(count < dict_count(&block->keys));
        const struct block_key *key = key_at(block, key_ref);
        KV_ASSERT(key->waiters > 0 && key->ready);
        KV_ASSERT(key->ready_prev == prev);
        prev = key_ref;
        key_ref = key->ready_next;
    }
    KV_ASSERT(prev == block->ready_tail);
    return count;
}

void block_verify(const struct block *block)
{
    dict_verify(&block->keys);
    KV_ASSERT(block->links_max == 0 || block->link_count <= block->links_max);
    uint64_t links = 0;
    uint64_t bytes = 0;
    uint32_t blocked = 0;
    uint32_t client = block->fifo_head;
    uint32_t previous = BLOCK_NONE;
    /* Bounded by the connection slots. */
    for (uint32_t steps = 0; client != BLOCK_NONE; steps++) {
        KV_ASSERT(steps < block->client_count);
        const struct block_client *state = &block->clients[client];
        KV_ASSERT(state->fifo_prev == previous);
        bytes += verify_client(block, client);
        links += state->link_count;
        blocked++;
        previous = client;
        client = state->fifo_next;
    }
    KV_ASSERT(previous == block->fifo_tail && blocked == block->blocked_count);
    KV_ASSERT(links == block->link_count);
    uint32_t flagged = 0;
    /* Bounded by the connection slots. */
    for (uint32_t index = 0; index < block->client_count; index++) {
        flagged += block->clients[index].blocked ? 1u : 0u;
        KV_ASSERT(block->clients[index].blocked || block->clients[index].link_count == 0);
        KV_ASSERT(block->clients[index].blocked || block->clients[index].links == HEAP_REF_NONE);
    }
    KV_ASSERT(flagged == blocked); /* every blocked client is on the FIFO */
    uint64_t stash_bytes = 0;
    /* Bounded by the connection slots: only a blocked client keeps a stash. */
    for (uint32_t index = 0; index < block->client_count; index++) {
        uint32_t stash = block->clients[index].stash;
        KV_ASSERT(stash == HEAP_REF_NONE || block->clients[index].blocked);
        stash_bytes += stash == HEAP_REF_NONE
                           ? 0
                           : heap_usable_bytes(block->heap, heap_pointer(block->heap, stash));
    }
    KV_ASSERT(stash_bytes == block->stash_bytes);
    /* Each live key's wait list agrees with its count; the waiters add up to the links. */
    uint64_t waiters = 0;
    uint64_t ready = 0;
    struct dict_walk walk;
    uint32_t key_ref = HEAP_REF_NONE;
    dict_walk_start(&block->keys, &walk);
    /* Bounded by the dict's entries. */
    while (dict_walk_next(&block->keys, &walk, &key_ref)) {
        bytes += verify_key(block, key_ref);
        waiters += key_at(block, key_ref)->waiters;
        ready += key_at(block, key_ref)->ready;
    }
    KV_ASSERT(waiters == links);
    KV_ASSERT(bytes == block->entry_bytes);
    KV_ASSERT(ready == verify_ready(block));
    KV_ASSERT(dict_count(&block->keys) > 0 || dict_allocations(&block->keys) == 0);
}
