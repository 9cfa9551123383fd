/*
 * Proves the per-client state keeps its ids, resets and releases, with client_verify() on
 * every slot after every step:
 * - open: a fresh entry in its connection slot, ids increasing from 1 and never reused
 *   (a reopened slot gets a new id), times and authentication as given;
 * - reset (RESET): name, library and transaction cleared, watches and subscriptions given
 *   back, id, creation time and slot kept, authentication as given;
 * - close: everything given back to the heap (its used bytes as before): a channel other
 *   clients still subscribe to stays with one subscriber fewer, one left without subscribers
 *   goes, patterns too, at the subscriptions_max cap;
 * - a seeded random run of opens, closes, resets, subscriptions and watches over every slot
 *   against a model of ids and subscription counts, with pubsub_verify() and watch_verify().
 *   The seed is printed on failure (also on an abort); KV_SEED replays it.
 * The modules are built on a real heap from a real region as main.c's modules_init builds
 * them, with the optional caps set.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "fixture.h"

#define SLOTS 10u
#define CHANNELS_MAX 12u
#define SUBSCRIPTIONS_MAX 4u
#define WATCH_KEYS 16u
#define RANDOM_STEPS 50000u

static struct region region;
static struct heap heap;
static struct watch watch;
static struct pubsub pubsub;
static struct clients clients;

static void verify_all(void)
{
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        const struct client *client = client_at(&clients, slot);
        client_verify(&clients, client);
        if (client->id != 0) {
            watch_list_verify(&watch, &client->txn.watches, slot);
        }
    }
    pubsub_verify(&pubsub);
    watch_verify(&watch);
}

static void subscribe(struct client *client, const char *name, bool pattern)
{
    CHECK(pubsub_subscribe(&pubsub, &client->pubsub, text(name), pattern) == PUBSUB_ADDED);
}

static void set_name(struct client *client, const char *name)
{
    client->name_length = (uint32_t)strlen(name);
    memcpy(client->name, name, client->name_length);
    client->lib_name_length = 3;
    memcpy(client->lib_name, "lib", 3);
    client->lib_ver_length = 1;
    memcpy(client->lib_ver, "1", 1);
}

static void test_open_close(void)
{
    CHECK(clients.id_next == 1 && clients.slot_count == SLOTS);
    verify_all();
    struct client *first = client_open(&clients, 3, 1000, true);
    CHECK(first == client_at(&clients, 3) && first->id == 1 && first->slot_index == 3);
    CHECK(first->authenticated && first->created_ms == 1000 && first->last_command_ms == 1000);
    CHECK(first->last_command == NULL && first->name_length == 0);
    CHECK(!first->txn.active && !client_subscribed(first));
    CHECK(first->pubsub.head[PUBSUB_KIND_CHANNEL] == PUBSUB_NONE);
    CHECK(first->pubsub.head[PUBSUB_KIND_PATTERN] == PUBSUB_NONE);
    CHECK(first->pubsub.conn_slot == 3 && first->txn.watches.head == WATCH_NONE);
    struct client *second = client_open(&clients, 0, 1500, false);
    CHECK(second->id == 2 && !second->authenticated && second->slot_index == 0);
    verify_all();
    client_close(&clients, first);
    CHECK(first->id == 0 && first->slot_index == 3);
    verify_all();
    /* A new client in the same slot gets a new id, never the old one. */
    struct client *third = client_open(&clients, 3, 2000, true);
    CHECK(third->id == 3 && third->created_ms == 2000);
    CHECK(slice_equal(client_name(third), text("")));
    verify_all();
    client_close(&clients, third);
    client_close(&clients, second);
    CHECK(clients.id_next == 4);
    verify_all();
}

static void test_reset(void)
{
    uint64_t used_before = heap.used_bytes;
    struct client *client = client_open(&clients, 5, 3000, false);
    uint64_t id = client->id;
    set_name(client, "worker");
    CHECK(slice_equal(client_name(client), text("worker")));
    client->last_command = "get";
    subscribe(client, "news", false);
    subscribe(client, "n*", true);
    CHECK(client_subscribed(client) && client->pubsub.channels == 1);
    CHECK(client->pubsub.patterns == 1 && pubsub_pattern_count(&pubsub) == 1);
    CHECK(watch_add(&watch, &client->txn.watches, client->slot_index, 0, text("w")) == WATCH_OK);
    txn_begin(&client->txn);
    txn_queue(&client->txn, 10, 5);
    verify_all();
    client_reset(&clients, client, true);
    CHECK(client->id == id && client->slot_index == 5 && client->created_ms == 3000);
    CHECK(client->authenticated && client->name_length == 0);
    CHECK(client->lib_name_length == 0 && client->lib_ver_length == 0);
    CHECK(!client->txn.active && client->txn.queued == 0 && client->txn.watches.count == 0);
    CHECK(!client_subscribed(client) && pubsub_pattern_count(&pubsub) == 0);
    CHECK(dict_count(&pubsub.channels) == 0 && dict_count(&pubsub.links) == 0);
    CHECK(watch_link_count(&watch) == 0 && watch_key_count(&watch) == 0);
    CHECK(heap.used_bytes == used_before);
    verify_all();
    client_reset(&clients, client, false);
    CHECK(!client->authenticated && client->id == id);
    client_close(&clients, client);
    verify_all();
}

static void test_close_releases(void)
{
    uint64_t used_before = heap.used_bytes;
    struct client *one = client_open(&clients, 1, 0, true);
    struct client *two = client_open(&clients, 2, 0, true);
    /* one: subscriptions_max of them, two channels shared with two, one pattern shared. */
    subscribe(one, "shared-a", false);
    subscribe(one, "shared-b", false);
    subscribe(one, "own", false);
    subscribe(one, "s*", true);
    CHECK(pubsub_subscribe(&pubsub, &one->pubsub, text("fifth"), false) == PUBSUB_CLIENT_FULL);
    subscribe(two, "shared-a", false);
    subscribe(two, "shared-b", false);
    subscribe(two, "s*", true);
    CHECK(watch_add(&watch, &one->txn.watches, 1, 0, text("k")) == WATCH_OK);
    CHECK(watch_add(&watch, &two->txn.watches, 2, 0, text("k")) == WATCH_OK);
    CHECK(watch_key_count(&watch) == 1 && watch_link_count(&watch) == 2);
    CHECK(dict_count(&pubsub.channels) + pubsub_pattern_count(&pubsub) == 4);
    CHECK(dict_count(&pubsub.links) == 7);
    verify_all();
    client_close(&clients, one);
    /* "own" went; the shared ones stay with two alone; two's watch stays. */
    CHECK(dict_count(&pubsub.channels) == 2 && dict_count(&pubsub.links) == 3);
    CHECK(pubsub_pattern_count(&pubsub) == 1 && watch_link_count(&watch) == 1);
    uint32_t channel = 0;
    CHECK(!pubsub_channel_find(&pubsub, text("own"), &channel));
    CHECK(pubsub_channel_find(&pubsub, text("shared-a"), &channel));
    CHECK(pubsub_channel(&pubsub, channel)->subscribers == 1);
    CHECK(client_subscribed(two) && two->pubsub.channels == 2 && two->pubsub.patterns == 1);
    verify_all();
    /* Unsubscribing from everything leaves the client open. */
    client_unsubscribe_all(&clients, two);
    CHECK(!client_subscribed(two) && two->id != 0 && pubsub_pattern_count(&pubsub) == 0);
    CHECK(dict_count(&pubsub.channels) == 0 && dict_count(&pubsub.links) == 0);
    client_unsubscribe_all(&clients, two); /* nothing to do */
    verify_all();
    /* Only patterns, at the limit. */
    const char *patterns[SUBSCRIPTIONS_MAX] = {"p1*", "p2*", "p3*", "p4*"};
    for (uint32_t index = 0; index < SUBSCRIPTIONS_MAX; index++) {
        subscribe(two, patterns[index], true);
    }
    CHECK(two->pubsub.patterns == SUBSCRIPTIONS_MAX);
    CHECK(pubsub_pattern_count(&pubsub) == SUBSCRIPTIONS_MAX);
    client_close(&clients, two);
    CHECK(pubsub_pattern_count(&pubsub) == 0 && dict_count(&pubsub.links) == 0);
    CHECK(watch_link_count(&watch) == 0 && watch_key_count(&watch) == 0);
    CHECK(heap.used_bytes == used_before);
    CHECK(pubsub_memory_bytes(&pubsub) == 0 && watch_memory_bytes(&watch) == 0);
    verify_all();
}

/* The random run's model: which slots hold a client, their ids, their subscriptions. */
struct model {
    uint64_t id[SLOTS];                 /* 0: no client */
    bool subscribed[SLOTS][8];          /* by name index: channels 0..3, patterns 4..7 */
    uint32_t watches[SLOTS];
};

static const char *const model_names[8] = {"c0", "c1", "c2", "c3", "p0*", "p1*", "p2*", "p3*"};

static void model_check(const struct model *model)
{
    uint32_t links = 0;
    uint32_t channels_live[8] = {0};
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        const struct client *client = client_at(&clients, slot);
        CHECK(client->id == model->id[slot]);
        uint32_t channels = 0;
        uint32_t patterns = 0;
        for (uint32_t name = 0; name < 8; name++) {
            channels += model->subscribed[slot][name] && name < 4 ? 1 : 0;
            patterns += model->subscribed[slot][name] && name >= 4 ? 1 : 0;
            channels_live[name] += model->subscribed[slot][name] ? 1 : 0;
        }
        CHECK(client->pubsub.channels == channels && client->pubsub.patterns == patterns);
        CHECK(client->txn.watches.count == model->watches[slot]);
        links += channels + patterns;
    }
    uint32_t live = 0;
    for (uint32_t name = 0; name < 8; name++) {
        live += channels_live[name] > 0 ? 1 : 0;
    }
    CHECK(dict_count(&pubsub.links) == links);
    CHECK(dict_count(&pubsub.channels) + pubsub_pattern_count(&pubsub) == live);
}

static void random_step(struct model *model, uint32_t slot, uint64_t *last_id)
{
    struct client *client = client_at(&clients, slot);
    if (model->id[slot] == 0) {
        client = client_open(&clients, slot, (int64_t)fixture_run.step, prng_below(2) == 0);
        CHECK(client->id > *last_id);
        *last_id = client->id;
        model->id[slot] = client->id;
        return;
    }
    uint32_t action = prng_below(8);
    if (action == 0) {
        client_close(&clients, client);
        memset(model->subscribed[slot], 0, sizeof(model->subscribed[slot]));
        model->watches[slot] = 0;
        model->id[slot] = 0;
    } else if (action == 1) {
        client_reset(&clients, client, true);
        memset(model->subscribed[slot], 0, sizeof(model->subscribed[slot]));
        model->watches[slot] = 0;
    } else if (action == 2) {
        /* A watch on one of 3 keys: refused only at the watch_keys_max cap. */
        uint32_t key = prng_below(3);
        char name[2] = {(char)('x' + key), '\0'};
        uint32_t before = client->txn.watches.count;
        bool full = watch_link_count(&watch) >= WATCH_KEYS;
        enum watch_status status = watch_add(&watch, &client->txn.watches, slot, 0, text(name));
        CHECK(status == WATCH_OK || (full && status == WATCH_FULL));
        model->watches[slot] += client->txn.watches.count > before ? 1 : 0;
    } else {
        uint32_t name = prng_below(8);
        bool pattern = name >= 4;
        uint32_t count = client->pubsub.channels + client->pubsub.patterns;
        enum pubsub_status status =
            pubsub_subscribe(&pubsub, &client->pubsub, text(model_names[name]), pattern);
        if (model->subscribed[slot][name]) {
            CHECK(status == PUBSUB_ALREADY);
            CHECK(pubsub_unsubscribe(&pubsub, &client->pubsub, text(model_names[name]),
                                     pattern));
            model->subscribed[slot][name] = false;
        } else if (count == SUBSCRIPTIONS_MAX) {
            CHECK(status == PUBSUB_CLIENT_FULL);
        } else {
            CHECK(status == PUBSUB_ADDED);
            model->subscribed[slot][name] = true;
        }
    }
}

static void test_random(uint64_t seed)
{
    static struct model model;
    memset(&model, 0, sizeof(model));
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    uint64_t last_id = clients.id_next - 1;
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < RANDOM_STEPS; fixture_run.step++) {
        random_step(&model, prng_below(SLOTS), &last_id);
        verify_all();
        model_check(&model);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_client: random run failed at step %u (KV_SEED=%llu)\n",
                    fixture_run.step, (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    printf("test_client: %u random steps, %llu clients opened (KV_SEED=%llu)\n", RANDOM_STEPS,
           (unsigned long long)(clients.id_next - 1), (unsigned long long)seed);
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        if (client_at(&clients, slot)->id != 0) {
            client_close(&clients, client_at(&clients, slot));
        }
    }
    verify_all();
    CHECK(dict_count(&pubsub.links) == 0 && dict_count(&pubsub.channels) == 0);
    CHECK(watch_link_count(&watch) == 0 && watch_key_count(&watch) == 0);
    CHECK(heap.used_bytes == 0);
    heap_verify(&heap);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_client", "step");
    uint64_t bytes = heap_plan_bytes(CONFIG_MAXMEMORY_MIN) + clients_plan_bytes(SLOTS) + 4096;
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_client: %s\n", error);
        return 1;
    }
    /* In modules_init's order. */
    heap_init(&heap, &region, CONFIG_MAXMEMORY_MIN);
    watch_init(&watch, &heap, WATCH_KEYS, 98);
    pubsub_init(&pubsub, &heap, CHANNELS_MAX, SUBSCRIPTIONS_MAX, 99);
    clients_init(&clients, &region, SLOTS, &watch, &pubsub);
    CHECK(region.carved_bytes <= bytes);
    test_open_close();
    test_reset();
    test_close_releases();
    test_random(seed);
    region_unmap(&region);
    return check_exit("test_client");
}
