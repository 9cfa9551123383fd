/*
 * Fixed-slot pools. The slots, the free stack and the in-use bytes are carved once; acquire
 * pops the free stack, release pushes it back. Invariants: free_count <= slot_count; the
 * free stack holds exactly the slots whose in-use byte is 0, each once. Releasing a slot that
 * is not in use is our bug and asserts. Debug builds poison released slots so a stale read
 * shows. Never allocates, never grows.
 */
#include "pool.h"

#include <string.h>

/* Debug builds fill released slots with this byte. */
#define POOL_POISON_BYTE 0xab

static uint64_t round_up(uint64_t bytes, uint64_t unit)
{
    return (bytes + unit - 1) & ~(unit - 1);
}

static uint32_t slot_bytes_rounded(uint32_t slot_bytes)
{
    KV_ASSERT(slot_bytes > 0);
    uint64_t rounded = round_up(slot_bytes, POOL_SLOT_ALIGN);
    KV_ASSERT(rounded <= UINT32_MAX);
    return (uint32_t)rounded;
}

uint64_t pool_plan_bytes(uint32_t slot_count, uint32_t slot_bytes)
{
    return round_up((uint64_t)slot_count * slot_bytes_rounded(slot_bytes), POOL_ARRAY_ALIGN) +
           round_up((uint64_t)slot_count * sizeof(uint32_t), POOL_ARRAY_ALIGN) + /* free stack */
           round_up(slot_count, POOL_ARRAY_ALIGN);                              /* in-use bytes */
}

void pool_init(struct pool *pool, struct region *region, uint32_t slot_count, uint32_t slot_bytes)
{
    KV_ASSERT(slot_count > 0);
    pool->slot_bytes = slot_bytes_rounded(slot_bytes);
    pool->slot_count = slot_count;
    pool->slots = region_carve(region, (uint64_t)slot_count * pool->slot_bytes, POOL_ARRAY_ALIGN);
    pool->free_indexes =
        region_carve(region, (uint64_t)slot_count * sizeof(uint32_t), POOL_ARRAY_ALIGN);
    pool->in_use = region_carve(region, slot_count, POOL_ARRAY_ALIGN);
    memset(pool->in_use, 0, slot_count);
    /* Lowest index on top, so a fresh pool hands out slots in address order. */
    for (uint32_t index = 0; index < slot_count; index++) {
        pool->free_indexes[index] = slot_count - 1 - index;
    }
    pool->free_count = slot_count;
    KV_ASSERT(pool_used_count(pool) == 0);
}

bool pool_acquire(struct pool *pool, uint32_t *slot_index)
{
    KV_ASSERT(pool->free_count <= pool->slot_count);
    if (pool->free_count == 0) {
        return false;
    }
    uint32_t index = pool->free_indexes[--pool->free_count];
    KV_ASSERT(index < pool->slot_count);
    KV_ASSERT(pool->in_use[index] == 0);
    pool->in_use[index] = 1;
    *slot_index = index;
    return true;
}

void pool_release(struct pool *pool, uint32_t slot_index)
{
    KV_ASSERT(slot_index < pool->slot_count);
    KV_ASSERT(pool->in_use[slot_index] == 1);
    KV_ASSERT(pool->free_count < pool->slot_count);
    pool->in_use[slot_index] = 0;
#ifdef KV_DEBUG
    memset(pool_slot(pool, slot_index), POOL_POISON_BYTE, pool->slot_bytes);
#endif
    pool->free_indexes[pool->free_count++] = slot_index;
}

void pool_verify(const struct pool *pool)
{
    KV_ASSERT(pool->free_count <= pool->slot_count);
    uint32_t free_marked = 0;
    for (uint32_t index = 0; index < pool->slot_count; index++) {
        KV_ASSERT(pool->in_use[index] <= 1);
        free_marked += pool->in_use[index] == 0 ? 1 : 0;
    }
    KV_ASSERT(free_marked == pool->free_count);
    /* Every stacked index is free; with the count above, that makes them distinct. */
    for (uint32_t position = 0; position < pool->free_count; position++) {
        uint32_t index = pool->free_indexes[position];
        KV_ASSERT(index < pool->slot_count && pool->in_use[index] == 0);
    }
}
