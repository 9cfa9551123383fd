/*
 * RESP2 reply encoders, and the table of error replies, byte-identical to Redis 7 where Redis
 * defines them. A reply writes into a buffer that can grow: when it is full the writer asks
 * its owner (a connection's output chain, through `grow`) for another, so a reply of any size
 * fits; a writer with no owner is a fixed buffer whose room the caller guaranteed (tests, the
 * measuring of text). When the owner has no memory to give, the writer drops the rest of the
 * reply and says so (`failed`): the owner closes that client, never cuts a reply silently.
 * Handlers return error ids; only this module holds error text.
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
    REPLY_ERROR_SCRIPT_COMPILE,          /* arg: Lua's message */
    REPLY_ERROR_SCRIPT_RUNNING,          /* name: the script's SHA-1; arg: Lua's message */
    REPLY_ERROR_SHEBANG_ENGINE,          /* arg: the engine word */
    REPLY_ERROR_SHEBANG_FLAG,            /* arg: the flag */
    REPLY_ERROR_SHEBANG_OPTION,          /* arg: the option */
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
/* A sorted-set score as Redis 7.0 answers it in RESP2: a bulk of "%.17g", "inf" or "-inf". */
void reply_score(struct reply *reply, double score);
void reply_null(struct reply *reply);                       /* "$-1\r\n" */
void reply_null_array(struct reply *reply);                 /* "*-1\r\n" */
void reply_array(struct reply *reply, uint64_t count);      /* "*count\r\n" */

/*
 * The error line of an id that takes arguments, formatted straight into the reply (which
 * must have room, as for every encoder), with the arguments the id's comment lists. As
 * Redis's addReplyErrorFormat: CR and LF in what the arguments print become spaces, client
 * bytes stop at a NUL byte and at the table's precision, and the text between "-" and
 * "\r\n" is cut at REPLY_ERROR_TEXT_BYTES_MAX.
 */
void reply_error_format(struct reply *reply, enum reply_error error, ...);

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
