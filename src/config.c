/*
 * Options: defaults, the config file and the flags. Each option is one row of a table (name,
 * kind, bounds, field), so the file, the flags and the messages can never disagree. Values
 * are checked here one by one (number, range, word); the plan checks the combinations.
 * Startup only: nothing here runs while kv serves.
 */
#include "config.h"

#include "redis_param.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum option_kind {
    OPTION_UINT32,
    OPTION_UINT64,  /* 0 .. INT64_MAX, as Redis's long long options (busy-reply-threshold) */
    OPTION_BIND,
    OPTION_HUGEPAGES,
    OPTION_MLOCK,
    OPTION_PATH,
    OPTION_PASSWORD,
    OPTION_INT32,   /* -1 .. INT32_MAX (slowlog_log_slower_than: -1 turns it off) */
    OPTION_YES_NO,  /* yes | no, into an int */
    OPTION_MEMORY,  /* a size with Redis's units (256mb), into a uint64_t */
    OPTION_POLICY,  /* a maxmemory-policy word */
    OPTION_OUTPUT_LIMIT, /* client-output-buffer-limit: <class> <hard> <soft> <seconds> ... */
    OPTION_MEMORY_CLIENTS, /* maxmemory-clients: a size, or a share of maxmemory ("10%") */
    OPTION_MIN_WAIT, /* auto | off | µs (1 .. max), into an int32_t (config.h's encoding) */
    OPTION_LOOP_RECV, /* multishot | single, into an int (enum config_loop_recv) */
};

struct option {
    const char *name;   /* config-file name; '-' and '_' are the same in it, and the flag is
                           "--" plus it (with either) */
    uint8_t kind;       /* enum option_kind */
    uint64_t min;       /* OPTION_UINT32, OPTION_MEMORY: smallest accepted value */
    uint64_t max;       /* OPTION_UINT32, OPTION_MEMORY: largest accepted value */
    size_t offset;      /* field in struct config */
    bool runtime;       /* may change while kv serves (CONFIG SET, SIGHUP) */
    bool redis_words;   /* errors in Redis 7.0's words (the budget's options so far) */
};

#define REDIS_WORDS true
#define KV_WORDS false

/* Bounds keep every product the plan forms within 64 bits; the plan checks the sums. */
static const struct option options[] = {
    {"port", OPTION_UINT32, 1, 65535, offsetof(struct config, port), false, KV_WORDS},
    {"bind", OPTION_BIND, 0, 0, offsetof(struct config, bind), false, KV_WORDS},
    {"connections_max", OPTION_UINT32, 1, 1u << 20,
     offsetof(struct config, connections_max), false, KV_WORDS},
    {"key_count", OPTION_UINT32, 0, 1u << 30, offsetof(struct config, key_count), false, KV_WORDS},
    {"key_size_max", OPTION_UINT32, 0, 1u << 29,
     offsetof(struct config, key_size_max), false, KV_WORDS},
    {"val_size_max", OPTION_UINT32, 0, 1u << 29,
     offsetof(struct config, val_size_max), false, KV_WORDS},
    {"list_length_max", OPTION_UINT32, 0, 1u << 30,
     offsetof(struct config, list_length_max), false, KV_WORDS},
    {"hugepages", OPTION_HUGEPAGES, 0, 0, offsetof(struct config, hugepages), false, KV_WORDS},
    {"mlock", OPTION_MLOCK, 0, 0, offsetof(struct config, mlock), false, KV_WORDS},
    {"ring_entries", OPTION_UINT32, 0, 32768,
     offsetof(struct config, ring_entries), false, KV_WORDS},
    {"pidfile", OPTION_PATH, 0, 0, offsetof(struct config, pidfile), false, KV_WORDS},
    {"requirepass", OPTION_PASSWORD, 0, 0, offsetof(struct config, requirepass), true, KV_WORDS},
    {"expire_slice", OPTION_UINT32, 1, 1u << 20,
     offsetof(struct config, expire_slice), true, KV_WORDS},
    {"hz", OPTION_UINT32, 1, 500, offsetof(struct config, hz), true, KV_WORDS},
    {"slowlog_log_slower_than", OPTION_INT32, 0, 0,
     offsetof(struct config, slowlog_log_slower_than), true, KV_WORDS},
    {"timeout", OPTION_UINT32, 0, 1u << 30, offsetof(struct config, timeout), true, KV_WORDS},
    {"send_stall_seconds", OPTION_UINT32, 0, 1u << 20, offsetof(struct config, send_stall_seconds),
     true, KV_WORDS},
    {"protected_mode", OPTION_YES_NO, 0, 0,
     offsetof(struct config, protected_mode), true, KV_WORDS},
    {"cpu", OPTION_INT32, 0, 0, offsetof(struct config, cpu), false, KV_WORDS},
    {"busy_poll_us", OPTION_UINT32, 0, 1000000,
     offsetof(struct config, busy_poll_us), true, KV_WORDS},
    /* Read once at startup, when the loop probes the kernel for the min-wait. */
    {"loop_min_wait", OPTION_MIN_WAIT, 1, CONFIG_LOOP_MIN_WAIT_US_MAX,
     offsetof(struct config, loop_min_wait_us), false, KV_WORDS},
    /* It sizes the plan (the receive ring's buffers): startup only. */
    {"loop_recv", OPTION_LOOP_RECV, 0, 0, offsetof(struct config, loop_recv), false, KV_WORDS},
    /* Optional caps on memory the budget already bounds (0: none); nothing is sized by them. */
    {"pubsub_channels_max", OPTION_UINT32, 0, 1u << 31,
     offsetof(struct config, pubsub_channels_max), false, KV_WORDS},
    {"subscriptions_max", OPTION_UINT32, 0, 1u << 31, offsetof(struct config, subscriptions_max),
     false, KV_WORDS},
    {"watch_keys_max", OPTION_UINT32, 0, 1u << 31,
     offsetof(struct config, watch_keys_max), false, KV_WORDS},
    {"blocking_keys_max", OPTION_UINT32, 0, 1u << 31,
     offsetof(struct config, blocking_keys_max), false, KV_WORDS},
    /* Redis's options, with Redis's names and units. */
    {"maxmemory", OPTION_MEMORY, 0, CONFIG_MAXMEMORY_MAX,
     offsetof(struct config, maxmemory), true, REDIS_WORDS},
    {"maxmemory-policy", OPTION_POLICY, 0, 0,
     offsetof(struct config, maxmemory_policy), true, REDIS_WORDS},
    /* Redis's bounds; eviction samples at most EVICT_SAMPLES_MAX keys, whatever is set. */
    {"maxmemory-samples", OPTION_UINT32, 1, INT32_MAX, offsetof(struct config, maxmemory_samples),
     true, REDIS_WORDS},
    {"maxmemory-eviction-tenacity", OPTION_UINT32, 0, 100,
     offsetof(struct config, maxmemory_eviction_tenacity), true, REDIS_WORDS},
    {"lfu-log-factor", OPTION_UINT32, 0, INT32_MAX,
     offsetof(struct config, lfu_log_factor), true, REDIS_WORDS},
    {"lfu-decay-time", OPTION_UINT32, 0, INT32_MAX,
     offsetof(struct config, lfu_decay_time), true, REDIS_WORDS},
    {"proto-max-bulk-len", OPTION_MEMORY, 1024 * 1024, 1ull << 32,
     offsetof(struct config, proto_max_bulk_len), true, REDIS_WORDS},
    {"client-query-buffer-limit", OPTION_MEMORY, 1024 * 1024, 1ull << 32,
     offsetof(struct config, client_query_buffer_limit), true, REDIS_WORDS},
    {"client-output-buffer-limit", OPTION_OUTPUT_LIMIT, 0, 0,
     offsetof(struct config, output_limits), true, KV_WORDS},
    {"maxmemory-clients", OPTION_MEMORY_CLIENTS, 0, CONFIG_MAXMEMORY_MAX,
     offsetof(struct config, maxmemory_clients), true, REDIS_WORDS},
    /* The Lua heap (script.h's bounds: 1 MiB to 4 GiB); it sizes the region. */
    {"lua_heap_bytes", OPTION_MEMORY, 1ull << 20, 4ull << 30,
     offsetof(struct config, lua_heap_bytes), false, KV_WORDS},
    /* Redis's name and its 7.0 alias for the same option. */
    {"busy-reply-threshold", OPTION_UINT64, 0, INT64_MAX,
     offsetof(struct config, busy_reply_threshold), true, REDIS_WORDS},
    {"lua-time-limit", OPTION_UINT64, 0, INT64_MAX,
     offsetof(struct config, busy_reply_threshold), true, REDIS_WORDS},
};

#define OPTION_COUNT (sizeof(options) / sizeof(options[0]))

static const char *const hugepages_names[] = {
    [CONFIG_HUGEPAGES_AUTO] = "auto",
    [CONFIG_HUGEPAGES_1G] = "1g",
    [CONFIG_HUGEPAGES_2M] = "2m",
    [CONFIG_HUGEPAGES_OFF] = "off",
};

static const char *const yes_no_names[] = {"no", "yes"};

static const char *const mlock_names[] = {
    [CONFIG_MLOCK_AUTO] = "auto",
    [CONFIG_MLOCK_REQUIRED] = "required",
    [CONFIG_MLOCK_OFF] = "off",
};

static const char *const loop_recv_names[] = {
    [CONFIG_LOOP_RECV_MULTISHOT] = "multishot",
    [CONFIG_LOOP_RECV_SINGLE] = "single",
};

static const char *const policy_names[CONFIG_POLICY_COUNT] = {
    [CONFIG_POLICY_NOEVICTION] = "noeviction",
    [CONFIG_POLICY_ALLKEYS_LRU] = "allkeys-lru",
    [CONFIG_POLICY_VOLATILE_LRU] = "volatile-lru",
    [CONFIG_POLICY_ALLKEYS_LFU] = "allkeys-lfu",
    [CONFIG_POLICY_VOLATILE_LFU] = "volatile-lfu",
    [CONFIG_POLICY_ALLKEYS_RANDOM] = "allkeys-random",
    [CONFIG_POLICY_VOLATILE_RANDOM] = "volatile-random",
    [CONFIG_POLICY_VOLATILE_TTL] = "volatile-ttl",
};

static const char *const client_class_names[CONFIG_CLIENT_CLASS_COUNT] = {
    [CONFIG_CLIENT_NORMAL] = "normal",
    [CONFIG_CLIENT_REPLICA] = "replica",
    [CONFIG_CLIENT_PUBSUB] = "pubsub",
};

/* Redis's list of the policies in its errors (its enum's order, not kv's). */
#define REDIS_POLICY_CHOICES                                                                   \
    "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, "    \
    "allkeys-random, noeviction"

/* Whether an option's errors take Redis 7.0's words, which CONFIG SET puts after Redis's
 * prefix (the file and the flags name the option first). */
static bool redis_named(const struct option *option)
{
    return option->redis_words;
}

const char *config_policy_name(enum config_policy policy)
{
    KV_ASSERT((size_t)policy < CONFIG_POLICY_COUNT);
    return policy_names[policy];
}

bool config_memory_parse(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t multiplier;
    } units[] = {{"", 1},           {"b", 1},
                 {"k", 1000},       {"kb", 1024},
                 {"m", 1000000},    {"mb", 1024 * 1024},
                 {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024}};
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 20) {
        return false;
    }
    uint64_t number = 0;
    for (size_t index = 0; index < digits; index++) {
        uint64_t digit = (uint64_t)(text[index] - '0');
        if (number > (UINT64_MAX - digit) / 10) {
            return false;
        }
        number = number * 10 + digit;
    }
    for (size_t index = 0; index < sizeof(units) / sizeof(units[0]); index++) {
        if (strcasecmp(text + digits, units[index].unit) == 0) {
            if (number > UINT64_MAX / units[index].multiplier) {
                return false;
            }
            *bytes = number * units[index].multiplier;
            return true;
        }
    }
    return false;
}

void config_output_limits_format(const struct config *config, char *text, size_t text_bytes)
{
    size_t used = 0;
    text[0] = '\0';
    for (uint32_t class = 0; class < CONFIG_CLIENT_CLASS_COUNT && used < text_bytes; class++) {
        const struct config_output_limit *limit = &config->output_limits[class];
        /* Redis 7.0 prints the replica class under its old name (getClientTypeName). */
        const char *class_name =
            class == CONFIG_CLIENT_REPLICA ? "slave" : client_class_names[class];
        int written = snprintf(text + used, text_bytes - used, "%s%s %llu %llu %u",
                               class == 0 ? "" : " ", class_name,
                               (unsigned long long)limit->hard_bytes,
                               (unsigned long long)limit->soft_bytes, limit->soft_seconds);
        used += written > 0 ? (size_t)written : 0;
    }
}

const char *config_hugepages_name(enum config_hugepages hugepages)
{
    KV_ASSERT((size_t)hugepages < sizeof(hugepages_names) / sizeof(hugepages_names[0]));
    return hugepages_names[hugepages];
}

const char *config_loop_recv_name(enum config_loop_recv loop_recv)
{
    KV_ASSERT((size_t)loop_recv < sizeof(loop_recv_names) / sizeof(loop_recv_names[0]));
    return loop_recv_names[loop_recv];
}

const char *config_mlock_name(enum config_mlock mlock)
{
    KV_ASSERT((size_t)mlock < sizeof(mlock_names) / sizeof(mlock_names[0]));
    return mlock_names[mlock];
}

void config_defaults(struct config *config)
{
    memset(config, 0, sizeof(*config));
    config->port = 6379;
    snprintf(config->bind, sizeof(config->bind), "127.0.0.1");
    config->connections_max = 10000; /* Redis's maxclients default */
    /* The seed's per-key caps are off (0), and so are the caps on watched keys, blocked
     * keys, channels and subscriptions: maxmemory is the limit, as in Redis. */
    config->hugepages = CONFIG_HUGEPAGES_AUTO;
    config->mlock = CONFIG_MLOCK_AUTO;
    config->expire_slice = 256;
    config->hz = 10;
    config->slowlog_log_slower_than = 10000;
    config->protected_mode = 1;
    config->send_stall_seconds = 10;
    config->cpu = -1;
    config->loop_min_wait_us = CONFIG_LOOP_MIN_WAIT_AUTO;
    config->loop_recv = CONFIG_LOOP_RECV_MULTISHOT;
    config->maxmemory = 256ull << 20;
    config->lua_heap_bytes = 32ull << 20;
    config->busy_reply_threshold = 5000; /* Redis's default */
    config->maxmemory_policy = CONFIG_POLICY_NOEVICTION;
    config->maxmemory_samples = 5;
    config->maxmemory_eviction_tenacity = 10;
    config->lfu_log_factor = 10;
    config->lfu_decay_time = 1;
    config->proto_max_bulk_len = 512ull << 20;
    config->client_query_buffer_limit = 1ull << 30;
    /* Redis's defaults: normal clients unlimited, replicas 256mb/64mb/60s, pub/sub
     * 32mb/8mb/60s. */
    config->output_limits[CONFIG_CLIENT_REPLICA] =
        (struct config_output_limit){.hard_bytes = 256ull << 20, .soft_bytes = 64ull << 20,
                                     .soft_seconds = 60};
    config->output_limits[CONFIG_CLIENT_PUBSUB] =
        (struct config_output_limit){.hard_bytes = 32ull << 20, .soft_bytes = 8ull << 20,
                                     .soft_seconds = 60};
    config->plan_only = false;
}

/* Whether two option names are the same, '-' and '_' alike, letters in any case (Redis's
 * names are case-insensitive). */
static bool option_name_equal(const char *left, const char *right)
{
    /* Bounded by the shorter name: the loop stops at either's end. */
    for (; *left != '\0' && *right != '\0'; left++, right++) {
        char a = *left == '-' ? '_' : (char)tolower((unsigned char)*left);
        char b = *right == '-' ? '_' : (char)tolower((unsigned char)*right);
        if (a != b) {
            return false;
        }
    }
    return *left == *right;
}

/* Other names of options: Redis's name for one kv named first. */
static const struct {
    const char *alias;
    const char *name;
} option_aliases[] = {
    {"maxclients", "connections_max"},
};

static const struct option *option_find(const char *name)
{
    for (size_t index = 0; index < sizeof(option_aliases) / sizeof(option_aliases[0]); index++) {
        if (option_name_equal(option_aliases[index].alias, name)) {
            name = option_aliases[index].name;
            break;
        }
    }
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        if (option_name_equal(options[index].name, name)) {
            return &options[index];
        }
    }
    return NULL;
}

static int word_index(const char *const *words, size_t word_count, const char *value)
{
    for (size_t index = 0; index < word_count; index++) {
        if (strcasecmp(words[index], value) == 0) {
            return (int)index;
        }
    }
    return -1;
}

/* Redis's integer syntax (string2ll): an optional '-', then digits without a leading zero
 * (but "0"), within long long. */
static bool redis_integer_parse(const char *value, long long *number)
{
    const char *digits = value[0] == '-' ? value + 1 : value;
    size_t length = strlen(digits);
    if (length == 0 || strspn(digits, "0123456789") != length ||
        (digits[0] == '0' && (length > 1 || value[0] == '-'))) {
        return false;
    }
    errno = 0;
    char *end = NULL;
    *number = strtoll(value, &end, 10);
    return errno == 0 && *end == '\0';
}

/* A uint32 option: kv's own words for kv's options, Redis's for Redis's (a negative number
 * is Redis's range error there, not a parse error). */
/* An unsigned option's number into *number, within its bounds: 0, or -1 with the error in
 * Redis's words (a Redis name) or kv's. */
static int parse_unsigned(const struct option *option, const char *value, uint64_t *number_out,
                          char *error, size_t error_bytes)
{
    KV_ASSERT(option->min <= option->max && option->max <= INT64_MAX);
    if (redis_named(option)) {
        long long number = 0;
        if (!redis_integer_parse(value, &number)) {
            snprintf(error, error_bytes, "argument couldn't be parsed into an integer");
            return -1;
        }
        if (number < (long long)option->min || number > (long long)option->max) {
            snprintf(error, error_bytes, "argument must be between %llu and %llu inclusive",
                     (unsigned long long)option->min, (unsigned long long)option->max);
            return -1;
        }
        *number_out = (uint64_t)number;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long number = strtoull(value, &end, 10);
    bool digits = value[0] >= '0' && value[0] <= '9';
    if (!digits || errno != 0 || *end != '\0' || number < option->min || number > option->max) {
        snprintf(error, error_bytes, "option %s: '%s' is not a whole number from %llu to %llu",
                 option->name, value, (unsigned long long)option->min,
                 (unsigned long long)option->max);
        return -1;
    }
    *number_out = number;
    return 0;
}

static int set_uint32(const struct option *option, uint32_t *field, const char *value, char *error,
                      size_t error_bytes)
{
    KV_ASSERT(option->max <= UINT32_MAX);
    uint64_t number = 0;
    if (parse_unsigned(option, value, &number, error, error_bytes) != 0) {
        return -1;
    }
    *field = (uint32_t)number;
    return 0;
}

static int set_uint64(const struct option *option, uint64_t *field, const char *value, char *error,
                      size_t error_bytes)
{
    uint64_t number = 0;
    if (parse_unsigned(option, value, &number, error, error_bytes) != 0) {
        return -1;
    }
    *field = number;
    return 0;
}

static int set_int32(const struct option *option, int32_t *field, const char *value, char *error,
                     size_t error_bytes)
{
    char *end = NULL;
    errno = 0;
    long long number = strtoll(value, &end, 10);
    bool digits = (value[0] >= '0' && value[0] <= '9') || value[0] == '-';
    if (!digits || errno != 0 || *end != '\0' || number < -1 || number > INT32_MAX) {
        snprintf(error, error_bytes, "option %s: '%s' is not a whole number from -1 to %d",
                 option->name, value, INT32_MAX);
        return -1;
    }
    *field = (int32_t)number;
    return 0;
}

/* loop_min_wait: "auto" (the loop decides from its completions per pass), "off", or the
 * microseconds of a min-wait used on every wait. */
static int set_min_wait(const struct option *option, int32_t *field, const char *value,
                        char *error, size_t error_bytes)
{
    KV_ASSERT(option->kind == OPTION_MIN_WAIT);
    KV_ASSERT(option->max <= INT32_MAX);
    if (strcmp(value, "auto") == 0) {
        *field = CONFIG_LOOP_MIN_WAIT_AUTO;
        return 0;
    }
    if (strcmp(value, "off") == 0) {
        *field = CONFIG_LOOP_MIN_WAIT_OFF;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long number = strtoull(value, &end, 10);
    bool digits = value[0] >= '0' && value[0] <= '9';
    if (!digits || errno != 0 || *end != '\0' || number < option->min || number > option->max) {
        snprintf(error, error_bytes,
                 "option %s: '%s' is not auto, off or microseconds from %llu to %llu",
                 option->name, value, (unsigned long long)option->min,
                 (unsigned long long)option->max);
        return -1;
    }
    *field = (int32_t)number;
    return 0;
}

static int set_word(const struct option *option, int *field, const char *const *words,
                    size_t word_count, const char *value, char *error, size_t error_bytes)
{
    int index = word_index(words, word_count, value);
    if (index < 0 && option->kind == OPTION_POLICY) {
        KV_ASSERT(redis_named(option));
        snprintf(error, error_bytes, "argument(s) must be one of the following: %s",
                 REDIS_POLICY_CHOICES);
        return -1;
    }
    if (index < 0) {
        char choices[128] = "";
        size_t used = 0;
        for (size_t word = 0; word < word_count && used < sizeof(choices); word++) {
            used += (size_t)snprintf(choices + used, sizeof(choices) - used, "%s%s",
                                     word == 0 ? "" : " | ", words[word]);
        }
        snprintf(error, error_bytes, "option %s: '%s' is not one of %s", option->name, value,
                 choices);
        return -1;
    }
    *field = index;
    return 0;
}

static int set_memory(const struct option *option, uint64_t *field, const char *value,
                      char *error, size_t error_bytes)
{
    uint64_t bytes = 0;
    bool parsed = config_memory_parse(value, &bytes);
    if (redis_named(option) && !parsed) {
        snprintf(error, error_bytes, "%s", option->kind == OPTION_MEMORY_CLIENTS
                                               ? "argument must be a memory or percent value"
                                               : "argument must be a memory value");
        return -1;
    }
    if (redis_named(option) && (bytes < option->min || bytes > option->max)) {
        snprintf(error, error_bytes, "argument must be between %llu and %llu inclusive",
                 (unsigned long long)option->min, (unsigned long long)option->max);
        return -1;
    }
    if (!parsed || bytes < option->min || bytes > option->max) {
        snprintf(error, error_bytes,
                 "option %s: '%s' is not a size from %llu to %llu bytes (units: b, k, kb, m, mb, "
                 "g, gb)",
                 option->name, value, (unsigned long long)option->min,
                 (unsigned long long)option->max);
        return -1;
    }
    *field = bytes;
    return 0;
}

/* maxmemory-clients: 0, a size, or a percentage of maxmemory ("5%"), as Redis takes it and
 * with its errors ("0%" turns the limit off, as 0 does). */
static int set_memory_clients(const struct option *option, struct config *config,
                              const char *value, char *error, size_t error_bytes)
{
    KV_ASSERT(redis_named(option));
    size_t length = strlen(value);
    if (length >= 2 && value[length - 1] == '%') {
        char number[16];
        uint64_t percent = 0;
        bool ok = length - 1 < sizeof(number);
        if (ok) {
            memcpy(number, value, length - 1);
            number[length - 1] = '\0';
            ok = strspn(number, "0123456789") == length - 1 &&
                 config_memory_parse(number, &percent);
        }
        if (!ok) {
            snprintf(error, error_bytes, "argument must be a memory or percent value");
            return -1;
        }
        if (percent > 100) {
            snprintf(error, error_bytes, "percentage argument must be less or equal to 100");
            return -1;
        }
        config->maxmemory_clients_percent = (uint32_t)percent;
        config->maxmemory_clients = 0;
        return 0;
    }
    config->maxmemory_clients_percent = 0;
    return set_memory(option, &config->maxmemory_clients, value, error, error_bytes);
}

/* client-output-buffer-limit: one or more "<class> <hard> <soft> <soft seconds>" groups; a
 * class not named keeps its limits, as in Redis. All groups are checked before any is set. */
static int set_output_limits(const struct option *option, struct config *config,
                             const char *value, char *error, size_t error_bytes)
{
    struct config_output_limit limits[CONFIG_CLIENT_CLASS_COUNT];
    memcpy(limits, config->output_limits, sizeof(limits));
    char text[256];
    if (strlen(value) >= sizeof(text)) {
        snprintf(error, error_bytes, "option %s: longer than %zu bytes", option->name,
                 sizeof(text) - 1);
        return -1;
    }
    snprintf(text, sizeof(text), "%s", value);
    char *words[4 * CONFIG_CLIENT_CLASS_COUNT + 1];
    uint32_t count = 0;
    char *save = NULL;
    for (char *word = strtok_r(text, " \t", &save); word != NULL && count < 13;
         word = strtok_r(NULL, " \t", &save)) {
        words[count++] = word;
    }
    bool ok = count > 0 && count % 4 == 0 && count <= 12;
    for (uint32_t group = 0; ok && group < count; group += 4) {
        int class = strcasecmp(words[group], "slave") == 0
                        ? CONFIG_CLIENT_REPLICA
                        : word_index(client_class_names, CONFIG_CLIENT_CLASS_COUNT, words[group]);
        char *end = NULL;
        unsigned long seconds = strtoul(words[group + 3], &end, 10);
        ok = class >= 0 && config_memory_parse(words[group + 1], &limits[class].hard_bytes) &&
             config_memory_parse(words[group + 2], &limits[class].soft_bytes) &&
             words[group + 3][0] >= '0' && words[group + 3][0] <= '9' && *end == '\0' &&
             seconds <= UINT32_MAX;
        if (ok) {
            limits[class].soft_seconds = (uint32_t)seconds;
        }
    }
    if (!ok) {
        snprintf(error, error_bytes,
                 "option %s: '%s' is not groups of <normal|replica|pubsub> <hard> <soft> "
                 "<seconds>",
                 option->name, value);
        return -1;
    }
    memcpy(config->output_limits, limits, sizeof(limits));
    return 0;
}

static int set_bind(struct config *config, const char *value, char *error, size_t error_bytes)
{
    struct in_addr address;
    if (strlen(value) >= sizeof(config->bind) || inet_pton(AF_INET, value, &address) != 1) {
        snprintf(error, error_bytes, "option bind: '%s' is not an IPv4 address", value);
        return -1;
    }
    snprintf(config->bind, sizeof(config->bind), "%s", value);
    return 0;
}

int config_set(struct config *config, const char *name, const char *value, char *error,
               size_t error_bytes)
{
    const struct option *option = option_find(name);
    if (option == NULL) {
        snprintf(error, error_bytes, "unknown option '%s'", name);
        return -1;
    }
    uint8_t *field = (uint8_t *)config + option->offset;
    switch (option->kind) {
    case OPTION_UINT32:
        return set_uint32(option, (uint32_t *)(void *)field, value, error, error_bytes);
    case OPTION_UINT64:
        return set_uint64(option, (uint64_t *)(void *)field, value, error, error_bytes);
    case OPTION_INT32:
        return set_int32(option, (int32_t *)(void *)field, value, error, error_bytes);
    case OPTION_MIN_WAIT:
        return set_min_wait(option, (int32_t *)(void *)field, value, error, error_bytes);
    case OPTION_BIND:
        return set_bind(config, value, error, error_bytes);
    case OPTION_HUGEPAGES:
        return set_word(option, (int *)(void *)field, hugepages_names, 4, value, error,
                        error_bytes);
    case OPTION_MLOCK:
        return set_word(option, (int *)(void *)field, mlock_names, 3, value, error, error_bytes);
    case OPTION_LOOP_RECV:
        return set_word(option, (int *)(void *)field, loop_recv_names, 2, value, error,
                        error_bytes);
    case OPTION_YES_NO:
        return set_word(option, (int *)(void *)field, yes_no_names, 2, value, error, error_bytes);
    case OPTION_POLICY:
        return set_word(option, (int *)(void *)field, policy_names, CONFIG_POLICY_COUNT, value,
                        error, error_bytes);
    case OPTION_MEMORY:
        return set_memory(option, (uint64_t *)(void *)field, value, error, error_bytes);
    case OPTION_MEMORY_CLIENTS:
        return set_memory_clients(option, config, value, error, error_bytes);
    case OPTION_OUTPUT_LIMIT:
        return set_output_limits(option, config, value, error, error_bytes);
    case OPTION_PATH:
        if (value[0] != '/' || strlen(value) >= CONFIG_PATH_BYTES_MAX) {
            snprintf(error, error_bytes, "option %s: '%s' is not an absolute path", option->name,
                     value);
            return -1;
        }
        snprintf((char *)field, CONFIG_PATH_BYTES_MAX, "%s", value);
        return 0;
    case OPTION_PASSWORD:
        if (strlen(value) >= CONFIG_PASSWORD_BYTES_MAX) {
            snprintf(error, error_bytes, "option %s: longer than %u bytes", option->name,
                     CONFIG_PASSWORD_BYTES_MAX - 1);
            return -1;
        }
        snprintf((char *)field, CONFIG_PASSWORD_BYTES_MAX, "%s", value);
        return 0;
    default:
        KV_ASSERT(false);
        return -1;
    }
}

/* config_set for the file and the flags: a Redis option's error in Redis's words (which
 * CONFIG SET sends as they are) gets the option's name and value in front. */
static int config_set_named(struct config *config, const char *name, const char *value,
                            char *error, size_t error_bytes)
{
    char reason[256];
    if (config_set(config, name, value, reason, sizeof(reason)) == 0) {
        return 0;
    }
    const struct option *option = option_find(name);
    if (option != NULL && redis_named(option)) {
        snprintf(error, error_bytes, "option %s: '%s': %s", option->name, value, reason);
    } else {
        snprintf(error, error_bytes, "%s", reason);
    }
    return -1;
}

static char *trim(char *text)
{
    while (*text == ' ' || *text == '\t') {
        text++;
    }
    size_t length = strlen(text);
    while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t' ||
                          text[length - 1] == '\r' || text[length - 1] == '\n')) {
        text[--length] = '\0';
    }
    return text;
}

/* Redis's save lines while it reads its config file and command line (setConfigSaveOption
 * with reading_config_file): the first replaces the points, each later one adds its pairs,
 * `save ""` empties them. The lines seen since config_parse_args began. */
static uint32_t config_save_lines;

/* save's value from the file or the command line as Redis reads it there: one argument split
 * on runs of blanks (sdssplitargs: "3600  1 " is two words, where CONFIG SET's single-space
 * split makes four), the words joined by one space into `words`. False: they do not fit. */
static bool config_save_words(const char *value, char *words, size_t words_bytes)
{
    size_t used = 0;
    const char *at = value;
    /* Bounded by the value's length: each pass consumes blanks and a word. */
    while (*at != '\0') {
        if (isspace((unsigned char)*at)) {
            at++;
            continue;
        }
        size_t length = 0;
        while (at[length] != '\0' && !isspace((unsigned char)at[length])) {
            length++;
        }
        size_t needed = length + (used > 0 ? 1u : 0u);
        if (used + needed >= words_bytes) {
            return false;
        }
        if (used > 0) {
            words[used++] = ' ';
        }
        memcpy(words + used, at, length);
        used += length;
        at += length;
    }
    words[used] = '\0';
    return true;
}

/* Checks and stores Redis parameter `row` from the file or the command line (save read as
 * Redis reads it there); NULL, or the reason it is refused. */
static const char *config_param_load(int32_t row, const char *value)
{
    KV_ASSERT(row >= 0);
    char canonical[REDIS_PARAM_VALUE_BYTES];
    char words[REDIS_PARAM_VALUE_BYTES];
    bool save = row == redis_param_find("save", 4);
    if (save && !config_save_words(value, words, sizeof(words))) {
        return "argument is too long or holds a NUL byte";
    }
    const char *checked = save ? words : value;
    const char *failure = redis_param_check((uint32_t)row, checked, strlen(checked), canonical);
    if (failure != NULL) {
        return failure;
    }
    if (save && config_save_lines++ > 0 && (words[0] != '\0' || value[0] != '\0')) {
        /* A later line adds its pairs to the points set so far (blanks alone add none). */
        const char *before = redis_param_value((uint32_t)row);
        int length = snprintf(words, sizeof(words), "%s%s%s", before,
                              before[0] != '\0' && canonical[0] != '\0' ? " " : "", canonical);
        if (length < 0 || (size_t)length >= sizeof(words)) {
            return "argument is too long or holds a NUL byte";
        }
        memcpy(canonical, words, (size_t)length + 1);
    }
    redis_param_store((uint32_t)row, canonical);
    return NULL;
}

/* A quoted value's escapes as Redis's sdssplitargs reads them (and CONFIG REWRITE writes
 * them): \\ \" \n \r \t \a \b and \xHH; in place, the text only shrinks. */
static void config_unescape(char *text)
{
    static const char from[] = "\\\"nrtab";
    static const char to[] = "\\\"\n\r\t\a\b";
    static_assert(sizeof(from) == sizeof(to), "an escape per character");
    char *write = text;
    /* One pass: bounded by the text's length. */
    for (const char *read = text; *read != '\0'; read++) {
        const char *escape = read[0] == '\\' && read[1] != '\0' ? strchr(from, read[1]) : NULL;
        if (escape != NULL) {
            *write++ = to[escape - from];
            read++;
        } else if (read[0] == '\\' && read[1] == 'x' && isxdigit((unsigned char)read[2]) &&
                   isxdigit((unsigned char)read[3])) {
            char hex[3] = {read[2], read[3], '\0'};
            *write++ = (char)strtoul(hex, NULL, 16);
            read += 3;
        } else {
            *write++ = *read;
        }
    }
    *write = '\0';
}

/* One line of the file: blank, a comment, or "name value". */
static int config_line(struct config *config, const char *path, unsigned line_number, char *line,
                       char *error, size_t error_bytes)
{
    char *text = trim(line);
    if (text[0] == '\0' || text[0] == '#') {
        return 0;
    }
    char *value = text + strcspn(text, " \t");
    if (*value == '\0') {
        snprintf(error, error_bytes, "%s:%u: option %s has no value", path, line_number, text);
        return -1;
    }
    *value++ = '\0';
    value = trim(value);
    /* Redis config files may quote values. */
    size_t value_length = strlen(value);
    if (value_length >= 2 && value[0] == '"' && value[value_length - 1] == '"') {
        value[value_length - 1] = '\0';
        value++;
        config_unescape(value);
    }
    char reason[384];
    /* A Redis parameter kv does not act on (hash-max-listpack-entries, ...): stored for
     * CONFIG GET, as Redis's own file would set it (immutable ones included). */
    bool runtime = false;
    int32_t row = config_option_known(text, &runtime) ? -1 : redis_param_find(text, strlen(text));
    if (row >= 0) {
        const char *failure = config_param_load(row, value);
        if (failure != NULL) {
            snprintf(error, error_bytes, "%s:%u: option %s: '%s': %s", path, line_number, text,
                     value, failure);
            return -1;
        }
        return 0;
    }
    if (config_set_named(config, text, value, reason, sizeof(reason)) != 0) {
        snprintf(error, error_bytes, "%s:%u: %s", path, line_number, reason);
        return -1;
    }
    return 0;
}

/* Reads the whole file into `text` with open/read (no stdio buffer: SIGHUP re-reads it while
 * kv serves, when nothing may be allocated). Returns its length or -1. */
static int config_file_read(const char *path, char *text, size_t text_bytes, char *error,
                            size_t error_bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(error, error_bytes, "option config: cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t length = 0;
    /* Bounded by text_bytes: each read adds at least one byte or ends the loop. */
    while (length < text_bytes - 1) {
        ssize_t got = read(fd, text + length, text_bytes - 1 - length);
        if (got <= 0) {
            break;
        }
        length += (size_t)got;
    }
    char probe = 0;
    bool longer = length == text_bytes - 1 && read(fd, &probe, 1) == 1;
    close(fd);
    if (longer) {
        snprintf(error, error_bytes, "option config: '%s' is longer than %zu bytes", path,
                 text_bytes - 1);
        return -1;
    }
    text[length] = '\0';
    return (int)length;
}

static int config_file(struct config *config, const char *path, char *error, size_t error_bytes)
{
    char text[CONFIG_FILE_BYTES_MAX];
    if (config_file_read(path, text, sizeof(text), error, error_bytes) < 0) {
        return -1;
    }
    unsigned line_number = 0;
    char *line = text;
    /* One pass per line; bounded by the file's length. */
    while (*line != '\0') {
        char *end = strchr(line, '\n');
        if (end != NULL) {
            *end = '\0';
        }
        line_number++;
        if (config_line(config, path, line_number, line, error, error_bytes) != 0) {
            return -1;
        }
        if (end == NULL) {
            break;
        }
        line = end + 1;
    }
    return 0;
}

/* "--key-count" -> "key_count"; false when `flag` is not a long option. */
static bool flag_name(const char *flag, char *name, size_t name_bytes)
{
    if (strncmp(flag, "--", 2) != 0 || strlen(flag + 2) >= name_bytes) {
        return false;
    }
    size_t index = 0;
    for (const char *at = flag + 2; *at != '\0' && *at != '='; at++) {
        name[index++] = *at == '-' ? '_' : *at;
    }
    name[index] = '\0';
    return true;
}

/* Finds `--config FILE` (or --config=FILE) anywhere in argv. */
static const char *config_path(int argc, char **argv)
{
    for (int index = 1; index < argc; index++) {
        if (strcmp(argv[index], "--config") == 0 && index + 1 < argc) {
            return argv[index + 1];
        }
        if (strncmp(argv[index], "--config=", 9) == 0) {
            return argv[index] + 9;
        }
    }
    return NULL;
}

int config_parse_args(struct config *config, int argc, char **argv, bool *help_wanted, char *error,
                      size_t error_bytes)
{
    *help_wanted = false;
    config_save_lines = 0;
    const char *path = config_path(argc, argv);
    if (path != NULL && config_file(config, path, error, error_bytes) != 0) {
        return -1;
    }
    if (path != NULL && strlen(path) < sizeof(config->config_file)) {
        snprintf(config->config_file, sizeof(config->config_file), "%s", path);
    }
    for (int index = 1; index < argc; index++) {
        const char *flag = argv[index];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            *help_wanted = true;
            continue;
        }
        if (strcmp(flag, "--plan") == 0) {
            config->plan_only = true;
            continue;
        }
        if (strcmp(flag, "--check-host") == 0) {
            config->check_host = true;
            continue;
        }
        char name[64];
        if (!flag_name(flag, name, sizeof(name))) {
            snprintf(error, error_bytes, "unknown argument '%s' (see kv --help)", flag);
            return -1;
        }
        const char *equals = strchr(flag, '=');
        const char *value = equals != NULL ? equals + 1 : NULL;
        if (value == NULL) {
            if (index + 1 >= argc) {
                snprintf(error, error_bytes, "option %s: missing value after %s", name, flag);
                return -1;
            }
            value = argv[++index];
        }
        if (strcmp(name, "config") == 0) {
            continue; /* Already read, before every other flag. */
        }
        /* Redis's own parameters on the command line (--dir, --dbfilename, --save), as
         * redis-server takes them. */
        bool runtime = false;
        int32_t row = config_option_known(name, &runtime) ? -1
                                                          : redis_param_find(name, strlen(name));
        if (row < 0 && !config_option_known(name, &runtime)) {
            /* Redis's names have '-' (--aof-load-truncated): flag_name made them '_'. */
            char dashed[sizeof(name)];
            for (size_t at = 0; at < sizeof(name); at++) {
                dashed[at] = name[at] == '_' ? '-' : name[at];
            }
            row = redis_param_find(dashed, strlen(dashed));
        }
        if (row >= 0) {
            const char *failure = config_param_load(row, value);
            if (failure != NULL) {
                snprintf(error, error_bytes, "option %s: '%s': %s", name, value, failure);
                return -1;
            }
            continue;
        }
        if (config_set_named(config, name, value, error, error_bytes) != 0) {
            return -1;
        }
    }
    return 0;
}

static size_t option_field_bytes(const struct option *option)
{
    switch (option->kind) {
    case OPTION_BIND:
        return CONFIG_BIND_BYTES_MAX;
    case OPTION_PATH:
        return CONFIG_PATH_BYTES_MAX;
    case OPTION_PASSWORD:
        return CONFIG_PASSWORD_BYTES_MAX;
    case OPTION_HUGEPAGES:
    case OPTION_MLOCK:
    case OPTION_LOOP_RECV:
    case OPTION_YES_NO:
    case OPTION_POLICY:
        return sizeof(int);
    case OPTION_MEMORY:
    case OPTION_UINT64:
        return sizeof(uint64_t);
    case OPTION_MEMORY_CLIENTS:
        /* maxmemory_clients and maxmemory_clients_percent, which follows it. */
        return offsetof(struct config, maxmemory_clients_percent) -
               offsetof(struct config, maxmemory_clients) + sizeof(uint32_t);
    case OPTION_OUTPUT_LIMIT:
        return sizeof(((struct config *)0)->output_limits);
    case OPTION_UINT32:
    case OPTION_INT32:
    case OPTION_MIN_WAIT:
        return sizeof(uint32_t);
    default:
        KV_ASSERT(false);
        return 0;
    }
}

uint32_t config_changed(const struct config *running, const struct config *fresh,
                        const char **names, uint32_t names_max)
{
    uint32_t count = 0;
    for (size_t index = 0; index < OPTION_COUNT && count < names_max; index++) {
        const struct option *option = &options[index];
        const uint8_t *before = (const uint8_t *)running + option->offset;
        const uint8_t *after = (const uint8_t *)fresh + option->offset;
        if (memcmp(before, after, option_field_bytes(option)) != 0) {
            names[count++] = option->name;
        }
    }
    return count;
}

bool config_option_known(const char *name, bool *runtime)
{
    const struct option *option = option_find(name);
    *runtime = option != NULL && option->runtime;
    return option != NULL;
}

uint32_t config_apply_runtime(struct config *running, const struct config *fresh,
                              const char **names, uint32_t names_max)
{
    uint32_t count = 0;
    for (size_t index = 0; index < OPTION_COUNT; index++) {
        const struct option *option = &options[index];
        uint8_t *before = (uint8_t *)running + option->offset;
        const uint8_t *after = (const uint8_t *)fresh + option->offset;
        size_t bytes = option_field_bytes(option);
        if (!option->runtime || memcmp(before, after, bytes) == 0) {
            continue;
        }
        memcpy(before, after, bytes);
        if (count < names_max) {
            names[count++] = option->name;
        }
    }
    return count;
}

void config_usage(void)
{
    printf("usage: kv [--config FILE] [options] [--plan | --check-host] [--help]\n"
           "\n"
           "Options (flags override the config file; file lines are `name value`):\n"
           "  --port N              TCP port (6379)\n"
           "  --bind ADDR           IPv4 address to listen on (127.0.0.1)\n"
           "  --connections-max N   clients served at once (10000)\n"
           "  --key-count N         optional cap: keys stored at once, 0 = none (0)\n"
           "  --key-size-max N      optional cap: bytes in a key, field or member, 0 = none (0)\n"
           "  --val-size-max N      optional cap: bytes in a value or element, 0 = none (0)\n"
           "  --list-length-max N   optional cap: elements in a collection, 0 = none (0)\n"
           "  --hugepages WORD      auto | 1g | 2m | off (auto)\n"
           "  --mlock WORD          auto | required | off (auto)\n"
           "  --ring-entries N      io_uring submission entries, 0 = sized from the plan (0)\n"
           "  --pidfile PATH        write kv's PID to PATH while it runs (none)\n"
           "  --requirepass WORD    password clients give with AUTH (none)\n"
           "  --timeout N           close clients idle for N seconds, 0 = never (0)\n"
           "  --protected-mode W    yes: without requirepass, refuse non-loopback clients (yes)\n"
           "  --send-stall-seconds N  close a client that takes no reply bytes for N s (10)\n"
           "  --cpu N               pin the loop thread to CPU N, -1 = no pinning (-1)\n"
           "  --busy-poll-us N      spin up to N us for completions before sleeping (0)\n"
           "  --loop-min-wait W     auto | off | N us: batch completions under load (auto)\n"
           "  --loop-recv W         multishot | single: receive into a buffer ring, or one\n"
           "                        receive at a time into each client's buffer (multishot)\n"
           "  --pubsub-channels-max N  cap on channels and patterns in all, 0 = none (0)\n"
           "  --subscriptions-max N  cap on channels and patterns per client, 0 = none (0)\n"
           "  --expire-slice N      table slots active expiry examines per loop turn (256)\n"
           "  --hz N                expiry and idle-check ticks per second (10)\n"
           "  --watch-keys-max N    cap on keys all clients WATCH at once, 0 = none (0)\n"
           "  --slowlog-log-slower-than N  microseconds; -1 = none (10000)\n"
           "  --blocking-keys-max N  cap on keys blocked clients wait on in all, 0 = none (0)\n"
           "\n"
           "Redis's options, with Redis's names and units (256mb, 4gb):\n"
           "  --maxmemory SIZE      the budget every key and client buffer shares (256mb)\n"
           "  --maxmemory-policy W  noeviction | allkeys-lru | volatile-lru | allkeys-lfu |\n"
           "                        volatile-lfu | allkeys-random | volatile-random |\n"
           "                        volatile-ttl (noeviction)\n"
           "  --maxmemory-samples N keys sampled per eviction (5)\n"
           "  --maxmemory-eviction-tenacity N  0..100 (10)\n"
           "  --lfu-log-factor N    (10)    --lfu-decay-time N  minutes (1)\n"
           "  --maxclients N        the same as --connections-max\n"
           "  --proto-max-bulk-len SIZE  longest bulk argument (512mb)\n"
           "  --client-query-buffer-limit SIZE  (1gb)\n"
           "  --client-output-buffer-limit 'CLASS HARD SOFT SECONDS ...'\n"
           "  --maxmemory-clients SIZE|N%%  client buffers in all, 0 = no limit (0)\n"
           "  --lua-heap-bytes SIZE the Lua heap EVAL's scripts run in (32mb)\n"
           "  --busy-reply-threshold MS  a script's run before others get -BUSY (5000)\n"
           "  --plan                print the memory plan and exit\n"
           "  --check-host          check this host against the plan (exit 1: kv cannot start)\n"
           "\n"
           "Every byte kv uses is planned from these options, mapped and locked at startup:\n"
           "maxmemory sizes the heap that keys, values and client buffers share (kv --plan).\n");
}
