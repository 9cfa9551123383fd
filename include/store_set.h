/*
 * Sets in the store. A set key's value is one separate heap allocation in one of three
 * encodings, chosen as Redis 7.0 chooses its own and never changed back (Redis does not
 * convert back either):
 *
 *   STORE_ENCODING_RAW    an intset (include/intset.h) while every member is an integer as
 *                         Redis decides it (intset_member_parse) and there are at most
 *                         STORE_SET_INTSET_ENTRIES_MAX (set-max-intset-entries); members are
 *                         kept, and answered, in ascending order, as Redis answers an intset.
 *   STORE_ENCODING_ROOT   a forward pack (include/pack.h) of the members, in the order they
 *                         came, while there are at most STORE_SET_PACK_ENTRIES_MAX of at most
 *                         STORE_SET_PACK_MEMBER_BYTES_MAX bytes each. Redis 7.0 keeps such a
 *                         set in a hashtable, whose order it does not define: the pack is
 *                         kv's own memory saving.
 *   STORE_ENCODING_ROOT2  a table: a dict (include/dict.h) of member entries {link, length,
 *                         bytes}, so SISMEMBER, SADD and SREM take O(1) at any size.
 *
 * A write past a bound converts: it builds the whole new encoding first, then releases the
 * old one. Every write takes all the memory it needs before it changes anything, and answers
 * STORE_OOM, having changed nothing, when the heap has no room. The caps (store.limits) give
 * kv's errors when set: a member longer than key_bytes_max (STORE_MEMBER_TOO_LONG), a set of
 * more than length_max members (STORE_SET_FULL). A set holds at least one member: the key
 * goes with its last one. Members read from a set (struct slice) stay valid until the store
 * next changes; an intset member's text lives in the caller's STORE_SET_DIGITS_BYTES buffer.
 */
#ifndef KV_STORE_SET_H
#define KV_STORE_SET_H

#include "dict.h"
#include "number.h"
#include "store.h"

/* Redis's set-max-intset-entries. */
#define STORE_SET_INTSET_ENTRIES_MAX 512u

/* The pack's bounds: Redis 7.2's set-max-listpack-entries and set-max-listpack-value. */
#define STORE_SET_PACK_ENTRIES_MAX 128u
#define STORE_SET_PACK_MEMBER_BYTES_MAX 64u

/* Room for an intset member's decimal text. */
#define STORE_SET_DIGITS_BYTES NUMBER_INT64_BYTES

/* Registers the set type with the store (once, after store_init). */
void store_set_init(struct store *store);

/* Takes set-max-intset-entries as CONFIG SET left it (Redis's intset-or-hashtable rule:
 * store.h's enum store_shape); the first write after startup reads it too. */
void store_set_configure(void);

/* Members of a live set key. */
uint64_t store_set_count(const struct store *store, uint32_t key_ref);

/* Whether `member` is in a live set key. O(log n) in an intset, O(n <= 128) in a pack, O(1)
 * in a table. */
bool store_set_contains(const struct store *store, uint32_t key_ref, struct slice member);

/* A walk over a set's members in the set's order (ascending for an intset, the pack's order,
 * the dict's order). The set must not change during the walk. */
struct store_set_cursor {
    uint32_t key_ref;         /* the set walked */
    uint32_t index;           /* members returned so far */
    uint32_t offset;          /* pack: the next entry's offset */
    struct dict_walk walk;    /* table: the dict's walk */
    char digits[STORE_SET_DIGITS_BYTES]; /* intset: the last member's text */
};

void store_set_cursor_start(const struct store *store, uint32_t key_ref,
                            struct store_set_cursor *cursor);

/* The next member, or false after the last one. *member is valid until the next call. */
KV_MUST_USE bool store_set_cursor_next(const struct store *store,
                                       struct store_set_cursor *cursor, struct slice *member);

/* SSCAN of a table: whether the live set key is one (an intset or a pack SSCAN answers
 * whole, as Redis answers an intset), and the members of the bucket(s) `cursor` names, with
 * the next cursor (0 when the scan is complete) and dict_scan's guarantee (every member
 * present for a whole scan is visited at least once). */
typedef void store_set_visit_fn(void *context, struct slice member);
bool store_set_tabled(const struct store *store, uint32_t key_ref);
uint64_t store_set_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                        store_set_visit_fn *visit, void *context);

/* Receives members (SPOP, SRANDMEMBER): each is valid only during the call. */
typedef void store_set_visit_fn(void *context, struct slice member);

/* SADD at the key found (a set, absent, or another type): checks everything first (in kv's
 * order: key length, type, member lengths, set full, store full), then takes every byte the
 * result needs; STORE_OOM or a cap's error changes nothing. *added: members that were new. */
KV_MUST_USE enum store_status store_set_add(struct store *store, struct store_found *found,
                                            struct slice key, const struct slice *members,
                                            uint32_t count, uint32_t *added);

/* SREM on the set found: removes the members present and returns how many; the key goes
 * with its last member (found->exists turns false). Never fails. */
uint32_t store_set_remove(struct store *store, struct store_found *found,
                          const struct slice *members, uint32_t count);

/* SPOP: removes min(count, size) random distinct members of the set found, giving each to
 * `visit` before it goes; the key goes with its last member. Never fails. */
void store_set_pop(struct store *store, struct store_found *found, uint64_t count,
                   store_set_visit_fn *visit, void *context);

/* SRANDMEMBER: gives `count` random members of a live set to `visit`, distinct ones
 * (min(count, size) of them) unless `repeat`. Changes no member (it may take and give back
 * scratch memory, and falls back to a walk when the heap has none). */
void store_set_sample(struct store *store, uint32_t key_ref, uint64_t count, bool repeat,
                      store_set_visit_fn *visit, void *context);

/* SMOVE of `member`, present in the set `source` found, to the key `target` found (absent
 * or a set, another key than source) named `destination`. Checks the destination's caps
 * first (a new key is allowed at key_count keys when the source goes with this member) and
 * takes its memory before anything changes. */
KV_MUST_USE enum store_status store_set_move(struct store *store, struct store_found *source,
                                             struct store_found *target,
                                             struct slice destination, struct slice member);

/* The result of SINTERSTORE, SUNIONSTORE or SDIFFSTORE, built apart from the keyspace and
 * then put in place of the destination. Its encoding is chosen from its final shape, which
 * the caller measured first (as Redis's result starts as an intset and converts). */
struct store_set_result {
    uint64_t count_max;       /* members the caller will add */
    uint64_t count;           /* members added so far */
    uint8_t encoding;         /* RAW, ROOT or ROOT2 (meaningless while count_max is 0) */
    bool all_integer;         /* every member is an integer (Redis's intset, OBJECT ENCODING) */
    void *value;              /* the intset, pack or table; NULL while count_max is 0 */
};

/* The caps a result of `count` members at `destination` (as `target` found it) must pass:
 * STORE_SET_FULL, STORE_KEY_TOO_LONG, STORE_FULL (an empty result passes every one). */
KV_MUST_USE enum store_status store_set_result_check(const struct store *store,
                                                     const struct store_found *target,
                                                     struct slice destination,
                                                     uint64_t count);

/* Starts a result of `count` distinct members, all integers (intset_member_parse) or not,
 * the longest `member_bytes_max` bytes. STORE_OOM: nothing is held. */
KV_MUST_USE enum store_status store_set_result_start(struct store *store,
                                                     struct store_set_result *result,
                                                     uint64_t count, bool all_integer,
                                                     uint32_t member_bytes_max);

/* Adds a member that is not in the result yet (the shape declared at start). STORE_OOM:
 * the caller abandons the result. */
KV_MUST_USE enum store_status store_set_result_add(struct store *store,
                                                   struct store_set_result *result,
                                                   struct slice member);

/* Gives back what a result holds (after a failure). */
void store_set_result_abandon(struct store *store, struct store_set_result *result);

/* Puts a complete result in place of the destination (any type, or absent; it loses any
 * expiry time, as Redis's setKey does); an empty result removes it. STORE_OOM when the key
 * object cannot be had: the result is abandoned and nothing changed. */
KV_MUST_USE enum store_status store_set_result_store(struct store *store,
                                                     struct store_found *target,
                                                     struct slice destination,
                                                     struct store_set_result *result);

/* The encoding of a live set key (tests, OBJECT ENCODING): RAW, ROOT or ROOT2. */
uint8_t store_set_encoding(const struct store *store, uint32_t key_ref);


/* The most heap bytes (usable sizes, so class rounding included) a value of `count`
 * elements of up to `element_bytes` each (and `field_bytes`, for a field or member) can take
 * in its worst encoding and fill, its share of table buckets included; `kv --plan` sums it
 * into the budget that guarantees the caps. */
uint64_t store_set_bound_bytes(uint64_t count, uint64_t member_bytes);

#endif
