/*
 * Proves the loop's timed work with a fake clock (cron_init takes the clock), with
 * serve_verify() and store_verify() after every turn:
 * - nothing timed (no keys with expiry times, no watched clients, no blocked clients):
 *   CRON_SLEEP_UNTIL_IO, and the clock is not even read; with both client checks off,
 *   connected clients do not count;
 * - active expiry: keys whose time passed go, at most expire_slice table slots a slice (so
 *   over several turns), keys whose time has not come and keys without one stay; a turn
 *   less than 1/hz after a slice that removed nothing runs none;
 * - idle clients (`timeout`): killed (conn->dead, on the ready queue, counted) only once
 *   idle for more than `timeout` seconds and only when a CRON_CLIENT_SCAN_MS scan is due;
 *   a client that ran a command recently stays; blocked and subscribed clients are never
 *   closed for idling, as Redis exempts them;
 * - stalled sends (send_stall_seconds): a send with no bytes taken for longer is killed;
 *   one whose sends keep completing, or with nothing in flight, is not;
 * - blocked clients: past its deadline a client gets a null array in its send buffer, is
 *   unblocked and queued, and its pipelined command runs next; a client with no timeout
 *   stays blocked;
 * - the sleep returned never exceeds 1/hz and shrinks to the earliest deadline (1 ms at
 *   least): checked on fixed cases and a seeded random run of blocked clients with random
 *   timeouts, hz and clock steps against a model. The seed is printed on failure (also on an
 *   abort); KV_SEED replays it.
 * The modules are built as main.c's modules_init builds them, on a small configuration.
 */
#include <stdlib.h>

#include "block.h"
#include "check.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "conn.h"
#include "cron.h"
#include "fixture.h"
#include "fixture_server.h"
#include "layout.h"
#include "plan.h"
#include "pubsub.h"
#include "region.h"
#include "serve.h"
#include "stats.h"
#include "store.h"
#include "store_list.h"
#include "store_string.h"
#include "watch.h"

#define CONNECTIONS 4u
#define KEYS 64u
#define EXPIRE_SLICE 4u
#define LOOPBACK 0x7f000001u
#define RANDOM_ROUNDS 300u

static struct fixture_server server;
static struct cron cron;

/* The fake clock: Unix ms, and how often cron read it. */
static int64_t fake_now_ms;
static uint32_t clock_reads;

static int64_t fake_clock(void)
{
    clock_reads++;
    return fake_now_ms;
}

/* main.c's modules_init, on a small configuration, with the fake clock. */
static void modules_build(void)
{
    config_defaults(&server.config);
    server.config.connections_max = CONNECTIONS;
    server.config.key_count = KEYS;
    server.config.maxmemory = 16ull << 20;
    server.config.key_size_max = 32;
    server.config.val_size_max = 64;
    server.config.list_length_max = 8;
    server.config.hugepages = CONFIG_HUGEPAGES_OFF;
    server.config.mlock = CONFIG_MLOCK_OFF;
    server.config.expire_slice = EXPIRE_SLICE;
    server.config.hz = 10;
    server.config.timeout = 0;
    server.config.send_stall_seconds = 0;
    fixture_server_build(&server, &(const struct fixture_server_options){
        .test_name = "test_cron",
        .types = (1u << STORE_TYPE_STRING) | (1u << STORE_TYPE_LIST),
        .store_seed = 4321,
        .registry_seed = 8764});
    cron_init(&cron, &server.serve, &server.store, &server.config, &server.stats, fake_clock);
    region_seal(&server.region);
    CHECK(server.region.carved_bytes <= server.layout.total_bytes);
}

/* A turn at `now_ms`, then every invariant. */
static uint64_t turn_at(int64_t now_ms)
{
    fake_now_ms = now_ms;
    uint64_t sleep_ns = cron_turn(&cron);
    serve_verify(&server.serve);
    store_verify(&server.store);
    return sleep_ns;
}

static uint64_t hz_ns(void)
{
    return 1000000000ull / server.config.hz;
}

/* Opens a client as the loop does (the loop counts it connected). */
static void open_at(uint32_t slot, int64_t now_ms)
{
    CHECK(serve_open(&server.serve, slot, true, LOOPBACK, (uint16_t)(5000 + slot), now_ms));
    server.stats.connected_clients++;
}

static void close_slot(uint32_t slot)
{
    struct conn *conn = conn_at(&server.conns, slot);
    conn->send_in_flight = 0;
    if (conn->state == CONN_OPEN) {
        server.stats.connected_clients--;
    }
    serve_closing(&server.serve, slot);
    conn_release(&server.conns, slot);
    serve_verify(&server.serve);
}

/* Receives bytes and serves them, as the loop does after a receive. */
static void feed(uint32_t slot, const char *bytes)
{
    struct conn *conn = conn_at(&server.conns, slot);
    uint8_t *into = NULL;
    uint32_t length = (uint32_t)strlen(bytes);
    uint32_t room = serve_recv_room(&server.serve, slot, &into);
    if (room < length) {
        CHECK(conn_recv_grow(&server.conns, conn, conn->recv_length + length));
        room = conn_recv_room(conn, &into);
    }
    CHECK(room >= length);
    memcpy(into, bytes, length);
    conn->recv_in_flight = true;
    conn_received(conn, length);
    (void)serve_input(&server.serve, slot);
    serve_verify(&server.serve);
}

/* What waits in the output (one block: these replies are short); then it is sent. */
static bool sent_is(uint32_t slot, const char *want)
{
    struct conn *conn = conn_at(&server.conns, slot);
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(&server.conns, conn, &from);
    KV_ASSERT(pending == conn->out_bytes);
    bool same = pending == strlen(want) && memcmp(from, want, pending) == 0;
    if (pending > 0) {
        conn->send_in_flight = pending;
        conn_sent(&server.conns, conn, pending);
        conn->sends_completed++;
    }
    return same;
}

/* Pops the ready queue; true if `slot` was on it. */
static bool ready_has(uint32_t slot)
{
    bool found = false;
    uint32_t popped = 0;
    /* Bounded by the queue's count. */
    for (uint32_t count = server.conns.ready_count;
         count > 0 && conn_ready_pop(&server.conns, &popped); count--) {
        found = found || popped == slot;
    }
    return found;
}

static void test_nothing_timed(int64_t base_ms)
{
    uint32_t reads = clock_reads;
    CHECK(turn_at(base_ms) == CRON_SLEEP_UNTIL_IO);
    CHECK(clock_reads == reads);
    /* A connected client with both checks off is nothing timed. */
    open_at(0, base_ms);
    CHECK(turn_at(base_ms) == CRON_SLEEP_UNTIL_IO && clock_reads == reads);
    /* Either check on: the loop wakes every 1/hz to run it. */
    server.config.send_stall_seconds = 5;
    CHECK(turn_at(base_ms) == hz_ns() && clock_reads == reads + 1);
    server.config.send_stall_seconds = 0;
    server.config.timeout = 5;
    CHECK(turn_at(base_ms) == hz_ns());
    server.config.hz = 100;
    CHECK(turn_at(base_ms) == 10000000ull);
    server.config.hz = 10;
    close_slot(0);
    CHECK(turn_at(base_ms) == CRON_SLEEP_UNTIL_IO);
    server.config.timeout = 0;
}

static void key_name(char *out, uint32_t index)
{
    snprintf(out, 16, "key:%u", index);
}

static void test_active_expiry(int64_t base_ms)
{
    /* 40 keys: 0..19 expire at +1000 ms, 20..29 at +5000 ms, 30..39 never. */
    store_clock(&server.store, base_ms);
    char name[16];
    for (uint32_t index = 0; index < 40; index++) {
        key_name(name, index);
        CHECK(store_string_set(&server.store, text(name), text("v")) == STORE_OK);
        struct store_found found;
        CHECK(store_find_typed(&server.store, text(name), STORE_TYPE_ANY, &found) == STORE_OK);
        if (index < 30) {
            CHECK(store_expire_set(&server.store, &found, base_ms + (index < 20 ? 1000 : 5000)) ==
                  STORE_OK);
        }
    }
    CHECK(store_expires_count(&server.store) == 30 && store_key_count(&server.store) == 40);
    /* Before their time: nothing goes, however many turns. */
    for (uint32_t turn = 0; turn < 100; turn++) {
        CHECK(turn_at(base_ms + 999) == hz_ns());
    }
    CHECK(store_key_count(&server.store) == 40);
    /* Their time passed, but the last slice (at +999) removed nothing and a tick (1/hz) has
     * not passed since: this turn runs no slice. */
    CHECK(turn_at(base_ms + 1001) == hz_ns());
    CHECK(store_key_count(&server.store) == 40);
    /* A tick later, at most expire_slice slots a slice, so over several turns. */
    int64_t tick_ms = (int64_t)(hz_ns() / 1000000u);
    uint32_t turns = 0;
    uint32_t most = 0;
    /* Bounded: a sweep of the expires dict takes its buckets / expire_slice turns. Each turn
     * a tick later, so each slices whether or not the one before removed keys. */
    for (turns = 0; turns < 1000 && store_key_count(&server.store) > 20; turns++) {
        uint64_t before = store_key_count(&server.store);
        CHECK(turn_at(base_ms + 999 + tick_ms * (turns + 1)) == hz_ns());
        uint32_t removed = (uint32_t)(before - store_key_count(&server.store));
        most = removed > most ? removed : most;
    }
    CHECK(store_key_count(&server.store) == 20 && store_expires_count(&server.store) == 10);
    CHECK(turns >= 20 / EXPIRE_SLICE && most <= EXPIRE_SLICE);
    /* At most one sweep of the expires dict's buckets (30 keys: 32 buckets at most). */
    CHECK(turns <= 64 / EXPIRE_SLICE + 1);
    uint32_t key_ref = 0;
    for (uint32_t index = 0; index < 40; index++) {
        key_name(name, index);
        CHECK(store_peek(&server.store, text(name), &key_ref) == (index >= 20));
    }
    /* The later ones, then nothing timed is left. */
    for (uint32_t turn = 0; turn < 1000 && store_expires_count(&server.store) > 0; turn++) {
        (void)turn_at(base_ms + 5000 + tick_ms * turn);
    }
    CHECK(store_key_count(&server.store) == 10 && store_expires_count(&server.store) == 0);
    CHECK(turn_at(base_ms + 5000) == CRON_SLEEP_UNTIL_IO);
    for (uint32_t index = 30; index < 40; index++) {
        key_name(name, index);
        CHECK(store_delete(&server.store, text(name)));
    }
}

static void test_idle(int64_t base_ms)
{
    server.config.timeout = 2;
    cron.scan_last_ms = 0;
    uint64_t idle_before = server.stats.idle_disconnects;
    open_at(0, base_ms);
    open_at(1, base_ms);
    open_at(2, base_ms);
    open_at(3, base_ms);
    /* 2 blocks with no timeout, 3 subscribes: Redis never closes those for idling. */
    feed(2, "BLPOP never 0\r\n");
    feed(3, "SUBSCRIBE news\r\n");
    CHECK(sent_is(3, "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"));
    client_at(&server.clients, 2)->last_command_ms = base_ms;
    client_at(&server.clients, 3)->last_command_ms = base_ms;
    CHECK(turn_at(base_ms) == hz_ns()); /* the first scan */
    CHECK(cron.scan_last_ms == base_ms);
    CHECK(turn_at(base_ms + 2000) == hz_ns()); /* a scan: idle exactly `timeout`, kept */
    CHECK(conn_live(conn_at(&server.conns, 0)));
    /* Idle past `timeout`, but no scan is due before base + 3000. */
    client_at(&server.clients, 1)->last_command_ms = base_ms + 2500; /* as a command sets it */
    (void)turn_at(base_ms + 2001);
    (void)turn_at(base_ms + 2999);
    CHECK(conn_live(conn_at(&server.conns, 0)) && server.stats.idle_disconnects == idle_before);
    (void)turn_at(base_ms + 3000);
    struct conn *idle = conn_at(&server.conns, 0);
    CHECK(idle->dead && !conn_live(idle) && idle->queued);
    CHECK(server.stats.idle_disconnects == idle_before + 1);
    CHECK(conn_live(conn_at(&server.conns, 1)));
    CHECK(conn_live(conn_at(&server.conns, 2)) && block_is_blocked(&server.block, 2));
    CHECK(conn_live(conn_at(&server.conns, 3)) && client_subscribed(client_at(&server.clients, 3)));
    CHECK(ready_has(0));
    /* Later scans: 1 goes once idle too; 2 and 3 stay; 0 is not counted twice. */
    (void)turn_at(base_ms + 4000);
    CHECK(conn_live(conn_at(&server.conns, 1)));
    (void)turn_at(base_ms + 5000);
    CHECK(!conn_live(conn_at(&server.conns, 1)) &&
          server.stats.idle_disconnects == idle_before + 2);
    (void)turn_at(base_ms + 60000);
    CHECK(conn_live(conn_at(&server.conns, 2)) && conn_live(conn_at(&server.conns, 3)));
    CHECK(server.stats.idle_disconnects == idle_before + 2);
    /* Once unsubscribed, 3 idles like any client. */
    feed(3, "UNSUBSCRIBE\r\n");
    CHECK(sent_is(3, "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n"));
    client_at(&server.clients, 3)->last_command_ms = base_ms;
    (void)turn_at(base_ms + 61000);
    CHECK(!conn_live(conn_at(&server.conns, 3)) &&
          server.stats.idle_disconnects == idle_before + 3);
    (void)ready_has(0);
    for (uint32_t slot = 0; slot < 4; slot++) {
        close_slot(slot);
    }
    server.config.timeout = 0;
}

/* Starts a send of what is pending, as the loop's send_arm does. */
static void send_start(struct conn *conn)
{
    const uint8_t *from = NULL;
    conn->send_in_flight = conn_send_pending(&server.conns, conn, &from);
    KV_ASSERT(conn->send_in_flight > 0);
}

static void test_stall(int64_t base_ms)
{
    server.config.send_stall_seconds = 3;
    cron.scan_last_ms = 0;
    uint64_t stalled_before = server.stats.stalled_disconnects;
    for (uint32_t slot = 0; slot < 3; slot++) {
        open_at(slot, base_ms);
        feed(slot, "PING\r\nPING\r\n");
    }
    /* 0 takes nothing; 1 takes a little each second; 2 has nothing in flight. */
    send_start(conn_at(&server.conns, 0));
    send_start(conn_at(&server.conns, 1));
    CHECK(sent_is(2, "+PONG\r\n+PONG\r\n"));
    for (int64_t second = 0; second <= 3; second++) {
        (void)turn_at(base_ms + second * 1000);
        struct conn *taking = conn_at(&server.conns, 1);
        conn_sent(&server.conns, taking, 1);
        taking->sends_completed++;
        send_start(taking);
        feed(1, "PING\r\n"); /* more replies, so there is always a send waiting */
        client_at(&server.clients, 1)->last_command_ms = base_ms;
    }
    /* Three seconds without progress is not more than three. */
    CHECK(conn_live(conn_at(&server.conns, 0)) &&
          server.stats.stalled_disconnects == stalled_before);
    (void)turn_at(base_ms + 3999); /* no scan due */
    CHECK(conn_live(conn_at(&server.conns, 0)));
    (void)turn_at(base_ms + 4000);
    CHECK(!conn_live(conn_at(&server.conns, 0)) && conn_at(&server.conns, 0)->dead);
    CHECK(server.stats.stalled_disconnects == stalled_before + 1 && ready_has(0));
    CHECK(conn_live(conn_at(&server.conns, 1)) && conn_live(conn_at(&server.conns, 2)));
    /* Long after: the one whose sends complete and the one with none in flight stay. */
    for (int64_t second = 5; second <= 20; second++) {
        struct conn *taking = conn_at(&server.conns, 1);
        conn_sent(&server.conns, taking, 1);
        taking->sends_completed++;
        send_start(taking);
        (void)turn_at(base_ms + second * 1000);
    }
    CHECK(conn_live(conn_at(&server.conns, 1)) && conn_live(conn_at(&server.conns, 2)));
    CHECK(server.stats.stalled_disconnects == stalled_before + 1);
    /* 1 stops taking bytes: it goes after the stall time from when a scan first saw it. */
    (void)turn_at(base_ms + 23000);
    CHECK(conn_live(conn_at(&server.conns, 1)));
    (void)turn_at(base_ms + 24000);
    CHECK(!conn_live(conn_at(&server.conns, 1)) &&
          server.stats.stalled_disconnects == stalled_before + 2);
    (void)ready_has(1);
    for (uint32_t slot = 0; slot < 3; slot++) {
        close_slot(slot);
    }
    server.config.send_stall_seconds = 0;
}

static void test_block_timeouts(void)
{
    open_at(0, 0);
    open_at(1, 0);
    /* 0 waits 250 ms with a PING behind; 1 waits forever. The deadline is on the clock
     * commands see (the store's, set from the wall clock as each command runs). */
    feed(0, "BLPOP bq 0.25\r\nPING\r\n");
    int64_t deadline_ms = server.block.clients[0].deadline_ms;
    CHECK(deadline_ms == server.store.now_ms + 250);
    feed(1, "BLPOP bq 0\r\n");
    CHECK(block_is_blocked(&server.block, 0) && block_is_blocked(&server.block, 1));
    CHECK(server.block.clients[1].deadline_ms == 0);
    CHECK(block_next_deadline(&server.block) == deadline_ms);
    /* The sleep: 1/hz while the deadline is further, then down to it. */
    CHECK(turn_at(deadline_ms - 200) == hz_ns());
    CHECK(turn_at(deadline_ms - 100) == hz_ns());
    CHECK(turn_at(deadline_ms - 99) == 99000000ull);
    CHECK(turn_at(deadline_ms - 1) == 1000000ull);
    CHECK(block_is_blocked(&server.block, 0) && conn_at(&server.conns, 0)->out_bytes == 0);
    /* At the deadline: a null array, unblocked, queued; the PING is left for the loop. */
    CHECK(turn_at(deadline_ms) == hz_ns());
    CHECK(!block_is_blocked(&server.block, 0) && block_is_blocked(&server.block, 1));
    CHECK(conn_at(&server.conns, 0)->queued && ready_has(0));
    (void)serve_input(&server.serve, 0);
    CHECK(sent_is(0, "*-1\r\n+PONG\r\n"));
    /* A long timeout: 1/hz until it is near. */
    feed(0, "BLPOP bq 10\r\n");
    deadline_ms = server.block.clients[0].deadline_ms;
    CHECK(turn_at(deadline_ms - 9000) == hz_ns());
    CHECK(turn_at(deadline_ms - 30) == 30000000ull);
    /* Past due by the time the turn runs: answered at once. */
    CHECK(turn_at(deadline_ms + 500) == hz_ns() && !block_is_blocked(&server.block, 0));
    CHECK(sent_is(0, "*-1\r\n"));
    (void)ready_has(0);
    /* The one with no timeout is answered by a push, not the clock. */
    CHECK(turn_at(deadline_ms + 3600000) == hz_ns() && block_is_blocked(&server.block, 1));
    feed(0, "RPUSH bq x\r\n");
    CHECK(sent_is(0, ":1\r\n") && sent_is(1, "*2\r\n$2\r\nbq\r\n$1\r\nx\r\n"));
    CHECK(!block_is_blocked(&server.block, 1));
    (void)ready_has(1);
    close_slot(0);
    close_slot(1);
    CHECK(turn_at(deadline_ms) == CRON_SLEEP_UNTIL_IO);
}

/* Random blocked clients, timeouts, hz and clock steps: the sleep is never more than 1/hz,
 * is the time to the earliest deadline when that is sooner (1 ms at least), and each client
 * is answered at the first turn at or past its deadline. */
#define WAIT_FOREVER 0
#define WAIT_ANSWERED (-1)
/* Clients 0 .. BLOCKERS - 1 block; the last one pushes to serve those with no timeout. */
#define BLOCKERS (CONNECTIONS - 1u)
#define PUSHER (CONNECTIONS - 1u)

/* Checks one turn against the deadlines (updated: answered ones become WAIT_ANSWERED);
 * returns the earliest deadline still ahead, 0 when none. */
static int64_t random_turn_check(int64_t *deadlines, int64_t now_ms, uint32_t *answered)
{
    int64_t earliest = 0;
    for (uint32_t slot = 0; slot < BLOCKERS; slot++) {
        if (deadlines[slot] == WAIT_ANSWERED) {
            CHECK(!block_is_blocked(&server.block, slot));
            continue;
        }
        bool due = deadlines[slot] != WAIT_FOREVER && deadlines[slot] <= now_ms;
        CHECK(block_is_blocked(&server.block, slot) == !due);
        if (due) {
            CHECK(sent_is(slot, "*-1\r\n"));
            (*answered)++;
            deadlines[slot] = WAIT_ANSWERED;
        } else if (deadlines[slot] != WAIT_FOREVER &&
                   (earliest == 0 || deadlines[slot] < earliest)) {
            earliest = deadlines[slot];
        }
    }
    return earliest;
}

static void test_random(uint64_t seed)
{
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    static const uint32_t hz_choices[] = {1, 10, 100, 500};
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        open_at(slot, 0);
    }
    uint32_t answered = 0;
    uint32_t shrunk = 0;
    int failures_before = check_failures;
    for (uint32_t round = 0; round < RANDOM_ROUNDS; round++) {
        fixture_run.step = round;
        server.config.hz = hz_choices[prng_below(4)];
        int64_t deadlines[BLOCKERS];
        for (uint32_t slot = 0; slot < BLOCKERS; slot++) {
            char command[64];
            uint32_t timeout_ms = prng_below(4) == 0 ? 0 : 1 + prng_below(3000);
            snprintf(command, sizeof(command), "BLPOP r%u %u.%03u\r\n", slot, timeout_ms / 1000,
                     timeout_ms % 1000);
            feed(slot, command);
            CHECK(block_is_blocked(&server.block, slot));
            deadlines[slot] = server.block.clients[slot].deadline_ms;
            CHECK(timeout_ms == 0 ? deadlines[slot] == WAIT_FOREVER
                                  : deadlines[slot] == server.store.now_ms + timeout_ms);
        }
        int64_t now_ms = server.store.now_ms;
        /* Bounded: the clock moves 0..399 ms a turn, past every deadline within 3 s. */
        for (uint32_t step = 0; step < 1000; step++) {
            now_ms += prng_below(400);
            uint64_t sleep_ns = turn_at(now_ms);
            int64_t earliest = random_turn_check(deadlines, now_ms, &answered);
            uint64_t want = 1000000000ull / server.config.hz;
            if (earliest != 0 && (uint64_t)(earliest - now_ms) * 1000000ull < want) {
                want = (uint64_t)(earliest - now_ms) * 1000000ull;
                shrunk++;
            }
            CHECK(sleep_ns == want && sleep_ns <= 1000000000ull / server.config.hz);
            CHECK(sleep_ns >= 1000000ull);
            if (earliest == 0) {
                break;
            }
        }
        /* Those with no timeout are served by pushes. */
        for (uint32_t slot = 0; slot < BLOCKERS; slot++) {
            if (deadlines[slot] != WAIT_FOREVER) {
                continue;
            }
            uint32_t pusher = PUSHER;
            char command[32];
            char reply[64];
            snprintf(command, sizeof(command), "LPUSH r%u x\r\n", slot);
            snprintf(reply, sizeof(reply), "*2\r\n$2\r\nr%u\r\n$1\r\nx\r\n", slot);
            feed(pusher, command);
            CHECK(sent_is(pusher, ":1\r\n") && !block_is_blocked(&server.block, slot));
            CHECK(sent_is(slot, reply));
        }
        CHECK(server.block.blocked_count == 0);
        (void)ready_has(0);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_cron: random round %u failed (KV_SEED=%llu)\n", round,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    server.config.hz = 10;
    printf("test_cron: %u random rounds, %u timeouts answered, %u sleeps shrunk to a deadline "
           "(KV_SEED=%llu)\n",
           RANDOM_ROUNDS, answered, shrunk, (unsigned long long)seed);
    CHECK(answered > RANDOM_ROUNDS && shrunk > RANDOM_ROUNDS / 2);
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        close_slot(slot);
    }
}

int main(void)
{
    uint64_t seed = fixture_seed("test_cron", "random round");
    modules_build();
    /* The fake clock runs near the wall clock, which commands read for their own times. */
    int64_t base_ms = cron_unix_ms();
    test_nothing_timed(base_ms);
    test_active_expiry(base_ms);
    test_idle(base_ms);
    test_stall(base_ms);
    test_block_timeouts();
    test_random(seed);
    serve_verify(&server.serve);
    region_unmap(&server.region);
    return check_exit("test_cron");
}
