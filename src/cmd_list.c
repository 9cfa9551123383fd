/*
 * List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LRANGE, LLEN, LPOP, RPOP, LINDEX, LSET, LREM,
 * LTRIM, LINSERT, LPOS, LMOVE, RPOPLPUSH, with Redis's index rules (negative indexes count
 * from the tail, out-of-range ones are clamped), its reply shapes (a null bulk for a plain
 * pop of a missing key, a null array when a count was given) and its order of checks. A
 * write is all-or-nothing: past list_length_max or val_size_max it is refused with kv's
 * error and the list stays as it was.
 */
#include "cmd_handlers.h"

#include "number.h"

/* An integer argument as Redis's getLongFromObjectOrReply reads it; answers the error. */
static bool integer_arg(struct cmd_context *context, struct slice arg, int64_t *value)
{
    if (!number_parse_int64(arg.bytes, arg.length, value)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    return true;
}

static uint32_t lrange_elements_max(const struct slice *args, uint32_t arg_count,
                                    uint32_t list_length_max)
{
    int64_t start = 0;
    int64_t stop = 0;
    if (arg_count != 4 || !number_parse_int64(args[2].bytes, args[2].length, &start) ||
        !number_parse_int64(args[3].bytes, args[3].length, &stop)) {
        return 0; /* An error reply. */
    }
    if (start < 0 || stop < 0) {
        return list_length_max; /* Counted from the tail: depends on the length. */
    }
    if (stop < start) {
        return 0;
    }
    uint64_t span = (uint64_t)(stop - start) + 1;
    return span < list_length_max ? (uint32_t)span : list_length_max;
}

static uint32_t pop_elements_max(const struct slice *args, uint32_t arg_count,
                                 uint32_t list_length_max)
{
    int64_t count = 0;
    if (arg_count != 3 || !number_parse_int64(args[2].bytes, args[2].length, &count) ||
        count < 0) {
        return 0; /* One value (within the bound's margin), or an error. */
    }
    return (uint64_t)count < list_length_max ? (uint32_t)count : list_length_max;
}

static uint32_t lrange_reply_max(const struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count)
{
    uint32_t worst = cmd_reply_elements(
        context->plan, lrange_elements_max(args, arg_count, context->plan->list_length_max));
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    return cmd_reply_elements(context->plan,
                              lrange_elements_max(args, arg_count, cmd_length_bound(context, args[1], STORE_TYPE_LIST)));
}

static uint32_t pop_reply_max(const struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count)
{
    uint32_t worst = cmd_reply_elements(
        context->plan, pop_elements_max(args, arg_count, context->plan->list_length_max));
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    return cmd_reply_elements(context->plan,
                              pop_elements_max(args, arg_count, cmd_length_bound(context, args[1], STORE_TYPE_LIST)));
}

static void list_push(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                      bool at_head)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t length_after = 0;
    enum store_status status =
        store_list_push(context->store, args[1], args + 2, arg_count - 2, at_head, &length_after);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_integer(&context->reply, length_after);
}

CMD_HANDLER(cmd_lpush)
{
    list_push(context, args, arg_count, true);
}

CMD_HANDLER(cmd_rpush)
{
    list_push(context, args, arg_count, false);
}

/* Replies with the values of nodes [start, stop] (already clamped), walking from start. */
static void reply_range(struct cmd_context *context, const struct store_key *key, uint32_t start,
                        uint32_t stop)
{
    const struct store *store = context->store;
    KV_ASSERT(start <= stop && stop < key->list.count);
    reply_array(&context->reply, stop - start + 1);
    uint32_t node_index = list_node_at(&store->nodes, &key->list, start);
    for (uint32_t position = start; position <= stop; position++) {
        const struct list_node *node = list_node(&store->nodes, node_index);
        reply_bulk(&context->reply, store_value(store, node->value_index));
        node_index = node->next;
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
    uint32_t key_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    const struct store_key *key = store_key(context->store, key_index);
    int64_t length = key->list.count;
    start = start < 0 ? start + length : start;
    stop = stop < 0 ? stop + length : stop;
    start = start < 0 ? 0 : start;
    if (start > stop || start >= length) {
        reply_array(&context->reply, 0);
        return;
    }
    stop = stop >= length ? length - 1 : stop;
    reply_range(context, key, (uint32_t)start, (uint32_t)stop);
}

CMD_HANDLER(cmd_llen)
{
    KV_ASSERT(arg_count == 2);
    uint32_t key_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    reply_integer(&context->reply, store_key(context->store, key_index)->list.count);
}

/* Replies with the value at one end, then pops it (the reply copies the bytes first). */
static void pop_one(struct cmd_context *context, uint32_t key_index, bool at_head)
{
    struct store *store = context->store;
    const struct store_key *key = store_key(store, key_index);
    uint32_t node_index = at_head ? key->list.head : key->list.tail;
    reply_bulk(&context->reply, store_value(store, list_node(&store->nodes, node_index)->value_index));
    store_list_pop(store, key_index, at_head);
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
    uint32_t key_index = 0;
    enum store_status status = store_find_list(context->store, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        counted ? reply_null_array(&context->reply) : reply_null(&context->reply);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    if (!counted) {
        pop_one(context, key_index, at_head);
        return;
    }
    uint32_t length = store_key(context->store, key_index)->list.count;
    uint32_t popped = count < length ? (uint32_t)count : length;
    reply_array(&context->reply, popped);
    /* Bounded by the list length; the key goes with its last element. */
    for (uint32_t index = 0; index < popped; index++) {
        pop_one(context, key_index, at_head);
    }
}

CMD_HANDLER(cmd_lpop)
{
    list_pop(context, args, arg_count, true, "lpop");
}

CMD_HANDLER(cmd_rpop)
{
    list_pop(context, args, arg_count, false, "rpop");
}

/* LPUSHX and RPUSHX: push only onto an existing list. */
static void list_pushx(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       bool at_head)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t key_index = 0;
    enum store_status status = store_find_list(context->store, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    list_push(context, args, arg_count, at_head);
}

CMD_HANDLER(cmd_lpushx)
{
    list_pushx(context, args, arg_count, true);
}

CMD_HANDLER(cmd_rpushx)
{
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
    return true;
}

CMD_HANDLER(cmd_lindex)
{
    KV_ASSERT(arg_count == 3);
    uint32_t key_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    }
    int64_t index = 0;
    if (status != STORE_OK || !integer_arg(context, args[2], &index)) {
        return;
    }
    const struct store *store = context->store;
    const struct store_key *key = store_key(store, key_index);
    uint32_t position = 0;
    if (!list_position(index, key->list.count, &position)) {
        reply_null(&context->reply);
        return;
    }
    uint32_t node_index = list_node_at(&store->nodes, &key->list, position);
    reply_bulk(&context->reply, store_value(store, list_node(&store->nodes, node_index)->value_index));
}

/* Finds a list for a write: answers Redis's reply for a missing key (`missing`, NULL: an
 * error text) or WRONGTYPE, and returns false then. */
static bool list_write_find(struct cmd_context *context, struct slice key, uint32_t *key_index,
                            void (*missing)(struct cmd_context *context))
{
    enum store_status status = store_find_list(context->store, key, key_index);
    if (status == STORE_NOT_FOUND) {
        missing(context);
        return false;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    return true;
}

static void reply_no_such_key(struct cmd_context *context)
{
    reply_error(&context->reply, REPLY_ERROR_NO_SUCH_KEY);
}

static void reply_zero(struct cmd_context *context)
{
    reply_integer(&context->reply, 0);
}

static void reply_ok_missing(struct cmd_context *context)
{
    reply_ok(&context->reply);
}

static void reply_null_missing(struct cmd_context *context)
{
    reply_null(&context->reply);
}

CMD_HANDLER(cmd_lset)
{
    KV_ASSERT(arg_count == 4);
    uint32_t key_index = 0;
    int64_t index = 0;
    if (!list_write_find(context, args[1], &key_index, reply_no_such_key) ||
        !integer_arg(context, args[2], &index)) {
        return;
    }
    struct store *store = context->store;
    const struct store_key *key = store_key(store, key_index);
    uint32_t position = 0;
    if (!list_position(index, key->list.count, &position)) {
        reply_error(&context->reply, REPLY_ERROR_INDEX_RANGE);
        return;
    }
    if (args[3].length > store->val_size_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    store_list_set(store, key_index, list_node_at(&store->nodes, &key->list, position), args[3]);
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_lrem)
{
    KV_ASSERT(arg_count == 4);
    int64_t count = 0;
    uint32_t key_index = 0;
    if (!integer_arg(context, args[2], &count) ||
        !list_write_find(context, args[1], &key_index, reply_zero)) {
        return;
    }
    reply_integer(&context->reply,
                  store_list_remove_value(context->store, key_index, count, args[3]));
}

CMD_HANDLER(cmd_ltrim)
{
    KV_ASSERT(arg_count == 4);
    int64_t start = 0;
    int64_t stop = 0;
    uint32_t key_index = 0;
    if (!integer_arg(context, args[2], &start) || !integer_arg(context, args[3], &stop) ||
        !list_write_find(context, args[1], &key_index, reply_ok_missing)) {
        return;
    }
    int64_t length = store_key(context->store, key_index)->list.count;
    start = start < 0 ? start + length : start;
    stop = stop < 0 ? stop + length : stop;
    start = start < 0 ? 0 : start;
    uint32_t kept = 0;
    if (start <= stop && start < length) {
        stop = stop >= length ? length - 1 : stop;
        kept = (uint32_t)(stop - start + 1);
    } else {
        start = 0;
    }
    store_list_trim(context->store, key_index, (uint32_t)start, kept);
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
    uint32_t key_index = 0;
    if (!list_write_find(context, args[1], &key_index, reply_zero)) {
        return;
    }
    struct store *store = context->store;
    const struct store_key *key = store_key(store, key_index);
    uint32_t node_index = key->list.head;
    /* Bounded by the list's length. */
    while (node_index != LIST_NONE &&
           !slice_equal(store_value(store, list_node(&store->nodes, node_index)->value_index),
                        args[3])) {
        node_index = list_node(&store->nodes, node_index)->next;
    }
    if (node_index == LIST_NONE) {
        reply_integer(&context->reply, -1);
        return;
    }
    if (args[4].length > store->val_size_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    if (key->list.count >= store->list_length_max) {
        reply_error(&context->reply, REPLY_ERROR_LIST_FULL);
        return;
    }
    store_list_insert(store, key_index, node_index, before, args[4]);
    reply_integer(&context->reply, key->list.count);
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
    return true;
}

static uint32_t lpos_reply_max(const struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count)
{
    (void)args;
    /* Up to one index per element when COUNT is given; integers are smaller than values. */
    return cmd_reply_elements(context->plan, arg_count > 3 ? context->plan->list_length_max : 0);
}

CMD_HANDLER(cmd_lpos)
{
    KV_ASSERT(arg_count >= 3);
    struct lpos_options options;
    if (!lpos_options_parse(context, args, arg_count, &options)) {
        return;
    }
    uint32_t key_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_LIST, &key_index);
    if (status == STORE_NOT_FOUND) {
        options.count != -1 ? reply_array(&context->reply, 0) : reply_null(&context->reply);
    }
    if (status != STORE_OK) {
        return;
    }
    const struct store *store = context->store;
    const struct store_key *key = store_key(store, key_index);
    bool from_tail = options.rank < 0;
    /* Redis 7.0 negates the rank in a long: INT64_MIN stays negative, so every match from
     * the tail counts, as with rank -1. */
    uint64_t rank = options.rank == INT64_MIN ? 1
                    : from_tail               ? 0 - (uint64_t)options.rank
                                              : (uint64_t)options.rank;
    uint32_t length = key->list.count;
    /* Two walks bounded by the list's length: count the indexes, then answer them. */
    int64_t first = -1;
    uint32_t found = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (options.count == -1) {
                first == -1 ? reply_null(&context->reply) : reply_integer(&context->reply, first);
                return;
            }
            reply_array(&context->reply, found);
        }
        uint64_t matches = 0;
        uint32_t emitted = 0;
        uint32_t node_index = from_tail ? key->list.tail : key->list.head;
        for (uint32_t step = 0; node_index != LIST_NONE &&
                                (options.maxlen == 0 || step < (uint64_t)options.maxlen);
             step++) {
            const struct list_node *node = list_node(&store->nodes, node_index);
            if (slice_equal(store_value(store, node->value_index), args[2]) && ++matches >= rank) {
                int64_t position = from_tail ? (int64_t)length - step - 1 : step;
                if (pass == 1) {
                    reply_integer(&context->reply, position);
                }
                first = first == -1 ? position : first;
                emitted++;
                /* Redis 7.0's "matches - rank + 1 >= count" overflows for INT64_MIN: that
                 * rank never stops at COUNT. */
                bool counted_out = options.count > 0 && emitted >= options.count &&
                                   options.rank != INT64_MIN;
                if (options.count == -1 || counted_out) {
                    break;
                }
            }
            node_index = from_tail ? node->prev : node->next;
        }
        found = emitted;
    }
}

/* LMOVE's and BLMOVE's LEFT or RIGHT. */
static bool list_end(struct slice arg, bool *head)
{
    *head = cmd_arg_is(arg, "left");
    return *head || cmd_arg_is(arg, "right");
}

static void list_move(struct cmd_context *context, const struct slice *args, bool from_head,
                      bool to_head)
{
    uint32_t source_index = 0;
    if (!list_write_find(context, args[1], &source_index, reply_null_missing)) {
        return;
    }
    uint32_t value_index = 0;
    enum store_status status = store_list_move(context->store, source_index, args[2], from_head,
                                               to_head, &value_index);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_bulk(&context->reply, store_value(context->store, value_index));
}

CMD_HANDLER(cmd_lmove)
{
    KV_ASSERT(arg_count == 5);
    bool from_head = false;
    bool to_head = false;
    if (!list_end(args[3], &from_head) || !list_end(args[4], &to_head)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    list_move(context, args, from_head, to_head);
}

CMD_HANDLER(cmd_rpoplpush)
{
    KV_ASSERT(arg_count == 3);
    list_move(context, args, false, true);
}

static const struct cmd list_cmds[] = {
    {"lpush", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_lpush},
    {"rpush", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_rpush},
    {"lrange", 4, 1, 1, 1, 0, lrange_reply_max, cmd_lrange},
    {"llen", 2, 1, 1, 1, 0, cmd_reply_small, cmd_llen},
    {"lpop", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, pop_reply_max, cmd_lpop},
    {"rpop", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, pop_reply_max, cmd_rpop},
    {"lpushx", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_lpushx},
    {"rpushx", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_rpushx},
    {"lindex", 3, 1, 1, 1, 0, cmd_reply_value, cmd_lindex},
    {"lset", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_lset},
    {"lrem", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_lrem},
    {"ltrim", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_ltrim},
    {"linsert", 5, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS_ONE, cmd_reply_small, cmd_linsert},
    {"lpos", -3, 1, 1, 1, 0, lpos_reply_max, cmd_lpos},
    {"lmove", 5, 1, 2, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS_ONE, cmd_reply_value, cmd_lmove},
    {"rpoplpush", 3, 1, 2, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS_ONE, cmd_reply_value, cmd_rpoplpush},
};

CMD_FAMILY(cmd_family_list, "list", list_cmds);
