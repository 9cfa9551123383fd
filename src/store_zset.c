/*
 * Sorted sets (store_zset.h): a pack of member, score pairs while small, a dict and a
 * weight-balanced tree of the same heap nodes when large. Invariants (zset_verify checks
 * each): a live set holds at least one member and at most the length cap; a pack holds an
 * even count of entries, pairs strictly increasing by (score, member), each score entry 8
 * bytes and neither NaN nor -0, at most STORE_ZSET_PACK_COUNT_MAX pairs of members of at most
 * STORE_ZSET_PACK_MEMBER_BYTES_MAX bytes; a tree's nodes are exactly the dict's entries, and
 * the root's node_bytes is the sum of their usable sizes.
 *
 * Writes: every write that may need memory takes it all before the first change. A write of
 * one pair to a pack is one pack_insert (or an insert then a delete, which cannot fail),
 * each a whole step; a write of several pairs works on a copy of the pack that replaces the
 * original only when every pair went in. A write to a tree first creates a node for every
 * member it will add, entered in the dict (which never fails) but not yet in the tree: the
 * dict then also finds a member named twice in one command, so the new members are counted
 * exactly; after that nothing can fail. A conversion builds the whole tree from the pack,
 * and the pack goes only after. Removals never fail. No I/O; memory only from the heap.
 */
#include "store_zset.h"

#include <math.h>

#include "dict.h"
#include "number.h"
#include "pack.h"
#include "redis_param.h"
#include "store_internal.h"

/* A score entry: the double's 8 bytes. */
#define ZSET_SCORE_BYTES ((uint32_t)sizeof(double))

/* The large encoding's root: the member dict and the tree, over the same nodes. */
struct zset_big {
    struct dict members;  /* member -> ztree node (its link is the dict's chain) */
    uint32_t root;        /* the tree's root node */
    uint32_t reserved;    /* zero */
    uint64_t node_bytes;  /* usable bytes of the nodes in the tree (MEMORY USAGE) */
};

static_assert(sizeof(double) == 8, "a score entry is 8 bytes");
static_assert(STORE_ZSET_PACK_COUNT_MAX * 2u < PACK_COUNT_MAX, "a small set fits a pack");
static_assert(STORE_ZSET_PACK_MEMBER_BYTES_MAX < 128, "a small member's length is one byte");

/* ---------------------------------------------------------------------------------------
 * The small encoding: pairs in a pack. A pair is named by its member entry's offset.
 * --------------------------------------------------------------------------------------- */

static double pair_score(const struct pack *pack, uint32_t offset)
{
    struct slice bytes = pack_get(pack, pack_next(pack, offset));
    KV_ASSERT(bytes.length == ZSET_SCORE_BYTES);
    double score = 0;
    memcpy(&score, bytes.bytes, sizeof(score));
    KV_ASSERT(!isnan(score));
    return score;
}

/* The offset after the pair at `offset`: the next pair's, or pack_end after the last. */
static uint32_t pair_after(const struct pack *pack, uint32_t offset)
{
    uint32_t score_offset = pack_next(pack, offset);
    KV_ASSERT(score_offset != PACK_OFFSET_NONE);
    uint32_t next = pack_next(pack, score_offset);
    return next != PACK_OFFSET_NONE ? next : pack_end(pack);
}

/* Orders (score, member) against the pair at `offset`. */
static int pair_compare(double score, struct slice member, const struct pack *pack,
                        uint32_t offset)
{
    KV_ASSERT(!isnan(score));
    KV_ASSERT(offset != PACK_OFFSET_NONE);
    double pair = pair_score(pack, offset);
    if (score != pair) {
        return score < pair ? -1 : 1;
    }
    return ztree_member_compare(member, pack_get(pack, offset));
}

/* Each pair's offset by rank, into offsets[STORE_ZSET_PACK_COUNT_MAX]; returns the count. */
static uint32_t pack_offsets(const struct pack *pack, uint32_t *offsets)
{
    uint32_t count = pack_count(pack) / 2;
    KV_ASSERT(count <= STORE_ZSET_PACK_COUNT_MAX);
    uint32_t offset = pack_first(pack);
    /* Bounded by the pair count. */
    for (uint32_t rank = 0; rank < count; rank++) {
        offsets[rank] = offset;
        offset = pair_after(pack, offset);
    }
    KV_ASSERT(offset == pack_end(pack) || count == 0);
    return count;
}

/* The pair of a member: its offset (and rank), or PACK_OFFSET_NONE. Linear in the pairs. */
static uint32_t pack_pair_find(const struct pack *pack, struct slice member, uint32_t *rank)
{
    uint32_t count = pack_count(pack) / 2;
    uint32_t offset = pack_first(pack);
    /* Bounded by the pair count. */
    for (uint32_t index = 0; index < count; index++) {
        if (slice_equal(pack_get(pack, offset), member)) {
            *rank = index;
            return offset;
        }
        offset = pair_after(pack, offset);
    }
    KV_ASSERT(count == 0 || offset == pack_end(pack));
    return PACK_OFFSET_NONE;
}

/* Where (score, member) goes: the first pair above it, skipping the pair at `skip` (or
 * PACK_OFFSET_NONE), else pack_end. */
static uint32_t pack_place(const struct pack *pack, double score, struct slice member,
                           uint32_t skip)
{
    KV_ASSERT(!isnan(score));
    uint32_t count = pack_count(pack) / 2;
    uint32_t offset = pack_first(pack);
    /* Bounded by the pair count. */
    for (uint32_t index = 0; index < count; index++) {
        if (offset != skip && pair_compare(score, member, pack, offset) < 0) {
            return offset;
        }
        offset = pair_after(pack, offset);
    }
    KV_ASSERT(count == 0 || offset == pack_end(pack));
    return pack_end(pack);
}

/* Inserts a pair before `place`. False: no room, pack unchanged. */
static bool pack_pair_insert(struct pack **pack, struct heap *heap, uint32_t place,
                             struct slice member, double score)
{
    KV_ASSERT(!isnan(score));
    KV_ASSERT(member.length <= STORE_ZSET_PACK_MEMBER_BYTES_MAX);
    double stored = score + 0.0; /* -0 is 0, as Redis's listpack keeps it */
    struct slice pair[2] = {member,
                            {.bytes = (const uint8_t *)&stored, .length = ZSET_SCORE_BYTES}};
    return pack_insert(pack, heap, place, pair, 2);
}

/* Gives the pair at `offset` (member `member`) a new score: in place when it keeps its place,
 * else inserted at its new place, then the old pair deleted (which cannot fail). False: no
 * room, pack unchanged. */
static bool pack_pair_rescore(struct pack **pack, struct heap *heap, uint32_t offset,
                              struct slice member, double score)
{
    uint32_t place = pack_place(*pack, score, member, offset);
    if (place == pair_after(*pack, offset)) {
        double stored = score + 0.0;
        struct slice bytes = {.bytes = (const uint8_t *)&stored, .length = ZSET_SCORE_BYTES};
        bool replaced = pack_replace(pack, heap, pack_next(*pack, offset), bytes);
        KV_ASSERT(replaced); /* the same length: never fails */
        return true;
    }
    uint32_t bytes_before = pack_bytes(*pack);
    if (!pack_pair_insert(pack, heap, place, member, score)) {
        return false;
    }
    uint32_t grown = pack_bytes(*pack) - bytes_before;
    pack_delete(pack, heap, place < offset ? offset + grown : offset, 2);
    KV_ASSERT(pack_bytes(*pack) == bytes_before);
    return true;
}

/* An exact copy of a pack, for a write of several pairs. NULL: no room. */
static struct pack *pack_copy(struct heap *heap, const struct pack *pack)
{
    KV_ASSERT(pack_bytes(pack) >= PACK_HEADER_BYTES);
    struct pack *copy = heap_alloc(heap, pack_bytes(pack));
    if (copy != NULL) {
        memcpy(copy, pack, pack_bytes(pack));
        KV_ASSERT(pack_count(copy) == pack_count(pack));
    }
    return copy;
}

/* ---------------------------------------------------------------------------------------
 * The large encoding: a dict and a tree of the same nodes.
 * --------------------------------------------------------------------------------------- */

/* The member dict's key: a node's member. */
static struct slice node_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return ztree_member(entry);
}

/* The member dicts' seed: not the keyspace's, so that the two hash differently. */
static uint64_t big_seed(const struct store *store)
{
    return store->seed ^ 0x5bd1e9955bd1e995ull;
}

static void node_release(void *context, uint32_t node_ref)
{
    struct heap *heap = context;
    heap_release(heap, heap_pointer(heap, node_ref));
}

/* Gives back a root, its bucket arrays and every node in its dict (in the tree or not). */
static void big_release(struct store *store, struct zset_big *big)
{
    dict_clear(&big->members, node_release, store->heap);
    KV_ASSERT(dict_count(&big->members) == 0);
    heap_release(store->heap, big);
}

/* Puts a node that is in the dict into the tree. */
static void big_link(struct store *store, struct zset_big *big, uint32_t node_ref)
{
    ztree_insert(store->heap, &big->root, node_ref);
    big->node_bytes += heap_usable_bytes(store->heap, heap_pointer(store->heap, node_ref));
    KV_ASSERT(ztree_count(store->heap, big->root) <= dict_count(&big->members));
}

/* An empty root, or one holding the pack's pairs (a conversion); NULL when the heap has no
 * room, having taken nothing. */
static struct zset_big *big_create(struct store *store, const struct pack *pack)
{
    struct zset_big *big = heap_alloc(store->heap, sizeof(*big));
    if (big == NULL) {
        return NULL;
    }
    KV_ASSERT(pack == NULL || pack_count(pack) / 2 <= STORE_ZSET_PACK_COUNT_MAX);
    dict_init(&big->members, store->heap, node_key, big_seed(store));
    big->root = HEAP_REF_NONE;
    big->reserved = 0;
    big->node_bytes = 0;
    uint32_t count = pack != NULL ? pack_count(pack) / 2 : 0;
    uint32_t offset = pack != NULL ? pack_first(pack) : PACK_OFFSET_NONE;
    /* Bounded by the pack's pairs. */
    for (uint32_t index = 0; index < count; index++) {
        struct ztree_node *node =
            ztree_node_create(store->heap, pack_get(pack, offset), pair_score(pack, offset));
        if (node == NULL) {
            big_release(store, big);
            return NULL;
        }
        uint32_t node_ref = heap_ref(store->heap, node);
        dict_insert(&big->members, node_ref);
        big_link(store, big, node_ref);
        offset = pair_after(pack, offset);
    }
    KV_ASSERT(ztree_count(store->heap, big->root) == count);
    return big;
}

/* Takes a node out of the tree and the dict and gives it back. */
static void big_remove(struct store *store, struct zset_big *big, uint32_t node_ref)
{
    struct ztree_node *node = ztree_node(store->heap, node_ref);
    KV_ASSERT(node->size > 0);
    ztree_remove(store->heap, &big->root, node_ref);
    uint32_t removed = dict_remove(&big->members, ztree_member(node));
    KV_ASSERT(removed == node_ref);
    big->node_bytes -= heap_usable_bytes(store->heap, node);
    heap_release(store->heap, node);
}

/* ---------------------------------------------------------------------------------------
 * The type's operations for the core.
 * --------------------------------------------------------------------------------------- */

static struct pack *key_pack(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_ZSET);
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_RAW);
    return heap_pointer(store->heap, key->value);
}

static struct zset_big *key_big(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_ZSET);
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_ROOT);
    return heap_pointer(store->heap, key->value);
}

static bool key_small(const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_ZSET);
    return store_key_encoding(key) == STORE_ENCODING_RAW;
}

static void zset_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(key->value != HEAP_REF_NONE);
    if (key_small(key)) {
        pack_release(store->heap, key_pack(store, key));
    } else {
        big_release(store, key_big(store, key));
    }
}

static void verify_pack(const struct store *store, const struct pack *pack,
                        struct store_usage *usage)
{
    pack_verify(pack, store->heap);
    KV_ASSERT(pack_count(pack) % 2 == 0);
    KV_ASSERT(!pack_backward(pack));
    uint32_t count = pack_count(pack) / 2;
    KV_ASSERT(count >= 1 && count <= STORE_ZSET_PACK_COUNT_MAX);
    uint32_t offset = pack_first(pack);
    uint32_t previous = PACK_OFFSET_NONE;
    /* Bounded by the pair count. */
    for (uint32_t index = 0; index < count; index++) {
        struct slice member = pack_get(pack, offset);
        double score = pair_score(pack, offset);
        KV_ASSERT(member.length <= STORE_ZSET_PACK_MEMBER_BYTES_MAX);
        KV_ASSERT(member.length <= store->limits.key_bytes_max);
        KV_ASSERT(score != 0 || !signbit(score));
        if (previous != PACK_OFFSET_NONE) {
            KV_ASSERT(pair_compare(score, member, pack, previous) > 0);
        }
        previous = offset;
        offset = pair_after(pack, offset);
    }
    usage->allocations++;
}

/* What verify_big's visitor needs. */
struct big_check {
    const struct store *store;
    const struct zset_big *big;
    uint64_t node_bytes;
};

static void verify_node(void *context, uint32_t node_ref)
{
    struct big_check *check = context;
    const struct heap *heap = check->store->heap;
    const struct ztree_node *node = ztree_node(heap, node_ref);
    struct slice member = ztree_member(node);
    KV_ASSERT(member.length <= check->store->limits.key_bytes_max);
    KV_ASSERT(dict_lookup(&check->big->members, member) == node_ref);
    KV_ASSERT(heap_usable_bytes(heap, node) >= ztree_node_bytes(member.length));
    check->node_bytes += heap_usable_bytes(heap, node);
}

static void verify_big(const struct store *store, const struct zset_big *big,
                       struct store_usage *usage)
{
    dict_verify(&big->members);
    struct big_check check = {.store = store, .big = big, .node_bytes = 0};
    uint32_t count = ztree_verify(store->heap, big->root, verify_node, &check);
    KV_ASSERT(count >= 1);
    KV_ASSERT(count == dict_count(&big->members));
    KV_ASSERT(check.node_bytes == big->node_bytes);
    KV_ASSERT(big->reserved == 0);
    usage->allocations += 1u + dict_allocations(&big->members) + count;
}

static void zset_verify(const struct store *store, const struct store_key *key,
                        struct store_usage *usage)
{
    KV_ASSERT(key->value != HEAP_REF_NONE);
    if (key_small(key)) {
        verify_pack(store, key_pack(store, key), usage);
    } else {
        verify_big(store, key_big(store, key), usage);
    }
    KV_ASSERT(store_zset_count(store, heap_ref(store->heap, key)) <= store->limits.length_max);
}

static uint64_t zset_length(const struct store *store, const struct store_key *key)
{
    return store_zset_count(store, heap_ref(store->heap, key));
}

static uint64_t zset_memory(const struct store *store, const struct store_key *key)
{
    if (key_small(key)) {
        return heap_usable_bytes(store->heap, key_pack(store, key));
    }
    const struct zset_big *big = key_big(store, key);
    return heap_usable_bytes(store->heap, big) + dict_bucket_bytes(&big->members) +
           big->node_bytes;
}

/* OBJECT ENCODING: what Redis 7.0 would keep (the key's shape bit: "listpack" until a write
 * passed zset-max-listpack-entries or -value), whatever kv keeps. */
static const char *zset_encoding_name(const struct store *store, const struct store_key *key)
{
    (void)store;
    KV_ASSERT(store_key_type(key) == STORE_TYPE_ZSET);
    KV_ASSERT(store_key_shape(key) <= STORE_SHAPE_CONVERTED);
    return store_key_shape(key) == STORE_SHAPE_COMPACT ? "listpack" : "skiplist";
}

/* zset-max-listpack-entries and -value in force: parsed when they are set
 * (store_zset_configure), not per write. */
static uint64_t zset_listpack_entries_max;
static uint64_t zset_listpack_value_max;
static bool zset_configured;

static uint64_t zset_param(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0);
    const char *text = redis_param_value((uint32_t)row);
    int64_t value = 0;
    bool parsed = number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value);
    KV_ASSERT(parsed && value >= 0); /* CONFIG SET checked it; sizes are shown in bytes */
    return (uint64_t)value;
}

void store_zset_configure(void)
{
    zset_listpack_entries_max = zset_param("zset-max-listpack-entries");
    zset_listpack_value_max = zset_param("zset-max-listpack-value");
    zset_configured = true;
}

static void zset_limits_read(void)
{
    if (!zset_configured) {
        store_zset_configure(); /* the first write after startup (and the config file) */
    }
    KV_ASSERT(zset_configured);
}

/* The shape of a sorted set Redis builds whole and then converts if it can
 * (zsetConvertToListpackIfNeeded: the STORE forms). */
static uint8_t shape_fresh(uint64_t count, uint64_t member_bytes_max)
{
    zset_limits_read();
    return count <= zset_listpack_entries_max && member_bytes_max <= zset_listpack_value_max
               ? STORE_SHAPE_COMPACT
               : STORE_SHAPE_CONVERTED;
}

static const struct store_type_ops zset_ops = {
    .name = "zset",
    .release = zset_release,
    .verify = zset_verify,
    .length = zset_length,
    .memory = zset_memory,
    .encoding_name = zset_encoding_name,
};

void store_zset_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_ZSET, &zset_ops);
    KV_ASSERT(store->types[STORE_TYPE_ZSET] == &zset_ops);
}

/* ---------------------------------------------------------------------------------------
 * Reads.
 * --------------------------------------------------------------------------------------- */

static const struct store_key *zset_key(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_ZSET);
    return key;
}

uint32_t store_zset_count(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = zset_key(store, key_ref);
    if (key_small(key)) {
        return pack_count(key_pack(store, key)) / 2;
    }
    return ztree_count(store->heap, key_big(store, key)->root);
}

/* A member's node in a large set, or HEAP_REF_NONE. */
static uint32_t big_find(const struct zset_big *big, struct slice member)
{
    return dict_lookup(&big->members, member);
}

bool store_zset_score(const struct store *store, uint32_t key_ref, struct slice member,
                      double *score)
{
    const struct store_key *key = zset_key(store, key_ref);
    if (key_small(key)) {
        const struct pack *pack = key_pack(store, key);
        uint32_t rank = 0;
        uint32_t offset = pack_pair_find(pack, member, &rank);
        if (offset != PACK_OFFSET_NONE) {
            *score = pair_score(pack, offset);
        }
        return offset != PACK_OFFSET_NONE;
    }
    uint32_t node_ref = big_find(key_big(store, key), member);
    if (node_ref != HEAP_REF_NONE) {
        const struct ztree_node *node = ztree_node(store->heap, node_ref);
        KV_ASSERT(node->size > 0); /* a node in the dict is in the tree between commands */
        *score = node->score;
    }
    return node_ref != HEAP_REF_NONE;
}

bool store_zset_rank(const struct store *store, uint32_t key_ref, struct slice member,
                     uint32_t *rank)
{
    const struct store_key *key = zset_key(store, key_ref);
    if (key_small(key)) {
        return pack_pair_find(key_pack(store, key), member, rank) != PACK_OFFSET_NONE;
    }
    const struct zset_big *big = key_big(store, key);
    uint32_t node_ref = big_find(big, member);
    if (node_ref != HEAP_REF_NONE) {
        *rank = ztree_rank(store->heap, big->root, node_ref);
        KV_ASSERT(*rank < ztree_count(store->heap, big->root));
    }
    return node_ref != HEAP_REF_NONE;
}

uint32_t store_zset_count_below(const struct store *store, uint32_t key_ref, double score,
                                bool or_equal)
{
    KV_ASSERT(!isnan(score));
    const struct store_key *key = zset_key(store, key_ref);
    if (!key_small(key)) {
        return ztree_count_below(store->heap, key_big(store, key)->root, score, or_equal);
    }
    const struct pack *pack = key_pack(store, key);
    uint32_t count = pack_count(pack) / 2;
    uint32_t offset = pack_first(pack);
    uint32_t below = 0;
    /* Bounded by the pair count; pairs ascend, so the first one not below ends it. */
    for (; below < count; below++) {
        double pair = pair_score(pack, offset);
        if (or_equal ? pair > score : pair >= score) {
            break;
        }
        offset = pair_after(pack, offset);
    }
    return below;
}

/* Whether a member is at or above a lexicographic range's minimum (`above`) or at or below
 * its maximum. */
static bool lex_within(struct slice member, const struct store_zset_lex *end, bool above)
{
    KV_ASSERT(end->infinite >= -1 && end->infinite <= 1);
    if (end->infinite != 0) {
        return above ? end->infinite < 0 : end->infinite > 0;
    }
    int order = ztree_member_compare(member, end->bytes);
    if (above) {
        return end->exclusive ? order > 0 : order >= 0;
    }
    return end->exclusive ? order < 0 : order <= 0;
}

/* A small set's BYLEX ranks, as Redis 7.0 walks a listpack: the set's ends must reach the
 * range; then from the first member at or above min (the last at or below max, reversed)
 * the consecutive members inside the far end. Bounded by the pair count. */
static void lex_ranks_small(const struct pack *pack, const struct store_zset_lex *min,
                            const struct store_zset_lex *max, bool reverse, uint32_t *first,
                            uint32_t *end)
{
    uint32_t offsets[STORE_ZSET_PACK_COUNT_MAX];
    uint32_t count = pack_offsets(pack, offsets);
    *first = *end = 0;
    if (!lex_within(pack_get(pack, offsets[count - 1]), min, true) ||
        !lex_within(pack_get(pack, offsets[0]), max, false)) {
        return;
    }
    const struct store_zset_lex *near = reverse ? max : min;
    const struct store_zset_lex *far = reverse ? min : max;
    uint32_t step = 0;
    /* To the first member inside the range's near end. */
    while (step < count &&
           !lex_within(pack_get(pack, offsets[reverse ? count - 1 - step : step]), near,
                       !reverse)) {
        step++;
    }
    uint32_t inside = 0;
    /* Then the consecutive members inside its far end. */
    while (step + inside < count &&
           lex_within(pack_get(pack, offsets[reverse ? count - 1 - step - inside
                                                     : step + inside]),
                      far, reverse)) {
        inside++;
    }
    *first = reverse ? count - step - inside : step;
    *end = *first + inside;
    KV_ASSERT(*end <= count);
}

/* A large set's BYLEX ranks: how many members lie below each end, read as member order. */
static void lex_ranks_big(const struct store *store, const struct zset_big *big,
                          const struct store_zset_lex *min, const struct store_zset_lex *max,
                          uint32_t *first, uint32_t *end)
{
    uint32_t count = ztree_count(store->heap, big->root);
    if (min->infinite != 0) {
        *first = min->infinite < 0 ? 0 : count;
    } else {
        *first = ztree_count_below_member(store->heap, big->root, min->bytes, min->exclusive);
    }
    if (max->infinite != 0) {
        *end = max->infinite > 0 ? count : 0;
    } else {
        *end = ztree_count_below_member(store->heap, big->root, max->bytes, !max->exclusive);
    }
    *end = *end < *first ? *first : *end;
    KV_ASSERT(*end <= count);
}

void store_zset_lex_ranks(const struct store *store, uint32_t key_ref,
                          const struct store_zset_lex *min, const struct store_zset_lex *max,
                          bool reverse, uint32_t *first, uint32_t *end)
{
    const struct store_key *key = zset_key(store, key_ref);
    if (key_small(key)) {
        lex_ranks_small(key_pack(store, key), min, max, reverse, first, end);
    } else {
        lex_ranks_big(store, key_big(store, key), min, max, first, end);
    }
    KV_ASSERT(*first <= *end);
}

void store_zset_walk_start(const struct store *store, uint32_t key_ref, uint32_t rank,
                           bool reverse, struct store_zset_walk *walk)
{
    const struct store_key *key = zset_key(store, key_ref);
    walk->heap = store->heap;
    walk->reverse = reverse;
    walk->rank = rank;
    if (key_small(key)) {
        walk->pack = key_pack(store, key);
        uint32_t count = pack_offsets(walk->pack, walk->at.offsets);
        KV_ASSERT(rank < count);
        walk->left = reverse ? rank + 1 : count - rank;
        return;
    }
    walk->pack = NULL;
    walk->left = 0;
    ztree_walk_start(store->heap, key_big(store, key)->root, rank, reverse, &walk->at.tree);
}

bool store_zset_walk_next(struct store_zset_walk *walk, struct slice *member, double *score)
{
    if (walk->pack == NULL) {
        uint32_t node_ref = ztree_walk_next(walk->heap, &walk->at.tree);
        if (node_ref == HEAP_REF_NONE) {
            return false;
        }
        const struct ztree_node *node = ztree_node(walk->heap, node_ref);
        KV_ASSERT(node->size > 0);
        *member = ztree_member(node);
        *score = node->score;
        return true;
    }
    if (walk->left == 0) {
        return false;
    }
    KV_ASSERT(walk->rank < STORE_ZSET_PACK_COUNT_MAX);
    uint32_t offset = walk->at.offsets[walk->rank];
    *member = pack_get(walk->pack, offset);
    *score = pair_score(walk->pack, offset);
    walk->left--;
    walk->rank = walk->reverse ? walk->rank - 1 : walk->rank + 1;
    return true;
}

bool store_zset_tree(const struct store *store, uint32_t key_ref)
{
    return !key_small(store_key(store, key_ref));
}

struct zset_scan_visit {
    const struct heap *heap;
    store_zset_visit_fn *visit;
    void *context;
};

static void zset_scan_entry(void *context, uint32_t node_ref)
{
    const struct zset_scan_visit *scan = context;
    const struct ztree_node *node = ztree_node(scan->heap, node_ref);
    KV_ASSERT(node->size > 0); /* a node of the tree */
    scan->visit(scan->context, ztree_member(node), node->score);
}

uint64_t store_zset_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                         store_zset_visit_fn *visit, void *context)
{
    const struct zset_big *big = key_big(store, store_key(store, key_ref));
    struct zset_scan_visit scan = {.heap = store->heap, .visit = visit, .context = context};
    return dict_scan(&big->members, cursor, zset_scan_entry, &scan);
}

/* ---------------------------------------------------------------------------------------
 * ZADD.
 * --------------------------------------------------------------------------------------- */

/* What ZADD does with one pair. */
enum pair_action {
    PAIR_SKIP,   /* NX, XX, GT or LT keeps it out */
    PAIR_SAME,   /* present, and its score stays */
    PAIR_INSERT, /* a new member */
    PAIR_UPDATE, /* a present member's score changes */
    PAIR_NAN,    /* INCR made NaN: Redis's error */
};

/* Redis's zsetAdd decisions, in its order: NX, then INCR's sum and NaN, then GT and LT.
 * *score is the member's score after the pair. */
static enum pair_action pair_decide(uint32_t flags, bool present, double current, double input,
                                    double *score)
{
    KV_ASSERT(!isnan(input));
    *score = input;
    if (!present) {
        return (flags & STORE_ZSET_XX) ? PAIR_SKIP : PAIR_INSERT;
    }
    if (flags & STORE_ZSET_NX) {
        return PAIR_SKIP;
    }
    if (flags & STORE_ZSET_INCR) {
        *score = current + input;
        if (isnan(*score)) {
            return PAIR_NAN;
        }
    }
    if (((flags & STORE_ZSET_GT) && *score <= current) ||
        ((flags & STORE_ZSET_LT) && *score >= current)) {
        return PAIR_SKIP;
    }
    return *score == current ? PAIR_SAME : PAIR_UPDATE;
}

static struct slice pair_member(const struct store_zset_pairs *pairs, uint32_t index)
{
    KV_ASSERT(index < pairs->count);
    return pairs->args[2u * index + 1u];
}

static double pair_input(const struct store_zset_pairs *pairs, uint32_t index)
{
    KV_ASSERT(index < pairs->count);
    double score = pairs->score(pairs->args[2u * index]);
    KV_ASSERT(!isnan(score)); /* the caller validated it */
    return score;
}

/* What a ZADD will add, found before anything changes. */
struct add_scan {
    uint32_t count;   /* members now (0: a new key) */
    uint32_t absent;  /* pairs naming a member absent now, without XX (repeats counted) */
    uint32_t added;   /* distinct members among them, when exact */
    bool exact;       /* added is counted: absent <= STORE_ZSET_PACK_COUNT_MAX */
    bool long_member; /* one of them is too long for a small set */
};

/* Counts the members a ZADD adds. The distinct ones are counted while there are at most
 * STORE_ZSET_PACK_COUNT_MAX (each compared with the absent ones before it); past that the
 * set will be large anyway, and add_big counts them as it makes their nodes. */
static void add_scan(const struct store *store, const struct store_found *found, uint32_t flags,
                     const struct store_zset_pairs *pairs, struct add_scan *scan)
{
    uint32_t absent_index[STORE_ZSET_PACK_COUNT_MAX];
    *scan = (struct add_scan){.exact = true};
    scan->count = found->exists ? store_zset_count(store, found->key_ref) : 0;
    if (flags & STORE_ZSET_XX) {
        return;
    }
    /* Bounded by the pairs; the inner loop by STORE_ZSET_PACK_COUNT_MAX. */
    for (uint32_t index = 0; index < pairs->count; index++) {
        struct slice member = pair_member(pairs, index);
        double score = 0;
        if (found->exists && store_zset_score(store, found->key_ref, member, &score)) {
            continue;
        }
        scan->long_member |= member.length > STORE_ZSET_PACK_MEMBER_BYTES_MAX;
        if (scan->absent < STORE_ZSET_PACK_COUNT_MAX) {
            bool repeated = false;
            for (uint32_t earlier = 0; earlier < scan->absent && !repeated; earlier++) {
                repeated = slice_equal(pair_member(pairs, absent_index[earlier]), member);
            }
            absent_index[scan->absent] = index;
            scan->added += repeated ? 0 : 1;
        }
        scan->absent++;
    }
    scan->exact = scan->absent <= STORE_ZSET_PACK_COUNT_MAX;
    KV_ASSERT(scan->added <= scan->absent);
}

/* kv's caps before anything changes: every member's length, a new key's name. */
static enum store_status add_check(const struct store *store, const struct store_found *found,
                                   struct slice key, const struct store_zset_pairs *pairs)
{
    KV_ASSERT(pairs->count >= 1);
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pairs->count; index++) {
        if (pair_member(pairs, index).length > store->limits.key_bytes_max) {
            return STORE_MEMBER_TOO_LONG;
        }
    }
    if (!found->exists && key.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    return STORE_OK;
}

/* The caps that depend on the exact count added: the set's length, a new key's count. */
static enum store_status add_room(const struct store *store, const struct store_found *found,
                                  struct slice key, const struct add_scan *scan)
{
    KV_ASSERT(scan->exact);
    if ((uint64_t)scan->count + scan->added > store->limits.length_max) {
        return STORE_ZSET_FULL;
    }
    return found->exists ? STORE_OK : store_key_check(store, key);
}

/* ZINCRBY's decisions before anything changes: *result gets the new score, or nil or NaN.
 * Returns whether the set changes. */
static bool incr_decide(const struct store *store, const struct store_found *found,
                        uint32_t flags, const struct store_zset_pairs *pairs,
                        struct store_zset_result *result)
{
    KV_ASSERT(pairs->count == 1);
    double current = 0;
    bool present =
        found->exists && store_zset_score(store, found->key_ref, pair_member(pairs, 0), &current);
    enum pair_action action = pair_decide(flags, present, current, pair_input(pairs, 0),
                                          &result->score);
    result->incr_nan = action == PAIR_NAN;
    result->incr_null = action == PAIR_SKIP;
    return action == PAIR_INSERT || action == PAIR_UPDATE;
}

/* One pair into a pack (its own or a copy): a whole step. False: no room, pack unchanged. */
static bool pack_apply(struct pack **pack, struct heap *heap, uint32_t flags,
                       const struct store_zset_pairs *pairs, uint32_t index,
                       struct store_zset_result *result)
{
    struct slice member = pair_member(pairs, index);
    uint32_t rank = 0;
    uint32_t offset = pack_pair_find(*pack, member, &rank);
    bool present = offset != PACK_OFFSET_NONE;
    double score = 0;
    enum pair_action action = pair_decide(flags, present, present ? pair_score(*pack, offset) : 0,
                                          pair_input(pairs, index), &score);
    KV_ASSERT(action != PAIR_NAN); /* incr_decide answered it */
    if (action == PAIR_INSERT) {
        if (!pack_pair_insert(pack, heap, pack_place(*pack, score, member, PACK_OFFSET_NONE),
                              member, score)) {
            return false;
        }
        result->added++;
    } else if (action == PAIR_UPDATE) {
        if (!pack_pair_rescore(pack, heap, offset, member, score)) {
            return false;
        }
        result->changed++;
    }
    return true;
}

/* Makes a small set's (possibly moved) pack its key's value. */
static void small_root(struct store *store, struct store_found *found, const struct pack *pack)
{
    store_key_set_root(store, found, STORE_ENCODING_RAW, heap_ref(store->heap, pack));
    KV_ASSERT(key_pack(store, store_key(store, found->key_ref)) == pack);
}

/* One pair onto an existing small set, in place: the pack's own step is whole. Watchers are
 * told once it has succeeded (the hook only marks them), so a refused write aborts no
 * transaction. */
static enum store_status add_small_one(struct store *store, struct store_found *found,
                                       uint32_t flags, const struct store_zset_pairs *pairs,
                                       struct store_zset_result *result)
{
    KV_ASSERT(pairs->count == 1);
    struct store_key *key = store_key(store, found->key_ref);
    struct pack *pack = key_pack(store, key);
    if (!pack_apply(&pack, store->heap, flags, pairs, 0, result)) {
        return STORE_OOM;
    }
    if (result->added + result->changed > 0) {
        store_modified(store, key);
        small_root(store, found, pack);
    }
    if (result->added > 0) {
        store_ready(store, store_key(store, found->key_ref));
    }
    return STORE_OK;
}

/* A ZADD whose set is and stays small: on a copy of the pack (or a new one), which replaces
 * the old only once every pair went in. */
static enum store_status add_small(struct store *store, struct store_found *found,
                                   struct slice key, uint32_t flags,
                                   const struct store_zset_pairs *pairs,
                                   struct store_zset_result *result)
{
    KV_ASSERT(!found->exists || key_small(store_key(store, found->key_ref)));
    if (found->exists && pairs->count == 1) {
        return add_small_one(store, found, flags, pairs, result);
    }
    struct store_key *object = found->exists ? store_key(store, found->key_ref)
                                             : store_key_build(store, key, STORE_TYPE_ZSET, 0, 0);
    struct pack *old = found->exists ? key_pack(store, object) : NULL;
    struct pack *pack = NULL;
    if (object != NULL) {
        pack = old != NULL ? pack_copy(store->heap, old) : pack_create(store->heap, false, NULL, 0);
    }
    /* Bounded by the pairs; a refused step gives everything back. */
    for (uint32_t index = 0; pack != NULL && index < pairs->count; index++) {
        if (!pack_apply(&pack, store->heap, flags, pairs, index, result)) {
            pack_release(store->heap, pack);
            pack = NULL;
        }
    }
    if (pack == NULL || result->added + result->changed == 0) {
        if (pack != NULL) {
            pack_release(store->heap, pack); /* nothing changed: the copy goes */
        }
        if (!found->exists && object != NULL) {
            heap_release(store->heap, object);
        }
        return pack == NULL ? STORE_OOM : STORE_OK;
    }
    if (found->exists) {
        store_modified(store, object);
        small_root(store, found, pack);
        pack_release(store->heap, old);
    } else {
        store_object_set_root(object, STORE_ENCODING_RAW, heap_ref(store->heap, pack));
        store_key_insert(store, found, object, NULL);
    }
    if (result->added > 0) {
        store_ready(store, store_key(store, found->key_ref));
    }
    KV_ASSERT(found->exists);
    return STORE_OK;
}

/* A ZADD into a large set, between its preparation and its commit. */
struct big_write {
    struct zset_big *big;     /* the set's root, or a new one (built) */
    struct store_key *object; /* a new key's object, not yet in the keyspace; else NULL */
    uint32_t pending;         /* nodes made for new members, chained through their left
                                 links: in the dict, not yet in the tree */
    uint32_t added;           /* how many */
    bool built;               /* big is new: the key had a pack, or did not exist */
};

/* Makes a node for each member the ZADD adds and enters it in the dict (not the tree): a
 * member named twice is then found the second time. False: the heap has no room. */
static bool big_prepare(struct store *store, uint32_t flags, const struct store_zset_pairs *pairs,
                        struct big_write *write)
{
    if (flags & STORE_ZSET_XX) {
        return true; /* adds nothing */
    }
    struct dict *members = &write->big->members;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pairs->count; index++) {
        struct slice member = pair_member(pairs, index);
        if (dict_find(members, member, NULL) != HEAP_REF_NONE) {
            continue; /* present, or made for an earlier pair */
        }
        struct ztree_node *node = ztree_node_create(store->heap, member, 0);
        if (node == NULL) {
            return false;
        }
        uint32_t node_ref = heap_ref(store->heap, node);
        node->left = write->pending;
        write->pending = node_ref;
        dict_insert(members, node_ref);
        write->added++;
    }
    KV_ASSERT(write->added <= pairs->count);
    return true;
}

/* Gives back what a refused ZADD took: the new root and all it holds, or the nodes made for
 * an existing one; and a new key's object. The set is as it was. */
static void big_undo(struct store *store, struct big_write *write)
{
    if (write->built) {
        big_release(store, write->big);
    } else {
        /* Bounded by the nodes made: the chain holds write->added of them. */
        for (uint32_t undone = 0; undone < write->added; undone++) {
            KV_ASSERT(write->pending != HEAP_REF_NONE);
            struct ztree_node *node = ztree_node(store->heap, write->pending);
            write->pending = node->left;
            uint32_t removed = dict_remove(&write->big->members, ztree_member(node));
            KV_ASSERT(removed == heap_ref(store->heap, node));
            heap_release(store->heap, node);
        }
    }
    if (write->object != NULL) {
        heap_release(store->heap, write->object);
    }
}

/* Takes everything a ZADD into a large set needs: the root (a conversion builds it whole),
 * the new members' nodes, a new key's object; and checks the caps the exact count decides.
 * On any status but STORE_OK nothing is taken. */
static enum store_status big_take(struct store *store, const struct store_found *found,
                                  struct slice key, uint32_t flags,
                                  const struct store_zset_pairs *pairs, struct add_scan *scan,
                                  struct big_write *write)
{
    struct store_key *object = found->exists ? store_key(store, found->key_ref) : NULL;
    *write = (struct big_write){.pending = HEAP_REF_NONE};
    write->built = object == NULL || key_small(object);
    if (write->built) {
        write->big = big_create(store, object != NULL ? key_pack(store, object) : NULL);
        if (write->big == NULL) {
            return STORE_OOM;
        }
    } else {
        write->big = key_big(store, object);
    }
    enum store_status status =
        big_prepare(store, flags, pairs, write) ? STORE_OK : STORE_OOM;
    KV_ASSERT(status != STORE_OK || !scan->exact || write->added == scan->added);
    if (status == STORE_OK && !scan->exact) {
        scan->added = write->added;
        scan->exact = true;
        status = add_room(store, found, key, scan);
    }
    if (status == STORE_OK && object == NULL) {
        write->object = store_key_build(store, key, STORE_TYPE_ZSET, 0, 0);
        status = write->object != NULL ? STORE_OK : STORE_OOM;
    }
    if (status != STORE_OK) {
        big_undo(store, write);
    }
    KV_ASSERT(status != STORE_OK || write->big != NULL);
    return status;
}

/* Whether a pair applied to a set that converts in this write would still have met the
 * small encoding in Redis, which adds the pairs one by one and converts at the first new
 * member that is the 129th or too long (a new key starts large when its first member is too
 * long). Scores written before that lose their sign of zero, as a listpack's do. Updates
 * `small` and *count (members so far). */
static bool pair_small(bool small, uint32_t *count, enum pair_action action, struct slice member)
{
    KV_ASSERT(*count < UINT32_MAX);
    if (action != PAIR_INSERT) {
        return small;
    }
    bool fits = *count + 1 <= STORE_ZSET_PACK_COUNT_MAX &&
                member.length <= STORE_ZSET_PACK_MEMBER_BYTES_MAX;
    (*count)++;
    return small && fits;
}

/* Applies every pair to a prepared large set: nothing here can fail. Watchers of an existing
 * key are told before its first change. */
static void big_apply(struct store *store, const struct store_found *found, uint32_t flags,
                      const struct store_zset_pairs *pairs, struct big_write *write,
                      struct store_zset_result *result)
{
    struct zset_big *big = write->big;
    bool told = !found->exists;
    bool small = write->built && (found->exists || pair_member(pairs, 0).length <=
                                                       STORE_ZSET_PACK_MEMBER_BYTES_MAX);
    uint32_t count = ztree_count(store->heap, big->root);
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pairs->count; index++) {
        uint32_t node_ref = dict_find(&big->members, pair_member(pairs, index), NULL);
        struct ztree_node *node = node_ref != HEAP_REF_NONE ? ztree_node(store->heap, node_ref)
                                                            : NULL;
        bool present = node != NULL && node->size > 0;
        double score = 0;
        enum pair_action action = pair_decide(flags, present, present ? node->score : 0,
                                              pair_input(pairs, index), &score);
        KV_ASSERT(action != PAIR_NAN); /* incr_decide answered it */
        small = pair_small(small, &count, action, pair_member(pairs, index));
        score = small ? score + 0.0 : score;
        if ((action == PAIR_INSERT || action == PAIR_UPDATE) && !told) {
            store_modified(store, store_key(store, found->key_ref));
            told = true;
        }
        if (action == PAIR_INSERT) {
            KV_ASSERT(node != NULL); /* big_prepare made it */
            node->left = HEAP_REF_NONE;
            node->score = score;
            big_link(store, big, node_ref);
            result->added++;
        } else if (action == PAIR_UPDATE) {
            ztree_remove(store->heap, &big->root, node_ref);
            node->score = score;
            ztree_insert(store->heap, &big->root, node_ref);
            result->changed++;
        }
    }
    KV_ASSERT(result->added == write->added); /* every node made went in */
}

/* A ZADD whose set is or becomes large. When repeated members made the count small after
 * all, it gives back what it took and goes the small way. */
static enum store_status add_big(struct store *store, struct store_found *found,
                                 struct slice key, uint32_t flags,
                                 const struct store_zset_pairs *pairs, struct add_scan *scan,
                                 struct store_zset_result *result)
{
    struct big_write write;
    enum store_status status = big_take(store, found, key, flags, pairs, scan, &write);
    if (status != STORE_OK) {
        return status;
    }
    if (write.built && !scan->long_member &&
        scan->count + scan->added <= STORE_ZSET_PACK_COUNT_MAX) {
        big_undo(store, &write);
        return add_small(store, found, key, flags, pairs, result);
    }
    struct pack *old = found->exists && write.built
                           ? key_pack(store, store_key(store, found->key_ref))
                           : NULL;
    big_apply(store, found, flags, pairs, &write, result);
    uint32_t big_ref = heap_ref(store->heap, write.big);
    if (write.object != NULL) {
        store_object_set_root(write.object, STORE_ENCODING_ROOT, big_ref);
        store_key_insert(store, found, write.object, NULL);
    } else if (old != NULL) {
        store_key_set_root(store, found, STORE_ENCODING_ROOT, big_ref);
        pack_release(store->heap, old);
    }
    if (result->added > 0) {
        store_ready(store, store_key(store, found->key_ref));
    }
    KV_ASSERT(key_big(store, store_key(store, found->key_ref)) == write.big);
    return STORE_OK;
}

static enum store_status zset_add(struct store *store, struct store_found *found,
                                  struct slice key, uint32_t flags,
                                  const struct store_zset_pairs *pairs,
                                  struct store_zset_result *result);

/* Whether a ZADD inserts a member longer than zset-max-listpack-value: without XX every
 * member absent now is inserted (GT, LT and NX keep none of them out). */
static bool add_inserts_long(const struct store *store, const struct store_found *found,
                             uint32_t flags, const struct store_zset_pairs *pairs)
{
    if (flags & STORE_ZSET_XX) {
        return false;
    }
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pairs->count; index++) {
        struct slice member = pair_member(pairs, index);
        double score = 0;
        if (member.length > zset_listpack_value_max &&
            !(found->exists && store_zset_score(store, found->key_ref, member, &score))) {
            return true;
        }
    }
    return false;
}

/* ZADD with Redis's shape: a new key starts as a listpack unless zset-max-listpack-entries
 * is 0 or its first member is too long; an insert converts it, for good, when the set would
 * pass the entries or the member the value bound (zsetAdd). */
enum store_status store_zset_add(struct store *store, struct store_found *found,
                                 struct slice key, uint32_t flags,
                                 const struct store_zset_pairs *pairs,
                                 struct store_zset_result *result)
{
    zset_limits_read();
    uint8_t shape = found->exists ? store_key_shape(store_key(store, found->key_ref))
                                  : STORE_SHAPE_COMPACT;
    bool inserts_long = shape == STORE_SHAPE_COMPACT &&
                        add_inserts_long(store, found, flags, pairs);
    enum store_status status = zset_add(store, found, key, flags, pairs, result);
    if (status == STORE_OK && found->exists) {
        if (result->added > 0 &&
            (inserts_long || store_zset_count(store, found->key_ref) > zset_listpack_entries_max)) {
            shape = STORE_SHAPE_CONVERTED;
        }
        store_key_shape_set(store_key(store, found->key_ref), shape);
    }
    return status;
}

static enum store_status zset_add(struct store *store, struct store_found *found,
                                  struct slice key, uint32_t flags,
                                  const struct store_zset_pairs *pairs,
                                  struct store_zset_result *result)
{
    KV_ASSERT(pairs->count >= 1);
    KV_ASSERT(!(flags & STORE_ZSET_INCR) || pairs->count == 1);
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_ZSET);
    *result = (struct store_zset_result){0};
    if (!found->exists && (flags & STORE_ZSET_XX)) {
        result->incr_null = true; /* XX on no key: nothing to update */
        return STORE_OK;
    }
    enum store_status status = add_check(store, found, key, pairs);
    if (status != STORE_OK) {
        return status;
    }
    struct add_scan scan;
    add_scan(store, found, flags, pairs, &scan);
    if (scan.exact && (status = add_room(store, found, key, &scan)) != STORE_OK) {
        return status;
    }
    if ((flags & STORE_ZSET_INCR) && !incr_decide(store, found, flags, pairs, result)) {
        return STORE_OK; /* nil, NaN, or the same score: nothing changes */
    }
    bool small = !found->exists || key_small(store_key(store, found->key_ref));
    if (small && scan.exact && !scan.long_member &&
        scan.count + scan.added <= STORE_ZSET_PACK_COUNT_MAX) {
        return add_small(store, found, key, flags, pairs, result);
    }
    return add_big(store, found, key, flags, pairs, &scan, result);
}

/* ---------------------------------------------------------------------------------------
 * Removals: they never fail, and the key goes with its last member.
 * --------------------------------------------------------------------------------------- */

static void remove_if_empty(struct store *store, struct store_found *found)
{
    if (store_zset_count(store, found->key_ref) == 0) {
        store_remove(store, found);
        KV_ASSERT(!found->exists);
    }
}

uint32_t store_zset_remove(struct store *store, struct store_found *found,
                           const struct slice *members, uint32_t member_count)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_ZSET);
    uint32_t removed = 0;
    /* Bounded by the members named; the key may go before the last. */
    for (uint32_t index = 0; index < member_count && found->exists; index++) {
        struct store_key *key = store_key(store, found->key_ref);
        uint32_t rank = 0;
        uint32_t offset = key_small(key) ? pack_pair_find(key_pack(store, key), members[index],
                                                          &rank)
                                         : PACK_OFFSET_NONE;
        uint32_t node_ref = key_small(key) ? HEAP_REF_NONE
                                           : big_find(key_big(store, key), members[index]);
        if (offset == PACK_OFFSET_NONE && node_ref == HEAP_REF_NONE) {
            continue;
        }
        if (removed == 0) {
            store_modified(store, key);
        }
        if (offset != PACK_OFFSET_NONE) {
            struct pack *pack = key_pack(store, key);
            pack_delete(&pack, store->heap, offset, 2);
            small_root(store, found, pack);
        } else {
            big_remove(store, key_big(store, key), node_ref);
        }
        removed++;
        remove_if_empty(store, found);
    }
    KV_ASSERT(removed <= member_count);
    return removed;
}

uint32_t store_zset_remove_ranks(struct store *store, struct store_found *found, uint32_t first,
                                 uint32_t end)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_ZSET);
    KV_ASSERT(first <= end && end <= store_zset_count(store, found->key_ref));
    if (first == end) {
        return 0;
    }
    struct store_key *key = store_key(store, found->key_ref);
    store_modified(store, key);
    if (key_small(key)) {
        struct pack *pack = key_pack(store, key);
        pack_delete(&pack, store->heap, pack_index(pack, 2u * first), 2u * (end - first));
        small_root(store, found, pack);
    } else {
        struct zset_big *big = key_big(store, key);
        /* Bounded by end - first: the member at `first` each time. */
        for (uint32_t removed = 0; removed < end - first; removed++) {
            big_remove(store, big, ztree_select(store->heap, big->root, first));
        }
    }
    remove_if_empty(store, found);
    return end - first;
}

/* Pops the lowest (or highest) member of a live set, giving it to visit first. */
static void pop_one(struct store *store, struct store_found *found, bool max,
                    store_zset_visit_fn *visit, void *context)
{
    struct store_key *key = store_key(store, found->key_ref);
    if (key_small(key)) {
        struct pack *pack = key_pack(store, key);
        uint32_t count = pack_count(pack) / 2;
        KV_ASSERT(count > 0);
        uint32_t offset = pack_index(pack, max ? 2u * (count - 1) : 0);
        visit(context, pack_get(pack, offset), pair_score(pack, offset));
        pack_delete(&pack, store->heap, offset, 2);
        small_root(store, found, pack);
        return;
    }
    struct zset_big *big = key_big(store, key);
    uint32_t count = ztree_count(store->heap, big->root);
    KV_ASSERT(count > 0);
    uint32_t node_ref = ztree_select(store->heap, big->root, max ? count - 1 : 0);
    const struct ztree_node *node = ztree_node(store->heap, node_ref);
    visit(context, ztree_member(node), node->score);
    big_remove(store, big, node_ref);
}

uint32_t store_zset_pop(struct store *store, struct store_found *found, bool max, uint32_t count,
                        store_zset_visit_fn *visit, void *context)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_ZSET);
    uint32_t length = store_zset_count(store, found->key_ref);
    uint32_t popped = count < length ? count : length;
    if (popped == 0) {
        return 0;
    }
    store_modified(store, store_key(store, found->key_ref));
    /* Bounded by popped, at most the set's length. */
    for (uint32_t index = 0; index < popped; index++) {
        pop_one(store, found, max, visit, context);
    }
    remove_if_empty(store, found);
    KV_ASSERT(found->exists == (popped < length));
    return popped;
}

/* ---------------------------------------------------------------------------------------
 * Results built apart from the keyspace: a root like a large set's, owned by the command.
 * --------------------------------------------------------------------------------------- */

static struct zset_big *temp_big(const struct store *store, const struct store_zset_temp *temp)
{
    KV_ASSERT(temp->big_ref != HEAP_REF_NONE);
    return heap_pointer(store->heap, temp->big_ref);
}

bool store_zset_temp_start(struct store *store, struct store_zset_temp *temp)
{
    struct zset_big *big = big_create(store, NULL);
    *temp = (struct store_zset_temp){.big_ref = HEAP_REF_NONE, .member_bytes_max = 0};
    if (big == NULL) {
        return false;
    }
    temp->big_ref = heap_ref(store->heap, big);
    KV_ASSERT(store_zset_temp_count(store, temp) == 0);
    return true;
}

uint32_t store_zset_temp_count(const struct store *store, const struct store_zset_temp *temp)
{
    const struct zset_big *big = temp_big(store, temp);
    uint32_t count = ztree_count(store->heap, big->root);
    KV_ASSERT(count == dict_count(&big->members)); /* every node put is in the tree */
    return count;
}

bool store_zset_temp_score(const struct store *store, const struct store_zset_temp *temp,
                           struct slice member, double *score)
{
    uint32_t node_ref = big_find(temp_big(store, temp), member);
    if (node_ref != HEAP_REF_NONE) {
        *score = ztree_node(store->heap, node_ref)->score;
        KV_ASSERT(!isnan(*score));
    }
    return node_ref != HEAP_REF_NONE;
}

bool store_zset_temp_put(struct store *store, struct store_zset_temp *temp, struct slice member,
                         double score)
{
    KV_ASSERT(!isnan(score));
    struct zset_big *big = temp_big(store, temp);
    uint32_t node_ref = big_find(big, member);
    if (node_ref != HEAP_REF_NONE) {
        /* Out of the tree by its old score, back in by its new one. */
        ztree_remove(store->heap, &big->root, node_ref);
        ztree_node(store->heap, node_ref)->score = score;
        ztree_insert(store->heap, &big->root, node_ref);
        return true;
    }
    struct ztree_node *node = ztree_node_create(store->heap, member, score);
    if (node == NULL) {
        return false;
    }
    node_ref = heap_ref(store->heap, node);
    dict_insert(&big->members, node_ref);
    big_link(store, big, node_ref);
    temp->member_bytes_max =
        member.length > temp->member_bytes_max ? member.length : temp->member_bytes_max;
    KV_ASSERT(big_find(big, member) == node_ref);
    return true;
}

void store_zset_temp_walk_start(const struct store *store, const struct store_zset_temp *temp,
                                struct store_zset_walk *walk)
{
    const struct zset_big *big = temp_big(store, temp);
    KV_ASSERT(big->root != HEAP_REF_NONE);
    walk->heap = store->heap;
    walk->pack = NULL;
    walk->rank = 0;
    walk->left = 0;
    walk->reverse = false;
    ztree_walk_start(store->heap, big->root, 0, false, &walk->at.tree);
}

void store_zset_temp_abandon(struct store *store, struct store_zset_temp *temp)
{
    if (temp->big_ref != HEAP_REF_NONE) {
        big_release(store, temp_big(store, temp));
    }
    temp->big_ref = HEAP_REF_NONE;
    KV_ASSERT(temp->big_ref == HEAP_REF_NONE);
}

/* A small result as a pack of its pairs in order (scores lose the sign of zero, as a
 * listpack's do); NULL when the heap has no room, holding nothing. */
static struct pack *temp_pack(struct store *store, const struct store_zset_temp *temp)
{
    struct pack *pack = pack_create(store->heap, false, NULL, 0);
    struct store_zset_walk walk;
    struct slice member;
    double score = 0;
    store_zset_temp_walk_start(store, temp, &walk);
    /* Bounded by the result's count (at most STORE_ZSET_PACK_COUNT_MAX). */
    while (pack != NULL && store_zset_walk_next(&walk, &member, &score)) {
        if (!pack_pair_insert(&pack, store->heap, pack_end(pack), member, score)) {
            pack_release(store->heap, pack);
            pack = NULL;
        }
    }
    KV_ASSERT(pack == NULL || pack_count(pack) / 2 == store_zset_temp_count(store, temp));
    return pack;
}

enum store_status store_zset_temp_store(struct store *store, struct store_found *target,
                                        struct slice destination, struct store_zset_temp *temp)
{
    KV_ASSERT(!target->exists ||
              slice_equal(store_key_name(store_key(store, target->key_ref)), destination));
    uint32_t count = store_zset_temp_count(store, temp);
    enum store_status status = STORE_OK;
    if (count > store->limits.length_max) {
        status = STORE_ZSET_FULL;
    } else if (count > 0 && !target->exists) {
        status = store_key_check(store, destination);
    } else if (count > 0 && destination.length > store->limits.key_bytes_max) {
        status = STORE_KEY_TOO_LONG;
    }
    if (status != STORE_OK || count == 0) {
        store_zset_temp_abandon(store, temp);
        if (status == STORE_OK && target->exists) {
            store_remove(store, target); /* an empty result deletes the destination */
        }
        return status;
    }
    bool small = count <= STORE_ZSET_PACK_COUNT_MAX &&
                 temp->member_bytes_max <= STORE_ZSET_PACK_MEMBER_BYTES_MAX;
    struct pack *pack = small ? temp_pack(store, temp) : NULL;
    struct store_key *object = small && pack == NULL
                                   ? NULL
                                   : store_key_build(store, destination, STORE_TYPE_ZSET, 0, 0);
    if (object == NULL) {
        if (pack != NULL) {
            pack_release(store->heap, pack);
        }
        store_zset_temp_abandon(store, temp);
        return STORE_OOM;
    }
    if (small) {
        store_object_set_root(object, STORE_ENCODING_RAW, heap_ref(store->heap, pack));
        store_zset_temp_abandon(store, temp);
    } else {
        store_object_set_root(object, STORE_ENCODING_ROOT, temp->big_ref);
        temp->big_ref = HEAP_REF_NONE;
    }
    store_key_shape_set(object, shape_fresh(count, temp->member_bytes_max));
    if (target->exists) {
        store_key_swap(store, target, object, NULL);
    } else {
        store_key_insert(store, target, object, NULL);
    }
    store_ready(store, store_key(store, target->key_ref));
    KV_ASSERT(temp->big_ref == HEAP_REF_NONE);
    KV_ASSERT(target->exists && target->type == STORE_TYPE_ZSET);
    return STORE_OK;
}

uint64_t store_zset_bound_bytes(uint64_t count, uint64_t member_bytes)
{
    /* The tree: a node per member (its head, a length varint of up to 5 bytes, the bytes)
     * and at most 16 bytes of buckets per node in the member dict; the root holds the dict
     * and the tree's root (at most 128 bytes). A pack is below that. */
    uint64_t each = heap_rounded_bytes(sizeof(struct ztree_node) + 5u + member_bytes) + 16u;
    uint64_t bytes = heap_rounded_bytes(128u) + count * each;
    KV_ASSERT(bytes >= count * member_bytes);
    return bytes;
}
