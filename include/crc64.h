/*
 * CRC-64 as Redis computes it (crc64.c, "Jones" coefficients): polynomial 0xad93d23594c935a9,
 * reflected input and output, initial value 0 and no final xor, so crc64(0, "123456789") is
 * 0xe9c6d914c4b8d9ca. It checks DUMP payloads (FUNCTION DUMP/RESTORE) and, later, RDB files.
 * A running CRC continues over more bytes: crc64(crc64(0, a), b) == crc64(0, a ++ b). No state
 * but a 256-entry table computed at first use; no allocation.
 */
#ifndef KV_CRC64_H
#define KV_CRC64_H

#include <stddef.h>
#include <stdint.h>

/* Jones's polynomial, and its bit reversal (the form a reflected CRC shifts right with). */
#define CRC64_POLYNOMIAL 0xad93d23594c935a9ull
#define CRC64_POLYNOMIAL_REFLECTED 0x95ac9329ac4bc9b5ull

/* The CRC of `length` bytes, continuing `crc` (0 to start). */
uint64_t crc64(uint64_t crc, const uint8_t *bytes, size_t length);

/* The same, a bit at a time with no table: the definition, for tests. */
uint64_t crc64_bitwise(uint64_t crc, const uint8_t *bytes, size_t length);

#endif
