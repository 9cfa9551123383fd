/*
 * Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB
 * CHANNELS/NUMSUB/NUMPAT/HELP. Confirmations and messages are arrays in RESP2 (where cmd.c
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

/* "*3 $<kind> $<name or null> :<count>", a push (">3") in RESP3 */
static void reply_subscription(struct cmd_context *context, const char *kind,
                               const struct slice *name)
{
    const struct pubsub_client *client = &context->client->pubsub;
    KV_ASSERT(context->pubsub->subscriptions_max == 0 ||
              client->channels + client->patterns <= context->pubsub->subscriptions_max);
    uint64_t length_before = context->reply.total;
    reply_push(&context->reply, 3);
    reply_bulk(&context->reply, text_slice(kind));
    name != NULL ? reply_bulk(&context->reply, *name) : reply_null(&context->reply);
    reply_integer(&context->reply, client->channels + client->patterns);
    KV_ASSERT(context->reply.total > length_before);
}

/* The budget ran out on a name: the subscriptions this command made go again (they are
 * the newest of the kind), its replies are dropped, and only the OOM error is answered. */
static void subscribe_undo(struct cmd_context *context, bool pattern, uint32_t count_before)
{
    struct pubsub_client *client = &context->client->pubsub;
    uint32_t *count = pattern ? &client->patterns : &client->channels;
    KV_ASSERT(*count >= count_before);
    /* Bounded by the subscriptions this command added. */
    while (*count > count_before) {
        pubsub_unsubscribe_newest(context->pubsub, client, pattern);
    }
    reply_truncate(&context->reply);
    reply_error(&context->reply, REPLY_ERROR_OOM);
    KV_ASSERT(*count == count_before);
}

static bool subscribe_one(struct cmd_context *context, struct slice name, bool pattern,
                          uint32_t count_before)
{
    struct client *client = context->client;
    enum pubsub_status status = pubsub_subscribe(context->pubsub, &client->pubsub, name, pattern);
    switch (status) {
    case PUBSUB_ADDED:
    case PUBSUB_ALREADY:
        KV_ASSERT(client_subscribed(client));
        reply_subscription(context, pattern ? "psubscribe" : "subscribe", &name);
        return true;
    case PUBSUB_CLIENT_FULL:
        reply_error(&context->reply, REPLY_ERROR_SUBSCRIPTIONS_FULL);
        return false;
    case PUBSUB_CHANNELS_FULL:
        reply_error(&context->reply, REPLY_ERROR_CHANNELS_FULL);
        return false;
    default:
        KV_ASSERT(status == PUBSUB_OOM);
        subscribe_undo(context, pattern, count_before);
        return false;
    }
}

static void subscribe_generic(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, bool pattern)
{
    KV_ASSERT(arg_count >= 2); /* arity -2: at least one name */
    uint64_t length_before = context->reply.total;
    const struct pubsub_client *client = &context->client->pubsub;
    uint32_t count_before = pattern ? client->patterns : client->channels;
    for (uint32_t index = 1; index < arg_count; index++) {
        if (!subscribe_one(context, args[index], pattern, count_before)) {
            return;
        }
    }
    KV_ASSERT(client_subscribed(context->client)); /* to the last name, at least */
    KV_ASSERT(context->reply.total > length_before);
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
    KV_ASSERT(arg_count >= 1); /* arity -1 */
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
     * Redis answers), oldest first: bounded by the count taken before. */
    for (uint32_t step = 0; step < count; step++) {
        struct slice name;
        bool found = pubsub_client_first(context->pubsub, client, pattern, &name);
        KV_ASSERT(found);
        reply_push(&context->reply, 3);
        reply_bulk(&context->reply, text_slice(kind));
        reply_bulk(&context->reply, name);
        reply_integer(&context->reply, client->channels + client->patterns - 1);
        bool removed = pubsub_unsubscribe(context->pubsub, client, name, pattern);
        KV_ASSERT(removed);
    }
    KV_ASSERT((pattern ? client->patterns : client->channels) == 0); /* all of the kind went */
}

CMD_HANDLER(cmd_unsubscribe)
{
    KV_ASSERT(arg_count >= 1);
    unsubscribe_generic(context, args, arg_count, false);
    KV_ASSERT(arg_count > 1 || context->client->pubsub.channels == 0);
}

CMD_HANDLER(cmd_punsubscribe)
{
    KV_ASSERT(arg_count >= 1);
    unsubscribe_generic(context, args, arg_count, true);
    KV_ASSERT(arg_count > 1 || context->client->pubsub.patterns == 0);
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

/* Whether PUBSUB CHANNELS lists a channel. */
static bool channel_listed(const struct pubsub *pubsub, uint32_t channel_ref,
                           const struct slice *pattern)
{
    KV_ASSERT(!pubsub_channel(pubsub, channel_ref)->pattern);
    return pattern == NULL || glob_match(*pattern, pubsub_channel_name(pubsub, channel_ref), false);
}

static void pubsub_channels(struct cmd_context *context, const struct slice *pattern)
{
    KV_ASSERT(pattern == NULL || pattern->bytes != NULL || pattern->length == 0);
    const struct pubsub *pubsub = context->pubsub;
    uint32_t count = 0;
    uint64_t bytes = 16;
    struct dict_walk walk;
    uint32_t ref = PUBSUB_NONE;
    dict_walk_start(&pubsub->channels, &walk);
    /* Bounded by the channels dict's entries (twice: count, then write). */
    while (dict_walk_next(&pubsub->channels, &walk, &ref)) {
        if (channel_listed(pubsub, ref, pattern)) {
            count++;
            bytes += 16u + pubsub_channel(pubsub, ref)->name_length;
        }
    }
    uint64_t length_before = context->reply.total;
    reply_array(&context->reply, count);
    uint32_t written_count = 0;
    dict_walk_start(&pubsub->channels, &walk);
    while (dict_walk_next(&pubsub->channels, &walk, &ref)) {
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
            KV_ASSERT(!found || pubsub_channel(context->pubsub, channel)->subscribers > 0);
            reply_bulk(&context->reply, args[index]);
            reply_integer(&context->reply,
                          found ? pubsub_channel(context->pubsub, channel)->subscribers : 0);
        }
    } else if (cmd_arg_is(args[1], "numpat")) {
        arg_count != 2 ? reply_error_arity(&context->reply, "pubsub|numpat")
                       : reply_integer(&context->reply,
                                       (int64_t)pubsub_pattern_count(context->pubsub));
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
        static_assert(sizeof(help) / sizeof(help[0]) == 10, "the help's line count");
        reply_array(&context->reply, 10);
        for (uint32_t index = 0; index < 10; index++) {
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
    {"pubsub", -2, 0, 0, 0, 0, cmd_pubsub},
};

CMD_FAMILY(cmd_family_pubsub, "pubsub", pubsub_cmds);
