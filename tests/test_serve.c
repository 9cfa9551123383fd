/*
 * Proves the serving layer turns received bytes into the right replies, byte for byte, with
 * serve_verify() (every connection, client, transaction and blocked client) after every
 * step. It drives serve_open, serve_recv_room and serve_input as src/loop.c does: bytes are
 * written where serve_recv_room says and handed over with conn_received, sends are taken
 * from conn_send_pending and completed with conn_sent (whole or short), connections on the
 * ready queue are served again. Covered:
 * - pipelined commands answered in order; SERVE_COMMANDS_PER_PASS commands per call, and
 *   exactly that many (serve_input says there is more);
 * - a command split across reads at every byte, answered once whole;
 * - a client that does not read: once its unsent output passes SERVE_OUTPUT_PAUSE_BYTES no
 *   more of its commands run (nothing is cut, the input stays, reading goes on), and the
 *   rest runs as the kernel takes the replies (short writes included);
 * - client-output-buffer-limit: a client past its hard limit is closed and counted, as in
 *   Redis; a reply that finds the heap full closes its client, counted, and the stored data
 *   stay; a command of more arguments than the scratch holds borrows them from the heap;
 * - MULTI/EXEC with queued commands split across reads and compactions, EXECABORT after a
 *   refused command, DISCARD, WATCH broken by another client; a transaction whose queue and
 *   EXEC fill the receive buffer at client-query-buffer-limit to the byte runs, one byte
 *   more overflows it (EXECABORT), and a command queued after the overflow is told the
 *   transaction is too large;
 * - BLPOP blocking, served by an LPUSH from another client oldest waiter first, only the
 *   waiters of that key retried (the blpop call counter shows it), the served client's
 *   pipelined command running after it; a BLMOVE chain served by one LPUSH; a blocked
 *   client that leaves; blocking_keys_max refusing with its error;
 * - protected mode: a non-loopback peer gets Redis's DENIED line as its only reply and
 *   nothing it sends runs; loopback, unknown peers and a set password are served;
 * - QUIT and a protocol error: the reply, then nothing more runs and the connection closes;
 *   the buffers running out refuses the next socket;
 * - a seeded replay of a script (writes, reads of large values, transactions) in random
 *   chunks with random short writes gives the same replies as sending it whole. The seed is
 *   printed on failure (also on an abort); KV_SEED replays it.
 * The modules are built as main.c's modules_init builds them, on a small configuration.
 */
#include <stdlib.h>

#include "block.h"
#include "check.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "conn.h"
#include "fixture.h"
#include "fixture_server.h"
#include "layout.h"
#include "plan.h"
#include "protected.h"
#include "pubsub.h"
#include "region.h"
#include "serve.h"
#include "stats.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_string.h"
#include "watch.h"

#define CONNECTIONS 4u
/* The replay's values: large enough that its replies pass the output pause. */
#define VALUE_BYTES 16384u
/* The pause test's value. */
#define BIG_VALUE_BYTES 100000u
/* A small heap and receive limit, so that their edges are quick to reach. */
#define HEAP_BYTES (32ull << 20)
#define RECV_LIMIT (512u * 1024u)
#define BLOCKING_KEYS 8u
#define LOOPBACK 0x7f000001u
/* The slots the tests use (0 .. CONNECTIONS, the last to be refused): replies kept per slot. */
#define SLOTS_USED (CONNECTIONS + 2u)
#define CAPTURE_BYTES (8u * 1024u * 1024u)
#define REPLAY_ROUNDS 40u

static struct fixture_server server;

/* Everything each slot was sent, since the last expect(). */
static uint8_t captured[SLOTS_USED][CAPTURE_BYTES];
static uint32_t captured_length[SLOTS_USED];

/* Whether replies are taken (sent whole) as soon as they are written. */
static bool auto_send = true;

/* main.c's modules_init, on a small configuration. */
static void modules_build(void)
{
    config_defaults(&server.config);
    server.config.connections_max = CONNECTIONS;
    server.config.maxmemory = HEAP_BYTES;
    server.config.client_query_buffer_limit = RECV_LIMIT;
    server.config.hugepages = CONFIG_HUGEPAGES_OFF;
    server.config.mlock = CONFIG_MLOCK_OFF;
    server.config.watch_keys_max = 16;
    server.config.blocking_keys_max = BLOCKING_KEYS;
    server.config.pubsub_channels_max = 16;
    server.config.subscriptions_max = 4;
    fixture_server_build(&server, &(const struct fixture_server_options){
        .test_name = "test_serve",
        .types = (1u << STORE_TYPE_STRING) | (1u << STORE_TYPE_LIST) | (1u << STORE_TYPE_HASH),
        .store_seed = 12345,
        .registry_seed = 677});
    region_seal(&server.region);
    CHECK(server.region.carved_bytes <= server.layout.total_bytes);
}

/* Sends up to `bytes_max` of what the first output block holds, as one send the kernel
 * takes that much of; returns how many bytes went. */
static uint32_t send_part(uint32_t slot, uint32_t bytes_max)
{
    struct conn *conn = conn_at(&server.conns, slot);
    const uint8_t *from = NULL;
    if (conn->state != CONN_OPEN || conn_send_pending(&server.conns, conn, &from) == 0) {
        return 0;
    }
    uint32_t pending = conn_send_pending(&server.conns, conn, &from);
    KV_ASSERT(slot < SLOTS_USED && conn->send_in_flight == 0);
    conn->send_in_flight = pending;
    uint32_t taken = pending < bytes_max ? pending : bytes_max;
    KV_ASSERT(captured_length[slot] + taken <= CAPTURE_BYTES);
    memcpy(captured[slot] + captured_length[slot], from, taken);
    captured_length[slot] += taken;
    conn_sent(&server.conns, conn, taken);
    conn->sends_completed++;
    return taken;
}

/* Sends every block waiting; returns the bytes sent. */
static uint64_t send_all(uint32_t slot)
{
    uint64_t sent = 0;
    /* Bounded by the output chain: each pass sends one block whole. */
    for (uint32_t taken = send_part(slot, UINT32_MAX); taken > 0;
         taken = send_part(slot, UINT32_MAX)) {
        sent += taken;
    }
    return sent;
}

/* Runs a connection as the loop does: serve_input (the loop's serve), then, as its settle
 * does for a connection that keeps reading, serve_recv_room to arm the next receive while
 * the replies are being sent; when a send completes the loop serves the connection again.
 * Then the connections on the ready queue (clients a command woke) are served the same way. */
static void run(uint32_t slot)
{
    /* Bounded: each pass runs up to SERVE_COMMANDS_PER_PASS commands of a finite input or
     * sends replies; 10000 passes is far more than any test needs. */
    for (uint32_t pass = 0; pass < 10000; pass++) {
        struct conn *conn = conn_at(&server.conns, slot);
        bool more = conn->state == CONN_OPEN && serve_input(&server.serve, slot);
        serve_verify(&server.serve);
        if (conn_live(conn) && !conn->close_after_send) {
            uint8_t *into = NULL;
            (void)serve_recv_room(&server.serve, slot, &into);
            serve_verify(&server.serve);
        }
        uint64_t sent = auto_send ? send_all(slot) : 0;
        if (!more && sent == 0) {
            break;
        }
    }
    uint32_t count = server.conns.ready_count;
    for (uint32_t index = 0; index < count; index++) {
        uint32_t ready = 0;
        if (!conn_ready_pop(&server.conns, &ready)) {
            break;
        }
        if (conn_live(conn_at(&server.conns, ready))) {
            run(ready);
        }
    }
}

/* Receives bytes as the loop does: into the room serve_recv_room gives, then serve. When
 * the buffer is full, the commands in it run first (and replies go out if auto_send). */
static void feed(uint32_t slot, const void *bytes, uint32_t length)
{
    const uint8_t *next = bytes;
    uint32_t stuck = 0;
    /* Bounded: each pass receives a byte or more, or counts towards `stuck`. */
    while (length > 0 && stuck < 3 && conn_at(&server.conns, slot)->state == CONN_OPEN) {
        struct conn *conn = conn_at(&server.conns, slot);
        uint8_t *into = NULL;
        uint32_t room = serve_recv_room(&server.serve, slot, &into);
        serve_verify(&server.serve);
        if (room == 0) {
            stuck++;
            run(slot);
            continue;
        }
        stuck = 0;
        uint32_t piece = room < length ? room : length;
        memcpy(into, next, piece);
        conn->recv_in_flight = true;
        conn_received(conn, piece);
        next += piece;
        length -= piece;
        run(slot);
    }
    CHECK(length == 0);
}

static void feed_text(uint32_t slot, const char *bytes)
{
    feed(slot, bytes, (uint32_t)strlen(bytes));
}

/* Checks that the slot was sent exactly `want` since the last check. */
static void expect_bytes(uint32_t slot, const void *want, uint32_t want_length)
{
    send_all(slot);
    CHECK_BYTES(captured[slot], captured_length[slot], want, want_length);
    captured_length[slot] = 0;
}

static void expect(uint32_t slot, const char *want)
{
    expect_bytes(slot, want, (uint32_t)strlen(want));
}

static void open_from(uint32_t slot, uint32_t ipv4)
{
    CHECK(serve_open(&server.serve, slot, true, ipv4, 40000 + (uint16_t)slot, 0));
    captured_length[slot] = 0;
    serve_verify(&server.serve);
}

/* Closes as the loop does once nothing is in flight: serve_closing, then the release. */
static void close_slot(uint32_t slot)
{
    send_all(slot);
    serve_closing(&server.serve, slot);
    conn_release(&server.conns, slot);
    serve_verify(&server.serve);
}

/* Calls of a command so far (the counter INFO commandstats shows). */
static uint64_t calls_of(const char *name)
{
    const char *found = NULL;
    struct cmd_stats counters;
    /* Bounded by the command table. */
    for (uint32_t index = 0; cmd_stats_at(index, &found, &counters); index++) {
        if (strcmp(found, name) == 0) {
            return counters.calls;
        }
    }
    CHECK(false);
    return 0;
}

static void test_pipeline(void)
{
    open_from(0, LOOPBACK);
    CHECK_STR(conn_at(&server.conns, 0)->addr, "127.0.0.1:40000");
    feed_text(0, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nGET a\r\nINCR a\r\n"
                 "*1\r\n$4\r\nPING\r\nECHO \"x y\"\r\nNOSUCH\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
    expect(0, "+OK\r\n$1\r\n1\r\n:2\r\n+PONG\r\n$3\r\nx y\r\n"
              "-ERR unknown command 'NOSUCH', with args beginning with: \r\n$1\r\n2\r\n");
    /* 2000 pipelined PINGs: 1024 per call, then the rest. */
    static char pings[2000 * 14];
    for (uint32_t index = 0; index < 2000; index++) {
        memcpy(pings + index * 14, "*1\r\n$4\r\nPING\r\n", 14);
    }
    struct conn *conn = conn_at(&server.conns, 0);
    uint8_t *into = NULL;
    (void)serve_recv_room(&server.serve, 0, &into);
    CHECK(conn_recv_grow(&server.conns, conn, sizeof(pings)));
    CHECK(conn_recv_room(conn, &into) >= sizeof(pings));
    memcpy(into, pings, sizeof(pings));
    conn->recv_in_flight = true;
    conn_received(conn, sizeof(pings));
    CHECK(serve_input(&server.serve, 0));
    CHECK(conn->out_bytes == SERVE_COMMANDS_PER_PASS * 7);
    serve_verify(&server.serve);
    CHECK(!serve_input(&server.serve, 0));
    CHECK(conn->out_bytes == 2000 * 7 && conn->parser.command_start == conn->recv_length);
    static char pongs[2000 * 7];
    for (uint32_t index = 0; index < 2000; index++) {
        memcpy(pongs + index * 7, "+PONG\r\n", 7);
    }
    expect_bytes(0, pongs, sizeof(pongs));
    close_slot(0);
}

static void test_split(void)
{
    open_from(1, LOOPBACK);
    const char *command = "*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$6\r\nvalue!\r\n";
    uint32_t length = (uint32_t)strlen(command);
    for (uint32_t cut = 1; cut < length; cut++) {
        feed(1, command, cut);
        CHECK(captured_length[1] == 0 && conn_at(&server.conns, 1)->out_bytes == 0);
        feed(1, command + cut, length - cut);
        expect(1, "+OK\r\n");
    }
    /* A byte at a time, an inline command too. */
    const char *inline_get = "GET split\r\n";
    for (uint32_t index = 0; index < strlen(inline_get); index++) {
        feed(1, inline_get + index, 1);
    }
    expect(1, "$6\r\nvalue!\r\n");
    close_slot(1);
}

/* Sets key `v` to BIG_VALUE_BYTES of 'v'; returns GET v's reply in `reply`. */
static uint32_t big_value_set(char *reply, uint32_t reply_bytes)
{
    static char value[BIG_VALUE_BYTES + 1];
    memset(value, 'v', BIG_VALUE_BYTES);
    static char set[BIG_VALUE_BYTES + 64];
    snprintf(set, sizeof(set), "*3\r\n$3\r\nSET\r\n$1\r\nv\r\n$%u\r\n%s\r\n", BIG_VALUE_BYTES,
             value);
    feed_text(0, set);
    expect(0, "+OK\r\n");
    return (uint32_t)snprintf(reply, reply_bytes, "$%u\r\n%s\r\n", BIG_VALUE_BYTES, value);
}

static const char get_v[] = "*2\r\n$3\r\nGET\r\n$1\r\nv\r\n";
#define GET_V_BYTES ((uint32_t)sizeof(get_v) - 1u)

/* `count` GET v commands, pipelined. */
static void gets_feed(uint32_t slot, uint32_t count)
{
    static char gets[64 * GET_V_BYTES];
    KV_ASSERT(count <= 64);
    for (uint32_t index = 0; index < count; index++) {
        memcpy(gets + index * GET_V_BYTES, get_v, GET_V_BYTES);
    }
    feed(slot, gets, count * GET_V_BYTES);
}

static void test_output_pause(void)
{
    open_from(0, LOOPBACK);
    static char reply[BIG_VALUE_BYTES + 16];
    uint32_t one = big_value_set(reply, sizeof(reply));
    /* 40 GETs of the value with nothing sent: commands run until the unsent output passes
     * the pause, whole replies; the rest of the commands wait in the receive buffer. */
    auto_send = false;
    gets_feed(0, 40);
    struct conn *conn = conn_at(&server.conns, 0);
    uint32_t held = SERVE_OUTPUT_PAUSE_BYTES / one + 1;
    CHECK(conn->out_bytes == (uint64_t)held * one);
    CHECK(conn->recv_length - conn->parser.command_start == (40 - held) * GET_V_BYTES);
    /* Waiting for the client to read does not stop reading. */
    uint8_t *into = NULL;
    CHECK(serve_recv_room(&server.serve, 0, &into) > 0);
    /* Nothing runs until the output drains below the pause. */
    CHECK(!serve_input(&server.serve, 0));
    CHECK(conn->out_bytes == (uint64_t)held * one);
    send_part(0, 100);
    run(0);
    CHECK(conn->out_bytes == (uint64_t)held * one - 100);
    uint32_t ran = 0;
    /* Bounded: each pass sends part of the replies and runs what then fits. */
    for (uint32_t pass = 0; pass < 20000 && conn->parser.command_start < conn->recv_length;
         pass++) {
        send_part(0, 1 + prng_below(one));
        run(0);
        CHECK(conn->out_bytes <= SERVE_OUTPUT_PAUSE_BYTES + one);
        ran++;
    }
    auto_send = true;
    send_all(0);
    CHECK(conn->parser.command_start == conn->recv_length && ran > 0);
    CHECK(captured_length[0] == 40 * one);
    bool same = true;
    for (uint32_t index = 0; index < 40 && captured_length[0] == 40 * one; index++) {
        same = same && memcmp(captured[0] + index * one, reply, one) == 0;
    }
    CHECK(same);
    captured_length[0] = 0;
    /* An idle client holds its receive buffer and no output block. */
    CHECK(conn->out_head == HEAP_REF_NONE && conn_memory(&server.conns, conn) <= 2 * RECV_LIMIT);
    close_slot(0);
}

static void test_output_limits(void)
{
    open_from(0, LOOPBACK);
    static char reply[BIG_VALUE_BYTES + 16];
    uint32_t one = big_value_set(reply, sizeof(reply));
    /* A normal client's hard limit of 512 KiB: the sixth unsent reply passes it, and the
     * client is closed, counted; the key stays. */
    server.config.output_limits[CONFIG_CLIENT_NORMAL].hard_bytes = 512u * 1024u;
    uint64_t limit_disconnects = server.stats.output_limit_disconnects;
    auto_send = false;
    gets_feed(0, 8);
    struct conn *conn = conn_at(&server.conns, 0);
    CHECK(conn->dead && server.stats.output_limit_disconnects == limit_disconnects + 1);
    CHECK(conn->out_bytes == 6ull * one);
    auto_send = true;
    server.config.output_limits[CONFIG_CLIENT_NORMAL].hard_bytes = 0;
    captured_length[0] = 0;
    serve_closing(&server.serve, 0);
    conn_release(&server.conns, 0);
    serve_verify(&server.serve);
    open_from(0, LOOPBACK);
    feed_text(0, "STRLEN v\r\n");
    char strlen_reply[32];
    snprintf(strlen_reply, sizeof(strlen_reply), ":%u\r\n", BIG_VALUE_BYTES);
    expect(0, strlen_reply);
    /* The heap full (every page taken by someone else): a reply that needs a new block
     * closes its client, counted; nothing stored is lost. */
    static void *fillers[HEAP_BYTES / 4096];
    uint32_t filled = 0;
    while (filled < HEAP_BYTES / 4096 &&
           (fillers[filled] = heap_alloc(&server.heap, 4096)) != NULL) {
        filled++;
    }
    uint64_t memory_disconnects = server.stats.memory_disconnects;
    auto_send = false;
    gets_feed(0, 1);
    CHECK(conn->dead && server.stats.memory_disconnects == memory_disconnects + 1);
    for (uint32_t index = 0; index < filled; index++) {
        heap_release(&server.heap, fillers[index]);
    }
    auto_send = true;
    captured_length[0] = 0;
    send_all(0);
    serve_closing(&server.serve, 0);
    conn_release(&server.conns, 0);
    serve_verify(&server.serve);
    open_from(0, LOOPBACK);
    feed_text(0, "STRLEN v\r\nDEL v\r\n");
    snprintf(strlen_reply, sizeof(strlen_reply), ":%u\r\n:1\r\n", BIG_VALUE_BYTES);
    expect(0, strlen_reply);
    /* 45,000 arguments, more than the scratch holds (an inline request's most): borrowed
     * from the heap for the command, given back after it. */
    KV_ASSERT(45000u > server.plan.args_max);
    static char del[45000u * 7u + 32u];
    uint32_t length = (uint32_t)snprintf(del, sizeof(del), "*45000\r\n$3\r\nDEL\r\n");
    for (uint32_t index = 1; index < 45000; index++) {
        memcpy(del + length, "$1\r\nx\r\n", 7);
        length += 7;
    }
    feed_text(0, "SET x 1\r\n");
    expect(0, "+OK\r\n");
    uint64_t allocations = server.heap.allocations;
    feed(0, del, length);
    expect(0, ":1\r\n");
    CHECK(server.heap.allocations < allocations); /* the key went; no arguments were kept */
    CHECK(server.serve.scratch.args_max == server.plan.args_max);
    close_slot(0);
}

static void test_multi(void)
{
    open_from(0, LOOPBACK);
    open_from(1, LOOPBACK);
    /* Queued commands arrive split, and compactions happen between the reads. */
    feed_text(0, "MULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nm\r\n$1\r\n5\r\n*2\r\n$4\r\nIN");
    feed_text(0, "CR\r\n$1\r\nm\r\nGET m\r\n");
    feed_text(0, "*2\r\n$5\r\nLPUSH\r\n$1\r\nq\r\nEXEC\r\nPING\r\n");
    expect(0, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
              "-ERR wrong number of arguments for 'lpush' command\r\n"
              "-EXECABORT Transaction discarded because of previous errors.\r\n+PONG\r\n");
    CHECK(!client_at(&server.clients, 0)->txn.active);
    feed_text(0, "MULTI\r\nSET m 5\r\nINCR m\r\nGET m\r\nWATCH x\r\nEXEC\r\n");
    expect(0, "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
              "-ERR WATCH inside MULTI is not allowed\r\n*3\r\n+OK\r\n:6\r\n$1\r\n6\r\n");
    feed_text(0, "MULTI\r\nSET m 7\r\nDISCARD\r\nGET m\r\n");
    expect(0, "+OK\r\n+QUEUED\r\n+OK\r\n$1\r\n6\r\n");
    /* WATCH, another client changes the key, EXEC answers a null array and runs nothing. */
    feed_text(0, "WATCH m\r\nMULTI\r\nINCR m\r\n");
    expect(0, "+OK\r\n+OK\r\n+QUEUED\r\n");
    feed_text(1, "SET m 100\r\n");
    expect(1, "+OK\r\n");
    feed_text(0, "EXEC\r\nGET m\r\n");
    expect(0, "*-1\r\n$3\r\n100\r\n");
    close_slot(0);
    close_slot(1);
}

/* A PUBLISH (its reply small, ":0" with no subscribers) exactly `length` bytes long. */
static void publish_exact(char *out, uint32_t length)
{
    /* "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$<3 digits>\r\n" (31) + message + "\r\n". */
    uint32_t message_length = length - 31 - 2;
    KV_ASSERT(message_length >= 100 && message_length <= 999);
    int written = snprintf(out, length + 1, "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$%u\r\n",
                           message_length);
    KV_ASSERT(written == 31);
    memset(out + written, 'q', message_length);
    memcpy(out + written + message_length, "\r\n", 2);
}

/* Commands the overflow test's transactions queue: enough to fill RECV_LIMIT with
 * PUBLISHes of 100 to 999 bytes. */
static uint32_t transaction_count_max(void)
{
    return 600;
}

/* MULTI, then INCR tx and count - 1 PUBLISHes, `queue_bytes` in all, then `between`, EXEC
 * and `after`, sent as one stream. */
static void transaction_of(uint32_t slot, uint32_t count, uint32_t queue_bytes,
                           const char *between, const char *after)
{
    static char bytes[RECV_LIMIT + 64 * 1024];
    const char *incr = "*2\r\n$4\r\nINCR\r\n$2\r\ntx\r\n";
    uint32_t length = (uint32_t)strlen(incr);
    memcpy(bytes, incr, length);
    uint32_t each = (queue_bytes - length) / (count - 1);
    /* Bounded by count; the last PUBLISH takes what the division left. */
    for (uint32_t index = 1; index < count; index++) {
        uint32_t publish_length = index + 1 < count ? each : queue_bytes - length;
        publish_exact(bytes + length, publish_length);
        length += publish_length;
    }
    KV_ASSERT(length == queue_bytes);
    const char *parts[3] = {between, "*1\r\n$4\r\nEXEC\r\n", after};
    for (uint32_t part = 0; part < 3; part++) {
        if (parts[part] == NULL) {
            continue;
        }
        uint32_t part_length = (uint32_t)strlen(parts[part]);
        KV_ASSERT(length + part_length <= sizeof(bytes));
        memcpy(bytes + length, parts[part], part_length);
        length += part_length;
    }
    feed_text(slot, "MULTI\r\n");
    expect(slot, "+OK\r\n");
    feed(slot, bytes, length);
}

/* `count` QUEUED replies, then `tail`. */
static uint32_t queued_then(char *out, uint32_t count, const char *tail)
{
    uint32_t length = 0;
    for (uint32_t index = 0; index < count; index++) {
        memcpy(out + length, "+QUEUED\r\n", 9);
        length += 9;
    }
    memcpy(out + length, tail, strlen(tail));
    return length + (uint32_t)strlen(tail);
}

/* EXEC's reply for a transaction of INCR tx (to `tx`) and count - 1 PUBLISHes. */
static uint32_t exec_reply(char *out, uint32_t count, uint32_t tx)
{
    uint32_t length = (uint32_t)snprintf(out, 32, "*%u\r\n:%u\r\n", count, tx);
    for (uint32_t index = 1; index < count; index++) {
        memcpy(out + length, ":0\r\n", 4);
        length += 4;
    }
    return length;
}

static void test_transaction_overflow(void)
{
    static char want[128 * 1024];
    static char pings[3000 * 14 + 1];
    for (uint32_t index = 0; index < 3000; index++) {
        memcpy(pings + index * 14, "*1\r\n$4\r\nPING\r\n", 14);
    }
    const char *exec = "*1\r\n$4\r\nEXEC\r\n";
    const char *abort_line = "-EXECABORT Transaction discarded because of previous errors.\r\n";
    uint32_t count = transaction_count_max();
    uint32_t fill_bytes = server.plan.recv_limit - (uint32_t)strlen(exec);
    open_from(2, LOOPBACK);
    /* The queue and EXEC fill the receive buffer, grown to its limit, to the byte: it runs. */
    transaction_of(2, count, fill_bytes, NULL, NULL);
    uint32_t want_length = queued_then(want, count, "");
    want_length += exec_reply(want + want_length, count, 1);
    expect_bytes(2, want, want_length);
    feed_text(2, "GET tx\r\n");
    expect(2, "$1\r\n1\r\n");
    /* A smaller queue, then EXEC with 3000 pipelined PINGs behind it in the same stream: the
     * transaction runs, then the PINGs. */
    transaction_of(2, count, count * 150, NULL, pings);
    want_length = queued_then(want, count, "");
    want_length += exec_reply(want + want_length, count, 2);
    for (uint32_t index = 0; index < 3000; index++) {
        memcpy(want + want_length, "+PONG\r\n", 7);
        want_length += 7;
    }
    expect_bytes(2, want, want_length);
    feed_text(2, "GET tx\r\n");
    expect(2, "$1\r\n2\r\n");
    /* One byte more: the queue overflows; EXEC aborts and nothing ran. */
    transaction_of(2, count, fill_bytes + 1, NULL, NULL);
    want_length = queued_then(want, count, abort_line);
    expect_bytes(2, want, want_length);
    feed_text(2, "GET tx\r\n");
    expect(2, "$1\r\n2\r\n");
    CHECK(!client_at(&server.clients, 2)->txn.active);
    /* A command completed after the overflow is told why; later ones are QUEUED as Redis
     * does after an error; EXEC aborts; what follows EXEC runs. */
    transaction_of(2, count, fill_bytes + 1, "*1\r\n$4\r\nPING\r\nPING\r\n", "GET tx\r\n");
    char tail[512];
    snprintf(tail, sizeof(tail),
             "-ERR transaction is too large: its commands would exceed %u bytes; EXEC will "
             "abort\r\n+QUEUED\r\n%s$1\r\n2\r\n",
             server.plan.recv_limit, abort_line);
    want_length = queued_then(want, count, tail);
    expect_bytes(2, want, want_length);
    close_slot(2);
}

static void test_blocking(void)
{
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        open_from(slot, LOOPBACK);
    }
    /* 0 and 1 wait on q (0 first, with a command pipelined behind), 2 on r and q's
     * neighbour; 3 pushes. */
    feed_text(0, "BLPOP q 0\r\nPING\r\n");
    feed_text(1, "*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");
    feed_text(2, "BLPOP r qq 0\r\n");
    CHECK(block_is_blocked(&server.block, 0) && block_is_blocked(&server.block, 1));
    CHECK(block_is_blocked(&server.block, 2) && server.block.blocked_count == 3);
    CHECK(captured_length[0] == 0 && captured_length[1] == 0 && captured_length[2] == 0);
    /* The PING behind the BLPOP waits too. */
    run(0);
    CHECK(captured_length[0] == 0);
    uint64_t blpop_calls = calls_of("blpop");
    feed_text(3, "LPUSH q x\r\n");
    expect(3, ":1\r\n");
    /* 0 was served (and its PING ran), 1 was retried and found nothing, 2 was left alone. */
    expect(0, "*2\r\n$1\r\nq\r\n$1\r\nx\r\n+PONG\r\n");
    CHECK(calls_of("blpop") == blpop_calls + 2);
    CHECK(!block_is_blocked(&server.block, 0) && block_is_blocked(&server.block, 1));
    CHECK(block_is_blocked(&server.block, 2) && captured_length[1] == 0 && captured_length[2] == 0);
    /* Two elements: 1 takes the first, one stays. */
    feed_text(3, "RPUSH q y z\r\nLLEN q\r\n");
    expect(3, ":2\r\n:1\r\n");
    expect(1, "*2\r\n$1\r\nq\r\n$1\r\ny\r\n");
    CHECK(!block_is_blocked(&server.block, 1));
    /* 2 blocked on r and qq: a push to qq serves it with qq. */
    feed_text(3, "RPUSH qq w\r\n");
    expect(3, ":1\r\n");
    expect(2, "*2\r\n$2\r\nqq\r\n$1\r\nw\r\n");
    CHECK(server.block.blocked_count == 0 && block_key_count(&server.block) == 0);
    /* Serving happens in push order: BRPOP answers from the tail. */
    feed_text(0, "BRPOP q 0\r\n");
    expect(0, "*2\r\n$1\r\nq\r\n$1\r\nz\r\n");
    /* A BLMOVE chain: 0 moves src to mid, 1 mid to dst, 2 pops dst; one push serves all. */
    feed_text(0, "BLMOVE src mid LEFT RIGHT 0\r\n");
    feed_text(1, "BLMOVE mid dst RIGHT LEFT 0\r\n");
    feed_text(2, "BLPOP dst 0\r\n");
    CHECK(server.block.blocked_count == 3);
    feed_text(3, "LPUSH src v\r\n");
    expect(3, ":1\r\n");
    expect(0, "$1\r\nv\r\n");
    expect(1, "$1\r\nv\r\n");
    expect(2, "*2\r\n$3\r\ndst\r\n$1\r\nv\r\n");
    feed_text(3, "EXISTS src mid dst\r\n");
    expect(3, ":0\r\n");
    CHECK(server.block.blocked_count == 0);
    /* A blocked client that leaves is forgotten; the push is not taken by it. */
    feed_text(1, "BLPOP gone 0\r\n");
    CHECK(block_is_blocked(&server.block, 1));
    close_slot(1);
    CHECK(server.block.blocked_count == 0 && block_key_count(&server.block) == 0);
    feed_text(3, "LPUSH gone a\r\nLLEN gone\r\n");
    expect(3, ":1\r\n:1\r\n");
    /* blocking_keys_max: BLOCKING_KEYS keys block, one more is refused with kv's error. */
    feed_text(0, "BLPOP k1 k2 k3 k4 k5 k6 k7 k8 k9 0\r\n");
    char full[128];
    snprintf(full, sizeof(full), "-ERR too many blocked keys (blocking_keys_max is %u)\r\n",
             BLOCKING_KEYS);
    expect(0, full);
    CHECK(!block_is_blocked(&server.block, 0));
    feed_text(0, "BLPOP k1 k2 k3 k4 k5 k6 k7 k8 0\r\n");
    CHECK(block_is_blocked(&server.block, 0) && server.block.link_count == BLOCKING_KEYS);
    feed_text(2, "BLPOP k1 0\r\n");
    expect(2, full);
    feed_text(3, "RPUSH k8 last\r\n");
    expect(3, ":1\r\n");
    expect(0, "*2\r\n$2\r\nk8\r\n$4\r\nlast\r\n");
    CHECK(server.block.blocked_count == 0 && server.block.link_count == 0);
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        if (slot != 1) {
            close_slot(slot);
        }
    }
}

static void test_protected(void)
{
    struct slice denied = protected_denied_line();
    uint64_t refusals = server.stats.protected_refusals;
    /* 10.0.0.5: refused, told why, nothing it sends runs. */
    open_from(0, 0x0a000005u);
    struct conn *conn = conn_at(&server.conns, 0);
    CHECK_STR(conn->addr, "10.0.0.5:40000");
    CHECK(conn->close_after_send && server.stats.protected_refusals == refusals + 1);
    feed_text(0, "SET hacked 1\r\n");
    expect_bytes(0, denied.bytes, denied.length);
    CHECK(!store_find(&server.store,
                      (struct slice){.bytes = (const uint8_t *)"hacked", .length = 6},
                      &(uint32_t){0}));
    close_slot(0);
    /* Loopback (any 127/8 address) and an unknown peer are served. */
    open_from(0, 0x7f000102u);
    CHECK(!conn->close_after_send);
    feed_text(0, "PING\r\n");
    expect(0, "+PONG\r\n");
    close_slot(0);
    CHECK(serve_open(&server.serve, 0, false, 0, 0, 0));
    CHECK(conn->addr_length == 0 && !conn->close_after_send);
    close_slot(0);
    /* With a password set, protected mode lets the peer in (AUTH is asked instead). */
    strcpy(server.config.requirepass, "secret");
    open_from(0, 0x0a000005u);
    CHECK(!conn->close_after_send && !client_at(&server.clients, 0)->authenticated);
    feed_text(0, "GET a\r\nAUTH secret\r\nPING\r\n");
    expect(0, "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n");
    close_slot(0);
    server.config.requirepass[0] = '\0';
    /* Protected mode off: served. */
    server.config.protected_mode = 0;
    open_from(0, 0x0a000005u);
    CHECK(!conn->close_after_send);
    close_slot(0);
    server.config.protected_mode = 1;
    CHECK(server.stats.protected_refusals == refusals + 1);
}

static void test_quit_and_refusal(void)
{
    open_from(0, LOOPBACK);
    feed_text(0, "PING\r\nQUIT\r\nPING\r\n");
    expect(0, "+PONG\r\n+OK\r\n");
    struct conn *conn = conn_at(&server.conns, 0);
    CHECK(conn->close_after_send && conn->parser.command_start < conn->recv_length);
    run(0);
    expect(0, "");
    close_slot(0);
    /* A protocol error: answered, then the connection closes. */
    open_from(0, LOOPBACK);
    feed_text(0, "*1\r\n$x\r\nPING\r\n");
    expect(0, "-ERR Protocol error: invalid bulk length\r\n");
    CHECK(conn->close_after_send);
    close_slot(0);
    /* connections_max open: the next socket is refused, and served once one leaves. */
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        open_from(slot, LOOPBACK);
    }
    CHECK(!serve_open(&server.serve, CONNECTIONS, true, LOOPBACK, 1, 0));
    CHECK(conn_at(&server.conns, CONNECTIONS)->state == CONN_REFUSING);
    CHECK(client_at(&server.clients, CONNECTIONS)->id == 0);
    serve_verify(&server.serve);
    serve_closing(&server.serve, CONNECTIONS);
    conn_release(&server.conns, CONNECTIONS);
    close_slot(2);
    open_from(CONNECTIONS, LOOPBACK);
    feed_text(CONNECTIONS, "PING\r\n");
    expect(CONNECTIONS, "+PONG\r\n");
    close_slot(CONNECTIONS);
    for (uint32_t slot = 0; slot < CONNECTIONS; slot++) {
        if (slot != 2) {
            close_slot(slot);
        }
    }
}

/* The replay's script: commands whose replies depend only on what came before. */
static uint32_t script_build(char *out, uint32_t out_bytes)
{
    static char value[VALUE_BYTES + 1];
    memset(value, 'z', VALUE_BYTES);
    uint32_t length = 0;
    length += (uint32_t)snprintf(out + length, out_bytes - length, "FLUSHALL\r\n");
    for (uint32_t index = 0; index < 180; index++) {
        int written = 0;
        switch (index % 6) {
        case 0:
            written = snprintf(out + length, out_bytes - length,
                               "*3\r\n$3\r\nSET\r\n$2\r\nb%u\r\n$%u\r\n%s\r\n", index % 10,
                               VALUE_BYTES, value);
            break;
        case 1:
            written = snprintf(out + length, out_bytes - length,
                               "GET b%u\r\nGET b%u\r\nMGET b0 b6 nothing\r\n", index % 10,
                               (index + 3) % 10);
            break;
        case 2:
            written = snprintf(out + length, out_bytes - length,
                               "RPUSH l%u a b c\r\nLRANGE l%u 0 -1\r\nINCR n\r\n", index / 6 % 3,
                               index / 6 % 3);
            break;
        case 3:
            written = snprintf(out + length, out_bytes - length,
                               "MULTI\r\nINCR n\r\nGET b0\r\nLPOP l0\r\nEXEC\r\n");
            break;
        case 4:
            written = snprintf(out + length, out_bytes - length,
                               "LTRIM l%u 0 3\r\nDEL b%u\r\nECHO \"a\\x41\"\r\n", index / 6 % 3,
                               (index + 5) % 10);
            break;
        default:
            written = snprintf(out + length, out_bytes - length,
                               "HSET h f%u %s\r\nHGETALL h\r\nPING\r\n", index % 4, "vvv");
            break;
        }
        KV_ASSERT(written > 0 && length + (uint32_t)written < out_bytes);
        length += (uint32_t)written;
    }
    return length;
}

/* Passes of the chunked replay that found the client's output paused. */
static uint32_t replay_send_full;

/* Sends the script in random chunks with random short writes; returns how many reply bytes
 * came back (in captured[slot]). */
static uint32_t replay(uint32_t slot, const char *script, uint32_t length, bool chunked,
                       uint32_t receive_odds)
{
    open_from(slot, LOOPBACK);
    auto_send = !chunked;
    struct conn *conn = conn_at(&server.conns, slot);
    uint32_t offset = 0;
    /* Bounded: each pass receives a byte or more, or sends some of what is pending. */
    for (uint32_t pass = 0; pass < 1000000 && offset < length; pass++) {
        if (!chunked) {
            feed(slot, script, length);
            offset = length;
            break;
        }
        uint8_t *into = NULL;
        uint32_t room = serve_recv_room(&server.serve, slot, &into);
        serve_verify(&server.serve);
        /* A receive receive_odds - 1 times in receive_odds, else a (short) send. */
        if (room > 0 && prng_below(receive_odds) != 0) {
            uint32_t piece = 1 + prng_below(prng_below(4) == 0 ? 4096 : 64);
            piece = piece < room ? piece : room;
            piece = piece < length - offset ? piece : length - offset;
            memcpy(into, script + offset, piece);
            conn->recv_in_flight = true;
            conn_received(conn, piece);
            offset += piece;
        } else {
            send_part(slot, 1 + prng_below(2048));
        }
        run(slot);
        replay_send_full += conn->out_bytes > SERVE_OUTPUT_PAUSE_BYTES ? 1 : 0;
    }
    auto_send = true;
    /* Bounded: every pass sends everything pending and runs what is left. */
    for (uint32_t pass = 0; pass < 1000 && conn->parser.command_start < conn->recv_length;
         pass++) {
        send_all(slot);
        run(slot);
    }
    send_all(slot);
    CHECK(offset == length && conn->parser.command_start == conn->recv_length);
    uint32_t replies = captured_length[slot];
    close_slot(slot);
    return replies;
}

static void test_replay(uint64_t seed)
{
    static char script[1024 * 1024];
    uint32_t length = script_build(script, sizeof(script));
    fixture_run.seed = seed;
    fixture_run.active = true;
    prng_state = seed;
    uint32_t want_length = replay(0, script, length, false, 1);
    static uint8_t want[CAPTURE_BYTES];
    memcpy(want, captured[0], want_length);
    captured_length[0] = 0;
    /* The big values came back: more than the pause, so commands waited. */
    CHECK(want_length > SERVE_OUTPUT_PAUSE_BYTES);
    int failures_before = check_failures;
    for (uint32_t round = 0; round < REPLAY_ROUNDS; round++) {
        fixture_run.step = round;
        uint32_t got_length = replay(1, script, length, true, 2 + round % 8);
        CHECK_BYTES(captured[1], got_length, want, want_length);
        captured_length[1] = 0;
        if (check_failures > failures_before) {
            fprintf(stderr, "test_serve: replay round %u failed (KV_SEED=%llu)\n", round,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    printf("test_serve: script of %u bytes replayed %u times in random chunks, %u reply "
           "bytes each, %u passes with the output paused (KV_SEED=%llu)\n",
           length, REPLAY_ROUNDS, want_length, replay_send_full, (unsigned long long)seed);
    CHECK(replay_send_full > REPLAY_ROUNDS);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_serve", "replay round");
    modules_build();
    prng_state = seed;
    serve_verify(&server.serve);
    test_pipeline();
    test_split();
    test_output_pause();
    test_output_limits();
    test_multi();
    test_transaction_overflow();
    test_blocking();
    test_protected();
    test_quit_and_refusal();
    test_replay(seed);
    CHECK(server.conns.open_count == 0 && server.block.blocked_count == 0);
    serve_verify(&server.serve);
    region_unmap(&server.region);
    return check_exit("test_serve");
}
