/*
 * Cluster mode's state on one instance, as Redis 7.0's clusterState: this node (myself, a
 * 40-hex node id kept in nodes.conf), a bounded table of the nodes it knows (name, address,
 * flags, config epoch, the slots each serves), the slot -> node map, the slots being
 * migrated or imported, the epochs, and the cluster's state (ok/fail, by Redis's full
 * coverage and quorum rules, with its writable and rejoin delays).
 *
 * The configuration lives in nodes.conf in Redis's format (CLUSTER NODES' lines and a
 * `vars currentEpoch N lastVoteEpoch N` line): read at startup (a corrupt file stops kv, as
 * Redis), written after every change through a temporary file, fsync and rename (as CONFIG
 * REWRITE writes its file). Nodes are added and their slots changed through functions the
 * cluster bus (cluster_bus.h) calls as messages arrive (cluster_node_add, cluster_slot_assign,
 * cluster_node_rename, ...).
 *
 * One instance per process (module state, as Redis's server.cluster). Static storage only:
 * CLUSTER_NODES_MAX nodes and three 16,384-entry slot arrays, nothing allocated. No I/O but
 * nodes.conf's reads and writes.
 */
#ifndef KV_CLUSTER_H
#define KV_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyslot.h"

/* A node id: 40 hex characters (Redis's CLUSTER_NAMELEN). */
#define CLUSTER_NAME_BYTES 40u

/* Nodes one instance knows at most (a cluster of 256 nodes, replicas included). */
#define CLUSTER_NODES_MAX 256u

/* An IP address's text with its NUL (Redis's NET_IP_STR_LEN). */
#define CLUSTER_IP_BYTES 46u

/* The longest announced hostname kv keeps, NUL included. */
#define CLUSTER_HOSTNAME_BYTES 256u

/* No node: a slot nobody serves, a node that is nobody's replica. */
#define CLUSTER_NODE_NONE UINT32_MAX

/* A node's flags, as Redis's CLUSTER_NODE_* (their names in CLUSTER NODES, in this order). */
enum cluster_node_flag {
    CLUSTER_FLAG_MYSELF = 1u << 0,
    CLUSTER_FLAG_MASTER = 1u << 1,
    CLUSTER_FLAG_SLAVE = 1u << 2,
    CLUSTER_FLAG_PFAIL = 1u << 3,
    CLUSTER_FLAG_FAIL = 1u << 4,
    CLUSTER_FLAG_HANDSHAKE = 1u << 5,
    CLUSTER_FLAG_NOADDR = 1u << 6,
    CLUSTER_FLAG_NOFAILOVER = 1u << 7,
};

struct cluster_node {
    bool used;                          /* the table slot holds a node */
    char name[CLUSTER_NAME_BYTES];      /* its id, 40 hex characters, no NUL */
    char ip[CLUSTER_IP_BYTES];          /* its address ("" until known), NUL-terminated */
    char hostname[CLUSTER_HOSTNAME_BYTES]; /* announced hostname, "" when none */
    uint32_t port;                      /* client port */
    uint32_t bus_port;                  /* cluster bus port */
    uint32_t flags;                     /* enum cluster_node_flag */
    uint32_t master_index;              /* a replica's master, CLUSTER_NODE_NONE for none */
    uint64_t config_epoch;              /* its configEpoch */
    uint32_t slot_count;                /* slots it serves */
    int64_t ping_sent_ms;               /* Unix ms of the last ping sent (0: none) */
    int64_t pong_received_ms;           /* Unix ms of the last pong (0: none) */
    bool link_connected;                /* the cluster bus's link to it is up (myself: true) */
};

/* Whether cluster mode is on (cluster-enabled yes at startup). */
bool cluster_enabled(void);

/*
 * Startup with cluster-enabled: loads <dir>/<cluster-config-file> (or creates this node with
 * a random id and writes the file, as Redis's clusterInit). `port` is the client port.
 * False after logging why (a corrupt or unreadable file, an unwritable one): kv exits.
 */
bool cluster_init(const char *dir, uint32_t port);

/* Refreshes myself's announced address, ports and hostname from the cluster-announce-*
 * and cluster-port parameters (they change with CONFIG SET), as Redis's
 * clusterUpdateMyself* do. */
void cluster_myself_refresh(void);

/* The nodes' table: entries [0, cluster_node_slots()) of which `used` ones are nodes. */
uint32_t cluster_node_slots(void);
const struct cluster_node *cluster_node_at(uint32_t index);
uint32_t cluster_node_count(void);
uint32_t cluster_myself(void);

/* The node of this id (its 40 bytes compared exactly, as Redis's), or CLUSTER_NODE_NONE. */
uint32_t cluster_node_find(const uint8_t *name, size_t name_bytes);

/* Whether `name` is a valid node id (40 bytes; Redis's verifyClusterNodeId checks only the
 * length). */
bool cluster_name_valid(const uint8_t *name, size_t name_bytes);

/* Adds a node (a later bus's handshake, or nodes.conf): CLUSTER_NODE_NONE when the table is
 * full. The name must be new. */
uint32_t cluster_node_add(const char name[CLUSTER_NAME_BYTES], uint32_t flags);

/* What the cluster bus learns of a node: a handshake node's real name (new to the table),
 * its flags, its ping and pong times, whether its link is up. */
void cluster_node_rename(uint32_t index, const char name[CLUSTER_NAME_BYTES]);
void cluster_node_flags_set(uint32_t index, uint32_t flags);
void cluster_node_times_set(uint32_t index, int64_t ping_sent_ms, int64_t pong_received_ms);
void cluster_node_link_set(uint32_t index, bool connected);
/* Another node's announced hostname (`length` bytes, cut to CLUSTER_HOSTNAME_BYTES - 1). */
void cluster_node_hostname_set(uint32_t index, const char *hostname, size_t length);

/* A random node id (Redis's getRandomHexChars): a handshake node's name until its first PONG. */
void cluster_name_random(char name[CLUSTER_NAME_BYTES]);

/* Sets a node's address. */
void cluster_node_address_set(uint32_t index, const char *ip, uint32_t port, uint32_t bus_port);

/* Forgets a node (CLUSTER FORGET): its slots become unassigned, its migrations close, its
 * replicas lose their master. Never myself. */
void cluster_node_remove(uint32_t index);

/* The address clients are sent to for a node, by cluster-preferred-endpoint-type (Redis's
 * getPreferredEndpoint): its ip, its hostname ("?" when none), or "" (unknown-endpoint). */
const char *cluster_endpoint(uint32_t index);

/* The node serving a slot, or CLUSTER_NODE_NONE. */
uint32_t cluster_slot_owner(uint32_t slot);

/* Gives a slot to a node (it must be unassigned) / takes it from its node. */
void cluster_slot_assign(uint32_t slot, uint32_t node_index);
void cluster_slot_unassign(uint32_t slot);

/* The node a slot migrates to / is imported from (CLUSTER SETSLOT), CLUSTER_NODE_NONE. */
uint32_t cluster_slot_migrating(uint32_t slot);
uint32_t cluster_slot_importing(uint32_t slot);
void cluster_slot_migrating_set(uint32_t slot, uint32_t node_index);
void cluster_slot_importing_set(uint32_t slot, uint32_t node_index);

/* The epochs. */
uint64_t cluster_current_epoch(void);
uint64_t cluster_last_vote_epoch(void);
void cluster_current_epoch_set(uint64_t epoch);
void cluster_config_epoch_set(uint32_t index, uint64_t epoch);
/* The largest of every node's config epoch and the current epoch (clusterGetMaxEpoch). */
uint64_t cluster_max_epoch(void);
/* Redis's clusterBumpConfigEpochWithoutConsensus: true when myself got a new epoch. */
bool cluster_bump_epoch(void);

/* CLUSTER RESET: forgets every other node, unassigns every slot, closes the migrations;
 * hard: epochs to 0 and a new node id. */
void cluster_reset(bool hard);

/*
 * The cluster's state, as Redis's clusterUpdateState judges it at `now_ms` (every slot
 * served by a node not failed, when cluster-require-full-coverage; a majority of the
 * masters serving slots reachable; 2 s after startup before a master turns ok, and a
 * rejoin delay after a minority). Call cluster_state_update before and after each change,
 * so the delays start where Redis's would.
 */
void cluster_state_update(int64_t now_ms);
bool cluster_state_ok(int64_t now_ms);
/* Masters serving at least one slot (cluster_size in CLUSTER INFO). */
uint32_t cluster_size(void);

/* Writes nodes.conf (every change does); 0, or a negative errno. */
int cluster_save(void);

/* The nodes' description, CLUSTER NODES' text and nodes.conf's lines, given to `add` in
 * pieces (a counting pass can size a reply first). */
typedef void cluster_text_fn(void *context, const char *bytes, size_t length);
void cluster_describe(cluster_text_fn *add, void *context);
/* One node's line, without its "\n" (CLUSTER REPLICAS). */
void cluster_describe_node(uint32_t index, cluster_text_fn *add, void *context);

/*
 * Startup, after the data are loaded (Redis's verifyClusterConfigWithData): a slot holding
 * keys that is neither myself's nor being imported is taken (unassigned) or marked as
 * imported from its owner, and nodes.conf written. `keys_in_slot` counts a slot's keys.
 * False when nodes.conf cannot be written (logged).
 */
bool cluster_claim_slots(uint64_t (*keys_in_slot)(void *context, uint32_t slot), void *context);

/* Checks every invariant: slot counts match the map, links point at used nodes. */
void cluster_verify(void);

#endif
