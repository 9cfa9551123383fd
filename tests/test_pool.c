/*
 * Proves that a pool carves no more than pool_plan_bytes() says, rounds and aligns its slots,
 * hands out every slot exactly once (lowest address first when fresh), reports an empty pool
 * as a result and stays intact, takes slots back in any order for reuse, and that slots never
 * overlap. Proves the assertions stop a bad release (a slot already free, released twice, out
 * of range) and that pool_verify() catches a corrupt free stack: each runs in a forked child,
 * which must die with SIGABRT on the assertion expected, read back from its stderr. Debug
 * builds (KV_DEBUG) also check that a released slot is filled with the poison byte 0xAB.
 * Every pool lives in a real region sized from the plan functions; pool_verify() runs often.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pool.h"

#define SLOTS 37u
#define SLOT_BYTES 13u

/* Runs action(context) in a forked child. True when the child dies of SIGABRT after printing
 * an assertion failure that names `expression`; the child's stderr comes back on a pipe. */
static bool dies_asserting(void (*action)(void *), void *context, const char *expression)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        action(context);
        _exit(0);
    }
    close(fds[1]);
    char message[1024];
    size_t length = 0;
    ssize_t got = 0;
    while (length < sizeof(message) - 1 &&
           (got = read(fds[0], message + length, sizeof(message) - 1 - length)) > 0) {
        length += (size_t)got;
    }
    message[length] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    bool aborted = child > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    bool named = strstr(message, expression) != NULL;
    if (!aborted || !named) {
        fprintf(stderr, "expected an abort on '%s'; the child said: %s\n", expression, message);
    }
    return aborted && named;
}

static void map_region(struct region *region, uint64_t bytes)
{
    char error[256];
    if (region_map(region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_pool: %s\n", error);
        exit(1);
    }
}

/* Several shapes back to back: each carves at most its plan, and so does the sum. */
static void test_plan(void)
{
    static const uint32_t shapes[][2] = {{1, 1}, {1, 64}, {3, 8}, {37, 13}, {100, 12},
                                         {64, 4096}, {1000, 1}};
    uint32_t shape_count = sizeof(shapes) / sizeof(shapes[0]);
    uint64_t plan_bytes = 0;
    for (uint32_t shape = 0; shape < shape_count; shape++) {
        plan_bytes += pool_plan_bytes(shapes[shape][0], shapes[shape][1]);
        CHECK(pool_plan_bytes(shapes[shape][0], shapes[shape][1]) % POOL_ARRAY_ALIGN == 0);
    }
    struct region region;
    map_region(&region, plan_bytes);
    for (uint32_t shape = 0; shape < shape_count; shape++) {
        /* The padding up to this pool's first line is covered by the plan before it. */
        uint64_t start = (region.carved_bytes + POOL_ARRAY_ALIGN - 1) & ~(POOL_ARRAY_ALIGN - 1ull);
        struct pool pool;
        pool_init(&pool, &region, shapes[shape][0], shapes[shape][1]);
        CHECK(region.carved_bytes - start <= pool_plan_bytes(shapes[shape][0], shapes[shape][1]));
        CHECK((uintptr_t)pool.slots % POOL_ARRAY_ALIGN == 0);
        CHECK((uintptr_t)pool.free_indexes % POOL_ARRAY_ALIGN == 0);
        CHECK((uintptr_t)pool.in_use % POOL_ARRAY_ALIGN == 0);
        CHECK(pool.slot_bytes % POOL_SLOT_ALIGN == 0);
        CHECK(pool.slot_bytes >= shapes[shape][1]);
        CHECK(pool.slot_bytes < shapes[shape][1] + POOL_SLOT_ALIGN);
        CHECK(pool.free_count == shapes[shape][0]);
        pool_verify(&pool);
    }
    CHECK(region.carved_bytes <= plan_bytes);
    region_unmap(&region);
}

/* Writes a pattern naming each slot over all its bytes, then reads every slot back. */
static void test_no_overlap(struct pool *pool)
{
    for (uint32_t index = 0; index < pool->slot_count; index++) {
        memset(pool_slot(pool, index), (int)(index + 1), pool->slot_bytes);
        CHECK((uintptr_t)pool_slot(pool, index) % POOL_SLOT_ALIGN == 0);
    }
    for (uint32_t index = 0; index < pool->slot_count; index++) {
        const uint8_t *bytes = pool_slot(pool, index);
        for (uint32_t offset = 0; offset < pool->slot_bytes; offset++) {
            CHECK(bytes[offset] == (uint8_t)(index + 1));
        }
    }
}

/* SLOTS acquired, one more refused, released in a scrambled order, all acquired again. */
static void test_limits(struct pool *pool)
{
    bool seen[SLOTS] = {false};
    uint32_t order[SLOTS];
    for (uint32_t count = 0; count < SLOTS; count++) {
        uint32_t index = UINT32_MAX;
        CHECK(pool_acquire(pool, &index));
        CHECK(index == count); /* a fresh pool hands out slots in address order */
        CHECK(index < SLOTS && !seen[index]);
        seen[index] = index < SLOTS;
        order[count] = index;
        CHECK(pool_is_used(pool, index));
        CHECK(pool_used_count(pool) == count + 1);
        pool_verify(pool);
    }
    test_no_overlap(pool);
    uint32_t index = UINT32_MAX;
    CHECK(!pool_acquire(pool, &index)); /* one more: empty, reported as a result */
    CHECK(index == UINT32_MAX);
    CHECK(pool->free_count == 0);
    CHECK(pool_used_count(pool) == SLOTS);
    pool_verify(pool);
    /* The last slot released is the next one handed out. */
    pool_release(pool, order[17]);
    CHECK(!pool_is_used(pool, order[17]));
    CHECK(pool_acquire(pool, &index));
    CHECK(index == order[17]);
    CHECK(!pool_acquire(pool, &index));
    /* Release by a stride coprime with SLOTS: every slot once, in a scrambled order. */
    for (uint32_t count = 0; count < SLOTS; count++) {
        uint32_t released = order[(count * 11) % SLOTS];
        pool_release(pool, released);
        CHECK(!pool_is_used(pool, released));
        CHECK(pool->free_count == count + 1);
        pool_verify(pool);
    }
    memset(seen, 0, sizeof(seen));
    for (uint32_t count = 0; count < SLOTS; count++) {
        CHECK(pool_acquire(pool, &index));
        CHECK(index < SLOTS && !seen[index]);
        seen[index] = index < SLOTS;
    }
    CHECK(!pool_acquire(pool, &index));
    for (uint32_t count = 0; count < SLOTS; count++) {
        pool_release(pool, count);
    }
    pool_verify(pool);
    CHECK(pool->free_count == SLOTS);
}

/* A pool of one slot: both sides of its only limit. */
static void test_single(struct region *region)
{
    struct pool pool;
    pool_init(&pool, region, 1, 1);
    CHECK(pool.slot_bytes == POOL_SLOT_ALIGN);
    uint32_t index = UINT32_MAX;
    CHECK(pool_acquire(&pool, &index));
    CHECK(index == 0);
    CHECK(!pool_acquire(&pool, &index));
    pool_verify(&pool);
    pool_release(&pool, 0);
    CHECK(pool_acquire(&pool, &index));
    pool_release(&pool, index);
    pool_verify(&pool);
}

static void test_poison(struct pool *pool)
{
#ifdef KV_DEBUG
    uint32_t index = 0;
    CHECK(pool_acquire(pool, &index));
    memset(pool_slot(pool, index), 0x11, pool->slot_bytes);
    pool_release(pool, index);
    const uint8_t *bytes = pool_slot(pool, index);
    for (uint32_t offset = 0; offset < pool->slot_bytes; offset++) {
        CHECK(bytes[offset] == 0xab);
    }
#else
    (void)pool;
#endif
}

static void release_free(void *context)
{
    pool_release(context, 3); /* never acquired */
}

static void release_twice(void *context)
{
    uint32_t index = 0;
    if (pool_acquire(context, &index)) {
        pool_release(context, index);
        pool_release(context, index);
    }
}

static void release_out_of_range(void *context)
{
    struct pool *pool = context;
    pool_release(pool, pool->slot_count);
}

static void slot_out_of_range(void *context)
{
    struct pool *pool = context;
    (void)pool_slot(pool, pool->slot_count);
}

/* Two stack entries name one slot, so another free slot is missing from the stack. */
static void verify_duplicate(void *context)
{
    struct pool *pool = context;
    pool->free_indexes[0] = pool->free_indexes[1];
    pool_verify(pool);
}

/* The stack names a slot that is marked in use. */
static void verify_stacked_in_use(void *context)
{
    struct pool *pool = context;
    uint32_t index = 0;
    if (pool_acquire(pool, &index)) {
        pool->free_indexes[0] = index;
        pool_verify(pool);
    }
}

/* free_count disagrees with the in-use bytes. */
static void verify_count(void *context)
{
    struct pool *pool = context;
    pool->free_count--;
    pool_verify(pool);
}

static void test_deaths(struct pool *pool)
{
    CHECK(pool->free_count == SLOTS);
    CHECK(dies_asserting(release_free, pool, "pool->in_use[slot_index] == 1"));
    CHECK(dies_asserting(release_twice, pool, "pool->in_use[slot_index] == 1"));
    CHECK(dies_asserting(release_out_of_range, pool, "slot_index < pool->slot_count"));
    CHECK(dies_asserting(slot_out_of_range, pool, "slot_index < pool->slot_count"));
    CHECK(dies_asserting(verify_duplicate, pool, "pool->in_use[index] == 0"));
    CHECK(dies_asserting(verify_stacked_in_use, pool, "pool->in_use[index] == 0"));
    CHECK(dies_asserting(verify_count, pool, "used_count + pool->free_count"));
    /* The children worked on their own copies: this pool is untouched. */
    CHECK(pool->free_count == SLOTS);
    pool_verify(pool);
}

int main(void)
{
    test_plan();
    struct region region;
    map_region(&region, pool_plan_bytes(SLOTS, SLOT_BYTES) + pool_plan_bytes(1, 1));
    struct pool pool;
    pool_init(&pool, &region, SLOTS, SLOT_BYTES);
    CHECK(pool.slot_bytes == 16); /* 13 rounded up to POOL_SLOT_ALIGN */
    CHECK(pool.slot_count == SLOTS);
    pool_verify(&pool);
    test_limits(&pool);
    test_poison(&pool);
    test_deaths(&pool);
    test_single(&region);
    CHECK(region.carved_bytes <= pool_plan_bytes(SLOTS, SLOT_BYTES) + pool_plan_bytes(1, 1));
    region_unmap(&region);
    return check_exit("test_pool");
}
