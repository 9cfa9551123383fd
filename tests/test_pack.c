/*
 * Proves the pack, with pack_verify() after every step. The varint: its size and exact bytes
 * at every boundary (127/128, 16383/16384, 2^21, 2^28, 2^32 - 1) and a round trip of random
 * values. Exact layouts of small forward and backward packs, byte for byte. Every varint
 * boundary inside real packs, both directions: an entry of each boundary length between two
 * short ones reads back, walks both ways, is found, and is replaced across the boundary and
 * back without disturbing its neighbours; entries of 0 bytes everywhere; the 2^28 boundary
 * (the 5-byte form) on a heap of its own. Pairs: fields found and values never mistaken for
 * fields, set and delete against a model. A seeded churn of inserts (1 to 3 slices, at any
 * index), appends, prepends, deletes of 1 to 3, replaces, finds, index reads and walks from
 * both ends, against a model (a plain array of entries), for forward and backward packs: after
 * every step the pack equals the model, its bytes are the sum of its entries' and its
 * allocation is exactly heap_rounded_bytes() of them. OOM: the same churn on a tiny heap kept
 * full by fillers: every write that fails leaves the pack byte-identical at the same address
 * and is shown to need an allocation the heap could not give, deletes never fail, and
 * failures do happen. Forked children show pack_verify() catching a wrong count, a short
 * total, a varint not in its shortest form, an invalid first byte and a back varint that
 * disagrees. The bytes per entry of the shapes the store will keep are printed and bounded.
 * KV_SEED replays a run; the seed prints on failure.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_abort.h"
#include "fixture.h"
#include "pack.h"

#define MIB (1024ull * 1024ull)

/* The model: at most MODEL_COUNT_MAX entries, each in a slot of MODEL_LENGTH_MAX bytes (room
 * for lengths on both sides of 16383/16384); a few spare slots hold values not yet written. */
#define MODEL_COUNT_MAX 160u
#define MODEL_SLOT_COUNT (MODEL_COUNT_MAX + 4u)
#define MODEL_LENGTH_MAX 16400u

/* Slices written by one insert, at most. */
#define INSERT_SLICES_MAX 3u

/* The tiny heap of the OOM churn, and the most fillers it can hold (8 bytes each). */
#define TINY_HEAP_BYTES (16u * HEAP_PAGE_BYTES)
#define FILLER_COUNT_MAX (TINY_HEAP_BYTES / 8u)

static uint64_t seed;

/* A heap in a region of its own, sized by heap_plan_bytes(). */
struct fixture {
    struct region region;
    struct heap heap;
};

static void fixture_open(struct fixture *fixture, uint64_t heap_bytes)
{
    char error[256];
    uint64_t plan_bytes = heap_plan_bytes(heap_bytes);
    if (region_map(&fixture->region, plan_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_pack: %s\n", error);
        exit(1);
    }
    heap_init(&fixture->heap, &fixture->region, heap_bytes);
    heap_verify(&fixture->heap);
}

static void fixture_close(struct fixture *fixture)
{
    region_unmap(&fixture->region);
}

static struct slice slice_of(const void *bytes, uint32_t length)
{
    struct slice value = {bytes, length};
    return value;
}

/* ---- The varint ----------------------------------------------------------------------- */

struct varint_case {
    uint32_t value;
    uint32_t size;
    uint8_t code[PACK_VARINT_BYTES_MAX];
};

static void test_varint(void)
{
    static const struct varint_case cases[] = {
        {0, 1, {0x00}},
        {1, 1, {0x01}},
        {127, 1, {0x7f}},
        {128, 2, {0x80, 0x80}},
        {300, 2, {0x81, 0x2c}},
        {16383, 2, {0xbf, 0xff}},
        {16384, 3, {0xc0, 0x40, 0x00}},
        {(1u << 21) - 1, 3, {0xdf, 0xff, 0xff}},
        {1u << 21, 4, {0xe0, 0x20, 0x00, 0x00}},
        {(1u << 28) - 1, 4, {0xef, 0xff, 0xff, 0xff}},
        {1u << 28, 5, {0xf0, 0x10, 0x00, 0x00, 0x00}},
        {UINT32_MAX, 5, {0xf0, 0xff, 0xff, 0xff, 0xff}},
    };
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        const struct varint_case *expected = &cases[index];
        uint8_t code[PACK_VARINT_BYTES_MAX + 1];
        memset(code, 0xee, sizeof(code));
        CHECK(pack_varint_bytes(expected->value) == expected->size);
        CHECK(pack_varint_write(code, expected->value) == expected->size);
        CHECK_BYTES(code, expected->size, expected->code, expected->size);
        CHECK(code[expected->size] == 0xee);
        uint32_t value = 0;
        CHECK(pack_varint_read(code, &value) == expected->size);
        CHECK(value == expected->value);
        CHECK(pack_entry_bytes(expected->value, false) ==
              (uint64_t)expected->value + expected->size);
        CHECK(pack_entry_bytes(expected->value, true) ==
              (uint64_t)expected->value + 2 * expected->size);
    }
    /* Random values of every size round trip and take the size their range says. */
    for (uint32_t round = 0; round < 100000; round++) {
        uint32_t value = (uint32_t)(prng_next() >> prng_below(32));
        uint8_t code[PACK_VARINT_BYTES_MAX];
        uint32_t size = pack_varint_write(code, value);
        uint32_t expected_size = value < (1u << 7)    ? 1
                                 : value < (1u << 14) ? 2
                                 : value < (1u << 21) ? 3
                                 : value < (1u << 28) ? 4
                                                      : 5;
        uint32_t back = 0;
        CHECK(size == expected_size);
        CHECK(pack_varint_read(code, &back) == size);
        CHECK(back == value);
    }
}

/* ---- Exact layouts -------------------------------------------------------------------- */

static void test_layout(struct heap *heap)
{
    struct slice values[3] = {slice_text("a"), slice_text(""), slice_text("bc")};
    struct pack *forward = pack_create(heap, false, values, 3);
    struct pack *backward = pack_create(heap, true, values, 3);
    struct pack *empty = pack_create(heap, true, NULL, 0);
    CHECK(forward != NULL && backward != NULL && empty != NULL);
    pack_verify(forward, heap);
    pack_verify(backward, heap);
    pack_verify(empty, heap);
    static const uint8_t forward_entries[] = {0x01, 'a', 0x00, 0x02, 'b', 'c'};
    static const uint8_t backward_entries[] = {0x01, 'a', 0x01, 0x00, 0x00, 0x02, 'b', 'c', 0x02};
    CHECK(forward->bytes == PACK_HEADER_BYTES + sizeof(forward_entries));
    CHECK(forward->count_flags == 3);
    CHECK_BYTES(forward->entries, forward->bytes - PACK_HEADER_BYTES, forward_entries,
                sizeof(forward_entries));
    CHECK(backward->bytes == PACK_HEADER_BYTES + sizeof(backward_entries));
    CHECK(backward->count_flags == (3u | PACK_FLAG_BACKWARD));
    CHECK_BYTES(backward->entries, backward->bytes - PACK_HEADER_BYTES, backward_entries,
                sizeof(backward_entries));
    CHECK(empty->bytes == PACK_HEADER_BYTES && pack_count(empty) == 0 && pack_backward(empty));
    CHECK(pack_first(empty) == PACK_OFFSET_NONE && pack_last(empty) == PACK_OFFSET_NONE);
    CHECK(pack_prev(empty, pack_end(empty)) == PACK_OFFSET_NONE);
    CHECK(pack_find(empty, pack_first(empty), slice_text("")) == PACK_OFFSET_NONE);
    /* A 200-byte entry: the 2-byte varint 0x80 0xc8, reversed at the end as 0xc8 0x80. */
    uint8_t long_value[200];
    memset(long_value, 'x', sizeof(long_value));
    CHECK(pack_append(&backward, heap, slice_of(long_value, sizeof(long_value))));
    const uint8_t *base = (const uint8_t *)backward;
    uint32_t at = PACK_HEADER_BYTES + sizeof(backward_entries);
    CHECK(base[at] == 0x80 && base[at + 1] == 0xc8);
    CHECK(base[backward->bytes - 2] == 0xc8 && base[backward->bytes - 1] == 0x80);
    CHECK(backward->bytes == at + 2 + 200 + 2);
    pack_verify(backward, heap);
    /* The offsets: first, next, prev, last, index, get. */
    CHECK(pack_first(backward) == PACK_HEADER_BYTES);
    CHECK(pack_next(backward, PACK_HEADER_BYTES) == PACK_HEADER_BYTES + 3);
    CHECK(pack_index(backward, 3) == at && pack_last(backward) == at);
    CHECK(pack_last(forward) == PACK_HEADER_BYTES + 3);
    CHECK(pack_prev(backward, at) == PACK_HEADER_BYTES + 5);
    CHECK(pack_next(backward, at) == PACK_OFFSET_NONE);
    struct slice got = pack_get(backward, pack_index(backward, 1));
    CHECK(got.length == 0);
    pack_release(heap, forward);
    pack_release(heap, backward);
    pack_release(heap, empty);
}

/* ---- Varint boundaries inside packs --------------------------------------------------- */

static uint8_t boundary_bytes[(1u << 21) + 2];

static void fill_pattern(uint8_t *bytes, uint32_t length, uint32_t salt)
{
    for (uint32_t index = 0; index < length; index++) {
        bytes[index] = (uint8_t)(index * 131u + salt * 7u + (index >> 8));
    }
}

/* Checks a pack holding "<", the entry `middle`, ">" in every way it can be read. */
static void check_three(const struct pack *pack, const struct heap *heap, struct slice middle)
{
    pack_verify(pack, heap);
    CHECK(pack_count(pack) == 3);
    bool backward = pack_backward(pack);
    CHECK(pack_bytes(pack) == PACK_HEADER_BYTES + 2 * pack_entry_bytes(1, backward) +
                                  pack_entry_bytes(middle.length, backward));
    uint32_t first = pack_first(pack);
    uint32_t second = pack_next(pack, first);
    uint32_t third = pack_next(pack, second);
    CHECK(pack_next(pack, third) == PACK_OFFSET_NONE);
    struct slice got = pack_get(pack, second);
    CHECK(got.length == middle.length && memcmp(got.bytes, middle.bytes, middle.length) == 0);
    CHECK(slice_equal(pack_get(pack, first), slice_text("<")));
    CHECK(slice_equal(pack_get(pack, third), slice_text(">")));
    CHECK(pack_index(pack, 1) == second && pack_index(pack, 2) == third);
    CHECK(pack_last(pack) == third);
    CHECK(pack_find(pack, first, middle) == second);
    CHECK(pack_find(pack, third, middle) == PACK_OFFSET_NONE);
    uint32_t size = 0;
    CHECK(pack_varint_read((const uint8_t *)pack + second, &size) ==
          pack_varint_bytes(middle.length));
    CHECK(size == middle.length);
    if (backward) {
        CHECK(pack_prev(pack, pack_end(pack)) == third);
        CHECK(pack_prev(pack, third) == second);
        CHECK(pack_prev(pack, second) == first);
        CHECK(pack_prev(pack, first) == PACK_OFFSET_NONE);
    }
    CHECK(heap_usable_bytes(heap, pack) == heap_rounded_bytes(pack_bytes(pack)));
}

static void test_boundary_length(struct heap *heap, bool backward, uint32_t length)
{
    KV_ASSERT(length + 1 < sizeof(boundary_bytes));
    fill_pattern(boundary_bytes, length + 1, length);
    struct slice middle = slice_of(boundary_bytes, length);
    struct slice values[3] = {slice_text("<"), middle, slice_text(">")};
    struct pack *pack = pack_create(heap, backward, values, 3);
    CHECK(pack != NULL);
    check_three(pack, heap, middle);
    /* Across the boundary and back: one byte longer, one shorter, then the original. */
    struct slice longer = slice_of(boundary_bytes, length + 1);
    CHECK(pack_replace(&pack, heap, pack_index(pack, 1), longer));
    check_three(pack, heap, longer);
    if (length > 0) {
        struct slice shorter = slice_of(boundary_bytes + 1, length - 1);
        CHECK(pack_replace(&pack, heap, pack_index(pack, 1), shorter));
        check_three(pack, heap, shorter);
    }
    CHECK(pack_replace(&pack, heap, pack_index(pack, 1), middle));
    check_three(pack, heap, middle);
    /* Built by insert instead of create: the same bytes. */
    struct slice ends[2] = {slice_text("<"), slice_text(">")};
    struct pack *built = pack_create(heap, backward, ends, 2);
    CHECK(built != NULL);
    CHECK(pack_insert(&built, heap, pack_index(built, 1), &middle, 1));
    CHECK(pack_bytes(built) == pack_bytes(pack));
    CHECK(memcmp(built, pack, pack_bytes(pack)) == 0);
    /* Deleting it leaves the two ends, then the empty pack. */
    pack_delete(&built, heap, pack_index(built, 1), 1);
    pack_verify(built, heap);
    CHECK(pack_count(built) == 2 && pack_bytes(built) == PACK_HEADER_BYTES +
                                                            2 * pack_entry_bytes(1, backward));
    pack_delete(&built, heap, pack_first(built), 2);
    pack_verify(built, heap);
    CHECK(pack_count(built) == 0 && pack_bytes(built) == PACK_HEADER_BYTES);
    pack_release(heap, built);
    pack_release(heap, pack);
}

static void test_boundaries(struct heap *heap)
{
    static const uint32_t lengths[] = {0, 1, 126, 127, 128, 129, 16382, 16383, 16384, 16385,
                                       (1u << 21) - 1, 1u << 21};
    for (uint32_t direction = 0; direction < 2; direction++) {
        for (uint32_t index = 0; index < sizeof(lengths) / sizeof(lengths[0]); index++) {
            test_boundary_length(heap, direction == 1, lengths[index]);
        }
    }
    heap_verify(heap);
}

/* A pack of empty entries: each takes one byte forward, two backward. */
static void test_empty_entries(struct heap *heap)
{
    for (uint32_t direction = 0; direction < 2; direction++) {
        bool backward = direction == 1;
        struct pack *pack = pack_create(heap, backward, NULL, 0);
        CHECK(pack != NULL);
        /* 1000 empty entries, alternately appended and prepended. */
        for (uint32_t index = 0; index < 1000; index++) {
            bool written = index % 2 == 0 ? pack_append(&pack, heap, slice_of(NULL, 0))
                                          : pack_prepend(&pack, heap, slice_of(NULL, 0));
            CHECK(written);
        }
        pack_verify(pack, heap);
        CHECK(pack_count(pack) == 1000);
        CHECK(pack_bytes(pack) == PACK_HEADER_BYTES + 1000u * (backward ? 2u : 1u));
        CHECK(pack_find(pack, pack_first(pack), slice_text("x")) == PACK_OFFSET_NONE);
        CHECK(pack_find(pack, pack_first(pack), slice_of(NULL, 0)) == pack_first(pack));
        CHECK(pack_index(pack, 999) == pack_bytes(pack) - (backward ? 2u : 1u));
        CHECK(pack_index(pack, 600) == PACK_HEADER_BYTES + 600u * (backward ? 2u : 1u));
        pack_delete(&pack, heap, pack_index(pack, 10), 990);
        pack_verify(pack, heap);
        CHECK(pack_count(pack) == 10);
        pack_release(heap, pack);
    }
}

/* The 5-byte form: entries of 2^28 - 1 and 2^28 bytes, on a heap of their own. */
static void test_huge_boundary(void)
{
    uint32_t lengths[2] = {(1u << 28) - 1, 1u << 28};
    uint8_t *source = malloc((1u << 28) + 1);
    CHECK(source != NULL);
    if (source == NULL) {
        return;
    }
    fill_pattern(source, (1u << 28) + 1, 5);
    struct fixture fixture;
    fixture_open(&fixture, 320 * MIB);
    struct heap *heap = &fixture.heap;
    for (uint32_t index = 0; index < 2; index++) {
        struct slice middle = slice_of(source, lengths[index]);
        struct slice values[3] = {slice_text("<"), middle, slice_text(">")};
        struct pack *pack = pack_create(heap, true, values, 3);
        CHECK(pack != NULL);
        if (pack == NULL) {
            continue;
        }
        check_three(pack, heap, middle);
        const uint8_t *base = (const uint8_t *)pack;
        uint32_t second = pack_index(pack, 1);
        CHECK(base[second] == (index == 0 ? 0xef : 0xf0));
        uint32_t back_first = second + (uint32_t)pack_entry_bytes(lengths[index], true) - 1;
        CHECK(base[back_first] == base[second]);
        /* Shrink it to one byte: from a span of pages to a size class. */
        CHECK(pack_replace(&pack, heap, second, slice_text("m")));
        check_three(pack, heap, slice_text("m"));
        CHECK(pack_bytes(pack) == PACK_HEADER_BYTES + 3 * 3);
        pack_release(heap, pack);
    }
    heap_verify(heap);
    CHECK(heap->used_bytes == 0);
    fixture_close(&fixture);
    free(source);
}

/* ---- The model ------------------------------------------------------------------------ */

struct model {
    uint32_t count;                        /* entries in the pack */
    uint32_t order[MODEL_COUNT_MAX];       /* each entry's slot, in pack order */
    uint32_t free_count;                   /* slots not holding an entry */
    uint32_t free_slots[MODEL_SLOT_COUNT]; /* a stack of them */
    uint32_t lengths[MODEL_SLOT_COUNT];    /* bytes in each slot */
    uint8_t bytes[MODEL_SLOT_COUNT][MODEL_LENGTH_MAX];
};

static struct model model;

static void model_reset(void)
{
    model.count = 0;
    model.free_count = MODEL_SLOT_COUNT;
    for (uint32_t index = 0; index < MODEL_SLOT_COUNT; index++) {
        model.free_slots[index] = index;
    }
}

/* A random length: short ones over a two-letter alphabet (so finds meet repeats), medium,
 * around 127/128, and (long_permille in 1000) around 16383/16384. */
static uint32_t random_length(uint32_t long_permille)
{
    uint32_t draw = prng_below(1000);
    if (draw < 400) {
        return prng_below(9);
    }
    if (draw < 800) {
        return 9 + prng_below(192);
    }
    if (draw < 1000 - long_permille) {
        return 120 + prng_below(16);
    }
    return 16378 + prng_below(12);
}

/* Takes a free slot and fills it with a random value. */
static uint32_t model_slot_fill(uint32_t long_permille)
{
    KV_ASSERT(model.free_count > 0);
    uint32_t slot = model.free_slots[--model.free_count];
    uint32_t length = random_length(long_permille);
    KV_ASSERT(length <= MODEL_LENGTH_MAX);
    for (uint32_t index = 0; index < length; index++) {
        model.bytes[slot][index] = length <= 8 ? (uint8_t)('a' + prng_below(2))
                                               : (uint8_t)prng_next();
    }
    model.lengths[slot] = length;
    return slot;
}

static void model_slot_release(uint32_t slot)
{
    KV_ASSERT(model.free_count < MODEL_SLOT_COUNT);
    model.free_slots[model.free_count++] = slot;
}

static struct slice model_slice(uint32_t slot)
{
    return slice_of(model.bytes[slot], model.lengths[slot]);
}

static struct slice model_entry(uint32_t index)
{
    KV_ASSERT(index < model.count);
    return model_slice(model.order[index]);
}

static void model_insert(uint32_t index, const uint32_t *slots, uint32_t slot_count)
{
    KV_ASSERT(index <= model.count && model.count + slot_count <= MODEL_COUNT_MAX);
    memmove(&model.order[index + slot_count], &model.order[index],
            (model.count - index) * sizeof(uint32_t));
    memcpy(&model.order[index], slots, slot_count * sizeof(uint32_t));
    model.count += slot_count;
}

static void model_delete(uint32_t index, uint32_t delete_count)
{
    KV_ASSERT(index + delete_count <= model.count);
    for (uint32_t position = index; position < index + delete_count; position++) {
        model_slot_release(model.order[position]);
    }
    memmove(&model.order[index], &model.order[index + delete_count],
            (model.count - index - delete_count) * sizeof(uint32_t));
    model.count -= delete_count;
}

static uint64_t model_bytes(bool backward)
{
    uint64_t bytes = PACK_HEADER_BYTES;
    for (uint32_t index = 0; index < model.count; index++) {
        bytes += pack_entry_bytes(model_entry(index).length, backward);
    }
    return bytes;
}

/* The pack equals the model: walked forward, and backward in a backward pack. */
static bool pack_matches_model(const struct pack *pack)
{
    bool same = pack_count(pack) == model.count &&
                pack_bytes(pack) == model_bytes(pack_backward(pack));
    uint32_t offset = pack_first(pack);
    for (uint32_t index = 0; same && index < model.count; index++) {
        same = offset != PACK_OFFSET_NONE &&
               slice_equal(pack_get(pack, offset), model_entry(index));
        offset = same ? pack_next(pack, offset) : PACK_OFFSET_NONE;
    }
    same = same && offset == PACK_OFFSET_NONE;
    if (same && pack_backward(pack)) {
        offset = pack_end(pack);
        for (uint32_t index = model.count; same && index > 0; index--) {
            offset = pack_prev(pack, offset);
            same = offset != PACK_OFFSET_NONE &&
                   slice_equal(pack_get(pack, offset), model_entry(index - 1));
        }
        same = same && pack_prev(pack, offset) == PACK_OFFSET_NONE;
    }
    return same;
}

/* ---- The churn ------------------------------------------------------------------------ */

/* One churn: its heap, its pack, its rules, and what happened. */
struct churn {
    struct heap *heap;
    struct pack *pack;
    bool pressure;          /* a tiny full heap: writes may fail */
    uint32_t long_permille; /* share of values around 16383/16384 */
    uint64_t failures;      /* writes that returned false */
    uint64_t writes;        /* writes tried */
    uint8_t snapshot[TINY_HEAP_BYTES]; /* the pack before a write, under pressure */
    struct pack *snapshot_pointer;
};

static struct churn churn_state;

static void churn_before_write(struct churn *churn)
{
    churn->writes++;
    if (churn->pressure) {
        KV_ASSERT(pack_bytes(churn->pack) <= sizeof(churn->snapshot));
        memcpy(churn->snapshot, churn->pack, pack_bytes(churn->pack));
        churn->snapshot_pointer = churn->pack;
    }
}

/* A write failed: only allowed under pressure, for a size the heap could not give, and the
 * pack must be untouched. */
static void churn_failed(struct churn *churn, uint64_t bytes_wanted)
{
    churn->failures++;
    CHECK(churn->pressure);
    CHECK(churn->pack == churn->snapshot_pointer);
    CHECK(memcmp(churn->snapshot, churn->pack, pack_bytes(churn->pack)) == 0);
    CHECK(heap_rounded_bytes(bytes_wanted) > heap_usable_bytes(churn->heap, churn->pack));
    CHECK(!heap_would_fit(churn->heap, bytes_wanted, 1));
}

static void churn_insert(struct churn *churn, uint32_t op)
{
    uint32_t room = MODEL_COUNT_MAX - model.count;
    uint32_t slice_count = op == 0 ? 1 + prng_below(INSERT_SLICES_MAX) : 1;
    if (slice_count > room) {
        return;
    }
    uint32_t index = op == 0 ? prng_below(model.count + 1) : op == 1 ? model.count : 0;
    uint32_t slots[INSERT_SLICES_MAX];
    struct slice slices[INSERT_SLICES_MAX];
    uint64_t added = 0;
    for (uint32_t position = 0; position < slice_count; position++) {
        slots[position] = model_slot_fill(churn->long_permille);
        slices[position] = model_slice(slots[position]);
        added += pack_entry_bytes(slices[position].length, pack_backward(churn->pack));
    }
    churn_before_write(churn);
    uint64_t wanted = pack_bytes(churn->pack) + added;
    bool written = false;
    if (op == 0) {
        uint32_t offset = index == model.count ? pack_end(churn->pack)
                                               : pack_index(churn->pack, index);
        written = pack_insert(&churn->pack, churn->heap, offset, slices, slice_count);
    } else if (op == 1) {
        written = pack_append(&churn->pack, churn->heap, slices[0]);
    } else {
        written = pack_prepend(&churn->pack, churn->heap, slices[0]);
    }
    if (written) {
        model_insert(index, slots, slice_count);
        return;
    }
    churn_failed(churn, wanted);
    for (uint32_t position = 0; position < slice_count; position++) {
        model_slot_release(slots[position]);
    }
}

static void churn_delete(struct churn *churn)
{
    if (model.count == 0) {
        return;
    }
    uint32_t index = prng_below(model.count);
    uint32_t most = model.count - index < INSERT_SLICES_MAX ? model.count - index
                                                            : INSERT_SLICES_MAX;
    uint32_t delete_count = 1 + prng_below(most);
    churn->writes++;
    pack_delete(&churn->pack, churn->heap, pack_index(churn->pack, index), delete_count);
    model_delete(index, delete_count);
}

static void churn_replace(struct churn *churn)
{
    if (model.count == 0) {
        return;
    }
    uint32_t index = prng_below(model.count);
    uint32_t slot = model_slot_fill(churn->long_permille);
    struct slice value = model_slice(slot);
    bool backward = pack_backward(churn->pack);
    uint64_t wanted = pack_bytes(churn->pack) + pack_entry_bytes(value.length, backward) -
                      pack_entry_bytes(model_entry(index).length, backward);
    churn_before_write(churn);
    if (pack_replace(&churn->pack, churn->heap, pack_index(churn->pack, index), value)) {
        model_slot_release(model.order[index]);
        model.order[index] = slot;
        return;
    }
    churn_failed(churn, wanted);
    model_slot_release(slot);
}

/* A find from a random entry, of a value present (maybe repeated) or random. */
static void churn_find(struct churn *churn)
{
    uint32_t start = model.count == 0 ? 0 : prng_below(model.count);
    uint32_t slot = model_slot_fill(churn->long_permille);
    struct slice needle = model.count > 0 && prng_below(2) == 0
                              ? model_entry(prng_below(model.count))
                              : model_slice(slot);
    uint32_t expected = PACK_OFFSET_NONE;
    for (uint32_t index = start; index < model.count; index++) {
        if (slice_equal(model_entry(index), needle)) {
            expected = pack_index(churn->pack, index);
            break;
        }
    }
    uint32_t from = model.count == 0 ? PACK_OFFSET_NONE : pack_index(churn->pack, start);
    CHECK(pack_find(churn->pack, from, needle) == expected);
    model_slot_release(slot);
}

/* Reads by index and from the last entry. */
static void churn_read(struct churn *churn)
{
    if (model.count == 0) {
        CHECK(pack_last(churn->pack) == PACK_OFFSET_NONE);
        return;
    }
    uint32_t index = prng_below(model.count);
    CHECK(slice_equal(pack_get(churn->pack, pack_index(churn->pack, index)), model_entry(index)));
    CHECK(slice_equal(pack_get(churn->pack, pack_last(churn->pack)),
                      model_entry(model.count - 1)));
}

static void churn_step(struct churn *churn)
{
    /* Inserts lead below half the model's room, deletes above it: the count wanders around
     * the middle and touches both ends. */
    uint32_t op = prng_below(10);
    bool grow = model.count < MODEL_COUNT_MAX / 2 ? prng_below(10) < 6 : prng_below(10) < 4;
    if (op < 5) {
        if (grow) {
            churn_insert(churn, op % 3);
        } else {
            churn_delete(churn);
        }
    } else if (op < 7) {
        churn_replace(churn);
    } else if (op < 9) {
        churn_find(churn);
    } else {
        churn_read(churn);
    }
}

/* The roomy churn: every write succeeds and the allocation is exactly the rounded size. */
static void churn_run(struct heap *heap, bool backward, uint32_t steps, uint32_t long_permille)
{
    struct churn *churn = &churn_state;
    memset(churn, 0, sizeof(*churn));
    churn->heap = heap;
    churn->long_permille = long_permille;
    model_reset();
    churn->pack = pack_create(heap, backward, NULL, 0);
    CHECK(churn->pack != NULL);
    uint64_t failures_before = (uint64_t)check_failures;
    for (uint32_t step = 0; step < steps && (uint64_t)check_failures == failures_before; step++) {
        churn_step(churn);
        pack_verify(churn->pack, heap);
        CHECK(pack_matches_model(churn->pack));
        CHECK(heap_usable_bytes(heap, churn->pack) == heap_rounded_bytes(pack_bytes(churn->pack)));
        if ((uint64_t)check_failures != failures_before) {
            fprintf(stderr, "pack churn (%s) failed at step %u (KV_SEED=%llu)\n",
                    backward ? "backward" : "forward", step, (unsigned long long)seed);
        }
    }
    CHECK(churn->failures == 0);
    printf("test_pack: churn %s: %u steps, %llu writes\n", backward ? "backward" : "forward",
           steps, (unsigned long long)churn->writes);
    pack_release(heap, churn->pack);
}

/* ---- OOM ------------------------------------------------------------------------------ */

static void *fillers[FILLER_COUNT_MAX];
static uint32_t filler_count;

/* Takes 8-byte objects until the heap says no: every page is then in use. */
static void fill_heap(struct heap *heap)
{
    /* Bounded by the fillers the tiny heap can hold. */
    while (filler_count < FILLER_COUNT_MAX) {
        void *filler = heap_alloc(heap, 8);
        if (filler == NULL) {
            break;
        }
        fillers[filler_count++] = filler;
    }
    CHECK(filler_count < FILLER_COUNT_MAX);
}

/* Releases the newest fillers: they share spans, so whole pages come free. */
static void release_fillers(struct heap *heap, uint32_t release_count)
{
    for (uint32_t round = 0; round < release_count && filler_count > 0; round++) {
        heap_release(heap, fillers[--filler_count]);
    }
}

/* The churn on a tiny heap that fillers keep full: now and then a few fillers go, and the
 * heap is filled again, so writes meet a heap with a little room, or none. */
static void test_oom(bool backward, uint32_t steps)
{
    struct fixture fixture;
    fixture_open(&fixture, TINY_HEAP_BYTES);
    struct heap *heap = &fixture.heap;
    struct churn *churn = &churn_state;
    memset(churn, 0, sizeof(*churn));
    churn->heap = heap;
    churn->pressure = true;
    model_reset();
    churn->pack = pack_create(heap, backward, NULL, 0);
    CHECK(churn->pack != NULL);
    filler_count = 0;
    fill_heap(heap);
    CHECK(pack_create(heap, backward, NULL, 0) == NULL);
    uint64_t failures_before = (uint64_t)check_failures;
    for (uint32_t step = 0; step < steps && (uint64_t)check_failures == failures_before; step++) {
        if (prng_below(64) == 0) {
            release_fillers(heap, 1 + prng_below(2000));
        } else if (prng_below(16) == 0) {
            fill_heap(heap);
        }
        churn_step(churn);
        pack_verify(churn->pack, heap);
        CHECK(pack_matches_model(churn->pack));
        if ((uint64_t)check_failures != failures_before) {
            fprintf(stderr, "pack OOM churn (%s) failed at step %u (KV_SEED=%llu)\n",
                    backward ? "backward" : "forward", step, (unsigned long long)seed);
        }
    }
    heap_verify(heap);
    printf("test_pack: OOM %s: %u steps, %llu writes, %llu refused\n",
           backward ? "backward" : "forward", steps, (unsigned long long)churn->writes,
           (unsigned long long)churn->failures);
    CHECK(churn->failures > churn->writes / 100);
    CHECK(churn->failures < churn->writes);
    fixture_close(&fixture);
}

/* ---- Pairs ---------------------------------------------------------------------------- */

#define PAIRS_FIELDS_MAX 40u

/* A hash against a model: field i is "f<i>" when present; a value may equal another field's
 * name, which must never be taken for a field. */
static void test_pairs(struct heap *heap, bool backward)
{
    bool present[PAIRS_FIELDS_MAX] = {false};
    uint32_t values[PAIRS_FIELDS_MAX] = {0};
    uint32_t present_count = 0;
    struct pack *pack = pack_create(heap, backward, NULL, 0);
    CHECK(pack != NULL);
    for (uint32_t step = 0; step < 20000; step++) {
        char field[16];
        char value[16];
        uint32_t field_index = prng_below(PAIRS_FIELDS_MAX);
        snprintf(field, sizeof(field), "f%u", field_index);
        if (prng_below(3) != 0) {
            uint32_t value_index = prng_below(PAIRS_FIELDS_MAX);
            snprintf(value, sizeof(value), "f%u", value_index);
            bool added = false;
            CHECK(pack_pairs_set(&pack, heap, slice_text(field), slice_text(value), &added));
            CHECK(added == !present[field_index]);
            present_count += added ? 1 : 0;
            present[field_index] = true;
            values[field_index] = value_index;
        } else {
            bool deleted = pack_pairs_delete(&pack, heap, slice_text(field));
            CHECK(deleted == present[field_index]);
            present_count -= deleted ? 1 : 0;
            present[field_index] = false;
        }
        pack_verify(pack, heap);
        CHECK(pack_count(pack) == 2 * present_count);
        uint32_t probe = prng_below(PAIRS_FIELDS_MAX);
        snprintf(field, sizeof(field), "f%u", probe);
        uint32_t field_offset = PACK_OFFSET_NONE;
        uint32_t value_offset = pack_pairs_find(pack, slice_text(field), &field_offset);
        CHECK((value_offset != PACK_OFFSET_NONE) == present[probe]);
        if (present[probe] && value_offset != PACK_OFFSET_NONE) {
            snprintf(value, sizeof(value), "f%u", values[probe]);
            CHECK(slice_equal(pack_get(pack, value_offset), slice_text(value)));
            CHECK(slice_equal(pack_get(pack, field_offset), slice_text(field)));
            CHECK(pack_next(pack, field_offset) == value_offset);
        }
    }
    pack_release(heap, pack);
}

/* ---- Memory --------------------------------------------------------------------------- */

static void report_memory(struct heap *heap)
{
    uint8_t value[50];
    struct slice values[20];
    memset(value, 'v', sizeof(value));
    for (uint32_t index = 0; index < 10; index++) {
        values[index] = slice_of(value, sizeof(value));
    }
    for (uint32_t direction = 0; direction < 2; direction++) {
        struct pack *pack = pack_create(heap, direction == 1, values, 10);
        CHECK(pack != NULL);
        uint64_t usable = heap_usable_bytes(heap, pack);
        printf("test_pack: 10 entries of 50 bytes (%s): %u bytes, %llu allocated, %.1f per entry\n",
               direction == 1 ? "backward" : "forward", pack_bytes(pack),
               (unsigned long long)usable, (double)usable / 10.0);
        CHECK(pack_bytes(pack) == (direction == 1 ? 528u : 518u));
        CHECK(usable == heap_rounded_bytes(pack_bytes(pack)) && usable == 544);
        pack_release(heap, pack);
    }
    static const char field_text[10][7] = {"name:0", "name:1", "name:2", "name:3", "name:4",
                                           "name:5", "name:6", "name:7", "name:8", "name:9"};
    for (uint32_t index = 0; index < 10; index++) {
        values[2 * index] = slice_of(field_text[index], 6);
        values[2 * index + 1] = slice_of(value, 20);
    }
    struct pack *pairs = pack_create(heap, false, values, 20);
    CHECK(pairs != NULL);
    uint64_t usable = heap_usable_bytes(heap, pairs);
    printf("test_pack: 10 pairs of 6 + 20 bytes: %u bytes, %llu allocated, %.1f per pair\n",
           pack_bytes(pairs), (unsigned long long)usable, (double)usable / 10.0);
    CHECK(pack_bytes(pairs) == 288);
    CHECK(usable == 288);
    pack_release(heap, pairs);
}

/* ---- verify catches corruption -------------------------------------------------------- */

struct corrupt_case {
    struct heap *heap;
    bool backward;
    uint32_t position; /* byte to overwrite, or UINT32_MAX for none */
    uint8_t byte;      /* what to write there */
    int32_t bytes_delta; /* added to the header's bytes */
    int32_t count_delta; /* added to the header's count */
};

static void corrupt_and_verify(void *context)
{
    const struct corrupt_case *corrupt = context;
    struct slice values[3] = {slice_text("one"), slice_text("two"), slice_text("three")};
    struct pack *pack = pack_create(corrupt->heap, corrupt->backward, values, 3);
    KV_ASSERT(pack != NULL);
    uint8_t *base = (uint8_t *)pack;
    if (corrupt->position != UINT32_MAX) {
        base[corrupt->position] = corrupt->byte;
    }
    pack->bytes = (uint32_t)((int64_t)pack->bytes + corrupt->bytes_delta);
    pack->count_flags = (uint32_t)((int64_t)pack->count_flags + corrupt->count_delta);
    pack_verify(pack, corrupt->heap);
}

static void test_verify_catches(struct heap *heap)
{
    /* Forward "one","two","three": 03 o n e | 03 t w o | 05 t h r e e, from offset 8. */
    struct corrupt_case cases[] = {
        {heap, false, UINT32_MAX, 0, 0, 1},
        {heap, false, UINT32_MAX, 0, 0, -1},
        {heap, false, UINT32_MAX, 0, -1, 0},
        {heap, false, PACK_HEADER_BYTES, 0xf8, 0, 0},
        {heap, true, PACK_HEADER_BYTES + 4, 0x02, 0, 0},
    };
    const char *expressions[] = {"seen == count", "seen < count", "entry_bytes <= room",
                                 "size != 0", "back_length == length"};
    for (uint32_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        CHECK(check_dies_asserting(corrupt_and_verify, &cases[index], expressions[index]));
    }
}

/* A varint not in its shortest form: the length 3 written as 0x80 0x03. */
static void long_form_and_verify(void *context)
{
    struct heap *heap = context;
    struct pack *pack = heap_alloc(heap, PACK_HEADER_BYTES + 5);
    KV_ASSERT(pack != NULL);
    pack->bytes = PACK_HEADER_BYTES + 5;
    pack->count_flags = 1;
    memcpy(pack->entries, "\x80\x03one", 5);
    pack_verify(pack, heap);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                             : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    printf("test_pack: KV_SEED=%llu\n", (unsigned long long)seed);
    test_varint();
    struct fixture fixture;
    fixture_open(&fixture, 32 * MIB);
    struct heap *heap = &fixture.heap;
    test_layout(heap);
    test_boundaries(heap);
    test_empty_entries(heap);
    test_pairs(heap, false);
    test_pairs(heap, true);
    report_memory(heap);
    test_verify_catches(heap);
    CHECK(check_dies_asserting(long_form_and_verify, heap, "pack_varint_bytes(length) == size"));
    churn_run(heap, false, 20000, 20);
    churn_run(heap, true, 20000, 20);
    heap_verify(heap);
    CHECK(heap->used_bytes == 0);
    fixture_close(&fixture);
    test_huge_boundary();
    test_oom(false, 20000);
    test_oom(true, 20000);
    if (check_failures != 0) {
        fprintf(stderr, "test_pack: KV_SEED=%llu\n", (unsigned long long)seed);
    }
    return check_exit("test_pack");
}
