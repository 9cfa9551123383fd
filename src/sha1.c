/*
 * SHA-1 as FIPS 180-4 defines it: the message padded with a 1 bit, zeros and its length in bits
 * (big-endian) to a multiple of 64 bytes, then each 64-byte block mixed into five 32-bit words
 * by 80 rounds. Whole blocks are read in place; the tail (at most two blocks after padding) is
 * copied to a buffer on the stack. No allocation, no state between calls.
 */
#include "sha1.h"

#include <string.h>

#include "kv_assert.h"

#define SHA1_BLOCK_BYTES 64u
#define SHA1_ROUNDS 80u

static_assert(SHA1_DIGEST_BYTES == 5u * sizeof(uint32_t), "five words make the digest");
static_assert(SHA1_HEX_BYTES == 2u * SHA1_DIGEST_BYTES, "two hex digits per byte");

static uint32_t rotate_left(uint32_t word, uint32_t bits)
{
    KV_ASSERT(bits > 0 && bits < 32);
    return (word << bits) | (word >> (32u - bits));
}

static uint32_t load_be32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
           (uint32_t)bytes[3];
}

/* Mixes one 64-byte block into the state. */
static void sha1_block(uint32_t state[5], const uint8_t *block)
{
    uint32_t schedule[SHA1_ROUNDS];
    /* Bounded: the schedule's 16 loaded and 64 derived words. */
    for (uint32_t index = 0; index < 16; index++) {
        schedule[index] = load_be32(block + 4u * index);
    }
    for (uint32_t index = 16; index < SHA1_ROUNDS; index++) {
        schedule[index] = rotate_left(schedule[index - 3] ^ schedule[index - 8] ^
                                          schedule[index - 14] ^ schedule[index - 16],
                                      1);
    }
    uint32_t a = state[0];
    uint32_t b = state[1];
    uint32_t c = state[2];
    uint32_t d = state[3];
    uint32_t e = state[4];
    /* Bounded: 80 rounds, in four groups of 20 with their own function and constant. */
    for (uint32_t round = 0; round < SHA1_ROUNDS; round++) {
        uint32_t mix = 0;
        uint32_t constant = 0;
        if (round < 20) {
            mix = (b & c) | (~b & d);
            constant = 0x5a827999u;
        } else if (round < 40) {
            mix = b ^ c ^ d;
            constant = 0x6ed9eba1u;
        } else if (round < 60) {
            mix = (b & c) | (b & d) | (c & d);
            constant = 0x8f1bbcdcu;
        } else {
            mix = b ^ c ^ d;
            constant = 0xca62c1d6u;
        }
        uint32_t next = rotate_left(a, 5) + mix + e + constant + schedule[round];
        e = d;
        d = c;
        c = rotate_left(b, 30);
        b = a;
        a = next;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
}

void sha1_digest(const uint8_t *bytes, size_t length, uint8_t digest[SHA1_DIGEST_BYTES])
{
    KV_ASSERT(bytes != NULL || length == 0);
    uint32_t state[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    size_t whole = length - length % SHA1_BLOCK_BYTES;
    /* Bounded by the message's whole blocks. */
    for (size_t offset = 0; offset < whole; offset += SHA1_BLOCK_BYTES) {
        sha1_block(state, bytes + offset);
    }
    /* The tail, the 0x80 byte and the 8-byte length: one block, or two when the tail leaves
     * fewer than 9 bytes of room. */
    uint8_t tail[2u * SHA1_BLOCK_BYTES];
    size_t tail_bytes = length - whole;
    memset(tail, 0, sizeof(tail));
    if (tail_bytes > 0) {
        memcpy(tail, bytes + whole, tail_bytes);
    }
    tail[tail_bytes] = 0x80;
    size_t tail_total = tail_bytes + 9u <= SHA1_BLOCK_BYTES ? SHA1_BLOCK_BYTES
                                                             : 2u * SHA1_BLOCK_BYTES;
    uint64_t bits = (uint64_t)length * 8u;
    for (uint32_t index = 0; index < 8; index++) {
        tail[tail_total - 1u - index] = (uint8_t)(bits >> (8u * index));
    }
    for (size_t offset = 0; offset < tail_total; offset += SHA1_BLOCK_BYTES) {
        sha1_block(state, tail + offset);
    }
    for (uint32_t word = 0; word < 5; word++) {
        digest[4u * word] = (uint8_t)(state[word] >> 24);
        digest[4u * word + 1u] = (uint8_t)(state[word] >> 16);
        digest[4u * word + 2u] = (uint8_t)(state[word] >> 8);
        digest[4u * word + 3u] = (uint8_t)state[word];
    }
    KV_ASSERT(tail_total % SHA1_BLOCK_BYTES == 0);
}

void sha1_hex(const uint8_t *bytes, size_t length, char hex[SHA1_HEX_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t digest[SHA1_DIGEST_BYTES];
    sha1_digest(bytes, length, digest);
    /* Bounded by the digest's bytes. */
    for (uint32_t index = 0; index < SHA1_DIGEST_BYTES; index++) {
        hex[2u * index] = digits[digest[index] >> 4];
        hex[2u * index + 1u] = digits[digest[index] & 0x0fu];
    }
    hex[SHA1_HEX_BYTES] = '\0';
    KV_ASSERT(hex[0] != '\0');
}
