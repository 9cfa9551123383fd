/*
 * OBJECT and MEMORY USAGE: what kv keeps about a key, in Redis 7.0's words. OBJECT ENCODING
 * names the value's representation as Redis would for the same shape (a type's
 * encoding_name, so "embstr", "listpack", "hashtable", ...); FREQ and IDLETIME read the key's
 * clock (an LFU counter or an LRU time, by maxmemory-policy) without touching it, and answer
 * Redis's errors when the policy keeps the other kind; REFCOUNT is 1 (kv shares no values).
 * MEMORY USAGE is the heap bytes the key holds: its object and its value's allocations.
 */
#include "cmd_handlers.h"

#include <string.h>

#include "number.h"
#include "store.h"

static const char *const object_help[] = {
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
};

static const char *const memory_help[] = {
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
};

/* The key, live, found without touching its clock (Redis's LOOKUP_NOTOUCH); NULL (and a
 * null reply) when there is none. */
static const struct store_key *object_lookup(struct cmd_context *context, struct slice name)
{
    struct store *store = context->store;
    uint32_t ref = HEAP_REF_NONE;
    if (store_peek(store, name, &ref) && !store_key_live(store, store_key(store, ref))) {
        store_expire_due(store, name); /* an expired key goes, as a lookup would remove it */
        ref = HEAP_REF_NONE;
    }
    if (ref == HEAP_REF_NONE) {
        reply_null(&context->reply);
        return NULL;
    }
    return store_key(store, ref);
}

static bool policy_lfu(const struct config *config)
{
    return config->maxmemory_policy == CONFIG_POLICY_ALLKEYS_LFU ||
           config->maxmemory_policy == CONFIG_POLICY_VOLATILE_LFU;
}

CMD_HANDLER(cmd_object)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    const struct store_key *key = NULL;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "object|help")) {
        cmd_reply_help(&context->reply, object_help, sizeof(object_help) / sizeof(object_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "encoding", 3, "object|encoding")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            const char *name = store_encoding_name(context->store, key);
            reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)name,
                                                       .length = (uint32_t)strlen(name)});
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "refcount", 3, "object|refcount")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            reply_integer(&context->reply, 1);
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "idletime", 3, "object|idletime")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            policy_lfu(context->config)
                ? reply_error(&context->reply, REPLY_ERROR_OBJECT_IDLETIME_LFU)
                : reply_integer(&context->reply,
                                (int64_t)(store_key_idle_ms(context->store, key) / 1000));
        }
    } else if (cmd_subcommand_is(context, args, arg_count, "freq", 3, "object|freq")) {
        if ((key = object_lookup(context, args[2])) != NULL) {
            !policy_lfu(context->config)
                ? reply_error(&context->reply, REPLY_ERROR_OBJECT_FREQ_NOT_LFU)
                : reply_integer(&context->reply, store_key_lfu(context->store, key));
        }
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "OBJECT");
    }
    KV_ASSERT(context->reply.total > length_before);
}

/* MEMORY USAGE key [SAMPLES count]: kv counts every allocation exactly, so the sample count
 * is checked (Redis's errors) and otherwise has no effect. */
static void memory_usage(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    if (arg_count != 3) {
        int64_t samples = 0;
        if (arg_count != 5 || !cmd_arg_is(args[3], "samples")) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        if (!number_parse_int64(args[4].bytes, args[4].length, &samples)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
            return;
        }
    }
    const struct store_key *key = object_lookup(context, args[2]);
    if (key != NULL) {
        uint32_t ref = heap_ref(context->store->heap, key);
        reply_integer(&context->reply, (int64_t)store_memory(context->store, ref));
    }
}

CMD_HANDLER(cmd_memory)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    if (cmd_subcommand_is(context, args, arg_count, "help", 2, "memory|help")) {
        cmd_reply_help(&context->reply, memory_help, sizeof(memory_help) / sizeof(memory_help[0]));
    } else if (cmd_subcommand_is(context, args, arg_count, "usage", -3, "memory|usage")) {
        memory_usage(context, args, arg_count);
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "MEMORY");
    }
    KV_ASSERT(context->reply.total > length_before);
}

static const struct cmd object_cmds[] = {
    {"object", -2, 2, 2, 1, 0, cmd_object},
};

static const struct cmd memory_cmds[] = {
    {"memory", -2, 0, 0, 0, 0, cmd_memory},
};

CMD_FAMILY(cmd_family_object, "generic", object_cmds);
CMD_FAMILY(cmd_family_memory, "server", memory_cmds);
