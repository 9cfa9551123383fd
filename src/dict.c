/*
 * A chained hash table over heap entries with Redis-style incremental rehash (see dict.h for
 * the contract). Two tables exist while a resize is in progress; table 0's buckets below
 * rehash_index have been moved into table 1.
 *
 * Invariants (dict_verify checks each):
 * - Placement: an entry with hash h lives in table 0, bucket h & mask0, while that bucket has
 *   not been moved (h & mask0 >= rehash_index), and in table 1, bucket h & mask1, once it
 *   has. So every lookup walks exactly one chain, never two, and inserts follow the same rule.
 * - Opening: table 1's array is not zeroed when it is taken. Its bucket j is set empty when
 *   table 0's bucket j & mask0 is moved (or passed empty), so bucket j is open exactly when
 *   (j & mask0) < rehash_index, and nothing ever reads a bucket that is not open. Starting a
 *   resize therefore costs one heap_alloc and no pass over the new array: zeroing a 2^24-bucket
 *   array at once would stall the event loop for milliseconds.
 * - Moved buckets of table 0 are empty; rehash_index is 0 when not rehashing and below
 *   bucket_count[0] while rehashing (reaching the end finishes the rehash at once).
 * - Before its first array, table 0 is the one bucket inside the struct (bucket_inline), so
 *   inserting never needs the heap; once an array exists the inline bucket stays empty.
 * - count[t] equals the entries chained in table t; a chain is never longer than count[t],
 *   which bounds every chain walk (a cycle would trip the assertion).
 *
 * Work per call: a find, insert or remove hashes one key, walks one chain and does one rehash
 * step (at most DICT_REHASH_EMPTY_VISITS empty buckets passed and one chain moved, each moved
 * entry rehashed). No call ever walks a whole table except dict_clear, dict_verify, a walk,
 * and dict_random's fallback (see there). Never allocates except bucket arrays from the heap,
 * and a failed allocation leaves the table as it was.
 */
#include "dict.h"

#include <string.h>

#include "hashfn.h"

/* dict_random: random buckets probed before the linear fallback. The chance that a probe
 * returns is at least load / chain_cap >= (1/8) / 4 when the table is not left sparse by a
 * failed shrink, so 256 probes all miss with probability below 0.04%. */
#define DICT_RANDOM_PROBES 256u

/* dict_random accepts a chain of length L with probability L / chain_cap, which makes each
 * entry equally likely for chains up to chain_cap long. chain_cap is this plus twice the
 * load, so an overloaded table (a grow refused by a full heap) stays close to uniform. */
#define DICT_RANDOM_CHAIN_MIN 4u

/* Past a resize threshold, inserts and removes ask the heap again once per
 * bucket_count >> DICT_RESIZE_RETRY_SHIFT changes of count (see resize_ask): a full heap
 * costs at most one refused allocation per 64 of them, and a due resize starts at most
 * size / 64 entries late (a load 1/64 above the threshold). */
#define DICT_RESIZE_RETRY_SHIFT 6u

/* dict_sample looks at no more than this many buckets per entry wanted (Redis's figure). */
#define DICT_SAMPLE_LOOKS_PER_ENTRY 10u

static_assert((DICT_BUCKETS_MIN & (DICT_BUCKETS_MIN - 1)) == 0, "power-of-two minimum");
static_assert(DICT_BUCKETS_MIN >= 2, "the inline bucket is the only table of one bucket");
static_assert(DICT_SHRINK_RATIO >= 4, "a shrink target is far from the grow threshold");
static_assert(DICT_REHASH_EMPTY_VISITS >= 1, "a rehash step makes progress");
static_assert(sizeof(uint32_t) <= HEAP_ALIGN, "an entry's link fits its first aligned unit");
static_assert((uint64_t)DICT_BUCKETS_MAX * sizeof(uint32_t) <= HEAP_BYTES_MAX,
              "the largest bucket array fits the largest heap");

static uint32_t *entry_link(const struct dict *dict, uint32_t entry_ref)
{
    return heap_pointer(dict->heap, entry_ref);
}

static uint64_t key_hash(const struct dict *dict, struct slice key)
{
    return hashfn_bytes(key.bytes, key.length, dict->seed);
}

static uint64_t entry_hash(const struct dict *dict, uint32_t entry_ref)
{
    return key_hash(dict, dict->key(dict->heap, heap_pointer(dict->heap, entry_ref)));
}

static uint32_t table_mask(const struct dict *dict, uint32_t table)
{
    KV_ASSERT(dict->bucket_count[table] != 0);
    return dict->bucket_count[table] - 1u;
}

/* The table an entry with this hash lives in (the placement invariant). */
static uint32_t home_table(const struct dict *dict, uint64_t hash)
{
    return ((uint32_t)hash & (dict->bucket_count[0] - 1u)) < dict->rehash_index ? 1u : 0u;
}

/* A table's bucket array: table 0 before its first array is the inline bucket. */
static uint32_t *table_slots(struct dict *dict, uint32_t table)
{
    if (table == 0 && dict->buckets[0] == NULL) {
        KV_ASSERT(dict->bucket_count[0] == 1);
        return &dict->bucket_inline;
    }
    KV_ASSERT(dict->buckets[table] != NULL);
    return dict->buckets[table];
}

/* The bucket slot an entry with this hash is chained from. */
static uint32_t *home_slot(struct dict *dict, uint64_t hash, uint32_t *table)
{
    *table = home_table(dict, hash);
    return table_slots(dict, *table) + ((uint32_t)hash & table_mask(dict, *table));
}

/* Whether a bucket holds a chain: table 1's buckets open as table 0's are moved. */
static bool bucket_open(const struct dict *dict, uint32_t table, uint32_t index)
{
    KV_ASSERT(index < dict->bucket_count[table]);
    return table == 0 || (index & (dict->bucket_count[0] - 1u)) < dict->rehash_index;
}

/* The first entry of a bucket, HEAP_REF_NONE when empty or not open. */
static uint32_t bucket_head(const struct dict *dict, uint32_t table, uint32_t index)
{
    if (!bucket_open(dict, table, index)) {
        return HEAP_REF_NONE;
    }
    if (table == 0 && dict->buckets[0] == NULL) {
        return dict->bucket_inline;
    }
    return dict->buckets[table][index];
}

/* The link that holds the entry with this key in its chain, or the chain's final empty link.
 * Changes nothing. */
static uint32_t *chain_locate(struct dict *dict, struct slice key, uint64_t hash,
                              uint32_t *table)
{
    uint32_t *link = home_slot(dict, hash, table);
    uint64_t chain_max = dict->count[*table];
    /* Bound: a chain holds at most count[table] entries. */
    for (uint64_t step = 0; *link != HEAP_REF_NONE; step++) {
        KV_ASSERT(step < chain_max);
        void *entry = heap_pointer(dict->heap, *link);
        if (slice_equal(dict->key(dict->heap, entry), key)) {
            return link;
        }
        link = entry;
    }
    return link;
}

void dict_init(struct dict *dict, struct heap *heap, dict_key_fn *key, uint64_t seed)
{
    KV_ASSERT(heap != NULL);
    KV_ASSERT(key != NULL);
    memset(dict, 0, sizeof(*dict));
    dict->heap = heap;
    dict->key = key;
    dict->seed = seed;
    dict->bucket_count[0] = 1; /* the inline bucket */
    dict->bucket_inline = HEAP_REF_NONE;
    KV_ASSERT(!dict_rehashing(dict));
}

/* Takes table 1's array; nothing moves yet. A full heap leaves the dict as it is. */
static void resize_start(struct dict *dict, uint32_t target)
{
    KV_ASSERT(!dict_rehashing(dict));
    KV_ASSERT((target & (target - 1)) == 0);
    KV_ASSERT(target >= DICT_BUCKETS_MIN && target <= DICT_BUCKETS_MAX);
    KV_ASSERT(target != dict->bucket_count[0]);
    if (dict->frozen) {
        return; /* as a refused allocation: the next ask after the thaw starts it */
    }
    uint32_t *slots = heap_alloc(dict->heap, (uint64_t)target * sizeof(uint32_t));
    if (slots == NULL) {
        return;
    }
    dict->buckets[1] = slots;
    dict->bucket_count[1] = target;
    dict->count[1] = 0;
    KV_ASSERT(dict->rehash_index == 0);
    KV_ASSERT(dict_rehashing(dict));
}

/* Whether an insert or remove asks the heap for a resize that is due. At the threshold it
 * always does: count moves by one, so in the normal case it meets the threshold and the
 * resize starts exactly there. Past it (the heap refused, or a rehash was in progress when
 * count met it) only when count is a multiple of size >> DICT_RESIZE_RETRY_SHIFT: a refusal
 * can cost the heap a walk of a bin, and a full heap would otherwise pay it on every insert.
 * dict_rehash always asks. */
static bool resize_ask(const struct dict *dict, uint64_t threshold, bool always)
{
    uint64_t count = dict_count(dict);
    uint64_t spacing = dict->bucket_count[0] >> DICT_RESIZE_RETRY_SHIFT;
    return always || count == threshold || spacing == 0 || (count & (spacing - 1)) == 0;
}

/* Doubles a table that holds as many entries as buckets (the inline bucket goes straight to
 * DICT_BUCKETS_MIN). */
static void grow_if_due(struct dict *dict, bool always)
{
    uint32_t size = dict->bucket_count[0];
    if (dict_rehashing(dict) || dict_count(dict) < size || size >= DICT_BUCKETS_MAX ||
        !resize_ask(dict, size, always)) {
        return;
    }
    resize_start(dict, size * 2u < DICT_BUCKETS_MIN ? DICT_BUCKETS_MIN : size * 2u);
}

/* Below one entry per DICT_SHRINK_RATIO buckets: the smallest power of two that holds count
 * at one entry per bucket, at least DICT_BUCKETS_MIN. The threshold is the largest count
 * that is due, ceil(size / ratio) - 1. */
static void shrink_if_due(struct dict *dict, bool always)
{
    uint32_t size = dict->bucket_count[0];
    uint64_t count = dict_count(dict);
    if (dict_rehashing(dict) || dict->buckets[0] == NULL || count * DICT_SHRINK_RATIO >= size) {
        return;
    }
    uint64_t threshold = (size + DICT_SHRINK_RATIO - 1u) / DICT_SHRINK_RATIO - 1u;
    KV_ASSERT(count <= threshold);
    if (!resize_ask(dict, threshold, always)) {
        return;
    }
    uint32_t target = DICT_BUCKETS_MIN;
    /* At most 31 doublings; ends below size since count < size / DICT_SHRINK_RATIO. */
    while (target < count) {
        target *= 2u;
    }
    KV_ASSERT(target <= size);
    if (target < size) {
        resize_start(dict, target);
    }
}

/* Opens the buckets of table 1 that table 0's bucket index0 feeds: index0 + k * size0 when
 * growing (size1 / size0 of them, 2 or 4), index0 alone when shrinking and index0 < size1. */
static void rehash_open(struct dict *dict, uint32_t index0)
{
    uint64_t size0 = dict->bucket_count[0];
    uint64_t size1 = dict->bucket_count[1];
    uint32_t *slots1 = dict->buckets[1];
    /* Bound: size1 / size0 buckets when growing, at most one when shrinking. */
    for (uint64_t index1 = index0; index1 < size1; index1 += size0) {
        slots1[index1] = HEAP_REF_NONE;
    }
}

/* Moves the chain of table 0's bucket index0 into table 1's open buckets. */
static void rehash_bucket(struct dict *dict, uint32_t index0)
{
    uint32_t *slots0 = table_slots(dict, 0);
    uint32_t *slots1 = dict->buckets[1];
    uint32_t mask1 = table_mask(dict, 1);
    uint32_t ref = slots0[index0];
    slots0[index0] = HEAP_REF_NONE;
    /* Bound: count[0] drops with each entry moved, and the assertion stops a cycle. */
    while (ref != HEAP_REF_NONE) {
        KV_ASSERT(dict->count[0] > 0);
        uint32_t *link = entry_link(dict, ref);
        uint32_t next = *link;
        uint64_t hash = entry_hash(dict, ref);
        KV_ASSERT(((uint32_t)hash & table_mask(dict, 0)) == index0);
        uint32_t index1 = (uint32_t)hash & mask1;
        KV_ASSERT((index1 & table_mask(dict, 0)) <= index0); /* opened by now */
        *link = slots1[index1];
        slots1[index1] = ref;
        dict->count[0]--;
        dict->count[1]++;
        ref = next;
    }
}

/* Every bucket of table 0 is moved: table 1 becomes table 0. */
static void rehash_finish(struct dict *dict)
{
    KV_ASSERT(dict->rehash_index == dict->bucket_count[0]);
    KV_ASSERT(dict->count[0] == 0);
    if (dict->buckets[0] != NULL) {
        heap_release(dict->heap, dict->buckets[0]);
    }
    KV_ASSERT(dict->bucket_inline == HEAP_REF_NONE);
    dict->buckets[0] = dict->buckets[1];
    dict->bucket_count[0] = dict->bucket_count[1];
    dict->count[0] = dict->count[1];
    dict->buckets[1] = NULL;
    dict->bucket_count[1] = 0;
    dict->count[1] = 0;
    dict->rehash_index = 0;
}

/* One step: passes at most DICT_REHASH_EMPTY_VISITS empty buckets and moves at most one
 * chain, opening table 1's buckets on the way. */
static void rehash_step(struct dict *dict)
{
    KV_ASSERT(dict_rehashing(dict));
    uint32_t size0 = dict->bucket_count[0];
    KV_ASSERT(dict->rehash_index < size0);
    const uint32_t *slots0 = table_slots(dict, 0);
    /* Bound: DICT_REHASH_EMPTY_VISITS empty buckets, or fewer and one chain moved. */
    for (uint32_t empty_count = 0;
         empty_count < DICT_REHASH_EMPTY_VISITS && dict->rehash_index < size0;) {
        uint32_t index0 = dict->rehash_index;
        rehash_open(dict, index0);
        bool occupied = slots0[index0] != HEAP_REF_NONE;
        if (occupied) {
            rehash_bucket(dict, index0);
        }
        dict->rehash_index = index0 + 1u;
        dict->rehash_moved++;
        if (occupied) {
            break;
        }
        empty_count++;
    }
    if (dict->rehash_index == size0) {
        rehash_finish(dict);
    }
}

/* Starts the resize that is due, if any (at most one of the two is). */
static void resize_if_due(struct dict *dict)
{
    shrink_if_due(dict, true);
    grow_if_due(dict, true);
}

bool dict_rehash(struct dict *dict, uint32_t buckets)
{
    resize_if_due(dict);
    /* Bound: `buckets` steps; stops early when the rehash finishes. */
    for (uint32_t step = 0; step < buckets && dict_rehashing(dict); step++) {
        rehash_step(dict);
    }
    /* A table that an earlier refused allocation left far off its size needs more than one
     * resize: the next one starts now, so that "more remain" keeps the caller coming. */
    resize_if_due(dict);
    return dict_rehashing(dict);
}

uint32_t dict_find(struct dict *dict, struct slice key, struct dict_position *position)
{
    KV_ASSERT(key.bytes != NULL || key.length == 0);
    if (dict_rehashing(dict)) {
        rehash_step(dict);
    }
    uint32_t table = 0;
    uint32_t *link = chain_locate(dict, key, key_hash(dict, key), &table);
    if (*link == HEAP_REF_NONE) {
        return HEAP_REF_NONE;
    }
    if (position != NULL) {
        position->link = link;
        position->table = table;
    }
    KV_ASSERT(dict->count[table] > 0);
    return *link;
}

uint32_t dict_lookup(const struct dict *dict, struct slice key)
{
    KV_ASSERT(key.bytes != NULL || key.length == 0);
    uint32_t table = 0;
    /* chain_locate only reads; it takes a mutable dict for the links it returns. */
    uint32_t *link = chain_locate((struct dict *)dict, key, key_hash(dict, key), &table);
    return *link;
}

void dict_insert(struct dict *dict, uint32_t entry_ref)
{
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    if (dict_rehashing(dict)) {
        rehash_step(dict);
    }
    grow_if_due(dict, false);
    uint64_t hash = entry_hash(dict, entry_ref);
    uint32_t table = 0;
#ifdef KV_DEBUG
    /* The caller found the key absent: the chain ends without it (nor this very entry). */
    struct slice key = dict->key(dict->heap, heap_pointer(dict->heap, entry_ref));
    KV_DEBUG_ASSERT(*chain_locate(dict, key, hash, &table) == HEAP_REF_NONE);
#endif
    uint32_t *slot = home_slot(dict, hash, &table);
    *entry_link(dict, entry_ref) = *slot;
    *slot = entry_ref;
    dict->count[table]++;
    KV_ASSERT(dict->count[table] > 0);
}

void dict_remove_at(struct dict *dict, struct dict_position position)
{
    KV_ASSERT(position.link != NULL);
    KV_ASSERT(position.table == 0 || (position.table == 1 && dict_rehashing(dict)));
    uint32_t ref = *position.link;
    KV_ASSERT(ref != HEAP_REF_NONE);
    KV_ASSERT(dict->count[position.table] > 0);
    *position.link = *entry_link(dict, ref);
    dict->count[position.table]--;
    shrink_if_due(dict, false);
}

void dict_replace_at(struct dict *dict, struct dict_position position, uint32_t entry_ref)
{
    KV_ASSERT(position.link != NULL);
    KV_ASSERT(position.table == 0 || (position.table == 1 && dict_rehashing(dict)));
    KV_ASSERT(*position.link != HEAP_REF_NONE);
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    KV_DEBUG_ASSERT(home_table(dict, entry_hash(dict, entry_ref)) == position.table);
    *position.link = entry_ref;
}

uint32_t dict_remove(struct dict *dict, struct slice key)
{
    struct dict_position position = {NULL, 0};
    uint32_t ref = dict_find(dict, key, &position);
    if (ref != HEAP_REF_NONE) {
        KV_ASSERT(*position.link == ref);
        dict_remove_at(dict, position);
    }
    return ref;
}

/* Visits a bucket's chain (nothing when the bucket is not open). */
static void scan_bucket(const struct dict *dict, uint32_t table, uint32_t index,
                        void (*visit)(void *context, uint32_t entry_ref), void *context)
{
    uint32_t ref = bucket_head(dict, table, index);
    /* Bound: a chain holds at most count[table] entries. */
    for (uint64_t step = 0; ref != HEAP_REF_NONE; step++) {
        KV_ASSERT(step < dict->count[table]);
        uint32_t next = *entry_link(dict, ref);
        visit(context, ref);
        ref = next;
    }
}

/* Bits of a 64-bit word in reverse order. */
static uint64_t bits_reverse(uint64_t value)
{
    value = ((value >> 1) & 0x5555555555555555ull) | ((value & 0x5555555555555555ull) << 1);
    value = ((value >> 2) & 0x3333333333333333ull) | ((value & 0x3333333333333333ull) << 2);
    value = ((value >> 4) & 0x0f0f0f0f0f0f0f0full) | ((value & 0x0f0f0f0f0f0f0f0full) << 4);
    return __builtin_bswap64(value);
}

/* The cursor after the bucket it names under `mask`: the bits above the mask are set, then
 * the cursor is incremented from its high end (a reverse-binary increment). Seen reversed, a
 * cursor is a position in hash space: a bucket of a table of 2^k buckets covers one aligned
 * run of 2^(64-k) reversed hashes, and the increment moves to the end of that run, so runs
 * of any table size nest and a scan that started before a resize neither skips nor repeats
 * a run it has finished. */
static uint64_t cursor_next(uint64_t cursor, uint32_t mask)
{
    cursor |= ~(uint64_t)mask;
    return bits_reverse(bits_reverse(cursor) + 1u);
}

/*
 * Why every entry present from the scan's start to its end is returned: read reversed, the
 * cursor R says that every hash below R has been covered. One call covers the run of the
 * bucket R falls in, in whichever table holds its entries now: not rehashing, table 0's
 * bucket; rehashing, the smaller table's bucket (its run contains R) and the larger table's
 * buckets from R up to the end of that run (or up to DICT_SCAN_EXPANSION_MAX of them, the
 * cursor then stopping inside the run). Every entry whose reversed hash lies between the old
 * and the new cursor is in one of the buckets looked at, so the covered prefix only grows.
 */
uint64_t dict_scan(const struct dict *dict, uint64_t cursor,
                   void (*visit)(void *context, uint32_t entry_ref), void *context)
{
    KV_ASSERT(visit != NULL);
    if (dict_count(dict) == 0) {
        return 0;
    }
    if (!dict_rehashing(dict)) {
        uint32_t mask = table_mask(dict, 0);
        scan_bucket(dict, 0, (uint32_t)cursor & mask, visit, context);
        return cursor_next(cursor, mask);
    }
    uint32_t small = dict->bucket_count[0] < dict->bucket_count[1] ? 0u : 1u;
    uint32_t large = 1u - small;
    uint32_t mask_small = table_mask(dict, small);
    uint32_t mask_large = table_mask(dict, large);
    KV_ASSERT((mask_small & mask_large) == mask_small);
    scan_bucket(dict, small, (uint32_t)cursor & mask_small, visit, context);
    /* Bound: DICT_SCAN_EXPANSION_MAX buckets, or the end of the small bucket's run. */
    for (uint32_t step = 0; step < DICT_SCAN_EXPANSION_MAX; step++) {
        scan_bucket(dict, large, (uint32_t)cursor & mask_large, visit, context);
        cursor = cursor_next(cursor, mask_large);
        if ((cursor & (mask_large ^ mask_small)) == 0) {
            break;
        }
    }
    return cursor;
}

uint32_t dict_units(const struct dict *dict)
{
    uint32_t units = dict->bucket_count[0];
    if (dict_rehashing(dict) && dict->bucket_count[1] < units) {
        units = dict->bucket_count[1];
    }
    KV_ASSERT(units > 0 && (units & (units - 1)) == 0);
    return units;
}

void dict_visit_unit(const struct dict *dict, uint32_t units, uint32_t unit,
                     void (*visit)(void *context, uint32_t entry_ref), void *context)
{
    KV_ASSERT(visit != NULL);
    KV_ASSERT(units > 0 && (units & (units - 1)) == 0);
    KV_ASSERT(unit < units);
    uint32_t tables = dict_rehashing(dict) ? 2u : 1u;
    for (uint32_t table = 0; table < tables; table++) {
        uint32_t count = dict->bucket_count[table];
        /* Each table is a multiple of the units: their buckets nest in its buckets. */
        KV_ASSERT(count >= units);
        /* Bound: count / units buckets of this table. */
        for (uint64_t index = unit; index < count; index += units) {
            scan_bucket(dict, table, (uint32_t)index, visit, context);
        }
    }
}

/* xorshift64* (Vigna): the state steps by xorshift, the output is scrambled by a multiply so
 * that its low bits, which the modulo uses, are as good as its high ones. */
static uint64_t random_below(uint64_t *random_state, uint64_t bound)
{
    KV_ASSERT(*random_state != 0);
    KV_ASSERT(bound > 0);
    uint64_t state = *random_state;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    *random_state = state;
    return (state * 0x2545f4914f6cdd1dull) % bound;
}

static uint64_t chain_length(const struct dict *dict, uint32_t table, uint32_t ref)
{
    uint64_t length = 0;
    /* Bound: a chain holds at most count[table] entries. */
    for (; ref != HEAP_REF_NONE; length++) {
        KV_ASSERT(length < dict->count[table]);
        ref = *entry_link(dict, ref);
    }
    return length;
}

static uint32_t chain_entry(const struct dict *dict, uint32_t ref, uint64_t entry_index)
{
    /* Bound: entry_index is below the chain's length (the caller counted it). */
    for (uint64_t step = 0; step < entry_index; step++) {
        ref = *entry_link(dict, ref);
        KV_ASSERT(ref != HEAP_REF_NONE);
    }
    return ref;
}

/* Bucket `position` of the buckets of both tables side by side: its table and index. */
static uint32_t position_head(const struct dict *dict, uint64_t position, uint32_t *table)
{
    *table = position < dict->bucket_count[0] ? 0u : 1u;
    uint64_t index = *table == 0 ? position : position - dict->bucket_count[0];
    return bucket_head(dict, *table, (uint32_t)index);
}

/*
 * Rejection sampling: a random bucket over both tables, then a random place below
 * max(length, chain_cap); landing on an entry returns it. Each entry of a chain up to
 * chain_cap long is then returned with the same probability, 1 / (buckets * chain_cap) per
 * probe. After DICT_RANDOM_PROBES misses (a table left sparse because a shrink found no
 * room), the first non-empty bucket from a random one is used: this walk looks at every
 * bucket at worst, and ends since count > 0.
 */
uint32_t dict_random(const struct dict *dict, uint64_t *random_state)
{
    KV_ASSERT(random_state != NULL);
    KV_ASSERT(*random_state != 0);
    uint64_t count = dict_count(dict);
    if (count == 0) {
        return HEAP_REF_NONE;
    }
    uint64_t bucket_total = (uint64_t)dict->bucket_count[0] + dict->bucket_count[1];
    uint64_t chain_cap = DICT_RANDOM_CHAIN_MIN + 2u * (count / bucket_total);
    uint32_t table = 0;
    /* Bound: DICT_RANDOM_PROBES buckets, each chain at most count entries. */
    for (uint32_t probe = 0; probe < DICT_RANDOM_PROBES; probe++) {
        uint32_t head = position_head(dict, random_below(random_state, bucket_total), &table);
        uint64_t length = chain_length(dict, table, head);
        uint64_t place = random_below(random_state, length > chain_cap ? length : chain_cap);
        if (place < length) {
            return chain_entry(dict, head, place);
        }
    }
    uint64_t start = random_below(random_state, bucket_total);
    /* Bound: every bucket of both tables once; one is not empty since count > 0. */
    for (uint64_t step = 0; step < bucket_total; step++) {
        uint32_t head = position_head(dict, (start + step) % bucket_total, &table);
        if (head != HEAP_REF_NONE) {
            uint64_t length = chain_length(dict, table, head);
            return chain_entry(dict, head, random_below(random_state, length));
        }
    }
    KV_ASSERT(false);
    return HEAP_REF_NONE;
}

/* Redis's dictGetSomeKeys without its random jumps: consecutive bucket indexes from a random
 * one, in both tables, so no bucket is looked at twice and no entry is returned twice. */
uint32_t dict_sample(const struct dict *dict, uint32_t *refs, uint32_t wanted,
                     uint64_t *random_state)
{
    KV_ASSERT(refs != NULL || wanted == 0);
    KV_ASSERT(random_state != NULL);
    if (wanted == 0 || dict_count(dict) == 0) {
        return 0;
    }
    uint32_t size_max = dict->bucket_count[0] > dict->bucket_count[1] ? dict->bucket_count[0]
                                                                       : dict->bucket_count[1];
    uint64_t look_max = (uint64_t)wanted * DICT_SAMPLE_LOOKS_PER_ENTRY;
    uint64_t look_count = 0;
    uint32_t stored = 0;
    uint32_t index = (uint32_t)random_below(random_state, size_max);
    /* Bound: size_max indexes (each once), look_max buckets looked at, wanted entries. */
    for (uint32_t step = 0; step < size_max && look_count < look_max && stored < wanted;
         step++) {
        /* Bound: the two tables, while buckets may still be looked at. */
        for (uint32_t table = 0; table < 2 && look_count < look_max; table++) {
            if (index >= dict->bucket_count[table]) {
                continue;
            }
            look_count++;
            uint32_t ref = bucket_head(dict, table, index);
            /* Bound: wanted entries stored in all. */
            while (ref != HEAP_REF_NONE && stored < wanted) {
                refs[stored] = ref;
                stored++;
                ref = *entry_link(dict, ref);
            }
        }
        index = (index + 1u) & (size_max - 1u);
    }
    KV_ASSERT(stored <= wanted);
    KV_ASSERT(look_count <= look_max);
    return stored;
}

void dict_walk_start(const struct dict *dict, struct dict_walk *walk)
{
    KV_ASSERT(dict->bucket_count[0] != 0);
    walk->table = 0;
    walk->bucket = 0;
    walk->next_ref = HEAP_REF_NONE;
}

bool dict_walk_next(const struct dict *dict, struct dict_walk *walk, uint32_t *entry_ref)
{
    KV_ASSERT(walk->table <= 2);
    uint64_t bucket_total = (uint64_t)dict->bucket_count[0] + dict->bucket_count[1];
    /* Bound: each step passes one bucket or one table, so the buckets of both tables plus
     * the two table ends. */
    for (uint64_t step = 0; walk->next_ref == HEAP_REF_NONE; step++) {
        KV_ASSERT(step <= bucket_total + 2u);
        if (walk->table == 2) {
            return false;
        }
        if (walk->bucket >= dict->bucket_count[walk->table]) {
            walk->table++;
            walk->bucket = 0;
            continue;
        }
        walk->next_ref = bucket_head(dict, walk->table, walk->bucket);
        walk->bucket++;
    }
    *entry_ref = walk->next_ref;
    walk->next_ref = *entry_link(dict, walk->next_ref);
    return true;
}

void dict_clear(struct dict *dict, void (*release)(void *context, uint32_t entry_ref),
                void *context)
{
    KV_ASSERT(release != NULL);
    /* Bound: the two tables. */
    for (uint32_t table = 0; table < 2; table++) {
        /* Bound: the table's buckets. */
        for (uint32_t index = 0; index < dict->bucket_count[table]; index++) {
            uint32_t ref = bucket_head(dict, table, index);
            /* Bound: count[table] drops with each entry released. */
            while (ref != HEAP_REF_NONE) {
                KV_ASSERT(dict->count[table] > 0);
                uint32_t next = *entry_link(dict, ref);
                dict->count[table]--;
                release(context, ref);
                ref = next;
            }
        }
        KV_ASSERT(dict->count[table] == 0);
        if (dict->buckets[table] != NULL) {
            heap_release(dict->heap, dict->buckets[table]);
        }
    }
    dict_init(dict, dict->heap, dict->key, dict->seed);
}

uint64_t dict_bucket_bytes(const struct dict *dict)
{
    uint64_t bytes = 0;
    /* Bound: the two tables. */
    for (uint32_t table = 0; table < 2; table++) {
        if (dict->buckets[table] != NULL) {
            bytes += heap_usable_bytes(dict->heap, dict->buckets[table]);
        }
    }
    KV_ASSERT(bytes >= (uint64_t)dict->bucket_count[1] * sizeof(uint32_t));
    return bytes;
}

/* The shape: table sizes, the inline bucket, the rehash state. */
static void verify_shape(const struct dict *dict)
{
    KV_ASSERT(dict->heap != NULL);
    KV_ASSERT(dict->key != NULL);
    uint32_t size0 = dict->bucket_count[0];
    KV_ASSERT(size0 != 0 && (size0 & (size0 - 1)) == 0 && size0 <= DICT_BUCKETS_MAX);
    if (dict->buckets[0] == NULL) {
        KV_ASSERT(size0 == 1);
    } else {
        KV_ASSERT(size0 >= DICT_BUCKETS_MIN);
        KV_ASSERT(dict->bucket_inline == HEAP_REF_NONE);
    }
    if (!dict_rehashing(dict)) {
        KV_ASSERT(dict->bucket_count[1] == 0);
        KV_ASSERT(dict->count[1] == 0);
        KV_ASSERT(dict->rehash_index == 0);
        return;
    }
    uint32_t size1 = dict->bucket_count[1];
    KV_ASSERT((size1 & (size1 - 1)) == 0 && size1 <= DICT_BUCKETS_MAX);
    KV_ASSERT(size1 >= DICT_BUCKETS_MIN);
    KV_ASSERT(size1 != size0);
    KV_ASSERT(dict->rehash_index < size0);
}

void dict_verify(const struct dict *dict)
{
    verify_shape(dict);
    /* Bound: the two tables. */
    for (uint32_t table = 0; table < 2; table++) {
        uint64_t chained = 0;
        uint32_t mask = dict->bucket_count[table] - 1u;
        /* Bound: the table's buckets (none for table 1 when not rehashing). */
        for (uint32_t index = 0; index < dict->bucket_count[table]; index++) {
            uint32_t ref = bucket_head(dict, table, index);
            KV_ASSERT(table == 1 || index >= dict->rehash_index || ref == HEAP_REF_NONE);
            /* Bound: count[table] entries in all tables' chains (a cycle trips it). */
            while (ref != HEAP_REF_NONE) {
                KV_ASSERT(chained < dict->count[table]);
                chained++;
                uint64_t hash = entry_hash(dict, ref);
                KV_ASSERT(((uint32_t)hash & mask) == index);
                KV_ASSERT(home_table(dict, hash) == table);
                ref = *entry_link(dict, ref);
            }
        }
        KV_ASSERT(chained == dict->count[table]);
    }
}

static void release_none(void *context, uint32_t entry_ref)
{
    (void)context;
    (void)entry_ref;
    KV_ASSERT(false); /* only an empty dict is cleared here */
}

void dict_settle(struct dict *dict)
{
    if (dict_count(dict) == 0 && dict_allocations(dict) > 0) {
        dict_clear(dict, release_none, NULL);
    }
    KV_ASSERT(dict_count(dict) > 0 || dict_allocations(dict) == 0);
}
