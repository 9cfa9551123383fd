/*
 * Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
 * CHANNELS/NUMSUB/NUMPAT/HELP, with RESP2's subscribed-mode replies (cmd.c refuses other
 * commands while a client is subscribed). PUBLISH writes each message straight into the
 * subscribers' send buffers and queues them to send; a subscriber with no room for it has
 * stopped reading and is disconnected (as Redis's pubsub output limit does), counted and
 * logged, so a publisher never waits. kv's limits: channel names up to key_size_max,
 * subscriptions_max per client, pubsub_channels_max channels and patterns in all.
 */
#include "cmd_handlers.h"

#include <inttypes.h>

#include "client.h"
#include "conn.h"
#include "glob.h"
#include "log.h"
#include "pubsub.h"

static struct slice text_slice(const char *text)
{
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
}

/* "*3 $<kind> $<name or null> :<count>" */
static void reply_subscription(struct cmd_context *context, const char *kind,
                               const struct slice *name)
{
    const struct pubsub_client *client = &context->client->pubsub;
    reply_array(&context->reply, 3);
    reply_bulk(&context->reply, text_slice(kind));
    name != NULL ? reply_bulk(&context->reply, *name) : reply_null(&context->reply);
    reply_integer(&context->reply, client->channels + client->patterns);
}

static bool subscribe_one(struct cmd_context *context, struct slice name, bool pattern)
{
    struct client *client = context->client;
    enum pubsub_status status =
        pubsub_subscribe(context->pubsub, &client->pubsub, client->slot_index, name, pattern);
    switch (status) {
    case PUBSUB_ADDED:
    case PUBSUB_ALREADY:
        reply_subscription(context, pattern ? "psubscribe" : "subscribe", &name);
        return true;
    case PUBSUB_NAME_TOO_LONG:
        reply_error(&context->reply, REPLY_ERROR_CHANNEL_TOO_LONG);
        return false;
    case PUBSUB_CLIENT_FULL:
        reply_error(&context->reply, REPLY_ERROR_SUBSCRIPTIONS_FULL);
        return false;
    default:
        reply_error(&context->reply, REPLY_ERROR_CHANNELS_FULL);
        return false;
    }
}

static void subscribe_generic(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, bool pattern)
{
    for (uint32_t index = 1; index < arg_count; index++) {
        if (!subscribe_one(context, args[index], pattern)) {
            return;
        }
    }
}

CMD_HANDLER(cmd_subscribe)
{
    KV_ASSERT(arg_count >= 2);
    subscribe_generic(context, args, arg_count, false);
}

CMD_HANDLER(cmd_psubscribe)
{
    KV_ASSERT(arg_count >= 2);
    subscribe_generic(context, args, arg_count, true);
}

static void unsubscribe_generic(struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count, bool pattern)
{
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    struct pubsub_client *client = &context->client->pubsub;
    if (arg_count > 1) {
        for (uint32_t index = 1; index < arg_count; index++) {
            (void)pubsub_unsubscribe(context->pubsub, client, args[index], pattern);
            reply_subscription(context, kind, &args[index]);
        }
        return;
    }
    uint32_t count = pattern ? client->patterns : client->channels;
    if (count == 0) {
        reply_subscription(context, kind, NULL);
        return;
    }
    /* Every subscription of the kind, one reply each (with the count after it goes, as
     * Redis answers): bounded by subscriptions_max. */
    for (uint32_t step = 0; step < count; step++) {
        struct slice name;
        bool found = pubsub_client_first(context->pubsub, client, pattern, &name);
        KV_ASSERT(found);
        reply_array(&context->reply, 3);
        reply_bulk(&context->reply, text_slice(kind));
        reply_bulk(&context->reply, name);
        reply_integer(&context->reply, client->channels + client->patterns - 1);
        bool removed = pubsub_unsubscribe(context->pubsub, client, name, pattern);
        KV_ASSERT(removed);
    }
}

CMD_HANDLER(cmd_unsubscribe)
{
    unsubscribe_generic(context, args, arg_count, false);
}

CMD_HANDLER(cmd_punsubscribe)
{
    unsubscribe_generic(context, args, arg_count, true);
}

/* Writes a message into a subscriber's send buffer, or disconnects a subscriber whose buffer
 * has no room for it. Returns whether it was delivered. */
static bool deliver(struct cmd_context *context, uint32_t conn_slot, const struct slice *pattern,
                    struct slice channel, struct slice message)
{
    struct conns *conns = context->conns;
    struct conn *conn = conn_at(conns, conn_slot);
    if (!conn_live(conn)) {
        return false;
    }
    uint64_t bytes = 64u + (pattern != NULL ? pattern->length : 0) + channel.length +
                     message.length;
    if (bytes > conn_send_room(conns, conn)) {
        struct client *client = client_at(context->clients, conn_slot);
        log_warn("pubsub: closing client %" PRIu64 " (%.*s): its send buffer has no room for a "
                 "message (it stopped reading)",
                 client->id, (int)conn->addr_length, conn->addr);
        context->stats->pubsub_disconnects++;
        /* Its subscriptions go now, not when its socket closes: NUMSUB and the next
         * PUBLISH no longer count it. The walks in PUBLISH saved their next link first. */
        client_unsubscribe_all(context->clients, client);
        conn_kill(conns, conn);
        return false;
    }
    struct reply reply = conn_reply(conns, conn);
    reply_array(&reply, pattern != NULL ? 4 : 3);
    reply_bulk(&reply, text_slice(pattern != NULL ? "pmessage" : "message"));
    if (pattern != NULL) {
        reply_bulk(&reply, *pattern);
    }
    reply_bulk(&reply, channel);
    reply_bulk(&reply, message);
    conn_reply_keep(conn, &reply);
    conn_ready_push(conns, conn_slot);
    return true;
}

CMD_HANDLER(cmd_publish)
{
    KV_ASSERT(arg_count == 3);
    const struct pubsub *pubsub = context->pubsub;
    int64_t receivers = 0;
    uint32_t channel = 0;
    if (pubsub_channel_find(pubsub, args[1], &channel)) {
        /* Subscribers in subscription order: bounded by the channel's count. */
        uint32_t at = pubsub_channel(pubsub, channel)->head;
        while (at != PUBSUB_NONE) {
            const struct pubsub_link *link = pubsub_link(pubsub, at);
            uint32_t next = link->channel_next;
            receivers += deliver(context, link->conn_slot, NULL, args[1], args[2]) ? 1 : 0;
            at = next;
        }
    }
    /* Then every pattern that matches: bounded by pubsub_channels_max. */
    for (uint32_t index = 0; pubsub->patterns > 0 && index < pubsub->channels.slot_count; index++) {
        if (!pool_is_used(&pubsub->channels, index) || !pubsub_channel(pubsub, index)->pattern) {
            continue;
        }
        struct slice pattern = pubsub_channel_name(pubsub, index);
        if (!glob_match(pattern, args[1], false)) {
            continue;
        }
        uint32_t at = pubsub_channel(pubsub, index)->head;
        while (at != PUBSUB_NONE) {
            const struct pubsub_link *link = pubsub_link(pubsub, at);
            uint32_t next = link->channel_next;
            receivers += deliver(context, link->conn_slot, &pattern, args[1], args[2]) ? 1 : 0;
            at = next;
        }
    }
    reply_integer(&context->reply, receivers);
}

static void pubsub_channels(struct cmd_context *context, const struct slice *pattern)
{
    const struct pubsub *pubsub = context->pubsub;
    uint32_t count = 0;
    uint64_t bytes = 16;
    for (uint32_t index = 0; index < pubsub->channels.slot_count; index++) {
        if (pool_is_used(&pubsub->channels, index) && !pubsub_channel(pubsub, index)->pattern &&
            (pattern == NULL || glob_match(*pattern, pubsub_channel_name(pubsub, index), false))) {
            count++;
            bytes += 16u + pubsub_channel(pubsub, index)->name_length;
        }
    }
    if (bytes > context->reply.capacity - context->reply.length) {
        reply_error(&context->reply, REPLY_ERROR_PUBSUB_CHANNELS_TOO_LARGE);
        return;
    }
    reply_array(&context->reply, count);
    for (uint32_t index = 0; index < pubsub->channels.slot_count; index++) {
        if (pool_is_used(&pubsub->channels, index) && !pubsub_channel(pubsub, index)->pattern &&
            (pattern == NULL || glob_match(*pattern, pubsub_channel_name(pubsub, index), false))) {
            reply_bulk(&context->reply, pubsub_channel_name(pubsub, index));
        }
    }
}

CMD_HANDLER(cmd_pubsub)
{
    KV_ASSERT(arg_count >= 2);
    if (cmd_arg_is(args[1], "channels")) {
        if (arg_count > 3) {
            reply_error_arity(&context->reply, "pubsub|channels");
            return;
        }
        pubsub_channels(context, arg_count == 3 ? &args[2] : NULL);
    } else if (cmd_arg_is(args[1], "numsub")) {
        reply_array(&context->reply, (arg_count - 2) * 2);
        for (uint32_t index = 2; index < arg_count; index++) {
            uint32_t channel = 0;
            bool found = pubsub_channel_find(context->pubsub, args[index], &channel);
            reply_bulk(&context->reply, args[index]);
            reply_integer(&context->reply,
                          found ? pubsub_channel(context->pubsub, channel)->subscribers : 0);
        }
    } else if (cmd_arg_is(args[1], "numpat")) {
        arg_count != 2 ? reply_error_arity(&context->reply, "pubsub|numpat")
                       : reply_integer(&context->reply, context->pubsub->patterns);
    } else if (cmd_arg_is(args[1], "help") && arg_count == 2) {
        static const char *const help[] = {
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "HELP",
            "    Print this help.",
        };
        reply_array(&context->reply, 10);
        for (uint32_t index = 0; index < 10; index++) {
            reply_simple(&context->reply, help[index]);
        }
    } else {
        reply_error_unknown_subcommand(&context->reply, args[1], "PUBSUB");
    }
}

/* SUBSCRIBE-like replies: one per channel (or per subscription, unsubscribing them all). */
static uint32_t subscription_reply_max(const struct cmd_context *context, const struct slice *args,
                                       uint32_t arg_count)
{
    (void)args;
    uint64_t each = 48u + context->config->key_size_max;
    uint64_t count = arg_count > 1 ? arg_count - 1u : context->config->subscriptions_max;
    uint64_t bytes = count * each + PLAN_REPLY_ERROR_BYTES;
    return bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                    : context->plan->send_buffer_bytes;
}

/* PUBSUB CHANNELS may list every channel (it errs past the send buffer); NUMSUB a name and a
 * count per channel; NUMPAT and HELP are small. */
static uint32_t pubsub_reply_max(const struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count)
{
    if (arg_count >= 2 && cmd_arg_is(args[1], "channels")) {
        return cmd_reply_all(context, args, arg_count);
    }
    uint64_t each = 48u + context->config->key_size_max;
    uint64_t bytes = (arg_count > 2 ? arg_count - 2u : 0) * each + PLAN_REPLY_SMALL_BYTES;
    return bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                    : context->plan->send_buffer_bytes;
}

static const struct cmd pubsub_cmds[] = {
    {"subscribe", -2, 0, 0, 0, CMD_FLAG_PUBSUB, subscription_reply_max, cmd_subscribe},
    {"psubscribe", -2, 0, 0, 0, CMD_FLAG_PUBSUB, subscription_reply_max, cmd_psubscribe},
    {"unsubscribe", -1, 0, 0, 0, CMD_FLAG_PUBSUB, subscription_reply_max, cmd_unsubscribe},
    {"punsubscribe", -1, 0, 0, 0, CMD_FLAG_PUBSUB, subscription_reply_max, cmd_punsubscribe},
    {"publish", 3, 0, 0, 0, 0, cmd_reply_small, cmd_publish},
    {"pubsub", -2, 0, 0, 0, 0, pubsub_reply_max, cmd_pubsub},
};

CMD_FAMILY(cmd_family_pubsub, "pubsub", pubsub_cmds);
