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

#endif
