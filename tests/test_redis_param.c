/*
 * Proves that Redis's parameter table answers as Redis 7.0: aliases share one value, every
 * default is within its row's own bounds (checked by re-reading it through the same check),
 * and values are checked and canonicalised with Redis's words (numbers with units, percent,
 * octal, enums with shared words, flag sets, keyspace-event classes). No server.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "redis_param.h"

static int32_t row(const char *name)
{
    int32_t index = redis_param_find(name, strlen(name));
    CHECK(index >= 0);
    return index;
}

/* Checks `value` for `name`; returns the error or NULL and the canonical form in `out`. */
static const char *check_value(const char *name, const char *value, char *out)
{
    return redis_param_check((uint32_t)row(name), value, strlen(value), out);
}

static void test_table(void)
{
    CHECK(redis_param_count() == 197); /* Redis 7.0.15: 178 parameters and 19 aliases */
    char canonical[REDIS_PARAM_VALUE_BYTES];
    uint32_t checked = 0;
    /* Every default reads back unchanged, except those Redis derives (dir, save, bind). */
    for (uint32_t index = 0; index < redis_param_count(); index++) {
        const struct redis_param *param = redis_param_at(index);
        if (param->kind == RP_KIND_SPECIAL || param->kind == RP_KIND_STRING) {
            continue;
        }
        const char *failure = redis_param_check(index, param->default_value,
                                                strlen(param->default_value), canonical);
        CHECK(failure == NULL);
        CHECK(failure != NULL || strcmp(canonical, param->default_value) == 0);
        if (failure != NULL || strcmp(canonical, param->default_value) != 0) {
            fprintf(stderr, "  row %s default '%s' -> '%s'\n", param->name,
                    param->default_value, failure != NULL ? failure : canonical);
        }
        checked++;
    }
    CHECK(checked > 150);
    CHECK(redis_param_find("HASH-MAX-ZIPLIST-ENTRIES", 24) == row("hash-max-ziplist-entries"));
    CHECK(redis_param_find("nosuch", 6) == -1);
}

static void test_values(void)
{
    redis_param_init();
    char out[REDIS_PARAM_VALUE_BYTES];
    CHECK(check_value("hash-max-ziplist-value", "1kb", out) == NULL);
    CHECK_STR(out, "1024");
    redis_param_store((uint32_t)row("hash-max-ziplist-value"), out);
    CHECK_STR(redis_param_value((uint32_t)row("hash-max-listpack-value")), "1024");
    CHECK_STR(check_value("hash-max-ziplist-entries", "01", out),
              "argument couldn't be parsed into an integer");
    CHECK_STR(check_value("list-max-ziplist-size", "2147483648", out),
              "argument must be between -2147483648 and 2147483647 inclusive");
    CHECK_STR(check_value("maxmemory-clients", "101%", out),
              "percentage argument must be less or equal to 100");
    CHECK(check_value("activerehashing", "YES", out) == NULL);
    CHECK_STR(out, "yes");
    CHECK_STR(check_value("activerehashing", "1", out), "argument must be 'yes' or 'no'");
    CHECK(check_value("oom-score-adj", "relative", out) == NULL);
    CHECK_STR(out, "yes");
    CHECK_STR(check_value("loglevel", "loud", out),
              "argument(s) must be one of the following: debug, verbose, notice, warning");
    CHECK(check_value("shutdown-on-sigterm", "force now", out) == NULL);
    CHECK_STR(out, "now force");
    CHECK(check_value("notify-keyspace-events", "KEA", out) == NULL);
    CHECK_STR(out, "AKE");
    CHECK(check_value("notify-keyspace-events", "mxg$", out) == NULL);
    CHECK_STR(out, "g$xm");
    CHECK(check_value("latency-tracking-info-percentiles", "50 99.90 100", out) == NULL);
    CHECK_STR(out, "50 99.9 100");
    CHECK(check_value("repl-backlog-size", "1", out) == NULL);
    CHECK_STR(out, "16384");
    char long_value[REDIS_PARAM_VALUE_BYTES + 1];
    memset(long_value, 'a', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    CHECK(check_value("ignore-warnings", long_value, out) != NULL); /* kv's bound */
}

int main(void)
{
    test_table();
    test_values();
    return check_exit("test_redis_param");
}
