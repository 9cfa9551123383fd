/*
 * Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN and BZPOPMAX. With something to
 * pop they answer at once, as the plain pops do; with nothing they ask to block on their keys
 * (context->outcome.block) and answer nothing: the command stays in the client's receive
 * buffer, and the serving layer runs it again when one of its keys gains members (the
 * clients waiting on that key in the order they blocked), or answers a null array at its
 * timeout. Inside a transaction they never block, as in Redis. A key is found once and its
 * record handed to the pop (store_list.h, store_zset.h).
 */
#include "cmd_handlers.h"

#include <math.h>
#include <stdio.h>

#include "notify.h"
#include "number.h"
#include "store_list.h"
#include "store_zset.h"

bool cmd_block_timeout_parse(struct cmd_context *context, struct slice arg, int64_t *deadline_ms)
{
    long double seconds = 0;
    if (!number_parse_long_double(arg.bytes, arg.length, &seconds)) {
        reply_error(&context->reply, REPLY_ERROR_TIMEOUT_INVALID);
        return false;
    }
    long double milliseconds = seconds * 1000.0L;
    /* Redis 7.0 converts to a long long: past its range the timeout reads as negative. */
    if (milliseconds < 0 || milliseconds >= 9.2e18L) {
        reply_error(&context->reply, REPLY_ERROR_TIMEOUT_NEGATIVE);
        return false;
    }
    /* Truncated to whole ms as Redis does, after absorbing the binary representation's error
     * (0.001 s must be 1 ms, not 0 ms, which would mean "forever"). */
    int64_t timeout_ms = (int64_t)(milliseconds + 1e-6L);
    KV_ASSERT(timeout_ms >= 0);
    *deadline_ms = timeout_ms > 0 ? context->store->now_ms + timeout_ms : 0;
    KV_ASSERT(*deadline_ms >= 0);
    return true;
}

/* Nothing to pop: block on args[key_first .. + key_count), or inside a transaction answer
 * the timeout's reply now. */
static void block_or_null(struct cmd_context *context, int64_t deadline_ms, bool bulk_null,
                          uint32_t key_first, uint32_t key_count)
{
    KV_ASSERT(key_first >= 1);
    KV_ASSERT(key_count >= 1);
    KV_ASSERT(!context->outcome.block);
    if (context->mode == CMD_MODE_EXEC) {
        bulk_null ? reply_null(&context->reply) : reply_null_array(&context->reply);
        return;
    }
    context->outcome.block = true;
    context->outcome.block_key_first = key_first;
    context->outcome.block_key_count = key_count;
    context->outcome.block_deadline_ms = deadline_ms;
}

/* A pop's events, as Redis's listElementsRemoved and genericZpopCommand: the pop, then "del"
 * when the key went with its last member. */
static void popped_notify(struct store *store, uint32_t class, const char *event,
                          struct slice key)
{
    notify_event(class, event, key);
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_peek(store, key, &key_ref)) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
}

/* Whether a key holds a list or sorted set (type) with members; WRONGTYPE sets *wrong. */
static bool key_ready(struct cmd_context *context, struct slice key, uint8_t type,
                      struct store_found *found, bool *wrong)
{
    KV_ASSERT(type == STORE_TYPE_LIST || type == STORE_TYPE_ZSET);
    enum store_status status = store_find_typed(context->store, key, type, found);
    if (status == STORE_WRONGTYPE) {
        *wrong = true;
        return false;
    }
    /* A list or sorted set is never empty: a key found has members. */
    KV_ASSERT(status != STORE_OK || store_length(context->store, found->key_ref) > 0);
    return status == STORE_OK;
}

/* The first of the keys (args[1 .. arg_count - 1)) ready to pop; false with *wrong for a key
 * of another type (answered WRONGTYPE by the caller) or with nothing ready. */
static bool first_ready(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                        uint8_t type, uint32_t *which, struct store_found *found, bool *wrong)
{
    KV_ASSERT(arg_count >= 3);
    *wrong = false;
    for (uint32_t index = 1; index + 1 < arg_count; index++) {
        if (key_ready(context, args[index], type, found, wrong)) {
            *which = index;
            KV_ASSERT(found->exists);
            return true;
        }
        if (*wrong) {
            return false;
        }
    }
    return false;
}

static void blocking_list_pop(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, bool at_head)
{
    KV_ASSERT(arg_count >= 3);
    int64_t deadline_ms = 0;
    if (!cmd_block_timeout_parse(context, args[arg_count - 1], &deadline_ms)) {
        return;
    }
    uint32_t which = 0;
    struct store_found found;
    bool wrong = false;
    if (!first_ready(context, args, arg_count, STORE_TYPE_LIST, &which, &found, &wrong)) {
        wrong && context->mode != CMD_MODE_RETRY
            ? reply_error(&context->reply, REPLY_ERROR_WRONGTYPE)
            : block_or_null(context, deadline_ms, false, 1, arg_count - 2);
        return;
    }
    struct store *store = context->store;
    KV_ASSERT(which < arg_count - 1);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, args[which]);
    reply_bulk(&context->reply, store_list_end(store, found.key_ref, at_head));
    store_list_pop(store, &found, at_head);
    popped_notify(store, NOTIFY_LIST, at_head ? "lpop" : "rpop", args[which]);
}

CMD_HANDLER(cmd_blpop)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    blocking_list_pop(context, args, arg_count, true);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

CMD_HANDLER(cmd_brpop)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    blocking_list_pop(context, args, arg_count, false);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

static bool list_end(struct slice arg, bool *head)
{
    *head = cmd_arg_is(arg, "left");
    return *head || cmd_arg_is(arg, "right");
}

/* BLMOVE and BRPOPLPUSH: LMOVE once the source has a member. */
static void blocking_move(struct cmd_context *context, const struct slice *args, bool from_head,
                          bool to_head, struct slice timeout)
{
    int64_t deadline_ms = 0;
    if (!cmd_block_timeout_parse(context, timeout, &deadline_ms)) {
        return;
    }
    struct store_found source;
    bool wrong = false;
    if (!key_ready(context, args[1], STORE_TYPE_LIST, &source, &wrong)) {
        wrong && context->mode != CMD_MODE_RETRY
            ? reply_error(&context->reply, REPLY_ERROR_WRONGTYPE)
            : block_or_null(context, deadline_ms, true, 1, 1);
        return;
    }
    struct slice moved = {.bytes = NULL, .length = 0};
    enum store_status status = store_list_move(context->store, &source, args[2], from_head,
                                               to_head, &moved);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(moved.length <= context->store->limits.value_bytes_max);
    /* The push on the destination, then the pop on the source (Redis's lmove order). */
    notify_event(NOTIFY_LIST, to_head ? "lpush" : "rpush", args[2]);
    popped_notify(context->store, NOTIFY_LIST, from_head ? "lpop" : "rpop", args[1]);
    reply_bulk(&context->reply, moved);
}

CMD_HANDLER(cmd_blmove)
{
    KV_ASSERT(arg_count == 6);
    bool from_head = false;
    bool to_head = false;
    if (!list_end(args[3], &from_head) || !list_end(args[4], &to_head)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    uint64_t reply_before = context->reply.total;
    blocking_move(context, args, from_head, to_head, args[5]);
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

CMD_HANDLER(cmd_brpoplpush)
{
    KV_ASSERT(arg_count == 4);
    uint64_t reply_before = context->reply.total;
    blocking_move(context, args, false, true, args[3]);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

/* The popped member and its score go out as store_zset_pop hands them over. */
static void zpop_reply(void *context, struct slice member, double score)
{
    struct reply *reply = context;
    reply_bulk(reply, member);
    reply_score(reply, score);
}

static void blocking_zpop(struct cmd_context *context, const struct slice *args,
                          uint32_t arg_count, bool max)
{
    KV_ASSERT(arg_count >= 3);
    int64_t deadline_ms = 0;
    if (!cmd_block_timeout_parse(context, args[arg_count - 1], &deadline_ms)) {
        return;
    }
    uint32_t which = 0;
    struct store_found found;
    bool wrong = false;
    if (!first_ready(context, args, arg_count, STORE_TYPE_ZSET, &which, &found, &wrong)) {
        wrong && context->mode != CMD_MODE_RETRY
            ? reply_error(&context->reply, REPLY_ERROR_WRONGTYPE)
            : block_or_null(context, deadline_ms, false, 1, arg_count - 2);
        return;
    }
    reply_array(&context->reply, 3);
    reply_bulk(&context->reply, args[which]);
    uint32_t popped = store_zset_pop(context->store, &found, max, 1, zpop_reply, &context->reply);
    KV_ASSERT(popped == 1); /* a sorted set found is never empty */
    popped_notify(context->store, NOTIFY_ZSET, max ? "zpopmax" : "zpopmin", args[which]);
}

CMD_HANDLER(cmd_bzpopmin)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    blocking_zpop(context, args, arg_count, false);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

CMD_HANDLER(cmd_bzpopmax)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    blocking_zpop(context, args, arg_count, true);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

static const struct cmd block_cmds[] = {
    {"blpop", -3, 1, -2, 1, CMD_FLAG_WRITE, cmd_blpop},
    {"brpop", -3, 1, -2, 1, CMD_FLAG_WRITE, cmd_brpop},
    {"blmove", 6, 1, 2, 1, CMD_FLAG_WRITE, cmd_blmove},
    {"brpoplpush", 4, 1, 2, 1, CMD_FLAG_WRITE, cmd_brpoplpush},
    {"bzpopmin", -3, 1, -2, 1, CMD_FLAG_WRITE, cmd_bzpopmin},
    {"bzpopmax", -3, 1, -2, 1, CMD_FLAG_WRITE, cmd_bzpopmax},
};

CMD_FAMILY(cmd_family_block, "list", block_cmds);
