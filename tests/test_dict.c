/*
 * Proves the chained dict against a model (an array of the present keys and their entries),
 * on a real heap carved from a real region:
 * - Thresholds: a grow starts at the insert that finds as many entries as buckets, a shrink
 *   at the remove that leaves fewer than one entry per DICT_SHRINK_RATIO buckets, exactly.
 * - Churn: a seeded run of more than a million finds, inserts and removes, growing the dict
 *   past a million entries, churning it, shrinking it to a few thousand and growing it again,
 *   with dict_verify() every few thousand steps, many of them mid-rehash, and every step's
 *   result compared with the model. Every key of the key space is looked up at the end.
 * - Positions: dict_remove_at and dict_replace_at (after heap_resize moved the entry) right
 *   after dict_find, mid-grow and mid-shrink, in both tables, at chain heads and inside chains,
 *   and in the inline bucket of a dict without an array.
 * - SCAN: while a scan runs, other keys come and go between cursor calls so that the table
 *   grows and shrinks several times (once by more than DICT_SCAN_EXPANSION_MAX); every key
 *   present throughout is returned. A dict that does not change (also mid-grow and mid-shrink)
 *   returns every key exactly once, in bucket_count calls when not rehashing.
 * - dict_random is close to uniform (chi-square over 100 entries, with a bound that the naive
 *   pick of a random chain's random entry fails) and finds the one entry of a sparse table;
 *   dict_sample returns distinct present entries within its bound.
 * - A walk returns each entry once; dict_clear releases each once and frees the buckets.
 * - A full heap: the bucket array cannot grow, inserts still link (chains lengthen) and finds
 *   still work; once memory returns, dict_rehash grows the table back to one entry per bucket.
 * - dict_verify() catches an entry in the wrong bucket and a wrong count, and debug builds
 *   catch a key inserted twice (forked children, SIGABRT).
 * Prints the bucket bytes per entry at several sizes and the ns per find on a 1M-entry dict.
 * The seed is printed on failure; KV_SEED replays it.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_abort.h"
#include "dict.h"
#include "fixture.h"
#include "heap.h"
#include "region.h"

/* The main heap: 1.1M entries of 24 bytes and two bucket arrays of up to 8 MiB. */
#define HEAP_MAIN_BYTES (160ull << 20)

/* The heap that the exhaustion test fills. */
#define HEAP_SMALL_BYTES (8ull << 20)

/* Its room for entries once the page blocks are taken: holes for about 64k entries. */
#define HEAP_SMALL_ROOM_BYTES (3ull << 20)
#define PAGE_BLOCK_BYTES (64u << 10)

/* Keys are "k" and seven digits: every entry has the same size, 12 + 8 bytes. */
#define KEY_BYTES 8u
#define KEY_SPACE 1600000u

struct test_entry {
    uint32_t link;       /* the dict's chain link, first as dict.h requires */
    uint32_t id;         /* the model's number for this key */
    uint32_t key_length; /* bytes in key */
    uint8_t key[];       /* "k%07u" */
};

static_assert(sizeof(struct test_entry) == 12, "entries are 12 bytes plus the key");

static struct region region_main;
static struct heap heap_main;
static uint64_t seed;

/* The model: each key's entry (HEAP_REF_NONE when absent) and a dense list of present ids. */
static uint32_t model_ref[KEY_SPACE];
static uint32_t present_ids[KEY_SPACE];
static uint32_t present_index[KEY_SPACE];
static uint32_t present_count;

/* Per key: how often a scan or walk returned it. */
static uint32_t seen_counts[KEY_SPACE];

/* Mismatches with the model, counted without a line each (the first few are printed). */
static uint64_t mismatch_count;

#define EXPECT(expr)                                                                      \
    do {                                                                                  \
        if (!(expr)) {                                                                    \
            mismatch_count++;                                                             \
            if (mismatch_count <= 10) {                                                   \
                fprintf(stderr, "%s:%d: EXPECT failed: %s (KV_SEED=%llu)\n", __FILE__,    \
                        __LINE__, #expr, (unsigned long long)seed);                       \
            }                                                                             \
        }                                                                                 \
    } while (0)

static struct slice entry_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    const struct test_entry *test_entry = entry;
    return (struct slice){test_entry->key, test_entry->key_length};
}

static struct slice key_of(uint32_t id, uint8_t bytes[KEY_BYTES + 1])
{
    KV_ASSERT(id < 10000000u);
    snprintf((char *)bytes, KEY_BYTES + 1, "k%07u", id);
    return (struct slice){bytes, KEY_BYTES};
}

static struct test_entry *entry_at(const struct heap *heap, uint32_t ref)
{
    return heap_pointer(heap, ref);
}

/* A new entry for `id`, or HEAP_REF_NONE when the heap is full. */
static uint32_t entry_new(struct heap *heap, uint32_t id)
{
    struct test_entry *entry = heap_alloc(heap, sizeof(struct test_entry) + KEY_BYTES);
    if (entry == NULL) {
        return HEAP_REF_NONE;
    }
    uint8_t bytes[KEY_BYTES + 1];
    struct slice key = key_of(id, bytes);
    entry->link = 0xdeadbeefu; /* the dict must set it */
    entry->id = id;
    entry->key_length = key.length;
    memcpy(entry->key, key.bytes, key.length);
    return heap_ref(heap, entry);
}

static void model_reset(void)
{
    for (uint32_t id = 0; id < KEY_SPACE; id++) {
        model_ref[id] = HEAP_REF_NONE;
    }
    present_count = 0;
}

static void model_add(uint32_t id, uint32_t ref)
{
    KV_ASSERT(model_ref[id] == HEAP_REF_NONE);
    model_ref[id] = ref;
    present_index[id] = present_count;
    present_ids[present_count] = id;
    present_count++;
}

static void model_drop(uint32_t id)
{
    KV_ASSERT(model_ref[id] != HEAP_REF_NONE);
    uint32_t index = present_index[id];
    uint32_t last = present_ids[present_count - 1];
    present_ids[index] = last;
    present_index[last] = index;
    present_count--;
    model_ref[id] = HEAP_REF_NONE;
}

/* Inserts `id` (absent) as the store would: find it absent, take an entry, link it. */
static bool op_insert(struct dict *dict, uint32_t id)
{
    uint8_t bytes[KEY_BYTES + 1];
    EXPECT(model_ref[id] == HEAP_REF_NONE);
    EXPECT(dict_find(dict, key_of(id, bytes), NULL) == HEAP_REF_NONE);
    uint32_t ref = entry_new(dict->heap, id);
    if (ref == HEAP_REF_NONE) {
        return false;
    }
    dict_insert(dict, ref);
    EXPECT(entry_at(dict->heap, ref)->link != 0xdeadbeefu);
    model_add(id, ref);
    return true;
}

/* Removes a present `id`, by key or by position after a find, and releases its entry. */
static void op_remove(struct dict *dict, uint32_t id, bool by_position)
{
    uint8_t bytes[KEY_BYTES + 1];
    struct slice key = key_of(id, bytes);
    uint32_t want = model_ref[id];
    uint32_t got = HEAP_REF_NONE;
    if (by_position) {
        struct dict_position position = {NULL, 0};
        got = dict_find(dict, key, &position);
        EXPECT(got == want);
        EXPECT(got != HEAP_REF_NONE && *position.link == got);
        if (got == HEAP_REF_NONE) {
            return;
        }
        dict_remove_at(dict, position);
    } else {
        got = dict_remove(dict, key);
        EXPECT(got == want);
        if (got == HEAP_REF_NONE) {
            return;
        }
    }
    heap_release(dict->heap, entry_at(dict->heap, got));
    model_drop(id);
    EXPECT(dict_find(dict, key, NULL) == HEAP_REF_NONE);
}

static void op_find(struct dict *dict, uint32_t id)
{
    uint8_t bytes[KEY_BYTES + 1];
    EXPECT(dict_find(dict, key_of(id, bytes), NULL) == model_ref[id]);
}

/* An absent id below `space`, or KEY_SPACE after 64 tries (a nearly full space). */
static uint32_t absent_id(uint32_t space)
{
    /* Bound: 64 tries. */
    for (uint32_t try = 0; try < 64; try++) {
        uint32_t id = prng_below(space);
        if (model_ref[id] == HEAP_REF_NONE) {
            return id;
        }
    }
    return KEY_SPACE;
}

/* Resizes seen start: a (source, target) pair not seen before while rehashing. */
struct resize_tracker {
    uint32_t source;    /* bucket_count[0] of the last resize seen */
    uint32_t target;    /* bucket_count[1] of the last resize seen */
    uint32_t grows;     /* resizes to a larger table */
    uint32_t shrinks;   /* resizes to a smaller table */
    uint32_t big_shrinks; /* shrinks by more than DICT_SCAN_EXPANSION_MAX */
};

static void resize_track(struct resize_tracker *tracker, const struct dict *dict)
{
    if (!dict_rehashing(dict)) {
        tracker->source = 0;
        tracker->target = 0;
        return;
    }
    if (dict->bucket_count[0] == tracker->source && dict->bucket_count[1] == tracker->target) {
        return;
    }
    tracker->source = dict->bucket_count[0];
    tracker->target = dict->bucket_count[1];
    if (tracker->target > tracker->source) {
        tracker->grows++;
    } else {
        tracker->shrinks++;
        if (tracker->source / tracker->target > DICT_SCAN_EXPANSION_MAX) {
            tracker->big_shrinks++;
        }
    }
}

static void release_entry(void *context, uint32_t ref)
{
    struct heap *heap = context;
    struct test_entry *entry = entry_at(heap, ref);
    if (entry->id < KEY_SPACE) {
        seen_counts[entry->id]++;
    }
    heap_release(heap, entry);
}

/* Empties the dict through dict_clear: each entry released once, the heap as before. */
static void clear_all(struct dict *dict, uint64_t allocations_before)
{
    memset(seen_counts, 0, sizeof(seen_counts));
    dict_clear(dict, release_entry, dict->heap);
    uint64_t wrong = 0;
    for (uint32_t id = 0; id < KEY_SPACE; id++) {
        wrong += seen_counts[id] != (model_ref[id] != HEAP_REF_NONE ? 1u : 0u);
    }
    CHECK(wrong == 0);
    CHECK(dict_count(dict) == 0);
    CHECK(dict_bucket_bytes(dict) == 0);
    CHECK(!dict_rehashing(dict));
    CHECK(dict->heap->allocations == allocations_before);
    dict_verify(dict);
    model_reset();
}

/* Inserts the ids below `count` not yet present and finishes any rehash. */
static void fill(struct dict *dict, uint32_t count)
{
    for (uint32_t id = 0; id < count; id++) {
        if (model_ref[id] == HEAP_REF_NONE) {
            CHECK(op_insert(dict, id));
        }
    }
    /* Bound: every rehash ends within the table's buckets; a few grows at most. */
    for (uint32_t round = 0; round < 64 && dict_rehash(dict, UINT32_MAX); round++) {
    }
    CHECK(!dict_rehashing(dict));
}

/* Rehashes to the end without starting the next resize (none is due in these tests). */
static void rehash_finish(struct dict *dict)
{
    /* Bound: one bucket or more per step, the table's buckets at most. */
    for (uint64_t step = 0; dict_rehashing(dict); step++) {
        KV_ASSERT(step <= dict->bucket_count[0]);
        dict_rehash(dict, 1);
    }
}

/* Resizes start exactly at the thresholds: a grow at the insert that finds count equal to
 * the buckets, a shrink at the remove that leaves count * DICT_SHRINK_RATIO below them. */
static void test_thresholds(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    CHECK(op_insert(dict, 0));
    CHECK(dict->buckets[0] == NULL);
    CHECK(!dict_rehashing(dict));
    CHECK(op_insert(dict, 1));
    CHECK(dict_rehashing(dict));
    CHECK(dict->bucket_count[1] == DICT_BUCKETS_MIN);
    uint32_t id = 2;
    uint32_t wrong = 0;
    for (uint32_t round = 0; round < 14; round++) {
        rehash_finish(dict);
        uint32_t size = dict->bucket_count[0];
        while (present_count < size) {
            CHECK(op_insert(dict, id));
            id++;
            wrong += dict_rehashing(dict);
        }
        CHECK(op_insert(dict, id));
        id++;
        CHECK(dict_rehashing(dict));
        CHECK(dict->bucket_count[1] == size * 2);
    }
    uint32_t shrinks = 0;
    /* Bound: each shrink divides the table by DICT_SHRINK_RATIO, from 2^15 to 16. */
    for (uint32_t round = 0; round < 12; round++) {
        rehash_finish(dict);
        uint32_t size = dict->bucket_count[0];
        if (size <= 16) {
            break;
        }
        shrinks++;
        while (present_count * DICT_SHRINK_RATIO > size) {
            op_remove(dict, present_ids[prng_below(present_count)], (round & 1) != 0);
            wrong += dict_rehashing(dict);
        }
        op_remove(dict, present_ids[prng_below(present_count)], (round & 1) == 0);
        uint32_t target = DICT_BUCKETS_MIN;
        while (target < present_count) {
            target *= 2;
        }
        CHECK(dict_rehashing(dict));
        CHECK(dict->bucket_count[1] == target);
    }
    CHECK(shrinks >= 4);
    CHECK(wrong == 0);
    clear_all(dict, allocations_before);
}

struct churn_phase {
    const char *name;
    uint32_t insert_percent; /* of steps: insert an absent key */
    uint32_t remove_percent; /* of steps: remove a present key; the rest find */
    uint32_t count_stop;     /* the phase ends when present_count reaches this */
    bool upward;             /* ends at or above count_stop, else at or below */
    uint64_t step_max;       /* or after this many steps */
};

struct churn_totals {
    uint64_t steps;
    uint64_t rehashing_steps;    /* steps taken while a rehash was in progress */
    uint64_t rehashing_finds;    /* finds and removes among them */
    uint64_t verifies;
    uint64_t rehashing_verifies;
    uint32_t bucket_count_max;
    struct resize_tracker resizes;
};

#define VERIFY_EVERY (1u << 18)
#define VERIFY_REHASHING_EVERY (1u << 16)

static void churn_phase(struct dict *dict, const struct churn_phase *phase,
                        struct churn_totals *totals)
{
    /* Bound: step_max steps. */
    for (uint64_t step = 0; step < phase->step_max; step++) {
        bool done = phase->upward ? present_count >= phase->count_stop
                                  : present_count <= phase->count_stop;
        if (done) {
            break;
        }
        bool rehashing = dict_rehashing(dict);
        uint32_t roll = prng_below(100);
        if (roll < phase->insert_percent) {
            uint32_t id = absent_id(KEY_SPACE);
            if (id < KEY_SPACE) {
                EXPECT(op_insert(dict, id));
            }
        } else if (roll < phase->insert_percent + phase->remove_percent && present_count > 0) {
            op_remove(dict, present_ids[prng_below(present_count)], (step & 1) != 0);
            totals->rehashing_finds += rehashing;
        } else {
            bool present = (step & 2) != 0 && present_count > 0;
            op_find(dict, present ? present_ids[prng_below(present_count)] : prng_below(KEY_SPACE));
            totals->rehashing_finds += rehashing;
        }
        totals->steps++;
        totals->rehashing_steps += rehashing;
        EXPECT(dict_count(dict) == present_count);
        resize_track(&totals->resizes, dict);
        if (dict->bucket_count[0] > totals->bucket_count_max) {
            totals->bucket_count_max = dict->bucket_count[0];
        }
        bool verify_now = totals->steps % VERIFY_EVERY == 0 ||
                          (dict_rehashing(dict) && totals->steps % VERIFY_REHASHING_EVERY == 0);
        if (verify_now) {
            dict_verify(dict);
            totals->verifies++;
            totals->rehashing_verifies += dict_rehashing(dict);
        }
    }
    printf("  churn %-8s: %7u entries, %8u buckets%s\n", phase->name, present_count,
           dict->bucket_count[0], dict_rehashing(dict) ? " (rehashing)" : "");
}

static void test_churn(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    struct churn_totals totals;
    memset(&totals, 0, sizeof(totals));
    static const struct churn_phase phases[] = {
        {"grow", 85, 5, 1100000, true, 4000000},
        {"steady", 45, 45, 0, false, 300000},
        {"shrink", 5, 85, 3000, false, 4000000},
        {"regrow", 70, 20, 200000, true, 1000000},
    };
    uint32_t shrinks_before_regrow = 0;
    uint32_t bucket_count_low = UINT32_MAX;
    for (uint32_t phase = 0; phase < sizeof(phases) / sizeof(phases[0]); phase++) {
        churn_phase(dict, &phases[phase], &totals);
        dict_verify(dict);
        if (phase == 2) {
            shrinks_before_regrow = totals.resizes.shrinks;
            /* Finish the shrink: the table is back to a few thousand buckets. */
            for (uint32_t round = 0; round < 64 && dict_rehash(dict, 1024); round++) {
            }
            bucket_count_low = dict->bucket_count[0];
        }
    }
    CHECK(totals.bucket_count_max >= (1u << 20));
    CHECK(bucket_count_low <= 8192);
    CHECK(totals.resizes.grows >= 18);
    CHECK(shrinks_before_regrow >= 1);
    CHECK(totals.rehashing_finds > 100000);
    CHECK(totals.rehashing_verifies >= 5);
    printf("  churn: %llu steps, %llu while rehashing, %u grows, %u shrinks, "
           "%llu verifies (%llu mid-rehash), %llu buckets moved\n",
           (unsigned long long)totals.steps, (unsigned long long)totals.rehashing_steps,
           totals.resizes.grows, totals.resizes.shrinks, (unsigned long long)totals.verifies,
           (unsigned long long)totals.rehashing_verifies,
           (unsigned long long)dict->rehash_moved);
    /* Every key of the space, present or not. */
    for (uint32_t id = 0; id < KEY_SPACE; id++) {
        op_find(dict, id);
    }
    dict_verify(dict);
    clear_all(dict, allocations_before);
}

/* Whether a link is a bucket slot (the chain's head) rather than an entry's link field. */
static bool link_is_bucket(const struct dict *dict, const uint32_t *link)
{
    for (uint32_t table = 0; table < 2; table++) {
        const uint32_t *slots = dict->buckets[table];
        if (slots != NULL && link >= slots && link < slots + dict->bucket_count[table]) {
            return true;
        }
    }
    return link == &dict->bucket_inline;
}

struct position_totals {
    uint32_t tables_seen[2];
    uint32_t heads;
    uint32_t inside;
    uint32_t moved;
};

/* One find then remove_at or replace_at on a random present key; the dict must be rehashing
 * before and after. */
static void position_op(struct dict *dict, struct position_totals *totals, bool replace)
{
    uint32_t id = present_ids[prng_below(present_count)];
    uint8_t bytes[KEY_BYTES + 1];
    struct slice key = key_of(id, bytes);
    struct dict_position position = {NULL, 2};
    uint32_t ref = dict_find(dict, key, &position);
    EXPECT(ref == model_ref[id]);
    if (ref == HEAP_REF_NONE) {
        return;
    }
    EXPECT(*position.link == ref);
    EXPECT(position.table < 2);
    totals->tables_seen[position.table & 1]++;
    if (link_is_bucket(dict, position.link)) {
        totals->heads++;
    } else {
        totals->inside++;
    }
    if (!replace) {
        dict_remove_at(dict, position);
        heap_release(dict->heap, entry_at(dict->heap, ref));
        model_drop(id);
        EXPECT(dict_find(dict, key, NULL) == HEAP_REF_NONE);
        return;
    }
    /* A larger size class: the heap moves the entry, copying its link and key. */
    void *moved = heap_resize(dict->heap, entry_at(dict->heap, ref),
                              sizeof(struct test_entry) + KEY_BYTES + 40);
    CHECK(moved != NULL);
    if (moved == NULL) {
        return;
    }
    uint32_t moved_ref = heap_ref(dict->heap, moved);
    totals->moved += moved_ref != ref;
    dict_replace_at(dict, position, moved_ref);
    model_drop(id);
    model_add(id, moved_ref);
    EXPECT(dict_find(dict, key, NULL) == moved_ref);
}

static void position_run(struct dict *dict, const char *name)
{
    struct position_totals totals;
    memset(&totals, 0, sizeof(totals));
    uint32_t ops = 0;
    /* Bound: 3000 operations, while the rehash lasts. */
    for (; ops < 3000 && dict_rehashing(dict) && present_count > 0; ops++) {
        position_op(dict, &totals, (ops % 3) != 0);
        if (ops % 250 == 0) {
            dict_verify(dict);
        }
    }
    dict_verify(dict);
    CHECK(ops == 3000);
    CHECK(totals.tables_seen[0] > 0);
    CHECK(totals.tables_seen[1] > 0);
    CHECK(totals.heads > 0);
    CHECK(totals.inside > 0);
    CHECK(totals.moved > 0);
    printf("  positions %s: table 0 %u, table 1 %u, chain heads %u, inside chains %u, "
           "moved %u\n", name, totals.tables_seen[0], totals.tables_seen[1], totals.heads,
           totals.inside, totals.moved);
}

static void test_positions(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    /* The inline bucket: one entry, no array. */
    CHECK(op_insert(dict, 7));
    CHECK(dict->buckets[0] == NULL);
    CHECK(dict_bucket_bytes(dict) == 0);
    uint8_t bytes[KEY_BYTES + 1];
    struct dict_position position = {NULL, 2};
    CHECK(dict_find(dict, key_of(7, bytes), &position) == model_ref[7]);
    CHECK(position.link == &dict->bucket_inline);
    CHECK(position.table == 0);
    dict_remove_at(dict, position);
    heap_release(dict->heap, entry_at(dict->heap, model_ref[7]));
    model_drop(7);
    CHECK(dict_count(dict) == 0);
    dict_verify(dict);
    /* Mid-grow: 2^16 entries start the grow to 2^17; 10% more keep it short of its end. */
    for (uint32_t id = 0; id < 72000; id++) {
        CHECK(op_insert(dict, id));
    }
    CHECK(dict_rehashing(dict));
    CHECK(dict->bucket_count[1] > dict->bucket_count[0]);
    position_run(dict, "mid-grow");
    /* Mid-shrink: below one entry per 8 buckets a shrink starts at the next remove. */
    fill(dict, 0);
    uint32_t bucket_count = dict->bucket_count[0];
    /* Bound: present_count removals. */
    while (present_count * DICT_SHRINK_RATIO >= bucket_count && present_count > 0) {
        op_remove(dict, present_ids[prng_below(present_count)], false);
    }
    CHECK(dict_rehashing(dict));
    CHECK(dict->bucket_count[1] < dict->bucket_count[0]);
    position_run(dict, "mid-shrink");
    clear_all(dict, allocations_before);
}

struct scan_context {
    const struct heap *heap;
    uint64_t visits;
};

static void scan_visit(void *context, uint32_t ref)
{
    struct scan_context *scan = context;
    const struct test_entry *entry = entry_at(scan->heap, ref);
    KV_ASSERT(entry->id < KEY_SPACE);
    seen_counts[entry->id]++;
    scan->visits++;
}

/* A full scan of a dict that does not change: every key exactly once; `calls` back. */
static uint64_t scan_static(const struct dict *dict, uint64_t *calls)
{
    memset(seen_counts, 0, sizeof(seen_counts));
    struct scan_context scan = {dict->heap, 0};
    uint64_t cursor = 0;
    *calls = 0;
    /* Bound: the larger table's buckets (each call passes at least one). */
    do {
        cursor = dict_scan(dict, cursor, scan_visit, &scan);
        (*calls)++;
        KV_ASSERT(*calls <= (uint64_t)dict->bucket_count[0] + dict->bucket_count[1]);
    } while (cursor != 0);
    uint64_t wrong = 0;
    for (uint32_t id = 0; id < KEY_SPACE; id++) {
        wrong += seen_counts[id] != (model_ref[id] != HEAP_REF_NONE ? 1u : 0u);
    }
    return wrong;
}

static void test_scan_static(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    uint64_t calls = 0;
    CHECK(dict_scan(dict, 0, scan_visit, NULL) == 0); /* empty: complete at once */
    fill(dict, 10000);
    CHECK(scan_static(dict, &calls) == 0);
    CHECK(calls == dict->bucket_count[0]);
    /* Mid-grow. */
    uint32_t id = 10000;
    /* Bound: the ids up to the next grow. */
    while (!dict_rehashing(dict)) {
        CHECK(op_insert(dict, id++));
    }
    dict_rehash(dict, 100);
    CHECK(dict_rehashing(dict));
    CHECK(scan_static(dict, &calls) == 0);
    /* Mid-shrink by 8, a ratio within DICT_SCAN_EXPANSION_MAX: exactly once too. */
    fill(dict, 0);
    /* Bound: present_count removals. */
    while (!dict_rehashing(dict) && present_count > 0) {
        op_remove(dict, present_ids[prng_below(present_count)], false);
    }
    CHECK(dict_rehashing(dict));
    CHECK(dict->bucket_count[1] < dict->bucket_count[0]);
    CHECK(dict->bucket_count[0] / dict->bucket_count[1] <= DICT_SCAN_EXPANSION_MAX);
    dict_rehash(dict, 100);
    CHECK(dict_rehashing(dict));
    CHECK(scan_static(dict, &calls) == 0);
    clear_all(dict, allocations_before);
}

static uint32_t unit_of_id[KEY_SPACE];
static uint32_t unit_visiting;

static void unit_visit(void *context, uint32_t ref)
{
    struct scan_context *scan = context;
    const struct test_entry *entry = entry_at(scan->heap, ref);
    KV_ASSERT(entry->id < KEY_SPACE);
    seen_counts[entry->id]++;
    unit_of_id[entry->id] = unit_visiting;
    scan->visits++;
}

/* Every key once over all units, each in the unit `record` says (or recording it). */
static uint64_t units_check(const struct dict *dict, uint32_t units, bool record)
{
    static uint32_t recorded[KEY_SPACE];
    memset(seen_counts, 0, sizeof(seen_counts));
    struct scan_context scan = {dict->heap, 0};
    for (unit_visiting = 0; unit_visiting < units; unit_visiting++) {
        dict_visit_unit(dict, units, unit_visiting, unit_visit, &scan);
    }
    uint64_t wrong = 0;
    for (uint32_t id = 0; id < KEY_SPACE; id++) {
        bool present = model_ref[id] != HEAP_REF_NONE;
        wrong += seen_counts[id] != (present ? 1u : 0u);
        if (present && record) {
            recorded[id] = unit_of_id[id];
        } else if (present) {
            wrong += recorded[id] != unit_of_id[id];
        }
    }
    return wrong;
}

/* A snapshot's units: taken mid-rehash, they stay valid while the rehash goes on (entries
 * only move within their unit) and after it ends, for a grow and for a shrink. */
static void test_visit_units(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    fill(dict, 10000);
    CHECK(dict_units(dict) == dict->bucket_count[0]);
    CHECK(units_check(dict, dict_units(dict), true) == 0);
    uint32_t id = 10000;
    /* Bound: the ids up to the next grow. */
    while (!dict_rehashing(dict)) {
        CHECK(op_insert(dict, id++));
    }
    dict_rehash(dict, 100);
    CHECK(dict_rehashing(dict));
    uint32_t units = dict_units(dict);
    CHECK(units == dict->bucket_count[0] && units < dict->bucket_count[1]);
    CHECK(units_check(dict, units, true) == 0);
    dict_rehash(dict, units / 2);
    CHECK(units_check(dict, units, false) == 0);
    rehash_finish(dict);
    CHECK(!dict_rehashing(dict) && dict->bucket_count[0] == 2 * units);
    CHECK(units_check(dict, units, false) == 0);
    /* Mid-shrink: the units are the new, smaller table's buckets. */
    fill(dict, 0);
    /* Bound: present_count removals. */
    while (!dict_rehashing(dict) && present_count > 0) {
        op_remove(dict, present_ids[prng_below(present_count)], false);
    }
    CHECK(dict_rehashing(dict) && dict->bucket_count[1] < dict->bucket_count[0]);
    dict_rehash(dict, 10);
    units = dict_units(dict);
    CHECK(units == dict->bucket_count[1]);
    CHECK(units_check(dict, units, true) == 0);
    dict_rehash(dict, dict->bucket_count[0] / 2);
    CHECK(units_check(dict, units, false) == 0);
    rehash_finish(dict);
    CHECK(units_check(dict, units, false) == 0);
    clear_all(dict, allocations_before);
}

/* Keys that come and go while a scan runs: up to churn_max of them, then down to none. */
struct scan_churn {
    uint32_t stable_count;  /* ids [0, stable_count) stay for the whole scan */
    uint32_t churn_max;     /* churn keys at the top of a cycle */
    uint32_t churn_count;   /* churn keys present */
    uint32_t next_id;       /* next churn id to try */
    bool upward;            /* inserting, else removing */
    uint32_t cycles;        /* completed up-and-down cycles */
    uint32_t churn_ids[200000];
};

static struct scan_churn scan_churn;

static void scan_churn_step(struct dict *dict, struct scan_churn *churn)
{
    if (churn->upward) {
        uint32_t id = churn->next_id;
        churn->next_id = churn->next_id + 1 < KEY_SPACE ? churn->next_id + 1
                                                        : churn->stable_count;
        if (model_ref[id] == HEAP_REF_NONE && op_insert(dict, id)) {
            churn->churn_ids[churn->churn_count] = id;
            churn->churn_count++;
        }
        churn->upward = churn->churn_count < churn->churn_max;
        return;
    }
    if (churn->churn_count == 0) {
        churn->upward = true;
        churn->cycles++;
        return;
    }
    uint32_t index = prng_below(churn->churn_count);
    uint32_t id = churn->churn_ids[index];
    churn->churn_count--;
    churn->churn_ids[index] = churn->churn_ids[churn->churn_count];
    op_remove(dict, id, (index & 1) != 0);
    /* A stable key now and then. */
    if ((index & 7) == 0) {
        op_find(dict, prng_below(churn->stable_count));
    }
}

static void scan_resizing(struct dict *dict, uint32_t stable_count, uint32_t churn_max,
                          uint32_t steps_per_call)
{
    uint64_t allocations_before = dict->heap->allocations;
    fill(dict, stable_count);
    struct scan_churn *churn = &scan_churn;
    KV_ASSERT(churn_max <= sizeof(churn->churn_ids) / sizeof(churn->churn_ids[0]));
    churn->stable_count = stable_count;
    churn->churn_max = churn_max;
    churn->churn_count = 0;
    churn->next_id = stable_count;
    churn->upward = true;
    churn->cycles = 0;
    struct resize_tracker resizes;
    memset(&resizes, 0, sizeof(resizes));
    memset(seen_counts, 0, sizeof(seen_counts));
    struct scan_context scan = {dict->heap, 0};
    uint64_t cursor = 0;
    uint64_t calls = 0;
    uint64_t calls_cut = 0; /* calls mid-shrink by more than DICT_SCAN_EXPANSION_MAX */
    /* Bound: 2^22 calls (the scan ends far sooner; checked below). */
    do {
        if (dict_rehashing(dict) &&
            dict->bucket_count[0] / dict->bucket_count[1] > DICT_SCAN_EXPANSION_MAX) {
            calls_cut++;
        }
        cursor = dict_scan(dict, cursor, scan_visit, &scan);
        calls++;
        for (uint32_t step = 0; step < steps_per_call; step++) {
            scan_churn_step(dict, churn);
            resize_track(&resizes, dict);
        }
        if (calls % 4096 == 0) {
            dict_verify(dict);
        }
    } while (cursor != 0 && calls < (1u << 22));
    CHECK(cursor == 0);
    uint64_t missing = 0;
    uint64_t repeated = 0;
    for (uint32_t id = 0; id < stable_count; id++) {
        missing += seen_counts[id] == 0;
        repeated += seen_counts[id] > 1 ? seen_counts[id] - 1 : 0;
    }
    CHECK(missing == 0);
    CHECK(resizes.grows >= 3);
    CHECK(resizes.shrinks >= 2);
    printf("  scan while resizing (%u stable, up to %u more): %llu calls, %u cycles, %u grows, "
           "%u shrinks (%u by > %u, %llu calls there), stable keys missing %llu, repeated %llu\n",
           stable_count, churn_max, (unsigned long long)calls, churn->cycles, resizes.grows,
           resizes.shrinks, resizes.big_shrinks, DICT_SCAN_EXPANSION_MAX,
           (unsigned long long)calls_cut, (unsigned long long)missing,
           (unsigned long long)repeated);
    dict_verify(dict);
    clear_all(dict, allocations_before);
}

/* Chi-square of `draws` picks over the present entries (each expected draws / count). */
static double chi_square(const uint32_t *counts, uint32_t count, uint32_t draws)
{
    double expected = (double)draws / count;
    double sum = 0;
    for (uint32_t index = 0; index < count; index++) {
        double diff = counts[index] - expected;
        sum += diff * diff / expected;
    }
    return sum;
}

#define RANDOM_ENTRIES 100u
#define RANDOM_DRAWS 200000u
/* Chi-square with 99 degrees of freedom: mean 99, deviation 14; 200 is 7 deviations out. */
#define RANDOM_CHI_MAX 200.0

/* The naive pick (a random non-empty bucket, a random entry of its chain) over the same dict,
 * to show the bound can fail: entries sharing a chain are picked less often. */
static uint32_t naive_random(const struct dict *dict)
{
    /* Bound: the table is one entry per 1 to 2 buckets; a hit comes within a few tries. */
    for (uint32_t try = 0;; try++) {
        KV_ASSERT(try < 100000);
        uint32_t head = dict->buckets[0][prng_below(dict->bucket_count[0])];
        uint32_t length = 0;
        for (uint32_t ref = head; ref != HEAP_REF_NONE; ref = entry_at(dict->heap, ref)->link) {
            length++;
        }
        if (length > 0) {
            uint32_t ref = head;
            for (uint32_t skip = prng_below(length); skip > 0; skip--) {
                ref = entry_at(dict->heap, ref)->link;
            }
            return ref;
        }
    }
}

static void test_random(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    /* Everything fixed, the dict's hash seed too: the chains the entries form, and so the
     * statistic, are the same on every run, and the bound can never flake. */
    uint64_t random_state = 0x853c49e6748fea9bull;
    uint64_t dict_seed = dict->seed;
    CHECK(dict_count(dict) == 0);
    dict_init(dict, dict->heap, entry_key, 0x2545f4914f6cdd1dull);
    CHECK(dict_random(dict, &random_state) == HEAP_REF_NONE);
    uint32_t refs[64];
    CHECK(dict_sample(dict, refs, 16, &random_state) == 0);
    fill(dict, RANDOM_ENTRIES);
    static uint32_t counts[RANDOM_ENTRIES];
    static uint32_t naive_counts[RANDOM_ENTRIES];
    memset(counts, 0, sizeof(counts));
    memset(naive_counts, 0, sizeof(naive_counts));
    uint64_t prng_saved = prng_state;
    prng_state = 12345;
    uint32_t none = 0;
    for (uint32_t draw = 0; draw < RANDOM_DRAWS; draw++) {
        uint32_t ref = dict_random(dict, &random_state);
        none += ref == HEAP_REF_NONE;
        if (ref != HEAP_REF_NONE) {
            counts[entry_at(dict->heap, ref)->id]++;
        }
        naive_counts[entry_at(dict->heap, naive_random(dict))->id]++;
    }
    prng_state = prng_saved;
    double chi = chi_square(counts, RANDOM_ENTRIES, RANDOM_DRAWS);
    double naive_chi = chi_square(naive_counts, RANDOM_ENTRIES, RANDOM_DRAWS);
    CHECK(none == 0);
    CHECK(chi < RANDOM_CHI_MAX);
    if (chi >= RANDOM_CHI_MAX) {
        for (uint32_t index = 0; index < RANDOM_ENTRIES; index++) {
            fprintf(stderr, "%u ", counts[index]);
        }
    }
    CHECK(naive_chi > RANDOM_CHI_MAX);
    printf("  random over %u entries in %u buckets: chi-square %.1f (naive pick %.1f, bound "
           "%.0f)\n", RANDOM_ENTRIES, dict->bucket_count[0], chi, naive_chi, RANDOM_CHI_MAX);
    /* Samples: distinct present entries, as many as wanted when there are enough. */
    fill(dict, 5000);
    for (uint32_t round = 0; round < 200; round++) {
        uint32_t wanted = 1 + round % 64;
        uint32_t got = dict_sample(dict, refs, wanted, &random_state);
        CHECK(got <= wanted);
        CHECK(got * 2 >= wanted); /* 5000 entries in 8192 buckets: 10 looks per entry do */
        for (uint32_t index = 0; index < got; index++) {
            const struct test_entry *entry = entry_at(dict->heap, refs[index]);
            EXPECT(model_ref[entry->id] == refs[index]);
            for (uint32_t other = 0; other < index; other++) {
                EXPECT(refs[other] != refs[index]);
            }
        }
    }
    /* The last entry of a sparse table, mid-shrink and after: always found. */
    for (uint32_t id = 5000; id < 60000; id++) {
        CHECK(op_insert(dict, id));
    }
    fill(dict, 0);
    uint32_t last = present_ids[0];
    while (present_count > 1) {
        op_remove(dict, present_ids[present_count - 1], false);
    }
    CHECK(dict_rehashing(dict));
    uint32_t wrong = 0;
    for (uint32_t draw = 0; draw < 1000; draw++) {
        wrong += dict_random(dict, &random_state) != model_ref[last];
        uint32_t got = dict_sample(dict, refs, 4, &random_state);
        wrong += got > 1 || (got == 1 && refs[0] != model_ref[last]);
        dict_rehash(dict, 1);
    }
    CHECK(wrong == 0);
    clear_all(dict, allocations_before);
    dict_init(dict, dict->heap, entry_key, dict_seed);
}

static void test_walk(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    struct dict_walk walk;
    uint32_t ref = HEAP_REF_NONE;
    dict_walk_start(dict, &walk);
    CHECK(!dict_walk_next(dict, &walk, &ref));
    for (uint32_t id = 0; id < 40000; id++) {
        CHECK(op_insert(dict, id));
        /* Walk now and then, rehashing or not. */
        if (id % 4999 != 0) {
            continue;
        }
        memset(seen_counts, 0, sizeof(seen_counts));
        dict_walk_start(dict, &walk);
        uint64_t returned = 0;
        while (dict_walk_next(dict, &walk, &ref) && returned <= present_count) {
            seen_counts[entry_at(dict->heap, ref)->id]++;
            returned++;
        }
        CHECK(!dict_walk_next(dict, &walk, &ref)); /* stays at the end */
        uint64_t wrong = 0;
        for (uint32_t present = 0; present <= id; present++) {
            wrong += seen_counts[present] != 1;
        }
        CHECK(returned == present_count);
        CHECK(wrong == 0);
    }
    /* Cleared mid-rehash, then used again. */
    while (!dict_rehashing(dict)) {
        CHECK(op_insert(dict, present_count));
    }
    clear_all(dict, allocations_before);
    fill(dict, 1000);
    clear_all(dict, allocations_before);
}

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

#define SPEED_FINDS 2000000u

/* Keys looked up, in random order, apart from the entries so that a find's misses are its
 * own. */
static uint8_t speed_keys[SPEED_FINDS][KEY_BYTES + 1];

/* ns per find over ids [0, 2 * present_count): half hits, half misses. */
static double find_ns(struct dict *dict)
{
    uint32_t count = present_count;
    for (uint32_t find = 0; find < SPEED_FINDS; find++) {
        key_of(prng_below(count * 2), speed_keys[find]);
    }
    uint32_t found = 0;
    uint64_t start = now_ns();
    for (uint32_t find = 0; find < SPEED_FINDS; find++) {
        struct slice key = {speed_keys[find], KEY_BYTES};
        found += dict_find(dict, key, NULL) != HEAP_REF_NONE;
    }
    uint64_t elapsed = now_ns() - start;
    CHECK(found > SPEED_FINDS / 2 - SPEED_FINDS / 20);
    CHECK(found < SPEED_FINDS / 2 + SPEED_FINDS / 20);
    return (double)elapsed / SPEED_FINDS;
}

/* Bucket bytes per entry at several sizes once every rehash is done, and the time of a find
 * with the dict in cache (10k entries) and far from it (1M). */
static void test_memory(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    static const uint32_t sizes[] = {1000, 10000, 100000, 1000000};
    uint32_t size_count = sizeof(sizes) / sizeof(sizes[0]);
    double speeds[2] = {0, 0};
    printf("  bucket bytes per entry:");
    for (uint32_t size = 0; size < size_count; size++) {
        fill(dict, sizes[size]);
        double per_entry = (double)dict_bucket_bytes(dict) / (double)dict_count(dict);
        CHECK(per_entry >= 4.0);
        CHECK(per_entry <= 8.5);
        printf(" %u: %.2f%s", sizes[size], per_entry, size + 1 < size_count ? "," : "\n");
        if (size == 1 || size == 3) {
            speeds[size / 2] = find_ns(dict);
        }
    }
#ifdef KV_DEBUG
    const char *build = "debug build";
#else
    const char *build = "optimized build";
#endif
    printf("  find, half hits: %.1f ns on 10k entries, %.1f ns on 1M entries (%s)\n",
           speeds[0], speeds[1], build);
    clear_all(dict, allocations_before);
}

/*
 * A full heap: take most pages in large blocks and the rest in entry-sized blocks, give back
 * every other small one (holes that only entries fit: no free page remains for a larger
 * bucket array), then insert until no entry fits. Every insert must link, and every key
 * must still be found. Then the large blocks go back and dict_rehash grows the table.
 */
static void test_exhaustion(void)
{
    struct region region;
    char error[256];
    if (region_map(&region, heap_plan_bytes(HEAP_SMALL_BYTES), CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "test_dict: %s\n", error);
        exit(1);
    }
    static struct heap heap;
    heap_init(&heap, &region, HEAP_SMALL_BYTES);
    struct dict dict;
    dict_init(&dict, &heap, entry_key, seed);
    fill(&dict, 16384);
    uint32_t bucket_count = dict.bucket_count[0];
    CHECK(bucket_count == 32768);
    /* Pages taken in large blocks, to give back at the end; the rest in entry-sized fillers. */
    static void *page_blocks[HEAP_SMALL_BYTES / PAGE_BLOCK_BYTES];
    uint32_t page_block_count = 0;
    /* Bound: the heap's bytes in blocks of PAGE_BLOCK_BYTES. */
    while (heap_free_bytes(&heap) > HEAP_SMALL_ROOM_BYTES) {
        KV_ASSERT(page_block_count < sizeof(page_blocks) / sizeof(page_blocks[0]));
        page_blocks[page_block_count] = heap_alloc(&heap, PAGE_BLOCK_BYTES);
        CHECK(page_blocks[page_block_count] != NULL);
        page_block_count++;
    }
    static void *fillers[HEAP_SMALL_ROOM_BYTES / 16];
    uint32_t filler_count = 0;
    /* Bound: the room left, in blocks of at least 16 bytes. */
    while (filler_count < sizeof(fillers) / sizeof(fillers[0])) {
        void *filler = heap_alloc(&heap, sizeof(struct test_entry) + KEY_BYTES);
        if (filler == NULL) {
            break;
        }
        fillers[filler_count] = filler;
        filler_count++;
    }
    CHECK(heap_alloc(&heap, (uint64_t)bucket_count * 2 * sizeof(uint32_t)) == NULL);
    for (uint32_t filler = 0; filler < filler_count; filler += 2) {
        heap_release(&heap, fillers[filler]);
        fillers[filler] = NULL;
    }
    uint32_t id = 16384;
    /* Bound: the holes left, one entry each. */
    while (id < KEY_SPACE && op_insert(&dict, id)) {
        id++;
    }
    dict_verify(&dict);
    CHECK(!dict_rehashing(&dict));
    CHECK(dict.bucket_count[0] == bucket_count);
    CHECK(dict_count(&dict) >= 2ull * bucket_count);
    uint64_t random_state = 99;
    CHECK(dict_random(&dict, &random_state) != HEAP_REF_NONE);
    for (uint32_t check = 0; check < id; check++) {
        op_find(&dict, check);
    }
    printf("  full heap: %llu entries in %u buckets (%.1f per bucket), all found\n",
           (unsigned long long)dict_count(&dict), dict.bucket_count[0],
           (double)dict_count(&dict) / dict.bucket_count[0]);
    /* Memory back: idle rehashing grows the table to one entry per bucket again. */
    for (uint32_t block = 0; block < page_block_count; block++) {
        heap_release(&heap, page_blocks[block]);
    }
    /* Bound: one doubling per round, at most 31. */
    for (uint32_t round = 0; round < 32 && dict_rehash(&dict, UINT32_MAX); round++) {
    }
    CHECK(dict_count(&dict) < dict.bucket_count[0]);
    printf("  memory back: dict_rehash grew it to %u buckets\n", dict.bucket_count[0]);
    dict_verify(&dict);
    for (uint32_t check = 0; check < id; check++) {
        op_find(&dict, check);
    }
    for (uint32_t filler = 1; filler < filler_count; filler += 2) {
        heap_release(&heap, fillers[filler]);
    }
    clear_all(&dict, 0);
    heap_verify(&heap);
    region_unmap(&region);
}

#define HEAP_SPARSE_BYTES (32ull << 20)
#define SPARSE_ENTRIES 200000u
#define SPARSE_LEFT 300u
#define TAKE_BLOCK_MAX 65536u

/* Takes all the heap's room: blocks of every power of two from 1 MiB down to 8 bytes, each
 * size until refused, so no free page and no free object of those sizes remains. */
static uint32_t heap_take_all(struct heap *heap, void **blocks)
{
    uint32_t count = 0;
    /* Bound: 18 sizes, TAKE_BLOCK_MAX blocks in all. */
    for (uint64_t bytes = 1u << 20; bytes >= 8; bytes /= 2) {
        while (count < TAKE_BLOCK_MAX) {
            void *block = heap_alloc(heap, bytes);
            if (block == NULL) {
                break;
            }
            blocks[count] = block;
            count++;
        }
    }
    KV_ASSERT(count < TAKE_BLOCK_MAX);
    return count;
}

/*
 * A shrink refused: entries interleaved with fillers of their size (so that removing entries
 * frees no page), then every other page taken; removing all but SPARSE_LEFT entries leaves the
 * table sparse, and dict_random still finds them. Once memory returns, dict_rehash starts one
 * shrink by far more than DICT_SCAN_EXPANSION_MAX, and a scan of the dict mid-way returns
 * every entry.
 */
static void test_shrink_refused(void)
{
    struct region region;
    char error[256];
    if (region_map(&region, heap_plan_bytes(HEAP_SPARSE_BYTES), CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "test_dict: %s\n", error);
        exit(1);
    }
    static struct heap heap;
    heap_init(&heap, &region, HEAP_SPARSE_BYTES);
    struct dict dict;
    dict_init(&dict, &heap, entry_key, seed + 1);
    static void *fillers[SPARSE_ENTRIES];
    for (uint32_t id = 0; id < SPARSE_ENTRIES; id++) {
        CHECK(op_insert(&dict, id));
        fillers[id] = heap_alloc(&heap, sizeof(struct test_entry) + KEY_BYTES);
        CHECK(fillers[id] != NULL);
    }
    fill(&dict, 0);
    uint32_t bucket_count = dict.bucket_count[0];
    static void *blocks[TAKE_BLOCK_MAX];
    uint32_t block_count = heap_take_all(&heap, blocks);
    /* Bound: the entries but SPARSE_LEFT. */
    while (present_count > SPARSE_LEFT) {
        op_remove(&dict, present_ids[prng_below(present_count)], (present_count & 1) != 0);
    }
    CHECK(!dict_rehashing(&dict));
    CHECK(dict.bucket_count[0] == bucket_count);
    dict_verify(&dict);
    uint64_t random_state = 7;
    uint32_t wrong = 0;
    memset(seen_counts, 0, sizeof(seen_counts));
    for (uint32_t draw = 0; draw < 3000; draw++) {
        uint32_t ref = dict_random(&dict, &random_state);
        wrong += ref == HEAP_REF_NONE || model_ref[entry_at(&heap, ref)->id] != ref;
        if (ref != HEAP_REF_NONE) {
            seen_counts[entry_at(&heap, ref)->id]++;
        }
    }
    uint32_t distinct = 0;
    for (uint32_t present = 0; present < present_count; present++) {
        distinct += seen_counts[present_ids[present]] != 0;
    }
    CHECK(wrong == 0);
    CHECK(distinct > SPARSE_LEFT / 2);
    for (uint32_t block = 0; block < block_count; block++) {
        heap_release(&heap, blocks[block]);
    }
    CHECK(dict_rehash(&dict, 0));
    CHECK(dict.bucket_count[0] == bucket_count);
    CHECK(dict.bucket_count[0] / dict.bucket_count[1] > DICT_SCAN_EXPANSION_MAX);
    CHECK(dict_rehash(&dict, 2000));
    dict_verify(&dict);
    memset(seen_counts, 0, sizeof(seen_counts));
    struct scan_context scan = {&heap, 0};
    uint64_t cursor = 0;
    uint64_t calls = 0;
    /* Bound: 2^22 calls (the scan ends far sooner; checked below). */
    do {
        cursor = dict_scan(&dict, cursor, scan_visit, &scan);
        calls++;
    } while (cursor != 0 && calls < (1u << 22));
    uint64_t missing = 0;
    for (uint32_t present = 0; present < present_count; present++) {
        missing += seen_counts[present_ids[present]] == 0;
    }
    CHECK(cursor == 0);
    CHECK(missing == 0);
    printf("  shrink refused: %u entries in %u buckets, random finds them (%u distinct of "
           "3000 draws); then %u -> %u: scan in %llu calls, %llu visits\n", present_count,
           bucket_count, distinct, dict.bucket_count[0], dict.bucket_count[1],
           (unsigned long long)calls, (unsigned long long)scan.visits);
    /* Bound: the table's buckets, DICT_REHASH_EMPTY_VISITS + 1 per step at least one. */
    while (dict_rehash(&dict, 1u << 20)) {
    }
    CHECK(dict.bucket_count[0] == 512);
    dict_verify(&dict);
    clear_all(&dict, SPARSE_ENTRIES);
    for (uint32_t id = 0; id < SPARSE_ENTRIES; id++) {
        heap_release(&heap, fillers[id]);
    }
    CHECK(heap.allocations == 0);
    heap_verify(&heap);
    region_unmap(&region);
}

/* An entry whose key changed under the dict sits in the wrong bucket. */
static void verify_wrong_bucket(void *context)
{
    struct dict *dict = context;
    struct test_entry *entry = entry_at(dict->heap, model_ref[present_ids[0]]);
    entry->key[1] ^= 0x01;
    dict_verify(dict);
}

/* A count that disagrees with the chains. */
static void verify_count(void *context)
{
    struct dict *dict = context;
    dict->count[0]++;
    dict_verify(dict);
}

/* A second entry with a key already present (debug builds look before linking). */
static void insert_twice(void *context)
{
    struct dict *dict = context;
    dict_insert(dict, entry_new(dict->heap, present_ids[0]));
}

static void test_verify_catches(struct dict *dict)
{
    uint64_t allocations_before = dict->heap->allocations;
    fill(dict, 2000);
    CHECK(check_dies_asserting(verify_wrong_bucket, dict, "((uint32_t)hash & mask) == index"));
    CHECK(check_dies_asserting(verify_count, dict, "chained == dict->count[table]"));
#ifdef KV_DEBUG
    CHECK(check_dies_asserting(insert_twice, dict, "chain_locate(dict, key, hash, &table)"));
#else
    (void)insert_twice;
#endif
    clear_all(dict, allocations_before);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                             : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    char error[256];
    if (region_map(&region_main, heap_plan_bytes(HEAP_MAIN_BYTES), CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "test_dict: %s\n", error);
        return 1;
    }
    heap_init(&heap_main, &region_main, HEAP_MAIN_BYTES);
    model_reset();
    struct dict dict;
    dict_init(&dict, &heap_main, entry_key, seed * 0x9e3779b97f4a7c15ull);
    dict_verify(&dict);
    CHECK(dict_count(&dict) == 0);
    CHECK(dict_find(&dict, (struct slice){NULL, 0}, NULL) == HEAP_REF_NONE);
    CHECK(dict_remove(&dict, (struct slice){(const uint8_t *)"k", 1}) == HEAP_REF_NONE);
    test_thresholds(&dict);
    test_positions(&dict);
    test_scan_static(&dict);
    test_visit_units(&dict);
    scan_resizing(&dict, 5000, 60000, 24);
    scan_resizing(&dict, 500, 150000, 64);
    test_random(&dict);
    test_walk(&dict);
    test_memory(&dict);
    test_verify_catches(&dict);
    test_churn(&dict);
    heap_verify(&heap_main);
    test_exhaustion();
    test_shrink_refused();
    CHECK(mismatch_count == 0);
    if (check_failures != 0) {
        fprintf(stderr, "test_dict: KV_SEED=%llu\n", (unsigned long long)seed);
    }
    region_unmap(&region_main);
    return check_exit("test_dict");
}
