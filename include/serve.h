/*
 * Serving: from a connection's received bytes to its replies. It parses pipelined commands
 * from the receive buffer, admits each (the budget's check among them), runs it with its
 * reply growing into the connection's output (a client whose unsent output passes
 * SERVE_OUTPUT_PAUSE_BYTES runs nothing more until it reads), queues commands inside MULTI, blocks clients whose blocking
 * command found nothing and retries them when one of their keys gains members, and answers
 * their timeouts. It also opens and closes a client with its connection, and decides at
 * accept time whether protected mode refuses it. It needs no ring: the loop calls it when
 * I/O completes and does the I/O it asks for. Its memory is the heap's (the budget).
 */
#ifndef KV_SERVE_H
#define KV_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "client.h"
#include "cmd.h"
#include "conn.h"
#include "heap.h"
#include "kv_assert.h"
#include "plan.h"
#include "region.h"
#include "resp.h"
#include "stats.h"

/* Commands one connection may run per loop pass, so a deep pipeline cannot starve others. */
#define SERVE_COMMANDS_PER_PASS 1024u

/* A client with this much output not yet sent runs no more commands until it reads: a
 * pipeline that never reads cannot grow its output without bound. */
#define SERVE_OUTPUT_PAUSE_BYTES (1024u * 1024u)

struct serve {
    struct conns *conns;         /* connection slots and their bytes */
    struct clients *clients;     /* client state, by the same slot */
    struct block *block;         /* blocked clients */
    struct stats *stats;         /* counters */
    struct heap *heap;           /* a command with many arguments borrows their array here */
    struct resp_scratch scratch; /* parse results, valid for one command */
    struct slice *args_fixed;    /* the scratch's own arguments (carved) */
    uint32_t args_fixed_max;     /* how many: an inline request's most */
    struct cmd_context shared;   /* the shared part of every command's context */
    bool shutdown_requested;     /* a client ran SHUTDOWN: the loop stops after this pass */
    struct resp_scratch saved_scratch; /* a busy pass: the running command's scratch */
    bool busy;                   /* inside a slow script's busy pass (serve_busy_begin) */
};

/* Arguments a command may have to be read during a slow script's busy pass: the commands
 * that run then have two (SCRIPT KILL, FUNCTION KILL, FUNCTION STATS); a longer one is
 * answered once the script ends. */
#define SERVE_BUSY_ARGS_MAX 8u

/* Bytes serve_init carves: the parsed arguments and room to unescape an inline request. */
uint64_t serve_plan_scratch_bytes(uint32_t args_max, uint32_t inline_bytes);

/* `shared` holds the modules every command may reach (store, config, plan, region, stats,
 * watch, pubsub, conns, clients, block); its call fields are ignored. */
void serve_init(struct serve *serve, struct region *region, const struct plan *plan,
                const struct cmd_context *shared, struct heap *heap);

/* A socket was accepted into `slot_index` at now_ms from ipv4:port (host order; known is
 * false when the kernel gave no IPv4 address). Opens the connection and its client and
 * returns true, or returns false when every buffer is taken (the loop refuses it with
 * Redis's max-clients line). A client that protected mode refuses is opened with Redis's
 * DENIED line as its only reply and closes once that is sent. */
KV_MUST_USE bool serve_open(struct serve *serve, uint32_t slot_index, bool known, uint32_t ipv4,
                            uint16_t port, int64_t now_ms);

/* Runs the complete commands received, at most SERVE_COMMANDS_PER_PASS of them. Returns true
 * when it stopped at that bound with more input to run (the loop comes back next pass). */
bool serve_input(struct serve *serve, uint32_t slot_index);

/* Where the next receive may write: compacts consumed input, keeping a transaction's queued
 * commands; a transaction whose queue fills the buffer fails and lets it go. 0: no room
 * (the commands in the buffer run first). */
uint32_t serve_recv_room(struct serve *serve, uint32_t slot_index, uint8_t **into);

/* The connection is being closed (nothing of it in flight): its client goes (transaction,
 * watches, subscriptions, blocked state), then its buffers. */
void serve_closing(struct serve *serve, uint32_t slot_index);

/* Sends the client-side caching invalidations that changes owe (after a command, and after
 * keys changed outside commands: expiry, eviction). */
void serve_tracking_deliver(struct serve *serve);

/* The event loop's pass ends (Redis's beforeSleep): the keys changed during it go to the
 * broadcasting tracking clients, one message per prefix. */
void serve_pass_end(struct serve *serve);

/* Answers the blocked commands whose timeout has passed with a null array, as Redis does. */
void serve_block_timeouts(struct serve *serve, int64_t now_ms);

/* The cron's pass over the clients. A CLIENT PAUSE whose end passed is over: the clients it
 * held are read again. maxmemory-clients, as Redis 7 applies it: while the client buffers
 * together hold more than the limit (bytes, or a share of maxmemory), the client holding the
 * most is closed (counted as evicted_clients), skipping CLIENT NO-EVICT ones. Bounded by the
 * slots. */
void serve_clients_evict(struct serve *serve);

/* A slow script's busy pass begins (loop_busy_pass): until serve_busy_end, commands are read
 * into a scratch of their own (the running command's arguments stay as they are), every
 * command but SCRIPT KILL, FUNCTION KILL and FUNCTION STATS is answered -BUSY, inline
 * requests and commands of more than SERVE_BUSY_ARGS_MAX arguments wait for the script's
 * end, and nothing else (blocked clients' wake-ups, client eviction) happens. */
void serve_busy_begin(struct serve *serve);
void serve_busy_end(struct serve *serve);

/* Checks every connection, client, transaction and the blocked clients (tests). */
void serve_verify(const struct serve *serve);

#endif
