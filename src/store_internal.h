/*
 * The store's core as its type files see it (store_<type>.c only: commands use store.h and
 * the type headers). Every function here keeps the core's invariants given its stated
 * preconditions. A write that keeps a key calls store_modified before changing it;
 * store_key_create and store_remove tell watchers themselves. Any function that may move a
 * key object takes the found record and updates it.
 */
#ifndef KV_STORE_INTERNAL_H
#define KV_STORE_INTERNAL_H

#include <string.h>

#include "store.h"

/* The entry of the expires dict: the key it names (the name is read from the key object). */
struct store_expire {
    uint32_t link;       /* the expires dict's chain */
    uint32_t key_ref;    /* the key object */
};

/* Registers a type's operations (once, from store_<type>_init, before any key of it). */
void store_type_register(struct store *store, uint8_t type, const struct store_type_ops *ops);

/* The embedded value's bytes, for writing in place (the key is live, of the caller's type,
 * and store_modified was called). */
static inline uint8_t *store_key_value_bytes(struct store_key *key)
{
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_EMBEDDED);
    uint32_t expire_bytes = (key->meta & STORE_META_EXPIRES) ? (uint32_t)sizeof(int64_t) : 0;
    return (uint8_t *)(key + 1) + expire_bytes + key->key_bytes;
}

/* Bytes of a key object holding `key_bytes` of key and `value_bytes` embedded: its content.
 * The allocation holds store_key_trailer_bytes more (cluster mode's slot links). */
uint64_t store_key_object_bytes(uint64_t key_bytes, uint64_t value_bytes, bool expires);

/* Bytes every key object of this store carries after its content: its slot links in cluster
 * mode (STORE_SLOT_TRAILER_BYTES), else 0. A type that sizes a key object (a string deciding
 * to embed, or to write in place) adds them. */
static inline uint32_t store_key_trailer_bytes(const struct store *store)
{
    KV_ASSERT(store->slot_trailer_bytes == 0 ||
              store->slot_trailer_bytes == STORE_SLOT_TRAILER_BYTES);
    return store->slot_trailer_bytes;
}

/* Whether a new key of this name may be created: STORE_KEY_TOO_LONG or STORE_FULL (caps). */
KV_MUST_USE enum store_status store_key_check(const struct store *store, struct slice key);

/* Creates the absent key `found` names (its find was a miss, its caps checked) with an
 * embedded value of `value_bytes` (uninitialised: the caller writes it). STORE_OOM leaves
 * nothing changed. On STORE_OK *found names the new key. */
KV_MUST_USE enum store_status store_key_create(struct store *store, struct store_found *found,
                                               struct slice key, uint8_t type,
                                               uint32_t value_bytes);

/* A key object for `key` of `type`, with `value_bytes` embedded (uninitialised) and, when
 * at_ms > 0, that expiry time; not in the keyspace yet. NULL when the heap has no room. */
struct store_key *store_key_build(struct store *store, struct slice key, uint8_t type,
                                  uint32_t value_bytes, int64_t at_ms);

/* Gives a built object (not in the keyspace yet) a separate value `value_ref` in `encoding`;
 * it was built with no embedded bytes. */
static inline void store_object_set_root(struct store_key *object, uint8_t encoding,
                                         uint32_t value_ref)
{
    KV_ASSERT(object->link == HEAP_REF_NONE);
    KV_ASSERT(store_key_encoding(object) == STORE_ENCODING_EMBEDDED && object->value == 0);
    KV_ASSERT(encoding != STORE_ENCODING_EMBEDDED && encoding <= STORE_META_ENCODING_MASK);
    object->meta |= (uint32_t)encoding << STORE_META_ENCODING_SHIFT;
    object->value = value_ref;
}

/* Puts a built object (same name) in place of the live key found: the old value goes (its
 * type's release) and so does the old object; the expires dict follows the new object's
 * expiry. `expire_spare` is an allocation of sizeof(struct store_expire) the caller took for
 * a new object that expires where the old did not (else NULL, or given back here unused).
 * *found then names the new object. Cannot fail. */
void store_key_swap(struct store *store, struct store_found *found, struct store_key *object,
                    struct store_expire *expire_spare);

/* Enters a built object for an absent key (its find was a miss): the same rules for
 * expire_spare. *found then names it. Cannot fail. */
void store_key_insert(struct store *store, struct store_found *found, struct store_key *object,
                      struct store_expire *expire_spare);

/* Grows or shrinks the embedded value of a live key to `value_bytes`, keeping its first
 * min(old, new) bytes; the object may move (*found follows it). STORE_OOM leaves it as it
 * was. Shrinking never fails. */
KV_MUST_USE enum store_status store_key_resize(struct store *store, struct store_found *found,
                                               uint32_t value_bytes);

/* Makes a live key's value a separate allocation `value_ref` in `encoding` (RAW, ROOT,
 * ROOT2), shrinking away any embedded bytes (which never fails). The caller released or
 * moved what the value was. */
void store_key_set_root(struct store *store, struct store_found *found, uint8_t encoding,
                        uint32_t value_ref);

/* Makes a live key's value embedded again (from a root), `value_bytes` long: STORE_OOM when
 * the object cannot grow. The caller releases the old root after success. */
KV_MUST_USE enum store_status store_key_set_embedded(struct store *store,
                                                     struct store_found *found,
                                                     uint32_t value_bytes);

/* Changes a live key's type (SET over a list): its type's release has run already. */
void store_key_retype(struct store_key *key, uint8_t type);

/* Gives back what a key's value holds outside the key object (its type's release), and
 * leaves an empty embedded value. */
void store_value_release(struct store *store, struct store_found *found);

/* A list or sorted set key gained members: tells the ready hook (blocked clients). */
void store_ready(struct store *store, const struct store_key *key);

#endif
