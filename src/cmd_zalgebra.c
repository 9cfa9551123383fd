/*
 * Sorted-set algebra: ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE (WEIGHTS,
 * AGGREGATE SUM|MIN|MAX, WITHSCORES), ZINTERCARD (LIMIT) and SINTERCARD (LIMIT), with Redis
 * 7.0's checks in its order (numkeys, the keys' types, then the options), replies and
 * arithmetic. Plain sets are inputs too, every member scoring 1.
 *
 * As Redis does, the inputs (but ZDIFF's) are taken smallest first (a stable sort by
 * cardinality), which fixes the order scores are summed in, and a product that is NaN
 * (inf * 0) or a sum that is (inf + -inf) counts as 0. The result is built apart from the
 * keyspace in a heap root of the large sorted-set encoding (store_zset_temp), read in
 * (score, member) order for a reply or put in place of the destination, and given back
 * before the command ends. The list of inputs is one heap allocation, given back too. Any
 * allocation refused answers Redis's OOM error with the store unchanged. Work is bounded by
 * the inputs' sizes: each input is walked at most once, each lookup O(1) or O(log n).
 */
#include "cmd_handlers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "number.h"
#include "store_set.h"
#include "store_zset.h"

/* The operation. */
enum zalg_op {
    ZALG_UNION,
    ZALG_INTER,
    ZALG_DIFF,
};

/* AGGREGATE's choices. */
enum zalg_aggregate {
    ZALG_SUM,
    ZALG_MIN,
    ZALG_MAX,
};

/* One input key as found. */
struct zalg_source {
    double weight;     /* WEIGHTS, 1 by default */
    uint32_t key_ref;  /* the key, when type is not STORE_TYPE_ANY */
    uint32_t count;    /* its members; 0 when absent */
    uint8_t type;      /* STORE_TYPE_SET, STORE_TYPE_ZSET, or STORE_TYPE_ANY: absent */
};

/* What a command asks for. */
struct zalg_request {
    uint8_t op;               /* enum zalg_op */
    uint8_t aggregate;        /* enum zalg_aggregate */
    bool with_scores;
    bool cardinality_only;    /* ZINTERCARD */
    int64_t limit;            /* ZINTERCARD's LIMIT; 0: none */
    const char *name;         /* the command, for the numkeys error */
    uint32_t numkeys_index;   /* where numkeys is */
    bool store;               /* args[1] is the destination */
};

/* A weight, as Redis's getDoubleFromObject reads it (number.h). */
static bool weight_parse(struct slice arg, double *value)
{
    return number_parse_double(arg.bytes, arg.length, value);
}

/* Redis's zunionInterAggregate: a sum that is NaN counts as 0; MIN and MAX keep the target
 * against a NaN value. */
static double zalg_aggregate(uint8_t aggregate, double target, double value)
{
    KV_ASSERT(!isnan(target));
    if (aggregate == ZALG_SUM) {
        double sum = target + value;
        return isnan(sum) ? 0.0 : sum;
    }
    if (aggregate == ZALG_MIN) {
        return value < target ? value : target;
    }
    KV_ASSERT(aggregate == ZALG_MAX);
    return value > target ? value : target;
}

/* A walk over one input's members, whichever its type. */
struct zalg_walk {
    const struct zalg_source *source;
    struct store_set_cursor set;
    struct store_zset_walk zset;
};

static void zalg_walk_start(const struct store *store, const struct zalg_source *source,
                            struct zalg_walk *walk)
{
    KV_ASSERT(source->count > 0);
    walk->source = source;
    if (source->type == STORE_TYPE_SET) {
        store_set_cursor_start(store, source->key_ref, &walk->set);
    } else {
        KV_ASSERT(source->type == STORE_TYPE_ZSET);
        store_zset_walk_start(store, source->key_ref, 0, false, &walk->zset);
    }
}

/* The walk's next member and its own score (1 in a set); false past the last. */
static bool zalg_walk_next(const struct store *store, struct zalg_walk *walk,
                           struct slice *member, double *score)
{
    if (walk->source->type == STORE_TYPE_SET) {
        *score = 1.0;
        return store_set_cursor_next(store, &walk->set, member);
    }
    return store_zset_walk_next(&walk->zset, member, score);
}

/* A member's own score in an input (1 in a set); false when it is not there. */
static bool zalg_source_score(const struct store *store, const struct zalg_source *source,
                              struct slice member, double *score)
{
    if (source->type == STORE_TYPE_ANY) {
        return false;
    }
    if (source->type == STORE_TYPE_SET) {
        *score = 1.0;
        return store_set_contains(store, source->key_ref, member);
    }
    KV_ASSERT(source->type == STORE_TYPE_ZSET);
    return store_zset_score(store, source->key_ref, member, score);
}

/* A stable merge sort of the inputs by cardinality, smallest first (Redis's qsort by
 * zuiLength, which glibc sorts stably), using `spare` (as many entries) for the merges.
 * Bottom-up: log2(count) passes, each bounded by count. */
static void zalg_sort(struct zalg_source *sources, struct zalg_source *spare, uint32_t count)
{
    struct zalg_source *from = sources;
    struct zalg_source *to = spare;
    /* Bounded: width doubles until it covers count (at most 32 passes). */
    for (uint64_t width = 1; width < count; width *= 2) {
        /* Bounded by count: each pair of runs merged once. */
        for (uint64_t left = 0; left < count; left += 2 * width) {
            uint64_t middle = left + width < count ? left + width : count;
            uint64_t right = left + 2 * width < count ? left + 2 * width : count;
            uint64_t a = left;
            uint64_t b = middle;
            /* Bounded by the two runs' lengths. */
            for (uint64_t out = left; out < right; out++) {
                bool take_a = a < middle && (b >= right || from[a].count <= from[b].count);
                to[out] = take_a ? from[a++] : from[b++];
            }
        }
        struct zalg_source *swap = from;
        from = to;
        to = swap;
    }
    if (from != sources) {
        memcpy(sources, from, (size_t)count * sizeof(*sources));
    }
    KV_ASSERT(count == 0 || sources[0].count <= sources[count - 1].count);
}

/* The union into temp. False: no room. */
static bool zalg_union(struct store *store, const struct zalg_request *request,
                       const struct zalg_source *sources, uint32_t count,
                       struct store_zset_temp *temp)
{
    /* Bounded by the inputs, and each walk by its input's members. */
    for (uint32_t index = 0; index < count; index++) {
        if (sources[index].count == 0) {
            continue;
        }
        struct zalg_walk walk;
        struct slice member;
        double own = 0;
        zalg_walk_start(store, &sources[index], &walk);
        while (zalg_walk_next(store, &walk, &member, &own)) {
            double score = sources[index].weight * own;
            score = isnan(score) ? 0.0 : score;
            double current = 0;
            if (store_zset_temp_score(store, temp, member, &current)) {
                score = zalg_aggregate(request->aggregate, current, score);
            }
            if (!store_zset_temp_put(store, temp, member, score)) {
                return false;
            }
        }
    }
    return true;
}

/* The intersection into temp, or only its size into *cardinality (up to LIMIT). False: no
 * room. */
static bool zalg_inter(struct store *store, const struct zalg_request *request,
                       const struct zalg_source *sources, uint32_t count,
                       struct store_zset_temp *temp, uint64_t *cardinality)
{
    KV_ASSERT(count >= 1);
    *cardinality = 0;
    if (sources[0].count == 0) {
        return true; /* the smallest is empty: so is the result */
    }
    struct zalg_walk walk;
    struct slice member;
    double own = 0;
    zalg_walk_start(store, &sources[0], &walk);
    /* Bounded by the smallest input's members; the inner loop by the inputs. */
    while (zalg_walk_next(store, &walk, &member, &own)) {
        double score = sources[0].weight * own;
        score = isnan(score) ? 0.0 : score;
        uint32_t index = 1;
        for (; index < count; index++) {
            double value = 0;
            if (!zalg_source_score(store, &sources[index], member, &value)) {
                break;
            }
            score = zalg_aggregate(request->aggregate, score, value * sources[index].weight);
        }
        if (index < count) {
            continue;
        }
        if (request->cardinality_only) {
            (*cardinality)++;
            if (request->limit > 0 && *cardinality >= (uint64_t)request->limit) {
                break;
            }
        } else if (!store_zset_temp_put(store, temp, member, score)) {
            return false;
        }
    }
    return true;
}

/* The first input's members that no other input holds, with their own scores. False: no
 * room. */
static bool zalg_diff(struct store *store, const struct zalg_source *sources, uint32_t count,
                      struct store_zset_temp *temp)
{
    KV_ASSERT(count >= 1);
    if (sources[0].count == 0) {
        return true;
    }
    struct zalg_walk walk;
    struct slice member;
    double own = 0;
    zalg_walk_start(store, &sources[0], &walk);
    /* Bounded by the first input's members; the inner loop by the inputs. */
    while (zalg_walk_next(store, &walk, &member, &own)) {
        bool elsewhere = false;
        for (uint32_t index = 1; index < count && !elsewhere; index++) {
            double value = 0;
            elsewhere = zalg_source_score(store, &sources[index], member, &value);
        }
        if (!elsewhere && !store_zset_temp_put(store, temp, member, own)) {
            return false;
        }
    }
    return true;
}

/* Reads numkeys (a positive count the arguments hold); false after answering the error. */
static bool zalg_numkeys(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, const struct zalg_request *request,
                         uint32_t *key_count)
{
    int64_t numkeys = 0;
    struct slice text = args[request->numkeys_index];
    if (!number_parse_int64(text.bytes, text.length, &numkeys)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (numkeys < 1) {
        reply_error_format(&context->reply, REPLY_ERROR_ZSET_KEYS_NEEDED, request->name);
        return false;
    }
    if ((uint64_t)numkeys > arg_count - (request->numkeys_index + 1)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    *key_count = (uint32_t)numkeys;
    KV_ASSERT(*key_count <= arg_count);
    return true;
}

/* Finds each input (a sorted set, a set, or absent), as Redis's lookupKeyRead; false after
 * answering WRONGTYPE. */
static bool zalg_find(struct cmd_context *context, const struct slice *keys, uint32_t key_count,
                      struct zalg_source *sources)
{
    /* Bounded by the keys named. */
    for (uint32_t index = 0; index < key_count; index++) {
        struct store_found found;
        sources[index] = (struct zalg_source){.weight = 1.0, .type = STORE_TYPE_ANY};
        if (!cmd_read_any(context, keys[index], &found)) {
            continue;
        }
        if (found.type != STORE_TYPE_ZSET && found.type != STORE_TYPE_SET) {
            reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
            return false;
        }
        sources[index].type = found.type;
        sources[index].key_ref = found.key_ref;
        uint64_t members = store_length(context->store, found.key_ref);
        KV_ASSERT(members > 0 && members <= UINT32_MAX);
        sources[index].count = (uint32_t)members;
    }
    return true;
}

/* The options after the keys, in Redis's order of checks; false after answering. */
static bool zalg_options(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, uint32_t index, struct zalg_request *request,
                         struct zalg_source *sources, uint32_t key_count)
{
    bool algebra = request->op != ZALG_DIFF && !request->cardinality_only;
    /* Bounded by the arguments: each branch consumes at least one. */
    while (index < arg_count) {
        uint32_t remaining = arg_count - index;
        if (algebra && remaining >= key_count + 1 && cmd_arg_is(args[index], "weights")) {
            index++;
            /* Bounded by the keys. */
            for (uint32_t key = 0; key < key_count; key++, index++) {
                if (!weight_parse(args[index], &sources[key].weight)) {
                    reply_error(&context->reply, REPLY_ERROR_WEIGHT_NOT_FLOAT);
                    return false;
                }
            }
        } else if (algebra && remaining >= 2 && cmd_arg_is(args[index], "aggregate")) {
            struct slice which = args[index + 1];
            if (cmd_arg_is(which, "sum")) {
                request->aggregate = ZALG_SUM;
            } else if (cmd_arg_is(which, "min")) {
                request->aggregate = ZALG_MIN;
            } else if (cmd_arg_is(which, "max")) {
                request->aggregate = ZALG_MAX;
            } else {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return false;
            }
            index += 2;
        } else if (!request->store && !request->cardinality_only &&
                   cmd_arg_is(args[index], "withscores")) {
            request->with_scores = true;
            index++;
        } else if (request->cardinality_only && remaining >= 2 &&
                   cmd_arg_is(args[index], "limit")) {
            int64_t limit = 0;
            /* As Redis's getPositiveLongFromObjectOrReply: one error for both. */
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &limit) ||
                limit < 0) {
                reply_error(&context->reply, REPLY_ERROR_LIMIT_NEGATIVE);
                return false;
            }
            request->limit = limit;
            index += 2;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    KV_ASSERT(index == arg_count);
    return true;
}

/* The result's reply: members in (score, member) order, with scores as pairs in RESP3. */
static void zalg_reply(struct cmd_context *context, const struct zalg_request *request,
                       const struct store_zset_temp *temp)
{
    uint32_t count = store_zset_temp_count(context->store, temp);
    request->with_scores ? reply_pairs(&context->reply, count)
                         : reply_array(&context->reply, count);
    if (count == 0) {
        return;
    }
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    store_zset_temp_walk_start(context->store, temp, &walk);
    uint32_t written = 0;
    /* Bounded by the result's count. */
    while (store_zset_walk_next(&walk, &member, &score)) {
        if (request->with_scores) {
            reply_pair(&context->reply);
        }
        reply_bulk(&context->reply, member);
        if (request->with_scores) {
            reply_score(&context->reply, score);
        }
        written++;
    }
    KV_ASSERT(written == count);
}

/* Computes into temp (or the cardinality); false: no room. */
static bool zalg_compute(struct store *store, const struct zalg_request *request,
                         struct zalg_source *sources, uint32_t key_count,
                         struct store_zset_temp *temp, uint64_t *cardinality)
{
    *cardinality = 0;
    if (request->op == ZALG_UNION) {
        return zalg_union(store, request, sources, key_count, temp);
    }
    if (request->op == ZALG_INTER) {
        return zalg_inter(store, request, sources, key_count, temp, cardinality);
    }
    KV_ASSERT(request->op == ZALG_DIFF);
    return zalg_diff(store, sources, key_count, temp);
}

/* Everything after the parse: the computation, then the reply or the store. */
static void zalg_run(struct cmd_context *context, const struct slice *args,
                     const struct zalg_request *request, struct zalg_source *sources,
                     uint32_t key_count)
{
    struct store *store = context->store;
    struct store_zset_temp temp;
    if (!store_zset_temp_start(store, &temp)) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    uint64_t cardinality = 0;
    if (!zalg_compute(store, request, sources, key_count, &temp, &cardinality)) {
        store_zset_temp_abandon(store, &temp);
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    if (request->cardinality_only) {
        store_zset_temp_abandon(store, &temp);
        reply_integer(&context->reply, (int64_t)cardinality);
        return;
    }
    if (!request->store) {
        zalg_reply(context, request, &temp);
        store_zset_temp_abandon(store, &temp);
        return;
    }
    uint32_t count = store_zset_temp_count(store, &temp);
    struct store_found target;
    (void)store_find_typed(store, args[1], STORE_TYPE_ANY, &target);
    bool existed = target.exists; /* the store's call rewrites the record */
    enum store_status status = store_zset_temp_store(store, &target, args[1], &temp);
    KV_ASSERT(temp.big_ref == HEAP_REF_NONE);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_integer(&context->reply, count);
    /* Redis's events: the store's, or "del" when an empty result removed the destination. */
    static const char *const events[] = {"zunionstore", "zinterstore", "zdiffstore"};
    KV_ASSERT(request->op < sizeof(events) / sizeof(events[0]));
    if (count > 0) {
        notify_event(NOTIFY_ZSET, events[request->op], args[1]);
    } else if (existed) {
        notify_event(NOTIFY_GENERIC, "del", args[1]);
    }
}

/* The whole family: numkeys, the keys, the options, then the work. */
static void zalg_generic(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, struct zalg_request request)
{
    uint32_t key_count = 0;
    if (!zalg_numkeys(context, args, arg_count, &request, &key_count)) {
        return;
    }
    /* The inputs and the sort's spare half: one heap allocation, given back below. */
    struct heap *heap = context->store->heap;
    struct zalg_source *sources = heap_alloc(heap, 2ull * key_count * sizeof(*sources));
    if (sources == NULL) {
        reply_error(&context->reply, REPLY_ERROR_OOM);
        return;
    }
    const struct slice *keys = args + request.numkeys_index + 1;
    if (zalg_find(context, keys, key_count, sources) &&
        zalg_options(context, args, arg_count, request.numkeys_index + 1 + key_count, &request,
                     sources, key_count)) {
        if (request.op != ZALG_DIFF) {
            zalg_sort(sources, sources + key_count, key_count);
        }
        zalg_run(context, args, &request, sources, key_count);
    }
    heap_release(heap, sources);
}

CMD_HANDLER(cmd_zunion)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){.op = ZALG_UNION, .name = "zunion", .numkeys_index = 1});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zinter)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){.op = ZALG_INTER, .name = "zinter", .numkeys_index = 1});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zdiff)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){.op = ZALG_DIFF, .name = "zdiff", .numkeys_index = 1});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zintercard)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){.op = ZALG_INTER,
                                       .name = "zintercard",
                                       .numkeys_index = 1,
                                       .cardinality_only = true});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zunionstore)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){
                     .op = ZALG_UNION, .name = "zunionstore", .numkeys_index = 2, .store = true});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zinterstore)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){
                     .op = ZALG_INTER, .name = "zinterstore", .numkeys_index = 2, .store = true});
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_zdiffstore)
{
    KV_ASSERT(arg_count >= 4);
    uint64_t reply_before = context->reply.total;
    zalg_generic(context, args, arg_count,
                 (struct zalg_request){
                     .op = ZALG_DIFF, .name = "zdiffstore", .numkeys_index = 2, .store = true});
    KV_ASSERT(context->reply.total > reply_before);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit]: Redis 7.0's checks (numkeys, the options,
 * then the keys), then the members of the smallest set found in every other one, up to the
 * limit. Needs no memory: only lookups. */
CMD_HANDLER(cmd_sintercard)
{
    KV_ASSERT(arg_count >= 3);
    int64_t numkeys = 0;
    if (!number_parse_int64(args[1].bytes, args[1].length, &numkeys) || numkeys < 1) {
        reply_error(&context->reply, REPLY_ERROR_NUMKEYS_NOT_POSITIVE);
        return;
    }
    if ((uint64_t)numkeys > arg_count - 2) {
        reply_error(&context->reply, REPLY_ERROR_NUMKEYS_TOO_MANY);
        return;
    }
    uint32_t key_count = (uint32_t)numkeys;
    int64_t limit = 0;
    /* Bounded by the arguments: each option consumes two. */
    for (uint32_t index = 2 + key_count; index < arg_count; index++) {
        if (!cmd_arg_is(args[index], "limit") || index + 1 >= arg_count) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        index++;
        /* As Redis's getPositiveLongFromObjectOrReply: one error for both. */
        if (!number_parse_int64(args[index].bytes, args[index].length, &limit) || limit < 0) {
            reply_error(&context->reply, REPLY_ERROR_LIMIT_NEGATIVE);
            return;
        }
    }
    /* Redis's sinterGenericCommand: every key looked up (a missing one makes the result
     * empty, but a later key of another type still answers WRONGTYPE), the smallest walked. */
    const struct slice *keys = args + 2;
    uint32_t smallest = 0;
    uint64_t smallest_count = UINT64_MAX;
    bool empty = false;
    /* Bounded by the keys named. */
    for (uint32_t index = 0; index < key_count; index++) {
        struct store_found found;
        enum store_status status = cmd_read(context, keys[index], STORE_TYPE_SET, &found);
        if (status == STORE_WRONGTYPE) {
            return;
        }
        if (status == STORE_NOT_FOUND) {
            empty = true;
            continue;
        }
        uint64_t count = store_set_count(context->store, found.key_ref);
        if (count < smallest_count) {
            smallest_count = count;
            smallest = index;
        }
    }
    if (empty) {
        reply_integer(&context->reply, 0);
        return;
    }
    uint32_t refs_checked = 0;
    uint32_t smallest_ref = 0;
    bool found_smallest = store_find(context->store, keys[smallest], &smallest_ref);
    KV_ASSERT(found_smallest);
    struct store_set_cursor cursor;
    struct slice member;
    uint64_t cardinality = 0;
    store_set_cursor_start(context->store, smallest_ref, &cursor);
    /* Bounded by the smallest set's members; the inner loop by the keys. */
    while (store_set_cursor_next(context->store, &cursor, &member)) {
        bool everywhere = true;
        for (uint32_t index = 0; index < key_count && everywhere; index++) {
            uint32_t key_ref = 0;
            if (index == smallest) {
                continue;
            }
            bool present = store_find(context->store, keys[index], &key_ref);
            KV_ASSERT(present);
            everywhere = store_set_contains(context->store, key_ref, member);
            refs_checked++;
        }
        if (everywhere) {
            cardinality++;
            if (limit > 0 && cardinality >= (uint64_t)limit) {
                break;
            }
        }
    }
    KV_ASSERT(refs_checked <= smallest_count * key_count);
    reply_integer(&context->reply, (int64_t)cardinality);
}

static const struct cmd zalgebra_cmds[] = {
    {"zunion", -3, 0, 0, 0, 0, cmd_zunion},
    {"zinter", -3, 0, 0, 0, 0, cmd_zinter},
    {"zdiff", -3, 0, 0, 0, 0, cmd_zdiff},
    {"zintercard", -3, 0, 0, 0, 0, cmd_zintercard},
    {"zunionstore", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zunionstore},
    {"zinterstore", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zinterstore},
    {"zdiffstore", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_zdiffstore},
};

/* SINTERCARD apart, so that COMMAND DOCS names its group as Redis does. */
static const struct cmd sintercard_cmds[] = {
    {"sintercard", -3, 0, 0, 0, 0, cmd_sintercard},
};

CMD_FAMILY(cmd_family_zalgebra, "sorted-set", zalgebra_cmds);
CMD_FAMILY(cmd_family_sintercard, "set", sintercard_cmds);
