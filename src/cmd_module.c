/*
 * MODULE, DEBUG and LOLWUT as Redis 7.0 answers them on a server with no modules.
 *
 * DEBUG is protected (enable-debug-command, default "no": Redis's long refusal). Where it is
 * allowed kv has SLEEP <seconds> (the server sleeps, as Redis's does, for the time asked) and
 * CHANGE-REPL-ID (OK: no replication id to change); every other subcommand (OBJECT,
 * SET-ACTIVE-EXPIRE, RELOAD, JMAP, ...) answers Redis's unknown-subcommand error.
 *
 * MODULE LIST is empty and HELP is Redis's; LOAD, LOADEX and UNLOAD are "protected"
 * subcommands: with enable-module-command "no" (the default) they answer Redis's long
 * refusal, and where they are allowed ("yes", or "local" from a loopback client) kv, which
 * loads no code, answers what Redis answers when the library cannot load or the module is
 * not loaded.
 *
 * LOLWUT [VERSION n] [args]: Redis 7.0.15 draws art for versions 5 and 6 (random, so never
 * the same twice) and prints only its version line otherwise. kv parses the same arguments
 * (their errors are Redis's) and answers each version's last line: the credit and
 * "Redis ver. 7.0.15", without the drawing. A verbatim string ("txt") in RESP3.
 */
#include "cmd_handlers.h"

#include <string.h>
#include <time.h>

#include "client.h"
#include "conn.h"
#include "number.h"
#include "redis_param.h"

#define MODULE_REDIS_VERSION "7.0.15"

/* Whether a protected action (enable-debug-command, enable-module-command) is allowed to this
 * client: "yes", or "local" and a loopback peer, as Redis's allowProtectedAction. */
static bool cmd_protected_allowed(const struct cmd_context *context, const char *param)
{
    KV_ASSERT(param != NULL);
    int32_t index = redis_param_find(param, strlen(param));
    KV_ASSERT(index >= 0); /* a Redis 7.0 parameter the table has */
    const char *value = redis_param_value((uint32_t)index);
    if (strcmp(value, "yes") == 0) {
        return true;
    }
    if (strcmp(value, "local") != 0) {
        return false;
    }
    const struct conn *conn = conn_at(context->conns, context->client->slot_index);
    KV_ASSERT(conn->addr_length <= sizeof(conn->addr));
    /* "127.x.x.x:port" or "[::1]:port"/"::1:port", as Redis's islocalClient. */
    return (conn->addr_length >= 4 && memcmp(conn->addr, "127.", 4) == 0) ||
           (conn->addr_length >= 3 && memcmp(conn->addr, "::1", 3) == 0) ||
           (conn->addr_length >= 5 && memcmp(conn->addr, "[::1]", 5) == 0);
}

static const char *const module_help[] = {
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    ("    Load a module library from <path>, while passing it module configurations and "
     "optional arguments."),
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
};

CMD_HANDLER(cmd_module)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    struct slice sub = args[1];
    bool load = cmd_arg_is(sub, "load") || cmd_arg_is(sub, "loadex");
    bool unload = cmd_arg_is(sub, "unload");
    /* The command table's arities come first, as Redis checks them before running. */
    if ((cmd_arg_is(sub, "list") || cmd_arg_is(sub, "help")) && arg_count != 2) {
        reply_error_arity(&context->reply, cmd_arg_is(sub, "list") ? "module|list"
                                                                   : "module|help");
    } else if (load && arg_count < 3) {
        reply_error_arity(&context->reply, cmd_arg_is(sub, "load") ? "module|load"
                                                                   : "module|loadex");
    } else if (unload && arg_count != 3) {
        reply_error_arity(&context->reply, "module|unload");
    } else if ((load || unload) &&
               !cmd_protected_allowed(context, "enable-module-command")) {
        reply_error(&context->reply, REPLY_ERROR_MODULE_NOT_ALLOWED);
    } else if (load) {
        reply_error(&context->reply, REPLY_ERROR_MODULE_LOAD); /* kv loads no code */
    } else if (unload) {
        reply_error(&context->reply, REPLY_ERROR_MODULE_UNLOAD); /* none is loaded */
    } else if (cmd_arg_is(sub, "list")) {
        reply_array(&context->reply, 0);
    } else if (cmd_arg_is(sub, "help")) {
        cmd_reply_help(&context->reply, module_help, sizeof(module_help) / sizeof(module_help[0]));
    } else {
        reply_error_unknown_subcommand(&context->reply, sub, "MODULE");
    }
    KV_ASSERT(context->reply.total > length_before); /* every subcommand answers once */
}

CMD_HANDLER(cmd_debug)
{
    KV_ASSERT(arg_count >= 2);
    if (!cmd_protected_allowed(context, "enable-debug-command")) {
        reply_error(&context->reply, REPLY_ERROR_DEBUG_NOT_ALLOWED);
        return;
    }
    if (cmd_arg_is(args[1], "sleep") && arg_count == 3) {
        /* Redis reads the seconds with strtod: what is not a number sleeps 0 s. */
        double seconds = 0;
        if (!number_parse_double(args[2].bytes, args[2].length, &seconds) || !(seconds > 0)) {
            seconds = 0;
        }
        int64_t micros = seconds < 9.2e12 ? (int64_t)(seconds * 1e6) : INT64_MAX / 1000;
        struct timespec wait = {.tv_sec = micros / 1000000, .tv_nsec = (micros % 1000000) * 1000};
        KV_ASSERT(wait.tv_nsec >= 0 && wait.tv_nsec < 1000000000);
        (void)nanosleep(&wait, NULL); /* an interrupted sleep ends early, as Redis's */
        reply_ok(&context->reply);
    } else if (cmd_arg_is(args[1], "change-repl-id") && arg_count == 2) {
        reply_ok(&context->reply);
    } else {
        reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "DEBUG");
    }
}

/* Redis's lolwut5/lolwut6 read up to `count` integer arguments (sizes, clamped); a bad one
 * is Redis's integer error. */
static bool lolwut_sizes_ok(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count, uint32_t count)
{
    KV_ASSERT(count <= 3);
    /* Bounded by `count`. */
    for (uint32_t index = 1; index <= count && index < arg_count; index++) {
        int64_t value = 0;
        if (!number_parse_int64(args[index].bytes, args[index].length, &value)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return false;
        }
    }
    return true;
}

CMD_HANDLER(cmd_lolwut)
{
    KV_ASSERT(arg_count >= 1);
    /* Redis's own version picks the form unless VERSION n names one. */
    uint32_t version = 7;
    if (arg_count >= 3 && cmd_arg_is(args[1], "version")) {
        int64_t asked = 0;
        if (!number_parse_int64(args[2].bytes, args[2].length, &asked)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
        version = (uint32_t)asked; /* Redis prints it with %u: the same truncation */
        args += 2;
        arg_count -= 2;
    }
    const char *line = "Redis ver. " MODULE_REDIS_VERSION "\n";
    if (version == 5) {
        if (!lolwut_sizes_ok(context, args, arg_count, 3)) {
            return;
        }
        line = "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. " MODULE_REDIS_VERSION
               "\n";
    } else if (version == 6) {
        if (!lolwut_sizes_ok(context, args, arg_count, 2)) {
            return;
        }
        line = "\nDedicated to the 8 bit game developers of past and present.\n"
               "Original 8 bit image from Plaguemon by hikikomori. Redis ver. " MODULE_REDIS_VERSION
               "\n";
    }
    size_t length = strlen(line);
    KV_ASSERT(length < 200);
    reply_verbatim(&context->reply,
                   (struct slice){.bytes = (const uint8_t *)line, .length = (uint32_t)length},
                   "txt");
}

static const struct cmd module_cmds[] = {
    {"module", -2, 0, 0, 0, 0, cmd_module},
    {"lolwut", -1, 0, 0, 0, 0, cmd_lolwut},
    {"debug", -2, 0, 0, 0, 0, cmd_debug},
};

CMD_FAMILY(cmd_family_module, "server", module_cmds);
