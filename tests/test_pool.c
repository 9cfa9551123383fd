/*
 * Proves a pool hands out each slot once, reports empty as a result, takes slots back in any
 * order, and stops at once (SIGABRT) on a double release or an index out of range; checked in
 * forked children so the test itself goes on. Uses a real region.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pool.h"

#define SLOTS 37u

static bool dies_with_abort(void (*action)(struct pool *), struct pool *pool)
{
    pid_t child = fork();
    if (child == 0) {
        /* The assertion message is expected: keep it off the test output. */
        freopen("/dev/null", "w", stderr);
        action(pool);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void release_twice(struct pool *pool)
{
    uint32_t index = 0;
    if (pool_acquire(pool, &index)) {
        pool_release(pool, index);
        pool_release(pool, index);
    }
}

static void release_out_of_range(struct pool *pool)
{
    pool_release(pool, pool->slot_count);
}

int main(void)
{
    struct region region;
    char error[256];
    CHECK(region_map(&region, pool_plan_bytes(SLOTS, 13), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF,
                     error, sizeof(error)) == 0);
    struct pool pool;
    pool_init(&pool, &region, SLOTS, 13);
    CHECK(pool.slot_bytes == 16); /* rounded up to POOL_SLOT_ALIGN */
    CHECK(((uintptr_t)pool.slots % POOL_ARRAY_ALIGN) == 0);
    CHECK(region.carved_bytes <= pool_plan_bytes(SLOTS, 13));
    bool seen[SLOTS] = {false};
    uint32_t order[SLOTS];
    for (uint32_t count = 0; count < SLOTS; count++) {
        uint32_t index = 0;
        CHECK(pool_acquire(&pool, &index));
        CHECK(index < SLOTS && !seen[index]);
        seen[index] = true;
        order[count] = index;
        CHECK(pool_is_used(&pool, index));
        pool_verify(&pool);
    }
    uint32_t index = 0;
    CHECK(!pool_acquire(&pool, &index)); /* one more: empty, as a result */
    CHECK(pool_used_count(&pool) == SLOTS && pool.free_count == 0);
    /* Release the even positions, then the odd ones. */
    for (uint32_t count = 0; count < SLOTS; count += 2) {
        pool_release(&pool, order[count]);
        pool_verify(&pool);
    }
    for (uint32_t count = 1; count < SLOTS; count += 2) {
        pool_release(&pool, order[count]);
    }
    pool_verify(&pool);
    CHECK(pool.free_count == SLOTS);
    CHECK(pool_acquire(&pool, &index)); /* reusable after release */
    pool_release(&pool, index);
    CHECK(dies_with_abort(release_twice, &pool));
    CHECK(dies_with_abort(release_out_of_range, &pool));
    pool_verify(&pool);
    region_unmap(&region);
    return check_exit("test_pool");
}
