/*
 * SHA-1 (FIPS 180-4) over one buffer, for the script cache: a script's name is the SHA-1 of
 * its body in lower-case hex, as Redis names it (EVALSHA, SCRIPT LOAD, redis.sha1hex). No
 * state between calls, no allocation.
 */
#ifndef KV_SHA1_H
#define KV_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_BYTES 20u
#define SHA1_HEX_BYTES 40u /* without a terminating NUL */

/* The digest of `length` bytes. */
void sha1_digest(const uint8_t *bytes, size_t length, uint8_t digest[SHA1_DIGEST_BYTES]);

/* The digest as 40 lower-case hex digits and a NUL (hex holds SHA1_HEX_BYTES + 1). */
void sha1_hex(const uint8_t *bytes, size_t length, char hex[SHA1_HEX_BYTES + 1]);

#endif
