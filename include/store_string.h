/*
 * Strings in the store. A string's bytes live in its key object (embedded) while the object
 * fits a small heap class, else in an allocation of their own (a blob). Every write of a
 * string's bytes is here (SET and its forms, APPEND, SETRANGE, the results of INCR and
 * INCRBYFLOAT): commands read a string's bytes, never write them. A write takes the record
 * store_find_typed gave (struct store_found), so it probes the keyspace no more; it assumes
 * the caller checked its caps (store_string_check), and answers STORE_OOM, having changed
 * nothing, when the heap has no room.
 */
#ifndef KV_STORE_STRING_H
#define KV_STORE_STRING_H

#include "store.h"

/* Registers the string type with the store (once, after store_init). */
void store_string_init(struct store *store);

/* The bytes of a live string key (valid until the store next changes). */
struct slice store_string_value(const struct store *store, uint32_t key_ref);

/* Whether `value` may be stored at the key found (of any type, or absent), in kv's order:
 * STORE_VALUE_TOO_LONG; then, for a new key, STORE_KEY_TOO_LONG or STORE_FULL. */
KV_MUST_USE enum store_status store_string_check(const struct store *store,
                                                 const struct store_found *found,
                                                 struct slice key, struct slice value);

/* Stores `value` at a checked key: creates it, or replaces what it held (any type). The
 * expiry time becomes at_ms (0: none; a time already past removes the key, as Redis does),
 * or stays as it was with keep_ttl. Tells watchers. STORE_OOM changes nothing. */
KV_MUST_USE enum store_status store_string_put(struct store *store, struct store_found *found,
                                               struct slice key, struct slice value,
                                               int64_t at_ms, bool keep_ttl);

/* Writes `bytes` at `offset` of the string found (APPEND, SETRANGE), zero-filling any gap;
 * an absent key is created (its caps checked). offset + bytes.length is at most the value
 * cap. *length is the string's new length. STORE_OOM changes nothing. */
KV_MUST_USE enum store_status store_string_splice(struct store *store, struct store_found *found,
                                                  struct slice key, uint64_t offset,
                                                  struct slice bytes, uint64_t *length);

/* Cuts the string found to its first `length` bytes (at most its length), in place: a
 * shrink never needs memory (a sparse HyperLogLog shrinks when PFADD merges its opcodes).
 * Tells watchers. */
void store_string_truncate(struct store *store, struct store_found *found, uint32_t length);

/* What Redis would keep the string found as (enum store_shape), where the write's kind says
 * more than its bytes: put, set and a splice that creates the key leave STORE_SHAPE_COMPACT
 * (SET's rule); a splice of an existing key and a truncate leave STORE_SHAPE_CONVERTED ("raw",
 * as Redis unshares the string to write it). Commands whose Redis form differs say so here
 * (INCRBYFLOAT: NUMBER; SETRANGE, SETBIT, BITOP creating a key: CONVERTED). */
void store_string_shape_set(struct store *store, struct store_found *found, uint8_t shape);

/* Whether Redis would hold the live string as one of its shared integers (0..9999 as SET
 * or INCR stores them, not a COPY's duplicate): OBJECT REFCOUNT's answer, with the eviction
 * policy's say. */
bool store_string_shared_integer(const struct store *store, uint32_t key_ref);

/* The shape a COPY of the live string takes: its source's, but a shared integer's copy is
 * an integer of its own (Redis duplicates the object). */
uint8_t store_string_copy_shape(const struct store *store, uint32_t key_ref);

/* SET key value without options, in one probe: checks, then stores (tests, MSET). */
KV_MUST_USE enum store_status store_string_set(struct store *store, struct slice key,
                                               struct slice value);

/* GET: STORE_OK with the string's bytes (valid until the store next changes), or
 * STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_string_get(struct store *store, struct slice key,
                                               struct slice *value);

/* The heap bytes a string of `value_bytes` at a key of `key_bytes` takes (MSET's room check
 * and MEMORY USAGE). */
uint64_t store_string_bytes(uint64_t key_bytes, uint64_t value_bytes);

/* The same in this store: in cluster mode its key objects carry the slot links
 * (STORE_SLOT_TRAILER_BYTES) too, which store_string_bytes leaves out. */
uint64_t store_string_stored_bytes(const struct store *store, uint64_t key_bytes,
                                   uint64_t value_bytes);


/* The most heap bytes (usable sizes, so class rounding included) a value of `count`
 * elements of up to `element_bytes` each (and `field_bytes`, for a field or member) can take
 * in its worst encoding and fill, its share of table buckets included; `kv --plan` sums it
 * into the budget that guarantees the caps. */
uint64_t store_string_bound_bytes(uint64_t key_bytes, uint64_t value_bytes);

#endif
