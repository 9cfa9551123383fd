/*
 * String commands: GET, SET (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL), SETNX, SETEX,
 * PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX, APPEND, STRLEN, GETRANGE, SETRANGE,
 * INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT. Replies, errors and the order of checks are
 * Redis 7's; a key or value past kv's limits, or a new key when key_count keys exist, gets
 * kv's error and changes nothing (every limit is checked before the first change). Each
 * command finds its key once (store_find_typed, or cmd_read for a read) and hands the record
 * to the write (store_string.h), so SET with any options probes the table once. Handlers
 * read a string's bytes and never write them: every write is in store_string.c.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include <math.h>
#include <string.h>

#include "number.h"
#include "resp.h"
#include "store_string.h"

static const struct slice empty_slice = {.bytes = NULL, .length = 0};

CMD_HANDLER(cmd_get)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    } else if (status == STORE_OK) {
        reply_bulk(&context->reply, store_string_value(context->store, found.key_ref));
    }
    KV_ASSERT(context->reply.total > reply_before);
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
    uint32_t flags;      /* enum set_flag */
    struct slice expire; /* the time argument of EX/PX/EXAT/PXAT */
};

/* One option word that is not a time (NX, XX, GET, KEEPTTL, PERSIST), if it is allowed with
 * the flags so far; 0 otherwise. */
static uint32_t set_flag_of(struct slice option, uint32_t flags, bool is_set)
{
    if (is_set && cmd_arg_is(option, "nx") && !(flags & SET_XX)) {
        return SET_NX;
    }
    if (is_set && cmd_arg_is(option, "xx") && !(flags & SET_NX)) {
        return SET_XX;
    }
    if (is_set && cmd_arg_is(option, "get")) {
        return SET_GET;
    }
    if (is_set && cmd_arg_is(option, "keepttl") && !(flags & SET_PERSIST) &&
        !(flags & SET_EXPIRY)) {
        return SET_KEEPTTL;
    }
    if (!is_set && cmd_arg_is(option, "persist") && !(flags & SET_EXPIRY) &&
        !(flags & SET_KEEPTTL)) {
        return SET_PERSIST;
    }
    return 0;
}

/* A time option's flag (EX, PX, EXAT, PXAT), or 0. */
static uint32_t set_timed_of(struct slice option)
{
    static const char *const names[] = {"ex", "px", "exat", "pxat"};
    static const uint32_t flags[] = {SET_EX, SET_PX, SET_EXAT, SET_PXAT};
    for (uint32_t index = 0; index < 4; index++) {
        if (cmd_arg_is(option, names[index])) {
            KV_ASSERT((flags[index] & SET_EXPIRY) == flags[index]);
            return flags[index];
        }
    }
    return 0;
}

/* Parses args[first ..]; false after answering Redis's syntax error. */
static bool set_options_parse(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, uint32_t first, bool is_set,
                              struct set_options *options)
{
    KV_ASSERT(first == 2 || first == 3);
    KV_ASSERT(first <= arg_count);
    options->flags = 0;
    for (uint32_t index = first; index < arg_count; index++) {
        uint32_t flags = options->flags;
        uint32_t flag = set_flag_of(args[index], flags, is_set);
        uint32_t timed = flag == 0 ? set_timed_of(args[index]) : 0;
        /* One expiry kind, repeatable, never with KEEPTTL or PERSIST, and with a value. */
        bool timed_ok = timed != 0 && !(flags & (SET_KEEPTTL | SET_PERSIST)) &&
                        !(flags & SET_EXPIRY & ~timed) && index + 1 < arg_count;
        if (flag == 0 && !timed_ok) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        options->flags |= flag | timed;
        if (timed != 0) {
            options->expire = args[++index];
        }
    }
    uint32_t expiry = options->flags & SET_EXPIRY;
    KV_ASSERT((expiry & (expiry - 1)) == 0); /* at most one kind of time */
    KV_ASSERT(!(options->flags & SET_NX) || !(options->flags & SET_XX));
    return true;
}

/* The absolute expiry time (Unix ms) of EX/PX/EXAT/PXAT, as Redis's
 * getExpireMillisecondsOrReply checks it; false after answering its error. */
static bool expire_time_parse(struct cmd_context *context, const struct set_options *options,
                              const char *command, int64_t *at_ms)
{
    KV_ASSERT((options->flags & SET_EXPIRY) != 0);
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
    KV_ASSERT(*at_ms > 0);
    return true;
}

/* SET's find, in one probe: with GET it is a read (a keyspace hit or miss, WRONGTYPE for a
 * key of another type); without, any type is overwritten. False after answering WRONGTYPE. */
static bool set_find(struct cmd_context *context, struct slice key, uint32_t flags,
                     struct store_found *found)
{
    if (!(flags & SET_GET)) {
        store_find_typed(context->store, key, STORE_TYPE_ANY, found);
        return true;
    }
    enum store_status status = cmd_read(context, key, STORE_TYPE_STRING, found);
    KV_ASSERT(status != STORE_WRONGTYPE || found->type != STORE_TYPE_STRING);
    return status != STORE_WRONGTYPE;
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], and the commands that are
 * SET with fixed options (SETNX, SETEX, PSETEX, GETSET). */
static void set_generic(struct cmd_context *context, struct slice key, struct slice value,
                        const struct set_options *options, const char *command)
{
    uint64_t reply_before = context->reply.total;
    uint32_t flags = options->flags;
    int64_t at_ms = 0;
    struct store_found found;
    if (((flags & SET_EXPIRY) && !expire_time_parse(context, options, command, &at_ms)) ||
        !set_find(context, key, flags, &found)) {
        return;
    }
    bool refused = ((flags & SET_NX) && found.exists) || ((flags & SET_XX) && !found.exists);
    enum store_status status =
        refused ? STORE_OK : store_string_check(context->store, &found, key, value);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    if (flags & SET_GET) {
        /* The old value goes into the reply before the write replaces it. */
        found.exists ? reply_bulk(&context->reply,
                                  store_string_value(context->store, found.key_ref))
                     : reply_null(&context->reply);
    }
    if (!refused &&
        store_string_put(context->store, &found, key, value, at_ms, (flags & SET_KEEPTTL) != 0) !=
            STORE_OK) {
        /* Only SET ... GET wrote before the write: then the OOM comes instead of its reply. */
        reply_truncate(&context->reply);
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    if (!refused) {
        notify_event(NOTIFY_STRING, "set", key);
        if (flags & SET_EXPIRY) {
            notify_event(NOTIFY_GENERIC, "expire", key);
        }
    }
    if (!(flags & SET_GET)) {
        refused ? reply_null(&context->reply) : reply_ok(&context->reply);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_set)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    struct set_options options;
    if (set_options_parse(context, args, arg_count, 3, true, &options)) {
        set_generic(context, args[1], args[2], &options, "set");
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_setnx)
{
    KV_ASSERT(arg_count == 3);
    struct store_found found;
    store_find_typed(context->store, args[1], STORE_TYPE_ANY, &found);
    if (found.exists) {
        reply_integer(&context->reply, 0);
        return;
    }
    enum store_status status = store_string_check(context->store, &found, args[1], args[2]);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    if (store_string_put(context->store, &found, args[1], args[2], 0, false) != STORE_OK) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    KV_ASSERT(store_key_count(context->store) > 0);
    notify_event(NOTIFY_STRING, "set", args[1]);
    reply_integer(&context->reply, 1);
}

static void setex_generic(struct cmd_context *context, const struct slice *args, uint32_t flag,
                          const char *command)
{
    KV_ASSERT(flag == SET_EX || flag == SET_PX);
    uint64_t reply_before = context->reply.total;
    struct set_options options = {.flags = flag, .expire = args[2]};
    set_generic(context, args[1], args[3], &options, command);
    KV_ASSERT(context->reply.total > reply_before);
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
    uint64_t reply_before = context->reply.total;
    struct set_options options = {.flags = SET_GET};
    set_generic(context, args[1], args[2], &options, "getset");
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_getdel)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
    } else if (status == STORE_OK) {
        /* The reply copies the bytes before the key goes. */
        reply_bulk(&context->reply, store_string_value(context->store, found.key_ref));
        store_remove(context->store, &found);
        notify_event(NOTIFY_GENERIC, "del", args[1]);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* GETEX's change to the expiry time of the live key found: a new time (a past one removes
 * the key), or none with PERSIST. */
static void getex_expire(struct cmd_context *context, struct store_found *found,
                         uint32_t flags, int64_t at_ms, struct slice name)
{
    KV_ASSERT(found->exists);
    KV_ASSERT(!(flags & SET_EXPIRY) || at_ms > 0);
    struct store *store = context->store;
    struct store_key *key = store_key(store, found->key_ref);
    if (flags & SET_EXPIRY) {
        store_modified(store, key);
        /* A past time removes the key; no room for the time leaves it without (Redis's
         * GETEX has answered the value by then). */
        enum store_status status = store_expire_set(store, found, at_ms);
        KV_ASSERT(status != STORE_WRONGTYPE);
        if (status == STORE_NOT_FOUND) {
            notify_event(NOTIFY_GENERIC, "del", name);
        } else if (status == STORE_OK) {
            notify_event(NOTIFY_GENERIC, "expire", name);
        }
    } else if ((flags & SET_PERSIST) && store_key_expire(key) != 0) {
        store_modified(store, key);
        enum store_status status = store_expire_set(store, found, 0);
        KV_ASSERT(status == STORE_OK); /* clearing never needs memory */
        notify_event(NOTIFY_GENERIC, "persist", name);
    }
}

CMD_HANDLER(cmd_getex)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    struct set_options options;
    if (!set_options_parse(context, args, arg_count, 2, false, &options)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_null(&context->reply);
        return;
    }
    int64_t at_ms = 0;
    if (status == STORE_WRONGTYPE ||
        ((options.flags & SET_EXPIRY) && !expire_time_parse(context, &options, "getex", &at_ms))) {
        return;
    }
    reply_bulk(&context->reply, store_string_value(context->store, found.key_ref));
    getex_expire(context, &found, options.flags, at_ms, args[1]);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_mget)
{
    KV_ASSERT(arg_count >= 2);
    reply_array(&context->reply, arg_count - 1u);
    for (uint32_t index = 1; index < arg_count; index++) {
        /* A read as Redis's lookupKeyRead counts it; another type answers a null. */
        struct store_found found;
        enum store_status status =
            store_find_typed(context->store, args[index], STORE_TYPE_STRING, &found);
        context->stats->keyspace_hits += found.exists ? 1 : 0;
        context->stats->keyspace_misses += found.exists ? 0 : 1;
        if (!found.exists) {
            notify_event(NOTIFY_KEY_MISS, "keymiss", args[index]);
        }
        if (status == STORE_OK) {
            reply_bulk(&context->reply, store_string_value(context->store, found.key_ref));
        } else {
            reply_null(&context->reply);
        }
    }
    KV_ASSERT(context->reply.length <= context->reply.capacity);
}

/* Whether args[index] appeared as a key earlier in an MSET's pairs. */
static bool mset_key_repeated(const struct slice *args, uint32_t index)
{
    KV_ASSERT(index % 2 == 1);
    for (uint32_t earlier = 1; earlier < index; earlier += 2) {
        if (slice_equal(args[earlier], args[index])) {
            return true;
        }
    }
    return false;
}

/* MSET's limits: every key and value within its size, room for all the new keys under a
 * key_count cap, and the heap's room for every pair (so that MSET is all or nothing: the
 * check counts each pair's objects at their heap class, which the writes then take). */
static enum store_status mset_check(struct cmd_context *context, const struct slice *args,
                                    uint32_t arg_count)
{
    KV_ASSERT(arg_count % 2 == 1);
    struct store *store = context->store;
    uint64_t new_keys = 0;
    uint64_t bytes = 0;
    for (uint32_t index = 1; index < arg_count; index += 2) {
        if (args[index].length > store->limits.key_bytes_max) {
            return STORE_KEY_TOO_LONG;
        }
        if (args[index + 1].length > store->limits.value_bytes_max) {
            return STORE_VALUE_TOO_LONG;
        }
        uint32_t key_ref = HEAP_REF_NONE;
        new_keys += store_find(store, args[index], &key_ref) ? 0 : 1;
        bytes += store_string_stored_bytes(store, args[index].length, args[index + 1].length);
    }
    uint64_t room = store->limits.key_count_max - store_key_count_all(store);
    if (new_keys > room) {
        /* Repeated keys count once: only worth the quadratic look when near full. */
        for (uint32_t index = 3; index < arg_count; index += 2) {
            uint32_t key_ref = HEAP_REF_NONE;
            if (!store_find(store, args[index], &key_ref) && mset_key_repeated(args, index)) {
                new_keys--;
            }
        }
    }
    KV_ASSERT(new_keys <= (arg_count - 1) / 2);
    if (new_keys > room) {
        return STORE_FULL;
    }
    return bytes <= heap_free_bytes(store->heap) ? STORE_OK : STORE_OOM;
}

/* Whether any of MSETNX's keys exists. */
static bool mset_any_exists(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count)
{
    KV_ASSERT(arg_count % 2 == 1);
    for (uint32_t index = 1; index < arg_count; index += 2) {
        uint32_t key_ref = HEAP_REF_NONE;
        if (store_find(context->store, args[index], &key_ref)) {
            return true;
        }
    }
    return false;
}

static void mset_generic(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, bool only_new, const char *command)
{
    KV_ASSERT(arg_count >= 3);
    if (arg_count % 2 == 0) {
        reply_error_arity(&context->reply, command);
        return;
    }
    if (only_new && mset_any_exists(context, args, arg_count)) {
        reply_integer(&context->reply, 0);
        return;
    }
    enum store_status status = mset_check(context, args, arg_count);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    for (uint32_t index = 1; index < arg_count; index += 2) {
        /* mset_check checked every limit and the heap's room; a heap fragmented past what
         * free bytes tell could still refuse one, and then the rest are not written. */
        status = store_string_set(context->store, args[index], args[index + 1]);
        if (status != STORE_OK) {
            KV_ASSERT(status == STORE_OOM);
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
        notify_event(NOTIFY_STRING, "set", args[index]);
    }
    only_new ? reply_integer(&context->reply, 1) : reply_ok(&context->reply);
}

CMD_HANDLER(cmd_mset)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    mset_generic(context, args, arg_count, false, "mset");
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_msetnx)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    mset_generic(context, args, arg_count, true, "msetnx");
    KV_ASSERT(context->reply.total > reply_before);
}

/* Finds a string for a write (no keyspace counting); false after answering WRONGTYPE. */
static bool string_write_find(struct cmd_context *context, struct slice key,
                              struct store_found *found)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_STRING, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_STRING);
    return true;
}

CMD_HANDLER(cmd_append)
{
    KV_ASSERT(arg_count == 3);
    struct store *store = context->store;
    struct store_found found;
    if (!string_write_find(context, args[1], &found)) {
        return;
    }
    uint64_t length = found.exists ? store_string_value(store, found.key_ref).length : 0;
    enum store_status status = store_string_check(store, &found, args[1], args[2]);
    if (status == STORE_OK && length + args[2].length > store->limits.value_bytes_max) {
        status = STORE_VALUE_TOO_LONG;
    }
    uint64_t length_after = 0;
    if (status == STORE_OK) {
        status = store_string_splice(store, &found, args[1], length, args[2], &length_after);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(length_after == length + args[2].length);
    notify_event(NOTIFY_STRING, "append", args[1]);
    reply_integer(&context->reply, (int64_t)length_after);
}

CMD_HANDLER(cmd_strlen)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status != STORE_WRONGTYPE) {
        reply_integer(&context->reply,
                      status == STORE_OK
                          ? store_string_value(context->store, found.key_ref).length
                          : 0);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* GETRANGE's bytes of a value: Redis's start/end rules (negative from the end, clamped);
 * empty when the range selects nothing. */
static struct slice string_range(struct slice value, int64_t start, int64_t end)
{
    int64_t length = value.length;
    if (start < 0 && end < 0 && start > end) {
        return empty_slice;
    }
    start = start < 0 ? length + start : start;
    end = end < 0 ? length + end : end;
    start = start < 0 ? 0 : start;
    end = end < 0 ? 0 : end;
    end = end >= length ? length - 1 : end;
    if (start > end || length == 0) {
        return empty_slice;
    }
    KV_ASSERT(start >= 0);
    KV_ASSERT(end < length);
    return (struct slice){.bytes = value.bytes + start, .length = (uint32_t)(end - start + 1)};
}

CMD_HANDLER(cmd_getrange)
{
    KV_ASSERT(arg_count == 4);
    uint64_t reply_before = context->reply.total;
    int64_t start = 0;
    int64_t end = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &start) ||
        !number_parse_int64(args[3].bytes, args[3].length, &end)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_bulk(&context->reply, empty_slice);
    } else if (status == STORE_OK) {
        struct slice value = store_string_value(context->store, found.key_ref);
        reply_bulk(&context->reply, string_range(value, start, end));
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* SETRANGE's limits for `bytes` at `offset` of the key found; false after the error. */
static bool setrange_check(struct cmd_context *context, const struct store_found *found,
                           struct slice key, int64_t offset, struct slice bytes)
{
    KV_ASSERT(offset >= 0);
    KV_ASSERT(bytes.length > 0);
    if ((uint64_t)offset + bytes.length > RESP_BULK_BYTES_LIMIT) {
        reply_error(&context->reply, REPLY_ERROR_STRING_TOO_LONG);
        return false;
    }
    if ((uint64_t)offset + bytes.length > context->store->limits.value_bytes_max) {
        reply_error(&context->reply, REPLY_ERROR_VALUE_TOO_LONG);
        return false;
    }
    /* A new key gets kv's key errors (its empty value cannot be too long). */
    enum store_status status = store_string_check(context->store, found, key, empty_slice);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    return true;
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
    struct store_found found;
    if (!string_write_find(context, args[1], &found)) {
        return;
    }
    if (bytes.length == 0) {
        reply_integer(&context->reply,
                      found.exists ? store_string_value(context->store, found.key_ref).length
                                   : 0);
        return;
    }
    if (!setrange_check(context, &found, args[1], offset, bytes)) {
        return;
    }
    uint64_t length = 0;
    if (store_string_splice(context->store, &found, args[1], (uint64_t)offset, bytes, &length) !=
        STORE_OK) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    KV_ASSERT(length >= (uint64_t)offset + bytes.length);
    /* Redis makes a new key's string by size, then writes into it: "raw" even when short. */
    store_string_shape_set(context->store, &found, STORE_SHAPE_CONVERTED);
    notify_event(NOTIFY_STRING, "setrange", args[1]);
    reply_integer(&context->reply, (int64_t)length);
}

/* INCR, DECR, INCRBY, DECRBY: the value as a 64-bit integer, Redis's overflow check. */
static void incr_generic(struct cmd_context *context, struct slice key, int64_t increment)
{
    struct store_found found;
    if (!string_write_find(context, key, &found)) {
        return;
    }
    int64_t value = 0;
    if (found.exists) {
        struct slice text = store_string_value(context->store, found.key_ref);
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
    uint32_t length = number_format_int64(value, text);
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = length};
    KV_ASSERT(bytes.length <= NUMBER_INT64_BYTES);
    enum store_status status = store_string_check(context->store, &found, key, bytes);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    /* The expiry time stays, as Redis keeps it across INCR. */
    if (store_string_put(context->store, &found, key, bytes, 0, true) != STORE_OK) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    notify_event(NOTIFY_STRING, "incrby", key);
    reply_integer(&context->reply, value);
}

CMD_HANDLER(cmd_incr)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    incr_generic(context, args[1], 1);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_decr)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    incr_generic(context, args[1], -1);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_incrby)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    int64_t increment = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    incr_generic(context, args[1], increment);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_decrby)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
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
    KV_ASSERT(context->reply.total > reply_before);
}

/* INCRBYFLOAT's new value of the string found (absent: 0) as text in `text`; false after
 * answering the error. */
static bool incrbyfloat_text(struct cmd_context *context, const struct store_found *found,
                             struct slice increment_arg, char *text, uint32_t *length)
{
    long double value = 0;
    long double increment = 0;
    struct slice current =
        found->exists ? store_string_value(context->store, found->key_ref) : empty_slice;
    if ((found->exists && !number_parse_long_double(current.bytes, current.length, &value)) ||
        !number_parse_long_double(increment_arg.bytes, increment_arg.length, &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
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

CMD_HANDLER(cmd_incrbyfloat)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    char text[NUMBER_LONG_DOUBLE_BYTES];
    uint32_t length = 0;
    if (!string_write_find(context, args[1], &found) ||
        !incrbyfloat_text(context, &found, args[2], text, &length)) {
        return;
    }
    struct slice bytes = {.bytes = (const uint8_t *)text, .length = length};
    enum store_status status = length == 0 ? STORE_VALUE_TOO_LONG : STORE_OK;
    if (status == STORE_OK) {
        status = store_string_check(context->store, &found, args[1], bytes);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    if (store_string_put(context->store, &found, args[1], bytes, 0, true) != STORE_OK) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    if (found.exists) { /* a put in the past removes the key; KEEPTTL here never does */
        /* Redis stores the number's text as a string object, never as "int". */
        store_string_shape_set(context->store, &found, STORE_SHAPE_NUMBER);
    }
    notify_event(NOTIFY_STRING, "incrbyfloat", args[1]);
    reply_bulk(&context->reply, bytes);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd string_cmds[] = {
    {"get", 2, 1, 1, 1, 0, cmd_get},
    {"set", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_set},
    {"setnx", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_setnx},
    {"setex", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_setex},
    {"psetex", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_psetex},
    {"getset", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_getset},
    {"getdel", 2, 1, 1, 1, CMD_FLAG_WRITE, cmd_getdel},
    {"getex", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_getex},
    {"mget", -2, 1, -1, 1, 0, cmd_mget},
    {"mset", -3, 1, -1, 2, CMD_FLAG_WRITE, cmd_mset},
    {"msetnx", -3, 1, -1, 2, CMD_FLAG_WRITE, cmd_msetnx},
    {"append", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_append},
    {"strlen", 2, 1, 1, 1, 0, cmd_strlen},
    {"getrange", 4, 1, 1, 1, 0, cmd_getrange},
    {"substr", 4, 1, 1, 1, 0, cmd_getrange},
    {"setrange", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_setrange},
    {"incr", 2, 1, 1, 1, CMD_FLAG_WRITE, cmd_incr},
    {"decr", 2, 1, 1, 1, CMD_FLAG_WRITE, cmd_decr},
    {"incrby", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_incrby},
    {"decrby", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_decrby},
    {"incrbyfloat", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_incrbyfloat},
};

CMD_FAMILY(cmd_family_string, "string", string_cmds);
