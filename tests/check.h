/*
 * Minimal checks for plain C tests: CHECK(expr) and CHECK_BYTES(got, got_len, want, want_len)
 * print where and what failed and go on; check_exit() returns the process status CTest reads
 * (0 pass, 1 fail). SKIP_CODE (77) tells CTest the host lacks what the test needs.
 */
#ifndef KV_CHECK_H
#define KV_CHECK_H

#include <stdio.h>
#include <string.h>

#define SKIP_CODE 77

static int check_failures;
static int check_count;

#define CHECK(expr)                                                                 \
    do {                                                                            \
        check_count++;                                                              \
        if (!(expr)) {                                                              \
            check_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
        }                                                                           \
    } while (0)

static inline void check_bytes_print(const char *label, const void *bytes, size_t length)
{
    const unsigned char *p = bytes;
    fprintf(stderr, "  %s (%zu bytes): \"", label, length);
    for (size_t i = 0; i < length && i < 200; i++) {
        if (p[i] >= 32 && p[i] < 127 && p[i] != '"' && p[i] != '\\') {
            fputc(p[i], stderr);
        } else {
            fprintf(stderr, "\\x%02x", p[i]);
        }
    }
    fprintf(stderr, "%s\"\n", length > 200 ? "..." : "");
}

#define CHECK_BYTES(got, got_length, want, want_length)                                 \
    do {                                                                                \
        size_t check_got_length_ = (got_length);                                        \
        size_t check_want_length_ = (want_length);                                      \
        check_count++;                                                                  \
        if (check_got_length_ != check_want_length_ ||                                  \
            memcmp((got), (want), check_want_length_) != 0) {                           \
            check_failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK_BYTES failed\n", __FILE__, __LINE__);         \
            check_bytes_print("got", (got), check_got_length_);                         \
            check_bytes_print("want", (want), check_want_length_);                      \
        }                                                                               \
    } while (0)

#define CHECK_STR(got, want) CHECK_BYTES((got), strlen(got), (want), strlen(want))

static inline int check_exit(const char *name)
{
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, check_failures, check_count);
        return 1;
    }
    printf("%s: %d checks passed\n", name, check_count);
    return 0;
}

#endif
