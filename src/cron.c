/*
 * The loop's timed work (see cron.h). Idle clients are closed as Redis's `timeout` closes
 * them (blocked clients and subscribers are spared, as Redis spares them); a client that has
 * had a reply waiting in the kernel with no bytes taken for longer than send_stall_seconds
 * never reads, and would otherwise hold its slot and buffers for ever. Closing goes through
 * conn_kill: the loop finds the connection on the ready queue and closes it. While keys have
 * expiry times, or clients are connected and either check is on, or clients are blocked, the
 * loop wakes at least every 1/hz s; blocked clients make it wake at the earliest deadline if
 * that comes sooner.
 */
#include "cron.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evict.h"
#include "propagate.h"
#include "log.h"
#include "notify.h"
#include "rdb.h"
#include "redis_param.h"
#include "snapshot.h"

int64_t cron_unix_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void cron_init(struct cron *cron, struct serve *serve, struct store *store,
               const struct config *config, struct stats *stats, int64_t (*clock_ms)(void))
{
    KV_ASSERT(serve != NULL && store != NULL && clock_ms != NULL);
    *cron = (struct cron){.serve = serve,
                          .store = store,
                          .conns = serve->conns,
                          .clients = serve->clients,
                          .block = serve->block,
                          .config = config,
                          .stats = stats,
                          .clock_ms = clock_ms};
    KV_ASSERT(cron->conns->slot_count == cron->clients->slot_count);
    /* Keyspace events from below the commands (expiry, eviction, new keys) publish through
     * the modules every command reaches. */
    const struct cmd_context *shared = &serve->shared;
    struct notify_sinks sinks = {.pubsub = shared->pubsub,
                                 .conns = shared->conns,
                                 .clients = shared->clients,
                                 .config = shared->config,
                                 .stats = shared->stats};
    notify_attach(&sinks, store);
}

/* Whether a client has had a reply waiting in the kernel with no bytes taken for longer
 * than send_stall_seconds. */
static bool send_stalled(const struct config *config, struct conn *conn, int64_t now_ms)
{
    if (config->send_stall_seconds == 0 || conn->send_in_flight == 0) {
        conn->stall_since_ms = 0;
        return false;
    }
    if (conn->stall_since_ms == 0 || conn->sends_completed != conn->stall_seen_sends) {
        conn->stall_seen_sends = conn->sends_completed;
        conn->stall_since_ms = now_ms;
        return false;
    }
    return now_ms - conn->stall_since_ms > (int64_t)config->send_stall_seconds * 1000;
}

/* Whether `timeout` spares a client, as Redis spares it: a blocked client waits for its
 * keys (its own timeout ends the wait) and a subscriber waits for messages, so neither
 * sends commands. */
static bool idle_exempt(const struct cron *cron, const struct client *client)
{
    return block_is_blocked(cron->block, client->slot_index) || client_subscribed(client);
}

/* Closes one client for a stall or for idling, or neither. */
static void client_check(struct cron *cron, uint32_t slot_index, int64_t now_ms)
{
    const struct config *config = cron->config;
    struct conn *conn = conn_at(cron->conns, slot_index);
    const struct client *client = client_at(cron->clients, slot_index);
    KV_ASSERT(client->id != 0);
    if (send_stalled(config, conn, now_ms)) {
        log_warn("cron: closing client %" PRIu64 " (%.*s): it took no reply bytes for more "
                 "than %u s",
                 client->id, (int)conn->addr_length, conn->addr, config->send_stall_seconds);
        cron->stats->stalled_disconnects++;
        conn_kill(cron->conns, conn);
    } else if (config->timeout > 0 && !idle_exempt(cron, client) &&
               now_ms - client->last_command_ms > (int64_t)config->timeout * 1000) {
        log_info("cron: closing client %" PRIu64 " (%.*s): idle for more than %u s", client->id,
                 (int)conn->addr_length, conn->addr, config->timeout);
        cron->stats->idle_disconnects++;
        conn_kill(cron->conns, conn);
    }
}

/* Once every CRON_CLIENT_SCAN_MS: the idle and stall checks over every connection. */
static void clients_scan(struct cron *cron, int64_t now_ms)
{
    const struct config *config = cron->config;
    if ((config->timeout == 0 && config->send_stall_seconds == 0) ||
        now_ms - cron->scan_last_ms < CRON_CLIENT_SCAN_MS) {
        return;
    }
    cron->scan_last_ms = now_ms;
    /* Bounded by the slot count. */
    for (uint32_t slot_index = 0; slot_index < cron->conns->slot_count; slot_index++) {
        const struct conn *conn = conn_at(cron->conns, slot_index);
        if (conn_live(conn) && !conn->close_after_send) {
            client_check(cron, slot_index, now_ms);
        }
    }
}

/* Whether this turn runs an expiry slice: one is due every 1/hz s (and after the clock
 * stepped back), as Redis's cron samples keys hz times a second; between ticks a turn slices
 * again only while the last slice removed keys, as Redis's fast cycle runs while the keys it
 * samples are stale, so expired keys still go at the loop's pace. A slice on every turn cost
 * a loaded server expire_slice slots per pass of the loop: with 100,000 keys under EX and
 * none due, about 19 keys examined per request and twice a plain SET's instructions. */
static bool expire_due(const struct cron *cron, int64_t now_ms)
{
    KV_ASSERT(cron->config->hz > 0);
    int64_t interval_ms = 1000 / (int64_t)cron->config->hz;
    return cron->expire_removed_last || now_ms < cron->expire_last_ms ||
           now_ms - cron->expire_last_ms >= interval_ms;
}

static uint64_t cron_turn_timed(struct cron *cron);

/* Redis's CONFIG_BGSAVE_RETRY_DELAY: after a failed BGSAVE, save points wait this long. */
#define CRON_BGSAVE_RETRY_MS 5000
/* The most save point pairs read from `save` ("<seconds> <changes>" each). */
#define CRON_SAVE_POINTS_MAX 16u

/* The `save` parameter's text ("" when save points are off). */
static const char *save_points(void)
{
    static int32_t param = -1;
    if (param < 0) {
        param = redis_param_find("save", 4);
        KV_ASSERT(param >= 0);
    }
    return redis_param_value((uint32_t)param);
}

/* When the next `save` point falls due (Redis's serverCron): ms from now, 0 when one is due
 * (a "<seconds> <changes>" pair has its changes and its seconds since the last save), -1
 * when none can be (points off, no change since the last save). A failed BGSAVE is retried
 * after CRON_BGSAVE_RETRY_MS. */
static int64_t save_point_wait(int64_t now_ms)
{
    const char *at = save_points();
    const struct rdb_save_stats *saved = rdb_stats();
    uint64_t changes = snapshot_changes() - saved->changes_at_save;
    if (at[0] == '\0' || changes == 0) {
        return -1;
    }
    int64_t soonest = -1;
    /* Bounded by CRON_SAVE_POINTS_MAX pairs (CONFIG SET checked the text's form). */
    for (uint32_t pair = 0; pair < CRON_SAVE_POINTS_MAX; pair++) {
        char *end = NULL;
        long long seconds = strtoll(at, &end, 10);
        if (end == at) {
            break;
        }
        at = end;
        long long wanted = strtoll(at, &end, 10);
        if (end == at) {
            break;
        }
        at = end;
        if (changes < (uint64_t)wanted) {
            continue;
        }
        if (seconds > INT64_MAX / 1000 - saved->last_save_seconds) {
            continue; /* due past the clock's range (Redis keeps up to LLONG_MAX): never */
        }
        int64_t due_ms = (saved->last_save_seconds + seconds) * 1000;
        int64_t wait_ms = due_ms > now_ms ? due_ms - now_ms : 0;
        soonest = soonest < 0 || wait_ms < soonest ? wait_ms : soonest;
    }
    if (soonest == 0 && !saved->last_bgsave_ok &&
        now_ms - saved->bgsave_tried_ms <= CRON_BGSAVE_RETRY_MS) {
        soonest = saved->bgsave_tried_ms + CRON_BGSAVE_RETRY_MS + 1 - now_ms;
    }
    return soonest;
}

/* BGSAVE's turn: a slice of a running snapshot, or the start of a scheduled or due one.
 * Returns the sleep it allows: a millisecond while a snapshot runs, until the next save
 * point, or CRON_SLEEP_UNTIL_IO when nothing is pending. */
static uint64_t persist_turn(struct cron *cron)
{
    if (snapshot_running()) {
        /* At most one slice a millisecond (64 MiB/s, about what a disk takes): between
         * slices the thread sleeps or serves, so a snapshot never holds the CPU the clients
         * share with it (a thread always runnable loses the scheduler's favour). */
        int64_t now_ms = cron->clock_ms();
        if (now_ms != cron->slice_last_ms) {
            cron->slice_last_ms = now_ms;
            (void)snapshot_step();
        }
        return 1000000u;
    }
    bool scheduled = rdb_bgsave_scheduled_take();
    bool unchanged = snapshot_changes() == rdb_stats()->changes_at_save;
    if (!scheduled && (save_points()[0] == '\0' || unchanged)) {
        return CRON_SLEEP_UNTIL_IO; /* the common case, without reading the clock */
    }
    int64_t now_ms = cron->clock_ms();
    int64_t wait_ms = scheduled ? 0 : save_point_wait(now_ms);
    if (wait_ms != 0) {
        return wait_ms < 0 ? CRON_SLEEP_UNTIL_IO : (uint64_t)wait_ms * 1000000ull;
    }
    if (!scheduled) {
        log_info("Save point reached: saving (forkless BGSAVE)");
    }
    int status = rdb_bgsave(cron->store, now_ms);
    if (status < 0) {
        log_warn("BGSAVE could not start: %s", strerror(-status));
        return (uint64_t)CRON_BGSAVE_RETRY_MS * 1000000ull;
    }
    return 1u;
}

uint64_t cron_turn(struct cron *cron)
{
    uint64_t persist_ns = persist_turn(cron);
    uint64_t timed_ns = cron_turn_timed(cron);
    return persist_ns < timed_ns ? persist_ns : timed_ns;
}

/* Expiry, eviction, clients and blocked timeouts: cron_turn's timed work. */
static uint64_t cron_turn_timed(struct cron *cron)
{
    const struct config *config = cron->config;
    bool clients_watched = (config->timeout > 0 || config->send_stall_seconds > 0) &&
                           cron->stats->connected_clients > 0;
    bool blocked = cron->block->blocked_count > 0;
    struct evict *evict = cron->serve->shared.evict;
    bool evicting = evict != NULL && evict_pending(evict);
    /* The AOF's everysec fsync and write retries need the timer too (propagate.h). */
    if (store_expires_count_all(cron->store) == 0 && !clients_watched && !blocked && !evicting &&
        !propagate_timer_wanted()) {
        return CRON_SLEEP_UNTIL_IO;
    }
    KV_ASSERT(config->hz > 0 && config->expire_slice > 0);
    int64_t now_ms = cron->clock_ms();
    store_clock(cron->store, now_ms);
    if (expire_due(cron, now_ms)) {
        uint32_t removed = store_expire_slice(cron->store, config->expire_slice);
        KV_ASSERT(removed <= config->expire_slice);
        cron->expire_last_ms = now_ms;
        cron->expire_removed_last = removed > 0;
    }
    if (evicting) {
        evict_cycle(evict); /* where a command's time limit stopped it */
    }
    serve_tracking_deliver(cron->serve); /* keys expired or evicted: their invalidations */
    serve_clients_evict(cron->serve);
    clients_scan(cron, now_ms);
    uint64_t sleep_ns = 1000000000ull / config->hz;
    if (blocked) {
        serve_block_timeouts(cron->serve, now_ms);
        int64_t deadline_ms = block_next_deadline(cron->block);
        if (deadline_ms != 0) {
            int64_t wait_ms = deadline_ms - now_ms;
            uint64_t wait_ns = (uint64_t)(wait_ms < 1 ? 1 : wait_ms) * 1000000ull;
            sleep_ns = wait_ns < sleep_ns ? wait_ns : sleep_ns;
        }
    }
    KV_ASSERT(sleep_ns > 0 && sleep_ns != CRON_SLEEP_UNTIL_IO);
    return sleep_ns;
}
