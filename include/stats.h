/*
 * Server-wide counters, as INFO reports them. Plain integers updated by the loop and the
 * commands; one instance, carved nowhere (it lives in main's static storage).
 */
#ifndef KV_STATS_H
#define KV_STATS_H

#include <stdint.h>

struct stats {
    uint64_t start_time_us;          /* wall clock at startup */
    uint64_t connections_received;   /* accepted sockets, refused ones included */
    uint64_t connections_rejected;   /* refused: connections_max reached */
    uint64_t commands_processed;     /* commands run (refused and protocol errors excluded) */
    uint64_t keyspace_hits;          /* reads that found their key */
    uint64_t keyspace_misses;        /* reads that did not */
    uint64_t protocol_errors;        /* connections closed for malformed input */
    uint64_t refused_commands;       /* commands refused for breaking kv's limits */
    uint64_t bytes_received;         /* from clients */
    uint64_t bytes_sent;             /* to clients */
    uint64_t ring_full_submits;      /* early submissions because the submission queue was full */
    uint64_t ring_full_parks;        /* operations parked: the queue stayed full after that */
    uint32_t connected_clients;      /* open connections now */
};

#endif
