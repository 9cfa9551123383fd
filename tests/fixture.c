/*
 * The unit tests' shared set-up (tests/fixture.h). It asserts (KV_ASSERT) on its own misuse
 * and never counts a check: what a test proves stays in the test.
 */
#include "fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kv_assert.h"

uint64_t prng_state;
uint64_t seed_state;
struct fixture_run fixture_run;

/* What the abort report names: set once by fixture_seed. */
static const char *run_test_name;
static const char *run_step_name;

uint64_t prng_next(void)
{
    prng_state += 0x9e3779b97f4a7c15ull;
    uint64_t value = prng_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

uint32_t prng_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    return (uint32_t)(prng_next() % bound);
}

uint64_t random_next(void)
{
    seed_state ^= seed_state << 13;
    seed_state ^= seed_state >> 7;
    seed_state ^= seed_state << 17;
    return seed_state;
}

uint32_t random_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    return (uint32_t)(random_next() % bound);
}

struct slice text(const char *bytes)
{
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)strlen(bytes)};
}

void fixture_heap_map(struct region *region, struct heap *heap, uint64_t heap_bytes)
{
    if (region->base != NULL) {
        region_unmap(region);
    }
    char error[256];
    /* The heap's plan and 8 KiB to spare, as the store tests have always mapped. */
    if (region_map(region, heap_plan_bytes(heap_bytes) + 8192, CONFIG_HUGEPAGES_OFF,
                   CONFIG_MLOCK_OFF, error, sizeof(error)) != 0) {
        fprintf(stderr, "region_map: %s\n", error);
        exit(1);
    }
    heap_init(heap, region, heap_bytes);
    KV_ASSERT(heap->used_bytes == 0);
}

void fixture_caps_none(struct config *config)
{
    config_defaults(config);
    config->key_count = 0;
    config->key_size_max = 0;
    config->val_size_max = 0;
    config->list_length_max = 0;
}

static void on_abort(int signal_number)
{
    (void)signal_number;
    if (fixture_run.active) {
        fprintf(stderr, "%s: aborted at %s %u (KV_SEED=%llu)\n", run_test_name, run_step_name,
                fixture_run.step, (unsigned long long)fixture_run.seed);
    }
}

uint64_t fixture_seed(const char *test_name, const char *step_name)
{
    KV_ASSERT(test_name != NULL && step_name != NULL);
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    run_test_name = test_name;
    run_step_name = step_name;
    fixture_run.seed = seed;
    signal(SIGABRT, on_abort);
    return seed;
}
