/*
 * Proves eviction keeps the data within their limit by each of Redis's policies, and picks
 * as Redis's approximations pick, on a real heap and store:
 * - noeviction: past the limit, evict_room fails and no key goes;
 * - allkeys-lru: 500,000 keys written over 2,000 simulated seconds into a heap that holds
 *   about a quarter of them; a hot set read every step survives whole, and the keys evicted
 *   are old: the survivors (hot set aside) are mostly the most recently written (measured
 *   against exact LRU, the fraction printed, at least 85% required);
 * - allkeys-lfu: keys read often keep a high counter and survive; OBJECT FREQ's counter
 *   grows logarithmically and decays by lfu-decay-time;
 * - volatile-ttl: only keys with an expiry time go, soonest first; with none left, it fails;
 * - volatile-lru and volatile-random leave keys without expiry alone; allkeys-random frees;
 * - keys longer than the pool's name cache (255 bytes) are still evicted;
 * - the time limit: tenacity 0 stops after EVICT_CHECK_KEYS keys (EVICT_RUNNING), and the
 *   cron's cycle finishes the job;
 * store_verify (its tally against the heap's count) and evict_verify after each phase.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evict.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_string.h"

#define HEAP_BYTES (16ull << 20)

static struct region region;
static struct heap heap;
static struct store store;
static struct config config;
static struct evict evict;
static uint64_t fake_us;
static const uint64_t no_clients = 0; /* no connections here: all the heap is data */

static uint64_t fake_now_us(void)
{
    fake_us += 3; /* every look at the clock costs a little */
    return fake_us;
}

static void setup(enum config_policy policy)
{
    fixture_heap_map(&region, &heap, HEAP_BYTES);
    config_defaults(&config);
    config.maxmemory = HEAP_BYTES;
    config.maxmemory_policy = policy;
    store_init(&store, &heap, &config, 777);
    store_string_init(&store);
    store_clock(&store, 1000000000);
    evict_init(&evict, &store, &heap, &config, fake_now_us, &no_clients);
    CHECK(evict_limit(&evict) + evict.reserve_bytes == HEAP_BYTES);
    CHECK(evict.reserve_bytes == EVICT_RESERVE_MIN); /* 16 MiB / 64 is 256 KiB */
}

static void verify(void)
{
    CHECK(store_verify(&store) == heap.allocations);
    evict_verify(&evict);
    heap_verify(&heap);
}

static struct slice key_of(char *buffer, size_t bytes, const char *prefix, uint32_t index)
{
    int length = snprintf(buffer, bytes, "%s%u", prefix, index);
    KV_ASSERT(length > 0 && (size_t)length < bytes);
    return (struct slice){.bytes = (const uint8_t *)buffer, .length = (uint32_t)length};
}

static const uint8_t value_bytes[100] = {0};
static const struct slice value = {.bytes = value_bytes, .length = sizeof(value_bytes)};

/* A write as a command makes it: room first (by policy), then the SET; a SET that found no
 * page (the heap keeps the client reserve's pages) evicts the reserve's bytes more and tries
 * once again, as cmd's oom_retry does; so does its expiry (SET ... PX is one write). */
static bool set_evicting(struct slice key, int64_t expire_at_ms)
{
    if (evict_room(&evict, key.length + value.length) == EVICT_FAIL) {
        return false;
    }
    enum store_status status = store_string_set(&store, key, value);
    if (status == STORE_OOM) {
        uint64_t need = key.length + value.length + evict.reserve_bytes;
        if (evict_room(&evict, need) == EVICT_FAIL) {
            return false;
        }
        status = store_string_set(&store, key, value);
    }
    CHECK(status == STORE_OK);
    if (expire_at_ms > 0) {
        struct store_found found;
        CHECK(store_find_typed(&store, key, STORE_TYPE_STRING, &found) == STORE_OK);
        status = store_expire_set(&store, &found, expire_at_ms);
        /* SET ... PX is one write: it evicts and tries again (only a volatile policy sets TTLs
         * here, and the key has none yet, so it is not a victim). */
        if (status == STORE_OOM) {
            CHECK(evict_room(&evict, evict.reserve_bytes) != EVICT_FAIL);
            CHECK(store_find_typed(&store, key, STORE_TYPE_STRING, &found) == STORE_OK);
            status = store_expire_set(&store, &found, expire_at_ms);
        }
        CHECK(status == STORE_OK);
    }
    CHECK(heap.used_bytes <= evict_limit(&evict) + key.length + value.length + 4096);
    return true;
}

static bool exists(struct slice key)
{
    uint32_t ref = 0;
    return store_peek(&store, key, &ref);
}

static void test_noeviction(void)
{
    setup(CONFIG_POLICY_NOEVICTION);
    char name[32];
    uint32_t stored = 0;
    /* Bounded: the heap holds far fewer than this. */
    for (uint32_t index = 0; index < 1000000; index++) {
        if (!set_evicting(key_of(name, sizeof(name), "k", index), 0)) {
            break;
        }
        stored++;
    }
    CHECK(stored > 50000 && store_key_count(&store) == stored && evict.evicted_keys == 0);
    CHECK(evict_room(&evict, 0) == EVICT_OK || heap.used_bytes > evict_limit(&evict));
    /* Full by bytes or by pages: the next write is refused too, and changes nothing. */
    CHECK(!set_evicting(key_of(name, sizeof(name), "k", stored + 1), 0));
    CHECK(store_key_count(&store) == stored);
    CHECK(!evict_pending(&evict));
    verify();
}

static void test_lru(void)
{
    setup(CONFIG_POLICY_ALLKEYS_LRU);
    char name[32];
    const uint32_t keys = 500000;
    const uint32_t hot = 1000;
    uint32_t fail_count = 0;
    /* Key i is written at second i / 250; the hot keys are read every 50 writes. */
    for (uint32_t index = 0; index < keys; index++) {
        store_clock(&store, 1000000000 + (int64_t)(index / 250) * 1000);
        fail_count += set_evicting(key_of(name, sizeof(name), "k", index), 0) ? 0 : 1;
        if (index % 50 == 0) {
            for (uint32_t touch = 0; touch < hot && touch <= index; touch++) {
                struct store_found found;
                (void)store_find_typed(&store, key_of(name, sizeof(name), "k", touch),
                                       STORE_TYPE_ANY, &found);
            }
        }
    }
    CHECK(fail_count == 0);
    uint64_t held = store_key_count(&store);
    CHECK(held > 30000 && held < keys / 2 && evict.evicted_keys == keys - held);
    uint32_t hot_alive = 0;
    for (uint32_t index = 0; index < hot; index++) {
        hot_alive += exists(key_of(name, sizeof(name), "k", index)) ? 1 : 0;
    }
    /* Exact LRU keeps the hot keys and the last (held - hot) written; count how many of the
     * survivors are among those. */
    uint32_t recent_alive = 0;
    uint32_t cold_held = (uint32_t)held - hot;
    for (uint32_t index = keys - cold_held; index < keys; index++) {
        recent_alive += exists(key_of(name, sizeof(name), "k", index)) ? 1 : 0;
    }
    double quality = (double)recent_alive / (double)cold_held;
    printf("test_evict: allkeys-lru: %llu of %u keys held, %u of %u hot kept, %.1f%% of the "
           "survivors are exact LRU's\n",
           (unsigned long long)held, keys, hot_alive, hot, 100.0 * quality);
    CHECK(hot_alive == hot);
    CHECK(quality >= 0.85);
    verify();
}

static void test_lfu(void)
{
    setup(CONFIG_POLICY_ALLKEYS_LFU);
    config.lfu_log_factor = 10;
    config.lfu_decay_time = 1;
    char name[32];
    /* A fresh key's counter is LFU_INIT; 100 reads take it up a little, 100,000 much more. */
    CHECK(set_evicting(key_of(name, sizeof(name), "f", 0), 0));
    CHECK(set_evicting(key_of(name, sizeof(name), "f", 1), 0));
    uint32_t ref = 0;
    CHECK(store_peek(&store, key_of(name, sizeof(name), "f", 0), &ref));
    CHECK(store_key_lfu(&store, store_key(&store, ref)) == STORE_LFU_INIT);
    struct store_found found;
    for (uint32_t read = 0; read < 100; read++) {
        (void)store_find_typed(&store, key_of(name, sizeof(name), "f", 0), STORE_TYPE_ANY,
                               &found);
    }
    for (uint32_t read = 0; read < 100000; read++) {
        (void)store_find_typed(&store, key_of(name, sizeof(name), "f", 1), STORE_TYPE_ANY,
                               &found);
    }
    CHECK(store_peek(&store, key_of(name, sizeof(name), "f", 0), &ref));
    uint32_t few = store_key_lfu(&store, store_key(&store, ref));
    CHECK(store_peek(&store, key_of(name, sizeof(name), "f", 1), &ref));
    uint32_t many = store_key_lfu(&store, store_key(&store, ref));
    printf("test_evict: LFU counters after 100 and 100,000 reads: %u and %u\n", few, many);
    CHECK(few > STORE_LFU_INIT && few < 20 && many > few + 5 && many < 255);
    /* Ten idle minutes at lfu-decay-time 1 take ten off. */
    store_clock(&store, store.now_ms + 10 * 60000);
    CHECK(store_key_lfu(&store, store_key(&store, ref)) == many - 10);
    /* A hot set read often survives a flood of keys read once. */
    const uint32_t hot = 500;
    for (uint32_t index = 0; index < hot; index++) {
        CHECK(set_evicting(key_of(name, sizeof(name), "h", index), 0));
        for (uint32_t read = 0; read < 200; read++) {
            (void)store_find_typed(&store, key_of(name, sizeof(name), "h", index),
                                   STORE_TYPE_ANY, &found);
        }
    }
    for (uint32_t index = 0; index < 400000; index++) {
        CHECK(set_evicting(key_of(name, sizeof(name), "c", index), 0));
    }
    uint32_t hot_alive = 0;
    for (uint32_t index = 0; index < hot; index++) {
        hot_alive += exists(key_of(name, sizeof(name), "h", index)) ? 1 : 0;
    }
    printf("test_evict: allkeys-lfu: %u of %u frequently read keys kept, %llu evicted\n",
           hot_alive, hot, (unsigned long long)evict.evicted_keys);
    CHECK(hot_alive == hot && evict.evicted_keys > 200000);
    verify();
}

static void test_volatile(void)
{
    setup(CONFIG_POLICY_VOLATILE_TTL);
    char name[32];
    int64_t now = store.now_ms;
    /* 20,000 keys without expiry, then keys with times further and further out. */
    for (uint32_t index = 0; index < 20000; index++) {
        CHECK(set_evicting(key_of(name, sizeof(name), "p", index), 0));
    }
    uint32_t volatile_count = 0;
    /* Bounded: until volatile-ttl has nothing left to evict. */
    for (uint32_t index = 0; index < 1000000; index++) {
        if (!set_evicting(key_of(name, sizeof(name), "v", index), now + 1000000 + index)) {
            break;
        }
        volatile_count++;
    }
    /* Every persistent key is still there; the volatile ones evicted are the soonest. */
    uint32_t persistent_alive = 0;
    for (uint32_t index = 0; index < 20000; index++) {
        persistent_alive += exists(key_of(name, sizeof(name), "p", index)) ? 1 : 0;
    }
    CHECK(persistent_alive == 20000);
    uint64_t held = store_expires_count(&store);
    CHECK(held > 1000 && evict.evicted_keys > 10000);
    uint32_t latest_alive = 0;
    for (uint32_t index = volatile_count - (uint32_t)held; index < volatile_count; index++) {
        latest_alive += exists(key_of(name, sizeof(name), "v", index)) ? 1 : 0;
    }
    printf("test_evict: volatile-ttl: %u volatile keys written, %llu held, %.1f%% of them "
           "the latest to expire\n",
           volatile_count, (unsigned long long)held, 100.0 * latest_alive / (double)held);
    CHECK(latest_alive >= held * 85 / 100);
    verify();
    /* volatile-lru and volatile-random: keys without expiry never go; with no key that
     * has one, room cannot be made. */
    enum config_policy policies[] = {CONFIG_POLICY_VOLATILE_LRU, CONFIG_POLICY_VOLATILE_RANDOM,
                                     CONFIG_POLICY_VOLATILE_LFU};
    for (uint32_t which = 0; which < 3; which++) {
        setup(policies[which]);
        uint32_t stored = 0;
        for (uint32_t index = 0; index < 1000000; index++) {
            if (!set_evicting(key_of(name, sizeof(name), "p", index), 0)) {
                break;
            }
            stored++;
        }
        CHECK(evict.evicted_keys == 0 && store_key_count(&store) == stored);
        CHECK(!set_evicting(key_of(name, sizeof(name), "p", stored + 1), 0));
        /* With some volatile keys, those go and only those. */
        for (uint32_t index = 0; index < 100; index++) {
            struct store_found found;
            CHECK(store_find_typed(&store, key_of(name, sizeof(name), "p", index),
                                   STORE_TYPE_ANY, &found) == STORE_OK);
            /* EXPIRE is not DENYOOM: half the kept pages are open to it. */
            enum heap_reserve before = heap_reserve_set(&heap, HEAP_RESERVE_HALF);
            CHECK(store_expire_set(&store, &found, now + 5000000) == STORE_OK);
            (void)heap_reserve_set(&heap, before);
        }
        CHECK(evict_room(&evict, 4000) == EVICT_OK);
        CHECK(evict.evicted_keys > 0 && evict.evicted_keys <= 100);
        CHECK(store_key_count(&store) == stored - evict.evicted_keys);
        CHECK(store_expires_count(&store) == 100 - evict.evicted_keys);
        verify();
    }
}

static void test_random_and_long(void)
{
    setup(CONFIG_POLICY_ALLKEYS_RANDOM);
    char name[32];
    for (uint32_t index = 0; index < 200000; index++) {
        CHECK(set_evicting(key_of(name, sizeof(name), "r", index), 0));
    }
    CHECK(evict.evicted_keys > 50000);
    verify();
    /* Keys of 400 bytes (past the pool's cache of 255): LRU still evicts them. */
    setup(CONFIG_POLICY_ALLKEYS_LRU);
    static char long_name[420];
    memset(long_name, 'L', sizeof(long_name));
    for (uint32_t index = 0; index < 50000; index++) {
        int written = snprintf(long_name + 390, 30, "%08u", index);
        KV_ASSERT(written == 8);
        struct slice key = {.bytes = (const uint8_t *)long_name, .length = 398};
        CHECK(set_evicting(key, 0));
    }
    CHECK(evict.evicted_keys > 10000);
    verify();
}

static void test_time_limit(void)
{
    setup(CONFIG_POLICY_ALLKEYS_RANDOM);
    char name[32];
    for (uint32_t index = 0; index < 200000; index++) {
        CHECK(set_evicting(key_of(name, sizeof(name), "t", index), 0));
    }
    /* Tenacity 0: no time at all, so eviction stops at its first look at the clock. */
    config.maxmemory_eviction_tenacity = 0;
    uint64_t before = evict.evicted_keys;
    CHECK(evict_room(&evict, 2u << 20) == EVICT_RUNNING);
    CHECK(evict.evicted_keys - before == EVICT_CHECK_KEYS);
    /* The data are within their limit still; a need of 2 MiB past it is what ran out. */
    config.maxmemory_eviction_tenacity = 100; /* no limit */
    CHECK(evict_room(&evict, 2u << 20) == EVICT_OK);
    CHECK(heap.used_bytes + (2u << 20) <= evict_limit(&evict));
    /* A need past the whole limit fails without evicting anything. */
    before = evict.evicted_keys;
    CHECK(evict_room(&evict, HEAP_BYTES) == EVICT_FAIL && evict.evicted_keys == before);
    verify();
}

int main(void)
{
    test_noeviction();
    test_lru();
    test_lfu();
    test_volatile();
    test_random_and_long();
    test_time_limit();
    region_unmap(&region);
    return check_exit("test_evict");
}
