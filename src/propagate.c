/*
 * Propagation (include/propagate.h). Invariants: commands are fed only while a sink is
 * registered and enabled; the nesting depth is at most NOTIFY_DEPTH_MAX; MULTI was fed
 * exactly when a container (EXEC, a script, a stream command of effects) is running and one
 * of its commands was fed, and EXEC follows when the outermost container ends (the sink takes
 * the MULTI back when only one command was fed).
 */
#include "propagate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "notify.h"
#include "number.h"
#include "reply.h"
#include "store.h"
#include "store_hash.h"
#include "store_stream.h"
#include "store_string.h"

/* Text of a stream ID or a count: two 20-digit numbers and the dash. */
#define PROPAGATE_ID_BYTES 48u

static struct propagate_sink propagate_sink;
static const struct propagate_aof_stats *propagate_aof_stats;
static bool propagate_on;
static uint32_t propagate_depth;      /* commands running, nested */
static uint32_t propagate_containers; /* containers among them */
static bool propagate_multi_fed;      /* MULTI fed for the running containers */
static uint32_t propagate_container_commands; /* commands fed since that MULTI */
static uint64_t propagate_change_total; /* propagate_changed calls, ever */

/* The store's expired and evicted keys (notify's tap), fed while propagation is on. */
static void deletion_tap(uint32_t db_index, struct slice key);

void propagate_register(const struct propagate_sink *sink, const struct propagate_aof_stats *stats)
{
    propagate_sink = sink != NULL ? *sink : (struct propagate_sink){0};
    propagate_aof_stats = stats;
    propagate_on = false;
    KV_ASSERT(sink == NULL || (sink->begin != NULL && sink->arg != NULL &&
                               sink->multi != NULL && sink->exec != NULL));
}

void propagate_enable(bool on)
{
    KV_ASSERT(!on || propagate_sink.begin != NULL);
    KV_ASSERT(propagate_depth == 0); /* switched between commands only */
    propagate_on = on;
    notify_tap_set(on ? deletion_tap : NULL);
}

bool propagate_enabled(void)
{
    return propagate_on;
}

bool propagate_rewrite_running(void)
{
    return propagate_aof_stats != NULL && propagate_aof_stats->rewrite_snapshot;
}

void propagate_stats_reset(void)
{
    if (propagate_sink.stats_reset != NULL) {
        propagate_sink.stats_reset(propagate_sink.context);
    }
}

const struct propagate_aof_stats *propagate_stats(void)
{
    return propagate_aof_stats;
}

int propagate_write_error(void)
{
    return propagate_on && propagate_aof_stats != NULL ? propagate_aof_stats->last_write_errno : 0;
}

int propagate_rewrite_request(bool in_exec)
{
    if (propagate_sink.rewrite == NULL) {
        return 0;
    }
    return propagate_sink.rewrite(propagate_sink.context, in_exec);
}

void propagate_pass_end(void)
{
    if (propagate_sink.pass_end != NULL) {
        propagate_sink.pass_end(propagate_sink.context);
    }
}

bool propagate_timer_wanted(void)
{
    return propagate_on && propagate_sink.timer_wanted != NULL &&
           propagate_sink.timer_wanted(propagate_sink.context);
}

/* ---- Feeding ---- */

/* A rewrite needed the reply and could not read it (it spans output blocks). */
static bool propagate_reply_unreadable;

static void feed_begin(uint32_t db_index, uint32_t arg_count)
{
    KV_ASSERT(propagate_on);
    KV_ASSERT(arg_count >= 1);
    if (propagate_containers > 0 && !propagate_multi_fed) {
        propagate_multi_fed = true;
        propagate_container_commands = 0;
        propagate_sink.multi(propagate_sink.context, db_index);
    }
    propagate_container_commands += propagate_containers > 0 ? 1u : 0u;
    propagate_sink.begin(propagate_sink.context, db_index, arg_count);
}

static void feed_arg(struct slice arg)
{
    propagate_sink.arg(propagate_sink.context, arg);
}

static void feed_word(const char *word)
{
    feed_arg((struct slice){.bytes = (const uint8_t *)word, .length = (uint32_t)strlen(word)});
}

static void feed_int(int64_t value)
{
    char text[NUMBER_INT64_BYTES];
    uint32_t length = number_format_int64(value, text);
    feed_arg((struct slice){.bytes = (const uint8_t *)text, .length = length});
}

/* Feeds args as they are, with args[0] replaced by `name` when not NULL. */
static void feed_args(uint32_t db_index, const char *name, const struct slice *args,
                      uint32_t arg_count)
{
    feed_begin(db_index, arg_count);
    if (name != NULL) {
        feed_word(name);
    } else {
        feed_arg(args[0]);
    }
    /* Bounded by the arguments. */
    for (uint32_t index = 1; index < arg_count; index++) {
        feed_arg(args[index]);
    }
}

static void deletion_tap(uint32_t db_index, struct slice key)
{
    propagate_deletion(db_index, key);
}

bool propagate_effect_wanted(void)
{
    return propagate_on && propagate_depth > 0;
}

void propagate_effect(uint32_t db_index, const struct slice *args, uint32_t arg_count)
{
    if (!propagate_effect_wanted()) {
        return;
    }
    KV_ASSERT(propagate_containers > 0); /* fed by a command of effects, or inside one */
    feed_args(db_index, NULL, args, arg_count);
}

void propagate_changed(void)
{
    propagate_change_total++;
}

void propagate_deletion(uint32_t db_index, struct slice key)
{
    if (!propagate_on) {
        return;
    }
    feed_begin(db_index, 2);
    feed_word("DEL");
    feed_arg(key);
}


/* ---- Reading a reply back (the members SPOP popped, the key a blocking pop served) ---- */

/* A cursor over a contiguous reply. */
struct reply_cursor {
    const uint8_t *at;
    const uint8_t *end;
};

/* The reply written since the mark, when it lies in one buffer. */
static bool reply_span(const struct reply *reply, struct reply_cursor *cursor)
{
    uint64_t since = reply_since_mark(reply);
    if (reply->failed || since == 0 || since > reply->length) {
        propagate_reply_unreadable = true;
        return false;
    }
    cursor->at = reply->bytes + reply->length - since;
    cursor->end = reply->bytes + reply->length;
    KV_ASSERT(cursor->at >= reply->bytes);
    return true;
}

/* A header line: its type byte and number ("*3", "$5", "~2"). */
static bool cursor_header(struct reply_cursor *cursor, uint8_t *type, int64_t *number)
{
    if (cursor->at >= cursor->end) {
        return false;
    }
    *type = *cursor->at;
    const uint8_t *line = cursor->at + 1;
    const uint8_t *newline = memchr(line, '\r', (size_t)(cursor->end - line));
    if (newline == NULL || newline + 1 >= cursor->end) {
        return false;
    }
    *number = 0;
    if (*type == '*' || *type == '$' || *type == '~') {
        if (!number_parse_int64(line, (uint32_t)(newline - line), number)) {
            return false;
        }
    }
    cursor->at = newline + 2;
    return true;
}

/* The next element if it is a bulk string. */
static bool cursor_bulk(struct reply_cursor *cursor, struct slice *bulk)
{
    uint8_t type = 0;
    int64_t length = 0;
    if (!cursor_header(cursor, &type, &length) || type != '$' || length < 0 ||
        length > cursor->end - cursor->at) {
        return false;
    }
    *bulk = (struct slice){.bytes = cursor->at, .length = (uint32_t)length};
    cursor->at += length + 2;
    return cursor->at <= cursor->end;
}

/* An aggregate's header: its element count. */
static bool cursor_aggregate(struct reply_cursor *cursor, int64_t *count)
{
    uint8_t type = 0;
    return cursor_header(cursor, &type, count) && (type == '*' || type == '~') && *count >= 0;
}

/* ---- The rewrites ---- */

/* The expiry a key has now: >0 its Unix ms, 0 none, -1 the key is gone. */
static int64_t key_expire(struct store *store, struct slice key, uint32_t *key_ref)
{
    if (!store_peek(store, key, key_ref) || !store_key_live(store, store_key(store, *key_ref))) {
        return -1;
    }
    return store_key_expire(store_key(store, *key_ref));
}

static bool name_is(const char *name, const char *word)
{
    return strcmp(name, word) == 0;
}

/* EXPIRE and its kin, GETEX with a time: PEXPIREAT, or DEL when the key went. */
static void feed_expire_at(uint32_t db_index, struct store *store, struct slice key)
{
    uint32_t key_ref = 0;
    int64_t at_ms = key_expire(store, key, &key_ref);
    if (at_ms < 0) {
        feed_begin(db_index, 2);
        feed_word("DEL");
        feed_arg(key);
    } else if (at_ms > 0) {
        feed_begin(db_index, 3);
        feed_word("PEXPIREAT");
        feed_arg(key);
        feed_int(at_ms);
    } else {
        feed_begin(db_index, 2);
        feed_word("PERSIST");
        feed_arg(key);
    }
}

/* SET key value PXAT <ms> when the key has a time now (SET .. EX, SETEX, PSETEX). */
static bool feed_set_pxat(uint32_t db_index, struct store *store, struct slice key,
                          struct slice value)
{
    uint32_t key_ref = 0;
    int64_t at_ms = key_expire(store, key, &key_ref);
    if (at_ms <= 0) {
        return false;
    }
    feed_begin(db_index, 5);
    feed_word("SET");
    feed_arg(key);
    feed_arg(value);
    feed_word("PXAT");
    feed_int(at_ms);
    return true;
}

static bool set_has_time(const struct slice *args, uint32_t arg_count)
{
    /* Bounded by the arguments. */
    for (uint32_t index = 3; index < arg_count; index++) {
        if (args[index].length == 2 &&
            (strncasecmp((const char *)args[index].bytes, "ex", 2) == 0 ||
             strncasecmp((const char *)args[index].bytes, "px", 2) == 0)) {
            return true;
        }
        if (args[index].length == 4 &&
            (strncasecmp((const char *)args[index].bytes, "exat", 4) == 0 ||
             strncasecmp((const char *)args[index].bytes, "pxat", 4) == 0)) {
            return true;
        }
    }
    return false;
}

static bool arg_is(struct slice arg, const char *word)
{
    size_t length = strlen(word);
    return arg.length == length && strncasecmp((const char *)arg.bytes, word, length) == 0;
}

/* SPOP: SREM key and the members of the reply (a bulk or an aggregate of bulks). */
static bool feed_spop(uint32_t db_index, struct slice key, const struct reply *reply)
{
    struct reply_cursor cursor;
    if (!reply_span(reply, &cursor)) {
        return false;
    }
    struct slice member;
    if (*cursor.at == '$') {
        if (!cursor_bulk(&cursor, &member)) {
            return false;
        }
        feed_begin(db_index, 3);
        feed_word("SREM");
        feed_arg(key);
        feed_arg(member);
        return true;
    }
    int64_t count = 0;
    if (!cursor_aggregate(&cursor, &count)) {
        return false;
    }
    if (count == 0) {
        return true;
    }
    struct reply_cursor check = cursor;
    /* Bounded by the reply's elements: all checked before the first is fed. */
    for (int64_t index = 0; index < count; index++) {
        if (!cursor_bulk(&check, &member)) {
            return false;
        }
    }
    KV_ASSERT(count <= UINT32_MAX - 2);
    feed_begin(db_index, (uint32_t)count + 2);
    feed_word("SREM");
    feed_arg(key);
    /* Bounded by the reply's elements. */
    for (int64_t index = 0; index < count; index++) {
        bool ok = cursor_bulk(&cursor, &member);
        KV_ASSERT(ok); /* checked above */
        feed_arg(member);
    }
    return true;
}

/* BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: `pop` key, the key first in the reply. */
static bool feed_pop_key(uint32_t db_index, const char *pop, const struct reply *reply)
{
    struct reply_cursor cursor;
    int64_t count = 0;
    struct slice key;
    if (!reply_span(reply, &cursor) || !cursor_aggregate(&cursor, &count) || count < 2 ||
        !cursor_bulk(&cursor, &key)) {
        return false;
    }
    feed_begin(db_index, 2);
    feed_word(pop);
    feed_arg(key);
    return true;
}

/* LMPOP, BLMPOP, ZMPOP, BZMPOP: `pop` key count, as the reply ([key, [elements]]) tells. */
static bool feed_mpop(uint32_t db_index, const char *pop, const struct reply *reply)
{
    struct reply_cursor cursor;
    int64_t count = 0;
    int64_t popped = 0;
    struct slice key;
    if (!reply_span(reply, &cursor) || !cursor_aggregate(&cursor, &count) || count != 2 ||
        !cursor_bulk(&cursor, &key) || !cursor_aggregate(&cursor, &popped)) {
        return false;
    }
    feed_begin(db_index, 3);
    feed_word(pop);
    feed_arg(key);
    feed_int(popped);
    return true;
}

/* Which end an MPOP took: the word after the keys. */
static bool mpop_left(const struct slice *args, uint32_t arg_count, uint32_t numkeys_index,
                      const char *left)
{
    int64_t numkeys = 0;
    if (numkeys_index >= arg_count ||
        !number_parse_int64(args[numkeys_index].bytes, args[numkeys_index].length, &numkeys) ||
        numkeys < 1 || (uint64_t)numkeys + numkeys_index + 1 >= arg_count) {
        return true;
    }
    return arg_is(args[numkeys_index + 1 + (uint32_t)numkeys], left);
}

/* RESTORE key ttl payload [REPLACE] [ABSTTL] ..: a relative ttl becomes the key's time. */
static bool feed_restore(uint32_t db_index, struct store *store, const struct slice *args,
                         uint32_t arg_count)
{
    bool absttl = false;
    /* Bounded by the arguments. */
    for (uint32_t index = 4; index < arg_count; index++) {
        absttl = absttl || arg_is(args[index], "absttl");
    }
    uint32_t key_ref = 0;
    int64_t at_ms = key_expire(store, args[1], &key_ref);
    if (absttl || arg_is(args[2], "0") || at_ms <= 0) {
        return false;
    }
    feed_begin(db_index, arg_count + 1);
    feed_arg(args[0]);
    feed_arg(args[1]);
    feed_int(at_ms);
    /* Bounded by the arguments. */
    for (uint32_t index = 3; index < arg_count; index++) {
        feed_arg(args[index]);
    }
    feed_word("ABSTTL");
    return true;
}

/* XADD's and XTRIM's trimming options from args[2] ([NOMKSTREAM] [MAXLEN|MINID [=|~]
 * threshold] [LIMIT count]): the index past them, and `~`'s index (0: none). */
static uint32_t trim_options(const struct slice *args, uint32_t arg_count,
                             uint32_t *approx_index)
{
    uint32_t index = 2;
    *approx_index = 0;
    /* Bounded: each pass moves past at least one argument. */
    while (index < arg_count) {
        if (arg_is(args[index], "nomkstream")) {
            index++;
        } else if (arg_is(args[index], "maxlen") || arg_is(args[index], "minid")) {
            index++;
            if (index < arg_count && (arg_is(args[index], "=") || arg_is(args[index], "~"))) {
                *approx_index = arg_is(args[index], "~") ? index : 0u;
                index++;
            }
            index++;
        } else if (arg_is(args[index], "limit")) {
            index += 2;
        } else {
            break;
        }
    }
    return index;
}

/* An approximate trim's exact threshold now (Redis's streamRewriteTrimArgument): MAXLEN the
 * stream's length, MINID its first entry's ID (deleted ones included: the first node's first
 * ID), or the largest ID when it has none. */
static bool trim_threshold(struct store *store, struct slice key, bool maxlen, char *text,
                           struct slice *threshold)
{
    uint32_t key_ref = 0;
    if (!store_peek(store, key, &key_ref) ||
        store_key_type(store_key(store, key_ref)) != STORE_TYPE_STREAM) {
        return false;
    }
    const struct store_stream *stream = store_stream_of(store, key_ref);
    int length = 0;
    if (maxlen) {
        length = snprintf(text, PROPAGATE_ID_BYTES, "%llu", (unsigned long long)stream->length);
    } else {
        struct stream_id first = {UINT64_MAX, UINT64_MAX};
        if (store_stream_node_count(store, key_ref) > 0) {
            first = store_stream_node_first(store, key_ref, 0);
        }
        length = snprintf(text, PROPAGATE_ID_BYTES, "%llu-%llu", (unsigned long long)first.ms,
                          (unsigned long long)first.seq);
    }
    KV_ASSERT(length > 0 && length < (int)PROPAGATE_ID_BYTES);
    *threshold = (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
    return true;
}

/* XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] <id> .. and XTRIM key
 * MAXLEN|MINID [=|~] threshold [LIMIT count], as Redis 7.0 rewrites them
 * (streamRewriteApproxSpecifier, streamRewriteTrimArgument): `~ threshold` becomes
 * `= <the exact threshold now>`, LIMIT stays as it was sent (the AOF's client may give it
 * after `=`, and ignores it), XADD's `*` or `<ms>-*` the ID made (the reply). */
static bool feed_xadd_xtrim(uint32_t db_index, struct store *store, bool xadd,
                            const struct slice *args, uint32_t arg_count,
                            const struct reply *reply)
{
    uint32_t approx_index = 0;
    uint32_t index = trim_options(args, arg_count, &approx_index);
    struct slice id = {0};
    bool id_made = false;
    if (xadd && index < arg_count &&
        (arg_is(args[index], "*") ||
         (args[index].length >= 2 && args[index].bytes[args[index].length - 1] == '*' &&
          args[index].bytes[args[index].length - 2] == '-'))) {
        struct reply_cursor cursor;
        if (!reply_span(reply, &cursor) || !cursor_bulk(&cursor, &id)) {
            return false;
        }
        id_made = true;
    }
    char text[PROPAGATE_ID_BYTES];
    struct slice threshold = {0};
    if (approx_index != 0 &&
        !trim_threshold(store, args[1], arg_is(args[approx_index - 1], "maxlen"), text,
                        &threshold)) {
        return false;
    }
    if (!id_made && approx_index == 0) {
        return false;
    }
    KV_ASSERT(approx_index == 0 || approx_index + 1 < index);
    feed_begin(db_index, arg_count);
    /* Bounded by the arguments. */
    for (uint32_t at = 0; at < arg_count; at++) {
        if (at == approx_index && approx_index != 0) {
            feed_word("=");
        } else if (at == approx_index + 1 && approx_index != 0) {
            feed_arg(threshold);
        } else {
            feed_arg(xadd && at == index && id_made ? id : args[at]);
        }
    }
    return true;
}

/* A command's deterministic form; false: it goes as it was sent. */
static bool feed_rewritten(uint32_t db_index, struct store *store, const char *name,
                           const struct slice *args, uint32_t arg_count,
                           const struct reply *reply)
{
    if (name_is(name, "expire") || name_is(name, "pexpire") || name_is(name, "expireat") ||
        name_is(name, "pexpireat")) {
        feed_expire_at(db_index, store, args[1]);
        return true;
    }
    if (name_is(name, "getex")) {
        feed_expire_at(db_index, store, args[1]);
        return true;
    }
    if (name_is(name, "setex") || name_is(name, "psetex")) {
        return arg_count == 4 && feed_set_pxat(db_index, store, args[1], args[3]);
    }
    if (name_is(name, "set")) {
        return set_has_time(args, arg_count) && feed_set_pxat(db_index, store, args[1], args[2]);
    }
    if (name_is(name, "getdel")) {
        feed_begin(db_index, 2);
        feed_word("DEL");
        feed_arg(args[1]);
        return true;
    }
    uint32_t key_ref = 0;
    if (name_is(name, "incrbyfloat")) {
        if (key_expire(store, args[1], &key_ref) < 0) {
            return false;
        }
        feed_begin(db_index, 4);
        feed_word("SET");
        feed_arg(args[1]);
        feed_arg(store_string_value(store, key_ref));
        feed_word("KEEPTTL");
        return true;
    }
    struct slice value;
    if (name_is(name, "hincrbyfloat")) {
        if (key_expire(store, args[1], &key_ref) < 0 ||
            !store_hash_get(store, key_ref, args[2], &value)) {
            return false;
        }
        feed_begin(db_index, 4);
        feed_word("HSET");
        feed_arg(args[1]);
        feed_arg(args[2]);
        feed_arg(value);
        return true;
    }
    if (name_is(name, "spop")) {
        return feed_spop(db_index, args[1], reply);
    }
    if (name_is(name, "blpop") || name_is(name, "brpop")) {
        return feed_pop_key(db_index, name_is(name, "blpop") ? "LPOP" : "RPOP", reply);
    }
    if (name_is(name, "bzpopmin") || name_is(name, "bzpopmax")) {
        return feed_pop_key(db_index, name_is(name, "bzpopmin") ? "ZPOPMIN" : "ZPOPMAX", reply);
    }
    if (name_is(name, "brpoplpush")) {
        feed_begin(db_index, 3);
        feed_word("RPOPLPUSH");
        feed_arg(args[1]);
        feed_arg(args[2]);
        return true;
    }
    if (name_is(name, "blmove")) {
        feed_begin(db_index, 5);
        feed_word("LMOVE");
        /* Bounded: the four arguments after the name. */
        for (uint32_t index = 1; index < 5; index++) {
            feed_arg(args[index]);
        }
        return true;
    }
    if (name_is(name, "lmpop") || name_is(name, "blmpop")) {
        bool left = mpop_left(args, arg_count, name_is(name, "lmpop") ? 1u : 2u, "left");
        return feed_mpop(db_index, left ? "LPOP" : "RPOP", reply);
    }
    if (name_is(name, "zmpop") || name_is(name, "bzmpop")) {
        bool min = mpop_left(args, arg_count, name_is(name, "zmpop") ? 1u : 2u, "min");
        return feed_mpop(db_index, min ? "ZPOPMIN" : "ZPOPMAX", reply);
    }
    if (name_is(name, "restore")) {
        return feed_restore(db_index, store, args, arg_count);
    }
    if (name_is(name, "xadd") || name_is(name, "xtrim")) {
        return feed_xadd_xtrim(db_index, store, name_is(name, "xadd"), args, arg_count, reply);
    }
    return false;
}

/* Commands that change the keyspace without a key event. */
static bool changes_without_event(const char *name, const struct slice *args, uint32_t arg_count)
{
    if (name_is(name, "flushall") || name_is(name, "flushdb") || name_is(name, "swapdb")) {
        return true;
    }
    return name_is(name, "function") && arg_count >= 2 &&
           (arg_is(args[1], "load") || arg_is(args[1], "delete") || arg_is(args[1], "flush") ||
            arg_is(args[1], "restore"));
}

/* EXEC and scripts feed the commands they run; the stream commands of effects (Redis's
 * preventCommandPropagation) feed what they changed (propagate_effect). */
static bool is_container(const char *name)
{
    return name_is(name, "exec") || strncmp(name, "eval", 4) == 0 ||
           strncmp(name, "fcall", 5) == 0 || name_is(name, "xreadgroup") ||
           name_is(name, "xclaim") || name_is(name, "xautoclaim") || name_is(name, "migrate");
}

void propagate_command_begin(struct propagate_frame *frame, const char *name)
{
    frame->events_before = notify_event_total;
    frame->changes_before = propagate_change_total;
    frame->container = false;
    if (!propagate_on) {
        return;
    }
    KV_ASSERT(propagate_depth < NOTIFY_DEPTH_MAX);
    propagate_depth++;
    frame->container = is_container(name);
    propagate_containers += frame->container ? 1u : 0u;
}

void propagate_command_end(const struct propagate_frame *frame, struct store *store,
                           const char *name, bool write, const struct slice *args,
                           uint32_t arg_count, const struct reply *reply)
{
    if (!propagate_on || propagate_depth == 0) {
        return; /* enabled while it ran (CONFIG SET appendonly inside EXEC) */
    }
    KV_ASSERT(arg_count >= 1);
    propagate_depth--;
    if (frame->container) {
        KV_ASSERT(propagate_containers > 0);
        propagate_containers--;
        if (propagate_containers == 0 && propagate_multi_fed) {
            propagate_multi_fed = false;
            propagate_sink.exec(propagate_sink.context, propagate_container_commands);
        }
        return;
    }
    bool reply_ok = reply->failed || reply_since_mark(reply) == 0 || reply->first != '-';
    bool changed = (write && (notify_event_total != frame->events_before ||
                              propagate_change_total != frame->changes_before)) ||
                   (reply_ok && changes_without_event(name, args, arg_count));
    if (!changed) {
        return;
    }
    uint32_t db_index = store->db_index;
    propagate_reply_unreadable = false;
    if (!feed_rewritten(db_index, store, name, args, arg_count, reply)) {
        if (propagate_reply_unreadable) {
            log_warn("propagate: %s fed as sent (its reply spans output blocks)", name);
        }
        feed_args(db_index, NULL, args, arg_count);
    }
}
