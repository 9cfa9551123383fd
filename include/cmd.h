/*
 * Commands: the table (name, arity, key positions, flags, handler) and dispatch. A handler reads its
 * arguments, checks every limit, then changes the store and writes one reply. Arity and
 * unknown commands are answered here exactly as Redis answers them.
 */
#ifndef KV_CMD_H
#define KV_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "plan.h"
#include "reply.h"
#include "slice.h"
#include "stats.h"
#include "store.h"

struct region;
struct conns;
struct clients;
struct client;
struct block;
struct watch;
struct pubsub;
struct resp_scratch;
struct latency_histogram;
struct slowlog;
struct cmd;
struct script;
struct tracking;

/* How a command came to run. */
enum cmd_mode {
    CMD_MODE_DIRECT,  /* sent by the client and run at once */
    CMD_MODE_EXEC,    /* run from a transaction's queue: nothing blocks */
    CMD_MODE_RETRY,   /* a blocked client's command run again: a key of another type keeps
                         it waiting, as Redis leaves such a client blocked */
};

/* What a command asks of whoever ran it. */
struct cmd_outcome {
    bool close_after_reply;    /* QUIT: close once the reply is sent */
    bool shutdown;             /* SHUTDOWN: stop the server as SIGTERM does (no reply: the
                                  client sees its connection close, as with Redis) */
    bool block;                /* a blocking command found nothing: it answered nothing, its
                                  command stays for a retry, and the client waits on
                                  args[block_key_first .. + block_key_count) */
    uint32_t block_key_first;
    uint32_t block_key_count;
    int64_t block_deadline_ms; /* with block: Unix ms of the timeout; 0: never */
    bool silent;               /* it answered nothing, as Redis's MONITOR sent by a monitor */
};

/* What a handler may touch. The shared part is set once by the serving layer; the call part
 * is set for each command. A handler reaches its own client through `client`, never the
 * connection; other clients' connections only through `conns` (CLIENT, PUBLISH). */
struct cmd_context {
    struct store *store;         /* the data */
    struct config *config;       /* options (CONFIG SET changes the runtime ones) */
    const struct plan *plan;     /* sizes, for INFO */
    const struct region *region; /* for INFO: region size, page size, locked */
    struct stats *stats;         /* counters */
    struct watch *watch;         /* WATCH state of every client */
    struct pubsub *pubsub;       /* channels, patterns and subscriptions */
    struct conns *conns;         /* every connection (CLIENT LIST, CLIENT KILL, PUBLISH) */
    struct clients *clients;     /* every client's command state */
    struct block *block;         /* blocked clients */
    struct evict *evict;         /* the budget's room (NULL: no eviction, tests) */
    struct script *script;       /* the Lua state and script cache (NULL: none, tests) */
    struct tracking *tracking;   /* client-side caching (NULL: none, tests) */
    const struct resp_scratch *scratch; /* parse results: EXEC re-reads its queue into it */
    struct client *client;       /* the client running this command */
    struct reply reply;          /* where its reply goes */
    uint8_t mode;                /* enum cmd_mode */
    bool script_call;            /* run by a script's redis.call (MONITOR shows "lua") */
    struct cmd_outcome outcome;  /* what it asks of its caller; zero before it runs */
};

/* The id of the client that replays the AOF (Redis's CLIENT_ID_AOF): no connection has it,
 * since client ids count up from 1. */
#define CMD_CLIENT_ID_AOF UINT64_MAX

/* Whether the running command must be obeyed as Redis's mustObeyClient: it comes from the AOF
 * (a master's link would be the other case; kv has no replication). Such a command was
 * checked when it first ran, so some of a client's limits do not apply to it. */
bool cmd_must_obey(const struct cmd_context *context);

/* Redis's writeCommandsDeniedByDiskError: the error a write gets while the disk cannot be
 * written, REPLY_ERROR_MISCONF_RDB (the last BGSAVE failed with stop-writes-on-bgsave-error
 * and save points set; checked first) or REPLY_ERROR_MISCONF_AOF (the AOF's last write
 * failed: its errno in *aof_errno, for the line's %s), else REPLY_ERROR_COUNT. Commands are
 * checked at admission (and PING); a script's redis.call of a write, as Redis's
 * scriptVerifyWriteCommandAllow. */
enum reply_error cmd_disk_denied(int *aof_errno);

/* Bytes cmd_init carves: a latency histogram per command and the slow log ring. */
uint64_t cmd_plan_stats_bytes(uint32_t slowlog_max_len);

/* Builds the command index from every family and carves the per-command latency histograms
 * and the slow log; once, at startup, before the first command. */
void cmd_init(struct region *region, uint32_t slowlog_max_len);

/* Commands slower than this many µs go to the slow log; negative: none (Redis's
 * slowlog-log-slower-than). */
void cmd_slowlog_threshold_set(int64_t threshold_us);

enum cmd_flag {
    CMD_FLAG_WRITE = 1u << 0,     /* may change the store */
    CMD_FLAG_NOAUTH = 1u << 1,    /* runs before AUTH when requirepass is set */
    CMD_FLAG_TXN = 1u << 2,       /* runs at once inside MULTI (MULTI, EXEC, DISCARD, WATCH,
                                     UNWATCH, QUIT, RESET) instead of being queued */
    CMD_FLAG_NO_TXN = 1u << 3,    /* refused inside MULTI (WATCH: "not allowed") */
    CMD_FLAG_PUBSUB = 1u << 4,    /* allowed while subscribed (SUBSCRIBE, PING, QUIT, RESET) */
};

/* Counters of one command, as INFO commandstats shows them. */
struct cmd_stats {
    uint64_t calls;          /* runs of the handler */
    uint64_t duration_ns;    /* time in the handler, summed */
    uint64_t rejected_calls; /* refused before running: wrong number of arguments */
    uint64_t failed_calls;   /* ran and answered an error */
};

/* The name and counters of table entry `index`; false past the end. */
bool cmd_stats_at(uint32_t index, const char **name, struct cmd_stats *stats);

/* The latency histogram of command `index` (as cmd_stats_at numbers them). */
const struct latency_histogram *cmd_latency_at(uint32_t index);

/* The slow log. */
struct slowlog *cmd_slowlog(void);

/* CONFIG RESETSTAT: command counters and latency histograms. */
void cmd_stats_reset(void);

/* Position of a command that kv does not have. */
#define CMD_NONE UINT32_MAX

/* Looks up args[0] (any case): the command's position in the table, or CMD_NONE. Each
 * command is looked up once: the position names it from then on. */
uint32_t cmd_find(const struct slice *args, uint32_t arg_count);

/* Compares an argument with a lower-case word, ignoring the argument's case. */
bool cmd_arg_is(struct slice arg, const char *word);

/* The command at a position (NULL for CMD_NONE). */
const struct cmd *cmd_of(uint32_t position);

/* The command's flags (enum cmd_flag); 0 for NULL. */
uint32_t cmd_flags(const struct cmd *cmd);

/* Whether a command may run: known, right arity, client authenticated, allowed while
 * subscribed. If not, answers Redis's error (counting the refusal) and returns false. */
/* Whether Redis flags the command DENYOOM: a write that may take memory, refused when the
 * budget is full and nothing can be evicted. */
bool cmd_denyoom(uint32_t position);

/*
 * The budget's check before a command runs, as Redis's processCommand makes it: eviction
 * runs first (by maxmemory-policy), then a command that may take memory (DENYOOM, or an EXEC
 * whose queue holds one; inside MULTI, any queued command) is refused with Redis's OOM error
 * (counted as rejected) when the data are still past their limit. `queueing`: the command is
 * being queued inside MULTI. True when it may go on.
 */
KV_MUST_USE bool cmd_memory_admit(struct cmd_context *context, uint32_t position,
                                  const struct slice *args, uint32_t arg_count, bool queueing);

bool cmd_admit(struct cmd_context *context, uint32_t position, const struct slice *args,
               uint32_t arg_count);

/*
 * Client-side caching's delivery (tracking.h's tracking_send_fn and tracking_client_fn),
 * with `context` the serving layer's shared struct cmd_context: writes an invalidation into
 * a client's output, or its redirect target's (a RESP3 push, or a RESP2 subscriber's
 * __redis__:invalidate message), as Redis's sendTrackingMessage.
 */
void cmd_tracking_send(void *context, uint32_t slot_index, uint64_t id, const struct slice *keys,
                       uint32_t key_count);
struct tracking_client *cmd_tracking_client(void *context, uint32_t slot_index, uint64_t *id);

/* Runs an admitted command and writes its reply (of any size: the reply grows). */
void cmd_run(struct cmd_context *context, uint32_t position, const struct slice *args,
             uint32_t arg_count);

#endif
