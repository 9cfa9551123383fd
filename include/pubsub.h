/*
 * Publish/subscribe state in fixed pools: channels and patterns (up to pubsub_channels_max
 * in all, each with its name of at most key_size_max bytes) found through a table, and the
 * subscriptions linking them to connections (up to subscriptions_max per connection). A
 * channel lives while it has subscribers. Nothing here writes replies or touches sockets:
 * cmd_pubsub.c does, walking what this module keeps.
 */
#ifndef KV_PUBSUB_H
#define KV_PUBSUB_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "region.h"
#include "slice.h"
#include "table.h"

#define PUBSUB_NONE UINT32_MAX

/* A connection's subscriptions (embedded in its slot). */
struct pubsub_client {
    uint32_t head;     /* its first link; PUBSUB_NONE: none */
    uint32_t channels; /* channels subscribed */
    uint32_t patterns; /* patterns subscribed */
};

struct pubsub_link {
    uint32_t channel;      /* channel slot */
    uint32_t conn_slot;    /* the subscriber's connection slot */
    uint32_t channel_prev; /* the channel's subscribers, in subscription order */
    uint32_t channel_next;
    uint32_t client_prev;  /* the connection's subscriptions */
    uint32_t client_next;
};

/* The head of a channel slot; name_bytes_max bytes of name follow it. */
struct pubsub_channel {
    uint32_t hash;
    uint32_t name_length;
    uint32_t subscribers;
    uint32_t head;        /* first link */
    uint32_t tail;        /* last link */
    uint8_t pattern;      /* 1: a PSUBSCRIBE pattern */
    uint8_t reserved[3];
};

struct pubsub {
    struct table table;      /* hash(name, pattern) -> channel slot */
    struct pool channels;    /* pubsub_channels_max slots */
    struct pool links;       /* conn slots x subscriptions_max */
    uint64_t seed;
    uint32_t name_bytes_max; /* key_size_max */
    uint32_t subscriptions_max;
    uint32_t patterns;       /* pattern channels alive (PUBSUB NUMPAT) */
};

enum pubsub_status {
    PUBSUB_ADDED,
    PUBSUB_ALREADY,         /* subscribed already: nothing changes */
    PUBSUB_NAME_TOO_LONG,   /* longer than key_size_max */
    PUBSUB_CLIENT_FULL,     /* subscriptions_max reached */
    PUBSUB_CHANNELS_FULL,   /* pubsub_channels_max channels and patterns exist */
};

uint64_t pubsub_plan_bytes(uint32_t channels_max, uint32_t conn_slots, uint32_t subscriptions_max,
                           uint32_t name_bytes_max);

void pubsub_init(struct pubsub *pubsub, struct region *region, uint32_t channels_max,
                 uint32_t conn_slots, uint32_t subscriptions_max, uint32_t name_bytes_max,
                 uint64_t seed);

void pubsub_client_init(struct pubsub_client *client);

/* Subscribes connection `conn_slot` to a channel or pattern. */
enum pubsub_status pubsub_subscribe(struct pubsub *pubsub, struct pubsub_client *client,
                                    uint32_t conn_slot, struct slice name, bool pattern);

/* Unsubscribes from one channel or pattern; false if the client was not subscribed. */
bool pubsub_unsubscribe(struct pubsub *pubsub, struct pubsub_client *client, struct slice name,
                        bool pattern);

/* The client's oldest subscription of a kind (channel or pattern), for unsubscribing all;
 * false when it has none. */
bool pubsub_client_first(const struct pubsub *pubsub, const struct pubsub_client *client,
                         bool pattern, struct slice *name);

/* The channel slot of a live channel (not a pattern), or false. */
bool pubsub_channel_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel);

static inline struct pubsub_channel *pubsub_channel(const struct pubsub *pubsub, uint32_t index)
{
    return (struct pubsub_channel *)pool_slot(&pubsub->channels, index);
}

static inline struct pubsub_link *pubsub_link(const struct pubsub *pubsub, uint32_t index)
{
    return (struct pubsub_link *)pool_slot(&pubsub->links, index);
}

static inline struct slice pubsub_channel_name(const struct pubsub *pubsub, uint32_t index)
{
    const struct pubsub_channel *channel = pubsub_channel(pubsub, index);
    return (struct slice){.bytes = (const uint8_t *)(channel + 1), .length = channel->name_length};
}

/* Checks the channels', links' and clients' agreement (tests). */
void pubsub_verify(const struct pubsub *pubsub);

#endif
