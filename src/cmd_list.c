/*
 * List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LRANGE, LLEN, LPOP, RPOP, LINDEX, LSET, LREM,
 * LTRIM, LINSERT, LPOS, LMOVE, RPOPLPUSH, with Redis's index rules (negative indexes count
 * from the tail, out-of-range ones are clamped), its reply shapes (a null bulk for a plain
 * pop of a missing key, a null array when a count was given) and its order of checks. A
 * write is all-or-nothing: past list_length_max or val_size_max it is refused with kv's
 * error, and when the heap has no room with Redis's OOM error, and the list stays as it was.
 * Each command finds its list once (store_find_typed, or cmd_read for a read) and hands the
 * record to the write (store_list.h), so a push after the check of LPUSHX, or a pop that
 * empties the list, probes the keyspace no more. Reads walk the list with a cursor.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include "number.h"
#include "store_list.h"

/* An integer argument as Redis's getLongFromObjectOrReply reads it; answers the error. */
static bool integer_arg(struct cmd_context *context, struct slice arg, int64_t *value)
{
    uint64_t reply_before = context->reply.total;
    if (!number_parse_int64(arg.bytes, arg.length, value)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        KV_ASSERT(context->reply.total > reply_before);
        return false;
    }
    KV_ASSERT(context->reply.total == reply_before);
    return true;
}

/* LPUSH, RPUSH and the push of LPUSHX, RPUSHX at the key found. */
static void list_push(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                      bool at_head, struct store_found *found)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t length_after = 0;
    enum store_status status = store_list_push(context->store, found, args[1], args + 2,
                                               arg_count - 2, at_head, &length_after);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(length_after >= arg_count - 2);
    KV_ASSERT(length_after <= context->store->limits.length_max);
    /* The reply, then the event (Redis's order, which a RESP3 subscriber sees). */
    reply_integer(&context->reply, length_after);
    notify_event(NOTIFY_LIST, at_head ? "lpush" : "rpush", args[1]);
}

CMD_HANDLER(cmd_lpush)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    store_find_typed(context->store, args[1], STORE_TYPE_LIST, &found);
    list_push(context, args, arg_count, true, &found);
}

CMD_HANDLER(cmd_rpush)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    store_find_typed(context->store, args[1], STORE_TYPE_LIST, &found);
    list_push(context, args, arg_count, false, &found);
}

/* Replies with the elements [start, stop] (already clamped), walking from start. */
static void reply_range(struct cmd_context *context, uint32_t key_ref, uint32_t start,
                        uint32_t stop)
{
    const struct store *store = context->store;
    KV_ASSERT(start <= stop);
    KV_ASSERT(stop < store_list_length(store, key_ref));
    reply_array(&context->reply, stop - start + 1);
    struct store_list_cursor cursor;
    store_list_seek(store, key_ref, start, &cursor);
    /* Bounded by stop - start + 1 elements, all inside the list. */
    for (uint32_t position = start; position <= stop; position++) {
        reply_bulk(&context->reply, store_list_value(store, &cursor));
        bool more = store_list_next(store, &cursor);
        KV_ASSERT(more || position == stop);
    }
}

CMD_HANDLER(cmd_lrange)
{
    KV_ASSERT(arg_count == 4);
    int64_t start = 0;
    int64_t stop = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &start) ||
        !number_parse_int64(args[3].bytes, args[3].length, &stop)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    int64_t length = store_list_length(context->store, found.key_ref);
    KV_ASSERT(length > 0);
    start = start < 0 ? start + length : start;
    stop = stop < 0 ? stop + length : stop;
    start = start < 0 ? 0 : start;
    if (start > stop || start >= length) {
        reply_array(&context->reply, 0);
        return;
    }
    stop = stop >= length ? length - 1 : stop;
    reply_range(context, found.key_ref, (uint32_t)start, (uint32_t)stop);
}

CMD_HANDLER(cmd_llen)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    uint32_t length = store_list_length(context->store, found.key_ref);
    KV_ASSERT(length > 0); /* a list is never empty */
    reply_integer(&context->reply, length);
}

/* Replies with the value at one end, then pops it (the reply copies the bytes first). */
static void pop_one(struct cmd_context *context, struct store_found *found, bool at_head)
{
    struct store *store = context->store;
    KV_ASSERT(found->exists);
    KV_ASSERT(found->type == STORE_TYPE_LIST);
    reply_bulk(&context->reply, store_list_end(store, found->key_ref, at_head));
    store_list_pop(store, found, at_head);
}

/* The events of elements popped: the pop, then "del" when the list went with its last
 * element (Redis's listElementsRemoved). */
static void list_popped(struct slice key, bool at_head, const struct store_found *found)
{
    notify_event(NOTIFY_LIST, at_head ? "lpop" : "rpop", key);
    if (!found->exists) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
}

static void list_pop(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                     bool at_head, const char *name)
{
    if (arg_count > 3) {
        reply_error_arity(&context->reply, name);
        return;
    }
    bool counted = arg_count == 3;
    int64_t count = 1;
    if (counted && (!number_parse_int64(args[2].bytes, args[2].length, &count) || count < 0)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_POSITIVE);
        return;
    }
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        counted ? reply_null_array(&context->reply) : reply_null(&context->reply);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    if (!counted) {
        pop_one(context, &found, at_head);
        list_popped(args[1], at_head, &found);
        return;
    }
    uint32_t length = store_list_length(context->store, found.key_ref);
    uint32_t popped = count < length ? (uint32_t)count : length;
    KV_ASSERT(popped <= length);
    reply_array(&context->reply, popped);
    /* Bounded by the list length; the key goes with its last element. */
    for (uint32_t index = 0; index < popped; index++) {
        pop_one(context, &found, at_head);
    }
    if (popped > 0) {
        list_popped(args[1], at_head, &found);
    }
}

CMD_HANDLER(cmd_lpop)
{
    KV_ASSERT(arg_count >= 2);
    list_pop(context, args, arg_count, true, "lpop");
}

CMD_HANDLER(cmd_rpop)
{
    KV_ASSERT(arg_count >= 2);
    list_pop(context, args, arg_count, false, "rpop");
}

/* LPUSHX and RPUSHX: push only onto an existing list. */
static void list_pushx(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       bool at_head)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    KV_ASSERT(found.exists);
    list_push(context, args, arg_count, at_head, &found);
}

CMD_HANDLER(cmd_lpushx)
{
    KV_ASSERT(arg_count >= 3);
    list_pushx(context, args, arg_count, true);
}

CMD_HANDLER(cmd_rpushx)
{
    KV_ASSERT(arg_count >= 3);
    list_pushx(context, args, arg_count, false);
}

/* A Redis list index (negative from the tail) as a position, or false when outside. */
static bool list_position(int64_t index, uint32_t length, uint32_t *position)
{
    index = index < 0 ? index + (int64_t)length : index;
    if (index < 0 || index >= (int64_t)length) {
        return false;
    }
    *position = (uint32_t)index;
    KV_ASSERT(*position < length);
    return true;
}

CMD_HANDLER(cmd_lindex)
{
    KV_ASSERT(arg_count == 3);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    }
    int64_t index = 0;
    if (status != STORE_OK || !integer_arg(context, args[2], &index)) {
        return;
    }
    const struct store *store = context->store;
    uint32_t position = 0;
    if (!list_position(index, store_list_length(store, found.key_ref), &position)) {
        reply_null(&context->reply);
        return;
    }
    struct store_list_cursor cursor;
    store_list_seek(store, found.key_ref, position, &cursor);
    reply_bulk(&context->reply, store_list_value(store, &cursor));
}

/* What a list write answers when its key is missing, as Redis does. */
enum list_missing {
    LIST_MISSING_NO_SUCH_KEY, /* LSET: "ERR no such key" */
    LIST_MISSING_ZERO,        /* LREM, LINSERT: 0 */
    LIST_MISSING_OK,          /* LTRIM: OK */
    LIST_MISSING_NULL,        /* LMOVE, RPOPLPUSH: a null bulk */
};

static void reply_missing(struct cmd_context *context, enum list_missing missing)
{
    uint64_t reply_before = context->reply.total;
    if (missing == LIST_MISSING_NO_SUCH_KEY) {
        reply_error(&context->reply, REPLY_ERROR_NO_SUCH_KEY);
    } else if (missing == LIST_MISSING_ZERO) {
        reply_integer(&context->reply, 0);
    } else if (missing == LIST_MISSING_OK) {
        reply_ok(&context->reply);
    } else {
        KV_ASSERT(missing == LIST_MISSING_NULL);
        reply_null(&context->reply);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* Finds a list for a write: answers Redis's reply for a missing key or WRONGTYPE, and
 * returns false then. */
static bool list_write_find(struct cmd_context *context, struct slice key,
                            struct store_found *found, enum list_missing missing)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_LIST, found);
    if (status == STORE_NOT_FOUND) {
        reply_missing(context, missing);
        return false;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    KV_ASSERT(store_list_length(context->store, found->key_ref) > 0);
    return true;
}

CMD_HANDLER(cmd_lset)
{
    KV_ASSERT(arg_count == 4);
    struct store_found found;
    int64_t index = 0;
    if (!list_write_find(context, args[1], &found, LIST_MISSING_NO_SUCH_KEY) ||
        !integer_arg(context, args[2], &index)) {
        return;
    }
    struct store *store = context->store;
    uint32_t position = 0;
    if (!list_position(index, store_list_length(store, found.key_ref), &position)) {
        reply_error(&context->reply, REPLY_ERROR_INDEX_RANGE);
        return;
    }
    if (args[3].length > store->limits.value_bytes_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    enum store_status status = store_list_set(store, &found, position, args[3]);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(store_list_length(store, found.key_ref) > position);
    notify_event(NOTIFY_LIST, "lset", args[1]);
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_lrem)
{
    KV_ASSERT(arg_count == 4);
    int64_t count = 0;
    struct store_found found;
    if (!integer_arg(context, args[2], &count) ||
        !list_write_find(context, args[1], &found, LIST_MISSING_ZERO)) {
        return;
    }
    uint32_t length = store_list_length(context->store, found.key_ref);
    uint32_t removed = store_list_remove_value(context->store, &found, count, args[3]);
    KV_ASSERT(removed <= length);
    if (removed > 0) {
        notify_event(NOTIFY_LIST, "lrem", args[1]);
        if (!found.exists) {
            notify_event(NOTIFY_GENERIC, "del", args[1]);
        }
    }
    reply_integer(&context->reply, removed);
}

/* LTRIM's range [start, start + kept) of a list of `length` by Redis's rules (negative from
 * the tail, clamped); kept 0 empties the list. */
static void trim_range(int64_t start, int64_t stop, uint32_t length, uint32_t *first,
                       uint32_t *kept)
{
    KV_ASSERT(length > 0);
    start = start < 0 ? start + length : start;
    stop = stop < 0 ? stop + length : stop;
    start = start < 0 ? 0 : start;
    *first = 0;
    *kept = 0;
    if (start <= stop && start < length) {
        stop = stop >= length ? length - 1 : stop;
        *first = (uint32_t)start;
        *kept = (uint32_t)(stop - start + 1);
    }
    KV_ASSERT((uint64_t)*first + *kept <= length);
}

CMD_HANDLER(cmd_ltrim)
{
    KV_ASSERT(arg_count == 4);
    int64_t start = 0;
    int64_t stop = 0;
    struct store_found found;
    if (!integer_arg(context, args[2], &start) || !integer_arg(context, args[3], &stop) ||
        !list_write_find(context, args[1], &found, LIST_MISSING_OK)) {
        return;
    }
    uint32_t first = 0;
    uint32_t kept = 0;
    trim_range(start, stop, store_list_length(context->store, found.key_ref), &first, &kept);
    store_list_trim(context->store, &found, first, kept);
    notify_event(NOTIFY_LIST, "ltrim", args[1]);
    if (!found.exists) {
        notify_event(NOTIFY_GENERIC, "del", args[1]);
    }
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_linsert)
{
    KV_ASSERT(arg_count == 5);
    bool before = cmd_arg_is(args[2], "before");
    if (!before && !cmd_arg_is(args[2], "after")) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    struct store_found found;
    if (!list_write_find(context, args[1], &found, LIST_MISSING_ZERO)) {
        return;
    }
    struct store *store = context->store;
    struct store_list_cursor pivot;
    if (!store_list_find(store, found.key_ref, args[3], &pivot)) {
        reply_integer(&context->reply, -1);
        return;
    }
    if (args[4].length > store->limits.value_bytes_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    uint32_t length = store_list_length(store, found.key_ref);
    if (length >= store->limits.length_max) {
        reply_error(&context->reply, REPLY_ERROR_LIST_FULL);
        return;
    }
    enum store_status status = store_list_insert(store, &found, &pivot, before, args[4]);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(store_list_length(store, found.key_ref) == length + 1);
    notify_event(NOTIFY_LIST, "linsert", args[1]);
    reply_integer(&context->reply, length + 1);
}

struct lpos_options {
    int64_t rank;   /* 1: the first match from the head; negative: from the tail */
    int64_t count;  /* -1: no COUNT (one index or null); 0: every match */
    int64_t maxlen; /* 0: the whole list */
};

/* LPOS's options with Redis 7.0's checks and errors, in its order. */
static bool lpos_options_parse(struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count, struct lpos_options *options)
{
    KV_ASSERT(arg_count >= 3);
    *options = (struct lpos_options){.rank = 1, .count = -1, .maxlen = 0};
    for (uint32_t index = 3; index < arg_count; index += 2) {
        bool more = index + 1 < arg_count;
        int64_t value = 0;
        if (!more) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        struct slice arg = args[index + 1];
        bool number = number_parse_int64(arg.bytes, arg.length, &value);
        if (cmd_arg_is(args[index], "rank")) {
            if (!number) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            if (value == 0) {
                reply_error(&context->reply, REPLY_ERROR_RANK_ZERO);
                return false;
            }
            options->rank = value;
        } else if (cmd_arg_is(args[index], "count") || cmd_arg_is(args[index], "maxlen")) {
            bool count = cmd_arg_is(args[index], "count");
            if (!number || value < 0) {
                reply_error(&context->reply, count ? REPLY_ERROR_COUNT_NEGATIVE
                                                   : REPLY_ERROR_MAXLEN_NEGATIVE);
                return false;
            }
            *(count ? &options->count : &options->maxlen) = value;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    KV_ASSERT(options->rank != 0);
    KV_ASSERT(options->count >= -1);
    return true;
}

/* One walk of LPOS over a list (from the tail for a negative rank), bounded by the list's
 * length and MAXLEN: the positions of the matches from the rank on, answered when `answer`.
 * Returns how many, with the first in *first (-1: none). */
static uint32_t lpos_walk(struct cmd_context *context, uint32_t key_ref, struct slice element,
                          const struct lpos_options *options, bool answer, int64_t *first)
{
    const struct store *store = context->store;
    KV_ASSERT(options->rank != 0);
    bool from_tail = options->rank < 0;
    /* Redis 7.0 negates the rank in a long: INT64_MIN stays negative, so every match from
     * the tail counts, as with rank -1. */
    uint64_t rank = options->rank == INT64_MIN ? 1
                    : from_tail                ? 0 - (uint64_t)options->rank
                                               : (uint64_t)options->rank;
    uint32_t length = store_list_length(store, key_ref);
    uint64_t matches = 0;
    uint32_t emitted = 0;
    *first = -1;
    struct store_list_cursor cursor;
    store_list_seek(store, key_ref, from_tail ? length - 1 : 0, &cursor);
    bool more = true;
    /* Bounded by the list's length (the cursor runs off an end) and MAXLEN. */
    for (uint32_t step = 0;
         more && step < length && (options->maxlen == 0 || step < (uint64_t)options->maxlen);
         step++) {
        if (slice_equal(store_list_value(store, &cursor), element) && ++matches >= rank) {
            int64_t position = from_tail ? (int64_t)length - step - 1 : step;
            if (answer) {
                reply_integer(&context->reply, position);
            }
            *first = *first == -1 ? position : *first;
            emitted++;
            /* Redis 7.0's "matches - rank + 1 >= count" overflows for INT64_MIN: that rank
             * never stops at COUNT. */
            bool counted_out = options->count > 0 && emitted >= options->count &&
                               options->rank != INT64_MIN;
            if (options->count == -1 || counted_out) {
                break;
            }
        }
        more = from_tail ? store_list_prev(store, &cursor) : store_list_next(store, &cursor);
    }
    KV_ASSERT(emitted <= length);
    return emitted;
}

CMD_HANDLER(cmd_lpos)
{
    KV_ASSERT(arg_count >= 3);
    struct lpos_options options;
    if (!lpos_options_parse(context, args, arg_count, &options)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &found);
    if (status == STORE_NOT_FOUND) {
        options.count != -1 ? reply_array(&context->reply, 0) : reply_null(&context->reply);
    }
    if (status != STORE_OK) {
        return;
    }
    /* Two walks: count the indexes, then answer them (one, without COUNT). */
    int64_t first = -1;
    uint32_t matched = lpos_walk(context, found.key_ref, args[2], &options, false, &first);
    if (options.count == -1) {
        first == -1 ? reply_null(&context->reply) : reply_integer(&context->reply, first);
        return;
    }
    reply_array(&context->reply, matched);
    uint32_t answered = lpos_walk(context, found.key_ref, args[2], &options, true, &first);
    KV_ASSERT(answered == matched);
}

/* LMOVE's and BLMOVE's LEFT or RIGHT. */
static bool list_end(struct slice arg, bool *head)
{
    *head = cmd_arg_is(arg, "left");
    return *head || cmd_arg_is(arg, "right");
}

/* LMOVE's events as Redis's lmoveGenericCommand: the push on the destination, the pop on
 * the source, then "del" when the source went with its last element. */
static void list_moved_notify(struct store *store, struct slice source, struct slice target,
                              bool from_head, bool to_head)
{
    notify_event(NOTIFY_LIST, to_head ? "lpush" : "rpush", target);
    notify_event(NOTIFY_LIST, from_head ? "lpop" : "rpop", source);
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_peek(store, source, &key_ref)) {
        notify_event(NOTIFY_GENERIC, "del", source);
    }
}

static void list_move(struct cmd_context *context, const struct slice *args, bool from_head,
                      bool to_head)
{
    struct store_found source;
    if (!list_write_find(context, args[1], &source, LIST_MISSING_NULL)) {
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
    list_moved_notify(context->store, args[1], args[2], from_head, to_head);
    reply_bulk(&context->reply, moved);
}

CMD_HANDLER(cmd_lmove)
{
    KV_ASSERT(arg_count == 5);
    uint64_t reply_before = context->reply.total;
    bool from_head = false;
    bool to_head = false;
    if (!list_end(args[3], &from_head) || !list_end(args[4], &to_head)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    list_move(context, args, from_head, to_head);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_rpoplpush)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    list_move(context, args, false, true);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd list_cmds[] = {
    {"lpush", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_lpush},
    {"rpush", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_rpush},
    {"lrange", 4, 1, 1, 1, 0, cmd_lrange},
    {"llen", 2, 1, 1, 1, 0, cmd_llen},
    {"lpop", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_lpop},
    {"rpop", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_rpop},
    {"lpushx", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_lpushx},
    {"rpushx", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_rpushx},
    {"lindex", 3, 1, 1, 1, 0, cmd_lindex},
    {"lset", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_lset},
    {"lrem", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_lrem},
    {"ltrim", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_ltrim},
    {"linsert", 5, 1, 1, 1, CMD_FLAG_WRITE, cmd_linsert},
    {"lpos", -3, 1, 1, 1, 0, cmd_lpos},
    {"lmove", 5, 1, 2, 1, CMD_FLAG_WRITE, cmd_lmove},
    {"rpoplpush", 3, 1, 2, 1, CMD_FLAG_WRITE, cmd_rpoplpush},
};

CMD_FAMILY(cmd_family_list, "list", list_cmds);
