/*
 * Expiry commands: reading and setting a key's time to live. Times are Unix milliseconds in
 * the key slot; the store removes a key whose time has passed on access (lazy) and in
 * bounded slices per loop turn (active), so no command ever sees an expired key.
 */
#include "cmd_handlers.h"

/* TTL and PTTL: -2 for a missing key, -1 for a key without expiry, else the time left. */
static void ttl_reply(struct cmd_context *context, struct slice key, int64_t unit_ms)
{
    uint32_t key_index = 0;
    if (!store_find(context->store, key, &key_index)) {
        reply_integer(&context->reply, -2);
        return;
    }
    int64_t at_ms = store_key(context->store, key_index)->expire_at_ms;
    if (at_ms == 0) {
        reply_integer(&context->reply, -1);
        return;
    }
    int64_t left_ms = at_ms - context->store->now_ms;
    KV_ASSERT(left_ms > 0);
    /* Redis rounds TTL to the nearest second. */
    reply_integer(&context->reply, unit_ms == 1 ? left_ms : (left_ms + 500) / 1000);
}

CMD_HANDLER(cmd_ttl)
{
    KV_ASSERT(arg_count == 2);
    ttl_reply(context, args[1], 1000);
}

CMD_HANDLER(cmd_pttl)
{
    KV_ASSERT(arg_count == 2);
    ttl_reply(context, args[1], 1);
}

static const struct cmd expire_cmds[] = {
    {"ttl", 2, 1, 1, 1, 0, cmd_reply_small, cmd_ttl},
    {"pttl", 2, 1, 1, 1, 0, cmd_reply_small, cmd_pttl},
};

CMD_FAMILY(cmd_family_expire, expire_cmds);
