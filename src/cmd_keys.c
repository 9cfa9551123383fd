/*
 * Key commands: the keyspace as a whole, whatever the value types.
 */
#include "cmd_handlers.h"

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

static const struct cmd keys_cmds[] = {
    {"del", -2, 1, -1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_del},
    {"exists", -2, 1, -1, 1, 0, cmd_reply_small, cmd_exists},
};

CMD_FAMILY(cmd_family_keys, keys_cmds);
