/*
 * Proves the hash table finds exactly what was inserted and nothing else under long churn at
 * full capacity (count_max entries), with forced collisions (every key on one home slot),
 * probe runs that wrap around the end of the table, and removal of the first, middle and last
 * entry of a run. table_verify() runs after every step; a model array says what is present.
 * The seed is printed on failure (KV_SEED replays it).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "table.h"

#define COUNT_MAX 96u

static struct region region;

/* Keys are small integers; the test chooses each key's hash to force layouts. */
static uint32_t key_hashes[COUNT_MAX * 4];

static bool equal_index(const void *context, uint32_t value)
{
    return *(const uint32_t *)context == value;
}

static bool find(const struct table *table, uint32_t key, uint32_t *slot)
{
    uint32_t value = 0;
    bool found = table_find(table, key_hashes[key], equal_index, &key, &value, slot);
    if (found) {
        CHECK(value == key);
    }
    return found;
}

static void remove_key(struct table *table, uint32_t key)
{
    uint32_t slot = 0;
    bool found = find(table, key, &slot);
    CHECK(found);
    if (found) {
        table_remove_at(table, slot);
    }
}

static void test_capacity(void)
{
    CHECK(table_capacity_for(1) == 8);
    CHECK(table_capacity_for(6) == 8);
    CHECK(table_capacity_for(7) == 16);
    CHECK(table_capacity_for(1000) == 2048);
    CHECK(table_capacity_for(1536) == 2048);
    CHECK(table_capacity_for(1537) == 4096);
}

static void test_collisions(struct table *table)
{
    /* Every key on the same home slot, near the end so the run wraps around. */
    uint32_t home = table->capacity - 3;
    for (uint32_t key = 0; key < 20; key++) {
        key_hashes[key] = home + table->capacity * (key + 1);
        table_insert(table, key_hashes[key], key);
        table_verify(table);
    }
    uint32_t slot = 0;
    for (uint32_t key = 0; key < 20; key++) {
        CHECK(find(table, key, &slot));
    }
    /* First, middle and last of the run. */
    remove_key(table, 0);
    table_verify(table);
    remove_key(table, 10);
    table_verify(table);
    remove_key(table, 19);
    table_verify(table);
    for (uint32_t key = 0; key < 20; key++) {
        CHECK(find(table, key, &slot) == (key != 0 && key != 10 && key != 19));
    }
    /* Neighbours: keys homed on the slots the run overflowed into must stay reachable. */
    for (uint32_t key = 20; key < 30; key++) {
        key_hashes[key] = (home + (key - 20)) & table->mask;
        table_insert(table, key_hashes[key], key);
    }
    for (uint32_t key = 1; key < 19; key++) {
        if (key != 10) {
            remove_key(table, key);
            table_verify(table);
        }
    }
    for (uint32_t key = 20; key < 30; key++) {
        CHECK(find(table, key, &slot));
        remove_key(table, key);
        table_verify(table);
    }
    CHECK(table->count == 0);
}

static void test_churn(struct table *table, uint32_t seed)
{
    bool present[COUNT_MAX * 4];
    memset(present, 0, sizeof(present));
    uint32_t count = 0;
    srand(seed);
    for (uint32_t key = 0; key < COUNT_MAX * 4; key++) {
        /* Few distinct home slots: long runs and many collisions. */
        key_hashes[key] = (uint32_t)rand() % 40 * 7;
    }
    for (uint32_t step = 0; step < 200000 && check_failures == 0; step++) {
        uint32_t key = (uint32_t)rand() % (COUNT_MAX * 4);
        uint32_t slot = 0;
        CHECK(find(table, key, &slot) == present[key]);
        if (present[key]) {
            table_remove_at(table, slot);
            present[key] = false;
            count--;
        } else if (count < COUNT_MAX) {
            table_insert(table, key_hashes[key], key);
            present[key] = true;
            count++;
        }
        CHECK(table->count == count);
        table_verify(table);
        if (step % 997 == 0) {
            for (uint32_t probe = 0; probe < COUNT_MAX * 4; probe++) {
                CHECK(find(table, probe, &slot) == present[probe]);
            }
        }
    }
    if (check_failures != 0) {
        fprintf(stderr, "table churn failed (KV_SEED=%u)\n", seed);
    }
}

int main(void)
{
    char error[256];
    if (region_map(&region, table_plan_bytes(COUNT_MAX) * 2, CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    struct table table;
    table_init(&table, &region, COUNT_MAX);
    CHECK(table.capacity == 128 && table.count_max == COUNT_MAX);
    test_capacity();
    test_collisions(&table);
    uint32_t seed = getenv("KV_SEED") ? (uint32_t)strtoul(getenv("KV_SEED"), NULL, 10) : 7;
    test_churn(&table, seed);
    /* Full table: exactly count_max entries fit, all findable. */
    table_clear(&table);
    for (uint32_t key = 0; key < COUNT_MAX; key++) {
        key_hashes[key] = key * 2654435761u;
        table_insert(&table, key_hashes[key], key);
    }
    table_verify(&table);
    uint32_t slot = 0;
    for (uint32_t key = 0; key < COUNT_MAX; key++) {
        CHECK(find(&table, key, &slot));
    }
    return check_exit("test_table");
}
