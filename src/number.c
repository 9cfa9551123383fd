/*
 * Redis's string2ll, rewritten: strict decimal int64 parsing with overflow checks. Pure.
 */
#include "number.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool number_parse_int64(const uint8_t *bytes, uint32_t length, int64_t *value)
{
    /* 20 characters hold "-9223372036854775808", the longest valid input. */
    if (length == 0 || length > 20) {
        return false;
    }
    if (length == 1 && bytes[0] == '0') {
        *value = 0;
        return true;
    }
    bool negative = bytes[0] == '-';
    uint32_t index = negative ? 1 : 0;
    if (index == length || bytes[index] < '1' || bytes[index] > '9') {
        return false;
    }
    uint64_t magnitude = 0;
    for (; index < length; index++) {
        uint8_t digit = (uint8_t)(bytes[index] - '0');
        if (digit > 9 || magnitude > (UINT64_MAX - digit) / 10) {
            return false;
        }
        magnitude = magnitude * 10 + digit;
    }
    if (negative) {
        if (magnitude > (uint64_t)INT64_MAX + 1) {
            return false;
        }
        *value = (int64_t)(0 - magnitude);
    } else {
        if (magnitude > (uint64_t)INT64_MAX) {
            return false;
        }
        *value = (int64_t)magnitude;
    }
    return true;
}

/* The decimal digits of a magnitude after an optional '-'. */
static uint32_t format_magnitude(uint64_t magnitude, bool negative, char *text)
{
    char digits[NUMBER_INT64_BYTES];
    uint32_t count = 0;
    /* Bounded: at most 20 decimal digits. */
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    uint32_t length = 0;
    if (negative) {
        text[length++] = '-';
    }
    while (count > 0) {
        text[length++] = digits[--count];
    }
    KV_ASSERT(length < NUMBER_INT64_BYTES);
    return length;
}

uint32_t number_format_int64(int64_t value, char *text)
{
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    return format_magnitude(magnitude, value < 0, text);
}

uint32_t number_format_uint64(uint64_t value, char *text)
{
    return format_magnitude(value, false, text);
}

bool number_parse_long_double(const uint8_t *bytes, uint32_t length, long double *value)
{
    char text[NUMBER_LONG_DOUBLE_BYTES];
    if (length == 0 || length >= sizeof(text)) {
        return false;
    }
    memcpy(text, bytes, length);
    text[length] = '\0';
    char *end = NULL;
    errno = 0;
    long double parsed = strtold(text, &end);
    if (isspace((unsigned char)text[0]) || *end != '\0' || (uint32_t)(end - text) != length ||
        (errno == ERANGE &&
         (parsed == HUGE_VALL || parsed == -HUGE_VALL || fpclassify(parsed) == FP_ZERO)) ||
        errno == EINVAL || isnan(parsed)) {
        return false;
    }
    *value = parsed;
    return true;
}

uint32_t number_format_long_double(long double value, char *text, uint32_t capacity)
{
    KV_ASSERT(capacity > 0);
    if (isinf(value)) {
        const char *word = value > 0 ? "inf" : "-inf";
        uint32_t length = (uint32_t)strlen(word);
        if (length + 1 > capacity) {
            return 0;
        }
        memcpy(text, word, length + 1);
        return length;
    }
    int written = snprintf(text, capacity, "%.17Lf", value);
    if (written < 0 || (uint32_t)written + 1 > capacity) {
        return 0;
    }
    uint32_t length = (uint32_t)written;
    if (memchr(text, '.', length) != NULL) {
        /* Bounded by the text: strip trailing zeros, then a bare point. */
        while (length > 0 && text[length - 1] == '0') {
            length--;
        }
        if (length > 0 && text[length - 1] == '.') {
            length--;
        }
    }
    if (length == 2 && text[0] == '-' && text[1] == '0') {
        text[0] = '0';
        length = 1;
    }
    text[length] = '\0';
    return length;
}

bool number_parse_double(const uint8_t *bytes, uint32_t length, double *value)
{
    char text[NUMBER_DOUBLE_BYTES];
    if (length == 0 || length >= sizeof(text) || isspace(bytes[0]) ||
        memchr(bytes, 0, length) != NULL) {
        return false;
    }
    memcpy(text, bytes, length);
    text[length] = '\0';
    char *end = NULL;
    errno = 0;
    double parsed = strtod(text, &end);
    if ((uint32_t)(end - text) != length || isnan(parsed) ||
        (errno == ERANGE && (parsed == HUGE_VAL || parsed == -HUGE_VAL || parsed == 0))) {
        return false;
    }
    *value = parsed;
    KV_ASSERT(!isnan(*value));
    return true;
}
