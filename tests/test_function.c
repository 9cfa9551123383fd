/*
 * Proves the functions' libraries live in the Lua heap and move in Redis's payload: on a
 * 1 MiB heap, a library loads (its name answered, the counts right), FCALL and FCALL_RO run
 * its functions with their keys and arguments, FUNCTION LIST answers Redis's bytes for it;
 * a payload redis-server 7.0.15 dumped (its code LZF-compressed) restores, lists the same
 * code, and kv's own DUMP of it is the same bytes (the compressor matches Redis's); a corrupt
 * CRC, a later RDB version and a second APPEND are refused with Redis's errors; loading
 * libraries until the heap refuses one answers an error (no crash) and FUNCTION FLUSH gives
 * every byte back (the heap's used bytes as a fresh state left them); with no script running,
 * SCRIPT KILL and FUNCTION KILL answer -NOTBUSY and nothing is busy. No command runs here
 * (redis.call is covered by the integration tests against redis-server).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmd.h"
#include "fixture.h"
#include "function.h"
#include "region.h"
#include "script.h"

#define TEST_HEAP_BYTES (1ull << 20)
#define TEST_REPLY_BYTES 8192u

static uint8_t reply_bytes[TEST_REPLY_BYTES];

static struct reply fresh_reply(void)
{
    struct reply reply = reply_fixed(reply_bytes, sizeof(reply_bytes));
    reply_mark(&reply);
    return reply;
}

static void check_reply(const struct reply *reply, const char *want)
{
    CHECK_BYTES(reply->bytes, reply->length, want, strlen(want));
}

static struct reply load(struct script *script, const char *code, bool replace)
{
    struct reply reply = fresh_reply();
    function_load(script, &reply, text(code), replace);
    script_verify(script);
    function_verify(script);
    return reply;
}

static struct reply fcall(struct script *script, const char *name, bool read_only)
{
    struct cmd_context context;
    memset(&context, 0, sizeof(context));
    context.script = script;
    context.reply = fresh_reply();
    struct slice args[5] = {text(read_only ? "FCALL_RO" : "FCALL"), text(name), text("1"),
                            text("key"), text("arg")};
    script_fcall(script, &context, args, 5, read_only);
    script_verify(script);
    return context.reply;
}

static const char *const echo_library =
    "#!lua name=echolib\n"
    "redis.register_function('echo', function(keys, args) return {keys[1], args[1]} end)\n"
    "redis.register_function{function_name='reader', flags={'no-writes'},\n"
    "  callback=function(keys, args) return #keys + #args end}\n";

static void check_load_and_call(struct script *script)
{
    struct reply reply = load(script, echo_library, false);
    check_reply(&reply, "$7\r\necholib\r\n");
    CHECK(script->library_count == 1 && script->function_count == 2);
    reply = load(script, echo_library, false);
    check_reply(&reply, "-ERR Library 'echolib' already exists\r\n");
    reply = load(script, "#!lua name=empty\nlocal x = 1", false);
    check_reply(&reply, "-ERR No functions registered\r\n");
    CHECK(script->library_count == 1);
    reply = fcall(script, "echo", false);
    check_reply(&reply, "*2\r\n$3\r\nkey\r\n$3\r\narg\r\n");
    reply = fcall(script, "ECHO", false);
    check_reply(&reply, "*2\r\n$3\r\nkey\r\n$3\r\narg\r\n");
    reply = fcall(script, "echo", true);
    check_reply(&reply, "-ERR Can not execute a script with write flag using *_ro command.\r\n");
    reply = fcall(script, "reader", true);
    check_reply(&reply, ":2\r\n");
    reply = fcall(script, "missing", false);
    check_reply(&reply, "-ERR Function not found\r\n");
    reply = fresh_reply();
    struct slice pattern = text("echo*");
    function_list(script, &reply, &pattern, false);
    /* Two functions: their order is the registration's (Redis's is its hash order). */
    check_reply(&reply, "*1\r\n*6\r\n$12\r\nlibrary_name\r\n$7\r\necholib\r\n$6\r\nengine\r\n"
                        "$3\r\nLUA\r\n$9\r\nfunctions\r\n*2\r\n"
                        "*6\r\n$4\r\nname\r\n$4\r\necho\r\n$11\r\ndescription\r\n$-1\r\n"
                        "$5\r\nflags\r\n*0\r\n"
                        "*6\r\n$4\r\nname\r\n$6\r\nreader\r\n$11\r\ndescription\r\n$-1\r\n"
                        "$5\r\nflags\r\n*1\r\n+no-writes\r\n");
    reply = fresh_reply();
    function_delete(script, &reply, text("echolib"));
    check_reply(&reply, "+OK\r\n");
    CHECK(script->library_count == 0 && script->function_count == 0);
}

/* FUNCTION DUMP of redis-server 7.0.15 holding REDIS_CODE (LZF-compressed, as it writes code
 * longer than 20 bytes). */
static const char *const redis_code =
    "#!lua name=redislib\nredis.register_function('echo_all', function(keys, args) return "
    "{keys[1], args[1], 'echo_all echo_all echo_all'} end)\n";
static const char *const redis_dump_hex =
    "f5c3406c408a1323216c7561206e616d653d72656469736c69620a60081e2e72656769737465725f66756e63"
    "74696f6e28276563686f5f616c6c272c20e00014136b6579732c2061726773292072657475726e207b401302"
    "5b315d80166008e0003a0020c043e0000807277d20656e64290a0a009a60a63f5a540a22";

static uint32_t hex_decode(const char *hex, uint8_t *out)
{
    uint32_t length = (uint32_t)strlen(hex) / 2;
    for (uint32_t index = 0; index < length; index++) {
        unsigned int byte = 0;
        sscanf(hex + 2 * index, "%2x", &byte);
        out[index] = (uint8_t)byte;
    }
    return length;
}

static void check_dump_restore(struct script *script)
{
    static uint8_t payload[256];
    uint32_t payload_bytes = hex_decode(redis_dump_hex, payload);
    struct slice redis_payload = {.bytes = payload, .length = payload_bytes};
    struct reply reply = fresh_reply();
    function_restore(script, &reply, redis_payload, FUNCTION_RESTORE_APPEND);
    check_reply(&reply, "+OK\r\n");
    CHECK(script->library_count == 1 && script->function_count == 1);
    reply = fresh_reply();
    function_restore(script, &reply, redis_payload, FUNCTION_RESTORE_APPEND);
    check_reply(&reply, "-ERR Library redislib already exists\r\n");
    reply = fresh_reply();
    function_list(script, &reply, NULL, true);
    CHECK(reply.length > strlen(redis_code));
    CHECK(memmem(reply.bytes, reply.length, redis_code, strlen(redis_code)) != NULL);
    /* kv's dump of the same library: the same bytes, CRC and all. */
    reply = fresh_reply();
    function_dump(script, &reply);
    char header[16];
    int header_bytes = snprintf(header, sizeof(header), "$%u\r\n", payload_bytes);
    CHECK(reply.length == (uint32_t)header_bytes + payload_bytes + 2);
    CHECK(memcmp(reply.bytes, header, (size_t)header_bytes) == 0);
    CHECK(memcmp(reply.bytes + header_bytes, payload, payload_bytes) == 0);
    /* A changed CRC byte, then a later RDB version. */
    payload[payload_bytes - 1] ^= 1u;
    reply = fresh_reply();
    function_restore(script, &reply, redis_payload, FUNCTION_RESTORE_REPLACE);
    check_reply(&reply, "-ERR DUMP payload version or checksum are wrong\r\n");
    payload[payload_bytes - 1] ^= 1u;
    payload[payload_bytes - 10] = 11;
    reply = fresh_reply();
    function_restore(script, &reply, redis_payload, FUNCTION_RESTORE_FLUSH);
    check_reply(&reply, "-ERR DUMP payload version or checksum are wrong\r\n");
    CHECK(script->library_count == 1);
    function_flush(script);
    CHECK(script->library_count == 0);
}

static void check_heap_fill(struct script *script, uint64_t fresh_bytes)
{
    static char code[2300];
    static char pad[2001];
    memset(pad, 'x', sizeof(pad) - 1);
    uint32_t loaded = 0;
    bool refused = false;
    /* Bounded: each library takes heap, so the 1 MiB heap refuses one within 100,000. */
    for (uint32_t index = 0; index < 100000 && !refused; index++) {
        snprintf(code, sizeof(code),
                 "#!lua name=lib%u\nlocal pad = '%s'\n"
                 "redis.register_function('f%u', function() return #pad end)", index, pad,
                 index);
        struct reply reply = load(script, code, false);
        refused = reply.bytes[0] == '-';
        loaded += refused ? 0u : 1u;
    }
    printf("test_function: %u libraries filled the heap\n", loaded);
    CHECK(refused);
    CHECK(loaded > 10);
    CHECK(script->library_count == loaded);
    function_flush(script);
    script_verify(script);
    CHECK(script->library_count == 0);
    CHECK(script->heap.used_bytes == fresh_bytes);
    struct reply reply = load(script, echo_library, false);
    check_reply(&reply, "$7\r\necholib\r\n");
}

static void check_not_busy(struct script *script)
{
    CHECK(!script_busy(script));
    struct reply reply = fresh_reply();
    script_kill(script, &reply, true);
    check_reply(&reply, "-NOTBUSY No scripts in execution right now.\r\n");
    reply = fresh_reply();
    script_kill(script, &reply, false);
    check_reply(&reply, "-NOTBUSY No scripts in execution right now.\r\n");
    reply = fresh_reply();
    function_stats(script, &reply);
    check_reply(&reply, "*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n"
                        "*4\r\n$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:2\r\n");
}

int main(void)
{
    char error[256];
    struct region region;
    uint64_t plan_bytes = script_plan_bytes(TEST_HEAP_BYTES);
    if (region_map(&region, plan_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_function: %s\n", error);
        return 1;
    }
    static struct script script;
    script_init(&script, &region, TEST_HEAP_BYTES);
    script_verify(&script);
    uint64_t fresh_bytes = script.heap.used_bytes;
    check_load_and_call(&script);
    check_dump_restore(&script);
    check_heap_fill(&script, fresh_bytes);
    check_not_busy(&script);
    region_unmap(&region);
    return check_exit("test_function");
}
