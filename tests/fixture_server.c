/*
 * A test's serving stack (tests/fixture_server.h), wired in main.c's modules_init order. It
 * asserts (KV_ASSERT) on its own misuse and never counts a check.
 */
#include "fixture_server.h"

#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "kv_assert.h"
#include "reply.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

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
