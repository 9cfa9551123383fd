/*
 * The plan: pure arithmetic from the configuration to the sizes the modules are built with
 * (connection slots, the receive limit, argument limits, the parse scratch). A leaf: it knows
 * no module. The bytes of every pool, summed into the region's size, are the layout's
 * (layout.h), which asks each module what its init will carve; the heap (maxmemory) is one
 * of those pools, and keys, values and client buffers share it.
 */
#ifndef KV_PLAN_H
#define KV_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "kv_assert.h"

/* Accepted sockets beyond connections_max get a slot just long enough to be told
 * "max number of clients reached" and closed. */
#define PLAN_REFUSAL_SLOTS 16u

/* Longest command name kv will ever have. */
#define PLAN_COMMAND_NAME_BYTES_MAX 32u

/* Largest status, integer or error reply of kv's own texts: every error of kv and Redis
 * that echoes an argument cuts it so that the line stays within this. */
#define PLAN_REPLY_ERROR_BYTES 256u

/* Entries the slow log keeps (Redis's slowlog-max-len default). */
#define PLAN_SLOWLOG_MAX_LEN 128u

/* Largest INFO reply: every section, with commandstats and latencystats for every command
 * (built on the stack, then sent as one bulk). */
#define PLAN_REPLY_INFO_BYTES 65536u

struct plan {
    uint32_t conn_slot_count;     /* connections_max + PLAN_REFUSAL_SLOTS: fixed-file table */
    uint32_t recv_limit;          /* client-query-buffer-limit, at most 4 GiB - 1: the most
                                     bytes a receive buffer grows to */
    uint32_t arg_bytes_max;       /* longest argument the parser keeps */
    uint64_t bulk_bytes_limit;    /* proto-max-bulk-len: longest bulk the protocol allows */
    uint32_t args_max;            /* arguments the parse scratch holds (an inline request's
                                     most); a larger command borrows from the heap */
    uint32_t inline_bytes;        /* room to unescape the longest inline request */
};

/* Computes the plan; returns 0, or -1 with a message naming the option that cannot be
 * planned (a maxmemory too small to size the heap). */
KV_MUST_USE int plan_compute(struct plan *plan, const struct config *config, char *error,
                             size_t error_bytes);

/* Prints the options that size things and the derived sizes (`kv --plan`, before the pools). */
void plan_print(const struct plan *plan, const struct config *config, FILE *out);

#endif
