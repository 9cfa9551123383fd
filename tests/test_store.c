/*
 * Proves the store's core on the heap: keys of any length and values up to the cap are
 * created, found, overwritten (in place when the object keeps its heap class, else moved),
 * spliced (APPEND, SETRANGE, a gap zero-filled, a large blob grown with headroom), renamed
 * (with and without an expiry time, over an existing key) and removed, and every write
 * takes the heap's memory only as the keys account for it: store_verify's tally equals the
 * heap's allocation count after every step (the heap is the store's alone here). Expiry
 * times grow and shrink the key object and keep the expires dict in step; lazy expiry hides
 * a key at its time; active expiry removes at most its slice per call. SCAN visits every key
 * present for a whole scan while others come and go and the keyspace dict resizes. A full
 * heap answers STORE_OOM and changes nothing (every value and expiry read back). The seed's
 * caps are kv's errors. A seeded churn against a model checks it all (KV_SEED replays it).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_string.h"

static struct region region;
static struct heap heap;
static struct store store;

/* A fresh region, heap and store of `heap_bytes`, with the config's caps. */
static void setup(uint64_t heap_bytes, const struct config *caps)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    static struct config kept; /* the store reads its config for as long as it lives */
    kept = *caps;
    store_init(&store, &heap, &kept, 12345);
    store_string_init(&store);
    store_clock(&store, 1000000);
}

static void setup_default(uint64_t heap_bytes)
{
    struct config config;
    fixture_caps_none(&config);
    setup(heap_bytes, &config);
}

/* The store's tally must equal what the heap handed out. */
static void verify(void)
{
    CHECK(store_verify(&store) == heap.allocations);
    heap_verify(&heap);
}

static bool value_is(const char *key, struct slice want)
{
    struct slice got;
    return store_string_get(&store, text(key), &got) == STORE_OK && slice_equal(got, want);
}

static void test_strings(void)
{
    setup_default(16u << 20);
    CHECK(store_string_set(&store, text("a"), text("1")) == STORE_OK);
    CHECK(store_string_set(&store, text(""), text("empty key")) == STORE_OK);
    CHECK(store_string_set(&store, text("b"), text("")) == STORE_OK);
    CHECK(value_is("a", text("1")) && value_is("", text("empty key")) && value_is("b", text("")));
    CHECK(store_key_count(&store) == 3);
    verify();
    /* The same size stays where it is; a bigger one moves; both read back. */
    struct store_found found;
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_STRING, &found) == STORE_OK);
    uint32_t before = found.key_ref;
    CHECK(store_string_put(&store, &found, text("a"), text("2"), 0, false) == STORE_OK);
    CHECK(found.key_ref == before && value_is("a", text("2")));
    char big[300];
    memset(big, 'x', sizeof(big));
    struct slice big_slice = {.bytes = (const uint8_t *)big, .length = sizeof(big)};
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_STRING, &found) == STORE_OK);
    CHECK(store_string_put(&store, &found, text("a"), big_slice, 0, false) == STORE_OK);
    CHECK(value_is("a", big_slice) && store_key_count(&store) == 3);
    verify();
    /* A value past a small class is a blob of its own; it grows with headroom on APPEND. */
    static uint8_t huge[200000];
    for (uint32_t index = 0; index < sizeof(huge); index++) {
        huge[index] = (uint8_t)(index * 7);
    }
    struct slice huge_slice = {.bytes = huge, .length = 100000};
    CHECK(store_string_set(&store, text("huge"), huge_slice) == STORE_OK);
    CHECK(value_is("huge", huge_slice));
    verify();
    uint64_t allocations = heap.allocations;
    for (uint32_t step = 0; step < 100; step++) {
        CHECK(store_find_typed(&store, text("huge"), STORE_TYPE_STRING, &found) == STORE_OK);
        uint64_t length = 0;
        struct slice piece = {.bytes = huge + 100000 + step * 1000, .length = 1000};
        CHECK(store_string_splice(&store, &found, text("huge"), 100000 + step * 1000, piece,
                                  &length) == STORE_OK);
        CHECK(length == 100000 + (step + 1) * 1000u);
    }
    CHECK(value_is("huge", (struct slice){.bytes = huge, .length = 200000}));
    CHECK(heap.allocations == allocations);
    /* SETRANGE past the end zero-fills the gap, on an absent key too. */
    CHECK(store_find_typed(&store, text("gap"), STORE_TYPE_STRING, &found) == STORE_NOT_FOUND);
    uint64_t length = 0;
    CHECK(store_string_splice(&store, &found, text("gap"), 5, text("ab"), &length) == STORE_OK);
    CHECK(length == 7);
    CHECK(value_is("gap", (struct slice){.bytes = (const uint8_t *)"\0\0\0\0\0ab", .length = 7}));
    verify();
    CHECK(store_delete(&store, text("huge")) && !store_delete(&store, text("huge")));
    CHECK(store_delete(&store, text("gap")));
    verify();
    store_flush(&store);
    CHECK(store_key_count(&store) == 0 && heap.allocations == 0);
}

static void test_expiry(void)
{
    setup_default(16u << 20);
    store_clock(&store, 1000000);
    struct store_found found;
    CHECK(store_string_set(&store, text("k"), text("value")) == STORE_OK);
    CHECK(store_find_typed(&store, text("k"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 1005000) == STORE_OK);
    CHECK(store_key_expire(store_key(&store, found.key_ref)) == 1005000);
    CHECK(store_expires_count(&store) == 1 && value_is("k", text("value")));
    verify();
    /* The key keeps its name and value when the time goes again. */
    CHECK(store_find_typed(&store, text("k"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 0) == STORE_OK);
    CHECK(store_expires_count(&store) == 0 && value_is("k", text("value")));
    verify();
    /* A time in the past removes the key. */
    CHECK(store_find_typed(&store, text("k"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 999999) == STORE_NOT_FOUND);
    CHECK(store_key_count(&store) == 0);
    verify();
    /* SET with a time, KEEPTTL keeping it, lazy expiry at the time. */
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_ANY, &found) == STORE_NOT_FOUND);
    CHECK(store_string_put(&store, &found, text("t"), text("v1"), 1002000, false) == STORE_OK);
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_string_put(&store, &found, text("t"), text("v2 longer"), 0, true) == STORE_OK);
    CHECK(store_key_expire(store_key(&store, found.key_ref)) == 1002000);
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_string_put(&store, &found, text("t"), text("v3"), 0, false) == STORE_OK);
    CHECK(store_key_expire(store_key(&store, found.key_ref)) == 0 &&
          store_expires_count(&store) == 0);
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 1002000) == STORE_OK);
    store_clock(&store, 1002000);
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_ANY, &found) == STORE_NOT_FOUND);
    CHECK(store_key_count(&store) == 0 && store.expired_keys == 1);
    verify();
    /* Active expiry: 300 keys due, at most the slice per call. */
    char name[32];
    for (uint32_t index = 0; index < 400; index++) {
        snprintf(name, sizeof(name), "key:%u", index);
        CHECK(store_find_typed(&store, text(name), STORE_TYPE_ANY, &found) == STORE_NOT_FOUND);
        int64_t at_ms = index < 300 ? 1003000 : 0;
        CHECK(store_string_put(&store, &found, text(name), text("v"), at_ms, false) == STORE_OK);
    }
    CHECK(store_expires_count(&store) == 300);
    store_clock(&store, 1003000);
    uint32_t calls = 0;
    for (; calls < 1000 && store_expires_count(&store) > 0; calls++) {
        CHECK(store_expire_slice(&store, 7) <= 7);
        verify();
    }
    CHECK(store_key_count(&store) == 100 && calls >= 300 / 7);
    store_flush(&store);
    verify();
}

static void test_rename(void)
{
    setup_default(16u << 20);
    struct store_found source;
    struct store_found target;
    CHECK(store_string_set(&store, text("from"), text("payload")) == STORE_OK);
    CHECK(store_find_typed(&store, text("from"), STORE_TYPE_ANY, &source) == STORE_OK);
    CHECK(store_expire_set(&store, &source, 2000000) == STORE_OK);
    CHECK(store_find_typed(&store, text("from"), STORE_TYPE_ANY, &source) == STORE_OK);
    CHECK(store_find_typed(&store, text("a much longer name"), STORE_TYPE_ANY, &target) ==
          STORE_NOT_FOUND);
    CHECK(store_rename(&store, &source, text("a much longer name"), &target) == STORE_OK);
    CHECK(!value_is("from", text("payload")) && value_is("a much longer name", text("payload")));
    CHECK(store_key_expire(store_key(&store, source.key_ref)) == 2000000);
    CHECK(store_expires_count(&store) == 1);
    verify();
    /* Over an existing key: it goes. A raw value moves with its key. */
    static uint8_t raw[50000];
    memset(raw, 'r', sizeof(raw));
    CHECK(store_string_set(&store, text("raw"), (struct slice){raw, sizeof(raw)}) == STORE_OK);
    CHECK(store_find_typed(&store, text("raw"), STORE_TYPE_ANY, &source) == STORE_OK);
    CHECK(store_find_typed(&store, text("a much longer name"), STORE_TYPE_ANY, &target) ==
          STORE_OK);
    CHECK(store_rename(&store, &source, text("a much longer name"), &target) == STORE_OK);
    CHECK(value_is("a much longer name", (struct slice){raw, sizeof(raw)}));
    CHECK(store_key_count(&store) == 1 && store_expires_count(&store) == 0);
    verify();
    store_flush(&store);
}

/* SCAN's guarantee: the keys present for a whole scan are visited while others come and go. */
struct scan_seen {
    uint8_t *seen;
};

static void scan_note(void *context, uint32_t key_ref)
{
    struct scan_seen *seen = context;
    struct slice name = store_key_name(store_key(&store, key_ref));
    unsigned index = 0;
    if (name.length > 7 && memcmp(name.bytes, "stable:", 7) == 0 &&
        sscanf((const char *)name.bytes + 7, "%u", &index) == 1 && index < 2000) {
        seen->seen[index] = 1;
    }
}

static void test_scan(void)
{
    setup_default(64u << 20);
    char name[32];
    for (uint32_t index = 0; index < 2000; index++) {
        snprintf(name, sizeof(name), "stable:%u", index);
        CHECK(store_string_set(&store, text(name), text("v")) == STORE_OK);
    }
    static uint8_t seen_bytes[2000];
    struct scan_seen seen = {.seen = seen_bytes};
    uint64_t cursor = 0;
    uint32_t calls = 0;
    uint32_t churn = 0;
    do {
        cursor = store_scan(&store, cursor, scan_note, &seen);
        /* Between calls, grow the keyspace a lot, then take it back: the dict resizes. */
        for (uint32_t step = 0; step < 200; step++, churn++) {
            snprintf(name, sizeof(name), "churn:%u", churn);
            CHECK(store_string_set(&store, text(name), text("c")) == STORE_OK);
            if (churn >= 3000) {
                snprintf(name, sizeof(name), "churn:%u", churn - 3000);
                CHECK(store_delete(&store, text(name)));
            }
        }
        calls++;
    } while (cursor != 0 && calls < 1000000);
    uint32_t missed = 0;
    for (uint32_t index = 0; index < 2000; index++) {
        missed += seen_bytes[index] ? 0 : 1;
    }
    CHECK(missed == 0);
    verify();
    uint32_t key_ref = 0;
    CHECK(store_random_key(&store, &key_ref));
    store_flush(&store);
    CHECK(!store_random_key(&store, &key_ref));
}

/* A full heap refuses with STORE_OOM and changes nothing. */
static void test_oom(void)
{
    setup_default(4u << 20);
    char name[32];
    char value[200];
    memset(value, 'v', sizeof(value));
    struct slice value_slice = {.bytes = (const uint8_t *)value, .length = sizeof(value)};
    uint32_t stored = 0;
    /* Bounded by the heap: each key takes over 200 bytes of 4 MiB. */
    for (; stored < 100000; stored++) {
        snprintf(name, sizeof(name), "fill:%u", stored);
        if (store_string_set(&store, text(name), value_slice) != STORE_OK) {
            break;
        }
    }
    CHECK(stored > 10000 && stored < 100000);
    verify();
    uint64_t allocations = heap.allocations;
    uint64_t used = heap.used_bytes;
    snprintf(name, sizeof(name), "fill:%u", stored);
    CHECK(store_string_set(&store, text(name), value_slice) == STORE_OOM);
    struct store_found found;
    /* Growing an existing key, and adding a time, may fail too: nothing changes then. */
    static uint8_t big[1u << 20];
    CHECK(store_find_typed(&store, text("fill:0"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_string_put(&store, &found, text("fill:0"), (struct slice){big, sizeof(big)}, 0,
                           false) == STORE_OOM);
    uint64_t length = 0;
    CHECK(store_find_typed(&store, text("fill:1"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_string_splice(&store, &found, text("fill:1"), 200, (struct slice){big, sizeof(big)},
                              &length) == STORE_OOM);
    CHECK(heap.allocations == allocations && heap.used_bytes == used);
    for (uint32_t index = 0; index < stored; index++) {
        snprintf(name, sizeof(name), "fill:%u", index);
        CHECK(value_is(name, value_slice));
    }
    verify();
    /* Deleting gives the memory back: what was refused fits now. */
    CHECK(store_delete(&store, text("fill:2")) && store_delete(&store, text("fill:3")));
    snprintf(name, sizeof(name), "fill:%u", stored);
    CHECK(store_string_set(&store, text(name), value_slice) == STORE_OK);
    verify();
}

static void test_caps(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = 3;
    config.key_size_max = 8;
    config.val_size_max = 16;
    setup(4u << 20, &config);
    CHECK(store_string_set(&store, text("123456789"), text("v")) == STORE_KEY_TOO_LONG);
    CHECK(store_string_set(&store, text("k"), text("12345678901234567")) == STORE_VALUE_TOO_LONG);
    CHECK(store_string_set(&store, text("k1"), text("v")) == STORE_OK);
    CHECK(store_string_set(&store, text("k2"), text("v")) == STORE_OK);
    CHECK(store_string_set(&store, text("k3"), text("v")) == STORE_OK);
    CHECK(store_string_set(&store, text("k4"), text("v")) == STORE_FULL);
    CHECK(store_string_set(&store, text("k3"), text("1234567890123456")) == STORE_OK);
    CHECK(store_key_count(&store) == 3);
    verify();
}

/* A seeded churn against a model: sets of random sizes, appends, expiries, renames,
 * deletes; store_verify after every step. */
#define MODEL_KEYS 64u

struct model_key {
    bool present;
    uint32_t length;
    uint8_t first;            /* every byte of the value is first + position */
    int64_t expire_ms;
};

static void model_check(const struct model_key *model)
{
    char name[16];
    for (uint32_t index = 0; index < MODEL_KEYS; index++) {
        snprintf(name, sizeof(name), "m%u", index);
        struct slice got;
        enum store_status status = store_string_get(&store, text(name), &got);
        CHECK((status == STORE_OK) == model[index].present);
        if (status != STORE_OK || !model[index].present) {
            continue;
        }
        CHECK(got.length == model[index].length);
        bool same = true;
        for (uint32_t at = 0; at < got.length && same; at++) {
            same = got.bytes[at] == (uint8_t)(model[index].first + at);
        }
        CHECK(same);
    }
}

static void test_churn(uint64_t seed)
{
    setup_default(32u << 20);
    seed_state = seed;
    static struct model_key model[MODEL_KEYS];
    memset(model, 0, sizeof(model));
    static uint8_t bytes[70000];
    char name[16];
    char other[16];
    for (uint32_t step = 0; step < 20000; step++) {
        uint32_t index = (uint32_t)(random_next() % MODEL_KEYS);
        snprintf(name, sizeof(name), "m%u", index);
        struct store_found found;
        (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &found);
        uint32_t op = (uint32_t)(random_next() % 5);
        if (op == 0 || (op == 1 && !found.exists)) {
            uint32_t length = (uint32_t)(random_next() % 4 == 0 ? random_next() % 60000
                                                               : random_next() % 300);
            uint8_t first = (uint8_t)random_next();
            for (uint32_t at = 0; at < length; at++) {
                bytes[at] = (uint8_t)(first + at);
            }
            CHECK(store_string_put(&store, &found, text(name), (struct slice){bytes, length}, 0,
                                   false) == STORE_OK);
            model[index] = (struct model_key){.present = true, .length = length, .first = first};
        } else if (op == 1) {
            uint32_t add = (uint32_t)(random_next() % 500);
            uint32_t old = model[index].length;
            for (uint32_t at = 0; at < add; at++) {
                bytes[at] = (uint8_t)(model[index].first + old + at);
            }
            uint64_t length = 0;
            CHECK(store_string_splice(&store, &found, text(name), old, (struct slice){bytes, add},
                                      &length) == STORE_OK);
            model[index].length = old + add;
        } else if (op == 2 && found.exists) {
            int64_t at_ms = random_next() % 2 ? 0 : store.now_ms + 1000000;
            CHECK(store_expire_set(&store, &found, at_ms) == STORE_OK);
        } else if (op == 3 && found.exists) {
            uint32_t to = (uint32_t)(random_next() % MODEL_KEYS);
            snprintf(other, sizeof(other), "m%u", to);
            struct store_found target;
            (void)store_find_typed(&store, text(other), STORE_TYPE_ANY, &target);
            (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &found);
            if (to != index) {
                CHECK(store_rename(&store, &found, text(other), &target) == STORE_OK);
                model[to] = model[index];
                model[index].present = false;
            }
        } else if (op == 4) {
            CHECK(store_delete(&store, text(name)) == model[index].present);
            model[index].present = false;
        }
        verify();
        if (step % 500 == 0) {
            model_check(model);
        }
    }
    model_check(model);
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    test_strings();
    test_expiry();
    test_rename();
    test_scan();
    test_oom();
    test_caps();
    test_churn(seed);
    return check_exit("test_store");
}
