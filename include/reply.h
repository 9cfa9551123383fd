/*
 * RESP2 reply encoders writing into a connection's send buffer, and the table of error
 * replies, byte-identical to Redis 7 where Redis defines them. The caller guarantees room
 * before a command runs (conn checks the command's reply bound), so every encoder asserts
 * room instead of failing. Handlers return error ids; only this module holds error text.
 */
#ifndef KV_REPLY_H
#define KV_REPLY_H

#include <stdint.h>

#include "config.h"
#include "kv_assert.h"
#include "slice.h"

struct reply {
    uint8_t *bytes;     /* the send buffer */
    uint32_t length;    /* bytes written so far */
    uint32_t capacity;  /* size of the send buffer */
};

enum reply_error {
    REPLY_ERROR_NONE,
    REPLY_ERROR_WRONGTYPE,
    REPLY_ERROR_SYNTAX,
    REPLY_ERROR_NOT_INTEGER,
    REPLY_ERROR_NOT_POSITIVE,      /* LPOP count < 0 */
    REPLY_ERROR_MAX_CLIENTS,
    REPLY_ERROR_NOAUTH,
    /* kv's limits: the message names the option and its value. */
    REPLY_ERROR_KEY_TOO_LONG,
    REPLY_ERROR_VALUE_TOO_LONG,
    REPLY_ERROR_LIST_FULL,
    REPLY_ERROR_FIELD_TOO_LONG,
    REPLY_ERROR_HASH_FULL,
    REPLY_ERROR_MEMBER_TOO_LONG,
    REPLY_ERROR_SET_FULL,
    REPLY_ERROR_ZSET_FULL,
    REPLY_ERROR_STORE_FULL,
    REPLY_ERROR_ARGUMENT_TOO_LONG,
    REPLY_ERROR_COMMAND_TOO_LARGE,
    REPLY_ERROR_COUNT,
};

/* Builds the limit errors' text from the configuration, once, at startup. */
void reply_errors_init(const struct config *config, uint32_t recv_buffer_bytes);

/* The full error line ("-ERR ...\r\n") for an id. */
struct slice reply_error_line(enum reply_error error);

void reply_raw(struct reply *reply, const void *bytes, uint32_t length);
void reply_simple(struct reply *reply, const char *text);   /* "+text\r\n" */
void reply_ok(struct reply *reply);                         /* "+OK\r\n" */
void reply_error(struct reply *reply, enum reply_error error);
void reply_integer(struct reply *reply, int64_t value);     /* ":value\r\n" */
void reply_bulk(struct reply *reply, struct slice bytes);   /* "$n\r\n...\r\n" */
/* A sorted-set score as Redis 7.0 answers it in RESP2: a bulk of "%.17g", "inf" or "-inf". */
void reply_score(struct reply *reply, double score);
void reply_null(struct reply *reply);                       /* "$-1\r\n" */
void reply_null_array(struct reply *reply);                 /* "*-1\r\n" */
void reply_array(struct reply *reply, uint32_t count);      /* "*count\r\n" */

/* An error line given whole without "-" and "\r\n" ("ERR no such key"): for errors one
 * family alone gives; the shared ones are enum reply_error. */
void reply_error_text(struct reply *reply, const char *text);

/* "-ERR wrong number of arguments for '<name>' command\r\n" (name already lower case). */
void reply_error_arity(struct reply *reply, const char *name);

/* "-ERR unknown command '<name>', with args beginning with: '<a>' ... \r\n", as Redis
 * bounds and sanitizes it. */
void reply_error_unknown_command(struct reply *reply, const struct slice *args,
                                 uint32_t arg_count);

/* "-ERR unknown subcommand '<sub>'. Try <COMMAND> HELP.\r\n" */
void reply_error_unknown_subcommand(struct reply *reply, struct slice subcommand,
                                    const char *command_upper);

/* Protocol errors ("-ERR Protocol error: ...\r\n") and parser refusals, by resp_error id;
 * `byte` is the offending byte for "expected '$', got '%c'". */
void reply_resp_error(struct reply *reply, uint8_t resp_error, uint8_t byte);

#endif
