/*
 * Proves sorted sets on the heap (store_zset.h). A seeded churn (KV_SEED replays it) drives
 * ZADD with every flag combination, repeated members and batches that cross 128 members,
 * members past 64 bytes, ZINCRBY (NaN included), ZREM, rank-range removals, pops from both
 * ends and deletes into a few keys, against a model that applies each pair in order as Redis
 * does: after every step each key's count, encoding (small exactly until a write adds the
 * 129th member or a long one, and never back), every member's score and rank, walks both
 * ways, the counts below a score and BYLEX ranks agree with the model, and store_verify's
 * tally equals the heap's allocation count. A full heap refuses, with STORE_OOM and nothing
 * changed (everything read back), each kind of write that needs memory, at every point it
 * can run out (memory is given back one piece at a time until the write goes through);
 * removals still work on a full heap. kv's caps give their errors in kv's order, counting a
 * member named twice once. A set of a million `player:N` members keeps exact ranks; the time
 * of ZADD, ZSCORE, ZRANK, ZINCRBY and ZREM there and the memory per member are printed.
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

/* Allocations the test holds itself (a full heap's ballast), outside the store's tally. */
#define BALLAST_MAX 200000u
static void *ballast[BALLAST_MAX];
static uint32_t ballast_count;

static void setup(uint64_t heap_bytes, const struct config *caps)
{
    fixture_heap_map(&region, &heap, heap_bytes);
    store_config = *caps; /* the store keeps the pointer: it must outlive the caller's */
    store_init(&store, &heap, &store_config, 12345);
    store_string_init(&store);
    store_zset_init(&store);
    store_clock(&store, 1000000);
    ballast_count = 0;
}

static void setup_default(uint64_t heap_bytes)
{
    struct config config;
    fixture_caps_none(&config);
    setup(heap_bytes, &config);
}

/* The store's tally, plus the test's own ballast, must equal what the heap handed out. */
static void verify(void)
{
    CHECK(store_verify(&store) + ballast_count == heap.allocations);
    heap_verify(&heap);
}

/* ---- Calling the store as the commands do ---- */

#define PAIRS_MAX 400u

static double text_score(struct slice score_text)
{
    char buffer[64];
    memcpy(buffer, score_text.bytes, score_text.length);
    buffer[score_text.length] = '\0';
    return strtod(buffer, NULL);
}

/* A ZADD of `count` pairs at `key` (found afresh, as a command finds it). */
static enum store_status zadd(const char *key, uint32_t flags, uint32_t count,
                              const struct slice *members, const double *scores,
                              struct store_zset_result *result)
{
    static struct slice args[2 * PAIRS_MAX];
    static char score_texts[PAIRS_MAX][40];
    KV_ASSERT(count <= PAIRS_MAX);
    for (uint32_t index = 0; index < count; index++) {
        snprintf(score_texts[index], sizeof(score_texts[index]), "%.17g", scores[index]);
        args[2 * index] = text(score_texts[index]);
        args[2 * index + 1] = members[index];
    }
    struct store_found found;
    enum store_status status = store_find_typed(&store, text(key), STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return status;
    }
    const struct store_zset_pairs pairs = {.args = args, .count = count, .score = text_score};
    return store_zset_add(&store, &found, text(key), flags, &pairs, result);
}

static enum store_status zadd_one(const char *key, uint32_t flags, struct slice member,
                                  double score, struct store_zset_result *result)
{
    return zadd(key, flags, 1, &member, &score, result);
}

/* The key's object when it is a live sorted set, else false. */
static bool zset_find(const char *key, uint32_t *key_ref)
{
    struct store_found found;
    if (store_find_typed(&store, text(key), STORE_TYPE_ZSET, &found) != STORE_OK) {
        return false;
    }
    *key_ref = found.key_ref;
    return true;
}

/* What pops gave the visitor. */
struct popped {
    uint32_t count;
    char members[8][80];
    double scores[8];
};

static void pop_visit(void *context, struct slice member, double score)
{
    struct popped *popped = context;
    KV_ASSERT(popped->count < 8 && member.length < 80);
    memcpy(popped->members[popped->count], member.bytes, member.length);
    popped->members[popped->count][member.length] = '\0';
    popped->scores[popped->count] = score;
    popped->count++;
}

/* ---- The model: for each key, which of MEMBERS are present and their scores ---- */

#define MEMBERS 320u
#define MEMBERS_SHORT 300u /* members from here on are 70 bytes long */
#define KEYS 3u

static char member_names[MEMBERS][80];
static const char *const key_names[KEYS] = {"z0", "z1", "z2"};

struct model {
    bool present[MEMBERS];
    double score[MEMBERS];
    uint32_t count;
    bool big; /* the store must hold this key in its large encoding */
};

static struct model models[KEYS];

static struct slice member_of(uint32_t index)
{
    return text(member_names[index]);
}

static uint32_t member_index(struct slice member)
{
    for (uint32_t index = 0; index < MEMBERS; index++) {
        if (slice_equal(member_of(index), member)) {
            return index;
        }
    }
    KV_ASSERT(false);
    return 0;
}

static const struct model *sort_model;

static int member_order(const void *a, const void *b)
{
    uint32_t left = *(const uint32_t *)a;
    uint32_t right = *(const uint32_t *)b;
    double left_score = sort_model->score[left];
    double right_score = sort_model->score[right];
    if (left_score != right_score) {
        return left_score < right_score ? -1 : 1;
    }
    return ztree_member_compare(member_of(left), member_of(right));
}

/* The model's members in the set's order. */
static uint32_t model_sorted(const struct model *model, uint32_t *order)
{
    uint32_t count = 0;
    for (uint32_t index = 0; index < MEMBERS; index++) {
        if (model->present[index]) {
            order[count++] = index;
        }
    }
    sort_model = model;
    qsort(order, count, sizeof(order[0]), member_order);
    return count;
}

/* Redis's ZADD applied to the model pair by pair; returns what the store should answer. */
static struct store_zset_result model_zadd(struct model *model, uint32_t flags, uint32_t count,
                                           const uint32_t *members, const double *scores)
{
    struct store_zset_result result = {0};
    bool long_added = false;
    for (uint32_t index = 0; index < count; index++) {
        uint32_t member = members[index];
        bool present = model->present[member];
        double current = model->score[member];
        double score = scores[index];
        if (!present) {
            if (flags & STORE_ZSET_XX) {
                result.incr_null = true;
                continue;
            }
            model->present[member] = true;
            model->score[member] = score;
            model->count++;
            long_added |= member >= MEMBERS_SHORT;
            result.added++;
            result.score = score;
            continue;
        }
        if (flags & STORE_ZSET_NX) {
            result.incr_null = true;
            continue;
        }
        if (flags & STORE_ZSET_INCR) {
            score = current + score;
            if (isnan(score)) {
                result.incr_nan = true;
                return result;
            }
        }
        if (((flags & STORE_ZSET_GT) && score <= current) ||
            ((flags & STORE_ZSET_LT) && score >= current)) {
            result.incr_null = true;
            continue;
        }
        result.score = score;
        if (score != current) {
            model->score[member] = score;
            result.changed++;
        }
    }
    model->big |= model->count > STORE_ZSET_PACK_COUNT_MAX || long_added;
    return result;
}

static void model_remove(struct model *model, uint32_t member)
{
    if (model->present[member]) {
        model->present[member] = false;
        model->count--;
        model->big = model->count == 0 ? false : model->big;
    }
}

/* Everything the store answers about one key, against its model. */
static void compare_key(uint32_t key_index)
{
    const struct model *model = &models[key_index];
    uint32_t key_ref = 0;
    bool exists = zset_find(key_names[key_index], &key_ref);
    CHECK(exists == (model->count > 0));
    if (!exists) {
        return;
    }
    static uint32_t order[MEMBERS];
    uint32_t count = model_sorted(model, order);
    CHECK(store_zset_count(&store, key_ref) == count);
    uint8_t encoding = store_key_encoding(store_key(&store, key_ref));
    CHECK(encoding == (model->big ? STORE_ENCODING_ROOT : STORE_ENCODING_RAW));
    for (uint32_t rank = 0; rank < count; rank++) {
        double score = 0;
        uint32_t found_rank = 0;
        CHECK(store_zset_score(&store, key_ref, member_of(order[rank]), &score));
        CHECK(score == model->score[order[rank]]);
        CHECK(store_zset_rank(&store, key_ref, member_of(order[rank]), &found_rank));
        CHECK(found_rank == rank);
    }
    double score = 0;
    uint32_t absent = random_below(MEMBERS);
    CHECK(store_zset_score(&store, key_ref, member_of(absent), &score) == model->present[absent]);
    /* A walk up from 0, and one down from a random rank. */
    struct store_zset_walk walk;
    struct slice member;
    store_zset_walk_start(&store, key_ref, 0, false, &walk);
    for (uint32_t rank = 0; rank < count; rank++) {
        CHECK(store_zset_walk_next(&walk, &member, &score));
        CHECK(slice_equal(member, member_of(order[rank])) && score == model->score[order[rank]]);
    }
    CHECK(!store_zset_walk_next(&walk, &member, &score));
    uint32_t start = random_below(count);
    store_zset_walk_start(&store, key_ref, start, true, &walk);
    for (uint32_t rank = start + 1; rank-- > 0;) {
        CHECK(store_zset_walk_next(&walk, &member, &score));
        CHECK(slice_equal(member, member_of(order[rank])));
    }
    CHECK(!store_zset_walk_next(&walk, &member, &score));
    double probe = (double)((int32_t)random_below(21) - 10) / 2;
    uint32_t below = 0;
    uint32_t at_most = 0;
    for (uint32_t rank = 0; rank < count; rank++) {
        below += model->score[order[rank]] < probe ? 1 : 0;
        at_most += model->score[order[rank]] <= probe ? 1 : 0;
    }
    CHECK(store_zset_count_below(&store, key_ref, probe, false) == below);
    CHECK(store_zset_count_below(&store, key_ref, probe, true) == at_most);
}

static void compare_all(void)
{
    for (uint32_t key = 0; key < KEYS; key++) {
        compare_key(key);
    }
    verify();
}

static double random_score(void)
{
    static const double scores[] = {0, 1, 2, -1, 1.5, -0.0, INFINITY, -INFINITY, 3, -2.5, 4};
    return scores[random_below(sizeof(scores) / sizeof(scores[0]))];
}

static uint32_t random_member(void)
{
    return random_below(50) == 0 ? MEMBERS_SHORT + random_below(MEMBERS - MEMBERS_SHORT)
                                 : random_below(MEMBERS_SHORT);
}

/* ZADD's valid flag sets (as zadd_parse lets them through). */
static uint32_t random_flags(void)
{
    static const uint32_t sets[] = {0, 0, 0, STORE_ZSET_NX, STORE_ZSET_XX, STORE_ZSET_GT,
                                    STORE_ZSET_LT, STORE_ZSET_XX | STORE_ZSET_GT,
                                    STORE_ZSET_XX | STORE_ZSET_LT};
    return sets[random_below(sizeof(sets) / sizeof(sets[0]))];
}

/* One random ZADD (or ZINCRBY) into a key, store and model alike. */
static void churn_add(uint32_t key)
{
    static uint32_t members[PAIRS_MAX];
    static double scores[PAIRS_MAX];
    static struct slice slices[PAIRS_MAX];
    uint32_t flags = random_flags();
    uint32_t count = random_below(12) == 0 ? 100 + random_below(200) : 1 + random_below(4);
    if (random_below(6) == 0) {
        flags |= STORE_ZSET_INCR;
        count = 1;
    }
    for (uint32_t index = 0; index < count; index++) {
        /* Repeats: a batch names a member twice now and then. */
        members[index] = index > 0 && random_below(8) == 0 ? members[random_below(index)]
                                                           : random_member();
        scores[index] = random_score();
        slices[index] = member_of(members[index]);
    }
    struct store_zset_result want = model_zadd(&models[key], flags, count, members, scores);
    struct store_zset_result got;
    CHECK(zadd(key_names[key], flags, count, slices, scores, &got) == STORE_OK);
    if (flags & STORE_ZSET_INCR) {
        CHECK(got.incr_nan == want.incr_nan);
        CHECK(got.incr_nan || got.incr_null == want.incr_null);
        CHECK(got.incr_nan || got.incr_null || got.score == want.score);
    } else {
        CHECK(got.added == want.added && got.changed == want.changed);
    }
}

/* One random removal: ZREM, a rank range, a pop, or the whole key. */
static void churn_remove(uint32_t key)
{
    struct model *model = &models[key];
    struct store_found found;
    if (store_find_typed(&store, text(key_names[key]), STORE_TYPE_ZSET, &found) != STORE_OK) {
        return;
    }
    static uint32_t order[MEMBERS];
    uint32_t count = model_sorted(model, order);
    uint32_t roll = random_below(10);
    if (roll < 5) {
        struct slice members[4];
        uint32_t named = 1 + random_below(4);
        uint32_t removed = 0;
        for (uint32_t index = 0; index < named; index++) {
            uint32_t member = random_member();
            members[index] = member_of(member);
            removed += model->present[member] ? 1 : 0;
            model_remove(model, member);
        }
        CHECK(store_zset_remove(&store, &found, members, named) == removed);
    } else if (roll < 7) {
        uint32_t first = random_below(count);
        uint32_t end = first + random_below(count - first + 1);
        for (uint32_t rank = first; rank < end; rank++) {
            model_remove(model, order[rank]);
        }
        CHECK(store_zset_remove_ranks(&store, &found, first, end) == end - first);
    } else if (roll < 9) {
        bool max = random_below(2) == 0;
        struct popped popped = {0};
        uint32_t wanted = random_below(6);
        uint32_t popped_count = store_zset_pop(&store, &found, max, wanted, pop_visit, &popped);
        CHECK(popped_count == (wanted < count ? wanted : count) && popped.count == popped_count);
        for (uint32_t index = 0; index < popped_count; index++) {
            uint32_t member = order[max ? count - 1 - index : index];
            CHECK(strcmp(popped.members[index], member_names[member]) == 0);
            CHECK(popped.scores[index] == model->score[member]);
            model_remove(model, member);
        }
    } else {
        CHECK(store_delete(&store, text(key_names[key])));
        found.exists = false;
        for (uint32_t member = 0; member < MEMBERS; member++) {
            model_remove(model, member);
        }
    }
    CHECK(found.exists == (model->count > 0));
}

static void test_churn(uint64_t seed)
{
    setup_default(64u << 20);
    seed_state = seed;
    memset(models, 0, sizeof(models));
    uint32_t conversions = 0;
    /* Bounded: a fixed number of steps. */
    for (uint32_t step = 0; step < 6000; step++) {
        uint32_t key = random_below(KEYS);
        bool was_big = models[key].big;
        if (random_below(3) != 0) {
            churn_add(key);
        } else {
            churn_remove(key);
        }
        conversions += !was_big && models[key].big ? 1 : 0;
        compare_key(key);
        if (step % 100 == 0) {
            compare_all();
        }
    }
    compare_all();
    fprintf(stderr, "test_store_zset: churn converted %u sets to trees\n", conversions);
    CHECK(conversions >= 10);
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* With every score equal, BYLEX ranks are the members' order in both encodings; the small one
 * walks as a listpack does, so a range whose far end is below its near end is empty. */
static void test_lex(void)
{
    setup_default(16u << 20);
    for (uint32_t size = 0; size < 2; size++) {
        uint32_t count = size == 0 ? 100 : MEMBERS_SHORT;
        struct store_zset_result result;
        for (uint32_t member = 0; member < count; member++) {
            CHECK(zadd_one("lex", 0, member_of(member), 0, &result) == STORE_OK);
        }
        uint32_t key_ref = 0;
        CHECK(zset_find("lex", &key_ref));
        CHECK(store_key_encoding(store_key(&store, key_ref)) ==
              (size == 0 ? STORE_ENCODING_RAW : STORE_ENCODING_ROOT));
        for (uint32_t probe = 0; probe < 300; probe++) {
            struct store_zset_lex ends[2];
            for (uint32_t end = 0; end < 2; end++) {
                uint32_t kind = random_below(8);
                ends[end] = (struct store_zset_lex){.exclusive = random_below(2) == 0};
                ends[end].infinite = kind == 0 ? -1 : (kind == 1 ? 1 : 0);
                struct slice bytes = member_of(random_below(MEMBERS_SHORT));
                bytes.length = 1 + random_below(bytes.length);
                ends[end].bytes = bytes;
            }
            uint32_t first_want = 0;
            uint32_t end_want = 0;
            for (uint32_t member = 0; member < count; member++) {
                struct slice name = member_of(member);
                int low = ztree_member_compare(name, ends[0].bytes);
                int high = ztree_member_compare(name, ends[1].bytes);
                bool above = ends[0].infinite != 0 ? ends[0].infinite < 0
                                                   : (ends[0].exclusive ? low > 0 : low >= 0);
                bool under = ends[1].infinite != 0 ? ends[1].infinite > 0
                                                   : (ends[1].exclusive ? high < 0 : high <= 0);
                first_want += !above ? 1 : 0;
                end_want += above && under ? 1 : 0;
            }
            end_want = end_want == 0 ? first_want : first_want + end_want;
            uint32_t first = 0;
            uint32_t end = 0;
            store_zset_lex_ranks(&store, key_ref, &ends[0], &ends[1], random_below(2) == 0,
                                 &first, &end);
            CHECK(end - first == end_want - first_want);
            CHECK(end == first || first == first_want);
        }
        CHECK(store_delete(&store, text("lex")));
    }
    verify();
}

static void ballast_take(uint64_t bytes)
{
    /* Bounded by the heap's room (and BALLAST_MAX). */
    while (ballast_count < BALLAST_MAX) {
        void *piece = heap_alloc(&heap, bytes);
        if (piece == NULL) {
            return;
        }
        ballast[ballast_count++] = piece;
    }
}

/* Fills every byte the heap has left with ballast: large spans first, then every size class
 * from the largest down, so that not even a free object of some class is left. */
static void ballast_fill(void)
{
    static const uint64_t large[] = {1u << 20, 256u << 10, 64u << 10, HEAP_SMALL_BYTES_MAX + 8};
    for (uint32_t size = 0; size < sizeof(large) / sizeof(large[0]); size++) {
        ballast_take(large[size]);
    }
    for (uint32_t class_index = heap.class_count; class_index-- > 0;) {
        ballast_take(heap.classes[class_index].object_bytes);
    }
    CHECK(ballast_count < BALLAST_MAX);
    CHECK(heap_free_bytes(&heap) == 0);
}

static void ballast_release_one(void)
{
    KV_ASSERT(ballast_count > 0);
    heap_release(&heap, ballast[--ballast_count]);
}

static void ballast_release_all(void)
{
    while (ballast_count > 0) {
        ballast_release_one();
    }
}

/* Runs a write on a full heap: refused with nothing changed, then retried as the ballast
 * goes back one piece at a time, until it goes through (and the model takes it). Returns
 * how many times it was refused. */
static uint32_t oom_until_done(uint32_t key, uint32_t flags, uint32_t count,
                               const uint32_t *members, const double *scores)
{
    static struct slice slices[PAIRS_MAX];
    for (uint32_t index = 0; index < count; index++) {
        slices[index] = member_of(members[index]);
    }
    ballast_fill();
    uint32_t refused = 0;
    struct store_zset_result result;
    /* Bounded by the ballast: each refusal gives one piece back. */
    while (zadd(key_names[key], flags, count, slices, scores, &result) == STORE_OOM) {
        refused++;
        if (refused % 16 == 1) {
            compare_all(); /* nothing changed */
        } else {
            verify();
        }
        ballast_release_one();
    }
    struct store_zset_result want = model_zadd(&models[key], flags, count, members, scores);
    CHECK(result.added == want.added && result.changed == want.changed);
    compare_all();
    ballast_release_all();
    return refused;
}

static void test_oom(void)
{
    setup_default(4u << 20);
    memset(models, 0, sizeof(models));
    static uint32_t members[PAIRS_MAX];
    static double scores[PAIRS_MAX];
    /* z0 small (100 members), z1 large (250), z2 small at the edge (128). */
    const uint32_t sizes[KEYS] = {100, 250, 128};
    for (uint32_t key = 0; key < KEYS; key++) {
        for (uint32_t index = 0; index < sizes[key]; index++) {
            members[index] = index;
            scores[index] = (double)(index % 7);
        }
        static struct slice slices[PAIRS_MAX];
        for (uint32_t index = 0; index < sizes[key]; index++) {
            slices[index] = member_of(members[index]);
        }
        struct store_zset_result result;
        CHECK(zadd(key_names[key], 0, sizes[key], slices, scores, &result) == STORE_OK);
        (void)model_zadd(&models[key], 0, sizes[key], members, scores);
    }
    compare_all();
    uint32_t refused[6] = {0};
    /* A batch into a small set: its copy of the pack. */
    for (uint32_t index = 0; index < 20; index++) {
        members[index] = 150 + index;
        scores[index] = index % 2 == 0 ? 1.5 : -3;
    }
    members[5] = 10; /* an update among the new members */
    refused[0] = oom_until_done(0, 0, 20, members, scores);
    /* One member more for the set at the edge: the conversion builds the whole tree. */
    members[0] = 299;
    scores[0] = 2;
    refused[1] = oom_until_done(2, 0, 1, members, scores);
    /* New members into the large set: a node each. */
    for (uint32_t index = 0; index < 30; index++) {
        members[index] = 260 + index;
        scores[index] = (double)index;
    }
    refused[2] = oom_until_done(1, STORE_ZSET_NX, 30, members, scores);
    /* A long member into a small set converts it too. */
    members[0] = MEMBERS_SHORT + 3;
    scores[0] = 0;
    refused[3] = oom_until_done(0, 0, 1, members, scores);
    CHECK(models[0].big);
    /* A new key: its object, and a pack or a tree. */
    CHECK(store_delete(&store, text("z2")));
    memset(&models[2], 0, sizeof(models[2]));
    for (uint32_t index = 0; index < 200; index++) {
        members[index] = index;
        scores[index] = -(double)index;
    }
    refused[4] = oom_until_done(2, 0, 200, members, scores);
    CHECK(store_delete(&store, text("z2")));
    memset(&models[2], 0, sizeof(models[2]));
    refused[5] = oom_until_done(2, 0, 3, members, scores);
    fprintf(stderr, "test_store_zset: refusals before each write went through: %u %u %u %u %u %u\n",
            refused[0], refused[1], refused[2], refused[3], refused[4], refused[5]);
    for (uint32_t write = 0; write < 6; write++) {
        CHECK(refused[write] >= 1);
    }
    CHECK(refused[1] > 20 && refused[2] > 5 && refused[4] > 20);
    /* Removals need no memory: they work on a full heap. */
    ballast_fill();
    struct store_found found;
    CHECK(store_find_typed(&store, text("z1"), STORE_TYPE_ZSET, &found) == STORE_OK);
    struct slice gone[2] = {member_of(0), member_of(1)};
    CHECK(store_zset_remove(&store, &found, gone, 2) == 2);
    model_remove(&models[1], 0);
    model_remove(&models[1], 1);
    struct popped popped = {0};
    CHECK(store_find_typed(&store, text("z0"), STORE_TYPE_ZSET, &found) == STORE_OK);
    CHECK(store_zset_pop(&store, &found, true, 3, pop_visit, &popped) == 3);
    for (uint32_t index = 0; index < 3; index++) {
        model_remove(&models[0], member_index(text(popped.members[index])));
    }
    CHECK(store_find_typed(&store, text("z2"), STORE_TYPE_ZSET, &found) == STORE_OK);
    CHECK(store_zset_remove_ranks(&store, &found, 0, 3) == 3);
    CHECK(!found.exists);
    memset(&models[2], 0, sizeof(models[2]));
    compare_all();
    ballast_release_all();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

static void test_caps(void)
{
    struct config config;
    config_defaults(&config);
    config.key_count = 2;
    config.key_size_max = 8;
    config.list_length_max = 3;
    setup(4u << 20, &config);
    struct store_zset_result result;
    struct slice three[3] = {text("x"), text("y"), text("z")};
    double scores[4] = {1, 2, 3, 4};
    CHECK(zadd("123456789", 0, 1, three, scores, &result) == STORE_KEY_TOO_LONG);
    CHECK(zadd("a", 0, 3, three, scores, &result) == STORE_OK && result.added == 3);
    CHECK(zadd_one("a", 0, text("w"), 4, &result) == STORE_ZSET_FULL);
    CHECK(zadd_one("a", 0, text("123456789"), 4, &result) == STORE_MEMBER_TOO_LONG);
    CHECK(zadd_one("a", STORE_ZSET_XX, text("123456789"), 4, &result) == STORE_MEMBER_TOO_LONG);
    /* Updates of a full set, a member named twice counted once, XX adding nothing. */
    CHECK(zadd("a", 0, 2, three, scores + 2, &result) == STORE_OK && result.changed == 2);
    struct slice twice[2] = {text("w"), text("w")};
    CHECK(zadd("a", 0, 2, twice, scores, &result) == STORE_ZSET_FULL);
    CHECK(zadd_one("a", STORE_ZSET_XX, text("w"), 1, &result) == STORE_OK && result.added == 0);
    CHECK(zadd("b", 0, 2, twice, scores, &result) == STORE_OK && result.added == 1);
    CHECK(zadd_one("c", 0, text("x"), 1, &result) == STORE_FULL);
    CHECK(zadd_one("c", STORE_ZSET_XX, text("x"), 1, &result) == STORE_OK);
    CHECK(store_key_count(&store) == 2);
    verify();
    double score = 0;
    uint32_t key_ref = 0;
    CHECK(zset_find("a", &key_ref) && store_zset_count(&store, key_ref) == 3);
    CHECK(store_zset_score(&store, key_ref, text("x"), &score) && score == 3);
    /* A string where a sorted set is asked for. */
    CHECK(store_delete(&store, text("b")));
    CHECK(store_string_set(&store, text("s"), text("v")) == STORE_OK);
    CHECK(zadd_one("s", 0, text("x"), 1, &result) == STORE_WRONGTYPE);
    verify();
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* The score of player:N in the million: a permutation of 0 .. 999999, so N's rank is it. */
static double million_score(uint32_t player)
{
    return (double)((uint64_t)player * 7919u % 1000000u);
}

static struct slice player_name(uint32_t player, char *buffer)
{
    int length = snprintf(buffer, 32, "player:%u", player);
    return (struct slice){.bytes = (const uint8_t *)buffer, .length = (uint32_t)length};
}

static void million_fill(uint32_t count)
{
    char name[32];
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool added = true;
    for (uint32_t player = 0; player < count; player++) {
        struct store_zset_result result;
        added &= zadd_one("board", 0, player_name(player, name), million_score(player),
                          &result) == STORE_OK && result.added == 1;
    }
    CHECK(added);
    fprintf(stderr, "test_store_zset: 1M ZADD (new members): %.2f us each\n",
            seconds_since(&start) * 1e6 / count);
}

/* Times `count` random operations of one kind on the million. */
static void million_time(const char *what, uint32_t count, uint32_t kind)
{
    char name[32];
    uint32_t key_ref = 0;
    CHECK(zset_find("board", &key_ref));
    bool right = true;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (uint32_t index = 0; index < count; index++) {
        uint32_t player = random_below(1000000);
        struct slice member = player_name(player, name);
        struct store_zset_result result;
        double score = 0;
        uint32_t rank = 0;
        if (kind == 0) {
            right &= store_zset_score(&store, key_ref, member, &score) &&
                     score == million_score(player);
        } else if (kind == 1) {
            right &= store_zset_rank(&store, key_ref, member, &rank) &&
                     rank == (uint32_t)million_score(player);
        } else if (kind == 2) {
            /* Out and back: the ranks stay exact for the checks after. */
            right &= zadd_one("board", STORE_ZSET_INCR, member, 0.5, &result) == STORE_OK;
            right &= zadd_one("board", STORE_ZSET_INCR, member, -0.5, &result) == STORE_OK;
        } else {
            struct store_found found;
            right &= store_find_typed(&store, text("board"), STORE_TYPE_ZSET, &found) == STORE_OK;
            right &= store_zset_remove(&store, &found, &member, 1) == 1;
            right &= zadd_one("board", 0, member, million_score(player), &result) == STORE_OK;
        }
    }
    CHECK(right);
    double each = seconds_since(&start) * 1e6 / count / (kind >= 2 ? 2 : 1);
    fprintf(stderr, "test_store_zset: 1M %s: %.2f us each\n", what, each);
}

static void test_million(void)
{
    enum { COUNT = 1000000 };
    setup_default(512u << 20);
    seed_state = 99991;
    uint64_t used_before = heap.used_bytes;
    million_fill(COUNT);
    uint32_t key_ref = 0;
    CHECK(zset_find("board", &key_ref) && store_zset_count(&store, key_ref) == COUNT);
    CHECK(store_key_encoding(store_key(&store, key_ref)) == STORE_ENCODING_ROOT);
    uint64_t set_bytes = store_memory(&store, key_ref);
    fprintf(stderr,
            "test_store_zset: 1M members of player:N: %.1f heap bytes each (node, dict bucket, "
            "rounding; MEMORY USAGE %.1f)\n",
            (double)(heap.used_bytes - used_before) / COUNT, (double)set_bytes / COUNT);
    CHECK(set_bytes < 60ull * COUNT);
    verify();
    million_time("ZSCORE", 200000, 0);
    million_time("ZRANK", 200000, 1);
    million_time("ZINCRBY (a rescore)", 100000, 2);
    million_time("ZREM (then ZADD back)", 100000, 3);
    /* Ranks, walks and score counts are exact after the churn. */
    CHECK(zset_find("board", &key_ref));
    char name[32];
    for (uint32_t probe = 0; probe < 1000; probe++) {
        uint32_t player = random_below(COUNT);
        uint32_t rank = 0;
        CHECK(store_zset_rank(&store, key_ref, player_name(player, name), &rank) &&
              rank == (uint32_t)million_score(player));
    }
    struct store_zset_walk walk;
    store_zset_walk_start(&store, key_ref, 999000, true, &walk);
    struct slice member;
    double score = 0;
    for (uint32_t step = 0; step < 2000; step++) {
        CHECK(store_zset_walk_next(&walk, &member, &score) && score == 999000.0 - step);
    }
    CHECK(store_zset_count_below(&store, key_ref, 500000, false) == 500000);
    CHECK(store_zset_count_below(&store, key_ref, 500000, true) == 500001);
    verify();
    store_flush(&store);
    CHECK(heap.allocations == 0);
}

/* A small set's cost per member: a pair in the pack (1 + member + 9 bytes), plus the pack's
 * header and its size class's rounding, and the key object. */
static void test_small_memory(void)
{
    setup_default(4u << 20);
    char name[32];
    for (uint32_t player = 0; player < STORE_ZSET_PACK_COUNT_MAX; player++) {
        struct store_zset_result result;
        CHECK(zadd_one("small", 0, player_name(player, name), player, &result) == STORE_OK);
    }
    uint32_t key_ref = 0;
    CHECK(zset_find("small", &key_ref));
    CHECK(store_key_encoding(store_key(&store, key_ref)) == STORE_ENCODING_RAW);
    uint64_t bytes = store_memory(&store, key_ref);
    fprintf(stderr, "test_store_zset: %u members of player:N in a pack: %.1f bytes each\n",
            STORE_ZSET_PACK_COUNT_MAX, (double)bytes / STORE_ZSET_PACK_COUNT_MAX);
    CHECK(bytes < 24u * STORE_ZSET_PACK_COUNT_MAX);
    verify();
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    uint64_t seed = replay != NULL ? strtoull(replay, NULL, 10) : (uint64_t)time(NULL) | 1;
    fprintf(stderr, "test_store_zset: seed %llu (KV_SEED replays it)\n", (unsigned long long)seed);
    seed_state = seed;
    for (uint32_t index = 0; index < MEMBERS; index++) {
        if (index < MEMBERS_SHORT) {
            snprintf(member_names[index], sizeof(member_names[index]), "%c%u",
                     (char)('a' + index % 5), index);
        } else {
            memset(member_names[index], 'L', 67);
            snprintf(member_names[index] + 67, 13, "%03u", index);
        }
    }
    test_caps();
    test_small_memory();
    test_lex();
    test_churn(seed);
    test_oom();
    test_million();
    return check_exit("test_store_zset");
}
