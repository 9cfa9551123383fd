/*
 * The region's layout: the bytes every module's init will carve, summed into the size of
 * the one region mapped at startup, and what `kv --plan` prints. It sits just below main:
 * each module reports its own bytes (conns_plan_slots_bytes, pool_plan_bytes and friends)
 * from the plan's sizes, so the layout and the carving cannot drift apart.
 */
#ifndef KV_LAYOUT_H
#define KV_LAYOUT_H

#include <stdbool.h>
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
    LAYOUT_POOL_LUA,          /* the Lua heap (lua_heap_bytes) and redis.call's reply buffer */
    LAYOUT_POOL_RECEIVE,      /* the receive ring's provided buffers (loop_recv multishot) */
    LAYOUT_POOL_CLUSTER_BUS,  /* the cluster bus's links: input and output buffers (0 bytes
                                 unless cluster-enabled yes) */
    LAYOUT_POOL_COUNT,
};

struct layout {
    uint64_t pool_bytes[LAYOUT_POOL_COUNT]; /* bytes carved for each pool, alignment included */
    uint64_t total_bytes;                   /* the region: every pool plus carving slack */
};

void layout_compute(struct layout *layout, const struct config *config, const struct plan *plan);

const char *layout_pool_name(enum layout_pool pool);

/* The heap's worst usable fraction under random churn, as test_heap and the fragmentation
 * bench measure it: the budget that guarantees the caps allows for it. */
#define LAYOUT_USABLE_PERCENT 85u

/* The seed's caps as a budget (kv --plan). */
struct layout_caps {
    bool set;                 /* all four caps are set (else nothing below is) */
    const char *key_type;     /* the type whose maximal value takes the most */
    uint64_t key_bytes;       /* most heap bytes one key takes: object, value, keyspace share */
    uint64_t data_bytes;      /* key_count keys at that */
    uint64_t reserve_bytes;   /* the client reserve of the budget below */
    uint64_t maxmemory_bytes; /* data / LAYOUT_USABLE_PERCENT + the client reserve */
};

/* The maxmemory under which every key can hold a maximal value of any type at once. */
void layout_caps(const struct config *config, struct layout_caps *caps);

/* Prints the configuration, the plan's sizes, the budget's split, the caps' guarantee, one
 * line per pool and the total. */
void layout_print(const struct layout *layout, const struct plan *plan,
                  const struct config *config, FILE *out);

#endif
