/*
 * What script.c (the Lua engine: states, runs, conversions, the hook) and function.c (the
 * libraries of FUNCTION LOAD) share, and nothing else includes.
 *
 * The functions' state keeps its libraries in two registry tables that both files read:
 *   registry["kv_libraries"][<library name>] = {name = ..., code = ..., functions = {<record>,
 *       ... in registration order}}
 *   registry["kv_functions"][<lower-case function name>] = <record>
 *   <record> = {name = ..., description = <string or nil>, flags = <SCRIPT_FLAG_* bits>,
 *               callback = <function>, library = <library name>}
 * Function names are found without regard to case, as Redis's function dictionary does;
 * library names with it.
 */
#ifndef KV_SCRIPT_INTERNAL_H
#define KV_SCRIPT_INTERNAL_H

#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "script.h"
#include "sha1.h"

#define SCRIPT_LIBRARIES_KEY "kv_libraries"
#define SCRIPT_FUNCTIONS_KEY "kv_functions"

/* Shebang and register_function flags, as Redis's SCRIPT_FLAG_*; a body without a shebang
 * runs in EVAL's compatibility mode. */
enum script_flag {
    SCRIPT_FLAG_NO_WRITES = 1u << 0,
    SCRIPT_FLAG_ALLOW_OOM = 1u << 1,
    SCRIPT_FLAG_ALLOW_STALE = 1u << 2,
    SCRIPT_FLAG_NO_CLUSTER = 1u << 3,
    SCRIPT_FLAG_COMPAT = 1u << 4,
    SCRIPT_FLAG_ALLOW_CROSS_SLOT = 1u << 5,
};

/* Redis's flag names in its order (scripts_flags_def), which FUNCTION LIST keeps. */
struct script_flag_name {
    const char *name;
    uint32_t flag;
};
#define SCRIPT_FLAG_NAME_COUNT 5u
extern const struct script_flag_name script_flag_names[SCRIPT_FLAG_NAME_COUNT];

/* One EVAL, FCALL (or SCRIPT LOAD, or SCRIPT EXISTS) in progress. */
struct script_run {
    struct script *script;
    struct cmd_context *context; /* the EVAL's or FCALL's; NULL for SCRIPT LOAD and EXISTS */
    struct reply *reply;         /* where the answer goes */
    struct slice body;           /* EVAL, SCRIPT LOAD: the script; FCALL: the function name */
    const struct slice *keys;    /* EVAL, FCALL: KEYS */
    const struct slice *argv;    /* EVAL, FCALL: ARGV */
    const struct slice *command; /* the whole command (FUNCTION STATS shows it) */
    uint32_t command_count;
    uint32_t key_count;
    uint32_t argv_count;
    bool by_sha;                 /* EVALSHA: no body to compile */
    bool function;               /* FCALL: a library's function in the functions' state */
    bool read_only_form;         /* EVAL_RO, EVALSHA_RO, FCALL_RO */
    bool refuse_writes;          /* this run refuses write commands */
    bool wrote;                  /* a write command ran (Redis's SCRIPT_WRITE_DIRTY) */
    bool found;                  /* SCRIPT EXISTS: the answer */
    bool resp3;                  /* redis.setresp(3) was called: every run starts in RESP2 */
    enum reply_error numkeys_error; /* FCALL: numkeys was bad (answered once found) */
    const char *name;            /* errors name the run: the SHA-1, or the function's name */
    char sha[SHA1_HEX_BYTES + 1];
};

/* The module a state belongs to. */
struct script *script_of(lua_State *lua);

/* A state whose every byte is counted in `owner`, with Redis's libraries, the redis table and
 * the sandbox (script.c's header); NULL never (the heap holds a fresh state at least). */
lua_State *script_state_open(struct script *script, struct script_owner *owner);

/* Closes a state and asserts every byte it held came back. */
void script_state_close(struct script_owner *owner, lua_State *lua);

/* Pushes Redis's error table {err = "<CODE> <message>"} for `text`, as luaPushErrorBuff. */
void script_error_push(lua_State *lua, const char *text);

/* The sandbox's metamethod for a missing global ("Script attempted to access nonexistent
 * global variable"). */
int script_missing_global(lua_State *lua);

/* Replaces the table on top of the stack with a read-only proxy of it. */
void script_proxy_make(lua_State *lua);

/* The monotonic clock in milliseconds (the busy threshold, FUNCTION LOAD's limit). */
uint64_t script_now_ms(void);

/* The functions' state: opens it with its libraries' tables and load-time API (function.c),
 * counting its allocations in script->function_owner. */
void function_state_open(struct script *script);

#endif
