/*
 * List commands: LPUSH, RPUSH, LRANGE, LLEN, LPOP, RPOP, with Redis's index rules (negative
 * indexes count from the tail, out-of-range ones are clamped) and its reply shapes (a null
 * bulk for a plain pop of a missing key, a null array when a count was given). A push is
 * all-or-nothing: past list_length_max it is refused and the list stays as it was.
 */
#include "cmd_handlers.h"

#include "number.h"

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
    return cmd_reply_elements(context->plan,
                              lrange_elements_max(args, arg_count, context->plan->list_length_max));
}

static uint32_t pop_reply_max(const struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count)
{
    return cmd_reply_elements(context->plan,
                              pop_elements_max(args, arg_count, context->plan->list_length_max));
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

/* Finds a list for a read, counting the keyspace hit or miss; answers WRONGTYPE itself. */
static enum store_status list_read(struct cmd_context *context, struct slice key,
                                   uint32_t *key_index)
{
    enum store_status status = store_find_list(context->store, key, key_index);
    if (status == STORE_NOT_FOUND) {
        context->stats->keyspace_misses++;
        return status;
    }
    context->stats->keyspace_hits++;
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    }
    return status;
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
    enum store_status status = list_read(context, args[1], &key_index);
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
    enum store_status status = list_read(context, args[1], &key_index);
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

static const struct cmd list_cmds[] = {
    {"lpush", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_lpush},
    {"rpush", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_rpush},
    {"lrange", 4, 1, 1, 1, 0, lrange_reply_max, cmd_lrange},
    {"llen", 2, 1, 1, 1, 0, cmd_reply_small, cmd_llen},
    {"lpop", -2, 1, 1, 1, CMD_FLAG_WRITE, pop_reply_max, cmd_lpop},
    {"rpop", -2, 1, 1, 1, CMD_FLAG_WRITE, pop_reply_max, cmd_rpop},
};

CMD_FAMILY(cmd_family_list, list_cmds);
