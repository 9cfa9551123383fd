/*
 * Reply encoding and the error table. Encoders append to the send buffer and assert room:
 * the connection checked the command's reply bound before running it. Error lines are
 * Redis 7's, byte for byte, including how Redis bounds and sanitizes the parts it echoes
 * (at most 128 bytes of a name, C-string truncation at a NUL byte, CR and LF turned into
 * spaces). kv's own limit errors name the option and its value; their text is built once
 * at startup into static storage.
 */
#include "reply.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "resp.h"

#define REPLY_ERROR_LINE_BYTES_MAX 160u

static char error_lines[REPLY_ERROR_COUNT][REPLY_ERROR_LINE_BYTES_MAX];
static uint32_t error_lengths[REPLY_ERROR_COUNT];

static void error_set(enum reply_error error, const char *line)
{
    size_t length = strlen(line);
    KV_ASSERT(length < REPLY_ERROR_LINE_BYTES_MAX);
    memcpy(error_lines[error], line, length);
    error_lengths[error] = (uint32_t)length;
}

void reply_errors_init(const struct config *config, uint32_t recv_buffer_bytes)
{
    char line[REPLY_ERROR_LINE_BYTES_MAX];
    uint32_t arg_bytes_max = config->key_size_max > config->val_size_max ? config->key_size_max
                                                                         : config->val_size_max;
    error_set(REPLY_ERROR_WRONGTYPE,
              "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    error_set(REPLY_ERROR_SYNTAX, "-ERR syntax error\r\n");
    error_set(REPLY_ERROR_NOT_INTEGER, "-ERR value is not an integer or out of range\r\n");
    error_set(REPLY_ERROR_NOT_POSITIVE, "-ERR value is out of range, must be positive\r\n");
    error_set(REPLY_ERROR_MAX_CLIENTS, "-ERR max number of clients reached\r\n");
    error_set(REPLY_ERROR_NOAUTH, "-NOAUTH Authentication required.\r\n");
    snprintf(line, sizeof(line), "-ERR key is too long (key_size_max is %u bytes)\r\n",
             config->key_size_max);
    error_set(REPLY_ERROR_KEY_TOO_LONG, line);
    snprintf(line, sizeof(line), "-ERR value is too long (val_size_max is %u bytes)\r\n",
             config->val_size_max);
    error_set(REPLY_ERROR_VALUE_TOO_LONG, line);
    snprintf(line, sizeof(line), "-ERR list is full (list_length_max is %u)\r\n",
             config->list_length_max);
    error_set(REPLY_ERROR_LIST_FULL, line);
    snprintf(line, sizeof(line), "-ERR field is too long (key_size_max is %u bytes)\r\n",
             config->key_size_max);
    error_set(REPLY_ERROR_FIELD_TOO_LONG, line);
    snprintf(line, sizeof(line), "-ERR hash is full (list_length_max is %u fields)\r\n",
             config->list_length_max);
    error_set(REPLY_ERROR_HASH_FULL, line);
    snprintf(line, sizeof(line), "-ERR member is too long (key_size_max is %u bytes)\r\n",
             config->key_size_max);
    error_set(REPLY_ERROR_MEMBER_TOO_LONG, line);
    snprintf(line, sizeof(line), "-ERR set is full (list_length_max is %u members)\r\n",
             config->list_length_max);
    error_set(REPLY_ERROR_SET_FULL, line);
    snprintf(line, sizeof(line), "-ERR sorted set is full (list_length_max is %u members)\r\n",
             config->list_length_max);
    error_set(REPLY_ERROR_ZSET_FULL, line);
    snprintf(line, sizeof(line), "-ERR store is full (key_count is %u keys)\r\n",
             config->key_count);
    error_set(REPLY_ERROR_STORE_FULL, line);
    snprintf(line, sizeof(line),
             "-ERR argument is too long (the longest key or value is %u bytes)\r\n",
             arg_bytes_max);
    error_set(REPLY_ERROR_ARGUMENT_TOO_LONG, line);
    snprintf(line, sizeof(line),
             "-ERR command is too large (the receive buffer holds %u bytes)\r\n",
             recv_buffer_bytes);
    error_set(REPLY_ERROR_COMMAND_TOO_LARGE, line);
}

struct slice reply_error_line(enum reply_error error)
{
    KV_ASSERT(error > REPLY_ERROR_NONE && error < REPLY_ERROR_COUNT);
    KV_ASSERT(error_lengths[error] > 0);
    return (struct slice){.bytes = (const uint8_t *)error_lines[error],
                          .length = error_lengths[error]};
}

void reply_raw(struct reply *reply, const void *bytes, uint32_t length)
{
    KV_ASSERT(reply->length <= reply->capacity);
    KV_ASSERT(length <= reply->capacity - reply->length);
    if (length == 0) {
        return; /* An empty slice may carry a NULL pointer, which memcpy must not see. */
    }
    memcpy(reply->bytes + reply->length, bytes, length);
    reply->length += length;
}

void reply_error_text(struct reply *reply, const char *text)
{
    reply_raw(reply, "-", 1);
    reply_raw(reply, text, (uint32_t)strlen(text));
    reply_raw(reply, "\r\n", 2);
}

void reply_simple(struct reply *reply, const char *text)
{
    reply_raw(reply, "+", 1);
    reply_raw(reply, text, (uint32_t)strlen(text));
    reply_raw(reply, "\r\n", 2);
}

void reply_ok(struct reply *reply)
{
    reply_raw(reply, "+OK\r\n", 5);
}

void reply_error(struct reply *reply, enum reply_error error)
{
    struct slice line = reply_error_line(error);
    reply_raw(reply, line.bytes, line.length);
}

/* Writes `prefix`, the decimal value, and CRLF. */
static void reply_number_line(struct reply *reply, char prefix, int64_t value)
{
    char text[24];
    uint32_t at = sizeof(text);
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        text[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0) {
        text[--at] = '-';
    }
    text[--at] = prefix;
    reply_raw(reply, text + at, (uint32_t)(sizeof(text) - at));
    reply_raw(reply, "\r\n", 2);
}

void reply_integer(struct reply *reply, int64_t value)
{
    reply_number_line(reply, ':', value);
}

void reply_bulk(struct reply *reply, struct slice bytes)
{
    reply_number_line(reply, '$', bytes.length);
    reply_raw(reply, bytes.bytes, bytes.length);
    reply_raw(reply, "\r\n", 2);
}

void reply_score(struct reply *reply, double score)
{
    char text[32];
    int length = isinf(score) ? snprintf(text, sizeof(text), "%s", score > 0 ? "inf" : "-inf")
                              : snprintf(text, sizeof(text), "%.17g", score);
    KV_ASSERT(length > 0 && (uint32_t)length < sizeof(text));
    reply_bulk(reply, (struct slice){.bytes = (const uint8_t *)text, .length = (uint32_t)length});
}

void reply_null(struct reply *reply)
{
    reply_raw(reply, "$-1\r\n", 5);
}

void reply_null_array(struct reply *reply)
{
    reply_raw(reply, "*-1\r\n", 5);
}

void reply_array(struct reply *reply, uint32_t count)
{
    reply_number_line(reply, '*', count);
}

void reply_error_arity(struct reply *reply, const char *name)
{
    static const char head[] = "-ERR wrong number of arguments for '";
    static const char tail[] = "' command\r\n";
    reply_raw(reply, head, sizeof(head) - 1);
    reply_raw(reply, name, (uint32_t)strlen(name));
    reply_raw(reply, tail, sizeof(tail) - 1);
}

/*
 * Appends what printf("%.*s", bytes_max, text) appends for a Redis argument: at most
 * bytes_max bytes, stopping at a NUL byte (Redis prints its sds as a C string), with CR and
 * LF turned into spaces (Redis maps them so the error stays one line). Returns the count.
 */
static uint32_t reply_echoed(struct reply *reply, struct slice text, uint32_t bytes_max)
{
    uint32_t count = 0;
    while (count < text.length && count < bytes_max && text.bytes[count] != 0) {
        uint8_t byte = text.bytes[count];
        if (byte == '\r' || byte == '\n') {
            byte = ' ';
        }
        reply_raw(reply, &byte, 1);
        count++;
    }
    return count;
}

void reply_error_unknown_command(struct reply *reply, const struct slice *args,
                                 uint32_t arg_count)
{
    static const char head[] = "-ERR unknown command '";
    static const char middle[] = "', with args beginning with: ";
    KV_ASSERT(arg_count >= 1);
    reply_raw(reply, head, sizeof(head) - 1);
    reply_echoed(reply, args[0], 128);
    reply_raw(reply, middle, sizeof(middle) - 1);
    /* Redis adds "'<arg>' " while its list is shorter than 128 bytes, each arg cut to fit. */
    uint32_t listed_bytes = 0;
    for (uint32_t index = 1; index < arg_count && listed_bytes < 128; index++) {
        reply_raw(reply, "'", 1);
        listed_bytes += reply_echoed(reply, args[index], 128 - listed_bytes) + 3;
        reply_raw(reply, "' ", 2);
    }
    reply_raw(reply, "\r\n", 2);
}

void reply_error_unknown_subcommand(struct reply *reply, struct slice subcommand,
                                    const char *command_upper)
{
    static const char head[] = "-ERR unknown subcommand '";
    reply_raw(reply, head, sizeof(head) - 1);
    reply_echoed(reply, subcommand, 128);
    reply_raw(reply, "'. Try ", 7);
    reply_raw(reply, command_upper, (uint32_t)strlen(command_upper));
    reply_raw(reply, " HELP.\r\n", 8);
}

void reply_resp_error(struct reply *reply, uint8_t resp_error, uint8_t byte)
{
    static const char *const protocol_texts[] = {
        [RESP_ERROR_INVALID_MULTIBULK_LENGTH] = "invalid multibulk length",
        [RESP_ERROR_INVALID_BULK_LENGTH] = "invalid bulk length",
        [RESP_ERROR_UNBALANCED_QUOTES] = "unbalanced quotes in request",
        [RESP_ERROR_INLINE_TOO_BIG] = "too big inline request",
        [RESP_ERROR_MULTIBULK_COUNT_TOO_BIG] = "too big mbulk count string",
        [RESP_ERROR_BULK_COUNT_TOO_BIG] = "too big bulk count string",
    };
    static const char head[] = "-ERR Protocol error: ";
    if (resp_error == RESP_ERROR_ARGUMENT_TOO_LONG) {
        reply_error(reply, REPLY_ERROR_ARGUMENT_TOO_LONG);
        return;
    }
    if (resp_error == RESP_ERROR_COMMAND_TOO_LARGE) {
        reply_error(reply, REPLY_ERROR_COMMAND_TOO_LARGE);
        return;
    }
    reply_raw(reply, head, sizeof(head) - 1);
    if (resp_error == RESP_ERROR_EXPECTED_DOLLAR) {
        static const char expected[] = "expected '$', got '";
        reply_raw(reply, expected, sizeof(expected) - 1);
        /* Redis formats with %c into a C string: a NUL byte ends the message there. */
        if (byte != 0) {
            uint8_t shown = (byte == '\r' || byte == '\n') ? ' ' : byte;
            reply_raw(reply, &shown, 1);
            reply_raw(reply, "'", 1);
        }
        reply_raw(reply, "\r\n", 2);
        return;
    }
    KV_ASSERT(resp_error < sizeof(protocol_texts) / sizeof(protocol_texts[0]));
    const char *text = protocol_texts[resp_error];
    KV_ASSERT(text != NULL);
    reply_raw(reply, text, (uint32_t)strlen(text));
    reply_raw(reply, "\r\n", 2);
}
