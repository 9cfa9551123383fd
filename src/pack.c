/*
 * Packs: byte strings back to back in one heap allocation behind an 8-byte header (the
 * layout and the varint are drawn in pack.h). Invariants: `bytes` is the header plus every
 * entry, and the allocation holds at least that much; the count is the number of entries
 * between PACK_HEADER_BYTES and `bytes`; every varint is valid and in its shortest form; in a
 * backward pack each entry ends with its length's varint reversed. Every walk is bounded by
 * the count (asserted against it), every offset read is checked against `bytes`.
 *
 * A write that grows the pack resizes first (the only step that can fail, before anything
 * changes), then moves the tail and writes. A write that shrinks moves and writes first, then
 * offers the smaller size to the heap and keeps the old allocation if the heap cannot move
 * it: deleting must work when the heap is full, as Redis lets DEL and HDEL run at maxmemory.
 * The module never allocates outside the heap it is given and never touches the OS.
 */
#include "pack.h"

#include <string.h>

/* The varint's forms: the smallest value of each size, and the tag its first byte carries
 * in the high bits (1 to 4 leading ones, then a zero). */
#define VARINT_1_MAX 0x7fu
#define VARINT_2_MAX 0x3fffu
#define VARINT_3_MAX 0x1fffffu
#define VARINT_4_MAX 0xfffffffu
#define VARINT_TAG_2 0x80u
#define VARINT_TAG_3 0xc0u
#define VARINT_TAG_4 0xe0u
#define VARINT_TAG_5 0xf0u

static_assert(VARINT_2_MAX == (1u << 14) - 1, "two bytes carry 6 + 8 bits");
static_assert(VARINT_3_MAX == (1u << 21) - 1, "three bytes carry 5 + 16 bits");
static_assert(VARINT_4_MAX == (1u << 28) - 1, "four bytes carry 4 + 24 bits");
static_assert(PACK_ENTRY_LENGTH_MAX > VARINT_4_MAX, "the longest entry needs the 5-byte form");

/* ---- The varint ----------------------------------------------------------------------- */

uint32_t pack_varint_bytes(uint32_t value)
{
    if (value <= VARINT_1_MAX) {
        return 1;
    }
    if (value <= VARINT_2_MAX) {
        return 2;
    }
    if (value <= VARINT_3_MAX) {
        return 3;
    }
    return value <= VARINT_4_MAX ? 4u : 5u;
}

/* The size announced by a varint's first byte; 0 when no varint starts with it. */
static uint32_t varint_size_of_first(uint8_t first)
{
    if (first < VARINT_TAG_2) {
        return 1;
    }
    if (first < VARINT_TAG_3) {
        return 2;
    }
    if (first < VARINT_TAG_4) {
        return 3;
    }
    if (first < VARINT_TAG_5) {
        return 4;
    }
    return first == VARINT_TAG_5 ? 5u : 0u;
}

/* The varint of `value` in logical order (first byte first) into code[]; returns its size. */
static uint32_t varint_encode(uint32_t value, uint8_t code[PACK_VARINT_BYTES_MAX])
{
    static const uint8_t tags[PACK_VARINT_BYTES_MAX] = {0, VARINT_TAG_2, VARINT_TAG_3,
                                                       VARINT_TAG_4, VARINT_TAG_5};
    uint32_t size = pack_varint_bytes(value);
    /* The bytes after the first hold the low (size - 1) * 8 bits, most significant first;
     * the first byte holds the tag and what is left (nothing for the 5-byte form). */
    uint64_t rest = value;
    /* At most PACK_VARINT_BYTES_MAX - 1 bytes after the first. */
    for (uint32_t index = size - 1; index > 0; index--) {
        code[index] = (uint8_t)(rest & 0xffu);
        rest >>= 8;
    }
    KV_ASSERT(size == 5 ? rest == 0 : rest < (0x80u >> (size - 1)));
    code[0] = (uint8_t)(tags[size - 1] | rest);
    KV_ASSERT(varint_size_of_first(code[0]) == size);
    return size;
}

/* Decodes a varint from code[] (logical order, `size` bytes, announced by code[0]). */
static uint32_t varint_decode(const uint8_t *code, uint32_t size)
{
    KV_ASSERT(size >= 1 && size <= PACK_VARINT_BYTES_MAX);
    KV_ASSERT(varint_size_of_first(code[0]) == size);
    /* The first byte keeps its bits below the tag: 7, 6, 5, 4, then 0 for the 5-byte form. */
    uint64_t value = code[0] & (size == 5 ? 0u : 0x7fu >> (size - 1));
    /* At most PACK_VARINT_BYTES_MAX - 1 bytes after the first. */
    for (uint32_t index = 1; index < size; index++) {
        value = (value << 8) | code[index];
    }
    KV_ASSERT(value <= UINT32_MAX);
    return (uint32_t)value;
}

uint32_t pack_varint_write(uint8_t *target, uint32_t value)
{
    uint8_t code[PACK_VARINT_BYTES_MAX];
    uint32_t size = varint_encode(value, code);
    memcpy(target, code, size);
    return size;
}

uint32_t pack_varint_read(const uint8_t *source, uint32_t *value)
{
    uint32_t size = varint_size_of_first(source[0]);
    KV_ASSERT(size != 0);
    *value = varint_decode(source, size);
    return size;
}

/* Writes the reversed varint of `value` so that its last byte lands at end[-1]. */
static uint32_t varint_write_reversed(uint8_t *end, uint32_t value)
{
    uint8_t code[PACK_VARINT_BYTES_MAX];
    uint32_t size = varint_encode(value, code);
    /* At most PACK_VARINT_BYTES_MAX bytes. */
    for (uint32_t index = 0; index < size; index++) {
        end[-1 - (int64_t)index] = code[index];
    }
    return size;
}

/* Reads the reversed varint that ends at end[-1] (end[-1] is its first byte); `room` is how
 * many bytes before `end` belong to the entries, so the read stays inside them. */
static uint32_t varint_read_reversed(const uint8_t *end, uint32_t room, uint32_t *value)
{
    KV_ASSERT(room >= 1);
    uint8_t code[PACK_VARINT_BYTES_MAX];
    uint32_t size = varint_size_of_first(end[-1]);
    KV_ASSERT(size != 0);
    KV_ASSERT(size <= room);
    /* At most PACK_VARINT_BYTES_MAX bytes. */
    for (uint32_t index = 0; index < size; index++) {
        code[index] = end[-1 - (int64_t)index];
    }
    *value = varint_decode(code, size);
    return size;
}

uint64_t pack_entry_bytes(uint32_t length, bool backward)
{
    uint64_t varint_bytes = pack_varint_bytes(length);
    return varint_bytes + length + (backward ? varint_bytes : 0);
}

/* ---- Entries -------------------------------------------------------------------------- */

static uint8_t *pack_base(struct pack *pack)
{
    return (uint8_t *)pack;
}

static const uint8_t *pack_base_const(const struct pack *pack)
{
    return (const uint8_t *)pack;
}

static void header_set(struct pack *pack, uint64_t bytes, uint64_t count, bool backward)
{
    KV_ASSERT(bytes >= PACK_HEADER_BYTES && bytes <= PACK_BYTES_MAX);
    KV_ASSERT(count <= PACK_COUNT_MAX);
    pack->bytes = (uint32_t)bytes;
    pack->count_flags = (uint32_t)count | (backward ? PACK_FLAG_BACKWARD : 0u);
}

/* The length of the entry at `offset` and, in *data_offset, where its bytes start; checks
 * that the whole entry (its back varint too) lies inside the pack. */
static uint32_t entry_length(const struct pack *pack, uint32_t offset, uint32_t *data_offset)
{
    KV_ASSERT(offset >= PACK_HEADER_BYTES);
    KV_ASSERT(offset < pack->bytes);
    const uint8_t *base = pack_base_const(pack);
    uint32_t size = varint_size_of_first(base[offset]);
    KV_ASSERT(size != 0);
    KV_ASSERT(size <= pack->bytes - offset);
    uint32_t length = varint_decode(base + offset, size);
    KV_ASSERT(pack_entry_bytes(length, pack_backward(pack)) <= (uint64_t)pack->bytes - offset);
    *data_offset = offset + size;
    return length;
}

/* Bytes the entry at `offset` takes, varints included. */
static uint32_t entry_size(const struct pack *pack, uint32_t offset)
{
    uint32_t data_offset = 0;
    uint32_t length = entry_length(pack, offset, &data_offset);
    return (uint32_t)pack_entry_bytes(length, pack_backward(pack));
}

/* Writes an entry holding `value` at `target`; returns its size. */
static uint32_t entry_write(uint8_t *target, struct slice value, bool backward)
{
    uint32_t size = pack_varint_write(target, value.length);
    if (value.length > 0) {
        memcpy(target + size, value.bytes, value.length);
    }
    uint32_t written = size + value.length;
    if (backward) {
        written += varint_write_reversed(target + written + size, value.length);
    }
    KV_ASSERT(written == pack_entry_bytes(value.length, backward));
    return written;
}

/* A slice about to be written must not point into the pack: a resize could move it first. */
static void assert_outside(const struct pack *pack, struct slice value)
{
    if (value.length == 0) {
        return;
    }
    const uint8_t *base = pack_base_const(pack);
    KV_ASSERT(value.bytes + value.length <= base || value.bytes >= base + pack->bytes);
}

#ifdef KV_DEBUG
/* Whether `offset` is an entry's start or pack_end(): walks from the first entry, so it is
 * for debug assertions only. */
static bool offset_is_boundary(const struct pack *pack, uint32_t offset)
{
    uint32_t at = PACK_HEADER_BYTES;
    uint32_t count = pack_count(pack);
    /* Bounded by the count: one step per entry. */
    for (uint32_t index = 0; index < count && at < offset; index++) {
        at += entry_size(pack, at);
    }
    return at == offset;
}
#endif

/* Shrinks the allocation to `bytes` when the heap can; keeps the old one when it cannot. */
static void shrink_to(struct pack **pack_pointer, struct heap *heap)
{
    struct pack *pack = *pack_pointer;
    struct pack *smaller = heap_resize(heap, pack, pack->bytes);
    if (smaller != NULL) {
        *pack_pointer = smaller;
    }
    KV_ASSERT(heap_usable_bytes(heap, *pack_pointer) >= (*pack_pointer)->bytes);
}

/* Makes room for `bytes` (more than now): in the allocation when it already holds them (a
 * shrink the heap could not serve may have left it larger), else by heap_resize. False when
 * the heap has no room; the pack is then untouched. */
static bool grow_to(struct pack **pack_pointer, struct heap *heap, uint64_t bytes)
{
    struct pack *pack = *pack_pointer;
    KV_ASSERT(bytes > pack->bytes && bytes <= PACK_BYTES_MAX);
    if (heap_usable_bytes(heap, pack) >= bytes) {
        return true;
    }
    struct pack *grown = heap_resize(heap, pack, bytes);
    if (grown == NULL) {
        return false;
    }
    KV_ASSERT(heap_usable_bytes(heap, grown) >= bytes);
    *pack_pointer = grown;
    return true;
}

/* ---- Create, release ------------------------------------------------------------------ */

/* Bytes the slices add as entries, or UINT64_MAX past PACK_BYTES_MAX (a bound to refuse). */
static uint64_t slices_bytes(const struct slice *slices, uint32_t slice_count, bool backward)
{
    uint64_t bytes = 0;
    /* Bounded by the caller's slice_count. */
    for (uint32_t index = 0; index < slice_count; index++) {
        bytes += pack_entry_bytes(slices[index].length, backward);
        if (bytes > PACK_BYTES_MAX) {
            return UINT64_MAX;
        }
    }
    return bytes;
}

struct pack *pack_create(struct heap *heap, bool backward, const struct slice *slices,
                         uint32_t slice_count)
{
    KV_ASSERT(slice_count == 0 || slices != NULL);
    uint64_t entries_bytes = slices_bytes(slices, slice_count, backward);
    if (entries_bytes > PACK_BYTES_MAX - PACK_HEADER_BYTES || slice_count > PACK_COUNT_MAX) {
        return NULL;
    }
    uint64_t bytes = PACK_HEADER_BYTES + entries_bytes;
    struct pack *pack = heap_alloc(heap, bytes);
    if (pack == NULL) {
        return NULL;
    }
    uint8_t *cursor = pack->entries;
    /* One entry per slice; slices_bytes() sized them all. */
    for (uint32_t index = 0; index < slice_count; index++) {
        cursor += entry_write(cursor, slices[index], backward);
    }
    header_set(pack, bytes, slice_count, backward);
    KV_ASSERT(cursor == pack_base(pack) + bytes);
    return pack;
}

void pack_release(struct heap *heap, struct pack *pack)
{
    KV_ASSERT(pack->bytes >= PACK_HEADER_BYTES);
    KV_ASSERT(heap_usable_bytes(heap, pack) >= pack->bytes);
    heap_release(heap, pack);
}

/* ---- Reading -------------------------------------------------------------------------- */

uint32_t pack_first(const struct pack *pack)
{
    KV_ASSERT(pack->bytes >= PACK_HEADER_BYTES);
    if (pack_count(pack) == 0) {
        KV_ASSERT(pack->bytes == PACK_HEADER_BYTES);
        return PACK_OFFSET_NONE;
    }
    return PACK_HEADER_BYTES;
}

uint32_t pack_next(const struct pack *pack, uint32_t offset)
{
    uint32_t next = offset + entry_size(pack, offset);
    KV_ASSERT(next > offset && next <= pack->bytes);
    return next == pack->bytes ? PACK_OFFSET_NONE : next;
}

uint32_t pack_prev(const struct pack *pack, uint32_t offset)
{
    KV_ASSERT(pack_backward(pack));
    KV_ASSERT(offset >= PACK_HEADER_BYTES && offset <= pack->bytes);
    if (offset == PACK_HEADER_BYTES) {
        return PACK_OFFSET_NONE;
    }
    uint32_t room = offset - PACK_HEADER_BYTES;
    uint32_t length = 0;
    uint32_t size = varint_read_reversed(pack_base_const(pack) + offset, room, &length);
    uint64_t entry_bytes = pack_entry_bytes(length, true);
    KV_ASSERT(entry_bytes <= room);
    uint32_t prev = offset - (uint32_t)entry_bytes;
    KV_ASSERT(varint_size_of_first(pack_base_const(pack)[prev]) == size);
    return prev;
}

uint32_t pack_last(const struct pack *pack)
{
    uint32_t count = pack_count(pack);
    if (count == 0) {
        return PACK_OFFSET_NONE;
    }
    if (pack_backward(pack)) {
        return pack_prev(pack, pack->bytes);
    }
    return pack_index(pack, count - 1);
}

struct slice pack_get(const struct pack *pack, uint32_t offset)
{
    uint32_t data_offset = 0;
    uint32_t length = entry_length(pack, offset, &data_offset);
    struct slice value = {pack_base_const(pack) + data_offset, length};
    KV_ASSERT(data_offset + (uint64_t)length <= pack->bytes);
    return value;
}

uint32_t pack_index(const struct pack *pack, uint32_t index)
{
    uint32_t count = pack_count(pack);
    KV_ASSERT(index < count);
    if (pack_backward(pack) && index >= count / 2) {
        /* From the end: count - index steps back, at most count / 2 + 1. */
        uint32_t offset = pack->bytes;
        for (uint32_t step = 0; step < count - index; step++) {
            offset = pack_prev(pack, offset);
        }
        KV_ASSERT(offset != PACK_OFFSET_NONE);
        return offset;
    }
    uint32_t offset = PACK_HEADER_BYTES;
    /* From the start: index steps forward, fewer than count. */
    for (uint32_t step = 0; step < index; step++) {
        offset += entry_size(pack, offset);
    }
    KV_ASSERT(offset < pack->bytes);
    return offset;
}

/* Whether the entry at `offset` holds `needle`; *next gets the offset after it. */
static bool entry_equal(const struct pack *pack, uint32_t offset, struct slice needle,
                        uint32_t *next)
{
    uint32_t data_offset = 0;
    uint32_t length = entry_length(pack, offset, &data_offset);
    *next = offset + (uint32_t)pack_entry_bytes(length, pack_backward(pack));
    return length == needle.length &&
           (length == 0 || memcmp(pack_base_const(pack) + data_offset, needle.bytes, length) == 0);
}

uint32_t pack_find(const struct pack *pack, uint32_t offset, struct slice needle)
{
    if (offset == PACK_OFFSET_NONE) {
        return PACK_OFFSET_NONE;
    }
    KV_DEBUG_ASSERT(offset_is_boundary(pack, offset));
    uint32_t count = pack_count(pack);
    /* Bounded by the count: never more steps than entries, and each step moves forward. */
    for (uint32_t step = 0; step < count && offset < pack->bytes; step++) {
        uint32_t next = 0;
        if (entry_equal(pack, offset, needle, &next)) {
            return offset;
        }
        offset = next;
    }
    KV_ASSERT(offset == pack->bytes);
    return PACK_OFFSET_NONE;
}

/* ---- Writing -------------------------------------------------------------------------- */

bool pack_insert(struct pack **pack_pointer, struct heap *heap, uint32_t offset,
                 const struct slice *slices, uint32_t slice_count)
{
    struct pack *pack = *pack_pointer;
    KV_ASSERT(offset >= PACK_HEADER_BYTES && offset <= pack->bytes);
    KV_DEBUG_ASSERT(offset_is_boundary(pack, offset));
    bool backward = pack_backward(pack);
    uint64_t added = slices_bytes(slices, slice_count, backward);
    uint64_t count = (uint64_t)pack_count(pack) + slice_count;
    if (added > PACK_BYTES_MAX - pack->bytes || count > PACK_COUNT_MAX) {
        return false;
    }
    /* Bounded by the caller's slice_count. */
    for (uint32_t index = 0; index < slice_count; index++) {
        assert_outside(pack, slices[index]);
    }
    if (slice_count == 0) {
        return true;
    }
    uint64_t bytes = pack->bytes + added;
    if (!grow_to(pack_pointer, heap, bytes)) {
        return false;
    }
    /* From here nothing can fail: open the gap, fill it. */
    struct pack *grown = *pack_pointer;
    uint8_t *base = pack_base(grown);
    memmove(base + offset + added, base + offset, grown->bytes - offset);
    uint8_t *cursor = base + offset;
    /* One entry per slice, filling the gap exactly. */
    for (uint32_t index = 0; index < slice_count; index++) {
        cursor += entry_write(cursor, slices[index], backward);
    }
    KV_ASSERT(cursor == base + offset + added);
    header_set(grown, bytes, count, backward);
    return true;
}

bool pack_append(struct pack **pack_pointer, struct heap *heap, struct slice value)
{
    return pack_insert(pack_pointer, heap, pack_end(*pack_pointer), &value, 1);
}

bool pack_prepend(struct pack **pack_pointer, struct heap *heap, struct slice value)
{
    return pack_insert(pack_pointer, heap, PACK_HEADER_BYTES, &value, 1);
}

void pack_delete(struct pack **pack_pointer, struct heap *heap, uint32_t offset,
                 uint32_t delete_count)
{
    struct pack *pack = *pack_pointer;
    KV_ASSERT(delete_count <= pack_count(pack));
    KV_DEBUG_ASSERT(offset_is_boundary(pack, offset));
    uint32_t end = offset;
    /* Bounded by delete_count, at most the count; entry_size asserts each lies inside. */
    for (uint32_t index = 0; index < delete_count; index++) {
        end += entry_size(pack, end);
    }
    KV_ASSERT(end <= pack->bytes);
    uint8_t *base = pack_base(pack);
    memmove(base + offset, base + end, pack->bytes - end);
    header_set(pack, pack->bytes - (end - offset), pack_count(pack) - delete_count,
               pack_backward(pack));
    shrink_to(pack_pointer, heap);
}

bool pack_replace(struct pack **pack_pointer, struct heap *heap, uint32_t offset,
                  struct slice value)
{
    struct pack *pack = *pack_pointer;
    KV_ASSERT(offset < pack->bytes);
    KV_DEBUG_ASSERT(offset_is_boundary(pack, offset));
    assert_outside(pack, value);
    bool backward = pack_backward(pack);
    uint32_t old_bytes = entry_size(pack, offset);
    uint64_t new_bytes = pack_entry_bytes(value.length, backward);
    uint32_t tail = offset + old_bytes;
    if (new_bytes > old_bytes) {
        if (new_bytes - old_bytes > PACK_BYTES_MAX - pack->bytes) {
            return false;
        }
        if (!grow_to(pack_pointer, heap, pack->bytes + (new_bytes - old_bytes))) {
            return false;
        }
        pack = *pack_pointer;
    }
    /* Move the tail first when growing (it would be overwritten), after writing when not:
     * the new entry only covers bytes of the old one then. */
    uint8_t *base = pack_base(pack);
    uint32_t tail_bytes = pack->bytes - tail;
    if (new_bytes > old_bytes) {
        memmove(base + offset + new_bytes, base + tail, tail_bytes);
    }
    uint32_t written = entry_write(base + offset, value, backward);
    if (new_bytes < old_bytes) {
        memmove(base + offset + new_bytes, base + tail, tail_bytes);
    }
    KV_ASSERT(written == new_bytes);
    header_set(pack, (uint64_t)pack->bytes - old_bytes + new_bytes, pack_count(pack), backward);
    if (new_bytes < old_bytes) {
        shrink_to(pack_pointer, heap);
    }
    return true;
}

/* ---- Pairs ---------------------------------------------------------------------------- */

uint32_t pack_pairs_find(const struct pack *pack, struct slice field, uint32_t *field_offset)
{
    uint32_t count = pack_count(pack);
    KV_ASSERT(count % 2 == 0);
    uint32_t offset = PACK_HEADER_BYTES;
    /* Bounded by the pairs: count / 2 fields compared, each value skipped unread. */
    for (uint32_t pair = 0; pair < count / 2; pair++) {
        uint32_t value_offset = 0;
        bool equal = entry_equal(pack, offset, field, &value_offset);
        if (equal) {
            if (field_offset != NULL) {
                *field_offset = offset;
            }
            return value_offset;
        }
        offset = value_offset + entry_size(pack, value_offset);
    }
    KV_ASSERT(offset == pack->bytes);
    return PACK_OFFSET_NONE;
}

bool pack_pairs_set(struct pack **pack_pointer, struct heap *heap, struct slice field,
                    struct slice value, bool *added)
{
    uint32_t value_offset = pack_pairs_find(*pack_pointer, field, NULL);
    if (value_offset != PACK_OFFSET_NONE) {
        *added = false;
        return pack_replace(pack_pointer, heap, value_offset, value);
    }
    struct slice pair[2] = {field, value};
    *added = true;
    return pack_insert(pack_pointer, heap, pack_end(*pack_pointer), pair, 2);
}

bool pack_pairs_delete(struct pack **pack_pointer, struct heap *heap, struct slice field)
{
    uint32_t field_offset = PACK_OFFSET_NONE;
    if (pack_pairs_find(*pack_pointer, field, &field_offset) == PACK_OFFSET_NONE) {
        return false;
    }
    pack_delete(pack_pointer, heap, field_offset, 2);
    KV_ASSERT(pack_count(*pack_pointer) % 2 == 0);
    return true;
}

/* ---- Checking ------------------------------------------------------------------------- */

/* Checks the entry at `offset` completely (without trusting it); returns its size. */
static uint32_t verify_entry(const struct pack *pack, uint32_t offset)
{
    const uint8_t *base = pack_base_const(pack);
    uint32_t room = pack->bytes - offset;
    uint32_t size = varint_size_of_first(base[offset]);
    KV_ASSERT(size != 0);
    KV_ASSERT(size <= room);
    uint32_t length = varint_decode(base + offset, size);
    KV_ASSERT(pack_varint_bytes(length) == size);
    uint64_t entry_bytes = pack_entry_bytes(length, pack_backward(pack));
    KV_ASSERT(entry_bytes <= room);
    if (pack_backward(pack)) {
        uint32_t end = offset + (uint32_t)entry_bytes;
        uint32_t back_length = 0;
        uint32_t back_size = varint_read_reversed(base + end, end - PACK_HEADER_BYTES,
                                                  &back_length);
        KV_ASSERT(back_size == size);
        KV_ASSERT(back_length == length);
    }
    return (uint32_t)entry_bytes;
}

void pack_verify(const struct pack *pack, const struct heap *heap)
{
    KV_ASSERT(pack->bytes >= PACK_HEADER_BYTES);
    KV_ASSERT(heap_usable_bytes(heap, pack) >= pack->bytes);
    uint32_t count = pack_count(pack);
    uint32_t offset = PACK_HEADER_BYTES;
    uint32_t seen = 0;
    /* Bounded by the bytes: every entry takes at least one. */
    while (offset < pack->bytes) {
        KV_ASSERT(seen < count);
        offset += verify_entry(pack, offset);
        seen++;
    }
    KV_ASSERT(offset == pack->bytes);
    KV_ASSERT(seen == count);
    if (pack_backward(pack) && count > 0) {
        /* The walk back from the end lands on the first entry after exactly count steps. */
        uint32_t back = pack->bytes;
        for (uint32_t step = 0; step < count; step++) {
            back = pack_prev(pack, back);
            KV_ASSERT(back != PACK_OFFSET_NONE);
        }
        KV_ASSERT(back == PACK_HEADER_BYTES);
    }
}
