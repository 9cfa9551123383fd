/*
 * A point-in-time RDB image of the whole keyspace without fork: BGSAVE's (and an AOF
 * rewrite's base file). The walk serializes the keyspace bucket by bucket in bounded slices
 * between loop passes (snapshot_step, from cron, which runs at most one a millisecond), through
 * the RDB writer into a few fixed
 * buffers carved at init; each full buffer goes to the sink (an asynchronous write) while the
 * next one fills. The image is the dataset at the moment snapshot_start ran:
 *
 * - No resize starts while a snapshot runs (dict.frozen: chains grow instead). A rehash in
 *   progress at the start goes on (finishing it there took 200 ms for a million keys, a
 *   stall in the latency bench): the walk's unit is a bucket of the smaller table (dict_units),
 *   whose entries a rehash only moves among that unit's buckets in the larger one, so each
 *   key stays in its unit and a unit is a fixed piece of work. A bitmap (one bit per unit of
 *   every database, one heap allocation at the start) marks the units already written;
 *   "bucket" below means a unit.
 * - Before a key changes, is created or is removed (the store's `touched` hook, and its
 *   `event` hook for expiry and eviction), the snapshot writes that key's bucket first if its
 *   bit is clear, then sets it: the bucket is written as it was at the snapshot point
 *   (every change to it so far went through this hook), and a key created later in it is
 *   never written. The walk skips buckets whose bit is set.
 * - FLUSHDB, FLUSHALL and SWAPDB change whole databases at once: they call
 *   snapshot_settle first, which writes every bucket not yet written (a pause of the
 *   remaining walk, as long as that command is O(keys) anyway).
 *
 * - Large keys (rdb_key_parted: a string over 1 MiB, a quicklist, hashtable or skiplist, a
 *   stream past rdb.h's RDB_PART_STREAM_*_MIN) are not written with their bucket: the walk
 *   queues them (SNAPSHOT_QUEUE_COUNT; past it, written whole) and writes one at a time in
 *   pieces of about a slice (rdb.h's parts), before it goes on to the next bucket. While
 *   one is half written, every other key (the hook's) goes to a side buffer appended after
 *   it, since the file is one stream. The hook (and snapshot_key_ahead, for a write
 *   command naming it) on the key being written finishes it first; on a queued one writes
 *   it whole; on a key of an unwritten bucket writes that key whole (large or not) and
 *   queues the bucket's other large keys. A read
 *   names large keys freely: only write commands call snapshot_key_ahead, and what a read
 *   changes (an expired key's removal, PFCOUNT's cache) reaches the hook before it changes.
 *   Pauses past a slice: the rest of one large key, only when a client writes that key
 *   (progress.parts_early counts them) or its queued neighbour is written whole because the
 *   queue is full, or when the hook's keys fill the side buffer (SNAPSHOT_SIDE_BYTES).
 *   A stream's groups change outside the store's hook (XREADGROUP's PEL, XACK, XCLAIM,
 *   XGROUP), always by a write command naming the stream: snapshot_key_ahead is what
 *   finishes a stream half written before those.
 *
 * Bounds: a slice writes whole buckets and pieces of one large key until
 * SNAPSHOT_SLICE_BYTES have gone into the writer, overshooting by at most one small key's
 * bytes or one element of a large collection (a list's node: 8 KiB or one element; a
 * stream's node of 100 entries, a nack, a pending ID or a group's or consumer's head). A
 * slice starts, and goes on, only while two buffers besides the filling one are free (one
 * kept for the writes ahead of commands): when the disk is
 * behind, the walk waits for completions between loop passes and the loop serves clients.
 * Only a flush that still finds every buffer in flight (a bucket larger than a buffer, or
 * the hook's writes ahead of commands) waits for the oldest write (the sink's reap with
 * wait), so memory never grows. Memory: the
 * buffers and an LZF table, carved at init (snapshot_plan_bytes), the bitmap from the heap at
 * the start (no room: the start fails with -ENOMEM), values' scratch from the heap as SAVE.
 * One snapshot at a time (Redis too allows one child).
 */
#ifndef KV_SNAPSHOT_H
#define KV_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "lzf.h"
#include "rdb.h"
#include "region.h"
#include "store.h"

/* Write buffers: one filling while the others are written. */
#define SNAPSHOT_BUFFER_COUNT 4u
#define SNAPSHOT_BUFFER_BYTES (512u * 1024u)
/* Bytes a slice hands the writer before it returns to the loop (whole buckets, and pieces
 * of a large key: rdb.h's parts). */
#define SNAPSHOT_SLICE_BYTES (64u * 1024u)
/* Large keys the walk's buckets met and has yet to write in parts (a bucket holds a handful
 * of keys; one the queue has no room for is written whole). */
#define SNAPSHOT_QUEUE_COUNT 32u
/* The side writer: keys the hook writes while a large key is half written, appended after
 * it. Fuller than this, the large key is finished first (a pause of its rest). */
#define SNAPSHOT_SIDE_BYTES (1024u * 1024u)

/* The region bytes snapshot_init carves: the buffers, the LZF table, the side buffer,
 * alignment slack. */
static inline uint64_t snapshot_plan_bytes(void)
{
    return (uint64_t)SNAPSHOT_BUFFER_COUNT * SNAPSHOT_BUFFER_BYTES + LZF_TABLE_BYTES +
           SNAPSHOT_SIDE_BYTES + 3u * 64u;
}

/* Where a snapshot's bytes go (the RDB file's ring, or the AOF's base file). Every call
 * returns at once but reap with `wait`. */
struct snapshot_sink {
    void *context;
    /* Submits a write of `length` bytes at `offset`; its completion comes back through reap
     * with `tag`. 0, or a negative errno (the snapshot fails). */
    int (*write)(void *context, const uint8_t *bytes, uint32_t length, uint64_t offset,
                 uint32_t tag);
    /* Submits the file's end: its fsync, and whatever makes it current (rdb_file: close and
     * rename, linked, so that no step runs on the loop's thread). The last step's completion
     * comes with tag SNAPSHOT_TAG_SYNC, the others' with SNAPSHOT_TAG_STEP. */
    int (*sync)(void *context);
    /* One completion: true with its tag and result (bytes written, 0 for the fsync, or a
     * negative errno); false when none is ready (never with wait, unless none is pending). */
    bool (*reap)(void *context, bool wait, uint32_t *tag, int *result);
    /* The end: status 0 after the fsync completed (the sink makes the file current), else a
     * negative errno (the sink removes it). Called once, from snapshot_step or
     * snapshot_abort. */
    void (*done)(void *context, int status);
    /* Optional: writes what goes after the header and before the databases (the function
     * libraries, rdb_write_function); it runs in snapshot_start. NULL: nothing. */
    void (*preamble)(void *context, struct rdb_writer *writer);
};

#define SNAPSHOT_TAG_SYNC UINT32_MAX
#define SNAPSHOT_TAG_STEP (UINT32_MAX - 1u)

/* Carves the buffers and the LZF table. */
void snapshot_init(struct region *region);

/* Wraps the store's `touched` hook (set before): every key change is counted (Redis's dirty
 * counter, for save points and INFO) and, while a snapshot walks, written first. */
void snapshot_attach(struct store *store);

/* Key changes counted since startup (rdb_changes_since_last_save is this less its value at
 * the last save). */
uint64_t snapshot_changes(void);

/* Takes the snapshot point now and starts the walk (the sink's file is open): 0, -EBUSY when
 * one runs, -ENOMEM when the heap has no room for the bitmap. Hooks the store until the end. */
KV_MUST_USE int snapshot_start(struct store *store, const struct snapshot_sink *sink,
                               int64_t now_ms);

/* A write command is about to run with `key` among its keys (in the selected database of
 * the store given as context): a running walk writes the key's bucket now, before any part
 * of the command changes it (the store's hook may come in the middle of a type's change). */
void snapshot_key_ahead(void *store, struct slice key);

/* Whether a snapshot runs (BGSAVE in progress). */
bool snapshot_running(void);

/* One slice: reaps finished writes, writes up to SNAPSHOT_SLICE_BYTES of buckets, and at the
 * end the checksum, the fsync and the sink's done. Returns whether the loop should come back
 * at once (work is left that needs no wait). */
bool snapshot_step(void);

/* Writes every bucket not yet written (FLUSHDB, FLUSHALL, SWAPDB are about to change whole
 * databases); the writes go on asynchronously. Nothing when no snapshot runs. */
void snapshot_settle(void);

/* Stops a running snapshot (SHUTDOWN without saving, or an error): waits for the writes in
 * flight, tells the sink done(-ECANCELED), unhooks the store. */
void snapshot_abort(void);

/* Runs the snapshot to its end now, waiting on the sink (SHUTDOWN waits for a BGSAVE). */
void snapshot_finish(void);

/* What INFO persistence shows of the running snapshot. */
struct snapshot_progress {
    int64_t started_ms;        /* Unix ms of the snapshot point */
    uint64_t bytes_written;    /* bytes handed to the writer so far */
    uint64_t keys_written;     /* keys serialized so far */
    uint64_t keys_early;       /* of them, written before a change (the hook) */
    uint64_t parts_early;      /* large keys finished, or written whole (queued, or in a
                                  bucket not yet written), because a write command or the
                                  hook was about to change them: each a pause of that key's
                                  rest (a read never causes one) */
};

const struct snapshot_progress *snapshot_progress(void);

#endif
