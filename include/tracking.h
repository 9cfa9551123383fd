/*
 * Client-side caching (CLIENT TRACKING): which clients read which keys, and the
 * invalidations owed when keys change, as Redis 7.0's tracking.c decides them.
 *
 * The table is carved from the region at startup and never grows: TRACKING_KEYS_MAX keys,
 * each with a chain of (client id, slot) links from a pool of TRACKING_LINKS_MAX. A key is
 * found by a 64-bit hash of its name (seeded); its name is kept when it is at most
 * TRACKING_NAME_BYTES_MAX bytes. When the table or the link pool is full, the oldest slot
 * of a round-robin cursor is evicted as Redis evicts past tracking-table-max-keys: its
 * clients are told to invalidate it (by name, or with a null, "everything", for a longer
 * name). A link to a client that left or turned tracking off is skipped by its id.
 *
 * Broadcasting clients (BCAST) hold their prefixes in their own state (client.h). Every
 * invalidation a change owes is noted in a bounded pending list and sent by tracking_deliver
 * once the command's reply is written (so the running client's own invalidations follow its
 * reply, as Redis's pending keys do): the direct ones in the order they came, then for each
 * broadcasting client one message per matching prefix with its keys, sorted and without
 * repeats (as Redis sends them before it sleeps). A list that overflows sends a null
 * ("everything") to every tracking client instead. No I/O: messages go through the sender
 * the serving layer installs.
 */
#ifndef KV_TRACKING_H
#define KV_TRACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "kv_assert.h"
#include "region.h"
#include "slice.h"

/* The table's bounds. tracking-table-max-keys (Redis's parameter, 1M by default, 0: no limit)
 * is enforced before each command as Redis's trackingLimitUsedSlots does (tracking_limit);
 * the table itself holds TRACKING_KEYS_MAX keys, and a key read while it is full evicts
 * another at once (so a limit above the capacity acts as the capacity, and only sends
 * invalidations earlier). */
#define TRACKING_KEYS_MAX 4096u
#define TRACKING_LINKS_MAX 8192u
#define TRACKING_BUCKET_COUNT 4096u
#define TRACKING_NAME_BYTES_MAX 44u
/* A client's BCAST prefixes: how many and how long (kv's bounds; Redis has none). */
#define TRACKING_PREFIXES_MAX 8u
#define TRACKING_PREFIX_BYTES_MAX 32u
/* Invalidations kept to send after a command (more send a null, "everything", instead). */
#define TRACKING_PENDING_MAX 256u
#define TRACKING_PENDING_BYTES 16384u

static_assert((TRACKING_BUCKET_COUNT & (TRACKING_BUCKET_COUNT - 1)) == 0,
              "the bucket count is a power of two");

/* A client's tracking flags (as Redis's CLIENT_TRACKING_*). */
enum tracking_flag {
    TRACKING_ON = 1u << 0,
    TRACKING_BCAST = 1u << 1,
    TRACKING_OPTIN = 1u << 2,
    TRACKING_OPTOUT = 1u << 3,
    TRACKING_CACHING = 1u << 4,     /* CLIENT CACHING YES (OPTIN) or NO (OPTOUT) given */
    TRACKING_NOLOOP = 1u << 5,
    TRACKING_BROKEN_REDIR = 1u << 6,
};

/* One client's tracking state (in struct client). */
struct tracking_client {
    uint32_t flags;               /* enum tracking_flag */
    uint64_t redirect_id;         /* REDIRECT's client id; 0: none */
    uint32_t prefix_count;        /* BCAST prefixes, sorted by their bytes */
    uint8_t prefix_lengths[TRACKING_PREFIXES_MAX];
    uint8_t prefixes[TRACKING_PREFIXES_MAX][TRACKING_PREFIX_BYTES_MAX];
};

/*
 * The serving layer's delivery: tell client `id` (in connection slot `slot_index`) to
 * invalidate `keys` (key_count of them), or everything when keys is NULL (a flush, or an
 * evicted key whose name was not kept). It resolves REDIRECT and the protocol.
 */
typedef void tracking_send_fn(void *context, uint32_t slot_index, uint64_t id,
                              const struct slice *keys, uint32_t key_count);

/* Reads a client's tracking state by slot (the serving layer's clients): with *id != 0,
 * NULL when the slot's client is not that one any more; with *id == 0, the slot's client,
 * if any, whose id goes to *id. */
typedef struct tracking_client *tracking_client_fn(void *context, uint32_t slot_index,
                                                   uint64_t *id);

struct tracking_key {
    uint64_t hash;        /* of the name, with the table's seed */
    uint32_t next;        /* next key in the bucket, TRACKING_NONE at the end */
    uint32_t link_head;   /* first link, TRACKING_NONE: none */
    uint8_t used;         /* this slot holds a key */
    uint8_t name_length;  /* bytes of name; 0 with long_name: not kept */
    uint8_t long_name;    /* the name was longer than TRACKING_NAME_BYTES_MAX */
    uint8_t name[TRACKING_NAME_BYTES_MAX];
};

static_assert(sizeof(struct tracking_key) == 64, "a key entry fills a cache line");

struct tracking_link {
    uint64_t id;          /* the client's id */
    uint32_t slot_index;  /* and its connection slot */
    uint32_t next;        /* next link of the key, or of the free list */
};

#define TRACKING_NONE UINT32_MAX

/* One invalidation owed, to send after the command. */
struct tracking_pending {
    uint64_t modifier_id;   /* the client that changed the key (NOLOOP); 0: none */
    uint64_t target_id;     /* the client told; 0: a changed key for the broadcasters */
    uint32_t target_slot;
    uint32_t offset;        /* the key's name in pending_bytes */
    uint32_t length;
    bool null;              /* no key: "everything" (a flush, a name not kept) */
};

struct tracking {
    struct tracking_key *keys;    /* TRACKING_KEYS_MAX */
    struct tracking_link *links;  /* TRACKING_LINKS_MAX */
    uint32_t *buckets;            /* TRACKING_BUCKET_COUNT heads */
    uint32_t key_free;            /* free key slots: a stack through `next` */
    uint32_t link_free;           /* free links: a stack through `next` */
    uint32_t key_count;
    uint32_t link_count;
    uint32_t evict_cursor;        /* the next slot eviction looks at */
    uint64_t seed;
    uint32_t tracking_count;      /* clients with tracking on */
    uint32_t bcast_count;         /* of them, broadcasting */
    uint32_t slot_count;          /* connection slots, for the BCAST walk */
    bool muted;                   /* a flush is removing keys: they are not told one by one */
    int32_t max_keys_param;       /* tracking-table-max-keys's row (redis_param.h); -1: none */
    uint32_t limit_effort_runs;   /* commands in a row that found the table over the limit */
    uint64_t random_state;        /* tracking_limit's choice of keys (xorshift64) */
    /* The running command's client (NOLOOP, and whose invalidations wait for its reply). */
    uint64_t current_id;
    uint32_t current_slot;
    uint32_t pending_count;
    uint32_t pending_used_bytes;
    bool pending_overflow;        /* too many for the list: a null to every tracking client */
    struct tracking_pending pending[TRACKING_PENDING_MAX];
    uint8_t pending_bytes[TRACKING_PENDING_BYTES];
    tracking_send_fn *send;
    tracking_client_fn *client;
    void *context;                /* for both */
};

uint64_t tracking_plan_bytes(void);

void tracking_init(struct tracking *tracking, struct region *region, uint32_t slot_count,
                   uint64_t seed);

/* The serving layer's delivery and client lookup. */
void tracking_sender_set(struct tracking *tracking, tracking_send_fn *send,
                         tracking_client_fn *client, void *context);

/* CLIENT TRACKING ON / OFF for a client (the options already checked). */
void tracking_enable(struct tracking *tracking, struct tracking_client *state, uint32_t flags,
                     uint64_t redirect_id, const struct slice *prefixes, uint32_t prefix_count);
void tracking_disable(struct tracking *tracking, struct tracking_client *state);

/* Whether a new prefix overlaps one of the client's or one of the new ones after it (one a
 * prefix of the other, equal ones too: Redis's check); `index` names the new one and
 * `overlapped` the one it overlaps. (Redis 7.0 answers an overlap between two new prefixes
 * past the first with the error and then +OK, enabling them; kv answers the error alone.) */
bool tracking_prefix_collides(const struct tracking_client *state, const struct slice *prefixes,
                              uint32_t prefix_count, uint32_t *index, struct slice *overlapped,
                              bool *among_new);

/* A command starts for a client (the one NOLOOP names); tracking_command_end after it
 * (also after a command inside EXEC: nothing is sent there). */
void tracking_command_begin(struct tracking *tracking, uint32_t slot_index, uint64_t id);
void tracking_command_end(struct tracking *tracking);

/* Before a command runs for client `id` (in `slot_index`): while the table holds more keys
 * than tracking-table-max-keys, invalidates random keys (their clients told at once) with
 * Redis's effort, 100 keys times the commands in a row that found it over the limit. */
void tracking_limit(struct tracking *tracking, uint32_t slot_index, uint64_t id);

/* A read-only command read `key`: the client is told when it changes (normal mode, and with
 * OPTIN/OPTOUT as CLIENT CACHING says). */
void tracking_remember(struct tracking *tracking, const struct tracking_client *state,
                       uint32_t slot_index, uint64_t id, struct slice key);

/* Sends every pending invalidation: after a command's reply is in its client's output, and
 * after keys changed outside commands (expiry, eviction, blocked clients served). */
void tracking_deliver(struct tracking *tracking);

/* The store's hook: a key is about to change. */
void tracking_touched(struct tracking *tracking, struct slice key);

/* FLUSHDB/FLUSHALL: every tracking client gets a null, the table empties; the store's
 * per-key touches in between are not sent (tracking_flush_begin .. end). */
void tracking_flush_begin(struct tracking *tracking);
void tracking_flush_end(struct tracking *tracking);

/* Checks counts, chains and the free lists (tests). */
void tracking_verify(const struct tracking *tracking);

#endif
