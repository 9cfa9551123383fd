/*
 * The error counters behind INFO errorstats: codes taken as Redis takes them (the first word
 * within 32 bytes, else ERR), kept in byte order, counted once each, at most
 * STATS_ERROR_CODES_MAX codes; a seeded run against a simple model of the same rules.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stats.h"

static struct stats stats;

static void count_line(const char *line)
{
    stats_error_reply(&stats, (const uint8_t *)line, (uint32_t)strlen(line));
}

static int find(const char *code)
{
    for (uint32_t index = 0; index < stats.error_code_count; index++) {
        if (stats.errors[index].length == strlen(code) &&
            memcmp(stats.errors[index].code, code, strlen(code)) == 0) {
            return (int)index;
        }
    }
    return -1;
}

static void sorted_and_unique(void)
{
    for (uint32_t index = 1; index < stats.error_code_count; index++) {
        const struct stats_error *a = &stats.errors[index - 1];
        const struct stats_error *b = &stats.errors[index];
        uint32_t common = a->length < b->length ? a->length : b->length;
        int order = memcmp(a->code, b->code, common);
        CHECK(order < 0 || (order == 0 && a->length < b->length));
    }
}

int main(void)
{
    count_line("-ERR syntax error\r\n");
    count_line("-WRONGTYPE Operation against a key\r\n");
    count_line("-ERR value is not an integer\r\n");
    count_line("-NOSCRIPT No matching script\r\n");
    count_line("-EXECABORT Transaction discarded\r\n");
    count_line("-NOSPACEINTHEFIRST32BYTESATALLXXXXXXXXXXX rest\r\n");
    count_line("-OOM command not allowed\r\n");
    CHECK(stats.error_replies == 7);
    CHECK(stats.error_code_count == 5);
    CHECK(find("ERR") == 0);               /* byte order: ERR, EXECABORT, NOSCRIPT, ... */
    CHECK(find("EXECABORT") == 1);
    CHECK(stats.errors[find("ERR")].count == 3); /* two ERR lines and the one without a space */
    CHECK(find("WRONGTYPE") == 4);
    sorted_and_unique();

    /* A seeded run: random codes, counts checked against a tally. */
    unsigned seed = (unsigned)strtoul(getenv("KV_SEED") ? getenv("KV_SEED") : "12345", NULL, 10);
    srand(seed);
    memset(&stats, 0, sizeof(stats));
    static uint64_t tally[200];
    for (uint32_t round = 0; round < 20000; round++) {
        uint32_t code = (uint32_t)rand() % 200u;
        char line[64];
        snprintf(line, sizeof(line), "-C%03u message\r\n", code);
        uint32_t before = stats.error_code_count;
        int known = find(line[1] == 'C' ? (char[]){'C', line[2], line[3], line[4], 0} : "");
        count_line(line);
        if (known >= 0 || before < STATS_ERROR_CODES_MAX) {
            tally[code]++;
        }
    }
    CHECK(stats.error_replies == 20000);
    CHECK(stats.error_code_count == STATS_ERROR_CODES_MAX);
    sorted_and_unique();
    for (uint32_t index = 0; index < stats.error_code_count; index++) {
        unsigned code = (unsigned)atoi(stats.errors[index].code + 1);
        CHECK(stats.errors[index].length == 4);
        CHECK(stats.errors[index].count == tally[code]);
    }
    if (check_failures > 0) {
        fprintf(stderr, "seed %u (KV_SEED=%u replays)\n", seed, seed);
    }
    return check_exit("test_stats");
}
