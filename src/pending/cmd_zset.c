/*
 * Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZSCORE, ZMSCORE, ZCARD,
 * ZCOUNT, ZRANK, ZREVRANK, ZREM, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZREVRANGE,
 * ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZPOPMIN, ZPOPMAX, ZSCAN,
 * with Redis 7.0's replies, errors and number formats (scores "%.17g", "inf", "-inf"). Ranks
 * and range starts take O(log n) (zset.c); a write past kv's limits (a member longer than
 * key_size_max, more than list_length_max members) gets kv's error and changes nothing.
 * Each command finds its key once and hands the record to the write (store_zset.h).
 */
#include "cmd_handlers.h"

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

/* Redis's getDoubleFromObject: the whole argument is a double, not empty, no leading space,
 * no overflow or underflow, not NaN. */
static bool score_parse(struct slice arg, double *score)
{
    char text[512];
    if (arg.length == 0 || !arg_text(arg, text, sizeof(text)) || isspace((unsigned char)text[0]) ||
        memchr(arg.bytes, 0, arg.length) != NULL) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if ((uint32_t)(end - text) != arg.length || isnan(value) ||
        (errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL || value == 0))) {
        return false;
    }
    *score = value;
    KV_ASSERT(!isnan(*score));
    return true;
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
struct lex_end {
    struct slice bytes;
    bool exclusive;
    int infinite; /* -1 for "-", 1 for "+", 0 otherwise */
};

static bool lex_end_parse(struct slice arg, struct lex_end *end)
{
    *end = (struct lex_end){0};
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

static double node_score(const struct cmd_context *context, uint32_t node_index)
{
    KV_ASSERT(pool_is_used(&context->store->znodes, node_index));
    double score = zset_node(&context->store->ztree, node_index)->score;
    KV_ASSERT(!isnan(score)); /* ZADD and ZINCRBY refuse NaN */
    return score;
}

/* Replies bounds: members (and scores) of a whole set at most. */
static uint32_t members_bound(const struct cmd_context *context, uint64_t members, bool scores)
{
    uint64_t each = 15u + context->config->key_size_max + (scores ? 15u + PLAN_SCORE_BYTES_MAX : 0);
    uint64_t bytes = 16u + members * each + PLAN_REPLY_ERROR_BYTES;
    uint32_t bound = bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                              : context->plan->send_buffer_bytes;
    KV_ASSERT(bound <= context->plan->send_buffer_bytes);
    return bound;
}

static uint32_t whole_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t worst = members_bound(context, context->plan->list_length_max, true);
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    uint32_t bound =
        members_bound(context, cmd_length_bound(context, args[1], STORE_TYPE_ZSET), true);
    KV_ASSERT(bound <= worst);
    return bound;
}

static uint32_t zmscore_reply_max(const struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    (void)args;
    KV_ASSERT(arg_count >= 3);
    return members_bound(context, arg_count - 2u, false);
}

static uint32_t score_reply_max(const struct cmd_context *context, const struct slice *args,
                                uint32_t arg_count)
{
    (void)args;
    KV_ASSERT(arg_count >= 3);
    return members_bound(context, 1, true);
}

enum zadd_flag {
    ZADD_NX = 1u << 0,
    ZADD_XX = 1u << 1,
    ZADD_GT = 1u << 2,
    ZADD_LT = 1u << 3,
    ZADD_CH = 1u << 4,
    ZADD_INCR = 1u << 5,
};

/* ZADD's flags, then its pairs; false after answering Redis's error. */
static bool zadd_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       uint32_t *flags, uint32_t *first_pair)
{
    static const char *const names[] = {"nx", "xx", "gt", "lt", "ch", "incr"};
    KV_ASSERT(arg_count >= 4);
    KV_ASSERT(*flags == 0);
    uint32_t index = 2;
    for (; index < arg_count; index++) {
        uint32_t flag = 0;
        for (uint32_t name = 0; name < 6 && flag == 0; name++) {
            flag = cmd_arg_is(args[index], names[name]) ? 1u << name : 0;
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

/* New members a ZADD would add (absent from the set found and first in the command), for
 * kv's room check before anything changes. */
static uint32_t zadd_new_members(struct cmd_context *context, const struct store_found *found,
                                 const struct slice *args, uint32_t first_pair, uint32_t arg_count)
{
    KV_ASSERT(first_pair < arg_count);
    uint32_t added = 0;
    for (uint32_t pair = first_pair; pair < arg_count; pair += 2) {
        uint32_t node_index = 0;
        bool present = found->exists && store_zset_member(context->store, found->key_index,
                                                          args[pair + 1], &node_index);
        bool repeated = false;
        for (uint32_t earlier = first_pair; earlier < pair && !repeated; earlier += 2) {
            repeated = slice_equal(args[earlier + 1], args[pair + 1]);
        }
        added += !present && !repeated ? 1 : 0;
    }
    KV_ASSERT(added <= (arg_count - first_pair) / 2);
    return added;
}

/* ZADD ... INCR (and ZINCRBY), its limits checked: the one pair's new score, or null when
 * NX/XX/GT/LT kept it out. */
static void zadd_incr(struct cmd_context *context, const struct store_found *found,
                      const struct slice *args, uint32_t flags, uint32_t first_pair)
{
    KV_ASSERT(flags & ZADD_INCR);
    struct store *store = context->store;
    double increment = 0;
    bool parsed = score_parse(args[first_pair], &increment);
    KV_ASSERT(parsed);
    uint32_t node_index = 0;
    bool present = found->exists && store_zset_member(store, found->key_index,
                                                      args[first_pair + 1], &node_index);
    if ((present && (flags & ZADD_NX)) || (!present && (flags & ZADD_XX))) {
        reply_null(&context->reply); /* checked before the sum, as Redis does */
        return;
    }
    double current = present ? node_score(context, node_index) : 0;
    double score = present ? current + increment : increment;
    if (isnan(score)) {
        reply_error(&context->reply, REPLY_ERROR_SCORE_NAN);
        return;
    }
    bool blocked = (present && (flags & ZADD_GT) && score <= current) ||
                   (present && (flags & ZADD_LT) && score >= current);
    if (blocked) {
        reply_null(&context->reply);
        return;
    }
    if (!present) {
        uint32_t key_index =
            found->exists ? found->key_index : store_zset_create(store, found, args[1]);
        store_zset_insert(store, key_index, args[first_pair + 1], score);
    } else if (score != current) {
        store_zset_rescore(store, found->key_index, node_index, score);
    }
    reply_score(&context->reply, score);
}

/* ZADD's pairs, their limits checked: adds the new members and moves the present ones (as
 * NX/XX/GT/LT allow); answers how many were added (and changed, with CH). */
static void zadd_pairs(struct cmd_context *context, const struct store_found *found,
                       const struct slice *args, uint32_t arg_count, uint32_t flags,
                       uint32_t first_pair)
{
    KV_ASSERT(!(flags & ZADD_INCR));
    struct store *store = context->store;
    bool exists = found->exists;
    uint32_t key_index = found->key_index;
    int64_t added = 0;
    int64_t changed = 0;
    for (uint32_t pair = first_pair; pair < arg_count; pair += 2) {
        double score = 0;
        bool parsed = score_parse(args[pair], &score);
        KV_ASSERT(parsed);
        struct slice member = args[pair + 1];
        uint32_t node_index = 0;
        bool present = exists && store_zset_member(store, key_index, member, &node_index);
        if (present) {
            double current = node_score(context, node_index);
            bool blocked = (flags & ZADD_NX) || ((flags & ZADD_GT) && score <= current) ||
                           ((flags & ZADD_LT) && score >= current);
            if (!blocked && score != current) {
                store_zset_rescore(store, key_index, node_index, score);
                changed++;
            }
        } else if (!(flags & ZADD_XX)) {
            if (!exists) {
                key_index = store_zset_create(store, found, args[1]);
                exists = true;
            }
            store_zset_insert(store, key_index, member, score);
            added++;
        }
    }
    KV_ASSERT(added + changed <= (arg_count - first_pair) / 2);
    reply_integer(&context->reply, added + ((flags & ZADD_CH) ? changed : 0));
}

/* ZADD and ZINCRBY after their arguments were parsed: the checks, in Redis's order and then
 * kv's limits, before anything changes. */
static void zadd_generic(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                         uint32_t flags, uint32_t first_pair)
{
    KV_ASSERT(first_pair + 2 <= arg_count);
    struct store *store = context->store;
    struct store_found found;
    enum store_status status = store_find_typed(store, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    bool incr = (flags & ZADD_INCR) != 0;
    if (!found.exists && (flags & ZADD_XX)) {
        incr ? reply_null(&context->reply) : reply_integer(&context->reply, 0);
        return;
    }
    for (uint32_t pair = first_pair; pair < arg_count; pair += 2) {
        if (args[pair + 1].length > store->key_size_max) {
            reply_error(&context->reply, REPLY_ERROR_MEMBER_TOO_LONG);
            return;
        }
    }
    uint32_t added_max =
        (flags & ZADD_XX) ? 0 : zadd_new_members(context, &found, args, first_pair, arg_count);
    status = store_zset_room(store, &found, args[1], added_max);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    if (incr) {
        zadd_incr(context, &found, args, flags, first_pair);
    } else {
        zadd_pairs(context, &found, args, arg_count, flags, first_pair);
    }
}

CMD_HANDLER(cmd_zadd)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    uint32_t flags = 0;
    uint32_t first_pair = 0;
    if (zadd_parse(context, args, arg_count, &flags, &first_pair)) {
        zadd_generic(context, args, arg_count, flags, first_pair);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zincrby)
{
    KV_ASSERT(arg_count == 4);
    uint32_t reply_before = context->reply.length;
    double increment = 0;
    if (!score_parse(args[2], &increment)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_FLOAT);
        return;
    }
    /* ZINCRBY key increment member is ZADD key INCR increment member. */
    zadd_generic(context, args, arg_count, ZADD_INCR, 2);
    KV_ASSERT(context->reply.length > reply_before);
}

/* The znode of a member in the sorted set read (status from cmd_read), or false. */
static bool read_member(const struct cmd_context *context, enum store_status status,
                        const struct store_found *found, struct slice member,
                        uint32_t *node_index)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_ZSET);
    return status == STORE_OK &&
           store_zset_member(context->store, found->key_index, member, node_index);
}

CMD_HANDLER(cmd_zscore)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    uint32_t node_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (read_member(context, status, &found, args[2], &node_index)) {
        reply_score(&context->reply, node_score(context, node_index));
    } else if (status != STORE_WRONGTYPE) {
        reply_null(&context->reply);
    }
    KV_ASSERT(context->reply.length > reply_before);
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
    for (uint32_t index = 2; index < arg_count; index++) {
        uint32_t node_index = 0;
        if (read_member(context, status, &found, args[index], &node_index)) {
            reply_score(&context->reply, node_score(context, node_index));
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
        uint32_t count = status == STORE_OK ? store_zset_view(context->store, found.key_index).count
                                            : 0;
        KV_ASSERT(count <= context->store->list_length_max);
        reply_integer(&context->reply, count);
    }
}

/* The ranks [first, end) of the members a score range selects. */
static void score_range_ranks(const struct cmd_context *context, const struct zset *set,
                              const struct score_range *range, uint32_t *first, uint32_t *end)
{
    const struct zset_tree *tree = &context->store->ztree;
    *first = zset_count_below(tree, set, range->min, range->min_exclusive);
    *end = zset_count_below(tree, set, range->max, !range->max_exclusive);
    *end = *end < *first ? *first : *end;
    KV_ASSERT(*first <= *end);
    KV_ASSERT(*end <= set->count);
}

/* Whether a member is at or above a lexicographic range's minimum (`above`) or at or below
 * its maximum. */
static bool lex_within(struct slice member, const struct lex_end *end, bool above)
{
    KV_ASSERT(end->infinite >= -1);
    KV_ASSERT(end->infinite <= 1);
    if (end->infinite != 0) {
        return above ? end->infinite < 0 : end->infinite > 0;
    }
    uint32_t common = member.length < end->bytes.length ? member.length : end->bytes.length;
    int order = common > 0 ? memcmp(member.bytes, end->bytes.bytes, common) : 0;
    order = order != 0 ? order : (int)(member.length > end->bytes.length) -
                                     (int)(member.length < end->bytes.length);
    if (above) {
        return end->exclusive ? order > 0 : order >= 0;
    }
    return end->exclusive ? order < 0 : order <= 0;
}

/* The ranks [first, end) a lexicographic range selects, found as Redis 7.0 finds them in a
 * small sorted set (its scores need not be equal): the set's ends must reach the range, then
 * from the first member at or above the minimum (the last at or below the maximum, reversed)
 * the consecutive members within it. Bounded by the set's count. */
static void lex_range_ranks(const struct cmd_context *context, const struct zset *set,
                            const struct lex_end *min, const struct lex_end *max, bool reverse,
                            uint32_t *first, uint32_t *end)
{
    const struct zset_tree *tree = &context->store->ztree;
    const struct store *store = context->store;
    *first = *end = 0;
    if (set->count == 0) {
        return;
    }
    uint32_t head = zset_select(tree, set, 0);
    uint32_t tail = zset_select(tree, set, set->count - 1);
    if (!lex_within(store_zset_member_bytes(store, tail), min, true) ||
        !lex_within(store_zset_member_bytes(store, head), max, false)) {
        return;
    }
    uint32_t node = reverse ? tail : head;
    uint32_t rank = reverse ? set->count - 1 : 0;
    /* To the first member inside the range's near end. */
    while (node != ZSET_NONE &&
           !lex_within(store_zset_member_bytes(store, node), reverse ? max : min, !reverse)) {
        node = reverse ? zset_prev(tree, node) : zset_next(tree, node);
        rank = reverse ? rank - 1 : rank + 1;
    }
    if (node == ZSET_NONE ||
        !lex_within(store_zset_member_bytes(store, node), reverse ? min : max, reverse)) {
        return;
    }
    uint32_t count = 0;
    /* Then the consecutive members inside its far end. */
    while (node != ZSET_NONE &&
           lex_within(store_zset_member_bytes(store, node), reverse ? min : max, reverse)) {
        count++;
        node = reverse ? zset_prev(tree, node) : zset_next(tree, node);
    }
    *first = reverse ? rank + 1 - count : rank;
    *end = *first + count;
    KV_ASSERT(*end <= set->count);
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
        struct zset set = store_zset_view(context->store, found.key_index);
        score_range_ranks(context, &set, &range, &first, &end);
    }
    KV_ASSERT(first <= end);
    reply_integer(&context->reply, end - first);
}

static void zrank_generic(struct cmd_context *context, const struct slice *args, bool reverse)
{
    struct store_found found;
    uint32_t node_index = 0;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_ZSET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (!read_member(context, status, &found, args[2], &node_index)) {
        reply_null(&context->reply);
        return;
    }
    uint32_t rank = zset_rank(&context->store->ztree, node_index);
    uint32_t count = store_zset_view(context->store, found.key_index).count;
    KV_ASSERT(rank < count);
    reply_integer(&context->reply, reverse ? count - 1 - rank : rank);
}

CMD_HANDLER(cmd_zrank)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    zrank_generic(context, args, false);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zrevrank)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    zrank_generic(context, args, true);
    KV_ASSERT(context->reply.length > reply_before);
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
    int64_t removed = 0;
    /* Bounded by the members named; the key goes with its last member. */
    for (uint32_t index = 2; index < arg_count && status == STORE_OK; index++) {
        uint32_t node_index = 0;
        if (store_zset_member(context->store, found.key_index, args[index], &node_index)) {
            bool last = store_zset_view(context->store, found.key_index).count == 1;
            store_zset_remove_node(context->store, &found, node_index);
            removed++;
            status = last ? STORE_NOT_FOUND : STORE_OK;
        }
    }
    KV_ASSERT(removed <= arg_count - 2);
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
static void reply_ranks(struct cmd_context *context, const struct zset *set, uint32_t first,
                        uint32_t end, const struct range_request *request)
{
    KV_ASSERT(first <= end);
    KV_ASSERT(end <= set->count);
    uint64_t available = end - first;
    uint64_t skip = request->offset > 0 ? (uint64_t)request->offset : 0;
    if (request->offset < 0) {
        skip = available; /* Redis answers nothing for a negative offset */
    }
    uint64_t count = skip >= available ? 0 : available - skip;
    if (request->limit >= 0 && (uint64_t)request->limit < count) {
        count = (uint64_t)request->limit;
    }
    reply_array(&context->reply, (uint32_t)(count * (request->with_scores ? 2u : 1u)));
    if (count == 0) {
        return;
    }
    const struct zset_tree *tree = &context->store->ztree;
    uint32_t rank = request->reverse ? end - 1 - (uint32_t)skip : first + (uint32_t)skip;
    uint32_t node_index = zset_select(tree, set, rank);
    /* Bounded by count; each step to a neighbour. */
    for (uint64_t index = 0; index < count; index++) {
        reply_bulk(&context->reply, store_zset_member_bytes(context->store, node_index));
        if (request->with_scores) {
            reply_score(&context->reply, node_score(context, node_index));
        }
        node_index = request->reverse ? zset_prev(tree, node_index) : zset_next(tree, node_index);
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
        if (cmd_arg_is(args[index], "withscores")) {
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
    struct lex_end lex_min;    /* RANGE_LEX */
    struct lex_end lex_max;
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
        reply_array(&context->reply, 0);
    }
    if (status != STORE_OK) {
        return;
    }
    struct zset set = store_zset_view(context->store, found.key_index);
    uint32_t first = 0;
    uint32_t end = 0;
    if (request.kind == RANGE_RANK) {
        rank_range(bounds.start, bounds.stop, set.count, request.reverse, &first, &end);
    } else if (request.kind == RANGE_SCORE) {
        score_range_ranks(context, &set, &bounds.scores, &first, &end);
    } else {
        lex_range_ranks(context, &set, &bounds.lex_min, &bounds.lex_max, request.reverse, &first,
                        &end);
    }
    KV_ASSERT(first <= end);
    reply_ranks(context, &set, first, end, &request);
}

static const struct range_request range_defaults = {.kind = RANGE_RANK, .limit = -1};

CMD_HANDLER(cmd_zrange)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    zrange_generic(context, args, arg_count, range_defaults, false);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zrevrange)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    struct range_request request = range_defaults;
    request.reverse = true;
    zrange_generic(context, args, arg_count, request, true);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zrangebyscore)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    struct range_request request = range_defaults;
    request.kind = RANGE_SCORE;
    zrange_generic(context, args, arg_count, request, true);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zrevrangebyscore)
{
    KV_ASSERT(arg_count >= 4);
    uint32_t reply_before = context->reply.length;
    struct range_request request = range_defaults;
    request.kind = RANGE_SCORE;
    request.reverse = true;
    zrange_generic(context, args, arg_count, request, true);
    KV_ASSERT(context->reply.length > reply_before);
}

/* Removes the members of ranks [first, end) of the sorted set found: the node at `first`
 * each time. Returns how many. */
static uint32_t remove_ranks(struct cmd_context *context, const struct store_found *found,
                             uint32_t first, uint32_t end)
{
    KV_ASSERT(first <= end);
    KV_ASSERT(end <= store_zset_view(context->store, found->key_index).count);
    /* Bounded by end - first; the key goes with its last member. */
    for (uint32_t removed = 0; removed < end - first; removed++) {
        struct zset set = store_zset_view(context->store, found->key_index);
        store_zset_remove_node(context->store, found,
                               zset_select(&context->store->ztree, &set, first));
    }
    return end - first;
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
    KV_ASSERT(!found->exists || store_zset_view(context->store, found->key_index).count > 0);
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
        rank_range(start, stop, store_zset_view(context->store, found.key_index).count, false,
                   &first, &end);
    }
    reply_integer(&context->reply, found.exists ? remove_ranks(context, &found, first, end) : 0);
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
        struct zset set = store_zset_view(context->store, found.key_index);
        score_range_ranks(context, &set, &range, &first, &end);
    }
    reply_integer(&context->reply, found.exists ? remove_ranks(context, &found, first, end) : 0);
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
    uint32_t length = store_zset_view(context->store, found.key_index).count;
    uint32_t popped = (uint64_t)count < length ? (uint32_t)count : length;
    KV_ASSERT(popped <= length);
    reply_array(&context->reply, popped * 2);
    /* Bounded by the set's count; the key goes with its last member. */
    for (uint32_t index = 0; index < popped; index++) {
        struct zset set = store_zset_view(context->store, found.key_index);
        uint32_t node_index = zset_select(&context->store->ztree, &set, max ? set.count - 1 : 0);
        reply_bulk(&context->reply, store_zset_member_bytes(context->store, node_index));
        reply_score(&context->reply, node_score(context, node_index));
        store_zset_remove_node(context->store, &found, node_index);
    }
}

CMD_HANDLER(cmd_zpopmin)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t reply_before = context->reply.length;
    zpop_generic(context, args, arg_count, false);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_zpopmax)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t reply_before = context->reply.length;
    zpop_generic(context, args, arg_count, true);
    KV_ASSERT(context->reply.length > reply_before);
}

static uint32_t zpop_reply_max(const struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    int64_t count = 1;
    if (arg_count == 3 &&
        (!number_parse_int64(args[2].bytes, args[2].length, &count) || count < 0)) {
        count = 0;
    }
    uint64_t length_max = context->plan->list_length_max;
    uint64_t members = (uint64_t)count < length_max ? (uint64_t)count : length_max;
    KV_ASSERT(members <= context->plan->list_length_max);
    return members_bound(context, members, true);
}

/* Whether a member is selected: every member without a pattern (ZSCAN's MATCH). */
static bool member_selected(const struct slice *pattern, struct slice member)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, member, false);
}

/* The members (and scores) of a sorted set matching a pattern, in order: ZSCAN's elements.
 * Two walks bounded by the set's count: count the matches, then answer them. */
static void reply_scan_members(struct cmd_context *context, uint32_t key_index,
                               const struct slice *pattern)
{
    struct zset set = store_zset_view(context->store, key_index);
    const struct zset_tree *tree = &context->store->ztree;
    KV_ASSERT(set.count > 0);
    uint32_t selected = 0;
    uint32_t node_index = zset_select(tree, &set, 0);
    for (uint32_t step = 0; step < set.count; step++) {
        selected += member_selected(pattern, store_zset_member_bytes(context->store, node_index))
                        ? 1
                        : 0;
        node_index = zset_next(tree, node_index);
    }
    KV_ASSERT(node_index == ZSET_NONE);
    reply_array(&context->reply, selected * 2);
    node_index = zset_select(tree, &set, 0);
    for (uint32_t step = 0; step < set.count; step++) {
        struct slice member = store_zset_member_bytes(context->store, node_index);
        if (member_selected(pattern, member)) {
            reply_bulk(&context->reply, member);
            reply_score(&context->reply, node_score(context, node_index));
        }
        node_index = zset_next(tree, node_index);
    }
}

/* ZSCAN key cursor [MATCH pattern] [COUNT count]: the whole set at once, cursor 0. */
CMD_HANDLER(cmd_zscan)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    uint32_t key_index = 0;
    const struct slice *pattern = NULL;
    if (cmd_collection_scan(context, args, arg_count, STORE_TYPE_ZSET, &key_index, &pattern)) {
        reply_scan_members(context, key_index, pattern);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

static const struct cmd zset_cmds[] = {
    {"zadd", -4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, score_reply_max, cmd_zadd},
    {"zincrby", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, score_reply_max, cmd_zincrby},
    {"zscore", 3, 1, 1, 1, 0, score_reply_max, cmd_zscore},
    {"zmscore", -3, 1, 1, 1, 0, zmscore_reply_max, cmd_zmscore},
    {"zcard", 2, 1, 1, 1, 0, cmd_reply_small, cmd_zcard},
    {"zcount", 4, 1, 1, 1, 0, cmd_reply_small, cmd_zcount},
    {"zrank", 3, 1, 1, 1, 0, cmd_reply_small, cmd_zrank},
    {"zrevrank", 3, 1, 1, 1, 0, cmd_reply_small, cmd_zrevrank},
    {"zrem", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_zrem},
    {"zrange", -4, 1, 1, 1, 0, whole_reply_max, cmd_zrange},
    {"zrevrange", -4, 1, 1, 1, 0, whole_reply_max, cmd_zrevrange},
    {"zrangebyscore", -4, 1, 1, 1, 0, whole_reply_max, cmd_zrangebyscore},
    {"zrevrangebyscore", -4, 1, 1, 1, 0, whole_reply_max, cmd_zrevrangebyscore},
    {"zremrangebyrank", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small,
     cmd_zremrangebyrank},
    {"zremrangebyscore", 4, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small,
     cmd_zremrangebyscore},
    {"zpopmin", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, zpop_reply_max, cmd_zpopmin},
    {"zpopmax", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, zpop_reply_max, cmd_zpopmax},
    {"zscan", -3, 1, 1, 1, 0, whole_reply_max, cmd_zscan},
};

CMD_FAMILY(cmd_family_zset, "sorted-set", zset_cmds);
