/*
 * Latency observability in Redis 7's formats: LATENCY HISTOGRAM (per-command cumulative
 * counts at power-of-two microsecond bounds), the latency-monitor subcommands as Redis answers
 * them with its monitor off (kv has no latency events: DOCTOR's report is Redis's for no
 * events, by latency-monitor-threshold, and GRAPH has no samples for any event), and
 * SLOWLOG GET/LEN/RESET over the ring in slowlog.c. Everything reads static or carved memory.
 */
#include "cmd_handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "latency.h"
#include "number.h"
#include "redis_param.h"
#include "slowlog.h"


static void reply_text(struct reply *reply, const char *text)
{
    KV_ASSERT(text != NULL);
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX); /* kv's own text, narrowed to a slice length */
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length});
}

/* Bounds Redis's iteration uses: 1024 ns doubling; the key shown is the bucket's highest
 * equivalent value in µs, as hdr_histogram with two significant digits reports it. */
#define HISTOGRAM_BOUNDS 32u
static_assert(HISTOGRAM_BOUNDS < 54, "1024 << bound stays within 64 bits");

static uint32_t histogram_entries(const struct latency_histogram *histogram, int64_t *keys,
                                  int64_t *counts)
{
    uint32_t entries = 0;
    uint64_t previous = 0;
    for (uint32_t step = 0; step < HISTOGRAM_BOUNDS && previous < histogram->count; step++) {
        uint64_t bound_ns = 1024ull << step;
        uint64_t cumulative = latency_count_below(histogram, bound_ns);
        if (step + 1 == HISTOGRAM_BOUNDS) {
            cumulative = histogram->count; /* the rest, however slow */
        }
        if (cumulative > previous) {
            KV_ASSERT(entries < HISTOGRAM_BOUNDS); /* at most one entry per bound */
            keys[entries] = (int64_t)((bound_ns + bound_ns / 128u - 1u) / 1000u);
            counts[entries] = (int64_t)cumulative;
            entries++;
        }
        previous = cumulative;
    }
    /* Cumulative: the last entry counts every sample. */
    KV_ASSERT(entries == 0 || counts[entries - 1] == (int64_t)histogram->count);
    return entries;
}

static void reply_histogram(struct cmd_context *context, const char *name,
                            const struct latency_histogram *histogram)
{
    KV_ASSERT(histogram->count > 0); /* only called commands are shown */
    int64_t keys[HISTOGRAM_BOUNDS];
    int64_t counts[HISTOGRAM_BOUNDS];
    uint32_t entries = histogram_entries(histogram, keys, counts);
    KV_ASSERT(entries > 0);
    reply_text(&context->reply, name);
    reply_map(&context->reply, 2);
    reply_text(&context->reply, "calls");
    reply_integer(&context->reply, (int64_t)histogram->count);
    reply_text(&context->reply, "histogram_usec");
    reply_map(&context->reply, entries);
    for (uint32_t index = 0; index < entries; index++) {
        reply_integer(&context->reply, keys[index]);
        reply_integer(&context->reply, counts[index]);
    }
}

/* The position of a called command named `name`, or false (unknown or never called). */
static bool called_command(struct slice name, uint32_t *position)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    const char *command_name = NULL;
    struct cmd_stats stats;
    for (uint32_t index = 0; cmd_stats_at(index, &command_name, &stats); index++) {
        if (cmd_arg_is(name, command_name)) {
            *position = index;
            KV_ASSERT(*position < cmd_count());
            return cmd_latency_at(index)->count > 0;
        }
    }
    return false;
}

/* LATENCY HISTOGRAM [command ...]: every command called so far, or the named ones in the
 * order named (unknown or uncalled names are left out, as in Redis). Two passes, each bounded
 * by the command list or the arguments: count, then write. */
static void latency_histogram(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2); /* LATENCY HISTOGRAM */
    const char *name = NULL;
    struct cmd_stats stats;
    uint32_t shown = 0;
    uint32_t written_count = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            reply_map(&context->reply, shown);
        }
        if (arg_count > 2) {
            for (uint32_t arg = 2; arg < arg_count; arg++) {
                uint32_t position = 0;
                if (!called_command(args[arg], &position)) {
                    continue;
                }
                bool found = cmd_stats_at(position, &name, &stats);
                KV_ASSERT(found);
                shown += pass == 0 ? 1 : 0;
                if (pass == 1) {
                    reply_histogram(context, name, cmd_latency_at(position));
                    written_count++;
                }
            }
            continue;
        }
        for (uint32_t index = 0; cmd_stats_at(index, &name, &stats); index++) {
            if (cmd_latency_at(index)->count == 0) {
                continue;
            }
            shown += pass == 0 ? 1 : 0;
            if (pass == 1) {
                reply_histogram(context, name, cmd_latency_at(index));
                written_count++;
            }
        }
    }
    KV_ASSERT(written_count == shown); /* the write pass showed what the count pass counted */
}

static const char *const latency_help[] = {
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
};

/* LATENCY DOCTOR with no events, as Redis's createLatencyReport: the monitor disabled
 * (latency-monitor-threshold 0), or on and nothing observed. Verbatim text in RESP3. */
static void latency_doctor(struct reply *reply)
{
    static const char disabled[] =
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis "
        "instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in "
        "order to enable it. If we weren't in a deep space mission I'd suggest to take a look "
        "at https://redis.io/topics/latency-monitor.\n";
    static const char calm[] =
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in "
        "the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, "
        "and think things over.\n";
    int32_t index = redis_param_find("latency-monitor-threshold", 25);
    KV_ASSERT(index >= 0); /* a Redis 7.0 parameter the table has */
    bool off = strcmp(redis_param_value((uint32_t)index), "0") == 0;
    const char *text = off ? disabled : calm;
    uint32_t length = off ? (uint32_t)sizeof(disabled) - 1 : (uint32_t)sizeof(calm) - 1;
    KV_ASSERT(text[length - 1] == '\n');
    reply_verbatim(reply, (struct slice){.bytes = (const uint8_t *)text, .length = length}, "txt");
}

static const char *const slowlog_help[] = {
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
};

/* The arity error of a known subcommand ("latency|help"): `command` in lower case and the
 * subcommand, one kv knows, lowered. */
static void reply_subcommand_arity(struct reply *reply, const char *command, struct slice sub)
{
    /* A subcommand cmd_arg_is matched: one of kv's few short words. */
    KV_ASSERT(sub.length > 0);
    KV_ASSERT(sub.length <= 16);
    char name[32];
    int written = snprintf(name, sizeof(name), "%s|%.*s", command, (int)sub.length,
                           (const char *)sub.bytes);
    KV_ASSERT(written > 0);
    KV_ASSERT((size_t)written < sizeof(name)); /* nothing was cut */
    for (char *at = name; *at != '\0'; at++) {
        *at = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
    }
    reply_error_arity(reply, name);
}

CMD_HANDLER(cmd_latency)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    if (cmd_arg_is(args[1], "histogram")) {
        latency_histogram(context, args, arg_count);
    } else if (cmd_arg_is(args[1], "help") && arg_count == 2) {
        cmd_reply_help(&context->reply, latency_help, sizeof(latency_help) / sizeof(latency_help[0]));
    } else if (cmd_arg_is(args[1], "latest") && arg_count == 2) {
        reply_array(&context->reply, 0); /* no latency events: the monitor is off */
    } else if (cmd_arg_is(args[1], "history") && arg_count == 3) {
        reply_array(&context->reply, 0);
    } else if (cmd_arg_is(args[1], "reset")) {
        reply_integer(&context->reply, 0);
    } else if (cmd_arg_is(args[1], "doctor") && arg_count == 2) {
        latency_doctor(&context->reply);
    } else if (cmd_arg_is(args[1], "graph") && arg_count == 3) {
        /* No event has samples: kv records no latency events. */
        reply_error_format(&context->reply, REPLY_ERROR_LATENCY_NO_SAMPLES, &args[2]);
    } else if (cmd_arg_is(args[1], "latest") || cmd_arg_is(args[1], "history") ||
               cmd_arg_is(args[1], "help") || cmd_arg_is(args[1], "doctor") ||
               cmd_arg_is(args[1], "graph")) {
        reply_subcommand_arity(&context->reply, "latency", args[1]);
    } else {
        reply_error_unknown_subcommand(&context->reply, args[1], "LATENCY");
    }
    KV_ASSERT(context->reply.total > length_before); /* every subcommand answers once */
}

static void reply_entry(struct cmd_context *context, const struct slowlog_entry *entry)
{
    KV_ASSERT(entry->arg_count <= SLOWLOG_ARGS_MAX);
    KV_ASSERT(entry->addr_bytes <= sizeof(entry->addr));
    KV_ASSERT(entry->name_bytes <= sizeof(entry->name));
    reply_array(&context->reply, 6);
    reply_integer(&context->reply, (int64_t)entry->id);
    reply_integer(&context->reply, entry->time_s);
    reply_integer(&context->reply, (int64_t)entry->duration_us);
    reply_array(&context->reply, entry->arg_count + (entry->args_more > 0 ? 1 : 0));
    for (uint32_t index = 0; index < entry->arg_count; index++) {
        if (entry->arg_more[index] == 0) {
            reply_bulk(&context->reply, (struct slice){.bytes = entry->args[index],
                                                       .length = entry->arg_bytes[index]});
            continue;
        }
        uint8_t text[SLOWLOG_ARG_BYTES_MAX + 48];
        /* The kept part of a cut argument fits before the note. */
        KV_ASSERT(entry->arg_bytes[index] <= SLOWLOG_ARG_BYTES_MAX);
        memcpy(text, entry->args[index], entry->arg_bytes[index]);
        int more = snprintf((char *)text + entry->arg_bytes[index], 48, "... (%u more bytes)",
                            entry->arg_more[index]);
        KV_ASSERT(more > 0);
        KV_ASSERT(more < 48); /* "... (4294967295 more bytes)" fits */
        reply_bulk(&context->reply, (struct slice){.bytes = text,
                                                   .length = entry->arg_bytes[index] + (uint32_t)more});
    }
    if (entry->args_more > 0) {
        char text[48];
        snprintf(text, sizeof(text), "... (%u more arguments)", entry->args_more);
        reply_text(&context->reply, text);
    }
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)entry->addr,
                                               .length = entry->addr_bytes});
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)entry->name,
                                               .length = entry->name_bytes});
}

/* SLOWLOG GET [count]: newest first, `count` of them (default 10, -1 all), as Redis. */
static void slowlog_get(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                        const struct slowlog *slowlog)
{
    KV_ASSERT(arg_count == 2 || arg_count == 3);
    int64_t count = 10;
    if (arg_count == 3 &&
        (!number_parse_int64(args[2].bytes, args[2].length, &count) || count < -1)) {
        reply_error(&context->reply, REPLY_ERROR_SLOWLOG_COUNT);
        return;
    }
    uint64_t wanted = count == -1 || (uint64_t)count > slowlog->count ? slowlog->count
                                                                        : (uint64_t)count;
    uint32_t shown = (uint32_t)wanted;
    KV_ASSERT(shown <= slowlog->count);
    reply_array(&context->reply, shown);
    for (uint32_t age = 0; age < shown; age++) {
        const struct slowlog_entry *entry = slowlog_at(slowlog, age);
        KV_ASSERT(entry != NULL); /* age < count: a held entry */
        reply_entry(context, entry);
    }
}

CMD_HANDLER(cmd_slowlog_command)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    struct slowlog *slowlog = cmd_slowlog();
    if (cmd_arg_is(args[1], "get") && arg_count <= 3) {
        slowlog_get(context, args, arg_count, slowlog);
    } else if (cmd_arg_is(args[1], "len") && arg_count == 2) {
        reply_integer(&context->reply, slowlog->count);
    } else if (cmd_arg_is(args[1], "reset") && arg_count == 2) {
        slowlog_reset(slowlog);
        reply_ok(&context->reply);
    } else if (cmd_arg_is(args[1], "help") && arg_count == 2) {
        cmd_reply_help(&context->reply, slowlog_help, sizeof(slowlog_help) / sizeof(slowlog_help[0]));
    } else if (cmd_arg_is(args[1], "get") || cmd_arg_is(args[1], "len") ||
               cmd_arg_is(args[1], "reset") || cmd_arg_is(args[1], "help")) {
        reply_subcommand_arity(&context->reply, "slowlog", args[1]);
    } else {
        reply_error_unknown_subcommand(&context->reply, args[1], "SLOWLOG");
    }
    KV_ASSERT(context->reply.total > length_before); /* every subcommand answers once */
}

static const struct cmd latency_cmds[] = {
    {"latency", -2, 0, 0, 0, 0, cmd_latency},
    {"slowlog", -2, 0, 0, 0, 0, cmd_slowlog_command},
};

CMD_FAMILY(cmd_family_latency, "server", latency_cmds);
