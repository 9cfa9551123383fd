/*
 * WATCH: which keys clients watch, and whether a watched key changed since. The store calls
 * watch_touched for every key it is about to change, create or remove; a touched watched
 * key takes a fresh number from a global counter, and a client's EXEC is refused when any
 * of its keys carries a number newer than the one it watched at.
 *
 * Everything lives on the heap (the memory budget) and only while it is used: a watched key
 * once, with its bytes (any length), in a dict of keys, however many clients watch it; each
 * (client, key) pair as a link in a dict of links keyed by those two numbers, so that
 * watching a key again is found in O(1) whatever the client already watches, and chained
 * per client (newest first) so that UNWATCH, EXEC and a leaving client walk only their own.
 * An optional cap, watch_keys_max (0: none), bounds the links in all; otherwise the budget
 * is the only bound, and WATCH past it gets the OOM error with nothing watched.
 */
#ifndef KV_WATCH_H
#define KV_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

/* Ends a client's chain: no heap reference is 0. */
#define WATCH_NONE HEAP_REF_NONE

/* One client's watched keys: a chain of links, newest first. */
struct watch_list {
    uint32_t head;   /* newest link (a heap reference), WATCH_NONE when empty */
    uint32_t count;  /* links in the chain */
};

struct watch {
    struct heap *heap;        /* every key and link entry, and the dicts' buckets */
    struct dict keys;         /* watched keys (struct watch_key), by their bytes */
    struct dict links;        /* (key, client) links (struct watch_link), by those numbers */
    uint64_t epoch;           /* last number handed out by a touch */
    uint64_t key_count;       /* watched (database, key) entries: the dict's and the chains' */
    uint64_t entry_bytes;     /* usable bytes of every key and link entry held */
    uint32_t links_max;       /* watch_keys_max: links in all; 0: no cap */
};

enum watch_status {
    WATCH_OK,                 /* watched (or watched already: nothing changed) */
    WATCH_FULL,               /* watch_keys_max links exist */
    WATCH_OOM,                /* the heap has no room for the key or the link */
};

void watch_init(struct watch *watch, struct heap *heap, uint32_t links_max, uint64_t seed);

static inline void watch_list_init(struct watch_list *list)
{
    list->head = WATCH_NONE;
    list->count = 0;
}

/* Adds a key to a client's watches (once: watching it again changes nothing).
 * `client_index` names the client (its connection slot) among the links. WATCH_FULL and
 * WATCH_OOM change nothing. */
KV_MUST_USE enum watch_status watch_add(struct watch *watch, struct watch_list *list,
                                        uint32_t client_index, uint32_t db_index,
                                        struct slice key);

/* Drops the client's newest watches until it has `count` left (a WATCH that ran out of
 * memory undoes itself with the count it started from). */
void watch_truncate(struct watch *watch, struct watch_list *list, uint32_t count);

/* UNWATCH, EXEC, DISCARD, a closing client: drops all of the client's watches. */
void watch_clear(struct watch *watch, struct watch_list *list);

/* Whether any key the client watches was touched after it was watched. */
bool watch_changed(const struct watch *watch, const struct watch_list *list);

/* Walks a client's watched keys: start with *link_ref = list->head; each call gives the
 * next key and returns false at the end. The caller bounds the walk by list->count. */
bool watch_next(const struct watch *watch, uint32_t *link_ref, struct slice *key,
                uint32_t *db_index);

/* The store's hook: a key is about to change. `context` is the struct watch; `hash` is the
 * store's, unused (the dict hashes with its own seed). */
void watch_touched(void *context, uint32_t db_index, uint32_t hash, struct slice key);

/* Touches every key watched in database db_index for which exists(context, key) holds:
 * SWAPDB's and FLUSHDB's touch of a whole database (Redis's touchAllWatchedKeysInDb).
 * O(watched keys). */
void watch_touch_db(struct watch *watch, uint32_t db_index,
                    bool (*exists)(void *context, struct slice key), void *context);

/* Heap bytes WATCH holds: its entries and its dicts' bucket arrays (INFO). */
uint64_t watch_memory_bytes(const struct watch *watch);

/* Watched keys, and (client, key) links, now. */
static inline uint64_t watch_key_count(const struct watch *watch)
{
    return watch->key_count;
}

static inline uint64_t watch_link_count(const struct watch *watch)
{
    return dict_count(&watch->links);
}

/* Checks both dicts, every key's reference count against the links naming it, the cap,
 * and entry_bytes against a walk of every entry. O(keys + links). */
void watch_verify(const struct watch *watch);

/* Checks one client's chain: `count` links, each in the links dict under this client. */
void watch_list_verify(const struct watch *watch, const struct watch_list *list,
                       uint32_t client_index);

#endif
