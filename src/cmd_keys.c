/*
 * Key commands: the keyspace as a whole, whatever the value types. DEL, UNLINK, EXISTS,
 * TOUCH, TYPE, RENAME, RENAMENX, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, and the
 * databases: SELECT, MOVE, SWAPDB. Every command works in the database the command layer
 * selected for its client (store_select); SELECT changes the client's, MOVE and SWAPDB
 * reach another and come back.
 *
 * SCAN's cursor is Redis's: the keyspace dict's reverse-binary bucket cursor (store_scan),
 * so a key present for the whole scan is returned at least once, whatever is inserted or
 * deleted and however the dict resizes between batches. A batch takes buckets until COUNT
 * keys were seen or ten times COUNT buckets were looked at, as Redis does. It is measured in
 * one pass and written in a second over the same buckets (nothing changes in between), so
 * it needs no memory of its own. Each key is found
 * once (store_find_typed) and its record handed to the write: DEL and RENAME probe each key
 * once. Type names come from the store's registered types.
 */
#include "cmd_handlers.h"

#include "cluster.h"

#include <string.h>

#include "block.h"
#include "client.h"
#include "glob.h"
#include "notify.h"
#include "number.h"
#include "propagate.h"
#include "rdb.h"
#include "redis_param.h"
#include "snapshot.h"
#include "tracking.h"
#include "watch.h"

CMD_HANDLER(cmd_del)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t keys_before = store_key_count(context->store);
    int64_t deleted = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        if (store_delete(context->store, args[index])) {
            deleted++;
            notify_event(NOTIFY_GENERIC, "del", args[index]);
        }
    }
    /* Lazy expiry may remove more keys than were deleted, never fewer. */
    KV_ASSERT(keys_before - store_key_count(context->store) >= (uint64_t)deleted);
    reply_integer(&context->reply, deleted);
}

/* EXISTS and TOUCH: how many of the arguments name live keys (repeats count again). */
CMD_HANDLER(cmd_exists)
{
    KV_ASSERT(arg_count >= 2);
    int64_t found = 0;
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t key_ref = HEAP_REF_NONE;
        if (store_find(context->store, args[index], &key_ref)) {
            context->stats->keyspace_hits++;
            found++;
        } else {
            context->stats->keyspace_misses++;
            notify_event(NOTIFY_KEY_MISS, "keymiss", args[index]);
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
        uint32_t key_ref = HEAP_REF_NONE;
        if (store_find(context->store, args[index], &key_ref)) {
            found++;
        } else {
            notify_event(NOTIFY_KEY_MISS, "keymiss", args[index]);
        }
    }
    KV_ASSERT(found < arg_count);
    reply_integer(&context->reply, found);
}

CMD_HANDLER(cmd_type)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    if (store_find_typed(context->store, args[1], STORE_TYPE_ANY, &found) == STORE_NOT_FOUND) {
        notify_event(NOTIFY_KEY_MISS, "keymiss", args[1]);
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
    if (args[2].length > store->limits.key_bytes_max) {
        reply_error(&context->reply, REPLY_ERROR_KEY_TOO_LONG);
        return;
    }
    KV_ASSERT(!target.exists || target.key_ref != source.key_ref);
    /* An existing target goes: the name count drops by one. */
    uint64_t keys_after = store_key_count(store) - (target.exists ? 1 : 0);
    if (store_rename(store, &source, args[2], &target) != STORE_OK) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    KV_ASSERT(store_key_count(store) == keys_after);
    notify_event(NOTIFY_GENERIC, "rename_from", args[1]);
    notify_event(NOTIFY_GENERIC, "rename_to", args[2]);
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

/* Room kept for SCAN's array header and cursor element. */
#define KEYS_HEADER_BYTES 64u

/* Whether a key object a walk met is live and its name matches KEYS's pattern. */
static bool keys_selects(const struct store *store, struct slice pattern, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    return store_key_live(store, key) &&
           (glob_is_all(pattern) || glob_match(pattern, store_key_name(key), false));
}

CMD_HANDLER(cmd_keys)
{
    KV_ASSERT(arg_count == 2);
    const struct store *store = context->store;
    uint32_t count = 0;
    struct dict_walk walk;
    uint32_t key_ref = HEAP_REF_NONE;
    /* Two walks of the keyspace, each bounded by its key count: count, then answer (the
     * array's header comes first). */
    store_walk_start(store, &walk);
    while (store_walk_next(store, &walk, &key_ref)) {
        count += keys_selects(store, args[1], key_ref) ? 1 : 0;
    }
    KV_ASSERT(count <= store_key_count(store));
    reply_array(&context->reply, count);
    uint32_t written = 0;
    store_walk_start(store, &walk);
    while (store_walk_next(store, &walk, &key_ref)) {
        if (keys_selects(store, args[1], key_ref)) {
            reply_bulk(&context->reply, store_key_name(store_key(store, key_ref)));
            written++;
        }
    }
    KV_ASSERT(written == count);
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
                         uint32_t key_ref)
{
    const struct store *store = context->store;
    const struct store_key *key = store_key(store, key_ref);
    if (!store_key_live(store, key)) {
        return false;
    }
    if (options->match && !glob_is_all(options->pattern) &&
        !glob_match(options->pattern, store_key_name(key), false)) {
        return false;
    }
    if (options->typed) {
        const char *name = store_type_name(store, store_key_type(key));
        struct slice type = options->type;
        return type.length == strlen(name) && cmd_arg_is(type, name);
    }
    return true;
}

/* One SCAN batch, measured (reply == NULL) or written: the keys of the buckets it takes. */
struct scan_batch {
    const struct cmd_context *context;
    const struct scan_options *options;
    struct reply *reply;      /* NULL while measuring */
    uint64_t seen;            /* keys met */
    uint32_t selected;        /* keys the options select */
    uint64_t bytes;           /* their replies' bytes */
};

static void scan_visit(void *batch_pointer, uint32_t key_ref)
{
    struct scan_batch *batch = batch_pointer;
    batch->seen++;
    if (!scan_selects(batch->context, batch->options, key_ref)) {
        return;
    }
    struct slice name = store_key_name(store_key(batch->context->store, key_ref));
    batch->selected++;
    batch->bytes += bulk_bytes(name.length);
    if (batch->reply != NULL) {
        reply_bulk(batch->reply, name);
    }
}

CMD_HANDLER(cmd_scan)
{
    KV_ASSERT(arg_count >= 2);
    struct scan_options options;
    if (!scan_options_parse(context, args, arg_count, &options)) {
        return;
    }
    const struct store *store = context->store;
    uint64_t steps_max = (uint64_t)options.count * 10;
    struct scan_batch batch = {.context = context, .options = &options, .bytes = KEYS_HEADER_BYTES};
    uint64_t cursor = options.cursor;
    uint64_t steps = 0;
    /* Pass 1: take buckets until COUNT keys were seen or steps_max buckets (Redis's bound). */
    do {
        cursor = store_scan(store, cursor, scan_visit, &batch);
        steps++;
    } while (cursor != 0 && steps < steps_max && batch.seen < (uint64_t)options.count);
    KV_ASSERT(batch.selected <= batch.seen);
    char cursor_text[NUMBER_INT64_BYTES];
    uint32_t cursor_length = number_format_uint64(cursor, cursor_text);
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply,
               (struct slice){.bytes = (const uint8_t *)cursor_text, .length = cursor_length});
    reply_array(&context->reply, batch.selected);
    /* Pass 2: the same buckets again, writing. */
    struct scan_batch write = {.context = context, .options = &options, .reply = &context->reply};
    uint64_t again = options.cursor;
    for (uint64_t step = 0; step < steps; step++) {
        again = store_scan(store, again, scan_visit, &write);
    }
    KV_ASSERT(again == cursor && write.selected == batch.selected);
}

CMD_HANDLER(cmd_randomkey)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_random_key(context->store, &key_ref)) {
        reply_null(&context->reply);
        return;
    }
    reply_bulk(&context->reply, store_key_name(store_key(context->store, key_ref)));
}

CMD_HANDLER(cmd_dbsize)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    KV_ASSERT(store_key_count(context->store) <= context->store->limits.key_count_max);
    reply_integer(&context->reply, (int64_t)store_key_count(context->store));
}

/* FLUSHALL's part in persistence, as Redis's flushAllDataAndResetRDB: a BGSAVE stops (Redis
 * kills its child: its file would be the dataset flushed), and with save points set the
 * empty dataset is saved at once (LASTSAVE moves, the change count restarts; a failure is
 * only logged, and it does not count in rdb_saves). An AOF rewrite goes on. */
static void flushall_persist(struct store *store, bool before)
{
    if (before) {
        if (snapshot_running() && !propagate_rewrite_running()) {
            snapshot_abort();
        }
        return;
    }
    int32_t points = redis_param_find("save", 4);
    KV_ASSERT(points >= 0);
    if (redis_param_value((uint32_t)points)[0] != '\0') {
        int status = rdb_save(store, store->now_ms);
        KV_ASSERT(status <= 0); /* a failure is logged by the save, and ignored as Redis does */
    }
}

/* FLUSHDB and FLUSHALL [ASYNC|SYNC]: the selected database or every one; a flush is
 * synchronous. Watchers of every key that goes are told (Redis's touchAllWatchedKeysInDb). */
CMD_HANDLER(cmd_flush)
{
    KV_ASSERT(arg_count >= 1);
    if (arg_count > 2 ||
        (arg_count == 2 && !cmd_arg_is(args[1], "async") && !cmd_arg_is(args[1], "sync"))) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    bool all = cmd_arg_is(args[0], "flushall");
    /* Tracking clients get one null each, not an invalidation per key. */
    if (context->tracking != NULL) {
        tracking_flush_begin(context->tracking);
    }
    if (all) {
        flushall_persist(context->store, true);
    }
    snapshot_settle(); /* a running snapshot writes what it has not yet */
    if (all) {
        store_flush_all(context->store);
    } else {
        store_flush(context->store);
    }
    if (context->tracking != NULL) {
        tracking_flush_end(context->tracking);
    }
    KV_ASSERT(store_key_count(context->store) == 0);
    if (all) {
        flushall_persist(context->store, false);
    }
    reply_ok(&context->reply);
}

/* A database index argument as Redis's getIntFromObjectOrReply reads it: false (answered)
 * when it is no integer or beyond an int; `error` (when not NONE) answers both. */
static bool db_index_parse(struct cmd_context *context, struct slice arg, enum reply_error error,
                           int64_t *index)
{
    KV_ASSERT(arg.bytes != NULL || arg.length == 0);
    if (!number_parse_int64(arg.bytes, arg.length, index)) {
        reply_error(&context->reply, error != REPLY_ERROR_NONE ? error : REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (*index < INT32_MIN || *index > INT32_MAX) {
        reply_error(&context->reply, error != REPLY_ERROR_NONE ? error : REPLY_ERROR_INT32_RANGE);
        return false;
    }
    return true;
}

static bool db_index_valid(const struct store *store, int64_t index)
{
    return index >= 0 && index < (int64_t)store->db_count;
}

CMD_HANDLER(cmd_select)
{
    KV_ASSERT(arg_count == 2);
    int64_t index = 0;
    if (!db_index_parse(context, args[1], REPLY_ERROR_NONE, &index)) {
        return;
    }
    if (cluster_enabled() && index != 0) {
        reply_error(&context->reply, REPLY_ERROR_SELECT_CLUSTER); /* Redis: only database 0 */
        return;
    }
    if (!db_index_valid(context->store, index)) {
        reply_error(&context->reply, REPLY_ERROR_DB_INDEX_RANGE);
        return;
    }
    context->client->db_index = (uint32_t)index;
    store_select(context->store, (uint32_t)index);
    KV_ASSERT(context->store->db_index == context->client->db_index);
    reply_ok(&context->reply);
}

/* MOVE key db: as Redis's moveCommand, 0 when the key is missing here or present there. */
CMD_HANDLER(cmd_move)
{
    KV_ASSERT(arg_count == 3);
    if (cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_MOVE_CLUSTER);
        return;
    }
    struct store *store = context->store;
    int64_t index = 0;
    if (!db_index_parse(context, args[2], REPLY_ERROR_NONE, &index)) {
        return;
    }
    if (!db_index_valid(store, index)) {
        reply_error(&context->reply, REPLY_ERROR_DB_INDEX_RANGE);
        return;
    }
    uint32_t source_index = store->db_index;
    uint32_t target_index = (uint32_t)index;
    if (target_index == source_index) {
        reply_error(&context->reply, REPLY_ERROR_COPY_SAME);
        return;
    }
    struct store_found found;
    (void)store_find_typed(store, args[1], STORE_TYPE_ANY, &found);
    if (!found.exists) {
        reply_integer(&context->reply, 0);
        return;
    }
    /* A key there, once its time is judged (lazy expiry in the target, as Redis's lookup). */
    store_select(store, target_index);
    store_expire_due(store, args[1]);
    bool taken = store_db_contains(store, target_index, args[1]);
    store_select(store, source_index);
    if (taken) {
        reply_integer(&context->reply, 0);
        return;
    }
    store_move(store, &found, target_index);
    notify_event(NOTIFY_GENERIC, "move_from", args[1]);
    store_select(store, target_index);
    notify_event(NOTIFY_GENERIC, "move_to", args[1]);
    store_select(store, source_index);
    KV_ASSERT(store->db_index == source_index);
    reply_integer(&context->reply, 1);
}

/* SWAPDB's test for a watched key of one of the two databases (Redis's
 * touchAllWatchedKeysInDb(emptied, replaced_with)): it is in the emptied one, or live in the
 * one that replaces it (a key replaced by an expired one is no change). */
struct swap_pair {
    const struct store *store;
    uint32_t emptied_index;
    uint32_t replaced_index;
};

static bool swap_touches(void *context, struct slice key)
{
    const struct swap_pair *pair = context;
    const struct store *store = pair->store;
    if (store_db_contains(store, pair->emptied_index, key)) {
        return true;
    }
    uint32_t ref = dict_lookup(&store->dbs[pair->replaced_index].keys, key);
    return ref != HEAP_REF_NONE && store_key_live(store, store_key(store, ref));
}

/* SWAPDB index1 index2: the two databases exchange their keys in O(1); clients stay where
 * they are, so watchers of keys in either are told, and clients blocked on keys are tried
 * again (a key that now holds members serves them), as Redis's dbSwapDatabases. */
CMD_HANDLER(cmd_swapdb)
{
    KV_ASSERT(arg_count == 3);
    if (cluster_enabled()) {
        reply_error(&context->reply, REPLY_ERROR_SWAPDB_CLUSTER);
        return;
    }
    struct store *store = context->store;
    int64_t first = 0;
    int64_t second = 0;
    if (!db_index_parse(context, args[1], REPLY_ERROR_SWAPDB_FIRST, &first) ||
        !db_index_parse(context, args[2], REPLY_ERROR_SWAPDB_SECOND, &second)) {
        return;
    }
    if (!db_index_valid(store, first) || !db_index_valid(store, second)) {
        reply_error(&context->reply, REPLY_ERROR_DB_INDEX_RANGE);
        return;
    }
    if (first != second) {
        uint32_t a_index = (uint32_t)first;
        uint32_t b_index = (uint32_t)second;
        if (context->watch != NULL) {
            struct swap_pair a_pair = {store, a_index, b_index};
            struct swap_pair b_pair = {store, b_index, a_index};
            watch_touch_db(context->watch, a_index, swap_touches, &a_pair);
            watch_touch_db(context->watch, b_index, swap_touches, &b_pair);
        }
        snapshot_settle(); /* a running BGSAVE writes what it has not yet */
        store_swap(store, a_index, b_index);
        if (context->block != NULL) {
            block_ready_all(context->block);
        }
    }
    reply_ok(&context->reply);
}

static const struct cmd keys_cmds[] = {
    {"del", -2, 1, -1, 1, CMD_FLAG_WRITE, cmd_del},
    {"unlink", -2, 1, -1, 1, CMD_FLAG_WRITE, cmd_del},
    {"exists", -2, 1, -1, 1, 0, cmd_exists},
    {"touch", -2, 1, -1, 1, 0, cmd_touch},
    {"type", 2, 1, 1, 1, 0, cmd_type},
    {"rename", 3, 1, 2, 1, CMD_FLAG_WRITE, cmd_rename},
    {"renamenx", 3, 1, 2, 1, CMD_FLAG_WRITE, cmd_renamenx},
    {"keys", 2, 0, 0, 0, 0, cmd_keys},
    {"scan", -2, 0, 0, 0, 0, cmd_scan},
    {"randomkey", 1, 0, 0, 0, 0, cmd_randomkey},
    {"dbsize", 1, 0, 0, 0, 0, cmd_dbsize},
    {"flushdb", -1, 0, 0, 0, CMD_FLAG_WRITE, cmd_flush},
    {"flushall", -1, 0, 0, 0, CMD_FLAG_WRITE, cmd_flush},
    {"select", 2, 0, 0, 0, 0, cmd_select},
    {"move", 3, 1, 1, 1, CMD_FLAG_WRITE, cmd_move},
    {"swapdb", 3, 0, 0, 0, CMD_FLAG_WRITE, cmd_swapdb},
};

CMD_FAMILY(cmd_family_keys, "generic", keys_cmds);
