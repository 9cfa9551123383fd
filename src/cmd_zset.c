/*
 * Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZSCORE, ZMSCORE, ZCARD,
 * ZCOUNT, ZRANK, ZREVRANK, ZREM, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZREVRANGE,
 * ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZPOPMIN, ZPOPMAX, ZSCAN,
 * ZRANGEBYLEX, ZREVRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX, ZRANDMEMBER and ZRANGESTORE
 * (ZRANGE's parse; its result is built apart from the keyspace, then put in place), with
 * Redis 7.0's replies, errors and number formats (scores "%.17g", "inf", "-inf"). This
 * file parses and answers; the store (store_zset.h) keeps the set, in either encoding, and
 * does every write whole: a write past kv's caps (a member longer than key_size_max, more
 * than list_length_max members) or past the memory budget gets its error and changes nothing.
 * Ranks and range starts take O(log n) in a large set. Each command finds its key once and
 * hands the record to the write.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"
#include "number.h"
#include "store_zset.h"

/* An argument as a C string for strtod; false when it does not fit. */
static bool arg_text(struct slice arg, char *text, uint32_t capacity)
{
    KV_ASSERT(capacity > 0);
    if (arg.length >= capacity) {
        return false;
    }
    if (arg.length > 0) {
        memcpy(text, arg.bytes, arg.length);
    }
    text[arg.length] = '\0';
    KV_ASSERT(strlen(text) <= arg.length);
    return true;
}

/* A score, as Redis's getDoubleFromObject reads it (number.h). */
static bool score_parse(struct slice arg, double *score)
{
    return number_parse_double(arg.bytes, arg.length, score);
}

/* One end of a score range (zslParseRange): "(" for exclusive, then strtod over the C
 * string, which must be consumed; not NaN. */
static bool range_end_parse(struct slice arg, double *value, bool *exclusive)
{
    char text[512];
    /* As a C string, the argument ends at its first NUL byte. */
    const uint8_t *nul = arg.length > 0 ? memchr(arg.bytes, 0, arg.length) : NULL;
    arg.length = nul != NULL ? (uint32_t)(nul - arg.bytes) : arg.length;
    if (!arg_text(arg, text, sizeof(text))) {
        return false;
    }
    *exclusive = text[0] == '(';
    char *end = NULL;
    *value = strtod(text + (*exclusive ? 1 : 0), &end);
    KV_ASSERT(end != NULL);
    return *end == '\0' && !isnan(*value);
}

struct score_range {
    double min;
    double max;
    bool min_exclusive;
    bool max_exclusive;
};

static bool score_range_parse(struct slice min, struct slice max, struct score_range *range)
{
    bool parsed = range_end_parse(min, &range->min, &range->min_exclusive) &&
                  range_end_parse(max, &range->max, &range->max_exclusive);
    KV_ASSERT(!parsed || !isnan(range->min));
    return parsed;
}

/* One end of a lexicographic range: "[x" inclusive, "(x" exclusive, "-" and "+" the ends. */
static bool lex_end_parse(struct slice arg, struct store_zset_lex *end)
{
    *end = (struct store_zset_lex){0};
    if (arg.length == 1 && (arg.bytes[0] == '-' || arg.bytes[0] == '+')) {
        end->infinite = arg.bytes[0] == '-' ? -1 : 1;
        return true;
    }
    if (arg.length == 0 || (arg.bytes[0] != '[' && arg.bytes[0] != '(')) {
        return false;
    }
    end->exclusive = arg.bytes[0] == '(';
    end->bytes = (struct slice){.bytes = arg.bytes + 1, .length = arg.length - 1};
    KV_ASSERT(end->infinite == 0);
    return true;
}

/* ZADD's options as written; the store reads NX, XX, GT, LT and INCR from the same bits. */
enum zadd_flag {
    ZADD_NX = STORE_ZSET_NX,
    ZADD_XX = STORE_ZSET_XX,
    ZADD_GT = STORE_ZSET_GT,
    ZADD_LT = STORE_ZSET_LT,
    ZADD_INCR = STORE_ZSET_INCR,
    ZADD_CH = 1u << 5,
};

/* The names of ZADD's options and their bits. */
static const struct {
    const char *name;
    uint32_t flag;
} zadd_options[] = {{"nx", ZADD_NX}, {"xx", ZADD_XX},     {"gt", ZADD_GT},
                    {"lt", ZADD_LT}, {"ch", ZADD_CH},     {"incr", ZADD_INCR}};

#define ZADD_OPTION_COUNT (sizeof(zadd_options) / sizeof(zadd_options[0]))

/* ZADD's flags, then its pairs; false after answering Redis's error. */
static bool zadd_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       uint32_t *flags, uint32_t *first_pair)
{
    KV_ASSERT(arg_count >= 4);
    KV_ASSERT(*flags == 0);
    uint32_t index = 2;
    /* Bounded by the arguments; the inner loop by the option names. */
    for (; index < arg_count; index++) {
        uint32_t flag = 0;
        for (uint32_t option = 0; option < ZADD_OPTION_COUNT && flag == 0; option++) {
            flag = cmd_arg_is(args[index], zadd_options[option].name) ? zadd_options[option].flag
                                                                      : 0;
        }
        if (flag == 0) {
            break;
        }
        *flags |= flag;
    }
    *first_pair = index;
    uint32_t left = arg_count - index;
    if (left == 0 || left % 2 != 0) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    if ((*flags & ZADD_NX) && (*flags & ZADD_XX)) {
        reply_error(&context->reply, REPLY_ERROR_ZADD_XX_NX);
        return false;
    }
    if (((*flags & (ZADD_GT | ZADD_LT)) && (*flags & ZADD_NX)) ||
        ((*flags & ZADD_GT) && (*flags & ZADD_LT))) {
        reply_error(&context->reply, REPLY_ERROR_ZADD_GT_LT_NX);
        return false;
    }
    if ((*flags & ZADD_INCR) && left > 2) {
        reply_error(&context->reply, REPLY_ERROR_ZADD_INCR_PAIR);
        return false;
    }
    /* Bounded by the arguments: every score before anything is looked up, as Redis does. */
    for (uint32_t pair = index; pair < arg_count; pair += 2) {
        double score = 0;
        if (!score_parse(args[pair], &score)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
            return false;
        }
    }
    KV_ASSERT(*first_pair + 2 <= arg_count);
    return true;
}

/* A score zadd_parse validated, as the store reads the pairs. */
static double score_value(struct slice text)
{
    double score = 0;
    bool parsed = score_parse(text, &score);
    KV_ASSERT(parsed);
    return score;
}

/* ZADD and ZINCRBY after their arguments were parsed: the key, then the store's write, which
 * checks kv's caps and the budget before it changes anything. */
static void zadd_generic(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                         uint32_t flags, uint32_t first_pair)
{
    KV_ASSERT(first_pair + 2 <= arg_count);
    KV_ASSERT((arg_count - first_pair) % 2 == 0);
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    const struct store_zset_pairs pairs = {
        .args = args + first_pair, .count = (arg_count - first_pair) / 2, .score = score_value};
    struct store_zset_result result;
    status = store_zset_add(context->store, &found, args[1], flags & ~(uint32_t)ZADD_CH, &pairs,
                            &result);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
    } else if (!(flags & ZADD_INCR)) {
        reply_integer(&context->reply, (int64_t)result.added +
                                           ((flags & ZADD_CH) ? (int64_t)result.changed : 0));
    } else if (result.incr_nan) {
        reply_error(&context->reply, REPLY_ERROR_SCORE_NAN);
    } else if (result.incr_null) {
        reply_null(&context->reply);
    } else {
        reply_score(&context->reply, result.score);
    }
    /* After the reply, as Redis's zaddGenericCommand (a RESP3 subscriber sees the order). */
    if (status == STORE_OK && result.added + result.changed > 0) {
        notify_event(NOTIFY_ZSET, (flags & ZADD_INCR) ? "zincr" : "zadd", args[1]);
    }
}

CMD_HANDLER(cmd_zadd)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    uint32_t flags = 0;
    uint32_t first_pair = 0;
    if (zadd_parse(context, args, arg_count, &flags, &first_pair)) {
        zadd_generic(context, args, arg_count, flags, first_pair);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zincrby)
{
    KV_ASSERT(arg_count == 4);
    uint64_t reply_before = context->reply.total;
    double increment = 0;
    if (!score_parse(args[2], &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
        return;
    }
    /* ZINCRBY key increment member is ZADD key INCR increment member. */
    zadd_generic(context, args, arg_count, ZADD_INCR, 2);
    KV_ASSERT(context->reply.total > reply_before);
}

/* A member's score in the sorted set read (status from cmd_read), or false. */
static bool read_score(const struct cmd_context *context, enum store_status status,
                       const struct store_found *found, struct slice member, double *score)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_ZSET);
    return status == STORE_OK && store_zset_score(context->store, found->key_ref, member, score);
}

CMD_HANDLER(cmd_zscore)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    double score = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (read_score(context, status, &found, args[2], &score)) {
        reply_score(&context->reply, score);
    } else if (status != STORE_WRONGTYPE) {
        reply_null(&context->reply);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zmscore)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    reply_array(&context->reply, arg_count - 2);
    /* Bounded by the members named. */
    for (uint32_t index = 2; index < arg_count; index++) {
        double score = 0;
        if (read_score(context, status, &found, args[index], &score)) {
            reply_score(&context->reply, score);
        } else {
            reply_null(&context->reply);
        }
    }
    KV_ASSERT(context->reply.length <= context->reply.capacity);
}

CMD_HANDLER(cmd_zcard)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status != STORE_WRONGTYPE) {
        uint32_t count = status == STORE_OK ? store_zset_count(context->store, found.key_ref) : 0;
        KV_ASSERT(count <= context->store->limits.length_max);
        reply_integer(&context->reply, count);
    }
}

/* The ranks [first, end) of the members a score range selects. */
static void score_range_ranks(const struct cmd_context *context, uint32_t key_ref,
                              const struct score_range *range, uint32_t *first, uint32_t *end)
{
    const struct store *store = context->store;
    *first = store_zset_count_below(store, key_ref, range->min, range->min_exclusive);
    *end = store_zset_count_below(store, key_ref, range->max, !range->max_exclusive);
    *end = *end < *first ? *first : *end;
    KV_ASSERT(*first <= *end);
    KV_ASSERT(*end <= store_zset_count(store, key_ref));
}

CMD_HANDLER(cmd_zcount)
{
    KV_ASSERT(arg_count == 4);
    struct score_range range;
    if (!score_range_parse(args[2], args[3], &range)) {
        reply_error(&context->reply, REPLY_ERROR_MIN_MAX_NOT_FLOAT);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (status == STORE_OK) {
        score_range_ranks(context, found.key_ref, &range, &first, &end);
    }
    KV_ASSERT(first <= end);
    reply_integer(&context->reply, end - first);
}

static void zrank_generic(struct cmd_context *context, const struct slice *args, bool reverse)
{
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint32_t rank = 0;
    if (status != STORE_OK || !store_zset_rank(context->store, found.key_ref, args[2], &rank)) {
        reply_null(&context->reply);
        return;
    }
    uint32_t count = store_zset_count(context->store, found.key_ref);
    KV_ASSERT(rank < count);
    reply_integer(&context->reply, reverse ? count - 1 - rank : rank);
}

CMD_HANDLER(cmd_zrank)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    zrank_generic(context, args, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zrevrank)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    zrank_generic(context, args, true);
    KV_ASSERT(context->reply.total > reply_before);
}

/* A removal's events: the command's, then "del" when the set went with its last member. */
static void zset_removed_notify(struct store *store, const char *event, struct slice key)
{
    notify_event(NOTIFY_ZSET, event, key);
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_peek(store, key, &key_ref)) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
}

CMD_HANDLER(cmd_zrem)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    uint32_t removed =
        status == STORE_OK ? store_zset_remove(context->store, &found, args + 2, arg_count - 2)
                           : 0;
    KV_ASSERT(removed <= arg_count - 2);
    if (removed > 0) {
        zset_removed_notify(context->store, "zrem", args[1]);
    }
    reply_integer(&context->reply, removed);
}

enum range_kind { RANGE_RANK, RANGE_SCORE, RANGE_LEX };

struct range_request {
    enum range_kind kind;
    bool reverse;
    bool with_scores;
    bool limited;
    int64_t offset;
    int64_t limit; /* -1: no limit */
    bool store;    /* ZRANGESTORE: args[0] is the destination, args[1] the source */
};

/* The rank range [first, end) of a rank request (start/stop with Redis's rules). */
static void rank_range(int64_t start, int64_t stop, uint32_t count, bool reverse, uint32_t *first,
                       uint32_t *end)
{
    int64_t length = count;
    start = start < 0 ? start + length : start;
    stop = stop < 0 ? stop + length : stop;
    start = start < 0 ? 0 : start;
    if (start > stop || start >= length) {
        *first = *end = 0;
        return;
    }
    stop = stop >= length ? length - 1 : stop;
    /* Reverse ranks count from the end. */
    *first = (uint32_t)(reverse ? length - 1 - stop : start);
    *end = (uint32_t)(reverse ? length - start : stop + 1);
    KV_ASSERT(*first < *end);
    KV_ASSERT(*end <= count);
}

/* Answers the members of ranks [first, end) (reversed: from end - 1 down), after skipping
 * `offset` and keeping at most `limit` (negative: all); with scores if asked. */
static void reply_ranks(struct cmd_context *context, uint32_t key_ref, uint32_t first,
                        uint32_t end, const struct range_request *request)
{
    KV_ASSERT(first <= end);
    KV_ASSERT(end <= store_zset_count(context->store, key_ref));
    uint64_t available = end - first;
    uint64_t skip = request->offset > 0 ? (uint64_t)request->offset : 0;
    if (request->offset < 0) {
        skip = available; /* Redis answers nothing for a negative offset */
    }
    uint64_t count = skip >= available ? 0 : available - skip;
    if (request->limit >= 0 && (uint64_t)request->limit < count) {
        count = (uint64_t)request->limit;
    }
    /* WITHSCORES: in RESP3 each member and score an array of 2, as Redis 7.0 answers. */
    request->with_scores ? reply_pairs(&context->reply, count)
                         : reply_array(&context->reply, count);
    if (count == 0) {
        return;
    }
    uint32_t rank = request->reverse ? end - 1 - (uint32_t)skip : first + (uint32_t)skip;
    struct store_zset_walk walk;
    store_zset_walk_start(context->store, key_ref, rank, request->reverse, &walk);
    /* Bounded by count, which the range holds: each step to a neighbour. */
    for (uint64_t index = 0; index < count; index++) {
        struct slice member;
        double score = 0;
        bool more = store_zset_walk_next(&walk, &member, &score);
        KV_ASSERT(more);
        if (request->with_scores) {
            reply_pair(&context->reply);
        }
        reply_bulk(&context->reply, member);
        if (request->with_scores) {
            reply_score(&context->reply, score);
        }
    }
}
/* ZRANGESTORE's result: the members reply_ranks would answer, put in place of the
 * destination (args[0]) through a result built apart from the keyspace; an empty one (or a
 * missing source, key_ref HEAP_REF_NONE) deletes it. Answers the count or the error. */
static void store_ranks(struct cmd_context *context, const struct slice *args, uint32_t key_ref,
                        uint32_t first, uint32_t end, const struct range_request *request)
{
    KV_ASSERT(request->store);
    struct store *store = context->store;
    struct store_zset_temp temp;
    if (!store_zset_temp_start(store, &temp)) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    uint64_t available = end - first;
    uint64_t skip = request->offset > 0 ? (uint64_t)request->offset : 0;
    skip = request->offset < 0 ? available : skip; /* as reply_ranks */
    uint64_t count = skip >= available ? 0 : available - skip;
    if (request->limit >= 0 && (uint64_t)request->limit < count) {
        count = (uint64_t)request->limit;
    }
    if (count > 0) {
        KV_ASSERT(key_ref != HEAP_REF_NONE);
        uint32_t rank = request->reverse ? end - 1 - (uint32_t)skip : first + (uint32_t)skip;
        struct store_zset_walk walk;
        store_zset_walk_start(store, key_ref, rank, request->reverse, &walk);
        /* Redis builds the result by adding the members in the order they come: in a
         * listpack (whose scores lose the sign of zero) until the 129th or a member past 64
         * bytes converts it, or a skiplist from the start for a rank range past 128. */
        bool small = request->kind != RANGE_RANK || count <= STORE_ZSET_PACK_COUNT_MAX;
        /* Bounded by count, which the range holds. */
        for (uint64_t index = 0; index < count; index++) {
            struct slice member;
            double score = 0;
            bool more = store_zset_walk_next(&walk, &member, &score);
            KV_ASSERT(more);
            small = small && index < STORE_ZSET_PACK_COUNT_MAX &&
                    member.length <= STORE_ZSET_PACK_MEMBER_BYTES_MAX;
            score = small ? score + 0.0 : score;
            if (!store_zset_temp_put(store, &temp, member, score)) {
                store_zset_temp_abandon(store, &temp);
                reply_error(&context->reply, REPLY_ERROR_OOM);
                return;
            }
        }
    }
    struct store_found target;
    (void)store_find_typed(store, args[0], STORE_TYPE_ANY, &target);
    bool existed = target.exists; /* the store's call rewrites the record */
    enum store_status status = store_zset_temp_store(store, &target, args[0], &temp);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_integer(&context->reply, (int64_t)count);
    if (count > 0) {
        notify_event(NOTIFY_ZSET, "zrangestore", args[0]);
    } else if (existed) {
        notify_event(NOTIFY_GENERIC, "del", args[0]); /* the empty result removed it */
    }
}

/* ZRANGE's options from args[4] (WITHSCORES, LIMIT, and for ZRANGE itself REV, BYLEX,
 * BYSCORE), with Redis 7.0's checks in its order; false after answering the error.
 * `preset` fixes the kind and direction of the older forms. */
static bool zrange_options_parse(struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count, struct range_request *request, bool preset)
{
    KV_ASSERT(arg_count >= 4);
    for (uint32_t index = 4; index < arg_count; index++) {
        uint32_t left = arg_count - index - 1;
        if (!request->store && cmd_arg_is(args[index], "withscores")) {
            request->with_scores = true;
        } else if (cmd_arg_is(args[index], "limit") && left >= 2) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length,
                                    &request->offset) ||
                !number_parse_int64(args[index + 2].bytes, args[index + 2].length,
                                    &request->limit)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            request->limited = true;
            index += 2;
        } else if (!preset && !request->reverse && cmd_arg_is(args[index], "rev")) {
            request->reverse = true;
        } else if (!preset && request->kind == RANGE_RANK && cmd_arg_is(args[index], "bylex")) {
            request->kind = RANGE_LEX;
        } else if (!preset && request->kind == RANGE_RANK && cmd_arg_is(args[index], "byscore")) {
            request->kind = RANGE_SCORE;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    /* As Redis 7.0: a LIMIT whose count is -1 passes with a rank range, and is ignored. */
    if (request->limit != -1 && request->kind == RANGE_RANK) {
        reply_error(&context->reply, REPLY_ERROR_LIMIT_NEEDS_BY);
        return false;
    }
    if (request->kind == RANGE_RANK) {
        request->offset = 0;
    }
    if (request->with_scores && request->kind == RANGE_LEX) {
        reply_error(&context->reply, REPLY_ERROR_WITHSCORES_BYLEX);
        return false;
    }
    KV_ASSERT(request->kind != RANGE_RANK || request->offset == 0);
    return true;
}

/* A range's two ends, as its kind reads them. */
struct range_bounds {
    int64_t start;             /* RANGE_RANK */
    int64_t stop;
    struct score_range scores; /* RANGE_SCORE */
    struct store_zset_lex lex_min; /* RANGE_LEX */
    struct store_zset_lex lex_max;
};

/* The range's ends from args[2] and args[3] (a reversed score or lex range gives max
 * first); false after answering the error. */
static bool zrange_bounds_parse(struct cmd_context *context, const struct slice *args,
                                const struct range_request *request, struct range_bounds *bounds)
{
    bool swap = request->reverse && request->kind != RANGE_RANK;
    struct slice min = swap ? args[3] : args[2];
    struct slice max = swap ? args[2] : args[3];
    *bounds = (struct range_bounds){0};
    if (request->kind == RANGE_RANK &&
        (!number_parse_int64(min.bytes, min.length, &bounds->start) ||
         !number_parse_int64(max.bytes, max.length, &bounds->stop))) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (request->kind == RANGE_SCORE && !score_range_parse(min, max, &bounds->scores)) {
        reply_error(&context->reply, REPLY_ERROR_MIN_MAX_NOT_FLOAT);
        return false;
    }
    if (request->kind == RANGE_LEX &&
        (!lex_end_parse(min, &bounds->lex_min) || !lex_end_parse(max, &bounds->lex_max))) {
        reply_error(&context->reply, REPLY_ERROR_MIN_MAX_NOT_LEX);
        return false;
    }
    KV_ASSERT(request->kind == RANGE_RANK || request->kind == RANGE_SCORE ||
              request->kind == RANGE_LEX);
    return true;
}

/* ZRANGE and its older forms: options from args[4], then the range, then the key, with
 * Redis 7.0's checks in its order. `preset` fixes the kind and direction of the older forms. */
static void zrange_generic(struct cmd_context *context, const struct slice *args,
                           uint32_t arg_count, struct range_request request, bool preset)
{
    struct range_bounds bounds;
    if (!zrange_options_parse(context, args, arg_count, &request, preset) ||
        !zrange_bounds_parse(context, args, &request, &bounds)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_NOT_FOUND) {
        request.store ? store_ranks(context, args, HEAP_REF_NONE, 0, 0, &request)
                      : reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (request.kind == RANGE_RANK) {
        rank_range(bounds.start, bounds.stop, store_zset_count(context->store, found.key_ref),
                   request.reverse, &first, &end);
    } else if (request.kind == RANGE_SCORE) {
        score_range_ranks(context, found.key_ref, &bounds.scores, &first, &end);
    } else {
        store_zset_lex_ranks(context->store, found.key_ref, &bounds.lex_min, &bounds.lex_max,
                             request.reverse, &first, &end);
    }
    KV_ASSERT(first <= end);
    request.store ? store_ranks(context, args, found.key_ref, first, end, &request)
                  : reply_ranks(context, found.key_ref, first, end, &request);
}

static const struct range_request range_defaults = {.kind = RANGE_RANK, .limit = -1};

CMD_HANDLER(cmd_zrange)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    zrange_generic(context, args, arg_count, range_defaults, false);
    KV_ASSERT(context->reply.total > reply_before);
}

/* The forms older than ZRANGE's options (ZREVRANGE, ZRANGEBYSCORE, ...): ZRANGE's request
 * with the kind and direction their names give, and no BYSCORE, BYLEX or REV accepted. */
static void zrange_preset(struct cmd_context *context, const struct slice *args,
                          uint32_t arg_count, enum range_kind kind, bool reverse)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    struct range_request request = range_defaults;
    request.kind = kind;
    request.reverse = reverse;
    zrange_generic(context, args, arg_count, request, true);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zrevrange)
{
    zrange_preset(context, args, arg_count, RANGE_RANK, true);
}

CMD_HANDLER(cmd_zrangebyscore)
{
    zrange_preset(context, args, arg_count, RANGE_SCORE, false);
}

CMD_HANDLER(cmd_zrevrangebyscore)
{
    zrange_preset(context, args, arg_count, RANGE_SCORE, true);
}

CMD_HANDLER(cmd_zrangebylex)
{
    zrange_preset(context, args, arg_count, RANGE_LEX, false);
}

CMD_HANDLER(cmd_zrevrangebylex)
{
    zrange_preset(context, args, arg_count, RANGE_LEX, true);
}

/* ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: ZRANGE's parse
 * and range over the arguments from the source on, the destination before them. */
CMD_HANDLER(cmd_zrangestore)
{
    KV_ASSERT(arg_count >= 5);
    uint64_t reply_before = context->reply.total;
    struct range_request request = range_defaults;
    request.store = true;
    zrange_generic(context, args + 1, arg_count - 1, request, false);
    KV_ASSERT(context->reply.total > reply_before);
}

/* Finds the sorted set of a ZREMRANGEBY* (or ZPOP*) for its write; false after answering
 * WRONGTYPE. */
static bool zset_write_find(struct cmd_context *context, struct slice key,
                            struct store_found *found)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_ZSET, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    KV_ASSERT(!found->exists || store_zset_count(context->store, found->key_ref) > 0);
    return true;
}

CMD_HANDLER(cmd_zremrangebyrank)
{
    KV_ASSERT(arg_count == 4);
    int64_t start = 0;
    int64_t stop = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &start) ||
        !number_parse_int64(args[3].bytes, args[3].length, &stop)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    struct store_found found;
    if (!zset_write_find(context, args[1], &found)) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (found.exists) {
        rank_range(start, stop, store_zset_count(context->store, found.key_ref), false, &first,
                   &end);
    }
    uint32_t removed = found.exists ? store_zset_remove_ranks(context->store, &found, first, end)
                                    : 0;
    if (removed > 0) {
        zset_removed_notify(context->store, "zremrangebyrank", args[1]);
    }
    reply_integer(&context->reply, removed);
}

CMD_HANDLER(cmd_zremrangebyscore)
{
    KV_ASSERT(arg_count == 4);
    struct score_range range;
    if (!score_range_parse(args[2], args[3], &range)) {
        reply_error(&context->reply, REPLY_ERROR_MIN_MAX_NOT_FLOAT);
        return;
    }
    struct store_found found;
    if (!zset_write_find(context, args[1], &found)) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (found.exists) {
        score_range_ranks(context, found.key_ref, &range, &first, &end);
    }
    uint32_t removed = found.exists ? store_zset_remove_ranks(context->store, &found, first, end)
                                    : 0;
    if (removed > 0) {
        zset_removed_notify(context->store, "zremrangebyscore", args[1]);
    }
    reply_integer(&context->reply, removed);
}

/* A lexicographic range's two ends; false after answering Redis's error. */
static bool lex_range_parse(struct cmd_context *context, struct slice min, struct slice max,
                            struct store_zset_lex *lex_min, struct store_zset_lex *lex_max)
{
    if (!lex_end_parse(min, lex_min) || !lex_end_parse(max, lex_max)) {
        reply_error(&context->reply, REPLY_ERROR_MIN_MAX_NOT_LEX);
        return false;
    }
    KV_ASSERT(lex_min->infinite >= -1 && lex_min->infinite <= 1);
    return true;
}

CMD_HANDLER(cmd_zlexcount)
{
    KV_ASSERT(arg_count == 4);
    struct store_zset_lex lex_min;
    struct store_zset_lex lex_max;
    if (!lex_range_parse(context, args[2], args[3], &lex_min, &lex_max)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (status == STORE_OK) {
        store_zset_lex_ranks(context->store, found.key_ref, &lex_min, &lex_max, false, &first,
                             &end);
    }
    KV_ASSERT(first <= end);
    reply_integer(&context->reply, end - first);
}

CMD_HANDLER(cmd_zremrangebylex)
{
    KV_ASSERT(arg_count == 4);
    struct store_zset_lex lex_min;
    struct store_zset_lex lex_max;
    if (!lex_range_parse(context, args[2], args[3], &lex_min, &lex_max)) {
        return;
    }
    struct store_found found;
    if (!zset_write_find(context, args[1], &found)) {
        return;
    }
    uint32_t first = 0;
    uint32_t end = 0;
    if (found.exists) {
        store_zset_lex_ranks(context->store, found.key_ref, &lex_min, &lex_max, false, &first,
                             &end);
    }
    uint32_t removed =
        found.exists ? store_zset_remove_ranks(context->store, &found, first, end) : 0;
    reply_integer(&context->reply, removed);
    if (removed > 0) {
        zset_removed_notify(context->store, "zremrangebylex", args[1]);
    }
}

/* Where ZPOP* answers the members the store pops. */
struct pop_answer {
    struct reply *reply;
    bool pairs; /* a count was given: in RESP3 each member and score an array of 2 */
};

/* ZPOP*'s answer of each member the store pops: the member, then its score. */
static void pop_reply(void *context, struct slice member, double score)
{
    struct pop_answer *answer = context;
    if (answer->pairs) {
        reply_pair(answer->reply);
    }
    reply_bulk(answer->reply, member);
    reply_score(answer->reply, score);
}

static void zpop_generic(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                         bool max)
{
    KV_ASSERT(arg_count >= 2);
    if (arg_count > 3) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    int64_t count = 1;
    /* As Redis 7.0: one error for a count that is not a number and for a negative one. */
    if (arg_count == 3 && (!number_parse_int64(args[2].bytes, args[2].length, &count) ||
                           count < 0)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_POSITIVE);
        return;
    }
    struct store_found found;
    if (!zset_write_find(context, args[1], &found)) {
        return;
    }
    if (!found.exists || count == 0) {
        reply_array(&context->reply, 0);
        return;
    }
    uint32_t length = store_zset_count(context->store, found.key_ref);
    uint32_t wanted = (uint64_t)count < length ? (uint32_t)count : length;
    /* As Redis 7.0: without a count a flat member and score; with one, pairs. */
    struct pop_answer answer = {.reply = &context->reply, .pairs = arg_count == 3};
    answer.pairs ? reply_pairs(&context->reply, wanted) : reply_array(&context->reply, wanted * 2);
    uint32_t popped = store_zset_pop(context->store, &found, max, wanted, pop_reply, &answer);
    KV_ASSERT(popped == wanted);
    if (popped > 0) {
        zset_removed_notify(context->store, max ? "zpopmax" : "zpopmin", args[1]);
    }
}

CMD_HANDLER(cmd_zpopmin)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    zpop_generic(context, args, arg_count, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zpopmax)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    zpop_generic(context, args, arg_count, true);
    KV_ASSERT(context->reply.total > reply_before);
}

/* Whether a member is selected: every member without a pattern (ZSCAN's MATCH). */
static bool member_selected(const struct slice *pattern, struct slice member)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, member, false);
}

/* The members (and scores) of a sorted set matching a pattern, in order: ZSCAN's elements.
 * Two walks bounded by the set's count: count the matches, then answer them. */
static void reply_scan_members(struct cmd_context *context, uint32_t key_ref,
                               const struct slice *pattern)
{
    uint32_t count = store_zset_count(context->store, key_ref);
    KV_ASSERT(count > 0);
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    uint32_t selected = 0;
    store_zset_walk_start(context->store, key_ref, 0, false, &walk);
    /* Bounded by the set's count: the walk ends after its last member. */
    while (store_zset_walk_next(&walk, &member, &score)) {
        selected += member_selected(pattern, member) ? 1 : 0;
    }
    KV_ASSERT(selected <= count);
    reply_array(&context->reply, selected * 2);
    store_zset_walk_start(context->store, key_ref, 0, false, &walk);
    /* Bounded by the set's count, as above. */
    while (store_zset_walk_next(&walk, &member, &score)) {
        if (member_selected(pattern, member)) {
            reply_bulk(&context->reply, member);
            reply_score_bulk(&context->reply, score); /* ZSCAN's scores stay bulks in RESP3 */
        }
    }
}

/* A ZSCAN over a tree: the walk, and what its visits need. */
struct zscan_walk {
    struct cmd_scan_walk walk; /* first: cmd_scan_table hands it back to zscan_step */
    struct cmd_context *context;
    uint32_t key_ref;
    const struct slice *pattern;
};

static void zscan_visit(void *context, struct slice member, double score)
{
    struct zscan_walk *scan = context;
    bool selected = member_selected(scan->pattern, member);
    if (scan->walk.emit) {
        if (selected) {
            reply_bulk(&scan->context->reply, member);
            reply_score_bulk(&scan->context->reply, score); /* bulks in RESP3 too */
        }
    } else {
        scan->walk.met += 2; /* a member and its score, as Redis counts them */
        scan->walk.matched += selected ? 2u : 0u;
    }
}

static uint64_t zscan_step(struct cmd_scan_walk *walk, uint64_t cursor)
{
    struct zscan_walk *scan = (struct zscan_walk *)walk;
    return store_zset_scan(scan->context->store, scan->key_ref, cursor, zscan_visit, scan);
}

/* ZSCAN key cursor [MATCH pattern] [COUNT count]: a pack whole with cursor 0 (as Redis
 * answers a listpack); a tree from the cursor over its member dict, as Redis scans a
 * skiplist's dict (COUNT members, counted with their scores). */
CMD_HANDLER(cmd_zscan)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    uint32_t key_ref = 0;
    const struct slice *pattern = NULL;
    uint64_t cursor = 0;
    uint64_t count = 0;
    if (cmd_collection_scan(context, args, arg_count, STORE_TYPE_ZSET, &key_ref, &pattern,
                            &cursor, &count)) {
        if (store_zset_tree(context->store, key_ref)) {
            struct zscan_walk scan = {.walk = {.step = zscan_step}, .context = context,
                                      .key_ref = key_ref, .pattern = pattern};
            cmd_scan_table(context, &scan.walk, cursor, count, 2);
        } else {
            cmd_scan_head(context, 0);
            reply_scan_members(context, key_ref, pattern);
        }
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* A random number below `bound` (> 0) from the store's xorshift state. */
static uint64_t random_below(struct store *store, uint64_t bound)
{
    KV_ASSERT(bound > 0);
    KV_ASSERT(store->random_state != 0);
    uint64_t state = store->random_state;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    store->random_state = state;
    return state % bound;
}

/* The member (and score) at a rank. */
static struct slice member_at(const struct store *store, uint32_t key_ref, uint32_t rank,
                              double *score)
{
    struct store_zset_walk walk;
    struct slice member;
    store_zset_walk_start(store, key_ref, rank, false, &walk);
    bool found = store_zset_walk_next(&walk, &member, score);
    KV_ASSERT(found);
    return member;
}

/* One ZRANDMEMBER element: the member, with its score as a pair when asked. */
static void reply_random_member(struct cmd_context *context, struct slice member, double score,
                                bool with_scores)
{
    if (with_scores) {
        reply_pair(&context->reply);
    }
    reply_bulk(&context->reply, member);
    if (with_scores) {
        reply_score(&context->reply, score);
    }
}

/* `count` distinct members (count < the set's size) by Floyd's sampling: for each rank j
 * from size - count up, a random rank up to j, or j itself when that one was taken. Exactly
 * count draws; the taken members are kept in a result apart from the keyspace (count heap
 * nodes), given back before the end. False (the reply dropped) when the heap has no room. */
static bool reply_random_distinct(struct cmd_context *context, uint32_t key_ref, uint32_t size,
                                  uint32_t count, bool with_scores)
{
    KV_ASSERT(count < size);
    struct store *store = context->store;
    struct store_zset_temp taken;
    if (!store_zset_temp_start(store, &taken)) {
        return false;
    }
    with_scores ? reply_pairs(&context->reply, count) : reply_array(&context->reply, count);
    /* Bounded by count: one member per step. */
    for (uint32_t rank_max = size - count; rank_max < size; rank_max++) {
        double score = 0;
        double seen = 0;
        struct slice member =
            member_at(store, key_ref, (uint32_t)random_below(store, rank_max + 1ull), &score);
        if (store_zset_temp_score(store, &taken, member, &seen)) {
            member = member_at(store, key_ref, rank_max, &score);
        }
        if (!store_zset_temp_put(store, &taken, member, 0)) {
            store_zset_temp_abandon(store, &taken);
            return false;
        }
        reply_random_member(context, member, score, with_scores);
    }
    KV_ASSERT(store_zset_temp_count(store, &taken) == count);
    store_zset_temp_abandon(store, &taken);
    return true;
}

/* ZRANDMEMBER key count [WITHSCORES] once the key is found: Redis 7.0's cases. */
static void zrandmember_count(struct cmd_context *context, uint32_t key_ref, int64_t wanted,
                              bool with_scores)
{
    struct store *store = context->store;
    uint32_t size = store_zset_count(store, key_ref);
    KV_ASSERT(size > 0);
    uint64_t count = wanted < 0 ? (uint64_t)(-wanted) : (uint64_t)wanted;
    if (count == 0) {
        reply_array(&context->reply, 0);
    } else if (wanted < 0 || count == 1) {
        /* Drawn with repeats, in the order drawn. Bounded by count, as Redis's reply is. */
        with_scores ? reply_pairs(&context->reply, count) : reply_array(&context->reply, count);
        for (uint64_t index = 0; index < count; index++) {
            double score = 0;
            struct slice member =
                member_at(store, key_ref, (uint32_t)random_below(store, size), &score);
            reply_random_member(context, member, score, with_scores);
        }
    } else if (count >= size) {
        /* The whole set from its highest member down, as Redis's iterator walks it. */
        with_scores ? reply_pairs(&context->reply, size) : reply_array(&context->reply, size);
        struct store_zset_walk walk;
        struct slice member;
        double score = 0;
        store_zset_walk_start(store, key_ref, size - 1, true, &walk);
        /* Bounded by the set's count. */
        while (store_zset_walk_next(&walk, &member, &score)) {
            reply_random_member(context, member, score, with_scores);
        }
    } else if (!reply_random_distinct(context, key_ref, size, (uint32_t)count, with_scores)) {
        reply_truncate(&context->reply);
        reply_error(&context->reply, REPLY_ERROR_OOM);
    }
}

/* ZRANDMEMBER key [count [WITHSCORES]], with Redis 7.0's checks in its order. */
CMD_HANDLER(cmd_zrandmember)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    int64_t wanted = 0;
    if (arg_count >= 3) {
        if (!number_parse_int64(args[2].bytes, args[2].length, &wanted)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
        if (wanted == INT64_MIN) {
            reply_error(&context->reply, REPLY_ERROR_INT64_RANGE);
            return;
        }
        if (arg_count > 4 || (arg_count == 4 && !cmd_arg_is(args[3], "withscores"))) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        if (arg_count == 4 && (wanted < -(INT64_MAX / 2) || wanted > INT64_MAX / 2)) {
            reply_error(&context->reply, REPLY_ERROR_VALUE_RANGE);
            return;
        }
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_NOT_FOUND) {
        arg_count >= 3 ? reply_array(&context->reply, 0) : reply_null(&context->reply);
    } else if (status == STORE_OK && arg_count >= 3) {
        zrandmember_count(context, found.key_ref, wanted, arg_count == 4);
    } else if (status == STORE_OK) {
        uint32_t size = store_zset_count(context->store, found.key_ref);
        double score = 0;
        uint32_t rank = (uint32_t)random_below(context->store, size);
        reply_bulk(&context->reply, member_at(context->store, found.key_ref, rank, &score));
    }
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd zset_cmds[] = {
    {"zadd", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zadd},
    {"zincrby", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zincrby},
    {"zscore", 3, 1, 1, 1, 0, cmd_zscore},
    {"zmscore", -3, 1, 1, 1, 0, cmd_zmscore},
    {"zcard", 2, 1, 1, 1, 0, cmd_zcard},
    {"zcount", 4, 1, 1, 1, 0, cmd_zcount},
    {"zrank", 3, 1, 1, 1, 0, cmd_zrank},
    {"zrevrank", 3, 1, 1, 1, 0, cmd_zrevrank},
    {"zrem", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_zrem},
    {"zrange", -4, 1, 1, 1, 0, cmd_zrange},
    {"zrevrange", -4, 1, 1, 1, 0, cmd_zrevrange},
    {"zrangebyscore", -4, 1, 1, 1, 0, cmd_zrangebyscore},
    {"zrevrangebyscore", -4, 1, 1, 1, 0, cmd_zrevrangebyscore},
    {"zrangebylex", -4, 1, 1, 1, 0, cmd_zrangebylex},
    {"zrevrangebylex", -4, 1, 1, 1, 0, cmd_zrevrangebylex},
    {"zrangestore", -5, 1, 2, 1, CMD_FLAG_WRITE, cmd_zrangestore},
    {"zlexcount", 4, 1, 1, 1, 0, cmd_zlexcount},
    {"zremrangebylex", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zremrangebylex},
    {"zrandmember", -2, 1, 1, 1, 0, cmd_zrandmember},
    {"zremrangebyrank", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zremrangebyrank},
    {"zremrangebyscore", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zremrangebyscore},
    {"zpopmin", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_zpopmin},
    {"zpopmax", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_zpopmax},
    {"zscan", -3, 1, 1, 1, 0, cmd_zscan},
};

CMD_FAMILY(cmd_family_zset, "sorted-set", zset_cmds);
