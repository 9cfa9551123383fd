/*
 * Server-wide counters, as INFO reports them. Plain integers updated by the loop and the
 * commands; one instance, carved nowhere (it lives in main's static storage).
 */
#ifndef KV_STATS_H
#define KV_STATS_H

#include <stdbool.h>
#include <stdint.h>

/* instantaneous_ops_per_sec: one sample per interval, the mean of the last samples. */
#define STATS_OPS_SAMPLES 16u
#define STATS_OPS_INTERVAL_MS 100

/* INFO errorstats: error codes counted (Redis's ERROR_STATS_NUMBER; later ones are not), each
 * the first word of an error line, as Redis takes it from at most its first 32 bytes. */
#define STATS_ERROR_CODES_MAX 128u
#define STATS_ERROR_CODE_BYTES_MAX 32u

struct stats_error {
    uint64_t count;                          /* error replies with this code */
    uint32_t length;                         /* bytes of code */
    char code[STATS_ERROR_CODE_BYTES_MAX];   /* "ERR", "WRONGTYPE", ... */
};

struct stats {
    uint64_t start_time_us;          /* wall clock at startup */
    uint64_t connections_received;   /* accepted sockets, refused ones included */
    uint64_t connections_rejected;   /* refused: connections_max reached */
    uint64_t commands_processed;     /* commands run (refused and protocol errors excluded) */
    uint64_t keyspace_hits;          /* reads that found their key */
    uint64_t keyspace_misses;        /* reads that did not */
    uint64_t protocol_errors;        /* connections closed for malformed input */
    uint64_t protected_refusals;     /* non-loopback clients refused by protected mode */
    uint64_t idle_disconnects;       /* clients closed after `timeout` seconds idle */
    uint64_t stalled_disconnects;    /* clients closed for taking no replies (send stall) */
    uint64_t pubsub_disconnects;     /* subscribers closed: past the pub/sub output limit */
    uint64_t output_limit_disconnects; /* clients closed past client-output-buffer-limit */
    uint64_t memory_disconnects;     /* clients closed: no memory for their command or reply */
    uint64_t evicted_clients;        /* clients closed past maxmemory-clients (Redis's name) */
    uint64_t refused_commands;       /* commands refused for breaking kv's limits */
    uint64_t bytes_received;         /* from clients */
    uint64_t bytes_sent;             /* to clients */
    uint64_t ring_full_submits;      /* early submissions because the submission queue was full */
    uint64_t ring_full_parks;        /* operations parked: the queue stayed full after that */
    uint64_t recv_backpressure_cancels; /* multishot receives stopped: a client's buffer was
                                           full (loop_recv multishot) */
    uint64_t recv_ring_empty;        /* multishot receives ended by an empty ring (ENOBUFS) */
    uint64_t batched_waits;          /* loop waits made with a min-wait (loop_min_wait) */
    uint32_t connected_clients;      /* open connections now */
    uint32_t ops_sample_next;        /* next slot of ops_samples to fill */
    int64_t ops_sample_ms;           /* Unix ms of the last sample; 0: none yet */
    uint64_t ops_sample_commands;    /* commands_processed at the last sample */
    uint64_t ops_samples[STATS_OPS_SAMPLES]; /* commands per second over each interval */
    uint64_t error_replies;          /* error replies sent (INFO total_error_replies) */
    uint32_t error_code_count;       /* codes in errors */
    struct stats_error errors[STATS_ERROR_CODES_MAX]; /* by code, in byte order (Redis's rax) */
};

/* Takes a sample if an interval has passed since the last (each command and INFO call it). */
void stats_ops_sample(struct stats *stats, int64_t now_ms);

/* The mean rate of the last samples: INFO's instantaneous_ops_per_sec. */
uint64_t stats_ops_per_sec(const struct stats *stats);

/* Counts one error reply: `line` is its text from the "-" (at least its first 32 bytes, or
 * all of it), as reply.h's error observer gives it (`context` is the struct stats). */
void stats_error_reply(void *context, const uint8_t *line, uint32_t length);

#endif
