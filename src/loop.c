/*
 * The event loop. One io_uring, one thread:
 *  - LOOP_ACCEPTS accepts, each with its own address buffer, put each new socket straight
 *    into a sparse fixed-file table of connections_max + PLAN_REFUSAL_SLOTS slots (no fd
 *    ever reaches user space); the slot index is the connection index;
 *  - receives and sends use fixed files and, where the kernel lets kv register them, the
 *    region's buffer pools as registered buffers (READ_FIXED / WRITE_FIXED);
 *  - loop_recv multishot (the default): each client has one multishot receive armed, which
 *    takes a buffer from a ring of provided buffers (the plan's recv_ring_count, carved from
 *    the region) per completion; the bytes are copied into the client's own buffer and the
 *    ring buffer given back at once. What its buffer cannot take is held (a FIFO of ring
 *    buffers per client) and the receive cancelled until the client is served: a client that
 *    sends faster than kv answers holds a few ring buffers, never more than the ring. A ring
 *    that runs dry (ENOBUFS) ends the multishot; that client's next receive is a single one
 *    into its own buffer, then multishot again. loop_recv single: one READ_FIXED at a time;
 *  - every connection has at most one receive, one send and one cancel outstanding, then a
 *    shutdown and a close, so the completion queue is sized from the plan (a multishot
 *    receive's completions past it wait in the kernel: its NODROP feature);
 *  - submissions are batched: SQEs are queued during a pass and submitted once, with the wait;
 *    completions are reaped in batches of LOOP_CQE_BATCH_MAX and the CQ advanced once;
 *  - a full submission queue is submitted and retried; if still full the connection goes on
 *    the ready queue and is settled next pass, so no operation is dropped;
 *  - under load the wait is batched: when recent passes each reaped many completions, the
 *    wait asks the kernel (6.12+ min-wait, IORING_ENTER_EXT_ARG) for that many, for up to
 *    a short min-wait, so one kernel entry serves a batch; a light load (few completions per
 *    pass, -c 1) waits for one and wakes at once. loop_min_wait pins it off or on.
 *  - appendfsync always holds replies, not the loop: a send is armed only for the output the
 *    connection's gate lets through (conn_gate: bytes written while the AOF had unsynced
 *    bytes wait until it is durable up to the offset fed then); a held connection waits on
 *    the held queue. A read kept on the AOF ring's eventfd completes when that ring has
 *    completions, and the connections whose stamp the fsync made durable are settled.
 *  - cluster mode: the cluster bus's port is listened on too (one accept in flight), and
 *    each bus link (cluster_bus.h: a table of CLUSTER_BUS_LINKS_MAX, plain fds) has at most
 *    a connect or a receive, a send, a shutdown or cancel, and a close in flight; the loop
 *    arms what cluster_bus asks for after each completion and, when it says something
 *    changed, walks the links' table once per pass; its cron runs at least every 100 ms.
 * A script past busy-reply-threshold calls loop_busy_pass from inside its command: one
 * batch of completions and the ready connections, without waiting, the running connection's
 * own completions held for the next pass (each pass copies its batch and advances the CQ
 * before dispatching, so a busy pass never sees them twice).
 * user_data packs the operation, the slot's generation and the slot index; completions of a
 * slot always arrive before its close, and the generation check asserts that.
 * This module is the ring and nothing else: what a completion means for a client is decided
 * by serve (commands) and cron (timed work), which need no ring and are unit-tested.
 */
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "aof.h"
#include "cluster_bus.h"
#include "cron.h"
#include "log.h"
#include "serve.h"

/* Completions handled per reap; the CQ is advanced once per batch. */
#define LOOP_CQE_BATCH_MAX 256u

/* The min-wait (kernel 6.12+: IORING_FEAT_MIN_TIMEOUT; liburing 2.3 lacks the name, and
 * calls the getevents argument's min_wait_usec field `pad`). */
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1u << 15)
#endif

/* loop_min_wait auto decides from what the last window (LOOP_WINDOW_MS or more, on the
 * coarse monotonic clock) saw: the distinct clients whose requests arrived in it, and the
 * completions reaped. The wait is batched when at least LOOP_BATCH_ENGAGE_CLIENTS clients
 * were active and completions came fast enough that LOOP_MIN_WAIT_AUTO_US would catch
 * LOOP_BATCH_ENGAGE_EXPECTED of them; it then waits for two completions per active client
 * (a closed-loop client has one request out: its receive and its reply's send), up to the
 * min-wait. A window's figures do not depend on how the loop waited (the completions per
 * pass it used to watch did: unbatched passes each see few, so that rule, once off, stayed
 * off under the same load). One client or a few (-c 1, one pipeline) never engage it, nor
 * does a light load of many clients (each request would wait out the min-wait alone). */
#define LOOP_WINDOW_MS 4u
#define LOOP_BATCH_ENGAGE_CLIENTS 8u
#define LOOP_BATCH_ENGAGE_EXPECTED 4u
#define LOOP_MIN_WAIT_AUTO_US 50u
static_assert(LOOP_BATCH_ENGAGE_CLIENTS >= 2, "one client waits for its own reply");
static_assert(LOOP_BATCH_ENGAGE_EXPECTED >= 2, "batching waits for more than one");

/* A monotonic clock in ns: CLOCK_MONOTONIC, or CLOCK_MONOTONIC_COARSE (a vDSO read of the
 * last tick, cheap enough per pass, for the batching window). */
static uint64_t clock_read_ns(clockid_t clock)
{
    struct timespec now;
    int result = clock_gettime(clock, &now);
    KV_ASSERT(result == 0); /* fails only for a bad clock id or pointer */
    KV_ASSERT(now.tv_nsec >= 0);
    KV_ASSERT(now.tv_nsec < 1000000000);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static uint64_t coarse_ms(void)
{
    return clock_read_ns(CLOCK_MONOTONIC_COARSE) / 1000000u;
}


/* A batched wait's overall timeout when no timer is due: it only bounds an idle wait, which
 * ends early when a completion arrives; without it the kernel ends every wait at the min-wait. */
#define LOOP_BATCH_IDLE_TIMEOUT_S 1

/* Listen backlog, as Redis's tcp-backlog default. */
#define LOOP_LISTEN_BACKLOG 511

/* The ring's submission queue: the kernel caps entries at 32768. */
#define LOOP_SQ_ENTRIES_MAX 32768u

/* The completion queue: the kernel caps entries at 65536 (twice the SQ's most). */
#define LOOP_CQ_ENTRIES_MAX 65536u

/* Registered buffers per kernel limit (1 GiB each, 16384 of them). */
#define LOOP_REGISTERED_BUFFER_BYTES_MAX (1u << 30)
#define LOOP_REGISTERED_BUFFERS_MAX 16384u

enum loop_op {
    LOOP_OP_ACCEPT = 1,
    LOOP_OP_RECV = 2,
    LOOP_OP_SEND = 3,
    LOOP_OP_REFUSE = 4,
    LOOP_OP_SHUTDOWN = 5,
    LOOP_OP_CLOSE = 6,
    LOOP_OP_CANCEL = 7,
    LOOP_OP_RECV_MULTI = 8,  /* a multishot receive into the buffer ring */
    LOOP_OP_RECV_CANCEL = 9, /* its cancel (the client's buffer is full: backpressure) */
    LOOP_OP_DRAIN = 10,      /* stopping: a non-blocking receive whose bytes are dropped */
    LOOP_OP_AOF_WAKE = 11,   /* the read on the AOF ring's eventfd: its completions came */
    /* The cluster bus (cluster mode): the slot index is a bus link's index. */
    LOOP_OP_BUS_ACCEPT = 12,   /* an inbound link on the bus port (a plain fd) */
    LOOP_OP_BUS_CONNECT = 13,  /* an outbound link's connect */
    LOOP_OP_BUS_RECV = 14,     /* a receive into the link's input buffer */
    LOOP_OP_BUS_SEND = 15,     /* a send of the link's queued output */
    LOOP_OP_BUS_SHUTDOWN = 16, /* closing: ends the link's receive */
    LOOP_OP_BUS_CANCEL = 17,   /* closing: cancels the link's connect */
    LOOP_OP_BUS_CLOSE = 18,    /* the link's socket closed */
    LOOP_OP_BUS_REFUSE = 19,   /* an accepted bus socket closed at once: no free link */
};
#define LOOP_OP_LAST LOOP_OP_BUS_REFUSE

/* The buffer group of the receive ring (the only one). */
#define LOOP_RECV_GROUP 0u

/* Ring buffers a client whose buffer is full may hold before its multishot receive is
 * cancelled (backpressure): a few, so a client growing its buffer step by step for a large
 * command does not cancel and re-arm at each step. With the completions already posted when
 * the cancel lands, what one client holds stays a small part of the ring. */
#define LOOP_RECV_HELD_CANCEL 4u

/* No ring buffer. */
#define LOOP_RECV_BUFFER_NONE UINT32_MAX

/* On SIGTERM, connections get this long to receive their last replies. */
#define LOOP_STOP_DRAIN_MS 3000u

/* Stopping, a client's unread bytes are read and dropped before its close (a close with
 * unread bytes sends a reset, which can destroy replies the client has not read yet): at
 * most this many per client; a client still sending past them is closed as it is. */
#define LOOP_STOP_DISCARD_BYTES_MAX (16u << 20)

/* user_data: op in bits 56..63, generation in 32..55, slot index in 0..31. */
#define LOOP_OP_SHIFT 56u
#define LOOP_OP_BITS 8u
#define LOOP_GENERATION_SHIFT 32u
#define LOOP_GENERATION_BITS 24u
#define LOOP_GENERATION_MASK ((1u << LOOP_GENERATION_BITS) - 1u)
#define LOOP_SLOT_BITS 32u
static_assert(sizeof(uint64_t) == sizeof(((struct io_uring_sqe *)0)->user_data),
              "user_data holds 64 bits");
static_assert(LOOP_SLOT_BITS + LOOP_GENERATION_BITS + LOOP_OP_BITS == 64,
              "the three fields fill user_data exactly");
static_assert(LOOP_GENERATION_SHIFT == LOOP_SLOT_BITS, "the generation sits above the slot");
static_assert(LOOP_OP_SHIFT == LOOP_GENERATION_SHIFT + LOOP_GENERATION_BITS,
              "the op sits above the generation");
static_assert(LOOP_OP_LAST < (1u << LOOP_OP_BITS), "every op fits its field");
static_assert(sizeof(((struct conn *)0)->generation) * 8 >= LOOP_GENERATION_BITS,
              "a connection's generation has at least the bits user_data keeps");

static enum loop_op user_data_op(uint64_t data)
{
    return (enum loop_op)(data >> LOOP_OP_SHIFT);
}

static uint32_t user_data_generation(uint64_t data)
{
    return (uint32_t)(data >> LOOP_GENERATION_SHIFT) & LOOP_GENERATION_MASK;
}

static uint32_t user_data_slot_index(uint64_t data)
{
    return (uint32_t)data;
}

static uint64_t user_data_pack(enum loop_op op, uint32_t generation, uint32_t slot_index)
{
    KV_ASSERT(op >= LOOP_OP_ACCEPT);
    KV_ASSERT(op <= LOOP_OP_LAST);
    uint64_t data = ((uint64_t)op << LOOP_OP_SHIFT) |
                    ((uint64_t)(generation & LOOP_GENERATION_MASK) << LOOP_GENERATION_SHIFT) |
                    slot_index;
    /* What the completion will unpack (dispatch). */
    KV_ASSERT(user_data_op(data) == op);
    KV_ASSERT(user_data_generation(data) == (generation & LOOP_GENERATION_MASK));
    KV_ASSERT(user_data_slot_index(data) == slot_index);
    return data;
}

/* Accepts in flight at once. Single-shot accepts, each with its own address buffer, so
 * every client's address is known (CLIENT LIST, SLOWLOG); several, so a burst of connects
 * does not wait for one accept to be re-armed per client. */
#define LOOP_ACCEPTS 4u

/* No connection is being served. */
#define LOOP_SLOT_NONE UINT32_MAX

/* Completions a busy pass may hold for the serving connection: it has at most one receive
 * (a multishot one's last completion; the others only hold their buffer), one send and one
 * cancel in flight while its command runs (closing only starts after serving). */
#define LOOP_DEFERRED_MAX 3u

struct loop_accept {
    struct sockaddr_in addr;       /* the peer, written by the kernel */
    socklen_t addr_bytes;          /* in: sizeof(addr); out: its length */
    bool armed;                    /* in flight */
};

struct loop {
    struct io_uring ring;          /* the ring */
    struct serve *serve;           /* runs what a connection received */
    struct cron *cron;             /* timed work between waits */
    struct conns *conns;           /* connection slots, buffers, ready queue (serve's) */
    const struct config *config;   /* busy_poll_us */
    struct stats *stats;           /* counters */
    int listen_fd;                 /* the listening socket (a plain fd) */
    uint32_t port;                 /* port listened on */
    bool buffers_registered;       /* READ_FIXED/WRITE_FIXED usable */
    const uint8_t *region_base;    /* the region: registered as iovecs of ... */
    uint64_t region_bytes;         /* ... LOOP_REGISTERED_BUFFER_BYTES_MAX each, in order */
    struct loop_accept accepts[LOOP_ACCEPTS]; /* accepts in flight, each with its address */
    bool accept_wanted;            /* arm the accepts not in flight when an SQE is free */
    bool stopping;                 /* a stop was requested */
    void (*reload)(void);          /* SIGHUP's work, run between passes; NULL: none */
    uint32_t serving_slot_index;   /* the connection whose commands run now, or
                                      LOOP_SLOT_NONE: a slow script's busy pass leaves it be */
    bool busy_passing;             /* inside loop_busy_pass (never nested) */
    uint32_t deferred_count;       /* completions of the serving slot held by a busy pass */
    bool min_wait_supported;       /* the kernel has IORING_FEAT_MIN_TIMEOUT */
    /* loop_min_wait auto's window (LOOP_WINDOW_MS): the one filling and the last one's. */
    uint32_t window_index;         /* the filling window's number, from 1 (conn.window) */
    uint64_t window_start_ms;      /* when it began (coarse monotonic ms) */
    uint32_t window_clients;       /* distinct clients whose requests arrived in it */
    uint64_t window_completions;   /* completions reaped in it */
    uint32_t window_last_clients;  /* the last whole window's clients ... */
    uint64_t window_last_completions; /* ... completions ... */
    uint64_t window_last_ms;       /* ... and length */
    struct io_uring_cqe deferred[LOOP_DEFERRED_MAX]; /* ... dispatched at the next pass */
    /* The receive ring (loop_recv multishot), carved from the region at init. */
    bool recv_ring_on;             /* registered: receives are multishot */
    struct io_uring_buf_ring *recv_ring; /* the ring the kernel takes buffers from */
    uint8_t *recv_buffers;         /* recv_ring_count buffers of recv_buffer_bytes, by id */
    uint32_t recv_ring_count;      /* buffers (a power of two) */
    uint32_t recv_buffer_bytes;    /* bytes in each */
    uint32_t *recv_held_next;      /* by id: the next held buffer of its client, or NONE */
    uint32_t *recv_held_length;    /* by id: bytes the kernel put in a held buffer */
    uint32_t recv_held_total;      /* buffers held by all clients: at most recv_ring_count */
    /* appendfsync always: replies wait for the AOF's fsync, not the loop. */
    bool aof_wake_armed;           /* the read on aof_event_fd() is in flight */
    uint64_t aof_wake_count;       /* what it reads: the eventfd's counter (unused) */
    uint64_t held_synced_seen;     /* aof_synced_offset() when the held queue was last
                                      revisited: it is revisited when that moves */
    /* The cluster bus (cluster mode): its listening socket, one accept in flight, and each
     * outbound link's address while its connect is in flight. Links are plain fds. */
    int bus_listen_fd;             /* -1: no bus */
    bool bus_accept_armed;         /* the accept is in flight */
    bool bus_retry;                /* an SQE was missing: walk the links again next pass */
    struct sockaddr_in bus_accept_addr; /* the peer, written by the kernel */
    socklen_t bus_accept_addr_bytes;
    struct sockaddr_in bus_connect_addr[CLUSTER_BUS_LINKS_MAX]; /* by link index */
    /* MIGRATE's exchanges with a target (loop_migrate_*): a second, tiny ring that the
     * command waits on synchronously, as Redis's MIGRATE waits on its blocking socket. */
    struct io_uring migrate_ring;
    bool migrate_ring_on;          /* set up at init; off: MIGRATE cannot connect */
};

static struct loop loop_state;

/* The migrate ring's entries: an operation and its LINK_TIMEOUT. */
#define LOOP_MIGRATE_RING_ENTRIES 2u
static volatile sig_atomic_t loop_stop_requested;
static volatile sig_atomic_t loop_reload_requested;

void loop_request_stop(void)
{
    loop_stop_requested = 1;
}

void loop_request_reload(void)
{
    loop_reload_requested = 1;
}

void loop_on_reload(struct loop *loop, void (*reload)(void))
{
    KV_ASSERT(loop == &loop_state); /* the one loop, from loop_init */
    KV_ASSERT(reload != NULL);
    loop->reload = reload;
}

int loop_probe(void)
{
    struct io_uring ring;
    int result = io_uring_queue_init(2, &ring, 0);
    if (result == 0) {
        io_uring_queue_exit(&ring);
    }
    KV_ASSERT(result <= 0); /* 0 or a negative errno */
    return result;
}

uint32_t loop_port(const struct loop *loop)
{
    KV_ASSERT(loop->port > 0); /* the port bound, even when any free port was asked for */
    KV_ASSERT(loop->port <= UINT16_MAX);
    return loop->port;
}

/* One SQE: submits the queue when it is full; NULL only when the kernel takes none. */
static struct io_uring_sqe *sqe_get(struct loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (sqe == NULL) {
        loop->stats->ring_full_submits++;
        /* Sends are armed only for output the AOF's gate let through (send_allowed). */
        int submitted = io_uring_submit(&loop->ring);
        KV_ASSERT(submitted != -EBADF); /* the ring's own fd */
        if (submitted < 0 && submitted != -EBUSY && submitted != -EAGAIN && submitted != -EINTR) {
            log_error("loop: io_uring_submit failed: %s", strerror(-submitted));
        }
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

static int listen_socket(const struct config *config, uint32_t *port, char *error,
                         size_t error_bytes)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error, error_bytes, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Accepted sockets inherit TCP_NODELAY: replies leave at once, never waiting on Nagle. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)config->port)};
    KV_ASSERT(inet_pton(AF_INET, config->bind, &address.sin_addr) == 1);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, LOOP_LISTEN_BACKLOG) != 0) {
        int code = errno;
        snprintf(error, error_bytes, "cannot listen on %s:%u: %s", config->bind, config->port,
                 strerror(code));
        close(fd);
        return -code;
    }
    socklen_t length = sizeof(address);
    KV_ASSERT(getsockname(fd, (struct sockaddr *)&address, &length) == 0);
    *port = ntohs(address.sin_port);
    KV_ASSERT(*port > 0); /* a bound socket has its port, whichever was asked for */
    KV_ASSERT(config->port == 0 || *port == config->port);
    return fd;
}

/* The cluster bus's listening socket (Redis listens on the bus port at clusterInit and
 * exits when it cannot). */
static int bus_listen_socket(const struct config *config, uint32_t port, char *error,
                             size_t error_bytes)
{
    KV_ASSERT(port > 0);
    if (port > UINT16_MAX) {
        snprintf(error, error_bytes, "cluster bus port %u is out of range", port);
        return -EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error, error_bytes, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    KV_ASSERT(inet_pton(AF_INET, config->bind, &address.sin_addr) == 1);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(fd, LOOP_LISTEN_BACKLOG) != 0) {
        int code = errno;
        snprintf(error, error_bytes, "cannot listen on the cluster bus port %s:%u: %s",
                 config->bind, port, strerror(code));
        close(fd);
        return -code;
    }
    return fd;
}

/*
 * Sets the ring up. Each flag, and why:
 *  - IORING_SETUP_SINGLE_ISSUER: only the loop thread submits, which lets the kernel skip
 *    its submission locking;
 *  - IORING_SETUP_DEFER_TASKRUN: completion work runs only when the loop waits, in its own
 *    thread, instead of interrupting it mid-pass (measured: the largest single saving of CPU
 *    per request); kernels without it get IORING_SETUP_COOP_TASKRUN, which at least avoids
 *    the interrupt that signals the thread;
 *  - IORING_SETUP_CQSIZE: a completion queue twice the operations the plan allows (a receive,
 *    a send and a shutdown or close per slot, plus the accepts), so it cannot overflow; the
 *    kernel's IORING_FEAT_NODROP (required) keeps any surplus from an operator's smaller
 *    ring_entries instead of dropping it.
 */
static int ring_setup(struct loop *loop, uint32_t ring_entries, char *error, size_t error_bytes)
{
    KV_ASSERT(loop->conns->slot_count > 0);
    KV_ASSERT(loop->conns->slot_count < UINT32_MAX / 16); /* ops_max * 2 cannot wrap */
    /* recv (or, stopping, the drain that follows it), send, cancel, shutdown|close per slot;
     * a cancel per accept; the accepts; the read on the AOF's eventfd. */
    uint32_t ops_max = loop->conns->slot_count * 4 + 8 + LOOP_ACCEPTS + 1;
    /* The bus: per link a connect or receive, a send, a shutdown or cancel, a close; its
     * accept and a refusal's close. */
    ops_max += cluster_bus_on() ? CLUSTER_BUS_LINKS_MAX * 4 + 2 : 0;
    uint32_t sq_entries = ops_max < LOOP_SQ_ENTRIES_MAX ? ops_max : LOOP_SQ_ENTRIES_MAX;
    if (ring_entries != 0) {
        /* An operator's smaller ring: a full SQ parks work on the ready queue, and completions
         * past the CQ wait in the kernel's overflow list (NODROP) until reaped. */
        sq_entries = ring_entries;
        ops_max = ring_entries;
    }
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    /* The kernel's most CQ entries; past them NODROP keeps completions until reaped. */
    uint32_t cq_entries = ops_max < LOOP_CQ_ENTRIES_MAX / 2 ? ops_max * 2 : LOOP_CQ_ENTRIES_MAX;
    params.cq_entries = cq_entries;
    int result = io_uring_queue_init_params(sq_entries, &loop->ring, &params);
    if (result == -EINVAL) {
        memset(&params, 0, sizeof(params));
        params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
        params.cq_entries = cq_entries;
        result = io_uring_queue_init_params(sq_entries, &loop->ring, &params);
        log_warn("loop: the kernel refused SINGLE_ISSUER|DEFER_TASKRUN (before 6.1): "
                 "cooperative task work instead, more CPU per request");
    }
    if (result == -EINVAL) {
        /* Before 5.19: task work interrupts the loop; slower, still correct. */
        memset(&params, 0, sizeof(params));
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = cq_entries;
        result = io_uring_queue_init_params(sq_entries, &loop->ring, &params);
        log_warn("loop: the kernel refused COOP_TASKRUN (before 5.19): plain task work");
    }
    if (result != 0) {
        snprintf(error, error_bytes,
                 "io_uring setup failed: %s (is io_uring enabled? check kernel.io_uring_disabled)",
                 strerror(-result));
        return result;
    }
    KV_ASSERT(params.sq_entries >= (ring_entries != 0 ? ring_entries : 1u));
    if (!(params.features & IORING_FEAT_NODROP)) {
        snprintf(error, error_bytes, "io_uring lacks IORING_FEAT_NODROP: kernel too old");
        return -ENOTSUP;
    }
    loop->min_wait_supported = (params.features & IORING_FEAT_MIN_TIMEOUT) != 0;
    loop->window_index = 1; /* a slot's window 0 is "never counted" */
    loop->window_start_ms = coarse_ms();
    log_info("loop: io_uring with %u SQ and %u CQ entries, %s task work, %s", params.sq_entries,
             params.cq_entries,
             (params.flags & IORING_SETUP_DEFER_TASKRUN) ? "deferred"
             : (params.flags & IORING_SETUP_COOP_TASKRUN) ? "cooperative"
                                                          : "interrupting",
             loop->min_wait_supported ? "batched waits under load (min-wait)"
                                      : "no min-wait (kernel before 6.12): unbatched waits");
    return 0;
}

/* Registers the whole region as fixed buffers, in iovecs of LOOP_REGISTERED_BUFFER_BYTES_MAX
 * (the kernel's limit for one): every receive buffer and output block lives in the heap
 * inside it, so READ_FIXED and WRITE_FIXED skip pinning pages on every operation, whatever
 * the budget's size. An operation never crosses from one iovec into the next (ring_span). */
static void buffers_register(struct loop *loop, const struct region *region)
{
    static struct iovec iovecs[LOOP_REGISTERED_BUFFERS_MAX];
    uint64_t count = (region->bytes + LOOP_REGISTERED_BUFFER_BYTES_MAX - 1) /
                     LOOP_REGISTERED_BUFFER_BYTES_MAX;
    if (count > LOOP_REGISTERED_BUFFERS_MAX) {
        log_warn("loop: the region is too large to register; using plain receive/send");
        return;
    }
    for (uint64_t index = 0; index < count; index++) {
        uint64_t offset = index * LOOP_REGISTERED_BUFFER_BYTES_MAX;
        uint64_t left = region->bytes - offset;
        iovecs[index].iov_base = region->base + offset;
        iovecs[index].iov_len = left < LOOP_REGISTERED_BUFFER_BYTES_MAX
                                    ? left
                                    : LOOP_REGISTERED_BUFFER_BYTES_MAX;
    }
    int result = io_uring_register_buffers(&loop->ring, iovecs, (unsigned)count);
    if (result != 0) {
        log_warn("loop: registering the region as %u buffers failed (%s); using plain "
                 "receive/send: raise the memlock limit or grant CAP_IPC_LOCK",
                 (unsigned)count, strerror(-result));
        return;
    }
    loop->buffers_registered = true;
    loop->region_base = region->base;
    loop->region_bytes = region->bytes;
}

/* The registered buffer holding [bytes, bytes + length), and how much of that range lies in
 * it: an operation that would cross into the next iovec is cut at the boundary (the rest goes
 * as a short read or write does). */
static uint32_t ring_span(const struct loop *loop, const uint8_t *bytes, uint32_t length,
                          uint32_t *buffer_index)
{
    KV_ASSERT(loop->buffers_registered);
    KV_ASSERT(bytes >= loop->region_base);
    uint64_t offset = (uint64_t)(bytes - loop->region_base);
    KV_ASSERT(offset + length <= loop->region_bytes);
    *buffer_index = (uint32_t)(offset / LOOP_REGISTERED_BUFFER_BYTES_MAX);
    uint64_t end = ((uint64_t)*buffer_index + 1) * LOOP_REGISTERED_BUFFER_BYTES_MAX;
    uint64_t room = end - offset;
    return length < room ? length : (uint32_t)room;
}

/* Carves the receive ring, its buffers and the held chains from the region (the plan's
 * recv_ring bytes) and registers the ring as buffer group LOOP_RECV_GROUP, every buffer in
 * it. Without it (loop_recv single, or a kernel that refuses the ring: before 5.19) every
 * receive is a single one into the client's buffer. */
static void recv_ring_setup(struct loop *loop, struct region *region, const struct plan *plan)
{
    uint32_t count = plan->recv_ring_count;
    if (count == 0) {
        return;
    }
    KV_ASSERT((count & (count - 1)) == 0); /* the kernel's rule */
    KV_ASSERT(count <= PLAN_RECV_RING_BUFFERS);
    KV_ASSERT(plan->recv_ring_buffer_bytes > 0);
    uint64_t entries_bytes = (uint64_t)count * sizeof(struct io_uring_buf);
    entries_bytes = (entries_bytes + PLAN_RECV_RING_PAGE_BYTES - 1) / PLAN_RECV_RING_PAGE_BYTES *
                    PLAN_RECV_RING_PAGE_BYTES;
    loop->recv_ring = region_carve(region, entries_bytes, PLAN_RECV_RING_PAGE_BYTES);
    loop->recv_buffers =
        region_carve(region, (uint64_t)count * plan->recv_ring_buffer_bytes, 64);
    loop->recv_held_next = region_carve(region, (uint64_t)count * sizeof(uint32_t), 64);
    loop->recv_held_length = region_carve(region, (uint64_t)count * sizeof(uint32_t), 64);
    loop->recv_ring_count = count;
    loop->recv_buffer_bytes = plan->recv_ring_buffer_bytes;
    struct io_uring_buf_reg registration;
    memset(&registration, 0, sizeof(registration));
    registration.ring_addr = (uint64_t)(uintptr_t)loop->recv_ring;
    registration.ring_entries = count;
    registration.bgid = LOOP_RECV_GROUP;
    int result = io_uring_register_buf_ring(&loop->ring, &registration, 0);
    if (result != 0) {
        log_warn("loop: registering the receive ring failed (%s): single receives instead "
                 "(loop_recv single)", strerror(-result));
        return;
    }
    io_uring_buf_ring_init(loop->recv_ring);
    int mask = io_uring_buf_ring_mask(count);
    /* Bounded by the ring's buffers. */
    for (uint32_t id = 0; id < count; id++) {
        uint8_t *buffer = loop->recv_buffers + (uint64_t)id * loop->recv_buffer_bytes;
        io_uring_buf_ring_add(loop->recv_ring, buffer, loop->recv_buffer_bytes,
                              (unsigned short)id, mask, (int)id);
    }
    io_uring_buf_ring_advance(loop->recv_ring, (int)count);
    loop->recv_ring_on = true;
    log_info("loop: multishot receives into a ring of %u buffers of %u bytes", count,
             loop->recv_buffer_bytes);
}

/* The fixed-file table must fit under RLIMIT_NOFILE: raise the soft limit to the hard one. */
static void files_limit_raise(uint32_t needed)
{
    KV_ASSERT(needed > 0);
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max &&
        limit.rlim_cur < needed + 64) {
        limit.rlim_cur = limit.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &limit);
    }
}

int loop_init(struct loop **loop_out, const struct config *config, struct region *region,
              struct serve *serve, struct cron *cron, struct stats *stats, char *error,
              size_t error_bytes)
{
    KV_ASSERT(serve->conns != NULL);
    struct loop *loop = &loop_state;
    memset(loop, 0, sizeof(*loop));
    loop->serve = serve;
    loop->cron = cron;
    loop->conns = serve->conns;
    loop->config = config;
    loop->stats = stats;
    int fd = listen_socket(config, &loop->port, error, error_bytes);
    if (fd < 0) {
        return fd;
    }
    loop->listen_fd = fd;
    int result = ring_setup(loop, config->ring_entries, error, error_bytes);
    if (result != 0) {
        return result;
    }
    files_limit_raise(loop->conns->slot_count);
    result = io_uring_register_files_sparse(&loop->ring, loop->conns->slot_count);
    if (result != 0) {
        snprintf(error, error_bytes,
                 "registering %u fixed files failed: %s (raise the open-files limit, ulimit -n)",
                 loop->conns->slot_count, strerror(-result));
        return result;
    }
    buffers_register(loop, region);
    recv_ring_setup(loop, region, serve->shared.plan);
    loop->bus_listen_fd = -1;
    if (cluster_bus_on()) {
        fd = bus_listen_socket(config, cluster_bus_listen_port(loop->port), error, error_bytes);
        if (fd < 0) {
            return fd;
        }
        loop->bus_listen_fd = fd;
    }
    /* Two entries: one operation and its linked timeout. The kernel's few pages for it are
     * mapped now, at init, as the main ring's are. */
    loop->migrate_ring_on = io_uring_queue_init(LOOP_MIGRATE_RING_ENTRIES, &loop->migrate_ring,
                                                0) == 0;
    KV_ASSERT(loop->listen_fd >= 0);
    loop->accept_wanted = true;
    loop->serving_slot_index = LOOP_SLOT_NONE;
    *loop_out = loop;
    return 0;
}

static void accept_arm(struct loop *loop)
{
    KV_ASSERT(loop->accept_wanted);
    KV_ASSERT(!loop->stopping); /* a stop turns accept_wanted off for good */
    for (uint32_t index = 0; index < LOOP_ACCEPTS; index++) {
        struct loop_accept *accept = &loop->accepts[index];
        if (accept->armed) {
            continue;
        }
        struct io_uring_sqe *sqe = sqe_get(loop);
        if (sqe == NULL) {
            return; /* accept_wanted stays set: armed next pass. */
        }
        accept->addr_bytes = sizeof(accept->addr);
        io_uring_prep_accept(sqe, loop->listen_fd, (struct sockaddr *)&accept->addr,
                             &accept->addr_bytes, 0);
        /* Direct, into a free slot the kernel picks. Set raw: liburing 2.3's
         * io_uring_prep_accept_direct adds 1 to the index, turning ALLOC into 0 (no slot). */
        sqe->file_index = IORING_FILE_INDEX_ALLOC;
        io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_ACCEPT, 0, index));
        accept->armed = true;
    }
    KV_ASSERT(loop->accepts[LOOP_ACCEPTS - 1].armed);
    loop->accept_wanted = false;
}

static bool recv_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(!conn->recv_in_flight); /* one receive at a time */
    uint8_t *into = NULL;
    uint32_t room = serve_recv_room(loop->serve, slot_index, &into);
    if (room == 0) {
        return true; /* Full: the commands in it run first, then room comes back. */
    }
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    /* Paired with on_recv: what arrives lands within the buffer, after what waits there. */
    KV_ASSERT(into == conn->recv + conn->recv_length);
    KV_ASSERT(into + room <= conn->recv + conn->recv_capacity);
    if (loop->buffers_registered) {
        uint32_t buffer_index = 0;
        room = ring_span(loop, into, room, &buffer_index);
        io_uring_prep_read_fixed(sqe, (int)slot_index, into, room, 0, (int)buffer_index);
    } else {
        io_uring_prep_recv(sqe, (int)slot_index, into, room, 0);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_RECV, conn->generation, slot_index));
    conn->recv_in_flight = true;
    KV_ASSERT(!conn->shutdown_in_flight); /* a shutdown comes only after the last receive */
    return true;
}

/* Gives a ring buffer back to the kernel. */
static void recv_buffer_give_back(struct loop *loop, uint32_t id)
{
    KV_ASSERT(loop->recv_ring_on);
    KV_ASSERT(id < loop->recv_ring_count);
    io_uring_buf_ring_add(loop->recv_ring,
                          loop->recv_buffers + (uint64_t)id * loop->recv_buffer_bytes,
                          loop->recv_buffer_bytes, (unsigned short)id,
                          io_uring_buf_ring_mask(loop->recv_ring_count), 0);
    io_uring_buf_ring_advance(loop->recv_ring, 1);
}

/* Holds a ring buffer the kernel filled for a client, after the ones it already holds. */
static void recv_held_push(struct loop *loop, struct conn *conn, uint32_t id, uint32_t length)
{
    KV_ASSERT(id < loop->recv_ring_count);
    KV_ASSERT(length > 0 && length <= loop->recv_buffer_bytes);
    KV_ASSERT(loop->recv_held_total < loop->recv_ring_count); /* held ones are out of the ring */
    loop->recv_held_next[id] = LOOP_RECV_BUFFER_NONE;
    loop->recv_held_length[id] = length;
    if (conn->recv_held_count == 0) {
        conn->recv_held_head = id;
        conn->recv_held_offset = 0;
    } else {
        loop->recv_held_next[conn->recv_held_tail] = id;
    }
    conn->recv_held_tail = id;
    conn->recv_held_count++;
    loop->recv_held_total++;
}

/* Gives the oldest held buffer back. */
static void recv_held_pop(struct loop *loop, struct conn *conn)
{
    KV_ASSERT(conn->recv_held_count > 0);
    KV_ASSERT(loop->recv_held_total > 0);
    uint32_t id = conn->recv_held_head;
    conn->recv_held_head = loop->recv_held_next[id];
    conn->recv_held_count--;
    conn->recv_held_offset = 0;
    loop->recv_held_total--;
    recv_buffer_give_back(loop, id);
    KV_ASSERT(conn->recv_held_count == 0 || conn->recv_held_head < loop->recv_ring_count);
}

/* A closing client's held bytes are dropped (as a dead client's buffer is). */
static void recv_held_drop(struct loop *loop, struct conn *conn)
{
    /* Bounded by the buffers it holds. */
    while (conn->recv_held_count > 0) {
        recv_held_pop(loop, conn);
    }
}

/* Copies held bytes into the client's buffer, oldest first, as far as it has room (after
 * serve_recv_room's compaction, shrinking and growth for a partial command: the buffer is
 * sized exactly as a single receive's would be); each emptied ring buffer goes back.
 * Returns the bytes copied. */
static uint32_t recv_held_drain(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(!conn->recv_in_flight); /* no single receive writes the buffer meanwhile */
    KV_ASSERT(conn->recv_held_count > 0);
    if (conn->recv_unserved) {
        return 0; /* copy again once what was copied is served, as a single receive waits */
    }
    uint8_t *into = NULL;
    uint32_t room = serve_recv_room(loop->serve, slot_index, &into);
    uint32_t copied = 0;
    /* Bounded by the held buffers: each step empties one or fills the room and stops. */
    while (conn->recv_held_count > 0) {
        uint32_t id = conn->recv_held_head;
        KV_ASSERT(conn->recv_held_offset < loop->recv_held_length[id]);
        uint32_t left = loop->recv_held_length[id] - conn->recv_held_offset;
        if (room == 0) {
            break;
        }
        uint32_t bytes = room < left ? room : left;
        memcpy(into, loop->recv_buffers + (uint64_t)id * loop->recv_buffer_bytes +
                         conn->recv_held_offset,
               bytes);
        conn_recv_appended(conn, bytes);
        into += bytes;
        room -= bytes;
        copied += bytes;
        conn->recv_held_offset += bytes;
        if (conn->recv_held_offset == loop->recv_held_length[id]) {
            recv_held_pop(loop, conn);
        }
    }
    if (copied > 0) {
        conn->recv_last = copied;
        conn->recv_unserved = true;
    }
    KV_ASSERT(conn->recv_length <= conn->recv_capacity);
    return copied;
}

/* Arms the client's multishot receive: each completion brings a ring buffer's bytes. */
static bool recv_multishot_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(!conn->recv_multishot && !conn->recv_in_flight && !conn->recv_cancel_in_flight);
    KV_ASSERT(conn->recv_held_count == 0); /* what is held is copied before more comes */
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    io_uring_prep_recv_multishot(sqe, (int)slot_index, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = LOOP_RECV_GROUP;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_RECV_MULTI, conn->generation, slot_index));
    conn->recv_multishot = true;
    KV_ASSERT(!conn->shutdown_in_flight); /* a shutdown comes only after the last receive */
    return true;
}

/* Cancels the client's multishot receive: its buffer is full and it holds ring buffers. */
static bool recv_cancel_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->recv_multishot);
    KV_ASSERT(!conn->recv_cancel_in_flight);
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    io_uring_prep_cancel64(sqe, user_data_pack(LOOP_OP_RECV_MULTI, conn->generation, slot_index),
                           0);
    io_uring_sqe_set_data64(sqe,
                            user_data_pack(LOOP_OP_RECV_CANCEL, conn->generation, slot_index));
    conn->recv_cancel_in_flight = true;
    return true;
}

/* The receive side of settle: a single receive (loop_recv single, or the ring ran dry), or
 * with the ring: copy what is held, stop receiving while something stays held (the client's
 * buffer is full), and receive again once nothing is. */
static bool recv_settle(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    if (conn->recv_in_flight) {
        return true;
    }
    if (!loop->recv_ring_on) {
        return recv_arm(loop, conn, slot_index);
    }
    if (conn->recv_held_count > 0 && recv_held_drain(loop, conn, slot_index) > 0) {
        conn_ready_push(loop->conns, slot_index); /* the copied bytes run next pass */
    }
    if (conn->recv_held_count >= LOOP_RECV_HELD_CANCEL) {
        if (conn->recv_multishot && !conn->recv_cancel_in_flight) {
            loop->stats->recv_backpressure_cancels++;
            return recv_cancel_arm(loop, conn, slot_index);
        }
        return true;
    }
    if (conn->recv_multishot || conn->recv_cancel_in_flight || conn->recv_held_count > 0) {
        return true; /* armed, or re-armed once its cancel is back and nothing is held */
    }
    if (conn->recv_nobufs) {
        return recv_arm(loop, conn, slot_index);
    }
    return recv_multishot_arm(loop, conn, slot_index);
}

/*
 * The bytes of the head block a send may take now: 0 when none waits, or when appendfsync
 * always holds them until the AOF is durable up to the offset fed when they were written
 * (conn_gate_update: for every client, readers included, as Redis's beforeSleep fsyncs
 * before any reply of the turn). A held connection waits on the held queue, revisited when
 * the AOF's fsync completes (held_release). Not gating, the gate stays open.
 */
static uint32_t send_allowed(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->send_in_flight == 0);
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(loop->conns, conn, &from);
    if (pending == 0) {
        return 0;
    }
    if (!aof_gating()) {
        conn_gate_open(conn);
        return pending;
    }
    uint64_t clear = conn_gate_update(conn, aof_fed_offset(), aof_synced_offset());
    if (clear == 0) {
        conn_held_push(loop->conns, slot_index);
        return 0;
    }
    return clear < pending ? (uint32_t)clear : pending;
}

/* Sends `allowed` bytes (send_allowed's) of the head block, or what of them the registered
 * buffer holding them has. */
static bool send_arm(struct loop *loop, struct conn *conn, uint32_t slot_index, uint32_t allowed)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    const uint8_t *from = NULL;
    uint32_t pending = conn_send_pending(loop->conns, conn, &from);
    KV_ASSERT(allowed > 0 && allowed <= pending);
    KV_ASSERT(conn->send_in_flight == 0);
    pending = allowed;
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    /* Paired with on_send: the kernel takes at most these bytes, the head block's unsent. */
    KV_ASSERT(pending <= conn->out_bytes);
    if (loop->buffers_registered) {
        uint32_t buffer_index = 0;
        pending = ring_span(loop, from, pending, &buffer_index);
        io_uring_prep_write_fixed(sqe, (int)slot_index, from, pending, 0, (int)buffer_index);
    } else {
        io_uring_prep_send(sqe, (int)slot_index, from, pending, MSG_NOSIGNAL);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_SEND, conn->generation, slot_index));
    conn->send_in_flight = pending;
    KV_ASSERT(conn->send_in_flight > 0);
    return true;
}

/* Shutdown wakes an outstanding receive (it completes with 0) so the slot can close. */
static bool shutdown_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(!conn->shutdown_in_flight);
    /* It ends an operation that would otherwise wait on the peer. */
    KV_ASSERT(conn->recv_in_flight || conn->recv_multishot || conn->send_in_flight > 0);
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    io_uring_prep_shutdown(sqe, (int)slot_index, SHUT_RDWR);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_SHUTDOWN, conn->generation, slot_index));
    conn->shutdown_in_flight = true;
    return true;
}

/* Stopping, after the last reply: reads what the client sent and kv will not run, without
 * waiting, so the close finds the socket empty and ends with a FIN, not a reset. The bytes go
 * to the client's own buffer, whose contents nothing reads any more. */
static bool drain_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(loop->stopping);
    KV_ASSERT(!conn->recv_in_flight && !conn->recv_multishot && !conn->recv_cancel_in_flight);
    KV_ASSERT(conn->recv_held_count == 0);
    KV_ASSERT(!conn->stop_drain_in_flight && !conn->stop_drained);
    KV_ASSERT(conn->recv != NULL && conn->recv_capacity > 0); /* an open client's buffer */
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    io_uring_prep_recv(sqe, (int)slot_index, conn->recv, conn->recv_capacity, MSG_DONTWAIT);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_DRAIN, conn->generation, slot_index));
    conn->stop_drain_in_flight = true;
    return true;
}

static bool close_arm(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    /* Nothing of the slot is in flight: its close is the last completion it gets. */
    KV_ASSERT(!conn->recv_in_flight);
    KV_ASSERT(!conn->recv_multishot && !conn->recv_cancel_in_flight);
    KV_ASSERT(conn->recv_held_count == 0); /* its ring buffers are back */
    KV_ASSERT(conn->send_in_flight == 0);
    KV_ASSERT(!conn->shutdown_in_flight);
    KV_ASSERT(!conn->stop_drain_in_flight);
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return false;
    }
    io_uring_prep_close_direct(sqe, slot_index);
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_CLOSE, conn->generation, slot_index));
    if (conn->state == CONN_OPEN) {
        KV_ASSERT(loop->stats->connected_clients > 0);
        loop->stats->connected_clients--;
    }
    serve_closing(loop->serve, slot_index);
    KV_ASSERT(conn->state == CONN_CLOSING);
    return true;
}

/* A closing connection: replies drained (unless dead), every operation back, then close. */
static bool settle_closing(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->state == CONN_OPEN);
    KV_ASSERT(conn->close_after_send || conn->read_closed || conn->dead);
    if (conn->dead || conn->close_after_send) {
        recv_held_drop(loop, conn);
    } else if (conn->recv_held_count > 0 && !conn->recv_in_flight &&
               recv_held_drain(loop, conn, slot_index) > 0) {
        /* Read closed: what was received is still run, held bytes included. */
        conn_ready_push(loop->conns, slot_index);
    }
    const uint8_t *from = NULL;
    if (!conn->dead && conn_send_pending(loop->conns, conn, &from) > 0) {
        if (conn->send_in_flight > 0) {
            return true;
        }
        /* Held for the AOF: the close waits until the output has gone. */
        uint32_t allowed = send_allowed(loop, conn, slot_index);
        return allowed == 0 || send_arm(loop, conn, slot_index, allowed);
    }
    if (conn->send_in_flight > 0 && conn->dead && !conn->shutdown_in_flight) {
        /* A killed client that takes no bytes: shutting the socket down ends the send. */
        return shutdown_arm(loop, conn, slot_index);
    }
    if (conn->send_in_flight > 0 || conn->shutdown_in_flight || conn->recv_cancel_in_flight ||
        conn->stop_drain_in_flight) {
        return true;
    }
    if (conn->recv_in_flight || conn->recv_multishot) {
        return shutdown_arm(loop, conn, slot_index);
    }
    if (conn->recv_held_count > 0) {
        return true; /* held bytes run first (serving queues it again) */
    }
    if (loop->stopping && !conn->dead && !conn->stop_drained) {
        return drain_arm(loop, conn, slot_index);
    }
    return close_arm(loop, conn, slot_index);
}

/*
 * Queues whatever a connection needs next: a send of pending replies, a receive when it may
 * read, or the steps of closing. Parks it on the ready queue when the SQ is full.
 */
static void settle(struct loop *loop, uint32_t slot_index)
{
    struct conn *conn = conn_at(loop->conns, slot_index);
    if (conn->state != CONN_OPEN) {
        return;
    }
    bool ok = true;
    if (conn->close_after_send || conn->read_closed || conn->dead) {
        ok = settle_closing(loop, conn, slot_index);
    } else {
        uint32_t allowed = conn->send_in_flight == 0 ? send_allowed(loop, conn, slot_index) : 0;
        if (allowed > 0) {
            ok = send_arm(loop, conn, slot_index, allowed);
        }
        if (ok) {
            ok = recv_settle(loop, conn, slot_index);
        }
    }
    if (!ok) {
        /* Parked with nothing lost: no step was taken, so the slot is still open. */
        KV_ASSERT(conn->state == CONN_OPEN);
        loop->stats->ring_full_parks++;
        conn_ready_push(loop->conns, slot_index);
    }
    KV_ASSERT(conn->state == CONN_OPEN || conn->state == CONN_CLOSING);
}

/* Runs what the connection has received, then queues its next operations. */
static void serve(struct loop *loop, uint32_t slot_index)
{
    const struct conn *conn = conn_at(loop->conns, slot_index);
    if (conn->state != CONN_OPEN) {
        return;
    }
    /* A receive may be in flight (a send completed): it writes past recv_length, into room
     * that recv_arm found and that nothing takes until it completes. */
    KV_ASSERT(!conn->recv_in_flight || conn->recv_length < conn->recv_capacity);
    uint32_t outer_slot_index = loop->serving_slot_index; /* a busy pass serves inside one */
    KV_ASSERT(outer_slot_index != slot_index);
    loop->serving_slot_index = slot_index;
    bool more = serve_input(loop->serve, slot_index);
    conn_at(loop->conns, slot_index)->recv_unserved = false;
    loop->serving_slot_index = outer_slot_index;
    if (more) {
        conn_ready_push(loop->conns, slot_index); /* More commands: next pass. */
    }
    KV_ASSERT(conn->state == CONN_OPEN); /* serving decides; only settle closes */
    settle(loop, slot_index);
}

static void refuse(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->state == CONN_REFUSING);
    KV_ASSERT(conn->send_in_flight == 0);
    loop->stats->connections_rejected++;
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        /* No SQE even for the refusal: close without a word, next pass if need be. */
        if (!close_arm(loop, conn, slot_index)) {
            loop->stats->ring_full_parks++;
            conn_ready_push(loop->conns, slot_index);
        }
        return;
    }
    /* Redis's own line; it lives in static storage, so the send needs no buffer. */
    struct slice line = reply_error_line(REPLY_ERROR_MAX_CLIENTS);
    io_uring_prep_send(sqe, (int)slot_index, line.bytes, line.length, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_REFUSE, conn->generation, slot_index));
    conn->send_in_flight = line.length;
    KV_ASSERT(conn->send_in_flight > 0); /* on_refused closes it when the line is sent */
}

static void on_accept(struct loop *loop, const struct io_uring_cqe *cqe)
{
    uint32_t accept_index = (uint32_t)io_uring_cqe_get_data64(cqe);
    KV_ASSERT(accept_index < LOOP_ACCEPTS);
    KV_ASSERT(loop->accepts[accept_index].armed);
    struct loop_accept *accept = &loop->accepts[accept_index];
    accept->armed = false;
    loop->accept_wanted = !loop->stopping;
    if (cqe->res < 0) {
        /* Our arguments were wrong. */
        KV_ASSERT(cqe->res != -EBADF);
        KV_ASSERT(cqe->res != -EFAULT);
        if (cqe->res == -ENFILE) {
            /* Every slot, refusal slots included, is taken: the kernel closed the socket. */
            loop->stats->connections_received++;
            loop->stats->connections_rejected++;
        } else if (cqe->res != -ECANCELED) {
            log_warn("loop: accept failed: %s", strerror(-cqe->res));
        }
        return;
    }
    uint32_t slot_index = (uint32_t)cqe->res;
    KV_ASSERT(slot_index < loop->conns->slot_count);
    loop->stats->connections_received++;
    bool known = accept->addr_bytes >= sizeof(accept->addr) && accept->addr.sin_family == AF_INET;
    if (!serve_open(loop->serve, slot_index, known, ntohl(accept->addr.sin_addr.s_addr),
                    ntohs(accept->addr.sin_port), cron_unix_ms())) {
        refuse(loop, conn_at(loop->conns, slot_index), slot_index);
        return;
    }
    loop->stats->connected_clients++;
    settle(loop, slot_index);
}

/* Closes the filling window once LOOP_WINDOW_MS have passed: its figures become the last
 * window's, which the next waits decide from. */
static void window_turn(struct loop *loop)
{
    uint64_t now_ms = coarse_ms();
    KV_ASSERT(now_ms >= loop->window_start_ms); /* monotonic */
    uint64_t length_ms = now_ms - loop->window_start_ms;
    if (length_ms < LOOP_WINDOW_MS) {
        return;
    }
    loop->window_last_clients = loop->window_clients;
    loop->window_last_completions = loop->window_completions;
    loop->window_last_ms = length_ms;
    loop->window_clients = 0;
    loop->window_completions = 0;
    loop->window_start_ms = now_ms;
    loop->window_index = loop->window_index == UINT32_MAX ? 1u : loop->window_index + 1u;
    KV_ASSERT(loop->window_index != 0); /* 0 is a fresh slot's "never" */
}

/* A client's request bytes arrived: counted once per window and connection. A slot that
 * closes and reopens within the window counts again (connections, not slots: under churn the
 * count passes the slot count, which an assertion here once took for a bug and stopped kv),
 * and a slow script's busy pass dispatches completions the window did not count: the count
 * is a heuristic's input, bounded only by the completions dispatched in the window. */
static void window_mark(struct loop *loop, struct conn *conn)
{
    if (conn->window != loop->window_index && loop->window_clients < UINT32_MAX) {
        conn->window = loop->window_index;
        loop->window_clients++;
    }
}

static void on_recv(struct loop *loop, struct conn *conn, uint32_t slot_index, int result)
{
    KV_ASSERT(result != -EBADF); /* a bad slot is our bug */
    KV_ASSERT(result != -EFAULT); /* a bad buffer too */
    KV_ASSERT(conn->state == CONN_OPEN); /* a slot closes only once nothing is in flight */
    conn->recv_nobufs = false; /* this single receive was the ring's fallback: multishot next */
    if (result <= 0) {
        conn->recv_in_flight = false;
        if (result == 0) {
            conn->read_closed = true;
        } else if (result != -EINTR && result != -EAGAIN) {
            conn->dead = true;
        }
        settle(loop, slot_index);
        return;
    }
    /* Paired with recv_arm: no more than the room it was given. */
    KV_ASSERT((uint32_t)result <= conn->recv_capacity - conn->recv_length);
    conn_received(conn, (uint32_t)result);
    KV_ASSERT(conn->recv_length <= conn->recv_capacity);
    loop->stats->bytes_received += (uint64_t)result;
    window_mark(loop, conn);
    serve(loop, slot_index);
}

/* A multishot receive's completion: a ring buffer's bytes (held, copied, served), or its end
 * (no IORING_CQE_F_MORE): the peer closed, the ring ran dry (ENOBUFS: a single receive next),
 * kv's own cancel, or an error. */
static void on_recv_multi(struct loop *loop, struct conn *conn, uint32_t slot_index,
                          const struct io_uring_cqe *cqe)
{
    int result = cqe->res;
    KV_ASSERT(result != -EBADF);  /* a bad slot is our bug */
    KV_ASSERT(result != -EFAULT); /* a bad ring too */
    KV_ASSERT(result != -EINVAL); /* a bad SQE too */
    KV_ASSERT(conn->state == CONN_OPEN); /* a slot closes only once nothing is in flight */
    KV_ASSERT(conn->recv_multishot);
    bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
        conn->recv_multishot = false;
    }
    if (result > 0) {
        /* Paired with recv_ring_setup: a buffer of the ring, no more than its bytes. */
        KV_ASSERT((cqe->flags & IORING_CQE_F_BUFFER) != 0);
        uint32_t id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        KV_ASSERT(id < loop->recv_ring_count);
        KV_ASSERT((uint32_t)result <= loop->recv_buffer_bytes);
        loop->stats->bytes_received += (uint64_t)result;
        window_mark(loop, conn);
        if (conn->dead || conn->close_after_send) {
            recv_buffer_give_back(loop, id); /* nothing more is read from it */
            settle(loop, slot_index);
            return;
        }
        recv_held_push(loop, conn, id, (uint32_t)result);
        /* Copied now, served after this batch (ready_drain): a client's completions of one
         * batch are parsed together, as one single receive of their bytes would be. */
        (void)recv_held_drain(loop, conn, slot_index);
        conn_ready_push(loop->conns, slot_index); /* its settle arms the next receive */
        return;
    }
    KV_ASSERT(!more); /* an end or an error ends it */
    if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        recv_buffer_give_back(loop, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    }
    if (result == 0) {
        conn->read_closed = true;
    } else if (result == -ENOBUFS) {
        loop->stats->recv_ring_empty++;
        conn->recv_nobufs = true;
    } else if (result != -ECANCELED && result != -EINTR && result != -EAGAIN) {
        conn->dead = true;
    }
    settle(loop, slot_index);
}

static void on_send(struct loop *loop, struct conn *conn, uint32_t slot_index, int result)
{
    KV_ASSERT(result != -EBADF); /* a bad slot is our bug */
    KV_ASSERT(result != -EFAULT); /* a bad buffer too */
    KV_ASSERT(conn->state == CONN_OPEN); /* a slot closes only once nothing is in flight */
    if (result < 0) {
        conn_sent(loop->conns, conn, 0);
        if (result != -EINTR && result != -EAGAIN) {
            conn->dead = true;
        }
        settle(loop, slot_index);
        return;
    }
    /* Paired with send_arm: no more than was armed. A short write leaves the rest pending;
     * settle sends it. */
    KV_ASSERT((uint32_t)result <= conn->send_in_flight);
    conn_sent(loop->conns, conn, (uint32_t)result);
    conn->sends_completed++;
    loop->stats->bytes_sent += (uint64_t)result;
    serve(loop, slot_index);
}

static void on_refused(struct loop *loop, struct conn *conn, uint32_t slot_index)
{
    KV_ASSERT(conn->send_in_flight > 0); /* refuse armed the line */
    KV_ASSERT(conn->recv == NULL);       /* a refused socket never had buffers */
    conn->send_in_flight = 0;
    if (!close_arm(loop, conn, slot_index)) {
        loop->stats->ring_full_parks++;
        conn_ready_push(loop->conns, slot_index);
    }
}

static void on_drain(struct loop *loop, struct conn *conn, uint32_t slot_index, int result)
{
    KV_ASSERT(result != -EBADF);  /* a bad slot is our bug */
    KV_ASSERT(result != -EFAULT); /* a bad buffer too */
    KV_ASSERT(conn->stop_drain_in_flight);
    conn->stop_drain_in_flight = false;
    if (result > 0) {
        loop->stats->bytes_received += (uint64_t)result;
        conn->stop_drain_bytes += (uint32_t)result;
        /* The socket may hold more: read again, up to the bound. */
        conn->stop_drained = conn->stop_drain_bytes >= LOOP_STOP_DISCARD_BYTES_MAX;
    } else {
        conn->stop_drained = true; /* empty (EAGAIN), the client's end, or an error */
    }
    settle(loop, slot_index);
}

static void on_close(struct loop *loop, uint32_t slot_index)
{
    const struct conn *conn = conn_at(loop->conns, slot_index);
    KV_ASSERT(conn->state == CONN_CLOSING);
    /* Released at once: the kernel may hand this file slot to the next accept right away. */
    conn_release(loop->conns, slot_index);
    KV_ASSERT(conn->state == CONN_FREE);
}

/* Keeps a read on the AOF ring's eventfd in flight: it completes when that ring has
 * completions (a write's, an fsync's), so the loop wakes for an fsync without waiting for a
 * timer and without polling. Not armed when the SQ is full: the next pass arms it. */
static void aof_wake_arm(struct loop *loop)
{
    if (loop->aof_wake_armed) {
        return;
    }
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return;
    }
    int fd = aof_event_fd();
    KV_ASSERT(fd >= 0); /* aof_init made it, or kv did not start */
    io_uring_prep_read(sqe, fd, &loop->aof_wake_count, sizeof(loop->aof_wake_count), 0);
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_AOF_WAKE, 0, 0));
    loop->aof_wake_armed = true;
}

/*
 * Revisits the connections whose output waited for the AOF once the synced offset moved (or
 * gating stopped: appendfsync changed, appendonly off), oldest first: each one whose older
 * stamp is durable is settled (its send armed; one still held goes to the back of the
 * queue). Bounded by the connections queued when it began, each once.
 */
static void held_release(struct loop *loop)
{
    if (loop->conns->held_count == 0) {
        return;
    }
    bool gating = aof_gating();
    uint64_t synced = gating ? aof_synced_offset() : 0;
    if (gating && synced == loop->held_synced_seen) {
        return; /* nothing more is durable: every one of them still waits */
    }
    loop->held_synced_seen = synced;
    bool all = !gating || aof_fed_offset() == synced;
    uint32_t count = loop->conns->held_count;
    for (uint32_t index = 0; index < count; index++) {
        uint32_t slot_index = 0;
        if (!conn_held_pop(loop->conns, &slot_index)) {
            break;
        }
        struct conn *conn = conn_at(loop->conns, slot_index);
        if (conn->state != CONN_OPEN) {
            continue; /* closed since (a reopened slot starts with nothing held) */
        }
        /* The connection whose slow script runs (a busy pass) is left be: its own settle
         * after the command lets its output go. */
        if (slot_index == loop->serving_slot_index ||
            (!all && conn->gate.wait_bytes > 0 && conn->gate.wait_offset > synced)) {
            conn_held_push(loop->conns, slot_index);
            continue;
        }
        settle(loop, slot_index);
    }
    KV_ASSERT(loop->conns->held_count <= loop->conns->slot_count);
}

/* The AOF ring has completions: they are reaped (an fsync's moves the synced offset), the
 * replies that waited for it are settled, and the read goes on. */
static void on_aof_wake(struct loop *loop, int result)
{
    KV_ASSERT(loop->aof_wake_armed);
    KV_ASSERT(result != -EBADF && result != -EFAULT); /* our eventfd and counter */
    KV_ASSERT(result == (int)sizeof(loop->aof_wake_count) || result < 0);
    loop->aof_wake_armed = false;
    aof_event();
    held_release(loop);
    aof_wake_arm(loop);
}

/* ---- the cluster bus: links of plain fds, what cluster_bus asks of each ---- */

static void bus_accept_arm(struct loop *loop)
{
    if (loop->bus_listen_fd < 0 || loop->bus_accept_armed || loop->stopping) {
        return;
    }
    struct io_uring_sqe *sqe = sqe_get(loop);
    if (sqe == NULL) {
        return; /* armed next pass */
    }
    loop->bus_accept_addr_bytes = sizeof(loop->bus_accept_addr);
    io_uring_prep_accept(sqe, loop->bus_listen_fd, (struct sockaddr *)&loop->bus_accept_addr,
                         &loop->bus_accept_addr_bytes, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_ACCEPT, 0, 0));
    loop->bus_accept_armed = true;
}

static bool bus_sqe_arm(struct loop *loop, struct io_uring_sqe **sqe_out)
{
    *sqe_out = sqe_get(loop);
    if (*sqe_out == NULL) {
        loop->bus_retry = true;
        return false;
    }
    return true;
}

/* A socket's local address as text ("" when unknown): what myself's ip is learnt from. */
static void bus_local_ip(int fd, char ip[CLUSTER_IP_BYTES])
{
    struct sockaddr_in local;
    socklen_t length = sizeof(local);
    ip[0] = '\0';
    if (getsockname(fd, (struct sockaddr *)&local, &length) == 0 && local.sin_family == AF_INET) {
        KV_ASSERT(inet_ntop(AF_INET, &local.sin_addr, ip, CLUSTER_IP_BYTES) != NULL);
    }
}

/* A connecting link: its socket made (a bad address closes it), then its connect armed. */
static void bus_connect_arm(struct loop *loop, struct cluster_bus_link *link, uint32_t index)
{
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_CONNECTING);
    KV_ASSERT(!link->connect_in_flight);
    if (link->fd < 0) {
        struct sockaddr_in *address = &loop->bus_connect_addr[index];
        memset(address, 0, sizeof(*address));
        address->sin_family = AF_INET;
        address->sin_port = htons((uint16_t)link->port);
        int fd = -1;
        if (inet_pton(AF_INET, link->ip, &address->sin_addr) == 1 && link->port <= UINT16_MAX) {
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        }
        if (fd < 0) {
            cluster_bus_connected(index, -EINVAL, "", cron_unix_ms()); /* it closes */
            return;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        link->fd = fd;
    }
    struct io_uring_sqe *sqe = NULL;
    if (!bus_sqe_arm(loop, &sqe)) {
        return;
    }
    io_uring_prep_connect(sqe, link->fd, (struct sockaddr *)&loop->bus_connect_addr[index],
                          sizeof(loop->bus_connect_addr[index]));
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_CONNECT, link->generation, index));
    link->connect_in_flight = true;
}

/* An open link: a receive into the room its input has, a send of what its output holds. */
static void bus_open_arm(struct loop *loop, struct cluster_bus_link *link, uint32_t index)
{
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_OPEN);
    KV_ASSERT(link->fd >= 0);
    struct io_uring_sqe *sqe = NULL;
    if (!link->recv_in_flight && link->in_length < CLUSTER_BUS_IN_BYTES) {
        if (!bus_sqe_arm(loop, &sqe)) {
            return;
        }
        io_uring_prep_recv(sqe, link->fd, link->in + link->in_length,
                           CLUSTER_BUS_IN_BYTES - link->in_length, 0);
        io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_RECV, link->generation, index));
        link->recv_in_flight = true;
    }
    if (link->out_in_flight == 0 && link->out_length > 0) {
        if (!bus_sqe_arm(loop, &sqe)) {
            return;
        }
        io_uring_prep_send(sqe, link->fd, link->out, link->out_length, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_SEND, link->generation, index));
        link->out_in_flight = link->out_length;
    }
}

/* A closing link: the cancel of its connect or the shutdown that ends its receive and send,
 * once; then, nothing left in flight, the close of its socket. */
static void bus_closing_arm(struct loop *loop, struct cluster_bus_link *link, uint32_t index)
{
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_CLOSING);
    if (link->fd < 0) {
        cluster_bus_closed(index); /* no socket was made */
        return;
    }
    struct io_uring_sqe *sqe = NULL;
    bool busy = link->connect_in_flight || link->recv_in_flight || link->out_in_flight > 0;
    if (busy && !link->shutdown_done) {
        if (!bus_sqe_arm(loop, &sqe)) {
            return;
        }
        if (link->connect_in_flight) {
            io_uring_prep_cancel64(sqe, user_data_pack(LOOP_OP_BUS_CONNECT, link->generation,
                                                       index), 0);
            io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_CANCEL, link->generation,
                                                        index));
            link->cancel_in_flight = true;
        } else {
            io_uring_prep_shutdown(sqe, link->fd, SHUT_RDWR);
            io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_SHUTDOWN, link->generation,
                                                        index));
            link->shutdown_in_flight = true;
        }
        link->shutdown_done = true;
        return;
    }
    if (busy || link->shutdown_in_flight || link->cancel_in_flight || link->close_in_flight) {
        return; /* their completions settle it again */
    }
    if (!bus_sqe_arm(loop, &sqe)) {
        return;
    }
    io_uring_prep_close(sqe, link->fd);
    io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_CLOSE, link->generation, index));
    link->close_in_flight = true;
}

/* Arms what a link wants (cluster_bus.h): its connect, its receive and send, its close. */
static void bus_link_settle(struct loop *loop, uint32_t index)
{
    struct cluster_bus_link *link = cluster_bus_link_at(index);
    if (link->state == CLUSTER_BUS_LINK_CONNECTING && !link->connect_in_flight) {
        bus_connect_arm(loop, link, index);
    }
    /* A connect that could not start closes the link at once: the close is armed below. */
    if (link->state == CLUSTER_BUS_LINK_OPEN) {
        bus_open_arm(loop, link, index);
    } else if (link->state == CLUSTER_BUS_LINK_CLOSING) {
        bus_closing_arm(loop, link, index);
    }
}

static void on_bus_accept(struct loop *loop, int result)
{
    KV_ASSERT(loop->bus_accept_armed);
    loop->bus_accept_armed = false;
    if (result < 0) {
        KV_ASSERT(result != -EBADF && result != -EFAULT); /* our arguments */
        if (result != -ECANCELED) {
            log_warn("loop: cluster bus accept failed: %s", strerror(-result));
        }
        return;
    }
    char peer[CLUSTER_IP_BYTES] = "";
    char local[CLUSTER_IP_BYTES];
    if (loop->bus_accept_addr.sin_family == AF_INET) {
        KV_ASSERT(inet_ntop(AF_INET, &loop->bus_accept_addr.sin_addr, peer, sizeof(peer)) != NULL);
    }
    bus_local_ip(result, local);
    uint32_t index = cluster_bus_inbound_open(result, peer, local, cron_unix_ms());
    if (index == CLUSTER_BUS_LINK_NONE) {
        struct io_uring_sqe *sqe = sqe_get(loop);
        if (sqe == NULL) {
            close(result); /* no SQE even after a submit: closed here, once */
            return;
        }
        io_uring_prep_close(sqe, result);
        io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_BUS_REFUSE, 0, 0));
        return;
    }
    bus_link_settle(loop, index);
}

static void bus_dispatch(struct loop *loop, enum loop_op op, uint64_t data, int result)
{
    if (op == LOOP_OP_BUS_ACCEPT) {
        on_bus_accept(loop, result);
        return;
    }
    if (op == LOOP_OP_BUS_REFUSE) {
        return;
    }
    uint32_t index = user_data_slot_index(data);
    struct cluster_bus_link *link = cluster_bus_link_at(index);
    /* Every operation of a link completes before its close does. */
    KV_ASSERT(user_data_generation(data) == (link->generation & LOOP_GENERATION_MASK));
    KV_ASSERT(result != -EBADF && result != -EFAULT); /* our fd, our buffers */
    switch (op) {
    case LOOP_OP_BUS_CONNECT: {
        KV_ASSERT(link->connect_in_flight);
        link->connect_in_flight = false;
        char local[CLUSTER_IP_BYTES] = "";
        if (result == 0) {
            bus_local_ip(link->fd, local);
        }
        cluster_bus_connected(index, result, local, cron_unix_ms());
        break;
    }
    case LOOP_OP_BUS_RECV:
        KV_ASSERT(link->recv_in_flight);
        link->recv_in_flight = false;
        if (result > 0) {
            cluster_bus_received(index, (uint32_t)result, cron_unix_ms());
        } else if (result != -EINTR && result != -EAGAIN) {
            cluster_bus_recv_ended(index); /* the peer closed, or an error */
        }
        break;
    case LOOP_OP_BUS_SEND:
        KV_ASSERT(link->out_in_flight > 0);
        link->out_in_flight = 0;
        cluster_bus_sent(index, result == -EINTR || result == -EAGAIN ? 0 : result);
        break;
    case LOOP_OP_BUS_SHUTDOWN:
        KV_ASSERT(link->shutdown_in_flight);
        link->shutdown_in_flight = false;
        break;
    case LOOP_OP_BUS_CANCEL:
        KV_ASSERT(link->cancel_in_flight);
        link->cancel_in_flight = false;
        break;
    case LOOP_OP_BUS_CLOSE:
        KV_ASSERT(link->close_in_flight);
        link->close_in_flight = false;
        cluster_bus_closed(index);
        return;
    default:
        KV_ASSERT(false);
    }
    bus_link_settle(loop, index);
}

/* After each pass: the bus's cron (at most every CLUSTER_BUS_CRON_MS), then what its links
 * want, when something changed (a walk of the links' table). */
static void bus_turn(struct loop *loop)
{
    if (!cluster_bus_on() || !cluster_enabled()) {
        return;
    }
    cluster_bus_cron(cron_unix_ms());
    if (!cluster_bus_pending() && !loop->bus_retry) {
        return;
    }
    cluster_bus_pending_clear();
    loop->bus_retry = false;
    /* Bounded by the links. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        if (cluster_bus_link_at(index)->state != CLUSTER_BUS_LINK_FREE) {
            bus_link_settle(loop, index);
        }
    }
}

static void dispatch(struct loop *loop, const struct io_uring_cqe *cqe)
{
    uint64_t data = io_uring_cqe_get_data64(cqe);
    enum loop_op op = user_data_op(data);
    if (op == LOOP_OP_ACCEPT) {
        on_accept(loop, cqe);
        return;
    }
    if (op == LOOP_OP_CANCEL) {
        return; /* The accept's own completion reports the cancel. */
    }
    if (op == LOOP_OP_AOF_WAKE) {
        on_aof_wake(loop, cqe->res);
        return;
    }
    if (op >= LOOP_OP_BUS_ACCEPT) {
        bus_dispatch(loop, op, data, cqe->res);
        return;
    }
    uint32_t slot_index = user_data_slot_index(data);
    KV_ASSERT(slot_index < loop->conns->slot_count);
    struct conn *conn = conn_at(loop->conns, slot_index);
    /* Every operation of a slot completes before its close is submitted. */
    KV_ASSERT(user_data_generation(data) == (conn->generation & LOOP_GENERATION_MASK));
    switch (op) {
    case LOOP_OP_RECV:
        KV_ASSERT(conn->recv_in_flight);
        on_recv(loop, conn, slot_index, cqe->res);
        break;
    case LOOP_OP_RECV_MULTI:
        on_recv_multi(loop, conn, slot_index, cqe);
        break;
    case LOOP_OP_RECV_CANCEL:
        KV_ASSERT(conn->recv_cancel_in_flight);
        KV_ASSERT(cqe->res != -EINVAL); /* our SQE */
        conn->recv_cancel_in_flight = false;
        settle(loop, slot_index);
        break;
    case LOOP_OP_SEND:
        KV_ASSERT(conn->send_in_flight > 0);
        on_send(loop, conn, slot_index, cqe->res);
        break;
    case LOOP_OP_REFUSE:
        KV_ASSERT(conn->state == CONN_REFUSING);
        on_refused(loop, conn, slot_index);
        break;
    case LOOP_OP_SHUTDOWN:
        KV_ASSERT(conn->shutdown_in_flight);
        conn->shutdown_in_flight = false;
        settle(loop, slot_index);
        break;
    case LOOP_OP_DRAIN:
        on_drain(loop, conn, slot_index, cqe->res);
        break;
    case LOOP_OP_CLOSE:
        on_close(loop, slot_index);
        break;
    default:
        KV_ASSERT(false);
    }
}

/* Revisits the connections queued last pass, each once. */
static void ready_drain(struct loop *loop)
{
    uint32_t count = loop->conns->ready_count;
    KV_ASSERT(count <= loop->conns->slot_count); /* each slot queued at most once */
    for (uint32_t index = 0; index < count; index++) {
        uint32_t slot_index = 0;
        if (!conn_ready_pop(loop->conns, &slot_index)) {
            break;
        }
        struct conn *conn = conn_at(loop->conns, slot_index);
        /* FREE or CLOSING: nothing left to do (a close completion releases the slot). */
        if (conn->state == CONN_REFUSING) {
            /* With its refusal in flight, the send's completion closes it instead. */
            if (conn->send_in_flight == 0 && !close_arm(loop, conn, slot_index)) {
                conn_ready_push(loop->conns, slot_index);
            }
        } else {
            serve(loop, slot_index);
        }
    }
    KV_ASSERT(loop->conns->ready_count <= loop->conns->slot_count);
}

/* Stop: no more accepts; every connection runs what it has received, sends the replies
 * and closes. */
static void stop_begin(struct loop *loop)
{
    sd_notify(0, "STOPPING=1");
    loop->stopping = true;
    loop->accept_wanted = false;
    for (uint32_t index = 0; index < LOOP_ACCEPTS; index++) {
        struct io_uring_sqe *sqe = loop->accepts[index].armed ? sqe_get(loop) : NULL;
        if (sqe != NULL) {
            io_uring_prep_cancel64(sqe, user_data_pack(LOOP_OP_ACCEPT, 0, index), 0);
            io_uring_sqe_set_data64(sqe, user_data_pack(LOOP_OP_CANCEL, 0, 0));
        }
    }
    for (uint32_t slot_index = 0; slot_index < loop->conns->slot_count; slot_index++) {
        struct conn *conn = conn_at(loop->conns, slot_index);
        if (conn->state == CONN_OPEN) {
            conn->read_closed = true;
            serve(loop, slot_index);
        }
    }
    KV_ASSERT(loop->stopping);
    KV_ASSERT(!loop->accept_wanted); /* serving the clients armed no accept */
    log_info("loop: stopping: finishing replies to %u clients", loop->stats->connected_clients);
}

static uint64_t monotonic_ns(void)
{
    return clock_read_ns(CLOCK_MONOTONIC);
}

/* busy_poll_us: before sleeping, submit and reap completions without waiting, for up to that
 * long, so a request arriving soon is served without the wake-up of a sleeping thread. It
 * trades a core's time for latency; off by default. Returns whether completions arrived. */
static bool busy_poll(struct loop *loop)
{
    uint32_t budget_us = loop->config->busy_poll_us;
    if (budget_us == 0) {
        return false;
    }
    KV_ASSERT(budget_us <= 1000000); /* the option's range (config.c): a second at most */
    uint64_t deadline_ns = monotonic_ns() + (uint64_t)budget_us * 1000u;
    /* Bounded by the deadline. */
    while (monotonic_ns() < deadline_ns) {
        int result = io_uring_submit_and_get_events(&loop->ring);
        KV_ASSERT(result != -EBADF); /* the ring's own fd */
        if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY) {
            return false;
        }
        if (io_uring_cq_ready(&loop->ring) > 0 || loop_stop_requested) {
            return true;
        }
    }
    return false;
}

/* Dispatches the completions a busy pass held back, now that their connection's command has
 * finished. */
static void deferred_drain(struct loop *loop)
{
    KV_ASSERT(!loop->busy_passing);
    KV_ASSERT(loop->deferred_count <= LOOP_DEFERRED_MAX);
    uint32_t count = loop->deferred_count;
    loop->deferred_count = 0;
    /* Bounded by LOOP_DEFERRED_MAX. */
    for (uint32_t index = 0; index < count; index++) {
        dispatch(loop, &loop->deferred[index]);
    }
}

/*
 * A slow script's busy pass (script.h; Redis's processEventsWhileBlocked), run from the
 * script's hook while its command is still inside serve(): submits what is queued, handles
 * the completions already there without waiting, and serves the ready connections, in busy
 * mode (serve_busy_begin: other clients get -BUSY or run SCRIPT KILL, FUNCTION KILL or
 * FUNCTION STATS, and nothing else runs). The running connection's own completions are held
 * (at most a receive's last, a send and a cancel) and dispatched at the start of the next
 * pass, so nothing of its state changes under its command (a multishot receive's other
 * completions only join its held ring buffers, copied once the command is done); accepts
 * and other connections go on as usual. Never nested: the commands a busy pass runs run no
 * Lua. Bounded: one batch of completions and each ready connection once.
 */
void loop_busy_pass(void *owner)
{
    static struct io_uring_cqe *cqes[LOOP_CQE_BATCH_MAX];
    struct loop *loop = owner;
    KV_ASSERT(!loop->busy_passing);
    KV_ASSERT(loop->serving_slot_index != LOOP_SLOT_NONE); /* a script runs in a command */
    loop->busy_passing = true;
    serve_busy_begin(loop->serve);
    /* With deferred task work, completions are posted only when the ring is entered to get
     * events: submit and get them, without waiting. */
    int result = io_uring_submit_and_get_events(&loop->ring);
    KV_ASSERT(result != -EBADF); /* the ring's own fd */
    uint32_t count = io_uring_peek_batch_cqe(&loop->ring, cqes, LOOP_CQE_BATCH_MAX);
    KV_ASSERT(count <= LOOP_CQE_BATCH_MAX);
    /* Bounded by the batch. */
    for (uint32_t index = 0; index < count; index++) {
        uint64_t data = io_uring_cqe_get_data64(cqes[index]);
        bool own = user_data_op(data) != LOOP_OP_ACCEPT && user_data_op(data) != LOOP_OP_CANCEL &&
                   user_data_op(data) != LOOP_OP_AOF_WAKE &&
                   user_data_op(data) < LOOP_OP_BUS_ACCEPT &&
                   user_data_slot_index(data) == loop->serving_slot_index;
        const struct io_uring_cqe *cqe = cqes[index];
        bool own_data = own && user_data_op(data) == LOOP_OP_RECV_MULTI && cqe->res > 0 &&
                        (cqe->flags & IORING_CQE_F_MORE) != 0;
        if (own_data) {
            /* Held for the running client, copied once its command is done; only the
             * receive's last completion is deferred. */
            struct conn *conn = conn_at(loop->conns, loop->serving_slot_index);
            uint32_t id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            KV_ASSERT((cqe->flags & IORING_CQE_F_BUFFER) != 0);
            KV_ASSERT((uint32_t)cqe->res <= loop->recv_buffer_bytes);
            loop->stats->bytes_received += (uint64_t)cqe->res;
            recv_held_push(loop, conn, id, (uint32_t)cqe->res);
        } else if (own) {
            KV_ASSERT(loop->deferred_count < LOOP_DEFERRED_MAX);
            loop->deferred[loop->deferred_count++] = *cqes[index];
        } else {
            dispatch(loop, cqes[index]);
        }
    }
    io_uring_cq_advance(&loop->ring, count);
    uint32_t ready = loop->conns->ready_count;
    /* Bounded by the connections queued when the pass began, each once. */
    for (uint32_t index = 0; index < ready; index++) {
        uint32_t slot_index = 0;
        if (!conn_ready_pop(loop->conns, &slot_index)) {
            break;
        }
        if (slot_index == loop->serving_slot_index ||
            conn_at(loop->conns, slot_index)->state == CONN_REFUSING) {
            conn_ready_push(loop->conns, slot_index); /* after the script */
        } else {
            serve(loop, slot_index);
        }
    }
    aof_flush(); /* appendfsync always: what was fed goes out, its fsync releases replies */
    result = io_uring_submit(&loop->ring); /* the answers go out now */
    KV_ASSERT(result != -EBADF);
    serve_busy_end(loop->serve);
    loop->busy_passing = false;
}

/* The min-wait this wait uses, in µs (0: none), and the completions it waits for: pinned by
 * loop_min_wait, or (auto) only while the last window says a batch will come (see
 * LOOP_WINDOW_MS). */
static uint32_t min_wait_us(const struct loop *loop, uint32_t *wait_count)
{
    int32_t option = loop->config->loop_min_wait_us;
    KV_ASSERT(option >= CONFIG_LOOP_MIN_WAIT_AUTO);
    KV_ASSERT(option <= (int32_t)CONFIG_LOOP_MIN_WAIT_US_MAX);
    uint64_t clients = loop->window_last_clients;
    *wait_count = clients < LOOP_BATCH_ENGAGE_CLIENTS ? 2u * LOOP_BATCH_ENGAGE_CLIENTS
                  : 2u * clients > LOOP_CQE_BATCH_MAX  ? LOOP_CQE_BATCH_MAX
                                                       : 2u * (uint32_t)clients;
    KV_ASSERT(*wait_count >= 2u && *wait_count <= LOOP_CQE_BATCH_MAX);
    if (!loop->min_wait_supported || option == CONFIG_LOOP_MIN_WAIT_OFF) {
        return 0;
    }
    if (option > 0) {
        return (uint32_t)option;
    }
    /* Completions the min-wait would catch at the last window's rate, scaled by its length
     * in µs: no division, and an idle stretch (a long window) lowers the rate as it should. */
    uint64_t caught_scaled = loop->window_last_completions * LOOP_MIN_WAIT_AUTO_US;
    uint64_t wanted_scaled = (uint64_t)LOOP_BATCH_ENGAGE_EXPECTED * loop->window_last_ms * 1000u;
    bool engage = clients >= LOOP_BATCH_ENGAGE_CLIENTS && caught_scaled >= wanted_scaled;
    return engage ? LOOP_MIN_WAIT_AUTO_US : 0;
}

/* Submits what is queued and waits for `wait_count` completions, for `min_us` at most, then
 * for one, until `timeout` (or LOOP_BATCH_IDLE_TIMEOUT_S): the kernel's min-wait, through
 * io_uring_enter2 and IORING_ENTER_EXT_ARG, which liburing 2.3 has no helper for. One kernel
 * entry, as io_uring_submit_and_wait_timeout would make. */
static int wait_batched(struct loop *loop, const struct __kernel_timespec *timeout,
                        uint32_t wait_count, uint32_t min_us)
{
    KV_ASSERT(min_us > 0);
    KV_ASSERT(wait_count >= 1);
    struct __kernel_timespec overall = {.tv_sec = LOOP_BATCH_IDLE_TIMEOUT_S, .tv_nsec = 0};
    if (timeout != NULL) {
        overall = *timeout;
    }
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    arg.sigmask = 0;          /* no signal mask change */
    arg.sigmask_sz = _NSIG / 8;
    arg.pad = min_us;         /* min_wait_usec on 6.12+ */
    arg.ts = (uint64_t)(uintptr_t)&overall;
    /* The SQEs queued this pass go to the kernel with the wait: publish the SQ tail (what
     * io_uring_submit does before it enters; this ring has no SQ polling thread). */
    struct io_uring_sq *sq = &loop->ring.sq;
    unsigned tail = sq->sqe_tail;
    if (sq->sqe_head != tail) {
        sq->sqe_head = tail;
        io_uring_smp_store_release(sq->ktail, tail);
    }
    unsigned to_submit = tail - io_uring_smp_load_acquire(sq->khead);
    KV_ASSERT(to_submit <= *sq->kring_entries);
    int result = io_uring_enter2((unsigned)loop->ring.ring_fd, to_submit, wait_count,
                                 IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                                 (sigset_t *)(void *)&arg, sizeof(arg));
    KV_ASSERT(result != -EFAULT); /* the argument and the timeout are ours */
    return result; /* liburing's own system call: a negative errno, never errno */
}

/* One pass: submit, wait (at most `timeout` when given), handle a batch, revisit the ready. */
static int pass(struct loop *loop, struct __kernel_timespec *timeout)
{
    static struct io_uring_cqe *cqes[LOOP_CQE_BATCH_MAX];
    static struct io_uring_cqe batch[LOOP_CQE_BATCH_MAX];
    KV_ASSERT(loop->serving_slot_index == LOOP_SLOT_NONE);
    deferred_drain(loop);
    if (loop->accept_wanted) {
        accept_arm(loop);
    }
    aof_wake_arm(loop);
    bus_accept_arm(loop);
    bool busy = loop->conns->ready_count > 0 || io_uring_cq_ready(&loop->ring) > 0;
    busy = busy || busy_poll(loop);
    int result = 0;
    uint32_t wait_count = 1;
    window_turn(loop);
    uint32_t min_us = busy ? 0 : min_wait_us(loop, &wait_count);
    bool timer_due = timeout != NULL && timeout->tv_sec == 0 && timeout->tv_nsec == 0;
    if (min_us > 0 && !timer_due) {
        loop->stats->batched_waits++;
        result = wait_batched(loop, timeout, wait_count, min_us);
    } else if (timeout != NULL && !busy) {
        struct io_uring_cqe *first = NULL;
        result = io_uring_submit_and_wait_timeout(&loop->ring, &first, 1, timeout, NULL);
    } else {
        result = io_uring_submit_and_wait(&loop->ring, busy ? 0 : 1);
    }
    if (result < 0 && result != -EINTR && result != -EAGAIN && result != -EBUSY &&
        result != -ETIME) {
        log_error("loop: io_uring_submit_and_wait failed: %s", strerror(-result));
        return -1;
    }
    uint32_t count = io_uring_peek_batch_cqe(&loop->ring, cqes, LOOP_CQE_BATCH_MAX);
    KV_ASSERT(count <= LOOP_CQE_BATCH_MAX);
    loop->window_completions += count;
    /* The batch is copied and the CQ advanced before anything is dispatched: a slow script's
     * busy pass (loop_busy_pass) reaps from the CQ in the middle of this batch and must find
     * only completions that are not in it. */
    for (uint32_t index = 0; index < count; index++) {
        batch[index] = *cqes[index];
    }
    io_uring_cq_advance(&loop->ring, count);
    /* Closings first, accepts last: a client that left in this batch hands its buffers to
     * one that arrived in it, instead of the newcomer being refused. */
    uint32_t dispatched = 0;
    for (uint32_t index = 0; index < count; index++) {
        if (user_data_op(io_uring_cqe_get_data64(&batch[index])) != LOOP_OP_ACCEPT) {
            dispatch(loop, &batch[index]);
            dispatched++;
        }
    }
    for (uint32_t index = 0; index < count; index++) {
        if (user_data_op(io_uring_cqe_get_data64(&batch[index])) == LOOP_OP_ACCEPT) {
            dispatch(loop, &batch[index]);
            dispatched++;
        }
    }
    KV_ASSERT(dispatched == count); /* each completion handled once */
    ready_drain(loop);
    bus_turn(loop);
    serve_pass_end(loop->serve); /* what is owed once per pass (BCAST), sent next pass */
    held_release(loop); /* a rewrite's or appendonly's switch may have fsynced everything */
    return 0;
}

static uint64_t monotonic_ms(void)
{
    return monotonic_ns() / 1000000u;
}

/* The wait a cron turn allows, as the ring's timeout; NULL: until I/O. */
static struct __kernel_timespec *cron_wait(struct loop *loop, struct __kernel_timespec *tick)
{
    uint64_t sleep_ns = cron_turn(loop->cron);
    /* The cluster bus's cron runs at least every CLUSTER_BUS_CRON_MS. */
    uint64_t bus_ns = (uint64_t)CLUSTER_BUS_CRON_MS * 1000000u;
    if (cluster_bus_on() && (sleep_ns == CRON_SLEEP_UNTIL_IO || sleep_ns > bus_ns)) {
        sleep_ns = bus_ns;
    }
    if (sleep_ns == CRON_SLEEP_UNTIL_IO) {
        return NULL;
    }
    tick->tv_sec = (long long)(sleep_ns / 1000000000ull);
    tick->tv_nsec = (long long)(sleep_ns % 1000000000ull);
    KV_ASSERT(tick->tv_sec >= 0);
    KV_ASSERT(tick->tv_nsec < 1000000000);
    return tick;
}

int loop_run(struct loop *loop)
{
    struct __kernel_timespec tick;
    /* The event loop: the one endless loop in kv. Each pass is bounded: at most
     * LOOP_CQE_BATCH_MAX completions, then each ready connection once. */
    for (;;) {
        if (loop->serve->shutdown_requested) {
            log_warn("loop: user requested shutdown (SHUTDOWN)");
            loop_stop_requested = 1;
        }
        if (loop_stop_requested) {
            break;
        }
        if (loop_reload_requested) {
            loop_reload_requested = 0;
            if (loop->reload != NULL) {
                loop->reload();
            }
        }
        if (pass(loop, cron_wait(loop, &tick)) != 0) {
            return 1;
        }
    }
    KV_ASSERT(loop_stop_requested);
    stop_begin(loop);
    /* Bounded drain: until every connection has closed or LOOP_STOP_DRAIN_MS have passed. */
    uint64_t deadline = monotonic_ms() + LOOP_STOP_DRAIN_MS;
    struct __kernel_timespec drain_tick = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
    while (loop->stats->connected_clients > 0 && monotonic_ms() < deadline) {
        if (pass(loop, &drain_tick) != 0) {
            return 1;
        }
    }
    KV_ASSERT(loop->stopping);
    log_info("loop: stopped with %u clients still connected", loop->stats->connected_clients);
    close(loop->listen_fd);
    if (loop->bus_listen_fd >= 0) {
        close(loop->bus_listen_fd);
    }
    io_uring_queue_exit(&loop->ring);
    return 0;
}

/*
 * MIGRATE's synchronous I/O (cmd_handlers.h's struct cmd_migrate_io). Each call submits one
 * operation linked to a timeout on the migrate ring and waits for both completions: the
 * whole server waits with it, as Redis's does on its blocking socket, for at most the
 * command's timeout per call. -ETIMEDOUT when the timeout fired.
 */
static int migrate_submit(struct loop *loop, struct io_uring_sqe *sqe, uint32_t timeout_ms)
{
    struct __kernel_timespec timeout = {.tv_sec = timeout_ms / 1000,
                                        .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    sqe->flags |= IOSQE_IO_LINK;
    sqe->user_data = 1;
    struct io_uring_sqe *link = io_uring_get_sqe(&loop->migrate_ring);
    KV_ASSERT(link != NULL); /* two entries, both free between calls */
    io_uring_prep_link_timeout(link, &timeout, 0);
    link->user_data = 2;
    int submitted = io_uring_submit(&loop->migrate_ring);
    if (submitted < 0) {
        return submitted;
    }
    int result = -ETIMEDOUT;
    /* Bounded: exactly two completions come, the operation's and the timeout's. */
    for (uint32_t seen = 0; seen < 2;) {
        struct io_uring_cqe *cqe = NULL;
        int waited = io_uring_wait_cqe(&loop->migrate_ring, &cqe);
        if (waited == -EINTR) {
            continue;
        }
        KV_ASSERT(waited == 0);
        if (cqe->user_data == 1) {
            result = cqe->res == -ECANCELED ? -ETIMEDOUT : cqe->res;
        }
        io_uring_cqe_seen(&loop->migrate_ring, cqe);
        seen++;
    }
    return result;
}

int loop_migrate_connect(void *owner, const char *host, uint32_t port, uint32_t timeout_ms)
{
    struct loop *loop = owner;
    if (!loop->migrate_ring_on || port > 65535) {
        return -EINVAL;
    }
    struct sockaddr_storage address;
    memset(&address, 0, sizeof(address));
    socklen_t address_bytes = 0;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
    /* Addresses only (redis-cli --cluster passes the nodes' IPs); "localhost" as loopback. */
    const char *name = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, name, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        address_bytes = sizeof(*v4);
    } else if (inet_pton(AF_INET6, name, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        address_bytes = sizeof(*v6);
    } else {
        return -EINVAL;
    }
    int fd = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->migrate_ring);
    KV_ASSERT(sqe != NULL);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&address, address_bytes);
    int result = migrate_submit(loop, sqe, timeout_ms);
    if (result < 0) {
        close(fd);
        return result;
    }
    return fd;
}

int loop_migrate_send(void *owner, int fd, const uint8_t *bytes, uint32_t length,
                      uint32_t timeout_ms)
{
    struct loop *loop = owner;
    /* Bounded by the length: each pass sends at least one byte or returns. */
    while (length > 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->migrate_ring);
        KV_ASSERT(sqe != NULL);
        io_uring_prep_send(sqe, fd, bytes, length, MSG_NOSIGNAL);
        int result = migrate_submit(loop, sqe, timeout_ms);
        if (result <= 0) {
            return result == 0 ? -EPIPE : result;
        }
        bytes += result;
        length -= (uint32_t)result;
    }
    return 0;
}

int loop_migrate_recv(void *owner, int fd, uint8_t *bytes, uint32_t capacity,
                      uint32_t timeout_ms)
{
    struct loop *loop = owner;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->migrate_ring);
    KV_ASSERT(sqe != NULL);
    io_uring_prep_recv(sqe, fd, bytes, capacity, 0);
    return migrate_submit(loop, sqe, timeout_ms);
}

void loop_migrate_close(void *owner, int fd)
{
    (void)owner;
    close(fd);
}
