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

static uint64_t recv_buffer_bytes(const struct config *config)
{
    /* HSET of a maximal hash: list_length_max fields and values (RPUSH of a maximal list is
     * the same without the fields). */
    uint64_t command = array_header_bytes(2ull + 2ull * config->list_length_max) /* *<n> */
                       + bulk_bytes(PLAN_COMMAND_NAME_BYTES_MAX)                 /* HSET */
                       + bulk_bytes(config->key_size_max)                        /* key */
                       + config->list_length_max * (bulk_bytes(config->key_size_max) +
                                                    bulk_bytes(config->val_size_max)); /* pairs */
    /* An inline request may be RESP_INLINE_BYTES_MAX long; one more byte (and a little room
     * for the next command) lets the parser see that it is too long. */
    uint64_t inline_request = RESP_INLINE_BYTES_MAX + 512;
    uint64_t bytes = command > inline_request ? command : inline_request;
    return (bytes + 7) & ~7ull;
}

static uint64_t send_buffer_bytes(const struct config *config)
{
    /* HGETALL of a maximal hash (LRANGE of a maximal list is the same without the fields). */
    uint64_t list_reply = array_header_bytes(2ull * config->list_length_max) /* *<n> */
                          + config->list_length_max * (bulk_bytes(config->key_size_max) +
                                                       bulk_bytes(config->val_size_max));
    /* One argument echoed back (ECHO, a key from RANDOMKEY) may be key-sized. */
    uint32_t arg_bytes_max = config->key_size_max > config->val_size_max ? config->key_size_max
                                                                         : config->val_size_max;
    uint64_t value_reply = bulk_bytes(arg_bytes_max) + PLAN_REPLY_SMALL_BYTES;
    /* ZRANGE ... WITHSCORES of a maximal sorted set: members and scores ("%.17g"). */
    uint64_t zset_reply = array_header_bytes(2ull * config->list_length_max) +
                          config->list_length_max *
                              (bulk_bytes(config->key_size_max) + bulk_bytes(PLAN_SCORE_BYTES_MAX));
    uint64_t bytes = list_reply > zset_reply ? list_reply : zset_reply;
    if (bytes < value_reply) {
        bytes = value_reply; /* GET, ECHO: one value and a margin */
    }
    if (bytes < PLAN_REPLY_INFO_BYTES) {
        bytes = PLAN_REPLY_INFO_BYTES; /* INFO, CONFIG GET * */
    }
    return (bytes + 7) & ~7ull;
}

static int plan_check(const struct config *config, uint64_t recv_bytes, uint64_t send_bytes,
                      char *error, size_t error_bytes)
{
    if ((uint64_t)config->key_count * config->list_length_max >= UINT32_MAX) {
        snprintf(error, error_bytes,
                 "options key_count x list_length_max (%" PRIu64 ") must stay below 2^32 values",
                 (uint64_t)config->key_count * config->list_length_max);
        return -1;
    }
    if (recv_bytes > PLAN_BUFFER_BYTES_LIMIT || send_bytes > PLAN_BUFFER_BYTES_LIMIT) {
        snprintf(error, error_bytes,
                 "options list_length_max x val_size_max need a %" PRIu64 "-byte connection "
                 "buffer; the limit is 1 GiB",
                 recv_bytes > send_bytes ? recv_bytes : send_bytes);
        return -1;
    }
    return 0;
}

int plan_compute(struct plan *plan, const struct config *config, char *error, size_t error_bytes)
{
    memset(plan, 0, sizeof(*plan));
    uint64_t recv_bytes = recv_buffer_bytes(config);
    uint64_t send_bytes = send_buffer_bytes(config);
    if (plan_check(config, recv_bytes, send_bytes, error, error_bytes) != 0) {
        return -1;
    }
    plan->conn_slot_count = config->connections_max + PLAN_REFUSAL_SLOTS;
    plan->recv_buffer_bytes = (uint32_t)recv_bytes;
    plan->send_buffer_bytes = (uint32_t)send_bytes;
    plan->arg_bytes_max = config->key_size_max > config->val_size_max ? config->key_size_max
                                                                      : config->val_size_max;
    /* One value or one argument echoed back, or an error instead. */
    plan->reply_value_bytes = (uint32_t)(bulk_bytes(plan->arg_bytes_max) + PLAN_REPLY_ERROR_BYTES);
    plan->reply_element_bytes = (uint32_t)bulk_bytes(config->val_size_max);
    plan->list_length_max = config->list_length_max;
    plan->arg_bytes_max = config->key_size_max > config->val_size_max ? config->key_size_max
                                                                      : config->val_size_max;
    /* A multibulk argument takes at least 6 bytes ("$0\r\n\r\n"); an inline request at least
     * 2 per argument: args_max covers anything that fits the receive buffer. */
    uint32_t multibulk_args = plan->recv_buffer_bytes / 6 + 1;
    uint32_t inline_args = RESP_LINE_SEEN_BYTES / 2 + 1;
    plan->args_max = multibulk_args > inline_args ? multibulk_args : inline_args;
    plan->value_count = config->key_count * config->list_length_max;

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
    fprintf(out, "  recv_buffer_bytes = %u (largest legal command)\n", plan->recv_buffer_bytes);
    fprintf(out, "  send_buffer_bytes = %u (largest legal reply)\n", plan->send_buffer_bytes);
    fprintf(out, "  connection_slots = %u (connections_max + %u refusal slots)\n",
            plan->conn_slot_count, PLAN_REFUSAL_SLOTS);
    fprintf(out, "  value_slots = %u (key_count x list_length_max)\n", plan->value_count);
    fprintf(out, "  args_max = %u\n", plan->args_max);
    fprintf(out, "  transaction_bytes_max = %u (MULTI queues in the receive buffer)\n",
            plan->recv_buffer_bytes);
    fprintf(out, "  watch_keys_max = %u\n", config->watch_keys_max);
}
