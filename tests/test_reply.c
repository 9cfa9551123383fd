/*
 * Proves the error table gives every id one well-formed line: each id, written into a reply
 * (with sample arguments where it takes some), is a non-empty line that starts with '-' and
 * an upper-case code, ends in "\r\n" and holds no other CR or LF; reply_error_line gives
 * the same bytes reply_error writes; no two ids share a line. Exact bytes for a few ids of
 * each kind: fixed, limit lines built from the configuration, and formatted ones (numbers
 * at their extremes, echoes cut at their precision and at a NUL byte, CR and LF turned into
 * spaces as Redis 7.0.15 answers). Bounds: with the longest arguments every formatted line
 * fits PLAN_REPLY_ERROR_BYTES, except CONFIG SET's failure, cut at
 * REPLY_ERROR_TEXT_BYTES_MAX; a reply with exactly the room a line needs takes it, one byte
 * less asserts (forked child), as do a limit line before reply_errors_init and an id given
 * to the wrong function. Echoes of random client bytes (seeded PRNG; the seed is printed on
 * failure and KV_SEED replays it) match a model of Redis's "%.128s" and sanitizing.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "check_abort.h"
#include "fixture.h"
#include "plan.h"
#include "reply.h"

/* Room for the longest line: the DENIED line (about 1 KiB) and a cut formatted line. */
#define BUFFER_BYTES 4096u

/* Random echoes: how many, and the longest argument (past every precision in the table). */
#define ECHO_ROUNDS 20000u
#define ECHO_ARG_BYTES_MAX 400u

/* A reply's bytes against an expected C string. */
#define CHECK_STR_REPLY(reply, want) CHECK_BYTES((reply).bytes, (reply).length, (want), strlen(want))

static uint8_t buffer_bytes[BUFFER_BYTES];

static struct reply reply_empty(void)
{
    return (struct reply){.bytes = buffer_bytes, .length = 0, .capacity = BUFFER_BYTES};
}

/* Client bytes of the longest kind: 300 bytes, past every precision in the table. */
static uint8_t long_arg_bytes[300];

/* A reason as long as config_set may give (its buffer is 256 bytes with the NUL). */
static char long_reason[256];

/* Writes a formatted id with sample arguments: `longest` picks the longest ones. False for
 * an id this test has no sample for (a new id must get one here). */
static bool write_with_samples(struct reply *reply, enum reply_error error, bool longest)
{
    struct slice arg = longest ? (struct slice){.bytes = long_arg_bytes,
                                                .length = sizeof(long_arg_bytes)}
                               : slice_text("opt");
    const char *name = longest ? "zrangebyscore|withscores-longest" : "get";
    const char *reason = longest ? long_reason : "option hz: 'x' is not a whole number";
    unsigned int u = longest ? UINT32_MAX : 7u;
    switch (error) {
    case REPLY_ERROR_SUBSCRIBED_CONTEXT:
    case REPLY_ERROR_EXPIRE_TIME_INVALID:
    case REPLY_ERROR_ZSET_KEYS_NEEDED:
    case REPLY_ERROR_CONFIG_REWRITE_FAILED:
    case REPLY_ERROR_MISCONF_AOF:
        reply_error_format(reply, error, name);
        return true;
    case REPLY_ERROR_CLIENT_NAME_TOO_LONG:
    case REPLY_ERROR_TRANSACTION_TOO_LARGE:
        reply_error_format(reply, error, u);
        return true;
    case REPLY_ERROR_HELLO_OPTION:
    case REPLY_ERROR_CLIENT_TYPE_UNKNOWN:
    case REPLY_ERROR_NO_SUCH_USER:
    case REPLY_ERROR_LATENCY_NO_SAMPLES:
    case REPLY_ERROR_ACL_UNKNOWN_CATEGORY:
    case REPLY_ERROR_ACL_USER_NOT_FOUND:
    case REPLY_ERROR_ACL_COMMAND_NOT_FOUND:
    case REPLY_ERROR_ACL_RULE_UNSUPPORTED:
    case REPLY_ERROR_SETINFO_OPTION_UNKNOWN:
    case REPLY_ERROR_SETINFO_TOO_LONG:
    case REPLY_ERROR_SETINFO_INVALID:
    case REPLY_ERROR_EXPIRE_OPTION_UNKNOWN:
    case REPLY_ERROR_CONFIG_SET_UNKNOWN:
    case REPLY_ERROR_CONFIG_SET_IMMUTABLE:
    case REPLY_ERROR_CONFIG_SET_UNREADABLE:
    case REPLY_ERROR_SCRIPT_COMPILE:
    case REPLY_ERROR_SHEBANG_ENGINE:
    case REPLY_ERROR_SHEBANG_FLAG:
    case REPLY_ERROR_SHEBANG_OPTION:
    case REPLY_ERROR_FUNCTION_COMPILE:
    case REPLY_ERROR_FUNCTION_REGISTER:
    case REPLY_ERROR_LIBRARY_EXISTS:
    case REPLY_ERROR_LIBRARY_EXISTS_RESTORE:
    case REPLY_ERROR_FUNCTION_EXISTS:
    case REPLY_ERROR_ENGINE_NOT_FOUND:
    case REPLY_ERROR_LIBRARY_METADATA_VALUE:
    case REPLY_ERROR_FUNCTION_LOAD_OPTION:
    case REPLY_ERROR_FUNCTION_LIST_ARGUMENT:
    case REPLY_ERROR_GEO_LONLAT_INVALID:
    case REPLY_ERROR_GEO_FROM_ONE:
    case REPLY_ERROR_GEO_BY_ONE:
    case REPLY_ERROR_PFDEBUG_SUBCOMMAND:
        reply_error_format(reply, error, &arg);
        return true;
    case REPLY_ERROR_SUBCOMMAND_SYNTAX:
        reply_error_format(reply, error, &arg, "FUNCTION");
        return true;
    case REPLY_ERROR_STREAM_XCLAIM_OPTION:
        reply_error_format(reply, error, &arg);
        return true;
    case REPLY_ERROR_STREAM_NOGROUP_XREADGROUP:
    case REPLY_ERROR_STREAM_NOGROUP:
    case REPLY_ERROR_STREAM_NOGROUP_FOR_KEY:
        reply_error_format(reply, error, &arg, &arg);
        return true;
    case REPLY_ERROR_CONFIG_SET_FAILED:
        reply_error_format(reply, error, &arg, reason);
        return true;
    case REPLY_ERROR_TRACKING_PREFIX_OVERLAP:
    case REPLY_ERROR_TRACKING_PREFIX_OVERLAP_NEW:
        reply_error_format(reply, error, &arg, &arg);
        return true;
    case REPLY_ERROR_SCRIPT_RUNNING:
        reply_error_format(reply, error, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", &arg);
        return true;
    /* Cluster mode (cmd_cluster.c, cmd.c's redirections). */
    case REPLY_ERROR_CLUSTER_SLOT_BUSY:
    case REPLY_ERROR_CLUSTER_SLOT_UNASSIGNED:
    case REPLY_ERROR_CLUSTER_SLOT_TWICE:
    case REPLY_ERROR_CLUSTER_NOT_OWNER:
    case REPLY_ERROR_CLUSTER_ALREADY_OWNER:
    case REPLY_ERROR_CLUSTER_SLOT_HAS_KEYS:
        reply_error_format(reply, error, u);
        return true;
    case REPLY_ERROR_CLUSTER_SLOT_RANGE_ORDER:
        reply_error_format(reply, error, u, u);
        return true;
    case REPLY_ERROR_MIGRATE_TARGET:
        reply_error_format(reply, error, name);
        return true;
    case REPLY_ERROR_CLUSTER_MOVED:
    case REPLY_ERROR_CLUSTER_ASK:
        reply_error_format(reply, error, u, name, u);
        return true;
    case REPLY_ERROR_CLUSTER_NODE_UNKNOWN_SETSLOT:
    case REPLY_ERROR_CLUSTER_NODE_UNKNOWN:
    case REPLY_ERROR_CLUSTER_MEET_PORT:
    case REPLY_ERROR_CLUSTER_MEET_BUS_PORT:
        reply_error_format(reply, error, &arg);
        return true;
    case REPLY_ERROR_CLUSTER_MEET_ADDRESS:
        reply_error_format(reply, error, &arg, &arg);
        return true;
    case REPLY_ERROR_CLUSTER_EPOCH_INVALID:
    case REPLY_ERROR_CLUSTER_SAVECONFIG:
        reply_error_format(reply, error, name);
        return true;
    default:
        return false;
    }
}

/* One id's line into an empty reply, by the function its kind takes. */
static bool write_id(struct reply *reply, enum reply_error error, bool longest)
{
    if (reply_error_has_arguments(error)) {
        return write_with_samples(reply, error, longest);
    }
    reply_error(reply, error);
    return true;
}

/* '-', an upper-case code, a space, text without CR or LF, then "\r\n". */
static bool line_well_formed(const uint8_t *line, uint32_t length)
{
    if (length < 5 || line[0] != '-' || line[length - 2] != '\r' || line[length - 1] != '\n') {
        return false;
    }
    uint32_t code_bytes = 0;
    while (1 + code_bytes < length && line[1 + code_bytes] >= 'A' && line[1 + code_bytes] <= 'Z') {
        code_bytes++;
    }
    if (code_bytes < 2 || line[1 + code_bytes] != ' ') {
        return false;
    }
    return memchr(line, '\r', length - 2) == NULL && memchr(line, '\n', length - 2) == NULL;
}

static void check_every_id(void)
{
    static uint8_t seen[REPLY_ERROR_COUNT][BUFFER_BYTES];
    static uint32_t seen_lengths[REPLY_ERROR_COUNT];
    for (uint32_t error = REPLY_ERROR_NONE + 1; error < REPLY_ERROR_COUNT; error++) {
        for (int longest = 0; longest <= 1; longest++) {
            struct reply reply = reply_empty();
            bool written = write_id(&reply, (enum reply_error)error, longest);
            if (!written) {
                fprintf(stderr, "error id %u takes arguments but has no sample here\n", error);
            }
            CHECK(written);
            /* Redis's shared.err ("-ERR" alone: SAVE's failure) has no text after its code. */
            CHECK(error == REPLY_ERROR_SAVE_FAILED || line_well_formed(reply.bytes, reply.length));
            /* Every line fits the bound a small reply reserves, but the DENIED line (sent
             * alone, before any command) and CONFIG SET's failure with a long reason. */
            /* ... and ACL SAVE/LOAD's no-file line (Redis's text, 289 bytes) and the RDB's
             * MISCONF (Redis's text, 365 bytes): fixed lines written into a growing reply. */
            bool long_fixed = error == REPLY_ERROR_DENIED || error == REPLY_ERROR_ACL_NO_FILE ||
                              error == REPLY_ERROR_MISCONF_RDB;
            bool exempt = long_fixed || (error == REPLY_ERROR_CONFIG_SET_FAILED && longest);
            CHECK(exempt || reply.length <= PLAN_REPLY_ERROR_BYTES);
            CHECK(reply.length <= REPLY_ERROR_TEXT_BYTES_MAX + 3 || long_fixed);
            if (!written) {
                continue;
            }
            if (!reply_error_has_arguments((enum reply_error)error)) {
                struct slice line = reply_error_line((enum reply_error)error);
                CHECK_BYTES(line.bytes, line.length, reply.bytes, reply.length);
            }
            if (!longest) {
                memcpy(seen[error], reply.bytes, reply.length);
                seen_lengths[error] = reply.length;
            }
        }
    }
    /* No two ids share a line: one id per meaning. Bounded by the id count squared. */
    for (uint32_t first = REPLY_ERROR_NONE + 1; first < REPLY_ERROR_COUNT; first++) {
        for (uint32_t second = first + 1; second < REPLY_ERROR_COUNT; second++) {
            bool same = seen_lengths[first] == seen_lengths[second] &&
                        memcmp(seen[first], seen[second], seen_lengths[first]) == 0;
            if (same) {
                fprintf(stderr, "error ids %u and %u share a line\n", first, second);
            }
            CHECK(!same);
        }
    }
}

static void check_line(enum reply_error error, const char *want)
{
    struct reply reply = reply_empty();
    reply_error(&reply, error);
    CHECK_BYTES(reply.bytes, reply.length, want, strlen(want));
}

static void check_fixed_and_limits(void)
{
    check_line(REPLY_ERROR_WRONGTYPE,
               "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    check_line(REPLY_ERROR_MAX_CLIENTS, "-ERR max number of clients reached\r\n");
    check_line(REPLY_ERROR_EXECABORT,
               "-EXECABORT Transaction discarded because of previous errors.\r\n");
    check_line(REPLY_ERROR_KEY_TOO_LONG, "-ERR key is too long (key_size_max is 777 bytes)\r\n");
    check_line(REPLY_ERROR_ARGUMENT_TOO_LONG,
               "-ERR argument is too long (the longest key or value is 4096 bytes)\r\n");
    check_line(REPLY_ERROR_COMMAND_TOO_LARGE,
               "-ERR command is too large (client-query-buffer-limit is 4294967295 bytes)\r\n");
    check_line(REPLY_ERROR_STORE_FULL, "-ERR store is full (key_count is 0 keys)\r\n");
    check_line(REPLY_ERROR_WATCH_KEYS_FULL, "-ERR too many watched keys (watch_keys_max is 5)\r\n");
    check_line(REPLY_ERROR_CHANNELS_FULL,
               "-ERR too many channels (pubsub_channels_max is 1024)\r\n");
    struct slice denied = reply_error_line(REPLY_ERROR_DENIED);
    CHECK(denied.length == 1066);
    CHECK(memcmp(denied.bytes, "-DENIED Redis is running in protected mode", 42) == 0);
}

static void check_formatted(void)
{
    static const struct {
        enum reply_error error;
        const char *arg;
        uint32_t arg_bytes;
        const char *want;
    } echoes[] = {
        /* CR and LF become spaces, as Redis 7.0.15 answers these. */
        {REPLY_ERROR_HELLO_OPTION, "x\r\ny", 4, "-ERR Syntax error in HELLO option 'x  y'\r\n"},
        {REPLY_ERROR_CLIENT_TYPE_UNKNOWN, "a\r\nb", 4, "-ERR Unknown client type 'a  b'\r\n"},
        {REPLY_ERROR_NO_SUCH_USER, "x\ny", 3, "-ERR No such user 'x y'\r\n"},
        {REPLY_ERROR_CONFIG_SET_UNKNOWN, "fo\no", 4,
         "-ERR Unknown option or number of arguments for CONFIG SET - 'fo o'\r\n"},
        /* A NUL byte ends the echo, as %s of a C string ends there. */
        {REPLY_ERROR_CONFIG_SET_UNKNOWN, "fo\0o", 4,
         "-ERR Unknown option or number of arguments for CONFIG SET - 'fo'\r\n"},
        {REPLY_ERROR_EXPIRE_OPTION_UNKNOWN, "a\0b", 3, "-ERR Unsupported option a\r\n"},
        /* A trailing LF stays a space (kv does not trim it as Redis does). */
        {REPLY_ERROR_EXPIRE_OPTION_UNKNOWN, "FO\nO\r", 5, "-ERR Unsupported option FO O \r\n"},
        {REPLY_ERROR_SETINFO_INVALID, "lib-Ver", 7,
         "-ERR lib-Ver cannot contain spaces, newlines or special characters.\r\n"},
        {REPLY_ERROR_CONFIG_SET_IMMUTABLE, "port", 4,
         "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
         "config\r\n"},
        {REPLY_ERROR_NO_SUCH_USER, NULL, 0, "-ERR No such user ''\r\n"},
    };
    /* Bounded by the table above. */
    for (uint32_t index = 0; index < sizeof(echoes) / sizeof(echoes[0]); index++) {
        struct reply reply = reply_empty();
        struct slice arg = {.bytes = (const uint8_t *)echoes[index].arg,
                            .length = echoes[index].arg_bytes};
        reply_error_format(&reply, echoes[index].error, &arg);
        CHECK_BYTES(reply.bytes, reply.length, echoes[index].want, strlen(echoes[index].want));
    }
    struct reply reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_EXPIRE_TIME_INVALID, "pexpireat");
    CHECK_STR_REPLY(reply, "-ERR invalid expire time in 'pexpireat' command\r\n");
    reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_CONFIG_SET_FAILED, &(struct slice){0}, "a\r\nb");
    CHECK_STR_REPLY(reply, "-ERR CONFIG SET failed (possibly related to argument '') - a  b\r\n");
}

/* Echoes cut at the table's precision; CONFIG SET's failure cut at the text bound. */
static void check_cuts(void)
{
    struct slice arg = {.bytes = long_arg_bytes, .length = sizeof(long_arg_bytes)};
    struct reply reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_HELLO_OPTION, &arg);
    CHECK(reply.length == strlen("-ERR Syntax error in HELLO option ''\r\n") + 128);
    reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_EXPIRE_OPTION_UNKNOWN, &arg);
    CHECK(reply.length == strlen("-ERR Unsupported option \r\n") + 160);
    reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_CONFIG_SET_FAILED, &arg, long_reason);
    CHECK(reply.length == 1 + REPLY_ERROR_TEXT_BYTES_MAX + 2);
    static const char head[] = "-ERR CONFIG SET failed (possibly related to argument '";
    CHECK(memcmp(reply.bytes, head, sizeof(head) - 1) == 0);
    CHECK(memcmp(reply.bytes + sizeof(head) - 1, long_arg_bytes, 64) == 0);
    CHECK(memcmp(reply.bytes + sizeof(head) - 1 + 64, "') - ", 5) == 0);
    CHECK(memcmp(reply.bytes + reply.length - 3, "r\r\n", 3) == 0);
    /* One byte short of the bound: nothing is cut. */
    char reason[256];
    uint32_t fixed_bytes = (uint32_t)(sizeof(head) - 1) - 1 + 64 + 5;
    uint32_t reason_bytes = REPLY_ERROR_TEXT_BYTES_MAX - fixed_bytes - 1;
    memset(reason, 's', reason_bytes);
    reason[reason_bytes] = '\0';
    reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_CONFIG_SET_FAILED, &arg, reason);
    CHECK(reply.length == 1 + REPLY_ERROR_TEXT_BYTES_MAX - 1 + 2);
    CHECK(memcmp(reply.bytes + reply.length - 3, "s\r\n", 3) == 0);
}

/* Redis's "%.128s" of client bytes, sanitized: the model the random echoes are held to. */
static uint32_t model_echo(const uint8_t *arg, uint32_t arg_bytes, uint8_t *out)
{
    uint32_t count = 0;
    while (count < arg_bytes && count < 128 && arg[count] != 0) {
        out[count] = (arg[count] == '\r' || arg[count] == '\n') ? ' ' : arg[count];
        count++;
    }
    return count;
}

static void check_random_echoes(uint64_t seed)
{
    prng_state = seed;
    static const uint8_t alphabet[] = {'a', 'Z', '\r', '\n', '\0', ' ', '\'', '%', 0xff, '9'};
    uint8_t arg[ECHO_ARG_BYTES_MAX];
    uint8_t want[ECHO_ARG_BYTES_MAX + 64];
    int failures_before = check_failures;
    for (uint32_t round = 0; round < ECHO_ROUNDS && check_failures == failures_before; round++) {
        uint32_t arg_bytes = (uint32_t)(prng_next() % (ECHO_ARG_BYTES_MAX + 1));
        /* Mostly printable runs, so that the 128-byte cut is reached often. */
        for (uint32_t index = 0; index < arg_bytes; index++) {
            uint64_t pick = prng_next();
            arg[index] = pick % 16 == 0 ? alphabet[(pick >> 8) % sizeof(alphabet)]
                                        : (uint8_t)('a' + (pick >> 8) % 26);
        }
        static const char head[] = "-ERR Unknown client type '";
        uint32_t want_bytes = sizeof(head) - 1;
        memcpy(want, head, want_bytes);
        want_bytes += model_echo(arg, arg_bytes, want + want_bytes);
        memcpy(want + want_bytes, "'\r\n", 3);
        want_bytes += 3;
        struct reply reply = reply_empty();
        struct slice slice = {.bytes = arg, .length = arg_bytes};
        reply_error_format(&reply, REPLY_ERROR_CLIENT_TYPE_UNKNOWN, &slice);
        CHECK_BYTES(reply.bytes, reply.length, want, want_bytes);
    }
    if (check_failures != failures_before) {
        fprintf(stderr, "random echoes failed with seed %llu (KV_SEED=%llu replays it)\n",
                (unsigned long long)seed, (unsigned long long)seed);
    }
}

static void limit_before_init(void *unused)
{
    (void)unused;
    (void)reply_error_line(REPLY_ERROR_KEY_TOO_LONG);
}

static void fixed_given_arguments(void *unused)
{
    (void)unused;
    struct reply reply = reply_empty();
    reply_error_format(&reply, REPLY_ERROR_SYNTAX, 1u);
}

static void format_given_alone(void *unused)
{
    (void)unused;
    struct reply reply = reply_empty();
    reply_error(&reply, REPLY_ERROR_HELLO_OPTION);
}

/* HELLO's option error for "x", 39 bytes. */
static const char hello_x_line[] = "-ERR Syntax error in HELLO option 'x'\r\n";

/* A reply with one byte less room than the line needs must not take it. */
static void format_one_byte_short(void *unused)
{
    (void)unused;
    struct reply reply = {.bytes = buffer_bytes, .length = 0, .capacity = sizeof(hello_x_line) - 2};
    struct slice arg = slice_text("x");
    reply_error_format(&reply, REPLY_ERROR_HELLO_OPTION, &arg);
}

static void check_room(void)
{
    struct reply exact = {.bytes = buffer_bytes, .length = 0, .capacity = sizeof(hello_x_line) - 1};
    struct slice arg = slice_text("x");
    reply_error_format(&exact, REPLY_ERROR_HELLO_OPTION, &arg);
    CHECK_BYTES(exact.bytes, exact.length, hello_x_line, sizeof(hello_x_line) - 1);
    CHECK(check_dies_asserting(format_one_byte_short, NULL, "reply->grow != NULL"));
    CHECK(check_dies_asserting(fixed_given_arguments, NULL, "REPLY_ERROR_KIND_FORMAT"));
    CHECK(check_dies_asserting(format_given_alone, NULL, "REPLY_ERROR_KIND_FORMAT"));
}

/* Bulk strings on both sides of the length composed whole (64 bytes), the empty one, and
 * integers at the int64 limits: the bytes Redis sends. */
static void check_bulk_and_numbers(void)
{
    static const uint32_t lengths[] = {0, 1, 3, 63, 64, 65, 300};
    char value[300];
    char want[400];
    /* Bounded by the table. */
    for (uint32_t index = 0; index < sizeof(lengths) / sizeof(lengths[0]); index++) {
        uint32_t length = lengths[index];
        for (uint32_t at = 0; at < length; at++) {
            value[at] = (char)('a' + (at * 7 + index) % 26);
        }
        int header = snprintf(want, sizeof(want), "$%u\r\n", length);
        CHECK(header > 0);
        memcpy(want + header, value, length);
        memcpy(want + header + length, "\r\n", 2);
        struct reply reply = reply_empty();
        reply_bulk(&reply, (struct slice){.bytes = (const uint8_t *)value, .length = length});
        CHECK_BYTES(reply.bytes, reply.length, want, (uint32_t)header + length + 2u);
        CHECK(reply.total == reply.length && reply.first == '$');
    }
    struct reply reply = reply_empty();
    reply_integer(&reply, INT64_MIN);
    reply_integer(&reply, INT64_MAX);
    reply_integer(&reply, 0);
    reply_array(&reply, 12);
    CHECK_STR_REPLY(reply, ":-9223372036854775808\r\n:9223372036854775807\r\n:0\r\n*12\r\n");
}

/* Every RESP3 encoder on a RESP3 writer and a RESP2 one: the bytes Redis 7.0.15 sends for
 * each (HELLO 3 and HELLO 2 to redis-server, its addReply* in networking.c). */
static void check_resp3_types(void)
{
    static const char *const wanted[2] = {
        /* RESP2 */
        "*4\r\n*3\r\n*2\r\n*4\r\n$3\r\n2.5\r\n$3\r\ninf\r\n$4\r\n-inf\r\n$4\r\n0.25\r\n"
        "$-1\r\n*-1\r\n:1\r\n:0\r\n$20\r\n12345678901234567890\r\n$2\r\nhi\r\n"
        "$5\r\na\nb\r\n\r\n$0\r\n\r\n*6\r\n$4\r\n-0.5\r\n",
        /* RESP3 */
        "%2\r\n~3\r\n>2\r\n*2\r\n*2\r\n,2.5\r\n,inf\r\n,-inf\r\n$4\r\n0.25\r\n"
        "_\r\n_\r\n#t\r\n#f\r\n(12345678901234567890\r\n=6\r\ntxt:hi\r\n"
        "=9\r\ntxt:a\nb\r\n\r\n=4\r\nmkd:\r\n*3\r\n,-0.5\r\n",
    };
    /* Bounded: two protocols. */
    for (uint32_t resp3 = 0; resp3 < 2; resp3++) {
        struct reply reply = reply_empty();
        reply.resp3 = resp3 == 1;
        CHECK(reply_protocol(&reply) == (resp3 == 1 ? 3u : 2u));
        reply_map(&reply, 2);
        reply_set(&reply, 3);
        reply_push(&reply, 2);
        reply_pairs(&reply, 2);
        reply_pair(&reply);
        reply_score(&reply, 2.5);
        reply_score(&reply, INFINITY);
        reply_score(&reply, -INFINITY);
        reply_score_bulk(&reply, 0.25);
        reply_null(&reply);
        reply_null_array(&reply);
        reply_bool(&reply, true);
        reply_bool(&reply, false);
        reply_bignum(&reply, slice_text("12345678901234567890"));
        reply_verbatim(&reply, slice_text("hi"), "txt");
        reply_verbatim(&reply, slice_text("a\nb\r\n"), "txt");
        reply_verbatim(&reply, slice_text(""), "mkd");
        reply_pairs(&reply, 3);
        reply_score(&reply, -0.5);
        CHECK_STR_REPLY(reply, wanted[resp3]);
    }
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL);
    memset(long_arg_bytes, 'x', sizeof(long_arg_bytes));
    memset(long_reason, 'r', sizeof(long_reason) - 1);
    /* Fixed lines work before reply_errors_init (protected mode needs its line first); a
     * limit line does not exist yet. */
    check_line(REPLY_ERROR_NOAUTH, "-NOAUTH Authentication required.\r\n");
    CHECK(check_dies_asserting(limit_before_init, NULL, "limit_lengths[slot] > 0"));
    struct config config;
    config_defaults(&config);
    config.key_size_max = 777;
    config.val_size_max = 4096;
    config.key_count = 0;
    config.watch_keys_max = 5;
    config.pubsub_channels_max = 1024;
    reply_errors_init(&config, UINT32_MAX);
    check_every_id();
    check_fixed_and_limits();
    check_formatted();
    check_cuts();
    check_room();
    check_bulk_and_numbers();
    check_resp3_types();
    check_random_echoes(seed);
    return check_exit("test_reply");
}
