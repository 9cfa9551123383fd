/*
 * The cluster bus (cluster_bus.h): Redis 7.0's clusterMsg read and written byte for byte at
 * fixed offsets (no struct is overlaid on the bytes: big-endian fields through be16/be32/
 * be64), and the part of Redis's clusterProcessPacket and clusterCron that membership and
 * the slot map need.
 *
 * Bounds: CLUSTER_BUS_LINKS_MAX links; a receive is parsed in whole messages of at least a
 * header (2,256 bytes), so one receive of CLUSTER_BUS_IN_BYTES holds at most 14; a message's
 * gossip section is walked up to its count (bounded by its length); a cron turn walks the
 * node table and the links once. The per-node state here (the outbound link, the MEET to
 * send, the handshake's start) is keyed by the node's index and checked against its name,
 * so an entry cluster.c reused for another node starts afresh.
 */
#include "cluster_bus.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keyslot.h"
#include "kv_assert.h"
#include "log.h"
#include "redis_param.h"

/* Redis 7.0's clusterMsg: the header's field offsets (cluster.h's static asserts). */
#define BUS_SIGNATURE "RCmb"
#define BUS_VERSION 1u
#define BUS_OFF_TOTLEN 4u
#define BUS_OFF_VER 8u
#define BUS_OFF_PORT 10u
#define BUS_OFF_TYPE 12u
#define BUS_OFF_COUNT 14u
#define BUS_OFF_CURRENT_EPOCH 16u
#define BUS_OFF_CONFIG_EPOCH 24u
#define BUS_OFF_OFFSET 32u
#define BUS_OFF_SENDER 40u
#define BUS_OFF_MYSLOTS 80u
#define BUS_OFF_SLAVEOF 2128u
#define BUS_OFF_MYIP 2168u
#define BUS_OFF_EXTENSIONS 2214u
#define BUS_OFF_PPORT 2246u
#define BUS_OFF_CPORT 2248u
#define BUS_OFF_FLAGS 2250u
#define BUS_OFF_STATE 2252u
#define BUS_OFF_MFLAGS 2253u
#define BUS_HEADER_BYTES 2256u /* CLUSTERMSG_MIN_LEN: where the data union starts */
static_assert(BUS_OFF_MYSLOTS + KEYSLOT_COUNT / 8 == BUS_OFF_SLAVEOF, "the slots bitmap");
static_assert(BUS_OFF_MYIP + CLUSTER_IP_BYTES == BUS_OFF_EXTENSIONS, "myip's 46 bytes");

/* clusterMsgDataGossip: 104 bytes. */
#define BUS_GOSSIP_BYTES 104u
#define BUS_GOSSIP_OFF_PING_SENT 40u
#define BUS_GOSSIP_OFF_PONG_RECEIVED 44u
#define BUS_GOSSIP_OFF_IP 48u
#define BUS_GOSSIP_OFF_PORT 94u
#define BUS_GOSSIP_OFF_CPORT 96u
#define BUS_GOSSIP_OFF_FLAGS 98u
#define BUS_GOSSIP_OFF_PPORT 100u
static_assert(BUS_GOSSIP_OFF_IP + CLUSTER_IP_BYTES == BUS_GOSSIP_OFF_PORT, "the gossip's ip");

/* UPDATE's data: configEpoch, the owner's name, its slots. FAIL's: a name. */
#define BUS_UPDATE_BYTES (8u + CLUSTER_NAME_BYTES + KEYSLOT_COUNT / 8)
#define BUS_FAIL_BYTES CLUSTER_NAME_BYTES

/* Redis's CLUSTERMSG_TYPE_*. */
enum bus_type {
    BUS_TYPE_PING = 0,
    BUS_TYPE_PONG = 1,
    BUS_TYPE_MEET = 2,
    BUS_TYPE_FAIL = 3,
    BUS_TYPE_UPDATE = 7,
};

/* Redis's CLUSTER_NODE_* flags, as the header and the gossip carry them. */
#define BUS_FLAG_MASTER 1u
#define BUS_FLAG_SLAVE 2u
#define BUS_FLAG_PFAIL 4u
#define BUS_FLAG_FAIL 8u
#define BUS_FLAG_MYSELF 16u
#define BUS_FLAG_HANDSHAKE 32u
#define BUS_FLAG_NOADDR 64u
#define BUS_FLAG_NOFAILOVER 512u

/* Ping extensions (7.0's clusterMsgPingExt): a length (u32, the whole extension, a multiple
 * of 8), a type (u16), 2 unused bytes, the data. The one type: the announced hostname, NUL-
 * terminated and padded to 8 bytes. The header's mflags[0] says extensions follow. */
#define BUS_EXT_HEADER_BYTES 8u
#define BUS_EXT_TYPE_HOSTNAME 0u
#define BUS_MFLAG0_EXT_DATA 4u
#define BUS_EXT_HOSTNAME_BYTES_MAX (BUS_EXT_HEADER_BYTES + CLUSTER_HOSTNAME_BYTES)
static_assert(CLUSTER_HOSTNAME_BYTES % 8 == 0, "a hostname with its NUL pads to its bytes");

/* Gossip entries kv sends at most: Redis's max(3, nodes / 10) for a full table. */
#define BUS_GOSSIP_MAX (CLUSTER_NODES_MAX / 10u + 1u)
#define BUS_MESSAGE_BYTES_MAX \
    (BUS_HEADER_BYTES + BUS_GOSSIP_MAX * BUS_GOSSIP_BYTES + BUS_EXT_HOSTNAME_BYTES_MAX)
static_assert(BUS_MESSAGE_BYTES_MAX <= CLUSTER_BUS_OUT_BYTES, "a message fits the output");
static_assert(BUS_UPDATE_BYTES + BUS_HEADER_BYTES <= CLUSTER_BUS_IN_BYTES, "an UPDATE fits");

/* Random nodes the once-a-second ping picks from (Redis's clusterCron: 5). */
#define BUS_PING_CANDIDATES 5u

/* A handshake lasts at most the node timeout, and at least this (Redis's 1 s). */
#define BUS_HANDSHAKE_TIMEOUT_MIN_MS 1000

/* A failure report is valid this many node timeouts (Redis's
 * CLUSTER_FAIL_REPORT_VALIDITY_MULT); a master's FAIL is undone when it is reachable again
 * this many node timeouts after it (CLUSTER_FAIL_UNDO_TIME_MULT: nobody took its slots). */
#define BUS_FAIL_REPORT_VALIDITY_MULT 2
#define BUS_FAIL_UNDO_TIME_MULT 2

struct bus_node {
    char name[CLUSTER_NAME_BYTES];  /* the node this entry describes (reuse check) */
    uint32_t out_link;              /* its outbound link, or CLUSTER_BUS_LINK_NONE */
    bool meet;                      /* send MEET, not PING, when the link is up (Redis's
                                       CLUSTER_NODE_MEET) */
    int64_t handshake_ms;           /* when its handshake started (handshake nodes) */
    int64_t fail_ms;                /* when it was flagged FAIL (0: not, or from nodes.conf) */
};

struct bus_state {
    bool on;
    bool pending;                   /* a link wants the loop */
    struct cluster_bus_link links[CLUSTER_BUS_LINKS_MAX];
    struct bus_node nodes[CLUSTER_NODES_MAX];
    int64_t cron_last_ms;
    uint64_t cron_turns;
    uint64_t sent[CLUSTER_BUS_TYPE_COUNT];
    uint64_t received[CLUSTER_BUS_TYPE_COUNT];
    uint64_t dropped;               /* messages that found no room in a link's output */
    uint8_t message[BUS_MESSAGE_BYTES_MAX]; /* the message being built */
    /* Failure reports (Redis's node->fail_reports): reports[about][by] is the Unix ms the
     * master `by` last said `about` was PFAIL or FAIL, 0: no report. Static, 512 KiB of
     * zero pages until cluster mode uses them. */
    int64_t reports[CLUSTER_NODES_MAX][CLUSTER_NODES_MAX];
};

static struct bus_state bus;

static const char *const bus_type_names[CLUSTER_BUS_TYPE_COUNT] = {
    "ping", "pong", "meet", "fail", "publish", "auth-req", "auth-ack", "update", "mfstart",
    "module", "publishshard",
};

static uint16_t be16(const uint8_t *bytes)
{
    return (uint16_t)((uint16_t)bytes[0] << 8 | bytes[1]);
}

static uint32_t be32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
           bytes[3];
}

static uint64_t be64(const uint8_t *bytes)
{
    return (uint64_t)be32(bytes) << 32 | be32(bytes + 4);
}

static void put16(uint8_t *bytes, uint32_t value)
{
    KV_ASSERT(value <= UINT16_MAX);
    bytes[0] = (uint8_t)(value >> 8);
    bytes[1] = (uint8_t)value;
}

static void put32(uint8_t *bytes, uint32_t value)
{
    put16(bytes, value >> 16);
    put16(bytes + 2, value & 0xffffu);
}

static void put64(uint8_t *bytes, uint64_t value)
{
    put32(bytes, (uint32_t)(value >> 32));
    put32(bytes + 4, (uint32_t)value);
}

static const char *param_text(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0); /* every name asked is a Redis 7.0 parameter */
    return redis_param_value((uint32_t)row);
}

static int64_t node_timeout_ms(void)
{
    long long timeout = strtoll(param_text("cluster-node-timeout"), NULL, 10);
    return timeout > 0 ? (int64_t)timeout : 1;
}

static uint32_t random_below(uint32_t bound)
{
    KV_ASSERT(bound > 0);
    uint32_t value = 0;
    if (getrandom(&value, sizeof(value), GRND_NONBLOCK) != (ssize_t)sizeof(value)) {
        value = (uint32_t)rand();
    }
    return value % bound;
}

uint64_t cluster_bus_plan_bytes(void)
{
    if (strcmp(param_text("cluster-enabled"), "yes") != 0) {
        return 0;
    }
    /* Each link's input and output buffers, 64-byte aligned. */
    return (uint64_t)CLUSTER_BUS_LINKS_MAX * (CLUSTER_BUS_IN_BYTES + CLUSTER_BUS_OUT_BYTES) + 128u;
}

void cluster_bus_init(struct region *region)
{
    memset(&bus, 0, sizeof(bus));
    if (cluster_bus_plan_bytes() == 0) {
        return;
    }
    uint8_t *in = region_carve(region, (uint64_t)CLUSTER_BUS_LINKS_MAX * CLUSTER_BUS_IN_BYTES, 64);
    uint8_t *out =
        region_carve(region, (uint64_t)CLUSTER_BUS_LINKS_MAX * CLUSTER_BUS_OUT_BYTES, 64);
    /* Bounded by the links. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        struct cluster_bus_link *link = &bus.links[index];
        link->fd = -1;
        link->node_index = CLUSTER_NODE_NONE;
        link->in = in + (uint64_t)index * CLUSTER_BUS_IN_BYTES;
        link->out = out + (uint64_t)index * CLUSTER_BUS_OUT_BYTES;
    }
    /* Bounded by the node table. */
    for (uint32_t index = 0; index < CLUSTER_NODES_MAX; index++) {
        bus.nodes[index].out_link = CLUSTER_BUS_LINK_NONE;
    }
    bus.on = true;
}

bool cluster_bus_on(void)
{
    return bus.on;
}

uint32_t cluster_bus_listen_port(uint32_t client_port)
{
    long long port = strtoll(param_text("cluster-port"), NULL, 10);
    uint32_t listen = port != 0 ? (uint32_t)port : client_port + 10000u;
    KV_ASSERT(listen > 0);
    return listen;
}

struct cluster_bus_link *cluster_bus_link_at(uint32_t index)
{
    KV_ASSERT(bus.on);
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    return &bus.links[index];
}

bool cluster_bus_pending(void)
{
    return bus.pending;
}

void cluster_bus_pending_clear(void)
{
    bus.pending = false;
}

uint64_t cluster_bus_stats_sent(uint32_t type)
{
    KV_ASSERT(type < CLUSTER_BUS_TYPE_COUNT);
    return bus.sent[type];
}

uint64_t cluster_bus_stats_received(uint32_t type)
{
    KV_ASSERT(type < CLUSTER_BUS_TYPE_COUNT);
    return bus.received[type];
}

const char *cluster_bus_type_name(uint32_t type)
{
    KV_ASSERT(type < CLUSTER_BUS_TYPE_COUNT);
    return bus_type_names[type];
}

/* ---- nodes ---- */

/* The bus's state for a used node, fresh when its entry now holds another node. */
static struct bus_node *bus_node(uint32_t node_index)
{
    KV_ASSERT(node_index < cluster_node_slots());
    const struct cluster_node *node = cluster_node_at(node_index);
    KV_ASSERT(node->used);
    struct bus_node *state = &bus.nodes[node_index];
    if (memcmp(state->name, node->name, CLUSTER_NAME_BYTES) != 0) {
        memcpy(state->name, node->name, CLUSTER_NAME_BYTES);
        state->out_link = CLUSTER_BUS_LINK_NONE;
        state->meet = false;
        state->handshake_ms = 0;
        state->fail_ms = 0;
        /* Bounded by the table: no report about it, nor by it, from the entry's last node. */
        for (uint32_t other = 0; other < CLUSTER_NODES_MAX; other++) {
            bus.reports[node_index][other] = 0;
            bus.reports[other][node_index] = 0;
        }
    }
    return state;
}

/* Whether a link's node is still the node it was linked to. */
static bool link_node_valid(const struct cluster_bus_link *link)
{
    if (link->node_index == CLUSTER_NODE_NONE || link->node_index >= cluster_node_slots()) {
        return false;
    }
    const struct cluster_node *node = cluster_node_at(link->node_index);
    return node->used && memcmp(node->name, link->node_name, CLUSTER_NAME_BYTES) == 0;
}

static void save(void)
{
    int error = cluster_save();
    if (error != 0) {
        log_warn("cluster bus: writing nodes.conf failed: %s", strerror(-error));
    }
}

static uint32_t flags_from_bus(uint32_t bus_flags, uint32_t flags)
{
    flags &= ~(uint32_t)(CLUSTER_FLAG_MASTER | CLUSTER_FLAG_SLAVE | CLUSTER_FLAG_NOFAILOVER);
    flags |= (bus_flags & BUS_FLAG_SLAVE) ? CLUSTER_FLAG_SLAVE : CLUSTER_FLAG_MASTER;
    flags |= (bus_flags & BUS_FLAG_NOFAILOVER) ? CLUSTER_FLAG_NOFAILOVER : 0;
    return flags;
}

static uint32_t flags_to_bus(uint32_t flags)
{
    uint32_t bus_flags = 0;
    bus_flags |= (flags & CLUSTER_FLAG_MYSELF) ? BUS_FLAG_MYSELF : 0;
    bus_flags |= (flags & CLUSTER_FLAG_MASTER) ? BUS_FLAG_MASTER : 0;
    bus_flags |= (flags & CLUSTER_FLAG_SLAVE) ? BUS_FLAG_SLAVE : 0;
    bus_flags |= (flags & CLUSTER_FLAG_PFAIL) ? BUS_FLAG_PFAIL : 0;
    bus_flags |= (flags & CLUSTER_FLAG_FAIL) ? BUS_FLAG_FAIL : 0;
    bus_flags |= (flags & CLUSTER_FLAG_HANDSHAKE) ? BUS_FLAG_HANDSHAKE : 0;
    bus_flags |= (flags & CLUSTER_FLAG_NOADDR) ? BUS_FLAG_NOADDR : 0;
    bus_flags |= (flags & CLUSTER_FLAG_NOFAILOVER) ? BUS_FLAG_NOFAILOVER : 0;
    return bus_flags;
}

/* ---- links ---- */

static uint32_t link_acquire(bool inbound, int64_t now_ms)
{
    /* Bounded by the links. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        struct cluster_bus_link *link = &bus.links[index];
        if (link->state == CLUSTER_BUS_LINK_FREE) {
            KV_ASSERT(link->fd == -1);
            link->inbound = inbound;
            link->node_index = CLUSTER_NODE_NONE;
            link->create_ms = now_ms;
            link->in_length = 0;
            link->out_length = 0;
            return index;
        }
    }
    return CLUSTER_BUS_LINK_NONE;
}

/* Starts a link's close: the loop ends what is in flight, closes, calls cluster_bus_closed. */
static void link_close(uint32_t index)
{
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(link->state != CLUSTER_BUS_LINK_FREE);
    if (link->state == CLUSTER_BUS_LINK_CLOSING) {
        return;
    }
    if (!link->inbound && link_node_valid(link)) {
        struct bus_node *state = bus_node(link->node_index);
        if (state->out_link == index) {
            state->out_link = CLUSTER_BUS_LINK_NONE;
            cluster_node_link_set(link->node_index, false);
        }
    }
    link->state = CLUSTER_BUS_LINK_CLOSING;
    bus.pending = true;
}

void cluster_bus_closed(uint32_t index)
{
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_CLOSING);
    KV_ASSERT(!link->recv_in_flight && !link->connect_in_flight && link->out_in_flight == 0);
    uint32_t generation = link->generation + 1;
    uint8_t *in = link->in;
    uint8_t *out = link->out;
    memset(link, 0, sizeof(*link));
    link->generation = generation;
    link->fd = -1;
    link->node_index = CLUSTER_NODE_NONE;
    link->in = in;
    link->out = out;
}

/* Queues a message on a link; dropped (counted) when its output has no room. */
static void link_queue(uint32_t index, const uint8_t *message, uint32_t length)
{
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_OPEN);
    KV_ASSERT(length >= BUS_HEADER_BYTES && length <= BUS_MESSAGE_BYTES_MAX);
    uint32_t type = be16(message + BUS_OFF_TYPE);
    if (CLUSTER_BUS_OUT_BYTES - link->out_length < length) {
        bus.dropped++;
        return;
    }
    memcpy(link->out + link->out_length, message, length);
    link->out_length += length;
    bus.sent[type < CLUSTER_BUS_TYPE_COUNT ? type : 0]++;
    bus.pending = true;
}

/* ---- messages ---- */

/* The header every message starts with (Redis's clusterBuildMessageHdr). */
static void header_build(uint8_t *message, uint32_t type, int64_t now_ms)
{
    uint32_t myself_index = cluster_myself();
    const struct cluster_node *myself = cluster_node_at(myself_index);
    memset(message, 0, BUS_HEADER_BYTES);
    memcpy(message, BUS_SIGNATURE, 4);
    put16(message + BUS_OFF_VER, BUS_VERSION);
    put16(message + BUS_OFF_PORT, myself->port);
    put16(message + BUS_OFF_TYPE, type);
    put64(message + BUS_OFF_CURRENT_EPOCH, cluster_current_epoch());
    put64(message + BUS_OFF_CONFIG_EPOCH, myself->config_epoch);
    put64(message + BUS_OFF_OFFSET, 0);
    memcpy(message + BUS_OFF_SENDER, myself->name, CLUSTER_NAME_BYTES);
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        if (cluster_slot_owner(slot) == myself_index) {
            message[BUS_OFF_MYSLOTS + slot / 8] |= (uint8_t)(1u << (slot & 7u));
        }
    }
    /* slaveof: zeros (kv is a master); myip: cluster-announce-ip, else zeros. */
    const char *announce_ip = param_text("cluster-announce-ip");
    size_t ip_bytes = strlen(announce_ip);
    if (ip_bytes < CLUSTER_IP_BYTES) {
        memcpy(message + BUS_OFF_MYIP, announce_ip, ip_bytes);
    }
    put16(message + BUS_OFF_PPORT, 0);
    put16(message + BUS_OFF_CPORT, myself->bus_port);
    put16(message + BUS_OFF_FLAGS, flags_to_bus(myself->flags));
    message[BUS_OFF_STATE] = cluster_state_ok(now_ms) ? 0 : 1;
}

/* Whether a node goes into a gossip section (Redis's clusterSendPing: no handshake, no
 * address, no link and no slots, not PFAIL here, not myself). */
static bool gossip_wanted(uint32_t index)
{
    const struct cluster_node *node = cluster_node_at(index);
    if (!node->used || index == cluster_myself()) {
        return false;
    }
    if (node->flags & (CLUSTER_FLAG_HANDSHAKE | CLUSTER_FLAG_NOADDR)) {
        return false;
    }
    return node->link_connected || node->slot_count > 0;
}

static void gossip_add(uint8_t *entry, uint32_t index)
{
    const struct cluster_node *node = cluster_node_at(index);
    memset(entry, 0, BUS_GOSSIP_BYTES);
    memcpy(entry, node->name, CLUSTER_NAME_BYTES);
    put32(entry + BUS_GOSSIP_OFF_PING_SENT, (uint32_t)(node->ping_sent_ms / 1000));
    put32(entry + BUS_GOSSIP_OFF_PONG_RECEIVED, (uint32_t)(node->pong_received_ms / 1000));
    size_t ip_bytes = strnlen(node->ip, CLUSTER_IP_BYTES - 1);
    memcpy(entry + BUS_GOSSIP_OFF_IP, node->ip, ip_bytes);
    put16(entry + BUS_GOSSIP_OFF_PORT, node->port);
    put16(entry + BUS_GOSSIP_OFF_CPORT, node->bus_port);
    put16(entry + BUS_GOSSIP_OFF_FLAGS, flags_to_bus(node->flags));
    put16(entry + BUS_GOSSIP_OFF_PPORT, 0);
}

/* PING, PONG or MEET on a link, with gossip about up to max(3, nodes / 10) other nodes
 * (Redis's clusterSendPing, from a random place in the table). */
static void ping_send(uint32_t link_index, uint32_t type, int64_t now_ms)
{
    struct cluster_bus_link *link = &bus.links[link_index];
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_OPEN);
    KV_ASSERT(type == BUS_TYPE_PING || type == BUS_TYPE_PONG || type == BUS_TYPE_MEET);
    uint8_t *message = bus.message;
    header_build(message, type, now_ms);
    uint32_t known = cluster_node_count();
    uint32_t wanted = known / 10u > 3u ? known / 10u : 3u;
    uint32_t fresh = known > 2 ? known - 2 : 0;
    wanted = wanted < fresh ? wanted : fresh;
    wanted = wanted < BUS_GOSSIP_MAX ? wanted : BUS_GOSSIP_MAX;
    uint32_t slots = cluster_node_slots();
    uint32_t start = random_below(slots);
    uint32_t count = 0;
    /* Bounded by the table: each entry looked at once. The PFAIL nodes first (Redis adds
     * every one of them, so that failure reports spread), up to BUS_GOSSIP_MAX. */
    for (uint32_t index = 0; index < slots && count < BUS_GOSSIP_MAX; index++) {
        if (gossip_wanted(index) && (cluster_node_at(index)->flags & CLUSTER_FLAG_PFAIL)) {
            gossip_add(message + BUS_HEADER_BYTES + count * BUS_GOSSIP_BYTES, index);
            count++;
        }
    }
    wanted += count;
    wanted = wanted < BUS_GOSSIP_MAX ? wanted : BUS_GOSSIP_MAX;
    /* Bounded by the table: each entry looked at once. */
    for (uint32_t step = 0; step < slots && count < wanted; step++) {
        uint32_t index = (start + step) % slots;
        if (gossip_wanted(index) && !(cluster_node_at(index)->flags & CLUSTER_FLAG_PFAIL) &&
            !(link_node_valid(link) && !link->inbound && index == link->node_index)) {
            gossip_add(message + BUS_HEADER_BYTES + count * BUS_GOSSIP_BYTES, index);
            count++;
        }
    }
    uint32_t length = BUS_HEADER_BYTES + count * BUS_GOSSIP_BYTES;
    /* The hostname extension when one is announced (Redis's writeHostnamePingExt). */
    const char *hostname = cluster_node_at(cluster_myself())->hostname;
    size_t hostname_bytes = strnlen(hostname, CLUSTER_HOSTNAME_BYTES - 1);
    if (hostname_bytes > 0) {
        uint32_t ext_bytes = BUS_EXT_HEADER_BYTES + ((uint32_t)hostname_bytes + 1u + 7u) / 8u * 8u;
        KV_ASSERT(ext_bytes <= BUS_EXT_HOSTNAME_BYTES_MAX);
        uint8_t *ext = message + length;
        memset(ext, 0, ext_bytes);
        put32(ext, ext_bytes);
        put16(ext + 4, BUS_EXT_TYPE_HOSTNAME);
        memcpy(ext + BUS_EXT_HEADER_BYTES, hostname, hostname_bytes);
        length += ext_bytes;
        put16(message + BUS_OFF_EXTENSIONS, 1);
        message[BUS_OFF_MFLAGS] |= BUS_MFLAG0_EXT_DATA;
    }
    put16(message + BUS_OFF_COUNT, count);
    put32(message + BUS_OFF_TOTLEN, length);
    link_queue(link_index, message, length);
    if (type == BUS_TYPE_PING && !link->inbound && link_node_valid(link)) {
        const struct cluster_node *node = cluster_node_at(link->node_index);
        if (node->ping_sent_ms == 0) {
            cluster_node_times_set(link->node_index, now_ms, node->pong_received_ms);
        }
    }
}

/* A handshake node at ip:port@bus_port (Redis's clusterStartHandshake): a random name, the
 * handshake flag, a MEET once its link is up. False when one to that address runs. */
static bool handshake_start(const char *ip, uint32_t port, uint32_t bus_port, int64_t now_ms)
{
    if (port == 0 || port > UINT16_MAX || bus_port == 0 || bus_port > UINT16_MAX) {
        return false;
    }
    /* Bounded by the table: a handshake to this address in progress (Redis's
     * clusterHandshakeInProgress). */
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        const struct cluster_node *node = cluster_node_at(index);
        if (node->used && (node->flags & CLUSTER_FLAG_HANDSHAKE) && node->port == port &&
            node->bus_port == bus_port && strcmp(node->ip, ip) == 0) {
            return false;
        }
    }
    char name[CLUSTER_NAME_BYTES];
    cluster_name_random(name);
    uint32_t index = cluster_node_add(name, CLUSTER_FLAG_HANDSHAKE | CLUSTER_FLAG_MASTER);
    if (index == CLUSTER_NODE_NONE) {
        log_warn("cluster bus: the node table is full; no handshake with %s:%u", ip, port);
        return false;
    }
    cluster_node_address_set(index, ip, port, bus_port);
    struct bus_node *state = bus_node(index);
    state->meet = true;
    state->handshake_ms = now_ms;
    return true;
}

bool cluster_bus_meet(const char *ip, uint32_t port, uint32_t bus_port, int64_t now_ms)
{
    KV_ASSERT(bus.on);
    /* Redis normalizes the address's text (memtoaddr and back). */
    char text[CLUSTER_IP_BYTES];
    uint8_t address[16];
    if (inet_pton(AF_INET, ip, address) == 1) {
        KV_ASSERT(inet_ntop(AF_INET, address, text, sizeof(text)) != NULL);
    } else if (inet_pton(AF_INET6, ip, address) == 1) {
        KV_ASSERT(inet_ntop(AF_INET6, address, text, sizeof(text)) != NULL);
    } else {
        return false;
    }
    return handshake_start(text, port, bus_port, now_ms);
}

/* Redis's clusterUpdateSlotsConfigWith: each slot the sender claims moves to it when it is
 * unassigned or its owner's config epoch is lower (an importing slot stays). */
static void slots_update(uint32_t sender, uint64_t sender_epoch, const uint8_t *bitmap)
{
    bool changed = false;
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        if (!(bitmap[slot / 8] & (1u << (slot & 7u)))) {
            continue;
        }
        uint32_t owner = cluster_slot_owner(slot);
        if (owner == sender || cluster_slot_importing(slot) != CLUSTER_NODE_NONE) {
            continue;
        }
        if (owner == CLUSTER_NODE_NONE || cluster_node_at(owner)->config_epoch < sender_epoch) {
            if (owner == cluster_myself()) {
                log_warn("cluster bus: slot %u goes to %.40s (config epoch %" PRIu64 ")", slot,
                         cluster_node_at(sender)->name, sender_epoch);
            }
            cluster_slot_unassign(slot);
            cluster_slot_assign(slot, sender);
            changed = true;
        }
    }
    if (changed) {
        save();
    }
}

/* Whether the sender's claimed slots differ from what the map gives it. */
static bool slots_differ(uint32_t sender, const uint8_t *bitmap)
{
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        bool claimed = (bitmap[slot / 8] & (1u << (slot & 7u))) != 0;
        if (claimed != (cluster_slot_owner(slot) == sender)) {
            return true;
        }
    }
    return false;
}

/* Redis's clusterHandleConfigEpochCollision: two masters with one config epoch; the node
 * whose name is the larger of the two takes a new epoch. */
static void epoch_collision(uint32_t sender, uint64_t sender_epoch)
{
    uint32_t myself_index = cluster_myself();
    const struct cluster_node *myself = cluster_node_at(myself_index);
    const struct cluster_node *node = cluster_node_at(sender);
    if (sender_epoch != myself->config_epoch || !(node->flags & CLUSTER_FLAG_MASTER) ||
        !(myself->flags & CLUSTER_FLAG_MASTER)) {
        return;
    }
    if (memcmp(node->name, myself->name, CLUSTER_NAME_BYTES) <= 0) {
        return; /* the smaller node id wins */
    }
    cluster_current_epoch_set(cluster_current_epoch() + 1);
    cluster_config_epoch_set(myself_index, cluster_current_epoch());
    save();
    log_warn("WARNING: configEpoch collision with node %.40s. configEpoch set to %" PRIu64,
             node->name, cluster_current_epoch());
}

/* The valid failure reports about a node; expired ones are dropped (Redis's
 * clusterNodeCleanupFailureReports). */
static uint32_t reports_count(uint32_t about, int64_t now_ms)
{
    int64_t validity = node_timeout_ms() * BUS_FAIL_REPORT_VALIDITY_MULT;
    uint32_t count = 0;
    /* Bounded by the table. */
    for (uint32_t by = 0; by < cluster_node_slots(); by++) {
        int64_t reported = bus.reports[about][by];
        if (reported != 0 && (now_ms - reported > validity || !cluster_node_at(by)->used)) {
            bus.reports[about][by] = 0;
        }
        count += bus.reports[about][by] != 0 ? 1 : 0;
    }
    return count;
}

uint32_t cluster_bus_failure_reports(uint32_t node_index, int64_t now_ms)
{
    KV_ASSERT(node_index < CLUSTER_NODES_MAX);
    return bus.on ? reports_count(node_index, now_ms) : 0;
}

/* FAIL about a node to every node with an open outbound link (Redis's clusterSendFail
 * broadcasts it). */
static void fail_broadcast(uint32_t failing, int64_t now_ms)
{
    uint8_t *message = bus.message;
    header_build(message, BUS_TYPE_FAIL, now_ms);
    memcpy(message + BUS_HEADER_BYTES, cluster_node_at(failing)->name, CLUSTER_NAME_BYTES);
    put32(message + BUS_OFF_TOTLEN, BUS_HEADER_BYTES + BUS_FAIL_BYTES);
    /* Bounded by the links. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        struct cluster_bus_link *link = &bus.links[index];
        if (link->state == CLUSTER_BUS_LINK_OPEN && !link->inbound && link_node_valid(link) &&
            !(cluster_node_at(link->node_index)->flags & CLUSTER_FLAG_HANDSHAKE)) {
            link_queue(index, message, BUS_HEADER_BYTES + BUS_FAIL_BYTES);
        }
    }
}

static void fail_set(uint32_t failing, int64_t now_ms)
{
    uint32_t flags = cluster_node_at(failing)->flags;
    cluster_node_flags_set(failing, (flags | CLUSTER_FLAG_FAIL) & ~(uint32_t)CLUSTER_FLAG_PFAIL);
    bus_node(failing)->fail_ms = now_ms;
    save();
}

/* Redis's markNodeAsFailingIfNeeded: a PFAIL node that a majority of the masters (myself
 * among them) reports failing is FAIL, and everybody is told. */
static void fail_mark_if_needed(uint32_t node_index, int64_t now_ms)
{
    uint32_t flags = cluster_node_at(node_index)->flags;
    if (!(flags & CLUSTER_FLAG_PFAIL) || (flags & CLUSTER_FLAG_FAIL)) {
        return;
    }
    uint32_t needed = cluster_size() / 2 + 1;
    uint32_t failures = reports_count(node_index, now_ms);
    failures += (cluster_node_at(cluster_myself())->flags & CLUSTER_FLAG_MASTER) ? 1 : 0;
    if (failures < needed) {
        return;
    }
    log_info("Marking node %.40s as failing (quorum reached).", cluster_node_at(node_index)->name);
    fail_set(node_index, now_ms);
    fail_broadcast(node_index, now_ms);
}

/* Redis's clearNodeFailureIfNeeded, when a FAIL node answers again: a master without slots
 * at once, one with slots once the FAIL is old enough (nobody took its slots: kv has no
 * failover). */
static void fail_clear_if_needed(uint32_t node_index, int64_t now_ms)
{
    const struct cluster_node *node = cluster_node_at(node_index);
    KV_ASSERT(node->flags & CLUSTER_FLAG_FAIL);
    int64_t undo_ms = node_timeout_ms() * BUS_FAIL_UNDO_TIME_MULT;
    if (node->slot_count == 0 || (node->flags & CLUSTER_FLAG_SLAVE) ||
        now_ms - bus_node(node_index)->fail_ms > undo_ms) {
        log_info("Clear FAIL state for node %.40s: is reachable again.", node->name);
        cluster_node_flags_set(node_index, node->flags & ~(uint32_t)CLUSTER_FLAG_FAIL);
        save();
    }
}

/* Redis's clusterProcessGossipSection, for what kv keeps: a known node's failure report by
 * a master sender is added or dropped; a node the sender knows and this node does not
 * starts a handshake. */
static void gossip_process(uint32_t sender, const uint8_t *message, uint32_t count,
                           int64_t now_ms)
{
    /* Bounded by the count (checked against the message's length). */
    for (uint32_t entry_index = 0; entry_index < count; entry_index++) {
        const uint8_t *entry = message + BUS_HEADER_BYTES + entry_index * BUS_GOSSIP_BYTES;
        uint32_t flags = be16(entry + BUS_GOSSIP_OFF_FLAGS);
        uint32_t node = cluster_node_find(entry, CLUSTER_NAME_BYTES);
        if (node != CLUSTER_NODE_NONE) {
            bool master = (cluster_node_at(sender)->flags & CLUSTER_FLAG_MASTER) != 0;
            if (master && node != cluster_myself() && node != sender) {
                bool failing = (flags & (BUS_FLAG_PFAIL | BUS_FLAG_FAIL)) != 0;
                bus_node(node); /* the reports' row belongs to this node */
                bus.reports[node][sender] = failing ? now_ms : 0;
                if (failing) {
                    fail_mark_if_needed(node, now_ms);
                }
            }
            continue;
        }
        if (flags & (BUS_FLAG_NOADDR | BUS_FLAG_HANDSHAKE)) {
            continue;
        }
        char ip[CLUSTER_IP_BYTES];
        memcpy(ip, entry + BUS_GOSSIP_OFF_IP, CLUSTER_IP_BYTES);
        ip[CLUSTER_IP_BYTES - 1] = '\0';
        uint8_t address[16];
        if (inet_pton(AF_INET, ip, address) != 1 && inet_pton(AF_INET6, ip, address) != 1) {
            continue;
        }
        (void)handshake_start(ip, be16(entry + BUS_GOSSIP_OFF_PORT),
                              be16(entry + BUS_GOSSIP_OFF_CPORT), now_ms);
    }
}

/* The ping extensions after the gossip (Redis's clusterProcessPingExtensions): the sender's
 * hostname, or none when it sends no hostname extension. Extensions that do not fit the
 * message, or are not 8-byte multiples, end the walk (Redis drops such a message). */
static void extensions_process(uint32_t sender, const uint8_t *message, uint32_t length,
                               uint32_t count)
{
    const char *hostname = "";
    size_t hostname_bytes = 0;
    uint32_t offset = BUS_HEADER_BYTES + count * BUS_GOSSIP_BYTES;
    uint32_t extensions = be16(message + BUS_OFF_EXTENSIONS);
    if (!(message[BUS_OFF_MFLAGS] & BUS_MFLAG0_EXT_DATA)) {
        extensions = 0;
    }
    /* Bounded by the count, and by the bytes: each extension is at least 8 long. */
    for (uint32_t index = 0; index < extensions && length - offset >= BUS_EXT_HEADER_BYTES;
         index++) {
        uint32_t ext_bytes = be32(message + offset);
        if (ext_bytes < BUS_EXT_HEADER_BYTES || ext_bytes % 8 != 0 || ext_bytes > length - offset) {
            break;
        }
        if (be16(message + offset + 4) == BUS_EXT_TYPE_HOSTNAME) {
            hostname = (const char *)message + offset + BUS_EXT_HEADER_BYTES;
            hostname_bytes = strnlen(hostname, ext_bytes - BUS_EXT_HEADER_BYTES);
        }
        offset += ext_bytes;
    }
    if (sender != cluster_myself()) {
        cluster_node_hostname_set(sender, hostname, hostname_bytes);
    }
}

/* The first PONG of a handshake node: it takes the sender's name, or goes when a node of
 * that name is known already (Redis's clusterRenameNode / clusterDelNode). False: gone. */
static bool handshake_finish(uint32_t link_index, const uint8_t *message)
{
    struct cluster_bus_link *link = &bus.links[link_index];
    uint32_t node_index = link->node_index;
    const uint8_t *sender_name = message + BUS_OFF_SENDER;
    if (cluster_node_find(sender_name, CLUSTER_NAME_BYTES) != CLUSTER_NODE_NONE) {
        link_close(link_index);
        cluster_node_remove(node_index);
        return false;
    }
    char name[CLUSTER_NAME_BYTES];
    memcpy(name, sender_name, CLUSTER_NAME_BYTES);
    uint32_t out_link = bus_node(node_index)->out_link;
    cluster_node_rename(node_index, name);
    struct bus_node *state = bus_node(node_index); /* fresh: the new name */
    state->out_link = out_link;
    memcpy(link->node_name, name, CLUSTER_NAME_BYTES);
    uint32_t flags = cluster_node_at(node_index)->flags & ~(uint32_t)CLUSTER_FLAG_HANDSHAKE;
    cluster_node_flags_set(node_index, flags_from_bus(be16(message + BUS_OFF_FLAGS), flags));
    log_info("cluster bus: handshake with %.40s done", name);
    save();
    return true;
}

/* A MEET from a node this one does not know: it is added under its own name, at the address
 * it says (myip) or the socket's, with the ports of its header. */
static uint32_t meet_sender_add(const struct cluster_bus_link *link, const uint8_t *message)
{
    char name[CLUSTER_NAME_BYTES];
    memcpy(name, message + BUS_OFF_SENDER, CLUSTER_NAME_BYTES);
    uint32_t index = cluster_node_add(name, flags_from_bus(be16(message + BUS_OFF_FLAGS), 0));
    if (index == CLUSTER_NODE_NONE) {
        log_warn("cluster bus: the node table is full; a MEET from %s is ignored", link->ip);
        return index;
    }
    char ip[CLUSTER_IP_BYTES];
    memcpy(ip, message + BUS_OFF_MYIP, CLUSTER_IP_BYTES);
    ip[CLUSTER_IP_BYTES - 1] = '\0';
    cluster_node_address_set(index, ip[0] != '\0' ? ip : link->ip, be16(message + BUS_OFF_PORT),
                             be16(message + BUS_OFF_CPORT));
    log_info("cluster bus: %.40s met us from %s", name, link->ip);
    save();
    return index;
}

/* Whether a message is as long as its type and counts say (Redis's clusterIsValidPacket;
 * extensions and unknown types may make it longer). */
static bool message_length_valid(uint32_t type, const uint8_t *message, uint32_t length)
{
    KV_ASSERT(length >= BUS_HEADER_BYTES); /* framing checked the header's length */
    uint32_t count = be16(message + BUS_OFF_COUNT);
    bool ping_like = type == BUS_TYPE_PING || type == BUS_TYPE_PONG || type == BUS_TYPE_MEET;
    uint32_t needed = BUS_HEADER_BYTES;
    needed += ping_like ? count * BUS_GOSSIP_BYTES : 0;
    needed += type == BUS_TYPE_FAIL ? BUS_FAIL_BYTES : 0;
    needed += type == BUS_TYPE_UPDATE ? BUS_UPDATE_BYTES : 0;
    return length >= needed;
}

/* A known sender's epochs (the current epoch's max-merge, its config epoch when higher),
 * and an inbound link's node. */
static void sender_update(struct cluster_bus_link *link, uint32_t sender, const uint8_t *message)
{
    KV_ASSERT(sender != CLUSTER_NODE_NONE);
    uint64_t sender_current = be64(message + BUS_OFF_CURRENT_EPOCH);
    uint64_t sender_config = be64(message + BUS_OFF_CONFIG_EPOCH);
    if (sender_current > cluster_current_epoch()) {
        cluster_current_epoch_set(sender_current);
        save();
    }
    if (sender_config > cluster_node_at(sender)->config_epoch) {
        cluster_config_epoch_set(sender, sender_config);
        save();
    }
    if (link->inbound && link->node_index == CLUSTER_NODE_NONE) {
        link->node_index = sender;
        memcpy(link->node_name, cluster_node_at(sender)->name, CLUSTER_NAME_BYTES);
    }
    KV_ASSERT(cluster_current_epoch() >= sender_current);
}

/* PING, PONG or MEET on an outbound link: the handshake's first PONG, a node whose id
 * changed, the pong's times and the end of PFAIL or FAIL. Returns the sender's index, or
 * CLUSTER_NODE_NONE when the link closed or the node went. */
static uint32_t outbound_process(uint32_t link_index, uint32_t type, const uint8_t *message,
                                 int64_t now_ms)
{
    struct cluster_bus_link *link = &bus.links[link_index];
    KV_ASSERT(!link->inbound);
    if (!link_node_valid(link)) {
        link_close(link_index);
        return CLUSTER_NODE_NONE;
    }
    const struct cluster_node *node = cluster_node_at(link->node_index);
    if ((node->flags & CLUSTER_FLAG_HANDSHAKE) && type == BUS_TYPE_PONG) {
        if (!handshake_finish(link_index, message)) {
            return CLUSTER_NODE_NONE;
        }
        cluster_config_epoch_set(link->node_index, be64(message + BUS_OFF_CONFIG_EPOCH));
    } else if (memcmp(node->name, message + BUS_OFF_SENDER, CLUSTER_NAME_BYTES) != 0) {
        /* The node at this address has another id now (Redis: noaddr, link freed). */
        link_close(link_index);
        return CLUSTER_NODE_NONE;
    }
    if (type == BUS_TYPE_PONG) {
        uint32_t flags = cluster_node_at(link->node_index)->flags;
        cluster_node_times_set(link->node_index, 0, now_ms);
        if (flags & CLUSTER_FLAG_PFAIL) {
            cluster_node_flags_set(link->node_index, flags & ~(uint32_t)CLUSTER_FLAG_PFAIL);
        } else if (flags & CLUSTER_FLAG_FAIL) {
            fail_clear_if_needed(link->node_index, now_ms);
        }
    }
    KV_ASSERT(link_node_valid(link));
    return link->node_index;
}

/* What a known sender's PING, PONG or MEET says: its role, its slots (with their config
 * epoch), an epoch collision, the gossip, the extensions. */
static void ping_process(uint32_t sender, const uint8_t *message, uint32_t length,
                         int64_t now_ms)
{
    KV_ASSERT(sender != CLUSTER_NODE_NONE && sender != cluster_myself());
    uint32_t count = be16(message + BUS_OFF_COUNT);
    uint64_t sender_config = be64(message + BUS_OFF_CONFIG_EPOCH);
    uint32_t bus_flags = be16(message + BUS_OFF_FLAGS);
    uint32_t flags = cluster_node_at(sender)->flags;
    cluster_node_flags_set(sender, flags_from_bus(bus_flags, flags));
    const uint8_t *bitmap = message + BUS_OFF_MYSLOTS;
    if (!(bus_flags & BUS_FLAG_SLAVE) && slots_differ(sender, bitmap)) {
        slots_update(sender, sender_config, bitmap);
    }
    epoch_collision(sender, sender_config);
    gossip_process(sender, message, count, now_ms);
    extensions_process(sender, message, length, count);
}

/* FAIL about a node, or UPDATE of a node's slots, from a known sender. */
static void fail_update_process(uint32_t sender, uint32_t type, const uint8_t *message,
                                int64_t now_ms)
{
    KV_ASSERT(sender != CLUSTER_NODE_NONE);
    const uint8_t *data = message + BUS_HEADER_BYTES;
    if (type == BUS_TYPE_FAIL) {
        uint32_t failing = cluster_node_find(data, CLUSTER_NAME_BYTES);
        if (failing != CLUSTER_NODE_NONE && failing != cluster_myself() &&
            !(cluster_node_at(failing)->flags & CLUSTER_FLAG_FAIL)) {
            log_info("FAIL message received from %.40s about %.40s",
                     cluster_node_at(sender)->name, cluster_node_at(failing)->name);
            fail_set(failing, now_ms);
        }
        return;
    }
    KV_ASSERT(type == BUS_TYPE_UPDATE);
    uint32_t node = cluster_node_find(data + 8, CLUSTER_NAME_BYTES);
    uint64_t epoch = be64(data);
    if (node != CLUSTER_NODE_NONE && node != cluster_myself() &&
        epoch > cluster_node_at(node)->config_epoch) {
        cluster_config_epoch_set(node, epoch);
        slots_update(node, epoch, data + 8 + CLUSTER_NAME_BYTES);
        save();
    }
}

/* One whole message (Redis's clusterProcessPacket, what kv keeps of it). A malformed one
 * closes the link. */
static void message_process(uint32_t link_index, const uint8_t *message, uint32_t length,
                            int64_t now_ms)
{
    struct cluster_bus_link *link = &bus.links[link_index];
    KV_ASSERT(link->state == CLUSTER_BUS_LINK_OPEN);
    uint32_t type = be16(message + BUS_OFF_TYPE);
    if (type < CLUSTER_BUS_TYPE_COUNT) {
        bus.received[type]++;
    }
    if (be16(message + BUS_OFF_VER) != BUS_VERSION) {
        return; /* Redis ignores other versions */
    }
    if (!message_length_valid(type, message, length)) {
        log_warn("cluster bus: a message of type %u is %u bytes, too short: link closed", type,
                 length);
        link_close(link_index);
        return;
    }
    bool ping_like = type == BUS_TYPE_PING || type == BUS_TYPE_PONG || type == BUS_TYPE_MEET;
    uint32_t sender = cluster_node_find(message + BUS_OFF_SENDER, CLUSTER_NAME_BYTES);
    if (sender != CLUSTER_NODE_NONE && (cluster_node_at(sender)->flags & CLUSTER_FLAG_HANDSHAKE)) {
        sender = CLUSTER_NODE_NONE; /* a handshake node's random name is nobody's */
    }
    if (sender != CLUSTER_NODE_NONE) {
        sender_update(link, sender, message);
    } else if (type == BUS_TYPE_MEET && link->inbound) {
        sender = meet_sender_add(link, message);
        if (sender != CLUSTER_NODE_NONE) {
            cluster_config_epoch_set(sender, be64(message + BUS_OFF_CONFIG_EPOCH));
            link->node_index = sender;
            memcpy(link->node_name, cluster_node_at(sender)->name, CLUSTER_NAME_BYTES);
        }
    }
    if (type == BUS_TYPE_PING || type == BUS_TYPE_MEET) {
        ping_send(link_index, BUS_TYPE_PONG, now_ms);
    }
    if (ping_like && !link->inbound) {
        sender = outbound_process(link_index, type, message, now_ms);
    }
    if (sender == CLUSTER_NODE_NONE || sender == cluster_myself()) {
        return;
    }
    if (ping_like) {
        ping_process(sender, message, length, now_ms);
    } else if (type == BUS_TYPE_FAIL || type == BUS_TYPE_UPDATE) {
        fail_update_process(sender, type, message, now_ms);
    }
}

/* ---- the loop's completions ---- */

/* Myself's address, learnt from a bus socket's local end when no cluster-announce-ip is set
 * and none is known yet (as Redis learns it from the MEET's link). */
static void myself_ip_learn(const char *local_ip)
{
    const struct cluster_node *myself = cluster_node_at(cluster_myself());
    if (myself->ip[0] != '\0' || param_text("cluster-announce-ip")[0] != '\0' ||
        local_ip == NULL || local_ip[0] == '\0') {
        return;
    }
    cluster_node_address_set(cluster_myself(), local_ip, myself->port, myself->bus_port);
    log_info("IP address for this node updated to %s", local_ip);
    save();
}

uint32_t cluster_bus_inbound_open(int fd, const char *peer_ip, const char *local_ip,
                                  int64_t now_ms)
{
    KV_ASSERT(bus.on);
    KV_ASSERT(fd >= 0);
    uint32_t index = link_acquire(true, now_ms);
    if (index == CLUSTER_BUS_LINK_NONE) {
        return index;
    }
    struct cluster_bus_link *link = &bus.links[index];
    link->fd = fd;
    link->state = CLUSTER_BUS_LINK_OPEN;
    snprintf(link->ip, sizeof(link->ip), "%s", peer_ip);
    myself_ip_learn(local_ip);
    bus.pending = true;
    return index;
}

void cluster_bus_connected(uint32_t index, int result, const char *local_ip, int64_t now_ms)
{
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(!link->connect_in_flight);
    if (link->state != CLUSTER_BUS_LINK_CONNECTING) {
        return; /* closed while connecting */
    }
    if (result != 0 || !link_node_valid(link)) {
        if (link_node_valid(link) && cluster_node_at(link->node_index)->ping_sent_ms == 0) {
            /* As Redis: a node that cannot be reached counts as pinged now, so failure
             * detection runs for it. */
            const struct cluster_node *node = cluster_node_at(link->node_index);
            cluster_node_times_set(link->node_index, now_ms, node->pong_received_ms);
        }
        link_close(index);
        return;
    }
    link->state = CLUSTER_BUS_LINK_OPEN;
    myself_ip_learn(local_ip);
    struct bus_node *state = bus_node(link->node_index);
    cluster_node_link_set(link->node_index, true);
    ping_send(index, state->meet ? BUS_TYPE_MEET : BUS_TYPE_PING, now_ms);
    state->meet = false;
    bus.pending = true;
}

void cluster_bus_received(uint32_t index, uint32_t bytes, int64_t now_ms)
{
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(!link->recv_in_flight);
    KV_ASSERT(bytes > 0 && bytes <= CLUSTER_BUS_IN_BYTES - link->in_length);
    bus.pending = true;
    if (link->state != CLUSTER_BUS_LINK_OPEN) {
        return;
    }
    link->in_length += bytes;
    uint32_t consumed = 0;
    /* Bounded by the bytes: each message is at least a header long. */
    while (link->in_length - consumed >= 8 && link->state == CLUSTER_BUS_LINK_OPEN) {
        const uint8_t *message = link->in + consumed;
        uint32_t length = be32(message + BUS_OFF_TOTLEN);
        if (memcmp(message, BUS_SIGNATURE, 4) != 0 || length < BUS_HEADER_BYTES) {
            log_warn("cluster bus: bytes that are no message from %s: link closed", link->ip);
            link_close(index);
            return;
        }
        if (length > CLUSTER_BUS_IN_BYTES) {
            log_warn("cluster bus: a message of %u bytes from %s is too long: link closed",
                     length, link->ip);
            link_close(index);
            return;
        }
        if (link->in_length - consumed < length) {
            break;
        }
        message_process(index, message, length, now_ms);
        consumed += length;
    }
    if (link->state != CLUSTER_BUS_LINK_OPEN) {
        return;
    }
    KV_ASSERT(consumed <= link->in_length);
    memmove(link->in, link->in + consumed, link->in_length - consumed);
    link->in_length -= consumed;
}

void cluster_bus_recv_ended(uint32_t index)
{
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    KV_ASSERT(!bus.links[index].recv_in_flight);
    if (bus.links[index].state != CLUSTER_BUS_LINK_FREE) {
        link_close(index);
    }
}

void cluster_bus_sent(uint32_t index, int result)
{
    KV_ASSERT(index < CLUSTER_BUS_LINKS_MAX);
    struct cluster_bus_link *link = &bus.links[index];
    KV_ASSERT(link->out_in_flight == 0);
    bus.pending = true;
    if (result < 0) {
        if (link->state != CLUSTER_BUS_LINK_FREE) {
            link_close(index);
        }
        return;
    }
    KV_ASSERT((uint32_t)result <= link->out_length);
    memmove(link->out, link->out + result, link->out_length - (uint32_t)result);
    link->out_length -= (uint32_t)result;
}

/* ---- cron ---- */

static void link_connect_start(uint32_t node_index, int64_t now_ms)
{
    uint32_t index = link_acquire(false, now_ms);
    if (index == CLUSTER_BUS_LINK_NONE) {
        return;
    }
    const struct cluster_node *node = cluster_node_at(node_index);
    struct cluster_bus_link *link = &bus.links[index];
    link->state = CLUSTER_BUS_LINK_CONNECTING;
    link->node_index = node_index;
    memcpy(link->node_name, node->name, CLUSTER_NAME_BYTES);
    snprintf(link->ip, sizeof(link->ip), "%s", node->ip);
    link->port = node->bus_port;
    bus_node(node_index)->out_link = index;
    bus.pending = true;
}

/* Once a second: of 5 random nodes with a link and no ping pending, ping the one whose pong
 * is oldest (Redis's clusterCron). */
static void ping_random(int64_t now_ms)
{
    uint32_t slots = cluster_node_slots();
    uint32_t best = CLUSTER_NODE_NONE;
    /* Bounded by BUS_PING_CANDIDATES. */
    for (uint32_t pick = 0; pick < BUS_PING_CANDIDATES; pick++) {
        uint32_t index = random_below(slots);
        const struct cluster_node *node = cluster_node_at(index);
        if (!node->used || index == cluster_myself() || !node->link_connected ||
            node->ping_sent_ms != 0 || (node->flags & CLUSTER_FLAG_HANDSHAKE)) {
            continue;
        }
        if (best == CLUSTER_NODE_NONE ||
            node->pong_received_ms < cluster_node_at(best)->pong_received_ms) {
            best = index;
        }
    }
    if (best != CLUSTER_NODE_NONE) {
        uint32_t link = bus_node(best)->out_link;
        if (link != CLUSTER_BUS_LINK_NONE && bus.links[link].state == CLUSTER_BUS_LINK_OPEN) {
            ping_send(link, BUS_TYPE_PING, now_ms);
        }
    }
}

/* One node's turn: its handshake's timeout, its outbound link, its ping, its PFAIL. */
static void cron_node(uint32_t index, int64_t now_ms, int64_t timeout_ms)
{
    const struct cluster_node *node = cluster_node_at(index);
    struct bus_node *state = bus_node(index);
    int64_t handshake_timeout = timeout_ms > BUS_HANDSHAKE_TIMEOUT_MIN_MS
                                    ? timeout_ms
                                    : BUS_HANDSHAKE_TIMEOUT_MIN_MS;
    bool handshake = (node->flags & CLUSTER_FLAG_HANDSHAKE) != 0;
    if (handshake && now_ms - state->handshake_ms > handshake_timeout) {
        log_info("cluster bus: handshake with %s:%u timed out", node->ip, node->port);
        if (state->out_link != CLUSTER_BUS_LINK_NONE) {
            link_close(state->out_link);
        }
        cluster_node_remove(index);
        return;
    }
    if ((node->flags & CLUSTER_FLAG_NOADDR) || node->ip[0] == '\0' || node->bus_port == 0) {
        return;
    }
    /* A ping unanswered for the node timeout (or a node unreachable that long): PFAIL. */
    if (node->ping_sent_ms != 0 && now_ms - node->ping_sent_ms > timeout_ms &&
        !(node->flags & (CLUSTER_FLAG_PFAIL | CLUSTER_FLAG_FAIL | CLUSTER_FLAG_HANDSHAKE))) {
        log_info("*** NODE %.40s possibly failing", node->name);
        cluster_node_flags_set(index, node->flags | CLUSTER_FLAG_PFAIL);
    }
    if (state->out_link == CLUSTER_BUS_LINK_NONE) {
        link_connect_start(index, now_ms);
        return;
    }
    struct cluster_bus_link *link = &bus.links[state->out_link];
    if (link->state == CLUSTER_BUS_LINK_CONNECTING && now_ms - link->create_ms > timeout_ms) {
        link_close(state->out_link);
        return;
    }
    if (link->state == CLUSTER_BUS_LINK_OPEN) {
        /* A link whose ping waits past half the timeout is made again (Redis's cron). */
        if (node->ping_sent_ms != 0 && now_ms - link->create_ms > timeout_ms &&
            now_ms - node->ping_sent_ms > timeout_ms / 2) {
            link_close(state->out_link);
            return;
        }
        if (node->ping_sent_ms == 0 && now_ms - node->pong_received_ms > timeout_ms / 2) {
            ping_send(state->out_link, BUS_TYPE_PING, now_ms);
        }
    }
}

void cluster_bus_cron(int64_t now_ms)
{
    bool due = now_ms - bus.cron_last_ms >= CLUSTER_BUS_CRON_MS || now_ms < bus.cron_last_ms;
    if (!bus.on || !due) {
        return;
    }
    bus.cron_last_ms = now_ms;
    bus.cron_turns++;
    /* The announced address, ports and hostname as CONFIG SET left them (the messages carry
     * them). */
    cluster_myself_refresh();
    int64_t timeout_ms = node_timeout_ms();
    /* Bounded by the links: a link whose node went (FORGET, RESET, a handshake's end) goes. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        struct cluster_bus_link *link = &bus.links[index];
        if (link->state == CLUSTER_BUS_LINK_FREE || link->state == CLUSTER_BUS_LINK_CLOSING) {
            continue;
        }
        if (!link->inbound && !link_node_valid(link)) {
            link_close(index);
        } else if (link->inbound && link->node_index != CLUSTER_NODE_NONE &&
                   !link_node_valid(link)) {
            link->node_index = CLUSTER_NODE_NONE;
        } else if (link->inbound && link->node_index == CLUSTER_NODE_NONE &&
                   now_ms - link->create_ms > timeout_ms) {
            /* An inbound link no known node spoke on for the node timeout: it holds a slot
             * of the table for nothing (a peer that connects and stays silent). */
            link_close(index);
        }
    }
    uint32_t myself = cluster_myself();
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster_node_slots(); index++) {
        if (index != myself && cluster_node_at(index)->used) {
            cron_node(index, now_ms, timeout_ms);
        }
    }
    if (bus.cron_turns % 10u == 0 && cluster_node_slots() > 0) {
        ping_random(now_ms);
    }
    cluster_bus_verify();
}

void cluster_bus_verify(void)
{
    if (!bus.on) {
        return;
    }
    /* Bounded by the links. */
    for (uint32_t index = 0; index < CLUSTER_BUS_LINKS_MAX; index++) {
        const struct cluster_bus_link *link = &bus.links[index];
        KV_ASSERT(link->in_length <= CLUSTER_BUS_IN_BYTES);
        KV_ASSERT(link->out_length <= CLUSTER_BUS_OUT_BYTES);
        KV_ASSERT(link->out_in_flight <= link->out_length);
        KV_ASSERT(link->state != CLUSTER_BUS_LINK_FREE || link->fd == -1);
    }
}
