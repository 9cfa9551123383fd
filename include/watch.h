/*
 * WATCH: which keys clients watch, and whether a watched key changed since. The store calls
 * watch_touched for every key it is about to change, create or remove; a touched watched
 * key takes a fresh number from a global counter, and a client's EXEC is refused when any
 * of its keys carries a number newer than the one it watched at. Two pools of
 * watch_keys_max slots each (watched keys with their bytes; client-key links) and a table
 * over the keys, all carved at startup: WATCH past watch_keys_max gets kv's error.
 */
#ifndef KV_WATCH_H
#define KV_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "pool.h"
#include "region.h"
#include "slice.h"
#include "table.h"

#define WATCH_NONE UINT32_MAX

/* One client's watched keys: a chain of links. */
struct watch_list {
    uint32_t head;   /* first link, WATCH_NONE when empty */
    uint32_t count;  /* links in the chain */
};

struct watch {
    struct table table;       /* hash of a watched key -> its slot in `keys` */
    struct pool keys;         /* struct watch_key + key_size_max bytes */
    struct pool links;        /* struct watch_link: one per (client, key) */
    uint64_t epoch;           /* last number handed out by a touch */
    uint32_t key_size_max;    /* from the config */
};

uint64_t watch_plan_bytes(uint32_t watch_keys_max, uint32_t key_size_max);

void watch_init(struct watch *watch, struct region *region, uint32_t watch_keys_max,
                uint32_t key_size_max);

static inline void watch_list_init(struct watch_list *list)
{
    list->head = WATCH_NONE;
    list->count = 0;
}

/* Adds a key to a client's watches (once: watching it again changes nothing). False when
 * the pools are exhausted (watch_keys_max). The key must be at most key_size_max bytes. */
KV_MUST_USE bool watch_add(struct watch *watch, struct watch_list *list, uint32_t hash,
                           struct slice key);

/* UNWATCH, EXEC, DISCARD, a closing client: drops all of the client's watches. */
void watch_clear(struct watch *watch, struct watch_list *list);

/* Whether any key the client watches was touched after it was watched. */
bool watch_changed(const struct watch *watch, const struct watch_list *list);

/* Walks a client's watched keys: start with *link_index = list->head; each call gives the
 * next key and returns false at the end. The caller bounds the walk by list->count. */
bool watch_next(const struct watch *watch, uint32_t *link_index, struct slice *key);

/* The store's hook: a key is about to change. `context` is the struct watch. */
void watch_touched(void *context, uint32_t hash, struct slice key);

void watch_verify(const struct watch *watch);

#endif
