/*
 * Proves the RESP parser gives the same commands, refusals and protocol errors however the
 * input is split: every case is parsed whole, then fed one byte at a time and in every
 * two-way split, through a driver that works as the server's receive path does (append,
 * parse until more is needed, drop consumed bytes). Expected results were checked against
 * redis-server 7.0 over a raw socket (the integration test test_protocol.py keeps checking
 * the server's bytes against Redis). Also: unconsumed commands parse again identically,
 * arguments point into the buffer, and oversized input is skipped without being kept.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "region.h"
#include "resp.h"

#define CAPACITY (RESP_BULK_LINE_SEEN_BYTES + 4096u)
#define ARG_BYTES_MAX 64u
#define ARGS_MAX 64u
#define RESULT_BYTES_MAX (1u << 20)

static uint8_t *buffer;
static struct resp_scratch scratch;

/* Results rendered as text: "C(arg|arg)" command, "R<n>" refusal, "E<n>" protocol error. */
struct transcript {
    char text[RESULT_BYTES_MAX];
    size_t length;
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

/*
 * Feeds `input` in chunks of `chunk` bytes (the first chunk `first` bytes when first > 0)
 * and records every result until a protocol error or the end of input.
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
    for (;;) {
        struct resp_command command;
        enum resp_status status = resp_parse(&parser, &scratch, buffer, length, CAPACITY, &command);
        CHECK(parser.command_start <= parser.scan && parser.scan <= length);
        if (status == RESP_COMMAND) {
            emit_command(out, &command);
            resp_parser_consume(&parser, command.end);
            continue;
        }
        if (status == RESP_REFUSED || status == RESP_PROTOCOL_ERROR) {
            char text[16];
            int bytes = snprintf(text, sizeof(text), "%c%u", status == RESP_REFUSED ? 'R' : 'E',
                                 command.error);
            emit(out, text, (size_t)bytes);
            if (status == RESP_PROTOCOL_ERROR) {
                return;
            }
            continue;
        }
        if (fed == input_bytes) {
            return;
        }
        /* Drop consumed bytes, as the server does before each receive. */
        uint32_t consumed = parser.command_start;
        memmove(buffer, buffer + consumed, length - consumed);
        length -= consumed;
        resp_parser_shift(&parser, consumed);
        size_t take = fed == 0 && first > 0 ? first : chunk;
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
    expect(input, used, "R9C(PING)");
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
    struct region region;
    char error[256];
    uint64_t bytes = CAPACITY * 2ull + ARGS_MAX * 64ull * sizeof(struct slice) + 4096;
    CHECK(region_map(&region, bytes + (1u << 20), CONFIG_HUGEPAGES_OFF, CONFIG_MLOCK_OFF, error,
                     sizeof(error)) == 0);
    buffer = region_carve(&region, CAPACITY, 64);
    scratch.args = region_carve(&region, (uint64_t)(CAPACITY / 60 + 64) * sizeof(struct slice), 64);
    scratch.inline_bytes = region_carve(&region, CAPACITY, 64);
    scratch.args_max = ARGS_MAX;
    scratch.arg_bytes_max = ARG_BYTES_MAX;
    test_commands();
    test_redis_quirks();
    test_inline();
    test_protocol_errors();
    test_too_big();
    test_refusals();
    test_not_consumed();
    return check_exit("test_resp");
}
