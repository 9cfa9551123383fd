/*
 * RESP2 request parsing, matching Redis 7's networking.c byte for byte in what it accepts,
 * ignores and rejects:
 *  - a request starting with '*' is multibulk; anything else is an inline line;
 *  - header lines end at the first '\r' followed by any byte (Redis skips two bytes without
 *    checking the second), bulk payloads are followed by two bytes that are skipped unchecked;
 *  - searches stop at a NUL byte, as Redis's strchr() does on its query buffer;
 *  - numbers parse as Redis's string2ll (no sign '+', no leading zeros, no spaces);
 *  - `*0` or a negative count, and empty inline lines, are ignored without a reply;
 *  - inline lines are split as sdssplitargs() splits them, quotes and escapes included.
 * Limits are applied at the headers: an argument that no command could accept, or a command
 * that cannot fit the buffer, is skipped to its end and refused, never copied.
 * The parser does no I/O and never allocates; every loop is bounded by the buffer length.
 * A line's search for its end resumes where the previous call left it (line_searched_bytes),
 * so a line arriving one byte per read costs O(its bytes), not O(its bytes squared).
 */
#include "resp.h"

#include <string.h>

#include "number.h"

void resp_parser_init(struct resp_parser *parser)
{
    memset(parser, 0, sizeof(*parser));
    parser->phase = RESP_PHASE_START;
    KV_ASSERT(resp_parser_idle(parser));
}

void resp_parser_init_at(struct resp_parser *parser, uint32_t offset)
{
    resp_parser_init(parser);
    parser->command_start = offset;
    parser->scan = offset;
}

uint64_t resp_parser_wanted(const struct resp_parser *parser)
{
    if (parser->phase != RESP_PHASE_BULK_PAYLOAD || parser->refusal != RESP_ERROR_NONE) {
        return 0;
    }
    KV_ASSERT(parser->scan >= parser->command_start);
    return (uint64_t)(parser->scan - parser->command_start) + parser->payload_left;
}

bool resp_parser_idle(const struct resp_parser *parser)
{
    return parser->phase == RESP_PHASE_START;
}

void resp_parser_consume(struct resp_parser *parser, uint32_t command_end)
{
    KV_ASSERT(parser->phase == RESP_PHASE_START);
    KV_ASSERT(command_end > parser->command_start);
    /* A command is handed over only once its last line was read, and finishing a line
     * resets the search: the next line, at command_end, starts unsearched. */
    KV_ASSERT(parser->line_searched_bytes == 0);
    parser->command_start = command_end;
    parser->scan = command_end;
}

void resp_parser_shift(struct resp_parser *parser, uint32_t shift)
{
    KV_ASSERT(shift <= parser->command_start);
    KV_ASSERT(parser->scan >= parser->command_start);
    /* line_searched_bytes counts from the line's start, which is at or after command_start
     * and moves down with it: it stays as it is. */
    parser->command_start -= shift;
    parser->scan -= shift;
}

/* Where the line being read starts: the command's first byte, or the '$' header at scan. */
static uint32_t line_start(const struct resp_parser *parser)
{
    return parser->phase == RESP_PHASE_START ? parser->command_start : parser->scan;
}

/*
 * Finds the end byte `target` of the line starting at `from`: the first `target` in
 * buffer[from .. length) before any NUL byte (Redis searches its query buffer with strchr),
 * or UINT32_MAX. The search resumes after the *searched_bytes bytes earlier calls searched
 * and records how far it got, stopping on the target or on a NUL (which no later byte can get
 * past), so each byte of a line is searched once or twice in all, however it is split.
 */
static uint32_t line_search(const uint8_t *buffer, uint32_t from, uint32_t length,
                            uint8_t target, uint32_t *searched_bytes)
{
    KV_ASSERT(target != 0);
    KV_ASSERT(from <= length && *searched_bytes <= length - from);
    uint32_t resume = from + *searched_bytes;
    if (resume == length || buffer[resume] == 0) {
        return UINT32_MAX; /* Nothing new, or the line is cut by a NUL for good. */
    }
    /* The target first, then a NUL only before it: neither search runs past the line's end
     * into the commands pipelined after it. */
    const uint8_t *found = memchr(buffer + resume, target, length - resume);
    uint32_t end = found == NULL ? length : (uint32_t)(found - buffer);
    const uint8_t *nul = memchr(buffer + resume, 0, end - resume);
    if (nul != NULL) {
        end = (uint32_t)(nul - buffer);
        found = NULL;
    }
    *searched_bytes = end - from;
    KV_ASSERT(end >= resume && end <= length);
    return found == NULL ? UINT32_MAX : end;
}

/*
 * Is a line starting at `from`, with its end at `end` (UINT32_MAX: none yet), too big as Redis
 * judges it? With no end, when more than RESP_INLINE_BYTES_MAX bytes wait (Redis answers so
 * as soon as its buffer holds that many); with an end, when the end lies past the `seen`
 * bytes Redis holds when it looks (a request sent in one write; see resp.h).
 */
static bool line_too_big(uint32_t from, uint32_t end, uint32_t length, uint32_t seen)
{
    if (end != UINT32_MAX) {
        return end - from >= seen;
    }
    return length - from > RESP_INLINE_BYTES_MAX;
}

/*
 * Finds the end of a header line starting at `from`: the first '\r' with one more byte after
 * it. Returns the offset of the '\r', or UINT32_MAX (more input needed, or *too_big when the
 * line is too big as Redis judges it: see line_too_big). The search resumes after
 * *searched_bytes (see line_search).
 */
static uint32_t header_end(const uint8_t *buffer, uint32_t from, uint32_t length,
                           uint32_t seen, uint32_t *searched_bytes, bool *too_big)
{
    uint32_t cr = line_search(buffer, from, length, '\r', searched_bytes);
    *too_big = line_too_big(from, cr, length, seen);
    if (*too_big) {
        return UINT32_MAX;
    }
    /* A '\r' as the last byte needs one more byte after it, unless the number before it is
     * too long to parse anyway: then the answer is known now, and a full buffer cannot wait
     * on it. */
    bool unparsable = cr != UINT32_MAX && cr - from > 21;
    if (cr == UINT32_MAX || (cr + 1 >= length && !unparsable)) {
        return UINT32_MAX;
    }
    return cr;
}

static enum resp_status fail(struct resp_command *command, enum resp_error error)
{
    command->error = (uint8_t)error;
    return RESP_PROTOCOL_ERROR;
}

/* Starts refusing the current command: its bytes are dropped from here on. */
static void refuse(struct resp_parser *parser, enum resp_error refusal)
{
    if (parser->refusal == RESP_ERROR_NONE) {
        parser->refusal = (uint8_t)refusal;
    }
    parser->command_start = parser->scan;
}

/* Refills scratch->args for a command whose headers were scanned over several calls. */
static void collect_args(const struct resp_parser *parser, const struct resp_scratch *scratch,
                         const uint8_t *buffer)
{
    KV_ASSERT(parser->arg_count <= scratch->args_max);
    uint32_t offset = parser->command_start;
    KV_ASSERT(buffer[offset] == '*');
    offset = (uint32_t)((const uint8_t *)memchr(buffer + offset, '\r', parser->scan - offset) -
                        buffer) + 2;
    for (uint32_t index = 0; index < parser->arg_count; index++) {
        KV_ASSERT(offset < parser->scan && buffer[offset] == '$');
        uint32_t length = 0;
        uint32_t digit = offset + 1;
        for (; buffer[digit] != '\r'; digit++) {
            length = length * 10 + (uint32_t)(buffer[digit] - '0');
        }
        scratch->args[index].bytes = buffer + digit + 2;
        scratch->args[index].length = length;
        offset = digit + 2 + length + 2;
    }
    KV_ASSERT(offset == parser->scan);
}

/* "*<count>\r\n" at command_start. */
static enum resp_status scan_multibulk_header(struct resp_parser *parser,
                                              const struct resp_scratch *scratch,
                                              const uint8_t *buffer, uint32_t length,
                                              struct resp_command *command)
{
    bool too_big = false;
    uint32_t cr = header_end(buffer, parser->command_start, length, RESP_LINE_SEEN_BYTES,
                             &parser->line_searched_bytes, &too_big);
    if (cr == UINT32_MAX) {
        return too_big ? fail(command, RESP_ERROR_MULTIBULK_COUNT_TOO_BIG) : RESP_NEED_MORE;
    }
    int64_t count = 0;
    uint32_t start = parser->command_start + 1;
    if (!number_parse_int64(buffer + start, cr - start, &count) ||
        count > RESP_MULTIBULK_COUNT_LIMIT) {
        return fail(command, RESP_ERROR_INVALID_MULTIBULK_LENGTH);
    }
    parser->scan = cr + 2;
    parser->line_searched_bytes = 0; /* The next line starts at scan. */
    if (count <= 0) {
        /* Redis ignores empty and negative multibulks without a reply. */
        parser->command_start = parser->scan;
        return RESP_NEED_MORE;
    }
    parser->arg_count = (uint32_t)count;
    parser->arg_done = 0;
    parser->refusal = RESP_ERROR_NONE;
    parser->phase = RESP_PHASE_BULK_HEADER;
    if (parser->arg_count > scratch->args_max) {
        /* More than the scratch holds: scanned without keeping slices, and once whole the
         * caller is asked for a larger scratch (RESP_NEED_ARGS). */
        parser->args_fresh = false;
    }
    return RESP_COMMAND; /* Not final: tells the caller to keep scanning. */
}

/* "$<length>\r\n" at scan. */
static enum resp_status scan_bulk_header(struct resp_parser *parser,
                                         const struct resp_scratch *scratch,
                                         const uint8_t *buffer, uint32_t length,
                                         struct resp_command *command)
{
    if (parser->scan >= length) {
        return RESP_NEED_MORE;
    }
    /* Redis waits for the whole header line before it looks at its first byte. */
    bool too_big = false;
    uint32_t cr = header_end(buffer, parser->scan, length, RESP_BULK_LINE_SEEN_BYTES,
                             &parser->line_searched_bytes, &too_big);
    if (cr == UINT32_MAX) {
        return too_big ? fail(command, RESP_ERROR_BULK_COUNT_TOO_BIG) : RESP_NEED_MORE;
    }
    if (buffer[parser->scan] != '$') {
        command->error_byte = buffer[parser->scan];
        return fail(command, RESP_ERROR_EXPECTED_DOLLAR);
    }
    int64_t bulk_bytes = 0;
    uint32_t start = parser->scan + 1;
    if (!number_parse_int64(buffer + start, cr - start, &bulk_bytes) || bulk_bytes < 0 ||
        (uint64_t)bulk_bytes > scratch->bulk_bytes_limit) {
        return fail(command, RESP_ERROR_INVALID_BULK_LENGTH);
    }
    parser->scan = cr + 2;
    parser->line_searched_bytes = 0; /* A payload is counted, not searched. */
    parser->payload_left = (uint64_t)bulk_bytes + 2;
    parser->phase = RESP_PHASE_BULK_PAYLOAD;
    if ((uint64_t)bulk_bytes > scratch->arg_bytes_max || parser->refusal != RESP_ERROR_NONE) {
        refuse(parser, RESP_ERROR_ARGUMENT_TOO_LONG);
    }
    return RESP_COMMAND;
}

/* Payload bytes and the two bytes after them, at scan. */
static enum resp_status scan_bulk_payload(struct resp_parser *parser,
                                          const struct resp_scratch *scratch,
                                          const uint8_t *buffer, uint32_t length)
{
    uint32_t available = length - parser->scan;
    if (parser->refusal != RESP_ERROR_NONE) {
        uint64_t skipped = available < parser->payload_left ? available : parser->payload_left;
        parser->scan += (uint32_t)skipped;
        parser->payload_left -= skipped;
        parser->command_start = parser->scan;
        if (parser->payload_left != 0) {
            return RESP_NEED_MORE;
        }
    } else {
        if (available < parser->payload_left) {
            return RESP_NEED_MORE;
        }
        if (parser->args_fresh) {
            scratch->args[parser->arg_done].bytes = buffer + parser->scan;
            scratch->args[parser->arg_done].length = (uint32_t)(parser->payload_left - 2);
        }
        parser->scan += (uint32_t)parser->payload_left;
        parser->payload_left = 0;
    }
    KV_ASSERT(parser->line_searched_bytes == 0); /* The next '$' line starts unsearched. */
    parser->arg_done++;
    parser->phase = RESP_PHASE_BULK_HEADER;
    return RESP_COMMAND;
}

static bool is_space(uint8_t byte)
{
    return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\v' || byte == '\f' ||
           byte == '\r';
}

static int hex_value(uint8_t byte)
{
    if (byte >= '0' && byte <= '9') {
        return byte - '0';
    }
    if (byte >= 'a' && byte <= 'f') {
        return byte - 'a' + 10;
    }
    if (byte >= 'A' && byte <= 'F') {
        return byte - 'A' + 10;
    }
    return -1;
}

/* One escape inside double quotes at line[*index] == '\\'; returns the byte it stands for. */
static uint8_t unescape(const uint8_t *line, uint32_t line_bytes, uint32_t *index)
{
    uint32_t at = *index;
    if (at + 3 < line_bytes && line[at + 1] == 'x' && hex_value(line[at + 2]) >= 0 &&
        hex_value(line[at + 3]) >= 0) {
        *index = at + 3;
        return (uint8_t)(hex_value(line[at + 2]) * 16 + hex_value(line[at + 3]));
    }
    *index = at + 1;
    switch (line[at + 1]) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return line[at + 1];
    }
}

enum resp_split resp_split_word(const uint8_t *line, uint32_t line_bytes, uint32_t *index,
                                uint8_t *out, uint32_t *out_bytes, struct slice *word)
{
    uint32_t at = *index;
    /* Bounded by the line. */
    while (at < line_bytes && is_space(line[at])) {
        at++;
    }
    if (at == line_bytes) {
        *index = at;
        return RESP_SPLIT_END;
    }
    uint32_t start = at;
    uint32_t out_start = *out_bytes;
    bool quoted = false;
    uint8_t quote = 0;
    for (; at < line_bytes; at++) {
        uint8_t byte = line[at];
        if (quote == '"') {
            if (byte == '\\' && at + 1 < line_bytes) {
                byte = unescape(line, line_bytes, &at);
            } else if (byte == '"') {
                if (at + 1 < line_bytes && !is_space(line[at + 1])) {
                    return RESP_SPLIT_UNBALANCED;
                }
                quote = 0;
                at++;
                break;
            }
        } else if (quote == '\'') {
            if (byte == '\\' && at + 1 < line_bytes && line[at + 1] == '\'') {
                at++;
                byte = '\'';
            } else if (byte == '\'') {
                if (at + 1 < line_bytes && !is_space(line[at + 1])) {
                    return RESP_SPLIT_UNBALANCED;
                }
                quote = 0;
                at++;
                break;
            }
        } else if (byte == ' ' || byte == '\n' || byte == '\r' || byte == '\t') {
            break;
        } else if (byte == '"' || byte == '\'') {
            if (!quoted) {
                /* From here the token is rebuilt in scratch: copy what came before. */
                memcpy(out + *out_bytes, line + start, at - start);
                *out_bytes += at - start;
                quoted = true;
            }
            quote = byte;
            continue;
        }
        if (quoted) {
            out[(*out_bytes)++] = byte;
        }
    }
    if (quote != 0) {
        return RESP_SPLIT_UNBALANCED;
    }
    *index = at;
    if (quoted) {
        word->bytes = out + out_start;
        word->length = *out_bytes - out_start;
    } else {
        word->bytes = line + start;
        word->length = at - start;
    }
    KV_ASSERT(*out_bytes <= at);
    return RESP_SPLIT_WORD;
}

/* An inline request: one line, split into arguments. */
static enum resp_status scan_inline(struct resp_parser *parser, const struct resp_scratch *scratch,
                                    const uint8_t *buffer, uint32_t length,
                                    struct resp_command *command)
{
    uint32_t start = parser->command_start;
    uint32_t newline = line_search(buffer, start, length, '\n', &parser->line_searched_bytes);
    if (line_too_big(start, newline, length, RESP_LINE_SEEN_BYTES)) {
        return fail(command, RESP_ERROR_INLINE_TOO_BIG);
    }
    if (newline == UINT32_MAX) {
        return RESP_NEED_MORE;
    }
    uint32_t line_end = newline > start && buffer[newline - 1] == '\r' ? newline - 1 : newline;
    const uint8_t *line = buffer + start;
    uint32_t line_bytes = line_end - start;
    uint32_t index = 0;
    uint32_t out_bytes = 0;
    uint32_t arg_count = 0;
    enum resp_error refusal = RESP_ERROR_NONE;
    struct slice token;
    enum resp_split split;
    /* Bounded by line_bytes: every word consumes at least one byte. */
    while ((split = resp_split_word(line, line_bytes, &index, scratch->inline_bytes, &out_bytes,
                                    &token)) != RESP_SPLIT_END) {
        if (split == RESP_SPLIT_UNBALANCED) {
            return fail(command, RESP_ERROR_UNBALANCED_QUOTES);
        }
        if (arg_count == scratch->args_max) {
            refusal = RESP_ERROR_COMMAND_TOO_LARGE;
        } else {
            scratch->args[arg_count++] = token;
        }
        if (token.length > scratch->arg_bytes_max && refusal == RESP_ERROR_NONE) {
            refusal = RESP_ERROR_ARGUMENT_TOO_LONG;
        }
    }
    KV_ASSERT(out_bytes <= line_bytes);
    parser->scan = newline + 1;
    /* The line is read: the next one starts unsearched, and this one, if the caller leaves
     * the command unconsumed, is searched again with the rest of its parse. */
    parser->line_searched_bytes = 0;
    if (arg_count == 0) {
        parser->command_start = parser->scan; /* An empty line: Redis ignores it. */
        return RESP_NEED_MORE;
    }
    if (refusal != RESP_ERROR_NONE) {
        parser->command_start = parser->scan;
        command->error = (uint8_t)refusal;
        return RESP_REFUSED;
    }
    command->arg_count = arg_count;
    command->end = parser->scan;
    return RESP_COMMAND;
}

/* The multibulk in progress has all its arguments: hand it over or refuse it. */
static enum resp_status finish_multibulk(struct resp_parser *parser,
                                         const struct resp_scratch *scratch,
                                         const uint8_t *buffer, struct resp_command *command)
{
    KV_ASSERT(parser->arg_done == parser->arg_count);
    KV_ASSERT(parser->line_searched_bytes == 0); /* No '$' line was begun past the last. */
    if (parser->refusal == RESP_ERROR_NONE && parser->arg_count > scratch->args_max) {
        command->arg_count = parser->arg_count; /* whole: the caller grows the scratch */
        return RESP_NEED_ARGS;
    }
    parser->phase = RESP_PHASE_START;
    if (parser->refusal != RESP_ERROR_NONE) {
        parser->command_start = parser->scan;
        command->error = parser->refusal;
        parser->refusal = RESP_ERROR_NONE;
        return RESP_REFUSED;
    }
    if (!parser->args_fresh) {
        collect_args(parser, scratch, buffer);
    }
    command->arg_count = parser->arg_count;
    command->end = parser->scan;
    return RESP_COMMAND;
}

/*
 * The decimal of a header line as the usual request writes it: 1 to 9 digits, no leading zero
 * (a lone "0" is a number), then "\r\n", at buffer[*at ..). Returns false for anything else,
 * having moved nothing: the general path then judges the line as Redis does.
 */
static inline bool fast_number(const uint8_t *buffer, uint32_t length, uint32_t *at,
                               uint32_t *value)
{
    uint32_t first = *at;
    KV_ASSERT(first <= length);
    /* Bounded: at most 10 bytes are looked at, one past the longest number taken. */
    uint32_t end = length - first > 10 ? first + 10 : length;
    uint32_t index = first;
    uint32_t number = 0;
    for (; index < end && buffer[index] >= '0' && buffer[index] <= '9'; index++) {
        number = number * 10 + (uint32_t)(buffer[index] - '0');
    }
    uint32_t digits = index - first;
    if (digits == 0 || digits > 9 || (digits > 1 && buffer[first] == '0') ||
        length - index < 2 || buffer[index] != '\r' || buffer[index + 1] != '\n') {
        return false;
    }
    *at = index + 2;
    *value = number;
    return true;
}

/*
 * The usual request, whole in the buffer: "*<n>\r\n" then n times "$<len>\r\n<payload>" and
 * two bytes, every number short and plain, n within the scratch and every length within the
 * limits. Read in one pass, without the general path's resumable line searches; anything else
 * (a command not all here, an odd or long header, a limit reached) returns false having
 * changed nothing, and the general path reads it as Redis would. What this accepts, the general
 * path accepts with the same arguments and end (fuzz_resp compares whole buffers, read here,
 * with the same bytes in chunks, read there).
 */
static bool parse_whole(struct resp_parser *parser, const struct resp_scratch *scratch,
                        const uint8_t *buffer, uint32_t length, struct resp_command *command)
{
    KV_ASSERT(parser->phase == RESP_PHASE_START && buffer[parser->command_start] == '*');
    uint32_t at = parser->command_start + 1;
    uint32_t count = 0;
    if (!fast_number(buffer, length, &at, &count) || count == 0 || count > scratch->args_max) {
        return false;
    }
    /* Bounded by count <= args_max; each pass moves `at` forward within the buffer. */
    for (uint32_t index = 0; index < count; index++) {
        uint32_t bulk = 0;
        if (at >= length || buffer[at] != '$') {
            return false;
        }
        at++;
        if (!fast_number(buffer, length, &at, &bulk) || bulk > scratch->arg_bytes_max ||
            bulk > scratch->bulk_bytes_limit || length - at < bulk + 2u) {
            return false;
        }
        scratch->args[index] = (struct slice){.bytes = buffer + at, .length = bulk};
        at += bulk + 2u; /* the payload, and the two bytes Redis skips unchecked after it */
    }
    KV_ASSERT(at <= length);
    parser->scan = at;
    parser->arg_count = count;
    parser->arg_done = count;
    parser->args_fresh = true;
    command->arg_count = count;
    command->end = at;
    parser->line_searched_bytes = 0; /* the next line, at `at`, starts unsearched */
    parser->refusal = RESP_ERROR_NONE;
    KV_ASSERT(parser->phase == RESP_PHASE_START);
    return true;
}

/* One step of multibulk scanning; RESP_COMMAND means "progress made, go on". */
static enum resp_status scan_step(struct resp_parser *parser, const struct resp_scratch *scratch,
                                  const uint8_t *buffer, uint32_t length,
                                  struct resp_command *command)
{
    if (parser->phase == RESP_PHASE_BULK_HEADER) {
        return scan_bulk_header(parser, scratch, buffer, length, command);
    }
    KV_ASSERT(parser->phase == RESP_PHASE_BULK_PAYLOAD);
    return scan_bulk_payload(parser, scratch, buffer, length);
}

enum resp_status resp_parse(struct resp_parser *parser, const struct resp_scratch *scratch,
                            const uint8_t *buffer, uint32_t length, uint32_t capacity,
                            struct resp_command *command)
{
    KV_ASSERT(parser->command_start <= parser->scan && parser->scan <= length);
    KV_ASSERT(length <= capacity && capacity > RESP_INLINE_BYTES_MAX);
    KV_ASSERT(parser->line_searched_bytes <= length - line_start(parser));
    command->error = RESP_ERROR_NONE;
    command->error_byte = 0; /* Set only for RESP_ERROR_EXPECTED_DOLLAR: defined otherwise. */
    if (parser->phase != RESP_PHASE_START) {
        parser->args_fresh = false;
    }
    /* Each pass consumes input or returns, so the loop is bounded by `length`. */
    for (;;) {
        if (parser->phase == RESP_PHASE_START) {
            if (parser->command_start >= length) {
                return RESP_NEED_MORE;
            }
            parser->scan = parser->command_start;
            parser->args_fresh = true;
            if (buffer[parser->command_start] != '*') {
                uint32_t before = parser->command_start;
                enum resp_status status = scan_inline(parser, scratch, buffer, length, command);
                if (status != RESP_NEED_MORE || parser->command_start == before) {
                    return status;
                }
                continue; /* An empty line was skipped. */
            }
            if (parse_whole(parser, scratch, buffer, length, command)) {
                return RESP_COMMAND;
            }
            uint32_t before = parser->command_start;
            enum resp_status status =
                scan_multibulk_header(parser, scratch, buffer, length, command);
            if (status != RESP_COMMAND) {
                if (status == RESP_NEED_MORE && parser->command_start != before) {
                    continue; /* An empty multibulk was skipped. */
                }
                return status;
            }
            continue;
        }
        if (parser->arg_done == parser->arg_count) {
            return finish_multibulk(parser, scratch, buffer, command);
        }
        enum resp_status status = scan_step(parser, scratch, buffer, length, command);
        if (status == RESP_NEED_MORE) {
            if (parser->command_start == 0 && length == capacity &&
                parser->refusal == RESP_ERROR_NONE) {
                /* The command fills the whole buffer and is still unfinished. */
                refuse(parser, RESP_ERROR_COMMAND_TOO_LARGE);
                continue;
            }
            return RESP_NEED_MORE;
        }
        if (status != RESP_COMMAND) {
            return status;
        }
    }
}
