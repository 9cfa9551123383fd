/*
 * The plan (plan.h). The heap's size is maxmemory; connections cost a slot each outside it
 * (their buffers are in the heap); the parse scratch holds an inline request's arguments,
 * and a multibulk command with more borrows an array from the heap for its run. An argument
 * is kept up to proto-max-bulk-len, or up to the larger of key_size_max and val_size_max when
 * both caps are set (a longer one is refused as it arrives, never buffered).
 */
#include "plan.h"

#include <inttypes.h>
#include <string.h>

#include "resp.h"

/* The longest argument the parser keeps: the key or value cap when both are set, else
 * proto-max-bulk-len (Redis's limit on a bulk). */
static uint32_t arg_bytes_max(const struct config *config)
{
    if (config->key_size_max != 0 && config->val_size_max != 0) {
        return config->key_size_max > config->val_size_max ? config->key_size_max
                                                           : config->val_size_max;
    }
    uint64_t limit = config->proto_max_bulk_len;
    return limit < UINT32_MAX ? (uint32_t)limit : UINT32_MAX;
}

int plan_compute(struct plan *plan, const struct config *config, char *error, size_t error_bytes)
{
    memset(plan, 0, sizeof(*plan));
    if (config->maxmemory < CONFIG_MAXMEMORY_MIN) {
        snprintf(error, error_bytes,
                 "option maxmemory: %" PRIu64 " bytes cannot size the heap at startup "
                 "(at least %llu; CONFIG SET may lower it later)",
                 config->maxmemory, (unsigned long long)CONFIG_MAXMEMORY_MIN);
        return -1;
    }
    plan->conn_slot_count = config->connections_max + PLAN_REFUSAL_SLOTS;
    plan->recv_limit = config->client_query_buffer_limit < UINT32_MAX
                           ? (uint32_t)config->client_query_buffer_limit
                           : UINT32_MAX;
    plan->arg_bytes_max = arg_bytes_max(config);
    plan->bulk_bytes_limit = config->proto_max_bulk_len;
    /* An inline request takes at least 2 bytes per argument: the scratch holds any. */
    plan->args_max = RESP_LINE_SEEN_BYTES / 2 + 1;
    plan->inline_bytes = RESP_LINE_SEEN_BYTES + 16;
    if (config->loop_recv == CONFIG_LOOP_RECV_MULTISHOT) {
        plan->recv_ring_count = PLAN_RECV_RING_BUFFERS;
        plan->recv_ring_buffer_bytes = PLAN_RECV_RING_BUFFER_BYTES;
    }
    KV_ASSERT(plan->conn_slot_count > config->connections_max);
    KV_ASSERT(plan->recv_limit > RESP_INLINE_BYTES_MAX); /* the option's minimum is 1mb */
    return 0;
}

uint64_t plan_recv_ring_bytes(const struct plan *plan)
{
    KV_ASSERT(plan->recv_ring_count <= PLAN_RECV_RING_BUFFERS);
    if (plan->recv_ring_count == 0) {
        return 0;
    }
    /* One io_uring_buf (16 bytes) per buffer, in whole pages. */
    uint64_t entries = (uint64_t)plan->recv_ring_count * 16u;
    entries = (entries + PLAN_RECV_RING_PAGE_BYTES - 1) / PLAN_RECV_RING_PAGE_BYTES *
              PLAN_RECV_RING_PAGE_BYTES;
    /* The ring's entries, its buffers, two chain words per buffer (held buffers' next and
     * length), and a page for the ring's alignment. */
    uint64_t bytes = entries + (uint64_t)plan->recv_ring_count * plan->recv_ring_buffer_bytes +
                     (uint64_t)plan->recv_ring_count * 2u * sizeof(uint32_t) +
                     PLAN_RECV_RING_PAGE_BYTES + 3u * 64u;
    KV_ASSERT(bytes > entries);
    return bytes;
}

void plan_print(const struct plan *plan, const struct config *config, FILE *out)
{
    fprintf(out, "config\n");
    fprintf(out, "  maxmemory = %" PRIu64 " (%.1f MiB)\n", config->maxmemory,
            (double)config->maxmemory / (1024.0 * 1024.0));
    fprintf(out, "  maxmemory-policy = %s\n", config_policy_name(config->maxmemory_policy));
    fprintf(out, "  maxclients = %u\n", config->connections_max);
    fprintf(out, "  caps (0: none, Redis's limits) key_count = %u, key_size_max = %u, "
                 "val_size_max = %u, list_length_max = %u\n",
            config->key_count, config->key_size_max, config->val_size_max,
            config->list_length_max);
    fprintf(out, "derived\n");
    fprintf(out, "  connection_slots = %u (maxclients + %u refusal slots)\n",
            plan->conn_slot_count, PLAN_REFUSAL_SLOTS);
    fprintf(out, "  arg_bytes_max = %u (longest argument kept)\n", plan->arg_bytes_max);
    fprintf(out, "  recv_limit = %u (client-query-buffer-limit)\n", plan->recv_limit);
    fprintf(out, "  args_max = %u (arguments the scratch holds; more borrow from the heap)\n",
            plan->args_max);
    fprintf(out, "  recv_ring = %u buffers of %u bytes (loop_recv %s: multishot receives take "
                 "from it; 0: single)\n",
            plan->recv_ring_count, plan->recv_ring_buffer_bytes,
            config_loop_recv_name(config->loop_recv));
}
