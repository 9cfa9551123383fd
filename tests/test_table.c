/*
 * Proves the hash table finds exactly what was inserted and nothing else, with table_verify()
 * after every step. Capacity: the smallest power of two at load <= 3/4, on both sides of each
 * step, and table_init() carving no more than table_plan_bytes(). Exact layouts: runs that wrap
 * around the end of the table, and removal of the first, middle and last entry of a run, with
 * the slot each survivor lands in checked (an entry whose home lies after the hole must stay).
 * Forced collisions: count_max keys with one equal hash, all found, an absent key with that
 * hash not found, equal() called only on matching hashes. Limits: count_max entries fit, one
 * more asserts (forked child, SIGABRT). Long churn at full capacity with a seeded PRNG against
 * a model (an array of the present keys), with random, clustered and wrap-around hashes; the
 * seed is printed on failure and KV_SEED replays it. table_verify() is shown to catch a broken
 * table in forked children.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "table.h"

/* The main table: 96 = 128 * 3 / 4, so it runs at the largest load allowed. */
#define COUNT_MAX 96u
#define CAPACITY 128u

/* The churn on a larger table too, where runs can grow longer. */
#define COUNT_MAX_LARGE 3072u

/* Keys are numbers below KEYS_MAX; each key's hash is chosen by the test to force layouts. */
#define KEYS_MAX (COUNT_MAX_LARGE * 4u)
#define KEY_NONE UINT32_MAX

static uint32_t key_hashes[KEYS_MAX];

/* Calls to equal_key, to show that table_find compares the stored hash first. */
static uint32_t equal_calls;

static uint64_t prng_state;

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
    return (uint32_t)(prng_next() % bound);
}

/* Runs action(context) in a forked child. True when the child dies of SIGABRT after printing
 * an assertion failure that names `expression`; the child's stderr comes back on a pipe. */
static bool dies_asserting(void (*action)(void *), void *context, const char *expression)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        action(context);
        _exit(0);
    }
    close(fds[1]);
    char message[1024];
    size_t length = 0;
    ssize_t got = 0;
    while (length < sizeof(message) - 1 &&
           (got = read(fds[0], message + length, sizeof(message) - 1 - length)) > 0) {
        length += (size_t)got;
    }
    message[length] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    bool aborted = child > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    bool named = strstr(message, expression) != NULL;
    if (!aborted || !named) {
        fprintf(stderr, "expected an abort on '%s'; the child said: %s\n", expression, message);
    }
    return aborted && named;
}

static bool equal_key(const void *context, uint32_t value)
{
    equal_calls++;
    return *(const uint32_t *)context == value;
}

static bool find(const struct table *table, uint32_t key, uint32_t *slot)
{
    uint32_t value = KEY_NONE;
    bool found = table_find(table, key_hashes[key], equal_key, &key, &value, slot);
    if (found) {
        CHECK(value == key);
        CHECK(*slot < table->capacity);
    }
    return found;
}

static void insert(struct table *table, uint32_t key, uint32_t hash)
{
    key_hashes[key] = hash;
    table_insert(table, hash, key);
    table_verify(table);
}

static void remove_key(struct table *table, uint32_t key)
{
    uint32_t slot = 0;
    bool found = find(table, key, &slot);
    CHECK(found);
    if (found) {
        table_remove_at(table, slot);
    }
    table_verify(table);
    CHECK(!find(table, key, &slot));
}

/* The key stored at slot_index, or KEY_NONE for an empty slot. */
static uint32_t key_at(const struct table *table, uint32_t slot_index)
{
    uint32_t value = KEY_NONE;
    if (!table_value_at(table, slot_index, &value)) {
        return KEY_NONE;
    }
    return value;
}

static void test_capacity(struct region *region)
{
    CHECK(table_capacity_for(1) == 8);
    CHECK(table_capacity_for(6) == 8);
    CHECK(table_capacity_for(7) == 16);
    CHECK(table_capacity_for(12) == 16);
    CHECK(table_capacity_for(13) == 32);
    CHECK(table_capacity_for(COUNT_MAX) == CAPACITY);
    CHECK(table_capacity_for(COUNT_MAX + 1) == CAPACITY * 2);
    CHECK(table_capacity_for(1536) == 2048);
    CHECK(table_capacity_for(1537) == 4096);
    CHECK(table_capacity_for(3u << 29) == 1u << 31);
    CHECK(table_plan_bytes(1) == 64);
    CHECK(table_plan_bytes(COUNT_MAX) == CAPACITY * sizeof(struct table_entry));
    /* The smallest table: count_max 1 and 6 share 8 slots; one more entry does not fit. */
    struct table table;
    uint64_t before = region->carved_bytes;
    table_init(&table, region, 6);
    CHECK(region->carved_bytes - before <= table_plan_bytes(6));
    CHECK((uintptr_t)table.entries % 64 == 0);
    CHECK(table.capacity == 8);
    CHECK(table.mask == 7);
    for (uint32_t key = 0; key < 6; key++) {
        insert(&table, key, 7); /* one home slot, the last: the run wraps to 0..4 */
    }
    for (uint32_t key = 0; key < 6; key++) {
        uint32_t slot = 0;
        CHECK(find(&table, key, &slot));
        CHECK(slot == ((7 + key) & 7));
    }
}

/*
 * A run around the end of the table: homes capacity-2, capacity-1, 0 and 1. Layout, slot by
 * slot: 126:A(126) 127:B(126) 0:C(127) 1:D(0) 2:E(126) 3:F(1), then removals with the slot
 * each survivor must land in.
 */
static void test_wrap_layout(struct table *table)
{
    enum { A, B, C, D, E, F };
    uint32_t top = table->capacity - 2;
    insert(table, A, top);
    insert(table, B, top + table->capacity); /* same home, different hash */
    insert(table, C, top + 1);
    insert(table, D, 0);
    insert(table, E, top);
    insert(table, F, 1);
    static const uint32_t layout[][7] = {
        /* key removed, then the keys expected at slots 126, 127, 0, 1, 2, 3 */
        {KEY_NONE, A, B, C, D, E, F},
        {A, B, C, D, E, F, KEY_NONE},                /* first of the run: all shift back */
        {D, B, C, E, F, KEY_NONE, KEY_NONE},         /* middle: F moves to its home */
        {F, B, C, E, KEY_NONE, KEY_NONE, KEY_NONE},  /* last: nothing moves */
        {C, B, E, KEY_NONE, KEY_NONE, KEY_NONE, KEY_NONE},
    };
    for (uint32_t row = 0; row < sizeof(layout) / sizeof(layout[0]); row++) {
        if (layout[row][0] != KEY_NONE) {
            remove_key(table, layout[row][0]);
        }
        for (uint32_t column = 1; column < 7; column++) {
            CHECK(key_at(table, (top + column - 1) & table->mask) == layout[row][column]);
        }
    }
    /* An entry whose home is after the hole stays. Keys 6 and 7 home at 126, key 8 at 0 (its
     * home), key 9 homes at 127 and lands at 1. Removing 6 moves 7 back to 126 and 9 back to
     * 127, past 8, which stays at its home: moving it into the hole would cut it off. */
    remove_key(table, B);
    remove_key(table, E);
    CHECK(table->count == 0);
    insert(table, 6, top);
    insert(table, 7, top);
    insert(table, 8, 0);
    insert(table, 9, top + 1); /* home 127, lands at 1 */
    remove_key(table, 6);
    CHECK(key_at(table, top) == 7);
    CHECK(key_at(table, top + 1) == 9);
    CHECK(key_at(table, 0) == 8);
    CHECK(key_at(table, 1) == KEY_NONE);
    remove_key(table, 7);
    remove_key(table, 8);
    remove_key(table, 9);
    CHECK(table->count == 0);
}

/* count_max keys with one identical hash: a single run of count_max slots around the end. */
static void test_same_hash(struct table *table)
{
    uint32_t hash = 0xabcd0000u | (table->capacity - 3);
    uint32_t home = hash & table->mask;
    for (uint32_t key = 0; key < table->count_max; key++) {
        insert(table, key, hash);
    }
    CHECK(table->count == table->count_max);
    uint32_t slot = 0;
    for (uint32_t key = 0; key < table->count_max; key++) {
        CHECK(find(table, key, &slot));
        CHECK(slot == ((home + key) & table->mask));
    }
    /* Absent with the same hash: the probe walks the whole run to the empty slot after it. */
    key_hashes[COUNT_MAX] = hash;
    equal_calls = 0;
    CHECK(!find(table, COUNT_MAX, &slot));
    CHECK(equal_calls == table->count_max);
    /* Absent with the same home but another hash: equal() is never called. */
    key_hashes[COUNT_MAX] = hash ^ 0x10000u;
    equal_calls = 0;
    CHECK(!find(table, COUNT_MAX, &slot));
    CHECK(equal_calls == 0);
    /* First, middle and last of the run; each survivor shifts back by one or not at all. */
    static const uint32_t removed[] = {0, COUNT_MAX / 2, COUNT_MAX - 1};
    for (uint32_t which = 0; which < 3; which++) {
        remove_key(table, removed[which]);
        uint32_t position = 0;
        for (uint32_t key = 0; key < table->count_max; key++) {
            bool gone = key == removed[0] || (which >= 1 && key == removed[1]) ||
                        (which >= 2 && key == removed[2]);
            CHECK(find(table, key, &slot) == !gone);
            if (!gone) {
                CHECK(slot == ((home + position) & table->mask));
                position++;
            }
        }
    }
    table_clear(table);
    table_verify(table);
    CHECK(table->count == 0);
    for (uint32_t slot_index = 0; slot_index < table->capacity; slot_index++) {
        CHECK(key_at(table, slot_index) == KEY_NONE);
    }
}

/* Full: count_max entries fit and are found; the next insert asserts. */
static void insert_past_full(void *context)
{
    struct table *table = context;
    table_insert(table, 5, COUNT_MAX);
}

static void test_full(struct table *table)
{
    for (uint32_t key = 0; key < table->count_max; key++) {
        insert(table, key, key * 2654435761u);
    }
    uint32_t slot = 0;
    uint32_t walked = 0;
    for (uint32_t slot_index = 0; slot_index < table->capacity; slot_index++) {
        walked += key_at(table, slot_index) != KEY_NONE;
    }
    CHECK(walked == table->count_max);
    for (uint32_t key = 0; key < table->count_max; key++) {
        CHECK(find(table, key, &slot));
    }
    CHECK(dies_asserting(insert_past_full, table, "table->count < table->count_max"));
    /* Replace the value at a slot, read it back, put it back. */
    CHECK(find(table, 17, &slot));
    table_replace_at(table, slot, 1000);
    CHECK(key_at(table, slot) == 1000);
    table_replace_at(table, slot, 17);
    CHECK(find(table, 17, &slot));
    table_verify(table);
    table_clear(table);
    CHECK(!find(table, 17, &slot));
}

/* Hash families for the churn: uniform, few homes (long runs), homes near the end (wraps). */
static uint32_t churn_hash(const struct table *table, uint32_t family)
{
    uint32_t random = (uint32_t)prng_next();
    if (family == 0) {
        return random;
    }
    if (family == 1) {
        return (random & ~table->mask) | (prng_below(40) * 7 & table->mask);
    }
    return (random & ~table->mask) | ((table->capacity - 8 + prng_below(12)) & table->mask);
}

struct model {
    uint32_t present[COUNT_MAX_LARGE]; /* the keys in the table, in no order */
    uint32_t count;                    /* keys in present */
    uint32_t position[KEYS_MAX];       /* index in present, KEY_NONE when absent */
};

static struct model model;

static void model_remove(uint32_t key)
{
    uint32_t at = model.position[key];
    uint32_t last = model.present[model.count - 1];
    model.present[at] = last;
    model.position[last] = at;
    model.position[key] = KEY_NONE;
    model.count--;
}

/* One step: a random key is removed if present, inserted if absent and there is room, and
 * when the table is full a random present key is removed instead; so it stays full. */
static void churn_step(struct table *table, uint32_t keys, uint32_t family)
{
    uint32_t key = prng_below(keys);
    if (model.position[key] == KEY_NONE && model.count == table->count_max) {
        key = model.present[prng_below(model.count)];
    }
    uint32_t slot = 0;
    bool found = find(table, key, &slot);
    CHECK(found == (model.position[key] != KEY_NONE));
    if (found) {
        table_remove_at(table, slot);
        model_remove(key);
    } else {
        key_hashes[key] = churn_hash(table, family);
        table_insert(table, key_hashes[key], key);
        model.position[key] = model.count;
        model.present[model.count] = key;
        model.count++;
    }
    CHECK(table->count == model.count);
    table_verify(table);
}

static void churn(struct table *table, uint32_t family, uint32_t steps, uint64_t seed)
{
    uint32_t keys = table->count_max * 4;
    int failures_before = check_failures;
    table_clear(table);
    model.count = 0;
    memset(model.position, 0xff, sizeof(model.position));
    /* Fill to count_max first, so that the churn runs at full capacity. */
    while (model.count < table->count_max) {
        churn_step(table, keys, family);
    }
    /* From full a step always removes; below full it inserts 3 times in 4, so about a third of
     * the steps find the table full and most of the rest one entry short. */
    uint32_t full_steps = 0;
    uint32_t step = 0;
    for (; step < steps && check_failures == failures_before; step++) {
        churn_step(table, keys, family);
        full_steps += table->count == table->count_max;
        /* Every key, present or not, four times a run: absent keys walk whole runs. */
        if (step % (steps / 4) == 0) {
            uint32_t slot = 0;
            for (uint32_t key = 0; key < keys; key++) {
                CHECK(find(table, key, &slot) == (model.position[key] != KEY_NONE));
            }
        }
    }
    CHECK(full_steps > step / 5);
    if (check_failures != failures_before) {
        fprintf(stderr, "table churn failed: capacity %u, hash family %u (KV_SEED=%llu)\n",
                table->capacity, family, (unsigned long long)seed);
    }
}

/* table_verify() catches a broken table. */
static void verify_gap(void *context)
{
    struct table *table = context;
    table_clear(table);
    table->entries[3].hash = 1; /* home 1, but slots 1 and 2 are empty */
    table->entries[3].value_next = 1;
    table->count = 1;
    table_verify(table);
}

static void verify_count(void *context)
{
    struct table *table = context;
    table_clear(table);
    table_insert(table, 9, 9);
    table->count = 2;
    table_verify(table);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    struct region region;
    char error[256];
    uint64_t bytes = table_plan_bytes(COUNT_MAX) + table_plan_bytes(6) +
                     table_plan_bytes(COUNT_MAX_LARGE);
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_table: %s\n", error);
        return 1;
    }
    struct table table;
    table_init(&table, &region, COUNT_MAX);
    CHECK(table.capacity == CAPACITY);
    CHECK(table.count_max == COUNT_MAX);
    CHECK(region.carved_bytes <= table_plan_bytes(COUNT_MAX));
    table_verify(&table);
    test_capacity(&region);
    test_wrap_layout(&table);
    test_same_hash(&table);
    test_full(&table);
    CHECK(dies_asserting(verify_gap, &table, "distance(table, run_start, home)"));
    CHECK(dies_asserting(verify_count, &table, "occupied == table->count"));
    struct table large;
    table_init(&large, &region, COUNT_MAX_LARGE);
    CHECK(region.carved_bytes <= bytes);
    for (uint32_t family = 0; family < 3; family++) {
        churn(&table, family, 200000, seed);
        churn(&large, family, 10000, seed);
    }
    region_unmap(&region);
    return check_exit("test_table");
}
