/*
 * COMMAND and its subcommands (COUNT, LIST, INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP), with
 * Redis 7.0's own description of each command: clients read COMMAND INFO's key
 * specifications to route commands (cluster clients) and COMMAND DOCS to build their APIs.
 *
 * What Redis says about a command is a table generated from redis-server 7.0
 * (tools/gen_redis_commands.py, src/redis_command_table.h): a row per command and
 * subcommand, sorted by full name ("client|list"), holding its INFO and DOCS replies as
 * encoded trees and its key specifications as numbers. kv answers for the commands it has
 * (cmd.c's table): COMMAND COUNT and LIST count and name them; INFO and DOCS write Redis's
 * rows for them. A command's subcommands are Redis's (some may be ones kv does not have);
 * Redis lists subcommands in its dict's order, which changes from process to process, kv in
 * name order.
 *
 * The encoding (one node): a letter, a decimal and a comma, then for `b` (bulk) and `+`
 * (status) that many bytes, for `a` (array), `s` (set) and `m` (map, the count in pairs)
 * that many nodes (twice for a map), for `i` the integer itself. Sets and maps become arrays
 * for a RESP2 client, as Redis's addReplySetLen and addReplyMapLen write them.
 *
 * COMMAND GETKEYS walks the key specifications as Redis's getKeysUsingKeySpecs does, and
 * falls back to the command's own key finder (Redis's *GetKeys functions) where a spec is
 * incomplete, has variable flags, or does not fit the arguments.
 */
#include "cmd_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "glob.h"
#include "number.h"

/* A key specification (Redis's keySpec). */
struct redis_key_spec {
    uint16_t flags;       /* 1 << KEY_FLAG_* */
    uint8_t begin_type;   /* enum key_begin */
    int16_t begin_at;     /* KEY_BEGIN_INDEX: the position; KEY_BEGIN_KEYWORD: startfrom */
    const char *keyword;  /* KEY_BEGIN_KEYWORD: the word after which keys begin */
    uint8_t find_type;    /* enum key_find */
    int16_t find_a;       /* RANGE: lastkey; KEYNUM: keynumidx */
    int16_t find_b;       /* RANGE: keystep; KEYNUM: firstkey */
    int16_t find_c;       /* RANGE: limit; KEYNUM: keystep */
};

enum key_begin { KEY_BEGIN_UNKNOWN, KEY_BEGIN_INDEX, KEY_BEGIN_KEYWORD };
enum key_find { KEY_FIND_UNKNOWN, KEY_FIND_RANGE, KEY_FIND_KEYNUM };

/* Key flags in Redis's order (addReplyFlagsForKeyArgs). */
enum key_flag {
    KEY_FLAG_RO, KEY_FLAG_RW, KEY_FLAG_OW, KEY_FLAG_RM, KEY_FLAG_ACCESS, KEY_FLAG_UPDATE,
    KEY_FLAG_INSERT, KEY_FLAG_DELETE, KEY_FLAG_NOT_KEY, KEY_FLAG_INCOMPLETE,
    KEY_FLAG_VARIABLE_FLAGS, KEY_FLAG_COUNT,
};

static const char *const key_flag_names[KEY_FLAG_COUNT] = {
    "RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key", "incomplete",
    "variable_flags",
};

/* The key finder a command falls back on (its get_keys_function in Redis's JSON). */
enum redis_getkeys {
    REDIS_GETKEYS_NONE, REDIS_GETKEYS_BITFIELD, REDIS_GETKEYS_BLMPOP, REDIS_GETKEYS_EVAL,
    REDIS_GETKEYS_FUNCTION, REDIS_GETKEYS_GEORADIUS, REDIS_GETKEYS_LMPOP, REDIS_GETKEYS_MIGRATE,
    REDIS_GETKEYS_SET, REDIS_GETKEYS_SINTERCARD, REDIS_GETKEYS_SORT, REDIS_GETKEYS_SORT_RO,
    REDIS_GETKEYS_XREAD, REDIS_GETKEYS_ZUNION_INTER_DIFF, REDIS_GETKEYS_ZUNION_INTER_DIFF_STORE,
    REDIS_GETKEYS_ZMPOP,
};

struct redis_command_row {
    const char *name;       /* full name, lower case: "get", "client|list" */
    int16_t arity;
    bool no_mandatory_keys; /* GETKEYS answers an empty array rather than an error */
    uint16_t sub_first;     /* a command's first subcommand row (0: none) */
    uint16_t sub_count;
    uint16_t spec_first;    /* into redis_key_specs */
    uint16_t spec_count;
    uint32_t categories;    /* 1 << index into redis_acl_categories */
    uint8_t getkeys;        /* enum redis_getkeys */
    uint8_t docs_pairs;     /* DOCS map pairs in `docs` (subcommands not among them) */
    const char *info;       /* INFO's first nine fields, encoded */
    const char *docs;       /* DOCS's map pairs, encoded */
};

#include "redis_command_table.h"

#define ACL_CATEGORY_COUNT (sizeof(redis_acl_categories) / sizeof(redis_acl_categories[0]))
static_assert(ACL_CATEGORY_COUNT <= 32, "categories fit the row's bits");
static_assert(REDIS_COMMAND_ROWS < UINT16_MAX, "row indexes fit sub_first");

/* Nesting of an encoded reply: COMMAND DOCS's arguments nest blocks in one-ofs a few deep. */
#define ENCODED_DEPTH_MAX 24u
/* The longest status word in the table (a flag or category name). */
#define ENCODED_STATUS_BYTES_MAX 64u

/* ---- The table -------------------------------------------------------------------------- */

/* A row by full name (any case), or NULL: binary search over the sorted rows. */
static const struct redis_command_row *row_find(struct slice name)
{
    char lower[64];
    if (name.length == 0 || name.length >= sizeof(lower)) {
        return NULL;
    }
    /* Bounded by the name's length. */
    for (uint32_t at = 0; at < name.length; at++) {
        uint8_t byte = name.bytes[at];
        lower[at] = (char)(byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte);
    }
    lower[name.length] = '\0';
    uint32_t low = 0;
    uint32_t high = REDIS_COMMAND_ROWS;
    /* Bounded: the range halves each pass. */
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        int order = strcmp(redis_command_rows[middle].name, lower);
        if (order == 0) {
            return &redis_command_rows[middle];
        }
        if (order < 0) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return NULL;
}

/* Redis's row for kv's command at `index` (cmd.c's table), or NULL for a command Redis does
 * not know (none today). */
static const struct redis_command_row *row_at(uint32_t index)
{
    const struct cmd *cmd = NULL;
    bool present = cmd_at(index, &cmd);
    KV_ASSERT(present);
    KV_ASSERT(cmd != NULL);
    return row_find(slice_text(cmd->name));
}

/* A subcommand row of `parent` by its own name (any case) or NULL, as lookupSubcommand. */
static const struct redis_command_row *row_sub(const struct redis_command_row *parent,
                                               struct slice name)
{
    KV_ASSERT(parent != NULL);
    char full[96];
    size_t parent_bytes = strlen(parent->name);
    if (parent->sub_count == 0 || parent_bytes + 1 + name.length >= sizeof(full)) {
        return NULL;
    }
    memcpy(full, parent->name, parent_bytes);
    full[parent_bytes] = '|';
    memcpy(full + parent_bytes + 1, name.bytes, name.length);
    const struct redis_command_row *row =
        row_find(slice_bytes(full, (uint32_t)(parent_bytes + 1 + name.length)));
    KV_ASSERT(row == NULL || (row >= redis_command_rows + parent->sub_first &&
                              row < redis_command_rows + parent->sub_first + parent->sub_count));
    return row;
}

/* A name as COMMAND INFO and DOCS take it ("get", "client|list"): a command kv has, or a
 * subcommand of one; NULL otherwise (Redis's lookupCommandBySds: one '|' at most). */
static const struct redis_command_row *row_named(struct slice name)
{
    const uint8_t *bar = memchr(name.bytes, '|', name.length);
    struct slice base = name;
    if (bar != NULL) {
        base.length = (uint32_t)(bar - name.bytes);
    }
    if (cmd_find(&base, 1) == CMD_NONE) {
        return NULL;
    }
    const struct redis_command_row *row = row_find(base);
    if (row == NULL || bar == NULL) {
        return row;
    }
    struct slice sub = {.bytes = bar + 1, .length = name.length - base.length - 1};
    if (memchr(sub.bytes, '|', sub.length) != NULL) {
        return NULL;
    }
    return row_sub(row, sub);
}

/* ---- Encoded replies -------------------------------------------------------------------- */

/* Reads "<decimal>," at *at (a '-' first for integers). */
static int64_t encoded_number(const char **at)
{
    const char *start = *at;
    char *end = NULL;
    long long value = strtoll(start, &end, 10);
    KV_ASSERT(end > start && *end == ',');
    *at = end + 1;
    return (int64_t)value;
}

/* Writes `node_count` encoded nodes from `text`; returns where they end. */
static const char *encoded_write(struct reply *reply, const char *text, uint32_t node_count)
{
    uint64_t pending[ENCODED_DEPTH_MAX];
    uint32_t depth = 0;
    pending[0] = node_count;
    const char *at = text;
    /* Bounded by the text: every node consumes at least three of its bytes. */
    for (;;) {
        while (depth > 0 && pending[depth] == 0) {
            depth--;
        }
        if (pending[depth] == 0) {
            break;
        }
        pending[depth]--;
        char kind = *at++;
        int64_t number = encoded_number(&at);
        KV_ASSERT(kind == 'i' || number >= 0);
        switch (kind) {
        case 'b':
            reply_bulk(reply, slice_bytes(at, (uint32_t)number));
            at += number;
            break;
        case '+': {
            char status[ENCODED_STATUS_BYTES_MAX];
            KV_ASSERT((uint64_t)number < sizeof(status));
            memcpy(status, at, (size_t)number);
            status[number] = '\0';
            reply_simple(reply, status);
            at += number;
            break;
        }
        case 'i':
            reply_integer(reply, number);
            break;
        case 'a':
        case 's':
        case 'm':
            kind == 'a'   ? reply_array(reply, (uint64_t)number)
            : kind == 's' ? reply_set(reply, (uint64_t)number)
                          : reply_map(reply, (uint64_t)number);
            KV_ASSERT(depth + 1 < ENCODED_DEPTH_MAX);
            pending[++depth] = (uint64_t)number * (kind == 'm' ? 2u : 1u);
            break;
        default:
            KV_ASSERT(false); /* the generator writes no other letter */
        }
    }
    return at;
}

/* COMMAND INFO's entry for a row: ten fields, the last its subcommands' entries. */
static void info_write(struct reply *reply, const struct redis_command_row *row)
{
    KV_ASSERT(row != NULL);
    reply_array(reply, 10);
    const char *end = encoded_write(reply, row->info, 9);
    KV_ASSERT(*end == '\0');
    if (row->sub_count == 0) {
        reply_set(reply, 0);
        return;
    }
    reply_array(reply, row->sub_count);
    /* Bounded by the row's subcommands, which have none of their own. */
    for (uint32_t sub = 0; sub < row->sub_count; sub++) {
        const struct redis_command_row *child = &redis_command_rows[row->sub_first + sub];
        KV_ASSERT(child->sub_count == 0);
        info_write(reply, child);
    }
}

/* COMMAND DOCS's value for a row: its map, with its subcommands' docs as a map at the end. */
static void docs_write(struct reply *reply, const struct redis_command_row *row)
{
    KV_ASSERT(row != NULL);
    reply_map(reply, row->docs_pairs + (row->sub_count > 0 ? 1u : 0u));
    const char *end = encoded_write(reply, row->docs, 2u * row->docs_pairs);
    KV_ASSERT(*end == '\0');
    if (row->sub_count == 0) {
        return;
    }
    reply_bulk(reply, slice_bytes("subcommands", 11));
    reply_map(reply, row->sub_count);
    /* Bounded by the row's subcommands. */
    for (uint32_t sub = 0; sub < row->sub_count; sub++) {
        const struct redis_command_row *child = &redis_command_rows[row->sub_first + sub];
        KV_ASSERT(child->sub_count == 0);
        reply_bulk(reply, slice_text(child->name));
        docs_write(reply, child);
    }
}

/* ---- COMMAND, INFO, DOCS, COUNT, LIST --------------------------------------------------- */

/* The rows of every command kv has, in kv's table order; a command Redis does not know
 * (none today) is left out. Returns how many; writes them when `reply` is not NULL. */
static uint32_t every_row(struct reply *reply, bool docs)
{
    uint32_t found = 0;
    /* Bounded by kv's command count. */
    for (uint32_t index = 0; index < cmd_count(); index++) {
        const struct redis_command_row *row = row_at(index);
        if (row == NULL) {
            continue;
        }
        found++;
        if (reply != NULL && docs) {
            reply_bulk(reply, slice_text(row->name));
            docs_write(reply, row);
        } else if (reply != NULL) {
            info_write(reply, row);
        }
    }
    return found;
}

static void command_info(struct cmd_context *context, const struct slice *names,
                         uint32_t name_count)
{
    if (name_count == 0) {
        reply_array(&context->reply, every_row(NULL, false));
        every_row(&context->reply, false);
        return;
    }
    reply_array(&context->reply, name_count);
    /* Bounded by the arguments. */
    for (uint32_t at = 0; at < name_count; at++) {
        const struct redis_command_row *row = row_named(names[at]);
        row != NULL ? info_write(&context->reply, row) : reply_null_array(&context->reply);
    }
}

static void command_docs(struct cmd_context *context, const struct slice *names,
                         uint32_t name_count)
{
    if (name_count == 0) {
        reply_map(&context->reply, every_row(NULL, true));
        every_row(&context->reply, true);
        return;
    }
    uint32_t found = 0;
    /* Bounded by the arguments, twice: count, then write. */
    for (uint32_t at = 0; at < name_count; at++) {
        found += row_named(names[at]) != NULL ? 1u : 0u;
    }
    reply_map(&context->reply, found);
    for (uint32_t at = 0; at < name_count; at++) {
        const struct redis_command_row *row = row_named(names[at]);
        if (row != NULL) {
            reply_bulk(&context->reply, slice_text(row->name));
            docs_write(&context->reply, row);
        }
    }
}

/* COMMAND LIST's filter. */
enum list_filter { LIST_ALL, LIST_MODULE, LIST_ACLCAT, LIST_PATTERN };

static bool list_keeps(const struct redis_command_row *row, enum list_filter filter,
                       struct slice argument, uint32_t category_bits)
{
    switch (filter) {
    case LIST_ALL:
        return true;
    case LIST_MODULE:
        return false; /* kv loads no modules */
    case LIST_ACLCAT:
        return (row->categories & category_bits) != 0;
    case LIST_PATTERN:
        return glob_match(argument, slice_text(row->name), true);
    }
    KV_ASSERT(false);
    return false;
}

/* Names every kept row (a command, then its subcommands); returns how many. */
static uint32_t list_write(struct reply *reply, enum list_filter filter, struct slice argument,
                           uint32_t category_bits)
{
    uint32_t count = 0;
    /* Bounded by kv's commands and their subcommands. */
    for (uint32_t index = 0; index < cmd_count(); index++) {
        const struct redis_command_row *row = row_at(index);
        if (row == NULL) {
            continue;
        }
        for (uint32_t sub = 0; sub <= row->sub_count; sub++) {
            const struct redis_command_row *named =
                sub == 0 ? row : &redis_command_rows[row->sub_first + sub - 1];
            if (list_keeps(named, filter, argument, category_bits)) {
                count++;
                if (reply != NULL) {
                    reply_bulk(reply, slice_text(named->name));
                }
            }
        }
    }
    return count;
}

static void command_list(struct cmd_context *context, const struct slice *args,
                         uint32_t arg_count)
{
    enum list_filter filter = LIST_ALL;
    struct slice argument = {0};
    /* Redis's loop: FILTERBY <type> <arg>, the last one given wins. */
    for (uint32_t at = 2; at < arg_count; at += 3) {
        if (!cmd_arg_is(args[at], "filterby") || arg_count - 1 - at != 2) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        struct slice kind = args[at + 1];
        filter = cmd_arg_is(kind, "module")    ? LIST_MODULE
                 : cmd_arg_is(kind, "aclcat")  ? LIST_ACLCAT
                 : cmd_arg_is(kind, "pattern") ? LIST_PATTERN
                                               : LIST_ALL;
        if (filter == LIST_ALL) {
            reply_error(&context->reply, REPLY_ERROR_SYNTAX);
            return;
        }
        argument = args[at + 2];
    }
    uint32_t category_bits = 0;
    if (filter == LIST_ACLCAT) {
        /* Bounded by the categories; an unknown one keeps nothing, as Redis. */
        for (uint32_t index = 0; index < ACL_CATEGORY_COUNT; index++) {
            const char *name = redis_acl_categories[index];
            if (strlen(name) == argument.length &&
                strncasecmp(name, (const char *)argument.bytes, argument.length) == 0) {
                category_bits = 1u << index;
            }
        }
    }
    reply_array(&context->reply, list_write(NULL, filter, argument, category_bits));
    list_write(&context->reply, filter, argument, category_bits);
}

/* ---- GETKEYS ---------------------------------------------------------------------------- */

/* The keys a finder meets, counted (reply NULL) or written: GETKEYS runs the finder that
 * works once to count and once more to write, so nothing is stored in between. */
struct keys_found {
    uint32_t count;
    struct reply *reply;        /* NULL: count only */
    const struct slice *argv;
    bool with_flags;            /* GETKEYSANDFLAGS: each key with its flags */
    void (*visit)(void *context, struct slice key); /* cmd_keys_each's: each key */
    void *visit_context;
};

static void keys_add(struct keys_found *keys, int64_t position, uint16_t flags)
{
    keys->count++;
    if (keys->visit != NULL) {
        keys->visit(keys->visit_context, keys->argv[position]);
    }
    if (keys->reply == NULL) {
        return;
    }
    if (keys->with_flags) {
        reply_array(keys->reply, 2);
    }
    reply_bulk(keys->reply, keys->argv[position]);
    if (!keys->with_flags) {
        return;
    }
    reply_set(keys->reply, (uint32_t)__builtin_popcount(flags));
    /* Bounded by the flags. */
    for (uint32_t flag = 0; flag < KEY_FLAG_COUNT; flag++) {
        if (flags & (1u << flag)) {
            reply_simple(keys->reply, key_flag_names[flag]);
        }
    }
}

/* Where one spec's keys begin (0: its keyword is not there), as Redis searches. */
static int64_t spec_begin(const struct redis_key_spec *spec, const struct slice *argv,
                          int64_t argc)
{
    if (spec->begin_type == KEY_BEGIN_INDEX) {
        return spec->begin_at;
    }
    KV_ASSERT(spec->begin_type == KEY_BEGIN_KEYWORD);
    int64_t start = spec->begin_at > 0 ? spec->begin_at : argc + spec->begin_at;
    int64_t end = spec->begin_at > 0 ? argc - 1 : 1;
    /* Bounded by the arguments (Redis's loop: it stops before `end`). */
    for (int64_t at = start; at != end; at = start <= end ? at + 1 : at - 1) {
        if (at >= argc || at < 1) {
            break;
        }
        if (cmd_arg_is(argv[at], spec->keyword)) {
            return at + 1;
        }
    }
    return 0;
}

/* Redis's getKeysUsingKeySpecs: false where a spec does not fit (the caller falls back). */
static bool keys_by_specs(const struct redis_command_row *row, const struct slice *argv,
                          int64_t argc, struct keys_found *keys)
{
    keys->count = 0;
    /* Bounded by the row's specs, and each by the arguments. */
    for (uint32_t index = 0; index < row->spec_count; index++) {
        const struct redis_key_spec *spec = &redis_key_specs[row->spec_first + index];
        if (spec->flags & (1u << KEY_FLAG_NOT_KEY)) {
            continue;
        }
        if (spec->begin_type == KEY_BEGIN_UNKNOWN || spec->find_type == KEY_FIND_UNKNOWN) {
            return false;
        }
        int64_t first = spec_begin(spec, argv, argc);
        if (first == 0) {
            continue;
        }
        int64_t last = 0;
        int64_t step = 1;
        if (spec->find_type == KEY_FIND_RANGE) {
            step = spec->find_b;
            last = spec->find_a >= 0  ? first + spec->find_a
                   : spec->find_c == 0 ? argc + spec->find_a
                                      : first + ((argc - first) / spec->find_c + spec->find_a);
        } else {
            int64_t numkeys = 0;
            if (spec->find_a >= argc || first + spec->find_a >= argc) {
                return false;
            }
            struct slice text = argv[first + spec->find_a];
            if (!number_parse_int64(text.bytes, text.length, &numkeys) || numkeys < 0) {
                return false;
            }
            step = spec->find_c;
            first += spec->find_b;
            last = first + numkeys - 1;
        }
        if (last >= argc || last < first || first >= argc || step <= 0) {
            return false;
        }
        /* Bounded by the arguments: last < argc. */
        for (int64_t at = first; at <= last; at += step) {
            keys_add(keys, at, spec->flags);
        }
        if (spec->flags & (1u << KEY_FLAG_INCOMPLETE)) {
            return false;
        }
    }
    return true;
}

/* Redis's genericGetKeys: a count at `count_at`, then the keys (and a store key). */
static void keys_counted(const struct slice *argv, int64_t argc, int64_t store_at,
                         int64_t count_at, int64_t first_at, struct keys_found *keys)
{
    KV_ASSERT(count_at < argc);
    char digits[24];
    struct slice text = argv[count_at];
    uint32_t length = text.length < sizeof(digits) - 1 ? text.length : sizeof(digits) - 1;
    memcpy(digits, text.bytes, length);
    digits[length] = '\0';
    int64_t count = atoi(digits); /* as Redis reads it */
    keys->count = 0;
    if (count < 1 || count > argc - first_at) {
        return;
    }
    /* Bounded: count <= argc. */
    for (int64_t index = 0; index < count; index++) {
        keys_add(keys, first_at + index, 0);
    }
    if (store_at != 0) {
        keys_add(keys, store_at, 0);
    }
}

static void keys_sort(const struct slice *argv, int64_t argc, struct keys_found *keys)
{
    keys->count = 0;
    keys_add(keys, 1, (1u << KEY_FLAG_RO) | (1u << KEY_FLAG_ACCESS));
    int64_t store = 0;
    /* Bounded by the arguments; Redis's skips: LIMIT 2, GET 1, BY 1, the last STORE wins. */
    for (int64_t at = 2; at < argc; at++) {
        if (cmd_arg_is(argv[at], "limit")) {
            at += 2;
        } else if (cmd_arg_is(argv[at], "get") || cmd_arg_is(argv[at], "by")) {
            at += 1;
        } else if (cmd_arg_is(argv[at], "store") && at + 1 < argc) {
            store = at + 1;
        }
    }
    if (store != 0) {
        keys_add(keys, store, (1u << KEY_FLAG_OW) | (1u << KEY_FLAG_UPDATE));
    }
}

static void keys_xread(const struct slice *argv, int64_t argc, struct keys_found *keys)
{
    keys->count = 0;
    int64_t streams = -1;
    /* Bounded by the arguments. */
    for (int64_t at = 1; at < argc; at++) {
        if (cmd_arg_is(argv[at], "block") || cmd_arg_is(argv[at], "count")) {
            at++;
        } else if (cmd_arg_is(argv[at], "group")) {
            at += 2;
        } else if (cmd_arg_is(argv[at], "noack")) {
            continue;
        } else {
            streams = cmd_arg_is(argv[at], "streams") ? at : -1;
            break;
        }
    }
    int64_t count = streams == -1 ? 0 : argc - streams - 1;
    if (count == 0 || count % 2 != 0) {
        return;
    }
    /* Bounded by the arguments. */
    for (int64_t at = streams + 1; at < argc - count / 2; at++) {
        keys_add(keys, at, 0);
    }
}

/* SET: RW with GET among the options, OW otherwise; BITFIELD: RO while only GETs. */
static void keys_flagged(const struct redis_command_row *row, const struct slice *argv,
                         int64_t argc, struct keys_found *keys)
{
    uint16_t read_write = (1u << KEY_FLAG_RW) | (1u << KEY_FLAG_ACCESS) | (1u << KEY_FLAG_UPDATE);
    uint16_t flags = (1u << KEY_FLAG_OW) | (1u << KEY_FLAG_UPDATE);
    if (row->getkeys == REDIS_GETKEYS_SET) {
        /* Bounded by the arguments. */
        for (int64_t at = 3; at < argc; at++) {
            flags = argv[at].length == 3 && cmd_arg_is(argv[at], "get") ? read_write : flags;
        }
    } else {
        bool only_reads = true;
        /* Bounded by the arguments; Redis's walk over BITFIELD's operations. */
        for (int64_t at = 2; at < argc; at++) {
            int64_t left = argc - at - 1;
            if (cmd_arg_is(argv[at], "get") && left >= 2) {
                at += 2;
            } else if (cmd_arg_is(argv[at], "overflow") && left >= 1) {
                at += 1;
            } else {
                only_reads = false; /* a write, or a syntax error: not read-only */
                break;
            }
        }
        flags = only_reads ? (uint16_t)((1u << KEY_FLAG_RO) | (1u << KEY_FLAG_ACCESS)) : read_write;
    }
    keys->count = 0;
    keys_add(keys, 1, flags);
}

/* Redis's migrateGetKeys: the key at 3, or every argument after KEYS (none when the key is
 * not empty then: MIGRATE answers that error). */
static void keys_migrate(const struct slice *argv, int64_t argc, struct keys_found *keys)
{
    int64_t first = 3;
    int64_t count = 1;
    /* Bounded by the arguments: AUTH and AUTH2 skip theirs. */
    for (int64_t at = 6; at < argc; at++) {
        if (cmd_arg_is(argv[at], "keys")) {
            first = at + 1;
            count = argv[3].length > 0 ? 0 : argc - first;
            break;
        }
        if (cmd_arg_is(argv[at], "auth")) {
            at += 1;
        } else if (cmd_arg_is(argv[at], "auth2")) {
            at += 2;
        }
    }
    uint16_t flags = (uint16_t)((1u << KEY_FLAG_RW) | (1u << KEY_FLAG_ACCESS) |
                                (1u << KEY_FLAG_DELETE));
    /* Bounded by the arguments. */
    for (int64_t index = 0; index < count; index++) {
        keys_add(keys, first + index, flags);
    }
}

/* Redis's key finders, for the commands that name one. */
static void keys_by_function(const struct redis_command_row *row, const struct slice *argv,
                             int64_t argc, struct keys_found *keys)
{
    keys->count = 0;
    switch (row->getkeys) {
    case REDIS_GETKEYS_EVAL:
    case REDIS_GETKEYS_FUNCTION:
    case REDIS_GETKEYS_BLMPOP:
        keys_counted(argv, argc, 0, 2, 3, keys);
        break;
    case REDIS_GETKEYS_ZUNION_INTER_DIFF:
    case REDIS_GETKEYS_SINTERCARD:
    case REDIS_GETKEYS_LMPOP:
    case REDIS_GETKEYS_ZMPOP:
        keys_counted(argv, argc, 0, 1, 2, keys);
        break;
    case REDIS_GETKEYS_ZUNION_INTER_DIFF_STORE:
        keys_counted(argv, argc, 1, 2, 3, keys);
        break;
    case REDIS_GETKEYS_SORT:
        keys_sort(argv, argc, keys);
        break;
    case REDIS_GETKEYS_SORT_RO:
        keys_add(keys, 1, (1u << KEY_FLAG_RO) | (1u << KEY_FLAG_ACCESS));
        break;
    case REDIS_GETKEYS_XREAD:
        keys_xread(argv, argc, keys);
        break;
    case REDIS_GETKEYS_SET:
    case REDIS_GETKEYS_BITFIELD:
        keys_flagged(row, argv, argc, keys);
        break;
    case REDIS_GETKEYS_GEORADIUS: {
        keys_add(keys, 1, 0);
        int64_t store = 0;
        /* Bounded by the arguments. */
        for (int64_t at = 5; at < argc; at++) {
            if ((cmd_arg_is(argv[at], "store") || cmd_arg_is(argv[at], "storedist")) &&
                at + 1 < argc) {
                store = ++at;
            }
        }
        if (store != 0) {
            keys_add(keys, store, 0);
        }
        break;
    }
    case REDIS_GETKEYS_MIGRATE:
        keys_migrate(argv, argc, keys);
        break;
    default:
        break; /* NONE: no keys */
    }
}

/* Redis's getKeysFromCommandWithSpecs: the specs when they are reliable and fit the
 * arguments, else the command's own finder. Returns whether the specs were used. */
static bool keys_find(const struct redis_command_row *row, const struct slice *argv,
                      int64_t argc, struct keys_found *keys)
{
    bool has_keys = false;
    bool variable = false;
    bool incomplete = false;
    /* Bounded by the row's specs. */
    for (uint32_t index = 0; index < row->spec_count; index++) {
        uint16_t flags = redis_key_specs[row->spec_first + index].flags;
        has_keys |= (flags & (1u << KEY_FLAG_NOT_KEY)) == 0;
        variable |= (flags & (1u << KEY_FLAG_VARIABLE_FLAGS)) != 0;
        incomplete |= (flags & (1u << KEY_FLAG_INCOMPLETE)) != 0;
    }
    /* An incomplete spec that matched sends Redis to the command's finder, its keys only
     * (the specs' partial ones are dropped): the specs are tried first without visiting or
     * answering, so no key is visited twice (MIGRATE's "" before its KEYS). */
    if (incomplete && row->getkeys != REDIS_GETKEYS_NONE) {
        struct keys_found dry = *keys;
        dry.visit = NULL;
        dry.reply = NULL;
        if (!(has_keys && !variable && keys_by_specs(row, argv, argc, &dry))) {
            keys_by_function(row, argv, argc, keys);
            return false;
        }
    }
    if (has_keys && !variable && keys_by_specs(row, argv, argc, keys)) {
        return true;
    }
    keys_by_function(row, argv, argc, keys);
    return false;
}

void cmd_keys_each(const struct slice *args, uint32_t arg_count,
                   void (*visit)(void *context, struct slice key), void *context)
{
    KV_ASSERT(arg_count >= 1 && visit != NULL);
    const struct redis_command_row *row = row_find(args[0]);
    if (row != NULL && row->sub_count > 0 && arg_count > 1) {
        row = row_sub(row, args[1]);
    }
    if (row == NULL) {
        return;
    }
    struct keys_found keys = {.argv = args, .visit = visit, .visit_context = context};
    (void)keys_find(row, args, arg_count, &keys);
}

/* COMMAND GETKEYS|GETKEYSANDFLAGS command args...: the command as lookupCommand finds it
 * (a container's subcommand by the next argument). */
static void command_getkeys(struct cmd_context *context, const struct slice *args,
                            uint32_t arg_count, bool with_flags)
{
    KV_ASSERT(arg_count >= 4);
    const struct slice *argv = args + 2;
    int64_t argc = arg_count - 2;
    const struct redis_command_row *row = NULL;
    if (cmd_find(argv, 1) != CMD_NONE) {
        row = row_find(argv[0]);
    }
    if (row != NULL && row->sub_count > 0 && argc > 1) {
        row = row_sub(row, argv[1]);
    }
    bool has_keys = row != NULL && row->getkeys != REDIS_GETKEYS_NONE;
    /* Bounded by the row's specs. */
    for (uint32_t index = 0; row != NULL && index < row->spec_count; index++) {
        has_keys |= (redis_key_specs[row->spec_first + index].flags &
                     (1u << KEY_FLAG_NOT_KEY)) == 0;
    }
    if (row == NULL) {
        reply_error(&context->reply, REPLY_ERROR_GETKEYS_COMMAND);
    } else if (!has_keys) {
        reply_error(&context->reply, REPLY_ERROR_GETKEYS_NO_KEYS);
    } else if ((row->arity > 0 && row->arity != argc) || argc < -row->arity) {
        reply_error(&context->reply, REPLY_ERROR_GETKEYS_ARITY);
    } else {
        struct keys_found keys = {.argv = argv, .with_flags = with_flags};
        bool by_specs = keys_find(row, argv, argc, &keys);
        if (keys.count == 0) {
            row->no_mandatory_keys ? reply_array(&context->reply, 0)
                                   : reply_error(&context->reply, REPLY_ERROR_GETKEYS_ARGUMENTS);
            return;
        }
        uint32_t counted = keys.count;
        reply_array(&context->reply, counted);
        keys = (struct keys_found){.reply = &context->reply, .argv = argv,
                                   .with_flags = with_flags};
        if (by_specs) {
            bool fits = keys_by_specs(row, argv, argc, &keys);
            KV_ASSERT(fits); /* the same walk as the count's */
        } else {
            keys_by_function(row, argv, argc, &keys);
        }
        KV_ASSERT(keys.count == counted);
    }
}

/* ---- The command ------------------------------------------------------------------------ */

static const char *const command_help[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
};

CMD_HANDLER(cmd_command)
{
    KV_ASSERT(arg_count >= 1); /* arity -1 */
    uint64_t length_before = context->reply.total;
    if (arg_count == 1) {
        command_info(context, NULL, 0);
    } else if (cmd_subcommand_is(context, args, arg_count, "count", 2, "command|count")) {
        reply_integer(&context->reply, cmd_count());
    } else if (cmd_subcommand_is(context, args, arg_count, "info", -2, "command|info")) {
        command_info(context, args + 2, arg_count - 2);
    } else if (cmd_subcommand_is(context, args, arg_count, "docs", -2, "command|docs")) {
        command_docs(context, args + 2, arg_count - 2);
    } else if (cmd_subcommand_is(context, args, arg_count, "list", -2, "command|list")) {
        command_list(context, args, arg_count);
    } else if (cmd_subcommand_is(context, args, arg_count, "getkeys", -4, "command|getkeys")) {
        command_getkeys(context, args, arg_count, false);
    } else if (cmd_subcommand_is(context, args, arg_count, "getkeysandflags", -4,
                                 "command|getkeysandflags")) {
        command_getkeys(context, args, arg_count, true);
    } else if (cmd_subcommand_is(context, args, arg_count, "help", 2, "command|help")) {
        cmd_reply_help(&context->reply, command_help,
                       sizeof(command_help) / sizeof(command_help[0]));
    } else if (context->reply.total == length_before) {
        reply_error_unknown_subcommand(&context->reply, args[1], "COMMAND");
    }
    KV_ASSERT(context->reply.total > length_before);
}

static const struct cmd command_cmds[] = {
    {"command", -1, 0, 0, 0, 0, cmd_command},
};

CMD_FAMILY(cmd_family_command, "server", command_cmds);

const char *cmd_acl_category_at(uint32_t index)
{
    return index < ACL_CATEGORY_COUNT ? redis_acl_categories[index] : NULL;
}

bool cmd_redis_row_at(uint32_t index, const char **name, uint32_t *categories)
{
    if (index >= REDIS_COMMAND_ROWS) {
        return false;
    }
    *name = redis_command_rows[index].name;
    *categories = redis_command_rows[index].categories;
    KV_ASSERT(*name != NULL);
    return true;
}

/* The flags field of a row's encoded INFO (its third: after the name's bulk and the arity's
 * integer, a set of status words) as enum cmd_redis_flag bits. */
static uint32_t row_flags(const struct redis_command_row *row)
{
    static const struct {
        const char *word;
        uint32_t bit;
    } known[] = {
        {"write", CMD_REDIS_WRITE},   {"readonly", CMD_REDIS_READONLY},
        {"admin", CMD_REDIS_ADMIN},   {"skip_monitor", CMD_REDIS_SKIP_MONITOR},
        {"may_replicate", CMD_REDIS_MAY_REPLICATE},
    };
    const char *at = row->info;
    KV_ASSERT(*at == 'b');
    at++;
    at += encoded_number(&at);
    KV_ASSERT(*at == 'i');
    at++;
    (void)encoded_number(&at);
    KV_ASSERT(*at == 's');
    at++;
    int64_t count = encoded_number(&at);
    uint32_t flags = 0;
    /* Bounded by the set's entries (a command has fewer than twenty flags). */
    for (int64_t entry = 0; entry < count; entry++) {
        KV_ASSERT(*at == '+');
        at++;
        int64_t length = encoded_number(&at);
        for (uint32_t index = 0; index < sizeof(known) / sizeof(known[0]); index++) {
            if (strlen(known[index].word) == (size_t)length &&
                memcmp(known[index].word, at, (size_t)length) == 0) {
                flags |= known[index].bit;
            }
        }
        at += length;
    }
    /* COMMAND INFO does not show may_replicate; Redis 7.0's commands.c gives it to these. */
    static const char *const may_replicate[] = {"eval", "evalsha", "fcall", "pfcount",
                                                "publish", "spublish"};
    for (uint32_t index = 0; index < sizeof(may_replicate) / sizeof(may_replicate[0]); index++) {
        flags |= strcmp(row->name, may_replicate[index]) == 0 ? CMD_REDIS_MAY_REPLICATE : 0u;
    }
    return flags;
}

uint32_t cmd_redis_flags(const struct slice *args, uint32_t arg_count)
{
    KV_ASSERT(arg_count >= 1);
    const struct redis_command_row *row = row_find(args[0]);
    if (row == NULL) {
        return 0;
    }
    if (row->sub_count > 0 && arg_count > 1) {
        const struct redis_command_row *sub = row_sub(row, args[1]);
        row = sub != NULL ? sub : row;
    }
    return row_flags(row);
}
