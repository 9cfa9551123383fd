/*
 * Key commands: the keyspace as a whole, whatever the value types. DEL, UNLINK, EXISTS,
 * TOUCH, TYPE, RENAME, RENAMENX, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SELECT.
 *
 * SCAN's cursor is a table slot. A batch visits slots until COUNT keys were seen (or ten
 * times COUNT slots), then goes on to the next empty slot before it stops: keys move only
 * towards their home slot and never across an empty one (store.h), so a key present for the
 * whole scan cannot slip behind the cursor. KEYS and SCAN answer in the send buffer: a reply
 * that would not fit gets kv's error (KEYS) or a shorter batch (SCAN). Each key is found
 * once (store_find_typed) and its record handed to the write: DEL and RENAME probe each key
 * once. Type names come from the store's registered types.
 */
#include "cmd_handlers.h"

#include <string.h>

#include "glob.h"
#include "number.h"

CMD_HANDLER(cmd_del)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t keys_before = store_key_count(context->store);
    int64_t deleted = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        deleted += store_delete(context->store, args[index]) ? 1 : 0;
    }
    /* Lazy expiry may remove more keys than were deleted, never fewer. */
    KV_ASSERT(keys_before - store_key_count(context->store) >= deleted);
    reply_integer(&context->reply, deleted);
}

/* EXISTS and TOUCH: how many of the arguments name live keys (repeats count again). */
CMD_HANDLER(cmd_exists)
{
    KV_ASSERT(arg_count >= 2);
    int64_t found = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t key_index = 0;
        if (store_find(context->store, args[index], &key_index)) {
            context->stats->keyspace_hits++;
            found++;
        } else {
            context->stats->keyspace_misses++;
        }
    }
    KV_ASSERT(found < arg_count);
    reply_integer(&context->reply, found);
}

CMD_HANDLER(cmd_touch)
{
    KV_ASSERT(arg_count >= 2);
    int64_t found = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t key_index = 0;
        found += store_find(context->store, args[index], &key_index) ? 1 : 0;
    }
    KV_ASSERT(found < arg_count);
    reply_integer(&context->reply, found);
}

CMD_HANDLER(cmd_type)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    if (store_find_typed(context->store, args[1], STORE_TYPE_ANY, &found) == STORE_NOT_FOUND) {
        reply_simple(&context->reply, "none");
        return;
    }
    KV_ASSERT(found.type != STORE_TYPE_ANY);
    reply_simple(&context->reply, store_type_name(context->store, found.type));
}

/* RENAME and RENAMENX, in Redis's order: a missing source errs, the same name is a no-op,
 * an existing destination is replaced (RENAME) or left (RENAMENX). */
static void rename_generic(struct cmd_context *context, const struct slice *args, bool nx)
{
    struct store *store = context->store;
    struct store_found source;
    if (store_find_typed(store, args[1], STORE_TYPE_ANY, &source) == STORE_NOT_FOUND) {
        reply_error(&context->reply, REPLY_ERROR_NO_SUCH_KEY);
        return;
    }
    if (slice_equal(args[1], args[2])) {
        nx ? reply_integer(&context->reply, 0) : reply_ok(&context->reply);
        return;
    }
    struct store_found target;
    store_find_typed(store, args[2], STORE_TYPE_ANY, &target);
    if (target.exists && nx) {
        reply_integer(&context->reply, 0);
        return;
    }
    if (args[2].length > store->key_size_max) {
        reply_error(&context->reply, REPLY_ERROR_KEY_TOO_LONG);
        return;
    }
    KV_ASSERT(!target.exists || target.key_index != source.key_index);
    /* An existing target goes, its table entry reused: the name count drops by one. */
    uint32_t keys_after = store_key_count(store) - (target.exists ? 1 : 0);
    store_rename(store, &source, args[2], &target);
    KV_ASSERT(store_key_count(store) == keys_after);
    nx ? reply_integer(&context->reply, 1) : reply_ok(&context->reply);
}

CMD_HANDLER(cmd_rename)
{
    KV_ASSERT(arg_count == 3);
    rename_generic(context, args, false);
}

CMD_HANDLER(cmd_renamenx)
{
    KV_ASSERT(arg_count == 3);
    rename_generic(context, args, true);
}

/* Bytes of "$<length>\r\n<bytes>\r\n". */
static uint32_t bulk_bytes(uint32_t length)
{
    char digits[NUMBER_INT64_BYTES];
    uint32_t bytes = 1 + number_format_int64(length, digits) + 2 + length + 2;
    KV_ASSERT(bytes > length);
    return bytes;
}

static uint32_t reply_room(const struct cmd_context *context)
{
    KV_ASSERT(context->reply.length <= context->reply.capacity);
    return context->reply.capacity - context->reply.length;
}

/* Room kept for the array header ("*<n>\r\n") and SCAN's cursor element. */
#define KEYS_HEADER_BYTES 64u

/* The live key at a table slot, if its name matches KEYS's pattern. */
static bool keys_selects(const struct store *store, struct slice pattern, uint32_t slot,
                         uint32_t *key_index)
{
    KV_ASSERT(slot < store_slot_count(store));
    return store_key_at(store, slot, key_index) &&
           (glob_is_all(pattern) || glob_match(pattern, store_key_name(store, *key_index), false));
}

CMD_HANDLER(cmd_keys)
{
    KV_ASSERT(arg_count == 2);
    const struct store *store = context->store;
    uint32_t slots = store_slot_count(store);
    uint32_t count = 0;
    uint64_t bytes = KEYS_HEADER_BYTES;
    /* Two walks of the table, each bounded by its capacity: measure, then answer. */
    for (uint32_t slot = 0; slot < slots; slot++) {
        uint32_t key_index = 0;
        if (keys_selects(store, args[1], slot, &key_index)) {
            count++;
            bytes += bulk_bytes(store_key_name(store, key_index).length);
        }
    }
    KV_ASSERT(count <= store_key_count(store));
    if (bytes > reply_room(context)) {
        reply_error_format(&context->reply, REPLY_ERROR_KEYS_TOO_LARGE, count,
                           context->reply.capacity);
        return;
    }
    reply_array(&context->reply, count);
    for (uint32_t slot = 0; slot < slots; slot++) {
        uint32_t key_index = 0;
        if (keys_selects(store, args[1], slot, &key_index)) {
            reply_bulk(&context->reply, store_key_name(store, key_index));
        }
    }
    KV_ASSERT(context->reply.length <= context->reply.capacity);
}

struct scan_options {
    uint64_t cursor;
    int64_t count;
    bool match;
    struct slice pattern;
    bool typed;
    struct slice type;
};

/* SCAN cursor [MATCH pattern] [COUNT count] [TYPE type], with Redis 7.0's errors. */
static bool scan_options_parse(struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count, struct scan_options *options)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t cursor = 0;
    if (!cmd_scan_cursor(args[1], &cursor)) {
        reply_error(&context->reply, REPLY_ERROR_INVALID_CURSOR);
        return false;
    }
    *options = (struct scan_options){.cursor = cursor, .count = 10};
    for (uint32_t index = 2; index < arg_count; index += 2) {
        if (index + 1 >= arg_count) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
        struct slice value = args[index + 1];
        if (cmd_arg_is(args[index], "count")) {
            if (!number_parse_int64(value.bytes, value.length, &options->count)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            if (options->count < 1) {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return false;
            }
        } else if (cmd_arg_is(args[index], "match")) {
            options->match = true;
            options->pattern = value;
        } else if (cmd_arg_is(args[index], "type")) {
            options->typed = true;
            options->type = value;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    KV_ASSERT(options->count >= 1);
    return true;
}

static bool scan_selects(const struct cmd_context *context, const struct scan_options *options,
                         uint32_t key_index)
{
    const struct store *store = context->store;
    KV_ASSERT(pool_is_used(&store->keys, key_index));
    if (options->match && !glob_is_all(options->pattern) &&
        !glob_match(options->pattern, store_key_name(store, key_index), false)) {
        return false;
    }
    if (options->typed) {
        const char *name = store_type_name(store, store_key(store, key_index)->type);
        struct slice type = options->type;
        return type.length == strlen(name) && cmd_arg_is(type, name);
    }
    return true;
}

CMD_HANDLER(cmd_scan)
{
    KV_ASSERT(arg_count >= 2);
    struct scan_options options;
    if (!scan_options_parse(context, args, arg_count, &options)) {
        return;
    }
    const struct store *store = context->store;
    uint32_t slots = store_slot_count(store);
    uint64_t visit_max = (uint64_t)options.count * 10;
    uint64_t seen = 0;
    uint32_t selected = 0;
    uint64_t bytes = KEYS_HEADER_BYTES;
    uint32_t room = reply_room(context);
    uint32_t start = options.cursor < slots ? (uint32_t)options.cursor : slots;
    uint32_t end = start;
    /* Bounded by the table's capacity. Past the quota, stop at the first empty slot. */
    for (; end < slots; end++) {
        bool quota_met = seen >= (uint64_t)options.count || end - start >= visit_max;
        if (quota_met && store_slot_empty(store, end)) {
            break;
        }
        uint32_t key_index = 0;
        if (!store_key_at(store, end, &key_index)) {
            continue;
        }
        seen++;
        if (scan_selects(context, &options, key_index)) {
            uint32_t key_bytes = bulk_bytes(store_key_name(store, key_index).length);
            if (bytes + key_bytes > room) {
                break; /* The send buffer is full: the rest comes in the next batch. */
            }
            bytes += key_bytes;
            selected++;
        }
    }
    KV_ASSERT(end <= slots);
    KV_ASSERT(selected <= seen);
    char cursor_text[NUMBER_INT64_BYTES];
    int64_t next = end >= slots ? 0 : end;
    uint32_t cursor_length = number_format_int64(next, cursor_text);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply,
               (struct slice){.bytes = (const uint8_t *)cursor_text, .length = cursor_length});
    reply_array(&context->reply, selected);
    for (uint32_t slot = start; slot < end; slot++) {
        uint32_t key_index = 0;
        if (store_key_at(store, slot, &key_index) && scan_selects(context, &options, key_index)) {
            reply_bulk(&context->reply, store_key_name(store, key_index));
        }
    }
}

/* A xorshift64* generator for RANDOMKEY, seeded from the store's hash seed. */
static uint64_t random_next(const struct store *store)
{
    static uint64_t state;
    if (state == 0) {
        state = store->seed | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    KV_ASSERT(state != 0); /* xorshift never reaches 0 from a non-zero state */
    return state * 0x2545F4914F6CDD1Dull;
}

CMD_HANDLER(cmd_randomkey)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    const struct store *store = context->store;
    uint32_t slots = store_slot_count(store);
    KV_ASSERT(slots > 0);
    uint32_t start = (uint32_t)(random_next(store) % slots);
    /* Bounded by the table's capacity: the first live key from a random slot on. */
    for (uint32_t step = 0; step < slots; step++) {
        uint32_t key_index = 0;
        if (store_key_at(store, (start + step) % slots, &key_index)) {
            reply_bulk(&context->reply, store_key_name(store, key_index));
            return;
        }
    }
    reply_null(&context->reply);
}

CMD_HANDLER(cmd_dbsize)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    KV_ASSERT(store_key_count(context->store) <= context->store->table.count_max);
    reply_integer(&context->reply, store_key_count(context->store));
}

/* FLUSHDB and FLUSHALL [ASYNC|SYNC]: kv has one database, and a flush is synchronous. */
CMD_HANDLER(cmd_flush)
{
    KV_ASSERT(arg_count >= 1);
    if (arg_count > 2 ||
        (arg_count == 2 && !cmd_arg_is(args[1], "async") && !cmd_arg_is(args[1], "sync"))) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    store_flush(context->store);
    KV_ASSERT(store_key_count(context->store) == 0);
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_select)
{
    KV_ASSERT(arg_count == 2);
    int64_t index = 0;
    if (!number_parse_int64(args[1].bytes, args[1].length, &index)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (index < INT32_MIN || index > INT32_MAX) {
        reply_error(&context->reply, REPLY_ERROR_INT32_RANGE);
        return;
    }
    if (index != 0) {
        reply_error(&context->reply, REPLY_ERROR_DB_INDEX_RANGE);
        return;
    }
    reply_ok(&context->reply);
}

static const struct cmd keys_cmds[] = {
    {"del", -2, 1, -1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_del},
    {"unlink", -2, 1, -1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_del},
    {"exists", -2, 1, -1, 1, 0, cmd_reply_small, cmd_exists},
    {"touch", -2, 1, -1, 1, 0, cmd_reply_small, cmd_touch},
    {"type", 2, 1, 1, 1, 0, cmd_reply_small, cmd_type},
    {"rename", 3, 1, 2, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_rename},
    {"renamenx", 3, 1, 2, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_renamenx},
    {"keys", 2, 0, 0, 0, 0, cmd_reply_all, cmd_keys},
    {"scan", -2, 0, 0, 0, 0, cmd_reply_all, cmd_scan},
    {"randomkey", 1, 0, 0, 0, 0, cmd_reply_value, cmd_randomkey},
    {"dbsize", 1, 0, 0, 0, 0, cmd_reply_small, cmd_dbsize},
    {"flushdb", -1, 0, 0, 0, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_flush},
    {"flushall", -1, 0, 0, 0, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_flush},
    {"select", 2, 0, 0, 0, 0, cmd_reply_small, cmd_select},
};

CMD_FAMILY(cmd_family_keys, "generic", keys_cmds);
