/*
 * The plan: pure arithmetic from the configuration to the sizes the modules are built with
 * (connection buffers, reply bounds, argument limits). A leaf: it knows no module. The bytes
 * of every pool, summed into the region's size, are the layout's (layout.h), which asks each
 * module what its init will carve.
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

/* Longest command name kv will ever have; the receive buffer holds one. */
#define PLAN_COMMAND_NAME_BYTES_MAX 32u

/* Largest reply that carries no stored value: errors, integers, status lines, the
 * unknown-command error echoing up to 128 bytes of name and 128 of arguments. */
#define PLAN_REPLY_SMALL_BYTES 1024u

/* Largest status, integer or error reply of a command that was admitted (known, right
 * arity): every error text of kv and Redis that echoes at most 128 bytes fits. A queued
 * transaction's replies are bounded by these, so MULTI can hold hundreds of small writes. */
#define PLAN_REPLY_ERROR_BYTES 256u

/* Entries the slow log keeps (Redis's slowlog-max-len default). */
#define PLAN_SLOWLOG_MAX_LEN 128u

/* Longest score a reply carries: "%.17g" of a double, or "-inf". */
#define PLAN_SCORE_BYTES_MAX 24u

/* Largest INFO reply: every section, with commandstats and latencystats for every command. */
#define PLAN_REPLY_INFO_BYTES 65536u

/* A registered buffer may not exceed 1 GiB (kernel limit), nor may a connection buffer. */
#define PLAN_BUFFER_BYTES_LIMIT (1ull << 30)

struct plan {
    uint32_t conn_slot_count;     /* connections_max + PLAN_REFUSAL_SLOTS: fixed-file table */
    uint32_t recv_limit;          /* client-query-buffer-limit, at most 4 GiB - 1: the most
                                     bytes a receive buffer grows to */
    uint32_t send_buffer_bytes;   /* largest legal reply */
    uint32_t reply_value_bytes;   /* bound on a reply carrying one value (GET, ECHO, LPOP) */
    uint32_t reply_element_bytes; /* one value inside an array reply: "$<n>\r\n...\r\n" */
    uint32_t list_length_max;     /* from the config: most elements in an array reply */
    uint32_t arg_bytes_max;       /* longest argument the parser keeps */
    uint64_t bulk_bytes_limit;    /* proto-max-bulk-len: longest bulk the protocol allows */
    uint32_t args_max;            /* arguments the parse scratch holds (an inline request's
                                     most); a larger command borrows from the heap */
    uint32_t inline_bytes;        /* room to unescape the longest inline request */
};

/* Computes the plan; returns 0, or -1 with a message naming the options whose combination
 * cannot be planned (e.g. a receive buffer past 1 GiB). */
KV_MUST_USE int plan_compute(struct plan *plan, const struct config *config, char *error,
                             size_t error_bytes);

/* Prints the configuration and the derived sizes (`kv --plan` before the pools). */
void plan_print(const struct plan *plan, const struct config *config, FILE *out);

#endif
