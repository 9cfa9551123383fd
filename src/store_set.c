/*
 * Sets: a set key's value in one of three encodings (store_set.h): an intset of integers
 * (STORE_ENCODING_RAW), a forward pack of short members (ROOT), or a table, a dict of member
 * entries (ROOT2). Invariants (set_verify checks each): a set holds 1 .. length_max distinct
 * members, none longer than key_bytes_max; an intset holds at most
 * STORE_SET_INTSET_ENTRIES_MAX values; a pack at most STORE_SET_PACK_ENTRIES_MAX members of
 * at most STORE_SET_PACK_MEMBER_BYTES_MAX bytes; a table's entry_bytes is the sum of its
 * entries' usable bytes. Encodings only move up (intset -> pack -> table, or straight to the
 * table), as Redis never converts a set back.
 *
 * Writes validate, then commit. An add first stages its new members: an entry for each
 * distinct member that the set lacks, in a dict of their own (so that a SADD of a million
 * members finds its repeats in O(1) each), which gives the exact count the caps need. Then
 * it takes the memory of the result: a new value built apart for a conversion or a new key
 * (the key object first), or, for a change in place, a check that the one resize it needs
 * will succeed (heap_would_fit); only then does it tell watchers and change the set. Staged
 * entries move into a table as they are (a dict insert never fails); for an intset or a pack
 * they are copied and given back. Removes never fail (intsets and packs shrink in place when
 * the heap cannot move them). No I/O; nothing is allocated but from the store's heap.
 */
#include "store_set.h"

#include <string.h>

#include "intset.h"
#include "number.h"
#include "pack.h"
#include "redis_param.h"
#include "store_internal.h"

#define SET_ENCODING_INTSET STORE_ENCODING_RAW
#define SET_ENCODING_PACK STORE_ENCODING_ROOT
#define SET_ENCODING_TABLE STORE_ENCODING_ROOT2

/* Names "no value yet" where an encoding is expected: the key is being created. */
#define SET_ENCODING_NONE STORE_ENCODING_EMBEDDED

/* The tables' hash seed is the keyspace's, varied, so that a set's members and the key
 * names do not collide in the same pattern. */
#define SET_SEED_TWIST 0x5bd1e9955bd1e995ull

/* SRANDMEMBER with a count: when count * this exceeds the set's size, one walk selecting
 * members costs about as much as the reply itself (Redis's SRANDMEMBER_SUB_STRATEGY_MUL). */
#define SET_SAMPLE_WALK_RATIO 3u

/* Random draws per wanted member before a sample finishes with a walk: with at most a third
 * of the set wanted, each draw is new with probability at least 2/3. */
#define SET_SAMPLE_DRAWS_PER_MEMBER 64u

/* SPOP with a count: when the members that stay times this are at most the count, Redis
 * builds a new set of them (SPOP_MOVE_STRATEGY_MUL), which has a new set's shape. */
#define SET_POP_REBUILD_RATIO 5u

static_assert(STORE_SET_PACK_ENTRIES_MAX <= STORE_SET_INTSET_ENTRIES_MAX,
              "an intset that gains a string converts to a pack or a table, never shrinks");
static_assert(NUMBER_INT64_BYTES - 1u <= STORE_SET_PACK_MEMBER_BYTES_MAX,
              "an intset's members fit a pack");
static_assert(STORE_SET_INTSET_ENTRIES_MAX <= INTSET_COUNT_MAX, "the intset holds them");
static_assert(INTSET_HEADER_BYTES + STORE_SET_INTSET_ENTRIES_MAX * sizeof(int64_t) <=
                  HEAP_SMALL_BYTES_MAX,
              "a set's intset is a small allocation (resize_fits)");
static_assert(PACK_HEADER_BYTES + STORE_SET_PACK_ENTRIES_MAX *
                                      (1u + STORE_SET_PACK_MEMBER_BYTES_MAX) <=
                  HEAP_SMALL_BYTES_MAX,
              "a set's pack is a small allocation (resize_fits)");

/* A table's member: the dict's link, then the member's bytes. */
struct set_entry {
    uint32_t link;   /* the table's chain; first, as the dict requires */
    uint32_t length; /* bytes of the member */
    uint8_t bytes[]; /* the member */
};

static_assert(sizeof(struct set_entry) == 8, "an entry's head is two 32-bit words");

/* A large set's root: the dict of its entries. */
struct set_table {
    struct dict dict;     /* member -> struct set_entry */
    uint64_t entry_bytes; /* usable bytes of every entry (MEMORY USAGE without a walk) */
};

/* ---- Entries and tables ---------------------------------------------------------------- */

static struct slice entry_member(const struct heap *heap, const void *pointer)
{
    (void)heap;
    const struct set_entry *entry = pointer;
    return (struct slice){.bytes = entry->bytes, .length = entry->length};
}

/* A detached entry holding a copy of `member`, or NULL when the heap has no room. */
static struct set_entry *entry_take(struct store *store, struct slice member)
{
    struct set_entry *entry = heap_alloc(store->heap, sizeof(*entry) + member.length);
    if (entry == NULL) {
        return NULL;
    }
    entry->link = HEAP_REF_NONE;
    entry->length = member.length;
    if (member.length > 0) {
        memcpy(entry->bytes, member.bytes, member.length);
    }
    KV_ASSERT(slice_equal(entry_member(store->heap, entry), member));
    return entry;
}

/* dict_clear's release of an entry (context: the heap). */
static void entry_give_back(void *context, uint32_t entry_ref)
{
    struct heap *heap = context;
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    heap_release(heap, heap_pointer(heap, entry_ref));
}

static void table_dict_init(struct store *store, struct dict *dict)
{
    dict_init(dict, store->heap, entry_member, store->seed ^ SET_SEED_TWIST);
    KV_ASSERT(dict_count(dict) == 0);
}

/* An empty table, or NULL when the heap has no room. */
static struct set_table *table_create(struct store *store)
{
    struct set_table *table = heap_alloc(store->heap, sizeof(*table));
    if (table == NULL) {
        return NULL;
    }
    table_dict_init(store, &table->dict);
    table->entry_bytes = 0;
    KV_ASSERT(table->dict.heap == store->heap);
    return table;
}

/* Links a detached entry whose member the table lacks. Never fails. */
static void table_insert(struct set_table *table, uint32_t entry_ref)
{
    struct heap *heap = table->dict.heap;
    uint64_t count = dict_count(&table->dict);
    dict_insert(&table->dict, entry_ref);
    table->entry_bytes += heap_usable_bytes(heap, heap_pointer(heap, entry_ref));
    KV_ASSERT(dict_count(&table->dict) == count + 1);
}

/* dict_clear's move of a staged entry into a table (context: the table). */
static void entry_move(void *context, uint32_t entry_ref)
{
    struct set_table *table = context;
    table_insert(table, entry_ref);
}

static void table_release(struct store *store, struct set_table *table)
{
    KV_ASSERT(table->dict.heap == store->heap);
    dict_clear(&table->dict, entry_give_back, store->heap);
    KV_ASSERT(dict_count(&table->dict) == 0);
    heap_release(store->heap, table);
}

/* ---- Values ---------------------------------------------------------------------------- */

static bool member_integer(struct slice member, int64_t *value)
{
    return intset_member_parse(member.bytes, member.length, value);
}

/* An intset value's decimal text in `digits`. */
static struct slice integer_text(int64_t value, char digits[STORE_SET_DIGITS_BYTES])
{
    uint32_t length = number_format_int64(value, digits);
    KV_ASSERT(length > 0 && length < STORE_SET_DIGITS_BYTES);
    return (struct slice){.bytes = (const uint8_t *)digits, .length = length};
}

static const struct store_key *set_key(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    KV_ASSERT(store_key_encoding(key) != SET_ENCODING_NONE);
    return key;
}

static void *key_value(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_encoding(key) != SET_ENCODING_NONE); /* a set is never embedded */
    return heap_pointer(store->heap, key->value);
}

static uint64_t value_count(uint8_t encoding, const void *value)
{
    if (encoding == SET_ENCODING_INTSET) {
        return intset_count(value);
    }
    if (encoding == SET_ENCODING_PACK) {
        return pack_count(value);
    }
    KV_ASSERT(encoding == SET_ENCODING_TABLE);
    const struct set_table *table = value;
    return dict_count(&table->dict);
}

static bool value_contains(uint8_t encoding, const void *value, struct slice member)
{
    if (encoding == SET_ENCODING_INTSET) {
        int64_t integer = 0;
        return member_integer(member, &integer) && intset_contains(value, integer);
    }
    if (encoding == SET_ENCODING_PACK) {
        return pack_find(value, pack_first(value), member) != PACK_OFFSET_NONE;
    }
    KV_ASSERT(encoding == SET_ENCODING_TABLE);
    const struct set_table *table = value;
    return dict_lookup(&table->dict, member) != HEAP_REF_NONE;
}

static void value_release(struct store *store, uint8_t encoding, void *value)
{
    if (encoding == SET_ENCODING_INTSET) {
        intset_release(store->heap, value);
    } else if (encoding == SET_ENCODING_PACK) {
        pack_release(store->heap, value);
    } else {
        KV_ASSERT(encoding == SET_ENCODING_TABLE);
        table_release(store, value);
    }
}

/* ---- The type's operations ------------------------------------------------------------- */

static void set_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    value_release(store, store_key_encoding(key), key_value(store, key));
}

/* Every member of a pack within the pack's bounds and the cap, and none twice (O(n^2) over
 * at most STORE_SET_PACK_ENTRIES_MAX members). */
static void pack_members_verify(const struct store *store, const struct pack *pack)
{
    KV_ASSERT(!pack_backward(pack));
    KV_ASSERT(pack_count(pack) <= STORE_SET_PACK_ENTRIES_MAX);
    uint32_t offset = pack_first(pack);
    /* Bounded by the count: pack_next ends after the last entry. */
    for (uint32_t index = 0; offset != PACK_OFFSET_NONE; index++) {
        KV_ASSERT(index < pack_count(pack));
        struct slice member = pack_get(pack, offset);
        KV_ASSERT(member.length <= STORE_SET_PACK_MEMBER_BYTES_MAX);
        KV_ASSERT(member.length <= store->limits.key_bytes_max);
        offset = pack_next(pack, offset);
        KV_ASSERT(offset == PACK_OFFSET_NONE ||
                  pack_find(pack, offset, member) == PACK_OFFSET_NONE); /* no repeat */
    }
}

/* Every entry of a table within the cap, their usable bytes summing to entry_bytes. */
static void table_members_verify(const struct store *store, const struct set_table *table)
{
    dict_verify(&table->dict);
    uint64_t bytes = 0;
    struct dict_walk walk;
    dict_walk_start(&table->dict, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the count: a walk meets each entry once. */
    while (dict_walk_next(&table->dict, &walk, &ref)) {
        const struct set_entry *entry = heap_pointer(store->heap, ref);
        KV_ASSERT(entry->length <= store->limits.key_bytes_max);
        uint64_t usable = heap_usable_bytes(store->heap, entry);
        KV_ASSERT(usable >= sizeof(*entry) + entry->length);
        bytes += usable;
    }
    KV_ASSERT(bytes == table->entry_bytes);
}

/* An intset's longest text is at one of its ends: within the cap. */
static void intset_members_verify(const struct store *store, const struct intset *set)
{
    KV_ASSERT(intset_count(set) <= STORE_SET_INTSET_ENTRIES_MAX);
    char digits[STORE_SET_DIGITS_BYTES];
    KV_ASSERT(integer_text(intset_get(set, 0), digits).length <= store->limits.key_bytes_max);
    KV_ASSERT(integer_text(intset_get(set, intset_count(set) - 1), digits).length <=
              store->limits.key_bytes_max);
}

static void set_verify(const struct store *store, const struct store_key *key,
                       struct store_usage *usage)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    uint8_t encoding = store_key_encoding(key);
    const void *value = key_value(store, key);
    uint64_t count = value_count(encoding, value);
    KV_ASSERT(count >= 1);
    KV_ASSERT(count <= store->limits.length_max);
    usage->allocations++;
    if (encoding == SET_ENCODING_INTSET) {
        intset_verify(value, store->heap);
        intset_members_verify(store, value);
    } else if (encoding == SET_ENCODING_PACK) {
        pack_verify(value, store->heap);
        pack_members_verify(store, value);
    } else {
        KV_ASSERT(encoding == SET_ENCODING_TABLE);
        const struct set_table *table = value;
        table_members_verify(store, table);
        usage->allocations += count + dict_allocations(&table->dict);
    }
}

static uint64_t set_length(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    return value_count(store_key_encoding(key), key_value(store, key));
}

static uint64_t set_memory(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    const void *value = key_value(store, key);
    uint64_t bytes = heap_usable_bytes(store->heap, value);
    if (store_key_encoding(key) == SET_ENCODING_TABLE) {
        const struct set_table *table = value;
        bytes += dict_bucket_bytes(&table->dict) + table->entry_bytes;
    }
    return bytes;
}

/* OBJECT ENCODING: what Redis 7.0 would keep (the key's shape bit), whatever kv keeps. */
static const char *set_encoding_name(const struct store *store, const struct store_key *key)
{
    (void)store;
    KV_ASSERT(store_key_type(key) == STORE_TYPE_SET);
    KV_ASSERT(store_key_shape(key) <= STORE_SHAPE_CONVERTED);
    return store_key_shape(key) == STORE_SHAPE_COMPACT ? "intset" : "hashtable";
}

/* ---- Redis's shape ------------------------------------------------------------------------- */

/* set-max-intset-entries in force: parsed when it is set (store_set_configure), not per write;
 * Redis caps it at 2^30 (an intset's own limit). */
#define SET_INTSET_ENTRIES_CAP (1ull << 30)
static uint64_t set_intset_entries_max;
static bool set_configured;

void store_set_configure(void)
{
    int32_t row = redis_param_find("set-max-intset-entries", 22);
    KV_ASSERT(row >= 0);
    const char *text = redis_param_value((uint32_t)row);
    int64_t value = 0;
    bool parsed = number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value);
    KV_ASSERT(parsed && value >= 0); /* CONFIG SET checked it */
    set_intset_entries_max =
        (uint64_t)value < SET_INTSET_ENTRIES_CAP ? (uint64_t)value : SET_INTSET_ENTRIES_CAP;
    set_configured = true;
}

static uint64_t intset_entries_max(void)
{
    if (!set_configured) {
        store_set_configure(); /* the first write after startup (and the config file) */
    }
    return set_intset_entries_max;
}

/* The shape of a set Redis builds afresh (SPOP's rest, the STORE forms' results): an intset
 * holds every member while all are integers and they are few enough. */
static uint8_t shape_fresh(bool all_integer, uint64_t count)
{
    return all_integer && count <= intset_entries_max() ? STORE_SHAPE_COMPACT
                                                        : STORE_SHAPE_CONVERTED;
}

static const struct store_type_ops set_ops = {
    .name = "set",
    .release = set_release,
    .verify = set_verify,
    .length = set_length,
    .memory = set_memory,
    .encoding_name = set_encoding_name,
};

void store_set_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_SET, &set_ops);
    KV_ASSERT(store->types[STORE_TYPE_SET] == &set_ops);
}

/* ---- Reads ------------------------------------------------------------------------------ */

uint64_t store_set_count(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = set_key(store, key_ref);
    uint64_t count = value_count(store_key_encoding(key), key_value(store, key));
    KV_ASSERT(count > 0);
    return count;
}

bool store_set_contains(const struct store *store, uint32_t key_ref, struct slice member)
{
    KV_ASSERT(member.bytes != NULL || member.length == 0);
    const struct store_key *key = set_key(store, key_ref);
    return value_contains(store_key_encoding(key), key_value(store, key), member);
}

uint8_t store_set_encoding(const struct store *store, uint32_t key_ref)
{
    uint8_t encoding = store_key_encoding(set_key(store, key_ref));
    KV_ASSERT(encoding >= SET_ENCODING_INTSET && encoding <= SET_ENCODING_TABLE);
    return encoding;
}

void store_set_cursor_start(const struct store *store, uint32_t key_ref,
                            struct store_set_cursor *cursor)
{
    const struct store_key *key = set_key(store, key_ref);
    *cursor = (struct store_set_cursor){.key_ref = key_ref};
    const void *value = key_value(store, key);
    if (store_key_encoding(key) == SET_ENCODING_PACK) {
        cursor->offset = pack_first(value);
    } else if (store_key_encoding(key) == SET_ENCODING_TABLE) {
        const struct set_table *table = value;
        dict_walk_start(&table->dict, &cursor->walk);
    }
    KV_ASSERT(cursor->index == 0);
}

bool store_set_cursor_next(const struct store *store, struct store_set_cursor *cursor,
                           struct slice *member)
{
    const struct store_key *key = set_key(store, cursor->key_ref);
    uint8_t encoding = store_key_encoding(key);
    const void *value = key_value(store, key);
    if (encoding == SET_ENCODING_INTSET) {
        if (cursor->index == intset_count(value)) {
            return false;
        }
        *member = integer_text(intset_get(value, cursor->index), cursor->digits);
    } else if (encoding == SET_ENCODING_PACK) {
        if (cursor->offset == PACK_OFFSET_NONE) {
            return false;
        }
        *member = pack_get(value, cursor->offset);
        cursor->offset = pack_next(value, cursor->offset);
    } else {
        const struct set_table *table = value;
        uint32_t ref = HEAP_REF_NONE;
        if (!dict_walk_next(&table->dict, &cursor->walk, &ref)) {
            return false;
        }
        *member = entry_member(store->heap, heap_pointer(store->heap, ref));
    }
    cursor->index++;
    KV_ASSERT(cursor->index <= value_count(encoding, value)); /* the set did not change */
    return true;
}

bool store_set_tabled(const struct store *store, uint32_t key_ref)
{
    return store_key_encoding(set_key(store, key_ref)) == SET_ENCODING_TABLE;
}

struct set_scan_visit {
    const struct heap *heap;
    store_set_visit_fn *visit;
    void *context;
};

static void set_scan_entry(void *context, uint32_t entry_ref)
{
    const struct set_scan_visit *scan = context;
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    scan->visit(scan->context, entry_member(scan->heap, heap_pointer(scan->heap, entry_ref)));
}

uint64_t store_set_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                        store_set_visit_fn *visit, void *context)
{
    const struct store_key *key = set_key(store, key_ref);
    KV_ASSERT(store_key_encoding(key) == SET_ENCODING_TABLE);
    const struct set_table *table = key_value(store, key);
    struct set_scan_visit scan = {.heap = store->heap, .visit = visit, .context = context};
    return dict_scan(&table->dict, cursor, set_scan_entry, &scan);
}

/* xorshift64* (as the dict's): a number below `bound`. */
static uint64_t random_below(uint64_t *state, uint64_t bound)
{
    KV_ASSERT(*state != 0);
    KV_ASSERT(bound > 0);
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (x * 0x2545f4914f6cdd1dull) % bound;
}

/* A member chosen at random, uniformly (a table's as uniform as dict_random). */
static struct slice value_random(const struct store *store, uint8_t encoding, const void *value,
                                 uint64_t *state, char digits[STORE_SET_DIGITS_BYTES])
{
    KV_ASSERT(value_count(encoding, value) > 0);
    if (encoding == SET_ENCODING_INTSET) {
        return integer_text(intset_random(value, state), digits);
    }
    if (encoding == SET_ENCODING_PACK) {
        uint32_t index = (uint32_t)random_below(state, pack_count(value));
        return pack_get(value, pack_index(value, index));
    }
    KV_ASSERT(encoding == SET_ENCODING_TABLE);
    const struct set_table *table = value;
    uint32_t ref = dict_random(&table->dict, state);
    return entry_member(store->heap, heap_pointer(store->heap, ref));
}

/* ---- Adding ------------------------------------------------------------------------------ */

/* The new members of an add, before anything changes: an entry for each distinct member the
 * set lacks, in a dict of their own. */
struct set_stage {
    struct dict pending;       /* member -> detached struct set_entry */
    bool all_integer;          /* every staged member is an integer (intset_member_parse) */
    uint32_t member_bytes_max; /* the longest staged member */
    const struct slice *members; /* the command's members, for their order */
    uint32_t member_count;
    uint32_t taken[STORE_SET_PACK_ENTRIES_MAX]; /* entries taken out of pending in the
                                                   command's order (stage_slices) */
    uint32_t taken_count;
};

static void stage_release(struct store *store, struct set_stage *stage)
{
    /* Bounded by the entries taken, at most a pack's count. */
    for (uint32_t index = 0; index < stage->taken_count; index++) {
        entry_give_back(store->heap, stage->taken[index]);
    }
    stage->taken_count = 0;
    dict_clear(&stage->pending, entry_give_back, store->heap);
    KV_ASSERT(dict_count(&stage->pending) == 0);
    KV_ASSERT(dict_allocations(&stage->pending) == 0);
}

/* Stages the members that `value` (NULL: a new key) lacks; false when the heap has no room,
 * with nothing held. Bounded by the members; each lookup O(1) but in a pack (O(128)). */
static bool stage_take(struct store *store, uint8_t encoding, const void *value,
                       const struct slice *members, uint32_t count, struct set_stage *stage)
{
    table_dict_init(store, &stage->pending);
    stage->all_integer = true;
    stage->member_bytes_max = 0;
    stage->members = members;
    stage->member_count = count;
    stage->taken_count = 0;
    /* Bounded by the command's members. */
    for (uint32_t index = 0; index < count; index++) {
        struct slice member = members[index];
        if ((value != NULL && value_contains(encoding, value, member)) ||
            dict_find(&stage->pending, member, NULL) != HEAP_REF_NONE) {
            continue;
        }
        struct set_entry *entry = entry_take(store, member);
        if (entry == NULL) {
            stage_release(store, stage);
            return false;
        }
        dict_insert(&stage->pending, heap_ref(store->heap, entry));
        int64_t integer = 0;
        stage->all_integer = stage->all_integer && member_integer(member, &integer);
        if (member.length > stage->member_bytes_max) {
            stage->member_bytes_max = member.length;
        }
    }
    KV_ASSERT(dict_count(&stage->pending) <= count);
    return true;
}

/* The encoding a set in `from` (SET_ENCODING_NONE: a new key) takes with `total` members
 * once the staged ones join: the smallest that holds them, never a smaller one than now. */
static uint8_t encoding_for(uint8_t from, uint64_t total, bool all_integer,
                            uint32_t member_bytes_max)
{
    KV_ASSERT(total > 0);
    if (from == SET_ENCODING_TABLE) {
        return SET_ENCODING_TABLE;
    }
    if ((from == SET_ENCODING_NONE || from == SET_ENCODING_INTSET) && all_integer &&
        total <= STORE_SET_INTSET_ENTRIES_MAX) {
        return SET_ENCODING_INTSET;
    }
    if (total <= STORE_SET_PACK_ENTRIES_MAX &&
        member_bytes_max <= STORE_SET_PACK_MEMBER_BYTES_MAX) {
        return SET_ENCODING_PACK;
    }
    return SET_ENCODING_TABLE;
}

/* Whether growing an allocation to `bytes` (heap_resize, or pack's grow_to) would succeed
 * now: it already holds them (heap_resize then stays, or shrinks, which never fails), or the
 * heap has room for the allocation it moves to. */
static bool resize_fits(struct heap *heap, const void *pointer, uint64_t bytes)
{
    KV_ASSERT(bytes > 0);
    KV_ASSERT(bytes <= HEAP_SMALL_BYTES_MAX); /* intsets and packs of sets are small */
    return heap_usable_bytes(heap, pointer) >= bytes || heap_would_fit(heap, bytes, 1);
}

/* The staged members as slices into their entries, in the command's order (so that a pack
 * keeps the order members came in): each is taken out of pending, the first time the
 * command names it, and given back with the stage. At most STORE_SET_PACK_ENTRIES_MAX (a
 * pack's). Returns how many. */
static uint32_t stage_slices(const struct store *store, struct set_stage *stage,
                             struct slice *slices, uint32_t slices_max)
{
    uint64_t staged = dict_count(&stage->pending);
    KV_ASSERT(staged <= slices_max && stage->taken_count == 0);
    uint32_t count = 0;
    /* Bounded by the command's members; each staged one is taken once. */
    for (uint32_t index = 0; index < stage->member_count && count < staged; index++) {
        uint32_t ref = dict_remove(&stage->pending, stage->members[index]);
        if (ref != HEAP_REF_NONE) {
            slices[count] = entry_member(store->heap, heap_pointer(store->heap, ref));
            stage->taken[count] = ref;
            count++;
        }
    }
    stage->taken_count = count;
    KV_ASSERT(count == staged && dict_count(&stage->pending) == 0);
    return count;
}

/* Puts a value built apart in place: a new key's object (taken first) gets it, or the set
 * found gives up its old value for it. Never fails. */
static void value_commit(struct store *store, struct store_found *found,
                         struct store_key *object, uint8_t encoding, void *value)
{
    uint32_t ref = heap_ref(store->heap, value);
    if (object != NULL) {
        KV_ASSERT(!found->exists);
        store_object_set_root(object, encoding, ref);
        store_key_insert(store, found, object, NULL);
        return;
    }
    KV_ASSERT(found->exists && found->type == STORE_TYPE_SET);
    struct store_key *key = store_key(store, found->key_ref);
    store_modified(store, key);
    value_release(store, store_key_encoding(key), key_value(store, key));
    store_key_set_root(store, found, encoding, ref);
    KV_ASSERT(store_key_encoding(store_key(store, found->key_ref)) == encoding);
}

/* A new intset holding the old one's values (if any) and the staged ones, or NULL. Adding
 * the old values in ascending order appends each. Bounded by the members. */
static struct intset *intset_build(struct store *store, const struct intset *old,
                                   const struct set_stage *stage)
{
    struct intset *set = intset_create(store->heap);
    bool added = false;
    bool ok = set != NULL;
    /* Bounded by the old intset's count. */
    for (uint32_t index = 0; ok && old != NULL && index < intset_count(old); index++) {
        ok = intset_add(&set, store->heap, intset_get(old, index), &added);
    }
    struct dict_walk walk;
    dict_walk_start(&stage->pending, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the staged count. */
    while (ok && dict_walk_next(&stage->pending, &walk, &ref)) {
        int64_t integer = 0;
        bool integral = member_integer(entry_member(store->heap, heap_pointer(store->heap, ref)),
                                       &integer);
        KV_ASSERT(integral); /* stage->all_integer */
        ok = intset_add(&set, store->heap, integer, &added);
    }
    if (!ok && set != NULL) {
        intset_release(store->heap, set);
    }
    return ok ? set : NULL;
}

/* Adds one staged integer to the intset found, in place: checks the resize first. */
static enum store_status intset_grow(struct store *store, struct store_found *found,
                                     struct set_stage *stage)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct intset *set = key_value(store, key);
    struct slice member;
    uint32_t staged = stage_slices(store, stage, &member, 1);
    int64_t integer = 0;
    bool integral = member_integer(member, &integer);
    KV_ASSERT(staged == 1 && integral);
    uint32_t width = intset_width_for(integer) > intset_width(set) ? intset_width_for(integer)
                                                                   : intset_width(set);
    if (!resize_fits(store->heap, set,
                     INTSET_HEADER_BYTES + ((uint64_t)intset_count(set) + 1) * width)) {
        return STORE_OOM;
    }
    store_modified(store, key);
    bool added = false;
    bool grown = intset_add(&set, store->heap, integer, &added);
    KV_ASSERT(grown && added); /* the resize was checked; the member was staged as new */
    store_key_set_root(store, found, SET_ENCODING_INTSET, heap_ref(store->heap, set));
    return STORE_OK;
}

/* The staged members join as an intset: in place for one, else a new intset. */
static enum store_status intset_change(struct store *store, struct store_found *found,
                                       struct store_key *object, struct set_stage *stage)
{
    KV_ASSERT(stage->all_integer);
    const struct intset *old = NULL;
    if (found->exists) {
        old = key_value(store, store_key(store, found->key_ref));
        if (dict_count(&stage->pending) == 1) {
            return intset_grow(store, found, stage);
        }
    }
    struct intset *set = intset_build(store, old, stage);
    if (set == NULL) {
        return STORE_OOM;
    }
    value_commit(store, found, object, SET_ENCODING_INTSET, set);
    return STORE_OK;
}

/* The staged members join as a pack: appended in place (the resize checked first), or in a
 * new pack holding an intset's values (as text) or a new key's members. */
static enum store_status pack_change(struct store *store, struct store_found *found,
                                     struct store_key *object, struct set_stage *stage)
{
    struct slice slices[STORE_SET_PACK_ENTRIES_MAX];
    char digits[STORE_SET_PACK_ENTRIES_MAX][STORE_SET_DIGITS_BYTES];
    struct store_key *key = found->exists ? store_key(store, found->key_ref) : NULL;
    uint32_t old_count = 0;
    if (key != NULL && store_key_encoding(key) == SET_ENCODING_PACK) {
        struct pack *pack = key_value(store, key);
        uint32_t count = stage_slices(store, stage, slices, STORE_SET_PACK_ENTRIES_MAX);
        uint64_t bytes = pack_bytes(pack);
        for (uint32_t index = 0; index < count; index++) { /* bounded by the staged count */
            bytes += pack_entry_bytes(slices[index].length, false);
        }
        if (!resize_fits(store->heap, pack, bytes)) {
            return STORE_OOM;
        }
        store_modified(store, key);
        bool grown = pack_insert(&pack, store->heap, pack_end(pack), slices, count);
        KV_ASSERT(grown); /* the resize was checked */
        store_key_set_root(store, found, SET_ENCODING_PACK, heap_ref(store->heap, pack));
        return STORE_OK;
    }
    if (key != NULL) {
        const struct intset *set = key_value(store, key);
        KV_ASSERT(store_key_encoding(key) == SET_ENCODING_INTSET);
        old_count = intset_count(set);
        KV_ASSERT(old_count < STORE_SET_PACK_ENTRIES_MAX);
        for (uint32_t index = 0; index < old_count; index++) { /* bounded by old_count */
            slices[index] = integer_text(intset_get(set, index), digits[index]);
        }
    }
    uint32_t count = old_count + stage_slices(store, stage, slices + old_count,
                                              STORE_SET_PACK_ENTRIES_MAX - old_count);
    struct pack *pack = pack_create(store->heap, false, slices, count);
    if (pack == NULL) {
        return STORE_OOM;
    }
    value_commit(store, found, object, SET_ENCODING_PACK, pack);
    return STORE_OK;
}

/* Copies the members of an intset or a pack into a new table's entries; false when the heap
 * has no room (the caller releases the table). Bounded by the value's count. */
static bool table_fill(struct store *store, struct set_table *table, uint8_t encoding,
                       const void *value)
{
    char digits[STORE_SET_DIGITS_BYTES];
    uint32_t count = (uint32_t)value_count(encoding, value);
    uint32_t offset = encoding == SET_ENCODING_PACK ? pack_first(value) : PACK_OFFSET_NONE;
    /* Bounded by the value's count. */
    for (uint32_t index = 0; index < count; index++) {
        struct slice member;
        if (encoding == SET_ENCODING_INTSET) {
            member = integer_text(intset_get(value, index), digits);
        } else {
            member = pack_get(value, offset);
            offset = pack_next(value, offset);
        }
        struct set_entry *entry = entry_take(store, member);
        if (entry == NULL) {
            return false;
        }
        table_insert(table, heap_ref(store->heap, entry));
    }
    KV_ASSERT(dict_count(&table->dict) == count);
    return true;
}

/* The staged members join as a table: moved into the set's table, or into a new one that
 * first copies an intset's or a pack's members. */
static enum store_status table_change(struct store *store, struct store_found *found,
                                      struct store_key *object, struct set_stage *stage)
{
    struct store_key *key = found->exists ? store_key(store, found->key_ref) : NULL;
    if (key != NULL && store_key_encoding(key) == SET_ENCODING_TABLE) {
        store_modified(store, key);
        dict_clear(&stage->pending, entry_move, key_value(store, key));
        return STORE_OK;
    }
    struct set_table *table = table_create(store);
    if (table == NULL) {
        return STORE_OOM;
    }
    if (key != NULL && !table_fill(store, table, store_key_encoding(key), key_value(store, key))) {
        table_release(store, table);
        return STORE_OOM;
    }
    dict_clear(&stage->pending, entry_move, table);
    KV_ASSERT(dict_count(&table->dict) > 0);
    value_commit(store, found, object, SET_ENCODING_TABLE, table);
    return STORE_OK;
}

/* The staged members join the set found (or a new key named `key`, its object taken first),
 * in the encoding they call for. STORE_OOM changes nothing. */
static enum store_status stage_commit(struct store *store, struct store_found *found,
                                      struct slice key, struct set_stage *stage)
{
    const struct store_key *held = found->exists ? store_key(store, found->key_ref) : NULL;
    uint8_t from = held != NULL ? store_key_encoding(held) : SET_ENCODING_NONE;
    uint64_t total = dict_count(&stage->pending) +
                     (held != NULL ? value_count(from, key_value(store, held)) : 0);
    uint8_t to = encoding_for(from, total, stage->all_integer, stage->member_bytes_max);
    struct store_key *object = NULL;
    if (held == NULL) {
        object = store_key_build(store, key, STORE_TYPE_SET, 0, 0);
        if (object == NULL) {
            return STORE_OOM;
        }
    }
    enum store_status status = STORE_OK;
    if (to == SET_ENCODING_INTSET) {
        status = intset_change(store, found, object, stage);
    } else if (to == SET_ENCODING_PACK) {
        status = pack_change(store, found, object, stage);
    } else {
        status = table_change(store, found, object, stage);
    }
    if (status != STORE_OK && object != NULL) {
        heap_release(store->heap, object);
    }
    KV_ASSERT(status == STORE_OK || status == STORE_OOM);
    return status;
}

/* The add after its argument checks: stages, checks the set's size cap (and, with
 * check_key_count, the key count for a new key), then commits. */
static enum store_status add_staged(struct store *store, struct store_found *found,
                                    struct slice key, const struct slice *members,
                                    uint32_t count, bool check_key_count, uint32_t *added)
{
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_SET);
    const struct store_key *held = found->exists ? store_key(store, found->key_ref) : NULL;
    uint8_t from = held != NULL ? store_key_encoding(held) : SET_ENCODING_NONE;
    const void *value = held != NULL ? key_value(store, held) : NULL;
    uint64_t size = held != NULL ? value_count(from, value) : 0;
    struct set_stage stage;
    *added = 0;
    if (!stage_take(store, from, value, members, count, &stage)) {
        return STORE_OOM;
    }
    uint64_t staged = dict_count(&stage.pending);
    /* Redis's intset turns into a hashtable, for good, when a member is not an integer or
     * an add passes set-max-intset-entries (a new key starts as an intset for an integer). */
    uint8_t shape = held != NULL ? store_key_shape(held) : STORE_SHAPE_COMPACT;
    if (staged > 0 && (!stage.all_integer || size + staged > intset_entries_max())) {
        shape = STORE_SHAPE_CONVERTED;
    }
    enum store_status status = STORE_OK;
    if (size + staged > store->limits.length_max) {
        status = STORE_SET_FULL;
    } else if (staged > 0 && held == NULL && check_key_count) {
        status = store_key_check(store, key);
    }
    if (status == STORE_OK && staged > 0) {
        status = stage_commit(store, found, key, &stage);
    }
    if (status == STORE_OK && staged > 0) {
        store_key_shape_set(store_key(store, found->key_ref), shape);
    }
    stage_release(store, &stage);
    *added = status == STORE_OK ? (uint32_t)staged : 0;
    KV_ASSERT(*added <= count);
    return status;
}

enum store_status store_set_add(struct store *store, struct store_found *found,
                                struct slice key, const struct slice *members, uint32_t count,
                                uint32_t *added)
{
    KV_ASSERT(count > 0);
    *added = 0;
    if (!found->exists && key.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (found->exists && found->type != STORE_TYPE_SET) {
        return STORE_WRONGTYPE;
    }
    /* Bounded by the members. */
    for (uint32_t index = 0; index < count; index++) {
        if (members[index].length > store->limits.key_bytes_max) {
            return STORE_MEMBER_TOO_LONG;
        }
    }
    enum store_status status = add_staged(store, found, key, members, count, true, added);
    KV_ASSERT(status != STORE_OK || !found->exists || found->type == STORE_TYPE_SET);
    return status;
}

/* ---- Removing ---------------------------------------------------------------------------- */

/* Tells watchers once, before a command's first change of the set. */
static void touch_once(struct store *store, const struct store_key *key, bool *touched)
{
    if (!*touched) {
        store_modified(store, key);
        *touched = true;
    }
    KV_ASSERT(*touched);
}

static bool table_remove(struct store *store, const struct store_key *key,
                         struct set_table *table, struct slice member, bool *touched)
{
    struct dict_position position = {NULL, 0};
    uint32_t ref = dict_find(&table->dict, member, &position);
    if (ref == HEAP_REF_NONE) {
        return false;
    }
    touch_once(store, key, touched);
    uint64_t count = dict_count(&table->dict);
    dict_remove_at(&table->dict, position);
    struct set_entry *entry = heap_pointer(store->heap, ref);
    uint64_t usable = heap_usable_bytes(store->heap, entry);
    KV_ASSERT(table->entry_bytes >= usable);
    table->entry_bytes -= usable;
    heap_release(store->heap, entry);
    KV_ASSERT(dict_count(&table->dict) == count - 1);
    return true;
}

/* Removes `member` from the set found when it holds it (watchers told first, once per
 * command). The set may be left empty: the caller then removes the key. Never fails. */
static bool member_remove(struct store *store, struct store_found *found, struct slice member,
                          bool *touched)
{
    struct store_key *key = store_key(store, found->key_ref);
    uint8_t encoding = store_key_encoding(key);
    void *value = key_value(store, key);
    if (encoding == SET_ENCODING_TABLE) {
        return table_remove(store, key, value, member, touched);
    }
    int64_t integer = 0;
    uint32_t offset = PACK_OFFSET_NONE;
    if (encoding == SET_ENCODING_INTSET) {
        if (!member_integer(member, &integer) || !intset_contains(value, integer)) {
            return false;
        }
    } else {
        offset = pack_find(value, pack_first(value), member);
        if (offset == PACK_OFFSET_NONE) {
            return false;
        }
    }
    touch_once(store, key, touched);
    if (encoding == SET_ENCODING_INTSET) {
        struct intset *set = value;
        bool removed = intset_remove(&set, store->heap, integer);
        KV_ASSERT(removed);
        value = set;
    } else {
        struct pack *pack = value;
        pack_delete(&pack, store->heap, offset, 1);
        value = pack;
    }
    store_key_set_root(store, found, encoding, heap_ref(store->heap, value));
    return true;
}

/* Whether the set found has no member left (a remove emptied it). */
static bool set_empty(const struct store *store, const struct store_found *found)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_SET);
    const struct store_key *key = store_key(store, found->key_ref);
    return value_count(store_key_encoding(key), key_value(store, key)) == 0;
}

uint32_t store_set_remove(struct store *store, struct store_found *found,
                          const struct slice *members, uint32_t count)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_SET);
    bool touched = false;
    uint32_t removed = 0;
    /* Bounded by the members; an emptied set holds none of the rest. */
    for (uint32_t index = 0; index < count; index++) {
        removed += member_remove(store, found, members[index], &touched) ? 1u : 0u;
    }
    if (set_empty(store, found)) {
        store_remove(store, found); /* a set goes with its last member */
    }
    KV_ASSERT(removed <= count);
    return removed;
}

/* ---- SPOP, SRANDMEMBER ------------------------------------------------------------------ */

/* Every member to `visit`, in the set's order. */
static void visit_all(const struct store *store, uint32_t key_ref, store_set_visit_fn *visit,
                      void *context)
{
    struct store_set_cursor cursor;
    store_set_cursor_start(store, key_ref, &cursor);
    struct slice member;
    /* Bounded by the set's count: the cursor meets each member once. */
    while (store_set_cursor_next(store, &cursor, &member)) {
        visit(context, member);
    }
    KV_ASSERT(cursor.index == store_set_count(store, key_ref));
}

void store_set_pop(struct store *store, struct store_found *found, uint64_t count,
                   store_set_visit_fn *visit, void *context)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_SET);
    uint64_t size = store_set_count(store, found->key_ref);
    if (count >= size) {
        visit_all(store, found->key_ref, visit, context);
        store_remove(store, found); /* the whole set, as Redis pops it */
        return;
    }
    bool touched = false;
    /* Bounded by count, below the size: the set never empties here. */
    for (uint64_t index = 0; index < count; index++) {
        const struct store_key *key = store_key(store, found->key_ref);
        char digits[STORE_SET_DIGITS_BYTES];
        struct slice member = value_random(store, store_key_encoding(key), key_value(store, key),
                                           &store->random_state, digits);
        visit(context, member);
        bool removed = member_remove(store, found, member, &touched);
        KV_ASSERT(removed);
    }
    KV_ASSERT(store_set_count(store, found->key_ref) == size - count);
    uint64_t rest = size - count;
    if (rest * SET_POP_REBUILD_RATIO <= count) {
        /* Redis pops most of a set by building a new one of the members that stay: its
         * shape is a new set's. Bounded by the rest, a fifth of the count popped. */
        bool all_integer = true;
        struct store_set_cursor cursor;
        store_set_cursor_start(store, found->key_ref, &cursor);
        struct slice member;
        int64_t integer = 0;
        /* Bounded by the rest: the cursor meets each member once. */
        while (all_integer && store_set_cursor_next(store, &cursor, &member)) {
            all_integer = member_integer(member, &integer);
        }
        store_key_shape_set(store_key(store, found->key_ref), shape_fresh(all_integer, rest));
    }
}

/* Selection sampling (Knuth's algorithm S) over one walk: each member is taken with
 * probability wanted-still / members-left, which takes exactly `wanted` of them, distinct and
 * uniformly. Bounded by the set's count. */
static void sample_walk(struct store *store, uint32_t key_ref, uint64_t wanted,
                        store_set_visit_fn *visit, void *context)
{
    uint64_t size = store_set_count(store, key_ref);
    KV_ASSERT(wanted <= size);
    struct store_set_cursor cursor;
    store_set_cursor_start(store, key_ref, &cursor);
    uint64_t chosen = 0;
    struct slice member;
    /* Bounded by the set's count: the cursor meets each member once. */
    for (uint64_t index = 0; chosen < wanted && store_set_cursor_next(store, &cursor, &member);
         index++) {
        uint64_t needed = wanted - chosen;
        uint64_t left = size - index;
        if (needed >= left || random_below(&store->random_state, left) < needed) {
            visit(context, member);
            chosen++;
        }
    }
    KV_ASSERT(chosen == wanted);
}

/* Adds a reference to the open-addressing scratch set `seen` (mask + 1 slots, a power of two
 * at least twice the references it will hold); false when it was there. */
static bool seen_insert(uint32_t *seen, uint32_t mask, uint32_t ref)
{
    KV_ASSERT(ref != HEAP_REF_NONE);
    uint32_t slot = (uint32_t)((ref * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    /* Bounded by the slots: at most half of them are taken. */
    for (uint32_t probe = 0; probe <= mask; probe++) {
        if (seen[slot] == ref) {
            return false;
        }
        if (seen[slot] == HEAP_REF_NONE) {
            seen[slot] = ref;
            return true;
        }
        slot = (slot + 1u) & mask;
    }
    KV_ASSERT(false); /* never full */
    return false;
}

/* Distinct random members of a table, at most a third of it: random draws, repeats told
 * apart by a scratch set of entry references from the heap; a walk takes any still missing
 * after the bounded draws. False (nothing visited) when the heap has no scratch room. */
static bool sample_draw(struct store *store, const struct set_table *table, uint64_t wanted,
                        store_set_visit_fn *visit, void *context)
{
    KV_ASSERT(wanted * SET_SAMPLE_WALK_RATIO <= dict_count(&table->dict));
    uint64_t slots = 4;
    while (slots < 2 * wanted) { /* bounded: wanted is below 2^32 */
        slots *= 2;
    }
    uint32_t *seen = heap_alloc(store->heap, slots * sizeof(uint32_t));
    if (seen == NULL) {
        return false;
    }
    memset(seen, 0, slots * sizeof(uint32_t));
    uint64_t chosen = 0;
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by SET_SAMPLE_DRAWS_PER_MEMBER draws per member wanted. */
    for (uint64_t draw = 0; chosen < wanted && draw < wanted * SET_SAMPLE_DRAWS_PER_MEMBER;
         draw++) {
        ref = dict_random(&table->dict, &store->random_state);
        if (seen_insert(seen, (uint32_t)(slots - 1), ref)) {
            visit(context, entry_member(store->heap, heap_pointer(store->heap, ref)));
            chosen++;
        }
    }
    struct dict_walk walk;
    dict_walk_start(&table->dict, &walk);
    /* Bounded by the table's count (almost never entered). */
    while (chosen < wanted && dict_walk_next(&table->dict, &walk, &ref)) {
        if (seen_insert(seen, (uint32_t)(slots - 1), ref)) {
            visit(context, entry_member(store->heap, heap_pointer(store->heap, ref)));
            chosen++;
        }
    }
    heap_release(store->heap, seen);
    KV_ASSERT(chosen == wanted);
    return true;
}

void store_set_sample(struct store *store, uint32_t key_ref, uint64_t count, bool repeat,
                      store_set_visit_fn *visit, void *context)
{
    const struct store_key *key = set_key(store, key_ref);
    uint8_t encoding = store_key_encoding(key);
    const void *value = key_value(store, key);
    uint64_t size = value_count(encoding, value);
    KV_ASSERT(size > 0);
    if (repeat) {
        /* Bounded by count (the caller bounded it by the reply's room). */
        for (uint64_t index = 0; index < count; index++) {
            char digits[STORE_SET_DIGITS_BYTES];
            visit(context, value_random(store, encoding, value, &store->random_state, digits));
        }
        return;
    }
    uint64_t wanted = count < size ? count : size;
    if (encoding != SET_ENCODING_TABLE || wanted * SET_SAMPLE_WALK_RATIO > size ||
        !sample_draw(store, value, wanted, visit, context)) {
        sample_walk(store, key_ref, wanted, visit, context);
    }
}

/* ---- SMOVE -------------------------------------------------------------------------------- */

enum store_status store_set_move(struct store *store, struct store_found *source,
                                 struct store_found *target, struct slice destination,
                                 struct slice member)
{
    KV_ASSERT(source->exists && source->type == STORE_TYPE_SET);
    KV_ASSERT(!target->exists || target->type == STORE_TYPE_SET);
    KV_ASSERT(!target->exists || target->key_ref != source->key_ref);
    KV_ASSERT(store_set_contains(store, source->key_ref, member));
    bool source_goes = store_set_count(store, source->key_ref) == 1;
    if (!target->exists && destination.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    /* A new destination may take the key the source gives up with its last member. */
    if (!target->exists && !source_goes &&
        store_key_count_all(store) >= store->limits.key_count_max) {
        return STORE_FULL;
    }
    uint32_t added = 0;
    enum store_status status = add_staged(store, target, destination, &member, 1, false, &added);
    if (status != STORE_OK) {
        return status;
    }
    uint32_t removed = store_set_remove(store, source, &member, 1);
    KV_ASSERT(removed == 1);
    return STORE_OK;
}

/* ---- Results of the STORE forms ---------------------------------------------------------- */

enum store_status store_set_result_check(const struct store *store,
                                         const struct store_found *target,
                                         struct slice destination, uint64_t count)
{
    KV_ASSERT(!target->exists || slice_equal(store_key_name(store_key(store, target->key_ref)),
                                             destination));
    if (count == 0) {
        return STORE_OK;
    }
    if (count > store->limits.length_max) {
        return STORE_SET_FULL;
    }
    if (destination.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    if (!target->exists && store_key_count_all(store) >= store->limits.key_count_max) {
        return STORE_FULL;
    }
    return STORE_OK;
}

enum store_status store_set_result_start(struct store *store, struct store_set_result *result,
                                         uint64_t count, bool all_integer,
                                         uint32_t member_bytes_max)
{
    *result = (struct store_set_result){.count_max = count, .encoding = SET_ENCODING_NONE,
                                        .all_integer = all_integer};
    if (count == 0) {
        return STORE_OK;
    }
    result->encoding = encoding_for(SET_ENCODING_NONE, count, all_integer, member_bytes_max);
    if (result->encoding == SET_ENCODING_INTSET) {
        result->value = intset_create(store->heap);
    } else if (result->encoding == SET_ENCODING_PACK) {
        result->value = pack_create(store->heap, false, NULL, 0);
    } else {
        result->value = table_create(store);
    }
    KV_ASSERT(result->count == 0);
    return result->value != NULL ? STORE_OK : STORE_OOM;
}

enum store_status store_set_result_add(struct store *store, struct store_set_result *result,
                                       struct slice member)
{
    KV_ASSERT(result->value != NULL);
    KV_ASSERT(result->count < result->count_max);
    bool ok = true;
    if (result->encoding == SET_ENCODING_INTSET) {
        int64_t integer = 0;
        bool integral = member_integer(member, &integer);
        KV_ASSERT(integral); /* the shape declared at start */
        struct intset *set = result->value;
        bool added = false;
        ok = intset_add(&set, store->heap, integer, &added);
        KV_ASSERT(!ok || added); /* the caller adds each member once */
        result->value = set;
    } else if (result->encoding == SET_ENCODING_PACK) {
        KV_ASSERT(member.length <= STORE_SET_PACK_MEMBER_BYTES_MAX);
        struct pack *pack = result->value;
        ok = pack_append(&pack, store->heap, member);
        result->value = pack;
    } else {
        struct set_entry *entry = entry_take(store, member);
        ok = entry != NULL;
        if (ok) {
            table_insert(result->value, heap_ref(store->heap, entry));
        }
    }
    result->count += ok ? 1u : 0u;
    return ok ? STORE_OK : STORE_OOM;
}

void store_set_result_abandon(struct store *store, struct store_set_result *result)
{
    if (result->value != NULL) {
        value_release(store, result->encoding, result->value);
    }
    *result = (struct store_set_result){0};
    KV_ASSERT(result->value == NULL);
}

enum store_status store_set_result_store(struct store *store, struct store_found *target,
                                         struct slice destination,
                                         struct store_set_result *result)
{
    KV_ASSERT(result->count == result->count_max);
    if (result->count == 0) {
        if (target->exists) {
            store_remove(store, target); /* an empty result deletes the destination */
        }
        return STORE_OK;
    }
    KV_ASSERT(value_count(result->encoding, result->value) == result->count);
    struct store_key *object = store_key_build(store, destination, STORE_TYPE_SET, 0, 0);
    if (object == NULL) {
        store_set_result_abandon(store, result);
        return STORE_OOM;
    }
    store_object_set_root(object, result->encoding, heap_ref(store->heap, result->value));
    /* Redis adds the result's members to a new intset, which converts as they come. */
    store_key_shape_set(object, shape_fresh(result->all_integer, result->count));
    if (target->exists) {
        store_key_swap(store, target, object, NULL);
    } else {
        store_key_insert(store, target, object, NULL);
    }
    *result = (struct store_set_result){0};
    KV_ASSERT(target->exists && target->type == STORE_TYPE_SET);
    return STORE_OK;
}

uint64_t store_set_bound_bytes(uint64_t count, uint64_t member_bytes)
{
    /* The table: an entry per member and at most 16 bytes of buckets per entry (as a hash's);
     * an intset or a pack is below that. */
    uint64_t each = heap_rounded_bytes(sizeof(struct set_entry) + member_bytes) + 16u;
    uint64_t bytes = heap_rounded_bytes(sizeof(struct set_table)) + count * each;
    KV_ASSERT(bytes >= count * member_bytes);
    return bytes;
}
