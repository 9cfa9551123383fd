/*
 * Proves the RESP parser gives the same commands, refusals and protocol errors however the
 * input is split: every case is parsed whole, then fed one byte at a time and in every
 * two-way split, through a driver that works as the server's receive path does (append,
 * parse until more is needed, drop consumed bytes). Expected results were checked against
 * redis-server 7.0 over a raw socket (the integration test test_protocol.py keeps checking
 * the server's bytes against Redis). Also: unconsumed commands parse again identically,
 * arguments point into the buffer, and oversized input is skipped without being kept.
 * Work stays linear when a long line arrives one byte per read: the parser's search offset
 * (line_searched_bytes) is checked after every call to have advanced by exactly the byte just
 * added, and each searched byte is then overwritten, in the buffer, with one a search would
 * stop on but that leaves the line's meaning alone: the result stays right only if no call
 * searched the line from its start again. A seeded random comparison (seed
 * printed on failure, KV_SEED replays it) parses generated valid and broken requests whole,
 * one byte at a time and in random reads, and requires the same transcript from all three.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "region.h"
#include "resp.h"

#define CAPACITY (RESP_BULK_LINE_SEEN_BYTES + 4096u)
#define ARG_BYTES_MAX 64u
#define ARGS_MAX 64u
/* Slices carved for the args: room for the most any test sends. */
#define ARGS_CARVED (CAPACITY / 60u + 64u)
#define RESULT_BYTES_MAX (1u << 20)
#define OUTCOME_NEED_ARGS 31u

static uint8_t *buffer;
static struct resp_scratch scratch;

/* Results rendered as text: "C(arg|arg)" command, "R<n>" refusal, "E<n>" protocol error,
 * "A<n>" a command of n arguments that needed a larger scratch (then its "C(...)"). */
struct transcript {
    char text[RESULT_BYTES_MAX];
    size_t length;
    uint8_t error_byte; /* the last protocol error's error_byte */
    uint32_t outcomes;  /* bit 0: a command; bit n: a refusal or protocol error n; bit
                           OUTCOME_NEED_ARGS: a command that needed more arguments */
};

static void emit(struct transcript *out, const char *text, size_t length)
{
    if (out->length + length < sizeof(out->text)) {
        memcpy(out->text + out->length, text, length);
        out->length += length;
        out->text[out->length] = '\0';
    }
}

static void emit_command(struct transcript *out, const struct resp_command *command)
{
    emit(out, "C(", 2);
    for (uint32_t index = 0; index < command->arg_count; index++) {
        const struct slice *arg = &scratch.args[index];
        bool in_buffer = arg->bytes >= buffer && arg->bytes + arg->length <= buffer + CAPACITY;
        bool in_scratch = arg->bytes >= scratch.inline_bytes &&
                          arg->bytes + arg->length <= scratch.inline_bytes + CAPACITY;
        CHECK(arg->length == 0 || in_buffer || in_scratch);
        CHECK(arg->length <= ARG_BYTES_MAX);
        emit(out, index ? "|" : "", index ? 1 : 0);
        emit(out, (const char *)arg->bytes, arg->length);
    }
    emit(out, ")", 1);
}

/* Read sizes when drive() is given chunk 0: up to this many bytes, drawn from the PRNG. */
#define RANDOM_CHUNK_BYTES_MAX 700u

/*
 * Feeds `input` in chunks of `chunk` bytes (the first chunk `first` bytes when first > 0;
 * chunk 0: random sizes from the PRNG, mostly small) and records every result until a
 * protocol error or the end of input.
 */
static void drive(const uint8_t *input, size_t input_bytes, size_t first, size_t chunk,
                  struct transcript *out)
{
    struct resp_parser parser;
    resp_parser_init(&parser);
    uint32_t length = 0;
    size_t fed = 0;
    out->length = 0;
    out->text[0] = '\0';
    out->error_byte = 0;
    out->outcomes = 0;
    for (;;) {
        struct resp_command command;
        enum resp_status status = resp_parse(&parser, &scratch, buffer, length, CAPACITY, &command);
        CHECK(parser.command_start <= parser.scan && parser.scan <= length);
        if (status == RESP_NEED_ARGS) {
            /* As the server does: a larger args array (here the same carve, which holds
             * any count the tests send), the same command parsed again. */
            char text[16];
            int bytes = snprintf(text, sizeof(text), "A%u", command.arg_count);
            emit(out, text, (size_t)bytes);
            out->outcomes |= 1u << OUTCOME_NEED_ARGS;
            uint32_t args_max = scratch.args_max;
            CHECK(command.arg_count > args_max && command.arg_count <= ARGS_CARVED);
            scratch.args_max = command.arg_count;
            status = resp_parse(&parser, &scratch, buffer, length, CAPACITY, &command);
            CHECK(status == RESP_COMMAND);
            if (status == RESP_COMMAND) {
                emit_command(out, &command);
                resp_parser_consume(&parser, command.end);
            }
            scratch.args_max = args_max;
            continue;
        }
        if (status == RESP_COMMAND) {
            emit_command(out, &command);
            out->outcomes |= 1u;
            resp_parser_consume(&parser, command.end);
            continue;
        }
        if (status == RESP_REFUSED || status == RESP_PROTOCOL_ERROR) {
            out->outcomes |= 1u << command.error;
            char text[16];
            int bytes = snprintf(text, sizeof(text), "%c%u", status == RESP_REFUSED ? 'R' : 'E',
                                 command.error);
            emit(out, text, (size_t)bytes);
            if (status == RESP_PROTOCOL_ERROR) {
                out->error_byte = command.error_byte;
                return;
            }
            continue;
        }
        if (fed == input_bytes) {
            return;
        }
        /* Drop consumed bytes, as the server does before each receive. */
        uint32_t consumed = parser.command_start;
        if (consumed > 0) {
            memmove(buffer, buffer + consumed, length - consumed);
            length -= consumed;
            resp_parser_shift(&parser, consumed);
        }
        size_t take = fed == 0 && first > 0 ? first : chunk;
        if (take == 0) {
            /* Half the reads 1 to 8 bytes, to split headers often; the rest larger. */
            take = 1 + (prng_below(2) ? prng_below(8) : prng_below(RANDOM_CHUNK_BYTES_MAX));
        }
        if (take > input_bytes - fed) {
            take = input_bytes - fed;
        }
        if (take > CAPACITY - length) {
            take = CAPACITY - length;
        }
        CHECK(take > 0);
        memcpy(buffer + length, input + fed, take);
        length += (uint32_t)take;
        fed += take;
    }
}

static struct transcript whole;
static struct transcript split;

/* Parses `input` whole, compares with `want`, then every split must give the same. */
static void expect(const char *input, size_t input_bytes, const char *want)
{
    drive((const uint8_t *)input, input_bytes, 0, input_bytes, &whole);
    if (strcmp(whole.text, want) != 0) {
        check_failures++;
        fprintf(stderr, "parse of ");
        check_bytes_print("input", input, input_bytes);
        fprintf(stderr, "  want %s\n  got  %s\n", want, whole.text);
        return;
    }
    check_count++;
    drive((const uint8_t *)input, input_bytes, 0, 1, &split);
    CHECK_STR(split.text, want);
    for (size_t first = 1; first < input_bytes && input_bytes < 4096; first++) {
        drive((const uint8_t *)input, input_bytes, first, input_bytes, &split);
        if (strcmp(split.text, want) != 0) {
            fprintf(stderr, "split at %zu\n", first);
            CHECK_STR(split.text, want);
            return;
        }
    }
}

#define EXPECT(input, want) expect(input, sizeof(input) - 1, want)

static void test_commands(void)
{
    EXPECT("*1\r\n$4\r\nPING\r\n", "C(PING)");
    EXPECT("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", "C(SET|k|)");
    EXPECT("*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", "C(ECHO|a\r\nb)");
    EXPECT("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n",
           "C(PING)C(GET|k)C(PING)");
    EXPECT("*0\r\n*-5\r\n*1\r\n$4\r\nPING\r\n", "C(PING)");
    EXPECT("\r\n\r\n  \t \r\nPING\r\n", "C(PING)");
    EXPECT("PING\nPING\n", "C(PING)C(PING)");
    EXPECT("PING\r\r\n", "C(PING)");
}

static void test_redis_quirks(void)
{
    /* Two bytes after a payload are skipped unchecked; then "\r\n" is an empty inline line. */
    EXPECT("*1\r\n$4\r\nPINGXX\r\n", "C(PING)");
    EXPECT("*1\r\n$4\r\nPING\n\nPING\r\n", "C(PING)C(PING)");
    /* A header ends at '\r' followed by any byte. */
    EXPECT("*1\rX$4\r\nPING\r\n", "C(PING)");
    EXPECT("*1\r\n$4\rXPING\r\n", "C(PING)");
    /* Searches stop at a NUL byte: these never complete. */
    EXPECT("ECHO a\0b\r\nPING\r\n", "");
    EXPECT("*1\0\r\n$4\r\nPING\r\n", "");
    EXPECT("*1\r\n\r", "");
}

static void test_inline(void)
{
    EXPECT("SET a b\r\n", "C(SET|a|b)");
    EXPECT("ECHO \"a b\"\r\n", "C(ECHO|a b)");
    EXPECT("ECHO \"\\x41\\x4g\\n\\q\\\\\"\r\n", "C(ECHO|Ax4g\nq\\)");
    EXPECT("ECHO 'it\\'s' ''\r\n", "C(ECHO|it's|)");
    EXPECT("ECHO a\"\" \"\"b\r\n", "E4");
    EXPECT("ECHO a\"\"\r\n", "C(ECHO|a)");
    EXPECT("ECHO\tx\r\n", "C(ECHO|x)");
    EXPECT("ECHO\vx\r\n", "C(ECHO\vx)");
    EXPECT("\vECHO x\r\n", "C(ECHO|x)");
    EXPECT("ECHO \"a\"\v\r\n", "C(ECHO|a)");
    EXPECT("ECHO \"a\"b\r\n", "E4");
    EXPECT("ECHO 'a'b\r\n", "E4");
    EXPECT("ECHO \"open\r\n", "E4");
}

static void test_protocol_errors(void)
{
    EXPECT("*abc\r\n", "E1");
    EXPECT("*01\r\n", "E1");
    EXPECT("*+1\r\n", "E1");
    EXPECT("*1 \r\n", "E1");
    EXPECT("*3000000000\r\n", "E1");
    EXPECT("*1\r\n$abc\r\n", "E2");
    EXPECT("*1\r\n$-3\r\n", "E2");
    EXPECT("*1\r\n$600000000\r\n", "E2");
    EXPECT("*1\r\n+PING\r\n", "E3");
    EXPECT("*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n", "C(PING)E2");
    /* Error bytes: the byte found instead of '$'. */
    struct resp_parser parser;
    struct resp_command command;
    resp_parser_init(&parser);
    memcpy(buffer, "*1\r\n+PING\r\n", 11);
    CHECK(resp_parse(&parser, &scratch, buffer, 11, CAPACITY, &command) == RESP_PROTOCOL_ERROR);
    CHECK(command.error == RESP_ERROR_EXPECTED_DOLLAR && command.error_byte == '+');
}

/*
 * Parses a big input whole and, when `split`, in reads of a few sizes (every split would take
 * too long). A line that ends between RESP_INLINE_BYTES_MAX and its seen bytes is parsed only
 * when it arrives whole, as in Redis: read in parts, its start is too big on its own.
 */
static void expect_big(const char *input, size_t input_bytes, bool split_too, const char *want)
{
    const size_t chunks[] = {input_bytes, 16384, 1000, 4093};
    size_t drives = split_too ? sizeof(chunks) / sizeof(chunks[0]) : 1;
    for (size_t index = 0; index < drives; index++) {
        drive((const uint8_t *)input, input_bytes, 0, chunks[index], &split);
        CHECK_STR(split.text, want);
    }
}

/* A request line whose end Redis never sees in its query buffer is too big there; just
 * inside it is parsed (lengths measured against redis-server 7.0, see resp.h). */
static void test_too_big(void)
{
    size_t bytes = RESP_BULK_LINE_SEEN_BYTES + 64;
    char *input = malloc(bytes);
    /* Inline: "ECHO", spaces, "x": the '\n' at RESP_LINE_SEEN_BYTES - 1 is seen. */
    size_t line = RESP_LINE_SEEN_BYTES - 1;
    memset(input, ' ', bytes);
    memcpy(input, "ECHO", 4);
    memcpy(input + line - 2, "x\r\n", 3);
    expect_big(input, line + 1, false, "C(ECHO|x)");
    memcpy(input + line - 2, " x\r\n", 4);
    expect_big(input, line + 2, true, "E5");
    /* No line end at all: too big once more than RESP_INLINE_BYTES_MAX bytes wait. */
    memset(input, 'A', bytes);
    expect_big(input, RESP_INLINE_BYTES_MAX + 1, true, "E5");
    expect_big(input, RESP_INLINE_BYTES_MAX, true, "");
    /* "*000...01": its '\r' at RESP_LINE_SEEN_BYTES - 1 is seen (a count too long to parse). */
    input[0] = '*';
    memset(input + 1, '0', bytes - 1);
    memcpy(input + line - 1, "1\r\n", 3);
    expect_big(input, line + 2, false, "E1");
    memcpy(input + line - 1, "01\r\n", 4);
    expect_big(input, line + 3, true, "E6");
    /* "$000...04" after "*1": the same at RESP_BULK_LINE_SEEN_BYTES from the '$'. */
    size_t bulk_line = RESP_BULK_LINE_SEEN_BYTES - 1;
    memcpy(input, "*1\r\n$", 5);
    memset(input + 5, '0', bytes - 5);
    memcpy(input + 4 + bulk_line - 1, "4\r\n", 3);
    expect_big(input, 4 + bulk_line + 2, false, "E2");
    memcpy(input + 4 + bulk_line - 1, "04\r\n", 4);
    expect_big(input, 4 + bulk_line + 3, true, "E7");
    free(input);
}

static void test_refusals(void)
{
    /* An argument over ARG_BYTES_MAX, arriving in pieces and far bigger than the buffer. */
    size_t long_bytes = 3 * CAPACITY;
    size_t bytes = long_bytes + 200;
    char *input = malloc(bytes);
    int head = snprintf(input, bytes, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", long_bytes);
    memset(input + head, 'v', long_bytes);
    int tail = snprintf(input + head + long_bytes, bytes - head - long_bytes,
                        "\r\n*1\r\n$4\r\nPING\r\n");
    size_t total = (size_t)head + long_bytes + (size_t)tail;
    drive((const uint8_t *)input, total, 0, total, &whole);
    CHECK_STR(whole.text, "R8C(PING)");
    drive((const uint8_t *)input, total, 0, 1000, &split);
    CHECK_STR(split.text, "R8C(PING)");
    drive((const uint8_t *)input, total, 0, 7, &split);
    CHECK_STR(split.text, "R8C(PING)");
    /* More arguments than ARGS_MAX. */
    size_t used = (size_t)snprintf(input, bytes, "*%u\r\n", ARGS_MAX + 1);
    for (uint32_t index = 0; index <= ARGS_MAX; index++) {
        used += (size_t)snprintf(input + used, bytes - used, "$1\r\nx\r\n");
    }
    used += (size_t)snprintf(input + used, bytes - used, "PING\r\n");
    /* They parse whole, then the caller is asked for room for them. */
    char want[16 + 2 * (ARGS_MAX + 1) + 16];
    size_t want_length = (size_t)snprintf(want, sizeof(want), "A%uC(x", ARGS_MAX + 1);
    for (uint32_t index = 1; index <= ARGS_MAX; index++) {
        want_length += (size_t)snprintf(want + want_length, sizeof(want) - want_length, "|x");
    }
    snprintf(want + want_length, sizeof(want) - want_length, ")C(PING)");
    expect(input, used, want);
    /* Legal arguments that add up to more than the buffer. */
    uint32_t count = CAPACITY / 60 + 10;
    size_t need = 16 + (size_t)count * 70 + 16;
    char *many = malloc(need);
    used = (size_t)snprintf(many, need, "*%u\r\n", count);
    for (uint32_t index = 0; index < count; index++) {
        used += (size_t)snprintf(many + used, need - used, "$53\r\n%053u\r\n", index);
    }
    used += (size_t)snprintf(many + used, need - used, "PING\r\n");
    scratch.args_max = count + 1; /* only the buffer's size limits it here */
    drive((const uint8_t *)many, used, 0, used, &whole);
    CHECK_STR(whole.text, "R9C(PING)");
    drive((const uint8_t *)many, used, 0, 4096, &split);
    CHECK_STR(split.text, "R9C(PING)");
    scratch.args_max = ARGS_MAX;
    /* An inline argument too long. */
    used = (size_t)snprintf(input, bytes, "ECHO %0100d\r\nPING\r\n", 7);
    expect(input, used, "R8C(PING)");
    free(many);
    free(input);
}

/* Bytes a long line test feeds; consumed bytes are dropped every SHIFT_PERIOD calls, so the
 * line also moves down while it is half read. */
#define LONG_LINE_BYTES (60u * 1024u)
#define SHIFT_PERIOD 1009u

/*
 * A long line after `prefix`: `head`, `fill` bytes, `tail`, `line_bytes` in all. Its search
 * stops at its first `stop_byte` (its end byte: '\n' inline, '\r' in a header; or a NUL that
 * cuts it). With `poisoned`, each fill byte is overwritten in the buffer with `poison` once
 * searched: a byte a search would stop on (the line's end byte or a NUL), yet one that leaves
 * the line's meaning alone, so only a parser that searched those bytes again would notice.
 */
struct linear_case {
    const char *prefix;
    const char *head;
    const char *tail;
    size_t line_bytes;
    char fill;
    char stop_byte;
    bool poisoned;
    char poison;
    const char *want;
};

/* Checks one call of feed_bytewise: is the search exactly where the bytes received put it? */
static bool searched_as_fed(const struct linear_case *test, size_t line_index, size_t stop_index,
                            size_t fed, enum resp_status status, uint32_t searched_before,
                            uint32_t searched)
{
    bool in_line = fed > line_index && fed <= stop_index;
    bool after_nul = test->stop_byte == '\0' && fed > stop_index && status == RESP_NEED_MORE;
    if (!in_line && !after_nul) {
        return true;
    }
    /* Before the stop byte, one more searched byte per byte received; then stopped on it. */
    uint32_t want = (uint32_t)((in_line ? fed : stop_index) - line_index);
    uint32_t want_before = in_line ? want - 1 : want;
    if (status == RESP_NEED_MORE && searched == want && searched_before == want_before) {
        return true;
    }
    fprintf(stderr, "after %zu bytes: status %d, searched %u (before the call %u), want %u\n",
            fed, (int)status, searched, searched_before, want);
    return false;
}

/*
 * Feeds `input` one byte per resp_parse() call. While the line at input[line_index ..] is
 * unfinished (before `stop_index`), each call must need more and leave line_searched_bytes at
 * exactly the line bytes received: one more than after the previous call, so no call went back
 * over the line. When the stop byte is a NUL, every later call must leave the search on it.
 * Searched fill bytes are poisoned (see struct linear_case). The results go to `out`.
 */
static void feed_bytewise(const struct linear_case *test, const uint8_t *input,
                          size_t input_bytes, size_t line_index, size_t stop_index,
                          struct transcript *out)
{
    struct resp_parser parser;
    resp_parser_init(&parser);
    uint32_t length = 0;
    size_t fed = 0;
    uint32_t wrong_count = 0;
    out->length = 0;
    out->text[0] = '\0';
    /* Each pass parses once and feeds at most one byte: bounded by input and results. */
    for (uint32_t pass = 1; pass < 2 * input_bytes + 2; pass++) {
        struct resp_command command;
        uint32_t searched_before = parser.line_searched_bytes;
        enum resp_status status = resp_parse(&parser, &scratch, buffer, length, CAPACITY, &command);
        if (!searched_as_fed(test, line_index, stop_index, fed, status, searched_before,
                             parser.line_searched_bytes)) {
            if (++wrong_count == 3) {
                break;
            }
        }
        if (status == RESP_COMMAND) {
            emit_command(out, &command);
            resp_parser_consume(&parser, command.end);
            continue;
        }
        if (status != RESP_NEED_MORE) {
            char text[16];
            int bytes = snprintf(text, sizeof(text), "%c%u", status == RESP_REFUSED ? 'R' : 'E',
                                 command.error);
            emit(out, text, (size_t)bytes);
            if (status == RESP_PROTOCOL_ERROR) {
                break;
            }
            continue;
        }
        if (fed == input_bytes) {
            break;
        }
        bool searched = fed > line_index && fed <= stop_index;
        if (test->poisoned && searched && buffer[length - 1] == (uint8_t)test->fill) {
            buffer[length - 1] = (uint8_t)test->poison;
        }
        uint32_t consumed = parser.command_start;
        if (pass % SHIFT_PERIOD == 0 && consumed > 0) {
            memmove(buffer, buffer + consumed, length - consumed);
            length -= consumed;
            resp_parser_shift(&parser, consumed);
        }
        KV_ASSERT(length < CAPACITY);
        buffer[length++] = input[fed++];
    }
    CHECK(wrong_count == 0);
}

/* The case's input parses to `want` whole, and byte by byte with its search never going back
 * over the line (see feed_bytewise). */
static void expect_linear(const struct linear_case *test)
{
    size_t prefix_bytes = strlen(test->prefix);
    size_t head_bytes = strlen(test->head);
    size_t tail_bytes = strlen(test->tail);
    size_t input_bytes = prefix_bytes + test->line_bytes;
    char *input = malloc(input_bytes);
    char *line = input + prefix_bytes;
    memcpy(input, test->prefix, prefix_bytes);
    memcpy(line, test->head, head_bytes);
    memset(line + head_bytes, test->fill, test->line_bytes - head_bytes - tail_bytes);
    memcpy(line + test->line_bytes - tail_bytes, test->tail, tail_bytes);
    const char *stop = memchr(line, test->stop_byte, test->line_bytes);
    KV_ASSERT(stop != NULL);
    drive((const uint8_t *)input, input_bytes, 0, input_bytes, &whole);
    CHECK_STR(whole.text, test->want);
    feed_bytewise(test, (const uint8_t *)input, input_bytes, prefix_bytes,
                  (size_t)(stop - input), &split);
    CHECK_STR(split.text, test->want);
    free(input);
}

/* A long line fed one byte per call is searched once in all: linear work, however split. */
static void test_linear_lines(void)
{
    const size_t cut_bytes = RESP_INLINE_BYTES_MAX + 4;
    const struct linear_case cases[] = {
        /* Inline: "ECHO", 60 KiB of spaces, "x". A '\n' is a space to sdssplitargs. */
        {"PING\r\n", "ECHO", "x\r\n", LONG_LINE_BYTES, ' ', '\n', true, '\n',
         "C(PING)C(ECHO|x)"},
        /* Inline, refused: an argument of 60 KiB, scanned without keeping it. */
        {"PING\r\n", "SET k ", "\r\n", LONG_LINE_BYTES, 'v', '\n', true, '\0', "C(PING)R8"},
        /* '*' header: leading zeros make it unparsable, known once its '\r' is in. */
        {"PING\r\n", "*", "1\r\n", LONG_LINE_BYTES, '0', '\r', true, '\0', "C(PING)E1"},
        /* '$' header, in a command kept and in one refused (too many arguments: the refusal
         * drops bytes up to the '$' line, which then moves down at a shift while half read). */
        {"PING\r\n*1\r\n", "$", "4\r\n", LONG_LINE_BYTES, '0', '\r', true, '\0', "C(PING)E2"},
        {"*65\r\n$1\r\nx\r\n", "$", "4\r\n", LONG_LINE_BYTES, '0', '\r', true, '\0', "E2"},
        /* A NUL cuts a line for good: the search stays on it though an end byte follows, until
         * more than RESP_INLINE_BYTES_MAX bytes of the line wait and it is too big. */
        {"PING\r\n", "ECHO a", "b\r\n", cut_bytes, '\0', '\0', false, 0, "C(PING)E5"},
        {"PING\r\n", "*1", "\r\n", cut_bytes, '\0', '\0', false, 0, "C(PING)E6"},
        {"PING\r\n*1\r\n", "$4", "\r\n", cut_bytes, '\0', '\0', false, 0, "C(PING)E7"},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        expect_linear(&cases[index]);
    }
}

/* Parses buffer[0 .. length) once; returns the status and leaves the parser's state. */
static enum resp_status parse_at(struct resp_parser *parser, const char *bytes, uint32_t at,
                                 uint32_t *length)
{
    size_t bytes_count = strlen(bytes);
    memcpy(buffer + at, bytes, bytes_count);
    *length = at + (uint32_t)bytes_count;
    struct resp_command command;
    enum resp_status status = resp_parse(parser, &scratch, buffer, *length, CAPACITY, &command);
    if (status == RESP_COMMAND) {
        resp_parser_consume(parser, command.end);
    }
    return status;
}

/* The search offset stops on an end byte that needs one more byte after it, and is reset at
 * every line boundary, on consume, and by resp_parser_init_at; a shift leaves it. */
static void test_search_offset(void)
{
    struct resp_parser parser;
    uint32_t length = 0;
    resp_parser_init(&parser);
    CHECK(parse_at(&parser, "*1\r", 0, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 2); /* stopped on the '\r', which waits for a byte */
    CHECK(parse_at(&parser, "", length, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 2);
    CHECK(parse_at(&parser, "\n$3", length, &length) == RESP_NEED_MORE);
    CHECK(parser.phase == RESP_PHASE_BULK_HEADER && parser.line_searched_bytes == 2);
    CHECK(parse_at(&parser, "\r", length, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 2);
    CHECK(parse_at(&parser, "\nab", length, &length) == RESP_NEED_MORE);
    CHECK(parser.phase == RESP_PHASE_BULK_PAYLOAD && parser.line_searched_bytes == 0);
    CHECK(parse_at(&parser, "c\r\nEC", length, &length) == RESP_COMMAND);
    CHECK(parser.line_searched_bytes == 0 && parser.command_start == 13);
    /* The inline line after it: searched as it comes, then moved down by a shift. */
    CHECK(parse_at(&parser, "", length, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 2);
    memmove(buffer, buffer + 13, length - 13);
    length -= 13;
    resp_parser_shift(&parser, 13);
    CHECK(parser.command_start == 0 && parser.line_searched_bytes == 2);
    CHECK(parse_at(&parser, "HO x\r", length, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 7); /* an inline line ends at '\n', not '\r' */
    CHECK(parse_at(&parser, "\n*2", length, &length) == RESP_COMMAND);
    CHECK(parser.command_start == 8 && parser.line_searched_bytes == 0);
    CHECK(parse_at(&parser, "", length, &length) == RESP_NEED_MORE);
    CHECK(parser.line_searched_bytes == 2);
    resp_parser_init_at(&parser, 3);
    CHECK(parser.command_start == 3 && parser.line_searched_bytes == 0);
}

/* Random requests: a seeded mix of valid, refused and broken input. */
#define RANDOM_ROUNDS 5000u
#define RANDOM_ROUNDS_MAX (4u * RANDOM_ROUNDS)
#define RANDOM_REQUESTS_MAX 12u
#define RANDOM_INPUT_BYTES_MAX (48u * 1024u)
#define RANDOM_LONG_LINE_BYTES_MAX (30u * 1024u) /* well inside every line limit */

struct generator {
    uint8_t *bytes;
    size_t used;
};

static void gen_put(struct generator *gen, const void *bytes, size_t count)
{
    if (gen->used + count <= RANDOM_INPUT_BYTES_MAX) {
        memcpy(gen->bytes + gen->used, bytes, count);
        gen->used += count;
    }
}

static void gen_text(struct generator *gen, const char *text)
{
    gen_put(gen, text, strlen(text));
}

/* A byte that matters to the parser more often than chance would pick it. */
static uint8_t gen_byte(void)
{
    static const uint8_t special[] = {'\r', '\n', '\0', '*', '$', '-', '0', '1', '9', ' ',
                                      '\t', '"', '\'', '\\', 'x', 'A', '+', '\v'};
    if (prng_below(3) == 0) {
        return (uint8_t)prng_below(256);
    }
    return special[prng_below(sizeof(special))];
}

/* A header line: `kind` and `value`; when `quirky`, sometimes with leading zeros (unparsable
 * past 21 bytes) or ended by '\r' and any byte, as Redis accepts. */
static void gen_header(struct generator *gen, char kind, long long value, bool quirky)
{
    char text[64];
    uint32_t zeros = quirky && prng_below(8) == 0 ? prng_below(30) : 0;
    int bytes = snprintf(text, sizeof(text), "%c%.*s%lld", kind, (int)zeros,
                         "000000000000000000000000000000", value);
    gen_put(gen, text, (size_t)bytes);
    gen_text(gen, quirky && prng_below(10) == 0 ? "\rZ" : "\r\n");
}

/* A multibulk; a quarter of them quirky: odd headers, a count that does not match, the two
 * bytes after a payload not CRLF. */
static void gen_multibulk(struct generator *gen)
{
    bool quirky = prng_below(4) == 0;
    uint32_t arg_count = prng_below(10) == 0 ? ARGS_MAX + 1 : 1 + prng_below(4);
    uint32_t declared = quirky && prng_below(3) == 0 ? prng_below(6) : arg_count;
    gen_header(gen, '*', quirky && prng_below(5) == 0 ? -(long long)prng_below(3) : declared,
               quirky);
    /* Bounded by arg_count, at most ARGS_MAX + 1. */
    for (uint32_t index = 0; index < arg_count; index++) {
        uint32_t arg_bytes = prng_below(8);
        if (prng_below(10) == 0) {
            arg_bytes = ARG_BYTES_MAX - 1 + prng_below(3);
        } else if (prng_below(20) == 0) {
            arg_bytes = prng_below(400);
        }
        gen_header(gen, '$', arg_bytes, quirky);
        /* Bounded by arg_bytes. */
        for (uint32_t at = 0; at < arg_bytes; at++) {
            uint8_t byte = prng_below(4) == 0 ? gen_byte() : (uint8_t)('a' + prng_below(26));
            gen_put(gen, &byte, 1);
        }
        gen_text(gen, quirky && prng_below(4) == 0 ? "XX" : "\r\n");
    }
}

static void gen_inline(struct generator *gen)
{
    /* Tokens as sdssplitargs() reads them; the last two have unbalanced quotes. */
    static const char *tokens[] = {"SET", "k", "\"a b\"", "\"\\x41\\n\\\"\"", "'it\\'s'", "''",
                                   "\"\"", "a\"b c\"", "\"q\"\v", "ECHO", "\"open", "'x'y"};
    const uint32_t token_kinds = sizeof(tokens) / sizeof(tokens[0]);
    uint32_t token_count = 1 + prng_below(5);
    /* Bounded by token_count. */
    for (uint32_t index = 0; index < token_count; index++) {
        gen_text(gen, prng_below(4) == 0 ? "\t " : " ");
        if (prng_below(12) == 0) {
            uint32_t long_bytes = ARG_BYTES_MAX - 1 + prng_below(3);
            /* Bounded by long_bytes. */
            for (uint32_t at = 0; at < long_bytes; at++) {
                gen_text(gen, "L");
            }
        } else {
            bool broken = prng_below(20) == 0;
            gen_text(gen, tokens[broken ? token_kinds - 1 - prng_below(2)
                                        : prng_below(token_kinds - 2)]);
        }
    }
    gen_text(gen, prng_below(3) == 0 ? "\n" : "\r\n");
}

/* A long line, well inside the limits: spaces in an inline line, zeros in a header. */
static void gen_long_line(struct generator *gen)
{
    uint32_t fill_bytes = prng_below(RANDOM_LONG_LINE_BYTES_MAX);
    uint32_t kind = prng_below(3);
    gen_text(gen, kind == 0 ? "ECHO" : kind == 1 ? "*" : "*1\r\n$");
    if (gen->used + fill_bytes <= RANDOM_INPUT_BYTES_MAX) {
        memset(gen->bytes + gen->used, kind == 0 ? ' ' : '0', fill_bytes);
        gen->used += fill_bytes;
    }
    gen_text(gen, kind == 0 ? "x\r\n" : "1\r\nx\r\n");
}

/* One input: requests of every kind, then maybe (a third) a few bytes overwritten, and
 * maybe (a quarter) the end cut off. */
static size_t gen_input(uint8_t *bytes)
{
    struct generator gen = {.bytes = bytes, .used = 0};
    uint32_t request_count = 1 + prng_below(RANDOM_REQUESTS_MAX);
    /* Bounded by request_count. */
    for (uint32_t index = 0; index < request_count; index++) {
        uint32_t kind = prng_below(100);
        if (kind < 50) {
            gen_multibulk(&gen);
        } else if (kind < 85) {
            gen_inline(&gen);
        } else if (kind < 95) {
            gen_text(&gen, prng_below(2) ? "\r\n" : " \t\n");
        } else if (kind < 99) {
            gen_header(&gen, '*', -(long long)prng_below(2), prng_below(2) == 0);
        } else {
            gen_long_line(&gen);
        }
    }
    if (prng_below(3) == 0 && gen.used > 0) {
        uint32_t mutation_count = 1 + prng_below(3);
        /* Bounded by mutation_count. */
        for (uint32_t index = 0; index < mutation_count; index++) {
            bytes[prng_below((uint32_t)gen.used)] = gen_byte();
        }
    }
    if (prng_below(4) == 0 && gen.used > 0) {
        gen.used = prng_below((uint32_t)gen.used);
    }
    return gen.used;
}

static bool transcripts_equal(const struct transcript *left, const struct transcript *right)
{
    return left->length == right->length && left->error_byte == right->error_byte &&
           memcmp(left->text, right->text, left->length) == 0;
}

/* Whole, one byte at a time, and in random reads: the same results every time. */
static void test_random_splits(uint64_t seed)
{
    uint8_t *input = malloc(RANDOM_INPUT_BYTES_MAX);
    /* Commands (bit 0) and the refusals and protocol errors (bit = enum resp_error) seen. */
    uint32_t outcomes = 0;
    uint32_t failed_count = 0;
    /* The generator reaches every outcome short of the line limits (test_too_big's), or the
     * comparison proves less than it claims. */
    const uint32_t wanted = 1u | 1u << RESP_ERROR_INVALID_MULTIBULK_LENGTH |
                            1u << RESP_ERROR_INVALID_BULK_LENGTH |
                            1u << RESP_ERROR_EXPECTED_DOLLAR | 1u << RESP_ERROR_UNBALANCED_QUOTES |
                            1u << RESP_ERROR_ARGUMENT_TOO_LONG | 1u << OUTCOME_NEED_ARGS;
    /* Bounded by RANDOM_ROUNDS, and past them by RANDOM_ROUNDS_MAX while an outcome is still
     * unseen (a seed once missed one in 5,000 rounds); the first failure ends it. */
    for (uint32_t round = 0;
         (round < RANDOM_ROUNDS || ((outcomes & wanted) != wanted && round < RANDOM_ROUNDS_MAX)) &&
         failed_count == 0;
         round++) {
        size_t input_bytes = gen_input(input);
        drive(input, input_bytes, 0, input_bytes, &whole);
        drive(input, input_bytes, 0, 1, &split);
        const char *how = "one byte at a time";
        bool same = transcripts_equal(&whole, &split);
        if (same) {
            size_t first = input_bytes > 1 ? 1 + prng_below((uint32_t)input_bytes - 1) : 0;
            drive(input, input_bytes, first, 0, &split);
            how = "in random reads";
            same = transcripts_equal(&whole, &split);
        }
        check_count++;
        if (!same) {
            failed_count++;
            check_failures++;
            fprintf(stderr, "random splits (KV_SEED=%llu), round %u: parsed %s differs\n",
                    (unsigned long long)seed, round, how);
            check_bytes_print("input", input, input_bytes);
            check_bytes_print("whole", whole.text, whole.length);
            check_bytes_print("split", split.text, split.length);
        }
        outcomes |= whole.outcomes;
    }
    if (failed_count == 0 && (outcomes & wanted) != wanted) {
        fprintf(stderr, "random splits (KV_SEED=%llu): outcomes seen 0x%x, want 0x%x\n",
                (unsigned long long)seed, outcomes, wanted);
    }
    CHECK(failed_count != 0 || (outcomes & wanted) == wanted);
    free(input);
}

/* A command that is not consumed parses again, with the same arguments. */
static void test_not_consumed(void)
{
    const char *cases[] = {"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n", "ECHO \"h\\x41llo\" x\r\n"};
    for (int index = 0; index < 2; index++) {
        struct resp_parser parser;
        struct resp_command first;
        struct resp_command second;
        resp_parser_init(&parser);
        uint32_t length = (uint32_t)strlen(cases[index]);
        memcpy(buffer, cases[index], length);
        CHECK(resp_parse(&parser, &scratch, buffer, length, CAPACITY, &first) == RESP_COMMAND);
        char copy[64];
        snprintf(copy, sizeof(copy), "%.*s", (int)scratch.args[1].length,
                 (const char *)scratch.args[1].bytes);
        CHECK(resp_parse(&parser, &scratch, buffer, length, CAPACITY, &second) == RESP_COMMAND);
        CHECK(first.end == second.end && first.arg_count == second.arg_count);
        CHECK_BYTES(scratch.args[1].bytes, scratch.args[1].length, copy, strlen(copy));
        resp_parser_consume(&parser, second.end);
        CHECK(resp_parser_idle(&parser));
        CHECK(resp_parse(&parser, &scratch, buffer, length, CAPACITY, &second) == RESP_NEED_MORE);
    }
    /* Multibulk arguments point into the receive buffer: zero copy. */
    struct resp_parser parser;
    struct resp_command command;
    resp_parser_init(&parser);
    memcpy(buffer, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", 22);
    CHECK(resp_parse(&parser, &scratch, buffer, 22, CAPACITY, &command) == RESP_COMMAND);
    CHECK(scratch.args[1].bytes == buffer + 17);
}

int main(void)
{
    const char *seed_text = getenv("KV_SEED");
    uint64_t seed = seed_text != NULL ? strtoull(seed_text, NULL, 10)
                                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    prng_state = seed;
    struct region region;
    char error[256];
    uint64_t bytes = CAPACITY * 2ull + ARGS_MAX * 64ull * sizeof(struct slice) + 4096;
    CHECK(region_map(&region, bytes + (1u << 20), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                     sizeof(error)) == 0);
    buffer = region_carve(&region, CAPACITY, 64);
    scratch.args = region_carve(&region, (uint64_t)ARGS_CARVED * sizeof(struct slice), 64);
    scratch.inline_bytes = region_carve(&region, CAPACITY, 64);
    scratch.args_max = ARGS_MAX;
    scratch.arg_bytes_max = ARG_BYTES_MAX;
    scratch.bulk_bytes_limit = RESP_BULK_BYTES_LIMIT;
    test_commands();
    test_redis_quirks();
    test_inline();
    test_protocol_errors();
    test_too_big();
    test_refusals();
    test_not_consumed();
    test_linear_lines();
    test_search_offset();
    test_random_splits(seed);
    return check_exit("test_resp");
}
