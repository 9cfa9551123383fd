/*
 * The store's core: the keyspace. Every key is one object in the heap (the memory budget),
 * found through a dict: the object holds the key's type and encoding, its access clock (LRU or
 * LFU, as Redis keeps 24 bits), its expiry time when it has one, the key's bytes, and either
 * a small value embedded after the key or the heap reference of a larger one. Keys with an
 * expiry time are also in a second dict, for active expiry and volatile eviction. The core
 * owns keys (find, create, resize, remove, rename, walk, expiry); it knows a value type only
 * through the operations table the type registers (struct store_type_ops), so it never names
 * a type's functions. Each store_<type>.c fills one in, and include/store_<type>.h holds that
 * type's reads and writes.
 *
 * Memory: everything comes from the heap, and any write may find it full: it then answers
 * STORE_OOM having changed nothing (a write takes all the memory it needs before it changes
 * anything). The per-key caps of the seed (key_size_max, val_size_max, list_length_max,
 * key_count) apply when set; 0 means Redis's own limits. Nothing stored points into a
 * connection's buffer: writes copy. No I/O; nothing is allocated but from the heap.
 *
 * Databases: the keyspace is `databases` (Redis's parameter, default 16) databases, each a
 * keys dict and an expires dict starting with its inline bucket (the array of them is in
 * the store for the default count, else one heap allocation at init). Every call below works
 * in the selected one (store_select), so the type files never name a database; the command
 * layer selects the client's before each command, and what walks them all (active expiry,
 * eviction, FLUSHALL, INFO, verify) gives the selection back as it found it. The hooks learn
 * the database from store.db_index.
 *
 * Cluster mode (store_slots_enable): database 0 also keeps its keys by slot (Redis's CRC16
 * slots, keyslot.h), in a list per slot threaded through a trailer of each key object, so
 * that CLUSTER COUNTKEYSINSLOT, GETKEYSINSLOT and slot migration never walk the keyspace.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

enum store_type {
    STORE_TYPE_ANY = 0,    /* store_find_typed: whatever the key holds; never a key's type */
    STORE_TYPE_STRING = 1,
    STORE_TYPE_LIST = 2,
    STORE_TYPE_HASH = 3,
    STORE_TYPE_SET = 4,
    STORE_TYPE_ZSET = 5,
    STORE_TYPE_STREAM = 6,
    STORE_TYPE_COUNT = 7,  /* entries of store.types, indexed by type */
};

enum store_status {
    STORE_OK,
    STORE_NOT_FOUND,
    STORE_WRONGTYPE,     /* the key holds another type */
    STORE_OOM,           /* the heap has no room for what the write needs: nothing changed */
    STORE_FULL,          /* key_count keys exist (a cap that is set) */
    STORE_KEY_TOO_LONG,  /* key longer than key_size_max */
    STORE_VALUE_TOO_LONG,/* value longer than val_size_max */
    STORE_LIST_FULL,     /* the push would make the list longer than list_length_max */
    STORE_FIELD_TOO_LONG,/* a hash field longer than key_size_max */
    STORE_HASH_FULL,     /* the hash would hold more than list_length_max fields */
    STORE_MEMBER_TOO_LONG,/* a set member longer than key_size_max */
    STORE_SET_FULL,      /* the set would hold more than list_length_max members */
    STORE_ZSET_FULL,     /* the sorted set would hold more than list_length_max members */
};

/* The meta word of a key object. */
#define STORE_META_TYPE_MASK 0x7u        /* enum store_type */
#define STORE_META_SHAPE_LOW 0x8u        /* enum store_shape's low bit */
#define STORE_META_ENCODING_SHIFT 4u     /* the type's encoding, 2 bits */
#define STORE_META_ENCODING_MASK 0x3u
#define STORE_META_SHAPE_HIGH 0x40u      /* enum store_shape's high bit */
#define STORE_META_EXPIRES 0x80u         /* an int64 expiry time follows the head */
#define STORE_META_CLOCK_SHIFT 8u        /* 24 bits: LRU seconds, or LFU time and counter */
#define STORE_META_CLOCK_MASK 0xffffffu
/* Under an LFU policy the clock is 16 bits of minutes (when the counter last decayed) and an
 * 8-bit logarithmic counter, which a new key starts at (Redis's LFU_INIT_VAL). */
#define STORE_LFU_INIT 5u

/* Encodings of a value. EMBEDDED ones live after the key in the key object (value is their
 * byte count); the others are a separate heap allocation (value is its reference), whose
 * meaning each type gives (a string's blob; a collection's pack, intset, dict, quicklist or
 * tree). */
enum store_encoding {
    STORE_ENCODING_EMBEDDED = 0,  /* bytes after the key (strings) */
    STORE_ENCODING_RAW = 1,       /* a string's blob; a type's first separate form */
    STORE_ENCODING_ROOT = 2,      /* a type's second separate form */
    STORE_ENCODING_ROOT2 = 3,     /* a type's third */
};
static_assert(STORE_TYPE_COUNT - 1 <= STORE_META_TYPE_MASK, "a key's type fits its bits");
static_assert(STORE_ENCODING_ROOT2 <= STORE_META_ENCODING_MASK, "an encoding fits its bits");

/* What Redis 7.0 would answer to OBJECT ENCODING where kv's own representation cannot tell
 * (kv keeps its data its own way): two meta bits, 0 in a new key object, kept by every write
 * that keeps the object (a resize or rename copies the head), set by the writes that cross
 * Redis's thresholds. A type reads them its own way. */
enum store_shape {
    STORE_SHAPE_COMPACT = 0,   /* a collection: intset or listpack; a string: as SET stores
                                  its bytes (int, embstr or raw by tryObjectEncoding) */
    STORE_SHAPE_CONVERTED = 1, /* a collection: hashtable or skiplist, for good; a string:
                                  raw (APPEND, SETRANGE, SETBIT, BITOP, ... made it) */
    STORE_SHAPE_NUMBER = 2,    /* a string made from a number's text (INCRBYFLOAT): embstr
                                  or raw by its length, never int */
    STORE_SHAPE_UNSHARED = 3,  /* a string as COMPACT, but an integer of its own where Redis
                                  would share it (COPY duplicates the object): REFCOUNT 1 */
};

/* The head of a key object: then [int64 expire_at_ms when STORE_META_EXPIRES], the key's
 * bytes, and an embedded value's bytes. */
struct store_key {
    uint32_t link;       /* the keyspace dict's chain; first, as the dict requires */
    uint32_t meta;       /* STORE_META_*: type, encoding, expires, clock */
    uint32_t key_bytes;  /* key length */
    uint32_t value;      /* embedded: the value's bytes after the key; else the heap reference
                            of the value's allocation */
};

/* A string or value too large to embed: its length, then its bytes. */
struct store_blob {
    uint64_t bytes;      /* length of data */
    uint8_t data[];
};

/* What the keys' values hold, tallied by store_verify through each type's verify. */
struct store_usage {
    uint64_t allocations; /* heap allocations the values hold, key objects excluded */
    uint64_t shared_refs; /* references the values hold to what a type shares between keys
                             (hash shapes), for the type's verify_state */
};

struct store;

/* What the core needs from a value type. Each store_<type>.c fills one in and registers it
 * from store_<type>_init. */
struct store_type_ops {
    const char *name;  /* TYPE's answer and SCAN's TYPE filter: "string", "list", ... */
    /* Gives back what the key's value holds outside the key object (its allocations); the
     * key is being removed or replaced. */
    void (*release)(struct store *store, struct store_key *key);
    /* Asserts the invariants of a live key's value and counts its allocations. */
    void (*verify)(const struct store *store, const struct store_key *key,
                   struct store_usage *usage);
    /* Elements the value holds (a string's bytes, a collection's members). */
    uint64_t (*length)(const struct store *store, const struct store_key *key);
    /* Heap bytes the value holds outside the key object (usable sizes of its allocations):
     * MEMORY USAGE, and what evicting the key gives back. */
    uint64_t (*memory)(const struct store *store, const struct store_key *key);
    /* Redis's OBJECT ENCODING name for a value of this shape ("embstr", "listpack",
     * "hashtable", ...); NULL: "unknown". */
    const char *(*encoding_name)(const struct store *store, const struct store_key *key);
    /* Optional: asserts the invariants of what the type keeps beside its keys (its
     * type_state), given what the keys' verify tallied; returns the heap allocations it
     * holds. */
    uint64_t (*verify_state)(const struct store *store, const struct store_usage *usage);
};

/* The caps of the seed, 0 meaning none (Redis's limits). */
struct store_limits {
    uint64_t key_bytes_max;   /* key_size_max, else 512 MiB */
    uint64_t value_bytes_max; /* val_size_max, else proto-max-bulk-len */
    uint64_t length_max;      /* list_length_max, else 2^32 - 1 */
    uint64_t key_count_max;   /* key_count, else 2^32 - 1 */
};

/* Redis's default `databases`, used when the parameter cannot be read. */
#define STORE_DB_COUNT_DEFAULT 16u

/* One database (Redis's redisDb): its keys and the keys among them with an expiry time.
 * SWAPDB swaps two of these whole (a dict holds no pointer into itself: its inline bucket is
 * read through the struct), so a database's index is where it sits, never a field. */
struct store_db {
    struct dict keys;         /* key name -> key object */
    struct dict expires;      /* key name -> struct store_expire, keys with an expiry time */
    uint64_t expire_cursor;   /* the expires dict's SCAN cursor, for active expiry */
    int64_t avg_ttl_ms;       /* INFO keyspace's avg_ttl: Redis's estimate, smoothed over the
                                 TTLs active expiry meets (0: none met, or no key with one) */
};

/* Cluster mode: bytes each key object carries after its content (head, expiry time, key,
 * embedded value) for its slot's list: the previous and next key objects' references. */
#define STORE_SLOT_TRAILER_BYTES 8u

/* One slot of database 0's per-slot index (cluster mode, store_slots_enable): its keys in a
 * doubly linked list threaded through the key objects' trailers, newest first (as Redis 7.0's
 * slots_to_keys). */
struct store_slot {
    uint32_t head;            /* the first key object's reference; HEAP_REF_NONE: no key */
    uint32_t count;           /* keys in the list (keys are capped at 2^32 - 1) */
};

struct store {
    struct heap *heap;        /* every key, value and collection */
    struct store_db *dbs;     /* db_count databases: dbs_inline for Redis's default count or
                                 fewer, else one heap allocation made at init */
    struct store_db *db;      /* the selected one (&dbs[db_index]): every keyspace call below
                                 works in it; the command layer selects the client's */
    uint32_t db_count;        /* Redis's `databases` (immutable) */
    uint32_t db_index;        /* the selected database's index, < db_count */
    struct store_db dbs_inline[STORE_DB_COUNT_DEFAULT]; /* so an empty store of the default
                                 count holds no heap memory */
    const struct store_type_ops *types[STORE_TYPE_COUNT]; /* by enum store_type; each set by
                                                             its store_<type>_init */
    void *type_state[STORE_TYPE_COUNT]; /* what a type keeps beside its keys, in the heap
                                           (the hash type's shapes); NULL: nothing */
    struct store_limits limits; /* the seed's caps */
    const struct config *config; /* maxmemory-policy and the LFU options, read as they change */
    uint64_t seed;            /* hash seed, drawn at startup */
    int64_t now_ms;           /* the clock commands see: Unix ms, set by store_clock */
    uint32_t expire_db_index; /* the database active expiry goes on with */
    uint64_t expired_keys;    /* keys removed because their time passed (INFO) */
    uint64_t key_probe_count; /* finds of a key by name (tests count a command's) */
    uint64_t keys_calls;      /* calls into the keys dict so far: a position taken at call n
                                 is good while this is still n */
    uint64_t random_state;    /* xorshift state for RANDOMKEY and sampling; never 0 */
    /* Called with a key of the selected database (db_index) about to change, be created or
     * be removed (WATCH); NULL: none. */
    void (*touched)(void *touched_context, uint32_t db_index, uint32_t hash, struct slice key);
    void *touched_context;
    /* Called with a list or sorted set key that gained members, or a key renamed to a name
     * clients may wait on (blocked clients); NULL: none. */
    void (*ready)(void *ready_context, uint32_t hash, struct slice key);
    void *ready_context;
    /* Called with a key just created (STORE_EVENT_NEW, as Redis's dbAdd), or about to be
     * removed because its time passed (lazy or active expiry) or eviction chose it (keyspace
     * notifications); NULL: none, the common case. */
    void (*event)(void *event_context, uint8_t event, struct slice key);
    void *event_context;
    /* Cluster mode: database 0's keys by slot, KEYSLOT_COUNT entries in one heap allocation
     * taken by store_slots_enable; NULL when off (the default). */
    struct store_slot *slots;
    uint32_t slot_trailer_bytes; /* bytes after every key object's content for its slot links:
                                    STORE_SLOT_TRAILER_BYTES in cluster mode, else 0 */
};

/* What the event hook is told (enum for store.event). */
enum store_event {
    STORE_EVENT_NEW = 0,
    STORE_EVENT_EXPIRED = 1,
    STORE_EVENT_EVICTED = 2,
};

/* Tells the event hook, when there is one. */
static inline void store_event_emit(struct store *store, uint8_t event, struct slice key)
{
    if (store->event != NULL) {
        store->event(store->event_context, event, key);
    }
}

/* A key as store_find_typed found it, for the write that follows: the key object and where
 * the dict links it from (so that removing or moving it needs no second probe). The
 * position is good only until the keyspace changes; the core refreshes it when a write that
 * moved the key object needs it again. */
struct store_found {
    uint32_t key_ref;             /* the key object, when exists */
    struct dict_position position;/* where the keyspace linked it at keys_call */
    uint64_t keys_call;           /* store.keys_calls when position was taken; 0: never */
    uint8_t type;                 /* the key's enum store_type when exists; ANY otherwise */
    bool exists;                  /* a live key of any type has the name */
};

/* Sets the store up over the heap; it keeps `config` (which must outlive it) to read the
 * eviction policy as CONFIG SET changes it. No type is registered yet: the caller then calls
 * store_string_init, store_list_init, store_hash_init, store_set_init and store_zset_init
 * (a key of an unregistered type asserts when it is created). */
void store_init(struct store *store, struct heap *heap, const struct config *config,
                uint64_t seed);

/* Selects database `db_index` (< db_count): every keyspace call that follows works in it,
 * and the hooks are told keys of it (store.db_index). Positions taken in another database
 * are found again (the keys call count moves on). */
void store_select(struct store *store, uint32_t db_index);

/* SWAPDB: databases a and b exchange their keys, O(1); the selection stays at its index.
 * The caller tells watchers and blocked clients, as Redis does after swapping. */
void store_swap(struct store *store, uint32_t a_index, uint32_t b_index);

/* Keys and keys with an expiry time in database `db_index` (INFO keyspace). */
uint64_t store_db_key_count(const struct store *store, uint32_t db_index);
uint64_t store_db_expires_count(const struct store *store, uint32_t db_index);

/* INFO keyspace's avg_ttl of a database, in ms: as Redis's activeExpireCycle estimates it
 * from the live keys each expiry slice meets (an average of theirs, folded in at 1/50). */
int64_t store_db_avg_ttl(const struct store *store, uint32_t db_index);

/* Keys, and keys with an expiry time, of every database together (O(databases)): the
 * key_count cap, eviction, active expiry. */
uint64_t store_key_count_all(const struct store *store);
uint64_t store_expires_count_all(const struct store *store);

/* Whether database `db_index` holds a key of this name, live or not (Redis's dictFind, for
 * touching watched keys after SWAPDB). Changes nothing. */
bool store_db_contains(const struct store *store, uint32_t db_index, struct slice key);

/* MOVE: the live key found in the selected database goes to database `target_index`, which
 * has no key of that name (the caller looked), keeping its value and expiry time; no memory
 * is needed. Watchers are told in both, and the target's hooks as for a new key. */
void store_move(struct store *store, struct store_found *found, uint32_t target_index);

/* The key's hash, as the store's hooks give it (WATCH and blocked clients key their own
 * tables by it). */
uint32_t store_key_hash(const struct store *store, struct slice key);

/* Sets the clock that expiry is judged by (Unix ms); commands set it before they run. */
static inline void store_clock(struct store *store, int64_t now_ms)
{
    store->now_ms = now_ms;
}

/* Finds a live key in one probe: STORE_OK when it holds `type` (or any type, with
 * STORE_TYPE_ANY), STORE_WRONGTYPE when it holds another, STORE_NOT_FOUND when there is
 * none. *found is filled in every case (found->exists tells a key of any type, so a caller
 * that goes on to write may ignore the status). A key whose time has passed is removed here
 * (lazy expiry), so no command ever sees it. */
enum store_status store_find_typed(struct store *store, struct slice key, uint8_t type,
                                   struct store_found *found);

/* Finds a live key of any type: its key object's reference, or false. */
KV_MUST_USE bool store_find(struct store *store, struct slice key, uint32_t *key_ref);

/* Finds a key without changing anything, whether or not its time has passed (eviction and
 * OBJECT look without touching the key's clock). */
KV_MUST_USE bool store_peek(const struct store *store, struct slice key, uint32_t *key_ref);

/* Elements a live key's value holds (its type's length). */
uint64_t store_length(const struct store *store, uint32_t key_ref);

/* Heap bytes a live key takes: its object and its value's allocations. */
uint64_t store_memory(const struct store *store, uint32_t key_ref);

/* Removes the key now if its time has passed (WATCH, EXEC); nothing else. */
void store_expire_due(struct store *store, struct slice key);

static inline struct store_key *store_key(const struct store *store, uint32_t key_ref)
{
    return (struct store_key *)heap_pointer(store->heap, key_ref);
}

static inline uint8_t store_key_type(const struct store_key *key)
{
    return (uint8_t)(key->meta & STORE_META_TYPE_MASK);
}

static inline uint8_t store_key_encoding(const struct store_key *key)
{
    return (uint8_t)((key->meta >> STORE_META_ENCODING_SHIFT) & STORE_META_ENCODING_MASK);
}

static inline uint8_t store_key_shape(const struct store_key *key)
{
    return (uint8_t)(((key->meta & STORE_META_SHAPE_LOW) ? 1u : 0u) |
                     ((key->meta & STORE_META_SHAPE_HIGH) ? 2u : 0u));
}

/* Sets a live key's enum store_shape (COPY gives the copy its source's). */
static inline void store_key_shape_set(struct store_key *key, uint8_t shape)
{
    KV_ASSERT(shape <= STORE_SHAPE_UNSHARED);
    key->meta = (key->meta & ~(STORE_META_SHAPE_LOW | STORE_META_SHAPE_HIGH)) |
                ((shape & 1u) ? STORE_META_SHAPE_LOW : 0u) |
                ((shape & 2u) ? STORE_META_SHAPE_HIGH : 0u);
}

/* The key's bytes. */
struct slice store_key_name(const struct store_key *key);

/* The key's expiry time (Unix ms), 0 when it has none. */
int64_t store_key_expire(const struct store_key *key);

/* The bytes of an embedded value (read only; writers use store_internal.h). */
struct slice store_key_embedded(const struct store_key *key);

/* OBJECT ENCODING's answer for a live key (its type's encoding_name). */
const char *store_encoding_name(const struct store *store, const struct store_key *key);

/* The name a type registered ("string", "list", ...), for TYPE and SCAN's TYPE filter. */
const char *store_type_name(const struct store *store, uint8_t type);

/* Tells watchers a live key is about to change (every write that keeps the key calls it). */
void store_modified(struct store *store, const struct store_key *key);

/* Sets (at_ms > 0) or clears (0) the expiry time of a live key found with store_find_typed.
 * STORE_OK; STORE_NOT_FOUND when at_ms is already past, which removes the key (as Redis does
 * with a time in the past); STORE_OOM when the key object cannot grow by the time it keeps,
 * and then nothing changed. The caller tells watchers (store_modified) when the key stays.
 * The key object may move: *found follows it. */
KV_MUST_USE enum store_status store_expire_set(struct store *store, struct store_found *found,
                                               int64_t at_ms);

/* Active expiry: removes at most `keys_max` expired keys, looking at no more than that many
 * buckets of the expires dicts, database after database (the selection is kept), going on
 * from where the last call stopped (Redis's SCAN
 * cursor, so every key with a time is met in a full sweep). Returns how many it removed. */
uint32_t store_expire_slice(struct store *store, uint32_t keys_max);

/* Keys with an expiry time in the selected database. */
static inline uint64_t store_expires_count(const struct store *store)
{
    return dict_count(&store->db->expires);
}

/* Removes a key found with store_find_typed. */
void store_remove(struct store *store, struct store_found *found);

/* DEL one key in one probe; false if it was absent. */
bool store_delete(struct store *store, struct slice key);

/* Renames the key `source` (found) to new_key; `target` is what store_find_typed found for
 * new_key, another key than source (removed when it exists). The value and expiry time stay.
 * STORE_OOM (nothing changed) when the renamed object cannot be had. */
KV_MUST_USE enum store_status store_rename(struct store *store, struct store_found *source,
                                           struct slice new_key, struct store_found *target);

/* FLUSHDB: every key of the selected database goes; watchers of any of them are told.
 * O(keys). */
void store_flush(struct store *store);

/* FLUSHALL: every database flushed; the selection stays. O(keys). */
void store_flush_all(struct store *store);

/* SCAN: visits the keys of the bucket(s) `cursor` names (live or not: the visitor checks
 * expiry with store_key_live) and returns the next cursor, 0 when done. Redis's cursor: every
 * key present for a whole scan is visited at least once, whatever changes between calls. */
uint64_t store_scan(const struct store *store, uint64_t cursor,
                    void (*visit)(void *context, uint32_t key_ref), void *context);

/* Whether a key object found by a walk or scan is live (its time has not passed). */
bool store_key_live(const struct store *store, const struct store_key *key);

/* A random live key for RANDOMKEY, or false when there is none; expired ones met on the way
 * are removed (bounded tries). */
KV_MUST_USE bool store_random_key(struct store *store, uint32_t *key_ref);

/* Walks every key (KEYS): start with walk zeroed by store_walk_start. The store must not
 * change during the walk. */
void store_walk_start(const struct store *store, struct dict_walk *walk);
KV_MUST_USE bool store_walk_next(const struct store *store, struct dict_walk *walk,
                                 uint32_t *key_ref);

/* Up to `wanted` keys near a random spot of the keyspace, or of the keys with an expiry time
 * (volatile_only): their key objects in key_refs (eviction's sample, Redis's
 * dictGetSomeKeys). Changes nothing. */
uint32_t store_sample(struct store *store, bool volatile_only, uint32_t *key_refs,
                      uint32_t wanted);

/* Milliseconds since the key was last accessed, at the LRU clock's one-second resolution
 * (OBJECT IDLETIME, LRU eviction). Meaningful while the policy is not LFU. */
uint64_t store_key_idle_ms(const struct store *store, const struct store_key *key);

/* The key's LFU counter after the decay for the minutes it sat idle (OBJECT FREQ, LFU
 * eviction). Meaningful under an LFU policy. */
uint32_t store_key_lfu(const struct store *store, const struct store_key *key);

/* What the RDB keeps of a key's access clock under the current maxmemory-policy (Redis's
 * MAXMEMORY_FLAG_LRU / _LFU): an idle time (allkeys-lru, volatile-lru), a frequency (the LFU
 * policies), or nothing. */
enum store_clock_saved {
    STORE_CLOCK_SAVED_NONE = 0,
    STORE_CLOCK_SAVED_IDLE = 1,
    STORE_CLOCK_SAVED_FREQ = 2,
};
uint8_t store_clock_saved(const struct store *store);

/* Sets a live key's access clock as Redis's objectSetLRUOrLFU (RESTORE's IDLETIME and FREQ,
 * an RDB's IDLE and FREQ): under an LFU policy the counter `freq` (0..255; -1: unchanged),
 * else the time `idle_seconds` ago (-1: unchanged). Changes nothing else. */
void store_key_clock_restore(const struct store *store, struct store_key *key,
                             int64_t idle_seconds, int64_t freq);

/* The heap bytes of a key object for a collection (no value bytes in it) with an expiry
 * time, its class rounding included: kv --plan's share of a key beyond its value. */
uint64_t store_key_object_bound_bytes(uint64_t key_bytes);

/* Keys stored now in the selected database. */
static inline uint64_t store_key_count(const struct store *store)
{
    return dict_count(&store->db->keys);
}

/* Cluster mode (cluster-enabled): from now on database 0 keeps a per-slot index of its keys.
 * Called once at startup, before any key exists (main.c, wired by the lead/cluster-core).
 * Cost: one heap allocation of KEYSLOT_COUNT * 8 bytes (128 KiB) now, and
 * STORE_SLOT_TRAILER_BYTES (8) more in every key object (of any database) from now on, taken
 * with the object, so a key that cannot get them is refused as any OOM write (nothing
 * changes). Every way a key enters or leaves database 0 keeps the index exact in O(1) (a
 * rename, an overwrite, a resize and MOVE included), but FLUSHDB/FLUSHALL of database 0
 * (O(slots)) and SWAPDB with database 0 (rebuilt: O(slots + keys), where Redis refuses SWAPDB
 * in cluster mode). Not called: no trailer, no table, nothing changes. */
void store_slots_enable(struct store *store);
bool store_slots_enabled(const struct store *store);
/* Keys of database 0 in `slot` (< KEYSLOT_COUNT), live or past their time but not yet removed
 * (as Redis's COUNTKEYSINSLOT). O(1). Cluster mode only. */
uint64_t store_slot_key_count(const struct store *store, uint32_t slot);
/* Up to count_max key references (store_key(store, ref) gives the key) of `slot`, in a stable
 * order; returns how many were written. O(count_max), never a keyspace scan. The order is
 * the slot's list: newest key first (Redis's GETKEYSINSLOT order); a key keeps its place
 * while it is overwritten or changed, a renamed key goes first in its new slot. The
 * references are good until the keyspace changes. Cluster mode only. */
uint32_t store_slot_keys(const struct store *store, uint32_t slot, uint32_t count_max,
                         uint32_t *key_refs);

/* Checks every invariant of both dicts and each key (through its type's verify). Returns
 * the heap allocations the store holds (key objects, expires entries, bucket arrays and the
 * values'), which a test whose heap only the store uses compares with the heap's count. */
uint64_t store_verify(const struct store *store);

#endif
