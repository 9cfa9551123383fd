/*
 * Hashes (store_hash.h): a small hash is a forward pack of field, value pairs in insertion
 * order; a large one is a table, a root allocation holding a dict whose entries are one heap
 * allocation per field: {link, varint field length, varint value length, field, value}.
 *
 * Invariants (hash_verify checks each): a hash holds at least one field and its fields are
 * distinct. A pack holds 1 .. STORE_HASH_PACK_FIELDS_MAX pairs, none of whose fields or
 * values is longer than STORE_HASH_PACK_BYTES_MAX. A table's entry_bytes is the sum of its
 * entries' usable bytes, and every entry's allocation holds its bytes. A set cap bounds every
 * field, value and field count.
 *
 * Writes take all their memory first. A pack write builds the pack the hash will be (one
 * heap_resize for a single pair, pack_pairs_set, which leaves the pack as it was when it
 * fails); a table write takes an entry for each pair that needs one (a new field, a value
 * whose entry changes size class, a field the command may name twice) and only then links
 * them, rewriting the others in place; a conversion builds the whole table, its entries and
 * the new pairs' entries before the pack goes. Nothing stored points outside the heap but a
 * table's dict (the heap and the key function, fixed for the process). No I/O.
 */
#include "store_hash.h"

#include "hashfn.h"
#include "number.h"
#include "pack.h"
#include "redis_param.h"
#include "shape.h"
#include "store_internal.h"

/* A table's entry: one heap allocation per field. */
struct hash_entry {
    uint32_t link;   /* the table's chain: first, as dict.h requires */
    uint8_t data[];  /* varint(field length), varint(value length), field bytes, value bytes */
};

static_assert(sizeof(struct hash_entry) == sizeof(uint32_t), "an entry's head is its link");

/* A table's root allocation. */
struct hash_table {
    struct dict dict;      /* field -> struct hash_entry */
    uint64_t entry_bytes;  /* usable bytes of every entry: MEMORY USAGE without a walk */
};

/* Mixed into the store's seed for tables' dicts and the repeated-field filter, so that their
 * bucket orders owe nothing to the keyspace's. */
#define HASH_TABLE_SEED_MIX 0x6a09e667f3bcc909ull
#define HASH_FILTER_SEED_MIX 0xbb67ae8584caa73bull
#define HASH_SHAPE_SEED_MIX 0xa54ff53a5f1d36f1ull

/* The repeated-field filter of a multi-pair table write: a bit per hash class. A field that
 * shares its class with another pair is treated as repeated (it gets an entry of its own,
 * given back if unused), so false positives cost memory for the command only. */
#define HASH_FILTER_BITS 4096u
#define HASH_FILTER_WORDS (HASH_FILTER_BITS / 64u)

static_assert(STORE_HASH_PACK_FIELDS_MAX * 2u < PACK_COUNT_MAX, "a small hash fits a pack");
static_assert(STORE_HASH_PACK_BYTES_MAX < 128u, "a small hash's lengths take one varint byte");

/* ---- Entries -------------------------------------------------------------------------- */

struct entry_view {
    struct slice field;
    struct slice value;
};

static struct entry_view entry_view(const struct hash_entry *entry)
{
    uint32_t field_length = 0;
    uint32_t value_length = 0;
    uint32_t at = pack_varint_read(entry->data, &field_length);
    at += pack_varint_read(entry->data + at, &value_length);
    KV_ASSERT(at <= 2u * PACK_VARINT_BYTES_MAX);
    KV_ASSERT((uint64_t)field_length + value_length <= UINT32_MAX);
    struct entry_view view = {
        .field = {.bytes = entry->data + at, .length = field_length},
        .value = {.bytes = entry->data + at + field_length, .length = value_length},
    };
    return view;
}

/* Bytes of an entry holding a field and a value of these lengths. */
static uint64_t entry_size(uint32_t field_length, uint32_t value_length)
{
    uint64_t bytes = sizeof(struct hash_entry) + pack_varint_bytes(field_length) +
                     pack_varint_bytes(value_length) + (uint64_t)field_length + value_length;
    KV_ASSERT(bytes > sizeof(struct hash_entry));
    return bytes;
}

/* The field as the table's dict reads it. */
static struct slice entry_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return entry_view(entry).field;
}

/* A new entry, not linked; NULL when the heap has no room. */
static struct hash_entry *entry_build(struct heap *heap, struct slice field, struct slice value)
{
    struct hash_entry *entry = heap_alloc(heap, entry_size(field.length, value.length));
    if (entry == NULL) {
        return NULL;
    }
    entry->link = HEAP_REF_NONE;
    uint32_t at = pack_varint_write(entry->data, field.length);
    at += pack_varint_write(entry->data + at, value.length);
    if (field.length > 0) {
        memcpy(entry->data + at, field.bytes, field.length);
    }
    if (value.length > 0) {
        memcpy(entry->data + at + field.length, value.bytes, value.length);
    }
    KV_ASSERT(slice_equal(entry_view(entry).field, field));
    return entry;
}

/* Whether the entry can take `value` where it is: the new size keeps its size class. */
static bool entry_fits(const struct heap *heap, const struct hash_entry *entry,
                       struct slice field, struct slice value)
{
    struct entry_view view = entry_view(entry);
    KV_ASSERT(slice_equal(view.field, field));
    KV_ASSERT(heap_usable_bytes(heap, entry) >= entry_size(view.field.length, view.value.length));
    uint64_t bytes = entry_size(field.length, value.length);
    return heap_rounded_bytes(bytes) == heap_usable_bytes(heap, entry);
}

/* Rewrites the value of an entry that fits it (entry_fits): the field moves when the value's
 * varint changes size. `value` never points into the entry (it is an argument or a number
 * formatted on the stack). */
static void entry_rewrite(struct hash_entry *entry, struct slice value)
{
    struct entry_view view = entry_view(entry);
    uint32_t varint_at = pack_varint_bytes(view.field.length);
    uint32_t field_at = (uint32_t)(view.field.bytes - entry->data);
    uint32_t new_field_at = varint_at + pack_varint_bytes(value.length);
    if (view.field.length > 0 && new_field_at != field_at) {
        memmove(entry->data + new_field_at, entry->data + field_at, view.field.length);
    }
    (void)pack_varint_write(entry->data + varint_at, value.length);
    if (value.length > 0) {
        memcpy(entry->data + new_field_at + view.field.length, value.bytes, value.length);
    }
    KV_ASSERT(entry_view(entry).value.length == value.length);
}

static void entry_release(void *context, uint32_t entry_ref)
{
    struct heap *heap = context;
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    heap_release(heap, heap_pointer(heap, entry_ref));
}

/* ---- Tables --------------------------------------------------------------------------- */

static struct hash_table *table_of(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    KV_ASSERT(store_key_encoding(key) == STORE_HASH_TABLE);
    return heap_pointer(store->heap, key->value);
}

static struct pack *pack_of(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    KV_ASSERT(store_key_encoding(key) == STORE_HASH_PACK);
    return heap_pointer(store->heap, key->value);
}

/* ---- Shaped hashes ---------------------------------------------------------------------- */

/* A shaped hash's record is a forward pack: first its shape's heap reference (4 bytes, host
 * order), then the values in the shape's field order. */
#define RECORD_HEAD_ENTRIES 1u

static struct shape_registry *shapes_of(const struct store *store)
{
    struct shape_registry *registry = store->type_state[STORE_TYPE_HASH];
    KV_ASSERT(registry != NULL); /* store_hash_init made it */
    return registry;
}

static struct pack *record_of(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    KV_ASSERT(store_key_encoding(key) == STORE_HASH_SHAPED);
    return heap_pointer(store->heap, key->value);
}

static struct shape *record_shape(const struct store *store, const struct pack *record)
{
    struct slice head = pack_get(record, pack_first(record));
    KV_ASSERT(head.length == sizeof(uint32_t));
    uint32_t ref = HEAP_REF_NONE;
    memcpy(&ref, head.bytes, sizeof(ref));
    struct shape *shape = heap_pointer(store->heap, ref);
    KV_ASSERT(shape->field_count + RECORD_HEAD_ENTRIES == pack_count(record));
    return shape;
}

/* Whether a hash is one allocation walked in order (a pack or a record), not a table. */
static bool compact(const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    return store_key_encoding(key) != STORE_HASH_TABLE;
}

/* A walk over a compact hash's pairs in order. */
struct pairs_walk {
    const struct pack *pack;   /* the pack, or the record */
    const struct shape *shape; /* a record's shape; NULL for a pack */
    uint32_t offset;           /* the next pair's field entry (pack) or value entry (record) */
    uint32_t field_at;         /* a record: the next field's first byte in the shape */
    uint32_t left;             /* pairs not walked yet */
};

/* Starts a walk; returns the hash's pairs (at least one). */
static uint32_t pairs_start(const struct store *store, const struct store_key *key,
                            struct pairs_walk *walk)
{
    KV_ASSERT(compact(key));
    walk->field_at = 0;
    if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        walk->pack = record_of(store, key);
        walk->shape = record_shape(store, walk->pack);
        walk->offset = pack_next(walk->pack, pack_first(walk->pack));
        walk->left = walk->shape->field_count;
    } else {
        walk->pack = pack_of(store, key);
        walk->shape = NULL;
        walk->offset = pack_first(walk->pack);
        walk->left = pack_count(walk->pack) / 2u;
    }
    KV_ASSERT(walk->left > 0);
    return walk->left;
}

static void pairs_next(struct pairs_walk *walk, struct slice *field, struct slice *value)
{
    KV_ASSERT(walk->left > 0);
    KV_ASSERT(walk->offset != PACK_OFFSET_NONE);
    if (walk->shape != NULL) {
        *field = shape_field_next(walk->shape, &walk->field_at);
    } else {
        *field = pack_get(walk->pack, walk->offset);
        walk->offset = pack_next(walk->pack, walk->offset);
    }
    *value = pack_get(walk->pack, walk->offset);
    walk->offset = pack_next(walk->pack, walk->offset);
    walk->left--;
}

/* Makes a shaped hash a pack again before a write (writes know packs and tables): STORE_OOM
 * when the heap has no room for the pack, and then nothing changed. */
static enum store_status hash_unshape(struct store *store, struct store_found *found)
{
    const struct store_key *key = store_key(store, found->key_ref);
    struct pack *record = record_of(store, key);
    struct shape *shape = record_shape(store, record);
    struct slice slices[2u * STORE_HASH_PACK_FIELDS_MAX];
    struct pairs_walk walk;
    uint32_t pair_count = pairs_start(store, key, &walk);
    KV_ASSERT(pair_count <= STORE_HASH_PACK_FIELDS_MAX);
    /* Bounded by the pairs. */
    for (uint32_t pair = 0; pair < pair_count; pair++) {
        pairs_next(&walk, &slices[2u * pair], &slices[2u * pair + 1u]);
    }
    struct pack *pack = pack_create(store->heap, false, slices, 2u * pair_count);
    if (pack == NULL) {
        return STORE_OOM;
    }
    store_key_set_root(store, found, STORE_HASH_PACK, heap_ref(store->heap, pack));
    pack_release(store->heap, record);
    shape_drop(shapes_of(store), shape);
    return STORE_OK;
}

/* After a write that leaves a pack: makes it a record when its field list is one that other
 * hashes have too (shape_intern) and the record takes a smaller allocation than the pack.
 * Otherwise, or without room, it stays a pack. The content does not change (the write told
 * watchers). */
static void hash_try_shape(struct store *store, struct store_found *found)
{
    const struct store_key *key = store_key(store, found->key_ref);
    if (store_key_encoding(key) != STORE_HASH_PACK) {
        return;
    }
    struct pack *pack = pack_of(store, key);
    uint32_t pair_count = pack_count(pack) / 2u;
    KV_ASSERT(pair_count > 0 && pair_count <= STORE_HASH_PACK_FIELDS_MAX);
    uint8_t fields[SHAPE_FIELDS_BYTES_MAX];
    struct slice values[RECORD_HEAD_ENTRIES + STORE_HASH_PACK_FIELDS_MAX];
    uint32_t fields_bytes = 0;
    uint64_t record_bytes = PACK_HEADER_BYTES + pack_entry_bytes(sizeof(uint32_t), false);
    uint32_t offset = pack_first(pack);
    /* Bounded by the pairs. A field entry's bytes (its varint and name) are the shape's. */
    for (uint32_t pair = 0; pair < pair_count; pair++) {
        uint32_t value_offset = pack_next(pack, offset);
        uint32_t entry_bytes = value_offset - offset;
        if (fields_bytes + entry_bytes > SHAPE_FIELDS_BYTES_MAX) {
            return;
        }
        memcpy(fields + fields_bytes, (const uint8_t *)pack + offset, entry_bytes);
        fields_bytes += entry_bytes;
        values[RECORD_HEAD_ENTRIES + pair] = pack_get(pack, value_offset);
        record_bytes += pack_entry_bytes(values[RECORD_HEAD_ENTRIES + pair].length, false);
        offset = pack_next(pack, value_offset);
    }
    KV_ASSERT(offset == PACK_OFFSET_NONE);
    if (heap_rounded_bytes(record_bytes) >= heap_usable_bytes(store->heap, pack)) {
        return;
    }
    struct slice list = {.bytes = fields, .length = fields_bytes};
    struct shape *shape = shape_intern(shapes_of(store), list, pair_count);
    if (shape == NULL) {
        return;
    }
    uint32_t shape_ref = heap_ref(store->heap, shape);
    values[0] = (struct slice){.bytes = (const uint8_t *)&shape_ref, .length = sizeof(shape_ref)};
    struct pack *record = pack_create(store->heap, false, values,
                                      RECORD_HEAD_ENTRIES + pair_count);
    if (record == NULL) {
        shape_drop(shapes_of(store), shape);
        return;
    }
    store_key_set_root(store, found, STORE_HASH_SHAPED, heap_ref(store->heap, record));
    pack_release(store->heap, pack);
    KV_ASSERT(store_hash_length(store, found->key_ref) == pair_count);
}

/* Links an entry whose field the table lacks. */
static void table_link(struct heap *heap, struct hash_table *table, struct hash_entry *entry)
{
    KV_ASSERT(entry->link == HEAP_REF_NONE);
    dict_insert(&table->dict, heap_ref(heap, entry));
    table->entry_bytes += heap_usable_bytes(heap, entry);
    KV_ASSERT(table->entry_bytes >= dict_count(&table->dict) * sizeof(struct hash_entry));
}

static void table_release(struct heap *heap, struct hash_table *table)
{
    KV_ASSERT(dict_count(&table->dict) > 0 || table->entry_bytes == 0);
    dict_clear(&table->dict, entry_release, heap);
    KV_ASSERT(dict_count(&table->dict) == 0);
    heap_release(heap, table);
}

/* A new table holding the pack's pairs (none when pack is NULL); NULL when the heap has no
 * room, and then nothing is left taken. */
static struct hash_table *table_create(struct store *store, const struct pack *pack)
{
    struct heap *heap = store->heap;
    struct hash_table *table = heap_alloc(heap, sizeof(*table));
    if (table == NULL) {
        return NULL;
    }
    dict_init(&table->dict, heap, entry_key, store->seed ^ HASH_TABLE_SEED_MIX);
    table->entry_bytes = 0;
    uint32_t pair_count = pack != NULL ? pack_count(pack) / 2u : 0;
    uint32_t offset = pack != NULL ? pack_first(pack) : PACK_OFFSET_NONE;
    /* Bounded by the pack's pairs. */
    for (uint32_t pair = 0; pair < pair_count; pair++) {
        uint32_t value_offset = pack_next(pack, offset);
        struct hash_entry *entry =
            entry_build(heap, pack_get(pack, offset), pack_get(pack, value_offset));
        if (entry == NULL) {
            table_release(heap, table);
            return NULL;
        }
        table_link(heap, table, entry);
        offset = pack_next(pack, value_offset);
    }
    KV_ASSERT(dict_count(&table->dict) == pair_count);
    KV_ASSERT(table->entry_bytes >= (uint64_t)pair_count * sizeof(struct hash_entry));
    return table;
}

/* ---- Multi-pair table writes ------------------------------------------------------------ */

/* Which fields of a command may repeat (see HASH_FILTER_BITS). Inactive for one pair. */
struct pair_filter {
    uint64_t seen[HASH_FILTER_WORDS];  /* a field of the command has this class */
    uint64_t twice[HASH_FILTER_WORDS]; /* two or more have */
    uint64_t seed;
    bool active;
};

static uint32_t filter_bit(const struct pair_filter *filter, struct slice field)
{
    KV_ASSERT(filter->active);
    return (uint32_t)(hashfn_bytes(field.bytes, field.length, filter->seed) % HASH_FILTER_BITS);
}

static void filter_fill(struct pair_filter *filter, const struct store *store,
                        const struct slice *pairs, uint32_t pair_count)
{
    memset(filter, 0, sizeof(*filter));
    filter->seed = store->seed ^ HASH_FILTER_SEED_MIX;
    filter->active = pair_count > 1;
    /* Bounded by the pairs (none for one pair). */
    for (uint32_t index = 0; filter->active && index < pair_count; index++) {
        uint32_t bit = filter_bit(filter, pairs[2 * index]);
        uint64_t mask = 1ull << (bit % 64u);
        if (filter->seen[bit / 64u] & mask) {
            filter->twice[bit / 64u] |= mask;
        }
        filter->seen[bit / 64u] |= mask;
    }
    KV_ASSERT(filter->active || pair_count == 1);
}

static bool filter_repeated(const struct pair_filter *filter, struct slice field)
{
    if (!filter->active) {
        return false;
    }
    uint32_t bit = filter_bit(filter, field);
    KV_ASSERT(filter->seen[bit / 64u] & (1ull << (bit % 64u))); /* a field of the command */
    return (filter->twice[bit / 64u] & (1ull << (bit % 64u))) != 0;
}

/* Whether a pair needs an entry of its own: its field is absent, or its entry would change
 * size class, or the field may repeat (an earlier pair could change its entry first). For a
 * field that does not repeat, nothing else in the command touches its entry, so the answer
 * is the same before the write (spares_take) and during it (table_apply). */
static bool pair_needs_entry(const struct heap *heap, const struct pair_filter *filter,
                             const struct hash_entry *entry, struct slice field,
                             struct slice value)
{
    KV_ASSERT(entry == NULL || slice_equal(entry_view(entry).field, field));
    return filter_repeated(filter, field) || entry == NULL ||
           !entry_fits(heap, entry, field, value);
}

/* Entries taken for a table write before it changes anything, chained through their links
 * in the order of the pairs that will use them. */
struct spares {
    uint32_t head;   /* first entry, or HEAP_REF_NONE */
    uint32_t tail;   /* last entry, or HEAP_REF_NONE */
    uint32_t count;
};

static void spares_push(struct heap *heap, struct spares *spares, struct hash_entry *entry)
{
    uint32_t ref = heap_ref(heap, entry);
    entry->link = HEAP_REF_NONE;
    if (spares->tail != HEAP_REF_NONE) {
        ((struct hash_entry *)heap_pointer(heap, spares->tail))->link = ref;
    } else {
        spares->head = ref;
    }
    spares->tail = ref;
    spares->count++;
    KV_ASSERT(spares->count > 0);
    KV_ASSERT(spares->head != HEAP_REF_NONE);
}

static struct hash_entry *spares_pop(struct heap *heap, struct spares *spares)
{
    KV_ASSERT(spares->count > 0);
    KV_ASSERT(spares->head != HEAP_REF_NONE);
    struct hash_entry *entry = heap_pointer(heap, spares->head);
    spares->head = entry->link;
    spares->count--;
    if (spares->head == HEAP_REF_NONE) {
        spares->tail = HEAP_REF_NONE;
    }
    entry->link = HEAP_REF_NONE;
    return entry;
}

static void spares_release(struct heap *heap, struct spares *spares)
{
    /* Bounded by the count: each step releases one. */
    while (spares->count > 0) {
        heap_release(heap, spares_pop(heap, spares));
    }
    KV_ASSERT(spares->head == HEAP_REF_NONE);
    KV_ASSERT(spares->tail == HEAP_REF_NONE);
}

/* Takes an entry for every pair that needs one; false (none kept) when the heap has no room.
 * Looks only (dict_lookup): the table does not change. */
static bool spares_take(struct heap *heap, const struct hash_table *table,
                        const struct pair_filter *filter, const struct slice *pairs,
                        uint32_t pair_count, struct spares *spares)
{
    KV_ASSERT(spares->count == 0);
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice field = pairs[2 * index];
        struct slice value = pairs[2 * index + 1];
        uint32_t ref = dict_lookup(&table->dict, field);
        const struct hash_entry *entry = ref != HEAP_REF_NONE ? heap_pointer(heap, ref) : NULL;
        if (!pair_needs_entry(heap, filter, entry, field, value)) {
            continue;
        }
        struct hash_entry *spare = entry_build(heap, field, value);
        if (spare == NULL) {
            spares_release(heap, spares);
            return false;
        }
        spares_push(heap, spares, spare);
    }
    KV_ASSERT(spares->count <= pair_count);
    return true;
}

/* Sets the pairs, in order, with the entries spares_take took (each used or given back);
 * cannot fail. Returns the fields added. */
static uint32_t table_apply(struct heap *heap, struct hash_table *table,
                            const struct pair_filter *filter, const struct slice *pairs,
                            uint32_t pair_count, struct spares *spares)
{
    uint32_t added = 0;
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice field = pairs[2 * index];
        struct slice value = pairs[2 * index + 1];
        struct dict_position position;
        uint32_t ref = dict_find(&table->dict, field, &position);
        struct hash_entry *entry = ref != HEAP_REF_NONE ? heap_pointer(heap, ref) : NULL;
        bool needs = pair_needs_entry(heap, filter, entry, field, value);
        struct hash_entry *spare = needs ? spares_pop(heap, spares) : NULL;
        if (entry == NULL) {
            table_link(heap, table, spare);
            added++;
        } else if (entry_fits(heap, entry, field, value)) {
            entry_rewrite(entry, value);
            if (spare != NULL) {
                heap_release(heap, spare);
            }
        } else {
            KV_ASSERT(spare != NULL);
            spare->link = entry->link; /* dict_replace_at: the chain goes on through it */
            dict_replace_at(&table->dict, position, heap_ref(heap, spare));
            table->entry_bytes += heap_usable_bytes(heap, spare);
            table->entry_bytes -= heap_usable_bytes(heap, entry);
            heap_release(heap, entry);
        }
    }
    KV_ASSERT(spares->count == 0);
    return added;
}

/* ---- The type's operations ------------------------------------------------------------ */

static void hash_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    if (store_key_encoding(key) == STORE_HASH_PACK) {
        pack_release(store->heap, pack_of(store, key));
    } else if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        struct pack *record = record_of(store, key);
        shape_drop(shapes_of(store), record_shape(store, record));
        pack_release(store->heap, record);
    } else {
        table_release(store->heap, table_of(store, key));
    }
}

/* A field or value within the caps. */
static void verify_pair(const struct store *store, struct slice field, struct slice value)
{
    KV_ASSERT(field.length <= store->limits.key_bytes_max);
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
}

/* A pack's pairs: within the thresholds and the caps, fields distinct (compared only when
 * their hashes agree, so checking costs O(pairs^2) integer compares, not byte compares). */
static void pack_pairs_verify(const struct store *store, const struct pack *pack)
{
    pack_verify(pack, store->heap);
    uint32_t count = pack_count(pack);
    KV_ASSERT(count % 2 == 0);
    KV_ASSERT(count >= 2);
    KV_ASSERT(count <= 2u * STORE_HASH_PACK_FIELDS_MAX);
    struct slice fields[STORE_HASH_PACK_FIELDS_MAX];
    uint64_t hashes[STORE_HASH_PACK_FIELDS_MAX];
    uint32_t offset = pack_first(pack);
    /* Bounded by the pairs; each inner walk by the pairs before. */
    for (uint32_t pair = 0; pair < count / 2; pair++) {
        fields[pair] = pack_get(pack, offset);
        hashes[pair] = hashfn_bytes(fields[pair].bytes, fields[pair].length, 0);
        uint32_t value_offset = pack_next(pack, offset);
        struct slice value = pack_get(pack, value_offset);
        KV_ASSERT(fields[pair].length <= STORE_HASH_PACK_BYTES_MAX);
        KV_ASSERT(value.length <= STORE_HASH_PACK_BYTES_MAX);
        verify_pair(store, fields[pair], value);
        for (uint32_t before = 0; before < pair; before++) {
            KV_ASSERT(hashes[before] != hashes[pair] || !slice_equal(fields[before], fields[pair]));
        }
        offset = pack_next(pack, value_offset);
    }
    KV_ASSERT(offset == PACK_OFFSET_NONE);
}

/* A record: a pack of its shape's reference and a value per field, each within the
 * thresholds and the caps (the registry's verify checks the shape's fields are distinct). */
static void record_verify(const struct store *store, const struct store_key *key)
{
    const struct pack *record = record_of(store, key);
    pack_verify(record, store->heap);
    KV_ASSERT(pack_count(record) > RECORD_HEAD_ENTRIES);
    KV_ASSERT(pack_count(record) <= RECORD_HEAD_ENTRIES + STORE_HASH_PACK_FIELDS_MAX);
    KV_ASSERT(record_shape(store, record)->refs > 0);
    struct pairs_walk walk;
    uint32_t pair_count = pairs_start(store, key, &walk);
    /* Bounded by the pairs. */
    for (uint32_t pair = 0; pair < pair_count; pair++) {
        struct slice field;
        struct slice value;
        pairs_next(&walk, &field, &value);
        KV_ASSERT(field.length <= STORE_HASH_PACK_BYTES_MAX);
        KV_ASSERT(value.length <= STORE_HASH_PACK_BYTES_MAX);
        verify_pair(store, field, value);
    }
    KV_ASSERT(walk.offset == PACK_OFFSET_NONE);
}

static void table_verify(const struct store *store, const struct hash_table *table)
{
    dict_verify(&table->dict);
    KV_ASSERT(dict_count(&table->dict) > 0);
    uint64_t entry_bytes = 0;
    struct dict_walk walk;
    dict_walk_start(&table->dict, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the count: a walk meets each entry once. */
    while (dict_walk_next(&table->dict, &walk, &ref)) {
        const struct hash_entry *entry = heap_pointer(store->heap, ref);
        struct entry_view view = entry_view(entry);
        uint64_t usable = heap_usable_bytes(store->heap, entry);
        KV_ASSERT(usable >= entry_size(view.field.length, view.value.length));
        verify_pair(store, view.field, view.value);
        entry_bytes += usable;
    }
    KV_ASSERT(entry_bytes == table->entry_bytes);
}

static void hash_verify(const struct store *store, const struct store_key *key,
                        struct store_usage *usage)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    uint64_t length = store_hash_length(store, heap_ref(store->heap, key));
    KV_ASSERT(length > 0);
    KV_ASSERT(length <= store->limits.length_max);
    if (store_key_encoding(key) == STORE_HASH_PACK) {
        pack_pairs_verify(store, pack_of(store, key));
        usage->allocations++;
        return;
    }
    if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        record_verify(store, key);
        usage->allocations++;
        usage->shared_refs++;
        return;
    }
    const struct hash_table *table = table_of(store, key);
    table_verify(store, table);
    usage->allocations += 1u + dict_allocations(&table->dict) + dict_count(&table->dict);
}

static uint64_t hash_length(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    return store_hash_length(store, heap_ref(store->heap, key));
}

static uint64_t hash_memory(const struct store *store, const struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    if (store_key_encoding(key) == STORE_HASH_PACK) {
        return heap_usable_bytes(store->heap, pack_of(store, key));
    }
    if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        /* The record, and the key's share of its shape (rounded up). */
        const struct pack *record = record_of(store, key);
        const struct shape *shape = record_shape(store, record);
        uint64_t shape_bytes = heap_usable_bytes(store->heap, shape);
        return heap_usable_bytes(store->heap, record) + (shape_bytes + shape->refs - 1u) /
                                                            shape->refs;
    }
    const struct hash_table *table = table_of(store, key);
    return heap_usable_bytes(store->heap, table) + dict_bucket_bytes(&table->dict) +
           table->entry_bytes;
}

/* OBJECT ENCODING: what Redis 7.0 would keep (the key's shape bit: "listpack" until a write
 * passed hash-max-listpack-entries or -value), whatever kv keeps. */
static const char *hash_encoding_name(const struct store *store, const struct store_key *key)
{
    (void)store;
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    KV_ASSERT(store_key_shape(key) <= STORE_SHAPE_CONVERTED);
    return store_key_shape(key) == STORE_SHAPE_COMPACT ? "listpack" : "hashtable";
}

/* The shape registry (one allocation, with its shapes and buckets) against the references
 * the keys' verify counted. */
static uint64_t hash_verify_state(const struct store *store, const struct store_usage *usage)
{
    return 1u + shape_registry_verify(shapes_of(store), usage->shared_refs);
}

static const struct store_type_ops hash_ops = {
    .name = "hash",
    .release = hash_release,
    .verify = hash_verify,
    .length = hash_length,
    .memory = hash_memory,
    .encoding_name = hash_encoding_name,
    .verify_state = hash_verify_state,
};

void store_hash_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_HASH, &hash_ops);
    if (store->type_state[STORE_TYPE_HASH] == NULL) {
        struct shape_registry *registry = heap_alloc(store->heap, sizeof(*registry));
        KV_ASSERT(registry != NULL); /* at startup, in an empty heap */
        shape_registry_init(registry, store->heap, store->seed ^ HASH_SHAPE_SEED_MIX);
        store->type_state[STORE_TYPE_HASH] = registry;
    }
    KV_ASSERT(store->types[STORE_TYPE_HASH] == &hash_ops);
}

/* ---- Reads ---------------------------------------------------------------------------- */

uint64_t store_hash_length(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    if (store_key_encoding(key) == STORE_HASH_PACK) {
        return pack_count(pack_of(store, key)) / 2u;
    }
    if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        return pack_count(record_of(store, key)) - RECORD_HEAD_ENTRIES;
    }
    return dict_count(&table_of(store, key)->dict);
}

bool store_hash_packed(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_HASH);
    return compact(key);
}

bool store_hash_get(const struct store *store, uint32_t key_ref, struct slice field,
                    struct slice *value)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(value != NULL);
    if (store_key_encoding(key) == STORE_HASH_PACK) {
        const struct pack *pack = pack_of(store, key);
        uint32_t value_offset = pack_pairs_find(pack, field, NULL);
        if (value_offset == PACK_OFFSET_NONE) {
            return false;
        }
        *value = pack_get(pack, value_offset);
        return true;
    }
    if (store_key_encoding(key) == STORE_HASH_SHAPED) {
        struct pairs_walk walk;
        uint32_t pair_count = pairs_start(store, key, &walk);
        /* Bounded by the pairs. */
        for (uint32_t pair = 0; pair < pair_count; pair++) {
            struct slice name;
            struct slice found;
            pairs_next(&walk, &name, &found);
            if (slice_equal(name, field)) {
                *value = found;
                return true;
            }
        }
        return false; /* *value untouched, as for a pack */
    }
    uint32_t ref = dict_lookup(&table_of(store, key)->dict, field);
    if (ref == HEAP_REF_NONE) {
        return false;
    }
    *value = entry_view(heap_pointer(store->heap, ref)).value;
    KV_ASSERT(value->length <= store->limits.value_bytes_max);
    return true;
}

void store_hash_each(const struct store *store, uint32_t key_ref, store_hash_visit_fn *visit,
                     void *context)
{
    const struct store_key *key = store_key(store, key_ref);
    if (compact(key)) {
        struct pairs_walk walk;
        uint32_t pair_count = pairs_start(store, key, &walk);
        /* Bounded by the pairs. */
        for (uint32_t pair = 0; pair < pair_count; pair++) {
            struct slice field;
            struct slice value;
            pairs_next(&walk, &field, &value);
            visit(context, field, value);
        }
        KV_ASSERT(walk.offset == PACK_OFFSET_NONE);
        return;
    }
    const struct hash_table *table = table_of(store, key);
    struct dict_walk walk;
    dict_walk_start(&table->dict, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the count: a walk meets each entry once. */
    while (dict_walk_next(&table->dict, &walk, &ref)) {
        struct entry_view view = entry_view(heap_pointer(store->heap, ref));
        visit(context, view.field, view.value);
    }
    KV_ASSERT(walk.next_ref == HEAP_REF_NONE);
}

void store_hash_cursor_start(struct store *store, uint32_t key_ref,
                             struct store_hash_cursor *cursor)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(!compact(key));
    struct hash_table *table = table_of(store, key);
    struct dict *dict = &table->dict;
    uint64_t steps_max = (uint64_t)dict->bucket_count[0] + dict->bucket_count[1];
    /* Bounded: each step moves 1024 buckets of a table that exists now, plus the resizes a
     * finished one may start (the table then holds every entry, so no read moves them). */
    for (uint64_t step = 0; step <= steps_max && dict_rehashing(dict); step++) {
        (void)dict_rehash(dict, 1024);
    }
    *cursor = (struct store_hash_cursor){.key_ref = key_ref, .left = dict_count(dict)};
    dict_walk_start(dict, &cursor->walk);
    KV_ASSERT(cursor->left == store_hash_length(store, key_ref));
}

bool store_hash_cursor_next(const struct store *store, struct store_hash_cursor *cursor,
                            struct slice *field, struct slice *value)
{
    const struct hash_table *table = table_of(store, store_key(store, cursor->key_ref));
    uint32_t ref = HEAP_REF_NONE;
    if (cursor->left == 0) {
        KV_ASSERT(!dict_walk_next(&table->dict, &cursor->walk, &ref));
        return false;
    }
    bool found = dict_walk_next(&table->dict, &cursor->walk, &ref);
    KV_ASSERT(found);
    cursor->left--;
    struct entry_view view = entry_view(heap_pointer(store->heap, ref));
    *field = view.field;
    *value = view.value;
    return true;
}

/* dict_scan's visitor over a table: each entry as (field, value), at most `left` of them. */
struct scan_visit {
    const struct heap *heap;
    store_hash_visit_fn *visit;
    void *context;
    uint64_t left;            /* entries still to hand on; the rest are passed over */
};

static void scan_visit_entry(void *context, uint32_t entry_ref)
{
    struct scan_visit *scan = context;
    if (scan->left == 0) {
        return;
    }
    scan->left--;
    KV_ASSERT(entry_ref != HEAP_REF_NONE);
    struct entry_view view = entry_view(heap_pointer(scan->heap, entry_ref));
    scan->visit(scan->context, view.field, view.value);
}

uint64_t store_hash_scan(const struct store *store, uint32_t key_ref, uint64_t cursor,
                         store_hash_visit_fn *visit, void *context)
{
    const struct hash_table *table = table_of(store, store_key(store, key_ref));
    struct scan_visit scan = {
        .heap = store->heap, .visit = visit, .context = context, .left = UINT64_MAX};
    uint64_t next = dict_scan(&table->dict, cursor, scan_visit_entry, &scan);
    KV_ASSERT(scan.left <= UINT64_MAX);
    return next;
}

/* ---- Random fields (HRANDFIELD) ------------------------------------------------------- */

/* xorshift64 on the store's random state (dict_random steps the same state). */
static uint64_t random_draw(struct store *store)
{
    uint64_t state = store->random_state;
    KV_ASSERT(state != 0);
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    store->random_state = state;
    return state * 0x2545f4914f6cdd1dull;
}

void store_hash_random(struct store *store, uint32_t key_ref, struct slice *field,
                       struct slice *value)
{
    const struct store_key *key = store_key(store, key_ref);
    if (compact(key)) {
        struct pairs_walk walk;
        uint32_t pair_count = pairs_start(store, key, &walk);
        uint32_t pair = (uint32_t)(random_draw(store) % pair_count);
        /* Bounded by the pairs: up to the one drawn. */
        for (uint32_t step = 0; step <= pair; step++) {
            pairs_next(&walk, field, value);
        }
        return;
    }
    const struct hash_table *table = table_of(store, key);
    KV_ASSERT(dict_count(&table->dict) > 0);
    uint32_t ref = dict_random(&table->dict, &store->random_state);
    KV_ASSERT(ref != HEAP_REF_NONE); /* a hash is never empty */
    struct entry_view view = entry_view(heap_pointer(store->heap, ref));
    *field = view.field;
    *value = view.value;
}

/* A compact hash's window: `count` consecutive pairs from a random one, wrapping around. */
static void compact_window(struct store *store, const struct store_key *key, uint64_t count,
                           store_hash_visit_fn *visit, void *context)
{
    struct pairs_walk walk;
    uint32_t pair_count = pairs_start(store, key, &walk);
    KV_ASSERT(count > 0);
    KV_ASSERT(count < pair_count);
    uint32_t first = (uint32_t)(random_draw(store) % pair_count);
    struct slice field;
    struct slice value;
    /* Bounded by the pairs before the first one drawn. */
    for (uint32_t step = 0; step < first; step++) {
        pairs_next(&walk, &field, &value);
    }
    /* Bounded by count, below the pairs: no pair twice. */
    for (uint64_t step = 0; step < count; step++) {
        if (walk.left == 0) {
            (void)pairs_start(store, key, &walk);
        }
        pairs_next(&walk, &field, &value);
        visit(context, field, value);
    }
}

/*
 * A table's window: the entries of consecutive SCAN cursors from a random bucket of the
 * smaller table, until `count` are met. A cursor cycle visits every entry once while the
 * dict does not change, so count < length entries come without a repeat, provided no call
 * stops inside an expansion (which makes the next call look at the small bucket again):
 * a rehash whose size ratio passes DICT_SCAN_EXPANSION_MAX (a shrink the heap held back) is
 * finished first, a rare O(buckets) step.
 */
static void table_window(struct store *store, struct hash_table *table, uint64_t count,
                         store_hash_visit_fn *visit, void *context)
{
    struct dict *dict = &table->dict;
    KV_ASSERT(count < dict_count(dict));
    uint64_t steps_max = (uint64_t)dict->bucket_count[0] + dict->bucket_count[1];
    /* Bounded: each step moves 1024 buckets of a table that exists now, plus the resizes
     * that a finished one may start. */
    for (uint64_t step = 0; step <= steps_max && dict_rehashing(dict); step++) {
        uint32_t low = dict->bucket_count[0] < dict->bucket_count[1] ? dict->bucket_count[0]
                                                                     : dict->bucket_count[1];
        uint32_t high = dict->bucket_count[0] ^ dict->bucket_count[1] ^ low;
        if (high / low <= DICT_SCAN_EXPANSION_MAX) {
            break;
        }
        (void)dict_rehash(dict, 1024);
    }
    uint32_t small = dict->bucket_count[0];
    if (dict_rehashing(dict) && dict->bucket_count[1] < small) {
        small = dict->bucket_count[1];
    }
    struct scan_visit scan = {
        .heap = store->heap, .visit = visit, .context = context, .left = count};
    uint64_t cursor = random_draw(store) & (small - 1u);
    uint64_t calls_max = (uint64_t)dict->bucket_count[0] + dict->bucket_count[1] + 1u;
    /* Bounded: each call covers at least one bucket of a cycle that holds every entry. */
    for (uint64_t call = 0; call < calls_max && scan.left > 0; call++) {
        cursor = dict_scan(dict, cursor, scan_visit_entry, &scan);
    }
    KV_ASSERT(scan.left == 0);
}

void store_hash_window(struct store *store, uint32_t key_ref, uint64_t count,
                       store_hash_visit_fn *visit, void *context)
{
    KV_ASSERT(count > 0);
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(count < store_hash_length(store, key_ref));
    if (compact(key)) {
        compact_window(store, key, count, visit, context);
    } else {
        table_window(store, table_of(store, key), count, visit, context);
    }
}

/* ---- Writes --------------------------------------------------------------------------- */

/* Fields among the pairs that the hash found (or an absent one) lacks, each counted once.
 * O(pairs^2): asked only when a set cap is near. */
static uint64_t fields_new(const struct store *store, const struct store_found *found,
                           const struct slice *pairs, uint32_t pair_count)
{
    KV_ASSERT(pair_count > 0);
    uint64_t count = 0;
    /* Bounded by the pairs, and each inner walk by the pairs before. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice value;
        if (found->exists && store_hash_get(store, found->key_ref, pairs[2 * index], &value)) {
            continue;
        }
        bool earlier = false;
        for (uint32_t before = 0; before < index && !earlier; before++) {
            earlier = slice_equal(pairs[2 * before], pairs[2 * index]);
        }
        count += earlier ? 0u : 1u;
    }
    KV_ASSERT(count <= pair_count);
    return count;
}

/* Every check of a hash write, in kv's order, before anything changes. */
static enum store_status set_check(const struct store *store, const struct store_found *found,
                                   struct slice key, const struct slice *pairs,
                                   uint32_t pair_count)
{
    KV_ASSERT(pair_count > 0);
    KV_ASSERT(!found->exists || found->type != STORE_TYPE_ANY);
    if (found->exists && found->type != STORE_TYPE_HASH) {
        return STORE_WRONGTYPE;
    }
    if (!found->exists && key.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    /* Bounded by the pairs. */
    for (uint32_t index = 0; index < pair_count; index++) {
        if (pairs[2 * index].length > store->limits.key_bytes_max) {
            return STORE_FIELD_TOO_LONG;
        }
        if (pairs[2 * index + 1].length > store->limits.value_bytes_max) {
            return STORE_VALUE_TOO_LONG;
        }
    }
    uint64_t length = found->exists ? store_hash_length(store, found->key_ref) : 0;
    if (length + pair_count > store->limits.length_max &&
        length + fields_new(store, found, pairs, pair_count) > store->limits.length_max) {
        return STORE_HASH_FULL;
    }
    return found->exists ? STORE_OK : store_key_check(store, key);
}

/* The pairs a pack will hold after a write: field, value, ... (slices into the old pack or
 * the command's arguments). */
struct pack_plan {
    struct slice slices[2u * STORE_HASH_PACK_FIELDS_MAX];
    uint32_t pair_count;
    uint32_t added;           /* fields the write adds */
};

/* Whether a pair keeps a hash small (Redis converts on any longer argument). */
static bool pair_small(struct slice field, struct slice value)
{
    return field.length <= STORE_HASH_PACK_BYTES_MAX && value.length <= STORE_HASH_PACK_BYTES_MAX;
}

/* Plans a write into a pack (NULL: a new key); false when the hash must become a table: an
 * argument longer than STORE_HASH_PACK_BYTES_MAX, or a field past STORE_HASH_PACK_FIELDS_MAX.
 * A repeated field keeps its first place and takes its last value, as sequential sets do. */
static bool plan_pack(struct pack_plan *plan, const struct pack *pack, const struct slice *pairs,
                      uint32_t pair_count)
{
    plan->pair_count = pack != NULL ? pack_count(pack) / 2u : 0;
    plan->added = 0;
    KV_ASSERT(plan->pair_count <= STORE_HASH_PACK_FIELDS_MAX);
    uint32_t offset = pack != NULL ? pack_first(pack) : PACK_OFFSET_NONE;
    /* Bounded by the pack's entries. */
    for (uint32_t index = 0; index < 2u * plan->pair_count; index++) {
        plan->slices[index] = pack_get(pack, offset);
        offset = pack_next(pack, offset);
    }
    /* Bounded by the pairs; each find by the plan's pairs, at most the pack's maximum. */
    for (uint32_t index = 0; index < pair_count; index++) {
        struct slice field = pairs[2 * index];
        if (!pair_small(field, pairs[2 * index + 1])) {
            return false;
        }
        uint32_t at = 0;
        /* Bounded by the plan's pairs. */
        while (at < plan->pair_count && !slice_equal(plan->slices[2u * at], field)) {
            at++;
        }
        if (at == plan->pair_count) {
            if (at == STORE_HASH_PACK_FIELDS_MAX) {
                return false;
            }
            plan->slices[2u * at] = field;
            plan->pair_count++;
            plan->added++;
        }
        plan->slices[2u * at + 1u] = pairs[2 * index + 1];
    }
    KV_ASSERT(plan->added <= pair_count);
    return true;
}

/* One pair on a pack that stays one (HSET f v, HINCRBY), in place: pack_pairs_set leaves the
 * pack as it was when it fails. */
static enum store_status pack_set_one(struct store *store, struct store_found *found,
                                      struct slice field, struct slice value, uint32_t *added)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct pack *pack = pack_of(store, key);
    bool is_new = false;
    if (!pack_pairs_set(&pack, store->heap, field, value, &is_new)) {
        return STORE_OOM;
    }
    /* Watchers are told after the one call that can fail (the hook reads only the key's
     * name, which stays), so a refused write touches no one. */
    store_modified(store, key);
    store_key_set_root(store, found, STORE_HASH_PACK, heap_ref(store->heap, pack));
    *added = is_new ? 1u : 0u;
    KV_ASSERT(pack_count(pack) % 2 == 0);
    KV_ASSERT(pack_count(pack) <= 2u * STORE_HASH_PACK_FIELDS_MAX);
    return STORE_OK;
}

/* Whether one pair keeps a pack small: short enough, and a field it has or room for one. */
static bool pack_takes_one(const struct pack *pack, struct slice field, struct slice value)
{
    KV_ASSERT(pack_count(pack) <= 2u * STORE_HASH_PACK_FIELDS_MAX);
    if (!pair_small(field, value)) {
        return false;
    }
    return pack_count(pack) / 2u < STORE_HASH_PACK_FIELDS_MAX ||
           pack_pairs_find(pack, field, NULL) != PACK_OFFSET_NONE;
}

/* A planned pack write: the new pack first (and a new key's object), then the swap. */
static enum store_status pack_write(struct store *store, struct store_found *found,
                                    struct slice key, const struct pack_plan *plan,
                                    uint32_t *added)
{
    struct heap *heap = store->heap;
    KV_ASSERT(plan->pair_count > 0);
    struct pack *pack = pack_create(heap, false, plan->slices, 2u * plan->pair_count);
    struct store_key *object = NULL;
    if (pack != NULL && !found->exists) {
        object = store_key_build(store, key, STORE_TYPE_HASH, 0, 0);
    }
    if (pack == NULL || (!found->exists && object == NULL)) {
        if (pack != NULL) {
            pack_release(heap, pack);
        }
        return STORE_OOM;
    }
    if (object != NULL) {
        store_object_set_root(object, STORE_HASH_PACK, heap_ref(heap, pack));
        store_key_insert(store, found, object, NULL);
    } else {
        struct store_key *current = store_key(store, found->key_ref);
        struct pack *old = pack_of(store, current);
        store_modified(store, current);
        store_key_set_root(store, found, STORE_HASH_PACK, heap_ref(heap, pack));
        pack_release(heap, old);
    }
    *added = plan->added;
    KV_ASSERT(found->exists && found->type == STORE_TYPE_HASH);
    return STORE_OK;
}

/* What a table write takes before it changes anything. */
struct table_write {
    struct store_key *object;  /* a new key's object, or NULL */
    struct hash_table *table;  /* the table written */
    bool fresh;                /* the table is new: a new key's, or the conversion's */
    struct pair_filter filter; /* which fields may repeat */
    struct spares spares;      /* the entries the pairs need */
};

static void table_write_release(struct heap *heap, struct table_write *write)
{
    spares_release(heap, &write->spares);
    if (write->fresh && write->table != NULL) {
        table_release(heap, write->table);
    }
    if (write->object != NULL) {
        heap_release(heap, write->object);
    }
    KV_ASSERT(write->spares.count == 0);
}

/* Takes all a table write needs: a new key's object, the table of a conversion (or of a new
 * key), the pairs' entries. False, with nothing kept, when the heap has no room. */
static bool table_write_take(struct store *store, const struct store_found *found,
                             struct slice key, const struct slice *pairs, uint32_t pair_count,
                             struct table_write *write)
{
    *write = (struct table_write){
        .spares = {.head = HEAP_REF_NONE, .tail = HEAP_REF_NONE, .count = 0}};
    const struct store_key *current = found->exists ? store_key(store, found->key_ref) : NULL;
    write->fresh = current == NULL || store_key_encoding(current) == STORE_HASH_PACK;
    if (current == NULL) {
        write->object = store_key_build(store, key, STORE_TYPE_HASH, 0, 0);
        if (write->object == NULL) {
            return false;
        }
    }
    if (write->fresh) {
        write->table = table_create(store, current != NULL ? pack_of(store, current) : NULL);
    } else {
        write->table = table_of(store, current);
    }
    filter_fill(&write->filter, store, pairs, pair_count);
    if (write->table == NULL || !spares_take(store->heap, write->table, &write->filter, pairs,
                                             pair_count, &write->spares)) {
        table_write_release(store->heap, write);
        return false;
    }
    KV_ASSERT(write->spares.count <= pair_count);
    return true;
}

/* A write into a table: an existing one, or one built for a new key or a pack that passes
 * the thresholds. */
static enum store_status table_set(struct store *store, struct store_found *found,
                                   struct slice key, const struct slice *pairs,
                                   uint32_t pair_count, uint32_t *added)
{
    struct heap *heap = store->heap;
    struct table_write write;
    if (!table_write_take(store, found, key, pairs, pair_count, &write)) {
        return STORE_OOM;
    }
    /* From here nothing can fail. */
    if (found->exists) {
        struct store_key *current = store_key(store, found->key_ref);
        store_modified(store, current);
        if (write.fresh) {
            struct pack *old = pack_of(store, current);
            store_key_set_root(store, found, STORE_HASH_TABLE, heap_ref(heap, write.table));
            pack_release(heap, old);
        }
    }
    *added = table_apply(heap, write.table, &write.filter, pairs, pair_count, &write.spares);
    if (write.object != NULL) {
        store_object_set_root(write.object, STORE_HASH_TABLE, heap_ref(heap, write.table));
        store_key_insert(store, found, write.object, NULL);
    }
    KV_ASSERT(found->exists);
    KV_ASSERT(store_key_encoding(store_key(store, found->key_ref)) == STORE_HASH_TABLE);
    return STORE_OK;
}

/* Pairs a write may set in a record in place (values of fields its shape has); a longer
 * write goes through a pack, as a write that adds fields does. */
#define RECORD_SET_PAIRS_MAX 16u

/* The index of `field` in the shape, or the field count when it has none. */
static uint32_t shape_index(const struct shape *shape, struct slice field)
{
    uint32_t at = 0;
    /* Bounded by the shape's fields. */
    for (uint32_t index = 0; index < shape->field_count; index++) {
        if (slice_equal(shape_field_next(shape, &at), field)) {
            return index;
        }
    }
    return shape->field_count;
}

/* A write of values only, to fields the record's shape has: the record keeps its shape and
 * takes the new values (one in place, several in a new record). STORE_NOT_FOUND, changing
 * nothing, when a field is not in the shape, a value is too long for a small hash, or there
 * are more than RECORD_SET_PAIRS_MAX pairs: the write then goes through a pack. */
static enum store_status record_set_values(struct store *store, struct store_found *found,
                                           const struct slice *pairs, uint32_t pair_count)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct pack *record = record_of(store, key);
    const struct shape *shape = record_shape(store, record);
    uint32_t indexes[RECORD_SET_PAIRS_MAX];
    if (pair_count > RECORD_SET_PAIRS_MAX) {
        return STORE_NOT_FOUND;
    }
    /* Bounded by the pairs. */
    for (uint32_t pair = 0; pair < pair_count; pair++) {
        indexes[pair] = shape_index(shape, pairs[2u * pair]);
        if (indexes[pair] == shape->field_count ||
            !pair_small(pairs[2u * pair], pairs[2u * pair + 1u])) {
            return STORE_NOT_FOUND;
        }
    }
    struct heap *heap = store->heap;
    if (pair_count == 1) {
        uint32_t offset = pack_index(record, RECORD_HEAD_ENTRIES + indexes[0]);
        if (!pack_replace(&record, heap, offset, pairs[1])) {
            return STORE_OOM;
        }
    } else {
        struct slice values[RECORD_HEAD_ENTRIES + STORE_HASH_PACK_FIELDS_MAX];
        uint32_t count = pack_count(record);
        uint32_t offset = pack_first(record);
        /* Bounded by the record's entries. */
        for (uint32_t index = 0; index < count; index++) {
            values[index] = pack_get(record, offset);
            offset = pack_next(record, offset);
        }
        /* Bounded by the pairs; a repeated field takes its last value. */
        for (uint32_t pair = 0; pair < pair_count; pair++) {
            values[RECORD_HEAD_ENTRIES + indexes[pair]] = pairs[2u * pair + 1u];
        }
        struct pack *fresh = pack_create(heap, false, values, count);
        if (fresh == NULL) {
            return STORE_OOM;
        }
        pack_release(heap, record);
        record = fresh;
    }
    /* Watchers are told after the one call that could fail; the key object did not move. */
    store_modified(store, key);
    store_key_set_root(store, found, STORE_HASH_SHAPED, heap_ref(heap, record));
    KV_ASSERT(record_shape(store, record) == shape);
    return STORE_OK;
}

/* A checked write into a hash that is not shaped (or absent). */
static enum store_status hash_set_unshaped(struct store *store, struct store_found *found,
                                           struct slice key, const struct slice *pairs,
                                           uint32_t pair_count, uint32_t *added)
{
    enum store_status status = STORE_OK;
    const struct store_key *current = found->exists ? store_key(store, found->key_ref) : NULL;
    bool packed = current == NULL || store_key_encoding(current) == STORE_HASH_PACK;
    const struct pack *pack = current != NULL && packed ? pack_of(store, current) : NULL;
    if (pack != NULL && pair_count == 1 && pack_takes_one(pack, pairs[0], pairs[1])) {
        return pack_set_one(store, found, pairs[0], pairs[1], added);
    }
    if (packed) {
        struct pack_plan plan;
        if (plan_pack(&plan, pack, pairs, pair_count)) {
            return pack_write(store, found, key, &plan, added);
        }
    }
    status = table_set(store, found, key, pairs, pair_count, added);
    KV_ASSERT(status != STORE_OK || *added <= pair_count);
    return status;
}

/* ---- Redis's shape ------------------------------------------------------------------------- */

/* hash-max-listpack-entries and -value in force: parsed when they are set
 * (store_hash_configure), not per write. */
static uint64_t hash_listpack_entries_max;
static uint64_t hash_listpack_value_max;
static bool hash_configured;

static uint64_t hash_param(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0);
    const char *text = redis_param_value((uint32_t)row);
    int64_t value = 0;
    bool parsed = number_parse_int64((const uint8_t *)text, (uint32_t)strlen(text), &value);
    KV_ASSERT(parsed && value >= 0); /* CONFIG SET checked it; sizes are shown in bytes */
    return (uint64_t)value;
}

void store_hash_configure(void)
{
    hash_listpack_entries_max = hash_param("hash-max-listpack-entries");
    hash_listpack_value_max = hash_param("hash-max-listpack-value");
    hash_configured = true;
}

/* The shape a hash write leaves, as Redis's hashTypeTryConversion and hashTypeSet decide:
 * a field or value argument longer than hash-max-listpack-value converts (before the write;
 * an HSETNX that finds its field writes nothing), and so does a set that leaves more fields
 * than hash-max-listpack-entries; nothing converts back. */
static uint8_t shape_before_set(const struct store *store, const struct store_found *found,
                                const struct slice *pairs, uint32_t pair_count)
{
    if (!hash_configured) {
        store_hash_configure(); /* the first write after startup (and the config file) */
    }
    uint8_t shape = found->exists ? store_key_shape(store_key(store, found->key_ref))
                                  : STORE_SHAPE_COMPACT;
    /* Bounded by the arguments. */
    for (uint32_t index = 0; shape == STORE_SHAPE_COMPACT && index < 2 * pair_count; index++) {
        if (pairs[index].length > hash_listpack_value_max) {
            shape = STORE_SHAPE_CONVERTED;
        }
    }
    KV_ASSERT(shape <= STORE_SHAPE_CONVERTED);
    return shape;
}

/* Gives the hash found its shape after a write that set fields. */
static void shape_after_set(struct store *store, const struct store_found *found, uint8_t shape)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_HASH);
    if (store_hash_length(store, found->key_ref) > hash_listpack_entries_max) {
        shape = STORE_SHAPE_CONVERTED;
    }
    store_key_shape_set(store_key(store, found->key_ref), shape);
}

enum store_status store_hash_set(struct store *store, struct store_found *found,
                                 struct slice key, const struct slice *pairs, uint32_t pair_count,
                                 bool only_new, uint32_t *added)
{
    KV_ASSERT(pair_count > 0);
    KV_ASSERT(!only_new || pair_count == 1); /* HSETNX: one pair */
    *added = 0;
    enum store_status status = set_check(store, found, key, pairs, pair_count);
    if (status != STORE_OK) {
        return status;
    }
    struct slice value;
    if (only_new && found->exists && store_hash_get(store, found->key_ref, pairs[0], &value)) {
        return STORE_OK; /* HSETNX of a field present: nothing changes, nothing converts */
    }
    uint8_t shape = shape_before_set(store, found, pairs, pair_count);
    if (found->exists && store_key_encoding(store_key(store, found->key_ref)) ==
                             STORE_HASH_SHAPED) {
        status = record_set_values(store, found, pairs, pair_count);
        if (status == STORE_OK) {
            shape_after_set(store, found, shape);
        }
        if (status != STORE_NOT_FOUND) {
            return status; /* *added stays 0: every field was there */
        }
        status = hash_unshape(store, found);
        if (status != STORE_OK) {
            return status;
        }
    }
    status = hash_set_unshaped(store, found, key, pairs, pair_count, added);
    /* A refused write left the hash (if any) as it was, unshaped: it may shape again. */
    if (found->exists) {
        hash_try_shape(store, found);
    }
    if (status == STORE_OK) {
        shape_after_set(store, found, shape);
    }
    return status;
}

/* HDEL of one field of a pack; tells watchers before the first removal. */
static bool pack_field_delete(struct store *store, struct store_found *found, struct slice field,
                              bool first)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct pack *pack = pack_of(store, key);
    uint32_t field_offset = PACK_OFFSET_NONE;
    if (pack_pairs_find(pack, field, &field_offset) == PACK_OFFSET_NONE) {
        return false;
    }
    KV_ASSERT(field_offset != PACK_OFFSET_NONE);
    if (first) {
        store_modified(store, key);
    }
    pack_delete(&pack, store->heap, field_offset, 2);
    store_key_set_root(store, found, STORE_HASH_PACK, heap_ref(store->heap, pack));
    KV_ASSERT(pack_count(pack) % 2 == 0);
    return true;
}

/* HDEL of one field of a table; tells watchers before the first removal. */
static bool table_field_delete(struct store *store, struct store_found *found,
                               struct slice field, bool first)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct hash_table *table = table_of(store, key);
    struct dict_position position;
    uint32_t ref = dict_find(&table->dict, field, &position);
    if (ref == HEAP_REF_NONE) {
        return false;
    }
    if (first) {
        store_modified(store, key);
    }
    struct hash_entry *entry = heap_pointer(store->heap, ref);
    KV_ASSERT(slice_equal(entry_view(entry).field, field));
    dict_remove_at(&table->dict, position);
    KV_ASSERT(table->entry_bytes >= heap_usable_bytes(store->heap, entry));
    table->entry_bytes -= heap_usable_bytes(store->heap, entry);
    heap_release(store->heap, entry);
    return true;
}

/* Whether the hash has one of the fields (HDEL that would remove nothing changes nothing). */
static bool hash_has_any(const struct store *store, uint32_t key_ref, const struct slice *fields,
                         uint32_t field_count)
{
    struct slice value;
    /* Bounded by the fields named. */
    for (uint32_t index = 0; index < field_count; index++) {
        if (store_hash_get(store, key_ref, fields[index], &value)) {
            return true;
        }
    }
    return false;
}

enum store_status store_hash_delete(struct store *store, struct store_found *found,
                                    const struct slice *fields, uint32_t field_count,
                                    uint32_t *removed_count)
{
    KV_ASSERT(found->exists);
    KV_ASSERT(found->type == STORE_TYPE_HASH);
    *removed_count = 0;
    if (store_key_encoding(store_key(store, found->key_ref)) == STORE_HASH_SHAPED) {
        if (!hash_has_any(store, found->key_ref, fields, field_count)) {
            return STORE_OK;
        }
        enum store_status status = hash_unshape(store, found);
        if (status != STORE_OK) {
            return status;
        }
    }
    bool packed = store_hash_packed(store, found->key_ref);
    uint32_t removed = 0;
    uint64_t length = store_hash_length(store, found->key_ref);
    /* Bounded by the fields named; stops when the hash empties. */
    for (uint32_t index = 0; index < field_count && length > 0; index++) {
        bool first = removed == 0;
        bool gone = packed ? pack_field_delete(store, found, fields[index], first)
                           : table_field_delete(store, found, fields[index], first);
        removed += gone ? 1u : 0u;
        length -= gone ? 1u : 0u;
    }
    KV_ASSERT(length == store_hash_length(store, found->key_ref));
    if (length == 0) {
        store_remove(store, found); /* a hash is never empty: the key goes with its last field */
    } else {
        hash_try_shape(store, found);
    }
    *removed_count = removed;
    return STORE_OK;
}

uint64_t store_hash_bound_bytes(uint64_t count, uint64_t field_bytes, uint64_t value_bytes)
{
    /* The table: an entry per field (link, two length varints of up to 5 bytes, the bytes)
     * and at most 16 bytes of buckets per entry (4-byte buckets, a table at least half full,
     * two tables while it rehashes). A small hash's pack is below that. */
    uint64_t each = heap_rounded_bytes(sizeof(struct hash_entry) + 10u + field_bytes +
                                       value_bytes) + 16u;
    uint64_t bytes = heap_rounded_bytes(sizeof(struct hash_table)) + count * each;
    KV_ASSERT(bytes >= count * (field_bytes + value_bytes));
    return bytes;
}
