/*
 * Redis 7.0's functions: libraries of Lua code loaded with FUNCTION LOAD ("#!lua name=<lib>"
 * on the first line), whose top level registers functions with redis.register_function, and
 * FCALL / FCALL_RO to call them (script_fcall, script.h). The libraries live in the scripts'
 * Lua heap, in a second Lua state of their own (script->function_lua), as Redis keeps a
 * separate engine state: SCRIPT FLUSH leaves them, FUNCTION FLUSH rebuilds that state.
 * FUNCTION DUMP and RESTORE use Redis's payload (an RDB function opcode and string per
 * library, the RDB version, a CRC-64), so payloads move between kv and redis-server.
 * Every entry into Lua is protected: a full heap is an error reply, never a crash.
 */
#ifndef KV_FUNCTION_H
#define KV_FUNCTION_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "reply.h"
#include "slice.h"

struct script;

/* Redis's RDB_VERSION in 7.0: a payload of a later version is refused. */
#define FUNCTION_RDB_VERSION 10u
/* RDB_OPCODE_FUNCTION2: one library's code; RDB_OPCODE_FUNCTION (7.0 rc1/rc2) is not read. */
#define FUNCTION_RDB_OPCODE 245u
/* FUNCTION LOAD stops a library's top level after this long (Redis's LOAD_TIMEOUT_MS). */
#define FUNCTION_LOAD_TIMEOUT_MS 500u

enum function_restore_policy {
    FUNCTION_RESTORE_APPEND,  /* add the libraries; a library already there fails it */
    FUNCTION_RESTORE_REPLACE, /* add them, replacing libraries of the same name */
    FUNCTION_RESTORE_FLUSH,   /* the payload's libraries only */
};

/* FUNCTION LOAD [REPLACE] code: answers the library's name or Redis's error. */
void function_load(struct script *script, struct reply *reply, struct slice code, bool replace);

/* FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] (pattern NULL: every library). */
void function_list(struct script *script, struct reply *reply, const struct slice *pattern,
                   bool with_code);

/* FUNCTION DELETE library. */
void function_delete(struct script *script, struct reply *reply, struct slice name);

/* FUNCTION FLUSH: every library goes (the functions' state is rebuilt). */
void function_flush(struct script *script);

/* FUNCTION DUMP: the payload, as a bulk string. */
void function_dump(struct script *script, struct reply *reply);

/* FUNCTION RESTORE payload [policy]. */
void function_restore(struct script *script, struct reply *reply, struct slice payload,
                      enum function_restore_policy policy);

/* FUNCTION STATS: the running script and the engine's counts. */
void function_stats(struct script *script, struct reply *reply);

/* Each library's code, given to `visit` (SAVE and BGSAVE write each as an RDB FUNCTION2
 * record). Allocates nothing. */
void function_each_code(struct script *script, void (*visit)(void *context, struct slice code),
                        void *context);

/* Loads one library's code at startup (an RDB file's FUNCTION2 record) as FUNCTION LOAD
 * does: false when refused, with Redis's error text in `error` (NUL-terminated, cut to its
 * size). */
KV_MUST_USE bool function_load_code(struct script *script, struct slice code, char *error,
                                    uint32_t error_bytes);

/* Checks the libraries' tables against the counts. */
void function_verify(struct script *script);

#endif
