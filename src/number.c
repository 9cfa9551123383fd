/*
 * Redis's string2ll, rewritten: strict decimal int64 parsing with overflow checks. Pure.
 */
#include "number.h"

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
