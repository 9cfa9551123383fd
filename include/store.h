/*
 * The store's core: keys in fixed pools and one hash table, each key holding a value of one
 * type (string, list, hash, set, sorted set). The core owns the keys (find, insert, remove,
 * rename, walk), their expiry times, the pools every value type draws from, and the hooks
 * that tell WATCH and blocked clients about changes. It knows a value type only through the
 * operations table the type registers (struct store_type_ops): each store_<type>.c fills one
 * in, its include/store_<type>.h holds that type's reads and writes, and commands include
 * this header and the type headers they need. The core never names a type's functions.
 *
 * Sizes: every key can hold a collection of list_length_max members of maximal size, so the
 * value, node and field pools hold key_count * list_length_max slots (and list_length_max
 * more nodes and fields for a result a set command builds). Once a command has checked its
 * limits, no pool acquisition can fail. Nothing stored points into a connection's buffer:
 * writes copy into slots.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kv_assert.h"
#include "list.h"
#include "pool.h"
#include "region.h"
#include "slice.h"
#include "table.h"
#include "zset.h"

enum store_type {
    STORE_TYPE_ANY = 0,    /* store_find_typed: whatever the key holds; never a key's type */
    STORE_TYPE_STRING = 1,
    STORE_TYPE_LIST = 2,
    STORE_TYPE_HASH = 3,
    STORE_TYPE_SET = 4,
    STORE_TYPE_ZSET = 5,
    STORE_TYPE_COUNT = 6,  /* entries of store.types, indexed by type */
};

enum store_status {
    STORE_OK,
    STORE_NOT_FOUND,
    STORE_WRONGTYPE,     /* the key holds another type */
    STORE_FULL,          /* key_count keys exist: no slot for a new one */
    STORE_KEY_TOO_LONG,  /* key longer than key_size_max */
    STORE_VALUE_TOO_LONG,/* value longer than val_size_max */
    STORE_LIST_FULL,     /* the push would make the list longer than list_length_max */
    STORE_FIELD_TOO_LONG,/* a hash field longer than key_size_max */
    STORE_HASH_FULL,     /* the hash would hold more than list_length_max fields */
    STORE_MEMBER_TOO_LONG,/* a set member longer than key_size_max */
    STORE_SET_FULL,      /* the set would hold more than list_length_max members */
    STORE_ZSET_FULL,     /* the sorted set would hold more than list_length_max members */
};

/* The head of a key slot; key_size_max key bytes follow it. */
struct store_key {
    int64_t expire_at_ms;  /* Unix time in ms at which the key expires; 0: it does not */
    uint32_t hash;         /* low 32 bits of hashfn_bytes(key) */
    uint32_t key_bytes;    /* key length */
    uint32_t value_index;  /* STORE_TYPE_STRING: its value slot */
    uint8_t type;          /* enum store_type, never STORE_TYPE_ANY */
    uint8_t reserved[3];   /* zero */
    struct list list;      /* STORE_TYPE_LIST, STORE_TYPE_HASH, STORE_TYPE_SET: its nodes (a
                              hash's in insertion order, each with a field and a value slot);
                              STORE_TYPE_ZSET: head is the treap's root, count its size */
};

/* The head of a value slot (and of a field slot); val_size_max (key_size_max) bytes follow. */
struct store_value {
    uint32_t length;       /* bytes used */
};

/* What the keys' values hold, tallied by store_verify through each type's verify; each
 * total must equal its pool's used count. */
struct store_usage {
    uint64_t values_count; /* value slots */
    uint64_t fields_count; /* field slots (hash fields, set and sorted-set members) */
    uint64_t nodes_count;  /* list nodes (lists, hashes, sets) */
    uint64_t znodes_count; /* sorted-set nodes, each also one entry of the zmembers table */
};

struct store;

/* What the core needs from a value type. Each store_<type>.c fills one in and registers it
 * from store_<type>_init, so that the core removes, replaces, flushes, expires and verifies
 * keys without naming a type. A rename needs nothing from a type: the key keeps its slot,
 * and a sorted set's members are keyed by that slot, not by the name. */
struct store_type_ops {
    const char *name;  /* TYPE's answer and SCAN's TYPE filter: "string", "list", ... */
    /* Gives back every slot the key's value holds (value slot, nodes, fields, znodes and
     * their table entries), leaving the key slot: the key is being removed or replaced. */
    void (*release)(struct store *store, struct store_key *key);
    /* Asserts the invariants of the value of the live key at key_index and adds the slots
     * it holds to *usage. */
    void (*verify)(const struct store *store, uint32_t key_index, struct store_usage *usage);
};

struct store {
    struct table table;       /* hash -> key slot index */
    struct pool keys;         /* key_count slots: struct store_key + key_size_max */
    struct pool values;       /* key_count * list_length_max slots: store_value + val_size_max */
    struct pool nodes;        /* (key_count + 1) * list_length_max list nodes */
    struct pool fields;       /* (key_count + 1) * list_length_max slots: hash fields, set
                                 and sorted-set members (store_value + key_size_max) */
    struct pool znodes;       /* (key_count + 1) * list_length_max sorted-set nodes */
    struct zset_tree ztree;   /* the sorted sets' order over znodes (set by store_zset_init) */
    struct table zmembers;    /* (owner key slot, member) -> znode: O(1) member lookups */
    const struct store_type_ops *types[STORE_TYPE_COUNT]; /* by enum store_type; each set by
                                                             its store_<type>_init */
    uint64_t seed;            /* hash seed, drawn at startup */
    uint32_t key_size_max;    /* from the config */
    uint32_t val_size_max;    /* from the config */
    uint32_t list_length_max; /* from the config */
    int64_t now_ms;           /* the clock commands see: Unix ms, set by store_clock */
    uint32_t expires_count;   /* keys with an expiry time */
    uint32_t expire_cursor;   /* next table slot the active expiry examines */
    uint64_t expired_keys;    /* keys removed because their time passed (INFO) */
    uint64_t key_probe_count; /* probes of the key table for a key (tests count a command's) */
    /* Called with a key about to change, be created or be removed (WATCH); NULL: none. */
    void (*touched)(void *touched_context, uint32_t hash, struct slice key);
    void *touched_context;
    /* Called with a list or sorted set key that gained members, or a key renamed to a name
     * clients may wait on (blocked clients); NULL: none. */
    void (*ready)(void *ready_context, uint32_t hash, struct slice key);
    void *ready_context;
};

/* A key as store_find_typed found it, for the write that follows: the key slot, its table
 * entry (so that removing the key needs no second probe) and the key's hash (so that
 * creating it after a miss needs no second hash). table_slot is a hint: a key inserted or
 * removed since may have moved the entry, so the core checks it (one compare) before use and
 * walks from the key's home slot only when it moved. */
struct store_found {
    uint32_t key_index;  /* the key slot, when exists */
    uint32_t table_slot; /* its table entry when exists; the key's home slot otherwise */
    uint32_t hash;       /* store_key_hash(key), found or not */
    uint8_t type;        /* the key's enum store_type when exists; STORE_TYPE_ANY otherwise */
    bool exists;         /* a live key of any type has the name */
};

/* Bytes of one key slot and one value slot, and of the whole store, for the plan. */
uint32_t store_key_slot_bytes(const struct config *config);
uint32_t store_value_slot_bytes(const struct config *config);
uint64_t store_plan_keys_bytes(const struct config *config);
uint64_t store_plan_values_bytes(const struct config *config);
uint64_t store_plan_nodes_bytes(const struct config *config);
uint64_t store_plan_table_bytes(const struct config *config);
uint64_t store_plan_fields_bytes(const struct config *config);
uint64_t store_plan_zset_bytes(const struct config *config);

/* Carves every pool and table. No type is registered yet: the caller then calls
 * store_string_init, store_list_init, store_hash_init, store_set_init and store_zset_init
 * (a key of an unregistered type asserts when it is created). */
void store_init(struct store *store, struct region *region, const struct config *config,
                uint64_t seed);

/* The key's hash, as the table and the key slot keep it, and as the store's hooks give it
 * (WATCH and blocked clients key their own tables by it). */
uint32_t store_key_hash(const struct store *store, struct slice key);

/* Sets the clock that expiry is judged by (Unix ms); the loop calls it before each command. */
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

/* Finds a live key of any type: its slot index, or false (store_find_typed without the
 * record, for a command that only reads the key). */
KV_MUST_USE bool store_find(struct store *store, struct slice key, uint32_t *key_index);

/* Finds a key without changing anything, whether or not its time has passed (reply bounds:
 * an expired key only makes a bound larger). */
KV_MUST_USE bool store_peek(const struct store *store, struct slice key, uint32_t *key_index);

/* Removes the key now if its time has passed (WATCH, EXEC); nothing else. */
void store_expire_due(struct store *store, struct slice key);

/* The key's bytes. */
struct slice store_key_name(const struct store *store, uint32_t key_index);

/* The name a type registered ("string", "list", ...), for TYPE and SCAN's TYPE filter. */
const char *store_type_name(const struct store *store, uint8_t type);

/* Tells watchers a live key is about to change (every write that keeps the key calls it). */
void store_modified(struct store *store, uint32_t key_index);

/* Sets (at_ms > 0) or clears (0) the expiry time of a live key found with store_find_typed;
 * at_ms <= now removes the key and returns false (as Redis does with a time in the past).
 * The caller tells watchers (store_modified) when the key stays. */
bool store_expire_set(struct store *store, const struct store_found *found, int64_t at_ms);

/* Removes up to `slots_max` table slots' worth of expired keys, starting where the last call
 * stopped (active expiry). Returns how many keys it removed. */
uint32_t store_expire_slice(struct store *store, uint32_t slots_max);

/* Removes a key found with store_find_typed (its table slot spares a probe). */
void store_remove(struct store *store, const struct store_found *found);

/* DEL one key in one probe; false if it was absent. */
bool store_delete(struct store *store, struct slice key);

/* Renames the key `source` (found) to new_key, at most key_size_max bytes; `target` is what
 * store_find_typed found for new_key, another key than source. An existing target is
 * removed, its table entry reused for the new name. The value and expiry time stay. */
void store_rename(struct store *store, const struct store_found *source, struct slice new_key,
                  const struct store_found *target);

/* FLUSHALL: every key goes; watchers of any key are told. */
void store_flush(struct store *store);

static inline struct store_key *store_key(const struct store *store, uint32_t key_index)
{
    return (struct store_key *)pool_slot(&store->keys, key_index);
}

/* The bytes of a value slot (a string's value, a list element, a hash value). */
struct slice store_value(const struct store *store, uint32_t value_index);

/* The bytes of a field slot (a hash field, a set or sorted-set member). */
struct slice store_field(const struct store *store, uint32_t field_index);

/* Walking the table by slot (SCAN, KEYS, RANDOMKEY): slots 0 .. table.capacity - 1. A key
 * only moves towards its home slot when another is removed, never past an empty slot, so a
 * walk that pauses only at empty slots meets every key present for the whole walk. */
static inline uint32_t store_slot_count(const struct store *store)
{
    return store->table.capacity;
}

/* The live key at a table slot (false for an empty slot or a key whose time has passed). */
KV_MUST_USE bool store_key_at(const struct store *store, uint32_t table_slot,
                              uint32_t *key_index);

/* Whether a table slot is empty (a walk may pause there). */
bool store_slot_empty(const struct store *store, uint32_t table_slot);

/* Keys stored now. */
static inline uint32_t store_key_count(const struct store *store)
{
    return store->table.count;
}

/* Checks every invariant of the table, the pools and each key's value (through its type's
 * verify), and that the values hold exactly the pools' used slots (debug and tests). */
void store_verify(const struct store *store);

#endif
