/*
 * Client commands: the connection's own state (id, name, library) and the list of clients.
 */
#include "cmd_handlers.h"

CMD_HANDLER(cmd_client)
{
    KV_ASSERT(arg_count >= 2);
    if (cmd_arg_is(args[1], "id")) {
        if (arg_count != 2) {
            reply_error_arity(&context->reply, "client|id");
            return;
        }
        reply_integer(&context->reply, (int64_t)context->client_id);
        return;
    }
    reply_error_unknown_subcommand(&context->reply, args[1], "CLIENT");
}

static const struct cmd client_cmds[] = {
    {"client", -2, 0, 0, 0, 0, cmd_reply_info, cmd_client},
};

CMD_FAMILY(cmd_family_client, client_cmds);
