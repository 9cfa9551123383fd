/*
 * Proves hashfn_bytes() is a pure function of (bytes, length, seed) that any byte, the length
 * and the seed all change: same input same hash at every alignment, bytes past the length
 * ignored, inputs that differ only in trailing zero bytes or in any one byte hash apart, and
 * another seed moves every hash. Proves its mixing is good where the table needs it: flipping
 * any one input or seed bit flips each output bit with probability near 1/2 (avalanche), and
 * the low 32 bits of typical keys ("key:N", decimal numbers, little-endian integers) spread
 * evenly over buckets (a chi-square bound) and collide no more than chance allows. All inputs
 * come from a fixed-seed PRNG, so a failure repeats. No region: the hash holds no memory.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "fixture.h"
#include "hashfn.h"

#define SEED_A 0x0123456789abcdefull
#define SEED_B 0x0123456789abcdeeull /* SEED_A with its lowest bit flipped */

/* Buffers for the alignment and length tests. */
#define BYTES_MAX 256u
#define OFFSETS_MAX 16u

/* Avalanche: random inputs per flipped bit, and the allowed flip rates. With 600 samples a
 * fair coin's rate has a standard deviation near 0.02: the pair bound is 10 deviations wide,
 * the averaged bound (over many input bits) is wider than any fair hash can miss. */
#define AVALANCHE_SAMPLES 600u
#define AVALANCHE_PAIR_LOW 0.30
#define AVALANCHE_PAIR_HIGH 0.70
#define AVALANCHE_MEAN_LOW 0.47
#define AVALANCHE_MEAN_HIGH 0.53

/* Distribution: keys hashed, buckets used, and the chi-square bound: the statistic for a
 * uniform hash has mean buckets - 1 and deviation sqrt(2 * (buckets - 1)), about 90 here;
 * the bound is mean plus 6 deviations. */
#define DISTRIBUTION_KEYS 65536u
#define DISTRIBUTION_BUCKETS 4096u
#define CHI_SQUARE_MAX (4095.0 + 6.0 * 90.5)

/* 65536 keys over 2^32 hashes collide in 0.5 pairs on average; 5 or more is a 1-in-6000 event
 * for a uniform hash, and a systematic flaw gives many more. */
#define COLLISIONS_MAX 4u

/* The fixture's splitmix64 from a fixed seed (main sets it): every run tests the same inputs. */
#define PRNG_SEED 0x9e3779b97f4a7c15ull

static void prng_fill(uint8_t *bytes, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        bytes[index] = (uint8_t)prng_next();
    }
}

static void test_empty_and_seed(void)
{
    uint8_t byte = 0x5a;
    CHECK(hashfn_bytes(NULL, 0, SEED_A) == hashfn_bytes(&byte, 0, SEED_A));
    CHECK(hashfn_bytes(NULL, 0, SEED_A) != hashfn_bytes(NULL, 0, SEED_B));
    CHECK(hashfn_bytes(NULL, 0, 0) != 0);
    CHECK(hashfn_bytes("abc", 3, SEED_A) == hashfn_bytes("abc", 3, SEED_A));
    /* Another seed moves every hash, and its low 32 bits. */
    uint8_t bytes[BYTES_MAX];
    for (uint32_t length = 0; length <= 64; length++) {
        prng_fill(bytes, length);
        uint64_t hash_a = hashfn_bytes(bytes, length, SEED_A);
        uint64_t hash_b = hashfn_bytes(bytes, length, SEED_B);
        CHECK(hash_a != hash_b);
        CHECK((uint32_t)hash_a != (uint32_t)hash_b);
    }
}

/* Zero bytes of every length, and one byte repeated, all hash apart: the length counts. */
static void test_lengths(void)
{
    static uint64_t zeros[BYTES_MAX + 1];
    static uint64_t repeated[BYTES_MAX + 1];
    uint8_t bytes[BYTES_MAX];
    memset(bytes, 0, sizeof(bytes));
    for (uint32_t length = 0; length <= BYTES_MAX; length++) {
        zeros[length] = hashfn_bytes(bytes, length, SEED_A);
    }
    memset(bytes, 'a', sizeof(bytes));
    for (uint32_t length = 0; length <= BYTES_MAX; length++) {
        repeated[length] = hashfn_bytes(bytes, length, SEED_A);
    }
    for (uint32_t first = 0; first <= BYTES_MAX; first++) {
        for (uint32_t second = first + 1; second <= BYTES_MAX; second++) {
            CHECK(zeros[first] != zeros[second]);
            CHECK(repeated[first] != repeated[second]);
        }
    }
}

/* Every prefix of a random buffer hashes the same at every start offset, whatever follows. */
static void test_alignment(void)
{
    uint8_t source[BYTES_MAX];
    uint8_t shifted[BYTES_MAX + OFFSETS_MAX];
    prng_fill(source, sizeof(source));
    for (uint32_t length = 0; length <= 80; length++) {
        uint64_t want = hashfn_bytes(source, length, SEED_A);
        for (uint32_t offset = 0; offset < OFFSETS_MAX; offset++) {
            prng_fill(shifted, sizeof(shifted)); /* garbage around and past the input */
            memcpy(shifted + offset, source, length);
            CHECK(hashfn_bytes(shifted + offset, length, SEED_A) == want);
        }
    }
}

/* Changing any one byte of an input of up to 40 bytes changes the hash and its low half. */
static void test_every_byte(void)
{
    uint8_t bytes[64];
    for (uint32_t length = 1; length <= 40; length++) {
        prng_fill(bytes, length);
        uint64_t want = hashfn_bytes(bytes, length, SEED_A);
        for (uint32_t index = 0; index < length; index++) {
            uint8_t saved = bytes[index];
            bytes[index] = (uint8_t)(saved + 1 + prng_next() % 255);
            uint64_t got = hashfn_bytes(bytes, length, SEED_A);
            CHECK(got != want);
            CHECK((uint32_t)got != (uint32_t)want);
            bytes[index] = saved;
        }
    }
}

/* Flip rates of each output bit when input bit `bit` flips (bit >= length * 8: a seed bit). */
static void avalanche_count(uint32_t length, uint32_t bit, uint32_t flips[64])
{
    uint8_t bytes[64];
    memset(flips, 0, 64 * sizeof(uint32_t));
    for (uint32_t sample = 0; sample < AVALANCHE_SAMPLES; sample++) {
        prng_fill(bytes, length);
        uint64_t seed = prng_next();
        uint64_t before = hashfn_bytes(bytes, length, seed);
        if (bit < length * 8) {
            bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        } else {
            seed ^= 1ull << (bit - length * 8);
        }
        uint64_t changed = before ^ hashfn_bytes(bytes, length, seed);
        for (uint32_t out = 0; out < 64; out++) {
            flips[out] += (uint32_t)((changed >> out) & 1);
        }
    }
}

static void test_avalanche(void)
{
    static const uint32_t lengths[] = {1, 3, 7, 8, 9, 16, 23, 33};
    for (uint32_t which = 0; which < sizeof(lengths) / sizeof(lengths[0]); which++) {
        uint32_t length = lengths[which];
        uint32_t bits = length * 8 + 64; /* every input bit, then every seed bit */
        uint64_t totals[64] = {0};
        uint32_t failures = 0;
        for (uint32_t bit = 0; bit < bits; bit++) {
            uint32_t flips[64];
            avalanche_count(length, bit, flips);
            for (uint32_t out = 0; out < 64; out++) {
                double rate = (double)flips[out] / AVALANCHE_SAMPLES;
                failures += rate < AVALANCHE_PAIR_LOW || rate > AVALANCHE_PAIR_HIGH;
                totals[out] += flips[out];
            }
        }
        CHECK(failures == 0);
        for (uint32_t out = 0; out < 64; out++) {
            double rate = (double)totals[out] / ((double)AVALANCHE_SAMPLES * bits);
            CHECK(rate > AVALANCHE_MEAN_LOW);
            CHECK(rate < AVALANCHE_MEAN_HIGH);
        }
        if (failures != 0) {
            fprintf(stderr, "avalanche: length %u: %u biased bit pairs\n", length, failures);
        }
    }
}

static int compare_u32(const void *left, const void *right)
{
    uint32_t a = *(const uint32_t *)left;
    uint32_t b = *(const uint32_t *)right;
    return (a > b) - (a < b);
}

/* Chi-square over the buckets picked by `shift`ed low-32 bits, and collisions in all 32. */
static void check_spread(const char *family, uint32_t *hashes, uint32_t shift)
{
    static uint32_t buckets[DISTRIBUTION_BUCKETS];
    memset(buckets, 0, sizeof(buckets));
    for (uint32_t key = 0; key < DISTRIBUTION_KEYS; key++) {
        buckets[(hashes[key] >> shift) % DISTRIBUTION_BUCKETS]++;
    }
    double expected = (double)DISTRIBUTION_KEYS / DISTRIBUTION_BUCKETS;
    double chi_square = 0;
    for (uint32_t bucket = 0; bucket < DISTRIBUTION_BUCKETS; bucket++) {
        double excess = buckets[bucket] - expected;
        chi_square += excess * excess / expected;
    }
    CHECK(chi_square < CHI_SQUARE_MAX);
    qsort(hashes, DISTRIBUTION_KEYS, sizeof(uint32_t), compare_u32);
    uint32_t collisions = 0;
    for (uint32_t key = 1; key < DISTRIBUTION_KEYS; key++) {
        collisions += hashes[key] == hashes[key - 1];
    }
    CHECK(collisions <= COLLISIONS_MAX);
    if (chi_square >= CHI_SQUARE_MAX || collisions > COLLISIONS_MAX) {
        fprintf(stderr, "spread: %s, shift %u: chi-square %.0f, %u collisions\n", family, shift,
                chi_square, collisions);
    }
}

/* Key families a client is likely to send, hashed with a seed each; low 32 bits kept. */
static void test_distribution(void)
{
    static uint32_t hashes[DISTRIBUTION_KEYS];
    static const uint32_t shifts[] = {0, 10, 20};
    char text[32];
    for (uint32_t family = 0; family < 3; family++) {
        for (uint32_t which = 0; which < sizeof(shifts) / sizeof(shifts[0]); which++) {
            uint64_t seed = prng_next();
            for (uint32_t key = 0; key < DISTRIBUTION_KEYS; key++) {
                uint64_t number = key;
                int length = 8;
                if (family == 0) {
                    length = snprintf(text, sizeof(text), "key:%u", key);
                } else if (family == 1) {
                    length = snprintf(text, sizeof(text), "%u", key * 7);
                } else {
                    memcpy(text, &number, sizeof(number));
                }
                hashes[key] = (uint32_t)hashfn_bytes(text, (size_t)length, seed);
            }
            static const char *const names[] = {"key:N", "decimal", "uint64"};
            check_spread(names[family], hashes, shifts[which]);
        }
    }
}

int main(void)
{
    prng_state = PRNG_SEED;
    test_empty_and_seed();
    test_lengths();
    test_alignment();
    test_every_byte();
    test_avalanche();
    test_distribution();
    return check_exit("test_hashfn");
}
