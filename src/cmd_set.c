/*
 * Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP, SRANDMEMBER, SMOVE,
 * SINTER, SUNION, SDIFF and their STORE forms, SSCAN, with Redis 7.0's replies and errors
 * (Redis orders a set's members by its own encoding, so clients treat them as unordered; an
 * intset answers in ascending order, as Redis's does). A write past kv's limits (a member
 * longer than key_size_max, more than list_length_max members, a result larger than a set
 * may be) gets kv's error, and a full heap Redis's OOM error; either changes nothing. The
 * algebra streams its result from the sources twice: once to measure it (count, and the
 * shape its encoding follows from), then to answer it or to build it apart from the keyspace
 * (store_set.h), which then takes the destination's place. An intersection walks its
 * smallest source. Each command finds a key once and hands the record to the write.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include "glob.h"
#include "number.h"
#include "store_set.h"

/* store_set_visit_fn: answers one member. */
static void reply_member(void *context, struct slice member)
{
    reply_bulk(context, member);
}

CMD_HANDLER(cmd_sadd)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    (void)store_find_typed(context->store, args[1], STORE_TYPE_SET, &found);
    uint32_t added = 0;
    enum store_status status =
        store_set_add(context->store, &found, args[1], args + 2, arg_count - 2, &added);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(added <= arg_count - 2);
    if (added > 0) {
        notify_event(NOTIFY_SET, "sadd", args[1]);
    }
    reply_integer(&context->reply, added);
}

/* A removal's events: the command's, then "del" when the set went with its last member. */
static void set_removed_notify(struct store *store, const char *event, struct slice key)
{
    notify_event(NOTIFY_SET, event, key);
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_peek(store, key, &key_ref)) {
        notify_event(NOTIFY_GENERIC, "del", key);
    }
}

CMD_HANDLER(cmd_srem)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    uint32_t removed =
        status == STORE_OK ? store_set_remove(context->store, &found, args + 2, arg_count - 2) : 0;
    KV_ASSERT(removed <= arg_count - 2);
    if (removed > 0) {
        set_removed_notify(context->store, "srem", args[1]);
    }
    reply_integer(&context->reply, removed);
}

/* Whether a member is in the set read (status from cmd_read). */
static bool read_member(const struct cmd_context *context, enum store_status status,
                        const struct store_found *found, struct slice member)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_SET);
    return status == STORE_OK && store_set_contains(context->store, found->key_ref, member);
}

CMD_HANDLER(cmd_sismember)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status != STORE_WRONGTYPE) {
        reply_integer(&context->reply, read_member(context, status, &found, args[2]));
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_smismember)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    reply_array(&context->reply, arg_count - 2);
    /* Bounded by the arguments. */
    for (uint32_t index = 2; index < arg_count; index++) {
        reply_integer(&context->reply, read_member(context, status, &found, args[index]));
    }
    KV_ASSERT(context->reply.length <= context->reply.capacity);
}

CMD_HANDLER(cmd_scard)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status != STORE_WRONGTYPE) {
        uint64_t count = status == STORE_OK ? store_set_count(context->store, found.key_ref) : 0;
        KV_ASSERT(count <= context->store->limits.length_max);
        reply_integer(&context->reply, (int64_t)count);
    }
}

/* Whether a member is selected: every member without a pattern (SSCAN's MATCH). */
static bool member_selected(const struct slice *pattern, struct slice member)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, member, false);
}

/* Every member (or those matching `pattern`), in the set's order: SMEMBERS's set (RESP3 "~",
 * `set`), SSCAN's array. */
static void reply_members(struct cmd_context *context, uint32_t key_ref,
                          const struct slice *pattern, bool set)
{
    const struct store *store = context->store;
    uint64_t count = store_set_count(store, key_ref);
    uint64_t selected = 0;
    struct store_set_cursor cursor;
    struct slice member;
    store_set_cursor_start(store, key_ref, &cursor);
    /* Two walks bounded by the set's count: count the matches, then answer them. */
    while (pattern != NULL && store_set_cursor_next(store, &cursor, &member)) {
        selected += member_selected(pattern, member) ? 1u : 0u;
    }
    KV_ASSERT(selected <= count);
    uint64_t answered = pattern != NULL ? selected : count;
    set ? reply_set(&context->reply, answered) : reply_array(&context->reply, answered);
    store_set_cursor_start(store, key_ref, &cursor);
    /* Bounded by the set's count. */
    while (store_set_cursor_next(store, &cursor, &member)) {
        if (member_selected(pattern, member)) {
            reply_bulk(&context->reply, member);
        }
    }
    KV_ASSERT(cursor.index == count);
}

CMD_HANDLER(cmd_smembers)
{
    KV_ASSERT(arg_count == 2);
    uint64_t reply_before = context->reply.total;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_NOT_FOUND) {
        reply_set(&context->reply, 0);
    } else if (status == STORE_OK) {
        reply_members(context, found.key_ref, NULL, true);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_spop)
{
    KV_ASSERT(arg_count >= 2);
    if (arg_count > 3) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    int64_t count = 1;
    bool counted = arg_count == 3;
    /* As Redis 7.0: one error for a count that is not a number and for a negative one. */
    if (counted && (!number_parse_int64(args[2].bytes, args[2].length, &count) || count < 0)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_POSITIVE);
        return;
    }
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    if (status == STORE_NOT_FOUND) {
        counted ? reply_set(&context->reply, 0) : reply_null(&context->reply);
        return;
    }
    uint64_t length = store_set_count(context->store, found.key_ref);
    uint64_t popped = (uint64_t)count < length ? (uint64_t)count : length;
    KV_ASSERT(popped <= length);
    if (counted) {
        reply_set(&context->reply, popped); /* as Redis 7.0: a set in RESP3 */
    }
    if (popped > 0) {
        store_set_pop(context->store, &found, popped, reply_member, &context->reply);
        set_removed_notify(context->store, "spop", args[1]);
    }
}

/* SRANDMEMBER's count, as Redis 7.0 reads it; false after answering the error. */
static bool srandmember_count(struct cmd_context *context, struct slice arg, int64_t *count)
{
    if (!number_parse_int64(arg.bytes, arg.length, count)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (*count == INT64_MIN) {
        reply_error(&context->reply, REPLY_ERROR_INT64_RANGE);
        return false;
    }
    KV_ASSERT(*count > INT64_MIN); /* its magnitude fits */
    return true;
}

CMD_HANDLER(cmd_srandmember)
{
    KV_ASSERT(arg_count >= 2);
    if (arg_count > 3) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    int64_t count = 1;
    bool counted = arg_count == 3;
    if (counted && !srandmember_count(context, args[2], &count)) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND || count == 0) {
        counted ? reply_array(&context->reply, 0) : reply_null(&context->reply);
        return;
    }
    uint64_t length = store_set_count(context->store, found.key_ref);
    bool repeat = count < 0;
    uint64_t wanted = repeat ? (uint64_t)-count : (uint64_t)count;
    uint64_t replies = repeat ? wanted : (wanted < length ? wanted : length);
    if (counted) {
        reply_array(&context->reply, replies);
    }
    store_set_sample(context->store, found.key_ref, replies, repeat, reply_member,
                     &context->reply);
}

CMD_HANDLER(cmd_smove)
{
    KV_ASSERT(arg_count == 4);
    struct store *store = context->store;
    struct store_found source;
    struct store_found target;
    enum store_status status = store_find_typed(store, args[1], STORE_TYPE_SET, &source);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    (void)store_find_typed(store, args[2], STORE_TYPE_SET, &target);
    if (status == STORE_WRONGTYPE || (target.exists && target.type != STORE_TYPE_SET)) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    bool member = store_set_contains(store, source.key_ref, args[3]);
    if (target.exists && target.key_ref == source.key_ref) {
        reply_integer(&context->reply, member ? 1 : 0);
        return;
    }
    if (!member) {
        reply_integer(&context->reply, 0);
        return;
    }
    bool in_target = target.exists && store_set_contains(store, target.key_ref, args[3]);
    bool target_new = !target.exists;
    /* Redis creates the destination after the source's events: its "new" comes then. */
    notify_new_mute(true);
    status = store_set_move(store, &source, &target, args[2], args[3]);
    notify_new_mute(false);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    set_removed_notify(store, "srem", args[1]);
    if (target_new) {
        notify_event(NOTIFY_NEW, "new", args[2]);
    }
    if (!in_target) {
        notify_event(NOTIFY_SET, "sadd", args[2]);
    }
    reply_integer(&context->reply, 1);
}

enum set_op { SET_INTER, SET_UNION, SET_DIFF };

/* What a pass over an operation's result does with each member. */
enum algebra_mode { ALGEBRA_MEASURE, ALGEBRA_REPLY, ALGEBRA_BUILD };

/* One pass over the result of an operation on the sets at `keys` (their types checked). */
struct algebra {
    struct cmd_context *context;
    enum set_op op;
    const struct slice *keys;
    uint32_t key_count;
    enum algebra_mode mode;
    uint64_t count;                   /* members met so far */
    bool all_integer;                 /* measure: every member an integer (an intset's) */
    uint32_t member_bytes_max;        /* measure: the longest member */
    struct store_set_result *result;  /* build: where members go */
    enum store_status status;         /* build: STORE_OOM stops the pass */
};

/* The set at a source key, or HEAP_REF_NONE for an absent one (an empty set). The types
 * were checked and expired keys removed by the pass's first finds, and nothing changes the
 * keyspace during a pass, so a peek finds what a find would. */
static uint32_t source_ref(const struct cmd_context *context, struct slice key)
{
    uint32_t key_ref = HEAP_REF_NONE;
    if (!store_peek(context->store, key, &key_ref)) {
        return HEAP_REF_NONE;
    }
    KV_ASSERT(store_key_type(store_key(context->store, key_ref)) == STORE_TYPE_SET);
    return key_ref;
}

static bool in_set(const struct cmd_context *context, struct slice key, struct slice member)
{
    uint32_t key_ref = source_ref(context, key);
    return key_ref != HEAP_REF_NONE && store_set_contains(context->store, key_ref, member);
}

/* Whether a member of source `source` belongs to the result: a union's if no earlier source
 * has it (counted there); an intersection's if every other source has it; a difference's
 * (source 0) if no other source has it. Bounded by the sources. */
static bool in_result(const struct algebra *pass, uint32_t source, struct slice member)
{
    KV_ASSERT(source < pass->key_count);
    KV_ASSERT(pass->op != SET_DIFF || source == 0);
    uint32_t end = pass->op == SET_UNION ? source : pass->key_count;
    uint32_t first = pass->op == SET_DIFF ? 1u : 0u;
    /* Bounded by the sources. */
    for (uint32_t other = first; other < end; other++) {
        if (other == source) {
            continue;
        }
        if (in_set(pass->context, pass->keys[other], member) != (pass->op == SET_INTER)) {
            return false;
        }
    }
    return true;
}

/* Takes one member of the result, as the pass's mode says. */
static void algebra_take(struct algebra *pass, struct slice member)
{
    KV_ASSERT(pass->status == STORE_OK); /* a failed build stops its pass */
    KV_ASSERT(pass->mode != ALGEBRA_BUILD || pass->count < pass->result->count_max);
    pass->count++;
    if (pass->mode == ALGEBRA_MEASURE) {
        int64_t integer = 0;
        pass->all_integer = pass->all_integer && number_parse_int64(member.bytes, member.length,
                                                                    &integer);
        if (member.length > pass->member_bytes_max) {
            pass->member_bytes_max = member.length;
        }
    } else if (pass->mode == ALGEBRA_REPLY) {
        reply_bulk(&pass->context->reply, member);
    } else {
        pass->status = store_set_result_add(pass->context->store, pass->result, member);
    }
}

/* The sources a pass walks: every one for a union; for an intersection the smallest (none
 * when a source is absent: the result is empty); for a difference the first. */
static void walked_sources(const struct algebra *pass, uint32_t *first, uint32_t *end)
{
    *first = 0;
    *end = pass->op == SET_UNION ? pass->key_count : 1u;
    uint64_t smallest = UINT64_MAX;
    /* Bounded by the sources. */
    for (uint32_t index = 0; pass->op == SET_INTER && index < pass->key_count; index++) {
        uint32_t key_ref = source_ref(pass->context, pass->keys[index]);
        uint64_t count = key_ref != HEAP_REF_NONE ? store_set_count(pass->context->store,
                                                                    key_ref)
                                                  : 0;
        if (count < smallest) {
            smallest = count;
            *first = index;
            *end = count == 0 ? index : index + 1u;
        }
    }
    KV_ASSERT(*first <= *end && *end <= pass->key_count);
}

/* Walks the result once, giving each member to algebra_take; returns how many. Bounded by
 * the walked sources' members, each tested against the other sources. */
static uint64_t algebra_pass(struct algebra *pass, enum algebra_mode mode)
{
    KV_ASSERT(pass->key_count >= 1);
    pass->mode = mode;
    pass->count = 0;
    pass->all_integer = true;
    pass->member_bytes_max = 0;
    pass->status = STORE_OK;
    uint32_t first = 0;
    uint32_t end = 0;
    walked_sources(pass, &first, &end);
    /* Bounded by the sources walked, each by its count (the cursor meets each member once). */
    for (uint32_t source = first; source < end && pass->status == STORE_OK; source++) {
        uint32_t key_ref = source_ref(pass->context, pass->keys[source]);
        if (key_ref == HEAP_REF_NONE) {
            continue;
        }
        struct store_set_cursor cursor;
        struct slice member;
        store_set_cursor_start(pass->context->store, key_ref, &cursor);
        while (pass->status == STORE_OK &&
               store_set_cursor_next(pass->context->store, &cursor, &member)) {
            if (in_result(pass, source, member)) {
                algebra_take(pass, member);
            }
        }
    }
    return pass->count;
}

/* Checks the sources' types as Redis 7.0 does (every key before any member; an absent one
 * is empty); false after answering WRONGTYPE. A read counts hits and misses; the STORE
 * forms look their sources up for writing, which counts neither. */
static bool sources_checked(struct cmd_context *context, const struct slice *keys,
                            uint32_t key_count, bool read)
{
    KV_ASSERT(key_count >= 1);
    /* Bounded by the sources. */
    for (uint32_t index = 0; index < key_count; index++) {
        struct store_found found;
        enum store_status status =
            read ? cmd_read(context, keys[index], STORE_TYPE_SET, &found)
                 : store_find_typed(context->store, keys[index], STORE_TYPE_SET, &found);
        if (!read && status == STORE_NOT_FOUND) {
            notify_event(NOTIFY_KEY_MISS, "keymiss", keys[index]); /* Redis reads them */
        }
        if (status == STORE_WRONGTYPE) {
            if (!read) {
                reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
            }
            return false;
        }
    }
    return true;
}

static void set_algebra(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                        enum set_op op)
{
    KV_ASSERT(arg_count >= 2);
    struct algebra pass = {.context = context, .op = op, .keys = args + 1,
                           .key_count = arg_count - 1};
    if (!sources_checked(context, pass.keys, pass.key_count, true)) {
        return;
    }
    uint64_t count = algebra_pass(&pass, ALGEBRA_MEASURE);
    reply_set(&context->reply, count);
    uint64_t answered = algebra_pass(&pass, ALGEBRA_REPLY);
    KV_ASSERT(answered == count);
}

CMD_HANDLER(cmd_sinter)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    set_algebra(context, args, arg_count, SET_INTER);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_sunion)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    set_algebra(context, args, arg_count, SET_UNION);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_sdiff)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    set_algebra(context, args, arg_count, SET_DIFF);
    KV_ASSERT(context->reply.total > reply_before);
}

/* Builds the measured result apart from the keyspace and puts it in the destination's
 * place; a failure (a cap, a full heap) changes nothing. */
static enum store_status algebra_store(struct algebra *pass, struct slice destination)
{
    struct store *store = pass->context->store;
    uint64_t count = pass->count;
    struct store_found target;
    (void)store_find_typed(store, destination, STORE_TYPE_ANY, &target);
    enum store_status status = store_set_result_check(store, &target, destination, count);
    if (status != STORE_OK) {
        return status;
    }
    struct store_set_result result;
    status = store_set_result_start(store, &result, count, pass->all_integer,
                                    pass->member_bytes_max);
    if (status != STORE_OK) {
        return status;
    }
    pass->result = &result;
    uint64_t built = algebra_pass(pass, ALGEBRA_BUILD);
    if (pass->status != STORE_OK) {
        store_set_result_abandon(store, &result);
        return pass->status;
    }
    KV_ASSERT(built == count);
    return store_set_result_store(store, &target, destination, &result);
}

/* SINTERSTORE, SUNIONSTORE, SDIFFSTORE destination key [key ...]. */
static void set_algebra_store(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, enum set_op op)
{
    KV_ASSERT(arg_count >= 3);
    struct algebra pass = {.context = context, .op = op, .keys = args + 2,
                           .key_count = arg_count - 2};
    if (!sources_checked(context, pass.keys, pass.key_count, false)) {
        return;
    }
    uint64_t count = algebra_pass(&pass, ALGEBRA_MEASURE);
    uint32_t key_ref = HEAP_REF_NONE;
    bool existed = store_peek(context->store, args[1], &key_ref);
    enum store_status status = algebra_store(&pass, args[1]);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    static const char *const events[] = {"sinterstore", "sunionstore", "sdiffstore"};
    if (count > 0) {
        notify_event(NOTIFY_SET, events[op], args[1]);
    } else if (existed) {
        notify_event(NOTIFY_GENERIC, "del", args[1]);
    }
    reply_integer(&context->reply, (int64_t)count);
}

CMD_HANDLER(cmd_sinterstore)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    set_algebra_store(context, args, arg_count, SET_INTER);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_sunionstore)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    set_algebra_store(context, args, arg_count, SET_UNION);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_sdiffstore)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    set_algebra_store(context, args, arg_count, SET_DIFF);
    KV_ASSERT(context->reply.total > reply_before);
}

/* An SSCAN over a table: the walk, and what its visits need. */
struct sscan_walk {
    struct cmd_scan_walk walk; /* first: cmd_scan_table hands it back to sscan_step */
    struct cmd_context *context;
    uint32_t key_ref;
    const struct slice *pattern;
};

static void sscan_visit(void *context, struct slice member)
{
    struct sscan_walk *scan = context;
    bool selected = member_selected(scan->pattern, member);
    if (scan->walk.emit) {
        if (selected) {
            reply_bulk(&scan->context->reply, member);
        }
    } else {
        scan->walk.met++;
        scan->walk.matched += selected ? 1u : 0u;
    }
}

static uint64_t sscan_step(struct cmd_scan_walk *walk, uint64_t cursor)
{
    struct sscan_walk *scan = (struct sscan_walk *)walk;
    return store_set_scan(scan->context->store, scan->key_ref, cursor, sscan_visit, scan);
}

/* SSCAN key cursor [MATCH pattern] [COUNT count]: an intset or a pack whole with cursor 0
 * (as Redis answers an intset); a table from the cursor, COUNT members a call as Redis scans
 * its dict. The key is looked up before the options are read, as in Redis. */
CMD_HANDLER(cmd_sscan)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    uint32_t key_ref = HEAP_REF_NONE;
    const struct slice *pattern = NULL;
    uint64_t cursor = 0;
    uint64_t count = 0;
    if (cmd_collection_scan(context, args, arg_count, STORE_TYPE_SET, &key_ref, &pattern,
                            &cursor, &count)) {
        if (store_set_tabled(context->store, key_ref)) {
            struct sscan_walk scan = {.walk = {.step = sscan_step}, .context = context,
                                      .key_ref = key_ref, .pattern = pattern};
            cmd_scan_table(context, &scan.walk, cursor, count, 1);
        } else {
            cmd_scan_head(context, 0);
            reply_members(context, key_ref, pattern, false);
        }
    }
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd set_cmds[] = {
    {"sadd", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_sadd},
    {"srem", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_srem},
    {"sismember", 3, 1, 1, 1, 0, cmd_sismember},
    {"smismember", -3, 1, 1, 1, 0, cmd_smismember},
    {"smembers", 2, 1, 1, 1, 0, cmd_smembers},
    {"scard", 2, 1, 1, 1, 0, cmd_scard},
    {"spop", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_spop},
    {"srandmember", -2, 1, 1, 1, 0, cmd_srandmember},
    {"smove", 4, 1, 2, 1, CMD_FLAG_WRITE, cmd_smove},
    {"sinter", -2, 1, -1, 1, 0, cmd_sinter},
    {"sunion", -2, 1, -1, 1, 0, cmd_sunion},
    {"sdiff", -2, 1, -1, 1, 0, cmd_sdiff},
    {"sinterstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_sinterstore},
    {"sunionstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_sunionstore},
    {"sdiffstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_sdiffstore},
    {"sscan", -3, 1, 1, 1, 0, cmd_sscan},
};

CMD_FAMILY(cmd_family_set, "set", set_cmds);
