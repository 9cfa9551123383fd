/*
 * Clients: the command-level state of each connected client, in an array indexed by its
 * connection slot: its id, whether it authenticated, its name and library (CLIENT SETNAME,
 * SETINFO), when it connected and last ran a command, its transaction and its pub/sub
 * subscriptions. The connection (conn) keeps the bytes; this keeps what commands know about
 * the client. A command handler sees its own client through this struct, never the
 * connection. No I/O, no allocation after init.
 */
#ifndef KV_CLIENT_H
#define KV_CLIENT_H

#include <stdbool.h>
#include <time.h>
#include <stdint.h>

#include "kv_assert.h"
#include "pubsub.h"
#include "region.h"
#include "slice.h"
#include "tracking.h"
#include "txn.h"
#include "watch.h"

/* Longest client name and library name/version (CLIENT SETNAME, CLIENT SETINFO). */
#define CLIENT_NAME_BYTES_MAX 128u
#define CLIENT_LIB_BYTES_MAX 64u

/* CLIENT REPLY: whether a client's command replies are sent (Redis's CLIENT_REPLY_OFF,
 * _SKIP_NEXT and _SKIP flags as one state: SKIP_NEXT is set by CLIENT REPLY SKIP and becomes
 * SKIP, the next command's, once that command is done). Pushes and messages always go. */
enum client_reply_mode {
    CLIENT_REPLY_ON = 0,
    CLIENT_REPLY_OFF,
    CLIENT_REPLY_SKIP_NEXT,
    CLIENT_REPLY_SKIP,
};

/* CLIENT PAUSE's kinds, as Redis's client_pause_type (ALL holds every command, WRITE those
 * that may write or replicate). */
enum clients_pause {
    CLIENTS_PAUSE_OFF = 0,
    CLIENTS_PAUSE_WRITE,
    CLIENTS_PAUSE_ALL,
};

/* The clock of CLIENT PAUSE's end: Unix ms, as Redis's mstime. */
static inline int64_t clients_clock_ms(void)
{
    struct timespec now;
    int result = clock_gettime(CLOCK_REALTIME, &now);
    KV_ASSERT(result == 0); /* fails only for a bad clock id or pointer */
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The timeout CLIENT UNBLOCK gives a blocked client: long past, and no real one is this. */
#define CLIENT_UNBLOCK_DEADLINE_MS 1

struct client {
    uint64_t id;               /* client id, increasing from 1 (CLIENT ID); 0: slot unused */
    uint32_t slot_index;       /* its connection slot (and index in `clients`) */
    bool authenticated;        /* AUTH succeeded (or no requirepass when it connected) */
    bool no_evict;             /* CLIENT NO-EVICT on: maxmemory-clients never closes it */
    uint8_t resp;              /* protocol of its replies: 2, or 3 after HELLO 3 */
    uint8_t reply_mode;        /* enum client_reply_mode (CLIENT REPLY) */
    uint32_t db_index;         /* its selected database (SELECT; 0 when it connects and after
                                  RESET), which the command layer selects before each command */
    bool unblock_error;        /* CLIENT UNBLOCK ERROR: its blocked command answers -UNBLOCKED */
    bool txn_writes;           /* its MULTI queued a command that may write (CLIENT PAUSE WRITE
                                  holds the EXEC); meaningful while txn.active */
    bool monitor;              /* MONITOR: every command run is shown to it (cmd_monitor.c) */
    bool cluster_asking;       /* ASKING: its next command may use an importing slot (Redis's
                                  CLIENT_ASKING; cleared after a command outside MULTI) */
    bool cluster_readonly;     /* READONLY: reads from a replica's slots (Redis's
                                  CLIENT_READONLY; READWRITE and RESET clear it) */
    bool cluster_txn_crossslot; /* its MULTI queued commands whose keys are in two slots */
    bool cluster_txn_write;    /* its MULTI queued a write with keys (EXEC's redirection) */
    uint32_t cluster_txn_slot; /* the slot of its queued commands' keys; UINT32_MAX: none yet
                                  (the command layer resets the three outside MULTI) */
    uint32_t monitor_next;     /* 1 + the slot of the next monitor in `clients`' list, 0: last */
    uint32_t monitor_prev;     /* 1 + the slot of the previous one, 0: first */
    int64_t created_ms;        /* Unix ms when accepted (CLIENT LIST age) */
    int64_t last_command_ms;   /* Unix ms of the last command (CLIENT LIST idle, timeout) */
    const char *last_command;  /* name of the last command run, NULL before the first */
    struct txn txn;            /* MULTI/EXEC/WATCH state */
    struct pubsub_client pubsub; /* its channel and pattern subscriptions */
    struct tracking_client tracking; /* CLIENT TRACKING: its mode, redirect and prefixes */
    uint32_t name_length;      /* bytes of name; 0: no name */
    uint32_t lib_name_length;  /* bytes of lib_name */
    uint32_t lib_ver_length;   /* bytes of lib_ver */
    char name[CLIENT_NAME_BYTES_MAX];
    char lib_name[CLIENT_LIB_BYTES_MAX];
    char lib_ver[CLIENT_LIB_BYTES_MAX];
};

struct clients {
    struct client *slots;      /* slot_count clients, by connection slot */
    struct watch *watch;       /* a leaving client's watches go back here */
    struct pubsub *pubsub;     /* and its subscriptions here */
    uint32_t slot_count;       /* connection slots */
    uint64_t id_next;          /* next client id */
    uint8_t pause;             /* enum clients_pause: CLIENT PAUSE in effect */
    bool pause_ended;          /* CLIENT UNPAUSE: the serving layer resumes the held clients */
    int64_t pause_end_ms;      /* Unix ms the pause ends (past it, it is over) */
    uint32_t monitor_first;    /* 1 + the slot of the newest monitor, 0: none (MONITOR) */
    uint32_t monitor_count;    /* clients in that list, at most slot_count */
    uint32_t unblock_count;    /* clients CLIENT UNBLOCK marked (their deadlines set to
                                  CLIENT_UNBLOCK_DEADLINE_MS): the serving layer answers them
                                  once the command is done */
};

uint64_t clients_plan_bytes(uint32_t slot_count);

void clients_init(struct clients *clients, struct region *region, uint32_t slot_count,
                  struct watch *watch, struct pubsub *pubsub);

static inline struct client *client_at(const struct clients *clients, uint32_t slot_index)
{
    KV_ASSERT(slot_index < clients->slot_count);
    return &clients->slots[slot_index];
}

/* A client connected in this slot at now_ms; `authenticated` when no password is asked. */
struct client *client_open(struct clients *clients, uint32_t slot_index, int64_t now_ms,
                           bool authenticated);

/* The client left: its transaction, watches and subscriptions go. */
void client_close(struct clients *clients, struct client *client);

/* RESET: as it was when it connected (no transaction, watches, subscriptions or name). */
void client_reset(struct clients *clients, struct client *client, bool authenticated);

/* MONITOR: the client joins the monitors' list (it must not be in it); RESET and closing
 * take it out. The list is walked from clients->monitor_first by monitor_next (O(monitors),
 * never O(clients)), newest first. */
void client_monitor_start(struct clients *clients, struct client *client);
void client_monitor_stop(struct clients *clients, struct client *client);

/* Unsubscribes from every channel, pattern and shard channel (RESET, leaving, a dropped
 * subscriber). */
void client_unsubscribe_all(struct clients *clients, struct client *client);

static inline bool client_subscribed(const struct client *client)
{
    return client->pubsub.channels + client->pubsub.patterns + client->pubsub.shards > 0;
}

static inline struct slice client_name(const struct client *client)
{
    return (struct slice){.bytes = (const uint8_t *)client->name, .length = client->name_length};
}

/* Whether its replies are RESP3: every writer of its output copies this (reply.resp3). */
static inline bool client_resp3(const struct client *client)
{
    KV_ASSERT(client->resp == 2 || client->resp == 3);
    return client->resp == 3;
}

/* Checks a client's state (tests). */
void client_verify(const struct clients *clients, const struct client *client);

#endif
