/*
 * The store's core: the keyspace as a dict of key objects in the heap (store.h). A key
 * object is its head, then its expiry time when it has one, then the key's bytes, then an
 * embedded value. Invariants: every key object is in the keys dict once, under its name;
 * a key has STORE_META_EXPIRES exactly when the expires dict holds an entry naming it; every
 * live key's type is registered, and its value is what its type's verify accepts. A find
 * costs one probe, and the record it returns (struct store_found) lets the write that
 * follows remove or move the key without another while nothing else touched the keyspace
 * (the record notes the keyspace's call count, and a stale position is found again). Every
 * write takes the memory it needs before it changes anything, so STORE_OOM means nothing
 * changed. No I/O, and no call to a type file by name: types depend on the core, never the
 * reverse. Databases: every invariant holds per database (a key and its expires entry are in
 * the same one); `db` is always &dbs[db_index]; a position taken before a selection changed
 * is stale (the selection counts as a keys call), so a found record from one database is
 * found again by name in whichever database is selected when it is used.
 *
 * Cluster mode (store_slots_enable): every key object then ends in a trailer, its slot links
 * (struct slot_link), and database 0's keys are in one doubly linked list per slot, threaded
 * through the trailers (Redis 7.0's slots_to_keys, whose dict entries carry the same two
 * links). The lists change only at the choke points where a key enters or leaves database 0,
 * each O(1): store_key_insert (every new key), store_rename (both names), store_move (into or
 * out of 0), key_remove (DEL, expiry, eviction, a key emptied, RENAME's overwritten target),
 * store_key_swap (a new object for the same name takes the old one's place) and the resizes
 * (the trailer follows the object's new end, the neighbours its new reference); FLUSHDB
 * empties them and SWAPDB with database 0 rebuilds them. Invariants (store_verify): each
 * slot's list holds exactly the keys of database 0 whose slot it is, each once, with prev and
 * next mirroring each other and count its length; the counts sum to database 0's key count.
 * A trailer is read only while its key is in database 0 (the others' are stale: MOVE and
 * SWAPDB move keys between databases without a new object, so every object has one).
 */
#include "store.h"

#include "hashfn.h"
#include "keyslot.h"
#include "number.h"
#include "redis_param.h"
#include "store_internal.h"

/* Redis's limit on a key (and, without caps, on a list's length: 2^32 - 1 elements). */
#define STORE_KEY_BYTES_LIMIT (512ull << 20)
#define STORE_COUNT_LIMIT 0xffffffffull

/* Tries RANDOMKEY gives to finding a live key among expired ones before giving up. */
#define STORE_RANDOM_TRIES 100u

/* Expired keys collected per expires bucket in one active-expiry step; a longer chain is
 * finished in the next step (the cursor stays). */
#define STORE_EXPIRE_BATCH 64u

/* A key's name as the keys dict reads it. */
static struct slice key_entry_name(const struct heap *heap, const void *entry)
{
    (void)heap;
    return store_key_name(entry);
}

/* An expires entry's name: the name of the key object it points at. */
static struct slice expire_entry_name(const struct heap *heap, const void *entry)
{
    const struct store_expire *expire = entry;
    return store_key_name(heap_pointer(heap, expire->key_ref));
}

/* Redis's `databases` as the parameter holds it (startup: a command line or file value, else
 * Redis's default). */
static uint32_t db_count_configured(void)
{
    int32_t row = redis_param_find("databases", 9);
    if (row < 0) {
        return STORE_DB_COUNT_DEFAULT;
    }
    const char *value = redis_param_value((uint32_t)row);
    int64_t count = 0;
    if (!number_parse_int64((const uint8_t *)value, (uint32_t)strlen(value), &count) ||
        count < 1 || count > INT32_MAX) {
        return STORE_DB_COUNT_DEFAULT; /* redis_param_check admits only 1 .. INT_MAX */
    }
    return (uint32_t)count;
}

/* Counts a call into the keys dict: any of them (a find's rehash step too) may move the
 * links that positions point at. Returns the new count. */
static uint64_t keys_call(struct store *store)
{
    return ++store->keys_calls;
}

static void slots_rebuild(struct store *store);

void store_init(struct store *store, struct heap *heap, const struct config *config,
                uint64_t seed)
{
    memset(store, 0, sizeof(*store));
    store->heap = heap;
    store->config = config;
    store->db_count = db_count_configured();
    store->dbs = store->dbs_inline;
    if (store->db_count > STORE_DB_COUNT_DEFAULT) {
        /* Startup: the heap is empty, so only a `databases` beyond the heap fails here. */
        store->dbs = heap_alloc(heap, (uint64_t)store->db_count * sizeof(struct store_db));
        KV_ASSERT(store->dbs != NULL); /* `databases` larger than the memory budget */
    }
    /* Bounded by db_count. */
    for (uint32_t index = 0; index < store->db_count; index++) {
        struct store_db *db = &store->dbs[index];
        memset(db, 0, sizeof(*db));
        dict_init(&db->keys, heap, key_entry_name, seed);
        dict_init(&db->expires, heap, expire_entry_name, seed ^ 0x9e3779b97f4a7c15ull);
    }
    store->db = &store->dbs[0];
    store->seed = seed;
    store->random_state = seed | 1;
    store->limits.key_bytes_max = config->key_size_max != 0 ? config->key_size_max
                                                            : STORE_KEY_BYTES_LIMIT;
    store->limits.value_bytes_max = config->val_size_max != 0 ? config->val_size_max
                                                              : config->proto_max_bulk_len;
    store->limits.length_max = config->list_length_max != 0 ? config->list_length_max
                                                            : STORE_COUNT_LIMIT;
    store->limits.key_count_max = config->key_count != 0 ? config->key_count : STORE_COUNT_LIMIT;
    KV_ASSERT(store->limits.value_bytes_max > 0);
    KV_ASSERT(store_key_count(store) == 0);
}

void store_select(struct store *store, uint32_t db_index)
{
    KV_ASSERT(db_index < store->db_count);
    if (store->db_index != db_index) {
        store->db_index = db_index;
        store->db = &store->dbs[db_index];
        (void)keys_call(store); /* a position taken in the other database is stale */
    }
    KV_ASSERT(store->db == &store->dbs[store->db_index]);
}

void store_swap(struct store *store, uint32_t a_index, uint32_t b_index)
{
    KV_ASSERT(a_index < store->db_count);
    KV_ASSERT(b_index < store->db_count);
    struct store_db kept = store->dbs[a_index];
    store->dbs[a_index] = store->dbs[b_index];
    store->dbs[b_index] = kept;
    (void)keys_call(store);
    if (store->slots != NULL && a_index != b_index && (a_index == 0 || b_index == 0)) {
        slots_rebuild(store); /* database 0 holds other keys now */
    }
    KV_ASSERT(store->db == &store->dbs[store->db_index]);
}

uint64_t store_db_key_count(const struct store *store, uint32_t db_index)
{
    KV_ASSERT(db_index < store->db_count);
    return dict_count(&store->dbs[db_index].keys);
}

uint64_t store_db_expires_count(const struct store *store, uint32_t db_index)
{
    KV_ASSERT(db_index < store->db_count);
    return dict_count(&store->dbs[db_index].expires);
}

int64_t store_db_avg_ttl(const struct store *store, uint32_t db_index)
{
    KV_ASSERT(db_index < store->db_count);
    KV_ASSERT(store->dbs[db_index].avg_ttl_ms >= 0);
    return store->dbs[db_index].avg_ttl_ms;
}

uint64_t store_key_count_all(const struct store *store)
{
    uint64_t count = 0;
    /* Bounded by the databases. */
    for (uint32_t index = 0; index < store->db_count; index++) {
        count += dict_count(&store->dbs[index].keys);
    }
    KV_ASSERT(count >= store_key_count(store));
    return count;
}

uint64_t store_expires_count_all(const struct store *store)
{
    uint64_t count = 0;
    /* Bounded by the databases. */
    for (uint32_t index = 0; index < store->db_count; index++) {
        count += dict_count(&store->dbs[index].expires);
    }
    KV_ASSERT(count >= store_expires_count(store));
    return count;
}

bool store_db_contains(const struct store *store, uint32_t db_index, struct slice key)
{
    KV_ASSERT(db_index < store->db_count);
    return dict_lookup(&store->dbs[db_index].keys, key) != HEAP_REF_NONE;
}

void store_type_register(struct store *store, uint8_t type, const struct store_type_ops *ops)
{
    KV_ASSERT(type > STORE_TYPE_ANY);
    KV_ASSERT(type < STORE_TYPE_COUNT);
    KV_ASSERT(ops->name != NULL);
    KV_ASSERT(ops->release != NULL);
    KV_ASSERT(ops->verify != NULL);
    KV_ASSERT(ops->length != NULL);
    KV_ASSERT(ops->memory != NULL);
    /* Once per type; registering the same table again (a test's second setup) is harmless. */
    KV_ASSERT(store->types[type] == NULL || store->types[type] == ops);
    store->types[type] = ops;
}

/* The operations of a live key's type; a type nobody registered is a wiring bug. */
static const struct store_type_ops *type_ops(const struct store *store, uint8_t type)
{
    KV_ASSERT(type > STORE_TYPE_ANY);
    KV_ASSERT(type < STORE_TYPE_COUNT);
    const struct store_type_ops *ops = store->types[type];
    KV_ASSERT(ops != NULL); /* store_<type>_init was not called */
    return ops;
}

const char *store_encoding_name(const struct store *store, const struct store_key *key)
{
    const struct store_type_ops *ops = type_ops(store, store_key_type(key));
    return ops->encoding_name != NULL ? ops->encoding_name(store, key) : "unknown";
}

const char *store_type_name(const struct store *store, uint8_t type)
{
    return type_ops(store, type)->name;
}

uint32_t store_key_hash(const struct store *store, struct slice key)
{
    return (uint32_t)hashfn_bytes(key.bytes, key.length, store->seed);
}

/* Where the key's bytes start in its object. */
static uint8_t *key_name_bytes(const struct store_key *key)
{
    uint32_t expire_bytes = (key->meta & STORE_META_EXPIRES) ? (uint32_t)sizeof(int64_t) : 0;
    return (uint8_t *)(key + 1) + expire_bytes;
}

struct slice store_key_name(const struct store_key *key)
{
    return (struct slice){.bytes = key_name_bytes(key), .length = key->key_bytes};
}

int64_t store_key_expire(const struct store_key *key)
{
    if (!(key->meta & STORE_META_EXPIRES)) {
        return 0;
    }
    int64_t at_ms = 0;
    memcpy(&at_ms, key + 1, sizeof(at_ms));
    KV_ASSERT(at_ms > 0);
    return at_ms;
}

struct slice store_key_embedded(const struct store_key *key)
{
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_EMBEDDED);
    return (struct slice){.bytes = key_name_bytes(key) + key->key_bytes, .length = key->value};
}

uint64_t store_key_object_bytes(uint64_t key_bytes, uint64_t value_bytes, bool expires)
{
    return sizeof(struct store_key) + (expires ? sizeof(int64_t) : 0) + key_bytes + value_bytes;
}

/* The object's current size in bytes (not its heap class). */
static uint64_t object_bytes(const struct store_key *key)
{
    bool embedded = store_key_encoding(key) == STORE_ENCODING_EMBEDDED;
    return store_key_object_bytes(key->key_bytes, embedded ? key->value : 0,
                                  (key->meta & STORE_META_EXPIRES) != 0);
}

/* ---- Cluster mode: the slot lists of database 0 ---- */

/* A key object's trailer in cluster mode, after its content (read and written with memcpy:
 * a key's length leaves it unaligned). */
struct slot_link {
    uint32_t prev;  /* the newer neighbour in the slot's list; HEAP_REF_NONE: the list's head */
    uint32_t next;  /* the older neighbour; HEAP_REF_NONE: the last */
};
static_assert(sizeof(struct slot_link) == STORE_SLOT_TRAILER_BYTES, "the trailer is the links");
static_assert(HEAP_REF_NONE == 0, "a zeroed slot table is empty");
static_assert(KEYSLOT_COUNT <= UINT32_MAX, "a slot fits its index");

/* Whether the selected database's keys are in the slot lists (cluster mode, database 0). */
static bool slots_indexed(const struct store *store)
{
    return store->slots != NULL && store->db_index == 0;
}

static struct slot_link link_read(const struct store *store, uint32_t ref)
{
    KV_ASSERT(ref != HEAP_REF_NONE);
    const struct store_key *key = store_key(store, ref);
    struct slot_link link;
    memcpy(&link, (const uint8_t *)key + object_bytes(key), sizeof(link));
    return link;
}

static void link_write(struct store *store, uint32_t ref, struct slot_link link)
{
    KV_ASSERT(ref != HEAP_REF_NONE && link.prev != ref && link.next != ref);
    struct store_key *key = store_key(store, ref);
    KV_ASSERT(heap_usable_bytes(store->heap, key) >= object_bytes(key) + sizeof(link));
    memcpy((uint8_t *)key + object_bytes(key), &link, sizeof(link));
}

/* The slot of a key object's name. */
static uint32_t key_slot_index(const struct store_key *key)
{
    struct slice name = store_key_name(key);
    uint32_t slot = keyslot_of(name.bytes, name.length);
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return slot;
}

/* Links a key now in database 0 first in its slot's list. O(1). */
static void slot_insert(struct store *store, uint32_t ref)
{
    KV_ASSERT(store->slots != NULL);
    struct store_slot *slot = &store->slots[key_slot_index(store_key(store, ref))];
    KV_ASSERT(slot->count < UINT32_MAX && slot->head != ref);
    if (slot->head != HEAP_REF_NONE) {
        struct slot_link first = link_read(store, slot->head);
        KV_ASSERT(first.prev == HEAP_REF_NONE);
        first.prev = ref;
        link_write(store, slot->head, first);
    }
    link_write(store, ref, (struct slot_link){.prev = HEAP_REF_NONE, .next = slot->head});
    slot->head = ref;
    slot->count++;
    KV_ASSERT(slot->count > 0);
}

/* Unlinks a key of database 0 (its object still whole) from its slot's list. O(1). */
static void slot_remove(struct store *store, uint32_t ref)
{
    KV_ASSERT(store->slots != NULL);
    struct store_slot *slot = &store->slots[key_slot_index(store_key(store, ref))];
    KV_ASSERT(slot->count > 0);
    struct slot_link link = link_read(store, ref);
    if (link.next != HEAP_REF_NONE) {
        struct slot_link next = link_read(store, link.next);
        KV_ASSERT(next.prev == ref);
        next.prev = link.prev;
        link_write(store, link.next, next);
    }
    if (link.prev != HEAP_REF_NONE) {
        struct slot_link prev = link_read(store, link.prev);
        KV_ASSERT(prev.next == ref);
        prev.next = link.next;
        link_write(store, link.prev, prev);
    } else {
        KV_ASSERT(slot->head == ref);
        slot->head = link.next;
    }
    slot->count--;
}

/* A key of database 0 that was object `old_ref`, linked by `link`, is now object `ref` (moved
 * by a resize, or a new object for the same name): the links go into its trailer and its
 * neighbours (or its slot's head) name it. The old object is not read. O(1). */
static void slot_relink(struct store *store, uint32_t old_ref, uint32_t ref,
                        struct slot_link link)
{
    KV_ASSERT(store->slots != NULL);
    link_write(store, ref, link);
    if (link.next != HEAP_REF_NONE) {
        struct slot_link next = link_read(store, link.next);
        KV_ASSERT(next.prev == old_ref);
        next.prev = ref;
        link_write(store, link.next, next);
    }
    if (link.prev != HEAP_REF_NONE) {
        struct slot_link prev = link_read(store, link.prev);
        KV_ASSERT(prev.next == old_ref);
        prev.next = ref;
        link_write(store, link.prev, prev);
    } else {
        struct store_slot *slot = &store->slots[key_slot_index(store_key(store, ref))];
        KV_ASSERT(slot->head == old_ref);
        slot->head = ref;
    }
}

/* A key's slot links kept across a change of its object's layout (a resize, an expiry time
 * added or taken away: the trailer moves with the object's end, and may move with it). */
struct link_kept {
    struct slot_link link;
    uint32_t ref;        /* the object before the change */
    bool kept;           /* the key is in the slot lists */
};

/* Before the layout changes: reads the links while the trailer is where it was. */
static struct link_kept link_keep(const struct store *store, const struct store_found *found)
{
    struct link_kept kept = {.ref = found->key_ref, .kept = slots_indexed(store)};
    if (kept.kept) {
        kept.link = link_read(store, found->key_ref);
    }
    return kept;
}

/* After the layout changed (and the object perhaps moved): the trailer at the object's new
 * end, and the neighbours naming it. */
static void link_restore(struct store *store, const struct store_found *found,
                         const struct link_kept *kept)
{
    if (kept->kept) {
        slot_relink(store, kept->ref, found->key_ref, kept->link);
    }
}

/* Every slot's list emptied (database 0 flushed, or about to be rebuilt). O(slots). */
static void slots_reset(struct store *store)
{
    memset(store->slots, 0, (size_t)KEYSLOT_COUNT * sizeof(struct store_slot));
}

/* Database 0 changed whole (SWAPDB): its lists built again from its keys. Bounded by its key
 * count (a walk meets each entry once), plus the slots. */
static void slots_rebuild(struct store *store)
{
    slots_reset(store);
    const struct dict *keys = &store->dbs[0].keys;
    struct dict_walk walk;
    dict_walk_start(keys, &walk);
    uint32_t ref = HEAP_REF_NONE;
    while (dict_walk_next(keys, &walk, &ref)) {
        slot_insert(store, ref);
    }
}

void store_slots_enable(struct store *store)
{
    KV_ASSERT(store->slots == NULL);
    /* Before any key: every key object from now on has its trailer. */
    KV_ASSERT(store_key_count_all(store) == 0);
    store->slots = heap_alloc(store->heap, (uint64_t)KEYSLOT_COUNT * sizeof(struct store_slot));
    KV_ASSERT(store->slots != NULL); /* startup: a budget below the table (128 KiB) */
    slots_reset(store);
    store->slot_trailer_bytes = STORE_SLOT_TRAILER_BYTES;
    KV_ASSERT(store_slots_enabled(store));
}

bool store_slots_enabled(const struct store *store)
{
    return store->slots != NULL;
}

uint64_t store_slot_key_count(const struct store *store, uint32_t slot)
{
    KV_ASSERT(store->slots != NULL);
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return store->slots[slot].count;
}

uint32_t store_slot_keys(const struct store *store, uint32_t slot, uint32_t count_max,
                         uint32_t *key_refs)
{
    KV_ASSERT(store->slots != NULL);
    KV_ASSERT(slot < KEYSLOT_COUNT);
    uint32_t count = 0;
    uint32_t ref = store->slots[slot].head;
    /* Bounded by count_max, and by the slot's count (the list's length). */
    while (ref != HEAP_REF_NONE && count < count_max) {
        KV_ASSERT(count < store->slots[slot].count);
        key_refs[count++] = ref;
        ref = link_read(store, ref).next;
    }
    KV_ASSERT(count <= count_max);
    return count;
}

/* Checks the slot lists against database 0's keys dict (see the invariants above). Bounded
 * by the slots and, in each, its count: a longer list (a cycle) asserts. */
static void verify_slots(const struct store *store)
{
    const struct store_db *db = &store->dbs[0];
    uint64_t total = 0;
    for (uint32_t index = 0; index < KEYSLOT_COUNT; index++) {
        const struct store_slot *slot = &store->slots[index];
        uint32_t prev = HEAP_REF_NONE;
        uint32_t ref = slot->head;
        uint32_t length = 0;
        while (ref != HEAP_REF_NONE) {
            KV_ASSERT(length < slot->count);
            const struct store_key *key = store_key(store, ref);
            KV_ASSERT(key_slot_index(key) == index);
            KV_ASSERT(dict_lookup(&db->keys, store_key_name(key)) == ref);
            struct slot_link link = link_read(store, ref);
            KV_ASSERT(link.prev == prev);
            prev = ref;
            ref = link.next;
            length++;
        }
        KV_ASSERT(length == slot->count);
        total += length;
    }
    /* Each listed key is in the dict under its name, and no key is listed twice (a repeat
     * would be a cycle): equal totals make the lists and the dict the same keys. */
    KV_ASSERT(total == dict_count(&db->keys));
}

bool store_key_live(const struct store *store, const struct store_key *key)
{
    int64_t at_ms = store_key_expire(key);
    return at_ms == 0 || at_ms > store->now_ms;
}

void store_modified(struct store *store, const struct store_key *key)
{
    if (store->touched != NULL) {
        struct slice name = store_key_name(key);
        store->touched(store->touched_context, store->db_index, store_key_hash(store, name),
                       name);
    }
}

void store_ready(struct store *store, const struct store_key *key)
{
    if (store->ready != NULL) {
        struct slice name = store_key_name(key);
        store->ready(store->ready_context, store_key_hash(store, name), name);
    }
}


/* The keyspace position of a live key: the record's when nothing called the keys dict
 * since it was taken, else one probe by name (before the key object moves: the probe reads
 * the object). */
static struct dict_position key_position(struct store *store, struct store_found *found)
{
    KV_ASSERT(found->exists);
    if (found->keys_call != store->keys_calls) {
        struct store_key *key = store_key(store, found->key_ref);
        uint32_t ref = dict_find(&store->db->keys, store_key_name(key), &found->position);
        KV_ASSERT(ref == found->key_ref);
        found->keys_call = keys_call(store);
    }
    KV_ASSERT(*found->position.link == found->key_ref);
    return found->position;
}

/* The expires entry of a key that has one, and where it is linked from. */
static struct store_expire *expire_entry(struct store *store, const struct store_key *key,
                                         struct dict_position *position)
{
    KV_ASSERT(key->meta & STORE_META_EXPIRES);
    uint32_t ref = dict_find(&store->db->expires, store_key_name(key), position);
    KV_ASSERT(ref != HEAP_REF_NONE);
    struct store_expire *expire = heap_pointer(store->heap, ref);
    KV_ASSERT(store_key(store, expire->key_ref) == key);
    return expire;
}

/* A key object moved (heap_resize) from `old_ref` to `new_ref`: the keyspace link at the
 * position taken before the move, and its expires entry, follow it. */
static void key_moved(struct store *store, struct store_found *found,
                      struct dict_position position, struct store_expire *expire,
                      uint32_t new_ref)
{
    if (new_ref != found->key_ref) {
        /* Later links of the chain lived in the old object: every position is stale. */
        (void)keys_call(store);
        dict_replace_at(&store->db->keys, position, new_ref);
        if (expire != NULL) {
            expire->key_ref = new_ref;
        }
        found->key_ref = new_ref;
    }
}

/* Resizes a key object to `bytes` (the caller moves bytes inside it); false when the heap
 * has no room, and then nothing changed. */
static bool object_resize(struct store *store, struct store_found *found, uint64_t bytes)
{
    struct store_key *key = store_key(store, found->key_ref);
    struct dict_position position = key_position(store, found);
    struct dict_position expire_position;
    struct store_expire *expire = (key->meta & STORE_META_EXPIRES)
                                      ? expire_entry(store, key, &expire_position)
                                      : NULL;
    void *moved = heap_resize(store->heap, key, bytes + store->slot_trailer_bytes);
    if (moved == NULL) {
        return false;
    }
    key_moved(store, found, position, expire, heap_ref(store->heap, moved));
    return true;
}

/* Removes a key whose record says where it is: hooks first, then its expiry, value and
 * object. */
static void key_remove(struct store *store, struct store_found *found)
{
    struct store_key *key = store_key(store, found->key_ref);
    store_modified(store, key);
    struct dict_position position = key_position(store, found);
    if (key->meta & STORE_META_EXPIRES) {
        struct dict_position expire_position;
        struct store_expire *expire = expire_entry(store, key, &expire_position);
        dict_remove_at(&store->db->expires, expire_position);
        heap_release(store->heap, expire);
    }
    if (slots_indexed(store)) {
        slot_remove(store, found->key_ref);
    }
    type_ops(store, store_key_type(key))->release(store, key);
    (void)keys_call(store);
    dict_remove_at(&store->db->keys, position);
    heap_release(store->heap, key);
    found->exists = false;
    found->keys_call = 0;
    found->type = STORE_TYPE_ANY;
}

/* The LRU clock: seconds, 24 bits, as Redis's LRU_CLOCK. */
static uint32_t lru_clock(const struct store *store)
{
    return (uint32_t)(store->now_ms / 1000) & STORE_META_CLOCK_MASK;
}

/* The LFU clock's time: minutes, 16 bits, as Redis's LFUGetTimeInMinutes. */
static uint32_t lfu_minutes(const struct store *store)
{
    return (uint32_t)(store->now_ms / 60000) & 0xffffu;
}

/* Whether keys keep LFU counters (an LFU policy) rather than LRU times. */
static bool clock_lfu(const struct store *store)
{
    enum config_policy policy = store->config->maxmemory_policy;
    return policy == CONFIG_POLICY_ALLKEYS_LFU || policy == CONFIG_POLICY_VOLATILE_LFU;
}

static uint32_t key_clock(const struct store_key *key)
{
    return (key->meta >> STORE_META_CLOCK_SHIFT) & STORE_META_CLOCK_MASK;
}

static void key_clock_set(struct store_key *key, uint32_t clock)
{
    KV_ASSERT(clock <= STORE_META_CLOCK_MASK);
    key->meta = (key->meta & ~(STORE_META_CLOCK_MASK << STORE_META_CLOCK_SHIFT)) |
                (clock << STORE_META_CLOCK_SHIFT);
}

/* A new key's clock: now, or a fresh LFU counter (Redis's LFU_INIT_VAL) stamped now. */
static uint32_t clock_new(const struct store *store)
{
    return clock_lfu(store) ? lfu_minutes(store) << 8 | STORE_LFU_INIT : lru_clock(store);
}

uint32_t store_key_lfu(const struct store *store, const struct store_key *key)
{
    uint32_t clock = key_clock(key);
    uint32_t stamped = clock >> 8;
    uint32_t counter = clock & 0xffu;
    uint32_t now = lfu_minutes(store);
    uint32_t elapsed = now >= stamped ? now - stamped : 0xffffu - stamped + now;
    uint32_t decay = store->config->lfu_decay_time;
    uint32_t periods = decay != 0 ? elapsed / decay : 0;
    KV_ASSERT(counter <= 255);
    return periods >= counter ? 0 : counter - periods;
}

uint64_t store_key_idle_ms(const struct store *store, const struct store_key *key)
{
    uint32_t now = lru_clock(store);
    uint32_t then = key_clock(key);
    uint64_t seconds = now >= then ? now - then : (uint64_t)STORE_META_CLOCK_MASK - then + now;
    return seconds * 1000u;
}

uint8_t store_clock_saved(const struct store *store)
{
    if (store->config == NULL) {
        return STORE_CLOCK_SAVED_NONE;
    }
    enum config_policy policy = store->config->maxmemory_policy;
    if (policy == CONFIG_POLICY_ALLKEYS_LRU || policy == CONFIG_POLICY_VOLATILE_LRU) {
        return STORE_CLOCK_SAVED_IDLE;
    }
    return clock_lfu(store) ? STORE_CLOCK_SAVED_FREQ : STORE_CLOCK_SAVED_NONE;
}

void store_key_clock_restore(const struct store *store, struct store_key *key,
                             int64_t idle_seconds, int64_t freq)
{
    KV_ASSERT(freq <= 255);
    if (store->config != NULL && clock_lfu(store)) {
        if (freq >= 0) {
            key_clock_set(key, lfu_minutes(store) << 8 | (uint32_t)freq);
        }
        return;
    }
    if (idle_seconds >= 0) {
        /* The clock is 24 bits of seconds: an idle time past its range is its largest. */
        int64_t idle = idle_seconds < STORE_META_CLOCK_MASK ? idle_seconds
                                                            : STORE_META_CLOCK_MASK;
        int64_t at = (int64_t)lru_clock(store) - idle;
        at = at < 0 ? at + STORE_META_CLOCK_MASK : at; /* Redis adds LRU_CLOCK_MAX */
        key_clock_set(key, (uint32_t)at);
    }
}

/* A uniform draw in [0, 1) from the store's xorshift state. */
static double random_unit(struct store *store)
{
    uint64_t state = store->random_state;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    store->random_state = state;
    return (double)(state >> 11) / 9007199254740992.0; /* 2^53 */
}

/* An access: the LRU time becomes now; an LFU counter decays for the time it sat, then grows
 * by one with probability 1 / ((counter - LFU_INIT) * lfu-log-factor + 1), as Redis's
 * LFULogIncr, so it counts logarithmically up to 255. */
static void clock_access(struct store *store, struct store_key *key)
{
    if (!clock_lfu(store)) {
        key_clock_set(key, lru_clock(store));
        return;
    }
    uint32_t counter = store_key_lfu(store, key);
    if (counter < 255) {
        double base = counter > STORE_LFU_INIT ? (double)(counter - STORE_LFU_INIT) : 0.0;
        double chance = 1.0 / (base * (double)store->config->lfu_log_factor + 1.0);
        counter += random_unit(store) < chance ? 1 : 0;
    }
    key_clock_set(key, lfu_minutes(store) << 8 | counter);
}

enum store_status store_find_typed(struct store *store, struct slice key, uint8_t type,
                                   struct store_found *found)
{
    KV_ASSERT(type < STORE_TYPE_COUNT);
    store->key_probe_count++;
    *found = (struct store_found){.type = STORE_TYPE_ANY};
    uint32_t ref = dict_find(&store->db->keys, key, &found->position);
    uint64_t call = keys_call(store);
    if (ref == HEAP_REF_NONE) {
        return STORE_NOT_FOUND;
    }
    struct store_key *object = store_key(store, ref);
    found->key_ref = ref;
    found->exists = true;
    found->keys_call = call;
    if (!store_key_live(store, object)) {
        store_event_emit(store, STORE_EVENT_EXPIRED, store_key_name(object));
        key_remove(store, found); /* lazy expiry: no command sees a key past its time */
        store->expired_keys++;
        KV_ASSERT(!found->exists);
        return STORE_NOT_FOUND;
    }
    found->type = store_key_type(object);
    clock_access(store, object);
    if (type != STORE_TYPE_ANY && found->type != type) {
        return STORE_WRONGTYPE;
    }
    return STORE_OK;
}

bool store_find(struct store *store, struct slice key, uint32_t *key_ref)
{
    struct store_found found;
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
    *key_ref = found.key_ref;
    return found.exists;
}

bool store_peek(const struct store *store, struct slice key, uint32_t *key_ref)
{
    *key_ref = dict_lookup(&store->db->keys, key);
    return *key_ref != HEAP_REF_NONE;
}

uint64_t store_length(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    return type_ops(store, store_key_type(key))->length(store, key);
}

uint64_t store_memory(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    return heap_usable_bytes(store->heap, key) +
           type_ops(store, store_key_type(key))->memory(store, key);
}

void store_expire_due(struct store *store, struct slice key)
{
    struct store_found found;
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
    KV_ASSERT(!found.exists || store_key_live(store, store_key(store, found.key_ref)));
}

enum store_status store_key_check(const struct store *store, struct slice key)
{
    if (key.length > store->limits.key_bytes_max) {
        return STORE_KEY_TOO_LONG;
    }
    /* The seed's key_count caps the keys of every database together. */
    if (store_key_count(store) >= store->limits.key_count_max ||
        store_key_count_all(store) >= store->limits.key_count_max) {
        return STORE_FULL;
    }
    return STORE_OK;
}

struct store_key *store_key_build(struct store *store, struct slice key, uint8_t type,
                                  uint32_t value_bytes, int64_t at_ms)
{
    KV_ASSERT(at_ms >= 0);
    (void)type_ops(store, type);
    bool expires = at_ms > 0;
    uint64_t bytes = store_key_object_bytes(key.length, value_bytes, expires);
    struct store_key *object = heap_alloc(store->heap, bytes + store->slot_trailer_bytes);
    if (object == NULL) {
        return NULL;
    }
    if (store->slot_trailer_bytes > 0) {
        /* Unlinked until it enters database 0. */
        memset((uint8_t *)object + bytes, 0, store->slot_trailer_bytes);
    }
    object->link = HEAP_REF_NONE;
    object->meta = type | ((uint32_t)STORE_ENCODING_EMBEDDED << STORE_META_ENCODING_SHIFT) |
                   (clock_new(store) << STORE_META_CLOCK_SHIFT) | (expires ? STORE_META_EXPIRES : 0);
    object->key_bytes = key.length;
    object->value = value_bytes;
    if (expires) {
        memcpy(object + 1, &at_ms, sizeof(at_ms));
    }
    if (key.length > 0) {
        memcpy(key_name_bytes(object), key.bytes, key.length);
    }
    KV_ASSERT(store_key_type(object) == type);
    KV_ASSERT(store_key_expire(object) == at_ms);
    return object;
}

/* Enters the expires entry of a new object that has an expiry time, from the spare. */
static void expire_enter(struct store *store, uint32_t key_ref, struct store_expire *spare)
{
    KV_ASSERT(spare != NULL); /* the caller took it before building */
    *spare = (struct store_expire){.link = HEAP_REF_NONE, .key_ref = key_ref};
    dict_insert(&store->db->expires, heap_ref(store->heap, spare));
}

void store_key_insert(struct store *store, struct store_found *found, struct store_key *object,
                      struct store_expire *expire_spare)
{
    KV_ASSERT(!found->exists);
    struct slice name = store_key_name(object);
    if (store->touched != NULL) {
        store->touched(store->touched_context, store->db_index, store_key_hash(store, name),
                       name);
    }
    uint32_t ref = heap_ref(store->heap, object);
    (void)keys_call(store);
    dict_insert(&store->db->keys, ref);
    if (slots_indexed(store)) {
        slot_insert(store, ref);
    }
    if (object->meta & STORE_META_EXPIRES) {
        expire_enter(store, ref, expire_spare);
    } else if (expire_spare != NULL) {
        heap_release(store->heap, expire_spare);
    }
    *found = (struct store_found){.key_ref = ref, .type = store_key_type(object), .exists = true};
    store_event_emit(store, STORE_EVENT_NEW, name);
}

void store_key_swap(struct store *store, struct store_found *found, struct store_key *object,
                    struct store_expire *expire_spare)
{
    struct store_key *old = store_key(store, found->key_ref);
    KV_ASSERT(slice_equal(store_key_name(old), store_key_name(object)));
    store_modified(store, old);
    struct dict_position position = key_position(store, found);
    uint32_t ref = heap_ref(store->heap, object);
    /* The same name: the new object takes the old one's place in its slot's list. */
    struct link_kept kept = link_keep(store, found);
    bool old_expires = (old->meta & STORE_META_EXPIRES) != 0;
    bool new_expires = (object->meta & STORE_META_EXPIRES) != 0;
    if (old_expires) {
        struct dict_position expire_position;
        struct store_expire *expire = expire_entry(store, old, &expire_position);
        if (new_expires) {
            expire->key_ref = ref; /* the same name: it stays where it is */
        } else {
            dict_remove_at(&store->db->expires, expire_position);
            heap_release(store->heap, expire);
        }
    } else if (new_expires) {
        expire_enter(store, ref, expire_spare);
        expire_spare = NULL;
    }
    if (expire_spare != NULL) {
        heap_release(store->heap, expire_spare);
    }
    type_ops(store, store_key_type(old))->release(store, old);
    if (clock_lfu(store)) {
        key_clock_set(object, key_clock(old)); /* an overwrite keeps the key's frequency */
    }
    object->link = old->link; /* the chain goes on through the new object */
    (void)keys_call(store);
    dict_replace_at(&store->db->keys, position, ref);
    if (kept.kept) {
        slot_relink(store, kept.ref, ref, kept.link);
    }
    heap_release(store->heap, old);
    *found = (struct store_found){.key_ref = ref, .type = store_key_type(object), .exists = true};
}

enum store_status store_key_create(struct store *store, struct store_found *found,
                                   struct slice key, uint8_t type, uint32_t value_bytes)
{
    KV_ASSERT(!found->exists);
    KV_ASSERT(store_key_check(store, key) == STORE_OK);
    struct store_key *object = store_key_build(store, key, type, value_bytes, 0);
    if (object == NULL) {
        return STORE_OOM;
    }
    store_key_insert(store, found, object, NULL);
    KV_ASSERT(found->exists && store_key(store, found->key_ref) == object);
    return STORE_OK;
}

enum store_status store_key_resize(struct store *store, struct store_found *found,
                                   uint32_t value_bytes)
{
    struct store_key *key = store_key(store, found->key_ref);
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_EMBEDDED);
    uint64_t bytes = store_key_object_bytes(key->key_bytes, value_bytes,
                                            (key->meta & STORE_META_EXPIRES) != 0);
    struct link_kept kept = link_keep(store, found);
    if (!object_resize(store, found, bytes)) {
        return STORE_OOM;
    }
    key = store_key(store, found->key_ref);
    key->value = value_bytes;
    link_restore(store, found, &kept);
    KV_ASSERT(object_bytes(key) == bytes);
    return STORE_OK;
}

void store_key_set_root(struct store *store, struct store_found *found, uint8_t encoding,
                        uint32_t value_ref)
{
    KV_ASSERT(encoding != STORE_ENCODING_EMBEDDED && encoding <= STORE_META_ENCODING_MASK);
    KV_ASSERT(value_ref != HEAP_REF_NONE);
    struct store_key *key = store_key(store, found->key_ref);
    struct link_kept kept = link_keep(store, found);
    if (store_key_encoding(key) == STORE_ENCODING_EMBEDDED && key->value > 0) {
        bool shrunk = object_resize(store, found,
                                    store_key_object_bytes(key->key_bytes, 0,
                                                           (key->meta & STORE_META_EXPIRES) != 0));
        KV_ASSERT(shrunk); /* a shrinking resize never fails */
        key = store_key(store, found->key_ref);
    }
    key->meta = (key->meta & ~(STORE_META_ENCODING_MASK << STORE_META_ENCODING_SHIFT)) |
                ((uint32_t)encoding << STORE_META_ENCODING_SHIFT);
    key->value = value_ref;
    link_restore(store, found, &kept);
    KV_ASSERT(store_key_encoding(key) == encoding);
}

enum store_status store_key_set_embedded(struct store *store, struct store_found *found,
                                         uint32_t value_bytes)
{
    struct store_key *key = store_key(store, found->key_ref);
    KV_ASSERT(store_key_encoding(key) != STORE_ENCODING_EMBEDDED);
    uint64_t bytes = store_key_object_bytes(key->key_bytes, value_bytes,
                                            (key->meta & STORE_META_EXPIRES) != 0);
    struct link_kept kept = link_keep(store, found);
    if (!object_resize(store, found, bytes)) {
        return STORE_OOM;
    }
    key = store_key(store, found->key_ref);
    key->meta &= ~(STORE_META_ENCODING_MASK << STORE_META_ENCODING_SHIFT);
    key->value = value_bytes;
    link_restore(store, found, &kept);
    KV_ASSERT(store_key_encoding(key) == STORE_ENCODING_EMBEDDED);
    return STORE_OK;
}

void store_key_retype(struct store_key *key, uint8_t type)
{
    KV_ASSERT(type > STORE_TYPE_ANY && type < STORE_TYPE_COUNT);
    key->meta = (key->meta & ~STORE_META_TYPE_MASK) | type;
    KV_ASSERT(store_key_type(key) == type);
}

void store_value_release(struct store *store, struct store_found *found)
{
    struct store_key *key = store_key(store, found->key_ref);
    type_ops(store, store_key_type(key))->release(store, key);
    if (store_key_encoding(key) != STORE_ENCODING_EMBEDDED) {
        key->meta &= ~(STORE_META_ENCODING_MASK << STORE_META_ENCODING_SHIFT);
        key->value = 0;
        return;
    }
    if (key->value > 0) {
        enum store_status status = store_key_resize(store, found, 0);
        KV_ASSERT(status == STORE_OK); /* shrinking */
    }
}

/* Gives the key object room for an expiry time (or takes it away), moving the key and
 * embedded value bytes along. */
static bool expire_field(struct store *store, struct store_found *found, bool wanted)
{
    struct store_key *key = store_key(store, found->key_ref);
    bool has = (key->meta & STORE_META_EXPIRES) != 0;
    KV_ASSERT(has != wanted);
    uint64_t tail_bytes = object_bytes(key) - sizeof(struct store_key) -
                          (has ? sizeof(int64_t) : 0); /* key and embedded value */
    uint64_t bytes = object_bytes(key) + (wanted ? sizeof(int64_t) : 0) -
                     (wanted ? 0 : sizeof(int64_t));
    struct link_kept kept = link_keep(store, found); /* the moves below overwrite it */
    if (wanted) {
        if (!object_resize(store, found, bytes)) {
            return false;
        }
        key = store_key(store, found->key_ref);
        memmove((uint8_t *)(key + 1) + sizeof(int64_t), key + 1, tail_bytes);
        key->meta |= STORE_META_EXPIRES;
        link_restore(store, found, &kept);
        return true;
    }
    memmove(key + 1, (uint8_t *)(key + 1) + sizeof(int64_t), tail_bytes);
    key->meta &= ~STORE_META_EXPIRES;
    bool shrunk = object_resize(store, found, bytes);
    KV_ASSERT(shrunk);
    link_restore(store, found, &kept);
    return true;
}

enum store_status store_expire_set(struct store *store, struct store_found *found, int64_t at_ms)
{
    KV_ASSERT(found->exists);
    KV_ASSERT(at_ms >= 0);
    struct store_key *key = store_key(store, found->key_ref);
    KV_ASSERT(store_key_live(store, key));
    if (at_ms != 0 && at_ms <= store->now_ms) {
        key_remove(store, found);
        return STORE_NOT_FOUND;
    }
    bool has = (key->meta & STORE_META_EXPIRES) != 0;
    if (at_ms == 0 && has) {
        struct dict_position position;
        struct store_expire *expire = expire_entry(store, key, &position);
        dict_remove_at(&store->db->expires, position);
        heap_release(store->heap, expire);
        (void)expire_field(store, found, false);
    } else if (at_ms != 0 && !has) {
        /* The entry first, then the room: either failing changes nothing. */
        struct store_expire *expire = heap_alloc(store->heap, sizeof(*expire));
        if (expire == NULL) {
            return STORE_OOM;
        }
        if (!expire_field(store, found, true)) {
            heap_release(store->heap, expire);
            return STORE_OOM;
        }
        *expire = (struct store_expire){.link = HEAP_REF_NONE, .key_ref = found->key_ref};
        dict_insert(&store->db->expires, heap_ref(store->heap, expire));
    }
    key = store_key(store, found->key_ref);
    if (at_ms != 0) {
        memcpy(key + 1, &at_ms, sizeof(at_ms));
    }
    KV_ASSERT(store_key_expire(key) == at_ms);
    return STORE_OK;
}

/* Active expiry's visitor: collects expired keys of one bucket (names cannot be removed
 * while the scan looks at them), at most `room` of them. */
struct expire_batch {
    const struct store *store;
    uint32_t key_refs[STORE_EXPIRE_BATCH];
    uint32_t count;
    uint32_t room;            /* keys it may still collect, at most STORE_EXPIRE_BATCH */
    bool overflowed;          /* the bucket held more: the cursor stays for the rest */
    int64_t ttl_sum_ms;       /* the live keys' TTLs met (avg_ttl), and how many */
    uint64_t ttl_samples;
};

static void expire_visit(void *context, uint32_t entry_ref)
{
    struct expire_batch *batch = context;
    const struct store_expire *expire = heap_pointer(batch->store->heap, entry_ref);
    const struct store_key *key = store_key(batch->store, expire->key_ref);
    if (store_key_live(batch->store, key)) {
        int64_t ttl_ms = store_key_expire(key) - batch->store->now_ms;
        if (ttl_ms > 0 && batch->ttl_sum_ms <= INT64_MAX - ttl_ms) {
            batch->ttl_sum_ms += ttl_ms;
            batch->ttl_samples++;
        }
        return;
    }
    if (batch->count == batch->room) {
        batch->overflowed = true;
        return;
    }
    batch->key_refs[batch->count++] = expire->key_ref;
}

/* Active expiry in the selected database: at most *steps_left scan steps (each takes one)
 * and `keys_max` removals. Returns how many it removed; *swept tells the database's cursor
 * came back to 0 (a full sweep) or it has no key with a time. */
static uint32_t expire_slice_db(struct store *store, uint32_t keys_max, uint32_t *steps_left,
                                bool *swept)
{
    uint32_t removed = 0;
    *swept = store_expires_count(store) == 0;
    if (*swept) {
        store->db->avg_ttl_ms = 0; /* as Redis, for a database without a key with a time */
    }
    int64_t ttl_sum_ms = 0;
    uint64_t ttl_samples = 0;
    /* Bounded by *steps_left scan steps and keys_max removals. */
    for (; *steps_left > 0 && removed < keys_max && !*swept; (*steps_left)--) {
        uint32_t room = keys_max - removed;
        struct expire_batch batch = {
            .store = store, .room = room < STORE_EXPIRE_BATCH ? room : STORE_EXPIRE_BATCH};
        uint64_t next =
            dict_scan(&store->db->expires, store->db->expire_cursor, expire_visit, &batch);
        if (batch.ttl_samples > 0 && ttl_sum_ms <= INT64_MAX - batch.ttl_sum_ms) {
            ttl_sum_ms += batch.ttl_sum_ms;
            ttl_samples += batch.ttl_samples;
        }
        for (uint32_t index = 0; index < batch.count; index++) {
            struct store_found found = {.key_ref = batch.key_refs[index], .exists = true};
            found.type = store_key_type(store_key(store, found.key_ref));
            store_event_emit(store, STORE_EVENT_EXPIRED,
                             store_key_name(store_key(store, found.key_ref)));
            key_remove(store, &found);
            store->expired_keys++;
            removed++;
        }
        if (!batch.overflowed) {
            store->db->expire_cursor = next;
            *swept = next == 0 || store_expires_count(store) == 0;
        }
    }
    if (ttl_samples > 0) {
        /* Redis's activeExpireCycle: the slice's average folded in at 1/50 (the first one
         * taken as it is), integer arithmetic as Redis's. */
        int64_t average = ttl_sum_ms / (int64_t)ttl_samples;
        int64_t *avg_ttl = &store->db->avg_ttl_ms;
        *avg_ttl = *avg_ttl == 0 ? average : (*avg_ttl / 50) * 49 + average / 50;
    }
    KV_ASSERT(store->db->avg_ttl_ms >= 0);
    KV_ASSERT(removed <= keys_max);
    return removed;
}

uint32_t store_expire_slice(struct store *store, uint32_t keys_max)
{
    uint32_t selected = store->db_index;
    uint32_t removed = 0;
    uint32_t steps_left = keys_max;
    /* Bounded by the databases: each pass either finishes a database's sweep (and moves on)
     * or spends the whole budget (and stops). */
    for (uint32_t visited = 0; visited < store->db_count && removed < keys_max && steps_left > 0;
         visited++) {
        KV_ASSERT(store->expire_db_index < store->db_count);
        store_select(store, store->expire_db_index);
        bool swept = false;
        removed += expire_slice_db(store, keys_max - removed, &steps_left, &swept);
        if (!swept) {
            break; /* the budget ran out inside this database: the next call goes on here */
        }
        store->expire_db_index = (store->expire_db_index + 1) % store->db_count;
    }
    store_select(store, selected);
    KV_ASSERT(removed <= keys_max);
    return removed;
}

void store_remove(struct store *store, struct store_found *found)
{
    KV_ASSERT(found->exists);
    key_remove(store, found);
    KV_ASSERT(!found->exists);
}

bool store_delete(struct store *store, struct slice key)
{
    struct store_found found;
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
    if (!found.exists) {
        return false;
    }
    key_remove(store, &found);
    return true;
}

enum store_status store_rename(struct store *store, struct store_found *source,
                               struct slice new_key, struct store_found *target)
{
    KV_ASSERT(source->exists);
    struct store_key *key = store_key(store, source->key_ref);
    bool expires = (key->meta & STORE_META_EXPIRES) != 0;
    bool embedded = store_key_encoding(key) == STORE_ENCODING_EMBEDDED;
    uint64_t value_bytes = embedded ? key->value : 0;
    struct store_key *renamed =
        heap_alloc(store->heap, store_key_object_bytes(new_key.length, value_bytes, expires) +
                                    store->slot_trailer_bytes);
    struct store_expire *expire = NULL;
    if (renamed == NULL) {
        return STORE_OOM;
    }
    if (target->exists) {
        key_remove(store, target);
        key = store_key(store, source->key_ref);
    }
    store_modified(store, key);
    if (store->touched != NULL) {
        store->touched(store->touched_context, store->db_index, store_key_hash(store, new_key),
                       new_key);
    }
    /* The new object: the same head, expiry and value, the new name. */
    *renamed = *key;
    renamed->link = HEAP_REF_NONE;
    renamed->key_bytes = new_key.length;
    uint8_t *at = (uint8_t *)(renamed + 1);
    if (expires) {
        int64_t at_ms = store_key_expire(key);
        memcpy(at, &at_ms, sizeof(at_ms));
        at += sizeof(at_ms);
        struct dict_position expire_position;
        expire = expire_entry(store, key, &expire_position);
        dict_remove_at(&store->db->expires, expire_position);
    }
    if (new_key.length > 0) {
        memcpy(at, new_key.bytes, new_key.length);
    }
    if (value_bytes > 0) {
        memcpy(at + new_key.length, store_key_embedded(key).bytes, value_bytes);
    }
    struct dict_position position = key_position(store, source);
    (void)keys_call(store);
    dict_remove_at(&store->db->keys, position);
    if (slots_indexed(store)) {
        slot_remove(store, source->key_ref); /* the object is still whole */
    }
    heap_release(store->heap, key);
    uint32_t ref = heap_ref(store->heap, renamed);
    (void)keys_call(store);
    dict_insert(&store->db->keys, ref);
    if (slots_indexed(store)) {
        slot_insert(store, ref); /* first in the new name's slot */
    }
    if (expire != NULL) {
        expire->key_ref = ref;
        expire->link = HEAP_REF_NONE;
        dict_insert(&store->db->expires, heap_ref(store->heap, expire));
    }
    *source = (struct store_found){.key_ref = ref, .type = store_key_type(renamed),
                                   .exists = true};
    store_event_emit(store, STORE_EVENT_NEW, new_key); /* Redis's rename adds the new name */
    store_ready(store, renamed); /* the new name may be a key a client waits on */
    return STORE_OK;
}

/* FLUSHALL's release of each key: watchers told, value and object given back. */
static void flush_key(void *context, uint32_t key_ref)
{
    struct store *store = context;
    struct store_key *key = store_key(store, key_ref);
    store_modified(store, key);
    type_ops(store, store_key_type(key))->release(store, key);
    heap_release(store->heap, key);
}

static void flush_expire(void *context, uint32_t entry_ref)
{
    struct store *store = context;
    heap_release(store->heap, heap_pointer(store->heap, entry_ref));
}

void store_flush(struct store *store)
{
    dict_clear(&store->db->expires, flush_expire, store);
    store->db->avg_ttl_ms = 0; /* as Redis's emptyDb */
    (void)keys_call(store);
    dict_clear(&store->db->keys, flush_key, store);
    if (slots_indexed(store)) {
        slots_reset(store);
    }
    store->db->expire_cursor = 0;
    KV_ASSERT(store_key_count(store) == 0);
    KV_ASSERT(store_expires_count(store) == 0);
}

void store_flush_all(struct store *store)
{
    uint32_t selected = store->db_index;
    /* Bounded by the databases. */
    for (uint32_t index = 0; index < store->db_count; index++) {
        store_select(store, index);
        store_flush(store);
    }
    store_select(store, selected);
    KV_ASSERT(store_key_count(store) == 0);
}

void store_move(struct store *store, struct store_found *found, uint32_t target_index)
{
    KV_ASSERT(found->exists);
    KV_ASSERT(target_index < store->db_count && target_index != store->db_index);
    uint32_t source_index = store->db_index;
    struct store_key *key = store_key(store, found->key_ref);
    struct slice name = store_key_name(key);
    KV_ASSERT(!store_db_contains(store, target_index, name));
    store_modified(store, key);
    /* Out of the source's dicts: the object and its expires entry stay as they are. */
    struct store_expire *expire = NULL;
    if (key->meta & STORE_META_EXPIRES) {
        struct dict_position expire_position;
        expire = expire_entry(store, key, &expire_position);
        dict_remove_at(&store->db->expires, expire_position);
        expire->link = HEAP_REF_NONE;
    }
    struct dict_position position = key_position(store, found);
    (void)keys_call(store);
    dict_remove_at(&store->db->keys, position);
    if (slots_indexed(store)) {
        slot_remove(store, found->key_ref); /* out of database 0 */
    }
    key->link = HEAP_REF_NONE;
    /* Into the target's, as Redis's dbAdd there. */
    store_select(store, target_index);
    if (store->touched != NULL) {
        store->touched(store->touched_context, store->db_index, store_key_hash(store, name),
                       name);
    }
    (void)keys_call(store);
    dict_insert(&store->db->keys, found->key_ref);
    if (slots_indexed(store)) {
        slot_insert(store, found->key_ref); /* into database 0 */
    }
    if (expire != NULL) {
        dict_insert(&store->db->expires, heap_ref(store->heap, expire));
    }
    store_event_emit(store, STORE_EVENT_NEW, name);
    store_ready(store, key);
    store_select(store, source_index);
    *found = (struct store_found){.type = STORE_TYPE_ANY};
    KV_ASSERT(store_db_contains(store, target_index, name));
}

uint64_t store_scan(const struct store *store, uint64_t cursor,
                    void (*visit)(void *context, uint32_t key_ref), void *context)
{
    return dict_scan(&store->db->keys, cursor, visit, context);
}

uint64_t store_key_object_bound_bytes(uint64_t key_bytes)
{
    uint64_t bytes = heap_rounded_bytes(store_key_object_bytes(key_bytes, 0, true));
    KV_ASSERT(bytes > key_bytes);
    return bytes;
}

uint32_t store_sample(struct store *store, bool volatile_only, uint32_t *key_refs,
                      uint32_t wanted)
{
    KV_ASSERT(wanted > 0);
    const struct dict *dict = volatile_only ? &store->db->expires : &store->db->keys;
    uint32_t count = dict_sample(dict, key_refs, wanted, &store->random_state);
    KV_ASSERT(count <= wanted);
    /* Bounded by count: an expires entry names its key object. */
    for (uint32_t index = 0; volatile_only && index < count; index++) {
        const struct store_expire *expire = heap_pointer(store->heap, key_refs[index]);
        key_refs[index] = expire->key_ref;
    }
    return count;
}

bool store_random_key(struct store *store, uint32_t *key_ref)
{
    /* Bounded tries: expired keys met are removed, so the next draw is among fewer. */
    for (uint32_t tries = 0; tries < STORE_RANDOM_TRIES && store_key_count(store) > 0; tries++) {
        uint32_t ref = dict_random(&store->db->keys, &store->random_state); /* changes nothing */
        KV_ASSERT(ref != HEAP_REF_NONE);
        struct store_key *key = store_key(store, ref);
        if (store_key_live(store, key)) {
            *key_ref = ref;
            return true;
        }
        struct store_found found = {.key_ref = ref, .type = store_key_type(key), .exists = true};
        store_event_emit(store, STORE_EVENT_EXPIRED, store_key_name(key));
        key_remove(store, &found);
        store->expired_keys++;
    }
    return false;
}

void store_walk_start(const struct store *store, struct dict_walk *walk)
{
    dict_walk_start(&store->db->keys, walk);
}

bool store_walk_next(const struct store *store, struct dict_walk *walk, uint32_t *key_ref)
{
    return dict_walk_next(&store->db->keys, walk, key_ref);
}

/* Checks one database's dicts and keys; returns the heap allocations it holds. */
static uint64_t verify_db(const struct store *store, const struct store_db *db,
                          struct store_usage *usage)
{
    dict_verify(&db->keys);
    dict_verify(&db->expires);
    uint64_t expiring = 0;
    struct dict_walk walk;
    dict_walk_start(&db->keys, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the key count: a walk meets each entry once. */
    while (dict_walk_next(&db->keys, &walk, &ref)) {
        const struct store_key *key = store_key(store, ref);
        uint8_t type = store_key_type(key);
        KV_ASSERT(type > STORE_TYPE_ANY && type < STORE_TYPE_COUNT);
        KV_ASSERT(key->key_bytes <= store->limits.key_bytes_max);
        KV_ASSERT(heap_usable_bytes(store->heap, key) >=
                  object_bytes(key) + store->slot_trailer_bytes);
        if (key->meta & STORE_META_EXPIRES) {
            expiring++;
            KV_ASSERT(store_key_expire(key) > 0);
            /* Its expires entry is in the same database. */
            KV_ASSERT(dict_lookup(&db->expires, store_key_name(key)) != HEAP_REF_NONE);
        }
        type_ops(store, type)->verify(store, key, usage);
    }
    KV_ASSERT(expiring == dict_count(&db->expires));
    return dict_count(&db->keys) + dict_count(&db->expires) + dict_allocations(&db->keys) +
           dict_allocations(&db->expires);
}

uint64_t store_verify(const struct store *store)
{
    KV_ASSERT(store->db_count > 0 && store->db_index < store->db_count);
    KV_ASSERT(store->db == &store->dbs[store->db_index]);
    KV_ASSERT(store->expire_db_index < store->db_count);
    struct store_usage usage = {0};
    uint64_t allocations = store->dbs != store->dbs_inline ? 1 : 0; /* the databases' array */
    if (store->slots != NULL) {
        KV_ASSERT(store->slot_trailer_bytes == STORE_SLOT_TRAILER_BYTES);
        verify_slots(store);
        allocations++; /* the slot table */
    } else {
        KV_ASSERT(store->slot_trailer_bytes == 0);
    }
    /* Bounded by the databases. */
    for (uint32_t index = 0; index < store->db_count; index++) {
        allocations += verify_db(store, &store->dbs[index], &usage);
    }
    /* Bounded by the types. */
    for (uint8_t type = STORE_TYPE_ANY + 1; type < STORE_TYPE_COUNT; type++) {
        const struct store_type_ops *ops = store->types[type];
        if (ops != NULL && ops->verify_state != NULL) {
            usage.allocations += ops->verify_state(store, &usage);
        }
    }
    return allocations + usage.allocations;
}
