/*
 * Proves WATCH's registry on the heap, with watch_verify() (counts and memory against a
 * walk) and watch_list_verify() along the way:
 * - basics: a key watched by two clients is kept once with two links; watching it again
 *   changes nothing; a touch marks both clients' transactions changed, a touch of another
 *   key does not; a watch taken after the touch is not changed; keys of any length (10 KB,
 *   1 MB) are watched; UNWATCH (clear) and truncate give every byte back;
 * - the optional cap, watch_keys_max: exactly that many links, one more is WATCH_FULL and
 *   changes nothing, watching a key again at the cap is still fine; 0 means no cap;
 * - a full heap: a new key and a new link to a watched key are both WATCH_OOM and change
 *   nothing; a WATCH of many keys that runs out part way undoes itself with watch_truncate
 *   (as cmd_watch does), leaving the same entries and bytes as before;
 * - scale: 2,000 clients watch 150,000 (client, key) pairs over 1,000,000 possible keys
 *   (over 100,000 distinct keys, a hot set shared by many clients), then a seeded churn of
 *   watches, touches, clears and EXEC checks against a model (each key's last touch, each
 *   link's watch time); the bytes per watched key are printed; after every client clears,
 *   the heap's used bytes are what they were before.
 * The seed is printed on failure (also on an abort); KV_SEED replays it.
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "watch.h"

#define HEAP_SMALL_BYTES (4ull << 20)
#define HEAP_SCALE_BYTES (64ull << 20)

#define FILL_BLOCK_BYTES (64u << 10)
#define FILL_BLOCKS_MAX 65536u

#define SCALE_CLIENTS 2000u
#define SCALE_KEY_SPACE 1000000u
#define SCALE_HOT_KEYS 1000u
#define SCALE_LINKS_BUILT 150000u
#define SCALE_LINKS_PER_CLIENT_MAX 512u
#define SCALE_STEPS 200000u

static struct region region;

static void touch(struct watch *watch, struct slice key)
{
    watch_touched(watch, 0, 0, key);
}

/* Takes every byte of a heap: 64 KiB blocks, then every multiple of 8 bytes below. */
static uint32_t heap_fill(struct heap *heap, void **blocks)
{
    uint32_t count = 0;
    /* Bound: FILL_BLOCK_BYTES / 8 sizes, FILL_BLOCKS_MAX blocks in all. */
    for (uint64_t bytes = FILL_BLOCK_BYTES; bytes >= 8; bytes -= 8) {
        while (count < FILL_BLOCKS_MAX) {
            void *block = heap_alloc(heap, bytes);
            if (block == NULL) {
                break;
            }
            blocks[count] = block;
            count++;
        }
    }
    KV_ASSERT(count < FILL_BLOCKS_MAX);
    return count;
}

static bool exists_always(void *context, struct slice key)
{
    (void)context;
    (void)key;
    return true;
}

static bool exists_never(void *context, struct slice key)
{
    (void)context;
    (void)key;
    return false;
}

/* The same name watched in several databases: one dict entry and a chain, each database's
 * entry touched alone, the chain's head dropped first and last, and a whole database
 * touched (SWAPDB, FLUSHDB). */
static void test_databases(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct watch watch;
    watch_init(&watch, heap, 0, 15);
    struct watch_list lists[4];
    for (uint32_t client = 0; client < 4; client++) {
        watch_list_init(&lists[client]);
        /* Client n watches "k" in database n, and "other" in database 0. */
        CHECK(watch_add(&watch, &lists[client], client, client, text("k")) == WATCH_OK);
        CHECK(watch_add(&watch, &lists[client], client, 0, text("other")) == WATCH_OK);
    }
    CHECK(watch_key_count(&watch) == 5 && dict_count(&watch.keys) == 2);
    watch_verify(&watch);
    watch_touched(&watch, 2, 0, text("k"));
    for (uint32_t client = 0; client < 4; client++) {
        CHECK(watch_changed(&watch, &lists[client]) == (client == 2));
    }
    struct slice key;
    uint32_t db_index = 99;
    uint32_t link = lists[3].head;
    CHECK(watch_next(&watch, &link, &key, &db_index) && db_index == 0);  /* "other", newest */
    CHECK(watch_next(&watch, &link, &key, &db_index) && db_index == 3 &&
          slice_equal(key, text("k")));
    /* Client 0's entry of "k" is the chain's head: dropping it promotes the next one. */
    watch_clear(&watch, &lists[0]);
    watch_verify(&watch);
    CHECK(watch_key_count(&watch) == 4);
    watch_touched(&watch, 1, 0, text("k"));
    CHECK(watch_changed(&watch, &lists[1]) && !watch_changed(&watch, &lists[3]));
    watch_touched(&watch, 0, 0, text("k")); /* nobody watches "k" in database 0 any more */
    CHECK(!watch_changed(&watch, &lists[3]));
    /* A whole database: only its keys, and only those the test says exist. */
    watch_touch_db(&watch, 3, exists_never, NULL);
    CHECK(!watch_changed(&watch, &lists[3]));
    watch_touch_db(&watch, 3, exists_always, NULL);
    CHECK(watch_changed(&watch, &lists[3]));
    watch_verify(&watch);
    for (uint32_t client = 1; client < 4; client++) {
        watch_clear(&watch, &lists[client]);
        watch_verify(&watch);
    }
    CHECK(watch_key_count(&watch) == 0 && watch_memory_bytes(&watch) == 0);
    CHECK(heap->used_bytes == used_before);
}

static void test_basics(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct watch watch;
    watch_init(&watch, heap, 0, 11);
    struct watch_list one;
    struct watch_list two;
    watch_list_init(&one);
    watch_list_init(&two);
    CHECK(watch_add(&watch, &one, 1, 0, text("k")) == WATCH_OK);
    CHECK(watch_add(&watch, &two, 2, 0, text("k")) == WATCH_OK);
    CHECK(watch_add(&watch, &one, 1, 0, text("k")) == WATCH_OK); /* again: nothing changes */
    CHECK(watch_add(&watch, &one, 1, 0, text("other")) == WATCH_OK);
    CHECK(one.count == 2 && two.count == 1);
    CHECK(watch_key_count(&watch) == 2 && watch_link_count(&watch) == 3);
    watch_verify(&watch);
    watch_list_verify(&watch, &one, 1);
    watch_list_verify(&watch, &two, 2);
    CHECK(heap->used_bytes - used_before == watch_memory_bytes(&watch));
    /* A key nobody watches: no change for anyone. */
    touch(&watch, text("nobody"));
    CHECK(!watch_changed(&watch, &one) && !watch_changed(&watch, &two));
    touch(&watch, text("k"));
    CHECK(watch_changed(&watch, &one) && watch_changed(&watch, &two));
    /* Watched after the touch: not changed. */
    struct watch_list three;
    watch_list_init(&three);
    CHECK(watch_add(&watch, &three, 3, 0, text("k")) == WATCH_OK);
    CHECK(!watch_changed(&watch, &three));
    /* The walk gives the keys newest first. */
    uint32_t link = one.head;
    struct slice key;
    CHECK(watch_next(&watch, &link, &key, &(uint32_t){0}) && slice_equal(key, text("other")));
    CHECK(watch_next(&watch, &link, &key, &(uint32_t){0}) && slice_equal(key, text("k")));
    CHECK(!watch_next(&watch, &link, &key, &(uint32_t){0}));
    /* Keys of any length. */
    static uint8_t big[1u << 20];
    memset(big, 'b', sizeof(big));
    struct slice ten_kb = {.bytes = big, .length = 10000};
    struct slice one_mb = {.bytes = big, .length = sizeof(big)};
    CHECK(watch_add(&watch, &two, 2, 0, ten_kb) == WATCH_OK);
    CHECK(watch_add(&watch, &two, 2, 0, one_mb) == WATCH_OK);
    CHECK(watch_key_count(&watch) == 4 && watch_memory_bytes(&watch) > sizeof(big) + 10000);
    watch_verify(&watch);
    CHECK(!watch_changed(&watch, &three));
    touch(&watch, one_mb);
    CHECK(watch_changed(&watch, &two) && !watch_changed(&watch, &three));
    /* Truncate drops the newest; clear the rest. */
    watch_truncate(&watch, &two, 2);
    CHECK(two.count == 2 && watch_key_count(&watch) == 3);
    watch_verify(&watch);
    watch_list_verify(&watch, &two, 2);
    watch_clear(&watch, &one);
    watch_clear(&watch, &two);
    CHECK(watch_key_count(&watch) == 1 && watch_link_count(&watch) == 1);
    watch_clear(&watch, &three);
    watch_verify(&watch);
    CHECK(watch_key_count(&watch) == 0 && watch_memory_bytes(&watch) == 0);
    CHECK(heap->used_bytes == used_before);
}

static void test_cap(struct heap *heap)
{
    struct watch watch;
    watch_init(&watch, heap, 3, 12);
    struct watch_list one;
    struct watch_list two;
    watch_list_init(&one);
    watch_list_init(&two);
    CHECK(watch_add(&watch, &one, 1, 0, text("a")) == WATCH_OK);
    CHECK(watch_add(&watch, &one, 1, 0, text("b")) == WATCH_OK);
    CHECK(watch_add(&watch, &two, 2, 0, text("a")) == WATCH_OK);
    /* At the cap: a new link is refused, a repeat is fine. */
    CHECK(watch_add(&watch, &two, 2, 0, text("b")) == WATCH_FULL);
    CHECK(watch_add(&watch, &one, 1, 0, text("c")) == WATCH_FULL);
    CHECK(watch_add(&watch, &two, 2, 0, text("a")) == WATCH_OK);
    CHECK(watch_link_count(&watch) == 3 && watch_key_count(&watch) == 2 && two.count == 1);
    watch_verify(&watch);
    watch_clear(&watch, &one);
    CHECK(watch_add(&watch, &two, 2, 0, text("b")) == WATCH_OK);
    watch_clear(&watch, &two);
    CHECK(watch_memory_bytes(&watch) == 0);
    /* No cap: 10,000 keys for one client. */
    struct watch open;
    watch_init(&open, heap, 0, 13);
    for (uint32_t index = 0; index < 10000; index++) {
        char name[16];
        snprintf(name, sizeof(name), "key%u", index);
        CHECK(watch_add(&open, &one, 1, 0, text(name)) == WATCH_OK);
    }
    CHECK(one.count == 10000 && watch_key_count(&open) == 10000);
    watch_verify(&open);
    watch_list_verify(&open, &one, 1);
    watch_clear(&open, &one);
    CHECK(watch_memory_bytes(&open) == 0);
}

static void test_oom(struct heap *heap)
{
    static void *fillers[FILL_BLOCKS_MAX];
    struct watch watch;
    watch_init(&watch, heap, 0, 14);
    struct watch_list one;
    struct watch_list two;
    watch_list_init(&one);
    watch_list_init(&two);
    CHECK(watch_add(&watch, &one, 1, 0, text("held")) == WATCH_OK);
    uint32_t filler_count = heap_fill(heap, fillers);
    uint64_t used_before = heap->used_bytes;
    uint64_t memory_before = watch_memory_bytes(&watch);
    CHECK(watch_add(&watch, &two, 2, 0, text("fresh")) == WATCH_OOM);  /* key and link */
    CHECK(watch_add(&watch, &two, 2, 0, text("held")) == WATCH_OOM);   /* a link */
    CHECK(watch_add(&watch, &one, 1, 0, text("held")) == WATCH_OK);    /* a repeat needs none */
    CHECK(heap->used_bytes == used_before && watch_memory_bytes(&watch) == memory_before);
    CHECK(two.count == 0 && one.count == 1 && watch_link_count(&watch) == 1);
    watch_verify(&watch);
    /* One 64 KiB block back: a WATCH of 5,000 keys runs out part way and undoes itself. */
    heap_release(heap, fillers[0]);
    fillers[0] = NULL;
    uint64_t entry_bytes_before = watch.entry_bytes;
    uint32_t count_before = one.count;
    enum watch_status status = WATCH_OK;
    uint32_t added = 0;
    for (uint32_t index = 0; index < 5000 && status == WATCH_OK; index++) {
        char name[48];
        snprintf(name, sizeof(name), "a-rather-long-watched-key-%020u", index);
        status = watch_add(&watch, &one, 1, 0, text(name));
        added += status == WATCH_OK ? 1 : 0;
    }
    CHECK(status == WATCH_OOM && added > 100);
    watch_truncate(&watch, &one, count_before);
    CHECK(one.count == count_before && watch.entry_bytes == entry_bytes_before);
    CHECK(watch_key_count(&watch) == 1 && watch_link_count(&watch) == 1);
    watch_verify(&watch);
    watch_list_verify(&watch, &one, 1);
    for (uint32_t index = 1; index < filler_count; index++) {
        heap_release(heap, fillers[index]);
    }
    watch_clear(&watch, &one);
    CHECK(heap->used_bytes == 0 && watch_memory_bytes(&watch) == 0);
    heap_verify(heap);
}

/* The scale model: each client's links (key number, step watched) and each key's last
 * touch (step + 1; 0: never) and watcher count. */
struct scale_model {
    uint32_t keys[SCALE_CLIENTS][SCALE_LINKS_PER_CLIENT_MAX];
    uint64_t watched_at[SCALE_CLIENTS][SCALE_LINKS_PER_CLIENT_MAX];
    uint32_t count[SCALE_CLIENTS];
    struct watch_list lists[SCALE_CLIENTS];
    uint64_t touched_at[SCALE_KEY_SPACE];
    uint16_t watchers[SCALE_KEY_SPACE];
    uint64_t links;
    uint64_t distinct;
    uint64_t clock;
};

static struct slice scale_name(char *buffer, uint32_t key)
{
    snprintf(buffer, 24, "user:%07u:cart", key);
    return text(buffer);
}

/* Hot keys are the first SCALE_HOT_KEYS numbers; a quarter of the picks land there. */
static uint32_t scale_key(void)
{
    return prng_below(4) == 0 ? prng_below(SCALE_HOT_KEYS) : prng_below(SCALE_KEY_SPACE);
}

static bool scale_has(const struct scale_model *model, uint32_t client, uint32_t key)
{
    for (uint32_t index = 0; index < model->count[client]; index++) {
        if (model->keys[client][index] == key) {
            return true;
        }
    }
    return false;
}

static void scale_add(struct watch *watch, struct scale_model *model, uint32_t client,
                      uint32_t key)
{
    char buffer[24];
    bool had = scale_has(model, client, key);
    if (!had && model->count[client] == SCALE_LINKS_PER_CLIENT_MAX) {
        return;
    }
    CHECK(watch_add(watch, &model->lists[client], client, 0, scale_name(buffer, key)) == WATCH_OK);
    if (had) {
        return;
    }
    uint32_t at = model->count[client]++;
    model->keys[client][at] = key;
    model->watched_at[client][at] = model->clock;
    model->links++;
    model->distinct += model->watchers[key] == 0 ? 1 : 0;
    model->watchers[key]++;
}

static void scale_clear(struct watch *watch, struct scale_model *model, uint32_t client)
{
    watch_clear(watch, &model->lists[client]);
    for (uint32_t index = 0; index < model->count[client]; index++) {
        uint32_t key = model->keys[client][index];
        model->watchers[key]--;
        model->distinct -= model->watchers[key] == 0 ? 1 : 0;
    }
    model->links -= model->count[client];
    model->count[client] = 0;
}

/* A touch is a new clock tick; a link is changed when its key's last touch is newer. */
static bool scale_changed(const struct scale_model *model, uint32_t client)
{
    for (uint32_t index = 0; index < model->count[client]; index++) {
        if (model->touched_at[model->keys[client][index]] > model->watched_at[client][index]) {
            return true;
        }
    }
    return false;
}

static void scale_step(struct watch *watch, struct scale_model *model)
{
    uint32_t client = prng_below(SCALE_CLIENTS);
    uint32_t action = prng_below(20);
    char buffer[24];
    if (action < 9) {
        scale_add(watch, model, client, scale_key());
    } else if (action < 15) {
        /* A touch of a key someone watches, or of any key. */
        uint32_t key = model->count[client] > 0 && prng_below(2) == 0
                           ? model->keys[client][prng_below(model->count[client])]
                           : scale_key();
        model->clock++;
        model->touched_at[key] = model->clock;
        touch(watch, scale_name(buffer, key));
    } else if (action < 19) {
        CHECK(watch_changed(watch, &model->lists[client]) == scale_changed(model, client));
    } else {
        scale_clear(watch, model, client);
    }
}

static void test_scale(struct heap *heap, uint64_t seed)
{
    static struct scale_model model;
    memset(&model, 0, sizeof(model));
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    struct watch watch;
    watch_init(&watch, heap, 0, seed);
    uint64_t used_before = heap->used_bytes;
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        watch_list_init(&model.lists[client]);
    }
    /* Build: 150,000 links. */
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    /* Bounded: each pass adds a link unless the pick repeats (rare) or a client is full. */
    for (fixture_run.step = 0; model.links < SCALE_LINKS_BUILT; fixture_run.step++) {
        KV_ASSERT(fixture_run.step < 4 * SCALE_LINKS_BUILT);
        scale_add(&watch, &model, prng_below(SCALE_CLIENTS), scale_key());
    }
    struct timespec ended;
    clock_gettime(CLOCK_MONOTONIC, &ended);
    watch_verify(&watch);
    CHECK(watch_link_count(&watch) == model.links && watch_key_count(&watch) == model.distinct);
    CHECK(model.distinct > 100000);
    CHECK(heap->used_bytes - used_before == watch_memory_bytes(&watch));
    double add_ns = ((double)(ended.tv_sec - started.tv_sec) * 1e9 +
                     (double)(ended.tv_nsec - started.tv_nsec)) / (double)fixture_run.step;
    printf("test_watch: %u clients watch %llu keys with %llu links: %llu bytes (%.1f per link, "
           "keys %.1f, links %.1f, buckets %.1f), %.0f ns per WATCH of one key\n",
           SCALE_CLIENTS, (unsigned long long)model.distinct, (unsigned long long)model.links,
           (unsigned long long)watch_memory_bytes(&watch),
           (double)watch_memory_bytes(&watch) / (double)model.links,
           (double)(watch.entry_bytes - 24u * model.links) / (double)model.distinct, 24.0,
           (double)(dict_bucket_bytes(&watch.keys) + dict_bucket_bytes(&watch.links)) /
               (double)model.links,
           add_ns);
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < SCALE_STEPS; fixture_run.step++) {
        scale_step(&watch, &model);
        if (fixture_run.step % 20000 == 0) {
            watch_verify(&watch);
            CHECK(watch_link_count(&watch) == model.links);
            CHECK(watch_key_count(&watch) == model.distinct);
            uint32_t client = prng_below(SCALE_CLIENTS);
            watch_list_verify(&watch, &model.lists[client], client);
        }
        if (check_failures > failures_before) {
            fprintf(stderr, "test_watch: scale failed at step %u (KV_SEED=%llu)\n", fixture_run.step,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    watch_verify(&watch);
    CHECK(watch_link_count(&watch) == model.links && watch_key_count(&watch) == model.distinct);
    /* Everyone leaves: every byte goes back to the heap. */
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        scale_clear(&watch, &model, client);
    }
    watch_verify(&watch);
    CHECK(watch_link_count(&watch) == 0 && watch_key_count(&watch) == 0);
    CHECK(watch_memory_bytes(&watch) == 0 && heap->used_bytes == used_before);
    heap_verify(heap);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_watch", "step");
    uint64_t bytes = 2 * heap_plan_bytes(HEAP_SMALL_BYTES) + heap_plan_bytes(HEAP_SCALE_BYTES);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_watch: %s\n", error);
        return 1;
    }
    printf("test_watch: KV_SEED=%llu\n", (unsigned long long)seed);
    static struct heap heap_small;
    static struct heap heap_oom;
    static struct heap heap_scale;
    heap_init(&heap_small, &region, HEAP_SMALL_BYTES);
    heap_init(&heap_oom, &region, HEAP_SMALL_BYTES);
    heap_init(&heap_scale, &region, HEAP_SCALE_BYTES);
    test_basics(&heap_small);
    test_databases(&heap_small);
    test_cap(&heap_small);
    test_oom(&heap_oom);
    test_scale(&heap_scale, seed);
    CHECK(heap_small.used_bytes == 0);
    region_unmap(&region);
    return check_exit("test_watch");
}
