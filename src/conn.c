/*
 * Connection slots and their byte cursors. Receive buffer: recv[0 .. parser.command_start)
 * is consumed and may be dropped at the next compaction (except what a transaction keeps),
 * recv[command_start .. recv_length) waits to be parsed. Send buffer: send[send_done ..
 * send_length) waits to be sent, of which the first send_in_flight bytes are with the
 * kernel. Receive and send buffers are acquired and released together, so both pools hand
 * out the same index (asserted), which the loop uses to find the registered buffer.
 * Invariants (conn_verify): every cursor within its buffer; at most one receive and one send
 * in flight; a slot is on the ready queue at most once (`queued`). No I/O, no allocation.
 */
#include "conn.h"

#include <string.h>

static uint64_t round_64(uint64_t bytes)
{
    return (bytes + 63) & ~63ull;
}

uint64_t conns_plan_slots_bytes(uint32_t slot_count)
{
    return round_64((uint64_t)slot_count * sizeof(struct conn)) + /* slots */
           round_64((uint64_t)slot_count * sizeof(uint32_t));    /* ready queue */
}

void conns_init(struct conns *conns, struct region *region, uint32_t slot_count,
                uint32_t buffer_count, uint32_t recv_buffer_bytes, uint32_t send_buffer_bytes)
{
    KV_ASSERT(buffer_count > 0 && buffer_count <= slot_count);
    memset(conns, 0, sizeof(*conns));
    conns->slot_count = slot_count;
    conns->slots = region_carve(region, (uint64_t)slot_count * sizeof(struct conn), 64);
    memset(conns->slots, 0, (uint64_t)slot_count * sizeof(struct conn));
    conns->ready = region_carve(region, (uint64_t)slot_count * sizeof(uint32_t), 64);
    pool_init(&conns->recv_buffers, region, buffer_count, recv_buffer_bytes);
    pool_init(&conns->send_buffers, region, buffer_count, send_buffer_bytes);
    conns->recv_buffer_bytes = recv_buffer_bytes;
    conns->send_buffer_bytes = send_buffer_bytes;
    KV_ASSERT(conns->recv_buffers.slot_count == conns->send_buffers.slot_count);
}

bool conn_open(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    KV_ASSERT(conn->state == CONN_FREE);
    uint32_t generation = conn->generation + 1;
    bool queued = conn->queued;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    uint32_t recv_index = 0;
    if (!pool_acquire(&conns->recv_buffers, &recv_index)) {
        conn->state = CONN_REFUSING;
        return false;
    }
    uint32_t send_index = 0;
    bool acquired = pool_acquire(&conns->send_buffers, &send_index);
    KV_ASSERT(acquired);
    KV_ASSERT(send_index == recv_index);
    conn->buffer_index = recv_index;
    conn->recv = pool_slot(&conns->recv_buffers, recv_index);
    conn->send = pool_slot(&conns->send_buffers, send_index);
    resp_parser_init(&conn->parser);
    conn->state = CONN_OPEN;
    conns->open_count++;
    return true;
}

void conn_closing(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN || conn->state == CONN_REFUSING);
    KV_ASSERT(!conn->recv_in_flight && conn->send_in_flight == 0 && !conn->shutdown_in_flight);
    if (conn->recv != NULL) {
        pool_release(&conns->recv_buffers, conn->buffer_index);
        pool_release(&conns->send_buffers, conn->buffer_index);
        conn->recv = NULL;
        conn->send = NULL;
        KV_ASSERT(conns->open_count > 0);
        conns->open_count--;
    }
    conn->state = CONN_CLOSING;
}

void conn_release(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    KV_ASSERT(conn->state == CONN_CLOSING && conn->recv == NULL);
    uint32_t generation = conn->generation;
    bool queued = conn->queued;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    conn->state = CONN_FREE;
}

uint32_t conn_recv_compact(struct conn *conn, uint32_t droppable)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    KV_ASSERT(droppable <= conn->parser.command_start);
    KV_ASSERT(droppable <= conn->recv_length);
    if (droppable == 0) {
        return 0;
    }
    /* Usually nothing or a short partial command is left: cheap to move down. */
    memmove(conn->recv, conn->recv + droppable, conn->recv_length - droppable);
    conn->recv_length -= droppable;
    resp_parser_shift(&conn->parser, droppable);
    return droppable;
}

uint32_t conn_recv_room(const struct conns *conns, struct conn *conn, uint8_t **into)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    KV_ASSERT(conn->recv_length <= conns->recv_buffer_bytes);
    *into = conn->recv + conn->recv_length;
    return conns->recv_buffer_bytes - conn->recv_length;
}

void conn_received(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->recv_in_flight);
    conn->recv_in_flight = false;
    conn->recv_length += bytes;
}

void conn_sent(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->send_in_flight > 0);
    KV_ASSERT(bytes <= conn->send_in_flight);
    conn->send_in_flight = 0;
    conn->send_done += bytes;
    KV_ASSERT(conn->send_done <= conn->send_length);
    if (conn->send_done == conn->send_length) {
        conn->send_done = 0;
        conn->send_length = 0;
    }
}

uint32_t conn_send_pending(const struct conn *conn, const uint8_t **from)
{
    KV_ASSERT(conn->send_done <= conn->send_length);
    *from = conn->send + conn->send_done;
    return conn->send_length - conn->send_done;
}

uint32_t conn_send_room(const struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->send_length <= conns->send_buffer_bytes);
    if (conn->send_in_flight == 0 && conn->send_done > 0) {
        memmove(conn->send, conn->send + conn->send_done, conn->send_length - conn->send_done);
        conn->send_length -= conn->send_done;
        conn->send_done = 0;
    }
    return conns->send_buffer_bytes - conn->send_length;
}

void conn_ready_push(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    if (conn->queued) {
        return;
    }
    KV_ASSERT(conns->ready_count < conns->slot_count);
    conns->ready[(conns->ready_head + conns->ready_count) % conns->slot_count] = slot_index;
    conns->ready_count++;
    conn->queued = true;
}

bool conn_ready_pop(struct conns *conns, uint32_t *slot_index)
{
    if (conns->ready_count == 0) {
        return false;
    }
    *slot_index = conns->ready[conns->ready_head];
    conns->ready_head = (conns->ready_head + 1) % conns->slot_count;
    conns->ready_count--;
    struct conn *conn = conn_at(conns, *slot_index);
    KV_ASSERT(conn->queued);
    conn->queued = false;
    return true;
}

void conn_kill(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    conn->dead = true;
    conn_ready_push(conns, conn_slot_index(conns, conn));
}

void conn_verify(const struct conns *conns, const struct conn *conn)
{
    KV_ASSERT(conn->state <= CONN_CLOSING);
    KV_ASSERT((conn->recv == NULL) == (conn->send == NULL));
    if (conn->recv == NULL) {
        KV_ASSERT(conn->state != CONN_OPEN);
        return;
    }
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(conn->recv_length <= conns->recv_buffer_bytes);
    KV_ASSERT(conn->parser.command_start <= conn->parser.scan);
    KV_ASSERT(conn->parser.scan <= conn->recv_length);
    KV_ASSERT(conn->send_done <= conn->send_length);
    KV_ASSERT(conn->send_length <= conns->send_buffer_bytes);
    KV_ASSERT(conn->send_in_flight <= conn->send_length - conn->send_done);
    KV_ASSERT(conn->addr_length < CONN_ADDR_BYTES_MAX);
    KV_ASSERT(conn->buffer_index < conns->recv_buffers.slot_count);
}

void conns_verify(const struct conns *conns)
{
    pool_verify(&conns->recv_buffers);
    pool_verify(&conns->send_buffers);
    uint32_t open = 0;
    uint32_t queued = 0;
    for (uint32_t slot_index = 0; slot_index < conns->slot_count; slot_index++) {
        const struct conn *conn = &conns->slots[slot_index];
        conn_verify(conns, conn);
        open += conn->state == CONN_OPEN ? 1 : 0;
        queued += conn->queued ? 1 : 0;
    }
    KV_ASSERT(open == conns->open_count);
    KV_ASSERT(open == pool_used_count(&conns->recv_buffers));
    KV_ASSERT(queued == conns->ready_count);
    for (uint32_t step = 0; step < conns->ready_count; step++) {
        uint32_t slot_index = conns->ready[(conns->ready_head + step) % conns->slot_count];
        KV_ASSERT(slot_index < conns->slot_count && conns->slots[slot_index].queued);
    }
}
