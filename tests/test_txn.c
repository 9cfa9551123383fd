/*
 * Proves a transaction's state and the walk over its queue, with txn_verify() after every
 * step:
 * - begin, queue, fail, overflow, reset: the queue starts at the first queued command, the
 *   most arguments of a queued command is kept (EXEC's parse needs room for them), a failed
 *   transaction counts nothing more and holds no bytes, an overflow fails it, reset ends it
 *   and gives its watches back to the heap;
 * - txn_droppable keeps the queue (only the bytes before queue_start may go) exactly while
 *   txn_holds, and txn_shift moves queue_start with a compaction only then;
 * - a walk over a receive buffer holding queued commands mixed with commands that ran at once
 *   (multibulk and inline, one with quotes) returns every command from the first queued one to
 *   EXEC, in order, with its arguments, and stops at EXEC even with bytes after it; an empty
 *   queue walks nothing;
 * - a seeded random run of transactions against a model: commands arrive whole or split,
 *   the buffer is compacted at random points as serve_recv_room compacts it (keeping the
 *   queue), some transactions fail, and each EXEC's walk gives back exactly the commands the
 *   model recorded. The seed is printed on failure (also on an abort); KV_SEED replays it.
 */
#include <stdlib.h>

#include "check.h"
#include "fixture.h"
#include "txn.h"

/* A receive buffer as the plan sizes it at least: the parser needs room past an inline
 * request's limit. */
#define BUFFER_BYTES (RESP_INLINE_BYTES_MAX + 512u)
#define ARGS_MAX 16u
#define KEY_BYTES 32u
#define ROUNDS 3000u

static struct region region;
static struct heap heap;
static struct watch watch;
static uint8_t buffer[BUFFER_BYTES];
static uint32_t buffer_length;
static struct resp_parser parser;

static struct slice scratch_args[ARGS_MAX];
static uint8_t scratch_inline[BUFFER_BYTES];
static const struct resp_scratch scratch = {.args = scratch_args,
                                            .inline_bytes = scratch_inline,
                                            .args_max = ARGS_MAX,
                                            .arg_bytes_max = KEY_BYTES,
                                            .bulk_bytes_limit = RESP_BULK_BYTES_LIMIT};

static void buffer_reset(void)
{
    buffer_length = 0;
    resp_parser_init(&parser);
}

static void append(const char *bytes)
{
    uint32_t length = (uint32_t)strlen(bytes);
    KV_ASSERT(buffer_length + length <= BUFFER_BYTES);
    memcpy(buffer + buffer_length, bytes, length);
    buffer_length += length;
}

/* Parses the next whole command; its start in *start. */
static bool parse_next(uint32_t *start, struct resp_command *command)
{
    *start = parser.command_start;
    enum resp_status status =
        resp_parse(&parser, &scratch, buffer, buffer_length, BUFFER_BYTES, command);
    KV_ASSERT(status == RESP_COMMAND || status == RESP_NEED_MORE);
    return status == RESP_COMMAND;
}

/* Compacts the buffer as serve_recv_room does: drops what the transaction does not hold. */
static uint32_t compact(struct txn *txn)
{
    uint32_t droppable = txn_droppable(txn, parser.command_start);
    memmove(buffer, buffer + droppable, buffer_length - droppable);
    buffer_length -= droppable;
    resp_parser_shift(&parser, droppable);
    txn_shift(txn, droppable);
    txn_verify(txn, parser.command_start);
    return droppable;
}

static bool args_are(uint32_t arg_count, const char *const *want, uint32_t want_count)
{
    if (arg_count != want_count) {
        return false;
    }
    for (uint32_t index = 0; index < want_count; index++) {
        if (!slice_equal(scratch.args[index], text(want[index]))) {
            return false;
        }
    }
    return true;
}

static void test_state(void)
{
    struct txn txn;
    txn_init(&txn);
    CHECK(!txn.active && !txn.failed && !txn.overflowed && txn.queued == 0);
    CHECK(!txn_holds(&txn) && txn_droppable(&txn, 40) == 40);
    txn_verify(&txn, 40);
    txn_begin(&txn);
    /* Active with nothing queued: nothing to keep yet. */
    CHECK(txn.active && !txn_holds(&txn) && txn_droppable(&txn, 40) == 40);
    txn_verify(&txn, 40);
    txn_queue(&txn, 40, 5);
    CHECK(txn.queue_start == 40 && txn.queued == 1 && txn.args_max == 5);
    CHECK(txn_holds(&txn) && txn_droppable(&txn, 60) == 40 && txn_droppable(&txn, 40) == 40);
    txn_verify(&txn, 60);
    txn_queue(&txn, 60, 1000);
    CHECK(txn.queue_start == 40 && txn.queued == 2 && txn.args_max == 1000);
    txn_verify(&txn, 80);
    /* A compaction that dropped 30 bytes before the queue: the queue moves with it. */
    txn_shift(&txn, 30);
    CHECK(txn.queue_start == 10 && txn_droppable(&txn, 50) == 10);
    txn_verify(&txn, 50);
    txn_shift(&txn, 10); /* all the way to the front: nothing more may go */
    CHECK(txn.queue_start == 0 && txn_droppable(&txn, 40) == 0);
    txn_shift(&txn, 0);
    CHECK(txn.queue_start == 0);
    /* A refused command: EXEC will abort; the queue is let go and counts nothing more. */
    txn_fail(&txn);
    CHECK(txn.failed && !txn.overflowed && !txn_holds(&txn));
    CHECK(txn_droppable(&txn, 40) == 40);
    txn_queue(&txn, 45, 77);
    CHECK(txn.queued == 2 && txn.args_max == 1000);
    txn_shift(&txn, 40); /* a failed transaction holds nothing: the shift leaves it */
    CHECK(txn.queue_start == 0);
    txn_verify(&txn, 0);
    txn_reset(&txn, &watch);
    CHECK(!txn.active && !txn.failed && txn.queued == 0 && txn.args_max == 0);
    txn_verify(&txn, 0);
    /* Overflow: a holding transaction fails and lets its queue go. */
    txn_begin(&txn);
    txn_queue(&txn, 7, 9);
    txn_overflow(&txn);
    CHECK(txn.failed && txn.overflowed && !txn_holds(&txn) && txn_droppable(&txn, 90) == 90);
    txn_queue(&txn, 20, 9);
    CHECK(txn.queued == 1);
    txn_verify(&txn, 90);
    txn_reset(&txn, &watch);
    CHECK(!txn.overflowed && !txn.failed);
    txn_verify(&txn, 0);
    /* Reset gives the watches back: the heap holds what it held before. */
    /* "beta" twice: watched once. */
    uint64_t used_before = heap.used_bytes;
    const char *keys[] = {"alpha", "beta", "gamma", "beta"};
    for (uint32_t index = 0; index < 4; index++) {
        CHECK(watch_add(&watch, &txn.watches, 7, 0, text(keys[index])) == WATCH_OK);
    }
    CHECK(txn.watches.count == 3);
    CHECK(watch_key_count(&watch) == 3 && watch_link_count(&watch) == 3);
    txn_begin(&txn);
    txn_queue(&txn, 0, 1);
    txn_reset(&txn, &watch);
    CHECK(txn.watches.count == 0 && txn.watches.head == WATCH_NONE);
    CHECK(watch_key_count(&watch) == 0 && watch_link_count(&watch) == 0);
    CHECK(heap.used_bytes == used_before && watch_memory_bytes(&watch) == 0);
    watch_verify(&watch);
    txn_verify(&txn, 0);
    /* A fresh transaction after a reset. */
    txn_begin(&txn);
    CHECK(txn.active && txn.queued == 0);
    txn_reset(&txn, &watch);
}

static void test_walk(void)
{
    struct txn txn;
    txn_init(&txn);
    buffer_reset();
    /* Ran before MULTI, then MULTI, then the queue: queued commands (multibulk and inline,
     * one with a quoted argument) among commands that ran at once (WATCH's error, a PING
     * sent as the test decides). */
    append("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n");
    append("MULTI\r\n");
    uint32_t start = 0;
    struct resp_command command;
    CHECK(parse_next(&start, &command));
    resp_parser_consume(&parser, command.end);
    CHECK(parse_next(&start, &command) && command.arg_count == 1);
    resp_parser_consume(&parser, command.end);
    txn_begin(&txn);
    uint32_t multi_end = parser.command_start;
    static const struct {
        const char *bytes;
        bool queued;
        uint32_t arg_count;
        const char *args[4];
    } sent[] = {
        {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n", true, 3, {"SET", "k", "value"}},
        {"*2\r\n$5\r\nWATCH\r\n$1\r\nx\r\n", false, 2, {"WATCH", "x"}},
        {"INCR counter\r\n", true, 2, {"INCR", "counter"}},
        {"SET \"a b\" c\r\n", true, 3, {"SET", "a b", "c"}},
        {"*1\r\n$4\r\nPING\r\n", false, 1, {"PING"}},
        {"*4\r\n$5\r\nLPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n$0\r\n\r\n", true, 4, {"LPUSH", "l", "x", ""}},
    };
    uint32_t sent_count = sizeof(sent) / sizeof(sent[0]);
    for (uint32_t index = 0; index < sent_count; index++) {
        append(sent[index].bytes);
        CHECK(parse_next(&start, &command));
        if (sent[index].queued) {
            txn_queue(&txn, start, 10u + index);
        }
        resp_parser_consume(&parser, command.end);
        txn_verify(&txn, parser.command_start);
    }
    /* Argument counts 10, 12, 13 and 15 for the four queued (sent[0], [2], [3], [5]): EXEC
     * needs room for the most. */
    CHECK(txn.queue_start == multi_end && txn.queued == 4 && txn.args_max == 15);
    /* EXEC and the start of a command after it, which the walk must not reach. */
    append("*1\r\n$4\r\nEXEC\r\n*2\r\n$3\r\nGET");
    CHECK(parse_next(&start, &command) && command.arg_count == 1);
    uint32_t exec_start = start;
    /* Twice: before and after a compaction that drops everything before the queue. */
    for (uint32_t pass = 0; pass < 2; pass++) {
        struct txn_walk walk;
        txn_walk_start(&txn, &walk, exec_start);
        uint32_t arg_count = 0;
        for (uint32_t index = 0; index < sent_count; index++) {
            CHECK(txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
            CHECK(args_are(arg_count, sent[index].args, sent[index].arg_count));
        }
        CHECK(!txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
        CHECK(!txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
        if (pass == 0) {
            uint32_t dropped = compact(&txn);
            CHECK(dropped == multi_end && txn.queue_start == 0);
            exec_start -= dropped;
            CHECK(memcmp(buffer + exec_start, "*1\r\n$4\r\nEXEC", 12) == 0);
        }
    }
    resp_parser_consume(&parser, command.end);
    txn_reset(&txn, &watch);
    txn_verify(&txn, parser.command_start);
    /* MULTI then EXEC: an empty queue walks nothing. */
    buffer_reset();
    append("*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n");
    CHECK(parse_next(&start, &command));
    resp_parser_consume(&parser, command.end);
    txn_begin(&txn);
    CHECK(parse_next(&start, &command));
    struct txn_walk walk;
    txn_walk_start(&txn, &walk, start);
    uint32_t arg_count = 0;
    CHECK(!txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
    txn_reset(&txn, &watch);
}

/* One command the random run sends, as bytes and as the arguments it should parse to. */
struct sent_command {
    char bytes[160];
    uint32_t arg_count;
    char args[4][KEY_BYTES + 1];
    bool queued;             /* queued; else it ran at once */
    uint64_t offset;         /* where it starts in the whole stream sent */
};

/* A random command: multibulk or inline, 1 to 4 arguments of random letters. */
static void command_random(struct sent_command *out)
{
    out->arg_count = 1 + prng_below(4);
    bool inline_form = prng_below(3) == 0;
    int length = 0;
    if (!inline_form) {
        length = snprintf(out->bytes, sizeof(out->bytes), "*%u\r\n", out->arg_count);
    }
    for (uint32_t index = 0; index < out->arg_count; index++) {
        /* Inline arguments cannot be empty unquoted: keep them 1 byte or longer. */
        uint32_t arg_bytes = (inline_form ? 1 : 0) + prng_below(KEY_BYTES / 2);
        for (uint32_t byte = 0; byte < arg_bytes; byte++) {
            out->args[index][byte] = (char)('a' + prng_below(26));
        }
        out->args[index][arg_bytes] = '\0';
        if (inline_form) {
            length += snprintf(out->bytes + length, sizeof(out->bytes) - (size_t)length, "%s%s",
                               index == 0 ? "" : " ", out->args[index]);
        } else {
            length += snprintf(out->bytes + length, sizeof(out->bytes) - (size_t)length,
                               "$%u\r\n%s\r\n", arg_bytes, out->args[index]);
        }
    }
    if (inline_form) {
        length += snprintf(out->bytes + length, sizeof(out->bytes) - (size_t)length, "\r\n");
    }
    KV_ASSERT(length > 0 && (size_t)length < sizeof(out->bytes));
}

/* Stream bytes sent and dropped in this round: the buffer holds stream[dropped ..). */
static uint64_t stream_sent;
static uint64_t stream_dropped;

/* Sends a command, whole or split with a compaction between the parts, and parses it. */
static uint32_t send_and_parse(struct txn *txn, const char *bytes, struct resp_command *command)
{
    uint32_t length = (uint32_t)strlen(bytes);
    uint32_t split = prng_below(3) == 0 ? prng_below(length) : length;
    char part[160];
    memcpy(part, bytes, split);
    part[split] = '\0';
    append(part);
    uint32_t start = 0;
    if (split < length) {
        CHECK(!parse_next(&start, command));
        stream_dropped += compact(txn);
        append(bytes + split);
    }
    stream_sent += length;
    CHECK(parse_next(&start, command));
    CHECK(command->end - start == length);
    return start;
}

/* Checks that a walk of the queue gives the recorded commands, in order. */
static void walk_check(const struct txn *txn, uint32_t exec_start,
                       const struct sent_command *commands, uint32_t command_count,
                       uint32_t first_recorded)
{
    struct txn_walk walk;
    txn_walk_start(txn, &walk, exec_start);
    uint32_t arg_count = 0;
    uint32_t queued = 0;
    for (uint32_t index = first_recorded; index < command_count; index++) {
        const struct sent_command *want = &commands[index];
        CHECK(txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
        const char *args[4] = {want->args[0], want->args[1], want->args[2], want->args[3]};
        CHECK(args_are(arg_count, args, want->arg_count));
        queued += want->queued ? 1 : 0;
    }
    CHECK(!txn_walk_next(&walk, &scratch, buffer, BUFFER_BYTES, &arg_count));
    CHECK(queued == txn->queued);
}

/* One transaction: commands before MULTI, the queue with commands run at once among them,
 * compactions anywhere, then EXEC (walked) or a failure. Returns whether it was walked. */
static bool run_round_once(struct txn *txn)
{
    static struct sent_command commands[200];
    buffer_reset();
    stream_sent = 0;
    stream_dropped = 0;
    struct resp_command command;
    uint32_t before = prng_below(4);
    for (uint32_t index = 0; index < before; index++) {
        command_random(&commands[0]);
        (void)send_and_parse(txn, commands[0].bytes, &command);
        resp_parser_consume(&parser, command.end);
        txn_verify(txn, parser.command_start);
    }
    (void)send_and_parse(txn, "*1\r\n$5\r\nMULTI\r\n", &command);
    resp_parser_consume(&parser, command.end);
    txn_begin(txn);
    uint32_t command_count = 1 + prng_below(200);
    uint32_t first_recorded = command_count; /* the first queued command */
    bool fails = prng_below(5) == 0;
    uint32_t fail_at = prng_below(command_count);
    for (uint32_t index = 0; index < command_count; index++) {
        struct sent_command *sent = &commands[index];
        command_random(sent);
        sent->queued = prng_below(4) != 0;
        sent->offset = stream_sent;
        uint32_t start = send_and_parse(txn, sent->bytes, &command);
        if (fails && index == fail_at) {
            txn_fail(txn);
        }
        if (sent->queued) {
            txn_queue(txn, start, 1);
            first_recorded = first_recorded < index ? first_recorded : index;
        }
        resp_parser_consume(&parser, command.end);
        txn_verify(txn, parser.command_start);
        /* While it holds commands, the queue starts where the first queued one was sent. */
        CHECK(!txn_holds(txn) || txn->queue_start == commands[first_recorded].offset -
                                                          stream_dropped);
        if (prng_below(4) == 0) {
            stream_dropped += compact(txn);
        }
    }
    uint32_t exec_start = send_and_parse(txn, "*1\r\n$4\r\nEXEC\r\n", &command);
    bool walked = !txn->failed;
    if (walked) {
        walk_check(txn, exec_start, commands, command_count, first_recorded);
    } else {
        CHECK(!txn_holds(txn) && txn_droppable(txn, exec_start) == exec_start);
    }
    resp_parser_consume(&parser, command.end);
    txn_reset(txn, &watch);
    txn_verify(txn, parser.command_start);
    return walked;
}

static void test_random(uint64_t seed)
{
    prng_state = seed;
    fixture_run.seed = seed;
    fixture_run.active = true;
    struct txn txn;
    txn_init(&txn);
    uint32_t walked = 0;
    int failures_before = check_failures;
    for (fixture_run.step = 0; fixture_run.step < ROUNDS; fixture_run.step++) {
        walked += run_round_once(&txn) ? 1 : 0;
        if (check_failures > failures_before) {
            fprintf(stderr, "test_txn: round %u failed (KV_SEED=%llu)\n", fixture_run.step,
                    (unsigned long long)seed);
            break;
        }
    }
    fixture_run.active = false;
    printf("test_txn: %u transactions, %u walked (KV_SEED=%llu)\n", ROUNDS, walked,
           (unsigned long long)seed);
    CHECK(walked > ROUNDS / 2 && walked < ROUNDS);
}

int main(void)
{
    uint64_t seed = fixture_seed("test_txn", "round");
    uint64_t bytes = heap_plan_bytes(CONFIG_MAXMEMORY_MIN);
    char error[256];
    if (region_map(&region, bytes, CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                   sizeof(error)) != 0) {
        fprintf(stderr, "test_txn: %s\n", error);
        return 1;
    }
    heap_init(&heap, &region, CONFIG_MAXMEMORY_MIN);
    watch_init(&watch, &heap, 8, seed);
    test_state();
    test_walk();
    test_random(seed);
    watch_verify(&watch);
    region_unmap(&region);
    return check_exit("test_txn");
}
