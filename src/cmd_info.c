/*
 * INFO [section ...], as Redis 7.0's genRedisInfoString: every section Redis prints, in its
 * order and with its field names (server, clients, memory, persistence, stats, replication,
 * cpu, modules, commandstats, errorstats, latencystats, cluster, keyspace), so clients and
 * exporters (redis_exporter) read it unchanged; kv's own fields (region, heap, limits) follow
 * Redis's in their sections, under kv_ names. Values are what kv has: a server that never
 * saved and keeps no AOF (Redis's values for one), a master without replicas, no modules, no
 * forks; what kv does not count reads 0 (rdb_changes_since_last_save, the reads and writes
 * processed, the kbps rates). Sections are chosen as Redis chooses them: none or
 * "default" the default ones, "all" every one, "everything" too (kv has no module sections),
 * names in any case, "modules" or "module_list" the Modules header.
 *
 * The text is formatted into one static buffer of INFO_TEXT_BYTES (sized for every section
 * with every command's two lines) and sent as one verbatim reply; nothing is allocated.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "cmd_handlers.h"

#include "cluster.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "alloc_stats.h"
#include "block.h"
#include "conn.h"
#include "evict.h"
#include "latency.h"
#include "pubsub.h"
#include "propagate.h"
#include "rdb.h"
#include "snapshot.h"
#include "region.h"
#include "script.h"
#include "tracking.h"

/* The Redis version kv answers as (cmd_server.c's HELLO says the same). */
#define INFO_REDIS_VERSION "7.0.15"

/* The text of the largest INFO: the fixed sections (under 8 KiB), the Lua lines, and for
 * each command a commandstats and a latencystats line (under 400 bytes both, with a name
 * of at most 48 bytes), and each error code's line. */
#define INFO_FIXED_BYTES (16u * 1024u)
#define INFO_COMMAND_LINES_BYTES 400u
#define INFO_COMMANDS_MAX 512u
#define INFO_TEXT_BYTES                                                                     \
    (INFO_FIXED_BYTES + INFO_COMMANDS_MAX * INFO_COMMAND_LINES_BYTES +                      \
     STATS_ERROR_CODES_MAX * (STATS_ERROR_CODE_BYTES_MAX + 48u))

static char info_text[INFO_TEXT_BYTES];

/* A text being built on the stack; overflow is a bug in the bound, so it asserts. */
struct text {
    char *bytes;
    uint32_t length;
    uint32_t capacity;
};

static void text_add(struct text *text, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *text, const char *format, ...)
{
    KV_ASSERT(text->length < text->capacity); /* room for at least the NUL */
    va_list list;
    va_start(list, format);
    int written = vsnprintf(text->bytes + text->length, text->capacity - text->length, format, list);
    va_end(list);
    KV_ASSERT(written >= 0);
    KV_ASSERT((uint32_t)written < text->capacity - text->length);
    text->length += (uint32_t)written;
}

static uint64_t now_us(void)
{
    struct timeval now;
    int result = gettimeofday(&now, NULL);
    KV_ASSERT(result == 0); /* fails only for a bad pointer */
    KV_ASSERT(now.tv_usec >= 0);
    KV_ASSERT(now.tv_usec < 1000000);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_usec;
}

/* 40 hex digits that name this run (Redis's run_id and master_replid), drawn from the
 * store's startup seed: the same for the whole run, new at each start. */
static void run_id(const struct cmd_context *context, uint64_t salt, char *out)
{
    uint64_t state = context->store->seed ^ salt;
    /* Bounded: 40 digits, 16 from each draw. */
    for (uint32_t digit = 0; digit < 40; digit++) {
        if (digit % 16 == 0) {
            state += 0x9e3779b97f4a7c15ull; /* splitmix64 */
            uint64_t mixed = state;
            mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ull;
            mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebull;
            state = mixed ^ (mixed >> 31);
        }
        out[digit] = "0123456789abcdef"[(state >> (4u * (digit % 16u))) & 0xfu];
    }
    out[40] = '\0';
    KV_ASSERT(out[39] != '\0');
}

static void info_server(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    uint64_t now = now_us();
    uint64_t uptime_s = (now - context->stats->start_time_us) / 1000000u;
    struct utsname name;
    if (uname(&name) != 0) {
        memset(&name, 0, sizeof(name));
    }
    char executable[256];
    ssize_t executable_bytes = readlink("/proc/self/exe", executable, sizeof(executable) - 1);
    executable[executable_bytes > 0 ? executable_bytes : 0] = '\0';
    char id[41];
    run_id(context, 1, id);
    text_add(text,
             "# Server\r\nredis_version:" INFO_REDIS_VERSION "\r\nredis_git_sha1:00000000\r\n"
             "redis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:%s\r\n"
             "os:%s %s %s\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\n"
             "multiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\n"
             "gcc_version:%d.%d.%d\r\nprocess_id:%d\r\nprocess_supervised:no\r\n"
             "run_id:%s\r\ntcp_port:%u\r\nserver_time_usec:%" PRIu64
             "\r\nuptime_in_seconds:%" PRIu64 "\r\nuptime_in_days:%" PRIu64 "\r\n"
             "hz:%u\r\nconfigured_hz:%u\r\nlru_clock:%" PRIu64 "\r\nexecutable:%s\r\n"
             "config_file:%s\r\nio_threads_active:0\r\nkv_version:0.1.0\r\n",
             cluster_enabled() ? "cluster" : "standalone", name.sysname, name.release,
             name.machine, __GNUC__, __GNUC_MINOR__,
             __GNUC_PATCHLEVEL__, (int)getpid(), id, context->config->port, now, uptime_s,
             uptime_s / 86400u, context->config->hz, context->config->hz,
             (now / 1000000u) & 0xffffffu, executable, context->config->config_file);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

static void info_clients(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    text_add(text,
             "# Clients\r\nconnected_clients:%u\r\ncluster_connections:0\r\nmaxclients:%u\r\n"
             "client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n"
             "blocked_clients:%u\r\ntracking_clients:%u\r\nclients_in_timeout_table:0\r\n",
             context->stats->connected_clients, context->config->connections_max,
             context->block != NULL ? context->block->blocked_count : 0,
             context->tracking != NULL ? context->tracking->tracking_count : 0);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* Redis's bytesToHuman: "1023B", "1.50K", "256.00M", ... */
static void bytes_human(char *out, size_t out_bytes, uint64_t bytes)
{
    static const char units[] = "KMGTP";
    if (bytes < 1024) {
        snprintf(out, out_bytes, "%" PRIu64 "B", bytes);
        return;
    }
    double value = (double)bytes / 1024.0;
    uint32_t unit = 0;
    /* Bounded by the units there are. */
    while (value >= 1024.0 && unit + 1 < sizeof(units) - 1) {
        value /= 1024.0;
        unit++;
    }
    snprintf(out, out_bytes, "%.2f%c", value, units[unit]);
}

/* Room for INFO's scripting lines: 13 lines of at most 60 bytes. */
#define INFO_LUA_BYTES 800u

/*
 * INFO's scripting memory lines, in Redis 7.0's order, into `out`. Redis also counts memory
 * outside Lua (its dict of script bodies, its function metadata: used_memory_scripts_eval,
 * used_memory_functions); kv keeps both inside the Lua heap, so those read 0 and the Lua
 * figures hold everything. Without scripting (tests), every figure is 0.
 */
static void info_lua(const struct cmd_context *context, char *out)
{
    struct script_info lua = {0};
    if (context->script != NULL) {
        script_info_read(context->script, &lua);
    }
    char eval_human[32];
    char total_human[32];
    char scripts_human[32];
    bytes_human(eval_human, sizeof(eval_human), lua.eval_vm_bytes);
    bytes_human(total_human, sizeof(total_human), lua.eval_vm_bytes + lua.function_vm_bytes);
    bytes_human(scripts_human, sizeof(scripts_human), 0);
    int written = snprintf(
        out, INFO_LUA_BYTES,
        "used_memory_lua:%" PRIu64 "\r\nused_memory_vm_eval:%" PRIu64
        "\r\nused_memory_lua_human:%s\r\nused_memory_scripts_eval:0\r\n"
        "number_of_cached_scripts:%u\r\nnumber_of_functions:%u\r\nnumber_of_libraries:%u\r\n"
        "used_memory_vm_functions:%" PRIu64 "\r\nused_memory_vm_total:%" PRIu64
        "\r\nused_memory_vm_total_human:%s\r\nused_memory_functions:0\r\n"
        "used_memory_scripts:0\r\nused_memory_scripts_human:%s\r\n",
        lua.eval_vm_bytes, lua.eval_vm_bytes, eval_human, lua.cached_scripts, lua.functions,
        lua.libraries, lua.function_vm_bytes, lua.eval_vm_bytes + lua.function_vm_bytes,
        total_human, scripts_human);
    KV_ASSERT(written > 0 && (uint32_t)written < INFO_LUA_BYTES);
}

/*
 * Redis's memory fields, over kv's budget: used_memory is the heap's used bytes (every key,
 * value, collection and client buffer: what maxmemory bounds), of which the client buffers
 * are the overhead and the rest the dataset (kv takes nothing from the heap at startup);
 * used_memory_rss is the process's resident set (the whole region is locked and prefaulted,
 * so it is the region and then some); the allocator's figures are the heap's (its bytes
 * handed out, the pages of its spans, all its pages); mem_fragmentation_ratio is the heap's
 * pages taken by spans over the bytes used in them: how much of the budget that is in use
 * holds data (1.00 is none wasted). kv's own figures follow, under kv_ names.
 */
static void info_memory(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    const struct region *region = context->region;
    const struct heap *heap = context->store->heap;
    const struct config *config = context->config;
    uint64_t rss = alloc_stats_rss_bytes();
    char used_human[32];
    char rss_human[32];
    char peak_human[32];
    char max_human[32];
    char system_human[32];
    bytes_human(used_human, sizeof(used_human), heap->used_bytes);
    bytes_human(rss_human, sizeof(rss_human), rss);
    bytes_human(peak_human, sizeof(peak_human), heap->peak_used_bytes);
    bytes_human(max_human, sizeof(max_human), config->maxmemory);
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_bytes = sysconf(_SC_PAGESIZE);
    uint64_t system_bytes = pages > 0 && page_bytes > 0 ? (uint64_t)pages * (uint64_t)page_bytes
                                                         : 0;
    bytes_human(system_human, sizeof(system_human), system_bytes);
    uint64_t span_bytes = (uint64_t)(heap->small_pages + heap->large_pages) * HEAP_PAGE_BYTES;
    uint64_t heap_bytes = (uint64_t)heap->page_count * HEAP_PAGE_BYTES;
    double fragmentation = heap->used_bytes > 0 ? (double)span_bytes / (double)heap->used_bytes
                                                : 1.0;
    uint64_t clients_bytes = context->conns->memory_bytes;
    uint64_t overhead = clients_bytes < heap->used_bytes ? clients_bytes : heap->used_bytes;
    uint64_t dataset = heap->used_bytes - overhead;
    char lua_text[INFO_LUA_BYTES];
    info_lua(context, lua_text);
    double peak_perc = heap->peak_used_bytes > 0
                           ? 100.0 * (double)heap->used_bytes / (double)heap->peak_used_bytes
                           : 100.0;
    double dataset_perc = heap->used_bytes > 0
                              ? 100.0 * (double)dataset / (double)heap->used_bytes
                              : 0.0;
    double rss_ratio = span_bytes > 0 ? (double)heap_bytes / (double)span_bytes : 1.0;
    double rss_overhead = heap_bytes > 0 ? (double)rss / (double)heap_bytes : 1.0;
    text_add(text,
             "# Memory\r\nused_memory:%" PRIu64 "\r\nused_memory_human:%s\r\n"
             "used_memory_rss:%" PRIu64 "\r\nused_memory_rss_human:%s\r\n"
             "used_memory_peak:%" PRIu64 "\r\nused_memory_peak_human:%s\r\n"
             "used_memory_peak_perc:%.2f%%\r\nused_memory_overhead:%" PRIu64
             "\r\nused_memory_startup:0\r\nused_memory_dataset:%" PRIu64
             "\r\nused_memory_dataset_perc:%.2f%%\r\nallocator_allocated:%" PRIu64
             "\r\nallocator_active:%" PRIu64 "\r\nallocator_resident:%" PRIu64
             "\r\ntotal_system_memory:%" PRIu64 "\r\ntotal_system_memory_human:%s\r\n%s",
             heap->used_bytes, used_human, rss, rss_human, heap->peak_used_bytes, peak_human,
             peak_perc, overhead, dataset, dataset_perc, heap->used_bytes, span_bytes,
             heap_bytes, system_bytes, system_human, lua_text);
    text_add(text,
             "maxmemory:%" PRIu64 "\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n"
             "allocator_frag_ratio:%.2f\r\nallocator_frag_bytes:%" PRId64 "\r\n"
             "allocator_rss_ratio:%.2f\r\nallocator_rss_bytes:%" PRId64 "\r\n"
             "rss_overhead_ratio:%.2f\r\nrss_overhead_bytes:%" PRId64 "\r\n"
             "mem_fragmentation_ratio:%.2f\r\nmem_fragmentation_bytes:%" PRId64 "\r\n"
             "mem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\n"
             "mem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\n"
             "mem_clients_normal:%" PRIu64 "\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\n"
             "mem_allocator:kv-heap\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:0"
             "\r\nlazyfreed_objects:0\r\n",
             config->maxmemory, max_human, config_policy_name(config->maxmemory_policy),
             fragmentation, (int64_t)span_bytes - (int64_t)heap->used_bytes, rss_ratio,
             (int64_t)heap_bytes - (int64_t)span_bytes, rss_overhead,
             (int64_t)rss - (int64_t)heap_bytes, fragmentation,
             (int64_t)span_bytes - (int64_t)heap->used_bytes, clients_bytes);
    struct alloc_stats alloc;
    alloc_stats_read(&alloc);
    text_add(text,
             "allocator_allocations:%" PRId64 "\r\nallocator_allocated_bytes:%" PRId64 "\r\n"
             "kv_region_bytes:%" PRIu64 "\r\nkv_region_page_bytes:%" PRIu64
             "\r\nkv_region_hugetlb:%d\r\nkv_region_locked:%d\r\n",
             alloc.available ? (int64_t)alloc.allocations : -1,
             alloc.available ? (int64_t)alloc.allocated_bytes : -1, region->bytes,
             region->page_bytes, region->hugetlb ? 1 : 0, region->locked ? 1 : 0);
    text_add(text,
             "kv_heap_bytes:%" PRIu64 "\r\nkv_heap_used_bytes:%" PRIu64
             "\r\nkv_heap_peak_bytes:%" PRIu64 "\r\nkv_heap_allocations:%" PRIu64
             "\r\nkv_heap_free_pages:%u\r\nkv_heap_small_pages:%u\r\nkv_heap_large_pages:%u"
             "\r\nkv_heap_failed_allocations:%" PRIu64 "\r\nkv_data_limit_bytes:%" PRIu64
             "\r\nkv_client_reserve_bytes:%" PRIu64 "\r\n",
             heap_bytes, heap->used_bytes, heap->peak_used_bytes, heap->allocations,
             heap->free_pages, heap->small_pages, heap->large_pages, heap->failed_allocations,
             context->evict != NULL ? evict_limit(context->evict) : 0,
             context->evict != NULL ? context->evict->reserve_bytes : 0);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* Redis 7.0's persistence section: the RDB's saves and BGSAVE (snapshot.h), the AOF's fields
 * (propagate.h); the fork's fields read 0, as nothing forks. */
static void info_persistence(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    const struct rdb_save_stats *saved = rdb_stats();
    bool bgsave_running = snapshot_running() && !propagate_rewrite_running();
    text_add(text,
             "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\n"
             "current_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\n"
             "current_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n"
             "rdb_changes_since_last_save:%" PRIu64 "\r\nrdb_bgsave_in_progress:%d\r\n"
             "rdb_last_save_time:%" PRId64 "\r\nrdb_last_bgsave_status:%s\r\n"
             "rdb_last_bgsave_time_sec:%" PRId64 "\r\nrdb_current_bgsave_time_sec:%" PRId64
             "\r\nrdb_saves:%" PRIu64 "\r\n"
             "rdb_last_cow_size:0\r\nrdb_last_load_keys_expired:%" PRIu64 "\r\n"
             "rdb_last_load_keys_loaded:%" PRIu64 "\r\n",
             snapshot_changes() - saved->changes_at_save, bgsave_running ? 1 : 0,
             saved->last_save_seconds, saved->last_bgsave_ok ? "ok" : "err",
             saved->last_bgsave_seconds,
             bgsave_running ? (context->store->now_ms - saved->bgsave_started_ms) / 1000 : -1,
             rdb_saves(), saved->last_load_keys_expired,
             saved->last_load_keys_loaded);
    /* The AOF's fields (propagate.h's stats, kept by the writer); nothing forks (cow sizes 0). */
    static const struct propagate_aof_stats none = {.last_rewrite_time_sec = -1,
                                                    .last_rewrite_ok = true};
    const struct propagate_aof_stats *aof = propagate_stats();
    aof = aof != NULL ? aof : &none;
    text_add(text,
             "aof_enabled:%d\r\naof_rewrite_in_progress:%d\r\n"
             "aof_rewrite_scheduled:%d\r\naof_last_rewrite_time_sec:%" PRId64 "\r\n"
             "aof_current_rewrite_time_sec:%" PRId64 "\r\naof_last_bgrewrite_status:%s\r\n"
             "aof_rewrites:%" PRIu64 "\r\naof_rewrites_consecutive_failures:%" PRIu64 "\r\n"
             "aof_last_write_status:%s\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\n"
             "module_fork_last_cow_size:0\r\n",
             aof->enabled ? 1 : 0, aof->rewrite_in_progress ? 1 : 0,
             aof->rewrite_scheduled ? 1 : 0, aof->last_rewrite_time_sec,
             aof->rewrite_in_progress
                 ? (context->store->now_ms - aof->rewrite_started_ms) / 1000
                 : -1,
             aof->last_rewrite_ok ? "ok" : "err", aof->rewrites,
             aof->rewrites_consecutive_failures, aof->last_write_errno == 0 ? "ok" : "err");
    if (aof->enabled) {
        text_add(text,
                 "aof_current_size:%" PRIu64 "\r\naof_base_size:%" PRIu64 "\r\n"
                 "aof_pending_rewrite:%d\r\naof_buffer_length:%" PRIu64 "\r\n"
                 "aof_pending_bio_fsync:%d\r\naof_delayed_fsync:%" PRIu64 "\r\n",
                 aof->current_size, aof->base_size, aof->rewrite_scheduled ? 1 : 0,
                 aof->buffer_length, aof->pending_fsync ? 1 : 0, aof->delayed_fsync);
    }
    KV_ASSERT(text->length > length_before); /* at least its header */
}

static void info_stats(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    stats_ops_sample(context->stats, context->store->now_ms);
    const struct stats *stats = context->stats;
    const struct tracking *tracking = context->tracking;
    text_add(text,
             "# Stats\r\ntotal_connections_received:%" PRIu64
             "\r\ntotal_commands_processed:%" PRIu64 "\r\ninstantaneous_ops_per_sec:%" PRIu64
             "\r\ntotal_net_input_bytes:%" PRIu64 "\r\ntotal_net_output_bytes:%" PRIu64
             "\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\n"
             "instantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\n"
             "instantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\n"
             "rejected_connections:%" PRIu64 "\r\nsync_full:0\r\nsync_partial_ok:0\r\n"
             "sync_partial_err:0\r\nexpired_keys:%" PRIu64 "\r\nexpired_stale_perc:0.00\r\n"
             "expired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\n"
             "evicted_keys:%" PRIu64 "\r\nevicted_clients:%" PRIu64
             "\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\n"
             "keyspace_hits:%" PRIu64 "\r\nkeyspace_misses:%" PRIu64 "\r\n",
             stats->connections_received, stats->commands_processed, stats_ops_per_sec(stats),
             stats->bytes_received, stats->bytes_sent, stats->connections_rejected,
             context->store->expired_keys,
             context->evict != NULL ? context->evict->evicted_keys : 0, stats->evicted_clients,
             stats->keyspace_hits, stats->keyspace_misses);
    text_add(text,
             "pubsub_channels:%u\r\npubsub_patterns:%u\r\npubsubshard_channels:%u\r\n"
             "latest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\n"
             "slave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0"
             "\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\n"
             "total_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\n"
             "tracking_total_keys:%" PRIu64 "\r\ntracking_total_items:%" PRIu64 "\r\n"
             "tracking_total_prefixes:%" PRIu64 "\r\nunexpected_error_replies:0\r\n"
             "total_error_replies:%" PRIu64 "\r\ndump_payload_sanitizations:0\r\n"
             "total_reads_processed:0\r\ntotal_writes_processed:0\r\n"
             "io_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\n"
             "reply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
             context->pubsub != NULL ? (uint32_t)dict_count(&context->pubsub->channels) : 0,
             context->pubsub != NULL ? (uint32_t)pubsub_pattern_count(context->pubsub) : 0,
             context->pubsub != NULL ? (uint32_t)pubsub_shard_count(context->pubsub) : 0,
             tracking != NULL ? tracking_key_count(tracking) : 0,
             tracking != NULL ? tracking->link_count : 0,
             tracking != NULL ? tracking_prefix_count(tracking) : 0, stats->error_replies);
    text_add(text,
             "kv_protocol_errors:%" PRIu64 "\r\nkv_protected_refusals:%" PRIu64
             "\r\nkv_idle_disconnects:%" PRIu64 "\r\nkv_stalled_disconnects:%" PRIu64
             "\r\nkv_pubsub_disconnects:%" PRIu64 "\r\nkv_refused_commands:%" PRIu64
             "\r\nkv_ring_full_submits:%" PRIu64 "\r\nkv_ring_full_parks:%" PRIu64
             "\r\nclient_output_buffer_limit_disconnections:%" PRIu64
             "\r\nkv_memory_disconnects:%" PRIu64 "\r\n",
             stats->protocol_errors, stats->protected_refusals, stats->idle_disconnects,
             stats->stalled_disconnects, stats->pubsub_disconnects, stats->refused_commands,
             stats->ring_full_submits, stats->ring_full_parks, stats->output_limit_disconnects,
             stats->memory_disconnects);
    text_add(text,
             "kv_recv_backpressure_cancels:%" PRIu64 "\r\nkv_recv_ring_empty:%" PRIu64
             "\r\nkv_batched_waits:%" PRIu64 "\r\n",
             stats->recv_backpressure_cancels, stats->recv_ring_empty, stats->batched_waits);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* A master without replicas or a backlog (kv does not replicate). */
static void info_replication(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    char id[41];
    run_id(context, 2, id);
    text_add(text,
             "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
             "master_failover_state:no-failover\r\nmaster_replid:%s\r\n"
             "master_replid2:0000000000000000000000000000000000000000\r\n"
             "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
             "repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\n"
             "repl_backlog_histlen:0\r\n",
             id);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* getrusage's times, as Redis prints them: seconds and microseconds. */
static void info_cpu(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    (void)context;
    struct rusage self;
    struct rusage children;
    struct rusage thread;
    memset(&self, 0, sizeof(self));
    memset(&children, 0, sizeof(children));
    memset(&thread, 0, sizeof(thread));
    (void)getrusage(RUSAGE_SELF, &self);
    (void)getrusage(RUSAGE_CHILDREN, &children);
    (void)getrusage(RUSAGE_THREAD, &thread);
    text_add(text,
             "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n"
             "used_cpu_sys_children:%ld.%06ld\r\nused_cpu_user_children:%ld.%06ld\r\n"
             "used_cpu_sys_main_thread:%ld.%06ld\r\nused_cpu_user_main_thread:%ld.%06ld\r\n",
             (long)self.ru_stime.tv_sec, (long)self.ru_stime.tv_usec,
             (long)self.ru_utime.tv_sec, (long)self.ru_utime.tv_usec,
             (long)children.ru_stime.tv_sec, (long)children.ru_stime.tv_usec,
             (long)children.ru_utime.tv_sec, (long)children.ru_utime.tv_usec,
             (long)thread.ru_stime.tv_sec, (long)thread.ru_stime.tv_usec,
             (long)thread.ru_utime.tv_sec, (long)thread.ru_utime.tv_usec);
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* kv loads no modules: the header alone. */
static void info_modules(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    (void)context;
    text_add(text, "# Modules\r\n");
    KV_ASSERT(text->length > 0);
}

/* "errorstat_ERR:count=3" for each error code sent, in byte order (stats.c counts them). */
static void info_errorstats(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    const struct stats *stats = context->stats;
    KV_ASSERT(stats->error_code_count <= STATS_ERROR_CODES_MAX);
    text_add(text, "# Errorstats\r\n");
    /* Bounded by the codes counted. */
    for (uint32_t index = 0; index < stats->error_code_count; index++) {
        const struct stats_error *error = &stats->errors[index];
        text_add(text, "errorstat_%.*s:count=%" PRIu64 "\r\n", (int)error->length, error->code,
                 error->count);
    }
}

static void info_cluster(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    (void)context;
    text_add(text, "# Cluster\r\ncluster_enabled:%d\r\n", cluster_enabled() ? 1 : 0);
    KV_ASSERT(text->length > 0);
}

/* The longest keyspace line: "db" and 10 digits, ":keys=", 20 digits, ",expires=", 20
 * digits, ",avg_ttl=", 19 digits, CRLF. */
#define INFO_KEYSPACE_LINE_BYTES_MAX 112u

static void info_keyspace(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    text_add(text, "# Keyspace\r\n");
    const struct store *store = context->store;
    /* Bounded by the databases: a line for each that holds keys, as Redis prints them, while
     * the text has room for a whole line (INFO's text is sized for the sections, so a
     * server of thousands of non-empty databases shows the first that fit). */
    for (uint32_t index = 0; index < store->db_count &&
                             text->capacity - text->length > INFO_KEYSPACE_LINE_BYTES_MAX;
         index++) {
        uint64_t keys = store_db_key_count(store, index);
        if (keys > 0) {
            text_add(text,
                     "db%" PRIu32 ":keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=%" PRId64
                     "\r\n",
                     index, keys, store_db_expires_count(store, index),
                     store_db_avg_ttl(store, index));
        }
    }
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* "cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0", for the
 * commands called, refused or failed at least once (Redis 7's format). */
static void info_commandstats(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    (void)context;
    text_add(text, "# Commandstats\r\n");
    const char *name = NULL;
    struct cmd_stats stats;
    for (uint32_t index = 0; cmd_stats_at(index, &name, &stats); index++) {
        if (stats.calls == 0 && stats.rejected_calls == 0 && stats.failed_calls == 0) {
            continue;
        }
        KV_ASSERT(stats.failed_calls <= stats.calls);
        uint64_t usec = stats.duration_ns / 1000u;
        double per_call = stats.calls == 0 ? 0.0 : (double)usec / (double)stats.calls;
        text_add(text,
                 "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f,"
                 "rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64 "\r\n",
                 name, stats.calls, usec, per_call, stats.rejected_calls, stats.failed_calls);
    }
    KV_ASSERT(text->length > length_before); /* at least its header */
}

/* "latency_percentiles_usec_get:p50=1.003,p99=3.007,p99.9=10.015" for each command called
 * (Redis 7's latencystats), from the per-command histograms. */
static void info_latencystats(struct cmd_context *context, struct text *text)
{
    KV_ASSERT(text->length < text->capacity);
    uint32_t length_before = text->length;
    (void)context;
    text_add(text, "# Latencystats\r\n");
    const char *name = NULL;
    struct cmd_stats stats;
    for (uint32_t index = 0; cmd_stats_at(index, &name, &stats); index++) {
        const struct latency_histogram *histogram = cmd_latency_at(index);
        if (histogram->count == 0) {
            continue;
        }
        text_add(text, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", name,
                 (double)latency_percentile_ns(histogram, 0.50) / 1000.0,
                 (double)latency_percentile_ns(histogram, 0.99) / 1000.0,
                 (double)latency_percentile_ns(histogram, 0.999) / 1000.0);
    }
    KV_ASSERT(text->length > length_before); /* at least its header */
}

struct info_section {
    const char *name;
    const char *alias;  /* another name that selects it, or NULL */
    void (*write)(struct cmd_context *context, struct text *text);
    bool in_default;    /* shown by INFO and INFO default, not only by INFO all */
};

/* Redis 7.0's sections, in its order. */
static const struct info_section info_sections[] = {
    {"server", NULL, info_server, true},
    {"clients", NULL, info_clients, true},
    {"memory", NULL, info_memory, true},
    {"persistence", NULL, info_persistence, true},
    {"stats", NULL, info_stats, true},
    {"replication", NULL, info_replication, true},
    {"cpu", NULL, info_cpu, true},
    {"module_list", "modules", info_modules, true},
    {"commandstats", NULL, info_commandstats, false},
    {"errorstats", NULL, info_errorstats, true},
    {"latencystats", NULL, info_latencystats, false},
    {"cluster", NULL, info_cluster, true},
    {"keyspace", NULL, info_keyspace, true},
};

#define INFO_SECTION_COUNT (sizeof(info_sections) / sizeof(info_sections[0]))

/* Whether the arguments name a section ("default" names the default ones). */
static bool info_wanted(const struct info_section *section, const struct slice *args,
                        uint32_t arg_count)
{
    if (arg_count == 1) {
        return section->in_default;
    }
    /* Bounded by the arguments. */
    for (uint32_t index = 1; index < arg_count; index++) {
        if (cmd_arg_is(args[index], "all") || cmd_arg_is(args[index], "everything") ||
            (section->in_default && cmd_arg_is(args[index], "default")) ||
            cmd_arg_is(args[index], section->name) ||
            (section->alias != NULL && cmd_arg_is(args[index], section->alias))) {
            return true;
        }
    }
    return false;
}

/* INFO [section ...]. */
CMD_HANDLER(cmd_info)
{
    KV_ASSERT(arg_count >= 1); /* arity -1 */
    KV_ASSERT(cmd_count() <= INFO_COMMANDS_MAX);
    struct text text = {.bytes = info_text, .length = 0, .capacity = sizeof(info_text)};
    /* Bounded by the sections. */
    for (uint32_t section = 0; section < INFO_SECTION_COUNT; section++) {
        if (info_wanted(&info_sections[section], args, arg_count)) {
            if (text.length > 0) {
                text_add(&text, "\r\n");
            }
            info_sections[section].write(context, &text);
        }
    }
    KV_ASSERT(text.length < sizeof(info_text)); /* text_add kept room for its NUL */
    reply_verbatim(&context->reply,
                   (struct slice){.bytes = (const uint8_t *)info_text, .length = text.length},
                   "txt");
}

static const struct cmd info_cmds[] = {
    {"info", -1, 0, 0, 0, 0, cmd_info},
};

CMD_FAMILY(cmd_family_info, "server", info_cmds);
