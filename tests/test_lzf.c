/*
 * Proves lzf.c writes Redis's LZF and reads it back: the library code of a FUNCTION DUMP that
 * redis-server 7.0.15 made compresses to exactly the bytes in that payload and they expand
 * to the code; seeded random inputs of every kind (runs, repeats of short and long patterns,
 * noise) and lengths from 3 to 20,000 bytes expand back to themselves whenever they
 * compress (the seed is printed on failure), and incompressible noise does not fit the
 * Redis limit of four bytes saved; corrupt input (cut short, a reference before the start,
 * output too small) expands to 0, never past its buffers.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lzf.h"

static uint32_t table[LZF_HASH_SLOTS];
static uint8_t input[20000];
static uint8_t packed[20000 + 64];
static uint8_t output[20000];

/* From redis-server 7.0.15's FUNCTION DUMP of this code: the LZF blob, 108 bytes. */
static const char *const redis_code =
    "#!lua name=redislib\nredis.register_function('echo_all', function(keys, args) return "
    "{keys[1], args[1], 'echo_all echo_all echo_all'} end)\n";
static const char *const redis_packed_hex =
    "1323216c7561206e616d653d72656469736c69620a60081e2e72656769737465725f66756e6374696f6e2827"
    "6563686f5f616c6c272c20e00014136b6579732c2061726773292072657475726e207b4013025b315d801660"
    "08e0003a0020c043e0000807277d20656e64290a";

static uint64_t prng_state;

static uint64_t prng_next(void)
{
    prng_state ^= prng_state << 13;
    prng_state ^= prng_state >> 7;
    prng_state ^= prng_state << 17;
    return prng_state;
}

static void check_redis_vector(void)
{
    uint8_t want[128];
    uint32_t want_bytes = (uint32_t)strlen(redis_packed_hex) / 2;
    for (uint32_t index = 0; index < want_bytes; index++) {
        unsigned int byte = 0;
        sscanf(redis_packed_hex + 2 * index, "%2x", &byte);
        want[index] = (uint8_t)byte;
    }
    uint32_t code_bytes = (uint32_t)strlen(redis_code);
    CHECK(code_bytes == 138 && want_bytes == 108);
    uint32_t made = lzf_compress((const uint8_t *)redis_code, code_bytes, packed,
                                 code_bytes - LZF_REDIS_SAVING_MIN, table);
    CHECK_BYTES(packed, made, want, want_bytes);
    uint32_t back = lzf_decompress(want, want_bytes, output, code_bytes);
    CHECK_BYTES(output, back, redis_code, code_bytes);
}

/* Fills `length` bytes of one of four kinds. */
static void input_fill(uint32_t length, uint32_t kind)
{
    uint32_t period = 1 + (uint32_t)(prng_next() % 300);
    for (uint32_t index = 0; index < length; index++) {
        switch (kind) {
        case 0:
            input[index] = (uint8_t)prng_next(); /* noise */
            break;
        case 1:
            input[index] = (uint8_t)('a' + (index / 97) % 3); /* long runs */
            break;
        case 2:
            input[index] = index < period ? (uint8_t)prng_next() : input[index - period];
            break;
        default:
            input[index] = (prng_next() % 4 == 0) ? (uint8_t)prng_next() : (uint8_t)'x';
            break;
        }
    }
}

static void check_round_trips(void)
{
    uint64_t seed = 0x243f6a8885a308d3ull;
    prng_state = seed;
    int failures_before = check_failures;
    uint32_t compressed = 0;
    for (uint32_t trial = 0; trial < 400; trial++) {
        uint32_t length = 3 + (uint32_t)(prng_next() % (trial < 300 ? 600 : sizeof(input) - 3));
        uint32_t kind = trial % 4;
        input_fill(length, kind);
        uint32_t made = lzf_compress(input, length, packed, length - 1, table);
        if (made == 0) {
            continue;
        }
        compressed++;
        CHECK(made < length);
        uint32_t back = lzf_decompress(packed, made, output, length);
        CHECK(back == length && memcmp(output, input, length) == 0);
        if (kind == 1 || kind == 2) {
            CHECK(made + LZF_REDIS_SAVING_MIN <= length || length < 64);
        }
    }
    CHECK(compressed > 200);
    /* Noise does not save Redis's four bytes. */
    input_fill(4096, 0);
    CHECK(lzf_compress(input, 4096, packed, 4096 - LZF_REDIS_SAVING_MIN, table) == 0);
    if (check_failures != failures_before) {
        fprintf(stderr, "seed %" PRIx64 "\n", seed);
    }
}

static void check_corrupt(void)
{
    input_fill(1000, 1);
    uint32_t made = lzf_compress(input, 1000, packed, 996, table);
    CHECK(made > 0);
    CHECK(lzf_decompress(packed, made, output, 999) == 0);     /* output one byte short */
    CHECK(lzf_decompress(packed, made - 1, output, 1000) != 1000); /* input cut short */
    const uint8_t literal_cut[] = {5, 'a', 'b'};            /* a run of 6 with 2 bytes */
    CHECK(lzf_decompress(literal_cut, sizeof(literal_cut), output, 100) == 0);
    const uint8_t before_start[] = {0, 'a', 0x20, 0x05};    /* a reference 6 back after 1 */
    CHECK(lzf_decompress(before_start, sizeof(before_start), output, 100) == 0);
    const uint8_t fine[] = {0, 'a', 0x20, 0x00};            /* 'a' then 3 more from 1 back */
    CHECK(lzf_decompress(fine, sizeof(fine), output, 100) == 4);
    CHECK(memcmp(output, "aaaa", 4) == 0);
}

int main(void)
{
    check_redis_vector();
    check_round_trips();
    check_corrupt();
    return check_exit("test_lzf");
}
