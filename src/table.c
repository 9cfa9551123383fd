/*
 * Open addressing with linear probing and backward-shift deletion. An entry's probe distance
 * is (slot - home) & mask, where home = hash & mask. Invariants: count equals the occupied
 * slots; every entry is reachable from its home slot without crossing an empty slot; count
 * never exceeds count_max, which keeps load at or below 3/4 so probes stay short and every
 * probe loop ends within `capacity` steps. Removal moves later entries of the run back into
 * the hole where that keeps them reachable, so no tombstones ever pile up under churn. Never allocates after init.
 */
#include "table.h"

#include <string.h>

/* Capacity of the smallest table. */
#define TABLE_CAPACITY_MIN 8u

uint32_t table_capacity_for(uint32_t count_max)
{
    uint64_t capacity = TABLE_CAPACITY_MIN;
    while (capacity * 3 / 4 < count_max) {
        capacity *= 2;
    }
    KV_ASSERT(capacity <= (1ull << 31));
    return (uint32_t)capacity;
}

uint64_t table_plan_bytes(uint32_t count_max)
{
    return (uint64_t)table_capacity_for(count_max) * sizeof(struct table_entry) + 64;
}

void table_init(struct table *table, struct region *region, uint32_t count_max)
{
    KV_ASSERT(count_max > 0);
    table->capacity = table_capacity_for(count_max);
    table->mask = table->capacity - 1;
    table->count = 0;
    table->count_max = count_max;
    uint64_t bytes = (uint64_t)table->capacity * sizeof(struct table_entry);
    table->entries = region_carve(region, bytes, 64);
    memset(table->entries, 0, bytes);
    KV_ASSERT((table->capacity & table->mask) == 0);
}

/* Steps forward from `from` to `slot_index`, around the end of the table. */
static uint32_t distance(const struct table *table, uint32_t slot_index, uint32_t from)
{
    return (slot_index - from) & table->mask;
}

bool table_find(const struct table *table, uint32_t hash,
                bool (*equal)(const void *context, uint32_t value), const void *context,
                uint32_t *value, uint32_t *slot_index)
{
    uint32_t slot = hash & table->mask;
    /* At least one slot is empty (load <= 3/4), so the probe ends within capacity steps. */
    for (uint32_t step = 0; step < table->capacity; step++) {
        const struct table_entry *entry = &table->entries[slot];
        if (entry->value_next == 0) {
            return false;
        }
        if (entry->hash == hash && equal(context, entry->value_next - 1)) {
            *value = entry->value_next - 1;
            *slot_index = slot;
            return true;
        }
        slot = (slot + 1) & table->mask;
    }
    KV_ASSERT(false);
    return false;
}

void table_insert(struct table *table, uint32_t hash, uint32_t value)
{
    KV_ASSERT(table->count < table->count_max);
    KV_ASSERT(value < UINT32_MAX);
    uint32_t slot = hash & table->mask;
    uint32_t step = 0;
    while (table->entries[slot].value_next != 0) {
        KV_ASSERT(++step < table->capacity);
        slot = (slot + 1) & table->mask;
    }
    table->entries[slot].hash = hash;
    table->entries[slot].value_next = value + 1;
    table->count++;
}

void table_remove_at(struct table *table, uint32_t slot_index)
{
    KV_ASSERT(slot_index < table->capacity);
    KV_ASSERT(table->entries[slot_index].value_next != 0);
    uint32_t hole = slot_index;
    uint32_t next = slot_index;
    /* Knuth's algorithm R: walk the run after the hole; an entry moves back into the hole
     * unless its home lies cyclically in (hole, next], where the hole would hide it. */
    for (uint32_t step = 1; step < table->capacity; step++) {
        next = (next + 1) & table->mask;
        const struct table_entry *entry = &table->entries[next];
        if (entry->value_next == 0) {
            break;
        }
        uint32_t home = entry->hash & table->mask;
        if (distance(table, next, home) >= distance(table, next, hole)) {
            table->entries[hole] = *entry;
            hole = next;
        }
    }
    table->entries[hole].hash = 0;
    table->entries[hole].value_next = 0;
    table->count--;
}

void table_replace_at(struct table *table, uint32_t slot_index, uint32_t value)
{
    KV_ASSERT(slot_index < table->capacity && table->entries[slot_index].value_next != 0);
    KV_ASSERT(value < UINT32_MAX);
    table->entries[slot_index].value_next = value + 1;
}

bool table_value_at(const struct table *table, uint32_t slot_index, uint32_t *value)
{
    KV_ASSERT(slot_index < table->capacity);
    if (table->entries[slot_index].value_next == 0) {
        return false;
    }
    *value = table->entries[slot_index].value_next - 1;
    return true;
}

void table_clear(struct table *table)
{
    memset(table->entries, 0, (uint64_t)table->capacity * sizeof(struct table_entry));
    table->count = 0;
}

void table_verify(const struct table *table)
{
    KV_ASSERT(table->count <= table->count_max);
    uint32_t occupied = 0;
    for (uint32_t slot = 0; slot < table->capacity; slot++) {
        const struct table_entry *entry = &table->entries[slot];
        if (entry->value_next == 0) {
            continue;
        }
        occupied++;
        /* Every slot between home and here is occupied. */
        uint32_t home = entry->hash & table->mask;
        for (uint32_t probe = home; probe != slot; probe = (probe + 1) & table->mask) {
            KV_ASSERT(table->entries[probe].value_next != 0);
        }
    }
    KV_ASSERT(occupied == table->count);
}
