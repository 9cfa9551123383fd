/*
 * Incremental, zero-copy RESP2 request parser (multibulk and inline), with no I/O.
 *
 * The caller owns a receive buffer and appends bytes to it; resp_parse() scans from where it
 * stopped and, once a whole command is in the buffer, fills `args` with slices pointing into
 * the buffer (an inline argument written with quotes is unescaped into scratch memory
 * instead, so the receive buffer is never written). The parser keeps O(1) state between calls,
 * so a command split over many reads costs O(bytes), never a rescan per read: a header or
 * inline line's search for its end resumes where the last call stopped (line_searched_bytes)
 * and never runs past that end into pipelined bytes, a bulk payload is counted rather than
 * searched, and a multibulk whose headers spanned several reads has its argument slices
 * rebuilt once, when it completes, by a walk over its headers. (A command that is complete but
 * left unconsumed is parsed again in full: the caller's choice.) Malformed input yields Redis
 * 7's own protocol error (the caller answers it and closes, as Redis does). A command that
 * breaks kv's limits (an argument longer than any legal key or value, more arguments than fit,
 * a command larger than the receive buffer) is scanned to its end without keeping its bytes,
 * then refused: the connection stays usable. Limits are checked on the headers, before any
 * payload is kept.
 *
 * Offsets: everything is relative to the buffer start. parser->command_start is where the
 * unconsumed input begins; bytes before it may be dropped by the caller, who then calls
 * resp_parser_shift() with the number of bytes it moved the rest down by.
 */
#ifndef KV_RESP_H
#define KV_RESP_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "slice.h"

/* Redis's PROTO_INLINE_MAX_SIZE: an inline request, or a '*'/'$' header line, may not grow
 * past this without its end of line. */
#define RESP_INLINE_BYTES_MAX (64u * 1024u)

/* Redis 7 judges a request line that has no end yet by what its query buffer holds when it
 * looks, and a request sent in one write fills that buffer to a jemalloc size class less the
 * buffer's 10-byte header: 80 KiB for a '*' line or an inline request, 160 KiB by the time it
 * reads a '$' line (measured against redis-server 7.0 on loopback). A line whose end lies past
 * these bytes is "too big" there even when its end arrived in the same write, so kv answers
 * the same. */
#define RESP_LINE_SEEN_BYTES (80u * 1024u - 10u)
#define RESP_BULK_LINE_SEEN_BYTES (160u * 1024u - 10u)

/* Redis's proto-max-bulk-len default (the scratch carries the configured one). */
#define RESP_BULK_BYTES_LIMIT (512ull * 1024ull * 1024ull)

/* Redis rejects a multibulk count above INT_MAX as a protocol error. */
#define RESP_MULTIBULK_COUNT_LIMIT 2147483647ll

enum resp_status {
    RESP_COMMAND,        /* a whole command: args[0..*arg_count) point into the buffer */
    RESP_NEED_MORE,      /* no whole command in the buffer: read more and call again */
    RESP_REFUSED,        /* a whole command that breaks a limit was consumed: answer `error` */
    RESP_PROTOCOL_ERROR, /* malformed input: answer `error` and close the connection */
    RESP_NEED_ARGS,      /* a whole command has more arguments (command->arg_count) than the
                            scratch holds: give it a larger args array and call again */
};

enum resp_error {
    RESP_ERROR_NONE,
    /* Protocol errors: Redis's text, connection closed. */
    RESP_ERROR_INVALID_MULTIBULK_LENGTH,
    RESP_ERROR_INVALID_BULK_LENGTH,
    RESP_ERROR_EXPECTED_DOLLAR,        /* "expected '$', got '%c'": the byte is in error_byte */
    RESP_ERROR_UNBALANCED_QUOTES,
    RESP_ERROR_INLINE_TOO_BIG,
    RESP_ERROR_MULTIBULK_COUNT_TOO_BIG,
    RESP_ERROR_BULK_COUNT_TOO_BIG,
    /* Refusals: kv's limits, connection kept. */
    RESP_ERROR_ARGUMENT_TOO_LONG,      /* a bulk longer than arg_bytes_max */
    RESP_ERROR_COMMAND_TOO_LARGE,      /* more inline args than args_max, or bigger than the
                                          buffer's limit */
};

/* Memory the parser writes its results into: carved once, shared by all connections, valid
 * until the next resp_parse() call. */
struct resp_scratch {
    struct slice *args;      /* args_max slices */
    uint8_t *inline_bytes;   /* receive-buffer-capacity bytes: unescaped quoted inline args */
    uint32_t args_max;       /* most arguments in one command */
    uint32_t arg_bytes_max;  /* longest argument kept: max(key_size_max, val_size_max) when
                                those caps are set; longer ones are refused, not kept */
    uint64_t bulk_bytes_limit; /* proto-max-bulk-len: a longer declared bulk is a protocol
                                  error, as in Redis */
};

/* What resp_parse() found. */
struct resp_command {
    uint32_t arg_count;      /* RESP_COMMAND: arguments in scratch->args */
    uint32_t end;            /* RESP_COMMAND: offset just past the command */
    uint8_t error;           /* RESP_REFUSED, RESP_PROTOCOL_ERROR: enum resp_error */
    uint8_t error_byte;      /* RESP_ERROR_EXPECTED_DOLLAR: the byte found instead of '$' */
};

enum resp_phase {
    RESP_PHASE_START,        /* at a command boundary */
    RESP_PHASE_BULK_HEADER,  /* expecting "$<len>\r\n" for argument arg_done */
    RESP_PHASE_BULK_PAYLOAD, /* expecting payload_left more bytes (payload and its CRLF) */
};

struct resp_parser {
    uint32_t command_start;  /* offset of the first unconsumed byte */
    uint32_t scan;           /* offset where scanning resumes, >= command_start */
    uint32_t arg_count;      /* arguments declared by the multibulk being scanned */
    uint32_t arg_done;       /* arguments of it fully scanned */
    /* Bytes of the line being read (an inline line or '*' header at command_start in
     * RESP_PHASE_START, a '$' header at scan in RESP_PHASE_BULK_HEADER) already searched for
     * its end: they hold neither its end byte nor a NUL, so the next search starts after
     * them. It stops on the end byte or a NUL once found (a line cut by a NUL never ends), is
     * 0 whenever a line begins and in RESP_PHASE_BULK_PAYLOAD, and counts from the line's
     * start, so resp_parser_shift() (which moves the line and its start alike) leaves it. */
    uint32_t line_searched_bytes;
    uint64_t payload_left;   /* RESP_PHASE_BULK_PAYLOAD: payload + CRLF bytes still to scan */
    uint8_t phase;           /* enum resp_phase */
    uint8_t refusal;         /* enum resp_error: why the command is refused, or NONE */
    bool args_fresh;         /* the command began in this call: scratch args hold arg_done */
};

void resp_parser_init(struct resp_parser *parser);

/*
 * Parses the next command from buffer[parser->command_start .. length). `capacity` is the
 * buffer's size: when an unfinished command fills it from offset 0 it can never complete,
 * so it is refused once it ends (its bytes are dropped as they are scanned).
 *
 * RESP_COMMAND: the arguments are in scratch->args; the command is consumed only when the
 * caller calls resp_parser_consume(parser, command->end). A caller that cannot run it yet
 * (no room for the reply) leaves it, and the next call parses it again.
 * RESP_REFUSED: the refused command has been consumed. RESP_PROTOCOL_ERROR: stop reading.
 */
KV_MUST_USE enum resp_status resp_parse(struct resp_parser *parser,
                                        const struct resp_scratch *scratch,
                                        const uint8_t *buffer, uint32_t length, uint32_t capacity,
                                        struct resp_command *command);

/* A fresh parser that starts at `offset` of a buffer (EXEC re-reads its queued commands). */
void resp_parser_init_at(struct resp_parser *parser, uint32_t offset);

/* What resp_split_word found. */
enum resp_split {
    RESP_SPLIT_END,        /* only spaces were left */
    RESP_SPLIT_WORD,       /* *word is the next word */
    RESP_SPLIT_UNBALANCED, /* a quote without its end, or one followed by a non-space */
};

/*
 * The next word of `line` from *index, as Redis's sdssplitargs() splits a line (inline
 * requests, FUNCTION's shebang): spaces skipped first, "..." with its escapes (\xHH \n \r
 * \t \b \a), '...' with \' only. A word without quotes points into the line; one with quotes
 * is unescaped into out + *out_bytes (never more bytes than the line holds, so `out` of
 * line_bytes is enough for every word of it). The line's end acts as sdssplitargs's NUL.
 */
enum resp_split resp_split_word(const uint8_t *line, uint32_t line_bytes, uint32_t *index,
                                uint8_t *out, uint32_t *out_bytes, struct slice *word);

/* Marks everything before `command_end` (from RESP_COMMAND) as consumed. */
void resp_parser_consume(struct resp_parser *parser, uint32_t command_end);

/* The caller moved buffer[shift ..] down to buffer[0 ..]; shift <= command_start. */
void resp_parser_shift(struct resp_parser *parser, uint32_t shift);

/* Bytes from command_start that the buffer must hold for the command being read to go on,
 * when the parser knows (inside a bulk payload it keeps); 0 when it does not (a header or
 * an inline line: the caller doubles its buffer). */
uint64_t resp_parser_wanted(const struct resp_parser *parser);

/* True when no command is partly scanned (the connection is at a command boundary). */
bool resp_parser_idle(const struct resp_parser *parser);

#endif
