/*
 * Connections: fixed slots indexed by the fixed-file index the kernel gave the socket, each
 * with a receive and a send buffer from two pools. This module owns the byte cursors and
 * runs pipelined commands from the receive buffer into the send buffer; it does no I/O
 * (the loop does) and never allocates. A command runs only when the send buffer has room
 * for its largest reply, so replies are never truncated or dropped: a client that sends
 * faster than it reads is simply not read from until its replies drain.
 */
#ifndef KV_CONN_H
#define KV_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "cmd.h"
#include "kv_assert.h"
#include "plan.h"
#include "pool.h"
#include "region.h"
#include "resp.h"
#include "pubsub.h"
#include "watch.h"

enum conn_state {
    CONN_FREE,      /* slot unused */
    CONN_OPEN,      /* serving a client */
    CONN_REFUSING,  /* accepted past connections_max: told so, then closed */
    CONN_CLOSING,   /* close submitted; the slot frees when it completes */
};

/* Longest client name and library name/version (CLIENT SETNAME, CLIENT SETINFO). */
#define CONN_NAME_BYTES_MAX 128u
#define CONN_LIB_BYTES_MAX 64u

/* A client's MULTI state. Queued commands stay in the receive buffer, unparsed-over bytes
 * the parser keeps: recv[queue_start .. parser.command_start) holds them, so queueing needs
 * no memory of its own and is bounded by the receive buffer. */
struct conn_multi {
    bool active;             /* between MULTI and EXEC/DISCARD */
    bool failed;             /* a command was refused while queueing: EXEC answers EXECABORT */
    bool overflowed;         /* the queue outgrew the receive buffer: the transaction failed */
    uint32_t queue_start;    /* offset of the first queued command in recv */
    uint32_t queued;         /* commands queued */
    uint64_t reply_bytes;    /* sum of the queued commands' worst-case reply bounds */
    struct watch_list watches; /* keys this client watches */
};

struct conn {
    struct resp_parser parser; /* parse state over recv[0 .. recv_length) */
    uint8_t *recv;             /* receive buffer (recv_buffer_bytes), NULL unless OPEN */
    uint8_t *send;             /* send buffer (send_buffer_bytes), NULL unless OPEN */
    uint64_t id;               /* client id, increasing from 1 (CLIENT ID) */
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
    bool dead;                 /* the socket failed: drop what is left and close */
    bool shutdown_in_flight;   /* a shutdown is waking the outstanding receive */
    bool queued;               /* on the ready queue; kept across release and reopen, so a
                                  slot is queued at most once whoever holds it */
    bool authenticated;        /* AUTH succeeded (or no requirepass when it connected) */
    struct conn_multi multi;   /* MULTI/EXEC/WATCH state */
    struct pubsub_client pubsub; /* its channel and pattern subscriptions */
    int64_t created_ms;        /* Unix ms when accepted (CLIENT LIST age) */
    int64_t last_command_ms;   /* Unix ms of the last command (CLIENT LIST idle) */
    const char *last_command;  /* name of the last command run, NULL before the first */
    bool blocked;              /* in a blocking pop: its command stays unconsumed, retried
                                  when a list or sorted set gains members or it times out */
    int64_t block_deadline_ms; /* Unix ms of the blocked command's timeout; 0: never */
    uint32_t block_prev;       /* the blocked FIFO (slot indexes), oldest first */
    uint32_t block_next;
    uint32_t sends_completed;  /* sends the kernel finished (the stall check watches it) */
    uint32_t stall_seen_sends; /* sends_completed when the stall check saw a send waiting */
    int64_t stall_since_ms;    /* Unix ms since a send has waited with no progress; 0: none */
    uint32_t addr_length;      /* bytes of addr; 0: unknown */
    char addr[48];             /* the peer, "ip:port" (CLIENT LIST, SLOWLOG) */
    uint32_t name_length;      /* bytes of name; 0: no name */
    uint32_t lib_name_length;  /* bytes of lib_name */
    uint32_t lib_ver_length;   /* bytes of lib_ver */
    char name[CONN_NAME_BYTES_MAX];
    char lib_name[CONN_LIB_BYTES_MAX];
    char lib_ver[CONN_LIB_BYTES_MAX];
};

struct conns {
    struct conn *slots;        /* conn_slot_count connections, by fixed-file index */
    struct pool recv_buffers;  /* connections_max receive buffers */
    struct pool send_buffers;  /* connections_max send buffers */
    struct resp_scratch scratch; /* shared parse results, valid for one command */
    struct watch *watch;       /* a closing client's watches go back here */
    struct pubsub *pubsub;     /* and its subscriptions here */
    uint32_t slot_count;       /* conn_slot_count */
    uint32_t open_count;       /* connections in CONN_OPEN */
    uint32_t recv_buffer_bytes;/* from the plan */
    uint32_t send_buffer_bytes;/* from the plan */
    uint32_t *ready;           /* ready queue: slot indexes to revisit next pass */
    uint32_t ready_head;       /* index of the oldest entry in `ready` */
    uint32_t ready_count;      /* entries queued; each slot at most once, so <= slot_count */
    uint64_t id_next;          /* next client id */
    uint32_t blocked_head;     /* the longest-blocked connection; CONN_NONE: none */
    uint32_t blocked_tail;
    uint32_t blocked_count;
};

#define CONN_NONE UINT32_MAX

/* Commands one connection may run per loop pass, so a deep pipeline cannot starve others. */
#define CONN_COMMANDS_PER_PASS 1024u

/* Bytes conns_init carves for the slots and the scratch (the buffer pools are separate). */
uint64_t conns_plan_slots_bytes(uint32_t conn_slot_count);
uint64_t conns_plan_scratch_bytes(uint32_t args_max, uint32_t recv_buffer_bytes);

void conns_init(struct conns *conns, struct region *region, const struct plan *plan,
                struct watch *watch);

/* A socket was accepted into fixed-file slot `slot_index`: takes buffers and opens it, or,
 * when every buffer is taken, marks it CONN_REFUSING and returns false. */
KV_MUST_USE bool conn_open(struct conns *conns, uint32_t slot_index);

/* The close is being submitted and nothing else is outstanding: the buffers go back now, so
 * a new client can have them before the kernel finishes the close. State becomes CLOSING. */
void conn_closing(struct conns *conns, struct conn *conn);

/* The close completed: the slot is free for the next socket the kernel puts there. */
void conn_release(struct conns *conns, uint32_t slot_index);

/* Where the next receive may write: compacts consumed input first. 0 bytes: no room. */
uint32_t conn_recv_room(struct conns *conns, struct conn *conn, uint8_t **into);

void conn_received(struct conn *conn, uint32_t bytes);

/* The kernel took `bytes` of the outstanding send. */
void conn_sent(struct conn *conn, uint32_t bytes);

/* Bytes waiting to be sent, from *from. */
uint32_t conn_send_pending(const struct conn *conn, const uint8_t **from);

/* The ready queue: connections with work left that no completion will bring back. */
void conn_ready_push(struct conns *conns, uint32_t slot_index);
KV_MUST_USE bool conn_ready_pop(struct conns *conns, uint32_t *slot_index);

/* Runs complete commands from the receive buffer, at most commands_per_pass of them.
 * Returns true when it stopped at the bound with more input to run. */
bool conn_execute(struct conns *conns, struct conn *conn, struct cmd_context *context);

/* EXEC: replies with an array of the queued commands' replies, running each in order from
 * the receive buffer, and ends the transaction. The client is in MULTI, not failed. */
void conn_multi_exec(struct conns *conns, struct conn *conn, struct cmd_context *context);

/* The bound on EXEC's reply if it ran now: each queued command's bound from the store as it
 * is, less what the commands queued before it may change (cmd_bound_after). Parses the queue
 * with the shared scratch, so the caller's arguments are gone afterwards. */
uint64_t conn_multi_bound(struct conns *conns, struct conn *conn, struct cmd_context *context);

/* Ends a transaction (EXEC, DISCARD, a failed EXEC): queue dropped, watches cleared. */
void conn_multi_reset(struct conns *conns, struct conn *conn);

/* Room in a connection's send buffer now (sent bytes compacted away when no send is in
 * flight): PUBLISH writes messages into subscribers' buffers with it. */
uint32_t conn_send_room(const struct conns *conns, struct conn *conn);

/* Unsubscribes a connection from every channel and pattern (RESET, close). */
void conn_unsubscribe_all(struct conns *conns, struct conn *conn);

/* Blocked clients. After a command that gave a list or sorted set members (store->signaled),
 * the blocked connections retry their commands oldest first, so a push serves the client that
 * has waited longest; a retry that is served answers, consumes its command and goes on the
 * ready queue. The context is the caller's, restored afterwards. */
void conn_wake_blocked(struct conns *conns, struct cmd_context *context);

/* Answers the blocked commands whose timeout has passed (a null array), as Redis does. */
void conn_block_timeouts(struct conns *conns, struct cmd_context *context, int64_t now_ms);

/* The earliest timeout of a blocked client (Unix ms), or 0 when none has one. */
int64_t conn_block_next_deadline(const struct conns *conns);

/* CLIENT KILL of another client: drops what it has not been sent and closes it (the loop
 * picks it up from the ready queue). */
void conn_kill(struct conns *conns, struct conn *conn);

/* The fixed-file slot of a connection. */
static inline uint32_t conn_slot_index(const struct conns *conns, const struct conn *conn)
{
    KV_ASSERT(conn >= conns->slots && conn < conns->slots + conns->slot_count);
    return (uint32_t)(conn - conns->slots);
}

/* Checks the cursors of one connection. */
void conn_verify(const struct conns *conns, const struct conn *conn);

#endif
