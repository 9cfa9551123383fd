/*
 * Proves keyslot.c is Redis Cluster's key hashing: CRC16/XModem's check value of "123456789"
 * (0x31c3), the table form equal to the bitwise definition over seeded random buffers of every
 * length up to 300, the slots redis.io's CLUSTER KEYSLOT documents (somekey 11058,
 * foo{hash_tag} 2515) and foo's 12182, and the hash-tag rules of Redis's keyHashSlot: the
 * first '{', the first '}' after it, an empty tag hashing the whole key.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "keyslot.h"

static uint64_t prng_state;

static uint64_t prng_next(void)
{
    prng_state ^= prng_state << 13;
    prng_state ^= prng_state >> 7;
    prng_state ^= prng_state << 17;
    return prng_state;
}

static uint32_t slot_of(const char *key)
{
    return keyslot_of((const uint8_t *)key, strlen(key));
}

static uint32_t crc_slot(const char *bytes)
{
    return keyslot_crc16((const uint8_t *)bytes, strlen(bytes)) & (KEYSLOT_COUNT - 1);
}

int main(void)
{
    CHECK(keyslot_crc16((const uint8_t *)"123456789", 9) == 0x31c3);
    CHECK(keyslot_crc16_bitwise((const uint8_t *)"123456789", 9) == 0x31c3);
    CHECK(keyslot_crc16(NULL, 0) == 0);
    CHECK(slot_of("") == 0);
    CHECK(slot_of("somekey") == 11058);
    CHECK(slot_of("foo{hash_tag}") == 2515);
    CHECK(slot_of("foo") == 12182);
    /* Tags: the part between the first '{' and the first '}' after it, if not empty. */
    CHECK(slot_of("{user1000}.following") == slot_of("{user1000}.followers"));
    CHECK(slot_of("{user1000}.following") == crc_slot("user1000"));
    CHECK(slot_of("foo{}{bar}") == crc_slot("foo{}{bar}"));
    CHECK(slot_of("foo{{bar}}zap") == crc_slot("{bar"));
    CHECK(slot_of("foo{bar}{zap}") == crc_slot("bar"));
    CHECK(slot_of("{bar") == crc_slot("{bar"));
    CHECK(slot_of("bar}") == crc_slot("bar}"));
    CHECK(slot_of("}{a}") == crc_slot("a"));
    uint64_t seed = 0x2545f4914f6cdd1dull;
    prng_state = seed;
    uint8_t buffer[300];
    int failures_before = check_failures;
    /* Bounded by the 300 lengths. */
    for (size_t length = 0; length <= sizeof(buffer); length++) {
        for (size_t index = 0; index < length; index++) {
            buffer[index] = (uint8_t)prng_next();
        }
        CHECK(keyslot_crc16(buffer, length) == keyslot_crc16_bitwise(buffer, length));
        CHECK(keyslot_of(buffer, length) < KEYSLOT_COUNT);
    }
    if (check_failures != failures_before) {
        fprintf(stderr, "seed %" PRIx64 "\n", seed);
    }
    return check_exit("test_keyslot");
}
