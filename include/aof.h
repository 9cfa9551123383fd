/*
 * The append-only file, as Redis 7.0 lays it out and configures it: `appendonly`,
 * `appendfsync always|everysec|no`, `appendfilename`, `appenddirname`, the multi-part layout
 * <dir>/<appenddirname>/<appendfilename>.<seq>.base.rdb, .<seq>.incr.aof and
 * <appendfilename>.manifest ("file <name> seq <n> type b|i" lines), loaded at startup with
 * `aof-load-truncated`, rewritten by BGREWRITEAOF and `auto-aof-rewrite-*`.
 *
 * Writing: propagation (propagate.h) streams each command in RESP into the fill half of a
 * double buffer carved from the region (2 x AOF_WRITE_BUFFER_BYTES). At the end of each loop
 * pass the filled half goes to the incremental file as one io_uring write on this module's
 * own ring, while commands fill the other half; with `always` an fsync is linked to that write
 * and the pass waits for both before the loop submits the pass's replies (group commit: every
 * write acknowledged in a pass is on disk first); with `everysec` an fsync goes out once a
 * second on its own; with `no` the kernel flushes. When the fill half is full while the other
 * is still being written, the feeding command waits for that write (back-pressure, logged as
 * Redis's "Asynchronous AOF fsync is taking too long" is not: it is counted in
 * aof_delayed_fsync). A failed write keeps its bytes and is retried at each pass; meanwhile
 * writes and PING get Redis's -MISCONF (with `always`, kv exits as Redis does).
 *
 * Rewrite (BGREWRITEAOF, auto-aof-rewrite-*, CONFIG SET appendonly yes), forkless and
 * sliced: the buffers go to the current incr file, a new incr file is opened and listed in
 * the manifest, propagation switches to it, and the snapshot (snapshot.h) walks the keyspace
 * into a temp base file between loop passes through a second small ring (its buffers and an
 * fsync in flight at most); at its end the base is renamed, the manifest of the new base and
 * the new incr file replaces the old by rename, the old files go. Until then the manifest
 * lists the old base and every incr file: a crash loses nothing.
 *
 * Own ring, not the loop's: the loop's ring is the network's and its completions are
 * dispatched by connection; the AOF's handful of operations (one write and one fsync in flight
 * at most) are reaped here without touching that dispatch, at the pass's end, where `always`
 * must wait anyway.
 */
#ifndef KV_AOF_H
#define KV_AOF_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "slice.h"

struct region;
struct cmd_context;

/* Each half of the write buffer; also, whole, the loader's read buffer at startup. */
#define AOF_WRITE_BUFFER_BYTES (1024u * 1024u)

/* Arguments of a loaded command held in the carved array; more borrow from the heap. */
#define AOF_LOAD_ARGS_FIXED 1024u

/* What a discarded reply of a replayed command is written into. */
#define AOF_REPLY_BYTES 4096u

/* The region bytes aof_init carves (inline: the layout links without the ring). */
static inline uint64_t aof_plan_bytes(void)
{
    return 2ull * AOF_WRITE_BUFFER_BYTES + AOF_LOAD_ARGS_FIXED * sizeof(struct slice) +
           AOF_REPLY_BYTES + 3u * 64u;
}

/* Carves the buffers and sets the ring up; false (with a message) when it cannot. */
KV_MUST_USE bool aof_init(struct region *region, char *error, uint32_t error_bytes);

/* Startup, as Redis's loadDataFromDisk with appendonly: true when appendonly is yes (the
 * AOF is the dataset: it was loaded, and its files are open for appending); false when it is
 * no (the caller loads dump.rdb). *failed: a file kv refuses (logged), kv exits. `shared`
 * is the serving layer's shared command context (replayed commands run through cmd_run). */
bool aof_startup(const struct cmd_context *shared, bool *failed);

/* The loop submits sends before its pass ends (its SQ filled up, a slow script's busy pass):
 * with appendfsync always, what was fed is made durable first, so no reply leaves before its
 * write's fsync. */
void aof_before_send(void);

/* SHUTDOWN or a signal: what the buffer holds is written and fsynced. */
void aof_shutdown(void);

#endif
