/*
 * The forkless point-in-time RDB image (include/snapshot.h).
 *
 * Invariants while the walk runs: every keys dict is frozen (no resize starts), so its units
 * (dict_units at the start: the smaller table's buckets when a rehash is in progress) stay
 * fixed and a key's unit is hash & (units - 1) for the whole walk, whichever table the
 * rehash, which goes on, moves it to; a unit's bit is set exactly when the unit has been
 * written, and a unit is written at most once, before any change to it after the snapshot
 * point; the writer's buffer is never one in flight. The start does no rehash work, so it
 * costs the same whatever state the tables are in. After the walk
 * (drain, sync) the store is unhooked and thawed, and only completions are awaited.
 * Nothing is allocated but the bitmap (heap, released at the end) and the values' scratch.
 */
#include "snapshot.h"

#include <errno.h>
#include <string.h>

#include "dict.h"
#include "heap.h"
#include "log.h"
#include "rdb.h"

/* Buckets a slice looks at, written or empty: bounds a slice over a sparse table. */
#define SNAPSHOT_SLICE_BUCKETS 65536u

enum snapshot_phase {
    SNAPSHOT_IDLE = 0,
    SNAPSHOT_WALK,   /* buckets left to write; the store is hooked and frozen */
    SNAPSHOT_DRAIN,  /* everything is in the writer; waiting for the writes in flight */
    SNAPSHOT_SYNC,   /* the fsync is in flight */
};

static struct {
    uint8_t *buffers[SNAPSHOT_BUFFER_COUNT]; /* SNAPSHOT_BUFFER_BYTES each, carved */
    uint32_t in_flight_bytes[SNAPSHOT_BUFFER_COUNT]; /* a submitted write's length; 0: free */
    uint32_t in_flight_count;  /* buffers with a write in flight */
    uint32_t filling;          /* the buffer the writer fills (never in flight) */
    uint32_t *lzf_table;       /* LZF_TABLE_BYTES, carved */
    enum snapshot_phase phase;
    struct store *store;       /* attached (snapshot_attach) */
    void (*touched)(void *context, uint32_t db_index, uint32_t hash, struct slice key);
    uint64_t changes;          /* key changes since startup */
    struct snapshot_sink sink;
    struct rdb_writer writer;
    uint64_t file_offset;      /* bytes submitted to the sink */
    int error;                 /* the first failure, 0 while none */
    bool sync_done;            /* the fsync completed */
    uint64_t *bitmap;          /* heap: db_count bit offsets, then one bit per unit */
    uint64_t bits_total;       /* units of all databases (the bits after the offsets) */
    uint32_t db_index;         /* the walk's database */
    uint32_t bucket_index;     /* the walk's next unit in it */
    int64_t written_db;        /* the database the last SELECTDB named; -1: none yet */
    uint32_t visit_db;         /* the database of the bucket being written */
    struct snapshot_progress progress;
} snap;

void snapshot_init(struct region *region)
{
    KV_ASSERT(snap.buffers[0] == NULL);
    for (uint32_t index = 0; index < SNAPSHOT_BUFFER_COUNT; index++) {
        snap.buffers[index] = region_carve(region, SNAPSHOT_BUFFER_BYTES, 64);
    }
    snap.lzf_table = region_carve(region, LZF_TABLE_BYTES, 64);
    KV_ASSERT(snap.lzf_table != NULL && snap.buffers[SNAPSHOT_BUFFER_COUNT - 1] != NULL);
}

bool snapshot_running(void)
{
    return snap.phase != SNAPSHOT_IDLE;
}

uint64_t snapshot_changes(void)
{
    return snap.changes;
}

const struct snapshot_progress *snapshot_progress(void)
{
    return &snap.progress;
}

/* ---- Buffers and completions ---- */

static void fail(int status)
{
    KV_ASSERT(status < 0);
    if (snap.error == 0) {
        snap.error = status;
    }
}

/* One completion from the sink; false when none was ready (or none is pending). */
static bool reap_one(bool wait)
{
    uint32_t tag = 0;
    int result = 0;
    if (!snap.sink.reap(snap.sink.context, wait, &tag, &result)) {
        return false;
    }
    if (tag == SNAPSHOT_TAG_STEP) {
        KV_ASSERT(snap.phase == SNAPSHOT_SYNC);
        if (result < 0) {
            fail(result);
        }
        return true;
    }
    if (tag == SNAPSHOT_TAG_SYNC) {
        KV_ASSERT(snap.phase == SNAPSHOT_SYNC);
        snap.sync_done = true;
        if (result < 0) {
            fail(result);
        }
        return true;
    }
    KV_ASSERT(tag < SNAPSHOT_BUFFER_COUNT && snap.in_flight_bytes[tag] > 0);
    if (result < 0) {
        fail(result);
    } else if ((uint32_t)result != snap.in_flight_bytes[tag]) {
        fail(-EIO); /* a short write: the disk is full */
    }
    snap.in_flight_bytes[tag] = 0;
    snap.in_flight_count--;
    return true;
}

/* The writer's flush: the full buffer goes to the sink and the writer moves on to a free
 * one, waiting for the oldest write when every buffer is in flight. */
static bool buffer_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    (void)context;
    KV_ASSERT(bytes == snap.buffers[snap.filling]);
    KV_ASSERT(length > 0 && snap.in_flight_bytes[snap.filling] == 0);
    int status = snap.sink.write(snap.sink.context, bytes, length, snap.file_offset,
                                 snap.filling);
    if (status < 0) {
        fail(status);
        return false;
    }
    snap.in_flight_bytes[snap.filling] = length;
    snap.in_flight_count++;
    snap.file_offset += length;
    /* Bounded: each wait completes one of at most SNAPSHOT_BUFFER_COUNT writes. */
    while (snap.in_flight_count == SNAPSHOT_BUFFER_COUNT) {
        if (!reap_one(true)) {
            fail(-EIO);
            return false;
        }
    }
    uint32_t next = 0;
    while (snap.in_flight_bytes[next] != 0) {
        next++;
    }
    KV_ASSERT(next < SNAPSHOT_BUFFER_COUNT);
    snap.filling = next;
    snap.writer.buffer = snap.buffers[next]; /* writer_flush empties it next */
    return snap.error == 0;
}

/* Whether two buffers besides the filling one are free: a flush in the walk's next bucket
 * (smaller than a buffer) does not wait for the disk, and one stays for the writes ahead of
 * commands, which cannot be put off. */
static bool buffer_spare(void)
{
    return snap.in_flight_count + 2u < SNAPSHOT_BUFFER_COUNT; /* one left for the hook */
}

/* ---- The walk ---- */

static struct dict *db_keys(uint32_t db_index)
{
    KV_ASSERT(db_index < snap.store->db_count);
    return &snap.store->dbs[db_index].keys;
}

/* The database's units, fixed at the start: its bits in the bitmap. */
static uint32_t db_units(uint32_t db_index)
{
    uint64_t end = db_index + 1 < snap.store->db_count ? snap.bitmap[db_index + 1]
                                                       : snap.bits_total;
    uint64_t units = end - snap.bitmap[db_index];
    KV_ASSERT(units > 0 && units <= DICT_BUCKETS_MAX);
    KV_ASSERT((units & (units - 1)) == 0);
    return (uint32_t)units;
}

/* The unit's bit: its word and mask. */
static uint64_t *bucket_word(uint32_t db_index, uint32_t bucket_index, uint64_t *mask)
{
    uint64_t bit = snap.bitmap[db_index] + bucket_index;
    KV_ASSERT(bucket_index < db_units(db_index));
    *mask = 1ull << (bit & 63u);
    return &snap.bitmap[snap.store->db_count + bit / 64u];
}

static void visit_key(void *context, uint32_t key_ref)
{
    (void)context;
    struct store *store = snap.store;
    if (snap.written_db != (int64_t)snap.visit_db) {
        const struct store_db *db = &store->dbs[snap.visit_db];
        rdb_write_db_start(&snap.writer, snap.visit_db, dict_count(&db->keys),
                           dict_count(&db->expires));
        snap.written_db = snap.visit_db;
    }
    if (rdb_write_key(&snap.writer, store, key_ref)) {
        snap.progress.keys_written++;
    }
}

/* Writes the unit unless its bit says it was; true when it wrote it now. */
static bool bucket_write(uint32_t db_index, uint32_t bucket_index)
{
    uint64_t mask = 0;
    uint64_t *word = bucket_word(db_index, bucket_index, &mask);
    if (*word & mask) {
        return false;
    }
    *word |= mask;
    const struct dict *keys = db_keys(db_index);
    KV_ASSERT(keys->frozen);
    if (dict_count(keys) > 0) {
        snap.visit_db = db_index;
        dict_visit_unit(keys, db_units(db_index), bucket_index, visit_key, NULL);
    }
    return true;
}

/* The walk's next bucket; false when every database is done. */
static bool walk_advance(void)
{
    /* Bounded by the databases: empty ones are passed in one step each. */
    while (snap.db_index < snap.store->db_count) {
        const struct dict *keys = db_keys(snap.db_index);
        if (snap.bucket_index < db_units(snap.db_index) && dict_count(keys) > 0) {
            (void)bucket_write(snap.db_index, snap.bucket_index);
            snap.bucket_index++;
            return true;
        }
        snap.db_index++;
        snap.bucket_index = 0;
    }
    return false;
}

static void store_thaw(void)
{
    for (uint32_t index = 0; index < snap.store->db_count; index++) {
        db_keys(index)->frozen = false;
    }
    if (snap.bitmap != NULL) {
        heap_release(snap.store->heap, snap.bitmap);
        snap.bitmap = NULL;
    }
}

/* Every bucket is written: the end of the file goes into the writer and out. */
static void walk_end(void)
{
    KV_ASSERT(snap.phase == SNAPSHOT_WALK);
    rdb_write_end(&snap.writer);
    if (!rdb_writer_finish(&snap.writer)) {
        fail(-EIO);
    }
    snap.progress.bytes_written = snap.writer.total_bytes;
    store_thaw();
    snap.phase = SNAPSHOT_DRAIN;
}

/* The store's hook: a key of `db_index` is about to change, be created or be removed. */
static void snapshot_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key)
{
    snap.changes++;
    if (snap.phase == SNAPSHOT_WALK && snap.error == 0) {
        uint32_t bucket_index = hash & (db_units(db_index) - 1u);
        uint64_t before = snap.progress.keys_written;
        if (bucket_write(db_index, bucket_index)) {
            snap.progress.keys_early += snap.progress.keys_written - before;
        }
    }
    if (snap.touched != NULL) {
        snap.touched(context, db_index, hash, key);
    }
}

void snapshot_key_ahead(void *store, struct slice key)
{
    KV_ASSERT(store == snap.store);
    if (snap.phase == SNAPSHOT_WALK && snap.error == 0) {
        uint32_t db_index = snap.store->db_index;
        uint32_t hash = store_key_hash(snap.store, key);
        uint64_t before = snap.progress.keys_written;
        if (bucket_write(db_index, hash & (db_units(db_index) - 1u))) {
            snap.progress.keys_early += snap.progress.keys_written - before;
        }
    }
}

void snapshot_attach(struct store *store)
{
    KV_ASSERT(snap.store == NULL);
    snap.store = store;
    snap.touched = store->touched;
    store->touched = snapshot_touched;
    KV_ASSERT(store->touched == snapshot_touched);
}

int snapshot_start(struct store *store, const struct snapshot_sink *sink, int64_t now_ms)
{
    KV_ASSERT(store == snap.store && snap.buffers[0] != NULL);
    if (snap.phase != SNAPSHOT_IDLE) {
        return -EBUSY;
    }
    uint64_t bits = 0;
    uint32_t rehashing_count = 0;
    for (uint32_t index = 0; index < store->db_count; index++) {
        struct dict *keys = db_keys(index);
        rehashing_count += dict_rehashing(keys) ? 1u : 0u;
        keys->frozen = true; /* no resize starts: dict_units stays what it is now */
        KV_ASSERT(keys->seed == store->seed); /* the hook's hash names the unit */
        bits += dict_units(keys);
    }
    uint64_t words = store->db_count + (bits + 63u) / 64u;
    snap.bitmap = heap_alloc(store->heap, words * sizeof(uint64_t));
    if (snap.bitmap == NULL) {
        store_thaw();
        return -ENOMEM;
    }
    memset(snap.bitmap, 0, words * sizeof(uint64_t));
    uint64_t offset = 0;
    for (uint32_t index = 0; index < store->db_count; index++) {
        snap.bitmap[index] = offset;
        offset += dict_units(db_keys(index));
    }
    snap.bits_total = offset;
    KV_ASSERT(snap.bits_total == bits);
    if (rehashing_count > 0) {
        log_info("snapshot: %u database(s) rehashing at the start: walked by units of the "
                 "smaller table while the rehash goes on", rehashing_count);
    }
    snap.sink = *sink;
    snap.error = 0;
    snap.sync_done = false;
    snap.file_offset = 0;
    snap.filling = 0;
    snap.db_index = 0;
    snap.bucket_index = 0;
    snap.written_db = -1;
    snap.progress = (struct snapshot_progress){.started_ms = now_ms};
    rdb_writer_init(&snap.writer, snap.buffers[0], SNAPSHOT_BUFFER_BYTES, buffer_flush, NULL,
                    store->heap, snap.lzf_table);
    rdb_write_header(&snap.writer, now_ms, store->heap->used_bytes);
    if (sink->preamble != NULL) {
        sink->preamble(sink->context, &snap.writer);
    }
    snap.phase = SNAPSHOT_WALK;
    KV_ASSERT(snap.in_flight_count == 0);
    return 0;
}

/* The end, either way: the sink is told, the state is idle. */
static void snapshot_end(void)
{
    KV_ASSERT(snap.in_flight_count == 0);
    if (snap.phase == SNAPSHOT_WALK) {
        store_thaw();
    }
    snap.phase = SNAPSHOT_IDLE;
    snap.sink.done(snap.sink.context, snap.error);
}

/* Drain and sync, as far as completions allow (waiting when `wait`). */
static void snapshot_tail(bool wait)
{
    /* Bounded by the writes in flight, then the one fsync. */
    while (snap.in_flight_count > 0 && reap_one(wait)) {
    }
    if (snap.phase == SNAPSHOT_DRAIN && snap.in_flight_count == 0) {
        if (snap.error != 0) {
            snapshot_end();
            return;
        }
        int status = snap.sink.sync(snap.sink.context);
        if (status < 0) {
            fail(status);
            snapshot_end();
            return;
        }
        snap.phase = SNAPSHOT_SYNC;
    }
    while (snap.phase == SNAPSHOT_SYNC && !snap.sync_done && reap_one(wait)) {
    }
    if (snap.phase == SNAPSHOT_SYNC && snap.sync_done) {
        snapshot_end();
    }
}

bool snapshot_step(void)
{
    if (snap.phase == SNAPSHOT_IDLE) {
        return false;
    }
    /* Bounded by the writes in flight. */
    while (snap.in_flight_count > 0 && reap_one(false)) {
    }
    if (snap.phase == SNAPSHOT_WALK) {
        if (!buffer_spare()) {
            return false; /* the disk is behind: the loop serves clients meanwhile */
        }
        uint64_t start_bytes = snap.writer.total_bytes;
        bool more = true;
        /* Bounded by SNAPSHOT_SLICE_BUCKETS buckets and SNAPSHOT_SLICE_BYTES bytes; it
         * stops while a flush would wait for the disk. */
        for (uint32_t step = 0; step < SNAPSHOT_SLICE_BUCKETS && more && snap.error == 0 &&
                                snap.writer.total_bytes - start_bytes < SNAPSHOT_SLICE_BYTES &&
                                buffer_spare();
             step++) {
            more = walk_advance();
        }
        snap.progress.bytes_written = snap.writer.total_bytes;
        if (!more || snap.error != 0) {
            walk_end();
        }
        return true;
    }
    snapshot_tail(false);
    return false;
}

void snapshot_settle(void)
{
    if (snap.phase != SNAPSHOT_WALK) {
        return;
    }
    /* Bounded by the buckets left. */
    while (snap.error == 0 && walk_advance()) {
    }
    walk_end();
}

void snapshot_finish(void)
{
    snapshot_settle();
    /* Bounded: each pass completes a write or the fsync (waiting for it). */
    while (snap.phase != SNAPSHOT_IDLE) {
        snapshot_tail(true);
    }
}

void snapshot_abort(void)
{
    if (snap.phase == SNAPSHOT_IDLE) {
        return;
    }
    fail(-ECANCELED);
    /* Bounded by the writes in flight (and the fsync, when it was submitted). */
    while (snap.in_flight_count > 0 && reap_one(true)) {
    }
    while (snap.phase == SNAPSHOT_SYNC && !snap.sync_done && reap_one(true)) {
    }
    snapshot_end();
}
