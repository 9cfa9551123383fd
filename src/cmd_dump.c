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
 * the keyspace as it was. RESTORE-ASKING is RESTORE, admitted in an importing slot (cmd.c).
 * MIGRATE (below) sends DUMP payloads as RESTOREs to another instance.
 */
#include "cmd_handlers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster.h"
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
 * waits, as Redis's does); Redis's bare "-ERR" when it fails (the log says why). Only a
 * BGSAVE refuses it: during an AOF rewrite (Redis's AOF child) it runs, as in Redis; it reads
 * the store through its own buffers and leaves the rewrite's snapshot walk as it was. */
CMD_HANDLER(cmd_save)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    if (snapshot_running() && !propagate_rewrite_running()) {
        reply_error(&context->reply, REPLY_ERROR_BGSAVE_IN_PROGRESS);
        return;
    }
    rdb_saves_count(); /* a failed SAVE counts too, as in Redis */
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


/*
 * MIGRATE as Redis 7.0's migrateCommand, in the simpler form Redis itself has: the command
 * waits for its target synchronously (the loop's migrate ring, loop.h), so the whole server
 * waits with it for at most the timeout per connect, send or receive, exactly as Redis's
 * blocking socket makes it wait. A connection per target is kept for the next MIGRATE, and a
 * socket error before the target acknowledged anything is retried once on a new one, as
 * Redis does.
 *
 * The requests are streamed through a stack buffer of MIGRATE_OUT_BYTES: each payload is
 * serialized twice, once to count its bytes for the bulk's header, once into the stream (no
 * heap copy of a large value). The replies are read as lines through MIGRATE_IN_BYTES; a line
 * longer than that is a read error.
 */

/* The request stream's buffer (Redis writes in 64 KiB chunks). */
#define MIGRATE_OUT_BYTES 16384u
/* The reply buffer: one line of the target's (Redis reads each into 1 KiB). */
#define MIGRATE_IN_BYTES 4096u
/* Keys whose sending is remembered (a bit each) to pair them with their replies; past
 * these, a key counts as sent when it still exists (the same lookup as at sending time). */
#define MIGRATE_KEYS_TRACKED 65536u
/* A target's host name as MIGRATE takes it. */
#define MIGRATE_HOST_BYTES 256u

static struct cmd_migrate_io migrate_io;

void cmd_migrate_io_set(const struct cmd_migrate_io *io)
{
    migrate_io = *io;
}

/* The request stream to one target. */
struct migrate_out {
    int fd;
    uint32_t timeout_ms;
    uint32_t used;
    bool failed;               /* a send failed: the rest is dropped */
    uint8_t bytes[MIGRATE_OUT_BYTES];
};

static void migrate_flush(struct migrate_out *out)
{
    if (!out->failed && out->used > 0 &&
        migrate_io.send(migrate_io.owner, out->fd, out->bytes, out->used, out->timeout_ms) != 0) {
        out->failed = true;
    }
    out->used = 0;
}

static void migrate_write(struct migrate_out *out, const uint8_t *bytes, uint64_t length)
{
    /* Bounded by the length: each pass copies what fits, then flushes. */
    while (length > 0 && !out->failed) {
        uint32_t room = MIGRATE_OUT_BYTES - out->used;
        uint32_t part = length < room ? (uint32_t)length : room;
        memcpy(out->bytes + out->used, bytes, part);
        out->used += part;
        bytes += part;
        length -= part;
        if (out->used == MIGRATE_OUT_BYTES) {
            migrate_flush(out);
        }
    }
}

static void migrate_write_header(struct migrate_out *out, char kind, uint64_t count)
{
    char header[32];
    int length = snprintf(header, sizeof(header), "%c%" PRIu64 "\r\n", kind, count);
    KV_ASSERT(length > 0 && (size_t)length < sizeof(header));
    migrate_write(out, (const uint8_t *)header, (uint64_t)length);
}

static void migrate_write_bulk(struct migrate_out *out, const void *bytes, uint64_t length)
{
    migrate_write_header(out, '$', length);
    migrate_write(out, bytes, length);
    migrate_write(out, (const uint8_t *)"\r\n", 2);
}

static void migrate_write_number(struct migrate_out *out, int64_t value)
{
    char digits[24];
    int length = snprintf(digits, sizeof(digits), "%" PRId64, value);
    KV_ASSERT(length > 0 && (size_t)length < sizeof(digits));
    migrate_write_bulk(out, digits, (uint64_t)length);
}

/* The payload pass's flush: straight into the stream. */
static bool migrate_payload_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    struct migrate_out *out = context;
    migrate_write(out, bytes, length);
    return true;
}

/* The reply stream from the target: lines. */
struct migrate_in {
    int fd;
    uint32_t timeout_ms;
    uint32_t used;             /* bytes held */
    uint32_t line_bytes;       /* the last line's bytes with its "\n", dropped at the next */
    bool timed_out;
    uint8_t bytes[MIGRATE_IN_BYTES];
};

/* The next line without its "\r\n" (NUL-terminated in place); NULL on a read error. */
static const char *migrate_read_line(struct migrate_in *in)
{
    if (in->line_bytes > 0) {
        memmove(in->bytes, in->bytes + in->line_bytes, in->used - in->line_bytes);
        in->used -= in->line_bytes;
        in->line_bytes = 0;
    }
    /* Bounded: each pass reads at least one byte into a buffer of MIGRATE_IN_BYTES. */
    for (;;) {
        uint8_t *end = memchr(in->bytes, '\n', in->used);
        if (end != NULL) {
            in->line_bytes = (uint32_t)(end - in->bytes) + 1;
            *end = '\0';
            if (end > in->bytes && end[-1] == '\r') {
                end[-1] = '\0';
            }
            return (const char *)in->bytes;
        }
        if (in->used == MIGRATE_IN_BYTES) {
            return NULL;
        }
        int got = migrate_io.recv(migrate_io.owner, in->fd, in->bytes + in->used,
                                  MIGRATE_IN_BYTES - in->used, in->timeout_ms);
        if (got <= 0) {
            in->timed_out = got == -ETIMEDOUT;
            return NULL;
        }
        in->used += (uint32_t)got;
    }
}

/* MIGRATE's parsed arguments. */
struct migrate_options {
    bool copy;
    bool replace;
    struct slice username;      /* length 0 and bytes NULL: not given */
    struct slice password;
    uint32_t first_key;
    uint32_t key_count;
};

/* Parses options from args[6] as Redis does; false after answering the error. */
static bool migrate_options(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count, struct migrate_options *options)
{
    *options = (struct migrate_options){.first_key = 3, .key_count = 1};
    /* Bounded by the arguments: each pass consumes one to three, KEYS all the rest. */
    for (uint32_t index = 6; index < arg_count; index++) {
        uint32_t more = arg_count - 1 - index;
        if (cmd_arg_is(args[index], "copy")) {
            options->copy = true;
        } else if (cmd_arg_is(args[index], "replace")) {
            options->replace = true;
        } else if (cmd_arg_is(args[index], "auth")) {
            if (more == 0) {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return false;
            }
            options->password = args[++index];
        } else if (cmd_arg_is(args[index], "auth2")) {
            if (more < 2) {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return false;
            }
            options->username = args[++index];
            options->password = args[++index];
        } else if (cmd_arg_is(args[index], "keys")) {
            if (args[3].length != 0) {
                reply_error(&context->reply, REPLY_ERROR_MIGRATE_KEYS_NOT_EMPTY);
                return false;
            }
            options->first_key = index + 1;
            options->key_count = arg_count - index - 1;
            break;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    return true;
}

/* Writes one RESTORE (or RESTORE-ASKING) of the key; false when its payload changed size
 * between the passes (the stream is then unusable). */
static bool migrate_write_restore(struct migrate_out *out, struct store *store,
                                  const struct store_found *found, struct slice key, int64_t ttl,
                                  bool replace, uint32_t *lzf_table)
{
    migrate_write_header(out, '*', replace ? 5 : 4);
    if (cluster_enabled()) {
        migrate_write_bulk(out, "RESTORE-ASKING", 14);
    } else {
        migrate_write_bulk(out, "RESTORE", 7);
    }
    migrate_write_bulk(out, key.bytes, key.length);
    migrate_write_number(out, ttl);
    uint64_t bytes = dump_pass(store, found->key_ref, lzf_table, dump_count, NULL);
    migrate_write_header(out, '$', bytes);
    if (dump_pass(store, found->key_ref, lzf_table, migrate_payload_flush, out) != bytes) {
        return false;
    }
    migrate_write(out, (const uint8_t *)"\r\n", 2);
    if (replace) {
        migrate_write_bulk(out, "REPLACE", 7);
    }
    return true;
}


/* Cached connections to targets, as Redis's migrateCachedSocket: at most this many (the
 * least recently used is closed for a new one), each closed once idle this long (Redis's
 * cron closes them; kv looks at each MIGRATE, so an idle one may stay open longer). */
#define MIGRATE_SOCKETS_MAX 64u
#define MIGRATE_SOCKET_IDLE_MS 10000

struct migrate_socket {
    char host[MIGRATE_HOST_BYTES];
    int64_t port;
    int fd;                    /* -1: a free entry */
    int64_t last_dbid;         /* the db SELECTed last, -1: none (SELECT is sent) */
    int64_t last_use_ms;
};

static struct migrate_socket migrate_sockets[MIGRATE_SOCKETS_MAX];
static bool migrate_sockets_ready;

static void migrate_socket_close(struct migrate_socket *socket)
{
    if (socket->fd >= 0) {
        migrate_io.close(migrate_io.owner, socket->fd);
    }
    socket->fd = -1;
}

/* Closes the sockets idle longer than MIGRATE_SOCKET_IDLE_MS (bounded by the table). */
static void migrate_sockets_expire(int64_t now_ms)
{
    if (!migrate_sockets_ready) {
        /* Bounded by the table. */
        for (uint32_t index = 0; index < MIGRATE_SOCKETS_MAX; index++) {
            migrate_sockets[index].fd = -1;
        }
        migrate_sockets_ready = true;
    }
    /* Bounded by the table. */
    for (uint32_t index = 0; index < MIGRATE_SOCKETS_MAX; index++) {
        struct migrate_socket *socket = &migrate_sockets[index];
        if (socket->fd >= 0 && now_ms - socket->last_use_ms > MIGRATE_SOCKET_IDLE_MS) {
            migrate_socket_close(socket);
        }
    }
}

/* The cached socket to host:port, or a new connection; NULL after answering the error.
 * Redis connects without blocking and waits for the socket to be writable: a host it cannot
 * resolve, or the time running out, is an error connecting; a refused connection is
 * writable at once and fails at the first write (after one retry, the same). */
static struct migrate_socket *migrate_socket_get(struct cmd_context *context, const char *host,
                                                 int64_t port, uint32_t timeout_ms,
                                                 int64_t now_ms)
{
    struct migrate_socket *oldest = &migrate_sockets[0];
    /* Bounded by the table. */
    for (uint32_t index = 0; index < MIGRATE_SOCKETS_MAX; index++) {
        struct migrate_socket *socket = &migrate_sockets[index];
        if (socket->fd >= 0 && socket->port == port && strcmp(socket->host, host) == 0) {
            socket->last_use_ms = now_ms;
            return socket;
        }
        if (oldest->fd >= 0 && (socket->fd < 0 || socket->last_use_ms < oldest->last_use_ms)) {
            oldest = socket;
        }
    }
    int fd = port > 0 && port <= 65535
                 ? migrate_io.connect(migrate_io.owner, host, (uint32_t)port, timeout_ms)
                 : -ECONNREFUSED;
    if (fd < 0) {
        bool connecting = fd == -ETIMEDOUT || fd == -EINVAL;
        reply_error(&context->reply,
                    connecting ? REPLY_ERROR_MIGRATE_CONNECT : REPLY_ERROR_MIGRATE_WRITING);
        return NULL;
    }
    migrate_socket_close(oldest);
    snprintf(oldest->host, sizeof(oldest->host), "%s", host);
    oldest->port = port;
    oldest->fd = fd;
    oldest->last_dbid = -1;
    oldest->last_use_ms = now_ms;
    return oldest;
}

/* What one attempt came to. */
struct migrate_attempt {
    bool answered;             /* the reply is written: +OK or the target's error */
    bool write_error;          /* else a socket error: writing (else reading) */
    bool timed_out;            /* ... because the time ran out: no retry */
    bool acknowledged;         /* ... after the target acknowledged a key: no retry */
};

/* Sends [AUTH], [SELECT] and the RESTOREs on the socket and reads the replies, deleting
 * each acknowledged key unless COPY. */
static void migrate_attempt(struct cmd_context *context, const struct slice *args,
                            const struct migrate_options *options,
                            struct migrate_socket *socket, int64_t db_index,
                            uint32_t timeout_ms, struct migrate_attempt *result)
{
    struct store *store = context->store;
    static struct migrate_out out; /* one MIGRATE at a time: the loop has one thread */
    out.fd = socket->fd;
    out.timeout_ms = timeout_ms;
    out.used = 0;
    out.failed = false;
    bool password = options->password.bytes != NULL;
    if (password) {
        bool username = options->username.bytes != NULL;
        migrate_write_header(&out, '*', username ? 3 : 2);
        migrate_write_bulk(&out, "AUTH", 4);
        if (username) {
            migrate_write_bulk(&out, options->username.bytes, options->username.length);
        }
        migrate_write_bulk(&out, options->password.bytes, options->password.length);
    }
    bool select = socket->last_dbid != db_index;
    if (select) {
        migrate_write_header(&out, '*', 2);
        migrate_write_bulk(&out, "SELECT", 6);
        migrate_write_number(&out, db_index);
    }
    uint32_t *lzf_table = heap_alloc(store->heap, LZF_TABLE_BYTES);
    bool sent_whole = true;
    uint32_t sent = 0;
    /* Which keys were sent, by their index among the keys, so the replies pair with them. */
    static uint8_t sent_flags[MIGRATE_KEYS_TRACKED / 8];
    /* Bounded by the keys given. */
    for (uint32_t index = 0; index < options->key_count && sent_whole; index++) {
        struct slice key = args[options->first_key + index];
        struct store_found found;
        bool sent_key = false;
        if (cmd_read_any(context, key, &found) && rdb_type_supported(found.type)) {
            int64_t expire_at = store_key_expire(store_key(store, found.key_ref));
            int64_t ttl = expire_at == 0 ? 0 : expire_at - store->now_ms;
            if (ttl < 1 && expire_at != 0) {
                ttl = 1;
            }
            sent_whole = migrate_write_restore(&out, store, &found, key, ttl, options->replace,
                                               lzf_table);
            sent_key = true;
            sent++;
        }
        if (index < MIGRATE_KEYS_TRACKED) {
            uint8_t bit = (uint8_t)(1u << (index % 8));
            sent_flags[index / 8] = (uint8_t)(sent_key ? sent_flags[index / 8] | bit
                                                       : sent_flags[index / 8] & ~bit);
        }
    }
    if (lzf_table != NULL) {
        heap_release(store->heap, lzf_table);
    }
    migrate_flush(&out);
    if (out.failed || !sent_whole) {
        result->write_error = true;
        return;
    }
    static struct migrate_in in;
    in.fd = socket->fd;
    in.timeout_ms = timeout_ms;
    in.used = 0;
    in.line_bytes = 0;
    in.timed_out = false;
    char auth_line[1024] = "";
    char select_line[1024] = "";
    const char *line = NULL;
    if (password) {
        line = migrate_read_line(&in);
        if (line == NULL) {
            result->timed_out = in.timed_out;
            return;
        }
        snprintf(auth_line, sizeof(auth_line), "%s", line);
    }
    if (select) {
        line = migrate_read_line(&in);
        if (line == NULL) {
            result->timed_out = in.timed_out;
            return;
        }
        snprintf(select_line, sizeof(select_line), "%s", line);
    }
    bool error_from_target = false;
    uint32_t replies = 0;
    /* Bounded by the keys given; each reply pairs with the next key that was sent. */
    for (uint32_t index = 0; index < options->key_count && replies < sent; index++) {
        struct slice key = args[options->first_key + index];
        bool was_sent = false;
        if (index < MIGRATE_KEYS_TRACKED) {
            was_sent = (sent_flags[index / 8] & (1u << (index % 8))) != 0;
        } else {
            struct store_found found;
            (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
            was_sent = found.exists;
        }
        if (!was_sent) {
            continue;
        }
        line = migrate_read_line(&in);
        if (line == NULL) {
            if (error_from_target) {
                break; /* the target's error is the answer; the socket is closed below */
            }
            result->timed_out = in.timed_out;
            result->acknowledged = replies > 0;
            return;
        }
        replies++;
        if (auth_line[0] == '-' || select_line[0] == '-' || line[0] == '-') {
            if (!error_from_target) {
                socket->last_dbid = -1;
                const char *error = auth_line[0] == '-'     ? auth_line
                                    : select_line[0] == '-' ? select_line
                                                            : line;
                error_from_target = true;
                reply_error_format(&context->reply, REPLY_ERROR_MIGRATE_TARGET, error + 1);
            }
        } else if (!options->copy) {
            if (store_delete(store, key)) {
                notify_event(NOTIFY_GENERIC, "del", key);
                propagate_effect(store->db_index, (struct slice[]){slice_text("DEL"), key}, 2);
            }
        }
    }
    result->answered = true;
    if (replies < sent) {
        migrate_socket_close(socket); /* replies left unread would pair with the next keys */
        return;
    }
    if (!error_from_target) {
        socket->last_dbid = db_index;
        reply_ok(&context->reply);
    }
}

/* The number in `arg` as Redis's getLongFromObjectOrReply; false after the error. */
static bool migrate_number(struct cmd_context *context, struct slice arg, int64_t *value)
{
    if (!number_parse_int64(arg.bytes, (uint32_t)arg.length, value)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    return true;
}

CMD_HANDLER(cmd_migrate)
{
    KV_ASSERT(arg_count >= 6);
    struct store *store = context->store;
    struct migrate_options options;
    if (!migrate_options(context, args, arg_count, &options)) {
        return;
    }
    int64_t timeout = 0;
    int64_t db_index = 0;
    if (!migrate_number(context, args[5], &timeout) ||
        !migrate_number(context, args[4], &db_index)) {
        return;
    }
    if (timeout <= 0) {
        timeout = 1000;
    }
    uint32_t timeout_ms = timeout > UINT32_MAX ? UINT32_MAX : (uint32_t)timeout;
    /* Any key here? All missing answers +NOKEY (they may have expired meanwhile). */
    uint32_t present = 0;
    /* Bounded by the keys given. */
    for (uint32_t index = 0; index < options.key_count; index++) {
        struct store_found found;
        present += cmd_read_any(context, args[options.first_key + index], &found) ? 1u : 0u;
    }
    if (present == 0) {
        reply_simple(&context->reply, "NOKEY");
        return;
    }
    char host[MIGRATE_HOST_BYTES];
    int64_t port = 0;
    /* Redis's atoi: the leading digits, 0 without (bounded by the argument and 65536). */
    for (uint32_t index = 0; index < args[2].length && port <= 65535; index++) {
        uint8_t byte = args[2].bytes[index];
        if (byte < '0' || byte > '9') {
            break;
        }
        port = port * 10 + (byte - '0');
    }
    if (migrate_io.connect == NULL || args[1].length >= sizeof(host)) {
        reply_error(&context->reply, REPLY_ERROR_MIGRATE_CONNECT);
        return;
    }
    memcpy(host, args[1].bytes, args[1].length);
    host[args[1].length] = '\0';
    migrate_sockets_expire(store->now_ms);
    /* Bounded: two attempts. Redis's try_again: one retry on a socket error before any key
     * was acknowledged, unless the time ran out (a cached socket the target closed is common). */
    for (uint32_t attempt = 0; attempt < 2; attempt++) {
        struct migrate_socket *socket = migrate_socket_get(context, host, port, timeout_ms,
                                                           store->now_ms);
        if (socket == NULL) {
            return; /* answered */
        }
        struct migrate_attempt result = {0};
        migrate_attempt(context, args, &options, socket, db_index, timeout_ms, &result);
        if (result.answered) {
            return;
        }
        migrate_socket_close(socket);
        if (result.timed_out || attempt == 1 || result.acknowledged) {
            reply_error(&context->reply, result.write_error ? REPLY_ERROR_MIGRATE_WRITING
                                                            : REPLY_ERROR_MIGRATE_READING);
            return;
        }
    }
}

static const struct cmd dump_cmds[] = {
    {"dump", 2, 1, 1, 1, 0, cmd_dump},
    {"restore", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_restore},
    {"restore-asking", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_restore},
    {"migrate", -6, 0, 0, 0, CMD_FLAG_WRITE, cmd_migrate},
    {"save", 1, 0, 0, 0, CMD_FLAG_NO_TXN, cmd_save},
    {"bgsave", -1, 0, 0, 0, 0, cmd_bgsave},
    {"lastsave", 1, 0, 0, 0, 0, cmd_lastsave},
};

CMD_FAMILY(cmd_family_dump, "generic", dump_cmds);
