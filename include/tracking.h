/*
 * Client-side caching (CLIENT TRACKING): which clients read which keys, and the
 * invalidations owed when keys change, as Redis 7.0's tracking.c decides them.
 *
 * The table lives in the heap (the memory budget), only while used, as WATCH's does: a
 * tracked key once, with its whole name, in a dict of keys; each (key, client) pair as a
 * link chained from its key and, doubly, from its client (struct tracking_client), so that
 * CLIENT TRACKING OFF, RESET and a leaving client free their own links (and the keys no one
 * tracks any more) without a walk of the table. The only bounds are tracking-table-max-keys
 * (enforced before each command as Redis's trackingLimitUsedSlots does: tracking_limit; 0 is
 * no limit) and the budget. When the heap has no room for a new key or link, the reader is
 * told to invalidate the key at once (after its reply), as if it had changed: its cache can
 * never keep a value kv could not promise to invalidate (Redis never refuses the read).
 *
 * Broadcasting clients (BCAST) hold their prefixes in their own state (client.h). A change
 * owes its direct invalidations (to the clients that read the key) at once: they wait in a
 * bounded pending list and tracking_deliver sends them once the command's reply is written
 * (so the running client's own follow its reply, as Redis's pending keys do); a list that
 * overflows sends a null ("everything") to every tracking client instead. The keys changed
 * for the broadcasters gather over a whole event-loop pass in a heap dict (each once, with
 * its last changer for NOLOOP) and tracking_broadcast sends them when the pass ends, as
 * Redis's trackingBroadcastInvalidationMessages does before it sleeps: to each broadcasting
 * client, one message per matching prefix with every key under it, sorted. If the heap
 * cannot hold a changed key, or the sort's scratch, every broadcasting client gets a null
 * instead. No I/O: messages go through the sender the serving layer installs.
 */
#ifndef KV_TRACKING_H
#define KV_TRACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"
#include "heap.h"
#include "kv_assert.h"
#include "slice.h"

/* A client's BCAST prefixes: how many and how long (kv's bounds; Redis has none). */
#define TRACKING_PREFIXES_MAX 8u
#define TRACKING_PREFIX_BYTES_MAX 32u
/* Invalidations kept to send after a command (more send a null, "everything", instead). */
#define TRACKING_PENDING_MAX 256u
#define TRACKING_PENDING_BYTES 16384u

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
    uint32_t prefix_count;        /* BCAST prefixes, sorted by their bytes */
    uint64_t redirect_id;         /* REDIRECT's client id; 0: none */
    uint8_t prefix_lengths[TRACKING_PREFIXES_MAX];
    uint8_t prefixes[TRACKING_PREFIXES_MAX][TRACKING_PREFIX_BYTES_MAX];
    uint32_t link_head;           /* its newest link in the table (heap ref), TRACKING_NONE */
    uint32_t link_count;          /* keys it tracks in normal mode */
};

static_assert(sizeof(struct tracking_client) == 288, "a client's tracking state: 36 words");

/*
 * The serving layer's delivery: tell client `id` (in connection slot `slot_index`) to
 * invalidate `keys` (key_count of them), or everything when keys is NULL (a flush, a pending
 * list that overflowed, a broadcast pass the heap had no room for). It resolves REDIRECT and
 * the protocol.
 */
typedef void tracking_send_fn(void *context, uint32_t slot_index, uint64_t id,
                              const struct slice *keys, uint32_t key_count);

/* Reads a client's tracking state by slot (the serving layer's clients): with *id != 0,
 * NULL when the slot's client is not that one any more; with *id == 0, the slot's client,
 * if any, whose id goes to *id. */
typedef struct tracking_client *tracking_client_fn(void *context, uint32_t slot_index,
                                                   uint64_t *id);

/* No link or key (heap references start at 1); also "no slot" where a slot is meant. */
#define TRACKING_NONE HEAP_REF_NONE
#define TRACKING_SLOT_NONE UINT32_MAX

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
    struct heap *heap;            /* keys, links, pending broadcast keys, the dicts' buckets */
    struct dict keys;             /* tracked keys (tracking.c's struct tracking_key) by name */
    struct dict changed;          /* keys changed this pass, for the broadcasters, by name */
    uint64_t link_count;          /* (key, client) links: INFO's tracking_total_items */
    uint64_t entry_bytes;         /* usable heap bytes of every key, link and changed entry */
    bool changed_overflow;        /* a changed key found no room: a null to each broadcaster */
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

/* Nothing is carved: the table lives in `heap`. */
void tracking_init(struct tracking *tracking, struct heap *heap, uint32_t slot_count,
                   uint64_t seed);
/* The serving layer's delivery and client lookup. */
void tracking_sender_set(struct tracking *tracking, tracking_send_fn *send,
                         tracking_client_fn *client, void *context);

/* CLIENT TRACKING ON / OFF for a client (the options already checked). */
void tracking_enable(struct tracking *tracking, struct tracking_client *state, uint32_t flags,
                     uint64_t redirect_id, const struct slice *prefixes, uint32_t prefix_count);
/* CLIENT TRACKING OFF, RESET, a leaving client: its links (and keys no one else tracks) are
 * freed, its state cleared. */
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

/* Sends every pending direct invalidation: after a command's reply is in its client's
 * output, and after keys changed outside commands (expiry, eviction, blocked clients served). */
void tracking_deliver(struct tracking *tracking);

/* The event loop's pass ends: sends the broadcasters the keys changed during it (after
 * tracking_deliver's direct ones, which it sends first) and forgets them. */
void tracking_broadcast(struct tracking *tracking);

/* Heap bytes the table holds: its entries and its dicts' bucket arrays (INFO, MEMORY). */
uint64_t tracking_memory_bytes(const struct tracking *tracking);

/* Tracked keys, (key, client) links, and distinct BCAST prefixes (INFO's tracking_total_*). */
static inline uint64_t tracking_key_count(const struct tracking *tracking)
{
    return dict_count(&tracking->keys);
}

uint64_t tracking_prefix_count(const struct tracking *tracking);

/* The store's hook: a key is about to change. */
void tracking_touched(struct tracking *tracking, struct slice key);

/* FLUSHDB/FLUSHALL: every tracking client gets a null, the table empties; the store's
 * per-key touches in between are not sent (tracking_flush_begin .. end). */
void tracking_flush_begin(struct tracking *tracking);
void tracking_flush_end(struct tracking *tracking);

/* Checks the dicts, every key's chain against its link count, every link against its
 * client's chain, and entry_bytes against a walk (tests). O(keys + links). */
void tracking_verify(const struct tracking *tracking);

#endif
