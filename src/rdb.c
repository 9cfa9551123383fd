/*
 * Redis 7.0's RDB format, written and read without I/O (include/rdb.h).
 *
 * The writer keeps one fixed buffer: each byte goes through it and a full buffer goes to the
 * flush callback, so a save takes no memory proportional to the data. A compact encoding
 * (a listpack, an intset) is built whole in a heap scratch of one value's size, released at
 * once; without room for it the plain encoding is written (streamed, no scratch). LZF output
 * takes a scratch of the string's size, and without room the string is written raw.
 *
 * The reader parses from a buffer it tops up through the fill callback. Strings that go into
 * a store call are kept where they are until the call (a batch of at most RDB_BATCH_ITEMS):
 * the bytes from keep_position on are never dropped when the buffer is compacted, and items
 * name stream positions, not pointers, so compaction cannot leave one dangling. A string
 * longer than a quarter of the buffer is copied into a heap allocation of its size (which
 * the value needs in the store anyway), so any string loads through a small buffer. The
 * batch is flushed to the store before the kept bytes pass a quarter of the buffer, so the
 * next string always finds room. Every length is checked against what is left before use.
 */
#include "rdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc64.h"
#include "intset.h"
#include "lzf.h"
#include "number.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "RDB's binary fields are little endian");
static_assert(sizeof(double) == 8, "RDB's binary doubles are 8 bytes");

/* RDB length encodings (the top two bits of the first byte). */
#define RDB_LEN_6BIT 0u
#define RDB_LEN_14BIT 1u
#define RDB_LEN_32BIT 0x80u
#define RDB_LEN_64BIT 0x81u
#define RDB_LEN_ENCODED 3u
#define RDB_ENC_INT8 0u
#define RDB_ENC_INT16 1u
#define RDB_ENC_INT32 2u
#define RDB_ENC_LZF 3u

/* Redis tries the integer encoding only on strings this short (rdbSaveRawString). */
#define RDB_INT_STRING_BYTES_MAX 11u

/* The list node size of list-max-listpack-size -2 (Redis 7.0's default). */
#define RDB_LIST_NODE_BYTES_MAX 8192u
#define RDB_LIST_NODE_OVERHEAD 8u /* _quicklistNodeAllowInsert's estimate of an entry's own
                                    header and backlen (SIZE_ESTIMATE_OVERHEAD) */

/* Listpack layout: total bytes (u32), element count (u16), entries, the end byte. */
#define LP_HEADER_BYTES 6u
#define LP_END 0xffu
#define LP_ENTRY_BYTES_MAX (1u + 4u + 5u) /* an entry's encoding and backlen, data aside */
#define LP_COUNT_UNKNOWN 65535u

/* Container kinds of a QUICKLIST_2 node. */
#define RDB_QUICKLIST_PLAIN 1u
#define RDB_QUICKLIST_PACKED 2u

/* Store calls a load batches: items (strings or scores) held before the call. */
#define RDB_BATCH_ITEMS 128u

/* ==== Writer ==== */

void rdb_writer_init(struct rdb_writer *writer, uint8_t *buffer, uint32_t capacity_bytes,
                     rdb_flush_fn *flush, void *flush_context, struct heap *heap,
                     uint32_t *lzf_table)
{
    KV_ASSERT(buffer != NULL && flush != NULL);
    KV_ASSERT(capacity_bytes >= RDB_WRITER_BYTES_MIN);
    *writer = (struct rdb_writer){.buffer = buffer, .capacity_bytes = capacity_bytes,
                                  .flush = flush, .flush_context = flush_context, .heap = heap,
                                  .lzf_table = heap != NULL ? lzf_table : NULL};
}

static void writer_flush(struct rdb_writer *writer)
{
    if (writer->used_bytes > 0 && !writer->failed) {
        writer->failed = !writer->flush(writer->flush_context, writer->buffer,
                                        writer->used_bytes);
    }
    writer->used_bytes = 0;
}

bool rdb_writer_finish(struct rdb_writer *writer)
{
    writer_flush(writer);
    KV_ASSERT(writer->used_bytes == 0);
    return !writer->failed;
}

static void write_bytes(struct rdb_writer *writer, const void *bytes, uint64_t length)
{
    const uint8_t *from = bytes;
    writer->crc = crc64(writer->crc, from, length);
    writer->total_bytes += length;
    /* Bounded by length: each pass copies at least one byte or flushes a full buffer. */
    while (length > 0) {
        if (writer->used_bytes == writer->capacity_bytes) {
            writer_flush(writer);
        }
        uint64_t room = writer->capacity_bytes - writer->used_bytes;
        uint64_t step = length < room ? length : room;
        memcpy(writer->buffer + writer->used_bytes, from, step);
        writer->used_bytes += (uint32_t)step;
        from += step;
        length -= step;
    }
    KV_ASSERT(writer->used_bytes <= writer->capacity_bytes);
}

static void write_u8(struct rdb_writer *writer, uint8_t value)
{
    write_bytes(writer, &value, 1);
}

/* rdbSaveLen: 6 bits, 14 bits, 32 bits or 64 bits, big endian. */
static void write_length(struct rdb_writer *writer, uint64_t length)
{
    uint8_t bytes[9];
    uint32_t count = 0;
    if (length < (1u << 6)) {
        bytes[count++] = (uint8_t)(length | (RDB_LEN_6BIT << 6));
    } else if (length < (1u << 14)) {
        bytes[count++] = (uint8_t)((length >> 8) | (RDB_LEN_14BIT << 6));
        bytes[count++] = (uint8_t)(length & 0xffu);
    } else {
        bool wide = length > UINT32_MAX;
        bytes[count++] = (uint8_t)(wide ? RDB_LEN_64BIT : RDB_LEN_32BIT);
        uint32_t width = wide ? 8u : 4u;
        for (uint32_t index = 0; index < width; index++) {
            bytes[count++] = (uint8_t)(length >> (8u * (width - 1u - index)));
        }
    }
    KV_ASSERT(count <= sizeof(bytes));
    write_bytes(writer, bytes, count);
}

/* rdbTryIntegerEncoding: the canonical text of an int32 as 2, 3 or 5 bytes; 0 otherwise. */
static uint32_t string_int_encode(struct slice value, uint8_t *out)
{
    int64_t integer = 0;
    if (value.length == 0 || value.length > RDB_INT_STRING_BYTES_MAX ||
        !number_parse_int64(value.bytes, (uint32_t)value.length, &integer)) {
        return 0;
    }
    if (integer >= INT8_MIN && integer <= INT8_MAX) {
        out[0] = (uint8_t)((RDB_LEN_ENCODED << 6) | RDB_ENC_INT8);
        out[1] = (uint8_t)integer;
        return 2;
    }
    if (integer >= INT16_MIN && integer <= INT16_MAX) {
        out[0] = (uint8_t)((RDB_LEN_ENCODED << 6) | RDB_ENC_INT16);
        uint16_t word = (uint16_t)integer;
        memcpy(out + 1, &word, 2);
        return 3;
    }
    if (integer >= INT32_MIN && integer <= INT32_MAX) {
        out[0] = (uint8_t)((RDB_LEN_ENCODED << 6) | RDB_ENC_INT32);
        uint32_t word = (uint32_t)integer;
        memcpy(out + 1, &word, 4);
        return 5;
    }
    return 0;
}

/* rdbSaveLzfStringObject: true when written compressed. */
static bool write_string_lzf(struct rdb_writer *writer, struct slice value)
{
    KV_ASSERT(value.length > LZF_REDIS_BYTES_MIN);
    if (writer->lzf_table == NULL || value.length > UINT32_MAX) {
        return false;
    }
    uint32_t room = (uint32_t)value.length - LZF_REDIS_SAVING_MIN;
    uint8_t *out = heap_alloc(writer->heap, (uint64_t)room + 1u);
    if (out == NULL) {
        return false;
    }
    uint32_t packed = lzf_compress(value.bytes, (uint32_t)value.length, out, room,
                                   writer->lzf_table);
    if (packed > 0) {
        write_u8(writer, (uint8_t)((RDB_LEN_ENCODED << 6) | RDB_ENC_LZF));
        write_length(writer, packed);
        write_length(writer, value.length);
        write_bytes(writer, out, packed);
    }
    heap_release(writer->heap, out);
    return packed > 0;
}

/* rdbSaveRawString: an int32's canonical text as an integer, a longer string compressed
 * when that saves, else the length and the bytes. */
static void write_string(struct rdb_writer *writer, struct slice value)
{
    uint8_t encoded[5];
    uint32_t encoded_bytes = string_int_encode(value, encoded);
    if (encoded_bytes > 0) {
        write_bytes(writer, encoded, encoded_bytes);
        return;
    }
    if (value.length > LZF_REDIS_BYTES_MIN && write_string_lzf(writer, value)) {
        return;
    }
    write_length(writer, value.length);
    write_bytes(writer, value.bytes, value.length);
}

/* The value's type byte, then the key's name when rdb_write_key left one waiting. */
static void write_type(struct rdb_writer *writer, uint8_t type)
{
    write_u8(writer, type);
    if (writer->pending) {
        writer->pending = false;
        write_string(writer, writer->pending_name);
    }
    KV_ASSERT(!writer->pending);
}

static void write_cstring(struct rdb_writer *writer, const char *text)
{
    write_string(writer, (struct slice){.bytes = (const uint8_t *)text, .length = strlen(text)});
}

/* ---- Listpack building (Redis 7.0's listpack.c encodings) ---- */

/* The bytes of an entry's backlen for an entry of `length` bytes. */
static uint32_t lp_backlen_bytes(uint64_t length)
{
    if (length <= 127u) {
        return 1;
    }
    if (length < 16383u) {
        return 2;
    }
    if (length < 2097151u) {
        return 3;
    }
    return length < 268435455u ? 4u : 5u;
}

/* Encodes an entry (its encoding, data and backlen) at `out` when not NULL; returns its
 * bytes. Integers in canonical form are stored as integers, as lpInsertString does. */
static uint64_t lp_entry_put(struct slice value, uint8_t *out)
{
    uint8_t head[9];
    uint32_t head_bytes = 0;
    uint64_t data_bytes = 0;
    int64_t integer = 0;
    if (value.length <= 20u && value.length > 0 &&
        number_parse_int64(value.bytes, (uint32_t)value.length, &integer)) {
        if (integer >= 0 && integer <= 127) {
            head[head_bytes++] = (uint8_t)integer;
        } else if (integer >= -4096 && integer <= 4095) {
            uint64_t bits = integer < 0 ? (uint64_t)((1 << 13) + integer) : (uint64_t)integer;
            head[head_bytes++] = (uint8_t)((bits >> 8) | 0xc0u);
            head[head_bytes++] = (uint8_t)(bits & 0xffu);
        } else {
            uint32_t width = 8;
            uint8_t code = 0xf4;
            if (integer >= -32768 && integer <= 32767) {
                width = 2;
                code = 0xf1;
            } else if (integer >= -8388608 && integer <= 8388607) {
                width = 3;
                code = 0xf2;
            } else if (integer >= INT32_MIN && integer <= INT32_MAX) {
                width = 4;
                code = 0xf3;
            }
            head[head_bytes++] = code;
            uint64_t bits = (uint64_t)integer;
            for (uint32_t index = 0; index < width; index++) {
                head[head_bytes++] = (uint8_t)(bits >> (8u * index));
            }
        }
    } else {
        data_bytes = value.length;
        if (value.length < 64u) {
            head[head_bytes++] = (uint8_t)(0x80u | value.length);
        } else if (value.length < 4096u) {
            head[head_bytes++] = (uint8_t)(0xe0u | (value.length >> 8));
            head[head_bytes++] = (uint8_t)(value.length & 0xffu);
        } else {
            KV_ASSERT(value.length <= UINT32_MAX);
            head[head_bytes++] = 0xf0u;
            for (uint32_t index = 0; index < 4u; index++) {
                head[head_bytes++] = (uint8_t)(value.length >> (8u * index));
            }
        }
    }
    uint64_t entry_bytes = head_bytes + data_bytes;
    uint32_t back_bytes = lp_backlen_bytes(entry_bytes);
    if (out != NULL) {
        memcpy(out, head, head_bytes);
        if (data_bytes > 0) {
            memcpy(out + head_bytes, value.bytes, data_bytes);
        }
        uint8_t *back = out + entry_bytes;
        /* lpEncodeBacklen: 7 bits a byte, the most significant first, every byte but the
         * first flagged with 128. */
        for (uint32_t index = 0; index < back_bytes; index++) {
            uint32_t shift = 7u * (back_bytes - 1u - index);
            uint8_t bits = (uint8_t)((entry_bytes >> shift) & 127u);
            back[index] = index == 0 ? bits : (uint8_t)(bits | 128u);
        }
    }
    KV_ASSERT(head_bytes >= 1 && head_bytes <= 9);
    return entry_bytes + back_bytes;
}

/* A listpack being built in a scratch of `capacity` bytes. */
struct lp_build {
    uint8_t *bytes;
    uint64_t capacity;
    uint64_t used;
    uint32_t count;
};

static void lp_build_add(struct lp_build *build, struct slice value)
{
    uint64_t bytes = lp_entry_put(value, NULL);
    KV_ASSERT(build->used + bytes + 1u <= build->capacity);
    (void)lp_entry_put(value, build->bytes + build->used);
    build->used += bytes;
    build->count++;
}

/* Closes the listpack (header, end byte): its bytes. */
static struct slice lp_build_end(struct lp_build *build)
{
    KV_ASSERT(build->used + 1u <= build->capacity);
    build->bytes[build->used++] = LP_END;
    uint32_t total = (uint32_t)build->used;
    uint16_t count = build->count < LP_COUNT_UNKNOWN ? (uint16_t)build->count
                                                     : (uint16_t)LP_COUNT_UNKNOWN;
    memcpy(build->bytes, &total, 4);
    memcpy(build->bytes + 4, &count, 2);
    return (struct slice){.bytes = build->bytes, .length = build->used};
}

/* ---- Values ---- */

/* d2string of a score as zzlInsertAt stores it: an integral score as an integer entry,
 * else "%.17g" (inf, -inf as words). */
static struct slice score_text(double score, char *text, uint32_t capacity)
{
    int length = 0;
    if (score >= (double)(-INT64_MAX / 2) && score <= (double)(INT64_MAX / 2) &&
        (double)(int64_t)score == score) {
        length = (int)number_format_int64((int64_t)score, text);
    } else if (score == __builtin_inf()) {
        length = snprintf(text, capacity, "inf");
    } else if (score == -__builtin_inf()) {
        length = snprintf(text, capacity, "-inf");
    } else {
        length = snprintf(text, capacity, "%.17g", score);
    }
    KV_ASSERT(length > 0 && (uint32_t)length < capacity);
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint64_t)length};
}

/* A list as QUICKLIST_2: nodes split as Redis's pushes split them (a node takes an element
 * while its size stays within RDB_LIST_NODE_BYTES_MAX). Sizes the nodes in one walk, then
 * builds each in one scratch; false (nothing written) when the heap has no room for it. */
static bool write_list_quicklist(struct rdb_writer *writer, struct store *store,
                                 uint32_t key_ref)
{
    uint32_t length = store_list_length(store, key_ref);
    struct store_list_cursor cursor;
    uint64_t node_count = 1;
    uint64_t node_bytes = LP_HEADER_BYTES + 1u;
    uint64_t node_bytes_max = 0;
    store_list_seek(store, key_ref, 0, &cursor);
    /* Bounded by the list's length. */
    for (uint32_t index = 0; index < length; index++) {
        struct slice value = store_list_value(store, &cursor);
        uint64_t entry_bytes = lp_entry_put(value, NULL);
        if (index > 0 && node_bytes + value.length + RDB_LIST_NODE_OVERHEAD >
                             RDB_LIST_NODE_BYTES_MAX) {
            node_bytes_max = node_bytes > node_bytes_max ? node_bytes : node_bytes_max;
            node_count++;
            node_bytes = LP_HEADER_BYTES + 1u;
        }
        node_bytes += entry_bytes;
        (void)store_list_next(store, &cursor);
    }
    node_bytes_max = node_bytes > node_bytes_max ? node_bytes : node_bytes_max;
    uint8_t *scratch = heap_alloc(writer->heap, node_bytes_max);
    if (scratch == NULL) {
        return false;
    }
    write_type(writer, RDB_TYPE_LIST_QUICKLIST_2);
    write_length(writer, node_count);
    struct lp_build build = {.bytes = scratch, .capacity = node_bytes_max,
                             .used = LP_HEADER_BYTES};
    uint64_t nodes_written = 0;
    store_list_seek(store, key_ref, 0, &cursor);
    /* Bounded by the list's length; the same split as the sizing walk. */
    for (uint32_t index = 0; index < length; index++) {
        struct slice value = store_list_value(store, &cursor);
        if (index > 0 && build.used + 1u + value.length + RDB_LIST_NODE_OVERHEAD >
                             RDB_LIST_NODE_BYTES_MAX) {
            write_length(writer, RDB_QUICKLIST_PACKED);
            write_string(writer, lp_build_end(&build));
            nodes_written++;
            build.used = LP_HEADER_BYTES;
            build.count = 0;
        }
        lp_build_add(&build, value);
        (void)store_list_next(store, &cursor);
    }
    write_length(writer, RDB_QUICKLIST_PACKED);
    write_string(writer, lp_build_end(&build));
    nodes_written++;
    KV_ASSERT(nodes_written == node_count);
    heap_release(writer->heap, scratch);
    return true;
}

static void write_list(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    if (writer->heap != NULL && write_list_quicklist(writer, store, key_ref)) {
        return;
    }
    uint32_t length = store_list_length(store, key_ref);
    write_type(writer, RDB_TYPE_LIST);
    write_length(writer, length);
    struct store_list_cursor cursor;
    store_list_seek(store, key_ref, 0, &cursor);
    /* Bounded by the list's length. */
    for (uint32_t index = 0; index < length; index++) {
        write_string(writer, store_list_value(store, &cursor));
        (void)store_list_next(store, &cursor);
    }
}

/* An intset set as Redis's intset blob: width code, count, values ascending (all LE). */
static bool write_set_intset(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    uint64_t count = store_set_count(store, key_ref);
    struct store_set_cursor cursor;
    struct slice member;
    uint32_t width = 2;
    store_set_cursor_start(store, key_ref, &cursor);
    /* Bounded by the set's count: the widest member sets the width. */
    while (store_set_cursor_next(store, &cursor, &member)) {
        int64_t value = 0;
        bool parsed = intset_member_parse(member.bytes, (uint32_t)member.length, &value);
        KV_ASSERT(parsed);
        uint32_t need = value >= INT16_MIN && value <= INT16_MAX   ? 2u
                        : value >= INT32_MIN && value <= INT32_MAX ? 4u
                                                                   : 8u;
        width = need > width ? need : width;
    }
    uint64_t bytes = 8u + count * width;
    uint8_t *scratch = heap_alloc(writer->heap, bytes);
    if (scratch == NULL) {
        return false;
    }
    uint32_t header[2] = {width, (uint32_t)count};
    memcpy(scratch, header, 8);
    uint64_t at = 8;
    store_set_cursor_start(store, key_ref, &cursor);
    while (store_set_cursor_next(store, &cursor, &member)) {
        int64_t value = 0;
        bool parsed = intset_member_parse(member.bytes, (uint32_t)member.length, &value);
        KV_ASSERT(parsed);
        uint64_t bits = (uint64_t)value;
        memcpy(scratch + at, &bits, width); /* little endian: the low bytes first */
        at += width;
    }
    KV_ASSERT(at == bytes);
    write_type(writer, RDB_TYPE_SET_INTSET);
    write_string(writer, (struct slice){.bytes = scratch, .length = bytes});
    heap_release(writer->heap, scratch);
    return true;
}

static void write_set(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    if (writer->heap != NULL && store_set_encoding(store, key_ref) == STORE_ENCODING_RAW &&
        write_set_intset(writer, store, key_ref)) {
        return;
    }
    write_type(writer, RDB_TYPE_SET);
    write_length(writer, store_set_count(store, key_ref));
    struct store_set_cursor cursor;
    struct slice member;
    store_set_cursor_start(store, key_ref, &cursor);
    /* Bounded by the set's count. */
    while (store_set_cursor_next(store, &cursor, &member)) {
        write_string(writer, member);
    }
}

/* Whether kv keeps the value as Redis keeps a listpack (its OBJECT ENCODING), which is
 * what redis-server's DUMP writes for the same commands. */
static bool key_is_listpack(const struct store *store, uint32_t key_ref)
{
    const char *name = store_encoding_name(store, store_key(store, key_ref));
    return name != NULL && strcmp(name, "listpack") == 0;
}

/* What a walk over a hash's fields does at each. */
struct hash_walk {
    struct rdb_writer *writer;
    struct lp_build *build;    /* building a listpack; NULL: writing plain pairs */
    uint64_t pack_bytes;       /* sizing: the listpack's bytes */
};

static void hash_measure(void *context, struct slice field, struct slice value)
{
    struct hash_walk *walk = context;
    walk->pack_bytes += lp_entry_put(field, NULL) + lp_entry_put(value, NULL);
}

static void hash_emit(void *context, struct slice field, struct slice value)
{
    struct hash_walk *walk = context;
    if (walk->build != NULL) {
        lp_build_add(walk->build, field);
        lp_build_add(walk->build, value);
        return;
    }
    write_string(walk->writer, field);
    write_string(walk->writer, value);
}

static void write_hash(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    uint64_t count = store_hash_length(store, key_ref);
    struct hash_walk walk = {.writer = writer, .pack_bytes = LP_HEADER_BYTES + 1u};
    /* A listpack where kv keeps one as Redis would (OBJECT ENCODING "listpack"). */
    if (writer->heap != NULL && key_is_listpack(store, key_ref)) {
        store_hash_each(store, key_ref, hash_measure, &walk);
        uint8_t *scratch = heap_alloc(writer->heap, walk.pack_bytes);
        if (scratch != NULL) {
            struct lp_build build = {.bytes = scratch, .capacity = walk.pack_bytes,
                                     .used = LP_HEADER_BYTES};
            walk.build = &build;
            store_hash_each(store, key_ref, hash_emit, &walk);
            KV_ASSERT(build.count == 2u * count);
            write_type(writer, RDB_TYPE_HASH_LISTPACK);
            write_string(writer, lp_build_end(&build));
            heap_release(writer->heap, scratch);
            return;
        }
    }
    walk.build = NULL;
    write_type(writer, RDB_TYPE_HASH);
    write_length(writer, count);
    store_hash_each(store, key_ref, hash_emit, &walk);
}

/* A small sorted set as a listpack of member, score pairs by rank; false (nothing written)
 * when it is past Redis's listpack limits or the heap has no room. */
static bool write_zset_listpack(struct rdb_writer *writer, struct store *store,
                                uint32_t key_ref)
{
    uint32_t count = store_zset_count(store, key_ref);
    if (!key_is_listpack(store, key_ref)) {
        return false;
    }
    char text[64];
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    uint64_t bytes = LP_HEADER_BYTES + 1u;
    store_zset_walk_start(store, key_ref, 0, false, &walk);
    /* Bounded by the set's count (at most RDB_PACK_ENTRIES_MAX). */
    while (store_zset_walk_next(&walk, &member, &score)) {
        bytes += lp_entry_put(member, NULL) +
                 lp_entry_put(score_text(score, text, sizeof(text)), NULL);
    }
    uint8_t *scratch = heap_alloc(writer->heap, bytes);
    if (scratch == NULL) {
        return false;
    }
    struct lp_build build = {.bytes = scratch, .capacity = bytes, .used = LP_HEADER_BYTES};
    store_zset_walk_start(store, key_ref, 0, false, &walk);
    while (store_zset_walk_next(&walk, &member, &score)) {
        lp_build_add(&build, member);
        lp_build_add(&build, score_text(score, text, sizeof(text)));
    }
    KV_ASSERT(build.count == 2u * count);
    write_type(writer, RDB_TYPE_ZSET_LISTPACK);
    write_string(writer, lp_build_end(&build));
    heap_release(writer->heap, scratch);
    return true;
}

static void write_zset(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    if (writer->heap != NULL && write_zset_listpack(writer, store, key_ref)) {
        return;
    }
    /* ZSET_2 as rdbSaveObject writes a skiplist: from the highest score down. */
    uint32_t count = store_zset_count(store, key_ref);
    write_type(writer, RDB_TYPE_ZSET_2);
    write_length(writer, count);
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    uint32_t written = 0;
    store_zset_walk_start(store, key_ref, count - 1u, true, &walk);
    /* Bounded by the set's count. */
    while (store_zset_walk_next(&walk, &member, &score)) {
        write_string(writer, member);
        write_bytes(writer, &score, sizeof(score));
        written++;
    }
    KV_ASSERT(written == count);
}

/* ---- Streams (RDB_TYPE_STREAM_LISTPACKS_2, as Redis 7.0's rdbSaveObject) ---- */

/* Entries per listpack node: Redis's stream-node-max-entries default. */
#define RDB_STREAM_NODE_ENTRIES 100u
/* Stream entry flags (t_stream.c). */
#define RDB_STREAM_FLAG_SAMEFIELDS 2u

/* The integer's text as a listpack entry (lpAppendInteger stores it as an integer). */
static struct slice int_text(int64_t value, char *digits)
{
    return (struct slice){.bytes = (const uint8_t *)digits,
                          .length = number_format_int64(value, digits)};
}

/* Whether the entry's fields are the master's (the node's first entry's), in order. */
static bool stream_same_fields(const struct store_stream_entry *master,
                               const struct store_stream_entry *entry)
{
    if (master->pair_count != entry->pair_count) {
        return false;
    }
    uint32_t at_master = 0;
    uint32_t at_entry = 0;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < entry->pair_count; index++) {
        struct slice field_master;
        struct slice field_entry;
        struct slice value;
        store_stream_pair(master, &at_master, &field_master, &value);
        store_stream_pair(entry, &at_entry, &field_entry, &value);
        if (!slice_equal(field_master, field_entry)) {
            return false;
        }
    }
    return true;
}

/* One entry after the master (streamAppendItem's layout): flags, ms-diff, seq-diff, [fields
 * count,] fields and values (values only with SAMEFIELDS), lp-count. Sizes it (build NULL)
 * or adds it; returns its bytes. */
static uint64_t stream_entry_put(struct lp_build *build, const struct store_stream_entry *master,
                                 const struct store_stream_entry *entry)
{
    char digits[NUMBER_INT64_BYTES];
    bool same = stream_same_fields(master, entry);
    uint64_t bytes = 0;
    int64_t numbers[4] = {same ? RDB_STREAM_FLAG_SAMEFIELDS : 0,
                          (int64_t)(entry->id.ms - master->id.ms),
                          (int64_t)(entry->id.seq - master->id.seq), entry->pair_count};
    uint32_t number_count = same ? 3u : 4u;
    /* Bounded by the four numbers. */
    for (uint32_t index = 0; index < number_count; index++) {
        struct slice text = int_text(numbers[index], digits);
        bytes += lp_entry_put(text, NULL);
        if (build != NULL) {
            lp_build_add(build, text);
        }
    }
    uint32_t at = 0;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < entry->pair_count; index++) {
        struct slice field;
        struct slice value;
        store_stream_pair(entry, &at, &field, &value);
        if (!same) {
            bytes += lp_entry_put(field, NULL);
            if (build != NULL) {
                lp_build_add(build, field);
            }
        }
        bytes += lp_entry_put(value, NULL);
        if (build != NULL) {
            lp_build_add(build, value);
        }
    }
    int64_t lp_count = 3 + (int64_t)entry->pair_count + (same ? 0 : entry->pair_count + 1);
    struct slice text = int_text(lp_count, digits);
    bytes += lp_entry_put(text, NULL);
    if (build != NULL) {
        lp_build_add(build, text);
    }
    return bytes;
}

/* The master entry: count, deleted (0), the master fields' count and the fields, then the
 * master terminator 0. Sizes it (build NULL) or adds it. */
static uint64_t stream_master_put(struct lp_build *build, const struct store_stream_entry *master,
                                  uint32_t count)
{
    char digits[NUMBER_INT64_BYTES];
    int64_t numbers[3] = {count, 0, master->pair_count};
    uint64_t bytes = 0;
    /* Bounded by the three numbers. */
    for (uint32_t index = 0; index < 3; index++) {
        struct slice text = int_text(numbers[index], digits);
        bytes += lp_entry_put(text, NULL);
        if (build != NULL) {
            lp_build_add(build, text);
        }
    }
    uint32_t at = 0;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < master->pair_count; index++) {
        struct slice field;
        struct slice value;
        store_stream_pair(master, &at, &field, &value);
        bytes += lp_entry_put(field, NULL);
        if (build != NULL) {
            lp_build_add(build, field);
        }
    }
    struct slice zero = int_text(0, digits);
    bytes += lp_entry_put(zero, NULL);
    if (build != NULL) {
        lp_build_add(build, zero);
    }
    return bytes;
}

/* A node's key: the master ID, 16 bytes big endian (streamEncodeID). */
static void stream_id_encode(struct stream_id id, uint8_t out[16])
{
    for (uint32_t index = 0; index < 8; index++) {
        out[index] = (uint8_t)(id.ms >> (8u * (7u - index)));
        out[8 + index] = (uint8_t)(id.seq >> (8u * (7u - index)));
    }
}

/* One node from `start` (up to RDB_STREAM_NODE_ENTRIES entries): its key and listpack.
 * Sets *next past its last entry; false when the heap has no room for the listpack. */
static bool stream_node_write(struct rdb_writer *writer, struct store *store, uint32_t key_ref,
                              struct stream_id start, struct stream_id *next, bool *more)
{
    struct store_stream_walk walk;
    struct store_stream_entry master;
    struct store_stream_entry entry = {0};
    struct stream_id end = {UINT64_MAX, UINT64_MAX};
    store_stream_walk_start(&walk, store, key_ref, start, end, false);
    bool found = store_stream_walk_next(&walk, &master);
    KV_ASSERT(found);
    uint32_t count = 1;
    uint64_t bytes = LP_HEADER_BYTES + 1u + stream_entry_put(NULL, &master, &master);
    struct stream_id last = master.id;
    /* Bounded by RDB_STREAM_NODE_ENTRIES. */
    while (count < RDB_STREAM_NODE_ENTRIES && store_stream_walk_next(&walk, &entry)) {
        bytes += stream_entry_put(NULL, &master, &entry);
        last = entry.id;
        count++;
    }
    *more = count == RDB_STREAM_NODE_ENTRIES && store_stream_walk_next(&walk, &entry);
    *next = entry.id;
    bytes += stream_master_put(NULL, &master, count);
    uint8_t *scratch = heap_alloc(writer->heap, bytes);
    if (scratch == NULL) {
        return false;
    }
    struct lp_build build = {.bytes = scratch, .capacity = bytes, .used = LP_HEADER_BYTES};
    (void)stream_master_put(&build, &master, count);
    store_stream_walk_start(&walk, store, key_ref, master.id, last, false);
    /* Bounded by count. */
    while (store_stream_walk_next(&walk, &entry)) {
        (void)stream_entry_put(&build, &master, &entry);
    }
    uint8_t node_key[16];
    stream_id_encode(master.id, node_key);
    write_string(writer, (struct slice){.bytes = node_key, .length = sizeof(node_key)});
    write_string(writer, lp_build_end(&build));
    heap_release(writer->heap, scratch);
    return true;
}

static void stream_id_write(struct rdb_writer *writer, struct stream_id id)
{
    write_length(writer, id.ms);
    write_length(writer, id.seq);
}

/* An ID as a PEL or a consumer's list holds it: 16 raw bytes, big endian. */
static void stream_id_write_raw(struct rdb_writer *writer, struct stream_id id)
{
    uint8_t raw[16];
    stream_id_encode(id, raw);
    write_bytes(writer, raw, sizeof(raw));
}

/* What follows the nodes, through the group count (rdbSaveObject's order). */
static void stream_meta_write(struct rdb_writer *writer, const struct store_stream *stream)
{
    write_length(writer, stream->length);
    stream_id_write(writer, stream->last_id);
    stream_id_write(writer, stream->first_id);
    stream_id_write(writer, stream->max_deleted_id);
    write_length(writer, stream->entries_added);
    write_length(writer, stream->group_count);
}

/* A group's head: its name, last ID, entries read and the PEL's count. */
static void stream_group_head_write(struct rdb_writer *writer,
                                    const struct store_stream_group *group)
{
    write_string(writer, store_stream_group_name(group));
    stream_id_write(writer, group->last_id);
    write_length(writer, (uint64_t)group->entries_read);
    write_length(writer, group->pel_count);
}

/* One PEL entry (rdbSaveStreamPEL with nacks): its ID, delivery time and count. */
static void stream_nack_write(struct rdb_writer *writer, const struct store_stream_nack *nack)
{
    stream_id_write_raw(writer, nack->id);
    write_bytes(writer, &nack->delivery_ms, 8);
    write_length(writer, nack->delivery_count);
}

/* A consumer's head (rdbSaveStreamConsumers): its name, seen time and pending count. */
static void stream_consumer_head_write(struct rdb_writer *writer,
                                       const struct store_stream_consumer *consumer)
{
    write_string(writer, store_stream_consumer_name(consumer));
    write_bytes(writer, &consumer->seen_ms, 8);
    write_length(writer, consumer->pending_count);
}

/* rdbSaveStreamPEL and rdbSaveStreamConsumers for one group. */
static void stream_group_write(struct rdb_writer *writer, const struct store *store,
                               const struct store_stream_group *group)
{
    stream_group_head_write(writer, group);
    const struct store_stream_nack *pel = store_stream_pel(store, group);
    /* Bounded by the PEL. */
    for (uint32_t index = 0; index < group->pel_count; index++) {
        stream_nack_write(writer, &pel[index]);
    }
    write_length(writer, group->consumer_count);
    const struct store_stream_consumer *consumer = store_stream_consumer_first(store, group);
    /* Bounded by the consumers. */
    for (uint32_t index = 0; index < group->consumer_count; index++) {
        KV_ASSERT(consumer != NULL);
        stream_consumer_head_write(writer, consumer);
        const struct stream_id *ids = store_stream_consumer_ids(store, consumer);
        /* Bounded by its pending IDs. */
        for (uint32_t at = 0; at < consumer->pending_count; at++) {
            stream_id_write_raw(writer, ids[at]);
        }
        consumer = store_stream_consumer_next(store, consumer);
    }
}

/* A stream; false (nothing written) when the heap has no room for a node's listpack. The
 * type byte goes out before the first node is built, so a node refused after it leaves the
 * writer failed (the save fails, as a full disk would). */
static bool write_stream(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    const struct store_stream *stream = store_stream_of(store, key_ref);
    uint64_t nodes = 0;
    struct store_stream_walk walk;
    struct store_stream_entry entry;
    struct stream_id end = {UINT64_MAX, UINT64_MAX};
    store_stream_walk_start(&walk, store, key_ref, (struct stream_id){0, 0}, end, false);
    uint64_t live = 0;
    /* Bounded by the entries: the nodes are counted first (the format leads with it). */
    while (store_stream_walk_next(&walk, &entry)) {
        nodes += live % RDB_STREAM_NODE_ENTRIES == 0 ? 1u : 0u;
        live++;
    }
    KV_ASSERT(live == stream->length);
    if (writer->heap == NULL) {
        return false;
    }
    write_type(writer, RDB_TYPE_STREAM_LISTPACKS_2);
    write_length(writer, nodes);
    struct stream_id start = {0, 0};
    bool more = nodes > 0;
    /* Bounded by the nodes. */
    for (uint64_t index = 0; index < nodes; index++) {
        KV_ASSERT(more);
        if (!stream_node_write(writer, store, key_ref, start, &start, &more)) {
            writer->failed = true;
            return true;
        }
    }
    stream_meta_write(writer, stream);
    const struct store_stream_group *group = store_stream_group_first(store, key_ref);
    /* Bounded by the groups. */
    for (uint32_t index = 0; index < stream->group_count; index++) {
        KV_ASSERT(group != NULL);
        stream_group_write(writer, store, group);
        group = store_stream_group_next(store, group);
    }
    return true;
}

bool rdb_type_supported(uint8_t store_type)
{
    return store_type >= STORE_TYPE_STRING && store_type <= STORE_TYPE_STREAM;
}

/* The type byte and the value. */
static void write_object(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    uint8_t type = store_key_type(store_key(store, key_ref));
    KV_ASSERT(rdb_type_supported(type));
    switch (type) {
    case STORE_TYPE_STRING:
        write_type(writer, RDB_TYPE_STRING);
        write_string(writer, store_string_value(store, key_ref));
        break;
    case STORE_TYPE_LIST:
        write_list(writer, store, key_ref);
        break;
    case STORE_TYPE_SET:
        write_set(writer, store, key_ref);
        break;
    case STORE_TYPE_HASH:
        write_hash(writer, store, key_ref);
        break;
    case STORE_TYPE_STREAM:
        if (!write_stream(writer, store, key_ref)) {
            writer->failed = true; /* no scratch for a node: the save fails whole */
        }
        break;
    default:
        KV_ASSERT(type == STORE_TYPE_ZSET);
        write_zset(writer, store, key_ref);
        break;
    }
}

void rdb_write_header(struct rdb_writer *writer, int64_t now_ms, uint64_t used_memory_bytes)
{
    KV_ASSERT(writer->total_bytes == 0);
    char digits[NUMBER_INT64_BYTES];
    write_bytes(writer, "REDIS0010", 9);
    static const char *const fixed[][2] = {{"redis-ver", "7.0.15"}, {"redis-bits", "64"}};
    for (uint32_t index = 0; index < 2; index++) {
        write_u8(writer, RDB_OPCODE_AUX);
        write_cstring(writer, fixed[index][0]);
        write_cstring(writer, fixed[index][1]);
    }
    write_u8(writer, RDB_OPCODE_AUX);
    write_cstring(writer, "ctime");
    digits[number_format_int64(now_ms / 1000, digits)] = '\0';
    write_cstring(writer, digits);
    write_u8(writer, RDB_OPCODE_AUX);
    write_cstring(writer, "used-mem");
    digits[number_format_uint64(used_memory_bytes, digits)] = '\0';
    write_cstring(writer, digits);
    write_u8(writer, RDB_OPCODE_AUX);
    write_cstring(writer, "aof-base");
    write_cstring(writer, "0");
    KV_ASSERT(writer->total_bytes > 9);
}

void rdb_write_function(struct rdb_writer *writer, struct slice code)
{
    write_u8(writer, RDB_OPCODE_FUNCTION2);
    write_string(writer, code);
}

void rdb_write_db_start(struct rdb_writer *writer, uint32_t db_index, uint64_t key_count,
                        uint64_t expires_count)
{
    KV_ASSERT(expires_count <= key_count);
    write_u8(writer, RDB_OPCODE_SELECTDB);
    write_length(writer, db_index);
    write_u8(writer, RDB_OPCODE_RESIZEDB);
    write_length(writer, key_count);
    write_length(writer, expires_count);
}

/* What goes before a key's type byte (its expiry time, its clock), and its name, left
 * waiting for the type byte (write_type). */
static void write_key_head(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(!writer->pending);
    int64_t expire_ms = store_key_expire(key);
    if (expire_ms != 0) {
        write_u8(writer, RDB_OPCODE_EXPIRETIME_MS);
        write_bytes(writer, &expire_ms, sizeof(expire_ms));
    }
    /* rdbSaveKeyValuePair: the access clock the policy uses, IDLE seconds or FREQ. */
    uint8_t saved = store_clock_saved(store);
    if (saved == STORE_CLOCK_SAVED_IDLE) {
        write_u8(writer, RDB_OPCODE_IDLE);
        write_length(writer, store_key_idle_ms(store, key) / 1000u);
    } else if (saved == STORE_CLOCK_SAVED_FREQ) {
        write_u8(writer, RDB_OPCODE_FREQ);
        write_u8(writer, (uint8_t)store_key_lfu(store, key));
    }
    /* rdbSaveKeyValuePair writes the type byte, the name, then the value; the type byte
     * depends on the encoding write_object picks, so the name waits for it (write_type). */
    struct slice name = store_key_name(key);
    writer->pending_name = name;
    writer->pending = true;
}

bool rdb_write_key(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    if (!rdb_type_supported(store_key_type(store_key(store, key_ref)))) {
        return false;
    }
    write_key_head(writer, store, key_ref);
    write_object(writer, store, key_ref);
    KV_ASSERT(!writer->pending);
    return true;
}

/* ---- A key in parts ---- */

void rdb_write_raw(struct rdb_writer *writer, const uint8_t *bytes, uint64_t length)
{
    KV_ASSERT(!writer->pending);
    write_bytes(writer, bytes, length);
}

/* RDB_PART_STREAM_*_MIN's rule. Bounded: the groups are summed only when there are at most
 * RDB_PART_STREAM_GROUPS_MIN of them. */
static bool stream_parted(const struct store *store, uint32_t key_ref)
{
    const struct store_stream *stream = store_stream_of(store, key_ref);
    if (stream->node_count > RDB_PART_STREAM_NODES_MIN ||
        stream->node_bytes > RDB_PART_STREAM_BYTES_MIN ||
        stream->group_count > RDB_PART_STREAM_GROUPS_MIN) {
        return true;
    }
    uint64_t items = 0;
    const struct store_stream_group *group = store_stream_group_first(store, key_ref);
    /* Bounded by RDB_PART_STREAM_GROUPS_MIN groups (more returned above). */
    for (uint32_t index = 0; index < stream->group_count; index++) {
        KV_ASSERT(group != NULL);
        items += (uint64_t)group->pel_count + group->consumer_count;
        group = store_stream_group_next(store, group);
    }
    return items > RDB_PART_STREAM_GROUP_ITEMS_MIN;
}

bool rdb_key_parted(const struct store *store, uint32_t key_ref)
{
    switch (store_key_type(store_key(store, key_ref))) {
    case STORE_TYPE_STRING:
        return store_string_value(store, key_ref).length > RDB_PART_STRING_BYTES_MIN;
    case STORE_TYPE_LIST:
        return store_list_node_count(store, key_ref) > 0;
    case STORE_TYPE_HASH:
        return !store_hash_packed(store, key_ref);
    case STORE_TYPE_SET:
        return store_set_tabled(store, key_ref);
    case STORE_TYPE_ZSET:
        return store_zset_tree(store, key_ref);
    case STORE_TYPE_STREAM:
        return stream_parted(store, key_ref);
    default:
        return false;
    }
}

/* A stream's head after its name: the type and the node count (write_stream's: a node per
 * RDB_STREAM_NODE_ENTRIES live entries); the nodes come next. */
static void part_stream_open(struct rdb_writer *writer, struct store *store,
                             struct rdb_part *part)
{
    KV_ASSERT(writer->heap != NULL); /* the snapshot's writers build nodes in the heap */
    const struct store_stream *stream = store_stream_of(store, part->key_ref);
    part->kind = RDB_PART_STREAM_NODES;
    part->total = (stream->length + RDB_STREAM_NODE_ENTRIES - 1u) / RDB_STREAM_NODE_ENTRIES;
    part->at.stream = (struct rdb_part_stream){.groups_left = stream->group_count};
    write_type(writer, RDB_TYPE_STREAM_LISTPACKS_2);
    write_length(writer, part->total);
    KV_ASSERT(!writer->pending && part->done == 0);
}

void rdb_write_key_open(struct rdb_writer *writer, struct store *store, uint32_t key_ref,
                        struct rdb_part *part)
{
    KV_ASSERT(rdb_key_parted(store, key_ref));
    uint8_t type = store_key_type(store_key(store, key_ref));
    *part = (struct rdb_part){.key_ref = key_ref};
    if (type == STORE_TYPE_LIST) {
        /* QUICKLIST_2 leads with the node count: the nodes are sized first. */
        part->kind = RDB_PART_LIST_MEASURE;
        part->total = store_list_length(store, key_ref);
        part->node_count = 1;
        part->node_bytes = LP_HEADER_BYTES + 1u;
        store_list_seek(store, key_ref, 0, &part->at.list);
        return;
    }
    write_key_head(writer, store, key_ref);
    if (type == STORE_TYPE_STREAM) {
        part_stream_open(writer, store, part); /* an empty stream's count is 0 */
        return;
    }
    switch (type) {
    case STORE_TYPE_STRING:
        part->kind = RDB_PART_STRING;
        part->total = store_string_value(store, key_ref).length;
        write_type(writer, RDB_TYPE_STRING);
        break;
    case STORE_TYPE_HASH:
        part->kind = RDB_PART_HASH;
        part->total = store_hash_length(store, key_ref);
        store_hash_cursor_start(store, key_ref, &part->at.hash);
        write_type(writer, RDB_TYPE_HASH);
        break;
    case STORE_TYPE_SET:
        part->kind = RDB_PART_SET;
        part->total = store_set_count(store, key_ref);
        store_set_cursor_start(store, key_ref, &part->at.set);
        write_type(writer, RDB_TYPE_SET);
        break;
    default:
        KV_ASSERT(type == STORE_TYPE_ZSET);
        part->kind = RDB_PART_ZSET;
        part->total = store_zset_count(store, key_ref);
        store_zset_walk_start(store, key_ref, (uint32_t)part->total - 1u, true,
                              &part->at.zset);
        write_type(writer, RDB_TYPE_ZSET_2);
        break;
    }
    write_length(writer, part->total); /* a string's length, a collection's count */
    KV_ASSERT(!writer->pending && part->total > 0);
}

/* The measure's end: the key's opcodes, type and node count go out, and the nodes' scratch
 * comes from the heap (none: LIST, element by element, as write_list falls back). */
static void part_list_begin(struct rdb_writer *writer, struct store *store,
                            struct rdb_part *part)
{
    KV_ASSERT(part->kind == RDB_PART_LIST_MEASURE && part->done == part->total);
    part->node_bytes_max = part->node_bytes > part->node_bytes_max ? part->node_bytes
                                                                   : part->node_bytes_max;
    part->scratch = writer->heap != NULL ? heap_alloc(writer->heap, part->node_bytes_max)
                                         : NULL;
    part->done = 0;
    store_list_seek(store, part->key_ref, 0, &part->at.list);
    write_key_head(writer, store, part->key_ref);
    if (part->scratch == NULL) {
        part->kind = RDB_PART_LIST_PLAIN;
        write_type(writer, RDB_TYPE_LIST);
        write_length(writer, part->total);
        return;
    }
    part->kind = RDB_PART_LIST_NODES;
    write_type(writer, RDB_TYPE_LIST_QUICKLIST_2);
    write_length(writer, part->node_count);
}

/* Sizes the nodes as write_list_quicklist does, while fewer than `bytes` were sized. */
static void part_list_measure(struct store *store, struct rdb_part *part, uint64_t bytes)
{
    uint64_t spent = 0;
    /* Bounded by the elements left. */
    while (part->done < part->total && spent < bytes) {
        struct slice value = store_list_value(store, &part->at.list);
        uint64_t entry_bytes = lp_entry_put(value, NULL);
        if (part->done > 0 && part->node_bytes + value.length + RDB_LIST_NODE_OVERHEAD >
                                  RDB_LIST_NODE_BYTES_MAX) {
            part->node_bytes_max = part->node_bytes > part->node_bytes_max
                                       ? part->node_bytes
                                       : part->node_bytes_max;
            part->node_count++;
            part->node_bytes = LP_HEADER_BYTES + 1u;
        }
        part->node_bytes += entry_bytes;
        spent += entry_bytes;
        part->done++;
        (void)store_list_next(store, &part->at.list);
    }
}

/* Writes whole nodes (the split of the measure) until `bytes` went out or the list ends. */
static void part_list_nodes(struct rdb_writer *writer, struct store *store,
                            struct rdb_part *part, uint64_t bytes)
{
    uint64_t start = writer->total_bytes;
    struct lp_build build = {.bytes = part->scratch, .capacity = part->node_bytes_max,
                             .used = LP_HEADER_BYTES};
    /* Bounded by the elements left; a node starts only while bytes are left. */
    while (part->done < part->total) {
        struct slice value = store_list_value(store, &part->at.list);
        if (build.count > 0 && build.used + 1u + value.length + RDB_LIST_NODE_OVERHEAD >
                                   RDB_LIST_NODE_BYTES_MAX) {
            write_length(writer, RDB_QUICKLIST_PACKED);
            write_string(writer, lp_build_end(&build));
            part->nodes_written++;
            build.used = LP_HEADER_BYTES;
            build.count = 0;
            if (writer->total_bytes - start >= bytes) {
                return; /* the cursor stays on this element, the next node's first */
            }
        }
        lp_build_add(&build, value);
        part->done++;
        (void)store_list_next(store, &part->at.list);
    }
    write_length(writer, RDB_QUICKLIST_PACKED);
    write_string(writer, lp_build_end(&build));
    part->nodes_written++;
    KV_ASSERT(part->nodes_written == part->node_count);
}

/* One element of a plain collection (LIST, HASH, SET, ZSET_2). */
static void part_element(struct rdb_writer *writer, struct store *store, struct rdb_part *part)
{
    struct slice member;
    struct slice value;
    double score = 0;
    bool found = true;
    switch (part->kind) {
    case RDB_PART_LIST_PLAIN:
        write_string(writer, store_list_value(store, &part->at.list));
        (void)store_list_next(store, &part->at.list);
        break;
    case RDB_PART_HASH:
        found = store_hash_cursor_next(store, &part->at.hash, &member, &value);
        write_string(writer, member);
        write_string(writer, value);
        break;
    case RDB_PART_SET:
        found = store_set_cursor_next(store, &part->at.set, &member);
        write_string(writer, member);
        break;
    default:
        KV_ASSERT(part->kind == RDB_PART_ZSET);
        found = store_zset_walk_next(&part->at.zset, &member, &score);
        write_string(writer, member);
        write_bytes(writer, &score, sizeof(score));
        break;
    }
    KV_ASSERT(found); /* the key has not changed: `total` elements are there */
    part->done++;
}

/* The stream's next group's head, its PEL next; the part is done after the last group. */
static void part_stream_group_next(struct rdb_writer *writer, struct store *store,
                                   struct rdb_part *part)
{
    struct rdb_part_stream *at = &part->at.stream;
    if (at->groups_left == 0) {
        part->kind = RDB_PART_DONE;
        return;
    }
    at->group = at->group == NULL ? store_stream_group_first(store, part->key_ref)
                                  : store_stream_group_next(store, at->group);
    KV_ASSERT(at->group != NULL);
    at->groups_left--;
    stream_group_head_write(writer, at->group);
    part->kind = RDB_PART_STREAM_PEL;
    part->done = 0;
    part->total = at->group->pel_count;
}

/* The group's next consumer's head, its pending IDs next; after the last, the next group. */
static void part_stream_consumer_next(struct rdb_writer *writer, struct store *store,
                                      struct rdb_part *part)
{
    struct rdb_part_stream *at = &part->at.stream;
    if (at->consumers_left == 0) {
        part_stream_group_next(writer, store, part);
        return;
    }
    at->consumer = at->consumer == NULL ? store_stream_consumer_first(store, at->group)
                                        : store_stream_consumer_next(store, at->consumer);
    KV_ASSERT(at->consumer != NULL);
    at->consumers_left--;
    stream_consumer_head_write(writer, at->consumer);
    part->kind = RDB_PART_STREAM_IDS;
    part->done = 0;
    part->total = at->consumer->pending_count;
}

/* One element of a stream: a node, a nack or a pending ID, or at the end of a run the step
 * after it (the metadata, the consumer count, a head). */
static void part_stream_step(struct rdb_writer *writer, struct store *store,
                             struct rdb_part *part)
{
    struct rdb_part_stream *at = &part->at.stream;
    KV_ASSERT(part->done <= part->total);
    if (part->kind == RDB_PART_STREAM_NODES) {
        if (part->done == part->total) {
            stream_meta_write(writer, store_stream_of(store, part->key_ref));
            part_stream_group_next(writer, store, part);
            return;
        }
        bool more = false;
        if (!stream_node_write(writer, store, part->key_ref, at->next, &at->next, &more)) {
            writer->failed = true; /* no scratch for a node: the save fails, as a whole one */
            part->kind = RDB_PART_DONE;
            return;
        }
        part->done++;
        KV_ASSERT(more == (part->done < part->total)); /* the key has not changed */
    } else if (part->kind == RDB_PART_STREAM_PEL) {
        if (part->done == part->total) {
            write_length(writer, at->group->consumer_count);
            at->consumer = NULL;
            at->consumers_left = at->group->consumer_count;
            part_stream_consumer_next(writer, store, part);
            return;
        }
        stream_nack_write(writer, &store_stream_pel(store, at->group)[part->done]);
        part->done++;
    } else {
        KV_ASSERT(part->kind == RDB_PART_STREAM_IDS);
        if (part->done == part->total) {
            part_stream_consumer_next(writer, store, part);
            return;
        }
        stream_id_write_raw(writer, store_stream_consumer_ids(store, at->consumer)[part->done]);
        part->done++;
    }
}

/* Stream steps until `bytes` went out or the key ends; true at its end. The last pending ID
 * of the last consumer of the last group ends it at once (no call is left that writes
 * nothing). */
static bool part_stream(struct rdb_writer *writer, struct store *store, struct rdb_part *part,
                        uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    uint64_t start = writer->total_bytes;
    const struct rdb_part_stream *at = &part->at.stream;
    /* Bounded by the stream's nodes, groups, nacks, consumers and IDs: a step writes one. */
    while (part->kind != RDB_PART_DONE && writer->total_bytes - start < bytes) {
        part_stream_step(writer, store, part);
        if (part->kind == RDB_PART_STREAM_IDS && part->done == part->total &&
            at->consumers_left == 0 && at->groups_left == 0) {
            part->kind = RDB_PART_DONE;
        }
    }
    return part->kind == RDB_PART_DONE;
}

bool rdb_write_key_part(struct rdb_writer *writer, struct store *store, struct rdb_part *part,
                        uint64_t bytes)
{
    KV_ASSERT(part->kind != RDB_PART_DONE && part->done <= part->total);
    uint64_t start = writer->total_bytes;
    if (part->kind == RDB_PART_STREAM_NODES || part->kind == RDB_PART_STREAM_PEL ||
        part->kind == RDB_PART_STREAM_IDS) {
        if (!part_stream(writer, store, part, bytes)) {
            return false;
        }
        rdb_part_abandon(writer, part);
        return true;
    }
    if (part->kind == RDB_PART_STRING) {
        struct slice value = store_string_value(store, part->key_ref);
        KV_ASSERT(value.length == part->total);
        uint64_t left = part->total - part->done;
        uint64_t step = left < bytes ? left : bytes;
        write_bytes(writer, value.bytes + part->done, step);
        part->done += step;
    } else if (part->kind == RDB_PART_LIST_MEASURE) {
        part_list_measure(store, part, bytes);
        if (part->done == part->total) {
            part_list_begin(writer, store, part);
        }
        return false; /* the nodes, next call */
    } else if (part->kind == RDB_PART_LIST_NODES) {
        part_list_nodes(writer, store, part, bytes);
    } else {
        /* Bounded by the elements left. */
        while (part->done < part->total && writer->total_bytes - start < bytes) {
            part_element(writer, store, part);
        }
    }
    if (part->done < part->total) {
        return false;
    }
    rdb_part_abandon(writer, part);
    return true;
}

void rdb_part_abandon(struct rdb_writer *writer, struct rdb_part *part)
{
    if (part->scratch != NULL) {
        heap_release(writer->heap, part->scratch);
        part->scratch = NULL;
    }
    part->kind = RDB_PART_DONE;
}

void rdb_write_end(struct rdb_writer *writer)
{
    write_u8(writer, RDB_OPCODE_EOF);
    uint64_t crc = writer->crc;
    write_bytes(writer, &crc, sizeof(crc));
}

bool rdb_write_dump(struct rdb_writer *writer, struct store *store, uint32_t key_ref)
{
    KV_ASSERT(writer->total_bytes == 0);
    if (!rdb_type_supported(store_key_type(store_key(store, key_ref)))) {
        return false;
    }
    write_object(writer, store, key_ref);
    uint8_t version[2] = {(uint8_t)(RDB_VERSION & 0xffu), (uint8_t)(RDB_VERSION >> 8)};
    write_bytes(writer, version, 2);
    uint64_t crc = writer->crc;
    write_bytes(writer, &crc, sizeof(crc));
    return true;
}

/* ==== Reader ==== */

void rdb_reader_init_memory(struct rdb_reader *reader, const uint8_t *bytes, uint64_t length,
                            struct heap *heap)
{
    KV_ASSERT(bytes != NULL || length == 0);
    KV_ASSERT(heap != NULL);
    /* The reader never writes into a memory buffer (no fill, no compaction). */
    *reader = (struct rdb_reader){.buffer = (uint8_t *)(uintptr_t)bytes,
                                  .capacity_bytes = length, .end_bytes = length, .heap = heap};
}

void rdb_reader_init_stream(struct rdb_reader *reader, uint8_t *buffer, uint64_t capacity_bytes,
                            rdb_fill_fn *fill, void *fill_context, struct heap *heap)
{
    KV_ASSERT(buffer != NULL && fill != NULL && heap != NULL);
    KV_ASSERT(capacity_bytes >= 4096u);
    *reader = (struct rdb_reader){.buffer = buffer, .capacity_bytes = capacity_bytes,
                                  .fill = fill, .fill_context = fill_context, .heap = heap};
}

static uint64_t reader_position(const struct rdb_reader *reader)
{
    return reader->buffer_position + reader->offset_bytes;
}

/* Makes `length` bytes available at the offset: compacts (dropping what is before
 * keep_position) and fills. RDB_CORRUPT when the input ends first. */
static enum rdb_status reader_need(struct rdb_reader *reader, uint64_t length)
{
    if (reader->end_bytes - reader->offset_bytes >= length) {
        return RDB_OK;
    }
    if (reader->fill == NULL) {
        return RDB_CORRUPT;
    }
    KV_ASSERT(reader->keep_position >= reader->buffer_position);
    KV_ASSERT(reader->keep_position <= reader_position(reader));
    uint64_t drop = reader->keep_position - reader->buffer_position;
    if (drop > 0) {
        memmove(reader->buffer, reader->buffer + drop, reader->end_bytes - drop);
        reader->end_bytes -= drop;
        reader->offset_bytes -= drop;
        reader->buffer_position += drop;
    }
    if (reader->offset_bytes + length > reader->capacity_bytes) {
        return RDB_TOO_BIG;
    }
    /* Bounded: each fill adds at least one byte toward `length`, or ends the loop. */
    while (reader->end_bytes - reader->offset_bytes < length) {
        int64_t got = reader->fill(reader->fill_context, reader->buffer + reader->end_bytes,
                                   reader->capacity_bytes - reader->end_bytes);
        if (got < 0) {
            reader->fill_failed = true;
            return RDB_IO;
        }
        if (got == 0) {
            return RDB_CORRUPT;
        }
        reader->end_bytes += (uint64_t)got;
    }
    KV_ASSERT(reader->end_bytes <= reader->capacity_bytes);
    return RDB_OK;
}

/* Takes `length` available bytes (reader_need first): their address, counted in the CRC. */
static const uint8_t *reader_take(struct rdb_reader *reader, uint64_t length)
{
    KV_ASSERT(reader->end_bytes - reader->offset_bytes >= length);
    const uint8_t *bytes = reader->buffer + reader->offset_bytes;
    reader->crc = crc64(reader->crc, bytes, length);
    reader->offset_bytes += length;
    return bytes;
}

static enum rdb_status read_raw(struct rdb_reader *reader, void *out, uint64_t length)
{
    enum rdb_status status = reader_need(reader, length);
    if (status == RDB_OK) {
        memcpy(out, reader_take(reader, length), length);
    }
    return status;
}

static enum rdb_status read_u8(struct rdb_reader *reader, uint8_t *value)
{
    return read_raw(reader, value, 1);
}

/* rdbLoadLenByRef: a length, or (encoded) an encoding number for a special string. */
static enum rdb_status read_length(struct rdb_reader *reader, uint64_t *length, bool *encoded)
{
    uint8_t first = 0;
    enum rdb_status status = read_u8(reader, &first);
    if (status != RDB_OK) {
        return status;
    }
    *encoded = false;
    uint32_t kind = first >> 6;
    if (kind == RDB_LEN_ENCODED) {
        *encoded = true;
        *length = first & 0x3fu;
        return RDB_OK;
    }
    if (kind == RDB_LEN_6BIT) {
        *length = first & 0x3fu;
        return RDB_OK;
    }
    if (kind == RDB_LEN_14BIT) {
        uint8_t second = 0;
        status = read_u8(reader, &second);
        *length = ((uint64_t)(first & 0x3fu) << 8) | second;
        return status;
    }
    if (first != RDB_LEN_32BIT && first != RDB_LEN_64BIT) {
        return RDB_CORRUPT;
    }
    uint32_t width = first == RDB_LEN_32BIT ? 4u : 8u;
    uint8_t bytes[8] = {0};
    status = read_raw(reader, bytes, width);
    uint64_t value = 0;
    /* Bounded by width (4 or 8). */
    for (uint32_t index = 0; index < width; index++) {
        value = (value << 8) | bytes[index];
    }
    *length = value;
    return status;
}

static enum rdb_status read_count(struct rdb_reader *reader, uint64_t *count)
{
    bool encoded = false;
    enum rdb_status status = read_length(reader, count, &encoded);
    return status == RDB_OK && encoded ? RDB_CORRUPT : status;
}

/* A string read for a store call: in the buffer (by stream position, so compaction cannot
 * strand it), in a heap allocation of its own, or as digits in the item. */
enum item_place {
    ITEM_BUFFER = 0,
    ITEM_HEAP = 1,
    ITEM_DIGITS = 2,
    ITEM_FIXED = 3, /* bytes that outlive the batch (a listpack's entry in a kept blob) */
};

struct rdb_item {
    uint64_t position;        /* ITEM_BUFFER: stream position of the first byte */
    uint64_t length;          /* bytes */
    const uint8_t *bytes;     /* ITEM_HEAP, ITEM_FIXED: the bytes */
    uint8_t place;            /* enum item_place */
    double score;             /* a sorted set's score (its store "text" is these 8 bytes) */
    char digits[NUMBER_INT64_BYTES];
};

static struct slice item_slice(const struct rdb_reader *reader, const struct rdb_item *item)
{
    switch (item->place) {
    case ITEM_BUFFER:
        KV_ASSERT(item->position >= reader->buffer_position);
        KV_ASSERT(item->position + item->length <= reader->buffer_position + reader->end_bytes);
        return (struct slice){.bytes = reader->buffer + (item->position -
                                                          reader->buffer_position),
                              .length = item->length};
    case ITEM_DIGITS:
        return (struct slice){.bytes = (const uint8_t *)item->digits, .length = item->length};
    default:
        return (struct slice){.bytes = item->bytes, .length = item->length};
    }
}

static void item_release(struct rdb_reader *reader, struct rdb_item *item)
{
    if (item->place == ITEM_HEAP) {
        heap_release(reader->heap, (void *)(uintptr_t)item->bytes);
    }
    item->place = ITEM_DIGITS;
    item->length = 0;
}

static void item_integer(struct rdb_item *item, int64_t value)
{
    item->place = ITEM_DIGITS;
    item->length = number_format_int64(value, item->digits);
}

/* A string too long for the buffer's quarter, copied through the buffer into the heap. */
static enum rdb_status read_string_heap(struct rdb_reader *reader, uint64_t length,
                                        struct rdb_item *item)
{
    uint8_t *bytes = heap_alloc(reader->heap, length);
    if (bytes == NULL) {
        reader->store_status = STORE_OOM;
        return RDB_STORE;
    }
    uint64_t copied = 0;
    uint64_t step_max = reader->fill == NULL ? length : reader->capacity_bytes / 4u;
    /* Bounded by length: each step copies at least one byte. */
    while (copied < length) {
        uint64_t step = length - copied < step_max ? length - copied : step_max;
        enum rdb_status status = reader_need(reader, step);
        if (status != RDB_OK) {
            heap_release(reader->heap, bytes);
            return status;
        }
        memcpy(bytes + copied, reader_take(reader, step), step);
        copied += step;
        if (reader->fill != NULL) {
            /* The copied bytes leave the buffer at once, so the kept region (batch items
             * before them) does not grow by a long string: positions stay consistent, as
             * every later one is counted after the cut. */
            uint64_t cut = reader->offset_bytes - step;
            memmove(reader->buffer + cut, reader->buffer + reader->offset_bytes,
                    reader->end_bytes - reader->offset_bytes);
            reader->end_bytes -= step;
            reader->offset_bytes = cut;
        }
    }
    *item = (struct rdb_item){.place = ITEM_HEAP, .bytes = bytes, .length = length};
    return RDB_OK;
}

/* `length` raw bytes as an item: kept in the buffer, or copied to the heap when longer than
 * a quarter of a streaming buffer. */
static enum rdb_status read_bytes(struct rdb_reader *reader, uint64_t length,
                                  struct rdb_item *item)
{
    if (reader->fill != NULL && length > reader->capacity_bytes / 4u) {
        return read_string_heap(reader, length, item);
    }
    enum rdb_status status = reader_need(reader, length);
    if (status != RDB_OK) {
        return status;
    }
    uint64_t position = reader_position(reader);
    (void)reader_take(reader, length);
    *item = (struct rdb_item){.place = ITEM_BUFFER, .position = position, .length = length};
    return RDB_OK;
}

static enum rdb_status read_string_lzf(struct rdb_reader *reader, struct rdb_item *item)
{
    uint64_t packed = 0;
    uint64_t length = 0;
    enum rdb_status status = read_count(reader, &packed);
    if (status == RDB_OK) {
        status = read_count(reader, &length);
    }
    if (status != RDB_OK) {
        return status;
    }
    if (packed == 0 || length == 0 || length > UINT32_MAX || packed > UINT32_MAX) {
        return RDB_CORRUPT;
    }
    struct rdb_item input;
    status = read_bytes(reader, packed, &input);
    if (status != RDB_OK) {
        return status;
    }
    uint8_t *output = heap_alloc(reader->heap, length);
    if (output == NULL) {
        item_release(reader, &input);
        reader->store_status = STORE_OOM;
        return RDB_STORE;
    }
    /* The input stays where read_bytes put it until released: no read happens here. */
    struct slice compressed = item_slice(reader, &input);
    uint32_t got = lzf_decompress(compressed.bytes, (uint32_t)packed, output, (uint32_t)length);
    item_release(reader, &input);
    if (got != length) {
        heap_release(reader->heap, output);
        return RDB_CORRUPT;
    }
    *item = (struct rdb_item){.place = ITEM_HEAP, .bytes = output, .length = length};
    return RDB_OK;
}

/* rdbGenericLoadStringObject: a string in any of its encodings. */
static enum rdb_status read_string(struct rdb_reader *reader, struct rdb_item *item)
{
    uint64_t length = 0;
    bool encoded = false;
    enum rdb_status status = read_length(reader, &length, &encoded);
    if (status != RDB_OK) {
        return status;
    }
    if (encoded) {
        uint8_t bytes[4] = {0};
        switch (length) {
        case RDB_ENC_INT8:
            status = read_raw(reader, bytes, 1);
            item_integer(item, (int8_t)bytes[0]);
            return status;
        case RDB_ENC_INT16: {
            status = read_raw(reader, bytes, 2);
            int16_t value = 0;
            memcpy(&value, bytes, 2);
            item_integer(item, value);
            return status;
        }
        case RDB_ENC_INT32: {
            status = read_raw(reader, bytes, 4);
            int32_t value = 0;
            memcpy(&value, bytes, 4);
            item_integer(item, value);
            return status;
        }
        case RDB_ENC_LZF:
            return read_string_lzf(reader, item);
        default:
            return RDB_CORRUPT;
        }
    }
    return read_bytes(reader, length, item);
}

/* ---- Loading a value into the store, in batches ---- */

struct rdb_load {
    struct rdb_reader *reader;
    struct store *store;
    struct slice key;
    struct store_found found;
    uint8_t store_type;       /* enum store_type of the value */
    uint32_t count;           /* items held */
    uint64_t members;         /* members (or fields) stored so far */
    struct rdb_item items[RDB_BATCH_ITEMS];
    struct slice slices[RDB_BATCH_ITEMS];
};

/* A store "score text" that is the 8 bytes of a double (as cmd_copy.c passes scores). */
static double load_score(struct slice text)
{
    KV_ASSERT(text.length == sizeof(double));
    double score = 0;
    memcpy(&score, text.bytes, sizeof(double));
    return score;
}

static enum rdb_status load_store_status(struct rdb_load *load, enum store_status status)
{
    if (status == STORE_OK) {
        return RDB_OK;
    }
    load->reader->store_status = status;
    return RDB_STORE;
}

/* Gives the held items to the store in one call, then lets their bytes go. */
static enum rdb_status load_flush(struct rdb_load *load)
{
    struct rdb_reader *reader = load->reader;
    uint32_t count = load->count;
    enum store_status status = STORE_OK;
    uint32_t added = 0;
    for (uint32_t index = 0; index < count; index++) {
        load->slices[index] = item_slice(reader, &load->items[index]);
    }
    if (count > 0) {
        switch (load->store_type) {
        case STORE_TYPE_LIST:
            status = store_list_push(load->store, &load->found, load->key, load->slices, count,
                                     false, &added);
            added = count;
            break;
        case STORE_TYPE_SET:
            status = store_set_add(load->store, &load->found, load->key, load->slices, count,
                                   &added);
            break;
        case STORE_TYPE_HASH:
            KV_ASSERT(count % 2u == 0);
            status = store_hash_set(load->store, &load->found, load->key, load->slices,
                                    count / 2u, false, &added);
            added *= 2u;
            break;
        default: {
            KV_ASSERT(load->store_type == STORE_TYPE_ZSET && count % 2u == 0);
            /* The items are member, score: the store wants score, member. */
            for (uint32_t pair = 0; pair < count / 2u; pair++) {
                struct slice member = load->slices[2u * pair];
                load->slices[2u * pair] = (struct slice){
                    .bytes = (const uint8_t *)&load->items[2u * pair + 1u].score,
                    .length = sizeof(double)};
                load->slices[2u * pair + 1u] = member;
            }
            struct store_zset_pairs pairs = {.args = load->slices, .count = count / 2u,
                                             .score = load_score};
            struct store_zset_result result;
            status = store_zset_add(load->store, &load->found, load->key, 0, &pairs, &result);
            added = 2u * result.added;
            break;
        }
        }
    }
    for (uint32_t index = 0; index < count; index++) {
        item_release(reader, &load->items[index]);
    }
    load->count = 0;
    reader->keep_position = reader_position(reader);
    if (status != STORE_OK) {
        return load_store_status(load, status);
    }
    load->members += added;
    /* A repeated member or field: Redis refuses the file ("Duplicate ... detected"). */
    return added == count ? RDB_OK : RDB_CORRUPT;
}

/* Room for `wanted` more items: flushes when the batch is full or its kept bytes pass a
 * quarter of the buffer. */
static enum rdb_status load_room(struct rdb_load *load, uint32_t wanted)
{
    struct rdb_reader *reader = load->reader;
    bool kept_big = reader->fill != NULL &&
                    reader_position(reader) - reader->keep_position > reader->capacity_bytes / 4u;
    if (load->count + wanted > RDB_BATCH_ITEMS || kept_big) {
        return load_flush(load);
    }
    return RDB_OK;
}

static enum rdb_status load_string_item(struct rdb_load *load)
{
    enum rdb_status status = load_room(load, 1);
    if (status == RDB_OK) {
        status = read_string(load->reader, &load->items[load->count]);
    }
    if (status == RDB_OK) {
        load->count++;
    }
    return status;
}

static enum rdb_status load_score_item(struct rdb_load *load, uint8_t rdb_type)
{
    struct rdb_item *item = &load->items[load->count];
    *item = (struct rdb_item){.place = ITEM_DIGITS};
    enum rdb_status status = RDB_OK;
    if (rdb_type == RDB_TYPE_ZSET_2) {
        status = read_raw(load->reader, &item->score, sizeof(double));
    } else {
        /* rdbLoadDoubleValue: a length byte (253 nan, 254 inf, 255 -inf) and text. */
        uint8_t length = 0;
        char text[256];
        status = read_u8(load->reader, &length);
        if (status == RDB_OK && length >= 253u) {
            item->score = length == 253u ? __builtin_nan("") : length == 254u
                                                                    ? __builtin_inf()
                                                                    : -__builtin_inf();
        } else if (status == RDB_OK) {
            status = read_raw(load->reader, text, length);
            text[length] = '\0';
            char *end = NULL;
            item->score = strtod(text, &end);
            if (status == RDB_OK && (length == 0 || end != text + length)) {
                status = RDB_CORRUPT;
            }
        }
    }
    if (status == RDB_OK && item->score != item->score) {
        return RDB_CORRUPT; /* "Zset with NAN score detected" */
    }
    if (status == RDB_OK) {
        load->count++;
    }
    return status;
}

/* ---- Listpacks and intsets ---- */

/* One listpack entry, decoded: an integer or a string. */
struct lp_entry {
    struct slice string;
    int64_t integer;
    bool is_integer;
};

/* Decodes the entry at `at` of a listpack of `bytes`; its whole size (backlen included) in
 * *size, 0 when malformed. */
static uint64_t lp_entry_get(const uint8_t *pack, uint64_t bytes, uint64_t at,
                             struct lp_entry *entry)
{
    uint64_t left = bytes - at;
    uint8_t first = pack[at];
    uint64_t head = 1;
    uint64_t data = 0;
    *entry = (struct lp_entry){.is_integer = true};
    if ((first & 0x80u) == 0) {
        entry->integer = first;
    } else if ((first & 0xc0u) == 0x80u) {
        data = first & 0x3fu;
        entry->is_integer = false;
    } else if ((first & 0xe0u) == 0xc0u) {
        if (left < 2) {
            return 0;
        }
        uint64_t bits = ((uint64_t)(first & 0x1fu) << 8) | pack[at + 1];
        entry->integer = bits >= (1u << 12) ? (int64_t)bits - (1 << 13) : (int64_t)bits;
        head = 2;
    } else if ((first & 0xf0u) == 0xe0u) {
        if (left < 2) {
            return 0;
        }
        data = ((uint64_t)(first & 0x0fu) << 8) | pack[at + 1];
        head = 2;
        entry->is_integer = false;
    } else if (first >= 0xf1u && first <= 0xf4u) {
        uint32_t width = first == 0xf1u ? 2u : first == 0xf2u ? 3u : first == 0xf3u ? 4u : 8u;
        if (left < 1u + width) {
            return 0;
        }
        uint64_t bits = 0;
        for (uint32_t index = 0; index < width; index++) {
            bits |= (uint64_t)pack[at + 1 + index] << (8u * index);
        }
        if (width < 8u && (bits >> (8u * width - 1u)) != 0) {
            bits |= ~0ull << (8u * width); /* sign extension */
        }
        entry->integer = (int64_t)bits;
        head = 1u + width;
    } else if (first == 0xf0u) {
        if (left < 5) {
            return 0;
        }
        uint32_t length = 0;
        memcpy(&length, pack + at + 1, 4);
        data = length;
        head = 5;
        entry->is_integer = false;
    } else {
        return 0;
    }
    uint64_t size = head + data;
    uint64_t total = size + lp_backlen_bytes(size);
    if (total > left) {
        return 0;
    }
    if (!entry->is_integer) {
        entry->string = (struct slice){.bytes = pack + at + head, .length = data};
    }
    return total;
}

/* Checks a listpack's header and walks its entries: the entry count, or -1 when malformed
 * (lpValidateIntegrity's shallow checks plus every entry's bounds). */
static int64_t lp_validate(struct slice pack)
{
    if (pack.length < LP_HEADER_BYTES + 1u || pack.length > UINT32_MAX) {
        return -1;
    }
    uint32_t total = 0;
    uint16_t count = 0;
    memcpy(&total, pack.bytes, 4);
    memcpy(&count, pack.bytes + 4, 2);
    if (total != pack.length || pack.bytes[pack.length - 1u] != LP_END) {
        return -1;
    }
    uint64_t at = LP_HEADER_BYTES;
    int64_t entries = 0;
    /* Bounded by the pack's bytes: each entry takes at least two. */
    while (at < pack.length - 1u) {
        struct lp_entry entry;
        uint64_t size = lp_entry_get(pack.bytes, pack.length - 1u, at, &entry);
        if (size == 0) {
            return -1;
        }
        at += size;
        entries++;
    }
    if (at != pack.length - 1u || (count != LP_COUNT_UNKNOWN && count != entries)) {
        return -1;
    }
    return entries;
}

/* Puts a listpack entry into the next item (the blob outlives the batch). */
static void lp_entry_item(const struct lp_entry *entry, struct rdb_item *item)
{
    if (entry->is_integer) {
        item_integer(item, entry->integer);
        return;
    }
    *item = (struct rdb_item){.place = ITEM_FIXED, .bytes = entry->string.bytes,
                              .length = entry->string.length};
}

/* zzlGetScore: an integer entry, or the text of a double. */
static bool lp_entry_score(const struct lp_entry *entry, double *score)
{
    if (entry->is_integer) {
        *score = (double)entry->integer;
        return true;
    }
    char text[128];
    if (entry->string.length == 0 || entry->string.length >= sizeof(text)) {
        return false;
    }
    memcpy(text, entry->string.bytes, entry->string.length);
    text[entry->string.length] = '\0';
    char *end = NULL;
    *score = strtod(text, &end);
    return end == text + entry->string.length && *score == *score;
}

/* Loads a valid listpack's entries: each an element (pairs: field value, or member score). */
static enum rdb_status load_listpack(struct rdb_load *load, struct slice pack, bool zset)
{
    uint64_t at = LP_HEADER_BYTES;
    uint64_t index = 0;
    /* Bounded by the pack's bytes (validated: every entry in bounds). */
    while (at < pack.length - 1u) {
        struct lp_entry entry;
        uint64_t size = lp_entry_get(pack.bytes, pack.length - 1u, at, &entry);
        KV_ASSERT(size > 0);
        at += size;
        enum rdb_status status = load_room(load, index % 2u == 0 ? 2u : 1u);
        if (status != RDB_OK) {
            return status;
        }
        struct rdb_item *item = &load->items[load->count];
        if (zset && index % 2u == 1u) {
            *item = (struct rdb_item){.place = ITEM_DIGITS};
            if (!lp_entry_score(&entry, &item->score)) {
                return RDB_CORRUPT;
            }
        } else {
            lp_entry_item(&entry, item);
        }
        load->count++;
        index++;
    }
    return RDB_OK;
}

/* A blob string (listpack, intset) read whole: kept in the buffer or the heap. */
static enum rdb_status read_blob(struct rdb_reader *reader, struct rdb_item *blob)
{
    enum rdb_status status = read_string(reader, blob);
    if (status == RDB_OK && blob->place == ITEM_DIGITS) {
        item_release(reader, blob);
        return RDB_CORRUPT;
    }
    return status;
}

static enum rdb_status load_intset(struct rdb_load *load, struct slice blob)
{
    uint32_t header[2] = {0, 0};
    if (blob.length < 8) {
        return RDB_CORRUPT;
    }
    memcpy(header, blob.bytes, 8);
    uint32_t width = header[0];
    if ((width != 2 && width != 4 && width != 8) || header[1] == 0 ||
        (uint64_t)header[1] * width + 8u != blob.length) {
        return RDB_CORRUPT;
    }
    /* Bounded by the intset's count. */
    for (uint32_t index = 0; index < header[1]; index++) {
        enum rdb_status status = load_room(load, 1);
        if (status != RDB_OK) {
            return status;
        }
        uint64_t bits = 0;
        memcpy(&bits, blob.bytes + 8u + (uint64_t)index * width, width);
        if (width < 8u && (bits >> (8u * width - 1u)) != 0) {
            bits |= ~0ull << (8u * width);
        }
        item_integer(&load->items[load->count++], (int64_t)bits);
    }
    return RDB_OK;
}

/* HASH_LISTPACK, ZSET_LISTPACK, SET_INTSET: one blob. */
static enum rdb_status load_packed(struct rdb_load *load, uint8_t rdb_type)
{
    struct rdb_item blob;
    enum rdb_status status = read_blob(load->reader, &blob);
    if (status != RDB_OK) {
        return status;
    }
    /* The blob stays put until released: no read happens while its entries are loaded. */
    struct slice bytes = item_slice(load->reader, &blob);
    if (rdb_type == RDB_TYPE_SET_INTSET) {
        status = load_intset(load, bytes);
    } else {
        int64_t entries = lp_validate(bytes);
        if (entries <= 0 || entries % 2 != 0) {
            status = RDB_CORRUPT;
        } else {
            status = load_listpack(load, bytes, rdb_type == RDB_TYPE_ZSET_LISTPACK);
        }
    }
    if (status == RDB_OK) {
        status = load_flush(load);
    }
    item_release(load->reader, &blob);
    return status;
}

/* ---- Streams (STREAM_LISTPACKS and STREAM_LISTPACKS_2) ---- */

#define RDB_STREAM_FLAG_DELETED 1u

/* A listpack walk: the next entry, false when malformed or at the end. */
static bool lp_next(struct slice pack, uint64_t *at, struct lp_entry *entry)
{
    if (*at >= pack.length - 1u) {
        return false;
    }
    uint64_t size = lp_entry_get(pack.bytes, pack.length - 1u, *at, entry);
    *at += size;
    return size > 0;
}

static bool lp_next_integer(struct slice pack, uint64_t *at, int64_t *value)
{
    struct lp_entry entry;
    if (!lp_next(pack, at, &entry) || !entry.is_integer) {
        return false;
    }
    *value = entry.integer;
    return true;
}

static struct stream_id stream_id_decode(const uint8_t raw[16])
{
    struct stream_id id = {0, 0};
    for (uint32_t index = 0; index < 8; index++) {
        id.ms = id.ms << 8 | raw[index];
        id.seq = id.seq << 8 | raw[8 + index];
    }
    return id;
}

/* One entry of a node into the stream (not deleted ones): its pairs as items of the
 * load's batch, or of a heap array when it has more than the batch holds. */
static enum rdb_status stream_entry_load(struct rdb_load *load, struct slice pack,
                                         uint64_t *at, uint64_t master_at,
                                         int64_t master_fields, struct stream_id master)
{
    int64_t flags = 0;
    int64_t ms_diff = 0;
    int64_t seq_diff = 0;
    int64_t fields = master_fields;
    if (!lp_next_integer(pack, at, &flags) || !lp_next_integer(pack, at, &ms_diff) ||
        !lp_next_integer(pack, at, &seq_diff)) {
        return RDB_CORRUPT;
    }
    bool same = (flags & RDB_STREAM_FLAG_SAMEFIELDS) != 0;
    if (!same && (!lp_next_integer(pack, at, &fields) || fields < 0)) {
        return RDB_CORRUPT;
    }
    if (fields <= 0 || fields > (int64_t)UINT32_MAX / 2) {
        return RDB_CORRUPT; /* an entry has at least one field */
    }
    uint64_t wanted = 2u * (uint64_t)fields;
    struct rdb_item *items = load->items;
    struct slice *slices = load->slices;
    if (wanted > RDB_BATCH_ITEMS) {
        items = heap_alloc(load->store->heap, wanted * sizeof(*items));
        slices = heap_alloc(load->store->heap, wanted * sizeof(*slices));
        if (items == NULL || slices == NULL) {
            if (items != NULL) {
                heap_release(load->store->heap, items);
            }
            if (slices != NULL) {
                heap_release(load->store->heap, slices);
            }
            load->reader->store_status = STORE_OOM;
            return RDB_STORE;
        }
    }
    enum rdb_status status = RDB_OK;
    uint64_t field_at = master_at;
    /* Bounded by the fields. */
    for (int64_t index = 0; index < fields && status == RDB_OK; index++) {
        struct lp_entry field;
        struct lp_entry value;
        bool read = same ? lp_next(pack, &field_at, &field) : lp_next(pack, at, &field);
        if (!read || !lp_next(pack, at, &value)) {
            status = RDB_CORRUPT;
            break;
        }
        lp_entry_item(&field, &items[2 * index]);
        lp_entry_item(&value, &items[2 * index + 1]);
        slices[2 * index] = (struct slice){.bytes = items[2 * index].place == ITEM_DIGITS
                                                        ? (const uint8_t *)items[2 * index].digits
                                                        : items[2 * index].bytes,
                                           .length = items[2 * index].length};
        slices[2 * index + 1] =
            (struct slice){.bytes = items[2 * index + 1].place == ITEM_DIGITS
                                        ? (const uint8_t *)items[2 * index + 1].digits
                                        : items[2 * index + 1].bytes,
                           .length = items[2 * index + 1].length};
    }
    int64_t lp_count = 0;
    if (status == RDB_OK && !lp_next_integer(pack, at, &lp_count)) {
        status = RDB_CORRUPT;
    }
    if (status == RDB_OK && !(flags & RDB_STREAM_FLAG_DELETED)) {
        struct stream_id id = {master.ms + (uint64_t)ms_diff, master.seq + (uint64_t)seq_diff};
        (void)store_find_typed(load->store, load->key, STORE_TYPE_ANY, &load->found);
        const struct store_stream *stream =
            load->found.exists ? store_stream_of(load->store, load->found.key_ref) : NULL;
        if ((stream != NULL && stream_id_compare(id, stream->last_id) <= 0) ||
            stream_id_is_zero(id)) {
            status = RDB_CORRUPT; /* IDs ascend from above 0-0 */
        } else {
            enum store_status stored = store_stream_add(load->store, &load->found, load->key, id,
                                                        slices, (uint32_t)fields);
            status = load_store_status(load, stored);
        }
    }
    if (items != load->items) {
        heap_release(load->store->heap, items);
        heap_release(load->store->heap, slices);
    }
    return status;
}

/* One node: its master ID (the key) and its listpack. */
static enum rdb_status stream_node_load(struct rdb_load *load)
{
    struct rdb_item key;
    enum rdb_status status = read_blob(load->reader, &key);
    if (status != RDB_OK) {
        return status;
    }
    struct slice raw = item_slice(load->reader, &key);
    struct stream_id master = {0, 0};
    if (raw.length != 16) {
        status = RDB_CORRUPT;
    } else {
        master = stream_id_decode(raw.bytes);
    }
    item_release(load->reader, &key);
    load->reader->keep_position = reader_position(load->reader);
    if (status != RDB_OK) {
        return status;
    }
    struct rdb_item blob;
    status = read_blob(load->reader, &blob);
    if (status != RDB_OK) {
        return status;
    }
    struct slice pack = item_slice(load->reader, &blob);
    int64_t count = 0;
    int64_t deleted = 0;
    int64_t master_fields = 0;
    int64_t terminator = -1;
    uint64_t at = LP_HEADER_BYTES;
    if (lp_validate(pack) <= 0 || !lp_next_integer(pack, &at, &count) ||
        !lp_next_integer(pack, &at, &deleted) || !lp_next_integer(pack, &at, &master_fields) ||
        count < 0 || deleted < 0 || master_fields < 0) {
        status = RDB_CORRUPT;
    }
    uint64_t master_at = at;
    struct lp_entry skipped;
    /* Bounded by the master fields. */
    for (int64_t index = 0; status == RDB_OK && index < master_fields; index++) {
        status = lp_next(pack, &at, &skipped) ? RDB_OK : RDB_CORRUPT;
    }
    if (status == RDB_OK && (!lp_next_integer(pack, &at, &terminator) || terminator != 0)) {
        status = RDB_CORRUPT;
    }
    /* Bounded by the node's entries (valid and deleted). */
    for (int64_t index = 0; status == RDB_OK && index < count + deleted; index++) {
        status = stream_entry_load(load, pack, &at, master_at, master_fields, master);
    }
    if (status == RDB_OK && at != pack.length - 1u) {
        status = RDB_CORRUPT;
    }
    item_release(load->reader, &blob);
    load->reader->keep_position = reader_position(load->reader);
    return status;
}

static enum rdb_status read_stream_id(struct rdb_reader *reader, struct stream_id *id)
{
    enum rdb_status status = read_count(reader, &id->ms);
    return status == RDB_OK ? read_count(reader, &id->seq) : status;
}

/* A pending entry read from the group's PEL, before its consumer is known. */
struct stream_pel_read {
    struct stream_id id;
    int64_t delivery_ms;
    uint64_t delivery_count;
    bool owned;
};

/* A string of the file copied to the heap (a group's or consumer's name outlives reads). */
static enum rdb_status read_name(struct rdb_reader *reader, struct heap *heap,
                                 struct slice *name)
{
    struct rdb_item item;
    enum rdb_status status = read_string(reader, &item);
    if (status != RDB_OK) {
        return status;
    }
    struct slice text = item_slice(reader, &item);
    uint8_t *copy = heap_alloc(heap, text.length > 0 ? text.length : 1u);
    if (copy != NULL) {
        memcpy(copy, text.bytes, text.length);
    }
    *name = (struct slice){.bytes = copy, .length = text.length};
    item_release(reader, &item);
    reader->keep_position = reader_position(reader);
    if (copy == NULL) {
        reader->store_status = STORE_OOM;
        return RDB_STORE;
    }
    return RDB_OK;
}

/* One consumer: its name, seen time and pending IDs, each found in the group's PEL. */
static enum rdb_status stream_consumer_load(struct rdb_load *load, struct slice group_name,
                                            struct stream_pel_read *pel, uint64_t pel_count)
{
    struct rdb_reader *reader = load->reader;
    struct store *store = load->store;
    struct slice name;
    enum rdb_status status = read_name(reader, store->heap, &name);
    if (status != RDB_OK) {
        return status;
    }
    int64_t seen_ms = 0;
    uint64_t pending = 0;
    status = read_raw(reader, &seen_ms, 8);
    status = status == RDB_OK ? read_count(reader, &pending) : status;
    (void)store_find_typed(store, load->key, STORE_TYPE_STREAM, &load->found);
    struct store_stream_group *group =
        store_stream_group_find(store, load->found.key_ref, group_name);
    KV_ASSERT(group != NULL);
    struct store_stream_consumer *consumer = NULL;
    if (status == RDB_OK) {
        consumer = store_stream_consumer_find(store, group, name);
        consumer = consumer == NULL ? store_stream_consumer_create(store, group, name, seen_ms)
                                    : NULL; /* a consumer twice: corrupt */
        status = consumer == NULL ? RDB_CORRUPT : RDB_OK;
    }
    if (status == RDB_OK) {
        consumer->seen_ms = seen_ms;
    }
    /* Bounded by the consumer's pending count (each ID must be in the group's PEL). */
    for (uint64_t index = 0; status == RDB_OK && index < pending; index++) {
        uint8_t raw[16];
        status = read_raw(reader, raw, sizeof(raw));
        if (status != RDB_OK) {
            break;
        }
        struct stream_id id = stream_id_decode(raw);
        reader->keep_position = reader_position(reader); /* copied out, as the PEL's */
        uint64_t low = 0;
        uint64_t high = pel_count;
        /* Bounded by log2(pel_count) halvings: the PEL is in ID order. */
        while (low < high) {
            uint64_t middle = low + (high - low) / 2u;
            if (stream_id_compare(pel[middle].id, id) < 0) {
                low = middle + 1u;
            } else {
                high = middle;
            }
        }
        if (low == pel_count || stream_id_compare(pel[low].id, id) != 0 || pel[low].owned ||
            store_stream_pel_reserve(store, group, consumer, 1) != STORE_OK) {
            status = RDB_CORRUPT;
            break;
        }
        store_stream_pel_deliver(store, group, consumer, id, pel[low].delivery_ms, false);
        struct store_stream_nack *nack = store_stream_pel_find(store, group, id);
        KV_ASSERT(nack != NULL);
        nack->delivery_ms = pel[low].delivery_ms;
        nack->delivery_count = pel[low].delivery_count;
        pel[low].owned = true;
    }
    heap_release(store->heap, (void *)(uintptr_t)name.bytes);
    return status;
}

/* One group: name, last ID, entries read (v2), the PEL, the consumers. */
static enum rdb_status stream_group_load(struct rdb_load *load, uint8_t rdb_type)
{
    struct rdb_reader *reader = load->reader;
    struct store *store = load->store;
    struct slice name;
    enum rdb_status status = read_name(reader, store->heap, &name);
    if (status != RDB_OK) {
        return status;
    }
    struct stream_id last_id = {0, 0};
    uint64_t entries_read = (uint64_t)-1;
    uint64_t pel_count = 0;
    status = read_stream_id(reader, &last_id);
    if (status == RDB_OK && rdb_type == RDB_TYPE_STREAM_LISTPACKS_2) {
        status = read_count(reader, &entries_read);
    }
    status = status == RDB_OK ? read_count(reader, &pel_count) : status;
    (void)store_find_typed(store, load->key, STORE_TYPE_STREAM, &load->found);
    if (status == RDB_OK &&
        store_stream_group_find(store, load->found.key_ref, name) != NULL) {
        status = RDB_CORRUPT; /* a group twice */
    }
    if (status == RDB_OK) {
        status = load_store_status(load, store_stream_group_create(store, &load->found, name,
                                                                   last_id,
                                                                   (int64_t)entries_read));
    }
    struct stream_pel_read *pel = NULL;
    if (status == RDB_OK && pel_count > 0) {
        pel = pel_count < UINT32_MAX ? heap_alloc(store->heap, pel_count * sizeof(*pel)) : NULL;
        if (pel == NULL) {
            reader->store_status = STORE_OOM;
            status = RDB_STORE;
        }
    }
    /* Bounded by the PEL's count. */
    for (uint64_t index = 0; status == RDB_OK && index < pel_count; index++) {
        uint8_t raw[16];
        status = read_raw(reader, raw, sizeof(raw));
        status = status == RDB_OK ? read_raw(reader, &pel[index].delivery_ms, 8) : status;
        status = status == RDB_OK ? read_count(reader, &pel[index].delivery_count) : status;
        pel[index].id = stream_id_decode(raw);
        pel[index].owned = false;
        /* Copied out: the buffer may drop it (a PEL can be larger than the buffer). */
        reader->keep_position = reader_position(reader);
        if (status == RDB_OK && index > 0 && stream_id_compare(pel[index - 1].id,
                                                               pel[index].id) >= 0) {
            status = RDB_CORRUPT;
        }
    }
    uint64_t consumers = 0;
    status = status == RDB_OK ? read_count(reader, &consumers) : status;
    /* Bounded by the consumers' count. */
    for (uint64_t index = 0; status == RDB_OK && index < consumers; index++) {
        status = stream_consumer_load(load, name, pel, pel_count);
    }
    /* Redis refuses a PEL entry no consumer owns. */
    for (uint64_t index = 0; status == RDB_OK && index < pel_count; index++) {
        status = pel[index].owned ? RDB_OK : RDB_CORRUPT;
    }
    if (pel != NULL) {
        heap_release(store->heap, pel);
    }
    heap_release(store->heap, (void *)(uintptr_t)name.bytes);
    reader->keep_position = reader_position(reader);
    return status;
}

static enum rdb_status load_stream(struct rdb_load *load, uint8_t rdb_type)
{
    struct rdb_reader *reader = load->reader;
    uint64_t nodes = 0;
    enum rdb_status status = read_count(reader, &nodes);
    /* Bounded by the nodes' count (each reads at least its two strings). */
    for (uint64_t index = 0; status == RDB_OK && index < nodes; index++) {
        status = stream_node_load(load);
    }
    uint64_t length = 0;
    struct stream_id last_id = {0, 0};
    struct stream_id first_id = {0, 0};
    struct stream_id max_deleted = {0, 0};
    uint64_t entries_added = 0;
    status = status == RDB_OK ? read_count(reader, &length) : status;
    status = status == RDB_OK ? read_stream_id(reader, &last_id) : status;
    if (status == RDB_OK && rdb_type == RDB_TYPE_STREAM_LISTPACKS_2) {
        status = read_stream_id(reader, &first_id);
        status = status == RDB_OK ? read_stream_id(reader, &max_deleted) : status;
        status = status == RDB_OK ? read_count(reader, &entries_added) : status;
    }
    if (status != RDB_OK) {
        return status;
    }
    (void)store_find_typed(load->store, load->key, STORE_TYPE_ANY, &load->found);
    if (!load->found.exists) {
        status = load_store_status(load, store_stream_create(load->store, &load->found,
                                                             load->key));
        if (status != RDB_OK) {
            return status;
        }
    }
    const struct store_stream *stream = store_stream_of(load->store, load->found.key_ref);
    if (rdb_type != RDB_TYPE_STREAM_LISTPACKS_2) {
        entries_added = length; /* streamGetEdgeID's estimate aside: what is known */
    }
    if (stream->length != length || stream_id_compare(last_id, stream->last_id) < 0 ||
        entries_added < length) {
        return RDB_CORRUPT;
    }
    store_stream_set_id(load->store, &load->found, last_id, &entries_added, &max_deleted);
    reader->keep_position = reader_position(reader);
    uint64_t groups = 0;
    status = read_count(reader, &groups);
    /* Bounded by the groups' count. */
    for (uint64_t index = 0; status == RDB_OK && index < groups; index++) {
        status = stream_group_load(load, rdb_type);
    }
    return status;
}

/* QUICKLIST_2: nodes, each PLAIN (one element) or PACKED (a listpack). */
static enum rdb_status load_quicklist(struct rdb_load *load)
{
    uint64_t node_count = 0;
    enum rdb_status status = read_count(load->reader, &node_count);
    if (status == RDB_OK && node_count == 0) {
        return RDB_CORRUPT;
    }
    /* Bounded by the node count, each read consuming input. */
    for (uint64_t node = 0; node < node_count && status == RDB_OK; node++) {
        uint64_t container = 0;
        status = read_count(load->reader, &container);
        if (status != RDB_OK) {
            break;
        }
        if (container == RDB_QUICKLIST_PLAIN) {
            status = load_string_item(load);
            continue;
        }
        if (container != RDB_QUICKLIST_PACKED) {
            return RDB_CORRUPT;
        }
        status = load_flush(load);
        struct rdb_item blob;
        if (status == RDB_OK) {
            status = read_blob(load->reader, &blob);
        }
        if (status != RDB_OK) {
            break;
        }
        struct slice bytes = item_slice(load->reader, &blob);
        int64_t entries = lp_validate(bytes);
        /* An empty node is skipped, as Redis does. */
        status = entries < 0 ? RDB_CORRUPT : load_listpack(load, bytes, false);
        if (status == RDB_OK) {
            status = load_flush(load);
        }
        item_release(load->reader, &blob);
    }
    if (status == RDB_OK) {
        status = load_flush(load);
    }
    return status;
}

/* LIST, SET, HASH, ZSET, ZSET_2: a count, then strings (and scores). */
static enum rdb_status load_plain(struct rdb_load *load, uint8_t rdb_type)
{
    uint64_t count = 0;
    enum rdb_status status = read_count(load->reader, &count);
    if (status == RDB_OK && count == 0) {
        return RDB_CORRUPT; /* an empty key, as Redis refuses one */
    }
    bool pairs = rdb_type == RDB_TYPE_HASH || rdb_type == RDB_TYPE_ZSET ||
                 rdb_type == RDB_TYPE_ZSET_2;
    /* Bounded by the count, each step consuming input. */
    for (uint64_t index = 0; index < count && status == RDB_OK; index++) {
        if (pairs) {
            status = load_room(load, 2);
        }
        if (status == RDB_OK) {
            status = load_string_item(load);
        }
        if (status != RDB_OK || !pairs) {
            continue;
        }
        if (rdb_type == RDB_TYPE_HASH) {
            status = read_string(load->reader, &load->items[load->count]);
            load->count += status == RDB_OK ? 1u : 0u;
        } else {
            status = load_score_item(load, rdb_type);
        }
    }
    if (status == RDB_OK) {
        status = load_flush(load);
    }
    return status;
}

static enum rdb_status load_string(struct rdb_load *load)
{
    struct rdb_item item;
    enum rdb_status status = read_string(load->reader, &item);
    if (status != RDB_OK) {
        return status;
    }
    struct slice value = item_slice(load->reader, &item);
    enum store_status stored = store_string_check(load->store, &load->found, load->key, value);
    if (stored == STORE_OK) {
        stored = store_string_put(load->store, &load->found, load->key, value, 0, false);
    }
    item_release(load->reader, &item);
    load->reader->keep_position = reader_position(load->reader);
    return load_store_status(load, stored);
}

static uint8_t rdb_store_type(uint8_t rdb_type)
{
    switch (rdb_type) {
    case RDB_TYPE_STRING:
        return STORE_TYPE_STRING;
    case RDB_TYPE_LIST:
    case RDB_TYPE_LIST_QUICKLIST_2:
        return STORE_TYPE_LIST;
    case RDB_TYPE_SET:
    case RDB_TYPE_SET_INTSET:
        return STORE_TYPE_SET;
    case RDB_TYPE_HASH:
    case RDB_TYPE_HASH_LISTPACK:
        return STORE_TYPE_HASH;
    case RDB_TYPE_ZSET:
    case RDB_TYPE_ZSET_2:
    case RDB_TYPE_ZSET_LISTPACK:
        return STORE_TYPE_ZSET;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
        return STORE_TYPE_STREAM;
    default:
        return STORE_TYPE_ANY;
    }
}

enum rdb_status rdb_read_value(struct rdb_reader *reader, struct store *store, uint8_t rdb_type,
                               struct slice key)
{
    KV_ASSERT(reader != NULL && store != NULL);
    uint8_t store_type = rdb_store_type(rdb_type);
    if (store_type == STORE_TYPE_ANY) {
        return rdb_type <= RDB_TYPE_STREAM_LISTPACKS_2_MAX ? RDB_UNSUPPORTED : RDB_CORRUPT;
    }
    struct rdb_load load = {.reader = reader, .store = store, .key = key,
                            .store_type = store_type};
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &load.found);
    if (load.found.exists) {
        return RDB_CORRUPT; /* the key twice in one file */
    }
    reader->keep_position = reader_position(reader);
    enum rdb_status status = RDB_OK;
    switch (rdb_type) {
    case RDB_TYPE_STRING:
        status = load_string(&load);
        break;
    case RDB_TYPE_LIST_QUICKLIST_2:
        status = load_quicklist(&load);
        break;
    case RDB_TYPE_STREAM_LISTPACKS:
    case RDB_TYPE_STREAM_LISTPACKS_2:
        status = load_stream(&load, rdb_type);
        break;
    case RDB_TYPE_SET_INTSET:
    case RDB_TYPE_HASH_LISTPACK:
    case RDB_TYPE_ZSET_LISTPACK:
        status = load_packed(&load, rdb_type);
        break;
    default:
        status = load_plain(&load, rdb_type);
        break;
    }
    /* Items still held after a failure. */
    for (uint32_t index = 0; index < load.count; index++) {
        item_release(reader, &load.items[index]);
    }
    struct store_found partial;
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &partial);
    if (status == RDB_OK && !partial.exists) {
        status = RDB_CORRUPT; /* nothing stored: an empty collection */
    }
    if (status != RDB_OK && partial.exists) {
        store_remove(store, &partial);
    }
    reader->keep_position = reader_position(reader);
    return status;
}

/* ---- DUMP payloads and files ---- */

bool rdb_dump_verify(const uint8_t *payload, uint64_t length)
{
    if (length < 10) {
        return false;
    }
    const uint8_t *footer = payload + length - 10u;
    uint32_t version = (uint32_t)footer[0] | ((uint32_t)footer[1] << 8);
    if (version > RDB_VERSION) {
        return false;
    }
    uint64_t crc = crc64(0, payload, length - 8u);
    uint64_t stored = 0;
    memcpy(&stored, footer + 2, 8);
    return crc == stored;
}

enum rdb_status rdb_read_dump(struct store *store, const uint8_t *payload, uint64_t length,
                              struct slice key, enum store_status *store_status)
{
    KV_ASSERT(length >= 10);
    struct rdb_reader reader;
    rdb_reader_init_memory(&reader, payload, length - 10u, store->heap);
    uint8_t type = 0;
    enum rdb_status status = read_u8(&reader, &type);
    if (status != RDB_OK) {
        return status;
    }
    status = rdb_read_value(&reader, store, type, key);
    *store_status = reader.store_status;
    return status;
}

static enum rdb_status load_aux(struct rdb_reader *reader, struct rdb_load_result *result)
{
    struct rdb_item name;
    struct rdb_item value;
    enum rdb_status status = read_string(reader, &name);
    if (status != RDB_OK) {
        return status;
    }
    status = read_string(reader, &value);
    if (status == RDB_OK) {
        struct slice field = item_slice(reader, &name);
        struct slice text = item_slice(reader, &value);
        int64_t seconds = 0;
        if (slice_equal(field, (struct slice){.bytes = (const uint8_t *)"ctime", .length = 5}) &&
            number_parse_int64(text.bytes, (uint32_t)text.length, &seconds)) {
            result->ctime_seconds = seconds;
        }
        item_release(reader, &value);
    }
    item_release(reader, &name);
    reader->keep_position = reader_position(reader);
    return status;
}

/* One key after its type byte: the name, the value, then its expiry time. */
static enum rdb_status load_key(struct rdb_reader *reader, struct store *store, uint8_t type,
                                int64_t expire_ms, const int64_t clock[2],
                                struct rdb_load_result *result)
{
    struct rdb_item name;
    enum rdb_status status = read_string(reader, &name);
    if (status != RDB_OK) {
        return status;
    }
    /* The name must survive the value's reads: a copy on the heap. */
    struct slice key = item_slice(reader, &name);
    uint8_t *copy = heap_alloc(store->heap, key.length > 0 ? key.length : 1u);
    if (copy == NULL) {
        item_release(reader, &name);
        reader->store_status = STORE_OOM;
        return RDB_STORE;
    }
    memcpy(copy, key.bytes, key.length);
    item_release(reader, &name);
    key.bytes = copy;
    status = rdb_read_value(reader, store, type, key);
    if (status == RDB_OK && expire_ms != 0) {
        struct store_found found;
        (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
        KV_ASSERT(found.exists);
        enum store_status stored = store_expire_set(store, &found, expire_ms);
        if (stored == STORE_NOT_FOUND) {
            result->keys_expired++;
        } else if (stored != STORE_OK) {
            reader->store_status = stored;
            store_remove(store, &found);
            status = RDB_STORE;
        } else {
            result->keys_loaded++;
        }
    } else if (status == RDB_OK) {
        result->keys_loaded++;
    }
    uint32_t loaded_ref = 0;
    if (status == RDB_OK && (clock[0] >= 0 || clock[1] >= 0) &&
        store_peek(store, key, &loaded_ref)) {
        /* rdbLoad's objectSetLRUOrLFU: the IDLE or FREQ before the key, as the policy uses. */
        store_key_clock_restore(store, store_key(store, loaded_ref), clock[0], clock[1]);
    }
    heap_release(store->heap, copy);
    return status;
}

/* The header "REDIS" and four digits of a version from 1 to RDB_VERSION. */
static enum rdb_status load_magic(struct rdb_reader *reader)
{
    char magic[9];
    enum rdb_status status = read_raw(reader, magic, 9);
    if (status != RDB_OK || memcmp(magic, "REDIS", 5) != 0) {
        return RDB_CORRUPT;
    }
    uint32_t version = 0;
    for (uint32_t index = 5; index < 9; index++) {
        if (magic[index] < '0' || magic[index] > '9') {
            return RDB_CORRUPT;
        }
        version = version * 10u + (uint32_t)(magic[index] - '0');
    }
    return version >= 1 && version <= RDB_VERSION ? RDB_OK : RDB_UNSUPPORTED;
}

/* Opcodes that carry a value kv has no use for: read and dropped. */
static enum rdb_status load_skip_opcode(struct rdb_reader *reader, uint8_t opcode)
{
    uint64_t length = 0;
    switch (opcode) {
    case RDB_OPCODE_RESIZEDB: {
        enum rdb_status status = read_count(reader, &length);
        return status == RDB_OK ? read_count(reader, &length) : status;
    }
    case RDB_OPCODE_FUNCTION2: {
        /* A library's code: to the reader's function_code (the startup load), else left
         * out and counted. */
        struct rdb_item code;
        enum rdb_status status = read_string(reader, &code);
        if (status == RDB_OK) {
            bool taken = reader->function_code == NULL ||
                         reader->function_code(reader->function_context,
                                               item_slice(reader, &code));
            item_release(reader, &code);
            reader->keep_position = reader_position(reader);
            reader->functions_skipped += reader->function_code == NULL ? 1u : 0u;
            status = taken ? RDB_OK : RDB_CORRUPT;
        }
        return status;
    }
    default:
        return RDB_UNSUPPORTED; /* module aux data */
    }
}

enum rdb_status rdb_load(struct rdb_reader *reader, struct store *store,
                         struct rdb_load_result *result)
{
    *result = (struct rdb_load_result){0};
    enum rdb_status status = load_magic(reader);
    int64_t expire_ms = 0;
    int64_t clock[2] = {-1, -1}; /* the next key's IDLE seconds and FREQ; -1: none */
    /* Bounded by the input: every pass consumes at least its opcode byte. */
    while (status == RDB_OK) {
        uint8_t opcode = 0;
        status = read_u8(reader, &opcode);
        if (status != RDB_OK) {
            break;
        }
        if (opcode == RDB_OPCODE_EOF) {
            break;
        }
        if (opcode == RDB_OPCODE_EXPIRETIME_MS) {
            status = read_raw(reader, &expire_ms, 8);
        } else if (opcode == RDB_OPCODE_EXPIRETIME) {
            int32_t seconds = 0;
            status = read_raw(reader, &seconds, 4);
            expire_ms = (int64_t)seconds * 1000;
        } else if (opcode == RDB_OPCODE_IDLE) {
            uint64_t idle = 0;
            status = read_count(reader, &idle);
            clock[0] = idle > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)idle;
        } else if (opcode == RDB_OPCODE_FREQ) {
            uint8_t freq = 0;
            status = read_u8(reader, &freq);
            clock[1] = freq;
        } else if (opcode == RDB_OPCODE_AUX) {
            status = load_aux(reader, result);
        } else if (opcode == RDB_OPCODE_SELECTDB) {
            /* rdbLoad refuses a database past `databases` ("more than %d databases"). */
            uint64_t db_index = 0;
            status = read_count(reader, &db_index);
            if (status == RDB_OK && db_index >= store->db_count) {
                status = RDB_CORRUPT;
            } else if (status == RDB_OK) {
                store_select(store, (uint32_t)db_index);
            }
        } else if (opcode >= RDB_OPCODE_FUNCTION2) {
            status = load_skip_opcode(reader, opcode);
        } else if (rdb_store_type(opcode) == STORE_TYPE_ANY) {
            /* Streams and modules are valid types kv does not load yet; others corrupt. */
            status = opcode <= RDB_TYPE_STREAM_LISTPACKS_2_MAX ? RDB_UNSUPPORTED : RDB_CORRUPT;
        } else {
            status = load_key(reader, store, opcode, expire_ms, clock, result);
            expire_ms = 0;
            clock[0] = -1;
            clock[1] = -1;
        }
    }
    store_select(store, 0);
    if (status != RDB_OK) {
        return status;
    }
    uint64_t crc = reader->crc;
    uint64_t stored = 0;
    status = read_raw(reader, &stored, 8);
    if (status != RDB_OK) {
        return status;
    }
    /* A zero checksum means the writer had checksums off (rdbchecksum no). */
    return stored == 0 || stored == crc ? RDB_OK : RDB_CHECKSUM;
}

/* ---- The file side's registration ---- */

static rdb_save_fn *rdb_registered_save;
static const struct rdb_save_stats *rdb_registered_stats;

void rdb_save_register(rdb_save_fn *save, const struct rdb_save_stats *stats)
{
    KV_ASSERT(save != NULL && stats != NULL);
    rdb_registered_save = save;
    rdb_registered_stats = stats;
}

int rdb_save(struct store *store, int64_t now_ms)
{
    KV_ASSERT(store != NULL);
    return rdb_registered_save != NULL ? rdb_registered_save(store, now_ms) : -ENOSYS;
}

static rdb_bgsave_fn *rdb_registered_bgsave;
static bool rdb_bgsave_scheduled;

void rdb_bgsave_schedule(void)
{
    rdb_bgsave_scheduled = true;
}

bool rdb_bgsave_scheduled_take(void)
{
    bool scheduled = rdb_bgsave_scheduled;
    rdb_bgsave_scheduled = false;
    return scheduled;
}

void rdb_bgsave_register(rdb_bgsave_fn *bgsave)
{
    KV_ASSERT(bgsave != NULL);
    rdb_registered_bgsave = bgsave;
}

static uint64_t rdb_saves_started;

int rdb_bgsave(struct store *store, int64_t now_ms)
{
    KV_ASSERT(store != NULL);
    int status = rdb_registered_bgsave != NULL ? rdb_registered_bgsave(store, now_ms) : -ENOSYS;
    if (status != -EBUSY && status != -ENOSYS) {
        rdb_saves_started++;
    }
    return status;
}

void rdb_saves_count(void)
{
    rdb_saves_started++;
}

void rdb_saves_reset(void)
{
    rdb_saves_started = 0;
}

uint64_t rdb_saves(void)
{
    return rdb_saves_started;
}

const struct rdb_save_stats *rdb_stats(void)
{
    static const struct rdb_save_stats none = {.last_save_duration_ms = -1,
                                               .last_save_ok = true, .last_bgsave_ok = true,
                                               .last_bgsave_seconds = -1};
    return rdb_registered_stats != NULL ? rdb_registered_stats : &none;
}

const char *rdb_status_text(enum rdb_status status)
{
    switch (status) {
    case RDB_OK:
        return "ok";
    case RDB_CORRUPT:
        return "Bad data format";
    case RDB_CHECKSUM:
        return "Wrong RDB checksum";
    case RDB_UNSUPPORTED:
        return "a type or opcode kv does not load yet (modules)";
    case RDB_TOO_BIG:
        return "an item larger than the load buffer";
    case RDB_IO:
        return "read error";
    default:
        return "the store refused the data (memory or a cap)";
    }
}
