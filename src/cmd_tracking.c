/*
 * Client-side caching's commands, CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (as
 * Redis 7.0's clientCommand answers them), and the delivery of invalidations into clients'
 * output (Redis's sendTrackingMessage): to the tracking client itself as a RESP3 push
 * (">2 invalidate [keys]"), or to its REDIRECT target, as a push when the target speaks
 * RESP3 or as a message of the __redis__:invalidate channel when it is a subscribed RESP2
 * client; a RESP2 client without a redirect is told nothing. A redirect to a client that
 * left marks the tracking client broken_redirect and tells a RESP3 one so. The table and
 * which invalidations are owed are tracking.c's.
 */
#include "cmd_handlers.h"

#include <string.h>

#include "client.h"
#include "conn.h"
#include "number.h"
#include "tracking.h"

static struct slice slice_from_text(const char *text)
{
    KV_ASSERT(text != NULL);
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
}

/* The open client with this id, or NULL. Bounded by the connection slots. */
static struct client *client_by_id(const struct cmd_context *context, uint64_t id)
{
    KV_ASSERT(id != 0);
    for (uint32_t slot = 0; slot < context->clients->slot_count; slot++) {
        struct client *client = client_at(context->clients, slot);
        if (client->id == id && conn_live(conn_at(context->conns, slot))) {
            return client;
        }
    }
    return NULL;
}

struct tracking_client *cmd_tracking_client(void *context, uint32_t slot_index, uint64_t *id)
{
    const struct cmd_context *shared = context;
    KV_ASSERT(slot_index < shared->clients->slot_count);
    struct client *client = client_at(shared->clients, slot_index);
    if (client->id == 0 || (*id != 0 && client->id != *id) ||
        !conn_live(conn_at(shared->conns, slot_index))) {
        return NULL;
    }
    *id = client->id;
    return &client->tracking;
}

/* Writes an invalidation into a client's output and queues it to send: `keys` (key_count of
 * them), or NULL for "everything", written as the null of the tracking client's protocol
 * (`null_resp3`), as Redis sends it. A client whose output found no memory is closed (as a
 * reply that cannot be written closes its client). */
static void output_write(const struct cmd_context *shared, const struct client *target,
                         const struct slice *keys, uint32_t key_count, bool null_resp3)
{
    static const struct slice invalidate = {.bytes = (const uint8_t *)"invalidate", .length = 10};
    static const struct slice message = {.bytes = (const uint8_t *)"message", .length = 7};
    static const struct slice channel = {.bytes = (const uint8_t *)"__redis__:invalidate",
                                         .length = 20};
    struct conn *conn = conn_at(shared->conns, target->slot_index);
    KV_ASSERT(conn_live(conn));
    struct reply reply = conn_reply(shared->conns, conn);
    reply.resp3 = client_resp3(target);
    if (reply.resp3) {
        reply_push(&reply, 2);
        reply_bulk(&reply, invalidate);
    } else {
        KV_ASSERT(client_subscribed(target)); /* a RESP2 target hears it as a message */
        reply_array(&reply, 3);
        reply_bulk(&reply, message);
        reply_bulk(&reply, channel);
    }
    if (keys == NULL) {
        reply_raw(&reply, null_resp3 ? "_\r\n" : "$-1\r\n", null_resp3 ? 3 : 5);
    } else {
        reply_array(&reply, key_count);
        /* Bounded by the keys given. */
        for (uint32_t index = 0; index < key_count; index++) {
            reply_bulk(&reply, keys[index]);
        }
    }
    if (!conn_reply_deliver(shared->conns, conn, &reply)) {
        shared->stats->memory_disconnects++;
    }
}

void cmd_tracking_send(void *context, uint32_t slot_index, uint64_t id, const struct slice *keys,
                       uint32_t key_count)
{
    const struct cmd_context *shared = context;
    KV_ASSERT(keys != NULL || key_count == 0);
    uint64_t found_id = id;
    if (cmd_tracking_client(context, slot_index, &found_id) == NULL) {
        return; /* it left */
    }
    struct client *client = client_at(shared->clients, slot_index);
    KV_ASSERT(client->id == id);
    struct tracking_client *state = &client->tracking;
    const struct client *target = client;
    if (state->redirect_id != 0) {
        target = client_by_id(shared, state->redirect_id);
        if (target == NULL) {
            state->flags |= TRACKING_BROKEN_REDIR;
            if (client_resp3(client)) {
                static const struct slice broken = {
                    .bytes = (const uint8_t *)"tracking-redir-broken", .length = 21};
                struct conn *conn = conn_at(shared->conns, slot_index);
                struct reply reply = conn_reply(shared->conns, conn);
                reply.resp3 = true;
                reply_push(&reply, 2);
                reply_bulk(&reply, broken);
                reply_integer(&reply, (int64_t)state->redirect_id);
                conn_reply_keep(shared->conns, conn, &reply);
                conn_ready_push(shared->conns, slot_index);
            }
            return;
        }
    }
    /* RESP2 hears only through a redirect (to itself too) to a subscribed client. */
    if (!client_resp3(target) && (state->redirect_id == 0 || !client_subscribed(target))) {
        return;
    }
    output_write(shared, target, keys, key_count, client_resp3(client));
}

/* REDIRECT's id: false after answering the error. */
static bool redirect_parse(struct cmd_context *context, struct slice arg, uint64_t *redirect_id)
{
    if (*redirect_id != 0) {
        reply_error(&context->reply, REPLY_ERROR_TRACKING_REDIRECT_TWICE);
        return false;
    }
    int64_t id = 0;
    if (!number_parse_int64(arg.bytes, arg.length, &id)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (id <= 0 || client_by_id(context, (uint64_t)id) == NULL) {
        reply_error(&context->reply, REPLY_ERROR_TRACKING_REDIRECT_MISSING);
        return false;
    }
    *redirect_id = (uint64_t)id;
    return true;
}

/* ON's checks, in Redis's order; false after answering the error. */
static bool tracking_on_valid(struct cmd_context *context, uint32_t flags,
                              const struct slice *prefixes, uint32_t prefix_count)
{
    const struct tracking_client *state = &context->client->tracking;
    bool on = (state->flags & TRACKING_ON) != 0;
    enum reply_error error = REPLY_ERROR_NONE;
    if (!(flags & TRACKING_BCAST) && prefix_count > 0) {
        error = REPLY_ERROR_TRACKING_PREFIX_NEEDS_BCAST;
    } else if (on && ((state->flags ^ flags) & TRACKING_BCAST)) {
        error = REPLY_ERROR_TRACKING_BCAST_SWITCH;
    } else if ((flags & TRACKING_BCAST) && (flags & (TRACKING_OPTIN | TRACKING_OPTOUT))) {
        error = REPLY_ERROR_TRACKING_BCAST_OPTIN;
    } else if ((flags & TRACKING_OPTIN) && (flags & TRACKING_OPTOUT)) {
        error = REPLY_ERROR_TRACKING_OPTIN_OPTOUT;
    } else if (((flags & TRACKING_OPTIN) && (state->flags & TRACKING_OPTOUT)) ||
               ((flags & TRACKING_OPTOUT) && (state->flags & TRACKING_OPTIN))) {
        error = REPLY_ERROR_TRACKING_OPT_SWITCH;
    }
    if (error != REPLY_ERROR_NONE) {
        reply_error(&context->reply, error);
        return false;
    }
    if (!(flags & TRACKING_BCAST)) {
        return true;
    }
    uint32_t index = 0;
    struct slice overlapped;
    bool new_one = false;
    if (tracking_prefix_collides(state, prefixes, prefix_count, &index, &overlapped, &new_one)) {
        reply_error_format(&context->reply,
                           new_one ? REPLY_ERROR_TRACKING_PREFIX_OVERLAP_NEW
                                   : REPLY_ERROR_TRACKING_PREFIX_OVERLAP,
                           &prefixes[index], &overlapped);
        return false;
    }
    /* kv's bound: the prefixes it keeps (the client's and the new ones: no repeats, they
     * would have collided). Bounded by the new prefixes. */
    uint32_t total = state->prefix_count + (prefix_count == 0 ? 1u : prefix_count);
    for (uint32_t at = 0; at < prefix_count; at++) {
        if (prefixes[at].length > TRACKING_PREFIX_BYTES_MAX) {
            total = TRACKING_PREFIXES_MAX + 1; /* too long to keep */
        }
    }
    if (total > TRACKING_PREFIXES_MAX) {
        reply_error(&context->reply, REPLY_ERROR_TRACKING_PREFIXES_FULL);
        return false;
    }
    return true;
}

/* CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]. */
static void client_tracking(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t redirect_id = 0;
    uint32_t flags = 0;
    /* The prefixes stay in args: PREFIX and its value, so at most half of them. */
    struct slice prefixes[TRACKING_PREFIXES_MAX + 1];
    uint32_t prefix_count = 0;
    bool prefixes_past = false;
    /* Bounded by the arguments. */
    for (uint32_t index = 3; index < arg_count; index++) {
        bool more = index + 1 < arg_count;
        struct slice arg = args[index];
        if (cmd_arg_is(arg, "redirect") && more) {
            index++;
            if (!redirect_parse(context, args[index], &redirect_id)) {
                return;
            }
        } else if (cmd_arg_is(arg, "bcast")) {
            flags |= TRACKING_BCAST;
        } else if (cmd_arg_is(arg, "optin")) {
            flags |= TRACKING_OPTIN;
        } else if (cmd_arg_is(arg, "optout")) {
            flags |= TRACKING_OPTOUT;
        } else if (cmd_arg_is(arg, "noloop")) {
            flags |= TRACKING_NOLOOP;
        } else if (cmd_arg_is(arg, "prefix") && more) {
            index++;
            if (prefix_count <= TRACKING_PREFIXES_MAX) {
                prefixes[prefix_count++] = args[index];
            } else {
                prefixes_past = true;
            }
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    struct tracking_client *state = &context->client->tracking;
    if (cmd_arg_is(args[2], "on")) {
        if (!tracking_on_valid(context, flags, prefixes, prefix_count)) {
            return;
        }
        if (prefixes_past) {
            reply_error(&context->reply, REPLY_ERROR_TRACKING_PREFIXES_FULL);
            return;
        }
        tracking_enable(context->tracking, state, flags, redirect_id, prefixes, prefix_count);
    } else if (cmd_arg_is(args[2], "off")) {
        tracking_disable(context->tracking, state);
    } else {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    reply_ok(&context->reply);
}

/* CLIENT CACHING YES|NO. */
static void client_caching(struct cmd_context *context, struct slice answer)
{
    struct tracking_client *state = &context->client->tracking;
    if (!(state->flags & TRACKING_ON)) {
        reply_error(&context->reply, REPLY_ERROR_TRACKING_CACHING_OFF);
        return;
    }
    if (cmd_arg_is(answer, "yes") || cmd_arg_is(answer, "no")) {
        bool yes = cmd_arg_is(answer, "yes");
        if (!(state->flags & (yes ? TRACKING_OPTIN : TRACKING_OPTOUT))) {
            reply_error(&context->reply, yes ? REPLY_ERROR_TRACKING_CACHING_YES
                                             : REPLY_ERROR_TRACKING_CACHING_NO);
            return;
        }
        state->flags |= TRACKING_CACHING; /* for the next command only (cmd.c) */
        reply_ok(&context->reply);
        return;
    }
    reply_error(&context->reply, REPLY_ERROR_SYNTAX);
}

/* CLIENT TRACKINGINFO: a map of flags (a set), redirect and prefixes. */
static void client_trackinginfo(struct cmd_context *context)
{
    static const char *const names[] = {"bcast", "optin", "caching-yes", "optout",
                                        "caching-no", "noloop", "broken_redirect"};
    const struct tracking_client *state = &context->client->tracking;
    uint32_t flags = state->flags;
    bool caching = (flags & TRACKING_CACHING) != 0;
    bool shown[7] = {
        (flags & TRACKING_BCAST) != 0,  (flags & TRACKING_OPTIN) != 0,
        (flags & TRACKING_OPTIN) && caching, (flags & TRACKING_OPTOUT) != 0,
        (flags & TRACKING_OPTOUT) && caching, (flags & TRACKING_NOLOOP) != 0,
        (flags & TRACKING_BROKEN_REDIR) != 0};
    uint32_t count = 1; /* "on" or "off" */
    /* Both loops bounded by the seven optional flags. */
    for (uint32_t index = 0; index < 7; index++) {
        count += shown[index] ? 1u : 0u;
    }
    reply_map(&context->reply, 3);
    reply_bulk(&context->reply, slice_from_text("flags"));
    reply_set(&context->reply, count);
    reply_bulk(&context->reply, slice_from_text((flags & TRACKING_ON) ? "on" : "off"));
    for (uint32_t index = 0; index < 7; index++) {
        if (shown[index]) {
            reply_bulk(&context->reply, slice_from_text(names[index]));
        }
    }
    reply_bulk(&context->reply, slice_from_text("redirect"));
    reply_integer(&context->reply, (flags & TRACKING_ON) ? (int64_t)state->redirect_id : -1);
    reply_bulk(&context->reply, slice_from_text("prefixes"));
    reply_array(&context->reply, state->prefix_count);
    /* Bounded by TRACKING_PREFIXES_MAX. */
    for (uint32_t index = 0; index < state->prefix_count; index++) {
        reply_bulk(&context->reply, (struct slice){.bytes = state->prefixes[index],
                                                   .length = state->prefix_lengths[index]});
    }
}

bool cmd_client_tracking_subcommand(struct cmd_context *context, const struct slice *args,
                                    uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t before = context->reply.total;
    if (cmd_subcommand_is(context, args, arg_count, "tracking", -3, "client|tracking")) {
        client_tracking(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "caching", 3, "client|caching")) {
        client_caching(context, args[2]);
    } else if (cmd_subcommand_is(context, args, arg_count, "getredir", 2, "client|getredir")) {
        const struct tracking_client *state = &context->client->tracking;
        reply_integer(&context->reply,
                      (state->flags & TRACKING_ON) ? (int64_t)state->redirect_id : -1);
    } else if (cmd_subcommand_is(context, args, arg_count, "trackinginfo", 2,
                                 "client|trackinginfo")) {
        client_trackinginfo(context);
    }
    return context->reply.total > before;
}
