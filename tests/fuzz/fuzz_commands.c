/*
 * libFuzzer harness for command execution: sequences of commands run against kv's real
 * store and command table, checked against a small reference model of Redis semantics
 * (with kv's limits) for the commands it knows. A reply that differs from the model's, a
 * broken store invariant (store_verify after every command, its tally against the heap's
 * count) or a bad memory access (ASan) is a failure.
 *
 * The configuration is tiny so that every limit is reached often: keys of at most 4 bytes,
 * values of at most 8, lists and sets of at most 5 elements. The input is read as a stream
 * of commands: an opcode byte, key bytes, and values taken from the input. Strings (with
 * expiry times, APPEND, GETDEL, SET ... GET), lists and sets replace one another, so every
 * type's release and verify (the store's operations table) runs against the others.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "client.h"
#include "heap.h"
#include "layout.h"
#include "number.h"
#include "plan.h"
#include "region.h"
#include "reply.h"
#include "stats.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"
#include "watch.h"

#define MODEL_KEYS 5u     /* "a", "b", "c", "" and a key past key_size_max */
#define MODEL_VALUE_MAX 8u
#define MODEL_LIST_MAX 5u
#define MODEL_MEMBER_MAX 4u /* key_size_max: a set member's limit */
#define MODEL_REPLY_BYTES 4096u
#define MODEL_OPS 24u
/* The reply buffer: a fixed writer; the model's replies are far smaller (a few values of
 * MODEL_VALUE_MAX bytes). */
#define FUZZ_REPLY_BYTES 65536u

enum model_type { MODEL_NONE, MODEL_STRING, MODEL_LIST, MODEL_SET };

struct model_value {
    uint8_t bytes[MODEL_VALUE_MAX];
    uint32_t length;
};

struct model_key {
    uint8_t type;
    struct model_value string;
    struct model_value list[MODEL_LIST_MAX]; /* a list's elements or a set's members */
    uint32_t count;
};

static const char *const key_names[MODEL_KEYS] = {"a", "b", "c", "", "toolong"};
static struct model_key model[MODEL_KEYS];

static struct config config;
static struct plan plan;
static struct heap heap;
static struct layout layout;
static struct region region;
static struct store store;
static struct watch watch;
static struct stats stats;
static struct client client;
static uint8_t *send_bytes;

/* The model's reply, built as RESP. */
static uint8_t want[MODEL_REPLY_BYTES];
static uint32_t want_length;

static void want_raw(const void *bytes, uint32_t length)
{
    if (want_length + length > sizeof(want)) {
        abort();
    }
    memcpy(want + want_length, bytes, length);
    want_length += length;
}

static void want_text(const char *text)
{
    want_raw(text, (uint32_t)strlen(text));
}

static void want_number(char kind, int64_t value)
{
    char text[32];
    want_raw(text, (uint32_t)snprintf(text, sizeof(text), "%c%lld\r\n", kind, (long long)value));
}

static void want_bulk(const struct model_value *value)
{
    want_number('$', value->length);
    want_raw(value->bytes, value->length);
    want_text("\r\n");
}

static void want_error(enum reply_error error)
{
    struct slice line = reply_error_line(error);
    want_raw(line.bytes, line.length);
}

/* The input, read as a stream. */
struct input {
    const uint8_t *bytes;
    size_t left;
};

static uint8_t take_byte(struct input *input)
{
    if (input->left == 0) {
        return 0;
    }
    input->left--;
    return *input->bytes++;
}

static void take_value(struct input *input, struct model_value *value, uint32_t length_max)
{
    uint32_t length = take_byte(input) % (length_max + 1u);
    value->length = 0;
    for (uint32_t index = 0; index < length && input->left > 0; index++) {
        uint8_t byte = take_byte(input);
        if (index < MODEL_VALUE_MAX) {
            value->bytes[value->length++] = byte;
        } else {
            value->length++; /* longer than the model holds: only its length matters */
        }
    }
}

static bool key_fits(uint32_t key)
{
    return strlen(key_names[key]) <= config.key_size_max;
}

/* Whether a key holds another type than `type` (an absent key holds none). */
static bool wrong_type(uint32_t key, uint8_t type)
{
    return model[key].type != MODEL_NONE && model[key].type != type;
}

static bool value_equal(const struct model_value *a, const struct model_value *b)
{
    return a->length == b->length && memcmp(a->bytes, b->bytes, a->length) == 0;
}

/* Model: LPUSH/RPUSH of one value. */
static void model_push(uint32_t key, const struct model_value *value, bool head)
{
    struct model_key *entry = &model[key];
    if (!key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else if (wrong_type(key, MODEL_LIST)) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else if (value->length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else if (entry->count + 1 > MODEL_LIST_MAX) {
        want_error(REPLY_ERROR_LIST_FULL);
    } else {
        entry->type = MODEL_LIST;
        if (head) {
            memmove(&entry->list[1], &entry->list[0], entry->count * sizeof(entry->list[0]));
            entry->list[0] = *value;
        } else {
            entry->list[entry->count] = *value;
        }
        entry->count++;
        want_number(':', entry->count);
    }
}

static void model_pop(uint32_t key, bool head)
{
    struct model_key *entry = &model[key];
    if (entry->type == MODEL_NONE) {
        want_text("$-1\r\n");
    } else if (entry->type != MODEL_LIST) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else {
        uint32_t at = head ? 0 : entry->count - 1;
        want_bulk(&entry->list[at]);
        memmove(&entry->list[at], &entry->list[at + 1],
                (entry->count - at - 1) * sizeof(entry->list[0]));
        entry->count--;
        entry->type = entry->count == 0 ? MODEL_NONE : MODEL_LIST;
    }
}

/* kv checks a string's value before its key (string_write_check). */
static void model_set(uint32_t key, const struct model_value *value)
{
    if (value->length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else if (!key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else {
        model[key].type = MODEL_STRING;
        model[key].count = 0;
        model[key].string = *value;
        want_text("+OK\r\n");
    }
}

static void model_incr(uint32_t key)
{
    struct model_key *entry = &model[key];
    if (wrong_type(key, MODEL_STRING)) {
        want_error(REPLY_ERROR_WRONGTYPE);
        return;
    }
    int64_t value = 0;
    if (entry->type == MODEL_STRING &&
        !number_parse_int64(entry->string.bytes, entry->string.length, &value)) {
        want_error(REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (value == INT64_MAX) {
        want_text("-ERR increment or decrement would overflow\r\n");
        return;
    }
    char text[NUMBER_INT64_BYTES];
    uint32_t length = number_format_int64(value + 1, text);
    if (entry->type == MODEL_NONE && !key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else if (length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else {
        entry->type = MODEL_STRING;
        memcpy(entry->string.bytes, text, length);
        entry->string.length = length;
        want_number(':', value + 1);
    }
}

static void model_rename(uint32_t from, uint32_t to)
{
    if (model[from].type == MODEL_NONE) {
        want_text("-ERR no such key\r\n");
    } else if (from == to) {
        want_text("+OK\r\n");
    } else if (model[to].type == MODEL_NONE && !key_fits(to)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else {
        model[to] = model[from];
        memset(&model[from], 0, sizeof(model[from]));
        want_text("+OK\r\n");
    }
}

/* The value argument: its bytes, or (past what the model keeps) a stand-in of its length. */
static struct slice value_arg(const struct model_value *value)
{
    static const char stand_in[] = "0123456789ab";
    if (value->length > MODEL_VALUE_MAX) {
        return (struct slice){.bytes = (const uint8_t *)stand_in, .length = value->length};
    }
    return (struct slice){.bytes = value->bytes, .length = value->length};
}

static void model_get(uint32_t key)
{
    const struct model_key *entry = &model[key];
    if (entry->type == MODEL_NONE) {
        want_text("$-1\r\n");
    } else if (entry->type != MODEL_STRING) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else {
        want_bulk(&entry->string);
    }
}

static void model_type(uint32_t key)
{
    static const char *const replies[] = {
        [MODEL_NONE] = "+none\r\n", [MODEL_STRING] = "+string\r\n",
        [MODEL_LIST] = "+list\r\n", [MODEL_SET] = "+set\r\n"};
    want_text(replies[model[key].type]);
}

/* SET key value EXAT 1: a time in the past, so the key is written and goes at once. */
static void model_set_past(uint32_t key, const struct model_value *value)
{
    if (value->length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else if (!key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else {
        memset(&model[key], 0, sizeof(model[key]));
        want_text("+OK\r\n");
    }
}

/* SET key value KEEPTTL GET: a read of the old string first (WRONGTYPE for another type). */
static void model_set_get(uint32_t key, const struct model_value *value)
{
    struct model_key *entry = &model[key];
    if (wrong_type(key, MODEL_STRING)) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else if (value->length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else if (!key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else {
        entry->type == MODEL_STRING ? want_bulk(&entry->string) : want_text("$-1\r\n");
        entry->type = MODEL_STRING;
        entry->string = *value;
    }
}

static void model_append(uint32_t key, const struct model_value *value)
{
    struct model_key *entry = &model[key];
    uint32_t length = entry->type == MODEL_STRING ? entry->string.length : 0;
    if (wrong_type(key, MODEL_STRING)) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else if (length + value->length > MODEL_VALUE_MAX) {
        want_error(REPLY_ERROR_VALUE_TOO_LONG);
    } else if (entry->type == MODEL_NONE && !key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else {
        memcpy(entry->string.bytes + length, value->bytes, value->length);
        entry->string.length = length + value->length;
        entry->type = MODEL_STRING;
        want_number(':', entry->string.length);
    }
}

static void model_getdel(uint32_t key)
{
    struct model_key *entry = &model[key];
    if (entry->type == MODEL_NONE) {
        want_text("$-1\r\n");
    } else if (entry->type != MODEL_STRING) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else {
        want_bulk(&entry->string);
        memset(entry, 0, sizeof(*entry));
    }
}

/* The position of a set's member, or count when absent. */
static uint32_t model_member(const struct model_key *entry, const struct model_value *member)
{
    uint32_t at = 0;
    while (at < entry->count && !value_equal(&entry->list[at], member)) {
        at++;
    }
    return at;
}

static void model_sadd(uint32_t key, const struct model_value *member)
{
    struct model_key *entry = &model[key];
    if (!key_fits(key)) {
        want_error(REPLY_ERROR_KEY_TOO_LONG);
    } else if (wrong_type(key, MODEL_SET)) {
        want_error(REPLY_ERROR_WRONGTYPE);
    } else if (member->length > MODEL_MEMBER_MAX) {
        want_error(REPLY_ERROR_MEMBER_TOO_LONG);
    } else if (model_member(entry, member) < entry->count) {
        want_number(':', 0);
    } else if (entry->count + 1 > MODEL_LIST_MAX) {
        want_error(REPLY_ERROR_SET_FULL);
    } else {
        entry->type = MODEL_SET;
        entry->list[entry->count++] = *member;
        want_number(':', 1);
    }
}

static void model_srem(uint32_t key, const struct model_value *member)
{
    struct model_key *entry = &model[key];
    if (wrong_type(key, MODEL_SET)) {
        want_error(REPLY_ERROR_WRONGTYPE);
        return;
    }
    uint32_t at = model_member(entry, member);
    if (at >= entry->count) {
        want_number(':', 0);
        return;
    }
    entry->list[at] = entry->list[entry->count - 1];
    entry->count--;
    entry->type = entry->count == 0 ? MODEL_NONE : MODEL_SET;
    want_number(':', 1);
}

/* The commands past the first sixteen: more string writes, and sets. */
static uint32_t next_command_more(struct input *input, uint8_t op, uint32_t key,
                                  struct slice *args, const char **name,
                                  struct model_value *value)
{
    struct model_key *entry = &model[key];
    switch (op) {
    case 16:
    case 17:
        take_value(input, value, MODEL_MEMBER_MAX + 1u);
        args[2] = value_arg(value);
        *name = op == 16 ? "SADD" : "SREM";
        op == 16 ? model_sadd(key, value) : model_srem(key, value);
        return 3;
    case 18:
        *name = "SCARD";
        wrong_type(key, MODEL_SET) ? want_error(REPLY_ERROR_WRONGTYPE)
                                   : want_number(':', entry->count);
        return 2;
    case 19:
        take_value(input, value, MODEL_VALUE_MAX + 1u);
        args[2] = value_arg(value);
        *name = "APPEND";
        model_append(key, value);
        return 3;
    case 20:
        *name = "GETDEL";
        model_getdel(key);
        return 2;
    case 21:
    case 22:
        take_value(input, value, MODEL_VALUE_MAX + 1u);
        args[2] = value_arg(value);
        args[3] = (struct slice){.bytes = (const uint8_t *)(op == 21 ? "EX" : "EXAT"),
                                 .length = op == 21 ? 2u : 4u};
        args[4] = (struct slice){.bytes = (const uint8_t *)(op == 21 ? "1000" : "1"),
                                 .length = op == 21 ? 4u : 1u};
        *name = "SET";
        op == 21 ? model_set(key, value) : model_set_past(key, value);
        return 5;
    default:
        take_value(input, value, MODEL_VALUE_MAX + 1u);
        args[2] = value_arg(value);
        args[3] = (struct slice){.bytes = (const uint8_t *)"KEEPTTL", .length = 7};
        args[4] = (struct slice){.bytes = (const uint8_t *)"GET", .length = 3};
        *name = "SET";
        model_set_get(key, value);
        return 5;
    }
}

/* The list commands of next_command (LPUSH, RPUSH, LPOP, RPOP, LLEN, LINDEX, LRANGE). */
static void next_command_list(struct input *input, uint8_t op, uint32_t key, struct slice *args,
                              char storage[][24], struct model_value *value)
{
    struct model_key *entry = &model[key];
    switch (op) {
    case 6:
    case 7:
        take_value(input, value, MODEL_VALUE_MAX + 1u);
        args[2] = value_arg(value);
        snprintf(storage[0], 24, "%s", op == 6 ? "LPUSH" : "RPUSH");
        model_push(key, value, op == 6);
        return;
    case 8:
    case 9:
        snprintf(storage[0], 24, "%s", op == 8 ? "LPOP" : "RPOP");
        model_pop(key, op == 8);
        return;
    case 10:
        snprintf(storage[0], 24, "LLEN");
        wrong_type(key, MODEL_LIST) ? want_error(REPLY_ERROR_WRONGTYPE)
                                    : want_number(':', entry->count);
        return;
    case 11: {
        int index = (int)(take_byte(input) % 13u) - 6;
        snprintf(storage[0], 24, "LINDEX");
        snprintf(storage[1], 24, "%d", index);
        args[2] = (struct slice){.bytes = (const uint8_t *)storage[1],
                                 .length = (uint32_t)strlen(storage[1])};
        int position = index < 0 ? index + (int)entry->count : index;
        if (wrong_type(key, MODEL_LIST)) {
            want_error(REPLY_ERROR_WRONGTYPE);
        } else if (position < 0 || position >= (int)entry->count) {
            want_text("$-1\r\n");
        } else {
            want_bulk(&entry->list[position]);
        }
        return;
    }
    case 12:
        snprintf(storage[0], 24, "LRANGE");
        args[2] = (struct slice){.bytes = (const uint8_t *)"0", .length = 1};
        args[3] = (struct slice){.bytes = (const uint8_t *)"-1", .length = 2};
        if (wrong_type(key, MODEL_LIST)) {
            want_error(REPLY_ERROR_WRONGTYPE);
        } else {
            want_number('*', entry->count);
            for (uint32_t index = 0; index < entry->count; index++) {
                want_bulk(&entry->list[index]);
            }
        }
        return;
    default:
        abort();
    }
}

/* One command from the input into args (texts kept in `storage`) and the model's reply. */
static uint32_t next_command(struct input *input, struct slice *args, char storage[][24],
                             struct model_value *value)
{
    uint8_t op = take_byte(input) % MODEL_OPS;
    uint32_t key = take_byte(input) % MODEL_KEYS;
    struct model_key *entry = &model[key];
    args[1] = (struct slice){.bytes = (const uint8_t *)key_names[key],
                             .length = (uint32_t)strlen(key_names[key])};
    want_length = 0;
    if (op >= 16) {
        const char *name = NULL;
        uint32_t arg_count = next_command_more(input, op, key, args, &name, value);
        args[0] = (struct slice){.bytes = (const uint8_t *)name, .length = (uint32_t)strlen(name)};
        return arg_count;
    }
    switch (op) {
    case 0:
    case 1:
        take_value(input, value, MODEL_VALUE_MAX + 2u);
        args[2] = value_arg(value);
        snprintf(storage[0], 24, "%s", op == 0 ? "SET" : "set");
        model_set(key, value);
        break;
    case 2:
        snprintf(storage[0], 24, "GET");
        model_get(key);
        break;
    case 3:
        snprintf(storage[0], 24, "DEL");
        want_number(':', entry->type != MODEL_NONE);
        memset(entry, 0, sizeof(*entry));
        break;
    case 4:
        snprintf(storage[0], 24, "EXISTS");
        want_number(':', entry->type != MODEL_NONE);
        break;
    case 5:
        snprintf(storage[0], 24, "TYPE");
        model_type(key);
        break;
    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
    case 12:
        next_command_list(input, op, key, args, storage, value);
        break;
    case 13:
        snprintf(storage[0], 24, "INCR");
        model_incr(key);
        break;
    case 14: {
        uint32_t to = take_byte(input) % MODEL_KEYS;
        snprintf(storage[0], 24, "RENAME");
        args[2] = (struct slice){.bytes = (const uint8_t *)key_names[to],
                                 .length = (uint32_t)strlen(key_names[to])};
        model_rename(key, to);
        break;
    }
    default:
        snprintf(storage[0], 24, "STRLEN");
        wrong_type(key, MODEL_STRING) ? want_error(REPLY_ERROR_WRONGTYPE)
                                      : want_number(':', entry->type == MODEL_STRING
                                                             ? entry->string.length : 0);
        break;
    }
    args[0] = (struct slice){.bytes = (const uint8_t *)storage[0],
                             .length = (uint32_t)strlen(storage[0])};
    static const uint8_t arg_counts[16] = {3, 3, 2, 2, 2, 2, 3, 3, 2, 2, 2, 3, 4, 2, 3, 2};
    return arg_counts[op];
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char error[256];
    config_defaults(&config);
    config.connections_max = 1;
    config.key_count = 8;
    config.key_size_max = 4;
    config.val_size_max = MODEL_VALUE_MAX;
    config.list_length_max = MODEL_LIST_MAX;
    config.watch_keys_max = 4;
    config.maxmemory = 16ull << 20;
    config.slowlog_log_slower_than = -1;
    if (plan_compute(&plan, &config, error, sizeof(error)) != 0) {
        fprintf(stderr, "fuzz_commands: %s\n", error);
        abort();
    }
    layout_compute(&layout, &config, &plan);
    if (region_map(&region, layout.total_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "fuzz_commands: %s\n", error);
        abort();
    }
    reply_errors_init(&config, plan.recv_limit);
    heap_init(&heap, &region, config.maxmemory);
    store_init(&store, &heap, &config, 42);
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    watch_init(&watch, &heap, config.watch_keys_max, 43);
    cmd_init(&region, PLAN_SLOWLOG_MAX_LEN);
    cmd_slowlog_threshold_set(-1);
    send_bytes = region_carve(&region, FUZZ_REPLY_BYTES, 64);
    client.authenticated = true;
    client.id = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_flush(&store);
    memset(model, 0, sizeof(model));
    struct input input = {.bytes = data, .left = size};
    struct cmd_context context = {.store = &store, .config = &config, .plan = &plan,
                                  .region = &region, .stats = &stats, .watch = &watch,
                                  .client = &client};
    /* Each command takes at least one input byte: bounded by the input's size. */
    while (input.left > 0) {
        struct slice args[5];
        char storage[2][24];
        struct model_value value = {0};
        uint32_t arg_count = next_command(&input, args, storage, &value);
        context.reply = reply_fixed(send_bytes, FUZZ_REPLY_BYTES);
        uint32_t position = cmd_find(args, arg_count);
        if (cmd_admit(&context, position, args, arg_count)) {
            cmd_run(&context, position, args, arg_count);
        }
        if (store_verify(&store) != heap.allocations) {
            fprintf(stderr, "the store accounts for %llu heap allocations, the heap has %llu\n",
                    (unsigned long long)store_verify(&store),
                    (unsigned long long)heap.allocations);
            abort();
        }
        if (context.reply.length != want_length ||
            memcmp(context.reply.bytes, want, want_length) != 0) {
            fprintf(stderr, "%.*s: kv answered %u bytes \"%.*s\", the model %u bytes \"%.*s\"\n",
                    (int)args[0].length, (const char *)args[0].bytes, context.reply.length,
                    (int)context.reply.length, (const char *)context.reply.bytes, want_length,
                    (int)want_length, (const char *)want);
            abort();
        }
    }
    return 0;
}
