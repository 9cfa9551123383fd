/*
 * Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HEXISTS, HSTRLEN, HGETALL,
 * HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN, with Redis 7.0's replies and errors.
 * Fields come back in insertion order, as Redis returns a small hash's. A write past kv's
 * limits (a field longer than key_size_max, a value longer than val_size_max, more than
 * list_length_max fields) gets kv's error and changes nothing. Each command finds its key
 * once and hands the record to the write (store_hash.h): HINCRBY reads and writes a field
 * with one probe of the key table.
 */
#include "cmd_handlers.h"

#include <math.h>

#include "glob.h"
#include "number.h"
#include "store_hash.h"

/* "$<length>\r\n...\r\n" of an argument of `bytes` at most. */
static uint64_t bulk_bound(uint32_t bytes)
{
    uint64_t bound = 1u + 10u + 2u + (uint64_t)bytes + 2u;
    KV_ASSERT(bound > bytes);
    return bound;
}

/* An array of `pairs` fields and/or values (which ones: with_fields, with_values), plus room
 * for an error instead; at most the send buffer (sized for a maximal HGETALL). */
static uint32_t pairs_reply_bound(const struct cmd_context *context, uint64_t pairs,
                                  bool with_fields, bool with_values)
{
    KV_ASSERT(with_fields || with_values);
    uint64_t each = (with_fields ? bulk_bound(context->config->key_size_max) : 0) +
                    (with_values ? bulk_bound(context->config->val_size_max) : 0);
    uint64_t bytes = 16u + pairs * each + PLAN_REPLY_ERROR_BYTES;
    uint32_t bound = bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                              : context->plan->send_buffer_bytes;
    KV_ASSERT(bound <= context->plan->send_buffer_bytes);
    return bound;
}

/* HGETALL, HKEYS, HVALS, HSCAN: the whole hash, as long as it can be when the command runs. */
static uint32_t whole_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count, bool with_fields, bool with_values)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t worst = pairs_reply_bound(context, context->plan->list_length_max, with_fields,
                                       with_values);
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    uint32_t bound = pairs_reply_bound(context, cmd_length_bound(context, args[1], STORE_TYPE_HASH),
                                       with_fields, with_values);
    KV_ASSERT(bound <= worst);
    return bound;
}

static uint32_t hgetall_reply_max(const struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    return whole_reply_max(context, args, arg_count, true, true);
}

static uint32_t hkeys_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    return whole_reply_max(context, args, arg_count, true, false);
}

static uint32_t hvals_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    return whole_reply_max(context, args, arg_count, false, true);
}

static uint32_t hmget_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    (void)args;
    KV_ASSERT(arg_count >= 3);
    return pairs_reply_bound(context, arg_count - 2u, false, true);
}

static const struct list_node *node_at(const struct cmd_context *context, uint32_t node_index)
{
    KV_ASSERT(pool_is_used(&context->store->nodes, node_index));
    return list_node(&context->store->nodes, node_index);
}

/* A hash node's field (every hash node holds one). */
static struct slice node_field(const struct cmd_context *context, uint32_t node_index)
{
    const struct list_node *node = node_at(context, node_index);
    KV_ASSERT(node->field_index != LIST_NONE);
    return store_field(context->store, node->field_index);
}

/* A hash node's value (every hash node holds one). */
static struct slice node_value(const struct cmd_context *context, uint32_t node_index)
{
    const struct list_node *node = node_at(context, node_index);
    KV_ASSERT(node->value_index != LIST_NONE);
    return store_value(context->store, node->value_index);
}

/* HSET and HMSET: an odd number of field/value arguments is an arity error, as in Redis. */
/* HSET, HMSET, HSETNX: `pair_count` pairs from args[2] at the key; false after the error. */
static bool hash_put_pairs(struct cmd_context *context, const struct slice *args,
                           uint32_t pair_count, bool only_new, uint32_t *added)
{
    KV_ASSERT(pair_count > 0);
    struct store_found found;
    store_find_typed(context->store, args[1], STORE_TYPE_HASH, &found);
    enum store_status status =
        store_hash_set(context->store, &found, args[1], args + 2, pair_count, only_new, added);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    KV_ASSERT(*added <= pair_count);
    return true;
}

static void hash_set(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                     const char *name, bool count_reply)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    if (arg_count % 2 != 0) {
        reply_error_arity(&context->reply, name);
        return;
    }
    uint32_t added = 0;
    if (hash_put_pairs(context, args, (arg_count - 2) / 2, false, &added)) {
        count_reply ? reply_integer(&context->reply, added) : reply_ok(&context->reply);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_hset)
{
    KV_ASSERT(arg_count >= 4);
    hash_set(context, args, arg_count, "hset", true);
}

CMD_HANDLER(cmd_hmset)
{
    KV_ASSERT(arg_count >= 4);
    hash_set(context, args, arg_count, "hmset", false);
}

CMD_HANDLER(cmd_hsetnx)
{
    KV_ASSERT(arg_count == 4);
    uint32_t reply_before = context->reply.length;
    uint32_t added = 0;
    if (hash_put_pairs(context, args, 1, true, &added)) {
        KV_ASSERT(added <= 1);
        reply_integer(&context->reply, added);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

/* The node of a field in the hash read (status from cmd_read), or false. */
static bool read_field(const struct cmd_context *context, enum store_status status,
                       const struct store_found *found, struct slice field, uint32_t *node_index)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_HASH);
    return status == STORE_OK &&
           store_hash_field(context->store, found->key_index, field, node_index);
}

CMD_HANDLER(cmd_hget)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    uint32_t node_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (read_field(context, status, &found, args[2], &node_index)) {
        reply_bulk(&context->reply, node_value(context, node_index));
    } else {
        reply_null(&context->reply);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_hmget)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    reply_array(&context->reply, arg_count - 2);
    for (uint32_t index = 2; index < arg_count; index++) {
        uint32_t node_index = 0;
        if (read_field(context, status, &found, args[index], &node_index)) {
            reply_bulk(&context->reply, node_value(context, node_index));
        } else {
            reply_null(&context->reply);
        }
    }
    KV_ASSERT(context->reply.length <= context->reply.capacity);
}

CMD_HANDLER(cmd_hdel)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    uint32_t removed =
        status == STORE_OK ? store_hash_delete(context->store, &found, args + 2, arg_count - 2)
                           : 0;
    KV_ASSERT(removed <= arg_count - 2);
    reply_integer(&context->reply, removed);
}

CMD_HANDLER(cmd_hlen)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status != STORE_WRONGTYPE) {
        uint32_t length =
            status == STORE_OK ? store_key(context->store, found.key_index)->list.count : 0;
        KV_ASSERT(length <= context->store->list_length_max);
        reply_integer(&context->reply, length);
    }
}

CMD_HANDLER(cmd_hexists)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    uint32_t node_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status != STORE_WRONGTYPE) {
        reply_integer(&context->reply, read_field(context, status, &found, args[2], &node_index));
    }
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_hstrlen)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    uint32_t node_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    bool present = read_field(context, status, &found, args[2], &node_index);
    reply_integer(&context->reply, present ? node_value(context, node_index).length : 0);
    KV_ASSERT(context->reply.length > reply_before);
}

/* Whether a field is selected: every field without a pattern (HSCAN's MATCH). */
static bool field_selected(const struct slice *pattern, struct slice field)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, field, false);
}

/* HGETALL, HKEYS and HVALS: every field and/or value, in insertion order, optionally only the
 * fields matching a pattern (HSCAN, whose cursor the caller answered). */
static void reply_whole(struct cmd_context *context, uint32_t key_index, bool with_fields,
                        bool with_values, const struct slice *pattern)
{
    const struct store_key *key = store_key(context->store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_HASH);
    uint32_t selected = 0;
    uint32_t node_index = key->list.head;
    /* Two walks bounded by the hash's count: count the matches, then answer them. */
    for (uint32_t step = 0; pattern != NULL && step < key->list.count; step++) {
        selected += field_selected(pattern, node_field(context, node_index)) ? 1 : 0;
        node_index = node_at(context, node_index)->next;
    }
    selected = pattern != NULL ? selected : key->list.count;
    KV_ASSERT(selected <= key->list.count);
    reply_array(&context->reply, selected * ((with_fields ? 1u : 0u) + (with_values ? 1u : 0u)));
    node_index = key->list.head;
    for (uint32_t step = 0; step < key->list.count; step++) {
        struct slice field = node_field(context, node_index);
        if (field_selected(pattern, field)) {
            if (with_fields) {
                reply_bulk(&context->reply, field);
            }
            if (with_values) {
                reply_bulk(&context->reply, node_value(context, node_index));
            }
        }
        node_index = node_at(context, node_index)->next;
    }
}

static void hash_whole(struct cmd_context *context, const struct slice *args, bool with_fields,
                       bool with_values)
{
    KV_ASSERT(with_fields || with_values);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 0);
    } else if (status == STORE_OK) {
        reply_whole(context, found.key_index, with_fields, with_values, NULL);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_hgetall)
{
    KV_ASSERT(arg_count == 2);
    hash_whole(context, args, true, true);
}

CMD_HANDLER(cmd_hkeys)
{
    KV_ASSERT(arg_count == 2);
    hash_whole(context, args, true, false);
}

CMD_HANDLER(cmd_hvals)
{
    KV_ASSERT(arg_count == 2);
    hash_whole(context, args, false, true);
}

/* Finds the hash of HINCRBY/HINCRBYFLOAT (creates nothing): *current is the field's value,
 * or an empty slice with *present false when the hash or the field is missing. False after
 * answering WRONGTYPE. */
static bool hash_current(struct cmd_context *context, const struct slice *args,
                         struct store_found *found, bool *present, struct slice *current)
{
    uint32_t node_index = 0;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_HASH, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    *present = status == STORE_OK &&
               store_hash_field(context->store, found->key_index, args[2], &node_index);
    *current = *present ? node_value(context, node_index) : (struct slice){0};
    KV_ASSERT(*present || current->length == 0);
    return true;
}

/* Stores a computed value at one field of the hash found (HINCRBY, HINCRBYFLOAT); false
 * after an error. */
static bool hash_put(struct cmd_context *context, const struct slice *args,
                     const struct store_found *found, struct slice value)
{
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_HASH);
    struct slice pair[2] = {args[2], value};
    uint32_t added = 0;
    enum store_status status =
        store_hash_set(context->store, found, args[1], pair, 1, false, &added);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    KV_ASSERT(added <= 1);
    return true;
}

/* HINCRBY's sum, with Redis's overflow check; false after answering the error. */
static bool hincrby_sum(struct cmd_context *context, bool present, struct slice current,
                        int64_t increment, int64_t *value)
{
    KV_ASSERT(present || current.length == 0);
    *value = 0;
    if (present && !number_parse_int64(current.bytes, current.length, value)) {
        reply_error(&context->reply, REPLY_ERROR_HASH_NOT_INTEGER);
        return false;
    }
    if ((increment < 0 && *value < 0 && increment < INT64_MIN - *value) ||
        (increment > 0 && *value > 0 && increment > INT64_MAX - *value)) {
        reply_error(&context->reply, REPLY_ERROR_INCREMENT_OVERFLOW);
        return false;
    }
    *value += increment;
    return true;
}

CMD_HANDLER(cmd_hincrby)
{
    KV_ASSERT(arg_count == 4);
    int64_t increment = 0;
    if (!number_parse_int64(args[3].bytes, args[3].length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    struct store_found found;
    bool present = false;
    struct slice current;
    int64_t value = 0;
    if (!hash_current(context, args, &found, &present, &current) ||
        !hincrby_sum(context, present, current, increment, &value)) {
        return;
    }
    char text[NUMBER_INT64_BYTES];
    uint32_t length = number_format_int64(value, text);
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = length};
    KV_ASSERT(bytes.length <= NUMBER_INT64_BYTES);
    if (hash_put(context, args, &found, bytes)) {
        reply_integer(&context->reply, value);
    }
}

/* HINCRBYFLOAT's sum as text in `text`; false after answering the error. */
static bool hincrbyfloat_text(struct cmd_context *context, bool present, struct slice current,
                              long double increment, char *text, uint32_t *length)
{
    KV_ASSERT(present || current.length == 0);
    KV_ASSERT(!isnan(increment));
    long double value = 0;
    if (present && !number_parse_long_double(current.bytes, current.length, &value)) {
        reply_error(&context->reply, REPLY_ERROR_HASH_NOT_FLOAT);
        return false;
    }
    value += increment;
    if (isnan(value) || isinf(value)) {
        reply_error(&context->reply, REPLY_ERROR_INCREMENT_NAN);
        return false;
    }
    *length = number_format_long_double(value, text, NUMBER_LONG_DOUBLE_BYTES);
    KV_ASSERT(*length <= NUMBER_LONG_DOUBLE_BYTES);
    return true;
}

CMD_HANDLER(cmd_hincrbyfloat)
{
    KV_ASSERT(arg_count == 4);
    uint32_t reply_before = context->reply.length;
    long double increment = 0;
    if (!number_parse_long_double(args[3].bytes, args[3].length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
        return;
    }
    if (isnan(increment) || isinf(increment)) {
        reply_error(&context->reply, REPLY_ERROR_NAN_OR_INFINITY);
        return;
    }
    struct store_found found;
    bool present = false;
    struct slice current;
    char text[NUMBER_LONG_DOUBLE_BYTES];
    uint32_t length = 0;
    if (!hash_current(context, args, &found, &present, &current) ||
        !hincrbyfloat_text(context, present, current, increment, text, &length)) {
        return;
    }
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = length};
    if (length == 0) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
    } else if (hash_put(context, args, &found, bytes)) {
        reply_bulk(&context->reply, bytes);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

/* A xorshift64* generator for HRANDFIELD, seeded from the store's hash seed. */
static uint64_t random_next(const struct store *store)
{
    static uint64_t state;
    if (state == 0) {
        state = (store->seed ^ 0x9E3779B97F4A7C15ull) | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    KV_ASSERT(state != 0); /* xorshift never reaches 0 from a non-zero state */
    return state * 0x2545F4914F6CDD1Dull;
}

/* HRANDFIELD's count, as Redis 7.0 reads it (-LONG_MAX .. LONG_MAX). */
static bool hrandfield_count(struct cmd_context *context, struct slice arg, int64_t *count)
{
    if (!number_parse_int64(arg.bytes, arg.length, count)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (*count == INT64_MIN) {
        reply_error(&context->reply, REPLY_ERROR_INT64_RANGE);
        return false;
    }
    KV_ASSERT(*count > INT64_MIN); /* its magnitude fits */
    return true;
}

static uint32_t hrandfield_reply_max(const struct cmd_context *context, const struct slice *args,
                                     uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    int64_t count = 0;
    if (arg_count < 3 || !number_parse_int64(args[2].bytes, args[2].length, &count) ||
        count == INT64_MIN) {
        return pairs_reply_bound(context, 1, true, false);
    }
    uint64_t magnitude = count < 0 ? (uint64_t)-count : (uint64_t)count;
    bool with_values = arg_count == 4;
    return pairs_reply_bound(context, magnitude, true, with_values);
}

/* HRANDFIELD's fields (and values): distinct ones, a window of `replies` consecutive nodes
 * from a random start (each node at most once); repeated ones, an independent random node
 * each time. Bounded by replies times the hash's count. */
static void hrandfield_reply(struct cmd_context *context, const struct store_key *key,
                             uint64_t replies, bool repeat, bool with_values)
{
    uint32_t length = key->list.count;
    KV_ASSERT(length > 0);
    KV_ASSERT(repeat || replies <= length);
    uint32_t start = (uint32_t)(random_next(context->store) % length);
    for (uint64_t reply = 0; reply < replies; reply++) {
        uint32_t position = repeat ? (uint32_t)(random_next(context->store) % length)
                                   : (uint32_t)((start + reply) % length);
        uint32_t node_index = list_node_at(&context->store->nodes, &key->list, position);
        reply_bulk(&context->reply, node_field(context, node_index));
        if (with_values) {
            reply_bulk(&context->reply, node_value(context, node_index));
        }
    }
}

CMD_HANDLER(cmd_hrandfield)
{
    KV_ASSERT(arg_count >= 2);
    int64_t count = 0;
    bool counted = arg_count >= 3;
    bool with_values = arg_count == 4 && cmd_arg_is(args[3], "withvalues");
    if (arg_count > 4 || (arg_count == 4 && !with_values)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (counted && !hrandfield_count(context, args[2], &count)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND || (counted && count == 0)) {
        counted ? reply_array(&context->reply, 0) : reply_null(&context->reply);
        return;
    }
    const struct store_key *key = store_key(context->store, found.key_index);
    uint32_t length = key->list.count;
    KV_ASSERT(length > 0); /* a hash is never empty */
    bool repeat = count < 0;
    uint64_t wanted = !counted ? 1 : repeat ? (uint64_t)-count : (uint64_t)count;
    uint64_t replies = repeat ? wanted : (wanted < length ? wanted : length);
    uint64_t bytes = 16 + replies * (bulk_bound(context->config->key_size_max) +
                                     (with_values ? bulk_bound(context->config->val_size_max) : 0));
    if (bytes > context->reply.capacity - context->reply.length) {
        reply_error_format(&context->reply, REPLY_ERROR_HRANDFIELD_TOO_LARGE,
                           context->reply.capacity);
        return;
    }
    if (counted) {
        reply_array(&context->reply, (uint32_t)(replies * (with_values ? 2u : 1u)));
    }
    hrandfield_reply(context, key, replies, repeat, with_values);
}

/* HSCAN key cursor [MATCH pattern] [COUNT count]: a hash is small (list_length_max fields),
 * so like Redis with a listpack hash it answers every match at once, with cursor 0. */
CMD_HANDLER(cmd_hscan)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    uint32_t key_index = 0;
    const struct slice *pattern = NULL;
    if (cmd_collection_scan(context, args, arg_count, STORE_TYPE_HASH, &key_index, &pattern)) {
        reply_whole(context, key_index, true, true, pattern);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

static uint32_t hscan_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    return whole_reply_max(context, args, arg_count, true, true);
}

static const struct cmd hash_cmds[] = {
    {"hset", -4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_hset},
    {"hmset", -4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_hmset},
    {"hsetnx", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_hsetnx},
    {"hget", 3, 1, 1, 1, 0, cmd_reply_value, cmd_hget},
    {"hmget", -3, 1, 1, 1, 0, hmget_reply_max, cmd_hmget},
    {"hdel", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_hdel},
    {"hlen", 2, 1, 1, 1, 0, cmd_reply_small, cmd_hlen},
    {"hexists", 3, 1, 1, 1, 0, cmd_reply_small, cmd_hexists},
    {"hstrlen", 3, 1, 1, 1, 0, cmd_reply_small, cmd_hstrlen},
    {"hgetall", 2, 1, 1, 1, 0, hgetall_reply_max, cmd_hgetall},
    {"hkeys", 2, 1, 1, 1, 0, hkeys_reply_max, cmd_hkeys},
    {"hvals", 2, 1, 1, 1, 0, hvals_reply_max, cmd_hvals},
    {"hincrby", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_hincrby},
    {"hincrbyfloat", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_value,
     cmd_hincrbyfloat},
    {"hrandfield", -2, 1, 1, 1, 0, hrandfield_reply_max, cmd_hrandfield},
    {"hscan", -3, 1, 1, 1, 0, hscan_reply_max, cmd_hscan},
};

CMD_FAMILY(cmd_family_hash, "hash", hash_cmds);
