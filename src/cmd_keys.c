/*
 * String and key commands: GET, SET, DEL, EXISTS. Replies and errors as Redis 7 gives them;
 * a key or value past its limit, or a new key when key_count keys exist, gets kv's error
 * and changes nothing.
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

CMD_HANDLER(cmd_del)
{
    KV_ASSERT(arg_count >= 2);
    int64_t deleted = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        deleted += store_delete(context->store, args[index]) ? 1 : 0;
    }
    reply_integer(&context->reply, deleted);
}

CMD_HANDLER(cmd_exists)
{
    KV_ASSERT(arg_count >= 2);
    int64_t found = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t key_index = 0;
        if (store_find(context->store, args[index], &key_index)) {
            context->stats->keyspace_hits++;
            found++;
        } else {
            context->stats->keyspace_misses++;
        }
    }
    reply_integer(&context->reply, found);
}
