/*
 * The hash function (not the Redis hash type: that is store_hash): a fast seeded 64-bit hash
 * of bytes, for the store's key table, the sorted sets' member table and pub/sub's channel
 * table. The seed is drawn at startup so that clients cannot aim collisions at a table. Pure
 * function: no state, no allocation, no I/O.
 */
#ifndef KV_HASHFN_H
#define KV_HASHFN_H

#include <stddef.h>
#include <stdint.h>

uint64_t hashfn_bytes(const void *bytes, size_t length, uint64_t seed);

#endif
