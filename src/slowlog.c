/*
 * The slow log ring. Invariants: count <= entry_max; next < entry_max; the newest entry is
 * at next - 1 (mod entry_max) and ids decrease by one going back.
 */
#include "slowlog.h"

#include <string.h>

#include "kv_assert.h"

uint64_t slowlog_plan_bytes(uint32_t entry_max)
{
    uint32_t slots = entry_max == 0 ? 1 : entry_max;
    return ((uint64_t)slots * sizeof(struct slowlog_entry) + 63) & ~63ull;
}

void slowlog_init(struct slowlog *slowlog, struct region *region, uint32_t entry_max)
{
    memset(slowlog, 0, sizeof(*slowlog));
    uint32_t slots = entry_max == 0 ? 1 : entry_max;
    slowlog->entries = region_carve(region, (uint64_t)slots * sizeof(struct slowlog_entry), 64);
    slowlog->entry_max = entry_max;
}

static uint32_t copy_cut(void *into, uint32_t into_bytes, struct slice from)
{
    uint32_t kept = from.length < into_bytes ? from.length : into_bytes;
    if (kept > 0) {
        memcpy(into, from.bytes, kept);
    }
    return kept;
}

void slowlog_add(struct slowlog *slowlog, const struct slice *args, uint32_t arg_count,
                 int64_t time_s, uint64_t duration_us, struct slice addr, struct slice name)
{
    if (slowlog->entry_max == 0) {
        return;
    }
    KV_ASSERT(slowlog->next < slowlog->entry_max);
    struct slowlog_entry *entry = &slowlog->entries[slowlog->next];
    entry->id = slowlog->id_next++;
    entry->time_s = time_s;
    entry->duration_us = duration_us;
    /* As Redis: past 32 arguments, 31 are kept and the 32nd says how many more there were. */
    uint32_t kept = arg_count <= SLOWLOG_ARGS_MAX ? arg_count : SLOWLOG_ARGS_MAX - 1u;
    entry->arg_count = kept;
    entry->args_more = arg_count - kept;
    for (uint32_t index = 0; index < kept; index++) {
        entry->arg_bytes[index] = copy_cut(entry->args[index], SLOWLOG_ARG_BYTES_MAX, args[index]);
        entry->arg_more[index] = args[index].length - entry->arg_bytes[index];
    }
    entry->addr_bytes = copy_cut(entry->addr, sizeof(entry->addr), addr);
    entry->name_bytes = copy_cut(entry->name, sizeof(entry->name), name);
    slowlog->next = (slowlog->next + 1) % slowlog->entry_max;
    slowlog->count += slowlog->count < slowlog->entry_max ? 1 : 0;
    KV_ASSERT(slowlog->count <= slowlog->entry_max);
}

const struct slowlog_entry *slowlog_at(const struct slowlog *slowlog, uint32_t age)
{
    if (age >= slowlog->count) {
        return NULL;
    }
    uint32_t slot = (slowlog->next + slowlog->entry_max - 1u - age) % slowlog->entry_max;
    const struct slowlog_entry *entry = &slowlog->entries[slot];
    KV_ASSERT(entry->id + age + 1u == slowlog->id_next);
    return entry;
}

void slowlog_reset(struct slowlog *slowlog)
{
    slowlog->count = 0;
    slowlog->next = 0;
}
