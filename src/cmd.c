/*
 * The command index and dispatch. Each family file holds a constant table of its commands;
 * cmd_init indexes them all by name (case-insensitive, open addressing in static storage).
 * Arity follows Redis's convention (n: exactly n arguments with the name, -n: at least n).
 * Each entry bounds its reply so the connection can check room in its send buffer before
 * running the command. Arity errors and unknown commands are answered here as Redis does.
 */
#include "cmd.h"

#include <string.h>
#include <time.h>

#include "cmd_handlers.h"
#include "client.h"
#include "conn.h"
#include "latency.h"
#include "number.h"
#include "region.h"
#include "slowlog.h"

/* Most commands kv can have; the index has four times as many slots, so probes stay short. */
#define CMD_MAX 256u
#define CMD_INDEX_SLOTS 1024u

/* Longest command name; a longer args[0] cannot match. */
#define CMD_NAME_BYTES_MAX 32u

/* TODO(issue 13): the list, hash, set, sorted-set and blocking families come back as each
 * moves to the heap (src/pending/ holds them until then). */
static const struct cmd_family *const cmd_families[] = {
    &cmd_family_string, &cmd_family_keys,   &cmd_family_expire, &cmd_family_server,
    &cmd_family_client, &cmd_family_multi,  &cmd_family_latency, &cmd_family_pubsub,
};

#define CMD_FAMILY_COUNT (sizeof(cmd_families) / sizeof(cmd_families[0]))

/* Every command, in family order, and an open-addressing index over their names: slot holds
 * 1 + position in cmd_all, 0 when empty. Static storage, filled once by cmd_init. */
static const struct cmd *cmd_all[CMD_MAX];
static uint8_t cmd_name_bytes[CMD_MAX];
static const char *cmd_group[CMD_MAX];
static uint16_t cmd_index[CMD_INDEX_SLOTS];
static uint32_t cmd_all_count;

/* Per-command counters for INFO commandstats, one per command. */
static struct cmd_stats cmd_stats[CMD_MAX];

/* Per-command latency histograms (carved: CMD_MAX of them) and the slow log. */
static struct latency_histogram *cmd_latency;
static struct slowlog cmd_slowlog_ring;
static int64_t cmd_slowlog_threshold_us = 10000; /* Redis's default */

static uint32_t name_hash(const uint8_t *name, uint32_t length)
{
    uint32_t hash = 2166136261u; /* FNV-1a over the lower-cased name */
    for (uint32_t index = 0; index < length; index++) {
        uint8_t byte = name[index];
        byte = (byte >= 'A' && byte <= 'Z') ? (uint8_t)(byte + 32) : byte;
        hash = (hash ^ byte) * 16777619u;
    }
    return hash;
}

uint64_t cmd_plan_stats_bytes(uint32_t slowlog_max_len)
{
    return (((uint64_t)CMD_MAX * sizeof(struct latency_histogram) + 63) & ~63ull) +
           slowlog_plan_bytes(slowlog_max_len);
}

void cmd_slowlog_threshold_set(int64_t threshold_us)
{
    cmd_slowlog_threshold_us = threshold_us;
}

const struct latency_histogram *cmd_latency_at(uint32_t index)
{
    KV_ASSERT(index < cmd_all_count && cmd_latency != NULL);
    return &cmd_latency[index];
}

struct slowlog *cmd_slowlog(void)
{
    return &cmd_slowlog_ring;
}

void cmd_init(struct region *region, uint32_t slowlog_max_len)
{
    cmd_latency = region_carve(region, (uint64_t)CMD_MAX * sizeof(struct latency_histogram), 64);
    memset(cmd_latency, 0, (uint64_t)CMD_MAX * sizeof(struct latency_histogram));
    slowlog_init(&cmd_slowlog_ring, region, slowlog_max_len);
    memset(cmd_index, 0, sizeof(cmd_index));
    cmd_all_count = 0;
    for (uint32_t family = 0; family < CMD_FAMILY_COUNT; family++) {
        for (uint32_t entry = 0; entry < cmd_families[family]->count; entry++) {
            const struct cmd *cmd = &cmd_families[family]->cmds[entry];
            size_t length = strlen(cmd->name);
            KV_ASSERT(cmd_all_count < CMD_MAX);
            KV_ASSERT(length > 0 && length <= CMD_NAME_BYTES_MAX);
            KV_ASSERT(cmd->reply_max != NULL && cmd->handler != NULL);
            uint32_t slot = name_hash((const uint8_t *)cmd->name, (uint32_t)length);
            /* Bounded: the index is never more than a quarter full. */
            for (;; slot++) {
                slot &= CMD_INDEX_SLOTS - 1;
                if (cmd_index[slot] == 0) {
                    break;
                }
                KV_ASSERT(strcmp(cmd_all[cmd_index[slot] - 1]->name, cmd->name) != 0);
            }
            cmd_index[slot] = (uint16_t)(cmd_all_count + 1);
            cmd_name_bytes[cmd_all_count] = (uint8_t)length;
            cmd_group[cmd_all_count] = cmd_families[family]->group;
            cmd_all[cmd_all_count++] = cmd;
        }
    }
}

uint32_t cmd_count(void)
{
    return cmd_all_count;
}

bool cmd_at(uint32_t index, const struct cmd **cmd)
{
    if (index >= cmd_all_count) {
        return false;
    }
    *cmd = cmd_all[index];
    return true;
}

const char *cmd_group_at(uint32_t index)
{
    KV_ASSERT(index < cmd_all_count);
    return cmd_group[index];
}

uint32_t cmd_flags(const struct cmd *cmd)
{
    return cmd == NULL ? 0 : cmd->flags;
}

bool cmd_stats_at(uint32_t index, const char **name, struct cmd_stats *stats)
{
    if (index >= cmd_all_count) {
        return false;
    }
    *name = cmd_all[index]->name;
    *stats = cmd_stats[index];
    return true;
}

void cmd_stats_reset(void)
{
    memset(cmd_stats, 0, sizeof(cmd_stats));
    memset(cmd_latency, 0, (uint64_t)CMD_MAX * sizeof(struct latency_histogram));
}

static int64_t unix_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static uint64_t monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

bool cmd_arg_is(struct slice arg, const char *word)
{
    size_t word_bytes = strlen(word);
    return arg.length == word_bytes && strncasecmp((const char *)arg.bytes, word, word_bytes) == 0;
}

uint32_t cmd_find(const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    struct slice name = args[0];
    if (name.length == 0 || name.length > CMD_NAME_BYTES_MAX) {
        return CMD_NONE;
    }
    uint32_t slot = name_hash(name.bytes, name.length);
    /* Bounded: the index always has empty slots, and a probe stops at the first. */
    for (uint32_t probes = 0; probes < CMD_INDEX_SLOTS; probes++, slot++) {
        slot &= CMD_INDEX_SLOTS - 1;
        if (cmd_index[slot] == 0) {
            return CMD_NONE;
        }
        uint32_t position = cmd_index[slot] - 1u;
        if (cmd_name_bytes[position] == name.length &&
            strncasecmp(cmd_all[position]->name, (const char *)name.bytes, name.length) == 0) {
            return position;
        }
    }
    return CMD_NONE;
}

const struct cmd *cmd_of(uint32_t position)
{
    if (position == CMD_NONE) {
        return NULL;
    }
    KV_ASSERT(position < cmd_all_count);
    return cmd_all[position];
}

uint32_t cmd_reply_small(const struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    (void)context;
    (void)args;
    (void)arg_count;
    return PLAN_REPLY_ERROR_BYTES;
}

uint32_t cmd_reply_value(const struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    (void)args;
    (void)arg_count;
    return context->plan->reply_value_bytes;
}

uint32_t cmd_reply_info(const struct cmd_context *context, const struct slice *args,
                        uint32_t arg_count)
{
    (void)context;
    (void)args;
    (void)arg_count;
    return PLAN_REPLY_INFO_BYTES;
}

uint32_t cmd_reply_all(const struct cmd_context *context, const struct slice *args,
                       uint32_t arg_count)
{
    (void)args;
    (void)arg_count;
    return context->plan->send_buffer_bytes;
}

uint32_t cmd_reply_elements(const struct plan *plan, uint64_t elements)
{
    /* Header, elements, and room for a single value or an error instead. */
    uint64_t bytes = 16 + elements * plan->reply_element_bytes + plan->reply_value_bytes;
    return bytes < plan->send_buffer_bytes ? (uint32_t)bytes : plan->send_buffer_bytes;
}

uint32_t cmd_reply_bound(const struct cmd_context *context, uint32_t position,
                         const struct slice *args, uint32_t arg_count)
{
    const struct cmd *cmd = cmd_of(position);
    KV_ASSERT(cmd != NULL);
    uint32_t bytes = cmd->reply_max(context, args, arg_count);
    KV_ASSERT(bytes <= context->plan->send_buffer_bytes);
    return bytes < PLAN_REPLY_ERROR_BYTES ? PLAN_REPLY_ERROR_BYTES : bytes;
}

enum store_status cmd_read(struct cmd_context *context, struct slice key, uint8_t type,
                           struct store_found *found)
{
    KV_ASSERT(type != STORE_TYPE_ANY);
    enum store_status status = store_find_typed(context->store, key, type, found);
    if (status == STORE_NOT_FOUND) {
        context->stats->keyspace_misses++;
        return STORE_NOT_FOUND;
    }
    context->stats->keyspace_hits++;
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    }
    KV_ASSERT(found->exists);
    return status;
}

bool cmd_scan_cursor(struct slice text, uint64_t *cursor)
{
    /* Redis reads the cursor with strtoul: an optional sign, digits, nothing after them, no
     * overflow; a '-' negates modulo 2^64 and an empty cursor is 0. As a C string, the
     * cursor ends at its first NUL byte. */
    const uint8_t *nul = text.length > 0 ? memchr(text.bytes, 0, text.length) : NULL;
    text.length = nul != NULL ? (uint32_t)(nul - text.bytes) : text.length;
    uint32_t at = 0;
    bool negative = false;
    if (text.length > 0 && (text.bytes[0] == '+' || text.bytes[0] == '-')) {
        negative = text.bytes[0] == '-';
        at = 1;
    }
    uint64_t value = 0;
    bool valid = text.length == 0 || at < text.length;
    for (; valid && at < text.length; at++) {
        uint8_t digit = text.bytes[at];
        valid = digit >= '0' && digit <= '9' && value <= (UINT64_MAX - (digit - '0')) / 10;
        value = valid ? value * 10 + (digit - '0') : value;
    }
    *cursor = negative ? 0 - value : value;
    return valid;
}

/* The options of a collection scan; false after answering Redis's error. */
static bool scan_options(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, const struct slice **pattern)
{
    *pattern = NULL;
    for (uint32_t index = 3; index < arg_count; index += 2) {
        int64_t count = 0;
        bool ok = index + 1 < arg_count;
        if (ok && cmd_arg_is(args[index], "count")) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &count)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            ok = count >= 1;
        } else if (ok && cmd_arg_is(args[index], "match")) {
            *pattern = &args[index + 1];
        } else {
            ok = false;
        }
        if (!ok) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    return true;
}

bool cmd_collection_scan(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint8_t type, uint32_t *key_ref,
                         const struct slice **pattern)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t cursor = 0;
    if (!cmd_scan_cursor(args[2], &cursor)) {
        reply_error(&context->reply, REPLY_ERROR_INVALID_CURSOR);
        return false;
    }
    static const struct slice cursor_zero = {.bytes = (const uint8_t *)"0", .length = 1};
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], type, &found);
    *key_ref = found.key_ref;
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, cursor_zero);
        reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return false;
    }
    if (!scan_options(context, args, arg_count, pattern)) {
        return false;
    }
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, cursor_zero);
    return true;
}

uint32_t cmd_length_bound(const struct cmd_context *context, struct slice key, uint8_t type)
{
    KV_ASSERT(type != STORE_TYPE_ANY);
    uint32_t length_max = context->plan->list_length_max;
    if (context->bound.list_growth == UINT32_MAX) {
        return length_max;
    }
    uint32_t key_ref = HEAP_REF_NONE;
    uint64_t length = context->bound.list_growth;
    /* A peek, not a find: a bound changes nothing, and an expired key only enlarges it. */
    if (store_peek(context->store, key, &key_ref) &&
        store_key_type(store_key(context->store, key_ref)) == type) {
        length += store_length(context->store, key_ref);
    }
    uint32_t bound = length < length_max ? (uint32_t)length : length_max;
    KV_ASSERT(bound <= length_max);
    return bound;
}

void cmd_bound_after(struct cmd_bound *bound, uint32_t position, uint32_t arg_count)
{
    uint32_t flags = cmd_flags(cmd_of(position));
    if (!(flags & CMD_FLAG_WRITE) || (flags & CMD_FLAG_SHRINKS)) {
        return;
    }
    uint64_t growth = bound->list_growth;
    if (flags & CMD_FLAG_STRINGS) {
        bound->strings_changed = true;
        return;
    }
    if (flags & (CMD_FLAG_GROWS | CMD_FLAG_GROWS_ONE)) {
        growth += (flags & CMD_FLAG_GROWS) ? arg_count - 2u : 1u;
        bound->list_growth = growth < UINT32_MAX ? (uint32_t)growth : UINT32_MAX;
        return;
    }
    bound->strings_changed = true;
    bound->list_growth = UINT32_MAX;
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
    case STORE_OOM:
        return REPLY_ERROR_OOM;
    case STORE_FULL:
        return REPLY_ERROR_STORE_FULL;
    case STORE_KEY_TOO_LONG:
        return REPLY_ERROR_KEY_TOO_LONG;
    case STORE_VALUE_TOO_LONG:
        return REPLY_ERROR_VALUE_TOO_LONG;
    case STORE_LIST_FULL:
        return REPLY_ERROR_LIST_FULL;
    case STORE_FIELD_TOO_LONG:
        return REPLY_ERROR_FIELD_TOO_LONG;
    case STORE_HASH_FULL:
        return REPLY_ERROR_HASH_FULL;
    case STORE_MEMBER_TOO_LONG:
        return REPLY_ERROR_MEMBER_TOO_LONG;
    case STORE_SET_FULL:
        return REPLY_ERROR_SET_FULL;
    case STORE_ZSET_FULL:
        return REPLY_ERROR_ZSET_FULL;
    default:
        KV_ASSERT(false);
        return REPLY_ERROR_NONE;
    }
}

bool cmd_admit(struct cmd_context *context, uint32_t position, const struct slice *args,
               uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    const struct cmd *cmd = cmd_of(position);
    if (cmd == NULL) {
        reply_error_unknown_command(&context->reply, args, arg_count);
        return false;
    }
    struct cmd_stats *stats = &cmd_stats[position];
    if (!arity_ok(cmd, arg_count)) {
        stats->rejected_calls++;
        reply_error_arity(&context->reply, cmd->name);
        return false;
    }
    const struct client *client = context->client;
    if (!client->authenticated && !(cmd->flags & CMD_FLAG_NOAUTH)) {
        stats->rejected_calls++;
        reply_error(&context->reply, REPLY_ERROR_NOAUTH);
        return false;
    }
    if (client_subscribed(client) && !(cmd->flags & CMD_FLAG_PUBSUB)) {
        stats->rejected_calls++;
        reply_error_format(&context->reply, REPLY_ERROR_SUBSCRIBED_CONTEXT, cmd->name);
        return false;
    }
    return true;
}

/* Adds a command to the slow log: its arguments, the client's address and name. */
static void slowlog_note(const struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, int64_t now_ms, uint64_t duration_us)
{
    const struct client *client = context->client;
    const struct conn *conn = conn_at(context->conns, client->slot_index);
    slowlog_add(&cmd_slowlog_ring, args, arg_count, now_ms / 1000, duration_us,
                (struct slice){.bytes = (const uint8_t *)conn->addr, .length = conn->addr_length},
                client_name(client));
}

void cmd_run(struct cmd_context *context, uint32_t position, const struct slice *args,
             uint32_t arg_count, uint32_t bound)
{
    const struct cmd *cmd = cmd_of(position);
    KV_ASSERT(cmd != NULL && arity_ok(cmd, arg_count));
    KV_ASSERT(bound <= context->reply.capacity - context->reply.length);
    uint32_t length_before = context->reply.length;
    struct cmd_stats *stats = &cmd_stats[position];
    context->stats->commands_processed++;
    int64_t now_ms = unix_ms();
    store_clock(context->store, now_ms);
    stats_ops_sample(context->stats, now_ms);
    context->client->last_command = cmd->name;
    context->client->last_command_ms = now_ms;
    uint64_t started_ns = monotonic_ns();
    cmd->handler(context, args, arg_count);
    uint64_t duration_ns = monotonic_ns() - started_ns;
    stats->calls++;
    stats->duration_ns += duration_ns;
    latency_record(&cmd_latency[position], duration_ns);
    if (cmd_slowlog_threshold_us >= 0 &&
        duration_ns / 1000u >= (uint64_t)cmd_slowlog_threshold_us && !(cmd->flags & CMD_FLAG_TXN)) {
        slowlog_note(context, args, arg_count, now_ms, duration_ns / 1000u);
    }
    /* An error reply from the handler counts as a failed call, as Redis counts it. */
    stats->failed_calls += context->reply.length > length_before &&
                                   context->reply.bytes[length_before] == '-'
                               ? 1
                               : 0;
    /* Every command answers exactly once, within its own bound (EXEC relies on it), but a
     * blocking one that found nothing answers when it is retried. */
    KV_ASSERT(context->reply.length > length_before || context->outcome.block);
    KV_ASSERT(context->reply.length - length_before <= bound);
}
