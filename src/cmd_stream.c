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
 * Only XADD, XDEL and XTRIM (and a key XGROUP CREATE MKSTREAM makes) touch WATCH, as in Redis:
 * group state changes do not.
 *
 * Propagation (the AOF): XREADGROUP, XCLAIM and XAUTOCLAIM never propagate as sent; they feed
 * what they changed as Redis 7.0 does (propagate_effect): an XCLAIM .. FORCE JUSTID LASTID per
 * pending entry they delivered, claimed or dropped, XGROUP SETID .. ENTRIESREAD when only the
 * group's last ID moved (NOACK, XCLAIM's LASTID), XGROUP CREATECONSUMER for a consumer a NOACK
 * read created. A read of history (an ID, not `>`) propagates nothing, as in Redis: its
 * delivery times and counts are not replayed. XACK propagates as sent when it acknowledged
 * (propagate_changed: it raises no keyspace event).
 *
 * Writes take all the memory they need first (the store's rule): a read of a group reserves
 * its PEL room before the reply lists the first entry. Replies whose length Redis defers are
 * counted with a first walk, then written. Entry and ID texts never point into the reply.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include <stdio.h>

#include "block.h"
#include "client.h"
#include "number.h"
#include "propagate.h"
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

/* ---- IDs ------------------------------------------------------------------------------------- */

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

/* An ID's text in `text` (STREAM_ID_FORMAT_BYTES). */
static struct slice id_text(struct stream_id id, char *text)
{
    int length = snprintf(text, STREAM_ID_FORMAT_BYTES, "%llu-%llu", (unsigned long long)id.ms,
                          (unsigned long long)id.seq);
    KV_ASSERT(length > 0 && (uint32_t)length < STREAM_ID_FORMAT_BYTES);
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

static void reply_id(struct reply *reply, struct stream_id id)
{
    char text[STREAM_ID_FORMAT_BYTES];
    reply_bulk(reply, id_text(id, text));
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
 * error. LIMIT needs `~` from a client; from the AOF it is accepted and ignored. */
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
    if (cmd_must_obey(context)) {
        /* The AOF's commands trim without a limit, as Redis's AOF client does: their
         * threshold is the exact one the first run reached (`= n`, with the LIMIT it was sent
         * with kept), so `= n LIMIT m` is valid from the AOF alone. */
        parsed->trim.limit = 0;
    } else if (limit_given) {
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
    notify_event(NOTIFY_STREAM, "xadd", args[1]);
    if (parsed.trim.strategy != STORE_STREAM_TRIM_NONE &&
        store_stream_trim(store, &found, &parsed.trim) > 0) {
        notify_event(NOTIFY_STREAM, "xtrim", args[1]);
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* A stream looked up for writing, as Redis's lookupKeyWrite: no keyspace hit or miss (nor
 * "keymiss" event); answers WRONGTYPE itself. */
static enum store_status stream_write_find(struct cmd_context *context, struct slice key,
                                           struct store_found *found)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_STREAM, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
    }
    KV_ASSERT(status != STORE_OK || found->exists);
    return status;
}

CMD_HANDLER(cmd_xtrim)
{
    KV_ASSERT(arg_count >= 4);
    struct add_args parsed;
    if (add_trim_parse(context, args, arg_count, false, &parsed) == 0) {
        return;
    }
    struct store_found found;
    enum store_status status = stream_write_find(context, args[1], &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    uint64_t deleted = status == STORE_OK ? store_stream_trim(context->store, &found, &parsed.trim)
                                          : 0;
    if (deleted > 0) {
        notify_event(NOTIFY_STREAM, "xtrim", args[1]);
    }
    reply_integer(&context->reply, (int64_t)deleted);
}

/* ---- XLEN, XRANGE, XREVRANGE, XDEL, XSETID --------------------------------------------------- */

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
    enum store_status status = stream_write_find(context, args[1], &found);
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
    if (deleted > 0) {
        notify_event(NOTIFY_STREAM, "xdel", args[1]);
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
    enum store_status status = stream_write_find(context, args[1], &found);
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
    notify_event(NOTIFY_STREAM, "xsetid", args[1]);
    reply_ok(&context->reply);
}

/* ---- Consumer groups' reads and counters ----------------------------------------------------- */

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
        /* XGROUP SETID ... ENTRIESREAD may set it to LLONG_MAX: it wraps, as Redis's does,
         * without C's signed overflow. */
        group->entries_read = (int64_t)((uint64_t)group->entries_read + 1u);
    } else if (stream->entries_added != 0) {
        group->entries_read = distance_estimate(stream, id);
    }
    group->last_id = id;
}

/* Finds or creates the consumer (Redis's lookup refreshes its seen time); NULL: no room. */
static struct store_stream_consumer *consumer_get(struct cmd_context *context,
                                                  struct store_stream_group *group,
                                                  struct slice name, struct slice key)
{
    struct store_stream_consumer *consumer =
        store_stream_consumer_find(context->store, group, name);
    if (consumer != NULL) {
        consumer->seen_ms = context->store->now_ms;
        return consumer;
    }
    consumer = store_stream_consumer_create(context->store, group, name, context->store->now_ms);
    if (consumer != NULL) {
        notify_event(NOTIFY_STREAM, "xgroup-createconsumer", key);
    }
    return consumer;
}

/* ---- Propagation (Redis's streamPropagateXCLAIM, streamPropagateGroupID and
 * streamPropagateConsumerCreation) ------------------------------------------------------------ */

/* A number's text in `text` (NUMBER_INT64_BYTES). */
static struct slice int_text(int64_t value, char *text)
{
    uint32_t length = number_format_int64(value, text);
    KV_ASSERT(length > 0 && length <= NUMBER_INT64_BYTES);
    return (struct slice){.bytes = (const uint8_t *)text, .length = length};
}

static struct slice word_slice(const char *word)
{
    return (struct slice){.bytes = (const uint8_t *)word, .length = (uint32_t)strlen(word)};
}

/* XCLAIM key group <owner> 0 id TIME <delivery ms> RETRYCOUNT <count> FORCE JUSTID LASTID
 * <group's last ID>: the pending entry as it is now (replayed, it makes the same nack, or
 * drops it when the entry is gone). `id` is the text Redis names it by (XCLAIM's argument as
 * sent, else the ID's text). */
static void propagate_xclaim(struct cmd_context *context, struct slice key, struct slice group_name,
                             const struct store_stream_group *group, struct slice id,
                             const struct store_stream_nack *nack)
{
    struct store *store = context->store;
    KV_ASSERT(nack->consumer_ref != HEAP_REF_NONE);
    const struct store_stream_consumer *owner = heap_pointer(store->heap, nack->consumer_ref);
    char time_text[NUMBER_INT64_BYTES];
    char count_text[NUMBER_INT64_BYTES];
    char last_text[STREAM_ID_FORMAT_BYTES];
    const struct slice args[14] = {
        word_slice("XCLAIM"), key, group_name, store_stream_consumer_name(owner),
        word_slice("0"), id, word_slice("TIME"), int_text(nack->delivery_ms, time_text),
        word_slice("RETRYCOUNT"), int_text((int64_t)nack->delivery_count, count_text),
        word_slice("FORCE"), word_slice("JUSTID"), word_slice("LASTID"),
        id_text(group->last_id, last_text)};
    propagate_effect(store->db_index, args, 14);
}

/* XGROUP SETID key group <last ID> ENTRIESREAD <entries read>. */
static void propagate_group_id(struct cmd_context *context, struct slice key,
                               struct slice group_name, const struct store_stream_group *group)
{
    char last_text[STREAM_ID_FORMAT_BYTES];
    char read_text[NUMBER_INT64_BYTES];
    const struct slice args[7] = {word_slice("XGROUP"), word_slice("SETID"), key, group_name,
                                  id_text(group->last_id, last_text), word_slice("ENTRIESREAD"),
                                  int_text(group->entries_read, read_text)};
    propagate_effect(context->store->db_index, args, 7);
}

/* XGROUP CREATECONSUMER key group consumer. */
static void propagate_consumer_creation(struct cmd_context *context, struct slice key,
                                        struct slice group_name, struct slice consumer)
{
    const struct slice args[5] = {word_slice("XGROUP"), word_slice("CREATECONSUMER"), key,
                                  group_name, consumer};
    propagate_effect(context->store->db_index, args, 5);
}

/* ---- XREAD and XREADGROUP -------------------------------------------------------------------- */

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
 * after the error. `wrong` tells a WRONGTYPE (answered, unless retrying). `counted`: the
 * lookup is one of Redis's lookupKeyRead (a keyspace hit or miss, "keymiss"): its resolving
 * loop and its serving loop each look every key up once; a woken reader's retry does not. */
static bool read_resolve(struct cmd_context *context, const struct slice *args,
                         const struct read_args *parsed, uint32_t index, bool xreadgroup,
                         bool counted, struct read_stream *stream, bool *wrong)
{
    struct store *store = context->store;
    struct slice key = args[parsed->streams_index + index];
    struct slice id_arg = args[parsed->streams_index + parsed->stream_count + index];
    struct store_found found;
    bool read_counted = counted && context->mode != CMD_MODE_RETRY; /* cmd_read answers */
    enum store_status status = read_counted
                                   ? cmd_read(context, key, STORE_TYPE_STREAM, &found)
                                   : store_find_typed(store, key, STORE_TYPE_STREAM, &found);
    *stream = (struct read_stream){.key_ref = HEAP_REF_NONE};
    if (status == STORE_WRONGTYPE) {
        *wrong = true;
        if (context->mode != CMD_MODE_RETRY && !read_counted) {
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

/* New entries for a group (`>`): delivered to the consumer (PEL room reserved) unless noack;
 * propagated as an XCLAIM each, or with noack the group's new last ID. */
static void reply_group_new(struct cmd_context *context, const struct read_stream *stream,
                            struct slice key, struct slice group_name,
                            struct store_stream_consumer *consumer, uint64_t total, bool noack)
{
    struct store *store = context->store;
    bool propagating = propagate_effect_wanted();
    bool last_moved = false;
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
        last_moved = last_moved || stream_id_compare(entry.id, stream->group->last_id) > 0;
        group_advance(root, stream->group, entry.id);
        reply_entry(&context->reply, &entry);
        if (!noack) {
            store_stream_pel_deliver(store, stream->group, consumer, entry.id, store->now_ms,
                                     true);
            if (propagating) {
                char text[STREAM_ID_FORMAT_BYTES];
                const struct store_stream_nack *nack =
                    store_stream_pel_find(store, stream->group, entry.id);
                KV_ASSERT(nack != NULL);
                propagate_xclaim(context, key, group_name, stream->group,
                                 id_text(entry.id, text), nack);
            }
        }
    }
    if (propagating && noack && last_moved) {
        propagate_group_id(context, key, group_name, stream->group);
    }
}

/* XREAD's and XREADGROUP's answer is, as Redis 7.0 writes it, an array of (key, entries)
 * arrays in RESP2 and a map of key to entries in RESP3: its header for `count` streams, */
static void reply_streams(struct reply *reply, uint64_t count)
{
    if (reply->resp3) {
        reply_map(reply, count);
    } else {
        reply_array(reply, count);
    }
}

/* and each stream's key, wrapped with its entries in an array of two in RESP2 only. */
static void reply_stream_key(struct reply *reply, struct slice key)
{
    if (!reply->resp3) {
        reply_array(reply, 2);
    }
    reply_bulk(reply, key);
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
        reply_stream_key(&context->reply, key);
        reply_range(context, stream->key_ref, start, stream_id_max, false, count);
        return true;
    }
    bool created = parsed->noack && propagate_effect_wanted() &&
                   store_stream_consumer_find(store, stream->group, *parsed->consumer) == NULL;
    struct store_stream_consumer *consumer = consumer_get(context, stream->group,
                                                          *parsed->consumer, key);
    if (consumer == NULL) {
        return false;
    }
    if (created) {
        /* Redis 7.0 propagates a consumer only when NOACK leaves no XCLAIM to make it. */
        propagate_consumer_creation(context, key, *parsed->group, *parsed->consumer);
    }
    if (history) {
        reply_stream_key(&context->reply, key);
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
    reply_stream_key(&context->reply, key);
    reply_group_new(context, stream, key, *parsed->group, consumer, total, parsed->noack);
    return true;
}

/* A woken reader (CMD_MODE_RETRY): the key that woke it (its first mention), alone, if it
 * has entries past the ID, as Redis's serveClientsBlockedOnStreamKey serves the signalled
 * key; retried otherwise (no key named), the first stream with entries past its ID. */
static void read_retry(struct cmd_context *context, const struct slice *args,
                       const struct read_args *parsed, bool xreadgroup)
{
    struct store *store = context->store;
    struct slice stash = block_stash(context->block, context->client->slot_index);
    struct slice signalled = context->block->serving_key;
    uint64_t count = parsed->count != 0 ? parsed->count : STREAM_BLOCKED_COUNT_DEFAULT;
    bool seen = false;
    /* Bounded by the streams named. */
    for (uint32_t index = 0; index < parsed->stream_count && !seen; index++) {
        struct read_stream stream;
        bool wrong = false;
        if (signalled.bytes != NULL) {
            if (!slice_equal(args[parsed->streams_index + index], signalled)) {
                continue;
            }
            seen = true; /* this mention only: a later one of the same key is not Redis's */
        }
        if (!read_resolve(context, args, parsed, index, xreadgroup, false, &stream, &wrong)) {
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
        reply_streams(&context->reply, 1);
        if (!read_serve(context, parsed, args[parsed->streams_index + index], &stream, count,
                        false)) {
            reply_truncate(&context->reply);
            reply_error(&context->reply, REPLY_ERROR_OOM);
        }
        return;
    }
    context->outcome.block = true; /* still nothing: it waits on */
}

/* The last ID of stream `index`'s group as serving the streams before it will leave it: a
 * key named twice in one XREADGROUP is served the second time from where the first left
 * (Redis serves them one after the other). */
static struct stream_id group_after_earlier(const struct cmd_context *context,
                                            const struct slice *args,
                                            const struct read_args *parsed, uint32_t index,
                                            const struct read_stream *stream)
{
    const struct store *store = context->store;
    struct stream_id last = stream->group->last_id;
    struct slice key = args[parsed->streams_index + index];
    /* Bounded by the streams before this one, and `count` entries for each. */
    for (uint32_t earlier = 0; earlier < index; earlier++) {
        struct slice id_arg = args[parsed->streams_index + parsed->stream_count + earlier];
        if (!slice_equal(args[parsed->streams_index + earlier], key) || id_arg.length != 1 ||
            id_arg.bytes[0] != '>') {
            continue;
        }
        if (store_stream_of(store, stream->key_ref)->length == 0 ||
            stream_id_compare(last_valid_id(store, stream->key_ref), last) <= 0) {
            continue;
        }
        struct stream_id start = last;
        bool has_start = id_increment(&start);
        KV_ASSERT(has_start);
        struct store_stream_walk walk;
        struct store_stream_entry entry;
        store_stream_walk_start(&walk, store, stream->key_ref, start, stream_id_max, false);
        uint64_t taken = 0;
        while ((parsed->count == 0 || taken < parsed->count) &&
               store_stream_walk_next(&walk, &entry)) {
            last = entry.id;
            taken++;
        }
    }
    return last;
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
        if (!read_resolve(context, args, &parsed, index, xreadgroup, true, &stream, &wrong)) {
            return;
        }
    }
    /* Bounded by the streams named. Which are served, counted for the reply's head. */
    for (uint32_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (served == 0) {
                break;
            }
            reply_streams(&context->reply, served);
        }
        for (uint32_t index = 0; index < parsed.stream_count; index++) {
            struct read_stream stream;
            bool wrong = false;
            bool resolved = read_resolve(context, args, &parsed, index, xreadgroup, pass == 0,
                                         &stream, &wrong);
            KV_ASSERT(resolved);
            if (stream.key_ref == HEAP_REF_NONE) {
                continue;
            }
            const struct store_stream *root = store_stream_of(store, stream.key_ref);
            bool history = false;
            bool serve = false;
            if (xreadgroup) {
                /* The second pass sees the group as the streams before left it. */
                struct stream_id group_last =
                    pass == 0 ? group_after_earlier(context, args, &parsed, index, &stream)
                              : stream.group->last_id;
                if (stream_id_compare(stream.after, stream_id_max) != 0) {
                    serve = true;
                    history = true;
                } else if (root->length > 0 &&
                           stream_id_compare(last_valid_id(store, stream.key_ref), group_last) >
                               0) {
                    serve = true;
                    stream.after = group_last;
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
            bool resolved =
                read_resolve(context, args, &parsed, index, false, false, &stream, &wrong);
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

/* ---- XGROUP ---------------------------------------------------------------------------------- */

static const char *const xgroup_help[] = {
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
};

static const char *const xinfo_help[] = {
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
};

static void subcommand_syntax(struct cmd_context *context, struct slice subcommand,
                              const char *command_upper)
{
    reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &subcommand,
                       command_upper);
}

/* Whether args[1] is one of a container command's subcommands with its arity (Redis checks
 * both before the command runs); if not, the error was answered. */
static bool subcommand_known(struct cmd_context *context, const struct slice *args,
                             uint32_t arg_count, const char *const *names, const int *arities,
                             const char *const *full_names, uint32_t count, const char *upper)
{
    uint64_t before = context->reply.total;
    /* Bounded by the subcommands. */
    for (uint32_t index = 0; index < count; index++) {
        if (cmd_subcommand_is(context, args, arg_count, names[index], arities[index],
                              full_names[index])) {
            return true;
        }
    }
    if (context->reply.total == before) {
        reply_error_unknown_subcommand(&context->reply, args[1], upper);
    }
    return false;
}

CMD_HANDLER(cmd_xgroup)
{
    KV_ASSERT(arg_count >= 2);
    static const char *const names[] = {"help", "create", "setid", "destroy", "createconsumer",
                                        "delconsumer"};
    static const int arities[] = {2, -5, -5, 4, 5, 5};
    static const char *const full_names[] = {"xgroup|help", "xgroup|create", "xgroup|setid",
                                             "xgroup|destroy", "xgroup|createconsumer",
                                             "xgroup|delconsumer"};
    if (!subcommand_known(context, args, arg_count, names, arities, full_names, 6, "XGROUP")) {
        return;
    }
    struct store *store = context->store;
    struct slice sub = args[1];
    bool create = cmd_arg_is(sub, "create");
    bool setid = cmd_arg_is(sub, "setid");
    bool mkstream = false;
    int64_t entries_read = -1;
    struct store_found found = {0};
    bool exists = false;
    struct store_stream_group *group = NULL;
    if (arg_count >= 4) {
        /* Bounded by the arguments. */
        for (uint32_t index = 5; index < arg_count;) {
            if (create && cmd_arg_is(args[index], "mkstream")) {
                mkstream = true;
                index++;
            } else if ((create || setid) && cmd_arg_is(args[index], "entriesread") &&
                       index + 1 < arg_count) {
                if (!parse_int64(context, args[index + 1], &entries_read)) {
                    return;
                }
                if (entries_read < 0 && entries_read != -1) {
                    reply_error(&context->reply, REPLY_ERROR_STREAM_ENTRIES_READ);
                    return;
                }
                index += 2;
            } else {
                subcommand_syntax(context, sub, "XGROUP");
                return;
            }
        }
        enum store_status status = store_find_typed(store, args[2], STORE_TYPE_STREAM, &found);
        if (status == STORE_WRONGTYPE) {
            reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
            return;
        }
        exists = status == STORE_OK;
        if (!mkstream) {
            if (!exists) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_XGROUP_NO_KEY);
                return;
            }
            group = store_stream_group_find(store, found.key_ref, args[3]);
            if (group == NULL && (setid || cmd_arg_is(sub, "createconsumer") ||
                                  cmd_arg_is(sub, "delconsumer"))) {
                reply_error_format(&context->reply, REPLY_ERROR_STREAM_NOGROUP_FOR_KEY, &args[3],
                                   &args[2]);
                return;
            }
        }
    }
    if (arg_count == 2 && cmd_arg_is(sub, "help")) {
        cmd_reply_help(&context->reply, xgroup_help,
                       sizeof(xgroup_help) / sizeof(xgroup_help[0]));
    } else if (create && arg_count >= 5 && arg_count <= 8) {
        struct stream_id id = {0, 0};
        if (args[4].length == 1 && args[4].bytes[0] == '$') {
            if (exists) {
                id = store_stream_of(store, found.key_ref)->last_id;
            }
        } else if (!id_parse_reply(context, args[4], 0, true, NULL, &id)) {
            return;
        }
        if (exists && store_stream_group_find(store, found.key_ref, args[3]) != NULL) {
            reply_error(&context->reply, REPLY_ERROR_STREAM_BUSYGROUP);
            return;
        }
        if (!exists) {
            enum store_status status = store_stream_create(store, &found, args[2]);
            if (status != STORE_OK) {
                reply_error(&context->reply, cmd_store_error(status));
                return;
            }
        }
        enum store_status status =
            store_stream_group_create(store, &found, args[3], id, entries_read);
        if (status != STORE_OK) {
            reply_error(&context->reply, cmd_store_error(status));
            return;
        }
        notify_event(NOTIFY_STREAM, "xgroup-create", args[2]);
        reply_ok(&context->reply);
    } else if (setid && (arg_count == 5 || arg_count == 7)) {
        struct stream_id id;
        if (args[4].length == 1 && args[4].bytes[0] == '$') {
            id = store_stream_of(store, found.key_ref)->last_id;
        } else if (!id_parse_reply(context, args[4], 0, false, NULL, &id)) {
            return;
        }
        group->last_id = id;
        group->entries_read = entries_read;
        notify_event(NOTIFY_STREAM, "xgroup-setid", args[2]);
        reply_ok(&context->reply);
    } else if (cmd_arg_is(sub, "destroy") && arg_count == 4) {
        if (group != NULL) {
            store_stream_group_destroy(store, &found, group);
            notify_event(NOTIFY_STREAM, "xgroup-destroy", args[2]);
        }
        reply_integer(&context->reply, group != NULL ? 1 : 0);
    } else if (cmd_arg_is(sub, "createconsumer") && arg_count == 5) {
        if (store_stream_consumer_find(store, group, args[4]) != NULL) {
            reply_integer(&context->reply, 0);
            return;
        }
        if (store_stream_consumer_create(store, group, args[4], store->now_ms) == NULL) {
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
        notify_event(NOTIFY_STREAM, "xgroup-createconsumer", args[2]);
        reply_integer(&context->reply, 1);
    } else if (cmd_arg_is(sub, "delconsumer") && arg_count == 5) {
        struct store_stream_consumer *consumer = store_stream_consumer_find(store, group, args[4]);
        uint32_t pending = 0;
        if (consumer != NULL) {
            pending = store_stream_consumer_delete(store, group, consumer);
            notify_event(NOTIFY_STREAM, "xgroup-delconsumer", args[2]);
        }
        reply_integer(&context->reply, pending);
    } else {
        subcommand_syntax(context, sub, "XGROUP");
    }
}

/* The stream and group of XACK, XPENDING, XCLAIM, XAUTOCLAIM: NULL after answering. */
static struct store_stream_group *group_lookup(struct cmd_context *context, struct slice key,
                                               struct slice name, struct store_found *found,
                                               bool nogroup_error)
{
    enum store_status status = cmd_read(context, key, STORE_TYPE_STREAM, found);
    if (status == STORE_WRONGTYPE) {
        return NULL;
    }
    struct store_stream_group *group =
        status == STORE_OK ? store_stream_group_find(context->store, found->key_ref, name) : NULL;
    if (group == NULL) {
        if (nogroup_error) {
            reply_error_format(&context->reply, REPLY_ERROR_STREAM_NOGROUP, &key, &name);
        } else {
            reply_integer(&context->reply, 0);
        }
    }
    return group;
}

CMD_HANDLER(cmd_xack)
{
    KV_ASSERT(arg_count >= 4);
    struct store_found found;
    struct store_stream_group *group = group_lookup(context, args[1], args[2], &found, false);
    if (group == NULL) {
        return;
    }
    struct stream_id id;
    /* Bounded by the arguments: all are checked before any is acknowledged. */
    for (uint32_t index = 3; index < arg_count; index++) {
        if (!id_parse_reply(context, args[index], 0, true, NULL, &id)) {
            return;
        }
    }
    int64_t acknowledged = 0;
    for (uint32_t index = 3; index < arg_count; index++) {
        bool valid = id_parse(args[index], 0, true, NULL, &id);
        KV_ASSERT(valid);
        if (store_stream_pel_find(context->store, group, id) != NULL) {
            acknowledged += store_stream_ack(context->store, group, id) ? 1 : 0;
        }
    }
    if (acknowledged > 0) {
        propagate_changed(); /* Redis's server.dirty, without a keyspace event */
    }
    reply_integer(&context->reply, acknowledged);
}

/* ---- XPENDING -------------------------------------------------------------------------------- */

static int64_t idle_of(const struct store *store, int64_t delivery_ms)
{
    int64_t idle = store->now_ms - delivery_ms;
    return idle < 0 ? 0 : idle;
}

static void pending_summary(struct cmd_context *context, const struct store_stream_group *group)
{
    const struct store *store = context->store;
    reply_array(&context->reply, 4);
    reply_integer(&context->reply, group->pel_count);
    if (group->pel_count == 0) {
        reply_null(&context->reply);
        reply_null(&context->reply);
        reply_null_array(&context->reply);
        return;
    }
    const struct store_stream_nack *pel = store_stream_pel(store, group);
    reply_id(&context->reply, pel[0].id);
    reply_id(&context->reply, pel[group->pel_count - 1].id);
    uint32_t with_pending = 0;
    const struct store_stream_consumer *consumer = store_stream_consumer_first(store, group);
    /* Bounded by the consumers, twice: counted, then listed. */
    for (; consumer != NULL; consumer = store_stream_consumer_next(store, consumer)) {
        with_pending += consumer->pending_count > 0 ? 1u : 0u;
    }
    reply_array(&context->reply, with_pending);
    consumer = store_stream_consumer_first(store, group);
    for (; consumer != NULL; consumer = store_stream_consumer_next(store, consumer)) {
        if (consumer->pending_count == 0) {
            continue;
        }
        char text[NUMBER_INT64_BYTES];
        uint32_t length = number_format_uint64(consumer->pending_count, text);
        reply_array(&context->reply, 2);
        reply_bulk(&context->reply, store_stream_consumer_name(consumer));
        reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)text,
                                                   .length = length});
    }
}

CMD_HANDLER(cmd_xpending)
{
    KV_ASSERT(arg_count >= 3);
    if (arg_count != 3 && (arg_count < 6 || arg_count > 9)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    struct stream_id start = {0, 0};
    struct stream_id end = {0, 0};
    int64_t count = 0;
    int64_t min_idle = 0;
    const struct slice *consumer_name = NULL;
    if (arg_count >= 6) {
        uint32_t start_index = 3;
        if (cmd_arg_is(args[3], "idle")) {
            if (!parse_int64(context, args[4], &min_idle)) {
                return;
            }
            if (arg_count < 8) {
                reply_error(&context->reply, REPLY_ERROR_SYNTAX);
                return;
            }
            start_index += 2;
        }
        if (!parse_int64(context, args[start_index + 2], &count)) {
            return;
        }
        count = count < 0 ? 0 : count;
        if (!range_parse(context, args[start_index], args[start_index + 1], &start, &end)) {
            return;
        }
        if (start_index + 3 < arg_count) {
            consumer_name = &args[start_index + 3];
        }
    }
    struct store_found found;
    struct store_stream_group *group = group_lookup(context, args[1], args[2], &found, true);
    if (group == NULL) {
        return;
    }
    const struct store *store = context->store;
    if (arg_count == 3) {
        pending_summary(context, group);
        return;
    }
    const struct store_stream_consumer *consumer = NULL;
    if (consumer_name != NULL) {
        consumer = store_stream_consumer_find(store, group, *consumer_name);
        if (consumer == NULL) {
            reply_array(&context->reply, 0);
            return;
        }
    }
    const struct store_stream_nack *pel = store_stream_pel(store, group);
    uint32_t consumer_ref = consumer != NULL ? heap_ref(store->heap, consumer) : HEAP_REF_NONE;
    uint32_t first = store_stream_pel_seek(store, group, start);
    /* Two passes over the PEL from start: counted, then listed (bounded by the PEL). */
    uint64_t total = 0;
    for (uint32_t pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            reply_array(&context->reply, total);
        }
        uint64_t left = (uint64_t)count;
        for (uint32_t at = first; left > 0 && at < group->pel_count; at++) {
            const struct store_stream_nack *nack = &pel[at];
            if (stream_id_compare(nack->id, end) > 0) {
                break;
            }
            if (consumer != NULL && nack->consumer_ref != consumer_ref) {
                continue;
            }
            if (min_idle != 0 && store->now_ms - nack->delivery_ms < min_idle) {
                continue;
            }
            left--;
            if (pass == 0) {
                total++;
                continue;
            }
            const struct store_stream_consumer *owner =
                heap_pointer(store->heap, nack->consumer_ref);
            reply_array(&context->reply, 4);
            reply_id(&context->reply, nack->id);
            reply_bulk(&context->reply, store_stream_consumer_name(owner));
            reply_integer(&context->reply, idle_of(store, nack->delivery_ms));
            reply_integer(&context->reply, (int64_t)nack->delivery_count);
        }
    }
}

/* ---- XCLAIM and XAUTOCLAIM ------------------------------------------------------------------- */

/* Whether the stream holds a live entry with this ID. */
static bool entry_exists(const struct store *store, uint32_t key_ref, struct stream_id id)
{
    struct store_stream_entry entry;
    return store_stream_find_entry(store, key_ref, id, &entry);
}

/* A claimed entry: its ID (JUSTID) or the entry itself. */
static void reply_claimed(struct cmd_context *context, uint32_t key_ref, struct stream_id id,
                          bool justid)
{
    if (justid) {
        reply_id(&context->reply, id);
        return;
    }
    struct store_stream_entry entry;
    bool found = store_stream_find_entry(context->store, key_ref, id, &entry);
    KV_ASSERT(found);
    reply_entry(&context->reply, &entry);
}

struct claim_args {
    int64_t min_idle;
    int64_t delivery_ms;   /* -1: now */
    int64_t retry_count;   /* -1: none */
    struct stream_id last_id;
    uint32_t id_end;       /* the IDs are args[5 .. id_end) */
    bool force;
    bool justid;
};

/* XCLAIM's options after its IDs; false after the error. */
static bool claim_parse(struct cmd_context *context, const struct slice *args, uint32_t arg_count,
                        struct claim_args *parsed)
{
    int64_t now = context->store->now_ms;
    struct stream_id id;
    uint32_t index = 5;
    /* Bounded by the arguments: the IDs, then the options. */
    while (index < arg_count && id_parse(args[index], 0, true, NULL, &id)) {
        index++;
    }
    parsed->id_end = index;
    for (; index < arg_count; index++) {
        bool more = index + 1 < arg_count;
        struct slice opt = args[index];
        int64_t value = 0;
        if (cmd_arg_is(opt, "force")) {
            parsed->force = true;
        } else if (cmd_arg_is(opt, "justid")) {
            parsed->justid = true;
        } else if (cmd_arg_is(opt, "idle") && more) {
            index++;
            if (!number_parse_int64(args[index].bytes, args[index].length, &value)) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_XCLAIM_IDLE);
                return false;
            }
            parsed->delivery_ms = now - value;
        } else if (cmd_arg_is(opt, "time") && more) {
            index++;
            if (!number_parse_int64(args[index].bytes, args[index].length, &value)) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_XCLAIM_TIME);
                return false;
            }
            parsed->delivery_ms = value;
        } else if (cmd_arg_is(opt, "retrycount") && more) {
            index++;
            if (!number_parse_int64(args[index].bytes, args[index].length, &value)) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_XCLAIM_RETRYCOUNT);
                return false;
            }
            parsed->retry_count = value;
        } else if (cmd_arg_is(opt, "lastid") && more) {
            index++;
            if (!id_parse_reply(context, args[index], 0, true, NULL, &parsed->last_id)) {
                return false;
            }
        } else {
            reply_error_format(&context->reply, REPLY_ERROR_STREAM_XCLAIM_OPTION, &opt);
            return false;
        }
    }
    return true;
}

/* Marks XCLAIM's first pass leaves on a nack it looked at (nack.reserved), so that an ID
 * named twice is judged as the second pass will see it after the first claim. */
#define CLAIM_MARK_TAKEN 1u
#define CLAIM_MARK_SKIPPED 2u

/* XCLAIM's first pass: how many IDs it claims and how many nacks FORCE creates, as the
 * second pass will find them, with no change left behind. */
static uint32_t claim_plan(const struct store *store, uint32_t key_ref,
                           struct store_stream_group *group, const struct slice *args,
                           const struct claim_args *parsed, int64_t delivery_ms,
                           uint32_t *created)
{
    int64_t now = store->now_ms;
    bool again = parsed->min_idle == 0 || now - delivery_ms >= parsed->min_idle;
    uint32_t claimed = 0;
    struct stream_id id;
    /* Bounded by the IDs (and, for a FORCE-created one, the IDs before it). */
    for (uint32_t index = 5; index < parsed->id_end; index++) {
        bool valid = id_parse(args[index], 0, true, NULL, &id);
        KV_ASSERT(valid);
        if (!entry_exists(store, key_ref, id)) {
            continue;
        }
        struct store_stream_nack *nack = store_stream_pel_find(store, group, id);
        if (nack != NULL) {
            if (nack->reserved != 0) {
                claimed += nack->reserved == CLAIM_MARK_TAKEN && again ? 1u : 0u;
                continue;
            }
            bool take = parsed->min_idle == 0 || now - nack->delivery_ms >= parsed->min_idle;
            nack->reserved = take ? CLAIM_MARK_TAKEN : CLAIM_MARK_SKIPPED;
            claimed += take ? 1u : 0u;
            continue;
        }
        if (!parsed->force) {
            continue;
        }
        bool seen = false;
        struct stream_id earlier;
        for (uint32_t before = 5; before < index && !seen; before++) {
            valid = id_parse(args[before], 0, true, NULL, &earlier);
            seen = valid && stream_id_compare(earlier, id) == 0;
        }
        claimed += !seen || again ? 1u : 0u;
        *created += seen ? 0u : 1u;
    }
    for (uint32_t index = 5; index < parsed->id_end; index++) {
        bool valid = id_parse(args[index], 0, true, NULL, &id);
        KV_ASSERT(valid);
        struct store_stream_nack *nack = store_stream_pel_find(store, group, id);
        if (nack != NULL) {
            nack->reserved = 0;
        }
    }
    return claimed;
}

CMD_HANDLER(cmd_xclaim)
{
    KV_ASSERT(arg_count >= 6);
    struct store *store = context->store;
    struct store_found found;
    struct store_stream_group *group = group_lookup(context, args[1], args[2], &found, true);
    if (group == NULL) {
        return;
    }
    struct claim_args parsed = {.delivery_ms = -1, .retry_count = -1};
    if (!number_parse_int64(args[4].bytes, args[4].length, &parsed.min_idle)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_XCLAIM_MIN_IDLE);
        return;
    }
    parsed.min_idle = parsed.min_idle < 0 ? 0 : parsed.min_idle;
    if (!claim_parse(context, args, arg_count, &parsed)) {
        return;
    }
    int64_t now = store->now_ms;
    int64_t delivery_ms = parsed.delivery_ms;
    if (delivery_ms < 0 || delivery_ms > now) {
        delivery_ms = now;
    }
    /* First what it will claim, so that its memory is taken before anything changes. */
    uint32_t created = 0;
    uint32_t claimed = claim_plan(store, found.key_ref, group, args, &parsed, delivery_ms,
                                  &created);
    struct store_stream_consumer *consumer = NULL;
    if (claimed > 0) {
        consumer = consumer_get(context, group, args[3], args[1]);
        if (consumer == NULL ||
            store_stream_pel_reserve(store, group, consumer, claimed) != STORE_OK) {
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
    }
    bool last_moved = stream_id_compare(parsed.last_id, group->last_id) > 0;
    if (last_moved) {
        group->last_id = parsed.last_id;
    }
    bool propagating = propagate_effect_wanted();
    bool propagated = false;
    reply_array(&context->reply, claimed);
    uint32_t written = 0;
    struct stream_id id;
    /* Bounded by the IDs. */
    for (uint32_t index = 5; index < parsed.id_end; index++) {
        bool valid = id_parse(args[index], 0, true, NULL, &id);
        KV_ASSERT(valid);
        struct store_stream_nack *nack = store_stream_pel_find(store, group, id);
        if (!entry_exists(store, found.key_ref, id)) {
            if (nack != NULL) {
                if (propagating) {
                    /* Redis propagates the drop as an XCLAIM of the nack as it was. */
                    propagate_xclaim(context, args[1], args[2], group, args[index], nack);
                    propagated = true;
                }
                (void)store_stream_ack(store, group, id);
            }
            continue;
        }
        bool fresh = false;
        if (nack == NULL) {
            if (!parsed.force) {
                continue;
            }
            KV_ASSERT(consumer != NULL);
            store_stream_pel_deliver(store, group, consumer, id, delivery_ms, false);
            nack = store_stream_pel_find(store, group, id);
            fresh = true;
        }
        if (!fresh && parsed.min_idle != 0 && now - nack->delivery_ms < parsed.min_idle) {
            continue;
        }
        KV_ASSERT(consumer != NULL);
        store_stream_nack_move(store, group, nack, consumer);
        nack->delivery_ms = delivery_ms;
        if (parsed.retry_count >= 0) {
            nack->delivery_count = (uint64_t)parsed.retry_count;
        } else if (!parsed.justid) {
            nack->delivery_count++;
        }
        reply_claimed(context, found.key_ref, id, parsed.justid);
        written++;
        if (propagating) {
            propagate_xclaim(context, args[1], args[2], group, args[index], nack);
            propagated = true;
        }
    }
    KV_ASSERT(written == claimed);
    if (propagating && last_moved && !propagated) {
        propagate_group_id(context, args[1], args[2], group);
    }
    (void)created;
}

CMD_HANDLER(cmd_xautoclaim)
{
    KV_ASSERT(arg_count >= 6);
    struct store *store = context->store;
    int64_t min_idle = 0;
    if (!number_parse_int64(args[4].bytes, args[4].length, &min_idle)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_XAUTOCLAIM_MIN_IDLE);
        return;
    }
    min_idle = min_idle < 0 ? 0 : min_idle;
    struct stream_id start;
    bool exclusive = false;
    if (!interval_parse(context, args[5], 0, &start, &exclusive)) {
        return;
    }
    if (exclusive && !id_increment(&start)) {
        reply_error(&context->reply, REPLY_ERROR_STREAM_START_INVALID);
        return;
    }
    int64_t count = 100;
    bool justid = false;
    /* Bounded by the arguments. */
    for (uint32_t index = 6; index < arg_count; index++) {
        if (cmd_arg_is(args[index], "count") && index + 1 < arg_count) {
            if (!number_parse_int64(args[index + 1].bytes, args[index + 1].length, &count) ||
                count < 1 || count > INT64_MAX / 16) {
                reply_error(&context->reply, REPLY_ERROR_STREAM_COUNT_POSITIVE);
                return;
            }
            index++;
        } else if (cmd_arg_is(args[index], "justid")) {
            justid = true;
        } else {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    struct store_found found;
    struct store_stream_group *group = group_lookup(context, args[1], args[2], &found, true);
    if (group == NULL) {
        return;
    }
    int64_t now = store->now_ms;
    /* First pass: what it visits (attempts, count), claims and drops, without changing. */
    uint32_t first = store_stream_pel_seek(store, group, start);
    uint64_t attempts = (uint64_t)count * 10u;
    uint64_t left = (uint64_t)count;
    uint32_t end = first;  /* one past the last PEL entry visited */
    uint32_t claimed = 0;
    uint32_t dropped = 0;
    const struct store_stream_nack *pel = store_stream_pel(store, group);
    /* Bounded by the PEL and the attempts. */
    while (attempts > 0 && left > 0 && end < group->pel_count) {
        attempts--;
        const struct store_stream_nack *nack = &pel[end];
        end++;
        if (!entry_exists(store, found.key_ref, nack->id)) {
            dropped++;
            left--;
            continue;
        }
        if (min_idle != 0 && now - nack->delivery_ms < min_idle) {
            continue;
        }
        claimed++;
        left--;
    }
    struct stream_id cursor = end < group->pel_count ? pel[end].id : (struct stream_id){0, 0};
    struct store_stream_consumer *consumer = NULL;
    if (claimed > 0) {
        consumer = consumer_get(context, group, args[3], args[1]);
        if (consumer == NULL ||
            store_stream_pel_reserve(store, group, consumer, claimed) != STORE_OK) {
            reply_error(&context->reply, REPLY_ERROR_OOM);
            return;
        }
    }
    struct store_stream_nack *pel_write = store_stream_pel(store, group);
    reply_array(&context->reply, 3);
    reply_id(&context->reply, cursor);
    reply_array(&context->reply, claimed);
    /* Claims change owners and times, never the PEL's order: the same entries again. Each
     * claim and each drop propagates, in the PEL's order, as Redis's. */
    bool propagating = propagate_effect_wanted();
    for (uint32_t at = first; at < end; at++) {
        struct store_stream_nack *nack = &pel_write[at];
        char text[STREAM_ID_FORMAT_BYTES];
        if (!entry_exists(store, found.key_ref, nack->id)) {
            if (propagating) {
                propagate_xclaim(context, args[1], args[2], group, id_text(nack->id, text),
                                 nack);
            }
            continue;
        }
        if (min_idle != 0 && now - nack->delivery_ms < min_idle) {
            continue;
        }
        store_stream_nack_move(store, group, nack, consumer);
        nack->delivery_ms = now;
        nack->delivery_count += justid ? 0u : 1u;
        reply_claimed(context, found.key_ref, nack->id, justid);
        if (propagating) {
            propagate_xclaim(context, args[1], args[2], group, id_text(nack->id, text), nack);
        }
    }
    reply_array(&context->reply, dropped);
    for (uint32_t at = first; at < end; at++) {
        if (!entry_exists(store, found.key_ref, pel_write[at].id)) {
            reply_id(&context->reply, pel_write[at].id);
        }
    }
    /* Then the dropped ones go, from the last so that the earlier indexes hold. */
    for (uint32_t at = end; at > first; at--) {
        struct stream_id id = store_stream_pel(store, group)[at - 1].id;
        if (!entry_exists(store, found.key_ref, id)) {
            (void)store_stream_ack(store, group, id);
        }
    }
}

/* ---- XINFO ----------------------------------------------------------------------------------- */

static void reply_text(struct reply *reply, const char *text)
{
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text,
                                     .length = (uint32_t)strlen(text)});
}

/* A group's lag (Redis's streamReplyWithCGLag): an integer, or null when unknown. */
static void reply_lag(struct reply *reply, const struct store_stream *stream,
                      const struct store_stream_group *group)
{
    if (stream->entries_added == 0) {
        reply_integer(reply, 0);
        return;
    }
    if (group->entries_read != -1 && !range_has_tombstones(stream, group->last_id)) {
        /* Wrapping, as Redis's long long arithmetic does at ENTRIESREAD's extremes. */
        reply_integer(reply, (int64_t)(stream->entries_added - (uint64_t)group->entries_read));
        return;
    }
    int64_t entries_read = distance_estimate(stream, group->last_id);
    if (entries_read != -1) {
        reply_integer(reply, (int64_t)(stream->entries_added - (uint64_t)entries_read));
    } else {
        reply_null(reply);
    }
}

static void reply_entries_read(struct reply *reply, const struct store_stream_group *group)
{
    if (group->entries_read != -1) {
        reply_integer(reply, group->entries_read);
    } else {
        reply_null(reply);
    }
}

/* The nodes of Redis's radix tree over the nodes' first IDs (big-endian, 16 bytes), as rax
 * builds it: one per key, per branching prefix and the root, and a compressed node on each
 * edge of two or more bytes out of a branching node. */
static uint64_t rax_node_count(const struct store *store, uint32_t key_ref)
{
    uint32_t nodes = store_stream_node_count(store, key_ref);
    if (nodes == 0) {
        return 1;
    }
    /* The rightmost path's depths: at most one per byte, the root and a key. */
    uint8_t stack[20];
    uint32_t depth_count = 0;
    uint64_t edges = 0;
    uint64_t long_edges_root = 0;  /* edges of 2+ bytes out of the root */
    uint64_t long_edges = 0;       /* edges of 2+ bytes out of other nodes */
    uint64_t root_children = 0;
    stack[depth_count++] = 0;
    stack[depth_count++] = 16;
    uint8_t previous[16];
    uint8_t current[16];
    bool has_previous = false;
    /* Bounded by the nodes. */
    for (uint32_t index = 0; index < nodes; index++) {
        struct stream_id id = store_stream_node_first(store, key_ref, index);
        for (uint32_t byte = 0; byte < 8; byte++) {
            current[byte] = (uint8_t)(id.ms >> (56 - 8 * byte));
            current[8 + byte] = (uint8_t)(id.seq >> (56 - 8 * byte));
        }
        if (has_previous) {
            uint8_t common = 0;
            while (common < 16 && previous[common] == current[common]) {
                common++;
            }
            KV_ASSERT(common < 16);
            uint8_t last = 0;
            bool popped = false;
            while (stack[depth_count - 1] > common) {
                last = stack[--depth_count];
                popped = true;
                uint8_t parent = stack[depth_count - 1];
                if (parent < common) {
                    parent = common;
                    stack[depth_count++] = common;
                }
                edges++;
                root_children += parent == 0 ? 1u : 0u;
                if (last - parent >= 2) {
                    parent == 0 ? long_edges_root++ : long_edges++;
                }
                if (parent == common) {
                    break;
                }
            }
            KV_ASSERT(popped);
            KV_ASSERT(depth_count < sizeof(stack));
            stack[depth_count++] = 16;
        }
        memcpy(previous, current, sizeof(current));
        has_previous = true;
    }
    /* Bounded by the stack. */
    while (depth_count > 1) {
        uint8_t last = stack[--depth_count];
        uint8_t parent = stack[depth_count - 1];
        edges++;
        root_children += parent == 0 ? 1u : 0u;
        if (last - parent >= 2) {
            parent == 0 ? long_edges_root++ : long_edges++;
        }
    }
    uint64_t count = 1 + edges + long_edges + (root_children >= 2 ? long_edges_root : 0);
    return count;
}

static void info_stream(struct cmd_context *context, const struct slice *args,
                        uint32_t arg_count, uint32_t key_ref)
{
    const struct store *store = context->store;
    const struct store_stream *stream = store_stream_of(store, key_ref);
    bool full = arg_count > 3;
    int64_t count = 10;
    if (full) {
        if ((arg_count != 4 && arg_count != 6) || !cmd_arg_is(args[3], "full") ||
            (arg_count == 6 && !cmd_arg_is(args[4], "count"))) {
            subcommand_syntax(context, args[1], "XINFO");
            return;
        }
        if (arg_count == 6) {
            if (!parse_int64(context, args[5], &count)) {
                return;
            }
            count = count < 0 ? 10 : count;
        }
    }
    struct reply *reply = &context->reply;
    reply_map(reply, full ? 9 : 10);
    reply_text(reply, "length");
    reply_integer(reply, (int64_t)stream->length);
    reply_text(reply, "radix-tree-keys");
    reply_integer(reply, store_stream_node_count(store, key_ref));
    reply_text(reply, "radix-tree-nodes");
    reply_integer(reply, (int64_t)rax_node_count(store, key_ref));
    reply_text(reply, "last-generated-id");
    reply_id(reply, stream->last_id);
    reply_text(reply, "max-deleted-entry-id");
    reply_id(reply, stream->max_deleted_id);
    reply_text(reply, "entries-added");
    reply_integer(reply, (int64_t)stream->entries_added);
    reply_text(reply, "recorded-first-entry-id");
    reply_id(reply, stream->first_id);
    struct stream_id zero = {0, 0};
    if (!full) {
        reply_text(reply, "groups");
        reply_integer(reply, stream->group_count);
        for (uint32_t side = 0; side < 2; side++) {
            reply_text(reply, side == 0 ? "first-entry" : "last-entry");
            struct store_stream_walk walk;
            struct store_stream_entry entry;
            store_stream_walk_start(&walk, store, key_ref, zero, stream_id_max, side == 1);
            if (store_stream_walk_next(&walk, &entry)) {
                reply_entry(reply, &entry);
            } else {
                reply_null(reply);
            }
        }
        return;
    }
    uint64_t limit = (uint64_t)count;
    reply_text(reply, "entries");
    reply_range(context, key_ref, zero, stream_id_max, false, limit);
    reply_text(reply, "groups");
    reply_array(reply, stream->group_count);
    const struct store_stream_group *group = store_stream_group_first(store, key_ref);
    /* Bounded by the groups, their PELs (to count) and consumers. */
    for (; group != NULL; group = store_stream_group_next(store, group)) {
        reply_map(reply, 7);
        reply_text(reply, "name");
        reply_bulk(reply, store_stream_group_name(group));
        reply_text(reply, "last-delivered-id");
        reply_id(reply, group->last_id);
        reply_text(reply, "entries-read");
        reply_entries_read(reply, group);
        reply_text(reply, "lag");
        reply_lag(reply, stream, group);
        reply_text(reply, "pel-count");
        reply_integer(reply, group->pel_count);
        reply_text(reply, "pending");
        uint32_t shown = limit != 0 && group->pel_count > limit ? (uint32_t)limit
                                                                : group->pel_count;
        reply_array(reply, shown);
        const struct store_stream_nack *pel = store_stream_pel(store, group);
        for (uint32_t at = 0; at < shown; at++) {
            const struct store_stream_consumer *owner =
                heap_pointer(store->heap, pel[at].consumer_ref);
            reply_array(reply, 4);
            reply_id(reply, pel[at].id);
            reply_bulk(reply, store_stream_consumer_name(owner));
            reply_integer(reply, pel[at].delivery_ms);
            reply_integer(reply, (int64_t)pel[at].delivery_count);
        }
        reply_text(reply, "consumers");
        reply_array(reply, group->consumer_count);
        const struct store_stream_consumer *consumer = store_stream_consumer_first(store, group);
        for (; consumer != NULL; consumer = store_stream_consumer_next(store, consumer)) {
            reply_map(reply, 4);
            reply_text(reply, "name");
            reply_bulk(reply, store_stream_consumer_name(consumer));
            reply_text(reply, "seen-time");
            reply_integer(reply, consumer->seen_ms);
            reply_text(reply, "pel-count");
            reply_integer(reply, consumer->pending_count);
            reply_text(reply, "pending");
            uint32_t own = limit != 0 && consumer->pending_count > limit
                               ? (uint32_t)limit
                               : consumer->pending_count;
            reply_array(reply, own);
            const struct stream_id *ids = store_stream_consumer_ids(store, consumer);
            for (uint32_t at = 0; at < own; at++) {
                const struct store_stream_nack *nack = store_stream_pel_find(store, group,
                                                                             ids[at]);
                KV_ASSERT(nack != NULL);
                reply_array(reply, 3);
                reply_id(reply, ids[at]);
                reply_integer(reply, nack->delivery_ms);
                reply_integer(reply, (int64_t)nack->delivery_count);
            }
        }
    }
}

CMD_HANDLER(cmd_xinfo)
{
    KV_ASSERT(arg_count >= 2);
    static const char *const names[] = {"help", "consumers", "groups", "stream"};
    static const int arities[] = {2, 4, 3, -3};
    static const char *const full_names[] = {"xinfo|help", "xinfo|consumers", "xinfo|groups",
                                             "xinfo|stream"};
    if (!subcommand_known(context, args, arg_count, names, arities, full_names, 4, "XINFO")) {
        return;
    }
    const struct store *store = context->store;
    if (cmd_arg_is(args[1], "help")) {
        cmd_reply_help(&context->reply, xinfo_help, sizeof(xinfo_help) / sizeof(xinfo_help[0]));
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[2], STORE_TYPE_STREAM, &found);
    if (status == STORE_WRONGTYPE) {
        return;
    }
    if (status == STORE_NOT_FOUND) {
        reply_error(&context->reply, REPLY_ERROR_NO_SUCH_KEY);
        return;
    }
    const struct store_stream *stream = store_stream_of(store, found.key_ref);
    if (cmd_arg_is(args[1], "consumers") && arg_count == 4) {
        const struct store_stream_group *group =
            store_stream_group_find(store, found.key_ref, args[3]);
        if (group == NULL) {
            reply_error_format(&context->reply, REPLY_ERROR_STREAM_NOGROUP_FOR_KEY, &args[3],
                               &args[2]);
            return;
        }
        reply_array(&context->reply, group->consumer_count);
        const struct store_stream_consumer *consumer = store_stream_consumer_first(store, group);
        /* Bounded by the consumers. */
        for (; consumer != NULL; consumer = store_stream_consumer_next(store, consumer)) {
            reply_map(&context->reply, 3);
            reply_text(&context->reply, "name");
            reply_bulk(&context->reply, store_stream_consumer_name(consumer));
            reply_text(&context->reply, "pending");
            reply_integer(&context->reply, consumer->pending_count);
            reply_text(&context->reply, "idle");
            reply_integer(&context->reply, idle_of(store, consumer->seen_ms));
        }
    } else if (cmd_arg_is(args[1], "groups") && arg_count == 3) {
        reply_array(&context->reply, stream->group_count);
        const struct store_stream_group *group = store_stream_group_first(store, found.key_ref);
        /* Bounded by the groups. */
        for (; group != NULL; group = store_stream_group_next(store, group)) {
            reply_map(&context->reply, 6);
            reply_text(&context->reply, "name");
            reply_bulk(&context->reply, store_stream_group_name(group));
            reply_text(&context->reply, "consumers");
            reply_integer(&context->reply, group->consumer_count);
            reply_text(&context->reply, "pending");
            reply_integer(&context->reply, group->pel_count);
            reply_text(&context->reply, "last-delivered-id");
            reply_id(&context->reply, group->last_id);
            reply_text(&context->reply, "entries-read");
            reply_entries_read(&context->reply, group);
            reply_text(&context->reply, "lag");
            reply_lag(&context->reply, stream, group);
        }
    } else if (cmd_arg_is(args[1], "stream")) {
        info_stream(context, args, arg_count, found.key_ref);
    } else {
        subcommand_syntax(context, args[1], "XINFO");
    }
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
    {"xgroup", -2, 0, 0, 0, CMD_FLAG_WRITE, cmd_xgroup},
    {"xack", -4, 1, 1, 1, CMD_FLAG_WRITE, cmd_xack},
    {"xpending", -3, 1, 1, 1, 0, cmd_xpending},
    {"xclaim", -6, 1, 1, 1, CMD_FLAG_WRITE, cmd_xclaim},
    {"xautoclaim", -6, 1, 1, 1, CMD_FLAG_WRITE, cmd_xautoclaim},
    {"xinfo", -2, 0, 0, 0, 0, cmd_xinfo},
};

CMD_FAMILY(cmd_family_stream, "stream", stream_cmds);
