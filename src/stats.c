/*
 * The instantaneous rate of commands, as Redis's INFO shows it: every 100 ms (or at the next
 * command or INFO after that) the commands run since the last sample are turned into a rate,
 * and the rate is the mean of the last STATS_OPS_SAMPLES samples. A pause of many intervals
 * fills every sample with the rate over the pause, so an idle server reads 0 soon after.
 */
#include "stats.h"

void stats_ops_sample(struct stats *stats, int64_t now_ms)
{
    int64_t elapsed_ms = now_ms - stats->ops_sample_ms;
    if (elapsed_ms < STATS_OPS_INTERVAL_MS) {
        return;
    }
    uint64_t ops = stats->commands_processed - stats->ops_sample_commands;
    uint64_t rate = ops * 1000u / (uint64_t)elapsed_ms;
    bool long_pause = stats->ops_sample_ms == 0 ||
                      elapsed_ms >= (int64_t)STATS_OPS_INTERVAL_MS * STATS_OPS_SAMPLES;
    uint32_t fill = long_pause ? STATS_OPS_SAMPLES : 1;
    for (uint32_t index = 0; index < fill; index++) {
        stats->ops_samples[stats->ops_sample_next] = rate;
        stats->ops_sample_next = (stats->ops_sample_next + 1) % STATS_OPS_SAMPLES;
    }
    stats->ops_sample_ms = now_ms;
    stats->ops_sample_commands = stats->commands_processed;
}

uint64_t stats_ops_per_sec(const struct stats *stats)
{
    uint64_t sum = 0;
    for (uint32_t index = 0; index < STATS_OPS_SAMPLES; index++) {
        sum += stats->ops_samples[index];
    }
    return sum / STATS_OPS_SAMPLES;
}
