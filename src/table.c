/*
 * Open addressing with linear probing and backward-shift deletion. An entry's home slot is
 * hash & mask; a probe walks forward from home, wrapping at the end, until it finds the entry
 * or an empty slot. Invariants: capacity is a power of two; count equals the occupied slots
 * and never exceeds count_max, which is at most 3/4 of capacity, so at least a quarter of the
 * slots are empty and every probe ends within `capacity` steps (each probe loop asserts so);
 * no entry is separated from its home by an empty slot; empty slots are all zero. Removal
 * moves later entries of the run back into the hole when that keeps them reachable, so no
 * tombstones pile up under churn. The table never sees key bytes (the caller's equal() does)
 * and never allocates after init.
 */
#include "table.h"

#include <string.h>

/* The smallest table: one cache line of entries. */
#define TABLE_CAPACITY_MIN 8u

/* The largest capacity a uint32_t mask and count can describe. */
#define TABLE_CAPACITY_MAX (1u << 31)

/* Entries are carved on a cache line. */
#define TABLE_ALIGN 64u

static_assert(sizeof(struct table_entry) == 8, "an entry is two 32-bit words");
static_assert(TABLE_ALIGN % sizeof(struct table_entry) == 0, "entries do not straddle lines");
static_assert((TABLE_CAPACITY_MIN & (TABLE_CAPACITY_MIN - 1)) == 0, "power-of-two minimum");

static uint64_t round_up(uint64_t bytes, uint64_t unit)
{
    KV_ASSERT(unit != 0);
    KV_ASSERT((unit & (unit - 1)) == 0);
    return (bytes + unit - 1) & ~(unit - 1);
}

/* Steps forward from `from` to `slot_index`, wrapping around the end of the table. */
static uint32_t distance(const struct table *table, uint32_t from, uint32_t slot_index)
{
    return (slot_index - from) & table->mask;
}

static bool slot_occupied(const struct table *table, uint32_t slot_index)
{
    return table->entries[slot_index].value_next != 0;
}

uint32_t table_capacity_for(uint32_t count_max)
{
    KV_ASSERT(count_max <= TABLE_CAPACITY_MAX / 4 * 3);
    uint64_t capacity = TABLE_CAPACITY_MIN;
    /* At most 29 doublings: from 2^3 to 2^31. */
    while (capacity / 4 * 3 < count_max) {
        capacity *= 2;
    }
    KV_ASSERT(capacity <= TABLE_CAPACITY_MAX);
    KV_ASSERT(count_max <= capacity / 4 * 3);
    return (uint32_t)capacity;
}

uint64_t table_plan_bytes(uint32_t count_max)
{
    uint64_t bytes = (uint64_t)table_capacity_for(count_max) * sizeof(struct table_entry);
    return round_up(bytes, TABLE_ALIGN);
}

void table_init(struct table *table, struct region *region, uint32_t count_max)
{
    KV_ASSERT(count_max > 0);
    table->capacity = table_capacity_for(count_max);
    table->mask = table->capacity - 1;
    table->count = 0;
    table->count_max = count_max;
    uint64_t bytes = (uint64_t)table->capacity * sizeof(struct table_entry);
    table->entries = region_carve(region, bytes, TABLE_ALIGN);
    memset(table->entries, 0, bytes);
    KV_ASSERT((table->capacity & table->mask) == 0);
    KV_ASSERT(table->count_max < table->capacity);
}

bool table_find(const struct table *table, uint32_t hash,
                bool (*equal)(const void *context, uint32_t value), const void *context,
                uint32_t *value, uint32_t *slot_index)
{
    KV_ASSERT(equal != NULL);
    KV_ASSERT(table->count < table->capacity);
    uint32_t slot = hash & table->mask;
    /* Ends at the entry or at an empty slot; one is empty since count < capacity. */
    for (uint32_t step = 0;; step++) {
        KV_ASSERT(step < table->capacity);
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
}

void table_insert(struct table *table, uint32_t hash, uint32_t value)
{
    KV_ASSERT(table->count < table->count_max);
    KV_ASSERT(value < UINT32_MAX); /* value + 1 must fit: 0 marks an empty slot */
    uint32_t slot = hash & table->mask;
    /* Ends at the first empty slot of the run; one is empty since count < capacity. */
    for (uint32_t step = 0; slot_occupied(table, slot); step++) {
        KV_ASSERT(step < table->capacity);
        slot = (slot + 1) & table->mask;
    }
    table->entries[slot].hash = hash;
    table->entries[slot].value_next = value + 1;
    table->count++;
    KV_ASSERT(table->count <= table->count_max);
}

void table_remove_at(struct table *table, uint32_t slot_index)
{
    KV_ASSERT(slot_index < table->capacity);
    KV_ASSERT(slot_occupied(table, slot_index));
    uint32_t hole = slot_index;
    uint32_t next = slot_index;
    /* Knuth's algorithm R: walk the rest of the run. An entry moves back into the hole when
     * the hole lies between its home and its slot; one whose home is after the hole stays,
     * since the hole would cut it off from home. The run ends at an empty slot. */
    for (uint32_t step = 0;; step++) {
        KV_ASSERT(step < table->capacity);
        next = (next + 1) & table->mask;
        if (!slot_occupied(table, next)) {
            break;
        }
        uint32_t home = table->entries[next].hash & table->mask;
        if (distance(table, home, next) >= distance(table, hole, next)) {
            table->entries[hole] = table->entries[next];
            hole = next;
        }
    }
    table->entries[hole].hash = 0;
    table->entries[hole].value_next = 0;
    KV_ASSERT(table->count > 0);
    table->count--;
}

void table_replace_at(struct table *table, uint32_t slot_index, uint32_t value)
{
    KV_ASSERT(slot_index < table->capacity);
    KV_ASSERT(slot_occupied(table, slot_index));
    KV_ASSERT(value < UINT32_MAX);
    table->entries[slot_index].value_next = value + 1;
}

bool table_value_at(const struct table *table, uint32_t slot_index, uint32_t *value)
{
    KV_ASSERT(slot_index < table->capacity);
    if (!slot_occupied(table, slot_index)) {
        return false;
    }
    *value = table->entries[slot_index].value_next - 1;
    return true;
}

void table_clear(struct table *table)
{
    KV_ASSERT(table->entries != NULL);
    memset(table->entries, 0, (uint64_t)table->capacity * sizeof(struct table_entry));
    table->count = 0;
    KV_ASSERT(!slot_occupied(table, 0));
}

/* Some slot is empty, since count < capacity; the scans in table_verify start there. */
static uint32_t first_empty_slot(const struct table *table)
{
    for (uint32_t slot = 0; slot < table->capacity; slot++) {
        if (!slot_occupied(table, slot)) {
            return slot;
        }
    }
    KV_ASSERT(false);
    return 0;
}

/*
 * One pass of capacity steps starting just after an empty slot, so that every run is seen
 * whole. An entry is reachable from home when no empty slot lies between them, that is when
 * its home lies in its run (from the slot after the last empty one up to the entry itself).
 */
void table_verify(const struct table *table)
{
    KV_ASSERT(table->capacity >= TABLE_CAPACITY_MIN);
    KV_ASSERT((table->capacity & table->mask) == 0);
    KV_ASSERT(table->mask == table->capacity - 1);
    KV_ASSERT(table->count_max <= table->capacity / 4 * 3);
    KV_ASSERT(table->count <= table->count_max);
    uint32_t empty = first_empty_slot(table);
    uint32_t run_start = (empty + 1) & table->mask;
    uint32_t occupied = 0;
    for (uint32_t step = 1; step <= table->capacity; step++) {
        uint32_t slot = (empty + step) & table->mask;
        if (!slot_occupied(table, slot)) {
            KV_ASSERT(table->entries[slot].hash == 0);
            run_start = (slot + 1) & table->mask;
            continue;
        }
        occupied++;
        uint32_t home = table->entries[slot].hash & table->mask;
        KV_ASSERT(distance(table, run_start, home) <= distance(table, run_start, slot));
    }
    KV_ASSERT(occupied == table->count);
}
