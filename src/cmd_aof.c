/*
 * BGREWRITEAOF as Redis's bgrewriteaofCommand: the sliced rewrite (aof.h) starts now, its
 * point in time being this command; inside EXEC, or while a BGSAVE's snapshot runs, it is
 * scheduled (the pass's end, the snapshot's end). With appendonly no it runs too, as Redis
 * 7.0's: a base file and a manifest listing it alone.
 */
#include "cmd_handlers.h"

#include <errno.h>

#include "propagate.h"

CMD_HANDLER(cmd_bgrewriteaof)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    int status = propagate_rewrite_request(context->mode == CMD_MODE_EXEC);
    if (status == -EBUSY) {
        reply_error(&context->reply, REPLY_ERROR_AOF_REWRITE_IN_PROGRESS);
    } else if (status < 0) {
        reply_error(&context->reply, REPLY_ERROR_AOF_REWRITE_FAILED);
    } else {
        reply_simple(&context->reply, status == 1
                                          ? "Background append only file rewriting scheduled"
                                          : "Background append only file rewriting started");
    }
    KV_ASSERT(reply_since_mark(&context->reply) > 0 || context->reply.failed);
}

static const struct cmd aof_cmds[] = {
    {"bgrewriteaof", 1, 0, 0, 0, 0, cmd_bgrewriteaof},
};

CMD_FAMILY(cmd_family_aof, "server", aof_cmds);
