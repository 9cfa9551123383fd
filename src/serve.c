/*
 * Serving a connection's input. For each complete command in the receive buffer, in order:
 * a parse error is answered (and a protocol error closes the connection, as Redis does);
 * inside MULTI an admitted command is answered QUEUED and its bytes stay for EXEC; otherwise
 * the command is admitted and run, its reply appended to the connection's output chain,
 * which grows as a reply needs (replies of any size, never cut). A client whose unsent
 * output passes SERVE_OUTPUT_PAUSE_BYTES runs no more commands until it reads; one past its
 * client-output-buffer-limit, or whose reply found no memory, is closed (counted), as Redis
 * closes it. A blocking command that found nothing leaves its bytes unconsumed and its
 * client waits on its keys (block.h); after each command that gave a waited-on key members,
 * the waiters of that key retry, oldest first. Every command runs with a context built fresh
 * from the shared part and its own client and reply, so nothing is saved and restored
 * around a retry. The receive buffer grows to hold the command being read (up to
 * client-query-buffer-limit) and shrinks back when reads stay small; a command with more
 * arguments than the fixed scratch holds borrows a larger array from the heap for its run.
 * While a slow script runs (a busy pass, serve_busy_begin) other clients' commands are read
 * into a small scratch of their own and answered -BUSY, but for SCRIPT KILL, FUNCTION KILL
 * and FUNCTION STATS, so the running command's arguments and state stay untouched.
 * Bounds: SERVE_COMMANDS_PER_PASS commands per connection per call; ready keys and retries
 * bounded by the blocked clients (each retry that serves unblocks one). No I/O.
 */
#include "serve.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "propagate.h"
#include "protected.h"
#include "script.h"
#include "store.h"
#include "tracking.h"

/* The busy pass's scratch arguments (static: a few slices, used only inside a busy pass). */
static struct slice serve_busy_args[SERVE_BUSY_ARGS_MAX];

static uint64_t round_64(uint64_t bytes)
{
    uint64_t rounded = (bytes + 63) & ~63ull;
    KV_ASSERT(rounded >= bytes);
    KV_ASSERT(rounded % 64 == 0);
    return rounded;
}

uint64_t serve_plan_scratch_bytes(uint32_t args_max, uint32_t inline_bytes)
{
    KV_ASSERT(args_max > 0);
    KV_ASSERT(inline_bytes > 0);
    return round_64((uint64_t)args_max * sizeof(struct slice)) + /* parsed arguments */
           round_64(inline_bytes);                               /* unescaped inline args */
}

void serve_init(struct serve *serve, struct region *region, const struct plan *plan,
                const struct cmd_context *shared, struct heap *heap)
{
    KV_ASSERT(shared->conns != NULL);
    KV_ASSERT(shared->clients != NULL);
    KV_ASSERT(shared->block != NULL);
    memset(serve, 0, sizeof(*serve));
    serve->conns = shared->conns;
    serve->clients = shared->clients;
    serve->block = shared->block;
    serve->stats = shared->stats;
    reply_error_observe(stats_error_reply, shared->stats); /* INFO errorstats */
    serve->heap = heap;
    serve->args_fixed_max = plan->args_max;
    serve->args_fixed = region_carve(region, (uint64_t)plan->args_max * sizeof(struct slice), 64);
    serve->scratch.args = serve->args_fixed;
    serve->scratch.args_max = plan->args_max;
    serve->scratch.arg_bytes_max = plan->arg_bytes_max;
    serve->scratch.bulk_bytes_limit = plan->bulk_bytes_limit;
    serve->scratch.inline_bytes = region_carve(region, plan->inline_bytes, 64);
    serve->shared = *shared;
    serve->shared.scratch = &serve->scratch;
    serve->shared.client = NULL;
    serve->shared.reply = (struct reply){0};
    serve->shared.mode = CMD_MODE_DIRECT;
    serve->shared.outcome = (struct cmd_outcome){0};
    if (serve->shared.tracking != NULL) {
        /* Invalidations reach clients through the shared context's conns and clients. */
        tracking_sender_set(serve->shared.tracking, cmd_tracking_send, cmd_tracking_client,
                            &serve->shared);
    }
    KV_ASSERT(serve->clients->slot_count == serve->conns->slot_count);
}

void serve_tracking_deliver(struct serve *serve)
{
    if (serve->shared.tracking != NULL) {
        tracking_deliver(serve->shared.tracking);
    }
}

void serve_pass_end(struct serve *serve)
{
    if (serve->shared.tracking != NULL) {
        tracking_broadcast(serve->shared.tracking); /* BCAST: once per pass, as Redis */
    }
    propagate_pass_end(); /* the AOF's writes of this pass (always: with a linked fsync) */
}

/* A command's context: the shared part, this client, its output as the reply. */
static struct cmd_context context_for(const struct serve *serve, uint32_t slot_index)
{
    struct cmd_context context = serve->shared;
    context.client = client_at(serve->clients, slot_index);
    context.reply = conn_reply(serve->conns, conn_at(serve->conns, slot_index));
    context.reply.resp3 = client_resp3(context.client);
    KV_ASSERT(context.client->id != 0);
    KV_ASSERT(context.client->slot_index == slot_index);
    /* Fresh for each command: nothing of the last one carries over. */
    KV_ASSERT(!context.outcome.block);
    return context;
}

/* A command with more arguments than the fixed scratch holds borrows an array from the heap
 * until it has run (args_restore); false when the heap has none. */
static bool args_reserve(struct serve *serve, uint32_t arg_count)
{
    if (arg_count <= serve->scratch.args_max) {
        return true;
    }
    KV_ASSERT(serve->scratch.args == serve->args_fixed); /* one command borrows at a time */
    struct slice *args =
        heap_alloc_reserve(serve->heap, (uint64_t)arg_count * sizeof(struct slice));
    if (args == NULL) {
        return false;
    }
    serve->scratch.args = args;
    serve->scratch.args_max = arg_count;
    return true;
}

/* Gives a borrowed array back once its command has run. */
static void args_restore(struct serve *serve)
{
    if (serve->scratch.args != serve->args_fixed) {
        heap_release(serve->heap, serve->scratch.args);
        serve->scratch.args = serve->args_fixed;
        serve->scratch.args_max = serve->args_fixed_max;
    }
    KV_ASSERT(serve->scratch.args_max == serve->args_fixed_max);
}

/* resp_parse over a connection's bytes, giving the scratch the arguments a whole command
 * needs. RESP_NEED_ARGS comes back only when the heap had no room for them. */
static enum resp_status parse(struct serve *serve, struct conn *conn,
                              struct resp_command *command)
{
    enum resp_status status = resp_parse(&conn->parser, &serve->scratch, conn->recv,
                                         conn->recv_length, serve->conns->recv_limit, command);
    if (status == RESP_NEED_ARGS && !serve->busy && args_reserve(serve, command->arg_count)) {
        status = resp_parse(&conn->parser, &serve->scratch, conn->recv, conn->recv_length,
                            serve->conns->recv_limit, command);
        KV_ASSERT(status == RESP_COMMAND); /* the same whole command, now with room */
    }
    return status;
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
    KV_ASSERT(conn->out_bytes == 0); /* a new client has been told nothing yet */
    if (known) {
        addr_format(conn, ipv4, port);
    }
    if (known && protected_refuses(config, ipv4)) {
        /* Told why, as Redis tells it, then closed once the line is sent. */
        struct reply reply = conn_reply(serve->conns, conn);
        struct slice line = protected_denied_line();
        reply_raw(&reply, line.bytes, line.length);
        conn_reply_keep(serve->conns, conn, &reply);
        conn->close_after_send = true;
        conn->dead = reply.failed; /* no memory even for the line: closed without a word */
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
        struct client *client = client_at(serve->clients, slot_index);
        if (serve->shared.tracking != NULL) {
            tracking_disable(serve->shared.tracking, &client->tracking); /* its counts go */
        }
        client_close(serve->clients, client);
    }
    conn_closing(serve->conns, conn);
    /* Its client is gone (a refused socket never had one) and waits on nothing. */
    KV_ASSERT(client_at(serve->clients, slot_index)->id == 0);
    KV_ASSERT(!block_is_blocked(serve->block, slot_index));
}

/* A client that cannot go on for lack of memory (its command cannot be held, its reply
 * cannot be written): closed, counted, logged once; nothing stored is touched. */
static void out_of_memory(struct serve *serve, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    if (!conn->dead) {
        serve->stats->memory_disconnects++;
        conn_kill(serve->conns, conn);
    }
    KV_ASSERT(conn->dead);
}

uint32_t serve_recv_room(struct serve *serve, uint32_t slot_index, uint8_t **into)
{
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN);
    struct txn *txn = &client_at(serve->clients, slot_index)->txn;
    uint32_t droppable = txn_droppable(txn, conn->parser.command_start);
    txn_shift(txn, conn_recv_compact(conn, droppable));
    if (conn->recv_length == 0) {
        conn_recv_shrink(serve->conns, conn);
    }
    uint32_t room = conn_recv_room(conn, into);
    /* Full, and the parser waits for the rest of a command: the buffer grows to hold it.
     * Whole commands waiting (the pause, SERVE_COMMANDS_PER_PASS) run first instead. */
    if (room == 0 && conn->recv_partial) {
        uint64_t wanted = conn->parser.command_start + resp_parser_wanted(&conn->parser);
        if (conn_recv_grow(serve->conns, conn, wanted)) {
            room = conn_recv_room(conn, into);
        } else if (conn->recv_capacity < serve->conns->recv_limit) {
            out_of_memory(serve, conn); /* below the limit, the heap had no room */
        } else if (txn_holds(txn)) {
            /* Queued commands and a partial one fill the largest buffer: the transaction
             * is too large to hold. It fails (EXEC will abort), its queue goes, and the
             * partial command stays. */
            txn_overflow(txn);
            (void)conn_recv_compact(conn, conn->parser.command_start);
            room = conn_recv_room(conn, into);
        }
    }
    KV_ASSERT(room <= conn->recv_capacity - conn->recv_length);
    return room;
}

/* After a reply was written: closes a client whose reply found no memory, or whose output
 * passed its class's client-output-buffer-limit (hard at once, soft after its seconds), as
 * Redis closes it. False when it was closed. */
static bool output_check(struct serve *serve, struct conn *conn, const struct client *client,
                         bool failed)
{
    if (failed) {
        out_of_memory(serve, conn);
        return false;
    }
    const struct config *config = serve->shared.config;
    const struct config_output_limit *limit =
        &config->output_limits[client_subscribed(client) ? CONFIG_CLIENT_PUBSUB
                                                         : CONFIG_CLIENT_NORMAL];
    int64_t now_ms = serve->shared.store->now_ms;
    bool soft = limit->soft_bytes != 0 && conn->out_bytes > limit->soft_bytes;
    if (!soft) {
        conn->output_soft_since_ms = 0;
    } else if (conn->output_soft_since_ms == 0) {
        conn->output_soft_since_ms = now_ms;
    }
    bool over = (limit->hard_bytes != 0 && conn->out_bytes > limit->hard_bytes) ||
                (soft && now_ms - conn->output_soft_since_ms >
                             (int64_t)limit->soft_seconds * 1000);
    if (over && !conn->dead) {
        serve->stats->output_limit_disconnects++;
        conn_kill(serve->conns, conn);
    }
    return !over;
}

/* Answers a protocol error or a refusal from the parser. */
static void answer_parse_error(struct serve *serve, struct reply *reply,
                               const struct resp_command *command, enum resp_status status)
{
    KV_ASSERT(status != RESP_COMMAND);
    KV_ASSERT(status != RESP_NEED_MORE);
    uint64_t total_before = reply->total;
    reply_resp_error(reply, command->error, command->error_byte);
    KV_ASSERT(reply->failed || reply->total > total_before);
    if (status == RESP_PROTOCOL_ERROR) {
        serve->stats->protocol_errors++;
    } else {
        serve->stats->refused_commands++;
    }
}

/* A command arrives inside MULTI: an admitted one is answered QUEUED and its bytes stay in
 * the receive buffer for EXEC; a refused one fails the transaction, as in Redis. */
/* Whether a command may write or replicate, as Redis 7.0's is_may_replicate_command decides
 * what CLIENT PAUSE WRITE holds: a write, one of the MAY_REPLICATE commands (EVAL but one
 * whose shebang says no-writes, EVALSHA, FCALL, PFCOUNT, PUBLISH, SPUBLISH: kv does not look
 * up an EVALSHA's or FCALL's flags), or an EXEC whose queue holds one. */
static bool pause_may_write(const struct client *client, const struct slice *args,
                            uint32_t arg_count, uint32_t position)
{
    static const char *const may_replicate[] = {"evalsha", "fcall", "pfcount", "publish",
                                                "spublish"};
    KV_ASSERT(arg_count >= 1);
    if (cmd_flags(cmd_of(position)) & CMD_FLAG_WRITE) {
        return true;
    }
    if (cmd_arg_is(args[0], "exec")) {
        return client->txn.active && client->txn_writes;
    }
    if (cmd_arg_is(args[0], "eval")) {
        if (arg_count < 2 || args[1].length < 2 || memcmp(args[1].bytes, "#!", 2) != 0) {
            return true;
        }
        const uint8_t *line_end = memchr(args[1].bytes, '\n', args[1].length);
        uint32_t line_bytes = line_end != NULL ? (uint32_t)(line_end - args[1].bytes)
                                               : args[1].length;
        /* Bounded by the shebang line. */
        for (uint32_t at = 0; at + 9 <= line_bytes; at++) {
            if (memcmp(args[1].bytes + at, "no-writes", 9) == 0) {
                return false;
            }
        }
        return true;
    }
    /* Bounded by the names. */
    for (size_t index = 0; index < sizeof(may_replicate) / sizeof(may_replicate[0]); index++) {
        if (cmd_arg_is(args[0], may_replicate[index])) {
            return true;
        }
    }
    return false;
}

/* The pause is over (CLIENT UNPAUSE, or its end passed): every connection with a command
 * left in its input is read again. Bounded by the connection slots, once per pause. */
static void pause_resume(struct serve *serve)
{
    serve->clients->pause = CLIENTS_PAUSE_OFF;
    serve->clients->pause_ended = false;
    for (uint32_t slot = 0; slot < serve->conns->slot_count; slot++) {
        const struct conn *conn = conn_at(serve->conns, slot);
        if (conn->state == CONN_OPEN && client_at(serve->clients, slot)->id != 0 &&
            conn->parser.command_start < conn->recv_length) {
            conn_ready_push(serve->conns, slot);
        }
    }
}

/* Whether CLIENT PAUSE holds this admitted command: it stays in its client's input, not
 * read again until the pause ends (pause_resume), as Redis postpones its client. */
static bool pause_holds(struct serve *serve, const struct client *client,
                        const struct slice *args, uint32_t arg_count, uint32_t position)
{
    struct clients *clients = serve->clients;
    if (clients->pause == CLIENTS_PAUSE_OFF) {
        return false;
    }
    if (clients->pause_end_ms < clients_clock_ms()) {
        pause_resume(serve);
        return false;
    }
    return clients->pause == CLIENTS_PAUSE_ALL ||
           pause_may_write(client, args, arg_count, position);
}

/* Queues an admitted command (MULTI is on, the command is not one that runs at once):
 * "+QUEUED", or the "too large" error once the queue outgrew the receive buffer. */
static void multi_queue_admitted(struct serve *serve, struct cmd_context *context,
                                 uint32_t position, uint32_t command_start, uint32_t arg_count)
{
    struct txn *txn = &context->client->txn;
    KV_ASSERT(txn->active);
    KV_ASSERT(cmd_of(position) != NULL);
    if (txn->overflowed) {
        reply_error_format(&context->reply, REPLY_ERROR_TRANSACTION_TOO_LARGE,
                           serve->conns->recv_limit);
        txn->overflowed = false;
        KV_ASSERT(txn->failed);
        return;
    }
    struct client *client = context->client;
    if (txn->queued == 0) {
        client->txn_writes = false; /* a new queue */
    }
    client->txn_writes = client->txn_writes ||
                         pause_may_write(client, serve->scratch.args, arg_count, position);
    txn_queue(txn, command_start, arg_count);
    txn->denyoom = txn->denyoom || cmd_denyoom(position);
    KV_ASSERT(txn->failed || txn->queued > 0);
    reply_simple(&context->reply, "QUEUED");
}

/* Queues a command inside MULTI (after Redis's checks); true when CLIENT PAUSE holds it
 * instead (nothing answered, nothing consumed). */
static bool multi_queue(struct serve *serve, struct cmd_context *context, uint32_t position,
                        uint32_t command_start, uint32_t arg_count)
{
    struct txn *txn = &context->client->txn;
    KV_ASSERT(txn->active);
    /* Redis looks the subcommand up before it queues (an unknown one fails the MULTI). */
    if ((cmd_of(position) != NULL &&
         script_subcommand_refused(&context->reply, serve->scratch.args, arg_count)) ||
        !cmd_admit(context, position, serve->scratch.args, arg_count) ||
        !cmd_memory_admit(context, position, serve->scratch.args, arg_count, true)) {
        txn_fail(txn);
        return false;
    }
    if (cmd_flags(cmd_of(position)) & CMD_FLAG_NO_TXN) {
        /* SHUTDOWN and its like are refused inside MULTI, and EXEC then aborts (WATCH,
         * which runs at once, refuses itself in its own words). */
        reply_error(&context->reply, REPLY_ERROR_NOT_IN_TRANSACTION);
        txn_fail(txn);
        return false;
    }
    if (pause_holds(serve, context->client, serve->scratch.args, arg_count, position)) {
        return true;
    }
    multi_queue_admitted(serve, context, position, command_start, arg_count);
    return false;
}

/* A blocking command found nothing: its client waits on the keys it named. False when
 * blocking_keys_max or the heap refuses: the command was answered with an error instead. */
static bool block_begin(struct serve *serve, struct cmd_context *context)
{
    const struct cmd_outcome *outcome = &context->outcome;
    KV_ASSERT(outcome->block);
    KV_ASSERT(outcome->block_key_count > 0);
    KV_ASSERT(!block_is_blocked(serve->block, context->client->slot_index));
    enum block_status status =
        block_add(serve->block, context->client->slot_index,
                  &serve->scratch.args[outcome->block_key_first], outcome->block_key_count,
                  outcome->block_deadline_ms);
    if (status == BLOCK_OK) {
        KV_ASSERT(block_is_blocked(serve->block, context->client->slot_index));
        context->client->unblock_error = false; /* only a CLIENT UNBLOCK of this wait sets it */
        return true;
    }
    reply_error(&context->reply,
                status == BLOCK_OOM ? REPLY_ERROR_OOM : REPLY_ERROR_BLOCKING_KEYS_FULL);
    return false;
}

/* Runs a blocked client's command again: true if it was served (answered, consumed,
 * unblocked and queued to go on), false if it still finds nothing. */
static bool block_retry(struct serve *serve, uint32_t slot_index)
{
    KV_ASSERT(block_is_blocked(serve->block, slot_index));
    struct conn *conn = conn_at(serve->conns, slot_index);
    KV_ASSERT(conn->state == CONN_OPEN); /* a client that leaves is unblocked first */
    struct resp_command command;
    enum resp_status status = parse(serve, conn, &command);
    if (status != RESP_COMMAND) {
        KV_ASSERT(status == RESP_NEED_ARGS); /* it was parsed whole when it blocked */
        return false; /* no memory for its arguments now: it waits for the next chance */
    }
    struct cmd_context context = context_for(serve, slot_index);
    context.mode = CMD_MODE_RETRY;
    uint32_t position = cmd_find(serve->scratch.args, command.arg_count);
    KV_ASSERT(position != CMD_NONE); /* it was admitted when it blocked */
    cmd_run(&context, position, serve->scratch.args, command.arg_count);
    args_restore(serve);
    if (context.outcome.block) {
        return false; /* still nothing: it keeps waiting on the same keys */
    }
    resp_parser_consume(&conn->parser, command.end);
    conn_reply_keep(serve->conns, conn, &context.reply);
    block_remove(serve->block, slot_index);
    conn_ready_push(serve->conns, slot_index);
    (void)output_check(serve, conn, context.client, context.reply.failed);
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
    uint64_t rounds_max = block_key_count(block) + block->client_count + 1u;
    uint32_t key_slot = 0;
    for (uint64_t round = 0; round < rounds_max && block_ready_pop(block, &key_slot); round++) {
        uint32_t link = 0;
        uint32_t client = 0;
        bool more = block_waiter_first(block, key_slot, &link, &client);
        block->serving_key = more ? block_key_name(block, key_slot) : (struct slice){0};
        /* Bounded by the key's waiters: each step moves one link along its wait list. */
        while (more) {
            uint32_t next_link = link;
            uint32_t next_client = 0;
            bool has_next = block_waiter_next(block, &next_link, &next_client);
            /* Serving removes this client's links only: the next link stays, and with it
             * the key; without a next one the key may be gone, and the walk ends. */
            (void)block_retry(serve, client);
            KV_ASSERT(!has_next || block_link_is(block, next_link, next_client));
            link = next_link;
            client = next_client;
            more = has_next;
        }
        block->serving_key = (struct slice){0}; /* the key may be gone with its last waiter */
    }
    KV_ASSERT(!block_ready_pending(block));
}

/* Whether a command's whole reply is pushes that CLIENT REPLY never silences (Redis 7.0 sends
 * the (un)subscribe confirmations as pushes). */
static bool reply_is_push_only(const struct slice *args)
{
    static const char *const names[] = {"subscribe",  "unsubscribe",  "psubscribe",
                                        "punsubscribe", "ssubscribe", "sunsubscribe"};
    /* Bounded by the names. */
    for (size_t index = 0; index < sizeof(names) / sizeof(names[0]); index++) {
        if (cmd_arg_is(args[0], names[index])) {
            return true;
        }
    }
    return false;
}

/* CLIENT REPLY after a command is done (answered, queued or refused): its reply, written
 * since `start`, is dropped unless the client's replies are on, and SKIP moves on (SKIP_NEXT,
 * set by this command, skips the next one; SKIP, this one's, is over). */
static void reply_mode_after(struct client *client, struct reply *reply, uint64_t start,
                             const struct slice *args)
{
    KV_ASSERT(reply->total >= start);
    if (client->reply_mode == CLIENT_REPLY_ON) {
        return;
    }
    if (!reply->failed && reply->total > start && (args == NULL || !reply_is_push_only(args))) {
        reply->mark = start;
        reply_truncate(reply);
        KV_ASSERT(reply->total == start);
    }
    if (client->reply_mode == CLIENT_REPLY_SKIP) {
        client->reply_mode = CLIENT_REPLY_ON;
    } else if (client->reply_mode == CLIENT_REPLY_SKIP_NEXT) {
        client->reply_mode = CLIENT_REPLY_SKIP;
    }
}

/* Runs one parsed command that is not queued: admit, then run. `position` is cmd_find's
 * answer for it (serve_one looked it up already). Returns false when its client blocked
 * (the command stays unconsumed for its retry). */
static bool run_command(struct serve *serve, struct conn *conn, uint32_t slot_index,
                        const struct resp_command *command, uint32_t position)
{
    KV_ASSERT(command->arg_count >= 1);
    KV_ASSERT(position == CMD_NONE || cmd_of(position) != NULL);
    struct tracking *tracking = serve->shared.tracking;
    if (tracking != NULL && tracking->tracking_count > 0) {
        /* tracking-table-max-keys, before the command as Redis's processCommand checks it
         * (and before this command's writer exists: the invalidations go out first). */
        const struct client *client = client_at(serve->clients, slot_index);
        tracking_limit(tracking, slot_index, client->id);
    }
    struct cmd_context context = context_for(serve, slot_index);
    const struct txn *txn = &context.client->txn;
    uint64_t reply_start = context.reply.total;
    bool admitted =
        cmd_admit(&context, position, serve->scratch.args, command->arg_count) &&
        cmd_memory_admit(&context, position, serve->scratch.args, command->arg_count, false) &&
        (!txn->active || args_reserve(serve, txn->args_max));
    if (admitted &&
        pause_holds(serve, context.client, serve->scratch.args, command->arg_count, position)) {
        return false; /* held by CLIENT PAUSE: the command stays until the pause ends */
    }
    if (admitted) {
        /* EXEC re-reads its queue into the scratch: it has room for the largest command. */
        cmd_run(&context, position, serve->scratch.args, command->arg_count);
        if (context.outcome.block && block_begin(serve, &context)) {
            return false; /* nothing to pop yet: the command stays for its retry */
        }
    } else if (txn->active && !context.reply.failed && reply_since_mark(&context.reply) == 0) {
        reply_error(&context.reply, REPLY_ERROR_OOM); /* no room for EXEC's arguments */
    }
    resp_parser_consume(&conn->parser, command->end);
    reply_mode_after(context.client, &context.reply, reply_start, serve->scratch.args);
    conn_reply_keep(serve->conns, conn, &context.reply);
    KV_ASSERT(!conn->close_after_send); /* serve_input stops once it is set */
    conn->close_after_send = context.outcome.close_after_reply;
    serve->shutdown_requested = serve->shutdown_requested || context.outcome.shutdown;
    (void)output_check(serve, conn, context.client, context.reply.failed);
    if (serve->clients->pause_ended) {
        pause_resume(serve); /* CLIENT UNPAUSE */
    }
    if (serve->clients->unblock_count > 0) {
        /* CLIENT UNBLOCK made their timeouts due: answered now, as Redis unblocks them at
         * once (before keys this command filled could serve them). */
        serve->clients->unblock_count = 0;
        serve_block_timeouts(serve, CLIENT_UNBLOCK_DEADLINE_MS);
    }
    if (block_ready_pending(serve->block)) {
        wake_ready(serve);
    }
    /* The reply is in its client's output: the invalidations it caused follow it. */
    serve_tracking_deliver(serve);
    return true;
}

/* One command read during a busy pass, as Redis 7.0's processCommand orders its checks:
 * the command and its subcommand looked up, arity, authentication, MULTI's refusal of
 * SHUTDOWN and its like, the subscribed context; then -BUSY unless the command is one of
 * the ALLOW_BUSY ones (script_busy_allows), which runs, or is queued inside MULTI (all but
 * MULTI, EXEC, DISCARD, WATCH, QUIT and RESET). A refused command fails a transaction, as
 * Redis's rejectCommand flags it; a refused EXEC aborts the transaction with the BUSY
 * reason, as its execCommandAbort does (MULTI or not: the watches go too). */
static void busy_one(struct serve *serve, struct conn *conn, uint32_t slot_index,
                     const struct resp_command *command, uint32_t position,
                     uint32_t command_start)
{
    KV_ASSERT(serve->busy);
    struct cmd_context context = context_for(serve, slot_index);
    struct txn *txn = &context.client->txn;
    const struct slice *args = serve->scratch.args;
    uint32_t arg_count = command->arg_count;
    const struct cmd *cmd = cmd_of(position);
    uint64_t reply_start = context.reply.total;
    bool admitted = (cmd == NULL || !script_subcommand_refused(&context.reply, args,
                                                                    arg_count)) &&
                    cmd_admit(&context, position, args, arg_count);
    uint32_t flags = admitted ? cmd_flags(cmd) : 0;
    if (admitted && txn->active && (flags & CMD_FLAG_NO_TXN)) {
        reply_error(&context.reply, REPLY_ERROR_NOT_IN_TRANSACTION);
        admitted = false;
    }
    if (admitted && script_busy_allows(args, arg_count)) {
        if (txn->active && !(flags & CMD_FLAG_TXN)) {
            multi_queue_admitted(serve, &context, position, command_start, arg_count);
        } else {
            cmd_run(&context, position, args, arg_count);
        }
    } else if (admitted && cmd_arg_is(args[0], "exec")) {
        bool eval = script_busy_error(serve->shared.script) == REPLY_ERROR_BUSY_SCRIPT;
        reply_error(&context.reply, eval ? REPLY_ERROR_EXECABORT_BUSY_SCRIPT
                                         : REPLY_ERROR_EXECABORT_BUSY_FUNCTION);
        txn_reset(txn, context.watch);
    } else {
        if (admitted) {
            reply_error(&context.reply, script_busy_error(serve->shared.script));
        }
        if (txn->active) {
            txn_fail(txn);
        }
    }
    KV_ASSERT(!context.outcome.block); /* nothing that runs now blocks */
    serve->shutdown_requested = serve->shutdown_requested || context.outcome.shutdown;
    resp_parser_consume(&conn->parser, command->end);
    reply_mode_after(context.client, &context.reply, reply_start, args);
    conn_reply_keep(serve->conns, conn, &context.reply);
    conn->close_after_send = context.outcome.close_after_reply;
    (void)output_check(serve, conn, context.client, context.reply.failed);
}

/* Whether a busy pass may read the connection's next command: a multibulk one (an inline
 * request may need the running command's unescaping room, so it waits). */
static bool busy_readable(const struct conn *conn)
{
    const struct resp_parser *parser = &conn->parser;
    return parser->phase != RESP_PHASE_START || parser->command_start >= conn->recv_length ||
           conn->recv[parser->command_start] == '*';
}

void serve_busy_begin(struct serve *serve)
{
    KV_ASSERT(!serve->busy);
    KV_ASSERT(serve->shared.script != NULL && script_busy(serve->shared.script));
    serve->saved_scratch = serve->scratch;
    serve->scratch.args = serve_busy_args;
    serve->scratch.args_max = SERVE_BUSY_ARGS_MAX;
    serve->scratch.inline_bytes = NULL; /* no inline request is read in a busy pass */
    serve->busy = true;
}

void serve_busy_end(struct serve *serve)
{
    KV_ASSERT(serve->busy);
    KV_ASSERT(serve->scratch.args == serve_busy_args);
    serve->scratch = serve->saved_scratch;
    serve->busy = false;
}

/* Parses and answers or queues one command; false when the connection must wait. */
static bool serve_one(struct serve *serve, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(!conn->close_after_send);
    struct resp_command command;
    uint32_t command_start = conn->parser.command_start;
    if (command_start == conn->recv_length && resp_parser_idle(&conn->parser)) {
        /* Everything received has run (the usual end of a turn): nothing to parse. */
        conn->recv_partial = true; /* as resp_parse's RESP_NEED_MORE would leave it */
        return false;
    }
    enum resp_status status = parse(serve, conn, &command);
    if (status == RESP_NEED_MORE) {
        conn->recv_partial = true;
        return false;
    }
    if (status == RESP_NEED_ARGS && serve->busy) {
        conn_ready_push(serve->conns, slot_index); /* read once the script has ended */
        return false;
    }
    if (status == RESP_NEED_ARGS) {
        out_of_memory(serve, conn); /* no room for its arguments: it cannot be run */
        return false;
    }
    struct client *client = client_at(serve->clients, slot_index);
    if (status != RESP_COMMAND) {
        struct reply reply = conn_reply(serve->conns, conn);
        uint64_t reply_start = reply.total;
        answer_parse_error(serve, &reply, &command, status);
        if (client->txn.active) {
            txn_fail(&client->txn);
        }
        reply_mode_after(client, &reply, reply_start, NULL);
        conn_reply_keep(serve->conns, conn, &reply);
        conn->close_after_send = status == RESP_PROTOCOL_ERROR;
        (void)output_check(serve, conn, client, reply.failed);
        return true;
    }
    KV_ASSERT(command.arg_count >= 1);
    uint32_t position = cmd_find(serve->scratch.args, command.arg_count);
    if (serve->busy) {
        busy_one(serve, conn, slot_index, &command, position, command_start);
        return true;
    }
    bool ran = true;
    if (client->txn.active && !(cmd_flags(cmd_of(position)) & CMD_FLAG_TXN)) {
        struct cmd_context context = context_for(serve, slot_index);
        uint64_t reply_start = context.reply.total;
        if (multi_queue(serve, &context, position, command_start, command.arg_count)) {
            args_restore(serve);
            return false; /* held by CLIENT PAUSE: read again when it ends */
        }
        resp_parser_consume(&conn->parser, command.end);
        reply_mode_after(client, &context.reply, reply_start, serve->scratch.args);
        conn_reply_keep(serve->conns, conn, &context.reply);
        (void)output_check(serve, conn, client, context.reply.failed);
    } else {
        ran = run_command(serve, conn, slot_index, &command, position);
    }
    args_restore(serve);
    return ran;
}

static void clients_check(struct serve *serve);

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
        /* A client that does not read its replies waits until it does. */
        if (conn->out_bytes > SERVE_OUTPUT_PAUSE_BYTES) {
            return false;
        }
        if (serve->busy && !busy_readable(conn)) {
            conn_ready_push(serve->conns, slot_index); /* read once the script has ended */
            return false;
        }
        if (!serve_one(serve, conn, slot_index)) {
            clients_check(serve);
            return false;
        }
    }
    clients_check(serve);
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
    enum resp_status status = parse(serve, conn, &command);
    args_restore(serve);
    if (status == RESP_NEED_ARGS) {
        out_of_memory(serve, conn); /* it cannot be told: closed instead */
        block_remove(serve->block, slot_index);
        return;
    }
    KV_ASSERT(status == RESP_COMMAND); /* it was parsed whole when it blocked */
    resp_parser_consume(&conn->parser, command.end);
    struct reply reply = conn_reply(serve->conns, conn);
    struct client *client = client_at(serve->clients, slot_index);
    reply.resp3 = client_resp3(client);
    if (client->unblock_error) {
        reply_error(&reply, REPLY_ERROR_UNBLOCKED); /* CLIENT UNBLOCK ... ERROR */
        client->unblock_error = false;
    } else {
        reply_null_array(&reply);
    }
    conn_reply_keep(serve->conns, conn, &reply);
    block_remove(serve->block, slot_index);
    conn_ready_push(serve->conns, slot_index);
    (void)output_check(serve, conn, client_at(serve->clients, slot_index), reply.failed);
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
        if (deadline_ms != 0 && deadline_ms <= now_ms) {
            serve_block_timeouts_answer(serve, conn_at(serve->conns, slot_index), slot_index);
        }
        slot_index = next;
    }
    KV_ASSERT(block->blocked_count <= blocked_count); /* timeouts only unblock */
}

/* maxmemory-clients in bytes: the option's bytes, or its share of maxmemory; 0: none. */
static uint64_t clients_limit(const struct config *config)
{
    if (config->maxmemory_clients_percent != 0) {
        return config->maxmemory / 100u * config->maxmemory_clients_percent;
    }
    return config->maxmemory_clients;
}

/* The live client holding the most buffer memory that may be evicted, or UINT32_MAX. */
static uint32_t clients_largest(const struct serve *serve, uint64_t *bytes)
{
    uint32_t largest = UINT32_MAX;
    *bytes = 0;
    /* Bounded by the slot count. */
    for (uint32_t slot_index = 0; slot_index < serve->conns->slot_count; slot_index++) {
        const struct conn *conn = conn_at(serve->conns, slot_index);
        if (!conn_live(conn) || client_at(serve->clients, slot_index)->no_evict) {
            continue;
        }
        uint64_t memory = conn_memory(serve->conns, conn);
        if (memory > *bytes) {
            *bytes = memory;
            largest = slot_index;
        }
    }
    return largest;
}

void serve_clients_evict(struct serve *serve)
{
    struct clients *clients = serve->clients;
    if (clients->pause != CLIENTS_PAUSE_OFF && clients->pause_end_ms < clients_clock_ms()) {
        pause_resume(serve); /* CLIENT PAUSE's end passed: its held clients go on */
    }
    uint64_t limit = clients_limit(serve->shared.config);
    if (limit == 0) {
        return;
    }
    /* A killed client's bytes go back when the loop closes it: count them gone now. */
    uint64_t held = serve->conns->memory_bytes;
    /* Bounded by the slots: each pass kills one live client or stops. */
    for (uint32_t pass = 0; pass < serve->conns->slot_count && held > limit; pass++) {
        uint64_t bytes = 0;
        uint32_t slot_index = clients_largest(serve, &bytes);
        if (slot_index == UINT32_MAX) {
            return;
        }
        conn_kill(serve->conns, conn_at(serve->conns, slot_index));
        serve->stats->evicted_clients++;
        KV_ASSERT(bytes <= held);
        held -= bytes;
    }
}

/* After serving a connection: the cheap test first, the walk only when over. */
static void clients_check(struct serve *serve)
{
    if (serve->busy) {
        return; /* eviction could pick the client whose script runs: after the script */
    }
    uint64_t limit = clients_limit(serve->shared.config);
    if (limit != 0 && serve->conns->memory_bytes > limit) {
        serve_clients_evict(serve);
    }
}

void serve_verify(const struct serve *serve)
{
    conns_verify(serve->conns);
    block_verify(serve->block);
    KV_ASSERT(serve->scratch.args == serve->args_fixed); /* borrowed only during a command */
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
