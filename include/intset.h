/*
 * An intset: a set of distinct int64 values in ONE heap allocation, sorted ascending, every
 * value stored in the smallest width (1, 2, 4 or 8 bytes) that holds the smallest and the
 * largest of them. It is the compact encoding of a small set whose members are all integers
 * (Redis keeps such sets the same way, and SMEMBERS then answers in ascending order).
 *
 * Layout (in memory only, host order):
 *
 *   offset 0  uint32  header   count << 2 | width code (0: 1 byte, 1: 2, 2: 4, 3: 8)
 *   offset 4  values           count values of the width, ascending, no repeats
 *
 * Invariants (intset_verify): the width is the smallest that holds the first and the last
 * value (1 byte when empty), so it narrows again when a remove takes the value that needed
 * it; values strictly ascend; the allocation holds intset_bytes(). Lookups are a binary
 * search; add and remove move the values after the position (at most count).
 *
 * Bounds: at most INTSET_COUNT_MAX values (the count has 30 bits). An add resizes first
 * (the one step that can fail: false, set unchanged, the caller answers Redis's OOM error);
 * a remove never fails (it offers the smaller size to the heap and keeps the old allocation
 * if the heap cannot move it).
 */
#ifndef KV_INTSET_H
#define KV_INTSET_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"

struct intset {
    uint32_t header;   /* count << INTSET_WIDTH_BITS | width code */
    uint8_t values[];  /* count values of 1 << code bytes each, ascending */
};

#define INTSET_HEADER_BYTES 4u
#define INTSET_WIDTH_BITS 2u
#define INTSET_WIDTH_MASK ((1u << INTSET_WIDTH_BITS) - 1u)
#define INTSET_COUNT_MAX (UINT32_MAX >> INTSET_WIDTH_BITS)

static_assert(sizeof(struct intset) == INTSET_HEADER_BYTES, "the header is one 32-bit word");

static inline uint32_t intset_count(const struct intset *set)
{
    return set->header >> INTSET_WIDTH_BITS;
}

/* Bytes per value: 1, 2, 4 or 8. */
static inline uint32_t intset_width(const struct intset *set)
{
    return 1u << (set->header & INTSET_WIDTH_MASK);
}

/* The bytes the set's contents take (its allocation may be a size class larger). */
static inline uint64_t intset_bytes(const struct intset *set)
{
    return INTSET_HEADER_BYTES + (uint64_t)intset_count(set) * intset_width(set);
}

/* The smallest width (1, 2, 4 or 8 bytes) that holds `value`. */
uint32_t intset_width_for(int64_t value);

/* An empty set (width 1), or NULL when the heap has no room. */
KV_MUST_USE struct intset *intset_create(struct heap *heap);

void intset_release(struct heap *heap, struct intset *set);

/* Adds `value`: *added tells whether it was new. False when the heap has no room (or the set
 * holds INTSET_COUNT_MAX values); the set is then unchanged. */
KV_MUST_USE bool intset_add(struct intset **set, struct heap *heap, int64_t value, bool *added);

/* Removes `value`; false when it was not there. Never fails. */
bool intset_remove(struct intset **set, struct heap *heap, int64_t value);

/* Binary search: at most 64 steps. */
bool intset_contains(const struct intset *set, int64_t value);

/* The value at `index` (< count) in ascending order. */
int64_t intset_get(const struct intset *set, uint32_t index);

/* A member chosen by advancing the caller's xorshift64 state (non-zero) once. The set must
 * not be empty. */
int64_t intset_random(const struct intset *set, uint64_t *state);

/* Whether a member's bytes are an integer the way Redis decides it for an intset: the
 * canonical decimal form of an int64 (string2ll's rules: an optional '-', digits with no
 * leading zero, "0" alone for zero, so no "-0", "+1", " 1", "01"; within int64; at most 20
 * bytes). Sets *value when it is. */
KV_MUST_USE bool intset_member_parse(const uint8_t *bytes, uint32_t length, int64_t *value);

/* Checks the width code, the width being the smallest that holds the ends, strict order
 * (hence distinctness) and that the allocation holds the bytes. Asserts; O(count); no
 * scratch memory. */
void intset_verify(const struct intset *set, const struct heap *heap);

#endif
