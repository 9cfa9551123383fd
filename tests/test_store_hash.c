/*
 * Proves hashes on the heap: a small hash is a pack in insertion order (a repeated field in
 * one write keeps its first place and takes its last value; HDEL keeps the others' order);
 * it becomes a table at Redis 7.0's thresholds (a 513th field, a field or value argument
 * longer than 64 bytes, also inside a multi-pair write) and never goes back; reads, writes,
 * deletes, HSCAN cursors and random fields agree with a model in both encodings. A seeded
 * churn (KV_SEED replays it) checks everything against the model, with store_verify's tally
 * equal to the heap's allocation count after every step (the heap is the store's alone). A
 * 1M-field hash answers every field operation in microseconds (measured and printed, not
 * asserted). On a heap filled to the last byte every kind of write (a pack rebuilt or grown,
 * both conversions, a table write with new, resized and repeated fields, new keys) answers
 * STORE_OOM until enough memory is given back, each time changing nothing (every field and
 * value read back, the heap's counts unchanged), and then gives the same hash as on a large
 * heap. The caps of the seed are kv's errors, changing nothing. Shapes: hashes that share a
 * field list become records on its second sighting and go back to packs for a write that
 * changes the list; a seeded model run over shared and unshared lists checks every read,
 * the fields' order and the shape count after every step. Memory per small hash is printed
 * for the report's comparison with Redis.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "shape.h"
#include "number.h"
#include "store.h"
#include "store_hash.h"
#include "store_string.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;
static uint64_t setup_allocations; /* the heap's allocations right after setup (the type's
                                      own state: the shape registry) */

static uint64_t now_ns(void)
{
    struct timespec spec;
    clock_gettime(CLOCK_MONOTONIC, &spec);
    return (uint64_t)spec.tv_sec * 1000000000ull + (uint64_t)spec.tv_nsec;
}

/* A fresh region, heap and store of `heap_bytes`, with the config's caps. */
static void setup(uint64_t heap_bytes, const struct config *caps)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    store_config = *caps; /* the store keeps the pointer: it must outlive the caller's */
    store_init(&store, &heap, &store_config, 12345);
    store_string_init(&store);
    store_hash_init(&store);
    store_clock(&store, 1000000);
    setup_allocations = heap.allocations;
}

/* What an empty store holds: its setup's allocations, and the shape registry's buckets
 * (which a dict keeps once it had entries). */
static uint64_t allocations_empty(void)
{
    const struct shape_registry *registry = store.type_state[STORE_TYPE_HASH];
    CHECK(shape_count(registry) == 0);
    return setup_allocations + dict_allocations(&registry->dict);
}

/* No caps: Redis's limits. */
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

static enum store_status hset(struct slice key, const struct slice *pairs, uint32_t pair_count,
                              bool only_new, uint32_t *added)
{
    struct store_found found;
    (void)store_find_typed(&store, key, STORE_TYPE_HASH, &found);
    return store_hash_set(&store, &found, key, pairs, pair_count, only_new, added);
}

static bool hget(struct slice key, struct slice field, struct slice *value)
{
    struct store_found found;
    if (store_find_typed(&store, key, STORE_TYPE_HASH, &found) != STORE_OK) {
        return false;
    }
    return store_hash_get(&store, found.key_ref, field, value);
}

static uint32_t hdel(struct slice key, const struct slice *fields, uint32_t field_count)
{
    struct store_found found;
    if (store_find_typed(&store, key, STORE_TYPE_HASH, &found) != STORE_OK) {
        return 0;
    }
    uint32_t removed = 0;
    CHECK(store_hash_delete(&store, &found, fields, field_count, &removed) == STORE_OK);
    return removed;
}

/* The hash at `key`: its key object's reference, or 0 when absent. */
static uint32_t hash_ref(struct slice key)
{
    struct store_found found;
    return store_find_typed(&store, key, STORE_TYPE_HASH, &found) == STORE_OK ? found.key_ref
                                                                              : 0;
}

static uint64_t hlen(struct slice key)
{
    uint32_t ref = hash_ref(key);
    return ref != 0 ? store_hash_length(&store, ref) : 0;
}

static bool packed(struct slice key)
{
    uint32_t ref = hash_ref(key);
    return ref != 0 && store_hash_packed(&store, ref);
}

static bool value_is(struct slice key, struct slice field, struct slice want)
{
    struct slice got;
    return hget(key, field, &got) && slice_equal(got, want);
}

/* ---- Snapshots: a hash's fields and values in its order, as bytes -------------------- */

#define SNAPSHOT_BYTES (4u << 20)

struct snapshot {
    uint8_t *bytes;
    uint32_t length;
    bool overflow;
};

static void snapshot_put(struct snapshot *snapshot, struct slice piece)
{
    if (snapshot->length + 4u + piece.length > SNAPSHOT_BYTES) {
        snapshot->overflow = true;
        return;
    }
    memcpy(snapshot->bytes + snapshot->length, &piece.length, 4);
    if (piece.length > 0) {
        memcpy(snapshot->bytes + snapshot->length + 4, piece.bytes, piece.length);
    }
    snapshot->length += 4u + piece.length;
}

static void snapshot_visit(void *context, struct slice field, struct slice value)
{
    snapshot_put(context, field);
    snapshot_put(context, value);
}

/* Takes a hash's contents (nothing for an absent key) in its order. */
static void snapshot_take(struct slice key, struct snapshot *snapshot, uint8_t *buffer)
{
    *snapshot = (struct snapshot){.bytes = buffer};
    uint32_t ref = hash_ref(key);
    if (ref != 0) {
        store_hash_each(&store, ref, snapshot_visit, snapshot);
    }
    CHECK(!snapshot->overflow);
}

static bool snapshot_equal(const struct snapshot *a, const struct snapshot *b)
{
    return a->length == b->length && memcmp(a->bytes, b->bytes, a->length) == 0;
}

/* Whether the hash at `key` holds exactly the pairs of a snapshot (in any order). */
static bool holds_exactly(struct slice key, const struct snapshot *snapshot)
{
    uint32_t at = 0;
    uint64_t pairs = 0;
    bool same = true;
    /* Bounded by the snapshot's bytes. */
    while (at < snapshot->length && same) {
        struct slice parts[2];
        for (uint32_t part = 0; part < 2; part++) {
            uint32_t length = 0;
            memcpy(&length, snapshot->bytes + at, 4);
            parts[part] = (struct slice){.bytes = snapshot->bytes + at + 4, .length = length};
            at += 4 + length;
        }
        same = value_is(key, parts[0], parts[1]);
        pairs++;
    }
    return same && hlen(key) == pairs;
}

/* ---- Small hashes and conversions ----------------------------------------------------- */

static void test_small(void)
{
    setup_default(16u << 20);
    uint32_t added = 0;
    struct slice pairs[] = {text("b"), text("1"), text("a"), text("2"), text("b"), text("3"),
                            text(""), text("empty field")};
    CHECK(hset(text("h"), pairs, 4, false, &added) == STORE_OK && added == 3);
    CHECK(packed(text("h")) && hlen(text("h")) == 3);
    /* A repeated field: its first place, its last value. */
    static uint8_t buffer_a[SNAPSHOT_BYTES];
    static uint8_t buffer_b[SNAPSHOT_BYTES];
    struct snapshot got;
    snapshot_take(text("h"), &got, buffer_a);
    struct snapshot want = {.bytes = buffer_b};
    struct slice order[] = {text("b"), text("3"), text("a"), text("2"), text(""),
                            text("empty field")};
    for (uint32_t index = 0; index < 6; index++) {
        snapshot_put(&want, order[index]);
    }
    CHECK(snapshot_equal(&got, &want));
    verify();
    /* HSETNX: an existing field keeps its value; a new one is appended. */
    struct slice nx[] = {text("a"), text("changed")};
    CHECK(hset(text("h"), nx, 1, true, &added) == STORE_OK && added == 0);
    CHECK(value_is(text("h"), text("a"), text("2")));
    struct slice nx_new[] = {text("c"), text("4")};
    CHECK(hset(text("h"), nx_new, 1, true, &added) == STORE_OK && added == 1);
    /* HDEL keeps the others' order; absent fields count nothing. */
    struct slice gone[] = {text("a"), text("nope"), text("a")};
    CHECK(hdel(text("h"), gone, 3) == 1);
    snapshot_take(text("h"), &got, buffer_a);
    want.length = 0;
    struct slice order2[] = {text("b"), text("3"), text(""), text("empty field"), text("c"),
                             text("4")};
    for (uint32_t index = 0; index < 6; index++) {
        snapshot_put(&want, order2[index]);
    }
    CHECK(snapshot_equal(&got, &want));
    verify();
    /* Updates in place, longer and shorter. */
    struct slice longer[] = {text("b"), text("a longer value than before")};
    CHECK(hset(text("h"), longer, 1, false, &added) == STORE_OK && added == 0);
    CHECK(value_is(text("h"), text("b"), text("a longer value than before")));
    struct slice shorter[] = {text("b"), text("")};
    CHECK(hset(text("h"), shorter, 1, false, &added) == STORE_OK);
    CHECK(value_is(text("h"), text("b"), text("")));
    verify();
    /* The key goes with its last field; a string is WRONGTYPE. */
    struct slice all[] = {text("b"), text(""), text("c")};
    CHECK(hdel(text("h"), all, 3) == 3);
    CHECK(hash_ref(text("h")) == 0 && store_key_count(&store) == 0);
    CHECK(store_string_set(&store, text("s"), text("v")) == STORE_OK);
    CHECK(hset(text("s"), pairs, 1, false, &added) == STORE_WRONGTYPE);
    CHECK(store_delete(&store, text("s")));
    verify();
    CHECK(heap.allocations == store_verify(&store));
}

/* A value of `length` bytes, each `fill`. */
static struct slice filled(uint8_t *buffer, uint32_t length, uint8_t fill)
{
    memset(buffer, fill, length);
    return (struct slice){.bytes = buffer, .length = length};
}

/* Fields test_conversions writes: past the pack's bound by a margin. */
#define CONVERT_FIELDS (STORE_HASH_PACK_FIELDS_MAX + 88u)

static void test_conversions(void)
{
    setup_default(16u << 20);
    char names[CONVERT_FIELDS][16];
    struct slice pairs[2u * CONVERT_FIELDS];
    for (uint32_t index = 0; index < CONVERT_FIELDS; index++) {
        snprintf(names[index], sizeof(names[index]), "field%u", index);
        pairs[2 * index] = text(names[index]);
        pairs[2 * index + 1] = text(names[index]);
    }
    uint32_t added = 0;
    /* 512 fields stay a pack, the 513th converts, and the content stays. */
    const uint32_t most = STORE_HASH_PACK_FIELDS_MAX;
    CHECK(hset(text("count"), pairs, most, false, &added) == STORE_OK && added == most);
    CHECK(packed(text("count")));
    CHECK(hset(text("count"), pairs, most, false, &added) == STORE_OK && added == 0);
    CHECK(packed(text("count")));
    CHECK(hset(text("count"), pairs + 2u * most, 1, false, &added) == STORE_OK && added == 1);
    CHECK(!packed(text("count")) && hlen(text("count")) == most + 1);
    for (uint32_t index = 0; index < most + 1; index++) {
        CHECK(value_is(text("count"), pairs[2 * index], pairs[2 * index + 1]));
    }
    verify();
    /* It never goes back, even with one short field left. */
    CHECK(hdel(text("count"), pairs + 2, 1) == 1);
    struct slice fields[CONVERT_FIELDS];
    for (uint32_t index = 0; index < CONVERT_FIELDS; index++) {
        fields[index] = pairs[2 * index];
    }
    CHECK(hdel(text("count"), fields, most) == most - 1);
    CHECK(hlen(text("count")) == 1 && !packed(text("count")));
    verify();
    /* A 64-byte value stays, a 65-byte one converts; so does a long field. */
    uint8_t long_bytes[100];
    struct slice edge[] = {text("f"), filled(long_bytes, 64, 'x')};
    CHECK(hset(text("value"), edge, 1, false, &added) == STORE_OK && packed(text("value")));
    struct slice past[] = {text("g"), filled(long_bytes, 65, 'y')};
    CHECK(hset(text("value"), past, 1, false, &added) == STORE_OK && !packed(text("value")));
    CHECK(value_is(text("value"), text("f"), filled(long_bytes, 64, 'x')));
    CHECK(value_is(text("value"), text("g"), filled(long_bytes, 65, 'y')));
    struct slice long_field[] = {filled(long_bytes, 65, 'z'), text("v")};
    CHECK(hset(text("field"), long_field, 1, false, &added) == STORE_OK);
    CHECK(!packed(text("field")) && hlen(text("field")) == 1);
    /* HSETNX of a field present with a long value changes nothing, converts nothing. */
    CHECK(hset(text("value"), edge, 1, false, &added) == STORE_OK);
    struct slice small[] = {text("a"), text("1")};
    CHECK(hset(text("nx"), small, 1, false, &added) == STORE_OK);
    struct slice nx_long[] = {text("a"), filled(long_bytes, 90, 'q')};
    CHECK(hset(text("nx"), nx_long, 1, true, &added) == STORE_OK && added == 0);
    CHECK(packed(text("nx")) && value_is(text("nx"), text("a"), text("1")));
    /* A multi-pair write that converts midway: a repeated field, a long value at the end. */
    struct slice mixed[] = {text("a"), text("2"), text("b"), text("3"), text("a"), text("4"),
                            text("c"), filled(long_bytes, 80, 'c')};
    CHECK(hset(text("nx"), mixed, 4, false, &added) == STORE_OK && added == 2);
    CHECK(!packed(text("nx")) && hlen(text("nx")) == 3);
    CHECK(value_is(text("nx"), text("a"), text("4")) && value_is(text("nx"), text("b"), text("3")));
    /* A new key past the count converts at once. */
    CHECK(hset(text("new"), pairs, CONVERT_FIELDS, false, &added) == STORE_OK &&
          added == CONVERT_FIELDS);
    CHECK(!packed(text("new")) && hlen(text("new")) == CONVERT_FIELDS);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == allocations_empty());
}

/* ---- Random fields and HSCAN ---------------------------------------------------------- */

#define SEEN_MAX 4096u

struct seen {
    uint8_t counts[SEEN_MAX];
    uint32_t visits;
    bool bad;                 /* a field that is not "field<n>" */
};

static void seen_visit(void *context, struct slice field, struct slice value)
{
    struct seen *seen = context;
    unsigned index = 0;
    char name[32];
    if (field.length >= sizeof(name)) {
        seen->bad = true;
        return;
    }
    memcpy(name, field.bytes, field.length);
    name[field.length] = '\0';
    if (sscanf(name, "field%u", &index) != 1 || index >= SEEN_MAX ||
        !slice_equal(field, value)) {
        seen->bad = true;
        return;
    }
    seen->counts[index]++;
    seen->visits++;
}

static void fill_hash(struct slice key, uint32_t first, uint32_t count)
{
    char name[32];
    /* Bounded by count. */
    for (uint32_t index = first; index < first + count; index++) {
        snprintf(name, sizeof(name), "field%u", index);
        struct slice pair[] = {text(name), text(name)};
        uint32_t added = 0;
        CHECK(hset(key, pair, 1, false, &added) == STORE_OK && added == 1);
    }
}

static void windows_check(struct slice key, uint32_t length)
{
    static struct seen seen;
    uint32_t ref = hash_ref(key);
    /* Windows of every size up to length - 1 (a few), each distinct fields of the hash. */
    for (uint32_t count = 1; count < length; count += 1 + count / 2) {
        memset(&seen, 0, sizeof(seen));
        store_hash_window(&store, ref, count, seen_visit, &seen);
        uint32_t distinct = 0;
        for (uint32_t index = 0; index < SEEN_MAX; index++) {
            distinct += seen.counts[index] == 1 ? 1u : 0u;
            CHECK(seen.counts[index] <= 1);
        }
        CHECK(!seen.bad && seen.visits == count && distinct == count);
    }
    /* Random fields: members, and over many draws every field of a small hash. */
    memset(&seen, 0, sizeof(seen));
    for (uint32_t draw = 0; draw < 40u * length; draw++) {
        struct slice field;
        struct slice value;
        store_hash_random(&store, ref, &field, &value);
        seen_visit(&seen, field, value);
    }
    uint32_t met = 0;
    for (uint32_t index = 0; index < SEEN_MAX; index++) {
        met += seen.counts[index] > 0 ? 1u : 0u;
    }
    CHECK(!seen.bad && met == length);
}

static void test_random_and_scan(void)
{
    setup_default(64u << 20);
    fill_hash(text("small"), 0, 100);
    CHECK(packed(text("small")));
    windows_check(text("small"), 100);
    fill_hash(text("big"), 0, 3000);
    CHECK(!packed(text("big")));
    windows_check(text("big"), 3000);
    /* HSCAN: fields present for the whole scan are met, while others come and go and the
     * table grows and shrinks between calls. */
    static struct seen seen;
    memset(&seen, 0, sizeof(seen));
    uint64_t cursor = 0;
    uint32_t calls = 0;
    uint32_t churn = 0;
    char name[32];
    do {
        cursor = store_hash_scan(&store, hash_ref(text("big")), cursor, seen_visit, &seen);
        for (uint32_t step = 0; step < 20; step++, churn++) {
            snprintf(name, sizeof(name), "field%u", 3000 + churn % 1000);
            struct slice pair[] = {text(name), text(name)};
            uint32_t added = 0;
            if (churn % 2000 < 1000) {
                CHECK(hset(text("big"), pair, 1, false, &added) == STORE_OK);
            } else {
                CHECK(hdel(text("big"), pair, 1) == 1);
            }
        }
        calls++;
    } while (cursor != 0 && calls < 1000000);
    uint32_t missed = 0;
    for (uint32_t index = 0; index < 3000; index++) {
        missed += seen.counts[index] > 0 ? 0u : 1u;
    }
    CHECK(missed == 0 && !seen.bad && cursor == 0);
    verify();
    store_flush(&store);
}

/* ---- A 1M-field hash -------------------------------------------------------------------- */

#define BIG_FIELDS 1000000u
#define BIG_OPS 200000u

static struct slice big_field(char *name, uint32_t index)
{
    int length = snprintf(name, 32, "field%u", index);
    return (struct slice){.bytes = (const uint8_t *)name, .length = (uint32_t)length};
}

static void report_ns(const char *what, uint64_t start, uint32_t ops)
{
    fprintf(stderr, "test_store_hash: 1M fields: %-13s %6.0f ns/op\n", what,
            (double)(now_ns() - start) / ops);
}

/* HINCRBY and HINCRBYFLOAT as the commands do them: read, compute, write one pair. */
static bool big_increment(uint32_t index, bool as_float)
{
    char name[32];
    struct slice field = big_field(name, index);
    struct store_found found;
    if (store_find_typed(&store, text("big"), STORE_TYPE_HASH, &found) != STORE_OK) {
        return false;
    }
    struct slice current;
    if (!store_hash_get(&store, found.key_ref, field, &current)) {
        return false;
    }
    char number[NUMBER_LONG_DOUBLE_BYTES];
    uint32_t length = 0;
    if (as_float) {
        long double value = 0;
        bool parsed = number_parse_long_double(current.bytes, current.length, &value);
        length = parsed ? number_format_long_double(value + 0.5L, number, sizeof(number)) : 0;
    } else {
        int64_t value = 0;
        bool parsed = number_parse_int64(current.bytes, current.length, &value);
        length = parsed ? number_format_int64(value + 1, number) : 0;
    }
    struct slice pair[] = {field, {.bytes = (const uint8_t *)number, .length = length}};
    uint32_t added = 0;
    return length > 0 &&
           store_hash_set(&store, &found, text("big"), pair, 1, false, &added) == STORE_OK;
}

static void big_timings(void)
{
    char name[32];
    char value[32];
    uint32_t added = 0;
    uint32_t failures = 0;
    uint64_t start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        struct slice got;
        failures += hget(text("big"), big_field(name, (uint32_t)(random_next() % BIG_FIELDS)),
                         &got) ? 0u : 1u;
    }
    report_ns("HGET", start, BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        uint32_t index = (uint32_t)(random_next() % BIG_FIELDS);
        int length = snprintf(value, sizeof(value), "%u", index);
        struct slice pair[] = {big_field(name, index),
                               {.bytes = (const uint8_t *)value, .length = (uint32_t)length}};
        failures += hset(text("big"), pair, 1, false, &added) == STORE_OK ? 0u : 1u;
    }
    report_ns("HSET (update)", start, BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        struct slice field = big_field(name, BIG_FIELDS + op);
        struct slice pair[] = {field, field};
        failures += hset(text("big"), pair, 1, false, &added) == STORE_OK ? 0u : 1u;
        failures += added == 1 ? 0u : 1u;
    }
    report_ns("HSET (new)", start, BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        struct slice field = big_field(name, BIG_FIELDS + op);
        failures += hdel(text("big"), &field, 1) == 1 ? 0u : 1u;
    }
    report_ns("HDEL", start, BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        struct slice got;
        uint32_t index = (uint32_t)(random_next() % (2u * BIG_FIELDS));
        failures += hget(text("big"), big_field(name, index), &got) == (index < BIG_FIELDS)
                        ? 0u : 1u;
    }
    report_ns("HEXISTS", start, BIG_OPS);
    start = now_ns();
    uint64_t lengths = 0;
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        struct slice got = {0};
        (void)hget(text("big"), big_field(name, (uint32_t)(random_next() % BIG_FIELDS)), &got);
        lengths += got.length;
    }
    report_ns("HSTRLEN", start, BIG_OPS);
    CHECK(lengths > BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        failures += big_increment((uint32_t)(random_next() % BIG_FIELDS), false) ? 0u : 1u;
    }
    report_ns("HINCRBY", start, BIG_OPS);
    start = now_ns();
    for (uint32_t op = 0; op < BIG_OPS; op++) {
        failures += big_increment((uint32_t)(random_next() % BIG_FIELDS), true) ? 0u : 1u;
    }
    report_ns("HINCRBYFLOAT", start, BIG_OPS);
    CHECK(failures == 0);
}

/* Which of the 1M fields a scan or window met. */
static uint8_t big_met_bits[2u * BIG_FIELDS / 8u];

struct big_met {
    uint8_t *bits;
    uint64_t visits;
    uint64_t repeats;
    bool bad;
};

static void big_met_visit(void *context, struct slice field, struct slice value)
{
    struct big_met *met = context;
    char name[32];
    unsigned index = 0;
    (void)value;
    if (field.length >= sizeof(name)) {
        met->bad = true;
        return;
    }
    memcpy(name, field.bytes, field.length);
    name[field.length] = '\0';
    if (sscanf(name, "field%u", &index) != 1 || index >= 2u * BIG_FIELDS) {
        met->bad = true;
        return;
    }
    met->visits++;
    met->repeats += (met->bits[index / 8] >> (index % 8)) & 1u;
    met->bits[index / 8] |= (uint8_t)(1u << (index % 8));
}

static void test_million(void)
{
    setup_default(256u << 20);
    uint64_t used_before = heap.used_bytes;
    char name[32];
    uint64_t start = now_ns();
    uint32_t failures = 0;
    for (uint32_t index = 0; index < BIG_FIELDS; index++) {
        struct slice field = big_field(name, index);
        char value[16];
        int length = snprintf(value, sizeof(value), "%u", index);
        struct slice number = {.bytes = (const uint8_t *)value, .length = (uint32_t)length};
        struct slice pair[] = {field, number};
        uint32_t added = 0;
        failures += hset(text("big"), pair, 1, false, &added) == STORE_OK && added == 1 ? 0u : 1u;
    }
    report_ns("HSET (fill)", start, BIG_FIELDS);
    CHECK(failures == 0 && hlen(text("big")) == BIG_FIELDS && !packed(text("big")));
    fprintf(stderr, "test_store_hash: 1M fields (\"field<n>\" = \"<n>\"): %.1f heap bytes/field\n",
            (double)(heap.used_bytes - used_before) / BIG_FIELDS);
    verify();
    big_timings();
    CHECK(hlen(text("big")) == BIG_FIELDS);
    /* HSCAN's cursor meets every field once with nothing changing; a window is distinct. */
    struct big_met met = {0};
    met.bits = big_met_bits;
    memset(big_met_bits, 0, sizeof(big_met_bits));
    uint32_t ref = hash_ref(text("big"));
    uint64_t cursor = 0;
    uint64_t calls = 0;
    start = now_ns();
    do {
        cursor = store_hash_scan(&store, ref, cursor, big_met_visit, &met);
        calls++;
    } while (cursor != 0 && calls <= 4ull * BIG_FIELDS);
    fprintf(stderr, "test_store_hash: 1M fields: a full HSCAN took %llu calls, %.1f ms\n",
            (unsigned long long)calls, (double)(now_ns() - start) / 1e6);
    CHECK(cursor == 0 && met.visits == BIG_FIELDS && met.repeats == 0 && !met.bad);
    memset(big_met_bits, 0, sizeof(big_met_bits));
    met = (struct big_met){.bits = big_met_bits};
    start = now_ns();
    store_hash_window(&store, ref, 10000, big_met_visit, &met);
    report_ns("HRANDFIELD 10000 (per field)", start, 10000);
    CHECK(met.visits == 10000 && met.repeats == 0 && !met.bad);
    /* DEL gives everything back. */
    start = now_ns();
    CHECK(store_delete(&store, text("big")));
    fprintf(stderr, "test_store_hash: 1M fields: DEL %.1f ms\n", (double)(now_ns() - start) / 1e6);
    CHECK(heap.used_bytes == used_before);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == allocations_empty());
}

/* ---- OOM on a full heap ------------------------------------------------------------- */

#define OOM_HEAP_BYTES (1u << 20)
#define OOM_FILLERS_MAX 40000u

static uint8_t oom_bytes[100000];

/* Pairs "<prefix><n>" = value of `value_bytes` bytes, for n in [first, first + count). */
#define OOM_TABLE_FIELDS (STORE_HASH_PACK_FIELDS_MAX + 88u)
static struct slice oom_names[OOM_TABLE_FIELDS];
static char oom_name_bytes[OOM_TABLE_FIELDS][24];

static uint32_t oom_pairs(struct slice *pairs, const char *prefix, uint32_t first,
                          uint32_t count, uint32_t value_bytes)
{
    KV_ASSERT(count <= OOM_TABLE_FIELDS);
    for (uint32_t index = 0; index < count; index++) {
        snprintf(oom_name_bytes[index], sizeof(oom_name_bytes[index]), "%s%u", prefix,
                 first + index);
        oom_names[index] = text(oom_name_bytes[index]);
        pairs[2 * index] = oom_names[index];
        pairs[2 * index + 1] = (struct slice){.bytes = oom_bytes, .length = value_bytes};
    }
    return count;
}

/* The hashes every case starts from: a pack of 20, a full pack (STORE_HASH_PACK_FIELDS_MAX
 * fields) and a table of OOM_TABLE_FIELDS. */
static void oom_prepare(void)
{
    static struct slice pairs[2u * OOM_TABLE_FIELDS];
    uint32_t added = 0;
    uint32_t count = oom_pairs(pairs, "p", 0, 20, 10);
    CHECK(hset(text("pack"), pairs, count, false, &added) == STORE_OK);
    count = oom_pairs(pairs, "c", 0, STORE_HASH_PACK_FIELDS_MAX, 12);
    CHECK(hset(text("full"), pairs, count, false, &added) == STORE_OK);
    count = oom_pairs(pairs, "t", 0, OOM_TABLE_FIELDS, 20);
    CHECK(hset(text("table"), pairs, count, false, &added) == STORE_OK);
    CHECK(packed(text("pack")) && packed(text("full")) && !packed(text("table")));
}

/* One write of each kind; its key. */
static enum store_status oom_write(uint32_t kind, struct slice *key)
{
    static struct slice pairs[2u * OOM_TABLE_FIELDS];
    uint32_t added = 0;
    uint32_t count = 0;
    switch (kind) {
    case 0: /* a pack rebuilt: two new fields, one grown */
        *key = text("pack");
        count = oom_pairs(pairs, "p", 18, 4, 30);
        break;
    case 1: /* a pack grown by one pair */
        *key = text("pack");
        count = oom_pairs(pairs, "p", 20, 1, 50);
        break;
    case 2: /* a pack past its fields' bound: the conversion */
        *key = text("full");
        count = oom_pairs(pairs, "c", STORE_HASH_PACK_FIELDS_MAX - 1, 3, 12);
        break;
    case 3: /* a pack given a long value: the conversion */
        *key = text("pack");
        count = oom_pairs(pairs, "p", 3, 1, 100);
        break;
    case 4: /* a table: new fields, a resized value, a same-size value, a repeated field */
        *key = text("table");
        count = oom_pairs(pairs, "t", OOM_TABLE_FIELDS - 2, 4, 2000);
        pairs[3].length = 20;
        pairs[8] = pairs[0];
        pairs[9] = (struct slice){.bytes = oom_bytes, .length = 7};
        pairs[10] = pairs[6];
        pairs[11] = (struct slice){.bytes = oom_bytes, .length = 40000};
        count = 6;
        break;
    case 5: /* a new small key */
        *key = text("new pack");
        count = oom_pairs(pairs, "n", 0, 5, 8);
        break;
    case 6: /* a new large key */
        *key = text("new table");
        count = oom_pairs(pairs, "m", 0, CONVERT_FIELDS, 8);
        break;
    default: /* HSETNX of a new field on a table */
        *key = text("table");
        count = oom_pairs(pairs, "x", 0, 1, 300);
        return hset(*key, pairs, 1, true, &added);
    }
    return hset(*key, pairs, count, false, &added);
}

#define OOM_KINDS 8u

/* The key oom_write(kind) writes. */
static struct slice oom_key(uint32_t kind)
{
    static const char *const keys[OOM_KINDS] = {"pack",     "pack",      "full", "pack",
                                                "table",    "new pack",  "new table", "table"};
    KV_ASSERT(kind < OOM_KINDS);
    return text(keys[kind]);
}

/* Fills the heap with strings of mixed sizes until nothing fits: large ones first, then
 * every size class down to the smallest (each may still have room in a span); returns how
 * many. */
static uint32_t oom_fill(void)
{
    static const uint32_t sizes[] = {40000, 5000, 700, 200, 60, 20, 1};
    uint32_t fillers = 0;
    char name[32];
    for (uint32_t pass = 0; pass < 2; pass++) {
        uint32_t size = 40000;
        /* Bounded: the first pass takes the listed sizes, the second every size down from
         * 40000 by steps of about 1/16 (one per heap class or finer). */
        for (uint32_t step = 0; step < 1000 && size > 0; step++) {
            /* Bounded by the heap's bytes: each filler takes some. */
            for (; fillers < OOM_FILLERS_MAX; fillers++) {
                snprintf(name, sizeof(name), "%u", fillers);
                struct slice value = {.bytes = oom_bytes, .length = size};
                if (store_string_set(&store, text(name), value) != STORE_OK) {
                    break;
                }
            }
            if (pass == 0) {
                size = step + 1 < sizeof(sizes) / sizeof(sizes[0]) ? sizes[step + 1] : 0;
            } else {
                size = size - size / 16 - 1;
            }
        }
    }
    CHECK(fillers < OOM_FILLERS_MAX);
    return fillers;
}

static void test_oom_kind(uint32_t kind)
{
    static uint8_t reference_bytes[SNAPSHOT_BYTES];
    static uint8_t before_bytes[SNAPSHOT_BYTES];
    static uint8_t after_bytes[SNAPSHOT_BYTES];
    static uint32_t order[OOM_FILLERS_MAX];
    struct slice key;
    /* The reference: the same write on a heap with room. */
    setup_default(64u << 20);
    oom_prepare();
    CHECK(oom_write(kind, &key) == STORE_OK);
    struct snapshot reference;
    snapshot_take(key, &reference, reference_bytes);
    bool reference_packed = packed(key);
    /* On a full heap: refused, unchanged, until enough fillers go. */
    setup_default(OOM_HEAP_BYTES);
    oom_prepare();
    uint32_t fillers = oom_fill();
    for (uint32_t index = 0; index < fillers; index++) {
        order[index] = index;
    }
    for (uint32_t index = fillers; index > 1; index--) {
        uint32_t other = (uint32_t)(random_next() % index);
        uint32_t swap = order[index - 1];
        order[index - 1] = order[other];
        order[other] = swap;
    }
    uint32_t refused = 0;
    enum store_status status = STORE_OOM;
    char name[32];
    for (uint32_t index = 0; index < fillers; index++) {
        key = oom_key(kind);
        struct snapshot before;
        snapshot_take(key, &before, before_bytes);
        uint64_t allocations = heap.allocations;
        uint64_t used = heap.used_bytes;
        bool was_packed = packed(key);
        status = oom_write(kind, &key);
        if (status == STORE_OK) {
            break;
        }
        struct snapshot after;
        snapshot_take(key, &after, after_bytes);
        CHECK(status == STORE_OOM);
        CHECK(snapshot_equal(&before, &after) && packed(key) == was_packed);
        CHECK(heap.allocations == allocations && heap.used_bytes == used);
        refused++;
        if (refused % 64 == 1) {
            verify();
        }
        snprintf(name, sizeof(name), "%u", order[index]);
        CHECK(store_delete(&store, text(name)));
    }
    CHECK(status == STORE_OK && refused > 0);
    CHECK(holds_exactly(key, &reference) && packed(key) == reference_packed);
    if (reference_packed) {
        struct snapshot got;
        snapshot_take(key, &got, after_bytes);
        CHECK(snapshot_equal(&got, &reference)); /* a pack's order too */
    }
    verify();
    fprintf(stderr, "test_store_hash: OOM write %u refused %u times, then done\n", kind,
            refused);
}

/* Each write kind fails where it must take memory, at whatever allocation the heap refuses. */
static void test_oom(void)
{
    for (uint32_t kind = 0; kind < OOM_KINDS; kind++) {
        test_oom_kind(kind);
    }
}

/* ---- Caps ------------------------------------------------------------------------------- */

static void test_caps(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = 3;
    config.key_size_max = 8;
    config.val_size_max = 16;
    config.list_length_max = 5;
    setup(4u << 20, &config);
    uint32_t added = 0;
    struct slice five[] = {text("f1"), text("v"), text("f2"), text("v"), text("f3"), text("v"),
                           text("f4"), text("v"), text("f5"), text("1234567890123456")};
    CHECK(hset(text("k1"), five, 5, false, &added) == STORE_OK && added == 5);
    uint64_t allocations = heap.allocations;
    struct slice one_more[] = {text("new"), text("v")};
    CHECK(hset(text("k1"), one_more, 1, false, &added) == STORE_HASH_FULL);
    struct slice existing_and_new[] = {text("f1"), text("changed"), text("new"), text("v")};
    CHECK(hset(text("k1"), existing_and_new, 2, false, &added) == STORE_HASH_FULL);
    CHECK(value_is(text("k1"), text("f1"), text("v")));
    /* At the cap, existing fields still change, and a field named twice counts once. */
    struct slice twice[] = {text("f1"), text("a"), text("f1"), text("b"), text("f2"), text("c")};
    CHECK(hset(text("k1"), twice, 3, false, &added) == STORE_OK && added == 0);
    CHECK(value_is(text("k1"), text("f1"), text("b")));
    struct slice long_field[] = {text("123456789"), text("v")};
    CHECK(hset(text("k1"), long_field, 1, false, &added) == STORE_FIELD_TOO_LONG);
    struct slice long_value[] = {text("f1"), text("12345678901234567")};
    CHECK(hset(text("k1"), long_value, 1, false, &added) == STORE_VALUE_TOO_LONG);
    CHECK(hset(text("123456789"), one_more, 1, false, &added) == STORE_KEY_TOO_LONG);
    CHECK(hset(text("k2"), one_more, 1, false, &added) == STORE_OK);
    CHECK(hset(text("k3"), one_more, 1, false, &added) == STORE_OK);
    CHECK(hset(text("k4"), one_more, 1, false, &added) == STORE_FULL);
    CHECK(hlen(text("k1")) == 5 && store_key_count(&store) == 3);
    struct slice nx[] = {text("f3"), text("x")};
    CHECK(hset(text("k1"), nx, 1, true, &added) == STORE_OK && added == 0);
    CHECK(heap.allocations >= allocations);
    verify();
}

/* ---- Seeded churn against a model ------------------------------------------------------ */

#define CHURN_KEYS 6u
#define CHURN_FIELDS 400u
#define CHURN_LONG_FIELD 380u /* ids from here have names past 64 bytes */

struct model_hash {
    uint16_t order[CHURN_FIELDS];   /* field ids in insertion order */
    uint32_t count;
    bool present[CHURN_FIELDS];
    uint32_t length[CHURN_FIELDS];  /* value bytes: (first + position) each */
    uint8_t first[CHURN_FIELDS];
    bool table;                     /* the encoding the store must have */
};

static struct model_hash model[CHURN_KEYS];
static uint32_t churn_conversions; /* writes that turned a model pack into a table */
static char churn_key_names[CHURN_KEYS][8];
static char churn_field_names[CHURN_FIELDS][80];
static uint8_t churn_values[CHURN_KEYS * 8][40000];

static struct slice churn_key(uint32_t key)
{
    return text(churn_key_names[key]);
}

static struct slice churn_field(uint32_t id)
{
    return text(churn_field_names[id]);
}

static bool churn_value_is(struct slice got, uint32_t length, uint8_t first)
{
    bool same = got.length == length;
    for (uint32_t at = 0; at < length && same; at++) {
        same = got.bytes[at] == (uint8_t)(first + at);
    }
    return same;
}

/* The model's side of a write of pairs (ids, lengths, firsts); Redis's conversion rule. */
static uint32_t model_set(struct model_hash *hash, const uint32_t *ids, const uint32_t *lengths,
                          const uint8_t *firsts, uint32_t pair_count)
{
    uint32_t added = 0;
    bool was_table = hash->table || hash->count == 0;
    for (uint32_t index = 0; index < pair_count; index++) {
        uint32_t id = ids[index];
        hash->table = hash->table || churn_field(id).length > STORE_HASH_PACK_BYTES_MAX ||
                      lengths[index] > STORE_HASH_PACK_BYTES_MAX;
        if (!hash->present[id]) {
            hash->present[id] = true;
            hash->order[hash->count++] = (uint16_t)id;
            added++;
        }
        hash->length[id] = lengths[index];
        hash->first[id] = firsts[index];
    }
    hash->table = hash->table || hash->count > STORE_HASH_PACK_FIELDS_MAX;
    churn_conversions += !was_table && hash->table ? 1u : 0u;
    return added;
}

static void model_delete(struct model_hash *hash, uint32_t id)
{
    hash->present[id] = false;
    uint32_t at = 0;
    while (hash->order[at] != id) {
        at++;
    }
    memmove(hash->order + at, hash->order + at + 1, (hash->count - at - 1) * sizeof(uint16_t));
    hash->count--;
    if (hash->count == 0) {
        hash->table = false; /* the key is gone: a new one starts small */
    }
}

/* The store's order of a pack against the model's. */
struct order_check {
    const struct model_hash *hash;
    uint32_t index;
    bool same;
};

static void order_visit(void *context, struct slice field, struct slice value)
{
    struct order_check *check = context;
    uint32_t id = check->hash->order[check->index];
    check->same = check->same && check->index < check->hash->count &&
                  slice_equal(field, churn_field(id)) &&
                  churn_value_is(value, check->hash->length[id], check->hash->first[id]);
    check->index++;
}

static void model_check(void)
{
    for (uint32_t key = 0; key < CHURN_KEYS; key++) {
        const struct model_hash *hash = &model[key];
        CHECK(hlen(churn_key(key)) == hash->count);
        if (hash->count == 0) {
            continue;
        }
        CHECK(packed(churn_key(key)) == !hash->table);
        for (uint32_t id = 0; id < CHURN_FIELDS; id++) {
            struct slice got;
            bool present = hget(churn_key(key), churn_field(id), &got);
            CHECK(present == hash->present[id]);
            CHECK(!present || churn_value_is(got, hash->length[id], hash->first[id]));
        }
        if (!hash->table) {
            struct order_check order = {.hash = hash, .same = true};
            store_hash_each(&store, hash_ref(churn_key(key)), order_visit, &order);
            CHECK(order.same && order.index == hash->count);
        }
    }
}

/* A random field id for a key: each key keeps to its own range, so some stay small. */
static uint32_t churn_pick_field(uint32_t key)
{
    static const uint32_t ranges[CHURN_KEYS] = {12, 60, 140, 380, 400, 200};
    return (uint32_t)(random_next() % ranges[key]);
}

static uint32_t churn_pick_length(uint32_t key)
{
    uint64_t roll = random_next() % 1000;
    if (key == 3 && roll < 5) {
        return 33000 + (uint32_t)(random_next() % 6000); /* past a small heap class */
    }
    if ((key == 1 || key == 5) && roll < 10) {
        return 65 + (uint32_t)(random_next() % 200);
    }
    return (uint32_t)(random_next() % 65);
}

static void churn_write(uint32_t key, bool only_new)
{
    uint32_t pair_count = only_new ? 1u : 1u + (uint32_t)(random_next() % 6);
    uint32_t ids[6];
    uint32_t lengths[6];
    uint8_t firsts[6];
    struct slice pairs[12];
    for (uint32_t index = 0; index < pair_count; index++) {
        ids[index] = churn_pick_field(key);
        if (index > 0 && random_next() % 4 == 0) {
            ids[index] = ids[random_next() % index]; /* a repeated field */
        }
        lengths[index] = churn_pick_length(key);
        firsts[index] = (uint8_t)random_next();
        uint8_t *bytes = churn_values[key * 8 + index];
        for (uint32_t at = 0; at < lengths[index]; at++) {
            bytes[at] = (uint8_t)(firsts[index] + at);
        }
        pairs[2 * index] = churn_field(ids[index]);
        pairs[2 * index + 1] = (struct slice){.bytes = bytes, .length = lengths[index]};
    }
    uint32_t added = 0;
    CHECK(hset(churn_key(key), pairs, pair_count, only_new, &added) == STORE_OK);
    if (only_new && model[key].present[ids[0]]) {
        CHECK(added == 0);
        return;
    }
    CHECK(added == model_set(&model[key], ids, lengths, firsts, pair_count));
}

static void churn_delete(uint32_t key)
{
    uint32_t field_count = 1u + (uint32_t)(random_next() % 4);
    struct slice fields[4];
    uint32_t ids[4];
    for (uint32_t index = 0; index < field_count; index++) {
        ids[index] = churn_pick_field(key);
        fields[index] = churn_field(ids[index]);
    }
    uint32_t removed = hdel(churn_key(key), fields, field_count);
    uint32_t want = 0;
    for (uint32_t index = 0; index < field_count; index++) {
        if (model[key].present[ids[index]]) {
            model_delete(&model[key], ids[index]);
            want++;
        }
    }
    CHECK(removed == want);
}

static void test_churn(void)
{
    setup_default(16u << 20); /* heap_verify walks every page at every step: keep it small */
    memset(model, 0, sizeof(model));
    for (uint32_t key = 0; key < CHURN_KEYS; key++) {
        snprintf(churn_key_names[key], sizeof(churn_key_names[key]), "h%u", key);
    }
    for (uint32_t id = 0; id < CHURN_FIELDS; id++) {
        if (id < CHURN_LONG_FIELD) {
            snprintf(churn_field_names[id], sizeof(churn_field_names[id]), "f%u", id);
        } else {
            snprintf(churn_field_names[id], sizeof(churn_field_names[id]),
                     "a field name longer than the sixty-four bytes of a pack: %u", id);
        }
    }
    for (uint32_t step = 0; step < 30000; step++) {
        uint32_t key = (uint32_t)(random_next() % CHURN_KEYS);
        uint32_t op = (uint32_t)(random_next() % 100);
        if (op < 55) {
            churn_write(key, false);
        } else if (op < 62) {
            churn_write(key, true);
        } else if (op < 99) {
            churn_delete(key);
        } else {
            CHECK(store_delete(&store, churn_key(key)) == (model[key].count > 0));
            memset(&model[key], 0, sizeof(model[key]));
        }
        CHECK(store_verify(&store) == heap.allocations);
        if (step % 64 == 0) {
            heap_verify(&heap); /* walks every page: not at every step */
        }
        if (step % 500 == 0) {
            model_check();
        }
    }
    model_check();
    fprintf(stderr, "test_store_hash: churn: 30000 steps, %u packs converted to tables\n",
            churn_conversions);
    CHECK(churn_conversions > 10);
    store_flush(&store);
    CHECK(heap.allocations == allocations_empty());
}

/* ---- Shapes ----------------------------------------------------------------------------- */

#define SHAPE_KEYS 200u
#define SHAPE_NAMES 5u

/* A model hash: its fields (indexes into shape_names) in insertion order, and their values. */
struct shape_model {
    uint32_t count;
    uint32_t names[SHAPE_NAMES];
    uint32_t values[SHAPE_NAMES];
};

static const char *const shape_names[SHAPE_NAMES] = {"name", "email", "level", "x", "y"};
static struct shape_model shape_model[SHAPE_KEYS];

static struct slice shape_key(uint32_t key, char *buffer, size_t size)
{
    snprintf(buffer, size, "user:%u", key);
    return text(buffer);
}

static struct slice shape_value(uint32_t value, char *buffer, size_t size)
{
    snprintf(buffer, size, "value-%08u", value);
    return text(buffer);
}

/* The visit of store_hash_each: the model's next pair, in order. */
struct shape_check {
    const struct shape_model *hash;
    uint32_t at;
};

static void shape_check_visit(void *context, struct slice field, struct slice value)
{
    struct shape_check *check = context;
    CHECK(check->at < check->hash->count);
    if (check->at >= check->hash->count) {
        return;
    }
    char buffer[32];
    CHECK(slice_equal(field, text(shape_names[check->hash->names[check->at]])));
    CHECK(slice_equal(value, shape_value(check->hash->values[check->at], buffer,
                                         sizeof(buffer))));
    check->at++;
}

static void shape_model_check(uint32_t key)
{
    char key_buffer[32];
    struct slice name = shape_key(key, key_buffer, sizeof(key_buffer));
    const struct shape_model *hash = &shape_model[key];
    uint32_t ref = hash_ref(name);
    CHECK((ref != 0) == (hash->count > 0));
    if (ref == 0) {
        return;
    }
    CHECK(store_hash_length(&store, ref) == hash->count);
    struct shape_check check = {.hash = hash, .at = 0};
    store_hash_each(&store, ref, shape_check_visit, &check);
    CHECK(check.at == hash->count);
    for (uint32_t index = 0; index < hash->count; index++) {
        struct slice value;
        char buffer[32];
        CHECK(hget(name, text(shape_names[hash->names[index]]), &value));
        CHECK(slice_equal(value, shape_value(hash->values[index], buffer, sizeof(buffer))));
    }
}

/* Sets field `id` of the model (appended when new). */
static void shape_model_set(struct shape_model *hash, uint32_t id, uint32_t value)
{
    for (uint32_t index = 0; index < hash->count; index++) {
        if (hash->names[index] == id) {
            hash->values[index] = value;
            return;
        }
    }
    hash->names[hash->count] = id;
    hash->values[hash->count] = value;
    hash->count++;
}

static void shape_model_delete(struct shape_model *hash, uint32_t id)
{
    for (uint32_t index = 0; index < hash->count; index++) {
        if (hash->names[index] == id) {
            memmove(&hash->names[index], &hash->names[index + 1],
                    (hash->count - index - 1) * sizeof(uint32_t));
            memmove(&hash->values[index], &hash->values[index + 1],
                    (hash->count - index - 1) * sizeof(uint32_t));
            hash->count--;
            return;
        }
    }
}

static uint8_t shaped_encoding(uint32_t key)
{
    char buffer[32];
    uint32_t ref = hash_ref(shape_key(key, buffer, sizeof(buffer)));
    return ref != 0 ? store_key_encoding(store_key(&store, ref)) : 0xff;
}

/* The second hash with a field list is shaped, the first only at its next write; a write
 * that changes the list makes a pack (a list met once) or a record (met before). */
static void test_shapes_rules(void)
{
    setup_default(16u << 20);
    const struct shape_registry *registry = store.type_state[STORE_TYPE_HASH];
    char key_buffer[32];
    char value_buffers[SHAPE_NAMES][32];
    struct slice pairs[2u * SHAPE_NAMES];
    for (uint32_t index = 0; index < SHAPE_NAMES; index++) {
        pairs[2 * index] = text(shape_names[index]);
        pairs[2 * index + 1] = shape_value(index, value_buffers[index], sizeof(value_buffers[0]));
    }
    uint32_t added = 0;
    for (uint32_t key = 0; key < 3; key++) {
        CHECK(hset(shape_key(key, key_buffer, sizeof(key_buffer)), pairs, SHAPE_NAMES, false,
                   &added) == STORE_OK);
        CHECK(added == SHAPE_NAMES);
        shape_model[key].count = 0;
        for (uint32_t index = 0; index < SHAPE_NAMES; index++) {
            shape_model_set(&shape_model[key], index, index);
        }
    }
    CHECK(shaped_encoding(0) == STORE_HASH_PACK);
    CHECK(shaped_encoding(1) == STORE_HASH_SHAPED);
    CHECK(shaped_encoding(2) == STORE_HASH_SHAPED);
    CHECK(shape_count(registry) == 1);
    char buffer[32];
    /* Ten more share the shape: a record's share of it is a tenth or less. */
    for (uint32_t key = 3; key < 13; key++) {
        CHECK(hset(shape_key(key, key_buffer, sizeof(key_buffer)), pairs, SHAPE_NAMES, false,
                   &added) == STORE_OK);
        CHECK(shaped_encoding(key) == STORE_HASH_SHAPED);
    }
    CHECK(shape_count(registry) == 1);
    uint64_t pack_bytes = store_memory(&store, hash_ref(shape_key(0, key_buffer, 32)));
    uint64_t record_bytes = store_memory(&store, hash_ref(shape_key(1, key_buffer, 32)));
    fprintf(stderr, "test_store_hash: a 5-field hash as a pack: %llu bytes, shaped: %llu "
            "(its share of the shape included)\n", (unsigned long long)pack_bytes,
            (unsigned long long)record_bytes);
    CHECK(record_bytes < pack_bytes);
    /* A value rewritten keeps the list: the record stays one. */
    struct slice update[2] = {text("level"), shape_value(77, buffer, sizeof(buffer))};
    CHECK(hset(shape_key(1, key_buffer, 32), update, 1, false, &added) == STORE_OK);
    CHECK(added == 0);
    shape_model_set(&shape_model[1], 2, 77);
    CHECK(shaped_encoding(1) == STORE_HASH_SHAPED);
    /* The first hash's write makes it a record too. */
    CHECK(hset(shape_key(0, key_buffer, 32), update, 1, false, &added) == STORE_OK);
    shape_model_set(&shape_model[0], 2, 77);
    CHECK(shaped_encoding(0) == STORE_HASH_SHAPED);
    /* HDEL of a field makes a new list: met once, a pack; met twice, a record. */
    struct slice gone = text("email");
    uint32_t removed = 0;
    struct store_found found;
    CHECK(store_find_typed(&store, shape_key(1, key_buffer, 32), STORE_TYPE_HASH, &found) ==
          STORE_OK);
    CHECK(store_hash_delete(&store, &found, &gone, 1, &removed) == STORE_OK && removed == 1);
    shape_model_delete(&shape_model[1], 1);
    CHECK(shaped_encoding(1) == STORE_HASH_PACK);
    CHECK(store_find_typed(&store, shape_key(2, key_buffer, 32), STORE_TYPE_HASH, &found) ==
          STORE_OK);
    CHECK(store_hash_delete(&store, &found, &gone, 1, &removed) == STORE_OK && removed == 1);
    shape_model_delete(&shape_model[2], 1);
    CHECK(shaped_encoding(2) == STORE_HASH_SHAPED);
    CHECK(shape_count(registry) == 2);
    /* An HDEL of absent fields changes nothing, not even the encoding. */
    struct slice absent = text("nope");
    CHECK(store_find_typed(&store, shape_key(0, key_buffer, 32), STORE_TYPE_HASH, &found) ==
          STORE_OK);
    CHECK(store_hash_delete(&store, &found, &absent, 1, &removed) == STORE_OK && removed == 0);
    CHECK(shaped_encoding(0) == STORE_HASH_SHAPED);
    for (uint32_t key = 0; key < 3; key++) {
        shape_model_check(key);
    }
    verify();
    /* Each shape goes with its last hash. */
    CHECK(store_delete(&store, shape_key(2, key_buffer, 32)));
    CHECK(shape_count(registry) == 1);
    for (uint32_t key = 3; key < 13; key++) {
        CHECK(store_delete(&store, shape_key(key, key_buffer, 32)));
    }
    CHECK(shape_count(registry) == 1); /* hash 0 still names it */
    store_flush(&store);
    CHECK(heap.allocations == allocations_empty());
}

/* Seeded random writes over hashes of five names, most in one order (shared lists), checked
 * against the model after every step. */
static void test_shapes_model(void)
{
    setup_default(16u << 20);
    memset(shape_model, 0, sizeof(shape_model));
    const struct shape_registry *registry = store.type_state[STORE_TYPE_HASH];
    uint32_t shaped_seen = 0;
    uint64_t shapes_max = 0;
    char key_buffer[32];
    char value_buffers[SHAPE_NAMES][32];
    /* Bounded: 20,000 steps. */
    for (uint32_t step = 0; step < 20000; step++) {
        uint32_t key = (uint32_t)(random_next() % SHAPE_KEYS);
        struct slice name = shape_key(key, key_buffer, sizeof(key_buffer));
        uint32_t roll = (uint32_t)(random_next() % 10);
        if (roll < 4) { /* the whole object, in the usual order */
            struct slice pairs[2u * SHAPE_NAMES];
            uint32_t count = 3u + (uint32_t)(random_next() % 3);
            for (uint32_t index = 0; index < count; index++) {
                uint32_t value = (uint32_t)(random_next() % 1000);
                pairs[2 * index] = text(shape_names[index]);
                pairs[2 * index + 1] = shape_value(value, value_buffers[index], 32);
                shape_model_set(&shape_model[key], index, value);
            }
            uint32_t added = 0;
            CHECK(hset(name, pairs, count, false, &added) == STORE_OK);
        } else if (roll < 8) { /* one field, any */
            uint32_t id = (uint32_t)(random_next() % SHAPE_NAMES);
            uint32_t value = (uint32_t)(random_next() % 1000);
            struct slice pair[2] = {text(shape_names[id]),
                                    shape_value(value, value_buffers[0], 32)};
            uint32_t added = 0;
            CHECK(hset(name, pair, 1, false, &added) == STORE_OK);
            shape_model_set(&shape_model[key], id, value);
        } else { /* HDEL of one or two fields */
            struct slice fields[2];
            uint32_t ids[2] = {(uint32_t)(random_next() % SHAPE_NAMES),
                               (uint32_t)(random_next() % SHAPE_NAMES)};
            fields[0] = text(shape_names[ids[0]]);
            fields[1] = text(shape_names[ids[1]]);
            uint32_t before = shape_model[key].count;
            shape_model_delete(&shape_model[key], ids[0]);
            shape_model_delete(&shape_model[key], ids[1]);
            CHECK(hdel(name, fields, 2) == before - shape_model[key].count);
        }
        shaped_seen += shaped_encoding(key) == STORE_HASH_SHAPED ? 1u : 0u;
        shapes_max = shape_count(registry) > shapes_max ? shape_count(registry) : shapes_max;
        shape_model_check(key);
        CHECK(store_verify(&store) == heap.allocations);
    }
    for (uint32_t key = 0; key < SHAPE_KEYS; key++) {
        shape_model_check(key);
    }
    fprintf(stderr, "test_store_hash: shapes: 20000 steps, shaped after %u, at most %llu "
            "shapes\n", shaped_seen, (unsigned long long)shapes_max);
    CHECK(shaped_seen > 5000);
    CHECK(shapes_max > 3);
    store_flush(&store);
    CHECK(heap.allocations == allocations_empty());
}

/* ---- Memory per small hash (the report's comparison with Redis) ------------------------ */

static void test_memory(void)
{
    setup_default(128u << 20);
    uint64_t used_before = heap.used_bytes;
    char key[32];
    char fields[10][8];
    char value[21];
    memset(value, 'v', 20);
    value[20] = '\0';
    struct slice pairs[20];
    for (uint32_t index = 0; index < 10; index++) {
        snprintf(fields[index], sizeof(fields[index]), "field%u", index);
        pairs[2 * index] = text(fields[index]);
        pairs[2 * index + 1] = text(value);
    }
    for (uint32_t hash = 0; hash < 100000; hash++) {
        snprintf(key, sizeof(key), "hash:%06u", hash);
        uint32_t added = 0;
        CHECK(hset(text(key), pairs, 10, false, &added) == STORE_OK && added == 10);
    }
    CHECK(packed(text("hash:000001")));
    /* The first hash is a pack (its list was new); the others are records of one shape. */
    uint32_t ref = hash_ref(text("hash:000001"));
    CHECK(store_key_encoding(store_key(&store, ref)) == STORE_HASH_SHAPED);
    uint64_t object_bytes = heap_usable_bytes(&heap, store_key(&store, ref));
    fprintf(stderr, "test_store_hash: 100k hashes of 10 fields (6-byte names, 20-byte values, "
            "11-byte keys): %.1f heap bytes each (key object %llu + value %llu + keyspace "
            "buckets)\n", (double)(heap.used_bytes - used_before) / 100000.0,
            (unsigned long long)object_bytes,
            (unsigned long long)(store_memory(&store, ref) - object_bytes));
    verify();
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store_hash: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    seed_state = seed;
    test_small();
    test_conversions();
    test_random_and_scan();
    test_shapes_rules();
    test_shapes_model();
    test_million();
    test_oom();
    test_caps();
    test_churn();
    test_memory();
    return check_exit("test_store_hash");
}
