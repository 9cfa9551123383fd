/*
 * Pub/sub bookkeeping on the heap. A channel, pattern or shard channel is an entry in
 * `channels`, `patterns` or `shards` with its name after the head; a subscription is an
 * entry in `links` keyed by
 * its channel entry's reference and the connection slot, on two doubly linked chains: the
 * channel's subscribers and the client's subscriptions of that kind, both oldest first.
 *
 * Invariants: every channel entry has at least one subscriber, and its chain holds exactly
 * `subscribers` links, each naming it; each link is on its client's chain of the channel's
 * kind; a client's counts equal its chains' lengths; the links dict holds every link once;
 * entry_bytes is the sum of the usable bytes of every entry; a dict left empty holds no
 * bucket array, so pub/sub with no subscribers holds no heap memory. Walks are bounded by a
 * channel's subscribers, a client's counts or a dict's entries; a subscribe that finds no
 * room changes nothing.
 */
#include "pubsub.h"

#include <stddef.h>
#include <string.h>

/* A link's dict key is its channel reference and connection slot, read as 8 bytes. */
#define PUBSUB_LINK_KEY_BYTES 8u

static_assert(offsetof(struct pubsub_link, conn_slot) ==
                  offsetof(struct pubsub_link, channel) + sizeof(uint32_t),
              "a link's two key numbers are adjacent");
static_assert(sizeof(struct pubsub_link) == 28, "a link is one 32-byte heap object");
static_assert(offsetof(struct pubsub_channel, name) == 24, "a channel's head is 24 bytes");

static struct slice names_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    const struct pubsub_channel *channel = entry;
    return (struct slice){.bytes = channel->name, .length = channel->name_length};
}

static struct slice links_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    const struct pubsub_link *link = entry;
    return (struct slice){.bytes = (const uint8_t *)&link->channel,
                          .length = PUBSUB_LINK_KEY_BYTES};
}

void pubsub_init(struct pubsub *pubsub, struct heap *heap, uint32_t channels_max,
                 uint32_t subscriptions_max, uint64_t seed)
{
    KV_ASSERT(heap != NULL);
    memset(pubsub, 0, sizeof(*pubsub));
    pubsub->heap = heap;
    dict_init(&pubsub->channels, heap, names_dict_key, seed);
    dict_init(&pubsub->patterns, heap, names_dict_key, seed ^ 0x5bd1e995u);
    dict_init(&pubsub->shards, heap, names_dict_key, seed ^ 0x27d4eb2f165667c5ull);
    dict_init(&pubsub->links, heap, links_dict_key, seed ^ 0x9e3779b97f4a7c15ull);
    pubsub->channels_max = channels_max;
    pubsub->subscriptions_max = subscriptions_max;
    KV_ASSERT(pubsub_memory_bytes(pubsub) == 0);
}

void pubsub_client_init(struct pubsub_client *client, uint32_t conn_slot)
{
    *client = (struct pubsub_client){.head = {PUBSUB_NONE, PUBSUB_NONE, PUBSUB_NONE},
                                     .tail = {PUBSUB_NONE, PUBSUB_NONE, PUBSUB_NONE},
                                     .conn_slot = conn_slot};
    static_assert(PUBSUB_KIND_COUNT == 3, "a head and a tail per kind above");
    KV_ASSERT(client->channels + client->patterns + client->shards == 0);
}

static uint32_t kind_of(bool pattern)
{
    return pattern ? PUBSUB_KIND_PATTERN : PUBSUB_KIND_CHANNEL;
}

static struct dict *names_of(struct pubsub *pubsub, uint32_t kind)
{
    KV_ASSERT(kind < PUBSUB_KIND_COUNT);
    return kind == PUBSUB_KIND_PATTERN ? &pubsub->patterns
           : kind == PUBSUB_KIND_SHARD ? &pubsub->shards
                                       : &pubsub->channels;
}

static uint32_t *count_of(struct pubsub_client *client, uint32_t kind)
{
    KV_ASSERT(kind < PUBSUB_KIND_COUNT);
    return kind == PUBSUB_KIND_PATTERN ? &client->patterns
           : kind == PUBSUB_KIND_SHARD ? &client->shards
                                       : &client->channels;
}

/* The client's link to a channel entry, or PUBSUB_NONE. */
static uint32_t link_find(const struct pubsub *pubsub, uint32_t channel_ref, uint32_t conn_slot)
{
    KV_ASSERT(channel_ref != PUBSUB_NONE);
    uint32_t numbers[2] = {channel_ref, conn_slot};
    struct slice probe = {.bytes = (const uint8_t *)numbers, .length = PUBSUB_LINK_KEY_BYTES};
    return dict_lookup(&pubsub->links, probe);
}

/* Whether the caps refuse a new subscription (to a new channel when `fresh`). */
static enum pubsub_status caps_check(const struct pubsub *pubsub,
                                     const struct pubsub_client *client, bool fresh)
{
    uint64_t subscriptions = (uint64_t)client->channels + client->patterns + client->shards;
    if (pubsub->subscriptions_max != 0 && subscriptions >= pubsub->subscriptions_max) {
        return PUBSUB_CLIENT_FULL;
    }
    uint64_t names = dict_count(&pubsub->channels) + dict_count(&pubsub->patterns) +
                     dict_count(&pubsub->shards);
    if (fresh && pubsub->channels_max != 0 && names >= pubsub->channels_max) {
        return PUBSUB_CHANNELS_FULL;
    }
    return PUBSUB_ADDED;
}

/* Links a new subscription at the tails of its channel's and its client's chains. */
static void link_chain(struct pubsub *pubsub, struct pubsub_client *client,
                       struct pubsub_link *link, uint32_t kind)
{
    uint32_t link_ref = heap_ref(pubsub->heap, link);
    struct pubsub_channel *channel = pubsub_channel(pubsub, link->channel);
    KV_ASSERT(channel->kind == kind);
    link->channel_prev = channel->tail;
    link->channel_next = PUBSUB_NONE;
    link->client_prev = client->tail[kind];
    link->client_next = PUBSUB_NONE;
    if (channel->tail == PUBSUB_NONE) {
        channel->head = link_ref;
    } else {
        pubsub_link(pubsub, channel->tail)->channel_next = link_ref;
    }
    channel->tail = link_ref;
    channel->subscribers++;
    if (client->tail[kind] == PUBSUB_NONE) {
        client->head[kind] = link_ref;
    } else {
        pubsub_link(pubsub, client->tail[kind])->client_next = link_ref;
    }
    client->tail[kind] = link_ref;
    *count_of(client, kind) += 1;
    KV_ASSERT(channel->subscribers > 0);
}

enum pubsub_status pubsub_subscribe(struct pubsub *pubsub, struct pubsub_client *client,
                                    struct slice name, bool pattern)
{
    return pubsub_subscribe_kind(pubsub, client, name, kind_of(pattern));
}

enum pubsub_status pubsub_subscribe_kind(struct pubsub *pubsub, struct pubsub_client *client,
                                         struct slice name, uint32_t kind)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    struct dict *names = names_of(pubsub, kind);
    uint32_t channel_ref = dict_find(names, name, NULL);
    if (channel_ref != PUBSUB_NONE &&
        link_find(pubsub, channel_ref, client->conn_slot) != PUBSUB_NONE) {
        return PUBSUB_ALREADY;
    }
    enum pubsub_status status = caps_check(pubsub, client, channel_ref == PUBSUB_NONE);
    if (status != PUBSUB_ADDED) {
        return status;
    }
    /* Take both entries before changing anything: a refusal leaves no trace. */
    struct pubsub_channel *fresh = NULL;
    if (channel_ref == PUBSUB_NONE) {
        uint64_t bytes = offsetof(struct pubsub_channel, name) + (uint64_t)name.length;
        fresh = heap_alloc_counted(pubsub->heap, bytes, &pubsub->entry_bytes);
        if (fresh == NULL) {
            return PUBSUB_OOM;
        }
    }
    struct pubsub_link *link =
        heap_alloc_counted(pubsub->heap, sizeof(*link), &pubsub->entry_bytes);
    if (link == NULL) {
        if (fresh != NULL) {
            heap_release_counted(pubsub->heap, fresh, &pubsub->entry_bytes);
        }
        return PUBSUB_OOM;
    }
    if (fresh != NULL) {
        *fresh = (struct pubsub_channel){.name_length = name.length, .head = PUBSUB_NONE,
                                         .tail = PUBSUB_NONE, .kind = kind};
        if (name.length > 0) {
            memcpy(fresh->name, name.bytes, name.length);
        }
        channel_ref = heap_ref(pubsub->heap, fresh);
        dict_insert(names, channel_ref);
    }
    *link = (struct pubsub_link){.channel = channel_ref, .conn_slot = client->conn_slot};
    dict_insert(&pubsub->links, heap_ref(pubsub->heap, link));
    link_chain(pubsub, client, link, kind);
    return PUBSUB_ADDED;
}

/* Takes a link off both chains and out of the dict; its channel goes with its last
 * subscriber. */
static void link_remove(struct pubsub *pubsub, struct pubsub_client *client, uint32_t link_ref)
{
    struct pubsub_link *link = pubsub_link(pubsub, link_ref);
    KV_ASSERT(link->conn_slot == client->conn_slot);
    struct pubsub_channel *channel = pubsub_channel(pubsub, link->channel);
    uint32_t kind = channel->kind;
    uint32_t removed = dict_remove(&pubsub->links, links_dict_key(pubsub->heap, link));
    KV_ASSERT(removed == link_ref);
    if (link->channel_prev == PUBSUB_NONE) {
        channel->head = link->channel_next;
    } else {
        pubsub_link(pubsub, link->channel_prev)->channel_next = link->channel_next;
    }
    if (link->channel_next == PUBSUB_NONE) {
        channel->tail = link->channel_prev;
    } else {
        pubsub_link(pubsub, link->channel_next)->channel_prev = link->channel_prev;
    }
    if (link->client_prev == PUBSUB_NONE) {
        client->head[kind] = link->client_next;
    } else {
        pubsub_link(pubsub, link->client_prev)->client_next = link->client_next;
    }
    if (link->client_next == PUBSUB_NONE) {
        client->tail[kind] = link->client_prev;
    } else {
        pubsub_link(pubsub, link->client_next)->client_prev = link->client_prev;
    }
    KV_ASSERT(*count_of(client, kind) > 0);
    *count_of(client, kind) -= 1;
    KV_ASSERT(channel->subscribers > 0);
    channel->subscribers--;
    if (channel->subscribers == 0) {
        KV_ASSERT(channel->head == PUBSUB_NONE);
        removed = dict_remove(names_of(pubsub, kind), names_dict_key(pubsub->heap, channel));
        KV_ASSERT(removed == link->channel);
        heap_release_counted(pubsub->heap, channel, &pubsub->entry_bytes);
        dict_settle(names_of(pubsub, kind));
    }
    heap_release_counted(pubsub->heap, link, &pubsub->entry_bytes);
    dict_settle(&pubsub->links);
}

bool pubsub_unsubscribe(struct pubsub *pubsub, struct pubsub_client *client, struct slice name,
                        bool pattern)
{
    return pubsub_unsubscribe_kind(pubsub, client, name, kind_of(pattern));
}

bool pubsub_unsubscribe_kind(struct pubsub *pubsub, struct pubsub_client *client,
                             struct slice name, uint32_t kind)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    uint32_t channel_ref = dict_find(names_of(pubsub, kind), name, NULL);
    if (channel_ref == PUBSUB_NONE) {
        return false;
    }
    uint32_t link_ref = link_find(pubsub, channel_ref, client->conn_slot);
    if (link_ref == PUBSUB_NONE) {
        return false;
    }
    uint64_t before = (uint64_t)client->channels + client->patterns + client->shards;
    link_remove(pubsub, client, link_ref);
    KV_ASSERT((uint64_t)client->channels + client->patterns + client->shards + 1u == before);
    return true;
}

void pubsub_unsubscribe_newest(struct pubsub *pubsub, struct pubsub_client *client,
                               bool pattern)
{
    pubsub_unsubscribe_newest_kind(pubsub, client, kind_of(pattern));
}

void pubsub_unsubscribe_newest_kind(struct pubsub *pubsub, struct pubsub_client *client,
                                    uint32_t kind)
{
    uint32_t link_ref = client->tail[kind];
    KV_ASSERT(link_ref != PUBSUB_NONE);
    KV_ASSERT(*count_of(client, kind) > 0);
    KV_ASSERT(pubsub_link(pubsub, link_ref)->client_next == PUBSUB_NONE);
    link_remove(pubsub, client, link_ref);
}

bool pubsub_client_first(const struct pubsub *pubsub, const struct pubsub_client *client,
                         bool pattern, struct slice *name)
{
    return pubsub_client_first_kind(pubsub, client, kind_of(pattern), name);
}

bool pubsub_client_first_kind(const struct pubsub *pubsub, const struct pubsub_client *client,
                              uint32_t kind, struct slice *name)
{
    KV_ASSERT(kind < PUBSUB_KIND_COUNT);
    uint32_t link_ref = client->head[kind];
    if (link_ref == PUBSUB_NONE) {
        KV_ASSERT(pubsub_client_count(client, kind) == 0);
        return false;
    }
    const struct pubsub_link *link = pubsub_link(pubsub, link_ref);
    KV_ASSERT(link->client_prev == PUBSUB_NONE); /* the head of its chain */
    KV_ASSERT(pubsub_channel(pubsub, link->channel)->kind == kind);
    *name = pubsub_channel_name(pubsub, link->channel);
    return true;
}

bool pubsub_channel_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    *channel = dict_lookup(&pubsub->channels, name);
    return *channel != PUBSUB_NONE;
}

bool pubsub_shard_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    *channel = dict_lookup(&pubsub->shards, name);
    KV_ASSERT(*channel == PUBSUB_NONE ||
              pubsub_channel(pubsub, *channel)->kind == PUBSUB_KIND_SHARD);
    return *channel != PUBSUB_NONE;
}

uint64_t pubsub_memory_bytes(const struct pubsub *pubsub)
{
    /* No subscription, no channel: a channel goes with its last subscriber. */
    KV_ASSERT(dict_count(&pubsub->links) > 0 || pubsub->entry_bytes == 0);
    return pubsub->entry_bytes + dict_bucket_bytes(&pubsub->channels) +
           dict_bucket_bytes(&pubsub->patterns) + dict_bucket_bytes(&pubsub->shards) +
           dict_bucket_bytes(&pubsub->links);
}

/* Checks one channel's subscriber chain; returns its usable bytes plus its links'. */
static uint64_t verify_channel(const struct pubsub *pubsub, uint32_t channel_ref, uint32_t kind)
{
    const struct pubsub_channel *channel = pubsub_channel(pubsub, channel_ref);
    KV_ASSERT(channel->subscribers > 0);
    KV_ASSERT(channel->kind == kind);
    uint64_t bytes = heap_usable_bytes(pubsub->heap, channel);
    KV_ASSERT(bytes >= offsetof(struct pubsub_channel, name) + (uint64_t)channel->name_length);
    uint32_t at = channel->head;
    uint32_t previous = PUBSUB_NONE;
    /* Bounded by the channel's subscriber count. */
    for (uint32_t count = 0; count < channel->subscribers; count++) {
        KV_ASSERT(at != PUBSUB_NONE);
        const struct pubsub_link *link = pubsub_link(pubsub, at);
        KV_ASSERT(link->channel == channel_ref);
        KV_ASSERT(link->channel_prev == previous);
        KV_ASSERT(link_find(pubsub, channel_ref, link->conn_slot) == at);
        bytes += heap_usable_bytes(pubsub->heap, link);
        previous = at;
        at = link->channel_next;
    }
    KV_ASSERT(at == PUBSUB_NONE);
    KV_ASSERT(channel->tail == previous);
    return bytes;
}

void pubsub_verify(const struct pubsub *pubsub)
{
    dict_verify(&pubsub->channels);
    dict_verify(&pubsub->patterns);
    dict_verify(&pubsub->shards);
    dict_verify(&pubsub->links);
    uint64_t names = dict_count(&pubsub->channels) + dict_count(&pubsub->patterns) +
                     dict_count(&pubsub->shards);
    KV_ASSERT(pubsub->channels_max == 0 || names <= pubsub->channels_max);
    uint64_t bytes = 0;
    uint64_t links = 0;
    /* Bound: the three dicts of names. */
    for (uint32_t kind = 0; kind < PUBSUB_KIND_COUNT; kind++) {
        const struct dict *dict = kind == PUBSUB_KIND_PATTERN ? &pubsub->patterns
                                  : kind == PUBSUB_KIND_SHARD ? &pubsub->shards
                                                              : &pubsub->channels;
        struct dict_walk walk;
        uint32_t ref = PUBSUB_NONE;
        dict_walk_start(dict, &walk);
        /* Bounded by the dict's entries. */
        while (dict_walk_next(dict, &walk, &ref)) {
            bytes += verify_channel(pubsub, ref, kind);
            links += pubsub_channel(pubsub, ref)->subscribers;
        }
        KV_ASSERT(dict_count(dict) > 0 || dict_allocations(dict) == 0);
    }
    /* Every link hangs off a live channel (and was counted there). */
    KV_ASSERT(links == dict_count(&pubsub->links));
    KV_ASSERT(bytes == pubsub->entry_bytes);
    KV_ASSERT(dict_count(&pubsub->links) > 0 || dict_allocations(&pubsub->links) == 0);
}

void pubsub_client_verify(const struct pubsub *pubsub, const struct pubsub_client *client)
{
    uint64_t subscriptions = (uint64_t)client->channels + client->patterns + client->shards;
    KV_ASSERT(pubsub->subscriptions_max == 0 || subscriptions <= pubsub->subscriptions_max);
    /* Bound: the three kinds. */
    for (uint32_t kind = 0; kind < PUBSUB_KIND_COUNT; kind++) {
        uint32_t count = pubsub_client_count(client, kind);
        uint32_t at = client->head[kind];
        uint32_t previous = PUBSUB_NONE;
        /* Bounded by the client's count of the kind. */
        for (uint32_t step = 0; step < count; step++) {
            KV_ASSERT(at != PUBSUB_NONE);
            const struct pubsub_link *link = pubsub_link(pubsub, at);
            KV_ASSERT(link->conn_slot == client->conn_slot);
            KV_ASSERT(link->client_prev == previous);
            KV_ASSERT(pubsub_channel(pubsub, link->channel)->kind == kind);
            KV_ASSERT(link_find(pubsub, link->channel, client->conn_slot) == at);
            previous = at;
            at = link->client_next;
        }
        KV_ASSERT(at == PUBSUB_NONE);
        KV_ASSERT(client->tail[kind] == previous);
    }
}
