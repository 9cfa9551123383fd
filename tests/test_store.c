/*
 * Proves the store keeps the seed's guarantee and its all-or-nothing writes: every one of
 * key_count keys holds a maximal list of maximal values; one key more, one byte more, one
 * element more is refused and nothing changes; strings, lists, hashes, sets and sorted sets
 * replace each other cleanly and give back every slot (store_verify checks each type's
 * slots through the operations table, so a hash, a set and a sorted set in the store must
 * pass it). Proves the typed find: its status for each type, and a found record whose table
 * slot is only a hint: removing a key through a record taken before a neighbour's removal
 * shifted its entry still removes that key and no other (keys forced into one probe run).
 * Proves RENAME over a new name and over an existing key of another type (whose slots go,
 * whose table entry is reused), keeping the value and the expiry time, telling watchers of
 * all three names. A seeded random churn of sets, pushes, pops, deletes, renames and
 * expiries matches a simple model with store_verify() after every step (KV_SEED replays
 * it). Last, through the real command table: SET with EX, PX, KEEPTTL, GET, NX and XX,
 * GETDEL, EXPIRE, DEL, RENAME and LPUSHX probe the key table exactly once per key (the
 * store's key_probe_count). Uses real regions and the real pools.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client.h"
#include "cmd.h"
#include "layout.h"
#include "plan.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"
#include "watch.h"

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

static void types_init(struct store *target)
{
    store_string_init(target);
    store_list_init(target);
    store_hash_init(target);
    store_set_init(target);
    store_zset_init(target);
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
    types_init(&store);
}

static void key_name(char *out, uint32_t index, uint32_t length)
{
    memset(out, 'k', length);
    out[0] = (char)('A' + index);
    out[length] = '\0';
}

/* LPUSH/RPUSH as a command does it: one find, then the push with its record. */
static enum store_status push(struct slice key, const struct slice *values, uint32_t count,
                              bool at_head, uint32_t *length)
{
    struct store_found found;
    store_find_typed(&store, key, STORE_TYPE_LIST, &found);
    return store_list_push(&store, &found, key, values, count, at_head, length);
}

/* A list key's record, or false. */
static bool find_list(struct slice key, struct store_found *found)
{
    return store_find_typed(&store, key, STORE_TYPE_LIST, found) == STORE_OK;
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
        CHECK(push(text(key), slices, LIST_MAX, false, &length) == STORE_OK);
        CHECK(length == LIST_MAX);
        store_verify(&store);
    }
    CHECK(store_key_count(&store) == KEYS);
    /* Every value slot is used; the nodes keep list_length_max spare for a set result. */
    CHECK(store.values.free_count == 0 && store.nodes.free_count == LIST_MAX);
    /* One key more: refused, nothing changes. */
    key_name(key, KEYS, KEY_BYTES);
    uint32_t length = 0;
    CHECK(push(text(key), slices, 1, false, &length) == STORE_FULL);
    CHECK(store_string_set(&store, text(key), text("v")) == STORE_FULL);
    CHECK(store_key_count(&store) == KEYS);
    /* One element more on a full list: refused. */
    key_name(key, 0, KEY_BYTES);
    CHECK(push(text(key), slices, 1, true, &length) == STORE_LIST_FULL);
    /* Every list reads back exactly. */
    for (uint32_t index = 0; index < KEYS; index++) {
        key_name(key, index, KEY_BYTES);
        struct store_found found;
        CHECK(find_list(text(key), &found));
        const struct store_key *slot = store_key(&store, found.key_index);
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
    CHECK(store_string_set(&store, text(key), text("now a string")) == STORE_OK);
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
    CHECK(store_string_set(&store, text(key), max_value) == STORE_OK);
    CHECK(store_string_set(&store, text(key), too_long_value) == STORE_VALUE_TOO_LONG);
    struct slice got;
    CHECK(store_string_get(&store, text(key), &got) == STORE_OK);
    CHECK(got.length == VALUE_BYTES);
    key_name(key, 1, KEY_BYTES + 1);
    CHECK(store_string_set(&store, text(key), text("x")) == STORE_KEY_TOO_LONG);
    CHECK(store_key_count(&store) == 1);
    /* A push with one value too long adds none of them. */
    key_name(key, 2, KEY_BYTES);
    struct slice mixed[3] = {text("a"), too_long_value, text("c")};
    uint32_t length = 0;
    CHECK(push(text(key), mixed, 3, false, &length) == STORE_VALUE_TOO_LONG);
    CHECK(!store_find(&store, text(key), &length));
    /* A push that would pass list_length_max adds nothing. */
    struct slice many[LIST_MAX + 1];
    for (uint32_t index = 0; index <= LIST_MAX; index++) {
        many[index] = text("e");
    }
    CHECK(push(text(key), many, LIST_MAX - 1, false, &length) == STORE_OK);
    CHECK(push(text(key), many, 2, false, &length) == STORE_LIST_FULL);
    struct store_found found;
    CHECK(find_list(text(key), &found));
    CHECK(store_key(&store, found.key_index)->list.count == LIST_MAX - 1);
    CHECK(push(text(key), many, 1, true, &length) == STORE_OK);
    CHECK(length == LIST_MAX);
    /* Types: a string key refuses list pushes; GET on a list is WRONGTYPE. */
    key_name(key, 0, KEY_BYTES);
    CHECK(push(text(key), many, 1, false, &length) == STORE_WRONGTYPE);
    key_name(key, 2, KEY_BYTES);
    CHECK(store_string_get(&store, text(key), &got) == STORE_WRONGTYPE);
    /* Popping the last element deletes the key. */
    CHECK(find_list(text(key), &found));
    for (uint32_t index = 0; index < LIST_MAX; index++) {
        store_list_pop(&store, &found, index % 2 == 0);
        store_verify(&store);
    }
    CHECK(!find_list(text(key), &found));
    key_name(key, 0, KEY_BYTES);
    CHECK(store_delete(&store, text(key)));
    CHECK(!store_delete(&store, text(key)));
    store_verify(&store);
}

/* One key of each type: their finds, their names, store_verify over all of them, and a
 * string written over each giving back every slot it held. */
static void test_types(void)
{
    struct slice pairs[4] = {text("f1"), text("v1"), text("f2"), text("v2")};
    struct slice members[3] = {text("m1"), text("m2"), text("m3")};
    struct slice values[2] = {text("x"), text("y")};
    uint32_t added = 0;
    uint32_t length = 0;
    struct store_found found;
    CHECK(store_string_set(&store, text("s"), text("string")) == STORE_OK);
    CHECK(push(text("l"), values, 2, false, &length) == STORE_OK);
    store_find_typed(&store, text("h"), STORE_TYPE_HASH, &found);
    CHECK(store_hash_set(&store, &found, text("h"), pairs, 2, false, &added) == STORE_OK);
    CHECK(added == 2);
    store_find_typed(&store, text("t"), STORE_TYPE_SET, &found);
    CHECK(store_set_add(&store, &found, text("t"), members, 3, &added) == STORE_OK);
    CHECK(added == 3);
    store_find_typed(&store, text("z"), STORE_TYPE_ZSET, &found);
    CHECK(store_zset_room(&store, &found, text("z"), 2) == STORE_OK);
    uint32_t zkey = store_zset_create(&store, &found, text("z"));
    store_zset_insert(&store, zkey, text("a"), 1.5);
    store_zset_insert(&store, zkey, text("b"), -2);
    store_verify(&store);
    static const char *const names[] = {"s", "l", "h", "t", "z"};
    static const char *const type_names[] = {"string", "list", "hash", "set", "zset"};
    for (uint8_t type = STORE_TYPE_STRING; type <= STORE_TYPE_ZSET; type++) {
        const char *name = names[type - STORE_TYPE_STRING];
        CHECK(store_find_typed(&store, text(name), type, &found) == STORE_OK);
        CHECK(found.exists && found.type == type);
        CHECK(strcmp(store_type_name(&store, type), type_names[type - STORE_TYPE_STRING]) == 0);
        uint8_t other = type == STORE_TYPE_ZSET ? STORE_TYPE_STRING : type + 1;
        CHECK(store_find_typed(&store, text(name), other, &found) == STORE_WRONGTYPE);
        CHECK(found.exists && found.type == type);
        CHECK(store_find_typed(&store, text(name), STORE_TYPE_ANY, &found) == STORE_OK);
    }
    CHECK(store_find_typed(&store, text("absent"), STORE_TYPE_LIST, &found) == STORE_NOT_FOUND);
    CHECK(!found.exists && found.type == STORE_TYPE_ANY);
    CHECK(found.hash == store_key_hash(&store, text("absent")));
    /* A string over each collection gives back all its slots. */
    for (uint32_t index = 1; index < 5; index++) {
        CHECK(store_string_set(&store, text(names[index]), text("flat")) == STORE_OK);
        store_verify(&store);
    }
    CHECK(store.values.free_count == store.values.slot_count - 5);
    CHECK(store.fields.free_count == store.fields.slot_count);
    CHECK(store.nodes.free_count == store.nodes.slot_count);
    CHECK(store.znodes.free_count == store.znodes.slot_count);
    CHECK(store.zmembers.count == 0);
    store_flush(&store);
    store_verify(&store);
}

/* Names of `count` keys whose home slots are all `home`'s: one probe run. */
static void colliding_names(char names[][8], uint32_t count)
{
    uint32_t home = store_key_hash(&store, text("c0")) & store.table.mask;
    uint32_t found = 0;
    snprintf(names[found++], 8, "c0");
    /* Bounded: a 16-slot table gives one name in 16 the same home, well within 10000. */
    for (uint32_t candidate = 1; candidate < 10000 && found < count; candidate++) {
        char name[8];
        snprintf(name, sizeof(name), "c%u", candidate);
        if ((store_key_hash(&store, text(name)) & store.table.mask) == home) {
            memcpy(names[found++], name, sizeof(name));
        }
    }
    CHECK(found == count);
}

/* A record whose table slot went stale (a key before it in its run was removed and its
 * entry shifted back) still removes its own key and no other. */
static void test_stale_hint(void)
{
    char names[3][8];
    colliding_names(names, 3);
    for (uint32_t index = 0; index < 3; index++) {
        CHECK(store_string_set(&store, text(names[index]), text(names[index])) == STORE_OK);
    }
    struct store_found last;
    CHECK(store_find_typed(&store, text(names[2]), STORE_TYPE_ANY, &last) == STORE_OK);
    uint64_t probes = store.key_probe_count;
    CHECK(store_delete(&store, text(names[0]))); /* shifts the run back by one */
    uint32_t key_index = 0;
    CHECK(table_value_at(&store.table, last.table_slot, &key_index) == false ||
          key_index != last.key_index);
    store_remove(&store, &last);
    CHECK(store.key_probe_count == probes + 2); /* the delete's find, and one walk */
    CHECK(store_key_count(&store) == 1);
    struct slice got;
    CHECK(store_string_get(&store, text(names[1]), &got) == STORE_OK);
    CHECK_BYTES(got.bytes, got.length, names[1], strlen(names[1]));
    CHECK(store_string_get(&store, text(names[2]), &got) == STORE_NOT_FOUND);
    store_verify(&store);
    /* A fresh record costs no walk. */
    CHECK(store_find_typed(&store, text(names[1]), STORE_TYPE_ANY, &last) == STORE_OK);
    probes = store.key_probe_count;
    store_remove(&store, &last);
    CHECK(store.key_probe_count == probes);
    CHECK(store_key_count(&store) == 0);
    store_verify(&store);
}

/* Watcher hook: counts the names it is told about. */
static uint32_t touched_count;
static char touched_last[KEY_BYTES + 1];

static void on_touched(void *context, uint32_t hash, struct slice key)
{
    (void)context;
    CHECK(hash == store_key_hash(&store, key));
    touched_count++;
    memcpy(touched_last, key.bytes, key.length);
    touched_last[key.length] = '\0';
}

static void test_rename(void)
{
    struct slice values[2] = {text("x"), text("y")};
    uint32_t length = 0;
    CHECK(push(text("from"), values, 2, false, &length) == STORE_OK);
    struct store_found source;
    struct store_found target;
    CHECK(store_find_typed(&store, text("from"), STORE_TYPE_ANY, &source) == STORE_OK);
    CHECK(store_expire_set(&store, &source, store.now_ms + 100000));
    store.touched = on_touched;
    touched_count = 0;
    /* To a new name: one entry out, one in; the value and the time stay. */
    store_find_typed(&store, text("to"), STORE_TYPE_ANY, &target);
    store_rename(&store, &source, text("to"), &target);
    CHECK(touched_count == 2); /* the old name and the new one */
    CHECK(!store_find(&store, text("from"), &length));
    CHECK(find_list(text("to"), &source));
    CHECK(store_key(&store, source.key_index)->list.count == 2);
    CHECK(store_key(&store, source.key_index)->expire_at_ms == store.now_ms + 100000);
    store_verify(&store);
    /* Over a hash: the hash's slots go, its table entry takes the list. */
    struct slice pairs[2] = {text("f"), text("v")};
    uint32_t added = 0;
    store_find_typed(&store, text("over"), STORE_TYPE_HASH, &target);
    CHECK(store_hash_set(&store, &target, text("over"), pairs, 1, false, &added) == STORE_OK);
    CHECK(store_find_typed(&store, text("to"), STORE_TYPE_ANY, &source) == STORE_OK);
    CHECK(store_find_typed(&store, text("over"), STORE_TYPE_ANY, &target) == STORE_OK);
    touched_count = 0;
    uint64_t probes = store.key_probe_count;
    store_rename(&store, &source, text("over"), &target);
    CHECK(store.key_probe_count == probes); /* both records were fresh */
    CHECK(touched_count == 2);              /* the removed target and the renamed key */
    CHECK(store_key_count(&store) == 1);
    CHECK(find_list(text("over"), &source));
    CHECK(store_key(&store, source.key_index)->expire_at_ms == store.now_ms + 100000);
    CHECK(store.fields.free_count == store.fields.slot_count);
    CHECK(store.expires_count == 1);
    store_verify(&store);
    store.touched = NULL;
    store_flush(&store);
    CHECK(store.expires_count == 0);
}

/* Model: per key, absent (-1), a string (length 0 means "string") or a list length. */
struct model_key {
    int kind;          /* 0 absent, 1 string, 2 list */
    uint32_t length;   /* list length */
    uint8_t last;      /* string: its single byte value */
};

/* Churn: RENAME key `which` to another model key; the target, if any, goes. */
static void churn_rename(struct model_key *model, uint32_t which, uint32_t *model_keys)
{
    char key[4] = {'k', (char)('a' + which), '\0', '\0'};
    uint32_t to = (uint32_t)rand() % (KEYS + 4);
    char target_key[4] = {'k', (char)('a' + to), '\0', '\0'};
    struct store_found source;
    struct store_found target;
    store_find_typed(&store, text(key), STORE_TYPE_ANY, &source);
    CHECK(source.exists == (model[which].kind != 0));
    if (!source.exists || to == which) {
        return;
    }
    store_find_typed(&store, text(target_key), STORE_TYPE_ANY, &target);
    CHECK(target.exists == (model[to].kind != 0));
    store_rename(&store, &source, text(target_key), &target);
    *model_keys -= model[to].kind != 0 ? 1 : 0;
    model[to] = model[which];
    memset(&model[which], 0, sizeof(model[which]));
}

/* Churn: an expiry time for key `which`; one in the past removes the key. */
static void churn_expire(struct model_key *model, uint32_t which, uint32_t *model_keys)
{
    char key[4] = {'k', (char)('a' + which), '\0', '\0'};
    struct store_found found;
    store_find_typed(&store, text(key), STORE_TYPE_ANY, &found);
    CHECK(found.exists == (model[which].kind != 0));
    if (!found.exists) {
        return;
    }
    bool past = rand() % 2 == 0;
    bool kept = store_expire_set(&store, &found, past ? 1 : store.now_ms + 1000);
    CHECK(kept == !past);
    if (past) {
        memset(&model[which], 0, sizeof(model[which]));
        (*model_keys)--;
    }
}

/* One churn step on key `which` (name key); updates the model. */
static void churn_step(struct model_key *model, uint32_t which, uint32_t *model_keys)
{
    char key[4] = {'k', (char)('a' + which), '\0', '\0'};
    struct model_key *m = &model[which];
    int action = rand() % 6;
    if (action == 0) {
        uint8_t byte = (uint8_t)rand();
        struct slice value = {.bytes = &byte, .length = 1};
        enum store_status status = store_string_set(&store, text(key), value);
        if (m->kind == 0 && *model_keys == KEYS) {
            CHECK(status == STORE_FULL);
        } else {
            CHECK(status == STORE_OK);
            *model_keys += m->kind == 0 ? 1 : 0;
            *m = (struct model_key){.kind = 1, .last = byte};
        }
    } else if (action == 1) {
        uint32_t count = 1 + (uint32_t)rand() % 3;
        struct slice values[3] = {text("x"), text("y"), text("z")};
        uint32_t length = 0;
        enum store_status status = push(text(key), values, count, rand() % 2, &length);
        if (m->kind == 1) {
            CHECK(status == STORE_WRONGTYPE);
        } else if (m->length + count > LIST_MAX) {
            CHECK(status == STORE_LIST_FULL);
        } else if (m->kind == 0 && *model_keys == KEYS) {
            CHECK(status == STORE_FULL);
        } else {
            CHECK(status == STORE_OK);
            *model_keys += m->kind == 0 ? 1 : 0;
            m->kind = 2;
            m->length += count;
            CHECK(length == m->length);
        }
    } else if (action == 2) {
        struct store_found found;
        enum store_status status = store_find_typed(&store, text(key), STORE_TYPE_LIST, &found);
        CHECK(status == (m->kind == 2 ? STORE_OK : m->kind == 1 ? STORE_WRONGTYPE
                                                                  : STORE_NOT_FOUND));
        if (status == STORE_OK) {
            store_list_pop(&store, &found, rand() % 2);
            if (--m->length == 0) {
                m->kind = 0;
                (*model_keys)--;
            }
        }
    } else if (action == 3) {
        CHECK(store_delete(&store, text(key)) == (m->kind != 0));
        *model_keys -= m->kind != 0 ? 1 : 0;
        memset(m, 0, sizeof(*m));
    } else if (action == 4) {
        churn_rename(model, which, model_keys);
    } else {
        churn_expire(model, which, model_keys);
    }
}

static void test_churn(void)
{
    uint32_t seed = (uint32_t)(getenv("KV_SEED") ? strtoul(getenv("KV_SEED"), NULL, 10) : 4242);
    srand(seed);
    struct model_key model[KEYS + 4];
    memset(model, 0, sizeof(model));
    uint32_t model_keys = 0;
    store_clock(&store, 1000000);
    for (uint32_t step = 0; step < 20000; step++) {
        uint32_t which = (uint32_t)rand() % (KEYS + 4);
        churn_step(model, which, &model_keys);
        char key[4] = {'k', (char)('a' + which), '\0', '\0'};
        if (model[which].kind == 1) {
            struct slice got;
            CHECK(store_string_get(&store, text(key), &got) == STORE_OK);
            CHECK(got.length == 1 && got.bytes[0] == model[which].last);
        }
        CHECK(store_key_count(&store) == model_keys);
        store_verify(&store);
        if (check_failures > 0) {
            fprintf(stderr, "churn failed at step %u (KV_SEED=%u)\n", step, seed);
            return;
        }
    }
    store_flush(&store);
}

/* The command table over a store of its own, to count a command's probes of the key table. */
static struct config cmd_config;
static struct plan cmd_plan;
static struct region cmd_region;
static struct store cmd_store;
static struct watch cmd_watch;
static struct stats cmd_stats;
static struct client cmd_client;
static uint8_t *cmd_send_bytes;

static bool cmd_setup(void)
{
    char error[256];
    struct layout layout;
    config_defaults(&cmd_config);
    cmd_config.connections_max = 1;
    cmd_config.key_count = 64;
    cmd_config.watch_keys_max = 4;
    cmd_config.slowlog_log_slower_than = -1;
    if (plan_compute(&cmd_plan, &cmd_config, error, sizeof(error)) != 0) {
        fprintf(stderr, "plan_compute: %s\n", error);
        return false;
    }
    layout_compute(&layout, &cmd_config, &cmd_plan);
    if (region_map(&cmd_region, layout.total_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        return false;
    }
    reply_errors_init(&cmd_config, cmd_plan.recv_buffer_bytes);
    store_init(&cmd_store, &cmd_region, &cmd_config, 7);
    types_init(&cmd_store);
    watch_init(&cmd_watch, &cmd_region, cmd_config.watch_keys_max, cmd_config.key_size_max);
    cmd_init(&cmd_region, PLAN_SLOWLOG_MAX_LEN);
    cmd_slowlog_threshold_set(-1);
    cmd_send_bytes = region_carve(&cmd_region, cmd_plan.send_buffer_bytes, 64);
    cmd_client.authenticated = true;
    cmd_client.id = 1;
    return true;
}

/* Runs one command (words separated by spaces); returns its probes of the key table and
 * leaves its reply in *reply. */
static uint64_t cmd_probes(const char *line, struct slice *reply)
{
    static char words[256];
    struct slice args[8];
    uint32_t arg_count = 0;
    snprintf(words, sizeof(words), "%s", line);
    /* Bounded by the 8 argument slots. */
    for (char *word = strtok(words, " "); word != NULL && arg_count < 8; word = strtok(NULL, " ")) {
        args[arg_count++] = text(word);
    }
    struct cmd_context context = {.store = &cmd_store, .config = &cmd_config, .plan = &cmd_plan,
                                  .region = &cmd_region, .stats = &cmd_stats,
                                  .watch = &cmd_watch, .client = &cmd_client};
    context.reply = (struct reply){.bytes = cmd_send_bytes, .length = 0,
                                   .capacity = cmd_plan.send_buffer_bytes};
    uint64_t before = cmd_store.key_probe_count;
    uint32_t position = cmd_find(args, arg_count);
    CHECK(cmd_admit(&context, position, args, arg_count));
    cmd_run(&context, position, args, arg_count,
            cmd_reply_bound(&context, position, args, arg_count));
    *reply = (struct slice){.bytes = context.reply.bytes, .length = context.reply.length};
    store_verify(&cmd_store);
    return cmd_store.key_probe_count - before;
}

#define CHECK_PROBES(line, probes, want)                                \
    do {                                                                \
        struct slice got_;                                              \
        CHECK(cmd_probes((line), &got_) == (probes));                   \
        CHECK_BYTES(got_.bytes, got_.length, (want), strlen(want));     \
    } while (0)

static void test_command_probes(void)
{
    if (!cmd_setup()) {
        check_failures++;
        return;
    }
    /* SET probes once however many options it has, for a new key and an existing one. */
    CHECK_PROBES("SET k v EX 100", 1, "+OK\r\n");
    CHECK_PROBES("SET k w EX 100", 1, "+OK\r\n");
    CHECK_PROBES("SET k x PX 100000 GET", 1, "$1\r\nw\r\n");
    CHECK_PROBES("SET k y KEEPTTL GET", 1, "$1\r\nx\r\n");
    CHECK_PROBES("SET k z XX EX 5", 1, "+OK\r\n");
    CHECK_PROBES("SET k z NX", 1, "$-1\r\n");
    CHECK_PROBES("SET n v NX PX 100000", 1, "+OK\r\n");
    CHECK_PROBES("SETEX e 100 v", 1, "+OK\r\n");
    CHECK_PROBES("GETDEL e", 1, "$1\r\nv\r\n");
    CHECK_PROBES("EXPIRE k 1000", 1, ":1\r\n");
    CHECK_PROBES("PERSIST k", 1, ":1\r\n");
    CHECK_PROBES("INCR counter", 1, ":1\r\n");
    CHECK_PROBES("APPEND k more", 1, ":5\r\n");
    CHECK_PROBES("SETRANGE k 1 Z", 1, ":5\r\n");
    /* A time already past removes the key the SET wrote: still one probe. */
    CHECK_PROBES("SET gone v EXAT 1", 1, "+OK\r\n");
    CHECK_PROBES("EXISTS gone", 1, ":0\r\n");
    CHECK_PROBES("LPUSH l a b", 1, ":2\r\n");
    CHECK_PROBES("LPUSHX l c", 1, ":3\r\n");
    CHECK_PROBES("HINCRBY h f 2", 1, ":2\r\n");
    /* RENAME probes each name once, over a new name and over an existing key. */
    CHECK_PROBES("RENAME l l2", 2, "+OK\r\n");
    CHECK_PROBES("RENAME l2 n", 2, "+OK\r\n");
    CHECK_PROBES("TYPE n", 1, "+list\r\n");
    CHECK_PROBES("DEL n k h counter", 4, ":4\r\n");
    CHECK_PROBES("DBSIZE", 0, ":0\r\n");
}

int main(void)
{
    setup();
    test_full_store();
    test_limits();
    test_types();
    test_stale_hint();
    test_rename();
    test_churn();
    test_command_probes();
    return check_exit("test_store");
}
