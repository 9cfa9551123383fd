/*
 * DUMP and RESTORE in Redis 7.0's serialization (include/rdb.h), so migration tools move
 * keys between kv and redis-server both ways.
 *
 * DUMP serializes twice through a small stack buffer: once to count the payload's bytes,
 * once into a heap allocation of exactly that size, answered as one bulk string and released
 * (a value's compact encodings and LZF take their own short-lived heap scratch; without room
 * the plain encodings are written, which Redis loads as well). RESTORE follows Redis's
 * restoreCommand step for step (options, BUSYKEY, TTL, payload footer, then the value); the
 * value is loaded into the key directly when it is absent, or under a private name and then
 * renamed over it with REPLACE, so a failure (a malformed payload, the heap full) leaves
 * the keyspace as it was.
 */
#include "cmd_handlers.h"

#include <string.h>

#include "lzf.h"
#include "notify.h"
#include "number.h"
#include "propagate.h"
#include "rdb.h"
#include "snapshot.h"

/* The stack buffer a DUMP serializes through. */
#define DUMP_BUFFER_BYTES 4096u

/* The name a REPLACE loads under before the rename: bytes no client protocol text needs. */
static const uint8_t dump_scratch_name[] = {0xff, 0x00, 'k', 'v', '-', 'r', 'e', 's', 't',
                                            'o', 'r', 'e', 0x00, 0xff};

/* Where the second pass writes: the payload's allocation. */
struct dump_target {
    uint8_t *bytes;
    uint64_t capacity_bytes;
    uint64_t used_bytes;
};

static bool dump_count(void *context, const uint8_t *bytes, uint32_t length)
{
    (void)context;
    (void)bytes;
    KV_ASSERT(length > 0);
    return true;
}

static bool dump_copy(void *context, const uint8_t *bytes, uint32_t length)
{
    struct dump_target *target = context;
    if (target->used_bytes + length > target->capacity_bytes) {
        return false; /* the second pass chose another encoding: answered as OOM */
    }
    memcpy(target->bytes + target->used_bytes, bytes, length);
    target->used_bytes += length;
    return true;
}

/* Serializes the key's value through `flush`; the payload's bytes, 0 when it failed. */
static uint64_t dump_pass(struct store *store, uint32_t key_ref, uint32_t *lzf_table,
                          rdb_flush_fn *flush, void *flush_context)
{
    uint8_t buffer[DUMP_BUFFER_BYTES];
    struct rdb_writer writer;
    rdb_writer_init(&writer, buffer, sizeof(buffer), flush, flush_context, store->heap,
                    lzf_table);
    bool written = rdb_write_dump(&writer, store, key_ref);
    KV_ASSERT(written);
    return rdb_writer_finish(&writer) ? writer.total_bytes : 0;
}

CMD_HANDLER(cmd_dump)
{
    KV_ASSERT(arg_count == 2);
    struct store *store = context->store;
    struct store_found found;
    if (!cmd_read_any(context, args[1], &found)) {
        reply_null(&context->reply);
        return;
    }
    if (!rdb_type_supported(found.type)) {
        reply_error(&context->reply, REPLY_ERROR_DUMP_UNSUPPORTED);
        return;
    }
    /* Redis compresses with rdbcompression on (its default); without room for LZF's table
     * the strings go raw, as a valid payload still. */
    uint32_t *lzf_table = heap_alloc(store->heap, LZF_TABLE_BYTES);
    uint64_t bytes = dump_pass(store, found.key_ref, lzf_table, dump_count, NULL);
    KV_ASSERT(bytes >= 10);
    struct dump_target target = {.capacity_bytes = bytes};
    target.bytes = heap_alloc(store->heap, bytes);
    if (target.bytes == NULL ||
        dump_pass(store, found.key_ref, lzf_table, dump_copy, &target) != bytes) {
        if (target.bytes != NULL) {
            heap_release(store->heap, target.bytes);
        }
        if (lzf_table != NULL) {
            heap_release(store->heap, lzf_table);
        }
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    if (lzf_table != NULL) {
        heap_release(store->heap, lzf_table);
    }
    reply_bulk(&context->reply, (struct slice){.bytes = target.bytes, .length = bytes});
    heap_release(store->heap, target.bytes);
}

/* RESTORE's options, as Redis parses them. */
struct restore_options {
    bool replace;
    bool absttl;
    int64_t idle_seconds;  /* -1: not given */
    int64_t freq;          /* -1: not given */
};

/* Parses the options from args[4]; false after answering an error. */
static bool restore_options(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count, struct restore_options *options)
{
    *options = (struct restore_options){.idle_seconds = -1, .freq = -1};
    /* Bounded by the arguments: each pass consumes one or two. */
    for (uint32_t index = 4; index < arg_count; index++) {
        bool more = index + 1 < arg_count;
        if (cmd_arg_is(args[index], "replace")) {
            options->replace = true;
        } else if (cmd_arg_is(args[index], "absttl")) {
            options->absttl = true;
        } else if (cmd_arg_is(args[index], "idletime") && more && options->freq == -1) {
            struct slice value = args[++index];
            if (!number_parse_int64(value.bytes, (uint32_t)value.length,
                                    &options->idle_seconds)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            if (options->idle_seconds < 0) {
                reply_error(&context->reply, REPLY_ERROR_RESTORE_IDLETIME);
                return false;
            }
        } else if (cmd_arg_is(args[index], "freq") && more && options->idle_seconds == -1) {
            struct slice value = args[++index];
            if (!number_parse_int64(value.bytes, (uint32_t)value.length, &options->freq)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            if (options->freq < 0 || options->freq > 255) {
                reply_error(&context->reply, REPLY_ERROR_RESTORE_FREQ);
                return false;
            }
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    return true;
}

/* The error a failed load answers: Redis's "Bad data format", or the store's. */
static enum reply_error restore_error(enum rdb_status status, enum store_status store_status)
{
    if (status == RDB_STORE) {
        return cmd_store_error(store_status);
    }
    return REPLY_ERROR_BAD_DATA_FORMAT;
}

/* Loads the payload under `name`; false after answering the error (nothing left behind). */
static bool restore_load(struct cmd_context *context, struct slice payload, struct slice name)
{
    enum store_status store_status = STORE_OK;
    enum rdb_status status = rdb_read_dump(context->store, payload.bytes, payload.length, name,
                                           &store_status);
    if (status != RDB_OK) {
        reply_error(&context->reply, restore_error(status, store_status));
        return false;
    }
    return true;
}

CMD_HANDLER(cmd_restore)
{
    KV_ASSERT(arg_count >= 4);
    struct store *store = context->store;
    struct restore_options options;
    if (!restore_options(context, args, arg_count, &options)) {
        return;
    }
    struct store_found found;
    (void)store_find_typed(store, args[1], STORE_TYPE_ANY, &found);
    if (!options.replace && found.exists) {
        reply_error(&context->reply, REPLY_ERROR_BUSYKEY);
        return;
    }
    int64_t ttl = 0;
    if (!number_parse_int64(args[2].bytes, (uint32_t)args[2].length, &ttl)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (ttl < 0) {
        reply_error(&context->reply, REPLY_ERROR_RESTORE_TTL);
        return;
    }
    if (!rdb_dump_verify(args[3].bytes, args[3].length)) {
        reply_error(&context->reply, REPLY_ERROR_FUNCTION_PAYLOAD_BAD);
        return;
    }
    struct slice scratch = {.bytes = dump_scratch_name, .length = sizeof(dump_scratch_name)};
    struct slice name = found.exists ? scratch : args[1];
    if (found.exists) {
        struct store_found stale;
        (void)store_find_typed(store, scratch, STORE_TYPE_ANY, &stale);
        if (stale.exists) {
            store_remove(store, &stale);
        }
    }
    if (!restore_load(context, args[3], name)) {
        return;
    }
    if (ttl != 0 && !options.absttl) {
        ttl += store->now_ms;
    }
    struct store_found loaded;
    (void)store_find_typed(store, name, STORE_TYPE_ANY, &loaded);
    KV_ASSERT(loaded.exists);
    if (ttl != 0 && ttl <= store->now_ms) {
        /* Already expired: the old key goes (Redis's "del"), the new one never lands. */
        store_remove(store, &loaded);
        if (found.exists) {
            bool deleted = store_delete(store, args[1]);
            KV_ASSERT(deleted);
            notify_event(NOTIFY_GENERIC, "del", args[1]);
        }
        reply_ok(&context->reply);
        return;
    }
    if (found.exists) {
        (void)store_find_typed(store, args[1], STORE_TYPE_ANY, &found);
        enum store_status renamed = store_rename(store, &loaded, args[1], &found);
        if (renamed != STORE_OK) {
            (void)store_find_typed(store, name, STORE_TYPE_ANY, &loaded);
            store_remove(store, &loaded);
            reply_error(&context->reply, cmd_store_error(renamed));
            return;
        }
        (void)store_find_typed(store, args[1], STORE_TYPE_ANY, &loaded);
        KV_ASSERT(loaded.exists);
    }
    if (ttl != 0) {
        enum store_status expired = store_expire_set(store, &loaded, ttl);
        if (expired == STORE_OOM) {
            store_remove(store, &loaded);
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
    }
    if (options.idle_seconds >= 0 || options.freq >= 0) {
        /* objectSetLRUOrLFU: IDLETIME under an LRU or no policy, FREQ under an LFU one. */
        uint32_t restored_ref = 0;
        bool restored = store_peek(store, args[1], &restored_ref);
        KV_ASSERT(restored);
        store_key_clock_restore(store, store_key(store, restored_ref), options.idle_seconds,
                                options.freq);
    }
    notify_event(NOTIFY_GENERIC, "restore", args[1]);
    reply_ok(&context->reply);
}

/* SAVE as Redis's saveCommand: the whole dataset to <dir>/<dbfilename> now (the server
 * waits, as Redis's does); Redis's bare "-ERR" when it fails (the log says why). */
CMD_HANDLER(cmd_save)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    if (snapshot_running()) {
        reply_error(&context->reply, REPLY_ERROR_BGSAVE_IN_PROGRESS);
        return;
    }
    if (rdb_save(context->store, context->store->now_ms) != 0) {
        reply_error(&context->reply, REPLY_ERROR_SAVE_FAILED);
        return;
    }
    reply_ok(&context->reply);
}

/* BGSAVE [SCHEDULE] as Redis's bgsaveCommand: the forkless snapshot (snapshot.h) starts now,
 * its point-in-time being this command; inside EXEC it is scheduled for cron to start after
 * the transaction (a snapshot must not see half of one), as Redis schedules it. kv has no
 * other child-like work, so SCHEDULE otherwise starts it at once too. */
CMD_HANDLER(cmd_bgsave)
{
    if (arg_count > 1 && !(arg_count == 2 && cmd_arg_is(args[1], "schedule"))) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (snapshot_running() && !propagate_rewrite_running()) {
        reply_error(&context->reply, REPLY_ERROR_BGSAVE_IN_PROGRESS);
        return;
    }
    if (snapshot_running() && arg_count == 1 && context->mode != CMD_MODE_EXEC) {
        /* An AOF rewrite's snapshot runs (Redis's AOF child). */
        reply_error(&context->reply, REPLY_ERROR_BGSAVE_AOF_IN_PROGRESS);
        return;
    }
    if (context->mode == CMD_MODE_EXEC || snapshot_running()) {
        rdb_bgsave_schedule();
        reply_simple(&context->reply, "Background saving scheduled");
        return;
    }
    if (rdb_bgsave(context->store, context->store->now_ms) != 0) {
        reply_error(&context->reply, REPLY_ERROR_SAVE_FAILED);
        return;
    }
    reply_simple(&context->reply, "Background saving started");
}

CMD_HANDLER(cmd_lastsave)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    reply_integer(&context->reply, rdb_stats()->last_save_seconds);
}

static const struct cmd dump_cmds[] = {
    {"dump", 2, 1, 1, 1, 0, cmd_dump},
    {"restore", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_restore},
    {"save", 1, 0, 0, 0, CMD_FLAG_NO_TXN, cmd_save},
    {"bgsave", -1, 0, 0, 0, 0, cmd_bgsave},
    {"lastsave", 1, 0, 0, 0, 0, cmd_lastsave},
};

CMD_FAMILY(cmd_family_dump, "generic", dump_cmds);
