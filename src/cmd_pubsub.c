/*
 * Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
 * CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB/HELP, and the sharded ones SSUBSCRIBE,
 * SUNSUBSCRIBE, SPUBLISH (Redis 7.0 runs them without cluster: a shard channel is a channel
 * kept apart from the others, its count in the confirmations its own, its messages
 * "smessage", no pattern matching it). Confirmations and messages are arrays in RESP2 (where cmd.c
 * refuses other commands while a client is subscribed) and pushes in RESP3 (where every
 * command runs while subscribed, as Redis 7.0 allows). PUBLISH delivers through notify.c
 * (keyspace events share it) straight into the subscribers' output; a subscriber past
 * client-output-buffer-limit's pubsub class (or whose output found no memory) is disconnected, as Redis does, counted and
 * logged, so a publisher never waits; its subscriptions go once the message has been
 * delivered to everyone else (so the walks never see a channel change under them). Names of
 * any length. Memory: channels and subscriptions take heap memory; a SUBSCRIBE that finds
 * the budget full undoes the subscriptions it made and answers only the OOM error, as a
 * command Redis refuses for memory does nothing. kv's optional caps (subscriptions_max per
 * client, pubsub_channels_max channels and patterns in all) keep their old behaviour: the
 * names before the refused one stay subscribed, with their replies, then the error.
 */
#include "cmd_handlers.h"

#include <inttypes.h>

#include "client.h"
#include "conn.h"
#include "glob.h"
#include "log.h"
#include "notify.h"
#include "pubsub.h"

static struct slice text_slice(const char *text)
{
    KV_ASSERT(text != NULL);
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX); /* kv's own text, narrowed to a slice length */
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

/* The count a confirmation carries, as Redis: channels and patterns together, shard
 * channels on their own. */
static uint32_t subscription_count(const struct pubsub_client *client, uint32_t kind)
{
    KV_ASSERT(kind < PUBSUB_KIND_COUNT);
    return kind == PUBSUB_KIND_SHARD ? client->shards : client->channels + client->patterns;
}

/* The confirmations' first element, by kind (PUBSUB_KIND_*). */
static const char *const subscribe_texts[PUBSUB_KIND_COUNT] = {"subscribe", "psubscribe",
                                                               "ssubscribe"};
static const char *const unsubscribe_texts[PUBSUB_KIND_COUNT] = {"unsubscribe", "punsubscribe",
                                                                 "sunsubscribe"};

/* "*3 $<kind> $<name or null> :<count>", a push (">3") in RESP3 */
static void reply_subscription(struct cmd_context *context, const char *text, uint32_t kind,
                               const struct slice *name)
{
    const struct pubsub_client *client = &context->client->pubsub;
    KV_ASSERT(context->pubsub->subscriptions_max == 0 ||
              client->channels + client->patterns + client->shards <=
                  context->pubsub->subscriptions_max);
    uint64_t length_before = context->reply.total;
    reply_push(&context->reply, 3);
    reply_bulk(&context->reply, text_slice(text));
    name != NULL ? reply_bulk(&context->reply, *name) : reply_null(&context->reply);
    reply_integer(&context->reply, subscription_count(client, kind));
    KV_ASSERT(context->reply.total > length_before);
}

/* The budget ran out on a name: the subscriptions this command made go again (they are
 * the newest of the kind), its replies are dropped, and only the OOM error is answered. */
static void subscribe_undo(struct cmd_context *context, uint32_t kind, uint32_t count_before)
{
    struct pubsub_client *client = &context->client->pubsub;
    uint32_t count = pubsub_client_count(client, kind);
    KV_ASSERT(count >= count_before);
    /* Bounded by the subscriptions this command added. */
    for (uint32_t step = count_before; step < count; step++) {
        pubsub_unsubscribe_newest_kind(context->pubsub, client, kind);
    }
    reply_truncate(&context->reply);
    reply_error(&context->reply, REPLY_ERROR_OOM);
    KV_ASSERT(pubsub_client_count(client, kind) == count_before);
}

static bool subscribe_one(struct cmd_context *context, struct slice name, uint32_t kind,
                          uint32_t count_before)
{
    struct client *client = context->client;
    enum pubsub_status status =
        pubsub_subscribe_kind(context->pubsub, &client->pubsub, name, kind);
    switch (status) {
    case PUBSUB_ADDED:
    case PUBSUB_ALREADY:
        KV_ASSERT(client_subscribed(client));
        reply_subscription(context, subscribe_texts[kind], kind, &name);
        return true;
    case PUBSUB_CLIENT_FULL:
        reply_error(&context->reply, REPLY_ERROR_SUBSCRIPTIONS_FULL);
        return false;
    case PUBSUB_CHANNELS_FULL:
        reply_error(&context->reply, REPLY_ERROR_CHANNELS_FULL);
        return false;
    default:
        KV_ASSERT(status == PUBSUB_OOM);
        subscribe_undo(context, kind, count_before);
        return false;
    }
}

static void subscribe_generic(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, uint32_t kind)
{
    KV_ASSERT(arg_count >= 2); /* arity -2: at least one name */
    uint64_t length_before = context->reply.total;
    const struct pubsub_client *client = &context->client->pubsub;
    uint32_t count_before = pubsub_client_count(client, kind);
    for (uint32_t index = 1; index < arg_count; index++) {
        if (!subscribe_one(context, args[index], kind, count_before)) {
            return;
        }
    }
    KV_ASSERT(client_subscribed(context->client)); /* to the last name, at least */
    KV_ASSERT(context->reply.total > length_before);
}

CMD_HANDLER(cmd_subscribe)
{
    KV_ASSERT(arg_count >= 2);
    subscribe_generic(context, args, arg_count, PUBSUB_KIND_CHANNEL);
}

CMD_HANDLER(cmd_psubscribe)
{
    KV_ASSERT(arg_count >= 2);
    subscribe_generic(context, args, arg_count, PUBSUB_KIND_PATTERN);
}

/* Redis 7.0 refuses SSUBSCRIBE to a client that must get one reply per command (in a
 * transaction here; scripts never reach it), where SUBSCRIBE is let through in MULTI. */
CMD_HANDLER(cmd_ssubscribe)
{
    KV_ASSERT(arg_count >= 2);
    if (context->mode == CMD_MODE_EXEC) {
        reply_error(&context->reply, REPLY_ERROR_SSUBSCRIBE_DENY_BLOCKING);
        return;
    }
    subscribe_generic(context, args, arg_count, PUBSUB_KIND_SHARD);
}

static void unsubscribe_generic(struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count, uint32_t kind)
{
    KV_ASSERT(arg_count >= 1); /* arity -1 */
    const char *text = unsubscribe_texts[kind];
    struct pubsub_client *client = &context->client->pubsub;
    if (arg_count > 1) {
        for (uint32_t index = 1; index < arg_count; index++) {
            (void)pubsub_unsubscribe_kind(context->pubsub, client, args[index], kind);
            reply_subscription(context, text, kind, &args[index]);
        }
        return;
    }
    uint32_t count = pubsub_client_count(client, kind);
    if (count == 0) {
        reply_subscription(context, text, kind, NULL);
        return;
    }
    /* Every subscription of the kind, one reply each (with the count after it goes, as
     * Redis answers), oldest first: bounded by the count taken before. */
    for (uint32_t step = 0; step < count; step++) {
        struct slice name;
        bool found = pubsub_client_first_kind(context->pubsub, client, kind, &name);
        KV_ASSERT(found);
        reply_push(&context->reply, 3);
        reply_bulk(&context->reply, text_slice(text));
        reply_bulk(&context->reply, name);
        reply_integer(&context->reply, subscription_count(client, kind) - 1);
        bool removed = pubsub_unsubscribe_kind(context->pubsub, client, name, kind);
        KV_ASSERT(removed);
    }
    KV_ASSERT(pubsub_client_count(client, kind) == 0); /* all of the kind went */
}

CMD_HANDLER(cmd_unsubscribe)
{
    KV_ASSERT(arg_count >= 1);
    unsubscribe_generic(context, args, arg_count, PUBSUB_KIND_CHANNEL);
    KV_ASSERT(arg_count > 1 || context->client->pubsub.channels == 0);
}

CMD_HANDLER(cmd_punsubscribe)
{
    KV_ASSERT(arg_count >= 1);
    unsubscribe_generic(context, args, arg_count, PUBSUB_KIND_PATTERN);
    KV_ASSERT(arg_count > 1 || context->client->pubsub.patterns == 0);
}

CMD_HANDLER(cmd_sunsubscribe)
{
    KV_ASSERT(arg_count >= 1);
    unsubscribe_generic(context, args, arg_count, PUBSUB_KIND_SHARD);
    KV_ASSERT(arg_count > 1 || context->client->pubsub.shards == 0);
}

CMD_HANDLER(cmd_publish)
{
    KV_ASSERT(arg_count == 3);
    struct notify_sinks sinks = {.pubsub = context->pubsub,
                                 .conns = context->conns,
                                 .clients = context->clients,
                                 .config = context->config,
                                 .stats = context->stats,
                                 .now_ms = context->store->now_ms};
    int64_t receivers = notify_publish(&sinks, args[1], args[2]);
    KV_ASSERT(receivers >= 0);
    reply_integer(&context->reply, receivers);
}

CMD_HANDLER(cmd_spublish)
{
    KV_ASSERT(arg_count == 3);
    struct notify_sinks sinks = {.pubsub = context->pubsub,
                                 .conns = context->conns,
                                 .clients = context->clients,
                                 .config = context->config,
                                 .stats = context->stats,
                                 .now_ms = context->store->now_ms};
    int64_t receivers = notify_publish_shard(&sinks, args[1], args[2]);
    KV_ASSERT(receivers >= 0);
    reply_integer(&context->reply, receivers);
}

/* Whether PUBSUB CHANNELS (or SHARDCHANNELS) lists a channel. */
static bool channel_listed(const struct pubsub *pubsub, uint32_t channel_ref,
                           const struct slice *pattern)
{
    KV_ASSERT(pubsub_channel(pubsub, channel_ref)->kind != PUBSUB_KIND_PATTERN);
    return pattern == NULL || glob_match(*pattern, pubsub_channel_name(pubsub, channel_ref), false);
}

static void pubsub_channels(struct cmd_context *context, const struct dict *names,
                            const struct slice *pattern)
{
    KV_ASSERT(pattern == NULL || pattern->bytes != NULL || pattern->length == 0);
    const struct pubsub *pubsub = context->pubsub;
    uint32_t count = 0;
    uint64_t bytes = 16;
    struct dict_walk walk;
    uint32_t ref = PUBSUB_NONE;
    dict_walk_start(names, &walk);
    /* Bounded by the channels dict's entries (twice: count, then write). */
    while (dict_walk_next(names, &walk, &ref)) {
        if (channel_listed(pubsub, ref, pattern)) {
            count++;
            bytes += 16u + pubsub_channel(pubsub, ref)->name_length;
        }
    }
    uint64_t length_before = context->reply.total;
    reply_array(&context->reply, count);
    uint32_t written_count = 0;
    dict_walk_start(names, &walk);
    while (dict_walk_next(names, &walk, &ref)) {
        if (channel_listed(pubsub, ref, pattern)) {
            reply_bulk(&context->reply, pubsub_channel_name(pubsub, ref));
            written_count++;
        }
    }
    /* As many names as the header says, within the bytes measured for them. */
    KV_ASSERT(written_count == count);
    KV_ASSERT(context->reply.total - length_before <= bytes);
}

CMD_HANDLER(cmd_pubsub)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    /* CHANNELS and SHARDCHANNELS take one pattern at most; more is Redis 7.0's subcommand
     * syntax error (their arity in its table allows any count). */
    if (cmd_arg_is(args[1], "channels") || cmd_arg_is(args[1], "shardchannels")) {
        if (arg_count > 3) {
            reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1],
                               "PUBSUB");
            return;
        }
        const struct dict *names = cmd_arg_is(args[1], "channels") ? &context->pubsub->channels
                                                                   : &context->pubsub->shards;
        pubsub_channels(context, names, arg_count == 3 ? &args[2] : NULL);
    } else if (cmd_arg_is(args[1], "numsub") || cmd_arg_is(args[1], "shardnumsub")) {
        bool shard = cmd_arg_is(args[1], "shardnumsub");
        reply_array(&context->reply, (arg_count - 2) * 2);
        /* Bounded by the arguments. */
        for (uint32_t index = 2; index < arg_count; index++) {
            uint32_t channel = 0;
            bool found = shard ? pubsub_shard_find(context->pubsub, args[index], &channel)
                               : pubsub_channel_find(context->pubsub, args[index], &channel);
            KV_ASSERT(!found || pubsub_channel(context->pubsub, channel)->subscribers > 0);
            reply_bulk(&context->reply, args[index]);
            reply_integer(&context->reply,
                          found ? pubsub_channel(context->pubsub, channel)->subscribers : 0);
        }
    } else if (cmd_arg_is(args[1], "numpat")) {
        arg_count != 2 ? reply_error_arity(&context->reply, "pubsub|numpat")
                       : reply_integer(&context->reply,
                                       (int64_t)pubsub_pattern_count(context->pubsub));
    } else if (cmd_arg_is(args[1], "help") && arg_count != 2) {
        reply_error_arity(&context->reply, "pubsub|help");
    } else if (cmd_arg_is(args[1], "help")) {
        static const char *const help[] = {
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            ("    Return the currently active shard level channels matching a <pattern> "
             "(default: '*')."),
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
            "HELP",
            "    Prints this help.",
        };
        static_assert(sizeof(help) / sizeof(help[0]) == 14, "the help's line count");
        reply_array(&context->reply, 14);
        for (uint32_t index = 0; index < 14; index++) {
            reply_simple(&context->reply, help[index]);
        }
    } else {
        reply_error_unknown_subcommand(&context->reply, args[1], "PUBSUB");
    }
    KV_ASSERT(context->reply.total > length_before); /* every subcommand answers once */
}

static const struct cmd pubsub_cmds[] = {
    {"subscribe", -2, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_subscribe},
    {"psubscribe", -2, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_psubscribe},
    {"unsubscribe", -1, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_unsubscribe},
    {"punsubscribe", -1, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_punsubscribe},
    {"publish", 3, 0, 0, 0, 0, cmd_publish},
    /* Their channel "keys" (COMMAND INFO has them from Redis's table) are no keys to track:
     * none is a read command, so no key positions here. */
    {"ssubscribe", -2, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_ssubscribe},
    {"sunsubscribe", -1, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_sunsubscribe},
    {"spublish", 3, 0, 0, 0, 0, cmd_spublish},
    {"pubsub", -2, 0, 0, 0, 0, cmd_pubsub},
};

CMD_FAMILY(cmd_family_pubsub, "pubsub", pubsub_cmds);
