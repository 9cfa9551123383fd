/*
 * Proves the budget does not calcify, on the real store and heap (every type's writes as the
 * commands make them):
 * - small then large: a heap filled until OOM with 64-byte string values, emptied, then filled
 *   with 16 KiB values holds at least 90% of the 16 KiB payload a fresh heap holds;
 * - large then small: the same in reverse, at least 90% of a fresh heap's 64-byte payload;
 * - churn: strings, lists, hashes, sets and sorted sets of random sizes (8 bytes to 16 KiB
 *   values; 1 to 300 elements) written and deleted at random with the heap kept about 90%
 *   full, for 500,000 operations (KV_CHURN_OPS sets another count); PROBES times, evenly
 *   spaced, a probe fills what is left
 *   with values of one random size until OOM and measures the usable fraction (the heap's used
 *   bytes when the first write is refused, over its capacity), then deletes the probe's keys.
 *   The worst fraction seen must stay at or above 85%; the test prints it and the mean.
 * store_verify's tally against the heap's count, and heap_verify, after each phase and probe.
 * KV_SEED replays the churn.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"

#define HEAP_BYTES (64ull << 20)
#define CHURN_OPS_DEFAULT 500000u
#define PROBES 10u
#define FILL_PERCENT 90u
#define VALUE_BYTES_MAX 16384u
#define KEY_IDS 400000u

static struct region region;
static struct heap heap;
static struct store store;
static struct config config;
static uint8_t value_bytes[VALUE_BYTES_MAX];

static void setup(void)
{
    fixture_heap_map(&region, &heap, HEAP_BYTES);
    config_defaults(&config);
    config.maxmemory = HEAP_BYTES;
    store_init(&store, &heap, &config, 4242);
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_clock(&store, 1000000000);
}

static void verify(void)
{
    CHECK(store_verify(&store) == heap.allocations);
    heap_verify(&heap);
}

static struct slice key_of(char *buffer, const char *prefix, uint32_t id)
{
    int length = snprintf(buffer, 32, "%s%u", prefix, id);
    KV_ASSERT(length > 0 && length < 32);
    return (struct slice){.bytes = (const uint8_t *)buffer, .length = (uint32_t)length};
}

/* Strings of `bytes` under keys prefix0, prefix1, ... until the first refusal; returns how
 * many were stored. */
static uint32_t fill_strings(const char *prefix, uint32_t bytes)
{
    char name[32];
    struct slice value = {.bytes = value_bytes, .length = bytes};
    uint32_t count = 0;
    /* Bounded: the heap holds fewer than HEAP_BYTES / bytes. */
    while (count < HEAP_BYTES / bytes + 1 &&
           store_string_set(&store, key_of(name, prefix, count), value) == STORE_OK) {
        count++;
    }
    return count;
}

static void delete_strings(const char *prefix, uint32_t count)
{
    char name[32];
    /* Bounded by count. */
    for (uint32_t index = 0; index < count; index++) {
        CHECK(store_delete(&store, key_of(name, prefix, index)));
    }
}

/* A fresh heap's payload of one size, and the payload after the other size came and went. */
static void test_sizes(uint32_t first_bytes, uint32_t second_bytes)
{
    setup();
    uint64_t fresh = (uint64_t)fill_strings("f", second_bytes) * second_bytes;
    setup();
    uint32_t first = fill_strings("a", first_bytes);
    CHECK(first > 0);
    delete_strings("a", first);
    CHECK(store_key_count(&store) == 0);
    verify();
    uint64_t after = (uint64_t)fill_strings("b", second_bytes) * second_bytes;
    double ratio = (double)after / (double)fresh;
    printf("test_fragmentation: %u-byte values after %u %u-byte ones: %.1f%% of a fresh heap's "
           "payload (%llu of %llu bytes)\n",
           second_bytes, first, first_bytes, 100.0 * ratio, (unsigned long long)after,
           (unsigned long long)fresh);
    CHECK(ratio >= 0.90);
    verify();
}

/* The churn's keys: which ids hold a key, and of which type. */
static uint8_t churn_type[KEY_IDS];
static uint32_t churn_live;

static uint32_t value_size(void)
{
    /* Mostly small, some medium, a few large: 8 B to 16 KiB, log-uniform. */
    uint32_t shift = 3 + prng_below(12);
    uint32_t bytes = (1u << shift) + prng_below(1u << shift);
    return bytes < VALUE_BYTES_MAX ? bytes : VALUE_BYTES_MAX;
}

static double parse_score(struct slice text)
{
    return (double)text.length;
}

/* Writes a random value of a random type at key id; false on OOM (nothing changed). */
static bool churn_write(uint32_t id)
{
    char name[32];
    char members[300][16];
    struct slice args[600];
    struct slice key = key_of(name, "c", id);
    uint32_t type = 1 + prng_below(5);
    uint32_t count = 1 + prng_below(prng_below(4) == 0 ? 300 : 20);
    /* value_size() is 8 .. VALUE_BYTES_MAX: a collection's elements are an eighth of it. */
    uint32_t bytes = value_size() / (type == STORE_TYPE_STRING ? 1 : 8);
    KV_ASSERT(bytes >= 1 && bytes <= VALUE_BYTES_MAX);
    struct store_found found;
    (void)store_find_typed(&store, key, STORE_TYPE_ANY, &found);
    if (found.exists) {
        return true; /* the id is taken: the caller deletes and writes elsewhere */
    }
    enum store_status status = STORE_OK;
    uint32_t added = 0;
    /* Bounded by count (at most 300). */
    for (uint32_t index = 0; index < count; index++) {
        int length = snprintf(members[index], sizeof(members[index]), "m%u", index);
        KV_ASSERT(length > 0);
        args[2 * index] = (struct slice){.bytes = (const uint8_t *)members[index],
                                         .length = (uint32_t)length};
        args[2 * index + 1] = (struct slice){.bytes = value_bytes, .length = bytes};
    }
    switch (type) {
    case STORE_TYPE_STRING:
        status = store_string_set(&store, key, (struct slice){.bytes = value_bytes,
                                                              .length = bytes});
        break;
    case STORE_TYPE_LIST: {
        struct slice values[300];
        for (uint32_t index = 0; index < count; index++) {
            values[index] = (struct slice){.bytes = value_bytes, .length = bytes};
        }
        uint32_t length = 0;
        status = store_list_push(&store, &found, key, values, count, false, &length);
        break;
    }
    case STORE_TYPE_HASH:
        status = store_hash_set(&store, &found, key, args, count, false, &added);
        break;
    case STORE_TYPE_SET: {
        struct slice values[300];
        for (uint32_t index = 0; index < count; index++) {
            values[index] = args[2 * index];
        }
        status = store_set_add(&store, &found, key, values, count, &added);
        break;
    }
    default: {
        /* A sorted set: members named as scores' texts are the members' own names. */
        struct slice pairs[600];
        for (uint32_t index = 0; index < count; index++) {
            pairs[2 * index] = args[2 * index + 1];
            pairs[2 * index + 1] = args[2 * index];
        }
        struct store_zset_pairs zpairs = {.args = pairs, .count = count, .score = parse_score};
        struct store_zset_result result;
        status = store_zset_add(&store, &found, key, 0, &zpairs, &result);
        break;
    }
    }
    if (status != STORE_OK) {
        CHECK(status == STORE_OOM);
        return false;
    }
    churn_type[id] = (uint8_t)type;
    churn_live++;
    return true;
}

static void churn_delete(uint32_t id)
{
    char name[32];
    CHECK(store_delete(&store, key_of(name, "c", id)));
    churn_type[id] = 0;
    churn_live--;
}

/* Fills what is left with strings of one random size until the first refusal; returns the
 * used fraction then, and gives the probe's keys back. */
static double probe(void)
{
    uint32_t bytes = value_size();
    uint32_t count = fill_strings("p", bytes);
    double fraction = (double)heap.used_bytes / (double)HEAP_BYTES;
    delete_strings("p", count);
    verify();
    return fraction;
}

static void test_churn(uint64_t seed, uint32_t churn_ops)
{
    KV_ASSERT(churn_ops >= PROBES);
    uint32_t probe_every = churn_ops / PROBES;
    setup();
    memset(churn_type, 0, sizeof(churn_type));
    churn_live = 0;
    prng_state = seed;
    double worst = 1.0;
    double sum = 0;
    uint32_t probes = 0;
    uint32_t refused = 0;
    uint64_t target = HEAP_BYTES / 100u * FILL_PERCENT;
    for (uint32_t op = 1; op <= churn_ops; op++) {
        uint32_t id = prng_below(KEY_IDS);
        if (heap.used_bytes < target) {
            if (churn_type[id] != 0) {
                churn_delete(id);
            } else if (!churn_write(id)) {
                refused++;
            }
        } else if (churn_live > 0) {
            /* Bounded: KEY_IDS tries find a live key while churn_live > 0 (a walk from id). */
            for (uint32_t step = 0; step < KEY_IDS; step++) {
                uint32_t at = (id + step) % KEY_IDS;
                if (churn_type[at] != 0) {
                    churn_delete(at);
                    break;
                }
            }
        }
        if (op % probe_every == 0) {
            double fraction = probe();
            worst = fraction < worst ? fraction : worst;
            sum += fraction;
            probes++;
        }
    }
    printf("test_fragmentation: churn of %u operations at %u%% full (KV_SEED=%llu): %u keys "
           "live, %u writes refused for memory, usable fraction worst %.3f, mean %.3f over %u "
           "probes\n",
           churn_ops, FILL_PERCENT, (unsigned long long)seed, churn_live, refused, worst,
           sum / probes, probes);
    CHECK(worst >= 0.85);
    CHECK(churn_live > 1000);
    verify();
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    memset(value_bytes, 'v', sizeof(value_bytes));
    test_sizes(64, 16384);
    test_sizes(16384, 64);
    const char *ops_text = getenv("KV_CHURN_OPS");
    uint32_t churn_ops = CHURN_OPS_DEFAULT;
    if (ops_text != NULL && strtoul(ops_text, NULL, 10) >= PROBES) {
        churn_ops = (uint32_t)strtoul(ops_text, NULL, 10);
    }
    test_churn(seed, churn_ops);
    region_unmap(&region);
    return check_exit("test_fragmentation");
}
