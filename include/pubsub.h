/*
 * Publish/subscribe state on the heap (the memory budget): channels and patterns with
 * subscribers, each an entry holding its name (any length), in two dicts; and the
 * subscriptions linking them to connections, each an entry in a dict keyed by (channel
 * entry, connection slot), so that subscribing twice and unsubscribing are O(1) however many
 * subscriptions a client or a channel has. A channel lives while it has subscribers; its
 * subscribers are a chain in subscription order (PUBLISH delivers in it), and each client's
 * channels and patterns are two chains in subscription order (unsubscribing from all goes
 * oldest first). Optional caps: pubsub_channels_max channels and patterns in all,
 * subscriptions_max per connection (0: none); otherwise the budget is the only bound.
 * Nothing here writes replies or touches sockets: cmd_pubsub.c does, walking what this
 * module keeps.
 */
#ifndef KV_PUBSUB_H
#define KV_PUBSUB_H

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

/* Ends a chain: no heap reference is 0. */
#define PUBSUB_NONE HEAP_REF_NONE

/* Index of a kind in pubsub_client's chains: channels (SUBSCRIBE), patterns (PSUBSCRIBE)
 * and shard channels (SSUBSCRIBE: Redis 7.0 keeps them apart from the channels of the same
 * name, counts them apart, and delivers them only to their own subscribers). */
#define PUBSUB_KIND_CHANNEL 0u
#define PUBSUB_KIND_PATTERN 1u
#define PUBSUB_KIND_SHARD 2u
#define PUBSUB_KIND_COUNT 3u

/* A connection's subscriptions (embedded in its client slot). */
struct pubsub_client {
    uint32_t head[PUBSUB_KIND_COUNT]; /* oldest link of each kind (PUBSUB_KIND_*), PUBSUB_NONE:
                                         none */
    uint32_t tail[PUBSUB_KIND_COUNT]; /* newest link of each kind */
    uint32_t channels;  /* channels subscribed */
    uint32_t patterns;  /* patterns subscribed */
    uint32_t shards;    /* shard channels subscribed */
    uint32_t conn_slot; /* the connection's slot: its links are keyed by it */
};

/* One subscription: an entry in the links dict. */
struct pubsub_link {
    uint32_t next;         /* the links dict's chain link (dict.h: first four bytes) */
    uint32_t channel;      /* the channel or pattern entry; with conn_slot, the dict's key */
    uint32_t conn_slot;    /* the subscriber's connection slot */
    uint32_t channel_prev; /* the channel's subscribers, in subscription order */
    uint32_t channel_next;
    uint32_t client_prev;  /* the connection's subscriptions of this kind, in order */
    uint32_t client_next;
};

/* A channel, pattern or shard channel with subscribers: an entry in its kind's dict. */
struct pubsub_channel {
    uint32_t next;         /* the dict's chain link */
    uint32_t name_length;  /* bytes of name */
    uint32_t subscribers;  /* links on its chain, never 0 */
    uint32_t head;         /* oldest subscriber's link */
    uint32_t tail;         /* newest subscriber's link */
    uint32_t kind;         /* PUBSUB_KIND_*: a channel, a pattern or a shard channel */
    uint8_t name[];        /* name_length bytes */
};

struct pubsub {
    struct heap *heap;       /* every entry and the dicts' buckets */
    struct dict channels;    /* channels with subscribers, by name */
    struct dict patterns;    /* patterns with subscribers, by name (PUBSUB NUMPAT: count) */
    struct dict shards;      /* shard channels with subscribers, by name (SSUBSCRIBE) */
    struct dict links;       /* subscriptions, by (channel entry, connection slot) */
    uint64_t entry_bytes;    /* usable bytes of every channel, pattern and link entry */
    uint32_t channels_max;   /* pubsub_channels_max: channels, patterns and shard channels;
                                0: no cap */
    uint32_t subscriptions_max; /* per connection; 0: no cap */
};

enum pubsub_status {
    PUBSUB_ADDED,
    PUBSUB_ALREADY,         /* subscribed already: nothing changes */
    PUBSUB_CLIENT_FULL,     /* subscriptions_max reached */
    PUBSUB_CHANNELS_FULL,   /* pubsub_channels_max channels and patterns exist */
    PUBSUB_OOM,             /* the heap has no room for the channel or the link */
};

void pubsub_init(struct pubsub *pubsub, struct heap *heap, uint32_t channels_max,
                 uint32_t subscriptions_max, uint64_t seed);

/* A client connected in `conn_slot`: no subscriptions. */
void pubsub_client_init(struct pubsub_client *client, uint32_t conn_slot);

/* Subscribes the client to a channel or pattern. Anything but PUBSUB_ADDED changes
 * nothing. */
KV_MUST_USE enum pubsub_status pubsub_subscribe(struct pubsub *pubsub,
                                                struct pubsub_client *client, struct slice name,
                                                bool pattern);

/* Unsubscribes from one channel or pattern; false if the client was not subscribed. */
bool pubsub_unsubscribe(struct pubsub *pubsub, struct pubsub_client *client, struct slice name,
                        bool pattern);

/* Unsubscribes from the client's newest subscription of a kind (a SUBSCRIBE that ran out
 * of memory undoes the ones it added). The client has one. */
void pubsub_unsubscribe_newest(struct pubsub *pubsub, struct pubsub_client *client,
                               bool pattern);

/* The client's oldest subscription of a kind (channel or pattern), for unsubscribing all;
 * false when it has none. O(1). */
bool pubsub_client_first(const struct pubsub *pubsub, const struct pubsub_client *client,
                         bool pattern, struct slice *name);

/* The entry of a live channel (not a pattern), or false. Changes nothing. */
bool pubsub_channel_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel);

/* The same four for any kind (PUBSUB_KIND_*): the shard channels use these. */
KV_MUST_USE enum pubsub_status pubsub_subscribe_kind(struct pubsub *pubsub,
                                                     struct pubsub_client *client,
                                                     struct slice name, uint32_t kind);
bool pubsub_unsubscribe_kind(struct pubsub *pubsub, struct pubsub_client *client,
                             struct slice name, uint32_t kind);
void pubsub_unsubscribe_newest_kind(struct pubsub *pubsub, struct pubsub_client *client,
                                    uint32_t kind);
bool pubsub_client_first_kind(const struct pubsub *pubsub, const struct pubsub_client *client,
                              uint32_t kind, struct slice *name);

/* The entry of a live shard channel, or false. Changes nothing. */
bool pubsub_shard_find(const struct pubsub *pubsub, struct slice name, uint32_t *channel);

/* A client's subscriptions of a kind. */
static inline uint32_t pubsub_client_count(const struct pubsub_client *client, uint32_t kind)
{
    KV_ASSERT(kind < PUBSUB_KIND_COUNT);
    return kind == PUBSUB_KIND_CHANNEL ? client->channels
           : kind == PUBSUB_KIND_PATTERN ? client->patterns
                                         : client->shards;
}

static inline struct pubsub_channel *pubsub_channel(const struct pubsub *pubsub, uint32_t ref)
{
    return (struct pubsub_channel *)heap_pointer(pubsub->heap, ref);
}

static inline struct pubsub_link *pubsub_link(const struct pubsub *pubsub, uint32_t ref)
{
    return (struct pubsub_link *)heap_pointer(pubsub->heap, ref);
}

static inline struct slice pubsub_channel_name(const struct pubsub *pubsub, uint32_t ref)
{
    const struct pubsub_channel *channel = pubsub_channel(pubsub, ref);
    return (struct slice){.bytes = channel->name, .length = channel->name_length};
}

/* Patterns with subscribers (PUBSUB NUMPAT). */
static inline uint64_t pubsub_pattern_count(const struct pubsub *pubsub)
{
    return dict_count(&pubsub->patterns);
}

/* Shard channels with subscribers (INFO pubsubshard_channels). */
static inline uint64_t pubsub_shard_count(const struct pubsub *pubsub)
{
    return dict_count(&pubsub->shards);
}

/* Heap bytes pub/sub holds: its entries and its dicts' bucket arrays (INFO). */
uint64_t pubsub_memory_bytes(const struct pubsub *pubsub);

/* Checks the dicts, every channel's subscriber chain against its count, each link against
 * its channel, the caps, and entry_bytes against a walk of every entry. O(entries). */
void pubsub_verify(const struct pubsub *pubsub);

/* Checks one client's chains against its counts and the links dict (tests). */
void pubsub_client_verify(const struct pubsub *pubsub, const struct pubsub_client *client);

#endif
