/*
 * Bit commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
 * Replies, errors and the order of checks are Redis 7.0's (bitops.c): bit `n` of a string is
 * bit 7 - n % 8 of byte n / 8 (the most significant bit first), a missing key reads as
 * zeros. Handlers read a string's bytes and never write them: every write goes through
 * store_string.h, so the no-allocation and OOM rules are the store's. A write first makes the
 * string long enough (store_string_splice of one zero byte at its new last index, the only
 * step that can need memory: -OOM then, nothing changed) and then writes its bytes in place
 * with splices inside the string's length, which never need memory (asserted).
 * BITOP needs no scratch: the destination is first made a string of the result's length
 * (store_string_put of the longest source's bytes, or a grow when the destination is also a
 * source), then filled chunk by chunk from a stack buffer; byte i of the result depends only
 * on byte i of each source, so writing chunk k after reading it from every source is right
 * even when the destination is one of them. BITFIELD parses its operations twice (to check
 * them all before any reply, then to run them) instead of keeping a list.
 */
#include "cmd_handlers.h"
#include "notify.h"

#include <string.h>

#include "number.h"
#include "resp.h"
#include "store_string.h"

/* BITOP's stack buffer: the result is built and written this many bytes at a time. */
#define BIT_CHUNK_BYTES 4096u

/* The bytes a BITFIELD operation touches at most: 7 bits of offset in the first and 64 bits. */
#define BIT_FIELD_BYTES_MAX 9u
static_assert((7u + 64u + 7u) / 8u == BIT_FIELD_BYTES_MAX, "a field spans at most 9 bytes");

static const struct slice bit_empty = {.bytes = NULL, .length = 0};

/* A bit offset as Redis's getBitOffsetFromArgument reads it: an integer, "#n" (n fields of
 * `bits`) when hash is allowed, not negative and its byte below proto-max-bulk-len. */
static bool bit_offset_parse(struct slice arg, bool hash, uint32_t bits, uint64_t *offset)
{
    KV_ASSERT(bits <= 64);
    bool use_hash = hash && bits > 0 && arg.length > 0 && arg.bytes[0] == '#';
    uint32_t skip = use_hash ? 1u : 0u;
    int64_t value = 0;
    if (!number_parse_int64(arg.bytes + skip, arg.length - skip, &value)) {
        return false;
    }
    if (use_hash) {
        /* Redis multiplies without a check; a product past int64 is refused here. */
        if (value > INT64_MAX / (int64_t)bits || value < INT64_MIN / (int64_t)bits) {
            return false;
        }
        value *= (int64_t)bits;
    }
    if (value < 0 || (uint64_t)(value >> 3) >= RESP_BULK_BYTES_LIMIT) {
        return false;
    }
    *offset = (uint64_t)value;
    KV_ASSERT(*offset / 8 < RESP_BULK_BYTES_LIMIT);
    return true;
}

/* Finds a string for a write (no keyspace counting); false after answering WRONGTYPE. */
static bool bit_write_find(struct cmd_context *context, struct slice key,
                           struct store_found *found)
{
    enum store_status status = store_find_typed(context->store, key, STORE_TYPE_STRING, found);
    if (status == STORE_WRONGTYPE) {
        reply_error(&context->reply, REPLY_ERROR_WRONGTYPE);
        return false;
    }
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_STRING);
    return true;
}

/* Makes the string found at least `length` bytes long (zeros after its bytes; created when
 * absent), as Redis's lookupStringForBitCommand; false after answering kv's limit error or
 * OOM, with nothing changed. */
static bool bit_grow(struct cmd_context *context, struct store_found *found, struct slice key,
                     uint64_t length)
{
    KV_ASSERT(length > 0);
    struct store *store = context->store;
    uint64_t old_length = found->exists ? store_string_value(store, found->key_ref).length : 0;
    if (found->exists && old_length >= length) {
        /* Redis unshares the string for the write to come: "raw" (OBJECT ENCODING). */
        store_string_shape_set(store, found, STORE_SHAPE_CONVERTED);
        return true;
    }
    enum store_status status = STORE_OK;
    if (length > store->limits.value_bytes_max) {
        status = STORE_VALUE_TOO_LONG;
    } else {
        status = store_string_check(store, found, key, bit_empty);
    }
    uint64_t new_length = 0;
    if (status == STORE_OK) {
        static const uint8_t zero = 0;
        struct slice byte = {.bytes = &zero, .length = 1};
        status = store_string_splice(store, found, key, length - 1, byte, &new_length);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    KV_ASSERT(new_length == length);
    store_string_shape_set(store, found, STORE_SHAPE_CONVERTED); /* made by size: "raw" */
    return true;
}

/* Writes `bytes` inside the string found (in place: never needs memory). */
static void bit_write(struct cmd_context *context, struct store_found *found, struct slice key,
                      uint64_t offset, struct slice bytes)
{
    KV_ASSERT(found->exists);
    uint64_t length_before = store_string_value(context->store, found->key_ref).length;
    KV_ASSERT(offset + bytes.length <= length_before);
    uint64_t length = 0;
    enum store_status status =
        store_string_splice(context->store, found, key, offset, bytes, &length);
    KV_ASSERT(status == STORE_OK);
    KV_ASSERT(length == length_before);
}

/* Bit `offset` of a value (zero past its end). */
static uint32_t bit_get(struct slice value, uint64_t offset)
{
    uint64_t byte_index = offset >> 3;
    if (byte_index >= value.length) {
        return 0;
    }
    return (value.bytes[byte_index] >> (7u - (offset & 7u))) & 1u;
}

CMD_HANDLER(cmd_setbit)
{
    KV_ASSERT(arg_count == 4);
    uint64_t offset = 0;
    int64_t on = 0;
    if (!bit_offset_parse(args[2], false, 0, &offset)) {
        reply_error(&context->reply, REPLY_ERROR_BIT_OFFSET);
        return;
    }
    if (!number_parse_int64(args[3].bytes, args[3].length, &on) || (on & ~1ll) != 0) {
        reply_error(&context->reply, REPLY_ERROR_BIT_VALUE);
        return;
    }
    struct store_found found;
    if (!bit_write_find(context, args[1], &found)) {
        return;
    }
    /* Redis's event comes when the key is new, grew, or the bit changed. */
    uint64_t length_before =
        found.exists ? store_string_value(context->store, found.key_ref).length : 0;
    bool created = !found.exists;
    if (!bit_grow(context, &found, args[1], (offset >> 3) + 1)) {
        return;
    }
    struct slice value = store_string_value(context->store, found.key_ref);
    bool grew = created || value.length > length_before;
    uint64_t byte_index = offset >> 3;
    uint8_t mask = (uint8_t)(1u << (7u - (offset & 7u)));
    uint8_t old_byte = value.bytes[byte_index];
    uint8_t new_byte = on ? (uint8_t)(old_byte | mask) : (uint8_t)(old_byte & ~mask);
    if (new_byte != old_byte) {
        bit_write(context, &found, args[1], byte_index,
                  (struct slice){.bytes = &new_byte, .length = 1});
    }
    if (grew || new_byte != old_byte) {
        notify_event(NOTIFY_STRING, "setbit", args[1]);
    }
    reply_integer(&context->reply, (old_byte & mask) ? 1 : 0);
}

CMD_HANDLER(cmd_getbit)
{
    KV_ASSERT(arg_count == 3);
    uint64_t reply_before = context->reply.total;
    uint64_t offset = 0;
    if (!bit_offset_parse(args[2], false, 0, &offset)) {
        reply_error(&context->reply, REPLY_ERROR_BIT_OFFSET);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
    } else if (status == STORE_OK) {
        reply_integer(&context->reply,
                      bit_get(store_string_value(context->store, found.key_ref), offset));
    }
    KV_ASSERT(context->reply.total > reply_before);
}

/* A BIT|BYTE unit argument; false when it is neither. */
static bool bit_unit_parse(struct slice arg, bool *is_bit)
{
    *is_bit = cmd_arg_is(arg, "bit");
    return *is_bit || cmd_arg_is(arg, "byte");
}

/* Redis's range rules for BITCOUNT and BITPOS over `total` units: negative from the end,
 * clamped to [0, total - 1]; *start > *end when it selects nothing. */
static void bit_range_clamp(int64_t total, int64_t *start, int64_t *end)
{
    KV_ASSERT(total >= 0);
    *start = *start < 0 ? total + *start : *start;
    *end = *end < 0 ? total + *end : *end;
    *start = *start < 0 ? 0 : *start;
    *end = *end < 0 ? 0 : *end;
    *end = *end >= total ? total - 1 : *end;
    KV_ASSERT(*end < total);
}

/* The mask of the bits of byte `byte_index` inside bits [first_bit, last_bit]. */
static uint8_t bit_byte_mask(uint64_t byte_index, uint64_t first_bit, uint64_t last_bit)
{
    KV_ASSERT(first_bit <= last_bit);
    uint32_t mask = 0xffu;
    if (byte_index == first_bit >> 3) {
        mask &= 0xffu >> (first_bit & 7u);
    }
    if (byte_index == last_bit >> 3) {
        mask &= (0xffu << (7u - (last_bit & 7u))) & 0xffu;
    }
    return (uint8_t)mask;
}

/* Set bits of `value` in bits [first_bit, last_bit] (inside the value). */
static int64_t bit_count_range(struct slice value, uint64_t first_bit, uint64_t last_bit)
{
    KV_ASSERT(first_bit <= last_bit);
    KV_ASSERT(last_bit >> 3 < value.length);
    int64_t count = 0;
    /* Bounded by the bytes of the range, at most the value's length. */
    for (uint64_t index = first_bit >> 3; index <= last_bit >> 3; index++) {
        uint8_t byte = value.bytes[index] & bit_byte_mask(index, first_bit, last_bit);
        count += __builtin_popcount(byte);
    }
    return count;
}

CMD_HANDLER(cmd_bitcount)
{
    KV_ASSERT(arg_count >= 2);
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, 0);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        return;
    }
    struct slice value = store_string_value(context->store, found.key_ref);
    int64_t start = 0;
    int64_t end = (int64_t)value.length - 1;
    bool is_bit = false;
    if (arg_count == 4 || arg_count == 5) {
        if (!number_parse_int64(args[2].bytes, args[2].length, &start) ||
            !number_parse_int64(args[3].bytes, args[3].length, &end)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
        if (start < 0 && end < 0 && start > end) {
            reply_integer(&context->reply, 0);
            return;
        }
        if (arg_count == 5 && !bit_unit_parse(args[4], &is_bit)) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        bit_range_clamp(is_bit ? (int64_t)value.length * 8 : (int64_t)value.length, &start,
                        &end);
    } else if (arg_count != 2) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (start > end) {
        reply_integer(&context->reply, 0);
        return;
    }
    KV_ASSERT(start >= 0);
    uint64_t first_bit = is_bit ? (uint64_t)start : (uint64_t)start * 8;
    uint64_t last_bit = is_bit ? (uint64_t)end : (uint64_t)end * 8 + 7;
    reply_integer(&context->reply, bit_count_range(value, first_bit, last_bit));
}

/* The first bit equal to `bit` in bits [first_bit, last_bit] of `value`, or -1. */
static int64_t bit_find(struct slice value, uint32_t bit, uint64_t first_bit, uint64_t last_bit)
{
    KV_ASSERT(bit <= 1);
    KV_ASSERT(last_bit >> 3 < value.length);
    /* Bounded by the bytes of the range, at most the value's length. */
    for (uint64_t index = first_bit >> 3; index <= last_bit >> 3; index++) {
        uint8_t byte = bit ? value.bytes[index] : (uint8_t)~value.bytes[index];
        byte &= bit_byte_mask(index, first_bit, last_bit);
        if (byte != 0) {
            /* The most significant set bit is the first in Redis's order. */
            return (int64_t)(index * 8) + (__builtin_clz(byte) - 24);
        }
    }
    return -1;
}

/* BITPOS's range arguments (args[3 ..]) into bits; false after answering an error. */
static bool bitpos_range(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count, struct slice value, int64_t *first_bit,
                         int64_t *last_bit)
{
    KV_ASSERT(arg_count >= 4 && arg_count <= 6);
    int64_t start = 0;
    int64_t end = 0;
    bool is_bit = false;
    if (!number_parse_int64(args[3].bytes, args[3].length, &start)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return false;
    }
    if (arg_count == 6 && !bit_unit_parse(args[5], &is_bit)) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return false;
    }
    int64_t total = is_bit ? (int64_t)value.length * 8 : (int64_t)value.length;
    if (arg_count >= 5) {
        if (!number_parse_int64(args[4].bytes, args[4].length, &end)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return false;
        }
    } else {
        end = total - 1;
    }
    bit_range_clamp(total, &start, &end);
    if (start > end) {
        /* Empty, compared in the range's unit (a start past the end may be any size). */
        *first_bit = 1;
        *last_bit = 0;
        return true;
    }
    KV_ASSERT(start >= 0 && end < total);
    *first_bit = is_bit ? start : start * 8;
    *last_bit = is_bit ? end : end * 8 + 7;
    return true;
}

CMD_HANDLER(cmd_bitpos)
{
    KV_ASSERT(arg_count >= 3);
    int64_t bit = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &bit)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (bit != 0 && bit != 1) {
        reply_error(&context->reply, REPLY_ERROR_BITPOS_BIT);
        return;
    }
    struct store_found found;
    enum store_status status = cmd_read(context, args[1], STORE_TYPE_STRING, &found);
    if (status == STORE_NOT_FOUND) {
        reply_integer(&context->reply, bit ? -1 : 0);
        return;
    }
    if (status == STORE_WRONGTYPE) {
        return;
    }
    struct slice value = store_string_value(context->store, found.key_ref);
    int64_t first_bit = 0;
    int64_t last_bit = (int64_t)value.length * 8 - 1;
    bool end_given = arg_count >= 5;
    if (arg_count > 6) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (arg_count >= 4 &&
        !bitpos_range(context, args, arg_count, value, &first_bit, &last_bit)) {
        return;
    }
    if (first_bit > last_bit) {
        reply_integer(&context->reply, -1);
        return;
    }
    KV_ASSERT(first_bit >= 0);
    int64_t position = bit_find(value, (uint32_t)bit, (uint64_t)first_bit, (uint64_t)last_bit);
    /* Looking for a clear bit without an end, the string counts as followed by zeros. */
    if (position < 0 && bit == 0 && !end_given) {
        position = last_bit + 1;
    }
    reply_integer(&context->reply, position);
}

enum bitop_kind { BITOP_AND, BITOP_OR, BITOP_XOR, BITOP_NOT };

/* Fills `out` with the result's bytes [offset, offset + bytes), reading each source (zero
 * past its end, or when absent) afresh: the previous chunk's write may have moved nothing,
 * but a find per chunk is cheap and never trusts a stale pointer. */
static void bitop_chunk(struct cmd_context *context, const struct slice *args,
                        uint32_t arg_count, enum bitop_kind kind, uint64_t offset,
                        uint32_t bytes, uint8_t *out)
{
    KV_ASSERT(bytes > 0 && bytes <= BIT_CHUNK_BYTES);
    KV_ASSERT(arg_count >= 4);
    /* Bounded by the sources, args[3 ..]. */
    for (uint32_t arg_index = 3; arg_index < arg_count; arg_index++) {
        struct store_found found;
        enum store_status status =
            store_find_typed(context->store, args[arg_index], STORE_TYPE_STRING, &found);
        KV_ASSERT(status != STORE_WRONGTYPE); /* checked before the write */
        struct slice value = found.exists ? store_string_value(context->store, found.key_ref)
                                          : bit_empty;
        /* Bounded by the chunk's bytes. */
        for (uint32_t index = 0; index < bytes; index++) {
            uint64_t at = offset + index;
            uint8_t byte = at < value.length ? value.bytes[at] : 0;
            if (arg_index == 3) {
                out[index] = kind == BITOP_NOT ? (uint8_t)~byte : byte;
            } else if (kind == BITOP_AND) {
                out[index] &= byte;
            } else if (kind == BITOP_OR) {
                out[index] |= byte;
            } else {
                out[index] ^= byte;
            }
        }
    }
}

/* Makes the destination a string of `length` bytes without an expiry time, whatever they
 * are (the fill overwrites them, except where the destination is a source: there they are
 * its own bytes, zero-extended). `longest` is a source of that length. False after the
 * error, nothing changed. */
static bool bitop_target(struct cmd_context *context, struct slice key, bool is_source,
                         struct slice longest_key, uint64_t length)
{
    KV_ASSERT(length > 0);
    struct store *store = context->store;
    struct store_found found;
    if (is_source) {
        /* A source is a string (or absent): grow it, keeping its bytes. */
        if (!bit_write_find(context, key, &found) || !bit_grow(context, &found, key, length)) {
            return false;
        }
        if (store_key_expire(store_key(store, found.key_ref)) != 0) {
            enum store_status status = store_expire_set(store, &found, 0);
            KV_ASSERT(status == STORE_OK); /* clearing never needs memory */
        }
        return true;
    }
    struct store_found longest;
    enum store_status status = store_find_typed(store, longest_key, STORE_TYPE_STRING, &longest);
    KV_ASSERT(status == STORE_OK);
    struct slice bytes = store_string_value(store, longest.key_ref);
    KV_ASSERT(bytes.length == length);
    store_find_typed(store, key, STORE_TYPE_ANY, &found);
    status = store_string_check(store, &found, key, bytes);
    if (status == STORE_OK) {
        status = store_string_put(store, &found, key, bytes, 0, false);
    }
    if (status != STORE_OK) {
        reply_error(&context->reply, cmd_store_error(status));
        return false;
    }
    return true;
}

CMD_HANDLER(cmd_bitop)
{
    KV_ASSERT(arg_count >= 4);
    static const char *const names[] = {"and", "or", "xor", "not"};
    uint32_t kind = 0;
    while (kind < 4 && !cmd_arg_is(args[1], names[kind])) { /* bounded by the 4 names */
        kind++;
    }
    if (kind == 4) {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return;
    }
    if (kind == BITOP_NOT && arg_count != 4) {
        reply_error(&context->reply, REPLY_ERROR_BITOP_NOT);
        return;
    }
    struct slice target = args[2];
    uint64_t length = 0;
    uint32_t longest_index = 3;
    bool is_source = false;
    /* Bounded by the sources, args[3 ..]. */
    for (uint32_t index = 3; index < arg_count; index++) {
        struct store_found found;
        enum store_status status = cmd_read(context, args[index], STORE_TYPE_STRING, &found);
        if (status == STORE_WRONGTYPE) {
            return;
        }
        uint64_t source_length =
            status == STORE_OK ? store_string_value(context->store, found.key_ref).length : 0;
        if (source_length > length) {
            length = source_length;
            longest_index = index;
        }
        is_source = is_source || (args[index].length == target.length &&
                                  (target.length == 0 ||
                                   memcmp(args[index].bytes, target.bytes, target.length) == 0));
    }
    if (length == 0) {
        struct store_found found;
        store_find_typed(context->store, target, STORE_TYPE_ANY, &found);
        if (found.exists) {
            store_remove(context->store, &found);
            notify_event(NOTIFY_GENERIC, "del", target);
        }
        reply_integer(&context->reply, 0);
        return;
    }
    if (!bitop_target(context, target, is_source, args[longest_index], length)) {
        return;
    }
    uint8_t chunk[BIT_CHUNK_BYTES];
    /* Bounded by the result's length, BIT_CHUNK_BYTES a pass. */
    for (uint64_t offset = 0; offset < length; offset += BIT_CHUNK_BYTES) {
        uint32_t bytes = length - offset < BIT_CHUNK_BYTES ? (uint32_t)(length - offset)
                                                           : BIT_CHUNK_BYTES;
        bitop_chunk(context, args, arg_count, (enum bitop_kind)kind, offset, bytes, chunk);
        struct store_found found;
        enum store_status status =
            store_find_typed(context->store, target, STORE_TYPE_STRING, &found);
        KV_ASSERT(status == STORE_OK);
        bit_write(context, &found, target, offset,
                  (struct slice){.bytes = chunk, .length = bytes});
    }
    notify_event(NOTIFY_STRING, "set", target);
    reply_integer(&context->reply, (int64_t)length);
}

/* BITFIELD's operations and overflow kinds. */
enum bitfield_opcode { BITFIELD_GET, BITFIELD_SET, BITFIELD_INCRBY };
enum bitfield_overflow { BITFIELD_WRAP, BITFIELD_SAT, BITFIELD_FAIL };

struct bitfield_op {
    uint64_t offset;   /* the field's first bit */
    int64_t value;     /* SET's value, INCRBY's increment */
    uint32_t bits;     /* 1 ..64 signed, 1 ..63 unsigned */
    uint8_t opcode;    /* enum bitfield_opcode */
    uint8_t overflow;  /* enum bitfield_overflow in force */
    bool is_signed;
};

/* A type "i<bits>" or "u<bits>" (case-sensitive, as Redis). */
static bool bitfield_type_parse(struct slice arg, bool *is_signed, uint32_t *bits)
{
    if (arg.length < 2 || (arg.bytes[0] != 'i' && arg.bytes[0] != 'u')) {
        return false;
    }
    *is_signed = arg.bytes[0] == 'i';
    int64_t value = 0;
    if (!number_parse_int64(arg.bytes + 1, arg.length - 1, &value) || value < 1 ||
        value > (*is_signed ? 64 : 63)) {
        return false;
    }
    *bits = (uint32_t)value;
    KV_ASSERT(*bits >= 1 && *bits <= 64);
    return true;
}

enum bitfield_parsed { BITFIELD_PARSED_OP, BITFIELD_PARSED_OVERFLOW, BITFIELD_PARSED_ERROR };

/* The operation at args[*index] (moving *index to its last argument), or an OVERFLOW that
 * changes *overflow; after answering the error, BITFIELD_PARSED_ERROR. */
static enum bitfield_parsed bitfield_parse(struct cmd_context *context, const struct slice *args,
                                           uint32_t arg_count, uint32_t *index,
                                           uint8_t *overflow, struct bitfield_op *op)
{
    KV_ASSERT(*index >= 2 && *index < arg_count);
    uint32_t left = arg_count - *index - 1;
    struct slice name = args[*index];
    if (cmd_arg_is(name, "overflow") && left >= 1) {
        static const char *const kinds[] = {"wrap", "sat", "fail"};
        uint32_t kind = 0;
        while (kind < 3 && !cmd_arg_is(args[*index + 1], kinds[kind])) { /* 3 names */
            kind++;
        }
        if (kind == 3) {
            reply_error(&context->reply, REPLY_ERROR_BITFIELD_OVERFLOW);
            return BITFIELD_PARSED_ERROR;
        }
        *overflow = (uint8_t)kind;
        *index += 1;
        return BITFIELD_PARSED_OVERFLOW;
    }
    if (cmd_arg_is(name, "get") && left >= 2) {
        op->opcode = BITFIELD_GET;
    } else if (cmd_arg_is(name, "set") && left >= 3) {
        op->opcode = BITFIELD_SET;
    } else if (cmd_arg_is(name, "incrby") && left >= 3) {
        op->opcode = BITFIELD_INCRBY;
    } else {
        reply_error(&context->reply, REPLY_ERROR_SYNTAX);
        return BITFIELD_PARSED_ERROR;
    }
    if (!bitfield_type_parse(args[*index + 1], &op->is_signed, &op->bits)) {
        reply_error(&context->reply, REPLY_ERROR_BITFIELD_TYPE);
        return BITFIELD_PARSED_ERROR;
    }
    if (!bit_offset_parse(args[*index + 2], true, op->bits, &op->offset)) {
        reply_error(&context->reply, REPLY_ERROR_BIT_OFFSET);
        return BITFIELD_PARSED_ERROR;
    }
    op->value = 0;
    if (op->opcode != BITFIELD_GET &&
        !number_parse_int64(args[*index + 3].bytes, args[*index + 3].length, &op->value)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return BITFIELD_PARSED_ERROR;
    }
    op->overflow = *overflow;
    *index += op->opcode == BITFIELD_GET ? 2u : 3u;
    return BITFIELD_PARSED_OP;
}

/* The `bits` bits at bit `offset` of `buffer`, as an unsigned number. */
static uint64_t bitfield_get_raw(const uint8_t *buffer, uint64_t offset, uint32_t bits)
{
    KV_ASSERT(bits >= 1 && bits <= 64);
    KV_ASSERT(offset < 8);
    uint64_t value = 0;
    for (uint32_t index = 0; index < bits; index++) { /* bounded by the 64 bits of a field */
        uint64_t at = offset + index;
        value = (value << 1) | ((buffer[at >> 3] >> (7u - (at & 7u))) & 1u);
    }
    return value;
}

static void bitfield_set_raw(uint8_t *buffer, uint64_t offset, uint32_t bits, uint64_t value)
{
    KV_ASSERT(bits >= 1 && bits <= 64);
    KV_ASSERT(offset < 8);
    for (uint32_t index = 0; index < bits; index++) { /* bounded by the 64 bits of a field */
        uint64_t at = offset + index;
        uint8_t mask = (uint8_t)(1u << (7u - (at & 7u)));
        bool on = ((value >> (bits - 1 - index)) & 1u) != 0;
        buffer[at >> 3] = on ? (uint8_t)(buffer[at >> 3] | mask)
                             : (uint8_t)(buffer[at >> 3] & ~mask);
    }
}

/* A raw field as a signed number (its top bit extended). */
static int64_t bitfield_signed(uint64_t raw, uint32_t bits)
{
    KV_ASSERT(bits >= 1 && bits <= 64);
    if (bits < 64 && (raw & (1ull << (bits - 1))) != 0) {
        raw |= ~0ull << bits;
    }
    return (int64_t)raw;
}

/* Redis's checkUnsignedBitfieldOverflow: 0, or +1/-1 with *limit the value to store (WRAP,
 * SAT; FAIL leaves it). */
static int bitfield_overflow_unsigned(uint64_t value, int64_t increment, uint32_t bits,
                                      uint8_t overflow, uint64_t *limit)
{
    KV_ASSERT(bits >= 1 && bits <= 63);
    uint64_t max = (1ull << bits) - 1;
    int result = 0;
    if (value > max || (increment > 0 && (uint64_t)increment > max - value)) {
        result = 1;
    } else if (increment < 0 && (uint64_t)0 - (uint64_t)increment > value) {
        result = -1;
    }
    if (result != 0 && overflow == BITFIELD_WRAP) {
        *limit = (value + (uint64_t)increment) & max;
    } else if (result != 0 && overflow == BITFIELD_SAT) {
        *limit = result > 0 ? max : 0;
    }
    return result;
}

/* Redis's checkSignedBitfieldOverflow, its wrapping arithmetic made defined. */
static int bitfield_overflow_signed(int64_t value, int64_t increment, uint32_t bits,
                                    uint8_t overflow, int64_t *limit)
{
    KV_ASSERT(bits >= 1 && bits <= 64);
    int64_t max = bits == 64 ? INT64_MAX : (int64_t)((1ull << (bits - 1)) - 1);
    int64_t min = -max - 1;
    int64_t max_increment = (int64_t)((uint64_t)max - (uint64_t)value);
    int64_t min_increment = (int64_t)((uint64_t)min - (uint64_t)value);
    int result = 0;
    if (value > max || (bits != 64 && increment > max_increment) ||
        (value >= 0 && increment > 0 && increment > max_increment)) {
        result = 1;
    } else if (value < min || (bits != 64 && increment < min_increment) ||
               (value < 0 && increment < 0 && increment < min_increment)) {
        result = -1;
    }
    if (result != 0 && overflow == BITFIELD_WRAP) {
        uint64_t sum = (uint64_t)value + (uint64_t)increment;
        *limit = bitfield_signed(bits < 64 ? sum & ((1ull << bits) - 1) : sum, bits);
    } else if (result != 0 && overflow == BITFIELD_SAT) {
        *limit = result > 0 ? max : min;
    }
    return result;
}

/* The up to 9 bytes holding the field of `op`, zero past the value's end. */
static void bitfield_load(struct slice value, const struct bitfield_op *op, uint8_t *buffer)
{
    uint64_t first = op->offset >> 3;
    for (uint32_t index = 0; index < BIT_FIELD_BYTES_MAX; index++) { /* 9 bytes */
        buffer[index] = first + index < value.length ? value.bytes[first + index] : 0;
    }
    KV_ASSERT(op->bits <= 64);
}

/* SET or INCRBY on the grown string found: its reply, and the write unless FAIL refuses. */
static bool bitfield_write(struct cmd_context *context, struct store_found *found,
                           struct slice key, const struct bitfield_op *op)
{
    KV_ASSERT(op->opcode != BITFIELD_GET);
    uint8_t buffer[BIT_FIELD_BYTES_MAX];
    bitfield_load(store_string_value(context->store, found->key_ref), op, buffer);
    uint64_t shift = op->offset & 7u;
    uint64_t raw = bitfield_get_raw(buffer, shift, op->bits);
    bool is_incr = op->opcode == BITFIELD_INCRBY;
    int64_t increment = is_incr ? op->value : 0;
    int result = 0;
    int64_t reply_value = 0;
    uint64_t new_raw = 0;
    if (op->is_signed) {
        int64_t old_value = bitfield_signed(raw, op->bits);
        int64_t start = is_incr ? old_value : op->value;
        int64_t limit = 0;
        result = bitfield_overflow_signed(start, increment, op->bits, op->overflow, &limit);
        int64_t new_value = result != 0 ? limit
                                        : (int64_t)((uint64_t)start + (uint64_t)increment);
        reply_value = is_incr ? new_value : old_value;
        new_raw = (uint64_t)new_value;
    } else {
        uint64_t start = is_incr ? raw : (uint64_t)op->value;
        uint64_t limit = 0;
        result = bitfield_overflow_unsigned(start, increment, op->bits, op->overflow, &limit);
        new_raw = result != 0 ? limit : start + (uint64_t)increment;
        reply_value = is_incr ? (int64_t)new_raw : (int64_t)raw;
    }
    if (result != 0 && op->overflow == BITFIELD_FAIL) {
        reply_null(&context->reply);
        return false;
    }
    reply_integer(&context->reply, reply_value);
    if (op->bits < 64) {
        new_raw &= (1ull << op->bits) - 1;
    }
    if (new_raw != raw) {
        bitfield_set_raw(buffer, shift, op->bits, new_raw);
        uint32_t bytes = (uint32_t)((shift + op->bits + 7) / 8);
        KV_ASSERT(bytes <= BIT_FIELD_BYTES_MAX);
        bit_write(context, found, key, op->offset >> 3,
                  (struct slice){.bytes = buffer, .length = bytes});
    }
    return true;
}

static void bitfield_generic(struct cmd_context *context, const struct slice *args,
                             uint32_t arg_count, bool read_only)
{
    KV_ASSERT(arg_count >= 2);
    uint32_t op_count = 0;
    bool writes = false;
    uint64_t length = 0; /* the bytes the writes need */
    uint8_t overflow = BITFIELD_WRAP;
    struct bitfield_op op;
    /* First pass: check every operation, bounded by the arguments. */
    for (uint32_t index = 2; index < arg_count; index++) {
        enum bitfield_parsed parsed =
            bitfield_parse(context, args, arg_count, &index, &overflow, &op);
        if (parsed == BITFIELD_PARSED_ERROR) {
            return;
        }
        if (parsed == BITFIELD_PARSED_OP) {
            op_count++;
            if (op.opcode != BITFIELD_GET) {
                writes = true;
                uint64_t end = ((op.offset + op.bits - 1) >> 3) + 1;
                length = end > length ? end : length;
            }
        }
    }
    struct store_found found;
    if (!writes) {
        if (cmd_read(context, args[1], STORE_TYPE_STRING, &found) == STORE_WRONGTYPE) {
            return;
        }
    } else if (read_only) {
        reply_error(&context->reply, REPLY_ERROR_BITFIELD_RO);
        return;
    } else if (!bit_write_find(context, args[1], &found) ||
               !bit_grow(context, &found, args[1], length)) {
        return;
    }
    reply_array(&context->reply, op_count);
    overflow = BITFIELD_WRAP;
    uint32_t changes = 0; /* writes that were not refused by OVERFLOW FAIL (Redis's count) */
    /* Second pass: run them, bounded by the arguments. */
    for (uint32_t index = 2; index < arg_count; index++) {
        enum bitfield_parsed parsed =
            bitfield_parse(context, args, arg_count, &index, &overflow, &op);
        KV_ASSERT(parsed != BITFIELD_PARSED_ERROR); /* the first pass checked them */
        if (parsed != BITFIELD_PARSED_OP) {
            continue;
        }
        if (op.opcode != BITFIELD_GET) {
            changes += bitfield_write(context, &found, args[1], &op) ? 1u : 0u;
            continue;
        }
        uint8_t buffer[BIT_FIELD_BYTES_MAX];
        struct slice value =
            found.exists ? store_string_value(context->store, found.key_ref) : bit_empty;
        bitfield_load(value, &op, buffer);
        uint64_t raw = bitfield_get_raw(buffer, op.offset & 7u, op.bits);
        reply_integer(&context->reply,
                      op.is_signed ? bitfield_signed(raw, op.bits) : (int64_t)raw);
    }
    if (changes > 0) {
        notify_event(NOTIFY_STRING, "setbit", args[1]);
    }
}

CMD_HANDLER(cmd_bitfield)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    bitfield_generic(context, args, arg_count, false);
    KV_ASSERT(context->reply.total > reply_before);
}

CMD_HANDLER(cmd_bitfield_ro)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t reply_before = context->reply.total;
    bitfield_generic(context, args, arg_count, true);
    KV_ASSERT(context->reply.total > reply_before);
}

static const struct cmd bit_cmds[] = {
    {"setbit", 4, 1, 1, 1, CMD_FLAG_WRITE, cmd_setbit},
    {"getbit", 3, 1, 1, 1, 0, cmd_getbit},
    {"bitcount", -2, 1, 1, 1, 0, cmd_bitcount},
    {"bitpos", -3, 1, 1, 1, 0, cmd_bitpos},
    {"bitop", -4, 2, -1, 1, CMD_FLAG_WRITE, cmd_bitop},
    {"bitfield", -2, 1, 1, 1, CMD_FLAG_WRITE, cmd_bitfield},
    {"bitfield_ro", -2, 1, 1, 1, 0, cmd_bitfield_ro},
};

CMD_FAMILY(cmd_family_bit, "bitmap", bit_cmds);
