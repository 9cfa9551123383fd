/*
 * Proves the pub/sub registry on the heap, with pubsub_verify() (counts and memory against a
 * walk) and pubsub_client_verify() along the way:
 * - basics: a channel's subscribers are kept in subscription order, a client's channels and
 *   patterns each in theirs (the first is the oldest); subscribing again is PUBSUB_ALREADY
 *   and changes nothing; patterns are not channels; unsubscribing what a client does not
 *   have is false; the newest subscription of a kind can be undone; names of any length
 *   (2 KB, 1 MB); every byte goes back when the last subscription goes;
 * - the optional caps: subscriptions_max per client and pubsub_channels_max in all, each
 *   exactly at its value and refused one past it, changing nothing; 0 means no cap;
 * - a full heap: a new channel and a new subscriber of a live channel are both PUBSUB_OOM
 *   and change nothing; a SUBSCRIBE of many channels that runs out part way undoes itself
 *   (pubsub_unsubscribe_newest, as cmd_pubsub does), leaving the same entries as before;
 * - scale: 200 clients on 101,000 channels (each its own 500, and 50 of 1,000 shared) and 20
 *   patterns, 110,000 subscriptions, then a seeded churn of subscribes, unsubscribes, leaves
 *   and checks against a model (each subscription's order): subscriber order of shared
 *   channels, each client's oldest channel and pattern, the counts; the bytes per channel
 *   and per subscription are printed; after every client leaves, the heap's used bytes are
 *   what they were before.
 * The seed is printed on failure (also on an abort); KV_SEED replays it.
 */
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "pubsub.h"

#define HEAP_SMALL_BYTES (8ull << 20)
#define HEAP_SCALE_BYTES (64ull << 20)

#define FILL_BLOCK_BYTES (64u << 10)
#define FILL_BLOCKS_MAX 65536u

#define SCALE_CLIENTS 200u
#define SCALE_OWN 500u
#define SCALE_HOT 1000u
#define SCALE_HOT_EACH 50u
#define SCALE_PATTERNS 20u
#define SCALE_PATTERNS_EACH 3u
#define SCALE_STEPS 300000u

static struct region region;

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

/* The connection slots subscribed to a channel, in its order; returns how many. */
static uint32_t subscribers_of(const struct pubsub *pubsub, uint32_t channel_ref, uint32_t *out,
                               uint32_t out_max)
{
    const struct pubsub_channel *channel = pubsub_channel(pubsub, channel_ref);
    uint32_t at = channel->head;
    uint32_t count = 0;
    /* Bounded by the channel's subscribers and out_max. */
    while (at != PUBSUB_NONE && count < out_max && count < channel->subscribers) {
        out[count++] = pubsub_link(pubsub, at)->conn_slot;
        at = pubsub_link(pubsub, at)->channel_next;
    }
    return count;
}

static void all_verify(const struct pubsub *pubsub, const struct pubsub_client *clients,
                       uint32_t count)
{
    pubsub_verify(pubsub);
    for (uint32_t index = 0; index < count; index++) {
        pubsub_client_verify(pubsub, &clients[index]);
    }
}

static bool first_is(const struct pubsub *pubsub, const struct pubsub_client *client,
                     bool pattern, const char *want)
{
    struct slice name;
    if (!pubsub_client_first(pubsub, client, pattern, &name)) {
        return want == NULL;
    }
    return want != NULL && slice_equal(name, text(want));
}

static void test_basics(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 0, 0, 21);
    struct pubsub_client clients[4];
    for (uint32_t slot = 0; slot < 4; slot++) {
        pubsub_client_init(&clients[slot], slot);
    }
    struct pubsub_client *a = &clients[1];
    struct pubsub_client *b = &clients[2];
    struct pubsub_client *c = &clients[3];
    CHECK(pubsub_subscribe(&pubsub, a, text("news"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, a, text("sport"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, c, text("n*"), true) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, c, text("news"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, c, text("s?ort"), true) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, b, text("news"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, a, text("news"), false) == PUBSUB_ALREADY);
    CHECK(pubsub_subscribe(&pubsub, c, text("n*"), true) == PUBSUB_ALREADY);
    /* The same name as a channel and as a pattern are two things. */
    CHECK(pubsub_subscribe(&pubsub, b, text("n*"), false) == PUBSUB_ADDED);
    all_verify(&pubsub, clients, 4);
    CHECK(a->channels == 2 && a->patterns == 0 && c->channels == 1 && c->patterns == 2);
    CHECK(dict_count(&pubsub.channels) == 3 && pubsub_pattern_count(&pubsub) == 2);
    CHECK(dict_count(&pubsub.links) == 7);
    CHECK(heap->used_bytes - used_before == pubsub_memory_bytes(&pubsub));
    /* news: a, c, b in subscription order. */
    uint32_t channel = 0;
    uint32_t got[4];
    CHECK(pubsub_channel_find(&pubsub, text("news"), &channel));
    CHECK(subscribers_of(&pubsub, channel, got, 4) == 3);
    CHECK(got[0] == 1 && got[1] == 3 && got[2] == 2);
    CHECK(pubsub_channel_find(&pubsub, text("n*"), &channel)); /* b's channel "n*" */
    CHECK(pubsub_channel(&pubsub, channel)->subscribers == 1);
    CHECK(!pubsub_channel_find(&pubsub, text("s?ort"), &channel)); /* a pattern only */
    /* Oldest first, per kind. */
    CHECK(first_is(&pubsub, a, false, "news") && first_is(&pubsub, a, true, NULL));
    CHECK(first_is(&pubsub, c, true, "n*") && first_is(&pubsub, c, false, "news"));
    CHECK(!pubsub_unsubscribe(&pubsub, a, text("weather"), false));
    CHECK(!pubsub_unsubscribe(&pubsub, a, text("n*"), true));
    CHECK(!pubsub_unsubscribe(&pubsub, b, text("sport"), false));
    CHECK(pubsub_unsubscribe(&pubsub, a, text("news"), false));
    CHECK(first_is(&pubsub, a, false, "sport"));
    CHECK(pubsub_channel_find(&pubsub, text("news"), &channel));
    CHECK(subscribers_of(&pubsub, channel, got, 4) == 2 && got[0] == 3 && got[1] == 2);
    /* The newest pattern of c goes: s?ort, and with it the pattern. */
    pubsub_unsubscribe_newest(&pubsub, c, true);
    CHECK(c->patterns == 1 && pubsub_pattern_count(&pubsub) == 1);
    CHECK(first_is(&pubsub, c, true, "n*"));
    all_verify(&pubsub, clients, 4);
    /* Names of any length. */
    static uint8_t big[1u << 20];
    memset(big, 'c', sizeof(big));
    struct slice two_kb = {.bytes = big, .length = 2048};
    struct slice one_mb = {.bytes = big, .length = sizeof(big)};
    CHECK(pubsub_subscribe(&pubsub, b, two_kb, false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, b, one_mb, true) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, a, one_mb, true) == PUBSUB_ADDED);
    CHECK(pubsub_channel_find(&pubsub, two_kb, &channel));
    CHECK(pubsub_memory_bytes(&pubsub) > sizeof(big) + 2048);
    CHECK(heap->used_bytes - used_before == pubsub_memory_bytes(&pubsub));
    all_verify(&pubsub, clients, 4);
    /* Everything goes: unsubscribing all, oldest first, as a leaving client does. */
    for (uint32_t slot = 0; slot < 4; slot++) {
        struct slice name;
        /* Bounded by the client's subscriptions. */
        while (pubsub_client_first(&pubsub, &clients[slot], clients[slot].channels == 0, &name)) {
            CHECK(pubsub_unsubscribe(&pubsub, &clients[slot], name, clients[slot].channels == 0));
        }
        CHECK(clients[slot].channels + clients[slot].patterns == 0);
    }
    all_verify(&pubsub, clients, 4);
    CHECK(dict_count(&pubsub.links) == 0 && pubsub_memory_bytes(&pubsub) == 0);
    CHECK(heap->used_bytes == used_before);
}

static void test_caps(struct heap *heap)
{
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 4, 3, 22);
    struct pubsub_client clients[2];
    pubsub_client_init(&clients[0], 0);
    pubsub_client_init(&clients[1], 1);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("c1"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("c2"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("p*"), true) == PUBSUB_ADDED);
    /* subscriptions_max 3: a fourth is refused, a repeat is not. */
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("c1"), false) == PUBSUB_ALREADY);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("c3"), false) == PUBSUB_CLIENT_FULL);
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("c3"), false) == PUBSUB_ADDED);
    /* pubsub_channels_max 4: four exist; a live one may be joined, a fifth is refused. */
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("c1"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("q*"), true) == PUBSUB_CHANNELS_FULL);
    CHECK(clients[1].channels == 2 && clients[1].patterns == 0);
    CHECK(dict_count(&pubsub.channels) + pubsub_pattern_count(&pubsub) == 4);
    all_verify(&pubsub, clients, 2);
    CHECK(pubsub_unsubscribe(&pubsub, &clients[1], text("c3"), false));
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("q*"), true) == PUBSUB_ADDED);
    all_verify(&pubsub, clients, 2);
    pubsub_unsubscribe_newest(&pubsub, &clients[1], true);
    pubsub_unsubscribe_newest(&pubsub, &clients[1], false);
    pubsub_unsubscribe_newest(&pubsub, &clients[0], true);
    pubsub_unsubscribe_newest(&pubsub, &clients[0], false);
    pubsub_unsubscribe_newest(&pubsub, &clients[0], false);
    all_verify(&pubsub, clients, 2);
    CHECK(pubsub_memory_bytes(&pubsub) == 0);
    /* No caps: 20,000 channels for one client. */
    struct pubsub open;
    pubsub_init(&open, heap, 0, 0, 23);
    for (uint32_t index = 0; index < 20000; index++) {
        char name[24];
        snprintf(name, sizeof(name), "channel:%u", index);
        CHECK(pubsub_subscribe(&open, &clients[0], text(name), false) == PUBSUB_ADDED);
    }
    CHECK(clients[0].channels == 20000 && dict_count(&open.channels) == 20000);
    all_verify(&open, clients, 1);
    CHECK(first_is(&open, &clients[0], false, "channel:0"));
    /* Bounded by the client's channels. */
    while (clients[0].channels > 0) {
        pubsub_unsubscribe_newest(&open, &clients[0], false);
    }
    CHECK(pubsub_memory_bytes(&open) == 0);
}

static void test_oom(struct heap *heap)
{
    static void *fillers[FILL_BLOCKS_MAX];
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 0, 0, 24);
    struct pubsub_client clients[2];
    pubsub_client_init(&clients[0], 0);
    pubsub_client_init(&clients[1], 1);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("live"), false) == PUBSUB_ADDED);
    uint32_t filler_count = heap_fill(heap, fillers);
    uint64_t used_before = heap->used_bytes;
    uint64_t memory_before = pubsub_memory_bytes(&pubsub);
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("fresh"), false) == PUBSUB_OOM);
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("live"), false) == PUBSUB_OOM);
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("fresh*"), true) == PUBSUB_OOM);
    CHECK(pubsub_subscribe(&pubsub, &clients[0], text("live"), false) == PUBSUB_ALREADY);
    CHECK(heap->used_bytes == used_before && pubsub_memory_bytes(&pubsub) == memory_before);
    CHECK(clients[1].channels + clients[1].patterns == 0 && dict_count(&pubsub.links) == 1);
    all_verify(&pubsub, clients, 2);
    /* One 64 KiB block back: a SUBSCRIBE of 5,000 channels runs out part way; what it
     * added goes again, newest first. */
    heap_release(heap, fillers[0]);
    fillers[0] = NULL;
    uint64_t entry_bytes_before = pubsub.entry_bytes;
    uint32_t count_before = clients[0].channels;
    enum pubsub_status status = PUBSUB_ADDED;
    uint32_t added = 0;
    for (uint32_t index = 0; index < 5000 && status == PUBSUB_ADDED; index++) {
        char name[48];
        snprintf(name, sizeof(name), "a-rather-long-channel-name-%020u", index);
        status = pubsub_subscribe(&pubsub, &clients[0], text(name), false);
        added += status == PUBSUB_ADDED ? 1 : 0;
    }
    CHECK(status == PUBSUB_OOM && added > 100);
    /* Bounded by the subscriptions added. */
    while (clients[0].channels > count_before) {
        pubsub_unsubscribe_newest(&pubsub, &clients[0], false);
    }
    CHECK(pubsub.entry_bytes == entry_bytes_before && dict_count(&pubsub.links) == 1);
    CHECK(first_is(&pubsub, &clients[0], false, "live"));
    all_verify(&pubsub, clients, 2);
    for (uint32_t index = 1; index < filler_count; index++) {
        heap_release(heap, fillers[index]);
    }
    CHECK(pubsub_subscribe(&pubsub, &clients[1], text("live"), false) == PUBSUB_ADDED);
    CHECK(pubsub_unsubscribe(&pubsub, &clients[1], text("live"), false));
    CHECK(pubsub_unsubscribe(&pubsub, &clients[0], text("live"), false));
    CHECK(heap->used_bytes == 0 && pubsub_memory_bytes(&pubsub) == 0);
    heap_verify(heap);
}

/* The scale model: each subscription's order number (0: not subscribed). */
struct scale_model {
    uint64_t own[SCALE_CLIENTS][SCALE_OWN];
    uint64_t hot[SCALE_CLIENTS][SCALE_HOT];
    uint64_t patterns[SCALE_CLIENTS][SCALE_PATTERNS];
    struct pubsub_client clients[SCALE_CLIENTS];
    uint32_t hot_subscribers[SCALE_HOT];
    uint32_t pattern_subscribers[SCALE_PATTERNS];
    uint64_t links;
    uint64_t channels;      /* channels with subscribers */
    uint64_t pattern_count; /* patterns with subscribers */
    uint64_t order;
};

/* Name kinds: 0 a client's own channel, 1 a shared channel, 2 a pattern. */
struct scale_pick {
    uint32_t kind;
    uint32_t index;         /* own: 0..SCALE_OWN of the client's; else the shared number */
    char name[32];
};

static void scale_name(struct scale_pick *pick, uint32_t client)
{
    if (pick->kind == 0) {
        snprintf(pick->name, sizeof(pick->name), "chan:%06u", client * SCALE_OWN + pick->index);
    } else if (pick->kind == 1) {
        snprintf(pick->name, sizeof(pick->name), "hot:%04u", pick->index);
    } else {
        snprintf(pick->name, sizeof(pick->name), "pat:%02u:*", pick->index);
    }
}

static uint64_t *scale_slot(struct scale_model *model, uint32_t client,
                            const struct scale_pick *pick)
{
    return pick->kind == 0   ? &model->own[client][pick->index]
           : pick->kind == 1 ? &model->hot[client][pick->index]
                             : &model->patterns[client][pick->index];
}

/* The model's side of one subscription coming (+1) or going (-1). */
static void scale_count(struct scale_model *model, const struct scale_pick *pick, int delta)
{
    model->links = (uint64_t)((int64_t)model->links + delta);
    if (pick->kind == 0) {
        model->channels = (uint64_t)((int64_t)model->channels + delta);
        return;
    }
    uint32_t *subscribers = pick->kind == 1 ? &model->hot_subscribers[pick->index]
                                            : &model->pattern_subscribers[pick->index];
    uint64_t *live = pick->kind == 1 ? &model->channels : &model->pattern_count;
    bool was_live = *subscribers > 0;
    *subscribers = (uint32_t)((int32_t)*subscribers + delta);
    *live = (uint64_t)((int64_t)*live + (int64_t)(*subscribers > 0) - (int64_t)was_live);
}

static void scale_subscribe(struct pubsub *pubsub, struct scale_model *model, uint32_t client,
                            struct scale_pick *pick)
{
    scale_name(pick, client);
    uint64_t *order = scale_slot(model, client, pick);
    enum pubsub_status status =
        pubsub_subscribe(pubsub, &model->clients[client], text(pick->name), pick->kind == 2);
    CHECK(status == (*order != 0 ? PUBSUB_ALREADY : PUBSUB_ADDED));
    if (*order == 0 && status == PUBSUB_ADDED) {
        *order = ++model->order;
        scale_count(model, pick, +1);
    }
}

static void scale_unsubscribe(struct pubsub *pubsub, struct scale_model *model, uint32_t client,
                              struct scale_pick *pick)
{
    scale_name(pick, client);
    uint64_t *order = scale_slot(model, client, pick);
    bool removed =
        pubsub_unsubscribe(pubsub, &model->clients[client], text(pick->name), pick->kind == 2);
    CHECK(removed == (*order != 0));
    if (*order != 0 && removed) {
        *order = 0;
        scale_count(model, pick, -1);
    }
}

static struct scale_pick scale_random_pick(void)
{
    struct scale_pick pick = {.kind = prng_below(3)};
    pick.index = prng_below(pick.kind == 0 ? SCALE_OWN : pick.kind == 1 ? SCALE_HOT
                                                                        : SCALE_PATTERNS);
    return pick;
}

/* A client leaves: everything unsubscribed, oldest first, checked against the model's
 * oldest each time (client_unsubscribe_all's walk). */
static void scale_leave(struct pubsub *pubsub, struct scale_model *model, uint32_t client)
{
    struct pubsub_client *state = &model->clients[client];
    /* Bound: the client's subscriptions. */
    for (uint32_t kind = 0; kind < 2; kind++) {
        struct slice name;
        while (pubsub_client_first(pubsub, state, kind == 1, &name)) {
            CHECK(pubsub_unsubscribe(pubsub, state, name, kind == 1));
        }
    }
    CHECK(state->channels + state->patterns == 0);
    /* The model: every subscription of the client goes. */
    for (uint32_t kind = 0; kind < 3; kind++) {
        uint32_t count = kind == 0 ? SCALE_OWN : kind == 1 ? SCALE_HOT : SCALE_PATTERNS;
        for (uint32_t index = 0; index < count; index++) {
            struct scale_pick pick = {.kind = kind, .index = index};
            uint64_t *order = scale_slot(model, client, &pick);
            if (*order != 0) {
                *order = 0;
                scale_count(model, &pick, -1);
            }
        }
    }
}

/* The client's oldest channel (own or shared) and oldest pattern, from the model. */
static void scale_check_first(const struct pubsub *pubsub, struct scale_model *model,
                              uint32_t client)
{
    struct scale_pick best[2] = {{.kind = 3}, {.kind = 3}};
    uint64_t best_order[2] = {UINT64_MAX, UINT64_MAX};
    for (uint32_t kind = 0; kind < 3; kind++) {
        uint32_t count = kind == 0 ? SCALE_OWN : kind == 1 ? SCALE_HOT : SCALE_PATTERNS;
        uint32_t slot = kind == 2 ? 1u : 0u;
        for (uint32_t index = 0; index < count; index++) {
            struct scale_pick pick = {.kind = kind, .index = index};
            uint64_t order = *scale_slot(model, client, &pick);
            if (order != 0 && order < best_order[slot]) {
                best_order[slot] = order;
                best[slot] = pick;
            }
        }
    }
    for (uint32_t slot = 0; slot < 2; slot++) {
        struct slice name;
        bool found = pubsub_client_first(pubsub, &model->clients[client], slot == 1, &name);
        CHECK(found == (best[slot].kind != 3));
        if (found && best[slot].kind != 3) {
            scale_name(&best[slot], client);
            CHECK(slice_equal(name, text(best[slot].name)));
        }
    }
}

/* A shared channel's subscribers against the model's order. */
static void scale_check_hot(const struct pubsub *pubsub, const struct scale_model *model,
                            uint32_t hot)
{
    static uint32_t expected[SCALE_CLIENTS];
    static uint32_t got[SCALE_CLIENTS];
    uint32_t count = 0;
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        uint64_t order = model->hot[client][hot];
        if (order == 0) {
            continue;
        }
        uint32_t at = count;
        /* Insertion sort by order: at most SCALE_CLIENTS. */
        while (at > 0 && model->hot[expected[at - 1]][hot] > order) {
            expected[at] = expected[at - 1];
            at--;
        }
        expected[at] = client;
        count++;
    }
    char name[16];
    snprintf(name, sizeof(name), "hot:%04u", hot);
    uint32_t channel = 0;
    bool found = pubsub_channel_find(pubsub, text(name), &channel);
    CHECK(found == (count > 0));
    uint32_t got_count = found ? subscribers_of(pubsub, channel, got, SCALE_CLIENTS) : 0;
    CHECK(got_count == count && memcmp(got, expected, count * sizeof(uint32_t)) == 0);
}

static void scale_check_counts(const struct pubsub *pubsub, const struct scale_model *model)
{
    CHECK(dict_count(&pubsub->links) == model->links);
    CHECK(dict_count(&pubsub->channels) == model->channels);
    CHECK(pubsub_pattern_count(pubsub) == model->pattern_count);
}

static void scale_build(struct pubsub *pubsub, struct scale_model *model)
{
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        for (uint32_t index = 0; index < SCALE_OWN; index++) {
            struct scale_pick pick = {.kind = 0, .index = index};
            scale_subscribe(pubsub, model, client, &pick);
        }
        for (uint32_t step = 0; step < SCALE_HOT_EACH; step++) {
            struct scale_pick pick = {.kind = 1, .index = prng_below(SCALE_HOT)};
            scale_subscribe(pubsub, model, client, &pick);
        }
        for (uint32_t step = 0; step < SCALE_PATTERNS_EACH; step++) {
            struct scale_pick pick = {.kind = 2, .index = prng_below(SCALE_PATTERNS)};
            scale_subscribe(pubsub, model, client, &pick);
        }
    }
}

static void test_scale(struct heap *heap, uint64_t seed)
{
    static struct scale_model model;
    memset(&model, 0, sizeof(model));
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 0, 0, seed);
    uint64_t used_before = heap->used_bytes;
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        pubsub_client_init(&model.clients[client], client);
    }
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    scale_build(&pubsub, &model);
    struct timespec ended;
    clock_gettime(CLOCK_MONOTONIC, &ended);
    all_verify(&pubsub, model.clients, SCALE_CLIENTS);
    scale_check_counts(&pubsub, &model);
    CHECK(model.channels > 100000 && model.links > 110000);
    CHECK(heap->used_bytes - used_before == pubsub_memory_bytes(&pubsub));
    double subscribe_ns = ((double)(ended.tv_sec - started.tv_sec) * 1e9 +
                           (double)(ended.tv_nsec - started.tv_nsec)) /
                          (double)(SCALE_CLIENTS * (SCALE_OWN + SCALE_HOT_EACH +
                                                    SCALE_PATTERNS_EACH));
    uint64_t names = model.channels + model.pattern_count;
    uint64_t link_bytes = 32u * model.links;
    uint64_t name_buckets = dict_bucket_bytes(&pubsub.channels) +
                            dict_bucket_bytes(&pubsub.patterns);
    printf("test_pubsub: %u clients, %llu channels, %llu patterns, %llu subscriptions: %llu "
           "bytes; a channel with an 11-byte name %.1f + %.1f of buckets, a subscription "
           "%.1f + %.1f of buckets; %.0f ns per subscribe\n",
           SCALE_CLIENTS, (unsigned long long)model.channels,
           (unsigned long long)model.pattern_count, (unsigned long long)model.links,
           (unsigned long long)pubsub_memory_bytes(&pubsub),
           (double)(pubsub.entry_bytes - link_bytes) / (double)names,
           (double)name_buckets / (double)names, (double)link_bytes / (double)model.links,
           (double)dict_bucket_bytes(&pubsub.links) / (double)model.links, subscribe_ns);
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < SCALE_STEPS; fixture_run.step++) {
        uint32_t client = prng_below(SCALE_CLIENTS);
        uint32_t action = prng_below(100);
        struct scale_pick pick = scale_random_pick();
        if (action < 45) {
            scale_subscribe(&pubsub, &model, client, &pick);
        } else if (action < 90) {
            scale_unsubscribe(&pubsub, &model, client, &pick);
        } else if (action < 95) {
            scale_check_hot(&pubsub, &model, prng_below(SCALE_HOT));
        } else if (action < 99) {
            scale_check_first(&pubsub, &model, client);
        } else if (prng_below(10) == 0) {
            scale_leave(&pubsub, &model, client);
        }
        if (fixture_run.step % 50000 == 0) {
            all_verify(&pubsub, model.clients, SCALE_CLIENTS);
            scale_check_counts(&pubsub, &model);
        }
        if (check_failures > failures_before) {
            fprintf(stderr, "test_pubsub: scale failed at step %u (KV_SEED=%llu)\n", fixture_run.step,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    all_verify(&pubsub, model.clients, SCALE_CLIENTS);
    scale_check_counts(&pubsub, &model);
    /* Everyone leaves: every byte goes back to the heap. */
    for (uint32_t client = 0; client < SCALE_CLIENTS; client++) {
        scale_leave(&pubsub, &model, client);
    }
    all_verify(&pubsub, model.clients, SCALE_CLIENTS);
    CHECK(dict_count(&pubsub.links) == 0 && dict_count(&pubsub.channels) == 0);
    CHECK(pubsub_memory_bytes(&pubsub) == 0 && heap->used_bytes == used_before);
    heap_verify(heap);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_pubsub", "step");
    uint64_t bytes = 2 * heap_plan_bytes(HEAP_SMALL_BYTES) + heap_plan_bytes(HEAP_SCALE_BYTES);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_pubsub: %s\n", error);
        return 1;
    }
    printf("test_pubsub: KV_SEED=%llu\n", (unsigned long long)seed);
    static struct heap heap_small;
    static struct heap heap_oom;
    static struct heap heap_scale;
    heap_init(&heap_small, &region, HEAP_SMALL_BYTES);
    heap_init(&heap_oom, &region, HEAP_SMALL_BYTES);
    heap_init(&heap_scale, &region, HEAP_SCALE_BYTES);
    test_basics(&heap_small);
    test_caps(&heap_small);
    test_oom(&heap_oom);
    test_scale(&heap_scale, seed);
    CHECK(heap_small.used_bytes == 0);
    region_unmap(&region);
    return check_exit("test_pubsub");
}
