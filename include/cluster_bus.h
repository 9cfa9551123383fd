/*
 * The cluster bus between kv instances: Redis 7.0's messages (clusterMsg, "RCmb", version 1,
 * big-endian fields, byte for byte) over a bounded table of links, and what they do to the
 * cluster's state (cluster.h): MEET, PING and PONG with their gossip sections, the handshake
 * that renames a node on its first PONG, the slots each header claims (Redis's
 * clusterUpdateSlotsConfigWith), the epochs' max-merge and config-epoch collisions, PFAIL
 * after cluster-node-timeout, FAIL from a majority of the masters' failure reports.
 *
 * No I/O here: the loop owns the sockets (accept, connect, receive, send, close through its
 * io_uring) and hands this module bytes; this module says, link by link, what the loop
 * should do (connect, receive into `in`, send `out`, close). Each link has two fixed buffers
 * carved from the region at init (the `cluster bus` pool of kv --plan: 0 bytes when cluster
 * mode is off). A message longer than a link's input buffer, or bytes that are not a
 * message, close that link alone; a node's outbound link is made again on a later cron turn.
 */
#ifndef KV_CLUSTER_BUS_H
#define KV_CLUSTER_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "region.h"

/* Links at most: an outbound and an inbound one per node of the table. */
#define CLUSTER_BUS_LINKS_MAX (2u * CLUSTER_NODES_MAX)

/* A link's input buffer: the longest message kv takes. A PING of Redis 7.0 carries
 * max(3, nodes / 10) gossip entries of 104 bytes plus the PFAIL nodes', after a 2,256-byte
 * header, and its extensions (a hostname of at most 255 bytes): 256 nodes give at most
 * 2,256 + 256 * 104 + 264 = 29,144 bytes, under 32 KiB. */
#define CLUSTER_BUS_IN_BYTES 32768u

/* A link's output buffer: messages wait in it for the loop's send. kv's own messages are at
 * most a header and CLUSTER_BUS_GOSSIP_MAX entries (3,296 bytes); one that finds no room is
 * dropped and counted (the next cron turn pings again), as a bus that lost a packet. */
#define CLUSTER_BUS_OUT_BYTES 16384u

/* No link. */
#define CLUSTER_BUS_LINK_NONE UINT32_MAX

enum cluster_bus_link_state {
    CLUSTER_BUS_LINK_FREE = 0,
    CLUSTER_BUS_LINK_CONNECTING, /* outbound: the loop connects (connect_in_flight) */
    CLUSTER_BUS_LINK_OPEN,       /* bytes flow both ways */
    CLUSTER_BUS_LINK_CLOSING,    /* the loop ends what is in flight, then closes the socket */
};

/* One link. The loop reads `state`, `fd`, the buffers and the address, and keeps the
 * *_in_flight flags; the rest is this module's. */
struct cluster_bus_link {
    enum cluster_bus_link_state state;
    bool inbound;                 /* accepted (CLUSTER LINKS' "from"), else made by kv ("to") */
    bool connect_in_flight;       /* the loop's: IORING_OP_CONNECT submitted */
    bool recv_in_flight;          /* the loop's: a receive into in + in_length */
    bool shutdown_in_flight;      /* the loop's: closing, the shutdown that ends a receive */
    bool cancel_in_flight;        /* the loop's: closing, the cancel of a connect */
    bool close_in_flight;         /* the loop's: the close of fd */
    bool shutdown_done;           /* the loop's: the shutdown or cancel was issued */
    int fd;                       /* the socket (a plain fd), -1 before the loop made it */
    uint32_t generation;          /* bumped when the link is freed: stale completions */
    uint32_t node_index;          /* the node it talks to, CLUSTER_NODE_NONE: not yet known */
    char node_name[CLUSTER_NAME_BYTES]; /* that node's name when linked (reuse of the entry) */
    char ip[CLUSTER_IP_BYTES];    /* outbound: the address to connect to; inbound: the peer */
    uint32_t port;                /* outbound: the bus port to connect to */
    int64_t create_ms;            /* Unix ms it was made (CLUSTER LINKS' create-time) */
    uint8_t *in;                  /* CLUSTER_BUS_IN_BYTES, from the region */
    uint32_t in_length;           /* bytes received, not yet a whole message */
    uint8_t *out;                 /* CLUSTER_BUS_OUT_BYTES, from the region */
    uint32_t out_length;          /* bytes queued */
    uint32_t out_in_flight;       /* the loop's: bytes of out being sent (a prefix) */
};

/* The bytes the bus carves (kv --plan's cluster_bus pool): 0 unless cluster-enabled yes. */
uint64_t cluster_bus_plan_bytes(void);

/* Carves the links' buffers (cluster-enabled yes at startup), before the region is sealed. */
void cluster_bus_init(struct region *region);

/* Whether the bus runs (cluster mode). */
bool cluster_bus_on(void);

/* The port the bus listens on: cluster-port, or the client port + 10,000. */
uint32_t cluster_bus_listen_port(uint32_t client_port);

/* The links' table: [0, CLUSTER_BUS_LINKS_MAX). */
struct cluster_bus_link *cluster_bus_link_at(uint32_t index);

/* Whether some link wants the loop's attention (a connect, a send, a receive, a close) since
 * the last cluster_bus_pending_clear. */
bool cluster_bus_pending(void);
void cluster_bus_pending_clear(void);

/* The loop accepted `fd` from `peer_ip`, on the local address `local_ip`: the link's index,
 * or CLUSTER_BUS_LINK_NONE when the table is full (the loop closes fd). */
uint32_t cluster_bus_inbound_open(int fd, const char *peer_ip, const char *local_ip,
                                  int64_t now_ms);

/* The loop's completions for a link: its connect (0 or a negative errno; the local address
 * it got), received bytes (in + in_length, `bytes` > 0), the end of its receives (the peer
 * closed or an error), a send (bytes sent, or a negative errno), its close. */
void cluster_bus_connected(uint32_t index, int result, const char *local_ip, int64_t now_ms);
void cluster_bus_received(uint32_t index, uint32_t bytes, int64_t now_ms);
void cluster_bus_recv_ended(uint32_t index);
void cluster_bus_sent(uint32_t index, int result);
void cluster_bus_closed(uint32_t index);

/* Timed work (Redis's clusterCron), at most once per CLUSTER_BUS_CRON_MS: links made to the
 * nodes without one, a ping to a node, handshakes and links that timed out, PFAIL. */
#define CLUSTER_BUS_CRON_MS 100
void cluster_bus_cron(int64_t now_ms);

/* CLUSTER MEET: a handshake node at ip:port@bus_port (a valid address). False when one to
 * that address is already in progress or the table is full (Redis answers OK all the same). */
bool cluster_bus_meet(const char *ip, uint32_t port, uint32_t bus_port, int64_t now_ms);

/* The valid failure reports about a node (CLUSTER COUNT-FAILURE-REPORTS). */
uint32_t cluster_bus_failure_reports(uint32_t node_index, int64_t now_ms);

/* Messages sent and received by type (Redis's CLUSTERMSG_TYPE_*, CLUSTER INFO's
 * cluster_stats_messages_*), and the type's name. */
#define CLUSTER_BUS_TYPE_COUNT 11u
uint64_t cluster_bus_stats_sent(uint32_t type);
uint64_t cluster_bus_stats_received(uint32_t type);
const char *cluster_bus_type_name(uint32_t type);

/* Checks every link's invariants. */
void cluster_bus_verify(void);

#endif
