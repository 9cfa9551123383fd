/*
 * libFuzzer harness for the RESP parser: any byte stream, any split into reads.
 *
 * The input's first two bytes seed the read sizes; the rest is what a client sends. The
 * stream is parsed twice, as a connection parses it (append what fits, parse until it needs
 * more, drop consumed bytes and shift the parser, append more): once in reads of every size
 * the seed draws, once whole. Both parses must give the same commands, arguments, refusals
 * and protocol errors in the same order: how the bytes are split must never change what
 * they mean. Every argument must lie inside the buffer or the inline scratch (ASan checks
 * the reads), and every run ends: a parse that makes no progress is a failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#define FUZZ_BUFFER_BYTES (RESP_INLINE_BYTES_MAX + 4096u) /* the parser needs more than an inline line */
#define FUZZ_ARGS_MAX 64u
#define FUZZ_ARG_BYTES_MAX 512u
#define FUZZ_EVENTS_MAX 4096u

struct event {
    uint8_t status;
    uint8_t error;
    uint8_t error_byte;
    uint32_t arg_count;
    uint64_t digest; /* FNV-1a over the arguments and their lengths */
};

struct run {
    struct event events[FUZZ_EVENTS_MAX];
    uint32_t count;
};

static uint8_t buffer[FUZZ_BUFFER_BYTES];
static uint8_t inline_bytes[FUZZ_BUFFER_BYTES];
static struct slice args[FUZZ_ARGS_MAX];

static uint64_t digest_args(uint32_t arg_count)
{
    uint64_t hash = 1469598103934665603ull;
    for (uint32_t index = 0; index < arg_count; index++) {
        const struct slice arg = args[index];
        bool in_buffer = arg.length == 0 ||
                         (arg.bytes >= buffer && arg.bytes + arg.length <= buffer + sizeof(buffer));
        bool in_scratch = arg.length == 0 || (arg.bytes >= inline_bytes &&
                                              arg.bytes + arg.length <= inline_bytes + sizeof(inline_bytes));
        if (!in_buffer && !in_scratch) {
            fprintf(stderr, "argument %u outside the buffers\n", index);
            abort();
        }
        for (uint32_t at = 0; at < arg.length; at++) {
            hash = (hash ^ arg.bytes[at]) * 1099511628211ull;
        }
        hash = (hash ^ arg.length ^ 0xffu) * 1099511628211ull;
    }
    return hash;
}

/* Parses `data` as a connection would, in reads drawn from `seed` (0: one read of all that
 * fits). Stops at a protocol error, as the connection closes then. */
static void parse_stream(const uint8_t *data, size_t size, uint32_t seed, struct run *run)
{
    const struct resp_scratch scratch = {.args = args, .inline_bytes = inline_bytes,
                                         .args_max = FUZZ_ARGS_MAX,
                                         .arg_bytes_max = FUZZ_ARG_BYTES_MAX,
                                         .bulk_bytes_limit = RESP_BULK_BYTES_LIMIT};
    struct resp_parser parser;
    resp_parser_init(&parser);
    uint32_t length = 0;
    size_t fed = 0;
    uint32_t state = seed * 2654435761u + 1u;
    run->count = 0;
    /* Each turn feeds at least one byte or ends: bounded by size + events. */
    for (uint32_t turn = 0; turn < size + FUZZ_EVENTS_MAX + 2; turn++) {
        struct resp_command command;
        enum resp_status status =
            resp_parse(&parser, &scratch, buffer, length, sizeof(buffer), &command);
        if (status == RESP_COMMAND || status == RESP_REFUSED || status == RESP_PROTOCOL_ERROR) {
            if (run->count == FUZZ_EVENTS_MAX) {
                return;
            }
            struct event *event = &run->events[run->count++];
            memset(event, 0, sizeof(*event));
            event->status = (uint8_t)status;
            event->error = command.error;
            event->error_byte = status == RESP_PROTOCOL_ERROR ? command.error_byte : 0;
            if (status == RESP_COMMAND) {
                event->arg_count = command.arg_count;
                event->digest = digest_args(command.arg_count);
                resp_parser_consume(&parser, command.end);
            }
            if (status == RESP_PROTOCOL_ERROR) {
                return;
            }
            continue;
        }
        /* RESP_NEED_MORE: drop what is consumed, then read. */
        uint32_t drop = parser.command_start;
        memmove(buffer, buffer + drop, length - drop);
        length -= drop;
        resp_parser_shift(&parser, drop);
        if (fed == size) {
            return;
        }
        uint32_t room = (uint32_t)sizeof(buffer) - length;
        if (room == 0) {
            fprintf(stderr, "the parser wants more with a full buffer\n");
            abort();
        }
        state = state * 1103515245u + 12345u;
        uint32_t read = seed == 0 ? room : 1u + (state >> 16) % (seed % 64u + 1u);
        read = read < room ? read : room;
        read = (size_t)read < size - fed ? read : (uint32_t)(size - fed);
        memcpy(buffer + length, data + fed, read);
        length += read;
        fed += read;
    }
    fprintf(stderr, "the parse made no progress\n");
    abort();
}

static struct run whole;
static struct run split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint32_t seed = (uint32_t)data[0] << 8 | data[1];
    seed = seed == 0 ? 1 : seed;
    data += 2;
    size -= 2;
    parse_stream(data, size, 0, &whole);
    parse_stream(data, size, seed, &split);
    if (whole.count != split.count || memcmp(whole.events, split.events,
                                             whole.count * sizeof(whole.events[0])) != 0) {
        fprintf(stderr, "split reads changed the parse: %u events whole, %u split\n", whole.count,
                split.count);
        abort();
    }
    return 0;
}
