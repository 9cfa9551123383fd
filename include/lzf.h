/*
 * LZF, the compression Redis uses for RDB strings (liblzf 3.6 with Redis's settings), so that
 * kv writes the bytes redis-server writes and reads what it wrote. The format: a control byte
 * below 32 starts a literal run of that many plus one bytes; above, its top three bits are a
 * back reference's length less two (7: a length byte follows) and its low five bits with the
 * next byte the distance back less one (up to 8192 back, 264 long). Compression follows
 * liblzf's VERY_FAST variant step for step with a 2^16-slot table of positions; decompression
 * checks every bound. No allocation: the caller gives the table and the buffers.
 */
#ifndef KV_LZF_H
#define KV_LZF_H

#include <stdint.h>

#define LZF_HASH_LOG 16u
#define LZF_HASH_SLOTS (1u << LZF_HASH_LOG)
#define LZF_TABLE_BYTES (LZF_HASH_SLOTS * sizeof(uint32_t)) /* lzf_compress's table */
#define LZF_LITERAL_MAX 32u    /* bytes in one literal run */
#define LZF_OFFSET_MAX 8192u   /* how far back a reference reaches */
#define LZF_REFERENCE_MAX 264u /* how long a reference runs: 7 + 255 + 2 */

/* Redis compresses only strings longer than this (rdbSaveRawString), and keeps the result
 * only when it saves at least LZF_REDIS_SAVING_MIN bytes. */
#define LZF_REDIS_BYTES_MIN 20u
#define LZF_REDIS_SAVING_MIN 4u

/* Compresses `input` (at least 3 bytes) into at most `output_bytes` bytes, using `table`
 * (LZF_TABLE_BYTES, zeroed here: redis-server's table starts as a fresh process's zero
 * stack). Returns the compressed length, 0 when it would not fit. */
uint32_t lzf_compress(const uint8_t *input, uint32_t input_bytes, uint8_t *output,
                      uint32_t output_bytes, uint32_t *table);

/* Expands `input` into at most `output_bytes`; returns the bytes written, 0 for a corrupt
 * input or one that does not fit. */
uint32_t lzf_decompress(const uint8_t *input, uint32_t input_bytes, uint8_t *output,
                        uint32_t output_bytes);

#endif
