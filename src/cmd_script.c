/*
 * Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP,
 * FCALL, FCALL_RO and FUNCTION LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|STATS|KILL|HELP, answered
 * as Redis 7.0 answers them. The work is script.c's (the Lua states, the cache, redis.call)
 * and function.c's (the libraries); these handlers read the arguments and pick the form.
 * SCRIPT KILL and FUNCTION KILL find a script running only when they arrive during a slow
 * script's busy pass (script.h); otherwise nothing runs while a command is read.
 */
#include "cmd_handlers.h"

#include "function.h"
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
        script_kill(script, &context->reply, true);
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "SCRIPT");
    }
    KV_ASSERT(context->reply.total > length_before);
}

CMD_HANDLER(cmd_fcall)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_fcall(context->script, context, args, arg_count, false);
}

CMD_HANDLER(cmd_fcall_ro)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(context->script != NULL);
    script_fcall(context->script, context, args, arg_count, true);
}

static const char *const function_help[] = {
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME "
    "argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored "
    "using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a "
    "restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, "
    "abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a "
    "chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
};

/* Redis's addReplySubcommandSyntaxError for FUNCTION. */
static void function_syntax_error(struct cmd_context *context, const struct slice *args)
{
    reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "FUNCTION");
}

/* FUNCTION LOAD [REPLACE] code, as functionLoadCommand reads its options. */
static void function_load_command(struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    bool replace = false;
    uint32_t at = 2;
    /* Bounded by the arguments. */
    while (at < arg_count - 1) {
        if (!cmd_arg_is(args[at], "replace")) {
            reply_error_format(&context->reply, REPLY_ERROR_FUNCTION_LOAD_OPTION, &args[at]);
            return;
        }
        replace = true;
        at++;
    }
    KV_ASSERT(at == arg_count - 1);
    function_load(context->script, &context->reply, args[at], replace);
}

/* FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]. */
static void function_list_command(struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    bool with_code = false;
    const struct slice *pattern = NULL;
    /* Bounded by the arguments. */
    for (uint32_t at = 2; at < arg_count; at++) {
        if (!with_code && cmd_arg_is(args[at], "withcode")) {
            with_code = true;
        } else if (pattern == NULL && cmd_arg_is(args[at], "libraryname")) {
            if (at >= arg_count - 1) {
                reply_error(&context->reply, REPLY_ERROR_FUNCTION_LIBRARYNAME_MISSING);
                return;
            }
            pattern = &args[++at];
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_FUNCTION_LIST_ARGUMENT, &args[at]);
            return;
        }
    }
    function_list(context->script, &context->reply, pattern, with_code);
}

static void function_flush_command(struct cmd_context *context, const struct slice *args,
                                   uint32_t arg_count)
{
    if (arg_count > 3) {
        function_syntax_error(context, args);
        return;
    }
    if (arg_count == 3 && !cmd_arg_is(args[2], "sync") && !cmd_arg_is(args[2], "async")) {
        reply_error(&context->reply, REPLY_ERROR_FUNCTION_FLUSH_MODE);
        return;
    }
    function_flush(context->script);
    reply_ok(&context->reply);
}

static void function_restore_command(struct cmd_context *context, const struct slice *args,
                                     uint32_t arg_count)
{
    if (arg_count > 4) {
        function_syntax_error(context, args);
        return;
    }
    enum function_restore_policy policy = FUNCTION_RESTORE_APPEND;
    if (arg_count == 4) {
        if (cmd_arg_is(args[3], "append")) {
            policy = FUNCTION_RESTORE_APPEND;
        } else if (cmd_arg_is(args[3], "replace")) {
            policy = FUNCTION_RESTORE_REPLACE;
        } else if (cmd_arg_is(args[3], "flush")) {
            policy = FUNCTION_RESTORE_FLUSH;
        } else {
            reply_error(&context->reply, REPLY_ERROR_FUNCTION_RESTORE_POLICY);
            return;
        }
    }
    function_restore(context->script, &context->reply, args[2], policy);
}

CMD_HANDLER(cmd_function)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    struct script *script = context->script;
    struct reply *reply = &context->reply;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "function|help")) {
        cmd_reply_help(reply, function_help, sizeof(function_help) / sizeof(function_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "load", -3, "function|load")) {
        function_load_command(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "list", -2, "function|list")) {
        function_list_command(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "delete", 3, "function|delete")) {
        function_delete(script, reply, args[2]);
    } else if (cmd_subcommand_is(context, args, arg_count, "flush", -2, "function|flush")) {
        function_flush_command(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "dump", 2, "function|dump")) {
        function_dump(script, reply);
    } else if (cmd_subcommand_is(context, args, arg_count, "restore", -3, "function|restore")) {
        function_restore_command(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "stats", 2, "function|stats")) {
        function_stats(script, reply);
    } else if (cmd_subcommand_is(context, args, arg_count, "kill", 2, "function|kill")) {
        script_kill(script, reply, false);
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(reply, args[1], "FUNCTION");
    }
    KV_ASSERT(context->reply.total > length_before || context->reply.failed);
}

static const struct cmd script_cmds[] = {
    {"eval", -3, 0, 0, 0, 0, cmd_eval},
    {"eval_ro", -3, 0, 0, 0, 0, cmd_eval_ro},
    {"evalsha", -3, 0, 0, 0, 0, cmd_evalsha},
    {"evalsha_ro", -3, 0, 0, 0, 0, cmd_evalsha_ro},
    {"script", -2, 0, 0, 0, 0, cmd_script},
    {"fcall", -3, 0, 0, 0, 0, cmd_fcall},
    {"fcall_ro", -3, 0, 0, 0, 0, cmd_fcall_ro},
    {"function", -2, 0, 0, 0, 0, cmd_function},
};

CMD_FAMILY(cmd_family_script, "scripting", script_cmds);
