/*
 * A fast seeded 64-bit hash for keys. The seed is drawn at startup so that clients cannot
 * aim collisions at the table. Pure function: no state, no allocation.
 */
#ifndef KV_HASH_H
#define KV_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_bytes(const void *bytes, size_t length, uint64_t seed);

#endif
