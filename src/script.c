/*
 * Lua scripting, Redis 7.0's way, over a heap of its own. Two Lua states, EVAL's and the
 * functions' (function.c keeps its libraries), allocate only through script_alloc, which
 * draws from `script->heap` (carved at startup) and counts each state's blocks: a full heap
 * is a NULL to Lua, which raises its memory error, caught by the protected call around every
 * entry (lua_cpcall) and answered as an error. Nothing here calls malloc.
 *
 * The sandbox, with stock Lua 5.1 (Redis patches its Lua with read-only tables; we get the
 * same answers with proxies): the globals the script sees are an empty table whose
 * metatable reads from the real globals and refuses every write ("Attempt to modify a
 * readonly table"); the real globals' own metatable refuses reading a name that is not
 * there ("Script attempted to access nonexistent global variable"). The library tables
 * (string, math, table, coroutine, redis, and lua_libs.h's cjson, struct, cmsgpack and bit)
 * are proxies the same way. dofile, loadfile and print are removed; os, io, package and debug
 * are never opened. KEYS and ARGV are set in
 * the real globals before each run, so a script can read but not replace them.
 *
 * The script cache: registry["f_<sha>"] is the compiled function, registry["F_<sha>"] its
 * shebang flags; SCRIPT FLUSH closes the state (every byte of the heap comes back, which
 * script_flush asserts) and opens a fresh one.
 *
 * Runs (EVAL and FCALL alike, run_call) carry a count hook when busy-reply-threshold is set:
 * every SCRIPT_HOOK_INSTRUCTIONS instructions it reads the clock, and past the threshold it
 * marks the run timed out (other clients now get -BUSY) and calls the busy pass (the loop's,
 * script.h) each time; once SCRIPT KILL or FUNCTION KILL marks it killed, it raises Redis's
 * "Script killed by user" error at every line, which pcall cannot swallow for good.
 *
 * Bounds: a command's reply is parsed back at most SCRIPT_CALL_DEPTH_MAX arrays deep; a
 * script's result is answered at most SCRIPT_RESULT_DEPTH_MAX tables deep (deeper, Redis's
 * "reached lua stack limit" error element); array walks stop at the first nil, which lies
 * within the table's length plus one. No recursion.
 */
#include "script.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "cmd_handlers.h"
#include "log.h"
#include "lua_libs.h"
#include "number.h"
#include "region.h"
#include "script_internal.h"
#include "sha1.h"

/* Nesting of a command's reply that redis.call converts (kv's replies nest a few deep). */
#define SCRIPT_CALL_DEPTH_MAX 32u
/* Nesting of a script's result that is answered; deeper tables answer an error element. */
#define SCRIPT_RESULT_DEPTH_MAX 256u
/* A GC step every this many runs, of this many steps, as Redis's LUA_GC_CYCLE_PERIOD. */
#define SCRIPT_GC_PERIOD 50
/* "%.17g" of a double fits in 32 bytes with its sign, point, exponent and NUL. */
#define SCRIPT_NUMBER_BYTES 32u
/* Free pages of the Lua heap kept for a run that ran out of it (script_alloc). */
#define SCRIPT_HEAP_RESERVE_BYTES (4u * HEAP_PAGE_BYTES)
/* Registry keys: "f_" or "F_" and 40 hex digits. */
#define SCRIPT_KEY_BYTES (2u + SHA1_HEX_BYTES + 1u)

/* Redis's log levels (redis.LOG_*), and the level below which it logs nothing (notice). */
enum { SCRIPT_LOG_DEBUG, SCRIPT_LOG_VERBOSE, SCRIPT_LOG_NOTICE, SCRIPT_LOG_WARNING };

/* The code Redis gives an error without one of its own. */
#define SCRIPT_ERROR_CODE "ERR"

/* A MISCONF line a redis.call gets: the RDB one (under 300 bytes) or the AOF one with an
 * strerror text (well under 100 bytes), and its NUL. */
#define SCRIPT_MISCONF_LINE_BYTES 512u

/* ---- The allocator ---------------------------------------------------------------------- */

static void *script_alloc(void *owner_pointer, void *pointer, size_t old_bytes,
                          size_t new_bytes)
{
    (void)old_bytes;
    struct script_owner *owner = owner_pointer;
    KV_ASSERT(owner != NULL && owner->script != NULL);
    struct heap *heap = &owner->script->heap;
    if (new_bytes == 0) {
        if (pointer != NULL) {
            KV_ASSERT(owner->allocations > 0);
            owner->allocations--;
            heap_release(heap, pointer);
        }
        return NULL;
    }
    /* NULL tells Lua the heap is full: it raises its memory error. */
    void *taken = pointer == NULL ? heap_alloc(heap, new_bytes)
                                  : heap_resize(heap, pointer, new_bytes);
    if (taken == NULL) {
        /* The kept pages open for the rest of the run: the script that catches the error
         * (pcall) still builds its small result, and the error is answered. */
        (void)heap_reserve_set(heap, HEAP_RESERVE_ALL);
    }
    owner->allocations += pointer == NULL && taken != NULL ? 1u : 0u;
    return taken;
}

struct script *script_of(lua_State *lua)
{
    void *owner = NULL;
    lua_Alloc alloc = lua_getallocf(lua, &owner);
    KV_ASSERT(alloc == script_alloc);
    KV_ASSERT(owner != NULL);
    return ((struct script_owner *)owner)->script;
}

uint64_t script_now_ms(void)
{
    struct timespec now;
    int result = clock_gettime(CLOCK_MONOTONIC, &now);
    KV_ASSERT(result == 0); /* fails only for a bad clock id or pointer */
    KV_ASSERT(now.tv_nsec >= 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static int script_panic(lua_State *lua)
{
    /* Every entry is protected (lua_cpcall), so an unprotected error is our bug. */
    log_error("lua: unprotected error: %s", lua_tostring(lua, -1));
    KV_ASSERT(false);
    return 0;
}

/* ---- Error tables ----------------------------------------------------------------------- */

/* Pushes Redis's error table {err = "<CODE> <message>"} for `text`, as luaPushErrorBuff:
 * "-CODE message" keeps its code, anything else gets "ERR"; the message loses CR and LF at
 * both ends. */
void script_error_push(lua_State *lua, const char *text)
{
    KV_ASSERT(text != NULL);
    const char *code = SCRIPT_ERROR_CODE;
    size_t code_bytes = sizeof(SCRIPT_ERROR_CODE) - 1;
    const char *message = text;
    if (text[0] == '-') {
        const char *space = strchr(text, ' ');
        if (space == NULL) {
            message = text + 1;
        } else {
            code = text + 1;
            code_bytes = (size_t)(space - code);
            message = space + 1;
        }
    }
    size_t message_bytes = strlen(message);
    /* Bounded by the message's bytes. */
    while (message_bytes > 0 && (message[0] == '\r' || message[0] == '\n')) {
        message++;
        message_bytes--;
    }
    while (message_bytes > 0 &&
           (message[message_bytes - 1] == '\r' || message[message_bytes - 1] == '\n')) {
        message_bytes--;
    }
    lua_newtable(lua);
    luaL_Buffer buffer;
    luaL_buffinit(lua, &buffer);
    luaL_addlstring(&buffer, code, code_bytes);
    luaL_addchar(&buffer, ' ');
    luaL_addlstring(&buffer, message, message_bytes);
    luaL_pushresult(&buffer);
    lua_setfield(lua, -2, "err");
    KV_ASSERT(lua_istable(lua, -1));
}

static void error_table_push(lua_State *lua, const char *text)
{
    script_error_push(lua, text);
}

/* An error table from redis.call's checks, marked as Redis marks it. */
static void call_error_push(lua_State *lua, const char *text)
{
    int top = lua_gettop(lua);
    error_table_push(lua, text);
    lua_pushboolean(lua, 1);
    lua_setfield(lua, -2, "ignore_error_stats_update");
    KV_ASSERT(lua_gettop(lua) == top + 1);
    KV_ASSERT(lua_istable(lua, -1));
}

/* Raises Redis's error table for `text` (never returns). */
static int error_raise(lua_State *lua, const char *text)
{
    KV_ASSERT(text != NULL && text[0] != '\0');
    error_table_push(lua, text);
    return lua_error(lua);
}

/* The error handler of every run, as Redis's __redis__err__handler: a string becomes
 * {err = "ERR " .. tostring(err)}, and the table gets the source and line of the Lua code
 * that raised it (the caller's, when a C function such as redis.call raised it). */
static int script_error_handler(lua_State *lua)
{
    lua_Debug where;
    bool known = lua_getstack(lua, 1, &where) && lua_getinfo(lua, "nSl", &where);
    if (known && strcmp(where.what, "C") == 0) {
        known = lua_getstack(lua, 2, &where) && lua_getinfo(lua, "nSl", &where);
    }
    if (!lua_istable(lua, 1)) {
        lua_getfield(lua, LUA_REGISTRYINDEX, "kv_tostring");
        lua_pushvalue(lua, 1);
        lua_call(lua, 1, 1);
        lua_pushstring(lua, SCRIPT_ERROR_CODE);
        lua_pushliteral(lua, " ");
        lua_pushvalue(lua, -3);
        lua_concat(lua, 3);
        lua_remove(lua, -2);
        lua_newtable(lua);
        lua_insert(lua, -2);
        lua_setfield(lua, -2, "err");
        lua_replace(lua, 1);
    }
    KV_ASSERT(lua_istable(lua, 1)); /* every error leaves as a table */
    if (known) {
        KV_ASSERT(where.source != NULL);
        lua_pushstring(lua, where.source);
        lua_setfield(lua, 1, "source");
        lua_pushnumber(lua, where.currentline);
        lua_setfield(lua, 1, "line");
    }
    lua_settop(lua, 1);
    return 1;
}

/* ---- The sandbox's metamethods ---------------------------------------------------------- */

static int script_readonly_error(lua_State *lua)
{
    return luaL_error(lua, "Attempt to modify a readonly table");
}

int script_missing_global(lua_State *lua)
{
    const char *name = lua_tostring(lua, 2);
    return luaL_error(lua, "Script attempted to access nonexistent global variable '%s'",
                      name != NULL ? name : "?");
}

/* Replaces the table at the top of the stack with a proxy that reads it and refuses writes. */
void script_proxy_make(lua_State *lua)
{
    KV_ASSERT(lua_istable(lua, -1));
    lua_newtable(lua);             /* the proxy */
    lua_newtable(lua);             /* its metatable */
    lua_pushvalue(lua, -3);
    lua_setfield(lua, -2, "__index");
    lua_pushcfunction(lua, script_readonly_error);
    lua_setfield(lua, -2, "__newindex");
    lua_setmetatable(lua, -2);
    lua_replace(lua, -2);
    KV_ASSERT(lua_istable(lua, -1));
}

/* ---- redis.* ---------------------------------------------------------------------------- */

/* Converts the arguments at 1..count to strings in place (numbers as "%.17g", as Redis);
 * false when one is neither, with Redis's error table pushed. */
static bool args_to_strings(lua_State *lua, int count)
{
    KV_ASSERT(count >= 1);
    /* Bounded by the argument count. */
    for (int index = 1; index <= count; index++) {
        int type = lua_type(lua, index);
        if (type == LUA_TNUMBER) {
            char number[SCRIPT_NUMBER_BYTES];
            int length = snprintf(number, sizeof(number), "%.17g", lua_tonumber(lua, index));
            KV_ASSERT(length > 0 && (size_t)length < sizeof(number));
            lua_pushlstring(lua, number, (size_t)length);
            lua_replace(lua, index);
        } else if (type != LUA_TSTRING) {
            error_table_push(lua, "Lua redis lib command arguments must be strings or integers");
            return false;
        }
    }
    return true;
}

/* The arguments at 1..count (strings) as slices, in a userdata the stack keeps alive. */
static struct slice *args_slices(lua_State *lua, int count)
{
    struct slice *args = lua_newuserdata(lua, (size_t)count * sizeof(struct slice));
    /* Bounded by the argument count. */
    for (int index = 0; index < count; index++) {
        size_t length = 0;
        const char *bytes = lua_tolstring(lua, index + 1, &length);
        KV_ASSERT(bytes != NULL);
        KV_ASSERT(length <= UINT32_MAX);
        args[index] = (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)length};
    }
    return args;
}

/* Redis 7.0's NOSCRIPT commands kv may have; the containers (CLIENT, CONFIG, ...) are
 * NOSCRIPT in every subcommand but HELP. */
static const char *const script_denied_names[] = {
    "auth",      "bgrewriteaof", "bgsave",    "blmove",     "blpop",      "brpop",
    "brpoplpush", "bzpopmax",    "bzpopmin",  "debug",      "discard",    "eval",
    "eval_ro",   "evalsha",      "evalsha_ro", "exec",      "failover",   "fcall",
    "fcall_ro",  "hello",        "monitor",   "multi",      "psubscribe", "psync",
    "punsubscribe", "quit",      "replconf",  "replicaof",  "reset",      "role",
    "save",      "shutdown",     "slaveof",   "ssubscribe", "subscribe",  "sunsubscribe",
    "sync",      "unsubscribe",  "unwatch",   "wait",       "watch",
};
static const char *const script_denied_containers[] = {
    "client", "config", "latency", "script", "function", "acl", "module",
};

static bool call_denied(const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    /* Bounded by the two lists. */
    for (size_t index = 0; index < sizeof(script_denied_names) / sizeof(char *); index++) {
        if (cmd_arg_is(args[0], script_denied_names[index])) {
            return true;
        }
    }
    for (size_t index = 0; index < sizeof(script_denied_containers) / sizeof(char *); index++) {
        if (cmd_arg_is(args[0], script_denied_containers[index])) {
            return arg_count >= 2 && !cmd_arg_is(args[1], "help");
        }
    }
    return false;
}

/* Redis's MAY_REPLICATE commands kv may have: refused, as writes, in read-only scripts. */
static bool call_may_replicate(struct slice name)
{
    KV_ASSERT(name.bytes != NULL || name.length == 0);
    return cmd_arg_is(name, "publish") || cmd_arg_is(name, "spublish") ||
           cmd_arg_is(name, "pfcount");
}

/* redis.call's reply buffer: the carved one, grown into the Lua heap when a reply needs more.
 * Growing never raises a Lua error (it runs inside a command handler); no room fails the
 * reply instead. */
static bool call_grow(struct reply *reply, uint64_t wanted)
{
    struct script *script = reply->owner;
    uint64_t capacity = (uint64_t)reply->capacity * 2u;
    capacity = capacity > reply->length + wanted ? capacity : reply->length + wanted;
    if (capacity > UINT32_MAX) {
        return false;
    }
    uint8_t *bytes = NULL;
    if (reply->bytes == script->call_fixed) {
        bytes = heap_alloc(&script->heap, capacity);
        if (bytes != NULL) {
            memcpy(bytes, reply->bytes, reply->length);
        }
    } else {
        KV_ASSERT(reply->bytes == script->call_grown);
        bytes = heap_resize(&script->heap, reply->bytes, capacity);
    }
    if (bytes == NULL) {
        return false;
    }
    script->call_grown = bytes;
    reply->bytes = bytes;
    reply->capacity = (uint32_t)capacity;
    KV_ASSERT(reply->length < reply->capacity);
    return true;
}

static void call_truncate(struct reply *reply)
{
    uint64_t drop = reply->total - reply->mark;
    KV_ASSERT(drop <= reply->length);
    reply->length -= (uint32_t)drop;
    reply->total = reply->mark;
}

static void call_grown_release(struct script *script)
{
    if (script->call_grown != NULL) {
        heap_release(&script->heap, script->call_grown);
        script->call_grown = NULL;
    }
    KV_ASSERT(script->call_grown == NULL);
}

/* Where a reply line ends: the offset of its "\r". */
static uint32_t line_end(const uint8_t *bytes, uint32_t length, uint32_t start)
{
    KV_ASSERT(start <= length);
    const uint8_t *found = memchr(bytes + start, '\r', length - start);
    KV_ASSERT(found != NULL); /* kv wrote the reply: every line ends */
    uint32_t end = (uint32_t)(found - bytes);
    KV_ASSERT(end + 1 < length && bytes[end + 1] == '\n');
    return end;
}

static int64_t line_integer(const uint8_t *bytes, uint32_t start, uint32_t end)
{
    int64_t value = 0;
    bool ok = number_parse_int64(bytes + start, end - start, &value);
    KV_ASSERT(ok); /* kv wrote the reply */
    return value;
}

/* A table {<field> = <value on top>} in place of the value on top (Redis's RESP3 shapes). */
static void field_table_wrap(lua_State *lua, const char *field)
{
    KV_ASSERT(lua_gettop(lua) >= 1);
    lua_newtable(lua);
    lua_insert(lua, -2);
    lua_setfield(lua, -2, field);
    KV_ASSERT(lua_istable(lua, -1));
}

/* The bytes of a bulk-like element ("$n", "=n") starting at `end` + 2; returns its length. */
static uint32_t bulk_bytes_checked(const uint8_t *bytes, uint32_t length, uint32_t at,
                                   uint32_t end)
{
    int64_t bulk_bytes = line_integer(bytes, at + 1, end);
    KV_ASSERT(bulk_bytes >= 0);
    KV_ASSERT((uint64_t)end + 2 + (uint64_t)bulk_bytes + 2 <= length);
    return (uint32_t)bulk_bytes;
}

/* Pushes one RESP2 or RESP3 reply element that is not an aggregate, as Redis's
 * redisProtocolToLuaType callbacks: RESP3's null is nil, a double {double=n}, a boolean
 * true or false, a big number {big_number=s}, a verbatim string {verbatim_string=
 * {format=..., string=...}}. Returns the offset after it. */
static uint32_t reply_scalar_push(lua_State *lua, const uint8_t *bytes, uint32_t length,
                                  uint32_t at)
{
    uint8_t type = bytes[at];
    uint32_t end = line_end(bytes, length, at + 1);
    const char *text = (const char *)bytes + at + 1;
    size_t text_bytes = end - at - 1;
    switch (type) {
    case '+':
        lua_newtable(lua);
        lua_pushlstring(lua, text, text_bytes);
        lua_setfield(lua, -2, "ok");
        break;
    case '-':
        lua_pushliteral(lua, "-");
        lua_pushlstring(lua, text, text_bytes);
        lua_concat(lua, 2);
        call_error_push(lua, lua_tostring(lua, -1));
        lua_remove(lua, -2);
        break;
    case ':':
        lua_pushnumber(lua, (lua_Number)line_integer(bytes, at + 1, end));
        break;
    case '_':
        lua_pushnil(lua);
        break;
    case '#':
        lua_pushboolean(lua, text_bytes > 0 && text[0] == 't');
        break;
    case ',': {
        /* kv wrote "%.17g", "inf" or "-inf": strtod reads each back. */
        char number[SCRIPT_NUMBER_BYTES];
        KV_ASSERT(text_bytes < sizeof(number));
        memcpy(number, text, text_bytes);
        number[text_bytes] = '\0';
        lua_pushnumber(lua, strtod(number, NULL));
        field_table_wrap(lua, "double");
        break;
    }
    case '(':
        lua_pushlstring(lua, text, text_bytes);
        field_table_wrap(lua, "big_number");
        break;
    case '=': {
        uint32_t bulk_bytes = bulk_bytes_checked(bytes, length, at, end);
        KV_ASSERT(bulk_bytes >= 4); /* "txt:" at least */
        const char *format = (const char *)bytes + end + 2;
        lua_newtable(lua);
        lua_pushlstring(lua, format + 4, bulk_bytes - 4);
        lua_setfield(lua, -2, "string");
        lua_pushlstring(lua, format, 3);
        lua_setfield(lua, -2, "format");
        field_table_wrap(lua, "verbatim_string");
        return end + 2 + bulk_bytes + 2;
    }
    default: {
        KV_ASSERT(type == '$');
        if (text_bytes == 2 && text[0] == '-' && text[1] == '1') {
            lua_pushboolean(lua, 0);
            break;
        }
        uint32_t bulk_bytes = bulk_bytes_checked(bytes, length, at, end);
        lua_pushlstring(lua, (const char *)bytes + end + 2, bulk_bytes);
        return end + 2 + bulk_bytes + 2;
    }
    }
    return end + 2;
}

/* An aggregate of a command's reply being converted. */
enum call_frame_kind { CALL_FRAME_ARRAY, CALL_FRAME_MAP, CALL_FRAME_SET };

/* Converts a command's whole RESP reply into one Lua value on the stack, as Redis's
 * redisProtocolToLuaType: integer -> number, bulk -> string, nil -> false, array -> table,
 * status -> {ok=...}, error -> {err=...}; and RESP3's (the run's protocol after
 * redis.setresp(3)): map -> {map={k=v...}}, set -> {set={member=true...}}, and the scalars
 * of reply_scalar_push. Iterative, with a frame per open aggregate: an array's table, or a
 * map's or set's {map=...}/{set=...} with its inner table above it. */
static void reply_to_lua(lua_State *lua, const uint8_t *bytes, uint32_t length)
{
    struct {
        enum call_frame_kind kind;
        uint32_t next_index; /* the next element's index (1-based); a map's keys and
                                values count one each */
        uint32_t count;      /* elements to read (a map: twice its pairs) */
    } frames[SCRIPT_CALL_DEPTH_MAX];
    uint32_t depth = 0;
    uint32_t at = 0;
    KV_ASSERT(length >= 3);
    /* Bounded by the reply's bytes: each pass consumes one element's header. */
    while (at < length) {
        if (!lua_checkstack(lua, 4)) {
            luaL_error(lua, "reached lua stack limit");
        }
        uint8_t type = bytes[at];
        if (type == '*' || type == '%' || type == '~') {
            uint32_t end = line_end(bytes, length, at + 1);
            int64_t count = line_integer(bytes, at + 1, end);
            at = end + 2;
            if (count < 0) {
                lua_pushboolean(lua, 0); /* "*-1": RESP2's null array */
            } else {
                enum call_frame_kind kind = type == '*'   ? CALL_FRAME_ARRAY
                                            : type == '%' ? CALL_FRAME_MAP
                                                          : CALL_FRAME_SET;
                if (kind != CALL_FRAME_ARRAY) {
                    lua_newtable(lua); /* the {map=...} or {set=...} around */
                }
                lua_createtable(lua, kind == CALL_FRAME_ARRAY && count < INT32_MAX
                                         ? (int)count : 0, 0);
                uint64_t elements = kind == CALL_FRAME_MAP ? (uint64_t)count * 2u
                                                           : (uint64_t)count;
                KV_ASSERT(elements <= UINT32_MAX); /* kv's replies fit its output */
                if (elements > 0) {
                    if (depth == SCRIPT_CALL_DEPTH_MAX) {
                        luaL_error(lua, "reached lua stack limit");
                    }
                    frames[depth].kind = kind;
                    frames[depth].next_index = 1;
                    frames[depth].count = (uint32_t)elements;
                    depth++;
                    continue;
                }
                if (kind != CALL_FRAME_ARRAY) {
                    lua_setfield(lua, -2, kind == CALL_FRAME_MAP ? "map" : "set");
                }
            }
        } else {
            at = reply_scalar_push(lua, bytes, length, at);
        }
        /* A whole value is on top: it goes into the open aggregates it completes. Bounded
         * by the depth. */
        while (depth > 0) {
            uint32_t index = frames[depth - 1].next_index;
            enum call_frame_kind kind = frames[depth - 1].kind;
            if (kind == CALL_FRAME_ARRAY) {
                lua_rawseti(lua, -2, (int)index);
            } else if (kind == CALL_FRAME_SET) {
                lua_pushboolean(lua, 1);
                lua_settable(lua, -3);
            } else if (index % 2u == 0) {
                lua_settable(lua, -3); /* the key below the value */
            }
            frames[depth - 1].next_index++;
            if (index < frames[depth - 1].count) {
                break;
            }
            if (kind != CALL_FRAME_ARRAY) {
                lua_setfield(lua, -2, kind == CALL_FRAME_MAP ? "map" : "set");
            }
            depth--;
        }
        if (depth == 0) {
            break;
        }
    }
    KV_ASSERT(depth == 0);
    KV_ASSERT(at == length); /* one reply, read whole */
}

/* The checks Redis's scriptCall makes before a command runs; false with the error table
 * pushed. */
static bool call_admit(lua_State *lua, struct script_run *run, uint32_t position,
                       const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(run->context != NULL);
    const struct cmd *cmd = cmd_of(position);
    if (cmd == NULL) {
        call_error_push(lua, "Unknown Redis command called from script");
        return false;
    }
    int arity = cmd->arity;
    if ((arity > 0 && (uint32_t)arity != arg_count) ||
        (arity < 0 && arg_count < (uint32_t)-arity)) {
        call_error_push(lua, "Wrong number of args calling Redis command from script");
        return false;
    }
    if (call_denied(args, arg_count)) {
        call_error_push(lua, "This Redis command is not allowed from script");
        return false;
    }
    if (run->refuse_writes &&
        ((cmd_flags(cmd) & CMD_FLAG_WRITE) || call_may_replicate(args[0]))) {
        call_error_push(lua, "Write commands are not allowed from read-only scripts.");
        return false;
    }
    /* The disk cannot be written (a failed BGSAVE with stop-writes-on-bgsave-error, the
     * AOF's write): a write gets the MISCONF line, as Redis's scriptVerifyWriteCommandAllow,
     * unless the script wrote already (Redis does not fail it halfway on a state it could
     * not foresee). */
    if ((cmd_flags(cmd) & CMD_FLAG_WRITE) && !run->wrote) {
        int aof_errno = 0;
        enum reply_error denied = cmd_disk_denied(&aof_errno);
        if (denied != REPLY_ERROR_COUNT) {
            uint8_t bytes[SCRIPT_MISCONF_LINE_BYTES];
            struct reply line = reply_fixed(bytes, sizeof(bytes) - 1); /* and a NUL */
            if (denied == REPLY_ERROR_MISCONF_AOF) {
                reply_error_format(&line, denied, strerror(aof_errno));
            } else {
                reply_error(&line, denied);
            }
            KV_ASSERT(!line.failed && line.length < sizeof(bytes));
            bytes[line.length] = '\0';
            call_error_push(lua, (const char *)bytes);
            return false;
        }
    }
    return true;
}

/* Runs an admitted command into the call buffer (or answers the budget's OOM there, as
 * Redis's scriptVerifyOOM before the script's first write). */
static struct reply call_execute(struct script_run *run, uint32_t position,
                                 const struct slice *args, uint32_t arg_count)
{
    struct script *script = run->script;
    KV_ASSERT(script->call_grown == NULL);
    struct cmd_context call = *run->context;
    call.reply = (struct reply){.bytes = script->call_fixed,
                                .capacity = SCRIPT_CALL_REPLY_BYTES,
                                .grow = call_grow,
                                .truncate = call_truncate,
                                .owner = script};
    call.reply.resp3 = run->resp3; /* the run's protocol (redis.setresp), not the caller's */
    call.mode = CMD_MODE_EXEC; /* blocking forms answer at once, as in a script */
    call.script_call = true;   /* MONITOR shows it as "lua" */
    call.outcome = (struct cmd_outcome){0};
    struct client *client = run->context->client;
    const char *last_command = client->last_command;
    bool admitted = run->wrote || !cmd_denyoom(position) ||
                    cmd_memory_admit(&call, position, args, arg_count, false);
    if (admitted) {
        run->wrote = run->wrote || (cmd_flags(cmd_of(position)) & CMD_FLAG_WRITE);
        cmd_run(&call, position, args, arg_count);
    }
    client->last_command = last_command; /* the client's last command stays the EVAL */
    KV_ASSERT(!call.outcome.block);
    KV_ASSERT(call.reply.length > 0 || call.reply.failed);
    return call.reply;
}

/* redis.call (raise) and redis.pcall. */
static int call_generic(lua_State *lua, bool raise)
{
    struct script *script = script_of(lua);
    struct script_run *run = script->run;
    if (run == NULL || run->context == NULL) {
        return error_raise(lua, "redis.call/pcall can only be called inside a script invocation");
    }
    int count = lua_gettop(lua);
    if (count == 0) {
        error_table_push(lua, "Please specify at least one argument for this redis lib call");
        return raise ? lua_error(lua) : 1;
    }
    if (!args_to_strings(lua, count)) {
        return raise ? lua_error(lua) : 1;
    }
    struct slice *args = args_slices(lua, count);
    uint32_t arg_count = (uint32_t)count;
    KV_ASSERT(lua_gettop(lua) == count + 1); /* the strings, then their slices */
    uint32_t position = cmd_find(args, arg_count);
    if (!call_admit(lua, run, position, args, arg_count)) {
        return raise ? lua_error(lua) : 1;
    }
    struct reply reply = call_execute(run, position, args, arg_count);
    if (reply.failed) {
        call_grown_release(script);
        call_error_push(lua, "the command's reply does not fit the Lua heap (lua_heap_bytes)");
        return raise ? lua_error(lua) : 1;
    }
    bool error = reply.bytes[0] == '-';
    reply_to_lua(lua, reply.bytes, reply.length);
    call_grown_release(script);
    KV_ASSERT(lua_gettop(lua) == count + 2); /* the converted reply on top */
    if (raise && error) {
        return lua_error(lua);
    }
    return 1;
}

static int redis_call(lua_State *lua)
{
    KV_ASSERT(script_of(lua)->lua != NULL);
    return call_generic(lua, true);
}

static int redis_pcall(lua_State *lua)
{
    KV_ASSERT(script_of(lua)->lua != NULL);
    return call_generic(lua, false);
}

static int redis_sha1hex(lua_State *lua)
{
    if (lua_gettop(lua) != 1) {
        return error_raise(lua, "wrong number of arguments");
    }
    size_t length = 0;
    const char *bytes = lua_tolstring(lua, 1, &length);
    char hex[SHA1_HEX_BYTES + 1];
    sha1_hex((const uint8_t *)bytes, bytes != NULL ? length : 0, hex);
    KV_ASSERT(strlen(hex) == SHA1_HEX_BYTES);
    lua_pushstring(lua, hex);
    return 1;
}

static int redis_error_reply(lua_State *lua)
{
    if (lua_gettop(lua) != 1 || lua_type(lua, -1) != LUA_TSTRING) {
        error_table_push(lua, "wrong number or type of arguments");
        return 1;
    }
    const char *text = lua_tostring(lua, -1);
    if (text[0] != '-') {
        lua_pushliteral(lua, "-");
        lua_insert(lua, -2);
        lua_concat(lua, 2);
        text = lua_tostring(lua, -1);
    }
    error_table_push(lua, text);
    KV_ASSERT(lua_istable(lua, -1));
    return 1;
}

static int redis_status_reply(lua_State *lua)
{
    if (lua_gettop(lua) != 1 || lua_type(lua, -1) != LUA_TSTRING) {
        error_table_push(lua, "wrong number or type of arguments");
        return 1;
    }
    lua_newtable(lua);
    lua_pushvalue(lua, -2);
    lua_setfield(lua, -2, "ok");
    KV_ASSERT(lua_gettop(lua) == 2);
    return 1;
}

static int redis_log(lua_State *lua)
{
    int count = lua_gettop(lua);
    if (count < 2) {
        return error_raise(lua, "redis.log() requires two arguments or more.");
    }
    if (!lua_isnumber(lua, 1)) {
        return error_raise(lua, "First argument must be a number (log level).");
    }
    int level = (int)lua_tonumber(lua, 1);
    if (level < SCRIPT_LOG_DEBUG || level > SCRIPT_LOG_WARNING) {
        return error_raise(lua, "Invalid debug level.");
    }
    if (level < SCRIPT_LOG_NOTICE) {
        return 0; /* below Redis's default verbosity */
    }
    char line[LOG_LINE_BYTES_MAX];
    size_t used = 0;
    /* Bounded by the arguments, and the line's bytes. */
    for (int index = 2; index <= count; index++) {
        size_t length = 0;
        const char *text = lua_tolstring(lua, index, &length);
        if (text == NULL) {
            continue;
        }
        if (index != 2 && used < sizeof(line) - 1) {
            line[used++] = ' ';
        }
        size_t room = sizeof(line) - 1 - used;
        length = length < room ? length : room;
        memcpy(line + used, text, length);
        used += length;
    }
    KV_ASSERT(used < sizeof(line));
    log_line(level == SCRIPT_LOG_WARNING ? LOG_WARN : LOG_INFO, "lua: %.*s", (int)used, line);
    return 0;
}

static int redis_setresp(lua_State *lua)
{
    if (script_of(lua)->run == NULL) {
        return error_raise(lua, "redis.setresp can only be called inside a script invocation");
    }
    if (lua_gettop(lua) != 1) {
        return error_raise(lua, "redis.setresp() requires one argument.");
    }
    int resp = (int)lua_tonumber(lua, 1);
    if (resp != 2 && resp != 3) {
        return error_raise(lua, "RESP version must be 2 or 3.");
    }
    /* redis.call's commands answer in this protocol from now on, and the result's booleans
     * follow it (result_value). */
    script_of(lua)->run->resp3 = resp == 3;
    return 0;
}

static int redis_set_repl(lua_State *lua)
{
    if (script_of(lua)->run == NULL) {
        return error_raise(lua, "redis.set_repl can only be called inside a script invocation");
    }
    if (lua_gettop(lua) != 1) {
        return error_raise(lua, "redis.set_repl() requires two arguments.");
    }
    int flags = (int)lua_tonumber(lua, -1);
    KV_ASSERT(script_of(lua)->run != NULL);
    if ((flags & ~3) != 0) {
        return error_raise(lua, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, "
                                "REPL_ALL or REPL_NONE.");
    }
    return 0; /* kv does not replicate: accepted, no effect */
}

static int redis_replicate_commands(lua_State *lua)
{
    lua_pushboolean(lua, 1); /* Redis 7.0 always replicates effects */
    return 1;
}

static int redis_breakpoint(lua_State *lua)
{
    lua_pushboolean(lua, 0); /* no debugger */
    return 1;
}

static int redis_debug(lua_State *lua)
{
    (void)lua;
    return 0;
}

static int redis_acl_check_cmd(lua_State *lua)
{
    if (script_of(lua)->run == NULL) {
        return error_raise(lua,
                           "redis.acl_check_cmd can only be called inside a script invocation");
    }
    int count = lua_gettop(lua);
    if (count == 0) {
        error_table_push(lua, "Please specify at least one argument for this redis lib call");
        return lua_error(lua);
    }
    if (!args_to_strings(lua, count)) {
        return lua_error(lua);
    }
    struct slice *args = args_slices(lua, count);
    KV_ASSERT(lua_gettop(lua) == count + 1);
    if (cmd_find(args, (uint32_t)count) == CMD_NONE) {
        return error_raise(lua, "Invalid command passed to redis.acl_check_cmd()");
    }
    lua_pushboolean(lua, 1); /* kv has one user, allowed everything */
    return 1;
}

/* pcall as Redis 7.0 replaces it: an error table caught is returned as its message. */
static int script_pcall(lua_State *lua)
{
    int count = lua_gettop(lua);
    luaL_checkany(lua, 1);
    lua_pushboolean(lua, 1);
    lua_insert(lua, 1);
    if (lua_pcall(lua, count - 1, LUA_MULTRET, 0) != 0) {
        lua_remove(lua, 1);
        if (lua_istable(lua, -1)) {
            lua_getfield(lua, -1, "err");
            if (lua_isstring(lua, -1)) {
                lua_replace(lua, -2);
            }
        }
        lua_pushboolean(lua, 0);
        lua_insert(lua, 1);
    }
    KV_ASSERT(lua_isboolean(lua, 1)); /* the verdict first, then the results or the error */
    return lua_gettop(lua);
}

/* ---- math.random: Redis's rand48, the same sequence on every host ----------------------- */

#define SCRIPT_RAND48_MASK ((1ull << 48) - 1u)
#define SCRIPT_RAND48_MAX INT32_MAX

static int32_t rand48_next(struct script *script)
{
    script->random_state = (0x5deece66dull * script->random_state + 0xbu) & SCRIPT_RAND48_MASK;
    int32_t value = (int32_t)(script->random_state >> 17);
    KV_ASSERT(value >= 0);
    return value;
}

static int math_random(lua_State *lua)
{
    struct script *script = script_of(lua);
    if (script->run == NULL) {
        return luaL_error(lua, "math.random can only be called inside a script invocation");
    }
    lua_Number fraction = (lua_Number)(rand48_next(script) % SCRIPT_RAND48_MAX) /
                          (lua_Number)SCRIPT_RAND48_MAX;
    KV_ASSERT(fraction >= 0 && fraction < 1);
    int count = lua_gettop(lua);
    if (count == 0) {
        lua_pushnumber(lua, fraction);
    } else if (count == 1) {
        int upper = luaL_checkint(lua, 1);
        luaL_argcheck(lua, 1 <= upper, 1, "interval is empty");
        lua_pushnumber(lua, floor(fraction * upper) + 1);
    } else if (count == 2) {
        int lower = luaL_checkint(lua, 1);
        int upper = luaL_checkint(lua, 2);
        luaL_argcheck(lua, lower <= upper, 2, "interval is empty");
        lua_pushnumber(lua, floor(fraction * (upper - lower + 1)) + lower);
    } else {
        return luaL_error(lua, "wrong number of arguments");
    }
    return 1;
}

static int math_randomseed(lua_State *lua)
{
    struct script *script = script_of(lua);
    if (script->run == NULL) {
        return luaL_error(lua, "math.randomseed can only be called inside a script invocation");
    }
    uint32_t seed = (uint32_t)luaL_checkint(lua, 1);
    script->random_state = ((uint64_t)seed << 16) | 0x330eu;
    KV_ASSERT(script->random_state <= SCRIPT_RAND48_MASK);
    return 0;
}

/* ---- Opening the state ------------------------------------------------------------------ */

static void library_open(lua_State *lua, lua_CFunction open, const char *name)
{
    KV_ASSERT(open != NULL && name != NULL);
    lua_pushcfunction(lua, open);
    lua_pushstring(lua, name);
    lua_call(lua, 1, 0);
}

static void field_function(lua_State *lua, const char *name, lua_CFunction function)
{
    KV_ASSERT(lua_istable(lua, -1));
    lua_pushcfunction(lua, function);
    lua_setfield(lua, -2, name);
}

static void field_number(lua_State *lua, const char *name, lua_Number number)
{
    KV_ASSERT(lua_istable(lua, -1));
    lua_pushnumber(lua, number);
    lua_setfield(lua, -2, name);
}

/* The redis table, left on the stack. */
static void redis_table_push(lua_State *lua)
{
    lua_newtable(lua);
    field_function(lua, "call", redis_call);
    field_function(lua, "pcall", redis_pcall);
    field_function(lua, "log", redis_log);
    field_number(lua, "LOG_DEBUG", SCRIPT_LOG_DEBUG);
    field_number(lua, "LOG_VERBOSE", SCRIPT_LOG_VERBOSE);
    field_number(lua, "LOG_NOTICE", SCRIPT_LOG_NOTICE);
    field_number(lua, "LOG_WARNING", SCRIPT_LOG_WARNING);
    field_number(lua, "REDIS_VERSION_NUM", 0x0007000f); /* 7.0.15, as INFO says */
    lua_pushliteral(lua, "7.0.15");
    lua_setfield(lua, -2, "REDIS_VERSION");
    field_function(lua, "setresp", redis_setresp);
    field_function(lua, "sha1hex", redis_sha1hex);
    field_function(lua, "error_reply", redis_error_reply);
    field_function(lua, "status_reply", redis_status_reply);
    field_function(lua, "set_repl", redis_set_repl);
    field_number(lua, "REPL_NONE", 0);
    field_number(lua, "REPL_AOF", 1);
    field_number(lua, "REPL_SLAVE", 2);
    field_number(lua, "REPL_REPLICA", 2);
    field_number(lua, "REPL_ALL", 3);
    field_function(lua, "acl_check_cmd", redis_acl_check_cmd);
    field_function(lua, "replicate_commands", redis_replicate_commands);
    field_function(lua, "breakpoint", redis_breakpoint);
    field_function(lua, "debug", redis_debug);
    KV_ASSERT(lua_istable(lua, -1));
}

/* The libraries whose tables become read-only proxies. */
static const char *const script_library_names[] = {"string", "math", "table", "coroutine",
                                                   "redis", "cjson", "struct", "cmsgpack",
                                                   "bit"};

/* Locks the globals (see the file's comment): the real table stays in the registry as
 * "kv_globals", the thread's globals become its read-only proxy. */
static void sandbox_lock(lua_State *lua)
{
    KV_ASSERT(lua_gettop(lua) == 0);
    lua_pushvalue(lua, LUA_GLOBALSINDEX); /* 1: the real globals */
    /* Bounded by the library list. */
    for (size_t index = 0; index < sizeof(script_library_names) / sizeof(char *); index++) {
        lua_getfield(lua, 1, script_library_names[index]);
        script_proxy_make(lua);
        lua_setfield(lua, 1, script_library_names[index]);
    }
    lua_newtable(lua); /* the real globals' metatable: a missing name is an error */
    lua_pushcfunction(lua, script_missing_global);
    lua_setfield(lua, -2, "__index");
    lua_setmetatable(lua, 1);
    lua_pushvalue(lua, 1);
    lua_setfield(lua, LUA_REGISTRYINDEX, "kv_globals");
    lua_pushvalue(lua, 1);
    script_proxy_make(lua); /* 2: the globals scripts see */
    lua_pushliteral(lua, "_G");
    lua_pushvalue(lua, 2);
    lua_rawset(lua, 1);
    lua_replace(lua, LUA_GLOBALSINDEX);
    lua_settop(lua, 0);
}

static int state_open_protected(lua_State *lua)
{
    library_open(lua, luaopen_base, "");
    library_open(lua, luaopen_table, LUA_TABLIBNAME);
    library_open(lua, luaopen_string, LUA_STRLIBNAME);
    library_open(lua, luaopen_math, LUA_MATHLIBNAME);
    library_open(lua, kv_luaopen_cjson, "cjson");
    library_open(lua, kv_luaopen_struct, "struct");
    library_open(lua, kv_luaopen_cmsgpack, "cmsgpack");
    library_open(lua, kv_luaopen_bit, "bit");
    /* Redis's deny list: opened with the base library, never given to scripts. */
    lua_pushnil(lua);
    lua_setglobal(lua, "dofile");
    lua_pushnil(lua);
    lua_setglobal(lua, "loadfile");
    lua_pushnil(lua);
    lua_setglobal(lua, "print");
    lua_getglobal(lua, "tostring");
    lua_setfield(lua, LUA_REGISTRYINDEX, "kv_tostring");
    lua_pushcfunction(lua, script_pcall);
    lua_setglobal(lua, "pcall");
    lua_getglobal(lua, "math");
    field_function(lua, "random", math_random);
    field_function(lua, "randomseed", math_randomseed);
    lua_pop(lua, 1);
    redis_table_push(lua);
    lua_setglobal(lua, "redis");
    lua_pushcfunction(lua, script_error_handler);
    lua_setfield(lua, LUA_REGISTRYINDEX, "kv_error_handler");
    /* The field names result_table looks up, kept alive here: pushing them then finds the
     * interned strings and allocates nothing, so a script that filled the heap still gets
     * its result answered. */
    static const char *const result_fields[] = {"err", "ok", "double", "big_number",
                                                "verbatim_string", "format", "string", "map",
                                                "set"};
    lua_createtable(lua, (int)(sizeof(result_fields) / sizeof(result_fields[0])), 0);
    /* Bounded by the names. */
    for (size_t index = 0; index < sizeof(result_fields) / sizeof(result_fields[0]); index++) {
        lua_pushstring(lua, result_fields[index]);
        lua_rawseti(lua, -2, (int)index + 1);
    }
    lua_setfield(lua, LUA_REGISTRYINDEX, "kv_result_fields");
    lua_settop(lua, 0);
    sandbox_lock(lua);
    KV_ASSERT(lua_gettop(lua) == 0);
    return 0;
}

lua_State *script_state_open(struct script *script, struct script_owner *owner)
{
    KV_ASSERT(owner->allocations == 0);
    owner->script = script;
    lua_State *lua = lua_newstate(script_alloc, owner);
    KV_ASSERT(lua != NULL); /* the heap is at least SCRIPT_HEAP_BYTES_MIN */
    lua_atpanic(lua, script_panic);
    int status = lua_cpcall(lua, state_open_protected, NULL);
    KV_ASSERT(status == 0); /* the libraries fit SCRIPT_HEAP_BYTES_MIN */
    KV_ASSERT(owner->allocations > 0);
    return lua;
}

void script_state_close(struct script_owner *owner, lua_State *lua)
{
    KV_ASSERT(lua != NULL);
    lua_close(lua);
    /* Every byte the state held came back: nothing of the Lua heap is lost. */
    KV_ASSERT(owner->allocations == 0);
}

static void state_open(struct script *script)
{
    KV_ASSERT(script->lua == NULL);
    script->lua = script_state_open(script, &script->eval_owner);
    script->script_count = 0;
    /* Redis's rand48 starts from the same state in every process. */
    script->random_state = 0x1234abcd330eull;
}

/* ---- Answers ---------------------------------------------------------------------------- */

/* Writes bytes with CR and LF as spaces, as Redis's sdsmapchars keeps a line whole. */
static void reply_mapped(struct reply *reply, const char *bytes, size_t length)
{
    char chunk[256];
    size_t done = 0;
    /* Bounded by the bytes, a chunk at a time. */
    while (done < length) {
        size_t take = length - done < sizeof(chunk) ? length - done : sizeof(chunk);
        for (size_t index = 0; index < take; index++) {
            char byte = bytes[done + index];
            chunk[index] = (byte == '\r' || byte == '\n') ? ' ' : byte;
        }
        reply_raw(reply, chunk, (uint32_t)take);
        done += take;
    }
    KV_ASSERT(done == length);
}

/* The length of `text` less its trailing CR and LF (Redis's sdstrim on a formatted error). */
static size_t trailing_trimmed(const char *text, size_t length)
{
    KV_ASSERT(text != NULL || length == 0);
    /* Bounded by the length. */
    while (length > 0 && (text[length - 1] == '\r' || text[length - 1] == '\n')) {
        length--;
    }
    return length;
}

static void reply_text(struct reply *reply, const char *text)
{
    KV_ASSERT(text != NULL);
    reply_raw(reply, text, (uint32_t)strlen(text));
}

/* An error line of reply.c's table with one argument of our text, as addReplyErrorFormat
 * words it: the text trimmed of trailing CR and LF (the table keeps it on one line). */
static void reply_error_text(struct reply *reply, enum reply_error error, const char *text,
                             size_t length)
{
    KV_ASSERT(reply_error_has_arguments(error));
    struct slice argument = {.bytes = (const uint8_t *)text,
                             .length = (uint32_t)trailing_trimmed(text, length)};
    reply_error_format(reply, error, &argument);
}

static void reply_integer_number(struct reply *reply, lua_Number number)
{
    /* As the C cast on x86-64: a number out of range (or NaN) becomes INT64_MIN. */
    int64_t value = INT64_MIN;
    if (number >= -9223372036854775808.0 && number < 9223372036854775808.0) {
        value = (int64_t)number;
        KV_ASSERT(value != INT64_MIN || number == -9223372036854775808.0);
    }
    reply_integer(reply, value);
}

/* A bulk of bytes with CR and LF as spaces (a big number to a RESP2 caller). */
static void reply_mapped_bulk(struct reply *reply, const char *bytes, size_t length)
{
    char header[SCRIPT_NUMBER_BYTES];
    int header_bytes = snprintf(header, sizeof(header), "$%zu\r\n", length);
    KV_ASSERT(header_bytes > 0 && (size_t)header_bytes < sizeof(header));
    reply_raw(reply, header, (uint32_t)header_bytes);
    reply_mapped(reply, bytes, length);
    reply_text(reply, "\r\n");
}

/* A verbatim string as Redis's addReplyVerbatim: RESP3 "=<n+4>\r\n<fmt>:<text>\r\n" with
 * the format's first three characters (spaces past its end), RESP2 a bulk of the text. */
static void reply_verbatim_text(struct reply *reply, const char *format, const char *text,
                                size_t length)
{
    KV_ASSERT(format != NULL && text != NULL);
    if (!reply->resp3) {
        reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text,
                                         .length = (uint32_t)length});
        return;
    }
    char header[SCRIPT_NUMBER_BYTES + 4];
    int header_bytes = snprintf(header, sizeof(header), "=%zu\r\nxxx:", length + 4);
    KV_ASSERT(header_bytes > 4 && (size_t)header_bytes < sizeof(header));
    bool ended = false;
    /* Three characters, as Redis copies them: a NUL ends the format. */
    for (int index = 0; index < 3; index++) {
        ended = ended || format[index] == '\0';
        header[header_bytes - 4 + index] = ended ? ' ' : format[index];
    }
    reply_raw(reply, header, (uint32_t)header_bytes);
    reply_raw(reply, text, (uint32_t)length);
    reply_text(reply, "\r\n");
}

/* An open table of the script's result being answered: an array walked by index, or the
 * inner table of {map=...} or {set=...} walked with lua_next (its key on top between
 * steps, the outer table below it). */
enum result_frame_kind { RESULT_FRAME_ARRAY, RESULT_FRAME_MAP, RESULT_FRAME_SET };

struct result_frame {
    int table_index;     /* the walked table's stack index */
    uint32_t next_index; /* an array's next element (1-based) */
    uint32_t count;      /* an array's elements: up to the first nil */
    enum result_frame_kind kind;
    bool value_next;     /* a map: its value is on top, to answer after its key */
};

/* Pushes t[name] of the table on top without metamethods, as Redis's lua_rawget. */
static int field_raw_push(lua_State *lua, const char *name)
{
    KV_ASSERT(lua_istable(lua, -1));
    lua_pushstring(lua, name);
    lua_rawget(lua, -2);
    return lua_type(lua, -1);
}

/* The entries of the table on top (a map's pairs, a set's members), walked once. */
static uint32_t table_entry_count(lua_State *lua)
{
    uint32_t count = 0;
    KV_ASSERT(lua_istable(lua, -1));
    lua_pushnil(lua);
    /* Bounded by the table's entries. */
    while (lua_next(lua, -2) != 0) {
        lua_pop(lua, 1);
        count++;
    }
    return count;
}

/* Opens a map's or set's frame over the inner table on top (the outer below it), or
 * answers it whole when it is empty, or Redis's stack-limit error when too deep (then both
 * tables are popped). */
static void result_walk_open(lua_State *lua, struct reply *reply, struct result_frame *frames,
                             uint32_t *depth, enum result_frame_kind kind)
{
    uint32_t count = table_entry_count(lua);
    if (count > 0 && *depth == SCRIPT_RESULT_DEPTH_MAX) {
        reply_error(reply, REPLY_ERROR_LUA_STACK_LIMIT);
        lua_pop(lua, 2);
        return;
    }
    if (kind == RESULT_FRAME_MAP) {
        reply_map(reply, count);
    } else {
        reply_set(reply, count);
    }
    if (count == 0) {
        lua_pop(lua, 2);
        return;
    }
    frames[*depth] = (struct result_frame){.table_index = lua_gettop(lua), .kind = kind};
    (*depth)++;
    lua_pushnil(lua); /* lua_next's first key */
}

/* A table answered as Redis's luaReplyToRedisReply: {err=...}, {ok=...}, {double=...},
 * {big_number=...}, {verbatim_string={format=..., string=...}}, {map=...}, {set=...}, else
 * an array up to the first nil. Pops it unless it opened a frame. */
static void result_table(lua_State *lua, struct reply *reply, struct result_frame *frames,
                         uint32_t *depth)
{
    KV_ASSERT(lua_istable(lua, -1));
    if (field_raw_push(lua, "err") == LUA_TSTRING) {
        const char *message = lua_tostring(lua, -1);
        reply_text(reply, "-");
        reply_mapped(reply, message, trailing_trimmed(message, strlen(message)));
        reply_text(reply, "\r\n");
        lua_pop(lua, 2);
        return;
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "ok") == LUA_TSTRING) {
        const char *status = lua_tostring(lua, -1);
        reply_text(reply, "+");
        reply_mapped(reply, status, strlen(status));
        reply_text(reply, "\r\n");
        lua_pop(lua, 2);
        return;
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "double") == LUA_TNUMBER) {
        reply_score(reply, lua_tonumber(lua, -1)); /* addReplyDouble's forms */
        lua_pop(lua, 2);
        return;
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "big_number") == LUA_TSTRING) {
        size_t length = 0;
        const char *digits = lua_tolstring(lua, -1, &length);
        if (reply->resp3) {
            reply_text(reply, "(");
            reply_mapped(reply, digits, length);
            reply_text(reply, "\r\n");
        } else {
            reply_mapped_bulk(reply, digits, length);
        }
        lua_pop(lua, 2);
        return;
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "verbatim_string") == LUA_TTABLE) {
        if (field_raw_push(lua, "format") == LUA_TSTRING) {
            const char *format = lua_tostring(lua, -1);
            lua_pushvalue(lua, -2);
            if (field_raw_push(lua, "string") == LUA_TSTRING) {
                size_t length = 0;
                const char *text = lua_tolstring(lua, -1, &length);
                reply_verbatim_text(reply, format, text, length);
                lua_pop(lua, 5);
                return;
            }
            lua_pop(lua, 2);
        }
        lua_pop(lua, 1);
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "map") == LUA_TTABLE) {
        result_walk_open(lua, reply, frames, depth, RESULT_FRAME_MAP);
        return;
    }
    lua_pop(lua, 1);
    if (field_raw_push(lua, "set") == LUA_TTABLE) {
        result_walk_open(lua, reply, frames, depth, RESULT_FRAME_SET);
        return;
    }
    lua_pop(lua, 1);
    size_t length = lua_objlen(lua, -1);
    uint32_t count = 0;
    /* The first nil lies at most one past the table's length (a border). */
    for (size_t index = 1; index <= length + 1; index++) {
        lua_rawgeti(lua, -1, (int)index);
        bool end = lua_isnil(lua, -1);
        lua_pop(lua, 1);
        if (end) {
            break;
        }
        count++;
    }
    if (count > 0 && *depth == SCRIPT_RESULT_DEPTH_MAX) {
        reply_error(reply, REPLY_ERROR_LUA_STACK_LIMIT);
        lua_pop(lua, 1);
        return;
    }
    reply_array(reply, count);
    if (count == 0) {
        lua_pop(lua, 1);
        return;
    }
    frames[*depth] = (struct result_frame){.table_index = lua_gettop(lua), .next_index = 1,
                                           .count = count, .kind = RESULT_FRAME_ARRAY};
    (*depth)++;
}

/* Answers the value on top of the stack and pops it (a table with elements stays open).
 * Booleans follow the script's protocol (redis.setresp): RESP2 true is 1 and false the
 * caller's null, RESP3 a boolean (1 and 0 to a RESP2 caller). */
static void result_value(lua_State *lua, struct reply *reply, struct result_frame *frames,
                         uint32_t *depth, bool script_resp3)
{
    if (!lua_checkstack(lua, 4)) {
        reply_error(reply, REPLY_ERROR_LUA_STACK_LIMIT);
        lua_pop(lua, 1);
        return;
    }
    switch (lua_type(lua, -1)) {
    case LUA_TSTRING: {
        size_t length = 0;
        const char *bytes = lua_tolstring(lua, -1, &length);
        KV_ASSERT(length <= UINT32_MAX);
        reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)bytes,
                                         .length = (uint32_t)length});
        break;
    }
    case LUA_TBOOLEAN:
        if (script_resp3) {
            reply_bool(reply, lua_toboolean(lua, -1));
        } else if (lua_toboolean(lua, -1)) {
            reply_integer(reply, 1);
        } else {
            reply_null(reply);
        }
        break;
    case LUA_TNUMBER:
        reply_integer_number(reply, lua_tonumber(lua, -1));
        break;
    case LUA_TTABLE:
        result_table(lua, reply, frames, depth);
        return;
    default:
        reply_null(reply);
        break;
    }
    lua_pop(lua, 1);
}

/* Pushes the next value of the open frame on top to answer; false when the frame is done
 * (its tables popped). */
static bool result_frame_next(lua_State *lua, struct result_frame *frame)
{
    if (frame->kind == RESULT_FRAME_ARRAY) {
        if (frame->next_index <= frame->count) {
            lua_rawgeti(lua, frame->table_index, (int)frame->next_index);
            frame->next_index++;
            return true;
        }
        KV_ASSERT(lua_gettop(lua) == frame->table_index);
        lua_pop(lua, 1);
        return false;
    }
    if (frame->value_next) {
        frame->value_next = false; /* the map's value, left below its answered key */
        return true;
    }
    KV_ASSERT(lua_gettop(lua) == frame->table_index + 1); /* the last key */
    if (lua_next(lua, frame->table_index) == 0) {
        KV_ASSERT(lua_gettop(lua) == frame->table_index);
        lua_pop(lua, 2); /* the inner table and the {map=...} or {set=...} around */
        return false;
    }
    if (frame->kind == RESULT_FRAME_MAP) {
        lua_pushvalue(lua, -2); /* the key answered first, the value next */
        frame->value_next = true;
    } else {
        lua_pop(lua, 1);        /* a set's value is not answered */
        lua_pushvalue(lua, -1); /* the member, answered; the key stays for lua_next */
    }
    return true;
}

/* Answers the script's result (on top of the stack) and pops it. Iterative: a frame per
 * open table, each element fetched when its turn comes. */
static void result_reply(lua_State *lua, struct reply *reply, bool script_resp3)
{
    struct result_frame frames[SCRIPT_RESULT_DEPTH_MAX];
    uint32_t depth = 0;
    int base = lua_gettop(lua) - 1;
    bool more = true;
    /* Bounded by the values reachable from the result, each answered once (a map's
     * values once as values, its keys once as keys). */
    while (more) {
        result_value(lua, reply, frames, &depth, script_resp3);
        more = false;
        while (depth > 0) {
            if (result_frame_next(lua, &frames[depth - 1])) {
                more = true;
                break;
            }
            depth--;
        }
    }
    KV_ASSERT(depth == 0);
    KV_ASSERT(lua_gettop(lua) == base);
}

/* Answers a failed run, as Redis's luaCallFunction: an error table with its source and line
 * ("-<err> script: <sha>, on <source>:<line>."), anything else "Error running script". */
static void failure_reply(lua_State *lua, const struct script_run *run)
{
    struct reply *reply = run->reply;
    if (!lua_istable(lua, -1)) {
        const char *message = lua_isstring(lua, -1) ? lua_tostring(lua, -1) : "execution failure";
        struct slice argument = {.bytes = (const uint8_t *)message,
                                 .length = (uint32_t)trailing_trimmed(message, strlen(message))};
        reply_error_format(reply, REPLY_ERROR_SCRIPT_RUNNING, run->name, &argument);
        lua_pop(lua, 1);
        return;
    }
    lua_getfield(lua, -1, "err");
    lua_getfield(lua, -2, "source");
    lua_getfield(lua, -3, "line");
    const char *message = lua_isstring(lua, -3) ? lua_tostring(lua, -3) : "";
    const char *source = lua_isstring(lua, -2) ? lua_tostring(lua, -2) : NULL;
    const char *line = lua_isstring(lua, -1) ? lua_tostring(lua, -1) : NULL;
    reply_text(reply, "-");
    reply_mapped(reply, message, strlen(message));
    if (source != NULL && line != NULL) {
        reply_text(reply, " script: ");
        reply_text(reply, run->name);
        reply_text(reply, ", on ");
        reply_mapped(reply, source, strlen(source));
        reply_text(reply, ":");
        reply_text(reply, line);
        reply_text(reply, ".");
    }
    reply_text(reply, "\r\n");
    KV_ASSERT(lua_istable(lua, -4));
    lua_pop(lua, 4);
}

/* ---- The cache -------------------------------------------------------------------------- */

static void cache_key(char key[SCRIPT_KEY_BYTES], char kind, const char *sha)
{
    KV_ASSERT(strlen(sha) == SHA1_HEX_BYTES);
    key[0] = kind;
    key[1] = '_';
    memcpy(key + 2, sha, SHA1_HEX_BYTES + 1);
}

const struct script_flag_name script_flag_names[SCRIPT_FLAG_NAME_COUNT] = {
    {"no-writes", SCRIPT_FLAG_NO_WRITES},       {"allow-oom", SCRIPT_FLAG_ALLOW_OOM},
    {"allow-stale", SCRIPT_FLAG_ALLOW_STALE},   {"no-cluster", SCRIPT_FLAG_NO_CLUSTER},
    {"allow-cross-slot-keys", SCRIPT_FLAG_ALLOW_CROSS_SLOT},
};

/* One word of the shebang: "flags=a,b" adds its flags; false after answering the error. */
static bool shebang_word(struct reply *reply, const char *word, size_t length, uint32_t *flags)
{
    if (length < 6 || memcmp(word, "flags=", 6) != 0) {
        reply_error_text(reply, REPLY_ERROR_SHEBANG_OPTION, word, length);
        return false;
    }
    KV_ASSERT(length >= 6);
    size_t at = 6;
    /* Bounded by the word: each pass takes one comma-separated flag. */
    while (at < length) {
        const char *comma = memchr(word + at, ',', length - at);
        size_t flag_bytes = comma != NULL ? (size_t)(comma - word) - at : length - at;
        uint32_t found = 0;
        for (size_t index = 0; index < SCRIPT_FLAG_NAME_COUNT; index++) {
            const char *name = script_flag_names[index].name;
            if (strlen(name) == flag_bytes && memcmp(name, word + at, flag_bytes) == 0) {
                found = script_flag_names[index].flag;
            }
        }
        if (found == 0) {
            reply_error_text(reply, REPLY_ERROR_SHEBANG_FLAG, word + at, flag_bytes);
            return false;
        }
        *flags |= found;
        at += flag_bytes + (comma != NULL ? 1u : 0u);
        if (comma != NULL && at == length) {
            reply_error_text(reply, REPLY_ERROR_SHEBANG_FLAG, "", 0); /* "a," */
            return false;
        }
    }
    return true;
}

/* Redis's evalExtractShebangFlags: "#!lua [flags=...]" on the first line; none is EVAL's
 * compatibility mode. False after answering the error. */
static bool shebang_parse(struct reply *reply, struct slice body, uint32_t *flags,
                          uint32_t *shebang_bytes)
{
    *flags = SCRIPT_FLAG_COMPAT;
    *shebang_bytes = 0;
    if (body.length < 2 || memcmp(body.bytes, "#!", 2) != 0) {
        return true;
    }
    const uint8_t *newline = memchr(body.bytes, '\n', body.length);
    if (newline == NULL) {
        reply_error(reply, REPLY_ERROR_SHEBANG_INVALID);
        return false;
    }
    const char *line = (const char *)body.bytes;
    size_t length = (size_t)(newline - body.bytes);
    *flags = 0;
    size_t at = 0;
    uint32_t word_index = 0;
    /* Bounded by the line: each pass takes one word. */
    while (at < length) {
        if (line[at] == ' ' || line[at] == '\t' || line[at] == '\r') {
            at++;
            continue;
        }
        size_t start = at;
        while (at < length && line[at] != ' ' && line[at] != '\t' && line[at] != '\r') {
            at++;
        }
        if (word_index == 0 && !(at - start == 5 && memcmp(line + start, "#!lua", 5) == 0)) {
            reply_error_text(reply, REPLY_ERROR_SHEBANG_ENGINE, line + start, at - start);
            return false;
        }
        if (word_index > 0 && !shebang_word(reply, line + start, at - start, flags)) {
            return false;
        }
        word_index++;
    }
    *shebang_bytes = (uint32_t)length;
    KV_ASSERT(!(*flags & SCRIPT_FLAG_COMPAT));
    return true;
}

/* Compiles the run's body into the cache (registry["f_<sha>"], its flags in "F_<sha>");
 * false after answering the error. */
static bool cache_compile(lua_State *lua, struct script_run *run)
{
    uint32_t flags = 0;
    uint32_t shebang_bytes = 0;
    if (!shebang_parse(run->reply, run->body, &flags, &shebang_bytes)) {
        return false;
    }
    const char *body = (const char *)run->body.bytes;
    if (luaL_loadbuffer(lua, body + shebang_bytes, run->body.length - shebang_bytes,
                        "@user_script") != 0) {
        const char *message = lua_tostring(lua, -1);
        reply_error_text(run->reply, REPLY_ERROR_SCRIPT_COMPILE, message, strlen(message));
        lua_pop(lua, 1);
        return false;
    }
    KV_ASSERT(lua_isfunction(lua, -1));
    char key[SCRIPT_KEY_BYTES];
    cache_key(key, 'f', run->sha);
    lua_setfield(lua, LUA_REGISTRYINDEX, key);
    cache_key(key, 'F', run->sha);
    lua_pushnumber(lua, flags);
    lua_setfield(lua, LUA_REGISTRYINDEX, key);
    run->script->script_count++;
    KV_ASSERT(run->script->script_count > 0);
    return true;
}

/* Pushes the cached function of the run's SHA-1 (nil when there is none). */
static void cache_find(lua_State *lua, const struct script_run *run)
{
    char key[SCRIPT_KEY_BYTES];
    cache_key(key, 'f', run->sha);
    lua_getfield(lua, LUA_REGISTRYINDEX, key);
    KV_ASSERT(lua_isnil(lua, -1) || lua_isfunction(lua, -1));
}

static uint32_t cache_flags(lua_State *lua, const struct script_run *run)
{
    char key[SCRIPT_KEY_BYTES];
    cache_key(key, 'F', run->sha);
    lua_getfield(lua, LUA_REGISTRYINDEX, key);
    KV_ASSERT(lua_isnumber(lua, -1)); /* set with the function */
    uint32_t flags = (uint32_t)lua_tonumber(lua, -1);
    lua_pop(lua, 1);
    return flags;
}

/* ---- Runs ------------------------------------------------------------------------------- */

/* Sets KEYS or ARGV in the real globals (the proxy refuses scripts, not us). */
static void global_array_set(lua_State *lua, const char *name, const struct slice *items,
                             uint32_t count)
{
    lua_getfield(lua, LUA_REGISTRYINDEX, "kv_globals");
    lua_pushstring(lua, name);
    lua_createtable(lua, count < INT32_MAX ? (int)count : 0, 0);
    /* Bounded by the count. */
    for (uint32_t index = 0; index < count; index++) {
        lua_pushlstring(lua, (const char *)items[index].bytes, items[index].length);
        lua_rawseti(lua, -2, (int)index + 1);
    }
    lua_rawset(lua, -3);
    KV_ASSERT(lua_istable(lua, -1)); /* the real globals */
    lua_pop(lua, 1);
}

/* Redis 7.0's checks on a script's flags before it runs; false after answering. */
static bool run_prepare(struct script_run *run, uint32_t flags)
{
    bool compat = (flags & SCRIPT_FLAG_COMPAT) != 0;
    if (!compat && !(flags & SCRIPT_FLAG_NO_WRITES) && run->read_only_form) {
        reply_error(run->reply, REPLY_ERROR_SCRIPT_WRITE_FLAG_RO);
        return false;
    }
    run->refuse_writes = run->read_only_form || (!compat && (flags & SCRIPT_FLAG_NO_WRITES));
    /* A script that declared flags without no-writes is a write to Redis (its command flags
     * come from the script's): while the disk cannot be written it is refused before it
     * runs, with the line a write gets (processCommand's check, which comes first). */
    bool obeyed = run->context->client != NULL && cmd_must_obey(run->context); /* the AOF's */
    if (!compat && !(flags & SCRIPT_FLAG_NO_WRITES) && !obeyed) {
        int aof_errno = 0;
        enum reply_error denied = cmd_disk_denied(&aof_errno);
        if (denied == REPLY_ERROR_MISCONF_AOF) {
            reply_error_format(run->reply, denied, strerror(aof_errno));
            return false;
        }
        if (denied != REPLY_ERROR_COUNT) {
            reply_error(run->reply, denied);
            return false;
        }
    }
    KV_ASSERT(!run->wrote); /* nothing ran yet */
    return true;
}

/* The count hook of a running script (Redis's luaMaskCountHook): past the threshold, the
 * other clients are served a bounded pass each time (they get -BUSY or kill it); once
 * killed, the error is raised at every line so that pcall cannot swallow it for good. */
static void run_hook(lua_State *lua, lua_Debug *where)
{
    (void)where;
    struct script *script = script_of(lua);
    KV_ASSERT(script->run != NULL);
    if (!script->timed_out) {
        uint64_t elapsed_ms = script_now_ms() - script->run_start_ms;
        if (elapsed_ms < script->busy_reply_threshold_ms) {
            return;
        }
        script->timed_out = true;
        log_warn("Slow script detected: still in execution after %llu milliseconds. You can "
                 "try killing the script using the %s command. Script name is: %s.",
                 (unsigned long long)elapsed_ms,
                 script->run->function ? "FUNCTION KILL" : "SCRIPT KILL", script->run->name);
    }
    if (script->busy_pass != NULL && !script->killed) {
        script->busy_pass(script->busy_pass_owner);
    }
    if (script->killed) {
        lua_sethook(lua, run_hook, LUA_MASKLINE, 0);
        error_raise(lua, "Script killed by user with SCRIPT KILL...");
    }
    KV_ASSERT(script->timed_out);
}

/* Calls the function below `arg_count` arguments on top of the stack, the error handler at
 * `handler_index`, with the busy hook when busy-reply-threshold is set, and answers. */
static void run_call(lua_State *lua, struct script_run *run, int arg_count, int handler_index)
{
    struct script *script = run->script;
    KV_ASSERT(script->run == NULL);
    KV_ASSERT(lua_isfunction(lua, -arg_count - 1));
    const struct config *config = run->context != NULL ? run->context->config : NULL;
    script->busy_reply_threshold_ms = config != NULL ? config->busy_reply_threshold : 0;
    script->run_start_ms = script_now_ms();
    script->timed_out = false;
    script->killed = false;
    (void)heap_reserve_set(&script->heap, HEAP_RESERVE_CLOSED); /* kept again (script_alloc) */
    if (script->busy_reply_threshold_ms > 0) {
        lua_sethook(lua, run_hook, LUA_MASKCOUNT, SCRIPT_HOOK_INSTRUCTIONS);
    }
    script->run = run;
    int status = lua_pcall(lua, arg_count, 1, handler_index);
    script->run = NULL;
    lua_sethook(lua, NULL, 0, 0);
    if (script->killed) {
        log_warn("Lua script killed by user with %s.",
                 run->function ? "FUNCTION KILL" : "SCRIPT KILL");
    } else if (script->timed_out) {
        log_warn("Slow script finished: %s", run->name);
    }
    script->timed_out = false;
    script->killed = false;
    call_grown_release(script);
    if (status != 0) {
        failure_reply(lua, run);
    } else {
        result_reply(lua, run->reply, run->resp3);
    }
    if (++script->runs_since_gc >= SCRIPT_GC_PERIOD) {
        script->runs_since_gc = 0;
        lua_gc(lua, LUA_GCSTEP, SCRIPT_GC_PERIOD);
    }
}

/* Lua 5.1 does not collect when an allocation fails: past a quarter of the heap (a last run's
 * garbage can be most of it), collect first, so the run starts with the room it would have
 * after a collection. */
static void run_collect(lua_State *lua, const struct script *script)
{
    if (script->heap.used_bytes > (uint64_t)script->heap.page_count * HEAP_PAGE_BYTES / 4u) {
        lua_gc(lua, LUA_GCCOLLECT, 0);
    }
}

static int eval_protected(lua_State *lua)
{
    struct script_run *run = lua_touserdata(lua, 1);
    struct script *script = run->script;
    lua_settop(lua, 0);
    run_collect(lua, script);
    lua_getfield(lua, LUA_REGISTRYINDEX, "kv_error_handler"); /* 1 */
    cache_find(lua, run);                                      /* 2 */
    if (lua_isnil(lua, -1)) {
        lua_pop(lua, 1);
        if (run->by_sha) {
            reply_error(run->reply, REPLY_ERROR_NOSCRIPT);
            return 0;
        }
        if (!cache_compile(lua, run)) {
            return 0;
        }
        cache_find(lua, run);
        KV_ASSERT(lua_isfunction(lua, -1));
    }
    if (!run_prepare(run, cache_flags(lua, run))) {
        return 0;
    }
    global_array_set(lua, "KEYS", run->keys, run->key_count);
    global_array_set(lua, "ARGV", run->argv, run->argv_count);
    run_call(lua, run, 0, 1);
    return 0;
}

/* Pushes a new array of the slices (a function's keys or arguments). */
static void array_push(lua_State *lua, const struct slice *items, uint32_t count)
{
    lua_createtable(lua, count < INT32_MAX ? (int)count : 0, 0);
    /* Bounded by the count. */
    for (uint32_t index = 0; index < count; index++) {
        lua_pushlstring(lua, (const char *)items[index].bytes, items[index].length);
        lua_rawseti(lua, -2, (int)index + 1);
    }
    KV_ASSERT(lua_istable(lua, -1));
}

/* Pushes the function record named by the run (any case), or nil. */
static void function_find(lua_State *lua, const struct script_run *run)
{
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY);
    KV_ASSERT(lua_istable(lua, -1));
    luaL_Buffer buffer;
    luaL_buffinit(lua, &buffer);
    /* Bounded by the name's bytes. */
    for (uint32_t index = 0; index < run->body.length; index++) {
        uint8_t byte = run->body.bytes[index];
        luaL_addchar(&buffer, (char)((byte >= 'A' && byte <= 'Z') ? byte + ('a' - 'A') : byte));
    }
    luaL_pushresult(&buffer);
    lua_rawget(lua, -2);
    lua_remove(lua, -2);
    KV_ASSERT(lua_isnil(lua, -1) || lua_istable(lua, -1));
}

static int fcall_protected(lua_State *lua)
{
    struct script_run *run = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    run_collect(lua, run->script);
    lua_getfield(lua, LUA_REGISTRYINDEX, "kv_error_handler"); /* 1 */
    function_find(lua, run);                                   /* 2 */
    if (lua_isnil(lua, 2)) {
        reply_error(run->reply, REPLY_ERROR_FUNCTION_NOT_FOUND);
        return 0;
    }
    if (run->numkeys_error != REPLY_ERROR_NONE) {
        reply_error(run->reply, run->numkeys_error);
        return 0;
    }
    lua_getfield(lua, 2, "name"); /* 3: kept on the stack while errors may name it */
    run->name = lua_tostring(lua, 3);
    lua_getfield(lua, 2, "flags");
    uint32_t flags = (uint32_t)lua_tonumber(lua, -1);
    lua_pop(lua, 1);
    KV_ASSERT(run->name != NULL);
    if (!run_prepare(run, flags)) {
        return 0;
    }
    lua_getfield(lua, 2, "callback"); /* 4 */
    array_push(lua, run->keys, run->key_count);
    array_push(lua, run->argv, run->argv_count);
    run_call(lua, run, 2, 1);
    return 0;
}

static int load_protected(lua_State *lua)
{
    struct script_run *run = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    cache_find(lua, run);
    bool cached = !lua_isnil(lua, -1);
    lua_pop(lua, 1);
    KV_ASSERT(run->context == NULL); /* SCRIPT LOAD runs nothing */
    if (cached || cache_compile(lua, run)) {
        reply_bulk(run->reply, (struct slice){.bytes = (const uint8_t *)run->sha,
                                              .length = SHA1_HEX_BYTES});
    }
    return 0;
}

static int exists_protected(lua_State *lua)
{
    struct script_run *run = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    cache_find(lua, run);
    run->found = lua_isfunction(lua, -1);
    lua_pop(lua, 1);
    KV_ASSERT(lua_gettop(lua) == 0);
    return 0;
}

static int collect_protected(lua_State *lua)
{
    lua_gc(lua, LUA_GCCOLLECT, 0);
    return 0;
}

/* Runs `body` protected: an error that escapes it (the Lua heap is full outside the
 * script's own call) replaces whatever it answered with Redis's "Error running script". */
static void run_protected_in(struct script *script, lua_State *lua, struct script_run *run,
                             lua_CFunction body)
{
    KV_ASSERT(script->run == NULL);
    KV_ASSERT(lua == script->lua || lua == script->function_lua);
    /* redis.call('select', n) changes the script's database only (Redis 7.0): the caller's
     * comes back when the script ends. */
    struct client *caller = run->context != NULL ? run->context->client : NULL;
    uint32_t caller_db_index = caller != NULL ? caller->db_index : 0;
    int status = lua_cpcall(lua, body, run);
    if (caller != NULL) {
        caller->db_index = caller_db_index;
        store_select(run->context->store, caller_db_index);
    }
    script->run = NULL;
    script->timed_out = false;
    script->killed = false;
    lua_sethook(lua, NULL, 0, 0);
    call_grown_release(script);
    if (status != 0) {
        script->memory_errors++;
        reply_truncate(run->reply);
        const char *message = lua_isstring(lua, -1) ? lua_tostring(lua, -1) : "execution failure";
        struct slice argument = {.bytes = (const uint8_t *)message,
                                 .length = (uint32_t)strlen(message)};
        reply_error_format(run->reply, REPLY_ERROR_SCRIPT_RUNNING,
                           run->sha, &argument);
        lua_settop(lua, 0);
        (void)lua_cpcall(lua, collect_protected, NULL);
        lua_settop(lua, 0);
    }
    KV_ASSERT(lua_gettop(lua) == 0);
    KV_ASSERT(script->call_grown == NULL);
}

static void run_protected(struct script *script, struct script_run *run, lua_CFunction body)
{
    run_protected_in(script, script->lua, run, body);
}

/* The run's SHA-1: the body's, or EVALSHA's argument in lower case (Redis lowers it). */
static void sha_lower(char sha[SHA1_HEX_BYTES + 1], struct slice given)
{
    KV_ASSERT(given.length == SHA1_HEX_BYTES);
    /* Bounded by the 40 digits. */
    for (uint32_t index = 0; index < SHA1_HEX_BYTES; index++) {
        uint8_t byte = given.bytes[index];
        sha[index] = (char)((byte >= 'A' && byte <= 'Z') ? byte + ('a' - 'A') : byte);
    }
    sha[SHA1_HEX_BYTES] = '\0';
}

void script_eval(struct script *script, struct cmd_context *context, const struct slice *args,
                 uint32_t arg_count, bool by_sha, bool read_only)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(script->run == NULL); /* EVAL is refused inside a script */
    if (by_sha && args[1].length != SHA1_HEX_BYTES) {
        reply_error(&context->reply, REPLY_ERROR_NOSCRIPT); /* before numkeys, as Redis */
        return;
    }
    int64_t key_count = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &key_count)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (key_count > (int64_t)arg_count - 3) {
        reply_error(&context->reply, REPLY_ERROR_NUMKEYS_TOO_MANY);
        return;
    }
    if (key_count < 0) {
        reply_error(&context->reply, REPLY_ERROR_NUMKEYS_NEGATIVE);
        return;
    }
    struct script_run run = {.script = script,
                             .context = context,
                             .reply = &context->reply,
                             .body = args[1],
                             .keys = args + 3,
                             .key_count = (uint32_t)key_count,
                             .argv = args + 3 + key_count,
                             .argv_count = arg_count - 3 - (uint32_t)key_count,
                             .command = args,
                             .command_count = arg_count,
                             .by_sha = by_sha,
                             .read_only_form = read_only};
    if (by_sha) {
        sha_lower(run.sha, args[1]);
    } else {
        sha1_hex(args[1].bytes, args[1].length, run.sha);
    }
    run.name = run.sha;
    run_protected(script, &run, eval_protected);
}

void script_fcall(struct script *script, struct cmd_context *context, const struct slice *args,
                  uint32_t arg_count, bool read_only)
{
    KV_ASSERT(arg_count >= 3);
    KV_ASSERT(script->run == NULL); /* FCALL is refused inside a script */
    struct script_run run = {.script = script,
                             .context = context,
                             .reply = &context->reply,
                             .body = args[1],
                             .command = args,
                             .command_count = arg_count,
                             .function = true,
                             .read_only_form = read_only,
                             .numkeys_error = REPLY_ERROR_NONE,
                             .name = "function"};
    /* Redis finds the function first, then reads numkeys: its errors wait for the find. */
    int64_t key_count = 0;
    if (!number_parse_int64(args[2].bytes, args[2].length, &key_count)) {
        run.numkeys_error = REPLY_ERROR_FUNCTION_NUMKEYS;
    } else if (key_count > (int64_t)arg_count - 3) {
        run.numkeys_error = REPLY_ERROR_NUMKEYS_TOO_MANY;
    } else if (key_count < 0) {
        run.numkeys_error = REPLY_ERROR_NUMKEYS_NEGATIVE;
    } else {
        run.keys = args + 3;
        run.key_count = (uint32_t)key_count;
        run.argv = args + 3 + key_count;
        run.argv_count = arg_count - 3 - (uint32_t)key_count;
    }
    memcpy(run.sha, "function", sizeof("function"));
    run_protected_in(script, script->function_lua, &run, fcall_protected);
    KV_ASSERT(script->run == NULL);
}

bool script_busy(const struct script *script)
{
    KV_ASSERT(!script->timed_out || script->run != NULL);
    return script->timed_out;
}

enum reply_error script_busy_error(const struct script *script)
{
    KV_ASSERT(script->run != NULL);
    return script->run->function ? REPLY_ERROR_BUSY_FUNCTION : REPLY_ERROR_BUSY_SCRIPT;
}

/* ---- What runs while a script is busy ---------------------------------------------------
 *
 * As Redis 7.0's processCommand decides it: the commands flagged ALLOW_BUSY in its
 * commands/<name>.json (AUTH, HELLO, MULTI, DISCARD, WATCH, UNWATCH, QUIT, RESET, SHUTDOWN,
 * SCRIPT KILL, FUNCTION KILL, FUNCTION STATS) run; every other command is answered -BUSY.
 * Before that check Redis looks the command up with its subcommand, so a container command's
 * unknown subcommand or wrong arity gets its own error, not -BUSY: the table holds Redis
 * 7.0's subcommands and their arities (from its command metadata) for that lookup. The busy
 * pass and MULTI's queueing use it (kv's handlers answer these errors themselves otherwise). */

/* A subcommand of a Redis 7.0 container command, and its arity (Redis's: negative is a
 * minimum, the container and the subcommand counted). */
struct busy_subcommand {
    const char *container;
    const char *name;
    int arity;
};

#define BUSY_SUBCOMMAND_COUNT 126u
static const struct busy_subcommand busy_subcommands[BUSY_SUBCOMMAND_COUNT] = {
{"acl", "cat", -2},
    {"acl", "deluser", -3},
    {"acl", "dryrun", -4},
    {"acl", "genpass", -2},
    {"acl", "getuser", 3},
    {"acl", "help", 2},
    {"acl", "list", 2},
    {"acl", "load", 2},
    {"acl", "log", -2},
    {"acl", "save", 2},
    {"acl", "setuser", -3},
    {"acl", "users", 2},
    {"acl", "whoami", 2},
    {"client", "caching", 3},
    {"client", "getname", 2},
    {"client", "getredir", 2},
    {"client", "help", 2},
    {"client", "id", 2},
    {"client", "info", 2},
    {"client", "kill", -3},
    {"client", "list", -2},
    {"client", "no-evict", 3},
    {"client", "pause", -3},
    {"client", "reply", 3},
    {"client", "setname", 3},
    {"client", "tracking", -3},
    {"client", "trackinginfo", 2},
    {"client", "unblock", -3},
    {"client", "unpause", 2},
    {"cluster", "addslots", -3},
    {"cluster", "addslotsrange", -4},
    {"cluster", "bumpepoch", 2},
    {"cluster", "count-failure-reports", 3},
    {"cluster", "countkeysinslot", 3},
    {"cluster", "delslots", -3},
    {"cluster", "delslotsrange", -4},
    {"cluster", "failover", -2},
    {"cluster", "flushslots", 2},
    {"cluster", "forget", 3},
    {"cluster", "getkeysinslot", 4},
    {"cluster", "help", 2},
    {"cluster", "info", 2},
    {"cluster", "keyslot", 3},
    {"cluster", "links", 2},
    {"cluster", "meet", -4},
    {"cluster", "myid", 2},
    {"cluster", "nodes", 2},
    {"cluster", "replicas", 3},
    {"cluster", "replicate", 3},
    {"cluster", "reset", -2},
    {"cluster", "saveconfig", 2},
    {"cluster", "set-config-epoch", 3},
    {"cluster", "setslot", -4},
    {"cluster", "shards", 2},
    {"cluster", "slaves", 3},
    {"cluster", "slots", 2},
    {"command", "count", 2},
    {"command", "docs", -2},
    {"command", "getkeys", -4},
    {"command", "getkeysandflags", -4},
    {"command", "help", 2},
    {"command", "info", -2},
    {"command", "list", -2},
    {"config", "get", -3},
    {"config", "help", 2},
    {"config", "resetstat", 2},
    {"config", "rewrite", 2},
    {"config", "set", -4},
    {"function", "delete", 3},
    {"function", "dump", 2},
    {"function", "flush", -2},
    {"function", "help", 2},
    {"function", "kill", 2},
    {"function", "list", -2},
    {"function", "load", -3},
    {"function", "restore", -3},
    {"function", "stats", 2},
    {"latency", "doctor", 2},
    {"latency", "graph", 3},
    {"latency", "help", 2},
    {"latency", "histogram", -2},
    {"latency", "history", 3},
    {"latency", "latest", 2},
    {"latency", "reset", -2},
    {"memory", "doctor", 2},
    {"memory", "help", 2},
    {"memory", "malloc-stats", 2},
    {"memory", "purge", 2},
    {"memory", "stats", 2},
    {"memory", "usage", -3},
    {"module", "help", 2},
    {"module", "list", 2},
    {"module", "load", -3},
    {"module", "loadex", -3},
    {"module", "unload", 3},
    {"object", "encoding", 3},
    {"object", "freq", 3},
    {"object", "help", 2},
    {"object", "idletime", 3},
    {"object", "refcount", 3},
    {"pubsub", "channels", -2},
    {"pubsub", "help", 2},
    {"pubsub", "numpat", 2},
    {"pubsub", "numsub", -2},
    {"pubsub", "shardchannels", -2},
    {"pubsub", "shardnumsub", -2},
    {"script", "debug", 3},
    {"script", "exists", -3},
    {"script", "flush", -2},
    {"script", "help", 2},
    {"script", "kill", 2},
    {"script", "load", 3},
    {"slowlog", "get", -2},
    {"slowlog", "help", 2},
    {"slowlog", "len", 2},
    {"slowlog", "reset", 2},
    {"xgroup", "create", -5},
    {"xgroup", "createconsumer", 5},
    {"xgroup", "delconsumer", 5},
    {"xgroup", "destroy", 4},
    {"xgroup", "help", 2},
    {"xgroup", "setid", -5},
    {"xinfo", "consumers", 4},
    {"xinfo", "groups", 3},
    {"xinfo", "help", 2},
    {"xinfo", "stream", -3},
};

/* The longest container name ("function", "cluster", "command"), for its upper case. */
#define BUSY_CONTAINER_BYTES_MAX 16u

bool script_busy_allows(const struct slice *args, uint32_t arg_count)
{
    static const char *const allowed[] = {"auth",  "hello", "multi", "discard", "watch",
                                          "unwatch", "quit", "reset", "shutdown"};
    KV_ASSERT(arg_count >= 1);
    /* Bounded by the names. */
    for (size_t index = 0; index < sizeof(allowed) / sizeof(allowed[0]); index++) {
        if (cmd_arg_is(args[0], allowed[index])) {
            return true; /* SHUTDOWN answers BUSY itself unless NOSAVE (cmd_shutdown) */
        }
    }
    if (arg_count < 2) {
        return false;
    }
    if (cmd_arg_is(args[0], "script")) {
        return cmd_arg_is(args[1], "kill");
    }
    return cmd_arg_is(args[0], "function") &&
           (cmd_arg_is(args[1], "kill") || cmd_arg_is(args[1], "stats"));
}

bool script_subcommand_refused(struct reply *reply, const struct slice *args,
                                    uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    KV_ASSERT(reply != NULL);
    if (arg_count < 2) {
        return false; /* the container alone: its own arity (cmd_admit) */
    }
    const char *container = NULL;
    /* Bounded by the table. */
    for (uint32_t index = 0; index < BUSY_SUBCOMMAND_COUNT; index++) {
        const struct busy_subcommand *entry = &busy_subcommands[index];
        if (!cmd_arg_is(args[0], entry->container)) {
            continue;
        }
        container = entry->container;
        if (!cmd_arg_is(args[1], entry->name)) {
            continue;
        }
        int arity = entry->arity;
        if ((arity > 0 && (uint32_t)arity == arg_count) ||
            (arity < 0 && arg_count >= (uint32_t)-arity)) {
            return false;
        }
        char full[2u * BUSY_CONTAINER_BYTES_MAX + 2u];
        int length = snprintf(full, sizeof(full), "%s|%s", entry->container, entry->name);
        KV_ASSERT(length > 0 && (size_t)length < sizeof(full));
        reply_error_arity(reply, full);
        return true;
    }
    if (container == NULL) {
        return false; /* not a container */
    }
    char upper[BUSY_CONTAINER_BYTES_MAX];
    size_t length = strlen(container);
    KV_ASSERT(length < sizeof(upper));
    /* Bounded by the name. */
    for (size_t index = 0; index <= length; index++) {
        char byte = container[index];
        upper[index] = (byte >= 'a' && byte <= 'z') ? (char)(byte - 'a' + 'A') : byte;
    }
    reply_error_unknown_subcommand(reply, args[1], upper);
    return true;
}

void script_kill(struct script *script, struct reply *reply, bool is_eval)
{
    const struct script_run *run = script->run;
    if (run == NULL || !script->timed_out) {
        /* One thread: only a script past its threshold lets anyone else be served. */
        reply_error(reply, REPLY_ERROR_NOTBUSY);
        return;
    }
    if (run->wrote) {
        reply_error(reply, REPLY_ERROR_UNKILLABLE);
        return;
    }
    if (is_eval && run->function) {
        reply_error(reply, REPLY_ERROR_BUSY_FUNCTION); /* a function takes FUNCTION KILL */
        return;
    }
    if (!is_eval && !run->function) {
        reply_error(reply, REPLY_ERROR_BUSY_SCRIPT); /* an EVAL takes SCRIPT KILL */
        return;
    }
    script->killed = true;
    reply_ok(reply);
    KV_ASSERT(script->killed);
}

void script_stop_for_shutdown(struct script *script)
{
    KV_ASSERT(script->run != NULL && script->timed_out);
    script->killed = true; /* whatever it wrote: the server stops, as Redis exits */
}

void script_busy_pass_set(struct script *script, script_busy_pass_fn *pass, void *owner)
{
    KV_ASSERT(script->run == NULL);
    script->busy_pass = pass;
    script->busy_pass_owner = owner;
}

void script_load(struct script *script, struct reply *reply, struct slice body)
{
    KV_ASSERT(script->run == NULL);
    struct script_run run = {.script = script, .reply = reply, .body = body};
    sha1_hex(body.bytes, body.length, run.sha);
    run.name = run.sha;
    run_protected(script, &run, load_protected);
}

bool script_exists(struct script *script, struct slice sha)
{
    if (sha.length != SHA1_HEX_BYTES) {
        return false;
    }
    uint8_t unused[64];
    struct reply reply = reply_fixed(unused, sizeof(unused)); /* room for the memory error */
    struct script_run run = {.script = script, .reply = &reply};
    sha_lower(run.sha, sha);
    run.name = run.sha;
    run_protected(script, &run, exists_protected);
    KV_ASSERT(script->run == NULL);
    return run.found;
}

void script_flush(struct script *script)
{
    KV_ASSERT(script->run == NULL);
    KV_ASSERT(script->call_grown == NULL);
    script_state_close(&script->eval_owner, script->lua);
    script->lua = NULL;
    state_open(script);
}

void script_info_read(const struct script *script, struct script_info *info)
{
    KV_ASSERT(script->lua != NULL && script->function_lua != NULL);
    *info = (struct script_info){
        .eval_vm_bytes = (uint64_t)lua_gc(script->lua, LUA_GCCOUNT, 0) * 1024u,
        .function_vm_bytes = (uint64_t)lua_gc(script->function_lua, LUA_GCCOUNT, 0) * 1024u,
        .cached_scripts = script->script_count,
        .libraries = script->library_count,
        .functions = script->function_count,
    };
    KV_ASSERT(info->eval_vm_bytes + info->function_vm_bytes <=
              script->heap.used_bytes + 2048u); /* whole KiB each, rounded down */
}

uint64_t script_memory_bytes(const struct script *script)
{
    KV_ASSERT(script->lua != NULL);
    KV_ASSERT(script->function_lua != NULL);
    return script->heap.used_bytes;
}

uint64_t script_plan_bytes(uint64_t heap_bytes)
{
    KV_ASSERT(heap_bytes >= SCRIPT_HEAP_BYTES_MIN);
    KV_ASSERT(heap_bytes <= SCRIPT_HEAP_BYTES_MAX);
    return heap_plan_bytes(heap_bytes) + /* the Lua heap */
           SCRIPT_CALL_REPLY_BYTES + 64u; /* redis.call's reply buffer, on a cache line */
}

void script_init(struct script *script, struct region *region, uint64_t heap_bytes)
{
    KV_ASSERT(heap_bytes >= SCRIPT_HEAP_BYTES_MIN);
    KV_ASSERT(heap_bytes <= SCRIPT_HEAP_BYTES_MAX);
    memset(script, 0, sizeof(*script));
    heap_init(&script->heap, region, heap_bytes);
    heap_keep_free(&script->heap, SCRIPT_HEAP_RESERVE_BYTES);
    script->call_fixed = region_carve(region, SCRIPT_CALL_REPLY_BYTES, 64);
    state_open(script);
    function_state_open(script);
    KV_ASSERT(script->lua != NULL);
    KV_ASSERT(script->function_lua != NULL);
}

void script_verify(const struct script *script)
{
    KV_ASSERT(script->run == NULL);
    KV_ASSERT(!script->timed_out && !script->killed);
    KV_ASSERT(script->function_lua != NULL);
    KV_ASSERT(script->eval_owner.allocations + script->function_owner.allocations ==
              script->heap.allocations);
    KV_ASSERT(script->call_grown == NULL);
    KV_ASSERT(script->lua != NULL);
    heap_verify(&script->heap);
}
