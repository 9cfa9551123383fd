/*
 * Proves the blocked-clients module keeps its wait lists, ready list, FIFO and heap memory
 * right, with block_verify() (counts and memory against a walk) after every step:
 * - block_add of several clients on overlapping keys: each key is kept once with its waiters
 *   oldest first; a key named twice by one client waits once; keys of any length (a 100 KB
 *   key name included) are waited on;
 * - the optional cap, blocking_keys_max: a command naming exactly as many keys as links are
 *   left blocks, one more key is BLOCK_FULL and changes nothing (a repeated key counted
 *   twice); with the cap 0 nothing is capped;
 * - a full heap: block_add is BLOCK_OOM and changes nothing (heap used bytes, keys, links,
 *   FIFO as before), also when it runs out in the middle of its keys (what it took goes
 *   back); once memory returns the same add succeeds;
 * - block_key_ready puts a waited-on key on the ready list once however often it is called,
 *   and ignores keys nobody waits on; block_ready_pop takes keys oldest first;
 * - block_remove releases the client's links and every key left without waiters, also a key
 *   on the ready list (which then leaves it);
 * - block_next_deadline is the earliest non-zero deadline, 0 when none;
 * - a seeded random churn of adds, removes, readies, pops and serves (waiters of a popped
 *   key removed oldest first, as serving does) against a model of every client's keys,
 *   every key's wait list, the ready list and the FIFO: once with the cap, once on a heap
 *   left almost full (keys up to 3 KB) where adds run out of memory at random;
 * - scale: 10,000 blocked clients on 100,000 keys (each its own 10 keys and 2 of 100 shared
 *   ones), readies and serves compared with a model, the bytes per key and per link printed;
 *   after everyone leaves, the heap's used bytes are what they were before.
 * The seed is printed on failure (also on an abort); KV_SEED replays it.
 */
#include <stdlib.h>
#include <time.h>

#include "block.h"
#include "check.h"
#include "fixture.h"

#define CLIENTS 24u
#define LINKS 20u
#define CHURN_STEPS 100000u

/* The small tests' heaps, and the scale test's. */
#define HEAP_SMALL_BYTES (4ull << 20)
#define HEAP_SCALE_BYTES (64ull << 20)

/* The nearly full heap of the second churn: ten pages, for 14 keys of up to 3 KB. */
#define HEAP_TIGHT_BYTES (40ull << 10)

/* Fillers that take a heap's room: 64 KiB blocks, then every smaller size down to 8 bytes
 * (each size class's partly used spans too). */
#define FILL_BLOCK_BYTES (64u << 10)
#define FILL_BLOCKS_MAX 65536u

#define SCALE_CLIENTS 10000u
#define SCALE_OWN_KEYS 10u
#define SCALE_SHARED_KEYS 2u
#define SCALE_HOT_KEYS 100u
#define SCALE_KEYS_PER_CLIENT (SCALE_OWN_KEYS + SCALE_SHARED_KEYS)
#define SCALE_ROUNDS 20000u

static struct region region;

static void key_ready(struct block *block, struct slice key)
{
    block_key_ready(block, 0, key);
}

/* The waiters of a key, oldest first, into clients[]; returns how many. */
static uint32_t waiters_of(const struct block *block, uint32_t key_ref, uint32_t *clients,
                           uint32_t clients_max)
{
    uint32_t link = 0;
    uint32_t count = 0;
    bool more = block_waiter_first(block, key_ref, &link, &clients[0]);
    /* Bounded by clients_max. */
    while (more && count < clients_max) {
        count++;
        if (count == clients_max) {
            break;
        }
        more = block_waiter_next(block, &link, &clients[count]);
    }
    return count;
}

/* Pops the next ready key and checks its waiters are exactly want[0 .. want_count). */
static bool pop_expect(struct block *block, const uint32_t *want, uint32_t want_count)
{
    uint32_t key_ref = 0;
    if (!block_ready_pop(block, &key_ref)) {
        return false;
    }
    uint32_t got[CLIENTS];
    uint32_t count = waiters_of(block, key_ref, got, CLIENTS);
    return count == want_count && memcmp(got, want, count * sizeof(uint32_t)) == 0;
}

static void block_make(struct block *block, struct heap *heap, uint32_t client_count,
                       uint32_t links_max)
{
    block_init(block, &region, heap, client_count, links_max, 0x5eed0000u + links_max);
    block_verify(block);
    CHECK(block->blocked_count == 0 && block_next_deadline(block) == 0);
    CHECK(!block_ready_pending(block) && block_fifo_first(block) == BLOCK_NONE);
    CHECK(block_memory_bytes(block) == 0);
}

/* A heap of its own, carved from the region. */
static void heap_make(struct heap *heap, uint64_t bytes)
{
    heap_init(heap, &region, bytes);
    heap_verify(heap);
}

/* Takes every byte of a heap: 64 KiB blocks, then every multiple of 8 bytes below, so no
 * size class keeps a free object. Returns how many blocks; the 64 KiB ones come first. */
static uint32_t heap_fill(struct heap *heap, void **blocks)
{
    uint32_t count = 0;
    /* Bound: FILL_BLOCK_BYTES / 8 sizes, FILL_BLOCKS_MAX blocks in all. */
    for (uint64_t bytes = FILL_BLOCK_BYTES; bytes >= 8; bytes -= 8) {
        while (count < FILL_BLOCKS_MAX) {
            void *block = heap_alloc(heap, bytes);
            if (block == NULL) {
                break;
            }
            blocks[count] = block;
            count++;
        }
    }
    KV_ASSERT(count < FILL_BLOCKS_MAX);
    return count;
}

static void heap_unfill(struct heap *heap, void **blocks, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        if (blocks[index] != NULL) {
            heap_release(heap, blocks[index]);
            blocks[index] = NULL;
        }
    }
}

static void test_overlap(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct block block;
    block_make(&block, heap, CLIENTS, 0);
    static uint8_t long_name[100000];
    memset(long_name, 'L', sizeof(long_name));
    struct slice long_key = {.bytes = long_name, .length = sizeof(long_name)};
    struct slice keys_a[] = {text("k1"), text("k2"), text("k1")};
    struct slice keys_b[] = {text("k2"), text("k3")};
    struct slice keys_c[] = {text("k3"), long_key, text("k2"), text("k4")};
    CHECK(block_add(&block, 5, keys_a, 3, 0) == BLOCK_OK);
    block_verify(&block);
    /* k1 named twice waits once. */
    CHECK(block_is_blocked(&block, 5) && block.clients[5].link_count == 2);
    CHECK(block_key_count(&block) == 2 && block.link_count == 2);
    CHECK(block_add(&block, 2, keys_b, 2, 3000) == BLOCK_OK);
    block_verify(&block);
    /* A 100 KB key is a key like any other. */
    CHECK(block_add(&block, 9, keys_c, 4, 2000) == BLOCK_OK);
    block_verify(&block);
    CHECK(block.clients[9].link_count == 4 && block_key_count(&block) == 5);
    CHECK(block.link_count == 8 && block.blocked_count == 3);
    CHECK(block_memory_bytes(&block) > sizeof(long_name));
    CHECK(heap->used_bytes - used_before == block_memory_bytes(&block));
    struct slice keys_d[] = {text("k5")};
    CHECK(block_add(&block, 11, keys_d, 1, 2500) == BLOCK_OK);
    block_verify(&block);
    CHECK(block_next_deadline(&block) == 2000);
    /* The FIFO: in the order they blocked. */
    uint32_t client = block_fifo_first(&block);
    const uint32_t fifo[] = {5, 2, 9, 11};
    for (uint32_t index = 0; index < 4; index++) {
        CHECK(client == fifo[index]);
        client = block_fifo_next(&block, client);
    }
    CHECK(client == BLOCK_NONE);
    /* Ready: k2 (5, 2, 9 wait), then k1 (5), then the long key (9), then k3 (2, 9); repeats
     * change nothing, a key nobody waits on is ignored. */
    key_ready(&block, text("k2"));
    key_ready(&block, text("k9"));
    key_ready(&block, text("k1"));
    key_ready(&block, text("k2"));
    key_ready(&block, long_key);
    key_ready(&block, text("k3"));
    key_ready(&block, text("k1"));
    block_verify(&block);
    CHECK(block_ready_pending(&block));
    const uint32_t k2_waiters[] = {5, 2, 9};
    const uint32_t k1_waiters[] = {5};
    const uint32_t long_waiters[] = {9};
    const uint32_t k3_waiters[] = {2, 9};
    CHECK(pop_expect(&block, k2_waiters, 3));
    block_verify(&block);
    /* Popped: it may go on again. */
    key_ready(&block, text("k2"));
    CHECK(pop_expect(&block, k1_waiters, 1));
    CHECK(pop_expect(&block, long_waiters, 1));
    CHECK(pop_expect(&block, k3_waiters, 2));
    CHECK(pop_expect(&block, k2_waiters, 3));
    CHECK(!block_ready_pending(&block));
    uint32_t key_ref = 0;
    CHECK(!block_ready_pop(&block, &key_ref));
    block_verify(&block);
    /* Removing 5: k1 has no waiter left and goes, even while on the ready list; k2 keeps
     * 2 and 9 in their order. */
    key_ready(&block, text("k1"));
    key_ready(&block, text("k2"));
    uint32_t link = 0;
    uint32_t first = 0;
    CHECK(block_ready_pop(&block, &key_ref)); /* k1, put back below */
    CHECK(block_waiter_first(&block, key_ref, &link, &first) && first == 5);
    CHECK(block_link_is(&block, link, 5) && !block_link_is(&block, link, 2));
    key_ready(&block, text("k1"));
    block_remove(&block, 5);
    block_verify(&block);
    CHECK(!block_is_blocked(&block, 5) && block.clients[5].link_count == 0);
    CHECK(block_key_count(&block) == 5 && block.link_count == 7);
    const uint32_t k2_after[] = {2, 9};
    CHECK(pop_expect(&block, k2_after, 2)); /* k1 left the ready list with its last waiter */
    CHECK(!block_ready_pending(&block));
    /* Deadlines: 9's 2000 is the earliest; then 11's 2500; then 2's 3000; none. */
    block_remove(&block, 9);
    block_verify(&block);
    CHECK(block_next_deadline(&block) == 2500);
    block_remove(&block, 11);
    CHECK(block_next_deadline(&block) == 3000);
    struct slice keys_e[] = {text("k4")};
    CHECK(block_add(&block, 0, keys_e, 1, 0) == BLOCK_OK); /* never times out */
    CHECK(block_next_deadline(&block) == 3000);
    block_remove(&block, 2);
    CHECK(block_next_deadline(&block) == 0);
    block_remove(&block, 0);
    block_verify(&block);
    CHECK(block.blocked_count == 0 && block_key_count(&block) == 0 && block.link_count == 0);
    CHECK(block_fifo_first(&block) == BLOCK_NONE);
    /* Every byte went back. */
    CHECK(block_memory_bytes(&block) == 0 && heap->used_bytes == used_before);
}

/* Several keys named by index: "x0", "x1", ... */
static void keys_named(struct slice *keys, char names[][8], uint32_t first, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        snprintf(names[index], 8, "x%u", first + index);
        keys[index] = text(names[index]);
    }
}

/* SWAPDB's block_ready_all: every key with waiters goes on the ready list once, after those
 * already on it, and a key nobody waits on stays off. */
static void test_ready_all(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct block block;
    block_make(&block, heap, CLIENTS, 0);
    struct slice keys_a[] = {text("a1"), text("a2")};
    struct slice keys_b[] = {text("a2"), text("b3")};
    CHECK(block_add(&block, 1, keys_a, 2, 0) == BLOCK_OK);
    CHECK(block_add(&block, 2, keys_b, 2, 0) == BLOCK_OK);
    key_ready(&block, text("b3"));
    block_ready_all(&block);
    block_ready_all(&block); /* again: nothing changes */
    block_verify(&block);
    uint32_t popped = 0;
    uint32_t key_ref = 0;
    uint32_t first_ref = 0;
    /* Bounded: three keys wait. */
    while (popped < 4 && block_ready_pop(&block, &key_ref)) {
        if (popped == 0) {
            first_ref = key_ref;
        }
        popped++;
    }
    CHECK(popped == 3 && block_key_count(&block) == 3);
    uint32_t link = 0;
    uint32_t client = 0;
    CHECK(block_waiter_first(&block, first_ref, &link, &client) && client == 2); /* b3 first */
    block_remove(&block, 1);
    block_remove(&block, 2);
    block_ready_all(&block); /* nobody waits: nothing goes on the list */
    CHECK(!block_ready_pending(&block));
    block_verify(&block);
    CHECK(heap->used_bytes == used_before);
}

static void test_cap(struct heap *heap)
{
    struct block block;
    block_make(&block, heap, CLIENTS, 6);
    struct slice keys[8];
    char names[8][8];
    /* 4 of 6, then 2 more (one shared): exactly at the cap. */
    keys_named(keys, names, 0, 4);
    CHECK(block_add(&block, 0, keys, 4, 0) == BLOCK_OK);
    keys_named(keys, names, 3, 2);
    CHECK(block_add(&block, 1, keys, 2, 0) == BLOCK_OK);
    block_verify(&block);
    CHECK(block.link_count == 6 && block_key_count(&block) == 5);
    /* One key more: refused, nothing changes (even a key that exists already). */
    keys_named(keys, names, 0, 1);
    CHECK(block_add(&block, 2, keys, 1, 0) == BLOCK_FULL);
    CHECK(!block_is_blocked(&block, 2) && block.blocked_count == 2 && block.link_count == 6);
    block_verify(&block);
    /* Client 1 leaves: 2 links free (x4 went with it; x3 stays for 0). */
    block_remove(&block, 1);
    CHECK(block.link_count == 4 && block_key_count(&block) == 4);
    keys_named(keys, names, 5, 3);
    CHECK(block_add(&block, 2, keys, 3, 0) == BLOCK_FULL);
    CHECK(block.link_count == 4 && block_key_count(&block) == 4);
    CHECK(block_add(&block, 2, keys, 2, 0) == BLOCK_OK);
    CHECK(block.link_count == 6);
    block_verify(&block);
    /* A key named twice is counted twice against the cap, before it is found to repeat:
     * with one link left, ("y", "y") is refused; with two, it takes one. */
    block_remove(&block, 2);
    keys_named(keys, names, 6, 1);
    CHECK(block_add(&block, 3, keys, 1, 0) == BLOCK_OK);
    CHECK(block.link_count == 5);
    struct slice twice[] = {text("y"), text("y")};
    CHECK(block_add(&block, 4, twice, 2, 0) == BLOCK_FULL);
    block_remove(&block, 3);
    CHECK(block_add(&block, 4, twice, 2, 0) == BLOCK_OK);
    CHECK(block.clients[4].link_count == 1 && block.link_count == 5);
    block_verify(&block);
    block_remove(&block, 4);
    block_remove(&block, 0);
    /* More keys than blocking_keys_max at once, on an empty block: refused. */
    struct slice many[7];
    char many_names[7][8];
    keys_named(many, many_names, 0, 7);
    CHECK(block_add(&block, 0, many, 7, 0) == BLOCK_FULL);
    CHECK(block_add(&block, 0, many, 6, 0) == BLOCK_OK);
    block_remove(&block, 0);
    block_verify(&block);
    CHECK(block.link_count == 0 && block_memory_bytes(&block) == 0);
    /* blocking_keys_max 0: no cap; 2,000 keys block one client. */
    struct block open;
    block_make(&open, heap, CLIENTS, 0);
    static struct slice wide[2000];
    static char wide_names[2000][8];
    keys_named(wide, wide_names, 0, 2000);
    CHECK(block_add(&open, 0, wide, 2000, 0) == BLOCK_OK);
    CHECK(open.link_count == 2000 && block_key_count(&open) == 2000);
    block_verify(&open);
    block_remove(&open, 0);
    CHECK(block_memory_bytes(&open) == 0);
}

static void test_oom(struct heap *heap)
{
    static void *fillers[FILL_BLOCKS_MAX];
    struct block block;
    block_make(&block, heap, CLIENTS, 0);
    struct slice keys[8];
    char names[8][8];
    keys_named(keys, names, 0, 4);
    CHECK(block_add(&block, 0, keys, 4, 0) == BLOCK_OK);
    uint32_t filler_count = heap_fill(heap, fillers);
    CHECK(filler_count > 0 && heap_alloc(heap, 8) == NULL);
    uint64_t used_before = heap->used_bytes;
    uint64_t memory_before = block_memory_bytes(&block);
    uint64_t entry_bytes_before = block.entry_bytes;
    /* Full: a new key, and a new link to a key that exists, both refused. */
    keys_named(keys, names, 10, 1);
    CHECK(block_add(&block, 1, keys, 1, 0) == BLOCK_OOM);
    keys_named(keys, names, 0, 1);
    CHECK(block_add(&block, 1, keys, 1, 0) == BLOCK_OOM);
    CHECK(!block_is_blocked(&block, 1) && block.blocked_count == 1);
    CHECK(block.link_count == 4 && block_key_count(&block) == 4);
    CHECK(heap->used_bytes == used_before && block_memory_bytes(&block) == memory_before);
    block_verify(&block);
    /* One 64 KiB block back: room for some of 3,000 keys of 40 bytes, not all. What the
     * add took on the way goes back. */
    heap_release(heap, fillers[0]);
    fillers[0] = NULL;
    uint64_t entries_used_before = heap->used_bytes - dict_bucket_bytes(&block.keys);
    static struct slice big[3000];
    static char big_names[3000][48];
    for (uint32_t index = 0; index < 3000; index++) {
        snprintf(big_names[index], sizeof(big_names[index]), "big-key-%035u", index);
        big[index] = text(big_names[index]);
    }
    CHECK(block_add(&block, 2, big, 3000, 0) == BLOCK_OOM);
    /* Every entry it took went back; only the dict's bucket array may differ in size. */
    CHECK(block.entry_bytes == entry_bytes_before);
    CHECK(heap->used_bytes - dict_bucket_bytes(&block.keys) == entries_used_before);
    CHECK(block.link_count == 4 && block_key_count(&block) == 4 && block.blocked_count == 1);
    block_verify(&block);
    /* A few fit. */
    CHECK(block_add(&block, 2, big, 100, 0) == BLOCK_OK);
    CHECK(block.link_count == 104);
    block_verify(&block);
    /* Memory returns: the whole add succeeds. */
    block_remove(&block, 2);
    heap_unfill(heap, fillers, filler_count);
    CHECK(block_add(&block, 2, big, 3000, 0) == BLOCK_OK);
    CHECK(block.link_count == 3004 && block_key_count(&block) == 3004);
    block_verify(&block);
    block_remove(&block, 2);
    block_remove(&block, 0);
    CHECK(block_memory_bytes(&block) == 0 && heap->used_bytes == 0);
    heap_verify(heap);
}

/* The churn's keys: short ones and, for the nearly full heap, long ones. */
#define MODEL_KEYS 14u
#define MODEL_KEY_BYTES_MAX 3000u

struct model {
    bool blocked[CLIENTS];
    int64_t deadline_ms[CLIENTS];
    uint32_t fifo[CLIENTS];               /* blocked clients, oldest first */
    uint32_t fifo_count;
    uint32_t waiters[MODEL_KEYS][CLIENTS]; /* each key's wait list, oldest first */
    uint32_t waiter_count[MODEL_KEYS];
    uint32_t ready[MODEL_KEYS];           /* keys on the ready list, oldest first */
    uint32_t ready_count;
    uint32_t links;                       /* (client, key) links in all */
    uint32_t keys;                        /* keys with waiters */
};

struct churn_keys {
    uint8_t bytes[MODEL_KEYS][MODEL_KEY_BYTES_MAX];
    struct slice names[MODEL_KEYS];
};

/* Key k: its letter repeated; lengths 1..12, or up to MODEL_KEY_BYTES_MAX when `long`. */
static void churn_keys_make(struct churn_keys *keys, bool long_names)
{
    for (uint32_t key = 0; key < MODEL_KEYS; key++) {
        uint32_t length = long_names ? 1u + key * (MODEL_KEY_BYTES_MAX - 1u) / (MODEL_KEYS - 1u)
                                     : 1u + key % 12u;
        memset(keys->bytes[key], 'a' + (int)key, length);
        keys->names[key] = (struct slice){.bytes = keys->bytes[key], .length = length};
    }
}

static void list_remove(uint32_t *list, uint32_t *count, uint32_t value)
{
    for (uint32_t index = 0; index < *count; index++) {
        if (list[index] == value) {
            memmove(list + index, list + index + 1, (*count - index - 1) * sizeof(uint32_t));
            (*count)--;
            return;
        }
    }
}

static bool list_has(const uint32_t *list, uint32_t count, uint32_t value)
{
    for (uint32_t index = 0; index < count; index++) {
        if (list[index] == value) {
            return true;
        }
    }
    return false;
}

static void model_remove(struct model *model, uint32_t client)
{
    model->blocked[client] = false;
    list_remove(model->fifo, &model->fifo_count, client);
    for (uint32_t key = 0; key < MODEL_KEYS; key++) {
        if (list_has(model->waiters[key], model->waiter_count[key], client)) {
            list_remove(model->waiters[key], &model->waiter_count[key], client);
            model->links--;
            if (model->waiter_count[key] == 0) {
                model->keys--;
                list_remove(model->ready, &model->ready_count, key);
            }
        }
    }
}

/* Adds a client with 1..5 random keys; returns its status (checked against the cap, and on
 * a nearly full heap allowed to be BLOCK_OOM, which must change nothing). */
static enum block_status churn_add(struct block *block, struct model *model,
                                   const struct churn_keys *names, uint32_t client)
{
    uint32_t key_count = 1 + prng_below(5);
    struct slice keys[5];
    uint32_t which[5];
    for (uint32_t index = 0; index < key_count; index++) {
        which[index] = prng_below(MODEL_KEYS);
        keys[index] = names->names[which[index]];
    }
    int64_t deadline_ms = prng_below(3) == 0 ? 0 : 1 + prng_below(100000);
    uint64_t entry_bytes_before = block->entry_bytes;
    enum block_status status = block_add(block, client, keys, key_count, deadline_ms);
    bool full = block->links_max != 0 && key_count > block->links_max - model->links;
    CHECK(full == (status == BLOCK_FULL));
    CHECK(status != BLOCK_OOM || block->links_max == 0); /* only the nearly full heap */
    if (status != BLOCK_OK) {
        /* Nothing changed: no entry kept (the dict's bucket array may have been resized). */
        CHECK(block->entry_bytes == entry_bytes_before);
        return status;
    }
    model->blocked[client] = true;
    model->deadline_ms[client] = deadline_ms;
    model->fifo[model->fifo_count++] = client;
    for (uint32_t index = 0; index < key_count; index++) {
        uint32_t key = which[index];
        if (list_has(model->waiters[key], model->waiter_count[key], client)) {
            continue;
        }
        model->keys += model->waiter_count[key] == 0 ? 1 : 0;
        model->waiters[key][model->waiter_count[key]++] = client;
        model->links++;
    }
    return status;
}

/* Pops the oldest ready key; checks it against the model and, now and then, serves its
 * waiters oldest first (removes them, as serving does) and walks on as wake_ready does:
 * the next link is taken before each removal, and the walk ends without one. */
static void churn_pop(struct block *block, struct model *model)
{
    uint32_t key_ref = 0;
    bool popped = block_ready_pop(block, &key_ref);
    CHECK(popped == (model->ready_count > 0));
    if (!popped || model->ready_count == 0) {
        return;
    }
    uint32_t key = model->ready[0];
    list_remove(model->ready, &model->ready_count, key);
    uint32_t got[CLIENTS];
    uint32_t count = waiters_of(block, key_ref, got, CLIENTS);
    CHECK(count == model->waiter_count[key]);
    CHECK(memcmp(got, model->waiters[key], count * sizeof(uint32_t)) == 0);
    if (prng_below(2) == 0) {
        return;
    }
    uint32_t link = 0;
    uint32_t client = 0;
    bool more = block_waiter_first(block, key_ref, &link, &client);
    uint32_t serve_count = 1 + prng_below(count);
    for (uint32_t served = 0; more && served < serve_count; served++) {
        uint32_t next_link = link;
        uint32_t next_client = 0;
        bool has_next = block_waiter_next(block, &next_link, &next_client);
        CHECK(client == model->waiters[key][0]);
        block_remove(block, client);
        model_remove(model, client);
        block_verify(block);
        CHECK(has_next == (model->waiter_count[key] > 0));
        CHECK(!has_next || block_link_is(block, next_link, next_client));
        link = next_link;
        client = next_client;
        more = has_next;
    }
}

static void model_check(const struct block *block, const struct model *model)
{
    CHECK(block->blocked_count == model->fifo_count);
    CHECK(block->link_count == model->links);
    CHECK(block_key_count(block) == model->keys);
    CHECK(block_ready_pending(block) == (model->ready_count > 0));
    uint32_t client = block_fifo_first(block);
    int64_t earliest = 0;
    for (uint32_t index = 0; index < model->fifo_count; index++) {
        CHECK(client == model->fifo[index]);
        if (client == BLOCK_NONE) {
            return;
        }
        client = block_fifo_next(block, client);
        int64_t deadline_ms = model->deadline_ms[model->fifo[index]];
        if (deadline_ms != 0 && (earliest == 0 || deadline_ms < earliest)) {
            earliest = deadline_ms;
        }
    }
    CHECK(client == BLOCK_NONE);
    CHECK(block_next_deadline(block) == earliest);
    for (uint32_t index = 0; index < CLIENTS; index++) {
        CHECK(block_is_blocked(block, index) == model->blocked[index]);
    }
}

/* Returns the adds refused (by the cap or the heap). */
static uint32_t churn(struct block *block, const struct churn_keys *names, uint64_t seed)
{
    static struct model model;
    memset(&model, 0, sizeof(model));
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    uint32_t refused_count = 0;
    uint32_t served_pops = 0;
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < CHURN_STEPS; fixture_run.step++) {
        uint32_t client = prng_below(CLIENTS);
        uint32_t action = prng_below(6);
        if (action <= 1) {
            if (model.blocked[client]) {
                block_remove(block, client);
                model_remove(&model, client);
            } else {
                refused_count += churn_add(block, &model, names, client) != BLOCK_OK ? 1 : 0;
            }
        } else if (action <= 3) {
            uint32_t key = prng_below(MODEL_KEYS);
            key_ready(block, names->names[key]);
            if (model.waiter_count[key] > 0 && !list_has(model.ready, model.ready_count, key)) {
                model.ready[model.ready_count++] = key;
            }
        } else {
            uint32_t blocked_before = model.fifo_count;
            churn_pop(block, &model);
            served_pops += model.fifo_count < blocked_before ? 1 : 0;
        }
        block_verify(block);
        model_check(block, &model);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_block: churn failed at step %u (KV_SEED=%llu)\n", fixture_run.step,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    printf("test_block: churn of %u steps (cap %u): %u refused adds, %u pops that served "
           "(KV_SEED=%llu)\n",
           CHURN_STEPS, block->links_max, refused_count, served_pops, (unsigned long long)seed);
    CHECK(served_pops > 100);
    /* Everyone leaves: the memory is back. */
    for (uint32_t client = 0; client < CLIENTS; client++) {
        if (block_is_blocked(block, client)) {
            block_remove(block, client);
        }
    }
    block_verify(block);
    CHECK(block->link_count == 0 && block_key_count(block) == 0);
    CHECK(!block_ready_pending(block) && block->blocked_count == 0);
    CHECK(block_memory_bytes(block) == 0);
    return refused_count;
}

static void test_churn_cap(struct heap *heap, uint64_t seed)
{
    static struct churn_keys names;
    churn_keys_make(&names, false);
    struct block block;
    block_make(&block, heap, CLIENTS, LINKS);
    uint64_t used_before = heap->used_bytes;
    CHECK(churn(&block, &names, seed) > 100);
    CHECK(heap->used_bytes == used_before);
}

/* Long keys on a heap of ten pages: adds run out of memory at random. */
static void test_churn_tight(struct heap *heap, uint64_t seed)
{
    static struct churn_keys names;
    churn_keys_make(&names, true);
    struct block block;
    block_make(&block, heap, CLIENTS, 0);
    CHECK(churn(&block, &names, seed ^ 0x7171u) > 100);
    CHECK(heap->used_bytes == 0);
    heap_verify(heap);
}

/* The scale test's model: each client's keys, a key's would-be waiters in client order. */
struct scale {
    uint32_t keys[SCALE_CLIENTS][SCALE_KEYS_PER_CLIENT]; /* key numbers */
    uint64_t sequence[SCALE_CLIENTS];     /* when it blocked (0: not blocked) */
    uint32_t hot_clients[SCALE_HOT_KEYS][SCALE_CLIENTS]; /* clients naming each hot key */
    uint32_t hot_count[SCALE_HOT_KEYS];
    char names[SCALE_KEYS_PER_CLIENT][16];
    uint64_t sequence_next;
};

/* Key numbers: 0 .. 99,999 are each client's own (client * 10 + j), then the hot ones. */
static struct slice scale_name(char *buffer, uint32_t key)
{
    snprintf(buffer, 16, "key:%06u", key);
    return text(buffer);
}

static void scale_add(struct block *block, struct scale *scale, uint32_t client)
{
    struct slice keys[SCALE_KEYS_PER_CLIENT];
    for (uint32_t index = 0; index < SCALE_KEYS_PER_CLIENT; index++) {
        keys[index] = scale_name(scale->names[index], scale->keys[client][index]);
    }
    CHECK(block_add(block, client, keys, SCALE_KEYS_PER_CLIENT, 0) == BLOCK_OK);
    scale->sequence[client] = ++scale->sequence_next;
}

/* A hot key's expected waiters: the blocked clients naming it, in the order they blocked. */
static uint32_t scale_expected(const struct scale *scale, uint32_t hot, uint32_t *out)
{
    uint32_t count = 0;
    for (uint32_t index = 0; index < scale->hot_count[hot]; index++) {
        uint32_t client = scale->hot_clients[hot][index];
        if (scale->sequence[client] == 0) {
            continue;
        }
        /* Insertion sort by sequence: hot lists are a few hundred long. */
        uint32_t at = count;
        while (at > 0 && scale->sequence[out[at - 1]] > scale->sequence[client]) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = client;
        count++;
    }
    return count;
}

static void test_scale(struct heap *heap, uint64_t seed)
{
    static struct scale scale;
    static uint32_t expected[SCALE_CLIENTS];
    static uint32_t got[SCALE_CLIENTS];
    memset(&scale, 0, sizeof(scale));
    prng_state = seed ^ 0xa11ce;
    fixture_run.seed = seed;
    fixture_run.active = true;
    struct block block;
    block_make(&block, heap, SCALE_CLIENTS, 0);
    uint64_t used_before = heap->used_bytes;
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        for (uint32_t index = 0; index < SCALE_OWN_KEYS; index++) {
            scale.keys[client][index] = client * SCALE_OWN_KEYS + index;
        }
        uint32_t hot_a = prng_below(SCALE_HOT_KEYS);
        uint32_t hot_b = (hot_a + 1u + prng_below(SCALE_HOT_KEYS - 1u)) % SCALE_HOT_KEYS;
        const uint32_t hot[2] = {hot_a, hot_b};
        for (uint32_t index = 0; index < SCALE_SHARED_KEYS; index++) {
            scale.keys[client][SCALE_OWN_KEYS + index] =
                SCALE_CLIENTS * SCALE_OWN_KEYS + hot[index];
            scale.hot_clients[hot[index]][scale.hot_count[hot[index]]++] = client;
        }
    }
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        scale_add(&block, &scale, client);
    }
    struct timespec ended;
    clock_gettime(CLOCK_MONOTONIC, &ended);
    block_verify(&block);
    uint64_t keys = block_key_count(&block);
    CHECK(keys == SCALE_CLIENTS * SCALE_OWN_KEYS + SCALE_HOT_KEYS);
    CHECK(block.link_count == (uint64_t)SCALE_CLIENTS * SCALE_KEYS_PER_CLIENT);
    CHECK(heap->used_bytes - used_before == block_memory_bytes(&block));
    double add_ns = ((double)(ended.tv_sec - started.tv_sec) * 1e9 +
                     (double)(ended.tv_nsec - started.tv_nsec)) / SCALE_CLIENTS;
    printf("test_block: %u clients blocked on %llu keys (%llu links): %llu bytes, %.1f per "
           "key with its link, %.0f ns per 12-key add\n",
           SCALE_CLIENTS, (unsigned long long)keys, (unsigned long long)block.link_count,
           (unsigned long long)block_memory_bytes(&block),
           (double)block_memory_bytes(&block) / (double)block.link_count, add_ns);
    /* Rounds: a hot key gains members; its waiters are served oldest first, some of them;
     * those served block again (on the same keys, so at the FIFO's end). */
    for (fixture_run.step = 0; fixture_run.step < SCALE_ROUNDS; fixture_run.step++) {
        char buffer[16];
        uint32_t hot = prng_below(SCALE_HOT_KEYS);
        key_ready(&block, scale_name(buffer, SCALE_CLIENTS * SCALE_OWN_KEYS + hot));
        uint32_t key_ref = 0;
        CHECK(block_ready_pop(&block, &key_ref));
        uint32_t want = scale_expected(&scale, hot, expected);
        uint32_t count = want == 0 ? 0 : waiters_of(&block, key_ref, got, SCALE_CLIENTS);
        CHECK(count == want && memcmp(got, expected, count * sizeof(uint32_t)) == 0);
        uint32_t serve_count = count == 0 ? 0 : prng_below(count < 4 ? count + 1 : 4);
        for (uint32_t served = 0; served < serve_count; served++) {
            block_remove(&block, expected[served]);
            scale.sequence[expected[served]] = 0;
        }
        for (uint32_t served = 0; served < serve_count; served++) {
            scale_add(&block, &scale, expected[served]);
        }
        if (fixture_run.step % 5000 == 0) {
            block_verify(&block);
        }
    }
    fixture_run.active = false;
    block_verify(&block);
    /* Everyone leaves: every byte goes back to the heap. */
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        block_remove(&block, client);
    }
    block_verify(&block);
    CHECK(block.blocked_count == 0 && block.link_count == 0 && block_key_count(&block) == 0);
    CHECK(block_memory_bytes(&block) == 0 && heap->used_bytes == used_before);
    heap_verify(heap);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_block", "step");
    uint64_t bytes = 2 * heap_plan_bytes(HEAP_SMALL_BYTES) + heap_plan_bytes(HEAP_TIGHT_BYTES) +
                     heap_plan_bytes(HEAP_SCALE_BYTES) +
                     9 * block_plan_bytes(CLIENTS) + block_plan_bytes(SCALE_CLIENTS) +
                     64 * 1024;
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_block: %s\n", error);
        return 1;
    }
    printf("test_block: KV_SEED=%llu\n", (unsigned long long)seed);
    static struct heap heap_small;
    static struct heap heap_oom;
    static struct heap heap_tight;
    static struct heap heap_scale;
    heap_make(&heap_small, HEAP_SMALL_BYTES);
    heap_make(&heap_oom, HEAP_SMALL_BYTES);
    heap_make(&heap_tight, HEAP_TIGHT_BYTES);
    heap_make(&heap_scale, HEAP_SCALE_BYTES);
    uint64_t carved = region.carved_bytes;
    struct block block;
    block_make(&block, &heap_small, CLIENTS, LINKS);
    CHECK(region.carved_bytes - carved <= block_plan_bytes(CLIENTS) + 64);
    test_overlap(&heap_small);
    test_ready_all(&heap_small);
    test_cap(&heap_small);
    test_oom(&heap_oom);
    test_churn_cap(&heap_small, seed);
    test_churn_tight(&heap_tight, seed);
    test_scale(&heap_scale, seed);
    CHECK(heap_small.used_bytes == 0);
    region_unmap(&region);
    return check_exit("test_block");
}
