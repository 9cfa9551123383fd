/*
 * Fixed-slot pools: a run of equal slots carved once from the region plus a stack of free
 * slot indexes. pool_acquire reports an empty pool as a normal result; pool_release
 * asserts that the slot is in use. Nothing grows or shrinks after pool_init.
 */
#ifndef KV_POOL_H
#define KV_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "region.h"

struct pool {
    uint8_t *slots;          /* slot_count * slot_bytes, carved from the region */
    uint32_t *free_indexes;  /* free slot indexes; top of stack at free_count - 1 */
    uint8_t *in_use;         /* one byte per slot: 1 while acquired, 0 while free */
    uint32_t slot_bytes;     /* one slot, rounded up to its alignment */
    uint32_t slot_count;     /* capacity, fixed at init */
    uint32_t free_count;     /* slots available; in use = slot_count - free_count */
};

/* Slot sizes round up to this, so any slot can hold 64-bit fields; the slot array itself
 * starts on a cache line (POOL_ARRAY_ALIGN). Small slots (list nodes) may share a line. */
#define POOL_SLOT_ALIGN 8u
#define POOL_ARRAY_ALIGN 64u

/* Bytes pool_init will carve for this shape, alignment included; plan.c sums these. */
uint64_t pool_plan_bytes(uint32_t slot_count, uint32_t slot_bytes);

/* Carves slots and bookkeeping from the region; every slot starts free. */
void pool_init(struct pool *pool, struct region *region, uint32_t slot_count, uint32_t slot_bytes);

/* Takes a free slot; false when the pool is empty (the caller answers with an error). */
KV_MUST_USE bool pool_acquire(struct pool *pool, uint32_t *slot_index);

/* Gives a slot back; asserts it is in range and in use. */
void pool_release(struct pool *pool, uint32_t slot_index);

/* Address of a slot (in use or not). */
static inline void *pool_slot(const struct pool *pool, uint32_t slot_index)
{
    KV_ASSERT(slot_index < pool->slot_count);
    return pool->slots + (uint64_t)slot_index * pool->slot_bytes;
}

static inline uint32_t pool_used_count(const struct pool *pool)
{
    return pool->slot_count - pool->free_count;
}

static inline bool pool_is_used(const struct pool *pool, uint32_t slot_index)
{
    KV_ASSERT(slot_index < pool->slot_count);
    return pool->in_use[slot_index] != 0;
}

/* Checks every invariant: free plus used is capacity, the free stack holds distinct free slots. */
void pool_verify(const struct pool *pool);

#endif
