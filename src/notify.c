/*
 * Keyspace notifications and pub/sub delivery (see notify.h). Invariants: notify_classes is
 * what notify-keyspace-events' stored value names; the store's event hook is set exactly
 * while an event from below the commands could be published (the sinks are attached and a
 * class of "new", "expired" or "evicted" is on with K or E); the nesting stack holds the
 * running commands, innermost last, never more than NOTIFY_DEPTH_MAX.
 */
#include "notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "conn.h"
#include "glob.h"
#include "heap.h"
#include "log.h"
#include "pubsub.h"
#include "redis_param.h"
#include "reply.h"
#include "stats.h"
#include "store.h"

uint32_t notify_classes;
uint64_t notify_event_total;
static notify_tap_fn *notify_tap;

/* The letters in the order of their bits (bit 12, Redis's module-only "loaded", has none). */
static const char notify_letters[] = "KEg$lshzxetm?dn";

/* "A": every class but K, E, m and n (and d, which kv never emits, included as Redis does). */
#define NOTIFY_ALL                                                                              \
    (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH | NOTIFY_ZSET |    \
     NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_MODULE)

/* The classes that come through the store's hook. */
#define NOTIFY_FROM_STORE (NOTIFY_NEW | NOTIFY_EXPIRED | NOTIFY_EVICTED)

static_assert(sizeof(notify_letters) - 1 == 15, "a letter per bit up to n");

/* A running command: its client (messages to it go into its writer) and reply writer. */
struct notify_running {
    const struct client *client;
    struct reply *reply;
};

/* "__keyspace@" + a database index (at most 10 digits) + "__:" and the NUL. */
#define NOTIFY_PREFIX_BYTES 32u

static struct notify_sinks notify_sinks_attached;
static bool notify_is_attached;
static struct store *notify_store;
static struct notify_running notify_stack[NOTIFY_DEPTH_MAX];
static uint32_t notify_depth;
static uint64_t notify_dropped;
static bool notify_new_muted;

uint32_t notify_classes_parse(const char *value)
{
    KV_ASSERT(value != NULL);
    uint32_t classes = 0;
    /* Bounded by the value's bytes (a stored value is under REDIS_PARAM_VALUE_BYTES). */
    for (size_t index = 0; value[index] != '\0' && index < REDIS_PARAM_VALUE_BYTES; index++) {
        if (value[index] == 'A') {
            classes |= NOTIFY_ALL;
            continue;
        }
        const char *found = strchr(notify_letters, value[index]);
        KV_ASSERT(found != NULL && *found != '?'); /* redis_param_check took only these */
        classes |= 1u << (uint32_t)(found - notify_letters);
    }
    KV_ASSERT((classes & (1u << 12)) == 0);
    return classes;
}

/* Sets or clears the store's hook, by the classes now on. */
static void notify_hook_update(void);

void notify_configure(void)
{
    int32_t row = redis_param_find("notify-keyspace-events", 22);
    KV_ASSERT(row >= 0);
    notify_classes = redis_param_notify_classes();
    /* What CONFIG GET shows names the same classes but "n" beside "A". */
    KV_ASSERT((notify_classes & ~NOTIFY_NEW) ==
              (notify_classes_parse(redis_param_value((uint32_t)row)) & ~NOTIFY_NEW));
    notify_hook_update();
    KV_ASSERT(notify_classes == 0 || (notify_classes & ~(NOTIFY_ALL | NOTIFY_KEYSPACE |
                                                         NOTIFY_KEYEVENT | NOTIFY_KEY_MISS |
                                                         NOTIFY_NEW)) == 0);
}

static void notify_store_event(void *context, uint8_t event, struct slice key)
{
    (void)context;
    static const char *const names[] = {"new", "expired", "evicted"};
    static const uint32_t classes[] = {NOTIFY_NEW, NOTIFY_EXPIRED, NOTIFY_EVICTED};
    static_assert(STORE_EVENT_NEW == 0 && STORE_EVENT_EXPIRED == 1 && STORE_EVENT_EVICTED == 2,
                  "the tables follow enum store_event");
    KV_ASSERT(event <= STORE_EVENT_EVICTED);
    if (notify_tap != NULL && event != STORE_EVENT_NEW) {
        notify_tap(notify_store->db_index, key);
    }
    if (event == STORE_EVENT_NEW && notify_new_muted) {
        return;
    }
    notify_event(classes[event], names[event], key);
}

static void notify_hook_update(void)
{
    if (notify_store == NULL) {
        return;
    }
    bool wanted = ((notify_classes & NOTIFY_FROM_STORE) != 0 &&
                   (notify_classes & (NOTIFY_KEYSPACE | NOTIFY_KEYEVENT)) != 0) ||
                  notify_tap != NULL;
    notify_store->event = wanted ? notify_store_event : NULL;
    notify_store->event_context = NULL;
    KV_ASSERT(wanted == (notify_store->event != NULL));
}

void notify_tap_set(notify_tap_fn *tap)
{
    notify_tap = tap;
    notify_hook_update();
    KV_ASSERT(notify_store == NULL || tap == NULL || notify_store->event != NULL);
}

void notify_attach(const struct notify_sinks *sinks, struct store *store)
{
    KV_ASSERT(sinks != NULL && store != NULL);
    if (sinks->pubsub == NULL || sinks->conns == NULL) {
        return; /* a test's server without pub/sub: nothing to publish to */
    }
    notify_sinks_attached = *sinks;
    notify_is_attached = true;
    notify_store = store;
    notify_configure();
}

void notify_command_begin(struct client *client, struct reply *reply)
{
    KV_ASSERT(notify_depth < NOTIFY_DEPTH_MAX);
    KV_ASSERT(reply != NULL);
    notify_stack[notify_depth++] = (struct notify_running){.client = client, .reply = reply};
}

void notify_command_end(void)
{
    KV_ASSERT(notify_depth > 0);
    notify_depth--;
}

void notify_new_mute(bool muted)
{
    KV_ASSERT(notify_new_muted != muted); /* no nesting */
    notify_new_muted = muted;
}

uint64_t notify_dropped_count(void)
{
    return notify_dropped;
}

static struct slice text_slice(const char *text)
{
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX);
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

/* The writer of a running command whose client is `client`, innermost first; NULL when it
 * runs none. Bounded by the nesting depth. */
static struct reply *running_reply(const struct client *client)
{
    for (uint32_t index = notify_depth; index > 0; index--) {
        if (notify_stack[index - 1].client == client) {
            return notify_stack[index - 1].reply;
        }
    }
    return NULL;
}

/* Drops a subscriber that cannot take more: its connection dies at once (the rest of this
 * publish skips it); its subscriptions go in publish_settle, after every walk. */
static void subscriber_drop(const struct notify_sinks *sinks, struct conn *conn,
                            uint32_t conn_slot, const char *why)
{
    const struct client *client = client_at(sinks->clients, conn_slot);
    log_warn("pubsub: closing client %" PRIu64 " (%.*s): %s", client->id, (int)conn->addr_length,
             conn->addr, why);
    sinks->stats->pubsub_disconnects++;
    conn_kill(sinks->conns, conn);
    KV_ASSERT(!conn_live(conn));
}

/* After a publish that dropped subscribers: each subscribed client whose connection died
 * unsubscribes from everything. Bounded by the connection slots. */
static void publish_settle(const struct notify_sinks *sinks)
{
    struct clients *clients = sinks->clients;
    for (uint32_t slot = 0; slot < clients->slot_count; slot++) {
        struct client *client = client_at(clients, slot);
        if (client->id != 0 && client_subscribed(client) &&
            !conn_live(conn_at(sinks->conns, slot))) {
            client_unsubscribe_all(clients, client);
        }
        KV_ASSERT(client->id == 0 || !client_subscribed(client) ||
                  conn_live(conn_at(sinks->conns, slot)));
    }
}

/* `kind`: "message", "pmessage" (with the pattern) or "smessage" (a shard channel's). */
static void message_write(struct reply *reply, const char *kind, const struct slice *pattern,
                          struct slice channel, struct slice message)
{
    uint64_t total_before = reply->total;
    reply_push(reply, pattern != NULL ? 4 : 3);
    reply_bulk(reply, text_slice(kind));
    if (pattern != NULL) {
        reply_bulk(reply, *pattern);
    }
    reply_bulk(reply, channel);
    reply_bulk(reply, message);
    KV_ASSERT(reply->failed || reply->total > total_before);
}

/* Writes a message into a subscriber's output. One past the pub/sub class's
 * client-output-buffer-limit (hard at once, soft after its seconds) stopped reading and is
 * dropped, as Redis does, and so is one whose message found no memory. A subscriber that is
 * running the command that published writes into that command's writer. */
static bool deliver(const struct notify_sinks *sinks, uint32_t conn_slot, const char *kind,
                    const struct slice *pattern, struct slice channel, struct slice message)
{
    struct conns *conns = sinks->conns;
    struct conn *conn = conn_at(conns, conn_slot);
    if (!conn_live(conn)) {
        return false;
    }
    const struct client *client = client_at(sinks->clients, conn_slot);
    KV_ASSERT(client->id != 0);
    KV_ASSERT(client_subscribed(client));
    struct reply *running = running_reply(client);
    if (running != NULL) {
        message_write(running, kind, pattern, channel, message);
        return true;
    }
    struct reply reply = conn_reply(conns, conn);
    reply.resp3 = client_resp3(client);
    message_write(&reply, kind, pattern, channel, message);
    conn_reply_keep(conns, conn, &reply);
    if (reply.failed) {
        subscriber_drop(sinks, conn, conn_slot, "no memory for a message");
        return false;
    }
    const struct config_output_limit *limit = &sinks->config->output_limits[CONFIG_CLIENT_PUBSUB];
    bool soft = limit->soft_bytes != 0 && conn->out_bytes > limit->soft_bytes;
    if (!soft) {
        conn->output_soft_since_ms = 0;
    } else if (conn->output_soft_since_ms == 0) {
        conn->output_soft_since_ms = sinks->now_ms;
    }
    if ((limit->hard_bytes != 0 && conn->out_bytes > limit->hard_bytes) ||
        (soft && sinks->now_ms - conn->output_soft_since_ms > (int64_t)limit->soft_seconds * 1000)) {
        subscriber_drop(sinks, conn, conn_slot, "past the pubsub output limit (it stopped "
                                                "reading)");
        return false;
    }
    conn_ready_push(conns, conn_slot);
    return true;
}

/* Delivers to the subscribers of one channel or pattern entry, in subscription order.
 * Bounded by its subscribers when it starts: a drop only shortens the chain, none joins. */
static int64_t publish_walk(const struct notify_sinks *sinks, uint32_t channel_ref,
                            const struct slice *pattern, struct slice channel,
                            struct slice message)
{
    const struct pubsub *pubsub = sinks->pubsub;
    uint32_t subscribers = pubsub_channel(pubsub, channel_ref)->subscribers;
    KV_ASSERT(subscribers > 0);
    uint32_t entry_kind = pubsub_channel(pubsub, channel_ref)->kind;
    KV_ASSERT((entry_kind == PUBSUB_KIND_PATTERN) == (pattern != NULL));
    const char *kind = entry_kind == PUBSUB_KIND_PATTERN ? "pmessage"
                       : entry_kind == PUBSUB_KIND_SHARD ? "smessage"
                                                         : "message";
    int64_t receivers = 0;
    uint32_t at = pubsub_channel(pubsub, channel_ref)->head;
    for (uint32_t step = 0; at != PUBSUB_NONE; step++) {
        KV_ASSERT(step < subscribers);
        const struct pubsub_link *link = pubsub_link(pubsub, at);
        KV_ASSERT(link->channel == channel_ref);
        uint32_t next = link->channel_next;
        receivers += deliver(sinks, link->conn_slot, kind, pattern, channel, message) ? 1 : 0;
        at = next;
    }
    return receivers;
}

int64_t notify_publish(const struct notify_sinks *sinks, struct slice channel,
                       struct slice message)
{
    KV_ASSERT(sinks != NULL && sinks->pubsub != NULL);
    const struct pubsub *pubsub = sinks->pubsub;
    uint64_t drops_before = sinks->stats->pubsub_disconnects;
    int64_t receivers = 0;
    uint32_t channel_ref = 0;
    if (pubsub_channel_find(pubsub, channel, &channel_ref)) {
        KV_ASSERT(pubsub_channel(pubsub, channel_ref)->kind == PUBSUB_KIND_CHANNEL);
        receivers += publish_walk(sinks, channel_ref, NULL, channel, message);
    }
    /* Then every matching pattern, in the dict's order; nothing changes the patterns while
     * the walk runs (drops settle after it). */
    struct dict_walk walk;
    uint32_t pattern_ref = PUBSUB_NONE;
    dict_walk_start(&pubsub->patterns, &walk);
    while (dict_walk_next(&pubsub->patterns, &walk, &pattern_ref)) {
        struct slice pattern = pubsub_channel_name(pubsub, pattern_ref);
        if (glob_match(pattern, channel, false)) {
            receivers += publish_walk(sinks, pattern_ref, &pattern, channel, message);
        }
    }
    if (sinks->stats->pubsub_disconnects != drops_before) {
        publish_settle(sinks);
    }
    KV_ASSERT(receivers >= 0);
    return receivers;
}

int64_t notify_publish_shard(const struct notify_sinks *sinks, struct slice channel,
                             struct slice message)
{
    KV_ASSERT(sinks != NULL && sinks->pubsub != NULL);
    uint64_t drops_before = sinks->stats->pubsub_disconnects;
    int64_t receivers = 0;
    uint32_t channel_ref = 0;
    if (pubsub_shard_find(sinks->pubsub, channel, &channel_ref)) {
        receivers = publish_walk(sinks, channel_ref, NULL, channel, message);
    }
    if (sinks->stats->pubsub_disconnects != drops_before) {
        publish_settle(sinks);
    }
    KV_ASSERT(receivers >= 0);
    return receivers;
}

/* Publishes `message` on prefix + suffix, the channel built on the stack or, when longer,
 * in a heap allocation given back before it returns. */
static void publish_joined(const char *prefix, struct slice suffix, struct slice message)
{
    struct notify_sinks *sinks = &notify_sinks_attached;
    size_t prefix_bytes = strlen(prefix);
    uint64_t bytes = prefix_bytes + (uint64_t)suffix.length;
    KV_ASSERT(bytes <= UINT32_MAX);
    uint8_t stack[NOTIFY_CHANNEL_STACK_BYTES];
    uint8_t *name = stack;
    if (bytes > sizeof(stack)) {
        name = heap_alloc_reserve(sinks->pubsub->heap, bytes);
        if (name == NULL) {
            notify_dropped++;
            return;
        }
    }
    memcpy(name, prefix, prefix_bytes);
    if (suffix.length > 0) {
        memcpy(name + prefix_bytes, suffix.bytes, suffix.length);
    }
    (void)notify_publish(sinks, (struct slice){.bytes = name, .length = (uint32_t)bytes}, message);
    if (name != stack) {
        heap_release(sinks->pubsub->heap, name);
    }
}

void notify_publish_event(uint32_t class, const char *event, struct slice key)
{
    KV_ASSERT((notify_classes & class) != 0);
    KV_ASSERT(event != NULL);
    if (!notify_is_attached) {
        return; /* tests that run commands without a server */
    }
    notify_sinks_attached.now_ms = notify_store->now_ms;
    struct slice event_name = text_slice(event);
    /* The channels name the database the event happened in: the store's selected one (the
     * command's, or the one MOVE, expiry or eviction selected for the key). */
    char prefix[NOTIFY_PREFIX_BYTES];
    if ((notify_classes & NOTIFY_KEYSPACE) != 0) {
        int length = snprintf(prefix, sizeof(prefix), "__keyspace@%" PRIu32 "__:",
                              notify_store->db_index);
        KV_ASSERT(length > 0 && (size_t)length < sizeof(prefix));
        publish_joined(prefix, key, event_name);
    }
    if ((notify_classes & NOTIFY_KEYEVENT) != 0) {
        int length = snprintf(prefix, sizeof(prefix), "__keyevent@%" PRIu32 "__:",
                              notify_store->db_index);
        KV_ASSERT(length > 0 && (size_t)length < sizeof(prefix));
        publish_joined(prefix, event_name, key);
    }
}
