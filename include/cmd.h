/*
 * Commands: the table (name, arity, reply bound, handler) and dispatch. A handler reads its
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
struct conn;
struct conns;
struct watch;
struct pubsub;
struct latency_histogram;
struct slowlog;
struct cmd;

/* What a handler may touch: everything is owned elsewhere. */
struct cmd_context {
    struct store *store;         /* the data */
    struct config *config;       /* options (CONFIG SET changes the runtime ones) */
    const struct plan *plan;     /* sizes, for reply bounds and INFO */
    const struct region *region; /* for INFO: region size, page size, locked */
    struct stats *stats;         /* counters */
    struct watch *watch;         /* WATCH state of every client */
    struct pubsub *pubsub;       /* channels, patterns and subscriptions */
    struct reply reply;          /* where this command's reply goes */
    struct conn *conn;           /* the client running the command */
    struct conns *conns;         /* every client (CLIENT LIST, CLIENT KILL) */
    uint64_t client_id;          /* the connection running the command */
    bool close_after_reply;      /* set by QUIT */
    bool in_exec;                /* running EXEC's queue: a blocking command does not block */
    bool block_retry;            /* a blocked command runs again: a key of another type makes
                                    it wait on, as Redis leaves such a client blocked */
    bool block_requested;        /* set by a blocking command that found nothing: no reply,
                                    its command stays for a later retry */
    int64_t block_deadline_ms;   /* with block_requested: Unix ms of the timeout; 0: never */
    /* How far reply bounds may trust the store as it is now. Zero for a command about to
     * run; EXEC, summing its queue's bounds before any of it runs, sets them from the
     * writes queued before each command (cmd_bound_after). */
    bool bound_exact;            /* bounds must look at the store even when the worst case
                                    fits the send buffer's room (EXEC summing its queue) */
    bool bound_strings_changed;  /* a string may have changed or appeared since */
    uint32_t bound_list_growth;  /* elements lists may have gained since; UINT32_MAX: any */
};

/* Updates a context's bound fields for a command queued before the next ones (EXEC). */
void cmd_bound_after(struct cmd_context *context, const struct cmd *cmd, uint32_t arg_count);

/* Bytes cmd_init carves: a latency histogram per command and the slow log ring. */
uint64_t cmd_plan_stats_bytes(uint32_t slowlog_max_len);

/* Builds the command index from every family and carves the per-command latency histograms
 * and the slow log; once, at startup, before the first command. */
void cmd_init(struct region *region, uint32_t slowlog_max_len);

/* Commands slower than this many µs go to the slow log; negative: none (Redis's
 * slowlog-log-slower-than). */
void cmd_slowlog_threshold_set(int64_t threshold_us);

struct cmd;

enum cmd_flag {
    CMD_FLAG_WRITE = 1u << 0,     /* may change the store */
    CMD_FLAG_NOAUTH = 1u << 1,    /* runs before AUTH when requirepass is set */
    CMD_FLAG_TXN = 1u << 2,       /* runs at once inside MULTI (MULTI, EXEC, DISCARD, WATCH,
                                     UNWATCH, QUIT, RESET) instead of being queued */
    CMD_FLAG_NO_TXN = 1u << 3,    /* refused inside MULTI (WATCH: "not allowed") */
    /* What a write can do to later replies' bounds (EXEC sums them before its queue runs); a
     * write with none of these may do anything (RENAME): later bounds assume the worst. */
    CMD_FLAG_STRINGS = 1u << 4,   /* changes strings only; lists stay as long */
    CMD_FLAG_GROWS = 1u << 5,     /* adds args - 2 elements to one list (LPUSH) */
    CMD_FLAG_GROWS_ONE = 1u << 6, /* adds one element to one list (LINSERT, LMOVE) */
    CMD_FLAG_PUBSUB = 1u << 8,    /* allowed while subscribed (SUBSCRIBE, PING, QUIT, RESET) */
    CMD_FLAG_SHRINKS = 1u << 7,   /* removes keys or elements, or rewrites list elements
                                     in place (DEL, LPOP, LSET, EXPIRE) */
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

/* Looks up args[0] (any case); NULL when kv has no such command. */
const struct cmd *cmd_find(const struct slice *args, uint32_t arg_count);

/* Bytes the command's reply can take at most, given its arguments (for the unknown command:
 * its error). A range read bounds its reply by the elements its arguments can select, so
 * pipelined small ranges and pops do not each wait for an empty send buffer. */
uint32_t cmd_reply_bytes_max(const struct cmd *cmd, const struct cmd_context *context,
                             const struct slice *args, uint32_t arg_count);

/* The command's flags (enum cmd_flag in cmd_handlers.h); 0 for NULL. */
uint32_t cmd_flags(const struct cmd *cmd);

/* The bound on the reply of an admitted command (at least PLAN_REPLY_ERROR_BYTES); the
 * reply never exceeds it (asserted). EXEC's bound is the sum over its queued commands. */
uint32_t cmd_reply_bound(const struct cmd *cmd, const struct cmd_context *context,
                         const struct slice *args, uint32_t arg_count);

/* Whether a command may run: known, right arity, client authenticated. If not, answers
 * Redis's error (counting the refusal) and returns false. */
bool cmd_admit(struct cmd_context *context, const struct cmd *cmd, const struct slice *args,
               uint32_t arg_count);

/* Runs an admitted command and writes its reply. */
void cmd_run(struct cmd_context *context, const struct cmd *cmd, const struct slice *args,
             uint32_t arg_count);

/* Runs one command (cmd from cmd_find, NULL for an unknown one) and writes its reply. */
void cmd_execute(struct cmd_context *context, const struct cmd *cmd, const struct slice *args,
                 uint32_t arg_count);

#endif
