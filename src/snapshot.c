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

/* A large key the walk met, waiting to be written in parts (its bucket is marked written):
 * the hook finds it by database, hash and name. */
struct snapshot_queued {
    uint32_t db_index;
    uint32_t hash;             /* store_key_hash of its name */
    uint32_t key_ref;
};

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
    bool visit_whole;          /* the bucket's large keys are written whole (the settle),
                                  not queued */
    bool visit_hooked;         /* the hook writes the bucket: visit_touched is set */
    struct slice visit_touched; /* the key about to change, written whole (the others are
                                   not changing: large ones are queued as the walk's) */
    /* The key being written in parts (part_open), in the writer; while it is, every other
     * key goes to the side writer, appended after it (the file is one stream). */
    bool part_open;
    struct rdb_part part;
    struct snapshot_queued part_key; /* which key part is */
    struct snapshot_queued queue[SNAPSHOT_QUEUE_COUNT]; /* large keys met, in order */
    uint32_t queue_count;
    uint8_t *side_buffer;      /* SNAPSHOT_SIDE_BYTES, carved */
    struct rdb_writer side;    /* the keys the hook writes while a part is open */
    struct snapshot_progress progress;
} snap;

void snapshot_init(struct region *region)
{
    KV_ASSERT(snap.buffers[0] == NULL);
    for (uint32_t index = 0; index < SNAPSHOT_BUFFER_COUNT; index++) {
        snap.buffers[index] = region_carve(region, SNAPSHOT_BUFFER_BYTES, 64);
    }
    snap.lzf_table = region_carve(region, LZF_TABLE_BYTES, 64);
    snap.side_buffer = region_carve(region, SNAPSHOT_SIDE_BYTES, 64);
    KV_ASSERT(snap.lzf_table != NULL && snap.buffers[SNAPSHOT_BUFFER_COUNT - 1] != NULL);
    KV_ASSERT(snap.side_buffer != NULL);
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

/* Where the next key goes: after the open part, or after what the side writer still holds
 * (a side flush may finish the part while the side is in the middle of a key, whose rest
 * then still comes through the side), the side writer. */
static struct rdb_writer *tail_writer(void)
{
    return snap.part_open || snap.side.used_bytes > 0 ? &snap.side : &snap.writer;
}

/* SELECTDB for the next key, unless the stream names that database already (written_db
 * follows the stream in its final order: the side's bytes come after the open part). */
static void db_select(struct rdb_writer *writer, uint32_t db_index)
{
    if (snap.written_db != (int64_t)db_index) {
        const struct store_db *db = &snap.store->dbs[db_index];
        rdb_write_db_start(writer, db_index, dict_count(&db->keys), dict_count(&db->expires));
        snap.written_db = db_index;
    }
}

/* Writes the rest of a part in one go. Bounded: a list takes two calls (its measure, its
 * nodes), any other key one. */
static void part_write_rest(struct rdb_writer *writer, struct rdb_part *part)
{
    for (uint32_t call = 0; call < 2u; call++) {
        if (rdb_write_key_part(writer, snap.store, part, UINT64_MAX)) {
            break;
        }
    }
    KV_ASSERT(part->kind == RDB_PART_DONE);
}

/* A key written whole at the stream's end. A large one goes through the parts' writer in
 * one go all the same: its string plain, not LZF (a 64 MiB string in about 0.2 s rather
 * than seconds), the same bytes otherwise. */
static void key_write_whole(uint32_t db_index, uint32_t key_ref)
{
    struct rdb_writer *writer = tail_writer();
    db_select(writer, db_index);
    if (rdb_key_parted(snap.store, key_ref)) {
        struct rdb_part part;
        rdb_write_key_open(writer, snap.store, key_ref, &part);
        part_write_rest(writer, &part);
        snap.progress.keys_written++;
    } else if (rdb_write_key(writer, snap.store, key_ref)) {
        snap.progress.keys_written++;
    }
}

static void visit_key(void *context, uint32_t key_ref)
{
    (void)context;
    struct store *store = snap.store;
    struct slice name = store_key_name(store_key(store, key_ref));
    bool touched = snap.visit_hooked && slice_equal(name, snap.visit_touched);
    bool parted = rdb_key_parted(store, key_ref);
    if (parted && !snap.visit_whole && !touched && snap.queue_count < SNAPSHOT_QUEUE_COUNT) {
        snap.queue[snap.queue_count++] = (struct snapshot_queued){
            .db_index = snap.visit_db, .hash = store_key_hash(store, name), .key_ref = key_ref};
        return;
    }
    /* The large key about to change, in a bucket the walk has not reached: whole, now. */
    snap.progress.parts_early += parted && touched ? 1u : 0u;
    key_write_whole(snap.visit_db, key_ref);
}

/* Writes the rest of the open part now (the key is about to change, or everything must be
 * written); what the side writer holds goes after it (the caller drains it). */
static void part_finish(void)
{
    KV_ASSERT(snap.part_open);
    part_write_rest(&snap.writer, &snap.part);
    snap.part_open = false;
    snap.progress.keys_written++;
}

/* The side writer's flush: it is full (or drained, when no part is open). The open part
 * must come first in the stream, so it is finished now: a pause of the rest of that key,
 * taken only when the hook wrote SNAPSHOT_SIDE_BYTES while the part was open. */
static bool side_flush(void *context, const uint8_t *bytes, uint32_t length)
{
    (void)context;
    KV_ASSERT(bytes == snap.side_buffer && length <= SNAPSHOT_SIDE_BYTES);
    if (snap.part_open) {
        part_finish();
    }
    rdb_write_raw(&snap.writer, bytes, length);
    return !snap.writer.failed;
}

/* Moves what the side writer holds into the stream (no part is open). */
static void side_drain(void)
{
    KV_ASSERT(!snap.part_open);
    if (!rdb_writer_finish(&snap.side)) {
        fail(-EIO);
    }
    KV_ASSERT(snap.side.used_bytes == 0);
}

/* Opens the queue's first key as the part, at the stream's end. */
static void part_open_next(void)
{
    KV_ASSERT(!snap.part_open && snap.queue_count > 0 && snap.side.used_bytes == 0);
    snap.part_key = snap.queue[0];
    snap.queue_count--;
    memmove(&snap.queue[0], &snap.queue[1], snap.queue_count * sizeof(snap.queue[0]));
    db_select(&snap.writer, snap.part_key.db_index);
    rdb_write_key_open(&snap.writer, snap.store, snap.part_key.key_ref, &snap.part);
    snap.part_open = true;
}

/* Whether a queued (or the open) key is this one. */
static bool queued_match(const struct snapshot_queued *queued, uint32_t db_index, uint32_t hash,
                         struct slice key)
{
    return queued->db_index == db_index && queued->hash == hash &&
           slice_equal(store_key_name(store_key(snap.store, queued->key_ref)), key);
}

/* A large key met by the walk but not written whole is about to change: its part is
 * finished, or, still queued, it is written whole now. A pause of that one key's rest, only
 * when a client writes the very key being (or about to be) serialized. */
static void parted_before_change(uint32_t db_index, uint32_t hash, struct slice key)
{
    if (snap.part_open && queued_match(&snap.part_key, db_index, hash, key)) {
        part_finish();
        snap.progress.keys_early++;
        snap.progress.parts_early++;
        return;
    }
    /* Bounded by SNAPSHOT_QUEUE_COUNT. */
    for (uint32_t index = 0; index < snap.queue_count; index++) {
        if (queued_match(&snap.queue[index], db_index, hash, key)) {
            struct snapshot_queued queued = snap.queue[index];
            snap.queue_count--;
            memmove(&snap.queue[index], &snap.queue[index + 1],
                    (snap.queue_count - index) * sizeof(snap.queue[0]));
            key_write_whole(queued.db_index, queued.key_ref);
            snap.progress.keys_early++;
            snap.progress.parts_early++;
            return;
        }
    }
}

/* Writes the unit unless its bit says it was; true when it wrote it now. */
static bool bucket_write(uint32_t db_index, uint32_t bucket_index, bool whole,
                         const struct slice *touched)
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
        snap.visit_whole = whole;
        snap.visit_hooked = touched != NULL;
        snap.visit_touched = touched != NULL ? *touched : (struct slice){0};
        dict_visit_unit(keys, db_units(db_index), bucket_index, visit_key, NULL);
    }
    return true;
}

/* The walk's next bucket (its large keys queued unless `whole`); false when every database
 * is done. */
static bool walk_advance(bool whole)
{
    /* Bounded by the databases: empty ones are passed in one step each. */
    while (snap.db_index < snap.store->db_count) {
        const struct dict *keys = db_keys(snap.db_index);
        if (snap.bucket_index < db_units(snap.db_index) && dict_count(keys) > 0) {
            (void)bucket_write(snap.db_index, snap.bucket_index, whole, NULL);
            snap.bucket_index++;
            return true;
        }
        snap.db_index++;
        snap.bucket_index = 0;
    }
    return false;
}

/* The slice's next piece of work, with `bytes` left in it: the open part's next piece, the
 * queue's next key opened, or the walk's next bucket. False when all is written. */
static bool slice_advance(uint64_t bytes)
{
    if (snap.part_open) {
        if (rdb_write_key_part(&snap.writer, snap.store, &snap.part, bytes)) {
            snap.part_open = false;
            snap.progress.keys_written++;
            side_drain(); /* what the hook wrote meanwhile follows the key */
        }
        return true;
    }
    if (snap.queue_count > 0) {
        part_open_next();
        return true;
    }
    return walk_advance(false);
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

/* Drops the open part and the queue (the snapshot failed or stops). */
static void parts_drop(void)
{
    if (snap.part_open) {
        rdb_part_abandon(&snap.writer, &snap.part);
        snap.part_open = false;
    }
    snap.queue_count = 0;
    snap.side.used_bytes = 0;
}

/* Every bucket is written (or the snapshot failed): the end of the file goes into the
 * writer and out. */
static void walk_end(void)
{
    KV_ASSERT(snap.phase == SNAPSHOT_WALK);
    KV_ASSERT(snap.error != 0 || (!snap.part_open && snap.queue_count == 0));
    KV_ASSERT(snap.error != 0 || snap.side.used_bytes == 0);
    parts_drop();
    rdb_write_end(&snap.writer);
    if (!rdb_writer_finish(&snap.writer)) {
        fail(-EIO);
    }
    snap.progress.bytes_written = snap.writer.total_bytes;
    store_thaw();
    snap.phase = SNAPSHOT_DRAIN;
}

/* A key of `db_index` is about to change, be created or be removed: its bucket, or its own
 * parts, go out first, as it is now. */
static void before_change(uint32_t db_index, uint32_t hash, struct slice key)
{
    parted_before_change(db_index, hash, key);
    uint32_t bucket_index = hash & (db_units(db_index) - 1u);
    uint64_t before = snap.progress.keys_written;
    if (bucket_write(db_index, bucket_index, false, &key)) {
        snap.progress.keys_early += snap.progress.keys_written - before;
    }
    if (!snap.part_open) {
        side_drain(); /* a side flush finished the part: the rest follows it */
    }
}

/* The store's hook: a key of `db_index` is about to change, be created or be removed. */
static void snapshot_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key)
{
    snap.changes++;
    if (snap.phase == SNAPSHOT_WALK && snap.error == 0) {
        before_change(db_index, hash, key);
    }
    if (snap.touched != NULL) {
        snap.touched(context, db_index, hash, key);
    }
}

void snapshot_key_ahead(void *store, struct slice key)
{
    KV_ASSERT(store == snap.store);
    if (snap.phase == SNAPSHOT_WALK && snap.error == 0) {
        before_change(snap.store->db_index, store_key_hash(snap.store, key), key);
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
    rdb_writer_init(&snap.side, snap.side_buffer, SNAPSHOT_SIDE_BYTES, side_flush, NULL,
                    store->heap, snap.lzf_table);
    snap.part_open = false;
    snap.queue_count = 0;
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
        parts_drop();
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
        /* Bounded by SNAPSHOT_SLICE_BUCKETS steps (a bucket, a part's piece, a part's open)
         * and SNAPSHOT_SLICE_BYTES bytes; it stops while a flush would wait for the disk. */
        for (uint32_t step = 0; step < SNAPSHOT_SLICE_BUCKETS && more && snap.error == 0 &&
                                snap.writer.total_bytes - start_bytes < SNAPSHOT_SLICE_BYTES &&
                                buffer_spare();
             step++) {
            more = slice_advance(SNAPSHOT_SLICE_BYTES - (snap.writer.total_bytes - start_bytes));
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
    if (snap.part_open) {
        part_finish();
        side_drain();
    }
    /* Bounded by SNAPSHOT_QUEUE_COUNT. */
    while (snap.error == 0 && snap.queue_count > 0) {
        struct snapshot_queued queued = snap.queue[--snap.queue_count];
        key_write_whole(queued.db_index, queued.key_ref);
    }
    /* Bounded by the buckets left. */
    while (snap.error == 0 && walk_advance(true)) {
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
