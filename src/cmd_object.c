/*
 * OBJECT and MEMORY: what kv keeps about a key and about its memory, in Redis 7.0's words.
 * OBJECT ENCODING names the value's representation as Redis 7.0 would for the same writes
 * and thresholds (a type's encoding_name, from the key's shape bits: "int", "embstr",
 * "listpack", ...); FREQ and IDLETIME read the key's clock (an LFU counter or an LRU time, by
 * maxmemory-policy) without touching it, and answer Redis's errors when the policy keeps the
 * other kind; REFCOUNT is Redis's: its shared integers' count, else 1 (kv shares no values,
 * but answers as Redis would).
 * MEMORY USAGE is the heap bytes the key holds: its object and its value's allocations.
 *
 * MEMORY STATS and DOCTOR read Redis's figures off kv's heap: what Redis's allocator has
 * allocated is the heap's used bytes, what it keeps active is the pages the heap's spans
 * hold, what is resident is the whole heap (the region is locked and prefaulted). Startup
 * allocations are outside the heap (the region's other pools), so startup.allocated is 0;
 * scripts live in the Lua heap, so lua.caches and functions.caches are 0 (INFO's
 * used_memory_scripts_eval and used_memory_functions say the same). DOCTOR leaves out the
 * RSS checks: kv's resident set is its whole region by design, not a symptom.
 */
#include "cmd_handlers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc_stats.h"
#include "conn.h"
#include "number.h"
#include "script.h"
#include "store.h"
#include "store_string.h"

static const char *const object_help[] = {
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
};

static const char *const memory_help[] = {
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
};

/* The key, live, found without touching its clock (Redis's LOOKUP_NOTOUCH); NULL (and a
 * null reply) when there is none. */
static const struct store_key *object_lookup(struct cmd_context *context, struct slice name)
{
    struct store *store = context->store;
    uint32_t ref = HEAP_REF_NONE;
    if (store_peek(store, name, &ref) && !store_key_live(store, store_key(store, ref))) {
        store_expire_due(store, name); /* an expired key goes, as a lookup would remove it */
        ref = HEAP_REF_NONE;
    }
    if (ref == HEAP_REF_NONE) {
        reply_null(&context->reply);
        return NULL;
    }
    return store_key(store, ref);
}

static bool policy_lfu(const struct config *config)
{
    return config->maxmemory_policy == CONFIG_POLICY_ALLKEYS_LFU ||
           config->maxmemory_policy == CONFIG_POLICY_VOLATILE_LFU;
}

/* OBJECT REFCOUNT as Redis 7.0 counts: its shared integers (0..9999, as SET or INCR store
 * them) answer OBJ_SHARED_REFCOUNT while the eviction policy lets Redis share them (not an
 * LRU or LFU one); every other value is the key's own (1). */
static int64_t object_refcount(const struct cmd_context *context, const struct store_key *key)
{
    uint32_t policy = context->config->maxmemory_policy;
    bool sharing = policy != CONFIG_POLICY_ALLKEYS_LRU && policy != CONFIG_POLICY_VOLATILE_LRU &&
                   !policy_lfu(context->config);
    uint32_t key_ref = heap_ref(context->store->heap, key);
    bool shared = sharing && store_key_type(key) == STORE_TYPE_STRING &&
                  store_string_shared_integer(context->store, key_ref);
    return shared ? INT32_MAX : 1;
}

CMD_HANDLER(cmd_object)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    const struct store_key *key = NULL;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "object|help")) {
        cmd_reply_help(&context->reply, object_help, sizeof(object_help) / sizeof(object_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "encoding", 3, "object|encoding")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            const char *name = store_encoding_name(context->store, key);
            reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)name,
                                                       .length = (uint32_t)strlen(name)});
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "refcount", 3, "object|refcount")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            reply_integer(&context->reply, object_refcount(context, key));
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "idletime", 3, "object|idletime")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            policy_lfu(context->config)
                ? reply_error(&context->reply, REPLY_ERROR_OBJECT_IDLETIME_LFU)
                : reply_integer(&context->reply,
                                (int64_t)(store_key_idle_ms(context->store, key) / 1000));
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "freq", 3, "object|freq")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            !policy_lfu(context->config)
                ? reply_error(&context->reply, REPLY_ERROR_OBJECT_FREQ_NOT_LFU)
                : reply_integer(&context->reply, store_key_lfu(context->store, key));
        }
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "OBJECT");
    }
    KV_ASSERT(context->reply.total > length_before);
}

/* MEMORY USAGE key [SAMPLES count]...: kv counts every allocation exactly, so the sample
 * count is checked (Redis's loop and errors) and otherwise has no effect. */
static void memory_usage(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    /* Bounded by the arguments: two per pass. */
    for (uint32_t at = 3; at < arg_count; at += 2) {
        int64_t samples = 0;
        if (!cmd_arg_is(args[at], "samples") || at + 1 >= arg_count) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        if (!number_parse_int64(args[at + 1].bytes, args[at + 1].length, &samples)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
        if (samples < 0) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
    }
    const struct store_key *key = object_lookup(context, args[2]);
    if (key != NULL) {
        uint32_t ref = heap_ref(context->store->heap, key);
        reply_integer(&context->reply, (int64_t)store_memory(context->store, ref));
    }
}

/* An expiry entry: its chain link and its key's reference (store_internal.h). */
#define EXPIRE_ENTRY_BYTES (2u * sizeof(uint32_t))

/* Redis's redisMemOverhead, over kv's heap (see the head of this file). */
struct memory_overhead {
    uint64_t total;           /* the heap's used bytes */
    uint64_t peak;
    uint64_t active;          /* the pages the heap's spans hold */
    uint64_t resident;        /* the whole heap */
    uint64_t rss;             /* the process's */
    uint64_t clients;         /* receive buffers and output blocks */
    uint64_t keys;
    uint64_t table_main;      /* the keyspace's buckets and key headers */
    uint64_t table_expires;   /* the expiry dict's buckets and entries */
    uint64_t overhead;        /* clients and tables */
    uint32_t cached_scripts;
    uint32_t client_count;
};

static void memory_overhead_read(const struct cmd_context *context,
                                 struct memory_overhead *memory)
{
    const struct heap *heap = context->store->heap;
    const struct store *store = context->store;
    memset(memory, 0, sizeof(*memory));
    memory->total = heap->used_bytes;
    memory->peak = heap->peak_used_bytes > heap->used_bytes ? heap->peak_used_bytes
                                                            : heap->used_bytes;
    memory->active = (uint64_t)(heap->small_pages + heap->large_pages) * HEAP_PAGE_BYTES;
    memory->resident = (uint64_t)heap->page_count * HEAP_PAGE_BYTES;
    memory->rss = alloc_stats_rss_bytes();
    memory->clients = context->conns->memory_bytes;
    memory->client_count = context->conns->open_count;
    memory->keys = dict_count(&store->db->keys);
    uint64_t main_buckets =
        (uint64_t)store->db->keys.bucket_count[0] + store->db->keys.bucket_count[1];
    uint64_t expire_buckets =
        (uint64_t)store->db->expires.bucket_count[0] + store->db->expires.bucket_count[1];
    memory->table_main = main_buckets * sizeof(uint32_t) + memory->keys * sizeof(struct store_key);
    memory->table_expires = expire_buckets * sizeof(uint32_t) +
                            dict_count(&store->db->expires) * EXPIRE_ENTRY_BYTES;
    memory->overhead = memory->clients + (memory->keys > 0 ? memory->table_main +
                                                                 memory->table_expires
                                                           : 0);
    if (context->script != NULL) {
        struct script_info lua;
        script_info_read(context->script, &lua);
        memory->cached_scripts = lua.cached_scripts;
    }
    KV_ASSERT(memory->active <= memory->resident);
}

/* A name and an integer of MEMORY STATS. */
static void stats_integer(struct reply *reply, const char *name, uint64_t value)
{
    reply_bulk(reply, slice_text(name));
    reply_integer(reply, (int64_t)value);
}

/* A name and a ratio, computed in float as Redis's fields are, written as a double. */
static void stats_ratio(struct reply *reply, const char *name, float value)
{
    reply_bulk(reply, slice_text(name));
    reply_score(reply, (double)value);
}

static float ratio(uint64_t over, uint64_t under)
{
    return under > 0 ? (float)over / (float)under : 0.0f;
}

static void memory_stats(struct cmd_context *context)
{
    struct memory_overhead memory;
    memory_overhead_read(context, &memory);
    struct reply *reply = &context->reply;
    uint64_t net = memory.total > 0 ? memory.total : 1; /* startup.allocated is 0 */
    uint64_t dataset = memory.total > memory.overhead ? memory.total - memory.overhead : 0;
    reply_map(reply, 27 + (memory.keys > 0 ? 1u : 0u));
    stats_integer(reply, "peak.allocated", memory.peak);
    stats_integer(reply, "total.allocated", memory.total);
    stats_integer(reply, "startup.allocated", 0);
    stats_integer(reply, "replication.backlog", 0);
    stats_integer(reply, "clients.slaves", 0);
    stats_integer(reply, "clients.normal", memory.clients);
    stats_integer(reply, "cluster.links", 0);
    stats_integer(reply, "aof.buffer", 0);
    stats_integer(reply, "lua.caches", 0);
    stats_integer(reply, "functions.caches", 0);
    if (memory.keys > 0) {
        reply_bulk(reply, slice_text("db.0"));
        reply_map(reply, 3);
        stats_integer(reply, "overhead.hashtable.main", memory.table_main);
        stats_integer(reply, "overhead.hashtable.expires", memory.table_expires);
        stats_integer(reply, "overhead.hashtable.slot-to-keys", 0);
    }
    stats_integer(reply, "overhead.total", memory.overhead);
    stats_integer(reply, "keys.count", memory.keys);
    stats_integer(reply, "keys.bytes-per-key", memory.keys > 0 ? net / memory.keys : 0);
    stats_integer(reply, "dataset.bytes", dataset);
    stats_ratio(reply, "dataset.percentage", (float)dataset * 100 / (float)net);
    stats_ratio(reply, "peak.percentage", (float)memory.total * 100 / (float)memory.peak);
    stats_integer(reply, "allocator.allocated", memory.total);
    stats_integer(reply, "allocator.active", memory.active);
    stats_integer(reply, "allocator.resident", memory.resident);
    stats_ratio(reply, "allocator-fragmentation.ratio", ratio(memory.active, memory.total));
    stats_integer(reply, "allocator-fragmentation.bytes", memory.active - memory.total);
    stats_ratio(reply, "allocator-rss.ratio", ratio(memory.resident, memory.active));
    stats_integer(reply, "allocator-rss.bytes", memory.resident - memory.active);
    stats_ratio(reply, "rss-overhead.ratio", ratio(memory.rss, memory.resident));
    stats_integer(reply, "rss-overhead.bytes", memory.rss - memory.resident);
    /* INFO's mem_fragmentation_ratio: the spans' pages over the bytes used in them. */
    stats_ratio(reply, "fragmentation", ratio(memory.active, memory.total));
    stats_integer(reply, "fragmentation.bytes", memory.active - memory.total);
}

/* Redis's getMemoryDoctorReport, its words, over the figures that mean the same in kv. */
static void memory_doctor(struct cmd_context *context)
{
    struct memory_overhead memory;
    memory_overhead_read(context, &memory);
    static const char empty_text[] =
        "Hi Sam, this instance is empty or is using very little memory, my issues detector "
        "can't be used in these conditions. Please, leave for your mission on Earth and fill "
        "it with some data. The new Sam and I will be back to our programming as soon as I "
        "finished rebooting.\n";
    static const char fine_text[] =
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what "
        "occurs on this base.\n";
    static const char head_text[] =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n";
    static const char peak_text[] =
        " * Peak memory: In the past this instance used more than 150% the memory that is "
        "currently using. The allocator is normally not able to release memory after a peak, "
        "so you can expect to see a big fragmentation ratio, however this is actually "
        "harmless and is only due to the memory peak, and if the Redis instance Resident Set "
        "Size (RSS) is currently bigger than expected, the memory will be used as soon as you "
        "fill the Redis instance with more data. If the memory peak was only occasional and "
        "you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise "
        "the only other option is to shutdown and restart the instance.\n\n";
    static const char fragmentation_text[] =
        " * High allocator fragmentation: This instance has an allocator external "
        "fragmentation greater than 1.1. This problem is usually due either to a large peak "
        "memory (check if there is a peak memory entry above in the report) or may result "
        "from a workload that causes the allocator to fragment memory a lot. You can try "
        "enabling 'activedefrag' config option.\n\n";
    static const char clients_text[] =
        " * Big client buffers: The clients output buffers in this instance are greater than "
        "200K per client (on average). This may result from different causes, like Pub/Sub "
        "clients subscribed to channels bot not receiving data fast enough, so that data "
        "piles on the Redis instance output buffer, or clients sending commands with large "
        "replies or very large sequences of commands in the same pipeline. Please use the "
        "CLIENT LIST command in order to investigate the issue if it causes problems in your "
        "instance, or to understand better why certain clients are using a big amount of "
        "memory.\n\n";
    static const char scripts_text[] =
        " * Many scripts: There seem to be many cached scripts in this instance (more than "
        "1000). This may be because scripts are generated and `EVAL`ed, instead of being "
        "parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT "
        "FLUSH` is called periodically, the scripts' caches may end up consuming most of "
        "your memory.\n\n";
    static const char tail_text[] = "I'm here to keep you safe, Sam. I want to help you.\n";
    bool empty = memory.total < 5u * 1024 * 1024;
    bool peak = !empty && ratio(memory.peak, memory.total) > 1.5f;
    bool fragmented = !empty && ratio(memory.active, memory.total) > 1.1f &&
                      memory.active - memory.total > (10u << 20);
    bool clients = !empty && memory.client_count > 0 &&
                   memory.clients / memory.client_count > 200u * 1024;
    bool scripts = !empty && memory.cached_scripts > 1000;
    const char *parts[6];
    uint32_t part_count = 0;
    if (empty) {
        parts[part_count++] = empty_text;
    } else if (!peak && !fragmented && !clients && !scripts) {
        parts[part_count++] = fine_text;
    } else {
        parts[part_count++] = head_text;
        parts[part_count++] = peak ? peak_text : "";
        parts[part_count++] = fragmented ? fragmentation_text : "";
        parts[part_count++] = clients ? clients_text : "";
        parts[part_count++] = scripts ? scripts_text : "";
        parts[part_count++] = tail_text;
    }
    uint64_t bytes = 0;
    /* Bounded: six parts at most. */
    for (uint32_t part = 0; part < part_count; part++) {
        bytes += strlen(parts[part]);
    }
    reply_verbatim_header(&context->reply, bytes, "txt");
    for (uint32_t part = 0; part < part_count; part++) {
        reply_raw(&context->reply, parts[part], (uint32_t)strlen(parts[part]));
    }
    reply_raw(&context->reply, "\r\n", 2);
}

/* MEMORY MALLOC-STATS: kv's data are in its heap, not in an allocator with a report of its
 * own; the heap's figures take that report's place. */
static void memory_malloc_stats(struct cmd_context *context)
{
    const struct heap *heap = context->store->heap;
    char text[512];
    int length = snprintf(text, sizeof(text),
                          "kv heap: %u pages of %u bytes, %u free, %u in small spans, %u in "
                          "large ones; %" PRIu64 " bytes used (peak %" PRIu64 ") in %" PRIu64
                          " allocations; %" PRIu64 " allocations refused\n",
                          heap->page_count, (unsigned)HEAP_PAGE_BYTES, heap->free_pages,
                          heap->small_pages, heap->large_pages, heap->used_bytes,
                          heap->peak_used_bytes, heap->allocations, heap->failed_allocations);
    KV_ASSERT(length > 0 && (size_t)length < sizeof(text));
    reply_verbatim(&context->reply, slice_bytes(text, (uint32_t)length), "txt");
}

CMD_HANDLER(cmd_memory)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "memory|help")) {
        cmd_reply_help(&context->reply, memory_help, sizeof(memory_help) / sizeof(memory_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "usage", -3, "memory|usage")) {
        memory_usage(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "stats", 2, "memory|stats")) {
        memory_stats(context);
    } else if (cmd_subcommand_is(context, args, arg_count, "doctor", 2, "memory|doctor")) {
        memory_doctor(context);
    } else if (cmd_subcommand_is(context, args, arg_count, "malloc-stats", 2,
                                 "memory|malloc-stats")) {
        memory_malloc_stats(context);
    } else if (cmd_subcommand_is(context, args, arg_count, "purge", 2, "memory|purge")) {
        reply_ok(&context->reply); /* freed spans merge at once: nothing waits to be purged */
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "MEMORY");
    }
    KV_ASSERT(context->reply.total > length_before);
}

static const struct cmd object_cmds[] = {
    {"object", -2, 2, 2, 1, 0, cmd_object},
};

static const struct cmd memory_cmds[] = {
    {"memory", -2, 0, 0, 0, 0, cmd_memory},
};

CMD_FAMILY(cmd_family_object, "generic", object_cmds);
CMD_FAMILY(cmd_family_memory, "server", memory_cmds);
