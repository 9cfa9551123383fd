/*
 * Redis 7.0's RDB format (version 10), both ways, with no I/O: a writer that serializes keys
 * into a fixed buffer and hands each full buffer to a flush callback (a file, a reply, a
 * counter), and a reader that parses from a bounded buffer that a fill callback tops up
 * (or from one span in memory, DUMP's payload). The store is read and written only through
 * its public APIs.
 *
 * Writing: strings with Redis's integer encodings and LZF (rdbSaveRawString's rules); lists
 * as QUICKLIST_2 of listpack nodes; sets as an intset when kv keeps one, else SET; hashes and
 * sorted sets as a listpack within Redis's listpack limits (the bytes redis-server writes for
 * the same value), else HASH and ZSET_2. When the heap has no room for a compact encoding's
 * scratch, the plain one is written instead (Redis 7.0 loads both), so a save never fails
 * for lack of memory and never needs memory proportional to the data beyond one value.
 *
 * Reading: every type Redis 7.0 writes for the types kv stores (STRING with its encodings,
 * LIST, QUICKLIST_2 with PLAIN and PACKED nodes, SET, SET_INTSET, HASH, HASH_LISTPACK, ZSET,
 * ZSET_2, ZSET_LISTPACK). Anything malformed answers RDB_CORRUPT and leaves no partial key.
 */
#ifndef KV_RDB_H
#define KV_RDB_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"
#include "slice.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_zset.h"

#define RDB_VERSION 10u

/* Type bytes (rdb.h of Redis 7.0). */
enum rdb_type {
    RDB_TYPE_STRING = 0,
    RDB_TYPE_LIST = 1,
    RDB_TYPE_SET = 2,
    RDB_TYPE_ZSET = 3,
    RDB_TYPE_HASH = 4,
    RDB_TYPE_ZSET_2 = 5,
    RDB_TYPE_SET_INTSET = 11,
    RDB_TYPE_HASH_LISTPACK = 16,
    RDB_TYPE_ZSET_LISTPACK = 17,
    RDB_TYPE_STREAM_LISTPACKS = 15,
    RDB_TYPE_LIST_QUICKLIST_2 = 18,
    RDB_TYPE_STREAM_LISTPACKS_2 = 19,
    RDB_TYPE_STREAM_LISTPACKS_2_MAX = 21, /* types up to here are valid, others corrupt */
};

/* Opcodes before a key or at the file's level. */
enum rdb_opcode {
    RDB_OPCODE_FUNCTION2 = 245,
    RDB_OPCODE_MODULE_AUX = 247,
    RDB_OPCODE_IDLE = 248,
    RDB_OPCODE_FREQ = 249,
    RDB_OPCODE_AUX = 250,
    RDB_OPCODE_RESIZEDB = 251,
    RDB_OPCODE_EXPIRETIME_MS = 252,
    RDB_OPCODE_EXPIRETIME = 253,
    RDB_OPCODE_SELECTDB = 254,
    RDB_OPCODE_EOF = 255,
};

enum rdb_status {
    RDB_OK = 0,
    RDB_CORRUPT,      /* the bytes are not a valid RDB (Redis's "Bad data format") */
    RDB_CHECKSUM,     /* the CRC-64 or the version does not match */
    RDB_UNSUPPORTED,  /* a valid type kv does not load (streams, modules, ziplists) */
    RDB_TOO_BIG,      /* one item does not fit the reader's buffer */
    RDB_IO,           /* the fill or flush callback failed */
    RDB_STORE,        /* the store refused a write: see the reader's store_status */
};

/* ---- Writer ---- */

/* Takes `length` bytes (> 0); false stops the writer (every later write is dropped). */
typedef bool rdb_flush_fn(void *context, const uint8_t *bytes, uint32_t length);

struct rdb_writer {
    uint8_t *buffer;          /* capacity_bytes: bytes not yet flushed */
    uint32_t capacity_bytes;  /* at least RDB_WRITER_BYTES_MIN */
    uint32_t used_bytes;      /* bytes held in buffer */
    uint64_t crc;             /* CRC-64 (Redis's) of every byte written so far */
    uint64_t total_bytes;     /* bytes written so far, flushed or not */
    rdb_flush_fn *flush;
    void *flush_context;
    struct heap *heap;        /* scratch for listpacks and LZF output; NULL: plain, raw only */
    uint32_t *lzf_table;      /* LZF_TABLE_BYTES, or NULL: strings are not compressed */
    bool failed;              /* a flush failed */
    bool pending;             /* pending_name goes after the next type byte */
    struct slice pending_name; /* the key's name (rdb_write_key) */
};

#define RDB_WRITER_BYTES_MIN 64u

void rdb_writer_init(struct rdb_writer *writer, uint8_t *buffer, uint32_t capacity_bytes,
                     rdb_flush_fn *flush, void *flush_context, struct heap *heap,
                     uint32_t *lzf_table);

/* Flushes what the buffer holds; false when a flush failed (now or before). */
KV_MUST_USE bool rdb_writer_finish(struct rdb_writer *writer);

/* "REDIS0010" and the aux fields redis-ver, redis-bits, ctime, used-mem, aof-base. */
void rdb_write_header(struct rdb_writer *writer, int64_t now_ms, uint64_t used_memory_bytes);

/* One function library's code (RDB_OPCODE_FUNCTION2), after the header, before the
 * databases (Redis's rdbSaveFunctions). */
void rdb_write_function(struct rdb_writer *writer, struct slice code);

/* SELECTDB db_index and RESIZEDB's hint. */
void rdb_write_db_start(struct rdb_writer *writer, uint32_t db_index, uint64_t key_count,
                        uint64_t expires_count);

/* One key of the file: its expiry time (EXPIRETIME_MS), type, name and value; false (the
 * key skipped) for a type rdb_type_supported refuses. */
bool rdb_write_key(struct rdb_writer *writer, struct store *store, uint32_t key_ref);

/* EOF and the checksum of everything before it. */
void rdb_write_end(struct rdb_writer *writer);

/* DUMP's payload: the value's type and bytes, the 2-byte RDB version and the CRC-64 of
 * both. False for a type rdb_type_supported refuses. */
bool rdb_write_dump(struct rdb_writer *writer, struct store *store, uint32_t key_ref);

/* Whether rdb_write_key/rdb_write_dump serialize a key of this type. */
bool rdb_type_supported(uint8_t store_type);

/* ---- Writing a key in parts (the forkless snapshot's large keys) ----
 * A large value is written across several calls, each stopping after about the bytes it was
 * given, so that the snapshot's loop never spends more than a slice on one key. The key must
 * not change between the calls (the snapshot finishes it first, rdb_write_key_part with no
 * limit); its bytes are those rdb_write_key writes, but for a string, which goes plain
 * (Redis writes LZF only where it saves, and loads either). Element granularity: a string is
 * split anywhere, a collection between elements (a list between QUICKLIST_2 nodes, of at
 * most 8 KiB or one element; a stream between its listpack nodes of 100 entries, its
 * groups' heads, PEL entries, consumers' heads and their pending IDs), so one call writes at
 * most its bytes plus one element. */

/* A string longer than this is written plain, in parts: its LZF would be one step of the
 * whole string (about 2 ms a MiB, with its CRC), and the file takes it either way. */
#define RDB_PART_STRING_BYTES_MIN (1u << 20)

/* A stream is written in parts past any of these: its nodes (the store's, of at most 100
 * entries or 4 KiB each, so 64 of them take about a slice), its nodes' bytes (entries
 * larger than a node), its groups, or its groups' PEL entries and consumers together (each
 * costs a nack's or a consumer's bytes, ~30 for a nack, twice with its owner's copy). Below
 * all four a whole write is well within a slice. */
#define RDB_PART_STREAM_NODES_MIN 64u
#define RDB_PART_STREAM_BYTES_MIN (256u * 1024u)
#define RDB_PART_STREAM_GROUPS_MIN 64u
#define RDB_PART_STREAM_GROUP_ITEMS_MIN 1024u

enum rdb_part_kind {
    RDB_PART_DONE = 0,
    RDB_PART_STRING,       /* the string's bytes from `done` */
    RDB_PART_LIST_MEASURE, /* sizing QUICKLIST_2's nodes: nothing written yet (the count
                              goes first); the key's opcodes go out when it ends */
    RDB_PART_LIST_NODES,   /* the nodes, each built whole in the scratch */
    RDB_PART_LIST_PLAIN,   /* LIST element by element (the heap had no room for a node) */
    RDB_PART_HASH,         /* HASH: field, value pairs */
    RDB_PART_SET,          /* SET: members */
    RDB_PART_ZSET,         /* ZSET_2: member, score from the highest */
    RDB_PART_STREAM_NODES, /* STREAM_LISTPACKS_2's nodes from at.stream.next: done of total;
                              then the stream's metadata and the first group's head */
    RDB_PART_STREAM_PEL,   /* at.stream.group's PEL: done of total nacks; then its
                              consumer count and first consumer's head */
    RDB_PART_STREAM_IDS,   /* at.stream.consumer's pending IDs: done of total; then the
                              next consumer's head, or the next group's */
};

/* Where a stream's part is: the next node, the group and consumer being written. The key
 * does not change between calls, so the pointers into its heap stay good. */
struct rdb_part_stream {
    struct stream_id next;     /* nodes: the next node's first entry is the first at or
                                  after this ID */
    const struct store_stream_group *group;       /* PEL, IDS: the group being written */
    const struct store_stream_consumer *consumer; /* IDS: the consumer being written */
    uint32_t groups_left;      /* groups after `group` */
    uint32_t consumers_left;   /* consumers of `group` after `consumer` */
};

struct rdb_part {
    uint32_t key_ref;          /* the key being written */
    uint8_t kind;              /* enum rdb_part_kind */
    uint64_t done;             /* string: bytes written; collections: elements written, or
                                  measured in RDB_PART_LIST_MEASURE; a stream: its nodes,
                                  the group's nacks or the consumer's IDs written */
    uint64_t total;            /* string: bytes; collections: elements; a stream: as done */
    uint64_t node_count;       /* list: QUICKLIST_2 nodes, counted by the measure */
    uint64_t node_bytes;       /* list measure: the node being sized */
    uint64_t node_bytes_max;   /* list measure: the largest node (the scratch's size) */
    uint64_t nodes_written;    /* list: nodes written so far */
    uint8_t *scratch;          /* list: a node's listpack, node_bytes_max, from the heap;
                                  NULL outside RDB_PART_LIST_NODES */
    union {
        struct store_list_cursor list; /* the next element */
        struct store_hash_cursor hash;
        struct store_set_cursor set;
        struct store_zset_walk zset;
        struct rdb_part_stream stream;
    } at;
};

/* Whether rdb_write_key_open would write the key in parts: a string longer than
 * RDB_PART_STRING_BYTES_MIN, a list, hash, set or sorted set in its large encoding
 * (quicklist, hashtable, skiplist), or a stream past one of the RDB_PART_STREAM_*_MIN. The
 * compact encodings are small by their limits. */
bool rdb_key_parted(const struct store *store, uint32_t key_ref);

/* Opens `part` on the key: writes its expiry time, clock, type, name and count, as far as
 * they are known (a list's wait for its measure). */
void rdb_write_key_open(struct rdb_writer *writer, struct store *store, uint32_t key_ref,
                        struct rdb_part *part);

/* Writes more of the key: stops once `bytes` went into the writer (or were measured) in this
 * call, or at the key's end. True when the key is complete (the part is then done). */
KV_MUST_USE bool rdb_write_key_part(struct rdb_writer *writer, struct store *store,
                                    struct rdb_part *part, uint64_t bytes);

/* Gives back what an unfinished part holds (its scratch): the writer stops. */
void rdb_part_abandon(struct rdb_writer *writer, struct rdb_part *part);

/* Bytes another writer serialized, appended as they are (the snapshot's side buffer): the
 * checksum and the count go on over them. */
void rdb_write_raw(struct rdb_writer *writer, const uint8_t *bytes, uint64_t length);

/* ---- Reader ---- */

/* Reads up to `capacity` bytes into `bytes`: how many (0 at the end), or -1 on an error. */
typedef int64_t rdb_fill_fn(void *context, uint8_t *bytes, uint64_t capacity);

struct rdb_reader {
    uint8_t *buffer;          /* bytes from the stream, buffer[0] at position buffer_position */
    uint64_t capacity_bytes;  /* buffer's size */
    uint64_t end_bytes;       /* bytes of buffer filled */
    uint64_t offset_bytes;    /* the next byte to parse, in buffer */
    uint64_t buffer_position; /* stream position of buffer[0] */
    uint64_t keep_position;   /* stream position before which bytes may be dropped */
    uint64_t crc;             /* CRC-64 of every byte parsed */
    rdb_fill_fn *fill;        /* NULL: the buffer is the whole input */
    void *fill_context;
    struct heap *heap;        /* decompressed LZF strings and listpacks live here a while */
    enum store_status store_status; /* the store's answer, with RDB_STORE */
    bool fill_failed;         /* the fill callback failed: RDB_IO */
    uint64_t functions_skipped; /* function libraries (FUNCTION2) read and left out */
    /* Takes a FUNCTION2 record's code (the startup load into the function registry); false
     * fails the load (RDB_CORRUPT). NULL: libraries are skipped and counted. */
    bool (*function_code)(void *context, struct slice code);
    void *function_context;
};

/* A reader over bytes in memory (DUMP's payload without its footer). */
void rdb_reader_init_memory(struct rdb_reader *reader, const uint8_t *bytes, uint64_t length,
                            struct heap *heap);

/* A reader that fills `buffer` from `fill`. */
void rdb_reader_init_stream(struct rdb_reader *reader, uint8_t *buffer, uint64_t capacity_bytes,
                            rdb_fill_fn *fill, void *fill_context, struct heap *heap);

/* Checks DUMP's footer (version, CRC-64) as Redis's verifyDumpPayload. */
KV_MUST_USE bool rdb_dump_verify(const uint8_t *payload, uint64_t length);

/* Reads one value of `rdb_type` into the absent key `key` of the store (created here).
 * Anything but RDB_OK leaves no key by that name. */
KV_MUST_USE enum rdb_status rdb_read_value(struct rdb_reader *reader, struct store *store,
                                           uint8_t rdb_type, struct slice key);

/* RESTORE's load: the payload (footer verified) into the absent key; with RDB_STORE,
 * *store_status is the store's refusal. */
KV_MUST_USE enum rdb_status rdb_read_dump(struct store *store, const uint8_t *payload,
                                          uint64_t length, struct slice key,
                                          enum store_status *store_status);

/* What a file load did. */
struct rdb_load_result {
    uint64_t keys_loaded;     /* keys stored */
    uint64_t keys_expired;    /* keys skipped because their time had passed */
    uint64_t keys_skipped;    /* keys of a type kv does not load (logged) */
    int64_t ctime_seconds;    /* the aux field ctime, 0 when absent */
};

/* Loads a whole RDB file from the reader into the (empty) store. */
KV_MUST_USE enum rdb_status rdb_load(struct rdb_reader *reader, struct store *store,
                                     struct rdb_load_result *result);

/* ---- The file side, registered at startup ----
 * rdb_file.c (SAVE's file, the startup load) links with its ring outside the core library,
 * so the commands reach it through this registration; without one SAVE fails (tests). */

/* What INFO persistence and LASTSAVE show. */
struct rdb_save_stats {
    int64_t last_save_seconds;     /* Unix time of the last successful save (start: startup) */
    int64_t last_save_duration_ms; /* -1 until a save ran */
    bool last_save_ok;             /* the last save's outcome (true before any) */
    uint64_t last_load_keys_loaded;
    uint64_t last_load_keys_expired;
    bool last_bgsave_ok;           /* Redis's lastbgsave_status: false after a BGSAVE failed,
                                      true again after any save succeeded (SAVE, FLUSHALL's)
                                      or a BGSAVE did; a BGSAVE stopped (FLUSHALL, SHUTDOWN)
                                      leaves it, as Redis's child killed by SIGUSR1 */
    int64_t last_bgsave_seconds;   /* the last BGSAVE's duration, -1 until one ran */
    int64_t bgsave_started_ms;     /* Unix ms the running (or last) BGSAVE started */
    int64_t bgsave_tried_ms;       /* Unix ms of the last BGSAVE start attempt */
    uint64_t changes_at_save;      /* key changes counted when the last good save started */
    uint64_t changes_at_bgsave;    /* key changes counted when the running BGSAVE started */
};

/* Saves the whole store to <dir>/<dbfilename>: 0 or a negative errno. */
typedef int rdb_save_fn(struct store *store, int64_t now_ms);

void rdb_save_register(rdb_save_fn *save, const struct rdb_save_stats *stats);

/* BGSAVE: starts the forkless snapshot of the store into <dir>/<dbfilename>: 0, -EBUSY when
 * one runs, or a negative errno. */
typedef int rdb_bgsave_fn(struct store *store, int64_t now_ms);

void rdb_bgsave_register(rdb_bgsave_fn *bgsave);

/* BGSAVE through the registered function; -ENOSYS when there is none. A start that was not
 * refused for a running snapshot (-EBUSY) counts in rdb_saves, failed or not, as Redis's
 * rdbSaveBackground counts before its fork. */
KV_MUST_USE int rdb_bgsave(struct store *store, int64_t now_ms);

/* INFO's rdb_saves (Redis's stat_rdb_saves): SAVE commands and BGSAVE starts, failed ones
 * included; not the AOF rewrite's base, FLUSHALL's or SHUTDOWN's saves. SAVE's handler calls
 * rdb_saves_count before it saves; CONFIG RESETSTAT calls rdb_saves_reset. */
void rdb_saves_count(void);
void rdb_saves_reset(void);
uint64_t rdb_saves(void);

/* BGSAVE inside EXEC: cron starts it after the transaction (Redis's rdb_bgsave_scheduled).
 * rdb_bgsave_scheduled_take answers whether one was scheduled, and clears it. */
void rdb_bgsave_schedule(void);
bool rdb_bgsave_scheduled_take(void);

/* SAVE through the registered function; -ENOSYS when there is none. */
KV_MUST_USE int rdb_save(struct store *store, int64_t now_ms);

/* The registered stats (zeros, last_save_ok, when none). */
const struct rdb_save_stats *rdb_stats(void);

/* The text of a status, for logs. */
const char *rdb_status_text(enum rdb_status status);

#endif
