/*
 * HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST, over strings holding
 * Redis 7.0's HLL bytes (hll.h), so GET, SET and DUMP see what redis-server would hold.
 * Replies, errors and their order are hyperloglog.c's: a non-string key is WRONGTYPE, a
 * string that is not an HLL "-WRONGTYPE Key is not a valid HyperLogLog string value.", a
 * corrupt sparse one INVALIDOBJ.
 *
 * A change is made on a copy of the value in a static work buffer (HLL_WORK_BYTES, which
 * holds any valid HLL and the growth of one change) and written back whole through the
 * string store (a splice over the old bytes, then a truncation when the value shrank), so
 * the store's no-allocation and OOM rules hold: growing may answer -OOM, with nothing
 * changed. PFCOUNT of several keys and PFMERGE gather the union in a static array of 16384
 * one-byte registers. A sparse value too long for the work buffer is corrupt (a valid one is
 * at most HLL_SPARSE_BYTES_MAX bytes): a change to it answers INVALIDOBJ where Redis would
 * still edit its first registers. Keyspace notifications are not sent here (Redis sends
 * "pfadd" for PFADD and PFMERGE).
 */
#include "cmd_handlers.h"

#include <math.h>
#include <string.h>

#include "hll.h"
#include "notify.h"
#include "number.h"
#include "redis_param.h"
#include "store_string.h"

/* The value being changed; the promotion scratch; the union's registers. Static: sized at
 * compile time, used by one command at a time (one thread). */
static uint8_t hll_work_bytes[HLL_WORK_BYTES];
static uint8_t hll_dense_bytes[HLL_DENSE_BYTES];
static uint8_t hll_registers[HLL_REGISTER_COUNT];
static_assert(sizeof(hll_registers) >= HLL_DENSE_BYTES, "PFSELFTEST keeps a dense HLL there");

/* hll-sparse-max-bytes, as CONFIG SET left it (Redis's default when unreadable). */
static uint64_t hll_sparse_bytes_max(void)
{
    static const char name[] = "hll-sparse-max-bytes";
    int32_t row = redis_param_find(name, sizeof(name) - 1);
    KV_ASSERT(row >= 0);
    const char *text = redis_param_value((uint32_t)row);
    int64_t value = 0;
    if (!number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value) ||
        value < 0) {
        return 3000;
    }
    return (uint64_t)value;
}

static struct hll_work hll_work_empty(void)
{
    return (struct hll_work){.bytes = hll_work_bytes,
                             .length = 0,
                             .capacity = HLL_WORK_BYTES,
                             .dense = hll_dense_bytes,
                             .sparse_bytes_max = hll_sparse_bytes_max()};
}

/* Copies a stored HLL into the work buffer; false after answering INVALIDOBJ for a sparse
 * value too long to be valid. */
static bool hll_load(struct cmd_context *context, struct slice value, struct hll_work *work)
{
    KV_ASSERT(hll_is_valid(value));
    if ((uint64_t)value.length + HLL_SPARSE_GROWTH_MAX + 1u > work->capacity) {
        reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
        return false;
    }
    memcpy(work->bytes, value.bytes, value.length);
    work->length = value.length;
    work->bytes[work->length] = 0; /* Redis's string's terminator */
    KV_ASSERT(work->length >= HLL_HEADER_BYTES);
    return true;
}

/* Writes the work buffer's value at the key found (created when absent, its TTL kept
 * otherwise); false after answering the store's error, with nothing changed. */
static bool hll_store(struct cmd_context *context, struct store_found *found, struct slice key,
                      const struct hll_work *work)
{
    struct store *store = context->store;
    struct slice value = {.bytes = work->bytes, .length = work->length};
    enum store_status status = store_string_check(store, found, key, value);
    if (status == STORE_OK && !found->exists) {
        status = store_string_put(store, found, key, value, 0, false);
        if (status == STORE_OK) {
            store_string_shape_set(store, found, STORE_SHAPE_CONVERTED); /* Redis: "raw" */
        }
    } else if (status == STORE_OK) {
        uint32_t old_length = store_string_value(store, found->key_ref).length;
        uint64_t length = 0;
        status = store_string_splice(store, found, key, 0, value, &length);
        if (status == STORE_OK && value.length < old_length) {
            store_string_truncate(store, found, value.length);
        }
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    KV_ASSERT(store_string_value(store, found->key_ref).length == work->length);
    return true;
}

/* Finds a key for a write (no keyspace counting, as Redis's lookupKeyWrite); false after
 * answering WRONGTYPE for a key that is not a string, or not an HLL. */
static bool hll_write_find(struct cmd_context *context, struct slice key,
                           struct store_found *found)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_STRING, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    if (found->exists &&
        !hll_is_valid(store_string_value(context->store, found->key_ref))) {
        reply_error(&context->reply, REPLY_ERROR_HLL_WRONGTYPE);
        return false;
    }
    return true;
}

/* Reads a source HLL (counting the keyspace hit or miss): STORE_OK with its bytes,
 * STORE_NOT_FOUND, or anything else after answering the error. */
static enum store_status hll_read(struct cmd_context *context, struct slice key,
                                  struct slice *value)
{
    struct store_found found;
    enum store_status status = cmd_read(context, key, STORE_TYPE_STRING, &found);
    if (status != STORE_OK) {
        return status;
    }
    *value = store_string_value(context->store, found.key_ref);
    if (!hll_is_valid(*value)) {
        reply_error(&context->reply, REPLY_ERROR_HLL_WRONGTYPE);
        return STORE_WRONGTYPE;
    }
    return STORE_OK;
}

CMD_HANDLER(cmd_pfadd)
{
    KV_ASSERT(arg_count >= 2);
    struct store_found found;
    if (!hll_write_find(context, args[1], &found)) {
        return;
    }
    struct hll_work work = hll_work_empty();
    uint32_t updated_count = 0;
    if (found.exists) {
        if (!hll_load(context, store_string_value(context->store, found.key_ref), &work)) {
            return;
        }
    } else {
        work.length = hll_create(work.bytes);
        updated_count++;
    }
    /* Bounded by the arguments. */
    for (uint32_t index = 2; index < arg_count; index++) {
        enum hll_result result = hll_add(&work, args[index]);
        if (result == HLL_INVALID) {
            /* Redis keeps what the elements before changed, and answers the error. */
            if (updated_count > 0 && found.exists &&
                !hll_store(context, &found, args[1], &work)) {
                return;
            }
            reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
            return;
        }
        updated_count += result == HLL_UPDATED ? 1u : 0u;
    }
    if (updated_count > 0) {
        hll_cache_invalidate(work.bytes);
        if (!hll_store(context, &found, args[1], &work)) {
            return;
        }
        notify_event(NOTIFY_STRING, "pfadd", args[1]);
    }
    reply_integer(&context->reply, updated_count > 0 ? 1 : 0);
}

/* PFCOUNT of one key: the cached cardinality, or a fresh one written into the cache. */
static void pfcount_one(struct cmd_context *context, struct slice key)
{
    struct store_found found;
    enum store_status status = cmd_read(context, key, STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    if (status != STORE_OK) {
        return; /* WRONGTYPE answered */
    }
    struct slice value = store_string_value(context->store, found.key_ref);
    if (!hll_is_valid(value)) {
        reply_error(&context->reply, REPLY_ERROR_HLL_WRONGTYPE);
        return;
    }
    if (hll_cache_valid(value.bytes)) {
        reply_integer(&context->reply, (int64_t)hll_cache_get(value.bytes));
        return;
    }
    uint64_t cardinality = 0;
    if (!hll_count(value, &cardinality)) {
        reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
        return;
    }
    /* The cache is written in place (8 bytes inside the value: no memory needed). */
    uint8_t header[HLL_HEADER_BYTES];
    memcpy(header, value.bytes, HLL_HEADER_BYTES);
    hll_cache_set(header, cardinality);
    struct slice cache = {.bytes = header + 8, .length = 8};
    uint64_t length = 0;
    enum store_status written = store_string_splice(context->store, &found, key, 8, cache, &length);
    KV_ASSERT(written == STORE_OK);
    KV_ASSERT(length == value.length);
    reply_integer(&context->reply, (int64_t)cardinality);
}

/* Merges the HLLs at args[first ..) into hll_registers; false after answering an error.
 * *dense_seen tells whether one of them was dense. */
static bool hll_union(struct cmd_context *context, const struct slice *args, uint32_t first,
                      uint32_t arg_count, bool *dense_seen)
{
    memset(hll_registers, 0, sizeof(hll_registers));
    *dense_seen = false;
    /* Bounded by the arguments. */
    for (uint32_t index = first; index < arg_count; index++) {
        struct slice value;
        enum store_status status = hll_read(context, args[index], &value);
        if (status == STORE_NOT_FOUND) {
            continue; /* a missing key is an empty HLL */
        }
        if (status != STORE_OK) {
            return false;
        }
        *dense_seen = *dense_seen || value.bytes[4] == HLL_ENCODING_DENSE;
        if (!hll_merge(hll_registers, value)) {
            reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
            return false;
        }
    }
    return true;
}

CMD_HANDLER(cmd_pfcount)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    if (arg_count == 2) {
        pfcount_one(context, args[1]);
    } else {
        bool dense_seen = false;
        if (hll_union(context, args, 1, arg_count, &dense_seen)) {
            reply_integer(&context->reply, (int64_t)hll_count_registers(hll_registers));
        }
    }
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_pfmerge)
{
    KV_ASSERT(arg_count >= 2);
    /* The destination is a source too (Redis merges args[1 ..]). */
    bool dense_seen = false;
    if (!hll_union(context, args, 1, arg_count, &dense_seen)) {
        return;
    }
    struct store_found found;
    enum store_status status = store_find_typed(context->store, args[1], STORE_TYPE_STRING,
                                                &found);
    KV_ASSERT(status != STORE_WRONGTYPE); /* it was read as a source */
    struct hll_work work = hll_work_empty();
    if (found.exists) {
        if (!hll_load(context, store_string_value(context->store, found.key_ref), &work)) {
            return;
        }
    } else {
        work.length = hll_create(work.bytes);
    }
    if (dense_seen && !hll_to_dense(&work)) {
        reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
        return;
    }
    /* Bounded by the register count; Redis ignores what each set answers. */
    for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
        if (hll_registers[index] != 0) {
            (void)hll_set(&work, index, hll_registers[index]);
        }
    }
    hll_cache_invalidate(work.bytes);
    if (!hll_store(context, &found, args[1], &work)) {
        return;
    }
    notify_event(NOTIFY_STRING, "pfadd", args[1]); /* Redis names a merge so too */
    reply_ok(&context->reply);
}

/* The decimal digits of a run or value (1..16384). */
static uint32_t hll_digits(uint32_t value)
{
    KV_ASSERT(value >= 1 && value <= HLL_REGISTER_COUNT);
    return value >= 10000 ? 5u : value >= 1000 ? 4u : value >= 100 ? 3u : value >= 10 ? 2u : 1u;
}

/* PFDEBUG DECODE: "z:<run>", "Z:<run>", "v:<value>,<run>" per opcode, space-separated; the
 * bulk's length is summed first, then the text written piece by piece. */
static void pfdebug_decode(struct cmd_context *context, struct slice value)
{
    uint64_t text_bytes = 0;
    uint32_t offset = HLL_HEADER_BYTES;
    /* Bounded by the value's bytes, twice. */
    while (offset < value.length) {
        enum hll_opcode kind;
        uint32_t run = 0;
        uint32_t count = 0;
        offset = hll_sparse_opcode(value, offset, &kind, &run, &count);
        text_bytes += 3u + hll_digits(run) + (kind == HLL_OPCODE_VAL ? hll_digits(count) + 1u : 0);
    }
    text_bytes -= text_bytes > 0 ? 1u : 0u; /* the last space is trimmed */
    char head[NUMBER_INT64_BYTES + 3];
    head[0] = '$';
    uint32_t head_bytes = 1 + number_format_uint64(text_bytes, head + 1);
    reply_raw(&context->reply, head, head_bytes);
    reply_raw(&context->reply, "\r\n", 2);
    uint64_t written = 0;
    offset = HLL_HEADER_BYTES;
    while (offset < value.length) {
        enum hll_opcode kind;
        uint32_t run = 0;
        uint32_t count = 0;
        offset = hll_sparse_opcode(value, offset, &kind, &run, &count);
        char piece[32];
        uint32_t piece_bytes = 0;
        if (written > 0) {
            piece[piece_bytes++] = ' ';
        }
        piece[piece_bytes++] = kind == HLL_OPCODE_ZERO ? 'z' : kind == HLL_OPCODE_XZERO ? 'Z' : 'v';
        piece[piece_bytes++] = ':';
        if (kind == HLL_OPCODE_VAL) {
            piece_bytes += number_format_uint64(count, piece + piece_bytes);
            piece[piece_bytes++] = ',';
        }
        piece_bytes += number_format_uint64(run, piece + piece_bytes);
        reply_raw(&context->reply, piece, piece_bytes);
        written += piece_bytes;
    }
    KV_ASSERT(written == text_bytes);
    reply_raw(&context->reply, "\r\n", 2);
}

/* PFDEBUG GETREG and TODENSE: turns a sparse value dense in the store; false after
 * answering an error. *converted tells whether it was sparse. */
static bool pfdebug_to_dense(struct cmd_context *context, struct store_found *found,
                             struct slice key, bool *converted)
{
    struct slice value = store_string_value(context->store, found->key_ref);
    *converted = value.bytes[4] == HLL_ENCODING_SPARSE;
    if (!*converted) {
        return true;
    }
    struct hll_work work = hll_work_empty();
    if (!hll_load(context, value, &work)) {
        return false;
    }
    if (!hll_to_dense(&work)) {
        reply_error(&context->reply, REPLY_ERROR_HLL_INVALID);
        return false;
    }
    return hll_store(context, found, key, &work);
}

CMD_HANDLER(cmd_pfdebug)
{
    KV_ASSERT(arg_count == 3);
    struct store_found found;
    if (!hll_write_find(context, args[2], &found)) {
        return;
    }
    if (!found.exists) {
        reply_error(&context->reply, REPLY_ERROR_HLL_NO_KEY);
        return;
    }
    bool converted = false;
    if (cmd_arg_is(args[1], "getreg")) {
        if (!pfdebug_to_dense(context, &found, args[2], &converted)) {
            return;
        }
        struct slice value = store_string_value(context->store, found.key_ref);
        KV_ASSERT(value.length == HLL_DENSE_BYTES);
        reply_array(&context->reply, HLL_REGISTER_COUNT);
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            reply_integer(&context->reply, hll_dense_get(value.bytes + HLL_HEADER_BYTES, index));
        }
    } else if (cmd_arg_is(args[1], "decode")) {
        struct slice value = store_string_value(context->store, found.key_ref);
        if (value.bytes[4] != HLL_ENCODING_SPARSE) {
            reply_error(&context->reply, REPLY_ERROR_HLL_NOT_SPARSE);
            return;
        }
        pfdebug_decode(context, value);
    } else if (cmd_arg_is(args[1], "encoding")) {
        struct slice value = store_string_value(context->store, found.key_ref);
        reply_simple(&context->reply,
                     value.bytes[4] == HLL_ENCODING_SPARSE ? "sparse" : "dense");
    } else if (cmd_arg_is(args[1], "todense")) {
        if (pfdebug_to_dense(context, &found, args[2], &converted)) {
            reply_integer(&context->reply, converted ? 1 : 0);
        }
    } else {
        reply_error_format(&context->reply, REPLY_ERROR_PFDEBUG_SUBCOMMAND, &args[1]);
    }
}

/* PFSELFTEST's generator (xorshift64), its state carried from run to run. */
static uint64_t hll_selftest_state = 0x9e3779b97f4a7c15ull;

static uint64_t hll_selftest_next(void)
{
    hll_selftest_state ^= hll_selftest_state << 13;
    hll_selftest_state ^= hll_selftest_state >> 7;
    hll_selftest_state ^= hll_selftest_state << 17;
    return hll_selftest_state;
}

/* Every dense register keeps what was set and disturbs no neighbour (Redis's test 1). */
static bool hll_selftest_registers(void)
{
    uint8_t *registers = hll_dense_bytes + HLL_HEADER_BYTES;
    /* Bounded: 8 rounds of the register count, twice. */
    for (uint32_t round = 0; round < 8; round++) {
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            hll_registers[index] = (uint8_t)(hll_selftest_next() & HLL_REGISTER_MAX);
            hll_dense_set(registers, index, hll_registers[index]);
        }
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            if (hll_dense_get(registers, index) != hll_registers[index]) {
                return false;
            }
        }
    }
    return true;
}

/* Adds 1..100000 distinct elements to a sparse and a dense HLL at once: the sparse one stays
 * sparse while small, both give the same estimate at each power of ten, and it is within six
 * standard errors (Redis's test 2, a tenth of its length). */
static bool hll_selftest_estimates(void)
{
    struct hll_work sparse = hll_work_empty();
    sparse.length = hll_create(sparse.bytes);
    uint8_t *dense = hll_registers; /* a dense value: header and registers */
    memset(dense, 0, HLL_DENSE_BYTES);
    memcpy(dense, "HYLL", 4);
    struct slice dense_value = {.bytes = dense, .length = HLL_DENSE_BYTES};
    double error_relative = 1.04 / sqrt(HLL_REGISTER_COUNT);
    uint64_t seed = hll_selftest_next();
    uint64_t checkpoint = 1;
    /* Bounded: 100000 elements. */
    for (uint64_t element = 1; element <= 100000; element++) {
        uint8_t bytes[8];
        uint64_t key = element ^ seed;
        memcpy(bytes, &key, sizeof(bytes));
        struct slice item = {.bytes = bytes, .length = sizeof(bytes)};
        uint32_t index = 0;
        uint8_t count = hll_pattern(item, &index);
        if (hll_dense_get(dense + HLL_HEADER_BYTES, index) < count) {
            hll_dense_set(dense + HLL_HEADER_BYTES, index, count);
        }
        if (hll_add(&sparse, item) == HLL_INVALID) {
            return false;
        }
        if (element != checkpoint) {
            continue;
        }
        struct slice sparse_value = {.bytes = sparse.bytes, .length = sparse.length};
        if (element < sparse.sparse_bytes_max / 2 && sparse.bytes[4] != HLL_ENCODING_SPARSE) {
            return false;
        }
        uint64_t dense_count = 0;
        uint64_t sparse_count = 0;
        if (!hll_count(dense_value, &dense_count) || !hll_count(sparse_value, &sparse_count) ||
            dense_count != sparse_count) {
            return false;
        }
        uint64_t error_max = element == 10 ? 1 : (uint64_t)ceil(error_relative * 6 * checkpoint);
        uint64_t error = dense_count > element ? dense_count - element : element - dense_count;
        if (error > error_max) {
            return false;
        }
        checkpoint *= 10;
    }
    return true;
}

CMD_HANDLER(cmd_pfselftest)
{
    KV_ASSERT(arg_count == 1);
    (void)args;
    if (!hll_selftest_registers() || !hll_selftest_estimates()) {
        reply_error(&context->reply, REPLY_ERROR_HLL_SELFTEST);
        return;
    }
    reply_ok(&context->reply);
}

static const struct cmd hll_cmds[] = {
    {"pfadd", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_pfadd},
    {"pfcount", -2, 1, -1, 1, 0, cmd_pfcount},
    {"pfmerge", -2, 1, -1, 1, CMD_FLAG_WRITE, cmd_pfmerge},
    {"pfdebug", 3, 2, 2, 1, CMD_FLAG_WRITE, cmd_pfdebug},
    {"pfselftest", 1, 0, 0, 0, 0, cmd_pfselftest},
};

CMD_FAMILY(cmd_family_hll, "hyperloglog", hll_cmds);
