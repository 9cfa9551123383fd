/*
 * Proves streams on the heap (store_stream.h). A seeded churn (KV_SEED replays it; the seed is
 * printed on failure) appends entries with growing IDs and 1 to 4 pairs of varied sizes (some
 * past a node's 4096 bytes), deletes IDs, trims by MAXLEN and MINID, exact and `~` with
 * limits, and sets IDs, against a model: after every step the length, first and last IDs, and
 * walks over random ranges both ways agree with the model entry by entry, and store_verify's
 * tally equals the heap's allocation count. Nodes hold at most 100 entries. Consumer groups:
 * groups and consumers kept in name order, deliveries, reassignments, acks and consumer
 * deletions against a model PEL. A full heap refuses an append, a group and a PEL
 * reservation with STORE_OOM and nothing changed; removals still work on a full heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_stream.h"
#include "store_string.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;
static uint64_t seed_first;

#define BALLAST_MAX 400000u
static void *ballast[BALLAST_MAX];
static uint32_t ballast_count;

static void setup(uint64_t heap_bytes)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    fixture_caps_none(&store_config);
    store_init(&store, &heap, &store_config, 12345);
    store_string_init(&store);
    store_stream_init(&store);
    store_clock(&store, 1000000);
    ballast_count = 0;
}

static void verify(void)
{
    CHECK(store_verify(&store) + ballast_count == heap.allocations);
    heap_verify(&heap);
}

/* ---- The model ---------------------------------------------------------------------------- */

#define MODEL_MAX 20000u
#define PAIRS_MAX 4u
#define VALUE_BYTES_MAX 5000u

struct model_entry {
    struct stream_id id;
    uint32_t pair_count;
    uint32_t value_bytes;  /* the first value's length; its bytes derive from the ID */
    bool live;
};

static struct model_entry model[MODEL_MAX];
static uint32_t model_count;
static uint64_t model_length;
static struct stream_id model_last;
static uint8_t value_buffer[VALUE_BYTES_MAX];

/* The pairs of an entry: fields "f0".."f3", the first value `bytes` long, the rest short. */
static void entry_pairs(const struct model_entry *entry, struct slice *pairs, char names[][12],
                        char shorts[][24])
{
    for (uint32_t index = 0; index < entry->pair_count; index++) {
        snprintf(names[index], 12, "f%u", index);
        pairs[2 * index] = text(names[index]);
        if (index == 0) {
            memset(value_buffer, 'a' + (int)(entry->id.seq % 26), entry->value_bytes);
            pairs[1] = (struct slice){.bytes = value_buffer, .length = entry->value_bytes};
        } else {
            snprintf(shorts[index], 24, "%llu", (unsigned long long)entry->id.ms * 7 + index);
            pairs[2 * index + 1] = text(shorts[index]);
        }
    }
}

static bool key_find(struct store_found *found)
{
    return store_find_typed(&store, text("s"), STORE_TYPE_STREAM, found) == STORE_OK;
}

static void append_one(void)
{
    if (model_count == MODEL_MAX) {
        return;
    }
    struct model_entry *entry = &model[model_count];
    struct stream_id id = model_last;
    if (random_below(3) == 0) {
        id.ms += 1 + random_below(1000);
        id.seq = random_below(3);
    } else {
        id.seq += 1 + random_below(2);
    }
    uint32_t roll = random_below(100);
    *entry = (struct model_entry){.id = id, .pair_count = 1 + random_below(PAIRS_MAX),
                                  .value_bytes = roll < 2 ? 4096 + random_below(900)
                                                 : roll < 20 ? random_below(300)
                                                             : random_below(12),
                                  .live = true};
    struct slice pairs[2 * PAIRS_MAX];
    char names[PAIRS_MAX][12];
    char shorts[PAIRS_MAX][24];
    entry_pairs(entry, pairs, names, shorts);
    struct store_found found;
    (void)key_find(&found);
    enum store_status status =
        store_stream_add(&store, &found, text("s"), id, pairs, entry->pair_count);
    CHECK(status == STORE_OK);
    if (status == STORE_OK) {
        model_count++;
        model_length++;
        model_last = id;
    }
}

static void delete_one(void)
{
    struct store_found found;
    if (!key_find(&found) || model_count == 0) {
        return;
    }
    uint32_t at = random_below(model_count);
    bool deleted = store_stream_delete(&store, &found, model[at].id);
    CHECK(deleted == model[at].live);
    if (model[at].live) {
        model[at].live = false;
        model_length--;
    }
}

/* The model's trim, as Redis's streamTrim over its nodes: recomputed from the store's node
 * boundaries would defeat the test, so approximate trims are checked by their bounds only. */
static void trim_one(void)
{
    struct store_found found;
    if (!key_find(&found)) {
        return;
    }
    struct store_stream_trim trim = {0};
    trim.strategy = random_below(2) == 0 ? STORE_STREAM_TRIM_MAXLEN : STORE_STREAM_TRIM_MINID;
    trim.approx = random_below(2) == 0;
    trim.limit = trim.approx && random_below(3) == 0 ? random_below(300) : 0;
    trim.maxlen = model_length > 0 ? model_length - random_below((uint32_t)model_length / 4 + 1)
                                   : 0;
    trim.minid = model_count > 0 ? model[random_below(model_count) / 3].id
                                 : (struct stream_id){0, 0};
    uint64_t before = model_length;
    uint64_t deleted = store_stream_trim(&store, &found, &trim);
    const struct store_stream *stream = store_stream_of(&store, found.key_ref);
    CHECK(stream->length + deleted == before);
    if (!trim.approx && trim.limit == 0) {
        if (trim.strategy == STORE_STREAM_TRIM_MAXLEN) {
            CHECK(stream->length == (before < trim.maxlen ? before : trim.maxlen));
        }
    }
    /* The oldest live entries went: mark them in the model. */
    uint64_t left = deleted;
    for (uint32_t at = 0; at < model_count && left > 0; at++) {
        if (model[at].live) {
            if (trim.strategy == STORE_STREAM_TRIM_MINID) {
                CHECK(stream_id_compare(model[at].id, trim.minid) < 0);
            }
            model[at].live = false;
            left--;
        }
    }
    model_length -= deleted;
    if (trim.strategy == STORE_STREAM_TRIM_MINID && !trim.approx && trim.limit == 0) {
        for (uint32_t at = 0; at < model_count; at++) {
            CHECK(!model[at].live || stream_id_compare(model[at].id, trim.minid) >= 0);
        }
    }
}

/* A walk of [start, end] both ways, entry by entry against the model. */
static void walk_check(uint32_t key_ref, struct stream_id start, struct stream_id end)
{
    for (int reverse = 0; reverse < 2; reverse++) {
        struct store_stream_walk walk;
        struct store_stream_entry entry;
        store_stream_walk_start(&walk, &store, key_ref, start, end, reverse != 0);
        uint32_t at = reverse ? model_count : 0;
        bool more = true;
        while (more) {
            /* The next live model entry in range, in the walk's direction. */
            const struct model_entry *want = NULL;
            while (reverse ? at > 0 : at < model_count) {
                const struct model_entry *candidate = &model[reverse ? at - 1 : at];
                at = reverse ? at - 1 : at + 1;
                if (candidate->live && stream_id_compare(candidate->id, start) >= 0 &&
                    stream_id_compare(candidate->id, end) <= 0) {
                    want = candidate;
                    break;
                }
            }
            more = store_stream_walk_next(&walk, &entry);
            CHECK(more == (want != NULL));
            if (!more || want == NULL) {
                break;
            }
            CHECK(stream_id_compare(entry.id, want->id) == 0);
            CHECK(entry.pair_count == want->pair_count);
            struct slice pairs[2 * PAIRS_MAX];
            char names[PAIRS_MAX][12];
            char shorts[PAIRS_MAX][24];
            entry_pairs(want, pairs, names, shorts);
            uint32_t offset = 0;
            for (uint32_t index = 0; index < entry.pair_count && index < PAIRS_MAX; index++) {
                struct slice field;
                struct slice value;
                store_stream_pair(&entry, &offset, &field, &value);
                CHECK(slice_equal(field, pairs[2 * index]));
                CHECK(slice_equal(value, pairs[2 * index + 1]));
            }
        }
    }
}

static void state_check(void)
{
    struct store_found found;
    if (!key_find(&found)) {
        CHECK(model_count == 0);
        return;
    }
    const struct store_stream *stream = store_stream_of(&store, found.key_ref);
    CHECK(stream->length == model_length);
    CHECK(stream_id_compare(stream->last_id, model_last) == 0);
    struct stream_id first = {0, 0};
    for (uint32_t at = 0; at < model_count; at++) {
        if (model[at].live) {
            first = model[at].id;
            break;
        }
    }
    CHECK(stream_id_compare(stream->first_id, first) == 0);
    /* Nodes hold at most 100 entries, so there are at least that many of them. */
    uint64_t nodes = store_stream_node_count(&store, found.key_ref);
    CHECK(nodes * STORE_STREAM_NODE_ENTRIES_MAX >= model_length);
    struct stream_id low = {0, 0};
    struct stream_id high = {UINT64_MAX, UINT64_MAX};
    if (model_count > 0 && random_below(2) == 0) {
        low = model[random_below(model_count)].id;
        high = model[random_below(model_count)].id;
        low.seq += random_below(2);
    }
    walk_check(found.key_ref, low, high);
}

static void churn(uint32_t steps)
{
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t roll = random_below(100);
        if (roll < 70) {
            append_one();
        } else if (roll < 88) {
            delete_one();
        } else if (roll < 91) {
            trim_one();
        }
        if (step % 32 == 0 || roll >= 97) {
            state_check();
            verify();
        }
    }
    state_check();
    verify();
}

/* ---- Consumer groups ------------------------------------------------------------------------ */

static void groups(void)
{
    struct store_found found;
    CHECK(key_find(&found));
    const char *names[] = {"b", "a", "", "ab", "c"};
    for (uint32_t index = 0; index < 5; index++) {
        CHECK(store_stream_group_create(&store, &found, text(names[index]),
                                        (struct stream_id){0, 0}, -1) == STORE_OK);
    }
    /* Name order, as Redis's rax keeps it. */
    const char *order[] = {"", "a", "ab", "b", "c"};
    struct store_stream_group *group = store_stream_group_first(&store, found.key_ref);
    for (uint32_t index = 0; index < 5; index++) {
        CHECK(group != NULL && slice_equal(store_stream_group_name(group), text(order[index])));
        group = group != NULL ? store_stream_group_next(&store, group) : NULL;
    }
    CHECK(group == NULL);
    verify();
    group = store_stream_group_find(&store, found.key_ref, text("a"));
    struct store_stream_consumer *consumers[3];
    consumers[0] = store_stream_consumer_create(&store, group, text("x"), 1);
    consumers[1] = store_stream_consumer_create(&store, group, text("y"), 1);
    consumers[2] = store_stream_consumer_create(&store, group, text("w"), 1);
    CHECK(consumers[0] != NULL && consumers[1] != NULL && consumers[2] != NULL);
    /* Deliver every live entry to a random consumer, some twice (moved). */
    uint32_t pending = 0;
    for (uint32_t at = 0; at < model_count; at++) {
        if (!model[at].live) {
            continue;
        }
        uint32_t who = random_below(3);
        CHECK(store_stream_pel_reserve(&store, group, consumers[who], 1) == STORE_OK);
        store_stream_pel_deliver(&store, group, consumers[who], model[at].id, 5, true);
        pending++;
        if (random_below(4) == 0) {
            uint32_t other = (who + 1) % 3;
            CHECK(store_stream_pel_reserve(&store, group, consumers[other], 1) == STORE_OK);
            store_stream_pel_deliver(&store, group, consumers[other], model[at].id, 6, true);
        }
        if (at % 64 == 0) {
            verify();
        }
    }
    CHECK(group->pel_count == pending);
    CHECK(consumers[0]->pending_count + consumers[1]->pending_count +
              consumers[2]->pending_count ==
          pending);
    verify();
    /* Ack a third, then delete a consumer with what it holds. */
    for (uint32_t at = 0; at < model_count; at += 3) {
        bool was = store_stream_pel_find(&store, group, model[at].id) != NULL;
        CHECK(store_stream_ack(&store, group, model[at].id) == was);
        pending -= was ? 1u : 0u;
        CHECK(!store_stream_ack(&store, group, model[at].id));
    }
    CHECK(group->pel_count == pending);
    verify();
    uint32_t held = consumers[1]->pending_count;
    CHECK(store_stream_consumer_delete(&store, group, consumers[1]) == held);
    CHECK(group->pel_count == pending - held);
    CHECK(store_stream_consumer_find(&store, group, text("y")) == NULL);
    verify();
    store_stream_group_destroy(&store, &found, store_stream_group_find(&store, found.key_ref,
                                                                       text("b")));
    CHECK(store_stream_of(&store, found.key_ref)->group_count == 4);
    verify();
}

/* ---- A full heap ----------------------------------------------------------------------------- */

static void fill_heap(void)
{
    /* Whole pages first, then every size class down to the smallest, until nothing fits. */
    for (uint64_t bytes = 1u << 16; bytes >= HEAP_ALIGN; bytes -= bytes > 32768 ? 32768 : 8) {
        while (ballast_count < BALLAST_MAX) {
            void *pointer = heap_alloc(&heap, bytes);
            if (pointer == NULL) {
                break;
            }
            ballast[ballast_count++] = pointer;
        }
    }
}

static void full_heap(void)
{
    struct store_found found;
    CHECK(key_find(&found));
    uint64_t length = store_stream_of(&store, found.key_ref)->length;
    struct stream_id last = store_stream_of(&store, found.key_ref)->last_id;
    uint32_t groups_before = store_stream_of(&store, found.key_ref)->group_count;
    fill_heap();
    verify();
    /* An append that needs a new node (a large value) is refused, and nothing changed. */
    memset(value_buffer, 'z', 4500);
    struct slice pairs[2] = {text("f"), {.bytes = value_buffer, .length = 4500}};
    struct stream_id id = {last.ms + 1, 0};
    CHECK(store_stream_add(&store, &found, text("s"), id, pairs, 1) == STORE_OOM);
    CHECK(store_stream_of(&store, found.key_ref)->length == length);
    CHECK(stream_id_compare(store_stream_of(&store, found.key_ref)->last_id, last) == 0);
    fill_heap(); /* a refused append may have moved its index: what that freed is taken */
    CHECK(store_stream_group_create(&store, &found, text("new group with a long name"), id, -1) ==
          STORE_OOM);
    CHECK(store_stream_of(&store, found.key_ref)->group_count == groups_before);
    fill_heap();
    struct store_found absent;
    (void)store_find_typed(&store, text("other"), STORE_TYPE_STREAM, &absent);
    CHECK(store_stream_add(&store, &absent, text("other"), id, pairs, 1) == STORE_OOM);
    CHECK(!absent.exists);
    verify();
    /* Removals work on a full heap. */
    struct store_stream_trim trim = {.strategy = STORE_STREAM_TRIM_MAXLEN, .maxlen = length / 2};
    uint64_t trimmed = store_stream_trim(&store, &found, &trim);
    CHECK(trimmed == length - length / 2);
    if (trimmed != length - length / 2) {
        fprintf(stderr, "trimmed %llu of %llu to %llu: length now %llu\n",
                (unsigned long long)trimmed, (unsigned long long)length,
                (unsigned long long)(length / 2),
                (unsigned long long)store_stream_of(&store, found.key_ref)->length);
    }
    verify();
    while (ballast_count > 0) {
        heap_release(&heap, ballast[--ballast_count]);
    }
    verify();
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    seed_first = seed_text != NULL ? strtoull(seed_text, NULL, 10) : 0x5eed5eedull;
    seed_state = seed_first != 0 ? seed_first : 1;
    setup(24u << 20);
    churn(8000);
    groups();
    full_heap();
    /* A second run of trims down to nothing, then the key goes. */
    struct store_found found;
    CHECK(key_find(&found));
    struct store_stream_trim trim = {.strategy = STORE_STREAM_TRIM_MAXLEN, .maxlen = 0};
    (void)store_stream_trim(&store, &found, &trim);
    CHECK(store_stream_of(&store, found.key_ref)->length == 0);
    verify();
    CHECK(store_delete(&store, text("s")));
    verify();
    CHECK(heap.allocations == 0);
    if (check_failures != 0) {
        fprintf(stderr, "seed %llu: rerun with KV_SEED=%llu\n", (unsigned long long)seed_first,
                (unsigned long long)seed_first);
    }
    return check_exit("test_store_stream");
}
