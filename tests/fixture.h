/*
 * What several unit tests set up alike, kept once (tests/fixture.c, linked into every unit
 * test):
 * - prng_next, prng_below: splitmix64 from prng_state, so one seed gives a whole run;
 * - fixture_seed and fixture_run: KV_SEED (or the time), and on an abort the seed and the
 *   step the run had reached, so that KV_SEED replays it;
 * - struct fixture_server: the modules a server is made of, built on a small configuration
 *   as main.c's modules_init builds them (the ones the serving tests drive: no eviction,
 *   scripting or tracking).
 * Nothing here checks anything: the checks stay in the tests (check.h's counters are each
 * test's own), and a set-up that cannot be made (the region not mapped) exits with 1.
 */
#ifndef KV_TEST_FIXTURE_H
#define KV_TEST_FIXTURE_H

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

/* splitmix64: a test sets prng_state (its seed), then every number follows from it. */
extern uint64_t prng_state;
uint64_t prng_next(void);
/* A number below `bound` (> 0). */
uint32_t prng_below(uint32_t bound);

/* The seeded run an abort reports. A test sets `active` while the run goes on and `step` as it
 * advances; an abort at another time (set-up, fixed cases) prints nothing more. */
struct fixture_run {
    uint64_t seed; /* what KV_SEED replays it with (fixture_seed sets it) */
    uint32_t step; /* the step (or round) the run is at */
    bool active;   /* inside the run: an abort is reported */
};
extern struct fixture_run fixture_run;

/* KV_SEED when set, else the time and the PID; kept in fixture_run.seed. Installs the SIGABRT
 * report "<test_name>: aborted at <step_name> <step> (KV_SEED=<seed>)", printed when
 * fixture_run.active. */
uint64_t fixture_seed(const char *test_name, const char *step_name);

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
