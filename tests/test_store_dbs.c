/*
 * Proves the store's databases: keys of the same name live apart in each database (finds,
 * counts, expiry, flush), store_select changes where every call works and tells the hooks
 * the database, MOVE takes a key (value and expiry time) to another database without
 * memory, SWAPDB exchanges two databases whole while the selection stays at its index,
 * FLUSHALL empties them all, active expiry sweeps every database, and store_verify walks
 * them all: its tally equals the heap's allocation count after every step. A seeded churn
 * over 16 databases against a model (a dict per database in Python's sense: name -> value,
 * here an array per database) checks it all at realistic size (KV_SEED replays it).
 */
#include <inttypes.h>
#include <stdio.h>
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

/* What the touched hook heard last, and how often. */
static uint32_t touched_db_index;
static uint64_t touched_count;

static void on_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key)
{
    (void)context;
    (void)hash;
    (void)key;
    touched_db_index = db_index;
    touched_count++;
}

static void setup(uint64_t heap_bytes)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    static struct config kept; /* the store reads its config for as long as it lives */
    fixture_caps_none(&kept);
    store_init(&store, &heap, &kept, 777);
    store_string_init(&store);
    store_clock(&store, 1000000);
    store.touched = on_touched;
}

static void verify(void)
{
    CHECK(store_verify(&store) == heap.allocations);
    heap_verify(&heap);
}

static bool value_is(const char *key, const char *want)
{
    struct slice got;
    return store_string_get(&store, text(key), &got) == STORE_OK && slice_equal(got, text(want));
}

static bool absent(const char *key)
{
    uint32_t ref = 0;
    return !store_find(&store, text(key), &ref);
}

static void test_apart(void)
{
    setup(4u << 20);
    CHECK(store.db_count == STORE_DB_COUNT_DEFAULT && store.db_index == 0);
    CHECK(heap.allocations == 0); /* the default count needs no heap */
    CHECK(store_string_set(&store, text("k"), text("zero")) == STORE_OK);
    CHECK(touched_db_index == 0);
    store_select(&store, 3);
    CHECK(absent("k") && store_key_count(&store) == 0);
    CHECK(store_string_set(&store, text("k"), text("three")) == STORE_OK);
    CHECK(touched_db_index == 3);
    CHECK(value_is("k", "three") && store_key_count(&store) == 1);
    store_select(&store, 0);
    CHECK(value_is("k", "zero"));
    CHECK(store_db_key_count(&store, 0) == 1 && store_db_key_count(&store, 3) == 1);
    CHECK(store_key_count_all(&store) == 2);
    verify();
    /* An expiry time in one database only. */
    store_select(&store, 3);
    struct store_found found;
    CHECK(store_find_typed(&store, text("k"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 1000500) == STORE_OK);
    CHECK(store_expires_count(&store) == 1 && store_db_expires_count(&store, 0) == 0);
    CHECK(store_expires_count_all(&store) == 1);
    verify();
    /* FLUSHDB empties the selected one only. */
    store_flush(&store);
    CHECK(store_key_count(&store) == 0 && store_expires_count_all(&store) == 0);
    store_select(&store, 0);
    CHECK(value_is("k", "zero"));
    verify();
}

static void test_move(void)
{
    setup(4u << 20);
    CHECK(store_string_set(&store, text("m"), text("value")) == STORE_OK);
    struct store_found found;
    CHECK(store_find_typed(&store, text("m"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, 1005000) == STORE_OK);
    uint64_t allocations = heap.allocations;
    uint64_t used = heap.used_bytes;
    uint64_t touched_before = touched_count;
    store_move(&store, &found, 7);
    CHECK(!found.exists);
    CHECK(touched_count == touched_before + 2 && touched_db_index == 7); /* both told */
    CHECK(heap.allocations == allocations && heap.used_bytes == used); /* no memory taken */
    CHECK(store.db_index == 0 && absent("m") && store_expires_count(&store) == 0);
    store_select(&store, 7);
    CHECK(value_is("m", "value"));
    CHECK(store_find_typed(&store, text("m"), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_key_expire(store_key(&store, found.key_ref)) == 1005000);
    CHECK(store_expires_count(&store) == 1);
    verify();
    /* Its time passes in its new database: active expiry finds it there. */
    store_select(&store, 0);
    store_clock(&store, 1006000);
    CHECK(store_expire_slice(&store, 100) == 1);
    CHECK(store.db_index == 0 && store_key_count_all(&store) == 0);
    verify();
}

static void test_swap_and_flush_all(void)
{
    setup(4u << 20);
    store_select(&store, 1);
    CHECK(store_string_set(&store, text("one"), text("1")) == STORE_OK);
    store_select(&store, 2);
    CHECK(store_string_set(&store, text("two"), text("2")) == STORE_OK);
    CHECK(store_string_set(&store, text("deux"), text("2")) == STORE_OK);
    store_select(&store, 1);
    store_swap(&store, 1, 2);
    CHECK(store.db_index == 1 && store_key_count(&store) == 2); /* the selection stays */
    CHECK(value_is("two", "2") && absent("one"));
    CHECK(store_db_contains(&store, 2, text("one")) && !store_db_contains(&store, 2, text("two")));
    verify();
    /* Swapped back and forth: the dicts keep working where they now sit (inserts that grow
     * the bucket arrays after a swap). */
    char name[32];
    for (uint32_t index = 0; index < 2000; index++) {
        store_swap(&store, 1 + index % 2, 2 - index % 2);
        snprintf(name, sizeof(name), "grow%u", index);
        CHECK(store_string_set(&store, text(name), text("g")) == STORE_OK);
    }
    verify();
    CHECK(store_key_count_all(&store) == 2003);
    store_flush_all(&store);
    CHECK(store_key_count_all(&store) == 0 && store.db_index == 1);
    verify();
}

/* A model value per (database, key): 0 absent, else the last value written (1..255). */
#define CHURN_KEYS 64u

static void test_churn(void)
{
    setup(64u << 20);
    uint8_t model[STORE_DB_COUNT_DEFAULT][CHURN_KEYS];
    memset(model, 0, sizeof(model));
    char name[32];
    char value[8];
    uint32_t steps = 200000;
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t db_index = (uint32_t)(random_next() % STORE_DB_COUNT_DEFAULT);
        uint32_t key = (uint32_t)(random_next() % CHURN_KEYS);
        uint32_t roll = (uint32_t)(random_next() % 100);
        snprintf(name, sizeof(name), "key:%u", key);
        store_select(&store, db_index);
        if (roll < 50) {
            uint8_t written = (uint8_t)(1 + random_next() % 255);
            snprintf(value, sizeof(value), "%u", written);
            CHECK(store_string_set(&store, text(name), text(value)) == STORE_OK);
            model[db_index][key] = written;
        } else if (roll < 70) {
            CHECK(store_delete(&store, text(name)) == (model[db_index][key] != 0));
            model[db_index][key] = 0;
        } else if (roll < 90) {
            uint32_t target = (uint32_t)(random_next() % STORE_DB_COUNT_DEFAULT);
            struct store_found found;
            (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &found);
            CHECK(found.exists == (model[db_index][key] != 0));
            if (found.exists && target != db_index && model[target][key] == 0) {
                store_move(&store, &found, target);
                model[target][key] = model[db_index][key];
                model[db_index][key] = 0;
            }
        } else if (roll < 99) {
            uint32_t other = (uint32_t)(random_next() % STORE_DB_COUNT_DEFAULT);
            store_swap(&store, db_index, other);
            uint8_t kept[CHURN_KEYS];
            memcpy(kept, model[db_index], sizeof(kept));
            memcpy(model[db_index], model[other], sizeof(kept));
            memcpy(model[other], kept, sizeof(kept));
        } else {
            store_flush(&store);
            memset(model[db_index], 0, sizeof(model[db_index]));
        }
        if (step % 20000 == 0) {
            verify();
        }
    }
    /* Every (database, key) as the model says. */
    uint64_t keys = 0;
    for (uint32_t db_index = 0; db_index < STORE_DB_COUNT_DEFAULT; db_index++) {
        store_select(&store, db_index);
        for (uint32_t key = 0; key < CHURN_KEYS; key++) {
            snprintf(name, sizeof(name), "key:%u", key);
            if (model[db_index][key] == 0) {
                CHECK(absent(name));
                continue;
            }
            snprintf(value, sizeof(value), "%u", model[db_index][key]);
            CHECK(value_is(name, value));
            keys++;
        }
        CHECK(store_key_count(&store) <= CHURN_KEYS);
    }
    CHECK(store_key_count_all(&store) == keys);
    verify();
    printf("test_store_dbs: churn of %u steps over %u databases, %" PRIu64 " keys at the end\n",
           steps, STORE_DB_COUNT_DEFAULT, keys);
}

int main(void)
{
    const char *given = getenv("KV_SEED");
    uint64_t seed = given != NULL ? strtoull(given, NULL, 10) : (uint64_t)time(NULL);
    printf("test_store_dbs: seed %" PRIu64 " (KV_SEED replays it)\n", seed);
    seed_state = seed | 1;
    test_apart();
    test_move();
    test_swap_and_flush_all();
    test_churn();
    return check_exit("test_store_dbs");
}
