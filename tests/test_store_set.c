/*
 * Proves sets on the heap (store_set.c). Members go to an intset while every one is an
 * integer as Redis decides it and there are at most 512 (read back in ascending order), to a
 * pack while at most 128 members of at most 64 bytes, else to a table (a dict of entries),
 * converting only upwards at those bounds, both by single adds and by adds of many members
 * at once. A seeded churn (KV_SEED replays it) of SADD, SREM, SPOP, SRANDMEMBER, SMOVE and
 * STORE results against a model checks members, counts, the predicted encoding, the walk
 * (every member once) and store_verify's tally == heap.allocations after every step. A set
 * of a million members is built and its reads and writes timed (printed, not asserted). On
 * a heap filled to the last byte every write that needs memory answers STORE_OOM and
 * changes nothing (every member read back, the heap's counters equal), removes still work,
 * SRANDMEMBER falls back to a walk; once memory is given back the same writes succeed. The
 * seed's caps give kv's errors. The memory of a set of 20 small integers and of 20 short
 * strings (key object and value, heap rounding included) is printed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_set.h"
#include "store_string.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;

/* Allocations the test holds outside the store (the fillers of a full heap). */
static uint64_t filler_count;

/* The process's CPU time: timings stay meaningful on a busy host. */
static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A fresh region, heap and store of `heap_bytes`, with the config's caps. */
static void setup(uint64_t heap_bytes, const struct config *caps)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    store_config = *caps; /* the store keeps the pointer: it must outlive the caller's */
    store_init(&store, &heap, &store_config, 12345);
    store_string_init(&store);
    store_set_init(&store);
    store_clock(&store, 1000000);
    filler_count = 0;
}

static void setup_default(uint64_t heap_bytes)
{
    struct config config;
    fixture_caps_none(&config);
    setup(heap_bytes, &config);
}

/* The store's tally (plus the test's fillers) must equal what the heap handed out. */
static void verify(void)
{
    CHECK(store_verify(&store) + filler_count == heap.allocations);
    heap_verify(&heap);
}

static enum store_status sadd(const char *key, const struct slice *members, uint32_t count,
                              uint32_t *added)
{
    struct store_found found;
    (void)store_find_typed(&store, text(key), STORE_TYPE_ANY, &found);
    return store_set_add(&store, &found, text(key), members, count, added);
}

static uint32_t srem(const char *key, const struct slice *members, uint32_t count)
{
    struct store_found found;
    if (store_find_typed(&store, text(key), STORE_TYPE_SET, &found) != STORE_OK) {
        return 0;
    }
    return store_set_remove(&store, &found, members, count);
}

/* The set at `key`: its key object's reference, or HEAP_REF_NONE. */
static uint32_t set_ref(const char *key)
{
    struct store_found found;
    return store_find_typed(&store, text(key), STORE_TYPE_SET, &found) == STORE_OK
               ? found.key_ref
               : HEAP_REF_NONE;
}

static int encoding_of(const char *key)
{
    uint32_t key_ref = set_ref(key);
    return key_ref == HEAP_REF_NONE ? -1 : store_set_encoding(&store, key_ref);
}

/* ---- Encodings and conversions ---------------------------------------------------------- */

static char numbers[2000][24];
static struct slice number_slices[2000];

/* number_slices[i] = the decimal text of `base + i * step`. */
static void numbers_fill(int64_t base, int64_t step, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        snprintf(numbers[index], sizeof(numbers[index]), "%lld",
                 (long long)(base + (int64_t)index * step));
        number_slices[index] = text(numbers[index]);
    }
}

/* Whether the walk of `key` yields exactly `want` (in order when ordered, else as a set). */
static bool walk_is(const char *key, const struct slice *want, uint32_t count, bool ordered)
{
    uint32_t key_ref = set_ref(key);
    if (key_ref == HEAP_REF_NONE || store_set_count(&store, key_ref) != count) {
        return false;
    }
    struct store_set_cursor cursor;
    store_set_cursor_start(&store, key_ref, &cursor);
    struct slice member;
    uint32_t index = 0;
    bool same = true;
    while (store_set_cursor_next(&store, &cursor, &member)) {
        same = same && index < count &&
               (ordered ? slice_equal(member, want[index])
                        : store_set_contains(&store, key_ref, member));
        index++;
    }
    /* Every wanted member is there too. */
    for (uint32_t at = 0; at < count; at++) {
        same = same && store_set_contains(&store, key_ref, want[at]);
    }
    return same && index == count;
}

static void test_encodings(void)
{
    setup_default(16u << 20);
    uint32_t added = 0;
    /* Integers, any order, repeats: an intset answering in ascending order. */
    numbers_fill(-3, 1, 8); /* -3 .. 4 */
    struct slice shuffled[] = {number_slices[5], number_slices[0], number_slices[7],
                               number_slices[0], number_slices[3], number_slices[1],
                               number_slices[2], number_slices[4], number_slices[6]};
    CHECK(sadd("ints", shuffled, 9, &added) == STORE_OK && added == 8);
    CHECK(encoding_of("ints") == STORE_ENCODING_RAW);
    CHECK(walk_is("ints", number_slices, 8, true));
    /* Text that is not an integer the way Redis reads it goes to a pack. */
    const char *strings[] = {"01", "+1", "-0", " 1", "1 ", "1.0", "", "9223372036854775808"};
    for (uint32_t index = 0; index < 8; index++) {
        char name[16];
        snprintf(name, sizeof(name), "s%u", index);
        struct slice one = text(strings[index]);
        CHECK(sadd(name, &one, 1, &added) == STORE_OK && added == 1);
        CHECK(encoding_of(name) == STORE_ENCODING_ROOT);
    }
    struct slice extreme[] = {text("-9223372036854775808"), text("9223372036854775807"),
                              text("0")};
    CHECK(sadd("wide", extreme, 3, &added) == STORE_OK && added == 3);
    CHECK(encoding_of("wide") == STORE_ENCODING_RAW);
    CHECK(walk_is("wide", (struct slice[]){extreme[0], extreme[2], extreme[1]}, 3, true));
    /* An intset gaining a string: a pack holding both, in intset order, then the string. */
    struct slice word = text("word");
    CHECK(sadd("ints", &word, 1, &added) == STORE_OK && added == 1);
    CHECK(encoding_of("ints") == STORE_ENCODING_ROOT);
    struct slice mixed[9];
    memcpy(mixed, number_slices, 8 * sizeof(struct slice));
    mixed[8] = word;
    CHECK(walk_is("ints", mixed, 9, true));
    /* Never back: removing the string leaves a pack of integers. */
    CHECK(srem("ints", &word, 1) == 1 && encoding_of("ints") == STORE_ENCODING_ROOT);
    verify();
    /* 512 integers stay an intset; the 513th converts to a table (one at a time). */
    numbers_fill(1000, 7, 513);
    for (uint32_t index = 0; index < 512; index++) {
        CHECK(sadd("big", &number_slices[511 - index], 1, &added) == STORE_OK && added == 1);
    }
    CHECK(encoding_of("big") == STORE_ENCODING_RAW && walk_is("big", number_slices, 512, true));
    CHECK(sadd("big", &number_slices[512], 1, &added) == STORE_OK && added == 1);
    CHECK(encoding_of("big") == STORE_ENCODING_ROOT2);
    CHECK(walk_is("big", number_slices, 513, false));
    /* 513 integers in one SADD: a table at once; 512: an intset at once. */
    CHECK(sadd("big2", number_slices, 513, &added) == STORE_OK && added == 513);
    CHECK(encoding_of("big2") == STORE_ENCODING_ROOT2);
    CHECK(sadd("big3", number_slices, 512, &added) == STORE_OK && added == 512);
    CHECK(encoding_of("big3") == STORE_ENCODING_RAW);
    /* An intset of 200 gaining a string: too many for a pack, a table. */
    struct slice two_hundred[201];
    memcpy(two_hundred, number_slices, 200 * sizeof(struct slice));
    CHECK(sadd("i200", two_hundred, 200, &added) == STORE_OK);
    CHECK(sadd("i200", &word, 1, &added) == STORE_OK);
    CHECK(encoding_of("i200") == STORE_ENCODING_ROOT2);
    two_hundred[200] = word;
    CHECK(walk_is("i200", two_hundred, 201, false));
    verify();
    /* A pack: 128 members stay, the 129th converts; a member past 64 bytes converts too. */
    static char names[200][16];
    static struct slice name_slices[200];
    for (uint32_t index = 0; index < 200; index++) {
        snprintf(names[index], sizeof(names[index]), "m:%u", index);
        name_slices[index] = text(names[index]);
    }
    CHECK(sadd("p", name_slices, 100, &added) == STORE_OK && added == 100);
    CHECK(sadd("p", name_slices + 90, 38, &added) == STORE_OK && added == 28);
    CHECK(encoding_of("p") == STORE_ENCODING_ROOT && walk_is("p", name_slices, 128, true));
    CHECK(sadd("p", name_slices + 128, 1, &added) == STORE_OK && added == 1);
    CHECK(encoding_of("p") == STORE_ENCODING_ROOT2 && walk_is("p", name_slices, 129, false));
    char long_member[65];
    memset(long_member, 'x', sizeof(long_member));
    struct slice sixty_four = {(const uint8_t *)long_member, 64};
    struct slice sixty_five = {(const uint8_t *)long_member, 65};
    CHECK(sadd("q", &sixty_four, 1, &added) == STORE_OK && encoding_of("q") == STORE_ENCODING_ROOT);
    CHECK(sadd("q", &sixty_five, 1, &added) == STORE_OK &&
          encoding_of("q") == STORE_ENCODING_ROOT2);
    CHECK(sadd("q2", &sixty_five, 1, &added) == STORE_OK &&
          encoding_of("q2") == STORE_ENCODING_ROOT2);
    verify();
    /* The last member takes the key with it, in every encoding. */
    CHECK(srem("q", (struct slice[]){sixty_four, sixty_five, word}, 3) == 2);
    CHECK(encoding_of("q") == -1);
    CHECK(srem("wide", extreme, 3) == 3 && encoding_of("wide") == -1);
    CHECK(srem("s0", (struct slice[]){text("01")}, 1) == 1 && encoding_of("s0") == -1);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- The model churn --------------------------------------------------------------------- */

#define UNIVERSE 2000u
#define MODEL_KEYS 12u

/* Members: 0..599 small integers, 600..799 wide ones, 800..1699 short strings (the first few
 * look like integers but are not), 1700..1999 strings past 64 bytes. */
static char universe_bytes[UNIVERSE][112];
static struct slice universe[UNIVERSE];
static bool universe_integer[UNIVERSE];
static int64_t universe_value[UNIVERSE];

static void universe_init(void)
{
    static const char *const lookalikes[] = {"", "01", "+5", "-0", " 7", "007", "1.0",
                                             "9223372036854775808", "1e3", "0x10"};
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        char *at = universe_bytes[id];
        universe_integer[id] = id < 800;
        if (id < 600) {
            universe_value[id] = (int64_t)id - 300;
        } else if (id < 800) {
            universe_value[id] = ((int64_t)id - 700) * 46116860184273879ll + 1000;
            universe_value[id] = id == 798 ? INT64_MAX : id == 799 ? INT64_MIN : universe_value[id];
        }
        if (id < 800) {
            snprintf(at, sizeof(universe_bytes[id]), "%lld", (long long)universe_value[id]);
        } else if (id < 810) {
            snprintf(at, sizeof(universe_bytes[id]), "%s", lookalikes[id - 800]);
        } else if (id < 1700) {
            snprintf(at, sizeof(universe_bytes[id]), "member:%u", id);
        } else {
            uint32_t length = 65 + id % 40;
            memset(at, 'a' + id % 26, length);
            snprintf(at, 12, "L%u:", id);
            at[strlen(at)] = '-';
            at[length] = '\0';
        }
        universe[id] = text(at);
    }
}

/* An open-addressing index over the universe's bytes (FNV-1a), so that walks check fast. */
#define UNIVERSE_SLOTS 4096u

static uint32_t universe_slots[UNIVERSE_SLOTS]; /* id + 1; 0: empty */

static uint32_t universe_hash(struct slice member)
{
    uint32_t hash = 2166136261u;
    for (uint32_t at = 0; at < member.length; at++) {
        hash = (hash ^ member.bytes[at]) * 16777619u;
    }
    return hash & (UNIVERSE_SLOTS - 1);
}

/* The id of a member's bytes, or UINT32_MAX. */
static uint32_t universe_find(struct slice member)
{
    uint32_t slot = universe_hash(member);
    for (uint32_t probe = 0; probe < UNIVERSE_SLOTS && universe_slots[slot] != 0; probe++) {
        uint32_t id = universe_slots[slot] - 1;
        if (slice_equal(universe[id], member)) {
            return id;
        }
        slot = (slot + 1) & (UNIVERSE_SLOTS - 1);
    }
    return UINT32_MAX;
}

static void universe_index(void)
{
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        CHECK(universe_find(universe[id]) == UINT32_MAX); /* every member distinct */
        uint32_t slot = universe_hash(universe[id]);
        while (universe_slots[slot] != 0) {
            slot = (slot + 1) & (UNIVERSE_SLOTS - 1);
        }
        universe_slots[slot] = id + 1;
    }
}

struct model_set {
    uint8_t has[UNIVERSE];
    uint32_t count;
    int encoding; /* -1: absent */
};

static struct model_set model[MODEL_KEYS];

static void model_name(uint32_t index, char name[16])
{
    snprintf(name, 16, "set:%u", index);
}

/* The encoding rule as the design states it. */
static int expect_encoding(int from, uint32_t total, bool all_integer, uint32_t length_max)
{
    if (from == STORE_ENCODING_ROOT2) {
        return STORE_ENCODING_ROOT2;
    }
    if ((from == -1 || from == STORE_ENCODING_RAW) && all_integer && total <= 512) {
        return STORE_ENCODING_RAW;
    }
    if (total <= 128 && length_max <= 64) {
        return STORE_ENCODING_ROOT;
    }
    return STORE_ENCODING_ROOT2;
}

/* The model gains the distinct ids it lacks; returns how many. */
static uint32_t model_add(struct model_set *set, const uint32_t *ids, uint32_t count)
{
    uint8_t fresh[UNIVERSE] = {0};
    bool all_integer = true;
    uint32_t length_max = 0;
    uint32_t added = 0;
    for (uint32_t index = 0; index < count; index++) {
        uint32_t id = ids[index];
        if (set->has[id] || fresh[id]) {
            continue;
        }
        fresh[id] = 1;
        added++;
        all_integer = all_integer && universe_integer[id];
        length_max = universe[id].length > length_max ? universe[id].length : length_max;
    }
    if (added == 0) {
        return 0;
    }
    set->encoding = expect_encoding(set->encoding, set->count + added, all_integer, length_max);
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        set->has[id] |= fresh[id];
    }
    set->count += added;
    return added;
}

static void model_remove(struct model_set *set, uint32_t id)
{
    if (set->has[id]) {
        set->has[id] = 0;
        set->count--;
    }
    if (set->count == 0) {
        set->encoding = -1;
    }
}

/* Reads a key back against its model: presence, count, encoding, every member, the walk. */
static void model_check(uint32_t index, bool every_member)
{
    char name[16];
    model_name(index, name);
    const struct model_set *set = &model[index];
    uint32_t key_ref = set_ref(name);
    CHECK((key_ref != HEAP_REF_NONE) == (set->count > 0));
    if (key_ref == HEAP_REF_NONE) {
        return;
    }
    CHECK(store_set_count(&store, key_ref) == set->count);
    CHECK(store_set_encoding(&store, key_ref) == set->encoding);
    for (uint32_t id = 0; every_member && id < UNIVERSE; id++) {
        CHECK(store_set_contains(&store, key_ref, universe[id]) == (set->has[id] != 0));
    }
    uint8_t seen[UNIVERSE] = {0};
    struct store_set_cursor cursor;
    struct slice member;
    uint32_t walked = 0;
    int64_t last = INT64_MIN;
    store_set_cursor_start(&store, key_ref, &cursor);
    while (store_set_cursor_next(&store, &cursor, &member)) {
        uint32_t id = universe_find(member);
        CHECK(id < UNIVERSE && set->has[id] && !seen[id]);
        if (id < UNIVERSE && set->encoding == STORE_ENCODING_RAW) {
            CHECK(walked == 0 || universe_value[id] > last); /* ascending */
            last = universe_value[id];
        }
        seen[id < UNIVERSE ? id : 0] = 1;
        walked++;
    }
    CHECK(walked == set->count);
}

/* Random member ids of a flavor: the key's index picks integers, small ones, short strings
 * and integers, or anything, so that some sets stay intsets or packs. */
static uint32_t random_member(uint32_t index)
{
    switch (index % 4) {
    case 0:
        return random_below(600);
    case 1:
        return random_below(800);
    case 2:
        return random_below(2) ? random_below(600) : 800 + random_below(900);
    default:
        return random_below(UNIVERSE);
    }
}

static void churn_add(uint32_t index)
{
    static uint32_t ids[400];
    static struct slice members[400];
    uint32_t count = random_below(10) == 0 ? 50 + random_below(300) : 1 + random_below(8);
    for (uint32_t at = 0; at < count; at++) {
        ids[at] = random_member(index);
        members[at] = universe[ids[at]];
    }
    char name[16];
    model_name(index, name);
    uint32_t added = 0;
    int from = model[index].encoding;
    uint32_t size = model[index].count;
    CHECK(sadd(name, members, count, &added) == STORE_OK);
    uint32_t want = model_add(&model[index], ids, count);
    CHECK(added == want);
    if (added != want) {
        fprintf(stderr, "test_store_set: key %u (encoding %d, %u members) added %u of %u, "
                        "not %u\n", index, from, size, added, count, want);
    }
}

static void churn_remove(uint32_t index)
{
    static struct slice members[400];
    static uint32_t ids[400];
    uint32_t count = random_below(8) == 0 ? 100 + random_below(300) : 1 + random_below(8);
    for (uint32_t at = 0; at < count; at++) {
        ids[at] = random_member(index);
        members[at] = universe[ids[at]];
    }
    uint32_t want = 0;
    for (uint32_t at = 0; at < count; at++) {
        want += model[index].has[ids[at]] ? 1 : 0;
        model_remove(&model[index], ids[at]);
    }
    char name[16];
    model_name(index, name);
    CHECK(srem(name, members, count) == want);
}

/* SPOP's and SRANDMEMBER's visitor: the ids met, in order. */
struct visited {
    uint32_t ids[UNIVERSE];
    uint32_t count;
};

static void visit_note(void *context, struct slice member)
{
    struct visited *visited = context;
    uint32_t id = universe_find(member);
    CHECK(id < UNIVERSE);
    if (visited->count < UNIVERSE) {
        visited->ids[visited->count++] = id;
    }
}

static void churn_pop(uint32_t index)
{
    char name[16];
    model_name(index, name);
    struct store_found found;
    if (store_find_typed(&store, text(name), STORE_TYPE_SET, &found) != STORE_OK) {
        return;
    }
    uint32_t count = random_below(6) == 0 ? model[index].count + random_below(3)
                                          : 1 + random_below(5);
    uint32_t want = count < model[index].count ? count : model[index].count;
    static struct visited visited;
    visited.count = 0;
    store_set_pop(&store, &found, count, visit_note, &visited);
    CHECK(visited.count == want);
    for (uint32_t at = 0; at < visited.count; at++) {
        CHECK(model[index].has[visited.ids[at]]); /* each present, so each distinct */
        model_remove(&model[index], visited.ids[at]);
    }
}

static void churn_sample(uint32_t index)
{
    char name[16];
    model_name(index, name);
    uint32_t key_ref = set_ref(name);
    if (key_ref == HEAP_REF_NONE) {
        return;
    }
    bool repeat = random_below(2) == 0;
    uint32_t count = random_below(4) == 0 ? random_below(model[index].count + 10)
                                          : random_below(6);
    count = count > 550 ? 550 : count;
    static struct visited visited;
    visited.count = 0;
    store_set_sample(&store, key_ref, count, repeat, visit_note, &visited);
    uint32_t want = repeat || count < model[index].count ? count : model[index].count;
    CHECK(visited.count == want);
    uint8_t seen[UNIVERSE] = {0};
    for (uint32_t at = 0; at < visited.count; at++) {
        uint32_t id = visited.ids[at];
        CHECK(model[index].has[id] && (repeat || !seen[id]));
        seen[id] = 1;
    }
}

static void churn_move(uint32_t index)
{
    uint32_t other = random_below(MODEL_KEYS);
    char source_name[16];
    char target_name[16];
    model_name(index, source_name);
    model_name(other, target_name);
    struct store_found source;
    struct store_found target;
    uint32_t id = random_member(index);
    if (other == index || !model[index].has[id]) {
        return;
    }
    CHECK(store_find_typed(&store, text(source_name), STORE_TYPE_SET, &source) == STORE_OK);
    (void)store_find_typed(&store, text(target_name), STORE_TYPE_SET, &target);
    CHECK(store_set_move(&store, &source, &target, text(target_name), universe[id]) ==
          STORE_OK);
    model_remove(&model[index], id);
    (void)model_add(&model[other], &id, 1);
}

/* The result of an operation over the models of `sources` (absent keys are empty). */
static void model_algebra(uint32_t op, const uint32_t *sources, uint32_t source_count,
                          struct model_set *result)
{
    memset(result, 0, sizeof(*result));
    result->encoding = -1;
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        bool in = model[sources[0]].has[id] != 0;
        for (uint32_t at = 1; at < source_count; at++) {
            bool other = model[sources[at]].has[id] != 0;
            in = op == 0 ? in && other : op == 1 ? in || other : in && !other;
        }
        result->has[id] = in ? 1 : 0;
        result->count += in ? 1 : 0;
    }
}

static void churn_store(uint32_t index)
{
    uint32_t sources[3];
    uint32_t source_count = 1 + random_below(3);
    for (uint32_t at = 0; at < source_count; at++) {
        sources[at] = random_below(MODEL_KEYS);
    }
    static struct model_set result;
    model_algebra(random_below(3), sources, source_count, &result);
    bool all_integer = true;
    uint32_t length_max = 0;
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        if (result.has[id]) {
            all_integer = all_integer && universe_integer[id];
            length_max = universe[id].length > length_max ? universe[id].length : length_max;
        }
    }
    char name[16];
    model_name(index, name);
    struct store_found target;
    (void)store_find_typed(&store, text(name), STORE_TYPE_ANY, &target);
    CHECK(store_set_result_check(&store, &target, text(name), result.count) == STORE_OK);
    struct store_set_result built;
    CHECK(store_set_result_start(&store, &built, result.count, all_integer, length_max) ==
          STORE_OK);
    for (uint32_t id = 0; id < UNIVERSE; id++) {
        if (result.has[id]) {
            CHECK(store_set_result_add(&store, &built, universe[id]) == STORE_OK);
        }
    }
    CHECK(store_set_result_store(&store, &target, text(name), &built) == STORE_OK);
    result.encoding = result.count > 0 ? expect_encoding(-1, result.count, all_integer,
                                                         length_max)
                                       : -1;
    model[index] = result;
    /* The result carries no expiry time, whatever the destination had. */
    if (target.exists) {
        CHECK(store_key_expire(store_key(&store, target.key_ref)) == 0);
    }
}

/* An expiry time on a set (far off) or a string in another key's place: the type checks. */
static void churn_other(uint32_t index)
{
    char name[16];
    model_name(index, name);
    struct store_found found;
    if (store_find_typed(&store, text(name), STORE_TYPE_SET, &found) == STORE_OK) {
        CHECK(store_expire_set(&store, &found, store.now_ms + 1000000) == STORE_OK);
    }
    CHECK(store_string_set(&store, text("str"), text("value")) == STORE_OK);
    uint32_t added = 0;
    CHECK(sadd("str", &universe[0], 1, &added) == STORE_WRONGTYPE && added == 0);
}

static void test_churn(uint64_t seed)
{
    setup_default(16u << 20);
    seed_state = seed;
    for (uint32_t index = 0; index < MODEL_KEYS; index++) {
        memset(&model[index], 0, sizeof(model[index]));
        model[index].encoding = -1;
    }
    int failures_before = check_failures;
    for (uint32_t step = 0; step < 5000; step++) {
        uint32_t index = random_below(MODEL_KEYS);
        uint32_t roll = random_below(100);
        if (roll < 40) {
            churn_add(index);
        } else if (roll < 60) {
            churn_remove(index);
        } else if (roll < 67) {
            churn_pop(index);
        } else if (roll < 75) {
            churn_move(index);
        } else if (roll < 85) {
            churn_store(index);
        } else if (roll < 95) {
            churn_sample(index);
        } else {
            churn_other(index);
        }
        verify();
        model_check(index, step % 50 == 0);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_store_set: churn failed at step %u (KV_SEED=%llu)\n", step,
                    (unsigned long long)seed);
            break;
        }
    }
    for (uint32_t index = 0; index < MODEL_KEYS; index++) {
        model_check(index, true);
    }
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- A million members ------------------------------------------------------------------ */

#define MILLION 1000000u
#define BATCH 10000u

static char batch_bytes[BATCH][24];
static struct slice batch[BATCH];

/* batch[i] = "<prefix><first + i>". */
static void batch_fill(const char *prefix, uint32_t first, uint32_t count)
{
    for (uint32_t index = 0; index < count; index++) {
        snprintf(batch_bytes[index], sizeof(batch_bytes[index]), "%s%u", prefix, first + index);
        batch[index] = text(batch_bytes[index]);
    }
}

static void visit_count(void *context, struct slice member)
{
    (void)member;
    (*(uint64_t *)context)++;
}

static void test_million(void)
{
    setup_default(128u << 20);
    uint32_t added = 0;
    double start = now_seconds();
    for (uint32_t first = 0; first < MILLION; first += BATCH) {
        batch_fill("member:", first, BATCH);
        CHECK(sadd("big", batch, first == 0 ? 100 : BATCH, &added) == STORE_OK);
        if (first == 0) {
            CHECK(encoding_of("big") == STORE_ENCODING_ROOT);
            CHECK(sadd("big", batch, BATCH, &added) == STORE_OK && added == BATCH - 100);
        }
        CHECK(first == 0 || added == BATCH);
    }
    double built = now_seconds() - start;
    uint32_t key_ref = set_ref("big");
    CHECK(key_ref != HEAP_REF_NONE && store_set_count(&store, key_ref) == MILLION);
    CHECK(store_set_encoding(&store, key_ref) == STORE_ENCODING_ROOT2);
    /* SISMEMBER: present and absent members (half of each), formatted beforehand. */
    for (uint32_t index = 0; index < BATCH; index++) {
        uint32_t number = (uint32_t)(random_next() % (2 * MILLION));
        snprintf(batch_bytes[index], sizeof(batch_bytes[index]), "member:%u", number);
        batch[index] = text(batch_bytes[index]);
    }
    char member[32];
    uint32_t hits = 0;
    start = now_seconds();
    for (uint32_t probe = 0; probe < MILLION; probe++) {
        hits += store_set_contains(&store, key_ref, batch[probe % BATCH]) ? 1u : 0u;
    }
    double lookups = now_seconds() - start;
    CHECK(hits > MILLION / 3 && hits < MILLION * 2 / 3);
    /* SADD and SREM of one member at a time, through the command's path. */
    start = now_seconds();
    for (uint32_t index = 0; index < 100000; index++) {
        snprintf(member, sizeof(member), "extra:%u", index);
        struct slice one = text(member);
        CHECK(sadd("big", &one, 1, &added) == STORE_OK && added == 1);
    }
    double adds = now_seconds() - start;
    start = now_seconds();
    for (uint32_t index = 0; index < 100000; index++) {
        snprintf(member, sizeof(member), "extra:%u", index);
        struct slice one = text(member);
        CHECK(srem("big", &one, 1) == 1);
    }
    double removes = now_seconds() - start;
    /* SRANDMEMBER of 10 distinct, SPOP of one. */
    uint64_t visited = 0;
    start = now_seconds();
    for (uint32_t index = 0; index < 10000; index++) {
        store_set_sample(&store, key_ref, 10, false, visit_count, &visited);
    }
    double samples = now_seconds() - start;
    CHECK(visited == 100000);
    start = now_seconds();
    struct store_found found;
    for (uint32_t index = 0; index < 10000; index++) {
        CHECK(store_find_typed(&store, text("big"), STORE_TYPE_SET, &found) == STORE_OK);
        store_set_pop(&store, &found, 1, visit_count, &visited);
    }
    double pops = now_seconds() - start;
    /* SMEMBERS' walk. */
    struct store_set_cursor cursor;
    struct slice got;
    uint64_t walked = 0;
    start = now_seconds();
    store_set_cursor_start(&store, key_ref, &cursor);
    while (store_set_cursor_next(&store, &cursor, &got)) {
        walked++;
    }
    double walk = now_seconds() - start;
    CHECK(walked == MILLION - 10000);
    verify();
    fprintf(stderr,
            "test_store_set: 1M members (CPU time): built in %.2f s; SISMEMBER %.0f ns, SADD %.0f ns, "
            "SREM %.0f ns, SRANDMEMBER 10 %.0f ns, SPOP %.0f ns, walk %.1f ns per member; "
            "MEMORY %.1f MiB\n",
            built, lookups * 1e9 / MILLION, adds * 1e9 / 100000, removes * 1e9 / 100000,
            samples * 1e9 / 10000, pops * 1e9 / 10000, walk * 1e9 / (double)walked,
            (double)store_memory(&store, key_ref) / (1 << 20));
    CHECK(store_delete(&store, text("big")));
    CHECK(heap.allocations == store_verify(&store));
}

/* ---- A full heap ------------------------------------------------------------------------ */

#define FILLERS_MAX (1u << 19)

static void *fillers[FILLERS_MAX];

/* Takes every free byte of the heap: objects of every size class, largest first, so that
 * no allocation of any size succeeds afterwards. */
static void heap_fill(void)
{
    filler_count = 0;
    /* Bounded by the classes (HEAP_SMALL_BYTES_MAX / HEAP_ALIGN sizes) and the fillers. */
    for (uint64_t bytes = HEAP_SMALL_BYTES_MAX; bytes >= HEAP_ALIGN; bytes -= HEAP_ALIGN) {
        while (filler_count < FILLERS_MAX) {
            void *filler = heap_alloc(&heap, bytes);
            if (filler == NULL) {
                break;
            }
            fillers[filler_count++] = filler;
        }
    }
    CHECK(filler_count < FILLERS_MAX);
    CHECK(heap_alloc(&heap, HEAP_ALIGN) == NULL);
}

static void heap_unfill(void)
{
    for (uint64_t index = 0; index < filler_count; index++) {
        heap_release(&heap, fillers[index]);
    }
    filler_count = 0;
}

/* The sets of the OOM test, each read back after every refused write. */
struct oom_sets {
    struct slice intset[4];   /* "i": 1 2 3 4, an intset filling its 8-byte class */
    struct slice pack[8];     /* "p": 8 two-byte members, a pack filling its 32-byte class */
    struct slice strings[128];/* "p2": a pack of 128 */
};

static struct oom_sets oom;
static char oom_bytes[128][16];

static void oom_sets_intact(void)
{
    CHECK(walk_is("i", oom.intset, 4, true) && walk_is("p", oom.pack, 8, true));
    CHECK(walk_is("p2", oom.strings, 128, true) && walk_is("i2", number_slices, 100, true));
    CHECK(walk_is("t", batch, 300, false) && encoding_of("t") == STORE_ENCODING_ROOT2);
    CHECK(encoding_of("new") == -1 && encoding_of("new2") == -1 && encoding_of("dest") == -1);
}

static void oom_setup(void)
{
    for (uint32_t index = 0; index < 128; index++) {
        snprintf(oom_bytes[index], sizeof(oom_bytes[index]), "%c%c", 'a' + index / 26,
                 'a' + index % 26);
        oom.strings[index] = text(oom_bytes[index]);
    }
    const char *digits[] = {"1", "2", "3", "4"};
    for (uint32_t index = 0; index < 4; index++) {
        oom.intset[index] = text(digits[index]);
    }
    memcpy(oom.pack, oom.strings, sizeof(oom.pack));
    uint32_t added = 0;
    CHECK(sadd("i", oom.intset, 4, &added) == STORE_OK && encoding_of("i") == STORE_ENCODING_RAW);
    CHECK(sadd("p", oom.pack, 8, &added) == STORE_OK && encoding_of("p") == STORE_ENCODING_ROOT);
    CHECK(sadd("p2", oom.strings, 128, &added) == STORE_OK);
    batch_fill("table:", 0, 300);
    CHECK(sadd("t", batch, 300, &added) == STORE_OK && encoding_of("t") == STORE_ENCODING_ROOT2);
    numbers_fill(1000, 1, 600);
    CHECK(sadd("i2", number_slices, 100, &added) == STORE_OK);
    CHECK(encoding_of("i2") == STORE_ENCODING_RAW);
}

/* One write's answer against the one wanted; prints which one differed. */
static bool oom_answer(int line, enum store_status got, enum store_status want)
{
    if (got != want) {
        fprintf(stderr, "test_store_set: the write at line %d answered %d, not %d\n", line,
                (int)got, (int)want);
    }
    return got == want;
}

/* A STORE result of 3 members of "t" put at `destination`. */
static enum store_status oom_result(const char *destination)
{
    struct store_found target;
    struct store_set_result result;
    (void)store_find_typed(&store, text(destination), STORE_TYPE_ANY, &target);
    enum store_status status = store_set_result_start(&store, &result, 3, false, 8);
    for (uint32_t member = 0; member < 3 && status == STORE_OK; member++) {
        status = store_set_result_add(&store, &result, batch[member]);
    }
    if (status != STORE_OK) {
        store_set_result_abandon(&store, &result);
        return status;
    }
    return store_set_result_store(&store, &target, text(destination), &result);
}

static enum store_status oom_move(const char *from, const char *to, struct slice member)
{
    struct store_found source;
    struct store_found target;
    (void)store_find_typed(&store, text(from), STORE_TYPE_SET, &source);
    (void)store_find_typed(&store, text(to), STORE_TYPE_SET, &target);
    return store_set_move(&store, &source, &target, text(to), member);
}

/* Every write that needs memory, in each encoding and conversion: true when each answered
 * `want` (STORE_OOM on a full heap, STORE_OK once there is room). */
static bool oom_writes(enum store_status want)
{
    uint32_t added = 0;
    bool all = true;
    struct slice five = text("5");
    struct slice word = text("zz");
    struct slice six_seven[] = {text("6"), text("7")};
    all = oom_answer(__LINE__, sadd("i", &five, 1, &added), want) && all; /* intset grows */
    all = oom_answer(__LINE__, sadd("i", six_seven, 2, &added), want) && all;
    all = oom_answer(__LINE__, sadd("i", &word, 1, &added), want) && all; /* intset -> pack */
    all = oom_answer(__LINE__, sadd("p", &word, 1, &added), want) && all; /* pack grows */
    all = oom_answer(__LINE__, sadd("p2", &five, 1, &added), want) && all; /* pack -> table */
    all = oom_answer(__LINE__, sadd("i2", number_slices + 100, 500, &added), want) &&
          all; /* intset -> table */
    all = oom_answer(__LINE__, sadd("t", &word, 1, &added), want) && all; /* an entry */
    all = oom_answer(__LINE__, sadd("new", &five, 1, &added), want) && all; /* a new key */
    all = oom_answer(__LINE__, oom_move("t", "new2", batch[0]), want) && all;
    all = oom_answer(__LINE__, oom_move("t", "i", batch[1]), want) && all;
    all = oom_answer(__LINE__, oom_result("t"), want) && all;    /* over an existing key */
    all = oom_answer(__LINE__, oom_result("dest"), want) && all; /* into a new one */
    return all;
}

static void test_oom(void)
{
    setup_default(2u << 20);
    oom_setup();
    verify();
    /* A keyspace rehash finishing during the writes would give back its old bucket array:
     * finish it before the heap is filled. */
    while (dict_rehash(&store.db->keys, 1000)) {
    }
    heap_fill();
    uint64_t allocations = heap.allocations;
    uint64_t used = heap.used_bytes;
    CHECK(oom_writes(STORE_OOM));
    CHECK(heap.allocations == allocations && heap.used_bytes == used);
    oom_sets_intact();
    verify();
    /* Reads and removes need no memory: SRANDMEMBER walks when it has no scratch room. */
    uint64_t visited = 0;
    store_set_sample(&store, set_ref("t"), 10, false, visit_count, &visited);
    CHECK(visited == 10 && heap.allocations == allocations);
    struct store_found found;
    CHECK(store_find_typed(&store, text("t"), STORE_TYPE_SET, &found) == STORE_OK);
    store_set_pop(&store, &found, 5, visit_count, &visited);
    CHECK(srem("i", oom.intset, 1) == 1 && srem("p", oom.pack, 1) == 1);
    CHECK(store_set_count(&store, set_ref("t")) == 295);
    verify();
    /* Memory back: the same writes succeed. */
    heap_unfill();
    uint32_t added = 0;
    CHECK(sadd("i", oom.intset, 1, &added) == STORE_OK && added == 1);
    CHECK(sadd("p", oom.pack, 1, &added) == STORE_OK && added == 1);
    CHECK(oom_writes(STORE_OK));
    CHECK(encoding_of("i") == STORE_ENCODING_ROOT && encoding_of("p2") == STORE_ENCODING_ROOT2);
    CHECK(encoding_of("i2") == STORE_ENCODING_ROOT2 && encoding_of("new") == STORE_ENCODING_RAW);
    CHECK(store_set_count(&store, set_ref("dest")) == 3);
    CHECK(store_set_count(&store, set_ref("t")) == 3);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* ---- Caps -------------------------------------------------------------------------------- */

static void test_caps(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = 3;
    config.key_size_max = 8;
    config.val_size_max = 16;
    config.list_length_max = 4;
    setup(4u << 20, &config);
    uint32_t added = 0;
    struct slice one = text("1");
    CHECK(sadd("123456789", &one, 1, &added) == STORE_KEY_TOO_LONG);
    /* Repeats count once toward the cap. */
    struct slice repeats[] = {text("1"), text("1"), text("1"), text("1"), text("2")};
    CHECK(sadd("a", repeats, 5, &added) == STORE_OK && added == 2);
    struct slice long_member = text("123456789");
    CHECK(sadd("a", &long_member, 1, &added) == STORE_MEMBER_TOO_LONG && added == 0);
    struct slice eight = text("12345678");
    struct slice three = text("3");
    CHECK(sadd("a", (struct slice[]){eight, three}, 2, &added) == STORE_OK && added == 2);
    CHECK(sadd("a", (struct slice[]){text("5")}, 1, &added) == STORE_SET_FULL);
    CHECK(sadd("a", repeats, 5, &added) == STORE_OK && added == 0); /* a full set, no new */
    struct slice five[] = {text("a"), text("b"), text("c"), text("d"), text("e")};
    CHECK(sadd("b", five, 5, &added) == STORE_SET_FULL && encoding_of("b") == -1);
    CHECK(sadd("b", five, 4, &added) == STORE_OK && added == 4);
    CHECK(sadd("c", five, 1, &added) == STORE_OK);
    CHECK(sadd("d", five, 1, &added) == STORE_FULL && encoding_of("d") == -1);
    verify();
    /* The STORE forms' caps. */
    struct store_found target;
    (void)store_find_typed(&store, text("d"), STORE_TYPE_ANY, &target);
    CHECK(store_set_result_check(&store, &target, text("d"), 0) == STORE_OK);
    CHECK(store_set_result_check(&store, &target, text("d"), 1) == STORE_FULL);
    CHECK(store_set_result_check(&store, &target, text("123456789"), 1) == STORE_KEY_TOO_LONG);
    (void)store_find_typed(&store, text("a"), STORE_TYPE_ANY, &target);
    CHECK(store_set_result_check(&store, &target, text("a"), 5) == STORE_SET_FULL);
    CHECK(store_set_result_check(&store, &target, text("a"), 4) == STORE_OK);
    /* SMOVE: a new key at key_count keys only when the source goes with its member. */
    struct store_found source;
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_SET, &source) == STORE_OK);
    (void)store_find_typed(&store, text("e"), STORE_TYPE_SET, &target);
    CHECK(store_set_move(&store, &source, &target, text("e"), one) == STORE_FULL);
    CHECK(store_find_typed(&store, text("c"), STORE_TYPE_SET, &source) == STORE_OK);
    CHECK(store_set_move(&store, &source, &target, text("e"), five[0]) == STORE_OK);
    CHECK(encoding_of("c") == -1 && encoding_of("e") == STORE_ENCODING_ROOT);
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_SET, &source) == STORE_OK);
    (void)store_find_typed(&store, text("123456789"), STORE_TYPE_SET, &target);
    CHECK(store_set_move(&store, &source, &target, text("123456789"), one) ==
          STORE_KEY_TOO_LONG);
    /* Into a full set: refused unless the member is there already. */
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_SET, &source) == STORE_OK);
    CHECK(store_find_typed(&store, text("b"), STORE_TYPE_SET, &target) == STORE_OK);
    CHECK(store_set_move(&store, &source, &target, text("b"), one) == STORE_SET_FULL);
    CHECK(sadd("e", (struct slice[]){text("3")}, 1, &added) == STORE_OK);
    CHECK(store_find_typed(&store, text("a"), STORE_TYPE_SET, &source) == STORE_OK);
    CHECK(store_find_typed(&store, text("e"), STORE_TYPE_SET, &target) == STORE_OK);
    CHECK(store_set_move(&store, &source, &target, text("e"), three) == STORE_OK);
    CHECK(store_set_count(&store, set_ref("a")) == 3 && store_set_count(&store, set_ref("e")) == 2);
    verify();
}

/* ---- Memory ------------------------------------------------------------------------------- */

/* Fills 100,000 sets of 20 members and prints the heap bytes each takes. */
static void memory_fill(const char *what, const struct slice *members)
{
    setup_default(64u << 20);
    uint64_t before = heap.used_bytes;
    char name[24];
    uint32_t added = 0;
    for (uint32_t index = 0; index < 100000; index++) {
        snprintf(name, sizeof(name), "set:%u", index);
        CHECK(sadd(name, members, 20, &added) == STORE_OK && added == 20);
    }
    uint32_t key_ref = set_ref("set:12345");
    uint64_t object = heap_usable_bytes(&heap, store_key(&store, key_ref));
    uint64_t total = store_memory(&store, key_ref);
    fprintf(stderr,
            "test_store_set: a set of 20 %s: %.1f heap bytes per set with the keyspace's "
            "buckets (key object %llu + value %llu, encoding %u)\n",
            what, (double)(heap.used_bytes - before) / 100000.0, (unsigned long long)object,
            (unsigned long long)(total - object), store_set_encoding(&store, key_ref));
    verify();
}

static void test_memory(void)
{
    numbers_fill(0, 1, 20);
    memory_fill("small integers", number_slices);
    static char strings[20][16];
    static struct slice string_slices[20];
    for (uint32_t index = 0; index < 20; index++) {
        snprintf(strings[index], sizeof(strings[index]), "member:%02u", index);
        string_slices[index] = text(strings[index]);
    }
    memory_fill("short strings (9 bytes)", string_slices);
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store_set: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    universe_init();
    universe_index();
    double start = now_seconds();
    test_encodings();
    test_caps();
    test_oom();
    fprintf(stderr, "test_store_set: encodings, caps, OOM in %.1f s\n", now_seconds() - start);
    start = now_seconds();
    test_churn(seed);
    fprintf(stderr, "test_store_set: churn in %.1f s\n", now_seconds() - start);
    start = now_seconds();
    test_million();
    fprintf(stderr, "test_store_set: a million in %.1f s\n", now_seconds() - start);
    test_memory();
    return check_exit("test_store_set");
}
