/*
 * HyperLogLog over a byte buffer, in Redis 7.0's own format (hyperloglog.c), so that kv and
 * redis-server read and write each other's values byte for byte. A value is a 16-byte
 * header ("HYLL", the encoding byte, three reserved bytes, the cached cardinality in 8
 * little-endian bytes whose top bit set means "stale") and then the 16384 registers:
 *   - dense: 6 bits each, packed from the least significant bit of each byte up (12288 bytes);
 *   - sparse: opcodes, ZERO 00xxxxxx (1..64 zero registers), XZERO 01xxxxxx yyyyyyyy
 *     (1..16384 zero registers), VAL 1vvvvvxx (1..4 registers of value 1..32).
 * An element is hashed with MurmurHash64A (Redis's seed); its low 14 bits pick the register,
 * the run of zeros above them plus one is the value. A sparse value turns dense when a value
 * past 32 is needed or it would grow past hll-sparse-max-bytes (the caller gives it). The
 * estimate is Ertl's improved estimator, as Redis 7.0 computes it, so counts agree exactly.
 *
 * Changes are made in place in a caller's buffer (struct hll_work), following Redis's steps
 * exactly (the split of the opcode that covers a register, then the merge of equal VALs
 * around it), because the bytes left behind are visible to GET. Where Redis reads one byte
 * past a corrupt sparse value's end (its string's terminating NUL) this module reads a 0.
 * A leaf: no store, no reply, no allocation; every loop is bounded by the value's length or
 * the register count.
 */
#ifndef KV_HLL_H
#define KV_HLL_H

#include <stdbool.h>
#include <stdint.h>

#include "slice.h"

#define HLL_PRECISION 14u
#define HLL_REGISTER_COUNT (1u << HLL_PRECISION)                       /* 16384 */
#define HLL_REGISTER_BITS 6u
#define HLL_REGISTER_MAX ((1u << HLL_REGISTER_BITS) - 1u)              /* 63 */
#define HLL_HEADER_BYTES 16u
#define HLL_DENSE_BYTES (HLL_HEADER_BYTES + HLL_REGISTER_COUNT * HLL_REGISTER_BITS / 8u)
#define HLL_SPARSE_VALUE_MAX 32u   /* the largest value a VAL opcode holds */
/* The empty value PFADD creates: the header and one XZERO covering every register. */
#define HLL_EMPTY_BYTES (HLL_HEADER_BYTES + 2u)
/* A valid sparse value has at most one opcode of at most 2 bytes per register. */
#define HLL_SPARSE_BYTES_MAX (HLL_HEADER_BYTES + 2u * HLL_REGISTER_COUNT)
/* One change of a sparse value grows it by at most 3 bytes (XZERO into XZERO VAL XZERO). */
#define HLL_SPARSE_GROWTH_MAX 3u
/* A work buffer holds any valid value, the growth of one change and a byte past the end
 * (Redis's split may write its 5 bytes where a cut-off opcode at the end stood). */
#define HLL_WORK_BYTES (HLL_SPARSE_BYTES_MAX + HLL_SPARSE_GROWTH_MAX + 1u)

enum hll_encoding {
    HLL_ENCODING_DENSE = 0,
    HLL_ENCODING_SPARSE = 1,
};

/* What a change did (Redis's 1, 0 and -1). */
enum hll_result {
    HLL_UNCHANGED = 0,
    HLL_UPDATED = 1,
    HLL_INVALID = 2, /* a corrupt sparse value: the register was not found, or the
                        promotion to dense found the registers miscounted */
};

/* A value being changed, in a buffer of the caller's (bytes[0 .. capacity)). */
struct hll_work {
    uint8_t *bytes;             /* the value and, at bytes[length], the byte past its end
                                   (0 when loaded); length + GROWTH_MAX + 1 <= capacity */
    uint32_t length;            /* its bytes now */
    uint32_t capacity;          /* the buffer's size */
    uint8_t *dense;             /* HLL_DENSE_BYTES of scratch for a promotion */
    uint64_t sparse_bytes_max;  /* hll-sparse-max-bytes: a sparse value grows no further */
};

/* MurmurHash64A as Redis modified it (endian neutral), with Redis's seed 0xadc83b19. */
uint64_t hll_hash(const uint8_t *bytes, uint32_t length);

/* The register an element falls in (*register_index) and its value (1..51). */
uint8_t hll_pattern(struct slice element, uint32_t *register_index);

/* Whether a string is an HLL as Redis's isHLLObjectOrReply checks: at least a header,
 * "HYLL", a known encoding, and a dense one exactly HLL_DENSE_BYTES long. */
bool hll_is_valid(struct slice value);

/* Writes the empty sparse value into `bytes` (HLL_EMPTY_BYTES, and a 0 past them). */
uint32_t hll_create(uint8_t *bytes);

/* One register of a dense value's register bytes (after the header). */
uint8_t hll_dense_get(const uint8_t *registers, uint32_t index);
void hll_dense_set(uint8_t *registers, uint32_t index, uint8_t value);

/* Raises register `index` to `count` if it is lower (Redis's hllSparseSet or hllDenseSet),
 * turning a sparse value dense when needed. HLL_INVALID may leave the value as Redis
 * leaves it then (unchanged). */
enum hll_result hll_set(struct hll_work *work, uint32_t index, uint8_t count);

/* hll_set of an element's register. */
enum hll_result hll_add(struct hll_work *work, struct slice element);

/* Turns a sparse value dense (a dense one is left as it is); false when the sparse value's
 * registers do not add up to 16384, then nothing changed. */
bool hll_to_dense(struct hll_work *work);

/* Raises each of `registers` (16384 bytes, one per register) to the value's; false for a
 * sparse value whose registers do not add up to 16384, or whose opcodes run past register
 * 16383 (the ones read before are merged). */
bool hll_merge(uint8_t *registers, struct slice value);

/* The estimate of a valid value's registers; false for a corrupt sparse value. */
bool hll_count(struct slice value, uint64_t *cardinality);

/* The estimate of 16384 one-byte registers (PFCOUNT of several keys). */
uint64_t hll_count_registers(const uint8_t *registers);

/* The cached cardinality: whether it is valid, its value, and setting or invalidating it. */
bool hll_cache_valid(const uint8_t *bytes);
uint64_t hll_cache_get(const uint8_t *bytes);
void hll_cache_set(uint8_t *bytes, uint64_t cardinality);
void hll_cache_invalidate(uint8_t *bytes);

/* One sparse opcode at `offset` of a value: its kind, registers and value (0 for zeros);
 * returns the offset of the next one. */
enum hll_opcode {
    HLL_OPCODE_ZERO,
    HLL_OPCODE_XZERO,
    HLL_OPCODE_VAL,
};
uint32_t hll_sparse_opcode(struct slice value, uint32_t offset, enum hll_opcode *kind,
                           uint32_t *run, uint32_t *count);

#endif
