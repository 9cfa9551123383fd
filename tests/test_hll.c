/*
 * Proves hll.c keeps Redis 7.0's HyperLogLog: the bytes redis-server 7.0.15 wrote for PFADD of
 * "a", "b", "c" and of "" (taken from it), its counts for "e0".."e<n-1>" (1, 10, 100, 1008,
 * 9973, 100853), the sparse encoding round-tripping random registers against a plain array
 * (decode, merge and promotion give the same registers), promotion at hll-sparse-max-bytes
 * (never longer while sparse) and past the VAL maximum 32, dense registers 0..63 without
 * disturbing neighbours, equal estimates from sparse, dense and raw registers, the cache
 * bits, the corrupt values Redis refuses, and a cut-off last XZERO read and split as Redis does
 * it (the byte past the end). Seeded PRNG; the seed is printed on failure.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "hll.h"

static uint64_t prng_state;

static uint64_t prng_next(void)
{
    prng_state ^= prng_state << 13;
    prng_state ^= prng_state >> 7;
    prng_state ^= prng_state << 17;
    return prng_state;
}

static uint8_t work_bytes[HLL_WORK_BYTES];
static uint8_t dense_bytes[HLL_DENSE_BYTES];
static uint8_t registers[HLL_REGISTER_COUNT];
static uint8_t expected[HLL_REGISTER_COUNT];

static struct hll_work work_new(uint64_t sparse_bytes_max)
{
    struct hll_work work = {.bytes = work_bytes,
                            .length = 0,
                            .capacity = HLL_WORK_BYTES,
                            .dense = dense_bytes,
                            .sparse_bytes_max = sparse_bytes_max};
    work.length = hll_create(work.bytes);
    return work;
}

static struct slice work_value(const struct hll_work *work)
{
    return (struct slice){.bytes = work->bytes, .length = work->length};
}

static struct slice text(const char *string)
{
    return (struct slice){.bytes = (const uint8_t *)string, .length = (uint32_t)strlen(string)};
}

/* The registers a value holds, through hll_merge into zeros. */
static bool registers_of(struct slice value)
{
    memset(registers, 0, sizeof(registers));
    return hll_merge(registers, value);
}

static void test_redis_bytes(void)
{
    static const uint8_t abc[] = {'H', 'Y', 'L', 'L', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
                                  0x60, 0xf3, 0x80, 0x50, 0xb1, 0x84, 0x4b, 0xfb, 0x80, 0x42,
                                  0x5a};
    static const uint8_t empty_element[] = {'H', 'Y', 'L', 'L', 1, 0, 0, 0, 0, 0, 0, 0,
                                            0,   0,   0,   0x80, 0x57, 0x31, 0x84, 0x68, 0xcc};
    struct hll_work work = work_new(3000);
    CHECK(hll_add(&work, text("a")) == HLL_UPDATED);
    CHECK(hll_add(&work, text("b")) == HLL_UPDATED);
    CHECK(hll_add(&work, text("c")) == HLL_UPDATED);
    CHECK(hll_add(&work, text("c")) == HLL_UNCHANGED);
    hll_cache_invalidate(work.bytes); /* PFADD's last step */
    CHECK_BYTES(work.bytes, work.length, abc, sizeof(abc));
    uint64_t count = 0;
    CHECK(hll_count(work_value(&work), &count) && count == 3);
    work = work_new(3000);
    CHECK(hll_add(&work, text("")) == HLL_UPDATED);
    CHECK_BYTES(work.bytes, work.length, empty_element, sizeof(empty_element));
}

static void test_redis_counts(void)
{
    static const uint64_t sizes[] = {1, 10, 100, 1000, 10000, 100000};
    static const uint64_t counts[] = {1, 10, 100, 1008, 9973, 100853};
    for (uint32_t size_index = 0; size_index < 6; size_index++) {
        struct hll_work work = work_new(3000);
        for (uint64_t element = 0; element < sizes[size_index]; element++) {
            char name[32];
            int length = snprintf(name, sizeof(name), "e%" PRIu64, element);
            struct slice item = {.bytes = (const uint8_t *)name, .length = (uint32_t)length};
            CHECK(hll_add(&work, item) != HLL_INVALID);
            CHECK(work.length <= (work.bytes[4] == HLL_ENCODING_SPARSE ? 3000u : HLL_DENSE_BYTES));
        }
        uint64_t count = 0;
        CHECK(hll_count(work_value(&work), &count));
        CHECK(count == counts[size_index]);
        CHECK(registers_of(work_value(&work)));
        CHECK(hll_count_registers(registers) == counts[size_index]);
        CHECK((work.bytes[4] == HLL_ENCODING_SPARSE) == (sizes[size_index] <= 1000));
    }
}

/* Random registers of up to 32 set on a sparse value that may not promote by size: the
 * value decodes to the maxima, then promotes to the same dense registers. */
static void test_sparse_round_trip(void)
{
    for (uint32_t round = 0; round < 40; round++) {
        struct hll_work work = work_new(UINT64_MAX);
        memset(expected, 0, sizeof(expected));
        uint32_t sets = 1u + (uint32_t)(prng_next() % 3000u);
        for (uint32_t step = 0; step < sets; step++) {
            /* Clustered indexes make runs of VALs that the merge step joins. */
            uint32_t index = (uint32_t)(prng_next() % (round % 2 ? 300u : HLL_REGISTER_COUNT));
            uint8_t count = (uint8_t)(1u + prng_next() % (round % 3 ? 4u : 32u));
            enum hll_result result = hll_set(&work, index, count);
            CHECK(result == (count > expected[index] ? HLL_UPDATED : HLL_UNCHANGED));
            expected[index] = count > expected[index] ? count : expected[index];
            CHECK(work.bytes[4] == HLL_ENCODING_SPARSE);
            CHECK(work.length <= HLL_SPARSE_BYTES_MAX);
        }
        CHECK(hll_is_valid(work_value(&work)));
        CHECK(registers_of(work_value(&work)));
        CHECK(memcmp(registers, expected, sizeof(expected)) == 0);
        uint64_t sparse_count = 0;
        CHECK(hll_count(work_value(&work), &sparse_count));
        CHECK(hll_to_dense(&work));
        CHECK(work.length == HLL_DENSE_BYTES && work.bytes[4] == HLL_ENCODING_DENSE);
        uint32_t mismatches = 0;
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            mismatches += hll_dense_get(work.bytes + HLL_HEADER_BYTES, index) != expected[index];
        }
        CHECK(mismatches == 0);
        uint64_t dense_count = 0;
        CHECK(hll_count(work_value(&work), &dense_count) && dense_count == sparse_count);
        CHECK(hll_count_registers(expected) == sparse_count);
    }
}

/* Promotion: past the VAL maximum (32) and past hll-sparse-max-bytes. */
static void test_promotion(void)
{
    struct hll_work work = work_new(3000);
    CHECK(hll_set(&work, 7, 32) == HLL_UPDATED);
    CHECK(work.bytes[4] == HLL_ENCODING_SPARSE);
    CHECK(hll_set(&work, 7, 33) == HLL_UPDATED);
    CHECK(work.bytes[4] == HLL_ENCODING_DENSE && work.length == HLL_DENSE_BYTES);
    CHECK(hll_dense_get(work.bytes + HLL_HEADER_BYTES, 7) == 33);
    CHECK(hll_set(&work, 7, 20) == HLL_UNCHANGED);

    for (uint64_t limit = 40; limit <= 3000; limit += 980) {
        work = work_new(limit);
        memset(expected, 0, sizeof(expected));
        uint32_t sets = 0;
        /* Bounded: every register once at most before promotion. */
        while (work.bytes[4] == HLL_ENCODING_SPARSE && sets < HLL_REGISTER_COUNT) {
            uint32_t index = (uint32_t)(prng_next() % HLL_REGISTER_COUNT);
            uint8_t count = (uint8_t)(1u + prng_next() % 8u);
            (void)hll_set(&work, index, count);
            expected[index] = count > expected[index] ? count : expected[index];
            CHECK(work.bytes[4] == HLL_ENCODING_DENSE || work.length <= limit);
            sets++;
        }
        CHECK(work.bytes[4] == HLL_ENCODING_DENSE);
        CHECK(registers_of(work_value(&work)));
        CHECK(memcmp(registers, expected, sizeof(expected)) == 0);
    }
}

/* Every dense register holds 0..63 without touching its neighbours, the last one too. */
static void test_dense_registers(void)
{
    uint8_t *dense = dense_bytes + HLL_HEADER_BYTES;
    memset(dense_bytes, 0, sizeof(dense_bytes));
    for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
        expected[index] = (uint8_t)(prng_next() % 64u);
        hll_dense_set(dense, index, expected[index]);
    }
    for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index += 1 + (uint32_t)(prng_next() % 5)) {
        expected[index] = (uint8_t)(63u - expected[index]);
        hll_dense_set(dense, index, expected[index]);
    }
    uint32_t mismatches = 0;
    for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
        mismatches += hll_dense_get(dense, index) != expected[index];
    }
    CHECK(mismatches == 0);
    hll_dense_set(dense, HLL_REGISTER_COUNT - 1, 63);
    CHECK(dense[HLL_DENSE_BYTES - HLL_HEADER_BYTES - 1] >> 2 == 63);
}

static void test_validity_and_cache(void)
{
    struct hll_work work = work_new(3000);
    CHECK(hll_is_valid(work_value(&work)));
    CHECK(!hll_is_valid((struct slice){.bytes = work.bytes, .length = HLL_HEADER_BYTES - 1}));
    work.bytes[4] = 2;
    CHECK(!hll_is_valid(work_value(&work)));
    work.bytes[4] = HLL_ENCODING_DENSE; /* dense, but 18 bytes long */
    CHECK(!hll_is_valid(work_value(&work)));
    work.bytes[4] = HLL_ENCODING_SPARSE;
    work.bytes[0] = 'h';
    CHECK(!hll_is_valid(work_value(&work)));
    work = work_new(3000);
    /* A header alone: registers missing, so counting, setting and promoting fail. */
    work.length = HLL_HEADER_BYTES;
    uint64_t count = 99;
    CHECK(!hll_count(work_value(&work), &count) && count == 99);
    CHECK(hll_set(&work, 0, 1) == HLL_INVALID);
    CHECK(hll_set(&work, 0, 40) == HLL_INVALID);
    CHECK(!hll_to_dense(&work) && work.bytes[4] == HLL_ENCODING_SPARSE);
    work = work_new(3000);
    CHECK(hll_cache_valid(work.bytes) && hll_cache_get(work.bytes) == 0);
    hll_cache_set(work.bytes, 123456789);
    CHECK(hll_cache_valid(work.bytes) && hll_cache_get(work.bytes) == 123456789);
    hll_cache_invalidate(work.bytes);
    CHECK(!hll_cache_valid(work.bytes));
}

/* A cut-off XZERO at the end (its second byte missing) reads the byte past the end, as
 * Redis reads its string's NUL; splitting it writes past the new end as Redis does. */
static void test_cut_off_xzero(void)
{
    struct hll_work work = work_new(3000);
    /* XZERO of 16383 registers, then a lone XZERO byte covering (0 << 8 | 0) + 1 = 1. */
    work.bytes[HLL_HEADER_BYTES] = 0x7f;
    work.bytes[HLL_HEADER_BYTES + 1] = 0xfe;
    work.bytes[HLL_HEADER_BYTES + 2] = 0x40;
    work.length = HLL_HEADER_BYTES + 3;
    work.bytes[work.length] = 0;
    uint64_t count = 0;
    CHECK(hll_count(work_value(&work), &count) && count == 0);
    CHECK(hll_set(&work, HLL_REGISTER_COUNT - 1, 5) == HLL_UPDATED);
    /* The 2-byte opcode became a 1-byte VAL written where the string now ends. */
    CHECK(work.length == HLL_HEADER_BYTES + 2);
    CHECK(work.bytes[work.length] == 0x90);
    CHECK(!hll_count(work_value(&work), &count));
    CHECK(hll_set(&work, HLL_REGISTER_COUNT - 1, 6) == HLL_INVALID);
}

int main(void)
{
    uint64_t seed = 0x2545f4914f6cdd1dull;
    prng_state = seed;
    test_redis_bytes();
    test_redis_counts();
    test_sparse_round_trip();
    test_promotion();
    test_dense_registers();
    test_validity_and_cache();
    test_cut_off_xzero();
    if (check_failures != 0) {
        fprintf(stderr, "test_hll: seed 0x%" PRIx64 "\n", seed);
    }
    return check_exit("test_hll");
}
