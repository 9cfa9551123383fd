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

/* What a handler may touch: everything is owned elsewhere. */
struct cmd_context {
    struct store *store;         /* the data */
    struct config *config;       /* options (CONFIG SET changes the runtime ones) */
    const struct plan *plan;     /* sizes, for reply bounds and INFO */
    const struct region *region; /* for INFO: region size, page size, locked */
    struct stats *stats;         /* counters */
    struct reply reply;          /* where this command's reply goes */
    struct conn *conn;           /* the client running the command */
    struct conns *conns;         /* every client (CLIENT LIST, CLIENT KILL) */
    uint64_t client_id;          /* the connection running the command */
    bool close_after_reply;      /* set by QUIT */
};

/* Builds the command index from every family; once, at startup, before the first command. */
void cmd_init(void);

struct cmd;

/* Counters of one command, as INFO commandstats shows them. */
struct cmd_stats {
    uint64_t calls;          /* runs of the handler */
    uint64_t duration_ns;    /* time in the handler, summed */
    uint64_t rejected_calls; /* refused before running: wrong number of arguments */
    uint64_t failed_calls;   /* ran and answered an error */
};

/* The name and counters of table entry `index`; false past the end. */
bool cmd_stats_at(uint32_t index, const char **name, struct cmd_stats *stats);

/* CONFIG RESETSTAT. */
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

/* Runs one command (cmd from cmd_find, NULL for an unknown one) and writes its reply. */
void cmd_execute(struct cmd_context *context, const struct cmd *cmd, const struct slice *args,
                 uint32_t arg_count);

#endif
