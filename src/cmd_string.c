/*
 * String commands: GET, SET (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL), SETNX, SETEX,
 * PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX, APPEND, STRLEN, GETRANGE, SETRANGE,
 * INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT. Replies, errors and the order of checks are
 * Redis 7's; a key or value past kv's limits, or a new key when key_count keys exist, gets
 * kv's error and changes nothing (every limit is checked before the first change).
 */
#include "cmd_handlers.h"

#include <math.h>
#include <string.h>

#include "number.h"
#include "resp.h"
#include "store_internal.h"

/* Finds a key for a read, counting the keyspace hit or miss as Redis's lookupKeyRead. */
static enum store_status string_read(struct cmd_context *context, struct slice key,
                                     uint32_t *key_index)
{
    if (!store_find(context->store, key, key_index)) {
        context->stats->keyspace_misses++;
        return STORE_NOT_FOUND;
    }
    context->stats->keyspace_hits++;
    return store_key(context->store, *key_index)->type == STORE_TYPE_STRING ? STORE_OK
                                                                            : STORE_WRONGTYPE;
}

static struct slice string_value(struct cmd_context *context, uint32_t key_index)
{
    const struct store_key *key = store_key(context->store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_STRING);
    return store_value(context->store, key->value_index);
}

/* Whether a new key may be created: kv's errors for a key too long or a full store. */
static enum store_status key_check_new(const struct store *store, struct slice key)
{
    if (key.length > store->key_size_max) {
        return STORE_KEY_TOO_LONG;
    }
    return store_key_room(store) ? STORE_OK : STORE_FULL;
}

CMD_HANDLER(cmd_get)
{
    KV_ASSERT(arg_count == 2);
    uint32_t key_index = 0;
    enum store_status status = string_read(context, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    } else if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    } else {
        reply_bulk(&context->reply, string_value(context, key_index));
    }
}

/* SET's and GETEX's options, parsed as Redis 7 parses them (parseExtendedStringArguments). */
enum set_flag {
    SET_NX = 1u << 0,
    SET_XX = 1u << 1,
    SET_GET = 1u << 2,
    SET_KEEPTTL = 1u << 3,
    SET_PERSIST = 1u << 4,
    SET_EX = 1u << 5,
    SET_PX = 1u << 6,
    SET_EXAT = 1u << 7,
    SET_PXAT = 1u << 8,
};

#define SET_EXPIRY (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

struct set_options {
    uint32_t flags;
    struct slice expire; /* the time argument of EX/PX/EXAT/PXAT */
};

/* Parses args[first ..]; false after answering Redis's syntax error. */
static bool set_options_parse(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, uint32_t first, bool is_set,
                              struct set_options *options)
{
    options->flags = 0;
    for (uint32_t index = first; index < arg_count; index++) {
        struct slice option = args[index];
        bool has_next = index + 1 < arg_count;
        uint32_t flags = options->flags;
        uint32_t timed = 0;
        if (is_set && cmd_arg_is(option, "nx") && !(flags & SET_XX)) {
            options->flags |= SET_NX;
        } else if (is_set && cmd_arg_is(option, "xx") && !(flags & SET_NX)) {
            options->flags |= SET_XX;
        } else if (is_set && cmd_arg_is(option, "get")) {
            options->flags |= SET_GET;
        } else if (is_set && cmd_arg_is(option, "keepttl") && !(flags & SET_PERSIST) &&
                   !(flags & SET_EXPIRY)) {
            options->flags |= SET_KEEPTTL;
        } else if (!is_set && cmd_arg_is(option, "persist") && !(flags & SET_EXPIRY) &&
                   !(flags & SET_KEEPTTL)) {
            options->flags |= SET_PERSIST;
        } else if (cmd_arg_is(option, "ex")) {
            timed = SET_EX;
        } else if (cmd_arg_is(option, "px")) {
            timed = SET_PX;
        } else if (cmd_arg_is(option, "exat")) {
            timed = SET_EXAT;
        } else if (cmd_arg_is(option, "pxat")) {
            timed = SET_PXAT;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        if (timed != 0) {
            /* One expiry kind, repeatable, never with KEEPTTL or PERSIST, and with a value. */
            if ((flags & (SET_KEEPTTL | SET_PERSIST)) || (flags & SET_EXPIRY & ~timed) ||
                !has_next) {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return false;
            }
            options->flags |= timed;
            options->expire = args[++index];
        }
    }
    return true;
}

/* The absolute expiry time (Unix ms) of EX/PX/EXAT/PXAT, as Redis's
 * getExpireMillisecondsOrReply checks it; false after answering its error. */
static bool expire_time_parse(struct cmd_context *context, const struct set_options *options,
                              const char *command, int64_t *at_ms)
{
    int64_t value = 0;
    if (!number_parse_int64(options->expire.bytes, options->expire.length, &value)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    bool seconds = (options->flags & (SET_EX | SET_EXAT)) != 0;
    bool relative = (options->flags & (SET_EX | SET_PX)) != 0;
    bool valid = value > 0 && (!seconds || value <= INT64_MAX / 1000);
    if (valid) {
        value = seconds ? value * 1000 : value;
        valid = !relative || value <= INT64_MAX - context->store->now_ms;
        value = relative && valid ? value + context->store->now_ms : value;
    }
    if (!valid) {
        reply_error_format(&context->reply, REPLY_ERROR_EXPIRE_TIME_INVALID, command);
        return false;
    }
    *at_ms = value;
    return true;
}

/* Stores a string at a key whose limits were checked: replaces any value; the expiry time
 * becomes at_ms (0: none), or stays as it was with keep_ttl. */
static void string_store(struct cmd_context *context, struct slice key, struct slice value,
                         int64_t at_ms, bool keep_ttl)
{
    struct store *store = context->store;
    uint32_t key_index = 0;
    int64_t kept_ms = 0;
    if (keep_ttl && store_find(store, key, &key_index)) {
        kept_ms = store_key(store, key_index)->expire_at_ms;
    }
    enum store_status status = store_set_string(store, key, value);
    KV_ASSERT(status == STORE_OK);
    int64_t wanted_ms = keep_ttl ? kept_ms : at_ms;
    if (wanted_ms != 0) {
        bool found = store_find(store, key, &key_index);
        KV_ASSERT(found);
        (void)store_expire_set(store, key_index, wanted_ms);
    }
}

/* Every limit a write of `value` at `key` must meet, before anything changes. */
static enum store_status string_write_check(struct cmd_context *context, struct slice key,
                                           struct slice value, bool exists)
{
    if (value.length > context->store->val_size_max) {
        return STORE_VALUE_TOO_LONG;
    }
    return exists ? STORE_OK : key_check_new(context->store, key);
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], and the commands that are
 * SET with fixed options (SETNX, SETEX, PSETEX, GETSET). */
static void set_generic(struct cmd_context *context, struct slice key, struct slice value,
                        const struct set_options *options, const char *command)
{
    int64_t at_ms = 0;
    if ((options->flags & SET_EXPIRY) && !expire_time_parse(context, options, command, &at_ms)) {
        return;
    }
    uint32_t key_index = 0;
    bool exists = store_find(context->store, key, &key_index);
    if (options->flags & SET_GET) {
        enum store_status status = string_read(context, key, &key_index);
        if (status == STORE_WRONGTYPE) {
            reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
            return;
        }
    }
    bool refused = ((options->flags & SET_NX) && exists) || ((options->flags & SET_XX) && !exists);
    enum store_status status = refused ? STORE_OK : string_write_check(context, key, value, exists);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    if (options->flags & SET_GET) {
        if (exists) {
            reply_bulk(&context->reply, string_value(context, key_index));
        } else {
            reply_null(&context->reply);
        }
    }
    if (refused) {
        if (!(options->flags & SET_GET)) {
            reply_null(&context->reply);
        }
        return;
    }
    string_store(context, key, value, at_ms, (options->flags & SET_KEEPTTL) != 0);
    if (!(options->flags & SET_GET)) {
        reply_ok(&context->reply);
    }
}

CMD_HANDLER(cmd_set)
{
    KV_ASSERT(arg_count >= 3);
    struct set_options options;
    if (set_options_parse(context, args, arg_count, 3, true, &options)) {
        set_generic(context, args[1], args[2], &options, "set");
    }
}

CMD_HANDLER(cmd_setnx)
{
    KV_ASSERT(arg_count == 3);
    uint32_t key_index = 0;
    if (store_find(context->store, args[1], &key_index)) {
        reply_integer(&context->reply, 0);
        return;
    }
    enum store_status status = string_write_check(context, args[1], args[2], false);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    string_store(context, args[1], args[2], 0, false);
    reply_integer(&context->reply, 1);
}

static void setex_generic(struct cmd_context *context, const struct slice *args, uint32_t flag,
                          const char *command)
{
    struct set_options options = {.flags = flag, .expire = args[2]};
    set_generic(context, args[1], args[3], &options, command);
}

CMD_HANDLER(cmd_setex)
{
    KV_ASSERT(arg_count == 4);
    setex_generic(context, args, SET_EX, "setex");
}

CMD_HANDLER(cmd_psetex)
{
    KV_ASSERT(arg_count == 4);
    setex_generic(context, args, SET_PX, "psetex");
}

CMD_HANDLER(cmd_getset)
{
    KV_ASSERT(arg_count == 3);
    struct set_options options = {.flags = SET_GET};
    set_generic(context, args[1], args[2], &options, "getset");
}

CMD_HANDLER(cmd_getdel)
{
    KV_ASSERT(arg_count == 2);
    uint32_t key_index = 0;
    enum store_status status = string_read(context, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    } else if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    } else {
        reply_bulk(&context->reply, string_value(context, key_index));
        store_remove(context->store, key_index);
    }
}

CMD_HANDLER(cmd_getex)
{
    KV_ASSERT(arg_count >= 2);
    struct set_options options;
    if (!set_options_parse(context, args, arg_count, 2, false, &options)) {
        return;
    }
    uint32_t key_index = 0;
    enum store_status status = string_read(context, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    int64_t at_ms = 0;
    if ((options.flags & SET_EXPIRY) && !expire_time_parse(context, &options, "getex", &at_ms)) {
        return;
    }
    reply_bulk(&context->reply, string_value(context, key_index));
    if (options.flags & SET_EXPIRY) {
        store_modified(context->store, key_index);
        (void)store_expire_set(context->store, key_index, at_ms); /* a past time removes it */
    } else if ((options.flags & SET_PERSIST) &&
               store_key(context->store, key_index)->expire_at_ms != 0) {
        store_modified(context->store, key_index);
        (void)store_expire_set(context->store, key_index, 0);
    }
}

/* Bytes of the reply a key's value would get now ("$<n>\r\n...\r\n", or a null), or the
 * most any value could take when strings may change before the command runs (EXEC). */
static uint64_t string_reply_bytes(const struct cmd_context *context, struct slice key)
{
    uint32_t key_index = 0;
    if (context->bound.strings_changed) {
        return context->plan->reply_element_bytes;
    }
    if (!store_peek(context->store, key, &key_index) ||
        store_key(context->store, key_index)->type != STORE_TYPE_STRING) {
        return 5; /* "$-1\r\n" */
    }
    uint32_t length = store_value(context->store, store_key(context->store, key_index)->value_index).length;
    return 1u + 10u + 2u + (uint64_t)length + 2u;
}

/* GET, GETDEL, GETEX: the value as it is now, or an error. */
static uint32_t string_get_reply_max(const struct cmd_context *context, const struct slice *args,
                                     uint32_t arg_count)
{
    (void)arg_count;
    uint32_t worst = context->plan->reply_value_bytes;
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    uint64_t bytes = string_reply_bytes(context, args[1]) + PLAN_REPLY_ERROR_BYTES;
    return bytes < worst ? (uint32_t)bytes : worst;
}

/* MGET's reply: an array of the keys' values. */
static uint64_t mget_bytes(const struct cmd_context *context, const struct slice *args,
                           uint32_t arg_count)
{
    uint64_t bytes = 16u;
    for (uint32_t index = 1; index < arg_count; index++) {
        bytes += string_reply_bytes(context, args[index]);
    }
    return bytes;
}

/* MGET: the values as they are now, at most the send buffer (then MGET errs). */
static uint32_t mget_reply_max(const struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count)
{
    uint32_t worst = cmd_reply_elements(context->plan, arg_count - 1u);
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    uint64_t bytes = mget_bytes(context, args, arg_count) + PLAN_REPLY_ERROR_BYTES;
    return bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                    : context->plan->send_buffer_bytes;
}

CMD_HANDLER(cmd_mget)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t room = context->reply.capacity - context->reply.length;
    uint64_t worst = 16u + (uint64_t)(arg_count - 1u) * context->plan->reply_element_bytes;
    if (worst > room && mget_bytes(context, args, arg_count) > room) {
        reply_error_format(&context->reply, REPLY_ERROR_MGET_TOO_LARGE, arg_count - 1u,
                           context->plan->send_buffer_bytes);
        return;
    }
    reply_array(&context->reply, arg_count - 1u);
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t key_index = 0;
        if (string_read(context, args[index], &key_index) == STORE_OK) {
            reply_bulk(&context->reply, string_value(context, key_index));
        } else {
            reply_null(&context->reply);
        }
    }
}

/* Whether args[index] appeared as a key earlier in an MSET's pairs. */
static bool mset_key_repeated(const struct slice *args, uint32_t index)
{
    for (uint32_t earlier = 1; earlier < index; earlier += 2) {
        if (args[earlier].length == args[index].length &&
            memcmp(args[earlier].bytes, args[index].bytes, args[index].length) == 0) {
            return true;
        }
    }
    return false;
}

/* MSET's limits: every key and value within its size, and room for all the new keys. */
static enum store_status mset_check(struct cmd_context *context, const struct slice *args,
                                    uint32_t arg_count)
{
    struct store *store = context->store;
    uint32_t new_keys = 0;
    for (uint32_t index = 1; index < arg_count; index += 2) {
        if (args[index].length > store->key_size_max) {
            return STORE_KEY_TOO_LONG;
        }
        if (args[index + 1].length > store->val_size_max) {
            return STORE_VALUE_TOO_LONG;
        }
        uint32_t key_index = 0;
        new_keys += store_find(store, args[index], &key_index) ? 0 : 1;
    }
    if (new_keys > store->keys.free_count) {
        /* Repeated keys count once: only worth the quadratic look when near full. */
        for (uint32_t index = 3; index < arg_count; index += 2) {
            uint32_t key_index = 0;
            if (!store_find(store, args[index], &key_index) && mset_key_repeated(args, index)) {
                new_keys--;
            }
        }
    }
    return new_keys > store->keys.free_count ? STORE_FULL : STORE_OK;
}

static void mset_generic(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, bool only_new, const char *command)
{
    if (arg_count % 2 == 0) {
        reply_error_arity(&context->reply, command);
        return;
    }
    if (only_new) {
        for (uint32_t index = 1; index < arg_count; index += 2) {
            uint32_t key_index = 0;
            if (store_find(context->store, args[index], &key_index)) {
                reply_integer(&context->reply, 0);
                return;
            }
        }
    }
    enum store_status status = mset_check(context, args, arg_count);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    for (uint32_t index = 1; index < arg_count; index += 2) {
        string_store(context, args[index], args[index + 1], 0, false);
    }
    if (only_new) {
        reply_integer(&context->reply, 1);
    } else {
        reply_ok(&context->reply);
    }
}

CMD_HANDLER(cmd_mset)
{
    mset_generic(context, args, arg_count, false, "mset");
}

CMD_HANDLER(cmd_msetnx)
{
    mset_generic(context, args, arg_count, true, "msetnx");
}

/* Finds a key for a write (no keyspace counting): STORE_OK, NOT_FOUND or WRONGTYPE. */
static enum store_status string_write_find(struct cmd_context *context, struct slice key,
                                           uint32_t *key_index)
{
    if (!store_find(context->store, key, key_index)) {
        return STORE_NOT_FOUND;
    }
    return store_key(context->store, *key_index)->type == STORE_TYPE_STRING ? STORE_OK
                                                                            : STORE_WRONGTYPE;
}

/* Writes bytes at `offset` of a live string key, zero-filling any gap (APPEND, SETRANGE);
 * the new length was checked against val_size_max. Returns the new length. */
static uint32_t string_splice(struct cmd_context *context, uint32_t key_index, uint64_t offset,
                              struct slice bytes)
{
    struct store *store = context->store;
    KV_ASSERT(offset + bytes.length <= store->val_size_max);
    store_modified(store, key_index);
    uint32_t *length = NULL;
    uint8_t *value = store_value_bytes(store, store_key(store, key_index)->value_index, &length);
    if (offset > *length) {
        memset(value + *length, 0, offset - *length);
    }
    if (bytes.length > 0) {
        memcpy(value + offset, bytes.bytes, bytes.length);
    }
    uint64_t end = offset + bytes.length;
    *length = end > *length ? (uint32_t)end : *length;
    return *length;
}

CMD_HANDLER(cmd_append)
{
    KV_ASSERT(arg_count == 3);
    uint32_t key_index = 0;
    enum store_status status = string_write_find(context, args[1], &key_index);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    if (status == STORE_NOT_FOUND) {
        status = string_write_check(context, args[1], args[2], false);
        if (status != STORE_OK) {
            reply_error(&context->reply, cmd_store_error(status));
            return;
        }
        string_store(context, args[1], args[2], 0, false);
        reply_integer(&context->reply, args[2].length);
        return;
    }
    uint64_t length = string_value(context, key_index).length;
    if (length + args[2].length > context->store->val_size_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    reply_integer(&context->reply, string_splice(context, key_index, length, args[2]));
}

CMD_HANDLER(cmd_strlen)
{
    KV_ASSERT(arg_count == 2);
    uint32_t key_index = 0;
    enum store_status status = string_read(context, args[1], &key_index);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    reply_integer(&context->reply,
                  status == STORE_OK ? string_value(context, key_index).length : 0);
}

static const struct slice empty_slice = {.bytes = NULL, .length = 0};

CMD_HANDLER(cmd_getrange)
{
    KV_ASSERT(arg_count == 4);
    int64_t start = 0;
    int64_t end = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &start) ||
        !number_parse_int64(args[3].bytes, args[3].length, &end)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    uint32_t key_index = 0;
    enum store_status status = string_read(context, args[1], &key_index);
    if (status == STORE_NOT_FOUND) {
        reply_bulk(&context->reply, empty_slice);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    struct slice value = string_value(context, key_index);
    int64_t length = value.length;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(&context->reply, empty_slice);
        return;
    }
    start = start < 0 ? length + start : start;
    end = end < 0 ? length + end : end;
    start = start < 0 ? 0 : start;
    end = end < 0 ? 0 : end;
    end = end >= length ? length - 1 : end;
    if (start > end || length == 0) {
        reply_bulk(&context->reply, empty_slice);
        return;
    }
    reply_bulk(&context->reply, (struct slice){.bytes = value.bytes + start,
                                               .length = (uint32_t)(end - start + 1)});
}

CMD_HANDLER(cmd_setrange)
{
    KV_ASSERT(arg_count == 4);
    int64_t offset = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &offset)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (offset < 0) {
        reply_error(&context->reply, REPLY_ERROR_OFFSET_RANGE);
        return;
    }
    struct slice bytes = args[3];
    uint32_t key_index = 0;
    enum store_status status = string_write_find(context, args[1], &key_index);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    bool exists = status == STORE_OK;
    if (bytes.length == 0) {
        reply_integer(&context->reply, exists ? string_value(context, key_index).length : 0);
        return;
    }
    if ((uint64_t)offset + bytes.length > RESP_BULK_BYTES_LIMIT) {
        reply_error(&context->reply, REPLY_ERROR_STRING_TOO_LONG);
        return;
    }
    if ((uint64_t)offset + bytes.length > context->store->val_size_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return;
    }
    if (!exists) {
        status = key_check_new(context->store, args[1]);
        if (status != STORE_OK) {
            reply_error(&context->reply, cmd_store_error(status));
            return;
        }
        string_store(context, args[1], empty_slice, 0, false);
        bool found = store_find(context->store, args[1], &key_index);
        KV_ASSERT(found);
    }
    reply_integer(&context->reply, string_splice(context, key_index, (uint64_t)offset, bytes));
}

/* Replaces a live string's bytes, or creates the key (its limits checked by the caller). */
static void string_put(struct cmd_context *context, struct slice key, bool exists,
                       uint32_t key_index, struct slice bytes)
{
    if (!exists) {
        string_store(context, key, bytes, 0, false);
        return;
    }
    store_modified(context->store, key_index);
    store_value_write(context->store, store_key(context->store, key_index)->value_index, bytes);
}

/* INCR, DECR, INCRBY, DECRBY: the value as a 64-bit integer, Redis's overflow check. */
static void incr_generic(struct cmd_context *context, struct slice key, int64_t increment)
{
    uint32_t key_index = 0;
    enum store_status status = string_write_find(context, key, &key_index);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    bool exists = status == STORE_OK;
    int64_t value = 0;
    if (exists) {
        struct slice text = string_value(context, key_index);
        if (!number_parse_int64(text.bytes, text.length, &value)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
    }
    if ((increment < 0 && value < 0 && increment < INT64_MIN - value) ||
        (increment > 0 && value > 0 && increment > INT64_MAX - value)) {
        reply_error(&context->reply, REPLY_ERROR_INCREMENT_OVERFLOW);
        return;
    }
    value += increment;
    char text[NUMBER_INT64_BYTES];
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = number_format_int64(value, text)};
    status = exists ? STORE_OK : string_write_check(context, key, bytes, false);
    if (status == STORE_OK && bytes.length > context->store->val_size_max) {
        status = STORE_VALUE_TOO_LONG;
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    string_put(context, key, exists, key_index, bytes);
    reply_integer(&context->reply, value);
}

CMD_HANDLER(cmd_incr)
{
    KV_ASSERT(arg_count == 2);
    incr_generic(context, args[1], 1);
}

CMD_HANDLER(cmd_decr)
{
    KV_ASSERT(arg_count == 2);
    incr_generic(context, args[1], -1);
}

CMD_HANDLER(cmd_incrby)
{
    KV_ASSERT(arg_count == 3);
    int64_t increment = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    incr_generic(context, args[1], increment);
}

CMD_HANDLER(cmd_decrby)
{
    KV_ASSERT(arg_count == 3);
    int64_t decrement = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &decrement)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (decrement == INT64_MIN) {
        reply_error(&context->reply, REPLY_ERROR_DECREMENT_OVERFLOW);
        return;
    }
    incr_generic(context, args[1], -decrement);
}

CMD_HANDLER(cmd_incrbyfloat)
{
    KV_ASSERT(arg_count == 3);
    uint32_t key_index = 0;
    enum store_status status = string_write_find(context, args[1], &key_index);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    bool exists = status == STORE_OK;
    long double value = 0;
    long double increment = 0;
    struct slice current = exists ? string_value(context, key_index) : empty_slice;
    if ((exists && !number_parse_long_double(current.bytes, current.length, &value)) ||
        !number_parse_long_double(args[2].bytes, args[2].length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
        return;
    }
    value += increment;
    if (isnan(value) || isinf(value)) {
        reply_error(&context->reply, REPLY_ERROR_INCREMENT_NAN);
        return;
    }
    char text[NUMBER_LONG_DOUBLE_BYTES];
    uint32_t length = number_format_long_double(value, text, sizeof(text));
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = length};
    status = length == 0 ? STORE_VALUE_TOO_LONG : STORE_OK;
    if (status == STORE_OK) {
        status = string_write_check(context, args[1], bytes, exists);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    string_put(context, args[1], exists, key_index, bytes);
    reply_bulk(&context->reply, bytes);
}

static const struct cmd string_cmds[] = {
    {"get", 2, 1, 1, 1, 0, string_get_reply_max, cmd_get},
    {"set", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_value, cmd_set},
    {"setnx", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_setnx},
    {"setex", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_setex},
    {"psetex", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_psetex},
    {"getset", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_value, cmd_getset},
    {"getdel", 2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, string_get_reply_max, cmd_getdel},
    {"getex", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, string_get_reply_max, cmd_getex},
    {"mget", -2, 1, -1, 1, 0, mget_reply_max, cmd_mget},
    {"mset", -3, 1, -1, 2, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_mset},
    {"msetnx", -3, 1, -1, 2, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_msetnx},
    {"append", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_append},
    {"strlen", 2, 1, 1, 1, 0, cmd_reply_small, cmd_strlen},
    {"getrange", 4, 1, 1, 1, 0, cmd_reply_value, cmd_getrange},
    {"substr", 4, 1, 1, 1, 0, cmd_reply_value, cmd_getrange},
    {"setrange", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_setrange},
    {"incr", 2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_incr},
    {"decr", 2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_decr},
    {"incrby", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_incrby},
    {"decrby", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_small, cmd_decrby},
    {"incrbyfloat", 3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_STRINGS, cmd_reply_value, cmd_incrbyfloat},
};

CMD_FAMILY(cmd_family_string, "string", string_cmds);
