/*
 * Proves the blocked-clients module keeps its wait lists, ready list, FIFO and pools right,
 * with block_verify() after every step:
 * - block_add of several clients on overlapping keys: each key is kept once with its waiters
 *   oldest first; a key named twice by one client waits once; a key longer than
 *   key_bytes_max is skipped (a client naming only such keys is blocked with no links);
 * - the limit: a command naming exactly as many keys as are free blocks, one more key is
 *   BLOCK_FULL and changes nothing (links and key slots both counted, a repeated key
 *   included), and blocking_keys_max 0 refuses every blocking command;
 * - block_key_ready puts a waited-on key on the ready list once however often it is called,
 *   and ignores keys nobody waits on; block_ready_pop takes keys oldest first;
 * - block_remove releases the client's links and every key left without waiters, also a key
 *   on the ready list (which then leaves it); block_link_is tells a released link;
 * - block_next_deadline is the earliest non-zero deadline, 0 when none;
 * - a seeded random churn of adds, removes, readies, pops and serves (the first waiter of a
 *   popped key removed, as serving does) against a model of every client's keys, every key's
 *   wait list, the ready list and the FIFO, with a normal hash and one where every key
 *   collides. The seed is printed on failure (also on an abort); KV_SEED replays it.
 * Uses a real region and the real pools and table.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "block.h"
#include "check.h"

#define CLIENTS 24u
#define KEY_BYTES 8u
#define LINKS 20u
#define CHURN_STEPS 100000u

static struct region region;

static uint64_t prng_state;
static uint64_t churn_seed;
static uint32_t churn_step;
static bool churn_running;

/* splitmix64: one seed gives the whole run. */
static uint64_t prng_next(void)
{
    prng_state += 0x9e3779b97f4a7c15ull;
    uint64_t value = prng_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

static uint32_t prng_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    return (uint32_t)(prng_next() % bound);
}

static void on_abort(int signal_number)
{
    (void)signal_number;
    if (churn_running) {
        fprintf(stderr, "test_block: aborted at churn step %u (KV_SEED=%llu)\n", churn_step,
                (unsigned long long)churn_seed);
    }
}

/* FNV-1a, standing in for the store's hash. */
static uint32_t hash_fnv(const void *context, struct slice key)
{
    (void)context;
    uint32_t hash = 2166136261u;
    for (uint32_t index = 0; index < key.length; index++) {
        hash = (hash ^ key.bytes[index]) * 16777619u;
    }
    return hash;
}

/* Every key the same hash: the table must tell keys apart by their bytes. */
static uint32_t hash_same(const void *context, struct slice key)
{
    (void)context;
    (void)key;
    return 7;
}

static struct slice text(const char *bytes)
{
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)strlen(bytes)};
}

static void key_ready(struct block *block, const char *key)
{
    block_key_ready(block, hash_fnv(NULL, text(key)), text(key));
}

/* The waiters of a key slot, oldest first, into clients[]; returns how many. */
static uint32_t waiters_of(const struct block *block, uint32_t key_slot, uint32_t *clients,
                           uint32_t clients_max)
{
    uint32_t link = 0;
    uint32_t count = 0;
    bool more = block_waiter_first(block, key_slot, &link, &clients[0]);
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
    uint32_t key_slot = 0;
    if (!block_ready_pop(block, &key_slot)) {
        return false;
    }
    uint32_t got[CLIENTS];
    uint32_t count = waiters_of(block, key_slot, got, CLIENTS);
    return count == want_count && memcmp(got, want, count * sizeof(uint32_t)) == 0;
}

static void block_make(struct block *block, uint32_t links_max)
{
    block_init(block, &region, CLIENTS, links_max, KEY_BYTES);
    block_verify(block);
    CHECK(block->blocked_count == 0 && block_next_deadline(block) == 0);
    CHECK(!block_ready_pending(block) && block_fifo_first(block) == BLOCK_NONE);
}

static void test_overlap(void)
{
    struct block block;
    block_make(&block, LINKS);
    struct slice keys_a[] = {text("k1"), text("k2"), text("k1")};
    struct slice keys_b[] = {text("k2"), text("k3")};
    struct slice keys_c[] = {text("k3"), text("123456789"), text("k2"), text("k4")};
    CHECK(block_add(&block, 5, keys_a, 3, 0, hash_fnv, NULL) == BLOCK_OK);
    block_verify(&block);
    /* k1 named twice waits once. */
    CHECK(block_is_blocked(&block, 5) && block.clients[5].link_count == 2);
    CHECK(block.table.count == 2 && pool_used_count(&block.links) == 2);
    CHECK(block_add(&block, 2, keys_b, 2, 3000, hash_fnv, NULL) == BLOCK_OK);
    block_verify(&block);
    /* The 9-byte key is longer than key_bytes_max: never waited on. */
    CHECK(block_add(&block, 9, keys_c, 4, 2000, hash_fnv, NULL) == BLOCK_OK);
    block_verify(&block);
    CHECK(block.clients[9].link_count == 3 && block.table.count == 4);
    CHECK(pool_used_count(&block.links) == 7 && block.blocked_count == 3);
    /* A client naming only a too-long key waits for its timeout alone. */
    struct slice keys_d[] = {text("much-too-long")};
    CHECK(block_add(&block, 11, keys_d, 1, 2500, hash_fnv, NULL) == BLOCK_OK);
    CHECK(block_is_blocked(&block, 11) && block.clients[11].link_count == 0);
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
    /* Ready: k2 (5, 2, 9 wait), then k1 (5), then k3 (2, 9); repeats change nothing, a key
     * nobody waits on (and the too-long one) is ignored. */
    key_ready(&block, "k2");
    key_ready(&block, "k9");
    key_ready(&block, "k1");
    key_ready(&block, "k2");
    key_ready(&block, "much-too-long");
    key_ready(&block, "k3");
    key_ready(&block, "k1");
    block_verify(&block);
    CHECK(block_ready_pending(&block));
    const uint32_t k2_waiters[] = {5, 2, 9};
    const uint32_t k1_waiters[] = {5};
    const uint32_t k3_waiters[] = {2, 9};
    CHECK(pop_expect(&block, k2_waiters, 3));
    block_verify(&block);
    /* Popped: it may go on again. */
    key_ready(&block, "k2");
    CHECK(pop_expect(&block, k1_waiters, 1));
    CHECK(pop_expect(&block, k3_waiters, 2));
    CHECK(pop_expect(&block, k2_waiters, 3));
    CHECK(!block_ready_pending(&block));
    uint32_t key_slot = 0;
    CHECK(!block_ready_pop(&block, &key_slot));
    block_verify(&block);
    /* Removing 5: k1 has no waiter left and goes, even while on the ready list; k2 keeps
     * 2 and 9 in their order. The link 5 had on k2 is released. */
    key_ready(&block, "k1");
    key_ready(&block, "k2");
    uint32_t link = 0;
    uint32_t first = 0;
    CHECK(block_ready_pop(&block, &key_slot)); /* k1, put back below */
    CHECK(block_waiter_first(&block, key_slot, &link, &first) && first == 5);
    uint32_t k1_slot = key_slot;
    key_ready(&block, "k1");
    block_remove(&block, 5);
    block_verify(&block);
    CHECK(!block_is_blocked(&block, 5) && block.clients[5].link_count == 0);
    CHECK(!block_link_is(&block, link, 5) && !block_key_live(&block, k1_slot));
    CHECK(block.table.count == 3 && pool_used_count(&block.links) == 5);
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
    CHECK(block_add(&block, 0, keys_e, 1, 0, hash_fnv, NULL) == BLOCK_OK); /* never times out */
    CHECK(block_next_deadline(&block) == 3000);
    block_remove(&block, 2);
    CHECK(block_next_deadline(&block) == 0);
    block_remove(&block, 0);
    block_verify(&block);
    CHECK(block.blocked_count == 0 && block.table.count == 0);
    CHECK(pool_used_count(&block.links) == 0 && pool_used_count(&block.keys) == 0);
    CHECK(block_fifo_first(&block) == BLOCK_NONE);
}

/* Several keys named by index: "x0", "x1", ... */
static void keys_named(struct slice *keys, char names[][4], uint32_t first, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        snprintf(names[index], 4, "x%u", first + index);
        keys[index] = text(names[index]);
    }
}

static void test_limit(void)
{
    struct block block;
    block_make(&block, 6);
    struct slice keys[8];
    char names[8][4];
    /* 4 of 6, then 2 more (one shared: one key slot left free): exactly full. */
    keys_named(keys, names, 0, 4);
    CHECK(block_add(&block, 0, keys, 4, 0, hash_fnv, NULL) == BLOCK_OK);
    keys_named(keys, names, 3, 2);
    CHECK(block_add(&block, 1, keys, 2, 0, hash_fnv, NULL) == BLOCK_OK);
    block_verify(&block);
    CHECK(block.links.free_count == 0 && block.keys.free_count == 1);
    /* One key more: refused, nothing changes (even a key that exists already). */
    keys_named(keys, names, 0, 1);
    CHECK(block_add(&block, 2, keys, 1, 0, hash_fnv, NULL) == BLOCK_FULL);
    CHECK(!block_is_blocked(&block, 2) && block.blocked_count == 2);
    CHECK(block.links.free_count == 0);
    block_verify(&block);
    /* Client 1 leaves: 2 links and 2 key slots free (x4 went with it; x3 stays for 0). */
    block_remove(&block, 1);
    CHECK(block.links.free_count == 2 && block.keys.free_count == 2);
    keys_named(keys, names, 5, 3);
    CHECK(block_add(&block, 2, keys, 3, 0, hash_fnv, NULL) == BLOCK_FULL);
    CHECK(block.links.free_count == 2 && block.table.count == 4);
    block_verify(&block);
    CHECK(block_add(&block, 2, keys, 2, 0, hash_fnv, NULL) == BLOCK_OK);
    CHECK(block.links.free_count == 0 && block.keys.free_count == 0);
    block_verify(&block);
    /* A key named twice is counted twice against what is free, before it is found to
     * repeat: with one link free, ("y", "y") is refused; with two, it takes one. */
    block_remove(&block, 2);
    keys_named(keys, names, 6, 1);
    CHECK(block_add(&block, 3, keys, 1, 0, hash_fnv, NULL) == BLOCK_OK);
    CHECK(block.links.free_count == 1);
    struct slice twice[] = {text("y"), text("y")};
    CHECK(block_add(&block, 4, twice, 2, 0, hash_fnv, NULL) == BLOCK_FULL);
    block_remove(&block, 3);
    CHECK(block_add(&block, 4, twice, 2, 0, hash_fnv, NULL) == BLOCK_OK);
    CHECK(block.clients[4].link_count == 1 && block.links.free_count == 1);
    block_verify(&block);
    block_remove(&block, 4);
    block_remove(&block, 0);
    /* More keys than blocking_keys_max at once, on an empty block: refused. */
    struct slice many[7];
    char many_names[7][4];
    keys_named(many, many_names, 0, 7);
    CHECK(block_add(&block, 0, many, 7, 0, hash_fnv, NULL) == BLOCK_FULL);
    CHECK(block_add(&block, 0, many, 6, 0, hash_fnv, NULL) == BLOCK_OK);
    block_remove(&block, 0);
    block_verify(&block);
    CHECK(block.links.free_count == 6 && block.keys.free_count == 6);
    /* blocking_keys_max 0: every blocking command is refused. */
    struct block none;
    block_make(&none, 0);
    CHECK(none.links_max == 0);
    CHECK(block_add(&none, 0, many, 1, 0, hash_fnv, NULL) == BLOCK_FULL);
    CHECK(!block_is_blocked(&none, 0) && none.blocked_count == 0);
    key_ready(&none, "x0");
    CHECK(!block_ready_pending(&none));
    block_verify(&none);
}

/* The churn's keys: 12 of at most KEY_BYTES bytes and 2 too long to wait on. */
#define MODEL_KEYS 14u
#define MODEL_KEYS_VALID 12u
static const char *const model_key_names[MODEL_KEYS] = {
    "a", "b", "cc", "dd", "eee", "fff", "gggg", "hhhhh", "iiiiii", "jjjjjjj", "kkkkkkkk",
    "l", "mmmmmmmmm", "nnnnnnnnnnnn"};

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

static void churn_add(struct block *block, struct model *model, uint32_t client,
                      block_hash_fn *hash)
{
    uint32_t key_count = 1 + prng_below(5);
    struct slice keys[5];
    uint32_t which[5];
    uint32_t new_keys = 0;
    for (uint32_t index = 0; index < key_count; index++) {
        which[index] = prng_below(MODEL_KEYS);
        keys[index] = text(model_key_names[which[index]]);
    }
    int64_t deadline_ms = prng_below(3) == 0 ? 0 : 1 + prng_below(100000);
    enum block_status status = block_add(block, client, keys, key_count, deadline_ms, hash, NULL);
    bool full = key_count > LINKS - model->links || key_count > LINKS - model->keys;
    CHECK(status == (full ? BLOCK_FULL : BLOCK_OK));
    if (status != BLOCK_OK) {
        return;
    }
    model->blocked[client] = true;
    model->deadline_ms[client] = deadline_ms;
    model->fifo[model->fifo_count++] = client;
    for (uint32_t index = 0; index < key_count; index++) {
        uint32_t key = which[index];
        if (key >= MODEL_KEYS_VALID ||
            list_has(model->waiters[key], model->waiter_count[key], client)) {
            continue;
        }
        new_keys += model->waiter_count[key] == 0 ? 1 : 0;
        model->waiters[key][model->waiter_count[key]++] = client;
        model->links++;
    }
    model->keys += new_keys;
}

/* Pops the oldest ready key; checks it against the model and, now and then, serves its
 * first waiter (removes it, as serving does) and walks on as wake_ready does. */
static void churn_pop(struct block *block, struct model *model)
{
    uint32_t key_slot = 0;
    bool popped = block_ready_pop(block, &key_slot);
    CHECK(popped == (model->ready_count > 0));
    if (!popped || model->ready_count == 0) {
        return;
    }
    uint32_t key = model->ready[0];
    list_remove(model->ready, &model->ready_count, key);
    uint32_t got[CLIENTS];
    uint32_t count = waiters_of(block, key_slot, got, CLIENTS);
    CHECK(count == model->waiter_count[key]);
    CHECK(memcmp(got, model->waiters[key], count * sizeof(uint32_t)) == 0);
    if (prng_below(2) == 0) {
        return;
    }
    /* Serve waiters oldest first, taking the next link before each removal. */
    uint32_t link = 0;
    uint32_t client = 0;
    bool more = block_waiter_first(block, key_slot, &link, &client);
    uint32_t serve_count = 1 + prng_below(count);
    for (uint32_t served = 0; more && served < serve_count; served++) {
        uint32_t next_link = link;
        uint32_t next_client = 0;
        bool has_next = block_waiter_next(block, &next_link, &next_client);
        CHECK(client == model->waiters[key][0]);
        block_remove(block, client);
        model_remove(model, client);
        block_verify(block);
        if (!block_key_live(block, key_slot)) {
            CHECK(model->waiter_count[key] == 0);
            break;
        }
        CHECK(!has_next || block_link_is(block, next_link, next_client));
        link = next_link;
        client = next_client;
        more = has_next;
    }
}

static void model_check(const struct block *block, const struct model *model)
{
    CHECK(block->blocked_count == model->fifo_count);
    CHECK(pool_used_count(&block->links) == model->links);
    CHECK(pool_used_count(&block->keys) == model->keys && block->table.count == model->keys);
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

static void churn(struct block *block, block_hash_fn *hash, uint64_t seed)
{
    static struct model model;
    memset(&model, 0, sizeof(model));
    prng_state = seed;
    churn_seed = seed;
    churn_running = true;
    uint32_t full_count = 0;
    uint32_t served_pops = 0;
    int failures_before = check_failures;
    for (churn_step = 0; churn_step < CHURN_STEPS; churn_step++) {
        uint32_t client = prng_below(CLIENTS);
        uint32_t action = prng_below(6);
        if (action <= 1) {
            if (model.blocked[client]) {
                block_remove(block, client);
                model_remove(&model, client);
            } else {
                churn_add(block, &model, client, hash);
                full_count += model.blocked[client] ? 0 : 1;
            }
        } else if (action <= 3) {
            uint32_t key = prng_below(MODEL_KEYS);
            struct slice name = text(model_key_names[key]);
            block_key_ready(block, hash(NULL, name), name);
            if (model.waiter_count[key] > 0 && key < MODEL_KEYS_VALID &&
                !list_has(model.ready, model.ready_count, key)) {
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
            fprintf(stderr, "test_block: churn failed at step %u (KV_SEED=%llu)\n", churn_step,
                    (unsigned long long)seed);
            break;
        }
    }
    churn_running = false;
    printf("test_block: churn of %u steps: %u refused adds, %u pops that served "
           "(KV_SEED=%llu)\n",
           CHURN_STEPS, full_count, served_pops, (unsigned long long)seed);
    CHECK(full_count > 100 && served_pops > 100);
    /* Everyone leaves: the pools are whole again. */
    for (uint32_t client = 0; client < CLIENTS; client++) {
        if (block_is_blocked(block, client)) {
            block_remove(block, client);
        }
    }
    block_verify(block);
    CHECK(pool_used_count(&block->links) == 0 && pool_used_count(&block->keys) == 0);
    CHECK(!block_ready_pending(block) && block->blocked_count == 0);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    signal(SIGABRT, on_abort);
    uint64_t bytes = 3 * block_plan_bytes(CLIENTS, LINKS, KEY_BYTES) +
                     block_plan_bytes(CLIENTS, 6, KEY_BYTES) +
                     block_plan_bytes(CLIENTS, 0, KEY_BYTES);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_block: %s\n", error);
        return 1;
    }
    uint64_t carved = region.carved_bytes;
    struct block block;
    block_make(&block, LINKS);
    CHECK(region.carved_bytes - carved <= block_plan_bytes(CLIENTS, LINKS, KEY_BYTES));
    test_overlap();
    test_limit();
    churn(&block, hash_fnv, seed);
    struct block colliding;
    block_make(&colliding, LINKS);
    churn(&colliding, hash_same, seed ^ 0x5555u);
    region_unmap(&region);
    return check_exit("test_block");
}
