/*
 * Streams in the store (Redis 7.0's stream type). The key's value is one root allocation
 * (struct store_stream) naming an index: a heap array of node slots, sorted by the first ID of
 * each node. A node is one heap allocation of packed entries in ID order:
 *
 *   entry: ms (8 bytes) | seq (8 bytes) | flags (1 byte) | varint(pair count) |
 *          pairs: varint(field length) field varint(value length) value ...
 *
 * Nodes split where Redis 7.0 splits its listpacks (stream-node-max-entries 100, entries
 * deleted included, and stream-node-max-bytes 4096 measured on the size the listpack would
 * have), so that approximate trimming (`~`) removes exactly the entries Redis removes. XDEL
 * and exact trimming mark entries deleted; a node whose entries are all deleted goes.
 *
 * Consumer groups hang off the root in name order; each holds its pending entries list
 * (PEL: a sorted array of nacks) and its consumers in name order, each consumer with the
 * sorted array of the IDs it owns. Every array grows in the heap: the budget is the only bound.
 *
 * Every write takes all the memory it needs before it changes anything: STORE_OOM means
 * nothing changed. Removals never fail. A stream may be empty (XADD ... MAXLEN 0, XGROUP
 * CREATE ... MKSTREAM); the key stays until deleted. Reads give slices into the heap, valid
 * until the store changes.
 */
#ifndef KV_STORE_STREAM_H
#define KV_STORE_STREAM_H

#include "store.h"

/* Redis 7.0's stream-node-max-entries and stream-node-max-bytes (defaults). */
#define STORE_STREAM_NODE_ENTRIES_MAX 100u
#define STORE_STREAM_NODE_BYTES_MAX 4096u

/* Redis's STREAM_LISTPACK_MAX_SIZE: an entry whose fields and values sum past it is refused. */
#define STORE_STREAM_ENTRY_BYTES_MAX ((1ull << 30) - 1024u)

struct stream_id {
    uint64_t ms;
    uint64_t seq;
};

static inline int stream_id_compare(struct stream_id a, struct stream_id b)
{
    if (a.ms != b.ms) {
        return a.ms < b.ms ? -1 : 1;
    }
    if (a.seq != b.seq) {
        return a.seq < b.seq ? -1 : 1;
    }
    return 0;
}

static inline bool stream_id_is_zero(struct stream_id id)
{
    return id.ms == 0 && id.seq == 0;
}

/* The root of a stream: what XINFO STREAM tells without a walk. */
struct store_stream {
    uint64_t length;                 /* live entries */
    uint64_t entries_added;          /* entries ever added (XSETID may set it) */
    struct stream_id last_id;        /* the last ID generated (or set by XSETID) */
    struct stream_id first_id;       /* the first live entry's ID; 0-0 when empty */
    struct stream_id max_deleted_id; /* the largest ID deleted (XDEL, trims' own count) */
    uint64_t node_bytes;             /* usable bytes of the nodes, the index, the groups */
    uint32_t index_ref;              /* the node slots (HEAP_REF_NONE when none) */
    uint32_t node_count;             /* node slots used */
    uint32_t groups_ref;             /* first group, in name order; HEAP_REF_NONE: none */
    uint32_t group_count;
};

/* Registers the stream type with the store (once, after store_init). */
void store_stream_init(struct store *store);

/* The root of a live stream key. */
const struct store_stream *store_stream_of(const struct store *store, uint32_t key_ref);

/* ---- Entries ---- */

/* One entry as a read gives it: its pairs are walked with store_stream_pair. */
struct store_stream_entry {
    struct stream_id id;
    uint32_t pair_count;
    const uint8_t *pairs;  /* the packed pairs, in the node */
};

/* The field and value at *at (starting at 0) of an entry's pairs; moves *at past them. */
void store_stream_pair(const struct store_stream_entry *entry, uint32_t *at, struct slice *field,
                       struct slice *value);

/* A walk over the live entries with IDs in [start, end], ascending or descending. The
 * stream must not change during it. */
struct store_stream_walk {
    const struct store *store;
    uint32_t key_ref;
    struct stream_id start;
    struct stream_id end;
    bool reverse;
    bool done;
    uint32_t node_index;                                  /* the node being walked */
    uint32_t offsets[STORE_STREAM_NODE_ENTRIES_MAX];      /* its entries' offsets */
    uint32_t offset_count;
    uint32_t position;                                    /* next offset to look at */
};

void store_stream_walk_start(struct store_stream_walk *walk, const struct store *store,
                             uint32_t key_ref, struct stream_id start, struct stream_id end,
                             bool reverse);

/* The next live entry in range; false at the end. */
KV_MUST_USE bool store_stream_walk_next(struct store_stream_walk *walk,
                                        struct store_stream_entry *entry);

/* The live entry with this ID; false when there is none. */
KV_MUST_USE bool store_stream_find_entry(const struct store *store, uint32_t key_ref,
                                         struct stream_id id, struct store_stream_entry *entry);

/* Nodes of the stream (XINFO's radix-tree-keys), and the first ID of node `index`. */
uint32_t store_stream_node_count(const struct store *store, uint32_t key_ref);
struct stream_id store_stream_node_first(const struct store *store, uint32_t key_ref,
                                         uint32_t index);

/* ---- Writes ---- */

/* Appends an entry with `id` (greater than the stream's last ID) holding pair_count pairs
 * (pairs[0] field, pairs[1] value, ...). Creates the key when found names none. */
KV_MUST_USE enum store_status store_stream_add(struct store *store, struct store_found *found,
                                               struct slice key, struct stream_id id,
                                               const struct slice *pairs, uint32_t pair_count);

/* Creates an empty stream at an absent key (XGROUP CREATE ... MKSTREAM). */
KV_MUST_USE enum store_status store_stream_create(struct store *store, struct store_found *found,
                                                  struct slice key);

enum store_stream_trim_strategy {
    STORE_STREAM_TRIM_NONE = 0,
    STORE_STREAM_TRIM_MAXLEN = 1,
    STORE_STREAM_TRIM_MINID = 2,
};

struct store_stream_trim {
    uint8_t strategy;          /* enum store_stream_trim_strategy */
    bool approx;               /* `~`: whole nodes only */
    uint64_t limit;            /* entries at most; 0: no limit */
    uint64_t maxlen;           /* MAXLEN */
    struct stream_id minid;    /* MINID */
};

/* Trims as Redis's streamTrim does; returns the entries removed. Never fails. */
uint64_t store_stream_trim(struct store *store, struct store_found *found,
                           const struct store_stream_trim *trim);

/* XDEL of one ID: true when a live entry had it. Never fails. */
bool store_stream_delete(struct store *store, struct store_found *found, struct stream_id id);

/* XSETID: the last ID, and optionally entries_added and max_deleted_id (checked by the
 * caller). */
void store_stream_set_id(struct store *store, struct store_found *found, struct stream_id last_id,
                         const uint64_t *entries_added, const struct stream_id *max_deleted_id);

/* ---- Consumer groups ---- */

/* A pending entry: delivered to a consumer of a group, not yet acknowledged. */
struct store_stream_nack {
    struct stream_id id;
    int64_t delivery_ms;      /* last delivery time */
    uint64_t delivery_count;
    uint32_t consumer_ref;    /* the consumer that owns it */
    uint32_t reserved;
};

/* A group: the fixed part; its name's bytes follow it in the allocation. */
struct store_stream_group {
    uint32_t next_ref;        /* the next group in name order */
    uint32_t name_bytes;
    struct stream_id last_id;
    int64_t entries_read;     /* -1: unknown (Redis's SCG_INVALID_ENTRIES_READ) */
    uint32_t pel_ref;         /* struct store_stream_nack[pel_capacity], sorted by ID */
    uint32_t pel_count;
    uint32_t consumers_ref;   /* first consumer in name order */
    uint32_t consumer_count;
    uint8_t name[];
};

/* A consumer; its name's bytes follow it. */
struct store_stream_consumer {
    uint32_t next_ref;        /* the next consumer in name order */
    uint32_t name_bytes;
    int64_t seen_ms;          /* last interaction */
    uint32_t ids_ref;         /* struct stream_id[...], its pending IDs sorted */
    uint32_t pending_count;
    uint8_t name[];
};

static inline struct slice store_stream_group_name(const struct store_stream_group *group)
{
    return (struct slice){.bytes = group->name, .length = group->name_bytes};
}

static inline struct slice store_stream_consumer_name(const struct store_stream_consumer *c)
{
    return (struct slice){.bytes = c->name, .length = c->name_bytes};
}

/* The group named so; NULL when none. */
struct store_stream_group *store_stream_group_find(const struct store *store, uint32_t key_ref,
                                                   struct slice name);

/* The first group (name order) and the next; NULL at the end. */
struct store_stream_group *store_stream_group_first(const struct store *store, uint32_t key_ref);
struct store_stream_group *store_stream_group_next(const struct store *store,
                                                   const struct store_stream_group *group);

/* Creates a group (absent) at the stream: STORE_OOM changes nothing. */
KV_MUST_USE enum store_status store_stream_group_create(struct store *store,
                                                        struct store_found *found,
                                                        struct slice name, struct stream_id id,
                                                        int64_t entries_read);

/* Destroys a group with its consumers and PEL. */
void store_stream_group_destroy(struct store *store, struct store_found *found,
                                struct store_stream_group *group);

/* The consumer named so in a group; NULL when none. */
struct store_stream_consumer *store_stream_consumer_find(const struct store *store,
                                                         const struct store_stream_group *group,
                                                         struct slice name);
struct store_stream_consumer *store_stream_consumer_first(const struct store *store,
                                                          const struct store_stream_group *g);
struct store_stream_consumer *store_stream_consumer_next(const struct store *store,
                                                         const struct store_stream_consumer *c);

/* Creates a consumer (absent) in a group; NULL when the heap has no room. */
struct store_stream_consumer *store_stream_consumer_create(struct store *store,
                                                           struct store_stream_group *group,
                                                           struct slice name, int64_t now_ms);

/* Deletes a consumer and its pending entries (from the group's PEL too); returns how many
 * pending entries it had. */
uint32_t store_stream_consumer_delete(struct store *store, struct store_stream_group *group,
                                      struct store_stream_consumer *consumer);

/* The group's PEL (sorted by ID) and a consumer's pending IDs (sorted). */
struct store_stream_nack *store_stream_pel(const struct store *store,
                                           const struct store_stream_group *group);
const struct stream_id *store_stream_consumer_ids(const struct store *store,
                                                  const struct store_stream_consumer *consumer);

/* Index in the PEL of the first nack with ID >= id (pel_count when none). */
uint32_t store_stream_pel_seek(const struct store *store, const struct store_stream_group *group,
                               struct stream_id id);

/* The nack with this ID; NULL when none. */
struct store_stream_nack *store_stream_pel_find(const struct store *store,
                                                const struct store_stream_group *group,
                                                struct stream_id id);

/* Makes room for `count` more nacks in the group's PEL and `count` more IDs in the
 * consumer's list, so that the next `count` store_stream_pel_add / _claim calls cannot fail.
 * STORE_OOM changes nothing that a reader can see. */
KV_MUST_USE enum store_status store_stream_pel_reserve(struct store *store,
                                                       struct store_stream_group *group,
                                                       struct store_stream_consumer *consumer,
                                                       uint32_t count);

/* Delivers `id` to `consumer` (room reserved): a new nack, or an existing one that moves to
 * this consumer (Redis's XREADGROUP of history / NACK reassignment), with time and count. */
void store_stream_pel_deliver(struct store *store, struct store_stream_group *group,
                              struct store_stream_consumer *consumer, struct stream_id id,
                              int64_t now_ms, bool count_delivery);

/* Moves an existing nack to `consumer` (room reserved), without touching its time or count. */
void store_stream_nack_move(struct store *store, struct store_stream_group *group,
                            struct store_stream_nack *nack, struct store_stream_consumer *consumer);

/* Acknowledges `id`: true when it was pending (gone from the PEL and its consumer). */
bool store_stream_ack(struct store *store, struct store_stream_group *group, struct stream_id id);

#endif
