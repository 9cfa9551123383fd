/*
 * Proves the keys' Redis shape (store.h's enum store_shape, OBJECT ENCODING's answer): the two
 * meta bits leave the type, encoding, expiry flag and clock as they were and survive a
 * resize (an expiry time given and taken) and a rename; each type's writes set them as Redis
 * 7.0 converts, against thresholds set as CONFIG SET sets them (redis_param_store and the
 * type's configure). Fixed cases first (strings' int/embstr/raw by writer, 44/45 bytes, 20
 * digits, "-0"; the hash, set and sorted-set thresholds at N and N + 1, 0 included; sticky
 * conversions; SPOP's rebuilt rest; the STORE forms' fresh shape), then a seeded churn
 * (KV_SEED replays it) of hash, set and sorted-set writes with random thresholds against a
 * model that applies Redis's rules step by step (hashTypeTryConversion and hashTypeSet,
 * setTypeAdd, zsetAdd), every answer compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "redis_param.h"
#include "store.h"
#include "store_hash.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;

#define HEAP_BYTES (64u << 20)
#define CHURN_STEPS 6000u
#define FIELDS_MAX 40u   /* distinct fields or members the churn names */

static void setup(void)
{
    fixture_heap_map(&region, &heap, HEAP_BYTES);
    fixture_caps_none(&store_config);
    store_init(&store, &heap, &store_config, 777);
    store_string_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_clock(&store, 1000000);
}

/* CONFIG SET of one Redis parameter, as cmd_server.c does it. */
static void param_set(const char *name, uint64_t value)
{
    char given[32];
    char canonical[REDIS_PARAM_VALUE_BYTES];
    snprintf(given, sizeof(given), "%llu", (unsigned long long)value);
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0);
    const char *failure = redis_param_check((uint32_t)row, given, strlen(given), canonical);
    KV_ASSERT(failure == NULL);
    redis_param_store((uint32_t)row, canonical);
    store_hash_configure();
    store_set_configure();
    store_zset_configure();
}

/* OBJECT ENCODING of a key: its name, or "none" when absent. */
static const char *encoding(const char *key)
{
    uint32_t ref = HEAP_REF_NONE;
    if (!store_find(&store, text(key), &ref)) {
        return "none";
    }
    return store_encoding_name(&store, store_key(&store, ref));
}

static bool encoding_is(const char *key, const char *want)
{
    const char *got = encoding(key);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "  %s: encoding %s, want %s\n", key, got, want);
        return false;
    }
    return true;
}

/* ---- The bits themselves ---- */

static void test_bits(void)
{
    struct store_key key = {.link = 0, .meta = 0, .key_bytes = 0, .value = 0};
    /* Every meta word outside the shape bits, with each shape: the rest is kept. */
    /* Bounded: 4096 random words. */
    for (uint32_t round = 0; round < 4096; round++) {
        uint32_t meta = (uint32_t)random_next() & ~(STORE_META_SHAPE_LOW | STORE_META_SHAPE_HIGH);
        uint8_t shape = (uint8_t)(round % 4);
        key.meta = meta;
        store_key_shape_set(&key, shape);
        CHECK(store_key_shape(&key) == shape);
        CHECK((key.meta & ~(STORE_META_SHAPE_LOW | STORE_META_SHAPE_HIGH)) == meta);
        CHECK(store_key_type(&key) == (meta & STORE_META_TYPE_MASK));
        CHECK(store_key_encoding(&key) ==
              ((meta >> STORE_META_ENCODING_SHIFT) & STORE_META_ENCODING_MASK));
    }
    /* A resize (an expiry time given, then taken) and a rename keep the shape. */
    uint32_t added = 0;
    const struct slice members[] = {text("1"), text("x")};
    struct store_found found;
    (void)store_find_typed(&store, text("bits"), STORE_TYPE_SET, &found);
    CHECK(store_set_add(&store, &found, text("bits"), members, 2, &added) == STORE_OK);
    CHECK(encoding_is("bits", "hashtable"));
    CHECK(store_expire_set(&store, &found, 5000000) == STORE_OK);
    CHECK(encoding_is("bits", "hashtable"));
    CHECK(store_expire_set(&store, &found, 0) == STORE_OK);
    struct store_found target;
    (void)store_find_typed(&store, text("bits2"), STORE_TYPE_ANY, &target);
    CHECK(store_rename(&store, &found, text("bits2"), &target) == STORE_OK);
    CHECK(encoding_is("bits2", "hashtable"));
    CHECK(store_delete(&store, text("bits2")));
}

/* ---- Strings ---- */

static void put(const char *key, const char *value)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_ANY, &found);
    CHECK(store_string_put(&store, &found, text(key), text(value), 0, false) == STORE_OK);
}

static void splice(const char *key, uint64_t offset, const char *bytes)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_STRING, &found);
    uint64_t length = 0;
    CHECK(store_string_splice(&store, &found, text(key), offset, text(bytes), &length) ==
          STORE_OK);
}

static bool shared(const char *key)
{
    uint32_t ref = HEAP_REF_NONE;
    return store_find(&store, text(key), &ref) && store_string_shared_integer(&store, ref);
}

static void test_strings(void)
{
    static const struct {
        const char *value;
        const char *encoding;
        bool shared;
    } cases[] = {
        {"0", "int", true},
        {"9999", "int", true},
        {"10000", "int", false},
        {"-1", "int", false},
        {"9223372036854775807", "int", false},
        {"-9223372036854775808", "int", false},
        {"9223372036854775808", "embstr", false},
        {"12345678901234567890", "embstr", false},
        {"-0", "embstr", false},
        {"01", "embstr", false},
        {" 1", "embstr", false},
        {"+1", "embstr", false},
        {"", "embstr", false},
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "embstr", false},  /* 44 */
        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "raw", false},    /* 45 */
    };
    /* Bounded by the table. */
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        put("str", cases[index].value);
        CHECK(encoding_is("str", cases[index].encoding));
        CHECK(shared("str") == cases[index].shared);
    }
    /* A write into the string makes it raw, however short; SET's rule comes back with SET. */
    put("str", "12");
    splice("str", 2, "3");
    CHECK(encoding_is("str", "raw"));
    CHECK(!shared("str"));
    put("str", "12");
    CHECK(encoding_is("str", "int"));
    /* A splice that creates the key is APPEND's: SET's rule. */
    CHECK(store_delete(&store, text("str")));
    splice("str", 0, "7");
    CHECK(encoding_is("str", "int"));
    /* A truncate (a sparse HyperLogLog's) writes in place too. */
    struct store_found found;
    (void)store_find_typed(&store, text("str"), STORE_TYPE_STRING, &found);
    store_string_truncate(&store, &found, 0);
    CHECK(encoding_is("str", "raw"));
    /* A number's text (INCRBYFLOAT) is never int. */
    put("str", "3");
    (void)store_find_typed(&store, text("str"), STORE_TYPE_STRING, &found);
    store_string_shape_set(&store, &found, STORE_SHAPE_NUMBER);
    CHECK(encoding_is("str", "embstr"));
    CHECK(!shared("str"));
    /* COPY's duplicate of a shared integer is its own, still int. */
    put("str", "42");
    uint32_t ref = found.key_ref;
    CHECK(store_find(&store, text("str"), &ref));
    CHECK(store_string_copy_shape(&store, ref) == STORE_SHAPE_UNSHARED);
    (void)store_find_typed(&store, text("str"), STORE_TYPE_STRING, &found);
    store_string_shape_set(&store, &found, STORE_SHAPE_UNSHARED);
    CHECK(encoding_is("str", "int"));
    CHECK(!shared("str"));
    CHECK(store_delete(&store, text("str")));
}

/* ---- Hashes ---- */

static enum store_status hset(const char *key, const struct slice *pairs, uint32_t pair_count,
                              bool only_new)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_HASH, &found);
    uint32_t added = 0;
    return store_hash_set(&store, &found, text(key), pairs, pair_count, only_new, &added);
}

static void hdel(const char *key, struct slice field)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_HASH, &found);
    uint32_t removed = 0;
    CHECK(store_hash_delete(&store, &found, &field, 1, &removed) == STORE_OK);
}

static char names[FIELDS_MAX + 1][80];

/* Name `index`: short ("f7"), or 64 or 65 bytes for the last ones. */
static struct slice name_at(uint32_t index)
{
    KV_ASSERT(index <= FIELDS_MAX);
    return text(names[index]);
}

static void test_hash(void)
{
    param_set("hash-max-listpack-entries", 3);
    param_set("hash-max-listpack-value", 64);
    struct slice pairs[8] = {text("a"), text("1"), text("b"), text("2"), text("c"), text("3"),
                             text("d"), text("4")};
    CHECK(hset("h", pairs, 3, false) == STORE_OK);
    CHECK(encoding_is("h", "listpack"));
    CHECK(hset("h", pairs, 3, false) == STORE_OK); /* updates: still 3 */
    CHECK(encoding_is("h", "listpack"));
    CHECK(hset("h", pairs + 6, 1, false) == STORE_OK); /* the 4th field */
    CHECK(encoding_is("h", "hashtable"));
    hdel("h", text("a"));
    hdel("h", text("b"));
    CHECK(encoding_is("h", "hashtable")); /* never back */
    CHECK(store_delete(&store, text("h")));
    /* A 64-byte value stays, a 65-byte field or value converts; HSETNX of a field present
     * writes nothing and converts nothing. */
    struct slice long_pairs[2] = {text("f"), name_at(FIELDS_MAX - 1)};
    CHECK(strlen(names[FIELDS_MAX - 1]) == 64);
    CHECK(hset("h", long_pairs, 1, false) == STORE_OK);
    CHECK(encoding_is("h", "listpack"));
    long_pairs[1] = name_at(FIELDS_MAX);
    CHECK(hset("h", long_pairs, 1, true) == STORE_OK);
    CHECK(encoding_is("h", "listpack"));
    CHECK(hset("h", long_pairs, 1, false) == STORE_OK);
    CHECK(encoding_is("h", "hashtable"));
    CHECK(store_delete(&store, text("h")));
    /* Lowered under the count, the bound converts at the next set, even an update. */
    CHECK(hset("h", pairs, 3, false) == STORE_OK);
    param_set("hash-max-ziplist-entries", 2);
    CHECK(encoding_is("h", "listpack"));
    CHECK(hset("h", pairs, 1, false) == STORE_OK);
    CHECK(encoding_is("h", "hashtable"));
    CHECK(store_delete(&store, text("h")));
    param_set("hash-max-listpack-entries", 0);
    CHECK(hset("h", pairs, 1, false) == STORE_OK);
    CHECK(encoding_is("h", "hashtable"));
    CHECK(store_delete(&store, text("h")));
}

/* ---- Sets ---- */

static uint32_t sadd(const char *key, const struct slice *members, uint32_t count)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_SET, &found);
    uint32_t added = 0;
    CHECK(store_set_add(&store, &found, text(key), members, count, &added) == STORE_OK);
    return added;
}

static void visit_nothing(void *context, struct slice member)
{
    (void)member;
    (*(uint32_t *)context)++;
}

static void test_set(void)
{
    param_set("set-max-intset-entries", 3);
    struct slice ints[5] = {text("1"), text("2"), text("3"), text("4"), text("5")};
    CHECK(sadd("s", ints, 3) == 3);
    CHECK(encoding_is("s", "intset"));
    CHECK(sadd("s", ints, 3) == 0);
    CHECK(encoding_is("s", "intset"));
    CHECK(sadd("s", ints + 3, 1) == 1); /* the 4th */
    CHECK(encoding_is("s", "hashtable"));
    CHECK(store_delete(&store, text("s")));
    static const char *const not_integers[] = {"-0", "01", " 1", "+1", "1.0", "a",
                                               "9223372036854775808"};
    /* Bounded by the table. */
    for (uint32_t index = 0; index < sizeof(not_integers) / sizeof(not_integers[0]); index++) {
        struct slice member = text(not_integers[index]);
        CHECK(sadd("s", ints, 1) == 1);
        CHECK(sadd("s", &member, 1) == 1);
        CHECK(encoding_is("s", "hashtable"));
        struct store_found found;
        (void)store_find_typed(&store, text("s"), STORE_TYPE_SET, &found);
        CHECK(store_set_remove(&store, &found, &member, 1) == 1);
        CHECK(encoding_is("s", "hashtable")); /* never back after SREM */
        CHECK(store_delete(&store, text("s")));
    }
    /* SPOP of most of a set: Redis builds the rest anew (5 * rest <= count). */
    param_set("set-max-intset-entries", 512);
    struct slice many[12];
    char many_text[12][8];
    /* Bounded: 12 members. */
    for (uint32_t index = 0; index < 12; index++) {
        snprintf(many_text[index], sizeof(many_text[index]), "%u", index * 7);
        many[index] = text(many_text[index]);
    }
    struct slice word = text("w");
    CHECK(sadd("s", many, 12) == 12);
    CHECK(sadd("s", &word, 1) == 1);
    struct store_found found;
    (void)store_find_typed(&store, text("s"), STORE_TYPE_SET, &found);
    CHECK(store_set_remove(&store, &found, &word, 1) == 1);
    CHECK(encoding_is("s", "hashtable"));
    uint32_t visited = 0;
    store_set_pop(&store, &found, 2, visit_nothing, &visited); /* 10 stay: popped one by one */
    CHECK(encoding_is("s", "hashtable"));
    store_set_pop(&store, &found, 9, visit_nothing, &visited); /* 1 stays: rebuilt */
    CHECK(visited == 11);
    CHECK(encoding_is("s", "intset"));
    CHECK(store_delete(&store, text("s")));
    /* A STORE form's result: all integers within the bound, else a hashtable. */
    struct store_set_result result;
    (void)store_find_typed(&store, text("d"), STORE_TYPE_ANY, &found);
    CHECK(store_set_result_start(&store, &result, 3, true, 4) == STORE_OK);
    /* Bounded: 3 members. */
    for (uint32_t index = 0; index < 3; index++) {
        CHECK(store_set_result_add(&store, &result, many[index]) == STORE_OK);
    }
    CHECK(store_set_result_store(&store, &found, text("d"), &result) == STORE_OK);
    CHECK(encoding_is("d", "intset"));
    param_set("set-max-intset-entries", 2);
    (void)store_find_typed(&store, text("d"), STORE_TYPE_ANY, &found);
    CHECK(store_set_result_start(&store, &result, 3, true, 4) == STORE_OK);
    /* Bounded: 3 members. */
    for (uint32_t index = 0; index < 3; index++) {
        CHECK(store_set_result_add(&store, &result, many[index]) == STORE_OK);
    }
    CHECK(store_set_result_store(&store, &found, text("d"), &result) == STORE_OK);
    CHECK(encoding_is("d", "hashtable"));
    CHECK(store_delete(&store, text("d")));
}

/* ---- Sorted sets ---- */

static double text_score(struct slice score_text)
{
    return (double)score_text.length; /* the churn's scores do not matter to the shape */
}

static enum store_status zadd(const char *key, uint32_t flags, const struct slice *members,
                              uint32_t count, uint32_t *added)
{
    static struct slice args[2 * FIELDS_MAX];
    KV_ASSERT(count <= FIELDS_MAX);
    /* Bounded by count. */
    for (uint32_t index = 0; index < count; index++) {
        args[2 * index] = text("1");
        args[2 * index + 1] = members[index];
    }
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_ZSET, &found);
    const struct store_zset_pairs pairs = {.args = args, .count = count, .score = text_score};
    struct store_zset_result result;
    enum store_status status = store_zset_add(&store, &found, text(key), flags, &pairs, &result);
    *added = result.added;
    return status;
}

static void test_zset(void)
{
    param_set("zset-max-listpack-entries", 2);
    param_set("zset-max-listpack-value", 64);
    uint32_t added = 0;
    struct slice members[3] = {text("a"), text("b"), text("c")};
    CHECK(zadd("z", 0, members, 2, &added) == STORE_OK && added == 2);
    CHECK(encoding_is("z", "listpack"));
    CHECK(zadd("z", STORE_ZSET_XX, members + 2, 1, &added) == STORE_OK && added == 0);
    CHECK(encoding_is("z", "listpack"));
    CHECK(zadd("z", 0, members + 2, 1, &added) == STORE_OK && added == 1);
    CHECK(encoding_is("z", "skiplist"));
    struct store_found found;
    (void)store_find_typed(&store, text("z"), STORE_TYPE_ZSET, &found);
    CHECK(store_zset_remove(&store, &found, members, 2) == 2);
    CHECK(encoding_is("z", "skiplist"));
    CHECK(store_delete(&store, text("z")));
    /* A new key with a long first member, or with entries 0, is a skiplist at once. */
    struct slice long_member = name_at(FIELDS_MAX);
    CHECK(zadd("z", 0, &long_member, 1, &added) == STORE_OK);
    CHECK(encoding_is("z", "skiplist"));
    CHECK(store_delete(&store, text("z")));
    param_set("zset-max-ziplist-entries", 0);
    CHECK(zadd("z", 0, members, 1, &added) == STORE_OK);
    CHECK(encoding_is("z", "skiplist"));
    CHECK(store_delete(&store, text("z")));
    /* A long member already present (the bound lowered since) converts nothing. */
    param_set("zset-max-listpack-entries", 128);
    CHECK(zadd("z", 0, &long_member, 1, &added) == STORE_OK);
    CHECK(encoding_is("z", "skiplist"));
    CHECK(store_delete(&store, text("z")));
    param_set("zset-max-listpack-value", 100);
    CHECK(zadd("z", 0, &long_member, 1, &added) == STORE_OK);
    param_set("zset-max-ziplist-value", 10);
    struct slice both[2] = {long_member, text("d")};
    CHECK(zadd("z", 0, both, 2, &added) == STORE_OK && added == 1);
    CHECK(encoding_is("z", "listpack"));
    CHECK(store_delete(&store, text("z")));
    /* A STORE form's result converts back when it can. */
    param_set("zset-max-listpack-value", 64);
    struct store_zset_temp temp;
    CHECK(store_zset_temp_start(&store, &temp));
    CHECK(store_zset_temp_put(&store, &temp, text("a"), 1.0));
    (void)store_find_typed(&store, text("zd"), STORE_TYPE_ANY, &found);
    CHECK(store_zset_temp_store(&store, &found, text("zd"), &temp) == STORE_OK);
    CHECK(encoding_is("zd", "listpack"));
    CHECK(store_zset_temp_start(&store, &temp));
    CHECK(store_zset_temp_put(&store, &temp, long_member, 1.0));
    (void)store_find_typed(&store, text("zd"), STORE_TYPE_ANY, &found);
    CHECK(store_zset_temp_store(&store, &found, text("zd"), &temp) == STORE_OK);
    CHECK(encoding_is("zd", "skiplist"));
    CHECK(store_delete(&store, text("zd")));
}

/* ---- The churn: Redis's rules, step by step, in a model ---- */

struct model {
    bool present[FIELDS_MAX + 1];
    uint32_t count;
    bool exists;
    bool converted;
};

static void churn(uint64_t seed)
{
    static const uint64_t entry_choices[] = {0, 1, 2, 3, 5, 8, 16, 40};
    static const uint64_t value_choices[] = {0, 1, 2, 10, 63, 64, 65, 100};
    struct model hash_model = {0};
    struct model set_model = {0};
    struct model zset_model = {0};
    uint64_t hash_entries = 512, hash_value = 64, set_entries = 512;
    uint64_t zset_entries = 128, zset_value = 64;
    param_set("hash-max-listpack-entries", hash_entries);
    param_set("hash-max-listpack-value", hash_value);
    param_set("set-max-intset-entries", set_entries);
    param_set("zset-max-listpack-entries", zset_entries);
    param_set("zset-max-listpack-value", zset_value);
    /* Bounded by CHURN_STEPS. */
    for (uint32_t step = 0; step < CHURN_STEPS; step++) {
        uint32_t roll = random_below(100);
        uint32_t index = random_below(FIELDS_MAX + 1);
        struct slice name = name_at(index);
        if (roll < 4) {
            uint32_t which = random_below(5);
            uint64_t entries = entry_choices[random_below(8)];
            uint64_t value = value_choices[random_below(8)];
            hash_entries = which == 0 ? entries : hash_entries;
            hash_value = which == 1 ? value : hash_value;
            set_entries = which == 2 ? entries : set_entries;
            zset_entries = which == 3 ? entries : zset_entries;
            zset_value = which == 4 ? value : zset_value;
            param_set("hash-max-listpack-entries", hash_entries);
            param_set("hash-max-listpack-value", hash_value);
            param_set("set-max-intset-entries", set_entries);
            param_set("zset-max-listpack-entries", zset_entries);
            param_set("zset-max-listpack-value", zset_value);
        } else if (roll < 34) {
            /* HSET (or HSETNX) of `name` to a value of its own length class. */
            bool only_new = random_below(4) == 0;
            struct slice pair[2] = {name, name_at(random_below(FIELDS_MAX + 1))};
            CHECK(hset("ch", pair, 1, only_new) == STORE_OK);
            if (!(only_new && hash_model.present[index])) {
                if (!hash_model.exists) {
                    hash_model = (struct model){.exists = true};
                }
                hash_model.converted |= pair[0].length > hash_value ||
                                        pair[1].length > hash_value;
                hash_model.count += hash_model.present[index] ? 0u : 1u;
                hash_model.present[index] = true;
                hash_model.converted |= hash_model.count > hash_entries;
            }
        } else if (roll < 44) {
            if (hash_model.exists) {
                hdel("ch", name);
                hash_model.count -= hash_model.present[index] ? 1u : 0u;
                hash_model.present[index] = false;
                hash_model.exists = hash_model.count > 0;
            }
        } else if (roll < 64) {
            /* SADD: names below 30 are integers ("7"), the others are not ("f35"). */
            char digits[16];
            struct slice member = name;
            if (index < 30) {
                snprintf(digits, sizeof(digits), "%u", index);
                member = text(digits);
            }
            uint32_t added = sadd("cs", &member, 1);
            CHECK(added == (set_model.present[index] ? 0u : 1u));
            if (!set_model.exists) {
                set_model = (struct model){.exists = true};
            }
            if (!set_model.present[index]) {
                set_model.present[index] = true;
                set_model.count++;
                set_model.converted |= index >= 30 || set_model.count > set_entries;
            }
        } else if (roll < 70) {
            if (set_model.exists) {
                char digits[16];
                struct slice member = name;
                if (index < 30) {
                    snprintf(digits, sizeof(digits), "%u", index);
                    member = text(digits);
                }
                struct store_found found;
                (void)store_find_typed(&store, text("cs"), STORE_TYPE_SET, &found);
                CHECK(store_set_remove(&store, &found, &member, 1) ==
                      (set_model.present[index] ? 1u : 0u));
                set_model.count -= set_model.present[index] ? 1u : 0u;
                set_model.present[index] = false;
                set_model.exists = set_model.count > 0;
            }
        } else if (roll < 92) {
            uint32_t added = 0;
            uint32_t flags = random_below(5) == 0 ? STORE_ZSET_XX : 0;
            CHECK(zadd("cz", flags, &name, 1, &added) == STORE_OK);
            bool inserts = !zset_model.present[index] && !(flags & STORE_ZSET_XX);
            CHECK(added == (inserts ? 1u : 0u));
            if (inserts) {
                if (!zset_model.exists) {
                    zset_model = (struct model){.exists = true};
                }
                zset_model.present[index] = true;
                zset_model.count++;
                zset_model.converted |= zset_model.count > zset_entries ||
                                        name.length > zset_value;
            }
        } else if (zset_model.exists) {
            struct store_found found;
            (void)store_find_typed(&store, text("cz"), STORE_TYPE_ZSET, &found);
            CHECK(store_zset_remove(&store, &found, &name, 1) ==
                  (zset_model.present[index] ? 1u : 0u));
            zset_model.count -= zset_model.present[index] ? 1u : 0u;
            zset_model.present[index] = false;
            zset_model.exists = zset_model.count > 0;
        }
        bool same = encoding_is("ch", !hash_model.exists      ? "none"
                                      : hash_model.converted ? "hashtable"
                                                             : "listpack") &&
                    encoding_is("cs", !set_model.exists      ? "none"
                                      : set_model.converted ? "hashtable"
                                                            : "intset") &&
                    encoding_is("cz", !zset_model.exists      ? "none"
                                      : zset_model.converted ? "skiplist"
                                                             : "listpack");
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  churn: step %u of seed %llu (KV_SEED replays it)\n", step,
                    (unsigned long long)seed);
            return;
        }
    }
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store_shape: seed %llu (KV_SEED replays it)\n",
            (unsigned long long)seed);
    seed_state = seed;
    /* Bounded by FIELDS_MAX: the last two names are 64 and 65 bytes, one in ten is 10. */
    for (uint32_t index = 0; index <= FIELDS_MAX; index++) {
        uint32_t length = index == FIELDS_MAX ? 65u : index == FIELDS_MAX - 1 ? 64u
                                                   : index % 10 == 9             ? 10u
                                                                                 : 0u;
        if (length == 0) {
            snprintf(names[index], sizeof(names[index]), "f%u", index);
        } else {
            memset(names[index], 'L', length);
            names[index][length] = '\0';
            names[index][0] = (char)('A' + index % 26); /* distinct from each other */
        }
    }
    setup();
    test_bits();
    test_strings();
    test_hash();
    test_set();
    test_zset();
    churn(seed);
    return check_exit("test_store_shape");
}
