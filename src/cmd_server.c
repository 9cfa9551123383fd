/*
 * Server and connection commands: PING, ECHO, QUIT, CONFIG GET/SET/RESETSTAT, COMMAND
 * (COUNT, DOCS), TIME, SHUTDOWN. INFO is in cmd_info.c.
 */
#include "cmd_handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc_stats.h"
#include "block.h"
#include "client.h"
#include "conn.h"
#include "evict.h"
#include "glob.h"
#include "latency.h"
#include "notify.h"
#include "propagate.h"
#include "rdb.h"
#include "snapshot.h"
#include "log.h"
#include "number.h"
#include "pubsub.h"
#include "region.h"
#include "script.h"
#include "redis_param.h"
#include "store_hash.h"
#include "store_set.h"
#include "store_zset.h"

/* The Redis version kv answers as: clients pick features by it. */
#define CMD_REDIS_VERSION "7.0.15"

CMD_HANDLER(cmd_ping)
{
    KV_ASSERT(arg_count >= 1); /* arity -1 */
    if (arg_count > 2) {
        reply_error_arity(&context->reply, "ping");
        return;
    }
    KV_ASSERT(arg_count <= 2);
    if (client_subscribed(context->client) && !client_resp3(context->client)) {
        /* Subscribed in RESP2: a pong message, as Redis answers it there (RESP3 can tell a
         * reply from a message, so it answers as usual). */
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)"pong", .length = 4});
        reply_bulk(&context->reply, arg_count == 2 ? args[1] : (struct slice){0});
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
    uint64_t length_before = context->reply.total;
    reply_bulk(&context->reply, args[1]);
    KV_ASSERT(context->reply.total - length_before >= args[1].length); /* echoed whole */
}

CMD_HANDLER(cmd_quit)
{
    (void)args;
    KV_ASSERT(arg_count >= 1); /* arity -1: QUIT ignores what follows, as Redis does */
    reply_ok(&context->reply);
    context->outcome.close_after_reply = true;
    KV_ASSERT(!context->outcome.block);
}

/* One configuration parameter as CONFIG GET shows it: kv's options under their own names,
 * and the Redis parameters clients and exporters ask for. */
struct config_entry {
    const char *name;
    char value[CONFIG_PASSWORD_BYTES_MAX];
};

#define CONFIG_ENTRY_COUNT 38u

/* The longest value an entry shows: the password, kv's longest text option. */
#define CONFIG_ENTRY_VALUE_BYTES sizeof(((struct config_entry *)0)->value)
static_assert(CONFIG_ENTRY_VALUE_BYTES >= sizeof(((struct config *)0)->requirepass),
              "a CONFIG GET value holds the password");
static_assert(CONFIG_ENTRY_VALUE_BYTES >= sizeof(((struct config *)0)->bind),
              "a CONFIG GET value holds the bind address");

static void config_entries(const struct cmd_context *context, struct config_entry *entries)
{
    const struct config *config = context->config;
    static const char *const names[] = {
        "port", "bind", "maxclients", "connections_max", "key_count", "key_size_max",
        "val_size_max", "list_length_max", "hugepages", "mlock", "save", "appendonly",
        "databases", "maxmemory", "maxmemory-policy", "requirepass", "hz", "expire_slice",
        "slowlog-log-slower-than", "slowlog-max-len", "watch_keys_max", "timeout",
        "protected-mode", "send_stall_seconds", "busy_poll_us", "cpu",
        "maxmemory-samples", "maxmemory-eviction-tenacity", "lfu-log-factor", "lfu-decay-time",
        "proto-max-bulk-len", "client-query-buffer-limit", "client-output-buffer-limit",
        "maxmemory-clients", "blocking_keys_max", "pubsub_channels_max",
        "busy-reply-threshold", "lua-time-limit",
    };
    static_assert(sizeof(names) / sizeof(names[0]) == CONFIG_ENTRY_COUNT, "a name per entry");
    for (uint32_t index = 0; index < CONFIG_ENTRY_COUNT; index++) {
        entries[index].name = names[index];
    }
    const size_t size = sizeof(entries[0].value);
    snprintf(entries[0].value, size, "%u", config->port);
    snprintf(entries[1].value, size, "%s", config->bind);
    snprintf(entries[2].value, size, "%u", config->connections_max);
    snprintf(entries[3].value, size, "%u", config->connections_max);
    snprintf(entries[4].value, size, "%u", config->key_count);
    snprintf(entries[5].value, size, "%u", config->key_size_max);
    snprintf(entries[6].value, size, "%u", config->val_size_max);
    snprintf(entries[7].value, size, "%u", config->list_length_max);
    snprintf(entries[8].value, size, "%s", config_hugepages_name(config->hugepages));
    snprintf(entries[9].value, size, "%s", config_mlock_name(config->mlock));
    snprintf(entries[10].value, size, "%s", redis_param_value((uint32_t)redis_param_find("save", 4)));
    snprintf(entries[11].value, size, "%s", redis_param_value((uint32_t)redis_param_find("appendonly", 10)));
    /* The databases the store has (no store: the defaults' entries, Redis's 16). */
    snprintf(entries[12].value, size, "%u",
             context->store != NULL ? context->store->db_count : STORE_DB_COUNT_DEFAULT);
    snprintf(entries[13].value, size, "%" PRIu64, config->maxmemory);
    snprintf(entries[14].value, size, "%s", config_policy_name(config->maxmemory_policy));
    snprintf(entries[15].value, size, "%s", config->requirepass);
    snprintf(entries[16].value, size, "%u", config->hz);
    snprintf(entries[17].value, size, "%u", config->expire_slice);
    snprintf(entries[18].value, size, "%d", config->slowlog_log_slower_than);
    snprintf(entries[19].value, size, "%u", PLAN_SLOWLOG_MAX_LEN);
    snprintf(entries[20].value, size, "%u", config->watch_keys_max);
    snprintf(entries[21].value, size, "%u", config->timeout);
    snprintf(entries[22].value, size, "%s", config->protected_mode ? "yes" : "no");
    snprintf(entries[23].value, size, "%u", config->send_stall_seconds);
    snprintf(entries[24].value, size, "%u", config->busy_poll_us);
    snprintf(entries[25].value, size, "%d", config->cpu);
    snprintf(entries[26].value, size, "%u", config->maxmemory_samples);
    snprintf(entries[27].value, size, "%u", config->maxmemory_eviction_tenacity);
    snprintf(entries[28].value, size, "%u", config->lfu_log_factor);
    snprintf(entries[29].value, size, "%u", config->lfu_decay_time);
    snprintf(entries[30].value, size, "%" PRIu64, config->proto_max_bulk_len);
    snprintf(entries[31].value, size, "%" PRIu64, config->client_query_buffer_limit);
    config_output_limits_format(config, entries[32].value, size);
    if (config->maxmemory_clients_percent != 0) {
        snprintf(entries[33].value, size, "%u%%", config->maxmemory_clients_percent);
    } else {
        snprintf(entries[33].value, size, "%" PRIu64, config->maxmemory_clients);
    }
    snprintf(entries[34].value, size, "%u", config->blocking_keys_max);
    snprintf(entries[35].value, size, "%u", config->pubsub_channels_max);
    snprintf(entries[36].value, size, "%" PRIu64, config->busy_reply_threshold);
    snprintf(entries[37].value, size, "%" PRIu64, config->busy_reply_threshold);
    /* Every value fits (the static_asserts above), so none was cut: the password shows whole. */
    KV_ASSERT(strlen(entries[15].value) == strlen(config->requirepass));
    KV_ASSERT(strlen(entries[1].value) == strlen(config->bind));
}

static struct slice text_slice(const char *text)
{
    KV_ASSERT(text != NULL);
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX); /* kv's own text, narrowed to a slice length */
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

/* Whether a CONFIG GET argument is a glob pattern rather than a name. */
static bool config_pattern(struct slice arg)
{
    KV_ASSERT(arg.bytes != NULL || arg.length == 0);
    for (uint32_t index = 0; index < arg.length; index++) {
        uint8_t byte = arg.bytes[index];
        if (byte == '*' || byte == '?' || byte == '[') {
            return true;
        }
    }
    return false;
}

/* The parameters CONFIG GET and SET name: kv's entries (index < CONFIG_ENTRY_COUNT), then
 * Redis's rows (redis_param.h) that no kv entry shadows, at CONFIG_ENTRY_COUNT + row. */
#define CONFIG_PARAM_COUNT_MAX (CONFIG_ENTRY_COUNT + REDIS_PARAM_COUNT_MAX)

static bool config_name_is(const char *name, struct slice arg)
{
    size_t length = strlen(name);
    return length == arg.length && strncasecmp(name, (const char *)arg.bytes, length) == 0;
}

/* Whether Redis's row is answered by a kv entry of the same name instead. */
static bool config_param_shadowed(const struct config_entry *entries, uint32_t row)
{
    const char *name = redis_param_at(row)->name;
    /* Bounded by kv's entries. */
    for (uint32_t entry = 0; entry < CONFIG_ENTRY_COUNT; entry++) {
        if (strcasecmp(entries[entry].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* The parameter `arg` names exactly (any case), or -1; kv's entries first. */
static int32_t config_param_find(const struct config_entry *entries, struct slice arg)
{
    KV_ASSERT(arg.bytes != NULL || arg.length == 0);
    /* Bounded by kv's entries. */
    for (uint32_t entry = 0; entry < CONFIG_ENTRY_COUNT; entry++) {
        if (config_name_is(entries[entry].name, arg)) {
            return (int32_t)entry;
        }
    }
    int32_t row = redis_param_find((const char *)arg.bytes, arg.length);
    if (row < 0 || config_param_shadowed(entries, (uint32_t)row)) {
        return -1;
    }
    return (int32_t)CONFIG_ENTRY_COUNT + row;
}

static const char *config_param_name(const struct config_entry *entries, uint32_t param)
{
    return param < CONFIG_ENTRY_COUNT ? entries[param].name
                                      : redis_param_at(param - CONFIG_ENTRY_COUNT)->name;
}

/*
 * CONFIG GET pattern [pattern ...], as Redis 7.0 answers it: a name without glob characters
 * is looked up (hidden parameters included) and answered under the name as given; a pattern
 * matches every parameter and alias (hidden ones aside) without case. A parameter already
 * answered, under any spelling, is not answered again. Redis's order is its dict's (random
 * per process); kv answers in the order the arguments found them.
 */
static void config_get(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3); /* CONFIG GET and a pattern: cmd_config checked */
    struct config_entry entries[CONFIG_ENTRY_COUNT];
    config_entries(context, entries);
    uint32_t param_count = CONFIG_ENTRY_COUNT + redis_param_count();
    KV_ASSERT(param_count <= CONFIG_PARAM_COUNT_MAX);
    bool taken[CONFIG_PARAM_COUNT_MAX] = {false};
    uint32_t found[CONFIG_PARAM_COUNT_MAX];   /* parameters, in the order they were found */
    uint32_t found_by[CONFIG_PARAM_COUNT_MAX]; /* the argument: its spelling for a name */
    uint32_t found_count = 0;
    for (uint32_t index = 2; index < arg_count; index++) {
        struct slice arg = args[index];
        if (!config_pattern(arg)) {
            int32_t param = config_param_find(entries, arg);
            if (param >= 0 && !taken[param]) {
                taken[param] = true;
                found_by[found_count] = index;
                found[found_count++] = (uint32_t)param;
            }
            continue;
        }
        /* Every parameter once per pattern: bounded by param_count. */
        for (uint32_t param = 0; param < param_count; param++) {
            bool hidden = param >= CONFIG_ENTRY_COUNT &&
                          ((redis_param_at(param - CONFIG_ENTRY_COUNT)->flags & RP_HIDDEN) != 0 ||
                           config_param_shadowed(entries, param - CONFIG_ENTRY_COUNT));
            if (taken[param] || hidden ||
                !glob_match(arg, text_slice(config_param_name(entries, param)), true)) {
                continue;
            }
            taken[param] = true;
            found_by[found_count] = 0; /* answered under its own name */
            found[found_count++] = param;
        }
    }
    KV_ASSERT(found_count <= param_count); /* each parameter at most once */
    reply_map(&context->reply, found_count); /* RESP2: an array of 2n */
    for (uint32_t index = 0; index < found_count; index++) {
        uint32_t param = found[index];
        reply_bulk(&context->reply, found_by[index] != 0
                                        ? args[found_by[index]]
                                        : text_slice(config_param_name(entries, param)));
        reply_bulk(&context->reply,
                   text_slice(param < CONFIG_ENTRY_COUNT
                                  ? entries[param].value
                                  : redis_param_value(param - CONFIG_ENTRY_COUNT)));
    }
}
/* An argument as a C string (lower case and '_' for '-' when `option_name`); false when it
 * does not fit or holds a NUL. */
static bool arg_text(struct slice arg, bool option_name, char *text, uint32_t capacity)
{
    KV_ASSERT(capacity > 0);
    if (arg.length >= capacity || (arg.length > 0 && memchr(arg.bytes, 0, arg.length) != NULL)) {
        return false;
    }
    for (uint32_t index = 0; index < arg.length; index++) {
        char byte = (char)arg.bytes[index];
        if (option_name) {
            byte = byte == '-' ? '_' : byte;
            byte = (byte >= 'A' && byte <= 'Z') ? (char)(byte + 32) : byte;
        }
        text[index] = byte;
    }
    KV_ASSERT(arg.length < capacity); /* the NUL fits */
    text[arg.length] = '\0';
    return true;
}

/* Whether a Redis parameter kv shows but does not have may be "set" to what kv does anyway
 * (save "", appendonly no): tools send these and expect OK. */
static bool config_set_noop(struct slice name, struct slice value)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    KV_ASSERT(value.bytes != NULL || value.length == 0);
    return (cmd_arg_is(name, "save") && value.length == 0) ||
           (cmd_arg_is(name, "appendonly") && cmd_arg_is(value, "no"));
}

/* maxmemory may be lowered (down to 1: every write refused, as in Redis) or raised back up
 * to the heap the region holds; 0 means the whole heap. Raising it past needs a restart. */
static bool maxmemory_fits(const struct cmd_context *context, const struct config *fresh,
                           char *reason, size_t reason_bytes)
{
    const struct heap *heap = context->store->heap;
    uint64_t heap_bytes = (uint64_t)heap->page_count * HEAP_PAGE_BYTES;
    if (fresh->maxmemory <= heap_bytes || fresh->maxmemory == context->config->maxmemory) {
        return true;
    }
    snprintf(reason, reason_bytes,
             "kv's heap holds %" PRIu64 " bytes; start kv with a larger maxmemory to raise it",
             heap_bytes);
    return false;
}

/* What one CONFIG SET name resolved to. */
enum config_target_kind {
    CONFIG_TARGET_UNKNOWN,
    CONFIG_TARGET_NOOP,      /* save "" / appendonly no: what kv does anyway */
    CONFIG_TARGET_KV,        /* one of kv's options (struct config) */
    CONFIG_TARGET_IMMUTABLE, /* kv's option fixed at startup, or a Redis name kv shows as such */
    CONFIG_TARGET_PARAM,     /* a Redis parameter kv stores without acting on it */
};

struct config_target {
    enum config_target_kind kind;
    int32_t row;      /* CONFIG_TARGET_PARAM: the redis_param row */
    char option[48];  /* CONFIG_TARGET_KV, _NOOP, _IMMUTABLE: kv's option name ("hz") */
};

static void config_target_resolve(const struct config_entry *entries, struct slice name,
                                  struct slice value, struct config_target *target)
{
    target->row = -1;
    target->option[0] = '\0';
    bool runtime = false;
    bool named = arg_text(name, true, target->option, sizeof(target->option));
    bool known = named && config_option_known(target->option, &runtime);
    if (cmd_arg_is(name, "appendonly")) {
        /* Redis's parameter: the AOF writer applies it at the pass's end (aof.c). */
        target->kind = CONFIG_TARGET_PARAM;
        target->row = redis_param_find("appendonly", 10);
        KV_ASSERT(target->row >= 0);
        return;
    }
    if (cmd_arg_is(name, "save")) {
        /* Redis's parameter: cron's save points and the stop's save read it (cron.c). */
        target->kind = CONFIG_TARGET_PARAM;
        target->row = redis_param_find("save", 4);
        KV_ASSERT(target->row >= 0);
        return;
    }
    if (config_set_noop(name, value)) {
        target->kind = CONFIG_TARGET_NOOP;
        return;
    }
    static const char *const redis_only[] = {"maxclients", "save", "appendonly", "databases",
                                             "slowlog-max-len"};
    static_assert(sizeof(redis_only) / sizeof(redis_only[0]) == 5, "the loop's bound");
    bool shown = false;
    for (uint32_t entry = 0; entry < 5; entry++) {
        shown |= cmd_arg_is(name, redis_only[entry]);
    }
    if (known || shown) {
        target->kind = runtime ? CONFIG_TARGET_KV : CONFIG_TARGET_IMMUTABLE;
        return;
    }
    int32_t param = config_param_find(entries, name);
    if (param >= (int32_t)CONFIG_ENTRY_COUNT) {
        target->kind = CONFIG_TARGET_PARAM;
        target->row = param - (int32_t)CONFIG_ENTRY_COUNT;
        return;
    }
    /* A kv entry that is not an option (none today) or no parameter at all. */
    target->kind = CONFIG_TARGET_UNKNOWN;
}

static bool config_target_same(const struct config_target *one, const struct config_target *two)
{
    if (one->kind == CONFIG_TARGET_PARAM || two->kind == CONFIG_TARGET_PARAM) {
        return one->kind == two->kind && one->row == two->row;
    }
    return one->option[0] != '\0' && strcmp(one->option, two->option) == 0;
}

/*
 * CONFIG SET name value [name value ...], in Redis 7.0's order and words: first every name
 * (the first unknown, immutable, protected or repeated one fails the command), then every
 * value (the first bad one fails it), and only then is anything applied: all or none. kv's
 * runtime options (requirepass, hz, expire_slice, slowlog-log-slower-than, maxmemory and its
 * policy, the eviction and LFU options, the client buffer limits) take effect at once; the
 * options that size the region or the socket are immutable, as Redis says of its own; Redis's
 * other parameters are checked and stored (redis_param.h) without effect on kv.
 */
static void config_set_command(struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count)
{
    /* CONFIG SET and name/value pairs: cmd_config checked. */
    KV_ASSERT(arg_count >= 4);
    KV_ASSERT(arg_count % 2 == 0);
    struct config_entry entries[CONFIG_ENTRY_COUNT];
    config_entries(context, entries);
    /* The names: one pass, each against the earlier ones for repeats (O(pairs²): an admin
     * command, and nothing to store per pair). */
    for (uint32_t index = 2; index + 1 < arg_count; index += 2) {
        struct slice name = args[index];
        struct config_target target;
        config_target_resolve(entries, name, args[index + 1], &target);
        if (target.kind == CONFIG_TARGET_UNKNOWN) {
            reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_UNKNOWN, &name);
            return;
        }
        const struct redis_param *param =
            target.kind == CONFIG_TARGET_PARAM ? redis_param_at((uint32_t)target.row) : NULL;
        if (target.kind == CONFIG_TARGET_IMMUTABLE ||
            (param != NULL && (param->flags & RP_IMMUTABLE) != 0)) {
            reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_IMMUTABLE, &name);
            return;
        }
        if (param != NULL && (param->flags & RP_PROTECTED) != 0) {
            /* enable-protected-configs is "no" (immutable), so these are never settable. */
            reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_FAILED, &name,
                               "can't set protected config");
            return;
        }
        for (uint32_t earlier = 2; earlier < index; earlier += 2) {
            struct config_target before;
            config_target_resolve(entries, args[earlier], args[earlier + 1], &before);
            if (config_target_same(&before, &target)) {
                reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_FAILED, &name,
                                   "duplicate parameter");
                return;
            }
        }
    }
    /* The values, into a copy of kv's options and checked only for Redis's parameters. */
    struct config fresh = *context->config;
    for (uint32_t index = 2; index + 1 < arg_count; index += 2) {
        struct slice name = args[index];
        struct config_target target;
        config_target_resolve(entries, name, args[index + 1], &target);
        KV_ASSERT(target.kind != CONFIG_TARGET_UNKNOWN && target.kind != CONFIG_TARGET_IMMUTABLE);
        char value[REDIS_PARAM_VALUE_BYTES > CONFIG_PASSWORD_BYTES_MAX + 1
                       ? REDIS_PARAM_VALUE_BYTES
                       : CONFIG_PASSWORD_BYTES_MAX + 1];
        char reason[256];
        if (target.kind == CONFIG_TARGET_PARAM) {
            const struct redis_param *param = redis_param_at((uint32_t)target.row);
            struct slice param_name = text_slice(param->name);
            /* Redis names the parameter's own spelling when a value fails. */
            const char *failure = "argument is too long or holds a NUL byte";
            if (arg_text(args[index + 1], false, value, REDIS_PARAM_VALUE_BYTES)) {
                failure = redis_param_check((uint32_t)target.row, value, strlen(value), reason);
            }
            if (failure != NULL) {
                reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_FAILED, &param_name,
                                   failure);
                return;
            }
            continue;
        }
        if (target.kind == CONFIG_TARGET_NOOP) {
            continue;
        }
        if (!arg_text(args[index + 1], false, value, CONFIG_PASSWORD_BYTES_MAX + 1)) {
            reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_UNREADABLE, &name);
            return;
        }
        if (config_set(&fresh, target.option, value, reason, sizeof(reason)) != 0 ||
            !maxmemory_fits(context, &fresh, reason, sizeof(reason))) {
            /* Redis names the parameter as its table spells it: lower case. */
            char lower[48];
            struct slice spelled = name;
            if (name.length < sizeof(lower)) {
                /* Bounded by the name's length. */
                for (uint32_t at = 0; at < name.length; at++) {
                    uint8_t byte = name.bytes[at];
                    lower[at] = (char)(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte);
                }
                spelled = (struct slice){.bytes = (const uint8_t *)lower, .length = name.length};
            }
            reply_error_format(&context->reply, REPLY_ERROR_CONFIG_SET_FAILED, &spelled, reason);
            return;
        }
    }
    /* Every value passed: apply them all. */
    const char *names[8];
    config_apply_runtime(context->config, &fresh, names, 8);
    KV_ASSERT(context->config->slowlog_log_slower_than == fresh.slowlog_log_slower_than);
    KV_ASSERT(context->config->hz == fresh.hz);
    cmd_slowlog_threshold_set(context->config->slowlog_log_slower_than);
    for (uint32_t index = 2; index + 1 < arg_count; index += 2) {
        struct config_target target;
        config_target_resolve(entries, args[index], args[index + 1], &target);
        if (target.kind != CONFIG_TARGET_PARAM) {
            continue;
        }
        char value[REDIS_PARAM_VALUE_BYTES];
        char canonical[REDIS_PARAM_VALUE_BYTES];
        bool readable = arg_text(args[index + 1], false, value, sizeof(value));
        KV_ASSERT(readable); /* checked above */
        const char *failure =
            redis_param_check((uint32_t)target.row, value, strlen(value), canonical);
        KV_ASSERT(failure == NULL); /* the same check passed above */
        redis_param_store((uint32_t)target.row, canonical);
    }
    notify_configure(); /* notify-keyspace-events takes effect at once, parsed here */
    store_hash_configure(); /* so do the encoding thresholds (OBJECT ENCODING's rules) */
    store_set_configure();
    store_zset_configure();
    reply_ok(&context->reply);
}
/*
 * CONFIG REWRITE, as Redis 7.0 rewrites its file: comments and blank lines stay; a line
 * naming a parameter becomes "name value" with the value now in force (an alias line takes
 * its primary's name; a parameter's later lines go); a line kv does not know becomes
 * "# ??? line"; then every parameter that differs from its default and had no line is
 * appended after "# Generated by CONFIG REWRITE". Values are written as Redis writes them:
 * sizes with units (64mb), strings quoted. kv's options that CONFIG GET does not show
 * (ring_entries, pidfile, ...) keep their lines as they are.
 *
 * This is the one place kv does file I/O while serving: a synchronous read and write of a
 * file of at most CONFIG_FILE_BYTES_MAX bytes on an admin command, which blocks the loop for
 * that long (a few hundred microseconds on a local disk). The file is written whole to
 * "<file>.rewrite-tmp" and renamed over the old one, so a crash leaves one or the other.
 */
#define CONFIG_REWRITE_BYTES_MAX (CONFIG_FILE_BYTES_MAX * 2u)

/* Static, not on the stack: two files' worth is more than a handler's frame should hold. */
static char config_rewrite_in[CONFIG_FILE_BYTES_MAX];
static char config_rewrite_out[CONFIG_REWRITE_BYTES_MAX];

struct config_rewrite {
    uint32_t length;
    bool overflow; /* the new file would pass CONFIG_REWRITE_BYTES_MAX */
};

static void rewrite_add(struct config_rewrite *out, const char *bytes, size_t length)
{
    if (out->overflow || length > CONFIG_REWRITE_BYTES_MAX - out->length) {
        out->overflow = true;
        return;
    }
    memcpy(config_rewrite_out + out->length, bytes, length);
    out->length += (uint32_t)length;
    KV_ASSERT(out->length <= CONFIG_REWRITE_BYTES_MAX);
}

/* Whether a parameter's value is a size Redis writes with units. */
static bool rewrite_is_size(const char *name, int32_t row)
{
    if (row >= 0) {
        const struct redis_param *param = redis_param_at((uint32_t)row);
        return param->kind == RP_KIND_NUMBER && (param->number_flags & RP_NUM_MEMORY) != 0;
    }
    return strcmp(name, "maxmemory") == 0 || strcmp(name, "proto-max-bulk-len") == 0 ||
           strcmp(name, "client-query-buffer-limit") == 0 ||
           strcmp(name, "maxmemory-clients") == 0;
}

/* "name value\n" as Redis's rewrite writes it. */
static void rewrite_line(struct config_rewrite *out, const char *name, const char *value,
                         int32_t row)
{
    char text[REDIS_PARAM_VALUE_BYTES * 4 + 128];
    size_t used = (size_t)snprintf(text, sizeof(text), "%s ", name);
    bool quoted = (row >= 0 && redis_param_at((uint32_t)row)->kind == RP_KIND_STRING) ||
                  strcmp(name, "requirepass") == 0 || value[0] == '\0';
    size_t value_length = strlen(value);
    bool digits = value_length > 0 && strspn(value, "0123456789") == value_length;
    if (rewrite_is_size(name, row) && digits && value_length < 20) {
        /* rewriteConfigFormatMemory: the largest unit that divides the size. */
        unsigned long long bytes = strtoull(value, NULL, 10);
        const unsigned long long gb = 1024ull * 1024 * 1024, mb = 1024ull * 1024, kb = 1024;
        if (bytes != 0 && bytes % gb == 0) {
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%llugb", bytes / gb);
        } else if (bytes != 0 && bytes % mb == 0) {
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%llumb", bytes / mb);
        } else if (bytes != 0 && bytes % kb == 0) {
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%llukb", bytes / kb);
        } else {
            used += (size_t)snprintf(text + used, sizeof(text) - used, "%llu", bytes);
        }
    } else if (quoted) {
        /* sdscatrepr: quotes, with \\ \" \n \r \t \a \b escaped and other bytes as \xHH. */
        text[used++] = '"';
        for (size_t index = 0; index < value_length; index++) {
            unsigned char byte = (unsigned char)value[index];
            const char *escape = byte == '\\'   ? "\\\\"
                                 : byte == '"'  ? "\\\""
                                 : byte == '\n' ? "\\n"
                                 : byte == '\r' ? "\\r"
                                 : byte == '\t' ? "\\t"
                                 : byte == '\a' ? "\\a"
                                 : byte == '\b' ? "\\b"
                                                : NULL;
            if (escape != NULL) {
                used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", escape);
            } else if (byte < 32 || byte >= 127) {
                used += (size_t)snprintf(text + used, sizeof(text) - used, "\\x%02x", byte);
            } else {
                text[used++] = (char)byte;
            }
        }
        text[used++] = '"';
    } else {
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s", value);
    }
    KV_ASSERT(used + 1 < sizeof(text)); /* 4 bytes per value byte at most, and the name */
    text[used++] = '\n';
    rewrite_add(out, text, used);
}

static void config_rewrite_error(struct reply *reply, const char *what)
{
    KV_ASSERT(what != NULL);
    reply_error_format(reply, REPLY_ERROR_CONFIG_REWRITE_FAILED, what);
}

static void config_rewrite_command(struct cmd_context *context)
{
    const char *path = context->config->config_file;
    if (path[0] == '\0') {
        reply_error(&context->reply, REPLY_ERROR_CONFIG_NO_FILE);
        return;
    }
    struct config_entry entries[CONFIG_ENTRY_COUNT];
    struct config_entry defaults[CONFIG_ENTRY_COUNT];
    config_entries(context, entries);
    struct config default_config;
    config_defaults(&default_config);
    struct cmd_context default_context = *context;
    default_context.config = &default_config;
    default_context.store = NULL;
    config_entries(&default_context, defaults);
    /* Read the old file (a missing one is empty, as in Redis). */
    size_t in_length = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        config_rewrite_error(&context->reply, strerror(errno));
        return;
    }
    /* Bounded by the buffer: each read adds a byte or ends the loop. */
    while (fd >= 0 && in_length < sizeof(config_rewrite_in) - 1) {
        ssize_t got = read(fd, config_rewrite_in + in_length,
                           sizeof(config_rewrite_in) - 1 - in_length);
        if (got <= 0) {
            break;
        }
        in_length += (size_t)got;
    }
    if (fd >= 0) {
        close(fd);
    }
    config_rewrite_in[in_length] = '\0';
    uint32_t param_count = CONFIG_ENTRY_COUNT + redis_param_count();
    bool written[CONFIG_PARAM_COUNT_MAX] = {false};
    struct config_rewrite out = {0};
    static const char signature[] = "# Generated by CONFIG REWRITE\n";
    /* Redis signs the appended part once: a file that holds the line already keeps it. */
    bool signed_tail = false;
    char *line = config_rewrite_in;
    /* One pass per line, bounded by the file's length. */
    while (*line != '\0') {
        char *end = strchr(line, '\n');
        if (end != NULL) {
            *end = '\0';
        }
        /* Trimmed of "\r\n\t " at both ends, as Redis trims. */
        while (*line == ' ' || *line == '\t' || *line == '\r') {
            line++;
        }
        size_t length = strlen(line);
        while (length > 0 && (line[length - 1] == ' ' || line[length - 1] == '\t' ||
                              line[length - 1] == '\r')) {
            line[--length] = '\0';
        }
        size_t name_length = strcspn(line, " \t");
        struct slice name = {.bytes = (const uint8_t *)line, .length = (uint32_t)name_length};
        int32_t param = line[0] == '#' || length == 0 ? -1 : config_param_find(entries, name);
        char option[48];
        bool runtime = false;
        bool kv_only = param < 0 && arg_text(name, true, option, sizeof(option)) &&
                       config_option_known(option, &runtime);
        signed_tail |= length == sizeof(signature) - 2 &&
                       memcmp(line, signature, sizeof(signature) - 2) == 0;
        if (line[0] == '#' || length == 0 || kv_only) {
            rewrite_add(&out, line, length);
            rewrite_add(&out, "\n", 1);
        } else if (param < 0) {
            rewrite_add(&out, "# ??? ", 6);
            rewrite_add(&out, line, length);
            rewrite_add(&out, "\n", 1);
        } else {
            int32_t row = param >= (int32_t)CONFIG_ENTRY_COUNT
                              ? param - (int32_t)CONFIG_ENTRY_COUNT
                              : -1;
            const struct redis_param *redis = row >= 0 ? redis_param_at((uint32_t)row) : NULL;
            if (redis != NULL && redis->other != NULL && row > 0 &&
                strcmp(redis_param_at((uint32_t)row - 1)->name, redis->other) == 0) {
                row--; /* an alias line: its primary's name */
                param--;
            }
            if (!written[param]) {
                written[param] = true;
                const char *value =
                    row >= 0 ? redis_param_value((uint32_t)row) : entries[param].value;
                rewrite_line(&out, config_param_name(entries, (uint32_t)param), value, row);
            }
        }
        if (end == NULL) {
            break;
        }
        line = end + 1;
    }

    /* Every parameter once: the ones changed from their defaults and not in the file. */
    for (uint32_t param = 0; param < param_count; param++) {
        int32_t row = param >= CONFIG_ENTRY_COUNT ? (int32_t)(param - CONFIG_ENTRY_COUNT) : -1;
        const struct redis_param *redis = row >= 0 ? redis_param_at((uint32_t)row) : NULL;
        bool alias = redis != NULL && redis->other != NULL && row > 0 &&
                     strcmp(redis_param_at((uint32_t)row - 1)->name, redis->other) == 0;
        if (written[param] || alias ||
            (redis != NULL && config_param_shadowed(entries, (uint32_t)row))) {
            continue;
        }
        const char *value = redis != NULL ? redis_param_value((uint32_t)row) : entries[param].value;
        const char *fresh = redis != NULL ? redis->default_value : defaults[param].value;
        if (strcmp(value, fresh) == 0 || (redis != NULL && strcmp(redis->name, "dir") == 0)) {
            continue;
        }
        if (!signed_tail) {
            rewrite_add(&out, signature, sizeof(signature) - 1);
            signed_tail = true;
        }
        rewrite_line(&out, config_param_name(entries, param), value, row);
    }
    if (out.overflow) {
        config_rewrite_error(&context->reply, "File too large");
        return;
    }
    char temporary[CONFIG_PATH_BYTES_MAX + 16];
    int temporary_length = snprintf(temporary, sizeof(temporary), "%s.rewrite-tmp", path);
    KV_ASSERT(temporary_length > 0 && (size_t)temporary_length < sizeof(temporary));
    fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    size_t done = 0;
    /* Bounded by the text: each write adds a byte or fails. */
    while (ok && done < out.length) {
        ssize_t wrote = write(fd, config_rewrite_out + done, out.length - done);
        ok = wrote > 0;
        done += ok ? (size_t)wrote : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved_errno = errno;
    if (fd >= 0) {
        close(fd);
    }
    ok = ok && rename(temporary, path) == 0;
    saved_errno = ok ? 0 : (errno != 0 ? errno : saved_errno);
    if (!ok) {
        unlink(temporary);
        config_rewrite_error(&context->reply, strerror(saved_errno));
        return;
    }
    reply_ok(&context->reply);
}

/* CONFIG RESETSTAT: the counters start again; the start time and the clients stay. */
static void config_resetstat(struct cmd_context *context)
{
    struct stats *stats = context->stats;
    uint64_t start_time_us = stats->start_time_us;
    uint32_t connected_clients = stats->connected_clients;
    memset(stats, 0, sizeof(*stats));
    cmd_stats_reset();
    rdb_saves_reset(); /* Redis's resetServerStats zeroes stat_rdb_saves */
    propagate_stats_reset(); /* and stat_aof_rewrites, stat_aofrw_consecutive_failures */
    stats->start_time_us = start_time_us;
    stats->connected_clients = connected_clients;
    KV_ASSERT(stats->commands_processed == 0);
    KV_ASSERT(stats->connected_clients == connected_clients);
    reply_ok(&context->reply);
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
        config_set_command(context, args, arg_count);
        return;
    }
    if (cmd_arg_is(args[1], "rewrite")) {
        if (arg_count != 2) {
            reply_error_arity(&context->reply, "config|rewrite");
            return;
        }
        config_rewrite_command(context);
        return;
    }
    if (cmd_arg_is(args[1], "resetstat")) {
        if (arg_count != 2) {
            reply_error_arity(&context->reply, "config|resetstat");
            return;
        }
        config_resetstat(context);
        return;
    }
    if (cmd_arg_is(args[1], "help")) {
        if (!cmd_subcommand_is(context, args, arg_count, "help", 2, "config|help")) {
            return; /* it answered the arity error */
        }
        static const char *const help[] = {
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        };
        cmd_reply_help(&context->reply, help, sizeof(help) / sizeof(help[0]));
        return;
    }
    reply_error_unknown_subcommand(&context->reply, args[1], "CONFIG");
}

CMD_HANDLER(cmd_time)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    struct timeval now;
    int result = gettimeofday(&now, NULL);
    KV_ASSERT(result == 0); /* fails only for a bad pointer */
    KV_ASSERT(now.tv_usec >= 0);
    KV_ASSERT(now.tv_usec < 1000000);
    char digits[NUMBER_INT64_BYTES];
    reply_array(&context->reply, 2);
    uint32_t length = number_format_int64((int64_t)now.tv_sec, digits);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)digits, .length = length});
    length = number_format_int64((int64_t)now.tv_usec, digits);
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)digits, .length = length});
}

/*
 * SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], as Redis 7.0 reads its flags. SAVE, or
 * save points without NOSAVE, writes the RDB file first (rdb.h); a failed save fails the
 * shutdown as Redis's does, unless FORCE. Otherwise the server stops as on SIGTERM (every
 * other client's replies are finished, then kv exits 0) and this client gets no reply: its
 * connection closes, which redis-cli and the libraries take as the success. ABORT finds no
 * shutdown under way (kv's stop does not wait on replicas or a save).
 */
CMD_HANDLER(cmd_shutdown)
{
    bool nosave = false;
    bool save = false;
    bool abort_asked = false;
    bool other = false; /* NOW or FORCE */
    bool force = false; /* FORCE: a failed save does not stop the shutdown */
    /* Bounded by the arguments. */
    for (uint32_t index = 1; index < arg_count; index++) {
        if (cmd_arg_is(args[index], "nosave")) {
            nosave = true;
        } else if (cmd_arg_is(args[index], "save")) {
            save = true;
        } else if (cmd_arg_is(args[index], "now") || cmd_arg_is(args[index], "force")) {
            other = true;
            force = force || cmd_arg_is(args[index], "force");
        } else if (cmd_arg_is(args[index], "abort")) {
            abort_asked = true;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    if ((abort_asked && (nosave || save || other)) || (nosave && save)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (abort_asked) {
        reply_error(&context->reply, REPLY_ERROR_NO_SHUTDOWN);
        return;
    }
    if (context->script != NULL && script_busy(context->script)) {
        /* Only NOSAVE ends a slow script's server, as in Redis; it stops the script. */
        if (!nosave) {
            reply_error(&context->reply, script_busy_error(context->script));
            return;
        }
        script_stop_for_shutdown(context->script);
    }
    /* Redis 7.0 kills a BGSAVE's child ("There is a child saving an .rdb. Killing it!") and
     * removes its temp file before the shutdown's own save. */
    if (snapshot_running() && !propagate_rewrite_running()) {
        /* (An AOF rewrite's is the AOF writer's, at its shutdown.) */
        log_warn("There is a child saving an .rdb. Killing it!");
        snapshot_abort();
    }
    /* Redis 7.0: SAVE, or save points without NOSAVE, saves first; a failed save fails the
     * shutdown unless FORCE. */
    int32_t points = redis_param_find("save", 4);
    KV_ASSERT(points >= 0);
    if (save || (!nosave && redis_param_value((uint32_t)points)[0] != '\0')) {
        if (rdb_save(context->store, context->store->now_ms) != 0 && !force) {
            log_warn("Error trying to save the DB, can't exit.");
            reply_error(&context->reply, REPLY_ERROR_SHUTDOWN_SAVE);
            return;
        }
    }
    context->outcome.shutdown = true;
    KV_ASSERT(reply_since_mark(&context->reply) == 0); /* no reply: the connection closes */
}

static const struct cmd server_cmds[] = {
    {"ping", -1, 0, 0, 0, CMD_FLAG_PUBSUB, cmd_ping},
    {"echo", 2, 0, 0, 0, 0, cmd_echo},
    {"quit", -1, 0, 0, 0, CMD_FLAG_NOAUTH | CMD_FLAG_TXN | CMD_FLAG_PUBSUB, cmd_quit},
    {"config", -2, 0, 0, 0, 0, cmd_config},
    {"time", 1, 0, 0, 0, 0, cmd_time},
    {"shutdown", -1, 0, 0, 0, CMD_FLAG_NO_TXN, cmd_shutdown},
};

CMD_FAMILY(cmd_family_server, "server", server_cmds);
