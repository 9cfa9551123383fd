/*
 * The unit tests' shared set-up (tests/fixture.h). It asserts (KV_ASSERT) on its own misuse
 * and never counts a check: what a test proves stays in the test.
 */
#include "fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "kv_assert.h"
#include "reply.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

uint64_t prng_state;
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

/* The store's types in main.c's order, each registered when its bit is asked for. */
static void server_types_init(struct store *store, uint32_t types)
{
    KV_ASSERT(types != 0);
    KV_ASSERT((types & ~((1u << STORE_TYPE_COUNT) - 2u)) == 0); /* no STORE_TYPE_ANY */
    if (types & (1u << STORE_TYPE_STRING)) {
        store_string_init(store);
    }
    if (types & (1u << STORE_TYPE_LIST)) {
        store_list_init(store);
    }
    if (types & (1u << STORE_TYPE_HASH)) {
        store_hash_init(store);
    }
    if (types & (1u << STORE_TYPE_SET)) {
        store_set_init(store);
    }
    if (types & (1u << STORE_TYPE_ZSET)) {
        store_zset_init(store);
    }
    if (types & (1u << STORE_TYPE_STREAM)) {
        store_stream_init(store);
    }
}

/* The plan, the layout and the region for server->config; exits when any is refused. */
static void server_map(struct fixture_server *server, const char *test_name)
{
    char error[256];
    if (plan_compute(&server->plan, &server->config, error, sizeof(error)) != 0) {
        fprintf(stderr, "%s: %s\n", test_name, error);
        exit(1);
    }
    layout_compute(&server->layout, &server->config, &server->plan);
    if (region_map(&server->region, server->layout.total_bytes, server->config.hugepages,
                   server->config.mlock, error, sizeof(error)) != 0) {
        fprintf(stderr, "%s: %s\n", test_name, error);
        exit(1);
    }
    KV_ASSERT(server->region.carved_bytes == 0);
}

void fixture_server_build(struct fixture_server *server,
                          const struct fixture_server_options *options)
{
    KV_ASSERT(options->test_name != NULL);
    server_map(server, options->test_name);
    const struct config *config = &server->config;
    const struct plan *plan = &server->plan;
    reply_errors_init(config, plan->recv_limit);
    heap_init(&server->heap, &server->region, config->maxmemory);
    store_init(&server->store, &server->heap, config, options->store_seed);
    server_types_init(&server->store, options->types);
    if (options->slots) {
        store_slots_enable(&server->store);
    }
    watch_init(&server->watch, &server->heap, config->watch_keys_max, options->registry_seed);
    pubsub_init(&server->pubsub, &server->heap, config->pubsub_channels_max,
                config->subscriptions_max, options->registry_seed + 1);
    conns_init(&server->conns, &server->region, &server->heap, plan->conn_slot_count,
               config->connections_max, plan->recv_limit);
    clients_init(&server->clients, &server->region, plan->conn_slot_count, &server->watch,
                 &server->pubsub);
    block_init(&server->block, &server->region, &server->heap, plan->conn_slot_count,
               config->blocking_keys_max, options->registry_seed + 2);
    server->store.touched = watch_touched;
    server->store.touched_context = &server->watch;
    server->store.ready = block_key_ready;
    server->store.ready_context = &server->block;
    cmd_init(&server->region, PLAN_SLOWLOG_MAX_LEN);
    cmd_slowlog_threshold_set(config->slowlog_log_slower_than);
    const struct cmd_context shared = {.store = &server->store,
                                       .config = &server->config,
                                       .plan = &server->plan,
                                       .region = &server->region,
                                       .stats = &server->stats,
                                       .watch = &server->watch,
                                       .pubsub = &server->pubsub,
                                       .conns = &server->conns,
                                       .clients = &server->clients,
                                       .block = &server->block};
    serve_init(&server->serve, &server->region, plan, &shared, &server->heap);
    KV_ASSERT(!server->region.sealed);
}
