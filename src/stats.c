/*
 * The instantaneous rate of commands, as Redis's INFO shows it: every 100 ms (or at the next
 * command or INFO after that) the commands run since the last sample are turned into a rate,
 * and the rate is the mean of the last STATS_OPS_SAMPLES samples. A pause of many intervals
 * fills every sample with the rate over the pause, so an idle server reads 0 soon after.
 *
 * And the error replies by code, as Redis's afterErrorReply counts them: the code is the
 * line's first word when a space ends it within the first 32 bytes, else "ERR"; the codes
 * are kept in byte order (INFO errorstats lists them so), at most STATS_ERROR_CODES_MAX.
 */
#include "stats.h"

#include <string.h>

#include "kv_assert.h"

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

void stats_error_reply(void *context, const uint8_t *line, uint32_t length)
{
    struct stats *stats = context;
    KV_ASSERT(length >= 1 && line[0] == '-');
    stats->error_replies++;
    uint32_t window = length < STATS_ERROR_CODE_BYTES_MAX ? length : STATS_ERROR_CODE_BYTES_MAX;
    const uint8_t *space = memchr(line, ' ', window);
    const uint8_t *code = (const uint8_t *)"ERR";
    uint32_t code_length = 3;
    if (space != NULL) {
        code = line + 1;
        code_length = (uint32_t)(space - line) - 1u;
    }
    KV_ASSERT(code_length < STATS_ERROR_CODE_BYTES_MAX);
    /* Bounded by the codes counted: find the code's place in byte order. */
    uint32_t at = 0;
    int order = 1;
    for (; at < stats->error_code_count; at++) {
        const struct stats_error *error = &stats->errors[at];
        uint32_t common = error->length < code_length ? error->length : code_length;
        order = common > 0 ? memcmp(error->code, code, common) : 0;
        order = order != 0 ? order : (int)error->length - (int)code_length;
        if (order >= 0) {
            break;
        }
    }
    if (at < stats->error_code_count && order == 0) {
        stats->errors[at].count++;
        return;
    }
    if (stats->error_code_count == STATS_ERROR_CODES_MAX) {
        return; /* Redis stops tracking new codes there too */
    }
    memmove(&stats->errors[at + 1u], &stats->errors[at],
            (stats->error_code_count - at) * sizeof(stats->errors[0]));
    struct stats_error *added = &stats->errors[at];
    added->count = 1;
    added->length = code_length;
    if (code_length > 0) {
        memcpy(added->code, code, code_length);
    }
    stats->error_code_count++;
    KV_ASSERT(stats->error_code_count <= STATS_ERROR_CODES_MAX);
}
