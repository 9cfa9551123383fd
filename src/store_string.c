/*
 * Strings. A string's bytes are embedded in its key object while the whole object fits a
 * small heap class (HEAP_SMALL_BYTES_MAX), so a typical key and value take one allocation;
 * a larger value is a blob of its own (STORE_ENCODING_RAW). This file holds every write of a
 * string's bytes (SET and its forms, APPEND, SETRANGE, the results of INCR and INCRBYFLOAT)
 * and the type's operations for the core. Each write takes the record of the find before
 * it, so the key is probed once per command. A write takes all the memory it needs first
 * (a new object or blob, an expires entry) and only then changes anything, so STORE_OOM
 * means nothing changed. An overwrite whose object stays in its heap class is done in place.
 * No I/O.
 */
#include "store_string.h"

#include "number.h"
#include "store_internal.h"

static void string_release(struct store *store, struct store_key *key)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STRING);
    if (store_key_encoding(key) == STORE_ENCODING_RAW) {
        heap_release(store->heap, heap_pointer(store->heap, key->value));
    }
}

static void string_verify(const struct store *store, const struct store_key *key,
                          struct store_usage *usage)
{
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STRING);
    uint8_t encoding = store_key_encoding(key);
    KV_ASSERT(encoding == STORE_ENCODING_EMBEDDED || encoding == STORE_ENCODING_RAW);
    uint32_t key_ref = heap_ref(store->heap, key);
    KV_ASSERT(store_string_value(store, key_ref).length <= store->limits.value_bytes_max);
    if (encoding == STORE_ENCODING_RAW) {
        const struct store_blob *blob = heap_pointer(store->heap, key->value);
        KV_ASSERT(heap_usable_bytes(store->heap, blob) >= sizeof(*blob) + blob->bytes);
        usage->allocations++;
    }
}

static uint64_t string_length(const struct store *store, const struct store_key *key)
{
    return store_string_value(store, heap_ref(store->heap, key)).length;
}

static uint64_t string_memory(const struct store *store, const struct store_key *key)
{
    if (store_key_encoding(key) != STORE_ENCODING_RAW) {
        return 0;
    }
    return heap_usable_bytes(store->heap, heap_pointer(store->heap, key->value));
}

/* Redis's encoding for the string: as SET stores bytes (tryObjectEncoding), "int" for an
 * integer's canonical text of at most 20 bytes (a long), "embstr" up to 44 bytes (its
 * embedded-string limit), "raw" past that; a string a write made in place (APPEND, SETRANGE,
 * SETBIT, ...: STORE_SHAPE_CONVERTED) is "raw" whatever its bytes; one made from a number's
 * text (INCRBYFLOAT: STORE_SHAPE_NUMBER) is never "int"; COPY's integer of its own
 * (STORE_SHAPE_UNSHARED) is "int" as SET's. kv keeps all of them the same way. */
static const char *string_encoding_name(const struct store *store, const struct store_key *key)
{
    struct slice value = store_string_value(store, heap_ref(store->heap, key));
    uint8_t shape = store_key_shape(key);
    KV_ASSERT(shape <= STORE_SHAPE_UNSHARED);
    if (shape == STORE_SHAPE_CONVERTED) {
        return "raw";
    }
    int64_t number = 0;
    if (shape != STORE_SHAPE_NUMBER && value.length > 0 && value.length <= 20 &&
        number_parse_int64(value.bytes, value.length, &number)) {
        return "int";
    }
    return value.length <= 44 ? "embstr" : "raw";
}

bool store_string_shared_integer(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STRING);
    struct slice value = store_string_value(store, key_ref);
    int64_t number = -1;
    return store_key_shape(key) == STORE_SHAPE_COMPACT && value.length > 0 &&
           value.length <= 4 && number_parse_int64(value.bytes, value.length, &number) &&
           number >= 0 && number < 10000;
}

uint8_t store_string_copy_shape(const struct store *store, uint32_t key_ref)
{
    uint8_t shape = store_key_shape(store_key(store, key_ref));
    if (store_string_shared_integer(store, key_ref)) {
        shape = STORE_SHAPE_UNSHARED;
    }
    KV_ASSERT(shape <= STORE_SHAPE_UNSHARED);
    return shape;
}

void store_string_shape_set(struct store *store, struct store_found *found, uint8_t shape)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_STRING);
    struct store_key *key = store_key(store, found->key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STRING);
    store_key_shape_set(key, shape);
}

static const struct store_type_ops string_ops = {
    .name = "string",
    .release = string_release,
    .verify = string_verify,
    .length = string_length,
    .memory = string_memory,
    .encoding_name = string_encoding_name,
};

void store_string_init(struct store *store)
{
    store_type_register(store, STORE_TYPE_STRING, &string_ops);
    KV_ASSERT(store->types[STORE_TYPE_STRING] == &string_ops);
}

struct slice store_string_value(const struct store *store, uint32_t key_ref)
{
    const struct store_key *key = store_key(store, key_ref);
    KV_ASSERT(store_key_type(key) == STORE_TYPE_STRING);
    if (store_key_encoding(key) == STORE_ENCODING_EMBEDDED) {
        return store_key_embedded(key);
    }
    const struct store_blob *blob = heap_pointer(store->heap, key->value);
    KV_ASSERT(blob->bytes <= UINT32_MAX);
    return (struct slice){.bytes = blob->data, .length = (uint32_t)blob->bytes};
}

/* Whether a value embeds at this key: the object (with its trailer of `trailer_bytes`, cluster
 * mode's slot links) then fits a small class. */
static bool embeds(uint64_t key_bytes, uint64_t value_bytes, bool expires, uint32_t trailer_bytes)
{
    return store_key_object_bytes(key_bytes, value_bytes, expires) + trailer_bytes <=
           HEAP_SMALL_BYTES_MAX;
}

/* The heap bytes of a string whose key objects carry `trailer_bytes` after their content. */
static uint64_t string_bytes(uint64_t key_bytes, uint64_t value_bytes, uint32_t trailer_bytes)
{
    if (embeds(key_bytes, value_bytes, false, trailer_bytes)) {
        return heap_rounded_bytes(store_key_object_bytes(key_bytes, value_bytes, false) +
                                  trailer_bytes);
    }
    return heap_rounded_bytes(store_key_object_bytes(key_bytes, 0, false) + trailer_bytes) +
           heap_rounded_bytes(sizeof(struct store_blob) + value_bytes);
}

uint64_t store_string_bytes(uint64_t key_bytes, uint64_t value_bytes)
{
    return string_bytes(key_bytes, value_bytes, 0);
}

uint64_t store_string_stored_bytes(const struct store *store, uint64_t key_bytes,
                                   uint64_t value_bytes)
{
    return string_bytes(key_bytes, value_bytes, store_key_trailer_bytes(store));
}

enum store_status store_string_check(const struct store *store, const struct store_found *found,
                                     struct slice key, struct slice value)
{
    if (value.length > store->limits.value_bytes_max) {
        return STORE_VALUE_TOO_LONG;
    }
    return found->exists ? STORE_OK : store_key_check(store, key);
}

/* The memory a new string needs, all taken before anything changes: the object, a blob for
 * a value too large to embed, an expires entry when it expires and the old key did not. */
struct string_parts {
    struct store_key *object;
    struct store_blob *blob;
    struct store_expire *expire;
};

static void parts_release(struct store *store, struct string_parts *parts)
{
    if (parts->object != NULL) {
        heap_release(store->heap, parts->object);
    }
    if (parts->blob != NULL) {
        heap_release(store->heap, parts->blob);
    }
    if (parts->expire != NULL) {
        heap_release(store->heap, parts->expire);
    }
}

static bool parts_take(struct store *store, struct slice key, uint64_t value_bytes,
                       int64_t at_ms, bool expire_needed, struct string_parts *parts)
{
    *parts = (struct string_parts){0};
    bool embedded = embeds(key.length, value_bytes, at_ms > 0, store_key_trailer_bytes(store));
    parts->object = store_key_build(store, key, STORE_TYPE_STRING,
                                    embedded ? (uint32_t)value_bytes : 0, at_ms);
    if (!embedded && parts->object != NULL) {
        parts->blob = heap_alloc(store->heap, sizeof(struct store_blob) + value_bytes);
    }
    if (expire_needed && parts->object != NULL) {
        parts->expire = heap_alloc(store->heap, sizeof(struct store_expire));
    }
    if (parts->object == NULL || (!embedded && parts->blob == NULL) ||
        (expire_needed && parts->expire == NULL)) {
        parts_release(store, parts);
        return false;
    }
    if (!embedded) {
        parts->blob->bytes = value_bytes;
        parts->object->meta |= (uint32_t)STORE_ENCODING_RAW << STORE_META_ENCODING_SHIFT;
        parts->object->value = heap_ref(store->heap, parts->blob);
    }
    return true;
}

/* Where a string's bytes go in a new object from parts_take. */
static uint8_t *parts_bytes(struct store *store, const struct string_parts *parts)
{
    if (parts->blob != NULL) {
        return parts->blob->data;
    }
    (void)store;
    return store_key_value_bytes(parts->object);
}

/* Overwrites an embedded string in place when the new bytes keep the object in its heap
 * class (the common SET of a same-sized value); false when it cannot. */
static bool put_in_place(struct store *store, struct store_found *found, struct slice value,
                         int64_t at_ms, bool keep_ttl)
{
    struct store_key *key = store_key(store, found->key_ref);
    if (store_key_type(key) != STORE_TYPE_STRING ||
        store_key_encoding(key) != STORE_ENCODING_EMBEDDED) {
        return false;
    }
    int64_t old_ms = store_key_expire(key);
    int64_t new_ms = keep_ttl ? old_ms : at_ms;
    if ((old_ms != 0) != (new_ms != 0)) {
        return false; /* the object changes shape: built anew */
    }
    uint32_t trailer_bytes = store_key_trailer_bytes(store);
    uint64_t bytes = store_key_object_bytes(key->key_bytes, value.length, old_ms != 0);
    if (!embeds(key->key_bytes, value.length, old_ms != 0, trailer_bytes) ||
        heap_rounded_bytes(bytes + trailer_bytes) != heap_usable_bytes(store->heap, key)) {
        return false;
    }
    store_modified(store, key);
    enum store_status status = store_key_resize(store, found, value.length);
    KV_ASSERT(status == STORE_OK); /* the same class: it stays where it is */
    key = store_key(store, found->key_ref);
    if (value.length > 0) {
        memcpy(store_key_value_bytes(key), value.bytes, value.length);
    }
    if (new_ms != old_ms) {
        memcpy(key + 1, &new_ms, sizeof(new_ms));
    }
    KV_ASSERT(store_key_expire(key) == new_ms);
    return true;
}

enum store_status store_string_put(struct store *store, struct store_found *found,
                                   struct slice key, struct slice value, int64_t at_ms,
                                   bool keep_ttl)
{
    KV_ASSERT(value.length <= store->limits.value_bytes_max);
    KV_ASSERT(at_ms >= 0);
    if (at_ms != 0 && at_ms <= store->now_ms && !keep_ttl) {
        /* A time already past: the key goes (as Redis's SET ... PXAT in the past). */
        if (found->exists) {
            store_remove(store, found);
        }
        return STORE_OK;
    }
    if (found->exists && put_in_place(store, found, value, at_ms, keep_ttl)) {
        /* The same object: SET's rule again, whatever an APPEND had made of it. */
        store_key_shape_set(store_key(store, found->key_ref), STORE_SHAPE_COMPACT);
        return STORE_OK;
    }
    int64_t old_ms = found->exists ? store_key_expire(store_key(store, found->key_ref)) : 0;
    int64_t new_ms = keep_ttl ? old_ms : at_ms;
    struct string_parts parts;
    if (!parts_take(store, key, value.length, new_ms, new_ms != 0 && old_ms == 0, &parts)) {
        return STORE_OOM;
    }
    if (value.length > 0) {
        memcpy(parts_bytes(store, &parts), value.bytes, value.length);
    }
    if (found->exists) {
        store_key_swap(store, found, parts.object, parts.expire);
    } else {
        store_key_insert(store, found, parts.object, parts.expire);
    }
    KV_ASSERT(found->exists && found->type == STORE_TYPE_STRING);
    return STORE_OK;
}

/* Writes the splice into bytes that already hold the old value (room checked). */
static void splice_write(uint8_t *into, uint64_t old_length, uint64_t offset, struct slice bytes)
{
    if (offset > old_length) {
        memset(into + old_length, 0, offset - old_length);
    }
    if (bytes.length > 0) {
        memcpy(into + offset, bytes.bytes, bytes.length);
    }
}

/* A splice done where the string is: an embedded one that stays in its heap class, or a blob
 * that has (or can get, growing by an eighth more, at most 1 MiB, so that appends are
 * amortized) the room. False when it must be built anew; *status STORE_OOM when a blob could
 * not grow. */
static bool splice_in_place(struct store *store, struct store_found *found, uint64_t offset,
                            struct slice bytes, uint64_t new_length, enum store_status *status)
{
    struct store_key *key = store_key(store, found->key_ref);
    uint64_t old_length = store_string_value(store, found->key_ref).length;
    bool expires = (key->meta & STORE_META_EXPIRES) != 0;
    *status = STORE_OK;
    if (store_key_encoding(key) == STORE_ENCODING_EMBEDDED) {
        uint32_t trailer_bytes = store_key_trailer_bytes(store);
        uint64_t object = store_key_object_bytes(key->key_bytes, new_length, expires);
        if (!embeds(key->key_bytes, new_length, expires, trailer_bytes) ||
            heap_rounded_bytes(object + trailer_bytes) != heap_usable_bytes(store->heap, key)) {
            return false;
        }
        store_modified(store, key);
        enum store_status resized = store_key_resize(store, found, (uint32_t)new_length);
        KV_ASSERT(resized == STORE_OK); /* the same class: it stays where it is */
        splice_write(store_key_value_bytes(store_key(store, found->key_ref)), old_length, offset,
                     bytes);
        return true;
    }
    struct store_blob *blob = heap_pointer(store->heap, key->value);
    uint64_t need = sizeof(*blob) + new_length;
    if (heap_usable_bytes(store->heap, blob) < need) {
        uint64_t headroom = new_length / 8 < (1u << 20) ? new_length / 8 : (1u << 20);
        struct store_blob *grown = heap_resize(store->heap, blob, need + headroom);
        grown = grown != NULL ? grown : heap_resize(store->heap, blob, need);
        if (grown == NULL) {
            *status = STORE_OOM;
            return true;
        }
        blob = grown;
        key->value = heap_ref(store->heap, blob);
    }
    store_modified(store, key);
    splice_write(blob->data, old_length, offset, bytes);
    blob->bytes = new_length;
    return true;
}

enum store_status store_string_splice(struct store *store, struct store_found *found,
                                      struct slice key, uint64_t offset, struct slice bytes,
                                      uint64_t *length)
{
    KV_ASSERT(offset + bytes.length <= store->limits.value_bytes_max);
    KV_ASSERT(!found->exists || found->type == STORE_TYPE_STRING);
    struct slice old = found->exists ? store_string_value(store, found->key_ref)
                                     : (struct slice){.bytes = NULL, .length = 0};
    uint64_t end = offset + bytes.length;
    uint64_t new_length = end > old.length ? end : old.length;
    *length = new_length;
    enum store_status status = STORE_OK;
    if (found->exists && splice_in_place(store, found, offset, bytes, new_length, &status)) {
        if (status == STORE_OK) {
            /* Redis unshares the string to write into it: "raw" from now on. */
            store_key_shape_set(store_key(store, found->key_ref), STORE_SHAPE_CONVERTED);
        }
        return status;
    }
    bool existed = found->exists;
    int64_t at_ms = found->exists ? store_key_expire(store_key(store, found->key_ref)) : 0;
    /* Room for the result first, then the bytes: the old value is read while it is whole. */
    struct string_parts parts;
    if (!parts_take(store, key, new_length, at_ms, false, &parts)) {
        return STORE_OOM;
    }
    uint8_t *into = parts_bytes(store, &parts);
    if (old.length > 0) {
        memcpy(into, old.bytes, old.length);
    }
    splice_write(into, old.length, offset, bytes);
    if (found->exists) {
        store_key_swap(store, found, parts.object, NULL);
    } else {
        store_key_insert(store, found, parts.object, NULL);
    }
    /* A new key is as APPEND stores it (SET's rule); an existing one was written into. */
    store_key_shape_set(store_key(store, found->key_ref),
                        existed ? STORE_SHAPE_CONVERTED : STORE_SHAPE_COMPACT);
    KV_ASSERT(store_string_value(store, found->key_ref).length == new_length);
    return STORE_OK;
}

void store_string_truncate(struct store *store, struct store_found *found, uint32_t length)
{
    KV_ASSERT(found->exists && found->type == STORE_TYPE_STRING);
    KV_ASSERT(length <= store_string_value(store, found->key_ref).length);
    struct store_key *key = store_key(store, found->key_ref);
    store_modified(store, key);
    if (store_key_encoding(key) == STORE_ENCODING_EMBEDDED) {
        enum store_status status = store_key_resize(store, found, length);
        KV_ASSERT(status == STORE_OK); /* shrinking */
    } else {
        struct store_blob *blob = heap_pointer(store->heap, key->value);
        blob->bytes = length; /* the blob keeps its room, as a splice's growth does */
    }
    store_key_shape_set(store_key(store, found->key_ref), STORE_SHAPE_CONVERTED);
    KV_ASSERT(store_string_value(store, found->key_ref).length == length);
}

enum store_status store_string_set(struct store *store, struct slice key, struct slice value)
{
    struct store_found found;
    (void)store_find_typed(store, key, STORE_TYPE_ANY, &found);
    enum store_status status = store_string_check(store, &found, key, value);
    if (status != STORE_OK) {
        return status;
    }
    status = store_string_put(store, &found, key, value, 0, false);
    KV_ASSERT(status != STORE_OK || store_key_count(store) > 0);
    return status;
}

enum store_status store_string_get(struct store *store, struct slice key, struct slice *value)
{
    struct store_found found;
    enum store_status status = store_find_typed(store, key, STORE_TYPE_STRING, &found);
    if (status == STORE_OK) {
        *value = store_string_value(store, found.key_ref);
    }
    return status;
}

uint64_t store_string_bound_bytes(uint64_t key_bytes, uint64_t value_bytes)
{
    /* Embedded in the key object, or a blob of its own beside a key object without it:
     * either is below both together. */
    uint64_t bytes = heap_rounded_bytes(sizeof(struct store_blob) + value_bytes) +
                     heap_rounded_bytes(store_key_object_bytes(key_bytes, value_bytes, true));
    KV_ASSERT(bytes >= key_bytes + value_bytes);
    return bytes;
}
