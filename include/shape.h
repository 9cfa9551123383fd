/*
 * Shapes: the field names that many small hashes share, kept once.
 *
 * Applications store objects of one kind as hashes with the same fields in the same order
 * (user:1 .. user:N, each with name, email, level, ...). In a pack every hash repeats those
 * names; a shaped hash keeps only its values and names a shape that holds the field list
 * once (as key-sharing dictionaries and hidden classes do in language runtimes). A shape is
 * one heap allocation:
 *
 *   uint32 link | uint32 refs | uint32 field_count | uint32 fields_bytes | fields
 *
 * where `fields` are the field names in order, each as varint(length) | bytes (pack.h's
 * varint: exactly a forward pack's entries), so a list of fields has one byte string and
 * that string is the registry's key.
 *
 * The registry (a dict of shapes by their fields' bytes) interns a list on its SECOND
 * sighting: the first time a list is offered, only its fingerprint goes into a small
 * direct-mapped table (SHAPE_SEEN_SLOTS slots, no allocation), so a hash whose field list
 * no other hash has keeps its pack and pays nothing for a shape. A fingerprint collision
 * (another list overwrote the slot) only delays interning.
 *
 * Invariants (shape_registry_verify checks each): every shape in the registry has refs > 0
 * (the last drop frees it), 1 .. SHAPE_FIELDS_MAX distinct fields, fields_bytes at most
 * SHAPE_FIELDS_BYTES_MAX, and its fields' bytes parse to exactly field_count entries.
 * The registry's refs add up to the references the store's keys hold.
 */
#ifndef KV_SHAPE_H
#define KV_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

/* The longest field list a shape holds (its fields' bytes): bounds the buffer a caller
 * builds the list in, and what interning hashes and compares. */
#define SHAPE_FIELDS_BYTES_MAX 1024u

/* The most fields: every field takes at least its one length byte. */
#define SHAPE_FIELDS_MAX SHAPE_FIELDS_BYTES_MAX

/* Fingerprints of lists met once. 4 KiB, inside the registry. */
#define SHAPE_SEEN_SLOTS 1024u

struct shape {
    uint32_t link;          /* the registry dict's chain: first, as dict.h requires */
    uint32_t refs;          /* values that name it; it goes with the last */
    uint32_t field_count;   /* fields in `fields` */
    uint32_t fields_bytes;  /* bytes of `fields` */
    uint8_t fields[];       /* varint(length) | bytes per field, in order */
};

struct shape_registry {
    struct dict dict;                /* fields' bytes -> struct shape */
    uint64_t seed;                   /* the fingerprints' hash seed */
    uint32_t seen[SHAPE_SEEN_SLOTS]; /* a fingerprint per slot of a list met once; 0: none */
};

/* Sets an empty registry up over the heap (shapes and the dict's buckets live there). */
void shape_registry_init(struct shape_registry *registry, struct heap *heap, uint64_t seed);

/* The shape of the field list `fields` (field_count fields, serialized as above), with one
 * more reference that the caller now holds: an existing shape, or a new one when the list
 * was offered before. NULL the first time a list is offered, when it is longer than
 * SHAPE_FIELDS_BYTES_MAX, and when the heap has no room (nothing changes but the
 * fingerprint table). The caller guarantees the fields are distinct. */
struct shape *shape_intern(struct shape_registry *registry, struct slice fields,
                           uint32_t field_count);

/* Gives a reference back; the shape goes with its last one. */
void shape_drop(struct shape_registry *registry, struct shape *shape);

/* The field at byte `*at` of the shape's fields (0: the first); moves *at past it. */
struct slice shape_field_next(const struct shape *shape, uint32_t *at);

/* Shapes in the registry. */
uint64_t shape_count(const struct shape_registry *registry);

/* Checks every invariant above, and that the shapes' references add up to `refs`; returns
 * the heap allocations the registry holds (shapes and bucket arrays). */
uint64_t shape_registry_verify(const struct shape_registry *registry, uint64_t refs);

#endif
