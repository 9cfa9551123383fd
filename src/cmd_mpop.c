/*
 * Pops from the first non-empty of several keys: LMPOP and ZMPOP, and their blocking forms
 * BLMPOP and BZMPOP, with Redis 7.0's checks in its order (numkeys, the end, COUNT, then
 * the timeout) and its nested replies: [key, [element ...]] for a list, [key, [[member,
 * score] ...]] for a sorted set, a null array when nothing is there.
 *
 * The blocking forms block as BLPOP and BZPOPMIN do (cmd_block.c's protocol): with nothing
 * to pop they answer nothing and ask to wait on their keys (context->outcome.block); the
 * serving layer runs the command again when one of the keys gains members, and answers a
 * null array at the timeout. In a transaction they answer the null array at once. On a
 * retry a key of another type keeps the client waiting, as Redis leaves it blocked. Every
 * pop is bounded by COUNT and the length of the one key it pops from; nothing allocates.
 */
#include "cmd_handlers.h"

#include "notify.h"
#include "number.h"
#include "store_list.h"
#include "store_zset.h"

/* What an MPOP command asks for. */
struct mpop_request {
    uint8_t type;           /* STORE_TYPE_LIST or STORE_TYPE_ZSET */
    bool from_high;         /* RIGHT (a list's tail) or MAX */
    uint32_t key_first;     /* the first key's argument */
    uint32_t key_count;     /* numkeys */
    uint64_t count;         /* COUNT, 1 by default */
    int64_t deadline_ms;    /* blocking forms: Unix ms of the timeout; 0: never */
};

/* numkeys, the end and COUNT from args[numkeys_index]; false after answering the error. */
static bool mpop_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       uint32_t numkeys_index, struct mpop_request *request)
{
    KV_ASSERT(numkeys_index < arg_count);
    int64_t numkeys = 0;
    struct slice text = args[numkeys_index];
    if (!number_parse_int64(text.bytes, text.length, &numkeys) || numkeys < 1) {
        reply_error(&context->reply, REPLY_ERROR_NUMKEYS_NOT_POSITIVE);
        return false;
    }
    if ((uint64_t)numkeys >= arg_count - numkeys_index - 1) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX); /* no room for the end */
        return false;
    }
    request->key_first = numkeys_index + 1;
    request->key_count = (uint32_t)numkeys;
    uint32_t where = numkeys_index + 1 + (uint32_t)numkeys;
    bool list = request->type == STORE_TYPE_LIST;
    if (cmd_arg_is(args[where], list ? "left" : "min")) {
        request->from_high = false;
    } else if (cmd_arg_is(args[where], list ? "right" : "max")) {
        request->from_high = true;
    } else {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    bool counted = false;
    request->count = 1;
    /* Bounded by the arguments: each option consumes two. */
    for (uint32_t index = where + 1; index < arg_count; index++) {
        if (counted || !cmd_arg_is(args[index], "count") || index + 1 >= arg_count) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        index++;
        int64_t count = 0;
        if (!number_parse_int64(args[index].bytes, args[index].length, &count) || count < 1) {
            reply_error(&context->reply, REPLY_ERROR_COUNT_NOT_POSITIVE);
            return false;
        }
        request->count = (uint64_t)count;
        counted = true;
    }
    KV_ASSERT(request->count >= 1);
    return true;
}

/* The first key (in order) holding members of the type; false with *wrong when a key of
 * another type comes first, or with nothing to pop. */
static bool mpop_first_ready(struct cmd_context *context, const struct slice *args,
                             const struct mpop_request *request, uint32_t *which,
                             struct store_found *found, bool *wrong)
{
    *wrong = false;
    /* Bounded by numkeys. */
    for (uint32_t index = 0; index < request->key_count; index++) {
        struct slice key = args[request->key_first + index];
        enum store_status status = store_find_typed(context->store, key, request->type, found);
        if (status == STORE_WRONGTYPE) {
            *wrong = true;
            return false;
        }
        if (status == STORE_OK) {
            /* A list or sorted set is never empty: a key found has members. */
            KV_ASSERT(store_length(context->store, found->key_ref) > 0);
            *which = request->key_first + index;
            return true;
        }
    }
    return false;
}

/* A sorted-set pop's member and score: an array of 2 in both protocols, as ZMPOP answers. */
static void mpop_zset_reply(void *context, struct slice member, double score)
{
    struct reply *reply = context;
    reply_array(reply, 2);
    reply_bulk(reply, member);
    reply_score(reply, score);
}

/* Pops up to COUNT from the key found and answers [key, [...]]. */
static void mpop_answer(struct cmd_context *context, struct slice key, struct store_found *found,
                        const struct mpop_request *request)
{
    struct store *store = context->store;
    uint64_t length = store_length(store, found->key_ref);
    uint32_t popped = (uint32_t)(request->count < length ? request->count : length);
    KV_ASSERT(popped >= 1);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, key);
    reply_array(&context->reply, popped);
    if (request->type == STORE_TYPE_ZSET) {
        uint32_t done = store_zset_pop(store, found, request->from_high, popped, mpop_zset_reply,
                                       &context->reply);
        KV_ASSERT(done == popped);
        notify_event(NOTIFY_ZSET, request->from_high ? "zpopmax" : "zpopmin", key);
    } else {
        bool at_head = !request->from_high;
        /* Bounded by popped, at most the list's length: the key goes with its last element. */
        for (uint32_t index = 0; index < popped; index++) {
            KV_ASSERT(found->exists);
            reply_bulk(&context->reply, store_list_end(store, found->key_ref, at_head));
            store_list_pop(store, found, at_head);
        }
        notify_event(NOTIFY_LIST, at_head ? "lpop" : "rpop", key);
    }
    /* Redis's events: one for the pop, then "del" when the key went with its last member. */
    if (popped == length) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
}

/* LMPOP and ZMPOP: numkeys at args[1]. */
static void mpop_generic(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint8_t type)
{
    struct mpop_request request = {.type = type};
    if (!mpop_parse(context, args, arg_count, 1, &request)) {
        return;
    }
    uint32_t which = 0;
    struct store_found found;
    bool wrong = false;
    if (mpop_first_ready(context, args, &request, &which, &found, &wrong)) {
        mpop_answer(context, args[which], &found, &request);
    } else if (wrong) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    } else {
        reply_null_array(&context->reply);
    }
}

/* BLMPOP and BZMPOP: the timeout at args[1], numkeys at args[2]. */
static void bmpop_generic(struct cmd_context *context, const struct slice *args,
                          uint32_t arg_count, uint8_t type)
{
    struct mpop_request request = {.type = type};
    if (!mpop_parse(context, args, arg_count, 2, &request) ||
        !cmd_block_timeout_parse(context, args[1], &request.deadline_ms)) {
        return;
    }
    uint32_t which = 0;
    struct store_found found;
    bool wrong = false;
    if (mpop_first_ready(context, args, &request, &which, &found, &wrong)) {
        mpop_answer(context, args[which], &found, &request);
    } else if (wrong && context->mode != CMD_MODE_RETRY) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    } else if (context->mode == CMD_MODE_EXEC) {
        reply_null_array(&context->reply); /* a transaction never blocks */
    } else {
        KV_ASSERT(!context->outcome.block);
        context->outcome.block = true;
        context->outcome.block_key_first = request.key_first;
        context->outcome.block_key_count = request.key_count;
        context->outcome.block_deadline_ms = request.deadline_ms;
    }
}

CMD_HANDLER(cmd_lmpop)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    mpop_generic(context, args, arg_count, STORE_TYPE_LIST);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zmpop)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    mpop_generic(context, args, arg_count, STORE_TYPE_ZSET);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_blmpop)
{
    KV_ASSERT(arg_count >= 5);
    uint64_t reply_before = context->reply.total;
    bmpop_generic(context, args, arg_count, STORE_TYPE_LIST);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

CMD_HANDLER(cmd_bzmpop)
{
    KV_ASSERT(arg_count >= 5);
    uint64_t reply_before = context->reply.total;
    bmpop_generic(context, args, arg_count, STORE_TYPE_ZSET);
    /* Either it answered or it blocks, never both, never neither. */
    KV_ASSERT((context->reply.total > reply_before) != context->outcome.block);
}

/* Two tables, so that COMMAND DOCS names each command's group as Redis does. */
static const struct cmd lmpop_cmds[] = {
    {"lmpop", -4, 0, 0, 0, CMD_FLAG_WRITE, cmd_lmpop},
    {"blmpop", -5, 0, 0, 0, CMD_FLAG_WRITE, cmd_blmpop},
};

static const struct cmd zmpop_cmds[] = {
    {"zmpop", -4, 0, 0, 0, CMD_FLAG_WRITE, cmd_zmpop},
    {"bzmpop", -5, 0, 0, 0, CMD_FLAG_WRITE, cmd_bzmpop},
};

CMD_FAMILY(cmd_family_mpop, "list", lmpop_cmds);
CMD_FAMILY(cmd_family_zmpop, "sorted-set", zmpop_cmds);
