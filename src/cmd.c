/*
 * The command table and dispatch. Names match case-insensitively; arity follows Redis's
 * convention (n: exactly n arguments with the name, -n: at least n). Each entry carries a
 * bound on its reply so the connection can check room in its send buffer before running the
 * command. The table is a constant array scanned by length then bytes: kv has few commands.
 */
#include "cmd.h"

#include <string.h>
#include <time.h>

#include "cmd_handlers.h"

enum cmd_reply_bound {
    CMD_REPLY_SMALL, /* status, integer or error: PLAN_REPLY_SMALL_BYTES */
    CMD_REPLY_VALUE, /* one value: plan->reply_value_bytes */
    CMD_REPLY_LIST,  /* elements of a list: as many as elements_max allows */
    CMD_REPLY_INFO,  /* INFO text, CONFIG GET: PLAN_REPLY_INFO_BYTES */
};

struct cmd {
    const char *name;        /* lower case, as Redis names it in errors */
    uint8_t name_bytes;      /* strlen(name) */
    int8_t arity;            /* n: exactly n args; -n: at least n */
    uint8_t reply_bound;     /* enum cmd_reply_bound */
    /* CMD_REPLY_LIST: most elements the reply can carry, from the arguments */
    uint32_t (*elements_max)(const struct slice *args, uint32_t arg_count, uint32_t list_max);
    void (*handler)(struct cmd_context *context, const struct slice *args, uint32_t arg_count);
};

#define CMD(name_, arity_, bound_, handler_) \
    {name_, sizeof(name_) - 1, arity_, bound_, NULL, handler_}
#define CMD_LIST(name_, arity_, elements_, handler_) \
    {name_, sizeof(name_) - 1, arity_, CMD_REPLY_LIST, elements_, handler_}

static const struct cmd cmd_table[] = {
    CMD("get", 2, CMD_REPLY_VALUE, cmd_get),
    CMD("set", -3, CMD_REPLY_SMALL, cmd_set),
    CMD("del", -2, CMD_REPLY_SMALL, cmd_del),
    CMD("exists", -2, CMD_REPLY_SMALL, cmd_exists),
    CMD("lpush", -3, CMD_REPLY_SMALL, cmd_lpush),
    CMD("rpush", -3, CMD_REPLY_SMALL, cmd_rpush),
    CMD_LIST("lrange", 4, cmd_lrange_elements_max, cmd_lrange),
    CMD("llen", 2, CMD_REPLY_SMALL, cmd_llen),
    CMD_LIST("lpop", -2, cmd_pop_elements_max, cmd_lpop),
    CMD_LIST("rpop", -2, cmd_pop_elements_max, cmd_rpop),
    CMD("ping", -1, CMD_REPLY_VALUE, cmd_ping),
    CMD("echo", 2, CMD_REPLY_VALUE, cmd_echo),
    CMD("quit", -1, CMD_REPLY_SMALL, cmd_quit),
    CMD("config", -2, CMD_REPLY_INFO, cmd_config),
    CMD("command", -1, CMD_REPLY_INFO, cmd_command),
    CMD("info", -1, CMD_REPLY_INFO, cmd_info),
};

#define CMD_COUNT (sizeof(cmd_table) / sizeof(cmd_table[0]))

/* Per-command counters for INFO commandstats, one per table entry (static storage). */
static struct cmd_stats cmd_stats[CMD_COUNT];

bool cmd_stats_at(uint32_t index, const char **name, struct cmd_stats *stats)
{
    if (index >= CMD_COUNT) {
        return false;
    }
    *name = cmd_table[index].name;
    *stats = cmd_stats[index];
    return true;
}

void cmd_stats_reset(void)
{
    memset(cmd_stats, 0, sizeof(cmd_stats));
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* Longest command name in the table; a longer args[0] cannot match. */
#define CMD_NAME_BYTES_MAX 16u

uint32_t cmd_table_count(void)
{
    return CMD_COUNT;
}

bool cmd_arg_is(struct slice arg, const char *word)
{
    size_t word_bytes = strlen(word);
    return arg.length == word_bytes && strncasecmp((const char *)arg.bytes, word, word_bytes) == 0;
}

const struct cmd *cmd_find(const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    struct slice name = args[0];
    if (name.length == 0 || name.length > CMD_NAME_BYTES_MAX) {
        return NULL;
    }
    for (uint32_t index = 0; index < CMD_COUNT; index++) {
        const struct cmd *cmd = &cmd_table[index];
        if (cmd->name_bytes == name.length &&
            strncasecmp(cmd->name, (const char *)name.bytes, name.length) == 0) {
            return cmd;
        }
    }
    return NULL;
}

uint32_t cmd_reply_bytes_max(const struct cmd *cmd, const struct plan *plan,
                             const struct slice *args, uint32_t arg_count)
{
    if (cmd == NULL) {
        return PLAN_REPLY_SMALL_BYTES;
    }
    switch (cmd->reply_bound) {
    case CMD_REPLY_SMALL:
        return PLAN_REPLY_SMALL_BYTES;
    case CMD_REPLY_VALUE:
        return plan->reply_value_bytes;
    case CMD_REPLY_LIST: {
        uint32_t elements = cmd->elements_max(args, arg_count, plan->list_length_max);
        KV_ASSERT(elements <= plan->list_length_max);
        /* Header, elements, and room for a single value or an error instead. */
        uint64_t bytes = 16 + (uint64_t)elements * plan->reply_element_bytes +
                         plan->reply_value_bytes;
        return bytes < plan->send_buffer_bytes ? (uint32_t)bytes : plan->send_buffer_bytes;
    }
    case CMD_REPLY_INFO:
        return PLAN_REPLY_INFO_BYTES;
    default:
        KV_ASSERT(false);
        return 0;
    }
}

static bool arity_ok(const struct cmd *cmd, uint32_t arg_count)
{
    if (cmd->arity >= 0) {
        return arg_count == (uint32_t)cmd->arity;
    }
    return arg_count >= (uint32_t)-cmd->arity;
}

enum reply_error cmd_store_error(enum store_status status)
{
    switch (status) {
    case STORE_WRONGTYPE:
        return REPLY_ERROR_WRONGTYPE;
    case STORE_FULL:
        return REPLY_ERROR_STORE_FULL;
    case STORE_KEY_TOO_LONG:
        return REPLY_ERROR_KEY_TOO_LONG;
    case STORE_VALUE_TOO_LONG:
        return REPLY_ERROR_VALUE_TOO_LONG;
    case STORE_LIST_FULL:
        return REPLY_ERROR_LIST_FULL;
    default:
        KV_ASSERT(false);
        return REPLY_ERROR_NONE;
    }
}

void cmd_execute(struct cmd_context *context, const struct cmd *cmd, const struct slice *args,
                 uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    uint32_t length_before = context->reply.length;
    if (cmd == NULL) {
        reply_error_unknown_command(&context->reply, args, arg_count);
        return;
    }
    struct cmd_stats *stats = &cmd_stats[cmd - cmd_table];
    if (!arity_ok(cmd, arg_count)) {
        stats->rejected_calls++;
        reply_error_arity(&context->reply, cmd->name);
        return;
    }
    context->stats->commands_processed++;
    uint64_t started_ns = monotonic_ns();
    cmd->handler(context, args, arg_count);
    stats->calls++;
    stats->duration_ns += monotonic_ns() - started_ns;
    /* An error reply from the handler counts as a failed call, as Redis counts it. */
    stats->failed_calls += context->reply.bytes[length_before] == '-' ? 1 : 0;
    /* Every command answers exactly once, within its bound. */
    KV_ASSERT(context->reply.length > length_before);
    KV_ASSERT(context->reply.length - length_before <=
              cmd_reply_bytes_max(cmd, context->plan, args, arg_count));
}
