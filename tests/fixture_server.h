/*
 * The serving stack of a test (tests/fixture_server.c): the modules a server is made of,
 * built on a small configuration as main.c's modules_init builds them (the ones the serving
 * tests drive: no eviction, scripting or tracking). It checks nothing, as tests/fixture.h.
 */
#ifndef KV_TEST_FIXTURE_SERVER_H
#define KV_TEST_FIXTURE_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "client.h"
#include "config.h"
#include "conn.h"
#include "heap.h"
#include "layout.h"
#include "plan.h"
#include "pubsub.h"
#include "region.h"
#include "serve.h"
#include "stats.h"
#include "store.h"
#include "watch.h"

/* The serving stack as main.c wires it: config through serve, each module's state by value. */
struct fixture_server {
    struct config config;   /* set by the test between config_defaults and the build */
    struct plan plan;       /* computed from config */
    struct layout layout;   /* every pool's bytes, the region's size */
    struct region region;   /* mapped without hugepages or mlock; the test seals it */
    struct heap heap;       /* config.maxmemory bytes */
    struct store store;     /* with the types asked for, hooked to watch and block */
    struct watch watch;     /* WATCH's registry */
    struct pubsub pubsub;   /* channels and subscriptions */
    struct stats stats;     /* zeroed: the tests count connections themselves */
    struct conns conns;     /* plan.conn_slot_count slots */
    struct clients clients; /* one per connection slot */
    struct block block;     /* blocked clients */
    struct serve serve;     /* the layer the tests drive */
};

/* What differs between the tests that build a server. */
struct fixture_server_options {
    const char *test_name;  /* printed before a failure to build */
    uint32_t types;         /* bits (1u << STORE_TYPE_*) of the store types registered */
    bool slots;             /* cluster mode's per-slot index, enabled right after the types */
    uint64_t store_seed;    /* the keyspace's hash seed */
    uint64_t registry_seed; /* watch's hash seed; pubsub's is one more, block's two more */
};

/* Builds `server` from its config (already set) as modules_init does, up to serve_init; the
 * region is not sealed, so a test may carve more (cron_init) before region_seal. Exits with
 * 1 when the plan is refused or the region cannot be mapped. */
void fixture_server_build(struct fixture_server *server,
                          const struct fixture_server_options *options);

#endif
