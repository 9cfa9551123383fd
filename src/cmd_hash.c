/*
 * Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HEXISTS, HSTRLEN, HGETALL,
 * HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN, with Redis 7.0's replies and errors.
 * A small hash (a pack) answers in insertion order, as Redis answers a listpack hash; a large
 * one (a table) in its bucket order, which Redis does not define either. HSCAN answers a
 * small hash whole with cursor 0, as Redis does a listpack, and walks a large one with
 * SCAN cursors, COUNT elements at a time, as Redis does a dict. A write past kv's caps, when
 * set (a field longer than key_size_max, a value longer than val_size_max, more than
 * list_length_max fields), gets kv's error, and one the heap has no room for gets Redis's
 * OOM error; either changes nothing. Each command finds its key once and hands the record to
 * the write (store_hash.h).
 */
#include "cmd_handlers.h"
#include "notify.h"

#include <math.h>

#include "glob.h"
#include "number.h"
#include "store_hash.h"

/* HSCAN's COUNT when none is given (Redis's). */
#define HSCAN_COUNT_DEFAULT 10u

/* HSET, HMSET, HSETNX: `pair_count` pairs from args[2] at the key; false after the error. */
static bool hash_put_pairs(struct cmd_context *context, const struct slice *args,
                           uint32_t pair_count, bool only_new, uint32_t *added)
{
    KV_ASSERT(pair_count > 0);
    struct store_found found;
    (void)store_find_typed(context->store, args[1], STORE_TYPE_HASH, &found);
    enum store_status status =
        store_hash_set(context->store, &found, args[1], args + 2, pair_count, only_new, added);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    KV_ASSERT(*added <= pair_count);
    return true;
}

/* HSET and HMSET: an odd number of field/value arguments is an arity error, as in Redis. */
static void hash_set(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                     const char *name, bool count_reply)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    if (arg_count % 2 != 0) {
        reply_error_arity(&context->reply, name);
        return;
    }
    uint32_t added = 0;
    if (hash_put_pairs(context, args, (arg_count - 2) / 2, false, &added)) {
        /* The reply, then the event (Redis's order, which a RESP3 subscriber sees). */
        count_reply ? reply_integer(&context->reply, added) : reply_ok(&context->reply);
        notify_event(NOTIFY_HASH, "hset", args[1]);
    }
    KV_ASSERT(context->reply.total > reply_before);
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
    uint64_t reply_before = context->reply.total;
    uint32_t added = 0;
    if (hash_put_pairs(context, args, 1, true, &added)) {
        KV_ASSERT(added <= 1);
        reply_integer(&context->reply, added);
        if (added > 0) {
            notify_event(NOTIFY_HASH, "hset", args[1]);
        }
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* The value of a field in the hash read (status from cmd_read), or false. */
static bool read_field(const struct cmd_context *context, enum store_status status,
                       const struct store_found *found, struct slice field, struct slice *value)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_HASH);
    return status == STORE_OK && store_hash_get(context->store, found->key_ref, field, value);
}

CMD_HANDLER(cmd_hget)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    struct slice value;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (read_field(context, status, &found, args[2], &value)) {
        reply_bulk(&context->reply, value);
    } else {
        reply_null(&context->reply);
    }
    KV_ASSERT(context->reply.total > reply_before);
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
        struct slice value;
        if (read_field(context, status, &found, args[index], &value)) {
            reply_bulk(&context->reply, value);
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
    uint32_t removed = 0;
    if (status == STORE_OK) {
        status = store_hash_delete(context->store, &found, args + 2, arg_count - 2, &removed);
    }
    if (status == STORE_OOM) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(removed <= arg_count - 2);
    if (removed > 0) {
        notify_event(NOTIFY_HASH, "hdel", args[1]);
        uint32_t key_ref = HEAP_REF_NONE;
        if (!store_peek(context->store, args[1], &key_ref)) {
            notify_event(NOTIFY_GENERIC, "del", args[1]);
        }
    }
    reply_integer(&context->reply, removed);
}

CMD_HANDLER(cmd_hlen)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status != STORE_WRONGTYPE) {
        uint64_t length = status == STORE_OK ? store_hash_length(context->store, found.key_ref) : 0;
        KV_ASSERT(length <= context->store->limits.length_max);
        reply_integer(&context->reply, (int64_t)length);
    }
}

CMD_HANDLER(cmd_hexists)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    struct slice value;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status != STORE_WRONGTYPE) {
        reply_integer(&context->reply, read_field(context, status, &found, args[2], &value));
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_hstrlen)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    struct slice value = {0};
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    bool present = read_field(context, status, &found, args[2], &value);
    reply_integer(&context->reply, present ? value.length : 0);
    KV_ASSERT(context->reply.total > reply_before);
}

/* Whether a field is selected: every field without a pattern (HSCAN's MATCH). */
static bool field_selected(const struct slice *pattern, struct slice field)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, field, false);
}

/* What HGETALL, HKEYS, HVALS and HSCAN answer: fields and/or values, only those matching a
 * pattern (HSCAN's MATCH) when there is one. A first pass counts the matches (the array's
 * length comes first), a second answers them. */
struct whole_reply {
    struct reply *reply;
    const struct slice *pattern; /* MATCH, or NULL */
    bool with_fields;
    bool with_values;
    bool map;                    /* HGETALL: a map of field to value (RESP3) */
    bool answering;              /* the second pass */
    uint64_t selected;           /* fields matching, counted by the first pass */
};

static void whole_visit(void *context, struct slice field, struct slice value)
{
    struct whole_reply *whole = context;
    KV_ASSERT(whole->with_fields || whole->with_values);
    if (!field_selected(whole->pattern, field)) {
        return;
    }
    if (!whole->answering) {
        whole->selected++;
        return;
    }
    if (whole->with_fields) {
        reply_bulk(whole->reply, field);
    }
    if (whole->with_values) {
        reply_bulk(whole->reply, value);
    }
}

/* The array head of `selected` fields and/or values. */
static void whole_head(struct whole_reply *whole)
{
    uint64_t elements = whole->selected * ((whole->with_fields ? 1u : 0u) +
                                           (whole->with_values ? 1u : 0u));
    KV_ASSERT(!whole->map || (whole->with_fields && whole->with_values));
    if (whole->map) {
        reply_map(whole->reply, whole->selected);
    } else {
        reply_array(whole->reply, elements);
    }
    whole->answering = true;
}

/* HGETALL, HKEYS and HVALS: every field and/or value, in the hash's order, optionally only
 * the fields matching a pattern (HSCAN of a pack, whose cursor the caller answered). */
static void reply_whole(struct cmd_context *context, uint32_t key_ref, bool with_fields,
                        bool with_values, const struct slice *pattern, bool map)
{
    struct whole_reply whole = {.reply = &context->reply, .pattern = pattern,
                                .with_fields = with_fields, .with_values = with_values,
                                .map = map};
    uint64_t length = store_hash_length(context->store, key_ref);
    if (pattern != NULL && !glob_is_all(*pattern)) {
        store_hash_each(context->store, key_ref, whole_visit, &whole);
    } else {
        whole.selected = length;
    }
    KV_ASSERT(whole.selected <= length);
    whole_head(&whole);
    store_hash_each(context->store, key_ref, whole_visit, &whole);
}

static void hash_whole(struct cmd_context *context, const struct slice *args, bool with_fields,
                       bool with_values)
{
    KV_ASSERT(with_fields || with_values);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    if (status == STORE_NOT_FOUND) {
        with_fields && with_values ? reply_map(&context->reply, 0) : reply_array(&context->reply, 0);
    } else if (status == STORE_OK) {
        /* HGETALL (fields and values) is a map; HSCAN's pairs stay a flat array. */
        reply_whole(context, found.key_ref, with_fields, with_values, NULL,
                    with_fields && with_values);
    }
    KV_ASSERT(context->reply.total > reply_before);
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
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_HASH, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    *current = (struct slice){0};
    *present = status == STORE_OK &&
               store_hash_get(context->store, found->key_ref, args[2], current);
    KV_ASSERT(*present || current->length == 0);
    return true;
}

/* Stores a computed value at one field of the hash found (HINCRBY, HINCRBYFLOAT); false
 * after an error. */
static bool hash_put(struct cmd_context *context, const struct slice *args,
                     struct store_found *found, struct slice value)
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
        notify_event(NOTIFY_HASH, "hincrby", args[1]);
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
    uint64_t reply_before = context->reply.total;
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
        notify_event(NOTIFY_HASH, "hincrbyfloat", args[1]);
    }
    KV_ASSERT(context->reply.total > reply_before);
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

/* HRANDFIELD's answers: each field, and its value when asked. */
struct random_reply {
    struct reply *reply;
    bool with_values;
};

static void random_visit(void *context, struct slice field, struct slice value)
{
    struct random_reply *random = context;
    if (random->with_values) {
        reply_pair(random->reply); /* RESP3: each field and value an array of 2 */
    }
    reply_bulk(random->reply, field);
    if (random->with_values) {
        reply_bulk(random->reply, value);
    }
}

/* HRANDFIELD's fields (and values), as Redis 7.0 picks them: a count of at least the hash's
 * length answers the whole hash in its order; a smaller positive one distinct fields, a
 * window of consecutive ones from a random place; a negative one independent random fields,
 * repeats allowed. */
static void hrandfield_reply(struct cmd_context *context, uint32_t key_ref, uint64_t replies,
                             bool repeat, bool with_values)
{
    uint64_t length = store_hash_length(context->store, key_ref);
    KV_ASSERT(length > 0);
    KV_ASSERT(repeat || replies <= length);
    struct random_reply random = {.reply = &context->reply, .with_values = with_values};
    if (!repeat && replies == length) {
        store_hash_each(context->store, key_ref, random_visit, &random);
        return;
    }
    if (!repeat) {
        store_hash_window(context->store, key_ref, replies, random_visit, &random);
        return;
    }
    /* Bounded by replies (the count asked for), and stops once the reply found no memory:
     * its client is closed after the command, so the rest would only be dropped. */
    for (uint64_t reply = 0; reply < replies && !context->reply.failed; reply++) {
        struct slice field;
        struct slice value;
        store_hash_random(context->store, key_ref, &field, &value);
        random_visit(&random, field, value);
    }
}

/* HRANDFIELD's arguments after the key, in Redis's order: the count, then WITHVALUES; false
 * after answering the error. */
static bool hrandfield_args(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count, int64_t *count, bool *with_values)
{
    KV_ASSERT(arg_count >= 3);
    if (!hrandfield_count(context, args[2], count)) {
        return false;
    }
    *with_values = arg_count == 4 && cmd_arg_is(args[3], "withvalues");
    if (arg_count > 4 || (arg_count == 4 && !*with_values)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    return true;
}

CMD_HANDLER(cmd_hrandfield)
{
    KV_ASSERT(arg_count >= 2);
    int64_t count = 0;
    bool counted = arg_count >= 3;
    bool with_values = false;
    if (counted && !hrandfield_args(context, args, arg_count, &count, &with_values)) {
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
    uint64_t length = store_hash_length(context->store, found.key_ref);
    KV_ASSERT(length > 0); /* a hash is never empty */
    bool repeat = count < 0;
    uint64_t wanted = !counted ? 1 : repeat ? (uint64_t)-count : (uint64_t)count;
    uint64_t replies = repeat ? wanted : (wanted < length ? wanted : length);
    if (counted) {
        with_values ? reply_pairs(&context->reply, replies) : reply_array(&context->reply, replies);
    }
    hrandfield_reply(context, found.key_ref, replies, repeat, with_values);
}

/* HSCAN's options: MATCH pattern, COUNT count (at least 1; Redis's default 10), each
 * checked as Redis checks them; false after answering the error. */
static bool hscan_options(struct cmd_context *context, const struct slice *args,
                          uint32_t arg_count, const struct slice **pattern, uint64_t *count)
{
    KV_ASSERT(arg_count >= 3); /* the command, the key and the cursor come first */
    *pattern = NULL;
    *count = HSCAN_COUNT_DEFAULT;
    /* Bounded by the arguments, two at a time. */
    for (uint32_t index = 3; index < arg_count; index += 2) {
        int64_t value = 0;
        bool ok = index + 1 < arg_count;
        if (ok && cmd_arg_is(args[index], "count")) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &value)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            ok = value >= 1;
            *count = ok ? (uint64_t)value : *count;
        } else if (ok && cmd_arg_is(args[index], "match")) {
            *pattern = &args[index + 1];
        } else {
            ok = false;
        }
        if (!ok) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    KV_ASSERT(*count >= 1);
    return true;
}

/* A table's HSCAN step, as Redis's scanGenericCommand loops over a dict: SCAN calls until
 * the cursor is 0, COUNT elements (a field and its value count two) were met, or 1 + 10 *
 * COUNT calls were made. The first pass counts the matches and finds where the step ends,
 * the second answers them: the table does not change in between. */
struct hscan_step {
    struct whole_reply whole; /* the matches, counted then answered */
    uint64_t elements;        /* fields and values met, matching or not */
};

static void hscan_visit(void *context, struct slice field, struct slice value)
{
    struct hscan_step *step = context;
    KV_ASSERT(step->elements % 2 == 0); /* a field and its value each time */
    step->elements += 2;
    whole_visit(&step->whole, field, value);
}

static void hscan_table(struct cmd_context *context, uint32_t key_ref, uint64_t cursor,
                        const struct slice *pattern, uint64_t count)
{
    struct hscan_step step = {.whole = {.reply = &context->reply, .pattern = pattern,
                                        .with_fields = true, .with_values = true}};
    /* Redis doubles COUNT for a hash (a field and its value are two elements), and tries
     * 10 * that many calls at most. */
    uint64_t wanted = count <= UINT64_MAX / 2 ? count * 2 : UINT64_MAX;
    uint64_t calls_max = wanted < (UINT64_MAX - 1) / 10 ? 1 + 10 * wanted : UINT64_MAX;
    uint64_t next = cursor;
    uint64_t calls = 0;
    /* Bounded by calls_max, and by a full cycle of cursors (which ends at 0). */
    do {
        next = store_hash_scan(context->store, key_ref, next, hscan_visit, &step);
        calls++;
    } while (next != 0 && calls < calls_max && step.elements < wanted);
    char text[NUMBER_INT64_BYTES];
    uint32_t length = number_format_uint64(next, text);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)text, .length = length});
    whole_head(&step.whole);
    uint64_t again = cursor;
    /* The same calls again: the table has not changed. */
    for (uint64_t call = 0; call < calls; call++) {
        again = store_hash_scan(context->store, key_ref, again, hscan_visit, &step);
    }
    KV_ASSERT(again == next);
}

/* HSCAN key cursor [MATCH pattern] [COUNT count]: a pack whole with cursor 0, as Redis
 * answers a listpack; a table from the cursor, as Redis scans a dict. */
CMD_HANDLER(cmd_hscan)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    uint64_t cursor = 0;
    if (!cmd_scan_cursor(args[2], &cursor)) {
        reply_error(&context->reply, REPLY_ERROR_INVALID_CURSOR);
        return;
    }
    static const struct slice cursor_zero = {.bytes = (const uint8_t *)"0", .length = 1};
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_HASH, &found);
    const struct slice *pattern = NULL;
    uint64_t count = 0;
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, cursor_zero);
        reply_array(&context->reply, 0);
    } else if (status == STORE_OK && hscan_options(context, args, arg_count, &pattern, &count)) {
        if (store_hash_packed(context->store, found.key_ref)) {
            reply_array(&context->reply, 2);
            reply_bulk(&context->reply, cursor_zero);
            reply_whole(context, found.key_ref, true, true, pattern, false);
        } else {
            hscan_table(context, found.key_ref, cursor, pattern, count);
        }
    }
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd hash_cmds[] = {
    {"hset", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_hset},
    {"hmset", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_hmset},
    {"hsetnx", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_hsetnx},
    {"hget", 3, 1, 1, 1, 0, cmd_hget},
    {"hmget", -3, 1, 1, 1, 0, cmd_hmget},
    {"hdel", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_hdel},
    {"hlen", 2, 1, 1, 1, 0, cmd_hlen},
    {"hexists", 3, 1, 1, 1, 0, cmd_hexists},
    {"hstrlen", 3, 1, 1, 1, 0, cmd_hstrlen},
    {"hgetall", 2, 1, 1, 1, 0, cmd_hgetall},
    {"hkeys", 2, 1, 1, 1, 0, cmd_hkeys},
    {"hvals", 2, 1, 1, 1, 0, cmd_hvals},
    {"hincrby", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_hincrby},
    {"hincrbyfloat", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_hincrbyfloat},
    {"hrandfield", -2, 1, 1, 1, 0, cmd_hrandfield},
    {"hscan", -3, 1, 1, 1, 0, cmd_hscan},
};

CMD_FAMILY(cmd_family_hash, "hash", hash_cmds);
