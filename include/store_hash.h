/*
 * Hashes in the store (the Redis hash type; the hash function is hashfn.h). A hash key's
 * value is one of two encodings, as Redis 7.0 keeps a hash in a listpack or a dict:
 *
 *   STORE_HASH_PACK (STORE_ENCODING_RAW): a forward pack (pack.h) of field, value, field,
 *     value, ... in insertion order (HDEL keeps the others' order), in ONE heap allocation,
 *     while the hash has at most STORE_HASH_PACK_FIELDS_MAX fields and every field and value
 *     is at most STORE_HASH_PACK_BYTES_MAX bytes (Redis's hash-max-listpack-entries and
 *     hash-max-listpack-value). A field is found by a walk of at most that many fields.
 *   STORE_HASH_SHAPED (STORE_ENCODING_ROOT2): a small hash whose field list other hashes
 *     share (shape.h): a forward pack of its shape's reference and its values only, in the
 *     shape's field order. A write that leaves a pack makes it a record when the list is
 *     interned (met before) and the record takes a smaller allocation; a write into a
 *     record makes it a pack first (which takes a pack's memory: an HDEL of a present field
 *     in a record can then answer STORE_OOM, with the heap full even past the command's
 *     reserve). Reads walk the record beside the shape's fields, as they walk a pack.
 *   STORE_HASH_TABLE (STORE_ENCODING_ROOT): a root allocation holding a dict (dict.h) of
 *     entries, one heap allocation per field: its chain link, the field's and the value's
 *     lengths as pack varints, then the field's bytes and the value's. Every field operation
 *     is one dict probe, whatever the hash's size.
 *
 * A write that would pass either threshold (a field or value argument longer than
 * STORE_HASH_PACK_BYTES_MAX, or a field past STORE_HASH_PACK_FIELDS_MAX) converts the whole
 * hash to a table first; a table never goes back to a pack (as in Redis). Every write takes
 * all the memory it needs (a new pack, or every new entry, the table of a conversion) before
 * it changes anything, so STORE_OOM means nothing changed; deletes fail only as
 * STORE_HASH_SHAPED says. A hash holds at least one field: the key goes with its last one.
 * kv's caps apply when set: a field longer than key_bytes_max, a value longer than
 * value_bytes_max, more than length_max fields.
 */
#ifndef KV_STORE_HASH_H
#define KV_STORE_HASH_H

#include "store.h"

/* The encodings of a hash key's value (enum store_encoding values). */
#define STORE_HASH_PACK STORE_ENCODING_RAW
#define STORE_HASH_TABLE STORE_ENCODING_ROOT
#define STORE_HASH_SHAPED STORE_ENCODING_ROOT2

/* Redis 7.0's defaults: hash-max-listpack-entries and hash-max-listpack-value. */
#define STORE_HASH_PACK_FIELDS_MAX 512u
#define STORE_HASH_PACK_BYTES_MAX 64u

/* Registers the hash type with the store (once, after store_init). */
void store_hash_init(struct store *store);

/* Takes hash-max-listpack-entries and -value as CONFIG SET left them (Redis's listpack-or-
 * hashtable rule: store.h's enum store_shape); the first write after startup reads them. */
void store_hash_configure(void);

/* Fields in a live hash key. */
uint64_t store_hash_length(const struct store *store, uint32_t key_ref);

/* Whether a live hash key is compact, a pack or a record (else a table): its order is its
 * fields' insertion order. */
bool store_hash_packed(const struct store *store, uint32_t key_ref);

/* The value of `field` in a live hash key (valid until the store next changes), or false. */
KV_MUST_USE bool store_hash_get(const struct store *store, uint32_t key_ref, struct slice field,
                                struct slice *value);

/* HSET/HMSET/HSETNX at the key found (a hash, absent, or another type: STORE_WRONGTYPE):
 * pairs[0..2*pair_count) are field, value, field, value...; a repeated field takes its last
 * value, at the place of its first. Checks the caps first (a new key's length, each field's
 * and value's, the fields the hash would hold, a new key past key_count) and changes nothing
 * when one fails, or when the heap has no room (STORE_OOM). With `only_new` (one pair), an
 * existing field keeps its value. *added: fields that did not exist. Tells watchers. */
KV_MUST_USE enum store_status store_hash_set(struct store *store, struct store_found *found,
                                             struct slice key, const struct slice *pairs,
                                             uint32_t pair_count, bool only_new,
                                             uint32_t *added);

/* HDEL on the hash found: removes the fields present; the key goes with its last field.
 * *removed_count: how many it removed. STORE_OOM only when the hash is a record that must
 * become a pack first and the heap has no room (see STORE_HASH_SHAPED); nothing changed. */
KV_MUST_USE enum store_status store_hash_delete(struct store *store, struct store_found *found,
                                                const struct slice *fields,
                                                uint32_t field_count, uint32_t *removed_count);

/* Called with each field and its value (the slices are valid during the call only). */
typedef void store_hash_visit_fn(void *context, struct slice field, struct slice value);

/* Visits every field of a live hash key once: a pack's in insertion order, a table's in its
 * bucket order. The store must not change during the walk. O(fields). */
void store_hash_each(const struct store *store, uint32_t key_ref, store_hash_visit_fn *visit,
                     void *context);

/* A walk over a table hash's fields (store_hash_packed false) that may pause between calls:
 * the snapshot writes a large hash across loop passes. It stays valid while the hash does not
 * change: writes to the key are the only other thing that moves its entries, but for
 * HRANDFIELD's window, which moves buckets of a dict in the middle of a rehash, so the start
 * finishes a rehash in progress (a bounded, one-off O(buckets) step). */
struct store_hash_cursor {
    uint32_t key_ref;         /* the hash walked */
    uint64_t left;            /* fields still to return */
    struct dict_walk walk;    /* the table's dict walk */
};

void store_hash_cursor_start(struct store *store, uint32_t key_ref,
                             struct store_hash_cursor *cursor);

/* The next field and its value (valid until the store next changes), or false after the
 * last one. */
KV_MUST_USE bool store_hash_cursor_next(const struct store *store,
                                        struct store_hash_cursor *cursor, struct slice *field,
                                        struct slice *value);

/* HSCAN of a table (not a pack, which HSCAN answers whole): visits the fields of the
 * bucket(s) `cursor` names and returns the next cursor, 0 when the scan is complete, with
 * dict_scan's guarantee (every field present for a whole scan is visited at least once). */
uint64_t store_hash_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                         store_hash_visit_fn *visit, void *context);

/* A random field of a live hash key and its value (HRANDFIELD), each field about equally
 * likely. Draws from store->random_state. */
void store_hash_random(struct store *store, uint32_t key_ref, struct slice *field,
                       struct slice *value);

/* HRANDFIELD with a positive count: visits `count` (1 .. length - 1) distinct fields that
 * follow one another from a random place: a pack's consecutive pairs (wrapping around), a
 * table's consecutive buckets in SCAN order. O(count) plus the empty buckets passed. */
void store_hash_window(struct store *store, uint32_t key_ref, uint64_t count,
                       store_hash_visit_fn *visit, void *context);


/* The most heap bytes (usable sizes, so class rounding included) a value of `count`
 * elements of up to `element_bytes` each (and `field_bytes`, for a field or member) can take
 * in its worst encoding and fill, its share of table buckets included; `kv --plan` sums it
 * into the budget that guarantees the caps. */
uint64_t store_hash_bound_bytes(uint64_t count, uint64_t field_bytes, uint64_t value_bytes);

#endif
