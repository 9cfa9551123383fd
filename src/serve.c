/*
 * Serving a connection's input. For each complete command in the receive buffer, in order:
 * a parse error is answered (and a protocol error closes the connection, as Redis does);
 * inside MULTI an admitted command is answered QUEUED and its bytes stay for EXEC; otherwise
 * the command is admitted, its reply bound computed once, and it runs only when the send
 * buffer has that much room, so a reply is never cut. A blocking command that found nothing
 * leaves its bytes unconsumed and its client waits on its keys (block.h); after each command
 * that gave a waited-on key members, the waiters of that key retry, oldest first. Every
 * command runs with a context built fresh from the shared part and its own client and reply,
 * so nothing is saved and restored around a retry. Bounds: SERVE_COMMANDS_PER_PASS commands
 * per connection per call; ready keys and retries bounded by the blocked clients (each retry
 * that serves unblocks one). No I/O, no allocation.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "protected.h"
#include "store.h"

static uint64_t round_64(uint64_t bytes)
{
    uint64_t rounded = (bytes + 63) & ~63ull;
    KV_ASSERT(rounded >= bytes);
    KV_ASSERT(rounded % 64 == 0);
    return rounded;
}

uint64_t serve_plan_scratch_bytes(uint32_t args_max, uint32_t recv_buffer_bytes)
{
    KV_ASSERT(args_max > 0);
    KV_ASSERT(recv_buffer_bytes > 0);
    return round_64((uint64_t)args_max * sizeof(struct slice)) + /* parsed arguments */
           round_64(recv_buffer_bytes);                          /* unescaped inline args */
}

void serve_init(struct serve *serve, struct region *region, const struct plan *plan,
                const struct cmd_context *shared)
{
    KV_ASSERT(shared->conns != NULL);
    KV_ASSERT(shared->clients != NULL);
    KV_ASSERT(shared->block != NULL);
    memset(serve, 0, sizeof(*serve));
    serve->conns = shared->conns;
    serve->clients = shared->clients;
    serve->block = shared->block;
    serve->stats = shared->stats;
    serve->scratch.args_max = plan->args_max;
    serve->scratch.arg_bytes_max = plan->arg_bytes_max;
    serve->scratch.args = region_carve(region, (uint64_t)plan->args_max * sizeof(struct slice), 64);
    serve->scratch.inline_bytes = region_carve(region, plan->recv_buffer_bytes, 64);
    serve->shared = *shared;
    serve->shared.scratch = &serve->scratch;
    serve->shared.client = NULL;
    serve->shared.reply = (struct reply){0};
    serve->shared.mode = CMD_MODE_DIRECT;
    serve->shared.outcome = (struct cmd_outcome){0};
    serve->shared.bound = (struct cmd_bound){0};
    KV_ASSERT(serve->clients->slot_count == serve->conns->slot_count);
}

/* A command's context: the shared part, this client, its send buffer as the reply. */
static struct cmd_context context_for(const struct serve *serve, uint32_t slot_index)
{
    struct cmd_context context = serve->shared;
    context.client = client_at(serve->clients, slot_index);
    context.reply = conn_reply(serve->conns, conn_at(serve->conns, slot_index));
    KV_ASSERT(context.client->id != 0);
    KV_ASSERT(context.client->slot_index == slot_index);
    /* Fresh for each command: nothing of the last one carries over. */
    KV_ASSERT(!context.outcome.block);
    return context;
}

/* "ip:port" of the peer, as CLIENT LIST and SLOWLOG show it. */
static void addr_format(struct conn *conn, uint32_t ipv4, uint16_t port)
{
    struct in_addr address = {.s_addr = htonl(ipv4)};
    char ip[INET_ADDRSTRLEN];
    conn->addr_length = 0;
    if (inet_ntop(AF_INET, &address, ip, sizeof(ip)) == NULL) {
        return;
    }
    int length = snprintf(conn->addr, sizeof(conn->addr), "%s:%u", ip, (unsigned)port);
    KV_ASSERT(length > 0);
    KV_ASSERT((size_t)length < sizeof(conn->addr)); /* "255.255.255.255:65535" fits */
    conn->addr_length = (uint32_t)length;
}

bool serve_open(struct serve *serve, uint32_t slot_index, bool known, uint32_t ipv4,
                uint16_t port, int64_t now_ms)
{
    if (!conn_open(serve->conns, slot_index)) {
        return false;
    }
    const struct config *config = serve->shared.config;
    /* As Redis: a client is authenticated from the start when no password is asked then. */
    const struct client *client =
        client_open(serve->clients, slot_index, now_ms, config->requirepass[0] == '\0');
    KV_ASSERT(client->slot_index == slot_index);
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(conn->send_length == 0); /* a new client has been told nothing yet */
    if (known) {
        addr_format(conn, ipv4, port);
    }
    if (known && protected_refuses(config, ipv4)) {
        /* Told why, as Redis tells it, then closed once the line is sent. */
        struct reply reply = conn_reply(serve->conns, conn);
        struct slice line = protected_denied_line();
        reply_raw(&reply, line.bytes, line.length);
        conn_reply_keep(conn, &reply);
        conn->close_after_send = true;
        serve->stats->protected_refusals++;
    }
    return true;
}

void serve_closing(struct serve *serve, uint32_t slot_index)
{
    struct conn *conn = conn_at(serve->conns, slot_index);
    if (conn->state == CONN_OPEN) {
        if (block_is_blocked(serve->block, slot_index)) {
            block_remove(serve->block, slot_index); /* a blocked client that leaves is forgotten */
        }
        client_close(serve->clients, client_at(serve->clients, slot_index));
    }
    conn_closing(serve->conns, conn);
    /* Its client is gone (a refused socket never had one) and waits on nothing. */
    KV_ASSERT(client_at(serve->clients, slot_index)->id == 0);
    KV_ASSERT(!block_is_blocked(serve->block, slot_index));
}

uint32_t serve_recv_room(struct serve *serve, uint32_t slot_index, uint8_t **into)
{
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN);
    struct txn *txn = &client_at(serve->clients, slot_index)->txn;
    uint32_t droppable = txn_droppable(txn, conn->parser.command_start);
    txn_shift(txn, conn_recv_compact(conn, droppable));
    uint32_t room = conn_recv_room(serve->conns, conn, into);
    if (room == 0 && txn_holds(txn) && conn->recv_partial) {
        /* Queued commands and a partial one fill the buffer: the transaction is too large
         * to hold. It fails (EXEC will abort), its queue goes, the partial command stays.
         * Not while a whole command waits (an EXEC waiting for send room, or commands past
         * SERVE_COMMANDS_PER_PASS): it runs first, and may end the transaction. */
        txn_overflow(txn);
        (void)conn_recv_compact(conn, conn->parser.command_start);
        room = conn_recv_room(serve->conns, conn, into);
    }
    KV_ASSERT(room <= serve->conns->recv_buffer_bytes - conn->recv_length);
    return room;
}

/* Answers a protocol error or a refusal from the parser. */
static void answer_parse_error(struct serve *serve, struct reply *reply,
                               const struct resp_command *command, enum resp_status status)
{
    KV_ASSERT(status != RESP_COMMAND);
    KV_ASSERT(status != RESP_NEED_MORE);
    uint32_t length_before = reply->length;
    reply_resp_error(reply, command->error, command->error_byte);
    KV_ASSERT(reply->length > length_before);
    if (status == RESP_PROTOCOL_ERROR) {
        serve->stats->protocol_errors++;
    } else {
        serve->stats->refused_commands++;
    }
}

/* A command arrives inside MULTI: an admitted one is answered QUEUED and its bytes stay in
 * the receive buffer for EXEC; a refused one fails the transaction, as in Redis. */
static void multi_queue(struct serve *serve, struct cmd_context *context, uint32_t position,
                        uint32_t command_start, uint32_t arg_count)
{
    struct txn *txn = &context->client->txn;
    KV_ASSERT(txn->active);
    if (!cmd_admit(context, position, serve->scratch.args, arg_count)) {
        txn_fail(txn);
        return;
    }
    /* The worst case: other clients may change anything before EXEC. */
    context->bound = (struct cmd_bound){.strings_changed = true, .list_growth = UINT32_MAX};
    uint32_t reply_bytes = cmd_reply_bound(context, position, serve->scratch.args, arg_count);
    context->bound = (struct cmd_bound){0};
    if (txn->overflowed) {
        reply_error_format(&context->reply, REPLY_ERROR_TRANSACTION_TOO_LARGE,
                           serve->conns->recv_buffer_bytes);
        txn->overflowed = false;
        KV_ASSERT(txn->failed);
        return;
    }
    txn_queue(txn, command_start, reply_bytes);
    KV_ASSERT(txn->failed || txn->queued > 0);
    reply_simple(&context->reply, "QUEUED");
}

/* The store's hash of a key, for the blocked keys' table. */
static uint32_t key_hash(const void *store, struct slice key)
{
    KV_ASSERT(store != NULL);
    KV_ASSERT(key.bytes != NULL || key.length == 0);
    return store_key_hash(store, key);
}

/* A blocking command found nothing: its client waits on the keys it named. False when the
 * wait lists are full: the command was answered with an error instead. */
static bool block_begin(struct serve *serve, struct cmd_context *context)
{
    const struct cmd_outcome *outcome = &context->outcome;
    KV_ASSERT(outcome->block);
    KV_ASSERT(outcome->block_key_count > 0);
    KV_ASSERT(!block_is_blocked(serve->block, context->client->slot_index));
    enum block_status status =
        block_add(serve->block, context->client->slot_index,
                  &serve->scratch.args[outcome->block_key_first], outcome->block_key_count,
                  outcome->block_deadline_ms, key_hash, serve->shared.store);
    if (status == BLOCK_OK) {
        KV_ASSERT(block_is_blocked(serve->block, context->client->slot_index));
        return true;
    }
    reply_error(&context->reply, REPLY_ERROR_BLOCKING_KEYS_FULL);
    return false;
}

/* Runs a blocked client's command again: true if it was served (answered, consumed,
 * unblocked and queued to go on), false if it still finds nothing or has no room yet. */
static bool block_retry(struct serve *serve, uint32_t slot_index)
{
    KV_ASSERT(block_is_blocked(serve->block, slot_index));
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN); /* a client that leaves is unblocked first */
    if (conn_send_room(serve->conns, conn) < PLAN_REPLY_SMALL_BYTES) {
        return false;
    }
    struct resp_command command;
    enum resp_status status = resp_parse(&conn->parser, &serve->scratch, conn->recv,
                                         conn->recv_length, serve->conns->recv_buffer_bytes,
                                         &command);
    KV_ASSERT(status == RESP_COMMAND); /* it was parsed whole when it blocked */
    struct cmd_context context = context_for(serve, slot_index);
    context.mode = CMD_MODE_RETRY;
    uint32_t position = cmd_find(serve->scratch.args, command.arg_count);
    KV_ASSERT(position != CMD_NONE); /* it was admitted when it blocked */
    uint32_t bound = cmd_reply_bound(&context, position, serve->scratch.args, command.arg_count);
    if (conn_send_room(serve->conns, conn) < bound) {
        return false;
    }
    cmd_run(&context, position, serve->scratch.args, command.arg_count, bound);
    if (context.outcome.block) {
        return false; /* still nothing: it keeps waiting on the same keys */
    }
    resp_parser_consume(&conn->parser, command.end);
    conn_reply_keep(conn, &context.reply);
    block_remove(serve->block, slot_index);
    conn_ready_push(serve->conns, slot_index);
    KV_ASSERT(!block_is_blocked(serve->block, slot_index));
    return true;
}

/* Serves the clients waiting on the keys that gained members, key by key in the order they
 * became ready, each key's waiters oldest first. A served BLMOVE may make another key
 * ready, which joins the list. Bounded: each key taken off the list is one that gained
 * members since it was last taken, which needs a command or a served retry; retries that
 * serve unblock a client, so rounds are at most the blocked clients plus the keys. */
static void wake_ready(struct serve *serve)
{
    struct block *block = serve->block;
    uint32_t rounds_max = block->keys.slot_count + block->client_count + 1u;
    uint32_t key_slot = 0;
    for (uint32_t round = 0; round < rounds_max && block_ready_pop(block, &key_slot); round++) {
        uint32_t link = 0;
        uint32_t client = 0;
        bool more = block_waiter_first(block, key_slot, &link, &client);
        /* Bounded by the key's waiters: each step moves one link along its wait list. */
        while (more) {
            uint32_t next_link = link;
            uint32_t next_client = 0;
            bool has_next = block_waiter_next(block, &next_link, &next_client);
            bool served = block_retry(serve, client);
            if (served && !block_key_live(block, key_slot)) {
                break; /* its last waiter was served: the key slot is gone */
            }
            KV_ASSERT(!has_next || block_link_is(block, next_link, next_client));
            link = next_link;
            client = next_client;
            more = has_next;
        }
    }
    KV_ASSERT(!block_ready_pending(block));
}

/* Runs one parsed command that is not queued: admit, bound, room, run. Returns false when it
 * must wait (no room yet, or its client blocked); the command then stays unconsumed. */
static bool run_command(struct serve *serve, struct conn *conn, uint32_t slot_index,
                        const struct resp_command *command, uint32_t room)
{
    KV_ASSERT(command->arg_count >= 1);
    KV_ASSERT(room >= PLAN_REPLY_SMALL_BYTES); /* a refusal fits, whatever it is */
    struct cmd_context context = context_for(serve, slot_index);
    uint32_t position = cmd_find(serve->scratch.args, command->arg_count);
    if (cmd_admit(&context, position, serve->scratch.args, command->arg_count)) {
        uint32_t bound =
            cmd_reply_bound(&context, position, serve->scratch.args, command->arg_count);
        if (room < bound) {
            return false; /* parsed and admitted again once the send buffer drains */
        }
        cmd_run(&context, position, serve->scratch.args, command->arg_count, bound);
        if (context.outcome.block && block_begin(serve, &context)) {
            return false; /* nothing to pop yet: the command stays for its retry */
        }
    }
    resp_parser_consume(&conn->parser, command->end);
    conn_reply_keep(conn, &context.reply);
    KV_ASSERT(conn->send_length <= serve->conns->send_buffer_bytes);
    KV_ASSERT(!conn->close_after_send); /* serve_input stops once it is set */
    conn->close_after_send = context.outcome.close_after_reply;
    if (block_ready_pending(serve->block)) {
        wake_ready(serve);
    }
    return true;
}

/* Parses and answers or queues one command; false when the connection must wait. */
static bool serve_one(struct serve *serve, struct conn *conn, uint32_t slot_index, uint32_t room)
{
    KV_ASSERT(room >= PLAN_REPLY_SMALL_BYTES); /* serve_input checked it before parsing */
    KV_ASSERT(!conn->close_after_send);
    struct resp_command command;
    uint32_t command_start = conn->parser.command_start;
    enum resp_status status = resp_parse(&conn->parser, &serve->scratch, conn->recv,
                                         conn->recv_length, serve->conns->recv_buffer_bytes,
                                         &command);
    if (status == RESP_NEED_MORE) {
        conn->recv_partial = true;
        return false;
    }
    struct client *client = client_at(serve->clients, slot_index);
    if (status != RESP_COMMAND) {
        struct reply reply = conn_reply(serve->conns, conn);
        answer_parse_error(serve, &reply, &command, status);
        if (client->txn.active) {
            txn_fail(&client->txn);
        }
        conn_reply_keep(conn, &reply);
        conn->close_after_send = status == RESP_PROTOCOL_ERROR;
        return true;
    }
    KV_ASSERT(command.arg_count >= 1);
    uint32_t position = cmd_find(serve->scratch.args, command.arg_count);
    if (client->txn.active && !(cmd_flags(cmd_of(position)) & CMD_FLAG_TXN)) {
        struct cmd_context context = context_for(serve, slot_index);
        multi_queue(serve, &context, position, command_start, command.arg_count);
        resp_parser_consume(&conn->parser, command.end);
        conn_reply_keep(conn, &context.reply);
        return true;
    }
    return run_command(serve, conn, slot_index, &command, room);
}

bool serve_input(struct serve *serve, uint32_t slot_index)
{
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(client_at(serve->clients, slot_index)->id != 0);
    conn->recv_partial = false; /* until a parse finds only part of a command */
    for (uint32_t count = 0; count < SERVE_COMMANDS_PER_PASS; count++) {
        if (conn->close_after_send || conn->dead || block_is_blocked(serve->block, slot_index)) {
            return false;
        }
        /* Errors and refusals fit in PLAN_REPLY_SMALL_BYTES: have that room before parsing. */
        uint32_t room = conn_send_room(serve->conns, conn);
        if (room < PLAN_REPLY_SMALL_BYTES) {
            return false;
        }
        if (!serve_one(serve, conn, slot_index, room)) {
            return false;
        }
    }
    return true;
}

/* A blocked client's timeout passed: its command is consumed and answered with a null
 * array, and it is unblocked and queued to go on. */
static void serve_block_timeouts_answer(struct serve *serve, struct conn *conn,
                                        uint32_t slot_index)
{
    KV_ASSERT(block_is_blocked(serve->block, slot_index));
    KV_ASSERT(conn->state == CONN_OPEN);
    struct resp_command command;
    enum resp_status status = resp_parse(&conn->parser, &serve->scratch, conn->recv,
                                         conn->recv_length, serve->conns->recv_buffer_bytes,
                                         &command);
    KV_ASSERT(status == RESP_COMMAND); /* it was parsed whole when it blocked */
    resp_parser_consume(&conn->parser, command.end);
    struct reply reply = conn_reply(serve->conns, conn);
    reply_null_array(&reply);
    conn_reply_keep(conn, &reply);
    block_remove(serve->block, slot_index);
    conn_ready_push(serve->conns, slot_index);
    KV_ASSERT(!block_is_blocked(serve->block, slot_index));
}

void serve_block_timeouts(struct serve *serve, int64_t now_ms)
{
    struct block *block = serve->block;
    uint32_t slot_index = block_fifo_first(block);
    uint32_t blocked_count = block->blocked_count;
    /* Bounded by the blocked count. */
    for (uint32_t steps = blocked_count; steps > 0 && slot_index != BLOCK_NONE; steps--) {
        uint32_t next = block_fifo_next(block, slot_index);
        int64_t deadline_ms = block->clients[slot_index].deadline_ms;
        struct conn *conn = conn_at(serve->conns, slot_index);
        if (deadline_ms != 0 && deadline_ms <= now_ms &&
            conn_send_room(serve->conns, conn) >= PLAN_REPLY_SMALL_BYTES) {
            serve_block_timeouts_answer(serve, conn, slot_index);
        }
        slot_index = next;
    }
    KV_ASSERT(block->blocked_count <= blocked_count); /* timeouts only unblock */
}

void serve_verify(const struct serve *serve)
{
    conns_verify(serve->conns);
    block_verify(serve->block);
    for (uint32_t slot_index = 0; slot_index < serve->conns->slot_count; slot_index++) {
        const struct conn *conn = conn_at(serve->conns, slot_index);
        const struct client *client = client_at(serve->clients, slot_index);
        client_verify(serve->clients, client);
        /* A client exists exactly while its connection is open. */
        KV_ASSERT((conn->state == CONN_OPEN) == (client->id != 0));
        KV_ASSERT(!block_is_blocked(serve->block, slot_index) || client->id != 0);
        if (client->id != 0) {
            txn_verify(&client->txn, conn->parser.command_start);
        }
    }
}
