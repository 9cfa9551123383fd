/*
 * The append-only file (include/aof.h). Invariants: at most one write is in flight on the
 * ring, and one fsync per file (the current one, the retiring one); the fill half never holds
 * more than AOF_WRITE_BUFFER_BYTES; `job` names the other half while it holds bytes not yet
 * in a file (in flight, or waiting for a retry after an error); file_bytes is what the
 * incremental file holds, every byte of it written by a completed write; fsync_covered is set
 * only when an fsync is submitted (the file bytes it makes durable), and only its success
 * credits fsynced_bytes. After a rewrite's switch, the head of the halves (job_old_bytes,
 * fill_old_bytes) is the retiring file's: retiring.written_bytes + those = its end_bytes, and
 * it is written before anything of the current file; retiring.origin + end_bytes = origin.
 * The offsets replies are stamped with are origin + file offsets: they only grow, across file
 * switches, and the synced one never passes the retiring file's end before its fsync, nor
 * the current file's start before the manifest listing it is durable. Nothing here waits for
 * the disk while serving: the replies wait (loop.c's gate); only turning appendonly off, a
 * full fill half and shutdown wait. A rewrite's end persists its manifest on the ring too
 * (the base's rename leading the chain) and deletes the old files only once it is durable.
 */
#define _GNU_SOURCE /* statx */
#include "aof.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmd.h"
#include "heap.h"
#include "log.h"
#include "number.h"
#include "propagate.h"
#include "rdb.h"
#include "rdb_file.h"
#include "redis_param.h"
#include "region.h"
#include "reply.h"
#include "snapshot.h"
#include "store.h"

/* Ring entries: at most 12 operations are in flight: the write (1) and its linked fsync (1)
 * or an fsync of written bytes (1), the retiring file's fsync or close (1), a stage of the
 * manifest's chain (3 at most) and its two closes (2), the old files' unlinks
 * (AOF_UNLINKS_IN_FLIGHT), a synchronous operation (1) (the CQ holds twice as many). */
#define AOF_RING_ENTRIES 16u

/* The rewrite's ring: the snapshot's buffers in flight and the base file's fsync. */
#define AOF_BASE_RING_ENTRIES 8u
_Static_assert(SNAPSHOT_BUFFER_COUNT + 1u <= AOF_BASE_RING_ENTRIES, "base ring too small");

/* The longest path kv builds (dir, the AOF directory, a file name). */
#define AOF_PATH_BYTES 4096u

/* The longest file name: appendfilename (a parameter value) and ".<seq>.incr.aof". */
#define AOF_NAME_BYTES 512u

/* Incremental files a manifest may list (Redis keeps one per failed rewrite). */
#define AOF_INCR_FILES_MAX 64u

/* The manifest's bytes at most (its lines are at most AOF_NAME_BYTES and some words). */
#define AOF_MANIFEST_BYTES (64u * 1024u)

/* Log a persisting write error at most this often, as Redis's AOF_WRITE_LOG_ERROR_RATE. */
#define AOF_ERROR_LOG_MS 30000

/* Retry a failed write at most this often. */
#define AOF_RETRY_MS 100

/* An operation's user_data: the op in the low byte, above it the generation of the incr file
 * it is for (aof.generation when it was submitted): a completion is credited to the current
 * file or to the retiring one by it, since the switch happens while operations are in flight.
 * The manifest's chain carries its link's index there instead (a failed link's completion may
 * be reaped after the cancelled ones that follow it). Tag 0 is a synchronous operation's. */
enum aof_op {
    AOF_OP_WRITE = 1,
    AOF_OP_FSYNC = 2,
    AOF_OP_CLOSE = 3,          /* the retiring file's, linked to its last fsync */
    AOF_OP_MANIFEST = 4,       /* a link of the manifest's chain */
    AOF_OP_MANIFEST_CLOSE = 5, /* the temp manifest's or the directory's fd, after the chain */
    AOF_OP_UNLINK = 6,         /* an old file a rewrite's end deletes (its path slot above) */
};
#define AOF_OP_BITS 8u

/* Unlinks of old files in flight at once. A rewrite's end deletes the files its manifest no
 * longer lists off the loop's thread: unlinking a large file frees its blocks (47 ms for a
 * fsynced 128 MiB file on this ext4), as Redis's bg_unlink does in a thread. */
#define AOF_UNLINKS_IN_FLIGHT 2u
_Static_assert(AOF_UNLINKS_IN_FLIGHT == 2u, "deletions_advance picks one of two slots");

/* The sources of aof_last_write_status:err; it is ok again once none fails. */
enum aof_failing {
    AOF_FAILING_WRITE = 1u,    /* the current file's write (or everysec fsync) */
    AOF_FAILING_RETIRING = 2u, /* the retiring file's write or fsync */
    AOF_FAILING_MANIFEST = 4u, /* the manifest listing the new incr file */
};

/* The incr file a rewrite's start switched away from (Redis's aof_background_fsync_and_close):
 * its last bytes (still in the halves), an fsync and its close go out on the ring while the
 * new file is fed. One at a time: a rewrite does not start while one retires (it is
 * scheduled), since its bytes are the head of the halves and the stream's offsets before the
 * current file's origin are its. */
struct aof_retiring {
    int fd;                  /* -1: none */
    uint64_t origin;         /* stream offset of its byte 0 */
    uint64_t end_bytes;      /* what it holds once written: every byte fed before the switch */
    uint64_t written_bytes;  /* of which written by a completed write */
    uint64_t fsynced_bytes;  /* of which made durable by a completed fsync */
    uint64_t fsync_covered;  /* file bytes the fsync in flight makes durable */
    bool fsync_in_flight;
    bool close_in_flight;    /* after its fsync succeeded (or linked to its last write) */
};

/* The manifest listing the new incr file, written without waiting: open (synchronous, no
 * disk wait), then write -> fsync -> rename -> fsync of the directory as a chain in two
 * linked stages, then the two closes. The rename goes only once the first stage succeeded
 * (submitted from its last completion): a failed fsync, rename or unlink does not cancel the
 * operations linked after it on every kernel (6.18 runs them: only a read's or write's
 * failure breaks a link), so a temp file whose fsync failed must never be renamed in. Until
 * the chain succeeds, the new incr file's bytes are not credited as durable
 * (aof_synced_offset): a crash before it would find the old manifest, which does not list
 * them. A failed chain is retried (from the render) every AOF_RETRY_MS.
 *
 * A rewrite's end uses the same job for aof.end_manifest (the new base and the current incr
 * file), its chain led by the base's rename (temp name -> base name): rename -> write -> fsync
 * -> rename -> fsync of the directory. A crash before the manifest's rename finds the old
 * manifest and every old file (the new base, renamed or not, is listed by none); after it,
 * the new manifest and the new base. The old files are deleted only once the chain
 * completed (rewrite_end_settle, at the pass's end). It is tried once: a failure fails the
 * rewrite, as Redis's backgroundRewriteDoneHandler does, and the old manifest stays. */
enum { AOF_END_LINK_MANIFEST_RENAME = 3 }; /* the end chain's link renaming the manifest */
struct aof_manifest_job {
    char text[AOF_MANIFEST_BYTES]; /* aof.manifest (or end_manifest) rendered; the write's */
    uint32_t length;                   /* bytes of text */
    char temp[AOF_PATH_BYTES];     /* temp-<appendfilename>.manifest */
    char path[AOF_PATH_BYTES];     /* <appendfilename>.manifest */
    int fd;                            /* the temp file; -1: none open */
    int dir_fd;                        /* the AOF directory; -1: none open */
    uint32_t chain_pending;            /* links of the chain's stage on the ring (0..3) */
    uint32_t links_submitted;          /* links of the chain submitted, both stages (0..5) */
    uint32_t close_pending;            /* closes on the ring (0..2) */
    int status;                        /* the failed link's result (or the opens'), 0: none */
    int32_t failed_link;               /* the index of the link that failed; -1: none */
    bool wanted;                       /* aof.manifest is not known durable yet */
    bool end_wanted;                   /* the rewrite's end waits for its chain's turn */
    bool chain_end;                    /* the chain in flight (or unsettled) is the end's */
    bool end_settle;                   /* the end's chain is over: rewrite_end_settle runs */
    bool end_deleting;                 /* its old files go: then rewrite_end_report runs */
};
enum aof_fsync { AOF_FSYNC_NO = 0, AOF_FSYNC_ALWAYS = 1, AOF_FSYNC_EVERYSEC = 2 };

/* One half of the write buffer. */
struct aof_half {
    uint8_t *bytes;  /* AOF_WRITE_BUFFER_BYTES */
    uint32_t length; /* bytes held */
};

/* What the manifest lists. */
struct aof_manifest {
    char base[AOF_NAME_BYTES];             /* "" when none */
    uint64_t base_seq;
    char incr[AOF_INCR_FILES_MAX][AOF_NAME_BYTES];
    uint64_t incr_seq[AOF_INCR_FILES_MAX];
    uint32_t incr_count;
};

static struct {
    struct io_uring ring;
    bool ready;
    uint8_t *area;                 /* 2 x AOF_WRITE_BUFFER_BYTES: the halves, or the loader's */
    struct slice *args_fixed;      /* AOF_LOAD_ARGS_FIXED */
    uint8_t *reply_bytes;          /* AOF_REPLY_BYTES */
    struct aof_half halves[2];
    uint32_t fill_index;           /* the half commands fill */
    uint64_t handovers;            /* fills handed over to be written, ever */
    bool job;                      /* the other half holds bytes not yet written */
    bool job_in_flight;            /* its write is on the ring */
    bool job_fsync;                /* an fsync is linked to it (always) */
    uint32_t job_done;             /* of its bytes, written */
    bool fsync_in_flight;          /* the current file's */
    uint64_t fsync_covered;        /* file bytes the fsync in flight makes durable */
    uint32_t generation;           /* the current incr file's, + 1 at each switch (user_data) */
    uint32_t job_old_bytes;        /* of the job half, the head that is the retiring file's */
    uint32_t fill_old_bytes;       /* of the fill half, the head that is the retiring file's */
    struct aof_retiring retiring;  /* the file a rewrite's start switched away from */
    struct aof_manifest_job manifest_job;
    uint32_t failing;              /* enum aof_failing bits: what keeps last_write_errno */
    uint64_t error_count;          /* write_error calls, ever (a synchronous wait sees one) */
    int event_fd;                  /* eventfd the ring signals at each completion */
    uint64_t origin;               /* stream offset (aof_fed_offset) of the file's byte 0 */
    int64_t retry_ms;              /* a failed write is retried from then */
    int fd;                        /* the incremental file, -1: none */
    uint64_t file_bytes;           /* what it holds */
    uint64_t fsynced_bytes;        /* of which made durable by an fsync */
    int64_t selected_db;           /* the database the file's commands are in; -1: none yet */
    int64_t last_fsync_ms;
    int64_t last_error_log_ms;
    uint8_t fsync_policy;          /* enum aof_fsync */
    bool on;                       /* appendonly's files are open and fed */
    struct aof_manifest manifest;  /* the current one */
    uint64_t base_bytes;           /* the base file's size */
    uint64_t rewrite_base_bytes;   /* the AOF's size after the last rewrite (auto rewrite) */
    int32_t param_appendonly;
    int32_t param_appendfsync;
    struct propagate_aof_stats stats;
    struct cmd_context *context;   /* for replay and rewrite: the shared part */
    struct store *store;
    struct client client;          /* the replaying client */
    struct io_uring base_ring;     /* the rewrite's base file writes (the snapshot's sink) */
    uint32_t base_pending;         /* its operations in flight */
    int base_fd;                   /* the rewrite's temp base file; -1: no rewrite runs */
    bool rewrite_turning_on;       /* it makes CONFIG SET appendonly yes's files (unlisted) */
    int64_t rewrite_started_ms;    /* monotonic */
    char base_temp[AOF_PATH_BYTES];
    char base_path[AOF_PATH_BYTES];    /* the new base's name once the end's chain renames it */
    struct aof_manifest end_manifest;  /* the rewrite's end: the new base, the incr file */
    uint64_t end_keys_written;         /* the snapshot's figures, for the end's log line */
    uint64_t end_keys_early;
    uint64_t end_parts_early;
    struct aof_deletions {
        char names[AOF_INCR_FILES_MAX + 1u][AOF_NAME_BYTES]; /* an old base and incr files */
        uint32_t count;                  /* names queued by the last rewrite's end */
        uint32_t next_index;             /* the next to unlink; count: all submitted */
        uint32_t pending;                /* unlinks in flight (<= AOF_UNLINKS_IN_FLIGHT) */
        uint32_t slots_busy;             /* bit per path slot in flight */
        char paths[AOF_UNLINKS_IN_FLIGHT][AOF_PATH_BYTES];
    } deletions;                         /* the old files a rewrite's end deletes */
} aof;

static int64_t clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static const char *param(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0); /* a row of redis_param_table.h */
    return redis_param_value((uint32_t)row);
}

static uint8_t fsync_policy_read(void)
{
    const char *value = redis_param_value((uint32_t)aof.param_appendfsync);
    if (strcmp(value, "always") == 0) {
        return AOF_FSYNC_ALWAYS;
    }
    return strcmp(value, "no") == 0 ? AOF_FSYNC_NO : AOF_FSYNC_EVERYSEC;
}

static bool appendonly_read(void)
{
    return strcmp(redis_param_value((uint32_t)aof.param_appendonly), "yes") == 0;
}

/* ---- The ring, synchronous use (startup, rewrite, shutdown) ---- */

static struct io_uring_sqe *ring_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&aof.ring);
    KV_ASSERT(sqe != NULL); /* at most three operations in flight: the SQ has room */
    return sqe;
}

/* Completions of the asynchronous write and fsync; `wait`: at least one, blocking. */
static void reap(bool wait);

/* Submits one prepared synchronous operation (tagged 0) and waits for it: its result. The
 * asynchronous operations' completions met on the way are handled. */
static int ring_run(void)
{
    int status = io_uring_submit(&aof.ring);
    if (status < 0) {
        return status;
    }
    /* Bounded: each pass takes one completion; ours is among the few in flight. */
    for (;;) {
        struct io_uring_cqe *cqe = NULL;
        status = io_uring_wait_cqe(&aof.ring, &cqe);
        if (status < 0) {
            return status;
        }
        if (io_uring_cqe_get_data64(cqe) == 0) {
            int result = cqe->res;
            io_uring_cqe_seen(&aof.ring, cqe);
            return result;
        }
        reap(false);
    }
}

static int file_open(const char *path, int flags, mode_t mode)
{
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_openat(sqe, AT_FDCWD, path, flags | O_CLOEXEC, mode);
    io_uring_sqe_set_data64(sqe, 0);
    return ring_run();
}

static void file_close(int fd)
{
    KV_ASSERT(fd >= 0);
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, 0);
    (void)ring_run();
}

static int file_fsync(int fd)
{
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_fsync(sqe, fd, 0);
    io_uring_sqe_set_data64(sqe, 0);
    return ring_run();
}

static int file_rename(const char *source, const char *target)
{
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_renameat(sqe, AT_FDCWD, source, AT_FDCWD, target, 0);
    io_uring_sqe_set_data64(sqe, 0);
    return ring_run();
}

static int file_unlink(const char *path)
{
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_unlinkat(sqe, AT_FDCWD, path, 0);
    io_uring_sqe_set_data64(sqe, 0);
    return ring_run();
}

/* Writes all `length` bytes at `offset` (short writes continue). */
static int file_write(int fd, const uint8_t *bytes, uint64_t length, uint64_t offset)
{
    uint64_t done = 0;
    /* Bounded: each pass writes at least one byte or returns. */
    while (done < length) {
        uint64_t chunk = length - done > (1u << 30) ? (1u << 30) : length - done;
        struct io_uring_sqe *sqe = ring_sqe();
        io_uring_prep_write(sqe, fd, bytes + done, (unsigned)chunk, offset + done);
        io_uring_sqe_set_data64(sqe, 0);
        int written = ring_run();
        if (written < 0) {
            return written;
        }
        if (written == 0) {
            return -EIO;
        }
        done += (uint64_t)written;
    }
    return 0;
}

static int64_t file_read(int fd, uint8_t *bytes, uint64_t capacity, uint64_t offset)
{
    uint32_t wanted = capacity > (1u << 30) ? (1u << 30) : (uint32_t)capacity;
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_read(sqe, fd, bytes, wanted, offset);
    io_uring_sqe_set_data64(sqe, 0);
    return ring_run();
}

/* A file's size, or a negative errno. */
static int64_t file_size(const char *path)
{
    struct statx result;
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_statx(sqe, AT_FDCWD, path, 0, STATX_SIZE, &result);
    io_uring_sqe_set_data64(sqe, 0);
    int status = ring_run();
    return status < 0 ? status : (int64_t)result.stx_size;
}

static bool path_join(char *path, const char *dir, const char *name)
{
    return snprintf(path, AOF_PATH_BYTES, "%s/%s", dir, name) < (int)AOF_PATH_BYTES;
}

/* <dir>/<appenddirname>. */
static bool aof_dir(char *path)
{
    return snprintf(path, AOF_PATH_BYTES, "%s/%s", param("dir"), param("appenddirname")) <
           (int)AOF_PATH_BYTES;
}

static bool aof_path(char *path, const char *name)
{
    char dir[AOF_PATH_BYTES];
    return aof_dir(dir) && path_join(path, dir, name);
}

/* ---- Initialization ---- */

bool aof_init(struct region *region, char *error, uint32_t error_bytes)
{
    KV_ASSERT(!aof.ready);
    aof.area = region_carve(region, 2ull * AOF_WRITE_BUFFER_BYTES, 64);
    aof.args_fixed = region_carve(region, AOF_LOAD_ARGS_FIXED * sizeof(struct slice), 64);
    aof.reply_bytes = region_carve(region, AOF_REPLY_BYTES, 64);
    int status = io_uring_queue_init(AOF_RING_ENTRIES, &aof.ring, 0);
    if (status < 0) {
        snprintf(error, error_bytes, "aof: io_uring_queue_init: %s (raise RLIMIT_MEMLOCK?)",
                 strerror(-status));
        return false;
    }
    status = io_uring_queue_init(AOF_BASE_RING_ENTRIES, &aof.base_ring, 0);
    if (status < 0) {
        snprintf(error, error_bytes, "aof: io_uring_queue_init: %s (raise RLIMIT_MEMLOCK?)",
                 strerror(-status));
        return false;
    }
    aof.event_fd = eventfd(0, EFD_CLOEXEC);
    status = aof.event_fd < 0 ? -errno : io_uring_register_eventfd(&aof.ring, aof.event_fd);
    if (status < 0) {
        snprintf(error, error_bytes, "aof: an eventfd for the AOF's ring: %s", strerror(-status));
        return false;
    }
    aof.base_fd = -1;
    aof.generation = 1;
    aof.retiring.fd = -1;
    aof.manifest_job.fd = -1;
    aof.manifest_job.dir_fd = -1;
    aof.halves[0] = (struct aof_half){.bytes = aof.area};
    aof.halves[1] = (struct aof_half){.bytes = aof.area + AOF_WRITE_BUFFER_BYTES};
    aof.fd = -1;
    aof.selected_db = -1;
    aof.param_appendonly = redis_param_find("appendonly", 10);
    aof.param_appendfsync = redis_param_find("appendfsync", 11);
    KV_ASSERT(aof.param_appendonly >= 0 && aof.param_appendfsync >= 0);
    aof.stats = (struct propagate_aof_stats){.last_rewrite_time_sec = -1, .last_rewrite_ok = true};
    aof.ready = true;
    return true;
}

/* ---- Writing ---- */

static uint64_t tag(uint32_t generation, enum aof_op op)
{
    return ((uint64_t)generation << AOF_OP_BITS) | (uint64_t)op;
}

/* A failed write, fsync or manifest (`source`: enum aof_failing): logged at most every
 * AOF_ERROR_LOG_MS, aof_last_write_status:err (writes get -MISCONF) and a retry after
 * AOF_RETRY_MS; with appendfsync always, kv exits as Redis does. */
static void write_error(uint32_t source, int error)
{
    KV_ASSERT(error > 0);
    KV_ASSERT(source != 0);
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    if (aof.fsync_policy == AOF_FSYNC_ALWAYS) {
        log_warn("Can't recover from AOF write error when the AOF fsync policy is 'always'. "
                 "Exiting...");
        exit(1);
    }
    if (aof.stats.last_write_errno == 0 || now - aof.last_error_log_ms >= AOF_ERROR_LOG_MS) {
        log_warn("Error writing to the AOF file: %s", strerror(error));
        aof.last_error_log_ms = now;
    }
    aof.stats.last_write_errno = error;
    aof.failing |= source;
    aof.error_count++;
    aof.retry_ms = now + AOF_RETRY_MS;
}

/* What `source` failed at went through: the status is ok again once nothing fails. */
static void write_solved(uint32_t source)
{
    aof.failing &= ~source;
    if (aof.failing == 0 && aof.stats.last_write_errno != 0) {
        log_warn("AOF write error looks solved, Redis can write again.");
        aof.stats.last_write_errno = 0;
    }
}

/* Prepares an fsync that makes the file's first `covered` bytes durable (every write that
 * completed before it, or the write it is linked to); the caller submits. */
static void fsync_prepare(uint64_t covered)
{
    KV_ASSERT(!aof.fsync_in_flight); /* one at a time: on_fsync credits this coverage */
    KV_ASSERT(covered > aof.fsynced_bytes);
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_fsync(sqe, aof.fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, tag(aof.generation, AOF_OP_FSYNC));
    aof.fsync_in_flight = true;
    aof.fsync_covered = covered;
}

static void ring_submit(void)
{
    int status = io_uring_submit(&aof.ring);
    KV_ASSERT(status >= 0 || status == -EINTR || status == -EAGAIN);
}

/* The retiring file's end: an fsync of its bytes not yet durable (a full fsync, as Redis's
 * background one: the file's size is metadata a reader needs), or, once they are, its close.
 * The close is not linked to the fsync: a failed fsync does not cancel what is linked after
 * it on every kernel (6.18 runs it), and the fd must stay to retry with; on_retiring_fsync
 * submits the close. After the file's last write when `sqe_before` links to it (a short or
 * failed write cancels what follows); the caller submits. */
static void retiring_end_prepare(struct io_uring_sqe *sqe_before)
{
    struct aof_retiring *retiring = &aof.retiring;
    KV_ASSERT(retiring->fd >= 0 && !retiring->fsync_in_flight && !retiring->close_in_flight);
    uint32_t generation = aof.generation - 1u;
    if (sqe_before != NULL) {
        sqe_before->flags |= IOSQE_IO_LINK;
    }
    struct io_uring_sqe *sqe = ring_sqe();
    if (retiring->fsynced_bytes < retiring->end_bytes) {
        io_uring_prep_fsync(sqe, retiring->fd, 0);
        io_uring_sqe_set_data64(sqe, tag(generation, AOF_OP_FSYNC));
        retiring->fsync_in_flight = true;
        retiring->fsync_covered = retiring->end_bytes;
        return;
    }
    io_uring_prep_close(sqe, retiring->fd);
    io_uring_sqe_set_data64(sqe, tag(generation, AOF_OP_CLOSE));
    retiring->close_in_flight = true;
}

/* Writes the job's unwritten bytes: the retiring file's head of the half first (with the
 * file's fsync and close linked after its last bytes), else the current file's; `with_fsync`:
 * an fsync of the current file linked to its write (when none is in flight already), which
 * a short or failed write cancels. One write in flight at a time, in stream order. */
static void job_submit(bool with_fsync)
{
    KV_ASSERT(aof.job && !aof.job_in_flight);
    KV_ASSERT(aof.fd >= 0);
    struct aof_half *half = &aof.halves[aof.fill_index ^ 1u];
    KV_ASSERT(aof.job_done < half->length);
    if (aof.job_done < aof.job_old_bytes) {
        struct aof_retiring *retiring = &aof.retiring;
        uint32_t length = aof.job_old_bytes - aof.job_done;
        bool last = aof.fill_old_bytes == 0;
        KV_ASSERT(retiring->fd >= 0);
        KV_ASSERT(last == (retiring->written_bytes + length == retiring->end_bytes));
        struct io_uring_sqe *sqe = ring_sqe();
        io_uring_prep_write(sqe, retiring->fd, half->bytes + aof.job_done, length,
                            retiring->written_bytes);
        io_uring_sqe_set_data64(sqe, tag(aof.generation - 1u, AOF_OP_WRITE));
        aof.job_in_flight = true;
        aof.job_fsync = false;
        if (last && !retiring->fsync_in_flight) {
            retiring_end_prepare(sqe);
        }
        ring_submit();
        return;
    }
    uint32_t length = half->length - aof.job_done;
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_write(sqe, aof.fd, half->bytes + aof.job_done, length, aof.file_bytes);
    io_uring_sqe_set_data64(sqe, tag(aof.generation, AOF_OP_WRITE));
    aof.job_in_flight = true;
    aof.job_fsync = with_fsync && !aof.fsync_in_flight;
    if (aof.job_fsync) {
        sqe->flags |= IOSQE_IO_LINK;
        fsync_prepare(aof.file_bytes + length);
    }
    ring_submit();
}

/* The job's write completed; `retiring`: it was the retiring file's. */
static void on_write(int result, bool retiring)
{
    KV_ASSERT(aof.job_in_flight);
    aof.job_in_flight = false;
    struct aof_half *half = &aof.halves[aof.fill_index ^ 1u];
    if (result <= 0) {
        write_error(retiring ? AOF_FAILING_RETIRING : AOF_FAILING_WRITE,
                    result < 0 ? -result : ENOSPC);
        return;
    }
    aof.job_done += (uint32_t)result;
    if (retiring) {
        KV_ASSERT(aof.job_done <= aof.job_old_bytes);
        aof.retiring.written_bytes += (uint64_t)result;
        KV_ASSERT(aof.retiring.written_bytes <= aof.retiring.end_bytes);
        if (aof.job_done == aof.job_old_bytes) {
            write_solved(AOF_FAILING_RETIRING); /* its fsync, retried until done, may set it */
        }
    } else {
        aof.file_bytes += (uint64_t)result;
    }
    aof.stats.current_size += (uint64_t)result;
    KV_ASSERT(aof.job_done <= half->length);
    if (aof.job_done == half->length) {
        write_solved(AOF_FAILING_WRITE);
        half->length = 0;
        aof.job = false;
        aof.job_done = 0;
        aof.job_old_bytes = 0;
    }
}

static void on_fsync(int result, uint64_t covered)
{
    KV_ASSERT(aof.fsync_in_flight);
    aof.fsync_in_flight = false;
    if (result == -ECANCELED) {
        return; /* its write was short: the next fsync covers it */
    }
    if (result < 0) {
        if (aof.fsync_policy == AOF_FSYNC_ALWAYS) {
            log_warn("Can't persist AOF for fsync error when the AOF fsync policy is 'always': "
                     "%s. Exiting...", strerror(-result));
            exit(1);
        }
        write_error(AOF_FAILING_WRITE, -result);
        return;
    }
    aof.fsynced_bytes = covered > aof.fsynced_bytes ? covered : aof.fsynced_bytes;
}

/* The retiring file's fsync completed: its bytes count as durable (aof_synced_offset moves
 * past them into the current file); a failure is reported as the current file's are, and
 * retried (its close was cancelled: the fd stays). */
static void on_retiring_fsync(int result)
{
    struct aof_retiring *retiring = &aof.retiring;
    KV_ASSERT(retiring->fd >= 0 && retiring->fsync_in_flight);
    retiring->fsync_in_flight = false;
    if (result == -ECANCELED) {
        return; /* its write was short or failed: the retry links another */
    }
    if (result < 0) {
        if (aof.fsync_policy == AOF_FSYNC_ALWAYS) {
            log_warn("Can't persist AOF for fsync error when the AOF fsync policy is 'always': "
                     "%s. Exiting...", strerror(-result));
            exit(1);
        }
        write_error(AOF_FAILING_RETIRING, -result);
        return;
    }
    if (retiring->fsync_covered > retiring->fsynced_bytes) {
        retiring->fsynced_bytes = retiring->fsync_covered;
    }
    write_solved(AOF_FAILING_RETIRING);
    if (retiring->written_bytes == retiring->end_bytes &&
        retiring->fsynced_bytes >= retiring->end_bytes && !retiring->close_in_flight) {
        retiring_end_prepare(NULL); /* its close, now that it is durable */
        ring_submit();
    }
}

/* The retiring file's close (after its fsync): it is done with. */
static void on_retiring_close(int result)
{
    struct aof_retiring *retiring = &aof.retiring;
    KV_ASSERT(retiring->fd >= 0 && retiring->close_in_flight);
    retiring->close_in_flight = false;
    if (result == -ECANCELED) {
        return; /* linked to a write that failed or was short: the fd stays for the retry */
    }
    KV_ASSERT(result != -EBADF); /* ours, closed once */
    KV_ASSERT(retiring->written_bytes == retiring->end_bytes);
    KV_ASSERT(retiring->fsynced_bytes >= retiring->end_bytes);
    retiring->fd = -1; /* a failed close (EIO) released the fd too; its data was fsynced */
}

static void manifest_rename_submit(void);

/* A link of the manifest's chain completed (or was cancelled by an earlier one's failure):
 * the first link that failed is the one whose index is lowest (those after it are cancelled). */
static void on_manifest(int result, uint32_t link)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    KV_ASSERT(job->chain_pending > 0 && job->fd >= 0);
    KV_ASSERT(link < 5u);
    job->chain_pending--;
    if (result < 0 && (job->failed_link < 0 || (int32_t)link < job->failed_link)) {
        job->status = result;
        job->failed_link = (int32_t)link;
    }
    if (job->chain_pending > 0) {
        return;
    }
    if (job->status == 0 && job->links_submitted < (job->chain_end ? 5u : 4u)) {
        manifest_rename_submit(); /* the first stage is durable: the rename may go */
        return;
    }
    if (job->chain_end) {
        job->end_settle = true; /* the pass's end deletes the old files (or the new base) */
        return;
    }
    if (job->status != 0) {
        log_warn("Failed to persist the AOF manifest %s: %s", job->path,
                 strerror(-job->status));
        write_error(AOF_FAILING_MANIFEST, -job->status); /* retried from the pass's end */
        return;
    }
    job->wanted = false; /* the new incr file is listed, durably: its fsyncs count */
    write_solved(AOF_FAILING_MANIFEST);
}

/* An old file's unlink completed (its slot, in the tag's generation field, is free again). */
static void on_unlink(int result, uint32_t slot)
{
    struct aof_deletions *deletions = &aof.deletions;
    KV_ASSERT(slot < AOF_UNLINKS_IN_FLIGHT && (deletions->slots_busy & (1u << slot)) != 0);
    KV_ASSERT(deletions->pending > 0);
    deletions->slots_busy &= ~(1u << slot);
    deletions->pending--;
    if (result < 0 && result != -ENOENT) {
        log_warn("Failed to remove the history file %s: %s", deletions->paths[slot],
                 strerror(-result));
    }
}

static void reap(bool wait)
{
    struct io_uring_cqe *cqe = NULL;
    if (wait) {
        int status = io_uring_wait_cqe(&aof.ring, &cqe);
        KV_ASSERT(status == 0 || status == -EINTR);
    }
    /* Bounded: at most the operations in flight (AOF_RING_ENTRIES). */
    for (uint32_t seen = 0; seen < AOF_RING_ENTRIES && io_uring_peek_cqe(&aof.ring, &cqe) == 0;
         seen++) {
        uint64_t data = io_uring_cqe_get_data64(cqe);
        if (data == 0) {
            return; /* a synchronous operation's: ring_run takes it */
        }
        int result = cqe->res;
        io_uring_cqe_seen(&aof.ring, cqe);
        uint32_t op = (uint32_t)(data & ((1u << AOF_OP_BITS) - 1u));
        uint32_t generation = (uint32_t)(data >> AOF_OP_BITS);
        if (op == AOF_OP_MANIFEST) {
            on_manifest(result, generation);
            continue;
        }
        if (op == AOF_OP_MANIFEST_CLOSE) {
            KV_ASSERT(aof.manifest_job.close_pending > 0);
            aof.manifest_job.close_pending--;
            continue;
        }
        if (op == AOF_OP_UNLINK) {
            on_unlink(result, generation);
            continue;
        }
        /* The current file's, or the retiring one's (the one before it). */
        bool retiring = generation != aof.generation;
        KV_ASSERT(!retiring || generation + 1u == aof.generation);
        if (op == AOF_OP_WRITE) {
            on_write(result, retiring);
        } else if (op == AOF_OP_CLOSE) {
            KV_ASSERT(retiring);
            on_retiring_close(result);
        } else if (retiring) {
            KV_ASSERT(op == AOF_OP_FSYNC);
            on_retiring_fsync(result);
        } else {
            KV_ASSERT(op == AOF_OP_FSYNC);
            on_fsync(result, aof.fsync_covered);
        }
    }
}

/* ---- The old files' deletion ---- */

static void rewrite_end_report(void);

static bool deletions_busy(void)
{
    const struct aof_deletions *deletions = &aof.deletions;
    return deletions->next_index < deletions->count || deletions->pending > 0;
}

/* Queues the files of `old` that `current` does not list (Redis's history files), logged as
 * Redis logs them; deletions_advance unlinks them on the ring. */
static void deletions_queue(const struct aof_manifest *old, const struct aof_manifest *current)
{
    struct aof_deletions *deletions = &aof.deletions;
    KV_ASSERT(!deletions_busy()); /* a rewrite starts only once the last one's went */
    deletions->count = 0;
    deletions->next_index = 0;
    if (old->base[0] != '\0' && strcmp(old->base, current->base) != 0) {
        memcpy(deletions->names[deletions->count++], old->base, AOF_NAME_BYTES);
    }
    /* Bounded by AOF_INCR_FILES_MAX (names holds one more: the base). */
    for (uint32_t index = 0; index < old->incr_count; index++) {
        bool kept = current->incr_count > 0 && strcmp(old->incr[index], current->incr[0]) == 0;
        if (!kept) {
            memcpy(deletions->names[deletions->count++], old->incr[index], AOF_NAME_BYTES);
        }
    }
    KV_ASSERT(deletions->count <= AOF_INCR_FILES_MAX + 1u);
    /* Bounded by the names just queued. */
    for (uint32_t index = 0; index < deletions->count; index++) {
        log_info("Removing the history file %s in the background", deletions->names[index]);
    }
}

/* Submits the queued unlinks, AOF_UNLINKS_IN_FLIGHT at a time, without waiting. */
static void deletions_advance(void)
{
    struct aof_deletions *deletions = &aof.deletions;
    bool submitted = false;
    /* Bounded: AOF_UNLINKS_IN_FLIGHT slots. */
    while (deletions->pending < AOF_UNLINKS_IN_FLIGHT &&
           deletions->next_index < deletions->count) {
        uint32_t slot = (deletions->slots_busy & 1u) == 0 ? 0u : 1u;
        KV_ASSERT((deletions->slots_busy & (1u << slot)) == 0);
        const char *name = deletions->names[deletions->next_index++];
        if (!aof_path(deletions->paths[slot], name)) {
            continue; /* no such path can be a listed file's */
        }
        struct io_uring_sqe *sqe = ring_sqe();
        io_uring_prep_unlinkat(sqe, AT_FDCWD, deletions->paths[slot], 0);
        io_uring_sqe_set_data64(sqe, tag(slot, AOF_OP_UNLINK));
        deletions->slots_busy |= 1u << slot;
        deletions->pending++;
        submitted = true;
    }
    if (submitted) {
        ring_submit();
    }
    if (aof.manifest_job.end_deleting && !deletions_busy()) {
        rewrite_end_report();
    }
}

/* Unlinks what is queued, waiting (shutdown, turning the AOF off): no file is left behind
 * that no manifest lists. */
static void deletions_wait(void)
{
    /* Bounded: each pass submits or completes one of at most AOF_INCR_FILES_MAX + 1. */
    while (deletions_busy()) {
        deletions_advance();
        if (aof.deletions.pending > 0) {
            reap(true);
        }
    }
    deletions_advance(); /* the end's report */
}

/* Waits until no write is in flight. */
static void job_wait(void)
{
    /* Bounded: a write completes (or fails) and is not resubmitted here. */
    while (aof.job_in_flight) {
        reap(true);
    }
}

/* The fill half becomes the job (the other half is free). */
static void fill_hand_over(void)
{
    KV_ASSERT(!aof.job);
    KV_ASSERT(aof.halves[aof.fill_index].length > 0);
    aof.fill_index ^= 1u;
    aof.handovers++;
    aof.job = true;
    aof.job_done = 0;
    aof.job_old_bytes = aof.fill_old_bytes; /* the retiring file's head goes with it */
    aof.fill_old_bytes = 0;
    KV_ASSERT(aof.halves[aof.fill_index].length == 0);
}

/* The fill half is full: waits for the job to be written, then hands the half over. */
static void fill_full(void)
{
    /* Bounded by the write errors: each retry waits AOF_RETRY_MS; with a full disk a command
     * that fills a whole half waits until the disk has room (Redis's write blocks too). */
    while (aof.job) {
        aof.stats.delayed_fsync++;
        if (!aof.job_in_flight) {
            int64_t now = clock_ms(CLOCK_MONOTONIC);
            if (now < aof.retry_ms) {
                struct timespec pause = {.tv_nsec = (long)(aof.retry_ms - now) * 1000000L};
                nanosleep(&pause, NULL);
            }
            job_submit(false);
        }
        job_wait();
    }
    fill_hand_over();
    job_submit(false);
}

static void emit(const uint8_t *bytes, uint64_t length)
{
    KV_ASSERT(aof.on);
    /* Bounded: each pass copies into the fill half until it is full. */
    while (length > 0) {
        struct aof_half *half = &aof.halves[aof.fill_index];
        if (half->length == AOF_WRITE_BUFFER_BYTES) {
            fill_full();
            continue;
        }
        uint64_t room = AOF_WRITE_BUFFER_BYTES - half->length;
        uint64_t chunk = length < room ? length : room;
        memcpy(half->bytes + half->length, bytes, chunk);
        half->length += (uint32_t)chunk;
        bytes += chunk;
        length -= chunk;
    }
}

static void emit_header(uint8_t type, uint64_t number)
{
    char text[2 + NUMBER_INT64_BYTES + 2];
    text[0] = (char)type;
    uint32_t length = 1 + number_format_uint64(number, text + 1);
    text[length++] = '\r';
    text[length++] = '\n';
    emit((const uint8_t *)text, length);
}

static void sink_arg(void *context, struct slice arg)
{
    (void)context;
    emit_header('$', arg.length);
    emit(arg.bytes, arg.length);
    emit((const uint8_t *)"\r\n", 2);
}

/* SELECT when the database changes, as Redis's feedAppendOnlyFile. */
static void sink_select(void *context, uint32_t db_index)
{
    if ((int64_t)db_index != aof.selected_db) {
        char text[NUMBER_INT64_BYTES];
        uint32_t length = number_format_uint64(db_index, text);
        emit_header('*', 2);
        sink_arg(context, (struct slice){.bytes = (const uint8_t *)"SELECT", .length = 6});
        sink_arg(context, (struct slice){.bytes = (const uint8_t *)text, .length = length});
        aof.selected_db = db_index;
    }
    KV_ASSERT(aof.selected_db == (int64_t)db_index);
}

static void sink_begin(void *context, uint32_t db_index, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    sink_select(context, db_index);
    emit_header('*', arg_count);
}

#define AOF_MULTI_TEXT "*1\r\n$5\r\nMULTI\r\n"
#define AOF_EXEC_TEXT "*1\r\n$4\r\nEXEC\r\n"

/* Where the last MULTI went: its offset in the fill half, and the hand-overs then. */
static uint32_t multi_offset;
static uint64_t multi_handovers;

static void sink_multi(void *context, uint32_t db_index)
{
    sink_select(context, db_index);
    multi_offset = aof.halves[aof.fill_index].length;
    KV_ASSERT(multi_offset >= aof.fill_old_bytes); /* no switch inside a transaction */
    multi_handovers = aof.handovers;
    emit((const uint8_t *)AOF_MULTI_TEXT, sizeof(AOF_MULTI_TEXT) - 1);
}

static void sink_exec(void *context, uint32_t command_count)
{
    (void)context;
    struct aof_half *fill = &aof.halves[aof.fill_index];
    uint32_t multi_bytes = sizeof(AOF_MULTI_TEXT) - 1;
    if (command_count == 1 && multi_handovers == aof.handovers) {
        /* The MULTI and its one command are still in the fill half: the MULTI goes. */
        KV_ASSERT(fill->length >= multi_offset + multi_bytes);
        KV_ASSERT(memcmp(fill->bytes + multi_offset, AOF_MULTI_TEXT, multi_bytes) == 0);
        memmove(fill->bytes + multi_offset, fill->bytes + multi_offset + multi_bytes,
                fill->length - multi_offset - multi_bytes);
        fill->length -= multi_bytes;
        return;
    }
    emit((const uint8_t *)AOF_EXEC_TEXT, sizeof(AOF_EXEC_TEXT) - 1);
}

/* The retiring file's bytes not yet written: the head of the job half and of the fill half. */
static uint64_t retiring_pending(void)
{
    uint64_t pending = aof.fill_old_bytes;
    if (aof.job && aof.job_done < aof.job_old_bytes) {
        pending += aof.job_old_bytes - aof.job_done;
    }
    KV_ASSERT(aof.retiring.fd >= 0 || pending == 0);
    KV_ASSERT(aof.retiring.fd < 0 ||
              aof.retiring.written_bytes + pending == aof.retiring.end_bytes);
    return pending;
}

/* Whether the retiring file's bytes are all durable (or none retires). */
static bool retiring_synced(void)
{
    const struct aof_retiring *retiring = &aof.retiring;
    return retiring->fd < 0 || (retiring->written_bytes == retiring->end_bytes &&
                                retiring->fsynced_bytes >= retiring->end_bytes);
}

/*
 * Propagation goes to the new, empty incr file `fd` from now on, without waiting for
 * anything: the bytes fed so far (in the halves, a write or an fsync maybe in flight) are
 * the old file's, which retires (aof.retiring): they go out in stream order before the new
 * file's, then its fsync and close (job_submit, retiring_advance). The stream's offsets go
 * on from the old file's end, so the replies' stamps keep their meaning. One file retires at
 * a time (callers check retiring_busy).
 */
static void file_switch(int fd)
{
    KV_ASSERT(fd >= 0);
    /* The last retiring file's bytes are all written (it closed): the job half's head may
     * still be its, written, which job_done has passed. */
    KV_ASSERT(aof.retiring.fd < 0 && aof.fill_old_bytes == 0);
    KV_ASSERT(!aof.job || aof.job_done >= aof.job_old_bytes);
    uint64_t end_bytes = aof.file_bytes;
    if (aof.fd >= 0) {
        uint32_t job_bytes = aof.job ? aof.halves[aof.fill_index ^ 1u].length : 0;
        aof.job_old_bytes = job_bytes;
        aof.fill_old_bytes = aof.halves[aof.fill_index].length;
        end_bytes += (uint64_t)(job_bytes - (aof.job ? aof.job_done : 0)) + aof.fill_old_bytes;
        aof.retiring = (struct aof_retiring){
            .fd = aof.fd, .origin = aof.origin, .end_bytes = end_bytes,
            .written_bytes = aof.file_bytes, .fsynced_bytes = aof.fsynced_bytes,
            .fsync_covered = aof.fsync_covered, .fsync_in_flight = aof.fsync_in_flight};
    }
    aof.origin += end_bytes;
    aof.generation++; /* what is in flight now is the retiring file's */
    aof.fd = fd;
    aof.file_bytes = 0;
    aof.fsynced_bytes = 0;
    aof.fsync_in_flight = false;
    KV_ASSERT(aof.origin + retiring_pending() + aof.halves[aof.fill_index].length >=
              aof.origin); /* no wrap */
}

/* A rewrite waits while a file retires, the manifest is being persisted or the last
 * rewrite's old files are being deleted. */
static bool manifest_busy(void);
static bool retiring_busy(void)
{
    return aof.retiring.fd >= 0 || manifest_busy() || deletions_busy();
}

/* Submits the retiring file's next operation when none of its is in flight: its bytes at the
 * head of the halves first (job_submit links its end after the last), then its end alone
 * (an fsync moved to it at the switch completed, or a failed one is retried). `force`: even
 * before a failure's retry time (a synchronous drain). */
static void retiring_advance(int64_t now, bool force)
{
    struct aof_retiring *retiring = &aof.retiring;
    if (retiring->fd < 0 || aof.job_in_flight || retiring->fsync_in_flight ||
        retiring->close_in_flight || (!force && now < aof.retry_ms)) {
        return;
    }
    if (aof.job && aof.job_done < aof.job_old_bytes) {
        job_submit(false);
        return;
    }
    if (aof.fill_old_bytes > 0) {
        if (!aof.job) {
            fill_hand_over();
            job_submit(false);
        }
        return; /* else the job's rest (the current file's) goes first, at the pass's end */
    }
    KV_ASSERT(retiring->written_bytes == retiring->end_bytes);
    retiring_end_prepare(NULL);
    ring_submit();
}

/* Waits until the retiring file is written, fsynced and closed (a drain: turning the AOF off,
 * shutdown): 0, or the errno of a failure met on the way (its bytes stay for a retry). */
static int retiring_wait(void)
{
    uint64_t errors = aof.error_count;
    /* Bounded: each pass completes one of its operations (bytes of a bounded half, an fsync, a
     * close), or returns at a failure. */
    while (aof.retiring.fd >= 0) {
        /* When the fill half holds the file's bytes, the job half (if any) is all its own. */
        KV_ASSERT(aof.fill_old_bytes == 0 || !aof.job ||
                  aof.job_old_bytes == aof.halves[aof.fill_index ^ 1u].length);
        retiring_advance(0, true);
        KV_ASSERT(aof.job_in_flight || aof.retiring.fsync_in_flight ||
                  aof.retiring.close_in_flight);
        reap(true);
        if (aof.error_count != errors) {
            return -aof.stats.last_write_errno;
        }
    }
    return 0;
}

static int manifest_wait(void);

/* Writes what the buffers hold and fsyncs it, waiting (shutdown, turning off): the retiring
 * file first, and the manifest being persisted. */
static int drain(void)
{
    int status = retiring_wait();
    status = status == 0 ? manifest_wait() : status;
    if (status != 0) {
        return status;
    }
    deletions_wait(); /* a rewrite's end settled by the wait above queues them */
    job_wait();
    if (aof.job) {
        status = file_write(aof.fd, aof.halves[aof.fill_index ^ 1u].bytes + aof.job_done,
                            aof.halves[aof.fill_index ^ 1u].length - aof.job_done,
                            aof.file_bytes);
        if (status < 0) {
            return status;
        }
        aof.file_bytes += aof.halves[aof.fill_index ^ 1u].length - aof.job_done;
        aof.stats.current_size += aof.halves[aof.fill_index ^ 1u].length - aof.job_done;
        aof.halves[aof.fill_index ^ 1u].length = 0;
        aof.job = false;
        aof.job_done = 0;
        aof.job_old_bytes = 0;
    }
    struct aof_half *fill = &aof.halves[aof.fill_index];
    if (fill->length > 0) {
        status = file_write(aof.fd, fill->bytes, fill->length, aof.file_bytes);
        if (status < 0) {
            return status;
        }
        aof.file_bytes += fill->length;
        aof.stats.current_size += fill->length;
        fill->length = 0;
    }
    /* Bounded: an fsync in flight completes. */
    while (aof.fsync_in_flight) {
        reap(true);
    }
    status = file_fsync(aof.fd);
    if (status == 0) {
        aof.fsynced_bytes = aof.file_bytes;
        aof.last_fsync_ms = clock_ms(CLOCK_MONOTONIC);
    }
    return status;
}

/* ---- The manifest ---- */

/* Parses "file <name> seq <n> type <b|h|i>" lines (Redis's aofLoadManifestFromFile, names
 * without spaces or quotes). False on a line kv cannot read. */
static bool manifest_parse(const char *text, uint64_t length, struct aof_manifest *manifest)
{
    memset(manifest, 0, sizeof(*manifest));
    uint64_t at = 0;
    uint32_t line_number = 0;
    /* Bounded by the text's bytes: each pass takes one line. */
    while (at < length) {
        const char *line = text + at;
        const char *end = memchr(line, '\n', length - at);
        uint64_t line_bytes = end != NULL ? (uint64_t)(end - line) : length - at;
        at += line_bytes + 1;
        line_number++;
        if (line_bytes == 0 || line[0] == '#') {
            continue;
        }
        char copy[AOF_NAME_BYTES + 128];
        if (line_bytes >= sizeof(copy)) {
            log_warn("Reading the manifest file, at line %u", line_number);
            return false;
        }
        memcpy(copy, line, line_bytes);
        copy[line_bytes] = '\0';
        char name[AOF_NAME_BYTES] = "";
        char type = 0;
        unsigned long long seq = 0;
        char *save = NULL;
        /* Bounded by the line's words. */
        for (char *key = strtok_r(copy, " \r", &save); key != NULL;
             key = strtok_r(NULL, " \r", &save)) {
            char *value = strtok_r(NULL, " \r", &save);
            if (value == NULL) {
                log_warn("Reading the manifest file, at line %u", line_number);
                return false;
            }
            if (strcmp(key, "file") == 0 && strlen(value) < sizeof(name)) {
                strcpy(name, value);
            } else if (strcmp(key, "seq") == 0) {
                seq = strtoull(value, NULL, 10);
            } else if (strcmp(key, "type") == 0) {
                type = value[0];
            }
        }
        if (name[0] == '\0' || type == 0) {
            log_warn("Reading the manifest file, at line %u", line_number);
            return false;
        }
        if (type == 'b') {
            strcpy(manifest->base, name);
            manifest->base_seq = seq;
        } else if (type == 'i') {
            if (manifest->incr_count == AOF_INCR_FILES_MAX) {
                log_warn("The manifest lists more than %u incr files", AOF_INCR_FILES_MAX);
                return false;
            }
            strcpy(manifest->incr[manifest->incr_count], name);
            manifest->incr_seq[manifest->incr_count++] = seq;
        }
        /* history files ('h') are Redis's to delete: kv leaves them */
    }
    return true;
}

/* The manifest's text into text (AOF_MANIFEST_BYTES), and its temp and final paths. */
static int manifest_render(const struct aof_manifest *manifest, char *text, uint32_t *length,
                           char *temp, char *path)
{
    uint64_t at = 0;
    if (manifest->base[0] != '\0') {
        at += (uint64_t)snprintf(text + at, AOF_MANIFEST_BYTES - at,
                                 "file %s seq %" PRIu64 " type b\n", manifest->base,
                                 manifest->base_seq);
    }
    /* Bounded by AOF_INCR_FILES_MAX. */
    for (uint32_t index = 0; index < manifest->incr_count && at < AOF_MANIFEST_BYTES; index++) {
        at += (uint64_t)snprintf(text + at, AOF_MANIFEST_BYTES - at,
                                 "file %s seq %" PRIu64 " type i\n", manifest->incr[index],
                                 manifest->incr_seq[index]);
    }
    if (at >= AOF_MANIFEST_BYTES) {
        return -ENAMETOOLONG;
    }
    *length = (uint32_t)at;
    char name[AOF_NAME_BYTES];
    snprintf(name, sizeof(name), "temp-%s.manifest", param("appendfilename"));
    if (!aof_path(temp, name)) {
        return -ENAMETOOLONG;
    }
    snprintf(name, sizeof(name), "%s.manifest", param("appendfilename"));
    return aof_path(path, name) ? 0 : -ENAMETOOLONG;
}

/* Writes the manifest, waiting: temp file, fsync, rename, fsync of the directory. */
static int manifest_write(const struct aof_manifest *manifest)
{
    /* The temp file is the job's while its chain runs. */
    KV_ASSERT(aof.manifest_job.fd < 0 && aof.manifest_job.close_pending == 0);
    char text[AOF_MANIFEST_BYTES];
    uint32_t length = 0;
    char temp[AOF_PATH_BYTES];
    char path[AOF_PATH_BYTES];
    int status = manifest_render(manifest, text, &length, temp, path);
    if (status != 0) {
        return status;
    }
    int fd = file_open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return fd;
    }
    status = file_write(fd, (const uint8_t *)text, length, 0);
    status = status == 0 ? file_fsync(fd) : status;
    file_close(fd);
    status = status == 0 ? file_rename(temp, path) : status;
    if (status == 0) {
        char dir[AOF_PATH_BYTES];
        (void)aof_dir(dir);
        int dir_fd = file_open(dir, O_RDONLY | O_DIRECTORY, 0);
        if (dir_fd >= 0) {
            (void)file_fsync(dir_fd);
            file_close(dir_fd);
        }
    }
    return status;
}

static bool manifest_busy(void)
{
    const struct aof_manifest_job *job = &aof.manifest_job;
    return job->wanted || job->end_wanted || job->end_settle || job->fd >= 0 ||
           job->close_pending > 0;
}

/* A rewrite's end is waiting for its manifest (aof_rewrite_in_progress stays 1 meanwhile). */
static bool rewrite_ending(void)
{
    const struct aof_manifest_job *job = &aof.manifest_job;
    return job->end_wanted || job->chain_end || job->end_deleting;
}

static void rewrite_end_settle(void);

/* One link of the manifest's chain, its index in the tag (a prep keeps user_data but clears
 * the flags: the caller links it after the prep); the caller submits. */
static struct io_uring_sqe *manifest_link(uint32_t *link)
{
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_sqe_set_data64(sqe, tag(*link, AOF_OP_MANIFEST));
    (*link)++;
    return sqe;
}

/* Starts persisting aof.manifest (or, at a rewrite's end, aof.end_manifest, the base's rename
 * first) without waiting (the job, above): the two opens now (no disk wait), the linked chain
 * on the ring. A failure to open is retried as the chain's; the end's fails the rewrite. */
static void manifest_submit(void)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    bool end = job->end_wanted;
    KV_ASSERT((job->wanted || end) && job->fd < 0 && job->dir_fd < 0);
    /* The files it lists before the new one are whole; the end's lists the base instead. */
    KV_ASSERT(end || retiring_synced());
    KV_ASSERT(job->chain_pending == 0 && job->close_pending == 0 && !job->end_settle);
    job->end_wanted = false;
    job->chain_end = end;
    job->status = 0;
    job->failed_link = -1;
    char dir[AOF_PATH_BYTES];
    int status = manifest_render(end ? &aof.end_manifest : &aof.manifest, job->text,
                                 &job->length, job->temp, job->path);
    status = status == 0 && !aof_dir(dir) ? -ENAMETOOLONG : status;
    if (status == 0) {
        job->fd = file_open(job->temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        status = job->fd < 0 ? job->fd : 0;
        job->fd = job->fd < 0 ? -1 : job->fd;
    }
    if (status == 0) {
        job->dir_fd = file_open(dir, O_RDONLY | O_DIRECTORY, 0);
        status = job->dir_fd < 0 ? job->dir_fd : 0;
        job->dir_fd = job->dir_fd < 0 ? -1 : job->dir_fd;
    }
    if (status != 0) {
        if (job->fd >= 0) {
            file_close(job->fd);
            job->fd = -1;
        }
        log_warn("Failed to persist the AOF manifest: %s", strerror(-status));
        job->status = status;
        if (end) {
            job->end_settle = true; /* failed_link stays -1: nothing was renamed */
            return;
        }
        write_error(AOF_FAILING_MANIFEST, -status);
        return;
    }
    /* The first stage: the base's rename (the end's), the temp file's write and fsync. A
     * short or failed write cancels the fsync; the base's rename and the fsync are checked
     * at their completions (on_manifest) before the second stage goes. */
    uint32_t link = 0;
    struct io_uring_sqe *sqe = NULL;
    if (end) {
        sqe = manifest_link(&link);
        io_uring_prep_renameat(sqe, AT_FDCWD, aof.base_temp, AT_FDCWD, aof.base_path, 0);
    }
    sqe = manifest_link(&link);
    io_uring_prep_write(sqe, job->fd, job->text, job->length, 0);
    sqe->flags |= IOSQE_IO_LINK;
    sqe = manifest_link(&link);
    io_uring_prep_fsync(sqe, job->fd, 0);
    KV_ASSERT(!end || link == AOF_END_LINK_MANIFEST_RENAME);
    job->links_submitted = link;
    job->chain_pending = link;
    ring_submit();
}

/* The chain's second stage, once the first succeeded: the rename that makes the manifest
 * current, then the directory's fsync that makes the rename durable (its failure, after the
 * rename, is reported: the new manifest may or may not be the one a crash finds). */
static void manifest_rename_submit(void)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    KV_ASSERT(job->chain_pending == 0 && job->status == 0 && job->fd >= 0);
    uint32_t link = job->links_submitted;
    KV_ASSERT(link == (job->chain_end ? AOF_END_LINK_MANIFEST_RENAME : 2u));
    struct io_uring_sqe *sqe = manifest_link(&link);
    io_uring_prep_renameat(sqe, AT_FDCWD, job->temp, AT_FDCWD, job->path, 0);
    sqe->flags |= IOSQE_IO_LINK;
    sqe = manifest_link(&link);
    io_uring_prep_fsync(sqe, job->dir_fd, 0);
    job->chain_pending = link - job->links_submitted;
    job->links_submitted = link;
    ring_submit();
}

/* The pass's end: a finished chain's two fds are closed (on the ring, not waited for); a
 * rewrite's end whose chain is over is settled (the old files go, or the new base); a chain
 * wanted is started once the retry time has come (or at once: `force`). */
static void manifest_advance(int64_t now, bool force)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    if (job->chain_pending > 0) {
        return;
    }
    if (job->fd >= 0) {
        KV_ASSERT(job->dir_fd >= 0 && job->close_pending == 0);
        struct io_uring_sqe *sqe = ring_sqe();
        io_uring_prep_close(sqe, job->fd);
        io_uring_sqe_set_data64(sqe, tag(0, AOF_OP_MANIFEST_CLOSE));
        sqe = ring_sqe();
        io_uring_prep_close(sqe, job->dir_fd);
        io_uring_sqe_set_data64(sqe, tag(0, AOF_OP_MANIFEST_CLOSE));
        job->close_pending = 2;
        job->fd = -1;
        job->dir_fd = -1;
        ring_submit();
    }
    if (job->end_settle) {
        rewrite_end_settle();
    }
    /* Only once the retiring file is durable: a manifest that lists a file after it must
     * never meet it with a torn tail (kill -9 in the middle of its last write, or a power
     * loss before its fsync): kv and Redis load a truncated file only when it is the last.
     * It costs the replies nothing: the new file's bytes wait for the old file's fsync. The
     * end's manifest does not list it (the base holds its bytes): it goes at once. */
    if ((job->wanted || job->end_wanted) && job->close_pending == 0 &&
        (job->end_wanted || retiring_synced()) && (force || now >= aof.retry_ms)) {
        manifest_submit();
        if (job->end_settle) {
            rewrite_end_settle(); /* its opens failed: the rewrite did */
        }
    }
    deletions_advance();
}

/* Waits for the manifest's job (a drain, after retiring_wait): its chain and closes in flight,
 * a rewrite's end settled, then one attempt more when none failed on the way: 0 when nothing
 * is in flight and aof.manifest is durable; else the failure. */
static int manifest_wait(void)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    bool attempted = false;
    /* Bounded: the end's chain (tried once) and one more chain at most, each of five links
     * and two closes; a failed start's chain counts as the attempt. */
    while (manifest_busy()) {
        if (job->chain_pending > 0 || job->close_pending > 0) {
            reap(true);
            continue;
        }
        if (job->fd >= 0 || job->end_settle) {
            attempted = attempted || (job->status != 0 && !job->chain_end);
            manifest_advance(0, false); /* the closes, the end's settling; no attempt */
            continue;
        }
        if (attempted) {
            return job->status != 0 ? job->status : -EIO;
        }
        attempted = !job->end_wanted; /* the end's chain is not the start's attempt */
        manifest_advance(0, true);
    }
    return 0;
}

/* Reads the manifest: 1 when there is one (parsed into *manifest), 0 when none, -1 bad. */
static int manifest_read(struct aof_manifest *manifest)
{
    char name[AOF_NAME_BYTES];
    char path[AOF_PATH_BYTES];
    memset(manifest, 0, sizeof(*manifest));
    snprintf(name, sizeof(name), "%s.manifest", param("appendfilename"));
    if (!aof_path(path, name)) {
        return -1;
    }
    int fd = file_open(path, O_RDONLY, 0);
    if (fd == -ENOENT) {
        return 0;
    }
    if (fd < 0) {
        log_warn("Fatal error: can't open the AOF manifest %s for reading: %s", name,
                 strerror(-fd));
        return -1;
    }
    char text[AOF_MANIFEST_BYTES];
    int64_t got = file_read(fd, (uint8_t *)text, sizeof(text), 0);
    file_close(fd);
    if (got < 0 || (uint64_t)got == sizeof(text)) {
        log_warn("Reading the manifest file %s: %s", name,
                 got < 0 ? strerror((int)-got) : "too large");
        return -1;
    }
    return manifest_parse(text, (uint64_t)got, manifest) ? 1 : -1;
}

/* ---- Replay ---- */

/* A replayed command's reply goes nowhere: the writer starts again at each growth. */
static bool discard_grow(struct reply *reply, uint64_t wanted)
{
    (void)wanted;
    reply->length = 0;
    return true;
}

static void discard_truncate(struct reply *reply)
{
    reply->length = 0;
    reply->total = reply->mark;
}

/*
 * Reading a file: a window of it in the area (2 x AOF_WRITE_BUFFER_BYTES). A command is first
 * measured (command_measure): its headers are read and checked, its arguments' bytes stepped
 * over, so a command of any size is measured within the window, and a torn one is found
 * before anything is taken for it (the file's size tells whether its bytes are all there).
 * Then it is held (command_hold): a command that fits the window is parsed where it lies (one
 * already whole in the window, the common case, is measured and held in one pass:
 * command_in_window); a larger one is read whole into one heap allocation, from the budget's
 * reserve, as a client's receive buffer holds such a command when it arrives (Redis reads
 * each argument into an sds of its length). Bounds: an argument is at most
 * proto-max-bulk-len bytes, as a client's (and at most UINT32_MAX, a slice's length); a
 * command is at most what the budget can hand out besides the data (else the load fails with
 * a line saying so, as Redis fails on an allocation during loading); one command is held at
 * a time, released after it runs.
 */
struct aof_reader {
    const char *name;       /* the file's name, for the log */
    int fd;
    uint8_t *buffer;        /* the area */
    uint64_t capacity;      /* its bytes */
    uint64_t start;         /* the next byte to parse, in buffer; fills keep from here */
    uint64_t end;           /* bytes of buffer filled */
    uint64_t position;      /* file offset of buffer[0] */
    uint64_t file_bytes;    /* the file's size when opened (nothing writes it while loading) */
    uint64_t arg_bytes_max; /* an argument's length at most: proto-max-bulk-len, <= UINT32_MAX */
    bool eof;               /* a read at position + end met the file's end */
    bool read_failed;
};

/* A header line ("*<count>\r\n", "$<length>\r\n") at most, its type byte and CRLF included:
 * a longer one is malformed (a count or a length has at most 19 digits). */
#define AOF_LINE_BYTES_MAX 64u

/* The first bytes of a command's name that command_measure keeps (for MULTI and EXEC). */
#define AOF_NAME_PEEK_BYTES 8u

/* One command of the file: where it lies (command_measure), then its arguments
 * (command_hold), until command_release. */
struct aof_command {
    uint64_t begin;                    /* file offset of its "*<count>" line */
    uint64_t end;                      /* file offset just past its last argument's CRLF */
    uint32_t arg_count;                /* >= 1 */
    uint32_t name_length;              /* its first argument's length */
    uint8_t name[AOF_NAME_PEEK_BYTES]; /* and that argument's first bytes (up to its length) */
    struct slice *args;                /* arg_count slices, once held; else NULL */
    struct slice *held_args;           /* from the heap: more than AOF_LOAD_ARGS_FIXED */
    uint8_t *held_bytes;               /* from the heap: a command larger than the window */
};

enum aof_parse {
    AOF_PARSED,     /* a whole command */
    AOF_END,        /* the file ends between commands */
    AOF_SHORT,      /* the file ends inside a command */
    AOF_FORMAT,     /* malformed: Redis's "Bad file format" */
    AOF_TOO_BIG,    /* an argument longer than proto-max-bulk-len (logged) */
    AOF_OOM,        /* a command the budget has no room for (logged) */
    AOF_READ_ERROR,
};

static void reader_seek(struct aof_reader *reader, uint64_t offset)
{
    reader->start = 0;
    reader->end = 0;
    reader->position = offset;
    reader->eof = false;
}

static uint64_t reader_offset(const struct aof_reader *reader)
{
    return reader->position + reader->start;
}

/* Tops the window up, keeping it from its next byte to parse: false at the end of the file
 * (or an error), or when the window is full. */
static bool reader_fill(struct aof_reader *reader)
{
    if (reader->eof) {
        return false;
    }
    if (reader->start > 0) {
        memmove(reader->buffer, reader->buffer + reader->start, reader->end - reader->start);
        reader->position += reader->start;
        reader->end -= reader->start;
        reader->start = 0;
    }
    if (reader->end == reader->capacity) {
        return false;
    }
    int64_t got = file_read(reader->fd, reader->buffer + reader->end,
                            reader->capacity - reader->end, reader->position + reader->end);
    if (got < 0) {
        reader->read_failed = true;
        reader->eof = true;
        return false;
    }
    reader->eof = got == 0;
    reader->end += (uint64_t)got;
    return got > 0;
}

/* Brings the `bytes` at file offset `offset` into the window: by topping it up when the
 * window can reach them from its next byte to parse, else by moving it there. 1 when all of
 * them are in, 0 when the file ends first (what it has is in), -2 on a read error. */
static int window_reach(struct aof_reader *reader, uint64_t offset, uint64_t bytes)
{
    KV_ASSERT(bytes <= reader->capacity);
    uint64_t keep = reader_offset(reader);
    if (offset < keep || offset + bytes > keep + reader->capacity) {
        reader_seek(reader, offset);
    }
    KV_ASSERT(offset >= reader->position);
    /* Bounded: each fill reads at least one byte, and the window reaches offset + bytes. */
    while (reader->position + reader->end < offset + bytes) {
        if (!reader_fill(reader)) {
            return reader->read_failed ? -2 : 0;
        }
    }
    return 1;
}

/* A "<type><number>\r\n" line at *at in bytes[0, end): 1 parsed (*at past it), 0 needs more
 * bytes, -1 malformed. */
static int parse_line(const uint8_t *bytes, uint64_t end, uint64_t *at, uint8_t type,
                      int64_t *number)
{
    if (*at >= end) {
        return 0;
    }
    if (bytes[*at] != type) {
        return -1;
    }
    uint64_t available = end - *at;
    uint64_t scanned = available < AOF_LINE_BYTES_MAX ? available : AOF_LINE_BYTES_MAX;
    const uint8_t *newline = memchr(bytes + *at, '\n', scanned);
    if (newline == NULL) {
        return scanned == AOF_LINE_BYTES_MAX ? -1 : 0;
    }
    uint64_t line_bytes = (uint64_t)(newline - (bytes + *at)) + 1u;
    /* The type byte, at least one digit, CRLF. */
    if (line_bytes < 4u || newline[-1] != '\r' ||
        !number_parse_int64(bytes + *at + 1, (uint32_t)(line_bytes - 3u), number)) {
        return -1;
    }
    *at += line_bytes;
    return 1;
}

/* The header line at file offset *cursor, the window brought to it: 1 parsed (*cursor past
 * it), 0 the file ends inside it, -1 malformed, -2 a read error. */
static int line_at(struct aof_reader *reader, uint64_t *cursor, uint8_t type, int64_t *number)
{
    int reached = window_reach(reader, *cursor, AOF_LINE_BYTES_MAX);
    if (reached < 0) {
        return -2;
    }
    uint64_t at = *cursor - reader->position;
    int status = parse_line(reader->buffer, reader->end, &at, type, number);
    KV_ASSERT(status != 0 || reached == 0); /* with AOF_LINE_BYTES_MAX there, it is decided */
    if (status == 1) {
        *cursor = reader->position + at;
    }
    return status;
}

/* Steps over annotation lines ("#..."), as Redis does. AOF_PARSED: a command starts at the
 * window's next byte; AOF_END: the file ends (after a last annotation without its newline
 * too, which Redis's fgets returns as a line); AOF_FORMAT: an annotation longer than the
 * window. */
static enum aof_parse annotations_skip(struct aof_reader *reader)
{
    /* Bounded by the file: each pass steps over a line or reads more of it. */
    for (;;) {
        if (reader->start == reader->end && !reader_fill(reader)) {
            return reader->read_failed ? AOF_READ_ERROR : AOF_END;
        }
        if (reader->buffer[reader->start] != '#') {
            return AOF_PARSED;
        }
        const uint8_t *line = reader->buffer + reader->start;
        const uint8_t *newline = memchr(line, '\n', reader->end - reader->start);
        if (newline != NULL) {
            reader->start += (uint64_t)(newline - line) + 1u;
            continue;
        }
        if (reader->start == 0 && reader->end == reader->capacity) {
            return AOF_FORMAT;
        }
        if (!reader_fill(reader)) {
            return reader->read_failed ? AOF_READ_ERROR : AOF_END;
        }
    }
}

/* Keeps the first bytes of the command's name (`length` bytes at file offset `offset`). */
static int name_peek(struct aof_reader *reader, uint64_t offset, uint64_t length,
                     struct aof_command *command)
{
    uint64_t peek = length < AOF_NAME_PEEK_BYTES ? length : AOF_NAME_PEEK_BYTES;
    int reached = window_reach(reader, offset, peek);
    if (reached != 1) {
        return reached;
    }
    memcpy(command->name, reader->buffer + (offset - reader->position), peek);
    command->name_length = (uint32_t)length;
    return 1;
}

/* The common case in one pass: a command whole in the window, of at most
 * AOF_LOAD_ARGS_FIXED arguments, is measured and held where it lies (its slices in the carved
 * array). False for anything else (more bytes or arguments, or malformed): the general
 * measure decides it. */
static bool command_in_window(struct aof_reader *reader, struct aof_command *command)
{
    const uint8_t *bytes = reader->buffer;
    uint64_t at = reader->start;
    int64_t count = 0;
    if (parse_line(bytes, reader->end, &at, '*', &count) != 1 || count < 1 ||
        count > (int64_t)AOF_LOAD_ARGS_FIXED) {
        return false;
    }
    /* Bounded by the count. */
    for (int64_t index = 0; index < count; index++) {
        int64_t length = 0;
        if (parse_line(bytes, reader->end, &at, '$', &length) != 1 || length < 0 ||
            (uint64_t)length > reader->arg_bytes_max || (uint64_t)length + 2u > reader->end - at) {
            return false;
        }
        aof.args_fixed[index] = slice_bytes(bytes + at, (uint32_t)length);
        at += (uint64_t)length + 2u;
    }
    struct slice name = aof.args_fixed[0];
    *command = (struct aof_command){.begin = reader_offset(reader), .end = reader->position + at,
                                    .arg_count = (uint32_t)count, .name_length = name.length,
                                    .args = aof.args_fixed};
    memcpy(command->name, name.bytes,
           name.length < AOF_NAME_PEEK_BYTES ? name.length : AOF_NAME_PEEK_BYTES);
    return true;
}

/* Finds the command at the window's next byte, past annotations, and checks every header
 * (Redis's loop in loadSingleAppendOnlyFile); unless it is whole in the window, without
 * taking its arguments. */
static enum aof_parse command_measure(struct aof_reader *reader, struct aof_command *command)
{
    enum aof_parse skipped = annotations_skip(reader);
    if (skipped != AOF_PARSED) {
        return skipped;
    }
    if (command_in_window(reader, command)) {
        return AOF_PARSED;
    }
    uint64_t cursor = reader_offset(reader);
    *command = (struct aof_command){.begin = cursor};
    int64_t count = 0;
    int status = line_at(reader, &cursor, '*', &count);
    if (status == 1 && (count < 1 || (uint64_t)count > UINT32_MAX)) {
        status = -1;
    }
    /* Bounded by the count, and by the file: each argument takes 6 bytes of it at least. */
    for (int64_t index = 0; status == 1 && index < count; index++) {
        int64_t length = 0;
        status = line_at(reader, &cursor, '$', &length);
        if (status == 1 && length < 0) {
            status = -1;
        }
        if (status == 1 && (uint64_t)length > reader->arg_bytes_max) {
            log_warn("Bad file format reading the append only file %s: an argument of %" PRId64
                     " bytes at offset %" PRIu64 " is longer than proto-max-bulk-len (%" PRIu64
                     "); raise proto-max-bulk-len to load it", reader->name, length, cursor,
                     reader->arg_bytes_max);
            return AOF_TOO_BIG;
        }
        if (status == 1 && index == 0) {
            status = name_peek(reader, cursor, (uint64_t)length, command);
        }
        if (status == 1) {
            cursor += (uint64_t)length + 2u;
            status = cursor > reader->file_bytes ? 0 : 1;
        }
    }
    if (status != 1) {
        return status == 0 ? AOF_SHORT : status == -1 ? AOF_FORMAT : AOF_READ_ERROR;
    }
    command->end = cursor;
    command->arg_count = (uint32_t)count;
    return AOF_PARSED;
}

static bool command_named(const struct aof_command *command, const char *name)
{
    size_t length = strlen(name);
    KV_ASSERT(length <= AOF_NAME_PEEK_BYTES);
    return command->name_length == length &&
           strncasecmp((const char *)command->name, name, length) == 0;
}

/* Leaves the reader past a measured command, not holding it (a transaction's scan). */
static void command_skip(struct aof_reader *reader, const struct aof_command *command)
{
    KV_ASSERT(command->end > command->begin);
    if (command->end >= reader_offset(reader) && command->end <= reader->position + reader->end) {
        reader->start = command->end - reader->position;
    } else {
        reader_seek(reader, command->end);
    }
    KV_ASSERT(reader_offset(reader) == command->end);
}

/* The arguments of a whole measured command at raw[0, bytes). False: its headers are not
 * what the measure read (the file changed under the loader). */
static bool command_slices(const uint8_t *raw, uint64_t bytes, struct aof_command *command)
{
    uint64_t at = 0;
    int64_t number = 0;
    if (parse_line(raw, bytes, &at, '*', &number) != 1 || number != command->arg_count) {
        return false;
    }
    /* Bounded by the count. */
    for (uint32_t index = 0; index < command->arg_count; index++) {
        if (parse_line(raw, bytes, &at, '$', &number) != 1 || number < 0 ||
            (uint64_t)number + 2u > bytes - at) {
            return false;
        }
        command->args[index] = slice_bytes(raw + at, (uint32_t)number);
        at += (uint64_t)number + 2u;
    }
    return at == bytes;
}

static void command_release(struct aof_command *command)
{
    if (command->held_bytes != NULL) {
        heap_release(aof.store->heap, command->held_bytes);
    }
    if (command->held_args != NULL) {
        heap_release(aof.store->heap, command->held_args);
    }
    command->held_bytes = NULL;
    command->held_args = NULL;
    command->args = NULL;
}

static void command_oom(const struct aof_reader *reader, const struct aof_command *command,
                        uint64_t bytes)
{
    log_warn("Out of memory reading the append only file %s: the command at offset %" PRIu64
             " (%" PRIu32 " arguments) needs %" PRIu64 " bytes to be replayed and the memory "
             "budget has %" PRIu64 " free; raise maxmemory to load it", reader->name,
             command->begin, command->arg_count, bytes, heap_free_bytes(aof.store->heap));
}

/* A larger command than the window: its bytes read from the file into held_bytes. */
static enum aof_parse command_read(struct aof_reader *reader, struct aof_command *command)
{
    uint64_t bytes = command->end - command->begin;
    uint64_t done = 0;
    /* Bounded: each read takes at least one byte (and asks at most 1 GiB). */
    while (done < bytes) {
        int64_t got = file_read(reader->fd, command->held_bytes + done, bytes - done,
                                command->begin + done);
        if (got < 0) {
            return AOF_READ_ERROR;
        }
        if (got == 0) {
            return AOF_SHORT; /* the file shrank since it was measured */
        }
        done += (uint64_t)got;
    }
    return AOF_PARSED;
}

/* Takes the measured command's arguments (see above); the reader then stands past it. On a
 * failure what was taken stays in *command for command_release. */
static enum aof_parse command_hold(struct aof_reader *reader, struct aof_command *command)
{
    KV_ASSERT(command->end > command->begin);
    KV_ASSERT(command->held_args == NULL && command->held_bytes == NULL);
    if (command->args != NULL) {
        /* Held where it lies by command_in_window; the window has not moved since. */
        KV_ASSERT(command->begin == reader_offset(reader));
        KV_ASSERT(command->end <= reader->position + reader->end);
        reader->start = command->end - reader->position;
        return AOF_PARSED;
    }
    struct heap *heap = aof.store->heap;
    uint64_t bytes = command->end - command->begin;
    uint64_t args_bytes = (uint64_t)command->arg_count * sizeof(struct slice);
    if (command->arg_count > AOF_LOAD_ARGS_FIXED) {
        command->held_args = heap_alloc_reserve(heap, args_bytes);
        if (command->held_args == NULL) {
            command_oom(reader, command, args_bytes + (bytes > reader->capacity ? bytes : 0));
            return AOF_OOM;
        }
    }
    command->args = command->held_args != NULL ? command->held_args : aof.args_fixed;
    const uint8_t *raw = NULL;
    if (bytes <= reader->capacity) {
        int reached = window_reach(reader, command->begin, bytes);
        if (reached != 1) {
            return reached < 0 ? AOF_READ_ERROR : AOF_SHORT;
        }
        raw = reader->buffer + (command->begin - reader->position);
        reader->start = command->end - reader->position;
    } else {
        command->held_bytes = heap_alloc_reserve(heap, bytes);
        if (command->held_bytes == NULL) {
            command_oom(reader, command, bytes + (command->held_args != NULL ? args_bytes : 0));
            return AOF_OOM;
        }
        enum aof_parse read = command_read(reader, command);
        if (read != AOF_PARSED) {
            return read;
        }
        raw = command->held_bytes;
        reader_seek(reader, command->end);
    }
    KV_ASSERT(reader_offset(reader) == command->end);
    return command_slices(raw, bytes, command) ? AOF_PARSED : AOF_FORMAT;
}

enum aof_load { AOF_LOAD_OK, AOF_LOAD_TRUNCATED, AOF_LOAD_FAILED };

/* Whether the reply written since the writer was emptied is Redis's OOM error (the error
 * table's line, whole). */
static bool reply_is_oom(const struct reply *reply)
{
    struct slice oom = reply_error_line(REPLY_ERROR_OOM);
    uint64_t written = reply_since_mark(reply);
    return reply->first == '-' && written == reply->length && written == oom.length &&
           memcmp(reply->bytes, oom.bytes, oom.length) == 0;
}

/* The kv limit (an optional cap: key_size_max, val_size_max, list_length_max, key_count, ..)
 * whose error the reply is, or REPLY_ERROR_COUNT when it is not one. Redis has none of
 * these: a replayed command they refuse would leave the dataset short of the file's. */
static enum reply_error reply_limit(const struct reply *reply)
{
    uint64_t written = reply_since_mark(reply);
    if (reply->first != '-' || written != reply->length) {
        return REPLY_ERROR_COUNT;
    }
    /* Bounded: the limit errors' block of the table. */
    for (uint32_t id = REPLY_ERROR_KEY_TOO_LONG; id <= REPLY_ERROR_BLOCKING_KEYS_FULL; id++) {
        struct slice line = reply_error_line((enum reply_error)id);
        if (written == line.length && memcmp(reply->bytes, line.bytes, line.length) == 0) {
            return (enum reply_error)id;
        }
    }
    return REPLY_ERROR_COUNT;
}

/* Runs one replayed command. False: a command kv does not know, one the budget had no room
 * for, or one a kv limit refused (logged, naming the option to raise): the dataset cannot be
 * what the file says, and kv refuses to start (Redis, which checks no maxmemory while
 * loading, fails only when an allocation does; it has no other limits). */
static bool replay_one(struct cmd_context *context, const struct aof_command *command,
                       const char *name)
{
    const struct slice *args = command->args;
    uint32_t position = cmd_find(args, command->arg_count);
    if (position == CMD_NONE) {
        log_warn("Unknown command '%.*s' reading the append only file %s",
                 (int)(args[0].length > 64 ? 64 : args[0].length), (const char *)args[0].bytes,
                 name);
        return false;
    }
    context->outcome = (struct cmd_outcome){0};
    context->reply.length = 0; /* the replies go nowhere: this one from the start */
    reply_mark(&context->reply);
    if (cmd_admit(context, position, args, command->arg_count)) {
        cmd_run(context, position, args, command->arg_count);
    }
    if (reply_is_oom(&context->reply)) {
        log_warn("Out of memory reading the append only file %s: the command '%.*s' at offset "
                 "%" PRIu64 " found no room in the memory budget (%" PRIu64 " bytes free); "
                 "raise maxmemory to load it", name,
                 (int)(args[0].length > 64 ? 64 : args[0].length), (const char *)args[0].bytes,
                 command->begin, heap_free_bytes(aof.store->heap));
        return false;
    }
    enum reply_error limit = reply_limit(&context->reply);
    if (limit != REPLY_ERROR_COUNT) {
        /* The error line, "-<code> <what> (<option> is <value>)" and its end: the words after
         * the code, without the end. */
        struct slice line = reply_error_line(limit);
        const uint8_t *space = memchr(line.bytes, ' ', line.length);
        KV_ASSERT(line.length > 2 && line.bytes[0] == '-' && space != NULL);
        uint32_t skip = (uint32_t)(space + 1 - line.bytes);
        KV_ASSERT(line.length >= skip + 2);
        log_warn("A limit of kv refused the command '%.*s' at offset %" PRIu64 " reading the "
                 "append only file %s: %.*s; raise that option to load the file",
                 (int)(args[0].length > 64 ? 64 : args[0].length), (const char *)args[0].bytes,
                 command->begin, name, (int)(line.length - skip - 2),
                 (const char *)line.bytes + skip);
        return false;
    }
    return true;
}

/* After a MULTI: finds its EXEC first, stepping over the commands, then replays the commands
 * between (a transaction runs only whole). AOF_PARSED with the reader past the EXEC (and
 * *failed when a command could not be replayed); else what ended the scan. */
static enum aof_parse transaction_replay(struct aof_reader *reader, struct cmd_context *context,
                                         bool *failed)
{
    uint64_t inside = reader_offset(reader);
    struct aof_command command = {0};
    enum aof_parse parsed = AOF_PARSED;
    /* Bounded by the file's commands. */
    do {
        parsed = command_measure(reader, &command);
        if (parsed == AOF_PARSED) {
            command_skip(reader, &command);
        }
    } while (parsed == AOF_PARSED && !command_named(&command, "exec"));
    if (parsed != AOF_PARSED) {
        return parsed;
    }
    uint64_t exec_begin = command.begin;
    reader_seek(reader, inside);
    /* Bounded: the commands before the EXEC found above. */
    for (;;) {
        parsed = command_measure(reader, &command);
        if (parsed == AOF_PARSED && command.begin >= exec_begin) {
            command_skip(reader, &command);
            return AOF_PARSED;
        }
        if (parsed == AOF_PARSED) {
            parsed = command_hold(reader, &command);
        }
        bool replayed = parsed == AOF_PARSED && replay_one(context, &command, reader->name);
        command_release(&command);
        if (parsed != AOF_PARSED) {
            return parsed;
        }
        if (!replayed) {
            *failed = true;
            return AOF_PARSED;
        }
    }
}

/* Replays one AOF-format file (Redis's loadSingleAppendOnlyFile, past a base's RDB). */
static enum aof_load load_incr(const char *name, bool last)
{
    char path[AOF_PATH_BYTES];
    if (!aof_path(path, name)) {
        return AOF_LOAD_FAILED;
    }
    int fd = file_open(path, O_RDONLY, 0);
    int64_t size = fd < 0 ? fd : file_size(path);
    if (fd < 0 || size < 0) {
        log_warn("Fatal error: can't open the append log file %s for reading: %s", name,
                 strerror((int)-size));
        if (fd >= 0) {
            file_close(fd);
        }
        return AOF_LOAD_FAILED;
    }
    uint64_t bulk_max = aof.context->config->proto_max_bulk_len;
    struct aof_reader reader = {.name = name, .fd = fd, .buffer = aof.area,
                                .capacity = 2ull * AOF_WRITE_BUFFER_BYTES,
                                .file_bytes = (uint64_t)size,
                                .arg_bytes_max = bulk_max < UINT32_MAX ? bulk_max : UINT32_MAX};
    struct cmd_context context = *aof.context;
    context.client = &aof.client;
    context.tracking = NULL;
    context.evict = NULL;
    context.mode = CMD_MODE_EXEC;
    context.reply = (struct reply){.bytes = aof.reply_bytes, .capacity = AOF_REPLY_BYTES,
                                   .grow = discard_grow, .truncate = discard_truncate};
    bool load_truncated = strcmp(param("aof-load-truncated"), "yes") == 0;
    uint64_t valid_up_to = 0;
    struct aof_command command = {0};
    enum aof_parse parsed = AOF_END;
    bool failed = false;
    /* Bounded by the file's commands. */
    while (!failed) {
        parsed = command_measure(&reader, &command);
        if (parsed == AOF_PARSED && command_named(&command, "multi")) {
            command_skip(&reader, &command);
            parsed = transaction_replay(&reader, &context, &failed);
            if (parsed == AOF_END) {
                log_warn("Revert incomplete MULTI/EXEC transaction in AOF file %s", name);
                parsed = AOF_SHORT;
            }
        } else if (parsed == AOF_PARSED) {
            parsed = command_hold(&reader, &command);
            failed = parsed == AOF_PARSED && !replay_one(&context, &command, name);
            command_release(&command);
        }
        if (parsed != AOF_PARSED) {
            /* valid_up_to stays before a transaction cut short, as Redis when the file ends
             * after whole commands inside it; where a command inside it is torn, Redis cuts
             * after the last whole one, leaving a MULTI without EXEC that its next start
             * reverts together with every write appended after the cut: kv does not. */
            break;
        }
        valid_up_to = reader_offset(&reader);
    }
    file_close(fd);
    if (failed || parsed == AOF_TOO_BIG || parsed == AOF_OOM) {
        return AOF_LOAD_FAILED; /* logged */
    }
    if (parsed == AOF_END) {
        return AOF_LOAD_OK;
    }
    if (parsed == AOF_READ_ERROR) {
        log_warn("Unrecoverable error reading the append only file %s: %s", name,
                 strerror(EIO));
        return AOF_LOAD_FAILED;
    }
    if (parsed == AOF_FORMAT) {
        log_warn("Bad file format reading the append only file %s: make a backup of your AOF "
                 "file, then use ./redis-check-aof --fix <filename.manifest>", name);
        return AOF_LOAD_FAILED;
    }
    KV_ASSERT(parsed == AOF_SHORT);
    if (load_truncated) {
        /* As Redis's loadSingleAppendOnlyFile: the tail is cut first, and only then does its
         * caller refuse a truncated file that is not the last (the next start loads it). */
        log_warn("!!! Warning: short read while loading the AOF file %s!!!", name);
        log_warn("!!! Truncating the AOF %s at offset %llu !!!", name,
                 (unsigned long long)valid_up_to);
        if (truncate(path, (off_t)valid_up_to) == -1) {
            log_warn("Error truncating the AOF file %s: %s", name, strerror(errno));
        } else {
            log_warn("AOF %s loaded anyway because aof-load-truncated is enabled", name);
            if (!last) {
                log_warn("Fatal error: the truncated file is not the last file");
                return AOF_LOAD_FAILED;
            }
            return AOF_LOAD_TRUNCATED;
        }
    }
    log_warn("Unexpected end of file reading the append only file %s. You can: 1) Make a "
             "backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. "
             "2) Alternatively you can set the 'aof-load-truncated' configuration option to "
             "yes and restart the server.", name);
    return AOF_LOAD_FAILED;
}

/* Loads the manifest's files into the empty store. False: kv exits. */
static bool load_files(const struct aof_manifest *manifest)
{
    char dir[AOF_PATH_BYTES];
    if (!aof_dir(dir)) {
        return false;
    }
    int64_t started = clock_ms(CLOCK_MONOTONIC);
    uint32_t total = (manifest->base[0] != '\0' ? 1u : 0u) + manifest->incr_count;
    uint32_t index = 0;
    if (manifest->base[0] != '\0') {
        int64_t at = clock_ms(CLOCK_MONOTONIC);
        size_t length = strlen(manifest->base);
        bool rdb = length > 4 && strcmp(manifest->base + length - 4, ".rdb") == 0;
        if (rdb) {
            log_info("Reading RDB base file on AOF loading...");
            bool loaded = false;
            if (rdb_file_load(aof.store, dir, manifest->base, &loaded) != 0 || !loaded) {
                log_warn("Error reading the RDB base file %s, AOF loading aborted",
                         manifest->base);
                return false;
            }
        } else if (load_incr(manifest->base, total == 1) == AOF_LOAD_FAILED) {
            return false;
        }
        log_info("DB loaded from base file %s: %.3f seconds", manifest->base,
                 (double)(clock_ms(CLOCK_MONOTONIC) - at) / 1000.0);
        index++;
    }
    /* Bounded by AOF_INCR_FILES_MAX. */
    for (uint32_t incr = 0; incr < manifest->incr_count; incr++, index++) {
        int64_t at = clock_ms(CLOCK_MONOTONIC);
        if (load_incr(manifest->incr[incr], index + 1 == total) == AOF_LOAD_FAILED) {
            return false;
        }
        log_info("DB loaded from incr file %s: %.3f seconds", manifest->incr[incr],
                 (double)(clock_ms(CLOCK_MONOTONIC) - at) / 1000.0);
    }
    if (total > 0) {
        log_info("DB loaded from append only file: %.3f seconds",
                 (double)(clock_ms(CLOCK_MONOTONIC) - started) / 1000.0);
    }
    return true;
}

/* ---- Rewrite: a new base (the whole dataset as an RDB file) and a new incr file ---- */

struct base_target {
    int fd;
    uint64_t offset;
    int error;
};

static bool base_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    struct base_target *target = context;
    int status = file_write(target->fd, bytes, length, target->offset);
    if (status < 0) {
        target->error = status;
        return false;
    }
    target->offset += length;
    return true;
}

/* The whole store, every database, into fd as an RDB file (the area is the buffer). */
static int base_write(int fd, uint64_t *bytes_written)
{
    struct store *store = aof.store;
    struct base_target target = {.fd = fd};
    struct rdb_writer writer;
    rdb_writer_init(&writer, aof.area, 2u * AOF_WRITE_BUFFER_BYTES, base_flush, &target,
                    store->heap, NULL);
    rdb_write_header(&writer, clock_ms(CLOCK_REALTIME), store->heap->used_bytes);
    uint32_t selected = store->db_index;
    uint64_t skipped = 0;
    /* Bounded by the databases and, in each, its keys (nothing changes meanwhile). */
    for (uint32_t db = 0; db < store->db_count && !writer.failed; db++) {
        store_select(store, db);
        if (store_key_count(store) == 0) {
            continue;
        }
        rdb_write_db_start(&writer, db, store_key_count(store), store_expires_count(store));
        struct dict_walk walk;
        uint32_t key_ref = 0;
        store_walk_start(store, &walk);
        while (!writer.failed && store_walk_next(store, &walk, &key_ref)) {
            if (store_key_live(store, store_key(store, key_ref))) {
                skipped += rdb_write_key(&writer, store, key_ref) ? 0u : 1u;
            }
        }
    }
    store_select(store, selected);
    if (skipped > 0) {
        log_warn("AOF rewrite left out %llu keys of a type the RDB writer does not serialize",
                 (unsigned long long)skipped);
    }
    rdb_write_end(&writer);
    if (!rdb_writer_finish(&writer)) {
        return target.error != 0 ? target.error : -EIO;
    }
    *bytes_written = target.offset;
    return 0;
}

/* Deletes the files of `old` that `current` does not list. */
static void files_delete(const struct aof_manifest *old, const struct aof_manifest *current)
{
    char path[AOF_PATH_BYTES];
    if (old->base[0] != '\0' && strcmp(old->base, current->base) != 0 &&
        aof_path(path, old->base)) {
        (void)file_unlink(path);
    }
    /* Bounded by AOF_INCR_FILES_MAX. */
    for (uint32_t index = 0; index < old->incr_count; index++) {
        bool kept = current->incr_count > 0 && strcmp(old->incr[index], current->incr[0]) == 0;
        if (!kept && aof_path(path, old->incr[index])) {
            (void)file_unlink(path);
        }
    }
}

/* Makes the AOF directory when it is missing. */
static int dir_make(void)
{
    char dir[AOF_PATH_BYTES];
    if (!aof_dir(dir)) {
        return -ENAMETOOLONG;
    }
    struct io_uring_sqe *sqe = ring_sqe();
    io_uring_prep_mkdirat(sqe, AT_FDCWD, dir, 0755);
    io_uring_sqe_set_data64(sqe, 0);
    int status = ring_run();
    return status == -EEXIST ? 0 : status;
}

/*
 * The rewrite, whole, at once (startup's first base file, of an empty dataset, as Redis 7.0
 * writes it in the foreground): what the buffers hold goes to the old incr file first;
 * then the dataset goes to a new base file (temp, fsync, rename), a new empty incr file is
 * made, and the new manifest replaces the old one by rename, the moment the switch happens;
 * the old files go after. A failure leaves the old manifest and files as they were.
 */
static int rewrite(void)
{
    int64_t started = clock_ms(CLOCK_MONOTONIC);
    aof.stats.rewrite_in_progress = true;
    int status = aof.fd >= 0 ? drain() : 0;
    status = status == 0 ? dir_make() : status;
    const char *filename = param("appendfilename");
    struct aof_manifest next = {.base_seq = aof.manifest.base_seq + 1, .incr_count = 1};
    uint64_t incr_seq = aof.manifest.incr_count > 0
                            ? aof.manifest.incr_seq[aof.manifest.incr_count - 1]
                            : 0;
    next.incr_seq[0] = incr_seq + 1;
    snprintf(next.base, sizeof(next.base), "%s.%" PRIu64 ".base.rdb", filename, next.base_seq);
    snprintf(next.incr[0], sizeof(next.incr[0]), "%s.%" PRIu64 ".incr.aof", filename,
             next.incr_seq[0]);
    char temp[AOF_PATH_BYTES];
    char path[AOF_PATH_BYTES];
    char name[AOF_NAME_BYTES];
    snprintf(name, sizeof(name), "temp-rewriteaof-%d.aof", (int)getpid());
    uint64_t base_bytes = 0;
    int fd = -1;
    if (status == 0 && (!aof_path(temp, name) || !aof_path(path, next.base))) {
        status = -ENAMETOOLONG;
    }
    if (status == 0) {
        fd = file_open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        status = fd < 0 ? fd : 0;
    }
    if (status == 0) {
        status = base_write(fd, &base_bytes);
        status = status == 0 ? file_fsync(fd) : status;
        file_close(fd);
        status = status == 0 ? file_rename(temp, path) : status;
        if (status != 0) {
            (void)file_unlink(temp);
        }
    }
    int incr_fd = -1;
    if (status == 0 && aof_path(path, next.incr[0])) {
        incr_fd = file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        status = incr_fd < 0 ? incr_fd : 0;
    }
    status = status == 0 ? manifest_write(&next) : status;
    aof.stats.rewrite_in_progress = false;
    aof.stats.rewrite_scheduled = false;
    aof.stats.last_rewrite_time_sec = (clock_ms(CLOCK_MONOTONIC) - started) / 1000;
    if (status != 0) {
        if (incr_fd >= 0) {
            file_close(incr_fd);
        }
        log_warn("Background AOF rewrite failed: %s", strerror(-status));
        aof.stats.last_rewrite_ok = false;
        aof.stats.rewrites_consecutive_failures++;
        return status;
    }
    if (aof.fd >= 0) {
        file_close(aof.fd);
    }
    files_delete(&aof.manifest, &next);
    aof.manifest = next;
    file_switch(incr_fd);
    aof.selected_db = -1;
    aof.base_bytes = base_bytes;
    aof.stats.base_size = base_bytes;
    aof.stats.current_size = base_bytes;
    aof.rewrite_base_bytes = base_bytes;
    aof.stats.last_rewrite_ok = true;
    aof.stats.rewrites_consecutive_failures = 0;
    log_info("Background AOF rewrite finished successfully");
    return 0;
}

/* ---- The sliced rewrite (BGREWRITEAOF, the automatic one, CONFIG SET appendonly yes) ---- */

static int base_sink_write(void *context, const uint8_t *bytes, uint32_t length,
                           uint64_t offset, uint32_t tag)
{
    (void)context;
    KV_ASSERT(aof.base_fd >= 0 && tag < SNAPSHOT_BUFFER_COUNT);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&aof.base_ring);
    KV_ASSERT(sqe != NULL); /* the snapshot's buffers and an fsync at most: the SQ has room */
    io_uring_prep_write(sqe, aof.base_fd, bytes, length, offset);
    io_uring_sqe_set_data64(sqe, tag);
    int status = io_uring_submit(&aof.base_ring);
    if (status < 0) {
        return status;
    }
    aof.base_pending++;
    return 0;
}

static int base_sink_sync(void *context)
{
    (void)context;
    KV_ASSERT(aof.base_fd >= 0);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&aof.base_ring);
    KV_ASSERT(sqe != NULL);
    io_uring_prep_fsync(sqe, aof.base_fd, 0);
    io_uring_sqe_set_data64(sqe, SNAPSHOT_TAG_SYNC);
    int status = io_uring_submit(&aof.base_ring);
    if (status < 0) {
        return status;
    }
    aof.base_pending++;
    return 0;
}

static bool base_sink_reap(void *context, bool wait, uint32_t *tag, int *result)
{
    (void)context;
    if (aof.base_pending == 0) {
        return false;
    }
    struct io_uring_cqe *cqe = NULL;
    int status = -EINTR;
    /* A signal interrupts the wait, not the operation. Bounded by the signals delivered. */
    while (status == -EINTR) {
        status = wait ? io_uring_wait_cqe(&aof.base_ring, &cqe)
                      : io_uring_peek_cqe(&aof.base_ring, &cqe);
    }
    if (status < 0 || cqe == NULL) {
        return false;
    }
    *tag = (uint32_t)io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    io_uring_cqe_seen(&aof.base_ring, cqe);
    aof.base_pending--;
    return true;
}

/* A rewrite failed (its base's start or walk, or its end's chain): counted, logged as Redis
 * does; when it was turning the AOF on, appendonly goes back to no. The temp base file was
 * removed by the caller as far as it is not listed. */
static void rewrite_fail(int status)
{
    KV_ASSERT(status < 0);
    aof.stats.rewrite_in_progress = false;
    aof.stats.last_rewrite_time_sec = (clock_ms(CLOCK_MONOTONIC) - aof.rewrite_started_ms) / 1000;
    if (status == -ECANCELED) {
        log_warn("Background AOF rewrite terminated by signal");
    } else {
        log_warn("Background AOF rewrite failed: %s", strerror(-status));
    }
    aof.stats.last_rewrite_ok = false;
    aof.stats.rewrites_consecutive_failures++;
    if (aof.rewrite_turning_on) {
        /* The next pass turns the AOF off again (and removes the unlisted incr file). */
        log_warn("Redis needs to enable the AOF but can't trigger a background AOF rewrite "
                 "operation. Check the above logs for more info about the error.");
        redis_param_store((uint32_t)aof.param_appendonly, "no");
    }
}

/* The base file is written and fsynced (its fsync completed on the base ring): the manifest
 * of the new base and the incr file opened at the start goes out as the manifest job's end
 * chain (the base's rename first), without waiting. A start's chain still in flight completes
 * first (the temp manifest is the same); one not started yet is not needed: the end's lists
 * the incr file too. Until the chain completes, the rewrite is in progress. */
static void rewrite_end_request(void)
{
    KV_ASSERT(aof.base_fd < 0 && (aof.manifest.incr_count > 0 || !aof.on));
    KV_ASSERT(!rewrite_ending() && !aof.manifest_job.end_settle);
    struct aof_manifest *next = &aof.end_manifest;
    *next = (struct aof_manifest){.base_seq = aof.manifest.base_seq + 1};
    snprintf(next->base, sizeof(next->base), "%s.%" PRIu64 ".base.rdb", param("appendfilename"),
             next->base_seq);
    if (aof.on) {
        /* The incr file being fed; with appendonly off, every incr file is history. */
        next->incr_count = 1;
        memcpy(next->incr[0], aof.manifest.incr[aof.manifest.incr_count - 1],
               sizeof(next->incr[0]));
        next->incr_seq[0] = aof.manifest.incr_seq[aof.manifest.incr_count - 1];
    }
    if (!aof_path(aof.base_path, next->base)) {
        (void)file_unlink(aof.base_temp);
        rewrite_fail(-ENAMETOOLONG);
        return;
    }
    const struct snapshot_progress *progress = snapshot_progress();
    aof.end_keys_written = progress->keys_written;
    aof.end_keys_early = progress->keys_early;
    aof.end_parts_early = progress->parts_early;
    aof.manifest_job.end_wanted = true;
    manifest_advance(clock_ms(CLOCK_MONOTONIC), true);
}

/* The end's chain is over (at the pass's end, or a drain's wait). Done: the old files, which
 * the durable manifest no longer lists, are deleted on the ring (the retiring file, if it
 * still retires, is deleted open: its bytes are in the base), then INFO shows the rewrite's
 * end (rewrite_end_report). Failed: the
 * old manifest stays, with every old file; the new base goes unless the manifest's rename
 * happened (only the directory's fsync failed: the new manifest may be the one in place). */
static void rewrite_end_settle(void)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    KV_ASSERT(job->end_settle && job->chain_end && job->chain_pending == 0);
    job->end_settle = false;
    job->chain_end = false;
    if (job->status != 0) {
        /* failed_link -1: its opens failed (logged), nothing was renamed. */
        if (job->failed_link == 0) {
            log_warn("Error trying to rename the temporary AOF base file %s into %s: %s",
                     aof.base_temp, aof.end_manifest.base, strerror(-job->status));
        } else if (job->failed_link > 0) {
            log_warn("Failed to persist the AOF manifest %s at the rewrite's end: %s",
                     job->path, strerror(-job->status));
        }
        if (job->failed_link <= 0) {
            (void)file_unlink(aof.base_temp);
        } else if (job->failed_link <= AOF_END_LINK_MANIFEST_RENAME) {
            (void)file_unlink(aof.base_path); /* renamed, but no manifest names it */
        }
        if (job->failed_link <= AOF_END_LINK_MANIFEST_RENAME) {
            (void)file_unlink(job->temp); /* written maybe, never renamed */
        }
        rewrite_fail(job->status);
        return;
    }
    deletions_queue(&aof.manifest, &aof.end_manifest);
    aof.manifest = aof.end_manifest;
    job->wanted = false; /* the end's manifest lists the incr file, durably */
    write_solved(AOF_FAILING_MANIFEST);
    aof.rewrite_turning_on = false;
    log_info("Background AOF rewrite terminated with success (forkless: %llu keys, %llu written "
             "before a change, %llu large keys finished early)",
             (unsigned long long)aof.end_keys_written, (unsigned long long)aof.end_keys_early,
             (unsigned long long)aof.end_parts_early);
    job->end_deleting = true;
    deletions_advance(); /* and the end's report once they went (at once when none) */
}

/* The old files are deleted: INFO shows the rewrite's end (a client that saw
 * aof_rewrite_in_progress:0 finds only the new files). */
static void rewrite_end_report(void)
{
    struct aof_manifest_job *job = &aof.manifest_job;
    KV_ASSERT(job->end_deleting && !deletions_busy());
    job->end_deleting = false;
    int64_t base_size = file_size(aof.base_path);
    if (aof.on) {
        /* As Redis: the sizes are the AOF's only while it is on (INFO shows them then). */
        aof.base_bytes = base_size > 0 ? (uint64_t)base_size : 0;
        aof.stats.base_size = aof.base_bytes;
        aof.stats.current_size = aof.base_bytes + aof.file_bytes;
        aof.rewrite_base_bytes = aof.stats.current_size;
    }
    aof.stats.rewrite_in_progress = false;
    aof.stats.last_rewrite_time_sec = (clock_ms(CLOCK_MONOTONIC) - aof.rewrite_started_ms) / 1000;
    aof.stats.last_rewrite_ok = true;
    aof.stats.rewrites_consecutive_failures = 0;
    log_info("Background AOF rewrite finished successfully");
}

static void base_sink_done(void *context, int status)
{
    (void)context;
    KV_ASSERT(aof.base_pending == 0 && aof.base_fd >= 0);
    KV_ASSERT(aof.stats.rewrite_snapshot);
    aof.stats.rewrite_snapshot = false;
    file_close(aof.base_fd);
    aof.base_fd = -1;
    if (status == 0) {
        rewrite_end_request();
        return;
    }
    (void)file_unlink(aof.base_temp);
    rewrite_fail(status);
}

/*
 * The rewrite's switch, without waiting for the disk: a new incr file is opened (an open, no
 * data) and propagation switches to it at once; the old file retires on the ring (its last
 * bytes, its fsync, its close: file_switch) as Redis's background fsync-and-close, and the
 * manifest listing the new file is persisted on the ring too (not when turning on: then no
 * manifest is current), the new file's bytes credited as durable only once it is. Returns 0,
 * or a negative errno (logged, counted as a failed rewrite) when nothing changed.
 */
static int rewrite_switch(bool turning_on)
{
    int status = 0;
    if (aof.manifest.incr_count == AOF_INCR_FILES_MAX) {
        log_warn("The manifest lists %u incr files (failed rewrites): kv lists no more",
                 AOF_INCR_FILES_MAX);
        status = -EMLINK;
    }
    static struct aof_manifest listed; /* 33 KB: not on the stack */
    listed = aof.manifest;
    uint64_t seq = listed.incr_count > 0 ? listed.incr_seq[listed.incr_count - 1] + 1 : 1;
    char path[AOF_PATH_BYTES];
    int incr_fd = -1;
    if (status == 0) {
        snprintf(listed.incr[listed.incr_count], sizeof(listed.incr[0]), "%s.%" PRIu64 ".incr.aof",
                 param("appendfilename"), seq);
        listed.incr_seq[listed.incr_count] = seq;
        status = aof_path(path, listed.incr[listed.incr_count]) ? 0 : -ENAMETOOLONG;
        listed.incr_count++;
    }
    if (status == 0) {
        incr_fd = file_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        status = incr_fd < 0 ? incr_fd : 0;
    }
    if (status != 0) {
        log_warn("Can't open the append-only file for the rewrite: %s", strerror(-status));
        aof.stats.last_rewrite_ok = false;
        aof.stats.rewrites_consecutive_failures++;
        return status;
    }
    log_info("Creating AOF incr file %s on background rewrite", listed.incr[listed.incr_count - 1]);
    /* The switch: what is fed from now on goes to the new incr file. */
    file_switch(incr_fd);
    aof.selected_db = -1;
    aof.manifest = listed;
    if (!turning_on) {
        /* Until it is durable, the new file's fsyncs wait; it goes out once the retiring
         * file is durable (now, when it already is: nothing fed since its last fsync). */
        aof.manifest_job.wanted = true;
        manifest_advance(0, true);
    }
    return 0;
}

/*
 * Starts the sliced rewrite, in Redis 7.0's order: with appendonly on, the switch to a new
 * incr file (rewrite_switch); with appendonly off (BGREWRITEAOF alone, as Redis 7.0 allows:
 * a base file and a manifest listing it alone, the incr files deleted as history), the
 * manifest on disk is read instead (Redis's in-memory one, loaded at startup). Then the
 * snapshot's point is taken now and its walk writes the base file between passes (cron's
 * snapshot_step), ending in base_sink_done. Callers check retiring_busy first (one retiring
 * file, one manifest job). Returns 0, or a negative errno: the switch did not happen when
 * aof.fd is unchanged (nothing changed), else the base's start failed (counted as a failed
 * rewrite, the new incr file stays listed as Redis keeps it).
 */
static int rewrite_begin(bool turning_on)
{
    KV_ASSERT(aof.base_fd < 0 && !snapshot_running());
    KV_ASSERT(!retiring_busy());
    KV_ASSERT(aof.on || turning_on || aof.fd < 0);
    aof.stats.rewrite_scheduled = false;
    int status = dir_make();
    if (status == 0 && !aof.on && !turning_on) {
        int found = manifest_read(&aof.manifest); /* none: an empty one, the base's seq 1 */
        status = found < 0 ? -EINVAL : 0;
    }
    if (status != 0) {
        log_warn("Can't open or create append-only dir: %s", strerror(-status));
        aof.stats.last_rewrite_ok = false;
        aof.stats.rewrites_consecutive_failures++;
        return status;
    }
    if (aof.on || turning_on) {
        status = rewrite_switch(turning_on);
        if (status != 0) {
            return status;
        }
    }
    aof.rewrite_turning_on = turning_on;
    aof.rewrite_started_ms = clock_ms(CLOCK_MONOTONIC);
    aof.stats.rewrite_started_ms = clock_ms(CLOCK_REALTIME);
    aof.stats.rewrite_in_progress = true;
    aof.stats.rewrites++; /* as Redis's stat_aof_rewrites: every rewrite started */
    char name[AOF_NAME_BYTES];
    snprintf(name, sizeof(name), "temp-rewriteaof-bg-%d.aof", (int)getpid());
    status = aof_path(aof.base_temp, name) ? 0 : -ENAMETOOLONG;
    if (status == 0) {
        aof.base_fd = file_open(aof.base_temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        status = aof.base_fd < 0 ? aof.base_fd : 0;
        aof.base_fd = aof.base_fd < 0 ? -1 : aof.base_fd;
    }
    if (status == 0) {
        static const struct snapshot_sink sink = {.write = base_sink_write,
                                                  .sync = base_sink_sync,
                                                  .reap = base_sink_reap,
                                                  .done = base_sink_done,
                                                  .preamble = rdb_file_functions_write};
        status = snapshot_start(aof.store, &sink, clock_ms(CLOCK_REALTIME));
        if (status < 0) {
            file_close(aof.base_fd);
            aof.base_fd = -1;
        }
        /* The snapshot is the rewrite's until its done; the rewrite stays in progress until
         * its end's manifest is durable, while a BGSAVE may start (a snapshot of its own). */
        aof.stats.rewrite_snapshot = status == 0;
    }
    if (status != 0) {
        (void)file_unlink(aof.base_temp);
        rewrite_fail(status);
        return status;
    }
    log_info("Background append only file rewriting started (forkless snapshot)");
    return 0;
}

/* Failures in a row after which automatic and scheduled rewrites wait, as Redis 7.0's
 * aofRewriteLimited: 1 minute, doubling up to an hour. */
#define AOF_REWRITE_LIMIT_THRESHOLD 3u
#define AOF_REWRITE_LIMIT_MAX_MINUTES 60

/* Whether automatic and scheduled rewrites wait (repeated failures); `now` monotonic ms. */
static bool rewrite_limited(int64_t now)
{
    static int64_t next_delay_minutes;
    static int64_t next_rewrite_ms;
    if (aof.stats.rewrites_consecutive_failures < AOF_REWRITE_LIMIT_THRESHOLD) {
        next_delay_minutes = 0;
        next_rewrite_ms = 0;
        return false;
    }
    if (next_rewrite_ms != 0) {
        if (now < next_rewrite_ms) {
            return true;
        }
        next_rewrite_ms = 0;
        return false;
    }
    next_delay_minutes = next_delay_minutes == 0 ? 1 : next_delay_minutes * 2;
    if (next_delay_minutes > AOF_REWRITE_LIMIT_MAX_MINUTES) {
        next_delay_minutes = AOF_REWRITE_LIMIT_MAX_MINUTES;
    }
    next_rewrite_ms = now + next_delay_minutes * 60000;
    log_warn("Background AOF rewrite has repeatedly failed and triggered the limit, will retry "
             "in %d minutes", (int)next_delay_minutes);
    return true;
}

/* CONFIG RESETSTAT (propagate_sink's stats_reset). */
static void sink_stats_reset(void *context)
{
    (void)context;
    aof.stats.rewrites = 0;
    aof.stats.rewrites_consecutive_failures = 0;
}

/* BGREWRITEAOF (propagate_sink's rewrite). */
static int sink_rewrite(void *context, bool in_exec)
{
    (void)context;
    if (aof.base_fd >= 0 || rewrite_ending()) {
        return -EBUSY;
    }
    if (in_exec || snapshot_running() || retiring_busy()) {
        aof.stats.rewrite_scheduled = true;
        aof.stats.rewrites_consecutive_failures = 0;
        return 1;
    }
    return rewrite_begin(false);
}

/* ---- On and off ---- */

/* Turning off after a failed drain: what is in flight completes, the retiring file and the
 * manifest job's fds close, the bytes not written are dropped (logged by the caller, as
 * Redis's stopAppendOnly), the stream's offset stays where it was. */
static void writes_abandon(void)
{
    uint64_t fed = aof_fed_offset();
    struct aof_manifest_job *job = &aof.manifest_job;
    /* Bounded: each wait completes one of the operations in flight; none is submitted. */
    while (aof.job_in_flight || aof.fsync_in_flight || aof.retiring.fsync_in_flight ||
           aof.retiring.close_in_flight || job->chain_pending > 0 || job->close_pending > 0) {
        reap(true);
    }
    if (aof.retiring.fd >= 0) {
        file_close(aof.retiring.fd);
        aof.retiring.fd = -1;
    }
    if (job->fd >= 0) {
        file_close(job->fd);
        file_close(job->dir_fd);
        job->fd = -1;
        job->dir_fd = -1;
    }
    if (job->end_wanted) {
        /* A rewrite's end whose chain never went: the rewrite fails, its base goes. */
        job->end_wanted = false;
        job->chain_end = true;
        job->status = -ECANCELED;
        job->failed_link = -1; /* nothing was renamed */
        job->end_settle = true;
    }
    if (job->end_settle) {
        rewrite_end_settle();
    }
    job->wanted = false;
    aof.halves[0].length = 0;
    aof.halves[1].length = 0;
    aof.job = false;
    aof.job_done = 0;
    aof.job_old_bytes = 0;
    aof.fill_old_bytes = 0;
    aof.origin = fed - aof.file_bytes;
    KV_ASSERT(aof_fed_offset() == fed);
}

static void turn_off(void)
{
    if (!aof.on) {
        return;
    }
    if (aof.base_fd >= 0) {
        log_info("Killing running AOF rewrite child");
        snapshot_abort(); /* its done: the temp base file goes */
    }
    if (drain() != 0) {
        log_warn("Writing the AOF buffer on turning appendonly off failed");
        writes_abandon();
    }
    file_close(aof.fd);
    aof.fd = -1;
    char path[AOF_PATH_BYTES];
    if (aof.rewrite_turning_on &&
        aof_path(path, aof.manifest.incr[aof.manifest.incr_count - 1])) {
        (void)file_unlink(path); /* turning on failed: no manifest lists it */
    }
    aof.rewrite_turning_on = false;
    aof.on = false;
    aof.stats.enabled = false;
    aof.stats.last_write_errno = 0;
    aof.failing = 0;
    propagate_enable(false);
}

/* CONFIG SET appendonly yes: a rewrite makes the files from the dataset. */
static void turn_on(void)
{
    KV_ASSERT(!aof.on);
    struct aof_manifest existing;
    if (dir_make() == 0 && manifest_read(&existing) == 1) {
        aof.manifest = existing; /* its sequence numbers go on; its files go after */
    }
    aof.fsync_policy = fsync_policy_read();
    if (snapshot_running() || manifest_busy() || deletions_busy()) {
        /* A BGSAVE runs: Redis schedules the rewrite; kv waits for the next pass. A rewrite
         * of appendonly no runs (its base, or its end's manifest): Redis kills it and starts
         * again; kv lets it end first (the next passes). */
        return;
    }
    if (rewrite_begin(true) != 0 && aof.fd < 0) {
        log_warn("Redis needs to enable the AOF but can't trigger a background AOF rewrite "
                 "operation. Check the above logs for more info about the error.");
        redis_param_store((uint32_t)aof.param_appendonly, "no");
        return;
    }
    /* Fed from now on (into the new incr file) while the base is written; a failure of the
     * base turns appendonly off again at the next pass (rewrite_fail). */
    aof.on = true;
    aof.stats.enabled = true;
    aof.last_fsync_ms = clock_ms(CLOCK_MONOTONIC);
    propagate_enable(true);
}

/* ---- The pass's end ---- */

/* Submits what can go now, without waiting: a failed write's retry, the fill half as the
 * next write (its own fsync linked to it with `always`: the group commit of what the pass
 * fed), and with `always` an fsync of written bytes none covers yet (their write went while
 * another fsync was in flight). The completions come back through the eventfd (aof_event). */
static void writes_advance(int64_t now, bool always)
{
    struct aof_half *fill = &aof.halves[aof.fill_index];
    if (!aof.job_in_flight && aof.job && now >= aof.retry_ms) {
        job_submit(always); /* a retry, or a half handed over when full */
    }
    if (!aof.job && fill->length > 0) {
        fill_hand_over();
        job_submit(always);
    }
    if (always && !aof.job_in_flight && !aof.fsync_in_flight &&
        aof.fsynced_bytes < aof.file_bytes) {
        fsync_prepare(aof.file_bytes);
        ring_submit();
    }
    retiring_advance(now, false);
    manifest_advance(now, false);
}

static void sink_pass_end(void *context)
{
    (void)context;
    bool wanted = appendonly_read();
    if (wanted != aof.on) {
        if (wanted) {
            turn_on();
        } else {
            turn_off();
        }
    }
    aof.fsync_policy = fsync_policy_read();
    reap(false);
    int64_t now = clock_ms(CLOCK_MONOTONIC);
    if (!aof.on) {
        /* A rewrite of appendonly no: its end's manifest, or its start once scheduled. */
        manifest_advance(now, false);
        if (aof.stats.rewrite_scheduled && aof.base_fd < 0 && !snapshot_running() &&
            !retiring_busy() && !rewrite_limited(now)) {
            (void)rewrite_begin(false);
        }
        return;
    }
    /* No rewrite starts while a snapshot runs, nor while repeated failures wait. */
    bool rewriting = aof.base_fd >= 0 || snapshot_running() || retiring_busy();
    if (aof.stats.rewrite_scheduled && !rewriting && !rewrite_limited(now)) {
        (void)rewrite_begin(false);
        rewriting = true;
    }
    /* Auto rewrite, as Redis's serverCron: past the minimum and grown by the percentage. */
    int64_t percentage = strtoll(param("auto-aof-rewrite-percentage"), NULL, 10);
    uint64_t min_size = strtoull(param("auto-aof-rewrite-min-size"), NULL, 10);
    uint64_t base = aof.rewrite_base_bytes > 0 ? aof.rewrite_base_bytes : 1;
    if (!rewriting && percentage > 0 && aof.stats.current_size > min_size &&
        (aof.stats.current_size - base) * 100 / base >= (uint64_t)percentage &&
        aof.stats.current_size > base && !rewrite_limited(now)) {
        log_info("Starting automatic rewriting of AOF on %" PRIu64 "%% growth",
                 (aof.stats.current_size - base) * 100 / base);
        (void)rewrite_begin(false);
    }
    bool always = aof.fsync_policy == AOF_FSYNC_ALWAYS;
    writes_advance(now, always);
    if (always) {
        aof.last_fsync_ms = now;
    } else if (aof.fsync_policy == AOF_FSYNC_EVERYSEC && aof.fsynced_bytes < aof.file_bytes &&
               now - aof.last_fsync_ms >= 1000) {
        if (aof.fsync_in_flight) {
            aof.stats.delayed_fsync++;
        } else {
            fsync_prepare(aof.file_bytes);
            aof.last_fsync_ms = now;
            ring_submit();
        }
    }
    aof.stats.buffer_length = aof.halves[aof.fill_index].length +
                              (aof.job ? aof.halves[aof.fill_index ^ 1u].length - aof.job_done
                                       : 0);
    aof.stats.pending_fsync = aof.fsync_in_flight || aof.retiring.fsync_in_flight;
    KV_ASSERT(aof.halves[aof.fill_index].length <= AOF_WRITE_BUFFER_BYTES);
}

static bool sink_timer_wanted(void *context)
{
    (void)context;
    return aof.on && (aof.job || aof.halves[aof.fill_index].length > 0 ||
                      (aof.fsync_policy != AOF_FSYNC_NO && aof.fsynced_bytes < aof.file_bytes) ||
                      retiring_busy());
}

bool aof_gating(void)
{
    /* A CONFIG SET appendfsync always holds the replies of its own pass already: its end
     * fsyncs what the pass fed (the policy is read there). */
    return aof.on &&
           (aof.fsync_policy == AOF_FSYNC_ALWAYS || fsync_policy_read() == AOF_FSYNC_ALWAYS);
}

uint64_t aof_fed_offset(void)
{
    uint64_t held = aof.halves[aof.fill_index].length;
    if (aof.job) {
        KV_ASSERT(aof.job_done <= aof.halves[aof.fill_index ^ 1u].length);
        held += aof.halves[aof.fill_index ^ 1u].length - aof.job_done;
    }
    /* The halves' head may be the retiring file's, whose bytes come before aof.origin. */
    return aof.origin + aof.file_bytes + held - retiring_pending();
}

uint64_t aof_synced_offset(void)
{
    /* A linked fsync's completion may be reaped before its write's: its credit counts once
     * the write's bytes do. */
    const struct aof_retiring *retiring = &aof.retiring;
    if (!retiring_synced()) {
        /* Nothing past the retiring file's end counts before its own fsync completes, even
         * when the current file's completed first (a reply may depend on both). */
        uint64_t old = retiring->fsynced_bytes < retiring->written_bytes
                           ? retiring->fsynced_bytes
                           : retiring->written_bytes;
        KV_ASSERT(old < retiring->end_bytes);
        KV_ASSERT(retiring->origin + retiring->end_bytes == aof.origin);
        return retiring->origin + old;
    }
    if (aof.manifest_job.wanted) {
        return aof.origin; /* the new incr file is not durably listed yet */
    }
    uint64_t synced = aof.fsynced_bytes < aof.file_bytes ? aof.fsynced_bytes : aof.file_bytes;
    KV_ASSERT(aof.origin + synced <= aof_fed_offset());
    return aof.origin + synced;
}

int aof_event_fd(void)
{
    KV_ASSERT(aof.ready);
    return aof.event_fd;
}

void aof_event(void)
{
    if (aof.ready) {
        reap(false);
    }
}

void aof_flush(void)
{
    if (aof_gating()) {
        writes_advance(clock_ms(CLOCK_MONOTONIC), true);
    }
}

/* ---- Startup and shutdown ---- */

/* A Redis 6 AOF (<dir>/<appendfilename>, no manifest) becomes the base of the multi-part
 * layout, moved into the AOF directory, as Redis 7.0's aofUpgradePrepare. False: kv exits. */
static bool upgrade_old_style(struct aof_manifest *manifest, int *found)
{
    const char *filename = param("appendfilename");
    char old_path[AOF_PATH_BYTES];
    char new_path[AOF_PATH_BYTES];
    if (!path_join(old_path, param("dir"), filename) || !aof_path(new_path, filename)) {
        return false;
    }
    if (file_size(old_path) < 0) {
        return true; /* none: a fresh start */
    }
    int fd = file_open(old_path, O_RDONLY, 0);
    uint8_t head[5] = {0};
    int64_t got = fd >= 0 ? file_read(fd, head, sizeof(head), 0) : -1;
    if (fd >= 0) {
        file_close(fd);
    }
    if (got == (int64_t)sizeof(head) && memcmp(head, "REDIS", 5) == 0) {
        log_warn("The old-style AOF %s starts with an RDB preamble, which kv does not load yet: "
                 "rewrite it with Redis 7.0 first", filename);
        return false;
    }
    if (dir_make() != 0 || file_rename(old_path, new_path) != 0) {
        log_warn("Failed to move the old-style AOF %s into the AOF directory", filename);
        return false;
    }
    memset(manifest, 0, sizeof(*manifest));
    snprintf(manifest->base, sizeof(manifest->base), "%s", filename);
    manifest->base_seq = 1;
    *found = 1;
    if (manifest_write(manifest) != 0) {
        log_warn("Failed to persist the AOF manifest after migrating %s", filename);
        return false;
    }
    char dir[AOF_PATH_BYTES];
    (void)aof_dir(dir);
    log_info("Successfully migrated an old-style AOF file (%s) into the AOF directory (%s).",
             filename, dir);
    return true;
}

/* The bytes of the files a manifest lists (a missing one counts 0); *base_bytes its base's. */
static uint64_t manifest_files_bytes(const struct aof_manifest *manifest, uint64_t *base_bytes)
{
    char path[AOF_PATH_BYTES];
    int64_t base = manifest->base[0] != '\0' && aof_path(path, manifest->base) ? file_size(path)
                                                                             : 0;
    *base_bytes = base > 0 ? (uint64_t)base : 0;
    uint64_t total = *base_bytes;
    /* Bounded by AOF_INCR_FILES_MAX. */
    for (uint32_t index = 0; index < manifest->incr_count; index++) {
        int64_t bytes = aof_path(path, manifest->incr[index]) ? file_size(path) : 0;
        total += bytes > 0 ? (uint64_t)bytes : 0;
    }
    return total;
}

bool aof_startup(const struct cmd_context *shared, bool *failed)
{
    KV_ASSERT(aof.ready);
    *failed = false;
    aof.context = (struct cmd_context *)shared;
    aof.store = shared->store;
    aof.client = (struct client){.id = UINT64_MAX, .authenticated = true, .resp = 2};
    store_clock(aof.store, clock_ms(CLOCK_REALTIME)); /* a base's keys past their time stay out */
    static const struct propagate_sink sink = {
        .begin = sink_begin, .arg = sink_arg, .multi = sink_multi, .exec = sink_exec,
        .pass_end = sink_pass_end,
        .timer_wanted = sink_timer_wanted, .rewrite = sink_rewrite,
        .stats_reset = sink_stats_reset};
    propagate_register(&sink, &aof.stats);
    if (!appendonly_read()) {
        return false;
    }
    aof.fsync_policy = fsync_policy_read();
    struct aof_manifest manifest;
    int found = manifest_read(&manifest);
    if (found < 0 || (found == 0 && !upgrade_old_style(&manifest, &found))) {
        *failed = true;
        return true;
    }
    /* Replayed commands stay out of the slow log (Redis runs them outside call()). */
    cmd_slowlog_threshold_set(-1);
    /* The files' sizes before they load: Redis's aof_current_size (a torn tail cut while
     * loading still counts, as Redis counts it until a rewrite). */
    uint64_t base_bytes = 0;
    uint64_t files_bytes = manifest_files_bytes(&manifest, &base_bytes);
    bool loaded = found == 0 || load_files(&manifest);
    cmd_slowlog_threshold_set(shared->config->slowlog_log_slower_than);
    if (!loaded) {
        *failed = true;
        return true;
    }
    aof.manifest = manifest;
    if (manifest.base[0] == '\0' && manifest.incr_count == 0) {
        /* An empty dataset starts with a base file, as Redis 7.0 does. */
        if (rewrite() != 0) {
            *failed = true;
            return true;
        }
        aof.stats.last_rewrite_time_sec = -1;
    } else {
        bool manifest_changed = manifest.incr_count == 0;
        if (manifest.incr_count == 0) {
            aof.manifest.incr_count = 1;
            aof.manifest.incr_seq[0] = 1;
            snprintf(aof.manifest.incr[0], sizeof(aof.manifest.incr[0]), "%s.1.incr.aof",
                     param("appendfilename"));
        }
        char path[AOF_PATH_BYTES];
        const char *last = aof.manifest.incr[aof.manifest.incr_count - 1];
        if (!aof_path(path, last)) {
            *failed = true;
            return true;
        }
        aof.fd = file_open(path, O_WRONLY | O_CREAT, 0644);
        int status = aof.fd < 0 ? aof.fd : 0;
        status = status == 0 && manifest_changed ? manifest_write(&aof.manifest) : status;
        if (status != 0) {
            log_warn("Can't open the append-only file %s: %s", last, strerror(-status));
            *failed = true;
            return true;
        }
        int64_t size = file_size(path);
        aof.file_bytes = size > 0 ? (uint64_t)size : 0;
        aof.fsynced_bytes = aof.file_bytes;
        aof.base_bytes = base_bytes;
        aof.stats.base_size = aof.base_bytes;
        aof.stats.current_size = files_bytes;
        aof.rewrite_base_bytes = aof.stats.current_size;
    }
    aof.on = true;
    aof.stats.enabled = true;
    aof.last_fsync_ms = clock_ms(CLOCK_MONOTONIC);
    propagate_enable(true);
    return true;
}

void aof_shutdown(void)
{
    if (!aof.ready) {
        return;
    }
    if (!aof.on) {
        /* A rewrite of appendonly no: its base is dropped (Redis kills its child), or its
         * end's manifest, on the ring already, completes. */
        if (aof.base_fd >= 0) {
            log_warn("There is a child rewriting the AOF. Killing it!");
            snapshot_abort();
        }
        if (manifest_wait() != 0) {
            log_warn("Error writing the AOF manifest on shutdown");
        }
        deletions_wait();
        return;
    }
    if (aof.base_fd >= 0 && aof.rewrite_turning_on) {
        /* No manifest lists the files yet: the dataset would be lost (Redis refuses to exit,
         * "Writing initial AOF, can't exit."); kv finishes the base first. */
        log_warn("Writing initial AOF: finishing it before exiting");
        snapshot_finish();
    } else if (aof.base_fd >= 0) {
        /* The manifest lists the old base and every incr file: nothing is lost. */
        log_warn("There is a child rewriting the AOF. Killing it!");
        snapshot_abort();
    }
    if (drain() != 0) {
        log_warn("Error writing the AOF on shutdown");
    }
}
