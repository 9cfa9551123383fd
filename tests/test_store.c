/*
 * Proves the store keeps the seed's guarantee and its all-or-nothing writes: every one of
 * key_count keys holds a maximal list of maximal values; one key more, one byte more, one
 * element more is refused and nothing changes; strings and lists replace each other cleanly;
 * and a seeded random churn of sets, pushes, pops and deletes matches a simple model with
 * store_verify() passing after every step. Uses a real region and the real pools.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store.h"

#define KEYS 8u
#define KEY_BYTES 16u
#define VALUE_BYTES 32u
#define LIST_MAX 6u

static struct region region;
static struct store store;

static struct slice text(const char *bytes)
{
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)strlen(bytes)};
}

static void setup(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = KEYS;
    config.key_size_max = KEY_BYTES;
    config.val_size_max = VALUE_BYTES;
    config.list_length_max = LIST_MAX;
    uint64_t bytes = store_plan_table_bytes(&config) + store_plan_keys_bytes(&config) +
                     store_plan_values_bytes(&config) + store_plan_nodes_bytes(&config) +
                     store_plan_fields_bytes(&config) + store_plan_zset_bytes(&config) + 8192;
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        exit(1);
    }
    store_init(&store, &region, &config, 12345);
}

static void key_name(char *out, uint32_t index, uint32_t length)
{
    memset(out, 'k', length);
    out[0] = (char)('A' + index);
    out[length] = '\0';
}

static void test_full_store(void)
{
    char key[KEY_BYTES + 2];
    char values[LIST_MAX][VALUE_BYTES + 1];
    struct slice slices[LIST_MAX];
    for (uint32_t index = 0; index < LIST_MAX; index++) {
        memset(values[index], 'a' + (int)index, VALUE_BYTES);
        values[index][VALUE_BYTES] = '\0';
        slices[index] = text(values[index]);
    }
    for (uint32_t index = 0; index < KEYS; index++) {
        key_name(key, index, KEY_BYTES);
        uint32_t length = 0;
        CHECK(store_list_push(&store, text(key), slices, LIST_MAX, false, &length) == STORE_OK);
        CHECK(length == LIST_MAX);
        store_verify(&store);
    }
    CHECK(store_key_count(&store) == KEYS);
    /* Every value slot is used; the nodes keep list_length_max spare for a set result. */
    CHECK(store.values.free_count == 0 && store.nodes.free_count == LIST_MAX);
    /* One key more: refused, nothing changes. */
    key_name(key, KEYS, KEY_BYTES);
    uint32_t length = 0;
    CHECK(store_list_push(&store, text(key), slices, 1, false, &length) == STORE_FULL);
    CHECK(store_set_string(&store, text(key), text("v")) == STORE_FULL);
    CHECK(store_key_count(&store) == KEYS);
    /* One element more on a full list: refused. */
    key_name(key, 0, KEY_BYTES);
    CHECK(store_list_push(&store, text(key), slices, 1, true, &length) == STORE_LIST_FULL);
    /* Every list reads back exactly. */
    for (uint32_t index = 0; index < KEYS; index++) {
        key_name(key, index, KEY_BYTES);
        uint32_t key_index = 0;
        CHECK(store_find_list(&store, text(key), &key_index) == STORE_OK);
        const struct store_key *slot = store_key(&store, key_index);
        CHECK(slot->list.count == LIST_MAX);
        uint32_t node = slot->list.head;
        for (uint32_t position = 0; position < LIST_MAX; position++) {
            struct slice value = store_value(&store, list_node(&store.nodes, node)->value_index);
            CHECK_BYTES(value.bytes, value.length, values[position], VALUE_BYTES);
            node = list_node(&store.nodes, node)->next;
        }
    }
    /* Replacing a maximal list with a string frees its slots; the guarantee still holds. */
    key_name(key, 3, KEY_BYTES);
    CHECK(store_set_string(&store, text(key), text("now a string")) == STORE_OK);
    CHECK(store.values.free_count == LIST_MAX - 1);
    store_verify(&store);
    for (uint32_t index = 0; index < KEYS; index++) {
        key_name(key, index, KEY_BYTES);
        CHECK(store_delete(&store, text(key)));
    }
    CHECK(store_key_count(&store) == 0);
    CHECK(store.values.free_count == store.values.slot_count);
    CHECK(store.nodes.free_count == store.nodes.slot_count);
    store_verify(&store);
}

static void test_limits(void)
{
    char key[KEY_BYTES + 2];
    char value[VALUE_BYTES + 2];
    key_name(key, 0, KEY_BYTES);
    memset(value, 'v', VALUE_BYTES + 1);
    value[VALUE_BYTES + 1] = '\0';
    struct slice too_long_value = text(value);
    struct slice max_value = {.bytes = too_long_value.bytes, .length = VALUE_BYTES};
    CHECK(store_set_string(&store, text(key), max_value) == STORE_OK);
    CHECK(store_set_string(&store, text(key), too_long_value) == STORE_VALUE_TOO_LONG);
    struct slice got;
    CHECK(store_get_string(&store, text(key), &got) == STORE_OK);
    CHECK(got.length == VALUE_BYTES);
    key_name(key, 1, KEY_BYTES + 1);
    CHECK(store_set_string(&store, text(key), text("x")) == STORE_KEY_TOO_LONG);
    CHECK(store_key_count(&store) == 1);
    /* A push with one value too long adds none of them. */
    key_name(key, 2, KEY_BYTES);
    struct slice mixed[3] = {text("a"), too_long_value, text("c")};
    uint32_t length = 0;
    CHECK(store_list_push(&store, text(key), mixed, 3, false, &length) == STORE_VALUE_TOO_LONG);
    CHECK(!store_find(&store, text(key), &length));
    /* A push that would pass list_length_max adds nothing. */
    struct slice many[LIST_MAX + 1];
    for (uint32_t index = 0; index <= LIST_MAX; index++) {
        many[index] = text("e");
    }
    CHECK(store_list_push(&store, text(key), many, LIST_MAX - 1, false, &length) == STORE_OK);
    CHECK(store_list_push(&store, text(key), many, 2, false, &length) == STORE_LIST_FULL);
    uint32_t key_index = 0;
    CHECK(store_find_list(&store, text(key), &key_index) == STORE_OK);
    CHECK(store_key(&store, key_index)->list.count == LIST_MAX - 1);
    CHECK(store_list_push(&store, text(key), many, 1, true, &length) == STORE_OK);
    CHECK(length == LIST_MAX);
    /* Types: a string key refuses list pushes; GET on a list is WRONGTYPE. */
    key_name(key, 0, KEY_BYTES);
    CHECK(store_list_push(&store, text(key), many, 1, false, &length) == STORE_WRONGTYPE);
    key_name(key, 2, KEY_BYTES);
    CHECK(store_get_string(&store, text(key), &got) == STORE_WRONGTYPE);
    /* Popping the last element deletes the key. */
    CHECK(store_find_list(&store, text(key), &key_index) == STORE_OK);
    for (uint32_t index = 0; index < LIST_MAX; index++) {
        store_list_pop(&store, key_index, index % 2 == 0);
        store_verify(&store);
    }
    CHECK(store_find_list(&store, text(key), &key_index) == STORE_NOT_FOUND);
    key_name(key, 0, KEY_BYTES);
    CHECK(store_delete(&store, text(key)));
    CHECK(!store_delete(&store, text(key)));
    store_verify(&store);
}

/* Model: per key, absent (-1), a string (length 0 means "string") or a list length. */
struct model_key {
    int kind;          /* 0 absent, 1 string, 2 list */
    uint32_t length;   /* list length */
    uint8_t last;      /* string: its single byte value */
};

static void test_churn(void)
{
    uint32_t seed = (uint32_t)(getenv("KV_SEED") ? strtoul(getenv("KV_SEED"), NULL, 10) : 4242);
    srand(seed);
    struct model_key model[KEYS + 4];
    memset(model, 0, sizeof(model));
    uint32_t model_keys = 0;
    char key[4] = "k?";
    for (uint32_t step = 0; step < 20000; step++) {
        uint32_t which = (uint32_t)rand() % (KEYS + 4);
        key[1] = (char)('a' + which);
        struct model_key *m = &model[which];
        int action = rand() % 4;
        if (action == 0) {
            uint8_t byte = (uint8_t)rand();
            struct slice value = {.bytes = &byte, .length = 1};
            enum store_status status = store_set_string(&store, text(key), value);
            if (m->kind == 0 && model_keys == KEYS) {
                CHECK(status == STORE_FULL);
            } else {
                CHECK(status == STORE_OK);
                model_keys += m->kind == 0 ? 1 : 0;
                m->kind = 1;
                m->last = byte;
            }
        } else if (action == 1) {
            uint32_t count = 1 + (uint32_t)rand() % 3;
            struct slice values[3] = {text("x"), text("y"), text("z")};
            uint32_t length = 0;
            enum store_status status =
                store_list_push(&store, text(key), values, count, rand() % 2, &length);
            if (m->kind == 1) {
                CHECK(status == STORE_WRONGTYPE);
            } else if (m->length + count > LIST_MAX) {
                CHECK(status == STORE_LIST_FULL);
            } else if (m->kind == 0 && model_keys == KEYS) {
                CHECK(status == STORE_FULL);
            } else {
                CHECK(status == STORE_OK);
                model_keys += m->kind == 0 ? 1 : 0;
                m->kind = 2;
                m->length += count;
                CHECK(length == m->length);
            }
        } else if (action == 2) {
            uint32_t key_index = 0;
            enum store_status status = store_find_list(&store, text(key), &key_index);
            CHECK(status == (m->kind == 2 ? STORE_OK : m->kind == 1 ? STORE_WRONGTYPE
                                                                      : STORE_NOT_FOUND));
            if (status == STORE_OK) {
                store_list_pop(&store, key_index, rand() % 2);
                if (--m->length == 0) {
                    m->kind = 0;
                    model_keys--;
                }
            }
        } else {
            CHECK(store_delete(&store, text(key)) == (m->kind != 0));
            model_keys -= m->kind != 0 ? 1 : 0;
            memset(m, 0, sizeof(*m));
        }
        if (m->kind == 1) {
            struct slice got;
            CHECK(store_get_string(&store, text(key), &got) == STORE_OK);
            CHECK(got.length == 1 && got.bytes[0] == m->last);
        }
        CHECK(store_key_count(&store) == model_keys);
        store_verify(&store);
        if (check_failures > 0) {
            fprintf(stderr, "churn failed at step %u (KV_SEED=%u)\n", step, seed);
            return;
        }
    }
}

int main(void)
{
    setup();
    test_full_store();
    test_limits();
    test_churn();
    return check_exit("test_store");
}
