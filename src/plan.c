/*
 * The plan: from the five sizing options (and connections_max) to the sizes modules are
 * built with. Pure arithmetic with no side effects, and a leaf: the pools' bytes are the
 * layout's (layout.c), which asks each module, so the plan and the carving cannot drift
 * apart.
 *
 * Receive buffer: the largest legal command is an HSET of list_length_max fields of
 * key_size_max bytes and values of val_size_max bytes onto a key of key_size_max bytes, with
 * every RESP header; it is never smaller than an inline request (64 KiB) plus room to see it
 * is too big. Send buffer: the largest legal reply is an HGETALL of a maximal hash.
 */
#include "plan.h"

#include <inttypes.h>
#include <string.h>

#include "resp.h"

static uint64_t digits(uint64_t value)
{
    uint64_t count = 1;
    while (value >= 10) {
        value /= 10;
        count++;
    }
    return count;
}

/* "$<bytes>\r\n" + bytes + "\r\n" */
static uint64_t bulk_bytes(uint64_t bytes)
{
    return 1 + digits(bytes) + 2 + bytes + 2;
}

/* "*<count>\r\n" */
static uint64_t array_header_bytes(uint64_t count)
{
    return 1 + digits(count) + 2;
}

/* The reply bounds the command table still computes (the output now grows, so they only
 * bound what a command may write): with every cap set, the seed's largest legal reply (an
 * HGETALL of a maximal hash, a ZRANGE WITHSCORES of a maximal sorted set); without, 1 GiB. */
static uint64_t reply_bytes_max(const struct config *config)
{
    bool capped = config->key_size_max != 0 && config->val_size_max != 0 &&
                  config->list_length_max != 0;
    if (!capped) {
        return PLAN_BUFFER_BYTES_LIMIT;
    }
    uint64_t list_reply = array_header_bytes(2ull * config->list_length_max) /* *<n> */
                          + config->list_length_max * (bulk_bytes(config->key_size_max) +
                                                       bulk_bytes(config->val_size_max));
    uint64_t zset_reply = array_header_bytes(2ull * config->list_length_max) +
                          config->list_length_max *
                              (bulk_bytes(config->key_size_max) + bulk_bytes(PLAN_SCORE_BYTES_MAX));
    uint64_t bytes = list_reply > zset_reply ? list_reply : zset_reply;
    uint64_t value_reply = bulk_bytes(config->key_size_max > config->val_size_max
                                          ? config->key_size_max
                                          : config->val_size_max) +
                           PLAN_REPLY_SMALL_BYTES;
    bytes = bytes > value_reply ? bytes : value_reply;
    bytes = bytes > PLAN_REPLY_INFO_BYTES ? bytes : PLAN_REPLY_INFO_BYTES;
    return bytes < PLAN_BUFFER_BYTES_LIMIT ? bytes : PLAN_BUFFER_BYTES_LIMIT;
}

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
    plan->arg_bytes_max = arg_bytes_max(config);
    plan->bulk_bytes_limit = config->proto_max_bulk_len;
    uint64_t reply_max = reply_bytes_max(config);
    plan->send_buffer_bytes = (uint32_t)reply_max;
    plan->recv_limit = config->client_query_buffer_limit < UINT32_MAX
                           ? (uint32_t)config->client_query_buffer_limit
                           : UINT32_MAX;
    uint64_t value_bytes = bulk_bytes(plan->arg_bytes_max) + PLAN_REPLY_ERROR_BYTES;
    plan->reply_value_bytes = (uint32_t)(value_bytes < reply_max ? value_bytes : reply_max);
    uint64_t element_bytes = bulk_bytes(config->val_size_max != 0 ? config->val_size_max
                                                                  : plan->arg_bytes_max);
    plan->reply_element_bytes = (uint32_t)(element_bytes < reply_max ? element_bytes : reply_max);
    plan->list_length_max = config->list_length_max != 0 ? config->list_length_max : UINT32_MAX;
    /* An inline request takes at least 2 bytes per argument: the scratch holds any; a
     * multibulk command with more borrows an array from the heap for its run. */
    plan->args_max = RESP_LINE_SEEN_BYTES / 2 + 1;
    plan->inline_bytes = RESP_LINE_SEEN_BYTES + 16;
    KV_ASSERT(plan->reply_value_bytes <= plan->send_buffer_bytes);
    return 0;
}

void plan_print(const struct plan *plan, const struct config *config, FILE *out)
{
    fprintf(out, "config\n");
    fprintf(out, "  connections_max = %u\n", config->connections_max);
    fprintf(out, "  key_count = %u\n", config->key_count);
    fprintf(out, "  key_size_max = %u\n", config->key_size_max);
    fprintf(out, "  val_size_max = %u\n", config->val_size_max);
    fprintf(out, "  list_length_max = %u\n", config->list_length_max);
    fprintf(out, "derived\n");
    fprintf(out, "  arg_bytes_max = %u (longest argument)\n", plan->arg_bytes_max);
    fprintf(out, "  connection_slots = %u (connections_max + %u refusal slots)\n",
            plan->conn_slot_count, PLAN_REFUSAL_SLOTS);
    fprintf(out, "  args_max = %u\n", plan->args_max);
    fprintf(out, "  watch_keys_max = %u\n", config->watch_keys_max);
}
