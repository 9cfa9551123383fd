/*
 * What several unit tests set up alike, kept once (tests/fixture.c, in the kvtestfixture
 * library every unit test links):
 * - prng_next, prng_below: splitmix64 from prng_state, so one seed gives a whole run;
 * - random_next, random_below: xorshift64 from seed_state (the store tests' generator);
 * - text: a C string as a slice;
 * - fixture_heap_map, fixture_caps_none: a heap on a region of its own, and a config without
 *   kv's optional caps (Redis's limits), as the store tests set up;
 * - fixture_seed and fixture_run: KV_SEED (or the time), and on an abort the seed and the
 *   step the run had reached, so that KV_SEED replays it;
 * and, in tests/fixture_server.h, the modules a server is made of.
 * Nothing here checks anything: the checks stay in the tests (check.h's counters are each
 * test's own), and a set-up that cannot be made (the region not mapped) exits with 1.
 */
#ifndef KV_TEST_FIXTURE_H
#define KV_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "heap.h"
#include "region.h"
#include "slice.h"

/* splitmix64: a test sets prng_state (its seed), then every number follows from it. */
extern uint64_t prng_state;
uint64_t prng_next(void);
/* A number below `bound` (> 0). */
uint32_t prng_below(uint32_t bound);

/* xorshift64: a test sets seed_state, then every number follows from it (0 stays 0: only 0s,
 * which test_store_list's OOM part, run before it seeds, relies on to check its first key). */
extern uint64_t seed_state;
uint64_t random_next(void);
/* A number below `bound` (> 0). */
uint32_t random_below(uint32_t bound);

/* A NUL-terminated string's bytes (without the NUL) as a slice. */
struct slice text(const char *bytes);

/* Maps `region` for a heap of `heap_bytes` (unmapping it first if mapped: a fresh start) and
 * inits `heap` on it; exits with 1 when the region cannot be mapped. */
void fixture_heap_map(struct region *region, struct heap *heap, uint64_t heap_bytes);

/* config_defaults without kv's optional caps (key_count, key_size_max, val_size_max,
 * list_length_max at 0: Redis's limits). */
void fixture_caps_none(struct config *config);

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

#endif
