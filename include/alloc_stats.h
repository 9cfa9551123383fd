/*
 * The process allocator's counters (jemalloc's), so INFO can prove that nothing is
 * allocated while kv serves. Reading them allocates nothing.
 */
#ifndef KV_ALLOC_STATS_H
#define KV_ALLOC_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct alloc_stats {
    bool available;        /* false when kv was built without jemalloc (sanitizer builds) */
    uint64_t allocations;  /* allocations ever made: small and large, all arenas */
    uint64_t allocated_bytes; /* bytes currently allocated */
};

void alloc_stats_read(struct alloc_stats *stats);

/* The process's resident set in bytes (hugetlb pages not among them); 0 when unreadable. */
uint64_t alloc_stats_rss_bytes(void);

#endif
