/*
 * Connections: fixed slots indexed by the fixed-file index the kernel gave the socket, each
 * with a receive and a send buffer from two pools. This module owns a connection's
 * lifecycle (open, closing, released), its byte cursors and the ready queue of connections
 * with work left; it knows nothing of commands (serve runs them) and does no I/O (loop
 * does). It never allocates: buffers come from pools carved at startup.
 */
#ifndef KV_CONN_H
#define KV_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "pool.h"
#include "region.h"
#include "reply.h"
#include "resp.h"

enum conn_state {
    CONN_FREE,      /* slot unused */
    CONN_OPEN,      /* serving a client */
    CONN_REFUSING,  /* accepted past connections_max: told so, then closed */
    CONN_CLOSING,   /* close submitted; the slot frees when it completes */
};

/* Longest peer address kept: "255.255.255.255:65535" and room to spare. */
#define CONN_ADDR_BYTES_MAX 48u

struct conn {
    struct resp_parser parser; /* parse state over recv[0 .. recv_length) */
    uint8_t *recv;             /* receive buffer (recv_buffer_bytes), NULL unless OPEN */
    uint8_t *send;             /* send buffer (send_buffer_bytes), NULL unless OPEN */
    uint32_t recv_length;      /* bytes received and not yet dropped */
    uint32_t send_length;      /* bytes of replies in the send buffer */
    uint32_t send_done;        /* bytes of them the kernel has taken */
    uint32_t send_in_flight;   /* bytes of the outstanding send, 0 when none */
    uint32_t buffer_index;     /* slot in the receive and send pools */
    uint32_t generation;       /* bumped at each open, so late completions are recognised */
    uint8_t state;             /* enum conn_state */
    bool recv_in_flight;       /* a receive is outstanding */
    bool close_after_send;     /* QUIT or a protocol error: close once replies are sent */
    bool read_closed;          /* no more reading (the client closed its side, or kv is
                                  stopping): run what was received, send it, then close */
    bool dead;                 /* the socket failed or the client was killed: drop what is
                                  left and close */
    bool shutdown_in_flight;   /* a shutdown is waking the outstanding receive */
    bool recv_partial;         /* the last serving pass stopped on part of a command: nothing
                                  received can run until more arrives */
    bool queued;               /* on the ready queue; kept across release and reopen, so a
                                  slot is queued at most once whoever holds it */
    uint32_t sends_completed;  /* sends the kernel finished (the stall check watches it) */
    uint32_t stall_seen_sends; /* sends_completed when the stall check saw a send waiting */
    int64_t stall_since_ms;    /* Unix ms since a send has waited with no progress; 0: none */
    uint32_t addr_length;      /* bytes of addr; 0: unknown */
    char addr[CONN_ADDR_BYTES_MAX]; /* the peer, "ip:port" (CLIENT LIST, SLOWLOG, logs) */
};

struct conns {
    struct conn *slots;        /* slot_count connections, by fixed-file index */
    struct pool recv_buffers;  /* connections_max receive buffers */
    struct pool send_buffers;  /* connections_max send buffers */
    uint32_t slot_count;       /* connections_max + refusal slots */
    uint32_t open_count;       /* connections in CONN_OPEN */
    uint32_t recv_buffer_bytes;/* from the plan */
    uint32_t send_buffer_bytes;/* from the plan */
    uint32_t *ready;           /* ready queue: slot indexes to revisit next pass */
    uint32_t ready_head;       /* index of the oldest entry in `ready` */
    uint32_t ready_count;      /* entries queued; each slot at most once, so <= slot_count */
};

/* Bytes conns_init carves for the slots and the ready queue (the buffer pools are apart). */
uint64_t conns_plan_slots_bytes(uint32_t slot_count);

/* `buffer_count` connections may be open at once; slot_count - buffer_count more slots only
 * hold a socket long enough to refuse it. */
void conns_init(struct conns *conns, struct region *region, uint32_t slot_count,
                uint32_t buffer_count, uint32_t recv_buffer_bytes, uint32_t send_buffer_bytes);

/* A socket was accepted into fixed-file slot `slot_index`: takes buffers and opens it, or,
 * when every buffer is taken, marks it CONN_REFUSING and returns false. */
KV_MUST_USE bool conn_open(struct conns *conns, uint32_t slot_index);

/* The close is being submitted and nothing else is outstanding: the buffers go back now, so
 * a new client can have them before the kernel finishes the close. State becomes CLOSING. */
void conn_closing(struct conns *conns, struct conn *conn);

/* The close completed: the slot is free for the next socket the kernel puts there. */
void conn_release(struct conns *conns, uint32_t slot_index);

/* Moves the unconsumed input down to the front of the receive buffer, dropping the first
 * `droppable` bytes (at most the parse position: a transaction may keep queued commands).
 * Returns how far the rest moved, for whoever keeps offsets into the buffer. */
uint32_t conn_recv_compact(struct conn *conn, uint32_t droppable);

/* Where the next receive may write, and how many bytes; 0: the buffer is full. */
uint32_t conn_recv_room(const struct conns *conns, struct conn *conn, uint8_t **into);

void conn_received(struct conn *conn, uint32_t bytes);

/* The kernel took `bytes` of the outstanding send. */
void conn_sent(struct conn *conn, uint32_t bytes);

/* Bytes waiting to be sent, from *from. */
uint32_t conn_send_pending(const struct conn *conn, const uint8_t **from);

/* Room in the send buffer now (sent bytes compacted away when no send is in flight). */
uint32_t conn_send_room(const struct conns *conns, struct conn *conn);

/* The send buffer as a reply target: replies append after what waits to be sent. */
static inline struct reply conn_reply(const struct conns *conns, struct conn *conn)
{
    KV_ASSERT(conn->state == CONN_OPEN && conn->send != NULL);
    return (struct reply){
        .bytes = conn->send, .length = conn->send_length, .capacity = conns->send_buffer_bytes};
}

/* Keeps what was written into a reply from conn_reply. */
static inline void conn_reply_keep(struct conn *conn, const struct reply *reply)
{
    KV_ASSERT(reply->bytes == conn->send);
    KV_ASSERT(reply->length >= conn->send_length);
    conn->send_length = reply->length;
}

/* The ready queue: connections with work left that no completion will bring back. */
void conn_ready_push(struct conns *conns, uint32_t slot_index);
KV_MUST_USE bool conn_ready_pop(struct conns *conns, uint32_t *slot_index);

/* CLIENT KILL, a stalled or idle client: drops what it has not been sent and closes it (the
 * loop picks it up from the ready queue). */
void conn_kill(struct conns *conns, struct conn *conn);

static inline struct conn *conn_at(const struct conns *conns, uint32_t slot_index)
{
    KV_ASSERT(slot_index < conns->slot_count);
    return &conns->slots[slot_index];
}

/* The fixed-file slot of a connection. */
static inline uint32_t conn_slot_index(const struct conns *conns, const struct conn *conn)
{
    KV_ASSERT(conn >= conns->slots && conn < conns->slots + conns->slot_count);
    return (uint32_t)(conn - conns->slots);
}

/* Whether a connection is serving a client that is not on its way out. */
static inline bool conn_live(const struct conn *conn)
{
    return conn->state == CONN_OPEN && !conn->dead;
}

/* Checks the cursors of one connection, and the ready queue and open count of all. */
void conn_verify(const struct conns *conns, const struct conn *conn);
void conns_verify(const struct conns *conns);

#endif
