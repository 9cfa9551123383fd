/*
 * Expiry commands: reading and setting a key's time to live. Times are Unix milliseconds in
 * the key object; the store removes a key whose time has passed on access (lazy) and in
 * bounded slices per loop turn (active), so no command ever sees an expired key. A write
 * hands the record of its key's find to store_expire_set, so it probes the table once.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include "number.h"

/* TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing key, -1 for a key without expiry,
 * else the time left (or the time itself, `absolute`), in ms or rounded to seconds. */
static void ttl_reply(struct cmd_context *context, struct slice key, int64_t unit_ms,
                      bool absolute)
{
    KV_ASSERT(unit_ms == 1 || unit_ms == 1000);
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_find(context->store, key, &key_ref)) {
        notify_event(NOTIFY_KEY_MISS, "keymiss", key);
        reply_integer(&context->reply, -2);
        return;
    }
    int64_t at_ms = store_key_expire(store_key(context->store, key_ref));
    if (at_ms == 0) {
        reply_integer(&context->reply, -1);
        return;
    }
    int64_t left_ms = absolute ? at_ms : at_ms - context->store->now_ms;
    KV_ASSERT(left_ms > 0);
    /* Redis rounds TTL to the nearest second. */
    reply_integer(&context->reply, unit_ms == 1 ? left_ms : (left_ms + 500) / 1000);
}

CMD_HANDLER(cmd_ttl)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    ttl_reply(context, args[1], 1000, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_pttl)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    ttl_reply(context, args[1], 1, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_expiretime)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    ttl_reply(context, args[1], 1000, true);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_pexpiretime)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    ttl_reply(context, args[1], 1, true);
    KV_ASSERT(context->reply.total > reply_before);
}

enum expire_flag {
    EXPIRE_NX = 1u << 0,
    EXPIRE_XX = 1u << 1,
    EXPIRE_GT = 1u << 2,
    EXPIRE_LT = 1u << 3,
};

/* NX, XX, GT, LT after the time, checked as Redis 7.0 checks them (before the time). */
static bool expire_flags_parse(struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count, uint32_t *flags)
{
    static const char *const names[] = {"nx", "xx", "gt", "lt"};
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(*flags == 0);
    for (uint32_t index = 3; index < arg_count; index++) {
        uint32_t flag = 0;
        for (uint32_t name = 0; name < 4 && flag == 0; name++) {
            flag = cmd_arg_is(args[index], names[name]) ? 1u << name : 0;
        }
        if (flag == 0) {
            reply_error_format(&context->reply, REPLY_ERROR_EXPIRE_OPTION_UNKNOWN, &args[index]);
            return false;
        }
        *flags |= flag;
    }
    if ((*flags & EXPIRE_NX) && (*flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
        reply_error(&context->reply, REPLY_ERROR_EXPIRE_NX_CONFLICT);
        return false;
    }
    if ((*flags & EXPIRE_GT) && (*flags & EXPIRE_LT)) {
        reply_error(&context->reply, REPLY_ERROR_EXPIRE_GT_LT_CONFLICT);
        return false;
    }
    return true;
}

/* Whether NX/XX/GT/LT let the new time replace the current one (0: none; a key without
 * expiry counts as an infinite time). */
static bool expire_flags_allow(uint32_t flags, int64_t current_ms, int64_t at_ms)
{
    KV_ASSERT(current_ms >= 0);
    KV_ASSERT(!(flags & EXPIRE_GT) || !(flags & EXPIRE_LT)); /* refused when parsed */
    if ((flags & EXPIRE_NX) && current_ms != 0) {
        return false;
    }
    if ((flags & EXPIRE_XX) && current_ms == 0) {
        return false;
    }
    if ((flags & EXPIRE_GT) && (current_ms == 0 || at_ms <= current_ms)) {
        return false;
    }
    if ((flags & EXPIRE_LT) && current_ms != 0 && at_ms >= current_ms) {
        return false;
    }
    return true;
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `unit_ms` 1000 or 1; `relative` adds the clock. A
 * time already past removes the key (and still answers 1), as Redis does. */
static void expire_generic(struct cmd_context *context, const struct slice *args,
                           uint32_t arg_count, int64_t unit_ms, bool relative,
                           const char *command)
{
    uint32_t flags = 0;
    if (!expire_flags_parse(context, args, arg_count, &flags)) {
        return;
    }
    int64_t when = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &when)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    int64_t base = relative ? context->store->now_ms : 0;
    bool valid = unit_ms == 1 || (when <= INT64_MAX / 1000 && when >= INT64_MIN / 1000);
    when = valid ? when * unit_ms : when;
    valid = valid && when <= INT64_MAX - base;
    if (!valid) {
        reply_error_format(&context->reply, REPLY_ERROR_EXPIRE_TIME_INVALID, command);
        return;
    }
    when += base;
    struct store_found found;
    if (store_find_typed(context->store, args[1], STORE_TYPE_ANY, &found) == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    int64_t current_ms = store_key_expire(store_key(context->store, found.key_ref));
    if (!expire_flags_allow(flags, current_ms, when)) {
        reply_integer(&context->reply, 0);
        return;
    }
    store_modified(context->store, store_key(context->store, found.key_ref));
    /* A time at or before now removes the key; 0 and below are in the past too. */
    int64_t at_ms = when > 0 ? when : 1;
    enum store_status status = store_expire_set(context->store, &found, at_ms);
    if (status == STORE_OOM) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    KV_ASSERT((status == STORE_OK) == (at_ms > context->store->now_ms));
    notify_event(NOTIFY_GENERIC, status == STORE_OK ? "expire" : "del", args[1]);
    reply_integer(&context->reply, 1);
}

CMD_HANDLER(cmd_expire)
{
    KV_ASSERT(arg_count >= 3);
    expire_generic(context, args, arg_count, 1000, true, "expire");
}

CMD_HANDLER(cmd_pexpire)
{
    KV_ASSERT(arg_count >= 3);
    expire_generic(context, args, arg_count, 1, true, "pexpire");
}

CMD_HANDLER(cmd_expireat)
{
    KV_ASSERT(arg_count >= 3);
    expire_generic(context, args, arg_count, 1000, false, "expireat");
}

CMD_HANDLER(cmd_pexpireat)
{
    KV_ASSERT(arg_count >= 3);
    expire_generic(context, args, arg_count, 1, false, "pexpireat");
}

CMD_HANDLER(cmd_persist)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    if (store_find_typed(context->store, args[1], STORE_TYPE_ANY, &found) == STORE_NOT_FOUND ||
        store_key_expire(store_key(context->store, found.key_ref)) == 0) {
        reply_integer(&context->reply, 0);
        return;
    }
    store_modified(context->store, store_key(context->store, found.key_ref));
    enum store_status status = store_expire_set(context->store, &found, 0);
    KV_ASSERT(status == STORE_OK); /* clearing gives memory back, never takes it */
    KV_ASSERT(store_key_expire(store_key(context->store, found.key_ref)) == 0);
    notify_event(NOTIFY_GENERIC, "persist", args[1]);
    reply_integer(&context->reply, 1);
}

static const struct cmd expire_cmds[] = {
    {"ttl", 2, 1, 1, 1, 0, cmd_ttl},
    {"pttl", 2, 1, 1, 1, 0, cmd_pttl},
    {"expiretime", 2, 1, 1, 1, 0, cmd_expiretime},
    {"pexpiretime", 2, 1, 1, 1, 0, cmd_pexpiretime},
    {"expire", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_expire},
    {"pexpire", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_pexpire},
    {"expireat", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_expireat},
    {"pexpireat", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_pexpireat},
    {"persist", 2, 1, 1, 1, CMD_FLAG_WRITE, cmd_persist},
};

CMD_FAMILY(cmd_family_expire, "generic", expire_cmds);
