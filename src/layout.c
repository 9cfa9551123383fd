/*
 * The layout: one term per pool, each the bytes its module's init carves (alignment
 * included), plus slack for the alignment between carves. Pure arithmetic.
 */
#include "layout.h"

#include <inttypes.h>

#include "block.h"
#include "client.h"
#include "cmd.h"
#include "conn.h"
#include "pool.h"
#include "serve.h"
#include "heap.h"

/* Slack for the alignment of each carve (one cache line per carve, generously). */
#define LAYOUT_CARVE_SLACK_BYTES 4096u

static const char *const pool_names[LAYOUT_POOL_COUNT] = {
    [LAYOUT_POOL_CONNECTIONS] = "connections",
    [LAYOUT_POOL_HEAP] = "heap",
    [LAYOUT_POOL_SCRATCH] = "scratch",
    [LAYOUT_POOL_BLOCKING] = "blocking",
    [LAYOUT_POOL_STATS] = "stats",
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
    bytes[LAYOUT_POOL_STATS] = cmd_plan_stats_bytes(PLAN_SLOWLOG_MAX_LEN);
    layout->total_bytes = LAYOUT_CARVE_SLACK_BYTES;
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        layout->total_bytes += bytes[pool];
    }
}

void layout_print(const struct layout *layout, const struct plan *plan,
                  const struct config *config, FILE *out)
{
    plan_print(plan, config, out);
    fprintf(out, "  blocking_keys_max = %u\n", config->blocking_keys_max);
    fprintf(out, "pools (bytes)\n");
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        fprintf(out, "  %-13s %15" PRIu64 "\n", pool_names[pool], layout->pool_bytes[pool]);
    }
    fprintf(out, "total %21" PRIu64 " bytes (%.1f MiB)\n", layout->total_bytes,
            (double)layout->total_bytes / (1024.0 * 1024.0));
}
