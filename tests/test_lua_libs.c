/*
 * The four script libraries (cjson, cmsgpack, bit, struct) on a bare Lua state whose
 * allocator counts every byte and refuses past a budget, as kv's Lua heap does:
 *  - seeded random nested tables (the seed is printed) survive cjson and cmsgpack round
 *    trips, checked by a deep comparison in Lua;
 *  - inputs nested 100,000 deep fail with the libraries' errors (no C recursion to overflow),
 *    also with cjson's depth options raised to their maximum;
 *  - with a 1 MiB budget, encoding, packing and decoding too much fail with LUA_ERRMEM and
 *    the same state runs the next call; closing the state gives back every byte, so the
 *    libraries allocate through Lua's allocator only.
 * Byte-exact answers are compared with redis-server by tests/integration/test_diff_lualibs.py.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lua_libs.h"

/* The budget of the small state (kv's smallest Lua heap). */
#define TEST_BUDGET_BYTES (1u << 20)
/* Random tables per library round trip. */
#define TEST_ROUND_TRIPS 300

struct test_heap {
    size_t used_bytes;
    size_t budget_bytes;
    uint64_t refusals;
};

/* Lua's allocator contract over libc, with a budget: a refused growth returns NULL. */
static void *test_alloc(void *context, void *block, size_t old_bytes, size_t new_bytes)
{
    struct test_heap *heap = context;
    if (new_bytes == 0) {
        free(block);
        heap->used_bytes -= block != NULL ? old_bytes : 0;
        return NULL;
    }
    size_t was_bytes = block != NULL ? old_bytes : 0;
    if (new_bytes > was_bytes &&
        heap->used_bytes + (new_bytes - was_bytes) > heap->budget_bytes) {
        heap->refusals++;
        return NULL;
    }
    void *moved = realloc(block, new_bytes);
    if (moved != NULL) {
        heap->used_bytes = heap->used_bytes - was_bytes + new_bytes;
    }
    return moved;
}

static int test_open(lua_State *L)
{
    luaL_openlibs(L);
    lua_CFunction openers[] = {kv_luaopen_cjson, kv_luaopen_struct, kv_luaopen_cmsgpack,
                               kv_luaopen_bit};
    const char *names[] = {"cjson", "struct", "cmsgpack", "bit"};
    for (size_t index = 0; index < 4; index++) {
        lua_pushcfunction(L, openers[index]);
        lua_pushstring(L, names[index]);
        lua_call(L, 1, 0);
    }
    return 0;
}

static lua_State *test_state(struct test_heap *heap, size_t budget_bytes)
{
    *heap = (struct test_heap){.budget_bytes = budget_bytes};
    lua_State *L = lua_newstate(test_alloc, heap);
    CHECK(L != NULL);
    CHECK(lua_cpcall(L, test_open, NULL) == 0);
    return L;
}

/* Runs `code`; returns the pcall status, leaving the first result (or the error) on top. */
static int test_run(lua_State *L, const char *code)
{
    lua_settop(L, 0);
    int status = luaL_loadstring(L, code);
    if (status == 0) {
        status = lua_pcall(L, 0, 1, 0);
    }
    return status;
}

/* Runs `code`, which must return true; prints what it returned otherwise. */
static void test_true(lua_State *L, const char *code)
{
    int status = test_run(L, code);
    bool ok = status == 0 && lua_isboolean(L, -1) && lua_toboolean(L, -1);
    if (!ok) {
        fprintf(stderr, "code: %.200s\n  status %d: %s\n", code, status,
                lua_isstring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
    }
    CHECK(ok);
}

/* Runs `code`, which must fail with a message containing `want`. */
static void test_error(lua_State *L, const char *code, int want_status, const char *want)
{
    int status = test_run(L, code);
    const char *message = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
    bool ok = status == want_status && strstr(message, want) != NULL;
    if (!ok) {
        fprintf(stderr, "code: %.200s\n  status %d: %s (want %d: %s)\n", code, status,
                message, want_status, want);
    }
    CHECK(ok);
}

static const char test_generator[] =
    "local seed, rounds = ... "
    "local function rand(n) seed = (seed * 1103515245 + 12345) % 2147483648 "
    "  return seed % n end "
    "local function value(depth) "
    "  local roll = rand(10) "
    "  if depth < 5 and roll < 2 then local t = {} for i = 1, rand(8) do t[i] = value(depth + 1) "
    "    end return t end "
    "  if depth < 5 and roll < 4 then local t = {} for i = 1, rand(8) do "
    "    t['k' .. rand(40)] = value(depth + 1) end return t end "
    "  if roll < 6 then local n = rand(2000000) - 1000000 "
    "    if rand(3) == 0 then n = n / 7 end if rand(5) == 0 then n = n * 2^40 end return n end "
    "  if roll < 8 then local s = {} for i = 1, rand(20) do s[i] = string.char(rand(256)) end "
    "    return table.concat(s) end "
    "  return rand(2) == 0 "
    "end "
    "local function same(a, b) "
    "  if type(a) ~= type(b) then return false end "
    "  if type(a) ~= 'table' then return a == b end "
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end "
    "  for k in pairs(b) do if a[k] == nil then return false end end "
    "  return true "
    "end "
    "for round = 1, rounds do "
    "  local v = value(0) "
    "  if not same(v, cmsgpack.unpack(cmsgpack.pack(v))) then return 'msgpack ' .. round end "
    "  local ok, text = pcall(cjson.encode, v) "
    "  if ok then "
    "    local back = cjson.decode(text) "
    "    if cjson.encode(back) ~= text then return 'json ' .. round end "
    "  elseif not string.find(text, 'sparse') then return text end "
    "end "
    "return true";

static void check_round_trips(unsigned seed)
{
    struct test_heap heap;
    lua_State *L = test_state(&heap, SIZE_MAX / 2);
    lua_settop(L, 0);
    CHECK(luaL_loadstring(L, test_generator) == 0);
    lua_pushnumber(L, seed);
    lua_pushnumber(L, TEST_ROUND_TRIPS);
    int status = lua_pcall(L, 2, 1, 0);
    bool ok = status == 0 && lua_isboolean(L, -1) && lua_toboolean(L, -1);
    if (!ok) {
        fprintf(stderr, "round trips, seed %u: %s\n", seed,
                lua_isstring(L, -1) ? lua_tostring(L, -1) : "not true");
    }
    CHECK(ok);
    lua_close(L);
    CHECK(heap.used_bytes == 0);
}

static void check_deep_inputs(void)
{
    struct test_heap heap;
    lua_State *L = test_state(&heap, SIZE_MAX / 2);
    test_error(L, "return cjson.decode(string.rep('[', 100000))", LUA_ERRRUN,
               "Found too many nested data structures (1001) at character 1001");
    test_error(L, "cjson.decode_max_depth(2147483647) "
                  "return cjson.decode(string.rep('[', 100000))",
               LUA_ERRRUN, "Found too many nested data structures");
    test_error(L, "cjson.decode_max_depth(2147483647) "
                  "return cjson.decode(string.rep('{\"a\":', 100000))",
               LUA_ERRRUN, "Found too many nested data structures");
    test_error(L, "local t = {} for i = 1, 100000 do t = {t} end return cjson.encode(t)",
               LUA_ERRRUN, "Cannot serialise, excessive nesting (1001)");
    test_error(L, "cjson.encode_max_depth(2147483647) local t = {} "
                  "for i = 1, 100000 do t = {a = t} end return cjson.encode(t)",
               LUA_ERRRUN, "Cannot serialise, excessive nesting");
    test_error(L, "return cmsgpack.unpack(string.rep('\\145', 100000))", LUA_ERRRUN,
               "stack overflow");
    test_error(L, "return cmsgpack.unpack(string.rep('\\129', 100000))", LUA_ERRRUN,
               "stack overflow");
    /* Cyclic tables: cmsgpack cuts at 16 levels, cjson at its depth limit. */
    test_true(L, "local t = {} t[1] = t return #cmsgpack.pack(t) == 17");
    test_error(L, "local t = {} t.x = t return cjson.encode(t)", LUA_ERRRUN,
               "excessive nesting");
    lua_close(L);
    CHECK(heap.used_bytes == 0);
}

static void check_budget(void)
{
    struct test_heap heap;
    lua_State *L = test_state(&heap, TEST_BUDGET_BYTES);
    test_true(L, "big = string.rep('x', 200) many = {} for i = 1, 5000 do many[i] = big end "
                 "return true");
    test_error(L, "return cjson.encode(many)", LUA_ERRMEM, "not enough memory");
    test_error(L, "return cmsgpack.pack(many, many)", LUA_ERRMEM, "not enough memory");
    test_error(L, "return struct.pack(string.rep('c0', 8), big:rep(400), big:rep(400), "
                  "big:rep(400), big:rep(400), big:rep(400), big:rep(400), big:rep(400), "
                  "big:rep(400))",
               LUA_ERRMEM, "not enough memory");
    test_error(L, "return cjson.decode('[' .. string.rep('[],', 30000) .. '1]')", LUA_ERRMEM,
               "not enough memory");
    test_error(L, "return cmsgpack.unpack('\\221\\0\\1\\0\\0' .. string.rep('\\144', 65536))",
               LUA_ERRMEM, "not enough memory");
    CHECK(heap.refusals >= 5);
    test_true(L, "many = nil collectgarbage() "
                 "return cjson.encode(cmsgpack.unpack(cmsgpack.pack({1, 'a', {b = 2}}))) == "
                 "'[1,\"a\",{\"b\":2}]' and bit.band(-1, 255) == 255 and "
                 "struct.unpack('>H', struct.pack('>H', 513)) == 513");
    lua_close(L);
    CHECK(heap.used_bytes == 0);
}

int main(void)
{
    const char *replay = getenv("KV_SEED");
    unsigned seed = replay != NULL ? (unsigned)strtoul(replay, NULL, 10) : (unsigned)time(NULL);
    printf("seed %u (KV_SEED=%u replays this run)\n", seed, seed);
    check_round_trips(seed);
    check_deep_inputs();
    check_budget();
    return check_exit("test_lua_libs");
}
