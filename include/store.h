/*
 * The store: keys mapped to string or list values, in three fixed pools (key slots, value
 * slots, list nodes) and one hash table, all carved at startup. Every key can hold a list of
 * list_length_max values of val_size_max bytes: the value and node pools hold
 * key_count * list_length_max slots, so once a command's limits are checked, its pool
 * acquisitions cannot fail. Commands check every limit before changing anything.
 * Nothing stored points into a connection's buffer: writes copy into slots.
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
    STORE_TYPE_STRING = 1,
    STORE_TYPE_LIST = 2,
    STORE_TYPE_HASH = 3,
    STORE_TYPE_SET = 4,
    STORE_TYPE_ZSET = 5,
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
    uint8_t type;          /* enum store_type */
    uint8_t reserved[3];   /* zero */
    struct list list;      /* STORE_TYPE_LIST, STORE_TYPE_HASH, STORE_TYPE_SET: its nodes (a
                              hash's in insertion order, each with a field and a value slot);
                              STORE_TYPE_ZSET: head is the treap's root, count its size */
};

/* The head of a value slot; val_size_max bytes follow it. */
struct store_value {
    uint32_t length;       /* bytes used */
};

struct store {
    struct table table;       /* hash -> key slot index */
    struct pool keys;         /* key_count slots: struct store_key + key_size_max */
    struct pool values;       /* key_count * list_length_max slots: store_value + val_size_max */
    struct pool nodes;        /* key_count * list_length_max list nodes */
    struct pool fields;       /* (key_count + 1) * list_length_max slots: hash fields, set
                                 and sorted-set members (store_value + key_size_max) */
    struct pool znodes;       /* (key_count + 1) * list_length_max sorted-set nodes */
    struct zset_tree ztree;   /* the sorted sets' order over znodes */
    struct table zmembers;    /* (owner key slot, member) -> znode: O(1) member lookups */
    uint64_t seed;            /* hash seed, drawn at startup */
    uint32_t key_size_max;    /* from the config */
    uint32_t val_size_max;    /* from the config */
    uint32_t list_length_max; /* from the config */
    int64_t now_ms;           /* the clock commands see: Unix ms, set by store_clock */
    uint32_t expires_count;   /* keys with an expiry time */
    uint32_t expire_cursor;   /* next table slot the active expiry examines */
    uint64_t expired_keys;    /* keys removed because their time passed (INFO) */
    /* Called with a key about to change, be created or be removed (WATCH); NULL: none. */
    void (*touched)(void *touched_context, uint32_t hash, struct slice key);
    void *touched_context;
    /* Called with a list or sorted set key that gained members, or a key renamed to a name
     * clients may wait on (blocked clients); NULL: none. */
    void (*ready)(void *ready_context, uint32_t hash, struct slice key);
    void *ready_context;
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

/* Finds a live key: its slot index, or false. A key whose time has passed is removed here
 * (lazy expiry), so no command ever sees it. */
KV_MUST_USE bool store_find(struct store *store, struct slice key, uint32_t *key_index);

/* Finds a key without changing anything, whether or not its time has passed (reply bounds:
 * an expired key only makes a bound larger). */
KV_MUST_USE bool store_peek(const struct store *store, struct slice key, uint32_t *key_index);

/* Removes the key now if its time has passed (WATCH, EXEC); nothing else. */
void store_expire_due(struct store *store, struct slice key);

/* The key's bytes. */
struct slice store_key_name(const struct store *store, uint32_t key_index);

/* Tells watchers a live key is about to change (every write that keeps the key calls it). */
void store_modified(struct store *store, uint32_t key_index);

/* Sets (at_ms > 0) or clears (0) a live key's expiry time; at_ms <= now removes the key and
 * returns false (as Redis does with a time in the past). */
bool store_expire_set(struct store *store, uint32_t key_index, int64_t at_ms);

/* Removes up to `slots_max` table slots' worth of expired keys, starting where the last call
 * stopped (active expiry). Returns how many keys it removed. */
uint32_t store_expire_slice(struct store *store, uint32_t slots_max);

/* Removes a key found with store_find. */
void store_remove(struct store *store, uint32_t key_index);

/* FLUSHALL: every key goes; watchers of any key are told. */
void store_flush(struct store *store);

static inline struct store_key *store_key(const struct store *store, uint32_t key_index)
{
    return (struct store_key *)pool_slot(&store->keys, key_index);
}

/* The bytes of a value slot. */
struct slice store_value(const struct store *store, uint32_t value_index);

/* SET key value: replaces whatever the key held. */
KV_MUST_USE enum store_status store_set_string(struct store *store, struct slice key,
                                               struct slice value);

/* GET: the string's bytes (valid until the store next changes). */
KV_MUST_USE enum store_status store_get_string(struct store *store, struct slice key,
                                               struct slice *value);

/* DEL one key; false if it was absent. */
bool store_delete(struct store *store, struct slice key);

/* Finds a list: STORE_OK with its key slot, STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_find_list(struct store *store, struct slice key,
                                              uint32_t *key_index);

/* LPUSH/RPUSH: all values or none; *length_after is the list's new length. */
KV_MUST_USE enum store_status store_list_push(struct store *store, struct slice key,
                                              const struct slice *values, uint32_t value_count,
                                              bool at_head, uint32_t *length_after);

/* Pops one value from a list found with store_find_list; deletes the key when the list
 * empties (as Redis does), after which key_index is no longer valid. */
void store_list_pop(struct store *store, uint32_t key_index, bool at_head);

/* Renames a live key to new_key, which is absent and at most key_size_max bytes (RENAME
 * removes an existing destination first). The value and the expiry time stay. */
void store_rename(struct store *store, uint32_t key_index, struct slice new_key);

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

/* List writes on a live list key (store_find_list); each removes the key when its list
 * empties, after which key_index is no longer valid. Node indexes come from walking the
 * list (list_node_at, list_node). */

/* LSET: the value at a node becomes `value` (at most val_size_max). */
void store_list_set(struct store *store, uint32_t key_index, uint32_t node_index,
                    struct slice value);

/* LREM: removes up to |count| nodes equal to value (from the tail when count < 0, all when
 * 0); returns how many. */
uint32_t store_list_remove_value(struct store *store, uint32_t key_index, int64_t count,
                                 struct slice value);

/* LTRIM: keeps `kept` nodes from position `start` and drops the rest. */
void store_list_trim(struct store *store, uint32_t key_index, uint32_t start, uint32_t kept);

/* LINSERT: inserts value before or after a node; the list is below list_length_max and the
 * value within val_size_max. */
void store_list_insert(struct store *store, uint32_t key_index, uint32_t node_index, bool before,
                       struct slice value);

/* LMOVE: moves the value at one end of a non-empty list to one end of `destination` (which
 * may be the same key), creating it if absent. Checks first: WRONGTYPE, LIST_FULL,
 * KEY_TOO_LONG, FULL, and changes nothing then. *value_index is the moved value's slot. */
KV_MUST_USE enum store_status store_list_move(struct store *store, uint32_t source_index,
                                              struct slice destination, bool from_head,
                                              bool to_head, uint32_t *value_index);

/* Hashes: fields in insertion order, as Redis keeps a small hash (listpack), each found by a
 * walk bounded by list_length_max. */

/* The bytes of a field slot. */
struct slice store_field(const struct store *store, uint32_t field_index);

/* Finds a hash: STORE_OK with its key slot, STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_find_hash(struct store *store, struct slice key,
                                              uint32_t *key_index);

/* The node holding `field` in a hash found with store_find_hash, or false. */
KV_MUST_USE bool store_hash_field(const struct store *store, uint32_t key_index, struct slice field,
                                  uint32_t *node_index);

/* HSET/HMSET/HSETNX: pairs[0..2*pair_count) are field, value, field, value...; a repeated field
 * takes its last value. Checks everything first (key length, type, field and value lengths,
 * room for the new fields and for a new key) and changes nothing when one fails. With
 * `only_new`, existing fields keep their values. *added: fields that did not exist. */
KV_MUST_USE enum store_status store_hash_set(struct store *store, struct slice key,
                                             const struct slice *pairs, uint32_t pair_count,
                                             bool only_new, uint32_t *added);

/* HDEL: removes the fields present; the key goes with its last field (key_index is then no
 * longer valid). Returns how many fields it removed. */
uint32_t store_hash_delete(struct store *store, uint32_t key_index, const struct slice *fields,
                           uint32_t field_count);

/* Sets: members in the field pool, one node each (no value slot), found by a walk bounded by
 * list_length_max. */

/* Finds a set: STORE_OK with its key slot, STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_find_set(struct store *store, struct slice key,
                                             uint32_t *key_index);

/* The node holding `member` in a set, or false. */
KV_MUST_USE bool store_set_member(const struct store *store, uint32_t key_index,
                                  struct slice member, uint32_t *node_index);

/* SADD: checks everything first (key length, type, member lengths, room for the new members
 * and for a new key) and changes nothing when one fails. *added: members that were new. */
KV_MUST_USE enum store_status store_set_add(struct store *store, struct slice key,
                                            const struct slice *members, uint32_t count,
                                            uint32_t *added);

/* SREM, SPOP: removes the members present (or one node); the key goes with its last member. */
uint32_t store_set_remove(struct store *store, uint32_t key_index, const struct slice *members,
                          uint32_t count);
void store_set_remove_node(struct store *store, uint32_t key_index, uint32_t node_index);

/* SMOVE of a member present in `source` to `destination` (another key): checks the
 * destination (type, room, a new key) first. */
KV_MUST_USE enum store_status store_set_move(struct store *store, uint32_t source_index,
                                             uint32_t node_index, struct slice destination);

/* The STORE forms: a result built member by member in a detached list (the pools keep
 * list_length_max spare nodes and fields for it), then put in place of `destination`. */
void store_set_result_add(struct store *store, struct list *result, struct slice member);
/* Replaces the destination with the result (an empty result deletes it). The caller checked
 * the key's length and room. */
void store_set_result_store(struct store *store, struct slice destination, struct list *result);

/* Sorted sets: members in the field pool, ordered by (score, member) in a treap (zset.h),
 * found through the zmembers table. */

/* Finds a sorted set: STORE_OK, STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_find_zset(struct store *store, struct slice key,
                                              uint32_t *key_index);

/* The set's treap view (root and count), and writing it back after a change. */
struct zset store_zset_view(const struct store *store, uint32_t key_index);

/* The znode of a member, or false. */
KV_MUST_USE bool store_zset_member(const struct store *store, uint32_t key_index,
                                   struct slice member, uint32_t *node_index);

/* The bytes of a znode's member. */
struct slice store_zset_member_bytes(const struct store *store, uint32_t node_index);

/* Whether a ZADD may add `added` new members to the key (found or not): kv's limits. */
KV_MUST_USE enum store_status store_zset_room(const struct store *store, struct slice key,
                                              bool found, uint32_t key_index, uint32_t added);

/* Creates an empty sorted-set key (store_zset_room checked); returns its key slot. The
 * caller adds at least one member before the command ends. */
uint32_t store_zset_create(struct store *store, struct slice key);

/* Adds a new member (length checked, room checked) or moves an existing node to a score. */
void store_zset_insert(struct store *store, uint32_t key_index, struct slice member, double score);
void store_zset_rescore(struct store *store, uint32_t key_index, uint32_t node_index, double score);

/* Removes a member's node; the key goes with its last member (key_index no longer valid). */
void store_zset_remove_node(struct store *store, uint32_t key_index, uint32_t node_index);

/* Keys stored now. */
static inline uint32_t store_key_count(const struct store *store)
{
    return store->table.count;
}

/* Checks every invariant of the table, pools and each list (debug and tests). */
void store_verify(const struct store *store);

#endif
