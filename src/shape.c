/*
 * Shapes (shape.h): field lists interned in a dict on their second sighting, freed with
 * their last reference. No I/O; every allocation is the heap's and may fail (interning then
 * answers NULL and the caller keeps its pack).
 */
#include "shape.h"

#include <stddef.h>
#include <string.h>

#include "hashfn.h"
#include "pack.h"

static_assert(sizeof(struct shape) == 4u * sizeof(uint32_t), "a shape's head is four words");
static_assert(offsetof(struct shape, link) == 0, "the dict's link comes first");
static_assert(SHAPE_FIELDS_BYTES_MAX < 128u * 128u, "a list's length fits a short varint");

/* Mixed into the registry's seed for the dict, so that its bucket order owes nothing to
 * the fingerprints'. */
#define SHAPE_DICT_SEED_MIX 0x3c6ef372fe94f82bull

static struct slice shape_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    const struct shape *shape = entry;
    struct slice key = {.bytes = shape->fields, .length = shape->fields_bytes};
    return key;
}

void shape_registry_init(struct shape_registry *registry, struct heap *heap, uint64_t seed)
{
    memset(registry, 0, sizeof(*registry));
    registry->seed = seed;
    dict_init(&registry->dict, heap, shape_key, seed ^ SHAPE_DICT_SEED_MIX);
    KV_ASSERT(dict_count(&registry->dict) == 0);
    KV_ASSERT(registry->seen[0] == 0);
}

/* Whether the list was offered before (its fingerprint is in its slot); records it if not.
 * The tag is never 0, the empty slot's mark. */
static bool seen_before(struct shape_registry *registry, struct slice fields)
{
    uint64_t hash = hashfn_bytes(fields.bytes, fields.length, registry->seed);
    uint32_t slot = (uint32_t)(hash % SHAPE_SEEN_SLOTS);
    uint32_t tag = (uint32_t)(hash >> 32) | 1u;
    KV_ASSERT(slot < SHAPE_SEEN_SLOTS);
    if (registry->seen[slot] == tag) {
        return true;
    }
    registry->seen[slot] = tag;
    KV_ASSERT(tag != 0);
    return false;
}

struct shape *shape_intern(struct shape_registry *registry, struct slice fields,
                           uint32_t field_count)
{
    KV_ASSERT(field_count > 0);
    KV_ASSERT(fields.length >= field_count); /* a length byte per field at least */
    if (fields.length > SHAPE_FIELDS_BYTES_MAX) {
        return NULL;
    }
    struct heap *heap = registry->dict.heap;
    uint32_t ref = dict_lookup(&registry->dict, fields);
    if (ref != HEAP_REF_NONE) {
        struct shape *shape = heap_pointer(heap, ref);
        KV_ASSERT(shape->field_count == field_count);
        KV_ASSERT(shape->refs > 0);
        shape->refs++;
        return shape;
    }
    if (!seen_before(registry, fields)) {
        return NULL;
    }
    struct shape *shape = heap_alloc(heap, sizeof(*shape) + fields.length);
    if (shape == NULL) {
        return NULL;
    }
    shape->link = HEAP_REF_NONE;
    shape->refs = 1;
    shape->field_count = field_count;
    shape->fields_bytes = (uint32_t)fields.length;
    memcpy(shape->fields, fields.bytes, fields.length);
    dict_insert(&registry->dict, heap_ref(heap, shape)); /* never fails */
    KV_ASSERT(dict_lookup(&registry->dict, fields) == heap_ref(heap, shape));
    return shape;
}

void shape_drop(struct shape_registry *registry, struct shape *shape)
{
    KV_ASSERT(shape->refs > 0);
    shape->refs--;
    if (shape->refs > 0) {
        return;
    }
    struct heap *heap = registry->dict.heap;
    struct dict_position position;
    uint32_t ref = dict_find(&registry->dict, shape_key(heap, shape), &position);
    KV_ASSERT(ref == heap_ref(heap, shape)); /* a shape is in the registry while held */
    dict_remove_at(&registry->dict, position);
    heap_release(heap, shape);
}

struct slice shape_field_next(const struct shape *shape, uint32_t *at)
{
    KV_ASSERT(*at < shape->fields_bytes);
    uint32_t length = 0;
    uint32_t start = *at + pack_varint_read(shape->fields + *at, &length);
    KV_ASSERT((uint64_t)start + length <= shape->fields_bytes);
    *at = start + length;
    struct slice field = {.bytes = shape->fields + start, .length = length};
    return field;
}

uint64_t shape_count(const struct shape_registry *registry)
{
    return dict_count(&registry->dict);
}

/* One shape: its fields parse to field_count distinct entries that end at fields_bytes
 * (distinct: compared only when their hashes agree). */
static void shape_verify(const struct shape *shape)
{
    KV_ASSERT(shape->refs > 0);
    KV_ASSERT(shape->field_count > 0 && shape->field_count <= SHAPE_FIELDS_MAX);
    KV_ASSERT(shape->fields_bytes <= SHAPE_FIELDS_BYTES_MAX);
    uint64_t hashes[SHAPE_FIELDS_MAX];
    uint32_t starts[SHAPE_FIELDS_MAX];
    uint32_t at = 0;
    /* Bounded by the field count; each inner walk by the fields before. */
    for (uint32_t index = 0; index < shape->field_count; index++) {
        starts[index] = at;
        struct slice field = shape_field_next(shape, &at);
        hashes[index] = hashfn_bytes(field.bytes, field.length, 0);
        for (uint32_t before = 0; before < index; before++) {
            uint32_t before_at = starts[before];
            KV_ASSERT(hashes[before] != hashes[index] ||
                      !slice_equal(shape_field_next(shape, &before_at), field));
        }
    }
    KV_ASSERT(at == shape->fields_bytes);
}

uint64_t shape_registry_verify(const struct shape_registry *registry, uint64_t refs)
{
    dict_verify(&registry->dict);
    const struct heap *heap = registry->dict.heap;
    uint64_t refs_seen = 0;
    struct dict_walk walk;
    dict_walk_start(&registry->dict, &walk);
    uint32_t ref = HEAP_REF_NONE;
    /* Bounded by the count: a walk meets each shape once. */
    while (dict_walk_next(&registry->dict, &walk, &ref)) {
        const struct shape *shape = heap_pointer(heap, ref);
        shape_verify(shape);
        KV_ASSERT(heap_usable_bytes(heap, shape) >= sizeof(*shape) + shape->fields_bytes);
        refs_seen += shape->refs;
    }
    KV_ASSERT(refs_seen == refs);
    return dict_count(&registry->dict) + dict_allocations(&registry->dict);
}
