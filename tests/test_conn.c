/*
 * Proves the connection slots keep their lifecycle, bytes and ready queue right, with
 * conns_verify() (and heap_verify()) after every step:
 * - open, closing, release: a receive buffer of CONN_RECV_INITIAL_BYTES taken from the heap at
 *   open and given back at closing (with every output block) before the close completes, the
 *   generation bumped at each open and kept across release;
 * - refusal: past open_max the next socket is CONN_REFUSING with no buffer, and so is one
 *   when the heap has no room for a receive buffer; a slot opens again once room returns;
 * - receive compaction keeps the unconsumed bytes and shifts the parser, so a command split
 *   across the compaction parses whole with its arguments pointing at the moved bytes;
 * - the receive buffer grows (doubling, or to what is wanted, up to recv_limit) keeping its
 *   bytes, refuses past the limit, and shrinks back when idle;
 * - the output chain: a reply of any size is spread over blocks (the first small, none past
 *   CONN_BLOCK_BYTES_MAX), short writes resume from the right byte, each block sent whole goes
 *   back to the heap at once, a truncation since a mark drops the blocks it covered, and an
 *   idle connection holds no output block; memory_bytes always equals the heap's count;
 * - the ready queue holds each slot at most once, in FIFO order across the ring's wrap, and
 *   a queued slot stays queued (once) across release and reopen; conn_kill marks and queues;
 * - a seeded random sequence of all of these against a model of every slot (state,
 *   generation, the bytes waiting to be parsed and sent, the ready queue's order). The seed
 *   is printed on failure, also when an assertion aborts; KV_SEED replays it.
 * Uses a real region and the real heap.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "fixture.h"

#define SLOTS 12u
#define OPEN_MAX 6u
#define RECV_LIMIT (128u * 1024u)
#define HEAP_BYTES (16ull << 20)
#define CHURN_STEPS 200000u

static struct region region;
static struct heap heap;
static struct conns conns;

/* Parse results: enough arguments for the test commands. */
#define ARGS_MAX 8u
static struct slice scratch_args[ARGS_MAX];
static uint8_t scratch_inline[RECV_LIMIT];
static const struct resp_scratch scratch = {.args = scratch_args,
                                            .inline_bytes = scratch_inline,
                                            .args_max = ARGS_MAX,
                                            .arg_bytes_max = RECV_LIMIT,
                                            .bulk_bytes_limit = RESP_BULK_BYTES_LIMIT};

/* An assertion in conns_verify aborts: say which seed and step got there. */
/* Both verifies, and the connections' bytes against the heap's own count. */
static void verify_all(void)
{
    conns_verify(&conns);
    heap_verify(&heap);
    CHECK(conns.memory_bytes == heap.used_bytes);
}

/* Writes bytes into a connection's receive buffer as the loop does around a receive. */
static void receive(struct conn *conn, const void *bytes, uint32_t length)
{
    uint8_t *into = NULL;
    uint32_t room = conn_recv_room(conn, &into);
    KV_ASSERT(length <= room);
    memcpy(into, bytes, length);
    conn->recv_in_flight = true;
    conn_received(conn, length);
}

/* Appends reply bytes to the output as a command does; false when the heap had no room. */
static bool reply_append(struct conn *conn, const void *bytes, uint32_t length)
{
    struct reply reply = conn_reply(&conns, conn);
    reply_raw(&reply, bytes, length);
    conn_reply_keep(&conns, conn, &reply);
    return !reply.failed;
}

/* Starts a send of what the first block holds, as the loop's send_arm does. */
static uint32_t send_start(struct conn *conn)
{
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(&conns, conn, &from);
    KV_ASSERT(conn->send_in_flight == 0 && pending > 0);
    conn->send_in_flight = pending;
    return pending;
}

/* Sends everything waiting, in whole-block sends; returns the bytes sent. */
static uint64_t send_all(struct conn *conn)
{
    uint64_t sent = 0;
    /* Bounded by the chain's blocks: each round sends one whole. */
    while (conn->out_bytes > 0) {
        uint32_t pending = send_start(conn);
        conn_sent(&conns, conn, pending);
        sent += pending;
    }
    return sent;
}

/* The blocks in a connection's output chain. */
static uint32_t chain_blocks(const struct conn *conn)
{
    uint32_t count = 0;
    for (uint32_t ref = conn->out_head; ref != HEAP_REF_NONE; count++) {
        ref = ((const struct conn_block *)heap_pointer(&heap, ref))->next;
    }
    return count;
}

static void test_lifecycle(void)
{
    struct conn *conn = conn_at(&conns, 3);
    uint64_t allocations = heap.allocations;
    CHECK(conn->state == CONN_FREE && conn->generation == 0 && !conn->queued);
    CHECK(conn_open(&conns, 3));
    CHECK(conn->state == CONN_OPEN && conn->generation == 1);
    CHECK(conn->recv != NULL && conn->recv_capacity == CONN_RECV_INITIAL_BYTES);
    CHECK(conn->out_head == HEAP_REF_NONE && conn->out_bytes == 0);
    CHECK(heap.allocations == allocations + 1);
    CHECK(conn_memory(&conns, conn) == heap_usable_bytes(&heap, conn->recv));
    CHECK(conn->recv_length == 0 && conn->send_in_flight == 0);
    CHECK(conn_live(conn) && conns.open_count == 1);
    CHECK(conn_slot_index(&conns, conn) == 3);
    verify_all();
    /* Closing gives the buffer and the output back at once, before the close completes. */
    CHECK(reply_append(conn, "+OK\r\n", 5));
    CHECK(heap.allocations == allocations + 2);
    conn_closing(&conns, conn);
    CHECK(conn->state == CONN_CLOSING && conn->recv == NULL && conn->out_head == HEAP_REF_NONE);
    CHECK(conns.open_count == 0 && !conn_live(conn));
    CHECK(heap.allocations == allocations && conns.memory_bytes == 0);
    verify_all();
    conn_release(&conns, 3);
    CHECK(conn->state == CONN_FREE && conn->generation == 1);
    verify_all();
    /* The next socket in the slot is a new generation, with fresh cursors. */
    CHECK(conn_open(&conns, 3));
    CHECK(conn->generation == 2 && conn->recv_length == 0 && !conn->dead);
    CHECK(conn->out_bytes == 0 && conn->out_head == HEAP_REF_NONE);
    conn_closing(&conns, conn);
    conn_release(&conns, 3);
    CHECK(conn->generation == 2);
    verify_all();
}

static void close_slot(uint32_t slot)
{
    conn_closing(&conns, conn_at(&conns, slot));
    conn_release(&conns, slot);
}

static void test_refusal(void)
{
    for (uint32_t slot = 0; slot < OPEN_MAX; slot++) {
        CHECK(conn_open(&conns, slot));
        verify_all();
    }
    CHECK(conns.open_count == OPEN_MAX);
    /* One more: refused, no buffer, but a new generation all the same. */
    struct conn *refused = conn_at(&conns, OPEN_MAX);
    uint32_t generation = refused->generation;
    uint64_t allocations = heap.allocations;
    CHECK(!conn_open(&conns, OPEN_MAX));
    CHECK(refused->state == CONN_REFUSING && refused->recv == NULL);
    CHECK(refused->generation == generation + 1 && !conn_live(refused));
    CHECK(conns.open_count == OPEN_MAX && heap.allocations == allocations);
    verify_all();
    /* Another slot is refused too; closing a refused slot gives back nothing. */
    CHECK(!conn_open(&conns, SLOTS - 1));
    close_slot(SLOTS - 1);
    CHECK(conns.open_count == OPEN_MAX && heap.allocations == allocations);
    close_slot(OPEN_MAX);
    verify_all();
    /* Closing one open connection makes room: the refused slot now opens. */
    conn_closing(&conns, conn_at(&conns, 2));
    CHECK(conn_open(&conns, OPEN_MAX));
    CHECK(refused->state == CONN_OPEN && refused->generation == generation + 2);
    CHECK(!conn_open(&conns, OPEN_MAX + 1)); /* full again, though slot 2 is still closing */
    close_slot(OPEN_MAX + 1);
    conn_release(&conns, 2);
    verify_all();
    for (uint32_t slot = 0; slot <= OPEN_MAX; slot++) {
        if (slot != 2) {
            close_slot(slot);
        }
    }
    CHECK(conns.open_count == 0 && conns.memory_bytes == 0);
    /* With the heap full, a socket is refused though open_max is far: a client costs a
     * receive buffer from the budget. Each filler is one page-sized allocation. */
    static void *fillers[HEAP_BYTES / 4096];
    uint32_t filled = 0;
    while (filled < HEAP_BYTES / 4096 && (fillers[filled] = heap_alloc(&heap, 4096)) != NULL) {
        filled++;
    }
    /* Small classes may still have room: take those too, a receive buffer at a time. */
    static void *smalls[HEAP_BYTES / CONN_RECV_INITIAL_BYTES];
    uint32_t small_count = 0;
    while (small_count < HEAP_BYTES / CONN_RECV_INITIAL_BYTES &&
           (smalls[small_count] = heap_alloc(&heap, CONN_RECV_INITIAL_BYTES)) != NULL) {
        small_count++;
    }
    CHECK(filled > 0 && conns.open_count == 0);
    CHECK(!conn_open(&conns, 0));
    CHECK(conn_at(&conns, 0)->state == CONN_REFUSING && conn_at(&conns, 0)->recv == NULL);
    close_slot(0);
    heap_release(&heap, fillers[--filled]);
    CHECK(conn_open(&conns, 0));
    close_slot(0);
    for (uint32_t index = 0; index < filled; index++) {
        heap_release(&heap, fillers[index]);
    }
    for (uint32_t index = 0; index < small_count; index++) {
        heap_release(&heap, smalls[index]);
    }
    CHECK(heap.allocations == 0);
    verify_all();
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
    CHECK(conn_recv_room(conn, &into) == CONN_RECV_INITIAL_BYTES && into == conn->recv);
    /* A whole PING and the first part of a GET. */
    const char *first = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nk";
    receive(conn, first, (uint32_t)strlen(first));
    CHECK(conn_recv_room(conn, &into) == CONN_RECV_INITIAL_BYTES - strlen(first));
    CHECK(into == conn->recv + strlen(first));
    struct resp_command command;
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_LIMIT,
                     &command) == RESP_COMMAND);
    CHECK(command.arg_count == 1 && arg_is(0, "PING") && command.end == 14);
    resp_parser_consume(&conn->parser, command.end);
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_LIMIT,
                     &command) == RESP_NEED_MORE);
    verify_all();
    /* Nothing droppable: nothing moves. */
    CHECK(conn_recv_compact(conn, 0) == 0);
    CHECK(conn->recv_length == strlen(first) && conn->parser.command_start == 14);
    /* Part of the consumed bytes only (a transaction keeping the rest): moves by that. */
    CHECK(conn_recv_compact(conn, 4) == 4);
    CHECK(conn->recv_length == strlen(first) - 4 && conn->parser.command_start == 10);
    CHECK_BYTES(conn->recv, conn->recv_length, first + 4, strlen(first) - 4);
    verify_all();
    /* All of them: the partial GET moves to the front and the parser with it. */
    CHECK(conn_recv_compact(conn, conn->parser.command_start) == 10);
    CHECK(conn->parser.command_start == 0 && conn->parser.scan <= conn->recv_length);
    CHECK_BYTES(conn->recv, conn->recv_length, first + 14, strlen(first) - 14);
    verify_all();
    const char *rest = "ey\r\n";
    receive(conn, rest, (uint32_t)strlen(rest));
    CHECK(resp_parse(&conn->parser, &scratch, conn->recv, conn->recv_length, RECV_LIMIT,
                     &command) == RESP_COMMAND);
    CHECK(command.arg_count == 2 && arg_is(0, "GET") && arg_is(1, "key"));
    CHECK(scratch.args[1].bytes == conn->recv + conn->recv_length - 5);
    CHECK(command.end == conn->recv_length);
    resp_parser_consume(&conn->parser, command.end);
    CHECK(conn_recv_compact(conn, conn->parser.command_start) == command.end);
    CHECK(conn->recv_length == 0 && conn->parser.command_start == 0);
    /* A full buffer has no room; the receive fills it to the last byte. */
    uint8_t fill[CONN_RECV_INITIAL_BYTES];
    memset(fill, 'x', sizeof(fill));
    receive(conn, fill, CONN_RECV_INITIAL_BYTES - 1);
    CHECK(conn_recv_room(conn, &into) == 1);
    receive(conn, fill, 1);
    CHECK(conn_recv_room(conn, &into) == 0 && into == conn->recv + CONN_RECV_INITIAL_BYTES);
    verify_all();
    close_slot(0);
}

static void test_recv_growth(void)
{
    CHECK(conn_open(&conns, 4));
    struct conn *conn = conn_at(&conns, 4);
    uint8_t *into = NULL;
    /* Fill the first buffer with a known pattern. */
    static uint8_t pattern[RECV_LIMIT];
    for (uint32_t index = 0; index < RECV_LIMIT; index++) {
        pattern[index] = (uint8_t)(index * 7 + index / 251);
    }
    receive(conn, pattern, CONN_RECV_INITIAL_BYTES);
    CHECK(conn_recv_room(conn, &into) == 0);
    /* Growth doubles, keeping the bytes. */
    CHECK(conn_recv_grow(&conns, conn, 0));
    CHECK(conn->recv_capacity == 2 * CONN_RECV_INITIAL_BYTES);
    CHECK_BYTES(conn->recv, conn->recv_length, pattern, CONN_RECV_INITIAL_BYTES);
    CHECK(conn_recv_room(conn, &into) == CONN_RECV_INITIAL_BYTES);
    verify_all();
    /* A wanted size past double (a large bulk announced) goes there at once. */
    CHECK(conn_recv_grow(&conns, conn, 40000));
    CHECK(conn->recv_capacity == 40000);
    CHECK_BYTES(conn->recv, conn->recv_length, pattern, CONN_RECV_INITIAL_BYTES);
    receive(conn, pattern + CONN_RECV_INITIAL_BYTES, 40000 - CONN_RECV_INITIAL_BYTES);
    /* Past the limit: the limit, then no further. */
    CHECK(conn_recv_grow(&conns, conn, 1u << 30));
    CHECK(conn->recv_capacity == RECV_LIMIT);
    receive(conn, pattern + 40000, RECV_LIMIT - 40000);
    CHECK_BYTES(conn->recv, conn->recv_length, pattern, RECV_LIMIT);
    CHECK(!conn_recv_grow(&conns, conn, 0));
    CHECK(conn->recv_capacity == RECV_LIMIT);
    verify_all();
    /* Shrinking waits until the buffer is empty and reads are small, then halves towards
     * the first size, one step per call. */
    conn_recv_shrink(&conns, conn);
    CHECK(conn->recv_capacity == RECV_LIMIT); /* still holds bytes */
    conn->parser.command_start = conn->recv_length;
    conn->parser.scan = conn->recv_length;
    CHECK(conn_recv_compact(conn, conn->recv_length) == RECV_LIMIT);
    conn_recv_shrink(&conns, conn);
    CHECK(conn->recv_capacity == RECV_LIMIT); /* the last read was large */
    receive(conn, "*1\r\n", 4);
    conn->parser.command_start = 4;
    conn->parser.scan = 4;
    CHECK(conn_recv_compact(conn, 4) == 4);
    uint32_t steps = 0;
    /* Bounded: each call halves, and 128 KiB is 7 halvings from 1 KiB. */
    while (conn->recv_capacity > CONN_RECV_INITIAL_BYTES && steps < 32) {
        uint32_t before = conn->recv_capacity;
        conn_recv_shrink(&conns, conn);
        CHECK(conn->recv_capacity == before / 2);
        verify_all();
        steps++;
    }
    CHECK(steps == 7 && conn->recv_capacity == CONN_RECV_INITIAL_BYTES);
    conn_recv_shrink(&conns, conn);
    CHECK(conn->recv_capacity == CONN_RECV_INITIAL_BYTES);
    close_slot(4);
    CHECK(heap.allocations == 0);
}

/* The first block of a connection's output chain. */
static const struct conn_block *heap_pointer_block(const struct conn *conn)
{
    CHECK(conn->out_head != HEAP_REF_NONE);
    return heap_pointer(&heap, conn->out_head);
}

static void test_output_chain(void)
{
    CHECK(conn_open(&conns, 1));
    struct conn *conn = conn_at(&conns, 1);
    uint64_t idle_memory = conn_memory(&conns, conn);
    const char *replies = "+OK\r\n:12345\r\n$5\r\nhello\r\n"; /* 5 + 8 + 11 bytes */
    CHECK(reply_append(conn, replies, 24));
    CHECK(chain_blocks(conn) == 1 && conn->out_bytes == 24);
    const struct conn_block *first = heap_pointer(&heap, conn->out_head);
    /* Its first output block is a small one: eight share a heap page. */
    CHECK(first->capacity >= CONN_BLOCK_SMALL_BYTES && first->capacity < CONN_BLOCK_FIRST_BYTES);
    const uint8_t *from = NULL;
    CHECK(send_start(conn) == 24);
    /* The kernel takes 7 bytes: the rest waits from byte 7. */
    conn_sent(&conns, conn, 7);
    CHECK(conn->send_in_flight == 0 && conn->out_bytes == 17);
    CHECK(conn_send_pending(&conns, conn, &from) == 17);
    CHECK_BYTES(from, 17, replies + 7, 17);
    verify_all();
    /* While a send is in flight, more replies go on after it in the same block. */
    CHECK(send_start(conn) == 17);
    CHECK(reply_append(conn, "+QUEUED\r\n", 9));
    CHECK(conn->out_bytes == 26 && chain_blocks(conn) == 1);
    conn_sent(&conns, conn, 10);
    CHECK(conn_send_pending(&conns, conn, &from) == 16);
    CHECK_BYTES(from, 16, "hello\r\n+QUEUED\r\n", 16);
    /* A write of 0 bytes (the error path) changes nothing but ends the send. */
    CHECK(send_start(conn) == 16);
    conn_sent(&conns, conn, 0);
    CHECK(conn->send_in_flight == 0 && conn->out_bytes == 16 && chain_blocks(conn) == 1);
    /* Everything sent: the block goes back, so an idle client holds no output. */
    CHECK(send_start(conn) == 16);
    conn_sent(&conns, conn, 16);
    CHECK(conn->out_head == HEAP_REF_NONE && conn->out_tail == HEAP_REF_NONE);
    CHECK(conn_send_pending(&conns, conn, &from) == 0 && conn->out_bytes == 0);
    CHECK(conn_memory(&conns, conn) == idle_memory);
    verify_all();
    /* A 3 MiB reply (a large GET) in one write: blocks of at most CONN_BLOCK_BYTES_MAX, the
     * bytes in order across them. */
    static uint8_t large[3u << 20];
    for (uint32_t index = 0; index < sizeof(large); index++) {
        large[index] = (uint8_t)(index % 251);
    }
    CHECK(reply_append(conn, "$3145728\r\n", 10));
    CHECK(reply_append(conn, large, sizeof(large)));
    CHECK(conn->out_bytes == 10 + sizeof(large));
    uint32_t blocks = chain_blocks(conn);
    CHECK(blocks >= 4 && blocks <= 6);
    for (uint32_t ref = conn->out_head; ref != HEAP_REF_NONE;) {
        const struct conn_block *block = heap_pointer(&heap, ref);
        CHECK(block->capacity + sizeof(*block) <=
              heap_rounded_bytes(sizeof(*block) + CONN_BLOCK_BYTES_MAX));
        ref = block->next;
    }
    CHECK(conn_memory(&conns, conn) >= idle_memory + 10 + sizeof(large));
    verify_all();
    /* Sent in short writes: each block goes back as soon as it is taken whole, and the
     * bytes come out in order. */
    uint64_t offset = 0;
    uint32_t releases = 0;
    uint32_t rounds = 0;
    /* Bounded: each round sends at least one byte of 3 MiB + 10. */
    while (conn->out_bytes > 0 && rounds < (4u << 20)) {
        uint32_t before = chain_blocks(conn);
        uint32_t pending = conn_send_pending(&conns, conn, &from);
        uint32_t taken = pending < 100000 ? pending : 100000;
        bool same = true;
        for (uint32_t index = 0; index < taken; index++) {
            uint64_t at = offset + index;
            uint8_t want = at < 10 ? (uint8_t)"$3145728\r\n"[at] : large[at - 10];
            same = same && from[index] == want;
        }
        CHECK(same);
        conn->send_in_flight = pending;
        conn_sent(&conns, conn, taken);
        offset += taken;
        releases += chain_blocks(conn) < before ? 1 : 0;
        rounds++;
    }
    CHECK(offset == 10 + sizeof(large) && releases == blocks);
    CHECK(conn_memory(&conns, conn) == idle_memory);
    verify_all();
    /* That output outgrew a small block: the next starts with a page, so a reply of a few
     * kilobytes goes out in one send; once an output fits a small block again, so does the
     * next first block. */
    CHECK(reply_append(conn, "+OK\r\n", 5));
    CHECK(heap_pointer_block(conn)->capacity >= CONN_BLOCK_FIRST_BYTES);
    CHECK(send_all(conn) == 5);
    CHECK(reply_append(conn, "+OK\r\n", 5));
    CHECK(heap_pointer_block(conn)->capacity < CONN_BLOCK_FIRST_BYTES);
    CHECK(send_all(conn) == 5);
    CHECK(conn_memory(&conns, conn) == idle_memory);
    /* A reply of a few KiB written element by element, as LRANGE writes one (906 bytes for
     * 100 elements, 5,406 for 600), repeated: the first outgrows the small block, every later
     * one fits one block, so it goes out in one send; a 5-byte reply then brings the small
     * first block back. */
    static const uint32_t element_counts[] = {100, 600};
    for (uint32_t size = 0; size < sizeof(element_counts) / sizeof(element_counts[0]); size++) {
        for (uint32_t round = 0; round < 3; round++) {
            struct reply reply = conn_reply(&conns, conn);
            reply_raw(&reply, "*100\r\n", 6);
            for (uint32_t element = 0; element < element_counts[size]; element++) {
                reply_raw(&reply, "$3\r\nxxx\r\n", 9);
            }
            conn_reply_keep(&conns, conn, &reply);
            CHECK(!reply.failed);
            CHECK(round == 0 || chain_blocks(conn) == 1);
            CHECK(send_all(conn) == 6 + 9u * element_counts[size]);
            CHECK(conn_memory(&conns, conn) == idle_memory);
        }
    }
    CHECK(reply_append(conn, "+OK\r\n", 5));
    CHECK(send_all(conn) == 5);
    CHECK(reply_append(conn, "+OK\r\n", 5));
    CHECK(heap_pointer_block(conn)->capacity < CONN_BLOCK_FIRST_BYTES);
    CHECK(send_all(conn) == 5);
    /* Truncation since a mark (SET ... GET replaced by an error): the bytes and the blocks
     * written after the mark go, the ones before stay. */
    struct reply reply = conn_reply(&conns, conn);
    reply_raw(&reply, "+first\r\n", 8);
    reply_mark(&reply);
    reply_raw(&reply, large, sizeof(large));
    CHECK(reply_since_mark(&reply) == sizeof(large) && chain_blocks(conn) >= 4);
    reply_truncate(&reply);
    reply_raw(&reply, "-ERR x\r\n", 8);
    conn_reply_keep(&conns, conn, &reply);
    CHECK(conn->out_bytes == 16 && chain_blocks(conn) == 1);
    CHECK(conn_send_pending(&conns, conn, &from) == 16);
    CHECK_BYTES(from, 16, "+first\r\n-ERR x\r\n", 16);
    verify_all();
    CHECK(send_all(conn) == 16);
    /* No room in the heap: the writer says it failed, and what it kept stays consistent. */
    static void *fillers[HEAP_BYTES / 4096];
    uint32_t filled = 0;
    while (filled < HEAP_BYTES / 4096 && (fillers[filled] = heap_alloc(&heap, 4096)) != NULL) {
        filled++;
    }
    CHECK(!reply_append(conn, large, sizeof(large)));
    conns_verify(&conns);
    heap_verify(&heap);
    for (uint32_t index = 0; index < filled; index++) {
        heap_release(&heap, fillers[index]);
    }
    send_all(conn);
    close_slot(1);
    CHECK(heap.allocations == 0);
    verify_all();
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
    verify_all();
    CHECK(conn_ready_pop(&conns, &slot) && slot == 3 && !conn_at(&conns, 3)->queued);
    conn_ready_push(&conns, 3); /* off the queue: it may go on again, behind 5 */
    CHECK(conn_ready_pop(&conns, &slot) && slot == 5);
    CHECK(conn_ready_pop(&conns, &slot) && slot == 3);
    CHECK(!conn_ready_pop(&conns, &slot) && conns.ready_count == 0);
    verify_all();
    /* A queued slot stays queued once across its release and the next open. */
    CHECK(conn_open(&conns, 2));
    conn_ready_push(&conns, 2);
    conn_closing(&conns, conn_at(&conns, 2));
    conn_release(&conns, 2);
    CHECK(conn_at(&conns, 2)->queued && conns.ready_count == 1);
    verify_all();
    CHECK(conn_open(&conns, 2));
    CHECK(conn_at(&conns, 2)->queued && conns.ready_count == 1);
    conn_ready_push(&conns, 2);
    CHECK(conns.ready_count == 1);
    CHECK(conn_ready_pop(&conns, &slot) && slot == 2 && !conn_at(&conns, 2)->queued);
    verify_all();
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
        verify_all();
        for (uint32_t index = 0; index < SLOTS / 2; index++) {
            CHECK(conn_ready_pop(&conns, &slot) && slot == (index * 5 + round) % SLOTS);
            conn_ready_push(&conns, slot);
            conn_ready_push(&conns, slot);
        }
        CHECK(conns.ready_count == SLOTS);
        verify_all();
        for (uint32_t index = 0; index < SLOTS; index++) {
            uint32_t want = ((index + SLOTS / 2) % SLOTS * 5 + round) % SLOTS;
            CHECK(conn_ready_pop(&conns, &slot) && slot == want);
        }
        CHECK(!conn_ready_pop(&conns, &slot));
    }
    verify_all();
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
        CHECK(conn->recv == NULL && conn->out_head == HEAP_REF_NONE);
        return;
    }
    CHECK(conn->dead == want->dead);
    CHECK(conn->recv_length == want->received - want->dropped);
    CHECK(conn->parser.command_start == want->consumed - want->dropped);
    CHECK(conn->out_bytes == want->appended - want->sent);
    CHECK(conn->send_in_flight == want->in_flight);
    if (!bytes) {
        return;
    }
    bool same = true;
    for (uint32_t index = 0; index < conn->recv_length; index++) {
        same = same && conn->recv[index] == stream_commands[(want->dropped + index) % STREAM_BYTES];
    }
    CHECK(same);
    /* Every unsent byte of every block, in order. */
    uint64_t offset = want->sent;
    for (uint32_t ref = conn->out_head; ref != HEAP_REF_NONE;) {
        const struct conn_block *block = heap_pointer(&heap, ref);
        const uint8_t *data = (const uint8_t *)(block + 1);
        for (uint32_t index = block->sent; index < block->length; index++) {
            same = same && data[index] == reply_byte(offset++);
        }
        ref = block->next;
    }
    CHECK(same && offset == want->appended);
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

/* What the churn reached, to show it covered both sides of each limit. */
static uint32_t churn_opened;
static uint32_t churn_refused;
static uint32_t churn_recv_full;   /* receives that found the buffer full */
static uint32_t churn_grown;       /* receive buffers grown */
static uint32_t churn_shrunk;      /* receive buffers shrunk */
static uint32_t churn_short_sends; /* sends the kernel took part of */
static uint32_t churn_blocks_most; /* most blocks one output chain held */

static void churn_open(struct model *model, uint32_t slot)
{
    struct model_slot *want = &model->slots[slot];
    bool opened = conn_open(&conns, slot);
    CHECK(opened == (model->open_count < OPEN_MAX));
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

/* Receives a random piece of the stream, as much as there is room for at most; a full
 * buffer grows (up to the limit), an empty one may shrink. */
static void churn_receive(struct model_slot *want, struct conn *conn)
{
    uint8_t *into = NULL;
    uint32_t room = conn_recv_room(conn, &into);
    CHECK(room == conn->recv_capacity - (want->received - want->dropped));
    if (room == 0) {
        churn_recv_full++;
        uint32_t before = conn->recv_capacity;
        bool grown = conn_recv_grow(&conns, conn, 0);
        CHECK(grown == (before < RECV_LIMIT));
        churn_grown += grown ? 1 : 0;
        return;
    }
    if (conn->recv_length == 0) {
        uint32_t before = conn->recv_capacity;
        conn_recv_shrink(&conns, conn);
        churn_shrunk += conn->recv_capacity < before ? 1 : 0;
        room = conn_recv_room(conn, &into);
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
    /* Bounded: each command is at least STREAM_PING_BYTES of a RECV_LIMIT buffer. */
    for (uint32_t count = 0; count <= RECV_LIMIT / STREAM_PING_BYTES; count++) {
        struct resp_command command;
        enum resp_status status = resp_parse(&conn->parser, &scratch, conn->recv,
                                             conn->recv_length, RECV_LIMIT, &command);
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

/* A reply: mostly short, now and then tens of kilobytes, rarely past a megabyte. */
static void churn_reply(struct model_slot *want, struct conn *conn)
{
    static uint8_t bytes[1300000];
    uint32_t pick = prng_below(1000);
    uint32_t length = pick < 950 ? 1 + prng_below(40)
                      : pick < 998 ? 1 + prng_below(40000)
                                   : 1 + prng_below((uint32_t)sizeof(bytes));
    for (uint32_t index = 0; index < length; index++) {
        bytes[index] = reply_byte(want->appended + index);
    }
    CHECK(reply_append(conn, bytes, length));
    want->appended += length;
    uint32_t blocks = chain_blocks(conn);
    churn_blocks_most = blocks > churn_blocks_most ? blocks : churn_blocks_most;
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
    conn_sent(&conns, conn, taken);
    churn_short_sends += taken < want->in_flight ? 1 : 0;
    want->sent += taken;
    want->in_flight = 0;
}

/* One random operation on an open connection. */
static void churn_open_step(struct model *model, uint32_t slot)
{
    struct model_slot *want = &model->slots[slot];
    struct conn *conn = conn_at(&conns, slot);
    switch (prng_below(8)) {
    case 0:
    case 1:
        churn_receive(want, conn);
        break;
    case 2:
        churn_parse(want, conn);
        break;
    case 3:
        churn_compact(want, conn);
        break;
    case 4:
        churn_reply(want, conn);
        break;
    case 5:
    case 6:
        churn_send(want, conn);
        break;
    default:
        if (prng_below(8) == 0) {
            conn_kill(&conns, conn);
            want->dead = true;
            model_ready_push(model, slot);
        } else if (prng_below(2) == 0) {
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
    fixture_run.seed = seed;
    fixture_run.active = true;
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < CHURN_STEPS; fixture_run.step++) {
        uint32_t slot = churn_step_run(&model);
        conns_verify(&conns);
        CHECK(conns.memory_bytes == heap.used_bytes);
        /* The bytes of the slot stepped on each step, of every slot (and the heap's whole
         * structure) now and then. */
        bool all = fixture_run.step % 1024 == 0;
        if (all) {
            heap_verify(&heap);
        }
        model_check(&model, all ? SLOTS : slot);
        if (check_failures > failures_before) {
            fprintf(stderr, "test_conn: churn failed at step %u (KV_SEED=%llu)\n", fixture_run.step,
                    (unsigned long long)seed);
            return;
        }
    }
    fixture_run.active = false;
    printf("test_conn: churn of %u steps: %u opens, %u refusals, %u full receive buffers, "
           "%u grown, %u shrunk, %u short writes, chains of up to %u blocks (KV_SEED=%llu)\n",
           CHURN_STEPS, churn_opened, churn_refused, churn_recv_full, churn_grown, churn_shrunk,
           churn_short_sends, churn_blocks_most, (unsigned long long)seed);
    CHECK(churn_opened > 1000 && churn_refused > 1000);
    CHECK(churn_recv_full > 0 && churn_grown > 0 && churn_short_sends > 1000);
    CHECK(churn_blocks_most > 2);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_conn", "churn step");
    uint64_t bytes = conns_plan_slots_bytes(SLOTS) + heap_plan_bytes(HEAP_BYTES);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_conn: %s\n", error);
        return 1;
    }
    heap_init(&heap, &region, HEAP_BYTES);
    conns_init(&conns, &region, &heap, SLOTS, OPEN_MAX, RECV_LIMIT);
    CHECK(region.carved_bytes <= bytes);
    CHECK(conns.slot_count == SLOTS && conns.open_count == 0 && conns.ready_count == 0);
    verify_all();
    test_lifecycle();
    test_refusal();
    test_recv_compaction();
    test_recv_growth();
    test_output_chain();
    test_ready_queue();
    test_churn(seed);
    region_unmap(&region);
    return check_exit("test_conn");
}
