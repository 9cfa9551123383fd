/*
 * Keyspace notifications (Redis's notify-keyspace-events) and the delivery of pub/sub
 * messages. A command that changes a key names its event with notify_event (class, event
 * name, key), in the order Redis 7.0's notifyKeyspaceEvent calls come; when the class is on,
 * the event is published on "__keyspace@0__:<key>" (message: the event) if K is on and on
 * "__keyevent@0__:<event>" (message: the key) if E is on, to channel and pattern subscribers
 * as PUBLISH delivers (RESP2 arrays, RESP3 pushes). Events from below the commands ("new",
 * "expired", "evicted") come through the store's event hook, which notify_attach sets.
 *
 * The classes are parsed once, when notify-keyspace-events is set (notify_configure), into
 * notify_classes; with notifications off an event costs one load and one branch. A message
 * for the client whose command is running goes into that command's reply writer (so the
 * two writers of one output never interleave): cmd_run brackets each command with
 * notify_command_begin / notify_command_end.
 *
 * Bounds: an event publishes at most two messages; each walks the channel's subscribers and
 * the patterns dict once. A channel name longer than NOTIFY_CHANNEL_STACK_BYTES is built in a
 * heap allocation released before the event returns (none: the event is dropped, counted).
 * Database 0 only. Nothing allocated but from the heap.
 */
#ifndef KV_NOTIFY_H
#define KV_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "slice.h"

struct pubsub;
struct conns;
struct clients;
struct client;
struct config;
struct stats;
struct store;
struct reply;

/* Redis's classes, as its NOTIFY_* bits (redis_param.c parses the same letters). */
#define NOTIFY_KEYSPACE (1u << 0)  /* K */
#define NOTIFY_KEYEVENT (1u << 1)  /* E */
#define NOTIFY_GENERIC (1u << 2)   /* g */
#define NOTIFY_STRING (1u << 3)    /* $ */
#define NOTIFY_LIST (1u << 4)      /* l */
#define NOTIFY_SET (1u << 5)       /* s */
#define NOTIFY_HASH (1u << 6)      /* h */
#define NOTIFY_ZSET (1u << 7)      /* z */
#define NOTIFY_EXPIRED (1u << 8)   /* x */
#define NOTIFY_EVICTED (1u << 9)   /* e */
#define NOTIFY_STREAM (1u << 10)   /* t */
#define NOTIFY_KEY_MISS (1u << 11) /* m */
#define NOTIFY_MODULE (1u << 13)   /* d: kv has no modules, so never emitted */
#define NOTIFY_NEW (1u << 14)      /* n */

/* Channel names up to this many bytes are built on the stack. */
#define NOTIFY_CHANNEL_STACK_BYTES 512u

/* Commands nested while one runs (EXEC, a script, the command they run), with room. */
#define NOTIFY_DEPTH_MAX 8u

/* Where messages go: the modules PUBLISH delivers through. */
struct notify_sinks {
    struct pubsub *pubsub;
    struct conns *conns;
    struct clients *clients;
    const struct config *config; /* the pub/sub class's client-output-buffer-limit */
    struct stats *stats;         /* pubsub_disconnects */
    int64_t now_ms;              /* for the soft limit's seconds */
};

/* The classes on now, notify-keyspace-events parsed; written only by notify_configure. */
extern uint32_t notify_classes;

/* Key events raised so far (key misses aside), whatever the classes on: propagation tells a
 * command that changed the keyspace by it (Redis's server.dirty). */
extern uint64_t notify_event_total;

/* A tap on the store's "expired" and "evicted" events (propagation's DEL), with the selected
 * database; NULL: none. The store's hook stays set while a tap is. */
typedef void notify_tap_fn(uint32_t db_index, struct slice key);
void notify_tap_set(notify_tap_fn *tap);

/* Keeps the sinks for events from below the commands and sets the store's event hook, then
 * reads notify-keyspace-events (the config file may have set it). Once, at startup. */
void notify_attach(const struct notify_sinks *sinks, struct store *store);

/* Parses notify-keyspace-events' stored (canonical) value into notify_classes: at startup
 * and after every CONFIG SET. */
void notify_configure(void);

/* The classes a canonical notify-keyspace-events value names. */
uint32_t notify_classes_parse(const char *value);

/* The running command's client and reply writer (cmd_run); they nest. */
void notify_command_begin(struct client *client, struct reply *reply);
void notify_command_end(void);

/* Publishes one event (see the file comment); the slow half of notify_event. */
void notify_publish_event(uint32_t class, const char *event, struct slice key);

/* A key event, as Redis's notifyKeyspaceEvent(class, event, key, 0). */
static inline void notify_event(uint32_t class, const char *event, struct slice key)
{
    notify_event_total += class != NOTIFY_KEY_MISS ? 1u : 0u;
    if ((notify_classes & class) != 0) {
        notify_publish_event(class, event, key);
    }
}

/* Publishes `message` on `channel` to its subscribers and the matching patterns' (PUBLISH);
 * returns how many received it. Subscribers past their output limit are dropped. */
int64_t notify_publish(const struct notify_sinks *sinks, struct slice channel,
                       struct slice message);

/* SPUBLISH: to a shard channel's subscribers only ("smessage"; patterns never match). */
int64_t notify_publish_shard(const struct notify_sinks *sinks, struct slice channel,
                             struct slice message);

/* While muted, the store's "new" events are not published: a command whose Redis order puts
 * the new key's event after others (SMOVE's destination) publishes it itself. */
void notify_new_mute(bool muted);

/* Events that failed for lack of heap memory for their channel name. */
uint64_t notify_dropped_count(void);

#endif
