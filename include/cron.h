/*
 * Timed work, on the clock rather than on I/O: active expiry of keys (expire_slice table
 * slots a slice, so memory comes back without a pause; a slice each 1/hz s, and on every
 * turn between while the last slice removed keys), closing clients that stayed idle past
 * `timeout` or took no reply bytes for send_stall_seconds (once a second), and answering
 * blocked commands whose timeout passed. The loop runs a turn before each wait and sleeps at
 * most as long as the turn says. It needs no ring, so it is unit-tested with a fake clock.
 * No allocation; each turn is bounded by expire_slice slots and, once a second, the
 * connection slots.
 */
#ifndef KV_CRON_H
#define KV_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "client.h"
#include "config.h"
#include "conn.h"
#include "serve.h"
#include "stats.h"
#include "store.h"

/* No timed work is pending: the loop may sleep until I/O. */
#define CRON_SLEEP_UNTIL_IO UINT64_MAX

/* How often the idle and stall checks look at every connection. */
#define CRON_CLIENT_SCAN_MS 1000

struct cron {
    struct serve *serve;        /* answers blocked timeouts */
    struct store *store;        /* active expiry */
    struct conns *conns;        /* idle and stalled connections */
    struct clients *clients;    /* their last command times */
    struct block *block;        /* blocked clients' deadlines */
    const struct config *config;/* timeout, send_stall_seconds, hz, expire_slice */
    struct stats *stats;        /* disconnect counters */
    int64_t (*clock_ms)(void);  /* Unix ms now (tests give a fake) */
    int64_t scan_last_ms;       /* when the client checks last ran */
    int64_t expire_last_ms;     /* when the last expiry slice ran */
    bool expire_removed_last;   /* whether it removed a key (then the next turn slices too) */
    int64_t slice_last_ms;      /* when the last BGSAVE slice ran (one a millisecond) */
};

void cron_init(struct cron *cron, struct serve *serve, struct store *store,
               const struct config *config, struct stats *stats, int64_t (*clock_ms)(void));

/* The timed work due now. Returns how long the loop may sleep (ns) before the next turn is
 * due, or CRON_SLEEP_UNTIL_IO when nothing timed is pending (no keys with expiry times, no
 * client checks with clients connected, no blocked clients): then reading the clock is
 * skipped too. */
uint64_t cron_turn(struct cron *cron);

/* Wall-clock Unix ms: the clock cron_init is given outside tests. */
int64_t cron_unix_ms(void);

#endif
