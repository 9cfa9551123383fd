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
 * (group commit of what the pass fed) and the pass goes on at once: the replies wait, not the
 * loop. Each reply is held until the AOF is durable up to the offset fed when it was written
 * (aof_fed_offset, aof_synced_offset; the loop's gate, conn.h's conn_gate), for every client,
 * readers included, as Redis's beforeSleep writes and fsyncs the AOF before any reply of the
 * turn; the ring's eventfd wakes the loop when the fsync completes. With `everysec` an fsync
 * goes out once a second on its own; with `no` the kernel flushes. When the fill half is full while the other
 * is still being written, the feeding command waits for that write (back-pressure, logged as
 * Redis's "Asynchronous AOF fsync is taking too long" is not: it is counted in
 * aof_delayed_fsync). A failed write keeps its bytes and is retried at each pass; meanwhile
 * writes and PING get Redis's -MISCONF (with `always`, kv exits as Redis does).
 *
 * Rewrite (BGREWRITEAOF, auto-aof-rewrite-*, CONFIG SET appendonly yes), forkless and
 * sliced, its start without waiting for the disk: a new incr file is opened and propagation
 * switches to it at once; the old file retires on the ring (the bytes fed before the switch,
 * then its fsync and, once durable, its close, as Redis's background fsync-and-close), and
 * once it is durable the manifest listing the new file is persisted there too (write, fsync,
 * then, once those succeeded, rename and directory fsync); the synced offset passes neither
 * the old file's end before its fsync nor the new file's start before that manifest. One
 * file retires at a time: a rewrite asked for meanwhile is scheduled (as while a snapshot
 * runs), not refused, since the retiring file's bytes are the head of the write buffer. The
 * snapshot (snapshot.h) walks the keyspace into a temp base file between loop passes through a second small ring (its buffers and an
 * fsync in flight at most); at its end, without waiting either, the base's rename and the
 * manifest of the new base and the new incr file (write, fsync, rename, directory fsync) go
 * out as the same two-stage chain on the AOF's ring, and only once it completed do the old
 * files go and INFO show the rewrite's end. Until the manifest's rename the old manifest lists the
 * old base and every incr file: a crash at any point loses nothing.
 *
 * Own ring, not the loop's: the loop's ring is the network's and its completions are
 * dispatched by connection; the AOF's handful of operations (one write, an fsync of the
 * current file, the retiring file's fsync and close, the manifest's chain) are reaped here
 * without touching that dispatch: at the pass's end, and when the
 * eventfd registered on this ring (signalled at each of its completions) completes the read
 * the loop keeps on it (aof_event_fd, aof_event).
 */
#ifndef KV_AOF_H
#define KV_AOF_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "slice.h"

struct region;
struct cmd_context;

/* Each half of the write buffer; also, whole, the loader's window at startup: a command that
 * fits it is replayed where it lies, a larger one from a heap allocation of its size. */
#define AOF_WRITE_BUFFER_BYTES (1024u * 1024u)

/* Arguments of a loaded command whose slices the carved array holds; a command with more
 * takes its slices from the heap (the budget's reserve) while it runs. */
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
 * is the serving layer's shared command context (replayed commands run through cmd_run).
 * A command of any size Redis accepts is replayed: an argument up to proto-max-bulk-len, a
 * command larger than the window read whole into the budget's reserve (as a client's receive
 * buffer would hold it), one command at a time. One the budget cannot hold, or one whose
 * write finds no room (-OOM), fails the load with a line naming maxmemory: the dataset would
 * not be what the files say. */
bool aof_startup(const struct cmd_context *shared, bool *failed);

/* Whether replies wait for the AOF (appendonly on, appendfsync always): the loop sends a
 * connection's output only once the AOF is durable up to the fed offset stamped on it. */
bool aof_gating(void);

/* Offsets in the AOF's stream, bytes fed since startup (monotonic across rewrites' file
 * switches): the end of what commands fed (a reply written now may depend on all of it), and
 * the end of what an fsync made durable (<= fed). */
uint64_t aof_fed_offset(void);
uint64_t aof_synced_offset(void);

/* The eventfd the AOF's ring signals at each completion, for the loop to keep a read on:
 * when it completes, the loop calls aof_event and settles the replies that waited. */
int aof_event_fd(void);

/* The AOF's ring has completions: reaps them without waiting (an fsync's moves the synced
 * offset); the pass's end submits what comes next. */
void aof_event(void);

/* A slow script's busy pass (no pass end until the script returns): with appendfsync always,
 * what was fed goes out now (a write with an fsync linked to it), without waiting, so replies
 * held for it are released by the fsync's completion. */
void aof_flush(void);

/* SHUTDOWN or a signal: what the buffer holds is written and fsynced (a retiring file and
 * the manifest being persisted first), waiting, as Redis does. */
void aof_shutdown(void);

#endif
