/*
 * Connections: fixed slots indexed by the fixed-file index the kernel gave the socket. A
 * connection's bytes live in the heap (the memory budget every key and client shares): a
 * receive buffer that starts small and grows to hold the command being read (up to
 * client-query-buffer-limit), and an output chain of blocks that takes replies of any size
 * and gives each block back as soon as the kernel has sent it. So an idle client holds its
 * slot and a small receive buffer, nothing more. This module owns a connection's lifecycle
 * (open, closing, released), its bytes and the ready queue of connections with work left; it
 * knows nothing of commands (serve runs them) and does no I/O (loop does).
 */
#ifndef KV_CONN_H
#define KV_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"
#include "region.h"
#include "reply.h"
#include "resp.h"

enum conn_state {
    CONN_FREE,      /* slot unused */
    CONN_OPEN,      /* serving a client */
    CONN_REFUSING,  /* accepted past maxclients (or with no memory): told so, then closed */
    CONN_CLOSING,   /* close submitted; the slot frees when it completes */
};

/* Longest peer address kept: "255.255.255.255:65535" and room to spare. */
#define CONN_ADDR_BYTES_MAX 48u

/* A connection's first receive buffer: most requests (and pipelines of small ones) fit it;
 * it doubles when a command needs more and halves back when reads stay small. */
#define CONN_RECV_INITIAL_BYTES 1024u

/* An empty receive buffer larger than this goes back to CONN_RECV_INITIAL_BYTES at once, not
 * by halves: after a 120 MB SET, its 128 MiB buffer would otherwise still be held when the
 * GET's reply needs the room. Smaller ones halve, so a stream of large commands does not
 * regrow its buffer every time. */
#define CONN_RECV_KEEP_BYTES (16u * 1024u * 1024u)

/* Output blocks: the first of a reply is small (most replies are), later ones larger, and a
 * large write gets a block of its size up to CONN_BLOCK_BYTES_MAX (a 100 MB value goes out
 * in blocks of 1 MiB). A connection whose last output fitted CONN_BLOCK_SMALL_BYTES starts
 * its next with such a block: a size class of several objects per page, so the block of a
 * reply taken and given back at every request comes from and goes to a partly used span
 * (a free-list push and pop), where a page of its own would cut a free span and merge it back
 * each time. One whose output needed more starts with a block of its last output's size
 * (CONN_BLOCK_FIRST_BYTES at least, CONN_BLOCK_BYTES at most), so that a reply of a few
 * kilobytes, repeated, goes out in one send. With its 16-byte head that block is
 * one heap page, a size class whose spans are single pages, and any block the heap cannot
 * give comes as such a page instead: near a full heap the free pages may lie in short runs,
 * and one page still answers. */
#define CONN_BLOCK_SMALL_BYTES (512u - 16u)

/* Small first blocks a connection's output gave back wait here for the next reply, so that a
 * request's reply block is neither taken from nor given back to the heap: at -c 50 that
 * allocation and release were a tenth of kv's instructions per GET. At most this many (32 KiB)
 * and at most one for two open connections (so 256 bytes a connection, and none with one
 * client left): a close gives back what passes that. They count in memory_bytes (client
 * memory, not data). */
#define CONN_SPARE_BLOCKS 64u
#define CONN_BLOCK_FIRST_BYTES (4096u - 16u)
#define CONN_BLOCK_BYTES (16384u - 16u)
#define CONN_BLOCK_BYTES_MAX (1024u * 1024u)

/* One block of a connection's output chain: this head, then `capacity` bytes. */
struct conn_block {
    uint32_t next;       /* the next block's heap reference, HEAP_REF_NONE at the tail */
    uint32_t length;     /* bytes written */
    uint32_t sent;       /* bytes of them the kernel has taken */
    uint32_t capacity;   /* bytes after the head */
};

static_assert(sizeof(struct conn_block) + CONN_BLOCK_FIRST_BYTES == 4096u,
              "a first block and its head fill one heap page");
static_assert((sizeof(struct conn_block) + CONN_BLOCK_SMALL_BYTES) * 8 == 4096u,
              "eight small first blocks share one heap page");

/* No slot: the end of the held queue. */
#define CONN_HELD_NONE UINT32_MAX

/*
 * appendfsync always: which of a connection's unsent output bytes may be sent, so that no
 * reply leaves before the AOF bytes it may depend on are durable (the loop keeps it through
 * conn_gate_update; conn_sent and a truncation keep it within out_bytes). The unsent bytes,
 * from the head: clear_bytes may go; then wait_bytes wait until the AOF is durable up to
 * wait_offset; then next_bytes until next_offset (stamped later, so next_offset >=
 * wait_offset); then the bytes written since the last stamp. Offsets are the AOF's (aof.h:
 * bytes fed since startup). Two stamps, not one: a client whose output keeps growing still
 * sends what an fsync released while its newer bytes wait for the next one.
 */
struct conn_gate {
    uint64_t clear_bytes;  /* unsent bytes at the head that may be sent */
    uint64_t wait_bytes;   /* the next ones, held until the AOF is durable to wait_offset */
    uint64_t next_bytes;   /* the next ones, held until it is durable to next_offset */
    uint64_t wait_offset;  /* AOF offset (fed end when stamped); meaningful while wait_bytes */
    uint64_t next_offset;  /* AOF offset; meaningful while next_bytes */
    uint32_t held_next;    /* the next slot on the held queue, CONN_HELD_NONE at its tail */
    bool held;             /* on the held queue; kept across release and reopen (as queued) */
};

struct conn {
    struct resp_parser parser; /* parse state over recv[0 .. recv_length) */
    uint8_t *recv;             /* the receive buffer (heap), NULL unless OPEN */
    uint32_t recv_capacity;    /* its bytes */
    uint32_t recv_length;      /* bytes received and not yet dropped */
    uint32_t recv_last;        /* bytes the last receive brought (shrinking looks at it) */
    uint32_t out_head;         /* the output chain's first block, HEAP_REF_NONE: none */
    uint32_t out_tail;         /* its last block (where replies are written) */
    uint64_t out_bytes;        /* bytes written and not yet sent, all blocks */
    uint32_t send_in_flight;   /* bytes of the outstanding send, 0 when none */
    uint32_t generation;       /* bumped at each open, so late completions are recognised */
    uint8_t state;             /* enum conn_state */
    bool recv_in_flight;       /* a receive is outstanding */
    bool recv_partial;         /* the buffer ends inside a command the parser waits to finish */
    bool close_after_send;     /* QUIT or a protocol error: close once replies are sent */
    bool read_closed;          /* no more reading (the client closed its side, or kv is
                                  stopping): run what was received, send it, then close */
    bool dead;                 /* the socket failed or the client was killed: drop what is
                                  left and close */
    bool shutdown_in_flight;   /* a shutdown is waking the outstanding receive */
    bool recv_multishot;       /* a multishot receive into the loop's buffer ring is armed
                                  (it writes no byte of `recv`: recv_in_flight stays false) */
    bool recv_cancel_in_flight; /* a cancel of that receive is outstanding (backpressure) */
    bool recv_nobufs;          /* the ring ran dry: the next receive is a single one */
    bool recv_unserved;        /* bytes were copied from held buffers and not served yet */
    bool stop_drain_in_flight; /* stopping: a receive that drops the unread bytes is out */
    bool stop_drained;         /* stopping: the socket was found empty (or the bound hit) */
    uint32_t stop_drain_bytes; /* stopping: bytes dropped so far (LOOP_STOP_DISCARD_BYTES_MAX) */
    uint32_t recv_held_count;  /* ring buffers received and not yet copied into `recv` */
    uint32_t recv_held_head;   /* the oldest of them (the loop chains them) */
    uint32_t recv_held_tail;   /* the newest */
    uint32_t recv_held_offset; /* bytes of the oldest already copied */
    bool queued;               /* on the ready queue; kept across release and reopen, so a
                                  slot is queued at most once whoever holds it */
    bool out_large;            /* the last output outgrew a CONN_BLOCK_SMALL_BYTES block: the
                                  next starts with a block of out_last_bytes (at least
                                  CONN_BLOCK_FIRST_BYTES, at most CONN_BLOCK_BYTES) */
    bool out_chained;          /* the chain took a second block since it was last empty: its
                                  last block's length says nothing of the output's size */
    uint32_t out_chain_sent;   /* bytes sent since the chain was last empty */
    uint32_t out_last_bytes;   /* bytes the chain sent between its last two empty moments,
                                  capped at CONN_BLOCK_BYTES: a repeated reply of a few KiB
                                  (LRANGE 0 599) gets one block and one send */
    uint32_t window;           /* the loop's batching window its last request was counted
                                  in (loop.c's window_mark); 0: none */
    uint32_t sends_completed;  /* sends the kernel finished (the stall check watches it) */
    uint32_t stall_seen_sends; /* sends_completed when the stall check saw a send waiting */
    int64_t stall_since_ms;    /* Unix ms since a send has waited with no progress; 0: none */
    int64_t output_soft_since_ms; /* Unix ms since the output passed its soft limit; 0: not */
    uint32_t addr_length;      /* bytes of addr; 0: unknown */
    char addr[CONN_ADDR_BYTES_MAX]; /* the peer, "ip:port" (CLIENT LIST, SLOWLOG, logs) */
    struct conn_gate gate;     /* appendfsync always: what of the output may be sent */
};

struct conns {
    struct conn *slots;        /* slot_count connections, by fixed-file index */
    struct heap *heap;         /* receive buffers and output blocks */
    uint32_t slot_count;       /* maxclients + refusal slots */
    uint32_t open_max;         /* maxclients: connections open at once */
    uint32_t open_count;       /* connections in CONN_OPEN */
    uint32_t recv_limit;       /* client-query-buffer-limit: a receive buffer's most bytes */
    uint64_t memory_bytes;     /* heap bytes of every receive buffer and output block */
    uint32_t spare_refs[CONN_SPARE_BLOCKS]; /* small first blocks no connection holds */
    uint32_t spare_count;      /* entries of spare_refs in use */
    uint32_t *ready;           /* ready queue: slot indexes to revisit next pass */
    uint32_t ready_head;       /* index of the oldest entry in `ready` */
    uint32_t ready_count;      /* entries queued; each slot at most once, so <= slot_count */
    uint32_t held_head;        /* held queue (appendfsync always): connections whose output
                                  waits for the AOF's fsync, oldest first, chained through
                                  their gate's held_next; CONN_HELD_NONE when empty */
    uint32_t held_tail;        /* its newest entry */
    uint32_t held_count;       /* entries; each slot at most once, so <= slot_count */
};

/* Bytes conns_init carves for the slots and the ready queue (the bytes are the heap's). */
uint64_t conns_plan_slots_bytes(uint32_t slot_count);

/* `open_max` connections may be open at once; slot_count - open_max more slots only hold a
 * socket long enough to refuse it. */
void conns_init(struct conns *conns, struct region *region, struct heap *heap,
                uint32_t slot_count, uint32_t open_max, uint32_t recv_limit);

/* A socket was accepted into fixed-file slot `slot_index`: takes its first receive buffer
 * and opens it, or, past open_max or with no memory for the buffer, marks it CONN_REFUSING
 * and returns false. */
KV_MUST_USE bool conn_open(struct conns *conns, uint32_t slot_index);

/* The close is being submitted and nothing else is outstanding: the buffer and the output
 * go back now. State becomes CLOSING. */
void conn_closing(struct conns *conns, struct conn *conn);

/* The close completed: the slot is free for the next socket the kernel puts there. */
void conn_release(struct conns *conns, uint32_t slot_index);

/* Moves the unconsumed input down to the front of the receive buffer, dropping the first
 * `droppable` bytes (at most the parse position: a transaction may keep queued commands).
 * Returns how far the rest moved, for whoever keeps offsets into the buffer. */
uint32_t conn_recv_compact(struct conn *conn, uint32_t droppable);

/* Where the next receive may write, and how many bytes; 0: the buffer is full. */
uint32_t conn_recv_room(struct conn *conn, uint8_t **into);

/* Grows a full receive buffer towards `wanted` bytes (at least double, at most recv_limit);
 * false when it is at the limit already or the heap has no room. No receive in flight. */
KV_MUST_USE bool conn_recv_grow(struct conns *conns, struct conn *conn, uint64_t wanted);

/* Halves a receive buffer that holds nothing while reads stay well below its size, down to
 * CONN_RECV_INITIAL_BYTES (never fails). No receive in flight. */
void conn_recv_shrink(struct conns *conns, struct conn *conn);

void conn_received(struct conn *conn, uint32_t bytes);

/* `bytes` copied by the loop into the room conn_recv_room found (multishot receives). */
void conn_recv_appended(struct conn *conn, uint32_t bytes);

/* The kernel took `bytes` of the outstanding send; a block fully sent goes back. */
void conn_sent(struct conns *conns, struct conn *conn, uint32_t bytes);

/* Bytes of the first block waiting to be sent, from *from (0: nothing waits). */
uint32_t conn_send_pending(const struct conns *conns, const struct conn *conn,
                           const uint8_t **from);

/* A writer appending to the connection's output; conn_reply_keep makes what it wrote part of
 * the output. Growth takes blocks from the heap; a failed writer (no memory) wrote nothing
 * more, and the caller closes the client. */
struct reply conn_reply(struct conns *conns, struct conn *conn);
void conn_reply_keep(struct conns *conns, struct conn *conn, const struct reply *reply);

/* The ready queue: connections with work left that no completion will bring back. */
void conn_ready_push(struct conns *conns, uint32_t slot_index);
KV_MUST_USE bool conn_ready_pop(struct conns *conns, uint32_t *slot_index);

/* The held queue (appendfsync always): connections whose output waits for the AOF's fsync,
 * in the order they began to wait (the order of their AOF offsets but for a client that
 * waited again); each slot at most once. */
void conn_held_push(struct conns *conns, uint32_t slot_index);
KV_MUST_USE bool conn_held_pop(struct conns *conns, uint32_t *slot_index);

/* appendfsync always: brings the gate up to date with the AOF's fed and synced offsets
 * (synced <= fed): stamps that are durable release their bytes, bytes written since the last
 * stamp get `fed_offset` (every reply written until now may depend on what was fed until
 * now). Returns the unsent bytes that may be sent. With nothing fed left to make durable,
 * all may. */
uint64_t conn_gate_update(struct conn *conn, uint64_t fed_offset, uint64_t synced_offset);

/* No gate (appendfsync is not always, or the AOF is off): every unsent byte may go. */
static inline void conn_gate_open(struct conn *conn)
{
    conn->gate.clear_bytes = 0;
    conn->gate.wait_bytes = 0;
    conn->gate.next_bytes = 0;
}

/* CLIENT KILL, a stalled or idle client, an output limit passed: drops what it has not been
 * sent and closes it (the loop picks it up from the ready queue). */
void conn_kill(struct conns *conns, struct conn *conn);

/* Another client's message written with conn_reply (an invalidation, a monitor's line): kept
 * and queued to send; false when the writer found no memory, and then the client is closed
 * (the caller counts it). */
KV_MUST_USE bool conn_reply_deliver(struct conns *conns, struct conn *conn,
                                    const struct reply *reply);

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

/* Heap bytes a connection holds: its receive buffer and output blocks (CLIENT LIST tot-mem,
 * maxmemory-clients). */
uint64_t conn_memory(const struct conns *conns, const struct conn *conn);

/* Checks the cursors and chain of one connection, and the ready queue and counts of all. */
void conn_verify(const struct conns *conns, const struct conn *conn);
void conns_verify(const struct conns *conns);

#endif
