/*
 * A client's transaction: MULTI state, the queue of commands that EXEC will run, and the
 * keys it WATCHes. The queued commands stay where they arrived, in the client's receive
 * buffer: bytes [queue_start, the parse position) hold them, mixed with the commands that
 * ran at once while queueing (MULTI, WATCH, QUIT ...), which a walk of the queue skips. So a
 * transaction needs no memory of its own and is bounded by the receive buffer; the serving
 * layer keeps those bytes from being compacted away while txn_holds() is true.
 *
 * This module keeps the state and walks the queue; it does not run commands. EXEC (in the
 * command layer) walks the queue and runs each command itself. No I/O, no allocation.
 */
#ifndef KV_TXN_H
#define KV_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "resp.h"
#include "watch.h"

struct txn {
    bool active;             /* between MULTI and EXEC/DISCARD */
    bool failed;             /* a command was refused while queueing: EXEC answers EXECABORT */
    bool overflowed;         /* the queue outgrew the receive buffer: the transaction failed */
    bool denyoom;            /* a queued command may take memory: EXEC is checked as one */
    uint32_t queue_start;    /* receive-buffer offset of the first queued command */
    uint32_t queued;         /* commands queued */
    uint32_t args_max;       /* most arguments of a queued command (EXEC re-reads the queue
                                into the parse scratch, which must hold that many) */
    struct watch_list watches; /* keys this client watches */
};

/* A walk over a transaction's queue, re-parsing it from the receive buffer. */
struct txn_walk {
    struct resp_parser parser; /* positioned at the next queued command */
    uint32_t end;              /* where the queue ends: the command that ends it (EXEC) */
};

void txn_init(struct txn *txn);

/* MULTI: the client starts queueing. */
void txn_begin(struct txn *txn);

/* A command of `arg_count` arguments was queued: it starts at `command_start`. A failed
 * transaction counts nothing more (EXEC will abort). */
void txn_queue(struct txn *txn, uint32_t command_start, uint32_t arg_count);

/* A command was refused while queueing: EXEC will answer EXECABORT. */
void txn_fail(struct txn *txn);

/* The queued commands and a partial one filled the receive buffer: the transaction fails
 * and lets its queue go (the next queued command is answered with the "too large" error). */
void txn_overflow(struct txn *txn);

/* Ends the transaction (EXEC, DISCARD, a failed EXEC, RESET, the client leaving): queue
 * dropped, watches given back to `watch`. */
void txn_reset(struct txn *txn, struct watch *watch);

/* Whether the receive buffer holds queued commands before the parse position, which
 * compaction must keep. */
static inline bool txn_holds(const struct txn *txn)
{
    return txn->active && !txn->failed && txn->queued > 0;
}

/* Receive-buffer bytes before `parse_start` that may be dropped: all of them unless the
 * queue holds some. */
static inline uint32_t txn_droppable(const struct txn *txn, uint32_t parse_start)
{
    KV_ASSERT(!txn_holds(txn) || txn->queue_start <= parse_start);
    return txn_holds(txn) ? txn->queue_start : parse_start;
}

/* The receive buffer moved its bytes down by `shift` (compaction). */
void txn_shift(struct txn *txn, uint32_t shift);

/* Starts a walk of the queue; `end` is where EXEC itself begins. */
void txn_walk_start(const struct txn *txn, struct txn_walk *walk, uint32_t end);

/* The next command of the queue region (queued or not: the caller skips the ones that ran at
 * once), parsed into `scratch`; false at the end. Bounded: each call consumes a command. */
KV_MUST_USE bool txn_walk_next(struct txn_walk *walk, const struct resp_scratch *scratch,
                               const uint8_t *bytes, uint32_t capacity, uint32_t *arg_count);

/* Checks the state's invariants against the parse position of the receive buffer. */
void txn_verify(const struct txn *txn, uint32_t parse_start);

#endif
