/*
 * CRC-64/Jones (see crc64.h). A reflected CRC shifts right: each byte is xored into the low
 * bits and eight steps each shift once and xor the reversed polynomial when a one falls out.
 * The table holds those eight steps for every byte value, so the fast form takes one lookup
 * per byte; crc64_bitwise keeps the definition for tests to compare with. The table is
 * filled once, at the first call (static storage, no allocation); kv has one thread.
 */
#include "crc64.h"

#include <stdbool.h>

#include "kv_assert.h"

/* One bit's reversal of the polynomial is the reflected one (a check of the constant). */
static_assert(CRC64_POLYNOMIAL_REFLECTED == 0x95ac9329ac4bc9b5ull, "reflected Jones polynomial");

static uint64_t crc64_table[256];
static bool crc64_table_ready;

static uint64_t crc64_reverse(uint64_t value)
{
    uint64_t reversed = 0;
    /* Bounded by the 64 bits. */
    for (uint32_t bit = 0; bit < 64; bit++) {
        reversed = (reversed << 1) | ((value >> bit) & 1u);
    }
    return reversed;
}

/* Eight shift-and-xor steps of one byte. */
static uint64_t crc64_byte_steps(uint64_t crc)
{
    /* Bounded by the byte's 8 bits. */
    for (uint32_t bit = 0; bit < 8; bit++) {
        crc = (crc & 1u) ? (crc >> 1) ^ CRC64_POLYNOMIAL_REFLECTED : crc >> 1;
    }
    return crc;
}

static void crc64_table_fill(void)
{
    KV_ASSERT(crc64_reverse(CRC64_POLYNOMIAL) == CRC64_POLYNOMIAL_REFLECTED);
    /* Bounded by the 256 byte values. */
    for (uint32_t value = 0; value < 256; value++) {
        crc64_table[value] = crc64_byte_steps(value);
    }
    crc64_table_ready = true;
    KV_ASSERT(crc64_table[0] == 0);
}

uint64_t crc64(uint64_t crc, const uint8_t *bytes, size_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    if (!crc64_table_ready) {
        crc64_table_fill();
    }
    /* Bounded by the length. */
    for (size_t index = 0; index < length; index++) {
        crc = crc64_table[(crc ^ bytes[index]) & 0xffu] ^ (crc >> 8);
    }
    return crc;
}

uint64_t crc64_bitwise(uint64_t crc, const uint8_t *bytes, size_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    /* Bounded by the length. */
    for (size_t index = 0; index < length; index++) {
        crc = crc64_byte_steps(crc ^ bytes[index]);
    }
    return crc;
}
