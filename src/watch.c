/*
 * Watched keys on the heap. A watched key is one entry in `keys` (struct watch_key, its
 * bytes after the head) however many clients watch it; each (client, key) pair is one entry
 * in `links` (struct watch_link), keyed by the key entry's reference and the client's index,
 * chained per client through client_next (newest first) and recording the epoch when the
 * client watched.
 *
 * A key is watched per database (Redis's per-db watched_keys): the dict finds a name's first
 * entry, and the entries of the same name in other databases hang off it (same_next), one
 * per database, so a chain is at most the databases long.
 *
 * Invariants: a key's refs equals the links naming it, and is never 0 (a key goes with its
 * last link); the sum of refs is the link count; touched_epoch <= epoch; entry_bytes is the
 * sum of the usable bytes of every entry in both dicts; a dict left empty holds no bucket
 * array, so an idle WATCH holds no heap memory at all. Every walk is bounded by a client's
 * link count or a dict's entry count; memory comes only from the heap, and an add that finds
 * no room changes nothing.
 */
#include "watch.h"

#include <stddef.h>
#include <string.h>

struct watch_key {
    uint32_t next;          /* the keys dict's chain link (dict.h: first four bytes) */
    uint32_t key_bytes;     /* key length; the bytes follow the head */
    uint64_t touched_epoch; /* epoch of the last touch, 0 if none since it was first watched */
    uint32_t refs;          /* links naming this key */
    uint32_t db_index;      /* the database the key is watched in */
    uint32_t same_next;     /* the next entry of the same name in another database: the dict
                               holds the first (the chain's head) only; WATCH_NONE ends it */
    uint8_t bytes[];        /* key_bytes bytes */
};

struct watch_link {
    uint32_t next;          /* the links dict's chain link */
    uint32_t key_ref;       /* the key entry; with client_index, the dict's key (8 bytes) */
    uint32_t client_index;  /* the watching client (its connection slot) */
    uint32_t client_next;   /* the client's next older link, WATCH_NONE at the end */
    uint64_t watched_epoch; /* epoch when the client watched the key */
};

/* A link's dict key is its two numbers side by side, read as 8 bytes. */
#define WATCH_LINK_KEY_BYTES 8u

static_assert(offsetof(struct watch_key, bytes) == 28, "a key entry's head is 28 bytes");
static_assert(offsetof(struct watch_link, client_index) ==
                  offsetof(struct watch_link, key_ref) + sizeof(uint32_t),
              "a link's two key numbers are adjacent");
static_assert(sizeof(struct watch_link) == 24, "a link is one 24-byte heap object");

static struct watch_key *key_at(const struct watch *watch, uint32_t key_ref)
{
    return heap_pointer(watch->heap, key_ref);
}

static struct watch_link *link_at(const struct watch *watch, uint32_t link_ref)
{
    return heap_pointer(watch->heap, link_ref);
}

static struct slice key_name(const struct watch_key *key)
{
    return (struct slice){.bytes = key->bytes, .length = key->key_bytes};
}

static struct slice keys_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    return key_name(entry);
}

static struct slice links_dict_key(const struct heap *heap, const void *entry)
{
    (void)heap;
    const struct watch_link *link = entry;
    return (struct slice){.bytes = (const uint8_t *)&link->key_ref,
                          .length = WATCH_LINK_KEY_BYTES};
}

void watch_init(struct watch *watch, struct heap *heap, uint32_t links_max, uint64_t seed)
{
    KV_ASSERT(heap != NULL);
    memset(watch, 0, sizeof(*watch));
    watch->heap = heap;
    dict_init(&watch->keys, heap, keys_dict_key, seed);
    dict_init(&watch->links, heap, links_dict_key, seed ^ 0x9e3779b97f4a7c15ull);
    watch->links_max = links_max;
    KV_ASSERT(watch_memory_bytes(watch) == 0);
}

/* The entry of `key` watched in database db_index, or WATCH_NONE; *head_ref is the first
 * entry of the name (the dict's), WATCH_NONE when the name is watched nowhere. */
static uint32_t key_find(struct watch *watch, uint32_t db_index, struct slice key,
                         uint32_t *head_ref)
{
    *head_ref = dict_find(&watch->keys, key, NULL);
    uint32_t key_ref = *head_ref;
    /* Bounded by the watched keys: each entry of the chain is another database's. */
    for (uint64_t step = 0; key_ref != WATCH_NONE && step <= watch->key_count; step++) {
        const struct watch_key *entry = key_at(watch, key_ref);
        if (entry->db_index == db_index) {
            return key_ref;
        }
        key_ref = entry->same_next;
    }
    KV_ASSERT(key_ref == WATCH_NONE);
    return WATCH_NONE;
}

/* The link of this client to this key, or WATCH_NONE. */
static uint32_t link_find(struct watch *watch, uint32_t key_ref, uint32_t client_index)
{
    KV_ASSERT(key_ref != WATCH_NONE);
    uint32_t numbers[2] = {key_ref, client_index};
    struct slice probe = {.bytes = (const uint8_t *)numbers, .length = WATCH_LINK_KEY_BYTES};
    return dict_find(&watch->links, probe, NULL);
}

enum watch_status watch_add(struct watch *watch, struct watch_list *list, uint32_t client_index,
                            uint32_t db_index, struct slice key)
{
    KV_ASSERT(key.bytes != NULL || key.length == 0);
    KV_ASSERT(list->count < UINT32_MAX);
    uint32_t head_ref = WATCH_NONE;
    uint32_t key_ref = key_find(watch, db_index, key, &head_ref);
    if (key_ref != WATCH_NONE && link_find(watch, key_ref, client_index) != WATCH_NONE) {
        return WATCH_OK;
    }
    if (watch->links_max != 0 && dict_count(&watch->links) >= watch->links_max) {
        return WATCH_FULL;
    }
    /* Take both entries before changing anything: a refusal leaves no trace. */
    struct watch_key *fresh = NULL;
    if (key_ref == WATCH_NONE) {
        uint64_t bytes = offsetof(struct watch_key, bytes) + (uint64_t)key.length;
        fresh = heap_alloc_counted(watch->heap, bytes, &watch->entry_bytes);
        if (fresh == NULL) {
            return WATCH_OOM;
        }
    }
    struct watch_link *link = heap_alloc_counted(watch->heap, sizeof(*link), &watch->entry_bytes);
    if (link == NULL) {
        if (fresh != NULL) {
            heap_release_counted(watch->heap, fresh, &watch->entry_bytes);
        }
        return WATCH_OOM;
    }
    if (fresh != NULL) {
        *fresh = (struct watch_key){.key_bytes = key.length, .db_index = db_index,
                                    .same_next = WATCH_NONE};
        if (key.length > 0) {
            memcpy(fresh->bytes, key.bytes, key.length);
        }
        key_ref = heap_ref(watch->heap, fresh);
        if (head_ref == WATCH_NONE) {
            dict_insert(&watch->keys, key_ref);
        } else {
            /* The name is watched in another database: this one joins its chain. */
            fresh->same_next = key_at(watch, head_ref)->same_next;
            key_at(watch, head_ref)->same_next = key_ref;
        }
        watch->key_count++;
    }
    *link = (struct watch_link){.key_ref = key_ref, .client_index = client_index,
                                .client_next = list->head, .watched_epoch = watch->epoch};
    uint32_t link_ref = heap_ref(watch->heap, link);
    dict_insert(&watch->links, link_ref);
    list->head = link_ref;
    list->count++;
    key_at(watch, key_ref)->refs++;
    KV_ASSERT(key_at(watch, key_ref)->refs > 0);
    return WATCH_OK;
}

/* Takes a key entry out of the dict or its name's chain (it is being released). */
static void key_unlink(struct watch *watch, uint32_t key_ref)
{
    struct watch_key *key = key_at(watch, key_ref);
    uint32_t head_ref = dict_lookup(&watch->keys, key_name(key));
    KV_ASSERT(head_ref != WATCH_NONE);
    KV_ASSERT(watch->key_count > 0);
    watch->key_count--;
    if (head_ref == key_ref) {
        uint32_t removed = dict_remove(&watch->keys, key_name(key));
        KV_ASSERT(removed == key_ref);
        if (key->same_next != WATCH_NONE) {
            dict_insert(&watch->keys, key->same_next); /* the next database's becomes head */
        }
        return;
    }
    uint32_t previous = head_ref;
    /* Bounded by the watched keys: the chain holds one entry per database. */
    for (uint64_t step = 0; step <= watch->key_count; step++) {
        struct watch_key *entry = key_at(watch, previous);
        if (entry->same_next == key_ref) {
            entry->same_next = key->same_next;
            return;
        }
        previous = entry->same_next;
        KV_ASSERT(previous != WATCH_NONE); /* the key is on its name's chain */
    }
    KV_ASSERT(false);
}

/* Drops the client's newest link, and its key when no other link names it. */
static void link_drop(struct watch *watch, struct watch_list *list)
{
    uint32_t link_ref = list->head;
    KV_ASSERT(link_ref != WATCH_NONE);
    KV_ASSERT(list->count > 0);
    struct watch_link *link = link_at(watch, link_ref);
    uint32_t removed = dict_remove(&watch->links, links_dict_key(watch->heap, link));
    KV_ASSERT(removed == link_ref);
    struct watch_key *key = key_at(watch, link->key_ref);
    KV_ASSERT(key->refs > 0);
    key->refs--;
    if (key->refs == 0) {
        key_unlink(watch, link->key_ref);
        heap_release_counted(watch->heap, key, &watch->entry_bytes);
    }
    list->head = link->client_next;
    list->count--;
    heap_release_counted(watch->heap, link, &watch->entry_bytes);
}

void watch_truncate(struct watch *watch, struct watch_list *list, uint32_t count)
{
    KV_ASSERT(count <= list->count);
    /* Bounded by the client's link count: each step drops one. */
    while (list->count > count) {
        link_drop(watch, list);
    }
    dict_settle(&watch->links);
    dict_settle(&watch->keys);
    KV_ASSERT(list->count == count);
    KV_ASSERT(count > 0 || list->head == WATCH_NONE);
}

void watch_clear(struct watch *watch, struct watch_list *list)
{
    watch_truncate(watch, list, 0);
    KV_ASSERT(list->head == WATCH_NONE);
}

bool watch_changed(const struct watch *watch, const struct watch_list *list)
{
    uint32_t link_ref = list->head;
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < list->count; step++) {
        KV_ASSERT(link_ref != WATCH_NONE);
        const struct watch_link *link = link_at(watch, link_ref);
        if (key_at(watch, link->key_ref)->touched_epoch > link->watched_epoch) {
            return true;
        }
        link_ref = link->client_next;
    }
    KV_ASSERT(link_ref == WATCH_NONE);
    return false;
}

bool watch_next(const struct watch *watch, uint32_t *link_ref, struct slice *key,
                uint32_t *db_index)
{
    if (*link_ref == WATCH_NONE) {
        return false;
    }
    const struct watch_link *link = link_at(watch, *link_ref);
    KV_ASSERT(link->key_ref != WATCH_NONE);
    *key = key_name(key_at(watch, link->key_ref));
    *db_index = key_at(watch, link->key_ref)->db_index;
    KV_ASSERT(key_at(watch, link->key_ref)->refs > 0);
    *link_ref = link->client_next;
    return true;
}

void watch_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key)
{
    (void)hash;
    struct watch *watch = context;
    if (dict_count(&watch->keys) == 0) {
        return; /* Nothing watched: the common case costs one compare. */
    }
    uint32_t head_ref = WATCH_NONE;
    uint32_t key_ref = key_find(watch, db_index, key, &head_ref);
    if (key_ref != WATCH_NONE) {
        watch->epoch++;
        key_at(watch, key_ref)->touched_epoch = watch->epoch;
        KV_ASSERT(key_at(watch, key_ref)->refs > 0); /* a watched key has a watcher */
    }
}

void watch_touch_db(struct watch *watch, uint32_t db_index,
                    bool (*exists)(void *context, struct slice key), void *context)
{
    struct dict_walk walk;
    uint32_t head_ref = WATCH_NONE;
    uint64_t touched = 0;
    dict_walk_start(&watch->keys, &walk);
    /* Bounded by the watched keys: the dict's entries and their chains. Touching changes
     * epochs only, never the dict, so the walk stays valid. */
    while (dict_walk_next(&watch->keys, &walk, &head_ref)) {
        uint32_t key_ref = head_ref;
        for (uint64_t step = 0; key_ref != WATCH_NONE && step <= watch->key_count; step++) {
            struct watch_key *key = key_at(watch, key_ref);
            if (key->db_index == db_index && exists(context, key_name(key))) {
                watch->epoch++;
                key->touched_epoch = watch->epoch;
                touched++;
            }
            key_ref = key->same_next;
        }
    }
    KV_ASSERT(touched <= watch->key_count);
}

uint64_t watch_memory_bytes(const struct watch *watch)
{
    /* No link, no key: a key goes with its last link. */
    KV_ASSERT(dict_count(&watch->links) > 0 || watch->entry_bytes == 0);
    return watch->entry_bytes + dict_bucket_bytes(&watch->keys) +
           dict_bucket_bytes(&watch->links);
}

void watch_verify(const struct watch *watch)
{
    dict_verify(&watch->keys);
    dict_verify(&watch->links);
    KV_ASSERT(watch->links_max == 0 || dict_count(&watch->links) <= watch->links_max);
    uint64_t bytes = 0;
    uint64_t refs = 0;
    struct dict_walk walk;
    uint32_t ref = WATCH_NONE;
    uint64_t keys = 0;
    dict_walk_start(&watch->keys, &walk);
    /* Bounded by the keys dict's entries and their chains (one entry per database). */
    while (dict_walk_next(&watch->keys, &walk, &ref)) {
        const struct watch_key *head = key_at(watch, ref);
        uint32_t key_ref = ref;
        for (uint64_t step = 0; key_ref != WATCH_NONE; step++) {
            KV_ASSERT(step <= watch->key_count);
            const struct watch_key *key = key_at(watch, key_ref);
            KV_ASSERT(key->refs > 0);
            KV_ASSERT(key->touched_epoch <= watch->epoch);
            KV_ASSERT(slice_equal(key_name(key), key_name(head)));
            KV_ASSERT(key == head || key->db_index != head->db_index);
            refs += key->refs;
            bytes += heap_usable_bytes(watch->heap, key);
            KV_ASSERT(heap_usable_bytes(watch->heap, key) >=
                      offsetof(struct watch_key, bytes) + (uint64_t)key->key_bytes);
            keys++;
            key_ref = key->same_next;
        }
    }
    KV_ASSERT(keys == watch->key_count);
    KV_ASSERT(refs == dict_count(&watch->links));
    dict_walk_start(&watch->links, &walk);
    /* Bounded by the links dict's entries. */
    while (dict_walk_next(&watch->links, &walk, &ref)) {
        const struct watch_link *link = link_at(watch, ref);
        KV_ASSERT(link->watched_epoch <= watch->epoch);
        const struct watch_key *key = key_at(watch, link->key_ref);
        KV_ASSERT(dict_lookup(&watch->keys, key_name(key)) != WATCH_NONE);
        bytes += heap_usable_bytes(watch->heap, link);
    }
    KV_ASSERT(bytes == watch->entry_bytes);
    KV_ASSERT(dict_count(&watch->keys) > 0 || dict_allocations(&watch->keys) == 0);
    KV_ASSERT(dict_count(&watch->links) > 0 || dict_allocations(&watch->links) == 0);
}

void watch_list_verify(const struct watch *watch, const struct watch_list *list,
                       uint32_t client_index)
{
    uint32_t link_ref = list->head;
    /* Bounded by the client's link count. */
    for (uint32_t step = 0; step < list->count; step++) {
        KV_ASSERT(link_ref != WATCH_NONE);
        const struct watch_link *link = link_at(watch, link_ref);
        KV_ASSERT(link->client_index == client_index);
        KV_ASSERT(dict_lookup(&watch->links, links_dict_key(watch->heap, link)) == link_ref);
        link_ref = link->client_next;
    }
    KV_ASSERT(link_ref == WATCH_NONE);
}
