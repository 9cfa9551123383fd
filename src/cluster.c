/*
 * Cluster mode's state (cluster.h), as Redis 7.0's cluster.c keeps it for one node: the node
 * table, the slot map, the open slots, the epochs, the state and nodes.conf.
 *
 * Invariants (cluster_verify): myself is a used node; each node's slot_count is the number of
 * map entries naming it; every slot's owner, migration target and import source is a used
 * node; a replica's master is a used node. The table never moves a node: a link is its index,
 * and a forgotten node's entry is reused by the next one added.
 *
 * The state is judged lazily: cluster_state_ok re-runs Redis's clusterUpdateState when
 * something changed or at most every 100 ms (Redis's cron period), so its 2 s writable delay
 * and its rejoin delay run as in Redis. nodes.conf is the only I/O: read whole at startup
 * into a static buffer, written through a 64 KiB static buffer; nothing is allocated.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kv_assert.h"
#include "log.h"
#include "redis_param.h"

/* Redis's CLUSTER_WRITABLE_DELAY, CLUSTER_MIN/MAX_REJOIN_DELAY, CLUSTER_PORT_INCR. */
#define CLUSTER_WRITABLE_DELAY_MS 2000
#define CLUSTER_REJOIN_DELAY_MIN_MS 500
#define CLUSTER_REJOIN_DELAY_MAX_MS 5000
#define CLUSTER_PORT_INCR 10000u

/* How often the state is judged again with nothing changed: Redis's cron runs every 100 ms. */
#define CLUSTER_STATE_PERIOD_MS 100

/* The largest nodes.conf kv reads: every node's line with its slots in single numbers, and
 * myself's open slots (a 1 MiB line is more than 16,384 "[slot->-id]" entries). */
#define CLUSTER_CONFIG_BYTES_MAX (4u * 1024u * 1024u)

/* The write buffer of nodes.conf: flushed whenever full. */
#define CLUSTER_WRITE_BUFFER_BYTES (64u * 1024u)

/* Fields of one nodes.conf line kv reads at most: eight, then a slot range or open slot per
 * field (16,384 slots, 16,384 open slots). */
#define CLUSTER_LINE_FIELDS_MAX (8u + 2u * KEYSLOT_COUNT)

static_assert(CLUSTER_NODES_MAX < UINT16_MAX, "a slot map entry holds 1 + a node index");

struct cluster_state {
    bool enabled;
    struct cluster_node nodes[CLUSTER_NODES_MAX];
    uint32_t node_slots;                      /* entries of nodes[] ever used (a bound) */
    uint32_t node_count;                      /* used entries */
    uint32_t myself;                          /* myself's index */
    uint16_t slot_owner[KEYSLOT_COUNT];       /* 1 + the serving node's index, 0: none */
    uint16_t slot_migrating[KEYSLOT_COUNT];   /* 1 + the target's index, 0: none */
    uint16_t slot_importing[KEYSLOT_COUNT];   /* 1 + the source's index, 0: none */
    uint64_t current_epoch;
    uint64_t last_vote_epoch;
    bool state_ok;                            /* CLUSTER_OK, else CLUSTER_FAIL */
    bool state_dirty;                         /* something changed since the last judgement */
    uint32_t size;                            /* masters serving slots (Redis starts at 1) */
    int64_t first_update_ms;                  /* the first judgement (0: none yet) */
    int64_t minority_ms;                      /* the last judgement that found a minority */
    int64_t judged_ms;                        /* the last judgement */
    char announce_ip_previous[CLUSTER_IP_BYTES]; /* cluster-announce-ip applied last */
    uint32_t client_port;                     /* kv's port */
    char path[4096];                          /* nodes.conf's path */
};

static struct cluster_state cluster;

/* nodes.conf's bytes at startup, and the writer's buffer. */
static char cluster_config_bytes[CLUSTER_CONFIG_BYTES_MAX + 1];
static char *cluster_line_fields[CLUSTER_LINE_FIELDS_MAX];

static const char *param_text(const char *name)
{
    int32_t row = redis_param_find(name, strlen(name));
    KV_ASSERT(row >= 0); /* every name asked is a Redis 7.0 parameter */
    return redis_param_value((uint32_t)row);
}

static long long param_number(const char *name)
{
    return strtoll(param_text(name), NULL, 10);
}

static bool param_yes(const char *name)
{
    return strcmp(param_text(name), "yes") == 0;
}

bool cluster_enabled(void)
{
    return cluster.enabled;
}

uint32_t cluster_node_slots(void)
{
    KV_ASSERT(cluster.node_slots <= CLUSTER_NODES_MAX);
    return cluster.node_slots;
}

const struct cluster_node *cluster_node_at(uint32_t index)
{
    KV_ASSERT(index < cluster.node_slots);
    return &cluster.nodes[index];
}

uint32_t cluster_node_count(void)
{
    KV_ASSERT(cluster.node_count <= cluster.node_slots);
    return cluster.node_count;
}

uint32_t cluster_myself(void)
{
    KV_ASSERT(cluster.enabled);
    KV_ASSERT(cluster.nodes[cluster.myself].used);
    return cluster.myself;
}

bool cluster_name_valid(const uint8_t *name, size_t name_bytes)
{
    (void)name;
    return name_bytes == CLUSTER_NAME_BYTES;
}

uint32_t cluster_node_find(const uint8_t *name, size_t name_bytes)
{
    if (name_bytes != CLUSTER_NAME_BYTES) {
        return CLUSTER_NODE_NONE;
    }
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        if (cluster.nodes[index].used &&
            memcmp(cluster.nodes[index].name, name, CLUSTER_NAME_BYTES) == 0) {
            return index;
        }
    }
    return CLUSTER_NODE_NONE;
}

uint32_t cluster_node_add(const char name[CLUSTER_NAME_BYTES], uint32_t flags)
{
    KV_ASSERT(cluster_node_find((const uint8_t *)name, CLUSTER_NAME_BYTES) == CLUSTER_NODE_NONE);
    uint32_t index = 0;
    /* Bounded by the table: the first free entry. */
    while (index < cluster.node_slots && cluster.nodes[index].used) {
        index++;
    }
    if (index == CLUSTER_NODES_MAX) {
        return CLUSTER_NODE_NONE;
    }
    cluster.node_slots = index == cluster.node_slots ? index + 1 : cluster.node_slots;
    struct cluster_node *node = &cluster.nodes[index];
    memset(node, 0, sizeof(*node));
    node->used = true;
    memcpy(node->name, name, CLUSTER_NAME_BYTES);
    node->flags = flags;
    node->master_index = CLUSTER_NODE_NONE;
    node->link_connected = (flags & CLUSTER_FLAG_MYSELF) != 0;
    cluster.node_count++;
    cluster.state_dirty = true;
    KV_ASSERT(cluster.node_count <= cluster.node_slots);
    return index;
}

void cluster_node_rename(uint32_t index, const char name[CLUSTER_NAME_BYTES])
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(cluster_node_find((const uint8_t *)name, CLUSTER_NAME_BYTES) == CLUSTER_NODE_NONE);
    memcpy(cluster.nodes[index].name, name, CLUSTER_NAME_BYTES);
    cluster.state_dirty = true;
}

void cluster_node_flags_set(uint32_t index, uint32_t flags)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(((flags & CLUSTER_FLAG_MYSELF) != 0) == (index == cluster.myself));
    if (cluster.nodes[index].flags != flags) {
        cluster.nodes[index].flags = flags;
        cluster.state_dirty = true;
    }
}

void cluster_node_times_set(uint32_t index, int64_t ping_sent_ms, int64_t pong_received_ms)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(ping_sent_ms >= 0 && pong_received_ms >= 0);
    cluster.nodes[index].ping_sent_ms = ping_sent_ms;
    cluster.nodes[index].pong_received_ms = pong_received_ms;
}

void cluster_node_link_set(uint32_t index, bool connected)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(index != cluster.myself || connected);
    cluster.nodes[index].link_connected = connected;
}

void cluster_node_hostname_set(uint32_t index, const char *hostname, size_t length)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(index != cluster.myself); /* myself's comes from cluster-announce-hostname */
    struct cluster_node *node = &cluster.nodes[index];
    length = length < sizeof(node->hostname) - 1 ? length : sizeof(node->hostname) - 1;
    memcpy(node->hostname, hostname, length);
    node->hostname[length] = '\0';
}

void cluster_node_address_set(uint32_t index, const char *ip, uint32_t port, uint32_t bus_port)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    struct cluster_node *node = &cluster.nodes[index];
    snprintf(node->ip, sizeof(node->ip), "%s", ip);
    node->port = port;
    node->bus_port = bus_port;
}

const char *cluster_endpoint(uint32_t index)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    const struct cluster_node *node = &cluster.nodes[index];
    const char *type = param_text("cluster-preferred-endpoint-type");
    if (strcmp(type, "hostname") == 0) {
        return node->hostname[0] != '\0' ? node->hostname : "?";
    }
    return strcmp(type, "ip") == 0 ? node->ip : "";
}

uint32_t cluster_slot_owner(uint32_t slot)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return cluster.slot_owner[slot] == 0 ? CLUSTER_NODE_NONE : cluster.slot_owner[slot] - 1u;
}

uint32_t cluster_slot_migrating(uint32_t slot)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return cluster.slot_migrating[slot] == 0 ? CLUSTER_NODE_NONE
                                             : cluster.slot_migrating[slot] - 1u;
}

uint32_t cluster_slot_importing(uint32_t slot)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    return cluster.slot_importing[slot] == 0 ? CLUSTER_NODE_NONE
                                             : cluster.slot_importing[slot] - 1u;
}

static uint16_t node_link(uint32_t node_index)
{
    KV_ASSERT(node_index == CLUSTER_NODE_NONE ||
              (node_index < cluster.node_slots && cluster.nodes[node_index].used));
    return node_index == CLUSTER_NODE_NONE ? 0 : (uint16_t)(node_index + 1u);
}

void cluster_slot_migrating_set(uint32_t slot, uint32_t node_index)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    cluster.slot_migrating[slot] = node_link(node_index);
}

void cluster_slot_importing_set(uint32_t slot, uint32_t node_index)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    cluster.slot_importing[slot] = node_link(node_index);
}

void cluster_slot_assign(uint32_t slot, uint32_t node_index)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    KV_ASSERT(cluster.slot_owner[slot] == 0);
    cluster.slot_owner[slot] = node_link(node_index);
    cluster.nodes[node_index].slot_count++;
    cluster.state_dirty = true;
}

void cluster_slot_unassign(uint32_t slot)
{
    KV_ASSERT(slot < KEYSLOT_COUNT);
    uint32_t owner = cluster_slot_owner(slot);
    if (owner == CLUSTER_NODE_NONE) {
        return;
    }
    KV_ASSERT(cluster.nodes[owner].slot_count > 0);
    cluster.nodes[owner].slot_count--;
    cluster.slot_owner[slot] = 0;
    cluster.state_dirty = true;
}

void cluster_node_remove(uint32_t index)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    KV_ASSERT(index != cluster.myself);
    uint16_t link = node_link(index);
    /* Bounded by the slots: its slots, and the migrations naming it, go (clusterDelNode). */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        if (cluster.slot_importing[slot] == link) {
            cluster.slot_importing[slot] = 0;
        }
        if (cluster.slot_migrating[slot] == link) {
            cluster.slot_migrating[slot] = 0;
        }
        if (cluster.slot_owner[slot] == link) {
            cluster_slot_unassign(slot);
        }
    }
    /* Bounded by the table: its replicas have no master any more. */
    for (uint32_t other = 0; other < cluster.node_slots; other++) {
        if (cluster.nodes[other].used && cluster.nodes[other].master_index == index) {
            cluster.nodes[other].master_index = CLUSTER_NODE_NONE;
        }
    }
    KV_ASSERT(cluster.nodes[index].slot_count == 0);
    cluster.nodes[index].used = false;
    cluster.node_count--;
    cluster.state_dirty = true;
}

uint64_t cluster_current_epoch(void)
{
    return cluster.current_epoch;
}

uint64_t cluster_last_vote_epoch(void)
{
    return cluster.last_vote_epoch;
}

void cluster_current_epoch_set(uint64_t epoch)
{
    cluster.current_epoch = epoch;
}

void cluster_config_epoch_set(uint32_t index, uint64_t epoch)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    cluster.nodes[index].config_epoch = epoch;
}

uint64_t cluster_max_epoch(void)
{
    uint64_t max = 0;
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        if (cluster.nodes[index].used && cluster.nodes[index].config_epoch > max) {
            max = cluster.nodes[index].config_epoch;
        }
    }
    return max < cluster.current_epoch ? cluster.current_epoch : max;
}

bool cluster_bump_epoch(void)
{
    struct cluster_node *myself = &cluster.nodes[cluster.myself];
    uint64_t max = cluster_max_epoch();
    if (myself->config_epoch != 0 && myself->config_epoch == max) {
        return false;
    }
    cluster.current_epoch++;
    myself->config_epoch = cluster.current_epoch;
    log_warn("New configEpoch set to %" PRIu64, myself->config_epoch);
    return true;
}

/* 40 random lower-case hex characters, as Redis's getRandomHexChars. */
void cluster_name_random(char name[CLUSTER_NAME_BYTES])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t random[CLUSTER_NAME_BYTES];
    size_t got = 0;
    /* Bounded: getrandom gives at most the bytes asked, and a short read is retried. */
    for (uint32_t tries = 0; got < sizeof(random) && tries < 16; tries++) {
        ssize_t result = getrandom(random + got, sizeof(random) - got, 0);
        got += result > 0 ? (size_t)result : 0;
    }
    KV_ASSERT(got == sizeof(random)); /* the kernel's random source does not fail */
    for (uint32_t index = 0; index < CLUSTER_NAME_BYTES; index++) {
        name[index] = hex[random[index] & 15u];
    }
}

void cluster_reset(bool hard)
{
    /* Bounded by the slots: every open slot closes, every slot goes. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        cluster.slot_migrating[slot] = 0;
        cluster.slot_importing[slot] = 0;
        cluster_slot_unassign(slot);
    }
    /* Bounded by the table: every node but myself is forgotten. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        if (cluster.nodes[index].used && index != cluster.myself) {
            cluster_node_remove(index);
        }
    }
    if (hard) {
        cluster.current_epoch = 0;
        cluster.last_vote_epoch = 0;
        cluster.nodes[cluster.myself].config_epoch = 0;
        log_warn("configEpoch set to 0 via CLUSTER RESET HARD");
        cluster_name_random(cluster.nodes[cluster.myself].name);
        log_info("Node hard reset, now I'm %.40s", cluster.nodes[cluster.myself].name);
    }
    cluster.state_dirty = true;
    KV_ASSERT(cluster.node_count == 1);
}

/* The address myself announces, as Redis's deriveAnnouncedPorts and clusterUpdateMyselfIp
 * and clusterUpdateMyselfHostname: cluster-announce-port or kv's port, cluster-announce-bus-
 * port or cluster-port or port + 10000; the ip changes only when cluster-announce-ip does. */
void cluster_myself_refresh(void)
{
    KV_ASSERT(cluster.enabled);
    struct cluster_node *myself = &cluster.nodes[cluster.myself];
    long long announce_port = param_number("cluster-announce-port");
    long long bus_port = param_number("cluster-port");
    long long announce_bus_port = param_number("cluster-announce-bus-port");
    myself->port = announce_port != 0 ? (uint32_t)announce_port : cluster.client_port;
    myself->bus_port = bus_port != 0 ? (uint32_t)bus_port : cluster.client_port + CLUSTER_PORT_INCR;
    myself->bus_port = announce_bus_port != 0 ? (uint32_t)announce_bus_port : myself->bus_port;
    const char *announce_ip = param_text("cluster-announce-ip");
    if (strcmp(announce_ip, cluster.announce_ip_previous) != 0) {
        snprintf(cluster.announce_ip_previous, sizeof(cluster.announce_ip_previous), "%s",
                 announce_ip);
        snprintf(myself->ip, sizeof(myself->ip), "%s", announce_ip);
    }
    snprintf(myself->hostname, sizeof(myself->hostname), "%s",
             param_text("cluster-announce-hostname"));
    bool nofailover = param_yes("cluster-replica-no-failover");
    myself->flags = nofailover ? myself->flags | CLUSTER_FLAG_NOFAILOVER
                               : myself->flags & ~(uint32_t)CLUSTER_FLAG_NOFAILOVER;
}

uint32_t cluster_size(void)
{
    return cluster.size;
}

void cluster_state_update(int64_t now_ms)
{
    KV_ASSERT(cluster.enabled);
    cluster.judged_ms = now_ms;
    cluster.state_dirty = false;
    if (cluster.first_update_ms == 0) {
        cluster.first_update_ms = now_ms;
    }
    const struct cluster_node *myself = &cluster.nodes[cluster.myself];
    bool master = (myself->flags & CLUSTER_FLAG_MASTER) != 0;
    if (master && !cluster.state_ok &&
        now_ms - cluster.first_update_ms < CLUSTER_WRITABLE_DELAY_MS) {
        return; /* judged again within 100 ms, as Redis's cron judges it */
    }
    bool ok = true;
    if (param_yes("cluster-require-full-coverage")) {
        /* Bounded by the slots. */
        for (uint32_t slot = 0; slot < KEYSLOT_COUNT && ok; slot++) {
            uint32_t owner = cluster_slot_owner(slot);
            ok = owner != CLUSTER_NODE_NONE && !(cluster.nodes[owner].flags & CLUSTER_FLAG_FAIL);
        }
    }
    uint32_t reachable = 0;
    cluster.size = 0;
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        const struct cluster_node *node = &cluster.nodes[index];
        if (node->used && (node->flags & CLUSTER_FLAG_MASTER) && node->slot_count > 0) {
            cluster.size++;
            reachable += (node->flags & (CLUSTER_FLAG_FAIL | CLUSTER_FLAG_PFAIL)) == 0 ? 1 : 0;
        }
    }
    if (reachable < cluster.size / 2 + 1) {
        ok = false;
        cluster.minority_ms = now_ms;
    }
    if (ok == cluster.state_ok) {
        return;
    }
    long long rejoin_ms = param_number("cluster-node-timeout");
    rejoin_ms = rejoin_ms > CLUSTER_REJOIN_DELAY_MAX_MS ? CLUSTER_REJOIN_DELAY_MAX_MS : rejoin_ms;
    rejoin_ms = rejoin_ms < CLUSTER_REJOIN_DELAY_MIN_MS ? CLUSTER_REJOIN_DELAY_MIN_MS : rejoin_ms;
    if (ok && master && now_ms - cluster.minority_ms < rejoin_ms) {
        return; /* judged again within 100 ms, as Redis's cron judges it */
    }
    log_warn("Cluster state changed: %s", ok ? "ok" : "fail");
    cluster.state_ok = ok;
}

bool cluster_state_ok(int64_t now_ms)
{
    KV_ASSERT(cluster.enabled);
    if (cluster.state_dirty || now_ms - cluster.judged_ms >= CLUSTER_STATE_PERIOD_MS ||
        now_ms < cluster.judged_ms) {
        cluster_state_update(now_ms);
    }
    return cluster.state_ok;
}

/* ---- nodes.conf's text ---- */

static void text_add(cluster_text_fn *add, void *context, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void text_add(cluster_text_fn *add, void *context, const char *format, ...)
{
    char piece[128];
    va_list list;
    va_start(list, format);
    int written = vsnprintf(piece, sizeof(piece), format, list);
    va_end(list);
    KV_ASSERT(written >= 0 && (size_t)written < sizeof(piece)); /* numbers and ids only */
    add(context, piece, (size_t)written);
}

/* Redis's flag names, in representClusterNodeFlags' order. */
static const char *const cluster_flag_names[] = {
    "myself", "master", "slave", "fail?", "fail", "handshake", "noaddr", "nofailover",
};

/* A node's slots as Redis writes them: " start-end" runs, " slot" alone. */
static void describe_slots(uint32_t index, cluster_text_fn *add, void *context)
{
    uint16_t link = node_link(index);
    uint32_t slot = 0;
    /* Bounded by the slots: each pass moves past one run. */
    while (slot < KEYSLOT_COUNT) {
        if (cluster.slot_owner[slot] != link) {
            slot++;
            continue;
        }
        uint32_t start = slot;
        while (slot < KEYSLOT_COUNT && cluster.slot_owner[slot] == link) {
            slot++;
        }
        if (start == slot - 1) {
            text_add(add, context, " %u", start);
        } else {
            text_add(add, context, " %u-%u", start, slot - 1);
        }
    }
}

void cluster_describe_node(uint32_t index, cluster_text_fn *add, void *context)
{
    KV_ASSERT(index < cluster.node_slots && cluster.nodes[index].used);
    const struct cluster_node *node = &cluster.nodes[index];
    add(context, node->name, CLUSTER_NAME_BYTES);
    add(context, " ", 1);
    add(context, node->ip, strlen(node->ip));
    text_add(add, context, ":%u@%u", node->port, node->bus_port);
    if (node->hostname[0] != '\0') {
        add(context, ",", 1);
        add(context, node->hostname, strlen(node->hostname));
    }
    add(context, " ", 1);
    bool any = false;
    /* Bounded by the flags. */
    for (uint32_t flag = 0; flag < sizeof(cluster_flag_names) / sizeof(cluster_flag_names[0]);
         flag++) {
        if (node->flags & (1u << flag)) {
            if (any) {
                add(context, ",", 1);
            }
            add(context, cluster_flag_names[flag], strlen(cluster_flag_names[flag]));
            any = true;
        }
    }
    if (!any) {
        add(context, "noflags", 7);
    }
    add(context, " ", 1);
    uint64_t epoch = node->config_epoch;
    if (node->master_index != CLUSTER_NODE_NONE) {
        add(context, cluster.nodes[node->master_index].name, CLUSTER_NAME_BYTES);
        epoch = (node->flags & CLUSTER_FLAG_SLAVE) ? cluster.nodes[node->master_index].config_epoch
                                                   : epoch;
    } else {
        add(context, "-", 1);
    }
    /* Myself, and a node whose bus link is up, are "connected" (as Redis's node->link). */
    text_add(add, context, " %" PRId64 " %" PRId64 " %" PRIu64 " %s", node->ping_sent_ms,
             node->pong_received_ms, epoch,
             (node->flags & CLUSTER_FLAG_MYSELF) || node->link_connected ? "connected"
                                                                         : "disconnected");
    describe_slots(index, add, context);
    if (!(node->flags & CLUSTER_FLAG_MYSELF)) {
        return;
    }
    /* Bounded by the slots: myself's open slots, as Redis lists them. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        uint32_t other = cluster_slot_migrating(slot);
        const char *arrow = "->-";
        if (other == CLUSTER_NODE_NONE) {
            other = cluster_slot_importing(slot);
            arrow = "-<-";
        }
        if (other != CLUSTER_NODE_NONE) {
            text_add(add, context, " [%u%s", slot, arrow);
            add(context, cluster.nodes[other].name, CLUSTER_NAME_BYTES);
            add(context, "]", 1);
        }
    }
}

/* The nodes' lines but those with one of `skip_flags` (nodes.conf skips handshake nodes, as
 * Redis's clusterSaveConfig; CLUSTER NODES shows them). */
static void describe_nodes(cluster_text_fn *add, void *context, uint32_t skip_flags)
{
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        if (cluster.nodes[index].used && !(cluster.nodes[index].flags & skip_flags)) {
            cluster_describe_node(index, add, context);
            add(context, "\n", 1);
        }
    }
}

void cluster_describe(cluster_text_fn *add, void *context)
{
    describe_nodes(add, context, 0);
}

/* ---- writing nodes.conf ---- */

struct config_writer {
    int fd;
    int error;            /* 0, or the first write's negative errno */
    uint32_t length;      /* bytes buffered */
    char buffer[CLUSTER_WRITE_BUFFER_BYTES];
};

static struct config_writer cluster_writer;

static void writer_flush(struct config_writer *writer)
{
    uint32_t done = 0;
    /* Bounded by the buffered bytes: each write takes some, or fails. */
    while (writer->error == 0 && done < writer->length) {
        ssize_t wrote = write(writer->fd, writer->buffer + done, writer->length - done);
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            writer->error = wrote < 0 ? -errno : -EIO;
            break;
        }
        done += (uint32_t)wrote;
    }
    writer->length = 0;
}

static void writer_add(void *context, const char *bytes, size_t length)
{
    struct config_writer *writer = context;
    /* Bounded by the bytes given: each pass copies what fits, then flushes. */
    while (length > 0) {
        size_t room = sizeof(writer->buffer) - writer->length;
        size_t piece = length < room ? length : room;
        memcpy(writer->buffer + writer->length, bytes, piece);
        writer->length += (uint32_t)piece;
        bytes += piece;
        length -= piece;
        if (writer->length == sizeof(writer->buffer)) {
            writer_flush(writer);
        }
    }
}

int cluster_save(void)
{
    KV_ASSERT(cluster.enabled);
    cluster_verify();
    char temp[sizeof(cluster.path) + 16];
    snprintf(temp, sizeof(temp), "%s.tmp-kv", cluster.path);
    struct config_writer *writer = &cluster_writer;
    writer->fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (writer->fd < 0) {
        return -errno;
    }
    writer->error = 0;
    writer->length = 0;
    describe_nodes(writer_add, writer, CLUSTER_FLAG_HANDSHAKE);
    text_add(writer_add, writer, "vars currentEpoch %" PRIu64 " lastVoteEpoch %" PRIu64 "\n",
             cluster.current_epoch, cluster.last_vote_epoch);
    writer_flush(writer);
    int error = writer->error;
    if (error == 0 && fsync(writer->fd) != 0) {
        error = -errno;
    }
    if (close(writer->fd) != 0 && error == 0) {
        error = -errno;
    }
    if (error == 0 && rename(temp, cluster.path) != 0) {
        error = -errno;
    }
    if (error != 0) {
        unlink(temp);
    }
    return error;
}

/* ---- reading nodes.conf ---- */

/* Splits a line at spaces and tabs, in place; how many fields (false: too many). */
static bool line_split(char *line, uint32_t *field_count)
{
    uint32_t count = 0;
    char *at = line;
    /* Bounded by the line's bytes. */
    while (*at != '\0') {
        while (*at == ' ' || *at == '\t' || *at == '\r') {
            *at++ = '\0';
        }
        if (*at == '\0') {
            break;
        }
        if (count == CLUSTER_LINE_FIELDS_MAX) {
            return false;
        }
        cluster_line_fields[count++] = at;
        while (*at != '\0' && *at != ' ' && *at != '\t' && *at != '\r') {
            at++;
        }
    }
    *field_count = count;
    return true;
}

/* The node of a name in the file, added if new; CLUSTER_NODE_NONE: a bad name, a full table. */
static uint32_t load_node(const char *name, size_t name_bytes)
{
    if (!cluster_name_valid((const uint8_t *)name, name_bytes)) {
        return CLUSTER_NODE_NONE;
    }
    uint32_t index = cluster_node_find((const uint8_t *)name, name_bytes);
    if (index == CLUSTER_NODE_NONE) {
        index = cluster_node_add(name, 0);
    }
    return index;
}

/* "vars currentEpoch N lastVoteEpoch N". */
static bool load_vars(uint32_t field_count)
{
    if (field_count % 2 == 0) {
        return false;
    }
    /* Bounded by the fields. */
    for (uint32_t at = 1; at + 1 < field_count; at += 2) {
        uint64_t value = strtoull(cluster_line_fields[at + 1], NULL, 10);
        if (strcasecmp(cluster_line_fields[at], "currentEpoch") == 0) {
            cluster.current_epoch = value;
        } else if (strcasecmp(cluster_line_fields[at], "lastVoteEpoch") == 0) {
            cluster.last_vote_epoch = value;
        } else {
            log_warn("Skipping unknown cluster config variable '%s'", cluster_line_fields[at]);
        }
    }
    return true;
}

/* The flags field; false for a name Redis does not know (Redis panics). */
static bool load_flags(uint32_t index, char *text, bool *myself)
{
    struct cluster_node *node = &cluster.nodes[index];
    char *save = NULL;
    /* Bounded by the field's bytes. */
    for (char *flag = strtok_r(text, ",", &save); flag != NULL; flag = strtok_r(NULL, ",", &save)) {
        uint32_t bit = 0;
        for (; bit < sizeof(cluster_flag_names) / sizeof(cluster_flag_names[0]); bit++) {
            if (strcasecmp(flag, cluster_flag_names[bit]) == 0) {
                break;
            }
        }
        if (bit < sizeof(cluster_flag_names) / sizeof(cluster_flag_names[0])) {
            node->flags |= 1u << bit;
        } else if (strcasecmp(flag, "noflags") != 0) {
            log_error("Unknown flag in redis cluster config file");
            return false;
        }
    }
    if (node->flags & CLUSTER_FLAG_MYSELF) {
        if (*myself) {
            return false; /* Redis asserts there is one myself */
        }
        *myself = true;
        cluster.myself = index;
    }
    return true;
}

/* "ip:port[@cport][,hostname]". */
static bool load_address(uint32_t index, char *text)
{
    struct cluster_node *node = &cluster.nodes[index];
    char *hostname = strchr(text, ',');
    node->hostname[0] = '\0';
    if (hostname != NULL) {
        *hostname++ = '\0';
        snprintf(node->hostname, sizeof(node->hostname), "%s", hostname);
    }
    char *colon = strrchr(text, ':');
    if (colon == NULL) {
        return false;
    }
    *colon = '\0';
    char *bus = strchr(colon + 1, '@');
    if (bus != NULL) {
        *bus++ = '\0';
    }
    uint32_t port = (uint32_t)atoi(colon + 1);
    uint32_t bus_port = bus != NULL ? (uint32_t)atoi(bus) : port + CLUSTER_PORT_INCR;
    cluster_node_address_set(index, text, port, bus_port);
    return true;
}

/* A slot field: "[slot->-id]", "[slot-<-id]", "start-end" or "slot". */
static bool load_slot_field(uint32_t index, char *text)
{
    if (text[0] == '[') {
        char *dash = strchr(text, '-');
        if (dash == NULL || dash[1] == '\0' || dash[2] == '\0') {
            return false;
        }
        char direction = dash[1];
        long slot = atol(text + 1);
        char *name = dash + 3;
        char *end = strchr(name, ']');
        if (slot < 0 || slot >= (long)KEYSLOT_COUNT || end == NULL) {
            return false;
        }
        uint32_t other = load_node(name, (size_t)(end - name));
        if (other == CLUSTER_NODE_NONE) {
            return false;
        }
        if (direction == '>') {
            cluster_slot_migrating_set((uint32_t)slot, other);
        } else {
            cluster_slot_importing_set((uint32_t)slot, other);
        }
        return true;
    }
    char *dash = strchr(text, '-');
    long start = atol(text);
    long stop = start;
    if (dash != NULL) {
        *dash = '\0';
        start = atol(text);
        stop = atol(dash + 1);
    }
    if (start < 0 || start >= (long)KEYSLOT_COUNT || stop < 0 || stop >= (long)KEYSLOT_COUNT) {
        return false;
    }
    /* Bounded by the range; a slot already served stays its first node's (clusterAddSlot). */
    for (long slot = start; slot <= stop; slot++) {
        if (cluster.slot_owner[slot] == 0) {
            cluster_slot_assign((uint32_t)slot, index);
        }
    }
    return true;
}

/* One node's line (at least eight fields), as Redis's clusterLoadConfig reads it. */
static bool load_node_line(uint32_t field_count, bool *myself, int64_t now_ms)
{
    char **fields = cluster_line_fields;
    uint32_t index = load_node(fields[0], strlen(fields[0]));
    if (index == CLUSTER_NODE_NONE || !load_address(index, fields[1]) ||
        !load_flags(index, fields[2], myself)) {
        return false;
    }
    struct cluster_node *node = &cluster.nodes[index];
    if (fields[3][0] != '-') {
        uint32_t master = load_node(fields[3], strlen(fields[3]));
        if (master == CLUSTER_NODE_NONE) {
            return false;
        }
        node->master_index = master;
    }
    node->ping_sent_ms = atoi(fields[4]) != 0 ? now_ms : 0;
    node->pong_received_ms = atoi(fields[5]) != 0 ? now_ms : 0;
    bool replica = (node->flags & CLUSTER_FLAG_SLAVE) && node->master_index != CLUSTER_NODE_NONE;
    node->config_epoch = replica ? 0 : strtoull(fields[6], NULL, 10);
    /* Bounded by the fields. */
    for (uint32_t at = 8; at < field_count; at++) {
        if (!load_slot_field(index, fields[at])) {
            return false;
        }
    }
    return true;
}

/* Reads nodes.conf whole; 1 loaded, 0 none (missing or empty), -1 refused (logged). */
static int config_load(int64_t now_ms)
{
    int fd = open(cluster.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        return 0;
    }
    if (fd < 0) {
        log_error("Loading the cluster node config from %s: %s", cluster.path, strerror(errno));
        return -1;
    }
    size_t length = 0;
    /* Bounded by the buffer: each read takes some bytes, or ends. */
    while (length < CLUSTER_CONFIG_BYTES_MAX) {
        ssize_t got = read(fd, cluster_config_bytes + length, CLUSTER_CONFIG_BYTES_MAX - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        length += (size_t)got;
    }
    close(fd);
    if (length == 0) {
        return 0;
    }
    if (length == CLUSTER_CONFIG_BYTES_MAX) {
        log_error("the cluster config file %s is larger than kv reads (%u bytes)", cluster.path,
                  CLUSTER_CONFIG_BYTES_MAX);
        return -1;
    }
    cluster_config_bytes[length] = '\0';
    bool myself = false;
    bool ok = true;
    char *save = NULL;
    /* Bounded by the file's bytes: each pass takes one line. */
    for (char *line = strtok_r(cluster_config_bytes, "\n", &save); ok && line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        uint32_t field_count = 0;
        ok = line_split(line, &field_count);
        if (!ok || field_count == 0) {
            continue;
        }
        if (strcasecmp(cluster_line_fields[0], "vars") == 0) {
            ok = load_vars(field_count);
        } else {
            ok = field_count >= 8 && load_node_line(field_count, &myself, now_ms);
        }
    }
    if (!ok || !myself) {
        log_error("Unrecoverable error: corrupted cluster config file.");
        return -1;
    }
    log_info("Node configuration loaded, I'm %.40s", cluster.nodes[cluster.myself].name);
    uint64_t max = cluster_max_epoch();
    cluster.current_epoch = max > cluster.current_epoch ? max : cluster.current_epoch;
    return 1;
}

bool cluster_init(const char *dir, uint32_t port)
{
    memset(&cluster, 0, sizeof(cluster));
    /* Touched now, so that no write of nodes.conf takes a page fault while kv serves. */
    memset(&cluster_writer, 0, sizeof(cluster_writer));
    cluster.enabled = true;
    cluster.size = 1; /* as Redis's clusterInit, until the state is first judged */
    cluster.client_port = port;
    cluster.myself = CLUSTER_NODE_NONE;
    const char *file = param_text("cluster-config-file");
    int written = file[0] == '/' ? snprintf(cluster.path, sizeof(cluster.path), "%s", file)
                                 : snprintf(cluster.path, sizeof(cluster.path), "%s/%s", dir, file);
    if (written < 0 || (size_t)written >= sizeof(cluster.path)) {
        log_error("the cluster config file's path is too long");
        return false;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int loaded = config_load(now_ms);
    if (loaded < 0) {
        return false;
    }
    if (loaded == 0) {
        char name[CLUSTER_NAME_BYTES];
        cluster_name_random(name);
        cluster.myself = cluster_node_add(name, CLUSTER_FLAG_MYSELF | CLUSTER_FLAG_MASTER);
        KV_ASSERT(cluster.myself == 0);
        log_info("No cluster configuration found, I'm %.40s", name);
    }
    cluster_myself_refresh();
    if (loaded == 0) {
        int error = cluster_save();
        if (error != 0) {
            log_error("Fatal: can't update cluster config file (%s: %s).", cluster.path,
                      strerror(-error));
            return false;
        }
    }
    cluster_verify();
    cluster_state_update(now_ms); /* Redis's first judgement, whose time starts the 2 s delay */
    return true;
}

bool cluster_claim_slots(uint64_t (*keys_in_slot)(void *context, uint32_t slot), void *context)
{
    KV_ASSERT(cluster.enabled);
    const struct cluster_node *myself = &cluster.nodes[cluster.myself];
    if (myself->flags & CLUSTER_FLAG_SLAVE) {
        return true;
    }
    bool changed = false;
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        uint32_t owner = cluster_slot_owner(slot);
        if (keys_in_slot(context, slot) == 0 || owner == cluster.myself ||
            cluster_slot_importing(slot) != CLUSTER_NODE_NONE) {
            continue;
        }
        changed = true;
        if (owner == CLUSTER_NODE_NONE) {
            log_warn("I have keys for unassigned slot %u. Taking responsibility for it.", slot);
            cluster_slot_assign(slot, cluster.myself);
        } else {
            log_warn("I have keys for slot %u, but the slot is assigned to another node. Setting "
                     "it to importing state.",
                     slot);
            cluster_slot_importing_set(slot, owner);
        }
    }
    int error = changed ? cluster_save() : 0;
    if (error != 0) {
        log_error("Fatal: can't update cluster config file: %s", strerror(-error));
    }
    return error == 0;
}

void cluster_verify(void)
{
    KV_ASSERT(cluster.enabled);
    KV_ASSERT(cluster.myself < cluster.node_slots && cluster.nodes[cluster.myself].used);
    uint32_t counts[CLUSTER_NODES_MAX] = {0};
    /* Bounded by the slots. */
    for (uint32_t slot = 0; slot < KEYSLOT_COUNT; slot++) {
        uint32_t owner = cluster_slot_owner(slot);
        KV_ASSERT(owner == CLUSTER_NODE_NONE || cluster.nodes[owner].used);
        counts[owner == CLUSTER_NODE_NONE ? 0 : owner] += owner == CLUSTER_NODE_NONE ? 0 : 1;
        uint32_t migrating = cluster_slot_migrating(slot);
        uint32_t importing = cluster_slot_importing(slot);
        KV_ASSERT(migrating == CLUSTER_NODE_NONE || cluster.nodes[migrating].used);
        KV_ASSERT(importing == CLUSTER_NODE_NONE || cluster.nodes[importing].used);
    }
    uint32_t used = 0;
    /* Bounded by the table. */
    for (uint32_t index = 0; index < cluster.node_slots; index++) {
        const struct cluster_node *node = &cluster.nodes[index];
        if (!node->used) {
            continue;
        }
        used++;
        KV_ASSERT(node->slot_count == counts[index]);
        KV_ASSERT(node->master_index == CLUSTER_NODE_NONE ||
                  cluster.nodes[node->master_index].used);
    }
    KV_ASSERT(used == cluster.node_count);
}
