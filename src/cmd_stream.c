/*
 * Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID, XREAD, XREADGROUP,
 * XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO, with Redis 7.0's RESP2 replies and
 * errors, parsed in Redis's order so that the first error a command meets is Redis's.
 *
 * Blocking (XREAD and XREADGROUP with BLOCK): a read that finds nothing asks to block on its
 * stream keys (context->outcome.block), as BLPOP does; XREAD first keeps the IDs it resolved
 * (`$` is the last ID at the time it blocked) in the client's stash (block.h). When a key
 * gains entries the serving layer runs the command again (CMD_MODE_RETRY): it then answers,
 * as Redis 7.0 does for a woken reader, with the first of its streams that has entries past
 * its ID, alone, and at most COUNT (1000 without COUNT) of them; with nothing it waits on.
 * Inside MULTI (or a script) a read that would block answers the timeout's null array.
 *
 * Writes take all the memory they need first (the store's rule): a read of a group reserves
 * its PEL room before the reply lists the first entry. Replies whose length Redis defers are
 * counted with a first walk, then written. Entry and ID texts never point into the reply.
 */
#include "cmd_handlers.h"

#include <stdio.h>

#include "block.h"
#include "client.h"
#include "number.h"
#include "store_stream.h"

/* Redis parses an ID in a 128-byte buffer: longer text is invalid. */
#define STREAM_ID_TEXT_BYTES_MAX 127u

/* Text of an ID: two 20-digit numbers and the dash. */
#define STREAM_ID_FORMAT_BYTES 48u

/* A woken XREAD without COUNT gets at most this many entries (Redis's
 * XREAD_BLOCKED_DEFAULT_COUNT). */
#define STREAM_BLOCKED_COUNT_DEFAULT 1000u

/* The streams one XREAD may name: its keys are arguments, so the receive buffer bounds them. */
#define STREAM_READ_KEYS_MAX (1u << 20)

static const struct stream_id stream_id_max = {UINT64_MAX, UINT64_MAX};

/* ---- IDs ------------------------------------------------------------------------------------ */

static bool is_space(uint8_t byte)
{
    return byte == ' ' || (byte >= '\t' && byte <= '\r');
}

/* Redis's string2ull: a strict decimal first, else strtoull's rules (leading blanks, a sign,
 * leading zeros; a minus wraps), the whole text used, no overflow. */
static bool text_ull(const uint8_t *text, uint32_t length, uint64_t *value)
{
    int64_t signed_value = 0;
    if (number_parse_int64(text, length, &signed_value)) {
        if (signed_value < 0) {
            return false;
        }
        *value = (uint64_t)signed_value;
        return true;
    }
    uint32_t at = 0;
    /* Bounded by the length, as each loop below. */
    while (at < length && is_space(text[at])) {
        at++;
    }
    bool negative = false;
    if (at < length && (text[at] == '+' || text[at] == '-')) {
        negative = text[at] == '-';
        at++;
    }
    if (at == length) {
        return false;
    }
    uint64_t number = 0;
    for (; at < length; at++) {
        if (text[at] < '0' || text[at] > '9') {
            return false;
        }
        uint64_t digit = text[at] - '0';
        if (number > (UINT64_MAX - digit) / 10) {
            return false;
        }
        number = number * 10 + digit;
    }
    *value = negative ? (uint64_t)0 - number : number;
    return true;
}

/* Redis's streamGenericParseIDOrReply without the reply: `ms-seq`, `ms` (seq missing_seq),
 * `-` and `+` (unless strict), and `ms-*` when seq_given is not NULL (*seq_given false). */
static bool id_parse(struct slice arg, uint64_t missing_seq, bool strict, bool *seq_given,
                     struct stream_id *id)
{
    if (arg.length > STREAM_ID_TEXT_BYTES_MAX) {
        return false;
    }
    /* Redis reads the argument as a C string: a NUL byte ends it. */
    const uint8_t *nul = arg.length > 0 ? memchr(arg.bytes, 0, arg.length) : NULL;
    uint32_t length = nul != NULL ? (uint32_t)(nul - arg.bytes) : arg.length;
    const uint8_t *text = arg.bytes;
    if (length == 1 && (text[0] == '-' || text[0] == '+')) {
        if (strict) {
            return false;
        }
        *id = text[0] == '-' ? (struct stream_id){0, 0} : stream_id_max;
        if (seq_given != NULL) {
            *seq_given = true;
        }
        return true;
    }
    if (seq_given != NULL) {
        *seq_given = true;
    }
    const uint8_t *dash = length > 0 ? memchr(text, '-', length) : NULL;
    uint32_t ms_length = dash != NULL ? (uint32_t)(dash - text) : length;
    uint64_t ms = 0;
    uint64_t seq = missing_seq;
    if (!text_ull(text, ms_length, &ms)) {
        return false;
    }
    if (dash != NULL) {
        const uint8_t *seq_text = dash + 1;
        uint32_t seq_length = length - ms_length - 1;
        if (seq_given != NULL && seq_length == 1 && seq_text[0] == '*') {
            seq = 0;
            *seq_given = false;
        } else if (!text_ull(seq_text, seq_length, &seq)) {
            return false;
        }
    }
    *id = (struct stream_id){ms, seq};
    return true;
}

/* id_parse, answering Redis's error when the ID is invalid. */
static bool id_parse_reply(struct cmd_context *context, struct slice arg, uint64_t missing_seq,
                           bool strict, bool *seq_given, struct stream_id *id)
{
    if (id_parse(arg, missing_seq, strict, seq_given, id)) {
        return true;
    }
    reply_error(&context->reply, REPLY_ERROR_STREAM_ID_INVALID);
    return false;
}

/* One end of a range: `(` makes it exclusive (then `-`, `+` are invalid). */
static bool interval_parse(struct cmd_context *context, struct slice arg, uint64_t missing_seq,
                           struct stream_id *id, bool *exclusive)
{
    *exclusive = arg.length > 1 && arg.bytes[0] == '(';
    if (*exclusive) {
        struct slice rest = {.bytes = arg.bytes + 1, .length = arg.length - 1};
        return id_parse_reply(context, rest, missing_seq, true, NULL, id);
    }
    return id_parse_reply(context, arg, missing_seq, false, NULL, id);
}

static bool id_increment(struct stream_id *id)
{
    if (id->seq == UINT64_MAX) {
        if (id->ms == UINT64_MAX) {
            return false;
        }
        id->ms++;
        id->seq = 0;
        return true;
    }
    id->seq++;
    return true;
}

static bool id_decrement(struct stream_id *id)
{
    if (id->seq == 0) {
        if (id->ms == 0) {
            return false;
        }
        id->ms--;
        id->seq = UINT64_MAX;
        return true;
    }
    id->seq--;
    return true;
}

/* A range's start and end arguments as XRANGE, XPENDING read them. */
static bool range_parse(struct cmd_context *context, struct slice start_arg, struct slice end_arg,
                        struct stream_id *start, struct stream_id *end)
{
    bool exclusive = false;
    if (!interval_parse(context, start_arg, 0, start, &exclusive)) {
        return false;
    }
    if (exclusive && !id_increment(start)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_START_INVALID);
        return false;
    }
    if (!interval_parse(context, end_arg, UINT64_MAX, end, &exclusive)) {
        return false;
    }
    if (exclusive && !id_decrement(end)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_END_INVALID);
        return false;
    }
    return true;
}

static void reply_id(struct reply *reply, struct stream_id id)
{
    char text[STREAM_ID_FORMAT_BYTES];
    int length = snprintf(text, sizeof(text), "%llu-%llu", (unsigned long long)id.ms,
                          (unsigned long long)id.seq);
    KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length});
}

/* [id, [field, value, ...]] */
static void reply_entry(struct reply *reply, const struct store_stream_entry *entry)
{
    reply_array(reply, 2);
    reply_id(reply, entry->id);
    reply_array(reply, 2ull * entry->pair_count);
    uint32_t at = 0;
    /* Bounded by the entry's pairs. */
    for (uint32_t index = 0; index < entry->pair_count; index++) {
        struct slice field;
        struct slice value;
        store_stream_pair(entry, &at, &field, &value);
        reply_bulk(reply, field);
        reply_bulk(reply, value);
    }
}

/* Live entries in [start, end], at most `count` (0: all). */
static uint64_t range_count(const struct store *store, uint32_t key_ref, struct stream_id start,
                            struct stream_id end, uint64_t count)
{
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    store_stream_walk_start(&walk, store, key_ref, start, end, false);
    uint64_t found = 0;
    /* Bounded by the stream's entries and count. */
    while ((count == 0 || found < count) && store_stream_walk_next(&walk, &entry)) {
        found++;
    }
    return found;
}

/* The array of entries in [start, end] (descending when reverse), at most count (0: all). */
static void reply_range(struct cmd_context *context, uint32_t key_ref, struct stream_id start,
                        struct stream_id end, bool reverse, uint64_t count)
{
    const struct store *store = context->store;
    uint64_t total = range_count(store, key_ref, start, end, count);
    reply_array(&context->reply, total);
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    store_stream_walk_start(&walk, store, key_ref, start, end, reverse);
    /* Bounded by total. */
    for (uint64_t index = 0; index < total; index++) {
        bool more = store_stream_walk_next(&walk, &entry);
        KV_ASSERT(more);
        reply_entry(&context->reply, &entry);
    }
}

/* The last live entry's ID (Redis's streamLastValidID); the stream is not empty. */
static struct stream_id last_valid_id(const struct store *store, uint32_t key_ref)
{
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    store_stream_walk_start(&walk, store, key_ref, (struct stream_id){0, 0}, stream_id_max, true);
    bool found = store_stream_walk_next(&walk, &entry);
    KV_ASSERT(found);
    return entry.id;
}

static bool parse_int64(struct cmd_context *context, struct slice arg, int64_t *value)
{
    if (number_parse_int64(arg.bytes, arg.length, value)) {
        return true;
    }
    reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
    return false;
}

/* ---- XADD and XTRIM -------------------------------------------------------------------------- */

struct add_args {
    struct store_stream_trim trim;
    struct stream_id id;
    bool id_given;
    bool seq_given;
    bool no_mkstream;
};

static bool arg_is_char(struct slice arg, char c)
{
    return arg.length >= 1 && arg.bytes[0] == (uint8_t)c && (arg.length == 1 || arg.bytes[1] == 0);
}

/* Redis's streamParseAddOrTrimArgsOrReply: returns the ID's position (XADD), or 0 after the
 * error. */
static uint32_t add_trim_parse(struct cmd_context *context, const struct slice *args,
                               uint32_t arg_count, bool xadd, struct add_args *parsed)
{
    *parsed = (struct add_args){0};
    bool limit_given = false;
    int64_t limit = 0;
    uint32_t index = 2;
    /* Bounded by the arguments: each pass consumes at least one. */
    for (; index < arg_count; index++) {
        uint32_t more = arg_count - 1 - index;
        struct slice opt = args[index];
        if (xadd && arg_is_char(opt, '*')) {
            break;
        }
        bool maxlen = cmd_arg_is(opt, "maxlen");
        if ((maxlen || cmd_arg_is(opt, "minid")) && more > 0) {
            if (parsed->trim.strategy != STORE_STREAM_TRIM_NONE) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_TRIM_BOTH);
                return 0;
            }
            parsed->trim.approx = false;
            struct slice next = args[index + 1];
            if (more >= 2 && arg_is_char(next, '~')) {
                parsed->trim.approx = true;
                index++;
            } else if (more >= 2 && arg_is_char(next, '=')) {
                index++;
            }
            if (maxlen) {
                int64_t value = 0;
                if (!parse_int64(context, args[index + 1], &value)) {
                    return 0;
                }
                if (value < 0) {
                    reply_error(&context->reply, REPLY_ERROR_STREAM_MAXLEN_NEGATIVE);
                    return 0;
                }
                parsed->trim.maxlen = (uint64_t)value;
                parsed->trim.strategy = STORE_STREAM_TRIM_MAXLEN;
            } else {
                if (!id_parse_reply(context, args[index + 1], 0, true, NULL, &parsed->trim.minid)) {
                    return 0;
                }
                parsed->trim.strategy = STORE_STREAM_TRIM_MINID;
            }
            index++;
        } else if (cmd_arg_is(opt, "limit") && more > 0) {
            if (!parse_int64(context, args[index + 1], &limit)) {
                return 0;
            }
            if (limit < 0) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_LIMIT_NEGATIVE);
                return 0;
            }
            limit_given = true;
            index++;
        } else if (xadd && cmd_arg_is(opt, "nomkstream")) {
            parsed->no_mkstream = true;
        } else if (xadd) {
            if (!id_parse_reply(context, opt, 0, true, &parsed->seq_given, &parsed->id)) {
                return 0;
            }
            parsed->id_given = true;
            break;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return 0;
        }
    }
    if (limit != 0 && parsed->trim.strategy == STORE_STREAM_TRIM_NONE) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_LIMIT_NO_STRATEGY);
        return 0;
    }
    if (!xadd && parsed->trim.strategy == STORE_STREAM_TRIM_NONE) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_XTRIM_NO_STRATEGY);
        return 0;
    }
    if (limit_given) {
        if (!parsed->trim.approx) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_LIMIT_NO_APPROX);
            return 0;
        }
        parsed->trim.limit = (uint64_t)limit;
    } else if (parsed->trim.approx) {
        parsed->trim.limit = 100u * STORE_STREAM_NODE_ENTRIES_MAX;
    }
    KV_ASSERT(index >= 2);
    return index;
}

/* The ID an XADD adds (Redis's streamAppendItem and streamNextID); false after the error. */
static bool add_id(struct cmd_context *context, const struct add_args *parsed,
                   struct stream_id last, struct stream_id *id)
{
    if (parsed->id_given) {
        *id = parsed->id;
        if (!parsed->seq_given) {
            if (last.ms == parsed->id.ms) {
                if (last.seq == UINT64_MAX) {
                    reply_error(&context->reply, REPLY_ERROR_STREAM_TOO_LARGE);
                    return false;
                }
                *id = (struct stream_id){last.ms, last.seq + 1};
            } else {
                *id = (struct stream_id){parsed->id.ms, 0};
            }
        }
    } else {
        uint64_t now_ms = context->store->now_ms > 0 ? (uint64_t)context->store->now_ms : 0;
        if (now_ms > last.ms) {
            *id = (struct stream_id){now_ms, 0};
        } else {
            *id = last;
            (void)id_increment(id); /* last is not the largest ID: checked before */
        }
    }
    if (stream_id_compare(*id, last) <= 0) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_XADD_ID_SMALL);
        return false;
    }
    return true;
}

CMD_HANDLER(cmd_xadd)
{
    KV_ASSERT(arg_count >= 5);
    uint64_t reply_before = context->reply.total;
    struct add_args parsed;
    uint32_t id_index = add_trim_parse(context, args, arg_count, true, &parsed);
    if (id_index == 0) {
        return;
    }
    uint32_t field_index = id_index + 1;
    if (field_index > arg_count || arg_count - field_index < 2 ||
        (arg_count - field_index) % 2 == 1) {
        reply_error_arity(&context->reply, "xadd");
        return;
    }
    if (parsed.id_given && parsed.seq_given && stream_id_is_zero(parsed.id)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_XADD_ZERO_ID);
        return;
    }
    struct store *store = context->store;
    struct store_found found;
    if (store_find_typed(store, args[1], STORE_TYPE_STREAM, &found) == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return;
    }
    if (!found.exists && parsed.no_mkstream) {
        reply_null(&context->reply);
        return;
    }
    struct stream_id last = {0, 0};
    if (found.exists) {
        last = store_stream_of(store, found.key_ref)->last_id;
    }
    if (stream_id_compare(last, stream_id_max) == 0) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_EXHAUSTED);
        return;
    }
    struct stream_id id;
    if (!add_id(context, &parsed, last, &id)) {
        return;
    }
    uint64_t value_bytes = 0;
    /* Bounded by the arguments. */
    for (uint32_t index = field_index; index < arg_count; index++) {
        value_bytes += args[index].length;
    }
    if (value_bytes > STORE_STREAM_ENTRY_BYTES_MAX) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_TOO_LARGE);
        return;
    }
    uint32_t pair_count = (arg_count - field_index) / 2;
    enum store_status status =
        store_stream_add(store, &found, args[1], id, args + field_index, pair_count);
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return;
    }
    reply_id(&context->reply, id);
    if (parsed.trim.strategy != STORE_STREAM_TRIM_NONE) {
        (void)store_stream_trim(store, &found, &parsed.trim);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_xtrim)
{
    KV_ASSERT(arg_count >= 4);
    struct add_args parsed;
    if (add_trim_parse(context, args, arg_count, false, &parsed) == 0) {
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint64_t deleted = status == STORE_OK ? store_stream_trim(context->store, &found, &parsed.trim)
                                          : 0;
    reply_integer(&context->reply, (int64_t)deleted);
}

/* ---- XLEN, XRANGE, XREVRANGE, XDEL, XSETID ---------------------------------------------------- */

CMD_HANDLER(cmd_xlen)
{
    KV_ASSERT(arg_count == 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint64_t length = status == STORE_OK ? store_stream_of(context->store, found.key_ref)->length
                                         : 0;
    reply_integer(&context->reply, (int64_t)length);
}

static void range_command(struct cmd_context *context, const struct slice *args,
                          uint32_t arg_count, bool reverse)
{
    KV_ASSERT(arg_count >= 4);
    struct stream_id start;
    struct stream_id end;
    if (!range_parse(context, reverse ? args[3] : args[2], reverse ? args[2] : args[3], &start,
                     &end)) {
        return;
    }
    int64_t count = -1;
    /* Bounded by the arguments. */
    for (uint32_t index = 4; index < arg_count; index++) {
        if (cmd_arg_is(args[index], "count") && index + 1 < arg_count) {
            if (!parse_int64(context, args[index + 1], &count)) {
                return;
            }
            count = count < 0 ? 0 : count;
            index++;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND) {
        reply_array(&context->reply, 0);
        return;
    }
    if (count == 0) {
        reply_null_array(&context->reply);
        return;
    }
    reply_range(context, found.key_ref, start, end, reverse, count < 0 ? 0 : (uint64_t)count);
}

CMD_HANDLER(cmd_xrange)
{
    range_command(context, args, arg_count, false);
}

CMD_HANDLER(cmd_xrevrange)
{
    range_command(context, args, arg_count, true);
}

CMD_HANDLER(cmd_xdel)
{
    KV_ASSERT(arg_count >= 3);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    struct stream_id id;
    /* Bounded by the arguments: every ID is checked before any goes. */
    for (uint32_t index = 2; index < arg_count; index++) {
        if (!id_parse_reply(context, args[index], 0, true, NULL, &id)) {
            return;
        }
    }
    int64_t deleted = 0;
    for (uint32_t index = 2; index < arg_count; index++) {
        bool valid = id_parse(args[index], 0, true, NULL, &id);
        KV_ASSERT(valid);
        deleted += store_stream_delete(context->store, &found, id) ? 1 : 0;
    }
    reply_integer(&context->reply, deleted);
}

CMD_HANDLER(cmd_xsetid)
{
    KV_ASSERT(arg_count >= 3);
    struct stream_id id;
    struct stream_id max_deleted = {0, 0};
    int64_t entries_added = -1;
    if (!id_parse_reply(context, args[2], 0, true, NULL, &id)) {
        return;
    }
    /* Bounded by the arguments. */
    for (uint32_t index = 3; index < arg_count; index += 2) {
        bool more = index + 1 < arg_count;
        if (cmd_arg_is(args[index], "entriesadded") && more) {
            if (!parse_int64(context, args[index + 1], &entries_added)) {
                return;
            }
            if (entries_added < 0) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_ENTRIES_ADDED);
                return;
            }
        } else if (cmd_arg_is(args[index], "maxdeletedid") && more) {
            if (!id_parse_reply(context, args[index + 1], 0, true, NULL, &max_deleted)) {
                return;
            }
            if (stream_id_compare(id, max_deleted) < 0) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_XSETID_MAXDEL);
                return;
            }
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND) {
        reply_error(&context->reply, REPLY_ERROR_NO_SUCH_KEY);
        return;
    }
    const struct store_stream *stream = store_stream_of(context->store, found.key_ref);
    if (stream->length > 0) {
        if (stream_id_compare(id, last_valid_id(context->store, found.key_ref)) < 0) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_XSETID_SMALL);
            return;
        }
        if (entries_added != -1 && stream->length > (uint64_t)entries_added) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_XSETID_LENGTH);
            return;
        }
    }
    uint64_t added = (uint64_t)entries_added;
    store_stream_set_id(context->store, &found, id, entries_added != -1 ? &added : NULL,
                        stream_id_is_zero(max_deleted) ? NULL : &max_deleted);
    reply_ok(&context->reply);
}

/* ---- Consumer groups' reads and counters ------------------------------------------------------ */

/* Redis's streamRangeHasTombstones from `start` to the end. */
static bool range_has_tombstones(const struct store_stream *stream, struct stream_id start)
{
    if (stream->length == 0 || stream_id_is_zero(stream->max_deleted_id)) {
        return false;
    }
    if (stream_id_compare(stream->first_id, stream->max_deleted_id) > 0) {
        return false;
    }
    return stream_id_compare(start, stream->max_deleted_id) <= 0;
}

/* Redis's streamEstimateDistanceFromFirstEverEntry; -1 when it cannot tell. */
static int64_t distance_estimate(const struct store_stream *stream, struct stream_id id)
{
    if (stream->entries_added == 0) {
        return 0;
    }
    if (stream->length == 0 && stream_id_compare(id, stream->last_id) < 1) {
        return (int64_t)stream->entries_added;
    }
    int last_order = stream_id_compare(id, stream->last_id);
    if (last_order == 0) {
        return (int64_t)stream->entries_added;
    }
    if (last_order > 0) {
        return -1;
    }
    int first_order = stream_id_compare(id, stream->first_id);
    if (stream_id_is_zero(stream->max_deleted_id) ||
        stream_id_compare(stream->max_deleted_id, stream->first_id) < 0) {
        if (first_order < 0) {
            return (int64_t)(stream->entries_added - stream->length);
        }
        if (first_order == 0) {
            return (int64_t)(stream->entries_added - stream->length + 1);
        }
    }
    return -1;
}

/* The group's read counter after delivering `id` past its last ID (Redis's bookkeeping in
 * streamReplyWithRange), and its new last ID. */
static void group_advance(const struct store_stream *stream, struct store_stream_group *group,
                          struct stream_id id)
{
    if (stream_id_compare(id, group->last_id) <= 0) {
        return;
    }
    if (group->entries_read != -1 && !range_has_tombstones(stream, id)) {
        group->entries_read++;
    } else if (stream->entries_added != 0) {
        group->entries_read = distance_estimate(stream, id);
    }
    group->last_id = id;
}

/* Finds or creates the consumer (Redis's lookup refreshes its seen time); NULL: no room. */
static struct store_stream_consumer *consumer_get(struct cmd_context *context,
                                                  struct store_stream_group *group,
                                                  struct slice name)
{
    struct store_stream_consumer *consumer =
        store_stream_consumer_find(context->store, group, name);
    if (consumer != NULL) {
        consumer->seen_ms = context->store->now_ms;
        return consumer;
    }
    return store_stream_consumer_create(context->store, group, name, context->store->now_ms);
}

/* ---- XREAD and XREADGROUP ----------------------------------------------------------------------- */

struct read_args {
    int64_t timeout_ms;        /* -1: no BLOCK */
    uint64_t count;            /* 0: all */
    uint32_t streams_index;    /* the first key */
    uint32_t stream_count;
    const struct slice *group; /* XREADGROUP's group and consumer */
    const struct slice *consumer;
    bool noack;
};

/* The options up to STREAMS, as Redis's xreadCommand reads them; false after the error. */
static bool read_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                       bool xreadgroup, struct read_args *parsed)
{
    *parsed = (struct read_args){.timeout_ms = -1};
    /* Bounded by the arguments: each pass consumes at least one. */
    for (uint32_t index = 1; index < arg_count; index++) {
        uint32_t more = arg_count - 1 - index;
        struct slice opt = args[index];
        if (cmd_arg_is(opt, "block") && more > 0) {
            index++;
            int64_t timeout = 0;
            if (!number_parse_int64(args[index].bytes, args[index].length, &timeout)) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_TIMEOUT_INVALID);
                return false;
            }
            if (timeout < 0) {
                reply_error(&context->reply, REPLY_ERROR_TIMEOUT_NEGATIVE);
                return false;
            }
            parsed->timeout_ms = timeout;
        } else if (cmd_arg_is(opt, "count") && more > 0) {
            index++;
            int64_t count = 0;
            if (!parse_int64(context, args[index], &count)) {
                return false;
            }
            parsed->count = count < 0 ? 0 : (uint64_t)count;
        } else if (cmd_arg_is(opt, "streams") && more > 0) {
            parsed->streams_index = index + 1;
            uint32_t rest = arg_count - parsed->streams_index;
            if (rest % 2 != 0) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_UNBALANCED);
                return false;
            }
            parsed->stream_count = rest / 2;
            break;
        } else if (cmd_arg_is(opt, "group") && more >= 2) {
            if (!xreadgroup) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_GROUP_XREAD);
                return false;
            }
            parsed->group = &args[index + 1];
            parsed->consumer = &args[index + 2];
            index += 2;
        } else if (cmd_arg_is(opt, "noack")) {
            if (!xreadgroup) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_NOACK_XREAD);
                return false;
            }
            parsed->noack = true;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return false;
        }
    }
    if (parsed->streams_index == 0) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    if (xreadgroup && parsed->group == NULL) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_GROUP_MISSING);
        return false;
    }
    KV_ASSERT(parsed->stream_count <= STREAM_READ_KEYS_MAX);
    return true;
}

/* One stream of a read: its key, the ID entries must pass, and its group. */
struct read_stream {
    uint32_t key_ref;                  /* HEAP_REF_NONE: no such key */
    struct stream_id after;            /* entries past this; `>` is the largest ID */
    struct store_stream_group *group;  /* XREADGROUP */
    bool serve;
};

/* Resolves stream `index`'s key and ID (Redis's loop: type, group, then the ID); false
 * after the error. `wrong` tells a WRONGTYPE (answered, unless retrying). */
static bool read_resolve(struct cmd_context *context, const struct slice *args,
                         const struct read_args *parsed, uint32_t index, bool xreadgroup,
                         struct read_stream *stream, bool *wrong)
{
    struct store *store = context->store;
    struct slice key = args[parsed->streams_index + index];
    struct slice id_arg = args[parsed->streams_index + parsed->stream_count + index];
    struct store_found found;
    enum store_status status = store_find_typed(store, key, STORE_TYPE_STREAM, &found);
    *stream = (struct read_stream){.key_ref = HEAP_REF_NONE};
    if (status == STORE_WRONGTYPE) {
        *wrong = true;
        if (context->mode != CMD_MODE_RETRY) {
            reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        }
        return false;
    }
    stream->key_ref = status == STORE_OK ? found.key_ref : HEAP_REF_NONE;
    if (xreadgroup) {
        stream->group = status == STORE_OK
                            ? store_stream_group_find(store, found.key_ref, *parsed->group)
                            : NULL;
        if (stream->group == NULL) {
            if (context->mode == CMD_MODE_RETRY) {
                /* Blocked on a group that went (or a key that did): Redis's answer to the
                 * waiter is this error only when the key is still there. */
                if (status == STORE_OK) {
                    reply_error(&context->reply, REPLY_ERROR_STREAM_NOGROUP_BLOCKED);
                } else {
                    *wrong = true;
                }
                return false;
            }
            reply_error_format(&context->reply, REPLY_ERROR_STREAM_NOGROUP_XREADGROUP, &key,
                               parsed->group);
            return false;
        }
    }
    if (id_arg.length == 1 && id_arg.bytes[0] == '$') {
        if (xreadgroup) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_DOLLAR_GROUP);
            return false;
        }
        stream->after = status == STORE_OK ? store_stream_of(store, found.key_ref)->last_id
                                           : (struct stream_id){0, 0};
        return true;
    }
    if (id_arg.length == 1 && id_arg.bytes[0] == '>') {
        if (!xreadgroup) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_GT_XREAD);
            return false;
        }
        stream->after = stream_id_max;
        return true;
    }
    return id_parse_reply(context, id_arg, 0, true, NULL, &stream->after);
}

/* The history of a consumer (XREADGROUP with an ID): its pending entries past `after`. */
static void reply_history(struct cmd_context *context, const struct read_stream *stream,
                          struct store_stream_consumer *consumer, uint64_t count)
{
    struct store *store = context->store;
    struct stream_id start = stream->after;
    bool has_start = id_increment(&start);
    uint32_t total = 0;
    uint32_t first = consumer->pending_count;
    const struct stream_id *ids = store_stream_consumer_ids(store, consumer);
    if (has_start) {
        /* Bounded by the consumer's pending count. */
        for (first = 0; first < consumer->pending_count; first++) {
            if (stream_id_compare(ids[first], start) >= 0) {
                break;
            }
        }
    }
    total = consumer->pending_count - first;
    if (count != 0 && total > count) {
        total = (uint32_t)count;
    }
    reply_array(&context->reply, total);
    /* Bounded by total. */
    for (uint32_t index = first; index < first + total; index++) {
        struct stream_id id = ids[index];
        struct store_stream_entry entry;
        if (!store_stream_find_entry(store, stream->key_ref, id, &entry)) {
            reply_array(&context->reply, 2);
            reply_id(&context->reply, id);
            reply_null_array(&context->reply);
            continue;
        }
        reply_entry(&context->reply, &entry);
        struct store_stream_nack *nack = store_stream_pel_find(store, stream->group, id);
        KV_ASSERT(nack != NULL);
        nack->delivery_ms = store->now_ms;
        nack->delivery_count++;
    }
}

/* New entries for a group (`>`): delivered to the consumer (PEL room reserved) unless noack. */
static void reply_group_new(struct cmd_context *context, const struct read_stream *stream,
                            struct store_stream_consumer *consumer, uint64_t total, bool noack)
{
    struct store *store = context->store;
    struct stream_id start = stream->after;
    bool has_start = id_increment(&start);
    KV_ASSERT(has_start);
    const struct store_stream *root = store_stream_of(store, stream->key_ref);
    reply_array(&context->reply, total);
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    store_stream_walk_start(&walk, store, stream->key_ref, start, stream_id_max, false);
    /* Bounded by total. */
    for (uint64_t index = 0; index < total; index++) {
        bool more = store_stream_walk_next(&walk, &entry);
        KV_ASSERT(more);
        group_advance(root, stream->group, entry.id);
        reply_entry(&context->reply, &entry);
        if (!noack) {
            store_stream_pel_deliver(store, stream->group, consumer, entry.id, store->now_ms,
                                     true);
        }
    }
}

/* Serves one stream: [key, entries]. False (nothing written) when the heap has no room for
 * the consumer or its PEL. */
static bool read_serve(struct cmd_context *context, const struct read_args *parsed,
                       struct slice key, struct read_stream *stream, uint64_t count, bool history)
{
    struct store *store = context->store;
    if (stream->group == NULL) {
        struct stream_id start = stream->after;
        bool has_start = id_increment(&start);
        KV_ASSERT(has_start);
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, key);
        reply_range(context, stream->key_ref, start, stream_id_max, false, count);
        return true;
    }
    struct store_stream_consumer *consumer = consumer_get(context, stream->group,
                                                          *parsed->consumer);
    if (consumer == NULL) {
        return false;
    }
    store_modified(store, store_key(store, stream->key_ref));
    if (history) {
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, key);
        reply_history(context, stream, consumer, count);
        return true;
    }
    struct stream_id start = stream->after;
    bool has_start = id_increment(&start);
    KV_ASSERT(has_start);
    uint64_t total = range_count(store, stream->key_ref, start, stream_id_max, count);
    if (!parsed->noack && total > 0) {
        KV_ASSERT(total <= UINT32_MAX);
        if (store_stream_pel_reserve(store, stream->group, consumer, (uint32_t)total) !=
            STORE_OK) {
            return false;
        }
    }
    reply_array(&context->reply, 2);
    reply_bulk(&context->reply, key);
    reply_group_new(context, stream, consumer, total, parsed->noack);
    return true;
}

/* A woken reader (CMD_MODE_RETRY): the first stream with entries past its ID, alone. */
static void read_retry(struct cmd_context *context, const struct slice *args,
                       const struct read_args *parsed, bool xreadgroup)
{
    struct store *store = context->store;
    struct slice stash = block_stash(context->block, context->client->slot_index);
    uint64_t count = parsed->count != 0 ? parsed->count : STREAM_BLOCKED_COUNT_DEFAULT;
    /* Bounded by the streams named. */
    for (uint32_t index = 0; index < parsed->stream_count; index++) {
        struct read_stream stream;
        bool wrong = false;
        if (!read_resolve(context, args, parsed, index, xreadgroup, &stream, &wrong)) {
            if (wrong) {
                continue; /* a key of another type (or gone): it waits on */
            }
            return; /* answered (a group that went) */
        }
        if (stream.key_ref == HEAP_REF_NONE) {
            continue;
        }
        if (xreadgroup) {
            stream.after = stream.group->last_id;
        } else if (stash.length == (uint64_t)parsed->stream_count * sizeof(struct stream_id)) {
            memcpy(&stream.after, stash.bytes + (uint64_t)index * sizeof(struct stream_id),
                   sizeof(struct stream_id));
        }
        if (stream_id_compare(store_stream_of(store, stream.key_ref)->last_id, stream.after) <= 0) {
            continue;
        }
        reply_array(&context->reply, 1);
        if (!read_serve(context, parsed, args[parsed->streams_index + index], &stream, count,
                        false)) {
            reply_truncate(&context->reply);
            reply_error(&context->reply, REPLY_ERROR_OOM);
        }
        return;
    }
    context->outcome.block = true; /* still nothing: it waits on */
}

static void read_command(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, bool xreadgroup)
{
    struct read_args parsed;
    if (!read_parse(context, args, arg_count, xreadgroup, &parsed)) {
        return;
    }
    if (context->mode == CMD_MODE_RETRY) {
        read_retry(context, args, &parsed, xreadgroup);
        return;
    }
    struct store *store = context->store;
    /* Resolve every stream first (Redis's order of errors), then serve. */
    uint32_t served = 0;
    for (uint32_t index = 0; index < parsed.stream_count; index++) {
        struct read_stream stream;
        bool wrong = false;
        if (!read_resolve(context, args, &parsed, index, xreadgroup, &stream, &wrong)) {
            return;
        }
    }
    /* Bounded by the streams named. Which are served, counted for the reply's head. */
    for (uint32_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (served == 0) {
                break;
            }
            reply_array(&context->reply, served);
        }
        for (uint32_t index = 0; index < parsed.stream_count; index++) {
            struct read_stream stream;
            bool wrong = false;
            bool resolved = read_resolve(context, args, &parsed, index, xreadgroup, &stream,
                                         &wrong);
            KV_ASSERT(resolved);
            if (stream.key_ref == HEAP_REF_NONE) {
                continue;
            }
            const struct store_stream *root = store_stream_of(store, stream.key_ref);
            bool history = false;
            bool serve = false;
            if (xreadgroup) {
                if (stream_id_compare(stream.after, stream_id_max) != 0) {
                    serve = true;
                    history = true;
                } else if (root->length > 0 &&
                           stream_id_compare(last_valid_id(store, stream.key_ref),
                                             stream.group->last_id) > 0) {
                    serve = true;
                    stream.after = stream.group->last_id;
                }
            } else if (root->length > 0) {
                serve = stream_id_compare(last_valid_id(store, stream.key_ref), stream.after) > 0;
            }
            if (!serve) {
                continue;
            }
            if (pass == 0) {
                served++;
                continue;
            }
            if (!read_serve(context, &parsed, args[parsed.streams_index + index], &stream,
                            parsed.count, history)) {
                reply_truncate(&context->reply);
                reply_error(&context->reply, REPLY_ERROR_OOM);
                return;
            }
        }
    }
    if (served > 0) {
        return;
    }
    if (parsed.timeout_ms < 0 || context->mode == CMD_MODE_EXEC) {
        reply_null_array(&context->reply);
        return;
    }
    if (!xreadgroup) {
        /* What `$` meant when it blocked: kept for the retries. */
        KV_ASSERT(parsed.stream_count <= STREAM_READ_KEYS_MAX);
        uint32_t bytes = parsed.stream_count * (uint32_t)sizeof(struct stream_id);
        uint8_t *stash = block_stash_take(context->block, context->client->slot_index, bytes);
        if (stash == NULL) {
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
        /* Bounded by the streams named. */
        for (uint32_t index = 0; index < parsed.stream_count; index++) {
            struct read_stream stream;
            bool wrong = false;
            bool resolved = read_resolve(context, args, &parsed, index, false, &stream, &wrong);
            KV_ASSERT(resolved);
            memcpy(stash + (uint64_t)index * sizeof(struct stream_id), &stream.after,
                   sizeof(struct stream_id));
        }
    }
    context->outcome.block = true;
    context->outcome.block_key_first = parsed.streams_index;
    context->outcome.block_key_count = parsed.stream_count;
    context->outcome.block_deadline_ms =
        parsed.timeout_ms > 0 ? store->now_ms + parsed.timeout_ms : 0;
}

CMD_HANDLER(cmd_xread)
{
    KV_ASSERT(arg_count >= 4);
    read_command(context, args, arg_count, false);
}

CMD_HANDLER(cmd_xreadgroup)
{
    KV_ASSERT(arg_count >= 7);
    read_command(context, args, arg_count, true);
}

static const struct cmd stream_cmds[] = {
    {"xadd", -5, 1, 1, 1, CMD_FLAG_WRITE, cmd_xadd},
    {"xlen", 2, 1, 1, 1, 0, cmd_xlen},
    {"xrange", -4, 1, 1, 1, 0, cmd_xrange},
    {"xrevrange", -4, 1, 1, 1, 0, cmd_xrevrange},
    {"xdel", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_xdel},
    {"xtrim", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_xtrim},
    {"xsetid", -3, 1, 1, 1, CMD_FLAG_WRITE, cmd_xsetid},
    {"xread", -4, 0, 0, 0, 0, cmd_xread},
    {"xreadgroup", -7, 0, 0, 0, CMD_FLAG_WRITE, cmd_xreadgroup},
};

CMD_FAMILY(cmd_family_stream, "stream", stream_cmds);
