/*
 * Redis 7.0's parameters kv stores without acting on them (see redis_param.h). The rows come
 * from redis_param_table.h (generated from Redis 7.0.15's own table); the values live in one
 * static array of fixed slots, so nothing is allocated after startup. Checks follow Redis's
 * order and words: a value either passes and is stored in the form CONFIG GET shows, or is
 * refused with Redis's error text and nothing changes.
 */
#include "redis_param.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "redis_param_table.h" /* the rows: redis_params[] */

#define REDIS_PARAM_COUNT (sizeof(redis_params) / sizeof(redis_params[0]))
static_assert(REDIS_PARAM_COUNT <= REDIS_PARAM_COUNT_MAX, "REDIS_PARAM_COUNT_MAX bounds the rows");

/* One slot per row; an alias row's slot is unused (it reads its primary's). */
static char redis_param_values[REDIS_PARAM_COUNT][REDIS_PARAM_VALUE_BYTES];
/* The slot each row reads: its own, or its primary's for an alias row. */
static uint32_t redis_param_slot[REDIS_PARAM_COUNT];

uint32_t redis_param_count(void)
{
    return (uint32_t)REDIS_PARAM_COUNT;
}

const struct redis_param *redis_param_at(uint32_t index)
{
    KV_ASSERT(index < REDIS_PARAM_COUNT);
    return &redis_params[index];
}

int32_t redis_param_find(const char *name, size_t length)
{
    KV_ASSERT(name != NULL || length == 0);
    /* Linear over the table's few hundred rows: CONFIG is an admin command. */
    for (uint32_t index = 0; index < REDIS_PARAM_COUNT; index++) {
        const char *row = redis_params[index].name;
        if (strlen(row) == length && strncasecmp(row, name, length) == 0) {
            return (int32_t)index;
        }
    }
    return -1;
}

/* Whether redis_param_init ran: main runs it at startup; a unit test that reads a config file
 * without it gets it on first use. */
static bool redis_param_ready;

void redis_param_init(void)
{
    redis_param_ready = true;
    /* Bounded by the table: each row finds its slot, an alias its primary's. */
    for (uint32_t index = 0; index < REDIS_PARAM_COUNT; index++) {
        const struct redis_param *param = &redis_params[index];
        KV_ASSERT(strlen(param->default_value) < REDIS_PARAM_VALUE_BYTES);
        redis_param_slot[index] = index;
        snprintf(redis_param_values[index], REDIS_PARAM_VALUE_BYTES, "%s", param->default_value);
    }
    for (uint32_t index = 0; index < REDIS_PARAM_COUNT; index++) {
        const struct redis_param *param = &redis_params[index];
        if (param->other == NULL) {
            continue;
        }
        int32_t other = redis_param_find(param->other, strlen(param->other));
        KV_ASSERT(other >= 0);
        /* The generator writes the primary first, its alias right after it. */
        if ((uint32_t)other < index) {
            redis_param_slot[index] = (uint32_t)other;
        }
    }
    int32_t dir = redis_param_find("dir", 3);
    KV_ASSERT(dir >= 0);
    if (getcwd(redis_param_values[dir], REDIS_PARAM_VALUE_BYTES) == NULL) {
        snprintf(redis_param_values[dir], REDIS_PARAM_VALUE_BYTES, "/");
    }
    /* kv's default has no save points (the README's Options): Redis's "3600 1 300 100 60
     * 10000" would make a default kv BGSAVE on the timer and save at every stop. */
    int32_t save = redis_param_find("save", 4);
    KV_ASSERT(save >= 0);
    redis_param_values[redis_param_slot[save]][0] = '\0';
}

const char *redis_param_value(uint32_t index)
{
    KV_ASSERT(index < REDIS_PARAM_COUNT);
    if (!redis_param_ready) {
        redis_param_init();
    }
    uint32_t slot = redis_param_slot[index];
    KV_ASSERT(slot < REDIS_PARAM_COUNT);
    return redis_param_values[slot];
}

/* notify-keyspace-events' classes: the canonical text drops "n" beside "A" (as Redis's
 * CONFIG GET does) while Redis keeps it in force, so the bits are kept apart: the last
 * check's, taken when its value is stored (every caller checks, then stores). */
static uint32_t redis_param_notify_checked;
static uint32_t redis_param_notify_bits;

uint32_t redis_param_notify_classes(void)
{
    return redis_param_notify_bits;
}

void redis_param_store(uint32_t index, const char *canonical)
{
    KV_ASSERT(index < REDIS_PARAM_COUNT);
    if (!redis_param_ready) {
        redis_param_init();
    }
    KV_ASSERT(strlen(canonical) < REDIS_PARAM_VALUE_BYTES);
    snprintf(redis_param_values[redis_param_slot[index]], REDIS_PARAM_VALUE_BYTES, "%s",
             canonical);
    if (strcmp(redis_params[index].name, "notify-keyspace-events") == 0) {
        redis_param_notify_bits = redis_param_notify_checked;
    }
}

/* Redis's string2ll: an optional '-', digits without a leading zero (but "0"), in range. */
static bool param_integer(const char *text, long long *number)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    size_t length = strlen(digits);
    if (length == 0 || length > 19 || strspn(digits, "0123456789") != length ||
        (digits[0] == '0' && (length > 1 || text[0] == '-'))) {
        return false;
    }
    errno = 0;
    char *end = NULL;
    *number = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0';
}

/* Redis's memtoull: digits and an optional unit (b, k, kb, m, mb, g, gb, any case; k = 1000,
 * kb = 1024). Its own copy of config.c's rule: config sits above this module. */
static bool param_memory(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t multiplier;
    } units[] = {{"", 1}, {"b", 1}, {"k", 1000}, {"kb", 1024}, {"m", 1000000},
                 {"mb", 1024 * 1024}, {"g", 1000000000}, {"gb", 1024ull * 1024 * 1024}};
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 20) {
        return false;
    }
    errno = 0;
    unsigned long long number = strtoull(text, NULL, 10);
    if (errno != 0) {
        return false;
    }
    /* Bounded by the unit table. */
    for (size_t index = 0; index < sizeof(units) / sizeof(units[0]); index++) {
        if (strcasecmp(text + digits, units[index].unit) == 0) {
            if (number > UINT64_MAX / units[index].multiplier) {
                return false;
            }
            *bytes = number * units[index].multiplier;
            return true;
        }
    }
    return false;
}

/* The error buffer for texts with numbers in them: CONFIG SET copies it into the reply
 * before anything else runs (one thread). */
static char param_error[160];

/* A number as Redis's numericParseString and numericBoundaryCheck take it. */
static const char *param_number(const struct redis_param *param, const char *value,
                                char *canonical)
{
    long long number = 0;
    bool parsed = false;
    bool percent = false;
    if ((param->number_flags & RP_NUM_MEMORY) != 0) {
        uint64_t bytes = 0;
        /* memtoull reads "" as 0. */
        parsed = value[0] == '\0' || param_memory(value, &bytes);
        number = (long long)bytes;
    }
    size_t length = strlen(value);
    if (!parsed && (param->number_flags & RP_NUM_PERCENT) != 0 && length > 1 &&
        value[length - 1] == '%' && length < 24) {
        char digits[24];
        memcpy(digits, value, length - 1);
        digits[length - 1] = '\0';
        parsed = param_integer(digits, &number) && number >= 0;
        percent = parsed;
        number = -number;
    }
    if (!parsed && (param->number_flags & RP_NUM_OCTAL) != 0) {
        char *end = NULL;
        errno = 0;
        number = strtoll(value, &end, 8);
        parsed = errno == 0 && *end == '\0';
    }
    if (!parsed && param->number_flags == 0) {
        parsed = param_integer(value, &number);
    }
    if (!parsed) {
        if ((param->number_flags & RP_NUM_MEMORY) != 0) {
            return (param->number_flags & RP_NUM_PERCENT) != 0
                       ? "argument must be a memory or percent value"
                       : "argument must be a memory value";
        }
        return (param->number_flags & RP_NUM_OCTAL) != 0
                   ? "argument couldn't be parsed as an octal number"
                   : "argument couldn't be parsed into an integer";
    }
    if (!param->is_signed) {
        unsigned long long unsigned_number = (unsigned long long)number;
        if (unsigned_number > param->upper ||
            unsigned_number < (unsigned long long)param->lower) {
            snprintf(param_error, sizeof(param_error),
                     (param->number_flags & RP_NUM_OCTAL) != 0
                         ? "argument must be between %llo and %llo inclusive"
                         : "argument must be between %llu and %llu inclusive",
                     (unsigned long long)param->lower, param->upper);
            return param_error;
        }
    } else if ((param->number_flags & RP_NUM_PERCENT) != 0 && number < 0) {
        if (number < param->lower) {
            snprintf(param_error, sizeof(param_error),
                     "percentage argument must be less or equal to %lld", -param->lower);
            return param_error;
        }
    } else if (number < param->lower || (number >= 0 && (unsigned long long)number >
                                                            param->upper)) {
        snprintf(param_error, sizeof(param_error),
                 "argument must be between %lld and %lld inclusive", param->lower,
                 (long long)param->upper);
        return param_error;
    }
    if (strcmp(param->name, "repl-backlog-size") == 0 && number < 16384) {
        number = 16384; /* Redis's apply step raises it to its smallest backlog */
    }
    if (percent) {
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%lld%%", -number);
    } else if ((param->number_flags & RP_NUM_OCTAL) != 0) {
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%llo", (unsigned long long)number);
    } else if (param->is_signed) {
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%lld", number);
    } else {
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%llu", (unsigned long long)number);
    }
    return NULL;
}

/* Redis's enum error: every word, comma-separated. */
static const char *param_enum_error(const struct redis_param *param)
{
    size_t used = (size_t)snprintf(param_error, sizeof(param_error), "%s",
                                   "argument(s) must be one of the following: ");
    /* Bounded by the word list's NULL end. */
    for (uint32_t word = 0; param->words[word].word != NULL; word++) {
        if (used < sizeof(param_error)) {
            used += (size_t)snprintf(param_error + used, sizeof(param_error) - used, "%s%s",
                                     word == 0 ? "" : ", ", param->words[word].word);
        }
    }
    return param_error;
}

static int param_word(const struct redis_param *param, const char *word, size_t length)
{
    KV_ASSERT(param->words != NULL);
    /* Bounded by the word list's NULL end. */
    for (int index = 0; param->words[index].word != NULL; index++) {
        const char *candidate = param->words[index].word;
        if (strlen(candidate) == length && strncasecmp(candidate, word, length) == 0) {
            return index;
        }
    }
    return -1;
}

/* An enum; a multi-word one (shutdown-on-sig*) is a set of flags: word 0 is "none of them",
 * word N the flag N - 1, shown in the table's order. */
static const char *param_enum(const struct redis_param *param, const char *value,
                              char *canonical)
{
    KV_ASSERT(param->words != NULL);
    if ((param->flags & RP_MULTI_ARG) == 0) {
        int word = param_word(param, value, strlen(value));
        if (word < 0) {
            return param_enum_error(param);
        }
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%s",
                 param->words[param->words[word].canonical].word);
        return NULL;
    }
    uint32_t bits = 0;
    const char *at = value;
    /* One pass per space-separated word; bounded by the value's length. */
    while (true) {
        size_t length = strcspn(at, " ");
        int word = param_word(param, at, length);
        if (word < 0) {
            return param_enum_error(param);
        }
        bits |= word == 0 ? 0u : 1u << (word - 1);
        if (at[length] == '\0') {
            break;
        }
        at += length + 1;
    }
    /* shutdown-on-sig*: "save" and "nosave" together make no sense (isValidShutdownOnSigFlags). */
    if ((bits & 3u) == 3u) {
        return "shutdown options SAVE and NOSAVE can't be used simultaneously";
    }
    size_t used = 0;
    canonical[0] = '\0';
    /* Bounded by the word list's NULL end. */
    for (int word = 1; param->words[word].word != NULL; word++) {
        if ((bits & (1u << (word - 1))) != 0) {
            used += (size_t)snprintf(canonical + used, REDIS_PARAM_VALUE_BYTES - used, "%s%s",
                                     used == 0 ? "" : " ", param->words[word].word);
        }
    }
    if (bits == 0) {
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%s", param->words[0].word);
    }
    return NULL;
}

/* notify-keyspace-events: Redis's classes, shown in Redis's order ("A" for all of g$lshzxetd). */
static const char *param_notify(const char *value, char *canonical)
{
    static const char classes[] = "KEg$lshzxetmdn"; /* bit N: classes[N], as Redis numbers them */
    const uint32_t all = 0x27fcu;                   /* g $ l s h z x e t d */
    uint32_t bits = 0;
    /* One pass over the value's bytes (at most REDIS_PARAM_VALUE_BYTES). */
    for (const char *at = value; *at != '\0'; at++) {
        if (*at == 'A') {
            bits |= all;
            continue;
        }
        const char *found = strchr(classes, *at);
        if (found == NULL) {
            return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
        }
        uint32_t bit = (uint32_t)(found - classes);
        bits |= 1u << (bit >= 12 ? bit + 1 : bit); /* bit 12 is Redis's module-only "loaded" */
    }
    size_t used = 0;
    canonical[0] = '\0';
    if ((bits & all) == all) {
        canonical[used++] = 'A';
    } else {
        static const struct {
            char name;
            uint32_t bit;
        } order[] = {{'g', 2}, {'$', 3}, {'l', 4}, {'s', 5}, {'h', 6}, {'z', 7},
                     {'x', 8}, {'e', 9}, {'t', 10}, {'d', 13}, {'n', 14}};
        for (size_t index = 0; index < sizeof(order) / sizeof(order[0]); index++) {
            if ((bits & (1u << order[index].bit)) != 0) {
                canonical[used++] = order[index].name;
            }
        }
    }
    if ((bits & 1u) != 0) {
        canonical[used++] = 'K';
    }
    if ((bits & 2u) != 0) {
        canonical[used++] = 'E';
    }
    redis_param_notify_checked = bits;
    if ((bits & (1u << 11)) != 0) {
        canonical[used++] = 'm';
    }
    KV_ASSERT(used < REDIS_PARAM_VALUE_BYTES);
    canonical[used] = '\0';
    return NULL;
}

/* oom-score-adj-values: three integers from -2000 to 2000. */
static const char *param_oom_values(const char *value, char *canonical)
{
    long long numbers[3];
    uint32_t count = 0;
    const char *at = value;
    /* At most one pass per space-separated word, bounded by the value's length. */
    while (true) {
        size_t length = strcspn(at, " ");
        if (count == 3) {
            return "wrong number of arguments";
        }
        char word[32];
        char *end = NULL;
        bool ok = length < sizeof(word);
        if (ok) {
            memcpy(word, at, length);
            word[length] = '\0';
            numbers[count] = strtoll(word, &end, 10);
            ok = *end == '\0' && numbers[count] >= -2000 && numbers[count] <= 2000;
        }
        if (!ok) {
            return "Invalid oom-score-adj-values, elements must be between -2000 and 2000.";
        }
        count++;
        if (at[length] == '\0') {
            break;
        }
        at += length + 1;
    }
    if (count != 3) {
        return "wrong number of arguments";
    }
    snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%lld %lld %lld", numbers[0], numbers[1],
             numbers[2]);
    return NULL;
}

/* One word of CONFIG SET save as Redis's setConfigSaveOption reads it: strtoll's number with
 * nothing after it (leading blanks and a sign allowed, an empty word is 0, a number past the
 * range saturates, as strtoll's errno goes unread), seconds at least 1, changes at least 0.
 * The changes are kept in an int there: their text is the number cut to 32 bits, as gcc
 * converts (Redis's "%d"). False: invalid. */
static bool param_save_word(const char *word, bool seconds, char *text, size_t text_bytes)
{
    char *end = NULL;
    long long number = strtoll(word, &end, 10);
    if (*end != '\0' || number < (seconds ? 1 : 0)) {
        return false;
    }
    int printed = seconds ? snprintf(text, text_bytes, "%lld", number)
                          : snprintf(text, text_bytes, "%d", (int)(uint32_t)number);
    return printed > 0 && (size_t)printed < text_bytes;
}

/* save as CONFIG SET takes it: the value split at every single space (Redis's sdssplitlen,
 * so two spaces in a row or one at an end make an empty word), an even number of words in
 * "<seconds> <changes>" pairs, or "" (no words) for none. canonical: the pairs as CONFIG GET
 * shows them ("%jd %d", one space apart). The file and the command line split on runs of
 * blanks first (config.c), as Redis's sdssplitargs does there. */
static const char *param_save(const char *value, char *canonical)
{
    static const char *const invalid = "Invalid save parameters";
    size_t written = 0;
    uint32_t count = 0;
    canonical[0] = '\0';
    if (value[0] == '\0') {
        return NULL;
    }
    const char *at = value;
    /* Bounded by the value's length: each pass consumes a word and the space after it. */
    for (;;) {
        size_t length = strcspn(at, " ");
        char word[REDIS_PARAM_VALUE_BYTES];
        KV_ASSERT(length < sizeof(word)); /* redis_param_check bounded the value */
        memcpy(word, at, length);
        word[length] = '\0';
        char text[32];
        if (!param_save_word(word, count % 2 == 0, text, sizeof(text))) {
            return invalid;
        }
        int printed = snprintf(canonical + written, REDIS_PARAM_VALUE_BYTES - written, "%s%s",
                               count == 0 ? "" : " ", text);
        if (printed < 0 || (size_t)printed >= REDIS_PARAM_VALUE_BYTES - written) {
            return invalid;
        }
        written += (size_t)printed;
        count++;
        at += length;
        if (*at == '\0') {
            break;
        }
        at++; /* the space: a word follows, empty when the value ends here */
    }
    return count % 2 == 0 ? NULL : invalid;
}

/* latency-tracking-info-percentiles: numbers from 0 to 100, shown as "%f" with trailing zeros
 * trimmed; "" is none. */
static const char *param_percentiles(const char *value, char *canonical)
{
    size_t used = 0;
    canonical[0] = '\0';
    if (value[0] == '\0') {
        return NULL;
    }
    const char *at = value;
    /* One pass per space-separated word, bounded by the value's length. */
    while (true) {
        size_t length = strcspn(at, " ");
        char word[64];
        char *end = NULL;
        double percentile = 0;
        bool ok = length > 0 && length < sizeof(word) && at[0] != ' ';
        if (ok) {
            memcpy(word, at, length);
            word[length] = '\0';
            errno = 0;
            percentile = strtod(word, &end);
            ok = *end == '\0' && errno == 0 && percentile == percentile;
        }
        if (!ok) {
            return "Invalid latency-tracking-info-percentiles parameters";
        }
        if (percentile > 100.0 || percentile < 0.0) {
            return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
        }
        char number[64];
        int written = snprintf(number, sizeof(number), "%f", percentile);
        KV_ASSERT(written > 0 && (size_t)written < sizeof(number));
        /* trimDoubleString: drop trailing zeros, then a trailing point. */
        if (strchr(number, '.') != NULL) {
            while (written > 0 && number[written - 1] == '0') {
                number[--written] = '\0';
            }
            if (written > 0 && number[written - 1] == '.') {
                number[--written] = '\0';
            }
        }
        if (used + (size_t)written + 2 > REDIS_PARAM_VALUE_BYTES) {
            return "Invalid latency-tracking-info-percentiles parameters";
        }
        used += (size_t)snprintf(canonical + used, REDIS_PARAM_VALUE_BYTES - used, "%s%s",
                                 used == 0 ? "" : " ", number);
        if (at[length] == '\0') {
            break;
        }
        at += length + 1;
    }
    return NULL;
}

const char *redis_param_check(uint32_t index, const char *value, size_t length,
                              char *canonical)
{
    KV_ASSERT(index < REDIS_PARAM_COUNT);
    KV_ASSERT(value != NULL);
    const struct redis_param *param = &redis_params[index];
    if (length >= REDIS_PARAM_VALUE_BYTES || strlen(value) != length) {
        /* kv's bound on a stored value (and no NUL inside one). */
        return "argument is too long or holds a NUL byte";
    }
    switch (param->kind) {
    case RP_KIND_BOOL:
        if (strcasecmp(value, "yes") != 0 && strcasecmp(value, "no") != 0) {
            return "argument must be 'yes' or 'no'";
        }
        snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%s",
                 strcasecmp(value, "yes") == 0 ? "yes" : "no");
        return NULL;
    case RP_KIND_NUMBER:
        return param_number(param, value, canonical);
    case RP_KIND_ENUM:
        return param_enum(param, value, canonical);
    case RP_KIND_SPECIAL:
        if (strcmp(param->name, "notify-keyspace-events") == 0) {
            return param_notify(value, canonical);
        }
        if (strcmp(param->name, "oom-score-adj-values") == 0) {
            return param_oom_values(value, canonical);
        }
        if (strcmp(param->name, "latency-tracking-info-percentiles") == 0) {
            return param_percentiles(value, canonical);
        }
        if (strcmp(param->name, "save") == 0) {
            return param_save(value, canonical);
        }
        if (strcmp(param->name, "dir") == 0) {
            /* Redis chdirs; kv keeps the absolute path SAVE and the load join with
             * dbfilename (realpath into the caller's buffer: no allocation). */
            struct stat info;
            if (stat(value, &info) != 0 || !S_ISDIR(info.st_mode)) {
                return "No such file or directory";
            }
            char resolved[PATH_MAX];
            if (realpath(value, resolved) == NULL) {
                return "No such file or directory";
            }
            size_t resolved_length = strlen(resolved);
            if (resolved_length >= REDIS_PARAM_VALUE_BYTES) {
                return "No such file or directory";
            }
            memcpy(canonical, resolved, resolved_length + 1);
            return NULL;
        }
        break; /* the others (save, bind, ...) are kv's own or refused before this */
    case RP_KIND_STRING:
        if (strcmp(param->name, "appendfilename") == 0 && strchr(value, '/') != NULL) {
            return "appendfilename can't be a path, just a filename";
        }
        break;
    default:
        KV_ASSERT(false);
    }
    snprintf(canonical, REDIS_PARAM_VALUE_BYTES, "%s", value);
    return NULL;
}
