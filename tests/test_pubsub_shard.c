/*
 * Proves the shard channels (SSUBSCRIBE) in the pub/sub registry, with pubsub_verify() and
 * pubsub_client_verify() along the way:
 * - apart: a shard channel and a channel (and a pattern) of the same name are three entries,
 *   found by their own finds, counted in their own client counts (shards), each kind's
 *   oldest subscription its own; the caps count shard channels with the others;
 * - undo: the newest shard subscriptions go again (a SSUBSCRIBE that ran out of memory);
 * - a seeded churn of 200,000 steps: 24 clients subscribing and unsubscribing 40 names in
 *   all three kinds, checked against a model (who holds what) for every count, every
 *   subscriber count of a shard channel and the number of live shard channels; at the end
 *   every client unsubscribes from all and the heap's used bytes are what they were.
 * The seed is printed; KV_SEED replays it.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "pubsub.h"

#define HEAP_BYTES (16ull << 20)
#define CHURN_CLIENTS 24u
#define CHURN_NAMES 40u
#define CHURN_STEPS 200000u
#define CHURN_VERIFY_EVERY 5000u

static struct region region;

static void test_apart(struct heap *heap)
{
    uint64_t used_before = heap->used_bytes;
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 5, 0, 7);
    struct pubsub_client a;
    struct pubsub_client b;
    pubsub_client_init(&a, 1);
    pubsub_client_init(&b, 2);
    CHECK(pubsub_subscribe_kind(&pubsub, &a, text("news"), PUBSUB_KIND_SHARD) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, &a, text("news"), false) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe(&pubsub, &a, text("news"), true) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe_kind(&pubsub, &a, text("news"), PUBSUB_KIND_SHARD) == PUBSUB_ALREADY);
    CHECK(pubsub_subscribe_kind(&pubsub, &b, text("news"), PUBSUB_KIND_SHARD) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe_kind(&pubsub, &b, text("sport"), PUBSUB_KIND_SHARD) == PUBSUB_ADDED);
    CHECK(a.channels == 1 && a.patterns == 1 && a.shards == 1);
    CHECK(b.channels == 0 && b.patterns == 0 && b.shards == 2);
    CHECK(pubsub_shard_count(&pubsub) == 2 && dict_count(&pubsub.channels) == 1);
    uint32_t shard = 0;
    uint32_t channel = 0;
    CHECK(pubsub_shard_find(&pubsub, text("news"), &shard));
    CHECK(pubsub_channel_find(&pubsub, text("news"), &channel));
    CHECK(shard != channel && pubsub_channel(&pubsub, shard)->subscribers == 2);
    CHECK(pubsub_channel(&pubsub, channel)->subscribers == 1);
    CHECK(!pubsub_channel_find(&pubsub, text("sport"), &channel)); /* a shard channel only */
    /* The cap (5) counts every kind: news three times, sport, and one more name. */
    CHECK(pubsub_subscribe_kind(&pubsub, &b, text("x"), PUBSUB_KIND_SHARD) == PUBSUB_ADDED);
    CHECK(pubsub_subscribe_kind(&pubsub, &b, text("y"), PUBSUB_KIND_SHARD) ==
          PUBSUB_CHANNELS_FULL);
    CHECK(pubsub_subscribe(&pubsub, &b, text("y"), false) == PUBSUB_CHANNELS_FULL);
    pubsub_verify(&pubsub);
    pubsub_client_verify(&pubsub, &a);
    pubsub_client_verify(&pubsub, &b);
    /* Oldest first; the newest goes on undo. */
    struct slice name;
    CHECK(pubsub_client_first_kind(&pubsub, &b, PUBSUB_KIND_SHARD, &name));
    CHECK(slice_equal(name, text("news")));
    pubsub_unsubscribe_newest_kind(&pubsub, &b, PUBSUB_KIND_SHARD);
    CHECK(b.shards == 2 && !pubsub_shard_find(&pubsub, text("x"), &shard));
    /* Unsubscribing a shard channel leaves the channel of the same name. */
    CHECK(!pubsub_unsubscribe_kind(&pubsub, &b, text("news"), PUBSUB_KIND_CHANNEL));
    CHECK(pubsub_unsubscribe_kind(&pubsub, &a, text("news"), PUBSUB_KIND_SHARD));
    CHECK(a.shards == 0 && a.channels == 1);
    CHECK(pubsub_channel_find(&pubsub, text("news"), &channel));
    CHECK(pubsub_shard_find(&pubsub, text("news"), &shard));
    CHECK(pubsub_channel(&pubsub, shard)->subscribers == 1);
    /* Everything goes, kind by kind. */
    struct pubsub_client *clients[2] = {&a, &b};
    for (uint32_t index = 0; index < 2; index++) {
        for (uint32_t kind = 0; kind < PUBSUB_KIND_COUNT; kind++) {
            /* Bounded by the client's subscriptions of the kind. */
            while (pubsub_client_first_kind(&pubsub, clients[index], kind, &name)) {
                CHECK(pubsub_unsubscribe_kind(&pubsub, clients[index], name, kind));
            }
        }
    }
    pubsub_verify(&pubsub);
    CHECK(pubsub_memory_bytes(&pubsub) == 0 && heap->used_bytes == used_before);
}

static void test_churn(struct heap *heap, uint64_t seed)
{
    uint64_t used_before = heap->used_bytes;
    prng_state = seed;
    struct pubsub pubsub;
    pubsub_init(&pubsub, heap, 0, 0, seed);
    static struct pubsub_client clients[CHURN_CLIENTS];
    static bool held[CHURN_CLIENTS][PUBSUB_KIND_COUNT][CHURN_NAMES];
    memset(held, 0, sizeof(held));
    for (uint32_t slot = 0; slot < CHURN_CLIENTS; slot++) {
        pubsub_client_init(&clients[slot], slot);
    }
    char names[CHURN_NAMES][16];
    for (uint32_t index = 0; index < CHURN_NAMES; index++) {
        snprintf(names[index], sizeof(names[index]), "ch:%u", index);
    }
    bool ok = true;
    for (uint32_t step = 0; step < CHURN_STEPS && ok; step++) {
        uint32_t slot = (uint32_t)(prng_next() % CHURN_CLIENTS);
        uint32_t kind = (uint32_t)(prng_next() % PUBSUB_KIND_COUNT);
        uint32_t index = (uint32_t)(prng_next() % CHURN_NAMES);
        if (prng_next() % 2 == 0) {
            enum pubsub_status status =
                pubsub_subscribe_kind(&pubsub, &clients[slot], text(names[index]), kind);
            ok = status == (held[slot][kind][index] ? PUBSUB_ALREADY : PUBSUB_ADDED);
            held[slot][kind][index] = true;
        } else {
            bool removed =
                pubsub_unsubscribe_kind(&pubsub, &clients[slot], text(names[index]), kind);
            ok = removed == held[slot][kind][index];
            held[slot][kind][index] = false;
        }
        uint32_t count = 0;
        for (uint32_t at = 0; at < CHURN_NAMES; at++) {
            count += held[slot][kind][at] ? 1u : 0u;
        }
        ok = ok && pubsub_client_count(&clients[slot], kind) == count;
        if (ok && kind == PUBSUB_KIND_SHARD) {
            uint32_t subscribers = 0;
            for (uint32_t other = 0; other < CHURN_CLIENTS; other++) {
                subscribers += held[other][kind][index] ? 1u : 0u;
            }
            uint32_t ref = 0;
            bool live = pubsub_shard_find(&pubsub, text(names[index]), &ref);
            ok = live == (subscribers > 0) &&
                 (!live || pubsub_channel(&pubsub, ref)->subscribers == subscribers);
        }
        if (!ok) {
            fprintf(stderr, "test_pubsub_shard: step %u differs (KV_SEED=%llu)\n", step,
                    (unsigned long long)seed);
        }
        if (step % CHURN_VERIFY_EVERY == 0) {
            pubsub_verify(&pubsub);
            for (uint32_t other = 0; other < CHURN_CLIENTS; other++) {
                pubsub_client_verify(&pubsub, &clients[other]);
            }
        }
    }
    CHECK(ok);
    uint32_t live_shards = 0;
    for (uint32_t index = 0; index < CHURN_NAMES; index++) {
        bool any = false;
        for (uint32_t slot = 0; slot < CHURN_CLIENTS; slot++) {
            any = any || held[slot][PUBSUB_KIND_SHARD][index];
        }
        live_shards += any ? 1u : 0u;
    }
    CHECK(pubsub_shard_count(&pubsub) == live_shards);
    for (uint32_t slot = 0; slot < CHURN_CLIENTS; slot++) {
        struct slice name;
        for (uint32_t kind = 0; kind < PUBSUB_KIND_COUNT; kind++) {
            /* Bounded by the client's subscriptions of the kind. */
            while (pubsub_client_first_kind(&pubsub, &clients[slot], kind, &name)) {
                CHECK(pubsub_unsubscribe_kind(&pubsub, &clients[slot], name, kind));
            }
        }
    }
    pubsub_verify(&pubsub);
    CHECK(pubsub_memory_bytes(&pubsub) == 0 && heap->used_bytes == used_before);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    char error[256];
    if (region_map(&region, heap_plan_bytes(HEAP_BYTES), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF,
                   error, sizeof(error)) != 0) {
        fprintf(stderr, "test_pubsub_shard: %s\n", error);
        return 1;
    }
    printf("test_pubsub_shard: KV_SEED=%llu\n", (unsigned long long)seed);
    static struct heap heap;
    heap_init(&heap, &region, HEAP_BYTES);
    test_apart(&heap);
    test_churn(&heap, seed);
    CHECK(heap.used_bytes == 0);
    region_unmap(&region);
    return check_exit("test_pubsub_shard");
}
