/*
 * Pub/sub bookkeeping. Invariants: every live channel slot is in the table once and has at
 * least one subscriber; its links form a doubly linked chain of `subscribers` links, each
 * naming it; each link is also in its connection's chain; a client's counts equal its links
 * of each kind; `patterns` counts the live pattern slots. Walks are bounded by a channel's
 * subscribers or a client's subscriptions_max.
 */
#include "pubsub.h"

#include <string.h>

#include "hashfn.h"

static uint32_t channel_slot_bytes(uint32_t name_bytes_max)
{
    return (uint32_t)((sizeof(struct pubsub_channel) + (uint64_t)name_bytes_max + 7) & ~7ull);
}

uint64_t pubsub_plan_bytes(uint32_t channels_max, uint32_t conn_slots, uint32_t subscriptions_max,
                           uint32_t name_bytes_max)
{
    uint64_t links = (uint64_t)conn_slots * subscriptions_max;
    KV_ASSERT(links < UINT32_MAX);
    return table_plan_bytes(channels_max) +
           pool_plan_bytes(channels_max, channel_slot_bytes(name_bytes_max)) +
           pool_plan_bytes((uint32_t)(links > 0 ? links : 1), sizeof(struct pubsub_link));
}

void pubsub_init(struct pubsub *pubsub, struct region *region, uint32_t channels_max,
                 uint32_t conn_slots, uint32_t subscriptions_max, uint32_t name_bytes_max,
                 uint64_t seed)
{
    memset(pubsub, 0, sizeof(*pubsub));
    uint64_t links = (uint64_t)conn_slots * subscriptions_max;
    table_init(&pubsub->table, region, channels_max);
    pool_init(&pubsub->channels, region, channels_max, channel_slot_bytes(name_bytes_max));
    pool_init(&pubsub->links, region, (uint32_t)(links > 0 ? links : 1), sizeof(struct pubsub_link));
    pubsub->seed = seed;
    pubsub->name_bytes_max = name_bytes_max;
    pubsub->subscriptions_max = subscriptions_max;
}

void pubsub_client_init(struct pubsub_client *client)
{
    client->head = PUBSUB_NONE;
    client->channels = 0;
    client->patterns = 0;
}

static uint32_t name_hash(const struct pubsub *pubsub, struct slice name, bool pattern)
{
    return (uint32_t)hashfn_bytes(name.bytes, name.length, pubsub->seed ^ (pattern ? 0x5bd1u : 0));
}

struct channel_probe {
    const struct pubsub *pubsub;
    struct slice name;
    bool pattern;
};

static bool channel_equal(const void *context, uint32_t index)
{
    const struct channel_probe *probe = context;
    const struct pubsub_channel *channel = pubsub_channel(probe->pubsub, index);
    return (channel->pattern != 0) == probe->pattern &&
           slice_equal(pubsub_channel_name(probe->pubsub, index), probe->name);
}

static bool channel_find(const struct pubsub *pubsub, struct slice name, bool pattern,
                         uint32_t *index, uint32_t *table_slot)
{
    struct channel_probe probe = {.pubsub = pubsub, .name = name, .pattern = pattern};
    return table_find(&pubsub->table, name_hash(pubsub, name, pattern), channel_equal, &probe,
                      index, table_slot);
}

bool pubsub_channel_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel)
{
    uint32_t table_slot = 0;
    return name.length <= pubsub->name_bytes_max &&
           channel_find(pubsub, name, false, channel, &table_slot);
}

/* The client's link to a channel, or PUBSUB_NONE. Bounded by subscriptions_max. */
static uint32_t client_link(const struct pubsub *pubsub, const struct pubsub_client *client,
                            uint32_t channel)
{
    uint32_t at = client->head;
    for (uint32_t steps = 0; at != PUBSUB_NONE && steps < pubsub->subscriptions_max; steps++) {
        if (pubsub_link(pubsub, at)->channel == channel) {
            return at;
        }
        at = pubsub_link(pubsub, at)->client_next;
    }
    return PUBSUB_NONE;
}

enum pubsub_status pubsub_subscribe(struct pubsub *pubsub, struct pubsub_client *client,
                                    uint32_t conn_slot, struct slice name, bool pattern)
{
    if (name.length > pubsub->name_bytes_max) {
        return PUBSUB_NAME_TOO_LONG;
    }
    uint32_t channel = 0;
    uint32_t table_slot = 0;
    bool exists = channel_find(pubsub, name, pattern, &channel, &table_slot);
    if (exists && client_link(pubsub, client, channel) != PUBSUB_NONE) {
        return PUBSUB_ALREADY;
    }
    if (client->channels + client->patterns >= pubsub->subscriptions_max) {
        return PUBSUB_CLIENT_FULL;
    }
    if (!exists && pubsub->channels.free_count == 0) {
        return PUBSUB_CHANNELS_FULL;
    }
    if (!exists) {
        bool acquired = pool_acquire(&pubsub->channels, &channel);
        KV_ASSERT(acquired);
        struct pubsub_channel *slot = pubsub_channel(pubsub, channel);
        memset(slot, 0, sizeof(*slot));
        slot->hash = name_hash(pubsub, name, pattern);
        slot->name_length = name.length;
        slot->head = PUBSUB_NONE;
        slot->tail = PUBSUB_NONE;
        slot->pattern = pattern ? 1 : 0;
        if (name.length > 0) {
            memcpy(slot + 1, name.bytes, name.length);
        }
        table_insert(&pubsub->table, slot->hash, channel);
        pubsub->patterns += pattern ? 1 : 0;
    }
    uint32_t link_index = 0;
    bool acquired = pool_acquire(&pubsub->links, &link_index);
    KV_ASSERT(acquired); /* every slot can hold subscriptions_max links */
    struct pubsub_link *link = pubsub_link(pubsub, link_index);
    struct pubsub_channel *slot = pubsub_channel(pubsub, channel);
    *link = (struct pubsub_link){.channel = channel, .conn_slot = conn_slot,
                                 .channel_prev = slot->tail, .channel_next = PUBSUB_NONE,
                                 .client_prev = PUBSUB_NONE, .client_next = client->head};
    if (slot->tail == PUBSUB_NONE) {
        slot->head = link_index;
    } else {
        pubsub_link(pubsub, slot->tail)->channel_next = link_index;
    }
    slot->tail = link_index;
    slot->subscribers++;
    if (client->head != PUBSUB_NONE) {
        pubsub_link(pubsub, client->head)->client_prev = link_index;
    }
    client->head = link_index;
    *(pattern ? &client->patterns : &client->channels) += 1;
    return PUBSUB_ADDED;
}

bool pubsub_unsubscribe(struct pubsub *pubsub, struct pubsub_client *client, struct slice name,
                        bool pattern)
{
    uint32_t channel = 0;
    uint32_t table_slot = 0;
    if (name.length > pubsub->name_bytes_max ||
        !channel_find(pubsub, name, pattern, &channel, &table_slot)) {
        return false;
    }
    uint32_t link_index = client_link(pubsub, client, channel);
    if (link_index == PUBSUB_NONE) {
        return false;
    }
    struct pubsub_link *link = pubsub_link(pubsub, link_index);
    struct pubsub_channel *slot = pubsub_channel(pubsub, channel);
    if (link->channel_prev == PUBSUB_NONE) {
        slot->head = link->channel_next;
    } else {
        pubsub_link(pubsub, link->channel_prev)->channel_next = link->channel_next;
    }
    if (link->channel_next == PUBSUB_NONE) {
        slot->tail = link->channel_prev;
    } else {
        pubsub_link(pubsub, link->channel_next)->channel_prev = link->channel_prev;
    }
    if (link->client_prev == PUBSUB_NONE) {
        client->head = link->client_next;
    } else {
        pubsub_link(pubsub, link->client_prev)->client_next = link->client_next;
    }
    if (link->client_next != PUBSUB_NONE) {
        pubsub_link(pubsub, link->client_next)->client_prev = link->client_prev;
    }
    pool_release(&pubsub->links, link_index);
    *(pattern ? &client->patterns : &client->channels) -= 1;
    slot->subscribers--;
    if (slot->subscribers == 0) {
        table_remove_at(&pubsub->table, table_slot);
        pool_release(&pubsub->channels, channel);
        pubsub->patterns -= pattern ? 1 : 0;
    }
    return true;
}

bool pubsub_client_first(const struct pubsub *pubsub, const struct pubsub_client *client,
                         bool pattern, struct slice *name)
{
    /* The chain starts at the newest subscription: the last match is the oldest, which
     * Redis unsubscribes first (its patterns are a list in subscription order). */
    bool found = false;
    uint32_t at = client->head;
    for (uint32_t steps = 0; at != PUBSUB_NONE && steps < pubsub->subscriptions_max; steps++) {
        const struct pubsub_link *link = pubsub_link(pubsub, at);
        if ((pubsub_channel(pubsub, link->channel)->pattern != 0) == pattern) {
            *name = pubsub_channel_name(pubsub, link->channel);
            found = true;
        }
        at = link->client_next;
    }
    return found;
}

void pubsub_verify(const struct pubsub *pubsub)
{
    table_verify(&pubsub->table);
    pool_verify(&pubsub->channels);
    pool_verify(&pubsub->links);
    KV_ASSERT(pubsub->table.count == pool_used_count(&pubsub->channels));
    uint64_t links = 0;
    uint32_t patterns = 0;
    for (uint32_t index = 0; index < pubsub->channels.slot_count; index++) {
        if (!pool_is_used(&pubsub->channels, index)) {
            continue;
        }
        const struct pubsub_channel *channel = pubsub_channel(pubsub, index);
        KV_ASSERT(channel->subscribers > 0);
        patterns += channel->pattern;
        uint32_t at = channel->head;
        uint32_t previous = PUBSUB_NONE;
        for (uint32_t count = 0; count < channel->subscribers; count++) {
            KV_ASSERT(at != PUBSUB_NONE && pool_is_used(&pubsub->links, at));
            const struct pubsub_link *link = pubsub_link(pubsub, at);
            KV_ASSERT(link->channel == index && link->channel_prev == previous);
            previous = at;
            at = link->channel_next;
        }
        KV_ASSERT(at == PUBSUB_NONE && channel->tail == previous);
        links += channel->subscribers;
    }
    KV_ASSERT(links == pool_used_count(&pubsub->links));
    KV_ASSERT(patterns == pubsub->patterns);
}
