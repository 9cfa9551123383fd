/*
 * kv's entry point: wires the modules in order. Configuration, plan, region (map, lock,
 * prefault), every pool carved, region sealed, then the loop serves until a signal. After
 * the seal nothing is allocated: the allocator counter in INFO memory shows it.
 */
#define _GNU_SOURCE /* sched_setaffinity and the CPU_* macros */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "aof.h"
#include "block.h"
#include "client.h"
#include "cluster.h"
#include "cluster_bus.h"
#include "cmd.h"
#include "cmd_handlers.h"
#include "config.h"
#include "conn.h"
#include "cron.h"
#include "evict.h"
#include "heap.h"
#include "host.h"
#include "layout.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "plan.h"
#include "pubsub.h"
#include "rdb_file.h"
#include "snapshot.h"
#include "redis_param.h"
#include "region.h"
#include "reply.h"
#include "script.h"
#include "serve.h"
#include "stats.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_string.h"
#include "store_zset.h"
#include "store_stream.h"
#include "tracking.h"
#include "watch.h"

/* Exit status for a bad option, as the README documents. */
#define MAIN_EXIT_USAGE 2

/* Stack touched at startup so the serving phase takes no stack page faults. */
#define MAIN_STACK_PREFAULT_BYTES (256u * 1024u)

static struct config config;
static struct watch watch;
static struct tracking tracking;
static struct plan plan;
static struct layout layout;
static struct region region;
static struct heap heap;
static struct store store;
static struct stats stats;
static struct pubsub pubsub;
static struct conns conns;
static struct clients clients;
static struct block block;
static struct evict evict;
static struct serve serve;
static struct cron cron;
static struct script script;

static int saved_argc;
static char **saved_argv;

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    loop_request_stop();
}

/* SIGTERM or SIGINT with save points set saves the RDB file before the exit, as Redis 7.0's
 * prepareForShutdown does (SHUTDOWN's own save is cmd_shutdown's). Redis goes on serving when
 * that save fails; kv's loop has already stopped, so it exits with status 1 instead, the
 * failure logged with Redis's line. False when the save failed. */
static bool signal_stop_save(void)
{
    int32_t points = redis_param_find("save", 4);
    KV_ASSERT(points >= 0);
    if (redis_param_value((uint32_t)points)[0] == '\0') {
        return true;
    }
    log_info("Saving the final RDB snapshot before exiting.");
    if (rdb_save(&store, store.now_ms) != 0) {
        log_warn("Error trying to save the DB, can't exit.");
        return false;
    }
    return true;
}

static void on_reload_signal(int signal_number)
{
    (void)signal_number;
    loop_request_reload();
}

/* SIGHUP: reads the file and flags again. The runtime options (those CONFIG SET changes:
 * requirepass, hz, maxmemory up to the heap, ...) take effect at once; a changed startup
 * option is reported as waiting for a restart. Nothing is allocated: the file is read onto
 * the stack. */
static void config_reload(void)
{
    struct config fresh;
    char error[512];
    bool help_wanted = false;
    config_defaults(&fresh);
    if (config_parse_args(&fresh, saved_argc, saved_argv, &help_wanted, error, sizeof(error)) !=
        0) {
        log_warn("SIGHUP: configuration not reloaded: %s", error);
        return;
    }
    /* CONFIG SET's rule for maxmemory: raised past the heap the region holds, it waits for a
     * restart. Applied, INFO and CONFIG GET would show a budget kv cannot give, and CONFIG SET
     * would then accept that value as unchanged. */
    uint64_t heap_bytes = (uint64_t)heap.page_count * HEAP_PAGE_BYTES;
    bool maxmemory_kept = fresh.maxmemory > heap_bytes && fresh.maxmemory != config.maxmemory;
    if (maxmemory_kept) {
        log_warn("SIGHUP: option maxmemory %" PRIu64 " is past the heap's %" PRIu64
                 " bytes: not applied; restart kv to raise it",
                 fresh.maxmemory, heap_bytes);
        fresh.maxmemory = config.maxmemory;
    }
    KV_ASSERT(fresh.maxmemory <= heap_bytes || fresh.maxmemory == config.maxmemory);
    const char *names[32];
    uint32_t applied = config_apply_runtime(&config, &fresh, names, 32);
    for (uint32_t index = 0; index < applied; index++) {
        log_info("SIGHUP: option %s changed and applied", names[index]);
    }
    cmd_slowlog_threshold_set(config.slowlog_log_slower_than);
    /* The Redis parameters the file sets are stored as it is read; those parsed once per
     * change (as CONFIG SET does) are parsed again here. */
    notify_configure();
    store_hash_configure();
    store_set_configure();
    store_zset_configure();
    uint32_t count = config_changed(&config, &fresh, names, 32);
    if (count == 0 && applied == 0 && !maxmemory_kept) {
        log_info("SIGHUP: configuration re-read, nothing changed");
    }
    for (uint32_t index = 0; index < count; index++) {
        log_warn("SIGHUP: option %s changed: it is fixed at startup (it sizes the memory plan or "
                 "the socket); restart kv to apply it",
                 names[index]);
    }
}

/* The `cpu` option: the loop thread runs on one CPU (with isolcpus, one the scheduler keeps
 * for it). Under systemd, CPUAffinity= in the unit does the same (its system-call filter
 * refuses sched_setaffinity, and kv then warns and runs unpinned). */
static void cpu_pin(const struct config *pinned)
{
    if (pinned->cpu < 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((size_t)pinned->cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        log_warn("cpu: cannot pin the loop to CPU %d: %s; running unpinned", pinned->cpu,
                 strerror(errno));
        return;
    }
    log_info("cpu: the loop runs on CPU %d", pinned->cpu);
}

static void signals_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    /* No SA_RESTART: the wait in the loop returns with EINTR and sees the request. */
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    action.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &action, NULL);
    /* A write to a reset socket must fail with EPIPE, not kill the server. */
    signal(SIGPIPE, SIG_IGN);
}

static void stack_prefault(void)
{
    volatile uint8_t bytes[MAIN_STACK_PREFAULT_BYTES];
    for (uint32_t offset = 0; offset < sizeof(bytes); offset += 4096) {
        bytes[offset] = 0;
    }
}

static uint64_t hash_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
        struct timeval now;
        gettimeofday(&now, NULL);
        seed = (uint64_t)now.tv_sec * 1000003u ^ (uint64_t)now.tv_usec;
    }
    return seed;
}

/* Monotonic µs: eviction's time limit. */
static uint64_t monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

/* Writes the PID file; a failure to write it is a startup failure (a service manager or
 * script relies on it). */
static int pidfile_write(const char *path)
{
    FILE *file = fopen(path, "w");
    if (file == NULL || fprintf(file, "%d\n", (int)getpid()) < 0 || fclose(file) != 0) {
        log_error("cannot write pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void plan_log(void)
{
    log_info("plan: recv_limit=%u args_max=%u connection_slots=%u", plan.recv_limit,
             plan.args_max, plan.conn_slot_count);
    for (int pool = 0; pool < LAYOUT_POOL_COUNT; pool++) {
        log_info("plan: %-13s %15" PRIu64 " bytes", layout_pool_name((enum layout_pool)pool),
                 layout.pool_bytes[pool]);
    }
    log_info("plan: total %23" PRIu64 " bytes (%.1f MiB)", layout.total_bytes,
             (double)layout.total_bytes / (1024.0 * 1024.0));
}

/* The store's hook for a key about to change: WATCH and client-side caching hear of it. */
static void keys_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key)
{
    KV_ASSERT(context == &watch);
    watch_touched(context, db_index, hash, key);
    tracking_touched(&tracking, key);
}

/* Every module, bottom up, each carving its part of the region; the store's hooks tell
 * WATCH and tracking about changed keys and the blocked clients about keys that gained
 * members. */
static void modules_init(void)
{
    heap_init(&heap, &region, config.maxmemory);
    store_init(&store, &heap, &config, hash_seed());
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_stream_init(&store);
    watch_init(&watch, &heap, config.watch_keys_max, hash_seed());
    pubsub_init(&pubsub, &heap, config.pubsub_channels_max, config.subscriptions_max,
                hash_seed());
    conns_init(&conns, &region, &heap, plan.conn_slot_count, config.connections_max,
               plan.recv_limit);
    clients_init(&clients, &region, plan.conn_slot_count, &watch, &pubsub);
    block_init(&block, &region, &heap, plan.conn_slot_count, config.blocking_keys_max,
               hash_seed());
    tracking_init(&tracking, &heap, plan.conn_slot_count, hash_seed());
    store.touched = keys_touched;
    store.touched_context = &watch;
    snapshot_attach(&store); /* counts changes; a BGSAVE writes a key before it changes */
    store.ready = block_key_ready;
    store.ready_context = &block;
    evict_init(&evict, &store, &heap, &config, monotonic_us, &conns.memory_bytes);
    cmd_init(&region, PLAN_SLOWLOG_MAX_LEN);
    script_init(&script, &region, config.lua_heap_bytes);
    cmd_slowlog_threshold_set(config.slowlog_log_slower_than);
    struct timeval now;
    gettimeofday(&now, NULL);
    stats.start_time_us = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_usec;
    const struct cmd_context shared = {.store = &store,
                                       .config = &config,
                                       .plan = &plan,
                                       .region = &region,
                                       .stats = &stats,
                                       .watch = &watch,
                                       .pubsub = &pubsub,
                                       .conns = &conns,
                                       .clients = &clients,
                                       .block = &block,
                                       .evict = &evict,
                                       .script = &script,
                                       .tracking = &tracking};
    serve_init(&serve, &region, &plan, &shared, &heap);
    cron_init(&cron, &serve, &store, &config, &stats, cron_unix_ms);
}

/* Cluster mode (cluster-enabled yes, startup only): nodes.conf loaded or created, and the
 * store's per-slot index on before any key is loaded, as Redis's clusterInit (`port`: the
 * port kv listens on). False after logging why kv cannot start. */
static bool cluster_startup(uint32_t port)
{
    int32_t enabled = redis_param_find("cluster-enabled", 15);
    KV_ASSERT(enabled >= 0);
    if (strcmp(redis_param_value((uint32_t)enabled), "yes") != 0) {
        return true;
    }
    int32_t bus_port = redis_param_find("cluster-port", 12);
    KV_ASSERT(bus_port >= 0);
    if (strcmp(redis_param_value((uint32_t)bus_port), "0") == 0 && port > 65535 - 10000) {
        log_error("Redis port number too high. Cluster communication port is 10,000 port "
                  "numbers higher than your Redis port. Your Redis port number must be 55535 "
                  "or less.");
        return false;
    }
    int32_t dir = redis_param_find("dir", 3);
    KV_ASSERT(dir >= 0);
    if (!cluster_init(redis_param_value((uint32_t)dir), port)) {
        return false;
    }
    store_slots_enable(&store);
    return true;
}

static uint64_t slot_keys(void *context, uint32_t slot)
{
    return store_slot_key_count(context, slot);
}

/* After the data are loaded (Redis's verifyClusterConfigWithData): keys only in database 0,
 * and the slots holding keys claimed. */
static bool cluster_data_check(void)
{
    if (!cluster_enabled()) {
        return true;
    }
    /* Bounded by the databases. */
    for (uint32_t db_index = 1; db_index < store.db_count; db_index++) {
        if (store_db_key_count(&store, db_index) != 0) {
            log_error("You can't have keys in a DB different than DB 0 when in Cluster mode. "
                      "Exiting.");
            return false;
        }
    }
    return cluster_claim_slots(slot_keys, &store);
}

/* Loads <dir>/<dbfilename> before kv serves, as Redis's loadDataFromDisk; false: a file
 * kv refuses (logged), and kv exits. */
static bool rdb_startup_load(void)
{
    int32_t dir = redis_param_find("dir", 3);
    int32_t filename = redis_param_find("dbfilename", 10);
    KV_ASSERT(dir >= 0 && filename >= 0);
    struct timeval now;
    gettimeofday(&now, NULL);
    store_clock(&store, (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000);
    bool loaded = false;
    return rdb_file_load(&store, redis_param_value((uint32_t)dir),
                         redis_param_value((uint32_t)filename), &loaded) == 0;
}

int main(int argc, char **argv)
{
    char error[512];
    bool help_wanted = false;
    saved_argc = argc;
    saved_argv = argv;
    redis_param_init(); /* before the file, whose lines may set Redis's parameters */
    config_defaults(&config);
    if (config_parse_args(&config, argc, argv, &help_wanted, error, sizeof(error)) != 0) {
        fprintf(stderr, "kv: %s\n", error);
        return MAIN_EXIT_USAGE;
    }
    if (help_wanted) {
        config_usage();
        return 0;
    }
    if (plan_compute(&plan, &config, error, sizeof(error)) != 0) {
        fprintf(stderr, "kv: %s\n", error);
        return MAIN_EXIT_USAGE;
    }
    layout_compute(&layout, &config, &plan);
    if (config.plan_only) {
        layout_print(&layout, &plan, &config, stdout);
        return 0;
    }
    if (config.check_host) {
        return host_check(&config, layout.total_bytes, loop_probe(), stdout) == HOST_FAIL ? 1 : 0;
    }
    plan_log();
    if (region_map(&region, layout.total_bytes, config.hugepages, config.mlock, error,
                   sizeof(error)) != 0) {
        log_error("%s", error);
        return 1;
    }
    log_info("region: %" PRIu64 " bytes on %s pages%s, %s", region.bytes, region_page_name(&region),
             region.hugetlb ? " (hugetlb)" : "", region.locked ? "locked" : "not locked");
    reply_errors_init(&config, plan.recv_limit);
    modules_init();
    snapshot_init(&region);
    if (!rdb_file_init(&region, (int64_t)(stats.start_time_us / 1000000u), error,
                       sizeof(error))) {
        log_error("%s", error);
        return 1;
    }
    rdb_file_scripts(&script);
    if (!aof_init(&region, error, sizeof(error))) {
        log_error("%s", error);
        return 1;
    }
    cluster_bus_init(&region); /* cluster-enabled yes: the bus links' buffers */
    struct loop *loop = NULL;
    if (loop_init(&loop, &config, &region, &serve, &cron, &stats, error, sizeof(error)) != 0) {
        log_error("%s", error);
        return 1;
    }
    loop_on_reload(loop, config_reload);
    script_busy_pass_set(&script, loop_busy_pass, loop); /* slow scripts let others in */
    cmd_migrate_io_set(&(struct cmd_migrate_io){.owner = loop,
                                                .connect = loop_migrate_connect,
                                                .send = loop_migrate_send,
                                                .recv = loop_migrate_recv,
                                                .close = loop_migrate_close});
    cpu_pin(&config);
    region_seal(&region);
    log_info("region: %" PRIu64 " of %" PRIu64 " bytes carved; sealed", region.carved_bytes,
             region.bytes);
    signals_install();
    stack_prefault();
    if (config.pidfile[0] != '\0' && pidfile_write(config.pidfile) != 0) {
        return 1;
    }
    /* appendonly yes: the AOF is the dataset (Redis loads no dump.rdb then). */
    bool aof_failed = false;
    if (!cluster_startup(loop_port(loop))) {
        return 1;
    }
    if (aof_startup(&serve.shared, &aof_failed) ? aof_failed : !rdb_startup_load()) {
        return 1;
    }
    if (!cluster_data_check()) {
        return 1;
    }
    log_info("ready to accept connections on %s:%u", config.bind, loop_port(loop));
    /* systemd (Type=notify): the region is mapped, locked and the socket listens. */
    sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%u\nMAINPID=%d", config.bind, loop_port(loop),
               (int)getpid());
    int status = loop_run(loop);
    aof_shutdown(); /* first: a rewrite's snapshot is the AOF's to finish or stop */
    snapshot_abort(); /* a BGSAVE still running: its temp file goes, as Redis's child */
    if (!serve.shutdown_requested && !signal_stop_save()) {
        status = 1;
    }
    if (config.pidfile[0] != '\0') {
        unlink(config.pidfile);
    }
    log_info("bye");
    return status;
}
