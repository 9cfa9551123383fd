/*
 * MONITOR, as Redis 7.0 has it: the client becomes a monitor (client.c keeps the list) and
 * from then on receives, as a status line, every command any client runs, after it ran
 * (EVAL and FCALL before, so that their scripts' commands follow them), in Redis's
 * replicationFeedMonitors format:
 *     +<unix seconds>.<microseconds> [<db> <ip:port>] "<arg>" "<arg>" ...
 * with "lua" for the address of a command a script ran, each argument quoted and escaped as
 * Redis's sdscatrepr. Not shown, as in Redis: commands flagged admin or skip_monitor in
 * Redis's table (CONFIG, CLIENT LIST, MONITOR itself, ...; EVAL and FCALL are shown before
 * they run instead), commands refused before running, a blocked command's retry (it was
 * shown when it first ran). AUTH's and HELLO's passwords read "(redacted)".
 *
 * A monitor may still run commands that do not touch the keyspace (PING, CLIENT, INFO);
 * others get Redis's "Replica can't interact with the keyspace" (cmd_admit). RESET or
 * closing ends monitoring. MONITOR inside EXEC is refused as Redis refuses it; MONITOR from
 * a monitor answers nothing.
 *
 * Bounds: a feed walks the monitors' list once (at most maxclients); each argument is
 * escaped through a stack buffer of MONITOR_CHUNK_BYTES, so nothing is allocated but the
 * monitors' output (the heap, as every reply; a monitor whose output finds no memory is
 * closed, as a subscriber is).
 */
#include "cmd_handlers.h"

#include <string.h>
#include <time.h>

#include "client.h"
#include "conn.h"
#include "stats.h"

/* Escaped bytes written to a reply at a time (an escaped byte takes at most four). */
#define MONITOR_CHUNK_BYTES 256u

/* MONITOR */
CMD_HANDLER(cmd_monitor)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    struct client *client = context->client;
    if (context->mode == CMD_MODE_EXEC) {
        /* Redis's EXEC denies blocking to the commands it runs, MONITOR among them. */
        reply_error(&context->reply, REPLY_ERROR_MONITOR_DENY_BLOCKING);
        return;
    }
    if (client->monitor) {
        context->outcome.silent = true; /* Redis ignores it: no reply */
        return;
    }
    client_monitor_start(context->clients, client);
    reply_ok(&context->reply);
}

/* Whether argument `index` of the command is a password MONITOR must not show: AUTH's
 * (the two- and three-argument forms, as authCommand redacts them) and the two after each
 * AUTH option of HELLO, once HELLO's version parsed. kv stops at HELLO's first syntax error
 * as Redis does, but redacts every AUTH pair up to it even after a failed one (Redis stops
 * redacting at the failure; kv shows a password in no case). */
static bool monitor_redacted(const struct slice *args, uint32_t arg_count, uint32_t index)
{
    if (cmd_arg_is(args[0], "auth")) {
        return arg_count <= 3 && index >= 1;
    }
    if (!cmd_arg_is(args[0], "hello") || arg_count < 2) {
        return false;
    }
    struct slice version = args[1];
    if (version.length != 1 || (version.bytes[0] != '2' && version.bytes[0] != '3')) {
        return false; /* Redis answers the version's error before reading the options */
    }
    /* Bounded by the arguments: each pass moves past at least one. */
    for (uint32_t at = 2; at < arg_count; at++) {
        uint32_t more = arg_count - 1 - at;
        if (cmd_arg_is(args[at], "auth") && more >= 2) {
            if (index == at + 1 || index == at + 2) {
                return true;
            }
            at += 2;
        } else if (cmd_arg_is(args[at], "setname") && more >= 1) {
            at++;
        } else {
            return false;
        }
    }
    return false;
}

/* One argument, quoted and escaped as sdscatrepr: \\ \" \n \r \t \a \b, other bytes outside
 * printable ASCII as \xhh. */
static void monitor_quote(struct reply *reply, struct slice arg)
{
    static const char hex[] = "0123456789abcdef";
    char chunk[MONITOR_CHUNK_BYTES];
    uint32_t used = 0;
    chunk[used++] = '"';
    /* Bounded by the argument's bytes. */
    for (uint32_t at = 0; at < arg.length; at++) {
        if (used + 5 > sizeof(chunk)) {
            reply_raw(reply, chunk, used);
            used = 0;
        }
        uint8_t byte = arg.bytes[at];
        const char *named = byte == '\\' ? "\\\\" : byte == '"' ? "\\\"" : byte == '\n' ? "\\n"
                            : byte == '\r' ? "\\r" : byte == '\t' ? "\\t" : byte == '\a' ? "\\a"
                            : byte == '\b' ? "\\b" : NULL;
        if (named != NULL) {
            chunk[used++] = named[0];
            chunk[used++] = named[1];
        } else if (byte >= 0x20 && byte <= 0x7e) {
            chunk[used++] = (char)byte;
        } else {
            chunk[used++] = '\\';
            chunk[used++] = 'x';
            chunk[used++] = hex[byte >> 4];
            chunk[used++] = hex[byte & 0xf];
        }
    }
    chunk[used++] = '"';
    reply_raw(reply, chunk, used);
}

/* The whole line into one monitor's output. */
static void monitor_line(struct reply *reply, const char *head, uint32_t head_bytes,
                         const struct slice *args, uint32_t arg_count)
{
    static const struct slice redacted = {.bytes = (const uint8_t *)"(redacted)", .length = 10};
    reply_raw(reply, head, head_bytes);
    /* Bounded by the arguments. */
    for (uint32_t index = 0; index < arg_count; index++) {
        if (index > 0) {
            reply_raw(reply, " ", 1);
        }
        monitor_quote(reply, monitor_redacted(args, arg_count, index) ? redacted : args[index]);
    }
    reply_raw(reply, "\r\n", 2);
}

void cmd_monitor_feed(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    struct clients *clients = context->clients;
    KV_ASSERT(clients->monitor_count > 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const struct client *client = context->client;
    const struct conn *source = conn_at(context->conns, client->slot_index);
    char head[128];
    int head_bytes =
        context->script_call
            ? snprintf(head, sizeof(head), "+%lld.%06ld [%u lua] ", (long long)now.tv_sec,
                       now.tv_nsec / 1000, client->db_index)
            : snprintf(head, sizeof(head), "+%lld.%06ld [%u %.*s] ", (long long)now.tv_sec,
                       now.tv_nsec / 1000, client->db_index, (int)source->addr_length,
                       source->addr);
    KV_ASSERT(head_bytes > 0 && (size_t)head_bytes < sizeof(head));
    uint32_t next = clients->monitor_first;
    /* Bounded by the monitors' count: the list is acyclic (client_verify). */
    for (uint32_t step = 0; next != 0; step++) {
        KV_ASSERT(step < clients->monitor_count);
        struct client *target = client_at(clients, next - 1);
        KV_ASSERT(target->monitor);
        next = target->monitor_next;
        /* A monitor runs no script (cmd_admit refuses it EVAL and FCALL). */
        KV_ASSERT(target != client || !context->script_call);
        if (target == client) {
            /* Its own command: after its reply, in the writer that is open on its output. */
            monitor_line(&context->reply, head, (uint32_t)head_bytes, args, arg_count);
            continue;
        }
        struct conn *conn = conn_at(context->conns, target->slot_index);
        if (!conn_live(conn)) {
            continue; /* closing: its output is no longer written */
        }
        struct reply reply = conn_reply(context->conns, conn);
        monitor_line(&reply, head, (uint32_t)head_bytes, args, arg_count);
        if (!conn_reply_deliver(context->conns, conn, &reply)) {
            context->stats->memory_disconnects++;
        }
    }
}

static const struct cmd monitor_cmds[] = {
    {"monitor", 1, 0, 0, 0, 0, cmd_monitor},
};
CMD_FAMILY(cmd_family_monitor, "server", monitor_cmds);
