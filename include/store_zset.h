/*
 * Sorted sets in the store, in two encodings (the key object's encoding field):
 *
 *   STORE_ENCODING_RAW (small): a forward pack (pack.h) of member, score, member, score, ...
 *     in (score, member) order, as Redis keeps a listpack. A score entry is 8 bytes, the
 *     double in host order (a pack lives only in memory); -0 is stored as 0, as Redis's
 *     listpack keeps it. Used while the set has at most STORE_ZSET_PACK_COUNT_MAX members of
 *     at most STORE_ZSET_PACK_MEMBER_BYTES_MAX bytes (Redis 7.0's zset-max-listpack-entries
 *     and zset-max-listpack-value). A pair costs 1 + member + 9 bytes.
 *   STORE_ENCODING_ROOT (large): one root allocation holding a dict from member to node and
 *     a weight-balanced tree of the same nodes (ztree.h): a node is one heap allocation of a
 *     24-byte head, the member's length (1 byte up to 127) and its bytes. ZSCORE and member
 *     lookups take O(1), ranks and inserts O(log n).
 *
 * A write that would add the 129th member or a member longer than 64 bytes converts the set
 * to the tree (all of the tree first, then the pack goes); as in Redis 7.0 a set never goes
 * back. Every write takes all the memory it needs before it changes anything: STORE_OOM
 * means nothing changed. A set whose last member goes is removed with its key. Watchers are
 * told of a write that changes the set (store_modified), blocked clients of members added
 * (store_ready). Member bytes and counts the reads give stay valid until the store changes.
 */
#ifndef KV_STORE_ZSET_H
#define KV_STORE_ZSET_H

#include "store.h"
#include "ztree.h"

/* Redis 7.0's zset-max-listpack-entries and zset-max-listpack-value. */
#define STORE_ZSET_PACK_COUNT_MAX 128u
#define STORE_ZSET_PACK_MEMBER_BYTES_MAX 64u

/* Registers the sorted-set type with the store (once, after store_init). */
void store_zset_init(struct store *store);

/* Takes zset-max-listpack-entries and -value as CONFIG SET left them (Redis's listpack-or-
 * skiplist rule: store.h's enum store_shape); the first write after startup reads them. */
void store_zset_configure(void);

/* ---- Reads of a live sorted set (key_ref from a find that said STORE_OK) ---- */

/* Members in the set (at least 1). */
uint32_t store_zset_count(const struct store *store, uint32_t key_ref);

/* A member's score; false when it is not in the set. */
KV_MUST_USE bool store_zset_score(const struct store *store, uint32_t key_ref,
                                  struct slice member, double *score);

/* A member's 0-based rank from the lowest score; false when it is not in the set. */
KV_MUST_USE bool store_zset_rank(const struct store *store, uint32_t key_ref,
                                 struct slice member, uint32_t *rank);

/* Members scoring below `score` (at most `score`, with or_equal): where a score range starts
 * or ends, as a rank. */
uint32_t store_zset_count_below(const struct store *store, uint32_t key_ref, double score,
                                bool or_equal);

/* One end of a lexicographic range: "[x" inclusive, "(x" exclusive, "-" and "+". */
struct store_zset_lex {
    struct slice bytes;  /* x (not "[" or "("), when not infinite */
    bool exclusive;      /* "(" */
    int8_t infinite;     /* -1 for "-", 1 for "+", 0 otherwise */
};

/* The ranks [first, end) a BYLEX range selects, as Redis 7.0 finds them in its encoding: in a
 * small set the walk of the listpack (from the first member at or above min, or at or below
 * max when reversed, the consecutive members inside the range); in a large one the
 * binary searches of its skiplist (exact when every score is equal, as BYLEX assumes). */
void store_zset_lex_ranks(const struct store *store, uint32_t key_ref,
                          const struct store_zset_lex *min, const struct store_zset_lex *max,
                          bool reverse, uint32_t *first, uint32_t *end);

/* A walk over consecutive ranks (ZRANGE, ZSCAN), from a start rank up or down. The set must
 * not change during it. */
struct store_zset_walk {
    const struct heap *heap;
    const struct pack *pack;    /* the small encoding's pack; NULL for a tree */
    uint32_t rank;              /* pack: the rank next returns */
    uint32_t left;              /* pack: pairs the walk has still to return */
    bool reverse;               /* towards rank 0 */
    union {
        uint32_t offsets[STORE_ZSET_PACK_COUNT_MAX]; /* pack: each pair's offset, by rank */
        struct ztree_walk tree;                      /* tree: the walk's stack */
    } at;
};

/* Starts a walk at `rank` (< count). */
void store_zset_walk_start(const struct store *store, uint32_t key_ref, uint32_t rank,
                           bool reverse, struct store_zset_walk *walk);

/* The walk's next member and score; false past the set's end. */
KV_MUST_USE bool store_zset_walk_next(struct store_zset_walk *walk, struct slice *member,
                                      double *score);

/* ZSCAN of a tree: whether the live sorted set key is one (a pack ZSCAN answers whole, as
 * Redis answers a listpack), and the members and scores of the dict bucket(s) `cursor`
 * names, with the next cursor (0 when the scan is complete) and dict_scan's guarantee. */
typedef void store_zset_visit_fn(void *context, struct slice member, double score);
bool store_zset_tree(const struct store *store, uint32_t key_ref);
uint64_t store_zset_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                         store_zset_visit_fn *visit, void *context);

/* ---- Writes (found: the key's find, of this type or absent) ---- */

/* ZADD's options. */
enum store_zset_flag {
    STORE_ZSET_NX = 1u << 0,   /* only add new members */
    STORE_ZSET_XX = 1u << 1,   /* only update members that exist */
    STORE_ZSET_GT = 1u << 2,   /* update only to a greater score */
    STORE_ZSET_LT = 1u << 3,   /* update only to a lower score */
    STORE_ZSET_INCR = 1u << 4, /* the one pair's score is an increment (ZINCRBY) */
};

/* ZADD's pairs as the request holds them: score text, member, score text, member, ... */
struct store_zset_pairs {
    const struct slice *args;            /* 2 * count arguments */
    uint32_t count;                      /* pairs, at least 1 */
    double (*score)(struct slice text);  /* the score of a text the caller validated */
};

struct store_zset_result {
    uint32_t added;    /* members added */
    uint32_t changed;  /* members whose score changed */
    double score;      /* INCR: the member's score now */
    bool incr_null;    /* INCR: NX, XX, GT or LT kept the member out: nil */
    bool incr_nan;     /* INCR: the sum is not a number (Redis's error): nothing changed */
};

/* ZADD (and ZINCRBY, with INCR and one pair) at the key found (a sorted set or absent): adds
 * or updates each pair in order as the flags allow. Checks in kv's order:
 * STORE_MEMBER_TOO_LONG (a member past the member cap), STORE_KEY_TOO_LONG (a new key),
 * STORE_ZSET_FULL (more members than the length cap), STORE_FULL (a new key past the key
 * count); then STORE_OOM when the heap lacks room. Any status but STORE_OK changed nothing.
 * An absent key with XX answers STORE_OK and nothing (incr_null for INCR). */
KV_MUST_USE enum store_status store_zset_add(struct store *store, struct store_found *found,
                                             struct slice key, uint32_t flags,
                                             const struct store_zset_pairs *pairs,
                                             struct store_zset_result *result);

/* ZREM: removes the members present; returns how many. The key goes with its last member
 * (found->exists then false). Never fails. */
uint32_t store_zset_remove(struct store *store, struct store_found *found,
                           const struct slice *members, uint32_t member_count);

/* Removes the members of ranks [first, end) (end <= count); returns end - first. The key goes
 * with its last member. */
uint32_t store_zset_remove_ranks(struct store *store, struct store_found *found, uint32_t first,
                                 uint32_t end);

/* Called with each popped member and its score before the member goes; the bytes are gone
 * after the call. */
typedef void store_zset_visit_fn(void *context, struct slice member, double score);

/* ZPOPMIN / ZPOPMAX / BZPOPMIN / BZPOPMAX: pops up to `count` members from the low end (or
 * the high end, with max), lowest (highest) first, giving each to `visit`; returns how many.
 * The key goes with its last member (found->exists then false). Never fails. */
uint32_t store_zset_pop(struct store *store, struct store_found *found, bool max, uint32_t count,
                        store_zset_visit_fn *visit, void *context);


/* ---- Results built apart from the keyspace (ZUNION, ZINTER, ZDIFF, their STORE forms and
 * ZRANGESTORE): a large-encoding root on the heap, not a key, that the command fills, reads
 * in (score, member) order, and then either stores or gives back before it answers. ---- */

struct store_zset_temp {
    uint32_t big_ref;          /* the root; HEAP_REF_NONE once stored or abandoned */
    uint32_t member_bytes_max; /* the longest member put (the pack's bound on storing) */
};

/* An empty result; false (nothing held) when the heap has no room. */
KV_MUST_USE bool store_zset_temp_start(struct store *store, struct store_zset_temp *temp);

/* Members in the result. */
uint32_t store_zset_temp_count(const struct store *store, const struct store_zset_temp *temp);

/* A member's score in the result; false when it is not there. */
KV_MUST_USE bool store_zset_temp_score(const struct store *store,
                                       const struct store_zset_temp *temp, struct slice member,
                                       double *score);

/* Adds a member (or gives a present one a new score), never NaN. False: the heap has no room
 * for a new member, and the result is as it was. */
KV_MUST_USE bool store_zset_temp_put(struct store *store, struct store_zset_temp *temp,
                                     struct slice member, double score);

/* A walk over the result from its lowest (score, member), for a reply. */
void store_zset_temp_walk_start(const struct store *store, const struct store_zset_temp *temp,
                                struct store_zset_walk *walk);

/* Gives back everything the result holds. */
void store_zset_temp_abandon(struct store *store, struct store_zset_temp *temp);

/* Puts the result in place of the destination (any type, or absent; it loses any expiry, as
 * Redis's setKey does), as a pack when it is small enough (Redis's
 * zsetConvertToListpackIfNeeded), else the root itself; an empty result removes the
 * destination. Checks first: STORE_ZSET_FULL, STORE_KEY_TOO_LONG, STORE_FULL; then STORE_OOM.
 * The result is given back in every case; any status but STORE_OK changed nothing. */
KV_MUST_USE enum store_status store_zset_temp_store(struct store *store,
                                                    struct store_found *target,
                                                    struct slice destination,
                                                    struct store_zset_temp *temp);

/* The most heap bytes (usable sizes, so class rounding included) a value of `count`
 * elements of up to `element_bytes` each (and `field_bytes`, for a field or member) can take
 * in its worst encoding and fill, its share of table buckets included; `kv --plan` sums it
 * into the budget that guarantees the caps. */
uint64_t store_zset_bound_bytes(uint64_t count, uint64_t member_bytes);

#endif
