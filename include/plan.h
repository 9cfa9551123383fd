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

/* loop_recv multishot: the ring of provided buffers every client's multishot receive takes
 * from. A buffer holds what one completion brings (Redis reads 16 KiB at a time; half that
 * serves pipelines of small commands and a large value in few completions); it is copied into
 * the client's own buffer and given back at once, or held while that buffer is full (held
 * buffers are the bound on what kv takes from a client it is not serving: the ring). A
 * power of two (the kernel's rule), at most 32768 (16-bit buffer ids). */
#define PLAN_RECV_RING_BUFFERS 512u
#define PLAN_RECV_RING_BUFFER_BYTES 8192u
/* The ring's entries (16 bytes each) are mapped by the kernel: page-aligned, whole pages. */
#define PLAN_RECV_RING_PAGE_BYTES 4096u
static_assert((PLAN_RECV_RING_BUFFERS & (PLAN_RECV_RING_BUFFERS - 1)) == 0,
              "the kernel wants a power-of-two buffer ring");
static_assert(PLAN_RECV_RING_BUFFERS <= 32768u, "buffer ids are 16 bits; the kernel caps 32768");

struct plan {
    uint32_t conn_slot_count;     /* connections_max + PLAN_REFUSAL_SLOTS: fixed-file table */
    uint32_t recv_limit;          /* client-query-buffer-limit, at most 4 GiB - 1: the most
                                     bytes a receive buffer grows to */
    uint32_t arg_bytes_max;       /* longest argument the parser keeps */
    uint64_t bulk_bytes_limit;    /* proto-max-bulk-len: longest bulk the protocol allows */
    uint32_t args_max;            /* arguments the parse scratch holds (an inline request's
                                     most); a larger command borrows from the heap */
    uint32_t inline_bytes;        /* room to unescape the longest inline request */
    uint32_t recv_ring_count;     /* provided receive buffers (0: loop_recv single) */
    uint32_t recv_ring_buffer_bytes; /* bytes in each */
};

/* The receive ring's bytes: its entries (whole pages) and its buffers; 0 without it. */
uint64_t plan_recv_ring_bytes(const struct plan *plan);

/* Computes the plan; returns 0, or -1 with a message naming the option that cannot be
 * planned (a maxmemory too small to size the heap). */
KV_MUST_USE int plan_compute(struct plan *plan, const struct config *config, char *error,
                             size_t error_bytes);

/* Prints the options that size things and the derived sizes (`kv --plan`, before the pools). */
void plan_print(const struct plan *plan, const struct config *config, FILE *out);

#endif
