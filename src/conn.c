/*
 * Connection slots and their bytes. Receive buffer (heap): recv[0 .. parser.command_start)
 * is consumed and may be dropped at the next compaction (except what a transaction keeps),
 * recv[command_start .. recv_length) waits to be parsed. Output: a chain of heap blocks from
 * out_head to out_tail; a block's [sent, length) waits to be sent, and the first
 * send_in_flight bytes of the head's are with the kernel. Replies are written at the tail;
 * sends take from the head; a block the kernel has taken whole goes back to the heap at once.
 * Invariants (conn_verify): cursors within their buffers; out_bytes is the sum of the blocks'
 * unsent bytes; memory_bytes is the heap bytes of every buffer and block; at most one receive
 * and one send in flight; a slot is on the ready queue at most once, and on the held queue at
 * most once; the gate's counts (appendfsync always: what of the unsent output may go) sum to
 * no more than out_bytes. No I/O.
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

void conns_init(struct conns *conns, struct region *region, struct heap *heap,
                uint32_t slot_count, uint32_t open_max, uint32_t recv_limit)
{
    KV_ASSERT(open_max > 0 && open_max <= slot_count);
    KV_ASSERT(recv_limit >= CONN_RECV_INITIAL_BYTES);
    memset(conns, 0, sizeof(*conns));
    conns->slot_count = slot_count;
    conns->slots = region_carve(region, (uint64_t)slot_count * sizeof(struct conn), 64);
    memset(conns->slots, 0, (uint64_t)slot_count * sizeof(struct conn));
    conns->ready = region_carve(region, (uint64_t)slot_count * sizeof(uint32_t), 64);
    conns->heap = heap;
    conns->open_max = open_max;
    conns->recv_limit = recv_limit;
    conns->held_head = CONN_HELD_NONE;
    conns->held_tail = CONN_HELD_NONE;
    KV_ASSERT(conns->open_count == 0 && conns->memory_bytes == 0);
}

static struct conn_block *block_at(const struct conns *conns, uint32_t ref)
{
    return heap_pointer(conns->heap, ref);
}

/* A block's heap bytes, known without asking the heap: its capacity is all the usable room
 * after its head (conn_reply_grow sets it so, conn_verify checks it). */
static uint64_t block_heap_bytes(const struct conn_block *block)
{
    return sizeof(*block) + block->capacity;
}

/* How many spares may wait: one for two open connections, at most CONN_SPARE_BLOCKS. */
static uint32_t spares_max(const struct conns *conns)
{
    uint32_t half = conns->open_count / 2;
    return half < CONN_SPARE_BLOCKS ? half : CONN_SPARE_BLOCKS;
}

/* A block no connection holds any more: kept as a spare when it is a small first block and
 * there is room, else back to the heap (a spare is still client memory: it stays in
 * memory_bytes). */
static void block_give_back(struct conns *conns, struct conn_block *block)
{
    if (block->capacity == CONN_BLOCK_SMALL_BYTES && conns->spare_count < spares_max(conns)) {
        conns->spare_refs[conns->spare_count++] = heap_ref(conns->heap, block);
        return;
    }
    conns->memory_bytes -= block_heap_bytes(block);
    heap_release(conns->heap, block);
}

/* The spares past spares_max back to the heap (a connection closed). */
static void spares_trim(struct conns *conns)
{
    /* Bounded by CONN_SPARE_BLOCKS. */
    while (conns->spare_count > spares_max(conns)) {
        struct conn_block *block = block_at(conns, conns->spare_refs[--conns->spare_count]);
        conns->memory_bytes -= block_heap_bytes(block);
        heap_release(conns->heap, block);
    }
    KV_ASSERT(conns->spare_count <= conns->open_count / 2);
}

bool conn_open(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    KV_ASSERT(conn->state == CONN_FREE);
    uint32_t generation = conn->generation + 1;
    bool queued = conn->queued;
    bool held = conn->gate.held;
    uint32_t held_next = conn->gate.held_next;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    conn->gate.held = held;
    conn->gate.held_next = held_next;
    conn->out_head = HEAP_REF_NONE;
    conn->out_tail = HEAP_REF_NONE;
    conn->recv = conns->open_count < conns->open_max
                     ? heap_alloc_reserve(conns->heap, CONN_RECV_INITIAL_BYTES)
                     : NULL;
    if (conn->recv == NULL) {
        conn->state = CONN_REFUSING;
        return false;
    }
    conn->recv_capacity = CONN_RECV_INITIAL_BYTES;
    conns->memory_bytes += heap_usable_bytes(conns->heap, conn->recv);
    resp_parser_init(&conn->parser);
    conn->state = CONN_OPEN;
    conns->open_count++;
    KV_ASSERT(conns->open_count <= conns->open_max);
    return true;
}

/* Gives back every output block (sent or not). */
static void output_release(struct conns *conns, struct conn *conn)
{
    /* Bounded by the blocks in the chain: each step releases one. */
    while (conn->out_head != HEAP_REF_NONE) {
        struct conn_block *block = block_at(conns, conn->out_head);
        conn->out_head = block->next;
        block_give_back(conns, block);
    }
    conn->out_tail = HEAP_REF_NONE;
    conn->out_chained = false;
    conn->out_bytes = 0;
    conn_gate_open(conn);
}

void conn_closing(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN || conn->state == CONN_REFUSING);
    KV_ASSERT(!conn->recv_in_flight && conn->send_in_flight == 0 && !conn->shutdown_in_flight);
    /* The loop gave its ring buffers back and saw its receive end. */
    KV_ASSERT(!conn->recv_multishot && !conn->recv_cancel_in_flight);
    KV_ASSERT(conn->recv_held_count == 0);
    KV_ASSERT(!conn->stop_drain_in_flight); /* the stop's drain of its socket is back */
    if (conn->recv != NULL) {
        conns->memory_bytes -= heap_usable_bytes(conns->heap, conn->recv);
        heap_release(conns->heap, conn->recv);
        conn->recv = NULL;
        conn->recv_capacity = 0;
        output_release(conns, conn);
        KV_ASSERT(conns->open_count > 0);
        conns->open_count--;
        spares_trim(conns);
    }
    KV_ASSERT(conn->out_head == HEAP_REF_NONE);
    conn->state = CONN_CLOSING;
}

void conn_release(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    KV_ASSERT(conn->state == CONN_CLOSING && conn->recv == NULL);
    uint32_t generation = conn->generation;
    bool queued = conn->queued;
    bool held = conn->gate.held;
    uint32_t held_next = conn->gate.held_next;
    memset(conn, 0, sizeof(*conn));
    conn->generation = generation;
    conn->queued = queued;
    conn->gate.held = held;
    conn->gate.held_next = held_next;
    conn->out_head = HEAP_REF_NONE;
    conn->out_tail = HEAP_REF_NONE;
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

uint32_t conn_recv_room(struct conn *conn, uint8_t **into)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    KV_ASSERT(conn->recv_length <= conn->recv_capacity);
    *into = conn->recv + conn->recv_length;
    return conn->recv_capacity - conn->recv_length;
}

bool conn_recv_grow(struct conns *conns, struct conn *conn, uint64_t wanted)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    if (conn->recv_capacity >= conns->recv_limit) {
        return false;
    }
    uint64_t bytes = (uint64_t)conn->recv_capacity * 2;
    bytes = bytes > wanted ? bytes : wanted;
    bytes = bytes < conns->recv_limit ? bytes : conns->recv_limit;
    uint64_t before = heap_usable_bytes(conns->heap, conn->recv);
    uint8_t *grown = heap_resize_reserve(conns->heap, conn->recv, bytes);
    if (grown == NULL) {
        return false;
    }
    conns->memory_bytes += heap_usable_bytes(conns->heap, grown) - before;
    conn->recv = grown;
    conn->recv_capacity = (uint32_t)bytes;
    KV_ASSERT(conn->recv_length < conn->recv_capacity);
    return true;
}

void conn_recv_shrink(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN && !conn->recv_in_flight);
    bool large = conn->recv_capacity > CONN_RECV_KEEP_BYTES;
    if (conn->recv_length != 0 || conn->recv_capacity <= CONN_RECV_INITIAL_BYTES ||
        (!large && conn->recv_last > conn->recv_capacity / 8)) {
        return;
    }
    uint32_t bytes = large ? CONN_RECV_INITIAL_BYTES : conn->recv_capacity / 2;
    bytes = bytes > CONN_RECV_INITIAL_BYTES ? bytes : CONN_RECV_INITIAL_BYTES;
    uint64_t before = heap_usable_bytes(conns->heap, conn->recv);
    uint8_t *shrunk = heap_resize_reserve(conns->heap, conn->recv, bytes);
    KV_ASSERT(shrunk != NULL); /* a shrinking resize never fails */
    conns->memory_bytes -= before - heap_usable_bytes(conns->heap, shrunk);
    conn->recv = shrunk;
    conn->recv_capacity = bytes;
}

void conn_received(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->recv_in_flight);
    KV_ASSERT(bytes <= conn->recv_capacity - conn->recv_length);
    conn->recv_in_flight = false;
    conn->recv_length += bytes;
    conn->recv_last = bytes;
}

void conn_recv_appended(struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(!conn->recv_in_flight);
    KV_ASSERT(bytes <= conn->recv_capacity - conn->recv_length);
    conn->recv_length += bytes;
}

/* `bytes` of the unsent output were sent: they leave the gate's counts from the head. They
 * are clear bytes, except for a send armed before appendfsync always began to gate (then
 * the stamped ones behind them). */
static void gate_consume(struct conn_gate *gate, uint64_t bytes)
{
    uint64_t *counts[] = {&gate->clear_bytes, &gate->wait_bytes, &gate->next_bytes};
    /* Bounded: the three counts, head first. */
    for (uint32_t index = 0; index < 3 && bytes > 0; index++) {
        uint64_t taken = bytes < *counts[index] ? bytes : *counts[index];
        *counts[index] -= taken;
        bytes -= taken;
    }
    if (gate->wait_bytes == 0 && gate->next_bytes > 0) {
        gate->wait_bytes = gate->next_bytes; /* the older stamp went whole: the newer moves up */
        gate->wait_offset = gate->next_offset;
        gate->next_bytes = 0;
    }
}

/* Output was dropped from the tail (a truncation): the gate's counts stay within out_bytes,
 * the newest shortened first. */
static void gate_clamp(struct conn *conn)
{
    struct conn_gate *gate = &conn->gate;
    uint64_t *counts[] = {&gate->next_bytes, &gate->wait_bytes, &gate->clear_bytes};
    uint64_t total = gate->clear_bytes + gate->wait_bytes + gate->next_bytes;
    /* Bounded: the three counts, tail first. */
    for (uint32_t index = 0; index < 3 && total > conn->out_bytes; index++) {
        uint64_t excess = total - conn->out_bytes;
        uint64_t cut = excess < *counts[index] ? excess : *counts[index];
        *counts[index] -= cut;
        total -= cut;
    }
    KV_ASSERT(total <= conn->out_bytes);
}

void conn_sent(struct conns *conns, struct conn *conn, uint32_t bytes)
{
    KV_ASSERT(conn->send_in_flight > 0);
    KV_ASSERT(bytes <= conn->send_in_flight);
    KV_ASSERT(conn->out_head != HEAP_REF_NONE);
    conn->send_in_flight = 0;
    struct conn_block *head = block_at(conns, conn->out_head);
    head->sent += bytes;
    conn->out_bytes -= bytes;
    uint32_t chain_sent = conn->out_chain_sent + bytes;
    conn->out_chain_sent = chain_sent < CONN_BLOCK_BYTES ? chain_sent : CONN_BLOCK_BYTES;
    gate_consume(&conn->gate, bytes);
    KV_ASSERT(head->sent <= head->length);
    if (head->sent == head->length && (conn->out_head != conn->out_tail || bytes > 0)) {
        /* Taken whole: the block goes back (the tail too: an idle client holds none). */
        uint32_t next = head->next;
        if (next == HEAP_REF_NONE && !conn->out_chained &&
            head->length <= CONN_BLOCK_SMALL_BYTES) {
            conn->out_large = false; /* the output fitted a small block again */
        }
        block_give_back(conns, head);
        if (conn->out_tail == conn->out_head) {
            conn->out_tail = HEAP_REF_NONE;
            conn->out_chained = false;
            conn->out_last_bytes = conn->out_chain_sent;
            conn->out_chain_sent = 0;
        }
        conn->out_head = next;
    }
}

uint32_t conn_send_pending(const struct conns *conns, const struct conn *conn,
                           const uint8_t **from)
{
    *from = NULL;
    if (conn->out_head == HEAP_REF_NONE) {
        KV_ASSERT(conn->out_bytes == 0);
        return 0;
    }
    const struct conn_block *head = block_at(conns, conn->out_head);
    KV_ASSERT(head->sent <= head->length);
    *from = (const uint8_t *)(head + 1) + head->sent;
    return head->length - head->sent;
}

/* The size of the next block for a write of `wanted` more bytes. */
static uint64_t block_bytes_for(const struct conn *conn, uint64_t wanted)
{
    uint64_t first = conn->out_last_bytes > CONN_BLOCK_FIRST_BYTES ? conn->out_last_bytes
                                                                   : CONN_BLOCK_FIRST_BYTES;
    uint64_t bytes = conn->out_head != HEAP_REF_NONE ? CONN_BLOCK_BYTES
                     : conn->out_large               ? first
                                                     : CONN_BLOCK_SMALL_BYTES;
    bytes = wanted > bytes ? wanted : bytes;
    return bytes < CONN_BLOCK_BYTES_MAX ? bytes : CONN_BLOCK_BYTES_MAX;
}

static void block_append(struct conns *conns, struct conn *conn, struct reply *reply,
                         struct conn_block *block);

/* reply_grow_fn of a connection: commits what the writer wrote in the tail block, then
 * appends a new block and points the writer at it. */
static bool conn_reply_grow(struct reply *reply, uint64_t wanted)
{
    struct conns *conns = reply->owner;
    struct conn *conn = conn_at(conns, reply->owner_index);
    conn_reply_keep(conns, conn, reply);
    if (conn->out_tail != HEAP_REF_NONE) {
        conn->out_large = true; /* one block did not hold this output */
        conn->out_chained = true;
    }
    uint64_t bytes = block_bytes_for(conn, wanted);
    if (bytes == CONN_BLOCK_SMALL_BYTES && conns->spare_count > 0) {
        struct conn_block *spare = block_at(conns, conns->spare_refs[--conns->spare_count]);
        KV_ASSERT(spare->capacity == CONN_BLOCK_SMALL_BYTES);
        block_append(conns, conn, reply, spare);
        return true;
    }
    struct conn_block *block = heap_alloc_reserve(conns->heap, sizeof(*block) + bytes);
    if (block == NULL && bytes > CONN_BLOCK_FIRST_BYTES) {
        block = heap_alloc_reserve(conns->heap, sizeof(*block) + CONN_BLOCK_FIRST_BYTES);
    }
    if (block == NULL) {
        return false;
    }
    uint64_t usable = heap_usable_bytes(conns->heap, block);
    conns->memory_bytes += usable;
    block->capacity = (uint32_t)(usable - sizeof(*block));
    block_append(conns, conn, reply, block);
    KV_ASSERT(reply->capacity >= (wanted < CONN_BLOCK_FIRST_BYTES ? wanted : 1));
    return true;
}

/* Puts a block (its capacity set, its heap bytes in memory_bytes) at the tail of the chain,
 * empty, and points the writer at it. */
static void block_append(struct conns *conns, struct conn *conn, struct reply *reply,
                         struct conn_block *block)
{
    block->next = HEAP_REF_NONE;
    block->length = 0;
    block->sent = 0;
    uint32_t ref = heap_ref(conns->heap, block);
    if (conn->out_tail == HEAP_REF_NONE) {
        conn->out_head = ref;
    } else {
        block_at(conns, conn->out_tail)->next = ref;
    }
    conn->out_tail = ref;
    reply->bytes = (uint8_t *)(block + 1);
    reply->length = 0;
    reply->capacity = block->capacity;
    KV_ASSERT(conn->out_tail == ref);
}

/* The writer's reply_truncate: drops the bytes since its mark, releasing blocks taken since
 * (the writer's bytes since the mark were never sent: nothing waits between writing a reply
 * and keeping it). */
static void conn_reply_truncate(struct reply *reply)
{
    struct conns *conns = reply->owner;
    struct conn *conn = conn_at(conns, reply->owner_index);
    conn_reply_keep(conns, conn, reply);
    uint64_t drop = reply_since_mark(reply);
    KV_ASSERT(drop <= conn->out_bytes);
    /* Bounded by the chain's blocks: blocks written since the mark go whole from the tail;
     * the chain is walked from the head to find each new tail. */
    while (drop > 0) {
        struct conn_block *tail = block_at(conns, conn->out_tail);
        uint32_t unsent = tail->length - tail->sent;
        uint32_t cut = drop < unsent ? (uint32_t)drop : unsent;
        tail->length -= cut;
        conn->out_bytes -= cut;
        drop -= cut;
        if (drop == 0) {
            break;
        }
        /* This whole block came after the mark: drop it. */
        KV_ASSERT(tail->length == tail->sent && conn->out_tail != conn->out_head);
        uint32_t previous = conn->out_head;
        while (block_at(conns, previous)->next != conn->out_tail) {
            previous = block_at(conns, previous)->next;
        }
        block_give_back(conns, tail);
        block_at(conns, previous)->next = HEAP_REF_NONE;
        conn->out_tail = previous;
    }
    gate_clamp(conn);
    uint64_t mark = reply->mark;
    bool resp3 = reply->resp3;
    *reply = conn_reply(conns, conn);
    reply->total = mark;
    reply->mark = mark;
    reply->resp3 = resp3; /* the writer's protocol is its client's, which conn does not know */
}

struct reply conn_reply(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    struct reply reply = {.grow = conn_reply_grow,
                          .truncate = conn_reply_truncate,
                          .owner = conns,
                          .owner_index = conn_slot_index(conns, conn)};
    if (conn->out_tail != HEAP_REF_NONE) {
        struct conn_block *tail = block_at(conns, conn->out_tail);
        reply.bytes = (uint8_t *)(tail + 1);
        reply.length = tail->length;
        reply.capacity = tail->capacity;
    }
    return reply;
}

void conn_reply_keep(struct conns *conns, struct conn *conn, const struct reply *reply)
{
    KV_ASSERT(reply->owner == conns && reply->owner_index == conn_slot_index(conns, conn));
    if (conn->out_tail == HEAP_REF_NONE) {
        KV_ASSERT(reply->length == 0);
        return;
    }
    struct conn_block *tail = block_at(conns, conn->out_tail);
    KV_ASSERT(reply->bytes == (uint8_t *)(tail + 1));
    KV_ASSERT(reply->length >= tail->length);
    conn->out_bytes += reply->length - tail->length;
    tail->length = reply->length;
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

void conn_held_push(struct conns *conns, uint32_t slot_index)
{
    struct conn *conn = conn_at(conns, slot_index);
    if (conn->gate.held) {
        return;
    }
    KV_ASSERT(conns->held_count < conns->slot_count);
    conn->gate.held_next = CONN_HELD_NONE;
    if (conns->held_count == 0) {
        conns->held_head = slot_index;
    } else {
        conn_at(conns, conns->held_tail)->gate.held_next = slot_index;
    }
    conns->held_tail = slot_index;
    conns->held_count++;
    conn->gate.held = true;
}

bool conn_held_pop(struct conns *conns, uint32_t *slot_index)
{
    if (conns->held_count == 0) {
        return false;
    }
    *slot_index = conns->held_head;
    struct conn *conn = conn_at(conns, *slot_index);
    KV_ASSERT(conn->gate.held);
    conns->held_head = conn->gate.held_next;
    conns->held_count--;
    conn->gate.held = false;
    conn->gate.held_next = CONN_HELD_NONE;
    if (conns->held_count == 0) {
        conns->held_head = CONN_HELD_NONE;
        conns->held_tail = CONN_HELD_NONE;
    }
    KV_ASSERT(conns->held_count == 0 || conns->held_head < conns->slot_count);
    return true;
}

uint64_t conn_gate_update(struct conn *conn, uint64_t fed_offset, uint64_t synced_offset)
{
    struct conn_gate *gate = &conn->gate;
    KV_ASSERT(synced_offset <= fed_offset);
    KV_ASSERT(gate->clear_bytes + gate->wait_bytes + gate->next_bytes <= conn->out_bytes);
    if (synced_offset == fed_offset) {
        /* Everything fed is durable: whatever was written may go. */
        conn_gate_open(conn);
        gate->clear_bytes = conn->out_bytes;
        return gate->clear_bytes;
    }
    /* Bounded: the two stamps, oldest first. */
    for (uint32_t stamp = 0; stamp < 2 && gate->wait_bytes > 0; stamp++) {
        if (gate->wait_offset > synced_offset) {
            break;
        }
        gate->clear_bytes += gate->wait_bytes;
        gate->wait_bytes = gate->next_bytes;
        gate->wait_offset = gate->next_offset;
        gate->next_bytes = 0;
    }
    uint64_t unstamped =
        conn->out_bytes - gate->clear_bytes - gate->wait_bytes - gate->next_bytes;
    if (unstamped > 0 && gate->wait_bytes == 0) {
        gate->wait_bytes = unstamped;
        gate->wait_offset = fed_offset;
    } else if (unstamped > 0) {
        gate->next_bytes += unstamped;
        gate->next_offset = fed_offset;
    }
    KV_ASSERT(gate->clear_bytes + gate->wait_bytes + gate->next_bytes == conn->out_bytes);
    KV_ASSERT(gate->wait_bytes == 0 || gate->wait_offset > synced_offset);
    return gate->clear_bytes;
}

void conn_kill(struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    conn->dead = true;
    conn_ready_push(conns, conn_slot_index(conns, conn));
}

bool conn_reply_deliver(struct conns *conns, struct conn *conn, const struct reply *reply)
{
    conn_reply_keep(conns, conn, reply);
    if (reply->failed) {
        conn_kill(conns, conn);
        return false;
    }
    conn_ready_push(conns, conn_slot_index(conns, conn));
    return true;
}

uint64_t conn_memory(const struct conns *conns, const struct conn *conn)
{
    uint64_t bytes = conn->recv != NULL ? heap_usable_bytes(conns->heap, conn->recv) : 0;
    uint32_t ref = conn->out_head;
    /* Bounded by the chain's blocks. */
    while (ref != HEAP_REF_NONE) {
        const struct conn_block *block = block_at(conns, ref);
        bytes += block_heap_bytes(block);
        ref = block->next;
    }
    return bytes;
}

void conn_verify(const struct conns *conns, const struct conn *conn)
{
    KV_ASSERT(conn->state <= CONN_CLOSING);
    if (conn->recv == NULL) {
        KV_ASSERT(conn->state != CONN_OPEN);
        KV_ASSERT(conn->out_head == HEAP_REF_NONE && conn->out_bytes == 0);
        return;
    }
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(conn->recv_capacity <= conns->recv_limit);
    KV_ASSERT(heap_usable_bytes(conns->heap, conn->recv) >= conn->recv_capacity);
    KV_ASSERT(conn->recv_length <= conn->recv_capacity);
    KV_ASSERT(conn->parser.command_start <= conn->parser.scan);
    KV_ASSERT(conn->parser.scan <= conn->recv_length);
    KV_ASSERT(conn->addr_length < CONN_ADDR_BYTES_MAX);
    uint64_t unsent = 0;
    uint32_t ref = conn->out_head;
    uint32_t last = HEAP_REF_NONE;
    for (uint64_t steps = 0; ref != HEAP_REF_NONE; steps++) {
        KV_ASSERT(steps < conns->heap->allocations);
        const struct conn_block *block = block_at(conns, ref);
        KV_ASSERT(block->sent <= block->length && block->length <= block->capacity);
        KV_ASSERT(block_heap_bytes(block) == heap_usable_bytes(conns->heap, block));
        unsent += block->length - block->sent;
        last = ref;
        ref = block->next;
    }
    KV_ASSERT(last == conn->out_tail);
    KV_ASSERT(unsent == conn->out_bytes);
    KV_ASSERT(conn->send_in_flight <= conn->out_bytes);
    KV_ASSERT(conn->gate.clear_bytes + conn->gate.wait_bytes + conn->gate.next_bytes <=
              conn->out_bytes);
    KV_ASSERT(conn->gate.next_bytes == 0 || conn->gate.wait_bytes > 0);
}

void conns_verify(const struct conns *conns)
{
    uint32_t open = 0;
    uint32_t queued = 0;
    uint32_t held = 0;
    uint64_t memory = 0;
    for (uint32_t slot_index = 0; slot_index < conns->slot_count; slot_index++) {
        const struct conn *conn = &conns->slots[slot_index];
        conn_verify(conns, conn);
        open += conn->state == CONN_OPEN ? 1 : 0;
        queued += conn->queued ? 1 : 0;
        held += conn->gate.held ? 1 : 0;
        memory += conn_memory(conns, conn);
    }
    KV_ASSERT(open == conns->open_count);
    KV_ASSERT(open <= conns->open_max);
    KV_ASSERT(conns->spare_count <= CONN_SPARE_BLOCKS);
    KV_ASSERT(conns->spare_count <= spares_max(conns));
    for (uint32_t index = 0; index < conns->spare_count; index++) {
        const struct conn_block *spare = block_at(conns, conns->spare_refs[index]);
        KV_ASSERT(spare->capacity == CONN_BLOCK_SMALL_BYTES);
        KV_ASSERT(block_heap_bytes(spare) == heap_usable_bytes(conns->heap, spare));
        memory += block_heap_bytes(spare);
    }
    KV_ASSERT(memory == conns->memory_bytes);
    KV_ASSERT(queued == conns->ready_count);
    for (uint32_t step = 0; step < conns->ready_count; step++) {
        uint32_t slot_index = conns->ready[(conns->ready_head + step) % conns->slot_count];
        KV_ASSERT(slot_index < conns->slot_count && conns->slots[slot_index].queued);
    }
    KV_ASSERT(held == conns->held_count);
    uint32_t slot_index = conns->held_head;
    /* Bounded by held_count: each step follows one link. */
    for (uint32_t step = 0; step < conns->held_count; step++) {
        KV_ASSERT(slot_index < conns->slot_count && conns->slots[slot_index].gate.held);
        KV_ASSERT(step + 1 < conns->held_count || slot_index == conns->held_tail);
        slot_index = conns->slots[slot_index].gate.held_next;
    }
    KV_ASSERT(slot_index == CONN_HELD_NONE);
}
