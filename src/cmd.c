/*
 * The command index and dispatch. Each family file holds a constant table of its commands;
 * cmd_init indexes them all by name (case-insensitive, open addressing in static storage).
 * Arity follows Redis's convention (n: exactly n arguments with the name, -n: at least n).
 * A reply may be of any size (its writer grows into the connection's output). Arity errors
 * and unknown commands are answered here as Redis does.
 */
#include "cmd.h"

#include <string.h>
#include <time.h>

#include "cmd_handlers.h"
#include "client.h"
#include "cluster.h"
#include "conn.h"
#include "evict.h"
#include "keyslot.h"
#include "latency.h"
#include "notify.h"
#include "propagate.h"
#include "rdb.h"
#include "number.h"
#include "redis_param.h"
#include "region.h"
#include "slowlog.h"
#include "snapshot.h"
#include "tracking.h"

/* Most commands kv can have; the index has four times as many slots, so probes stay short. */
#define CMD_MAX 256u
#define CMD_INDEX_SLOTS 1024u
static_assert((CMD_INDEX_SLOTS & (CMD_INDEX_SLOTS - 1)) == 0, "the index masks a hash");
static_assert(CMD_INDEX_SLOTS >= 4 * CMD_MAX, "the index stays at most a quarter full");
static_assert(CMD_MAX < UINT16_MAX, "an index slot holds 1 + a position in 16 bits");

/* Longest command name; a longer args[0] cannot match. */
#define CMD_NAME_BYTES_MAX 32u
static_assert(CMD_NAME_BYTES_MAX <= PLAN_COMMAND_NAME_BYTES_MAX,
              "the receive buffer holds the longest name");
static_assert(CMD_NAME_BYTES_MAX <= UINT8_MAX, "cmd_name_bytes holds a name's length");

/* Every flag a table entry may carry. */
#define CMD_FLAGS_KNOWN \
    (CMD_FLAG_WRITE | CMD_FLAG_NOAUTH | CMD_FLAG_TXN | CMD_FLAG_NO_TXN | CMD_FLAG_PUBSUB)

/* Every family; cmd_init indexes their commands by name. */
static const struct cmd_family *const cmd_families[] = {
    &cmd_family_string, &cmd_family_keys,   &cmd_family_expire, &cmd_family_server,
    &cmd_family_client, &cmd_family_multi,  &cmd_family_latency, &cmd_family_pubsub,
    &cmd_family_object, &cmd_family_memory, &cmd_family_list,   &cmd_family_block,
    &cmd_family_hash,   &cmd_family_set,    &cmd_family_zset,   &cmd_family_script,
    &cmd_family_stream,
    &cmd_family_bit,
    &cmd_family_command,
    &cmd_family_geo,
    &cmd_family_sort,
    &cmd_family_lcs,
    &cmd_family_copy,
    &cmd_family_info,
    &cmd_family_zalgebra,
    &cmd_family_mpop,
    &cmd_family_zmpop,
    &cmd_family_sintercard,
    &cmd_family_hll,
    &cmd_family_dump,
    &cmd_family_repl,
    &cmd_family_module,
    &cmd_family_acl,
    &cmd_family_monitor,
    &cmd_family_aof,
    &cmd_family_cluster,
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
    KV_ASSERT(length > 0);
    KV_ASSERT(length <= CMD_NAME_BYTES_MAX);
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
    KV_ASSERT(slowlog_max_len <= PLAN_SLOWLOG_MAX_LEN);
    uint64_t histogram_bytes = ((uint64_t)CMD_MAX * sizeof(struct latency_histogram) + 63) & ~63ull;
    KV_ASSERT(histogram_bytes >= (uint64_t)CMD_MAX * sizeof(struct latency_histogram));
    return histogram_bytes + slowlog_plan_bytes(slowlog_max_len);
}

void cmd_slowlog_threshold_set(int64_t threshold_us)
{
    /* The option's range (config.c): -1 turns the slow log off. */
    KV_ASSERT(threshold_us >= -1);
    KV_ASSERT(threshold_us <= INT32_MAX);
    cmd_slowlog_threshold_us = threshold_us;
}

const struct latency_histogram *cmd_latency_at(uint32_t index)
{
    KV_ASSERT(index < cmd_all_count);
    KV_ASSERT(cmd_latency != NULL);
    return &cmd_latency[index];
}

struct slowlog *cmd_slowlog(void)
{
    KV_ASSERT(cmd_latency != NULL); /* cmd_init ran, and carved the ring with the histograms */
    KV_ASSERT(cmd_slowlog_ring.count <= cmd_slowlog_ring.entry_max);
    return &cmd_slowlog_ring;
}

/* What cmd_init trusts of a table entry; a failure is a bug in a family's table. */
static void cmd_init_check(const struct cmd *cmd, size_t name_bytes)
{
    KV_ASSERT(name_bytes > 0);
    KV_ASSERT(name_bytes <= CMD_NAME_BYTES_MAX);
    /* Bounded by CMD_NAME_BYTES_MAX. Errors print the name as it is: lower case. */
    for (size_t index = 0; index < name_bytes; index++) {
        KV_ASSERT(!(cmd->name[index] >= 'A' && cmd->name[index] <= 'Z'));
    }
    KV_ASSERT(cmd->handler != NULL);
    KV_ASSERT(cmd->arity != 0); /* Redis's arity counts the name: at least 1 either way */
    KV_ASSERT((cmd->flags & ~(uint32_t)CMD_FLAGS_KNOWN) == 0);
    /* COMMAND INFO's key positions: all zero for a command without keys. */
    KV_ASSERT(cmd->first_key >= 0);
    KV_ASSERT(cmd->key_step >= 0);
    KV_ASSERT((cmd->first_key == 0) == (cmd->key_step == 0));
}

/* Redis 7.0's DENYOOM commands (the flag in its command table), those kv may have. */
static const char *const cmd_denyoom_names[] = {
    "append",      "bitfield",   "bitop",       "blmove",      "brpoplpush", "copy",
    "decr",        "decrby",     "geoadd",      "georadius",   "georadiusbymember",
    "geosearchstore", "getset",  "hincrby",     "hincrbyfloat", "hmset",     "hset",
    "hsetnx",      "incr",       "incrby",      "incrbyfloat", "linsert",    "lmove",
    "lpush",       "lpushx",     "lset",        "mset",        "msetnx",     "pfadd",
    "pfmerge",     "psetex",     "restore",     "restore-asking", "rpoplpush", "rpush",
    "rpushx",
    "sadd",        "sdiffstore", "set",         "setbit",      "setex",      "setnx",
    "setrange",    "sinterstore", "sort",       "sunionstore", "xadd",       "xsetid",
    "zadd",        "zdiffstore",  "zincrby",    "zinterstore", "zrangestore", "zunionstore",
};
#define CMD_DENYOOM_NAME_COUNT (sizeof(cmd_denyoom_names) / sizeof(cmd_denyoom_names[0]))

/* By position: whether the command is DENYOOM; and where EXEC, ASKING and the shard pub/sub
 * commands are (cluster mode's admission). */
static bool cmd_denyoom_at[CMD_MAX];
static uint32_t cmd_exec_position = UINT32_MAX;
static uint32_t cmd_asking_position = UINT32_MAX;
static uint32_t cmd_restore_asking_position = UINT32_MAX;
static uint32_t cmd_spublish_position = UINT32_MAX;
static uint32_t cmd_ssubscribe_position = UINT32_MAX;
static uint32_t cmd_sunsubscribe_position = UINT32_MAX;

/* Marks the DENYOOM commands the table has; a name kv lacks is skipped. */
static void denyoom_mark(void)
{
    memset(cmd_denyoom_at, 0, sizeof(cmd_denyoom_at));
    /* Bounded by the list. */
    for (uint32_t index = 0; index < CMD_DENYOOM_NAME_COUNT; index++) {
        struct slice name = {.bytes = (const uint8_t *)cmd_denyoom_names[index],
                             .length = (uint32_t)strlen(cmd_denyoom_names[index])};
        uint32_t position = cmd_find(&name, 1);
        if (position < cmd_all_count) {
            KV_ASSERT(cmd_all[position]->flags & CMD_FLAG_WRITE); /* only writes take memory */
            cmd_denyoom_at[position] = true;
        }
    }
    struct slice exec = {.bytes = (const uint8_t *)"exec", .length = 4};
    cmd_exec_position = cmd_find(&exec, 1);
    KV_ASSERT(cmd_exec_position < cmd_all_count);
    struct slice asking = {.bytes = (const uint8_t *)"asking", .length = 6};
    cmd_asking_position = cmd_find(&asking, 1);
    KV_ASSERT(cmd_asking_position < cmd_all_count);
    struct slice restore_asking = {.bytes = (const uint8_t *)"restore-asking", .length = 14};
    cmd_restore_asking_position = cmd_find(&restore_asking, 1);
    struct slice spublish = {.bytes = (const uint8_t *)"spublish", .length = 8};
    struct slice ssubscribe = {.bytes = (const uint8_t *)"ssubscribe", .length = 10};
    struct slice sunsubscribe = {.bytes = (const uint8_t *)"sunsubscribe", .length = 12};
    cmd_spublish_position = cmd_find(&spublish, 1);
    cmd_ssubscribe_position = cmd_find(&ssubscribe, 1);
    cmd_sunsubscribe_position = cmd_find(&sunsubscribe, 1);
    KV_ASSERT(cmd_spublish_position < cmd_all_count);
    KV_ASSERT(cmd_ssubscribe_position < cmd_all_count && cmd_sunsubscribe_position < cmd_all_count);
}

bool cmd_denyoom(uint32_t position)
{
    KV_ASSERT(cmd_all_count > 0); /* cmd_init ran */
    return position < cmd_all_count && cmd_denyoom_at[position];
}

/* What a write takes beyond its arguments' bytes, roughly: a key object's head, a dict
 * link and an allocation's rounding. */
#define CMD_WRITE_OVERHEAD_BYTES 64u

/* Bytes of a command's arguments: what a write may at most copy into the store (a rough
 * need; a write that takes more and finds no room evicts again and retries, cmd_run). */
static uint64_t args_bytes(const struct slice *args, uint32_t arg_count)
{
    uint64_t bytes = 0;
    /* Bounded by the argument count. */
    for (uint32_t index = 0; index < arg_count; index++) {
        bytes += args[index].length;
    }
    return bytes;
}

bool cmd_memory_admit(struct cmd_context *context, uint32_t position, const struct slice *args,
                      uint32_t arg_count, bool queueing)
{
    KV_ASSERT(position < cmd_all_count); /* admitted: a known command */
    if (context->evict == NULL) {
        return true;
    }
    bool denyoom = cmd_denyoom_at[position] ||
                   (position == cmd_exec_position && context->client->txn.denyoom);
    uint64_t need = denyoom ? args_bytes(args, arg_count) + CMD_WRITE_OVERHEAD_BYTES : 0;
    enum evict_result result = evict_room(context->evict, need);
    if (result != EVICT_FAIL || !(denyoom || queueing)) {
        return true;
    }
    cmd_stats[position].rejected_calls++;
    if (position == cmd_exec_position) {
        /* Redis's execCommandAbort: the transaction is discarded, and says why. */
        txn_reset(&context->client->txn, context->watch);
        reply_error(&context->reply, REPLY_ERROR_EXECABORT_OOM);
    } else {
        reply_error(&context->reply, REPLY_ERROR_OOM);
    }
    KV_ASSERT(reply_since_mark(&context->reply) > 0 || context->reply.failed);
    return false;
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
            cmd_init_check(cmd, length);
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
    KV_ASSERT(cmd_all_count > 0);
    /* The index finds every name at its position: bounded by the command count. */
    for (uint32_t position = 0; position < cmd_all_count; position++) {
        struct slice name = {.bytes = (const uint8_t *)cmd_all[position]->name,
                             .length = cmd_name_bytes[position]};
        KV_ASSERT(cmd_find(&name, 1) == position);
    }
    denyoom_mark();
}

uint32_t cmd_count(void)
{
    KV_ASSERT(cmd_all_count > 0); /* cmd_init ran */
    KV_ASSERT(cmd_all_count <= CMD_MAX);
    return cmd_all_count;
}

bool cmd_at(uint32_t index, const struct cmd **cmd)
{
    KV_ASSERT(cmd_all_count <= CMD_MAX);
    if (index >= cmd_all_count) {
        return false;
    }
    *cmd = cmd_all[index];
    KV_ASSERT(*cmd != NULL);
    return true;
}

const char *cmd_group_at(uint32_t index)
{
    KV_ASSERT(index < cmd_all_count);
    KV_ASSERT(cmd_group[index] != NULL);
    return cmd_group[index];
}

uint32_t cmd_flags(const struct cmd *cmd)
{
    uint32_t flags = cmd == NULL ? 0 : cmd->flags;
    KV_ASSERT((flags & ~(uint32_t)CMD_FLAGS_KNOWN) == 0);
    return flags;
}

bool cmd_stats_at(uint32_t index, const char **name, struct cmd_stats *stats)
{
    if (index >= cmd_all_count) {
        return false;
    }
    *name = cmd_all[index]->name;
    *stats = cmd_stats[index];
    /* A failed call is one that ran (cmd_run counts both). */
    KV_ASSERT(stats->failed_calls <= stats->calls);
    KV_ASSERT(*name != NULL);
    return true;
}

void cmd_stats_reset(void)
{
    KV_ASSERT(cmd_latency != NULL); /* cmd_init ran */
    memset(cmd_stats, 0, sizeof(cmd_stats));
    memset(cmd_latency, 0, (uint64_t)CMD_MAX * sizeof(struct latency_histogram));
    KV_ASSERT(cmd_latency[0].count == 0);
}

/* The wall clock in ns: one read gives a command its time (store_clock) and the start of its
 * duration, as Redis's call() times it with ustime(); a second read ends it. Two clock reads
 * per command instead of three (measured: the vDSO's clock is a fifth of kv's user time
 * per request in this VM). A wall-clock step during a command counts it as taking 0 ns. */
static uint64_t unix_ns(void)
{
    struct timespec now;
    int result = clock_gettime(CLOCK_REALTIME, &now);
    KV_ASSERT(result == 0); /* fails only for a bad clock id or pointer */
    KV_ASSERT(now.tv_sec >= 0 && now.tv_nsec >= 0);
    KV_ASSERT(now.tv_nsec < 1000000000);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

bool cmd_subcommand_is(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       const char *name, int arity, const char *full_name)
{
    KV_ASSERT(arg_count >= 2); /* the command and its subcommand */
    KV_ASSERT(arity >= 2 || arity <= -2);
    if (!cmd_arg_is(args[1], name)) {
        return false;
    }
    bool ok = arity >= 0 ? arg_count == (uint32_t)arity : arg_count >= (uint32_t)-arity;
    if (!ok) {
        reply_error_arity(&context->reply, full_name);
    }
    return ok;
}

void cmd_reply_help(struct reply *reply, const char *const *lines, uint32_t count)
{
    KV_ASSERT(count > 0);
    uint64_t length_before = reply->total;
    reply_array(reply, count);
    /* Bounded by the lines given. */
    for (uint32_t index = 0; index < count; index++) {
        KV_ASSERT(lines[index] != NULL);
        reply_simple(reply, lines[index]);
    }
    KV_ASSERT(reply->total > length_before);
}

bool cmd_arg_is(struct slice arg, const char *word)
{
    size_t word_bytes = strlen(word);
    KV_ASSERT(word_bytes > 0); /* callers compare with a keyword of their own */
    KV_ASSERT(arg.bytes != NULL || arg.length == 0);
    return arg.length == word_bytes && strncasecmp((const char *)arg.bytes, word, word_bytes) == 0;
}

/* Whether a sent name is the table's (lower-case) name, any case: inline, without a libc
 * call, as cmd_find runs once per command. */
static bool name_equal_folded(const char *table_name, const uint8_t *name, uint32_t length)
{
    KV_ASSERT(length > 0);
    KV_ASSERT(length <= CMD_NAME_BYTES_MAX);
    /* Bounded by the name's length. */
    for (uint32_t index = 0; index < length; index++) {
        uint8_t byte = name[index];
        byte = (byte >= 'A' && byte <= 'Z') ? (uint8_t)(byte + 32) : byte;
        if (byte != (uint8_t)table_name[index]) {
            return false;
        }
    }
    return true;
}

uint32_t cmd_find(const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(cmd_all_count > 0); /* cmd_init ran */
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
        KV_ASSERT(position < cmd_all_count);
        if (cmd_name_bytes[position] == name.length &&
            name_equal_folded(cmd_all[position]->name, name.bytes, name.length)) {
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
    KV_ASSERT(cmd_all[position] != NULL);
    return cmd_all[position];
}

static bool arity_ok(const struct cmd *cmd, uint32_t arg_count)
{
    KV_ASSERT(cmd->arity != 0); /* cmd_init checked every entry */
    KV_ASSERT(arg_count >= 1);  /* the name, as parsed */
    if (cmd->arity >= 0) {
        return arg_count == (uint32_t)cmd->arity;
    }
    return arg_count >= (uint32_t)-cmd->arity;
}

/* A read lookup's keyspace hit or miss, and a miss's "keymiss" event (lookupKeyRead). */
static void read_counted(struct cmd_context *context, struct slice key, bool hit)
{
    context->stats->keyspace_hits += hit ? 1u : 0u;
    context->stats->keyspace_misses += hit ? 0u : 1u;
    if (!hit) {
        notify_event(NOTIFY_KEY_MISS, "keymiss", key);
    }
}

bool cmd_read_any(struct cmd_context *context, struct slice key, struct store_found *found)
{
    (void)store_find_typed(context->store, key, STORE_TYPE_ANY, found);
    read_counted(context, key, found->exists);
    return found->exists;
}

enum store_status cmd_read(struct cmd_context *context, struct slice key, uint8_t type,
                           struct store_found *found)
{
    KV_ASSERT(type != STORE_TYPE_ANY);
    enum store_status status = store_find_typed(context->store, key, type, found);
    read_counted(context, key, status != STORE_NOT_FOUND);
    if (status == STORE_NOT_FOUND) {
        return STORE_NOT_FOUND;
    }
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    }
    KV_ASSERT(found->exists);
    return status;
}

bool cmd_scan_cursor(struct slice text, uint64_t *cursor)
{
    KV_ASSERT(text.bytes != NULL || text.length == 0);
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
    KV_ASSERT(!valid || at == text.length); /* a valid cursor was read to its end */
    *cursor = negative ? 0 - value : value;
    return valid;
}

/* The options of a collection scan; false after answering Redis's error. */
/* Redis's COUNT when none is given. */
#define CMD_SCAN_COUNT_DEFAULT 10u

static bool scan_options(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, const struct slice **pattern, uint64_t *count)
{
    KV_ASSERT(arg_count >= 3); /* the command, the key and the cursor come first */
    *pattern = NULL;
    *count = CMD_SCAN_COUNT_DEFAULT;
    /* Bounded by the arguments, two at a time. */
    for (uint32_t index = 3; index < arg_count; index += 2) {
        int64_t value = 0;
        bool ok = index + 1 < arg_count;
        if (ok && cmd_arg_is(args[index], "count")) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &value)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            ok = value >= 1;
            *count = ok ? (uint64_t)value : *count;
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
    /* A pattern is an option's value: past the cursor, within the arguments. */
    KV_ASSERT(*pattern == NULL || *pattern >= args + 4);
    KV_ASSERT(*pattern == NULL || *pattern < args + arg_count);
    return true;
}

bool cmd_collection_scan(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint8_t type, uint32_t *key_ref,
                         const struct slice **pattern, uint64_t *cursor, uint64_t *count)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t length_before = context->reply.total;
    if (!cmd_scan_cursor(args[2], cursor)) {
        reply_error(&context->reply, REPLY_ERROR_INVALID_CURSOR);
        return false;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], type, &found);
    *key_ref = found.key_ref;
    if (status == STORE_NOT_FOUND) {
        cmd_scan_head(context, 0);
        reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        KV_ASSERT(context->reply.total > length_before); /* empty scan or WRONGTYPE */
        return false;
    }
    return scan_options(context, args, arg_count, pattern, count);
}

void cmd_scan_head(struct cmd_context *context, uint64_t next_cursor)
{
    uint64_t length_before = context->reply.total;
    char text[NUMBER_INT64_BYTES];
    uint32_t length = number_format_uint64(next_cursor, text);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)text, .length = length});
    KV_ASSERT(context->reply.total > length_before);
}

void cmd_scan_table(struct cmd_context *context, struct cmd_scan_walk *walk, uint64_t cursor,
                    uint64_t count, uint64_t per_call)
{
    KV_ASSERT(count >= 1 && per_call >= 1 && per_call <= 2);
    /* Redis's maxiterations (10 * count, count doubled for pairs), tried after each call. */
    uint64_t wanted = count <= UINT64_MAX / per_call ? count * per_call : UINT64_MAX;
    uint64_t calls_max = wanted < (UINT64_MAX - 1) / 10 ? 1 + 10 * wanted : UINT64_MAX;
    walk->met = 0;
    walk->matched = 0;
    walk->emit = false;
    uint64_t next = cursor;
    uint64_t calls = 0;
    /* Bounded by calls_max, and by a full cycle of cursors (which ends at 0). */
    do {
        next = walk->step(walk, next);
        calls++;
    } while (next != 0 && calls < calls_max && walk->met < wanted);
    cmd_scan_head(context, next);
    reply_array(&context->reply, walk->matched);
    walk->emit = true;
    uint64_t again = cursor;
    /* The same calls again: the collection has not changed. */
    for (uint64_t call = 0; call < calls; call++) {
        again = walk->step(walk, again);
    }
    KV_ASSERT(again == next);
}

enum reply_error cmd_store_error(enum store_status status)
{
    KV_ASSERT(status != STORE_OK); /* only a failed write has an error */
    enum reply_error error = REPLY_ERROR_NONE;
    switch (status) {
    case STORE_WRONGTYPE:
        error = REPLY_ERROR_WRONGTYPE;
        break;
    case STORE_OOM:
        error = REPLY_ERROR_OOM;
        break;
    case STORE_FULL:
        error = REPLY_ERROR_STORE_FULL;
        break;
    case STORE_KEY_TOO_LONG:
        error = REPLY_ERROR_KEY_TOO_LONG;
        break;
    case STORE_VALUE_TOO_LONG:
        error = REPLY_ERROR_VALUE_TOO_LONG;
        break;
    case STORE_LIST_FULL:
        error = REPLY_ERROR_LIST_FULL;
        break;
    case STORE_FIELD_TOO_LONG:
        error = REPLY_ERROR_FIELD_TOO_LONG;
        break;
    case STORE_HASH_FULL:
        error = REPLY_ERROR_HASH_FULL;
        break;
    case STORE_MEMBER_TOO_LONG:
        error = REPLY_ERROR_MEMBER_TOO_LONG;
        break;
    case STORE_SET_FULL:
        error = REPLY_ERROR_SET_FULL;
        break;
    case STORE_ZSET_FULL:
        error = REPLY_ERROR_ZSET_FULL;
        break;
    default:
        break;
    }
    KV_ASSERT(error != REPLY_ERROR_NONE); /* every failure of a write has its error */
    return error;
}

/*
 * Cluster mode's redirection, as Redis 7.0's getNodeByQuery and clusterRedirectClient: the
 * command's keys (found as COMMAND GETKEYS finds them) must hash to one slot, served here, or
 * the client is sent where it is (MOVED), asked to retry there during a migration (ASK), or
 * told the cluster cannot serve it (CLUSTERDOWN, CROSSSLOT, TRYAGAIN). A transaction's
 * queued commands each pass it when queued, and EXEC by the whole queue's keys read again
 * from the receive buffer (the slot kept in the client at queueing judges it when the queue
 * cannot be re-read there).
 */
struct cluster_query {
    struct store *store;
    bool found;             /* a key was seen */
    bool crossslot;         /* two keys in two slots */
    bool unbound;           /* the first key's slot is served by nobody */
    bool multiple_keys;     /* two different keys in the slot */
    bool migrating;         /* the slot is myself's and migrating */
    bool importing;         /* the slot is being imported */
    struct slice first_key; /* the first key seen (Redis's firstkey) */
    uint32_t slot;          /* its slot */
    uint32_t owner;         /* the node serving the slot, CLUSTER_NODE_NONE: nobody */
    uint32_t missing_keys;  /* in an open slot: keys not here */
    uint32_t existing_keys; /* and keys here */
    bool asking_command;    /* the command is admitted as ASKING is (RESTORE-ASKING) */
};

static void cluster_query_key(void *context, struct slice key)
{
    struct cluster_query *query = context;
    if (query->crossslot || query->unbound) {
        return; /* Redis stops at the first error */
    }
    uint32_t slot = keyslot_of(key.bytes, key.length);
    if (!query->found) {
        query->found = true;
        query->first_key = key;
        query->slot = slot;
        query->owner = cluster_slot_owner(slot);
        if (query->owner == CLUSTER_NODE_NONE) {
            query->unbound = true;
            return;
        }
        query->migrating = query->owner == cluster_myself() &&
                           cluster_slot_migrating(slot) != CLUSTER_NODE_NONE;
        query->importing = !query->migrating && cluster_slot_importing(slot) != CLUSTER_NODE_NONE;
    } else if (key.length != query->first_key.length ||
               memcmp(key.bytes, query->first_key.bytes, key.length) != 0) {
        if (slot != query->slot) {
            query->crossslot = true;
            return;
        }
        query->multiple_keys = true;
    }
    if (query->migrating || query->importing) {
        bool here = store_db_contains(query->store, 0, key);
        query->missing_keys += here ? 0u : 1u;
        query->existing_keys += here ? 1u : 0u;
    }
}

/* Whether the command writes (Redis's CMD_WRITE; an EXEC: whether its queue holds one), asked
 * only where the answer matters (a cluster down but readable, a replica's READONLY client, a
 * command being queued): Redis's table is looked up then, not for every command. */
struct cluster_writes {
    const struct slice *args;
    uint32_t arg_count;
    int8_t known;           /* -1: not looked up yet; else 0 or 1 */
};

static bool cluster_writes(struct cluster_writes *writes)
{
    if (writes->known < 0) {
        writes->known =
            (cmd_redis_flags(writes->args, writes->arg_count) & CMD_REDIS_WRITE) != 0 ? 1 : 0;
    }
    KV_ASSERT(writes->known == 0 || writes->known == 1);
    return writes->known == 1;
}

/* SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE: their shard channels hash as keys. */
static bool cluster_shard_pubsub(uint32_t position)
{
    return position == cmd_spublish_position || position == cmd_ssubscribe_position ||
           position == cmd_sunsubscribe_position;
}

/* Unix ms at the kernel's tick (CLOCK_REALTIME_COARSE, a few ms): the state's delays are
 * judged on Redis's 100 ms cron period, so a fine clock read per command is not needed. */
static int64_t cluster_clock_ms(void)
{
    struct timespec now;
    int result = clock_gettime(CLOCK_REALTIME_COARSE, &now);
    KV_ASSERT(result == 0); /* fails only for a bad clock id or pointer */
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static bool param_is_yes(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0);
    return strcmp(redis_param_value((uint32_t)row), "yes") == 0;
}

/* The decision for a query that found keys: true to serve; false after the error. */
static bool cluster_query_answer(struct cmd_context *context, const struct cluster_query *query,
                                 struct cluster_writes *writes, bool shard)
{
    struct reply *reply = &context->reply;
    if (query->unbound) {
        reply_error(reply, REPLY_ERROR_CLUSTER_DOWN_UNBOUND);
        return false;
    }
    if (query->crossslot) {
        reply_error(reply, REPLY_ERROR_CLUSTER_CROSSSLOT);
        return false;
    }
    if (!cluster_state_ok(cluster_clock_ms())) {
        bool allowed = shard ? param_is_yes("cluster-allow-pubsubshard-when-down")
                             : param_is_yes("cluster-allow-reads-when-down");
        if (!allowed || (!shard && cluster_writes(writes))) {
            reply_error(reply, allowed ? REPLY_ERROR_CLUSTER_DOWN_RO : REPLY_ERROR_CLUSTER_DOWN);
            return false;
        }
    }
    bool open = !shard && (query->migrating || query->importing);
    if (open && query->migrating && query->missing_keys > 0) {
        if (query->existing_keys > 0) {
            reply_error(reply, REPLY_ERROR_CLUSTER_TRYAGAIN);
            return false;
        }
        uint32_t target = cluster_slot_migrating(query->slot);
        reply_error_format(reply, REPLY_ERROR_CLUSTER_ASK, query->slot, cluster_endpoint(target),
                           cluster_node_at(target)->port);
        return false;
    }
    if (query->importing && (context->client->cluster_asking || query->asking_command)) {
        if (open && query->multiple_keys && query->missing_keys > 0) {
            reply_error(reply, REPLY_ERROR_CLUSTER_TRYAGAIN);
            return false;
        }
        return true;
    }
    const struct cluster_node *myself = cluster_node_at(cluster_myself());
    if ((context->client->cluster_readonly || shard) && (myself->flags & CLUSTER_FLAG_SLAVE) &&
        myself->master_index == query->owner && !cluster_writes(writes)) {
        return true;
    }
    if (query->owner == cluster_myself()) {
        return true;
    }
    reply_error_format(reply, REPLY_ERROR_CLUSTER_MOVED, query->slot,
                       cluster_endpoint(query->owner), cluster_node_at(query->owner)->port);
    return false;
}

/* The keys (or shard channels) of one command, into the query. */
static void cluster_query_command(struct cluster_query *query, uint32_t position,
                                  const struct slice *args, uint32_t arg_count)
{
    if (!cluster_shard_pubsub(position)) {
        cmd_keys_each(args, arg_count, cluster_query_key, query);
        return;
    }
    /* Shard channels hash as keys do: SPUBLISH's one, S(UN)SUBSCRIBE's every one. */
    uint32_t last = position == cmd_spublish_position ? 2 : arg_count;
    /* Bounded by the arguments. */
    for (uint32_t index = 1; index < last && index < arg_count; index++) {
        cluster_query_key(query, args[index]);
    }
}

/*
 * EXEC's query as Redis's getNodeByQuery makes it: every queued command's keys again, read
 * back from the receive buffer into the parse scratch as EXEC itself will (so a slot that
 * began to migrate since the queueing is judged by its keys now). False when that cannot be
 * done here, and the slot kept at queueing judges EXEC: a queued command with more arguments
 * than the scratch holds now, or an EXEC whose name is not in the receive buffer (an inline
 * one, which the walk's unescaping could overwrite).
 */
static bool cluster_query_exec_walk(struct cmd_context *context, const struct slice *args,
                                    struct cluster_query *query)
{
    const struct txn *txn = &context->client->txn;
    const struct resp_scratch *scratch = context->scratch;
    if (scratch == NULL || context->conns == NULL || args != scratch->args || !txn_holds(txn) ||
        txn->args_max > scratch->args_max) {
        return false;
    }
    const struct conn *conn = conn_at(context->conns, context->client->slot_index);
    const uint8_t *name = args[0].bytes;
    if (name < conn->recv || name >= conn->recv + conn->recv_length) {
        return false;
    }
    struct slice exec_name = args[0];
    struct txn_walk walk;
    txn_walk_start(txn, &walk, conn->parser.command_start);
    uint32_t arg_count = 0;
    uint32_t walked = 0;
    /* Bounded: each step consumes a whole command of the queue region. */
    while (walked < txn->queued && txn_walk_next(&walk, scratch, conn->recv,
                                                  context->conns->recv_limit, &arg_count)) {
        uint32_t position = cmd_find(scratch->args, arg_count);
        if (cmd_flags(cmd_of(position)) & CMD_FLAG_TXN) {
            continue; /* it ran at once while queueing */
        }
        walked++;
        cluster_query_command(query, position, scratch->args, arg_count);
    }
    KV_ASSERT(walked == txn->queued);
    scratch->args[0] = exec_name; /* EXEC's own name, which cmd_run and MONITOR read */
    return true;
}

/* EXEC's query, from what its queued commands' admissions kept. */
static void cluster_query_exec(const struct client *client, struct cluster_query *query)
{
    if (client->cluster_txn_slot == UINT32_MAX) {
        return;
    }
    query->found = true;
    query->crossslot = client->cluster_txn_crossslot;
    query->slot = client->cluster_txn_slot;
    query->owner = cluster_slot_owner(query->slot);
    query->unbound = query->owner == CLUSTER_NODE_NONE;
    query->migrating = !query->unbound && query->owner == cluster_myself() &&
                       cluster_slot_migrating(query->slot) != CLUSTER_NODE_NONE;
    query->importing = !query->unbound && !query->migrating &&
                       cluster_slot_importing(query->slot) != CLUSTER_NODE_NONE;
}

/* Whether cluster mode lets the command run here; false after the redirection or error (a
 * refused EXEC discards its transaction, as Redis's). */
static bool cluster_admit(struct cmd_context *context, uint32_t position, const struct cmd *cmd,
                          const struct slice *args, uint32_t arg_count)
{
    struct client *client = context->client;
    if (!client->txn.active) {
        client->cluster_txn_slot = UINT32_MAX;
        client->cluster_txn_crossslot = false;
        client->cluster_txn_write = false;
    }
    bool exec = position == cmd_exec_position;
    if (exec && !client->txn.active) {
        return true; /* EXEC without MULTI answers its own error */
    }
    struct cluster_query query = {.store = context->store, .owner = CLUSTER_NODE_NONE,
                                  .asking_command = position == cmd_restore_asking_position};
    bool shard = cluster_shard_pubsub(position);
    struct cluster_writes writes = {.args = args, .arg_count = arg_count, .known = -1};
    if (exec) {
        if (!cluster_query_exec_walk(context, args, &query)) {
            cluster_query_exec(client, &query);
        }
        writes.known = client->cluster_txn_write ? 1 : 0;
    } else {
        writes.known = shard ? 0 : -1;
        cluster_query_command(&query, position, args, arg_count);
    }
    if (!query.found) {
        return true;
    }
    if (cluster_query_answer(context, &query, &writes, shard)) {
        if (client->txn.active && !exec && !(cmd->flags & CMD_FLAG_TXN)) {
            uint32_t kept = client->cluster_txn_slot;
            client->cluster_txn_crossslot |= kept != UINT32_MAX && kept != query.slot;
            client->cluster_txn_slot = kept == UINT32_MAX ? query.slot : kept;
            client->cluster_txn_write |= cluster_writes(&writes);
        }
        return true;
    }
    if (exec) {
        txn_reset(&client->txn, context->watch);
    }
    return false;
}

/* Redis's stop-writes-on-bgsave-error: the last BGSAVE (or SAVE) failed while save points
 * are set and the option is yes. */
static bool rdb_writes_denied(void)
{
    static int32_t param_stop = -1;
    static int32_t param_save = -1;
    if (rdb_stats()->last_bgsave_ok) {
        return false;
    }
    if (param_stop < 0) {
        param_stop = redis_param_find("stop-writes-on-bgsave-error", 27);
        param_save = redis_param_find("save", 4);
        KV_ASSERT(param_stop >= 0 && param_save >= 0);
    }
    return redis_param_value((uint32_t)param_save)[0] != '\0' &&
           strcmp(redis_param_value((uint32_t)param_stop), "yes") == 0;
}

enum reply_error cmd_disk_denied(int *aof_errno)
{
    KV_ASSERT(aof_errno != NULL);
    *aof_errno = 0;
    if (rdb_writes_denied()) {
        return REPLY_ERROR_MISCONF_RDB;
    }
    int error = propagate_write_error();
    if (error != 0) {
        *aof_errno = error;
        return REPLY_ERROR_MISCONF_AOF;
    }
    return REPLY_ERROR_COUNT;
}

static bool admit_checks(struct cmd_context *context, uint32_t position, const struct slice *args,
                         uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(context->client->id != 0); /* an open client sent it */
    uint64_t length_before = context->reply.total;
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
    struct client *client = context->client;
    if (!client->authenticated && !(cmd->flags & CMD_FLAG_NOAUTH)) {
        stats->rejected_calls++;
        reply_error(&context->reply, REPLY_ERROR_NOAUTH);
        return false;
    }
    /* Cluster mode: Redis redirects here, before every later check (the AOF's own client
     * is obeyed, as Redis's mustObeyClient). */
    if (cluster_enabled() && !cmd_must_obey(context) &&
        !cluster_admit(context, position, cmd, args, arg_count)) {
        stats->rejected_calls++;
        return false;
    }
    /* As Redis 7.0: only RESP2 limits a subscribed client (RESP3 tells pushes apart). */
    if (client_subscribed(client) && !client_resp3(client) && !(cmd->flags & CMD_FLAG_PUBSUB)) {
        stats->rejected_calls++;
        reply_error_format(&context->reply, REPLY_ERROR_SUBSCRIBED_CONTEXT, cmd->name);
        return false;
    }
    /* A monitor is a replica to Redis: it may not touch the keyspace (processCommand). */
    if (client->monitor && (cmd_redis_flags(args, arg_count) &
                            (CMD_REDIS_READONLY | CMD_REDIS_WRITE | CMD_REDIS_MAY_REPLICATE))) {
        stats->rejected_calls++;
        reply_error(&context->reply, REPLY_ERROR_REPLICA_KEYSPACE);
        return false;
    }
    /* The disk cannot be written (Redis's writeCommandsDeniedByDiskError, RDB first): writes
     * (and PING) get Redis's MISCONF until it can; the AOF's own client is obeyed. */
    bool disk_checked = (cmd->flags & CMD_FLAG_WRITE) || strcmp(cmd->name, "ping") == 0;
    int aof_error = 0;
    enum reply_error denied =
        disk_checked && !cmd_must_obey(context) ? cmd_disk_denied(&aof_error) : REPLY_ERROR_COUNT;
    if (denied == REPLY_ERROR_MISCONF_RDB) {
        stats->rejected_calls++;
        reply_error(&context->reply, REPLY_ERROR_MISCONF_RDB);
        return false;
    }
    if (denied == REPLY_ERROR_MISCONF_AOF) {
        stats->rejected_calls++;
        reply_error_format(&context->reply, REPLY_ERROR_MISCONF_AOF, strerror(aof_error));
        return false;
    }
    KV_ASSERT(context->reply.total == length_before); /* admitting answers nothing */
    return true;
}

bool cmd_must_obey(const struct cmd_context *context)
{
    KV_ASSERT(context->client != NULL);
    return context->client->id == CMD_CLIENT_ID_AOF;
}

bool cmd_admit(struct cmd_context *context, uint32_t position, const struct slice *args,
               uint32_t arg_count)
{
    bool admitted = admit_checks(context, position, args, arg_count);
    /* A refused command ends an ASKING as one that ran does (Redis's resetClient). */
    if (!admitted && !context->client->txn.active && position != cmd_asking_position) {
        context->client->cluster_asking = false;
    }
    return admitted;
}

/* Adds a command to the slow log: its arguments, the client's address and name. */
static void slowlog_note(const struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, int64_t now_ms, uint64_t duration_us)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(cmd_slowlog_threshold_us >= 0); /* the slow log is on */
    const struct client *client = context->client;
    const struct conn *conn = conn_at(context->conns, client->slot_index);
    KV_ASSERT(conn->state == CONN_OPEN); /* its client is running a command */
    slowlog_add(&cmd_slowlog_ring, args, arg_count, now_ms / 1000, duration_us,
                (struct slice){.bytes = (const uint8_t *)conn->addr, .length = conn->addr_length},
                client_name(client));
}

/* A write found the heap without room and answered an error (an OOM), having changed
 * nothing (every write takes its memory before it changes anything): under an evicting
 * policy, keys go until the data are a reserve's worth below their limit, and the command
 * runs once more. At most once, so bounded. */
/* oom_retry's tries, and the bytes past the arguments its first one frees. */
#define OOM_RETRY_TRIES 2u
#define OOM_RETRY_FIRST_BYTES (16u * 1024u)

static void oom_retry(struct cmd_context *context, const struct cmd *cmd,
                      const struct slice *args, uint32_t arg_count)
{
    struct evict *evict = context->evict;
    if (evict == NULL || !evict_enabled(evict) || !(cmd->flags & CMD_FLAG_WRITE) ||
        context->reply.failed || reply_since_mark(&context->reply) == 0 ||
        context->reply.first != '-' || context->outcome.block) {
        return;
    }
    /* Room for the arguments and a little more first, as Redis evicts just enough; then, if
     * the write still found no page (the free pages lie in short runs), the reserve's bytes
     * more. Two tries at most: each evicts, and a refused write changed nothing. */
    uint64_t extra[OOM_RETRY_TRIES] = {OOM_RETRY_FIRST_BYTES, evict->reserve_bytes};
    for (uint32_t attempt = 0; attempt < OOM_RETRY_TRIES; attempt++) {
        if (evict_room(evict, args_bytes(args, arg_count) + extra[attempt]) == EVICT_FAIL) {
            return; /* nothing more may go: the OOM answer stands */
        }
        reply_truncate(&context->reply);
        KV_ASSERT(reply_since_mark(&context->reply) == 0);
        context->outcome = (struct cmd_outcome){0};
        cmd->handler(context, args, arg_count);
        if (context->reply.failed || reply_since_mark(&context->reply) == 0 ||
            context->reply.first != '-' || context->outcome.block) {
            return;
        }
    }
}

/*
 * Client-side caching after a command ran: a tracking client in normal mode is told later
 * about the keys a read-only command named (Redis's CMD_READONLY: kv's commands with keys
 * and without the write flag, WATCH aside); CLIENT CACHING's one-command flag goes after any
 * command but CLIENT itself, outside a transaction (Redis's resetClient).
 */
static void cmd_tracking_after(struct cmd_context *context, const struct cmd *cmd,
                               const struct slice *args, uint32_t arg_count)
{
    struct client *client = context->client;
    struct tracking_client *state = &client->tracking;
    if (state->flags == 0) {
        tracking_command_end(context->tracking); /* the common case: not tracking */
        return;
    }
    if ((state->flags & TRACKING_ON) && !(state->flags & TRACKING_BCAST) &&
        cmd->first_key > 0 && !(cmd->flags & (CMD_FLAG_WRITE | CMD_FLAG_TXN | CMD_FLAG_NO_TXN))) {
        int32_t last = cmd->last_key >= 0 ? cmd->last_key : (int32_t)arg_count + cmd->last_key;
        KV_ASSERT(cmd->key_step > 0);
        /* Bounded by the arguments. */
        for (int32_t index = cmd->first_key; index <= last && index < (int32_t)arg_count;
             index += cmd->key_step) {
            tracking_remember(context->tracking, state, client->slot_index, client->id,
                              args[index]);
        }
    }
    if ((state->flags & TRACKING_CACHING) && context->mode != CMD_MODE_EXEC &&
        !client->txn.active && strcmp(cmd->name, "client") != 0) {
        state->flags &= ~(uint32_t)TRACKING_CACHING;
    }
    tracking_command_end(context->tracking);
    KV_ASSERT(context->tracking->current_id == 0);
}

void cmd_run(struct cmd_context *context, uint32_t position, const struct slice *args,
             uint32_t arg_count)
{
    const struct cmd *cmd = cmd_of(position);
    KV_ASSERT(cmd != NULL);
    KV_ASSERT(arity_ok(cmd, arg_count));
    /* The reply's mark tells this command's first byte; an outer command's (EXEC running
     * its queue) comes back afterwards. */
    uint64_t outer_mark = context->reply.mark;
    uint8_t outer_first = context->reply.first;
    bool outer_wrote = context->reply.total > outer_mark;
    reply_mark(&context->reply);
    struct cmd_stats *stats = &cmd_stats[position];
    context->stats->commands_processed++;
    uint64_t started_ns = unix_ns();
    int64_t now_ms = (int64_t)(started_ns / 1000000u);
    store_clock(context->store, now_ms);
    /* The client's database: SELECT (here, queued in EXEC or in a script) changes it. */
    store_select(context->store, context->client->db_index);
    if (snapshot_running() && (cmd->flags & CMD_FLAG_WRITE)) {
        /* A running BGSAVE writes a write command's keys first, as they are before it: the
         * store's hook alone may come in the middle of a change (a stream's groups, an
         * expiry time change without it). Not a read's: naming a large key half written
         * would finish it now, a pause of its rest. What a read changes goes through the
         * hook before the change: lazy expiry (key_remove) and PFCOUNT's cache
         * (store_string_splice). EXEC and scripts run their commands through here, each
         * by its own flags. */
        cmd_keys_each(args, arg_count, snapshot_key_ahead, context->store);
    }
    stats_ops_sample(context->stats, now_ms);
    context->client->last_command = cmd->name;
    context->client->last_command_ms = now_ms;
    struct heap *heap = context->store->heap;
    uint64_t failures_before = heap->failed_allocations;
    enum heap_reserve reserve_before = heap_reserve_set(
        heap, cmd_denyoom_at[position] ? HEAP_RESERVE_CLOSED : HEAP_RESERVE_HALF);
    if (context->tracking != NULL) {
        tracking_command_begin(context->tracking, context->client->slot_index,
                               context->client->id);
    }
    notify_command_begin(context->client, &context->reply);
    /* MONITOR's feed, as Redis's call(): after the command, but EVAL and FCALL before it (so
     * their scripts' commands follow), admin commands never, a blocked retry not again. */
    uint32_t monitor_flags = 0;
    /* EXEC re-reads its queue into the scratch `args` points into: a command of one argument
     * (EXEC's arity) is fed from this copy. */
    struct slice name = args[0];
    bool monitored = context->clients != NULL && context->clients->monitor_count > 0 &&
                     context->mode != CMD_MODE_RETRY;
    if (monitored) {
        monitor_flags = cmd_redis_flags(args, arg_count);
        if (monitor_flags & CMD_REDIS_SKIP_MONITOR) {
            cmd_monitor_feed(context, args, arg_count);
        }
    }
    struct propagate_frame propagation;
    propagate_command_begin(&propagation, cmd->name);
    cmd->handler(context, args, arg_count);
    if (heap->failed_allocations != failures_before) {
        oom_retry(context, cmd, args, arg_count);
    }
    propagate_command_end(&propagation, context->store, cmd->name,
                          (cmd->flags & CMD_FLAG_WRITE) != 0, args, arg_count, &context->reply);
    notify_command_end();
    if (monitored && !(monitor_flags & (CMD_REDIS_ADMIN | CMD_REDIS_SKIP_MONITOR)) &&
        context->clients->monitor_count > 0) {
        cmd_monitor_feed(context, arg_count == 1 ? &name : args, arg_count);
    }
    if (context->tracking != NULL) {
        cmd_tracking_after(context, cmd, args, arg_count);
    }
    (void)heap_reserve_set(heap, reserve_before);
    uint64_t ended_ns = unix_ns();
    uint64_t duration_ns = ended_ns >= started_ns ? ended_ns - started_ns : 0;
    stats->calls++;
    stats->duration_ns += duration_ns;
    latency_record(&cmd_latency[position], duration_ns);
    if (cmd_slowlog_threshold_us >= 0 &&
        duration_ns / 1000u >= (uint64_t)cmd_slowlog_threshold_us && !(cmd->flags & CMD_FLAG_TXN)) {
        slowlog_note(context, args, arg_count, now_ms, duration_ns / 1000u);
    }
    /* An error reply from the handler counts as a failed call, as Redis counts it. */
    uint64_t written = reply_since_mark(&context->reply);
    stats->failed_calls += written > 0 && context->reply.first == '-' ? 1 : 0;
    /* Every command answers exactly once, but a blocking one that found nothing answers
     * when it is retried (and a reply that found no memory was dropped: its client goes). */
    KV_ASSERT(written > 0 || context->outcome.block || context->outcome.shutdown ||
              context->outcome.silent || context->reply.failed);
    KV_ASSERT(!context->outcome.block || written == 0);
    KV_ASSERT(stats->failed_calls <= stats->calls);
    /* ASKING lasts one command, or a transaction (Redis's resetClient). */
    if (context->mode == CMD_MODE_DIRECT && !context->script_call && !context->client->txn.active &&
        position != cmd_asking_position) {
        context->client->cluster_asking = false;
    }
    context->reply.mark = outer_mark;
    context->reply.first = outer_wrote ? outer_first : context->reply.first;
}
