/*
 * Reply encoding and the error table. Encoders append through the writer (reply.h), which
 * grows into its owner's buffers (a connection's output chain) or, for a fixed buffer, asserts
 * the room its caller guaranteed. Every error line a
 * client can see is in error_table below, by id; handlers name ids and never hold error text.
 * Lines are Redis 7's, byte for byte, including how Redis bounds and sanitizes what it
 * echoes (at most 128 bytes of a name, C-string truncation at a NUL byte, CR and LF turned
 * into spaces). kv's own limit errors name the option and its value; their text is built
 * once at startup into static storage. Lines with arguments are formatted at each use
 * straight into the reply, never longer than REPLY_ERROR_TEXT_BYTES_MAX between "-" and
 * "\r\n". Nothing here allocates or does I/O.
 */
#include "reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "resp.h"

/* Longest limit line: its fixed text (under 90 bytes) and a 10-digit value. */
#define REPLY_ERROR_LIMIT_LINE_BYTES_MAX 160u

/* The limit ids run from KEY_TOO_LONG to CHANNELS_FULL, in one block of static lines. */
#define REPLY_ERROR_LIMIT_FIRST REPLY_ERROR_KEY_TOO_LONG
#define REPLY_ERROR_LIMIT_COUNT (REPLY_ERROR_BLOCKING_KEYS_FULL - REPLY_ERROR_KEY_TOO_LONG + 1)

static_assert(REPLY_ERROR_TEXT_BYTES_MAX + 1 == PLAN_REPLY_ERROR_BYTES,
              "formatted text is cut where a PLAN_REPLY_ERROR_BYTES buffer cut it");

enum reply_error_kind {
    REPLY_ERROR_KIND_FIXED = 1, /* the line as it is */
    REPLY_ERROR_KIND_LIMIT,     /* one %u, a configured limit, formatted by reply_errors_init */
    REPLY_ERROR_KIND_FORMAT,    /* conversions, formatted by each reply_error_format */
};

/*
 * One client-visible error: the whole line from "-" to "\r\n". Conversions use printf's
 * syntax for a subset: %u (unsigned), %llu (unsigned long long), %s (a C string of kv's
 * own), and %.<N>s, which takes a const struct slice * of client bytes and prints what
 * Redis's "%.<N>s" of them as a C string prints. What a conversion prints has CR and LF
 * turned into spaces, as Redis's addReplyErrorFormat does with the whole line.
 */
struct reply_error_entry {
    const char *line; /* "-" to "\r\n", NUL-terminated */
    uint8_t kind;     /* enum reply_error_kind */
};

#define FIXED(text) {.line = (text), .kind = REPLY_ERROR_KIND_FIXED}
#define LIMIT(text) {.line = (text), .kind = REPLY_ERROR_KIND_LIMIT}
#define FORMAT(text) {.line = (text), .kind = REPLY_ERROR_KIND_FORMAT}

static const struct reply_error_entry error_table[REPLY_ERROR_COUNT] = {
    [REPLY_ERROR_WRONGTYPE] =
        FIXED("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    [REPLY_ERROR_SYNTAX] = FIXED("-ERR syntax error\r\n"),
    [REPLY_ERROR_NOT_INTEGER] = FIXED("-ERR value is not an integer or out of range\r\n"),
    [REPLY_ERROR_NOT_POSITIVE] = FIXED("-ERR value is out of range, must be positive\r\n"),
    [REPLY_ERROR_NOT_FLOAT] = FIXED("-ERR value is not a valid float\r\n"),
    [REPLY_ERROR_INT64_RANGE] = FIXED("-ERR value is out of range, value must between "
                                      "-9223372036854775807 and 9223372036854775807\r\n"),
    [REPLY_ERROR_INCREMENT_OVERFLOW] = FIXED("-ERR increment or decrement would overflow\r\n"),
    [REPLY_ERROR_INCREMENT_NAN] = FIXED("-ERR increment would produce NaN or Infinity\r\n"),
    [REPLY_ERROR_NO_SUCH_KEY] = FIXED("-ERR no such key\r\n"),
    [REPLY_ERROR_INVALID_CURSOR] = FIXED("-ERR invalid cursor\r\n"),
    [REPLY_ERROR_MIN_MAX_NOT_FLOAT] = FIXED("-ERR min or max is not a float\r\n"),

    [REPLY_ERROR_MAX_CLIENTS] = FIXED("-ERR max number of clients reached\r\n"),
    [REPLY_ERROR_DENIED] = FIXED(
        "-DENIED Redis is running in protected mode because protected mode is enabled and no "
        "password is set for the default user. In this mode connections are only accepted "
        "from the loopback interface. If you want to connect from external computers to "
        "Redis you may adopt one of the following solutions: 1) Just disable protected mode "
        "sending the command 'CONFIG SET protected-mode no' from the loopback interface by "
        "connecting to Redis from the same host the server is running, however MAKE SURE "
        "Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to "
        "make this change permanent. 2) Alternatively you can just disable the protected mode "
        "by editing the Redis configuration file, and setting the protected mode option to "
        "'no', and then restarting the server. 3) If you started the server manually just for "
        "testing, restart it with the '--protected-mode no' option. 4) Set up an "
        "authentication password for the default user. NOTE: You only need to do one of the "
        "above things in order for the server to start accepting connections from the "
        "outside.\r\n"),
    [REPLY_ERROR_NOAUTH] = FIXED("-NOAUTH Authentication required.\r\n"),
    [REPLY_ERROR_OOM] = FIXED("-OOM command not allowed when used memory > 'maxmemory'.\r\n"),
    [REPLY_ERROR_WRONGPASS] =
        FIXED("-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
    [REPLY_ERROR_AUTH_NO_PASSWORD] =
        FIXED("-ERR AUTH <password> called without any password configured for the default "
              "user. Are you sure your configuration is correct?\r\n"),
    [REPLY_ERROR_HELLO_NOAUTH] =
        FIXED("-NOAUTH HELLO must be called with the client already authenticated, otherwise "
              "the HELLO AUTH <user> <pass> option can be used to authenticate the client and "
              "select the RESP protocol version at the same time\r\n"),
    [REPLY_ERROR_PROTOCOL_VERSION_INVALID] =
        FIXED("-ERR Protocol version is not an integer or out of range\r\n"),
    [REPLY_ERROR_NOPROTO] = FIXED("-NOPROTO unsupported protocol version\r\n"),
    [REPLY_ERROR_CLIENT_NAME_INVALID] =
        FIXED("-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
    [REPLY_ERROR_CLIENT_ID_INVALID] = FIXED("-ERR Invalid client ID\r\n"),
    [REPLY_ERROR_CLIENT_ID_NOT_POSITIVE] = FIXED("-ERR client-id should be greater than 0\r\n"),
    [REPLY_ERROR_NO_SUCH_CLIENT] = FIXED("-ERR No such client\r\n"),
    [REPLY_ERROR_REPLICA_KEYSPACE] = FIXED("-ERR Replica can't interact with the keyspace\r\n"),
    [REPLY_ERROR_MONITOR_DENY_BLOCKING] =
        FIXED("-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"),

    [REPLY_ERROR_MULTI_NESTED] = FIXED("-ERR MULTI calls can not be nested\r\n"),
    [REPLY_ERROR_EXEC_WITHOUT_MULTI] = FIXED("-ERR EXEC without MULTI\r\n"),
    [REPLY_ERROR_EXECABORT] =
        FIXED("-EXECABORT Transaction discarded because of previous errors.\r\n"),
    [REPLY_ERROR_EXECABORT_OOM] =
        FIXED("-EXECABORT Transaction discarded because of: OOM command not allowed when used "
              "memory > 'maxmemory'.\r\n"),
    [REPLY_ERROR_OBJECT_IDLETIME_LFU] =
        FIXED("-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
              "when switching between policies at runtime LRU and LFU data will take some time "
              "to adjust.\r\n"),
    [REPLY_ERROR_OBJECT_FREQ_NOT_LFU] =
        FIXED("-ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
              "Please note that when switching between policies at runtime LRU and LFU data "
              "will take some time to adjust.\r\n"),
    [REPLY_ERROR_DISCARD_WITHOUT_MULTI] = FIXED("-ERR DISCARD without MULTI\r\n"),
    [REPLY_ERROR_WATCH_INSIDE_MULTI] = FIXED("-ERR WATCH inside MULTI is not allowed\r\n"),
    [REPLY_ERROR_NOT_IN_TRANSACTION] =
        FIXED("-ERR Command not allowed inside a transaction\r\n"),
    [REPLY_ERROR_NO_SHUTDOWN] = FIXED("-ERR No shutdown in progress.\r\n"),
    [REPLY_ERROR_SHUTDOWN_SAVE] = FIXED("-ERR Errors trying to SHUTDOWN. Check logs.\r\n"),

    [REPLY_ERROR_DB_INDEX_RANGE] = FIXED("-ERR DB index is out of range\r\n"),
    [REPLY_ERROR_INT32_RANGE] = FIXED("-ERR value is out of range, value must between "
                                      "-2147483648 and 2147483647\r\n"),
    [REPLY_ERROR_OFFSET_RANGE] = FIXED("-ERR offset is out of range\r\n"),
    [REPLY_ERROR_STRING_TOO_LONG] =
        FIXED("-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"),
    [REPLY_ERROR_DECREMENT_OVERFLOW] = FIXED("-ERR decrement would overflow\r\n"),
    [REPLY_ERROR_TIMEOUT_INVALID] = FIXED("-ERR timeout is not a float or out of range\r\n"),
    [REPLY_ERROR_TIMEOUT_NEGATIVE] = FIXED("-ERR timeout is negative\r\n"),
    [REPLY_ERROR_EXPIRE_NX_CONFLICT] =
        FIXED("-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"),
    [REPLY_ERROR_EXPIRE_GT_LT_CONFLICT] =
        FIXED("-ERR GT and LT options at the same time are not compatible\r\n"),

    [REPLY_ERROR_INDEX_RANGE] = FIXED("-ERR index out of range\r\n"),
    [REPLY_ERROR_RANK_ZERO] =
        FIXED("-ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
              "second ... or use negative to start from the end of the list\r\n"),
    [REPLY_ERROR_COUNT_NEGATIVE] = FIXED("-ERR COUNT can't be negative\r\n"),
    [REPLY_ERROR_MAXLEN_NEGATIVE] = FIXED("-ERR MAXLEN can't be negative\r\n"),
    [REPLY_ERROR_HASH_NOT_INTEGER] = FIXED("-ERR hash value is not an integer\r\n"),
    [REPLY_ERROR_HASH_NOT_FLOAT] = FIXED("-ERR hash value is not a float\r\n"),
    [REPLY_ERROR_NAN_OR_INFINITY] = FIXED("-ERR value is NaN or Infinity\r\n"),
    [REPLY_ERROR_ZADD_XX_NX] =
        FIXED("-ERR XX and NX options at the same time are not compatible\r\n"),
    [REPLY_ERROR_ZADD_GT_LT_NX] =
        FIXED("-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    [REPLY_ERROR_ZADD_INCR_PAIR] =
        FIXED("-ERR INCR option supports a single increment-element pair\r\n"),
    [REPLY_ERROR_SCORE_NAN] = FIXED("-ERR resulting score is not a number (NaN)\r\n"),
    [REPLY_ERROR_LIMIT_NEEDS_BY] = FIXED("-ERR syntax error, LIMIT is only supported in "
                                         "combination with either BYSCORE or BYLEX\r\n"),
    [REPLY_ERROR_WITHSCORES_BYLEX] =
        FIXED("-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    [REPLY_ERROR_MIN_MAX_NOT_LEX] = FIXED("-ERR min or max not valid string range item\r\n"),
    [REPLY_ERROR_SLOWLOG_COUNT] = FIXED("-ERR count should be greater than or equal to -1\r\n"),
    [REPLY_ERROR_NOSCRIPT] = FIXED("-NOSCRIPT No matching script. Please use EVAL.\r\n"),
    [REPLY_ERROR_NUMKEYS_TOO_MANY] =
        FIXED("-ERR Number of keys can't be greater than number of args\r\n"),
    [REPLY_ERROR_NUMKEYS_NEGATIVE] = FIXED("-ERR Number of keys can't be negative\r\n"),
    [REPLY_ERROR_SCRIPT_WRITE_FLAG_RO] =
        FIXED("-ERR Can not execute a script with write flag using *_ro command.\r\n"),
    [REPLY_ERROR_SCRIPT_FLUSH_MODE] = FIXED("-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n"),
    [REPLY_ERROR_NOTBUSY] = FIXED("-NOTBUSY No scripts in execution right now.\r\n"),
    [REPLY_ERROR_LUA_STACK_LIMIT] = FIXED("-ERR reached lua stack limit\r\n"),
    [REPLY_ERROR_SHEBANG_INVALID] = FIXED("-ERR Invalid script shebang\r\n"),
    [REPLY_ERROR_BUSY_SCRIPT] = FIXED("-BUSY Redis is busy running a script. You can only call "
                                      "SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"),
    [REPLY_ERROR_BUSY_FUNCTION] = FIXED("-BUSY Redis is busy running a script. You can only "
                                        "call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"),
    [REPLY_ERROR_UNKILLABLE] =
        FIXED("-UNKILLABLE Sorry the script already executed write commands against the "
              "dataset. You can either wait the script termination or kill the server in a "
              "hard way using the SHUTDOWN NOSAVE command.\r\n"),
    [REPLY_ERROR_FUNCTION_NOT_FOUND] = FIXED("-ERR Function not found\r\n"),
    [REPLY_ERROR_FUNCTION_NUMKEYS] = FIXED("-ERR Bad number of keys provided\r\n"),
    [REPLY_ERROR_LIBRARY_NOT_FOUND] = FIXED("-ERR Library not found\r\n"),
    [REPLY_ERROR_FUNCTION_CODE_MISSING] = FIXED("-ERR Function code is missing\r\n"),
    [REPLY_ERROR_FUNCTION_LIBRARYNAME_MISSING] =
        FIXED("-ERR library name argument was not given\r\n"),
    [REPLY_ERROR_FUNCTION_FLUSH_MODE] =
        FIXED("-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n"),
    [REPLY_ERROR_FUNCTION_RESTORE_POLICY] =
        FIXED("-ERR Wrong restore policy given, value should be either FLUSH, APPEND or "
              "REPLACE.\r\n"),
    [REPLY_ERROR_FUNCTION_PAYLOAD_BAD] =
        FIXED("-ERR DUMP payload version or checksum are wrong\r\n"),
    [REPLY_ERROR_FUNCTION_PAYLOAD_TYPE_UNREADABLE] = FIXED("-ERR can not read data type\r\n"),
    [REPLY_ERROR_FUNCTION_PAYLOAD_NOT_FUNCTION] =
        FIXED("-ERR given type is not a function\r\n"),
    [REPLY_ERROR_FUNCTION_PAYLOAD_LIBRARY] = FIXED("-ERR Failed loading library payload\r\n"),
    [REPLY_ERROR_LIBRARY_METADATA_MISSING] = FIXED("-ERR Missing library metadata\r\n"),
    [REPLY_ERROR_LIBRARY_METADATA_INVALID] = FIXED("-ERR Invalid library metadata\r\n"),
    [REPLY_ERROR_LIBRARY_NAME_TWICE] =
        FIXED("-ERR Invalid metadata value, name argument was given multiple times\r\n"),
    [REPLY_ERROR_LIBRARY_NAME_MISSING] = FIXED("-ERR Library name was not given\r\n"),
    [REPLY_ERROR_LIBRARY_NAME_INVALID] =
        FIXED("-ERR Library names can only contain letters, numbers, or underscores(_) and "
              "must be at least one character long\r\n"),
    [REPLY_ERROR_FUNCTION_NONE_REGISTERED] = FIXED("-ERR No functions registered\r\n"),

    [REPLY_ERROR_STREAM_ID_INVALID] =
        FIXED("-ERR Invalid stream ID specified as stream command argument\r\n"),
    [REPLY_ERROR_STREAM_TRIM_BOTH] =
        FIXED("-ERR syntax error, MAXLEN and MINID options at the same time are not "
              "compatible\r\n"),
    [REPLY_ERROR_STREAM_MAXLEN_NEGATIVE] =
        FIXED("-ERR The MAXLEN argument must be >= 0.\r\n"),
    [REPLY_ERROR_STREAM_LIMIT_NEGATIVE] =
        FIXED("-ERR The LIMIT argument must be >= 0.\r\n"),
    [REPLY_ERROR_STREAM_LIMIT_NO_STRATEGY] =
        FIXED("-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"),
    [REPLY_ERROR_STREAM_XTRIM_NO_STRATEGY] =
        FIXED("-ERR syntax error, XTRIM must be called with a trimming strategy\r\n"),
    [REPLY_ERROR_STREAM_LIMIT_NO_APPROX] =
        FIXED("-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    [REPLY_ERROR_STREAM_XADD_ZERO_ID] =
        FIXED("-ERR The ID specified in XADD must be greater than 0-0\r\n"),
    [REPLY_ERROR_STREAM_EXHAUSTED] =
        FIXED("-ERR The stream has exhausted the last possible ID, unable to add more items\r\n"),
    [REPLY_ERROR_STREAM_XADD_ID_SMALL] =
        FIXED("-ERR The ID specified in XADD is equal or smaller than the target stream top "
              "item\r\n"),
    [REPLY_ERROR_STREAM_TOO_LARGE] =
        FIXED("-ERR Elements are too large to be stored\r\n"),
    [REPLY_ERROR_STREAM_START_INVALID] =
        FIXED("-ERR invalid start ID for the interval\r\n"),
    [REPLY_ERROR_STREAM_END_INVALID] =
        FIXED("-ERR invalid end ID for the interval\r\n"),
    [REPLY_ERROR_STREAM_UNBALANCED] =
        FIXED("-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
              "specified.\r\n"),
    [REPLY_ERROR_STREAM_GROUP_XREAD] =
        FIXED("-ERR The GROUP option is only supported by XREADGROUP. You called XREAD "
              "instead.\r\n"),
    [REPLY_ERROR_STREAM_NOACK_XREAD] =
        FIXED("-ERR The NOACK option is only supported by XREADGROUP. You called XREAD "
              "instead.\r\n"),
    [REPLY_ERROR_STREAM_GROUP_MISSING] =
        FIXED("-ERR Missing GROUP option for XREADGROUP\r\n"),
    [REPLY_ERROR_STREAM_DOLLAR_GROUP] =
        FIXED("-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
              "history of this consumer by specifying a proper ID, or use the > ID to get new "
              "messages. The $ ID would just return an empty result set.\r\n"),
    [REPLY_ERROR_STREAM_GT_XREAD] =
        FIXED("-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> "
              "<consumer> option.\r\n"),
    [REPLY_ERROR_STREAM_TIMEOUT_INVALID] =
        FIXED("-ERR timeout is not an integer or out of range\r\n"),
    [REPLY_ERROR_STREAM_ENTRIES_ADDED] =
        FIXED("-ERR entries_added must be positive\r\n"),
    [REPLY_ERROR_STREAM_XSETID_MAXDEL] =
        FIXED("-ERR The ID specified in XSETID is smaller than the provided "
              "max_deleted_entry_id\r\n"),
    [REPLY_ERROR_STREAM_XSETID_SMALL] =
        FIXED("-ERR The ID specified in XSETID is smaller than the target stream top item\r\n"),
    [REPLY_ERROR_STREAM_XSETID_LENGTH] =
        FIXED("-ERR The entries_added specified in XSETID is smaller than the target stream "
              "length\r\n"),
    [REPLY_ERROR_STREAM_ENTRIES_READ] =
        FIXED("-ERR value for ENTRIESREAD must be positive or -1\r\n"),
    [REPLY_ERROR_STREAM_XGROUP_NO_KEY] =
        FIXED("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
              "want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    [REPLY_ERROR_STREAM_BUSYGROUP] =
        FIXED("-BUSYGROUP Consumer Group name already exists\r\n"),
    [REPLY_ERROR_STREAM_NOGROUP_BLOCKED] =
        FIXED("-NOGROUP the consumer group this client was blocked on no longer exists\r\n"),
    [REPLY_ERROR_STREAM_XCLAIM_MIN_IDLE] =
        FIXED("-ERR Invalid min-idle-time argument for XCLAIM\r\n"),
    [REPLY_ERROR_STREAM_XCLAIM_IDLE] =
        FIXED("-ERR Invalid IDLE option argument for XCLAIM\r\n"),
    [REPLY_ERROR_STREAM_XCLAIM_TIME] =
        FIXED("-ERR Invalid TIME option argument for XCLAIM\r\n"),
    [REPLY_ERROR_STREAM_XCLAIM_RETRYCOUNT] =
        FIXED("-ERR Invalid RETRYCOUNT option argument for XCLAIM\r\n"),
    [REPLY_ERROR_STREAM_XAUTOCLAIM_MIN_IDLE] =
        FIXED("-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n"),
    [REPLY_ERROR_STREAM_COUNT_POSITIVE] =
        FIXED("-ERR COUNT must be > 0\r\n"),

    [REPLY_ERROR_BIT_OFFSET] = FIXED("-ERR bit offset is not an integer or out of range\r\n"),
    [REPLY_ERROR_BIT_VALUE] = FIXED("-ERR bit is not an integer or out of range\r\n"),
    [REPLY_ERROR_BITPOS_BIT] = FIXED("-ERR The bit argument must be 1 or 0.\r\n"),
    [REPLY_ERROR_BITOP_NOT] =
        FIXED("-ERR BITOP NOT must be called with a single source key.\r\n"),
    [REPLY_ERROR_BITFIELD_TYPE] =
        FIXED("-ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
              "supported but i64 is.\r\n"),
    [REPLY_ERROR_BITFIELD_OVERFLOW] = FIXED("-ERR Invalid OVERFLOW type specified\r\n"),
    [REPLY_ERROR_BITFIELD_RO] = FIXED("-ERR BITFIELD_RO only supports the GET subcommand\r\n"),

    [REPLY_ERROR_KEY_TOO_LONG] = LIMIT("-ERR key is too long (key_size_max is %u bytes)\r\n"),
    [REPLY_ERROR_VALUE_TOO_LONG] =
        LIMIT("-ERR value is too long (val_size_max is %u bytes)\r\n"),
    [REPLY_ERROR_LIST_FULL] = LIMIT("-ERR list is full (list_length_max is %u)\r\n"),
    [REPLY_ERROR_FIELD_TOO_LONG] =
        LIMIT("-ERR field is too long (key_size_max is %u bytes)\r\n"),
    [REPLY_ERROR_HASH_FULL] = LIMIT("-ERR hash is full (list_length_max is %u fields)\r\n"),
    [REPLY_ERROR_MEMBER_TOO_LONG] =
        LIMIT("-ERR member is too long (key_size_max is %u bytes)\r\n"),
    [REPLY_ERROR_SET_FULL] = LIMIT("-ERR set is full (list_length_max is %u members)\r\n"),
    [REPLY_ERROR_ZSET_FULL] =
        LIMIT("-ERR sorted set is full (list_length_max is %u members)\r\n"),
    [REPLY_ERROR_STORE_FULL] = LIMIT("-ERR store is full (key_count is %u keys)\r\n"),
    [REPLY_ERROR_ARGUMENT_TOO_LONG] =
        LIMIT("-ERR argument is too long (the longest key or value is %u bytes)\r\n"),
    [REPLY_ERROR_COMMAND_TOO_LARGE] =
        LIMIT("-ERR command is too large (client-query-buffer-limit is %u bytes)\r\n"),
    [REPLY_ERROR_WATCH_KEYS_FULL] =
        LIMIT("-ERR too many watched keys (watch_keys_max is %u)\r\n"),
    [REPLY_ERROR_SUBSCRIPTIONS_FULL] =
        LIMIT("-ERR too many subscriptions (subscriptions_max is %u)\r\n"),
    [REPLY_ERROR_CHANNELS_FULL] =
        LIMIT("-ERR too many channels (pubsub_channels_max is %u)\r\n"),
    [REPLY_ERROR_BLOCKING_KEYS_FULL] =
        LIMIT("-ERR too many blocked keys (blocking_keys_max is %u)\r\n"),
    [REPLY_ERROR_CONFIG_NO_FILE] = FIXED("-ERR The server is running without a config file\r\n"),

    /* Redis echoes a whole argument; kv cuts it (128 bytes, as Redis cuts a command name)
     * so that the line fits PLAN_REPLY_ERROR_BYTES. */
    [REPLY_ERROR_SUBSCRIBED_CONTEXT] =
        FORMAT("-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
               "/ RESET are allowed in this context\r\n"),
    [REPLY_ERROR_CLIENT_NAME_TOO_LONG] =
        FORMAT("-ERR client name is longer than kv's limit of %u bytes\r\n"),
    [REPLY_ERROR_HELLO_OPTION] = FORMAT("-ERR Syntax error in HELLO option '%.128s'\r\n"),
    [REPLY_ERROR_CLIENT_TYPE_UNKNOWN] = FORMAT("-ERR Unknown client type '%.128s'\r\n"),
    [REPLY_ERROR_NO_SUCH_USER] = FORMAT("-ERR No such user '%.128s'\r\n"),
    [REPLY_ERROR_SETINFO_OPTION_UNKNOWN] = FORMAT("-ERR Unrecognized option '%.128s'\r\n"),
    [REPLY_ERROR_SETINFO_TOO_LONG] =
        FORMAT("-ERR %.128s is longer than kv's limit of 64 bytes\r\n"),
    [REPLY_ERROR_SETINFO_INVALID] =
        FORMAT("-ERR %.128s cannot contain spaces, newlines or special characters.\r\n"),
    [REPLY_ERROR_EXPIRE_OPTION_UNKNOWN] = FORMAT("-ERR Unsupported option %.160s\r\n"),
    [REPLY_ERROR_EXPIRE_TIME_INVALID] = FORMAT("-ERR invalid expire time in '%s' command\r\n"),
    [REPLY_ERROR_TRANSACTION_TOO_LARGE] =
        FORMAT("-ERR transaction is too large: its commands would exceed %u bytes; EXEC will "
               "abort\r\n"),
    [REPLY_ERROR_CONFIG_SET_UNKNOWN] =
        FORMAT("-ERR Unknown option or number of arguments for CONFIG SET - '%.128s'\r\n"),
    [REPLY_ERROR_CONFIG_SET_IMMUTABLE] =
        FORMAT("-ERR CONFIG SET failed (possibly related to argument '%.64s') - can't set "
               "immutable config\r\n"),
    [REPLY_ERROR_CONFIG_SET_UNREADABLE] =
        FORMAT("-ERR CONFIG SET failed (possibly related to argument '%.64s') - argument is "
               "too long or holds a NUL byte\r\n"),
    /* Scripting (script.c): Lua's messages and the shebang's words are cut to fit. */
    [REPLY_ERROR_SCRIPT_COMPILE] = FORMAT("-ERR Error compiling script (new function): %.200s\r\n"),
    [REPLY_ERROR_SCRIPT_RUNNING] = FORMAT("-ERR Error running script %s, %.100s\r\n"),
    [REPLY_ERROR_SHEBANG_ENGINE] = FORMAT("-ERR Unexpected engine in script shebang: %.200s\r\n"),
    [REPLY_ERROR_SHEBANG_FLAG] = FORMAT("-ERR Unexpected flag in script shebang: %.200s\r\n"),
    [REPLY_ERROR_TRACKING_REDIRECT_TWICE] =
        FIXED("-ERR A client can only redirect to a single other client\r\n"),
    [REPLY_ERROR_TRACKING_REDIRECT_MISSING] =
        FIXED("-ERR The client ID you want redirect to does not exist\r\n"),
    [REPLY_ERROR_TRACKING_PREFIX_NEEDS_BCAST] =
        FIXED("-ERR PREFIX option requires BCAST mode to be enabled\r\n"),
    [REPLY_ERROR_TRACKING_BCAST_SWITCH] =
        FIXED("-ERR You can't switch BCAST mode on/off before disabling tracking for this "
              "client, and then re-enabling it with a different mode.\r\n"),
    [REPLY_ERROR_TRACKING_BCAST_OPTIN] =
        FIXED("-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n"),
    [REPLY_ERROR_TRACKING_OPTIN_OPTOUT] =
        FIXED("-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n"),
    [REPLY_ERROR_TRACKING_OPT_SWITCH] =
        FIXED("-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
              "client, and then re-enabling it with a different mode.\r\n"),
    [REPLY_ERROR_TRACKING_CACHING_OFF] =
        FIXED("-ERR CLIENT CACHING can be called only when the client is in tracking mode "
              "with OPTIN or OPTOUT mode enabled\r\n"),
    [REPLY_ERROR_TRACKING_CACHING_YES] =
        FIXED("-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN "
              "mode.\r\n"),
    [REPLY_ERROR_TRACKING_CACHING_NO] =
        FIXED("-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT "
              "mode.\r\n"),
    [REPLY_ERROR_TRACKING_PREFIXES_FULL] =
        FIXED("-ERR too many tracking prefixes (kv keeps 8 per client, of at most 32 "
              "bytes)\r\n"),
    [REPLY_ERROR_TRACKING_PREFIX_OVERLAP] =
        FORMAT("-ERR Prefix '%.64s' overlaps with an existing prefix '%.64s'. Prefixes for a "
               "single client must not overlap.\r\n"),
    [REPLY_ERROR_TRACKING_PREFIX_OVERLAP_NEW] =
        FORMAT("-ERR Prefix '%.64s' overlaps with another provided prefix '%.64s'. Prefixes "
               "for a single client must not overlap.\r\n"),
    [REPLY_ERROR_GETKEYS_COMMAND] = FIXED("-ERR Invalid command specified\r\n"),
    [REPLY_ERROR_GETKEYS_NO_KEYS] = FIXED("-ERR The command has no key arguments\r\n"),
    [REPLY_ERROR_GETKEYS_ARITY] =
        FIXED("-ERR Invalid number of arguments specified for command\r\n"),
    [REPLY_ERROR_GETKEYS_ARGUMENTS] = FIXED("-ERR Invalid arguments specified for command\r\n"),
    [REPLY_ERROR_SORT_SCORE] = FIXED("-ERR One or more scores can't be converted into double\r\n"),
    [REPLY_ERROR_COPY_SAME] = FIXED("-ERR source and destination objects are the same\r\n"),
    [REPLY_ERROR_LCS_NOT_STRING] =
        FIXED("-ERR The specified keys must contain string values\r\n"),
    [REPLY_ERROR_LCS_LEN_IDX] =
        FIXED("-ERR If you want both the length and indexes, please just use IDX.\r\n"),
    [REPLY_ERROR_LCS_TOO_LONG] = FIXED("-ERR String too long for LCS\r\n"),
    [REPLY_ERROR_LCS_PROTO_MAX] = FIXED("-ERR Insufficient memory, transient memory for LCS "
                                        "exceeds proto-max-bulk-len\r\n"),
    [REPLY_ERROR_LCS_NO_MEMORY] =
        FIXED("-ERR Insufficient memory, failed allocating transient memory for LCS\r\n"),
    [REPLY_ERROR_SHEBANG_OPTION] = FORMAT("-ERR Unknown lua shebang option: %.200s\r\n"),
    [REPLY_ERROR_STREAM_NOGROUP_XREADGROUP] =
        FORMAT("-NOGROUP No such key '%.64s' or consumer group '%.64s' in XREADGROUP with GROUP "
              "option\r\n"),
    [REPLY_ERROR_STREAM_NOGROUP] =
        FORMAT("-NOGROUP No such key '%.64s' or consumer group '%.64s'\r\n"),
    [REPLY_ERROR_STREAM_NOGROUP_FOR_KEY] =
        FORMAT("-NOGROUP No such consumer group '%.64s' for key name '%.64s'\r\n"),
    [REPLY_ERROR_STREAM_XCLAIM_OPTION] =
        FORMAT("-ERR Unrecognized XCLAIM option '%.128s'\r\n"),
    /* Cluster mode, as Redis 7.0's cluster.c words them. */
    [REPLY_ERROR_CLUSTER_DISABLED] = FIXED("-ERR This instance has cluster support disabled\r\n"),
    [REPLY_ERROR_CLUSTER_CROSSSLOT] =
        FIXED("-CROSSSLOT Keys in request don't hash to the same slot\r\n"),
    [REPLY_ERROR_CLUSTER_TRYAGAIN] =
        FIXED("-TRYAGAIN Multiple keys request during rehashing of slot\r\n"),
    [REPLY_ERROR_CLUSTER_DOWN] = FIXED("-CLUSTERDOWN The cluster is down\r\n"),
    [REPLY_ERROR_CLUSTER_DOWN_RO] =
        FIXED("-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"),
    [REPLY_ERROR_CLUSTER_DOWN_UNBOUND] = FIXED("-CLUSTERDOWN Hash slot not served\r\n"),
    [REPLY_ERROR_CLUSTER_MOVED] = FORMAT("-MOVED %u %s:%u\r\n"),
    [REPLY_ERROR_CLUSTER_ASK] = FORMAT("-ASK %u %s:%u\r\n"),
    [REPLY_ERROR_MIGRATE_KEYS_NOT_EMPTY] = FIXED("-ERR When using MIGRATE KEYS option, the key "
                                                 "argument must be set to the empty string\r\n"),
    [REPLY_ERROR_MIGRATE_CONNECT] = FIXED("-IOERR error or timeout connecting to the client\r\n"),
    [REPLY_ERROR_MIGRATE_WRITING] = FIXED("-IOERR error or timeout writing to target instance\r\n"),
    [REPLY_ERROR_MIGRATE_READING] = FIXED("-IOERR error or timeout reading to target instance\r\n"),
    [REPLY_ERROR_MIGRATE_TARGET] = FORMAT("-ERR Target instance replied with error: %s\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_INVALID_RANGE] = FIXED("-ERR Invalid or out of range slot\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_INVALID] = FIXED("-ERR Invalid slot\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_OR_COUNT_INVALID] =
        FIXED("-ERR Invalid slot or number of keys\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_BUSY] = FORMAT("-ERR Slot %u is already busy\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_UNASSIGNED] = FORMAT("-ERR Slot %u is already unassigned\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_TWICE] = FORMAT("-ERR Slot %u specified multiple times\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_RANGE_ORDER] =
        FORMAT("-ERR start slot number %u is greater than end slot number %u\r\n"),
    [REPLY_ERROR_CLUSTER_FLUSHSLOTS_NOT_EMPTY] =
        FIXED("-ERR DB must be empty to perform CLUSTER FLUSHSLOTS.\r\n"),
    [REPLY_ERROR_CLUSTER_SETSLOT_REPLICA] = FIXED("-ERR Please use SETSLOT only with masters.\r\n"),
    [REPLY_ERROR_CLUSTER_SETSLOT_SYNTAX] = FIXED("-ERR Invalid CLUSTER SETSLOT action or number "
                                                 "of arguments. Try CLUSTER HELP\r\n"),
    [REPLY_ERROR_CLUSTER_NOT_OWNER] = FORMAT("-ERR I'm not the owner of hash slot %u\r\n"),
    [REPLY_ERROR_CLUSTER_ALREADY_OWNER] =
        FORMAT("-ERR I'm already the owner of hash slot %u\r\n"),
    [REPLY_ERROR_CLUSTER_NODE_UNKNOWN_SETSLOT] = FORMAT("-ERR I don't know about node %.200s\r\n"),
    [REPLY_ERROR_CLUSTER_NODE_UNKNOWN] = FORMAT("-ERR Unknown node %.200s\r\n"),
    [REPLY_ERROR_CLUSTER_TARGET_NOT_MASTER] = FIXED("-ERR Target node is not a master\r\n"),
    [REPLY_ERROR_CLUSTER_SLOT_HAS_KEYS] =
        FORMAT("-ERR Can't assign hashslot %u to a different node while I still hold keys for "
               "this hash slot.\r\n"),
    [REPLY_ERROR_CLUSTER_FORGET_MYSELF] =
        FIXED("-ERR I tried hard but I can't forget myself...\r\n"),
    [REPLY_ERROR_CLUSTER_FORGET_MASTER] = FIXED("-ERR Can't forget my master!\r\n"),
    [REPLY_ERROR_CLUSTER_REPLICATE_MYSELF] = FIXED("-ERR Can't replicate myself\r\n"),
    [REPLY_ERROR_CLUSTER_REPLICATE_REPLICA] =
        FIXED("-ERR I can only replicate a master, not a replica.\r\n"),
    [REPLY_ERROR_CLUSTER_REPLICATE_NOT_EMPTY] =
        FIXED("-ERR To set a master the node must be empty and without assigned slots.\r\n"),
    [REPLY_ERROR_CLUSTER_REPLICATE_UNSUPPORTED] =
        FIXED("-ERR kv does not replicate: CLUSTER REPLICATE is not supported\r\n"),
    [REPLY_ERROR_CLUSTER_NOT_MASTER] = FIXED("-ERR The specified node is not a master\r\n"),
    [REPLY_ERROR_CLUSTER_FAILOVER_MASTER] =
        FIXED("-ERR You should send CLUSTER FAILOVER to a replica\r\n"),
    [REPLY_ERROR_CLUSTER_EPOCH_INVALID] = FORMAT("-ERR Invalid config epoch specified: %s\r\n"),
    [REPLY_ERROR_CLUSTER_EPOCH_OTHERS] =
        FIXED("-ERR The user can assign a config epoch only when the node does not know any "
              "other node.\r\n"),
    [REPLY_ERROR_CLUSTER_EPOCH_NONZERO] = FIXED("-ERR Node config epoch is already non-zero\r\n"),
    [REPLY_ERROR_CLUSTER_RESET_KEYS] =
        FIXED("-ERR CLUSTER RESET can't be called with master nodes containing keys\r\n"),
    [REPLY_ERROR_CLUSTER_SAVECONFIG] =
        FORMAT("-ERR error saving the cluster node config: %s\r\n"),
    [REPLY_ERROR_CLUSTER_MEET_PORT] = FORMAT("-ERR Invalid TCP base port specified: %.200s\r\n"),
    [REPLY_ERROR_CLUSTER_MEET_BUS_PORT] =
        FORMAT("-ERR Invalid TCP bus port specified: %.200s\r\n"),
    [REPLY_ERROR_CLUSTER_MEET_ADDRESS] =
        FORMAT("-ERR Invalid node address specified: %.100s:%.100s\r\n"),
    [REPLY_ERROR_SELECT_CLUSTER] = FIXED("-ERR SELECT is not allowed in cluster mode\r\n"),
    [REPLY_ERROR_MOVE_CLUSTER] = FIXED("-ERR MOVE is not allowed in cluster mode\r\n"),
    [REPLY_ERROR_SWAPDB_CLUSTER] = FIXED("-ERR SWAPDB is not allowed in cluster mode\r\n"),
    [REPLY_ERROR_COPY_CLUSTER] =
        FIXED("-ERR Copying to another database is not allowed in cluster mode\r\n"),
    [REPLY_ERROR_SORT_BY_CLUSTER] = FIXED("-ERR BY option of SORT denied in Cluster mode.\r\n"),
    [REPLY_ERROR_SORT_GET_CLUSTER] = FIXED("-ERR GET option of SORT denied in Cluster mode.\r\n"),
    [REPLY_ERROR_SUBCOMMAND_SYNTAX] =
        FORMAT("-ERR unknown subcommand or wrong number of arguments for '%.128s'. Try %s "
              "HELP.\r\n"),
    [REPLY_ERROR_CONFIG_SET_FAILED] =
        FORMAT("-ERR CONFIG SET failed (possibly related to argument '%.64s') - %s\r\n"),
    /* Functions (function.c): Lua's messages and names are cut to fit. */
    [REPLY_ERROR_FUNCTION_COMPILE] = FORMAT("-ERR Error compiling function: %.200s\r\n"),
    [REPLY_ERROR_FUNCTION_REGISTER] = FORMAT("-ERR Error registering functions: %.200s\r\n"),
    [REPLY_ERROR_LIBRARY_EXISTS] = FORMAT("-ERR Library '%.128s' already exists\r\n"),
    [REPLY_ERROR_LIBRARY_EXISTS_RESTORE] = FORMAT("-ERR Library %.128s already exists\r\n"),
    [REPLY_ERROR_FUNCTION_EXISTS] = FORMAT("-ERR Function %.128s already exists\r\n"),
    [REPLY_ERROR_ENGINE_NOT_FOUND] = FORMAT("-ERR Engine '%.128s' not found\r\n"),
    [REPLY_ERROR_LIBRARY_METADATA_VALUE] =
        FORMAT("-ERR Invalid metadata value given: %.128s\r\n"),
    [REPLY_ERROR_FUNCTION_LOAD_OPTION] = FORMAT("-ERR Unknown option given: %.128s\r\n"),
    [REPLY_ERROR_FUNCTION_LIST_ARGUMENT] = FORMAT("-ERR Unknown argument %.128s\r\n"),
    [REPLY_ERROR_CONFIG_REWRITE_FAILED] = FORMAT("-ERR Rewriting config file: %s\r\n"),
    [REPLY_ERROR_MISCONF_AOF] = FORMAT("-MISCONF Errors writing to the AOF file: %s\r\n"),
    [REPLY_ERROR_MISCONF_RDB] =
        FIXED("-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
              "persist to disk. Commands that may modify the data set are disabled, because "
              "this instance is configured to report errors during writes if RDB snapshotting "
              "fails (stop-writes-on-bgsave-error option). Please check the Redis logs for "
              "details about the RDB error.\r\n"),
    /* Geo commands (cmd_geo.c). A coordinate pair past 200 bytes of "%f" text (a number
     * beyond about 1e95) is cut, where Redis prints it whole. */
    [REPLY_ERROR_GEO_LONLAT_INVALID] = FORMAT("-ERR invalid longitude,latitude pair %.200s\r\n"),
    [REPLY_ERROR_GEO_UNIT] =
        FIXED("-ERR unsupported unit provided. please use M, KM, FT, MI\r\n"),
    [REPLY_ERROR_GEO_RADIUS_NOT_NUMBER] = FIXED("-ERR need numeric radius\r\n"),
    [REPLY_ERROR_GEO_RADIUS_NEGATIVE] = FIXED("-ERR radius cannot be negative\r\n"),
    [REPLY_ERROR_GEO_WIDTH_NOT_NUMBER] = FIXED("-ERR need numeric width\r\n"),
    [REPLY_ERROR_GEO_HEIGHT_NOT_NUMBER] = FIXED("-ERR need numeric height\r\n"),
    [REPLY_ERROR_GEO_BOX_NEGATIVE] = FIXED("-ERR height or width cannot be negative\r\n"),
    [REPLY_ERROR_GEO_MEMBER_MISSING] = FIXED("-ERR could not decode requested zset member\r\n"),
    [REPLY_ERROR_GEO_STORE_WITH] =
        FIXED("-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and "
              "WITHCOORD options\r\n"),
    [REPLY_ERROR_GEO_SEARCHSTORE_WITH] =
        FIXED("-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD "
              "options\r\n"),
    [REPLY_ERROR_GEO_FROM_ONE] =
        FORMAT("-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %.32s\r\n"),
    [REPLY_ERROR_GEO_BY_ONE] =
        FORMAT("-ERR exactly one of BYRADIUS and BYBOX can be specified for %.32s\r\n"),
    [REPLY_ERROR_GEO_ANY_COUNT] = FIXED("-ERR the ANY argument requires COUNT argument\r\n"),
    /* Sorted-set algebra and the multi-key pops (cmd_zalgebra.c, cmd_mpop.c). */
    [REPLY_ERROR_ZSET_KEYS_NEEDED] =
        FORMAT("-ERR at least 1 input key is needed for '%s' command\r\n"),
    [REPLY_ERROR_WEIGHT_NOT_FLOAT] = FIXED("-ERR weight value is not a float\r\n"),
    [REPLY_ERROR_LIMIT_NEGATIVE] = FIXED("-ERR LIMIT can't be negative\r\n"),
    [REPLY_ERROR_NUMKEYS_NOT_POSITIVE] = FIXED("-ERR numkeys should be greater than 0\r\n"),
    [REPLY_ERROR_COUNT_NOT_POSITIVE] = FIXED("-ERR count should be greater than 0\r\n"),
    [REPLY_ERROR_VALUE_RANGE] = FIXED("-ERR value is out of range\r\n"),
    [REPLY_ERROR_HLL_WRONGTYPE] =
        FIXED("-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n"),
    [REPLY_ERROR_HLL_INVALID] = FIXED("-INVALIDOBJ Corrupted HLL object detected\r\n"),
    [REPLY_ERROR_HLL_NO_KEY] = FIXED("-ERR The specified key does not exist\r\n"),
    [REPLY_ERROR_HLL_NOT_SPARSE] = FIXED("-ERR HLL encoding is not sparse\r\n"),
    [REPLY_ERROR_HLL_SELFTEST] = FIXED("-ERR TESTFAILED HyperLogLog self-test\r\n"),
    [REPLY_ERROR_PFDEBUG_SUBCOMMAND] = FORMAT("-ERR Unknown PFDEBUG subcommand '%.200s'\r\n"),
    [REPLY_ERROR_EXECABORT_BUSY_SCRIPT] =
        FIXED("-EXECABORT Transaction discarded because of: BUSY Redis is busy running a "
              "script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"),
    [REPLY_ERROR_EXECABORT_BUSY_FUNCTION] =
        FIXED("-EXECABORT Transaction discarded because of: BUSY Redis is busy running a "
              "script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"),
    [REPLY_ERROR_UNBLOCK_REASON] =
        FIXED("-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"),
    [REPLY_ERROR_UNBLOCKED] = FIXED("-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"),
    [REPLY_ERROR_PAUSE_MODE] = FIXED("-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"),
    [REPLY_ERROR_SWAPDB_FIRST] = FIXED("-ERR invalid first DB index\r\n"),
    [REPLY_ERROR_SWAPDB_SECOND] = FIXED("-ERR invalid second DB index\r\n"),
    [REPLY_ERROR_BUSYKEY] = FIXED("-BUSYKEY Target key name already exists.\r\n"),
    [REPLY_ERROR_RESTORE_TTL] = FIXED("-ERR Invalid TTL value, must be >= 0\r\n"),
    [REPLY_ERROR_RESTORE_IDLETIME] = FIXED("-ERR Invalid IDLETIME value, must be >= 0\r\n"),
    [REPLY_ERROR_RESTORE_FREQ] =
        FIXED("-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"),
    [REPLY_ERROR_BAD_DATA_FORMAT] = FIXED("-ERR Bad data format\r\n"),
    [REPLY_ERROR_DUMP_UNSUPPORTED] = FIXED("-ERR kv does not DUMP streams yet\r\n"),
    [REPLY_ERROR_SAVE_FAILED] = FIXED("-ERR\r\n"),
    [REPLY_ERROR_BGSAVE_IN_PROGRESS] = FIXED("-ERR Background save already in progress\r\n"),
    [REPLY_ERROR_BGSAVE_AOF_IN_PROGRESS] =
        FIXED("-ERR Another child process is active (AOF?): can't BGSAVE right now. Use "
              "BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.\r\n"),
    [REPLY_ERROR_AOF_REWRITE_IN_PROGRESS] =
        FIXED("-ERR Background append only file rewriting already in progress\r\n"),
    [REPLY_ERROR_AOF_REWRITE_FAILED] =
        FIXED("-ERR Can't execute an AOF background rewriting. Please check the server logs "
              "for more information.\r\n"),
    [REPLY_ERROR_SSUBSCRIBE_DENY_BLOCKING] =
        FIXED("-ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client\r\n"),
    [REPLY_ERROR_REPLICAOF_PORT] =
        FIXED("-ERR Invalid master port\r\n"),
    [REPLY_ERROR_REPLICAOF_UNSUPPORTED] =
        FIXED("-ERR REPLICAOF <host> <port> is not supported: kv does not replicate "
              "(REPLICAOF NO ONE is)\r\n"),
    [REPLY_ERROR_FAILOVER_TIMEOUT] =
        FIXED("-ERR FAILOVER timeout must be greater than 0\r\n"),
    [REPLY_ERROR_FAILOVER_NO_REPLICAS] =
        FIXED("-ERR FAILOVER requires connected replicas.\r\n"),
    [REPLY_ERROR_FAILOVER_NONE] =
        FIXED("-ERR No failover in progress.\r\n"),
    [REPLY_ERROR_MODULE_NOT_ALLOWED] =
        FIXED("-ERR MODULE command not allowed. If the enable-module-command option is set "
              "to \"local\", you can run it from a local connection, otherwise you need to set "
              "this option in the configuration file, and then restart the server.\r\n"),
    [REPLY_ERROR_MODULE_LOAD] =
        FIXED("-ERR Error loading the extension. Please check the server logs.\r\n"),
    [REPLY_ERROR_MODULE_UNLOAD] =
        FIXED("-ERR Error unloading module: no such module with that name\r\n"),
    [REPLY_ERROR_DEBUG_NOT_ALLOWED] =
        FIXED("-ERR DEBUG command not allowed. If the enable-debug-command option is set "
              "to \"local\", you can run it from a local connection, otherwise you need to set "
              "this option in the configuration file, and then restart the server.\r\n"),
    [REPLY_ERROR_ACL_NO_FILE] =
        FIXED("-ERR This Redis instance is not configured to use an ACL file. You may want "
              "to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
              "(assuming you have a Redis configuration file set) in order to store users in the "
              "Redis configuration.\r\n"),
    [REPLY_ERROR_LATENCY_NO_SAMPLES] =
        FORMAT("-ERR No samples available for event '%.128s'\r\n"),
    [REPLY_ERROR_ACL_UNKNOWN_CATEGORY] =
        FORMAT("-ERR Unknown category '%.128s'\r\n"),
    [REPLY_ERROR_ACL_GENPASS_BITS] =
        FIXED("-ERR ACL GENPASS argument must be the number of bits for the output "
              "password, a positive number up to 4096\r\n"),
    [REPLY_ERROR_ACL_USER_NOT_FOUND] =
        FORMAT("-ERR User '%.128s' not found\r\n"),
    [REPLY_ERROR_ACL_COMMAND_NOT_FOUND] =
        FORMAT("-ERR Command '%.128s' not found\r\n"),
    [REPLY_ERROR_ACL_DELETE_DEFAULT] =
        FIXED("-ERR The 'default' user cannot be removed\r\n"),
    [REPLY_ERROR_ACL_ONLY_DEFAULT] =
        FIXED("-ERR ACL SETUSER: kv has only the default user\r\n"),
    [REPLY_ERROR_ACL_PASSWORD_UNSUPPORTED] =
        FIXED("-ERR ACL SETUSER: the password is longer than kv's password limit or "
              "holds a NUL byte\r\n"),
    [REPLY_ERROR_ACL_RULE_UNSUPPORTED] =
        FORMAT("-ERR ACL SETUSER: kv's default user keeps one password and every "
               "permission; the rule '%.128s' is not supported\r\n"),
};

/* The limit lines, built by reply_errors_init; a length of 0 means not built yet. */
static char limit_lines[REPLY_ERROR_LIMIT_COUNT][REPLY_ERROR_LIMIT_LINE_BYTES_MAX];
static uint32_t limit_lengths[REPLY_ERROR_LIMIT_COUNT];

/* A formatted line being written: the reply, and how much text it has so far. */
struct error_writer {
    struct reply *reply;
    uint32_t text_bytes; /* bytes after "-" so far, at most REPLY_ERROR_TEXT_BYTES_MAX */
};

/* One byte of text; past REPLY_ERROR_TEXT_BYTES_MAX the rest is cut, as snprintf cut it. */
static void writer_put(struct error_writer *writer, uint8_t byte)
{
    KV_ASSERT(writer->text_bytes <= REPLY_ERROR_TEXT_BYTES_MAX);
    if (writer->text_bytes == REPLY_ERROR_TEXT_BYTES_MAX) {
        return;
    }
    reply_raw(writer->reply, &byte, 1);
    writer->text_bytes++;
}

/* One byte a conversion printed: CR and LF become spaces so the error stays one line. */
static void writer_put_printed(struct error_writer *writer, uint8_t byte)
{
    writer_put(writer, (byte == '\r' || byte == '\n') ? (uint8_t)' ' : byte);
}

/* How many bytes "%.<bytes_max>s" prints of client bytes read as a C string: up to the
 * first NUL byte, the end, or bytes_max. */
static uint32_t echo_length(struct slice text, uint32_t bytes_max)
{
    uint32_t limit = text.length < bytes_max ? text.length : bytes_max;
    const uint8_t *nul = limit > 0 ? memchr(text.bytes, 0, limit) : NULL;
    uint32_t length = nul != NULL ? (uint32_t)(nul - text.bytes) : limit;
    KV_ASSERT(length <= bytes_max);
    return length;
}

static void writer_number(struct error_writer *writer, uint64_t value)
{
    char digits[20]; /* UINT64_MAX has 20 digits */
    uint32_t count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    KV_ASSERT(count <= sizeof(digits));
    /* Bounded by count, at most 20. */
    while (count > 0) {
        writer_put(writer, (uint8_t)digits[--count]);
    }
}

/*
 * The conversion at line[at] ('%'): prints one argument and returns the index after the
 * conversion. Only the subset the table uses exists; anything else is a table bug.
 */
static size_t writer_convert(struct error_writer *writer, const char *line, size_t at,
                             va_list *arguments)
{
    KV_ASSERT(line[at] == '%');
    at++;
    if (line[at] == '.') {
        uint32_t precision = 0;
        /* Bounded by the line: at most 3 digits, as no precision in the table exceeds 999. */
        for (at++; line[at] >= '0' && line[at] <= '9'; at++) {
            precision = precision * 10 + (uint32_t)(line[at] - '0');
            KV_ASSERT(precision < 1000);
        }
        KV_ASSERT(line[at] == 's' && precision > 0);
        const struct slice *text = va_arg(*arguments, const struct slice *);
        KV_ASSERT(text != NULL);
        uint32_t length = echo_length(*text, precision);
        for (uint32_t index = 0; index < length; index++) {
            writer_put_printed(writer, text->bytes[index]);
        }
        return at + 1;
    }
    if (line[at] == 's') {
        const char *text = va_arg(*arguments, const char *);
        KV_ASSERT(text != NULL);
        /* Bounded by the text's NUL, and cut at REPLY_ERROR_TEXT_BYTES_MAX by writer_put. */
        for (size_t index = 0; text[index] != '\0'; index++) {
            writer_put_printed(writer, (uint8_t)text[index]);
        }
        return at + 1;
    }
    if (line[at] == 'u') {
        writer_number(writer, va_arg(*arguments, unsigned int));
        return at + 1;
    }
    KV_ASSERT(line[at] == 'l' && line[at + 1] == 'l' && line[at + 2] == 'u');
    writer_number(writer, va_arg(*arguments, unsigned long long));
    return at + 3;
}

/* Writes a table line, its conversions taking `arguments` in order. */
static void error_write(struct reply *reply, const char *line, va_list *arguments)
{
    size_t line_bytes = strlen(line);
    KV_ASSERT(line_bytes >= 3 && line[0] == '-');
    KV_ASSERT(line[line_bytes - 2] == '\r' && line[line_bytes - 1] == '\n');
    uint64_t total_before = reply->total;
    struct error_writer writer = {.reply = reply, .text_bytes = 0};
    reply_raw(reply, "-", 1);
    /* Bounded by the line's length: each pass consumes at least one byte of it. */
    for (size_t at = 1; at < line_bytes - 2;) {
        if (line[at] == '%') {
            at = writer_convert(&writer, line, at, arguments);
        } else {
            writer_put(&writer, (uint8_t)line[at]);
            at++;
        }
    }
    reply_raw(reply, "\r\n", 2);
    KV_ASSERT(reply->failed || reply->total - total_before == writer.text_bytes + 3);
}

/* error_write with the arguments given here (the limit lines at startup). */
static void error_write_values(struct reply *reply, const char *line, ...)
{
    va_list arguments;
    va_start(arguments, line);
    error_write(reply, line, &arguments);
    va_end(arguments);
}

/* The configured value a limit line names. */
static uint32_t limit_value(enum reply_error error, const struct config *config,
                            uint32_t recv_limit)
{
    switch (error) {
    case REPLY_ERROR_KEY_TOO_LONG:
    case REPLY_ERROR_FIELD_TOO_LONG:
    case REPLY_ERROR_MEMBER_TOO_LONG:
        return config->key_size_max;
    case REPLY_ERROR_VALUE_TOO_LONG:
        return config->val_size_max;
    case REPLY_ERROR_LIST_FULL:
    case REPLY_ERROR_HASH_FULL:
    case REPLY_ERROR_SET_FULL:
    case REPLY_ERROR_ZSET_FULL:
        return config->list_length_max;
    case REPLY_ERROR_STORE_FULL:
        return config->key_count;
    case REPLY_ERROR_ARGUMENT_TOO_LONG:
        return config->key_size_max > config->val_size_max ? config->key_size_max
                                                           : config->val_size_max;
    case REPLY_ERROR_COMMAND_TOO_LARGE:
        return recv_limit;
    case REPLY_ERROR_WATCH_KEYS_FULL:
        return config->watch_keys_max;
    case REPLY_ERROR_SUBSCRIPTIONS_FULL:
        return config->subscriptions_max;
    case REPLY_ERROR_CHANNELS_FULL:
        return config->pubsub_channels_max;
    case REPLY_ERROR_BLOCKING_KEYS_FULL:
        return config->blocking_keys_max;
    default:
        KV_ASSERT(false);
        return 0;
    }
}

void reply_errors_init(const struct config *config, uint32_t recv_limit)
{
    /* Bounded by the id count: every id has a line of its kind, limits in their block. */
    for (uint32_t error = REPLY_ERROR_NONE + 1; error < REPLY_ERROR_COUNT; error++) {
        const struct reply_error_entry *entry = &error_table[error];
        KV_ASSERT(entry->line != NULL && entry->line[0] == '-');
        size_t line_bytes = strlen(entry->line);
        KV_ASSERT(line_bytes >= 3 && memcmp(entry->line + line_bytes - 2, "\r\n", 2) == 0);
        bool limit = error >= REPLY_ERROR_LIMIT_FIRST &&
                     error < REPLY_ERROR_LIMIT_FIRST + REPLY_ERROR_LIMIT_COUNT;
        KV_ASSERT(limit == (entry->kind == REPLY_ERROR_KIND_LIMIT));
        KV_ASSERT((strchr(entry->line, '%') == NULL) == (entry->kind == REPLY_ERROR_KIND_FIXED));
        if (!limit) {
            continue;
        }
        uint32_t slot = error - REPLY_ERROR_LIMIT_FIRST;
        struct reply line = {.bytes = (uint8_t *)limit_lines[slot],
                             .length = 0,
                             .capacity = REPLY_ERROR_LIMIT_LINE_BYTES_MAX};
        error_write_values(&line, entry->line,
                           limit_value((enum reply_error)error, config, recv_limit));
        limit_lengths[slot] = line.length;
    }
}

struct slice reply_error_line(enum reply_error error)
{
    KV_ASSERT(error > REPLY_ERROR_NONE && error < REPLY_ERROR_COUNT);
    const struct reply_error_entry *entry = &error_table[error];
    KV_ASSERT(entry->kind != REPLY_ERROR_KIND_FORMAT);
    if (entry->kind == REPLY_ERROR_KIND_LIMIT) {
        uint32_t slot = (uint32_t)(error - REPLY_ERROR_LIMIT_FIRST);
        KV_ASSERT(limit_lengths[slot] > 0); /* reply_errors_init ran */
        return (struct slice){.bytes = (const uint8_t *)limit_lines[slot],
                              .length = limit_lengths[slot]};
    }
    return (struct slice){.bytes = (const uint8_t *)entry->line,
                          .length = (uint32_t)strlen(entry->line)};
}

/* Who is told of each error line a client's writer sends (INFO errorstats). */
static reply_error_observer_fn *error_observer;
static void *error_observer_context;

void reply_error_observe(reply_error_observer_fn *observer, void *context)
{
    error_observer = observer;
    error_observer_context = context;
}

/* Tells the observer of an error line (its head: the code is in its first 32 bytes) sent
 * through a client's writer (a fixed buffer measures text, and is no reply). */
static void error_observed(const struct reply *reply, const char *line, uint32_t length)
{
    KV_ASSERT(length >= 1 && line[0] == '-');
    if (error_observer != NULL && reply->grow != NULL) {
        error_observer(error_observer_context, (const uint8_t *)line, length);
    }
}

bool reply_error_has_arguments(enum reply_error error)
{
    KV_ASSERT(error > REPLY_ERROR_NONE && error < REPLY_ERROR_COUNT);
    KV_ASSERT(error_table[error].line != NULL);
    return error_table[error].kind == REPLY_ERROR_KIND_FORMAT;
}

void reply_error_format(struct reply *reply, enum reply_error error, ...)
{
    KV_ASSERT(error > REPLY_ERROR_NONE && error < REPLY_ERROR_COUNT);
    KV_ASSERT(error_table[error].kind == REPLY_ERROR_KIND_FORMAT);
    const char *line = error_table[error].line;
    const char *percent = strchr(line, '%');
    /* The code is the line's first word, before any argument. */
    error_observed(reply, line, percent != NULL ? (uint32_t)(percent - line)
                                                : (uint32_t)strlen(line));
    va_list arguments;
    va_start(arguments, error);
    error_write(reply, error_table[error].line, &arguments);
    va_end(arguments);
}

void reply_raw(struct reply *reply, const void *bytes, uint32_t length)
{
    KV_ASSERT(reply->length <= reply->capacity);
    if (length == 0) {
        return; /* An empty slice may carry a NULL pointer, which memcpy must not see. */
    }
    if (reply->total == reply->mark) {
        reply->first = *(const uint8_t *)bytes;
    }
    if (reply->failed) {
        reply->total += length; /* counted, dropped: the client is closed after the command */
        return;
    }
    const uint8_t *from = bytes;
    uint32_t left = length;
    /* Bounded: each pass copies into a buffer with room, or the owner fails it. */
    while (left > 0) {
        uint32_t room = reply->capacity - reply->length;
        if (room == 0) {
            KV_ASSERT(reply->grow != NULL); /* a fixed buffer's room was guaranteed */
            if (!reply->grow(reply, left)) {
                reply->failed = true;
                reply->total += left;
                return;
            }
            KV_ASSERT(reply->length < reply->capacity);
            continue;
        }
        uint32_t chunk = left < room ? left : room;
        memcpy(reply->bytes + reply->length, from, chunk);
        reply->length += chunk;
        reply->total += chunk;
        from += chunk;
        left -= chunk;
    }
}

void reply_truncate(struct reply *reply)
{
    uint64_t drop = reply->total - reply->mark;
    if (reply->failed) {
        reply->total = reply->mark; /* what was kept no longer matters: the client goes */
        return;
    }
    if (reply->grow != NULL) {
        reply->truncate(reply);
        KV_ASSERT(reply->total == reply->mark);
        return;
    }
    KV_ASSERT(drop <= reply->length); /* a fixed buffer holds the whole reply */
    reply->length -= (uint32_t)drop;
    reply->total = reply->mark;
    reply->failed = false;
}

void reply_simple(struct reply *reply, const char *text)
{
    reply_raw(reply, "+", 1);
    reply_raw(reply, text, (uint32_t)strlen(text));
    reply_raw(reply, "\r\n", 2);
}

void reply_ok(struct reply *reply)
{
    reply_raw(reply, "+OK\r\n", 5);
}

void reply_error(struct reply *reply, enum reply_error error)
{
    struct slice line = reply_error_line(error);
    error_observed(reply, (const char *)line.bytes, line.length);
    reply_raw(reply, line.bytes, line.length);
}

/* The longest "<prefix><int64>\r\n": a prefix, a sign, 19 digits and CRLF. */
#define REPLY_NUMBER_LINE_BYTES_MAX 23u

/* The longest score text and its NUL: "%.17g" prints at most 24 characters
 * ("-1.2345678901234567e-308"). */
#define REPLY_SCORE_TEXT_BYTES 32u

/* Writes "<prefix><value>\r\n" so that it ends at text[REPLY_NUMBER_LINE_BYTES_MAX]; returns
 * where it starts. Bounded: at most 20 digits. */
static uint32_t number_line_format(char text[REPLY_NUMBER_LINE_BYTES_MAX], char prefix,
                                   int64_t value)
{
    uint32_t at = REPLY_NUMBER_LINE_BYTES_MAX;
    text[--at] = '\n';
    text[--at] = '\r';
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        text[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) {
        text[--at] = '-';
    }
    text[--at] = prefix;
    KV_ASSERT(at < REPLY_NUMBER_LINE_BYTES_MAX - 3u); /* a prefix, a digit, CRLF at least */
    return at;
}

static void reply_number_line(struct reply *reply, char prefix, int64_t value)
{
    char text[REPLY_NUMBER_LINE_BYTES_MAX];
    uint32_t at = number_line_format(text, prefix, value);
    reply_raw(reply, text + at, REPLY_NUMBER_LINE_BYTES_MAX - at);
}

void reply_integer(struct reply *reply, int64_t value)
{
    reply_number_line(reply, ':', value);
}

/* A bulk string up to this long is composed whole and written at once (a GET of a small
 * value: one write instead of three). */
#define REPLY_BULK_SHORT_BYTES 64u

void reply_bulk(struct reply *reply, struct slice bytes)
{
    if (bytes.length > REPLY_BULK_SHORT_BYTES) {
        reply_number_line(reply, '$', bytes.length);
        reply_raw(reply, bytes.bytes, bytes.length);
        reply_raw(reply, "\r\n", 2);
        return;
    }
    char text[REPLY_NUMBER_LINE_BYTES_MAX + REPLY_BULK_SHORT_BYTES + 2u];
    uint32_t at = number_line_format(text, '$', bytes.length);
    uint32_t header_bytes = REPLY_NUMBER_LINE_BYTES_MAX - at;
    memmove(text, text + at, header_bytes);
    if (bytes.length > 0) {
        memcpy(text + header_bytes, bytes.bytes, bytes.length); /* never from NULL */
    }
    text[header_bytes + bytes.length] = '\r';
    text[header_bytes + bytes.length + 1] = '\n';
    KV_ASSERT(header_bytes + bytes.length + 2u <= sizeof(text));
    reply_raw(reply, text, header_bytes + bytes.length + 2u);
}

/* The text of a score as Redis prints it: "inf", "-inf" or "%.17g"; returns its length. */
static uint32_t score_format(char text[REPLY_SCORE_TEXT_BYTES], double score)
{
    int length = isinf(score) ? snprintf(text, REPLY_SCORE_TEXT_BYTES, "%s",
                                         score > 0 ? "inf" : "-inf")
                              : snprintf(text, REPLY_SCORE_TEXT_BYTES, "%.17g", score);
    KV_ASSERT(length > 0);
    KV_ASSERT((uint32_t)length < REPLY_SCORE_TEXT_BYTES); /* %.17g: at most 24 characters */
    return (uint32_t)length;
}

void reply_score_bulk(struct reply *reply, double score)
{
    char text[REPLY_SCORE_TEXT_BYTES];
    uint32_t length = score_format(text, score);
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text, .length = length});
}

void reply_score(struct reply *reply, double score)
{
    if (!reply->resp3) {
        reply_score_bulk(reply, score);
        return;
    }
    /* ",<text>\r\n" composed whole: one write. */
    char text[REPLY_SCORE_TEXT_BYTES + 3];
    text[0] = ',';
    uint32_t length = score_format(text + 1, score);
    text[length + 1] = '\r';
    text[length + 2] = '\n';
    reply_raw(reply, text, length + 3);
}

void reply_null(struct reply *reply)
{
    reply_raw(reply, reply->resp3 ? "_\r\n" : "$-1\r\n", reply->resp3 ? 3 : 5);
}

void reply_null_array(struct reply *reply)
{
    /* RESP3 has one null for every type. */
    reply_raw(reply, reply->resp3 ? "_\r\n" : "*-1\r\n", reply->resp3 ? 3 : 5);
}

void reply_array(struct reply *reply, uint64_t count)
{
    reply_number_line(reply, '*', count);
}

/*
 * RESP3's types, each falling back to its RESP2 form on a RESP2 writer as Redis 7.0's
 * addReplyMapLen, addReplySetLen, addReplyPushLen, addReplyBool, addReplyBigNum and
 * addReplyVerbatim do. Kept apart from the error table above.
 */

void reply_map(struct reply *reply, uint64_t pair_count)
{
    KV_ASSERT(pair_count <= INT64_MAX / 2); /* the RESP2 count fits the line */
    if (reply->resp3) {
        reply_number_line(reply, '%', (int64_t)pair_count);
    } else {
        reply_number_line(reply, '*', (int64_t)(pair_count * 2));
    }
}

void reply_set(struct reply *reply, uint64_t count)
{
    KV_ASSERT(count <= INT64_MAX);
    reply_number_line(reply, reply->resp3 ? '~' : '*', (int64_t)count);
}

void reply_push(struct reply *reply, uint64_t count)
{
    KV_ASSERT(count <= INT64_MAX);
    reply_number_line(reply, reply->resp3 ? '>' : '*', (int64_t)count);
}

void reply_pair(struct reply *reply)
{
    if (reply->resp3) {
        reply_raw(reply, "*2\r\n", 4);
    }
}

void reply_pairs(struct reply *reply, uint64_t pair_count)
{
    KV_ASSERT(pair_count <= INT64_MAX / 2);
    reply_number_line(reply, '*', (int64_t)(reply->resp3 ? pair_count : pair_count * 2));
}

void reply_bool(struct reply *reply, bool value)
{
    if (reply->resp3) {
        reply_raw(reply, value ? "#t\r\n" : "#f\r\n", 4);
    } else {
        reply_raw(reply, value ? ":1\r\n" : ":0\r\n", 4);
    }
}

void reply_bignum(struct reply *reply, struct slice digits)
{
    KV_ASSERT(digits.length > 0);
    if (!reply->resp3) {
        reply_bulk(reply, digits);
        return;
    }
    reply_raw(reply, "(", 1);
    reply_raw(reply, digits.bytes, digits.length);
    reply_raw(reply, "\r\n", 2);
}

void reply_verbatim_header(struct reply *reply, uint64_t text_bytes, const char *ext)
{
    KV_ASSERT(strlen(ext) == 3); /* RESP3's format names are three characters */
    KV_ASSERT(text_bytes <= INT64_MAX - 4);
    if (!reply->resp3) {
        reply_number_line(reply, '$', (int64_t)text_bytes);
        return;
    }
    reply_number_line(reply, '=', (int64_t)(text_bytes + 4)); /* "txt:" counts */
    reply_raw(reply, ext, 3);
    reply_raw(reply, ":", 1);
}

void reply_verbatim(struct reply *reply, struct slice text, const char *ext)
{
    reply_verbatim_header(reply, text.length, ext);
    reply_raw(reply, text.bytes, text.length);
    reply_raw(reply, "\r\n", 2);
}

void reply_error_arity(struct reply *reply, const char *name)
{
    error_observed(reply, "-ERR ", 5);
    static const char head[] = "-ERR wrong number of arguments for '";
    static const char tail[] = "' command\r\n";
    reply_raw(reply, head, sizeof(head) - 1);
    reply_raw(reply, name, (uint32_t)strlen(name));
    reply_raw(reply, tail, sizeof(tail) - 1);
}

/*
 * Appends what printf("%.*s", bytes_max, text) appends for a Redis argument: at most
 * bytes_max bytes, stopping at a NUL byte (Redis prints its sds as a C string), with CR and
 * LF turned into spaces (Redis maps them so the error stays one line). Returns the count.
 */
static uint32_t reply_echoed(struct reply *reply, struct slice text, uint32_t bytes_max)
{
    uint32_t count = echo_length(text, bytes_max);
    for (uint32_t index = 0; index < count; index++) {
        uint8_t byte = text.bytes[index];
        byte = (byte == '\r' || byte == '\n') ? (uint8_t)' ' : byte;
        reply_raw(reply, &byte, 1);
    }
    return count;
}

void reply_error_unknown_command(struct reply *reply, const struct slice *args,
                                 uint32_t arg_count)
{
    error_observed(reply, "-ERR ", 5);
    static const char head[] = "-ERR unknown command '";
    static const char middle[] = "', with args beginning with: ";
    KV_ASSERT(arg_count >= 1);
    reply_raw(reply, head, sizeof(head) - 1);
    reply_echoed(reply, args[0], 128);
    reply_raw(reply, middle, sizeof(middle) - 1);
    /* Redis adds "'<arg>' " while its list is shorter than 128 bytes, each arg cut to fit. */
    uint32_t listed_bytes = 0;
    for (uint32_t index = 1; index < arg_count && listed_bytes < 128; index++) {
        reply_raw(reply, "'", 1);
        listed_bytes += reply_echoed(reply, args[index], 128 - listed_bytes) + 3;
        reply_raw(reply, "' ", 2);
    }
    reply_raw(reply, "\r\n", 2);
}

void reply_error_unknown_subcommand(struct reply *reply, struct slice subcommand,
                                    const char *command_upper)
{
    error_observed(reply, "-ERR ", 5);
    static const char head[] = "-ERR unknown subcommand '";
    reply_raw(reply, head, sizeof(head) - 1);
    reply_echoed(reply, subcommand, 128);
    reply_raw(reply, "'. Try ", 7);
    reply_raw(reply, command_upper, (uint32_t)strlen(command_upper));
    reply_raw(reply, " HELP.\r\n", 8);
}

void reply_resp_error(struct reply *reply, uint8_t resp_error, uint8_t byte)
{
    static const char *const protocol_texts[] = {
        [RESP_ERROR_INVALID_MULTIBULK_LENGTH] = "invalid multibulk length",
        [RESP_ERROR_INVALID_BULK_LENGTH] = "invalid bulk length",
        [RESP_ERROR_UNBALANCED_QUOTES] = "unbalanced quotes in request",
        [RESP_ERROR_INLINE_TOO_BIG] = "too big inline request",
        [RESP_ERROR_MULTIBULK_COUNT_TOO_BIG] = "too big mbulk count string",
        [RESP_ERROR_BULK_COUNT_TOO_BIG] = "too big bulk count string",
    };
    static const char head[] = "-ERR Protocol error: ";
    if (resp_error == RESP_ERROR_ARGUMENT_TOO_LONG) {
        reply_error(reply, REPLY_ERROR_ARGUMENT_TOO_LONG);
        return;
    }
    if (resp_error == RESP_ERROR_COMMAND_TOO_LARGE) {
        reply_error(reply, REPLY_ERROR_COMMAND_TOO_LARGE);
        return;
    }
    reply_raw(reply, head, sizeof(head) - 1);
    if (resp_error == RESP_ERROR_EXPECTED_DOLLAR) {
        static const char expected[] = "expected '$', got '";
        reply_raw(reply, expected, sizeof(expected) - 1);
        /* Redis formats with %c into a C string: a NUL byte ends the message there. */
        if (byte != 0) {
            uint8_t shown = (byte == '\r' || byte == '\n') ? ' ' : byte;
            reply_raw(reply, &shown, 1);
            reply_raw(reply, "'", 1);
        }
        reply_raw(reply, "\r\n", 2);
        return;
    }
    KV_ASSERT(resp_error < sizeof(protocol_texts) / sizeof(protocol_texts[0]));
    const char *text = protocol_texts[resp_error];
    KV_ASSERT(text != NULL);
    reply_raw(reply, text, (uint32_t)strlen(text));
    reply_raw(reply, "\r\n", 2);
}
