/*
 * ACL as Redis 7.0 answers it on a server with only the default user, whose one password is
 * requirepass (AUTH, CONFIG SET requirepass and ACL SETUSER share it: one source of truth).
 *
 * WHOAMI, USERS, LIST, GETUSER, CAT [category] (Redis's categories and its whole command
 * table, subcommands included), LOG [count|RESET] (kv logs no ACL failure: always empty),
 * GENPASS [bits] (getrandom), DRYRUN (the default user may run everything: OK once the
 * command exists and its arity fits), HELP, DELUSER (the default user cannot go; others do
 * not exist), SAVE/LOAD (no ACL file: Redis's error). SETUSER takes only the default user and
 * the rules that keep it a one-password, all-permissions user: on, >password (it becomes the
 * one password: Redis would add it to a list), nopass, and the all-permission rules it
 * already has; other users and every other rule (off, resetpass, <password, #hash, command,
 * key and channel rules, selectors) are refused with kv's error naming the rule. Passwords
 * show as their SHA-256, as Redis shows them.
 */
#include "cmd_handlers.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "client.h"
#include "config.h"
#include "number.h"

/* ---- SHA-256 (FIPS 180-4), for the password hashes LIST and GETUSER show -------------- */

#define ACL_SHA256_BYTES 32u
#define ACL_SHA256_HEX_BYTES 64u

static const uint32_t sha256_round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t rotate_right(uint32_t value, uint32_t bits)
{
    return (value >> bits) | (value << (32u - bits));
}

/* One 64-byte block into the state. */
static void sha256_block(uint32_t state[8], const uint8_t block[64])
{
    uint32_t words[64];
    for (uint32_t index = 0; index < 16; index++) {
        words[index] = (uint32_t)block[index * 4] << 24 | (uint32_t)block[index * 4 + 1] << 16 |
                       (uint32_t)block[index * 4 + 2] << 8 | (uint32_t)block[index * 4 + 3];
    }
    for (uint32_t index = 16; index < 64; index++) {
        uint32_t low = words[index - 15];
        uint32_t high = words[index - 2];
        uint32_t sigma0 = rotate_right(low, 7) ^ rotate_right(low, 18) ^ (low >> 3);
        uint32_t sigma1 = rotate_right(high, 17) ^ rotate_right(high, 19) ^ (high >> 10);
        words[index] = words[index - 16] + sigma0 + words[index - 7] + sigma1;
    }
    uint32_t v[8];
    memcpy(v, state, sizeof(v));
    for (uint32_t index = 0; index < 64; index++) {
        uint32_t sum1 = rotate_right(v[4], 6) ^ rotate_right(v[4], 11) ^ rotate_right(v[4], 25);
        uint32_t choose = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t first = v[7] + sum1 + choose + sha256_round_constants[index] + words[index];
        uint32_t sum0 = rotate_right(v[0], 2) ^ rotate_right(v[0], 13) ^ rotate_right(v[0], 22);
        uint32_t majority = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove(&v[1], &v[0], 7 * sizeof(v[0]));
        v[4] += first;
        v[0] = first + sum0 + majority;
    }
    for (uint32_t index = 0; index < 8; index++) {
        state[index] += v[index];
    }
}

/* The lower-case hex SHA-256 of `text`, NUL-terminated. */
static void sha256_hex(const char *text, size_t length, char hex[ACL_SHA256_HEX_BYTES + 1])
{
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t done = 0;
    /* Bounded by the text's whole blocks. */
    for (; length - done >= 64; done += 64) {
        sha256_block(state, (const uint8_t *)text + done);
    }
    uint8_t tail[128] = {0};
    size_t left = length - done;
    KV_ASSERT(left < 64);
    memcpy(tail, text + done, left);
    tail[left] = 0x80;
    size_t tail_bytes = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)length * 8u;
    for (uint32_t index = 0; index < 8; index++) {
        tail[tail_bytes - 1 - index] = (uint8_t)(bits >> (8 * index));
    }
    sha256_block(state, tail);
    if (tail_bytes == 128) {
        sha256_block(state, tail + 64);
    }
    for (uint32_t index = 0; index < ACL_SHA256_BYTES; index++) {
        uint8_t byte = (uint8_t)(state[index / 4] >> (24 - 8 * (index % 4)));
        snprintf(&hex[index * 2], 3, "%02x", byte);
    }
    KV_ASSERT(strlen(hex) == ACL_SHA256_HEX_BYTES);
}

/* ---- The subcommands ---------------------------------------------------------------- */

static struct slice text_slice(const char *text)
{
    KV_ASSERT(text != NULL);
    size_t length = strlen(text);
    KV_ASSERT(length <= UINT32_MAX);
    return (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length};
}

static bool is_default(struct slice user)
{
    return user.length == 7 && memcmp(user.bytes, "default", 7) == 0;
}

/* "user default on nopass ~* &* +@all", or "#<sha256>" for the password. */
static void acl_list(struct cmd_context *context)
{
    const char *password = context->config->requirepass;
    char line[128];
    if (password[0] == '\0') {
        snprintf(line, sizeof(line), "user default on nopass ~* &* +@all");
    } else {
        char hex[ACL_SHA256_HEX_BYTES + 1];
        sha256_hex(password, strlen(password), hex);
        snprintf(line, sizeof(line), "user default on #%s ~* &* +@all", hex);
    }
    reply_array(&context->reply, 1);
    reply_bulk(&context->reply, text_slice(line));
}

static void acl_getuser(struct cmd_context *context, struct slice user)
{
    if (!is_default(user)) {
        reply_null(&context->reply);
        return;
    }
    const char *password = context->config->requirepass;
    bool open = password[0] == '\0';
    struct reply *reply = &context->reply;
    reply_map(reply, 6);
    reply_bulk(reply, text_slice("flags"));
    reply_set(reply, open ? 2 : 1);
    reply_bulk(reply, text_slice("on"));
    if (open) {
        reply_bulk(reply, text_slice("nopass"));
    }
    reply_bulk(reply, text_slice("passwords"));
    reply_array(reply, open ? 0 : 1);
    if (!open) {
        char hex[ACL_SHA256_HEX_BYTES + 1];
        sha256_hex(password, strlen(password), hex);
        reply_bulk(reply, text_slice(hex));
    }
    reply_bulk(reply, text_slice("commands"));
    reply_bulk(reply, text_slice("+@all"));
    reply_bulk(reply, text_slice("keys"));
    reply_bulk(reply, text_slice("~*"));
    reply_bulk(reply, text_slice("channels"));
    reply_bulk(reply, text_slice("&*"));
    reply_bulk(reply, text_slice("selectors"));
    reply_array(reply, 0);
}

/* ACL CAT: every category, or every command of Redis's table in one (by its name, any
 * case), subcommands included. */
static void acl_cat(struct cmd_context *context, const struct slice *category)
{
    if (category == NULL) {
        uint32_t count = 0;
        /* Bounded by the category list (NULL ends it). */
        while (cmd_acl_category_at(count) != NULL) {
            count++;
        }
        reply_array(&context->reply, count);
        for (uint32_t index = 0; index < count; index++) {
            reply_bulk(&context->reply, text_slice(cmd_acl_category_at(index)));
        }
        return;
    }
    uint32_t bit = 0;
    bool known = false;
    /* Bounded by the category list. */
    for (uint32_t index = 0; cmd_acl_category_at(index) != NULL && !known; index++) {
        if (cmd_arg_is(*category, cmd_acl_category_at(index))) {
            bit = 1u << index;
            known = true;
        }
    }
    if (!known) {
        reply_error_format(&context->reply, REPLY_ERROR_ACL_UNKNOWN_CATEGORY, category);
        return;
    }
    const char *name = NULL;
    uint32_t categories = 0;
    uint32_t count = 0;
    /* Bounded by the table's rows (twice: count, then write). */
    for (uint32_t row = 0; cmd_redis_row_at(row, &name, &categories); row++) {
        count += (categories & bit) != 0 ? 1u : 0u;
    }
    reply_array(&context->reply, count);
    uint32_t written = 0;
    for (uint32_t row = 0; cmd_redis_row_at(row, &name, &categories); row++) {
        if ((categories & bit) != 0) {
            reply_bulk(&context->reply, text_slice(name));
            written++;
        }
    }
    KV_ASSERT(written == count);
}

static void acl_genpass(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    int64_t bits = 256;
    if (arg_count == 3 && !number_parse_int64(args[2].bytes, args[2].length, &bits)) {
        reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        return;
    }
    if (bits <= 0 || bits > 4096) {
        reply_error(&context->reply, REPLY_ERROR_ACL_GENPASS_BITS);
        return;
    }
    /* As Redis: whole random bytes, then as many hex digits as the bits need. */
    uint8_t random[512];
    uint32_t hex_count = (uint32_t)(bits + 3) / 4;
    uint32_t byte_count = (hex_count + 1) / 2;
    KV_ASSERT(byte_count <= sizeof(random));
    ssize_t got = getrandom(random, byte_count, 0);
    KV_ASSERT(got == (ssize_t)byte_count); /* small requests are never short */
    char hex[1025];
    for (uint32_t index = 0; index < byte_count; index++) {
        snprintf(&hex[index * 2], 3, "%02x", random[index]);
    }
    hex[hex_count] = '\0';
    reply_bulk(&context->reply, (struct slice){.bytes = (const uint8_t *)hex, .length = hex_count});
}

static void acl_dryrun(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 4);
    if (!is_default(args[2])) {
        reply_error_format(&context->reply, REPLY_ERROR_ACL_USER_NOT_FOUND, &args[2]);
        return;
    }
    uint32_t position = cmd_find(&args[3], arg_count - 3);
    if (position == CMD_NONE) {
        reply_error_format(&context->reply, REPLY_ERROR_ACL_COMMAND_NOT_FOUND, &args[3]);
        return;
    }
    const struct cmd *cmd = cmd_of(position);
    int64_t given = (int64_t)arg_count - 3;
    if ((cmd->arity > 0 && cmd->arity != given) || given < -(int64_t)cmd->arity) {
        reply_error_arity(&context->reply, cmd->name);
        return;
    }
    reply_ok(&context->reply); /* the default user may run every command */
}

/* SETUSER default with the rules kv keeps: on, >password, nopass. */
static void acl_setuser(struct cmd_context *context, const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 3);
    if (!is_default(args[2])) {
        reply_error(&context->reply, REPLY_ERROR_ACL_ONLY_DEFAULT);
        return;
    }
    /* Validate every rule before changing anything, as Redis does. */
    const struct slice *password = NULL;
    bool nopass = false;
    for (uint32_t index = 3; index < arg_count; index++) {
        struct slice rule = args[index];
        if (cmd_arg_is(rule, "on") || cmd_arg_is(rule, "allkeys") ||
            cmd_arg_is(rule, "allchannels") || cmd_arg_is(rule, "allcommands") ||
            cmd_arg_is(rule, "+@all") || cmd_arg_is(rule, "~*") || cmd_arg_is(rule, "&*")) {
            continue; /* what the default user is already */
        }
        if (cmd_arg_is(rule, "nopass")) {
            nopass = true;
            password = NULL;
            continue;
        }
        if (rule.length >= 1 && rule.bytes[0] == '>') {
            /* requirepass is a C string of CONFIG_PASSWORD_BYTES_MAX - 1 bytes at most. */
            bool fits = rule.length - 1 < CONFIG_PASSWORD_BYTES_MAX &&
                        memchr(rule.bytes, '\0', rule.length) == NULL;
            if (!fits) {
                reply_error(&context->reply, REPLY_ERROR_ACL_PASSWORD_UNSUPPORTED);
                return;
            }
            password = &args[index];
            nopass = false;
            continue;
        }
        reply_error_format(&context->reply, REPLY_ERROR_ACL_RULE_UNSUPPORTED, &rule);
        return;
    }
    char *stored = context->config->requirepass;
    if (nopass) {
        stored[0] = '\0';
    } else if (password != NULL) {
        KV_ASSERT(password->length - 1 < CONFIG_PASSWORD_BYTES_MAX);
        memcpy(stored, password->bytes + 1, password->length - 1);
        stored[password->length - 1] = '\0';
    }
    reply_ok(&context->reply);
}

static const char *const acl_help[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
};

/* Redis's arity of each subcommand (its table), for the arity error ("acl|users"). */
struct acl_sub {
    const char *name;
    const char *full_name;
    int arity;
};

static const struct acl_sub acl_subs[] = {
    {"cat", "acl|cat", -2},         {"deluser", "acl|deluser", -3}, {"dryrun", "acl|dryrun", -4},
    {"genpass", "acl|genpass", -2}, {"getuser", "acl|getuser", 3},  {"help", "acl|help", 2},
    {"list", "acl|list", 2},        {"load", "acl|load", 2},        {"log", "acl|log", -2},
    {"save", "acl|save", 2},        {"setuser", "acl|setuser", -3}, {"users", "acl|users", 2},
    {"whoami", "acl|whoami", 2},
};

CMD_HANDLER(cmd_acl)
{
    KV_ASSERT(arg_count >= 2);
    uint64_t length_before = context->reply.total;
    const struct acl_sub *sub = NULL;
    /* Bounded by the subcommand list. */
    for (uint32_t index = 0; index < sizeof(acl_subs) / sizeof(acl_subs[0]); index++) {
        if (cmd_arg_is(args[1], acl_subs[index].name)) {
            sub = &acl_subs[index];
        }
    }
    if (sub == NULL) {
        reply_error_unknown_subcommand(&context->reply, args[1], "ACL");
        return;
    }
    int64_t count = arg_count;
    if ((sub->arity > 0 && count != sub->arity) || count < -(int64_t)sub->arity) {
        reply_error_arity(&context->reply, sub->full_name);
        return;
    }
    const char *name = sub->name;
    if (strcmp(name, "whoami") == 0) {
        reply_bulk(&context->reply, text_slice("default"));
    } else if (strcmp(name, "users") == 0) {
        reply_array(&context->reply, 1);
        reply_bulk(&context->reply, text_slice("default"));
    } else if (strcmp(name, "list") == 0) {
        acl_list(context);
    } else if (strcmp(name, "getuser") == 0) {
        acl_getuser(context, args[2]);
    } else if (strcmp(name, "cat") == 0 && arg_count <= 3) {
        acl_cat(context, arg_count == 3 ? &args[2] : NULL);
    } else if (strcmp(name, "genpass") == 0 && arg_count <= 3) {
        acl_genpass(context, args, arg_count);
    } else if (strcmp(name, "log") == 0 && arg_count <= 3) {
        int64_t entries = 0;
        if (arg_count == 3 && cmd_arg_is(args[2], "reset")) {
            reply_ok(&context->reply);
        } else if (arg_count == 3 &&
                   !number_parse_int64(args[2].bytes, args[2].length, &entries)) {
            reply_error(&context->reply, REPLY_ERROR_NOT_INTEGER);
        } else {
            reply_array(&context->reply, 0); /* kv logs no ACL failure */
        }
    } else if (strcmp(name, "dryrun") == 0) {
        acl_dryrun(context, args, arg_count);
    } else if (strcmp(name, "deluser") == 0) {
        /* Redis refuses "default" among the names before deleting any. */
        bool has_default = false;
        for (uint32_t index = 2; index < arg_count; index++) {
            has_default = has_default || is_default(args[index]);
        }
        has_default ? reply_error(&context->reply, REPLY_ERROR_ACL_DELETE_DEFAULT)
                    : reply_integer(&context->reply, 0);
    } else if (strcmp(name, "setuser") == 0) {
        acl_setuser(context, args, arg_count);
    } else if (strcmp(name, "save") == 0 || strcmp(name, "load") == 0) {
        reply_error(&context->reply, REPLY_ERROR_ACL_NO_FILE);
    } else if (strcmp(name, "help") == 0) {
        cmd_reply_help(&context->reply, acl_help, sizeof(acl_help) / sizeof(acl_help[0]));
    } else {
        reply_error_format(&context->reply, REPLY_ERROR_SUBCOMMAND_SYNTAX, &args[1], "ACL");
    }
    KV_ASSERT(context->reply.total > length_before); /* every subcommand answers once */
}

static const struct cmd acl_cmds[] = {
    {"acl", -2, 0, 0, 0, 0, cmd_acl},
};

CMD_FAMILY(cmd_family_acl, "server", acl_cmds);
