/*
 * The hash function: a seeded 64-bit hash over bytes (hashfn.h says who uses it; the Redis hash
 * type is store_hash.c). The input is read 8 bytes at a time (the last 1 to 7
 * bytes as one zero-padded word); each word is scrambled on its own (multiply, rotate,
 * multiply) and folded into the state, which is then rotated and multiplied by an odd
 * constant, in the manner of xxHash64's round. The seed and the length start the state, so
 * inputs that differ only in trailing zero bytes still differ. A finalizer (the splitmix64
 * mixer) spreads every input bit over every output bit, so the low 32 bits that the table
 * uses are as good as the high ones. Loads go through memcpy: any alignment is fine. Pure:
 * no state, no allocation, no I/O; one pass bounded by length / 8 words.
 */
#include "hashfn.h"

#include <string.h>

#include "kv_assert.h"

/* Odd 64-bit constants with well-spread bits (the first is 2^64 / golden ratio). */
#define HASHFN_PRIME_0 0x9e3779b97f4a7c15ull
#define HASHFN_PRIME_1 0xc2b2ae3d27d4eb4full
#define HASHFN_PRIME_2 0x165667b19e3779f9ull
#define HASHFN_PRIME_3 0x85ebca77c2b2ae63ull

#define HASHFN_WORD_BYTES 8u

static uint64_t rotate_left(uint64_t value, unsigned bits)
{
    return (value << bits) | (value >> (64u - bits));
}

/* One word into the state. Both steps are bijections, so one word never cancels another. */
static uint64_t hashfn_round(uint64_t state, uint64_t word)
{
    word *= HASHFN_PRIME_1;
    word = rotate_left(word, 31);
    word *= HASHFN_PRIME_0;
    state ^= word;
    state = rotate_left(state, 27);
    return state * HASHFN_PRIME_2 + HASHFN_PRIME_3;
}

/* splitmix64's finalizer: each input bit flips each output bit with probability near 1/2. */
static uint64_t hashfn_finalize(uint64_t state)
{
    state ^= state >> 30;
    state *= 0xbf58476d1ce4e5b9ull;
    state ^= state >> 27;
    state *= 0x94d049bb133111ebull;
    state ^= state >> 31;
    return state;
}

uint64_t hashfn_bytes(const void *bytes, size_t length, uint64_t seed)
{
    KV_ASSERT(bytes != NULL || length == 0);
    const uint8_t *input = bytes;
    size_t offset = 0;
    uint64_t state = hashfn_round(seed ^ HASHFN_PRIME_3, (uint64_t)length);
    /* Bounded by length / 8 words. */
    while (length - offset >= HASHFN_WORD_BYTES) {
        uint64_t word = 0;
        memcpy(&word, input + offset, HASHFN_WORD_BYTES);
        state = hashfn_round(state, word);
        offset += HASHFN_WORD_BYTES;
    }
    if (offset < length) {
        uint64_t word = 0;
        memcpy(&word, input + offset, length - offset);
        state = hashfn_round(state, word);
    }
    KV_ASSERT(length - offset < HASHFN_WORD_BYTES);
    return hashfn_finalize(state ^ seed);
}
