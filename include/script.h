/*
 * Lua scripting as Redis 7.0 embeds it: one Lua 5.1 state whose every allocation comes from
 * a heap of its own (lua_heap_bytes, carved from the region at startup), the script cache
 * (compiled functions named by the SHA-1 of their body, kept in that state), Redis's sandbox
 * (protected globals, no os/io/loadfile/dofile/print), the `redis` library, and the two
 * conversions (a command's RESP reply to Lua values, a script's result to a RESP reply).
 *
 * redis.call runs a command through kv's own path (cmd_find, cmd_run) with the calling
 * client's context, its reply going to a buffer that starts in the region and grows into the
 * Lua heap; the reply is parsed back into Lua values. One thread: a script runs whole,
 * nothing else in between.
 *
 * Every entry into Lua goes through lua_cpcall, so a memory error anywhere (the Lua heap is
 * full) becomes an error reply, never a panic. After startup nothing is allocated outside
 * the Lua heap.
 */
#ifndef KV_SCRIPT_H
#define KV_SCRIPT_H

#include <stdbool.h>
#include <stdint.h>

#include "heap.h"
#include "reply.h"
#include "slice.h"

struct lua_State;
struct region;
struct cmd_context;
struct script_run;

/* The smallest and largest Lua heap: a fresh state with its libraries takes about 40 KiB. */
#define SCRIPT_HEAP_BYTES_MIN (1ull << 20)
#define SCRIPT_HEAP_BYTES_MAX (4ull << 30)

/* redis.call's first reply buffer, carved from the region; a larger reply grows into the
 * Lua heap for the length of the call. */
#define SCRIPT_CALL_REPLY_BYTES (16u * 1024u)

/* Every this many Lua instructions a running script's hook looks at the clock (Redis's
 * count hook uses the same period). */
#define SCRIPT_HOOK_INSTRUCTIONS 100000

/* The Lua allocator's owner: one per state, so closing one state can check that every byte
 * it held came back while the other state keeps its own. */
struct script_owner {
    struct script *script;       /* the module both states belong to */
    uint64_t allocations;        /* blocks this state holds in the Lua heap */
};

/* Called by a script's hook once it has run past busy-reply-threshold: serves the other
 * clients a bounded pass (they get -BUSY, or run SCRIPT KILL, FUNCTION KILL, FUNCTION
 * STATS), never the running client (main.c wires the loop in; tests leave it NULL). */
typedef void script_busy_pass_fn(void *owner);

struct script {
    struct heap heap;            /* the Lua heap: every byte both Lua states use */
    struct lua_State *lua;       /* EVAL's state; rebuilt by SCRIPT FLUSH */
    struct lua_State *function_lua; /* the functions' state (function.c); rebuilt by
                                       FUNCTION FLUSH */
    struct script_owner eval_owner;     /* allocations of `lua` */
    struct script_owner function_owner; /* allocations of `function_lua` */
    uint32_t library_count;      /* FUNCTION LOAD's libraries */
    uint32_t function_count;     /* the functions they registered */
    script_busy_pass_fn *busy_pass; /* see the type; NULL: a slow script just runs on */
    void *busy_pass_owner;
    uint64_t busy_reply_threshold_ms; /* the running script's threshold (0: no hook) */
    uint64_t run_start_ms;       /* when the running script began (monotonic) */
    bool timed_out;              /* the running script passed its threshold: others BUSY */
    bool killed;                 /* SCRIPT KILL or FUNCTION KILL asked it to stop */
    bool load_running;           /* FUNCTION LOAD is running a library's code */
    uint64_t load_start_ms;      /* when it began (FUNCTION LOAD's 500 ms limit) */
    uint8_t *call_fixed;         /* SCRIPT_CALL_REPLY_BYTES carved: redis.call's reply */
    uint8_t *call_grown;         /* a larger reply buffer in the Lua heap, or NULL */
    struct script_run *run;      /* the script running now, or NULL */
    uint32_t script_count;       /* scripts in the cache */
    uint32_t runs_since_gc;      /* runs since the last GC step (a step every 50, as Redis) */
    uint64_t random_state;       /* math.random's 48-bit state (Redis's rand48) */
    uint64_t memory_errors;      /* runs and loads that found the Lua heap full */
};

/* Bytes script_init carves for a Lua heap of `heap_bytes`. */
uint64_t script_plan_bytes(uint64_t heap_bytes);

/* Carves the Lua heap and the call buffer, opens the state and its sandbox; once, at
 * startup. */
void script_init(struct script *script, struct region *region, uint64_t heap_bytes);

/* EVAL, EVALSHA and their _RO forms, whole: args[1] is the body (or its SHA-1 with by_sha),
 * args[2] numkeys, then the keys and the arguments. Answers into context->reply. */
void script_eval(struct script *script, struct cmd_context *context, const struct slice *args,
                 uint32_t arg_count, bool by_sha, bool read_only);

/* SCRIPT LOAD: compiles and caches the body; answers its SHA-1 or the compile error. */
void script_load(struct script *script, struct reply *reply, struct slice body);

/* SCRIPT EXISTS for one SHA-1 (any case). */
bool script_exists(struct script *script, struct slice sha);

/* SCRIPT FLUSH: the state is closed (every byte of the Lua heap comes back) and opened
 * afresh, as Redis resets its interpreter. */
void script_flush(struct script *script);

/* FCALL and FCALL_RO, whole: args[1] the function's name, args[2] numkeys, then the keys
 * and the arguments (function.c keeps the libraries). */
void script_fcall(struct script *script, struct cmd_context *context, const struct slice *args,
                  uint32_t arg_count, bool read_only);

/* Whether a script is running and has passed busy-reply-threshold (others get -BUSY). */
bool script_busy(const struct script *script);

/* The -BUSY error other clients get: the running script's EVAL or FUNCTION words. */
enum reply_error script_busy_error(const struct script *script);

/* Whether a command may run while a script is busy (script.c: Redis 7.0's ALLOW_BUSY
 * commands); others are answered script_busy_error. */
bool script_busy_allows(const struct slice *args, uint32_t arg_count);

/* Redis 7.0's subcommand lookup, for where kv must answer it before a handler runs (a busy
 * script's other clients, MULTI's queueing): answers Redis's error for a container command's
 * unknown subcommand or wrong subcommand arity and returns true; false otherwise. */
bool script_subcommand_refused(struct reply *reply, const struct slice *args,
                                    uint32_t arg_count);

/* SHUTDOWN NOSAVE while a script is busy: the script stops at its next hook, written or not
 * (Redis exits in the middle of it), with the killed script's error. */
void script_stop_for_shutdown(struct script *script);

/* SCRIPT KILL (is_eval) and FUNCTION KILL: stops the running script when it has not written,
 * answering as Redis's scriptKill. */
void script_kill(struct script *script, struct reply *reply, bool is_eval);

/* Sets the busy pass the hook runs (main.c: the loop's). */
void script_busy_pass_set(struct script *script, script_busy_pass_fn *pass, void *owner);

/* Bytes the Lua states hold together (the Lua heap's used bytes). */
uint64_t script_memory_bytes(const struct script *script);

/* What INFO's memory section shows of scripting, as Redis 7.0 counts it: each Lua state's
 * bytes as Lua counts them (its used_memory_vm_eval and used_memory_vm_functions: whole KiB,
 * Redis's LUA_GCCOUNT * 1024), the cached scripts, libraries and functions. */
struct script_info {
    uint64_t eval_vm_bytes;
    uint64_t function_vm_bytes;
    uint32_t cached_scripts;
    uint32_t libraries;
    uint32_t functions;
};
void script_info_read(const struct script *script, struct script_info *info);

/* Checks the Lua heap, and that no run is in progress and no call buffer is held. */
void script_verify(const struct script *script);

#endif
