/*
 * Proves the connection slots keep their lifecycle, cursors and ready queue right, with
 * conns_verify() after every step:
 * - open, closing, release: buffers taken at open and given back at closing (before the
 *   close completes), the generation bumped at each open and kept across release, the
 *   receive and send buffers of a connection at the same pool index;
 * - refusal: with every buffer taken (buffer_count open), the next socket is CONN_REFUSING
 *   with no buffers, and a slot opens again once one connection is released;
 * - receive compaction keeps the unconsumed bytes and shifts the parser, so a command split
 *   across the compaction parses whole with its arguments pointing at the moved bytes;
 * - send cursors: a short write (conn_sent of part of a send) leaves the rest pending from
 *   the right byte; conn_send_room compacts sent bytes away only when no send is in flight;
 * - the ready queue holds each slot at most once, in FIFO order across the ring's wrap, and
 *   a queued slot stays queued (once) across release and reopen; conn_kill marks and queues;
 * - a seeded random sequence of all of these against a model of every slot (state,
 *   generation, the bytes waiting to be parsed and sent, the ready queue's order). The seed
 *   is printed on failure, also when an assertion aborts; KV_SEED replays it.
 * Uses a real region and the real pools.
 */
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"

#define SLOTS 12u
#define BUFFERS 6u
/* The parser needs room for an inline request past RESP_INLINE_BYTES_MAX, as the plan gives. */
#define RECV_BYTES (RESP_INLINE_BYTES_MAX + 512u)
#define SEND_BYTES 64u
#define CHURN_STEPS 200000u

static struct region region;
static struct conns conns;

/* Parse results: enough arguments for the test commands. */
#define ARGS_MAX 8u
static struct slice scratch_args[ARGS_MAX];
static uint8_t scratch_inline[RECV_BYTES];
static const struct resp_scratch scratch = {.args = scratch_args,
                                            .inline_bytes = scratch_inline,
                                            .args_max = ARGS_MAX,
                                            .arg_bytes_max = RECV_BYTES};

static uint64_t prng_state;
static uint64_t churn_seed;
static uint32_t churn_step;
static bool churn_running;

/* splitmix64: one seed gives the whole run. */
static uint64_t prng_next(void)
{
    prng_state += 0x9e3779b97f4a7c15ull;
    uint64_t value = prng_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

static uint32_t prng_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    return (uint32_t)(prng_next() % bound);
}

/* An assertion in conns_verify aborts: say which seed and step got there. */
static void on_abort(int signal_number)
{
    (void)signal_number;
    if (!churn_running) {
        return;
    }
    fprintf(stderr, "test_conn: aborted at churn step %u (KV_SEED=%llu)\n", churn_step,
            (unsigned long long)churn_seed);
}

/* Writes bytes into a connection's receive buffer as the loop does around a receive. */
static void receive(struct conn *conn, const void *bytes, uint32_t length)
{
    uint8_t *into = NULL;
    uint32_t room = conn_recv_room(&conns, conn, &into);
    KV_ASSERT(length <= room);
    memcpy(into, bytes, length);
    conn->recv_in_flight = true;
    conn_received(conn, length);
}

/* Appends reply bytes to the send buffer as a command does. */
static void reply_append(struct conn *conn, const void *bytes, uint32_t length)
{
    struct reply reply = conn_reply(&conns, conn);
    reply_raw(&reply, bytes, length);
    conn_reply_keep(conn, &reply);
}

/* Starts a send of everything pending, as the loop's send_arm does. */
static uint32_t send_start(struct conn *conn)
{
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(conn, &from);
    KV_ASSERT(conn->send_in_flight == 0 && pending > 0);
    conn->send_in_flight = pending;
    return pending;
}

static void test_lifecycle(void)
{
    struct conn *conn = conn_at(&conns, 3);
    CHECK(conn->state == CONN_FREE && conn->generation == 0 && !conn->queued);
    CHECK(conn_open(&conns, 3));
    CHECK(conn->state == CONN_OPEN && conn->generation == 1);
    CHECK(conn->recv != NULL && conn->send != NULL);
    CHECK(conn->recv == pool_slot(&conns.recv_buffers, conn->buffer_index));
    CHECK(conn->send == pool_slot(&conns.send_buffers, conn->buffer_index));
    CHECK(conn->recv_length == 0 && conn->send_length == 0 && conn->send_done == 0);
    CHECK(conn_live(conn) && conns.open_count == 1);
    CHECK(conn_slot_index(&conns, conn) == 3);
    conns_verify(&conns);
    /* Closing gives the buffers back at once, before the close completes. */
    conn_closing(&conns, conn);
    CHECK(conn->state == CONN_CLOSING && conn->recv == NULL && conn->send == NULL);
    CHECK(conns.open_count == 0 && !conn_live(conn));
    CHECK(conns.recv_buffers.free_count == BUFFERS && conns.send_buffers.free_count == BUFFERS);
    conns_verify(&conns);
    conn_release(&conns, 3);
    CHECK(conn->state == CONN_FREE && conn->generation == 1);
    conns_verify(&conns);
    /* The next socket in the slot is a new generation, with fresh cursors. */
    CHECK(conn_open(&conns, 3));
    CHECK(conn->generation == 2 && conn->recv_length == 0 && !conn->dead);
    conn_closing(&conns, conn);
    conn_release(&conns, 3);
    CHECK(conn->generation == 2);
    conns_verify(&conns);
}

static void test_refusal(void)
{
    /* Exactly buffer_count connections open, each with its own buffers. */
    for (uint32_t slot = 0; slot < BUFFERS; slot++) {
        CHECK(conn_open(&conns, slot));
        conns_verify(&conns);
    }
    CHECK(conns.open_count == BUFFERS && conns.recv_buffers.free_count == 0);
    for (uint32_t first = 0; first < BUFFERS; first++) {
        for (uint32_t second = first + 1; second < BUFFERS; second++) {
            CHECK(conn_at(&conns, first)->buffer_index != conn_at(&conns, second)->buffer_index);
        }
    }
    /* One more: refused, no buffers, but a new generation all the same. */
    struct conn *refused = conn_at(&conns, BUFFERS);
    uint32_t generation = refused->generation;
    CHECK(!conn_open(&conns, BUFFERS));
    CHECK(refused->state == CONN_REFUSING && refused->recv == NULL && refused->send == NULL);
    CHECK(refused->generation == generation + 1 && !conn_live(refused));
    CHECK(conns.open_count == BUFFERS);
    conns_verify(&conns);
    /* Another slot is refused too; closing a refused slot gives back nothing. */
    CHECK(!conn_open(&conns, SLOTS - 1));
    conn_closing(&conns, conn_at(&conns, SLOTS - 1));
    CHECK(conns.open_count == BUFFERS && conns.recv_buffers.free_count == 0);
    conn_release(&conns, SLOTS - 1);
    conn_closing(&conns, refused);
    conn_release(&conns, BUFFERS);
    conns_verify(&conns);
    /* Closing one open connection makes room: the refused slot now opens, with the buffers
     * the closed one had. */
    uint32_t freed_index = conn_at(&conns, 2)->buffer_index;
    conn_closing(&conns, conn_at(&conns, 2));
    CHECK(conns.recv_buffers.free_count == 1);
    CHECK(conn_open(&conns, BUFFERS));
    CHECK(refused->state == CONN_OPEN && refused->buffer_index == freed_index);
    CHECK(refused->generation == generation + 2);
    CHECK(!conn_open(&conns, BUFFERS + 1)); /* full again, though slot 2 is still closing */
    conn_closing(&conns, conn_at(&conns, BUFFERS + 1));
    conn_release(&conns, BUFFERS + 1);
    conn_release(&conns, 2);
    conns_verify(&conns);
    for (uint32_t slot = 0; slot <= BUFFERS; slot++) {
        if (slot != 2) {
            conn_closing(&conns, conn_at(&conns, slot));
            conn_release(&conns, slot);
        }
    }
    CHECK(conns.open_count == 0 && conns.recv_buffers.free_count == BUFFERS);
    conns_verify(&conns);
}

static bool arg_is(uint32_t index, const char *text)
{
    struct slice want = {.bytes = (const uint8_t *)text, .length = (uint32_t)strlen(text)};
    return slice_equal(scratch.args[index], want);
}

static void test_recv_compaction(void)
{
    CHECK(conn_open(&conns, 0));
    struct conn *conn = conn_at(&conns, 0);
    uint8_t *into = NULL;
    CHECK(conn_recv_room(&conns, conn, &into) == RECV_BYTES && into == conn->recv);
    /* A whole PING and the first part of a GET. */
    const char *first = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nk";
    receive(conn, first, (uint32_t)strlen(first));
    CHECK(conn_recv_room(&conns, conn, &into) == RECV_BYTES - strlen(first));
    CHECK(into == conn->recv + strlen(first));
    struct resp_command command;
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_BYTES,
                     &command) == RESP_COMMAND);
    CHECK(command.arg_count == 1 && arg_is(0, "PING") && command.end == 14);
    resp_parser_consume(&conn->parser, command.end);
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_BYTES,
                     &command) == RESP_NEED_MORE);
    conns_verify(&conns);
    /* Nothing droppable: nothing moves. */
    CHECK(conn_recv_compact(conn, 0) == 0);
    CHECK(conn->recv_length == strlen(first) && conn->parser.command_start == 14);
    /* Part of the consumed bytes only (a transaction keeping the rest): moves by that. */
    CHECK(conn_recv_compact(conn, 4) == 4);
    CHECK(conn->recv_length == strlen(first) - 4 && conn->parser.command_start == 10);
    CHECK_BYTES(conn->recv, conn->recv_length, first + 4, strlen(first) - 4);
    conns_verify(&conns);
    /* All of them: the partial GET moves to the front and the parser with it. */
    CHECK(conn_recv_compact(conn, conn->parser.command_start) == 10);
    CHECK(conn->parser.command_start == 0 && conn->parser.scan <= conn->recv_length);
    CHECK_BYTES(conn->recv, conn->recv_length, first + 14, strlen(first) - 14);
    conns_verify(&conns);
    const char *rest = "ey\r\n";
    receive(conn, rest, (uint32_t)strlen(rest));
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_BYTES,
                     &command) == RESP_COMMAND);
    CHECK(command.arg_count == 2 && arg_is(0, "GET") && arg_is(1, "key"));
    CHECK(scratch.args[1].bytes == conn->recv + conn->recv_length - 5);
    CHECK(command.end == conn->recv_length);
    resp_parser_consume(&conn->parser, command.end);
    CHECK(conn_recv_compact(conn, conn->parser.command_start) == command.end);
    CHECK(conn->recv_length == 0 && conn->parser.command_start == 0);
    /* A full buffer has no room; the receive fills it to the last byte. */
    uint8_t fill[RECV_BYTES];
    memset(fill, 'x', sizeof(fill));
    receive(conn, fill, RECV_BYTES - 1);
    CHECK(conn_recv_room(&conns, conn, &into) == 1);
    receive(conn, fill, 1);
    CHECK(conn_recv_room(&conns, conn, &into) == 0 && into == conn->recv + RECV_BYTES);
    conns_verify(&conns);
    conn_closing(&conns, conn);
    conn_release(&conns, 0);
}

static void test_send_cursors(void)
{
    CHECK(conn_open(&conns, 1));
    struct conn *conn = conn_at(&conns, 1);
    CHECK(conn_send_room(&conns, conn) == SEND_BYTES);
    const char *replies = "+OK\r\n:12345\r\n$5\r\nhello\r\n"; /* 5 + 8 + 11 bytes */
    reply_append(conn, replies, 24);
    CHECK(conn_send_room(&conns, conn) == SEND_BYTES - 24);
    const uint8_t *from = NULL;
    CHECK(send_start(conn) == 24);
    /* The kernel takes 7 bytes: the rest waits from byte 7. */
    conn_sent(conn, 7);
    CHECK(conn->send_in_flight == 0 && conn->send_done == 7 && conn->send_length == 24);
    CHECK(conn_send_pending(conn, &from) == 17 && from == conn->send + 7);
    CHECK_BYTES(from, 17, replies + 7, 17);
    conns_verify(&conns);
    /* A send of the rest in flight: room does not compact (the kernel reads those bytes). */
    CHECK(send_start(conn) == 17);
    CHECK(conn_send_room(&conns, conn) == SEND_BYTES - 24);
    CHECK(conn->send_done == 7);
    reply_append(conn, "+QUEUED\r\n", 9);
    CHECK(conn->send_length == 33 && conn_send_room(&conns, conn) == SEND_BYTES - 33);
    conns_verify(&conns);
    /* Another short write: 10 of the 17 in flight; then, with no send in flight, room
     * compacts the 17 sent bytes away and the rest moves to the front. */
    conn_sent(conn, 10);
    CHECK(conn->send_done == 17 && conn->send_length == 33);
    CHECK(conn_send_room(&conns, conn) == SEND_BYTES - 16);
    CHECK(conn->send_done == 0 && conn->send_length == 16);
    CHECK(conn_send_pending(conn, &from) == 16 && from == conn->send);
    CHECK_BYTES(conn->send, 16, "hello\r\n+QUEUED\r\n", 16);
    conns_verify(&conns);
    /* A write of 0 bytes (the error path) changes nothing but ends the send. */
    CHECK(send_start(conn) == 16);
    conn_sent(conn, 0);
    CHECK(conn->send_in_flight == 0 && conn->send_done == 0 && conn->send_length == 16);
    /* Everything sent: both cursors go back to 0 at once. */
    CHECK(send_start(conn) == 16);
    conn_sent(conn, 16);
    CHECK(conn->send_done == 0 && conn->send_length == 0);
    CHECK(conn_send_pending(conn, &from) == 0);
    /* The buffer fills to its last byte and no further. */
    uint8_t fill[SEND_BYTES];
    memset(fill, 'r', sizeof(fill));
    reply_append(conn, fill, SEND_BYTES);
    CHECK(conn_send_room(&conns, conn) == 0);
    conns_verify(&conns);
    CHECK(send_start(conn) == SEND_BYTES);
    conn_sent(conn, SEND_BYTES);
    CHECK(conn_send_room(&conns, conn) == SEND_BYTES);
    conn_closing(&conns, conn);
    conn_release(&conns, 1);
    conns_verify(&conns);
}

static void test_ready_queue(void)
{
    uint32_t slot = 0;
    CHECK(!conn_ready_pop(&conns, &slot));
    conn_ready_push(&conns, 3);
    conn_ready_push(&conns, 3);
    CHECK(conns.ready_count == 1 && conn_at(&conns, 3)->queued);
    conn_ready_push(&conns, 5);
    conn_ready_push(&conns, 3);
    CHECK(conns.ready_count == 2);
    conns_verify(&conns);
    CHECK(conn_ready_pop(&conns, &slot) && slot == 3 && !conn_at(&conns, 3)->queued);
    conn_ready_push(&conns, 3); /* off the queue: it may go on again, behind 5 */
    CHECK(conn_ready_pop(&conns, &slot) && slot == 5);
    CHECK(conn_ready_pop(&conns, &slot) && slot == 3);
    CHECK(!conn_ready_pop(&conns, &slot) && conns.ready_count == 0);
    conns_verify(&conns);
    /* A queued slot stays queued once across its release and the next open. */
    CHECK(conn_open(&conns, 2));
    conn_ready_push(&conns, 2);
    conn_closing(&conns, conn_at(&conns, 2));
    conn_release(&conns, 2);
    CHECK(conn_at(&conns, 2)->queued && conns.ready_count == 1);
    conns_verify(&conns);
    CHECK(conn_open(&conns, 2));
    CHECK(conn_at(&conns, 2)->queued && conns.ready_count == 1);
    conn_ready_push(&conns, 2);
    CHECK(conns.ready_count == 1);
    CHECK(conn_ready_pop(&conns, &slot) && slot == 2 && !conn_at(&conns, 2)->queued);
    conns_verify(&conns);
    /* Kill: dead, no longer live, queued for the loop to close. */
    conn_kill(&conns, conn_at(&conns, 2));
    CHECK(conn_at(&conns, 2)->dead && !conn_live(conn_at(&conns, 2)));
    CHECK(conn_ready_pop(&conns, &slot) && slot == 2);
    conn_closing(&conns, conn_at(&conns, 2));
    conn_release(&conns, 2);
    /* Every slot queued at once (the most there can be); half popped and pushed again go
     * behind the rest, across the ring's wrap. */
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t index = 0; index < SLOTS; index++) {
            conn_ready_push(&conns, (index * 5 + round) % SLOTS);
        }
        CHECK(conns.ready_count == SLOTS);
        conns_verify(&conns);
        for (uint32_t index = 0; index < SLOTS / 2; index++) {
            CHECK(conn_ready_pop(&conns, &slot) && slot == (index * 5 + round) % SLOTS);
            conn_ready_push(&conns, slot);
            conn_ready_push(&conns, slot);
        }
        CHECK(conns.ready_count == SLOTS);
        conns_verify(&conns);
        for (uint32_t index = 0; index < SLOTS; index++) {
            uint32_t want = ((index + SLOTS / 2) % SLOTS * 5 + round) % SLOTS;
            CHECK(conn_ready_pop(&conns, &slot) && slot == want);
        }
        CHECK(!conn_ready_pop(&conns, &slot));
    }
    conns_verify(&conns);
}

/* The receive stream every connection gets: PING and ECHO hello, over and over. */
static const char stream_commands[] = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
#define STREAM_BYTES 39u
#define STREAM_PING_BYTES 14u
static_assert(sizeof(stream_commands) == STREAM_BYTES + 1, "stream length");

/* The model of one slot. */
struct model_slot {
    uint8_t state;           /* enum conn_state */
    uint32_t generation;
    uint64_t received;       /* stream bytes received */
    uint64_t dropped;        /* stream bytes compacted away */
    uint64_t consumed;       /* stream bytes consumed by the parser */
    uint64_t appended;       /* reply bytes written */
    uint64_t sent;           /* reply bytes the kernel took */
    uint32_t in_flight;      /* bytes of the send outstanding */
    bool dead;
};

struct model {
    struct model_slot slots[SLOTS];
    uint32_t ready[SLOTS];   /* the queue, oldest first */
    uint32_t ready_count;
    uint32_t open_count;
};

static uint8_t reply_byte(uint64_t offset)
{
    return (uint8_t)('a' + offset % 26);
}

/* Checks one slot's cursors against the model, and its bytes when `bytes`. */
static void model_check_slot(const struct model *model, uint32_t slot, bool bytes)
{
    const struct model_slot *want = &model->slots[slot];
    const struct conn *conn = conn_at(&conns, slot);
    CHECK(conn->state == want->state && conn->generation == want->generation);
    if (want->state != CONN_OPEN) {
        CHECK(conn->recv == NULL && conn->send == NULL);
        return;
    }
    CHECK(conn->dead == want->dead);
    CHECK(conn->recv_length == want->received - want->dropped);
    CHECK(conn->parser.command_start == want->consumed - want->dropped);
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(conn, &from);
    CHECK(pending == want->appended - want->sent && conn->send_in_flight == want->in_flight);
    if (!bytes) {
        return;
    }
    bool same = true;
    for (uint32_t index = 0; index < conn->recv_length; index++) {
        same = same && conn->recv[index] == stream_commands[(want->dropped + index) % STREAM_BYTES];
    }
    CHECK(same);
    same = true;
    for (uint32_t index = 0; index < pending; index++) {
        same = same && from[index] == reply_byte(want->sent + index);
    }
    CHECK(same);
}

/* Checks every slot; the bytes of `bytes_slot` (every slot's when SLOTS). */
static void model_check(const struct model *model, uint32_t bytes_slot)
{
    CHECK(conns.open_count == model->open_count && conns.ready_count == model->ready_count);
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        model_check_slot(model, slot, bytes_slot == SLOTS || bytes_slot == slot);
        bool queued = false;
        for (uint32_t index = 0; index < model->ready_count; index++) {
            queued = queued || model->ready[index] == slot;
        }
        CHECK(conn_at(&conns, slot)->queued == queued);
    }
    for (uint32_t index = 0; index < model->ready_count; index++) {
        CHECK(conns.ready[(conns.ready_head + index) % SLOTS] == model->ready[index]);
    }
}

static void model_ready_push(struct model *model, uint32_t slot)
{
    for (uint32_t index = 0; index < model->ready_count; index++) {
        if (model->ready[index] == slot) {
            return;
        }
    }
    model->ready[model->ready_count++] = slot;
}

/* Opens and refusals in the churn, to show it reached both sides of the buffer limit. */
static uint32_t churn_opened;
static uint32_t churn_refused;
static uint32_t churn_recv_full;   /* receives that found the buffer full */
static uint32_t churn_short_sends; /* sends the kernel took part of */

static void churn_open(struct model *model, uint32_t slot)
{
    struct model_slot *want = &model->slots[slot];
    bool opened = conn_open(&conns, slot);
    CHECK(opened == (model->open_count < BUFFERS));
    churn_opened += opened ? 1 : 0;
    churn_refused += opened ? 0 : 1;
    *want = (struct model_slot){.state = opened ? CONN_OPEN : CONN_REFUSING,
                                .generation = want->generation + 1};
    model->open_count += opened ? 1 : 0;
}

static void churn_close(struct model *model, uint32_t slot)
{
    struct model_slot *want = &model->slots[slot];
    if (want->in_flight > 0) {
        return; /* the loop waits for the send (or shuts the socket down) first */
    }
    conn_closing(&conns, conn_at(&conns, slot));
    model->open_count -= want->state == CONN_OPEN ? 1 : 0;
    want->state = CONN_CLOSING;
}

/* Receives a random piece of the stream, as much as there is room for at most. */
static void churn_receive(struct model_slot *want, struct conn *conn)
{
    uint8_t *into = NULL;
    uint32_t room = conn_recv_room(&conns, conn, &into);
    CHECK(room == RECV_BYTES - (want->received - want->dropped));
    if (room == 0) {
        churn_recv_full++;
        return;
    }
    /* Mostly short pieces; now and then all the room there is, so the buffer fills. */
    uint32_t length = prng_below(8) == 0 ? room : 1 + prng_below(room < 20 ? room : 20);
    for (uint32_t index = 0; index < length; index++) {
        into[index] = (uint8_t)stream_commands[(want->received + index) % STREAM_BYTES];
    }
    conn->recv_in_flight = true;
    conn_received(conn, length);
    want->received += length;
}

/* Parses and consumes every whole command received, checking each. */
static void churn_parse(struct model_slot *want, struct conn *conn)
{
    /* Bounded: each command is at least STREAM_PING_BYTES of a RECV_BYTES buffer. */
    for (uint32_t count = 0; count <= RECV_BYTES / STREAM_PING_BYTES; count++) {
        struct resp_command command;
        enum resp_status status = resp_parse(&conn->parser, &scratch, conn->recv,
                                             conn->recv_length, RECV_BYTES, &command);
        if (status == RESP_NEED_MORE) {
            return;
        }
        CHECK(status == RESP_COMMAND);
        bool ping = want->consumed % STREAM_BYTES == 0;
        CHECK(ping ? command.arg_count == 1 && arg_is(0, "PING")
                   : command.arg_count == 2 && arg_is(0, "ECHO") && arg_is(1, "hello"));
        resp_parser_consume(&conn->parser, command.end);
        want->consumed += ping ? STREAM_PING_BYTES : STREAM_BYTES - STREAM_PING_BYTES;
        CHECK(conn->parser.command_start == want->consumed - want->dropped);
    }
    CHECK(false); /* more whole commands than the buffer can hold */
}

static void churn_compact(struct model_slot *want, struct conn *conn)
{
    uint32_t droppable = prng_below(conn->parser.command_start + 1);
    CHECK(conn_recv_compact(conn, droppable) == droppable);
    want->dropped += droppable;
}

static void churn_reply(struct model_slot *want, struct conn *conn)
{
    uint32_t room = conn_send_room(&conns, conn);
    CHECK(room == SEND_BYTES - (want->in_flight > 0 ? conn->send_length
                                                    : want->appended - want->sent));
    if (room == 0) {
        return;
    }
    uint8_t bytes[SEND_BYTES];
    uint32_t length = 1 + prng_below(room < 24 ? room : 24);
    for (uint32_t index = 0; index < length; index++) {
        bytes[index] = reply_byte(want->appended + index);
    }
    reply_append(conn, bytes, length);
    want->appended += length;
}

static void churn_send(struct model_slot *want, struct conn *conn)
{
    if (want->in_flight == 0) {
        if (want->appended > want->sent) {
            want->in_flight = send_start(conn);
        }
        return;
    }
    uint32_t taken = prng_below(want->in_flight + 1); /* a short write, or all of it */
    conn_sent(conn, taken);
    churn_short_sends += taken < want->in_flight ? 1 : 0;
    want->sent += taken;
    want->in_flight = 0;
}

/* One random operation on an open connection. */
static void churn_open_step(struct model *model, uint32_t slot)
{
    struct model_slot *want = &model->slots[slot];
    struct conn *conn = conn_at(&conns, slot);
    switch (prng_below(7)) {
    case 0:
        churn_receive(want, conn);
        break;
    case 1:
        churn_parse(want, conn);
        break;
    case 2:
        churn_compact(want, conn);
        break;
    case 3:
        churn_reply(want, conn);
        break;
    case 4:
    case 5:
        churn_send(want, conn);
        break;
    default:
        if (prng_below(8) == 0) {
            conn_kill(&conns, conn);
            want->dead = true;
            model_ready_push(model, slot);
        } else {
            churn_close(model, slot);
        }
        break;
    }
}

/* One random step; returns the slot it worked on. */
static uint32_t churn_step_run(struct model *model)
{
    uint32_t slot = prng_below(SLOTS);
    struct model_slot *want = &model->slots[slot];
    uint32_t action = prng_below(10);
    if (action == 0) {
        conn_ready_push(&conns, slot);
        model_ready_push(model, slot);
    } else if (action == 1) {
        uint32_t popped = 0;
        bool got = conn_ready_pop(&conns, &popped);
        CHECK(got == (model->ready_count > 0));
        if (got && model->ready_count > 0) {
            CHECK(popped == model->ready[0]);
            model->ready_count--;
            memmove(model->ready, model->ready + 1, model->ready_count * sizeof(uint32_t));
        }
    } else if (want->state == CONN_FREE) {
        churn_open(model, slot);
    } else if (want->state == CONN_REFUSING) {
        churn_close(model, slot);
    } else if (want->state == CONN_CLOSING) {
        conn_release(&conns, slot);
        want->state = CONN_FREE;
    } else {
        churn_open_step(model, slot);
    }
    return slot;
}

static void test_churn(uint64_t seed)
{
    /* Every slot closed and the queue empty: the model starts from the present state. */
    static struct model model;
    memset(&model, 0, sizeof(model));
    for (uint32_t slot = 0; slot < SLOTS; slot++) {
        KV_ASSERT(conn_at(&conns, slot)->state == CONN_FREE && !conn_at(&conns, slot)->queued);
        model.slots[slot].generation = conn_at(&conns, slot)->generation;
    }
    prng_state = seed;
    churn_seed = seed;
    churn_running = true;
    int failures_before = check_failures;
    for (churn_step = 0; churn_step < CHURN_STEPS; churn_step++) {
        uint32_t slot = churn_step_run(&model);
        conns_verify(&conns);
        /* The bytes of the slot stepped on each step, of every slot now and then. */
        model_check(&model, churn_step % 1024 == 0 ? SLOTS : slot);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_conn: churn failed at step %u (KV_SEED=%llu)\n", churn_step,
                    (unsigned long long)seed);
            return;
        }
    }
    churn_running = false;
    /* The churn reached both sides of the buffer limit. */
    printf("test_conn: churn of %u steps: %u opens, %u refusals, %u full receive buffers, "
           "%u short writes (KV_SEED=%llu)\n",
           CHURN_STEPS, churn_opened, churn_refused, churn_recv_full, churn_short_sends,
           (unsigned long long)seed);
    CHECK(churn_opened > 1000 && churn_refused > 1000);
    CHECK(churn_recv_full > 0 && churn_short_sends > 1000);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    signal(SIGABRT, on_abort);
    uint64_t bytes = conns_plan_slots_bytes(SLOTS) + pool_plan_bytes(BUFFERS, RECV_BYTES) +
                     pool_plan_bytes(BUFFERS, SEND_BYTES);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_conn: %s\n", error);
        return 1;
    }
    conns_init(&conns, &region, SLOTS, BUFFERS, RECV_BYTES, SEND_BYTES);
    CHECK(region.carved_bytes <= bytes);
    CHECK(conns.slot_count == SLOTS && conns.open_count == 0 && conns.ready_count == 0);
    conns_verify(&conns);
    test_lifecycle();
    test_refusal();
    test_recv_compaction();
    test_send_cursors();
    test_ready_queue();
    test_churn(seed);
    region_unmap(&region);
    return check_exit("test_conn");
}
