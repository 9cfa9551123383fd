/*
 * Fixed-slot pools. Three pieces are carved once from the region, each on a cache line: the
 * slots, a stack of free slot indexes, and one in-use byte per slot. Acquire pops the stack,
 * release pushes it back; both are O(1). Invariants: free_count <= slot_count; the free stack
 * holds exactly the slots whose in-use byte is 0, each once; every in-use byte is 0 or 1. An
 * empty pool is a normal result for the caller to answer; releasing a slot that is out of
 * range or already free is our bug and asserts. Debug builds fill free slots with a poison
 * byte so that a stale read shows. The pool never allocates, grows or shrinks after init.
 */
#include "pool.h"

#include <string.h>

/* Debug builds fill free slots with this byte: 0xAB is neither zero nor a small integer, so
 * a stale read stands out in a debugger and in test comparisons. */
#define POOL_POISON_BYTE 0xabu

/* pool_verify marks each stacked index with this in-use value while it looks for repeats. */
#define POOL_VERIFY_MARK 2u

static_assert((POOL_SLOT_ALIGN & (POOL_SLOT_ALIGN - 1)) == 0, "slot alignment: power of two");
static_assert((POOL_ARRAY_ALIGN & (POOL_ARRAY_ALIGN - 1)) == 0, "array alignment: power of two");
static_assert(POOL_ARRAY_ALIGN % POOL_SLOT_ALIGN == 0, "the array start aligns every slot");

static uint64_t round_up(uint64_t bytes, uint64_t unit)
{
    KV_ASSERT(unit != 0);
    KV_ASSERT((unit & (unit - 1)) == 0);
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
    KV_ASSERT(slot_count > 0);
    uint64_t slots_bytes = (uint64_t)slot_count * slot_bytes_rounded(slot_bytes);
    uint64_t stack_bytes = (uint64_t)slot_count * sizeof(uint32_t);
    /* Each piece is carved on its own cache line: round each up, so padding is planned too. */
    uint64_t bytes = round_up(slots_bytes, POOL_ARRAY_ALIGN) + /* the slots */
                     round_up(stack_bytes, POOL_ARRAY_ALIGN) + /* the free stack */
                     round_up(slot_count, POOL_ARRAY_ALIGN);   /* one in-use byte per slot */
    KV_ASSERT(bytes % POOL_ARRAY_ALIGN == 0);
    return bytes;
}

void pool_init(struct pool *pool, struct region *region, uint32_t slot_count, uint32_t slot_bytes)
{
    KV_ASSERT(slot_count > 0);
    /* The plan covers this pool from an aligned cursor; padding before it is its predecessor's
     * (whose plan rounded its last piece up to POOL_ARRAY_ALIGN). */
    uint64_t carved_start = round_up(region->carved_bytes, POOL_ARRAY_ALIGN);
    pool->slot_bytes = slot_bytes_rounded(slot_bytes);
    pool->slot_count = slot_count;
    uint64_t slots_bytes = (uint64_t)slot_count * pool->slot_bytes;
    pool->slots = region_carve(region, slots_bytes, POOL_ARRAY_ALIGN);
    uint64_t stack_bytes = (uint64_t)slot_count * sizeof(uint32_t);
    pool->free_indexes = region_carve(region, stack_bytes, POOL_ARRAY_ALIGN);
    pool->in_use = region_carve(region, slot_count, POOL_ARRAY_ALIGN);
    memset(pool->in_use, 0, slot_count);
#ifdef KV_DEBUG
    memset(pool->slots, POOL_POISON_BYTE, slots_bytes);
#endif
    /* Lowest index on top, so a fresh pool hands out slots in address order. */
    for (uint32_t position = 0; position < slot_count; position++) {
        pool->free_indexes[position] = slot_count - 1 - position;
    }
    pool->free_count = slot_count;
    KV_ASSERT(pool_used_count(pool) == 0);
    KV_ASSERT(region->carved_bytes - carved_start <= pool_plan_bytes(slot_count, slot_bytes));
}

bool pool_acquire(struct pool *pool, uint32_t *slot_index)
{
    KV_ASSERT(pool->free_count <= pool->slot_count);
    if (pool->free_count == 0) {
        return false;
    }
    pool->free_count--;
    uint32_t index = pool->free_indexes[pool->free_count];
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
    /* A slot in use means the stack has room for it; this catches a corrupt free_count. */
    KV_ASSERT(pool->free_count < pool->slot_count);
    pool->in_use[slot_index] = 0;
#ifdef KV_DEBUG
    memset(pool_slot(pool, slot_index), POOL_POISON_BYTE, pool->slot_bytes);
#endif
    pool->free_indexes[pool->free_count] = slot_index;
    pool->free_count++;
    KV_ASSERT(pool->free_count <= pool->slot_count);
}

/*
 * Checks every invariant in O(slot_count) without scratch memory: each stacked index is
 * marked in its in-use byte as it is seen, so a repeat finds its mark and asserts; the marks
 * are cleared before returning. The in-use bytes are reached through the pool's pointer (the
 * struct is const, the bytes are not), and the pool is the same on return as on entry.
 */
void pool_verify(const struct pool *pool)
{
    KV_ASSERT(pool->slot_count > 0);
    KV_ASSERT(pool->free_count <= pool->slot_count);
    uint32_t used_count = 0;
    for (uint32_t index = 0; index < pool->slot_count; index++) {
        KV_ASSERT(pool->in_use[index] <= 1);
        used_count += pool->in_use[index];
    }
    KV_ASSERT(used_count + pool->free_count == pool->slot_count);
    for (uint32_t position = 0; position < pool->free_count; position++) {
        uint32_t index = pool->free_indexes[position];
        KV_ASSERT(index < pool->slot_count);
        KV_ASSERT(pool->in_use[index] == 0); /* a repeat finds POOL_VERIFY_MARK here */
        pool->in_use[index] = POOL_VERIFY_MARK;
    }
    for (uint32_t position = 0; position < pool->free_count; position++) {
        pool->in_use[pool->free_indexes[position]] = 0;
    }
}
