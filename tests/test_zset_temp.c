/*
 * Proves the sorted-set results built apart from the keyspace (store_zset.h's
 * store_zset_temp_*, for ZUNION, ZINTER, ZDIFF, their STORE forms and ZRANGESTORE). A seeded
 * run (KV_SEED replays it) puts members with new and changed scores into a result and checks
 * it against a model: the count, each score, the walk in (score, member) order. Stored in
 * place of a destination (absent, a string, a sorted set), it becomes the key's value, as a
 * pack while it has at most 128 members of at most 64 bytes (where -0 reads as 0) and as the
 * tree otherwise (-0 kept); an empty result deletes the destination. A full heap refuses a
 * put (the result unchanged) and a store (nothing changed: the old destination reads back),
 * at every point it can run out; every refused result is given back whole, so the store's
 * tally plus the test's ballast always equals the heap's allocations.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "heap.h"
#include "store.h"
#include "store_string.h"
#include "store_zset.h"

static struct region region;
static struct heap heap;
static struct store store;
static struct config store_config;

#define BALLAST_MAX 200000u
static void *ballast[BALLAST_MAX];
static uint32_t ballast_count;

/* The model: member i (name "m<i>" or a 70-byte one) with a score, present or not. */
#define MODEL_MAX 400u
static double model_score[MODEL_MAX];
static bool model_present[MODEL_MAX];
static char names[MODEL_MAX][80];

static void setup(uint64_t heap_bytes)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    fixture_caps_none(&store_config);
    store_init(&store, &heap, &store_config, 777);
    store_string_init(&store);
    store_zset_init(&store);
    store_clock(&store, 1000000);
    ballast_count = 0;
}

static void verify(void)
{
    CHECK(store_verify(&store) + ballast_count == heap.allocations);
    heap_verify(&heap);
}

static void ballast_fill(void)
{
    static const uint64_t large[] = {1u << 20, 256u << 10, 64u << 10, HEAP_SMALL_BYTES_MAX + 8};
    for (uint32_t size = 0; size < sizeof(large) / sizeof(large[0]); size++) {
        /* Bounded by the heap's room (and BALLAST_MAX). */
        while (ballast_count < BALLAST_MAX) {
            void *piece = heap_alloc(&heap, large[size]);
            if (piece == NULL) {
                break;
            }
            ballast[ballast_count++] = piece;
        }
    }
    for (uint32_t class_index = heap.class_count; class_index-- > 0;) {
        while (ballast_count < BALLAST_MAX) {
            void *piece = heap_alloc(&heap, heap.classes[class_index].object_bytes);
            if (piece == NULL) {
                break;
            }
            ballast[ballast_count++] = piece;
        }
    }
    CHECK(heap_free_bytes(&heap) == 0);
}

static void ballast_release_all(void)
{
    while (ballast_count > 0) {
        heap_release(&heap, ballast[--ballast_count]);
    }
}

/* Model order: (score, member bytes). */
static int model_compare(uint32_t a, uint32_t b)
{
    if (model_score[a] != model_score[b]) {
        return model_score[a] < model_score[b] ? -1 : 1;
    }
    return ztree_member_compare(text(names[a]), text(names[b]));
}

/* The model's members in order, into order[]; returns the count. */
static uint32_t model_sorted(uint32_t *order)
{
    uint32_t count = 0;
    for (uint32_t index = 0; index < MODEL_MAX; index++) {
        if (!model_present[index]) {
            continue;
        }
        uint32_t at = count++;
        while (at > 0 && model_compare(order[at - 1], index) > 0) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = index;
    }
    return count;
}

static void compare_temp(const struct store_zset_temp *temp)
{
    static uint32_t order[MODEL_MAX];
    uint32_t count = model_sorted(order);
    CHECK(store_zset_temp_count(&store, temp) == count);
    if (count == 0) {
        return;
    }
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    store_zset_temp_walk_start(&store, temp, &walk);
    for (uint32_t rank = 0; rank < count; rank++) {
        CHECK(store_zset_walk_next(&walk, &member, &score));
        CHECK(slice_equal(member, text(names[order[rank]])));
        CHECK(score == model_score[order[rank]]);
        CHECK(signbit(score) == signbit(model_score[order[rank]]));
    }
    CHECK(!store_zset_walk_next(&walk, &member, &score));
}

/* The destination "dst" reads back as the model (scores' sign of zero as `small` keeps
 * them), in the encoding the model's shape asks for. */
static void compare_key(bool expect_small)
{
    static uint32_t order[MODEL_MAX];
    uint32_t count = model_sorted(order);
    uint32_t key_ref = 0;
    bool found = store_find(&store, text("dst"), &key_ref);
    CHECK(found == (count > 0));
    if (!found) {
        return;
    }
    CHECK(store_key_type(store_key(&store, key_ref)) == STORE_TYPE_ZSET);
    CHECK(strcmp(store_encoding_name(&store, store_key(&store, key_ref)),
                 expect_small ? "listpack" : "skiplist") == 0);
    CHECK(store_zset_count(&store, key_ref) == count);
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    store_zset_walk_start(&store, key_ref, 0, false, &walk);
    for (uint32_t rank = 0; rank < count; rank++) {
        CHECK(store_zset_walk_next(&walk, &member, &score));
        CHECK(slice_equal(member, text(names[order[rank]])));
        CHECK(score == model_score[order[rank]]);
        double want = expect_small ? model_score[order[rank]] + 0.0 : model_score[order[rank]];
        CHECK(signbit(score) == signbit(want));
    }
}

static const double scores[] = {0, -0.0, 1, -1, 2.5, INFINITY, -INFINITY, 3, 1e300};

/* One seeded round: `wanted` puts (new members and changes) into a result, then stored. */
static void round_run(uint32_t wanted, bool long_members)
{
    memset(model_present, 0, sizeof(model_present));
    struct store_zset_temp temp;
    CHECK(store_zset_temp_start(&store, &temp));
    uint32_t pool = wanted < 10 ? 10 : wanted;
    for (uint32_t put = 0; put < wanted; put++) {
        uint32_t index = (uint32_t)(random_next() % pool);
        if (!long_members && index >= 200) {
            index %= 200;
        }
        double score = scores[random_next() % (sizeof(scores) / sizeof(scores[0]))];
        CHECK(store_zset_temp_put(&store, &temp, text(names[index]), score));
        model_present[index] = true;
        model_score[index] = score;
        double read = 0;
        CHECK(store_zset_temp_score(&store, &temp, text(names[index]), &read) && read == score);
    }
    compare_temp(&temp);
    uint32_t count = store_zset_temp_count(&store, &temp);
    bool long_seen = false;
    for (uint32_t index = 200; index < MODEL_MAX; index++) {
        long_seen |= model_present[index];
    }
    bool small = count <= STORE_ZSET_PACK_COUNT_MAX && !long_seen;
    /* The destination is absent, a string, or a sorted set from an earlier round. */
    uint64_t shape = random_next() % 3;
    if (shape == 1) {
        CHECK(store_string_set(&store, text("dst"), text("old")) == STORE_OK);
    } else if (shape == 2) {
        (void)store_delete(&store, text("dst"));
    }
    struct store_found target;
    (void)store_find_typed(&store, text("dst"), STORE_TYPE_ANY, &target);
    CHECK(store_zset_temp_store(&store, &target, text("dst"), &temp) == STORE_OK);
    CHECK(temp.big_ref == HEAP_REF_NONE);
    compare_key(small);
    verify();
}

/* A put and a store on a full heap: refused with nothing changed until enough is given back;
 * the destination (a string) reads back the same after each refusal. */
static void test_oom(void)
{
    setup(4u << 20);
    CHECK(store_string_set(&store, text("dst"), text("old")) == STORE_OK);
    uint32_t refused_puts = 0;
    uint32_t refused_stores = 0;
    for (uint32_t size = 5; size <= 300; size += 59) {
        memset(model_present, 0, sizeof(model_present));
        ballast_fill();
        struct store_zset_temp temp;
        /* Bounded by the ballast: each refusal gives one piece back. */
        while (!store_zset_temp_start(&store, &temp)) {
            heap_release(&heap, ballast[--ballast_count]);
        }
        for (uint32_t index = 0; index < size; index++) {
            uint32_t member = index % 2 == 0 ? index % 200 : 200 + index % 200;
            member = size < 150 ? member % 200 : member;
            /* Bounded by the ballast, as above. */
            uint64_t before = heap.allocations;
            while (!store_zset_temp_put(&store, &temp, text(names[member]), (double)index)) {
                refused_puts++;
                CHECK(store_zset_temp_count(&store, &temp) == index);
                CHECK(heap.allocations == before); /* a refused put took nothing */
                heap_verify(&heap);
                heap_release(&heap, ballast[--ballast_count]);
                before = heap.allocations;
            }
        }
        ballast_fill();
        bool stored = false;
        /* Bounded by the ballast: each refusal gives one piece back. */
        while (!stored) {
            struct store_found target;
            (void)store_find_typed(&store, text("dst"), STORE_TYPE_ANY, &target);
            uint64_t before = heap.allocations;
            struct store_zset_temp copy;
            if (!store_zset_temp_start(&store, &copy)) {
                heap_release(&heap, ballast[--ballast_count]);
                continue;
            }
            /* A copy to store, so a refusal (which gives the result back) can be retried. */
            struct store_zset_walk walk;
            struct slice member;
            double score = 0;
            bool copied = true;
            store_zset_temp_walk_start(&store, &temp, &walk);
            while (copied && store_zset_walk_next(&walk, &member, &score)) {
                copied = store_zset_temp_put(&store, &copy, member, score);
            }
            if (!copied) {
                store_zset_temp_abandon(&store, &copy);
                heap_release(&heap, ballast[--ballast_count]);
                continue;
            }
            enum store_status status = store_zset_temp_store(&store, &target, text("dst"), &copy);
            CHECK(copy.big_ref == HEAP_REF_NONE);
            CHECK(status == STORE_OK || status == STORE_OOM);
            stored = status == STORE_OK;
            if (!stored) {
                refused_stores++;
                uint32_t key_ref = 0;
                CHECK(store_find(&store, text("dst"), &key_ref));
                uint8_t type = store_key_type(store_key(&store, key_ref));
                CHECK(type == (size == 5 ? STORE_TYPE_STRING : STORE_TYPE_ZSET));
                CHECK(heap.allocations == before); /* the refused copy went back whole */
                heap_verify(&heap);
                heap_release(&heap, ballast[--ballast_count]);
            }
        }
        store_zset_temp_abandon(&store, &temp);
        ballast_release_all();
        verify();
    }
    fprintf(stderr, "test_zset_temp: %u puts and %u stores refused on a full heap\n",
            refused_puts, refused_stores);
    CHECK(refused_puts > 0);
    CHECK(refused_stores > 0);
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_zset_temp: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    seed_state = seed;
    for (uint32_t index = 0; index < MODEL_MAX; index++) {
        if (index < 200) {
            snprintf(names[index], sizeof(names[index]), "m%u", index);
        } else {
            memset(names[index], 'L', 70);
            snprintf(names[index] + 70, 8, "%03u", index);
        }
    }
    setup(16u << 20);
    for (uint32_t round = 0; round < 200; round++) {
        uint32_t wanted = (uint32_t)(random_next() % 4 == 0 ? random_next() % 400
                                                            : random_next() % 40);
        round_run(wanted, random_next() % 4 == 0);
    }
    /* An empty result deletes the destination. */
    struct store_zset_temp temp;
    memset(model_present, 0, sizeof(model_present));
    CHECK(store_zset_temp_start(&store, &temp));
    struct store_found target;
    (void)store_find_typed(&store, text("dst"), STORE_TYPE_ANY, &target);
    CHECK(store_zset_temp_store(&store, &target, text("dst"), &temp) == STORE_OK);
    uint32_t key_ref = 0;
    CHECK(!store_find(&store, text("dst"), &key_ref));
    verify();
    test_oom();
    return check_exit("test_zset_temp");
}
