/*
 * Per-command latency histograms for INFO latencystats and LATENCY HISTOGRAM. Log-linear in
 * nanoseconds: exact below 8 ns, then 8 sub-buckets per power of two (12.5% resolution) up to
 * 2^41 ns (~37 min), the last bucket taking anything longer. Recording is a count and an add
 * on the hot path; the arrays are carved from the region at startup (one per command).
 */
#ifndef KV_LATENCY_H
#define KV_LATENCY_H

#include <stdint.h>

#define LATENCY_SUB_BUCKETS 8u
#define LATENCY_POWER_MAX 40u
#define LATENCY_BUCKETS (LATENCY_SUB_BUCKETS + (LATENCY_POWER_MAX - 2u) * LATENCY_SUB_BUCKETS)

struct latency_histogram {
    uint64_t count;                     /* samples recorded */
    uint64_t buckets[LATENCY_BUCKETS];  /* samples per bucket */
};

void latency_record(struct latency_histogram *histogram, uint64_t ns);

/* The smallest bucket bound (ns) at or under which a fraction `quantile` of the samples lie;
 * 0 with no samples. */
uint64_t latency_percentile_ns(const struct latency_histogram *histogram, double quantile);

/* Samples below `ns` (exact when ns is a bucket bound, as every power of two is). */
uint64_t latency_count_below(const struct latency_histogram *histogram, uint64_t ns);

#endif
