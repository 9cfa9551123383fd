/*
 * A seeded 64-bit hash: 8-byte words folded in with a multiply and a rotation, the tail
 * loaded whole, and a strong finalizer (murmur3's fmix64) so that the low 32 bits the table
 * uses are well mixed. Loads go through memcpy, so any alignment is fine. Pure.
 */
#include "hash.h"

#include <string.h>

#define HASH_MULTIPLIER_A 0x9e3779b97f4a7c15ull
#define HASH_MULTIPLIER_B 0xc2b2ae3d27d4eb4full

static uint64_t rotate_left(uint64_t value, unsigned bits)
{
    return (value << bits) | (value >> (64 - bits));
}

static uint64_t finalize(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdull;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ull;
    value ^= value >> 33;
    return value;
}

uint64_t hash_bytes(const void *bytes, size_t length, uint64_t seed)
{
    const uint8_t *at = bytes;
    uint64_t state = seed ^ ((uint64_t)length * HASH_MULTIPLIER_A);
    size_t left = length;
    /* Bounded by length / 8 words. */
    while (left >= 8) {
        uint64_t word;
        memcpy(&word, at, 8);
        state ^= rotate_left(word * HASH_MULTIPLIER_B, 31) * HASH_MULTIPLIER_A;
        state = rotate_left(state, 27) * 5 + 0x52dce729;
        at += 8;
        left -= 8;
    }
    uint64_t tail = 0;
    if (left > 0) {
        memcpy(&tail, at, left);
        state ^= rotate_left(tail * HASH_MULTIPLIER_B, 31) * HASH_MULTIPLIER_A;
    }
    return finalize(state);
}
