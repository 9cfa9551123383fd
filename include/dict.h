/*
 * A chained hash table over heap entries, for data that grows with the budget: the
 * keyspace, and the fields, members and member indexes of large hashes, sets and sorted
 * sets. An entry is a heap allocation owned by the caller whose first four bytes are the
 * dict's chain link (the reference of the next entry in its bucket, HEAP_REF_NONE at the
 * end); the dict learns an entry's key bytes from the `key` function given at init, and
 * hashes them with the seeded hashfn_bytes.
 *
 * Buckets are arrays of 32-bit references taken from the heap. The table doubles when it
 * holds as many entries as buckets and shrinks, to the smallest power of two that holds its
 * entries one per bucket (at least DICT_BUCKETS_MIN), when it falls below one entry per
 * DICT_SHRINK_RATIO buckets, moving entries incrementally as Redis's dict does: while two
 * tables exist, every find, insert and remove moves one bucket (looking at no more than
 * DICT_REHASH_EMPTY_VISITS empty ones), and dict_rehash moves more when the loop is idle.
 * The new array is not zeroed up front (each bucket is set empty when the old buckets that
 * feed it move), so no operation ever pauses for the whole table. If the heap has no room for
 * a new bucket array, the table stays as it is and its chains grow longer: inserting never
 * fails; inserts and removes ask the heap again every bucket_count / 64 of them, and
 * dict_rehash at every call. Before its first array a dict is one bucket inside the struct.
 *
 * SCAN follows Redis's cursor (reverse-binary increments of the bucket index), so a full
 * scan returns every entry present from its start to its end at least once, across any
 * number of resizes in between.
 *
 * Memory per entry: its 4-byte link, plus 4 bytes of bucket per 0.5 to 1 entries (8 to 12
 * bytes in all), less than an open-addressing table at a load that keeps probes short.
 */
#ifndef KV_DICT_H
#define KV_DICT_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

#define DICT_BUCKETS_MIN 4u
#define DICT_SHRINK_RATIO 8u
#define DICT_REHASH_EMPTY_VISITS 10u

/* The largest table: indexes and counts of buckets are uint32_t, and 2^31 buckets (8 GiB)
 * are a quarter of the largest heap. */
#define DICT_BUCKETS_MAX (1u << 31)

/* One dict_scan call looks at no more than this many buckets of the larger table while
 * rehashing (a shrink can divide the table by far more than two); the cursor then stops
 * inside the expansion and the next call goes on from there. */
#define DICT_SCAN_EXPANSION_MAX 128u

/* The key bytes of an entry (a heap pointer whose first 4 bytes are the link). */
typedef struct slice dict_key_fn(const struct heap *heap, const void *entry);

struct dict {
    struct heap *heap;         /* entries and bucket arrays live here */
    dict_key_fn *key;          /* an entry's key bytes */
    uint64_t seed;             /* hashfn_bytes seed */
    uint32_t *buckets[2];      /* [0]: the table; [1]: the table being moved into, or NULL */
    uint32_t bucket_count[2];  /* powers of two; [0] is 1 while table 0 has no array (it
                                  is then bucket_inline); [1] is 0 when not rehashing */
    uint64_t count[2];         /* entries in each table */
    uint32_t rehash_index;     /* rehashing: next bucket of table 0 to move; else 0 */
    uint32_t bucket_inline;    /* table 0's one bucket before its first array, so that an
                                  insert never needs the heap */
    uint64_t rehash_moved;     /* buckets of table 0 moved (or passed empty) in all */
    bool frozen;               /* no resize starts (a snapshot walks the buckets): chains
                                  grow instead, as when the heap refuses an array */
};

/* Where an entry is linked from: the bucket slot or the previous entry's link field. Valid
 * until the dict next changes (any find, insert or remove may move buckets). */
struct dict_position {
    uint32_t *link;            /* holds the entry's reference */
    uint32_t table;            /* 0 or 1 */
};

/* A walk over every entry (KEYS, FLUSHALL, verify); the dict must not change during it. */
struct dict_walk {
    uint32_t table;
    uint32_t bucket;
    uint32_t next_ref;         /* next entry in the current chain, or HEAP_REF_NONE */
};

void dict_init(struct dict *dict, struct heap *heap, dict_key_fn *key, uint64_t seed);

static inline uint64_t dict_count(const struct dict *dict)
{
    return dict->count[0] + dict->count[1];
}

static inline bool dict_rehashing(const struct dict *dict)
{
    return dict->buckets[1] != NULL;
}

/* Finds the entry with these key bytes: its reference, or HEAP_REF_NONE. With `position`
 * non-NULL, also where it is linked from, for dict_remove_at / dict_replace_at. */
uint32_t dict_find(struct dict *dict, struct slice key, struct dict_position *position);

/* Finds without changing anything (no rehash step): for reads through a const dict. */
uint32_t dict_lookup(const struct dict *dict, struct slice key);

/* Links an entry whose key is absent (the caller found it so). Never fails. */
void dict_insert(struct dict *dict, uint32_t entry_ref);

/* Unlinks the entry at a position from dict_find (the caller releases the entry). */
void dict_remove_at(struct dict *dict, struct dict_position position);

/* The entry at a position moved (heap_resize): `entry_ref` replaces it, same key. Its first
 * four bytes must be the old entry's link (heap_resize copies them). */
void dict_replace_at(struct dict *dict, struct dict_position position, uint32_t entry_ref);

/* Finds and unlinks; returns the entry's reference or HEAP_REF_NONE. */
uint32_t dict_remove(struct dict *dict, struct slice key);

/* Moves up to `buckets` buckets if rehashing, and starts a resize that is due (a shrink, or
 * a grow that an earlier refused allocation left due), also right after one finishes;
 * returns whether more remain. The loop calls it when idle, bounded per turn. */
bool dict_rehash(struct dict *dict, uint32_t buckets);

/* SCAN: visits the entries of the bucket(s) `cursor` names and returns the next cursor (0
 * when the scan is complete). `visit` must not change the dict. An entry may be visited
 * more than once when the table resizes between calls; with no resize (or one in
 * progress whose size ratio is at most DICT_SCAN_EXPANSION_MAX and that does not advance)
 * each entry is visited exactly once. Looks at 1 + DICT_SCAN_EXPANSION_MAX buckets at most. */
uint64_t dict_scan(const struct dict *dict, uint64_t cursor,
                   void (*visit)(void *context, uint32_t entry_ref), void *context);

/* The smallest table's bucket count: while rehashing, entries only move between the buckets
 * of one "unit" (hash & (units - 1)), whichever way the table resizes. */
uint32_t dict_units(const struct dict *dict);

/* Visits every entry whose hash & (units - 1) is `unit`, in whichever table holds it now.
 * `units` is a power of two no larger than either table (dict_units taken while no resize
 * has started since: a frozen dict's rehash may go on, which keeps units valid). `visit` must
 * not change the dict. Looks at bucket_count[t] / units buckets of each table t. */
void dict_visit_unit(const struct dict *dict, uint32_t units, uint32_t unit,
                     void (*visit)(void *context, uint32_t entry_ref), void *context);

/* A random entry (RANDOMKEY, SPOP, SRANDMEMBER, eviction), or HEAP_REF_NONE when empty.
 * *random_state is a xorshift state the caller keeps (never 0). Uniform over entries in
 * chains up to 4 + 2 * load long (rejection sampling on chain length). Looks at up to 256
 * random buckets (4 to 8 on average at a normal load); only a table left sparse by a
 * shrink the heap refused then walks on from a random bucket to the first non-empty one. */
uint32_t dict_random(const struct dict *dict, uint64_t *random_state);

/* Up to `wanted` entries near a random bucket (Redis's dictGetSomeKeys, for eviction
 * sampling): writes their references to refs[] and returns how many. Looks at no more than
 * wanted * 10 buckets. */
uint32_t dict_sample(const struct dict *dict, uint32_t *refs, uint32_t wanted,
                     uint64_t *random_state);

void dict_walk_start(const struct dict *dict, struct dict_walk *walk);

/* The next entry of a walk, or false at its end. */
bool dict_walk_next(const struct dict *dict, struct dict_walk *walk, uint32_t *entry_ref);

/* Empties the dict, giving each entry to `release` (which gives it back to the heap) and the
 * bucket arrays back to the heap. O(entries + buckets). */
void dict_clear(struct dict *dict, void (*release)(void *context, uint32_t entry_ref),
                void *context);

/* Heap allocations the dict holds itself: its bucket arrays (0, 1 or 2). */
static inline uint32_t dict_allocations(const struct dict *dict)
{
    return (dict->buckets[0] != NULL ? 1u : 0u) + (dict->buckets[1] != NULL ? 1u : 0u);
}

/* Bytes of the bucket arrays (INFO, MEMORY USAGE). */
uint64_t dict_bucket_bytes(const struct dict *dict);

/* Checks every invariant: counts equal chain lengths, each entry sits in the bucket its
 * hash names (in table 0 only at or past rehash_index), no entry twice. O(entries). */
void dict_verify(const struct dict *dict);

/* An empty dict gives its bucket arrays back (a registry that holds nothing holds no memory);
 * a dict with entries is left as it is. */
void dict_settle(struct dict *dict);

#endif
