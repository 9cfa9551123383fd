/*
 * Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD|EXISTS|FLUSH|KILL|
 * HELP, answered as Redis 7.0 answers them. The work is script.c's (the Lua state, the cache,
 * redis.call); these handlers read the arguments and pick the form. A script runs whole
 * before anything else (one thread), so SCRIPT KILL never finds one running.
 */
#include "cmd_handlers.h"

#include "script.h"

CMD_HANDLER(cmd_eval)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_eval(context->script, context, args, arg_count, false, false);
}

CMD_HANDLER(cmd_eval_ro)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_eval(context->script, context, args, arg_count, false, true);
}

CMD_HANDLER(cmd_evalsha)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_eval(context->script, context, args, arg_count, true, false);
}

CMD_HANDLER(cmd_evalsha_ro)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_eval(context->script, context, args, arg_count, true, true);
}

static const char *const script_help[] = {
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
};

/* SCRIPT FLUSH [ASYNC|SYNC]: both flush at once (the state is small and local). */
static void script_flush_command(struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    bool mode_ok = arg_count == 2 ||
                   (arg_count == 3 && (cmd_arg_is(args[2], "sync") || cmd_arg_is(args[2], "async")));
    if (!mode_ok) {
        reply_error(&context->reply, REPLY_ERROR_SCRIPT_FLUSH_MODE);
        return;
    }
    script_flush(context->script);
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_script)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    struct script *script = context->script;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "script|help")) {
        cmd_reply_help(&context->reply, script_help, sizeof(script_help) / sizeof(script_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "flush", -2, "script|flush")) {
        script_flush_command(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "exists", -3, "script|exists")) {
        reply_array(&context->reply, arg_count - 2);
        /* Bounded by the arguments. */
        for (uint32_t index = 2; index < arg_count; index++) {
            reply_integer(&context->reply, script_exists(script, args[index]) ? 1 : 0);
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "load", 3, "script|load")) {
        script_load(script, &context->reply, args[2]);
    } else if (cmd_subcommand_is(context, args, arg_count, "kill", 2, "script|kill")) {
        /* One thread: when a client's SCRIPT KILL is read, no script is running. */
        reply_error(&context->reply, REPLY_ERROR_NOTBUSY);
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "SCRIPT");
    }
    KV_ASSERT(context->reply.total > length_before);
}

static const struct cmd script_cmds[] = {
    {"eval", -3, 0, 0, 0, 0, cmd_eval},
    {"eval_ro", -3, 0, 0, 0, 0, cmd_eval_ro},
    {"evalsha", -3, 0, 0, 0, 0, cmd_evalsha},
    {"evalsha_ro", -3, 0, 0, 0, 0, cmd_evalsha_ro},
    {"script", -2, 0, 0, 0, 0, cmd_script},
};

CMD_FAMILY(cmd_family_script, "scripting", script_cmds);
