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
#include <time.h>

#include "evict.h"
#include "propagate.h"
#include "log.h"
#include "notify.h"

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

uint64_t cron_turn(struct cron *cron)
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
