/*
 * The RDB file: SAVE writes `<dir>/<dbfilename>` as Redis does (a temp-<pid>.rdb beside it,
 * fsync, rename), and startup loads it before kv serves. All file I/O goes through a small
 * io_uring of this module's own, set up at startup; each operation is submitted and waited
 * for (SAVE blocks the server, as Redis's SAVE does). The serializer's buffer and LZF table
 * are carved from the region at init; nothing is allocated after (values' scratch comes from
 * the heap, briefly).
 */
#ifndef KV_RDB_FILE_H
#define KV_RDB_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "lzf.h"
#include "rdb.h"
#include "region.h"
#include "store.h"

/* The writer's and reader's buffer. */
#define RDB_FILE_BUFFER_BYTES (1024u * 1024u)

/* The region bytes rdb_file_init carves: the buffer, the LZF table, alignment slack (inline:
 * the layout links without the ring). */
static inline uint64_t rdb_file_plan_bytes(void)
{
    return RDB_FILE_BUFFER_BYTES + LZF_TABLE_BYTES + 2u * 64u;
}

/* Carves the buffers and sets the ring up; false (with a message) when the ring cannot be
 * had. `now_seconds` is the start time LASTSAVE answers before any save. */
KV_MUST_USE bool rdb_file_init(struct region *region, int64_t now_seconds, char *error,
                               uint32_t error_bytes);

/* SAVE: the whole store into <dir>/<dbfilename> (Redis's parameters). 0, or a negative
 * errno (then the old file is untouched and the temp file removed). rdb_file_init
 * registers it (rdb_save_register) for the commands. */
KV_MUST_USE int rdb_file_save(struct store *store, int64_t now_ms);

/* BGSAVE: opens <dir>/temp-<pid>.rdb and starts the forkless snapshot into it (snapshot.h),
 * which cron's turns drive; at its end the file is renamed over <dbfilename>. 0, -EBUSY
 * when one runs, or a negative errno. Registered for the commands (rdb_bgsave_register). */
KV_MUST_USE int rdb_file_bgsave(struct store *store, int64_t now_ms);

struct script;

/* The function libraries SAVE, BGSAVE and the startup load handle (FUNCTION2 records). */
void rdb_file_scripts(struct script *script);

struct rdb_writer;

/* Writes the function libraries (FUNCTION2 records) after a header: an AOF base's preamble
 * (snapshot_sink's). */
void rdb_file_functions_write(void *context, struct rdb_writer *writer);

/* Startup: loads dir/filename into the empty store when it exists. 0 when loaded or absent
 * (*loaded tells), else a negative errno or -EINVAL for a file kv refuses (logged as Redis
 * logs it). */
KV_MUST_USE int rdb_file_load(struct store *store, const char *dir, const char *filename,
                              bool *loaded);

#endif
