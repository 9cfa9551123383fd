/*
 * Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP, SRANDMEMBER, SMOVE,
 * SINTER, SUNION, SDIFF and their STORE forms, SSCAN, with Redis 7.0's replies and errors
 * (Redis orders a set's members by its own encoding, so clients treat them as unordered).
 * A write past kv's limits (a member longer than key_size_max, more than list_length_max
 * members, a result larger than a set may be) gets kv's error and changes nothing. The
 * algebra needs no memory of its own: results are streamed from the sources, twice (count,
 * then answer or build). Each command finds a key once and hands the record to the write
 * (store_set.h).
 */
#include "cmd_handlers.h"

#include "glob.h"
#include "number.h"
#include "store_set.h"

static uint64_t bulk_bound(uint32_t bytes)
{
    uint64_t bound = 1u + 10u + 2u + (uint64_t)bytes + 2u;
    KV_ASSERT(bound > bytes);
    return bound;
}

/* An array of `members` members (plus a header, or an error instead), at most the send
 * buffer. */
static uint32_t members_reply_bound(const struct cmd_context *context, uint64_t members)
{
    uint64_t bytes = 16u + members * bulk_bound(context->config->key_size_max) +
                     PLAN_REPLY_ERROR_BYTES;
    uint32_t bound = bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                              : context->plan->send_buffer_bytes;
    KV_ASSERT(bound <= context->plan->send_buffer_bytes);
    return bound;
}

static uint32_t smembers_reply_max(const struct cmd_context *context, const struct slice *args,
                                   uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t worst = members_reply_bound(context, context->plan->list_length_max);
    if (cmd_worst_fits(context, worst)) {
        return worst;
    }
    uint32_t bound =
        members_reply_bound(context, cmd_length_bound(context, args[1], STORE_TYPE_SET));
    KV_ASSERT(bound <= worst);
    return bound;
}

static uint32_t smismember_reply_max(const struct cmd_context *context, const struct slice *args,
                                     uint32_t arg_count)
{
    (void)args;
    KV_ASSERT(arg_count >= 3);
    uint64_t bytes = 16u + (uint64_t)(arg_count - 2) * 4u + PLAN_REPLY_ERROR_BYTES;
    uint32_t bound = bytes < context->plan->send_buffer_bytes ? (uint32_t)bytes
                                                              : context->plan->send_buffer_bytes;
    KV_ASSERT(bound <= context->plan->send_buffer_bytes);
    return bound;
}

/* SPOP, SRANDMEMBER: as many members as the count asks (SRANDMEMBER errs past the buffer). */
static uint32_t random_reply_max(const struct cmd_context *context, const struct slice *args,
                                 uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 2);
    int64_t count = 1;
    if (arg_count == 3 && number_parse_int64(args[2].bytes, args[2].length, &count) &&
        count != INT64_MIN) {
        count = count < 0 ? -count : count;
    }
    return members_reply_bound(context, (uint64_t)count);
}

/* SINTER, SUNION, SDIFF: the union of every source at most (they err past the buffer). */
static uint32_t algebra_reply_max(const struct cmd_context *context, const struct slice *args,
                                  uint32_t arg_count)
{
    (void)args;
    KV_ASSERT(arg_count >= 2);
    return members_reply_bound(context,
                               (uint64_t)(arg_count - 1) * context->plan->list_length_max);
}

/* A set node's member (every set node holds a field slot and no value slot). */
static struct slice node_member(const struct cmd_context *context, uint32_t node_index)
{
    const struct list_node *node = list_node(&context->store->nodes, node_index);
    KV_ASSERT(node->value_index == LIST_NONE);
    return store_field(context->store, node->field_index);
}

static uint32_t node_next(const struct cmd_context *context, uint32_t node_index)
{
    KV_ASSERT(pool_is_used(&context->store->nodes, node_index));
    return list_node(&context->store->nodes, node_index)->next;
}

CMD_HANDLER(cmd_sadd)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    store_find_typed(context->store, args[1], STORE_TYPE_SET, &found);
    uint32_t added = 0;
    enum store_status status =
        store_set_add(context->store, &found, args[1], args + 2, arg_count - 2, &added);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    KV_ASSERT(added <= arg_count - 2);
    reply_integer(&context->reply, added);
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
    reply_integer(&context->reply, removed);
}

/* Whether a member is in the set read (status from cmd_read). */
static bool read_member(const struct cmd_context *context, enum store_status status,
                        const struct store_found *found, struct slice member)
{
    KV_ASSERT(status != STORE_OK || found->type == STORE_TYPE_SET);
    uint32_t node_index = 0;
    return status == STORE_OK &&
           store_set_member(context->store, found->key_index, member, &node_index);
}

CMD_HANDLER(cmd_sismember)
{
    KV_ASSERT(arg_count == 3);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status != STORE_WRONGTYPE) {
        reply_integer(&context->reply, read_member(context, status, &found, args[2]));
    }
    KV_ASSERT(context->reply.length > reply_before);
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
        uint32_t count = status == STORE_OK ? store_key(context->store, found.key_index)->list.count
                                            : 0;
        KV_ASSERT(count <= context->store->list_length_max);
        reply_integer(&context->reply, count);
    }
}

/* Whether a member is selected: every member without a pattern (SSCAN's MATCH). */
static bool member_selected(const struct slice *pattern, struct slice member)
{
    return pattern == NULL || glob_is_all(*pattern) || glob_match(*pattern, member, false);
}

/* Every member (or those matching `pattern`), in the set's order. */
static void reply_members(struct cmd_context *context, uint32_t key_index,
                          const struct slice *pattern)
{
    const struct store_key *key = store_key(context->store, key_index);
    KV_ASSERT(key->type == STORE_TYPE_SET);
    uint32_t selected = 0;
    uint32_t node_index = key->list.head;
    /* Two walks bounded by the set's count: count the matches, then answer them. */
    for (uint32_t step = 0; pattern != NULL && step < key->list.count; step++) {
        selected += member_selected(pattern, node_member(context, node_index)) ? 1 : 0;
        node_index = node_next(context, node_index);
    }
    KV_ASSERT(selected <= key->list.count);
    reply_array(&context->reply, pattern != NULL ? selected : key->list.count);
    node_index = key->list.head;
    for (uint32_t step = 0; step < key->list.count; step++) {
        struct slice member = node_member(context, node_index);
        if (member_selected(pattern, member)) {
            reply_bulk(&context->reply, member);
        }
        node_index = node_next(context, node_index);
    }
}

CMD_HANDLER(cmd_smembers)
{
    KV_ASSERT(arg_count == 2);
    uint32_t reply_before = context->reply.length;
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_SET, &found);
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 0);
    } else if (status == STORE_OK) {
        reply_members(context, found.key_index, NULL);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

/* A xorshift64* generator for SPOP and SRANDMEMBER, seeded from the store's hash seed. */
static uint64_t random_next(const struct store *store)
{
    static uint64_t state;
    if (state == 0) {
        state = (store->seed ^ 0xD1B54A32D192ED03ull) | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    KV_ASSERT(state != 0); /* xorshift never reaches 0 from a non-zero state */
    return state * 0x2545F4914F6CDD1Dull;
}

/* The node at a random position of a set. */
static uint32_t random_node(struct cmd_context *context, uint32_t key_index)
{
    const struct store_key *key = store_key(context->store, key_index);
    KV_ASSERT(key->list.count > 0);
    uint32_t position = (uint32_t)(random_next(context->store) % key->list.count);
    return list_node_at(&context->store->nodes, &key->list, position);
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
        counted ? reply_array(&context->reply, 0) : reply_null(&context->reply);
        return;
    }
    uint32_t length = store_key(context->store, found.key_index)->list.count;
    uint32_t popped = (uint64_t)count < length ? (uint32_t)count : length;
    KV_ASSERT(popped <= length);
    if (counted) {
        reply_array(&context->reply, popped);
    }
    /* Bounded by the set's count; the key goes with its last member. */
    for (uint32_t index = 0; index < popped; index++) {
        uint32_t node_index = random_node(context, found.key_index);
        reply_bulk(&context->reply, node_member(context, node_index));
        store_set_remove_node(context->store, &found, node_index);
    }
}

/* SRANDMEMBER's members of a set: distinct ones, a window of consecutive nodes from a random
 * start; repeated ones, a random node each time. Bounded by replies times the set's count. */
static void srandmember_reply(struct cmd_context *context, const struct store_key *key,
                              uint64_t replies, bool repeat)
{
    uint32_t length = key->list.count;
    KV_ASSERT(length > 0);
    KV_ASSERT(repeat || replies <= length);
    uint32_t start = (uint32_t)(random_next(context->store) % length);
    for (uint64_t reply = 0; reply < replies; reply++) {
        uint32_t position = repeat ? (uint32_t)(random_next(context->store) % length)
                                   : (uint32_t)((start + reply) % length);
        uint32_t node_index = list_node_at(&context->store->nodes, &key->list, position);
        reply_bulk(&context->reply, node_member(context, node_index));
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
    const struct store_key *key = store_key(context->store, found.key_index);
    uint32_t length = key->list.count;
    bool repeat = count < 0;
    uint64_t wanted = repeat ? (uint64_t)-count : (uint64_t)count;
    uint64_t replies = repeat ? wanted : (wanted < length ? wanted : length);
    if (16 + replies * bulk_bound(context->config->key_size_max) >
        context->reply.capacity - context->reply.length) {
        reply_error_format(&context->reply, REPLY_ERROR_SRANDMEMBER_TOO_LARGE,
                           context->reply.capacity);
        return;
    }
    if (counted) {
        reply_array(&context->reply, (uint32_t)replies);
    }
    srandmember_reply(context, key, replies, repeat);
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
    store_find_typed(store, args[2], STORE_TYPE_SET, &target);
    if (status == STORE_WRONGTYPE || (target.exists && target.type != STORE_TYPE_SET)) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    uint32_t node_index = 0;
    bool member = store_set_member(store, source.key_index, args[3], &node_index);
    if (target.exists && target.key_index == source.key_index) {
        reply_integer(&context->reply, member ? 1 : 0);
        return;
    }
    if (!member) {
        reply_integer(&context->reply, 0);
        return;
    }
    KV_ASSERT(!target.exists || target.key_index != source.key_index);
    status = store_set_move(store, &source, node_index, args[2], &target);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_integer(&context->reply, 1);
}

enum set_op { SET_INTER, SET_UNION, SET_DIFF };

/* Whether a member is in the set at `key` (absent keys are empty sets). */
static bool in_set(struct cmd_context *context, struct slice key, struct slice member)
{
    struct store_found found;
    uint32_t node_index = 0;
    return store_find_typed(context->store, key, STORE_TYPE_SET, &found) == STORE_OK &&
           store_set_member(context->store, found.key_index, member, &node_index);
}

/* Whether a member of source `source` belongs to the result. */
static bool in_result(struct cmd_context *context, enum set_op op, const struct slice *keys,
                      uint32_t key_count, uint32_t source, struct slice member)
{
    KV_ASSERT(source < key_count);
    KV_ASSERT(op == SET_UNION || source == 0);
    if (op == SET_UNION) {
        for (uint32_t earlier = 0; earlier < source; earlier++) {
            if (in_set(context, keys[earlier], member)) {
                return false; /* counted with the earlier source */
            }
        }
        return true;
    }
    for (uint32_t other = 1; other < key_count; other++) {
        bool present = in_set(context, keys[other], member);
        if (present != (op == SET_INTER)) {
            return false;
        }
    }
    return true;
}

/* Walks the result of an operation: counts it, and answers (reply) or builds (result) its
 * members. Sources are the keys; an intersection or difference walks the first only. Bounded
 * by the sources' members times the sources. */
static uint64_t walk_result(struct cmd_context *context, enum set_op op, const struct slice *keys,
                            uint32_t key_count, bool reply, struct list *result)
{
    KV_ASSERT(key_count >= 1);
    KV_ASSERT(!reply || result == NULL);
    uint64_t count = 0;
    uint32_t sources = op == SET_UNION ? key_count : 1;
    for (uint32_t source = 0; source < sources; source++) {
        struct store_found found;
        if (store_find_typed(context->store, keys[source], STORE_TYPE_SET, &found) != STORE_OK) {
            continue;
        }
        const struct store_key *key = store_key(context->store, found.key_index);
        uint32_t node_index = key->list.head;
        for (uint32_t step = 0; step < key->list.count; step++) {
            struct slice member = node_member(context, node_index);
            if (in_result(context, op, keys, key_count, source, member)) {
                count++;
                if (reply) {
                    reply_bulk(&context->reply, member);
                } else if (result != NULL) {
                    store_set_result_add(context->store, result, member);
                }
            }
            node_index = node_next(context, node_index);
        }
    }
    return count;
}

/* Checks the sources' types as Redis does (every key, an absent one is empty); false after
 * answering WRONGTYPE. */
static bool sources_checked(struct cmd_context *context, const struct slice *keys,
                            uint32_t key_count)
{
    KV_ASSERT(key_count >= 1);
    for (uint32_t index = 0; index < key_count; index++) {
        struct store_found found;
        if (cmd_read(context, keys[index], STORE_TYPE_SET, &found) == STORE_WRONGTYPE) {
            return false;
        }
    }
    return true;
}

static void set_algebra(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                        enum set_op op, const char *name)
{
    KV_ASSERT(arg_count >= 2);
    const struct slice *keys = args + 1;
    uint32_t key_count = arg_count - 1;
    if (!sources_checked(context, keys, key_count)) {
        return;
    }
    uint64_t count = walk_result(context, op, keys, key_count, false, NULL);
    /* The members' bytes: walked once more to measure them would cost as much as answering;
     * the bound of a member of key_size_max is what the buffer is sized in. */
    if (16 + count * bulk_bound(context->config->key_size_max) >
        context->reply.capacity - context->reply.length) {
        reply_error_format(&context->reply, REPLY_ERROR_SET_ALGEBRA_TOO_LARGE, name,
                           (unsigned long long)count);
        return;
    }
    reply_array(&context->reply, (uint32_t)count);
    uint64_t answered = walk_result(context, op, keys, key_count, true, NULL);
    KV_ASSERT(answered == count);
}

CMD_HANDLER(cmd_sinter)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t reply_before = context->reply.length;
    set_algebra(context, args, arg_count, SET_INTER, "SINTER");
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_sunion)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t reply_before = context->reply.length;
    set_algebra(context, args, arg_count, SET_UNION, "SUNION");
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_sdiff)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t reply_before = context->reply.length;
    set_algebra(context, args, arg_count, SET_DIFF, "SDIFF");
    KV_ASSERT(context->reply.length > reply_before);
}

/* SINTERSTORE, SUNIONSTORE, SDIFFSTORE destination key [key ...]. */
static void set_algebra_store(struct cmd_context *context, const struct slice *args,
                              uint32_t arg_count, enum set_op op)
{
    KV_ASSERT(arg_count >= 3);
    struct store *store = context->store;
    struct slice destination = args[1];
    const struct slice *keys = args + 2;
    uint32_t key_count = arg_count - 2;
    if (!sources_checked(context, keys, key_count)) {
        return;
    }
    uint64_t count = walk_result(context, op, keys, key_count, false, NULL);
    struct store_found target;
    store_find_typed(store, destination, STORE_TYPE_ANY, &target);
    bool exists = target.exists;
    if (count > store->list_length_max) {
        reply_error(&context->reply, REPLY_ERROR_SET_FULL);
        return;
    }
    if (count > 0 && destination.length > store->key_size_max) {
        reply_error(&context->reply, REPLY_ERROR_KEY_TOO_LONG);
        return;
    }
    if (count > 0 && !exists && store_key_count(store) >= store->table.count_max) {
        reply_error(&context->reply, REPLY_ERROR_STORE_FULL);
        return;
    }
    struct list result;
    list_init(&result);
    walk_result(context, op, keys, key_count, false, &result);
    KV_ASSERT(result.count == count);
    store_set_result_store(store, &target, destination, &result);
    KV_ASSERT(result.count == 0); /* the result moved into the destination */
    reply_integer(&context->reply, (int64_t)count);
}

CMD_HANDLER(cmd_sinterstore)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    set_algebra_store(context, args, arg_count, SET_INTER);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_sunionstore)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    set_algebra_store(context, args, arg_count, SET_UNION);
    KV_ASSERT(context->reply.length > reply_before);
}

CMD_HANDLER(cmd_sdiffstore)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    set_algebra_store(context, args, arg_count, SET_DIFF);
    KV_ASSERT(context->reply.length > reply_before);
}

/* SSCAN key cursor [MATCH pattern] [COUNT count]: a set is small (list_length_max members),
 * so it answers every match at once, with cursor 0. The key is looked up before the options
 * are read, as in Redis. */
CMD_HANDLER(cmd_sscan)
{
    KV_ASSERT(arg_count >= 3);
    uint32_t reply_before = context->reply.length;
    uint32_t key_index = 0;
    const struct slice *pattern = NULL;
    if (cmd_collection_scan(context, args, arg_count, STORE_TYPE_SET, &key_index, &pattern)) {
        reply_members(context, key_index, pattern);
    }
    KV_ASSERT(context->reply.length > reply_before);
}

static const struct cmd set_cmds[] = {
    {"sadd", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS, cmd_reply_small, cmd_sadd},
    {"srem", -3, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, cmd_reply_small, cmd_srem},
    {"sismember", 3, 1, 1, 1, 0, cmd_reply_small, cmd_sismember},
    {"smismember", -3, 1, 1, 1, 0, smismember_reply_max, cmd_smismember},
    {"smembers", 2, 1, 1, 1, 0, smembers_reply_max, cmd_smembers},
    {"scard", 2, 1, 1, 1, 0, cmd_reply_small, cmd_scard},
    {"spop", -2, 1, 1, 1, CMD_FLAG_WRITE | CMD_FLAG_SHRINKS, random_reply_max, cmd_spop},
    {"srandmember", -2, 1, 1, 1, 0, random_reply_max, cmd_srandmember},
    {"smove", 4, 1, 2, 1, CMD_FLAG_WRITE | CMD_FLAG_GROWS_ONE, cmd_reply_small, cmd_smove},
    {"sinter", -2, 1, -1, 1, 0, algebra_reply_max, cmd_sinter},
    {"sunion", -2, 1, -1, 1, 0, algebra_reply_max, cmd_sunion},
    {"sdiff", -2, 1, -1, 1, 0, algebra_reply_max, cmd_sdiff},
    {"sinterstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_sinterstore},
    {"sunionstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_sunionstore},
    {"sdiffstore", -3, 1, -1, 1, CMD_FLAG_WRITE, cmd_reply_small, cmd_sdiffstore},
    {"sscan", -3, 1, 1, 1, 0, smembers_reply_max, cmd_sscan},
};

CMD_FAMILY(cmd_family_set, "set", set_cmds);
