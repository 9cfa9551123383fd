/*
 * LZF compression and decompression (lzf.h). lzf_compress mirrors liblzf's lzf_compress as
 * Redis builds it (HLOG 16, VERY_FAST, not ULTRA_FAST, positions kept as offsets from the
 * input): the same hash of three bytes chooses the slot, the same checks accept a match,
 * the same 16 unchecked steps then byte-by-byte comparison measure it, and after a match the
 * same two positions go into the table, so the output is byte for byte Redis's. It is
 * written here from the format and that description, not copied. Bounds: every loop moves
 * through its input; output writes are checked against output_bytes as liblzf checks them.
 */
#include "lzf.h"

#include <stdbool.h>
#include <string.h>

#include "kv_assert.h"

static_assert(LZF_HASH_SLOTS == 65536u, "Redis's HLOG of 16");
static_assert(LZF_REFERENCE_MAX == 7u + 255u + 2u, "a reference's longest length");

static uint32_t lzf_slot(uint32_t hash)
{
    return ((hash >> (24u - LZF_HASH_LOG)) - hash * 5u) & (LZF_HASH_SLOTS - 1u);
}

/* How far the match at `ip` against `ref` runs, as liblzf measures it (16 unchecked steps
 * first when there is room, then byte by byte up to maxlen). */
static uint32_t lzf_match_length(const uint8_t *input, uint32_t ip, uint32_t ref,
                                 uint32_t maxlen)
{
    uint32_t length = 2;
    bool mismatch = false;
    if (maxlen > 16) {
        /* Bounded by 16 steps. */
        for (uint32_t step = 0; step < 16 && !mismatch; step++) {
            length++;
            mismatch = input[ref + length] != input[ip + length];
        }
    }
    if (!mismatch) {
        /* Bounded by maxlen. */
        do {
            length++;
        } while (length < maxlen && input[ref + length] == input[ip + length]);
    }
    return length;
}

uint32_t lzf_compress(const uint8_t *input, uint32_t input_bytes, uint8_t *output,
                      uint32_t output_bytes, uint32_t *table)
{
    KV_ASSERT(input_bytes >= 3); /* a first hash needs two bytes, a match three */
    KV_ASSERT(table != NULL);
    memset(table, 0, LZF_TABLE_BYTES);
    uint32_t ip = 0;
    uint32_t op = 1; /* a literal run's count byte goes at op - lit - 1 */
    uint32_t lit = 0;
    uint32_t hash = ((uint32_t)input[0] << 8) | input[1];
    /* Bounded by the input: every pass moves ip forward. */
    while (ip < input_bytes - 2) {
        hash = (hash << 8) | input[ip + 2];
        uint32_t slot = lzf_slot(hash);
        uint32_t ref = table[slot];
        table[slot] = ip;
        if (ref != 0 && ref < ip && ip - ref - 1 < LZF_OFFSET_MAX &&
            input[ref + 2] == input[ip + 2] && input[ref] == input[ip] &&
            input[ref + 1] == input[ip + 1]) {
            uint32_t offset = ip - ref - 1;
            uint32_t maxlen = input_bytes - ip - 2;
            maxlen = maxlen > LZF_REFERENCE_MAX ? LZF_REFERENCE_MAX : maxlen;
            if (op + 3 + 1 >= output_bytes && op - (lit == 0 ? 1u : 0u) + 3 + 1 >= output_bytes) {
                return 0;
            }
            output[op - lit - 1] = (uint8_t)(lit - 1); /* stop the run */
            op -= lit == 0 ? 1u : 0u;                  /* or undo an empty one */
            uint32_t length = lzf_match_length(input, ip, ref, maxlen) - 2;
            ip++;
            if (length < 7) {
                output[op++] = (uint8_t)((offset >> 8) + (length << 5));
            } else {
                output[op++] = (uint8_t)((offset >> 8) + (7u << 5));
                output[op++] = (uint8_t)(length - 7);
            }
            output[op++] = (uint8_t)offset;
            lit = 0;
            op++;
            ip += length + 1;
            if (ip >= input_bytes - 2) {
                break;
            }
            ip -= 2; /* VERY_FAST: the match's last two positions go into the table */
            hash = ((uint32_t)input[ip] << 8) | input[ip + 1];
            hash = (hash << 8) | input[ip + 2];
            table[lzf_slot(hash)] = ip;
            ip++;
            hash = (hash << 8) | input[ip + 2];
            table[lzf_slot(hash)] = ip;
            ip++;
            continue;
        }
        if (op >= output_bytes) {
            return 0;
        }
        lit++;
        output[op++] = input[ip++];
        if (lit == LZF_LITERAL_MAX) {
            output[op - lit - 1] = (uint8_t)(lit - 1);
            lit = 0;
            op++;
        }
    }
    if (op + 3 > output_bytes) {
        return 0;
    }
    /* Bounded by the input's last bytes. */
    while (ip < input_bytes) {
        lit++;
        output[op++] = input[ip++];
        if (lit == LZF_LITERAL_MAX) {
            output[op - lit - 1] = (uint8_t)(lit - 1);
            lit = 0;
            op++;
        }
    }
    output[op - lit - 1] = (uint8_t)(lit - 1);
    op -= lit == 0 ? 1u : 0u;
    return op;
}

uint32_t lzf_decompress(const uint8_t *input, uint32_t input_bytes, uint8_t *output,
                        uint32_t output_bytes)
{
    uint32_t in = 0;
    uint32_t out = 0;
    /* Bounded by the input: every step takes at least one byte of it. */
    while (in < input_bytes) {
        uint32_t control = input[in++];
        if (control < 32) {
            uint32_t run = control + 1;
            if (input_bytes - in < run || output_bytes - out < run) {
                return 0;
            }
            memcpy(output + out, input + in, run);
            in += run;
            out += run;
            continue;
        }
        uint32_t length = control >> 5;
        if (length == 7) {
            if (in >= input_bytes) {
                return 0;
            }
            length += input[in++];
        }
        if (in >= input_bytes) {
            return 0;
        }
        uint32_t back = ((control & 0x1fu) << 8) + input[in++] + 1u;
        length += 2;
        if (back > out || output_bytes - out < length) {
            return 0;
        }
        /* Bounded by the length; byte by byte, as a reference may overlap its output. */
        for (uint32_t index = 0; index < length; index++) {
            output[out] = output[out - back];
            out++;
        }
    }
    return out;
}

