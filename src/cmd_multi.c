/*
 * Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's semantics. Commands
 * sent after MULTI are checked and answered QUEUED by the connection (conn.c), their bytes
 * kept in the receive buffer; a refused one fails the transaction and EXEC answers
 * EXECABORT. EXEC runs the queue in order with nothing in between (one thread), or answers
 * a null array when a watched key changed since WATCH (store writes touch watch.c).
 */
#include "cmd_handlers.h"

#include "conn.h"
#include "store_internal.h"
#include "watch.h"

CMD_HANDLER(cmd_multi)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    struct conn_multi *multi = &context->conn->multi;
    if (multi->active) {
        reply_error(&context->reply, REPLY_ERROR_MULTI_NESTED);
        return;
    }
    KV_ASSERT(multi->queued == 0 && !multi->failed);
    multi->active = true;
    reply_ok(&context->reply);
}

/* Whether a watched key changed: touched since WATCH, or expired by now (a key whose time
 * passed is removed by the lookup, and the removal touches it). */
static bool watched_changed(struct cmd_context *context)
{
    const struct watch_list *watches = &context->conn->multi.watches;
    uint32_t link_index = watches->head;
    struct slice key;
    /* Bounded by the client's watch count. */
    for (uint32_t step = 0; step < watches->count; step++) {
        bool more = watch_next(context->watch, &link_index, &key);
        KV_ASSERT(more);
        store_expire_due(context->store, key);
    }
    return watch_changed(context->watch, watches);
}

CMD_HANDLER(cmd_exec)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    struct conn_multi *multi = &context->conn->multi;
    if (!multi->active) {
        reply_error(&context->reply, REPLY_ERROR_EXEC_WITHOUT_MULTI);
        return;
    }
    if (multi->failed) {
        reply_error(&context->reply, REPLY_ERROR_EXECABORT);
        conn_multi_reset(context->conns, context->conn);
        return;
    }
    if (watched_changed(context)) {
        reply_null_array(&context->reply);
        conn_multi_reset(context->conns, context->conn);
        return;
    }
    uint32_t room = context->reply.capacity - context->reply.length;
    if (16u + multi->reply_bytes > room) {
        /* The worst case does not fit: bound each reply by the store as it is now. */
        uint64_t bound = conn_multi_bound(context->conns, context->conn, context);
        if (bound > room) {
            reply_error_format(&context->reply, REPLY_ERROR_EXEC_TOO_LARGE,
                               (unsigned long long)bound, context->reply.capacity);
            conn_multi_reset(context->conns, context->conn);
            return;
        }
    }
    conn_multi_exec(context->conns, context->conn, context);
}

/* EXEC answers an array of the queued replies, each within its own bound: the worst case
 * when it fits the send buffer, else the whole buffer (EXEC then bounds each reply by the
 * store as it is, and refuses the transaction if even that does not fit). */
static uint32_t exec_reply_max(const struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count)
{
    (void)args;
    (void)arg_count;
    uint64_t bytes = 16u + context->conn->multi.reply_bytes;
    uint32_t buffer = context->plan->send_buffer_bytes;
    return bytes < buffer ? (uint32_t)bytes : buffer;
}

CMD_HANDLER(cmd_discard)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    if (!context->conn->multi.active) {
        reply_error(&context->reply, REPLY_ERROR_DISCARD_WITHOUT_MULTI);
        return;
    }
    conn_multi_reset(context->conns, context->conn);
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_watch)
{
    KV_ASSERT(arg_count >= 2);
    struct conn_multi *multi = &context->conn->multi;
    if (multi->active) {
        reply_error(&context->reply, REPLY_ERROR_WATCH_INSIDE_MULTI);
        return;
    }
    struct store *store = context->store;
    for (uint32_t index = 1; index < arg_count; index++) {
        struct slice key = args[index];
        if (key.length > store->key_size_max) {
            continue; /* Such a key can never exist, so it can never change. */
        }
        /* An expired key goes now, before it is watched, so its removal is not a change. */
        store_expire_due(store, key);
        if (!watch_add(context->watch, &multi->watches, store_key_hash(store, key), key)) {
            reply_error(&context->reply, REPLY_ERROR_WATCH_KEYS_FULL);
            return;
        }
    }
    reply_ok(&context->reply);
}

CMD_HANDLER(cmd_unwatch)
{
    (void)args;
    KV_ASSERT(arg_count == 1);
    watch_clear(context->watch, &context->conn->multi.watches);
    reply_ok(&context->reply);
}

static const struct cmd multi_cmds[] = {
    {"multi", 1, 0, 0, 0, CMD_FLAG_TXN, cmd_reply_small, cmd_multi},
    {"exec", 1, 0, 0, 0, CMD_FLAG_TXN, exec_reply_max, cmd_exec},
    {"discard", 1, 0, 0, 0, CMD_FLAG_TXN, cmd_reply_small, cmd_discard},
    {"watch", -2, 1, -1, 1, CMD_FLAG_TXN, cmd_reply_small, cmd_watch},
    {"unwatch", 1, 0, 0, 0, 0, cmd_reply_small, cmd_unwatch},
};

CMD_FAMILY(cmd_family_multi, "transactions", multi_cmds);
