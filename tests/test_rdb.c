/*
 * Proves the RDB serializer and loader (src/rdb.c) on a real heap and store. A dataset of
 * every type in every encoding kv keeps (strings that are int32s, longer numbers, short
 * text, compressible and incompressible long text, a 300 KB value; lists of one node, many
 * nodes and a 20 KB element; intset, pack and table sets; listpack and table hashes;
 * listpack and tree sorted sets with infinite and negative scores; keys with expiry times)
 * goes through a whole file and back, through a streaming reader whose 4 KiB buffer is filled
 * in random chunk sizes (so compaction, kept batches and heap-copied strings all run): every
 * key reads back with the same type, contents and expiry time, store_verify passes, and the
 * heap holds no scratch afterwards. Each key also goes through DUMP's payload (footer,
 * version, checksum) and RESTORE's load. A flipped bit in a file fails its checksum. A seeded
 * corruption loop (KV_SEED replays it) flips, inserts and truncates bytes of payloads (with
 * the checksum fixed so the value parser sees them) and of files: the loader answers OK or
 * an error, never crashes, leaves no partial key, and the store stays valid. A function
 * library in a file is skipped and counted; a later Redis's stream type is refused as unsupported.
 * Streams past each of rdb_key_parted's rules (nodes, node bytes, groups, PEL entries; one with
 * no entry left but a PEL) and two below them: written in parts at random budgets they make
 * the whole write's bytes, and load back (through the 4 KiB buffer, PELs larger than it) with
 * the same entries, metadata, groups, PELs and consumers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "crc64.h"
#include "fixture.h"
#include "heap.h"
#include "lzf.h"
#include "number.h"
#include "rdb.h"
#include "region.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

#define HEAP_BYTES (96u * 1024u * 1024u)

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;
static uint32_t lzf_table[LZF_TABLE_BYTES / sizeof(uint32_t)];

static void setup(void)
{
    char error[256];
    if (region_map(&region, heap_plan_bytes(HEAP_BYTES) + 8192, CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        exit(SKIP_CODE);
    }
    heap_init(&heap, &region, HEAP_BYTES);
    fixture_caps_none(&store_config);
    store_init(&store, &heap, &store_config, 777);
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_stream_init(&store);
    store_clock(&store, 1700000000000);
}

/* ---- The dataset ---- */

static void put_string(const char *key, struct slice value)
{
    enum store_status status = store_string_set(&store, text(key), value);
    CHECK(status == STORE_OK);
}

static void push(const char *key, struct slice value)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_LIST, &found);
    uint32_t length = 0;
    CHECK(store_list_push(&store, &found, text(key), &value, 1, false, &length) == STORE_OK);
}

static void set_add(const char *key, struct slice member)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_SET, &found);
    uint32_t added = 0;
    CHECK(store_set_add(&store, &found, text(key), &member, 1, &added) == STORE_OK);
}

static void hash_set(const char *key, struct slice field, struct slice value)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_HASH, &found);
    struct slice pair[2] = {field, value};
    uint32_t added = 0;
    CHECK(store_hash_set(&store, &found, text(key), pair, 1, false, &added) == STORE_OK);
}

static double score_bytes(struct slice bytes)
{
    double score = 0;
    memcpy(&score, bytes.bytes, sizeof(score));
    return score;
}

static void zadd(const char *key, double score, struct slice member)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_ZSET, &found);
    struct slice args[2] = {{.bytes = (const uint8_t *)&score, .length = sizeof(score)}, member};
    struct store_zset_pairs pairs = {.args = args, .count = 1, .score = score_bytes};
    struct store_zset_result result;
    CHECK(store_zset_add(&store, &found, text(key), 0, &pairs, &result) == STORE_OK);
}

static void expire(const char *key, int64_t at_ms)
{
    struct store_found found;
    CHECK(store_find_typed(&store, text(key), STORE_TYPE_ANY, &found) == STORE_OK);
    CHECK(store_expire_set(&store, &found, at_ms) == STORE_OK);
}

static char big[300000];

static void dataset(void)
{
    char name[64];
    char value[128];
    put_string("int8", text("12"));
    put_string("int16", text("-3000"));
    put_string("int32", text("2000000000"));
    put_string("int64", text("9000000000000"));
    put_string("leading0", text("0123"));
    put_string("short", text("hello"));
    put_string("empty", text(""));
    put_string("zip", text("abcabcabcabcabcabcabcabcabcabcabcabcabcabc"));
    for (uint32_t index = 0; index < sizeof(big); index++) {
        big[index] = (char)(index % 7 == 0 ? random_next() : 'a' + index % 13);
    }
    put_string("big", (struct slice){.bytes = (const uint8_t *)big, .length = sizeof(big)});
    push("list_small", text("a"));
    push("list_small", text("-5000"));
    push("list_small", text("70000"));
    for (uint32_t index = 0; index < 3000; index++) {
        snprintf(value, sizeof(value), "element-%u", index);
        push("list_big", text(value));
    }
    push("list_wide", (struct slice){.bytes = (const uint8_t *)big, .length = 20000});
    push("list_wide", text("after"));
    for (int64_t index = -3; index < 40; index++) {
        snprintf(value, sizeof(value), "%lld", (long long)(index * 1000003));
        set_add("set_intset", text(value));
    }
    set_add("set_intset_wide", text("5000000000"));
    set_add("set_intset_wide", text("-1"));
    set_add("set_pack", text("x"));
    set_add("set_pack", text("y"));
    for (uint32_t index = 0; index < 300; index++) {
        snprintf(value, sizeof(value), "member:%u", index);
        set_add("set_table", text(value));
    }
    hash_set("hash_pack", text("f1"), text("v1"));
    hash_set("hash_pack", text("n"), text("-4097"));
    for (uint32_t index = 0; index < 600; index++) {
        snprintf(name, sizeof(name), "field%u", index);
        snprintf(value, sizeof(value), "value%u", index * 7);
        hash_set("hash_table", text(name), text(value));
    }
    hash_set("hash_long", text("f"), (struct slice){.bytes = (const uint8_t *)big, .length = 900});
    zadd("zset_pack", 1, text("a"));
    zadd("zset_pack", 2.5, text("b"));
    zadd("zset_pack", -__builtin_inf(), text("c"));
    zadd("zset_pack", 1e300, text("d"));
    zadd("zset_pack", -0.125, text("e"));
    for (uint32_t index = 0; index < 500; index++) {
        snprintf(value, sizeof(value), "m%u", index);
        zadd("zset_tree", (double)index / 3.0, text(value));
    }
    zadd("zset_tree", __builtin_inf(), text("top"));
    expire("short", 1700000500000);
    expire("list_big", 1800000000000);
    expire("zset_tree", 1700000000001);
}

/* ---- A key's contents as one hash, to compare across a round trip ---- */

struct digest {
    uint64_t crc;
    uint64_t count;
    uint64_t sum;     /* order-free: sets' and hashes' entries in any order */
};

static void digest_add(struct digest *digest, struct slice bytes, bool ordered)
{
    uint64_t one = crc64(0x9e37u, bytes.bytes, bytes.length) + bytes.length;
    if (ordered) {
        digest->crc = crc64(digest->crc, (const uint8_t *)&one, sizeof(one));
    } else {
        digest->sum += one * 0x9e3779b97f4a7c15ull;
    }
    digest->count++;
}

static void digest_pair(void *context, struct slice field, struct slice value)
{
    uint8_t joined[4096];
    uint64_t length = field.length + value.length + 1u;
    if (length > sizeof(joined)) {
        digest_add(context, field, false);
        digest_add(context, value, false);
        return;
    }
    memcpy(joined, field.bytes, field.length);
    joined[field.length] = 0;
    memcpy(joined + field.length + 1, value.bytes, value.length);
    digest_add(context, (struct slice){.bytes = joined, .length = length}, false);
}

static struct digest key_digest(struct slice name)
{
    struct digest digest = {0};
    uint32_t key_ref = 0;
    if (!store_find(&store, name, &key_ref)) {
        return digest;
    }
    const struct store_key *key = store_key(&store, key_ref);
    uint8_t type = store_key_type(key);
    int64_t expire_ms = store_key_expire(key);
    digest.crc = crc64(type, (const uint8_t *)&expire_ms, sizeof(expire_ms));
    if (type == STORE_TYPE_STRING) {
        digest_add(&digest, store_string_value(&store, key_ref), true);
    } else if (type == STORE_TYPE_LIST) {
        struct store_list_cursor cursor;
        uint32_t length = store_list_length(&store, key_ref);
        store_list_seek(&store, key_ref, 0, &cursor);
        for (uint32_t index = 0; index < length; index++) {
            digest_add(&digest, store_list_value(&store, &cursor), true);
            (void)store_list_next(&store, &cursor);
        }
    } else if (type == STORE_TYPE_SET) {
        struct store_set_cursor cursor;
        struct slice member;
        store_set_cursor_start(&store, key_ref, &cursor);
        while (store_set_cursor_next(&store, &cursor, &member)) {
            digest_add(&digest, member, false);
        }
    } else if (type == STORE_TYPE_HASH) {
        store_hash_each(&store, key_ref, digest_pair, &digest);
    } else if (type == STORE_TYPE_ZSET) {
        struct store_zset_walk walk;
        struct slice member;
        double score = 0;
        store_zset_walk_start(&store, key_ref, 0, false, &walk);
        while (store_zset_walk_next(&walk, &member, &score)) {
            digest_add(&digest, member, true);
            digest_add(&digest, (struct slice){.bytes = (const uint8_t *)&score, .length = 8},
                       true);
        }
    }
    return digest;
}

static bool digest_equal(struct digest a, struct digest b)
{
    return a.crc == b.crc && a.count == b.count && a.sum == b.sum;
}

/* ---- Files in memory ---- */

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
    }
    memcpy(sink->bytes + sink->length, bytes, length);
    sink->length += length;
    return true;
}

/* The file as the snapshot writes it: with `parted`, each key rdb_key_parted names in parts
 * of a random budget (1 to 3000 bytes, so every list node, element and string boundary falls
 * inside a call somewhere), the others whole; without, every key whole. */
static struct sink save_keys(bool parted, uint64_t *parted_count)
{
    struct sink sink = {0};
    uint8_t buffer[256];
    struct rdb_writer writer;
    rdb_writer_init(&writer, buffer, sizeof(buffer), sink_flush, &sink, &heap, lzf_table);
    rdb_write_header(&writer, store.now_ms, heap.used_bytes);
    rdb_write_db_start(&writer, 0, store_key_count(&store), store_expires_count(&store));
    struct dict_walk walk;
    uint32_t key_ref = 0;
    *parted_count = 0;
    store_walk_start(&store, &walk);
    while (store_walk_next(&store, &walk, &key_ref)) {
        if (!parted || !rdb_key_parted(&store, key_ref)) {
            CHECK(rdb_write_key(&writer, &store, key_ref));
            continue;
        }
        struct rdb_part part;
        rdb_write_key_open(&writer, &store, key_ref, &part);
        uint64_t calls = 0;
        /* Bounded: every call but a list's measure end writes at least one byte. */
        while (!rdb_write_key_part(&writer, &store, &part, 1u + random_next() % 3000u)) {
            calls++;
            KV_ASSERT(calls < 100000000u);
        }
        CHECK(part.kind == RDB_PART_DONE && part.scratch == NULL);
        (*parted_count)++;
    }
    rdb_write_end(&writer);
    CHECK(rdb_writer_finish(&writer));
    CHECK(writer.total_bytes == sink.length);
    return sink;
}

/* Every key whole, as SAVE writes them. */
static struct sink save_all(void)
{
    uint64_t parted_count = 0;
    return save_keys(false, &parted_count);
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
    uint64_t step = 1u + random_next() % 3000u;
    step = step < capacity ? step : capacity;
    step = step < left ? step : left;
    memcpy(bytes, source->bytes + source->offset, step);
    source->offset += step;
    return (int64_t)step;
}

static enum rdb_status load_all(const uint8_t *bytes, uint64_t length,
                                struct rdb_load_result *result)
{
    static uint8_t buffer[4096];
    struct source source = {.bytes = bytes, .length = length};
    struct rdb_reader reader;
    rdb_reader_init_stream(&reader, buffer, sizeof(buffer), source_fill, &source, &heap);
    return rdb_load(&reader, &store, result);
}

static const char *const dataset_keys[] = {
    "int8", "int16", "int32", "int64", "leading0", "short", "empty", "zip", "big",
    "list_small", "list_big", "list_wide", "set_intset", "set_intset_wide", "set_pack",
    "set_table", "hash_pack", "hash_table", "hash_long", "zset_pack", "zset_tree",
};
#define DATASET_KEYS (sizeof(dataset_keys) / sizeof(dataset_keys[0]))

static void test_file_round_trip(void)
{
    struct digest before[DATASET_KEYS];
    for (uint32_t index = 0; index < DATASET_KEYS; index++) {
        before[index] = key_digest(text(dataset_keys[index]));
        CHECK(before[index].count > 0 || strcmp(dataset_keys[index], "empty") == 0);
    }
    uint64_t keys = store_key_count(&store);
    struct sink file = save_all();
    CHECK(file.length > 9 && memcmp(file.bytes, "REDIS0010", 9) == 0);
    uint64_t allocations = heap.allocations;
    store_flush(&store);
    struct rdb_load_result result;
    enum rdb_status loaded = load_all(file.bytes, file.length, &result);
    CHECK(loaded == RDB_OK);
    if (loaded != RDB_OK) {
        fprintf(stderr, "  load: %s after %llu keys\n", rdb_status_text(loaded),
                (unsigned long long)result.keys_loaded);
    }
    CHECK(result.keys_loaded == keys);
    CHECK(store_key_count(&store) == keys);
    for (uint32_t index = 0; index < DATASET_KEYS; index++) {
        bool same = digest_equal(before[index], key_digest(text(dataset_keys[index])));
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  key %s differs after the round trip\n", dataset_keys[index]);
        }
    }
    (void)store_verify(&store);
    CHECK(heap.allocations <= allocations + 8u); /* no scratch left (dict sizes may differ) */
    /* A flipped bit anywhere in the body fails the checksum (or the parse). */
    uint8_t *copy = malloc(file.length);
    for (uint32_t trial = 0; trial < 20; trial++) {
        memcpy(copy, file.bytes, file.length);
        uint64_t at = 9u + random_next() % (file.length - 17u);
        copy[at] ^= (uint8_t)(1u << (random_next() % 8u));
        store_flush(&store);
        CHECK(load_all(copy, file.length, &result) != RDB_OK);
        (void)store_verify(&store);
    }
    free(copy);
    store_flush(&store);
    CHECK(load_all(file.bytes, file.length, &result) == RDB_OK);
    free(file.bytes);
}


/* Parts make the bytes a whole write makes (a string under RDB_PART_STRING_BYTES_MIN is never
 * parted); a string above it goes plain in parts; every key loads back the same. */
static void test_parts_round_trip(void)
{
    uint64_t parted = 0;
    /* A first pass: a hash's cursor finishes a rehash in progress, which frees a bucket
     * array and so changes the header's used-mem. */
    struct sink parts = save_keys(true, &parted);
    free(parts.bytes);
    uint64_t allocations = heap.allocations;
    parts = save_keys(true, &parted);
    CHECK(heap.allocations == allocations); /* the list's node scratch went back */
    struct sink whole = save_all();
    CHECK(parted == 6); /* list_big, list_wide, set_table, hash_table, zset_tree, hash_long */
    CHECK(parts.length == whole.length && memcmp(parts.bytes, whole.bytes, whole.length) == 0);
    free(parts.bytes);
    free(whole.bytes);
    static char huge[RDB_PART_STRING_BYTES_MIN + 300000];
    for (uint32_t index = 0; index < sizeof(huge); index++) {
        huge[index] = (char)('a' + index % 5); /* LZF would shrink it: parts write it plain */
    }
    put_string("huge", (struct slice){.bytes = (const uint8_t *)huge, .length = sizeof(huge)});
    struct digest before[DATASET_KEYS + 1];
    for (uint32_t index = 0; index < DATASET_KEYS; index++) {
        before[index] = key_digest(text(dataset_keys[index]));
    }
    before[DATASET_KEYS] = key_digest(text("huge"));
    uint64_t keys = store_key_count(&store);
    parts = save_keys(true, &parted);
    CHECK(parted == 7);
    CHECK(parts.length > sizeof(huge));
    store_flush(&store);
    struct rdb_load_result result;
    CHECK(load_all(parts.bytes, parts.length, &result) == RDB_OK);
    CHECK(result.keys_loaded == keys);
    for (uint32_t index = 0; index <= DATASET_KEYS; index++) {
        const char *name = index < DATASET_KEYS ? dataset_keys[index] : "huge";
        bool same = digest_equal(before[index], key_digest(text(name)));
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  key %s differs after the parted round trip\n", name);
        }
    }
    (void)store_verify(&store);
    CHECK(store_delete(&store, text("huge")));
    free(parts.bytes);
}

/* ---- Streams in parts ---- */

static struct store_found stream_found(const char *key)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_STREAM, &found);
    return found;
}

/* Entry `index` of a stream: three shapes, so nodes mix entries with the master's fields
 * (SAMEFIELDS), other fields, integers and long values. */
static void xadd(const char *key, struct stream_id id, uint32_t index, uint32_t value_bytes)
{
    char number[32];
    snprintf(number, sizeof(number), "%u", index * 37u);
    struct slice pairs[4] = {text("a"), text(number), text("b"), text("-12")};
    uint32_t pair_count = 2;
    if (index % 3 == 1) {
        pair_count = 1;
    }
    if (index % 3 == 2 || value_bytes > 0) {
        pairs[0] = text("x");
        pairs[1] = (struct slice){.bytes = (const uint8_t *)big,
                                  .length = value_bytes > 0 ? value_bytes : 10u + index % 90u};
    }
    struct store_found found = stream_found(key);
    CHECK(store_stream_add(&store, &found, text(key), id, pairs, pair_count) == STORE_OK);
}

static struct store_stream_group *xgroup(const char *key, const char *name, struct stream_id id)
{
    struct store_found found = stream_found(key);
    if (!found.exists) {
        CHECK(store_stream_create(&store, &found, text(key)) == STORE_OK);
    }
    CHECK(store_stream_group_create(&store, &found, text(name), id, (int64_t)id.ms) ==
          STORE_OK);
    return store_stream_group_find(&store, found.key_ref, text(name));
}

/* Delivers `id` to the consumer (created when new), with a delivery count of its own. */
static void deliver(struct store_stream_group *group, const char *consumer_name,
                    struct stream_id id, uint64_t delivery_count)
{
    struct store_stream_consumer *consumer =
        store_stream_consumer_find(&store, group, text(consumer_name));
    if (consumer == NULL) {
        consumer = store_stream_consumer_create(&store, group, text(consumer_name),
                                                1700000000000 + (int64_t)id.ms);
    }
    CHECK(consumer != NULL);
    CHECK(store_stream_pel_reserve(&store, group, consumer, 1) == STORE_OK);
    store_stream_pel_deliver(&store, group, consumer, id, 1690000000000 + (int64_t)id.ms, true);
    store_stream_pel_find(&store, group, id)->delivery_count = delivery_count;
}

static void xtrim(const char *key, uint64_t maxlen)
{
    struct store_found found = stream_found(key);
    struct store_stream_trim trim = {.strategy = STORE_STREAM_TRIM_MAXLEN, .maxlen = maxlen};
    (void)store_stream_trim(&store, &found, &trim);
}

static const char *const stream_keys[] = {
    "stream_big", "stream_pel", "stream_pel_empty", "stream_groups", "stream_wide",
    "stream_small", "stream_empty",
};
#define STREAM_KEYS (sizeof(stream_keys) / sizeof(stream_keys[0]))
#define STREAM_KEYS_PARTED 5u /* all but stream_small and stream_empty */

/* Streams past each RDB_PART_STREAM_*_MIN, and two below all of them. */
static void stream_dataset(void)
{
    /* Nodes: 20,000 entries, every 7th deleted; two groups, one PEL of 3,000 across three
     * consumers (one of them with nothing pending), the other of a few. */
    for (uint32_t index = 0; index < 20000; index++) {
        xadd("stream_big", (struct stream_id){1000u + index / 3u, index % 3u}, index, 0);
    }
    struct store_found found = stream_found("stream_big");
    for (uint32_t index = 0; index < 20000; index += 7) {
        CHECK(store_stream_delete(&store, &found,
                                  (struct stream_id){1000u + index / 3u, index % 3u}));
    }
    struct store_stream_group *group = xgroup("stream_big", "g1", (struct stream_id){2500, 0});
    for (uint32_t index = 1; index < 4500; index += 3) {
        deliver(group, index % 2 ? "alice" : "bob", (struct stream_id){1000u + index / 3u, 1},
                1u + index % 5u);
    }
    (void)store_stream_consumer_create(&store, group, text("idle"), 1700000000123);
    group = xgroup("stream_big", "g2", (struct stream_id){1001, 0});
    deliver(group, "carol", (struct stream_id){1000, 1}, 300);
    deliver(group, "carol", (struct stream_id){1001, 0}, 1);
    /* A PEL of 2,000 over ten entries left (a trim after the deliveries). */
    for (uint32_t index = 0; index < 3000; index++) {
        xadd("stream_pel", (struct stream_id){5000u + index, 0}, index, 0);
    }
    group = xgroup("stream_pel", "readers", (struct stream_id){7000, 0});
    for (uint32_t index = 0; index < 2000; index++) {
        deliver(group, index % 3 ? "r1" : "r2", (struct stream_id){5000u + index, 0}, 1);
    }
    xtrim("stream_pel", 10);
    /* No entry left at all, a PEL of 1,500. */
    for (uint32_t index = 0; index < 1500; index++) {
        xadd("stream_pel_empty", (struct stream_id){9u + index, 7}, index, 0);
        if (index == 0) {
            group = xgroup("stream_pel_empty", "g", (struct stream_id){0, 0});
        }
        deliver(group, "only", (struct stream_id){9u + index, 7}, 2);
    }
    xtrim("stream_pel_empty", 0);
    /* 70 groups: no consumers, consumers with nothing pending, one with a nack. */
    xadd("stream_groups", (struct stream_id){1, 1}, 0, 0);
    xadd("stream_groups", (struct stream_id){1, 2}, 1, 0);
    for (uint32_t index = 0; index < 70; index++) {
        char name[32];
        snprintf(name, sizeof(name), "group-%02u", index);
        group = xgroup("stream_groups", name, (struct stream_id){1, index % 3u});
        if (index % 4 == 1) {
            (void)store_stream_consumer_create(&store, group, text("c"), 1700000000000);
        } else if (index % 4 == 2) {
            deliver(group, "d", (struct stream_id){1, 1}, index);
        }
    }
    /* Entries larger than a node: 60 nodes of 5,000-byte values. */
    for (uint32_t index = 0; index < 60; index++) {
        xadd("stream_wide", (struct stream_id){index + 1u, 0}, index, 5000);
    }
    /* Below every rule: a few entries and a group; an empty stream with a group. */
    for (uint32_t index = 0; index < 250; index++) {
        xadd("stream_small", (struct stream_id){77, index}, index, 0);
    }
    group = xgroup("stream_small", "g", (struct stream_id){77, 3});
    deliver(group, "c", (struct stream_id){77, 2}, 4);
    (void)xgroup("stream_empty", "g", (struct stream_id){0, 0});
}

static void stream_digest_entries(struct digest *digest, uint32_t key_ref)
{
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    struct stream_id end = {UINT64_MAX, UINT64_MAX};
    store_stream_walk_start(&walk, &store, key_ref, (struct stream_id){0, 0}, end, false);
    while (store_stream_walk_next(&walk, &entry)) {
        digest_add(digest, (struct slice){.bytes = (const uint8_t *)&entry.id, .length = 16},
                   true);
        uint32_t at = 0;
        for (uint32_t index = 0; index < entry.pair_count; index++) {
            struct slice field;
            struct slice value;
            store_stream_pair(&entry, &at, &field, &value);
            digest_add(digest, field, true);
            digest_add(digest, value, true);
        }
    }
}

static void digest_u64(struct digest *digest, uint64_t value)
{
    digest_add(digest, (struct slice){.bytes = (const uint8_t *)&value, .length = 8}, true);
}

/* A stream's entries, its root's fields, and every group with its PEL (owners by name) and
 * consumers with their pending IDs. */
static struct digest stream_digest(struct slice name)
{
    struct digest digest = {0};
    uint32_t key_ref = 0;
    if (!store_find(&store, name, &key_ref)) {
        return digest;
    }
    const struct store_stream *stream = store_stream_of(&store, key_ref);
    uint64_t fields[9] = {stream->length, stream->entries_added, stream->last_id.ms,
                          stream->last_id.seq, stream->first_id.ms, stream->first_id.seq,
                          stream->max_deleted_id.ms, stream->max_deleted_id.seq,
                          stream->group_count};
    for (uint32_t index = 0; index < 9; index++) {
        digest_u64(&digest, fields[index]);
    }
    stream_digest_entries(&digest, key_ref);
    const struct store_stream_group *group = store_stream_group_first(&store, key_ref);
    for (; group != NULL; group = store_stream_group_next(&store, group)) {
        digest_add(&digest, store_stream_group_name(group), true);
        digest_u64(&digest, group->last_id.ms);
        digest_u64(&digest, group->last_id.seq);
        digest_u64(&digest, (uint64_t)group->entries_read);
        const struct store_stream_nack *pel = store_stream_pel(&store, group);
        for (uint32_t index = 0; index < group->pel_count; index++) {
            const struct store_stream_consumer *owner = heap_pointer(&heap,
                                                                     pel[index].consumer_ref);
            digest_add(&digest, (struct slice){.bytes = (const uint8_t *)&pel[index],
                                               .length = 32}, true); /* id, time, count */
            digest_add(&digest, store_stream_consumer_name(owner), true);
        }
        const struct store_stream_consumer *consumer = store_stream_consumer_first(&store, group);
        for (; consumer != NULL; consumer = store_stream_consumer_next(&store, consumer)) {
            digest_add(&digest, store_stream_consumer_name(consumer), true);
            digest_u64(&digest, (uint64_t)consumer->seen_ms);
            const struct stream_id *ids = store_stream_consumer_ids(&store, consumer);
            digest_add(&digest, (struct slice){.bytes = (const uint8_t *)ids,
                                               .length = consumer->pending_count * 16u}, true);
        }
    }
    return digest;
}

/* Streams in parts make the bytes their whole writes make (at random budgets, so node, nack,
 * head and ID boundaries all fall inside calls), and load back the same streams. */
static void test_stream_parts(void)
{
    uint64_t parted_before = 0;
    struct sink sink = save_keys(true, &parted_before);
    free(sink.bytes);
    stream_dataset();
    uint32_t key_ref = 0;
    CHECK(store_find(&store, text("stream_pel_empty"), &key_ref));
    CHECK(store_stream_of(&store, key_ref)->length == 0);
    CHECK(store_find(&store, text("stream_wide"), &key_ref));
    CHECK(store_stream_node_count(&store, key_ref) <= RDB_PART_STREAM_NODES_MIN);
    struct digest before[STREAM_KEYS];
    for (uint32_t index = 0; index < STREAM_KEYS; index++) {
        before[index] = stream_digest(text(stream_keys[index]));
        CHECK(before[index].count > 0);
        CHECK(store_find(&store, text(stream_keys[index]), &key_ref));
        bool parted_right = rdb_key_parted(&store, key_ref) == (index < STREAM_KEYS_PARTED);
        CHECK(parted_right);
        if (!parted_right) {
            fprintf(stderr, "  stream %s parted: %d\n", stream_keys[index],
                    rdb_key_parted(&store, key_ref));
        }
    }
    uint64_t parted = 0;
    struct sink parts = save_keys(true, &parted);
    free(parts.bytes);
    uint64_t allocations = heap.allocations;
    parts = save_keys(true, &parted);
    CHECK(heap.allocations == allocations); /* every node's scratch went back */
    struct sink whole = save_all();
    CHECK(parted == parted_before + STREAM_KEYS_PARTED);
    CHECK(parts.length == whole.length && memcmp(parts.bytes, whole.bytes, whole.length) == 0);
    uint64_t keys = store_key_count(&store);
    store_flush(&store);
    struct rdb_load_result result;
    enum rdb_status loaded = load_all(parts.bytes, parts.length, &result);
    CHECK(loaded == RDB_OK);
    if (loaded != RDB_OK) {
        fprintf(stderr, "  load: %s after %llu keys\n", rdb_status_text(loaded),
                (unsigned long long)result.keys_loaded);
    }
    CHECK(result.keys_loaded == keys);
    for (uint32_t index = 0; index < STREAM_KEYS; index++) {
        bool same = digest_equal(before[index], stream_digest(text(stream_keys[index])));
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  stream %s differs after the parted round trip\n",
                    stream_keys[index]);
        }
        CHECK(store_delete(&store, text(stream_keys[index])));
    }
    (void)store_verify(&store);
    free(parts.bytes);
    free(whole.bytes);
}

/* DUMP's payload of a key, in a malloc'd buffer. */
static struct sink dump_key(struct slice name)
{
    struct sink sink = {0};
    uint8_t buffer[128];
    uint32_t key_ref = 0;
    CHECK(store_find(&store, name, &key_ref));
    struct rdb_writer writer;
    rdb_writer_init(&writer, buffer, sizeof(buffer), sink_flush, &sink, &heap, lzf_table);
    CHECK(rdb_write_dump(&writer, &store, key_ref));
    CHECK(rdb_writer_finish(&writer));
    return sink;
}

static void test_dump_round_trip(void)
{
    for (uint32_t index = 0; index < DATASET_KEYS; index++) {
        struct slice name = text(dataset_keys[index]);
        struct sink payload = dump_key(name);
        CHECK(rdb_dump_verify(payload.bytes, payload.length));
        struct digest want = key_digest(name);
        CHECK(store_delete(&store, name));
        enum store_status store_status = STORE_OK;
        CHECK(rdb_read_dump(&store, payload.bytes, payload.length, name, &store_status) ==
              RDB_OK);
        /* RESTORE does not carry the expiry time: compare without it. */
        struct digest got = key_digest(name);
        CHECK(got.count == want.count && got.sum == want.sum);
        payload.bytes[payload.length - 1] ^= 1u;
        CHECK(!rdb_dump_verify(payload.bytes, payload.length));
        payload.bytes[payload.length - 10] = 11; /* a version from the future */
        CHECK(!rdb_dump_verify(payload.bytes, payload.length));
        free(payload.bytes);
    }
    (void)store_verify(&store);
    /* Small known payloads: Redis 7.0's DUMP of SET k 12 and of SET k hello. */
    static const uint8_t twelve[] = {0x00, 0xc0, 0x0c, 0x0a, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t hello[] = {0x00, 0x05, 'h', 'e', 'l', 'l', 'o', 0x0a, 0x00};
    put_string("k12", text("12"));
    put_string("khello", text("hello"));
    struct sink a = dump_key(text("k12"));
    struct sink b = dump_key(text("khello"));
    CHECK_BYTES(a.bytes, 5, twelve, 5);
    CHECK_BYTES(b.bytes, 9, hello, 9);
    free(a.bytes);
    free(b.bytes);
}

/* Fixes a payload's CRC so the corrupt body reaches the value parser. */
static void payload_seal(uint8_t *bytes, uint64_t length)
{
    uint64_t crc = crc64(0, bytes, length - 8u);
    memcpy(bytes + length - 8u, &crc, 8);
    bytes[length - 10] = 10;
    bytes[length - 9] = 0;
}

static void test_corruption(void)
{
    struct slice scratch_name = text("corrupt-target");
    uint64_t loaded = 0;
    uint64_t refused = 0;
    for (uint32_t trial = 0; trial < 8000; trial++) {
        struct slice name = text(dataset_keys[random_next() % DATASET_KEYS]);
        /* The 300 KB string costs time, not coverage: "zip" is LZF too. */
        if (strcmp((const char *)name.bytes, "big") == 0 ||
            !store_find(&store, name, &(uint32_t){0})) {
            continue;
        }
        struct sink payload = dump_key(name);
        uint64_t length = payload.length;
        uint32_t edits = 1u + (uint32_t)(random_next() % 4u);
        for (uint32_t edit = 0; edit < edits && length > 11; edit++) {
            uint64_t at = random_next() % (length - 10u);
            switch (random_next() % 4u) {
            case 0:
                payload.bytes[at] ^= (uint8_t)(1u << (random_next() % 8u));
                break;
            case 1:
                payload.bytes[at] = (uint8_t)random_next();
                break;
            case 2: /* cut the body short */
                memmove(payload.bytes + at, payload.bytes + length - 10u, 10u);
                length = at + 10u;
                break;
            default:
                payload.bytes[at] = (uint8_t)(0xc0u | (random_next() % 4u));
                break;
            }
        }
        if (length < 10) {
            free(payload.bytes);
            continue;
        }
        payload_seal(payload.bytes, length);
        enum store_status store_status = STORE_OK;
        enum rdb_status status = rdb_read_dump(&store, payload.bytes, length, scratch_name,
                                               &store_status);
        bool exists = store_find(&store, scratch_name, &(uint32_t){0});
        CHECK(exists == (status == RDB_OK));
        if (status == RDB_OK) {
            loaded++;
            CHECK(store_delete(&store, scratch_name));
        } else {
            refused++;
        }
        free(payload.bytes);
        if (trial % 1000 == 0) {
            (void)store_verify(&store);
        }
    }
    (void)store_verify(&store);
    fprintf(stderr, "test_rdb: corrupted payloads: %llu loaded, %llu refused\n",
            (unsigned long long)loaded, (unsigned long long)refused);
    CHECK(refused > 500);
}

/* A file by hand: a function library (skipped, counted), a string key, then a stream type
 * (a later Redis's: refused as unsupported, not as corrupt). */
static void test_opcodes(void)
{
    static const uint8_t code[] = "#!lua name=lib\nredis.register_function('f', f)";
    static_assert(sizeof(code) - 1u < 64u, "a 6-bit length");
    uint8_t file[256];
    uint32_t length = 0;
    memcpy(file, "REDIS0010", 9);
    length = 9;
    file[length++] = RDB_OPCODE_FUNCTION2;
    file[length++] = (uint8_t)(sizeof(code) - 1u); /* a 6-bit length */
    memcpy(file + length, code, sizeof(code) - 1u);
    length += (uint32_t)sizeof(code) - 1u;
    file[length++] = RDB_TYPE_STRING;
    file[length++] = 2;
    memcpy(file + length, "fk", 2);
    length += 2;
    file[length++] = 1;
    file[length++] = 'v';
    uint32_t before_end = length;
    file[length++] = RDB_OPCODE_EOF;
    uint64_t crc = crc64(0, file, length);
    memcpy(file + length, &crc, 8);
    length += 8;
    store_flush(&store);
    struct rdb_load_result result;
    struct source source = {.bytes = file, .length = length};
    static uint8_t buffer[4096];
    struct rdb_reader reader;
    rdb_reader_init_stream(&reader, buffer, sizeof(buffer), source_fill, &source, &heap);
    CHECK(rdb_load(&reader, &store, &result) == RDB_OK);
    CHECK(reader.functions_skipped == 1);
    CHECK(result.keys_loaded == 1);
    struct slice value;
    CHECK(store_string_get(&store, text("fk"), &value) == STORE_OK);
    CHECK(value.length == 1 && value.bytes[0] == 'v');
    /* A later Redis's stream type (7.2's STREAM_LISTPACKS_3) where the EOF was: kv says
     * unsupported; its own 7.0 type there is a truncated stream: corrupt. */
    store_flush(&store);
    file[before_end] = 20;
    source = (struct source){.bytes = file, .length = length};
    rdb_reader_init_stream(&reader, buffer, sizeof(buffer), source_fill, &source, &heap);
    CHECK(rdb_load(&reader, &store, &result) == RDB_UNSUPPORTED);
    store_flush(&store);
    file[before_end] = RDB_TYPE_STREAM_LISTPACKS_2;
    source = (struct source){.bytes = file, .length = length};
    rdb_reader_init_stream(&reader, buffer, sizeof(buffer), source_fill, &source, &heap);
    CHECK(rdb_load(&reader, &store, &result) == RDB_CORRUPT);
    store_flush(&store);
    dataset();
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_rdb: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    seed_state = seed;
    setup();
    dataset();
    test_file_round_trip();
    test_parts_round_trip();
    test_stream_parts();
    test_dump_round_trip();
    test_corruption();
    test_opcodes();
    return check_exit("test_rdb");
}
