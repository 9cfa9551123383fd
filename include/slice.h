/*
 * A read-only run of bytes that kv does not own: a request argument inside a receive
 * buffer, or a stored key or value handed to an encoder. Never stored past the call
 * that received it.
 */
#ifndef KV_SLICE_H
#define KV_SLICE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct slice {
    const uint8_t *bytes; /* first byte; may be NULL when length is 0 */
    uint32_t length;      /* bytes in the run */
};

/* Whether two slices hold the same bytes. */
static inline bool slice_equal(struct slice a, struct slice b)
{
    return a.length == b.length && (a.length == 0 || memcmp(a.bytes, b.bytes, a.length) == 0);
}

/* A slice over `length` bytes at `bytes`. */
static inline struct slice slice_bytes(const void *bytes, uint32_t length)
{
    return (struct slice){.bytes = (const uint8_t *)bytes, .length = length};
}

/* A slice over a C string's bytes (without its NUL). */
static inline struct slice slice_text(const char *text)
{
    return slice_bytes(text, (uint32_t)strlen(text));
}

#endif
