/*
 * Proves the Lua state lives in its heap and survives filling it: a 1 MiB Lua heap in a
 * region sized by script_plan_bytes; scripts that return every type answer Redis's bytes;
 * the sandbox refuses global writes and unknown globals; a script that fills the heap gets
 * Lua's memory error as Redis's "Error running script" line and the next script runs; caching
 * distinct scripts until the heap refuses one (a load error, not a crash), then SCRIPT FLUSH
 * gives every byte back (script_flush asserts no allocation is left) and loading works
 * again, with the heap's used bytes back where a fresh state had them. No command runs here
 * (redis.call is covered by the integration tests against redis-server).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmd.h"
#include "fixture.h"
#include "region.h"
#include "script.h"

#define TEST_HEAP_BYTES (1ull << 20)
#define TEST_REPLY_BYTES 4096u

static uint8_t reply_bytes[TEST_REPLY_BYTES];

/* EVAL body 0 (or with one key and one argument) into a fresh fixed reply. */
static struct reply eval(struct script *script, const char *body, bool with_args)
{
    struct cmd_context context;
    memset(&context, 0, sizeof(context));
    context.script = script;
    context.reply = reply_fixed(reply_bytes, sizeof(reply_bytes));
    struct slice args[5] = {text("EVAL"), text(body), text(with_args ? "1" : "0"), text("key"),
                            text("arg")};
    script_eval(script, &context, args, with_args ? 5 : 3, false, false);
    script_verify(script);
    return context.reply;
}

static void check_eval(struct script *script, const char *body, const char *want)
{
    struct reply reply = eval(script, body, true);
    CHECK_BYTES(reply.bytes, reply.length, want, strlen(want));
}

static void check_conversions(struct script *script)
{
    check_eval(script, "return 1", ":1\r\n");
    check_eval(script, "return 3.99", ":3\r\n");
    check_eval(script, "return -3.99", ":-3\r\n");
    struct reply binary = eval(script, "return 'a\\0b'", false);
    CHECK_BYTES(binary.bytes, binary.length, "$3\r\na\0b\r\n", 9);
    check_eval(script, "return true", ":1\r\n");
    check_eval(script, "return false", "$-1\r\n");
    check_eval(script, "return nil", "$-1\r\n");
    check_eval(script, "return {1, 'x', {2, nil, 3}, nil, 4}", "*3\r\n:1\r\n$1\r\nx\r\n*1\r\n:2\r\n");
    check_eval(script, "return {ok='fine'}", "+fine\r\n");
    check_eval(script, "return {err='MY bad'}", "-MY bad\r\n");
    check_eval(script, "return redis.error_reply('x')", "-ERR x\r\n");
    check_eval(script, "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
               "*4\r\n$3\r\nkey\r\n$3\r\narg\r\n:1\r\n:1\r\n");
    check_eval(script, "return redis.sha1hex('abc')",
               "$40\r\na9993e364706816aba3e25717850c26c9cd0d89d\r\n");
    check_eval(script, "return 1e300", ":-9223372036854775808\r\n");
}

static void check_sandbox(struct script *script)
{
    struct reply reply = eval(script, "x = 1", false);
    const char *want = "-ERR user_script:1: Attempt to modify a readonly table script: "
                       "34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.\r\n";
    CHECK_BYTES(reply.bytes, reply.length, want, strlen(want));
    reply = eval(script, "return os", false);
    CHECK(reply.length > 0 && memmem(reply.bytes, reply.length, "nonexistent global variable 'os'",
                                     32) != NULL);
    reply = eval(script, "KEYS = {}", false);
    CHECK(memmem(reply.bytes, reply.length, "readonly table", 14) != NULL);
    reply = eval(script, "string.len = nil", false);
    CHECK(memmem(reply.bytes, reply.length, "readonly table", 14) != NULL);
    reply = eval(script, "return print", false);
    CHECK(memmem(reply.bytes, reply.length, "nonexistent global variable 'print'", 35) != NULL);
}

/* A script that grows a string past the heap: Lua's memory error, and kv goes on. */
static void check_memory_error(struct script *script)
{
    struct reply reply = eval(script, "local s = 'x' for i = 1, 30 do s = s .. s end return #s",
                              false);
    const char *want = "-ERR Error running script ";
    CHECK(reply.length > strlen(want) && memcmp(reply.bytes, want, strlen(want)) == 0);
    CHECK(memmem(reply.bytes, reply.length, "not enough memory", 17) != NULL);
    CHECK(script->heap.used_bytes < TEST_HEAP_BYTES);
    check_eval(script, "return 42", ":42\r\n");
}

/* Distinct scripts until the heap refuses one, then SCRIPT FLUSH gives it all back. */
static void check_cache_fill(struct script *script, uint64_t fresh_bytes)
{
    char body[128];
    uint32_t loaded = 0;
    bool refused = false;
    /* Bounded: each script takes at least a few hundred bytes of a 1 MiB heap. */
    for (uint32_t index = 0; index < 100000 && !refused; index++) {
        snprintf(body, sizeof(body), "local t = {} t[1] = %u return t[1] + %u", index, index);
        struct reply reply = reply_fixed(reply_bytes, sizeof(reply_bytes));
        script_load(script, &reply, text(body));
        script_verify(script);
        refused = reply.bytes[0] == '-';
        loaded += refused ? 0 : 1;
        if (refused) {
            CHECK(memmem(reply.bytes, reply.length, "not enough memory", 17) != NULL);
        }
    }
    printf("test_script: %u scripts cached before the 1 MiB Lua heap refused one\n", loaded);
    CHECK(refused);
    CHECK(loaded > 100);
    CHECK(script->script_count >= loaded);
    script_flush(script);
    script_verify(script);
    CHECK(script->script_count == 0);
    CHECK(script->heap.used_bytes == fresh_bytes); /* a fresh state's bytes, no more */
    struct reply reply = reply_fixed(reply_bytes, sizeof(reply_bytes));
    script_load(script, &reply, text("return 1"));
    const char *want = "$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n";
    CHECK_BYTES(reply.bytes, reply.length, want, strlen(want));
    CHECK(script_exists(script, text("E0E1F9FABFC9D4800C877A703B823AC0578FF8DB")));
    CHECK(!script_exists(script, text("e0e1")));
}

int main(void)
{
    char error[256];
    struct region region;
    uint64_t plan_bytes = script_plan_bytes(TEST_HEAP_BYTES);
    if (region_map(&region, plan_bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_script: %s\n", error);
        return 1;
    }
    static struct script script;
    script_init(&script, &region, TEST_HEAP_BYTES);
    CHECK(region.carved_bytes <= plan_bytes);
    script_verify(&script);
    uint64_t fresh_bytes = script.heap.used_bytes;
    printf("test_script: a fresh Lua state takes %llu bytes\n", (unsigned long long)fresh_bytes);
    CHECK(fresh_bytes > 0 && fresh_bytes < TEST_HEAP_BYTES / 4);
    check_conversions(&script);
    check_sandbox(&script);
    check_memory_error(&script);
    check_cache_fill(&script, fresh_bytes);
    region_unmap(&region);
    return check_exit("test_script");
}
