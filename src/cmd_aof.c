/*
 * BGREWRITEAOF: asks the AOF writer for a rewrite, done whole at the end of this loop pass
 * (before the reply leaves), so it is never seen in progress. With appendonly no nothing is
 * rewritten (Redis 7.0 would write a base file and a manifest).
 */
#include "cmd_handlers.h"

#include "propagate.h"

CMD_HANDLER(cmd_bgrewriteaof)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    (void)propagate_rewrite_request();
    /* Inside EXEC Redis schedules it (server.in_exec); kv does it at the pass's end either way. */
    reply_simple(&context->reply, context->mode == CMD_MODE_EXEC
                                      ? "Background append only file rewriting scheduled"
                                      : "Background append only file rewriting started");
    KV_ASSERT(reply_since_mark(&context->reply) > 0 || context->reply.failed);
}

static const struct cmd aof_cmds[] = {
    {"bgrewriteaof", 1, 0, 0, 0, 0, cmd_bgrewriteaof},
};

CMD_FAMILY(cmd_family_aof, "server", aof_cmds);
