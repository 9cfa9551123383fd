/*
 * Intsets: sorted distinct int64 values in one heap allocation behind a 4-byte header, every
 * value in the width of the widest end (layout in intset.h). Invariants: the width code is
 * 0..3 and the width is the smallest that holds the first and the last value (1 byte when
 * empty); values strictly ascend; the allocation holds the header plus count * width.
 *
 * A value that needs a wider width than the set's lies outside every value the set holds
 * (below the smallest or above the largest), so widening resizes, spreads the values from
 * the last to the first (each lands at or after its old bytes, never on one not yet moved)
 * and puts the new value at the front or the back. Removing the value that needed the width
 * narrows the set again, from the first to the last value. Values are read and written with
 * memcpy: an 8-byte value sits 4 bytes past an 8-aligned allocation.
 *
 * The module never allocates outside the heap it is given and never touches the OS.
 */
#include "intset.h"

#include <string.h>

#include "number.h"

/* A binary search over at most INTSET_COUNT_MAX values takes at most 31 halvings. */
#define INTSET_SEARCH_STEPS_MAX 32u

static_assert(INTSET_COUNT_MAX == (1u << 30) - 1u, "30 bits of count");
static_assert((1u << INTSET_WIDTH_MASK) == sizeof(int64_t), "code 3 is 8 bytes");

uint32_t intset_width_for(int64_t value)
{
    if (value >= INT8_MIN && value <= INT8_MAX) {
        return 1;
    }
    if (value >= INT16_MIN && value <= INT16_MAX) {
        return 2;
    }
    return value >= INT32_MIN && value <= INT32_MAX ? 4u : 8u;
}

/* The code of a width: log2 of it. */
static uint32_t width_code(uint32_t width)
{
    KV_ASSERT(width == 1 || width == 2 || width == 4 || width == 8);
    return (uint32_t)__builtin_ctz(width);
}

static void header_set(struct intset *set, uint64_t count, uint32_t width)
{
    KV_ASSERT(count <= INTSET_COUNT_MAX);
    set->header = (uint32_t)count << INTSET_WIDTH_BITS | width_code(width);
    KV_ASSERT(intset_width(set) == width);
}

static int64_t value_at(const struct intset *set, uint32_t width, uint32_t index)
{
    const uint8_t *at = set->values + (uint64_t)index * width;
    if (width == 1) {
        int8_t value;
        memcpy(&value, at, sizeof(value));
        return value;
    }
    if (width == 2) {
        int16_t value;
        memcpy(&value, at, sizeof(value));
        return value;
    }
    if (width == 4) {
        int32_t value;
        memcpy(&value, at, sizeof(value));
        return value;
    }
    KV_ASSERT(width == 8);
    int64_t value;
    memcpy(&value, at, sizeof(value));
    return value;
}

static void value_put(struct intset *set, uint32_t width, uint32_t index, int64_t value)
{
    KV_ASSERT(intset_width_for(value) <= width);
    uint8_t *at = set->values + (uint64_t)index * width;
    if (width == 1) {
        int8_t narrow = (int8_t)value;
        memcpy(at, &narrow, sizeof(narrow));
    } else if (width == 2) {
        int16_t narrow = (int16_t)value;
        memcpy(at, &narrow, sizeof(narrow));
    } else if (width == 4) {
        int32_t narrow = (int32_t)value;
        memcpy(at, &narrow, sizeof(narrow));
    } else {
        KV_ASSERT(width == 8);
        memcpy(at, &value, sizeof(value));
    }
}

/* Whether `value` is present; *position gets its index, or where it would go (the number of
 * values below it). */
static bool search(const struct intset *set, int64_t value, uint32_t *position)
{
    uint32_t width = intset_width(set);
    uint32_t low = 0;
    uint32_t high = intset_count(set);
    /* [low, high) holds the answer and halves each step: at most 31 steps. */
    for (uint32_t step = 0; low < high; step++) {
        KV_ASSERT(step < INTSET_SEARCH_STEPS_MAX);
        uint32_t middle = low + (high - low) / 2;
        int64_t at = value_at(set, width, middle);
        if (at == value) {
            *position = middle;
            return true;
        }
        if (at < value) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    *position = low;
    return false;
}

struct intset *intset_create(struct heap *heap)
{
    struct intset *set = heap_alloc(heap, INTSET_HEADER_BYTES);
    if (set == NULL) {
        return NULL;
    }
    header_set(set, 0, 1);
    KV_ASSERT(intset_bytes(set) == INTSET_HEADER_BYTES);
    return set;
}

void intset_release(struct heap *heap, struct intset *set)
{
    KV_ASSERT(heap_usable_bytes(heap, set) >= intset_bytes(set));
    heap_release(heap, set);
}

/* Adds a value the set's width holds and the set lacks, at `position`. */
static bool add_within(struct intset **set_pointer, struct heap *heap, int64_t value,
                       uint32_t position)
{
    struct intset *set = *set_pointer;
    uint32_t count = intset_count(set);
    uint32_t width = intset_width(set);
    KV_ASSERT(position <= count);
    struct intset *grown = heap_resize(heap, set, INTSET_HEADER_BYTES +
                                                      (uint64_t)(count + 1) * width);
    if (grown == NULL) {
        return false;
    }
    uint8_t *at = grown->values + (uint64_t)position * width;
    memmove(at + width, at, (uint64_t)(count - position) * width);
    value_put(grown, width, position, value);
    header_set(grown, count + 1, width);
    *set_pointer = grown;
    return true;
}

/* Adds a value the set's width cannot hold: it lies below or above every value there. */
static bool add_widening(struct intset **set_pointer, struct heap *heap, int64_t value)
{
    struct intset *set = *set_pointer;
    uint32_t count = intset_count(set);
    uint32_t width = intset_width(set);
    uint32_t wider = intset_width_for(value);
    KV_ASSERT(wider > width);
    struct intset *grown = heap_resize(heap, set, INTSET_HEADER_BYTES +
                                                      (uint64_t)(count + 1) * wider);
    if (grown == NULL) {
        return false;
    }
    /* A negative value is below them all and goes first; a positive one goes last. */
    uint32_t front = value < 0 ? 1u : 0u;
    /* Last to first: value i moves to bytes at or after its own, past every j < i. */
    for (uint32_t index = count; index > 0; index--) {
        value_put(grown, wider, index - 1 + front, value_at(grown, width, index - 1));
    }
    value_put(grown, wider, front == 1 ? 0 : count, value);
    header_set(grown, count + 1, wider);
    *set_pointer = grown;
    return true;
}

bool intset_add(struct intset **set_pointer, struct heap *heap, int64_t value, bool *added)
{
    struct intset *set = *set_pointer;
    *added = false;
    if (intset_width_for(value) <= intset_width(set)) {
        uint32_t position = 0;
        if (search(set, value, &position)) {
            return true;
        }
        if (intset_count(set) == INTSET_COUNT_MAX ||
            !add_within(set_pointer, heap, value, position)) {
            return false;
        }
    } else if (intset_count(set) == INTSET_COUNT_MAX ||
               !add_widening(set_pointer, heap, value)) {
        return false;
    }
    *added = true;
    KV_ASSERT(intset_count(*set_pointer) > 0);
    return true;
}

bool intset_remove(struct intset **set_pointer, struct heap *heap, int64_t value)
{
    struct intset *set = *set_pointer;
    uint32_t position = 0;
    if (!search(set, value, &position)) {
        return false;
    }
    uint32_t count = intset_count(set) - 1;
    uint32_t width = intset_width(set);
    uint8_t *at = set->values + (uint64_t)position * width;
    memmove(at, at + width, (uint64_t)(count - position) * width);
    uint32_t narrower = 1;
    if (count > 0) {
        uint32_t first_width = intset_width_for(value_at(set, width, 0));
        uint32_t last_width = intset_width_for(value_at(set, width, count - 1));
        narrower = first_width > last_width ? first_width : last_width;
    }
    KV_ASSERT(narrower <= width);
    /* First to last: value i moves to bytes at or before its own, each read before written. */
    for (uint32_t index = 0; narrower < width && index < count; index++) {
        value_put(set, narrower, index, value_at(set, width, index));
    }
    header_set(set, count, narrower);
    struct intset *smaller = heap_resize(heap, set, intset_bytes(set));
    if (smaller != NULL) {
        *set_pointer = smaller;
    }
    KV_ASSERT(heap_usable_bytes(heap, *set_pointer) >= intset_bytes(*set_pointer));
    return true;
}

bool intset_contains(const struct intset *set, int64_t value)
{
    uint32_t position = 0;
    return intset_width_for(value) <= intset_width(set) && search(set, value, &position);
}

int64_t intset_get(const struct intset *set, uint32_t index)
{
    KV_ASSERT(index < intset_count(set));
    return value_at(set, intset_width(set), index);
}

int64_t intset_random(const struct intset *set, uint64_t *state)
{
    KV_ASSERT(intset_count(set) > 0);
    KV_ASSERT(*state != 0);
    /* xorshift64 (Marsaglia's 13, 7, 17): never reaches 0 from a non-zero state. */
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return intset_get(set, (uint32_t)(x % intset_count(set)));
}

bool intset_member_parse(const uint8_t *bytes, uint32_t length, int64_t *value)
{
    /* number_parse_int64 follows Redis's string2ll to the byte (its tests and test_intset's
     * check the rules): the same text that makes Redis pick an intset makes kv pick one. */
    return number_parse_int64(bytes, length, value);
}

void intset_verify(const struct intset *set, const struct heap *heap)
{
    uint32_t count = intset_count(set);
    uint32_t width = intset_width(set);
    KV_ASSERT(width == 1 || width == 2 || width == 4 || width == 8);
    KV_ASSERT(heap_usable_bytes(heap, set) >= intset_bytes(set));
    if (count == 0) {
        KV_ASSERT(width == 1);
        return;
    }
    uint32_t first_width = intset_width_for(value_at(set, width, 0));
    uint32_t last_width = intset_width_for(value_at(set, width, count - 1));
    KV_ASSERT(width == (first_width > last_width ? first_width : last_width));
    /* Bounded by the count: each value once. */
    for (uint32_t index = 1; index < count; index++) {
        KV_ASSERT(value_at(set, width, index - 1) < value_at(set, width, index));
    }
}
