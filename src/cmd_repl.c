/*
 * Replication commands of a standalone server with no replicas, as Redis 7.0 answers them:
 * ROLE (master, offset 0, no replicas), WAIT (no replica ever acknowledges: 0), REPLICAOF /
 * SLAVEOF NO ONE (+OK: kv is always a master), FAILOVER (its syntax and argument errors, then
 * "requires connected replicas"). kv does not replicate, so REPLICAOF <host> <port> checks
 * the port as Redis does and then answers an error that says so instead of Redis's +OK.
 * WAIT with numreplicas > 0 answers 0 at once where Redis would block until its timeout (the
 * blocking layer answers a timeout with a null, not WAIT's count). Nothing is stored.
 */
#include "cmd_handlers.h"

#include "number.h"

/* ROLE: "master", the replication offset (0: nothing was ever replicated), no replicas. */
CMD_HANDLER(cmd_role)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    uint64_t length_before = context->reply.total;
    reply_array(&context->reply, 3);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)"master", .length = 6});
    reply_integer(&context->reply, 0);
    reply_array(&context->reply, 0);
    KV_ASSERT(context->reply.total > length_before);
}

/* WAIT numreplicas timeout: the arguments as Redis reads them (an integer, then a timeout
 * in whole ms), then the replicas that acknowledged: none. */
CMD_HANDLER(cmd_wait)
{
    KV_ASSERT(arg_count == 3);
    int64_t replicas = 0;
    if (!number_parse_int64(args[1].bytes, args[1].length, &replicas)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    int64_t timeout_ms = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &timeout_ms)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_TIMEOUT_INVALID);
        return;
    }
    if (timeout_ms < 0) {
        reply_error(&context->reply, REPLY_ERROR_TIMEOUT_NEGATIVE);
        return;
    }
    KV_ASSERT(timeout_ms >= 0);
    reply_integer(&context->reply, 0);
}

/* REPLICAOF host port (and SLAVEOF): NO ONE is +OK; any other port is checked as Redis
 * checks it (an integer in 0..65535), then refused: kv has no replication. */
CMD_HANDLER(cmd_replicaof)
{
    KV_ASSERT(arg_count == 3);
    if (cmd_arg_is(args[1], "no") && cmd_arg_is(args[2], "one")) {
        reply_simple(&context->reply, "OK");
        return;
    }
    int64_t port = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &port) || port < 0 || port > 65535) {
        reply_error(&context->reply, REPLY_ERROR_REPLICAOF_PORT);
        return;
    }
    reply_error(&context->reply, REPLY_ERROR_REPLICAOF_UNSUPPORTED);
}

/* FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis's parse, each option once;
 * a master with no replicas then refuses every failover. */
CMD_HANDLER(cmd_failover)
{
    KV_ASSERT(arg_count >= 1);
    if (arg_count == 2 && cmd_arg_is(args[1], "abort")) {
        reply_error(&context->reply, REPLY_ERROR_FAILOVER_NONE);
        return;
    }
    int64_t timeout_ms = 0;
    bool host = false;
    bool force = false;
    /* Bounded by the arguments: each pass consumes at least one. */
    for (uint32_t index = 1; index < arg_count; index++) {
        int64_t number = 0;
        if (cmd_arg_is(args[index], "timeout") && index + 1 < arg_count && timeout_ms == 0) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &number)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return;
            }
            if (number <= 0) {
                reply_error(&context->reply, REPLY_ERROR_FAILOVER_TIMEOUT);
                return;
            }
            timeout_ms = number;
            index++;
        } else if (cmd_arg_is(args[index], "to") && index + 2 < arg_count && !host) {
            if (!number_parse_int64(args[index + 2].bytes, args[index + 2].length, &number)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return;
            }
            host = true;
            index += 2;
        } else if (cmd_arg_is(args[index], "force") && !force) {
            force = true;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    KV_ASSERT(timeout_ms >= 0);
    reply_error(&context->reply, REPLY_ERROR_FAILOVER_NO_REPLICAS);
}

static const struct cmd repl_cmds[] = {
    {"role", 1, 0, 0, 0, 0, cmd_role},
    {"wait", 3, 0, 0, 0, 0, cmd_wait},
    {"replicaof", 3, 0, 0, 0, 0, cmd_replicaof},
    {"slaveof", 3, 0, 0, 0, 0, cmd_replicaof},
    {"failover", -1, 0, 0, 0, 0, cmd_failover},
};

CMD_FAMILY(cmd_family_repl, "server", repl_cmds);
