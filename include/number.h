/*
 * Integer parsing exactly as Redis's string2ll accepts it: an optional '-', then digits with
 * no leading zero (except "0" itself), no '+', no spaces, within int64. Used for protocol
 * headers and for command arguments, so both reject the same text Redis rejects.
 */
#ifndef KV_NUMBER_H
#define KV_NUMBER_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"

KV_MUST_USE bool number_parse_int64(const uint8_t *bytes, uint32_t length, int64_t *value);

/* Decimal text of a value into `text` (at least NUMBER_INT64_BYTES); returns its length. */
#define NUMBER_INT64_BYTES 21u
uint32_t number_format_int64(int64_t value, char *text);
uint32_t number_format_uint64(uint64_t value, char *text);

/* Redis's string2ld: the whole text is a long double (strtold), no leading space, not NaN,
 * not an overflow; at most NUMBER_LONG_DOUBLE_BYTES - 1 bytes. */
#define NUMBER_LONG_DOUBLE_BYTES 5120u
KV_MUST_USE bool number_parse_long_double(const uint8_t *bytes, uint32_t length,
                                          long double *value);

/* Redis's getDoubleFromObject: the whole text is a double (strtod), not empty, no leading
 * space, no NUL, no overflow or underflow to 0, not NaN ("inf" passes); at most
 * NUMBER_DOUBLE_BYTES - 1 bytes (Redis would read a longer run of digits). */
#define NUMBER_DOUBLE_BYTES 512u
KV_MUST_USE bool number_parse_double(const uint8_t *bytes, uint32_t length, double *value);

/* Redis's human-friendly long double text ("%.17Lf" without trailing zeros): returns its
 * length, 0 when it does not fit `capacity` bytes. */
uint32_t number_format_long_double(long double value, char *text, uint32_t capacity);

#endif
