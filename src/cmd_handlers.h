/*
 * What command families share: the shape of a command table entry and each family's table.
 * A family (cmd_string.c, cmd_keys.c, cmd_expire.c, cmd_list.c, cmd_hash.c, cmd_set.c,
 * cmd_zset.c, cmd_block.c, cmd_multi.c, cmd_pubsub.c, cmd_client.c, cmd_server.c,
 * cmd_latency.c, cmd_object.c, cmd_stream.c) defines its handlers as static functions and exports one
 * `struct cmd_family`; cmd.c indexes every family at startup and is the only caller of
 * handlers. Each handler is called with the arity already checked; its reply may be of any
 * size (the writer grows into the connection's output, cmd.h).
 */
#ifndef KV_CMD_HANDLERS_H
#define KV_CMD_HANDLERS_H

#include "cmd.h"

#define CMD_HANDLER(name) \
    static void name(struct cmd_context *context, const struct slice *args, uint32_t arg_count)

typedef void cmd_handler_fn(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count);

struct cmd {
    const char *name;         /* lower case, as Redis names it in errors */
    int8_t arity;             /* n: exactly n args with the name; -n: at least n */
    int8_t first_key;         /* COMMAND INFO key positions (0: no keys) */
    int8_t last_key;          /* -1: the last argument */
    int8_t key_step;
    uint32_t flags;           /* enum cmd_flag */
    cmd_handler_fn *handler;
};

struct cmd_family {
    const char *group;        /* Redis's group of the commands (COMMAND DOCS) */
    const struct cmd *cmds;
    uint32_t count;
};

#define CMD_FAMILY(name_, group_, table_) \
    const struct cmd_family name_ = {group_, table_, sizeof(table_) / sizeof(table_[0])}

/* MIGRATE's synchronous I/O to a target (cmd_dump.c), provided by the loop (loop.h's
 * loop_migrate_*; main wires it): negative errnos, -ETIMEDOUT when a call's time ran out. */
struct cmd_migrate_io {
    void *owner;
    int (*connect)(void *owner, const char *host, uint32_t port, uint32_t timeout_ms);
    int (*send)(void *owner, int fd, const uint8_t *bytes, uint32_t length, uint32_t timeout_ms);
    int (*recv)(void *owner, int fd, uint8_t *bytes, uint32_t capacity, uint32_t timeout_ms);
    void (*close)(void *owner, int fd);
};
void cmd_migrate_io_set(const struct cmd_migrate_io *io);

extern const struct cmd_family cmd_family_string;
extern const struct cmd_family cmd_family_keys;
extern const struct cmd_family cmd_family_expire;
extern const struct cmd_family cmd_family_list;
extern const struct cmd_family cmd_family_server;
extern const struct cmd_family cmd_family_client;
extern const struct cmd_family cmd_family_multi;
extern const struct cmd_family cmd_family_latency;
extern const struct cmd_family cmd_family_hash;
extern const struct cmd_family cmd_family_set;
extern const struct cmd_family cmd_family_zset;
extern const struct cmd_family cmd_family_block;
extern const struct cmd_family cmd_family_pubsub;
extern const struct cmd_family cmd_family_object;
extern const struct cmd_family cmd_family_memory;
extern const struct cmd_family cmd_family_script;
extern const struct cmd_family cmd_family_stream;
extern const struct cmd_family cmd_family_bit;
extern const struct cmd_family cmd_family_command;
extern const struct cmd_family cmd_family_geo;
extern const struct cmd_family cmd_family_sort;
extern const struct cmd_family cmd_family_lcs;
extern const struct cmd_family cmd_family_copy;
extern const struct cmd_family cmd_family_dump;
extern const struct cmd_family cmd_family_info;
extern const struct cmd_family cmd_family_zalgebra;
extern const struct cmd_family cmd_family_mpop;
extern const struct cmd_family cmd_family_zmpop;
extern const struct cmd_family cmd_family_sintercard;
extern const struct cmd_family cmd_family_hll;
extern const struct cmd_family cmd_family_repl;
extern const struct cmd_family cmd_family_module;
extern const struct cmd_family cmd_family_acl;
extern const struct cmd_family cmd_family_monitor;
extern const struct cmd_family cmd_family_aof;
extern const struct cmd_family cmd_family_cluster;

/* Finds a key of `type` (not STORE_TYPE_ANY) in one probe (store_find_typed), counting the
 * keyspace hit or miss as Redis's lookupKeyRead; answers WRONGTYPE itself for a key of
 * another type. *found is the find's record, for a write that follows (SET ... GET). */
enum store_status cmd_read(struct cmd_context *context, struct slice key, uint8_t type,
                           struct store_found *found);

/* Finds a key of any type as Redis's lookupKeyRead: counts the keyspace hit or miss and
 * announces a miss ("keymiss"); whether it exists. */
bool cmd_read_any(struct cmd_context *context, struct slice key, struct store_found *found);

/* A blocking command's timeout argument (seconds, a float), as Redis 7.0 reads it: a
 * deadline in Unix ms, 0 for none (cmd_block.c). False after answering the error. */
bool cmd_block_timeout_parse(struct cmd_context *context, struct slice arg, int64_t *deadline_ms);

/* A SCAN/HSCAN cursor as Redis reads it (strtoul rules); false: "ERR invalid cursor". */
bool cmd_scan_cursor(struct slice text, uint64_t *cursor);

/* SSCAN and ZSCAN key cursor [MATCH pattern] [COUNT count] up to their elements, in Redis's
 * order: the cursor, the key (of `type`; a missing one answers an empty scan), then the
 * options. Returns true when the caller answers (cmd_scan_head, then the elements), with
 * *pattern NULL when there is none and *count Redis's COUNT (10 unless given). */
bool cmd_collection_scan(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint8_t type, uint32_t *key_ref,
                         const struct slice **pattern, uint64_t *cursor, uint64_t *count);

/* A SCAN-family reply's head: an array of two, the next cursor's text first. */
void cmd_scan_head(struct cmd_context *context, uint64_t next_cursor);

/* Scans a dict-encoded collection as Redis's scanGenericCommand does: step(cursor) calls,
 * each visiting one bucket's elements (every element counted in *met, matching or not), until
 * the cursor returns to 0, `per_call` * count elements were met or 10 * per_call * count + 1
 * calls were made; then the head with the cursor reached, and the same calls again answer the
 * matches (the collection has not changed). `emit` says whether the visits answer. */
struct cmd_scan_walk {
    uint64_t (*step)(struct cmd_scan_walk *walk, uint64_t cursor);
    uint64_t met;       /* elements visited in the counting pass, matching or not */
    uint64_t matched;   /* elements of the reply (a pair counts twice) */
    bool emit;          /* false: count; true: answer */
};
void cmd_scan_table(struct cmd_context *context, struct cmd_scan_walk *walk, uint64_t cursor,
                    uint64_t count, uint64_t per_call);

/* Commands kv has (COMMAND COUNT), and entry `index` of all of them (false past the end). */
uint32_t cmd_count(void);
bool cmd_at(uint32_t index, const struct cmd **cmd);

/* Redis 7.0's ACL categories (NULL past the end), and row `index` of its command table,
 * subcommands included ("client|list"): its name and categories, 1 << category index
 * (false past the end). For ACL CAT (cmd_acl.c). */
const char *cmd_acl_category_at(uint32_t index);
bool cmd_redis_row_at(uint32_t index, const char **name, uint32_t *categories);

/* Redis 7.0's flags of the command args[0] names (of its subcommand args[1], where it has
 * them and args[1] is one), from Redis's command table; 0 for a name Redis does not have.
 * A binary search and a short scan: for MONITOR's feed and a monitor's own commands. */
enum cmd_redis_flag {
    CMD_REDIS_WRITE = 1u << 0,
    CMD_REDIS_READONLY = 1u << 1,
    CMD_REDIS_ADMIN = 1u << 2,        /* never shown to monitors */
    CMD_REDIS_SKIP_MONITOR = 1u << 3, /* EVAL, FCALL: shown before they run, by cmd_run */
    CMD_REDIS_MAY_REPLICATE = 1u << 4,
};
uint32_t cmd_redis_flags(const struct slice *args, uint32_t arg_count);

/* The keys a command names, as COMMAND GETKEYS finds them (Redis's key specs or its finder),
 * each given to `visit` (a forkless BGSAVE writes them before the command changes them). */
void cmd_keys_each(const struct slice *args, uint32_t arg_count,
                   void (*visit)(void *context, struct slice key), void *context);

/* MONITOR's feed (cmd_monitor.c): the command as the client sent it, to every monitor, as
 * Redis's replicationFeedMonitors writes it ("+<s>.<us> [<db> <addr>|lua] "<arg>" ..."),
 * AUTH's and HELLO's passwords redacted. Callers: cmd_run, after the command (before it for
 * EVAL and FCALL, so their scripts' commands follow them). */
void cmd_monitor_feed(struct cmd_context *context, const struct slice *args, uint32_t arg_count);

/* The group of entry `index` ("string", "generic", "list", ...). */
const char *cmd_group_at(uint32_t index);

/* Whether args[1] is the subcommand `name` (case-insensitive); when it is but the count is
 * not its arity (Redis's arity, the command and subcommand included), answers Redis's
 * arity error for `full_name` ("client|id") and returns false. */
bool cmd_subcommand_is(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       const char *name, int arity, const char *full_name);

/* CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (cmd_tracking.c): whether args[1]
 * was one of them (then it answered). */
bool cmd_client_tracking_subcommand(struct cmd_context *context, const struct slice *args,
                                    uint32_t arg_count);

/* A HELP reply: the lines as an array of status replies, as Redis's addReplyHelp. */
void cmd_reply_help(struct reply *reply, const char *const *lines, uint32_t count);

/* The store status of a failed write, as its Redis or kv error. */
enum reply_error cmd_store_error(enum store_status status);

#endif
