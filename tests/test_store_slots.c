/*
 * Proves cluster mode's per-slot index of database 0 (store_slots_enable): every way a key
 * enters or leaves database 0 keeps each slot's list exact. A seeded churn runs every kind of
 * write against a model (for each name: absent, or its database and type; per slot: database
 * 0's count): SET of every size (embedded, other classes, a blob), APPEND growing the object
 * in place or moving it, a type change over an existing key, list, hash, set, sorted set and
 * stream writes (the key goes with its last element), EXPIRE adding and PERSIST removing the
 * expiry time (the object grows and shrinks), an expiry in the past, DEL, RENAME over an
 * existing key and to an absent one (both slots change), MOVE both ways between databases 0
 * and 1, COPY, RESTORE (DUMP's payload read back into a new key), lazy and active expiry,
 * eviction (allkeys-random), SWAPDB 0 1, FLUSHDB and FLUSHALL, and an RDB save and load of the
 * whole dataset. The small churn calls store_verify (which checks the lists against the keys
 * dict, and the heap's allocation count) after each of its first 3,000 steps and every tenth
 * after; the large one holds more than
 * 100,000 keys and verifies every few thousand steps and checks the slots it touched after
 * every step. Each full check compares every slot's count and its GETKEYSINSLOT-style listing
 * with the model's set. Also: the listing's order is stable while keys change in place, a
 * partial listing is its prefix, a full heap refuses a new key (OOM) and changes nothing, and
 * a store without cluster mode carries no trailer (the per-key cost is measured and printed),
 * and a forkless BGSAVE (snapshot) walks while writes of every kind go on: the index stays
 * exact, and the image loads back to the dataset of the snapshot point. KV_SEED replays a run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "evict.h"
#include "fixture.h"
#include "heap.h"
#include "keyslot.h"
#include "rdb.h"
#include "snapshot.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

/* Names the churns draw from; the large churn keeps more than 100,000 of them. */
#define NAME_COUNT 150000u
#define NAME_BYTES 32u
#define MODEL_ABSENT (-1)

static struct region region;
static struct heap heap;
static struct store store;
static struct config config;
static struct evict evict;
static uint64_t fake_us;
static const uint64_t no_clients = 0;

static char names[NAME_COUNT][NAME_BYTES];
static uint8_t name_lengths[NAME_COUNT];
static uint16_t name_slots[NAME_COUNT];
static uint32_t name_count;                 /* names in use in this phase */
static int8_t model_db[NAME_COUNT];         /* MODEL_ABSENT, or the key's database */
static uint8_t model_type[NAME_COUNT];      /* enum store_type while present */
static uint32_t model_slot_counts[KEYSLOT_COUNT]; /* database 0's keys per slot */
static uint64_t model_db0_count;
static uint32_t listed[NAME_COUNT];         /* store_slot_keys' output */
static uint32_t seen_epoch[NAME_COUNT];     /* a name met in this check's listing */
static uint32_t epoch;
static uint64_t stream_ms;                  /* XADD's IDs: always increasing */
static uint8_t value_buffer[50000];
static bool clock_frozen;                   /* the snapshot phase: time does not pass */

static uint64_t fake_now_us(void)
{
    fake_us += 3;
    return fake_us;
}

static struct slice name_of(uint32_t index)
{
    return (struct slice){.bytes = (const uint8_t *)names[index], .length = name_lengths[index]};
}

/* The name's index: the digits after its last ':'. */
static uint32_t index_of(struct slice name)
{
    uint32_t index = 0;
    uint32_t at = name.length;
    while (at > 0 && name.bytes[at - 1] != ':') {
        at--;
    }
    for (; at < name.length; at++) {
        index = index * 10u + (uint32_t)(name.bytes[at] - '0');
    }
    KV_ASSERT(index < name_count);
    return index;
}

/* count names: one in four plain (spread over every slot), the rest sharing `tag_count` hash
 * tags (many keys per slot). */
static void names_make(uint32_t count, uint32_t tag_count)
{
    KV_ASSERT(count <= NAME_COUNT);
    name_count = count;
    for (uint32_t index = 0; index < count; index++) {
        int length = index % 4u == 0
                         ? snprintf(names[index], NAME_BYTES, "key:%u", index)
                         : snprintf(names[index], NAME_BYTES, "{t%u}:%u", index % tag_count,
                                    index);
        KV_ASSERT(length > 0 && (uint32_t)length < NAME_BYTES);
        name_lengths[index] = (uint8_t)length;
        name_slots[index] = (uint16_t)keyslot_of((const uint8_t *)names[index], (size_t)length);
        model_db[index] = MODEL_ABSENT;
    }
    memset(model_slot_counts, 0, sizeof(model_slot_counts));
    model_db0_count = 0;
}

static void model_put(uint32_t index, int8_t db, uint8_t type)
{
    KV_ASSERT(model_db[index] == MODEL_ABSENT);
    model_db[index] = db;
    model_type[index] = type;
    if (db == 0) {
        model_slot_counts[name_slots[index]]++;
        model_db0_count++;
    }
}

static void model_drop(uint32_t index)
{
    KV_ASSERT(model_db[index] != MODEL_ABSENT);
    if (model_db[index] == 0) {
        KV_ASSERT(model_slot_counts[name_slots[index]] > 0);
        model_slot_counts[name_slots[index]]--;
        model_db0_count--;
    }
    model_db[index] = MODEL_ABSENT;
}

/* Expiry and eviction remove keys on their own: the model follows the event hook. */
static void on_event(void *context, uint8_t event, struct slice key)
{
    (void)context;
    if (event == STORE_EVENT_EXPIRED || event == STORE_EVENT_EVICTED) {
        uint32_t index = index_of(key);
        CHECK(model_db[index] == (int8_t)store.db_index);
        model_drop(index);
    }
}

static void setup_region(uint64_t heap_bytes, uint64_t extra_bytes)
{
    if (region.base != NULL) {
        region_unmap(&region);
    }
    char error[256];
    if (region_map(&region, heap_plan_bytes(heap_bytes) + extra_bytes + 8192,
                   CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        exit(77);
    }
}

/* The heap, the store with every type, the event hook, eviction; cluster mode or not. */
static void setup_modules(uint64_t heap_bytes, enum config_policy policy, bool cluster)
{
    heap_init(&heap, &region, heap_bytes);
    fixture_caps_none(&config);
    config.maxmemory = heap_bytes;
    config.maxmemory_policy = policy;
    store_init(&store, &heap, &config, 4242);
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_stream_init(&store);
    store_clock(&store, 1700000000000);
    if (cluster) {
        store_slots_enable(&store);
    }
    store.event = on_event;
    evict_init(&evict, &store, &heap, &config, fake_now_us, &no_clients);
}

static void setup(uint64_t heap_bytes, enum config_policy policy, bool cluster)
{
    setup_region(heap_bytes, 0);
    setup_modules(heap_bytes, policy, cluster);
}

/* Everything: the store's own verify (the lists against the keys dict), then every slot's
 * count and listing against the model. O(keys + slots). */
static void check_all(void)
{
    /* A running snapshot holds its bitmap in the heap too. */
    CHECK(store_verify(&store) + (snapshot_running() ? 1u : 0u) == heap.allocations);
    heap_verify(&heap);
    CHECK(store_db_key_count(&store, 0) == model_db0_count);
    epoch++;
    uint64_t listed_total = 0;
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        uint64_t count = store_slot_key_count(&store, slot);
        CHECK(count == model_slot_counts[slot]);
        if (count == 0) {
            continue;
        }
        uint32_t got = store_slot_keys(&store, slot, NAME_COUNT, listed);
        CHECK(got == count);
        for (uint32_t at = 0; at < got; at++) {
            uint32_t index = index_of(store_key_name(store_key(&store, listed[at])));
            CHECK(model_db[index] == 0);
            CHECK(name_slots[index] == slot);
            CHECK(seen_epoch[index] != epoch); /* once */
            seen_epoch[index] = epoch;
        }
        listed_total += got;
    }
    CHECK(listed_total == model_db0_count);
}

/* The slot of a name just written: its count as the model says (O(1)). */
static void check_slot(uint32_t index)
{
    uint32_t slot = name_slots[index];
    CHECK(store_slot_key_count(&store, slot) == model_slot_counts[slot]);
}

static void select_db(uint32_t db)
{
    store_select(&store, db);
}

/* The name's find in the selected database: the model learns a lazy expiry (hook). */
static struct store_found find(uint32_t index, uint8_t type)
{
    struct store_found found;
    (void)store_find_typed(&store, name_of(index), type, &found);
    CHECK(found.exists == (model_db[index] == (int8_t)store.db_index));
    return found;
}

/* The name free in the selected database for a write of `type`: a key of another type goes
 * (DEL), and a key in the other database too (so the model keeps one place per name). */
static struct store_found prepare(uint32_t index, uint8_t type)
{
    if (model_db[index] != MODEL_ABSENT && model_db[index] != (int8_t)store.db_index) {
        uint32_t selected = store.db_index;
        select_db((uint32_t)model_db[index]);
        struct store_found elsewhere = find(index, STORE_TYPE_ANY);
        if (elsewhere.exists) {
            store_remove(&store, &elsewhere);
            model_drop(index);
        }
        select_db(selected);
    }
    struct store_found found = find(index, STORE_TYPE_ANY);
    if (found.exists && type != STORE_TYPE_ANY && found.type != type) {
        store_remove(&store, &found);
        model_drop(index);
        found = find(index, type);
    }
    return found;
}

static struct slice value_of(uint32_t bytes)
{
    KV_ASSERT(bytes <= sizeof(value_buffer));
    return (struct slice){.bytes = value_buffer, .length = bytes};
}

/* A value size: empty, small (embedded), past a few classes, or a blob of its own. */
static uint32_t value_size(void)
{
    uint32_t pick = random_below(100);
    if (pick < 50) {
        return random_below(24);
    }
    if (pick < 90) {
        return 24 + random_below(400);
    }
    if (pick < 99) {
        return 400 + random_below(4000);
    }
    return 33000 + random_below(10000);
}

static void op_set(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_ANY);
    bool existed = found.exists;
    /* Over any type: a type change replaces the object (store_key_swap). */
    int64_t at_ms = random_below(4) == 0 ? store.now_ms + 1 + random_below(3000) : 0;
    bool keep_ttl = existed && random_below(4) == 0;
    CHECK(store_string_put(&store, &found, name_of(index), value_of(value_size()), at_ms,
                           keep_ttl) == STORE_OK);
    if (existed) {
        model_drop(index);
    }
    model_put(index, (int8_t)store.db_index, STORE_TYPE_STRING);
}

static void op_append(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_STRING);
    bool existed = found.exists;
    uint64_t length = 0;
    uint64_t offset = existed ? store_string_value(&store, found.key_ref).length : 0;
    if (offset > 60000) {
        offset = 0; /* SETRANGE at the start instead */
    }
    CHECK(store_string_splice(&store, &found, name_of(index), offset,
                              value_of(1 + random_below(300)), &length) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_STRING);
    }
}

static void op_push(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_LIST);
    bool existed = found.exists;
    struct slice values[3] = {value_of(random_below(40)), value_of(random_below(300)),
                              value_of(random_below(10))};
    uint32_t length = 0;
    CHECK(store_list_push(&store, &found, name_of(index), values, 1 + random_below(3),
                          random_below(2) == 0, &length) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_LIST);
    }
}

static void op_pop(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_LIST);
    if (!found.exists) {
        return;
    }
    store_list_pop(&store, &found, random_below(2) == 0);
    if (!found.exists) {
        model_drop(index); /* its last element */
    }
}

/* A field or member of a few names, so that deletes meet them. */
static struct slice member_of(char *buffer, uint32_t pick)
{
    int length = snprintf(buffer, 16, "m%u", pick);
    return (struct slice){.bytes = (const uint8_t *)buffer, .length = (uint32_t)length};
}

static void op_hset(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_HASH);
    bool existed = found.exists;
    char field[16];
    struct slice pair[2] = {member_of(field, random_below(6)), value_of(random_below(100))};
    uint32_t added = 0;
    CHECK(store_hash_set(&store, &found, name_of(index), pair, 1, false, &added) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_HASH);
    }
}

static void op_hdel(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_HASH);
    if (!found.exists) {
        return;
    }
    char field[16];
    struct slice fields[1] = {member_of(field, random_below(6))};
    uint32_t removed = 0;
    CHECK(store_hash_delete(&store, &found, fields, 1, &removed) == STORE_OK);
    if (!found.exists) {
        model_drop(index);
    }
}

static void op_sadd(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_SET);
    bool existed = found.exists;
    char member[16];
    struct slice members[1] = {member_of(member, random_below(5))};
    uint32_t added = 0;
    CHECK(store_set_add(&store, &found, name_of(index), members, 1, &added) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_SET);
    }
}

static void op_srem(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_SET);
    if (!found.exists) {
        return;
    }
    char member[16];
    struct slice members[1] = {member_of(member, random_below(5))};
    (void)store_set_remove(&store, &found, members, 1);
    if (!found.exists) {
        model_drop(index);
    }
}

static double score_of(struct slice bytes)
{
    double score = 0;
    memcpy(&score, bytes.bytes, sizeof(score));
    return score;
}

static void op_zadd(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_ZSET);
    bool existed = found.exists;
    char member[16];
    double score = (double)random_below(1000);
    struct slice args[2] = {{.bytes = (const uint8_t *)&score, .length = sizeof(score)},
                            member_of(member, random_below(5))};
    struct store_zset_pairs pairs = {.args = args, .count = 1, .score = score_of};
    struct store_zset_result result;
    CHECK(store_zset_add(&store, &found, name_of(index), 0, &pairs, &result) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_ZSET);
    }
}

static void op_zrem(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_ZSET);
    if (!found.exists) {
        return;
    }
    char member[16];
    struct slice members[1] = {member_of(member, random_below(5))};
    (void)store_zset_remove(&store, &found, members, 1);
    if (!found.exists) {
        model_drop(index);
    }
}

static void op_xadd(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_STREAM);
    bool existed = found.exists;
    char field[16];
    struct slice pair[2] = {member_of(field, random_below(3)), value_of(random_below(50))};
    struct stream_id id = {.ms = ++stream_ms, .seq = 0};
    CHECK(store_stream_add(&store, &found, name_of(index), id, pair, 1) == STORE_OK);
    if (!existed) {
        model_put(index, (int8_t)store.db_index, STORE_TYPE_STREAM);
    }
}

/* EXPIRE in the future (the object grows by the time) or PERSIST (it shrinks), or a time in
 * the past (the key goes). */
static void op_expire(uint32_t index)
{
    struct store_found found = prepare(index, STORE_TYPE_ANY);
    if (!found.exists) {
        return;
    }
    uint32_t pick = random_below(10);
    int64_t at_ms = pick < 5 ? store.now_ms + 1 + random_below(5000) : pick < 9 ? 0
                                                                                 : store.now_ms;
    enum store_status status = store_expire_set(&store, &found, at_ms);
    if (at_ms == store.now_ms) {
        CHECK(status == STORE_NOT_FOUND && !found.exists);
        model_drop(index);
    } else {
        CHECK(status == STORE_OK && found.exists);
    }
}

static void op_del(uint32_t index)
{
    (void)prepare(index, STORE_TYPE_ANY);
    bool present = model_db[index] == (int8_t)store.db_index;
    CHECK(store_delete(&store, name_of(index)) == present);
    if (present) {
        model_drop(index);
    }
}

/* RENAME source to target (absent, or any type, then removed): both slots change. */
static void op_rename(uint32_t source_index, uint32_t target_index)
{
    if (source_index == target_index) {
        return;
    }
    struct store_found source = prepare(source_index, STORE_TYPE_ANY);
    if (!source.exists) {
        return;
    }
    struct store_found target = prepare(target_index, STORE_TYPE_ANY);
    source = find(source_index, STORE_TYPE_ANY); /* the target's find may move things */
    if (!source.exists) {
        return;
    }
    uint8_t type = model_type[source_index];
    CHECK(store_rename(&store, &source, name_of(target_index), &target) == STORE_OK);
    if (model_db[target_index] != MODEL_ABSENT) {
        model_drop(target_index);
    }
    model_drop(source_index);
    model_put(target_index, (int8_t)store.db_index, type);
    check_slot(source_index);
}

/* MOVE to the other of databases 0 and 1. */
static void op_move(uint32_t index)
{
    if (model_db[index] == MODEL_ABSENT || model_db[index] > 1) {
        return;
    }
    uint32_t source_db = (uint32_t)model_db[index];
    uint32_t selected = store.db_index;
    select_db(source_db);
    struct store_found found = find(index, STORE_TYPE_ANY);
    if (found.exists) {
        uint8_t type = model_type[index];
        store_move(&store, &found, 1u - source_db);
        model_drop(index);
        model_put(index, (int8_t)(1u - source_db), type);
    }
    select_db(selected);
}

/* COPY of a string (read, then written at the target as the command does). */
static void op_copy(uint32_t source_index, uint32_t target_index)
{
    if (source_index == target_index) {
        return;
    }
    struct store_found source = prepare(source_index, STORE_TYPE_ANY);
    if (!source.exists || source.type != STORE_TYPE_STRING) {
        return;
    }
    uint32_t length = store_string_value(&store, source.key_ref).length;
    length = length < sizeof(value_buffer) ? length : (uint32_t)sizeof(value_buffer);
    memcpy(value_buffer, store_string_value(&store, source.key_ref).bytes, length);
    struct store_found target = prepare(target_index, STORE_TYPE_ANY);
    bool existed = target.exists;
    CHECK(store_string_put(&store, &target, name_of(target_index), value_of(length), 0,
                           false) == STORE_OK);
    if (existed) {
        model_drop(target_index);
    }
    model_put(target_index, (int8_t)store.db_index, STORE_TYPE_STRING);
}

struct sink {
    uint8_t *bytes;
    uint64_t length;
    uint64_t capacity;
};

static bool sink_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    struct sink *sink = context;
    if (sink->length + length > sink->capacity) {
        sink->capacity = (sink->length + length) * 2u;
        sink->bytes = realloc(sink->bytes, sink->capacity);
        KV_ASSERT(sink->bytes != NULL);
    }
    memcpy(sink->bytes + sink->length, bytes, length);
    sink->length += length;
    return true;
}

/* DUMP source, then RESTORE the payload into target (removed first, as RESTORE REPLACE). */
static void op_restore(uint32_t source_index, uint32_t target_index)
{
    if (source_index == target_index) {
        return;
    }
    struct store_found source = prepare(source_index, STORE_TYPE_ANY);
    if (!source.exists) {
        return;
    }
    struct sink sink = {0};
    uint8_t buffer[256];
    struct rdb_writer writer;
    rdb_writer_init(&writer, buffer, sizeof(buffer), sink_flush, &sink, &heap, NULL);
    CHECK(rdb_write_dump(&writer, &store, source.key_ref));
    CHECK(rdb_writer_finish(&writer));
    uint8_t type = model_type[source_index];
    struct store_found target = prepare(target_index, STORE_TYPE_ANY);
    if (target.exists) {
        store_remove(&store, &target);
        model_drop(target_index);
    }
    enum store_status status = STORE_OK;
    CHECK(rdb_read_dump(&store, sink.bytes, sink.length, name_of(target_index), &status) ==
          RDB_OK);
    model_put(target_index, (int8_t)store.db_index, type);
    free(sink.bytes);
}

/* Time passes: keys past their time go by active expiry (a slice) and lazily (a find). */
static void op_time(uint32_t index)
{
    if (clock_frozen) {
        op_set(index);
        return;
    }
    store_clock(&store, store.now_ms + 1 + random_below(50));
    (void)store_expire_slice(&store, 1 + random_below(30));
    if (model_db[index] != MODEL_ABSENT && model_db[index] <= 1) {
        uint32_t selected = store.db_index;
        select_db((uint32_t)model_db[index]);
        (void)find(index, STORE_TYPE_ANY);
        select_db(selected);
    }
}

static void model_swap(void)
{
    for (uint32_t index = 0; index < name_count; index++) {
        int8_t db = model_db[index];
        if (db == 0 || db == 1) {
            uint8_t type = model_type[index];
            model_drop(index);
            model_put(index, (int8_t)(1 - db), type);
        }
    }
}

static void model_flush(int8_t db)
{
    for (uint32_t index = 0; index < name_count; index++) {
        if (db < 0 ? model_db[index] != MODEL_ABSENT : model_db[index] == db) {
            model_drop(index);
        }
    }
}

/* One random step; `rare` scales the whole-database operations (SWAPDB, flushes) down (0:
 * none). */
static void step(uint32_t rare)
{
    uint32_t index = random_below(name_count);
    uint32_t other = random_below(4) == 0 ? random_below(name_count)
                                           : (index / 8u) * 8u + random_below(8);
    other = other < name_count ? other : index;
    select_db(random_below(8) == 0 ? 1u : 0u);
    if (snapshot_running()) {
        /* As the command layer does before a write: a type may call the touched hook in
         * the middle of its change, so a running walk writes the keys' buckets first. */
        snapshot_key_ahead(&store, name_of(index));
        snapshot_key_ahead(&store, name_of(other));
    }
    uint32_t pick = random_below(100);
    if (pick < 20) {
        op_set(index);
    } else if (pick < 25) {
        op_append(index);
    } else if (pick < 31) {
        op_push(index);
    } else if (pick < 34) {
        op_pop(index);
    } else if (pick < 40) {
        op_hset(index);
    } else if (pick < 43) {
        op_hdel(index);
    } else if (pick < 49) {
        op_sadd(index);
    } else if (pick < 52) {
        op_srem(index);
    } else if (pick < 58) {
        op_zadd(index);
    } else if (pick < 61) {
        op_zrem(index);
    } else if (pick < 64) {
        op_xadd(index);
    } else if (pick < 72) {
        op_expire(index);
    } else if (pick < 76) {
        op_del(index);
    } else if (pick < 82) {
        op_rename(index, other);
    } else if (pick < 86) {
        op_move(index);
    } else if (pick < 89) {
        op_copy(index, other);
    } else if (pick < 91) {
        op_restore(index, other);
    } else if (pick < 99) {
        op_time(index);
    } else if (rare == 0) {
        op_time(index);
    } else {
        uint32_t whole = random_below(rare);
        if (whole == 0) {
            store_swap(&store, 0, 1);
            model_swap();
        } else if (whole == 1) {
            store_flush(&store);
            model_flush((int8_t)store.db_index);
        } else if (whole == 2 && random_below(4) == 0) {
            store_flush_all(&store);
            model_flush(-1);
        } else {
            op_time(index);
        }
    }
    check_slot(index);
    check_slot(other);
    select_db(0);
}

static void check_all_counts_zero(void)
{
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        CHECK(store_slot_key_count(&store, slot) == 0);
        CHECK(store_slot_keys(&store, slot, NAME_COUNT, listed) == 0);
    }
}

/* Every key past its time removed now (finds), as a save would skip them. */
static void expire_all_due(void)
{
    for (uint32_t index = 0; index < name_count; index++) {
        if (model_db[index] != MODEL_ABSENT) {
            select_db((uint32_t)model_db[index]);
            (void)find(index, STORE_TYPE_ANY);
        }
    }
    select_db(0);
}

struct source {
    const uint8_t *bytes;
    uint64_t length;
    uint64_t offset;
};

static int64_t source_fill(void *context, uint8_t *bytes, uint64_t capacity)
{
    struct source *source = context;
    uint64_t left = source->length - source->offset;
    uint64_t step = left < capacity ? left : capacity;
    memcpy(bytes, source->bytes + source->offset, step);
    source->offset += step;
    return (int64_t)step;
}

/* SAVE of every database, FLUSHALL, then the startup load: the index is rebuilt key by key
 * as the loader creates them. */
static void save_and_load(void)
{
    expire_all_due();
    struct sink sink = {0};
    uint8_t buffer[4096];
    struct rdb_writer writer;
    rdb_writer_init(&writer, buffer, sizeof(buffer), sink_flush, &sink, &heap, NULL);
    rdb_write_header(&writer, store.now_ms, heap.used_bytes);
    for (uint32_t db = 0; db < 2; db++) {
        select_db(db);
        if (store_key_count(&store) == 0) {
            continue;
        }
        rdb_write_db_start(&writer, db, store_key_count(&store), store_expires_count(&store));
        struct dict_walk walk;
        uint32_t key_ref = 0;
        store_walk_start(&store, &walk);
        while (store_walk_next(&store, &walk, &key_ref)) {
            CHECK(rdb_write_key(&writer, &store, key_ref));
        }
    }
    rdb_write_end(&writer);
    CHECK(rdb_writer_finish(&writer));
    select_db(0);
    uint64_t db0 = model_db0_count;
    store.event = NULL;
    store_flush_all(&store);
    store.event = on_event;
    CHECK(store_slot_key_count(&store, name_slots[0]) == 0);
    check_all_counts_zero();
    static uint8_t read_buffer[1u << 16];
    struct source source = {.bytes = sink.bytes, .length = sink.length};
    struct rdb_reader reader;
    rdb_reader_init_stream(&reader, read_buffer, sizeof(read_buffer), source_fill, &source,
                           &heap);
    struct rdb_load_result result;
    CHECK(rdb_load(&reader, &store, &result) == RDB_OK);
    CHECK(result.keys_expired == 0 && result.keys_skipped == 0);
    select_db(0);
    CHECK(model_db0_count == db0);
    free(sink.bytes);
    check_all();
}

/* The listing's order: newest first, kept while keys change in place or get new objects
 * (a larger value, an expiry time added and taken away, a type change); a partial listing
 * is its prefix; a renamed key goes first in its new slot. */
static void test_order(void)
{
    setup(64u << 20, CONFIG_POLICY_NOEVICTION, true);
    names_make(1000, 1);
    select_db(0);
    /* Every tagged name shares {t0}'s slot. */
    uint32_t slot = name_slots[1];
    for (uint32_t index = 1; index < 40; index++) {
        if (index == 2) {
            op_push(index); /* a list, for a type change below */
        } else if (index % 4u != 0) {
            op_set(index);
        }
    }
    check_all();
    uint32_t count = store_slot_keys(&store, slot, NAME_COUNT, listed);
    CHECK(count == 30 && count == store_slot_key_count(&store, slot));
    static uint32_t before[64];
    static char before_names[64][NAME_BYTES];
    for (uint32_t at = 0; at < count; at++) {
        uint32_t index = index_of(store_key_name(store_key(&store, listed[at])));
        memcpy(before_names[at], names[index], NAME_BYTES);
        before[at] = index;
    }
    /* Newest first: the last name set is first. */
    CHECK(before[0] == 39 && before[count - 1] == 1);
    /* Changes in place or into new objects. */
    for (uint32_t round = 0; round < 200; round++) {
        uint32_t index = before[random_below(count)];
        if (model_type[index] != STORE_TYPE_STRING) {
            continue;
        }
        struct store_found found = find(index, STORE_TYPE_ANY);
        CHECK(found.exists);
        uint32_t kind = random_below(5);
        if (kind == 0) {
            CHECK(store_string_put(&store, &found, name_of(index), value_of(value_size()), 0,
                                   false) == STORE_OK);
        } else if (kind == 1) {
            uint64_t length = 0;
            CHECK(store_string_splice(&store, &found, name_of(index), 0, value_of(200), &length) ==
                  STORE_OK);
        } else if (kind == 2) {
            CHECK(store_expire_set(&store, &found, store.now_ms + 100000) == STORE_OK);
        } else if (kind == 3) {
            CHECK(store_expire_set(&store, &found, 0) == STORE_OK);
        } else {
            CHECK(store_string_put(&store, &found, name_of(index), value_of(40000), 0, false) ==
                  STORE_OK);
        }
    }
    check_all();
    CHECK(store_slot_keys(&store, slot, NAME_COUNT, listed) == count);
    for (uint32_t at = 0; at < count; at++) {
        CHECK(index_of(store_key_name(store_key(&store, listed[at]))) == before[at]);
    }
    /* SET over the list: a type change, in the list's place. */
    struct store_found found = find(2, STORE_TYPE_ANY);
    CHECK(found.exists && found.type == STORE_TYPE_LIST);
    CHECK(before[count - 2] == 2);
    CHECK(store_string_put(&store, &found, name_of(2), value_of(5), 0, false) == STORE_OK);
    model_type[2] = STORE_TYPE_STRING;
    CHECK(store_slot_keys(&store, slot, NAME_COUNT, listed) == count);
    for (uint32_t at = 0; at < count; at++) {
        CHECK(index_of(store_key_name(store_key(&store, listed[at]))) == before[at]);
    }
    /* DEL from the middle. */
    found = find(before[5], STORE_TYPE_ANY);
    store_remove(&store, &found);
    model_drop(before[5]);
    /* A prefix. */
    static uint32_t prefix[8];
    CHECK(store_slot_keys(&store, slot, 8, prefix) == 8);
    CHECK(store_slot_keys(&store, slot, NAME_COUNT, listed) == count - 1);
    CHECK(memcmp(prefix, listed, sizeof(prefix)) == 0);
    CHECK(store_slot_keys(&store, slot, 0, prefix) == 0);
    /* The removed key is gone from the middle, the rest in order. */
    uint32_t at_listed = 0;
    for (uint32_t at = 0; at < count; at++) {
        if (at == 5) {
            continue;
        }
        CHECK(index_of(store_key_name(store_key(&store, listed[at_listed]))) == before[at]);
        at_listed++;
    }
    /* RENAME to a plain name: out of this slot, first in its own. */
    op_rename(before[0], 4);
    CHECK(store_slot_key_count(&store, slot) == count - 2);
    CHECK(store_slot_keys(&store, name_slots[4], 1, prefix) == 1);
    CHECK(index_of(store_key_name(store_key(&store, prefix[0]))) == 4);
    check_all();
    /* An empty slot lists nothing. */
    uint32_t empty = (name_slots[4] + 1u) % KEYSLOT_COUNT;
    CHECK(store_slot_key_count(&store, empty) == model_slot_counts[empty]);
    store_flush_all(&store);
    model_flush(-1);
    check_all_counts_zero();
    check_all();
}

/* A few thousand names over few tags, every kind of step, store_verify after each of the
 * first 3,000 and every tenth after. */
static void test_small_churn(void)
{
    setup(64u << 20, CONFIG_POLICY_NOEVICTION, true);
    names_make(3000, 40);
    for (uint32_t round = 0; round < 15000; round++) {
        step(10);
        /* Every step at first, then every tenth: a full check walks all 16,384 slots, and
         * 15,000 of them were most of CI's sanitizer time for this test (73 s). */
        if (round < 3000 || round % 10u == 0) {
            check_all();
        }
    }
    save_and_load();
    store_flush_all(&store);
    model_flush(-1);
    check_all();
}

/* More than 100,000 keys at once: fill, churn, SWAPDB both ways at that size, save and load. */
static void test_large_churn(void)
{
    setup(512u << 20, CONFIG_POLICY_NOEVICTION, true);
    names_make(NAME_COUNT, 3000);
    select_db(0);
    /* Bounded by the names: each absent one is given a key. */
    for (uint32_t index = 0; index < NAME_COUNT && model_db0_count < 120000; index++) {
        uint32_t pick = random_below(6);
        if (pick == 0) {
            op_push(index);
        } else if (pick == 1) {
            op_hset(index);
        } else if (pick == 2) {
            op_sadd(index);
        } else if (pick == 3) {
            op_zadd(index);
        } else {
            op_set(index);
        }
        check_slot(index);
        if (index % 20000u == 0) {
            check_all();
        }
    }
    check_all();
    CHECK(model_db0_count >= 100000);
    printf("large churn: %" PRIu64 " keys in database 0, heap %" PRIu64 " bytes used\n",
           model_db0_count, heap.used_bytes);
    save_and_load(); /* the startup load of more than 100,000 keys */
    CHECK(model_db0_count >= 100000);
    uint64_t peak = model_db0_count;
    for (uint32_t round = 0; round < 150000; round++) {
        step(0);
        if (round % 5000u == 0) {
            check_all();
        }
        if (round == 75000) {
            store_swap(&store, 0, 1);
            model_swap();
            check_all();
            store_swap(&store, 1, 0);
            model_swap();
            check_all();
        }
        peak = model_db0_count > peak ? model_db0_count : peak;
    }
    check_all();
    CHECK(peak >= 100000);
    save_and_load();
    printf("large churn: %" PRIu64 " keys at most, %" PRIu64 " after the load\n", peak,
           model_db0_count);
    store_flush_all(&store);
    model_flush(-1);
    check_all_counts_zero();
    check_all();
}

/* An eviction phase's write: SET or RPUSH, which a full heap may refuse (STORE_OOM, nothing
 * changed) although eviction made the bytes, when partly filled spans hold the pages: then it
 * evicts more and runs again, as the command path does. */
static void evicting_write(uint32_t index, bool list)
{
    /* Bounded: each try asks for more room. */
    for (uint32_t tries = 1; tries <= 20; tries++) {
        enum evict_result room = EVICT_RUNNING;
        /* Bounded: a pass that runs out of time goes on in the next one. */
        for (uint32_t pass = 0; pass < 1000 && room == EVICT_RUNNING; pass++) {
            room = evict_room(&evict, 64000ull * tries * tries);
        }
        CHECK(room == EVICT_OK);
        struct store_found found = prepare(index, list ? STORE_TYPE_LIST : STORE_TYPE_ANY);
        bool existed = found.exists;
        uint64_t slot_count = store_slot_key_count(&store, name_slots[index]);
        enum store_status status;
        if (list) {
            struct slice values[2] = {value_of(random_below(300)), value_of(random_below(30))};
            uint32_t length = 0;
            status = store_list_push(&store, &found, name_of(index), values, 2, false, &length);
        } else {
            status = store_string_put(&store, &found, name_of(index), value_of(value_size()), 0,
                                      false);
        }
        if (status == STORE_OK) {
            if (existed && !list) {
                model_drop(index);
            }
            if (!existed || !list) {
                model_put(index, (int8_t)store.db_index, list ? STORE_TYPE_LIST
                                                              : STORE_TYPE_STRING);
            }
            return;
        }
        CHECK(status == STORE_OOM);
        CHECK(store_slot_key_count(&store, name_slots[index]) == slot_count);
    }
    CHECK(false); /* twenty tries */
}

/* allkeys-random: each write first makes room, evicting keys of databases 0 and 1. */
static void test_eviction(void)
{
    setup(16u << 20, CONFIG_POLICY_ALLKEYS_RANDOM, true);
    names_make(NAME_COUNT, 500);
    for (uint32_t round = 0; round < 60000; round++) {
        uint32_t index = random_below(name_count);
        select_db(random_below(8) == 0 ? 1u : 0u);
        uint32_t pick = random_below(4);
        if (pick == 0) {
            evicting_write(index, true);
        } else if (pick == 1) {
            op_del(index);
        } else {
            evicting_write(index, false);
        }
        check_slot(index);
        select_db(0);
        if (round % 2000u == 0) {
            check_all();
            evict_verify(&evict);
        }
    }
    check_all();
    CHECK(evict.evicted_keys > 1000);
    printf("eviction: %" PRIu64 " keys evicted, %" PRIu64 " in database 0\n", evict.evicted_keys,
           model_db0_count);
}

/* A full heap: a new key (its trailer in its object) is refused whole, and a RENAME or an
 * EXPIRE that needs a larger object too; the index is as before. */
static void test_oom(void)
{
    setup(4u << 20, CONFIG_POLICY_NOEVICTION, true);
    names_make(NAME_COUNT, 100);
    select_db(0);
    uint32_t index = 0;
    uint32_t refused = 0;
    /* Bounded by the names. */
    for (; index < NAME_COUNT && refused < 50; index++) {
        struct store_found found = find(index, STORE_TYPE_ANY);
        uint64_t slot_count = store_slot_key_count(&store, name_slots[index]);
        enum store_status status;
        if (index % 3u == 0) {
            struct slice values[1] = {value_of(100)};
            uint32_t length = 0;
            status = store_list_push(&store, &found, name_of(index), values, 1, false, &length);
        } else {
            status = store_string_put(&store, &found, name_of(index), value_of(100 + index % 50),
                                      0, false);
        }
        if (status == STORE_OK) {
            model_put(index, 0, index % 3u == 0 ? STORE_TYPE_LIST : STORE_TYPE_STRING);
            continue;
        }
        CHECK(status == STORE_OOM);
        CHECK(store_slot_key_count(&store, name_slots[index]) == slot_count);
        refused++;
        /* An EXPIRE on a key that has none needs a larger object. */
        struct store_found old = find(index - 1u - refused, STORE_TYPE_ANY);
        if (old.exists && store_key_expire(store_key(&store, old.key_ref)) == 0) {
            enum store_status expired = store_expire_set(&store, &old, store.now_ms + 99999);
            CHECK(expired == STORE_OK || expired == STORE_OOM);
        }
    }
    CHECK(refused == 50);
    check_all();
    printf("oom: %" PRIu64 " keys, then %u refused\n", model_db0_count, refused);
    /* Room again: the refused names fit now. */
    for (uint32_t drop = 0; drop < 2000 && drop < index; drop++) {
        if (model_db[drop] == 0) {
            CHECK(store_delete(&store, name_of(drop)));
            model_drop(drop);
        }
    }
    struct store_found found = find(index - 1, STORE_TYPE_ANY);
    CHECK(store_string_put(&store, &found, name_of(index - 1), value_of(100), 0, false) ==
          STORE_OK);
    model_put(index - 1, 0, STORE_TYPE_STRING);
    check_all();
}

/* Without store_slots_enable nothing changes: no table, no trailer. With it, the bytes per
 * key, measured. */
static void test_memory(void)
{
    uint64_t used[2] = {0};
    uint64_t bases[2] = {0};
    for (uint32_t cluster = 0; cluster < 2; cluster++) {
        setup(64u << 20, CONFIG_POLICY_NOEVICTION, cluster == 1);
        names_make(20000, 100);
        CHECK(store_slots_enabled(&store) == (cluster == 1));
        CHECK(store.slot_trailer_bytes == (cluster == 1 ? STORE_SLOT_TRAILER_BYTES : 0u));
        uint64_t base = heap.used_bytes;
        bases[cluster] = base;
        select_db(0);
        for (uint32_t index = 0; index < name_count; index++) {
            struct store_found found = find(index, STORE_TYPE_ANY);
            CHECK(store_string_put(&store, &found, name_of(index), value_of(8), 0, false) ==
                  STORE_OK);
            model_put(index, 0, STORE_TYPE_STRING);
        }
        used[cluster] = heap.used_bytes - base;
        if (cluster == 1) {
            check_all();
        } else {
            CHECK(store_verify(&store) == heap.allocations);
        }
    }
    double per_key = (double)(used[1] - used[0]) / 20000.0;
    printf("memory: 20000 keys of 8-byte strings: %.2f bytes per key more in cluster mode "
           "(%" PRIu64 " vs %" PRIu64 " bytes), slot table %" PRIu64 " bytes\n",
           per_key, used[1], used[0], heap_rounded_bytes(KEYSLOT_COUNT * 8u));
    CHECK(used[1] > used[0] && per_key <= 8.0 + 0.01);
    CHECK(bases[1] - bases[0] == heap_rounded_bytes(KEYSLOT_COUNT * 8u));
}

/* A snapshot's file in memory: writes land at their offsets, completions queue in order. */
struct memory_sink {
    struct sink file;
    uint32_t tags[16];       /* completions not reaped yet, oldest first */
    int results[16];
    uint32_t count;
    bool done;
    int status;
};

static struct memory_sink memory_sink;

static void sink_complete(uint32_t tag, int result)
{
    KV_ASSERT(memory_sink.count < 16);
    memory_sink.tags[memory_sink.count] = tag;
    memory_sink.results[memory_sink.count] = result;
    memory_sink.count++;
}

static int sink_write(void *context, const uint8_t *bytes, uint32_t length, uint64_t offset,
                      uint32_t tag)
{
    (void)context;
    struct sink *file = &memory_sink.file;
    if (offset + length > file->capacity) {
        file->capacity = (offset + length) * 2u;
        file->bytes = realloc(file->bytes, file->capacity);
        KV_ASSERT(file->bytes != NULL);
    }
    memcpy(file->bytes + offset, bytes, length);
    file->length = offset + length > file->length ? offset + length : file->length;
    sink_complete(tag, (int)length);
    return 0;
}

static int sink_sync(void *context)
{
    (void)context;
    sink_complete(SNAPSHOT_TAG_SYNC, 0);
    return 0;
}

static bool sink_reap(void *context, bool wait, uint32_t *tag, int *result)
{
    (void)context;
    (void)wait;
    if (memory_sink.count == 0) {
        return false;
    }
    *tag = memory_sink.tags[0];
    *result = memory_sink.results[0];
    memory_sink.count--;
    memmove(memory_sink.tags, memory_sink.tags + 1, memory_sink.count * sizeof(uint32_t));
    memmove(memory_sink.results, memory_sink.results + 1, memory_sink.count * sizeof(int));
    return true;
}

static void sink_done(void *context, int status)
{
    (void)context;
    memory_sink.done = true;
    memory_sink.status = status;
}

/* Forkless BGSAVE in cluster mode: writes of every kind (but time and the whole-database
 * ones) run while the walk goes on; the index stays exact, and the image, loaded into the
 * emptied store, is the dataset of the snapshot point, its index rebuilt as it loads. Last:
 * the snapshot's state is the process's own (snapshot_init once). */
static void test_snapshot(void)
{
    setup_region(256u << 20, snapshot_plan_bytes() + 4096);
    setup_modules(256u << 20, CONFIG_POLICY_NOEVICTION, true);
    snapshot_init(&region);
    snapshot_attach(&store);
    names_make(40000, 400);
    for (uint32_t round = 0; round < 60000; round++) {
        step(0);
    }
    expire_all_due();
    check_all();
    static int8_t saved_db[NAME_COUNT];
    static uint8_t saved_type[NAME_COUNT];
    static uint32_t saved_slot_counts[KEYSLOT_COUNT];
    memcpy(saved_db, model_db, sizeof(saved_db));
    memcpy(saved_type, model_type, sizeof(saved_type));
    memcpy(saved_slot_counts, model_slot_counts, sizeof(saved_slot_counts));
    uint64_t saved_db0_count = model_db0_count;
    clock_frozen = true;
    const struct snapshot_sink sink = {.write = sink_write, .sync = sink_sync,
                                       .reap = sink_reap, .done = sink_done};
    CHECK(snapshot_start(&store, &sink, store.now_ms) == 0);
    uint32_t rounds = 0;
    /* Bounded: every 200 writes a slice walks on. */
    for (; snapshot_running() && rounds < 10000000; rounds++) {
        step(0);
        if (rounds % 200u == 0) {
            (void)snapshot_step();
        }
        if (rounds % 2000u == 0) {
            check_all();
        }
    }
    CHECK(!snapshot_running() && memory_sink.done && memory_sink.status == 0);
    check_all();
    printf("snapshot: %" PRIu64 " keys of database 0 at its point, %u writes during the walk, "
           "%" PRIu64 " keys written early\n",
           saved_db0_count, rounds, snapshot_progress()->keys_early);
    /* The image, loaded into the emptied store at the snapshot point's time. */
    store_flush_all(&store);
    memcpy(model_db, saved_db, sizeof(saved_db));
    memcpy(model_type, saved_type, sizeof(saved_type));
    memcpy(model_slot_counts, saved_slot_counts, sizeof(saved_slot_counts));
    model_db0_count = saved_db0_count;
    struct rdb_reader reader;
    rdb_reader_init_memory(&reader, memory_sink.file.bytes, memory_sink.file.length, &heap);
    struct rdb_load_result result;
    CHECK(rdb_load(&reader, &store, &result) == RDB_OK);
    CHECK(result.keys_expired == 0 && result.keys_skipped == 0);
    select_db(0);
    check_all();
    free(memory_sink.file.bytes);
    clock_frozen = false;
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %" PRIu64 " (KV_SEED replays it)\n", seed);
    seed_state = seed | 1u;
    test_memory();
    test_order();
    test_oom();
    test_small_churn();
    test_eviction();
    test_large_churn();
    test_snapshot();
    return check_exit("test_store_slots");
}
