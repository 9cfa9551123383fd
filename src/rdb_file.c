/*
 * The RDB file through io_uring (include/rdb_file.h). A save streams the keyspace through
 * the serializer's fixed buffer into `<dir>/temp-<pid>.rdb` (each full buffer one write),
 * fsyncs it, closes it and renames it over `<dir>/<dbfilename>`, as Redis's rdbSave: a crash
 * mid-save leaves the old file whole. A load reads the file a buffer at a time into the
 * reader. Every operation is one SQE submitted and waited for on this module's own ring
 * (four entries: one operation in flight at a time), so no file I/O blocks in a syscall
 * other than io_uring_enter, and the loop's ring is never touched.
 */
#include "rdb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "function.h"
#include "log.h"
#include "lzf.h"
#include "redis_param.h"
#include "snapshot.h"

/* Ring entries: a BGSAVE's writes in flight (one per snapshot buffer) or its end's three
 * linked steps; SAVE and the load have one operation at a time. */
#define RDB_FILE_RING_ENTRIES 8u
/* A BGSAVE end's first two linked steps (the rename's completion is SNAPSHOT_TAG_SYNC). */
#define RDB_FILE_TAG_FSYNC (UINT32_MAX - 2u)
#define RDB_FILE_TAG_CLOSE (UINT32_MAX - 3u)
static_assert(SNAPSHOT_BUFFER_COUNT + 3u <= RDB_FILE_RING_ENTRIES, "a BGSAVE's SQEs fit");

/* The longest path kv builds (dir, '/', file name). */
#define RDB_FILE_PATH_BYTES 4096u

static struct {
    struct io_uring ring;
    uint8_t *buffer;            /* RDB_FILE_BUFFER_BYTES, carved */
    uint32_t *lzf_table;        /* LZF_TABLE_BYTES, carved */
    bool ready;                 /* init ran */
    struct script *script;      /* the function libraries saved and loaded; NULL: none */
    struct rdb_save_stats stats;
    int bgsave_fd;              /* the running BGSAVE's temp file, -1 when none */
    uint32_t bgsave_pending;    /* its operations submitted and not reaped */
    int bgsave_fsync_status;    /* its end's fsync: 1 until answered, then 0 or -errno */
    char bgsave_temp[RDB_FILE_PATH_BYTES]; /* its temp file and target */
    char bgsave_path[RDB_FILE_PATH_BYTES];
} rdb_file;

bool rdb_file_init(struct region *region, int64_t now_seconds, char *error, uint32_t error_bytes)
{
    KV_ASSERT(!rdb_file.ready);
    rdb_file.buffer = region_carve(region, RDB_FILE_BUFFER_BYTES, 64);
    rdb_file.lzf_table = region_carve(region, LZF_TABLE_BYTES, 64);
    int status = io_uring_queue_init(RDB_FILE_RING_ENTRIES, &rdb_file.ring, 0);
    if (status < 0) {
        snprintf(error, error_bytes, "rdb: io_uring_queue_init: %s (raise RLIMIT_MEMLOCK?)",
                 strerror(-status));
        return false;
    }
    rdb_file.stats = (struct rdb_save_stats){.last_save_seconds = now_seconds,
                                             .last_save_duration_ms = -1,
                                             .last_save_ok = true,
                                             .last_bgsave_ok = true,
                                             .last_bgsave_seconds = -1};
    rdb_file.bgsave_fd = -1;
    rdb_file.ready = true;
    rdb_save_register(rdb_file_save, &rdb_file.stats);
    rdb_bgsave_register(rdb_file_bgsave);
    KV_ASSERT(rdb_file.buffer != NULL && rdb_file.lzf_table != NULL);
    return true;
}


/* Submits the prepared SQE and waits for its completion: its result. */
static int ring_run(void)
{
    int status = io_uring_submit(&rdb_file.ring);
    if (status < 0) {
        return status;
    }
    struct io_uring_cqe *cqe = NULL;
    status = -EINTR;
    /* A signal interrupts the wait, not the operation. Bounded by the signals delivered. */
    while (status == -EINTR) {
        status = io_uring_wait_cqe(&rdb_file.ring, &cqe);
    }
    if (status < 0) {
        return status;
    }
    int result = cqe->res;
    io_uring_cqe_seen(&rdb_file.ring, cqe);
    return result;
}

static struct io_uring_sqe *ring_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&rdb_file.ring);
    KV_ASSERT(sqe != NULL); /* one operation at a time: the SQ is never full */
    return sqe;
}

static int file_open(const char *path, int flags, mode_t mode)
{
    io_uring_prep_openat(ring_sqe(), AT_FDCWD, path, flags | O_CLOEXEC, mode);
    return ring_run();
}

static int file_close(int fd)
{
    KV_ASSERT(fd >= 0);
    io_uring_prep_close(ring_sqe(), fd);
    return ring_run();
}

/* Writes all `length` bytes at `offset` (short writes continue). */
static int file_write(int fd, const uint8_t *bytes, uint32_t length, uint64_t offset)
{
    uint32_t done = 0;
    /* Bounded: each pass writes at least one byte or returns. */
    while (done < length) {
        io_uring_prep_write(ring_sqe(), fd, bytes + done, length - done, offset + done);
        int written = ring_run();
        if (written < 0) {
            return written;
        }
        if (written == 0) {
            return -EIO;
        }
        done += (uint32_t)written;
    }
    return 0;
}

/* Where a save writes: the temp file and how far. */
struct save_target {
    int fd;
    uint64_t offset;
    int error;           /* the first write error, 0 while none */
};

static bool save_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    struct save_target *target = context;
    int status = file_write(target->fd, bytes, length, target->offset);
    if (status < 0) {
        target->error = status;
        return false;
    }
    target->offset += length;
    return true;
}

static void function_write(void *context, struct slice code)
{
    rdb_write_function(context, code);
}

/* The function libraries after the header, as Redis's rdbSaveFunctions. */
static void functions_write(void *context, struct rdb_writer *writer)
{
    (void)context;
    if (rdb_file.script != NULL) {
        function_each_code(rdb_file.script, function_write, writer);
    }
}

void rdb_file_functions_write(void *context, struct rdb_writer *writer)
{
    functions_write(context, writer);
}

void rdb_file_scripts(struct script *script)
{
    KV_ASSERT(script != NULL);
    rdb_file.script = script;
}

/* Serializes every key: header, each database that holds keys, EOF and checksum. */
static int save_keys(struct store *store, struct save_target *target, int64_t now_ms)
{
    struct rdb_writer writer;
    rdb_writer_init(&writer, rdb_file.buffer, RDB_FILE_BUFFER_BYTES, save_flush, target,
                    store->heap, rdb_file.lzf_table);
    rdb_write_header(&writer, now_ms, store->heap->used_bytes);
    functions_write(NULL, &writer);
    uint32_t selected = store->db_index;
    uint64_t skipped = 0;
    /* Bounded by the databases, and within each by its keys: the store does not change
     * during a SAVE. */
    for (uint32_t db_index = 0; db_index < store->db_count && !writer.failed; db_index++) {
        store_select(store, db_index);
        if (store_key_count(store) == 0) {
            continue;
        }
        rdb_write_db_start(&writer, db_index, store_key_count(store), store_expires_count(store));
        struct dict_walk walk;
        uint32_t key_ref = 0;
        store_walk_start(store, &walk);
        while (!writer.failed && store_walk_next(store, &walk, &key_ref)) {
            if (!store_key_live(store, store_key(store, key_ref))) {
                continue;
            }
            skipped += rdb_write_key(&writer, store, key_ref) ? 0u : 1u;
        }
    }
    store_select(store, selected);
    if (skipped > 0) {
        log_warn("SAVE left out %llu keys of a type kv does not serialize",
                 (unsigned long long)skipped);
    }
    rdb_write_end(&writer);
    if (!rdb_writer_finish(&writer)) {
        return target->error != 0 ? target->error : -EIO;
    }
    return 0;
}

static int64_t clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* <dir>/temp-<pid>.rdb and <dir>/<dbfilename> (Redis's parameters): 0 or -ENAMETOOLONG. */
static int save_paths(char *temp, char *path, const char **dir_out)
{
    int32_t dir_index = redis_param_find("dir", 3);
    int32_t filename_index = redis_param_find("dbfilename", 10);
    KV_ASSERT(dir_index >= 0 && filename_index >= 0);
    const char *dir = redis_param_value((uint32_t)dir_index);
    const char *filename = redis_param_value((uint32_t)filename_index);
    *dir_out = dir;
    if (snprintf(temp, RDB_FILE_PATH_BYTES, "%s/temp-%d.rdb", dir, (int)getpid()) >=
            (int)RDB_FILE_PATH_BYTES ||
        snprintf(path, RDB_FILE_PATH_BYTES, "%s/%s", dir, filename) >= (int)RDB_FILE_PATH_BYTES) {
        return -ENAMETOOLONG;
    }
    return 0;
}

int rdb_file_save(struct store *store, int64_t now_ms)
{
    KV_ASSERT(rdb_file.ready);
    KV_ASSERT(rdb_file.bgsave_fd < 0); /* SAVE is refused while a BGSAVE runs */
    char temp[RDB_FILE_PATH_BYTES];
    char path[RDB_FILE_PATH_BYTES];
    const char *dir = NULL;
    int64_t started_ms = clock_ms(CLOCK_MONOTONIC);
    uint64_t changes = snapshot_changes();
    if (save_paths(temp, path, &dir) != 0) {
        return -ENAMETOOLONG;
    }
    int fd = file_open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        log_warn("Failed opening the temp RDB file %s (in server root dir %s) for saving: %s",
                 temp, dir, strerror(-fd));
        rdb_file.stats.last_save_ok = false;
        return fd;
    }
    struct save_target target = {.fd = fd};
    int status = save_keys(store, &target, now_ms);
    if (status == 0) {
        io_uring_prep_fsync(ring_sqe(), fd, 0);
        status = ring_run();
    }
    int closed = file_close(fd);
    status = status == 0 ? closed : status;
    if (status == 0) {
        io_uring_prep_renameat(ring_sqe(), AT_FDCWD, temp, AT_FDCWD, path, 0);
        status = ring_run();
    }
    if (status < 0) {
        log_warn("Write error saving DB on disk: %s", strerror(-status));
        io_uring_prep_unlinkat(ring_sqe(), AT_FDCWD, temp, 0);
        (void)ring_run();
        rdb_file.stats.last_save_ok = false;
        return status;
    }
    log_info("DB saved on disk");
    rdb_file.stats.last_save_seconds = now_ms / 1000;
    rdb_file.stats.last_save_duration_ms = clock_ms(CLOCK_MONOTONIC) - started_ms;
    rdb_file.stats.last_save_ok = true;
    rdb_file.stats.last_bgsave_ok = true; /* Redis's rdbSave sets lastbgsave_status too */
    rdb_file.stats.changes_at_save = changes;
    return 0;
}

/* ---- BGSAVE: the snapshot's sink on this ring, asynchronous ---- */

static int bgsave_write(void *context, const uint8_t *bytes, uint32_t length, uint64_t offset,
                        uint32_t tag)
{
    (void)context;
    KV_ASSERT(rdb_file.bgsave_fd >= 0 && tag < SNAPSHOT_BUFFER_COUNT);
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_write(sqe, rdb_file.bgsave_fd, bytes, length, offset);
    io_uring_sqe_set_data64(sqe, tag);
    int status = io_uring_submit(&rdb_file.ring);
    if (status < 0) {
        return status;
    }
    rdb_file.bgsave_pending++;
    return 0;
}

/* The end's steps: fsync and close (linked), then, only once both succeeded, the rename over
 * <dbfilename>. All run off the loop's thread (the rename drops the old file, whose blocks the
 * filesystem frees then: a pause of its own for a large file). The rename is not linked after
 * them: on this kernel (6.18) a failed fsync, close or rename does not cancel what is linked
 * after it (only a failed read or write does), so a linked rename would put a file whose
 * fsync failed over the last good dump. */
static int bgsave_sync(void *context)
{
    (void)context;
    KV_ASSERT(rdb_file.bgsave_fd >= 0);
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_fsync(sqe, rdb_file.bgsave_fd, 0);
    io_uring_sqe_set_data64(sqe, RDB_FILE_TAG_FSYNC);
    sqe->flags |= IOSQE_IO_LINK; /* the close runs whatever the fsync answered */
    sqe = ring_sqe();
    io_uring_prep_close(sqe, rdb_file.bgsave_fd);
    io_uring_sqe_set_data64(sqe, RDB_FILE_TAG_CLOSE);
    rdb_file.bgsave_fsync_status = 1; /* not answered yet */
    int status = io_uring_submit(&rdb_file.ring);
    if (status < 0) {
        return status;
    }
    rdb_file.bgsave_pending += 2;
    return 0;
}

/* The close's completion (after the fsync's): the rename goes out when both succeeded, and is
 * the end (SNAPSHOT_TAG_SYNC); otherwise this completion is the end, with the first error. */
static uint32_t bgsave_closed(int *result)
{
    KV_ASSERT(rdb_file.bgsave_fsync_status <= 0); /* the fsync answered first: linked */
    if (*result == 0) {
        rdb_file.bgsave_fd = -1; /* closed by the ring */
    }
    if (rdb_file.bgsave_fsync_status == 0 && *result == 0) {
        struct io_uring_sqe *sqe = ring_sqe();
        io_uring_prep_renameat(sqe, AT_FDCWD, rdb_file.bgsave_temp, AT_FDCWD,
                               rdb_file.bgsave_path, 0);
        io_uring_sqe_set_data64(sqe, SNAPSHOT_TAG_SYNC);
        int status = io_uring_submit(&rdb_file.ring);
        if (status >= 0) {
            rdb_file.bgsave_pending++;
            return SNAPSHOT_TAG_STEP;
        }
        *result = status;
        return SNAPSHOT_TAG_SYNC;
    }
    *result = rdb_file.bgsave_fsync_status < 0 ? rdb_file.bgsave_fsync_status : *result;
    KV_ASSERT(*result < 0);
    return SNAPSHOT_TAG_SYNC;
}

static bool bgsave_reap(void *context, bool wait, uint32_t *tag, int *result)
{
    (void)context;
    if (rdb_file.bgsave_pending == 0) {
        return false;
    }
    struct io_uring_cqe *cqe = NULL;
    int status = -EINTR;
    /* A signal (SIGTERM during SHUTDOWN's wait) interrupts the wait, not the operation: the
     * completion still comes, so the wait goes on. Bounded by the signals delivered. */
    while (status == -EINTR) {
        status = wait ? io_uring_wait_cqe(&rdb_file.ring, &cqe)
                      : io_uring_peek_cqe(&rdb_file.ring, &cqe);
    }
    if (status < 0 || cqe == NULL) {
        return false;
    }
    uint64_t data = io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    io_uring_cqe_seen(&rdb_file.ring, cqe);
    rdb_file.bgsave_pending--;
    if (data == RDB_FILE_TAG_FSYNC) {
        rdb_file.bgsave_fsync_status = *result > 0 ? 0 : *result;
        *tag = SNAPSHOT_TAG_STEP;
    } else if (data == RDB_FILE_TAG_CLOSE) {
        *tag = bgsave_closed(result);
    } else {
        *tag = (uint32_t)data;
    }
    return true;
}

/* The snapshot's end: the temp file becomes <dbfilename>, or goes (Redis's log lines). */
static void bgsave_done(void *context, int status)
{
    (void)context;
    KV_ASSERT(rdb_file.bgsave_pending == 0);
    KV_ASSERT(status < 0 || rdb_file.bgsave_fd < 0); /* success: the ring closed it */
    if (rdb_file.bgsave_fd >= 0) {
        (void)file_close(rdb_file.bgsave_fd); /* a failure before the close step */
        rdb_file.bgsave_fd = -1;
    }
    int64_t now_ms = clock_ms(CLOCK_REALTIME);
    rdb_file.stats.last_bgsave_seconds = (now_ms - rdb_file.stats.bgsave_started_ms) / 1000;
    if (status < 0) {
        io_uring_prep_unlinkat(ring_sqe(), AT_FDCWD, rdb_file.bgsave_temp, 0);
        (void)ring_run();
        if (status == -ECANCELED) {
            /* Stopped (FLUSHALL, SHUTDOWN): Redis's child killed by SIGUSR1, which leaves
             * lastbgsave_status as it was. */
            log_warn("Background saving terminated by signal");
            return;
        }
        log_warn("Background saving error: %s", strerror(-status));
        rdb_file.stats.last_bgsave_ok = false;
        return;
    }
    const struct snapshot_progress *progress = snapshot_progress();
    log_info("DB saved on disk (forkless: %llu keys, %llu written before a change, %llu large "
             "keys finished early)",
             (unsigned long long)progress->keys_written,
             (unsigned long long)progress->keys_early,
             (unsigned long long)progress->parts_early);
    log_info("Background saving terminated with success");
    rdb_file.stats.last_bgsave_ok = true;
    rdb_file.stats.last_save_ok = true;
    rdb_file.stats.last_save_seconds = now_ms / 1000; /* Redis: time(NULL) at the end */
    rdb_file.stats.last_save_duration_ms = now_ms - rdb_file.stats.bgsave_started_ms;
    rdb_file.stats.changes_at_save = rdb_file.stats.changes_at_bgsave;
}

int rdb_file_bgsave(struct store *store, int64_t now_ms)
{
    KV_ASSERT(rdb_file.ready);
    if (snapshot_running()) {
        return -EBUSY;
    }
    KV_ASSERT(rdb_file.bgsave_fd < 0 && rdb_file.bgsave_pending == 0);
    const char *dir = NULL;
    rdb_file.stats.bgsave_tried_ms = now_ms;
    int status = save_paths(rdb_file.bgsave_temp, rdb_file.bgsave_path, &dir);
    if (status < 0) {
        rdb_file.stats.last_bgsave_ok = false;
        return status;
    }
    int fd = file_open(rdb_file.bgsave_temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        log_warn("Failed opening the temp RDB file %s (in server root dir %s) for saving: %s",
                 rdb_file.bgsave_temp, dir, strerror(-fd));
        rdb_file.stats.last_bgsave_ok = false;
        return fd;
    }
    rdb_file.bgsave_fd = fd;
    static const struct snapshot_sink sink = {.write = bgsave_write, .sync = bgsave_sync,
                                              .reap = bgsave_reap, .done = bgsave_done,
                                              .preamble = functions_write};
    status = snapshot_start(store, &sink, now_ms);
    if (status < 0) {
        (void)file_close(fd);
        rdb_file.bgsave_fd = -1;
        io_uring_prep_unlinkat(ring_sqe(), AT_FDCWD, rdb_file.bgsave_temp, 0);
        (void)ring_run();
        rdb_file.stats.last_bgsave_ok = false;
        return status;
    }
    rdb_file.stats.bgsave_started_ms = now_ms;
    rdb_file.stats.changes_at_bgsave = snapshot_changes();
    log_info("Background saving started (forkless snapshot)");
    return 0;
}

/* A FUNCTION2 record of the file: into the registry, as Redis's rdbFunctionLoad. */
static bool function_take(void *context, struct slice code)
{
    (void)context;
    char error[256];
    if (!function_load_code(rdb_file.script, code, error, sizeof(error))) {
        log_warn("Failed loading library from the RDB file: %s", error);
        return false;
    }
    return true;
}

/* Where a load reads: the file and how far. */
struct load_source {
    int fd;
    uint64_t offset;
};

static int64_t load_fill(void *context, uint8_t *bytes, uint64_t capacity)
{
    struct load_source *source = context;
    uint32_t wanted = capacity > (1u << 30) ? (1u << 30) : (uint32_t)capacity;
    io_uring_prep_read(ring_sqe(), source->fd, bytes, wanted, source->offset);
    int got = ring_run();
    if (got < 0) {
        return -1;
    }
    source->offset += (uint64_t)got;
    return got;
}

int rdb_file_load(struct store *store, const char *dir, const char *filename, bool *loaded)
{
    KV_ASSERT(rdb_file.ready);
    KV_ASSERT(store_key_count(store) == 0);
    *loaded = false;
    char path[RDB_FILE_PATH_BYTES];
    if (snprintf(path, sizeof(path), "%s/%s", dir, filename) >= (int)sizeof(path)) {
        return -ENAMETOOLONG;
    }
    int fd = file_open(path, O_RDONLY, 0);
    if (fd == -ENOENT) {
        return 0;
    }
    if (fd < 0) {
        log_warn("Fatal error loading the DB: %s. Exiting.", strerror(-fd));
        return fd;
    }
    int64_t started_ms = clock_ms(CLOCK_MONOTONIC);
    struct load_source source = {.fd = fd};
    struct rdb_reader reader;
    rdb_reader_init_stream(&reader, rdb_file.buffer, RDB_FILE_BUFFER_BYTES, load_fill, &source,
                           store->heap);
    reader.function_code = rdb_file.script != NULL ? function_take : NULL;
    struct rdb_load_result result;
    enum rdb_status status = rdb_load(&reader, store, &result);
    (void)file_close(fd);
    if (status != RDB_OK) {
        log_warn("Internal error in RDB reading offset %llu: %s",
                 (unsigned long long)(reader.buffer_position + reader.offset_bytes),
                 status == RDB_STORE ? "the store refused the data (memory or a cap)"
                                     : rdb_status_text(status));
        log_warn("Terminating server after rdb file reading failure.");
        return -EINVAL;
    }
    if (reader.functions_skipped > 0) {
        log_warn("The RDB file holds %llu function libraries, which kv does not load yet",
                 (unsigned long long)reader.functions_skipped);
    }
    rdb_file.stats.last_load_keys_loaded = result.keys_loaded;
    rdb_file.stats.last_load_keys_expired = result.keys_expired;
    rdb_file.stats.changes_at_save = snapshot_changes(); /* the loaded keys are no change */
    log_info("Done loading RDB, keys loaded: %llu, keys expired: %llu.",
             (unsigned long long)result.keys_loaded, (unsigned long long)result.keys_expired);
    log_info("DB loaded from disk: %.3f seconds",
             (double)(clock_ms(CLOCK_MONOTONIC) - started_ms) / 1000.0);
    *loaded = true;
    return 0;
}
