/*
 * Connection slots and their byte cursors. Receive buffer: recv[0 .. parser.command_start)
 * is consumed and dropped at the next compaction, recv[command_start .. recv_length) waits
 * to be parsed. Send buffer: send[send_done .. send_length) waits to be sent, of which the
 * first send_in_flight bytes are with the kernel. A command runs only when the send buffer
 * has room for its reply bound, so a reply is never cut; a connection that cannot run its
 * next command waits for its send to complete. Receive and send buffers are acquired and
 * released together, so both pools hand out the same index (asserted), which the loop uses
 * to find the registered buffer. No I/O, no allocation.
 */
#include "conn.h"

#include <string.h>

static uint64_t round_64(uint64_t bytes)
{
    return (bytes + 63) & ~63ull;
}

uint64_t conns_plan_slots_bytes(uint32_t conn_slot_count)
{
    return round_64((uint64_t)conn_slot_count * sizeof(struct conn)) + /* slots */
           round_64((uint64_t)conn_slot_count * sizeof(uint32_t));    /* ready queue */
}

uint64_t conns_plan_scratch_bytes(uint32_t args_max, uint32_t recv_buffer_bytes)
{
    return round_64((uint64_t)args_max * sizeof(struct slice)) + /* parsed arguments */
           round_64(recv_buffer_bytes);                          /* unescaped inline args */
}

void conns_init(struct conns *conns, struct region *region, const struct plan *plan,
                struct watch *watch)
{
    memset(conns, 0, sizeof(*conns));
    conns->watch = watch;
    conns->slot_count = plan->conn_slot_count;
    conns->slots = region_carve(region, (uint64_t)conns->slot_count * sizeof(struct conn), 64);
    memset(conns->slots, 0, (uint64_t)conns->slot_count * sizeof(struct conn));
    conns->ready = region_carve(region, (uint64_t)conns->slot_count * sizeof(uint32_t), 64);
    uint32_t buffer_count = plan->conn_slot_count - PLAN_REFUSAL_SLOTS;
    pool_init(&conns->recv_buffers, region, buffer_count, plan->recv_buffer_bytes);
    pool_init(&conns->send_buffers, region, buffer_count, plan->send_buffer_bytes);
    conns->scratch.args_max = plan->args_max;
    conns->scratch.arg_bytes_max = plan->arg_bytes_max;
    conns->scratch.args = region_carve(region, (uint64_t)plan->args_max * sizeof(struct slice), 64);
    conns->scratch.inline_bytes = region_carve(region, plan->recv_buffer_bytes, 64);
    conns->recv_buffer_bytes = plan->recv_buffer_bytes;
    conns->send_buffer_bytes = plan->send_buffer_bytes;
    conns->id_next = 1;
    conns->blocked_head = CONN_NONE;
    conns->blocked_tail = CONN_NONE;
    conns->blocked_count = 0;
    KV_ASSERT(conns->recv_buffers.slot_count == conns->send_buffers.slot_count);
}

bool conn_open(struct conns *conns, uint32_t slot_index)
{
    KV_ASSERT(slot_index < conns->slot_count);
    struct conn *conn = &conns->slots[slot_index];
    KV_ASSERT(conn->state == CONN_FREE);
    uint32_t generation = conn->generation + 1;
    bool queued = conn->queued;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    uint32_t recv_index = 0;
    if (!pool_acquire(&conns->recv_buffers, &recv_index)) {
        conn->state = CONN_REFUSING;
        return false;
    }
    uint32_t send_index = 0;
    bool acquired = pool_acquire(&conns->send_buffers, &send_index);
    KV_ASSERT(acquired && send_index == recv_index);
    conn->buffer_index = recv_index;
    conn->recv = pool_slot(&conns->recv_buffers, recv_index);
    conn->send = pool_slot(&conns->send_buffers, send_index);
    resp_parser_init(&conn->parser);
    watch_list_init(&conn->multi.watches);
    pubsub_client_init(&conn->pubsub);
    conn->id = conns->id_next++;
    conn->state = CONN_OPEN;
    conns->open_count++;
    return true;
}

/* Appends a connection to the blocked FIFO (newest last). */
static void block_append(struct conns *conns, struct conn *conn, int64_t deadline_ms)
{
    KV_ASSERT(!conn->blocked);
    uint32_t slot_index = conn_slot_index(conns, conn);
    conn->blocked = true;
    conn->block_deadline_ms = deadline_ms;
    conn->block_prev = conns->blocked_tail;
    conn->block_next = CONN_NONE;
    if (conns->blocked_tail == CONN_NONE) {
        conns->blocked_head = slot_index;
    } else {
        conns->slots[conns->blocked_tail].block_next = slot_index;
    }
    conns->blocked_tail = slot_index;
    conns->blocked_count++;
}

/* Takes a connection out of the blocked FIFO. */
static void block_unlink(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->blocked && conns->blocked_count > 0);
    if (conn->block_prev == CONN_NONE) {
        conns->blocked_head = conn->block_next;
    } else {
        conns->slots[conn->block_prev].block_next = conn->block_next;
    }
    if (conn->block_next == CONN_NONE) {
        conns->blocked_tail = conn->block_prev;
    } else {
        conns->slots[conn->block_next].block_prev = conn->block_prev;
    }
    conn->blocked = false;
    conns->blocked_count--;
}

void conn_closing(struct conns *conns, struct conn *conn)
{
    if (conn->blocked) {
        block_unlink(conns, conn); /* a blocked client that leaves is forgotten */
    }
    if (conn->recv != NULL) {
        conn_unsubscribe_all(conns, conn);
    }
    KV_ASSERT(conn->state == CONN_OPEN || conn->state == CONN_REFUSING);
    KV_ASSERT(!conn->recv_in_flight && conn->send_in_flight == 0 && !conn->shutdown_in_flight);
    if (conn->recv != NULL) {
        watch_clear(conns->watch, &conn->multi.watches);
        pool_release(&conns->recv_buffers, conn->buffer_index);
        pool_release(&conns->send_buffers, conn->buffer_index);
        conn->recv = NULL;
        conn->send = NULL;
        KV_ASSERT(conns->open_count > 0);
        conns->open_count--;
    }
    conn->state = CONN_CLOSING;
}

void conn_release(struct conns *conns, uint32_t slot_index)
{
    KV_ASSERT(slot_index < conns->slot_count);
    struct conn *conn = &conns->slots[slot_index];
    KV_ASSERT(conn->state == CONN_CLOSING && conn->recv == NULL);
    uint32_t generation = conn->generation;
    bool queued = conn->queued;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    conn->state = CONN_FREE;
}

/* Whether the receive buffer holds queued MULTI commands before the parse position. */
static bool multi_holding(const struct conn *conn)
{
    return conn->multi.active && !conn->multi.failed && conn->multi.queued > 0;
}

/* Moves unconsumed input (and queued commands) to the front of the receive buffer. */
static void recv_compact(struct conn *conn)
{
    uint32_t drop = multi_holding(conn) ? conn->multi.queue_start : conn->parser.command_start;
    KV_ASSERT(drop <= conn->parser.command_start && drop <= conn->recv_length);
    if (drop == 0) {
        return;
    }
    /* Usually nothing or a short partial command is left: cheap to move down. */
    memmove(conn->recv, conn->recv + drop, conn->recv_length - drop);
    conn->recv_length -= drop;
    resp_parser_shift(&conn->parser, drop);
    if (multi_holding(conn)) {
        conn->multi.queue_start -= drop;
    }
}

uint32_t conn_recv_room(struct conns *conns, struct conn *conn, uint8_t **into)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    recv_compact(conn);
    if (conn->recv_length == conns->recv_buffer_bytes && multi_holding(conn)) {
        /* Queued commands and a partial one fill the buffer: the transaction is too large
         * to hold. It fails (EXEC will abort), its queue goes, the partial command stays. */
        conn->multi.failed = true;
        conn->multi.overflowed = true;
        recv_compact(conn);
    }
    *into = conn->recv + conn->recv_length;
    return conns->recv_buffer_bytes - conn->recv_length;
}

void conn_received(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->recv_in_flight);
    conn->recv_in_flight = false;
    conn->recv_length += bytes;
}

void conn_sent(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->send_in_flight > 0 && bytes <= conn->send_in_flight);
    conn->send_in_flight = 0;
    conn->send_done += bytes;
    KV_ASSERT(conn->send_done <= conn->send_length);
    if (conn->send_done == conn->send_length) {
        conn->send_done = 0;
        conn->send_length = 0;
    }
}

uint32_t conn_send_pending(const struct conn *conn, const uint8_t **from)
{
    KV_ASSERT(conn->send_done <= conn->send_length);
    *from = conn->send + conn->send_done;
    return conn->send_length - conn->send_done;
}

void conn_ready_push(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = &conns->slots[slot_index];
    if (conn->queued) {
        return;
    }
    KV_ASSERT(conns->ready_count < conns->slot_count);
    conns->ready[(conns->ready_head + conns->ready_count) % conns->slot_count] = slot_index;
    conns->ready_count++;
    conn->queued = true;
}

bool conn_ready_pop(struct conns *conns, uint32_t *slot_index)
{
    if (conns->ready_count == 0) {
        return false;
    }
    *slot_index = conns->ready[conns->ready_head];
    conns->ready_head = (conns->ready_head + 1) % conns->slot_count;
    conns->ready_count--;
    KV_ASSERT(conns->slots[*slot_index].queued);
    conns->slots[*slot_index].queued = false;
    return true;
}

/* Room in the send buffer, compacting sent bytes away when no send is in flight. */
static uint32_t send_room(const struct conns *conns, struct conn *conn)
{
    if (conn->send_in_flight == 0 && conn->send_done > 0) {
        memmove(conn->send, conn->send + conn->send_done, conn->send_length - conn->send_done);
        conn->send_length -= conn->send_done;
        conn->send_done = 0;
    }
    return conns->send_buffer_bytes - conn->send_length;
}

uint32_t conn_send_room(const struct conns *conns, struct conn *conn)
{
    return send_room(conns, conn);
}

void conn_unsubscribe_all(struct conns *conns, struct conn *conn)
{
    if (conns->pubsub == NULL) {
        return;
    }
    struct slice name;
    /* Bounded by subscriptions_max: each step removes one subscription. */
    for (uint32_t steps = 0; steps <= conns->pubsub->subscriptions_max; steps++) {
        bool pattern = conn->pubsub.channels == 0;
        if (conn->pubsub.channels + conn->pubsub.patterns == 0 ||
            !pubsub_client_first(conns->pubsub, &conn->pubsub, pattern, &name)) {
            break;
        }
        bool removed = pubsub_unsubscribe(conns->pubsub, &conn->pubsub, name, pattern);
        KV_ASSERT(removed);
    }
    KV_ASSERT(conn->pubsub.channels + conn->pubsub.patterns == 0);
}

/* Answers a protocol error or a refusal from the parser. */
static void answer_parse_error(struct cmd_context *context, const struct resp_command *command,
                               enum resp_status status)
{
    reply_resp_error(&context->reply, command->error, command->error_byte);
    if (status == RESP_PROTOCOL_ERROR) {
        context->stats->protocol_errors++;
    } else {
        context->stats->refused_commands++;
    }
}

/* Room for EXEC's array header and the queued replies' bounds, and the text of the errors
 * that refuse a command the transaction cannot hold. */
#define MULTI_HEADER_BYTES 16u

/* A command arrives inside MULTI: admitted commands are answered QUEUED and their bytes stay
 * in the receive buffer for EXEC; a refused one fails the transaction, as in Redis. */
static void multi_queue(struct conns *conns, struct conn *conn, struct cmd_context *context,
                        const struct cmd *cmd, uint32_t arg_count)
{
    struct conn_multi *multi = &conn->multi;
    KV_ASSERT(multi->active);
    if (!cmd_admit(context, cmd, conns->scratch.args, arg_count)) {
        multi->failed = true;
        return;
    }
    /* The worst case: other clients may change anything before EXEC. */
    context->bound_strings_changed = true;
    context->bound_list_growth = UINT32_MAX;
    uint64_t reply_bytes = multi->reply_bytes +
                           cmd_reply_bound(cmd, context, conns->scratch.args, arg_count);
    context->bound_strings_changed = false;
    context->bound_list_growth = 0;
    if (multi->overflowed) {
        reply_error_format(&context->reply, REPLY_ERROR_TRANSACTION_TOO_LARGE,
                           conns->recv_buffer_bytes);
        multi->overflowed = false;
        KV_ASSERT(multi->failed);
        return;
    }
    if (!multi->failed) {
        if (multi->queued == 0) {
            multi->queue_start = conn->parser.command_start;
        }
        multi->queued++;
        multi->reply_bytes = reply_bytes;
    }
    reply_simple(&context->reply, "QUEUED");
}

void conn_multi_reset(struct conns *conns, struct conn *conn)
{
    struct watch_list watches = conn->multi.watches;
    watch_clear(conns->watch, &watches);
    memset(&conn->multi, 0, sizeof(conn->multi));
    conn->multi.watches = watches;
    KV_ASSERT(conn->multi.watches.count == 0);
}

/* Walks a transaction's queue: the next queued command (skipping MULTI and WATCH, answered
 * at once while queueing) with its arguments in the scratch; false at EXEC's own start. */
static bool multi_next(struct conns *conns, const struct conn *conn, struct resp_parser *parser,
                       const struct cmd **cmd, uint32_t *arg_count)
{
    uint32_t end = conn->parser.command_start; /* where EXEC itself begins */
    /* Bounded: each step consumes a whole command of at least 3 bytes. */
    for (uint32_t steps = 0; parser->command_start < end && steps < end; steps++) {
        struct resp_command command;
        enum resp_status status = resp_parse(parser, &conns->scratch, conn->recv, end,
                                             conns->recv_buffer_bytes, &command);
        KV_ASSERT(status == RESP_COMMAND);
        *cmd = cmd_find(conns->scratch.args, command.arg_count);
        resp_parser_consume(parser, command.end);
        if (!(cmd_flags(*cmd) & CMD_FLAG_TXN)) {
            KV_ASSERT(*cmd != NULL);
            *arg_count = command.arg_count;
            return true;
        }
    }
    return false;
}

uint64_t conn_multi_bound(struct conns *conns, struct conn *conn, struct cmd_context *context)
{
    struct conn_multi *multi = &conn->multi;
    KV_ASSERT(multi->active && !multi->failed && !multi->overflowed);
    struct resp_parser parser;
    resp_parser_init_at(&parser, multi->queue_start);
    uint64_t bytes = MULTI_HEADER_BYTES;
    uint32_t counted = 0;
    const struct cmd *cmd = NULL;
    uint32_t arg_count = 0;
    context->bound_exact = true;
    /* Each bound trusts the store as it is now, less what the commands before it may change. */
    while (counted < multi->queued && multi_next(conns, conn, &parser, &cmd, &arg_count)) {
        bytes += cmd_reply_bound(cmd, context, conns->scratch.args, arg_count);
        cmd_bound_after(context, cmd, arg_count);
        counted++;
    }
    KV_ASSERT(counted == multi->queued);
    context->bound_exact = false;
    context->bound_strings_changed = false;
    context->bound_list_growth = 0;
    return bytes;
}

void conn_multi_exec(struct conns *conns, struct conn *conn, struct cmd_context *context)
{
    struct conn_multi *multi = &conn->multi;
    KV_ASSERT(multi->active && !multi->failed && !multi->overflowed);
    uint32_t queued = multi->queued;
    reply_array(&context->reply, queued);
    struct resp_parser parser;
    resp_parser_init_at(&parser, multi->queue_start);
    uint32_t ran = 0;
    const struct cmd *cmd = NULL;
    uint32_t arg_count = 0;
    context->in_exec = true; /* blocking commands answer at once inside a transaction */
    while (ran < queued && multi_next(conns, conn, &parser, &cmd, &arg_count)) {
        cmd_run(context, cmd, conns->scratch.args, arg_count);
        ran++;
    }
    context->in_exec = false;
    KV_ASSERT(ran == queued);
    conn_multi_reset(conns, conn);
}

bool conn_execute(struct conns *conns, struct conn *conn, struct cmd_context *context)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    context->client_id = conn->id;
    context->conn = conn;
    context->conns = conns;
    for (uint32_t count = 0; count < CONN_COMMANDS_PER_PASS; count++) {
        if (conn->close_after_send || conn->dead || conn->blocked) {
            return false;
        }
        /* Errors and refusals fit in PLAN_REPLY_SMALL_BYTES: have that room before parsing. */
        uint32_t room = send_room(conns, conn);
        if (room < PLAN_REPLY_SMALL_BYTES) {
            return false;
        }
        struct resp_command command;
        enum resp_status status = resp_parse(&conn->parser, &conns->scratch, conn->recv,
                                             conn->recv_length, conns->recv_buffer_bytes, &command);
        if (status == RESP_NEED_MORE) {
            return false;
        }
        context->reply = (struct reply){
            .bytes = conn->send, .length = conn->send_length, .capacity = conns->send_buffer_bytes};
        if (status != RESP_COMMAND) {
            answer_parse_error(context, &command, status);
            conn->multi.failed |= conn->multi.active;
            conn->send_length = context->reply.length;
            conn->close_after_send = status == RESP_PROTOCOL_ERROR;
            continue;
        }
        const struct cmd *cmd = cmd_find(conns->scratch.args, command.arg_count);
        if (conn->multi.active && !(cmd_flags(cmd) & CMD_FLAG_TXN)) {
            multi_queue(conns, conn, context, cmd, command.arg_count);
            resp_parser_consume(&conn->parser, command.end);
            conn->send_length = context->reply.length;
            continue;
        }
        if (room < cmd_reply_bytes_max(cmd, context, conns->scratch.args, command.arg_count)) {
            return false; /* Parsed again once the send buffer drains. */
        }
        context->close_after_reply = false;
        cmd_execute(context, cmd, conns->scratch.args, command.arg_count);
        if (context->block_requested) {
            /* Nothing to pop yet: the command stays in the buffer for its retry. */
            context->block_requested = false;
            block_append(conns, conn, context->block_deadline_ms);
            return false;
        }
        resp_parser_consume(&conn->parser, command.end);
        conn->send_length = context->reply.length;
        conn->close_after_send = context->close_after_reply;
        if (context->store->signaled) {
            conn_wake_blocked(conns, context);
        }
    }
    return true;
}

/* Runs a blocked connection's command again: true if it was served (answered, consumed,
 * unblocked and queued to go on), false if it still finds nothing or has no room yet. */
static bool block_retry(struct conns *conns, struct conn *conn, struct cmd_context *context)
{
    if (send_room(conns, conn) < PLAN_REPLY_SMALL_BYTES) {
        return false;
    }
    struct resp_command command;
    enum resp_status status = resp_parse(&conn->parser, &conns->scratch, conn->recv,
                                         conn->recv_length, conns->recv_buffer_bytes, &command);
    KV_ASSERT(status == RESP_COMMAND);
    const struct cmd *cmd = cmd_find(conns->scratch.args, command.arg_count);
    context->client_id = conn->id;
    context->conn = conn;
    context->reply = (struct reply){
        .bytes = conn->send, .length = conn->send_length, .capacity = conns->send_buffer_bytes};
    if (send_room(conns, conn) < cmd_reply_bytes_max(cmd, context, conns->scratch.args,
                                                       command.arg_count)) {
        return false;
    }
    context->block_requested = false;
    context->block_retry = true;
    cmd_execute(context, cmd, conns->scratch.args, command.arg_count);
    context->block_retry = false;
    if (context->block_requested) {
        context->block_requested = false;
        return false;
    }
    resp_parser_consume(&conn->parser, command.end);
    conn->send_length = context->reply.length;
    block_unlink(conns, conn);
    conn_ready_push(conns, conn_slot_index(conns, conn));
    return true;
}

void conn_wake_blocked(struct conns *conns, struct cmd_context *context)
{
    if (conns->blocked_count == 0) {
        context->store->signaled = false;
        return;
    }
    struct cmd_context saved = *context;
    /* Each round walks the FIFO once, oldest first; a served command may give other lists
     * members (BLMOVE), which takes another round. Bounded: a round that serves nobody ends
     * it, and each serving round unblocks a connection. */
    for (uint32_t round = 0; round <= conns->slot_count && context->store->signaled; round++) {
        context->store->signaled = false;
        bool served = false;
        uint32_t at = conns->blocked_head;
        for (uint32_t steps = conns->blocked_count; steps > 0 && at != CONN_NONE; steps--) {
            uint32_t next = conns->slots[at].block_next;
            served |= block_retry(conns, &conns->slots[at], context);
            at = next;
        }
        if (!served) {
            break;
        }
    }
    context->store->signaled = false;
    *context = saved;
}

void conn_block_timeouts(struct conns *conns, struct cmd_context *context, int64_t now_ms)
{
    uint32_t at = conns->blocked_head;
    /* Bounded by the blocked count. */
    for (uint32_t steps = conns->blocked_count; steps > 0 && at != CONN_NONE; steps--) {
        struct conn *conn = &conns->slots[at];
        uint32_t next = conn->block_next;
        if (conn->block_deadline_ms != 0 && conn->block_deadline_ms <= now_ms &&
            send_room(conns, conn) >= PLAN_REPLY_SMALL_BYTES) {
            struct resp_command command;
            enum resp_status status =
                resp_parse(&conn->parser, &conns->scratch, conn->recv, conn->recv_length,
                           conns->recv_buffer_bytes, &command);
            KV_ASSERT(status == RESP_COMMAND);
            resp_parser_consume(&conn->parser, command.end);
            struct reply reply = {.bytes = conn->send, .length = conn->send_length,
                                  .capacity = conns->send_buffer_bytes};
            reply_null_array(&reply);
            conn->send_length = reply.length;
            block_unlink(conns, conn);
            conn_ready_push(conns, at);
        }
        at = next;
    }
    (void)context;
}

int64_t conn_block_next_deadline(const struct conns *conns)
{
    int64_t earliest = 0;
    uint32_t at = conns->blocked_head;
    for (uint32_t steps = conns->blocked_count; steps > 0 && at != CONN_NONE; steps--) {
        const struct conn *conn = &conns->slots[at];
        if (conn->block_deadline_ms != 0 &&
            (earliest == 0 || conn->block_deadline_ms < earliest)) {
            earliest = conn->block_deadline_ms;
        }
        at = conn->block_next;
    }
    return earliest;
}

void conn_kill(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    conn->dead = true;
    conn_ready_push(conns, conn_slot_index(conns, conn));
}

void conn_verify(const struct conns *conns, const struct conn *conn)
{
    KV_ASSERT(conn->state <= CONN_CLOSING);
    if (conn->recv == NULL) {
        return;
    }
    KV_ASSERT(conn->recv_length <= conns->recv_buffer_bytes);
    KV_ASSERT(conn->parser.command_start <= conn->parser.scan);
    KV_ASSERT(conn->parser.scan <= conn->recv_length);
    KV_ASSERT(conn->send_done <= conn->send_length);
    KV_ASSERT(conn->send_length <= conns->send_buffer_bytes);
    KV_ASSERT(conn->send_in_flight <= conn->send_length - conn->send_done);
}
