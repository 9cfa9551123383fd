/*
 * Open-addressing hash table with linear probing and backward-shift deletion, so removal
 * leaves no tombstones. It maps a 32-bit hash to a 32-bit value (a key slot index in the
 * store); key bytes live with the caller, who supplies the equality test. The capacity is a
 * power of two fixed at init, and count never exceeds count_max (the caller's key limit),
 * which keeps the load factor at or below 3/4 and every probe loop bounded by capacity.
 */
#ifndef KV_TABLE_H
#define KV_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "region.h"

struct table_entry {
    uint32_t hash;        /* low 32 bits of the key hash; home slot is hash & mask */
    uint32_t value_next;  /* value + 1; 0 marks an empty slot */
};

struct table {
    struct table_entry *entries; /* capacity entries, carved from the region */
    uint32_t capacity;           /* power of two, fixed at init */
    uint32_t mask;               /* capacity - 1 */
    uint32_t count;              /* occupied entries */
    uint32_t count_max;          /* most entries ever allowed: capacity * 3 / 4 at least */
};

/* Smallest power-of-two capacity that keeps count_max entries at load <= 3/4. */
uint32_t table_capacity_for(uint32_t count_max);

/* Bytes table_init carves for count_max entries. */
uint64_t table_plan_bytes(uint32_t count_max);

void table_init(struct table *table, struct region *region, uint32_t count_max);

/*
 * Finds the entry whose hash matches and for which equal(context, value) is true.
 * Returns true with *value and *slot_index set; false when absent.
 */
KV_MUST_USE bool table_find(const struct table *table, uint32_t hash,
                            bool (*equal)(const void *context, uint32_t value),
                            const void *context, uint32_t *value, uint32_t *slot_index);

/* Inserts a value the caller knows is absent. Asserts count < count_max. */
void table_insert(struct table *table, uint32_t hash, uint32_t value);

/* Removes the entry at slot_index (from table_find) and shifts its followers back. */
void table_remove_at(struct table *table, uint32_t slot_index);

/* Replaces the value stored at slot_index (same key, e.g. after moving a key slot). */
void table_replace_at(struct table *table, uint32_t slot_index, uint32_t value);

/* Value at slot_index, or false if the slot is empty: for walking every entry. */
KV_MUST_USE bool table_value_at(const struct table *table, uint32_t slot_index, uint32_t *value);

/* Empties the table (FLUSHALL): O(capacity). */
void table_clear(struct table *table);

/* Checks every invariant: count equals occupied slots; no entry is separated from its home
 * slot by an empty slot (each is reachable by a probe from home). */
void table_verify(const struct table *table);

#endif
