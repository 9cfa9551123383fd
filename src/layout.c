/*
 * The layout: one term per pool, each the bytes its module's init carves (alignment
 * included), plus slack for the alignment between carves. Pure arithmetic.
 */
#include "layout.h"

#include <inttypes.h>
#include <string.h>

#include "block.h"
#include "cluster_bus.h"
#include "client.h"
#include "cmd.h"
#include "conn.h"
#include "evict.h"
#include "heap.h"
#include "aof.h"
#include "rdb_file.h"
#include "snapshot.h"
#include "script.h"
#include "serve.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"
#include "watch.h"

/* Slack for the alignment of each carve (one cache line per carve, generously). */
#define LAYOUT_CARVE_SLACK_BYTES 4096u

static const char *const pool_names[LAYOUT_POOL_COUNT] = {
    [LAYOUT_POOL_CONNECTIONS] = "connections",
    [LAYOUT_POOL_HEAP] = "heap",
    [LAYOUT_POOL_SCRATCH] = "scratch",
    [LAYOUT_POOL_BLOCKING] = "blocking",
    [LAYOUT_POOL_STATS] = "stats",
    [LAYOUT_POOL_LUA] = "lua",
    [LAYOUT_POOL_RECEIVE] = "receive",
    [LAYOUT_POOL_CLUSTER_BUS] = "cluster_bus",
};

const char *layout_pool_name(enum layout_pool pool)
{
    KV_ASSERT(pool < LAYOUT_POOL_COUNT);
    return pool_names[pool];
}

void layout_compute(struct layout *layout, const struct config *config, const struct plan *plan)
{
    uint64_t *bytes = layout->pool_bytes;
    uint32_t slots = plan->conn_slot_count;
    bytes[LAYOUT_POOL_CONNECTIONS] = conns_plan_slots_bytes(slots) + clients_plan_bytes(slots);
    bytes[LAYOUT_POOL_HEAP] = heap_plan_bytes(config->maxmemory);
    bytes[LAYOUT_POOL_SCRATCH] = serve_plan_scratch_bytes(plan->args_max, plan->inline_bytes);
    bytes[LAYOUT_POOL_BLOCKING] = block_plan_bytes(slots);
    bytes[LAYOUT_POOL_STATS] = cmd_plan_stats_bytes(PLAN_SLOWLOG_MAX_LEN) +
                               rdb_file_plan_bytes() + /* SAVE's and the load's buffers */
                               snapshot_plan_bytes() + /* BGSAVE's write buffers */
                               aof_plan_bytes();       /* the AOF's write and load buffers */
    bytes[LAYOUT_POOL_LUA] = script_plan_bytes(config->lua_heap_bytes);
    bytes[LAYOUT_POOL_RECEIVE] = plan_recv_ring_bytes(plan);
    bytes[LAYOUT_POOL_CLUSTER_BUS] = cluster_bus_plan_bytes(); /* 0 without cluster mode */
    layout->total_bytes = LAYOUT_CARVE_SLACK_BYTES;
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        layout->total_bytes += bytes[pool];
    }
}

/* The keyspace's share of one key beyond its object: the expires entry, and at most 16
 * bytes of buckets in each of the two dicts (dict.h: at most two tables of 4-byte buckets,
 * at least half full at the keys' most). */
static uint64_t key_share_bytes(void)
{
    return heap_rounded_bytes(2u * sizeof(uint32_t)) + 2u * 16u; /* {link, key_ref} */
}

void layout_caps(const struct config *config, struct layout_caps *caps)
{
    memset(caps, 0, sizeof(*caps));
    caps->set = config->key_count != 0 && config->key_size_max != 0 &&
                config->val_size_max != 0 && config->list_length_max != 0;
    if (!caps->set) {
        return;
    }
    uint64_t key = config->key_size_max;
    uint64_t value = config->val_size_max;
    uint64_t count = config->list_length_max;
    /* A collection's key object holds no value bytes; fields and members are capped by
     * key_size_max (kv's member and field errors), elements and values by val_size_max. */
    uint64_t object = store_key_object_bound_bytes(key);
    const struct {
        const char *type;
        uint64_t bytes;
    } types[] = {
        {"string", store_string_bound_bytes(key, value)},
        {"list", object + store_list_bound_bytes(count, value)},
        {"hash", object + store_hash_bound_bytes(count, key, value)},
        {"set", object + store_set_bound_bytes(count, key)},
        {"sorted set", object + store_zset_bound_bytes(count, key)},
    };
    /* Bounded by the five types. */
    for (size_t index = 0; index < sizeof(types) / sizeof(types[0]); index++) {
        if (types[index].bytes > caps->key_bytes) {
            caps->key_bytes = types[index].bytes;
            caps->key_type = types[index].type;
        }
    }
    caps->key_bytes += key_share_bytes();
    caps->data_bytes = caps->key_bytes * config->key_count;
    uint64_t heap_bytes = caps->data_bytes / LAYOUT_USABLE_PERCENT * 100u;
    uint64_t reserve = heap_bytes / (EVICT_RESERVE_DIVISOR - 1u);
    reserve = reserve > EVICT_RESERVE_MIN ? reserve : EVICT_RESERVE_MIN;
    reserve = reserve < EVICT_RESERVE_MAX ? reserve : EVICT_RESERVE_MAX;
    caps->reserve_bytes = reserve;
    caps->maxmemory_bytes = heap_bytes + reserve;
    KV_ASSERT(caps->maxmemory_bytes > caps->data_bytes);
    KV_ASSERT(caps->key_type != NULL);
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* The budget's split: what the data may use, what is kept for client buffers. */
static void budget_print(const struct layout *layout, const struct config *config, FILE *out)
{
    uint64_t heap_bytes = heap_capacity_bytes(config->maxmemory);
    uint64_t reserve = heap_bytes / EVICT_RESERVE_DIVISOR;
    reserve = reserve > EVICT_RESERVE_MIN ? reserve : EVICT_RESERVE_MIN;
    reserve = reserve < EVICT_RESERVE_MAX ? reserve : EVICT_RESERVE_MAX;
    fprintf(out, "budget (the heap, maxmemory: every key, value, collection and client buffer)\n");
    fprintf(out, "  heap = %" PRIu64 " bytes (%.1f MiB) in pages, its page table and bitmaps "
                 "%" PRIu64 " bytes\n",
            heap_bytes, mib(heap_bytes), layout->pool_bytes[LAYOUT_POOL_HEAP] - heap_bytes);
    fprintf(out, "  data limit = %" PRIu64 " bytes (%.1f MiB): keys and values up to it, then "
                 "maxmemory-policy (%s)\n",
            heap_bytes - reserve, mib(heap_bytes - reserve),
            config_policy_name(config->maxmemory_policy));
    fprintf(out, "  client reserve = %" PRIu64 " bytes (%.1f MiB): receive buffers and replies "
                 "when the data are at their limit (1/%u of the heap, %u KiB to %u MiB)\n",
            reserve, mib(reserve), EVICT_RESERVE_DIVISOR, EVICT_RESERVE_MIN / 1024u,
            EVICT_RESERVE_MAX / (1024u * 1024u));
}

/* The seed's promise as arithmetic: with all four caps set, the maxmemory under which every
 * key can hold a maximal value of any type at once. */
static void caps_print(const struct config *config, FILE *out)
{
    struct layout_caps caps;
    layout_caps(config, &caps);
    fprintf(out, "caps guarantee\n");
    if (!caps.set) {
        fprintf(out, "  none: with key_count, key_size_max, val_size_max and list_length_max "
                     "all set, kv --plan prints the maxmemory that guarantees them\n");
        return;
    }
    fprintf(out, "  one key at most = %" PRIu64 " bytes (a %s at its caps, the keyspace's "
                 "share included)\n",
            caps.key_bytes, caps.key_type);
    fprintf(out, "  key_count keys = %" PRIu64 " bytes (%.1f MiB)\n", caps.data_bytes,
            mib(caps.data_bytes));
    fprintf(out, "  maxmemory needed = %" PRIu64 " bytes (%.1f MiB): the keys / %u%% usable "
                 "(the heap's tested worst under churn) + a client reserve of %" PRIu64 "\n",
            caps.maxmemory_bytes, mib(caps.maxmemory_bytes), LAYOUT_USABLE_PERCENT,
            caps.reserve_bytes);
    if (config->maxmemory >= caps.maxmemory_bytes) {
        fprintf(out, "  maxmemory %" PRIu64 " holds the caps\n", config->maxmemory);
    } else {
        fprintf(out, "  maxmemory %" PRIu64 " is short by %" PRIu64 " bytes: a key may be "
                     "refused (OOM) before it reaches its caps\n",
                config->maxmemory, caps.maxmemory_bytes - config->maxmemory);
    }
}

void layout_print(const struct layout *layout, const struct plan *plan,
                  const struct config *config, FILE *out)
{
    plan_print(plan, config, out);
    budget_print(layout, config, out);
    caps_print(config, out);
    fprintf(out, "pools (bytes)\n");
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        fprintf(out, "  %-13s %15" PRIu64 "\n", pool_names[pool], layout->pool_bytes[pool]);
    }
    fprintf(out, "total %21" PRIu64 " bytes (%.1f MiB)\n", layout->total_bytes,
            mib(layout->total_bytes));
}
