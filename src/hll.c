/*
 * HyperLogLog in Redis 7.0's byte format (see hll.h for the format). Every change follows
 * hyperloglog.c's steps, since the bytes it leaves are what GET answers: a sparse register is
 * raised by replacing the one opcode covering it with at most three (at most 5 bytes), then
 * equal VAL opcodes near it are merged, scanning at most 5 opcodes from the one before.
 * Invariants of a work buffer: length + HLL_SPARSE_GROWTH_MAX + 1 <= capacity while sparse
 * (the split writes up to 5 bytes where a 1-byte opcode at the end stood), exactly
 * HLL_DENSE_BYTES while dense; bytes[length] is what Redis's string holds past its end (its
 * NUL terminator, or what a split of a cut-off last XZERO wrote there), because such an
 * XZERO reads it. A stored value has no such byte: a read of one takes 0, which differs
 * from Redis only for a value that an earlier command left with that garbage. No allocation, no I/O; every loop is bounded by the value's
 * bytes or the register count (the estimator's series by a fixed cap they never reach).
 */
#include "hll.h"

#include <math.h>
#include <string.h>

#include "kv_assert.h"

static_assert(HLL_DENSE_BYTES == 12304u, "Redis's dense size");
static_assert(HLL_REGISTER_COUNT * HLL_REGISTER_BITS % 8u == 0, "registers fill whole bytes");
static_assert(HLL_WORK_BYTES >= HLL_DENSE_BYTES, "a work buffer holds a dense value");

#define HLL_SEED 0xadc83b19ull
#define HLL_MURMUR_M 0xc6a4a7935bd1e995ull
#define HLL_MURMUR_R 47u
#define HLL_OFFSET_ENCODING 4u  /* the encoding byte in the header */
#define HLL_OFFSET_CACHE 8u     /* the cached cardinality's first byte */
#define HLL_Q (64u - HLL_PRECISION) /* hash bits above the register index */
#define HLL_ALPHA_INF 0.721347520444481703680 /* 0.5 / ln(2) */
/* The estimator's series converge in under 100 terms for any register histogram (the sigma
 * series squares its x each step); this cap is never reached, only written down. */
#define HLL_SERIES_TERMS_MAX 4096u
/* Histogram slots: any 6-bit register value, so a corrupt dense value cannot index past it. */
#define HLL_HISTOGRAM_SLOTS 64u
/* No place: the opcode has none before it. */
#define HLL_OFFSET_NONE UINT32_MAX

uint64_t hll_hash(const uint8_t *bytes, uint32_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    uint64_t hash = HLL_SEED ^ ((uint64_t)length * HLL_MURMUR_M);
    uint32_t whole_bytes = length - (length & 7u);
    /* Bounded by the element's bytes, 8 at a time. */
    for (uint32_t offset = 0; offset < whole_bytes; offset += 8) {
        uint64_t k = 0;
        for (uint32_t shift = 0; shift < 8; shift++) {
            k |= (uint64_t)bytes[offset + shift] << (8u * shift);
        }
        k *= HLL_MURMUR_M;
        k ^= k >> HLL_MURMUR_R;
        k *= HLL_MURMUR_M;
        hash ^= k;
        hash *= HLL_MURMUR_M;
    }
    uint32_t tail_bytes = length & 7u;
    if (tail_bytes > 0) {
        /* Redis's fall-through switch: the tail bytes little-endian, then one multiply. */
        for (uint32_t index = 0; index < tail_bytes; index++) {
            hash ^= (uint64_t)bytes[whole_bytes + index] << (8u * index);
        }
        hash *= HLL_MURMUR_M;
    }
    hash ^= hash >> HLL_MURMUR_R;
    hash *= HLL_MURMUR_M;
    hash ^= hash >> HLL_MURMUR_R;
    return hash;
}

uint8_t hll_pattern(struct slice element, uint32_t *register_index)
{
    uint64_t hash = hll_hash(element.bytes, element.length);
    *register_index = (uint32_t)(hash & (HLL_REGISTER_COUNT - 1u));
    /* The run of zeros above the index bits, plus the 1 ending it; bit Q stops the run. */
    uint64_t rest = (hash >> HLL_PRECISION) | (1ull << HLL_Q);
    uint8_t count = (uint8_t)(__builtin_ctzll(rest) + 1);
    KV_ASSERT(count >= 1 && count <= HLL_Q + 1u);
    KV_ASSERT(*register_index < HLL_REGISTER_COUNT);
    return count;
}

bool hll_is_valid(struct slice value)
{
    if (value.length < HLL_HEADER_BYTES || memcmp(value.bytes, "HYLL", 4) != 0) {
        return false;
    }
    uint8_t encoding = value.bytes[HLL_OFFSET_ENCODING];
    if (encoding > HLL_ENCODING_SPARSE) {
        return false;
    }
    return encoding != HLL_ENCODING_DENSE || value.length == HLL_DENSE_BYTES;
}

uint32_t hll_create(uint8_t *bytes)
{
    KV_ASSERT(bytes != NULL);
    memset(bytes, 0, HLL_EMPTY_BYTES);
    memcpy(bytes, "HYLL", 4);
    bytes[HLL_OFFSET_ENCODING] = HLL_ENCODING_SPARSE;
    /* One XZERO of 16384 registers: 01 and the length less one in 14 bits. */
    uint32_t run = HLL_REGISTER_COUNT - 1u;
    bytes[HLL_HEADER_BYTES] = (uint8_t)(0x40u | (run >> 8));
    bytes[HLL_HEADER_BYTES + 1] = (uint8_t)(run & 0xffu);
    bytes[HLL_EMPTY_BYTES] = 0; /* the terminator a work buffer keeps past the end */
    KV_ASSERT(hll_is_valid((struct slice){.bytes = bytes, .length = HLL_EMPTY_BYTES}));
    return HLL_EMPTY_BYTES;
}

uint8_t hll_dense_get(const uint8_t *registers, uint32_t index)
{
    KV_ASSERT(index < HLL_REGISTER_COUNT);
    uint32_t byte_index = index * HLL_REGISTER_BITS / 8u;
    uint32_t first_bit = index * HLL_REGISTER_BITS & 7u;
    uint32_t value = (uint32_t)registers[byte_index] >> first_bit;
    /* A register starting past bit 2 runs into the next byte (never the last register's). */
    if (first_bit > 8u - HLL_REGISTER_BITS) {
        value |= (uint32_t)registers[byte_index + 1] << (8u - first_bit);
    }
    return (uint8_t)(value & HLL_REGISTER_MAX);
}

void hll_dense_set(uint8_t *registers, uint32_t index, uint8_t value)
{
    KV_ASSERT(index < HLL_REGISTER_COUNT);
    KV_ASSERT(value <= HLL_REGISTER_MAX);
    uint32_t byte_index = index * HLL_REGISTER_BITS / 8u;
    uint32_t first_bit = index * HLL_REGISTER_BITS & 7u;
    registers[byte_index] &= (uint8_t)~(HLL_REGISTER_MAX << first_bit);
    registers[byte_index] |= (uint8_t)(value << first_bit);
    if (first_bit > 8u - HLL_REGISTER_BITS) {
        uint32_t high_bits = 8u - first_bit;
        registers[byte_index + 1] &= (uint8_t)~(HLL_REGISTER_MAX >> high_bits);
        registers[byte_index + 1] |= (uint8_t)(value >> high_bits);
    }
}

/* One opcode of a sparse value's bytes[0 .. length), `tail` standing for the byte past its
 * end: an XZERO whose first byte is the last one takes it as its second (Redis reads its
 * string's next byte: the NUL of a stored value, or what a change left in the work buffer). */
static uint32_t hll_opcode_read(const uint8_t *bytes, uint32_t length, uint8_t tail,
                                uint32_t offset, enum hll_opcode *kind, uint32_t *run,
                                uint32_t *count)
{
    KV_ASSERT(offset < length);
    uint8_t byte = bytes[offset];
    if ((byte & 0xc0u) == 0) {
        *kind = HLL_OPCODE_ZERO;
        *run = (byte & 0x3fu) + 1u;
        *count = 0;
        return offset + 1;
    }
    if ((byte & 0xc0u) == 0x40u) {
        uint8_t low = offset + 1 < length ? bytes[offset + 1] : tail;
        *kind = HLL_OPCODE_XZERO;
        *run = ((((uint32_t)byte & 0x3fu) << 8) | low) + 1u;
        *count = 0;
        return offset + 2;
    }
    *kind = HLL_OPCODE_VAL;
    *run = (byte & 0x3u) + 1u;
    *count = ((byte >> 2) & 0x1fu) + 1u;
    KV_ASSERT(*count <= HLL_SPARSE_VALUE_MAX);
    return offset + 1;
}

uint32_t hll_sparse_opcode(struct slice value, uint32_t offset, enum hll_opcode *kind,
                           uint32_t *run, uint32_t *count)
{
    return hll_opcode_read(value.bytes, value.length, 0, offset, kind, run, count);
}

static uint8_t hll_val_opcode(uint32_t count, uint32_t run)
{
    KV_ASSERT(count >= 1 && count <= HLL_SPARSE_VALUE_MAX);
    KV_ASSERT(run >= 1 && run <= 4);
    return (uint8_t)(0x80u | ((count - 1u) << 2) | (run - 1u));
}

/* Writes a run of zero registers as Redis splits one: ZERO up to 64, XZERO past. */
static uint32_t hll_zero_opcode(uint8_t *into, uint32_t run)
{
    KV_ASSERT(run >= 1 && run <= HLL_REGISTER_COUNT);
    if (run > 64u) {
        into[0] = (uint8_t)(0x40u | ((run - 1u) >> 8));
        into[1] = (uint8_t)((run - 1u) & 0xffu);
        return 2;
    }
    into[0] = (uint8_t)(run - 1u);
    return 1;
}

/* Decodes a sparse value into dense registers (zeroed first); false when the registers do
 * not add up to 16384. An opcode running past register 16383 makes the value corrupt at
 * once, as in redis-server 7.0.15 with the CVE-2025-32023 fix (Debian's 7.0.15-1~deb12u10,
 * what the tests compare with; hllSparseToDense, hllMerge and hllSparseRegHisto alike). */
static bool hll_sparse_decode(struct slice value, uint8_t tail, uint8_t *registers)
{
    memset(registers, 0, HLL_DENSE_BYTES - HLL_HEADER_BYTES);
    uint64_t index = 0;
    uint32_t offset = HLL_HEADER_BYTES;
    /* Bounded by the value's bytes: each opcode takes at least one. */
    while (offset < value.length) {
        enum hll_opcode kind;
        uint32_t run = 0;
        uint32_t count = 0;
        offset = hll_opcode_read(value.bytes, value.length, tail, offset, &kind, &run, &count);
        if (index + run > HLL_REGISTER_COUNT) {
            return false;
        }
        for (uint32_t step = 0; kind == HLL_OPCODE_VAL && step < run; step++) {
            hll_dense_set(registers, (uint32_t)index + step, (uint8_t)count);
        }
        index += run;
    }
    return index == HLL_REGISTER_COUNT;
}

bool hll_to_dense(struct hll_work *work)
{
    KV_ASSERT(work->length >= HLL_HEADER_BYTES);
    if (work->bytes[HLL_OFFSET_ENCODING] == HLL_ENCODING_DENSE) {
        return true;
    }
    struct slice sparse = {.bytes = work->bytes, .length = work->length};
    if (!hll_sparse_decode(sparse, work->bytes[work->length], work->dense + HLL_HEADER_BYTES)) {
        return false;
    }
    /* The header is copied whole (magic, reserved bytes, cache), as Redis does. */
    memcpy(work->dense, work->bytes, HLL_HEADER_BYTES);
    work->dense[HLL_OFFSET_ENCODING] = HLL_ENCODING_DENSE;
    KV_ASSERT(work->capacity >= HLL_DENSE_BYTES);
    memcpy(work->bytes, work->dense, HLL_DENSE_BYTES);
    work->length = HLL_DENSE_BYTES;
    return true;
}

/* The opcode covering register `index`, as Redis's hllSparseSet step 1 finds it. */
struct hll_cover {
    uint32_t offset;      /* the opcode */
    uint32_t previous;    /* the one before, or HLL_OFFSET_NONE */
    uint32_t next;        /* the one after, or HLL_OFFSET_NONE when it is the last */
    uint32_t first;       /* the first register it covers */
    uint32_t run;         /* how many it covers */
    uint32_t count;       /* their value (VAL), else 0 */
    enum hll_opcode kind;
};

static bool hll_sparse_find(const struct hll_work *work, uint32_t index, struct hll_cover *cover)
{
    struct slice value = {.bytes = work->bytes, .length = work->length};
    uint32_t offset = HLL_HEADER_BYTES;
    uint64_t first = 0;
    cover->previous = HLL_OFFSET_NONE;
    cover->run = 0;
    /* Bounded by the value's bytes: each opcode takes at least one. */
    while (offset < value.length) {
        uint32_t next = hll_opcode_read(value.bytes, value.length, work->bytes[work->length],
                                        offset, &cover->kind, &cover->run, &cover->count);
        if (index <= first + cover->run - 1u) {
            cover->offset = offset;
            cover->next = next >= value.length ? HLL_OFFSET_NONE : next;
            cover->first = (uint32_t)first;
            KV_ASSERT(cover->first <= index);
            return true;
        }
        cover->previous = offset;
        offset = next;
        first += cover->run;
    }
    return false;
}

/* Redis's step 2 case D: the opcodes that replace the covering one (at most 5 bytes). */
static uint32_t hll_sparse_split(const struct hll_cover *cover, uint32_t index, uint8_t count,
                                 uint8_t *sequence)
{
    uint32_t last = cover->first + cover->run - 1u;
    uint32_t length = 0;
    if (cover->kind != HLL_OPCODE_VAL) {
        if (index != cover->first) {
            length += hll_zero_opcode(sequence + length, index - cover->first);
        }
        sequence[length++] = hll_val_opcode(count, 1);
        if (index != last) {
            length += hll_zero_opcode(sequence + length, last - index);
        }
    } else {
        if (index != cover->first) {
            sequence[length++] = hll_val_opcode(cover->count, index - cover->first);
        }
        sequence[length++] = hll_val_opcode(count, 1);
        if (index != last) {
            sequence[length++] = hll_val_opcode(cover->count, last - index);
        }
    }
    KV_ASSERT(length >= 1 && length <= 5);
    return length;
}

/* Redis's step 4: merges adjacent equal VALs, scanning at most 5 opcodes from `from`. */
static void hll_sparse_merge(struct hll_work *work, uint32_t from)
{
    uint8_t *bytes = work->bytes;
    uint32_t offset = from;
    uint32_t scans_left = 5;
    /* Bounded by the 5 scans. */
    while (offset < work->length && scans_left > 0) {
        scans_left--;
        uint8_t byte = bytes[offset];
        if ((byte & 0xc0u) == 0x40u) {
            offset += 2;
            continue;
        }
        if ((byte & 0xc0u) == 0) {
            offset++;
            continue;
        }
        if (offset + 1 < work->length && (bytes[offset + 1] & 0x80u)) {
            uint32_t count = ((byte >> 2) & 0x1fu) + 1u;
            uint32_t next_count = ((bytes[offset + 1] >> 2) & 0x1fu) + 1u;
            uint32_t run = (byte & 3u) + 1u + (bytes[offset + 1] & 3u) + 1u;
            if (count == next_count && run <= 4) {
                bytes[offset + 1] = hll_val_opcode(count, run);
                /* The byte past the end moves down too, then the terminator replaces it. */
                memmove(bytes + offset, bytes + offset + 1, work->length - offset);
                work->length--;
                bytes[work->length] = 0;
                continue; /* the merged one may merge with the next */
            }
        }
        offset++;
    }
}

/* Promotes to dense and sets the register there, as Redis's "promote" label. */
static enum hll_result hll_promote(struct hll_work *work, uint32_t index, uint8_t count)
{
    if (!hll_to_dense(work)) {
        return HLL_INVALID;
    }
    uint8_t *registers = work->bytes + HLL_HEADER_BYTES;
    KV_ASSERT(hll_dense_get(registers, index) < count); /* a sparse value holds at most 32 */
    hll_dense_set(registers, index, count);
    return HLL_UPDATED;
}

static enum hll_result hll_sparse_set(struct hll_work *work, uint32_t index, uint8_t count)
{
    KV_ASSERT(work->length + HLL_SPARSE_GROWTH_MAX + 1u <= work->capacity);
    if (count > HLL_SPARSE_VALUE_MAX) {
        return hll_promote(work, index, count);
    }
    struct hll_cover cover;
    if (!hll_sparse_find(work, index, &cover)) {
        return HLL_INVALID;
    }
    uint8_t *at = work->bytes + cover.offset;
    if (cover.kind == HLL_OPCODE_VAL && cover.count >= count) {
        return HLL_UNCHANGED; /* case A */
    }
    if (cover.run == 1 && cover.kind != HLL_OPCODE_XZERO) {
        *at = hll_val_opcode(count, 1); /* cases B and C */
    } else {
        uint8_t sequence[5];
        uint32_t sequence_bytes = hll_sparse_split(&cover, index, count, sequence);
        uint32_t old_bytes = cover.kind == HLL_OPCODE_XZERO ? 2u : 1u;
        int64_t delta = (int64_t)sequence_bytes - (int64_t)old_bytes;
        /* A value the buffer cannot grow (only a corrupt one: a valid value stays within
         * HLL_SPARSE_BYTES_MAX) is promoted as one past hll-sparse-max-bytes. */
        if (delta > 0 && (work->length + (uint64_t)delta > work->sparse_bytes_max ||
                          work->length + (uint64_t)delta + HLL_SPARSE_GROWTH_MAX + 1u >
                              work->capacity)) {
            return hll_promote(work, index, count);
        }
        if (delta != 0 && cover.next != HLL_OFFSET_NONE) {
            memmove(work->bytes + (int64_t)cover.next + delta, work->bytes + cover.next,
                    work->length - cover.next);
        }
        work->length = (uint32_t)((int64_t)work->length + delta);
        work->bytes[work->length] = 0; /* sdsIncrLen's terminator */
        /* Where the opcode was the last one and half cut off, Redis writes the sequence past
         * its new end (over the terminator), and a later change in the same command reads
         * that byte; the capacity invariant leaves room for it. */
        memcpy(at, sequence, sequence_bytes);
    }
    hll_sparse_merge(work, cover.previous != HLL_OFFSET_NONE ? cover.previous
                                                             : HLL_HEADER_BYTES);
    hll_cache_invalidate(work->bytes);
    KV_ASSERT(work->length + HLL_SPARSE_GROWTH_MAX + 1u <= work->capacity);
    return HLL_UPDATED;
}

enum hll_result hll_set(struct hll_work *work, uint32_t index, uint8_t count)
{
    KV_ASSERT(index < HLL_REGISTER_COUNT);
    KV_ASSERT(count >= 1 && count <= HLL_REGISTER_MAX);
    if (work->bytes[HLL_OFFSET_ENCODING] == HLL_ENCODING_DENSE) {
        KV_ASSERT(work->length == HLL_DENSE_BYTES);
        uint8_t *registers = work->bytes + HLL_HEADER_BYTES;
        if (hll_dense_get(registers, index) >= count) {
            return HLL_UNCHANGED;
        }
        hll_dense_set(registers, index, count);
        return HLL_UPDATED;
    }
    return hll_sparse_set(work, index, count);
}

enum hll_result hll_add(struct hll_work *work, struct slice element)
{
    uint32_t index = 0;
    uint8_t count = hll_pattern(element, &index);
    return hll_set(work, index, count);
}

bool hll_merge(uint8_t *registers, struct slice value)
{
    KV_ASSERT(hll_is_valid(value));
    if (value.bytes[HLL_OFFSET_ENCODING] == HLL_ENCODING_DENSE) {
        const uint8_t *dense = value.bytes + HLL_HEADER_BYTES;
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            uint8_t count = hll_dense_get(dense, index);
            registers[index] = count > registers[index] ? count : registers[index];
        }
        return true;
    }
    uint64_t index = 0;
    uint32_t offset = HLL_HEADER_BYTES;
    /* Bounded by the value's bytes: each opcode takes at least one. */
    while (offset < value.length) {
        enum hll_opcode kind;
        uint32_t run = 0;
        uint32_t count = 0;
        offset = hll_sparse_opcode(value, offset, &kind, &run, &count);
        if (index + run > HLL_REGISTER_COUNT) {
            return false;
        }
        for (uint32_t step = 0; kind == HLL_OPCODE_VAL && step < run; step++) {
            uint8_t *at = &registers[index + step];
            *at = count > *at ? (uint8_t)count : *at;
        }
        index += run;
    }
    return index == HLL_REGISTER_COUNT;
}

/* Ertl's sigma(x) (arXiv:1702.01284), as Redis's hllSigma. */
static double hll_sigma(double x)
{
    if (x == 1.) {
        return INFINITY;
    }
    double y = 1;
    double z = x;
    double z_before = 0;
    uint32_t terms = 0;
    do {
        x *= x;
        z_before = z;
        z += x * y;
        y += y;
        terms++;
        KV_ASSERT(terms < HLL_SERIES_TERMS_MAX);
    } while (z_before != z);
    return z;
}

/* Ertl's tau(x), as Redis's hllTau. */
static double hll_tau(double x)
{
    if (x == 0. || x == 1.) {
        return 0.;
    }
    double y = 1.0;
    double z = 1 - x;
    double z_before = 0;
    uint32_t terms = 0;
    do {
        x = sqrt(x);
        z_before = z;
        y *= 0.5;
        z -= pow(1 - x, 2) * y;
        terms++;
        KV_ASSERT(terms < HLL_SERIES_TERMS_MAX);
    } while (z_before != z);
    return z / 3;
}

/* The estimate from a register histogram (Redis's hllCount after its histogram). */
static uint64_t hll_estimate(const int64_t *histogram)
{
    double m = HLL_REGISTER_COUNT;
    double z = m * hll_tau((m - (double)histogram[HLL_Q + 1]) / m);
    for (uint32_t value = HLL_Q; value >= 1; value--) {
        z += (double)histogram[value];
        z *= 0.5;
    }
    z += m * hll_sigma((double)histogram[0] / m);
    double estimate = (double)llroundl(HLL_ALPHA_INF * m * m / z);
    KV_ASSERT(estimate >= 0);
    return (uint64_t)estimate;
}

bool hll_count(struct slice value, uint64_t *cardinality)
{
    KV_ASSERT(hll_is_valid(value));
    int64_t histogram[HLL_HISTOGRAM_SLOTS] = {0};
    if (value.bytes[HLL_OFFSET_ENCODING] == HLL_ENCODING_DENSE) {
        const uint8_t *dense = value.bytes + HLL_HEADER_BYTES;
        for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
            histogram[hll_dense_get(dense, index)]++;
        }
    } else {
        uint64_t index = 0;
        uint32_t offset = HLL_HEADER_BYTES;
        /* Bounded by the value's bytes: each opcode takes at least one. */
        while (offset < value.length) {
            enum hll_opcode kind;
            uint32_t run = 0;
            uint32_t count = 0;
            offset = hll_sparse_opcode(value, offset, &kind, &run, &count);
            if (index + run > HLL_REGISTER_COUNT) {
                return false;
            }
            histogram[count] += run;
            index += run;
        }
        if (index != HLL_REGISTER_COUNT) {
            return false;
        }
    }
    *cardinality = hll_estimate(histogram);
    return true;
}

uint64_t hll_count_registers(const uint8_t *registers)
{
    int64_t histogram[HLL_HISTOGRAM_SLOTS] = {0};
    for (uint32_t index = 0; index < HLL_REGISTER_COUNT; index++) {
        KV_ASSERT(registers[index] <= HLL_REGISTER_MAX);
        histogram[registers[index]]++;
    }
    return hll_estimate(histogram);
}

bool hll_cache_valid(const uint8_t *bytes)
{
    return (bytes[HLL_OFFSET_CACHE + 7] & 0x80u) == 0;
}

uint64_t hll_cache_get(const uint8_t *bytes)
{
    uint64_t cardinality = 0;
    for (uint32_t index = 0; index < 8; index++) {
        cardinality |= (uint64_t)bytes[HLL_OFFSET_CACHE + index] << (8u * index);
    }
    return cardinality;
}

void hll_cache_set(uint8_t *bytes, uint64_t cardinality)
{
    for (uint32_t index = 0; index < 8; index++) {
        bytes[HLL_OFFSET_CACHE + index] = (uint8_t)(cardinality >> (8u * index));
    }
    KV_ASSERT(hll_cache_get(bytes) == cardinality);
}

void hll_cache_invalidate(uint8_t *bytes)
{
    bytes[HLL_OFFSET_CACHE + 7] |= 0x80u;
    KV_ASSERT(!hll_cache_valid(bytes));
}
