/*
 * The host check (`kv --check-host`): reads what the host offers (hugepages, memlock limit,
 * transparent hugepages, swap, CPU governor, NUMA, io_uring, somaxconn) against what a
 * configuration's plan needs, and prints a pass/warn/fail table. Startup-only, read-only.
 */
#ifndef KV_HOST_H
#define KV_HOST_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum host_verdict {
    HOST_PASS,
    HOST_WARN, /* kv starts, but not as well as it could */
    HOST_FAIL, /* kv cannot start as configured */
};

/* Prints the table; returns the worst verdict. `io_uring_result` is what setting up a small
 * ring returned on this host (0 or a negative errno), probed by the caller. */
enum host_verdict host_check(const struct config *config, uint64_t region_bytes,
                             int io_uring_result, FILE *out);

#endif
