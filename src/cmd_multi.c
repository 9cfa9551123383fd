/*
 * Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's semantics. Commands
 * sent after MULTI are checked and answered QUEUED by the serving layer, their bytes kept in
 * the receive buffer (txn.h); a refused one fails the transaction and EXEC answers
 * EXECABORT. EXEC walks the queue and runs each command in order with nothing in between
 * (one thread), or answers a null array when a watched key changed since WATCH (store writes
 * touch watch.c). It runs the commands itself, through cmd_run: nothing calls back up into
 * the serving layer.
 */
#include "cmd_handlers.h"

#include "client.h"
#include "conn.h"
#include "resp.h"
#include "txn.h"
#include "watch.h"


CMD_HANDLER(cmd_multi)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    struct txn *txn = &context->client->txn;
    if (txn->active) {
        reply_error(&context->reply, REPLY_ERROR_MULTI_NESTED);
        return;
    }
    txn_begin(txn);
    reply_ok(&context->reply);
    KV_ASSERT(txn->active);
    KV_ASSERT(txn->queued == 0);
}

/* Whether a watched key changed: touched since WATCH, or expired by now (a key whose time
 * passed is removed by the lookup, and the removal touches it). */
static bool watched_changed(struct cmd_context *context)
{
    KV_ASSERT(context->client->txn.active); /* EXEC checks before it runs the queue */
    const struct watch_list *watches = &context->client->txn.watches;
    uint32_t link_ref = watches->head;
    struct slice key;
    uint32_t db_index = 0;
    /* Bounded by the client's watch count. */
    for (uint32_t step = 0; step < watches->count; step++) {
        bool more = watch_next(context->watch, &link_ref, &key, &db_index);
        KV_ASSERT(more);
        store_select(context->store, db_index); /* where it was watched */
        store_expire_due(context->store, key);
    }
    store_select(context->store, context->client->db_index);
    return watch_changed(context->watch, watches);
}

/* Walks the queue of the calling client's transaction: the next queued command (skipping
 * the ones that ran at once while queueing) with its arguments in the scratch. */
static bool exec_next(const struct cmd_context *context, struct txn_walk *walk,
                      uint32_t *position, uint32_t *arg_count)
{
    KV_ASSERT(context->client->txn.active);
    const struct conn *conn = conn_at(context->conns, context->client->slot_index);
    /* Bounded: each step consumes a whole command of the queue region. */
    while (txn_walk_next(walk, context->scratch, conn->recv, context->conns->recv_limit,
                         arg_count)) {
        KV_ASSERT(*arg_count >= 1);
        *position = cmd_find(context->scratch->args, *arg_count);
        if (!(cmd_flags(cmd_of(*position)) & CMD_FLAG_TXN)) {
            KV_ASSERT(*position != CMD_NONE); /* it was admitted when queued */
            return true;
        }
    }
    return false;
}

/* Where the queue ends: EXEC's own command, not yet consumed. */
static uint32_t exec_queue_end(const struct cmd_context *context)
{
    const struct conn *conn = conn_at(context->conns, context->client->slot_index);
    KV_ASSERT(conn->parser.command_start < conn->recv_length); /* EXEC itself is there */
    KV_ASSERT(!txn_holds(&context->client->txn) ||
              context->client->txn.queue_start < conn->parser.command_start);
    return conn->parser.command_start;
}

/* Runs the queue inside one array; the replies are as large as they come (the output grows). */
static void exec_run(struct cmd_context *context)
{
    struct txn *txn = &context->client->txn;
    KV_ASSERT(txn->active);
    KV_ASSERT(!txn->failed);
    uint32_t queued = txn->queued;
    reply_array(&context->reply, queued);
    struct txn_walk walk;
    txn_walk_start(txn, &walk, exec_queue_end(context));
    uint32_t ran = 0;
    uint32_t position = CMD_NONE;
    uint32_t arg_count = 0;
    context->mode = CMD_MODE_EXEC; /* blocking commands answer at once inside a transaction */
    while (ran < queued && exec_next(context, &walk, &position, &arg_count)) {
        cmd_run(context, position, context->scratch->args, arg_count);
        KV_ASSERT(!context->outcome.block);
        ran++;
    }
    context->mode = CMD_MODE_DIRECT;
    KV_ASSERT(ran == queued);
    txn_reset(txn, context->watch);
    KV_ASSERT(!txn->active);
}

CMD_HANDLER(cmd_exec)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    struct txn *txn = &context->client->txn;
    if (!txn->active) {
        reply_error(&context->reply, REPLY_ERROR_EXEC_WITHOUT_MULTI);
        return;
    }
    if (txn->failed) {
        reply_error(&context->reply, REPLY_ERROR_EXECABORT);
        txn_reset(txn, context->watch);
        return;
    }
    if (watched_changed(context)) {
        reply_null_array(&context->reply);
        txn_reset(txn, context->watch);
        return;
    }
    exec_run(context);
    KV_ASSERT(!txn->active); /* EXEC ends the transaction, whatever it answered */
}

CMD_HANDLER(cmd_discard)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    struct txn *txn = &context->client->txn;
    if (!txn->active) {
        reply_error(&context->reply, REPLY_ERROR_DISCARD_WITHOUT_MULTI);
        return;
    }
    txn_reset(txn, context->watch);
    reply_ok(&context->reply);
    KV_ASSERT(!txn->active);
    KV_ASSERT(txn->watches.count == 0); /* DISCARD unwatches too, as in Redis */
}

CMD_HANDLER(cmd_watch)
{
    KV_ASSERT(arg_count >= 2);
    struct txn *txn = &context->client->txn;
    if (txn->active) {
        reply_error(&context->reply, REPLY_ERROR_WATCH_INSIDE_MULTI);
        return;
    }
    struct store *store = context->store;
    uint32_t count_before = txn->watches.count;
    for (uint32_t index = 1; index < arg_count; index++) {
        struct slice key = args[index];
        if (key.length > store->limits.key_bytes_max) {
            continue; /* Such a key can never exist, so it can never change. */
        }
        /* An expired key goes now, before it is watched, so its removal is not a change. */
        store_expire_due(store, key);
        enum watch_status status =
            watch_add(context->watch, &txn->watches, context->client->slot_index,
                      context->client->db_index, key);
        if (status == WATCH_FULL) {
            /* kv's cap: the keys before it stay watched, as they did with the fixed pool. */
            reply_error(&context->reply, REPLY_ERROR_WATCH_KEYS_FULL);
            return;
        }
        if (status == WATCH_OOM) {
            /* The budget is full: as a command Redis refuses for memory, this WATCH does
             * nothing, so the keys it watched already go again. */
            watch_truncate(context->watch, &txn->watches, count_before);
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
        KV_ASSERT(txn->watches.count > 0);
    }
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_unwatch)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    watch_clear(context->watch, &context->client->txn.watches);
    KV_ASSERT(context->client->txn.watches.count == 0);
    reply_ok(&context->reply);
}

static const struct cmd multi_cmds[] = {
    {"multi", 1, 0, 0, 0, CMD_FLAG_TXN, cmd_multi},
    {"exec", 1, 0, 0, 0, CMD_FLAG_TXN, cmd_exec},
    {"discard", 1, 0, 0, 0, CMD_FLAG_TXN, cmd_discard},
    {"watch", -2, 1, -1, 1, CMD_FLAG_TXN, cmd_watch},
    {"unwatch", 1, 0, 0, 0, 0, cmd_unwatch},
};

CMD_FAMILY(cmd_family_multi, "transactions", multi_cmds);
