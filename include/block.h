/*
 * Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX): which clients wait,
 * on which keys, until when. Each key with waiters has a wait list, oldest waiter first, so a
 * push wakes only the clients waiting on that key, in the order they blocked, as Redis
 * serves them. A key that gains members (the store's hook, block_key_ready) goes on the ready
 * list once; the serving layer drains that list after each command, retrying each waiter's
 * command (it stays unconsumed in the client's receive buffer) until one finds nothing.
 * Every blocked client is also on one FIFO, oldest first, for timeouts.
 *
 * Bounds: at most blocking_keys_max (client, key) links and as many distinct keys, in pools
 * carved at startup; a blocking command naming more keys than are free is refused. The
 * per-client state is an array indexed by the client's connection slot. No I/O, no
 * allocation after init; every walk is bounded by a list's count.
 */
#ifndef KV_BLOCK_H
#define KV_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "pool.h"
#include "region.h"
#include "slice.h"
#include "table.h"

#define BLOCK_NONE UINT32_MAX

/* One client's blocked state. */
struct block_client {
    int64_t deadline_ms;   /* Unix ms of the timeout; 0: never */
    uint32_t links;        /* its first (client, key) link, BLOCK_NONE when not blocked */
    uint32_t link_count;   /* keys it waits on */
    uint32_t fifo_prev;    /* the blocked FIFO (client slots), oldest first */
    uint32_t fifo_next;
    bool blocked;          /* waiting */
};

struct block {
    struct block_client *clients; /* client_count entries, by connection slot */
    struct table table;           /* hash of a key with waiters -> its slot in `keys` */
    struct pool keys;             /* struct block_key + key_bytes_max bytes */
    struct pool links;            /* struct block_link: one per (client, key) */
    uint32_t client_count;        /* connection slots */
    uint32_t key_bytes_max;       /* longest key a client may wait on */
    uint32_t links_max;           /* blocking_keys_max; 0: blocking commands are refused */
    uint32_t blocked_count;       /* clients on the FIFO */
    uint32_t fifo_head;           /* longest-blocked client, BLOCK_NONE: none */
    uint32_t fifo_tail;
    uint32_t ready_head;          /* keys that gained members, oldest first, BLOCK_NONE */
    uint32_t ready_tail;
};

enum block_status {
    BLOCK_OK,
    BLOCK_FULL,                   /* fewer free links or key slots than the command names */
};

uint64_t block_plan_bytes(uint32_t client_count, uint32_t links_max, uint32_t key_bytes_max);

void block_init(struct block *block, struct region *region, uint32_t client_count,
                uint32_t links_max, uint32_t key_bytes_max);

static inline bool block_is_blocked(const struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count);
    return block->clients[client].blocked;
}

/* The store's hash of a key (block_key_ready is called with it). */
typedef uint32_t block_hash_fn(const void *context, struct slice key);

/* Blocks a client on keys[0 .. key_count) (a key named twice waits once) until deadline_ms
 * (0: never). Keys longer than key_bytes_max never get members and are skipped. BLOCK_FULL
 * changes nothing. */
KV_MUST_USE enum block_status block_add(struct block *block, uint32_t client,
                                        const struct slice *keys, uint32_t key_count,
                                        int64_t deadline_ms, block_hash_fn *hash,
                                        const void *hash_context);

/* Unblocks a client: served, timed out, or gone. Its links and any key left without
 * waiters go back to the pools. */
void block_remove(struct block *block, uint32_t client);

/* The store's hook: a list or sorted set at `key` gained members. `context` is the block.
 * A key with waiters goes on the ready list (once). */
void block_key_ready(void *context, uint32_t hash, struct slice key);

static inline bool block_ready_pending(const struct block *block)
{
    return block->ready_head != BLOCK_NONE;
}

/* Takes the oldest ready key off the ready list: its key slot, or false when none. The slot
 * stays valid while it has waiters. */
KV_MUST_USE bool block_ready_pop(struct block *block, uint32_t *key_slot);

/* Whether a key slot still has waiters (a served client's removal may release it). */
bool block_key_live(const struct block *block, uint32_t key_slot);

/* The waiters of a ready key, oldest first: block_waiter_first gives the first link, then
 * block_waiter_next; each gives the waiting client's slot. Take the next link before
 * serving a client (serving removes its links). */
KV_MUST_USE bool block_waiter_first(const struct block *block, uint32_t key_slot,
                                    uint32_t *link, uint32_t *client);
KV_MUST_USE bool block_waiter_next(const struct block *block, uint32_t *link, uint32_t *client);

/* Whether a link still exists and names this client (it may have been released). */
bool block_link_is(const struct block *block, uint32_t link, uint32_t client);

/* The blocked FIFO, oldest first: for timeouts. */
static inline uint32_t block_fifo_first(const struct block *block)
{
    return block->fifo_head;
}

static inline uint32_t block_fifo_next(const struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count && block->clients[client].blocked);
    return block->clients[client].fifo_next;
}

/* The earliest timeout of a blocked client (Unix ms), or 0 when none has one. */
int64_t block_next_deadline(const struct block *block);

/* Checks every invariant: links agree with clients, keys and wait lists; the FIFO holds
 * exactly the blocked clients; each key in the table has waiters; the ready list holds live
 * keys once each. */
void block_verify(const struct block *block);

#endif
