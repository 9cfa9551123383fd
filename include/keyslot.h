/*
 * Redis Cluster's key slots: CRC16 (CCITT, XModem: polynomial 0x1021, initial value 0, no
 * reflection, no final xor, so crc16("123456789") is 0x31c3) of the key, or of its hash tag,
 * modulo 16,384. The hash tag is the part between the first '{' and the first '}' after it,
 * when that part is not empty; keys sharing a tag share a slot (multi-key commands, MULTI).
 * No state but a 256-entry table computed at first use; no allocation.
 */
#ifndef KV_KEYSLOT_H
#define KV_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

/* Slots of a cluster (Redis's CLUSTER_SLOTS); a power of two, so the modulo is a mask. */
#define KEYSLOT_COUNT 16384u

/* The CRC16 of `length` bytes. */
uint16_t keyslot_crc16(const uint8_t *bytes, size_t length);

/* The same, a bit at a time with no table: the definition, for tests. */
uint16_t keyslot_crc16_bitwise(const uint8_t *bytes, size_t length);

/* The slot of a key (its hash tag's, when it has one): < KEYSLOT_COUNT. */
uint32_t keyslot_of(const uint8_t *key, size_t key_bytes);

#endif
