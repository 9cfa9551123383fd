/*
 * String commands. Replies and errors as Redis 7 gives them; a key or value past its limit,
 * or a new key when key_count keys exist, gets kv's error and changes nothing.
 */
#include "cmd_handlers.h"

CMD_HANDLER(cmd_get)
{
    KV_ASSERT(arg_count == 2);
    struct slice value;
    enum store_status status = store_get_string(context->store, args[1], &value);
    if (status == STORE_NOT_FOUND) {
        context->stats->keyspace_misses++;
        reply_null(&context->reply);
        return;
    }
    context->stats->keyspace_hits++;
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    KV_ASSERT(status == STORE_OK);
    reply_bulk(&context->reply, value);
}

/* SET key value. Options (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL) come with expiry in
 * the command-surface issue; until then any extra argument is Redis's syntax error. */
CMD_HANDLER(cmd_set)
{
    KV_ASSERT(arg_count >= 3);
    if (arg_count != 3) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    enum store_status status = store_set_string(context->store, args[1], args[2]);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_ok(&context->reply);
}

static const struct cmd string_cmds[] = {
    {"get", 2, 1, 1, 1, 0, cmd_reply_value, cmd_get},
    {"set", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_reply_value, cmd_set},
};

CMD_FAMILY(cmd_family_string, string_cmds);
