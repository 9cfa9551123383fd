/*
 * The libraries of Redis 7.0's functions (function.h), kept in the functions' Lua state:
 * registry tables name the libraries and their functions (script_internal.h has the shape),
 * so every byte they take is in the Lua heap and FUNCTION FLUSH gives it all back by closing
 * the state.
 *
 * Loading a library follows Redis's functionsCreateWithLibraryCtx step by step, with its
 * errors in its order: the "#!lua name=<lib>" line (split as sdssplitargs splits), the name,
 * the engine, an existing library (kept aside under REPLACE), the compile, the run of the
 * top level with the load-time globals (only `redis`, holding register_function, log and the
 * version: anything else is Redis's "nonexistent global variable" error) under a 500 ms
 * limit, at least one function, no name taken by another library; on any failure the old
 * library goes back. FUNCTION RESTORE loads the payload's libraries into fresh tables the
 * same way, then joins them as Redis's libraryJoin does (or swaps them in for FLUSH).
 *
 * The DUMP payload is Redis's: per library the RDB_OPCODE_FUNCTION2 byte and the code as an
 * RDB string (LZF-compressed exactly as Redis's rdbSaveRawString compresses it, else plain),
 * then the RDB version in two little-endian bytes and the CRC-64 of all before it,
 * little-endian: for the same library, the same bytes as redis-server's. RESTORE reads
 * plain, integer-encoded and LZF-compressed strings.
 *
 * Bounds: table walks stop at the counts the links keep (asserted); the shebang line and the
 * payload are read byte by byte to their ends. No recursion, no allocation outside the heap.
 */
#include "function.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "crc64.h"
#include "glob.h"
#include "lzf.h"
#include "resp.h"
#include "script_internal.h"

#define FUNCTION_LOAD_LIBRARY_KEY "kv_load_library"
#define FUNCTION_LIBRARY_API_KEY "kv_library_api"
#define FUNCTION_GLOBALS_KEY "kv_globals"
#define FUNCTION_ENGINE_NAME "LUA"

/* The RDB string encodings RESTORE reads (rdb.h's RDB_ENC_*), under the 0xc0 marker. */
enum function_rdb_encoding {
    FUNCTION_RDB_ENC_INT8 = 0,
    FUNCTION_RDB_ENC_INT16 = 1,
    FUNCTION_RDB_ENC_INT32 = 2,
    FUNCTION_RDB_ENC_LZF = 3,
};

/* The payload's footer: the RDB version (2 bytes) and the CRC-64 (8 bytes). */
#define FUNCTION_PAYLOAD_FOOTER_BYTES 10u

/* One library being loaded (FUNCTION LOAD, or one of RESTORE's). */
struct function_load {
    struct script *script;
    struct reply *reply;     /* errors, and LOAD's answer */
    struct slice code;       /* the whole code, shebang included */
    bool replace;            /* REPLACE: a library of the same name is replaced */
    bool timed;              /* FUNCTION LOAD's 500 ms limit (RESTORE has none) */
};

/* FUNCTION RESTORE in progress. */
struct function_restore {
    struct script *script;
    struct reply *reply;
    struct slice payload;
    enum function_restore_policy policy;
};

/* ---- Small helpers ---------------------------------------------------------------------- */

static struct slice slice_of(const char *bytes, size_t length)
{
    KV_ASSERT(bytes != NULL || length == 0);
    KV_ASSERT(length <= UINT32_MAX);
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = (uint32_t)length};
}

/* The Lua string at `index` as a slice (it stays valid while the string is on the stack). */
static struct slice lua_slice(lua_State *lua, int index)
{
    size_t length = 0;
    const char *bytes = lua_tolstring(lua, index, &length);
    KV_ASSERT(bytes != NULL);
    return slice_of(bytes, length);
}

static void reply_lua_bulk(struct reply *reply, lua_State *lua, int index)
{
    reply_bulk(reply, lua_slice(lua, index));
}

static void reply_word(struct reply *reply, const char *word)
{
    KV_ASSERT(word != NULL);
    reply_bulk(reply, slice_of(word, strlen(word)));
}

/* Pushes the string at `index` in lower case (function names are found in any case). */
static void lower_push(lua_State *lua, int index)
{
    struct slice name = lua_slice(lua, index);
    luaL_Buffer buffer;
    luaL_buffinit(lua, &buffer);
    /* Bounded by the name's bytes. */
    for (uint32_t at = 0; at < name.length; at++) {
        uint8_t byte = name.bytes[at];
        luaL_addchar(&buffer, (char)((byte >= 'A' && byte <= 'Z') ? byte + ('a' - 'A') : byte));
    }
    luaL_pushresult(&buffer);
    KV_ASSERT(lua_isstring(lua, -1));
}

/* Redis's functionsVerifyName: letters, digits and underscores, at least one. */
static bool name_valid(struct slice name)
{
    if (name.length == 0) {
        return false;
    }
    /* Bounded by the name's bytes. */
    for (uint32_t at = 0; at < name.length; at++) {
        uint8_t byte = name.bytes[at];
        bool ok = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                  (byte >= '0' && byte <= '9') || byte == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Sets the __index of the globals' proxy: the load-time API or the real globals. */
static void globals_index_set(lua_State *lua, const char *registry_key)
{
    int ok = lua_getmetatable(lua, LUA_GLOBALSINDEX);
    KV_ASSERT(ok); /* the sandbox's proxy has one */
    lua_getfield(lua, LUA_REGISTRYINDEX, registry_key);
    KV_ASSERT(lua_istable(lua, -1));
    lua_setfield(lua, -2, "__index");
    lua_pop(lua, 1);
}

/* Back to the real globals with no library being loaded. Allocates nothing (a memory error
 * may have cut a load short): every key it sets is always present, the load key holding
 * false between loads rather than nil so that it stays. */
static void load_settle(lua_State *lua)
{
    globals_index_set(lua, FUNCTION_GLOBALS_KEY);
    lua_pushboolean(lua, 0);
    lua_setfield(lua, LUA_REGISTRYINDEX, FUNCTION_LOAD_LIBRARY_KEY);
}

/* ---- redis.register_function ------------------------------------------------------------ */

static int register_raise(lua_State *lua, const char *text)
{
    script_error_push(lua, text);
    return lua_error(lua);
}

/* Reads the flags table on top of the stack, as luaRegisterFunctionReadFlags. */
static bool register_flags_read(lua_State *lua, uint32_t *flags)
{
    KV_ASSERT(lua_istable(lua, -1));
    *flags = 0;
    size_t count = lua_objlen(lua, -1);
    /* Bounded by the border of the table (the first nil lies at most one past it). */
    for (size_t index = 1; index <= count + 1; index++) {
        lua_pushnumber(lua, (lua_Number)index);
        lua_gettable(lua, -2);
        if (lua_isnil(lua, -1)) {
            lua_pop(lua, 1);
            return true;
        }
        if (!lua_isstring(lua, -1)) {
            lua_pop(lua, 1);
            return false;
        }
        const char *word = lua_tostring(lua, -1);
        uint32_t found = 0;
        for (uint32_t at = 0; at < SCRIPT_FLAG_NAME_COUNT; at++) {
            if (strcasecmp(word, script_flag_names[at].name) == 0) {
                found = script_flag_names[at].flag;
            }
        }
        lua_pop(lua, 1);
        if (found == 0) {
            return false;
        }
        *flags |= found;
    }
    return true;
}

/* The named form, redis.register_function{...}: fills the record at `record` from the table
 * at 1, or raises Redis's error. */
static void register_named_read(lua_State *lua, int record)
{
    if (!lua_istable(lua, 1)) {
        register_raise(lua, "calling redis.register_function with a single argument is only "
                            "applicable to Lua table (representing named arguments).");
    }
    lua_pushnil(lua);
    /* Bounded by the table's entries. */
    while (lua_next(lua, 1) != 0) {
        if (!lua_isstring(lua, -2)) {
            register_raise(lua, "named argument key given to redis.register_function is not a "
                                "string");
        }
        const char *key = lua_tostring(lua, -2);
        if (strcasecmp(key, "function_name") == 0) {
            if (!lua_isstring(lua, -1)) {
                register_raise(lua, "function_name argument given to redis.register_function "
                                    "must be a string");
            }
            lua_pushvalue(lua, -1);
            lua_setfield(lua, record, "name");
        } else if (strcasecmp(key, "description") == 0) {
            if (!lua_isstring(lua, -1)) {
                register_raise(lua, "description argument given to redis.register_function "
                                    "must be a string");
            }
            lua_pushvalue(lua, -1);
            lua_setfield(lua, record, "description");
        } else if (strcasecmp(key, "callback") == 0) {
            if (!lua_isfunction(lua, -1)) {
                register_raise(lua, "callback argument given to redis.register_function must "
                                    "be a function");
            }
            lua_pushvalue(lua, -1);
            lua_setfield(lua, record, "callback");
        } else if (strcasecmp(key, "flags") == 0) {
            uint32_t flags = 0;
            if (!lua_istable(lua, -1)) {
                register_raise(lua, "flags argument to redis.register_function must be a table "
                                    "representing function flags");
            }
            if (!register_flags_read(lua, &flags)) {
                register_raise(lua, "unknown flag given");
            }
            lua_pushnumber(lua, flags);
            lua_setfield(lua, record, "flags");
        } else {
            register_raise(lua, "unknown argument given to redis.register_function");
        }
        lua_pop(lua, 1);
    }
    lua_getfield(lua, record, "name");
    lua_getfield(lua, record, "callback");
    if (lua_isnil(lua, -2)) {
        register_raise(lua, "redis.register_function must get a function name argument");
    }
    if (lua_isnil(lua, -1)) {
        register_raise(lua, "redis.register_function must get a callback argument");
    }
    lua_pop(lua, 2);
}

/* The positional form, redis.register_function(name, callback). */
static void register_positional_read(lua_State *lua, int record)
{
    if (!lua_isstring(lua, 1)) {
        register_raise(lua, "first argument to redis.register_function must be a string");
    }
    if (!lua_isfunction(lua, 2)) {
        register_raise(lua, "second argument to redis.register_function must be a function");
    }
    lua_pushvalue(lua, 1);
    lua_setfield(lua, record, "name");
    lua_pushvalue(lua, 2);
    lua_setfield(lua, record, "callback");
}

/* redis.register_function, during FUNCTION LOAD only: adds a record to the library being
 * loaded, as luaRegisterFunction and functionLibCreateFunction. */
static int register_function(lua_State *lua)
{
    int count = lua_gettop(lua);
    lua_getfield(lua, LUA_REGISTRYINDEX, FUNCTION_LOAD_LIBRARY_KEY);
    if (!lua_istable(lua, -1)) {
        return register_raise(lua, "redis.register_function can only be called on FUNCTION "
                                   "LOAD command");
    }
    int library = lua_gettop(lua);
    if (count < 1 || count > 2) {
        return register_raise(lua, "wrong number of arguments to redis.register_function");
    }
    lua_newtable(lua);
    int record = lua_gettop(lua);
    lua_pushnumber(lua, 0);
    lua_setfield(lua, record, "flags");
    if (count == 1) {
        register_named_read(lua, record);
    } else {
        register_positional_read(lua, record);
    }
    lua_getfield(lua, record, "name");
    if (lua_type(lua, -1) == LUA_TNUMBER) {
        lua_tostring(lua, -1); /* a number names it as its text, as Redis reads it */
        lua_pushvalue(lua, -1);
        lua_setfield(lua, record, "name");
    }
    if (!name_valid(lua_slice(lua, -1))) {
        return register_raise(lua, "Library names can only contain letters, numbers, or "
                                   "underscores(_) and must be at least one character long");
    }
    lua_getfield(lua, library, "names");
    lua_pushvalue(lua, -2);
    lua_rawget(lua, -2);
    if (!lua_isnil(lua, -1)) {
        return register_raise(lua, "Function already exists in the library");
    }
    lua_pop(lua, 1);
    lua_pushvalue(lua, -2);
    lua_pushboolean(lua, 1);
    lua_rawset(lua, -3); /* names[name] = true */
    lua_pop(lua, 2);
    lua_getfield(lua, library, "name");
    lua_setfield(lua, record, "library");
    lua_getfield(lua, library, "functions");
    lua_pushvalue(lua, record);
    lua_rawseti(lua, -2, (int)lua_objlen(lua, -2) + 1);
    KV_ASSERT(lua_gettop(lua) == record + 1);
    return 0;
}

/* FUNCTION LOAD's limit (Redis's luaEngineLoadHook): a top level past 500 ms fails. */
static void load_hook(lua_State *lua, lua_Debug *where)
{
    (void)where;
    struct script *script = script_of(lua);
    KV_ASSERT(script->load_running);
    if (script_now_ms() - script->load_start_ms > FUNCTION_LOAD_TIMEOUT_MS) {
        lua_sethook(lua, load_hook, LUA_MASKLINE, 0);
        register_raise(lua, "FUNCTION LOAD timeout");
    }
}

/* ---- The state -------------------------------------------------------------------------- */

/* The redis table a library's top level sees: register_function, log and the version. */
static void library_api_redis_push(lua_State *lua)
{
    static const char *const copied[] = {"log",         "LOG_DEBUG",     "LOG_VERBOSE",
                                         "LOG_NOTICE",  "LOG_WARNING",   "REDIS_VERSION",
                                         "REDIS_VERSION_NUM"};
    lua_newtable(lua);
    lua_pushcfunction(lua, register_function);
    lua_setfield(lua, -2, "register_function");
    lua_getfield(lua, LUA_REGISTRYINDEX, FUNCTION_GLOBALS_KEY);
    lua_getfield(lua, -1, "redis");
    /* Bounded by the list. */
    for (size_t index = 0; index < sizeof(copied) / sizeof(copied[0]); index++) {
        lua_getfield(lua, -1, copied[index]);
        lua_setfield(lua, -4, copied[index]);
    }
    lua_pop(lua, 2);
    lua_newtable(lua); /* a missing field is Redis's nonexistent-global error */
    lua_pushcfunction(lua, script_missing_global);
    lua_setfield(lua, -2, "__index");
    lua_setmetatable(lua, -2);
    script_proxy_make(lua);
    KV_ASSERT(lua_istable(lua, -1));
}

static int state_prepare_protected(lua_State *lua)
{
    lua_pushboolean(lua, 0); /* no library is being loaded (load_settle) */
    lua_setfield(lua, LUA_REGISTRYINDEX, FUNCTION_LOAD_LIBRARY_KEY);
    lua_newtable(lua);
    lua_setfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
    lua_newtable(lua);
    lua_setfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY);
    lua_newtable(lua); /* the load-time globals */
    library_api_redis_push(lua);
    lua_setfield(lua, -2, "redis");
    lua_newtable(lua);
    lua_pushcfunction(lua, script_missing_global);
    lua_setfield(lua, -2, "__index");
    lua_setmetatable(lua, -2);
    lua_setfield(lua, LUA_REGISTRYINDEX, FUNCTION_LIBRARY_API_KEY);
    KV_ASSERT(lua_gettop(lua) == 0 || lua_islightuserdata(lua, 1));
    return 0;
}

void function_state_open(struct script *script)
{
    KV_ASSERT(script->function_lua == NULL);
    lua_State *lua = script_state_open(script, &script->function_owner);
    int status = lua_cpcall(lua, state_prepare_protected, NULL);
    KV_ASSERT(status == 0); /* a few tables: they fit SCRIPT_HEAP_BYTES_MIN */
    script->function_lua = lua;
    script->library_count = 0;
    script->function_count = 0;
}

void function_flush(struct script *script)
{
    KV_ASSERT(script->run == NULL);
    script_state_close(&script->function_owner, script->function_lua);
    script->function_lua = NULL;
    function_state_open(script);
    KV_ASSERT(script->library_count == 0);
}

/* ---- Links: a library's functions in the functions table, itself in the libraries ------- */

/* Adds (link) or removes the library at `library` in the tables at `libraries` and
 * `functions`; returns its function count. */
static uint32_t library_link(lua_State *lua, int library, int libraries, int functions,
                             bool link)
{
    lua_getfield(lua, library, "functions");
    uint32_t count = (uint32_t)lua_objlen(lua, -1);
    /* Bounded by the library's functions. */
    for (uint32_t index = 1; index <= count; index++) {
        lua_rawgeti(lua, -1, (int)index);
        lua_getfield(lua, -1, "name");
        lower_push(lua, -1);
        lua_remove(lua, -2);
        if (link) {
            lua_pushvalue(lua, -2);
            lua_rawset(lua, functions);
        } else {
            lua_pushvalue(lua, -1);
            lua_rawget(lua, functions);
            bool ours = lua_rawequal(lua, -1, -3);
            lua_pop(lua, 1);
            lua_pushnil(lua);
            if (ours) {
                lua_rawset(lua, functions);
            } else {
                lua_pop(lua, 2); /* another library's function of the same name stays */
            }
        }
        lua_pop(lua, 1);
    }
    lua_pop(lua, 1);
    lua_getfield(lua, library, "name");
    if (link) {
        lua_pushvalue(lua, library);
    } else {
        lua_pushnil(lua);
    }
    lua_rawset(lua, libraries);
    return count;
}

/* Counts the live libraries and functions again (after every change). */
static void counts_update(struct script *script, lua_State *lua)
{
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
    uint32_t libraries = 0;
    uint32_t functions = 0;
    lua_pushnil(lua);
    /* Bounded by the libraries. */
    while (lua_next(lua, -2) != 0) {
        libraries++;
        lua_getfield(lua, -1, "functions");
        functions += (uint32_t)lua_objlen(lua, -1);
        lua_pop(lua, 2);
    }
    lua_pop(lua, 1);
    script->library_count = libraries;
    script->function_count = functions;
}

static int counts_protected(lua_State *lua)
{
    struct script *script = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    counts_update(script, lua);
    KV_ASSERT(lua_gettop(lua) == 0);
    return 0;
}

/* ---- The shebang ------------------------------------------------------------------------ */

/* Pushes the next word of the shebang line from *at, split by resp_split_word as Redis's
 * sdssplitargs splits it (`out` holds the line's unescaped quoted words). Returns 1 with the
 * word pushed, 0 at the end, -1 for unbalanced quotes. */
static int split_next(lua_State *lua, const uint8_t *line, uint32_t length, uint32_t *at,
                      uint8_t *out)
{
    uint32_t out_bytes = 0; /* each word may reuse `out`: it is pushed before the next */
    struct slice word;
    enum resp_split split = resp_split_word(line, length, at, out, &out_bytes, &word);
    KV_ASSERT(out_bytes <= length);
    if (split != RESP_SPLIT_WORD) {
        return split == RESP_SPLIT_END ? 0 : -1;
    }
    lua_pushlstring(lua, (const char *)word.bytes, word.length);
    return 1;
}

/* Redis's functionExtractLibMetaData: pushes the library's name and engine; false after
 * answering the error. *shebang_bytes is the first line's length (the code runs from its
 * newline, so line numbers stay the code's). */
static bool metadata_read(lua_State *lua, const struct function_load *load,
                          uint32_t *shebang_bytes)
{
    struct slice code = load->code;
    if (code.length < 2 || memcmp(code.bytes, "#!", 2) != 0) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_METADATA_MISSING);
        return false;
    }
    const uint8_t *newline = memchr(code.bytes, '\n', code.length);
    const uint8_t *nul = memchr(code.bytes, '\0', code.length);
    if (newline == NULL || (nul != NULL && nul < newline)) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_METADATA_INVALID);
        return false;
    }
    uint32_t length = (uint32_t)(newline - code.bytes);
    uint32_t at = 0;
    int top = lua_gettop(lua);
    /* The words' scratch, on the functions' heap (a memory error is the caller's, protected),
     * held on the stack below the words so that no collection takes it while they are read. */
    uint8_t *out = lua_newuserdata(lua, length > 0 ? length : 1);
    int status = split_next(lua, code.bytes, length, &at, out);
    if (status != 1) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_METADATA_INVALID);
        lua_settop(lua, top);
        return false;
    }
    int engine = lua_gettop(lua);
    lua_pushnil(lua); /* the name, once found */
    int name = lua_gettop(lua);
    /* Bounded by the line: each pass takes a word. */
    while ((status = split_next(lua, code.bytes, length, &at, out)) == 1) {
        struct slice word = lua_slice(lua, -1);
        if (word.length >= 5 && strncasecmp((const char *)word.bytes, "name=", 5) == 0) {
            if (!lua_isnil(lua, name)) {
                reply_error(load->reply, REPLY_ERROR_LIBRARY_NAME_TWICE);
                lua_settop(lua, top);
                return false;
            }
            lua_pushlstring(lua, (const char *)word.bytes + 5, word.length - 5);
            lua_replace(lua, name);
            lua_pop(lua, 1);
            continue;
        }
        reply_error_format(load->reply, REPLY_ERROR_LIBRARY_METADATA_VALUE, &word);
        lua_settop(lua, top);
        return false;
    }
    if (status < 0) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_METADATA_INVALID);
        lua_settop(lua, top);
        return false;
    }
    if (lua_isnil(lua, name)) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_NAME_MISSING);
        lua_settop(lua, top);
        return false;
    }
    lua_pushvalue(lua, engine);
    lua_remove(lua, engine); /* name, engine on top */
    lua_remove(lua, top + 1); /* the scratch */
    *shebang_bytes = length;
    KV_ASSERT(lua_gettop(lua) == top + 2);
    return true;
}

/* ---- Loading ---------------------------------------------------------------------------- */

/* Answers the error the top level raised ("Error registering functions: ..."), as
 * luaExtractErrorInformation reads it. */
static void register_error_reply(lua_State *lua, const struct function_load *load)
{
    int error = lua_gettop(lua);
    if (lua_isstring(lua, error)) {
        lua_pushliteral(lua, "ERR"); /* Redis's code for a string error */
        lua_pushliteral(lua, " ");
        lua_pushvalue(lua, error);
        lua_concat(lua, 3);
    } else if (lua_istable(lua, error)) {
        lua_getfield(lua, error, "err");
        if (!lua_isstring(lua, -1)) {
            lua_pop(lua, 1);
            lua_pushliteral(lua, "(null)");
        }
    } else {
        lua_pushliteral(lua, "(null)");
    }
    struct slice message = lua_slice(lua, -1);
    reply_error_format(load->reply, REPLY_ERROR_FUNCTION_REGISTER, &message);
    lua_settop(lua, error);
}

/* Compiles the code past its shebang and runs its top level with the load-time globals;
 * false after answering the error. The library table is at `library`. */
static bool library_run(lua_State *lua, const struct function_load *load, int library,
                        uint32_t shebang_bytes)
{
    const char *body = (const char *)load->code.bytes + shebang_bytes;
    if (luaL_loadbuffer(lua, body, load->code.length - shebang_bytes, "@user_function") != 0) {
        struct slice message = lua_slice(lua, -1);
        reply_error_format(load->reply, REPLY_ERROR_FUNCTION_COMPILE, &message);
        lua_pop(lua, 1);
        return false;
    }
    struct script *script = load->script;
    lua_pushvalue(lua, library);
    lua_setfield(lua, LUA_REGISTRYINDEX, FUNCTION_LOAD_LIBRARY_KEY);
    globals_index_set(lua, FUNCTION_LIBRARY_API_KEY);
    script->load_running = true;
    script->load_start_ms = script_now_ms();
    if (load->timed) {
        lua_sethook(lua, load_hook, LUA_MASKCOUNT, SCRIPT_HOOK_INSTRUCTIONS);
    }
    int status = lua_pcall(lua, 0, 0, 0);
    lua_sethook(lua, NULL, 0, 0);
    script->load_running = false;
    load_settle(lua);
    if (status != 0) {
        register_error_reply(lua, load);
        lua_pop(lua, 1);
        return false;
    }
    return true;
}

/* The new library's functions against those already in `functions`; false after answering
 * "Function <name> already exists". */
static bool library_collisions_check(lua_State *lua, const struct function_load *load,
                                     int library, int functions)
{
    lua_getfield(lua, library, "functions");
    uint32_t count = (uint32_t)lua_objlen(lua, -1);
    /* Bounded by the library's functions. */
    for (uint32_t index = 1; index <= count; index++) {
        lua_rawgeti(lua, -1, (int)index);
        lua_getfield(lua, -1, "name");
        lower_push(lua, -1);
        lua_rawget(lua, functions);
        if (!lua_isnil(lua, -1)) {
            struct slice name = lua_slice(lua, -2);
            reply_error_format(load->reply, REPLY_ERROR_FUNCTION_EXISTS, &name);
            lua_pop(lua, 4);
            return false;
        }
        lua_pop(lua, 3);
    }
    lua_pop(lua, 1);
    return true;
}

/* Redis's functionsCreateWithLibraryCtx into the tables at `libraries` and `functions`:
 * true with the library's name pushed, false (nothing pushed) after answering the error. */
static bool library_load(lua_State *lua, const struct function_load *load, int libraries,
                         int functions)
{
    int top = lua_gettop(lua);
    uint32_t shebang_bytes = 0;
    if (!metadata_read(lua, load, &shebang_bytes)) {
        KV_ASSERT(lua_gettop(lua) == top);
        return false;
    }
    int name = top + 1;
    struct slice engine = lua_slice(lua, top + 2);
    if (!name_valid(lua_slice(lua, name))) {
        reply_error(load->reply, REPLY_ERROR_LIBRARY_NAME_INVALID);
        lua_settop(lua, top);
        return false;
    }
    KV_ASSERT(engine.length >= 2); /* the line starts "#!" with no space between */
    struct slice shown = {.bytes = engine.bytes + 2, .length = engine.length - 2};
    if (shown.length != 3 || strncasecmp((const char *)shown.bytes, "lua", 3) != 0) {
        reply_error_format(load->reply, REPLY_ERROR_ENGINE_NOT_FOUND, &shown);
        lua_settop(lua, top);
        return false;
    }
    lua_pushvalue(lua, name);
    lua_rawget(lua, libraries);
    int old = top + 3;
    if (!lua_isnil(lua, old) && !load->replace) {
        struct slice library_name = lua_slice(lua, name);
        reply_error_format(load->reply, REPLY_ERROR_LIBRARY_EXISTS, &library_name);
        lua_settop(lua, top);
        return false;
    }
    if (!lua_isnil(lua, old)) {
        (void)library_link(lua, old, libraries, functions, false);
    }
    lua_newtable(lua); /* the new library */
    int library = top + 4;
    lua_pushvalue(lua, name);
    lua_setfield(lua, library, "name");
    lua_pushlstring(lua, (const char *)load->code.bytes, load->code.length);
    lua_setfield(lua, library, "code");
    lua_newtable(lua);
    lua_setfield(lua, library, "functions");
    lua_newtable(lua);
    lua_setfield(lua, library, "names");
    bool ok = library_run(lua, load, library, shebang_bytes);
    if (ok) {
        lua_getfield(lua, library, "functions");
        ok = lua_objlen(lua, -1) > 0;
        lua_pop(lua, 1);
        if (!ok) {
            reply_error(load->reply, REPLY_ERROR_FUNCTION_NONE_REGISTERED);
        }
    }
    ok = ok && library_collisions_check(lua, load, library, functions);
    if (ok) {
        (void)library_link(lua, library, libraries, functions, true);
    } else if (!lua_isnil(lua, old)) {
        (void)library_link(lua, old, libraries, functions, true); /* the old one returns */
    }
    lua_settop(lua, ok ? name : top);
    KV_ASSERT(lua_gettop(lua) == (ok ? top + 1 : top));
    return ok;
}

static int load_protected(lua_State *lua)
{
    struct function_load *load = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY);
    if (library_load(lua, load, 1, 2)) {
        reply_lua_bulk(load->reply, lua, 3);
    }
    counts_update(load->script, lua);
    lua_settop(lua, 0);
    return 0;
}

/* Runs `body` protected in the functions' state; a memory error replaces its answer. */
static void function_protected(struct script *script, struct reply *reply, lua_CFunction body,
                               void *argument)
{
    KV_ASSERT(script->run == NULL);
    lua_State *lua = script->function_lua;
    int status = lua_cpcall(lua, body, argument);
    if (status != 0) {
        script->memory_errors++;
        script->load_running = false;
        lua_sethook(lua, NULL, 0, 0);
        reply_truncate(reply);
        const char *message = lua_isstring(lua, -1) ? lua_tostring(lua, -1) : "execution failure";
        struct slice text = slice_of(message, strlen(message));
        reply_error_format(reply, REPLY_ERROR_SCRIPT_RUNNING, "function", &text);
        lua_settop(lua, 0);
        load_settle(lua);
        counts_update(script, lua);
    }
    lua_settop(lua, 0);
    KV_ASSERT(lua_gettop(lua) == 0);
}

void function_load(struct script *script, struct reply *reply, struct slice code, bool replace)
{
    struct function_load load = {.script = script, .reply = reply, .code = code,
                                 .replace = replace, .timed = true};
    uint64_t length_before = reply->total;
    function_protected(script, reply, load_protected, &load);
    KV_ASSERT(reply->total > length_before || reply->failed);
}

/* ---- LIST, DELETE, STATS ---------------------------------------------------------------- */

struct function_list {
    struct script *script;
    struct reply *reply;
    const struct slice *pattern; /* NULL: every library */
    bool with_code;
};

static bool list_matches(lua_State *lua, const struct function_list *list, int name)
{
    return list->pattern == NULL || glob_match(*list->pattern, lua_slice(lua, name), true);
}

/* One function of FUNCTION LIST: name, description, flags (a set: status replies). */
static void list_function(lua_State *lua, struct reply *reply, int record)
{
    reply_array(reply, 6);
    reply_word(reply, "name");
    lua_getfield(lua, record, "name");
    reply_lua_bulk(reply, lua, -1);
    reply_word(reply, "description");
    lua_getfield(lua, record, "description");
    if (lua_isnil(lua, -1)) {
        reply_null(reply);
    } else {
        reply_lua_bulk(reply, lua, -1);
    }
    reply_word(reply, "flags");
    lua_getfield(lua, record, "flags");
    uint32_t flags = (uint32_t)lua_tonumber(lua, -1);
    uint32_t count = 0;
    for (uint32_t at = 0; at < SCRIPT_FLAG_NAME_COUNT; at++) {
        count += (flags & script_flag_names[at].flag) ? 1u : 0u;
    }
    reply_array(reply, count);
    for (uint32_t at = 0; at < SCRIPT_FLAG_NAME_COUNT; at++) {
        if (flags & script_flag_names[at].flag) {
            reply_simple(reply, script_flag_names[at].name);
        }
    }
    lua_pop(lua, 3);
}

static void list_library(lua_State *lua, const struct function_list *list, int library)
{
    struct reply *reply = list->reply;
    reply_array(reply, list->with_code ? 8 : 6);
    reply_word(reply, "library_name");
    lua_getfield(lua, library, "name");
    reply_lua_bulk(reply, lua, -1);
    reply_word(reply, "engine");
    reply_word(reply, FUNCTION_ENGINE_NAME);
    reply_word(reply, "functions");
    lua_getfield(lua, library, "functions");
    uint32_t count = (uint32_t)lua_objlen(lua, -1);
    reply_array(reply, count);
    /* Bounded by the library's functions. */
    for (uint32_t index = 1; index <= count; index++) {
        lua_rawgeti(lua, -1, (int)index);
        list_function(lua, reply, lua_gettop(lua));
        lua_pop(lua, 1);
    }
    if (list->with_code) {
        reply_word(reply, "library_code");
        lua_getfield(lua, library, "code");
        reply_lua_bulk(reply, lua, -1);
        lua_pop(lua, 1);
    }
    lua_pop(lua, 2);
}

static int list_protected(lua_State *lua)
{
    const struct function_list *list = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
    uint32_t matched = 0;
    uint32_t walked = 0;
    lua_pushnil(lua);
    /* Bounded by the libraries (twice: count, then answer). */
    while (lua_next(lua, 1) != 0) {
        matched += list_matches(lua, list, 2) ? 1u : 0u;
        walked++;
        lua_pop(lua, 1);
    }
    KV_ASSERT(walked == list->script->library_count);
    reply_array(list->reply, matched);
    lua_pushnil(lua);
    while (lua_next(lua, 1) != 0) {
        if (list_matches(lua, list, 2)) {
            list_library(lua, list, 3);
        }
        lua_pop(lua, 1);
    }
    return 0;
}

void function_list(struct script *script, struct reply *reply, const struct slice *pattern,
                   bool with_code)
{
    struct function_list list = {.script = script, .reply = reply, .pattern = pattern,
                                 .with_code = with_code};
    uint64_t length_before = reply->total;
    function_protected(script, reply, list_protected, &list);
    KV_ASSERT(reply->total > length_before || reply->failed);
}

struct function_delete {
    struct script *script;
    struct reply *reply;
    struct slice name;
};

static int delete_protected(lua_State *lua)
{
    const struct function_delete *delete = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY);
    lua_pushlstring(lua, (const char *)delete->name.bytes, delete->name.length);
    lua_rawget(lua, 1);
    if (lua_isnil(lua, 3)) {
        reply_error(delete->reply, REPLY_ERROR_LIBRARY_NOT_FOUND);
        return 0;
    }
    (void)library_link(lua, 3, 1, 2, false);
    counts_update(delete->script, lua);
    reply_ok(delete->reply);
    return 0;
}

void function_delete(struct script *script, struct reply *reply, struct slice name)
{
    struct function_delete delete = {.script = script, .reply = reply, .name = name};
    function_protected(script, reply, delete_protected, &delete);
    KV_ASSERT(script->run == NULL);
}

void function_stats(struct script *script, struct reply *reply)
{
    const struct script_run *run = script->run;
    if (run != NULL && !run->function) {
        reply_error(reply, REPLY_ERROR_BUSY_SCRIPT); /* Redis's answer while an EVAL runs */
        return;
    }
    reply_array(reply, 4);
    reply_word(reply, "running_script");
    if (run == NULL) {
        reply_null(reply);
    } else {
        KV_ASSERT(run->command_count >= 2);
        reply_array(reply, 6);
        reply_word(reply, "name");
        reply_word(reply, run->name); /* as registered, whatever case FCALL gave it in */
        reply_word(reply, "command");
        reply_array(reply, run->command_count);
        /* Bounded by the command's arguments. */
        for (uint32_t index = 0; index < run->command_count; index++) {
            reply_bulk(reply, run->command[index]);
        }
        reply_word(reply, "duration_ms");
        reply_integer(reply, (int64_t)(script_now_ms() - script->run_start_ms));
    }
    reply_word(reply, "engines");
    reply_array(reply, 2);
    reply_word(reply, FUNCTION_ENGINE_NAME);
    reply_array(reply, 4);
    reply_word(reply, "libraries_count");
    reply_integer(reply, script->library_count);
    reply_word(reply, "functions_count");
    reply_integer(reply, script->function_count);
}

/* ---- DUMP ------------------------------------------------------------------------------- */

/* Redis's rdbSaveLen: 6-bit, 14-bit, 32-bit or 64-bit big-endian lengths. */
static uint32_t rdb_length_encode(uint64_t length, uint8_t out[9])
{
    if (length < (1u << 6)) {
        out[0] = (uint8_t)length;
        return 1;
    }
    if (length < (1u << 14)) {
        out[0] = (uint8_t)(0x40u | (length >> 8));
        out[1] = (uint8_t)(length & 0xffu);
        return 2;
    }
    uint32_t bytes = length <= UINT32_MAX ? 4u : 8u;
    out[0] = bytes == 4 ? 0x80u : 0x81u;
    /* Bounded by the 4 or 8 bytes. */
    for (uint32_t index = 0; index < bytes; index++) {
        out[1 + index] = (uint8_t)(length >> (8u * (bytes - 1u - index)));
    }
    return 1 + bytes;
}

/* Adds one library's code as Redis's rdbSaveRawString writes it: LZF when that saves at
 * least four bytes of a string over 20, else plain. `work` holds the hash table and room
 * for the compressed bytes. */
static void dump_string_add(luaL_Buffer *payload, struct slice code, uint8_t *work)
{
    uint8_t header[9];
    if (code.length > LZF_REDIS_BYTES_MIN) {
        uint32_t *table = (uint32_t *)(void *)work;
        uint8_t *packed = work + LZF_TABLE_BYTES;
        uint32_t packed_bytes = lzf_compress(code.bytes, code.length, packed,
                                             code.length - LZF_REDIS_SAVING_MIN, table);
        if (packed_bytes > 0) {
            luaL_addchar(payload, (char)(0xc0u | FUNCTION_RDB_ENC_LZF));
            uint32_t header_bytes = rdb_length_encode(packed_bytes, header);
            luaL_addlstring(payload, (const char *)header, header_bytes);
            header_bytes = rdb_length_encode(code.length, header);
            luaL_addlstring(payload, (const char *)header, header_bytes);
            luaL_addlstring(payload, (const char *)packed, packed_bytes);
            return;
        }
    }
    uint32_t header_bytes = rdb_length_encode(code.length, header);
    luaL_addlstring(payload, (const char *)header, header_bytes);
    luaL_addlstring(payload, (const char *)code.bytes, code.length);
}

static int dump_protected(lua_State *lua)
{
    struct reply *reply = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY); /* 1 */
    size_t longest = 0;
    uint32_t count = 0;
    lua_newtable(lua); /* 2: the codes, in a list (a buffer must not share the stack) */
    lua_pushnil(lua);
    /* Bounded by the libraries. */
    while (lua_next(lua, 1) != 0) {
        lua_getfield(lua, -1, "code");
        longest = lua_objlen(lua, -1) > longest ? lua_objlen(lua, -1) : longest;
        lua_rawseti(lua, 2, (int)++count);
        lua_pop(lua, 1);
    }
    KV_ASSERT(count == script_of(lua)->library_count);
    uint8_t *work = lua_newuserdata(lua, LZF_TABLE_BYTES + longest +
                                             1); /* 3 */
    luaL_Buffer payload;
    luaL_buffinit(lua, &payload);
    /* Bounded by the libraries. */
    for (uint32_t index = 1; index <= count; index++) {
        lua_rawgeti(lua, 2, (int)index);
        struct slice code = lua_slice(lua, -1);
        lua_pop(lua, 1); /* the list keeps the string alive */
        luaL_addchar(&payload, (char)FUNCTION_RDB_OPCODE);
        dump_string_add(&payload, code, work);
    }
    luaL_addchar(&payload, (char)(FUNCTION_RDB_VERSION & 0xffu));
    luaL_addchar(&payload, (char)(FUNCTION_RDB_VERSION >> 8));
    luaL_pushresult(&payload);
    struct slice body = lua_slice(lua, -1);
    uint64_t crc = crc64(0, body.bytes, body.length);
    uint8_t trailer[8];
    /* Bounded by the 8 bytes: little-endian, as Redis's memrev64ifbe leaves it. */
    for (uint32_t index = 0; index < 8; index++) {
        trailer[index] = (uint8_t)(crc >> (8u * index));
    }
    lua_pushlstring(lua, (const char *)trailer, sizeof(trailer));
    lua_concat(lua, 2);
    reply_lua_bulk(reply, lua, -1);
    KV_ASSERT(lua_objlen(lua, -1) == body.length + 8u);
    return 0;
}

void function_dump(struct script *script, struct reply *reply)
{
    uint64_t length_before = reply->total;
    function_protected(script, reply, dump_protected, reply);
    KV_ASSERT(reply->total > length_before || reply->failed);
}

/* ---- RESTORE ---------------------------------------------------------------------------- */

/* Redis's verifyDumpPayload: the footer's version no later than ours, and the CRC. */
static bool payload_verify(struct slice payload)
{
    if (payload.length < FUNCTION_PAYLOAD_FOOTER_BYTES) {
        return false;
    }
    const uint8_t *footer = payload.bytes + payload.length - FUNCTION_PAYLOAD_FOOTER_BYTES;
    uint32_t version = (uint32_t)footer[0] | ((uint32_t)footer[1] << 8);
    if (version > FUNCTION_RDB_VERSION) {
        return false;
    }
    uint64_t crc = crc64(0, payload.bytes, payload.length - 8u);
    uint64_t stored = 0;
    /* Bounded by the 8 bytes. */
    for (uint32_t index = 0; index < 8; index++) {
        stored |= (uint64_t)footer[2 + index] << (8u * index);
    }
    return crc == stored;
}

/* Reads an RDB length at *at (rdbLoadLen); *encoded is set for the 0xc0 forms, whose
 * encoding is then *length. False past the end or for a bad first byte. */
static bool rdb_length_read(struct slice data, uint32_t *at, uint64_t *length, bool *encoded)
{
    if (*at >= data.length) {
        return false;
    }
    uint8_t first = data.bytes[(*at)++];
    uint32_t kind = first >> 6;
    *encoded = kind == 3;
    if (kind == 0 || kind == 3) {
        *length = first & 0x3fu;
        return true;
    }
    if (kind == 1) {
        if (*at >= data.length) {
            return false;
        }
        *length = ((uint64_t)(first & 0x3fu) << 8) | data.bytes[(*at)++];
        return true;
    }
    uint32_t bytes = first == 0x80 ? 4u : first == 0x81 ? 8u : 0u;
    if (bytes == 0 || data.length - *at < bytes) {
        return false;
    }
    *length = 0;
    /* Bounded by the 4 or 8 bytes. */
    for (uint32_t index = 0; index < bytes; index++) {
        *length = (*length << 8) | data.bytes[(*at)++];
    }
    return true;
}

/* Pushes one RDB string at *at (rdbGenericLoadStringObject): plain, integer or LZF. */
static bool rdb_string_push(lua_State *lua, struct slice data, uint32_t *at)
{
    uint64_t length = 0;
    bool encoded = false;
    if (!rdb_length_read(data, at, &length, &encoded)) {
        return false;
    }
    if (!encoded) {
        if (length > data.length - *at) {
            return false;
        }
        lua_pushlstring(lua, (const char *)data.bytes + *at, (size_t)length);
        *at += (uint32_t)length;
        return true;
    }
    if (length <= FUNCTION_RDB_ENC_INT32) {
        uint32_t bytes = 1u << length;
        if (data.length - *at < bytes) {
            return false;
        }
        uint32_t raw = 0;
        for (uint32_t index = 0; index < bytes; index++) {
            raw |= (uint32_t)data.bytes[*at + index] << (8u * index);
        }
        *at += bytes;
        int64_t value = bytes == 1 ? (int8_t)raw : bytes == 2 ? (int16_t)raw : (int32_t)raw;
        lua_pushfstring(lua, "%d", (int)value);
        return true;
    }
    if (length != FUNCTION_RDB_ENC_LZF) {
        return false;
    }
    uint64_t packed = 0;
    uint64_t plain = 0;
    if (!rdb_length_read(data, at, &packed, &encoded) || encoded ||
        !rdb_length_read(data, at, &plain, &encoded) || encoded ||
        packed > data.length - *at || plain == 0 || plain > UINT32_MAX) {
        return false;
    }
    uint8_t *output = lua_newuserdata(lua, (size_t)plain);
    uint32_t made = lzf_decompress(data.bytes + *at, (uint32_t)packed, output, (uint32_t)plain);
    if (made != plain) {
        lua_pop(lua, 1);
        return false;
    }
    *at += (uint32_t)packed;
    lua_pushlstring(lua, (const char *)output, (size_t)plain);
    lua_remove(lua, -2);
    return true;
}

/* Loads every library of the payload into the fresh tables at 1 and 2; false after
 * answering the error. */
static bool restore_read(lua_State *lua, const struct function_restore *restore)
{
    struct slice data = restore->payload;
    uint32_t end = data.length - FUNCTION_PAYLOAD_FOOTER_BYTES;
    uint32_t at = 0;
    /* Bounded by the payload: each pass reads one library. */
    while (at < end) {
        uint8_t type = data.bytes[at++];
        if (type != FUNCTION_RDB_OPCODE) {
            reply_error(restore->reply, REPLY_ERROR_FUNCTION_PAYLOAD_NOT_FUNCTION);
            return false;
        }
        struct slice before = {.bytes = data.bytes, .length = end};
        if (!rdb_string_push(lua, before, &at)) {
            reply_error(restore->reply, REPLY_ERROR_FUNCTION_PAYLOAD_LIBRARY);
            return false;
        }
        struct function_load load = {.script = restore->script, .reply = restore->reply,
                                     .code = lua_slice(lua, -1), .replace = false,
                                     .timed = false};
        if (!library_load(lua, &load, 1, 2)) {
            return false;
        }
        lua_pop(lua, 2); /* the name and the code */
    }
    return true;
}

/* Redis's libraryJoin: the payload's libraries (tables 1, 2) into the live ones (3, 4). */
static bool restore_join(lua_State *lua, const struct function_restore *restore)
{
    bool replace = restore->policy == FUNCTION_RESTORE_REPLACE;
    lua_newtable(lua); /* 5: the live libraries set aside, by name */
    lua_pushnil(lua);
    /* Bounded by the payload's libraries. */
    while (lua_next(lua, 1) != 0) {
        lua_pushvalue(lua, -2);
        lua_rawget(lua, 3);
        if (!lua_isnil(lua, -1)) {
            if (!replace) {
                struct slice name = lua_slice(lua, -3);
                reply_error_format(restore->reply, REPLY_ERROR_LIBRARY_EXISTS_RESTORE, &name);
                lua_pop(lua, 3);
                break;
            }
            (void)library_link(lua, lua_gettop(lua), 3, 4, false);
            lua_pushvalue(lua, -3);
            lua_pushvalue(lua, -2);
            lua_rawset(lua, 5);
        }
        lua_pop(lua, 2);
    }
    bool ok = restore->reply->total == restore->reply->mark;
    lua_pushnil(lua);
    /* Bounded by the payload's functions. */
    while (ok && lua_next(lua, 2) != 0) {
        lua_pushvalue(lua, -2);
        lua_rawget(lua, 4);
        if (!lua_isnil(lua, -1)) {
            lua_getfield(lua, -2, "name");
            struct slice name = lua_slice(lua, -1);
            reply_error_format(restore->reply, REPLY_ERROR_FUNCTION_EXISTS, &name);
            lua_pop(lua, 4);
            ok = false;
            break;
        }
        lua_pop(lua, 2);
    }
    int from = ok ? 1 : 5; /* on failure, the set-aside libraries return */
    lua_pushnil(lua);
    /* Bounded by the libraries linked. */
    while (lua_next(lua, from) != 0) {
        (void)library_link(lua, lua_gettop(lua), 3, 4, true);
        lua_pop(lua, 1);
    }
    return ok;
}

static int restore_protected(lua_State *lua)
{
    const struct function_restore *restore = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_newtable(lua); /* 1: the payload's libraries */
    lua_newtable(lua); /* 2: and functions */
    if (!restore_read(lua, restore)) {
        return 0;
    }
    KV_ASSERT(lua_gettop(lua) == 2);
    if (restore->policy == FUNCTION_RESTORE_FLUSH) {
        lua_setfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY);
        lua_setfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY);
        reply_ok(restore->reply);
        return 0;
    }
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY); /* 3 */
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_FUNCTIONS_KEY); /* 4 */
    if (restore_join(lua, restore)) {
        reply_ok(restore->reply);
    }
    return 0;
}

void function_restore(struct script *script, struct reply *reply, struct slice payload,
                      enum function_restore_policy policy)
{
    if (!payload_verify(payload)) {
        reply_error(reply, REPLY_ERROR_FUNCTION_PAYLOAD_BAD);
        return;
    }
    struct function_restore restore = {.script = script, .reply = reply, .payload = payload,
                                       .policy = policy};
    reply_mark(reply);
    function_protected(script, reply, restore_protected, &restore);
    int status = lua_cpcall(script->function_lua, counts_protected, script);
    KV_ASSERT(status == 0); /* counting walks the tables and allocates nothing */
    KV_ASSERT(reply->total > reply->mark || reply->failed);
}

void function_verify(struct script *script)
{
    uint32_t libraries = script->library_count;
    uint32_t functions = script->function_count;
    int status = lua_cpcall(script->function_lua, counts_protected, script);
    KV_ASSERT(status == 0);
    KV_ASSERT(script->library_count == libraries);
    KV_ASSERT(script->function_count == functions);
}

/* ---- The RDB file's libraries ---------------------------------------------------------- */

struct function_each {
    void (*visit)(void *context, struct slice code);
    void *context;
};

static int each_code_protected(lua_State *lua)
{
    struct function_each *each = lua_touserdata(lua, 1);
    lua_settop(lua, 0);
    lua_getfield(lua, LUA_REGISTRYINDEX, SCRIPT_LIBRARIES_KEY); /* 1 */
    lua_pushnil(lua);
    /* Bounded by the libraries; the table keeps each code string alive during its visit. */
    while (lua_next(lua, 1) != 0) {
        lua_getfield(lua, -1, "code");
        each->visit(each->context, lua_slice(lua, -1));
        lua_pop(lua, 2);
    }
    return 0;
}

void function_each_code(struct script *script, void (*visit)(void *context, struct slice code),
                        void *context)
{
    KV_ASSERT(visit != NULL);
    struct function_each each = {.visit = visit, .context = context};
    int status = lua_cpcall(script->function_lua, each_code_protected, &each);
    KV_ASSERT(status == 0); /* the walk reads existing strings and allocates nothing */
}

/* A fixed reply's end: the rest of a long error is dropped. */
static bool load_reply_full(struct reply *reply, uint64_t wanted)
{
    (void)reply;
    (void)wanted;
    return false;
}

bool function_load_code(struct script *script, struct slice code, char *error,
                        uint32_t error_bytes)
{
    KV_ASSERT(error != NULL && error_bytes > 0);
    uint8_t bytes[512];
    struct reply reply = reply_fixed(bytes, sizeof(bytes));
    reply.grow = load_reply_full;
    function_load(script, &reply, code, false);
    error[0] = '\0';
    if (reply.length == 0 || bytes[0] != '-') {
        return true;
    }
    uint32_t length = reply.length - 1u; /* without the '-' */
    length = length > 2u && bytes[reply.length - 2u] == '\r' ? length - 2u : length;
    length = length < error_bytes - 1u ? length : error_bytes - 1u;
    memcpy(error, bytes + 1, length);
    error[length] = '\0';
    return false;
}
