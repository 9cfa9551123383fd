/*
 * RESP2 and RESP3 reply encoders, and the table of error replies, byte-identical to Redis 7 where Redis
 * defines them. A reply writes into a buffer that can grow: when it is full the writer asks
 * its owner (a connection's output chain, through `grow`) for another, so a reply of any size
 * fits; a writer with no owner is a fixed buffer whose room the caller guaranteed (tests, the
 * measuring of text). When the owner has no memory to give, the writer drops the rest of the
 * reply and says so (`failed`): the owner closes that client, never cuts a reply silently.
 * Handlers return error ids; only this module holds error text.
 *
 * The protocol is the writer's (`resp3`, copied from the client by whoever makes the writer;
 * a zeroed writer speaks RESP2): the encoders of RESP3's types (map, set, push, double, null,
 * boolean, big number, verbatim) write their RESP2 form to a RESP2 writer, as Redis 7.0's
 * addReply* do, so a handler writes one reply for both.
 */
#ifndef KV_REPLY_H
#define KV_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kv_assert.h"
#include "slice.h"

struct reply;

/* The owner's growth: gives the writer another buffer of at least `wanted` bytes (or a
 * smaller one: the writer comes back for more), setting bytes, length and capacity; false
 * when it has none. */
typedef bool reply_grow_fn(struct reply *reply, uint64_t wanted);

struct reply {
    uint8_t *bytes;       /* the buffer being written */
    uint32_t length;      /* bytes of it written */
    uint32_t capacity;    /* its size */
    reply_grow_fn *grow;  /* the owner's growth; NULL: a fixed buffer (room guaranteed) */
    void (*truncate)(struct reply *reply); /* the owner's reply_truncate */
    void *owner;          /* the grow function's state */
    uint32_t owner_index; /* and which of the owner's buffers (a connection's slot) */
    uint64_t total;       /* bytes written through this writer, all buffers (once failed,
                             the bytes dropped too, so every write still counts) */
    uint64_t mark;        /* `total` at reply_mark */
    uint8_t first;        /* the first byte written since the mark */
    bool resp3;           /* the client speaks RESP3 (HELLO 3); false: RESP2 */
    bool failed;          /* the owner had no more memory: the rest was dropped */
};

/* A writer over a fixed buffer (room guaranteed by the caller). */
static inline struct reply reply_fixed(uint8_t *bytes, uint32_t capacity)
{
    return (struct reply){.bytes = bytes, .capacity = capacity};
}

/* Marks where a command's reply starts: reply_first_byte then tells its first byte. */
static inline void reply_mark(struct reply *reply)
{
    reply->mark = reply->total;
    reply->first = 0;
}

/* Drops what was written since the mark (a reply replaced by an error); the writer goes on
 * from the mark. */
void reply_truncate(struct reply *reply);

/* Bytes written since the mark. */
static inline uint64_t reply_since_mark(const struct reply *reply)
{
    return reply->total - reply->mark;
}

/*
 * Every error a client can see, by id; the text is in reply.c's table. Three kinds:
 * fixed lines (reply_error), kv's limits, built once from the configuration by
 * reply_errors_init (reply_error), and lines with arguments (reply_error_format), whose
 * arguments each id lists here in order: `u` an unsigned (uint32_t), `llu` an unsigned long
 * long, `name` a const char * of kv's own (a command name or config.c's reason), `arg` a
 * const struct slice * of client bytes, echoed as Redis echoes them.
 */
enum reply_error {
    REPLY_ERROR_NONE,
    /* Shared by many commands. */
    REPLY_ERROR_WRONGTYPE,
    REPLY_ERROR_SYNTAX,
    REPLY_ERROR_NOT_INTEGER,
    REPLY_ERROR_NOT_POSITIVE,      /* LPOP count < 0 */
    REPLY_ERROR_NOT_FLOAT,
    REPLY_ERROR_INT64_RANGE,       /* a count of INT64_MIN */
    REPLY_ERROR_INCREMENT_OVERFLOW,
    REPLY_ERROR_INCREMENT_NAN,
    REPLY_ERROR_NO_SUCH_KEY,
    REPLY_ERROR_INVALID_CURSOR,
    REPLY_ERROR_MIN_MAX_NOT_FLOAT,
    /* Connections, authentication and protected mode. */
    REPLY_ERROR_MAX_CLIENTS,
    REPLY_ERROR_DENIED,
    REPLY_ERROR_NOAUTH,
    REPLY_ERROR_OOM,
    REPLY_ERROR_WRONGPASS,
    REPLY_ERROR_AUTH_NO_PASSWORD,
    REPLY_ERROR_HELLO_NOAUTH,
    REPLY_ERROR_PROTOCOL_VERSION_INVALID,
    REPLY_ERROR_NOPROTO,
    REPLY_ERROR_CLIENT_NAME_INVALID,
    REPLY_ERROR_CLIENT_ID_INVALID,
    REPLY_ERROR_CLIENT_ID_NOT_POSITIVE,
    REPLY_ERROR_NO_SUCH_CLIENT,
    REPLY_ERROR_REPLICA_KEYSPACE,    /* a monitor sent a command that reads or writes keys */
    REPLY_ERROR_MONITOR_DENY_BLOCKING, /* MONITOR inside EXEC */
    /* Transactions. */
    REPLY_ERROR_MULTI_NESTED,
    REPLY_ERROR_EXEC_WITHOUT_MULTI,
    REPLY_ERROR_EXECABORT,
    REPLY_ERROR_EXECABORT_OOM,
    REPLY_ERROR_OBJECT_IDLETIME_LFU,
    REPLY_ERROR_OBJECT_FREQ_NOT_LFU,
    REPLY_ERROR_DISCARD_WITHOUT_MULTI,
    REPLY_ERROR_WATCH_INSIDE_MULTI,
    REPLY_ERROR_NOT_IN_TRANSACTION, /* a no-multi command queued (SHUTDOWN) */
    REPLY_ERROR_NO_SHUTDOWN,        /* SHUTDOWN ABORT with none under way */
    REPLY_ERROR_SHUTDOWN_SAVE,      /* SHUTDOWN SAVE: kv has no persistence to save to */
    /* Keys, strings and blocking commands. */
    REPLY_ERROR_DB_INDEX_RANGE,
    REPLY_ERROR_INT32_RANGE,       /* SELECT */
    REPLY_ERROR_OFFSET_RANGE,      /* SETRANGE */
    REPLY_ERROR_STRING_TOO_LONG,   /* SETRANGE past proto-max-bulk-len */
    REPLY_ERROR_DECREMENT_OVERFLOW,
    REPLY_ERROR_TIMEOUT_INVALID,
    REPLY_ERROR_TIMEOUT_NEGATIVE,
    REPLY_ERROR_EXPIRE_NX_CONFLICT,
    REPLY_ERROR_EXPIRE_GT_LT_CONFLICT,
    /* Lists, hashes, sorted sets, pub/sub, the slow log. */
    REPLY_ERROR_INDEX_RANGE,       /* LSET */
    REPLY_ERROR_RANK_ZERO,         /* LPOS */
    REPLY_ERROR_COUNT_NEGATIVE,    /* LPOS */
    REPLY_ERROR_MAXLEN_NEGATIVE,   /* LPOS */
    REPLY_ERROR_HASH_NOT_INTEGER,
    REPLY_ERROR_HASH_NOT_FLOAT,
    REPLY_ERROR_NAN_OR_INFINITY,
    REPLY_ERROR_ZADD_XX_NX,
    REPLY_ERROR_ZADD_GT_LT_NX,
    REPLY_ERROR_ZADD_INCR_PAIR,
    REPLY_ERROR_SCORE_NAN,
    REPLY_ERROR_LIMIT_NEEDS_BY,
    REPLY_ERROR_WITHSCORES_BYLEX,
    REPLY_ERROR_MIN_MAX_NOT_LEX,
    REPLY_ERROR_SLOWLOG_COUNT,
    /* Scripting. */
    REPLY_ERROR_NOSCRIPT,
    REPLY_ERROR_NUMKEYS_TOO_MANY,
    REPLY_ERROR_NUMKEYS_NEGATIVE,
    REPLY_ERROR_SCRIPT_WRITE_FLAG_RO,
    REPLY_ERROR_SCRIPT_FLUSH_MODE,
    REPLY_ERROR_NOTBUSY,
    REPLY_ERROR_LUA_STACK_LIMIT,
    REPLY_ERROR_SHEBANG_INVALID,
    REPLY_ERROR_BUSY_SCRIPT,               /* an EVAL is past busy-reply-threshold */
    REPLY_ERROR_BUSY_FUNCTION,             /* an FCALL is */
    REPLY_ERROR_UNKILLABLE,
    /* Functions (function.c). */
    REPLY_ERROR_FUNCTION_NOT_FOUND,
    REPLY_ERROR_FUNCTION_NUMKEYS,
    REPLY_ERROR_LIBRARY_NOT_FOUND,
    REPLY_ERROR_FUNCTION_CODE_MISSING,
    REPLY_ERROR_FUNCTION_LIBRARYNAME_MISSING,
    REPLY_ERROR_FUNCTION_FLUSH_MODE,
    REPLY_ERROR_FUNCTION_RESTORE_POLICY,
    REPLY_ERROR_FUNCTION_PAYLOAD_BAD,
    REPLY_ERROR_FUNCTION_PAYLOAD_TYPE_UNREADABLE,
    REPLY_ERROR_FUNCTION_PAYLOAD_NOT_FUNCTION,
    REPLY_ERROR_FUNCTION_PAYLOAD_LIBRARY,
    REPLY_ERROR_LIBRARY_METADATA_MISSING,
    REPLY_ERROR_LIBRARY_METADATA_INVALID,
    REPLY_ERROR_LIBRARY_NAME_TWICE,
    REPLY_ERROR_LIBRARY_NAME_MISSING,
    REPLY_ERROR_LIBRARY_NAME_INVALID,
    REPLY_ERROR_FUNCTION_NONE_REGISTERED,
    /* Streams. */
    REPLY_ERROR_STREAM_ID_INVALID,
    REPLY_ERROR_STREAM_TRIM_BOTH,
    REPLY_ERROR_STREAM_MAXLEN_NEGATIVE,
    REPLY_ERROR_STREAM_LIMIT_NEGATIVE,
    REPLY_ERROR_STREAM_LIMIT_NO_STRATEGY,
    REPLY_ERROR_STREAM_XTRIM_NO_STRATEGY,
    REPLY_ERROR_STREAM_LIMIT_NO_APPROX,
    REPLY_ERROR_STREAM_XADD_ZERO_ID,
    REPLY_ERROR_STREAM_EXHAUSTED,
    REPLY_ERROR_STREAM_XADD_ID_SMALL,
    REPLY_ERROR_STREAM_TOO_LARGE,
    REPLY_ERROR_STREAM_START_INVALID,
    REPLY_ERROR_STREAM_END_INVALID,
    REPLY_ERROR_STREAM_UNBALANCED,
    REPLY_ERROR_STREAM_GROUP_XREAD,
    REPLY_ERROR_STREAM_NOACK_XREAD,
    REPLY_ERROR_STREAM_GROUP_MISSING,
    REPLY_ERROR_STREAM_DOLLAR_GROUP,
    REPLY_ERROR_STREAM_GT_XREAD,
    REPLY_ERROR_STREAM_TIMEOUT_INVALID,
    REPLY_ERROR_STREAM_ENTRIES_ADDED,
    REPLY_ERROR_STREAM_XSETID_MAXDEL,
    REPLY_ERROR_STREAM_XSETID_SMALL,
    REPLY_ERROR_STREAM_XSETID_LENGTH,
    REPLY_ERROR_STREAM_ENTRIES_READ,
    REPLY_ERROR_STREAM_XGROUP_NO_KEY,
    REPLY_ERROR_STREAM_BUSYGROUP,
    REPLY_ERROR_STREAM_NOGROUP_BLOCKED,
    REPLY_ERROR_STREAM_XCLAIM_MIN_IDLE,
    REPLY_ERROR_STREAM_XCLAIM_IDLE,
    REPLY_ERROR_STREAM_XCLAIM_TIME,
    REPLY_ERROR_STREAM_XCLAIM_RETRYCOUNT,
    REPLY_ERROR_STREAM_XAUTOCLAIM_MIN_IDLE,
    REPLY_ERROR_STREAM_COUNT_POSITIVE,
    /* Bit commands (cmd_bit.c). */
    REPLY_ERROR_BIT_OFFSET,
    REPLY_ERROR_BIT_VALUE,
    REPLY_ERROR_BITPOS_BIT,
    REPLY_ERROR_BITOP_NOT,
    REPLY_ERROR_BITFIELD_TYPE,
    REPLY_ERROR_BITFIELD_OVERFLOW,
    REPLY_ERROR_BITFIELD_RO,
    /* kv's limits: the message names the option and its value (reply_errors_init). */
    REPLY_ERROR_KEY_TOO_LONG,
    REPLY_ERROR_VALUE_TOO_LONG,
    REPLY_ERROR_LIST_FULL,
    REPLY_ERROR_FIELD_TOO_LONG,
    REPLY_ERROR_HASH_FULL,
    REPLY_ERROR_MEMBER_TOO_LONG,
    REPLY_ERROR_SET_FULL,
    REPLY_ERROR_ZSET_FULL,
    REPLY_ERROR_STORE_FULL,
    REPLY_ERROR_ARGUMENT_TOO_LONG,
    REPLY_ERROR_COMMAND_TOO_LARGE,
    REPLY_ERROR_WATCH_KEYS_FULL,
    REPLY_ERROR_SUBSCRIPTIONS_FULL,
    REPLY_ERROR_CHANNELS_FULL,
    REPLY_ERROR_BLOCKING_KEYS_FULL,
    REPLY_ERROR_CONFIG_NO_FILE,
    /* With arguments (reply_error_format), listed after each. */
    REPLY_ERROR_SUBSCRIBED_CONTEXT,      /* name: the refused command */
    REPLY_ERROR_CLIENT_NAME_TOO_LONG,    /* u: kv's limit in bytes */
    REPLY_ERROR_HELLO_OPTION,            /* arg: the option */
    REPLY_ERROR_CLIENT_TYPE_UNKNOWN,     /* arg: the type */
    REPLY_ERROR_NO_SUCH_USER,            /* arg: the user */
    REPLY_ERROR_SETINFO_OPTION_UNKNOWN,  /* arg: the option */
    REPLY_ERROR_SETINFO_TOO_LONG,        /* arg: the attribute (LIB-NAME or LIB-VER) */
    REPLY_ERROR_SETINFO_INVALID,         /* arg: the attribute (LIB-NAME or LIB-VER) */
    REPLY_ERROR_EXPIRE_OPTION_UNKNOWN,   /* arg: the option */
    REPLY_ERROR_EXPIRE_TIME_INVALID,     /* name: the command, lower case */
    REPLY_ERROR_TRANSACTION_TOO_LARGE,   /* u: the receive buffer */
    REPLY_ERROR_CONFIG_SET_UNKNOWN,      /* arg: the parameter */
    REPLY_ERROR_CONFIG_SET_IMMUTABLE,    /* arg: the parameter */
    REPLY_ERROR_CONFIG_SET_UNREADABLE,   /* arg: the parameter */
    REPLY_ERROR_CONFIG_SET_FAILED,       /* arg: the parameter; name: config_set's reason */
    REPLY_ERROR_CONFIG_REWRITE_FAILED,   /* name: the reason (strerror) */
    REPLY_ERROR_MISCONF_AOF,             /* name: the AOF write's error (strerror) */
    REPLY_ERROR_MISCONF_RDB,
    REPLY_ERROR_SCRIPT_COMPILE,          /* arg: Lua's message */
    REPLY_ERROR_SCRIPT_RUNNING,          /* name: the script's SHA-1; arg: Lua's message */
    REPLY_ERROR_SHEBANG_ENGINE,          /* arg: the engine word */
    REPLY_ERROR_SHEBANG_FLAG,            /* arg: the flag */
    REPLY_ERROR_SHEBANG_OPTION,          /* arg: the option */
    REPLY_ERROR_FUNCTION_COMPILE,        /* arg: Lua's message */
    REPLY_ERROR_FUNCTION_REGISTER,       /* arg: the error the library's code raised */
    REPLY_ERROR_LIBRARY_EXISTS,          /* arg: the library (FUNCTION LOAD) */
    REPLY_ERROR_LIBRARY_EXISTS_RESTORE,  /* arg: the library (FUNCTION RESTORE) */
    REPLY_ERROR_FUNCTION_EXISTS,         /* arg: the function */
    REPLY_ERROR_ENGINE_NOT_FOUND,        /* arg: the engine */
    REPLY_ERROR_LIBRARY_METADATA_VALUE,  /* arg: the shebang's word */
    REPLY_ERROR_FUNCTION_LOAD_OPTION,    /* arg: the option */
    REPLY_ERROR_FUNCTION_LIST_ARGUMENT,  /* arg: the argument */
    REPLY_ERROR_SUBCOMMAND_SYNTAX,       /* arg: the subcommand; name: the command, upper */
    REPLY_ERROR_STREAM_NOGROUP_XREADGROUP, /* arg: the key; arg: the group */
    REPLY_ERROR_STREAM_NOGROUP, /* arg: the key; arg: the group */
    REPLY_ERROR_STREAM_NOGROUP_FOR_KEY, /* arg: the group; arg: the key */
    REPLY_ERROR_STREAM_XCLAIM_OPTION, /* arg: the option */
    /* Client-side caching (CLIENT TRACKING and CACHING), kept together. */
    REPLY_ERROR_TRACKING_REDIRECT_TWICE,
    REPLY_ERROR_TRACKING_REDIRECT_MISSING,
    REPLY_ERROR_TRACKING_PREFIX_NEEDS_BCAST,
    REPLY_ERROR_TRACKING_BCAST_SWITCH,
    REPLY_ERROR_TRACKING_BCAST_OPTIN,
    REPLY_ERROR_TRACKING_OPTIN_OPTOUT,
    REPLY_ERROR_TRACKING_OPT_SWITCH,
    REPLY_ERROR_TRACKING_CACHING_OFF,
    REPLY_ERROR_TRACKING_CACHING_YES,
    REPLY_ERROR_TRACKING_CACHING_NO,
    REPLY_ERROR_TRACKING_PREFIXES_FULL,    /* kv's bound on a client's prefixes */
    REPLY_ERROR_TRACKING_PREFIX_OVERLAP,   /* arg: the new prefix; arg: the client's one */
    REPLY_ERROR_TRACKING_PREFIX_OVERLAP_NEW, /* arg: the new prefix; arg: another new one */
    REPLY_ERROR_GETKEYS_COMMAND,   /* COMMAND GETKEYS: not a command */
    REPLY_ERROR_GETKEYS_NO_KEYS,   /* ... one without keys */
    REPLY_ERROR_GETKEYS_ARITY,     /* ... with the wrong count of arguments */
    REPLY_ERROR_GETKEYS_ARGUMENTS, /* ... whose arguments hold no keys */
    /* Geo commands (cmd_geo.c), kept together. */
    REPLY_ERROR_GEO_LONLAT_INVALID,   /* arg: the pair as Redis's "%f,%f" prints it */
    REPLY_ERROR_GEO_UNIT,
    REPLY_ERROR_GEO_RADIUS_NOT_NUMBER,
    REPLY_ERROR_GEO_RADIUS_NEGATIVE,
    REPLY_ERROR_GEO_WIDTH_NOT_NUMBER,
    REPLY_ERROR_GEO_HEIGHT_NOT_NUMBER,
    REPLY_ERROR_GEO_BOX_NEGATIVE,
    REPLY_ERROR_GEO_MEMBER_MISSING,
    REPLY_ERROR_GEO_STORE_WITH,       /* GEORADIUS and GEORADIUSBYMEMBER */
    REPLY_ERROR_GEO_SEARCHSTORE_WITH,
    REPLY_ERROR_GEO_FROM_ONE,         /* arg: the command as the client wrote it */
    REPLY_ERROR_GEO_BY_ONE,           /* arg: the command as the client wrote it */
    REPLY_ERROR_GEO_ANY_COUNT,
    /* SORT, COPY and LCS (cmd_sort.c, cmd_copy.c, cmd_lcs.c). */
    REPLY_ERROR_SORT_SCORE,
    REPLY_ERROR_COPY_SAME,
    REPLY_ERROR_LCS_NOT_STRING,
    REPLY_ERROR_LCS_LEN_IDX,
    REPLY_ERROR_LCS_TOO_LONG,
    REPLY_ERROR_LCS_PROTO_MAX,
    REPLY_ERROR_LCS_NO_MEMORY,
    REPLY_ERROR_ZSET_KEYS_NEEDED,          /* arg: the command (ZUNION, ZINTERSTORE, ...) */
    REPLY_ERROR_WEIGHT_NOT_FLOAT,
    REPLY_ERROR_LIMIT_NEGATIVE,
    REPLY_ERROR_NUMKEYS_NOT_POSITIVE,
    REPLY_ERROR_COUNT_NOT_POSITIVE,
    REPLY_ERROR_VALUE_RANGE,
    /* HyperLogLog (cmd_hll.c). */
    REPLY_ERROR_HLL_WRONGTYPE,             /* a string that is not an HLL */
    REPLY_ERROR_HLL_INVALID,               /* INVALIDOBJ: a corrupt sparse HLL */
    REPLY_ERROR_HLL_NO_KEY,                /* PFDEBUG of a missing key */
    REPLY_ERROR_HLL_NOT_SPARSE,            /* PFDEBUG DECODE of a dense HLL */
    REPLY_ERROR_HLL_SELFTEST,              /* PFSELFTEST found a fault */
    REPLY_ERROR_PFDEBUG_SUBCOMMAND,        /* arg: the subcommand */
    /* EXEC refused while a script is busy (Redis's execCommandAbort with the BUSY reason). */
    REPLY_ERROR_EXECABORT_BUSY_SCRIPT,
    REPLY_ERROR_EXECABORT_BUSY_FUNCTION,
    /* CLIENT UNBLOCK: its bad reason, and what an ERROR unblock answers the blocked client. */
    REPLY_ERROR_UNBLOCK_REASON,
    REPLY_ERROR_UNBLOCKED,
    REPLY_ERROR_PAUSE_MODE, /* CLIENT PAUSE's mode neither WRITE nor ALL */
    /* SWAPDB's indexes not integers (or beyond an int). */
    REPLY_ERROR_SWAPDB_FIRST,
    REPLY_ERROR_SWAPDB_SECOND,
    /* RESTORE, DUMP, SAVE (cmd_dump.c). */
    REPLY_ERROR_BUSYKEY,
    REPLY_ERROR_RESTORE_TTL,
    REPLY_ERROR_RESTORE_IDLETIME,
    REPLY_ERROR_RESTORE_FREQ,
    REPLY_ERROR_BAD_DATA_FORMAT,
    REPLY_ERROR_DUMP_UNSUPPORTED, /* kv's: a stream, which DUMP does not serialize yet */
    REPLY_ERROR_SAVE_FAILED,      /* Redis's shared.err: "-ERR" alone */
    REPLY_ERROR_BGSAVE_IN_PROGRESS,
    REPLY_ERROR_BGSAVE_AOF_IN_PROGRESS, /* BGSAVE while an AOF rewrite runs */
    REPLY_ERROR_AOF_REWRITE_IN_PROGRESS,
    REPLY_ERROR_AOF_REWRITE_FAILED,
    /* Sharded pub/sub, MONITOR, replication, ACL, DEBUG, MODULE (the misccmd family files). */
    REPLY_ERROR_SSUBSCRIBE_DENY_BLOCKING,
    REPLY_ERROR_REPLICAOF_PORT,
    REPLY_ERROR_REPLICAOF_UNSUPPORTED, /* kv's own: no replication */
    REPLY_ERROR_FAILOVER_TIMEOUT,
    REPLY_ERROR_FAILOVER_NO_REPLICAS,
    REPLY_ERROR_FAILOVER_NONE,
    REPLY_ERROR_MODULE_NOT_ALLOWED,
    REPLY_ERROR_MODULE_LOAD,
    REPLY_ERROR_MODULE_UNLOAD,
    REPLY_ERROR_DEBUG_NOT_ALLOWED,
    REPLY_ERROR_ACL_NO_FILE,
    REPLY_ERROR_LATENCY_NO_SAMPLES, /* arg: the event */
    REPLY_ERROR_ACL_UNKNOWN_CATEGORY, /* arg: the category */
    REPLY_ERROR_ACL_GENPASS_BITS,
    REPLY_ERROR_ACL_USER_NOT_FOUND, /* arg: the user */
    REPLY_ERROR_ACL_COMMAND_NOT_FOUND, /* arg: the command */
    REPLY_ERROR_ACL_DELETE_DEFAULT,
    REPLY_ERROR_ACL_ONLY_DEFAULT, /* kv's own */
    REPLY_ERROR_ACL_PASSWORD_UNSUPPORTED, /* kv's own */
    REPLY_ERROR_ACL_RULE_UNSUPPORTED, /* kv's own; arg: the rule */
    /* Cluster mode (cluster.c, cmd_cluster.c, the redirections in cmd.c). */
    REPLY_ERROR_CLUSTER_DISABLED,
    REPLY_ERROR_CLUSTER_CROSSSLOT,
    REPLY_ERROR_CLUSTER_TRYAGAIN,
    REPLY_ERROR_CLUSTER_DOWN,
    REPLY_ERROR_CLUSTER_DOWN_RO,
    REPLY_ERROR_CLUSTER_DOWN_UNBOUND,
    REPLY_ERROR_CLUSTER_MOVED,             /* u: the slot; name: the endpoint; u: the port */
    REPLY_ERROR_CLUSTER_ASK,               /* u: the slot; name: the endpoint; u: the port */
    REPLY_ERROR_MIGRATE_KEYS_NOT_EMPTY,
    REPLY_ERROR_MIGRATE_CONNECT,
    REPLY_ERROR_MIGRATE_WRITING,
    REPLY_ERROR_MIGRATE_READING,
    REPLY_ERROR_MIGRATE_TARGET,            /* s: the target's error line after its "-" */
    REPLY_ERROR_CLUSTER_SLOT_INVALID_RANGE,
    REPLY_ERROR_CLUSTER_SLOT_INVALID,
    REPLY_ERROR_CLUSTER_SLOT_OR_COUNT_INVALID,
    REPLY_ERROR_CLUSTER_SLOT_BUSY,         /* u: the slot */
    REPLY_ERROR_CLUSTER_SLOT_UNASSIGNED,   /* u: the slot */
    REPLY_ERROR_CLUSTER_SLOT_TWICE,        /* u: the slot */
    REPLY_ERROR_CLUSTER_SLOT_RANGE_ORDER,  /* u: the start; u: the end */
    REPLY_ERROR_CLUSTER_FLUSHSLOTS_NOT_EMPTY,
    REPLY_ERROR_CLUSTER_SETSLOT_REPLICA,
    REPLY_ERROR_CLUSTER_SETSLOT_SYNTAX,
    REPLY_ERROR_CLUSTER_NOT_OWNER,         /* u: the slot */
    REPLY_ERROR_CLUSTER_ALREADY_OWNER,     /* u: the slot */
    REPLY_ERROR_CLUSTER_NODE_UNKNOWN_SETSLOT, /* arg: the node id */
    REPLY_ERROR_CLUSTER_NODE_UNKNOWN,      /* arg: the node id */
    REPLY_ERROR_CLUSTER_TARGET_NOT_MASTER,
    REPLY_ERROR_CLUSTER_SLOT_HAS_KEYS,     /* u: the slot */
    REPLY_ERROR_CLUSTER_FORGET_MYSELF,
    REPLY_ERROR_CLUSTER_FORGET_MASTER,
    REPLY_ERROR_CLUSTER_REPLICATE_MYSELF,
    REPLY_ERROR_CLUSTER_REPLICATE_REPLICA,
    REPLY_ERROR_CLUSTER_REPLICATE_NOT_EMPTY,
    REPLY_ERROR_CLUSTER_REPLICATE_UNSUPPORTED, /* kv's own: no replication */
    REPLY_ERROR_CLUSTER_NOT_MASTER,
    REPLY_ERROR_CLUSTER_FAILOVER_MASTER,
    REPLY_ERROR_CLUSTER_EPOCH_INVALID,     /* name: the epoch's text */
    REPLY_ERROR_CLUSTER_EPOCH_OTHERS,
    REPLY_ERROR_CLUSTER_EPOCH_NONZERO,
    REPLY_ERROR_CLUSTER_RESET_KEYS,
    REPLY_ERROR_CLUSTER_SAVECONFIG,        /* name: the reason (strerror) */
    REPLY_ERROR_CLUSTER_MEET_PORT,         /* arg: the port */
    REPLY_ERROR_CLUSTER_MEET_BUS_PORT,     /* arg: the bus port */
    REPLY_ERROR_CLUSTER_MEET_ADDRESS,      /* arg: the ip; arg: the port */
    REPLY_ERROR_SELECT_CLUSTER,
    REPLY_ERROR_MOVE_CLUSTER,
    REPLY_ERROR_SWAPDB_CLUSTER,
    REPLY_ERROR_COPY_CLUSTER,
    REPLY_ERROR_SORT_BY_CLUSTER,
    REPLY_ERROR_SORT_GET_CLUSTER,
    REPLY_ERROR_COUNT,
};

/* The longest text of a formatted error line, between "-" and "\r\n": what the largest
 * buffer a handler formatted into held before the table (256 bytes with its NUL), so lines
 * stay as they were. Only CONFIG SET's failure, whose reason can be long, gets near it; every
 * other line stays within PLAN_REPLY_ERROR_BYTES with its longest arguments (test_reply). */
#define REPLY_ERROR_TEXT_BYTES_MAX 255u

/* Checks the table and builds the limit errors' text from the configuration, once, at
 * startup; fixed lines work before it. */
void reply_errors_init(const struct config *config, uint32_t recv_limit);

/* The full error line ("-ERR ...\r\n") of an id without arguments. */
struct slice reply_error_line(enum reply_error error);

/* Whether an id is given with arguments (reply_error_format) rather than alone. */
bool reply_error_has_arguments(enum reply_error error);

void reply_raw(struct reply *reply, const void *bytes, uint32_t length);
void reply_simple(struct reply *reply, const char *text);   /* "+text\r\n" */
void reply_ok(struct reply *reply);                         /* "+OK\r\n" */
void reply_error(struct reply *reply, enum reply_error error);
void reply_integer(struct reply *reply, int64_t value);     /* ":value\r\n" */
void reply_bulk(struct reply *reply, struct slice bytes);   /* "$n\r\n...\r\n" */
/* A sorted-set score as Redis 7.0's addReplyDouble: "%.17g", "inf" or "-inf", a bulk in
 * RESP2, a double (",1.5\r\n") in RESP3. */
void reply_score(struct reply *reply, double score);
/* A score in a reply whose pairs are flat arrays in both protocols (ZSCAN): always a bulk. */
void reply_score_bulk(struct reply *reply, double score);
void reply_null(struct reply *reply);                       /* "$-1\r\n"; RESP3 "_\r\n" */
void reply_null_array(struct reply *reply);                 /* "*-1\r\n"; RESP3 "_\r\n" */
void reply_array(struct reply *reply, uint64_t count);      /* "*count\r\n" */

/* RESP3's aggregates; in RESP2 a map of n pairs is an array of 2n, a set and a push an
 * array of n. */
void reply_map(struct reply *reply, uint64_t pair_count);   /* "%n\r\n" */
void reply_set(struct reply *reply, uint64_t count);        /* "~n\r\n" */
void reply_push(struct reply *reply, uint64_t count);       /* ">n\r\n" */
/* The header of a (member, score)-like pair inside an array of them: RESP3 nests each pair
 * in an array of 2 (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES); RESP2 writes the pairs flat,
 * so this writes nothing. The array around holds `pair_count` elements in RESP3 and twice as
 * many in RESP2: reply_pairs writes that header. */
void reply_pair(struct reply *reply);
void reply_pairs(struct reply *reply, uint64_t pair_count);
void reply_bool(struct reply *reply, bool value);           /* "#t"/"#f"; RESP2 ":1"/":0" */
/* A number too big for an integer, as its decimal text: "(text"; RESP2 a bulk. */
void reply_bignum(struct reply *reply, struct slice digits);
/* Text for humans (INFO, CLIENT LIST): "=len\r\n<ext>:text"; RESP2 a bulk of the text.
 * `ext` is three characters ("txt"). */
void reply_verbatim(struct reply *reply, struct slice text, const char *ext);
/* Its head alone, for text written in pieces after it (then "\r\n"): "=<n+4>\r\n<ext>:" in
 * RESP3, "$<n>\r\n" in RESP2. */
void reply_verbatim_header(struct reply *reply, uint64_t text_bytes, const char *ext);
/* The protocol a writer speaks (2 or 3). */
static inline uint32_t reply_protocol(const struct reply *reply)
{
    return reply->resp3 ? 3u : 2u;
}

/*
 * The error line of an id that takes arguments, formatted straight into the reply (which
 * must have room, as for every encoder), with the arguments the id's comment lists. As
 * Redis's addReplyErrorFormat: CR and LF in what the arguments print become spaces, client
 * bytes stop at a NUL byte and at the table's precision, and the text between "-" and
 * "\r\n" is cut at REPLY_ERROR_TEXT_BYTES_MAX.
 */
void reply_error_format(struct reply *reply, enum reply_error error, ...);

/* Called with the head of each error line a client's writer sends (reply_error and the
 * writers of error lines; not a fixed buffer's): its first 32 bytes at least, or all. */
typedef void reply_error_observer_fn(void *context, const uint8_t *line, uint32_t length);
void reply_error_observe(reply_error_observer_fn *observer, void *context);

/* "-ERR wrong number of arguments for '<name>' command\r\n" (name already lower case). */
void reply_error_arity(struct reply *reply, const char *name);

/* "-ERR unknown command '<name>', with args beginning with: '<a>' ... \r\n", as Redis
 * bounds and sanitizes it. */
void reply_error_unknown_command(struct reply *reply, const struct slice *args,
                                 uint32_t arg_count);

/* "-ERR unknown subcommand '<sub>'. Try <COMMAND> HELP.\r\n" */
void reply_error_unknown_subcommand(struct reply *reply, struct slice subcommand,
                                    const char *command_upper);

/* Protocol errors ("-ERR Protocol error: ...\r\n") and parser refusals, by resp_error id;
 * `byte` is the offending byte for "expected '$', got '%c'". */
void reply_resp_error(struct reply *reply, uint8_t resp_error, uint8_t byte);

#endif
