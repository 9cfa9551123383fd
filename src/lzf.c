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

/* The compressor's state: the buffers, and where it stands in them. */
struct lzf_state {
    const uint8_t *input;
    uint32_t input_bytes;
    uint8_t *output;
    uint32_t output_bytes;
    uint32_t *table;
    uint32_t ip;   /* the next input byte */
    uint32_t op;   /* the next output byte; a literal run's count byte is at op - lit - 1 */
    uint32_t lit;  /* bytes in the open literal run */
    uint32_t hash; /* the last three input bytes seen, as liblzf keeps them */
};

/* Copies one input byte into the open literal run, closing the run when it is full. The
 * caller has checked the room. */
static void lzf_literal(struct lzf_state *state)
{
    KV_ASSERT(state->ip < state->input_bytes);
    KV_ASSERT(state->op < state->output_bytes);
    state->lit++;
    state->output[state->op++] = state->input[state->ip++];
    if (state->lit == LZF_LITERAL_MAX) {
        state->output[state->op - state->lit - 1] = (uint8_t)(state->lit - 1);
        state->lit = 0;
        state->op++;
    }
}

/* Whether the three bytes at `ref` (a position from the table) make a match for `ip`. */
static bool lzf_is_match(const struct lzf_state *state, uint32_t ref)
{
    const uint8_t *input = state->input;
    uint32_t ip = state->ip;
    return ref != 0 && ref < ip && ip - ref - 1 < LZF_OFFSET_MAX &&
           input[ref + 2] == input[ip + 2] && input[ref] == input[ip] &&
           input[ref + 1] == input[ip + 1];
}

/* Writes a back reference for the match at `ref`, closing the literal run before it, and
 * (VERY_FAST) puts the match's last two positions into the table. False when the output
 * has no room. */
static bool lzf_reference(struct lzf_state *state, uint32_t ref)
{
    KV_ASSERT(ref < state->ip);
    const uint8_t *input = state->input;
    uint8_t *output = state->output;
    uint32_t offset = state->ip - ref - 1;
    uint32_t maxlen = state->input_bytes - state->ip - 2;
    maxlen = maxlen > LZF_REFERENCE_MAX ? LZF_REFERENCE_MAX : maxlen;
    uint32_t empty_run = state->lit == 0 ? 1u : 0u;
    if (state->op + 3 + 1 >= state->output_bytes &&
        state->op - empty_run + 3 + 1 >= state->output_bytes) {
        return false;
    }
    output[state->op - state->lit - 1] = (uint8_t)(state->lit - 1); /* stop the run */
    state->op -= empty_run;                                          /* or undo an empty one */
    uint32_t length = lzf_match_length(input, state->ip, ref, maxlen) - 2;
    KV_ASSERT(length <= LZF_REFERENCE_MAX - 2);
    state->ip++;
    if (length < 7) {
        output[state->op++] = (uint8_t)((offset >> 8) + (length << 5));
    } else {
        output[state->op++] = (uint8_t)((offset >> 8) + (7u << 5));
        output[state->op++] = (uint8_t)(length - 7);
    }
    output[state->op++] = (uint8_t)offset;
    state->lit = 0;
    state->op++;
    state->ip += length + 1;
    if (state->ip >= state->input_bytes - 2) {
        return true; /* the main loop ends here */
    }
    state->ip -= 2; /* VERY_FAST: the match's last two positions go into the table */
    uint32_t hash = ((uint32_t)input[state->ip] << 8) | input[state->ip + 1];
    hash = (hash << 8) | input[state->ip + 2];
    state->table[lzf_slot(hash)] = state->ip;
    state->ip++;
    hash = (hash << 8) | input[state->ip + 2];
    state->table[lzf_slot(hash)] = state->ip;
    state->ip++;
    state->hash = hash;
    return true;
}

/* The last bytes, too few to hash, as literals; then the last run's count. 0 when the
 * output has no room, else the compressed length. */
static uint32_t lzf_finish(struct lzf_state *state)
{
    if (state->op + 3 > state->output_bytes) {
        return 0;
    }
    KV_ASSERT(state->input_bytes - state->ip <= 2);
    /* Bounded by the input's last bytes. */
    while (state->ip < state->input_bytes) {
        lzf_literal(state);
    }
    state->output[state->op - state->lit - 1] = (uint8_t)(state->lit - 1);
    state->op -= state->lit == 0 ? 1u : 0u;
    return state->op;
}

uint32_t lzf_compress(const uint8_t *input, uint32_t input_bytes, uint8_t *output,
                      uint32_t output_bytes, uint32_t *table)
{
    KV_ASSERT(input_bytes >= 3); /* a first hash needs two bytes, a match three */
    KV_ASSERT(table != NULL);
    memset(table, 0, LZF_TABLE_BYTES);
    struct lzf_state state = {
        .input = input,
        .input_bytes = input_bytes,
        .output = output,
        .output_bytes = output_bytes,
        .table = table,
        .ip = 0,
        .op = 1,
        .lit = 0,
        .hash = ((uint32_t)input[0] << 8) | input[1],
    };
    /* Bounded by the input: every pass moves ip forward. */
    while (state.ip < input_bytes - 2) {
        state.hash = (state.hash << 8) | input[state.ip + 2];
        uint32_t slot = lzf_slot(state.hash);
        uint32_t ref = table[slot];
        table[slot] = state.ip;
        if (lzf_is_match(&state, ref)) {
            if (!lzf_reference(&state, ref)) {
                return 0;
            }
            continue;
        }
        if (state.op >= output_bytes) {
            return 0;
        }
        lzf_literal(&state);
    }
    return lzf_finish(&state);
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

