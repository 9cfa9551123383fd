/*
 * COPY source destination [DB destination-db] [REPLACE], as Redis 7.0's copyCommand: the
 * options first (DB n: the destination's database, else the client's), then the same-key
 * check (same name in the same database), then the source (absent: 0) and the destination
 * (present without REPLACE: 0). The source is read in the client's database and the
 * destination written with the store selecting the target's; the selection comes back
 * before the reply.
 *
 * The copy goes through each type's public store API: the source is read (a cursor, a walk
 * or a visit) and its contents written into a fresh destination key, in chunks of at most
 * COPY_CHUNK_MAX elements from the stack (no scratch of the source's size); a set is built
 * apart as a set result and put in place whole. Writing another key does not move the
 * source's allocations, so its cursors stay good between chunks. The expiry time follows.
 * A stream copies its entries, its IDs and counters, and every consumer group with its
 * consumers and pending entries (delivery times and counts).
 *
 * An error mid-way (the heap full, a cap) removes the partial destination and answers the
 * error (Redis's OOM for a full heap); the source never changes.
 */
#include "cmd_handlers.h"

#include "cluster.h"

#include <string.h>

#include "notify.h"
#include "number.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

/* Elements (or pairs) written per store call: bounds the stack the chunks take. */
#define COPY_CHUNK_MAX 64u

/* Where a copy writes: the destination's name and its find (a fresh key once created). */
struct copy_target {
    struct store *store;
    struct slice key;
    struct store_found found;
    enum store_status status;    /* the first failure; STORE_OK while all went well */
    struct slice chunk[2u * COPY_CHUNK_MAX];
    uint32_t chunk_count;        /* slices held in chunk */
};

static void copy_list_flush(struct copy_target *target)
{
    KV_ASSERT(target->chunk_count <= 2u * COPY_CHUNK_MAX);
    if (target->chunk_count == 0 || target->status != STORE_OK) {
        target->chunk_count = 0;
        return;
    }
    uint32_t length_after = 0;
    target->status = store_list_push(target->store, &target->found, target->key, target->chunk,
                                     target->chunk_count, false, &length_after);
    target->chunk_count = 0;
}

static enum store_status copy_list(struct copy_target *target, uint32_t key_ref)
{
    const struct store *store = target->store;
    uint32_t length = store_list_length(store, key_ref);
    struct store_list_cursor cursor;
    store_list_seek(store, key_ref, 0, &cursor);
    /* Bounded by the list's length. */
    for (uint32_t index = 0; index < length && target->status == STORE_OK; index++) {
        target->chunk[target->chunk_count++] = store_list_value(store, &cursor);
        if (target->chunk_count == COPY_CHUNK_MAX) {
            copy_list_flush(target);
        }
        bool more = store_list_next(store, &cursor);
        KV_ASSERT(more || index + 1 == length);
    }
    copy_list_flush(target);
    return target->status;
}

static void copy_hash_flush(struct copy_target *target)
{
    KV_ASSERT(target->chunk_count % 2 == 0);
    if (target->chunk_count == 0 || target->status != STORE_OK) {
        target->chunk_count = 0;
        return;
    }
    uint32_t added = 0;
    target->status = store_hash_set(target->store, &target->found, target->key, target->chunk,
                                    target->chunk_count / 2u, false, &added);
    target->chunk_count = 0;
}

/* store_hash_visit_fn: one field of the source into the chunk. */
static void copy_hash_visit(void *context, struct slice field, struct slice value)
{
    struct copy_target *target = context;
    if (target->status != STORE_OK) {
        return;
    }
    target->chunk[target->chunk_count++] = field;
    target->chunk[target->chunk_count++] = value;
    if (target->chunk_count == 2u * COPY_CHUNK_MAX) {
        copy_hash_flush(target);
    }
}

static enum store_status copy_hash(struct copy_target *target, uint32_t key_ref)
{
    store_hash_each(target->store, key_ref, copy_hash_visit, target);
    copy_hash_flush(target);
    return target->status;
}

/* A score given to store_zset_add as its 8 bytes (the pairs' score "text"). */
static double copy_score(struct slice text)
{
    KV_ASSERT(text.length == sizeof(double));
    double score = 0;
    memcpy(&score, text.bytes, sizeof(double));
    return score;
}

static enum store_status copy_zset(struct copy_target *target, uint32_t key_ref)
{
    struct store *store = target->store;
    uint32_t count = store_zset_count(store, key_ref);
    double scores[COPY_CHUNK_MAX];
    struct store_zset_walk walk;
    store_zset_walk_start(store, key_ref, 0, false, &walk);
    uint32_t copied = 0;
    /* Bounded by the set's count, a chunk at a time. */
    while (copied < count && target->status == STORE_OK) {
        uint32_t pairs = 0;
        struct slice member;
        /* Bounded by the chunk. */
        while (pairs < COPY_CHUNK_MAX && copied + pairs < count) {
            bool more = store_zset_walk_next(&walk, &member, &scores[pairs]);
            KV_ASSERT(more);
            target->chunk[2u * pairs] =
                (struct slice){.bytes = (const uint8_t *)&scores[pairs], .length = sizeof(double)};
            target->chunk[2u * pairs + 1u] = member;
            pairs++;
        }
        struct store_zset_pairs given = {.args = target->chunk, .count = pairs,
                                         .score = copy_score};
        struct store_zset_result result;
        target->status = store_zset_add(store, &target->found, target->key, 0, &given, &result);
        KV_ASSERT(target->status != STORE_OK || result.added == pairs);
        copied += pairs;
    }
    return target->status;
}

static enum store_status copy_set(struct copy_target *target, uint32_t key_ref)
{
    struct store *store = target->store;
    uint64_t count = store_set_count(store, key_ref);
    bool all_integer = true;
    uint32_t member_bytes_max = 0;
    struct store_set_cursor cursor;
    struct slice member;
    store_set_cursor_start(store, key_ref, &cursor);
    /* Two walks bounded by the set's count: measure the shape, then build. */
    while (store_set_cursor_next(store, &cursor, &member)) {
        int64_t integer = 0;
        all_integer = all_integer && number_parse_int64(member.bytes, member.length, &integer);
        member_bytes_max = member.length > member_bytes_max ? member.length : member_bytes_max;
    }
    enum store_status status = store_set_result_check(store, &target->found, target->key, count);
    if (status != STORE_OK) {
        return status;
    }
    struct store_set_result result;
    status = store_set_result_start(store, &result, count, all_integer, member_bytes_max);
    if (status != STORE_OK) {
        return status;
    }
    store_set_cursor_start(store, key_ref, &cursor);
    while (status == STORE_OK && store_set_cursor_next(store, &cursor, &member)) {
        status = store_set_result_add(store, &result, member);
    }
    if (status != STORE_OK) {
        store_set_result_abandon(store, &result);
        return status;
    }
    KV_ASSERT(result.count == count);
    return store_set_result_store(store, &target->found, target->key, &result);
}

/* A group's consumers and pending entries, after the group was created at the target. */
static enum store_status copy_stream_consumers(struct copy_target *target,
                                               const struct store_stream_group *source,
                                               struct store_stream_group *group)
{
    struct store *store = target->store;
    /* Bounded by the source group's consumers. */
    for (const struct store_stream_consumer *consumer = store_stream_consumer_first(store,
                                                                                  source);
         consumer != NULL; consumer = store_stream_consumer_next(store, consumer)) {
        struct store_stream_consumer *copy = store_stream_consumer_create(
            store, group, store_stream_consumer_name(consumer), consumer->seen_ms);
        if (copy == NULL) {
            return STORE_OOM;
        }
        if (consumer->pending_count == 0) {
            continue;
        }
        if (store_stream_pel_reserve(store, group, copy, consumer->pending_count) != STORE_OK) {
            return STORE_OOM;
        }
        const struct stream_id *ids = store_stream_consumer_ids(store, consumer);
        /* Bounded by the consumer's pending entries. */
        for (uint32_t index = 0; index < consumer->pending_count; index++) {
            const struct store_stream_nack *nack = store_stream_pel_find(store, source,
                                                                         ids[index]);
            KV_ASSERT(nack != NULL);
            store_stream_pel_deliver(store, group, copy, ids[index], nack->delivery_ms, true);
            struct store_stream_nack *copied = store_stream_pel_find(store, group, ids[index]);
            KV_ASSERT(copied != NULL);
            copied->delivery_ms = nack->delivery_ms;
            copied->delivery_count = nack->delivery_count;
        }
    }
    KV_ASSERT(group->pel_count <= source->pel_count);
    return STORE_OK;
}

static enum store_status copy_stream(struct copy_target *target, uint32_t key_ref)
{
    struct store *store = target->store;
    const struct store_stream *stream = store_stream_of(store, key_ref);
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    struct stream_id max_id = {.ms = UINT64_MAX, .seq = UINT64_MAX};
    store_stream_walk_start(&walk, store, key_ref, (struct stream_id){0, 0}, max_id, false);
    enum store_status status = STORE_OK;
    /* Bounded by the stream's entries, each by its pairs (at most a chunk's worth at once:
     * an entry of more pairs is copied from a scratch of them). */
    while (status == STORE_OK && store_stream_walk_next(&walk, &entry)) {
        if (2u * entry.pair_count > 2u * COPY_CHUNK_MAX) {
            uint64_t bytes = (uint64_t)entry.pair_count * 2u * sizeof(struct slice);
            struct slice *pairs = heap_alloc(store->heap, bytes);
            if (pairs == NULL) {
                return STORE_OOM;
            }
            uint32_t at = 0;
            for (uint32_t pair = 0; pair < entry.pair_count; pair++) {
                store_stream_pair(&entry, &at, &pairs[2u * pair], &pairs[2u * pair + 1u]);
            }
            status = store_stream_add(store, &target->found, target->key, entry.id, pairs,
                                      entry.pair_count);
            heap_release(store->heap, pairs);
            continue;
        }
        uint32_t at = 0;
        /* Bounded by the entry's pairs. */
        for (uint32_t pair = 0; pair < entry.pair_count; pair++) {
            store_stream_pair(&entry, &at, &target->chunk[2u * pair],
                              &target->chunk[2u * pair + 1u]);
        }
        status = store_stream_add(store, &target->found, target->key, entry.id, target->chunk,
                                  entry.pair_count);
    }
    if (status == STORE_OK && !target->found.exists) {
        status = store_stream_create(store, &target->found, target->key);
    }
    if (status != STORE_OK) {
        return status;
    }
    uint64_t entries_added = stream->entries_added;
    struct stream_id max_deleted_id = stream->max_deleted_id;
    store_stream_set_id(store, &target->found, stream->last_id, &entries_added, &max_deleted_id);
    /* Bounded by the source's groups. */
    for (const struct store_stream_group *group = store_stream_group_first(store, key_ref);
         group != NULL; group = store_stream_group_next(store, group)) {
        struct slice name = store_stream_group_name(group);
        status = store_stream_group_create(store, &target->found, name, group->last_id,
                                           group->entries_read);
        if (status != STORE_OK) {
            return status;
        }
        struct store_stream_group *copy =
            store_stream_group_find(store, target->found.key_ref, name);
        KV_ASSERT(copy != NULL);
        status = copy_stream_consumers(target, group, copy);
        if (status != STORE_OK) {
            return status;
        }
    }
    return STORE_OK;
}

/* Copies the value of the source key (live, of `type`) into the absent target key, with
 * its expiry time. */
static enum store_status copy_value(struct copy_target *target, uint32_t key_ref, uint8_t type)
{
    struct store *store = target->store;
    int64_t expire_ms = store_key_expire(store_key(store, key_ref));
    /* Redis duplicates the object: the copy keeps its encoding (OBJECT ENCODING). */
    uint8_t shape = store_key_shape(store_key(store, key_ref));
    switch (type) {
    case STORE_TYPE_STRING: {
        struct slice value = store_string_value(store, key_ref);
        enum store_status status = store_string_check(store, &target->found, target->key,
                                                      value);
        if (status != STORE_OK) {
            return status;
        }
        shape = store_string_copy_shape(store, key_ref); /* read before the put */
        status = store_string_put(store, &target->found, target->key, value, expire_ms, false);
        if (status == STORE_OK && target->found.exists) {
            store_key_shape_set(store_key(store, target->found.key_ref), shape);
        }
        return status;
    }
    case STORE_TYPE_LIST:
        target->status = copy_list(target, key_ref);
        break;
    case STORE_TYPE_HASH:
        target->status = copy_hash(target, key_ref);
        break;
    case STORE_TYPE_SET:
        target->status = copy_set(target, key_ref);
        break;
    case STORE_TYPE_ZSET:
        target->status = copy_zset(target, key_ref);
        break;
    default:
        KV_ASSERT(type == STORE_TYPE_STREAM);
        target->status = copy_stream(target, key_ref);
        break;
    }
    if (target->status == STORE_OK) {
        (void)store_find_typed(store, target->key, STORE_TYPE_ANY, &target->found);
        KV_ASSERT(target->found.exists);
        store_key_shape_set(store_key(store, target->found.key_ref), shape);
    }
    if (target->status == STORE_OK && expire_ms != 0) {
        target->status = store_expire_set(store, &target->found, expire_ms);
    }
    return target->status;
}

/* The options; false after answering an error. */
static bool copy_options(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, bool *replace, uint32_t *target_db)
{
    /* Bounded by the arguments: each step consumes at least one. */
    for (uint32_t index = 3; index < arg_count; index++) {
        if (cmd_arg_is(args[index], "replace")) {
            *replace = true;
        } else if (cmd_arg_is(args[index], "db") && index + 1 < arg_count) {
            int64_t db = 0;
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &db)) {
                reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
                return false;
            }
            if (db < INT32_MIN || db > INT32_MAX) {
                reply_error(&context->reply, REPLY_ERROR_INT32_RANGE);
                return false;
            }
            if (db < 0 || db >= (int64_t)context->store->db_count) {
                reply_error(&context->reply, REPLY_ERROR_DB_INDEX_RANGE);
                return false;
            }
            *target_db = (uint32_t)db;
            index++;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    return true;
}

/* The copy into the destination, in the selected (target) database: 0 when it exists and
 * REPLACE was not given, else the copy, its events and 1. */
static void copy_into(struct cmd_context *context, const struct slice *args, bool replace,
                      uint32_t source_ref, uint8_t type)
{
    struct store *store = context->store;
    struct copy_target target = {.store = store, .key = args[2], .status = STORE_OK};
    (void)store_find_typed(store, args[2], STORE_TYPE_ANY, &target.found);
    if (target.found.exists) {
        if (!replace) {
            reply_integer(&context->reply, 0);
            return;
        }
        store_remove(store, &target.found);
        (void)store_find_typed(store, args[2], STORE_TYPE_ANY, &target.found);
    }
    KV_ASSERT(!target.found.exists);
    /* The removal may have moved nothing of the source: it is another key. */
    enum store_status status = copy_value(&target, source_ref, type);
    if (status != STORE_OK) {
        struct store_found partial;
        (void)store_find_typed(store, args[2], STORE_TYPE_ANY, &partial);
        if (partial.exists) {
            store_remove(store, &partial);
        }
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    /* Redis's events: "new" from the add (the store's hook, even over a replaced key, as
     * Redis's dbDelete then dbAdd), then "copy_to", both in the target's database. */
    notify_event(NOTIFY_GENERIC, "copy_to", args[2]);
    reply_integer(&context->reply, 1);
}

CMD_HANDLER(cmd_copy)
{
    KV_ASSERT(arg_count >= 3);
    uint64_t reply_before = context->reply.total;
    struct store *store = context->store;
    uint32_t source_db = store->db_index;
    uint32_t target_db = source_db;
    bool replace = false;
    if (!copy_options(context, args, arg_count, &replace, &target_db)) {
        return;
    }
    if (cluster_enabled() && (source_db != 0 || target_db != 0)) {
        reply_error(&context->reply, REPLY_ERROR_COPY_CLUSTER);
        return;
    }
    if (target_db == source_db && slice_equal(args[1], args[2])) {
        reply_error(&context->reply, REPLY_ERROR_COPY_SAME);
        return;
    }
    struct store_found source;
    if (!cmd_read_any(context, args[1], &source)) {
        reply_integer(&context->reply, 0);
        return;
    }
    store_select(store, target_db);
    copy_into(context, args, replace, source.key_ref, source.type);
    store_select(store, source_db);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd copy_cmds[] = {
    {"copy", -3, 1, 2, 1, CMD_FLAG_WRITE, cmd_copy},
};

CMD_FAMILY(cmd_family_copy, "generic", copy_cmds);
