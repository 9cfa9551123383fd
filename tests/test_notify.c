/*
 * Proves notify-keyspace-events is parsed as Redis 7.0 parses it: each letter its class,
 * "A" the classes Redis's NOTIFY_ALL names, and "n" beside "A" kept in force although
 * CONFIG GET's text drops it (as Redis's keyspaceEventsFlagsToString does); that the classes
 * take effect when the value is stored (notify_configure), and that an event with its class
 * off, or with no server attached, publishes nothing.
 */
#include <string.h>

#include "check.h"
#include "notify.h"
#include "redis_param.h"

/* Checks and stores `value` as CONFIG SET does; returns the classes then in force. */
static uint32_t set_value(const char *value, char *canonical)
{
    int32_t row = redis_param_find("notify-keyspace-events", 22);
    CHECK(row >= 0);
    const char *failure = redis_param_check((uint32_t)row, value, strlen(value), canonical);
    CHECK(failure == NULL);
    redis_param_store((uint32_t)row, canonical);
    notify_configure();
    return notify_classes;
}

int main(void)
{
    redis_param_init();
    const uint32_t all = NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET |
                         NOTIFY_HASH | NOTIFY_ZSET | NOTIFY_EXPIRED | NOTIFY_EVICTED |
                         NOTIFY_STREAM | NOTIFY_MODULE;
    CHECK(notify_classes_parse("") == 0);
    CHECK(notify_classes_parse("K") == NOTIFY_KEYSPACE);
    CHECK(notify_classes_parse("E") == NOTIFY_KEYEVENT);
    CHECK(notify_classes_parse("g$lshzxetm") ==
          (NOTIFY_GENERIC | NOTIFY_STRING | NOTIFY_LIST | NOTIFY_SET | NOTIFY_HASH |
           NOTIFY_ZSET | NOTIFY_EXPIRED | NOTIFY_EVICTED | NOTIFY_STREAM | NOTIFY_KEY_MISS));
    CHECK(notify_classes_parse("AKE") == (all | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT));
    CHECK(notify_classes_parse("dn") == (NOTIFY_MODULE | NOTIFY_NEW));

    char canonical[REDIS_PARAM_VALUE_BYTES];
    CHECK(notify_classes == 0); /* Redis's default: "" */
    CHECK(set_value("KEA", canonical) == (all | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT));
    CHECK(strcmp(canonical, "AKE") == 0);
    /* "n" is outside "A": CONFIG GET shows "AKEm" and "new" events still flow. */
    CHECK(set_value("nmAKE", canonical) ==
          (all | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT | NOTIFY_KEY_MISS | NOTIFY_NEW));
    CHECK(strcmp(canonical, "AKEm") == 0);
    CHECK(set_value("$K", canonical) == (NOTIFY_STRING | NOTIFY_KEYSPACE));
    CHECK(strcmp(canonical, "$K") == 0);
    CHECK(set_value("Elx", canonical) == (NOTIFY_LIST | NOTIFY_EXPIRED | NOTIFY_KEYEVENT));
    CHECK(strcmp(canonical, "lxE") == 0);

    /* No server attached: an event whose class is on goes nowhere, and does not fail. */
    struct slice key = {.bytes = (const uint8_t *)"k", .length = 1};
    notify_event(NOTIFY_LIST, "lpush", key);
    notify_event(NOTIFY_HASH, "hset", key); /* class off: not even looked at */
    CHECK(notify_dropped_count() == 0);

    CHECK(set_value("", canonical) == 0);
    CHECK(canonical[0] == '\0');
    return check_exit("test_notify");
}
