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

enum store_type {
    STORE_TYPE_STRING = 1,
    STORE_TYPE_LIST = 2,
};

enum store_status {
    STORE_OK,
    STORE_NOT_FOUND,
    STORE_WRONGTYPE,     /* the key holds another type */
    STORE_FULL,          /* key_count keys exist: no slot for a new one */
    STORE_KEY_TOO_LONG,  /* key longer than key_size_max */
    STORE_VALUE_TOO_LONG,/* value longer than val_size_max */
    STORE_LIST_FULL,     /* the push would make the list longer than list_length_max */
};

/* The head of a key slot; key_size_max key bytes follow it. */
struct store_key {
    uint32_t hash;         /* low 32 bits of hash_bytes(key) */
    uint32_t key_bytes;    /* key length */
    uint32_t value_index;  /* STORE_TYPE_STRING: its value slot */
    uint8_t type;          /* enum store_type */
    uint8_t reserved[3];   /* zero */
    struct list list;      /* STORE_TYPE_LIST: its nodes */
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
    uint64_t seed;            /* hash seed, drawn at startup */
    uint32_t key_size_max;    /* from the config */
    uint32_t val_size_max;    /* from the config */
    uint32_t list_length_max; /* from the config */
};

/* Bytes of one key slot and one value slot, and of the whole store, for the plan. */
uint32_t store_key_slot_bytes(const struct config *config);
uint32_t store_value_slot_bytes(const struct config *config);
uint64_t store_plan_keys_bytes(const struct config *config);
uint64_t store_plan_values_bytes(const struct config *config);
uint64_t store_plan_nodes_bytes(const struct config *config);
uint64_t store_plan_table_bytes(const struct config *config);

void store_init(struct store *store, struct region *region, const struct config *config,
                uint64_t seed);

/* Finds a key: its slot index, or false. */
KV_MUST_USE bool store_find(const struct store *store, struct slice key, uint32_t *key_index);

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
KV_MUST_USE enum store_status store_get_string(const struct store *store, struct slice key,
                                               struct slice *value);

/* DEL one key; false if it was absent. */
bool store_delete(struct store *store, struct slice key);

/* Finds a list: STORE_OK with its key slot, STORE_NOT_FOUND, or STORE_WRONGTYPE. */
KV_MUST_USE enum store_status store_find_list(const struct store *store, struct slice key,
                                              uint32_t *key_index);

/* LPUSH/RPUSH: all values or none; *length_after is the list's new length. */
KV_MUST_USE enum store_status store_list_push(struct store *store, struct slice key,
                                              const struct slice *values, uint32_t value_count,
                                              bool at_head, uint32_t *length_after);

/* Pops one value from a list found with store_find_list; deletes the key when the list
 * empties (as Redis does), after which key_index is no longer valid. */
void store_list_pop(struct store *store, uint32_t key_index, bool at_head);

/* Keys stored now. */
static inline uint32_t store_key_count(const struct store *store)
{
    return store->table.count;
}

/* Checks every invariant of the table, pools and each list (debug and tests). */
void store_verify(const struct store *store);

#endif
