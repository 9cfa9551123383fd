/*
 * The region's layout: the bytes every module's init will carve, summed into the size of
 * the one region mapped at startup, and what `kv --plan` prints. It sits just below main:
 * each module reports its own bytes (conns_plan_slots_bytes, pool_plan_bytes and friends)
 * from the plan's sizes, so the layout and the carving cannot drift apart.
 */
#ifndef KV_LAYOUT_H
#define KV_LAYOUT_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "plan.h"

enum layout_pool {
    LAYOUT_POOL_CONNECTIONS,  /* connection slots, client state, the ready queue */
    LAYOUT_POOL_HEAP,         /* the budget (maxmemory): keys, values, collections, client
                                 buffers, watched keys, channels, blocked keys */
    LAYOUT_POOL_SCRATCH,      /* per-request scratch: parsed arguments, inline unescaping */
    LAYOUT_POOL_BLOCKING,     /* blocked clients: the per-connection-slot state */
    LAYOUT_POOL_STATS,        /* latency histogram per command, slow log ring */
    LAYOUT_POOL_COUNT,
};

struct layout {
    uint64_t pool_bytes[LAYOUT_POOL_COUNT]; /* bytes carved for each pool, alignment included */
    uint64_t total_bytes;                   /* the region: every pool plus carving slack */
};

void layout_compute(struct layout *layout, const struct config *config, const struct plan *plan);

const char *layout_pool_name(enum layout_pool pool);

/* Prints the configuration, the plan's sizes, one line per pool and the total. */
void layout_print(const struct layout *layout, const struct plan *plan,
                  const struct config *config, FILE *out);

#endif
