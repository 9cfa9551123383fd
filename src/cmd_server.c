/*
 * Server and connection commands: PING, ECHO, QUIT, CONFIG GET/SET/RESETSTAT, COMMAND
 * (COUNT, DOCS) and INFO. INFO uses Redis's field names so clients and exporters read it
 * unchanged, plus kv's own fields (region, pools, allocator counter). Text is formatted on
 * the stack into PLAN_REPLY_INFO_BYTES and sent as one bulk reply; nothing is allocated.
 */
#include "cmd_handlers.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc_stats.h"
#include "glob.h"
#include "region.h"

/* The Redis version kv answers as: clients pick features by it. */
#define CMD_REDIS_VERSION "7.0.15"

CMD_HANDLER(cmd_ping)
{
    if (arg_count > 2) {
        reply_error_arity(&context->reply, "ping");
        return;
    }
    if (arg_count == 2) {
        reply_bulk(&context->reply, args[1]);
        return;
    }
    reply_simple(&context->reply, "PONG");
}

CMD_HANDLER(cmd_echo)
{
    KV_ASSERT(arg_count == 2);
    reply_bulk(&context->reply, args[1]);
}

CMD_HANDLER(cmd_quit)
{
    (void)args;
    (void)arg_count;
    reply_ok(&context->reply);
    context->close_after_reply = true;
}

/* A text being built on the stack; overflow is a bug in the bound, so it asserts. */
struct text {
    char *bytes;
    uint32_t length;
    uint32_t capacity;
};

static void text_add(struct text *text, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *text, const char *format, ...)
{
    va_list list;
    va_start(list, format);
    int written = vsnprintf(text->bytes + text->length, text->capacity - text->length, format, list);
    va_end(list);
    KV_ASSERT(written >= 0 && (uint32_t)written < text->capacity - text->length);
    text->length += (uint32_t)written;
}

/* One configuration parameter as CONFIG GET shows it. */
struct config_entry {
    const char *name;
    char value[CONFIG_BIND_BYTES_MAX];
};

#define CONFIG_ENTRY_COUNT 14u

static void config_entries(const struct cmd_context *context, struct config_entry *entries)
{
    const struct config *config = context->config;
    static const char *const names[CONFIG_ENTRY_COUNT] = {
        "port", "bind", "maxclients", "connections_max", "key_count", "key_size_max",
        "val_size_max", "list_length_max", "hugepages", "mlock", "save", "appendonly",
        "databases", "maxmemory",
    };
    for (uint32_t index = 0; index < CONFIG_ENTRY_COUNT; index++) {
        entries[index].name = names[index];
    }
    snprintf(entries[0].value, sizeof(entries[0].value), "%u", config->port);
    snprintf(entries[1].value, sizeof(entries[1].value), "%s", config->bind);
    snprintf(entries[2].value, sizeof(entries[2].value), "%u", config->connections_max);
    snprintf(entries[3].value, sizeof(entries[3].value), "%u", config->connections_max);
    snprintf(entries[4].value, sizeof(entries[4].value), "%u", config->key_count);
    snprintf(entries[5].value, sizeof(entries[5].value), "%u", config->key_size_max);
    snprintf(entries[6].value, sizeof(entries[6].value), "%u", config->val_size_max);
    snprintf(entries[7].value, sizeof(entries[7].value), "%u", config->list_length_max);
    snprintf(entries[8].value, sizeof(entries[8].value), "%s",
             config_hugepages_name(config->hugepages));
    snprintf(entries[9].value, sizeof(entries[9].value), "%s", config_mlock_name(config->mlock));
    entries[10].value[0] = '\0'; /* kv keeps no snapshots */
    snprintf(entries[11].value, sizeof(entries[11].value), "no");
    snprintf(entries[12].value, sizeof(entries[12].value), "1");
    snprintf(entries[13].value, sizeof(entries[13].value), "%" PRIu64, context->region->bytes);
}

static struct slice text_slice(const char *text)
{
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
}

/* CONFIG GET pattern [pattern ...]: matching name/value pairs, each once. */
static void config_get(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    struct config_entry entries[CONFIG_ENTRY_COUNT];
    config_entries(context, entries);
    bool matched[CONFIG_ENTRY_COUNT] = {false};
    uint32_t matched_count = 0;
    for (uint32_t entry = 0; entry < CONFIG_ENTRY_COUNT; entry++) {
        for (uint32_t index = 2; index < arg_count && !matched[entry]; index++) {
            if (glob_match(args[index], text_slice(entries[entry].name), true)) {
                matched[entry] = true;
                matched_count++;
            }
        }
    }
    reply_array(&context->reply, matched_count * 2);
    for (uint32_t entry = 0; entry < CONFIG_ENTRY_COUNT; entry++) {
        if (matched[entry]) {
            reply_bulk(&context->reply, text_slice(entries[entry].name));
            reply_bulk(&context->reply, text_slice(entries[entry].value));
        }
    }
}

/* CONFIG SET: every kv option sizes the plan or the socket, fixed at startup. */
static void config_set_refuse(struct cmd_context *context, const struct slice *args)
{
    struct config_entry entries[CONFIG_ENTRY_COUNT];
    config_entries(context, entries);
    for (uint32_t entry = 0; entry < CONFIG_ENTRY_COUNT; entry++) {
        if (cmd_arg_is(args[2], entries[entry].name)) {
            static const char head[] = "-ERR CONFIG SET failed (possibly related to argument '";
            static const char tail[] = "') - can't set immutable config\r\n";
            reply_raw(&context->reply, head, sizeof(head) - 1);
            reply_raw(&context->reply, entries[entry].name, (uint32_t)strlen(entries[entry].name));
            reply_raw(&context->reply, tail, sizeof(tail) - 1);
            return;
        }
    }
    static const char unknown[] = "-ERR Unknown option or number of arguments for CONFIG SET - '";
    reply_raw(&context->reply, unknown, sizeof(unknown) - 1);
    uint32_t shown = args[2].length < 128 ? args[2].length : 128;
    reply_raw(&context->reply, args[2].bytes, shown);
    reply_raw(&context->reply, "'\r\n", 3);
}

CMD_HANDLER(cmd_config)
{
    KV_ASSERT(arg_count >= 2);
    if (cmd_arg_is(args[1], "get")) {
        if (arg_count < 3) {
            reply_error_arity(&context->reply, "config|get");
            return;
        }
        config_get(context, args, arg_count);
        return;
    }
    if (cmd_arg_is(args[1], "set")) {
        if (arg_count < 4 || arg_count % 2 != 0) {
            reply_error_arity(&context->reply, "config|set");
            return;
        }
        config_set_refuse(context, args);
        return;
    }
    if (cmd_arg_is(args[1], "resetstat")) {
        if (arg_count != 2) {
            reply_error_arity(&context->reply, "config|resetstat");
            return;
        }
        struct stats *stats = context->stats;
        uint64_t start_time_us = stats->start_time_us;
        uint32_t connected_clients = stats->connected_clients;
        memset(stats, 0, sizeof(*stats));
        cmd_stats_reset();
        stats->start_time_us = start_time_us;
        stats->connected_clients = connected_clients;
        reply_ok(&context->reply);
        return;
    }
    reply_error_unknown_subcommand(&context->reply, args[1], "CONFIG");
}

/* COMMAND COUNT and COMMAND DOCS; the full COMMAND and COMMAND INFO replies come with the
 * command-surface issue, until then they are empty arrays as DOCS is. */
CMD_HANDLER(cmd_command)
{
    if (arg_count >= 2 && cmd_arg_is(args[1], "count")) {
        if (arg_count != 2) {
            reply_error_arity(&context->reply, "command|count");
            return;
        }
        reply_integer(&context->reply, cmd_count());
        return;
    }
    if (arg_count == 1 || cmd_arg_is(args[1], "docs") || cmd_arg_is(args[1], "info")) {
        reply_array(&context->reply, 0);
        return;
    }
    reply_error_unknown_subcommand(&context->reply, args[1], "COMMAND");
}

static uint64_t now_us(void)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_usec;
}

/* Resident set size from /proc/self/statm (pages), read without stdio. */
static uint64_t rss_bytes(void)
{
    char text[128];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t length = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (length <= 0) {
        return 0;
    }
    text[length] = '\0';
    unsigned long long size_pages = 0;
    unsigned long long resident_pages = 0;
    if (sscanf(text, "%llu %llu", &size_pages, &resident_pages) != 2) {
        return 0;
    }
    return resident_pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void info_server(struct cmd_context *context, struct text *text)
{
    uint64_t uptime_s = (now_us() - context->stats->start_time_us) / 1000000u;
    text_add(text,
             "# Server\r\nredis_version:" CMD_REDIS_VERSION "\r\nredis_mode:standalone\r\n"
             "kv_version:0.1.0\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\n"
             "process_id:%d\r\ntcp_port:%u\r\nuptime_in_seconds:%" PRIu64
             "\r\nuptime_in_days:%" PRIu64 "\r\n",
             (int)getpid(), context->config->port, uptime_s, uptime_s / 86400u);
}

static void info_clients(struct cmd_context *context, struct text *text)
{
    text_add(text, "# Clients\r\nconnected_clients:%u\r\nmaxclients:%u\r\nblocked_clients:0\r\n",
             context->stats->connected_clients, context->config->connections_max);
}

static void info_memory(struct cmd_context *context, struct text *text)
{
    const struct region *region = context->region;
    const struct store *store = context->store;
    struct alloc_stats alloc;
    alloc_stats_read(&alloc);
    text_add(text,
             "# Memory\r\nused_memory:%" PRIu64 "\r\nused_memory_rss:%" PRIu64
             "\r\nmaxmemory:%" PRIu64 "\r\nmaxmemory_policy:noeviction\r\n"
             "allocator_allocations:%" PRId64 "\r\nallocator_allocated_bytes:%" PRId64 "\r\n"
             "kv_region_bytes:%" PRIu64 "\r\nkv_region_page_bytes:%" PRIu64
             "\r\nkv_region_hugetlb:%d\r\nkv_region_locked:%d\r\n",
             region->carved_bytes, rss_bytes(), region->bytes,
             alloc.available ? (int64_t)alloc.allocations : -1,
             alloc.available ? (int64_t)alloc.allocated_bytes : -1, region->bytes,
             region->page_bytes, region->hugetlb ? 1 : 0, region->locked ? 1 : 0);
    text_add(text,
             "kv_pool_keys_used:%u\r\nkv_pool_keys_capacity:%u\r\n"
             "kv_pool_values_used:%u\r\nkv_pool_values_capacity:%u\r\n"
             "kv_pool_list_nodes_used:%u\r\nkv_pool_list_nodes_capacity:%u\r\n",
             pool_used_count(&store->keys), store->keys.slot_count,
             pool_used_count(&store->values), store->values.slot_count,
             pool_used_count(&store->nodes), store->nodes.slot_count);
}

static void info_stats(struct cmd_context *context, struct text *text)
{
    const struct stats *stats = context->stats;
    text_add(text,
             "# Stats\r\ntotal_connections_received:%" PRIu64
             "\r\ntotal_commands_processed:%" PRIu64 "\r\ninstantaneous_ops_per_sec:0\r\n"
             "total_net_input_bytes:%" PRIu64 "\r\ntotal_net_output_bytes:%" PRIu64
             "\r\nrejected_connections:%" PRIu64 "\r\nexpired_keys:%" PRIu64 "\r\nevicted_keys:0\r\n"
             "keyspace_hits:%" PRIu64 "\r\nkeyspace_misses:%" PRIu64
             "\r\nkv_protocol_errors:%" PRIu64 "\r\nkv_refused_commands:%" PRIu64
             "\r\nkv_ring_full_submits:%" PRIu64 "\r\nkv_ring_full_parks:%" PRIu64 "\r\n",
             stats->connections_received, stats->commands_processed, stats->bytes_received,
             stats->bytes_sent, stats->connections_rejected, context->store->expired_keys,
             stats->keyspace_hits,
             stats->keyspace_misses, stats->protocol_errors, stats->refused_commands,
             stats->ring_full_submits, stats->ring_full_parks);
}

static void info_keyspace(struct cmd_context *context, struct text *text)
{
    text_add(text, "# Keyspace\r\n");
    uint32_t keys = store_key_count(context->store);
    if (keys > 0) {
        text_add(text, "db0:keys=%u,expires=%u,avg_ttl=0\r\n", keys,
                 context->store->expires_count);
    }
}

/* "cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0", for the
 * commands called, refused or failed at least once (Redis 7's format). */
static void info_commandstats(struct cmd_context *context, struct text *text)
{
    (void)context;
    text_add(text, "# Commandstats\r\n");
    const char *name = NULL;
    struct cmd_stats stats;
    for (uint32_t index = 0; cmd_stats_at(index, &name, &stats); index++) {
        if (stats.calls == 0 && stats.rejected_calls == 0 && stats.failed_calls == 0) {
            continue;
        }
        uint64_t usec = stats.duration_ns / 1000u;
        double per_call = stats.calls == 0 ? 0.0 : (double)usec / (double)stats.calls;
        text_add(text,
                 "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f,"
                 "rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64 "\r\n",
                 name, stats.calls, usec, per_call, stats.rejected_calls, stats.failed_calls);
    }
}

struct info_section {
    const char *name;
    void (*write)(struct cmd_context *context, struct text *text);
    bool in_default;   /* shown by INFO and INFO default, not only by INFO all */
};

static const struct info_section info_sections[] = {
    {"server", info_server, true},     {"clients", info_clients, true},
    {"memory", info_memory, true},     {"stats", info_stats, true},
    {"commandstats", info_commandstats, false}, {"keyspace", info_keyspace, true},
};

#define INFO_SECTION_COUNT (sizeof(info_sections) / sizeof(info_sections[0]))

/* INFO [section ...]: no section, "default", "all" or "everything" give every section. */
CMD_HANDLER(cmd_info)
{
    char bytes[PLAN_REPLY_INFO_BYTES - 32];
    struct text text = {.bytes = bytes, .length = 0, .capacity = sizeof(bytes)};
    bool defaults = arg_count == 1;
    bool every = false;
    for (uint32_t index = 1; index < arg_count; index++) {
        defaults |= cmd_arg_is(args[index], "default");
        every |= cmd_arg_is(args[index], "all") || cmd_arg_is(args[index], "everything");
    }
    for (uint32_t section = 0; section < INFO_SECTION_COUNT; section++) {
        bool wanted = every || (defaults && info_sections[section].in_default);
        for (uint32_t index = 1; index < arg_count && !wanted; index++) {
            wanted = cmd_arg_is(args[index], info_sections[section].name);
        }
        if (wanted) {
            if (text.length > 0) {
                text_add(&text, "\r\n");
            }
            info_sections[section].write(context, &text);
        }
    }
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)bytes, .length = text.length});
}

static const struct cmd server_cmds[] = {
    {"ping", -1, 0, 0, 0, CMD_FLAG_NOAUTH, cmd_reply_value, cmd_ping},
    {"echo", 2, 0, 0, 0, 0, cmd_reply_value, cmd_echo},
    {"quit", -1, 0, 0, 0, CMD_FLAG_NOAUTH | CMD_FLAG_TXN, cmd_reply_small, cmd_quit},
    {"config", -2, 0, 0, 0, 0, cmd_reply_info, cmd_config},
    {"command", -1, 0, 0, 0, 0, cmd_reply_info, cmd_command},
    {"info", -1, 0, 0, 0, 0, cmd_reply_info, cmd_info},
};

CMD_FAMILY(cmd_family_server, server_cmds);
