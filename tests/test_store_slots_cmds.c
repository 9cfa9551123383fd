/*
 * Proves cluster mode's per-slot index through the real commands: the modules built as
 * main.c builds them (store_slots_enable right after the types, as main.c will call it), a
 * client driven through the serving layer as test_serve drives it, and a seeded stream of
 * random commands of every family that creates, changes, moves or removes keys: SET and its
 * options, GETDEL, GETEX, APPEND, SETRANGE, INCR, SETBIT, BITOP, PFADD, PFMERGE, MSET(NX),
 * DEL, UNLINK, list pushes, pops, LMOVE, LMPOP, LTRIM, hash, set and sorted-set writes and
 * their STORE forms, SMOVE, XADD, XTRIM, XGROUP CREATE MKSTREAM, GEOADD, GEOSEARCHSTORE, SORT
 * STORE, COPY (REPLACE, DB), RENAME(NX), MOVE, SWAPDB, SELECT, EXPIRE and PEXPIRE (keys then
 * expire lazily and actively), PERSIST, DUMP then RESTORE (REPLACE), FLUSHDB and FLUSHALL.
 * Replies are not checked (test_diff_* compare them with Redis); the index is: store_verify
 * (each slot's list against database 0's keys dict) after every command, and every few
 * hundred commands every slot's count and listing against a recount of database 0's keys.
 * KV_SEED replays a run.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "block.h"
#include "check.h"
#include "client.h"
#include "cmd.h"
#include "config.h"
#include "conn.h"
#include "keyslot.h"
#include "layout.h"
#include "plan.h"
#include "pubsub.h"
#include "region.h"
#include "serve.h"
#include "stats.h"
#include "store.h"
#include "store_hash.h"
#include "store_list.h"
#include "store_set.h"
#include "store_stream.h"
#include "store_string.h"
#include "store_zset.h"
#include "watch.h"

#define CONNECTIONS 2u
#define HEAP_BYTES (64ull << 20)
#define CAPTURE_BYTES (4u * 1024u * 1024u)
#define COMMAND_BYTES 65536u
#define KEY_COUNT 48u
#define STEPS 40000u

static struct config config;
static struct plan plan;
static struct layout layout;
static struct region region;
static struct heap heap;
static struct store store;
static struct watch watch;
static struct pubsub pubsub;
static struct stats stats;
static struct conns conns;
static struct clients clients;
static struct block block;
static struct serve serve;

static uint8_t captured[CAPTURE_BYTES];
static uint32_t captured_length;
static uint64_t prng_state;
static uint32_t recount[KEYSLOT_COUNT];
static uint32_t listed[1u << 16];

static uint64_t prng_next(void)
{
    prng_state += 0x9e3779b97f4a7c15ull;
    uint64_t value = prng_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

static uint32_t prng_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    return (uint32_t)(prng_next() % bound);
}

/* main.c's modules_init on a small configuration, in cluster mode. */
static void modules_build(void)
{
    config_defaults(&config);
    config.connections_max = CONNECTIONS;
    config.maxmemory = HEAP_BYTES;
    config.hugepages = CONFIG_HUGEPAGES_OFF;
    config.mlock = CONFIG_MLOCK_OFF;
    char error[256];
    if (plan_compute(&plan, &config, error, sizeof(error)) != 0) {
        fprintf(stderr, "test_store_slots_cmds: %s\n", error);
        exit(1);
    }
    layout_compute(&layout, &config, &plan);
    if (region_map(&region, layout.total_bytes, config.hugepages, config.mlock, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_store_slots_cmds: %s\n", error);
        exit(SKIP_CODE);
    }
    reply_errors_init(&config, plan.recv_limit);
    heap_init(&heap, &region, config.maxmemory);
    store_init(&store, &heap, &config, 4711);
    store_string_init(&store);
    store_list_init(&store);
    store_hash_init(&store);
    store_set_init(&store);
    store_zset_init(&store);
    store_stream_init(&store);
    store_slots_enable(&store);
    watch_init(&watch, &heap, config.watch_keys_max, 677);
    pubsub_init(&pubsub, &heap, config.pubsub_channels_max, config.subscriptions_max, 678);
    conns_init(&conns, &region, &heap, plan.conn_slot_count, config.connections_max,
               plan.recv_limit);
    clients_init(&clients, &region, plan.conn_slot_count, &watch, &pubsub);
    block_init(&block, &region, &heap, plan.conn_slot_count, config.blocking_keys_max, 679);
    store.touched = watch_touched;
    store.touched_context = &watch;
    store.ready = block_key_ready;
    store.ready_context = &block;
    cmd_init(&region, PLAN_SLOWLOG_MAX_LEN);
    cmd_slowlog_threshold_set(config.slowlog_log_slower_than);
    const struct cmd_context shared = {.store = &store,
                                       .config = &config,
                                       .plan = &plan,
                                       .region = &region,
                                       .stats = &stats,
                                       .watch = &watch,
                                       .pubsub = &pubsub,
                                       .conns = &conns,
                                       .clients = &clients,
                                       .block = &block};
    serve_init(&serve, &region, &plan, &shared, &heap);
    region_seal(&region);
}

/* Takes every reply block waiting, as whole sends. */
static void send_all(void)
{
    struct conn *conn = conn_at(&conns, 0);
    const uint8_t *from = NULL;
    /* Bounded by the output chain: each pass sends one block whole. */
    while (conn->state == CONN_OPEN && conn_send_pending(&conns, conn, &from) > 0) {
        uint32_t pending = conn_send_pending(&conns, conn, &from);
        conn->send_in_flight = pending;
        if (captured_length + pending <= CAPTURE_BYTES) {
            memcpy(captured + captured_length, from, pending);
            captured_length += pending;
        }
        conn_sent(&conns, conn, pending);
        conn->sends_completed++;
    }
}

/* Serves the connection as the loop does until its input is done. */
static void run(void)
{
    /* Bounded: each pass runs commands of a finite input or sends replies. */
    for (uint32_t pass = 0; pass < 10000; pass++) {
        struct conn *conn = conn_at(&conns, 0);
        bool more = conn->state == CONN_OPEN && serve_input(&serve, 0);
        if (conn_live(conn) && !conn->close_after_send) {
            uint8_t *into = NULL;
            (void)serve_recv_room(&serve, 0, &into);
        }
        uint32_t before = captured_length;
        send_all();
        if (!more && captured_length == before) {
            break;
        }
    }
}

/* Receives a command's bytes and runs it. */
static void feed(const uint8_t *bytes, uint32_t length)
{
    /* Bounded: each pass receives a byte or more, or runs what the buffer holds. */
    for (uint32_t stuck = 0; length > 0 && stuck < 3;) {
        struct conn *conn = conn_at(&conns, 0);
        uint8_t *into = NULL;
        uint32_t room = serve_recv_room(&serve, 0, &into);
        if (room == 0) {
            stuck++;
            run();
            continue;
        }
        stuck = 0;
        uint32_t piece = room < length ? room : length;
        memcpy(into, bytes, piece);
        conn->recv_in_flight = true;
        conn_received(conn, piece);
        bytes += piece;
        length -= piece;
        run();
    }
    CHECK(length == 0);
}

/* A command being built: RESP's array of bulk strings. */
struct command {
    struct slice args[16];
    uint32_t count;
    char words[16][48];
};

static void arg(struct command *command, const char *text)
{
    KV_ASSERT(command->count < 16);
    uint32_t at = command->count++;
    snprintf(command->words[at], sizeof(command->words[at]), "%s", text);
    command->args[at] = (struct slice){.bytes = (const uint8_t *)command->words[at],
                                       .length = (uint32_t)strlen(command->words[at])};
}

static void arg_bytes(struct command *command, const uint8_t *bytes, uint32_t length)
{
    KV_ASSERT(command->count < 16);
    command->args[command->count++] = (struct slice){.bytes = bytes, .length = length};
}

/* A key of the pool: a few sharing hash tags (so the multi-key commands meet), the rest
 * plain. */
static void arg_key(struct command *command)
{
    uint32_t pick = prng_below(KEY_COUNT);
    char name[32];
    if (pick < 16) {
        snprintf(name, sizeof(name), "{user%u}:%u", pick % 3u, pick);
    } else {
        snprintf(name, sizeof(name), "key:%u", pick);
    }
    arg(command, name);
}

static void arg_number(struct command *command, uint32_t bound)
{
    char text[16];
    snprintf(text, sizeof(text), "%u", prng_below(bound));
    arg(command, text);
}

static void arg_member(struct command *command)
{
    char text[16];
    snprintf(text, sizeof(text), "m%u", prng_below(6));
    arg(command, text);
}

/* Sends the command whole and runs it. */
static void send_command(const struct command *command)
{
    static uint8_t bytes[COMMAND_BYTES];
    int length = snprintf((char *)bytes, COMMAND_BYTES, "*%u\r\n", command->count);
    uint32_t used = (uint32_t)length;
    for (uint32_t index = 0; index < command->count; index++) {
        struct slice word = command->args[index];
        KV_ASSERT(used + word.length + 32 <= COMMAND_BYTES);
        used += (uint32_t)snprintf((char *)bytes + used, COMMAND_BYTES - used, "$%u\r\n",
                                   word.length);
        memcpy(bytes + used, word.bytes, word.length);
        used += word.length;
        bytes[used++] = '\r';
        bytes[used++] = '\n';
    }
    feed(bytes, used);
}

/* DUMP a key, then RESTORE its payload at another (REPLACE): the reply's bulk string read
 * back. */
static void dump_restore(void)
{
    struct command dump = {0};
    arg(&dump, "DUMP");
    arg_key(&dump);
    captured_length = 0;
    send_command(&dump);
    if (captured_length < 4 || captured[0] != '$' || captured[1] == '-') {
        return; /* no such key: a null bulk string */
    }
    uint32_t length = (uint32_t)strtoul((const char *)captured + 1, NULL, 10);
    const uint8_t *payload = (const uint8_t *)memchr(captured, '\n', captured_length) + 1;
    static uint8_t kept[CAPTURE_BYTES];
    KV_ASSERT(length <= sizeof(kept));
    memcpy(kept, payload, length);
    struct command restore = {0};
    arg(&restore, "RESTORE");
    arg_key(&restore);
    arg(&restore, prng_below(4) == 0 ? "100000" : "0");
    arg_bytes(&restore, kept, length);
    arg(&restore, "REPLACE");
    send_command(&restore);
}

/* One random command of the families that enter or leave keys. */
static void random_command(void)
{
    struct command command = {0};
    uint32_t pick = prng_below(64);
    const char *value = prng_below(8) == 0 ? "a-longer-value-that-is-not-an-integer-at-all"
                                           : "17";
    switch (pick) {
    case 0: arg(&command, "SET"); arg_key(&command); arg(&command, value); break;
    case 1: arg(&command, "SET"); arg_key(&command); arg(&command, value); arg(&command, "PX");
            arg_number(&command, 30); break;
    case 2: arg(&command, "SETNX"); arg_key(&command); arg(&command, value); break;
    case 3: arg(&command, "GETDEL"); arg_key(&command); break;
    case 4: arg(&command, "GETEX"); arg_key(&command); arg(&command, "PERSIST"); break;
    case 5: arg(&command, "GETEX"); arg_key(&command); arg(&command, "EX"); arg(&command, "100");
            break;
    case 6: arg(&command, "APPEND"); arg_key(&command); arg(&command, value); break;
    case 7: arg(&command, "SETRANGE"); arg_key(&command); arg_number(&command, 3000);
            arg(&command, value); break;
    case 8: arg(&command, "INCR"); arg_key(&command); break;
    case 9: arg(&command, "SETBIT"); arg_key(&command); arg_number(&command, 4000);
            arg(&command, "1"); break;
    case 10: arg(&command, "BITOP"); arg(&command, "OR"); arg_key(&command); arg_key(&command);
             arg_key(&command); break;
    case 11: arg(&command, "PFADD"); arg_key(&command); arg_member(&command); break;
    case 12: arg(&command, "PFMERGE"); arg_key(&command); arg_key(&command); break;
    case 13: arg(&command, "MSET"); arg_key(&command); arg(&command, value); arg_key(&command);
             arg(&command, value); break;
    case 14: arg(&command, "MSETNX"); arg_key(&command); arg(&command, value); arg_key(&command);
             arg(&command, value); break;
    case 15: arg(&command, "DEL"); arg_key(&command); arg_key(&command); break;
    case 16: arg(&command, "UNLINK"); arg_key(&command); break;
    case 17: arg(&command, "LPUSH"); arg_key(&command); arg_member(&command);
             arg_member(&command); break;
    case 18: arg(&command, "RPOP"); arg_key(&command); break;
    case 19: arg(&command, "LPOP"); arg_key(&command); arg(&command, "2"); break;
    case 20: arg(&command, "LMOVE"); arg_key(&command); arg_key(&command); arg(&command, "LEFT");
             arg(&command, "RIGHT"); break;
    case 21: arg(&command, "LMPOP"); arg(&command, "2"); arg_key(&command); arg_key(&command);
             arg(&command, "LEFT"); break;
    case 22: arg(&command, "LTRIM"); arg_key(&command); arg(&command, "1"); arg(&command, "0");
             break;
    case 23: arg(&command, "HSET"); arg_key(&command); arg_member(&command); arg(&command, value);
             break;
    case 24: arg(&command, "HDEL"); arg_key(&command); arg_member(&command); break;
    case 25: arg(&command, "HINCRBY"); arg_key(&command); arg_member(&command);
             arg(&command, "3"); break;
    case 26: arg(&command, "SADD"); arg_key(&command); arg_member(&command); break;
    case 27: arg(&command, "SREM"); arg_key(&command); arg_member(&command); break;
    case 28: arg(&command, "SPOP"); arg_key(&command); break;
    case 29: arg(&command, "SMOVE"); arg_key(&command); arg_key(&command); arg_member(&command);
             break;
    case 30: arg(&command, "SINTERSTORE"); arg_key(&command); arg_key(&command);
             arg_key(&command); break;
    case 31: arg(&command, "SUNIONSTORE"); arg_key(&command); arg_key(&command);
             arg_key(&command); break;
    case 32: arg(&command, "SDIFFSTORE"); arg_key(&command); arg_key(&command); arg_key(&command);
             break;
    case 33: arg(&command, "ZADD"); arg_key(&command); arg_number(&command, 100);
             arg_member(&command); break;
    case 34: arg(&command, "ZREM"); arg_key(&command); arg_member(&command); break;
    case 35: arg(&command, "ZPOPMIN"); arg_key(&command); break;
    case 36: arg(&command, "ZRANGESTORE"); arg_key(&command); arg_key(&command);
             arg(&command, "0"); arg(&command, "-1"); break;
    case 37: arg(&command, "ZUNIONSTORE"); arg_key(&command); arg(&command, "2");
             arg_key(&command); arg_key(&command); break;
    case 38: arg(&command, "ZINTERSTORE"); arg_key(&command); arg(&command, "2");
             arg_key(&command); arg_key(&command); break;
    case 39: arg(&command, "ZREMRANGEBYRANK"); arg_key(&command); arg(&command, "0");
             arg(&command, "0"); break;
    case 40: arg(&command, "XADD"); arg_key(&command); arg(&command, "*"); arg_member(&command);
             arg(&command, value); break;
    case 41: arg(&command, "XTRIM"); arg_key(&command); arg(&command, "MAXLEN");
             arg(&command, "0"); break;
    case 42: arg(&command, "XGROUP"); arg(&command, "CREATE"); arg_key(&command);
             arg(&command, "g"); arg(&command, "$"); arg(&command, "MKSTREAM"); break;
    case 43: arg(&command, "GEOADD"); arg_key(&command); arg(&command, "13.361389");
             arg(&command, "38.115556"); arg_member(&command); break;
    case 44: arg(&command, "GEOSEARCHSTORE"); arg_key(&command); arg_key(&command);
             arg(&command, "FROMLONLAT"); arg(&command, "13.36"); arg(&command, "38.11");
             arg(&command, "BYRADIUS"); arg(&command, "100"); arg(&command, "km"); break;
    case 45: arg(&command, "SORT"); arg_key(&command); arg(&command, "ALPHA");
             arg(&command, "STORE"); arg_key(&command); break;
    case 46: arg(&command, "COPY"); arg_key(&command); arg_key(&command); break;
    case 47: arg(&command, "COPY"); arg_key(&command); arg_key(&command); arg(&command, "REPLACE");
             break;
    case 48: arg(&command, "COPY"); arg_key(&command); arg_key(&command); arg(&command, "DB");
             arg(&command, prng_below(2) == 0 ? "1" : "0"); arg(&command, "REPLACE"); break;
    case 49: arg(&command, "RENAME"); arg_key(&command); arg_key(&command); break;
    case 50: arg(&command, "RENAMENX"); arg_key(&command); arg_key(&command); break;
    case 51: arg(&command, "MOVE"); arg_key(&command);
             arg(&command, prng_below(2) == 0 ? "1" : "0"); break;
    case 52: arg(&command, prng_below(20) == 0 ? "SWAPDB" : "PING");
             arg(&command, "0"); arg(&command, "1"); break;
    case 53: arg(&command, "SELECT"); arg(&command, prng_below(4) == 0 ? "1" : "0"); break;
    case 54: arg(&command, "EXPIRE"); arg_key(&command); arg(&command, "100"); break;
    case 55: arg(&command, "PEXPIRE"); arg_key(&command); arg_number(&command, 20); break;
    case 56: arg(&command, "PEXPIREAT"); arg_key(&command); arg(&command, "1"); break;
    case 57: arg(&command, "PERSIST"); arg_key(&command); break;
    case 58: dump_restore(); return;
    case 59: arg(&command, prng_below(30) == 0 ? "FLUSHDB" : "PING"); break;
    case 60: arg(&command, prng_below(60) == 0 ? "FLUSHALL" : "PING"); break;
    case 61: arg(&command, "GETSET"); arg_key(&command); arg(&command, value); break;
    case 62: arg(&command, "INCRBYFLOAT"); arg_key(&command); arg(&command, "1.5"); break;
    default: arg(&command, "EXISTS"); arg_key(&command); arg_key(&command); break;
    }
    send_command(&command);
}

/* Every slot's count and listing against a recount of database 0's keys. O(keys + slots). */
static void check_recount(void)
{
    memset(recount, 0, sizeof(recount));
    uint32_t selected = store.db_index;
    store_select(&store, 0);
    struct dict_walk walk;
    uint32_t ref = 0;
    uint64_t keys = 0;
    store_walk_start(&store, &walk);
    while (store_walk_next(&store, &walk, &ref)) {
        struct slice name = store_key_name(store_key(&store, ref));
        recount[keyslot_of(name.bytes, name.length)]++;
        keys++;
    }
    CHECK(keys == store_key_count(&store));
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        CHECK(store_slot_key_count(&store, slot) == recount[slot]);
        uint32_t got = store_slot_keys(&store, slot, (uint32_t)(sizeof(listed) / sizeof(listed[0])),
                                       listed);
        CHECK(got == recount[slot]);
        for (uint32_t at = 0; at < got; at++) {
            uint32_t found = 0;
            struct slice name = store_key_name(store_key(&store, listed[at]));
            CHECK(store_peek(&store, name, &found) && found == listed[at]);
            CHECK(keyslot_of(name.bytes, name.length) == slot);
        }
    }
    store_select(&store, selected);
}

/* Each command of the stream ran, and most of its calls answered no error (a WRONGTYPE or
 * a missing key is part of the mix). */
static void check_commands_ran(void)
{
    static const char *const names[] = {
        "set", "getdel", "getex", "append", "setrange", "incr", "setbit", "bitop", "pfadd",
        "pfmerge", "mset", "msetnx", "del", "unlink", "lpush", "rpop", "lpop", "lmove", "lmpop",
        "ltrim", "hset", "hdel", "hincrby", "sadd", "srem", "spop", "smove", "sinterstore",
        "sunionstore", "sdiffstore", "zadd", "zrem", "zpopmin", "zrangestore", "zunionstore",
        "zinterstore", "zremrangebyrank", "xadd", "xtrim", "xgroup", "geoadd",
        "geosearchstore", "sort", "copy", "rename", "renamenx", "move", "swapdb", "select",
        "expire", "pexpire", "pexpireat", "persist", "dump", "restore", "flushdb", "flushall"};
    for (uint32_t index = 0; index < sizeof(names) / sizeof(names[0]); index++) {
        const char *found = NULL;
        struct cmd_stats counters = {0};
        bool seen = false;
        /* Bounded by the command table. */
        for (uint32_t at = 0; cmd_stats_at(at, &found, &counters); at++) {
            if (strcmp(found, names[index]) == 0) {
                seen = true;
                break;
            }
        }
        if (!seen || counters.calls == 0 || counters.failed_calls * 10 > counters.calls * 9) {
            fprintf(stderr, "%s: %s calls %" PRIu64 ", failed %" PRIu64 "\n", __FILE__,
                    names[index], seen ? counters.calls : 0, seen ? counters.failed_calls : 0);
        }
        CHECK(seen && counters.calls > 0);
        CHECK(counters.failed_calls * 10 <= counters.calls * 9);
    }
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    printf("seed %" PRIu64 " (KV_SEED replays it)\n", seed);
    prng_state = seed;
    modules_build();
    CHECK(store_slots_enabled(&store));
    CHECK(serve_open(&serve, 0, true, 0x7f000001u, 40000, 0));
    uint64_t keys_max = 0;
    for (uint32_t step = 0; step < STEPS; step++) {
        captured_length = 0;
        random_command();
        (void)store_verify(&store);
        if (prng_below(50) == 0) {
            (void)store_expire_slice(&store, 16); /* active expiry, as the cron does */
            (void)store_verify(&store);
        }
        if (step % 500u == 0) {
            check_recount();
        }
        uint64_t keys = store_db_key_count(&store, 0);
        keys_max = keys > keys_max ? keys : keys_max;
    }
    check_recount();
    printf("commands: %u, database 0 held up to %" PRIu64 " keys, %" PRIu64 " at the end\n",
           STEPS, keys_max, store_db_key_count(&store, 0));
    CHECK(keys_max > KEY_COUNT / 2);
    check_commands_ran();
    return check_exit("test_store_slots_cmds");
}
