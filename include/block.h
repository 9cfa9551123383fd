/*
 * Blocked clients (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX): which clients wait,
 * on which keys, until when. Each key with waiters has a wait list, oldest waiter first, so a
 * push wakes only the clients waiting on that key, in the order they blocked, as Redis
 * serves them. A key that gains members (the store's hook, block_key_ready) goes on the ready
 * list once; the serving layer drains that list after each command, retrying each waiter's
 * command (it stays unconsumed in the client's receive buffer) until one finds nothing.
 * Every blocked client is also on one FIFO, oldest first, for timeouts.
 *
 * Memory: the waited-on keys (with their bytes, any length) are entries of a dict on the
 * heap, and each (client, key) link is a heap entry, both taken as clients block and given
 * back as they leave; the budget bounds them, and blocking_keys_max, when set, caps the links
 * in all. The per-client state is an array indexed by the client's connection slot, carved
 * from the region at startup like the connections. No I/O; every walk is bounded by a list's
 * count.
 */
#ifndef KV_BLOCK_H
#define KV_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "region.h"
#include "slice.h"

/* Ends the FIFO of client slots (slot 0 is a client). Keys and links are heap references,
 * ended by HEAP_REF_NONE. */
#define BLOCK_NONE UINT32_MAX

/* One client's blocked state. */
struct block_client {
    int64_t deadline_ms;   /* Unix ms of the timeout; 0: never */
    uint32_t links;        /* its newest (client, key) link, HEAP_REF_NONE when none */
    uint32_t link_count;   /* keys it waits on */
    uint32_t fifo_prev;    /* the blocked FIFO (client slots), oldest first */
    uint32_t fifo_next;
    uint32_t stash;        /* the command's own state while it waits (XREAD's resolved `$`
                              IDs): a heap allocation, HEAP_REF_NONE when none */
    bool blocked;          /* waiting */
};

struct block {
    struct block_client *clients; /* client_count entries, by connection slot (region) */
    struct heap *heap;            /* key and link entries, and the dict's buckets */
    struct dict keys;             /* keys with waiters (struct block_key), by their bytes */
    uint64_t link_count;          /* (client, key) links in all */
    uint64_t entry_bytes;         /* usable bytes of every key and link entry held */
    uint64_t stash_bytes;         /* usable bytes of the clients' stashes */
    uint32_t client_count;        /* connection slots */
    uint32_t links_max;           /* blocking_keys_max: links in all; 0: no cap */
    uint32_t blocked_count;       /* clients on the FIFO */
    uint32_t fifo_head;           /* longest-blocked client, BLOCK_NONE: none */
    uint32_t fifo_tail;
    uint32_t ready_head;          /* keys that gained members, oldest first, HEAP_REF_NONE */
    uint32_t ready_tail;
    struct slice serving_key;     /* the ready key whose waiters retry now (a woken XREAD is
                                     served that key, as Redis serves it); bytes NULL: none */
};

enum block_status {
    BLOCK_OK,
    BLOCK_FULL,                   /* blocking_keys_max links would be passed */
    BLOCK_OOM,                    /* the heap has no room for a key or a link */
};

/* Bytes block_init carves from the region: the per-client array. */
uint64_t block_plan_bytes(uint32_t client_count);

void block_init(struct block *block, struct region *region, struct heap *heap,
                uint32_t client_count, uint32_t links_max, uint64_t seed);

static inline bool block_is_blocked(const struct block *block, uint32_t client)
{
    KV_ASSERT(client < block->client_count);
    return block->clients[client].blocked;
}

/* Keys with waiters now. */
static inline uint64_t block_key_count(const struct block *block)
{
    return dict_count(&block->keys);
}

/* Blocks a client on keys[0 .. key_count) (a key named twice waits once) until deadline_ms
 * (0: never). BLOCK_FULL and BLOCK_OOM change nothing. */
KV_MUST_USE enum block_status block_add(struct block *block, uint32_t client,
                                        const struct slice *keys, uint32_t key_count,
                                        int64_t deadline_ms);

/* Takes `bytes` of room for what a client about to block keeps (its command's handler calls
 * it just before it asks to block, and writes the bytes), replacing any it kept; block_add
 * keeps it with the client, block_remove and a refused block_add give it back. NULL when
 * the heap has no room (nothing kept). */
KV_MUST_USE uint8_t *block_stash_take(struct block *block, uint32_t client, uint32_t bytes);

/* What a client kept (empty when nothing). */
struct slice block_stash(const struct block *block, uint32_t client);

/* Unblocks a client: served, timed out, or gone. Its links and any key left without
 * waiters go back to the heap. */
void block_remove(struct block *block, uint32_t client);

/* The store's hook: a list or sorted set at `key` gained members. `context` is the block;
 * `hash` is the store's, unused (the dict hashes with its own seed). A key with waiters goes
 * on the ready list (once). */
void block_key_ready(void *context, uint32_t hash, struct slice key);

/* Puts every key with waiters on the ready list (SWAPDB: any of them may hold members now).
 * O(keys with waiters). */
void block_ready_all(struct block *block);

static inline bool block_ready_pending(const struct block *block)
{
    return block->ready_head != HEAP_REF_NONE;
}

/* Takes the oldest ready key off the ready list: its entry, or false when none. The entry
 * stays valid while it has waiters. */
KV_MUST_USE bool block_ready_pop(struct block *block, uint32_t *key_ref);

/* A waited-on key's bytes (a ref from block_ready_pop), valid while it has waiters. */
struct slice block_key_name(const struct block *block, uint32_t key_ref);

/* The waiters of a ready key, oldest first: block_waiter_first gives the first link, then
 * block_waiter_next; each gives the waiting client's slot. Take the next link before
 * serving a client: serving removes that client's links only, so the next one stays valid,
 * and when there is no next one the key may be gone. */
KV_MUST_USE bool block_waiter_first(const struct block *block, uint32_t key_ref,
                                    uint32_t *link, uint32_t *client);
KV_MUST_USE bool block_waiter_next(const struct block *block, uint32_t *link, uint32_t *client);

/* Whether a link (known to be live) belongs to this blocked client. */
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

/* Heap bytes the blocked keys and links hold, with the dict's buckets (INFO). */
uint64_t block_memory_bytes(const struct block *block);

/* Checks every invariant: links agree with clients, keys and wait lists; the FIFO holds
 * exactly the blocked clients; each key in the dict has waiters; the ready list holds live
 * keys once each; link_count and entry_bytes against a walk. */
void block_verify(const struct block *block);

#endif
