/*
 * Eviction: keeping the budget's room, as Redis's maxmemory does. The heap is the budget
 * (maxmemory bytes at startup); the data (the heap's used bytes less the client buffers') may
 * fill it up to their limit: maxmemory (as CONFIG SET may have lowered it) less a reserve
 * kept for client buffers, so that a client can still be read from and answered when the
 * data are at their limit. A write that would take the data past the limit first evicts keys by
 * maxmemory-policy; under noeviction, or when nothing is left to evict, it is refused with
 * Redis's OOM error. The policies are Redis 7.0's: the LRU and LFU ones and volatile-ttl
 * sample maxmemory-samples keys a round into a pool of the best 16 candidates (Redis's
 * eviction pool, so each eviction picks from many more keys than one sample), the random ones
 * pick a random key; the volatile ones look only at keys with an expiry time.
 * Bounds: eviction stops after maxmemory-eviction-tenacity's time (Redis's formula, 500 µs at
 * the default 10), checked every EVICT_CHECK_KEYS keys; the cron goes on where a command
 * stopped. No I/O; nothing allocated (the pool is part of struct evict).
 */
#ifndef KV_EVICT_H
#define KV_EVICT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "heap.h"
#include "kv_assert.h"
#include "store.h"

/* Candidates kept between rounds, as Redis's EVPOOL_SIZE. */
#define EVICT_POOL_SIZE 16u

/* Longest key name a pool entry copies (Redis caches 255 bytes too); a longer key is never
 * pooled, only evicted straight from the sample it was drawn in. */
#define EVICT_NAME_BYTES_MAX 255u

/* Most keys drawn in one sample: maxmemory-samples' bound here (Redis allows 64). */
#define EVICT_SAMPLES_MAX 64u

/* Keys evicted between two looks at the time limit (as Redis checks every 16). */
#define EVICT_CHECK_KEYS 16u

/* The reserve for client buffers: 1/64 of the budget, at least 256 KiB, at most 16 MiB. */
#define EVICT_RESERVE_DIVISOR 64u
#define EVICT_RESERVE_MIN (256u * 1024u)
#define EVICT_RESERVE_MAX (16u * 1024u * 1024u)

struct evict_candidate {
    uint64_t score;        /* higher goes first: idle ms, 255 - LFU, or time left inverted */
    uint32_t name_bytes;   /* the key's length */
    uint32_t db_index;     /* the database it is in (Redis's pool entry dbid) */
    uint8_t name[EVICT_NAME_BYTES_MAX];
};

enum evict_result {
    EVICT_OK,       /* the data are within their limit (and the need fits) */
    EVICT_RUNNING,  /* the time limit stopped eviction first: the cron goes on */
    EVICT_FAIL,     /* over the limit and nothing may go: noeviction, or no key to evict */
};

struct evict {
    struct store *store;
    struct heap *heap;
    const struct config *config; /* maxmemory-policy, -samples, -eviction-tenacity */
    uint64_t (*now_us)(void);    /* monotonic µs, for the time limit */
    uint64_t evicted_keys;       /* INFO evicted_keys */
    uint64_t reserve_bytes;      /* kept free for client buffers */
    uint64_t capacity_bytes;     /* the heap's bytes */
    const uint64_t *client_bytes;/* heap bytes client buffers hold now (conns), not data */
    uint32_t pool_count;         /* candidates in pool[0 .. pool_count), ascending score */
    struct evict_candidate pool[EVICT_POOL_SIZE];
    uint32_t random_db_index;    /* the random policies' next database (Redis's next_db) */
};

void evict_init(struct evict *evict, struct store *store, struct heap *heap,
                const struct config *config, uint64_t (*now_us)(void),
                const uint64_t *client_bytes);

/* Heap bytes the data may use: min(maxmemory, the heap) less the reserve (0 when
 * maxmemory is below it: every write is refused). */
uint64_t evict_limit(const struct evict *evict);

/* Heap bytes the data use now: everything but the client buffers. */
uint64_t evict_data_bytes(const struct evict *evict);

/* Whether the policy evicts at all (not noeviction). */
bool evict_enabled(const struct evict *evict);

/*
 * Makes room for a write that may take `need_bytes` more: evicts by policy until the heap's
 * used bytes plus the need are within the limit, or the time limit passes. EVICT_OK: room is
 * there; EVICT_FAIL: it is not and cannot be made (the write is refused with OOM);
 * EVICT_RUNNING: time ran out first (the write runs, and may still find no room).
 */
enum evict_result evict_room(struct evict *evict, uint64_t need_bytes);

/* Whether the policy evicts and the data are past their limit (the cron has work). */
bool evict_pending(const struct evict *evict);

/* The cron's share: goes on evicting while the data are past their limit, within the same
 * time bound. */
void evict_cycle(struct evict *evict);

/* Checks the pool (ascending scores, names within bounds) and the limit arithmetic. */
void evict_verify(const struct evict *evict);

#endif
