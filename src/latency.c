/*
 * Log-linear histograms. Bucket index for v ns: v itself below 8; else with p = floor(log2 v)
 * (3 <= p <= LATENCY_POWER_MAX, larger values clamped into the top bucket), the top three bits
 * after the leading one choose a sub-bucket: index = 8 + (p - 3) * 8 + ((v >> (p - 3)) & 7).
 * A bucket covers [lower, lower + 2^(p-3)), so every power of two is a bucket boundary.
 */
#include "latency.h"

#include <stdbool.h>

#include "kv_assert.h"

_Static_assert(LATENCY_BUCKETS == 8u + (LATENCY_POWER_MAX - 2u) * 8u, "bucket layout");

static uint32_t bucket_index(uint64_t ns)
{
    if (ns < LATENCY_SUB_BUCKETS) {
        return (uint32_t)ns;
    }
    uint32_t power = 63u - (uint32_t)__builtin_clzll(ns);
    if (power > LATENCY_POWER_MAX) {
        return LATENCY_BUCKETS - 1u;
    }
    uint32_t index = LATENCY_SUB_BUCKETS + (power - 3u) * LATENCY_SUB_BUCKETS +
                     (uint32_t)((ns >> (power - 3u)) & (LATENCY_SUB_BUCKETS - 1u));
    KV_ASSERT(index < LATENCY_BUCKETS);
    return index;
}

/* The exclusive upper bound (ns) of a bucket. */
static uint64_t bucket_end(uint32_t index)
{
    KV_ASSERT(index < LATENCY_BUCKETS);
    if (index < LATENCY_SUB_BUCKETS) {
        return index + 1u;
    }
    uint32_t power = 3u + (index - LATENCY_SUB_BUCKETS) / LATENCY_SUB_BUCKETS;
    uint64_t sub = (index - LATENCY_SUB_BUCKETS) % LATENCY_SUB_BUCKETS;
    return (LATENCY_SUB_BUCKETS + sub + 1u) << (power - 3u);
}

void latency_record(struct latency_histogram *histogram, uint64_t ns)
{
    histogram->buckets[bucket_index(ns)]++;
    histogram->count++;
}

uint64_t latency_percentile_ns(const struct latency_histogram *histogram, double quantile)
{
    KV_ASSERT(quantile >= 0.0 && quantile <= 1.0);
    if (histogram->count == 0) {
        return 0;
    }
    uint64_t wanted = (uint64_t)(quantile * (double)histogram->count + 0.5);
    wanted = wanted == 0 ? 1 : wanted;
    uint64_t seen = 0;
    for (uint32_t index = 0; index < LATENCY_BUCKETS; index++) {
        seen += histogram->buckets[index];
        if (seen >= wanted) {
            return bucket_end(index);
        }
    }
    KV_ASSERT(false);
    return 0;
}

uint64_t latency_count_below(const struct latency_histogram *histogram, uint64_t ns)
{
    uint64_t count = 0;
    for (uint32_t index = 0; index < LATENCY_BUCKETS && bucket_end(index) <= ns; index++) {
        count += histogram->buckets[index];
    }
    KV_ASSERT(count <= histogram->count);
    return count;
}
