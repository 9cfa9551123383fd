/*
 * A pack: a sequence of byte strings in ONE heap allocation, the compact encoding of small
 * lists, hashes, sets and sorted sets (Redis keeps the same collections in a listpack).
 *
 * Layout (every multi-byte header field in host order; a pack lives only in memory):
 *
 *   offset 0  uint32  bytes        the whole pack, header included
 *   offset 4  uint32  count_flags  entries in bits 0..30; bit 31 set: a backward pack
 *   offset 8  entries, back to back, up to `bytes`; no terminator
 *
 *   entry (forward pack):   varint(length) | length bytes
 *   entry (backward pack):  varint(length) | length bytes | reversed varint(length)
 *
 * The varint is a prefix code: its first byte says how many bytes follow, so it reads in
 * one step from either end. The value's bits are stored most significant first:
 *
 *   0xxxxxxx                         1 byte    0 .. 127
 *   10xxxxxx + 1 byte                2 bytes   128 .. 16383            (14 bits)
 *   110xxxxx + 2 bytes               3 bytes   16384 .. 2^21 - 1       (21 bits)
 *   1110xxxx + 3 bytes               4 bytes   2^21 .. 2^28 - 1        (28 bits)
 *   11110000 + 4 bytes               5 bytes   2^28 .. 2^32 - 1        (32 bits)
 *
 * Every length takes the shortest form (pack_verify checks it), so a pack's bytes follow
 * from its contents. The reversed varint is the same bytes in the opposite order: the byte
 * just before the next entry is the varint's first byte, so a walk from the end reads the
 * length there and jumps over the entry (pack_prev). It repeats the length (not the entry's
 * whole size), so both varints of an entry have the same size and verify can compare them.
 * Lists use backward packs (RPOP, LINDEX -1, LRANGE with negative ranges); hashes, sets and
 * sorted sets use forward packs and save that byte or more per entry.
 *
 * Offsets: an entry is named by the offset of its first byte from the pack's start, a
 * uint32_t. PACK_OFFSET_NONE (0, inside the header) names no entry; pack_end() (== bytes)
 * is the position after the last entry, where an insert appends.
 *
 * Bounds: a pack holds at most PACK_BYTES_MAX bytes and PACK_COUNT_MAX entries; an entry at
 * most PACK_ENTRY_LENGTH_MAX bytes (the longest that fits an otherwise empty backward pack).
 * Every walk is bounded by the count. The store keeps packs far smaller (it converts to its
 * big encodings past its thresholds); a write past these bounds fails like a full heap.
 *
 * Writes change the size with heap_resize, which may move the pack, so they take the pack by
 * pointer-to-pointer. A write that grows the pack fails (false) when the heap has no room or
 * a bound would be passed, and then the pack is unchanged: the caller answers Redis's OOM
 * error. Writes that shrink it never fail: they shrink in place and then ask the heap for a
 * smaller allocation, keeping the larger one when the heap cannot move it. A slice written
 * into a pack must not point into that pack (resize could move it first); this asserts.
 */
#ifndef KV_PACK_H
#define KV_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

struct pack {
    uint32_t bytes;       /* the whole pack: header plus entries */
    uint32_t count_flags; /* entries (bits 0..30) | PACK_FLAG_BACKWARD */
    uint8_t entries[];    /* the entries, bytes - PACK_HEADER_BYTES of them */
};

#define PACK_HEADER_BYTES 8u
#define PACK_FLAG_BACKWARD (1u << 31)

/* Names no entry: offset 0 lies in the header. */
#define PACK_OFFSET_NONE 0u

/* The largest pack: its size must fit the 32-bit bytes field. */
#define PACK_BYTES_MAX UINT32_MAX

/* The most entries: the count has 31 bits, the flag takes the last one. */
#define PACK_COUNT_MAX (PACK_FLAG_BACKWARD - 1u)

/* A varint takes at most 5 bytes (a 32-bit length). */
#define PACK_VARINT_BYTES_MAX 5u

/* The longest entry: what an empty backward pack has room for. */
#define PACK_ENTRY_LENGTH_MAX (PACK_BYTES_MAX - PACK_HEADER_BYTES - 2u * PACK_VARINT_BYTES_MAX)

static_assert(sizeof(struct pack) == PACK_HEADER_BYTES, "the header is two 32-bit words");
static_assert(PACK_HEADER_BYTES > PACK_OFFSET_NONE, "no entry starts at PACK_OFFSET_NONE");

static inline uint32_t pack_count(const struct pack *pack)
{
    return pack->count_flags & PACK_COUNT_MAX;
}

/* The bytes the pack's contents take (its allocation may be a size class larger). */
static inline uint32_t pack_bytes(const struct pack *pack)
{
    return pack->bytes;
}

static inline bool pack_backward(const struct pack *pack)
{
    return (pack->count_flags & PACK_FLAG_BACKWARD) != 0;
}

/* The position after the last entry: insert there to append; pack_prev from there is the
 * last entry. */
static inline uint32_t pack_end(const struct pack *pack)
{
    return pack->bytes;
}

/* ---- The varint (the format's length code; exposed for tests and size planning) ---- */

/* Bytes the varint of `value` takes: 1 to PACK_VARINT_BYTES_MAX. */
uint32_t pack_varint_bytes(uint32_t value);

/* Writes the varint of `value` at `target` (room for pack_varint_bytes(value)); returns its
 * size. */
uint32_t pack_varint_write(uint8_t *target, uint32_t value);

/* Reads the varint at `source` (which must hold all of it); returns its size and sets
 * *value. Asserts the first byte is a valid one. */
uint32_t pack_varint_read(const uint8_t *source, uint32_t *value);

/* Bytes an entry of `length` bytes takes in a pack of that direction. */
uint64_t pack_entry_bytes(uint32_t length, bool backward);

/* ---- Create, release ---- */

/* A pack holding the slices in order (slice_count may be 0). NULL when the heap has no room
 * or the slices pass a bound. */
KV_MUST_USE struct pack *pack_create(struct heap *heap, bool backward, const struct slice *slices,
                                     uint32_t slice_count);

void pack_release(struct heap *heap, struct pack *pack);

/* ---- Reading (no writes, no allocation; O(1) unless marked) ---- */

/* The first entry, or PACK_OFFSET_NONE when the pack is empty. */
uint32_t pack_first(const struct pack *pack);

/* The entry after the one at `offset`, or PACK_OFFSET_NONE after the last. */
uint32_t pack_next(const struct pack *pack, uint32_t offset);

/* Backward packs only: the entry before the one at `offset` (which may be pack_end()), or
 * PACK_OFFSET_NONE before the first. */
uint32_t pack_prev(const struct pack *pack, uint32_t offset);

/* The last entry, or PACK_OFFSET_NONE when empty. O(1) in a backward pack; a forward pack
 * walks from the first (O(count)). */
uint32_t pack_last(const struct pack *pack);

/* The bytes of the entry at `offset`; they stay valid until the pack is next written. */
struct slice pack_get(const struct pack *pack, uint32_t offset);

/* The offset of entry `index` (< count). O(index) in a forward pack; a backward pack walks
 * from the nearer end. */
uint32_t pack_index(const struct pack *pack, uint32_t index);

/* The first entry at or after `offset` (an entry, or PACK_OFFSET_NONE for nothing) equal to
 * `needle`, or PACK_OFFSET_NONE. Linear: at most count entries. */
uint32_t pack_find(const struct pack *pack, uint32_t offset, struct slice needle);

/* ---- Writing ---- */

/* Inserts the slices, in order, before the entry at `offset` (or at pack_end() to append).
 * The first inserted entry then sits at `offset`. False: no room, pack unchanged. */
KV_MUST_USE bool pack_insert(struct pack **pack, struct heap *heap, uint32_t offset,
                             const struct slice *slices, uint32_t slice_count);

KV_MUST_USE bool pack_append(struct pack **pack, struct heap *heap, struct slice value);

KV_MUST_USE bool pack_prepend(struct pack **pack, struct heap *heap, struct slice value);

/* Deletes `delete_count` entries starting with the one at `offset` (there must be that many).
 * Never fails. The entry after the deleted ones, if any, then sits at `offset`. */
void pack_delete(struct pack **pack, struct heap *heap, uint32_t offset, uint32_t delete_count);

/* Replaces the entry at `offset` with `value`; it stays at `offset`. False: no room to grow,
 * pack unchanged. A replacement no longer than the old entry never fails. */
KV_MUST_USE bool pack_replace(struct pack **pack, struct heap *heap, uint32_t offset,
                              struct slice value);

/* ---- Pairs: a hash (or a sorted set) stores field, value, field, value, ... ---- */

/* The offset of the value paired with `field`, or PACK_OFFSET_NONE; *field_offset (when not
 * NULL) gets the field's offset. Compares fields only: at most count / 2 of them. */
uint32_t pack_pairs_find(const struct pack *pack, struct slice field, uint32_t *field_offset);

/* Sets field to value: replaces the value of an existing field (*added = false) or appends
 * the pair (*added = true). False: no room, pack unchanged. */
KV_MUST_USE bool pack_pairs_set(struct pack **pack, struct heap *heap, struct slice field,
                                struct slice value, bool *added);

/* Deletes the pair of `field`; false when there is none. Never fails. */
bool pack_pairs_delete(struct pack **pack, struct heap *heap, struct slice field);

/* ---- Checking ---- */

/* Walks every entry: each varint is valid and shortest, each entry lies inside the pack, a
 * backward entry's two varints agree, the entries counted equal the count and end exactly at
 * `bytes`, and the allocation holds `bytes`. Asserts on a failure; uses no scratch memory.
 * O(count). */
void pack_verify(const struct pack *pack, const struct heap *heap);

#endif
