/*
 * Transactions: the state between MULTI and EXEC, and the walk over the queued commands in
 * the receive buffer. Invariants: queued > 0 only while active; a failed transaction queues
 * nothing more; while the queue holds commands, queue_start is at or before the parse
 * position, and the bytes between them are whole commands. No I/O, no allocation: the
 * watched keys live in the watch module's pools.
 */
#include "txn.h"

#include <string.h>

void txn_init(struct txn *txn)
{
    memset(txn, 0, sizeof(*txn));
    watch_list_init(&txn->watches);
    KV_ASSERT(!txn_holds(txn));
}

void txn_begin(struct txn *txn)
{
    KV_ASSERT(!txn->active);
    KV_ASSERT(txn->queued == 0 && !txn->failed);
    txn->active = true;
}

void txn_queue(struct txn *txn, uint32_t command_start, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(txn->active);
    if (txn->failed) {
        return;
    }
    if (txn->queued == 0) {
        txn->queue_start = command_start;
    }
    KV_ASSERT(txn->queue_start <= command_start);
    txn->queued++;
    txn->args_max = arg_count > txn->args_max ? arg_count : txn->args_max;
}

void txn_fail(struct txn *txn)
{
    KV_ASSERT(txn->active);
    txn->failed = true;
}

void txn_overflow(struct txn *txn)
{
    KV_ASSERT(txn_holds(txn));
    txn->failed = true;
    txn->overflowed = true;
    KV_ASSERT(!txn_holds(txn));
}

void txn_reset(struct txn *txn, struct watch *watch)
{
    struct watch_list watches = txn->watches;
    watch_clear(watch, &watches);
    memset(txn, 0, sizeof(*txn));
    txn->watches = watches;
    KV_ASSERT(txn->watches.count == 0);
    KV_ASSERT(!txn->active);
}

void txn_shift(struct txn *txn, uint32_t shift)
{
    if (!txn_holds(txn)) {
        return;
    }
    KV_ASSERT(shift <= txn->queue_start);
    txn->queue_start -= shift;
}

void txn_walk_start(const struct txn *txn, struct txn_walk *walk, uint32_t end)
{
    KV_ASSERT(txn->active && !txn->failed);
    KV_ASSERT(txn->queued == 0 || txn->queue_start < end);
    resp_parser_init_at(&walk->parser, txn->queued > 0 ? txn->queue_start : end);
    walk->end = end;
}

bool txn_walk_next(struct txn_walk *walk, const struct resp_scratch *scratch,
                   const uint8_t *bytes, uint32_t capacity, uint32_t *arg_count)
{
    if (walk->parser.command_start >= walk->end) {
        return false;
    }
    struct resp_command command;
    enum resp_status status =
        resp_parse(&walk->parser, scratch, bytes, walk->end, capacity, &command);
    /* Every command in the region was parsed whole once already. */
    KV_ASSERT(status == RESP_COMMAND);
    KV_ASSERT(command.end <= walk->end);
    resp_parser_consume(&walk->parser, command.end);
    *arg_count = command.arg_count;
    return true;
}

void txn_verify(const struct txn *txn, uint32_t parse_start)
{
    KV_ASSERT(txn->active || txn->queued == 0);
    KV_ASSERT(txn->active || (!txn->failed && !txn->overflowed));
    KV_ASSERT(!txn->overflowed || txn->failed);
    KV_ASSERT(!txn_holds(txn) || txn->queue_start <= parse_start);
    KV_ASSERT(txn->queued > 0 || txn->args_max == 0);
}
