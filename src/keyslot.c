/*
 * Key slots (see keyslot.h). CRC16/XModem is not reflected: each byte goes into the high
 * bits and eight steps each shift left once and xor the polynomial when a one falls out. The
 * table holds those eight steps for every byte value, so the fast form takes one lookup per
 * byte; keyslot_crc16_bitwise keeps the definition for tests to compare with. The table is
 * filled once, at the first call (static storage, no allocation); kv has one thread.
 */
#include "keyslot.h"

#include <stdbool.h>
#include <string.h>

#include "kv_assert.h"

#define KEYSLOT_POLYNOMIAL 0x1021u

static_assert((KEYSLOT_COUNT & (KEYSLOT_COUNT - 1)) == 0, "the slot count is a power of two");
static_assert(KEYSLOT_COUNT <= 65536u, "a 16-bit CRC reaches every slot");

static uint16_t keyslot_table[256];
static bool keyslot_table_ready;

/* Eight shift-and-xor steps of one byte in the high bits. */
static uint16_t keyslot_byte_steps(uint16_t crc)
{
    /* Bounded by the byte's 8 bits. */
    for (uint32_t bit = 0; bit < 8; bit++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ KEYSLOT_POLYNOMIAL) : (uint16_t)(crc << 1);
    }
    return crc;
}

static void keyslot_table_fill(void)
{
    /* Bounded by the 256 byte values. */
    for (uint32_t value = 0; value < 256; value++) {
        keyslot_table[value] = keyslot_byte_steps((uint16_t)(value << 8));
    }
    keyslot_table_ready = true;
    KV_ASSERT(keyslot_table[0] == 0);
    KV_ASSERT(keyslot_table[1] == KEYSLOT_POLYNOMIAL);
}

uint16_t keyslot_crc16(const uint8_t *bytes, size_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    if (!keyslot_table_ready) {
        keyslot_table_fill();
    }
    uint16_t crc = 0;
    /* Bounded by the length. */
    for (size_t index = 0; index < length; index++) {
        crc = (uint16_t)((crc << 8) ^ keyslot_table[((crc >> 8) ^ bytes[index]) & 0xffu]);
    }
    return crc;
}

uint16_t keyslot_crc16_bitwise(const uint8_t *bytes, size_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    uint16_t crc = 0;
    /* Bounded by the length. */
    for (size_t index = 0; index < length; index++) {
        crc = keyslot_byte_steps((uint16_t)(crc ^ ((uint16_t)bytes[index] << 8)));
    }
    return crc;
}

uint32_t keyslot_of(const uint8_t *key, size_t key_bytes)
{
    KV_ASSERT(key != NULL || key_bytes == 0);
    const uint8_t *open = key_bytes > 0 ? memchr(key, '{', key_bytes) : NULL;
    if (open != NULL) {
        size_t after = (size_t)(open - key) + 1;
        const uint8_t *close = memchr(open + 1, '}', key_bytes - after);
        /* A tag is hashed alone only when it is not empty ("{}" hashes the whole key). */
        if (close != NULL && close > open + 1) {
            uint32_t slot = keyslot_crc16(open + 1, (size_t)(close - open - 1)) &
                            (KEYSLOT_COUNT - 1);
            KV_ASSERT(slot < KEYSLOT_COUNT);
            return slot;
        }
    }
    uint32_t slot = keyslot_crc16(key, key_bytes) & (KEYSLOT_COUNT - 1);
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return slot;
}
